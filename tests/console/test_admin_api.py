"""test_admin_api — eddyd's JSON admin API (/api/v1, src/console, docs/admin-api.md) against a
real eddyd, with the results checked through the Kafka protocol by other people's clients: kcat
(-L metadata, -P produce with headers) and kafka-python (a real consumer group, committed
offsets read back with OffsetFetch). Bad input gets 4xx JSON {"error_code", "message"} and
changes nothing; a reset of an active group is refused with 409.

Run with /usr/bin/python3; launcher tests/harness/eddyd.py; one eddyd for the whole file.
"""
import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("EDDY_SOURCE_DIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "harness"))
from eddyd import Eddyd, Results, wait_until  # noqa: E402

from kafka import KafkaConsumer, TopicPartition  # noqa: E402

HTTP_RE = re.compile(r"http listening on 127\.0\.0\.1:(\d+)")


class Api:
    def __init__(self, broker):
        self.b = broker
        m = HTTP_RE.findall(broker.log_text())
        assert m, "no http port in the log"
        self.base = "http://127.0.0.1:%s" % m[-1]

    def call(self, method, path, body=None, raw=None):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            return e.code, json.loads(text)


def kcat_topics(b):
    out = subprocess.run(["kcat", "-b", b.bootstrap, "-L", "-J"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    return {t["topic"]: len(t["partitions"]) for t in json.loads(out)["topics"]}


def kcat_produce(b, topic, lines, headers=(), partition=None, key_delim=":"):
    cmd = ["kcat", "-b", b.bootstrap, "-P", "-t", topic, "-K", key_delim]
    if partition is not None:
        cmd += ["-p", str(partition)]
    for h in headers:
        cmd += ["-H", h]
    subprocess.run(cmd, input="\n".join(lines) + "\n", text=True, timeout=30, check=True)


def committed(b, group, topic, partition):
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return c.committed(TopicPartition(topic, partition))
    finally:
        c.close()


def consume_group(b, group, topic, want):
    """A real group member: joins, reads `want` messages, commits, leaves."""
    c = KafkaConsumer(topic, bootstrap_servers=b.bootstrap, group_id=group,
                      auto_offset_reset="earliest", enable_auto_commit=False,
                      consumer_timeout_ms=15000)
    n = 0
    for _ in c:
        n += 1
        if n >= want:
            break
    c.commit()
    c.close()
    return n


def assert_error(st, body, status, code=None):
    assert st == status, (st, body)
    assert isinstance(body.get("error_code"), int) and body.get("message"), body
    if code is not None:
        assert body["error_code"] == code, body


def main():
    b = Eddyd(["http.listeners=127.0.0.1:0", "auto.create.topics.enable=false",
               "group.initial.rebalance.delay.ms=0"])
    api = Api(b)
    res = Results(b)

    def create_topic():
        st, t = api.call("POST", "/api/v1/topics",
                         {"name": "orders", "partitions": 3, "configs": {"retention.ms": "3600000"}})
        assert st == 201, t
        assert t["partitions"] == 3 and t["overrides"] == {"retention.ms": "3600000"}, t
        assert kcat_topics(b).get("orders") == 3, "kcat -L does not see orders with 3 partitions"

    def create_bad_input():
        before = kcat_topics(b)
        st, e = api.call("POST", "/api/v1/topics", raw=b"{not json")
        assert_error(st, e, 400, 40001)
        st, e = api.call("POST", "/api/v1/topics", raw=b"[1,2]")
        assert_error(st, e, 400, 40001)
        st, e = api.call("POST", "/api/v1/topics", {"name": "bad/name"})
        assert_error(st, e, 422, 42201)
        st, e = api.call("POST", "/api/v1/topics", {"name": "p0", "partitions": 0})
        assert_error(st, e, 422, 42202)
        st, e = api.call("POST", "/api/v1/topics", {"name": "cfg", "configs": {"retention.ms": "x"}})
        assert_error(st, e, 422, 42203)
        st, e = api.call("POST", "/api/v1/topics", {"name": "orders"})
        assert_error(st, e, 409, 40901)
        st, e = api.call("GET", "/api/v1/topics/nope")
        assert_error(st, e, 404, 40401)
        st, e = api.call("GET", "/api/v1/groups/nope")
        assert_error(st, e, 404, 40402)
        st, e = api.call("GET", "/api/v1/nothing-here")
        assert_error(st, e, 404)
        st, e = api.call("PUT", "/api/v1/topics")
        assert_error(st, e, 405)
        st, e = api.call("GET", "/api/v1/topics/orders/messages?partition=7")
        assert_error(st, e, 404)
        st, e = api.call("GET", "/api/v1/topics/orders/messages?partition=0&offset=-1")
        assert_error(st, e, 400)
        st, e = api.call("GET", "/api/v1/topics/orders/messages?limit=abc")
        assert_error(st, e, 400)
        st, e = api.call("GET", "/api/v1/trace")
        assert_error(st, e, 400)
        st, e = api.call("GET", "/api/v1/topics/orders%00x")
        assert_error(st, e, 400)
        st, e = api.call("GET", "/api/v1/topics/" + "x" * 3000)
        assert_error(st, e, 404)
        st, e = api.call("GET", "/api/v1/topics/orders/messages?key=a%00b")
        assert st == 200 and e["messages"] == [], e
        assert kcat_topics(b) == before, "bad input changed the topics"

    def browse():
        hdr = ["ce_specversion=1.0", "ce_type=order.created", "ce_source=/orders",
               "ce_id=e-1", "x-correlation-id=c-browse"]
        kcat_produce(b, "orders", ['k%d:{"n":%d}' % (i, i) for i in range(6)], hdr, partition=0)
        kcat_produce(b, "orders", ["bin:plain text"], partition=1)
        st, r = api.call("GET", "/api/v1/topics/orders/messages?limit=3")
        assert st == 200 and r["mode"] == "newest", r
        msgs = r["messages"]
        assert len(msgs) == 3, msgs
        ts = [m["timestamp"] for m in msgs]
        assert ts == sorted(ts, reverse=True), ts
        st, r = api.call("GET", "/api/v1/topics/orders/messages?partition=0&offset=2&limit=2")
        assert st == 200, r
        m = r["messages"]
        assert [x["offset"] for x in m] == [2, 3], m
        assert m[0]["key"] == "k2" and m[0]["value_encoding"] == "json", m[0]
        assert json.loads(m[0]["value"]) == {"n": 2}, m[0]
        assert m[0]["cloudevents"] == {"specversion": "1.0", "type": "order.created",
                                       "source": "/orders", "id": "e-1"}, m[0]
        hk = [h["key"] for h in m[0]["headers"]]
        assert "x-correlation-id" in hk, hk
        st, r = api.call("GET", "/api/v1/topics/orders/messages?key=k4")
        assert st == 200 and [x["offset"] for x in r["messages"]] == [4], r
        # Confluent wire format: magic 0, schema id 7, a JSON Schema payload
        wire = b"\x00\x00\x00\x00\x07" + b'{"sku":"A-1"}'
        subprocess.run(["kcat", "-b", b.bootstrap, "-P", "-t", "orders", "-p", "2"], input=wire,
                       timeout=30, check=True)
        st, r = api.call("GET", "/api/v1/topics/orders/messages?partition=2&offset=0")
        m = r["messages"][0]
        assert m["schema_id"] == 7 and m["value_encoding"] == "json", m
        assert json.loads(m["value"]) == {"sku": "A-1"}, m
        st, r = api.call("GET", "/api/v1/topics/orders/messages?partition=2&offset=0&format=base64")
        assert "schema_id" not in r["messages"][0], r
        st, r = api.call("GET", "/api/v1/topics/orders/messages?partition=1&offset=0&format=base64")
        assert r["messages"][0]["value_encoding"] == "base64", r
        st, r = api.call("GET", "/api/v1/topics/orders/messages?timestamp=%d" % (int(time.time() * 1000) + 60000))
        assert st == 200 and r["messages"] == [], r
        st, r = api.call("GET", "/api/v1/topics/orders/messages?timestamp=0&limit=500")
        assert len(r["messages"]) == 8, r
        st, t = api.call("GET", "/api/v1/topics/orders")
        p0 = t["partitions_detail"][0]
        assert p0["start_offset"] == 0 and p0["end_offset"] == 6 and p0["size_bytes"] > 0, t

    def cli_parity_by_key():
        # `eddy consume -k` (CLI parity of the console's "by key" browse) finds what the API finds
        st, r = api.call("GET", "/api/v1/topics/orders/messages?key=k4")
        out = subprocess.run([os.environ["EDDY_CLI"], "-b", b.bootstrap, "consume", "orders",
                              "-o", "beginning", "-e", "-k", "k4", "--json"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        cli = [json.loads(x) for x in out.stdout.splitlines() if x.strip()]
        assert [(m["partition"], m["offset"], m["key"]) for m in cli] == \
            [(m["partition"], m["offset"], m["key"]) for m in r["messages"]] == [(0, 4, "k4")], cli
        bad = subprocess.run([os.environ["EDDY_CLI"], "-b", b.bootstrap, "consume", "orders",
                              "-k", "k4", "-g", "billing"], capture_output=True, text=True,
                             timeout=60)
        assert bad.returncode != 0 and "exclude" in bad.stderr, bad.stderr

    def overview():
        st, o = api.call("GET", "/api/v1/cluster/overview")
        assert st == 200 and o["broker"]["status"] == "ok", o
        assert o["broker"]["uptime_ms"] >= 0 and o["broker"]["version"], o
        t = [x for x in o["topics"] if x["name"] == "orders"][0]
        assert t["records_in"] == 8 and t["messages"] == 8 and t["size_bytes"] > 0, t

    def groups_and_reset():
        assert consume_group(b, "billing", "orders", 8) == 8
        st, g = api.call("GET", "/api/v1/groups/billing")
        assert st == 200 and g["state"] == "Empty", g
        offs = {(o["topic"], o["partition"]): o for o in g["offsets"]}
        assert offs[("orders", 0)]["committed_offset"] == 6 and offs[("orders", 0)]["lag"] == 0, g
        kcat_produce(b, "orders", ["late:1", "late:2"], partition=0)
        st, g = api.call("GET", "/api/v1/groups/billing")
        o0 = [o for o in g["offsets"] if o["partition"] == 0][0]
        assert o0["lag"] == 2 and o0["log_end_offset"] == 8, o0
        assert o0["lag_seconds"] >= 0, o0
        assert isinstance(g["lag_history"], list), g  # sampled every 10 s
        st, lst = api.call("GET", "/api/v1/groups")
        assert any(x["group_id"] == "billing" and x["total_lag"] == 2 for x in lst["groups"]), lst
        # preview: what would change, nothing changed
        st, p = api.call("POST", "/api/v1/groups/billing/reset",
                         {"to": "earliest", "topic": "orders", "preview": True})
        assert st == 200 and p["preview"] is True and p["applied"] is False, p
        ch = {c["partition"]: c for c in p["changes"]}
        assert ch[0]["current_offset"] == 6 and ch[0]["new_offset"] == 0, p
        assert committed(b, "billing", "orders", 0) == 6, "preview changed the committed offset"
        # apply, seen through OffsetFetch
        st, a = api.call("POST", "/api/v1/groups/billing/reset",
                         {"to": "offset", "offset": 3, "topic": "orders", "partitions": [0]})
        assert st == 200 and a["applied"] is True, a
        assert committed(b, "billing", "orders", 0) == 3
        assert committed(b, "billing", "orders", 1) == 1, "a partition not named was reset"
        st, a = api.call("POST", "/api/v1/groups/billing/reset", {"to": "latest"})
        assert st == 200 and len(a["changes"]) >= 2, a
        assert committed(b, "billing", "orders", 0) == 8
        # by timestamp: the future → the end; 0 → the log start
        st, a = api.call("POST", "/api/v1/groups/billing/reset",
                         {"to": "timestamp", "timestamp": 0, "topic": "orders", "partitions": [0]})
        assert st == 200 and a["changes"][0]["new_offset"] == 0, a
        assert committed(b, "billing", "orders", 0) == 0
        # bad input: nothing changed
        for body, status in [({"to": "yesterday"}, 422), ({"to": "offset"}, 422),
                             ({"to": "timestamp", "timestamp": "x"}, 422),
                             ({"to": "earliest", "topic": "nope"}, 404),
                             ({"to": "earliest", "topic": "orders", "partitions": [9]}, 404),
                             ({"to": "earliest", "preview": "yes"}, 422)]:
            st, e = api.call("POST", "/api/v1/groups/billing/reset", body)
            assert_error(st, e, status)
        st, e = api.call("POST", "/api/v1/groups/billing/reset", raw=b"{")
        assert_error(st, e, 400)
        st, e = api.call("POST", "/api/v1/groups/ghost/reset", {"to": "earliest"})
        assert_error(st, e, 404)
        assert committed(b, "billing", "orders", 0) == 0

    def reset_active_group_refused():
        c = KafkaConsumer("orders", bootstrap_servers=b.bootstrap, group_id="billing",
                          auto_offset_reset="earliest", enable_auto_commit=False)
        try:
            wait_until(lambda: (c.poll(timeout_ms=200) or True) and c.assignment(), 30,
                       "the consumer's assignment")
            c.commit({TopicPartition("orders", 0): __import__("kafka").OffsetAndMetadata(5, "")})
            st, g = api.call("GET", "/api/v1/groups/billing")
            assert g["state"] == "Stable" and len(g["members"]) == 1, g
            assigned = sorted(p for a in g["members"][0]["assignments"] for p in a["partitions"])
            assert assigned == [0, 1, 2], g
            st, p = api.call("POST", "/api/v1/groups/billing/reset",
                             {"to": "earliest", "preview": True})
            assert st == 200 and p["active"] is True, p
            st, e = api.call("POST", "/api/v1/groups/billing/reset", {"to": "earliest"})
            assert_error(st, e, 409, 40901)
            assert committed(b, "billing", "orders", 0) == 5, "refused reset changed an offset"
        finally:
            c.close()

    def trace():
        cid = "corr-42"
        placed = {"eventId": "e-placed", "eventType": "OrderPlaced", "correlationId": cid,
                  "causationId": None, "source": "order-service", "timestamp": "2026-01-01T00:00:00Z"}
        paid = {"eventId": "e-paid", "eventType": "PaymentCompleted", "correlationId": cid,
                "causationId": "e-placed", "source": "payment-service",
                "timestamp": "2026-01-01T00:00:01Z"}
        other = dict(placed, eventId="e-x", correlationId="another")
        kcat_produce(b, "orders", ["o1|" + json.dumps(placed)], ["x-correlation-id=" + cid],
                     partition=2, key_delim="|")
        kcat_produce(b, "orders", ["o2|" + json.dumps(other)], ["x-correlation-id=another"],
                     partition=2, key_delim="|")
        st, _ = api.call("POST", "/api/v1/topics", {"name": "payments", "partitions": 1})
        time.sleep(0.01)
        kcat_produce(b, "payments", ["o1|" + json.dumps(paid)], partition=0, key_delim="|")
        dead = {"originalEvent": dict(paid, eventId="e-dead", causationId="e-paid",
                                      eventType="ShipmentRequested"),
                "error": "boom", "reason": "handler failed", "attemptCount": 3,
                "service": "shipping", "sourceTopic": "payments", "sourceOffset": 7}
        st, _ = api.call("POST", "/api/v1/topics", {"name": "payments.dlq", "partitions": 1})
        kcat_produce(b, "payments.dlq", ["o1|" + json.dumps(dead)], partition=0, key_delim="|")
        st, r = api.call("GET", "/api/v1/trace?correlation_id=" + cid)
        assert st == 200, r
        ev = r["events"]
        types = [e["event_type"] for e in ev]
        assert types == ["OrderPlaced", "PaymentCompleted", "ShipmentRequested"], ev
        assert ev[0]["depth"] == 0 and ev[1]["depth"] == 1, ev
        assert ev[1]["causation_id"] == "e-placed" and ev[1]["source"] == "payment-service", ev
        assert ev[0]["dwell_ms"] is not None and ev[0]["dwell_basis"] == "next_event", ev[0]
        # the trace and the DLQ page show a dead letter's fields alike
        dead_fields = {"error": "boom", "reason": "handler failed", "failed_at": None,
                       "service": "shipping", "source_topic": "payments", "attempt_count": 3}
        assert {k: ev[2]["dead_letter"][k] for k in dead_fields} == dead_fields, ev[2]
        # a group that consumed payments and committed right after the event: dwell = commit
        assert consume_group(b, "shipping", "payments", 1) == 1
        st, r = api.call("GET", "/api/v1/trace?correlation_id=" + cid)
        e1 = r["events"][1]
        assert e1["dwell_basis"] == "group_commit" and e1["dwell_ms"] >= 0, e1
        assert [c["group"] for c in e1["consumed_by"]] == ["shipping"], e1
        st, r = api.call("GET", "/api/v1/trace/recent")
        assert st == 200, r
        rec = {x["correlation_id"]: x for x in r["recent"]}
        assert rec[cid]["events"] == 1 and rec[cid]["dead_letter"] is False, r  # header: orders only
        assert "another" in rec, r
        st, r = api.call("GET", "/api/v1/trace?correlation_id=nobody")
        assert st == 200 and r["events"] == [], r
        st, d = api.call("GET", "/api/v1/dlq")
        dl = [t for t in d["dlq_topics"] if t["topic"] == "payments.dlq"][0]
        assert dl["source_topic"] == "payments" and dl["messages"] == 1, dl
        assert {k: dl["latest"][0][k] for k in dead_fields} == dead_fields, dl
        assert dl["latest"][0]["source_offset"] == 7 and dl["latest"][0]["source_partition"] is None

    def config_and_delete():
        st, t = api.call("POST", "/api/v1/topics/orders/configs",
                         {"name": "retention.ms", "value": "7200000"})
        assert st == 200 and t["configs"]["retention.ms"] == 7200000, t
        st, e = api.call("POST", "/api/v1/topics/orders/configs",
                         {"name": "retention.ms", "value": "soon"})
        assert_error(st, e, 422)
        st, t = api.call("GET", "/api/v1/topics/orders")
        assert t["configs"]["retention.ms"] == 7200000, t
        st, e = api.call("DELETE", "/api/v1/topics/orders")
        assert_error(st, e, 400, 40003)
        st, e = api.call("DELETE", "/api/v1/topics/orders?confirm=order")
        assert_error(st, e, 400, 40003)
        assert "orders" in kcat_topics(b), "an unconfirmed delete deleted the topic"
        st, e = api.call("DELETE", "/api/v1/topics/__consumer_offsets?confirm=__consumer_offsets")
        assert_error(st, e, 403)
        st, r = api.call("DELETE", "/api/v1/topics/orders?confirm=orders")
        assert st == 200 and r == {"deleted": "orders"}, r
        assert "orders" not in kcat_topics(b), "kcat -L still sees orders"

    # ---- DLQ redrive (POST /api/v1/dlq/<dlq>/redrive) ----
    def kcat_out(*args):
        p = subprocess.run(["kcat", "-q", "-b", b.bootstrap] + list(args), capture_output=True,
                           timeout=30)
        assert p.returncode == 0, p.stderr
        return p.stdout

    def end_offset(topic, partition):
        out = kcat_out("-Q", "-t", "%s:%d:-1" % (topic, partition)).decode()
        return int(out.split(" offset ")[1])

    def dead(key, orig, error, part, off, headers=()):
        w = {"originalEvent": json.loads(orig), "error": error, "reason": "permanent",
             "attemptCount": 3, "service": "shipping", "sourceTopic": "ship",
             "sourcePartition": part, "sourceOffset": off,
             "originalValueBase64": base64.b64encode(orig.encode()).decode()}
        args = ["-P", "-t", "ship.dlq", "-p", "0", "-k", key, "-D", "\x1e"]
        for h in headers:
            args += ["-H", h]
        p = subprocess.run(["kcat", "-q", "-b", b.bootstrap] + args, input=json.dumps(w).encode(),
                           capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr

    ORIG = '{ "eventType": "ShipmentRequested",  "n": 1 }'  # spaced: the exact bytes must move

    def redrive_setup():
        st, _ = api.call("POST", "/api/v1/topics", {"name": "ship", "partitions": 2})
        assert st == 201
        st, _ = api.call("POST", "/api/v1/topics", {"name": "ship.dlq", "partitions": 1})
        assert st == 201
        dead("k0", ORIG, "timeout", 1, 5, ["tenant=acme", "x-dlq-reason=permanent"])   # 0:0
        dead("k1", ORIG, "validation", 0, 6)                                           # 0:1
        dead("k2", ORIG, "timeout", 0, 7, ["eddy-redrive-count=3"])                    # 0:2
        dead("k3", ORIG, "timeout", 1, 8, ["eddy-redrive-count=1"])                    # 0:3

    def untouched():
        assert end_offset("ship", 0) == 0 and end_offset("ship", 1) == 0
        assert "ship.dlq.redriven" not in kcat_topics(b)

    def redrive_bad_input():
        redrive_setup()
        url = "/api/v1/dlq/ship.dlq/redrive"
        st, e = api.call("POST", url, raw=b"{nope")
        assert_error(st, e, 400, 40001)
        st, e = api.call("POST", url, raw=b"[1]")
        assert_error(st, e, 400, 40001)
        st, e = api.call("POST", url, {"dry_run": False, "rate": 10})
        assert_error(st, e, 400, 40005)
        st, e = api.call("POST", url, {"dry_run": "yes"})
        assert_error(st, e, 422, 42210)
        st, e = api.call("POST", url, {"filter": ["colour=red"]})
        assert_error(st, e, 422, 42212)
        assert "malformed filter" in e["message"], e
        st, e = api.call("POST", url, {"filter": "offset=5..1"})
        assert_error(st, e, 422, 42212)
        st, e = api.call("POST", url, {"max_redrives": 0})
        assert_error(st, e, 422, 42211)
        st, e = api.call("POST", url, {"records": ["zero"]})
        assert_error(st, e, 422, 42213)
        st, e = api.call("POST", url, {"records": ["0:99"]})
        assert_error(st, e, 404, 40403)
        st, e = api.call("POST", url, {"to": "nosuch"})
        assert_error(st, e, 404, 40401)
        st, e = api.call("POST", "/api/v1/dlq/nosuch.dlq/redrive", {})
        assert_error(st, e, 404, 40401)
        st, e = api.call("GET", url)
        assert_error(st, e, 405)
        untouched()

    def redrive():
        url = "/api/v1/dlq/ship.dlq/redrive"
        # dry run: what would move, the loop guard; nothing written, no marker topic
        st, r = api.call("POST", url, {"dry_run": True})
        assert st == 200, r
        out = {x["dlq_offset"]: x["outcome"] for x in r["results"]}
        assert out == {0: "would_move", 1: "would_move", 2: "loop_guard", 3: "would_move"}, r
        assert r["stats"]["would_move"] == 3 and r["marker_topic"] == "ship.dlq.redriven", r
        untouched()
        # one record (the console's row button): back to its source partition, exact bytes,
        # own headers, x-dlq-* gone, eddy-redrive-count 1
        st, r = api.call("POST", url, {"records": ["0:0"]})
        assert st == 200, r
        m = [x for x in r["results"] if x["outcome"] == "moved"]
        assert len(m) == 1 and m[0]["key"] == "k0" and m[0]["to_topic"] == "ship", r
        assert m[0]["to_partition"] == 1 and m[0]["to_offset"] == 0, m
        assert r["stats"]["filtered_out"] == 3, r
        got = kcat_out("-C", "-t", "ship", "-p", "1", "-o", "0", "-c", "1", "-e",
                       "-f", "%k|%s|%h")
        assert got == ("k0|%s|tenant=acme,eddy-redrive-count=1" % ORIG).encode(), got
        assert "ship.dlq.redriven" in kcat_topics(b)
        mk = kcat_out("-C", "-t", "ship.dlq.redriven", "-o", "0", "-c", "1", "-e", "-f", "%k|%s")
        key, val = mk.decode().split("|", 1)
        assert key == "0:0" and json.loads(val)["toOffset"] == 0, mk
        # the CLI sees the console's marker: 0:0 already redriven
        cli = os.environ["EDDY_CLI"]
        p = subprocess.run([cli, "-b", b.bootstrap, "dlq", "redrive", "ship.dlq", "--dry-run",
                            "--json"], capture_output=True, text=True, timeout=60)
        assert p.returncode in (0, 5), p.stderr
        objs = {o.get("dlqOffset"): o.get("outcome") for o in map(json.loads, p.stdout.splitlines())}
        assert objs[0] == "already_redriven" and objs[1] == "would_move", p.stdout
        # the CLI moves one (filter error=validation); the API sees its marker
        p = subprocess.run([cli, "-b", b.bootstrap, "dlq", "redrive", "ship.dlq", "--filter",
                            "error=validation"], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        # everything else through the API with a filter: 0:3 (redriven once before) moves
        st, r = api.call("POST", url, {"filter": ["error=timeout"], "max_redrives": 3})
        assert st == 200, r
        out = {x["dlq_offset"]: x["outcome"] for x in r["results"]}
        assert out == {0: "already_redriven", 1: "filtered_out", 2: "loop_guard", 3: "moved"}, r
        got = kcat_out("-C", "-t", "ship", "-p", "1", "-o", "1", "-c", "1", "-e", "-f", "%k|%h")
        assert got == b"k3|eddy-redrive-count=2", got
        # idempotent: a second full redrive moves nothing more
        st, r = api.call("POST", url, {})
        assert st == 200 and r["stats"]["moved"] == 0 and r["stats"]["already_redriven"] == 3, r
        assert end_offset("ship", 0) == 1 and end_offset("ship", 1) == 2
        # "to": another topic (a retry topic), chosen by key there
        dead("k4", ORIG, "timeout", 0, 9)                                              # 0:4
        st, _ = api.call("POST", "/api/v1/topics", {"name": "ship.retry", "partitions": 1})
        st, r = api.call("POST", url, {"to": "ship.retry", "records": ["0:4"]})
        assert st == 200 and r["stats"]["moved"] == 1 and r["to"] == "ship.retry", r
        got = kcat_out("-C", "-t", "ship.retry", "-o", "0", "-c", "1", "-e", "-f", "%k|%s|%h")
        assert got == ("k4|%s|eddy-redrive-count=1" % ORIG).encode(), got
        assert end_offset("ship", 0) == 1 and end_offset("ship", 1) == 2
        # the marker topic is not a DLQ to redrive
        st, e = api.call("POST", "/api/v1/dlq/ship.dlq.redriven/redrive", {"dry_run": True})
        assert_error(st, e, 422, 42214)

    def page_served():
        with urllib.request.urlopen(api.base + "/", timeout=10) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
            assert b"/console/app.js" in r.read()
        with urllib.request.urlopen(api.base + "/console/app.js", timeout=10) as r:
            assert r.headers["Content-Type"].startswith("text/javascript")
        st, e = api.call("GET", "/console/nope.js")
        assert_error(st, e, 404)

    res.run("create topic (kcat -L sees it)", create_topic)
    res.run("bad input: 4xx JSON, nothing changed", create_bad_input)
    res.run("messages: newest, offset, key, timestamp, CloudEvents, base64", browse)
    res.run("CLI parity: eddy consume -k finds what the API finds", cli_parity_by_key)
    res.run("overview: health, sizes, counters", overview)
    res.run("groups: lag; reset preview/apply (OffsetFetch sees it)", groups_and_reset)
    res.run("reset of an active group: 409, nothing changed", reset_active_group_refused)
    res.run("trace by correlation id: order, causation, dwell, dead letters", trace)
    res.run("topic config and delete with confirm", config_and_delete)
    res.run("dlq redrive: bad input 4xx, nothing moved", redrive_bad_input)
    res.run("dlq redrive: dry run, one, loop guard; CLI and API see each other's markers",
            redrive)
    res.run("the page and its assets", page_served)
    b.stop()
    res.finish()


if __name__ == "__main__":
    main()
