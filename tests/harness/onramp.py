"""onramp.py — shared helpers for the on-ramp tests (tests/cdc: eddy-cdc, tests/push: eddy-push):
a real eddyd started by eddyd.py (free loopback port, temp data dir), the real PostgreSQL from scripts/pg.sh
(each test in its own schema, slot and publication, all dropped at exit), eddy-cdc and
eddy-push as processes, kcat to read topics. Everything started here is killed at exit."""
import atexit, json, os, re, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddyd import Eddyd  # noqa: E402  the one Python launcher of eddyd

SRC = os.environ.get("EDDY_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.environ.get("EDDY_BUILD_DIR", os.path.join(SRC, "build"))
PG = os.environ.get("EDDY_TEST_PG", "postgresql://eddy:eddy@127.0.0.1:5432/eddy")


def fail(msg):
    print("FAIL:", msg, flush=True)
    sys.exit(1)


def log(msg):
    print("--", msg, flush=True)


def wait_for(pred, what, timeout=120, interval=0.1):
    """Polls pred() until truthy; the timeout is a hang guard, not an assertion on speed."""
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    fail("gave up waiting for " + what)


def psql(sql, url=PG, check=True, csv=False):
    args = ["psql", url, "-qAtX", "-v", "ON_ERROR_STOP=1"]
    if csv:
        args.append("--csv")
    r = subprocess.run(args + ["-c", sql], capture_output=True, text=True)
    if check and r.returncode != 0:
        fail("psql %s: %s" % (sql[:200], r.stderr))
    return r


def pg_available():
    return subprocess.run(["psql", PG, "-qAtXc", "select 1"], capture_output=True).returncode == 0


class Env:
    def __init__(self, name):
        self.name = name
        self.tag = "%s_%s" % (name, os.urandom(3).hex())
        self.tmp = tempfile.mkdtemp(prefix="eddy-onramp-%s-" % name)
        self.procs = []
        self.schemas, self.slots, self.pubs, self.roles = [], [], [], []
        self.broker = None
        atexit.register(self.close)

    # ---- broker ------------------------------------------------------------------------------
    def start_broker(self, port=0, http=0):
        """eddyd through the shared launcher (eddyd.py); port=env.broker_port restarts it on
        the same port and data directory."""
        if self.broker is None:
            self.broker = Eddyd(sets=["http.listeners=127.0.0.1:%d" % http,
                                      "group.initial.rebalance.delay.ms=0"], start=False)
        self.broker.port = port or self.broker.port
        try:
            self.broker.start()
        except AssertionError as e:
            fail(str(e))
        self.broker_port = self.broker.port
        self.bootstrap = self.broker.bootstrap
        m = re.search(r"http listening on 127\.0\.0\.1:(\d+)", self.broker.log_text())
        self.http_url = "http://127.0.0.1:%s" % m.group(1) if m else None
        return self.broker

    def stop_broker(self, sig=signal.SIGTERM):
        if self.broker and self.broker.alive():
            if sig == signal.SIGKILL:
                self.broker.kill()
            else:
                self.broker.stop(60)

    # ---- PostgreSQL --------------------------------------------------------------------------
    def schema(self):
        s = "t_" + self.tag
        psql("CREATE SCHEMA %s" % s)
        self.schemas.append(s)
        return s

    def slot(self):
        s = "s_" + self.tag
        self.slots.append(s)
        self.pubs.append("p_" + self.tag)
        return s, "p_" + self.tag

    # ---- processes ---------------------------------------------------------------------------
    def spawn(self, args, logname, env=None):
        logf = os.path.join(self.tmp, logname)
        logpos = os.path.getsize(logf) if os.path.exists(logf) else 0
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.Popen(args, stdout=open(logf, "a"), stderr=subprocess.STDOUT, env=e,
                             start_new_session=True)
        p.logfile = logf
        p.logpos = logpos
        self.procs.append(p)
        return p

    def cdc_args(self, tables, slot, pub, prefix, extra=()):
        a = [os.path.join(BUILD, "src/cdc/eddy-cdc"), "--pg", PG, "--bootstrap-servers",
             self.bootstrap, "--slot", slot, "--publication", pub, "--topic-prefix", prefix,
             "--state-file", os.path.join(self.tmp, slot + ".state")]
        for t in tables:
            a += ["--table", t]
        return a + list(extra)

    def start_cdc(self, tables, slot, pub, prefix, extra=()):
        return self.spawn(self.cdc_args(tables, slot, pub, prefix, extra), "cdc.log")

    def read_topic(self, topic, timeout_s=60):
        """Every record of a topic (all partitions) as dicts via kcat -J, in offset order per
        partition."""
        r = subprocess.run(["kcat", "-b", self.bootstrap, "-C", "-t", topic, "-o", "beginning",
                            "-e", "-J", "-q", "-X", "topic.metadata.refresh.interval.ms=1000"],
                           capture_output=True, text=True, timeout=timeout_s)
        out = []
        for line in r.stdout.splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait()
        self.stop_broker(signal.SIGKILL)
        for s in self.slots:
            for _ in range(50):
                r = psql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                         " WHERE slot_name = '%s'" % s, check=False)
                if r.returncode == 0:
                    break
                time.sleep(0.2)
        for p in self.pubs:
            psql("DROP PUBLICATION IF EXISTS %s" % p, check=False)
        for s in self.schemas:
            psql("DROP SCHEMA IF EXISTS %s CASCADE" % s, check=False)
        for r in self.roles:
            psql("DROP ROLE IF EXISTS %s" % r, check=False)
        if os.environ.get("EDDY_TEST_KEEP"):
            print("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---- a real HTTP receiver for eddy-push ---------------------------------------------------------
import hashlib, hmac, http.server, socket, threading


class Receiver:
    """A threaded http.server on loopback that records deliveries. mode(n, req) → status or
    (status, headers, sleep_s). Verifies Eddy-Signature when a secret is given."""

    def __init__(self, secret=None, port=0, decide=None):
        self.secret = secret.encode() if secret else None
        self.decide = decide or (lambda req: 200)
        self.lock = threading.Lock()
        self.accepted = []   # dicts of delivered requests (2xx answered)
        self.requests = 0
        self.bad_sig = []
        self.inflight = 0
        self.max_inflight = 0
        self.inflight_keys = {}
        self.key_overlap = []
        rcv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                req = {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                key = req["headers"].get("ce-partitionkey")
                with rcv.lock:
                    rcv.requests += 1
                    rcv.inflight += 1
                    rcv.max_inflight = max(rcv.max_inflight, rcv.inflight)
                    if key is not None:
                        if rcv.inflight_keys.get(key):
                            rcv.key_overlap.append(key)
                        rcv.inflight_keys[key] = rcv.inflight_keys.get(key, 0) + 1
                # A delivery stops being in flight when its answer is about to be written: the
                # sender may send the key's next record the moment it reads that answer, so
                # counting down after the write (as this did) saw a correct sender overlap.
                done = [False]

                def settle():
                    if done[0]:
                        return
                    done[0] = True
                    with rcv.lock:
                        rcv.inflight -= 1
                        if key is not None:
                            rcv.inflight_keys[key] -= 1

                try:
                    if rcv.secret:
                        ts = req["headers"].get("eddy-timestamp", "")
                        sig = req["headers"].get("eddy-signature", "")
                        want = "v1=" + hmac.new(rcv.secret, ts.encode() + b"." + body,
                                                hashlib.sha256).hexdigest()
                        if not hmac.compare_digest(sig, want):
                            with rcv.lock:
                                rcv.bad_sig.append(req)
                            settle()
                            self._answer(401, {}, b"bad signature")
                            return
                    d = rcv.decide(req)
                    status, hdrs, sleep = (d, {}, 0) if isinstance(d, int) else d
                    if sleep:
                        time.sleep(sleep)
                    if 200 <= status < 300:
                        with rcv.lock:
                            rcv.accepted.append(req)
                    settle()
                    self._answer(status, hdrs, b'{"ok":%s}' % (b"true" if status < 300 else b"false"))
                finally:
                    settle()

            def _answer(self, status, hdrs, body):
                self.send_response(status)
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class S(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 256

            def handle_error(self, request, client_address):
                pass  # a sender killed mid-request resets its connection: expected here

        self.server = S(("127.0.0.1", port), H)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/hook" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def http_json(method, url, body=None, ctype="application/json"):
    import urllib.request, urllib.error
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": ctype} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        t = e.read()
        try:
            return e.code, json.loads(t)
        except ValueError:
            return e.code, t.decode(errors="replace")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_push(env, state_dir, port=0):
    p = env.spawn([os.path.join(BUILD, "src/push/eddy-push"), "--bootstrap-servers",
                   env.bootstrap, "--listen", "127.0.0.1:%d" % port, "--state-dir", state_dir,
                   "--session-timeout-ms", "6000"], "push.log")

    def ready():
        if p.poll() is not None:
            fail("eddy-push exited: " + open(p.logfile).read()[-2000:])
        m = re.search(r"http listening on 127\.0\.0\.1:(\d+)", open(p.logfile).read()[p.logpos:])
        return int(m.group(1)) if m else None
    p.port = wait_for(ready, "eddy-push ready", 60)
    p.api = "http://127.0.0.1:%d" % p.port
    return p


def produce(env, topic, pairs):
    """Produces key:value lines with kcat (acks=all)."""
    data = "".join("%s\t%s\n" % (k, v) for k, v in pairs)
    r = subprocess.run(["kcat", "-b", env.bootstrap, "-P", "-t", topic, "-K", "\t",
                        "-X", "acks=all"], input=data, text=True, capture_output=True)
    if r.returncode != 0:
        fail("kcat produce: " + r.stderr)
