"""harness — start/stop a real eddyd for the group tests (Python side).

Conventions shared with the integration harness: `eddyd --data-dir DIR --listen 127.0.0.1:0
--http 127.0.0.1:0 --set group.initial.rebalance.delay.ms=0`; ready line "listening on
127.0.0.1:PORT", HTTP port from "http listening on 127.0.0.1:PORT" (both on stderr, captured
to a log file beside the data dir). The binary comes from $EDDYD.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

READY = re.compile(r"(?<!http )listening on 127\.0\.0\.1:(\d+)")
HTTP = re.compile(r"http listening on 127\.0\.0\.1:(\d+)")


def eddyd_bin():
    b = os.environ.get("EDDYD")
    if b and os.path.exists(b):
        return b
    for cand in ("build/src/eddyd/eddyd", "build/eddyd"):
        p = os.path.join(os.environ.get("EDDY_SOURCE_DIR", "."), cand)
        if os.path.exists(p):
            return p
    sys.exit("EDDYD is not set (path to the eddyd binary)")


class Eddyd:
    def __init__(self, sets=(), tmp=None):
        self.tmp = tmp or tempfile.mkdtemp(prefix="eddy-groups-")
        self.data = os.path.join(self.tmp, "data")
        self.sets = ["group.initial.rebalance.delay.ms=0"] + list(sets)
        self.proc = None
        self.port = self.http_port = None
        self.nstart = 0

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        self.nstart += 1
        self.logpath = os.path.join(self.tmp, "eddyd-%d.log" % self.nstart)
        args = [eddyd_bin(), "--data-dir", self.data, "--listen", "127.0.0.1:0",
                "--http", "127.0.0.1:0"]
        for s in self.sets:
            args += ["--set", s]
        self.log = open(self.logpath, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            text = open(self.logpath, errors="replace").read()
            m, h = READY.search(text), HTTP.search(text)
            if m and h:
                self.port, self.http_port = int(m.group(1)), int(h.group(1))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("eddyd exited during start-up:\n" + text)
            time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError("eddyd did not become ready:\n" + open(self.logpath).read())

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()

    def stop_clean(self):
        """SIGTERM; eddyd must exit 0 (under ASan/LSan a leak or error makes this fail)."""
        proc = self.proc
        self.stop()
        rc = proc.returncode if proc else 0
        if rc != 0:
            raise AssertionError("eddyd exited with %s on SIGTERM; log tail:\n%s" %
                                 (rc, open(self.logpath, errors="replace").read()[-4000:]))

    def kill9(self):
        self.stop(signal.SIGKILL)

    def restart(self):
        self.stop()
        return self.start()

    def http_get(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path),
                                    timeout=10) as r:
            return r.status, r.read().decode()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def wait_until(cond, timeout, what, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


class Results:
    """Tiny test runner: prints 'N passed, N failed' (the line CI reads)."""

    def __init__(self):
        self.passed = self.failed = 0

    def run(self, name, fn, *a):
        t0 = time.time()
        try:
            fn(*a)
            self.passed += 1
            print("PASS %s (%.1fs)" % (name, time.time() - t0), flush=True)
        except Exception as e:  # noqa: BLE001 — report every failure and go on
            self.failed += 1
            import traceback
            traceback.print_exc()
            print("FAIL %s: %s" % (name, e), flush=True)

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        sys.exit(1 if self.failed else 0)
