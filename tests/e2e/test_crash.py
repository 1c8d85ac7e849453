"""e2e: crash between state change and publish. The payment service runs with the test-only
fault switch EDDY_FAULT=crash_after_outbox_commit:payment: it commits the payment (state +
outbox row + inbox row) and is SIGKILLed before the relay publishes. After a restart without the
switch, payment.processed is published exactly once, the payment was charged once, and the
order is not stuck: it completes. The same for the order service's own outbox via HTTP."""
import os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import System, PATHS, settled, wait_for, fail

s = System("crash")
s.start_broker()
for n in ["order", "inventory", "notification"]:
    s.start_service(n)
p = s.start_service("payment", {"EDDY_FAULT": "crash_after_outbox_commit:payment"})
kw, expect = PATHS["happy"]
o = s.place(**kw)
oid = o["orderId"]
wait_for(lambda: p.poll() is not None, "payment to hit the fault point")
if p.returncode != -9:
    fail("payment exited with %s, expected SIGKILL" % p.returncode)
# committed, not published
row = s.db("payment").execute("SELECT status FROM payments WHERE order_id = ?", (oid,)).fetchone()
if not row or row[0] != "charged":
    fail("payment row after crash: %s" % (row,))
pend = s.db("payment").execute("SELECT COUNT(*) FROM eddy_outbox WHERE published_at IS NULL").fetchone()[0]
if pend != 1:
    fail("expected 1 unpublished outbox row, got %d" % pend)
if [e for e in s.events(["payment.events"]) if e["key"] == oid]:
    fail("event published before the crash")

s.start_service("payment")
wait_for(lambda: settled(s, oid, expect), "order to complete after restart")
evs = [e for e in s.events(["payment.events"]) if e["key"] == oid]
if [e["event"]["eventType"] for e in evs] != ["payment.processed"]:
    fail("payment events after restart: %s" % [e["event"]["eventType"] for e in evs])
c = s.db("payment").execute("SELECT COUNT(*) FROM gateway_ledger WHERE order_id = ?", (oid,)).fetchone()[0]
if c != 1:
    fail("charged %d times" % c)

# The order service: crash right after POST /orders commits (the client sees no answer).
s.stop_service("order")
op = s.start_service("order", {"EDDY_FAULT": "crash_after_outbox_commit:order"})
try:
    s.place(**kw)
except Exception:
    pass
wait_for(lambda: op.poll() is not None, "order service to hit the fault point")
s.start_service("order")
rows = s.db("order").execute("SELECT id FROM orders WHERE id != ?", (oid,)).fetchall()
if len(rows) != 1:
    fail("expected the crashed order's row, got %s" % rows)
oid2 = rows[0][0]
wait_for(lambda: settled(s, oid2, expect), "crashed order to complete after restart")
created = [e for e in s.events(["order.events"]) if e["key"] == oid2]
if len(created) != 1:
    fail("order.created published %d times" % len(created))
s.finish()
print("PASS: published exactly once after crash + restart; no order stuck")
