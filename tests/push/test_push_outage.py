#!/usr/bin/env python3
"""test_push_outage.py — eddy-push when things break: (1) the receiver is down (connection
refused) for PUSH_DOWN_S seconds (default 30; the issue's figure is 60: PUSH_DOWN_S=60) while
records arrive — nothing is lost or dead-lettered and deliveries resume in per-key order when it
comes back; (2) eddy-push is killed with SIGKILL mid-delivery and restarted from its state dir —
the subscription comes back and no record is skipped (re-deliveries of what was in flight are
allowed, order per key holds for first deliveries); (3) eddyd is killed with SIGKILL
mid-delivery and restarted on the same port and data — eddy-push carries on, nothing skipped."""
import json, os, signal, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from onramp import (Env, Receiver, fail, free_port, http_json, log, produce, start_push,
                     wait_for)

DOWN = float(os.environ.get("PUSH_DOWN_S", "30"))
env = Env("pushoutage")
env.start_broker()
state = os.path.join(env.tmp, "state")
push = start_push(env, state)
api = push.api + "/v1/subscriptions"

# ---- 1. receiver down ------------------------------------------------------------------------
topic = "notify.outage." + env.tag
port = free_port()
st, b = http_json("POST", api, {"name": "outage", "topics": [topic],
                                "url": "http://127.0.0.1:%d/hook" % port,
                                "retry": {"max_attempts": 1000, "initial_backoff_ms": 100,
                                          "max_backoff_ms": 2000}})
if st != 201:
    fail("register: %s %s" % (st, b))
produce(env, topic, [("u%d" % (i % 5), json.dumps({"k": "u%d" % (i % 5), "seq": i // 5}))
                     for i in range(100)])
t0 = time.time()
wait_for(lambda: http_json("GET", api + "/outage")[1]["stats"]["failed"] >= 5,
         "failed attempts while the receiver is down", 60, 0.2)
time.sleep(max(0, DOWN - (time.time() - t0)))
s = http_json("GET", api + "/outage")[1]["stats"]
log("after %.0f s down: %s" % (time.time() - t0, s))
if s["dead_lettered"] or s["delivered"]:
    fail("while down: %s" % s)
if s["oldest_undelivered_age_seconds"] <= 0 or s["retrying"] < 1:
    fail("the stats do not show the backlog: %s" % s)
rcv = Receiver(port=port)
wait_for(lambda: len(rcv.accepted) >= 100, "100 deliveries after the receiver came back", 90, 0.2)
per = {}
for r in rcv.accepted:
    v = json.loads(r["body"])
    per.setdefault(v["k"], []).append(v["seq"])
if any(v != list(range(20)) for v in per.values()) or len(per) != 5:
    fail("after the outage: %s" % per)
wait_for(lambda: http_json("GET", api + "/outage")[1]["stats"]["delivered"] == 100, "stats", 30)
if http_json("GET", api + "/outage")[1]["stats"]["dead_lettered"]:
    fail("records were dead-lettered during a recoverable outage")
http_json("DELETE", api + "/outage")
log("outage of %.0f s: 100/100 delivered in order, none dead-lettered" % DOWN)

# ---- 2. kill -9 mid-delivery -----------------------------------------------------------------
topic2 = "notify.kill." + env.tag
KEYS, N = 10, 30
slow = Receiver(decide=lambda req: (200, {}, 0.02))
produce(env, topic2, [("v%d" % k, json.dumps({"k": "v%d" % k, "seq": i}))
                      for i in range(N) for k in range(KEYS)])
st, b = http_json("POST", api, {"name": "kill", "topics": [topic2], "url": slow.url,
                                "max_in_flight": 8})
if st != 201:
    fail("register: %s %s" % (st, b))
wait_for(lambda: len(slow.accepted) >= 80, "some deliveries before the kill", 60, 0.05)
os.killpg(push.pid, signal.SIGKILL)
push.wait()
at_kill = len(slow.accepted)
push = start_push(env, state)
api = push.api + "/v1/subscriptions"
wait_for(lambda: len({(json.loads(r["body"])["k"], json.loads(r["body"])["seq"])
                      for r in slow.accepted}) >= KEYS * N,
         "every record delivered after the restart", 120, 0.2)
per, dups = {}, 0
for r in slow.accepted:
    v = json.loads(r["body"])
    seen = per.setdefault(v["k"], [])
    if v["seq"] in seen:
        dups += 1
        continue
    seen.append(v["seq"])
for k, seqs in per.items():
    if seqs != list(range(N)):
        fail("key %s first deliveries %s: a record was skipped or reordered" % (k, seqs))
log("kill -9 after %d deliveries: all %d delivered, %d re-delivered" % (at_kill, KEYS * N, dups))

# ---- 3. the broker killed mid-delivery ---------------------------------------------------------
topic3 = "notify.broker." + env.tag
slow3 = Receiver(decide=lambda req: (200, {}, 0.02))
produce(env, topic3, [("w%d" % k, json.dumps({"k": "w%d" % k, "seq": i}))
                      for i in range(N) for k in range(KEYS)])
st, b = http_json("POST", api, {"name": "broker", "topics": [topic3], "url": slow3.url,
                                "max_in_flight": 8})
if st != 201:
    fail("register: %s %s" % (st, b))
wait_for(lambda: len(slow3.accepted) >= 60, "some deliveries before killing eddyd", 60, 0.05)
env.stop_broker(signal.SIGKILL)
at_kill = len(slow3.accepted)
env.start_broker(port=env.broker_port)  # same port, same data directory
wait_for(lambda: len({(json.loads(r["body"])["k"], json.loads(r["body"])["seq"])
                      for r in slow3.accepted}) >= KEYS * N,
         "every record delivered after eddyd restarted", 180, 0.2)
per = {}
for r in slow3.accepted:
    v = json.loads(r["body"])
    seen = per.setdefault(v["k"], [])
    if v["seq"] not in seen:
        seen.append(v["seq"])
if any(seqs != list(range(N)) for seqs in per.values()):
    fail("after the broker restart, first deliveries per key: %s" % per)
log("eddyd kill -9 after %d deliveries: all %d delivered in per-key order" % (at_kill, KEYS * N))
push.terminate()
if push.wait(60) != 0:
    fail("eddy-push exit %s on SIGTERM" % push.returncode)
print("PASS")
