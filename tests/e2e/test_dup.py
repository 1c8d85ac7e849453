"""e2e: duplicate delivery. The same order.created delivered twice — re-produced with the same
eventId, and again by resetting the payment group's offsets to the start — charges once: one
gateway charge, one payment.processed, the order completes once."""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import System, PATHS, settled, wait_for, fail

s = System("dup")
s.start_broker()
for n in ["order", "payment", "inventory", "notification"]:
    s.start_service(n, {"EDDY_KAFKA_SESSION_TIMEOUT_MS": "6000"})
kw, expect = PATHS["happy"]
o = s.place(**kw)
oid = o["orderId"]
wait_for(lambda: settled(s, oid, expect), "order to complete")

created = [e for e in s.events(["order.events"]) if e["key"] == oid and e["event"]["eventType"] == "order.created"]
if len(created) != 1:
    fail("expected one order.created, got %d" % len(created))
import json
raw = json.dumps(created[0]["event"])

# 1. Re-produce the very same event (same eventId).
dup0 = s.metric("payment", "eddy_handler_duplicates_total", event_type="order.created")
s.produce("order.events", oid, raw)
wait_for(lambda: s.metric("payment", "eddy_handler_duplicates_total", event_type="order.created") >= dup0 + 1,
         "payment to skip the re-produced event")

# 2. Reset the payment group's offsets to the start: everything is redelivered.
s.stop_service("payment")
s.reset_group("payment", ["order.events", "inventory.events"])
s.start_service("payment", {"EDDY_KAFKA_SESSION_TIMEOUT_MS": "6000"})
# both copies of order.created on order.events come again; the inbox skips each
wait_for(lambda: s.metric("payment", "eddy_handler_duplicates_total", event_type="order.created") >= 2,
         "payment to skip the redelivered events")

st, p = s.http("payment", "GET", "/payments/" + oid)
if st != 200 or p["charges"] != 1 or p["status"] != "charged":
    fail("payment after duplicates: %s %s" % (st, p))
processed = [e for e in s.events(["payment.events"]) if e["key"] == oid]
if [e["event"]["eventType"] for e in processed] != ["payment.processed"]:
    fail("payment events for the order: %s" % [e["event"]["eventType"] for e in processed])
c = s.db("payment").execute("SELECT COUNT(*) FROM gateway_ledger WHERE order_id = ?", (oid,)).fetchone()[0]
if c != 1:
    fail("gateway ledger has %d charges" % c)
if s.order(oid)["status"] != "completed":
    fail("order status changed")
s.finish()
print("PASS: charged once after 2 duplicate deliveries")
