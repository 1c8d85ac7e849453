"""multibroker: the reference system settles N choreographed orders (MB_ORDERS, default 1000) and,
at the same time, S orchestrated ones (MB_SAGAS, default 200; `make multibroker-full` runs 1000:
POST /orders to services/order-orchestrator, sagas over accounts and inventory) on a three-broker
cluster (eddy-mockd --brokers 3, replication factor 3) while the cluster misbehaves, then passes
the audits of cluster.py (final states, every saga completed or compensated, effects once, no
outbox row published without its event in the log, DLQ only for the one poison message produced
at the start). Scenarios (argv[1]):
  calm          nothing happens: the baseline settle time
  leaders       every partition's leader moves every 2 s until everything settles
  broker-down   a third of the way in, one broker (the one leading most partitions) starts
                answering late (batches in flight) and then goes down for 20 s; its leaders and
                coordinators fail over to the other two; then it comes back
  coordinator   a second payment instance joins (a rebalance) while the payment group's
                coordinator moves and JoinGroup/SyncGroup/OffsetCommit answer
                COORDINATOR_NOT_AVAILABLE/NOT_COORDINATOR; it leaves, and the coordinator moves again
                (the orchestrator's group coordinator moves at the same times)
  produce-errors  every 300 ms a burst of Produce errors (NOT_LEADER_OR_FOLLOWER,
                NOT_ENOUGH_REPLICAS, NOT_ENOUGH_REPLICAS_AFTER_APPEND, REQUEST_TIMED_OUT, or a
                dropped connection) and now and then Fetch/OffsetCommit errors
Prints "settled N orders in T s" (first POST → last order settled), "sagas: S orchestrated orders
ended in T s" and the audit summaries."""
import collections, json, os, random, sys, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, place_orders, wait_settled, audit, fail, wait_for, SERVICES
from cluster import start_orchestration, place_sagas, wait_sagas, audit_sagas, wait_assigned, ORCH

scenario = sys.argv[1] if len(sys.argv) > 1 else "calm"
from cluster import BUILD
# under ASan+UBSan (build-asan) a smaller load reaches the same code with the same audits
SLOW = "asan" in BUILD.lower()
N = int(os.environ.get("MB_ORDERS", "400" if SLOW else "1000"))
S = int(os.environ.get("MB_SAGAS", "100" if SLOW else "200"))
RATE = float(os.environ.get("MB_RATE", "100"))  # orders/s offered
# the sagas are spread over the same window as the choreographed orders (both under the chaos)
SAGA_RATE = float(os.environ.get("MB_SAGA_RATE", str(RATE * S / N if N else RATE)))
rnd = random.Random(int(os.environ.get("MB_SEED", "19")))
c = Cluster(scenario)
c.start_broker()
for s in SERVICES:
    c.start_service(s)
if S:
    start_orchestration(c)
wait_assigned(c, SERVICES + (ORCH if S else []))
c.produce("order.events", "poison-1", "not json {")

stop = threading.Event()


def note(msg):
    print("%6.1f s  %s" % (time.time() - t0, msg), flush=True)


def chaos_leaders():
    while not stop.wait(2.0):
        note("rotate: " + c.ctl("rotate"))


def chaos_produce_errors():
    # Bursts go to one broker at a time, and a broker gets a new burst only once its previous
    # one was answered: errors never pile up faster than clients send requests (a slow build
    # would otherwise starve its producers forever).
    errs = ["NOT_LEADER_OR_FOLLOWER", "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            "REQUEST_TIMED_OUT", "LEADER_NOT_AVAILABLE", "_TRANSPORT"]
    n = collections.Counter()
    rounds = 0
    while not stop.wait(0.3):
        rounds += 1
        b = rnd.randint(1, c.nbrokers)
        if int(c.ctl("pending %d Produce" % b)):
            continue
        if rounds >= 10 and not n["OUT_OF_ORDER_SEQUENCE_NUMBER"]:
            # A broker that lost the producer's sequence state (what an unclean leader election
            # does): librdkafka's idempotent producer raises a fatal error; the relay must start
            # a new producer and send what was not acknowledged.
            c.ctl("broker-error %d Produce 1 OUT_OF_ORDER_SEQUENCE_NUMBER" % b)
            n["OUT_OF_ORDER_SEQUENCE_NUMBER"] += 1
            continue
        e = rnd.choice(errs)
        k = rnd.randint(1, 5)
        c.ctl("broker-error %d Produce %d %s" % (b, k, e))
        n[e] += k
        if rnd.random() < 0.15 and not int(c.ctl("pending %d Fetch" % b)):
            c.ctl("broker-error %d Fetch 2 NOT_LEADER_OR_FOLLOWER" % b)
            n["Fetch"] += 2
        if rnd.random() < 0.15 and not int(c.ctl("pending %d OffsetCommit" % b)):
            c.ctl("broker-error %d OffsetCommit 1 COORDINATOR_NOT_AVAILABLE" % b)
            n["OffsetCommit"] += 1
    note("injected: %s" % dict(n))


def chaos_broker_down():
    if stop.wait(3.0):
        return
    per = collections.Counter(c.leaders().values())
    b = per.most_common(1)[0][0]  # the broker leading most partitions
    note(c.ctl("rtt %d 300" % b))  # its answers are late: batches in flight when it goes
    time.sleep(0.3)
    note(c.ctl("down %d" % b))
    time.sleep(20)
    note(c.ctl("up %d" % b))
    c.ctl("rtt %d 0" % b)


def chaos_coordinator():
    def coordinator(g="payment"):
        return c.state()["groups"][g]

    def move_orchestrator():
        if S:
            g = "order-orchestrator"
            c.ctl("coordinator %s %d" % (g, coordinator(g) % 3 + 1))
    if stop.wait(2.0):
        return
    # A second payment instance joins: a rebalance, during which the coordinator moves and the
    # group requests meet coordinator errors.
    c.ctl("error JoinGroup 2 COORDINATOR_NOT_AVAILABLE NOT_COORDINATOR")
    c.ctl("error SyncGroup 1 NOT_COORDINATOR")
    c.ctl("error Heartbeat 2 NOT_COORDINATOR")
    c.ctl("error OffsetCommit 2 NOT_COORDINATOR")
    p2 = c.start_instance("payment", "payment2")
    log2 = os.path.join(c.tmp, "payment2.log")
    wait_for(lambda: p2.poll() is None and "started" in open(log2).read(), "payment#2 start", 60)
    note("payment#2 joining; " + c.ctl("coordinator payment %d" % (coordinator() % 3 + 1)))
    move_orchestrator()
    time.sleep(4)
    note("payment#2 leaving; " + c.ctl("coordinator payment %d" % (coordinator() % 3 + 1)))
    move_orchestrator()
    if c.stop_service("payment2") != 0:
        fail("payment#2 exited with %s" % p2.returncode)
    del c.procs["payment2"]


chaos = {"calm": None, "leaders": chaos_leaders, "produce-errors": chaos_produce_errors,
         "broker-down": chaos_broker_down, "coordinator": chaos_coordinator}
if scenario not in chaos:
    fail("unknown scenario %s" % scenario)

t0 = time.time()
th = threading.Thread(target=chaos[scenario]) if chaos[scenario] else None
if th:
    th.start()
sagas, saga_elapsed = [], 0.0


def orchestrated():
    global sagas, saga_elapsed
    sagas = place_sagas(c, S, SAGA_RATE)
    note("%d orchestrated orders placed" % S)
    wait_sagas(c, sagas, timeout=600)
    saga_elapsed = time.time() - t0


ot = threading.Thread(target=orchestrated) if S else None
if ot:
    ot.start()
orders = place_orders(c, N, RATE)
note("%d orders placed" % N)
wait_settled(c, orders, timeout=600)
elapsed = time.time() - t0
if ot:
    ot.join()
    if len(sagas) != S or not saga_elapsed:
        fail("the orchestrated orders did not all end")
    print("sagas: %d orchestrated orders ended in %.1f s (%s)" % (S, saga_elapsed, scenario),
          flush=True)
stop.set()
if th:
    th.join()
print("settled %d orders in %.1f s (%s)" % (N, elapsed, scenario), flush=True)
summary = audit(c, orders, poison=1, sagas=sagas)
if S:
    print("saga audit:", json.dumps(audit_sagas(c, sagas)), flush=True)
# how often a relay or DLQ producer was replaced after a fatal error, and rebalances seen
logs = "".join(open(os.path.join(c.tmp, f), errors="replace").read()
               for f in os.listdir(c.tmp) if f.endswith(".log"))
summary["producers_replaced"] = logs.count("producer fatal error")
summary["rebalances"] = logs.count("rebalance: assigned")
# deliveries librdkafka only inferred (implicit acks): sent again, never marked published (outbox.c)
summary["inferred_acks_resent"] = logs.count("reported delivered without an offset")
print("audit:", json.dumps(summary), flush=True)
c.finish()
print("PASS %s: %d orders in %.1f s, %d sagas in %.1f s" % (scenario, N, elapsed, S, saga_elapsed),
      flush=True)
