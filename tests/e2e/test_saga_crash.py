"""e2e: the order orchestrator killed with SIGKILL at saga step boundaries, over and over, while
120 orchestrated orders run (happy, declined, out of stock). libeddy's fault switch
EDDY_SAGA_CRASH_AFTER=N makes the orchestrator kill itself at its N-th transition — odd N
inside the transition before its commit, even N right after a commit (the next command may
not be published yet, the reply's offset not committed): N is drawn again at every restart.
Afterwards every saga has ended completed or compensated, each order in the state its path
predicts, and the participants' effects are exactly once: one debit per paid order, one
credit per compensated debit, one reserved book per completed order. Store: SQLite, or
PostgreSQL with E2E_STORE=postgres. E2E_SAGAS sets the number of orders (default 120)."""
import collections, os, random, signal, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import System, wait_for, fail

N = int(os.environ.get("E2E_SAGAS", "120"))
random.seed(int(os.environ.get("E2E_SEED", "7")))
s = System("saga-crash")
s.start_broker()
# static membership: a restarted orchestrator takes its place in the group at once
ENV = {"EDDY_SAGA_STEP_TIMEOUT_MS": "30000", "EDDY_SAGA_STEP_ATTEMPTS": "5",
       "EDDY_SAGA_TIMER_MS": "100", "EDDY_KAFKA_GROUP_INSTANCE_ID": "orchestrator-1"}

# 1. accounts opened; then the orders placed while the participants are away: every saga waits
#    at its first step
s.start_service("accounts")
s.start_service("inventory")
for k in range(6):
    for who, bal in (("rich", 10 ** 9), ("poor", 0)):
        st, b = s.http("accounts", "POST", "/accounts",
                       {"customerId": "%s-%d" % (who, k), "initialBalanceCents": bal})
        if st != 201:
            fail("account: %s %s" % (st, b))
books0 = [x for x in s.http("inventory", "GET", "/stock")[1] if x["sku"] == "SKU-BOOK"][0]
s.stop_service("accounts")
s.stop_service("inventory")
s.start_service("order-orchestrator", ENV)
PATHS = {"happy": ("rich", "SKU-BOOK", ("completed", False)),
         "declined": ("poor", "SKU-BOOK", ("payment_failed", False)),
         "out_of_stock": ("rich", "SKU-RARE", ("cancelled", True))}
orders = []
for i in range(N):
    path = "happy" if i % 5 < 3 else ("declined" if i % 5 == 3 else "out_of_stock")
    who, sku, expect = PATHS[path]
    cust = "%s-%d" % (who, i % 6)
    st, b = s.http("order-orchestrator", "POST", "/orders",
                   {"customerId": cust, "items": [{"sku": sku, "quantity": 1, "price": 1 + i % 9}]})
    if st != 201:
        fail("POST /orders: %s %s" % (st, b))
    orders.append((b["orderId"], path, cust, b["totalCents"], expect))
s.stop_service("order-orchestrator")

s.start_service("accounts")
s.start_service("inventory")

# 2. run the orchestrator; it kills itself at its N-th transition; restart with a new N
kills = collections.Counter()
deadline = time.time() + 900
done = False
while time.time() < deadline and not done:
    n = random.randint(6, 40)
    p = s.start_service("order-orchestrator", dict(ENV, EDDY_SAGA_CRASH_AFTER=str(n)), wait=False)
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < 45:
        time.sleep(0.2)
    if p.poll() is None:  # fewer than n transitions were left: everything has ended
        done = True
        s.stop_service("order-orchestrator")
        break
    if p.returncode != -signal.SIGKILL:
        fail("orchestrator exited with %s (not the fault's SIGKILL); log: %s" % (
            p.returncode, open(os.path.join(s.tmp, "order-orchestrator.log")).read()[-3000:]))
    kills["before commit" if n % 2 else "after commit"] += 1
print("orchestrator killed %d times (%s)" % (sum(kills.values()), dict(kills)), flush=True)
if sum(kills.values()) < 10:
    fail("too few kills to mean anything: %s" % dict(kills))

# 3. a clean run finishes whatever is left; every saga ends completed or compensated
s.start_service("order-orchestrator", ENV)
def all_ended():
    st, lst = s.http("order-orchestrator", "GET", "/sagas")
    return st == 200 and len(lst) == N and all(x["state"] in ("completed", "compensated")
                                                for x in lst)
wait_for(all_ended, "every saga to end", 600, 1)
states = collections.Counter()
for oid, path, cust, total, expect in orders:
    st, o = s.http("order-orchestrator", "GET", "/orders/" + oid)
    if st != 200 or (o["status"], o["refunded"]) != expect:
        fail("order %s (%s): %s" % (oid, path, o))
    want = "completed" if path == "happy" else "compensated"
    if o["saga"]["state"] != want:
        fail("saga %s: %s" % (oid, o["saga"]["state"]))
    states[o["status"]] += 1
print("final states:", dict(states), flush=True)

# 4. effects exactly once: debits and credits per saga, balances, stock
refs = collections.Counter()
for k in range(6):
    for who in ("rich", "poor"):
        cust = "%s-%d" % (who, k)
        st, h = s.http("accounts", "GET", "/accounts/%s/history" % cust)
        if st != 200:
            fail("history of %s: %s" % (cust, h))
        for e in h["events"]:
            if e["type"] in ("account.debited", "account.credited"):
                refs[(e["type"], e["data"]["reference"])] += 1
        spent = sum(t for _, p_, c, t, _ in orders if c == cust and p_ == "happy")
        start = 10 ** 9 if who == "rich" else 0
        if h["balanceCents"] != start - spent:
            fail("%s: balance %d, expected %d" % (cust, h["balanceCents"], start - spent))
for oid, path, cust, total, expect in orders:
    d = refs.pop(("account.debited", "%s:payment:do" % oid), 0)
    c = refs.pop(("account.credited", "%s:payment:undo" % oid), 0)
    want = {"happy": (1, 0), "declined": (0, 0), "out_of_stock": (1, 1)}[path]
    if (d, c) != want:
        fail("order %s (%s): %d debits, %d credits, expected %s" % (oid, path, d, c, want))
if refs:
    fail("unexpected account events: %s" % dict(refs))
books1 = [x for x in s.http("inventory", "GET", "/stock")[1] if x["sku"] == "SKU-BOOK"][0]
happy = sum(1 for o in orders if o[1] == "happy")
if books1["reserved"] - books0["reserved"] != happy:
    fail("books reserved: %d, expected %d" % (books1["reserved"] - books0["reserved"], happy))
print("every debit once, every compensation once, stock exact", flush=True)
s.finish()
print("OK", flush=True)
