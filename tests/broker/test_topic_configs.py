#!/usr/bin/python3
"""test_topic_configs — issue 14 item 4: every Kafka topic config, and dynamic broker configs.

Against one real eddyd (restarted once): kafka-python's admin client (create_topics with
topic_configs, describe_configs, alter_configs), kcat for reading recompressed data, and
hand-encoded requests (kwire.py) where the byte-level answer matters (Produce error codes, the
codec of fetched batches, IncrementalAlterConfigs, which kafka-python 2.0.2 lacks).

- every topic config of the table below (Kafka 3.x/4.x's list) is accepted with a valid value
  and refused with an invalid one, with Kafka's "Invalid value V for configuration K: ..." text;
  the table and the names eddyd describes are the same set;
- an unknown name is refused as unknown ("Unknown topic config name: x"), not as a bad value;
- honoured configs change behaviour: compression.type=zstd stores zstd batches (kcat reads them
  back), min.insync.replicas=2 + acks=all is NOT_ENOUGH_REPLICAS (19) while acks=1 is stored,
  message.timestamp.before.max.ms refuses an old CreateTime batch (INVALID_TIMESTAMP, 32);
- DescribeConfigs: sources (DYNAMIC_TOPIC_CONFIG 1, DYNAMIC_BROKER_CONFIG 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG 3, DEFAULT_CONFIG 5), synonyms, sensitive values null;
- dynamic broker configs: AlterConfigs / IncrementalAlterConfigs on the cluster default ("")
  and on broker 1 change topic defaults live (log.segment.bytes rolls a topic without its own
  setting), validate_only changes nothing, static settings are refused by name (42, "Cannot
  update these configs dynamically: Set(listeners)"), unknown and bad values with 40, and the
  dynamic settings and topic configs survive a restart;
- `eddy configs describe|alter` (the CLI, librdkafka) on broker 1;
- DescribeCluster (KIP-700) v0/v1: this broker, the controller, authorized operations;
- a group member that stops heartbeating is gone at its session deadline (DeleteGroups then
  succeeds), not up to a tick later.
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, HERE)
from eddyd import Eddyd, Results  # noqa: E402
import kwire as kw  # noqa: E402
from kafka.admin import (ConfigResource, ConfigResourceType, KafkaAdminClient,  # noqa: E402
                         NewTopic)

PRODUCE, FETCH, INCREMENTAL_ALTER_CONFIGS, API_VERSIONS, DESCRIBE_CLUSTER = 0, 1, 44, 18, 60
JOIN_GROUP, DESCRIBE_GROUPS, DELETE_GROUPS = 11, 15, 42
SESSION_MS = 1000
BROKER, TOPIC = 4, 2

# name: (a valid value, an invalid value, the end of Kafka's message for the invalid one)
CONFIGS = {
    "cleanup.policy": ("compact,delete", "shred", "String must be one of: compact, delete"),
    "compression.gzip.level": ("9", "10", "Value must be between 1 and 9"),
    "compression.lz4.level": ("17", "0", "Value must be between 1 and 17"),
    "compression.type": ("lz4", "brotli", "String must be one of: uncompressed, zstd, lz4, "
                         "snappy, gzip, producer"),
    "compression.zstd.level": ("-5", "23", "Value must be between -131072 and 22"),
    "delete.retention.ms": ("1000", "-1", "Value must be at least 0"),
    "file.delete.delay.ms": ("0", "x", "Not a number of type LONG"),
    "flush.messages": ("1", "0", "Value must be at least 1"),
    "flush.ms": ("1000", "-1", "Value must be at least 0"),
    "follower.replication.throttled.replicas": ("0:1,1:1", "0-1",
                                                "must be the literal '*' or a list of replicas"),
    "index.interval.bytes": ("100", "2147483648", "Not a number of type INT"),
    "leader.replication.throttled.replicas": ("*", "x:y",
                                              "must be the literal '*' or a list of replicas"),
    "local.retention.bytes": ("-2", "-3", "Value must be at least -2"),
    "local.retention.ms": ("1000", "-3", "Value must be at least -2"),
    "max.compaction.lag.ms": ("60000", "0", "Value must be at least 1"),
    "max.message.bytes": ("2000000", "-1", "Value must be at least 0"),
    "message.downconversion.enable": ("false", "maybe",
                                      "Expected value to be either true or false"),
    "message.format.version": ("2.8-IV1", "soon", "Version `soon` is not a valid version"),
    "message.timestamp.after.max.ms": ("3600000", "-1", "Value must be at least 0"),
    "message.timestamp.before.max.ms": ("3600000", "1.5", "Not a number of type LONG"),
    "message.timestamp.difference.max.ms": ("3600000", "-1", "Value must be at least 0"),
    "message.timestamp.type": ("LogAppendTime", "Now",
                               "String must be one of: CreateTime, LogAppendTime"),
    "min.cleanable.dirty.ratio": ("0.1", "1.5", "Value must be no more than 1"),
    "min.compaction.lag.ms": ("1000", "-1", "Value must be at least 0"),
    "min.insync.replicas": ("2", "0", "Value must be at least 1"),
    "preallocate": ("true", "yes", "Expected value to be either true or false"),
    "remote.log.copy.disable": ("true", "1", "Expected value to be either true or false"),
    "remote.log.delete.on.disable": ("false", "", "Expected value to be either true or false"),
    "remote.storage.enable": ("false", "no", "Expected value to be either true or false"),
    "retention.bytes": ("1048576", "lots", "Not a number of type LONG"),
    "retention.ms": ("-1", "-2", "Value must be at least -1"),
    "segment.bytes": ("1048576", "13", "Value must be at least 14"),
    "segment.index.bytes": ("4096", "3", "Value must be at least 4"),
    "segment.jitter.ms": ("1000", "-1", "Value must be at least 0"),
    "segment.ms": ("3600000", "0", "Value must be at least 1"),
    "unclean.leader.election.enable": ("true", "sometimes",
                                       "Expected value to be either true or false"),
}


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s:\n  got      %r\n  expected %r" % (what, got, want))


def ok(cond, what):
    if not cond:
        raise AssertionError(what)


def s16n(s):
    return kw.s16(s)


def incremental_alter(port, resources, validate=False):
    """IncrementalAlterConfigs v0. resources: [(type, name, [(key, op, value)])].
    Returns [(error, message, type, name)]."""
    body = kw.array([kw.i8(t) + kw.s16(n) + kw.array([kw.s16(k) + kw.i8(op) + s16n(v)
                                                      for k, op, v in cfgs])
                     for t, n, cfgs in resources]) + kw.i8(1 if validate else 0)
    c = kw.Conn(port)
    try:
        resp = c.request(INCREMENTAL_ALTER_CONFIGS, 0, body)
    finally:
        c.close()
    r = kw.Reader(resp)
    r.i32()
    return r.array(lambda: (r.i16(), r.str(), r.i8(), r.str()))


def produce(port, topic, recs, acks=-1, base_ts=None, version=7):
    ts = int(time.time() * 1000) if base_ts is None else base_ts
    b = kw.batch([(None, v, (), ts) for v in recs], ts)
    c = kw.Conn(port)
    try:
        resp = c.request(PRODUCE, version, kw.produce_body({topic: {0: b}}, acks=acks,
                                                           version=version))
    finally:
        c.close()
    return kw.parse_produce(resp, version)["topics"][0][1][0]


def gzip_batch(values, ts):
    """A RecordBatch v2 whose records section is gzip-compressed (attributes codec 1)."""
    import struct
    import zlib
    raw = b"".join(kw.record(i, 0, None, v) for i, v in enumerate(values))
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    comp = z.compress(raw) + z.flush()
    n = len(values)
    after_crc = struct.pack(">hiqqqhii", 1, n - 1, ts, ts, -1, -1, -1, n) + comp
    rest = struct.pack(">ibI", -1, 2, kw.crc32c(after_crc)) + after_crc
    return kw.i64(0) + kw.i32(len(rest)) + rest


def produce_raw(port, topic, batch, acks=-1, version=7):
    c = kw.Conn(port)
    try:
        resp = c.request(PRODUCE, version, kw.produce_body({topic: {0: batch}}, acks=acks,
                                                           version=version))
    finally:
        c.close()
    return kw.parse_produce(resp, version)["topics"][0][1][0]


def fetch_batches(port, topic):
    c = kw.Conn(port)
    try:
        f = kw.parse_fetch_v4(c.request(FETCH, 4, kw.fetch_body_v4({topic: {0: 0}})))
    finally:
        c.close()
    return kw.parse_batches(f["topics"][0][1][0]["records"])


def describe_cluster(port, version, include_ops, endpoint_type=1):
    """DescribeCluster (flexible from v0). Returns the decoded response."""
    body = kw.i8(1 if include_ops else 0) + (kw.i8(endpoint_type) if version >= 1 else b"")
    body += b"\x00"  # no tagged fields
    c = kw.Conn(port)
    try:
        resp = c.request(DESCRIBE_CLUSTER, version, body, flexible=True)
    finally:
        c.close()
    r = kw.Reader(resp)
    eq(r.uvarint(), 0, "response header tagged fields")

    def cstr():
        n = r.uvarint()
        if n == 0:
            return None
        v = r.b[r.pos:r.pos + n - 1].decode()
        r.pos += n - 1
        return v

    d = {"throttle": r.i32(), "error": r.i16(), "message": cstr()}
    if version >= 1:
        d["endpoint_type"] = r.i8()
    d["cluster_id"] = cstr()
    d["controller"] = r.i32()
    brokers = []
    for _ in range(r.uvarint() - 1):
        br = (r.i32(), cstr(), r.i32(), cstr())
        eq(r.uvarint(), 0, "broker tagged fields")
        brokers.append(br)
    d["brokers"] = brokers
    d["ops"] = r.i32()
    eq(r.uvarint(), 0, "response tagged fields")
    eq(r.left(), 0, "trailing bytes")
    return d


def describe_configs_v3(port, rtype, name, keys=None, docs=True):
    """DescribeConfigs v3 (kafka-python stops at v2 and at broker names that are numbers).
    Returns (error, {key: (value, source, type, documentation)})."""
    body = kw.array([kw.i8(rtype) + kw.s16(name) +
                     (kw.i32(-1) if keys is None else kw.array([kw.s16(k) for k in keys]))])
    body += kw.i8(0) + kw.i8(1 if docs else 0)
    c = kw.Conn(port)
    try:
        r = kw.Reader(c.request(32, 3, body))
    finally:
        c.close()
    r.i32()
    eq(r.i32(), 1, "one resource")
    err = r.i16()
    r.str(), r.i8(), r.str()
    out = {}
    for _ in range(r.i32()):
        k, v, _ro, src, _sens = r.str(), r.str(), r.i8(), r.i8(), r.i8()
        r.array(lambda: (r.str(), r.str(), r.i8()))
        out[k] = (v, src, r.i8(), r.str())
    eq(r.left(), 0, "trailing bytes")
    return err, out


class Suite:
    def __init__(self, b):
        self.b = b
        self.admin = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=15000)

    def reconnect(self):
        self.admin.close()
        self.admin = KafkaAdminClient(bootstrap_servers=self.b.bootstrap,
                                      request_timeout_ms=15000)

    def create(self, name, configs):
        """'' on success, else the error text kafka-python raises (it quotes the response)."""
        try:
            self.admin.create_topics([NewTopic(name, 1, 1, topic_configs=configs)])
        except Exception as e:  # noqa: BLE001 — the message is what is checked
            return str(e)
        return ""

    def describe(self, rtype, name, keys=None):
        """{key: (value, source, sensitive, read_only, [(syn name, value, source)])}."""
        res = ConfigResource(rtype, name, configs=None if keys is None else
                             {k: None for k in keys})
        r = self.admin.describe_configs([res], include_synonyms=True)[0]
        err, msg, _t, _n, entries = r.resources[0]
        eq(err, 0, "DescribeConfigs %s error (%s)" % (name, msg))
        return {e[0]: (e[1], e[3], e[4], e[2], list(e[5])) for e in entries}

    # ---- the table ----
    def every_config_valid_and_invalid(self):
        for i, (name, (good, bad, why)) in enumerate(sorted(CONFIGS.items())):
            e = self.create("ok-%d" % i, {name: good})
            eq(e, "", "%s=%s must be accepted" % (name, good))
            e = self.create("bad-%d" % i, {name: bad})
            want = "Invalid value %s for configuration %s: %s" % (bad, name, why)
            ok("error_code=40" in e and want in e,
               "%s=%r: expected error 40 with %r, got %s" % (name, bad, want, e))
        # one topic with every config at once keeps every value
        self.create("all", {k: v[0] for k, v in CONFIGS.items()})
        d = self.describe(ConfigResourceType.TOPIC, "all")
        for k, (good, _b, _w) in CONFIGS.items():
            eq((d[k][0], d[k][1]), (good, 1), "%s of topic 'all' (value, DYNAMIC_TOPIC_CONFIG)" % k)

    def table_is_what_eddyd_describes(self):
        self.create("plain", {})
        d = self.describe(ConfigResourceType.TOPIC, "plain")
        eq(sorted(d), sorted(CONFIGS), "topic config names eddyd describes")
        for k, (_v, src, sens, ro, _s) in d.items():
            ok(src == 5 or (src in (2, 3, 4)), "%s: source %d without an override" % (k, src))
            ok(not sens and not ro, "%s: topic configs are neither sensitive nor read-only" % k)

    def unknown_name_refused_as_unknown(self):
        e = self.create("unk", {"retention.msx": "1000"})
        ok("error_code=40" in e and
           "Unknown topic config name: retention.msx (did you mean retention.ms?)" in e, e)
        e = self.create("unk2", {"frobnicate": "1"})
        ok("Unknown topic config name: frobnicate" in e and "Invalid value" not in e, e)

    # ---- honoured ----
    def compression_type_recompresses(self):
        eq(self.create("zs", {"compression.type": "zstd"}), "", "create zs")
        vals = [b"value-%d" % i * 20 for i in range(50)]
        p = produce(self.b.port, "zs", vals)
        eq(p["error"], 0, "produce to a compression.type=zstd topic")
        bs = fetch_batches(self.b.port, "zs")
        eq([x["attrs"] & 7 for x in bs], [4], "codec of the stored batch (4 = zstd)")
        ok(all(x["crc_ok"] for x in bs), "CRC of the recompressed batch")
        out = subprocess.run(["kcat", "-C", "-b", self.b.bootstrap, "-t", "zs", "-o",
                              "beginning", "-e", "-q", "-f", "%s\\n"], capture_output=True,
                             timeout=30)
        eq(out.stdout.decode().split(), [v.decode() for v in vals], "kcat reads the records")
        # HTTP produce (Confluent REST v3) stores the topic's codec too
        import json
        import re
        import urllib.request
        port = re.findall(r"http listening on 127\.0\.0\.1:(\d+)", self.b.log_text())[-1]
        cid = describe_cluster(self.b.port, 0, False)["cluster_id"]
        req = urllib.request.Request(
            "http://127.0.0.1:%s/v3/clusters/%s/topics/zs/records" % (port, cid),
            data=json.dumps({"value": {"type": "STRING", "data": "via-http"}}).encode(),
            method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            eq(resp.status, 200, "REST produce")
        bs = fetch_batches(self.b.port, "zs")
        eq([x["attrs"] & 7 for x in bs], [4, 4], "the HTTP-produced batch is zstd too")
        # and back: compression.type=uncompressed turns a producer's batch plain
        eq(self.create("plainc", {"compression.type": "uncompressed"}), "", "create plainc")
        eq(produce(self.b.port, "plainc", [b"x", b"y"])["error"], 0, "produce plainc")
        bs = fetch_batches(self.b.port, "plainc")
        eq([r[2] for x in bs for r in x["records"]], [b"x", b"y"], "uncompressed records")
        now = int(time.time() * 1000)
        eq(produce_raw(self.b.port, "plainc", gzip_batch([b"g1", b"g2"], now))["error"], 0,
           "a gzip batch to an uncompressed topic")
        bs = fetch_batches(self.b.port, "plainc")
        eq([(x["attrs"] & 7, [r[2] for r in x["records"]]) for x in bs],
           [(0, [b"x", b"y"]), (0, [b"g1", b"g2"])], "the gzip batch stored uncompressed")
        # the stored (recompressed) batch is what max.message.bytes limits, as in Kafka
        eq(self.create("small", {"compression.type": "uncompressed",
                                 "max.message.bytes": "1000"}), "", "create small")
        big = gzip_batch([b"z" * 3000], now)
        ok(len(big) < 1000, "the gzip batch is small (%d bytes)" % len(big))
        eq(produce_raw(self.b.port, "small", big)["error"], 10,
           "3000 bytes once uncompressed: MESSAGE_TOO_LARGE")

    def min_insync_replicas(self):
        eq(self.create("misr", {"min.insync.replicas": "2"}), "", "create misr")
        eq(produce(self.b.port, "misr", [b"a"], acks=-1)["error"], 19,
           "acks=all with min.insync.replicas=2 on one node: NOT_ENOUGH_REPLICAS")
        eq(produce(self.b.port, "misr", [b"b"], acks=1)["error"], 0, "acks=1 is stored")
        eq([r[2] for x in fetch_batches(self.b.port, "misr") for r in x["records"]], [b"b"],
           "only the acks=1 record is stored")

    def timestamp_bounds(self):
        eq(self.create("tsb", {"message.timestamp.before.max.ms": "3600000",
                               "message.timestamp.after.max.ms": "3600000"}), "", "create tsb")
        now = int(time.time() * 1000)
        eq(produce(self.b.port, "tsb", [b"old"], base_ts=now - 7200000)["error"], 32,
           "a batch 2 h in the past: INVALID_TIMESTAMP")
        eq(produce(self.b.port, "tsb", [b"future"], base_ts=now + 7200000)["error"], 32,
           "a batch 2 h in the future: INVALID_TIMESTAMP")
        eq(produce(self.b.port, "tsb", [b"now"])["error"], 0, "a batch of now is stored")
        # bounds next to the largest long must not overflow (UBSan aborts on that)
        eq(self.create("tsbig", {"message.timestamp.before.max.ms": "9223372036854775806",
                                 "message.timestamp.after.max.ms": "9223372036854775806"}), "",
           "create tsbig")
        eq(produce(self.b.port, "tsbig", [b"f"], base_ts=now + 7200000)["error"], 0,
           "2 h ahead with a huge after.max.ms is stored")
        eq(produce(self.b.port, "tsbig", [b"p"], base_ts=1)["error"], 0,
           "1970 with a huge before.max.ms is stored")

    # ---- dynamic broker configs ----
    def static_and_unknown_refused(self):
        r = incremental_alter(self.b.port, [(BROKER, "", [("listeners", 0, "127.0.0.1:1"),
                                                          ("log.retention.ms", 0, "5000")])])
        eq(r[0][:2], (42, "Cannot update these configs dynamically: Set(listeners)"),
           "a static setting is refused by name")
        r = incremental_alter(self.b.port, [(BROKER, "", [("log.retension.ms", 0, "1")])])
        eq(r[0][:2], (40, "Unknown broker config name: log.retension.ms (did you mean "
                          "log.retention.ms?)"), "an unknown broker setting")
        r = incremental_alter(self.b.port, [(BROKER, "", [("log.cleanup.policy", 0, "shred")])])
        ok(r[0][0] == 40 and "Invalid value shred for configuration log.cleanup.policy" in r[0][1],
           r)
        r = incremental_alter(self.b.port, [(BROKER, "7", [("log.retention.ms", 0, "1")])])
        eq(r[0][0], 42, "an unknown broker id")
        d = self.describe(ConfigResourceType.BROKER, "1", ["log.retention.ms"])
        eq(d["log.retention.ms"][:2], ("604800000", 5), "nothing changed by refused requests")

    def kafka_dynamic_settings_eddyd_ignores(self):
        """What librdkafka's 0081 admin test sets on a broker (v2.0.2 and v2.3.0): AlterConfigs
        sasl.kerberos.min.time.before.relogin, IncrementalAlterConfigs background.threads SET /
        DELETE and log.cleanup.policy APPEND / SUBTRACT: accepted as Kafka does."""
        r = self.admin.alter_configs([ConfigResource(
            ConfigResourceType.BROKER, "1",
            configs={"sasl.kerberos.min.time.before.relogin": "58000"})])
        eq(r.resources[0][0], 0, "AlterConfigs sasl.kerberos.min.time.before.relogin (%r)" % (r,))
        r = incremental_alter(self.b.port, [(BROKER, "1", [("background.threads", 0, "9"),
                                                           ("log.cleanup.policy", 2, "compact")])])
        eq(r[0][:2], (0, None), "SET background.threads, APPEND log.cleanup.policy")
        d = self.describe(ConfigResourceType.BROKER, "1", ["background.threads",
                                                           "log.cleanup.policy",
                                                           "sasl.kerberos.min.time.before.relogin"])
        eq(d["background.threads"][:2], ("9", 2), "background.threads kept and shown")
        eq(d["log.cleanup.policy"][:2], ("delete,compact", 2), "log.cleanup.policy appended")
        eq(d["sasl.kerberos.min.time.before.relogin"][:2], ("58000", 2),
           "kept (an incremental change edits the set, it does not replace it)")
        r = incremental_alter(self.b.port, [(BROKER, "1", [("background.threads", 1, None),
                                                           ("log.cleanup.policy", 3, "compact")])])
        eq(r[0][:2], (0, None), "DELETE background.threads, SUBTRACT log.cleanup.policy")
        d = self.describe(ConfigResourceType.BROKER, "1", ["background.threads",
                                                           "log.cleanup.policy"])
        eq(d["background.threads"][:2], ("10", 5), "background.threads back to Kafka's default")
        eq(d["log.cleanup.policy"][:2], ("delete", 2), "log.cleanup.policy after SUBTRACT")
        r = incremental_alter(self.b.port, [(BROKER, "1", [("background.threads", 0, "0")])])
        ok(r[0][0] == 40 and "Value must be at least 1" in r[0][1], r)
        # leave broker 1 without dynamic settings for the cases after this one
        r = self.admin.alter_configs([ConfigResource(ConfigResourceType.BROKER, "1", configs={})])
        eq(r.resources[0][0], 0, "clear broker 1")

    def validate_only_changes_nothing(self):
        r = incremental_alter(self.b.port, [(BROKER, "", [("log.retention.ms", 0, "5000")])],
                              validate=True)
        eq(r[0][0], 0, "validate_only of a valid change")
        d = self.describe(ConfigResourceType.BROKER, "1", ["log.retention.ms"])
        eq(d["log.retention.ms"][:2], ("604800000", 5), "validate_only changed nothing")

    def dynamic_default_applies_live(self):
        eq(self.create("rolls", {}), "", "create rolls")
        eq(self.create("own", {"retention.ms": "100000"}), "", "create own")
        r = incremental_alter(self.b.port, [(BROKER, "", [("log.segment.bytes", 0, "1024"),
                                                          ("log.retention.ms", 0, "86400000"),
                                                          ("compression.type", 0, "gzip")])])
        eq(r[0][0], 0, "IncrementalAlterConfigs on the cluster default (%s)" % (r,))
        err, dflt = describe_configs_v3(self.b.port, BROKER, "")
        eq((err, sorted(dflt)), (0, ["compression.type", "log.retention.ms", "log.segment.bytes"]),
           "DescribeConfigs on the cluster default lists what is set there")
        eq(dflt["log.retention.ms"][:3], ("86400000", 3, 5), "value, source, type LONG")
        err, tc = describe_configs_v3(self.b.port, TOPIC, "rolls", ["cleanup.policy", "flush.ms"])
        eq((tc["cleanup.policy"][2], tc["flush.ms"][2]), (7, 5), "types LIST and LONG (v3)")
        ok("ignored" in tc["flush.ms"][3], "documentation says flush.ms is ignored: %r"
           % tc["flush.ms"][3])
        eq(describe_configs_v3(self.b.port, TOPIC, "rolls", ["flush.ms"], docs=False)[1]
           ["flush.ms"][3], None, "no documentation unless asked")
        d = self.describe(ConfigResourceType.TOPIC, "rolls")
        eq(d["retention.ms"][:2], ("86400000", 3), "retention.ms from the dynamic default")
        ok(("log.retention.ms", "86400000", 3) in d["retention.ms"][4] and
           ("log.retention.ms", "604800000", 5) in d["retention.ms"][4],
           "synonyms of retention.ms: %r" % (d["retention.ms"][4],))
        d = self.describe(ConfigResourceType.TOPIC, "own", ["retention.ms"])
        eq(d["retention.ms"][:2], ("100000", 1), "a topic's own value wins")
        eq(d["retention.ms"][4][0], ("retention.ms", "100000", 1), "first synonym: the topic's")
        for i in range(4):
            eq(produce(self.b.port, "rolls", [os.urandom(700)])["error"], 0, "produce rolls")
        segs = [f for f in os.listdir(os.path.join(self.b.data, "rolls-0")) if f.endswith(".log")]
        ok(len(segs) >= 3, "log.segment.bytes=1024 rolls the topic without its own: %r" % segs)
        eq({x["attrs"] & 7 for x in fetch_batches(self.b.port, "rolls")}, {1},
           "compression.type=gzip from the dynamic default")
        # AlterConfigs (kafka-python) on broker 1: DYNAMIC_BROKER_CONFIG over the default
        r = self.admin.alter_configs([ConfigResource(ConfigResourceType.BROKER, "1",
                                                     configs={"log.retention.ms": "7200000"})])
        eq(r.resources[0][0], 0, "AlterConfigs on broker 1 (%r)" % (r,))
        d = self.describe(ConfigResourceType.BROKER, "1", ["log.retention.ms", "listeners",
                                                           "ssl.keystore.password"])
        eq(d["log.retention.ms"][:2], ("7200000", 2), "broker 1's own value")
        eq([s[2] for s in d["log.retention.ms"][4]], [2, 3, 5], "layers of log.retention.ms")
        eq(d["log.retention.ms"][3], False, "log.retention.ms is not read-only")
        eq(d["listeners"][3], True, "listeners is read-only")
        eq((d["ssl.keystore.password"][0], d["ssl.keystore.password"][2]), (None, True),
           "a password is sensitive and never shown")
        d = self.describe(ConfigResourceType.TOPIC, "rolls", ["retention.ms"])
        eq(d["retention.ms"][:2], ("7200000", 2), "topic default from broker 1's value")
        # DELETE falls back a layer
        r = incremental_alter(self.b.port, [(BROKER, "1", [("log.retention.ms", 1, None)])])
        eq(r[0][0], 0, "DELETE on broker 1")
        d = self.describe(ConfigResourceType.TOPIC, "rolls", ["retention.ms"])
        eq(d["retention.ms"][:2], ("86400000", 3), "back to the cluster default")

    def cli_configs(self):
        """eddy configs describe|alter: the real CLI (librdkafka's admin API) on broker 1."""
        eddy = os.path.join(os.environ.get("EDDY_BUILD_DIR", "build"), "src", "cli", "eddy")

        def run(*args):
            p = subprocess.run([eddy, "-b", self.b.bootstrap] + list(args), capture_output=True,
                               timeout=60)
            return p.returncode, p.stdout.decode() + p.stderr.decode()

        rc, out = run("configs", "alter", "--set", "log.roll.ms=3600000")
        eq(rc, 0, "eddy configs alter --set (output: %s)" % out)
        ok("broker 1 log.roll.ms: 604800000 -> 3600000 (DYNAMIC_BROKER_CONFIG)" in out, out)
        rc, out = run("--json", "configs", "describe")
        ok(rc == 0 and '"config":"log.roll.ms","value":"3600000","source":'
           '"DYNAMIC_BROKER_CONFIG","dynamic":true' in out, out)
        d = self.describe(ConfigResourceType.TOPIC, "rolls", ["segment.ms"])
        eq(d["segment.ms"][:2], ("3600000", 2), "segment.ms of a topic from the CLI's change")
        rc, out = run("configs", "alter", "--set", "node.id=5")
        ok(rc == 1 and "Cannot update these configs dynamically: Set(node.id)" in out, out)
        rc, out = run("configs", "alter", "--set", "log.roll.ms=0")
        ok(rc == 1 and "Invalid value 0 for configuration log.roll.ms" in out, out)
        rc, out = run("configs", "alter", "--delete", "log.roll.ms")
        ok(rc == 0 and "log.roll.ms: 3600000 -> 604800000 (DEFAULT_CONFIG)" in out, out)
        rc, out = run("configs", "alter")
        ok(rc == 2 and "what to change?" in out, out)
        rc, out = run("configs", "alter", "--delete", "no.such.setting")
        ok(rc == 2 and "broker 1 has no config 'no.such.setting'" in out, out)
        rc, out = run("configs", "alter", "--set", "novalue")
        ok(rc == 2 and "--set wants key=value" in out, out)

    def describe_cluster_kip700(self):
        c = kw.Conn(self.b.port)
        try:
            _e, apis, _t, _l = kw.parse_api_versions_v0(c.request(API_VERSIONS, 0, b""))
        finally:
            c.close()
        # v2 (IsFenced) is it_protocol_versions' case
        eq(apis.get(DESCRIBE_CLUSTER), (0, 2), "ApiVersions advertises DescribeCluster v0-v2")
        for v in (0, 1):
            d = describe_cluster(self.b.port, v, include_ops=True)
            eq((d["error"], d["controller"]), (0, 1), "DescribeCluster v%d error, controller" % v)
            eq(d["brokers"], [(1, "127.0.0.1", self.b.port, None)], "the one broker")
            ok(d["cluster_id"] and len(d["cluster_id"]) >= 20, "cluster id %r" % d["cluster_id"])
            # no authorizer: every Cluster operation, as Kafka's AclOperation bits: CREATE 5,
            # ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11,
            # IDEMPOTENT_WRITE 12
            want = sum(1 << i for i in (5, 7, 8, 9, 10, 11, 12))
            eq(d["ops"] & want, want, "cluster authorized operations %x" % d["ops"])
        eq(describe_cluster(self.b.port, 0, include_ops=False)["ops"], -2147483648,
           "operations not asked: INT32_MIN")
        d = describe_cluster(self.b.port, 1, include_ops=False, endpoint_type=2)
        eq((d["error"], d["brokers"]), (114, []), "controller endpoint at a broker")

    def member_expires_at_session_deadline(self):
        """A member that stops heartbeating is gone at its session deadline: DescribeGroups
        then says Empty and DeleteGroups succeeds (librdkafka's 0081 waits exactly
        session.timeout.ms, then deletes the group; a 100 ms tick answered NON_EMPTY_GROUP)."""
        c = kw.Conn(self.b.port)
        try:
            body = (kw.s16("expiring") + kw.i32(SESSION_MS) + kw.s16("") + kw.s16("consumer") +
                    kw.array([kw.s16("range") + kw.bytes32(b"\x00\x00\x00\x00\x00\x00")]))
            r = kw.Reader(c.request(JOIN_GROUP, 0, body))
            eq(r.i16(), 0, "JoinGroup v0 error")
            t_joined = time.monotonic()  # the broker set the deadline before answering
            g = kw.Reader(c.request(DESCRIBE_GROUPS, 0, kw.array([kw.s16("expiring")])))
            g.i32()  # groups count
            eq(g.i16(), 0, "DescribeGroups error")
            g.str()
            state = g.str()
            ok(state != "Empty", "a joined member: group state %s" % state)
            time.sleep(max(0.0, SESSION_MS / 1000.0 - (time.monotonic() - t_joined)))
            r = kw.Reader(c.request(DELETE_GROUPS, 0, kw.array([kw.s16("expiring")])))
            r.i32()
            res = r.array(lambda: (r.str(), r.i16()))
            eq(res, [("expiring", 0)], "DeleteGroups right at the session deadline")
        finally:
            c.close()

    def survives_restart(self):
        self.b.restart()
        self.reconnect()
        d = self.describe(ConfigResourceType.TOPIC, "rolls", ["retention.ms", "segment.bytes"])
        eq(d["retention.ms"][:2], ("86400000", 3), "dynamic default after a restart")
        eq(d["segment.bytes"][:2], ("1024", 3), "dynamic log.segment.bytes after a restart")
        d = self.describe(ConfigResourceType.TOPIC, "all", ["flush.ms", "message.format.version"])
        eq(d["flush.ms"][:2], (CONFIGS["flush.ms"][0], 1), "topic config after a restart")
        eq(d["message.format.version"][:2], (CONFIGS["message.format.version"][0], 1),
           "ignored topic config kept after a restart")
        # AlterConfigs replaces the whole set of a resource: an empty one clears it
        r = self.admin.alter_configs([ConfigResource(ConfigResourceType.BROKER, "",
                                                     configs={})])
        eq(r.resources[0][0], 0, "AlterConfigs clearing the cluster default")
        d = self.describe(ConfigResourceType.TOPIC, "rolls", ["retention.ms"])
        eq(d["retention.ms"][:2], ("604800000", 5), "default again")


def main():
    b = Eddyd(["num.partitions=1", "group.initial.rebalance.delay.ms=0",
               "http.listeners=127.0.0.1:0",
               "group.min.session.timeout.ms=%d" % SESSION_MS])
    r = Results(b)
    s = Suite(b)
    for name, fn in [
        ("every topic config: valid accepted, invalid refused with Kafka's message",
         s.every_config_valid_and_invalid),
        ("the table is the set eddyd describes", s.table_is_what_eddyd_describes),
        ("unknown names refused as unknown", s.unknown_name_refused_as_unknown),
        ("compression.type=zstd/uncompressed recompress on append", s.compression_type_recompresses),
        ("min.insync.replicas=2 + acks=all: NOT_ENOUGH_REPLICAS (19)", s.min_insync_replicas),
        ("message.timestamp.before/after.max.ms: INVALID_TIMESTAMP (32)", s.timestamp_bounds),
        ("broker resource: static refused by name, unknown and bad values 40",
         s.static_and_unknown_refused),
        ("broker resource: validate_only changes nothing", s.validate_only_changes_nothing),
        ("Kafka's dynamic settings librdkafka's admin test sets: accepted",
         s.kafka_dynamic_settings_eddyd_ignores),
        ("dynamic defaults apply live; broker 1 over cluster default; DELETE falls back",
         s.dynamic_default_applies_live),
        ("eddy configs describe/alter", s.cli_configs),
        ("DescribeCluster (KIP-700) v0/v1", s.describe_cluster_kip700),
        ("a silent group member is expired at its session deadline",
         s.member_expires_at_session_deadline),
        ("dynamic broker and topic configs survive a restart", s.survives_restart),
    ]:
        r.run(name, fn)
    s.admin.close()
    r.finish()


if __name__ == "__main__":
    main()
