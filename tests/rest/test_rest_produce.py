"""test_rest_produce — the REST produce API on eddyd's HTTP port (Confluent REST Proxy v3 and
v2), checked with a real Kafka client (kafka-python) reading what was produced: keys, values,
headers, timestamps, the partition a key maps to (kafka-python's own murmur2 partitioner),
streaming mode, v2 embedded formats, errors in the proxy's format with nothing stored, and
records acknowledged over HTTP surviving SIGKILL.

Run with /usr/bin/python3 (kafka-python from Debian); launcher tests/harness/eddyd.py.
"""
import base64
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("EDDY_SOURCE_DIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "harness"))
from eddyd import Eddyd, Results  # noqa: E402

from kafka import KafkaConsumer, TopicPartition  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402
from kafka.partitioner.default import murmur2  # noqa: E402

HTTP_RE = re.compile(r"http listening on 127\.0\.0\.1:(\d+)")


class Api:
    def __init__(self, broker):
        self.b = broker

    @property
    def base(self):
        m = HTTP_RE.findall(self.b.log_text())
        assert m, "no http port in the log"
        return "http://127.0.0.1:%s" % m[-1]

    def call(self, method, path, body=None, ctype="application/json", raw=None):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode(), r.headers.get("Content-Type")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), e.headers.get("Content-Type")

    def json(self, method, path, body=None, **kw):
        st, text, _ = self.call(method, path, body, **kw)
        return st, json.loads(text)

    def cluster(self):
        st, b = self.json("GET", "/v3/clusters")
        assert st == 200, b
        return b["data"][0]["cluster_id"]


def create(broker, topic, parts):
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10000)
    a.create_topics([NewTopic(topic, parts, 1)])
    a.close()


def consume_all(broker, topic, parts, want):
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                      consumer_timeout_ms=3000)
    tps = [TopicPartition(topic, p) for p in range(parts)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    out = []
    for m in c:
        out.append(m)
        if len(out) >= want:
            break
    c.close()
    return out


def b64(s):
    return base64.b64encode(s).decode()


def t_cluster(broker, api):
    cid = api.cluster()
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    desc = a.describe_cluster()
    a.close()
    assert desc["cluster_id"] == cid, (desc, cid)
    st, one = api.json("GET", "/v3/clusters/%s" % cid)
    assert st == 200 and one["cluster_id"] == cid, one
    st, e = api.json("GET", "/v3/clusters/nope/topics")
    assert st == 404 and e["error_code"] == 404, e


def t_v3_one_record(broker, api):
    create(broker, "rest-one", 3)
    cid = api.cluster()
    body = {"key": {"type": "STRING", "data": "order-17"},
            "value": {"type": "JSON", "data": {"total": 42, "items": ["a", "b"]}},
            "headers": [{"name": "ce_type", "value": b64(b"OrderPlaced")},
                        {"name": "empty", "value": None}],
            "timestamp": "2024-05-01T10:00:00.123Z"}
    st, r = api.json("POST", "/v3/clusters/%s/topics/rest-one/records" % cid, body)
    assert st == 200 and r["error_code"] == 200, r
    want_part = (murmur2(b"order-17") & 0x7fffffff) % 3
    assert r["partition_id"] == want_part, (r, want_part)
    assert r["offset"] == 0 and r["topic_name"] == "rest-one", r
    assert r["timestamp"] == "2024-05-01T10:00:00.123Z", r
    assert r["key"]["size"] == 8 and r["value"]["size"] > 10, r
    [m] = consume_all(broker, "rest-one", 3, 1)
    assert m.partition == want_part and m.key == b"order-17", m
    assert json.loads(m.value) == {"total": 42, "items": ["a", "b"]}, m.value
    assert m.timestamp == 1714557600123, m.timestamp
    assert m.headers == [("ce_type", b"OrderPlaced"), ("empty", None)], m.headers


def t_key_partitioning(broker, api):
    create(broker, "rest-keys", 6)
    cid = api.cluster()
    keys = [("k-%d" % i).encode() for i in range(40)]
    stream = "\n".join(json.dumps({"key": {"type": "BINARY", "data": b64(k)},
                                   "value": {"type": "STRING", "data": "v%d" % i}})
                       for i, k in enumerate(keys))
    st, text, _ = api.call("POST", "/v3/clusters/%s/topics/rest-keys/records" % cid,
                           raw=stream.encode())
    assert st == 200, text
    results = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert len(results) == 40, text
    for k, r in zip(keys, results):
        assert r["error_code"] == 200, r
        assert r["partition_id"] == (murmur2(k) & 0x7fffffff) % 6, (k, r)
    msgs = consume_all(broker, "rest-keys", 6, 40)
    assert len(msgs) == 40
    got = {m.key: (m.partition, m.value) for m in msgs}
    for i, k in enumerate(keys):
        assert got[k] == ((murmur2(k) & 0x7fffffff) % 6, b"v%d" % i), (k, got[k])
    # per-partition order is the request's order
    for p in range(6):
        vals = [int(m.value[1:]) for m in msgs if m.partition == p]
        assert vals == sorted(vals), (p, vals)


def t_stream_with_bad_record(broker, api):
    create(broker, "rest-stream", 1)
    cid = api.cluster()
    good = json.dumps({"value": {"type": "STRING", "data": "ok1"}})
    badb64 = json.dumps({"value": {"type": "BINARY", "data": "!!notbase64"}})
    good2 = json.dumps({"partition_id": 0, "value": {"type": "STRING", "data": "ok2"}})
    bad_part = json.dumps({"partition_id": 9, "value": {"type": "STRING", "data": "x"}})
    broken = '{"value": {"type": "STRING", "data": '
    st, text, _ = api.call("POST", "/v3/clusters/%s/topics/rest-stream/records" % cid,
                           raw=("%s %s %s %s %s" % (good, badb64, good2, bad_part, broken))
                           .encode())
    assert st == 200, text
    rs = [json.loads(line) for line in text.splitlines()]
    assert [r["error_code"] for r in rs] == [200, 42201, 200, 40402, 400], rs
    assert all(r.get("message") for r in rs if r["error_code"] != 200), rs
    msgs = consume_all(broker, "rest-stream", 1, 5)
    assert [m.value for m in msgs] == [b"ok1", b"ok2"], [m.value for m in msgs]
    assert rs[0]["offset"] == 0 and rs[2]["offset"] == 1, rs


def t_errors(broker, api):
    cid = api.cluster()
    create(broker, "rest-err", 2)
    cases = [
        ("/v3/clusters/%s/topics/rest-err/records" % cid, b"{not json", 400, 400),
        ("/v3/clusters/%s/topics/rest-err/records" % cid, b"", 400, 400),
        ("/v3/clusters/%s/topics/rest-err/records" % cid,
         json.dumps({"value": {"type": "AVRO", "schema_id": 999, "data": {}}}).encode(),
         404, 40403),
        ("/v3/clusters/%s/topics/rest-err/records" % cid,
         json.dumps({"partition_id": 2, "value": {"type": "STRING", "data": "x"}}).encode(),
         404, 40402),
        ("/v3/clusters/%s/topics/no-such-topic/records" % cid,
         json.dumps({"value": {"type": "STRING", "data": "x"}}).encode(), 404, 40401),
    ]
    for path, raw, status, code in cases:
        st, text, ctype = api.call("POST", path, raw=raw)
        b = json.loads(text)
        assert st == status and b["error_code"] == code and b["message"], (path, raw, st, b)
        assert ctype.startswith("application/json"), ctype
    st, text, _ = api.call("POST", "/topics/rest-err", raw=b'{"records":[{"value":1}]}',
                           ctype="application/json")
    assert st == 415 and json.loads(text)["error_code"] == 415, (st, text)
    # larger than the HTTP port's body limit: 413, decided from Content-Length (curl sends
    # "Expect: 100-continue" and gets the answer without sending the body)
    bigf = os.path.join(broker.tmp, "big.json")
    with open(bigf, "w") as f:
        json.dump({"value": {"type": "STRING", "data": "x" * (17 << 20)}}, f)
    out = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-H",
                          "Content-Type: application/json", "--data-binary", "@" + bigf,
                          api.base + "/v3/clusters/%s/topics/rest-err/records" % cid],
                         capture_output=True, text=True, timeout=60).stdout
    body, code = out.rsplit("\n", 1)
    assert code == "413" and json.loads(body)["error_code"] == 413, out[:300]
    # nothing of the above was stored, and the broker still serves
    assert consume_all(broker, "rest-err", 2, 1) == []
    st, r = api.json("POST", "/v3/clusters/%s/topics/rest-err/records" % cid,
                     {"value": {"type": "STRING", "data": "after"}})
    assert st == 200, r


def t_v2(broker, api):
    create(broker, "rest-v2", 2)
    st, r = api.json("POST", "/topics/rest-v2", {"records": [
        {"key": b64(b"k1"), "value": b64(b"\x00\x01\xff")},
        {"value": b64(b"second"), "partition": 1}]},
        ctype="application/vnd.kafka.binary.v2+json")
    assert st == 200, r
    offs = r["offsets"]
    assert offs[0]["partition"] == (murmur2(b"k1") & 0x7fffffff) % 2 and offs[0]["error_code"] is None, r
    assert offs[1]["partition"] == 1, r
    st, r = api.json("POST", "/topics/rest-v2/partitions/0", {"records": [
        {"value": {"a": [1, None]}}, {"key": "s", "value": None}]},
        ctype="application/vnd.kafka.json.v2+json")
    assert st == 200 and all(o["partition"] == 0 for o in r["offsets"]), r
    msgs = consume_all(broker, "rest-v2", 2, 4)
    vals = sorted((m.partition, m.offset, m.key, m.value) for m in msgs)
    assert (0 if offs[0]["partition"] == 0 else 1, offs[0]["offset"], b"k1", b"\x00\x01\xff") in vals, vals
    assert any(v[3] == b'{"a":[1,null]}' for v in vals), vals
    assert any(v[2] == b'"s"' and v[3] is None for v in vals), vals
    st, names = api.json("GET", "/topics")
    assert "rest-v2" in names and "__consumer_offsets" not in names, names
    st, r = api.json("POST", "/topics/rest-v2/partitions/7", {"records": [{"value": "AA=="}]},
                     ctype="application/vnd.kafka.binary.v2+json")
    assert st == 404 and r["error_code"] == 40402, r


def t_durable_after_kill(broker, api):
    create(broker, "rest-durable", 1)
    cid = api.cluster()
    for i in range(20):
        st, r = api.json("POST", "/v3/clusters/%s/topics/rest-durable/records" % cid,
                         {"value": {"type": "STRING", "data": "d%d" % i}})
        assert st == 200 and r["offset"] == i, r
    broker.restart(kill=True)
    msgs = consume_all(broker, "rest-durable", 1, 20)
    assert [m.value for m in msgs] == [b"d%d" % i for i in range(20)], [m.value for m in msgs]


def main():
    broker = Eddyd(sets=["http.listeners=127.0.0.1:0", "auto.create.topics.enable=false"])
    api = Api(broker)
    res = Results(broker)
    res.run("cluster id is the Kafka cluster id", t_cluster, broker, api)
    res.run("v3 one record: key, JSON value, headers, timestamp", t_v3_one_record, broker, api)
    res.run("keys map to kafka-python's murmur2 partitions, order kept", t_key_partitioning,
            broker, api)
    res.run("stream with bad records: each answered in place", t_stream_with_bad_record,
            broker, api)
    res.run("errors in the proxy's format, nothing stored", t_errors, broker, api)
    res.run("v2 binary and json embedded formats", t_v2, broker, api)
    res.run("acknowledged records survive SIGKILL", t_durable_after_kill, broker, api)
    res.finish()


if __name__ == "__main__":
    main()
