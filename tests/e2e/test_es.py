"""e2e: event sourcing, CQRS and orchestration in the reference system, with a real eddyd and
every service a real process (SQLite files, or PostgreSQL schemas with E2E_STORE=postgres):
  - accounts (event-sourced): created, debited and credited through saga commands; the
    history replays to the balance; bad input answered 400/404/409;
  - the choreographed flow with payment asking accounts for the funds (payment.accounts=on):
    an insufficient balance is the "payment declined" path, the refund a credit;
  - the orchestrated order flow (order-orchestrator) reaches the choreographed flow's end
    states on the same three paths, plus the timeout path (SKU-SILENT: a participant that
    never answers) that compensates the debit;
  - a participant down while its step times out: its late reply is ignored, the saga is flagged
    stuck (GET /sagas/stuck, eddy_saga_stuck), and once the participant is back and an operator
    retries (POST /sagas/{id}/retry), every effect is undone exactly once;
  - order-summary (CQRS): GET /customers/{id}/orders from a projection over the choreographed
    flow's topics; a rebuild from the log switches generation and its read model is
    byte-identical; lag and rebuild progress on /metrics;
  - `eddy sagas` and `eddy projections` read the same over HTTP."""
import json, os, subprocess, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import System, PATHS, settled, wait_for, fail, BUILD, PG

PG_MODE = os.environ.get("E2E_STORE") == "postgres"
s = System("es")
s.start_broker()
ORCH_ENV = {"EDDY_SAGA_STEP_TIMEOUT_MS": "3000", "EDDY_SAGA_STEP_ATTEMPTS": "2",
            "EDDY_SAGA_TIMER_MS": "100"}
for n in ["order", "inventory", "notification", "accounts", "order-summary"]:
    s.start_service(n)
s.start_service("payment", {"EDDY_PAYMENT_ACCOUNTS": "on"})
s.start_service("order-orchestrator", ORCH_ENV)


def ok(svc, method, path, body=None, want=200):
    st, b = s.http(svc, method, path, body)
    if st != want:
        fail("%s %s %s → %s %s (wanted %s)" % (svc, method, path, st, b, want))
    return b


def balance(cust):
    return ok("accounts", "GET", "/accounts/" + cust)["balanceCents"]


# ---- accounts ---------------------------------------------------------------------------------
ok("accounts", "POST", "/accounts", {"customerId": "alice", "initialBalanceCents": 1000000}, 201)
ok("accounts", "POST", "/accounts", {"customerId": "bob", "initialBalanceCents": 500}, 201)
ok("accounts", "POST", "/accounts", {"customerId": "carol", "initialBalanceCents": 100000}, 201)
ok("accounts", "POST", "/accounts", {"customerId": "dan", "initialBalanceCents": 0}, 201)
ok("accounts", "POST", "/accounts", {"customerId": "alice", "initialBalanceCents": 1}, 409)
ok("accounts", "POST", "/accounts", {"customerId": "bad id!", "initialBalanceCents": 1}, 400)
ok("accounts", "POST", "/accounts", {"customerId": "x", "initialBalanceCents": -1}, 400)
ok("accounts", "GET", "/accounts/nobody", want=404)
ok("accounts", "GET", "/accounts/nobody/history", want=404)
ok("accounts", "POST", "/accounts/nobody/credit", {"amountCents": 5}, 404)
ok("accounts", "POST", "/accounts/bob/credit", {"amountCents": 0}, 400)
if balance("alice") != 1000000:
    fail("alice's opening balance")

# ---- choreography, payment asking accounts for the funds ---------------------------------------
# dan has no money: his order is the declined path (the card no longer decides)
CHOR_CUSTOMER = {"happy": "carol", "declined": "dan", "out_of_stock": "carol"}
chor = {}
for path, (kw, expect) in PATHS.items():
    chor[path] = (s.place(customer=CHOR_CUSTOMER[path], **kw)["orderId"], expect)
wait_for(lambda: all(settled(s, oid, e) for oid, e in chor.values()), "choreographed orders")
if balance("carol") != 100000 - 1000:  # the happy order; the out-of-stock one was credited back
    fail("carol's balance after the choreographed orders: %s" % balance("carol"))
if balance("dan") != 0:
    fail("dan's balance changed")
st, pay = s.http("payment", "GET", "/payments/" + chor["declined"][0])
if pay.get("status") != "declined":
    fail("declined payment: %s" % pay)
carol_types = [e["type"] for e in ok("accounts", "GET", "/accounts/carol/history")["events"]]
if carol_types.count("account.debited") != 2 or carol_types.count("account.credited") != 1:
    fail("carol's history: %s" % carol_types)

# ---- orchestration: the same three paths plus the timeout path --------------------------------
stock0 = {x["sku"]: x for x in ok("inventory", "GET", "/stock")}
def orch(customer, sku, price, qty=1):
    return ok("order-orchestrator", "POST", "/orders",
              {"customerId": customer, "items": [{"sku": sku, "quantity": qty, "price": price}]},
              201)["orderId"]

ORCH = {
    "happy": (orch("alice", "SKU-BOOK", 10), ("completed", False)),
    "declined": (orch("bob", "SKU-BOOK", 100), ("payment_failed", False)),
    "out_of_stock": (orch("alice", "SKU-RARE", 20), ("cancelled", True)),
    "timeout": (orch("alice", "SKU-SILENT", 30), ("cancelled", True)),
}
ok("order-orchestrator", "POST", "/orders", {"customerId": "alice", "items": []}, 400)
ok("order-orchestrator", "POST", "/orders", {"items": [{"sku": "A", "quantity": 1, "price": 1}]}, 400)

def orch_settled(oid, expect):
    st, o = s.http("order-orchestrator", "GET", "/orders/" + oid)
    return st == 200 and o["status"] == expect[0] and o["refunded"] == expect[1] and \
        o["saga"]["state"] in ("completed", "compensated")
wait_for(lambda: all(orch_settled(oid, e) for oid, e in ORCH.values()), "orchestrated orders", 180)
for path, (oid, expect) in ORCH.items():
    o = ok("order-orchestrator", "GET", "/orders/" + oid)
    hist = [h["entry"] for h in o["saga"]["history"]]
    print("orchestrated %-12s → %-14s saga %s: %s" % (path, o["status"], o["saga"]["state"],
                                                      o.get("reason")), flush=True)
    want_saga = "completed" if path == "happy" else "compensated"
    if o["saga"]["state"] != want_saga:
        fail("%s: saga %s" % (path, o["saga"]))
    if path == "timeout" and not any("timed out after 2 attempts" in h for h in hist):
        fail("timeout path history: %s" % hist)
    if path == "out_of_stock" and not any("account.credited received" in h for h in hist):
        fail("out_of_stock path did not compensate the debit: %s" % hist)
# and the choreographed flow's end states are the same on the same three paths
for path in PATHS:
    if ORCH[path][1] != chor[path][1]:
        fail("end state of %s differs between choreography and orchestration" % path)

# balances: only the completed order costs alice; bob's debit was refused
if balance("alice") != 1000000 - 1000:
    fail("alice's balance %s after the orchestrated orders" % balance("alice"))
if balance("bob") != 500:
    fail("bob's balance changed")
h = ok("accounts", "GET", "/accounts/alice/history")
types = [e["type"] for e in h["events"]]
if types.count("account.debited") != 3 or types.count("account.credited") != 2:
    fail("alice's history: %s" % types)
if h["balanceCents"] != balance("alice") or h["events"][-1]["balanceCents"] != h["balanceCents"]:
    fail("history does not replay to the balance")
stock1 = {x["sku"]: x for x in ok("inventory", "GET", "/stock")}
# choreography reserved one book for carol (happy path) — orchestration one for alice
if stock1["SKU-BOOK"]["reserved"] != stock0["SKU-BOOK"]["reserved"] + 1:
    fail("orchestrated happy order did not reserve exactly one book")

# ---- a participant down: late replies ignored, stuck flagged, operator retry ------------------
s.stop_service("inventory")
mug0 = stock1["SKU-MUG"]
late = orch("alice", "SKU-MUG", 5)
def saga_of(oid):
    return ok("order-orchestrator", "GET", "/sagas/" + oid)
wait_for(lambda: saga_of(late)["stuck"], "the saga to be flagged stuck", 120)
stuck = ok("order-orchestrator", "GET", "/sagas/stuck")
if [x["id"] for x in stuck] != [late]:
    fail("GET /sagas/stuck: %s" % stuck)
if s.metric("order-orchestrator", "eddy_saga_stuck") < 1:
    fail("eddy_saga_stuck does not count it")
if saga_of(late)["state"] != "compensating":
    fail("stuck saga state: %s" % saga_of(late))
s.start_service("inventory")
st, b = s.http("order-orchestrator", "POST", "/sagas/%s/retry" % late)
if st not in (202, 409):
    fail("retry: %s %s" % (st, b))
wait_for(lambda: saga_of(late)["state"] == "compensated", "the late saga to compensate", 120)
hist = [x["entry"] for x in saga_of(late)["history"]]
if not any("ignored" in e for e in hist):
    fail("no late reply was ignored: %s" % hist)
if s.metric("order-orchestrator", "eddy_saga_replies_ignored_total") < 1:
    fail("eddy_saga_replies_ignored_total")
o = ok("order-orchestrator", "GET", "/orders/" + late)
if (o["status"], o["refunded"]) != ("cancelled", True):
    fail("late order: %s" % o)
mug1 = {x["sku"]: x for x in ok("inventory", "GET", "/stock")}["SKU-MUG"]
if mug1 != mug0:
    fail("the late reservation was not released exactly once: %s → %s" % (mug0, mug1))
if balance("alice") != 1000000 - 1000:
    fail("the late order's debit was not credited exactly once: %s" % balance("alice"))
print("late reply after timeout: ignored; saga stuck, retried, compensated", flush=True)

# ---- CQRS: order-summary ----------------------------------------------------------------------
def summary(c):
    return ok("order-summary", "GET", "/customers/%s/orders" % c)
def summary_ok():
    got = {}
    for c in ("carol", "dan"):
        got.update({o["orderId"]: (o["status"], o["refunded"]) for o in summary(c)["orders"]})
    return all(got.get(oid) == e for oid, e in chor.values())
wait_for(summary_ok, "order-summary to show carol's orders")
ok("order-summary", "GET", "/customers/carol", want=404)


def dump_model(gen):
    table = "order_summary_g%d" % gen
    q = "SELECT * FROM %s ORDER BY order_id" % table
    if PG_MODE:
        schema = s.schemas["order-summary"]
        p = subprocess.run(["psql", PG, "-At", "-c", "SET search_path TO %s; %s" % (schema, q)],
                           capture_output=True, text=True, check=True)
        return p.stdout
    db = s.db("order-summary")
    rows = db.execute(q).fetchall()
    db.close()
    return json.dumps(rows)


before_http = summary("carol")
before_db = dump_model(1)
ok("order-summary", "POST", "/projections/order-summary/rebuild", want=202)
wait_for(lambda: ok("order-summary", "GET", "/projections/order-summary")["generation"] == 2 and
         ok("order-summary", "GET", "/projections/order-summary")["state"] == "live",
         "the rebuild to switch generation", 120)
after_http = summary("carol")
after_db = dump_model(2)
if before_db != after_db or not before_db:
    fail("rebuilt read model differs:\n%s\n%s" % (before_db, after_db))
if before_http["orders"] != after_http["orders"] or after_http["generation"] != "2":
    fail("GET /customers/carol/orders differs after the rebuild")
st = ok("order-summary", "GET", "/projections/order-summary")
if st["rebuild"]["done"] != st["rebuild"]["total"] or st["rebuild"]["total"] <= 0:
    fail("rebuild progress: %s" % st)
log = open(os.path.join(s.tmp, "order-summary.log")).read()
if "generation 2 is current" not in log:
    fail("no rebuild line in the log")
if s.metric("order-summary", "eddy_projection_generation") != 2:
    fail("eddy_projection_generation")
if s.metric("order-summary", "eddy_projection_lag_events") != 0:
    fail("lag after catching up")
print("projection rebuild: %d events, read model byte-identical (%d bytes)" % (
    st["rebuild"]["total"], len(after_db)), flush=True)

# ---- the CLI ----------------------------------------------------------------------------------
eddy = os.path.join(BUILD, "src/cli/eddy")
p = subprocess.run([eddy, "sagas", "list", "--url", s.urls["order-orchestrator"]],
                   capture_output=True, text=True, timeout=60)
if p.returncode or late not in p.stdout or "compensated" not in p.stdout:
    fail("eddy sagas list: %s %s" % (p.stdout, p.stderr))
p = subprocess.run([eddy, "sagas", "show", late, "--url", s.urls["order-orchestrator"]],
                   capture_output=True, text=True, timeout=60)
if p.returncode or "ignored" not in p.stdout:
    fail("eddy sagas show: %s %s" % (p.stdout, p.stderr))
p = subprocess.run([eddy, "sagas", "show", "no-such", "--url", s.urls["order-orchestrator"]],
                   capture_output=True, text=True, timeout=60)
if p.returncode != 4:
    fail("eddy sagas show of an unknown saga exited %d" % p.returncode)
p = subprocess.run([eddy, "projections", "list", "--url", s.urls["order-summary"]],
                   capture_output=True, text=True, timeout=60)
if p.returncode or "order-summary" not in p.stdout:
    fail("eddy projections list: %s %s" % (p.stdout, p.stderr))

s.check_metrics()
s.finish()
print("OK", flush=True)
