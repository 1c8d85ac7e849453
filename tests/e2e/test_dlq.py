"""e2e: poison and failing handlers land in the DLQ with the documented fields, and the consumer
keeps going. Poison on order.events (not JSON; missing mandatory fields; unknown version) goes to
order.events.dlq at once; an order whose card makes the gateway fail every time is retried and
then dead-lettered with attemptCount = retry.max.attempts; later orders still complete. Then
`eddy dlq redrive` sends the failing order back: payment handles it again (not a duplicate for
its inbox), dead-letters it again with eddy-redrive-count 1, and the loop guard refuses it."""
import json, os, subprocess, sys, uuid
sys.path.insert(0, os.path.dirname(__file__))
from harness import System, PATHS, settled, wait_for, fail

s = System("dlq")
s.start_broker()
for n in ["order", "payment", "inventory", "notification"]:
    s.start_service(n, {"EDDY_RETRY_MAX_ATTEMPTS": "4"})

s.produce("order.events", "poison-1", "this is not json {")
s.produce("order.events", "poison-2", json.dumps({"eventType": "order.created", "version": "1.0", "payload": {}}))
s.produce("order.events", "poison-3", json.dumps({
    "eventType": "order.created", "version": "9.0", "eventId": str(uuid.uuid4()),
    "timestamp": "2026-05-12T10:00:00Z", "correlationId": "c-v9", "causationId": "c-v9",
    "source": "test", "payload": {"orderId": "x"}}))
bad = s.place(card="4000000000000341", sku="SKU-BOOK")  # gateway fails on every attempt
kw, expect = PATHS["happy"]
good = s.place(**kw)
wait_for(lambda: settled(s, good["orderId"], expect), "an order after the poison to complete")

def dlq():
    return [json.loads(m["value"]) for m in s.events(["order.events.dlq"], raw=True)]
wait_for(lambda: len(dlq()) >= 4, "4 DLQ records", 120, 1)
recs = dlq()
if len(recs) != 4:
    fail("DLQ has %d records: %s" % (len(recs), [(r.get("reason"), r.get("service"),
         r.get("sourceOffset"), r.get("attemptCount")) for r in recs]))
for r in recs:
    for f in ["originalEvent", "error", "failedAt", "attemptCount", "sourceTopic",
              "sourcePartition", "sourceOffset", "reason"]:
        if f not in r:
            fail("DLQ record lacks %s: %s" % (f, r))
    if r["sourceTopic"] != "order.events":
        fail("sourceTopic %s" % r["sourceTopic"])
reasons = sorted((r["reason"], r["attemptCount"]) for r in recs)
if reasons != [("poison", 0), ("poison", 0), ("retries_exhausted", 4), ("unknown_version", 0)]:
    fail("DLQ reasons: %s" % reasons)
failing = [r for r in recs if r["reason"] == "retries_exhausted"][0]
if failing["originalEvent"]["payload"]["orderId"] != bad["orderId"] or "gateway" not in failing["error"]:
    fail("failing-handler record: %s" % failing)
if s.metric("payment", "eddy_handler_dead_lettered_total", event_type="order.created") != 1:
    fail("dead_lettered metric")
if s.metric("payment", "eddy_handler_retried_total", event_type="order.created") != 3:
    fail("retried metric")

# The runbook (docs/operations.md) on the real services: redrive the order whose card always
# fails. payment's inbox had no row for it (the failed attempts rolled back), so it runs the
# handler again, which fails again: the record comes back with eddy-redrive-count 1, and the
# loop guard at 1 refuses it while the first dead letter counts as already redriven.
from harness import BUILD
def redrive(*args):
    p = subprocess.run([os.path.join(BUILD, "src/cli/eddy"), "-b", s.bootstrap, "dlq", "redrive",
                        "order.events.dlq", "--filter", "reason=retries_exhausted", "--json"]
                       + list(args), capture_output=True, text=True, timeout=120)
    return p.returncode, [json.loads(l) for l in p.stdout.splitlines() if l.strip()], p.stderr
rc, out, err = redrive()
if rc != 0 or out[-1]["moved"] != 1 or out[0]["to"] != "order.events":
    fail("redrive: exit %d %s %s" % (rc, out, err))
def exhausted():
    return [r for r in dlq() if r["reason"] == "retries_exhausted"]
wait_for(lambda: len(exhausted()) >= 2, "the redriven order dead-lettered again", 120, 1)
if len(dlq()) != 5 or any(r["originalEvent"]["payload"]["orderId"] != bad["orderId"]
                          for r in exhausted()):
    fail("second dead letter: %s" % dlq())
if s.metric("payment", "eddy_handler_dead_lettered_total", event_type="order.created") != 2:
    fail("the redriven event was not handled again (dropped by the inbox?)")
rc, out, err = redrive("--max-redrives", "1")
outcomes = sorted((o["outcome"], o["redriveCount"]) for o in out[:-1])
if rc != 5 or outcomes != [("already_redriven", 0), ("loop_guard", 1)]:
    fail("loop guard: exit %d %s %s" % (rc, out, err))
s.finish()
print("PASS: 4 DLQ records with the documented fields; the consumer kept going")
