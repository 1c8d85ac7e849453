"""eddyd.py — integration-test launcher for Python tests (run them with /usr/bin/python3).

Starts a real eddyd with `--data-dir <fresh temp dir> --listen 127.0.0.1:0`, waits for the ready
line "listening on 127.0.0.1:PORT" (stdout/stderr go to a log file in the temp dir), exposes
`bootstrap` = "127.0.0.1:PORT", stops with SIGTERM (asserting exit 0) or kills with SIGKILL, and
restarts on the same data dir and port. Same conventions as eddyd.sh / eddyd.js /
eddyd_harness.h. Binary: $EDDYD, else $EDDY_BUILD_DIR/src/eddyd/eddyd; a missing binary fails.
eddyd gets PR_SET_PDEATHSIG=SIGKILL, so it dies with the test process even on SIGKILL.
"""
import atexit
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

READY = re.compile(r"(?<!http )listening on 127\.0\.0\.1:(\d+)")
_live = []


def eddyd_bin():
    b = os.environ.get("EDDYD")
    if b and os.access(b, os.X_OK):
        return b
    bd = os.environ.get("EDDY_BUILD_DIR")
    if bd and os.access(os.path.join(bd, "src/eddyd/eddyd"), os.X_OK):
        return os.path.join(bd, "src/eddyd/eddyd")
    raise RuntimeError("eddyd not found: EDDYD=%r, EDDY_BUILD_DIR=%r (expects "
                       "$EDDY_BUILD_DIR/src/eddyd/eddyd)" % (b, bd))


def _pdeathsig():
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _kill_all():
    for e in list(_live):
        e.cleanup()


atexit.register(_kill_all)


class Eddyd:
    """One broker. `sets` are `--set key=value` strings."""

    def __init__(self, sets=(), start=True):
        self.tmp = tempfile.mkdtemp(prefix="eddy-it-")
        self.data = os.path.join(self.tmp, "data")
        self.sets = list(sets)
        self.proc = None
        self.port = 0
        self.nstart = 0
        self.logpath = None
        _live.append(self)
        if start:
            self.start()

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=60):
        assert not self.alive(), "eddyd already running"
        self.nstart += 1
        self.logpath = os.path.join(self.tmp, "eddyd-%d.log" % self.nstart)
        # no HTTP port unless the test sets http.listeners (the default 8081 would collide)
        args = [eddyd_bin(), "--data-dir", self.data, "--listen", "127.0.0.1:%d" % self.port,
                "--http", "off"]
        for s in self.sets:
            args += ["--set", s]
        with open(self.logpath, "wb") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         preexec_fn=_pdeathsig)
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = READY.search(self.log_text())
            if m:
                port = int(m.group(1))
                if self.port and port != self.port:
                    raise AssertionError("eddyd restarted on port %d, asked for %d"
                                         % (port, self.port))
                self.port = port
                return self
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise AssertionError("eddyd exited with %s during start-up:\n%s"
                                     % (rc, self.log_tail()))
            time.sleep(0.02)
        raise AssertionError("eddyd printed no ready line within %ss:\n%s"
                             % (timeout, self.log_tail()))

    def stop(self, timeout=30):
        """SIGTERM; asserts a clean exit (status 0) within `timeout` seconds."""
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        if p.poll() is not None:
            raise AssertionError("eddyd had already exited with %s:\n%s"
                                 % (p.returncode, self.log_tail()))
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError("eddyd did not exit within %ss of SIGTERM" % timeout)
        if rc != 0:
            raise AssertionError("eddyd exited with %s after SIGTERM (expected 0):\n%s"
                                 % (rc, self.log_tail()))

    def kill(self):
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        p.kill()
        p.wait()

    def restart(self, kill=False):
        """Same data dir, same port."""
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start()

    def log_text(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def cleanup(self, keep=False):
        self.kill()
        if self in _live:
            _live.remove(self)
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


def wait_until(cond, timeout, what, interval=0.05):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)


class Results:
    """Runs named cases; ends with the 'N passed, N failed' line; exit 1 on any failure."""

    def __init__(self, broker=None):
        self.passed = self.failed = 0
        self.broker = broker

    def run(self, name, fn, *a):
        t0 = time.time()
        try:
            fn(*a)
            self.passed += 1
            print("PASS %s (%.1fs)" % (name, time.time() - t0), flush=True)
        except Exception as e:  # noqa: BLE001 — report every case
            self.failed += 1
            traceback.print_exc()
            print("FAIL %s: %s" % (name, e), flush=True)
            if self.broker is not None:
                print("---- eddyd log tail ----\n%s\n----" % self.broker.log_tail(), flush=True)

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        _kill_all()
        sys.exit(1 if self.failed or self.passed == 0 else 0)
