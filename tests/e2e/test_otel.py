"""e2e: the reference services export their spans over OTLP/HTTP to a collector (the Node
receiver tests/sdk/otlp_receiver.js, which decodes every request with the OpenTelemetry
project's protobuf definitions from @opentelemetry/otlp-transformer). One compensated order
(out of stock: paid, then refunded and cancelled), placed with a caller's traceparent, becomes
one trace across the four services: the root publish span's parent is the caller's span, every
process span (CONSUMER) is the child of the publish span (PRODUCER) named by its record's
traceparent, every publish inside a handler is the child of that handler's process span, and
all carry the order's correlation id. Prints the trace as the receiver decoded it."""
import json, os, subprocess, sys, urllib.request
sys.path.insert(0, os.path.dirname(__file__))
from harness import System, PATHS, settled, wait_for, fail

SRC = os.environ.get("EDDY_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
env = dict(os.environ)
env.setdefault("NODE_PATH", os.path.join(SRC, "tests", "node", "node_modules"))
recv = subprocess.Popen([os.environ.get("EDDY_NODE", "node"),
                         os.path.join(SRC, "tests", "sdk", "otlp_receiver.js")],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
ports = json.loads(recv.stdout.readline())
ctl = "http://127.0.0.1:%d" % ports["control"]


def get(path):
    with urllib.request.urlopen(ctl + path, timeout=30) as r:
        body = r.read()
    return json.loads(body) if path != "/text" else body.decode()


# every service started below inherits these (System.start_service copies os.environ)
os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:%d" % ports["otlp"]
os.environ["OTEL_BSP_SCHEDULE_DELAY"] = "200"
s = System("otel")
s.start_all()

trace_id, caller = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
kw, expect = PATHS["out_of_stock"]
st, b = s.http("order", "POST", "/orders",
               {"customerId": "otel-1", "card": kw["card"],
                "items": [{"sku": kw["sku"], "quantity": 1, "price": 3.0}]},
               headers={"traceparent": "00-%s-%s-01" % (trace_id, caller)})
if st != 201:
    fail("POST /orders -> %s %s" % (st, b))
oid, corr = b["orderId"], b["correlationId"]
wait_for(lambda: settled(s, oid, expect), "the order to be cancelled and refunded", 120, 0.3)

# published: order.created, payment.processed, inventory.reservation_failed, payment.refunded,
# order.cancelled; processed by a handler: all but order.cancelled (no service handles it)
want_types = {"order.created", "payment.processed", "inventory.reservation_failed",
              "payment.refunded", "order.cancelled"}
want_processed = want_types - {"order.cancelled"}


def trace_spans():
    return [x for x in get("/spans") if x["traceId"] == trace_id]


seen = {}


def complete():
    sp = trace_spans()
    seen["publish"] = {x["attributes"].get("cloudevents.event_type") for x in sp if x["kind"] == 4}
    seen["process"] = {x["attributes"].get("cloudevents.event_type") for x in sp if x["kind"] == 5}
    return sp if want_types <= seen["publish"] and want_processed <= seen["process"] else None


try:
    spans = wait_for(complete, "the order's spans at the collector", 60, 0.3)
finally:
    if not complete():
        print("wanted published %s, processed %s; seen %s; receiver %s" %
              (sorted(want_types), sorted(want_processed), seen, get("/stats")), flush=True)
stats = get("/stats")
if stats["invalid"]:
    fail("the receiver refused what the services sent: %s" % stats["errors"])

by_id = {x["spanId"]: x for x in spans}
services = set()
for x in spans:
    a = x["attributes"]
    services.add(x["resource"]["service.name"])
    if a.get("messaging.system") != "kafka" or a.get("eddy.correlation_id") != corr:
        fail("span %s: attributes %s" % (x["name"], a))
    parent = by_id.get(x["parentSpanId"])
    if x["kind"] == 5:  # process: child of the publish span of its record
        if not parent or parent["kind"] != 4 or \
                parent["attributes"]["messaging.message.id"] != a["messaging.message.id"]:
            fail("process span %s (%s) is not the child of its record's publish span" %
                 (x["name"], a.get("cloudevents.event_type")))
        for k in ("messaging.destination.partition.id", "messaging.kafka.offset",
                  "messaging.consumer.group.name"):
            if k not in a:
                fail("process span %s lacks %s" % (x["name"], k))
    elif x["kind"] == 4:  # publish: the caller's span (the HTTP request) or a process span
        if a.get("cloudevents.event_type") == "order.created":
            if x["parentSpanId"] != caller:
                fail("order.created's publish span has parent %s, not the caller's %s" %
                     (x["parentSpanId"], caller))
        elif not parent or parent["kind"] != 5:
            fail("publish span %s has no process span as parent" % x["name"])
    else:
        fail("unexpected span kind %s" % x["kind"])
if not {"order", "payment", "inventory"} <= services:
    fail("the trace spans only %s" % sorted(services))

text = get("/text")
block = text[text.index("trace " + trace_id):]
block = block[:block.find("\ntrace ", 1) + 1] if "\ntrace " in block[1:] else block
print("--- the compensated order's trace as the receiver decoded it\n" + block, flush=True)
s.check_metrics()
s.finish()
recv.stdin.close()
recv.wait(30)
print("PASS", flush=True)
