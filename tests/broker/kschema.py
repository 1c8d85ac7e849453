"""kschema.py — a Kafka request/response codec for raw-socket tests, driven by the message
definitions eddyd's codec is generated from (src/proto/kafka_messages.json, Apache Kafka's
*.json trimmed): an independent implementation of the wire rules (classic and flexible
encodings, tagged fields, headers v0-v2) in a few lines of Python, so a test can speak any
version of any served API without hand-encoding it.

    c = kschema.Client(port)
    r = c.call("Fetch", 17, {"MaxWaitMs": 0, "Topics": [{"TopicId": tid, "Partitions": [...]}]})
    r["Responses"][0]["Partitions"][0]["ErrorCode"]

Requests: fields missing from the dict take their default (0, "", null per the spec, the
spec's "default"). Tagged fields are sent only when given. Responses: every field of the version
as a dict key (tagged ones when present); uuid as 16 bytes, records as bytes.
"""
import json
import os
import struct

import kwire as kw

HERE = os.path.dirname(os.path.abspath(__file__))
_DEFS = os.path.join(HERE, "..", "..", "src", "proto", "kafka_messages.json")
with open(_DEFS) as _f:
    MSGS = json.load(_f)["messages"]

API_KEYS = {"Produce": 0, "Fetch": 1, "ListOffsets": 2, "Metadata": 3, "OffsetCommit": 8,
            "OffsetFetch": 9, "FindCoordinator": 10, "JoinGroup": 11, "Heartbeat": 12,
            "LeaveGroup": 13, "SyncGroup": 14, "DescribeGroups": 15, "ListGroups": 16,
            "ApiVersions": 18, "CreateTopics": 19, "DeleteTopics": 20, "InitProducerId": 22,
            "AddPartitionsToTxn": 24, "AddOffsetsToTxn": 25, "EndTxn": 26,
            "TxnOffsetCommit": 28, "DescribeConfigs": 32, "DescribeCluster": 60,
            "DescribeTransactions": 65,
            "ListTransactions": 66}


def _in(vs, v):
    if vs is None or vs == "none":
        return False
    if vs.endswith("+"):
        return v >= int(vs[:-1])
    if "-" in vs:
        a, b = vs.split("-")
        return int(a) <= v <= int(b)
    return v == int(vs)


def flexible(msg, v):
    return _in(MSGS[msg].get("flexibleVersions", "none"), v)


def _common(msg):
    return {c["name"]: c["fields"] for c in MSGS[msg].get("commonStructs", [])}


def _default(f, v):
    t = f["type"]
    d = f.get("default")
    nullable = _in(f.get("nullableVersions"), v)
    if d == "null" or (d is None and nullable and t in ("string", "bytes", "records")):
        return None
    if t.startswith("[]"):
        return []
    if t == "bool":
        return d in (True, "true")
    if t in ("string",):
        return d or ""
    if t in ("bytes", "records"):
        return b""
    if t == "uuid":
        return bytes(16)
    if t in ("int8", "int16", "int32", "int64", "uint16", "uint32"):
        return int(d, 0) if isinstance(d, str) else int(d or 0)
    if t == "float64":
        return float(d or 0)
    return {}  # struct


PRIM = {"bool": ">?", "int8": ">b", "int16": ">h", "uint16": ">H", "int32": ">i",
        "uint32": ">I", "int64": ">q", "float64": ">d"}


def _enc_prim(t, x, flex):
    if t in PRIM:
        return struct.pack(PRIM[t], x)
    if t == "uuid":
        assert len(x) == 16
        return bytes(x)
    if t == "string":
        x = None if x is None else x.encode()
    if x is None:
        return kw.uvarint(0) if flex else (kw.i16(-1) if t == "string" else kw.i32(-1))
    if flex:
        return kw.uvarint(len(x) + 1) + x
    return (kw.i16(len(x)) if t == "string" else kw.i32(len(x))) + x


def _enc_struct(fields, obj, v, flex, common):
    out = b""
    tagged = []
    for f in fields:
        if not _in(f.get("versions"), v):
            continue
        if "tag" in f:
            if flex and _in(f.get("taggedVersions"), v) and f["name"] in obj:
                tagged.append((f["tag"], _enc_field(f, obj[f["name"]], v, flex, common)))
            continue
        x = obj.get(f["name"], _default(f, v))
        out += _enc_field(f, x, v, flex, common)
    if flex:
        out += kw.uvarint(len(tagged))
        for tag, data in sorted(tagged):
            out += kw.uvarint(tag) + kw.uvarint(len(data)) + data
    return out


def _sub(f, common):
    return f.get("fields") or common[f["type"].lstrip("[]")]


def _enc_field(f, x, v, flex, common):
    t = f["type"]
    if t.startswith("[]"):
        et = t[2:]
        if x is None:
            return kw.uvarint(0) if flex else kw.i32(-1)
        n = kw.uvarint(len(x) + 1) if flex else kw.i32(len(x))
        if et in PRIM or et in ("string", "bytes", "uuid", "records"):
            return n + b"".join(_enc_prim(et, e, flex) for e in x)
        return n + b"".join(_enc_struct(_sub(f, common), e, v, flex, common) for e in x)
    if t in PRIM or t in ("string", "bytes", "uuid", "records"):
        return _enc_prim("bytes" if t == "records" else t, x, flex)
    return _enc_struct(_sub(f, common), x, v, flex, common)


def encode(msg, v, obj):
    return _enc_struct(MSGS[msg]["fields"], obj, v, flexible(msg, v), _common(msg))


class _R(kw.Reader):
    def take(self, n):
        d = self.b[self.pos:self.pos + n]
        if len(d) != n:
            raise ValueError("truncated")
        self.pos += n
        return bytes(d)


def _dec_prim(r, t, flex):
    if t in PRIM:
        return struct.unpack(PRIM[t], r.take(struct.calcsize(PRIM[t])))[0]
    if t == "uuid":
        return r.take(16)
    if flex:
        n = r.uvarint() - 1
    else:
        n = r.i16() if t == "string" else r.i32()
    if n < 0:
        return None
    d = r.take(n)
    return d.decode() if t == "string" else d


def _dec_field(r, f, v, flex, common):
    t = f["type"]
    if t.startswith("[]"):
        et = t[2:]
        n = r.uvarint() - 1 if flex else r.i32()
        if n < 0:
            return None
        if et in PRIM or et in ("string", "bytes", "uuid", "records"):
            return [_dec_prim(r, et, flex) for _ in range(n)]
        return [_dec_struct(r, _sub(f, common), v, flex, common) for _ in range(n)]
    if t in PRIM or t in ("string", "bytes", "uuid", "records"):
        return _dec_prim(r, "bytes" if t == "records" else t, flex)
    return _dec_struct(r, _sub(f, common), v, flex, common)


def _dec_struct(r, fields, v, flex, common):
    obj = {}
    for f in fields:
        if _in(f.get("versions"), v) and "tag" not in f:
            obj[f["name"]] = _dec_field(r, f, v, flex, common)
    if flex:
        bytag = {f["tag"]: f for f in fields if "tag" in f and _in(f.get("versions"), v)}
        for _ in range(r.uvarint()):
            tag, size = r.uvarint(), r.uvarint()
            data = r.take(size)
            if tag in bytag:
                sub = _R(data)
                obj[bytag[tag]["name"]] = _dec_field(sub, bytag[tag], v, flex, common)
    return obj


def decode(msg, v, body):
    r = _R(body)
    obj = _dec_struct(r, MSGS[msg]["fields"], v, flexible(msg, v), _common(msg))
    if r.left():
        raise AssertionError("%s v%d: %d trailing bytes" % (msg, v, r.left()))
    return obj


class Client:
    """One connection; call(api, version, request dict) -> response dict."""

    def __init__(self, port, timeout=10.0):
        self.c = kw.Conn(port, timeout)

    def call(self, api, v, req):
        flex = flexible(api + "Request", v)
        body = encode(api + "Request", v, req)
        resp = self.c.request(API_KEYS[api], v, body, flexible=flex)
        if flex and api != "ApiVersions":  # response header v1: tagged fields
            r = _R(resp)
            for _ in range(r.uvarint()):
                r.uvarint()
                r.take(r.uvarint())
            resp = resp[r.pos:]
        return decode(api + "Response", v, resp)

    def close(self):
        self.c.close()
