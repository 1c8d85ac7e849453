#!/usr/bin/python3
"""test_oldfmt — issue 14 item 5: legacy message sets (magic 0 and 1) both ways, raw sockets.

Produce v0/v1/v2 requests carry hand-encoded message sets (Kafka's protocol guide, "Message
sets": offset, size, CRC-32 of magic..end, magic, attributes, [timestamp], key, value), plain
and compressed (gzip; snappy raw and xerial-framed; lz4 frames with the right header checksum
and with the one Kafka 0.8/0.9 computed over the magic number, KAFKA-3160). The broker must
store each set as one RecordBatch v2 (read back with Fetch v4: keys, values, nulls, timestamps
-1 for magic 0, the producer's codec) and answer Fetch v0–v3 with message sets of magic 0
(v0–v1) and 1 (v2–v3) whose CRCs check, with absolute offsets, LogAppendTime flagged, headers
dropped, a compressed batch as one wrapper of its codec (expanded here with the test's own
gzip/snappy/lz4 decoders), limits honoured (v3: at least one whole message; v0–v2: a partial
one when the first does not fit). Bad input — bad CRC, truncated sets, a compressed message inside a compressed
message, an inner message of another magic, zstd, undecodable gzip, a gzip bomb past the
inflate cap, a set over max.message.bytes — is CORRUPT_MESSAGE (2) / MESSAGE_TOO_LARGE (10)
with nothing stored, and the connection stays usable. acks=0 on v0 gets no answer.
"""
import gzip
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, HERE)
from eddyd import Eddyd, Results, wait_until  # noqa: E402
import kwire as kw  # noqa: E402

PRODUCE, FETCH, LISTOFFSETS, CREATE = 0, 1, 2, 19
CORRUPT_MESSAGE, MESSAGE_TOO_LARGE = 2, 10
TS = 1700000000000


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s:\n  got      %r\n  expected %r" % (what, got, want))


# ---- legacy messages ----
def message(magic, key, value, ts=None, attrs=0, offset=0, bad_crc=False):
    body = kw.i8(magic) + kw.i8(attrs)
    if magic == 1:
        body += kw.i64(TS if ts is None else ts)
    body += kw.bytes32(key) + kw.bytes32(value)
    crc = zlib.crc32(body) ^ (1 if bad_crc else 0)
    m = struct.pack(">I", crc) + body
    return kw.i64(offset) + kw.i32(len(m)) + m


def mset(magic, kvs, **kw_):
    return b"".join(message(magic, k, v, offset=i, **kw_) for i, (k, v) in enumerate(kvs))


def wrapper(magic, codec, inner_bytes, n_inner, ts=None, attrs_extra=0):
    """A compressed message around an inner set; magic 1: offset = last inner (relative)."""
    return message(magic, None, inner_bytes, ts=ts, attrs=codec | attrs_extra,
                   offset=n_inner - 1)


def xxh32(data):
    P1, P2, P3, P4, P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
    M = 0xFFFFFFFF
    assert len(data) < 16
    h = (P5 + len(data)) & M
    i = 0
    while i + 4 <= len(data):
        h = (h + struct.unpack_from("<I", data, i)[0] * P3) & M
        h = (((h << 17) | (h >> 15)) & M) * P4 & M
        i += 4
    while i < len(data):
        h = (h + data[i] * P5) & M
        h = (((h << 11) | (h >> 21)) & M) * P1 & M
        i += 1
    h ^= h >> 15
    h = h * P2 & M
    h ^= h >> 13
    h = h * P3 & M
    h ^= h >> 16
    return h


def lz4_frame(data, broken_hc):
    """An lz4 frame of one uncompressed block; broken_hc: Kafka 0.8's header checksum."""
    magic = b"\x04\x22\x4d\x18"
    desc = b"\x60\x40"  # version 01, independent blocks; 64 KiB blocks
    hc = (xxh32(magic + desc if broken_hc else desc) >> 8) & 0xFF
    return (magic + desc + bytes([hc]) + struct.pack("<I", len(data) | 0x80000000) + data +
            b"\x00\x00\x00\x00")


def snappy_raw(data):
    """Raw snappy of literals only (valid: a decoder must accept it)."""
    out = bytearray(kw.uvarint(len(data)))
    for i in range(0, len(data), 60):
        chunk = data[i:i + 60]
        out.append((len(chunk) - 1) << 2)
        out += chunk
    return bytes(out)


def snappy_xerial(data):
    blk = snappy_raw(data)
    return b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1) + struct.pack(">i", len(blk)) + blk


def unsnappy(b):
    """Snappy, raw or xerial-framed (what batch_compress writes)."""
    if b[:8] == b"\x82SNAPPY\x00":
        out, pos = b"", 16
        while pos < len(b):
            (n,) = struct.unpack_from(">i", b, pos)
            out += unsnappy(b[pos + 4:pos + 4 + n])
            pos += 4 + n
        return out
    pos = shift = size = 0
    while True:
        c = b[pos]
        pos += 1
        size |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            break
    out = bytearray()
    while pos < len(b):
        tag = b[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            n = tag >> 2
            if n < 60:
                n += 1
            else:
                nb = n - 59
                n = int.from_bytes(b[pos:pos + nb], "little") + 1
                pos += nb
            out += b[pos:pos + n]
            pos += n
            continue
        if kind == 1:
            n, off = ((tag >> 2) & 7) + 4, ((tag >> 5) << 8) | b[pos]
            pos += 1
        elif kind == 2:
            n, off = (tag >> 2) + 1, int.from_bytes(b[pos:pos + 2], "little")
            pos += 2
        else:
            n, off = (tag >> 2) + 1, int.from_bytes(b[pos:pos + 4], "little")
            pos += 4
        for _ in range(n):
            out.append(out[-off])
    assert len(out) == size, "snappy length"
    return bytes(out)


def unlz4(b):
    """An lz4 frame (independent or linked blocks; checksums skipped)."""
    assert b[:4] == b"\x04\x22\x4d\x18", "lz4 magic"
    flg = b[4]
    pos = 4 + 2 + (8 if flg & 0x08 else 0) + (4 if flg & 0x01 else 0) + 1
    out = bytearray()
    while True:
        (n,) = struct.unpack_from("<I", b, pos)
        pos += 4
        if n == 0:
            break
        blk = b[pos:pos + (n & 0x7FFFFFFF)]
        pos += n & 0x7FFFFFFF
        if flg & 0x10:
            pos += 4
        if n & 0x80000000:
            out += blk
            continue
        i = 0
        while i < len(blk):
            tok = blk[i]
            i += 1
            lit = tok >> 4
            if lit == 15:
                while True:
                    lit += blk[i]
                    i += 1
                    if blk[i - 1] != 255:
                        break
            out += blk[i:i + lit]
            i += lit
            if i >= len(blk):
                break
            off = blk[i] | (blk[i + 1] << 8)
            i += 2
            m = tok & 15
            if m == 15:
                while True:
                    m += blk[i]
                    i += 1
                    if blk[i - 1] != 255:
                        break
            for _ in range(m + 4):
                out.append(out[-off])
    return bytes(out)


def lz4_hc_ok(b):
    return b[6] == (xxh32(b[4:6]) >> 8) & 0xFF  # FLG BD without content size / dict id


def expand(msgs):
    """Wrapper messages replaced by their inner messages with absolute offsets."""
    out = []
    for m in msgs:
        codec = m["attrs"] & 7
        if codec == 0:
            out.append(m)
            continue
        raw = {1: gzip.decompress, 2: unsnappy, 3: unlz4}[codec](m["value"])
        inner, partial = parse_mset(raw)
        assert partial == 0 and inner, "wrapper with a partial or empty inner set"
        last = inner[-1]["offset"]
        for i in inner:
            i = dict(i)
            if m["magic"] == 1:  # relative inner offsets, the wrapper's = the last one's
                i["offset"] = m["offset"] - (last - i["offset"])
            i["codec"] = codec
            out.append(i)
    return out


def parse_mset(data):
    """Whole messages of a legacy set, and the bytes of a trailing partial one."""
    out, pos = [], 0
    while pos + 12 <= len(data):
        off, size = struct.unpack_from(">qi", data, pos)
        if pos + 12 + size > len(data):
            break
        m = data[pos + 12:pos + 12 + size]
        crc, magic, attrs = struct.unpack_from(">Ibb", m)
        r = kw.Reader(m)
        r.pos = 6
        ts = r.i64() if magic == 1 else None
        key, value = r.bytes(), r.bytes()
        out.append({"offset": off, "magic": magic, "attrs": attrs, "ts": ts, "key": key,
                    "value": value, "crc_ok": zlib.crc32(m[4:]) == crc, "left": r.left()})
        pos += 12 + size
    return out, len(data) - pos


def fetch_body(version, topic, part, offset, pmax=1 << 20, max_bytes=1 << 20, wait=0):
    body = kw.i32(-1) + kw.i32(wait) + kw.i32(1)
    if version >= 3:
        body += kw.i32(max_bytes)
    return body + kw.array([kw.s16(topic) + kw.array([kw.i32(part) + kw.i64(offset) +
                                                      kw.i32(pmax)])])


def parse_fetch_old(body, version):
    r = kw.Reader(body)
    throttle = r.i32() if version >= 1 else None

    def part():
        d = {"partition": r.i32(), "error": r.i16(), "hwm": r.i64()}
        d["records"] = r.bytes() or b""
        return d

    topics = r.array(lambda: (r.str(), r.array(part)))
    eq(r.left(), 0, "trailing bytes in the Fetch v%d answer" % version)
    return throttle, topics[0][1][0]


class Suite:
    def __init__(self, broker):
        self.b = broker
        self.c = kw.Conn(broker.port, 30)

    def create(self, topic, configs=()):
        body = kw.array([kw.s16(topic) + kw.i32(1) + kw.i16(1) + kw.array([]) +
                         kw.array([kw.s16(k) + kw.s16(v) for k, v in configs])])
        r = kw.Reader(self.c.request(CREATE, 0, body + kw.i32(10000)))
        eq(r.array(lambda: (r.str(), r.i16())), [(topic, 0)], "CreateTopics %s" % topic)

    def produce(self, topic, records, version, acks=-1):
        resp = self.c.request(PRODUCE, version,
                              kw.produce_body({topic: {0: records}}, acks=acks, version=version))
        p = kw.parse_produce(resp, version)
        eq(p["left"], 0, "trailing bytes in the Produce v%d answer" % version)
        eq(p["throttle"] is None, version == 0, "Produce v%d: throttle field" % version)
        return p["topics"][0][1][0]

    def fetch_old(self, version, topic, offset, **kw_):
        throttle, part = parse_fetch_old(
            self.c.request(FETCH, version, fetch_body(version, topic, 0, offset, **kw_)), version)
        eq(throttle is None, version == 0, "Fetch v%d: throttle field" % version)
        return part

    def stored(self, topic, offset=0):
        """The stored batches (Fetch v4)."""
        resp = kw.parse_fetch_v4(self.c.request(FETCH, 4, kw.fetch_body_v4({topic: {0: offset}},
                                                                            max_wait_ms=0)))
        part = resp["topics"][0][1][0]
        eq(part["error"], 0, "Fetch v4 %s error" % topic)
        return part["records"]

    def hwm(self, topic):
        lo = kw.parse_list_offsets_v1(self.c.request(
            LISTOFFSETS, 1, kw.list_offsets_body_v1({topic: {0: -1}})))
        return lo["topics"][0][1][0]["offset"]

    # -- cases --
    def v0_plain(self):
        self.create("of-v0")
        kvs = [(b"k1", b"v1"), (None, b"nokey"), (b"k3", None), (b"", b"")]
        a = self.produce("of-v0", mset(0, kvs), 0)
        eq((a["error"], a["base_offset"]), (0, 0), "Produce v0 (error, base offset)")
        batches = kw.parse_batches(self.stored("of-v0"))
        eq(len(batches), 1, "one stored batch per request-partition")
        b = batches[0]
        eq((b["magic"], b["crc_ok"], b["attrs"] & 7), (2, True, 0), "stored batch")
        eq([(o, k, v, h) for o, k, v, h in b["records"]],
           [(0, b"k1", b"v1", []), (1, None, b"nokey", []), (2, b"k3", None, []),
            (3, b"", b"", [])], "stored records")
        base_ts, max_ts = struct.unpack_from(">qq", self.stored("of-v0"), 27)
        eq((base_ts, max_ts), (-1, -1), "magic 0 has no timestamps: stored -1")
        for v in (0, 1):
            msgs, partial = parse_mset(self.fetch_old(v, "of-v0", 0)["records"])
            eq(partial, 0, "Fetch v%d: no partial message" % v)
            eq([(m["offset"], m["magic"], m["key"], m["value"], m["crc_ok"], m["left"])
                for m in msgs],
               [(0, 0, b"k1", b"v1", True, 0), (1, 0, None, b"nokey", True, 0),
                (2, 0, b"k3", None, True, 0), (3, 0, b"", b"", True, 0)],
               "Fetch v%d: magic 0 messages" % v)
        for v in (2, 3):
            msgs, _ = parse_mset(self.fetch_old(v, "of-v0", 0)["records"])
            eq([(m["offset"], m["magic"], m["ts"]) for m in msgs],
               [(i, 1, -1) for i in range(4)], "Fetch v%d: magic 1, no timestamp (-1)" % v)
        # from the middle of a stored batch: the records before the offset are left out
        msgs, _ = parse_mset(self.fetch_old(1, "of-v0", 2)["records"])
        eq([m["offset"] for m in msgs], [2, 3], "Fetch v1 from offset 2")
        part = self.fetch_old(0, "of-v0", 4)
        eq((part["error"], part["hwm"], part["records"]), (0, 4, b""), "Fetch v0 at the end")
        eq(self.fetch_old(0, "of-v0", 9)["error"], 1, "Fetch v0 past the end: OFFSET_OUT_OF_RANGE")

    def v1_v2_timestamps(self):
        self.create("of-v1")
        a = self.produce("of-v1", mset(1, [(b"a", b"1"), (b"b", b"2")], ts=TS + 5), 1)
        eq((a["error"], a["base_offset"]), (0, 0), "Produce v1")
        a = self.produce("of-v1", message(1, b"c", b"3", ts=TS + 9), 2)
        eq((a["error"], a["base_offset"], a["log_append_time"]), (0, 2, -1),
           "Produce v2 (CreateTime topic: log_append_time -1)")
        msgs, _ = parse_mset(self.fetch_old(2, "of-v1", 0)["records"])
        eq([(m["offset"], m["key"], m["ts"], m["attrs"]) for m in msgs],
           [(0, b"a", TS + 5, 0), (1, b"b", TS + 5, 0), (2, b"c", TS + 9, 0)],
           "Fetch v2: timestamps kept")
        msgs, _ = parse_mset(self.fetch_old(0, "of-v1", 0)["records"])
        eq([(m["magic"], m["ts"]) for m in msgs], [(0, None)] * 3, "Fetch v0: magic 0")

    def compressed(self):
        self.create("of-z")
        want = []
        cases = [
            ("gzip m1", 1, 1, gzip.compress),
            ("gzip m0", 0, 1, gzip.compress),
            ("snappy raw m1", 1, 2, snappy_raw),
            ("snappy xerial m0", 0, 2, snappy_xerial),
            ("lz4 m1", 1, 3, lambda d: lz4_frame(d, False)),
            ("lz4 m0 broken checksum", 0, 3, lambda d: lz4_frame(d, True)),
        ]
        off = 0
        for name, magic, codec, comp in cases:
            kvs = [(name.encode() + b"-%d" % i, b"value %d" % i) for i in range(3)]
            kvs.append((None, None))
            inner = mset(magic, kvs, ts=TS + off)
            a = self.produce("of-z", wrapper(magic, codec, comp(inner), len(kvs)), 2)
            eq((a["error"], a["base_offset"]), (0, off), name + ": Produce v2")
            b = kw.parse_batches(self.stored("of-z", off))[0]
            eq((b["base_offset"], b["attrs"] & 7, b["crc_ok"]), (off, codec, True),
               name + ": stored in the producer's codec")
            want += [(off + i, k, v) for i, (k, v) in enumerate(kvs)]
            off += len(kvs)
        codecs = [c for _, _, c, _ in cases for _ in range(4)]
        for v in (1, 3):
            wrappers, _ = parse_mset(self.fetch_old(v, "of-z", 0)["records"])
            # one wrapper per stored batch, in its codec, as Kafka down-converts
            eq([m["attrs"] & 7 for m in wrappers], [c for _, _, c, _ in cases],
               "Fetch v%d: one wrapper per batch in the stored codec" % v)
            eq([m["offset"] for m in wrappers], [4 * i + 3 for i in range(len(cases))],
               "Fetch v%d: a wrapper's offset is its last record's" % v)
            if v == 1:  # magic 0 lz4: the header checksum Kafka writes for magic 0
                assert not lz4_hc_ok(wrappers[4]["value"]), "magic 0 lz4 with a right checksum"
            else:
                assert lz4_hc_ok(wrappers[4]["value"]), "magic 1 lz4 with a wrong checksum"
            msgs = expand(wrappers)
            eq([(m["offset"], m["key"], m["value"], m["codec"]) for m in msgs],
               [(o, k, val, c) for (o, k, val), c in zip(want, codecs)],
               "Fetch v%d of every codec, expanded" % v)
            assert all(m["crc_ok"] and m["attrs"] & 7 == 0 for m in msgs), \
                "Fetch v%d: inner messages uncompressed, with good CRCs" % v
            assert all(m["crc_ok"] and m["key"] is None for m in wrappers), \
                "Fetch v%d: wrappers with good CRCs and no key" % v
        # from the middle of a compressed batch: the wrapper holds the records from there
        msgs = expand(parse_mset(self.fetch_old(3, "of-z", 2)["records"])[0])
        eq([m["offset"] for m in msgs][:2], [2, 3], "Fetch v3 from offset 2")
        # v3: the first wrapper whole even over the limit (KIP-74)
        msgs, _ = parse_mset(self.fetch_old(3, "of-z", 0, pmax=60)["records"])
        eq([(m["offset"], m["attrs"] & 7) for m in msgs], [(3, 1)], "Fetch v3 pmax=60")

    def log_append_time(self):
        self.create("of-lat", [("message.timestamp.type", "LogAppendTime")])
        a = self.produce("of-lat", mset(1, [(b"x", b"1")], ts=5), 2)
        eq(a["error"], 0, "Produce v2 LogAppendTime topic")
        assert a["log_append_time"] > TS, "log_append_time %r" % a["log_append_time"]
        msgs, _ = parse_mset(self.fetch_old(3, "of-lat", 0)["records"])
        eq([(m["ts"], m["attrs"]) for m in msgs], [(a["log_append_time"], 8)],
           "Fetch v3: the broker's time, attribute bit 3")

    def headers_dropped(self):
        self.create("of-h")
        a = self.produce("of-h", kw.batch([(b"k", b"v", ((b"h", b"x"),), TS)], TS), 3)
        eq(a["error"], 0, "Produce v3 with a header")
        msgs, _ = parse_mset(self.fetch_old(2, "of-h", 0)["records"])
        eq([(m["key"], m["value"], m["left"]) for m in msgs], [(b"k", b"v", 0)],
           "Fetch v2: the record without its header")

    def magic2_in_v2(self):
        # Kafka does not check the magic of Produce v0-v2 records (ProduceRequest); neither do we
        a = self.produce("of-h", kw.batch([(b"k2", b"v2", (), TS)], TS), 2)
        eq((a["error"], a["base_offset"]), (0, 1), "a v2 batch in Produce v2 is stored")

    def limits(self):
        self.create("of-lim")
        kvs = [(b"k%d" % i, b"x" * 100) for i in range(10)]
        eq(self.produce("of-lim", mset(1, kvs), 2)["error"], 0, "produce 10 x 100 B")
        one = 34 + 2 + 100
        for v in (0, 1, 2):
            msgs, partial = parse_mset(self.fetch_old(v, "of-lim", 0, pmax=3 * one + 5)["records"])
            eq((len(msgs), partial), (3, 0), "Fetch v%d pmax=3.x messages: 3 whole" % v)
        # v0-v2: not even one fits: the first bytes of it (a partial message)
        part = self.fetch_old(1, "of-lim", 0, pmax=50)
        msgs, partial = parse_mset(part["records"])
        eq((len(msgs), partial), (0, 50), "Fetch v1 pmax=50: 50 bytes of a partial message")
        # v3: at least one whole message (KIP-74), and max_bytes over the response
        msgs, partial = parse_mset(self.fetch_old(3, "of-lim", 0, pmax=50)["records"])
        eq((len(msgs), partial), (1, 0), "Fetch v3 pmax=50: one whole message")
        msgs, partial = parse_mset(self.fetch_old(3, "of-lim", 0, max_bytes=2 * one)["records"])
        eq((len(msgs), partial), (2, 0), "Fetch v3 max_bytes=2 messages")
        msgs, partial = parse_mset(self.fetch_old(3, "of-lim", 4, max_bytes=1)["records"])
        eq(([m["offset"] for m in msgs], partial), ([4], 0), "Fetch v3 max_bytes=1 from 4")

    def refuse(self, what, records, version=2, want=CORRUPT_MESSAGE, topic="of-bad"):
        before = self.hwm(topic)
        a = self.produce(topic, records, version)
        eq((a["error"], a["base_offset"]), (want, -1), what + ": (error, base offset)")
        eq(self.hwm(topic), before, what + ": nothing stored")

    def bad_input(self):
        self.create("of-bad", [("max.message.bytes", "100000")])
        good = mset(1, [(b"k", b"v"), (b"k2", b"v2")])
        self.refuse("bad CRC", message(1, b"k", b"v", bad_crc=True))
        self.refuse("bad CRC in the second message", message(1, b"k", b"v") +
                    message(1, b"k", b"v", bad_crc=True, offset=1), version=0)
        self.refuse("bad CRC inside a wrapper",
                    wrapper(1, 1, gzip.compress(message(1, b"k", b"v", bad_crc=True)), 1))
        for cut in (5, 12, 20, len(good) - 1):
            self.refuse("set cut at %d bytes" % cut, good[:cut], version=1)
        self.refuse("size field past the end", kw.i64(0) + kw.i32(1000) + good[12:])
        self.refuse("negative size", kw.i64(0) + kw.i32(-5) + good[12:])
        # a key length larger than the message (CRC correct)
        body = kw.i8(0) + kw.i8(0) + kw.i32(50) + b"ab" + kw.i32(1) + b"v"
        m = struct.pack(">I", zlib.crc32(body)) + body
        self.refuse("key length past the message", kw.i64(0) + kw.i32(len(m)) + m, version=0)
        body = kw.i8(0) + kw.i8(0) + kw.i32(-1) + kw.i32(1) + b"v" + b"junk"
        m = struct.pack(">I", zlib.crc32(body)) + body
        self.refuse("bytes after the value", kw.i64(0) + kw.i32(len(m)) + m, version=0)
        self.refuse("negative timestamp (not -1)", message(1, b"k", b"v", ts=-5))
        self.refuse("magic 3", message(1, b"k", b"v")[:16] + b"\x03" + message(1, b"k", b"v")[17:])
        inner_wrapped = wrapper(1, 1, gzip.compress(good), 2)
        self.refuse("compressed inside compressed", wrapper(1, 1, gzip.compress(inner_wrapped), 1))
        self.refuse("inner magic 0 in a magic 1 wrapper",
                    wrapper(1, 1, gzip.compress(mset(0, [(b"k", b"v")])), 1))
        self.refuse("zstd (no legacy form)", wrapper(1, 4, b"\x28\xb5\x2f\xfd" + b"\0" * 10, 1))
        self.refuse("undecodable gzip", wrapper(1, 1, b"\x1f\x8b" + b"\x55" * 40, 1))
        self.refuse("undecodable lz4", wrapper(0, 3, b"\x04\x22\x4d\x18" + b"\x33" * 30, 1))
        self.refuse("wrapper with a null value", message(1, None, None, attrs=1))
        self.refuse("wrapper of an empty set", wrapper(1, 1, gzip.compress(b""), 1))
        bomb = message(1, None, b"\0" * (10 << 20))
        self.refuse("gzip bomb past the inflate cap", wrapper(1, 1, gzip.compress(bomb, 9), 1))
        self.refuse("set over max.message.bytes",
                    mset(1, [(b"k", b"x" * 60000), (b"k", b"y" * 60000)]), want=MESSAGE_TOO_LARGE)
        self.refuse("empty message set", b"", version=0)
        self.refuse("null records", None, version=1)
        # Fetch v0-v3 on what is not there: answered, never a crash or a closed connection
        for v in (0, 1, 2, 3):
            part = self.fetch_old(v, "of-nope", 0)
            eq((part["error"], part["records"]), (3, b""), "Fetch v%d unknown topic" % v)
            part = self.fetch_old(v, "of-bad", -1)
            eq(part["error"], 1, "Fetch v%d offset -1: OFFSET_OUT_OF_RANGE" % v)
        throttle, part = parse_fetch_old(self.c.request(
            FETCH, 0, fetch_body(0, "of-bad", -7, 0)), 0)
        eq(part["error"], 3, "Fetch v0 partition -7: UNKNOWN_TOPIC_OR_PARTITION")
        # the connection still works, and a good set is stored after all that
        a = self.produce("of-bad", good, 2)
        eq((a["error"], a["base_offset"]), (0, 0), "a good set after the bad ones")

    def txn(self, tid, pid, epoch, topic, value, seq, commit):
        """One transaction of one record on partition 0 (InitProducerId done by the caller)."""
        body = kw.s16(tid) + kw.i64(pid) + kw.i16(epoch)
        r = kw.Reader(self.c.request(24, 1, body + kw.array([kw.s16(topic) +
                                                             kw.array([kw.i32(0)])])))
        r.i32()
        eq(r.array(lambda: (r.str(), r.array(lambda: (r.i32(), r.i16())))),
           [(topic, [(0, 0)])], "AddPartitionsToTxn")
        batch = kw.batch([(b"t", value, (), TS)], TS, pid=pid, epoch=epoch, seq=seq, attrs=0x10)
        resp = self.c.request(PRODUCE, 3, kw.produce_body({topic: {0: batch}}, version=3,
                                                          txn_id=tid))
        eq(kw.parse_produce(resp, 3)["topics"][0][1][0]["error"], 0, "transactional produce")
        r = kw.Reader(self.c.request(26, 1, body + kw.i8(1 if commit else 0)))
        r.i32()
        eq(r.i16(), 0, "EndTxn")

    def transactions(self):
        topic, tid = "of-txn", "of-tx"
        self.create(topic)
        r = kw.Reader(self.c.request(22, 1, kw.s16(tid) + kw.i32(60000)))
        r.i32()
        err, pid, epoch = r.i16(), r.i64(), r.i16()
        eq(err, 0, "InitProducerId")
        self.txn(tid, pid, epoch, topic, b"committed", 0, True)   # offsets 0, marker 1
        self.txn(tid, pid, epoch, topic, b"aborted", 1, False)    # offsets 2, marker 3
        wait_until(lambda: self.hwm(topic) == 4, 30, "both markers written")
        # no isolation level before Fetch v4: read_uncommitted, markers skipped
        msgs, _ = parse_mset(self.fetch_old(2, topic, 0)["records"])
        eq([(m["offset"], m["value"]) for m in msgs], [(0, b"committed"), (2, b"aborted")],
           "Fetch v2 over two transactions")
        # at the trailing marker there is nothing to convert: the fetch must wait for data, not
        # answer at once (an old consumer would fetch in a busy loop)
        a = kw.Conn(self.b.port, 60)
        try:
            a.corr += 1
            a.send(kw.frame(FETCH, 2, a.corr, fetch_body(2, topic, 0, 3, wait=30000)))
            # answered before the next record exists (the bug), it would be empty
            eq(self.produce(topic, message(1, b"k", b"after"), 2)["error"], 0, "produce after")
            corr, body = a.recv_frame()
            _, part = parse_fetch_old(body, 2)
            msgs, _ = parse_mset(part["records"])
            eq([(m["offset"], m["value"]) for m in msgs], [(4, b"after")],
               "the parked Fetch v2 answers with the record after the marker")
        finally:
            a.close()

    def acks0(self):
        self.create("of-acks0")
        self.c.corr += 1
        self.c.send(kw.frame(PRODUCE, 0, self.c.corr, kw.produce_body(
            {"of-acks0": {0: mset(0, [(b"k", b"fire-and-forget")])}}, acks=0, version=0)))
        # no answer to that one: the next answer on the connection is ListOffsets's
        eq(self.hwm("of-acks0"), 1, "acks=0 Produce v0 stored, unanswered")


def main():
    with Eddyd() as b:
        s = Suite(b)
        res = Results(b)
        res.run("produce v0 magic 0: stored as one v2 batch; fetch v0-v3", s.v0_plain)
        res.run("produce v1/v2 magic 1: timestamps kept", s.v1_v2_timestamps)
        res.run("compressed wrappers: gzip, snappy (raw, xerial), lz4 (both checksums)",
                s.compressed)
        res.run("LogAppendTime topic: produce v2 answer, fetch v3 attribute", s.log_append_time)
        res.run("headers are dropped when down-converting", s.headers_dropped)
        res.run("a magic 2 batch in Produce v2 is accepted (as Kafka)", s.magic2_in_v2)
        res.run("fetch limits: partial (v0-v2), at least one (v3), max_bytes", s.limits)
        res.run("bad input: CORRUPT_MESSAGE / MESSAGE_TOO_LARGE, nothing stored", s.bad_input)
        res.run("acks=0 on Produce v0: no answer", s.acks0)
        res.run("transactions: markers skipped, aborted delivered, no busy loop at a marker",
                s.transactions)
        res.run("eddyd stops cleanly (SIGTERM, status 0: no sanitizer report)", b.stop)
        res.finish()


if __name__ == "__main__":
    main()
