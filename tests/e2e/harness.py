"""harness.py — end-to-end harness for the reference system (tests/e2e): a real broker (eddyd
started by the shared launcher tests/harness/eddyd.py; EDDY_BROKER=mock runs eddy-mockd instead)
on a free loopback port with a temp data dir, the four services as real processes with SQLite in the
same temp dir, HTTP helpers and event readers (eddy-events). Everything started here is killed
at exit."""
import atexit, json, os, re, shutil, signal, sqlite3, subprocess, sys, tempfile, time
import urllib.error, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from eddyd import Eddyd  # noqa: E402  the one Python launcher of eddyd

BUILD = os.environ.get("EDDY_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
SERVICES = ["order", "payment", "inventory", "notification"]
PG = "postgresql://eddy:eddy@127.0.0.1:5432/eddy"
TOPICS = ["order.events", "payment.events", "inventory.events", "notification.events"]


def fail(msg):
    print("FAIL:", msg, flush=True)
    sys.exit(1)


def wait_for(pred, what, timeout=120, interval=0.2):
    """Polls pred() until truthy; the timeout is a hang guard, not an assertion on speed."""
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    fail("gave up waiting for " + what)


class System:
    def __init__(self, name):
        self.tmp = tempfile.mkdtemp(prefix="eddy-e2e-%s-" % name)
        self.procs = {}
        self.urls = {}
        self.broker = None  # the broker's Popen (eddyd's or eddy-mockd's)
        self.eddyd = None
        self.broker_port = 0
        self.mock = os.environ.get("EDDY_BROKER") == "mock"
        self.ports = {}
        self.schemas = {}
        atexit.register(self.close)

    # ---- broker ------------------------------------------------------------------------------
    def start_broker(self):
        """First start on a free port; later starts on the same port and data dir."""
        if not self.mock:
            if self.eddyd is None:
                self.eddyd = Eddyd(sets=["group.initial.rebalance.delay.ms=0"], start=False)
            self.eddyd.port = self.broker_port
            try:
                self.eddyd.start()
            except AssertionError as e:
                fail(str(e))
            self.broker = self.eddyd.proc
            self.broker_port = self.eddyd.port
            self.bootstrap = self.eddyd.bootstrap
            return
        data = os.path.join(self.tmp, "broker")
        os.makedirs(data, exist_ok=True)
        log = os.path.join(self.tmp, "broker-%d.log" % time.time_ns())
        args = [os.path.join(BUILD, "src/sdk/eddy-mockd"), "--data-dir", data,
                "--listen", "127.0.0.1:%d" % self.broker_port]
        self.broker = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                       start_new_session=True)
        def ready():
            if self.broker.poll() is not None:
                fail("broker exited during start-up: " + open(log).read()[-2000:])
            for line in open(log):
                m = re.search(r"(?<!http )listening on 127\.0\.0\.1:(\d+)", line)
                if m:
                    return int(m.group(1))
            return None
        self.broker_port = wait_for(ready, "broker ready line", 60)
        self.bootstrap = "127.0.0.1:%d" % self.broker_port

    def stop_broker(self, sig=signal.SIGTERM):
        """Any exit will do (SIGKILL after 30 s)."""
        if self.broker and self.broker.poll() is None:
            self.broker.send_signal(sig)
            try:
                self.broker.wait(30)
            except subprocess.TimeoutExpired:
                self.broker.kill()
                self.broker.wait()
        if self.eddyd is not None:
            self.eddyd.proc = None

    # ---- services ----------------------------------------------------------------------------
    def start_service(self, name, env_extra=None, wait=True):
        log = open(os.path.join(self.tmp, "%s.log" % name), "a")
        env = dict(os.environ)
        env.update({
            "EDDY_BOOTSTRAP_SERVERS": self.bootstrap,
            "EDDY_STORE": self.store_url(name),
            "EDDY_HTTP_LISTEN": "127.0.0.1:%d" % self.ports.get(name, 0),
            "EDDY_RETRY_BACKOFF_MS": "20",
            "EDDY_RETRY_BACKOFF_MAX_MS": "500",
            "EDDY_TRACE_LOG": os.path.join(self.tmp, "spans.jsonl"),
        })
        # Each service creates its topics (and their .dlq) at start-up with CreateTopics, so no
        # topic appears mid-test (a new subscribed topic would trigger a rebalance).
        env.setdefault("EDDY_TOPIC_CREATE", "1")
        # A killed member is noticed after the session timeout: keep it short for crash tests.
        env.setdefault("EDDY_KAFKA_SESSION_TIMEOUT_MS", "6000")
        env.update(env_extra or {})
        start = log.tell()
        p = subprocess.Popen([os.path.join(BUILD, "services", name, name)], stdout=log,
                             stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.procs[name] = p
        if not wait:
            return p
        path = os.path.join(self.tmp, "%s.log" % name)
        def ready():
            if p.poll() is not None:
                fail("%s exited: %s" % (name, open(path).read()[-2000:]))
            with open(path) as f:
                f.seek(start)
                m = re.search(r"http listening on 127\.0\.0\.1:(\d+)", f.read())
            return int(m.group(1)) if m else None
        port = wait_for(ready, name + " start", 60)
        self.ports[name] = port
        self.urls[name] = "http://127.0.0.1:%d" % port
        return p

    def start_all(self):
        self.start_broker()
        for s in SERVICES:
            self.start_service(s)

    def stop_service(self, name, sig=signal.SIGTERM):
        p = self.procs.get(name)
        if p and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode if p else None

    def finish(self):
        """Stops every service with SIGTERM; each must exit 0 (clean shutdown; under ASan, no
        leak or error report)."""
        for n in list(self.procs):
            rc = self.stop_service(n)
            if rc != 0:
                fail("%s exited with %s on SIGTERM; log: %s" % (
                    n, rc, open(os.path.join(self.tmp, n + ".log")).read()[-3000:]))
        self.procs.clear()

    def store_url(self, name):
        """SQLite file in the temp dir, or with E2E_STORE=postgres a fresh schema per service
        on the server scripts/pg.sh starts."""
        if os.environ.get("E2E_STORE") != "postgres":
            return "sqlite:" + os.path.join(self.tmp, name + ".db")
        if name not in self.schemas:
            schema = "e2e_%s_%s" % (name.replace("-", "_"), os.urandom(4).hex())
            subprocess.run(["psql", PG, "-qc", "CREATE SCHEMA " + schema], check=True)
            self.schemas[name] = schema
        return PG + "?options=-csearch_path%3D" + self.schemas[name]

    def close(self):
        for n in list(self.procs):
            self.stop_service(n)
        self.stop_broker()
        for schema in self.schemas.values():
            subprocess.run(["psql", PG, "-qc", "DROP SCHEMA IF EXISTS %s CASCADE" % schema],
                           capture_output=True)
        self.schemas.clear()
        if os.environ.get("EDDY_E2E_KEEP"):
            print("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- HTTP --------------------------------------------------------------------------------
    def http(self, svc, method, path, body=None, headers=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.urls[svc] + path, data=data, method=method,
                                     headers=dict({"Content-Type": "application/json"}, **(headers or {})))
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            txt = e.read()
            try:
                return e.code, json.loads(txt)
            except ValueError:
                return e.code, txt.decode(errors="replace")

    def place(self, customer="alice", sku="SKU-BOOK", qty=1, price=10.0, card="4242424242424242"):
        st, b = self.http("order", "POST", "/orders", {"customerId": customer, "card": card,
                                                      "items": [{"sku": sku, "quantity": qty, "price": price}]})
        if st != 201:
            fail("POST /orders → %s %s" % (st, b))
        return b

    def order(self, oid):
        st, b = self.http("order", "GET", "/orders/" + oid)
        return b if st == 200 else None

    def metric(self, svc, name, **labels):
        req = urllib.request.urlopen(self.urls[svc] + "/metrics", timeout=30)
        total = 0.0
        for line in req.read().decode().splitlines():
            if not line.startswith(name + "{"):
                continue
            if all('%s="%s"' % kv in line for kv in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def check_metrics(self):
        """Every service's /metrics passes `promtool check metrics` (names, types, help texts,
        no duplicate families)."""
        for svc, url in sorted(self.urls.items()):
            body = urllib.request.urlopen(url + "/metrics", timeout=30).read()
            r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
            if r.returncode:
                fail("%s /metrics fails promtool: %s%s" % (svc, r.stdout.decode(),
                                                          r.stderr.decode()))
        print("promtool check metrics: %s pass" % ", ".join(sorted(self.urls)), flush=True)

    # ---- events ------------------------------------------------------------------------------
    def events(self, topics=TOPICS, raw=False):
        args = [os.path.join(BUILD, "services/events/eddy-events"), "--bootstrap", self.bootstrap,
                "--topics", ",".join(topics), "--raw" if raw else "--json"]
        p = subprocess.run(args, capture_output=True, text=True, timeout=120)
        if p.returncode:
            fail("eddy-events exited %d: %s" % (p.returncode, p.stderr[-2000:]))
        out = p.stdout
        return [json.loads(l) for l in out.splitlines() if l.strip()]

    def produce(self, topic, key, value):
        p = subprocess.run([os.path.join(BUILD, "services/events/eddy-events"), "--bootstrap",
                            self.bootstrap, "--produce", topic, "--key", key], input=value,
                           text=True, timeout=60)
        if p.returncode:
            fail("produce to %s failed" % topic)

    def reset_group(self, group, topics):
        """Commits the start offsets for an (inactive) group; retried while the broker still
        counts the stopped members."""
        def once():
            p = subprocess.run([os.path.join(BUILD, "services/events/eddy-events"), "--bootstrap",
                                self.bootstrap, "--reset-group", group, "--topics", ",".join(topics)],
                               timeout=60)
            return p.returncode == 0
        wait_for(once, "reset of group %s" % group, 120, 1)

    def db(self, svc):
        return sqlite3.connect(os.path.join(self.tmp, svc + ".db"), timeout=30)


# The three paths of the reference system and the final state each predicts.
PATHS = {
    "happy": (dict(sku="SKU-BOOK", card="4242424242424242"), ("completed", False)),
    "declined": (dict(sku="SKU-MUG", card="4000000000000002"), ("payment_failed", False)),
    "out_of_stock": (dict(sku="SKU-RARE", card="4242424242424242"), ("cancelled", True)),
}


def settled(sys_, oid, expect):
    o = sys_.order(oid)
    return o and o["status"] == expect[0] and bool(o["refunded"]) == expect[1]
