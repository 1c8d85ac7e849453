"""e2e: N orders (default 200) through the four services reach the final state their path
predicts; every event of an order carries the order's correlation id; GET /orders/{id}
reflects it. With --outage, the broker goes away for 30 s in the middle of the orders (eddyd:
killed and restarted on the same port and data; mock: taken down and up) and everything must
still settle on its own. Prints orders/s (first POST → last order settled)."""
import collections, os, signal, sys, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import System, PATHS, settled, wait_for, fail

N = int(os.environ.get("E2E_ORDERS", "200"))
outage = "--outage" in sys.argv
s = System("outage" if outage else "orders")
s.start_all()

names = list(PATHS)
orders = []
t0 = time.time()
post_fail = []
for i in range(N):
    path = "happy" if i % 5 < 3 else names[1 + i % 2]
    if outage and i == N // 2:
        print("broker going away for 30 s", flush=True)
        if s.mock:
            s.broker.send_signal(signal.SIGUSR1)
        else:
            s.stop_broker(signal.SIGKILL)
        down_at = time.time()
    kw, expect = PATHS[path]
    b = s.place(customer="cust-%d" % i, price=1 + i % 7, **kw)
    orders.append((b["orderId"], b["correlationId"], path, expect))
if outage:
    time.sleep(max(0, 30 - (time.time() - down_at)))
    print("broker back", flush=True)
    if s.mock:
        s.broker.send_signal(signal.SIGUSR2)
    else:
        s.start_broker()

pending = list(orders)
def all_settled():
    global pending
    pending = [o for o in pending if not settled(s, o[0], o[3])]
    return not pending
wait_for(all_settled, "%d orders to settle" % N, timeout=600 if outage else 300, interval=0.5)
elapsed = time.time() - t0
print("%d orders settled in %.1f s: %.1f orders/s%s" % (N, elapsed, N / elapsed,
      " (including a 30 s broker outage)" if outage else ""), flush=True)

# GET reflects the final status; the history shows the events as they arrived.
counts = collections.Counter()
for oid, corr, path, expect in orders:
    o = s.order(oid)
    if o["status"] != expect[0] or o["correlationId"] != corr:
        fail("order %s: %s" % (oid, o))
    counts[o["status"]] += 1
print("final states:", dict(counts), flush=True)

# Every event keyed by an order carries that order's correlation id; the chains are complete.
by_order = {o[0]: o for o in orders}
chains = collections.defaultdict(list)
def complete():
    chains.clear()
    for e in s.events():
        chains[e["key"]].append(e["event"])
    return all(len(chains[o[0]]) >= {"happy": 4, "declined": 3, "out_of_stock": 5}[o[2]] for o in orders)
wait_for(complete, "complete event chains", 120, 1)
for key, evs in chains.items():
    if key not in by_order:
        continue
    corr = by_order[key][1]
    for ev in evs:
        if ev["correlationId"] != corr:
            fail("event %s of order %s has correlation %s, expected %s" % (ev["eventType"], key, ev["correlationId"], corr))
    types = sorted(ev["eventType"] for ev in evs)
    want = {"happy": ["inventory.reserved", "notification.sent", "order.created", "payment.processed"],
            "declined": ["notification.sent", "order.created", "payment.failed"],
            "out_of_stock": ["inventory.reservation_failed", "order.cancelled", "order.created",
                             "payment.processed", "payment.refunded"]}[by_order[key][2]]
    if types != want:
        fail("order %s (%s): events %s, expected %s" % (key, by_order[key][2], types, want))
s.check_metrics()
s.finish()
print("PASS", flush=True)
