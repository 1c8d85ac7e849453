#!/usr/bin/python3
"""test_bad_input — scenario 7: malformed, hostile and out-of-range requests on raw sockets.

One eddyd (auto.create.topics.enable=false, socket.request.max.bytes=1048576,
message.max.bytes=100000) gets, each on its own connection: truncated frames, garbage, an
oversized or negative size prefix, unknown API keys and versions, ApiVersions v99 (→ v0-layout
UNSUPPORTED_VERSION listing key 18, kafka-protocol.md §2.3), Produce v0–v2 with a bad message
CRC and a batch with a bad CRC (→ CORRUPT_MESSAGE 2), a batch over message.max.bytes
(→ MESSAGE_TOO_LARGE 10),
unknown topics (→ UNKNOWN_TOPIC_OR_PARTITION 3), fetch offsets out of range
(→ OFFSET_OUT_OF_RANGE 1), and more. After every case the broker process must still be alive
and a fresh connection must get a correct ApiVersions answer; at the end kafka-python reads
the topic and finds exactly the valid records, in order. Requests are hand-encoded (kwire.py).
"""
import os
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, HERE)
from eddyd import Eddyd, Results  # noqa: E402
import kwire as kw  # noqa: E402

TOPIC = "raw"
APIVERSIONS, METADATA, PRODUCE, FETCH, LISTOFFSETS = 18, 3, 0, 1, 2
TS = 1700000000000


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s:\n  got      %r\n  expected %r" % (what, got, want))


class Suite:
    def __init__(self, broker):
        self.b = broker
        self.port = broker.port
        self.valid = []  # values of the records that were accepted, in order

    def conn(self, timeout=10.0):
        return kw.Conn(self.port, timeout)

    # -- health: the process lives and a fresh client gets a correct ApiVersions v0 answer
    def healthy(self, after):
        if not self.b.alive():
            tail = self.b.log_tail()
            self.b.kill()
            self.b.start()  # same data dir and port, so the following cases still run
            raise AssertionError("eddyd died after %s (restarted for the next cases):\n%s"
                                 % (after, tail))
        c = self.conn()
        try:
            err, apis, _, left = kw.parse_api_versions_v0(c.request(APIVERSIONS, 0, b""))
        except Exception as e:  # noqa: BLE001
            raise AssertionError("fresh client after %s: %s" % (after, e)) from None
        finally:
            c.close()
        eq((err, left), (0, 0), "ApiVersions v0 (error, trailing bytes) after %s" % after)
        assert APIVERSIONS in apis and PRODUCE in apis, "ApiVersions lists %r" % sorted(apis)

    def produce(self, records_bytes, version=7, topic=TOPIC, partition=0, acks=-1):
        c = self.conn()
        try:
            body = kw.produce_body({topic: {partition: records_bytes}}, acks=acks,
                                   version=version)
            resp = kw.parse_produce(c.request(PRODUCE, version, body), version)
        finally:
            c.close()
        eq(resp["left"], 0, "trailing bytes in the Produce v%d response" % version)
        (name, parts), = resp["topics"]
        (p,), = [parts]
        eq((name, p["partition"]), (topic, partition), "Produce response topic/partition")
        return p

    def fetch(self, offset, topic=TOPIC, partition=0):
        c = self.conn()
        try:
            resp = kw.parse_fetch_v4(c.request(FETCH, 4, kw.fetch_body_v4(
                {topic: {partition: offset}})))
        finally:
            c.close()
        eq(resp["left"], 0, "trailing bytes in the Fetch v4 response")
        (name, parts), = resp["topics"]
        (p,), = [parts]
        eq((name, p["partition"]), (topic, partition), "Fetch response topic/partition")
        return p

    def good_batch(self, values):
        return kw.batch([(b"key", v, [(b"h", b"v")], TS + i) for i, v in enumerate(values)], TS)

    def hwm(self):
        return self.fetch(0)["hwm"]

    # ---------------------------------------------------------------- cases
    def encoder_selfcheck(self):
        want = bytes.fromhex(
            "0000000000000000 00000047 00000000 02 34ed6979 0000 00000001"
            "0000018bcfe56800 0000018bcfe56805 ffffffffffffffff ffff ffffffff 00000002"
            "1a 00 00 00 02 6b 04 6869 02 02 68 02 76 0e 00 0a 02 01 02 78 00".replace(" ", ""))
        got = kw.batch([(b"k", b"hi", [(b"h", b"v")], TS), (None, b"x", [], TS + 5)], TS,
                       leader_epoch=0)
        eq(got.hex(), want.hex(), "RecordBatch encoder vs kafka-protocol.md §3.4 vector")
        eq(kw.crc32c(b"123456789"), 0xE3069283, "crc32c check value")

    def baseline(self):
        c = self.conn()
        try:
            err, apis, _, left = kw.parse_api_versions_v0(c.request(APIVERSIONS, 0, b""))
            eq((err, left), (0, 0), "ApiVersions v0 error / trailing bytes")
            lo, hi = apis[APIVERSIONS]
            assert lo == 0 and hi >= 3, "ApiVersions range %r (want 0..>=3)" % ((lo, hi),)
            assert apis[PRODUCE][0] == 0 and apis[PRODUCE][1] >= 7, \
                "Produce range %r (kafka-protocol.md §1.3: 0..>=7)" % (apis[PRODUCE],)
            assert apis[FETCH][0] <= 4 <= apis[FETCH][1], "Fetch range %r" % (apis[FETCH],)
            md = kw.parse_metadata_v1(c.request(METADATA, 1, kw.metadata_body_v1(None)))
            eq(md["left"], 0, "trailing bytes in Metadata v1")
            eq(len(md["brokers"]), 1, "number of brokers")
            node, host, port, _rack = md["brokers"][0]
            eq((host, port), ("127.0.0.1", self.port), "advertised host/port")
            eq(md["controller"], node, "controller_id = the broker's node id")
            t = [x for x in md["topics"] if x["name"] == TOPIC]
            eq(len(t), 1, "topic %s in the all-topics Metadata" % TOPIC)
            eq([(p["error"], p["partition"], p["leader"]) for p in t[0]["partitions"]],
               [(0, 0, node)], "partitions of %s" % TOPIC)
        finally:
            c.close()

    def pipelined(self):
        c = self.conn()
        try:
            c.send(kw.frame(APIVERSIONS, 0, 101, b"") +
                   kw.frame(METADATA, 1, 102, kw.metadata_body_v1([TOPIC])) +
                   kw.frame(APIVERSIONS, 1, 103, b""))
            corrs = [c.recv_frame()[0] for _ in range(3)]
            eq(corrs, [101, 102, 103], "correlation ids of three pipelined requests")
        finally:
            c.close()

    def api_versions_v3(self):
        c = self.conn()
        try:
            body = b"\x07it-raw" + b"\x041.0" + b"\x00"  # compact strings + tags
            r = kw.Reader(c.request(APIVERSIONS, 3, body, flexible=True))
            err = r.i16()
            n = r.uvarint() - 1
            apis = {}
            for _ in range(n):
                k, lo, hi = r.i16(), r.i16(), r.i16()
                eq(r.uvarint(), 0, "tag buffer of api %d" % k)
                apis[k] = (lo, hi)
            r.i32()
            eq(r.uvarint(), 0, "top-level tag buffer count")
            eq((err, r.left()), (0, 0), "ApiVersions v3 error / trailing bytes "
                                        "(response header must be v0: no tag byte)")
            assert apis.get(APIVERSIONS, (9, 9))[0] == 0, "key 18 missing in v3 answer"
        finally:
            c.close()

    def api_versions_v99(self):
        c = self.conn()
        try:
            c.corr = 41
            c.send(kw.frame(APIVERSIONS, 99, 42, b"whatever follows is not parsed"))
            corr, body = c.recv_frame()
            eq(corr, 42, "correlation id")
            r = kw.Reader(body)
            err = r.i16()
            apis = r.array(lambda: (r.i16(), r.i16(), r.i16()))
            eq(err, 35, "error code (UNSUPPORTED_VERSION)")
            eq(len(apis), 1, "ApiKeys entries (only key 18)")
            eq(apis[0][:2], (18, 0), "key and min version")
            assert apis[0][2] >= 3, "advertised ApiVersions max %d" % apis[0][2]
            eq(r.left(), 0, "trailing bytes (v0 layout has no throttle_time)")
            # The connection stays usable: a v0 retry gets the full answer.
            err, apis, _, _ = kw.parse_api_versions_v0(c.request(APIVERSIONS, 0, b""))
            eq(err, 0, "ApiVersions v0 on the same connection after UNSUPPORTED_VERSION")
        finally:
            c.close()

    def truncated_then_close(self):
        for partial in (b"\x00\x00", b"\x00\x00\x00\x64" + b"\x00\x03\x00\x01\x00",
                        kw.frame(METADATA, 1, 7, kw.metadata_body_v1([TOPIC]))[:-3]):
            c = self.conn()
            c.send(partial)
            c.close()
        self.healthy("truncated frames")

    def truncated_body_in_frame(self):
        # A complete frame whose body stops early: array count 1000, no elements.
        c = self.conn(timeout=5)
        try:
            c.send(kw.frame(METADATA, 1, 9, kw.i32(1000)))
            try:
                corr, body = c.recv_frame()
                eq(corr, 9, "correlation id of an answer to a truncated Metadata body")
            except kw.Closed:
                pass  # closing is also a correct reaction
        finally:
            c.close()
        # A Produce v7 whose topic count is huge.
        c = self.conn(timeout=5)
        try:
            c.send(kw.frame(PRODUCE, 7, 10, kw.s16(None) + kw.i16(-1) + kw.i32(1000) +
                            kw.i32(0x7FFFFFFF)))
            try:
                c.recv_frame()
            except kw.Closed:
                pass
        finally:
            c.close()

    def garbage(self):
        c = self.conn()
        try:
            c.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            c.expect_closed("HTTP request on the Kafka port")
        finally:
            c.close()
        c = self.conn()
        try:  # plausible size, nonsense header (api key 0x7a7a)
            c.send(kw.i32(32) + b"\x7a\x7a\x00\x01" + os.urandom(28))
            c.expect_closed("32 bytes of garbage")
        finally:
            c.close()

    def oversized(self):
        for size, what in ((2 * 1024 * 1024, "size 2 MiB > socket.request.max.bytes 1 MiB"),
                           (-1, "negative size"), (0, "size 0")):
            c = self.conn()
            try:
                c.send(kw.i32(size) + b"\x00\x12\x00\x00\x00\x00\x00\x01\x00\x00" * 10)
                c.expect_closed(what)
            finally:
                c.close()
            self.healthy(what)

    def unknown_api_key(self):
        for key, ver in ((9999, 0), (-5, 0), (1000, 3)):
            c = self.conn()
            try:
                c.send(kw.frame(key, ver, 5, b"\x00" * 16))
                c.expect_closed("unknown api key %d" % key)
            finally:
                c.close()

    def unsupported_version(self):
        c = self.conn()
        try:
            c.send(kw.frame(METADATA, 99, 5, kw.metadata_body_v1(None)))
            c.expect_closed("Metadata v99")
        finally:
            c.close()

    def produce_v0_v2(self):
        before = self.hwm()
        # A legacy message set (magic 0) whose CRC is wrong: CORRUPT_MESSAGE in each version's
        # answer layout (the legacy formats themselves: test_oldfmt.py).
        msg = b"\x00\x00" + kw.bytes32(None) + kw.bytes32(b"old")
        mset = kw.i64(0) + kw.i32(4 + len(msg)) + kw.i32(0) + msg
        for v in (0, 1, 2):
            c = self.conn()
            try:
                p = kw.parse_produce(c.request(PRODUCE, v, kw.produce_body(
                    {TOPIC: {0: mset}}, acks=1, version=v)), v)
                eq((p["topics"][0][1][0]["error"], p["left"]), (2, 0),
                   "Produce v%d with a bad message CRC: (CORRUPT_MESSAGE, no trailing bytes)" % v)
            finally:
                c.close()
        eq(self.hwm(), before, "high watermark after Produce v0-v2 (nothing appended)")

    def produce_valid_v3_v7(self):
        p = self.produce(self.good_batch([b"v3-a", b"v3-b"]), version=3)
        eq((p["error"], p["base_offset"]), (0, 0), "Produce v3 (error, base_offset)")
        self.valid += [b"v3-a", b"v3-b"]
        p = self.produce(self.good_batch([b"v7-a"]), version=7)
        eq((p["error"], p["base_offset"]), (0, 2), "Produce v7 (error, base_offset)")
        eq(p["log_start_offset"], 0, "Produce v7 log_start_offset")
        self.valid += [b"v7-a"]

    def bad_crc(self):
        p = self.produce(kw.batch([(b"k", b"corrupt", [], TS)], TS, bad_crc=True))
        eq(p["error"], 2, "error code for a batch with a wrong CRC-32C (CORRUPT_MESSAGE)")
        eq(self.hwm(), len(self.valid), "high watermark after the corrupt batch")
        p = self.produce(self.good_batch([b"after-crc"]))
        eq((p["error"], p["base_offset"]), (0, len(self.valid)), "next valid append")
        self.valid.append(b"after-crc")

    def too_large(self):
        p = self.produce(self.good_batch([b"x" * 150000]))
        eq(p["error"], 10, "error code for a 150 kB batch with message.max.bytes=100000 "
                           "(MESSAGE_TOO_LARGE)")
        eq(self.hwm(), len(self.valid), "high watermark after the rejected batch")
        p = self.produce(self.good_batch([b"y" * 90000]))
        eq(p["error"], 0, "a 90 kB batch under message.max.bytes")
        self.valid.append(b"y" * 90000)

    def bad_batch_header(self):
        before = self.hwm()
        # recordsCount (5) disagrees with lastOffsetDelta + 1 (1) (kafka-protocol.md §3.5 step 3)
        p = self.produce(kw.batch([(b"k", b"lie", [], TS)], TS, count=5))
        assert p["error"] in (2, 87), "count mismatch: error %d (want 2 or 87)" % p["error"]
        # magic 1 inside Produce v7
        p = self.produce(kw.batch([(b"k", b"m1", [], TS)], TS, magic=1))
        assert p["error"] in (2, 43, 87), "magic 1: error %d (want 2, 43 or 87)" % p["error"]
        # a batch whose batchLength claims more bytes than the records field holds
        good = bytearray(self.good_batch([b"short"]))
        struct.pack_into(">i", good, 8, len(good) + 100)
        p = self.produce(bytes(good))
        assert p["error"] in (2, 87), "batchLength too big: error %d" % p["error"]
        eq(self.hwm(), before, "high watermark after three malformed batches")

    def invalid_acks(self):
        p = self.produce(self.good_batch([b"acks2"]), acks=2)
        eq(p["error"], 21, "acks=2 (INVALID_REQUIRED_ACKS)")
        eq(self.hwm(), len(self.valid), "high watermark after acks=2")

    def acks0(self):
        c = self.conn()
        try:
            c.send(kw.frame(PRODUCE, 7, 500, kw.produce_body(
                {TOPIC: {0: self.good_batch([b"acks0"])}}, acks=0)))
            c.send(kw.frame(APIVERSIONS, 0, 501, b""))
            corr, _ = c.recv_frame()
            eq(corr, 501, "first answer after an acks=0 Produce (which gets none)")
        finally:
            c.close()
        self.valid.append(b"acks0")
        eq(self.hwm(), len(self.valid), "high watermark after acks=0 produce")

    def unknown_topic(self):
        c = self.conn()
        try:
            md = kw.parse_metadata_v1(c.request(METADATA, 1, kw.metadata_body_v1(["nope"])))
            eq([(t["name"], t["error"]) for t in md["topics"]], [("nope", 3)],
               "Metadata v1 for a missing topic with auto-create off")
            md = kw.parse_metadata_v1(c.request(METADATA, 1, kw.metadata_body_v1(None)))
            assert all(t["name"] != "nope" for t in md["topics"]), "topic 'nope' was created"
        finally:
            c.close()
        eq(self.produce(self.good_batch([b"n"]), topic="nope")["error"], 3,
           "Produce to a missing topic")
        eq(self.produce(self.good_batch([b"n"]), partition=7)["error"], 3,
           "Produce to partition 7 of a 1-partition topic")
        eq(self.fetch(0, topic="nope")["error"], 3, "Fetch from a missing topic")
        c = self.conn()
        try:
            lo = kw.parse_list_offsets_v1(c.request(LISTOFFSETS, 1, kw.list_offsets_body_v1(
                {"nope": {0: -1}})))
            eq(lo["topics"][0][1][0]["error"], 3, "ListOffsets v1 on a missing topic")
        finally:
            c.close()

    def out_of_range(self):
        n = len(self.valid)
        for off in (n + 1, n + 1000, -3):
            p = self.fetch(off)
            eq(p["error"], 1, "Fetch v4 at offset %d with HWM %d (OFFSET_OUT_OF_RANGE)" % (off, n))
        p = self.fetch(n)
        eq((p["error"], p["hwm"]), (0, n), "Fetch v4 at offset == HWM")
        assert p["records_len"] == 0, \
            "records at the HWM must be empty with length 0, got length %d" % p["records_len"]

    def fetch_reads_back(self):
        got = []
        off = 0
        while off < len(self.valid):
            p = self.fetch(off)
            eq(p["error"], 0, "Fetch v4 at %d" % off)
            bs = kw.parse_batches(p["records"])
            assert bs, "no whole batch in the Fetch answer at offset %d" % off
            for b in bs:
                eq((b["magic"], b["crc_ok"]), (2, True), "stored batch magic / CRC")
                for (o, k, v, h) in b["records"]:
                    if o >= off:
                        got.append((o, v))
            if not got or got[-1][0] < off:
                raise AssertionError("Fetch at offset %d returned no record at or after it" % off)
            off = got[-1][0] + 1
        eq(got, list(enumerate(self.valid)), "offsets and values read back over Fetch v4")
        # A fetch inside a batch returns the batch that contains the offset.
        p = self.fetch(1)
        first = kw.parse_batches(p["records"])[0]
        eq(first["base_offset"], 0, "Fetch at offset 1 starts with the batch containing it")

    def kafka_python_reads(self):
        from kafka import KafkaConsumer, TopicPartition
        c = KafkaConsumer(bootstrap_servers=self.b.bootstrap, group_id=None,
                          enable_auto_commit=False)
        try:
            tp = TopicPartition(TOPIC, 0)
            c.assign([tp])
            c.seek_to_beginning(tp)
            recs = []
            deadline = time.time() + 30
            while len(recs) < len(self.valid) and time.time() < deadline:
                for rs in c.poll(timeout_ms=500).values():
                    recs.extend(rs)
            eq([(r.offset, r.value) for r in recs], list(enumerate(self.valid)),
               "kafka-python reads exactly the accepted records")
        finally:
            c.close()


def main():
    b = Eddyd(["auto.create.topics.enable=false", "socket.request.max.bytes=1048576",
               "message.max.bytes=100000", "num.partitions=1"])
    r = Results(b)
    s = Suite(b)

    def create_topic():
        # Hand-encoded CreateTopics v0 (kafka-python's admin path is covered by it_kafka_python).
        c = kw.Conn(b.port)
        try:
            body = kw.array([kw.s16(TOPIC) + kw.i32(1) + kw.i16(1) + kw.array([]) + kw.array([])])
            r = kw.Reader(c.request(19, 0, body + kw.i32(10000)))
            res = r.array(lambda: (r.str(), r.i16()))
            eq((res, r.left()), ([(TOPIC, 0)], 0), "CreateTopics v0 answer")
        finally:
            c.close()

    cases = [
        ("RecordBatch/CRC-32C encoder self-check", s.encoder_selfcheck),
        ("create topic 'raw' (CreateTopics v0)", create_topic),
        ("baseline ApiVersions v0 + Metadata v1", s.baseline),
        ("pipelined requests answered in order", s.pipelined),
        ("ApiVersions v3 (flexible body, v0 response header)", s.api_versions_v3),
        ("ApiVersions v99 → v0-layout UNSUPPORTED_VERSION with key 18", s.api_versions_v99),
        ("truncated frames then close", s.truncated_then_close),
        ("complete frame with a truncated body", s.truncated_body_in_frame),
        ("garbage bytes → connection closed", s.garbage),
        ("size prefix over socket.request.max.bytes / negative / zero → closed", s.oversized),
        ("unknown API key → connection closed", s.unknown_api_key),
        ("unsupported Metadata version → connection closed", s.unsupported_version),
        ("Produce v3 and v7 with valid batches", s.produce_valid_v3_v7),
        ("Produce v0-v2 bad message CRC → CORRUPT_MESSAGE, nothing appended", s.produce_v0_v2),
        ("bad CRC → CORRUPT_MESSAGE (2)", s.bad_crc),
        ("batch over message.max.bytes → MESSAGE_TOO_LARGE (10)", s.too_large),
        ("inconsistent batch headers rejected", s.bad_batch_header),
        ("acks=2 → INVALID_REQUIRED_ACKS (21)", s.invalid_acks),
        ("acks=0 Produce gets no response", s.acks0),
        ("unknown topic/partition → UNKNOWN_TOPIC_OR_PARTITION (3)", s.unknown_topic),
        ("fetch offset out of range → OFFSET_OUT_OF_RANGE (1)", s.out_of_range),
        ("Fetch v4 returns exactly the accepted records", s.fetch_reads_back),
        ("kafka-python consumer reads the accepted records", s.kafka_python_reads),
    ]
    for name, fn in cases:
        r.run(name, fn)
        if fn not in (s.encoder_selfcheck,):
            r.run("  …broker still serves after: " + name, s.healthy, name)
    try:
        b.stop()
        r.passed += 1
        print("PASS SIGTERM exit 0")
    except AssertionError as e:
        r.failed += 1
        print("FAIL SIGTERM: %s" % e)
    r.finish()


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    main()
