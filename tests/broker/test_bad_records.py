#!/usr/bin/python3
"""test_bad_records — issue 11 item 1: every record of every produced batch is validated.

Each malformed shape the issue lists is produced with a correct batch CRC (so only record-level
validation can catch it): a negative key length, a record length of 2^40, an overlong varint, a
header count of 2^31-1 and of -3, a record count of 2 with one record, bytes after the last
record, an offsetDelta that is not the record's index, garbage gzip/snappy/lz4/zstd, a gzip
stream cut short, a bad record inside a gzip batch, and a 300 MiB gzip bomb. Each must be
refused with Kafka's code — INVALID_RECORD (87) naming the record in RecordErrors with an
ErrorMessage on Produce v8, CORRUPT_MESSAGE (2) on v7 and for compressed bytes that do not
decode — and nothing may be stored; a valid batch for another partition in the same request is
stored; and afterwards kcat, kafka-python and librdkafka (through kcat) read exactly the valid
records. Requests are hand-encoded (kwire.py).
"""
import gzip
import os
import struct
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, HERE)
from eddyd import Eddyd, Results  # noqa: E402
import kwire as kw  # noqa: E402

PRODUCE, FETCH, LISTOFFSETS = 0, 1, 2
TOPIC = "bad-recs"
TS = 1700000000000
INVALID_RECORD, CORRUPT_MESSAGE = 87, 2


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s:\n  got      %r\n  expected %r" % (what, got, want))


def parse_produce_v8(body):
    r = kw.Reader(body)

    def nstr():
        return r.str()

    def part():
        d = {"partition": r.i32(), "error": r.i16(), "base_offset": r.i64(),
             "log_append_time": r.i64(), "log_start_offset": r.i64()}
        d["record_errors"] = r.array(lambda: (r.i32(), nstr()))
        d["error_message"] = nstr()
        return d

    topics = r.array(lambda: (r.str(), r.array(part)))
    r.i32()
    eq(r.left(), 0, "trailing bytes in the Produce v8 answer")
    return topics


def raw_batch(records_section, count, attrs=0, last_delta=None):
    """A batch around an already encoded (maybe compressed) records section, CRC correct."""
    after_crc = struct.pack(">hiqqqhii", attrs, count - 1 if last_delta is None else last_delta,
                            TS, TS, -1, -1, -1, count) + records_section
    rest = struct.pack(">ibI", -1, 2, kw.crc32c(after_crc)) + after_crc
    return kw.i64(0) + kw.i32(len(rest)) + rest


def rec_bytes(body):
    """A record: its body behind a correct (zigzag) length."""
    return kw.varint(len(body)) + body


GOOD0 = kw.record(0, 0, b"k", b"ok")


def gzip_bytes(data):
    return gzip.compress(data, 6)


class Suite:
    def __init__(self, broker):
        self.b = broker
        self.port = broker.port
        self.valid = []  # values stored, in order

    def produce(self, parts, version=8):
        """parts: {partition: batch}; returns {partition: answer}."""
        c = kw.Conn(self.port, 60)
        try:
            resp = c.request(PRODUCE, version, kw.produce_body({TOPIC: parts}, version=version))
        finally:
            c.close()
        if version >= 8:
            topics = parse_produce_v8(resp)
        else:
            topics = kw.parse_produce(resp, version)["topics"]
        return {p["partition"]: p for p in topics[0][1]}

    def hwm(self, part=0):
        c = kw.Conn(self.port)
        try:
            lo = kw.parse_list_offsets_v1(c.request(LISTOFFSETS, 1,
                                                    kw.list_offsets_body_v1({TOPIC: {part: -1}})))
        finally:
            c.close()
        return lo["topics"][0][1][0]["offset"]

    def good(self, tag, part=0):
        return kw.batch([(b"k", tag, (), TS)], TS)

    def create(self):
        c = kw.Conn(self.port)
        try:
            body = kw.array([kw.s16(TOPIC) + kw.i32(2) + kw.i16(1) + kw.array([]) + kw.array([])])
            r = kw.Reader(c.request(19, 0, body + kw.i32(10000)))
            eq(r.array(lambda: (r.str(), r.i16())), [(TOPIC, 0)], "CreateTopics v0")
        finally:
            c.close()
        a = self.produce({0: self.good(b"first")})[0]
        eq((a["error"], a["base_offset"]), (0, 0), "first valid batch")
        self.valid.append(b"first")

    def refuse(self, what, batch, want, index=None, versions=(8, 7)):
        before = self.hwm()
        for v in versions:
            a = self.produce({0: batch}, version=v)[0]
            code = want if v >= 8 else CORRUPT_MESSAGE
            eq((a["error"], a["base_offset"]), (code, -1), "%s, Produce v%d: (error, offset)"
               % (what, v))
            if v >= 8:
                if index is None:
                    eq(a["record_errors"], [], "%s: RecordErrors" % what)
                else:
                    eq(len(a["record_errors"]), 1, "%s: one RecordErrors entry" % what)
                    eq(a["record_errors"][0][0], index, "%s: RecordErrors[0].BatchIndex" % what)
                    assert a["record_errors"][0][1], "%s: no BatchIndexErrorMessage" % what
                assert a["error_message"], "%s: no ErrorMessage" % what
        eq(self.hwm(), before, "%s: high watermark (nothing stored)" % what)
        tag = b"after-" + what.replace(" ", "-").encode()
        a = self.produce({0: self.good(tag)})[0]
        eq((a["error"], a["base_offset"]), (0, before), "%s: the next valid batch" % what)
        self.valid.append(tag)

    # -- record shapes (uncompressed; then the same inside gzip) --
    def shapes(self):
        nulls = b"\x00" + kw.varint(0) + kw.varint(1) + kw.varint(-1) + kw.varint(-1)
        return [
            ("negative key length", GOOD0 + rec_bytes(
                b"\x00" + kw.varint(0) + kw.varint(1) + kw.varint(-3) + kw.varint(1) + b"v" +
                kw.varint(0)), 2, INVALID_RECORD, 1),
            ("record length 2^40", GOOD0 + kw.uvarint((1 << 40) * 2) + b"\x00" * 8, 2,
             INVALID_RECORD, 1),
            ("overlong varint", GOOD0 + rec_bytes(
                b"\x00\x00\x82\x80\x80\x80\x80\x00" + kw.varint(-1) + kw.varint(-1) +
                kw.varint(0)), 2, INVALID_RECORD, 1),
            ("header count 2^31-1", GOOD0 + rec_bytes(nulls + kw.varint(2**31 - 1)), 2,
             INVALID_RECORD, 1),
            ("header count -3", GOOD0 + rec_bytes(nulls + kw.varint(-3)), 2, INVALID_RECORD, 1),
            ("record count 2 with 1 record", GOOD0, 2, INVALID_RECORD, None),
            ("bytes after the last record", GOOD0 + b"\x07\x07", 1, INVALID_RECORD, None),
            ("offsetDelta not the index", GOOD0 + kw.record(5, 0, b"k", b"x"), 2,
             INVALID_RECORD, 1),
            ("record longer than its fields", GOOD0 + rec_bytes(nulls + kw.varint(0) + b"\0\0"),
             2, INVALID_RECORD, 1),
        ]

    def plain_shapes(self):
        for what, recs, count, code, idx in self.shapes():
            self.refuse(what, raw_batch(recs, count), code, idx)

    def gzip_shapes(self):
        for what, recs, count, code, idx in self.shapes():
            self.refuse("gzip " + what, raw_batch(gzip_bytes(recs), count, attrs=1), code, idx)

    def garbage(self):
        junk = bytes((i * 37 + 11) & 0xFF for i in range(200))
        for codec, name in ((1, "gzip"), (2, "snappy"), (3, "lz4"), (4, "zstd")):
            self.refuse("garbage " + name, raw_batch(junk, 1, attrs=codec), CORRUPT_MESSAGE)
        whole = gzip_bytes(GOOD0 + kw.record(1, 0, b"k", b"second"))
        self.refuse("gzip cut short", raw_batch(whole[:-9], 2, attrs=1), CORRUPT_MESSAGE)
        self.refuse("gzip with trailing garbage", raw_batch(whole + b"\x01\x02\x03", 2, attrs=1),
                    CORRUPT_MESSAGE)

    def bomb(self):
        # one record whose value is 300 MiB of zeros, gzip'ed to ~300 KB (under message.max.bytes)
        n = 300 << 20
        head = b"\x00" + kw.varint(0) + kw.varint(0) + kw.varint(-1) + kw.varint(n)
        body_len = len(head) + n + 1
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        parts = [z.compress(kw.varint(body_len) + head)]
        chunk = bytes(1 << 20)
        for _ in range(300):
            parts.append(z.compress(chunk))
        parts.append(z.compress(kw.varint(0)))
        parts.append(z.flush())
        comp = b"".join(parts)
        assert len(comp) < 1000000, "bomb is %d bytes" % len(comp)
        self.refuse("300 MiB gzip bomb", raw_batch(comp, 1, attrs=1), INVALID_RECORD,
                    versions=(8,))

    def mixed_request(self):
        """A bad batch for partition 0 and a good one for partition 1 in one request."""
        before0, before1 = self.hwm(0), self.hwm(1)
        bad = raw_batch(GOOD0 + rec_bytes(b"\x00\x00\x02" + kw.varint(-3)), 2)
        ans = self.produce({0: bad, 1: self.good(b"p1")})
        eq(ans[0]["error"], INVALID_RECORD, "partition 0 (bad batch)")
        eq((ans[1]["error"], ans[1]["base_offset"]), (0, before1), "partition 1 (good batch)")
        eq((self.hwm(0), self.hwm(1)), (before0, before1 + 1), "high watermarks")

    def valid_compressed_and_headers(self):
        recs = (kw.record(0, 0, b"k", b"gz-0", [(b"h", b"v"), (b"n", None)]) +
                kw.record(1, 3, None, b"gz-1"))
        a = self.produce({0: raw_batch(gzip_bytes(recs), 2, attrs=1)})[0]
        eq((a["error"], a["record_errors"], a["error_message"]), (0, [], None),
           "a valid gzip batch with headers")
        self.valid += [b"gz-0", b"gz-1"]

    # -- readers --
    def kcat_reads(self):
        out = subprocess.run(["kcat", "-C", "-b", self.b.bootstrap, "-t", TOPIC, "-p", "0",
                              "-o", "beginning", "-e", "-q", "-f", "%o %s\n"],
                             capture_output=True, timeout=60, check=True).stdout.decode()
        got = [line.split(" ", 1) for line in out.splitlines() if line]
        eq([(int(o), v.encode()) for o, v in got], list(enumerate(self.valid)),
           "kcat (librdkafka) reads exactly the valid records")

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
               "kafka-python reads exactly the valid records")
        finally:
            c.close()


def main():
    b = Eddyd(["num.partitions=2", "auto.create.topics.enable=false"])
    r = Results(b)
    s = Suite(b)
    for name, fn in [
        ("create the topic, one valid batch", s.create),
        ("malformed records (uncompressed): 87 naming the record / 2 on v7", s.plain_shapes),
        ("the same malformed records inside gzip batches", s.gzip_shapes),
        ("garbage and cut compressed sections: CORRUPT_MESSAGE", s.garbage),
        ("a 300 MiB gzip bomb is refused", s.bomb),
        ("bad and good batches in one request: only the bad one refused", s.mixed_request),
        ("a valid gzip batch with headers and a null key is accepted", s.valid_compressed_and_headers),
        ("kcat reads exactly the valid records", s.kcat_reads),
        ("kafka-python reads exactly the valid records", s.kafka_python_reads),
    ]:
        r.run(name, fn)
    r.finish()


if __name__ == "__main__":
    main()
