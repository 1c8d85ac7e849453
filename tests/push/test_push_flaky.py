#!/usr/bin/env python3
"""test_push_flaky.py — eddy-push against a receiver that fails 30% of requests (503, some
with Retry-After) and sleeps randomly: every record is delivered, each key's records arrive in
order with never two of a key in flight at once while different keys run in parallel, every
signature verifies, CloudEvents headers are present, and after a restart nothing is sent again
(offsets were committed)."""
import json, os, random, sys, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from onramp import (Env, Receiver, fail, http_json, log, produce, start_push, wait_for)

KEYS = int(os.environ.get("PUSH_KEYS", "20"))
PER_KEY = int(os.environ.get("PUSH_PER_KEY", "50"))
SECRET = "s3cr3t-" + os.urandom(4).hex()
env = Env("pushflaky")
env.start_broker()
topic = "orders.flaky." + env.tag
rng = random.Random(7)
lock = threading.Lock()


def decide(req):
    with lock:
        r = rng.random()
        sleep = rng.uniform(0, 0.03)
    if r < 0.25:
        return (503, {}, sleep)
    if r < 0.30:
        return (503, {"Retry-After": "0"}, sleep)
    return (200, {}, sleep)


rcv = Receiver(secret=SECRET, decide=decide)
pairs = [("k%02d" % k, json.dumps({"key": "k%02d" % k, "seq": i}))
         for i in range(PER_KEY) for k in range(KEYS)]
produce(env, topic, pairs)
state = os.path.join(env.tmp, "push-state")
push = start_push(env, state)
st, body = http_json("POST", push.api + "/v1/subscriptions", {
    "name": "flaky", "topics": [topic], "group": "flaky-push", "url": rcv.url,
    "secret": SECRET, "max_in_flight": 16,
    "retry": {"max_attempts": 1000, "initial_backoff_ms": 20, "max_backoff_ms": 200}})
if st != 201:
    fail("POST /v1/subscriptions → %s %s" % (st, body))
total = KEYS * PER_KEY
wait_for(lambda: len(rcv.accepted) >= total, "%d deliveries" % total, 180, 0.2)
if rcv.bad_sig:
    fail("%d deliveries failed signature verification" % len(rcv.bad_sig))
if rcv.key_overlap:
    fail("two deliveries of one key were in flight together: %s" % rcv.key_overlap[:5])
per_key = {}
for req in rcv.accepted:
    v = json.loads(req["body"])
    per_key.setdefault(v["key"], []).append(v["seq"])
    h = req["headers"]
    for need in ("ce-specversion", "ce-id", "ce-source", "ce-type", "ce-time", "eddy-timestamp",
                 "eddy-signature"):
        if need not in h:
            fail("delivery lacks header %s: %s" % (need, h))
for k, seqs in per_key.items():
    if seqs != list(range(PER_KEY)):
        fail("key %s arrived as %s (want 0..%d in order)" % (k, seqs[:20], PER_KEY - 1))
if len(per_key) != KEYS:
    fail("%d keys delivered, want %d" % (len(per_key), KEYS))
if rcv.max_inflight < 2:
    fail("deliveries never overlapped: keys were not sent in parallel")
wait_for(lambda: http_json("GET", push.api + "/v1/subscriptions/flaky")[1]["stats"]["delivered"]
         >= total, "eddy-push to count every delivery", 30)
st, v = http_json("GET", push.api + "/v1/subscriptions/flaky")
stats = v["stats"]
log("stats %s; receiver saw %d requests, max %d in flight" % (stats, rcv.requests, rcv.max_inflight))
if stats["delivered"] != total or stats["failed"] < 1 or stats["dead_lettered"] != 0:
    fail("stats disagree: %s" % stats)
if "secret" in v or not v.get("secret_set"):
    fail("the secret is shown or not marked: %s" % v)
m = __import__("urllib.request").request.urlopen(push.api + "/metrics").read().decode()
if 'eddy_push_delivered_total{subscription="flaky"} %d' % total not in m:
    fail("metrics lack the delivered count:\n" + m)
# restart: the subscription comes back from the state dir and sends nothing again
wait_for(lambda: http_json("GET", push.api + "/v1/subscriptions/flaky")[1]["stats"]["buffered"] == 0,
         "all offsets committed", 30)
time.sleep(0.3)  # one commit interval
push.terminate()
if push.wait(60) != 0:
    fail("eddy-push exit %s on SIGTERM" % push.returncode)
before = len(rcv.accepted)
push = start_push(env, state)
st, v = http_json("GET", push.api + "/v1/subscriptions")
if st != 200 or [s["name"] for s in v["subscriptions"]] != ["flaky"]:
    fail("subscription not restored: %s" % v)
produce(env, topic, [("k00", json.dumps({"key": "k00", "seq": PER_KEY}))])
wait_for(lambda: len(rcv.accepted) >= before + 1, "the new record after restart", 60, 0.2)
time.sleep(1.0)
if len(rcv.accepted) != before + 1:
    fail("after restart %d deliveries, want exactly 1 (the new record)" % (len(rcv.accepted) - before))
push.terminate()
if push.wait(60) != 0:
    fail("eddy-push exit %s on SIGTERM" % push.returncode)
print("PASS")
