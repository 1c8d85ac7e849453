#!/usr/bin/python3
"""acl_matrix — issue 13 item 4: the authorizer against real clients, allowed and denied.

Phase 1 (super.users=User:ANONYMOUS, authorizer.class.name=kafka.security.authorizer.AclAuthorizer):
kafka-python 2.0.2's admin client creates topics and ACLs for the principal User:ANONYMOUS
(Read on LITERAL `orders`, Write on PREFIXED `pay.`, DENY Write on LITERAL `pay.secret`, Read on
group `g1`), DescribeAcls with a filter lists them and DeleteAcls with a filter removes one.
Malformed CreateAcls (unknown resource type, ANY operation, a NUL in the name, pattern MATCH, a
principal without a type) answer INVALID_REQUEST (42) per creation and store nothing.
Phase 2: SIGKILL, restart without the super user (the authorizer now answers from the ACL file):
the matrix — exact error codes — over raw sockets (kwire.py) and kafka-python:
  Metadata (all topics) lists only topics with Describe (orders via Read, pay.* via Write; not
  `hidden`); Metadata for `hidden` → 29; auto-create of `newauto` → 29;
  Produce pay.in → 0; pay.secret → 29 (DENY wins over the prefixed ALLOW); orders → 29;
  Fetch orders → 0; pay.in → 29 (Write does not imply Read); ListOffsets hidden → 29;
  CreateTopics → 29; DeleteTopics orders → 29; DescribeConfigs topic orders → 29, broker → 31;
  DescribeAcls / CreateAcls → 31 (no Alter/Describe on the Cluster);
  JoinGroup g1 → passes authorization; JoinGroup g2 → 30; OffsetCommit g1 on orders → 0, on
  pay.in → 29; InitProducerId (idempotent, KIP-679: Write on a topic suffices) → 0,
  transactional id → 53; kafka-python consumer in group g1 reads orders.
kcat/librdkafka: `kcat -L` lists orders and not hidden; producing to orders fails with
"Topic authorization failed". `eddy acls add|list|delete` (librdkafka's admin API) round trip.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, os.path.join(HERE, "..", "broker"))
from eddyd import Eddyd, Results  # noqa: E402
import kwire as kw  # noqa: E402

from kafka import KafkaAdminClient, KafkaConsumer  # noqa: E402
from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType,  # noqa: E402
                         ACLResourcePatternType, NewTopic, ResourcePattern,
                         ResourcePatternFilter, ResourceType)

ANON = "User:ANONYMOUS"
METADATA, PRODUCE, FETCH, LIST_OFFSETS = 3, 0, 1, 2
CREATE_TOPICS, DELETE_TOPICS, DESCRIBE_CONFIGS = 19, 20, 32
JOIN_GROUP, OFFSET_COMMIT, INIT_PRODUCER_ID, ADD_PARTITIONS_TO_TXN = 11, 8, 22, 24
DESCRIBE_ACLS, CREATE_ACLS = 29, 30


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s:\n  got      %r\n  expected %r" % (what, got, want))


def raw(port, api, version, body):
    c = kw.Conn(port)
    try:
        c.corr += 1
        c.send(kw.frame(api, version, c.corr, body, client_id=b"acl-matrix"))
        corr, resp = c.recv_frame()
        eq(corr, c.corr, "correlation id")
        return resp
    finally:
        c.close()


def acl(op, perm, rtype, name, pattern=ACLResourcePatternType.LITERAL):
    return ACL(ANON, "*", op, perm, ResourcePattern(rtype, name, pattern))


def any_filter(**kw_):
    d = dict(principal=None, host=None, operation=ACLOperation.ANY,
             permission_type=ACLPermissionType.ANY,
             resource_pattern=ResourcePatternFilter(ResourceType.ANY, None,
                                                    ACLResourcePatternType.ANY))
    d.update(kw_)
    return ACLFilter(**d)


def create_acls_raw(port, creations):
    """CreateAcls v1: creations = [(rtype, name, pattern, principal, host, op, perm)]."""
    body = kw.array([kw.i8(t) + kw.s16(n) + kw.i8(p) + kw.s16(pr) + kw.s16(h) + kw.i8(o) + kw.i8(pm)
                     for t, n, p, pr, h, o, pm in creations])
    r = kw.Reader(raw(port, CREATE_ACLS, 1, body))
    r.i32()
    return r.array(lambda: (r.i16(), r.str()))


def describe_acls_err(port):
    """DescribeAcls v1, everything: the top-level error code."""
    body = kw.i8(1) + kw.s16(None) + kw.i8(1) + kw.s16(None) + kw.s16(None) + kw.i8(1) + kw.i8(1)
    r = kw.Reader(raw(port, DESCRIBE_ACLS, 1, body))
    r.i32()
    return r.i16()


def record_batch():
    return kw.batch([(b"k", b"v", (), 1700000000000)], base_ts=1700000000000)


def produce_err(port, topic):
    body = kw.produce_body({topic: {0: record_batch()}}, acks=1, version=7)
    res = kw.parse_produce(raw(port, PRODUCE, 7, body), 7)
    return res["topics"][0][1][0]["error"]


def fetch_err(port, topic):
    res = kw.parse_fetch_v4(raw(port, FETCH, 4, kw.fetch_body_v4({topic: {0: 0}}, max_wait_ms=0)))
    return res["topics"][0][1][0]["error"]


def metadata(port, topics):
    return kw.parse_metadata_v1(raw(port, METADATA, 1, kw.metadata_body_v1(topics)))["topics"]


def phase1(b):
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap, client_id="acl-admin")
    try:
        admin.create_topics([NewTopic(t, 1, 1) for t in ("orders", "pay.in", "pay.secret",
                                                          "hidden")])
        res = admin.create_acls([
            acl(ACLOperation.READ, ACLPermissionType.ALLOW, ResourceType.TOPIC, "orders"),
            acl(ACLOperation.WRITE, ACLPermissionType.ALLOW, ResourceType.TOPIC, "pay.",
                ACLResourcePatternType.PREFIXED),
            acl(ACLOperation.WRITE, ACLPermissionType.DENY, ResourceType.TOPIC, "pay.secret"),
            acl(ACLOperation.READ, ACLPermissionType.ALLOW, ResourceType.GROUP, "g1"),
            acl(ACLOperation.DESCRIBE, ACLPermissionType.ALLOW, ResourceType.TOPIC, "gone"),
        ])
        eq(len(res["failed"]), 0, "CreateAcls failures")
        eq(len(res["succeeded"]), 5, "CreateAcls successes")
        # a filter: the topic ACLs of pattern PREFIXED
        got, err = admin.describe_acls(any_filter(resource_pattern=ResourcePatternFilter(
            ResourceType.TOPIC, None, ACLResourcePatternType.PREFIXED)))
        eq([(a.resource_pattern.resource_name, a.operation) for a in got],
           [("pay.", ACLOperation.WRITE)], "DescribeAcls PREFIXED topic ACLs")
        # MATCH: every ACL that applies to topic pay.secret (the prefix and the literal DENY)
        got, err = admin.describe_acls(any_filter(resource_pattern=ResourcePatternFilter(
            ResourceType.TOPIC, "pay.secret", ACLResourcePatternType.MATCH)))
        eq(sorted((a.resource_pattern.resource_name, a.permission_type.name) for a in got),
           [("pay.", "ALLOW"), ("pay.secret", "DENY")], "DescribeAcls MATCH pay.secret")
        deleted = admin.delete_acls([any_filter(resource_pattern=ResourcePatternFilter(
            ResourceType.TOPIC, "gone", ACLResourcePatternType.LITERAL))])
        eq(len(deleted[0][1]), 1, "DeleteAcls matches")
        got, _ = admin.describe_acls(any_filter())
        eq(len(got), 4, "ACLs left after DeleteAcls")
        # Write on TransactionalId tx2 (kafka-python has no such resource type: raw CreateAcls)
        eq(create_acls_raw(b.port, [(5, "tx2", 3, ANON, "*", 4, 3)]), [(0, None)],
           "CreateAcls TransactionalId tx2 Write")
    finally:
        admin.close()


def eddy_cli(b, *args):
    exe = os.path.join(os.environ["EDDY_BUILD_DIR"], "src", "cli", "eddy")
    return subprocess.run([exe, "-b", b.bootstrap] + list(args), capture_output=True, text=True,
                          timeout=30)


def cli_acls(b):
    out = eddy_cli(b, "acls", "add", "--allow-principal", ANON, "--operation", "Describe",
                   "--group", "g9")
    eq(out.returncode, 0, "eddy acls add (stderr %s)" % out.stderr)
    out = eddy_cli(b, "acls", "list", "--group", "g9")
    if "Group:g9" not in out.stdout or "Describe" not in out.stdout:
        raise AssertionError("eddy acls list --group g9:\n" + out.stdout + out.stderr)
    out = eddy_cli(b, "acls", "delete", "--group", "g9")
    eq(out.returncode, 0, "eddy acls delete (stderr %s)" % out.stderr)
    out = eddy_cli(b, "acls", "delete", "--group", "g9")
    eq(out.returncode, 4, "eddy acls delete with nothing left to match")


def malformed_create_acls(b):
    bad = [
        (9, "t", 3, ANON, "*", 3, 3),            # unknown resource type
        (2, "t", 3, ANON, "*", 1, 3),            # operation ANY
        (2, "a\x00b", 3, ANON, "*", 3, 3),       # NUL in the name
        (2, "t", 2, ANON, "*", 3, 3),            # pattern MATCH (filters only)
        (2, "t", 3, "ANONYMOUS", "*", 3, 3),     # principal without a type
        (2, "t", 3, ANON, "*", 3, 1),            # permission ANY
        (4, "other", 3, ANON, "*", 7, 3),        # Cluster resource not kafka-cluster
    ]
    res = create_acls_raw(b.port, bad)
    eq([e for e, _ in res], [42] * len(bad), "malformed CreateAcls error codes")
    for e, msg in res:
        if not msg:
            raise AssertionError("INVALID_REQUEST without a message")


def matrix(b):
    p = b.port
    names = sorted(t["name"] for t in metadata(p, None))
    eq(names, ["orders", "pay.in", "pay.secret"], "Metadata all topics (hidden left out)")
    eq([(t["name"], t["error"]) for t in metadata(p, ["hidden"])], [("hidden", 29)],
       "Metadata hidden")
    eq([(t["name"], t["error"]) for t in metadata(p, ["newauto"])], [("newauto", 29)],
       "Metadata auto-create without Create")
    eq(produce_err(p, "pay.in"), 0, "Produce pay.in (prefixed ALLOW Write)")
    eq(produce_err(p, "pay.secret"), 29, "Produce pay.secret (DENY over ALLOW)")
    eq(produce_err(p, "orders"), 29, "Produce orders (Read only)")
    eq(fetch_err(p, "orders"), 0, "Fetch orders")
    eq(fetch_err(p, "pay.in"), 29, "Fetch pay.in (Write does not imply Read)")
    r = kw.Reader(raw(p, LIST_OFFSETS, 1, kw.list_offsets_body_v1({"hidden": {0: -1}})))
    lo = r.array(lambda: (r.str(), r.array(lambda: (r.i32(), r.i16(), r.i64(), r.i64()))))
    eq(lo[0][1][0][1], 29, "ListOffsets hidden")
    # CreateTopics v2
    body = kw.array([kw.s16("newt") + kw.i32(1) + kw.i16(1) + kw.array([]) + kw.array([])])
    r = kw.Reader(raw(p, CREATE_TOPICS, 2, body + kw.i32(10000) + kw.i8(0)))
    r.i32()
    eq(r.array(lambda: (r.str(), r.i16(), r.str()))[0][1], 29, "CreateTopics newt")
    # DeleteTopics v1
    r = kw.Reader(raw(p, DELETE_TOPICS, 1, kw.array([kw.s16("orders")]) + kw.i32(10000)))
    r.i32()
    eq(r.array(lambda: (r.str(), r.i16()))[0][1], 29, "DeleteTopics orders")
    # DescribeConfigs v1: topic orders (2), broker 1 (4)
    body = kw.array([kw.i8(2) + kw.s16("orders") + kw.i32(-1),
                     kw.i8(4) + kw.s16("1") + kw.i32(-1)]) + kw.i8(0)
    r = kw.Reader(raw(p, DESCRIBE_CONFIGS, 1, body))
    r.i32()
    codes = []
    for _ in range(r.i32()):
        codes.append(r.i16())
        r.str(), r.i8(), r.str()
        for _ in range(r.i32()):
            r.str(), r.str(), r.i8(), r.i8(), r.i8()
            r.array(lambda: (r.str(), r.str(), r.i8()))
    eq(codes, [29, 31], "DescribeConfigs topic / broker")
    eq(describe_acls_err(p), 31, "DescribeAcls without Describe on the Cluster")
    res = create_acls_raw(p, [(2, "x", 3, ANON, "*", 3, 3)])
    eq(res[0][0], 31, "CreateAcls without Alter on the Cluster")
    # JoinGroup v1 (g2: 30; g1 passes authorization: the first join is answered, error 0)
    def join(group):
        meta = kw.i16(0) + kw.array([kw.s16("orders")]) + kw.bytes32(b"")
        body = (kw.s16(group) + kw.i32(10000) + kw.i32(10000) + kw.s16("") + kw.s16("consumer")
                + kw.array([kw.s16("range") + kw.bytes32(meta)]))
        r = kw.Reader(raw(p, JOIN_GROUP, 1, body))
        return r.i16()
    eq(join("g2"), 30, "JoinGroup g2")
    # OffsetCommit v2 with generation -1 (a simple consumer's commit)
    def commit(topic):
        body = (kw.s16("g1") + kw.i32(-1) + kw.s16("") + kw.i64(-1) +
                kw.array([kw.s16(topic) + kw.array([kw.i32(0) + kw.i64(0) + kw.s16("")])]))
        r = kw.Reader(raw(p, OFFSET_COMMIT, 2, body))
        return r.array(lambda: (r.str(), r.array(lambda: (r.i32(), r.i16()))))[0][1][0][1]
    eq(commit("orders"), 0, "OffsetCommit g1 orders")
    eq(commit("pay.in"), 29, "OffsetCommit g1 pay.in (no Read)")
    # InitProducerId v1: idempotent (Write on pay.* suffices), transactional → 53
    r = kw.Reader(raw(p, INIT_PRODUCER_ID, 1, kw.s16(None) + kw.i32(60000)))
    r.i32()
    eq(r.i16(), 0, "InitProducerId idempotent")
    r = kw.Reader(raw(p, INIT_PRODUCER_ID, 1, kw.s16("tx1") + kw.i32(60000)))
    r.i32()
    eq(r.i16(), 53, "InitProducerId transactional without Write on the TransactionalId")
    # AddPartitionsToTxn v2 as tx2 (Write on the id): a topic without Write fails the request,
    # TOPIC_AUTHORIZATION_FAILED there and OPERATION_NOT_ATTEMPTED for the others
    r = kw.Reader(raw(p, INIT_PRODUCER_ID, 1, kw.s16("tx2") + kw.i32(60000)))
    r.i32()
    eq(r.i16(), 0, "InitProducerId tx2")
    pid, epoch = r.i64(), r.i16()
    def add_parts(topics):
        body = (kw.s16("tx2") + kw.i64(pid) + kw.i16(epoch) +
                kw.array([kw.s16(t) + kw.array([kw.i32(0)]) for t in topics]))
        r = kw.Reader(raw(p, ADD_PARTITIONS_TO_TXN, 2, body))
        r.i32()
        return r.array(lambda: (r.str(), r.array(lambda: (r.i32(), r.i16()))))
    eq(add_parts(["pay.in", "orders"]), [("pay.in", [(0, 55)]), ("orders", [(0, 29)])],
       "AddPartitionsToTxn pay.in (Write) + orders (Read only)")
    eq(add_parts(["pay.in"]), [("pay.in", [(0, 0)])], "AddPartitionsToTxn pay.in alone")


def consumer_group(b):
    c = KafkaConsumer("orders", bootstrap_servers=b.bootstrap, group_id="g1",
                      auto_offset_reset="earliest", consumer_timeout_ms=8000,
                      enable_auto_commit=False)
    try:
        c.poll(timeout_ms=5000)
        c.commit()
    finally:
        c.close()


def kcat(b):
    out = subprocess.run(["kcat", "-b", b.bootstrap, "-L", "-m", "10"], capture_output=True,
                         text=True, timeout=30)
    eq(out.returncode, 0, "kcat -L exit status (stderr %s)" % out.stderr)
    if 'topic "orders"' not in out.stdout or 'topic "hidden"' in out.stdout:
        raise AssertionError("kcat -L should list orders and not hidden:\n" + out.stdout)
    out = subprocess.run(["kcat", "-b", b.bootstrap, "-P", "-t", "orders", "-m", "10"],
                         input="x\n", capture_output=True, text=True, timeout=30)
    if out.returncode == 0 or "authoriz" not in (out.stderr + out.stdout).lower():
        raise AssertionError("kcat produce to orders should fail with an authorization "
                             "error: rc %d\n%s" % (out.returncode, out.stderr))


def main():
    b = Eddyd(sets=["authorizer.class.name=kafka.security.authorizer.AclAuthorizer",
                    "super.users=User:ANONYMOUS", "auto.create.topics.enable=true"])
    res = Results(b)
    res.run("phase 1: topics and ACLs through kafka-python admin (filters, delete)", phase1, b)
    res.run("malformed CreateAcls answer 42 with a message", malformed_create_acls, b)
    res.run("eddy acls add|list|delete", cli_acls, b)
    b.sets = [s for s in b.sets if not s.startswith("super.users")]
    b.restart(kill=True)
    res.run("after SIGKILL, without the super user: the matrix with exact codes", matrix, b)
    res.run("kafka-python consumer in group g1 on orders", consumer_group, b)
    res.run("kcat/librdkafka: -L hides, produce is refused", kcat, b)
    res.finish()


if __name__ == "__main__":
    main()
