"""e2e: bad HTTP input to the order service gets a 4xx with a JSON error naming the problem,
and creates no order row and no event."""
import json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import System, fail

s = System("http")
s.start_broker()
s.start_service("order")
item = {"sku": "SKU-BOOK", "quantity": 1, "price": 5}
cases = [
    ("POST", "/orders", b"{not json", 400, "malformed JSON"),
    ("POST", "/orders", b"", 400, "empty body"),
    ("POST", "/orders", b"[1,2]", 400, "JSON object"),
    ("POST", "/orders", json.dumps({"items": [item]}).encode(), 400, "customerId"),
    ("POST", "/orders", json.dumps({"customerId": "a"}).encode(), 400, "items"),
    ("POST", "/orders", json.dumps({"customerId": "a", "items": []}).encode(), 400, "items"),
    ("POST", "/orders", json.dumps({"customerId": "a", "items": [dict(item, quantity=-2)]}).encode(), 400, "quantity"),
    ("POST", "/orders", json.dumps({"customerId": "a", "items": [dict(item, price=-1)]}).encode(), 400, "price"),
    ("POST", "/orders", json.dumps({"customerId": "a", "items": [{"sku": "SKU-BOOK", "price": 1}]}).encode(), 400, "quantity"),
    ("POST", "/orders", json.dumps({"customerId": 7, "items": [item]}).encode(), 400, "customerId"),
    ("POST", "/orders", json.dumps({"customerId": "a", "items": [item], "pad": "x" * 2000000}).encode(), 413, "too large"),
    ("GET", "/nope", None, 404, "no route"),
    ("DELETE", "/orders/1", None, 405, "not allowed"),
    ("GET", "/orders/ord-does-not-exist", None, 404, "not found"),
    ("POST", "/orders/extra", json.dumps({"customerId": "a", "items": [item]}).encode(), 404, "no route"),
]
for method, path, body, code, needle in cases:
    st, b = s.http("order", method, path, raw=body)
    if st != code or not isinstance(b, dict) or needle not in b.get("error", ""):
        fail("%s %s (%r…) → %s %s; expected %d with '%s'" % (method, path, (body or b"")[:40], st, b, code, needle))
n = s.db("order").execute("SELECT COUNT(*) FROM orders").fetchone()[0]
o = s.db("order").execute("SELECT COUNT(*) FROM eddy_outbox").fetchone()[0]
if n or o:
    fail("bad input created %d orders and %d outbox rows" % (n, o))
if s.events(["order.events"], raw=True):
    fail("bad input produced events")
st, b = s.http("order", "POST", "/orders", {"customerId": "a", "items": [item]})
if st != 201 or not b["orderId"].startswith("ord-"):
    fail("a good order after bad ones: %s %s" % (st, b))
s.finish()
print("PASS: %d bad requests answered 4xx with a JSON error; nothing created" % len(cases))
