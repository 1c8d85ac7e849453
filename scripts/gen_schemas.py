#!/usr/bin/env python3
"""Generates src/proto/api_gen.c: the codec's kschema/kfield tables.

The field names, types and version ranges are facts of the Kafka protocol, published as the
message definitions (`clients/src/main/resources/common/message/*.json` in Apache Kafka). This
script reads a directory of those definitions and writes our own C tables for the APIs Eddy
serves, clipped to the version range the codec supports (API_RANGES below).

usage: scripts/gen_schemas.py MESSAGE_JSON_DIR > src/proto/api_gen.c
"""
import json
import os
import re
import sys

# key: (name, codec min, codec max)
API_RANGES = {
    0: ("Produce", 0, 11),
    1: ("Fetch", 0, 12),
    2: ("ListOffsets", 0, 7),
    3: ("Metadata", 0, 12),
    8: ("OffsetCommit", 0, 9),
    9: ("OffsetFetch", 0, 9),
    10: ("FindCoordinator", 0, 4),
    11: ("JoinGroup", 0, 9),
    12: ("Heartbeat", 0, 4),
    13: ("LeaveGroup", 0, 5),
    14: ("SyncGroup", 0, 5),
    15: ("DescribeGroups", 0, 5),
    16: ("ListGroups", 0, 4),
    17: ("SaslHandshake", 0, 1),
    18: ("ApiVersions", 0, 4),
    19: ("CreateTopics", 0, 7),
    20: ("DeleteTopics", 0, 6),
    21: ("DeleteRecords", 0, 2),
    22: ("InitProducerId", 0, 5),
    23: ("OffsetForLeaderEpoch", 0, 4),
    24: ("AddPartitionsToTxn", 0, 3),
    25: ("AddOffsetsToTxn", 0, 3),
    26: ("EndTxn", 0, 3),
    28: ("TxnOffsetCommit", 0, 3),
    32: ("DescribeConfigs", 0, 4),
    33: ("AlterConfigs", 0, 2),
    36: ("SaslAuthenticate", 0, 2),
    37: ("CreatePartitions", 0, 3),
    42: ("DeleteGroups", 0, 2),
    44: ("IncrementalAlterConfigs", 0, 1),
    47: ("OffsetDelete", 0, 0),
    60: ("DescribeCluster", 0, 1),
    61: ("DescribeProducers", 0, 0),
    65: ("DescribeTransactions", 0, 0),
    66: ("ListTransactions", 0, 0),
}

PRIM = {
    "bool": "KT_BOOL", "int8": "KT_INT8", "int16": "KT_INT16", "uint16": "KT_UINT16",
    "int32": "KT_INT32", "uint32": "KT_UINT32", "int64": "KT_INT64", "float64": "KT_FLOAT64",
    "uuid": "KT_UUID", "string": "KT_STRING", "bytes": "KT_BYTES", "records": "KT_RECORDS",
}


def load(path):
    with open(path) as f:
        text = "\n".join(l for l in f.read().split("\n") if not l.strip().startswith("//"))
    return json.loads(text)


def vrange(s, lo, hi):
    """'3+', '0-5', 'none' -> (min, max) clipped to [lo, hi], or None."""
    if s is None or s == "none":
        return None
    if s.endswith("+"):
        a, b = int(s[:-1]), 0x7FFF
    elif "-" in s:
        a, b = (int(x) for x in s.split("-"))
    else:
        a = b = int(s)
    a, b = max(a, lo), min(b, hi)
    if a > b:
        return None
    return a, b


def cident(s):
    return re.sub(r"[^A-Za-z0-9_]", "_", s)


def parse_default(d, ctype):
    if d is None:
        return "0"
    if d == "null":
        return "1"
    if isinstance(d, bool):
        return "1" if d else "0"
    if isinstance(d, (int, float)):
        return str(int(d))
    s = str(d)
    if s in ("true", "false"):
        return "1" if s == "true" else "0"
    if ctype in ("KT_STRING", "KT_BYTES", "KT_RECORDS", "KT_UUID"):
        return "0"
    try:
        return str(int(s, 0)) + "LL"
    except ValueError:
        return "0"


class Gen:
    def __init__(self):
        self.out = []  # emitted struct definitions, innermost first

    def struct(self, cname, sname, fields, common, lo, hi):
        rows = []
        for f in fields:
            # fields outside the served range are kept (never present) so that code naming
            # them reads their default instead of failing the name lookup
            vr = vrange(f.get("versions"), lo, hi) or (-1, -1)
            t = f["type"]
            elem = "0"
            sub = "NULL"
            if t.startswith("[]"):
                et = t[2:]
                ctype = "KT_ARRAY"
                if et in PRIM:
                    elem = PRIM[et]
                else:
                    elem = "KT_STRUCT"
                    sub = self.sub(cname, sname, f, et, common, lo, hi)
            elif t in PRIM:
                ctype = PRIM[t]
            else:
                ctype = "KT_STRUCT"
                sub = self.sub(cname, sname, f, t, common, lo, hi)
            nr = vrange(f.get("nullableVersions"), lo, hi) or (-1, -1)
            tag = f.get("tag")
            tr = vrange(f.get("taggedVersions"), lo, hi) if tag is not None else None
            if tag is not None and tr is None:
                vr = (-1, -1)  # tagged only in versions we don't serve
            rows.append('    {"%s", %s, %s, %d, %d, %d, %d, %d, %d, %s, %s},' % (
                f["name"], ctype, elem, vr[0], vr[1], nr[0], nr[1],
                tag if tag is not None else -1, tr[0] if tr else 0,
                sub if sub == "NULL" else "&" + sub, parse_default(f.get("default"), ctype)))
        body = "\n".join(rows) if rows else ""
        self.out.append("static const kfield %s_f[] = {\n%s\n    {0}\n};\n"
                        "static const kschema %s = {\"%s\", %d, %s_f};\n"
                        % (cname, body, cname, sname, len(rows), cname))
        return cname

    def sub(self, cname, sname, f, tname, common, lo, hi):
        fields = f.get("fields")
        if fields is None:
            fields = common[tname]["fields"]
        return self.struct(cname + "_" + cident(f["name"]), sname + "." + f["name"], fields,
                           common, lo, hi)


def main():
    d = sys.argv[1]
    g = Gen()
    apis = []
    for key in sorted(API_RANGES):
        name, lo, hi = API_RANGES[key]
        req = load(os.path.join(d, name + "Request.json"))
        resp = load(os.path.join(d, name + "Response.json"))
        vmin, vmax = (int(x) for x in req["validVersions"].split("-")) \
            if "-" in req["validVersions"] else (int(req["validVersions"]),) * 2
        if key != 18:  # ApiVersions v4 has the v3 layout
            hi = min(hi, vmax)
        lo = max(lo, vmin)
        flex = req.get("flexibleVersions", "none")
        fmin = -1 if flex == "none" else int(flex.rstrip("+"))
        names = []
        for doc, suffix in ((req, "Request"), (resp, "Response")):
            common = {c["name"]: c for c in doc.get("commonStructs", [])}
            cname = "s_" + name + suffix
            g.struct(cname, name + suffix, doc["fields"], common, lo, hi)
            names.append(cname)
        apis.append((key, name, lo, hi, fmin if fmin <= hi else -1, names[0], names[1]))
    print("/* api_gen — the codec's message tables: request and response body layouts of every")
    print(" * API eddyd and its tests speak, per version (generated by scripts/gen_schemas.py from")
    print(" * the Kafka protocol's message definitions; field names are the spec's names). */")
    print('#include "proto/kmsg.h"\n')
    print("#include <stddef.h>\n")
    print("\n".join(g.out))
    print("static const kapi g_apis[] = {")
    for key, name, lo, hi, fmin, rq, rs in apis:
        print('    {%d, "%s", %d, %d, %d, &%s, &%s},' % (key, name, lo, hi, fmin, rq, rs))
    print("};\n")
    print("const kapi *kapi_get(int16_t key)")
    print("{")
    print("    for (size_t i = 0; i < sizeof g_apis / sizeof g_apis[0]; i++)")
    print("        if (g_apis[i].key == key) return &g_apis[i];")
    print("    return NULL;")
    print("}")


main()
