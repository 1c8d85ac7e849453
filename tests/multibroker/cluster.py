"""cluster.py — the reference system on a three-broker Kafka-protocol cluster (tests/multibroker):
eddy-mockd --brokers 3 (librdkafka's mock cluster: replication factor 3, leaders that move,
brokers that go down, coordinators that move, injected request errors) driven through its stdin
control channel, the four services of the choreographed flow and the two of the orchestrated
one (order-orchestrator, accounts; inventory takes part in both) as real processes (SQLite, or
PostgreSQL with E2E_STORE=postgres), and the audits every scenario ends with: final states (every
saga completed or compensated), effects applied once (inbox; debits, credits and reservations
counted), no outbox row published without its event in the log (outbox_audit: the rows first,
then the log up to its end offsets of that moment, so the check cannot race the services), DLQ
only for poison."""
import collections, json, os, queue, re, subprocess, sys, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../e2e"))
from harness import System, PATHS, SERVICES, PG, BUILD, TOPICS, settled, wait_for, fail  # noqa

# The orchestrated flow (docs/sagas.md): its two services and the topics its commands, replies
# and account events travel on.
ORCH = ["order-orchestrator", "accounts"]
ORCH_TOPICS = ["account.commands", "account.events", "inventory.commands",
               "order-orchestrator.replies"]
ALL_TOPICS = TOPICS + ORCH_TOPICS
GROUPS = SERVICES + ORCH  # group.id = service name
# Topics are created up front with replication factor 3 (as on a real cluster, by the operator):
# the mock has no CreateTopics, and a topic appearing mid-test would cause a rebalance.
os.environ["EDDY_TOPIC_CREATE"] = "0"
# One request in flight per connection. The mock checks idempotent-producer sequence numbers only
# for transactional producers: with several Produce requests in flight, a failed R1 followed by
# an accepted R2 (which Kafka would refuse with OUT_OF_ORDER_SEQUENCE_NUMBER) makes librdkafka
# infer that R1 was stored (an implicit ack, correct on Kafka) when the mock never stored it.
# The relay no longer trusts such an ack (it sends the row again, src/sdk/outbox.c), but a
# consumer would see the event late and out of order: the tests keep requests in line. (A leader
# move can still put two requests of a partition in flight: multibroker_leaders lost events
# that way before the relay refused implicit acks.)
os.environ["EDDY_KAFKA_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION"] = "1"


class Cluster(System):
    def __init__(self, name, brokers=3):
        super().__init__("mb-" + name)
        self.nbrokers = brokers
        self.answers = queue.Queue()
        self.ctl_lock = threading.Lock()

    def start_broker(self):
        log = open(os.path.join(self.tmp, "mockd.log"), "w")
        self.broker = subprocess.Popen(
            [os.path.join(BUILD, "src/sdk/eddy-mockd"), "--brokers", str(self.nbrokers),
             "--groups", ",".join(GROUPS),
             "--topics", ",".join("%s:3,%s.dlq:3" % (t, t) for t in ALL_TOPICS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1,
            start_new_session=True)

        def reader():
            for line in self.broker.stdout:
                self.answers.put(line.rstrip("\n"))
        threading.Thread(target=reader, daemon=True).start()

        def ready():
            if self.broker.poll() is not None:
                fail("eddy-mockd exited: " + open(log.name).read()[-2000:])
            m = re.search(r"listening on (\S+)", open(log.name).read())
            return m.group(1) if m else None
        self.bootstrap = wait_for(ready, "eddy-mockd ready line", 30)
        if len(self.bootstrap.split(",")) != self.nbrokers:
            fail("expected %d brokers, got %s" % (self.nbrokers, self.bootstrap))

    def start_instance(self, name, tag):
        """A second process of service `name` (same store, same group): a rebalance."""
        env = dict(os.environ)
        env.update({"EDDY_BOOTSTRAP_SERVERS": self.bootstrap, "EDDY_STORE": self.store_url(name),
                    "EDDY_HTTP_LISTEN": "127.0.0.1:0", "EDDY_TOPIC_CREATE": "0",
                    "EDDY_RETRY_BACKOFF_MS": "20", "EDDY_RETRY_BACKOFF_MAX_MS": "500",
                    "EDDY_KAFKA_SESSION_TIMEOUT_MS": "6000"})
        log = open(os.path.join(self.tmp, "%s.log" % tag), "a")
        self.procs[tag] = subprocess.Popen([os.path.join(BUILD, "services", name, name)],
                                           stdout=log, stderr=subprocess.STDOUT, env=env,
                                           start_new_session=True)
        return self.procs[tag]

    def ctl(self, cmd, ok=True):
        """One control command; returns the answer (after 'ok '), fails the test on 'error:'."""
        with self.ctl_lock:
            self.broker.stdin.write(cmd + "\n")
            self.broker.stdin.flush()
            try:
                a = self.answers.get(timeout=60)
                while a.startswith("# "):  # help text before the answer line
                    a = self.answers.get(timeout=60)
            except queue.Empty:
                fail("eddy-mockd did not answer '%s'" % cmd[:60])
        if ok and not a.startswith("ok"):
            fail("eddy-mockd: %s → %s" % (cmd[:60], a))
        return a[3:] if a.startswith("ok ") else a

    def state(self):
        return json.loads(self.ctl("state"))

    def leaders(self):
        st = self.state()
        return {(t["topic"], p["partition"]): p["leader"] for t in st["topics"]
                for p in t["partitions"]}

    # ---- store access (SQLite file or PostgreSQL schema) -------------------------------------
    def query(self, svc, sql):
        if os.environ.get("E2E_STORE") != "postgres":
            c = self.db(svc)
            try:
                return [tuple(str(v) for v in r) for r in c.execute(sql).fetchall()]
            finally:
                c.close()
        p = subprocess.run(["psql", PG, "-AtX", "-F", "\t", "-c",
                            "SET search_path TO %s; %s" % (self.schemas[svc], sql)],
                           capture_output=True, text=True, timeout=60)
        if p.returncode:
            fail("psql: %s" % p.stderr)
        return [tuple(l.split("\t")) for l in p.stdout.splitlines() if l and l != "SET"]


def place_orders(c, n, rate, threads=4):
    """Places n orders at about `rate` orders/s over `threads` HTTP clients (so the chaos has
    time to happen while orders flow); path by index (60% happy, 20% declined, 20% out of
    stock). Returns [(orderId, correlationId, path, expect)]."""
    names = list(PATHS)
    out = [None] * n
    errors = []
    start = time.time()

    def worker(k):
        try:
            for i in range(k, n, threads):
                ahead = start + i / rate - time.time()
                if ahead > 0:
                    time.sleep(ahead)
                path = "happy" if i % 5 < 3 else names[1 + i % 2]
                kw, expect = PATHS[path]
                b = c.place(customer="cust-%d" % i, price=1 + i % 7, **kw)
                out[i] = (b["orderId"], b["correlationId"], path, expect)
        except SystemExit as e:
            errors.append(e)
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        fail("placing orders failed")
    return out


def wait_settled(c, orders, timeout=600):
    pending = list(orders)

    def all_settled():
        nonlocal pending
        pending = [o for o in pending if not settled(c, o[0], o[3])]
        return not pending
    wait_for(all_settled, "%d orders to settle" % len(orders), timeout, 0.5)


# Events each path leads to, by topic and type (what the log must hold at least once).
CHAIN = {"happy": ["order.created", "payment.processed", "inventory.reserved", "notification.sent"],
         "declined": ["order.created", "payment.failed", "notification.sent"],
         "out_of_stock": ["order.created", "payment.processed", "inventory.reservation_failed",
                          "payment.refunded", "order.cancelled"]}
# Handlers per service: (topic, event type) they consume.
CONSUMES = {"payment": [("order.events", "order.created"),
                        ("inventory.events", "inventory.reservation_failed")],
            "inventory": [("payment.events", "payment.processed")],
            "notification": [("inventory.events", "inventory.reserved"),
                             ("payment.events", "payment.failed")],
            "order": [("payment.events", "payment.processed"), ("payment.events", "payment.failed"),
                      ("payment.events", "payment.refunded"),
                      ("inventory.events", "inventory.reserved"),
                      ("inventory.events", "inventory.reservation_failed"),
                      ("notification.events", "notification.sent")]}


def audit(c, orders, poison=0, sagas=()):
    """The end-of-scenario audit of the choreographed flow (and of what it shares with the
    orchestrated one when `sagas` ran beside it: the outboxes, inventory's stock, the DLQs).
    Fails the test on any violation; returns a summary dict."""
    by_id = {o[0]: o for o in orders}
    counts = collections.Counter(o[2] for o in orders)
    # 1. every order ends in the state its path predicts, with its correlation id
    for oid, corr, path, expect in orders:
        o = c.order(oid)
        if not o or o["status"] != expect[0] or bool(o["refunded"]) != expect[1] or \
                o["correlationId"] != corr:
            fail("order %s (%s): %s" % (oid, path, o))
    # 2. the log: every event of the chain is there, with the order's correlation id
    def log_complete():
        evs = c.events()
        have = collections.defaultdict(set)
        for e in evs:
            have[e["key"]].add(e["event"]["eventType"])
        return evs if all(set(CHAIN[o[2]]) <= have[o[0]] for o in orders) else None
    evs = wait_for(log_complete, "complete event chains in the log", 120, 1)
    log_ids = collections.Counter()
    for e in evs:
        ev = e["event"]
        log_ids[ev["eventId"]] += 1
        o = by_id.get(e["key"])
        if o and ev["correlationId"] != o[1]:
            fail("event %s of %s has correlation %s" % (ev["eventType"], e["key"], ev["correlationId"]))
    redelivered = sum(n - 1 for n in log_ids.values())
    # 3. outbox: drained, and no row marked published whose event is not in the log (inventory's
    #    outbox also holds its saga replies: order-orchestrator.replies)
    outbox_audit(c, SERVICES, ALL_TOPICS if sagas else TOPICS)
    # 4. effects applied exactly once (inbox): each consumed event once in the inbox; the
    #    business tables hold one effect per order
    for svc, handled in CONSUMES.items():
        want = {e["event"]["eventId"] for e in evs
                if (e["topic"], e["event"]["eventType"]) in handled and e["key"] in by_id}
        got = collections.Counter(r[0] for r in c.query(svc, "SELECT event_id FROM eddy_inbox"))
        if any(n > 1 for n in got.values()):
            fail("%s: an event twice in the inbox" % svc)
        if not want <= set(got):
            fail("%s: %d events consumed but not in the inbox" % (svc, len(want - set(got))))
    dup = c.query("payment", "SELECT order_id, kind, COUNT(*) FROM gateway_ledger"
                             " GROUP BY order_id, kind HAVING COUNT(*) > 1")
    if dup:
        fail("payment applied twice: %s" % dup[:5])
    refunds = c.query("payment", "SELECT COUNT(*) FROM gateway_ledger WHERE kind = 'refund'")
    if int(refunds[0][0]) != counts["out_of_stock"]:
        fail("refunds %s, expected %d" % (refunds, counts["out_of_stock"]))
    reserved = c.query("inventory", "SELECT reserved FROM stock WHERE sku = 'SKU-BOOK'")
    orch_happy = sum(1 for x in sagas if x.path == "happy")
    if int(reserved[0][0]) != counts["happy"] + orch_happy:
        fail("SKU-BOOK reserved %s, expected %d + %d orchestrated (a reservation applied twice "
             "or lost)" % (reserved, counts["happy"], orch_happy))
    mails = c.query("notification", "SELECT order_id, kind, COUNT(*) FROM mail GROUP BY order_id, kind")
    if any(int(m[2]) != 1 for m in mails) or len(mails) != counts["happy"] + counts["declined"]:
        fail("notifications: %d (expected %d), duplicates %s" % (
            len(mails), counts["happy"] + counts["declined"], [m for m in mails if int(m[2]) != 1][:5]))
    hist = c.query("order", "SELECT order_id, COUNT(*) FROM order_history GROUP BY order_id")
    want_hist = {"happy": 3, "declined": 2, "out_of_stock": 3}
    for oid, n in hist:
        if oid in by_id and int(n) != want_hist[by_id[oid][2]]:
            fail("order %s history has %s events, expected %d" % (oid, n, want_hist[by_id[oid][2]]))
    # 5. DLQ: only the poison we produced, nothing for transient cluster errors
    dlq = c.events([t + ".dlq" for t in (ALL_TOPICS if sagas else TOPICS)], raw=True)
    reasons = collections.Counter(json.loads(m["value"]).get("reason") for m in dlq)
    if sum(reasons.values()) != poison or (poison and reasons["poison"] != poison):
        fail("DLQ holds %s, expected %d poison" % (dict(reasons), poison))
    return {"orders": dict(counts), "log_events": sum(log_ids.values()),
            "redelivered_in_log": redelivered, "dlq": dict(reasons)}


def utc_now():
    t = time.time()
    return time.strftime("%H:%M:%S", time.gmtime(t)) + ".%03d" % (t * 1000 % 1000)


def outbox_audit(c, services, topics):
    """No outbox row of `services` unpublished, none marked published whose event is not in the
    log, checked exactly rather than against a moving system: the rows are read first, then the
    log from offset 0 of every partition of `topics` and of every topic a row names (so a row
    for a topic the caller did not list is still found) up to the end offsets eddy-events takes
    when it starts, which is after every one of those rows was acknowledged. A row the read does
    not find gets a second read of every topic before the test fails; the failure names each
    row's service, topic, type, creation and publication times and where its id was found.
    Returns the Counter of event ids read."""
    rows = {}
    # A settled system may still answer a command sent again (a saga step that timed out): the
    # rows are taken once every outbox is drained; one that never is fails the test.
    def drained():
        for svc in services:
            rows[svc] = c.query(svc, "SELECT event_id, topic, event_type, created_at, published_at"
                                     " FROM eddy_outbox ORDER BY id")
        return all(r[4] not in ("None", "") for rs in rows.values() for r in rs)
    end = time.time() + 60
    while not drained() and time.time() < end:
        time.sleep(0.5)
    for svc, rs in rows.items():
        unpublished = [r for r in rs if r[4] in ("None", "")]
        if unpublished:
            fail("%s: %d outbox rows never published, e.g. %s" % (
                svc, len(unpublished), [(r[0], r[1], r[2], r[3]) for r in unpublished[:3]]))
    read = sorted(set(topics) | {r[1] for rs in rows.values() for r in rs})
    started = utc_now()
    log_ids = collections.Counter(e["event"]["eventId"] for e in c.events(read))
    missing = [(svc, r) for svc, rs in rows.items() for r in rs if r[0] not in log_ids]
    if not missing:
        return log_ids
    # A second read of every topic of the system: either the first read was short (the audit's
    # fault, reported) or the rows' events are nowhere (a loss: the test fails).
    everything = sorted(set(read) | set(ALL_TOPICS) | {t + ".dlq" for t in ALL_TOPICS})
    where = collections.defaultdict(set)
    for m in c.events(everything, raw=True):
        try:
            eid = json.loads(m["value"]).get("eventId")
        except (ValueError, AttributeError):
            continue
        where[eid].add("%s[%d]@%d" % (m["topic"], m["partition"], m["offset"]))
    for svc, r in missing:
        print("  %s outbox row %s: topic %s, %s, created %s, published %s; log read from %s UTC:"
              " %s" % (svc, r[0], r[1], r[2], r[3], r[4], started,
                       "not in it; on a second read at %s " % utc_now()
                       + ("found at %s" % ", ".join(sorted(where[r[0]])) if where[r[0]]
                          else "in no topic")), flush=True)
    lost = [(svc, r) for svc, r in missing if not where[r[0]]]
    if lost:
        fail("%s: %d outbox rows marked published but absent from the log, e.g. %s" % (
            ", ".join(sorted({svc for svc, _ in lost})), len(lost),
            ["%s (%s, topic %s)" % (r[0], r[2], r[1]) for _, r in lost[:3]]))
    print("  note: %d rows missed by the first read of the log were all found by the second"
          % len(missing), flush=True)
    for eid in (r[0] for _, r in missing):
        log_ids[eid] += 1
    return log_ids


# ---- the orchestrated flow ------------------------------------------------------------------
# Paths of services/order-orchestrator: (customer kind, sku, (status, refunded), saga state).
SAGA_PATHS = {"happy": ("rich", "SKU-BOOK", ("completed", False), "completed"),
              "declined": ("poor", "SKU-BOOK", ("payment_failed", False), "compensated"),
              "out_of_stock": ("rich", "SKU-RARE", ("cancelled", True), "compensated")}
SAGA_CUSTOMERS = 6  # of each kind
RICH = 10 ** 12
# Transient cluster trouble must not change a saga's path: a step that times out is resent with
# the same idempotency key, and only when every attempt timed out is it compensated. A 20 s
# outage stays well inside 10 s x 6 attempts.
SAGA_ENV = {"EDDY_SAGA_STEP_TIMEOUT_MS": "10000", "EDDY_SAGA_STEP_ATTEMPTS": "6",
            "EDDY_SAGA_TIMER_MS": "100"}
Saga = collections.namedtuple("Saga", "oid corr path cust total")


def start_orchestration(c):
    """Starts accounts and the orchestrator; opens the rich and the poor accounts. Returns the
    SKU-BOOK stock before any order."""
    c.start_service("accounts")
    c.start_service("order-orchestrator", SAGA_ENV)
    for k in range(SAGA_CUSTOMERS):
        for who, bal in (("rich", RICH), ("poor", 0)):
            st, b = c.http("accounts", "POST", "/accounts",
                           {"customerId": "%s-%d" % (who, k), "initialBalanceCents": bal})
            if st != 201:
                fail("account %s-%d: %s %s" % (who, k, st, b))


def wait_assigned(c, names):
    """Until each service's consumer has joined its group (first assignment logged): the chaos
    is meant for a running system, not for a group's first join."""
    def joined():
        return all("rebalance: assigned" in open(os.path.join(c.tmp, n + ".log"),
                                                 errors="replace").read() for n in names)
    wait_for(joined, "every group's first assignment", 120, 0.2)


def place_sagas(c, n, rate, threads=2):
    """POST /orders to the orchestrator: n orders at about `rate`/s, 60% happy, 20% declined
    (poor account), 20% out of stock. Returns [Saga]."""
    out = [None] * n
    errors = []
    start = time.time()

    def worker(k):
        try:
            for i in range(k, n, threads):
                ahead = start + i / rate - time.time()
                if ahead > 0:
                    time.sleep(ahead)
                path = "happy" if i % 5 < 3 else ("declined" if i % 5 == 3 else "out_of_stock")
                who, sku, _, _ = SAGA_PATHS[path]
                cust = "%s-%d" % (who, i % SAGA_CUSTOMERS)
                st, b = c.http("order-orchestrator", "POST", "/orders",
                               {"customerId": cust,
                                "items": [{"sku": sku, "quantity": 1, "price": 1 + i % 9}]})
                if st != 201:
                    fail("orchestrator POST /orders: %s %s" % (st, b))
                out[i] = Saga(b["orderId"], b["correlationId"], path, cust, b["totalCents"])
        except SystemExit as e:
            errors.append(e)
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        fail("placing orchestrated orders failed")
    return out


def wait_sagas(c, sagas, timeout=600):
    want = {x.oid: SAGA_PATHS[x.path][2][0] for x in sagas}

    def all_ended():
        st, lst = c.http("order-orchestrator", "GET", "/orders")
        if st != 200:
            return False
        have = {o["orderId"]: o["status"] for o in lst}
        return all(have.get(oid) == s for oid, s in want.items())
    wait_for(all_ended, "%d orchestrated orders to end" % len(sagas), timeout, 0.5)


def audit_sagas(c, sagas):
    """The orchestrated flow's audit: every saga completed or compensated as its path predicts,
    none stuck; every debit and credit once per saga (the accounts' event streams), balances
    exact; one reservation per completed saga; commands and replies each in their consumer's
    inbox once; the orchestrator's and accounts' outboxes drained, nothing marked published that
    is not in the log. (The shared stock and DLQs are checked by audit().)"""
    by_id = {x.oid: x for x in sagas}
    for x in sagas:
        st, o = c.http("order-orchestrator", "GET", "/orders/" + x.oid)
        _, _, expect, state = SAGA_PATHS[x.path]
        if st != 200 or (o["status"], bool(o["refunded"])) != expect or \
                o["correlationId"] != x.corr or (o.get("saga") or {}).get("state") != state:
            fail("orchestrated order %s (%s): %s" % (x.oid, x.path,
                                                     {k: o.get(k) for k in ("status", "refunded", "saga")}
                                                     if isinstance(o, dict) else o))
    st, stuck = c.http("order-orchestrator", "GET", "/sagas/stuck")
    if st != 200 or stuck:
        fail("stuck sagas: %s" % (stuck[:3] if isinstance(stuck, list) else stuck))
    # effects once: the accounts' streams
    refs = collections.Counter()
    for k in range(SAGA_CUSTOMERS):
        for who, bal in (("rich", RICH), ("poor", 0)):
            cust = "%s-%d" % (who, k)
            st, h = c.http("accounts", "GET", "/accounts/%s/history" % cust)
            if st != 200:
                fail("history of %s: %s" % (cust, h))
            for e in h["events"]:
                if e["type"] in ("account.debited", "account.credited"):
                    refs[(e["type"], e["data"]["reference"])] += 1
            spent = sum(x.total for x in sagas if x.cust == cust and x.path == "happy")
            if h["balanceCents"] != bal - spent:
                fail("%s: balance %d, expected %d" % (cust, h["balanceCents"], bal - spent))
    for x in sagas:
        d = refs.pop(("account.debited", "%s:payment:do" % x.oid), 0)
        cr = refs.pop(("account.credited", "%s:payment:undo" % x.oid), 0)
        want = {"happy": (1, 0), "declined": (0, 0), "out_of_stock": (1, 1)}[x.path]
        if (d, cr) != want:
            fail("saga %s (%s): %d debits, %d credits, expected %s" % (x.oid, x.path, d, cr, want))
    if refs:
        fail("account events of no saga: %s" % dict(list(refs.items())[:5]))
    res = collections.Counter(r[0] for r in c.query("inventory", "SELECT order_id FROM reservations")
                              if r[0] in by_id)
    happy = {x.oid for x in sagas if x.path == "happy"}
    if set(res) != happy or any(v != 1 for v in res.values()):
        fail("reservations of orchestrated orders: %d for %d completed sagas" % (
            sum(res.values()), len(happy)))
    # the log: commands and replies, each consumed once (inbox)
    evs = c.events(ORCH_TOPICS)
    log_ids = collections.Counter(e["event"]["eventId"] for e in evs)
    consumers = {"accounts": ["account.commands"], "inventory": ["inventory.commands"],
                 "order-orchestrator": ["order-orchestrator.replies"]}
    summary = {"commands": 0, "replies": 0}
    for svc, topics in consumers.items():
        want = {e["event"]["eventId"] for e in evs if e["topic"] in topics}
        got = collections.Counter(r[0] for r in c.query(svc, "SELECT event_id FROM eddy_inbox"))
        if any(n > 1 for n in got.values()):
            fail("%s: an event twice in the inbox" % svc)
        if not want <= set(got):
            fail("%s: %d commands/replies in the log but not in the inbox" % (svc, len(want - set(got))))
        summary["replies" if svc == "order-orchestrator" else "commands"] += len(want)
    outbox_audit(c, ORCH, ORCH_TOPICS)
    summary["sagas"] = dict(collections.Counter(x.path for x in sagas))
    summary["redelivered_in_log"] = sum(n - 1 for n in log_ids.values())
    summary["commands_resent"] = int(c.metric("order-orchestrator", "eddy_saga_commands_resent_total"))
    summary["replies_ignored"] = int(c.metric("order-orchestrator", "eddy_saga_replies_ignored_total"))
    return summary
