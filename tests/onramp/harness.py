"""harness.py — shared helpers for the on-ramp tests (issue 16: eddy-cdc, eddy-push): a real
eddyd on a free loopback port with a temp data dir, the real PostgreSQL from scripts/pg.sh
(each test in its own schema, slot and publication, all dropped at exit), eddy-cdc and
eddy-push as processes, kcat to read topics. Everything started here is killed at exit."""
import atexit, json, os, re, shutil, signal, subprocess, sys, tempfile, time

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
        b = os.environ.get("EDDYD") or os.path.join(BUILD, "src/broker/eddyd")
        if not os.access(b, os.X_OK):
            fail("eddyd not found at %s" % b)
        data = os.path.join(self.tmp, "broker")
        os.makedirs(data, exist_ok=True)
        logf = os.path.join(self.tmp, "broker-%d.log" % time.time_ns())
        self.broker = subprocess.Popen(
            [b, "--data-dir", data, "--listen", "127.0.0.1:%d" % port,
             "--http", "127.0.0.1:%d" % http, "--set", "group.initial.rebalance.delay.ms=0"],
            stdout=open(logf, "w"), stderr=subprocess.STDOUT, start_new_session=True)

        def ready():
            if self.broker.poll() is not None:
                fail("eddyd exited: " + open(logf).read()[-2000:])
            m = re.search(r"(?<!http )listening on 127\.0\.0\.1:(\d+)", open(logf).read())
            return int(m.group(1)) if m else None
        self.broker_port = wait_for(ready, "eddyd ready", 60)
        self.bootstrap = "127.0.0.1:%d" % self.broker_port
        return self.broker

    def stop_broker(self, sig=signal.SIGTERM):
        if self.broker and self.broker.poll() is None:
            self.broker.send_signal(sig)
            self.broker.wait(60)

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
