#!/usr/bin/python3
"""test_kafka_python — scenario 5: kafka-python 2.0.2 (Debian, /usr/bin/python3) against eddyd.

KafkaAdminClient creates a 3-partition topic (and gets TopicAlreadyExistsError the second time);
KafkaProducer (acks=all) writes keyed records with headers and explicit CreateTime timestamps to
partition 0, a gzip producer writes one batch to partition 1, partition 2 stays empty;
KafkaConsumer (no group: assign + seek_to_beginning) reads everything back exactly; seeking into
the middle of the gzip batch returns only the later records; beginning_offsets / end_offsets
and offsets_for_times return the right offsets.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from eddyd import Eddyd, Results, wait_until  # noqa: E402

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import NewTopic  # noqa: E402
from kafka.errors import TopicAlreadyExistsError  # noqa: E402

TOPIC = "kp-orders"
T0 = (int(time.time() * 1000) // 1000 - 3600) * 1000  # an hour ago, whole second
P0 = [(b"k-0-%d" % i, b"v-0-%d" % i, T0 + i * 1000) for i in range(10)]
P1 = [(b"g-%d" % i, (b"gzip me %d " % i) * 50, T0 + 20000 + i) for i in range(5)]
TPS = [TopicPartition(TOPIC, p) for p in range(3)]


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s:\n  got      %r\n  expected %r" % (what, got, want))


def main():
    b = Eddyd(["auto.create.topics.enable=false"])
    r = Results(b)
    boot = b.bootstrap

    def admin_create():
        admin = KafkaAdminClient(bootstrap_servers=boot, client_id="it-admin",
                                 request_timeout_ms=20000)
        try:
            resp = admin.create_topics([NewTopic(TOPIC, num_partitions=3, replication_factor=1)])
            errs = [t[1] for t in resp.topic_errors]
            eq(errs, [0], "CreateTopics error codes")
            try:
                admin.create_topics([NewTopic(TOPIC, num_partitions=3, replication_factor=1)])
                raise AssertionError("second create_topics did not raise TopicAlreadyExistsError")
            except TopicAlreadyExistsError:
                pass
            names = admin.list_topics()
            assert TOPIC in names, "list_topics() = %r lacks %s" % (names, TOPIC)
        finally:
            admin.close()

    def produce():
        p = KafkaProducer(bootstrap_servers=boot, acks="all", linger_ms=5)
        try:
            futs = [p.send(TOPIC, key=k, value=v, partition=0, timestamp_ms=ts,
                           headers=[("idx", b"%d" % i), ("empty", b"")])
                    for i, (k, v, ts) in enumerate(P0)]
            p.flush(30)
            md = [f.get(timeout=30) for f in futs]
            eq([(m.partition, m.offset) for m in md], [(0, i) for i in range(10)],
               "RecordMetadata (partition, offset)")
        finally:
            p.close(10)
        g = KafkaProducer(bootstrap_servers=boot, acks="all", compression_type="gzip",
                          linger_ms=500)
        try:
            futs = [g.send(TOPIC, key=k, value=v, partition=1, timestamp_ms=ts) for k, v, ts in P1]
            g.flush(30)
            eq([f.get(timeout=30).offset for f in futs], list(range(5)), "gzip batch offsets")
        finally:
            g.close(10)

    def consumer(**kw):
        return KafkaConsumer(bootstrap_servers=boot, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=1000, **kw)

    def poll_n(c, n, timeout=30):
        got = []
        deadline = time.time() + timeout
        while len(got) < n and time.time() < deadline:
            for recs in c.poll(timeout_ms=500).values():
                got.extend(recs)
        return got

    def consume_all():
        c = consumer()
        try:
            eq(c.partitions_for_topic(TOPIC), {0, 1, 2}, "partitions_for_topic")
            c.assign(TPS)
            c.seek_to_beginning()
            recs = poll_n(c, 15)
            extra = poll_n(c, 1, timeout=1)
            eq(len(recs) + len(extra), 15, "number of records read")
            p0 = [x for x in recs if x.partition == 0]
            eq([(x.offset, x.key, x.value, x.timestamp, x.timestamp_type) for x in p0],
               [(i, k, v, ts, 0) for i, (k, v, ts) in enumerate(P0)], "partition 0 records")
            eq([list(x.headers) for x in p0],
               [[("idx", b"%d" % i), ("empty", b"")] for i in range(10)], "partition 0 headers")
            p1 = [x for x in recs if x.partition == 1]
            eq([(x.offset, x.key, x.value, x.timestamp) for x in p1],
               [(i, k, v, ts) for i, (k, v, ts) in enumerate(P1)], "partition 1 (gzip) records")
            eq(c.position(TPS[2]), 0, "position on the empty partition 2")
        finally:
            c.close()

    def seek_mid_batch():
        c = consumer()
        try:
            c.assign([TPS[1]])
            c.seek(TPS[1], 3)
            recs = poll_n(c, 2)
            eq([(x.offset, x.key) for x in recs], [(3, b"g-3"), (4, b"g-4")],
               "records after seek(p1, 3) into the gzip batch")
        finally:
            c.close()

    def watermarks():
        c = consumer()
        try:
            eq(c.beginning_offsets(TPS), {TPS[0]: 0, TPS[1]: 0, TPS[2]: 0}, "beginning_offsets")
            eq(c.end_offsets(TPS), {TPS[0]: 10, TPS[1]: 5, TPS[2]: 0}, "end_offsets")
        finally:
            c.close()

    def by_time():
        c = consumer()
        try:
            tp0, tp1, tp2 = TPS
            res = c.offsets_for_times({tp0: T0 + 3500, tp1: T0, tp2: T0})
            eq(res[tp0] and (res[tp0].offset, res[tp0].timestamp), (4, T0 + 4000),
               "offsets_for_times(p0, T0+3.5s)")
            eq(res[tp1] and (res[tp1].offset, res[tp1].timestamp), (0, T0 + 20000),
               "offsets_for_times(p1, T0) (first record of the gzip batch)")
            eq(res[tp2], None, "offsets_for_times on the empty partition")
            res = c.offsets_for_times({tp0: T0 + 3000, tp1: T0 + 20003})
            eq(res[tp0] and (res[tp0].offset, res[tp0].timestamp), (3, T0 + 3000),
               "offsets_for_times(p0, exact timestamp of offset 3)")
            # Inside a compressed batch the answer may be exact (3) or the batch base (0).
            assert res[tp1] is not None and res[tp1].offset in (0, 3), \
                "offsets_for_times(p1, T0+20003) = %r" % (res[tp1],)
            res = c.offsets_for_times({tp0: T0 + 10 ** 7, tp1: 0})
            eq(res[tp0], None, "offsets_for_times after the last record")
            eq(res[tp1] and res[tp1].offset, 0, "offsets_for_times(p1, 0)")
        finally:
            c.close()

    def unknown_topic_is_not_created():
        c = consumer()
        try:
            eq(c.partitions_for_topic("kp-does-not-exist"), None,
               "partitions_for_topic on a missing topic (auto-create is off)")
        finally:
            c.close()

    r.run("admin create_topics (3 partitions), duplicate → TopicAlreadyExists", admin_create)
    r.run("producer acks=all with headers/timestamps, gzip batch", produce)
    r.run("consumer assign + seek_to_beginning reads all records", consume_all)
    r.run("seek into the middle of a compressed batch", seek_mid_batch)
    r.run("beginning_offsets / end_offsets", watermarks)
    r.run("offsets_for_times", by_time)
    r.run("metadata for a missing topic with auto-create off", unknown_topic_is_not_created)
    try:
        b.stop()
        r.passed += 1
        print("PASS SIGTERM exit 0")
    except AssertionError as e:
        r.failed += 1
        print("FAIL SIGTERM: %s" % e)
    r.finish()


if __name__ == "__main__":
    main()
