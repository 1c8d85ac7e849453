#!/usr/bin/env python3
"""Generates the codec's tables: api_gen.c (kschema/kfield rows) and api_gen.h (API keys and
field constants), into the build tree.

The field names, types and version ranges are facts of the Kafka protocol, published as the
message definitions (`clients/src/main/resources/common/message/*.json` in Apache Kafka). This
script reads a directory of those definitions and writes our own C tables for the APIs Eddy
serves, clipped to the version range the codec supports (API_RANGES below).

Names emitted in api_gen.h (all the protocol's own spelling, so code greps against the spec):
  API_<Api>                  API key, e.g. API_Produce = 0, API_JoinGroup = 11.
  <Message>_<Field>          field of a request/response body, e.g. ProduceRequest_Acks.
  <StructType>_<Field>       field of a nested struct, named after the struct's type in the
                             spec ("type": "[]TopicProduceData"), e.g. TopicProduceData_Name.
  <Message>_<StructType>_<Field>
                             the same, when two served messages define different structs under
                             one type name (e.g. FetchResponse_EpochEndOffset_Epoch and
                             OffsetForLeaderEpochResponse_EpochEndOffset_ErrorCode).
  KS_<name>                  the struct's id (kschema.id): a field constant is
                             (struct id << 8) | field index, so accessors check that the
                             constant belongs to the message they are given.
A struct type that two messages define alike (same field names in the same order, e.g.
AlterConfigsResource in AlterConfigs and IncrementalAlterConfigs) has one name. Ids are per
shape (the list of field names): structs of one shape share an id, so a constant of one reads the
same-named field of the other (OffsetFetch's v0-v7 OffsetFetchResponsePartition and v8+
OffsetFetchResponsePartitions are served by one function).

The build does not need Apache Kafka's tree: the definitions of the served messages, trimmed to
what this script reads, are kept in src/proto/kafka_messages.json (data, checked in), and the build
generates api_gen.[ch] from it into the build tree (src/proto/CMakeLists.txt).

usage:
  scripts/gen_schemas.py extract KAFKA_MESSAGE_DIR [MESSAGES_JSON]
      refresh the trimmed definitions from a Kafka checkout's
      clients/src/main/resources/common/message (MESSAGES_JSON default:
      src/proto/kafka_messages.json)
  scripts/gen_schemas.py MESSAGES_JSON OUT_DIR
      write OUT_DIR/api_gen.c and OUT_DIR/api_gen.h (what the build runs)
"""
import json
import os
import re
import sys

# key: (name, codec min, codec max)
API_RANGES = {
    0: ("Produce", 0, 13),
    1: ("Fetch", 0, 18),
    2: ("ListOffsets", 0, 11),
    3: ("Metadata", 0, 13),
    8: ("OffsetCommit", 0, 10),
    9: ("OffsetFetch", 0, 10),
    10: ("FindCoordinator", 0, 6),
    11: ("JoinGroup", 0, 9),
    12: ("Heartbeat", 0, 4),
    13: ("LeaveGroup", 0, 5),
    14: ("SyncGroup", 0, 5),
    15: ("DescribeGroups", 0, 6),
    16: ("ListGroups", 0, 5),
    17: ("SaslHandshake", 0, 1),
    18: ("ApiVersions", 0, 4),
    19: ("CreateTopics", 0, 7),
    20: ("DeleteTopics", 0, 6),
    21: ("DeleteRecords", 0, 2),
    22: ("InitProducerId", 0, 5),
    23: ("OffsetForLeaderEpoch", 0, 4),
    24: ("AddPartitionsToTxn", 0, 5),
    25: ("AddOffsetsToTxn", 0, 4),
    26: ("EndTxn", 0, 5),
    28: ("TxnOffsetCommit", 0, 4),
    29: ("DescribeAcls", 0, 3),
    30: ("CreateAcls", 0, 3),
    31: ("DeleteAcls", 0, 3),
    32: ("DescribeConfigs", 0, 4),
    33: ("AlterConfigs", 0, 2),
    36: ("SaslAuthenticate", 0, 2),
    37: ("CreatePartitions", 0, 3),
    42: ("DeleteGroups", 0, 2),
    44: ("IncrementalAlterConfigs", 0, 1),
    47: ("OffsetDelete", 0, 0),
    48: ("DescribeClientQuotas", 0, 1),
    49: ("AlterClientQuotas", 0, 1),
    50: ("DescribeUserScramCredentials", 0, 0),
    51: ("AlterUserScramCredentials", 0, 0),
    60: ("DescribeCluster", 0, 2),
    61: ("DescribeProducers", 0, 0),
    65: ("DescribeTransactions", 0, 0),
    66: ("ListTransactions", 0, 1),
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


def struct_fields(f, tname, common):
    fields = f.get("fields")
    return fields if fields is not None else common[tname]["fields"]


def nested_types(doc):
    """(type name, field-name list) of every nested struct of a message, in walk order."""
    common = {c["name"]: c for c in doc.get("commonStructs", [])}
    out = []

    def walk(fields):
        for f in fields:
            t = f["type"]
            et = t[2:] if t.startswith("[]") else t
            if et in PRIM:
                continue
            sub = struct_fields(f, et, common)
            out.append((et, tuple(x["name"] for x in sub)))
            walk(sub)

    walk(doc["fields"])
    return out


class Gen:
    def __init__(self, qualified):
        self.out = []  # emitted struct definitions, innermost first
        self.qualified = qualified  # struct type names that need the message prefix
        self.ids = {}  # constant name of a struct -> (id, field names, where used)
        self.order = []
        self.shapes = {}  # field names -> id: one id per shape (see KS_ in api_gen.h)

    def struct_id(self, kname, fnames, where):
        if kname not in self.ids:
            sid = self.shapes.setdefault(fnames, len(self.shapes) + 1)
            self.ids[kname] = [sid, fnames, []]
            self.order.append(kname)
        ent = self.ids[kname]
        if ent[1] != fnames:
            sys.exit("gen_schemas: %s names two different structs" % kname)
        if len(fnames) > 255:
            sys.exit("gen_schemas: %s has more than 255 fields" % kname)
        ent[2].append(where)
        return ent[0]

    def struct(self, cname, sname, kname, msg, fields, common, lo, hi):
        rows = []
        for f in fields:
            # fields outside the served range are kept (never present) so that every field
            # constant of the spec exists and reads its default at versions we don't serve
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
                    sub = self.sub(cname, sname, msg, f, et, common, lo, hi)
            elif t in PRIM:
                ctype = PRIM[t]
            else:
                ctype = "KT_STRUCT"
                sub = self.sub(cname, sname, msg, f, t, common, lo, hi)
            nr = vrange(f.get("nullableVersions"), lo, hi) or (-1, -1)
            tag = f.get("tag")
            tr = vrange(f.get("taggedVersions"), lo, hi) if tag is not None else None
            if tag is not None and tr is None:
                vr = (-1, -1)  # tagged only in versions we don't serve
            rows.append('    {"%s", %s, %s, %d, %d, %d, %d, %d, %d, %s, %s},' % (
                f["name"], ctype, elem, vr[0], vr[1], nr[0], nr[1],
                tag if tag is not None else -1, tr[0] if tr else 0,
                sub if sub == "NULL" else "&" + sub, parse_default(f.get("default"), ctype)))
        self.struct_id(kname, tuple(f["name"] for f in fields), sname)
        body = "\n".join(rows) if rows else ""
        self.out.append("static const kfield %s_f[] = {\n%s\n    {0}\n};\n"
                        "static const kschema %s = {\"%s\", %d, %s_f, KS_%s};\n"
                        % (cname, body, cname, sname, len(rows), cname, kname))
        return cname

    def sub(self, cname, sname, msg, f, tname, common, lo, hi):
        kname = msg + "_" + tname if tname in self.qualified else tname
        return self.struct(cname + "_" + cident(f["name"]), sname + "." + f["name"], kname, msg,
                           struct_fields(f, tname, common), common, lo, hi)


HEADER_DOC = """/* api_gen.h — the codec's names: API keys and field constants (generated in the build tree
 * by scripts/gen_schemas.py from src/proto/kafka_messages.json, the Kafka protocol's message
 * definitions, with api_gen.c).
 *
 * Naming (the protocol's own spelling, so code greps against the spec):
 *   API_<Api>                        API key: API_Produce = 0, API_JoinGroup = 11
 *   <Message>_<Field>                field of a body: ProduceRequest_Acks
 *   <StructType>_<Field>             field of a nested struct, named after the struct's type
 *                                    in the spec ("[]TopicProduceData"): TopicProduceData_Name
 *   <Message>_<StructType>_<Field>   the same where two served messages define different
 *                                    structs under one type name (FetchResponse_EpochEndOffset_Epoch)
 * A constant is KFIELD(struct id, field index): the accessors of kmsg.h index with it and check
 * that it belongs to the message they are given. Ids are per shape (the list of field names):
 * structs of one shape share an id, so a constant of one reads the same-named field of the
 * other. Each struct below says where it is used.
 */
/* clang-format off */"""


# the keys of a definition this script reads; the rest (about, mapKey, entityType, …) is dropped
DOC_KEYS = ("name", "validVersions", "flexibleVersions", "fields", "commonStructs")
FIELD_KEYS = ("name", "type", "versions", "nullableVersions", "tag", "taggedVersions", "default",
              "fields")


# Versions Kafka 4.x released after the commit the definitions were last extracted from
# (1eb7644): (message, version, fields added at the end of the body at that version, by-id or
# insert edits). Read against Kafka 4.3's own definitions (vendored by kafka-python under
# kafka/protocol/schemas/resources): ProduceRequest/Response.json ("Version 12 is the same as
# version 11 (KIP-890)"), MetadataResponse.json (v13: top-level "ErrorCode", int16, "13+", the
# last field; KIP-1102), OffsetCommit/OffsetFetch Request/Response.json ("Version 10 adds
# support for topic ids and removes support for topic names (KIP-848)": the topic's "Name"
# stops at v9 and a "TopicId" uuid "10+" follows it), Produce v13 ("replaces topic names with
# topic IDs (KIP-516)": the same at 13), Fetch v18 (request: a tagged "HighWatermark" int64,
# tag 1, after ReplicaDirectoryId; KIP-1166; the response is v17's), DescribeGroups v6 (response:
# a nullable "ErrorMessage" after the group's ErrorCode; KIP-1043), DescribeCluster v2 (request:
# "IncludeFencedBrokers" bool last; response: "IsFenced" bool after a broker's Rack; KIP-1073),
# ListOffsets v11 (no new field: timestamp -6, earliest pending upload; KIP-1023).
# A by-id edit is (path of the topic list from the body, first version with ids): that list's
# "Name" ends the version before and a "TopicId" field comes right after it. An insert edit is
# (path of the struct list, "" for the body; the field it follows; the field). extract applies
# them only to a checkout whose validVersions stop below: a Kafka 4.x checkout already has them,
# and its text wins.
LATER_VERSIONS = [
    ("ProduceRequest", 12, [], []),
    ("ProduceResponse", 12, [], []),
    ("ProduceRequest", 13, [], [("TopicData", 13)]),
    ("ProduceResponse", 13, [], [("Responses", 13)]),
    ("MetadataRequest", 13, [], []),
    ("MetadataResponse", 13, [{"name": "ErrorCode", "type": "int16", "versions": "13+"}], []),
    ("OffsetCommitRequest", 10, [], [("Topics", 10)]),
    ("OffsetCommitResponse", 10, [], [("Topics", 10)]),
    ("OffsetFetchRequest", 10, [], [("Groups.Topics", 10)]),
    ("OffsetFetchResponse", 10, [], [("Groups.Topics", 10)]),
    ("FetchRequest", 18, [], [("Topics.Partitions", "ReplicaDirectoryId", {
        "name": "HighWatermark", "type": "int64", "versions": "18+",
        "default": "9223372036854775807", "taggedVersions": "18+", "tag": 1})]),
    ("FetchResponse", 18, [], []),
    ("ListOffsetsRequest", 11, [], []),
    ("ListOffsetsResponse", 11, [], []),
    ("DescribeGroupsRequest", 6, [], []),
    ("DescribeGroupsResponse", 6, [], [("Groups", "ErrorCode", {
        "name": "ErrorMessage", "type": "string", "versions": "6+", "nullableVersions": "6+",
        "default": "null"})]),
    ("DescribeClusterRequest", 2, [{"name": "IncludeFencedBrokers", "type": "bool",
                                    "versions": "2+"}], []),
    ("DescribeClusterResponse", 2, [], [("Brokers", "Rack", {
        "name": "IsFenced", "type": "bool", "versions": "2+"})]),
]


def insert_after(fields, path, after, field):
    """field goes right after the field named after, in the struct list at path."""
    for name in filter(None, path.split(".")):
        fields = next(f for f in fields if f["name"] == name)["fields"]
    i = next(k for k, f in enumerate(fields) if f["name"] == after)
    fields.insert(i + 1, dict(field))


def by_id(fields, path, v):
    """The topic list at path (dotted field names) gets topic ids from version v on."""
    head, _, rest = path.partition(".")
    lst = next(f for f in fields if f["name"] == head)
    if rest:
        by_id(lst["fields"], rest, v)
        return
    sub = lst["fields"]
    i = next(k for k, f in enumerate(sub) if f["name"] == "Name")
    sub[i] = dict(sub[i], versions="%s-%d" % (sub[i]["versions"].rstrip("+"), v - 1))
    sub.insert(i + 1, {"name": "TopicId", "type": "uuid", "versions": "%d+" % v})


def add_later_versions(msgs):
    for name, v, fields, edits in LATER_VERSIONS:
        doc = msgs[name]
        lo, _, hi = doc["validVersions"].partition("-")
        if int(hi or lo) >= v:
            continue
        doc["validVersions"] = "%s-%d" % (lo, v)
        doc["fields"] += [dict(f) for f in fields]
        for e in edits:
            if len(e) == 2:
                by_id(doc["fields"], *e)
            else:
                insert_after(doc["fields"], *e)


def trim_fields(fields):
    out = []
    for f in fields:
        t = {k: f[k] for k in FIELD_KEYS if k in f}
        if "fields" in t:
            t["fields"] = trim_fields(t["fields"])
        out.append(t)
    return out


def extract(kafka_dir, out_json):
    msgs = {}
    for key in sorted(API_RANGES):
        for suffix in ("Request", "Response"):
            name = API_RANGES[key][0] + suffix
            doc = load(os.path.join(kafka_dir, name + ".json"))
            t = {k: doc[k] for k in DOC_KEYS if k in doc}
            t["fields"] = trim_fields(doc["fields"])
            if "commonStructs" in t:
                t["commonStructs"] = [{"name": c["name"], "fields": trim_fields(c["fields"])}
                                      for c in doc["commonStructs"]]
            msgs[name] = t
    add_later_versions(msgs)
    with open(out_json, "w") as f:
        json.dump({"about": "The Kafka protocol's message definitions of the APIs eddyd serves, "
                            "trimmed to what scripts/gen_schemas.py reads (from Apache Kafka's "
                            "clients/src/main/resources/common/message). Data: the build generates "
                            "api_gen.[ch] from it. Refresh with scripts/gen_schemas.py extract.",
                   "messages": msgs}, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "proto")
    if len(sys.argv) >= 3 and sys.argv[1] == "extract":
        extract(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else
                os.path.join(here, "kafka_messages.json"))
        return
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        msgs = json.load(f)["messages"]
    outdir = sys.argv[2]
    docs = []
    for key in sorted(API_RANGES):
        name = API_RANGES[key][0]
        docs.append((key, msgs[name + "Request"], msgs[name + "Response"]))
    # a struct type name defined differently by two messages is qualified by the message name
    defs = {}
    for key, req, resp in docs:
        for doc in (req, resp):
            for tname, fnames in nested_types(doc):
                defs.setdefault(tname, set()).add(fnames)
    qualified = {t for t, v in defs.items() if len(v) > 1}
    g = Gen(qualified)
    apis = []
    for key, req, resp in docs:
        name, lo, hi = API_RANGES[key]
        vmin, vmax = (int(x) for x in req["validVersions"].split("-")) \
            if "-" in req["validVersions"] else (int(req["validVersions"]),) * 2
        if name != "ApiVersions":  # ApiVersions v4 has the v3 layout
            hi = min(hi, vmax)
        lo = max(lo, vmin)
        flex = req.get("flexibleVersions", "none")
        fmin = -1 if flex == "none" else int(flex.rstrip("+"))
        names = []
        for doc, suffix in ((req, "Request"), (resp, "Response")):
            common = {c["name"]: c for c in doc.get("commonStructs", [])}
            cname = "s_" + name + suffix
            g.struct(cname, name + suffix, name + suffix, name + suffix, doc["fields"], common,
                     lo, hi)
            names.append(cname)
        ec = [i for i, f in enumerate(resp["fields"]) if f["name"] == "ErrorCode"]
        apis.append((key, name, lo, hi, fmin if fmin <= hi else -1, names[0], names[1],
                     ec[0] if ec else -1))

    # every constant name must be unique
    consts = {}
    for k in g.order:
        for fn in g.ids[k][1]:
            c = k + "_" + fn
            if c in consts or c in g.ids:
                sys.exit("gen_schemas: constant %s is ambiguous" % c)
            consts[c] = k

    h = [HEADER_DOC, "#ifndef EDDY_PROTO_API_GEN_H", "#define EDDY_PROTO_API_GEN_H", "",
         "/* API keys of every API the codec knows. */", "enum kapi_key {"]
    for key, name, *_ in apis:
        h.append("    API_%s = %d," % (name, key))
    h += ["};", "", "/* struct ids (kschema.id) */", "enum kstruct_id {"]
    for k in g.order:
        h.append("    KS_%s = %d," % (k, g.ids[k][0]))
    h += ["    KS_COUNT_ = %d" % (len(g.shapes) + 1), "};", "",
          "#define KFIELD(s, i) (((s) << 8) | (i))", ""]
    for k in g.order:
        _, fnames, where = g.ids[k]
        h.append("/* %s: %s */" % (k, ", ".join(sorted(set(where)))))
        h.append("enum {")
        for i, fn in enumerate(fnames):
            h.append("    %s_%s = KFIELD(KS_%s, %d)," % (k, fn, k, i))
        h += ["};", ""]
    h.append("#endif")
    with open(os.path.join(outdir, "api_gen.h"), "w") as f:
        f.write("\n".join(h) + "\n")

    c = ["/* api_gen — the codec's message tables: request and response body layouts of every",
         " * API eddyd and its tests speak, per version (generated in the build tree by",
         " * scripts/gen_schemas.py from src/proto/kafka_messages.json, the Kafka protocol's message",
         " * definitions; field names are the spec's names; constants in api_gen.h). */",
         '#include "proto/kmsg.h"\n', "#include <stddef.h>\n", "\n".join(g.out),
         "static const kapi g_apis[] = {"]
    for key, name, lo, hi, fmin, rq, rs, ec in apis:
        c.append('    {API_%s, "%s", %d, %d, %d, &%s, &%s, %d},' % (name, name, lo, hi, fmin, rq, rs,
                                                                  ec))
    c += ["};", "", "static const kapi *const g_by_key[KAPI_MAX_KEY + 1] = {"]
    for i, (key, *_) in enumerate(apis):
        c.append("    [%d] = &g_apis[%d]," % (key, i))
    c += ["};", "", "/* Struct names by id (kmsg_bad_field's message). */",
          "const char *const kstruct_names[KS_COUNT_] = {"]
    first = {}
    for k in g.order:
        first.setdefault(g.ids[k][0], []).append(k)
    for sid, ks in sorted(first.items()):
        c.append('    [%d] = "%s",' % (sid, "/".join(ks)))
    c += ["};", "", "const kapi *kapi_get(int16_t key)", "{",
          "    return key >= 0 && key <= KAPI_MAX_KEY ? g_by_key[key] : NULL;", "}"]
    with open(os.path.join(outdir, "api_gen.c"), "w") as f:
        f.write("\n".join(c) + "\n")


main()
