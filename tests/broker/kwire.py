"""kwire — minimal hand-written Kafka wire encoders/decoders for the raw-socket tests.

Written from kafka-protocol.md (§2 framing, §3 RecordBatch v2, §4 Fetch) and Kafka's message
JSON definitions; only the non-flexible versions the tests use (ApiVersions v0/v3, Metadata v1,
Produce v0-v3/v7, Fetch v4, ListOffsets v1). No client library is involved, so the bytes on the
wire are exactly what each test says.
"""
import socket
import struct

# ---- CRC-32C (Castagnoli, reflected 0x82F63B78) ----
_T = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _T.append(_c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    t = _T
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# ---- primitives ----
def i8(v): return struct.pack(">b", v)
def i16(v): return struct.pack(">h", v)
def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)


def s16(b):
    """STRING / NULLABLE_STRING (None = -1)."""
    if b is None:
        return i16(-1)
    if isinstance(b, str):
        b = b.encode()
    return i16(len(b)) + b


def bytes32(b):
    return i32(-1) if b is None else i32(len(b)) + b


def array(items):
    return i32(-1) if items is None else i32(len(items)) + b"".join(items)


def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(n):
    """Zigzag-signed (record-level) varint/varlong."""
    return uvarint((n << 1) ^ (n >> 63))


# ---- RecordBatch v2 ----
def record(offset_delta, ts_delta, key, value, headers=()):
    body = b"\x00" + varint(ts_delta) + varint(offset_delta)
    body += varint(-1) if key is None else varint(len(key)) + key
    body += varint(-1) if value is None else varint(len(value)) + value
    body += varint(len(headers))
    for hk, hv in headers:
        body += varint(len(hk)) + hk
        body += varint(-1) if hv is None else varint(len(hv)) + hv
    return varint(len(body)) + body


def batch(recs, base_ts, pid=-1, epoch=-1, seq=-1, attrs=0, leader_epoch=-1, bad_crc=False,
          magic=2, last_offset_delta=None, count=None):
    """recs: [(key, value, headers, ts)]. Returns the batch bytes (baseOffset 0)."""
    raw = b"".join(record(i, ts - base_ts, k, v, h) for i, (k, v, h, ts) in enumerate(recs))
    n = len(recs)
    max_ts = max(r[3] for r in recs) if recs else base_ts
    after_crc = struct.pack(">hiqqqhii", attrs, n - 1 if last_offset_delta is None
                            else last_offset_delta, base_ts, max_ts, pid, epoch, seq,
                            n if count is None else count) + raw
    crc = crc32c(after_crc)
    if bad_crc:
        crc ^= 0x5A5A5A5A
    rest = struct.pack(">ibI", leader_epoch, magic, crc) + after_crc
    return i64(0) + i32(len(rest)) + rest


def parse_batches(data):
    """Decode the whole RecordBatch v2 batches in `data` (a trailing partial one is ignored).
    Returns [{base_offset, magic, crc_ok, attrs, records: [(offset, key, value, headers)]}]."""
    out = []
    pos = 0
    while pos + 12 <= len(data):
        base, blen = struct.unpack_from(">qi", data, pos)
        if pos + 12 + blen > len(data):
            break
        b = data[pos:pos + 12 + blen]
        pos += 12 + blen
        _ple, magic, crc = struct.unpack_from(">ibI", b, 12)
        attrs, _lod, _bts, _mts, _pid, _ep, _seq, n = struct.unpack_from(">hiqqqhii", b, 21)
        ent = {"base_offset": base, "magic": magic, "crc_ok": crc32c(b[21:]) == crc,
               "attrs": attrs, "records": []}
        if attrs & 7 == 0:
            r = _VarReader(b, 61)
            for _ in range(n):
                r.varint()  # length
                r.pos += 1  # attributes
                r.varint()  # ts delta
                od = r.varint()
                k = r.blob()
                v = r.blob()
                hs = [(r.blob(), r.blob()) for _ in range(r.varint())]
                ent["records"].append((base + od, k, v, hs))
        out.append(ent)
    return out


class _VarReader:
    def __init__(self, b, pos):
        self.b, self.pos = b, pos

    def varint(self):
        shift = res = 0
        while True:
            c = self.b[self.pos]
            self.pos += 1
            res |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                return (res >> 1) ^ -(res & 1)

    def blob(self):
        n = self.varint()
        if n < 0:
            return None
        v = self.b[self.pos:self.pos + n]
        self.pos += n
        return bytes(v)


# ---- requests ----
def frame(api_key, version, corr, body, client_id=b"it-raw", flexible=False):
    hdr = i16(api_key) + i16(version) + i32(corr) + s16(client_id)
    if flexible:
        hdr += b"\x00"  # request header v2: empty tagged-field buffer
    msg = hdr + body
    return i32(len(msg)) + msg


def produce_body(topic_parts, acks=-1, timeout_ms=10000, version=7, txn_id=None):
    """topic_parts: {topic: {partition: records_bytes}}."""
    body = b""
    if version >= 3:
        body += s16(txn_id)
    body += i16(acks) + i32(timeout_ms)
    body += array([s16(t) + array([i32(p) + bytes32(rec) for p, rec in parts.items()])
                   for t, parts in topic_parts.items()])
    return body


def fetch_body_v4(topic_parts, max_wait_ms=100, min_bytes=1, max_bytes=1 << 20, isolation=0):
    """topic_parts: {topic: {partition: fetch_offset}}."""
    return (i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(isolation) +
            array([s16(t) + array([i32(p) + i64(off) + i32(1 << 20) for p, off in parts.items()])
                   for t, parts in topic_parts.items()]))


def metadata_body_v1(topics):
    return array(None if topics is None else [s16(t) for t in topics])


def list_offsets_body_v1(topic_parts):
    """topic_parts: {topic: {partition: timestamp}}."""
    return i32(-1) + array([s16(t) + array([i32(p) + i64(ts) for p, ts in parts.items()])
                            for t, parts in topic_parts.items()])


# ---- responses ----
class Reader:
    def __init__(self, b):
        self.b, self.pos = b, 0

    def _u(self, fmt, n):
        if self.pos + n > len(self.b):
            raise ValueError("response truncated at byte %d (need %d more, have %d)"
                             % (self.pos, n, len(self.b) - self.pos))
        v = struct.unpack_from(fmt, self.b, self.pos)[0]
        self.pos += n
        return v

    def i8(self): return self._u(">b", 1)
    def i16(self): return self._u(">h", 2)
    def i32(self): return self._u(">i", 4)
    def i64(self): return self._u(">q", 8)

    def str(self):
        n = self.i16()
        if n < 0:
            return None
        v = self.b[self.pos:self.pos + n].decode()
        self.pos += n
        return v

    def bytes(self):
        n = self.i32()
        if n < 0:
            return None
        v = self.b[self.pos:self.pos + n]
        self.pos += n
        return bytes(v)

    def array(self, fn):
        n = self.i32()
        if n < 0:
            return None
        if n > len(self.b) - self.pos:
            raise ValueError("array count %d exceeds the bytes left" % n)
        return [fn() for _ in range(n)]

    def uvarint(self):
        shift = res = 0
        while True:
            c = self.b[self.pos]
            self.pos += 1
            res |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                return res

    def left(self):
        return len(self.b) - self.pos


def parse_api_versions_v0(body, with_throttle=False):
    r = Reader(body)
    err = r.i16()
    apis = r.array(lambda: (r.i16(), r.i16(), r.i16()))
    throttle = r.i32() if with_throttle else None
    return err, {k: (lo, hi) for k, lo, hi in (apis or [])}, throttle, r.left()


def parse_metadata_v1(body):
    r = Reader(body)
    brokers = r.array(lambda: (r.i32(), r.str(), r.i32(), r.str()))
    controller = r.i32()

    def part():
        return {"error": r.i16(), "partition": r.i32(), "leader": r.i32(),
                "replicas": r.array(r.i32), "isr": r.array(r.i32)}

    topics = r.array(lambda: {"error": r.i16(), "name": r.str(), "internal": r.i8(),
                              "partitions": r.array(part)})
    return {"brokers": brokers, "controller": controller, "topics": topics, "left": r.left()}


def parse_produce(body, version):
    r = Reader(body)

    def part():
        d = {"partition": r.i32(), "error": r.i16(), "base_offset": r.i64()}
        if version >= 2:
            d["log_append_time"] = r.i64()
        if version >= 5:
            d["log_start_offset"] = r.i64()
        return d

    topics = r.array(lambda: (r.str(), r.array(part)))
    throttle = r.i32() if version >= 1 else None
    return {"topics": topics, "throttle": throttle, "left": r.left()}


def parse_fetch_v4(body):
    r = Reader(body)
    throttle = r.i32()

    def part():
        d = {"partition": r.i32(), "error": r.i16(), "hwm": r.i64(), "lso": r.i64()}
        d["aborted"] = r.array(lambda: (r.i64(), r.i64()))
        n = r.i32()
        d["records_len"] = n
        d["records"] = b"" if n < 0 else bytes(r.b[r.pos:r.pos + n])
        r.pos += max(n, 0)
        return d

    topics = r.array(lambda: (r.str(), r.array(part)))
    return {"throttle": throttle, "topics": topics, "left": r.left()}


def parse_list_offsets_v1(body):
    r = Reader(body)
    topics = r.array(lambda: (r.str(), r.array(
        lambda: {"partition": r.i32(), "error": r.i16(), "timestamp": r.i64(),
                 "offset": r.i64()})))
    return {"topics": topics, "left": r.left()}


# ---- a connection ----
class Closed(Exception):
    pass


class Conn:
    def __init__(self, port, timeout=10.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.corr = 0

    def send(self, data):
        self.s.sendall(data)

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            try:
                c = self.s.recv(n - len(buf))
            except ConnectionResetError:
                raise Closed("connection reset") from None
            except socket.timeout:
                raise TimeoutError("no data within %ss" % self.timeout) from None
            if not c:
                raise Closed("connection closed by the broker")
            buf += c
        return buf

    def recv_frame(self):
        """Returns (correlation_id, body) of one response (header v0)."""
        (n,) = struct.unpack(">i", self._read(4))
        if n < 4 or n > 256 << 20:
            raise ValueError("bad response size %d" % n)
        data = self._read(n)
        return struct.unpack_from(">i", data)[0], data[4:]

    def request(self, api_key, version, body, flexible=False):
        self.corr += 1
        self.send(frame(api_key, version, self.corr, body, flexible=flexible))
        corr, resp = self.recv_frame()
        if corr != self.corr:
            raise AssertionError("correlation id %d in answer to %d" % (corr, self.corr))
        return resp

    def expect_closed(self, what):
        """The broker must close the connection without answering."""
        try:
            data = self.s.recv(65536)
        except ConnectionResetError:
            return
        except socket.timeout:
            raise AssertionError("%s: connection still open after %ss (expected the broker to "
                                 "close it)" % (what, self.timeout)) from None
        if data:
            raise AssertionError("%s: got %d bytes (%r…) instead of a closed connection"
                                 % (what, len(data), data[:24]))

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass
