"""test_demo_cleanup.py — `make demo`'s interactive run leaves nothing behind.

Runs scripts/demo.sh (what `make demo` runs after installing and building) as a terminal would:
in a process group of its own, with a private TMPDIR. Once the demo says it is running, the
test checks the services and the broker are in the demo's process group, then sends SIGINT to
the whole group (Ctrl-C in the terminal) and asserts: the demo exits 0, no process of the group
is left, no process anywhere still refers to the demo's temp dir, and the temp dir is gone.
A second run is killed with SIGKILL as soon as its services are up (the demo gets no chance to
clean up): its children still stop (they get SIGTERM when the demo dies).
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.environ["EDDY_SOURCE_DIR"]
BUILD = os.environ["EDDY_BUILD_DIR"]


def procs_referring(path):
    """pids whose command line or environment mentions path."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read()
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = f.read()
        except OSError:
            continue
        if path.encode() in cmd or path.encode() in env:
            out.append((int(pid), cmd.replace(b"\0", b" ").decode(errors="replace")))
    return out


def group_members(pgid):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(pid))
    return out


def start(tmp, until="Ctrl-C stops everything."):
    env = dict(os.environ, TMPDIR=tmp, DEMO_ORDERS="1", EDDY_BUILD_DIR=BUILD)
    env.pop("EDDY_BOOTSTRAP_SERVERS", None)
    log = open(os.path.join(tmp, "..", os.path.basename(tmp) + ".out"), "w+")
    p = subprocess.Popen(["bash", os.path.join(SRC, "scripts/demo.sh")], cwd=SRC, env=env,
                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline:
        log.seek(0)
        text = log.read()
        if until in text:
            return p, log, text
        if p.poll() is not None:
            raise AssertionError("demo exited %s before running:\n%s" % (p.returncode, text))
        time.sleep(0.2)
    p.kill()
    raise AssertionError("demo did not come up:\n%s" % text)


def wait_gone(check, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        left = check()
        if not left:
            return
        time.sleep(0.2)
    raise AssertionError("%s still there: %r" % (what, left))


def main():
    top = tempfile.mkdtemp(prefix="eddy-demo-test-")
    try:
        # 1. Ctrl-C
        tmp = os.path.join(top, "ctrlc")
        os.makedirs(tmp)
        p, log, text = start(tmp)
        assert "path happy" in text and "gateway-retry" in text, text
        members = group_members(p.pid)
        names = set()
        for pid in members:
            try:
                with open("/proc/%d/comm" % pid) as f:
                    names.add(f.read().strip())
            except OSError:
                pass
        for want in ("eddyd", "order", "payment", "inventory", "notification"):
            assert want in names, "%s not in the demo's process group: %r" % (want, names)
        os.killpg(p.pid, signal.SIGINT)
        rc = p.wait(timeout=120)
        log.seek(0)
        assert rc == 0, "demo exited %s after Ctrl-C:\n%s" % (rc, log.read()[-3000:])
        wait_gone(lambda: group_members(p.pid), "processes of the demo's group")
        wait_gone(lambda: procs_referring(tmp), "processes using the demo's temp dir")
        assert os.listdir(tmp) == [], "left in TMPDIR: %r" % os.listdir(tmp)

        # 2. the demo killed outright: its children still stop
        tmp = os.path.join(top, "kill")
        os.makedirs(tmp)
        p, log, _ = start(tmp, until="demo: services up")
        p.kill()
        p.wait()
        wait_gone(lambda: procs_referring(tmp), "processes of a SIGKILLed demo")
        print("ok: Ctrl-C left no process and no temp dir; a killed demo's services stopped")
    finally:
        subprocess.run(["rm", "-rf", top])


if __name__ == "__main__":
    sys.exit(main())
