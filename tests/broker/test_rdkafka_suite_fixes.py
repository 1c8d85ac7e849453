#!/usr/bin/python3
"""test_rdkafka_suite_fixes — what librdkafka's own test suite found wrong in eddyd
(tests/rdkafka-suite, docs/rdkafka-suite.md), each case failing before its fix.

Against one real eddyd with kafka-python's admin client:
- message.format.version takes Kafka's four-segment form "0.10.0.0" (librdkafka's 0092 sets it
  with AlterConfigs; Kafka reads the leading segments of the version), as well as "0.10.0-IV1"
  and "2.8"; a value that is no version is still INVALID_CONFIG (40) with Kafka's message.
- a compacted topic refuses records without a key, as Kafka's LogValidator does (librdkafka's
  0011 produces every 10th message keyless to a topic it made compact): Produce v8 answers
  INVALID_RECORD (87) with EVERY keyless record's index in RecordErrors (librdkafka fails
  exactly those and the rest of the batch with _INVALID_DIFFERENT_RECORD), v7 answers
  CORRUPT_MESSAGE (2, no INVALID_RECORD before v8), nothing is stored; keyed records, and
  keyless ones on a delete-policy topic, are stored.
- committed offset metadata is kept whole, NUL bytes included (librdkafka's 0099 commits
  "Hello\0world!" and must read 12 bytes back): OffsetFetch returns it, also after a SIGKILL
  restart (the __consumer_offsets record keeps its length).
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, HERE)
from eddyd import Eddyd, Results  # noqa: E402
import kwire as kw  # noqa: E402
from kafka import KafkaConsumer, TopicPartition  # noqa: E402
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic  # noqa: E402
from kafka.structs import OffsetAndMetadata  # noqa: E402


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


PRODUCE = 0


def produce_v(port, topic, batch, version):
    """One partition-0 Produce; returns (error, base_offset, [(index, msg)], error message)."""
    c = kw.Conn(port)
    try:
        body = c.request(PRODUCE, version, kw.produce_body({topic: {0: batch}}, version=version))
    finally:
        c.close()
    r = kw.Reader(body)
    eq(r.i32(), 1, "topics in the Produce response")
    r.str()
    eq(r.i32(), 1, "partitions in the Produce response")
    r.i32()
    err, base = r.i16(), r.i64()
    r.i64()  # log_append_time (v2+)
    r.i64()  # log_start_offset (v5+)
    rec_errs, msg = [], None
    if version >= 8:
        rec_errs = r.array(lambda: (r.i32(), r.str()))
        msg = r.str()
    return err, base, rec_errs, msg


class Suite:
    def __init__(self, b):
        self.b = b
        self.admin = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=15000)

    def alter(self, topic, configs):
        """(error code, message) of a (non-incremental) AlterConfigs on one topic."""
        r = self.admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                     configs=configs)])
        err, msg, _t, _n = r.resources[0]
        return err, msg

    def described(self, topic, key):
        res = ConfigResource(ConfigResourceType.TOPIC, topic, configs={key: None})
        r = self.admin.describe_configs([res])[0]
        for e in r.resources[0][4]:
            if e[0] == key:
                return e[1]
        raise AssertionError("%s not described for %s" % (key, topic))

    def message_format_version_forms(self):
        self.admin.create_topics([NewTopic("mixed-msgver", 1, 1)])
        for v in ("0.10.0.0", "0.10.0-IV1", "0.11.0", "2.8", "3.0-IV1"):
            eq(self.alter("mixed-msgver", {"message.format.version": v}), (0, None),
               "AlterConfigs message.format.version=%s" % v)
            eq(self.described("mixed-msgver", "message.format.version"), v,
               "described message.format.version after setting %s" % v)
        for v in ("soon", "0.10.0.0.0", "1", "0.10.x"):
            err, msg = self.alter("mixed-msgver", {"message.format.version": v})
            eq(err, 40, "AlterConfigs message.format.version=%s error code" % v)
            want = "Invalid value %s for configuration message.format.version" % v
            if want not in (msg or ""):
                raise AssertionError("message for %s: %r lacks %r" % (v, msg, want))


    def compacted_topic_refuses_keyless(self):
        self.admin.create_topics([NewTopic("compacted", 1, 1,
                                           topic_configs={"cleanup.policy": "compact"}),
                                  NewTopic("plain", 1, 1)])
        ts = int(time.time() * 1000)
        keys = [None if i % 3 == 0 else b"k%d" % i for i in range(7)]  # 0, 3, 6 keyless
        mixed = kw.batch([(k, b"v%d" % i, (), ts) for i, k in enumerate(keys)], ts)
        port = self.b.port
        err, base, rec_errs, msg = produce_v(port, "compacted", mixed, 8)
        eq((err, base), (87, -1), "v8 keyless records on a compacted topic: error, base offset")
        eq([i for i, _ in rec_errs], [0, 3, 6], "RecordErrors' batch indexes")
        want = "Compacted topic cannot accept message without key in topic partition compacted-0."
        eq(msg, want, "ErrorMessage")
        eq({m for _, m in rec_errs}, {want}, "RecordErrors' messages")
        eq(produce_v(port, "compacted", mixed, 7)[:2], (2, -1), "v7: CORRUPT_MESSAGE")
        keyed = kw.batch([(b"k%d" % i, b"v", (), ts) for i in range(3)], ts)
        eq(produce_v(port, "compacted", keyed, 8), (0, 0, [], None),
           "keyed records on the compacted topic: stored at offset 0 (nothing before)")
        eq(produce_v(port, "plain", mixed, 8), (0, 0, [], None),
           "keyless records on a delete-policy topic: stored")

    def commit_metadata_with_nul(self):
        self.admin.create_topics([NewTopic("meta", 1, 1)])
        tp = TopicPartition("meta", 0)
        meta = "Hello\x00world!"
        c = KafkaConsumer(bootstrap_servers=self.b.bootstrap, group_id="g-meta",
                          enable_auto_commit=False)
        c.commit({tp: OffsetAndMetadata(42, meta)})
        c.close()

        def fetched(admin):
            got = admin.list_consumer_group_offsets("g-meta")[tp]
            return got.offset, got.metadata

        eq(fetched(self.admin), (42, meta), "OffsetFetch after the commit")
        self.admin.close()
        self.b.kill()
        self.b.start()
        self.admin = KafkaAdminClient(bootstrap_servers=self.b.bootstrap,
                                      request_timeout_ms=15000)
        eq(fetched(self.admin), (42, meta), "OffsetFetch after a SIGKILL restart")


def main():
    b = Eddyd(["num.partitions=1"])
    r = Results(b)
    s = Suite(b)
    r.run("message.format.version: Kafka's forms (0.10.0.0) accepted, non-versions refused",
          s.message_format_version_forms)
    r.run("compacted topic: keyless records refused, each in RecordErrors (v8), 2 before v8",
          s.compacted_topic_refuses_keyless)
    r.run("committed offset metadata keeps its NUL bytes, across a SIGKILL restart",
          s.commit_metadata_with_nul)
    s.admin.close()
    r.finish()


if __name__ == "__main__":
    main()
