#!/usr/bin/python3
"""test_protocol_versions — issue 14 item 6: the versions a Kafka 4.x broker serves, on raw
sockets, each new version's request decoded and answered (kschema.py speaks them from the
message definitions).

  - ApiVersions advertises the new maxima (Produce 13, Fetch 18, Metadata 13, ListOffsets 11,
    OffsetCommit 10, OffsetFetch 10, FindCoordinator 6, DescribeGroups 6, DescribeCluster 2,
    ListGroups 5, AddPartitionsToTxn 5, AddOffsetsToTxn 4, EndTxn 4, TxnOffsetCommit 4,
    ListTransactions 1) and still the old minima (Produce 0, Fetch 4).
  - Fetch v13-v18 name topics by id: records come back under the id asked for; an unknown id is
    UNKNOWN_TOPIC_ID (100), a known id with a partition it lacks UNKNOWN_TOPIC_OR_PARTITION (3);
    v12 by name still works; the id survives a restart (same records by the same id).
  - Produce v12 (v11 on the wire) appends; Metadata v13 has the top-level ErrorCode (0).
  - ListOffsets v8 -4 (earliest local) = log start; v9 -5 (latest tiered) = -1; v10 TimeoutMs;
    v11 -6 (earliest pending upload) = -1.
  - FindCoordinator v6 share-group key type 2 -> INVALID_REQUEST (42); groups still found.
  - ListGroups v5: GroupType "classic"; TypesFilter ["consumer"] lists none.
  - AddPartitionsToTxn v4/v5 (the brokers' batched form): verify-only answers NONE for a
    partition in the transaction, TRANSACTION_ABORTABLE (121) for one not in it; a non-verify
    entry adds; an unknown transactional id is INVALID_PRODUCER_ID_MAPPING (49); EndTxn v4.
  - ListTransactions v1 DurationFilter. With an authorizer, the batched AddPartitionsToTxn
    without ClusterAction is CLUSTER_AUTHORIZATION_FAILED (31) as a whole.
  - OffsetCommit v10 / OffsetFetch v10 name topics by id (KIP-848): an offset committed by id
    reads back by id and by name (v9) and in the all-topics listing (with the id); an unknown id
    is UNKNOWN_TOPIC_ID (100) on each of its partitions, a known id with a partition it lacks
    UNKNOWN_TOPIC_OR_PARTITION (3).
  - Produce v13 names topics by id (KIP-516): records appended under the id, the response
    carries it; an unknown id is UNKNOWN_TOPIC_ID (100), never an auto-created topic; a partition
    the topic lacks UNKNOWN_TOPIC_OR_PARTITION (3); v12 by name still appends.
  - Bad input: OffsetCommit/OffsetFetch v10, Produce v13 cut inside a topic id: served on.
  - Fetch v18 (a tagged HighWatermark in the request, read and ignored); DescribeGroups v6: an
    unknown group is GROUP_ID_NOT_FOUND (69) with a message (v5: NONE, "Dead"); DescribeCluster
    v2: IncludeFencedBrokers, the one broker has IsFenced false.
  - InitProducerId of a transactional id seen for the first time with ProducerId/Epoch 0/0 (what
    @platformatic/kafka sends): a fresh id, as Kafka gives.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, HERE)
from eddyd import Eddyd, Results  # noqa: E402
import kwire as kw  # noqa: E402
import kschema as ks  # noqa: E402

TOPIC = "pv"
TS = 1700000000000
UNKNOWN_TOPIC_OR_PARTITION, INVALID_REQUEST, INVALID_PID_MAPPING = 3, 42, 49
UNKNOWN_TOPIC_ID, TRANSACTION_ABORTABLE = 100, 121


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s:\n  got      %r\n  expected %r" % (what, got, want))


class T:
    b = None
    tid = None  # the topic's id

    def client(self):
        return ks.Client(self.b.port)

    def call(self, api, v, req):
        c = self.client()
        try:
            return c.call(api, v, req)
        finally:
            c.close()


def setup(t):
    r = t.call("CreateTopics", 7, {"Topics": [{"Name": TOPIC, "NumPartitions": 2,
                                                "ReplicationFactor": 1}], "TimeoutMs": 10000})
    eq(r["Topics"][0]["ErrorCode"], 0, "CreateTopics error")
    t.tid = r["Topics"][0]["TopicId"]
    assert t.tid != bytes(16), "CreateTopics v7 returned no topic id"
    recs = [(b"k%d" % i, b"v%d" % i, (), TS + i) for i in range(3)]
    c = kw.Conn(t.b.port)
    try:
        resp = c.request(0, 7, kw.produce_body({TOPIC: {0: kw.batch(recs, TS)}}))
        eq(kw.parse_produce(resp, 7)["topics"][0][1][0]["error"], 0, "Produce error")
    finally:
        c.close()


def api_versions(t):
    r = t.call("ApiVersions", 3, {"ClientSoftwareName": "it", "ClientSoftwareVersion": "1"})
    eq(r["ErrorCode"], 0, "ApiVersions error")
    got = {a["ApiKey"]: (a["MinVersion"], a["MaxVersion"]) for a in r["ApiKeys"]}
    want = {0: (0, 13), 1: (4, 18), 2: (0, 11), 3: (0, 13), 8: (0, 10), 9: (0, 10),
            10: (0, 6), 15: (0, 6), 16: (0, 5), 60: (0, 2),
            24: (0, 5), 25: (0, 4), 26: (0, 4), 28: (0, 4), 66: (0, 1)}
    for k, (lo, hi) in want.items():
        eq(got.get(k, (None, None))[1], hi, "advertised max version of API %d" % k)
        assert got[k][0] <= lo, "API %d: min version %d, want at most %d" % (k, got[k][0], lo)


def fetch_req(topic_entry, partition=0, offset=0):
    return {"ReplicaId": -1, "MaxWaitMs": 0, "MinBytes": 1, "MaxBytes": 1 << 20,
            "Topics": [dict(topic_entry, Partitions=[{
                "Partition": partition, "CurrentLeaderEpoch": -1, "FetchOffset": offset,
                "LastFetchedEpoch": -1, "LogStartOffset": -1, "PartitionMaxBytes": 1 << 20}])]}


def values(part, start=0):
    """The data records' values from offset start on (a fetch answers whole batches; control
    batches, attribute bit 5, skipped)."""
    return [rec[2] for bt in kw.parse_batches(part["Records"] or b"") if not bt["attrs"] & 0x20
            for rec in bt["records"] if rec[0] >= start]


def fetch_by_id(t):
    for v in range(13, 19):
        r = t.call("Fetch", v, fetch_req({"TopicId": t.tid}))
        eq(r["ErrorCode"], 0, "Fetch v%d top-level error" % v)
        tr = r["Responses"][0]
        eq(tr["TopicId"], t.tid, "Fetch v%d: the topic id answered" % v)
        p = tr["Partitions"][0]
        eq(p["ErrorCode"], 0, "Fetch v%d partition error" % v)
        eq(p["HighWatermark"], 3, "Fetch v%d high watermark" % v)
        eq(values(p), [b"v0", b"v1", b"v2"], "Fetch v%d records" % v)
    # the fields of v15 (ReplicaState, tagged) and v17 (ReplicaDirectoryId, tagged) are read
    req = fetch_req({"TopicId": t.tid}, offset=1)
    req["ReplicaState"] = {"ReplicaId": -1, "ReplicaEpoch": -1}
    req["Topics"][0]["Partitions"][0]["ReplicaDirectoryId"] = bytes(range(16))
    r = t.call("Fetch", 17, req)
    eq(values(r["Responses"][0]["Partitions"][0], 1), [b"v1", b"v2"], "Fetch v17 from offset 1")
    # v18's tagged HighWatermark (KIP-1166, tag 1) is read and ignored
    req["Topics"][0]["Partitions"][0]["HighWatermark"] = 1
    r = t.call("Fetch", 18, req)
    eq(values(r["Responses"][0]["Partitions"][0], 1), [b"v1", b"v2"], "Fetch v18 from offset 1")


def fetch_by_name_v12(t):
    r = t.call("Fetch", 12, fetch_req({"Topic": TOPIC}))
    tr = r["Responses"][0]
    eq(tr["Topic"], TOPIC, "Fetch v12 topic name")
    eq(values(tr["Partitions"][0]), [b"v0", b"v1", b"v2"], "Fetch v12 records")


def fetch_unknown(t):
    unknown = bytes(range(1, 17))
    for v in (13, 17):
        r = t.call("Fetch", v, fetch_req({"TopicId": unknown}))
        tr = r["Responses"][0]
        eq(tr["TopicId"], unknown, "Fetch v%d: the unknown id echoed" % v)
        eq(tr["Partitions"][0]["ErrorCode"], UNKNOWN_TOPIC_ID, "Fetch v%d unknown id" % v)
        eq(tr["Partitions"][0]["Records"] in (None, b""), True, "no records for an unknown id")
        # the all-zero id (what a client sends for a topic it has no id for)
        r = t.call("Fetch", v, fetch_req({"TopicId": bytes(16)}))
        eq(r["Responses"][0]["Partitions"][0]["ErrorCode"], UNKNOWN_TOPIC_ID, "zero id")
        r = t.call("Fetch", v, fetch_req({"TopicId": t.tid}, partition=7))
        eq(r["Responses"][0]["Partitions"][0]["ErrorCode"], UNKNOWN_TOPIC_OR_PARTITION,
           "Fetch v%d: a partition the topic lacks" % v)
    # a mix: known and unknown topics in one request, each answered by its own id
    req = fetch_req({"TopicId": t.tid})
    req["Topics"].append(dict(fetch_req({"TopicId": unknown})["Topics"][0]))
    r = t.call("Fetch", 16, req)
    eq([(x["TopicId"], x["Partitions"][0]["ErrorCode"]) for x in r["Responses"]],
       [(t.tid, 0), (unknown, UNKNOWN_TOPIC_ID)], "Fetch v16, known + unknown id")


def fetch_bad_input(t):
    """A Fetch v13+ body cut inside a topic id, or with a topic count far beyond its bytes: the
    broker answers or closes that connection, never crashes, and serves the next one."""
    body = ks.encode("FetchRequest", 17, fetch_req({"TopicId": t.tid}))
    cut = body.index(t.tid) + 7
    for v, data in ((13, body[:cut]), (17, body[:cut]),
                    (17, body[:body.index(t.tid) - 1] + kw.uvarint(1 << 30))):
        c = kw.Conn(t.b.port, timeout=5)
        try:
            c.send(kw.frame(1, v, 5, data, flexible=True))
            try:
                c.recv_frame()
            except kw.Closed:
                pass
        finally:
            c.close()
    r = t.call("Fetch", 17, fetch_req({"TopicId": t.tid}))
    eq(r["Responses"][0]["Partitions"][0]["ErrorCode"], 0, "Fetch v17 after the bad requests")
    assert t.b.alive(), "eddyd died"


def fetch_after_restart(t):
    t.b.restart()
    r = t.call("Metadata", 12, {"Topics": [{"Name": TOPIC}]})
    eq(r["Topics"][0]["TopicId"], t.tid, "Metadata v12 topic id after a restart")
    r = t.call("Fetch", 17, fetch_req({"TopicId": t.tid}))
    p = r["Responses"][0]["Partitions"][0]
    eq((p["ErrorCode"], values(p)), (0, [b"v0", b"v1", b"v2"]), "Fetch v17 by id after restart")


def produce_v12_metadata_v13(t):
    recs = [(b"k", b"v12-%d" % i, (), TS + 10 + i) for i in range(2)]
    req = {"TransactionalId": None, "Acks": -1, "TimeoutMs": 10000, "TopicData": [
        {"Name": TOPIC, "PartitionData": [{"Index": 1, "Records": kw.batch(recs, TS + 10)}]}]}
    for v in (11, 12):
        r = t.call("Produce", v, req)
        p = r["Responses"][0]["PartitionResponses"][0]
        eq((p["Index"], p["ErrorCode"], p["BaseOffset"]), (1, 0, 0 if v == 11 else 2),
           "Produce v%d to partition 1" % v)
    r = t.call("Fetch", 17, fetch_req({"TopicId": t.tid}, partition=1))
    eq(values(r["Responses"][0]["Partitions"][0]), [b"v12-0", b"v12-1"] * 2,
       "the records of Produce v11 and v12")
    r = t.call("Metadata", 13, {"Topics": [{"Name": TOPIC}], "AllowAutoTopicCreation": False})
    eq(r["ErrorCode"], 0, "Metadata v13 top-level ErrorCode")
    eq((r["Topics"][0]["Name"], r["Topics"][0]["TopicId"], len(r["Topics"][0]["Partitions"])),
       (TOPIC, t.tid, 2), "Metadata v13 topic")
    eq([x["Port"] for x in r["Brokers"]], [t.b.port], "Metadata v13 brokers")


def list_offsets(t):
    def one(v, ts, extra=None):
        req = {"ReplicaId": -1, "Topics": [{"Name": TOPIC, "Partitions": [
            {"PartitionIndex": 0, "CurrentLeaderEpoch": -1, "Timestamp": ts}]}]}
        req.update(extra or {})
        p = t.call("ListOffsets", v, req)["Topics"][0]["Partitions"][0]
        eq(p["ErrorCode"], 0, "ListOffsets v%d ts %d error" % (v, ts))
        return p["Offset"], p["Timestamp"]
    for v in (8, 9, 10, 11):
        eq(one(v, -1)[0], 3, "ListOffsets v%d latest" % v)
        eq(one(v, -2)[0], 0, "ListOffsets v%d earliest" % v)
        eq(one(v, -4), (0, -1), "ListOffsets v%d earliest local (KIP-405)" % v)
        eq(one(v, -3), (2, TS + 2), "ListOffsets v%d max timestamp" % v)
        eq(one(v, TS + 1)[0], 1, "ListOffsets v%d by time" % v)
    for v in (9, 10, 11):
        eq(one(v, -5), (-1, -1), "ListOffsets v%d latest tiered (KIP-1005)" % v)
    eq(one(10, -1, {"TimeoutMs": 1})[0], 3, "ListOffsets v10 with TimeoutMs")
    # v11 -6, earliest pending upload (KIP-1023): -1/-1 without remote storage, as Kafka
    eq(one(11, -6), (-1, -1), "ListOffsets v11 earliest pending upload")


def find_coordinator(t):
    for v in (5, 6):
        r = t.call("FindCoordinator", v, {"KeyType": 0, "CoordinatorKeys": ["g1"]})
        c = r["Coordinators"][0]
        eq((c["Key"], c["ErrorCode"], c["Port"]), ("g1", 0, t.b.port), "FindCoordinator v%d" % v)
    r = t.call("FindCoordinator", 6, {"KeyType": 2, "CoordinatorKeys": ["g1:t:0"]})
    eq(r["Coordinators"][0]["ErrorCode"], INVALID_REQUEST, "FindCoordinator v6 share key type")


def list_groups(t):
    # a group with committed offsets (simple consumer: generation -1)
    r = t.call("OffsetCommit", 9, {"GroupId": "pv-g", "GenerationIdOrMemberEpoch": -1,
                                   "MemberId": "", "Topics": [{"Name": TOPIC, "Partitions": [
                                       {"PartitionIndex": 0, "CommittedOffset": 1}]}]})
    eq(r["Topics"][0]["Partitions"][0]["ErrorCode"], 0, "OffsetCommit")
    r = t.call("ListGroups", 5, {})
    got = {g["GroupId"]: g["GroupType"] for g in r["Groups"]}
    eq(got.get("pv-g"), "classic", "ListGroups v5 group type")
    r = t.call("ListGroups", 5, {"TypesFilter": ["Classic"]})
    eq("pv-g" in [g["GroupId"] for g in r["Groups"]], True, "TypesFilter [Classic] lists it")
    r = t.call("ListGroups", 5, {"TypesFilter": ["consumer", "share"]})
    eq(r["Groups"], [], "TypesFilter [consumer, share]: none")
    r = t.call("ListGroups", 4, {})
    eq("pv-g" in [g["GroupId"] for g in r["Groups"]], True, "ListGroups v4")


def txn_batched(t):
    c = t.client()
    try:
        # a transactional id seen for the first time: whatever id/epoch the request names (here
        # 0/0, what @platformatic/kafka sends), a fresh producer id at epoch 0, as in Kafka
        r = c.call("InitProducerId", 5, {"TransactionalId": "pv-tx", "TransactionTimeoutMs": 60000,
                                         "ProducerId": 0, "ProducerEpoch": 0})
        eq((r["ErrorCode"], r["ProducerEpoch"]), (0, 0), "InitProducerId of a new id with 0/0")
        assert r["ProducerId"] >= 0, "a producer id (got %d)" % r["ProducerId"]
        pid, epoch = r["ProducerId"], r["ProducerEpoch"]
        r = c.call("AddPartitionsToTxn", 3, {"V3AndBelowTransactionalId": "pv-tx",
                                             "V3AndBelowProducerId": pid,
                                             "V3AndBelowProducerEpoch": epoch,
                                             "V3AndBelowTopics": [{"Name": TOPIC,
                                                                   "Partitions": [0]}]})
        eq(r["ResultsByTopicV3AndBelow"][0]["ResultsByPartition"][0]["PartitionErrorCode"], 0,
           "AddPartitionsToTxn v3")

        def batched(v, entries):
            r = c.call("AddPartitionsToTxn", v, {"Transactions": [
                {"TransactionalId": tx, "ProducerId": p, "ProducerEpoch": e, "VerifyOnly": vo,
                 "Topics": [{"Name": TOPIC, "Partitions": parts}]}
                for tx, p, e, vo, parts in entries]})
            eq(r["ErrorCode"], 0, "AddPartitionsToTxn v%d top-level error" % v)
            return [(x["TransactionalId"],
                     [(pr["PartitionIndex"], pr["PartitionErrorCode"])
                      for tr in x["TopicResults"] for pr in tr["ResultsByPartition"]])
                    for x in r["ResultsByTransaction"]]
        for v in (4, 5):
            eq(batched(v, [("pv-tx", pid, epoch, True, [0, 1]),
                           ("nope", 77, 0, True, [0])]),
               [("pv-tx", [(0, 0), (1, TRANSACTION_ABORTABLE)]),
                ("nope", [(0, INVALID_PID_MAPPING)])], "AddPartitionsToTxn v%d verify" % v)
        eq(batched(5, [("pv-tx", pid, epoch, False, [1])]), [("pv-tx", [(1, 0)])],
           "AddPartitionsToTxn v5 add")
        eq(batched(5, [("pv-tx", pid, epoch, True, [0, 1])]), [("pv-tx", [(0, 0), (1, 0)])],
           "AddPartitionsToTxn v5 verify after the add")
        eq(batched(4, [("pv-tx", pid, epoch, False, [9])]),
           [("pv-tx", [(9, UNKNOWN_TOPIC_OR_PARTITION)])], "v4 add of an unknown partition")
        r = c.call("DescribeTransactions", 0, {"TransactionalIds": ["pv-tx"]})
        st = r["TransactionStates"][0]
        eq((st["TransactionState"], sorted(st["Topics"][0]["Partitions"])), ("Ongoing", [0, 1]),
           "the transaction after the batched add")
        # ListTransactions v1: open for less than an hour / more than -1 ms
        r = c.call("ListTransactions", 1, {"DurationFilter": 3600 * 1000})
        eq([x["TransactionalId"] for x in r["TransactionStates"]], [], "DurationFilter 1 h")
        time.sleep(0.01)
        r = c.call("ListTransactions", 1, {"DurationFilter": 1})
        eq([x["TransactionalId"] for x in r["TransactionStates"]], ["pv-tx"], "DurationFilter 1")
        r = c.call("ListTransactions", 1, {})
        eq([x["TransactionalId"] for x in r["TransactionStates"]], ["pv-tx"], "no DurationFilter")
        # only unknown states asked for: Kafka lists none (and names them back)
        r = c.call("ListTransactions", 1, {"StateFilters": ["Bogus"]})
        eq((r["UnknownStateFilters"], r["TransactionStates"]), (["Bogus"], []),
           "ListTransactions with only an unknown state filter")
        r = c.call("ListTransactions", 0, {"StateFilters": ["Bogus", "Ongoing"]})
        eq((r["UnknownStateFilters"], [x["TransactionalId"] for x in r["TransactionStates"]]),
           (["Bogus"], ["pv-tx"]), "ListTransactions with an unknown and a known state")
        r = c.call("EndTxn", 4, {"TransactionalId": "pv-tx", "ProducerId": pid,
                                 "ProducerEpoch": epoch, "Committed": False})
        eq(r["ErrorCode"], 0, "EndTxn v4 abort")
    finally:
        c.close()


def offsets_by_id(t):
    gid, unknown = "pv-g10", bytes(range(1, 17))
    r = t.call("OffsetCommit", 10, {"GroupId": gid, "GenerationIdOrMemberEpoch": -1,
                                    "MemberId": "", "Topics": [
        {"TopicId": t.tid, "Partitions": [
            {"PartitionIndex": 0, "CommittedOffset": 2, "CommittedMetadata": "m"},
            {"PartitionIndex": 7, "CommittedOffset": 1, "CommittedMetadata": ""}]},
        {"TopicId": unknown, "Partitions": [
            {"PartitionIndex": 0, "CommittedOffset": 1, "CommittedMetadata": ""}]}]})
    eq([(x["TopicId"], [(p["PartitionIndex"], p["ErrorCode"]) for p in x["Partitions"]])
        for x in r["Topics"]],
       [(t.tid, [(0, 0), (7, UNKNOWN_TOPIC_OR_PARTITION)]), (unknown, [(0, UNKNOWN_TOPIC_ID)])],
       "OffsetCommit v10 answers by id")

    def fetch(v, topics):
        return t.call("OffsetFetch", v, {"Groups": [{"GroupId": gid, "Topics": topics}]})[
            "Groups"][0]

    g = fetch(10, [{"TopicId": t.tid, "PartitionIndexes": [0, 1]},
                   {"TopicId": unknown, "PartitionIndexes": [3]}])
    eq(g["ErrorCode"], 0, "OffsetFetch v10 group error")
    eq([(x["TopicId"], [(p["PartitionIndex"], p["CommittedOffset"], p["Metadata"], p["ErrorCode"])
                        for p in x["Partitions"]]) for x in g["Topics"]],
       [(t.tid, [(0, 2, "m", 0), (1, -1, "", 0)]), (unknown, [(3, -1, "", UNKNOWN_TOPIC_ID)])],
       "OffsetFetch v10 by id")
    g = fetch(10, None)
    eq([(x["TopicId"], [(p["PartitionIndex"], p["CommittedOffset"]) for p in x["Partitions"]])
        for x in g["Topics"]], [(t.tid, [(0, 2)])], "OffsetFetch v10, all topics")
    g = fetch(9, [{"Name": TOPIC, "PartitionIndexes": [0]}])
    eq([(x["Name"], [p["CommittedOffset"] for p in x["Partitions"]]) for x in g["Topics"]],
       [(TOPIC, [2])], "OffsetFetch v9 by name reads the offset committed by id")
    # v9 by name still commits; v10 reads it back by id
    r = t.call("OffsetCommit", 9, {"GroupId": gid, "GenerationIdOrMemberEpoch": -1,
                                   "MemberId": "", "Topics": [{"Name": TOPIC, "Partitions": [
                                       {"PartitionIndex": 1, "CommittedOffset": 3,
                                        "CommittedMetadata": None}]}]})
    eq(r["Topics"][0]["Partitions"][0]["ErrorCode"], 0, "OffsetCommit v9 by name")
    g = fetch(10, [{"TopicId": t.tid, "PartitionIndexes": [1]}])
    eq(g["Topics"][0]["Partitions"][0]["CommittedOffset"], 3, "OffsetFetch v10 after a v9 commit")


def produce_v13_by_id(t):
    r = t.call("CreateTopics", 7, {"Topics": [{"Name": "pv13", "NumPartitions": 1,
                                                "ReplicationFactor": 1}], "TimeoutMs": 10000})
    eq(r["Topics"][0]["ErrorCode"], 0, "CreateTopics pv13")
    tid, unknown = r["Topics"][0]["TopicId"], bytes(range(2, 18))

    def produce(v, topic, index, vals):
        recs = [(b"k", x, (), TS + 20) for x in vals]
        return t.call("Produce", v, {"TransactionalId": None, "Acks": -1, "TimeoutMs": 10000,
                                     "TopicData": [dict(topic, PartitionData=[
                                         {"Index": index, "Records": kw.batch(recs, TS + 20)}])]})

    r = produce(13, {"TopicId": tid}, 0, [b"a", b"b"])
    eq([(x["TopicId"], [(p["Index"], p["ErrorCode"], p["BaseOffset"])
                        for p in x["PartitionResponses"]]) for x in r["Responses"]],
       [(tid, [(0, 0, 0)])], "Produce v13 by id")
    r = produce(13, {"TopicId": unknown}, 0, [b"x"])
    eq([(x["TopicId"], [(p["Index"], p["ErrorCode"], p["BaseOffset"])
                        for p in x["PartitionResponses"]]) for x in r["Responses"]],
       [(unknown, [(0, UNKNOWN_TOPIC_ID, -1)])], "Produce v13, unknown id")
    r = produce(13, {"TopicId": tid}, 4, [b"x"])
    eq(r["Responses"][0]["PartitionResponses"][0]["ErrorCode"], UNKNOWN_TOPIC_OR_PARTITION,
       "Produce v13, a partition the topic lacks")
    r = produce(12, {"Name": "pv13"}, 0, [b"c"])
    eq(r["Responses"][0]["PartitionResponses"][0]["BaseOffset"], 2, "Produce v12 by name")
    r = t.call("Fetch", 17, fetch_req({"TopicId": tid}))
    eq(values(r["Responses"][0]["Partitions"][0]), [b"a", b"b", b"c"], "records of v13 and v12")
    r = t.call("Metadata", 13, {"Topics": None, "AllowAutoTopicCreation": False})
    eq(sorted(x["Name"] for x in r["Topics"] if not x["Name"].startswith("__")), ["pv", "pv13"],
       "no topic created by an id")


def by_id_bad_input(t):
    """OffsetCommit v10, OffsetFetch v10 and Produce v13 bodies cut inside a topic id: answered
    or the connection closed, never a crash; the next request is served."""
    reqs = [(8, 10, ks.encode("OffsetCommitRequest", 10, {
                "GroupId": "pv-bad", "GenerationIdOrMemberEpoch": -1, "MemberId": "",
                "Topics": [{"TopicId": t.tid, "Partitions": [
                    {"PartitionIndex": 0, "CommittedOffset": 1, "CommittedMetadata": ""}]}]})),
            (9, 10, ks.encode("OffsetFetchRequest", 10, {"Groups": [
                {"GroupId": "pv-bad", "Topics": [{"TopicId": t.tid, "PartitionIndexes": [0]}]}]})),
            (0, 13, ks.encode("ProduceRequest", 13, {
                "TransactionalId": None, "Acks": 1, "TimeoutMs": 1000, "TopicData": [
                    {"TopicId": t.tid, "PartitionData": [{"Index": 0, "Records": b""}]}]}))]
    for key, v, body in reqs:
        c = kw.Conn(t.b.port, timeout=5)
        try:
            c.send(kw.frame(key, v, 5, body[:body.index(t.tid) + 9], flexible=True))
            try:
                c.recv_frame()
            except kw.Closed:
                pass
        finally:
            c.close()
    g = t.call("OffsetFetch", 10, {"Groups": [{"GroupId": "pv-g10", "Topics": [
        {"TopicId": t.tid, "PartitionIndexes": [0]}]}]})["Groups"][0]
    eq(g["Topics"][0]["Partitions"][0]["CommittedOffset"], 2, "OffsetFetch v10 after bad input")
    assert t.b.alive(), "eddyd died"


def describe_v6_v2(t):
    r = t.call("DescribeGroups", 6, {"Groups": ["pv-nog", "pv-g10"],
                                     "IncludeAuthorizedOperations": False})
    eq([(g["GroupId"], g["ErrorCode"], g["ErrorMessage"], g["GroupState"]) for g in r["Groups"]],
       [("pv-nog", 69, "Group pv-nog not found.", "Dead"), ("pv-g10", 0, None, "Empty")],
       "DescribeGroups v6")
    r = t.call("DescribeGroups", 5, {"Groups": ["pv-nog"], "IncludeAuthorizedOperations": False})
    eq([(g["ErrorCode"], g["GroupState"]) for g in r["Groups"]], [(0, "Dead")], "DescribeGroups v5")
    r = t.call("DescribeCluster", 2, {"IncludeClusterAuthorizedOperations": False,
                                      "EndpointType": 1, "IncludeFencedBrokers": True})
    eq((r["ErrorCode"], [(x["BrokerId"], x["Port"], x["IsFenced"]) for x in r["Brokers"]]),
       (0, [(r["ControllerId"], t.b.port, False)]), "DescribeCluster v2")


def batched_needs_cluster_action(t):
    """With an authorizer and no ACL, the anonymous principal lacks ClusterAction: the batched
    form is refused as a whole (Kafka: CLUSTER_AUTHORIZATION_FAILED, 31), nothing added."""
    with Eddyd(["authorizer.class.name=eddy.acl", "num.partitions=1"]) as b2:
        c = ks.Client(b2.port)
        try:
            r = c.call("AddPartitionsToTxn", 5, {"Transactions": [
                {"TransactionalId": "x", "ProducerId": 1, "ProducerEpoch": 0, "VerifyOnly": True,
                 "Topics": [{"Name": TOPIC, "Partitions": [0]}]}]})
            eq((r["ErrorCode"], r["ResultsByTransaction"]), (31, []),
               "AddPartitionsToTxn v5 without ClusterAction")
        finally:
            c.close()


def main():
    t = T()
    t.b = Eddyd(["num.partitions=1", "group.initial.rebalance.delay.ms=0"])
    res = Results(t.b)
    res.run("set-up: a topic with an id and three records", setup, t)
    res.run("ApiVersions advertises Kafka 4's maxima, old minima kept", api_versions, t)
    res.run("Fetch v13-v18 by topic id", fetch_by_id, t)
    res.run("Fetch v12 by name", fetch_by_name_v12, t)
    res.run("Fetch v13+: unknown id -> UNKNOWN_TOPIC_ID", fetch_unknown, t)
    res.run("Produce v12, Metadata v13", produce_v12_metadata_v13, t)
    res.run("ListOffsets v8-v11", list_offsets, t)
    res.run("Fetch v13+ bad input: cut topic id, huge topic count", fetch_bad_input, t)
    res.run("OffsetCommit v10 / OffsetFetch v10 by topic id", offsets_by_id, t)
    res.run("Produce v13 by topic id", produce_v13_by_id, t)
    res.run("DescribeGroups v6, DescribeCluster v2", describe_v6_v2, t)
    res.run("by-id bad input: OffsetCommit/OffsetFetch v10, Produce v13 cut in a topic id",
            by_id_bad_input, t)
    res.run("FindCoordinator v5/v6", find_coordinator, t)
    res.run("ListGroups v5 (GroupType, TypesFilter)", list_groups, t)
    res.run("AddPartitionsToTxn v4/v5 batched, ListTransactions v1, EndTxn v4", txn_batched, t)
    res.run("topic id stable across a restart (Fetch v17)", fetch_after_restart, t)
    res.run("AddPartitionsToTxn v4+ needs ClusterAction (authorizer on)",
            batched_needs_cluster_action, t)
    res.finish()


main()
