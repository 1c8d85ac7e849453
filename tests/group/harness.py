"""harness — the group tests' view of the shared Python launcher (tests/harness/eddyd.py).

Every group test runs eddyd with group.initial.rebalance.delay.ms=0 and an HTTP port on
127.0.0.1:0 (metrics, health), whose number is read from "http listening on 127.0.0.1:PORT".
stop() is lenient (any exit), stop_clean() requires exit 0 on SIGTERM (under ASan a leak fails it).
"""
import os
import re
import signal
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
import eddyd as shared  # noqa: E402
from eddyd import Results, wait_until  # noqa: E402,F401  (re-exported for the tests)

HTTP = re.compile(r"http listening on 127\.0\.0\.1:(\d+)")


class Eddyd(shared.Eddyd):
    def __init__(self, sets=()):
        super().__init__(sets=["group.initial.rebalance.delay.ms=0", "http.listeners=127.0.0.1:0"]
                         + list(sets), start=False)
        self.http_port = None

    def start(self, timeout=60):
        super().start(timeout)
        m = HTTP.search(self.log_text())
        if not m:
            raise AssertionError("eddyd printed no HTTP port:\n" + self.log_tail())
        self.http_port = int(m.group(1))
        return self

    def stop(self, sig=signal.SIGTERM):
        """Any exit will do; SIGKILL after 20 s."""
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        p.send_signal(sig)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def stop_clean(self):
        """SIGTERM; eddyd must exit 0 within 30 s (the shared launcher shows the log if not)."""
        shared.Eddyd.stop(self, 30)

    def kill9(self):
        self.kill()

    def restart(self, kill=False):
        """Same data dir and Kafka port; the HTTP port is picked again."""
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start()

    def http_get(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path),
                                    timeout=10) as r:
            return r.status, r.read().decode()
