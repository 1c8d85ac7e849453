#!/usr/bin/python3
"""test_txn_bad_input — issue 14 item "bad input" on raw sockets (hand-encoded, kwire.py):
EndTxn for an unknown transactional id (49) and without an open transaction (48), with an old
epoch (47); TxnOffsetCommit for an unknown group with a generation (22); AddPartitionsToTxn for an
unknown topic (3); a transactional id that is empty, holds NUL or is longer than 255 bytes (42);
control batches produced by a client and transactional batches without a transactional id are
refused (87) and nothing is appended; the broker keeps serving.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# the launcher (tests/harness) and the raw-request helpers (tests/broker/kwire.py)
for d in ("harness", "broker"):
    sys.path.insert(0, os.path.join(HERE, "..", d))
from eddyd import Eddyd, Results  # noqa: E402
import kwire as kw  # noqa: E402

PRODUCE, LIST_OFFSETS, INIT_PID, ADD_PARTS, END_TXN, TXN_COMMIT = 0, 2, 22, 24, 26, 28
CREATE_TOPICS = 19


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s:\n  got      %r\n  expected %r" % (what, got, want))


def raw(port, api, version, body, flexible=False):
    c = kw.Conn(port)
    try:
        c.corr += 1
        c.send(kw.frame(api, version, c.corr, body, flexible=flexible))
        corr, resp = c.recv_frame()
        eq(corr, c.corr, "correlation id")
        return resp
    finally:
        c.close()


def cstr(b):
    if b is None:
        return kw.uvarint(0)
    if isinstance(b, str):
        b = b.encode()
    return kw.uvarint(len(b) + 1) + b


def init_pid(port, tid, timeout=60000):
    """InitProducerId v1: (error, pid, epoch)."""
    r = kw.Reader(raw(port, INIT_PID, 1, kw.s16(tid) + kw.i32(timeout)))
    r.i32()
    return r.i16(), r.i64(), r.i16()


def end_txn(port, tid, pid, epoch, commit=True):
    """EndTxn v1: the error."""
    r = kw.Reader(raw(port, END_TXN, 1, kw.s16(tid) + kw.i64(pid) + kw.i16(epoch) + kw.i8(commit)))
    r.i32()
    return r.i16()


def add_parts(port, tid, pid, epoch, topic, parts):
    """AddPartitionsToTxn v1: [(topic, [(partition, error)])]."""
    body = kw.s16(tid) + kw.i64(pid) + kw.i16(epoch)
    body += kw.array([kw.s16(topic) + kw.array([kw.i32(p) for p in parts])])
    r = kw.Reader(raw(port, ADD_PARTS, 1, body))
    r.i32()
    return r.array(lambda: (r.str(), r.array(lambda: (r.i32(), r.i16()))))


def txn_offset_commit_v3(port, tid, group, pid, epoch, generation, member, topic, part, offset):
    """TxnOffsetCommit v3 (flexible): [(partition, error)] of the one topic."""
    body = cstr(tid) + cstr(group) + kw.i64(pid) + kw.i16(epoch) + kw.i32(generation)
    body += cstr(member) + cstr(None)
    body += kw.uvarint(2) + cstr(topic) + kw.uvarint(2)
    body += kw.i32(part) + kw.i64(offset) + kw.i32(-1) + cstr("") + b"\x00"
    body += b"\x00" + b"\x00"
    r = kw.Reader(raw(port, TXN_COMMIT, 3, body, flexible=True))
    r.uvarint()  # response header tags
    r.i32()
    nt = r.uvarint() - 1
    out = []
    for _ in range(nt):
        skip_cstr(r)
        npart = r.uvarint() - 1
        for _ in range(npart):
            out.append((r.i32(), r.i16()))
            r.uvarint()
        r.uvarint()
    return out


def create_topic(port, name, parts=1):
    body = kw.array([kw.s16(name) + kw.i32(parts) + kw.i16(1) + kw.array([]) + kw.array([])])
    body += kw.i32(10000) + kw.i8(0)
    r = kw.Reader(raw(port, CREATE_TOPICS, 2, body))
    r.i32()
    eq(r.array(lambda: (r.str(), r.i16(), r.str()))[0][1], 0, "CreateTopics " + name)


def hwm(port, topic):
    body = kw.i32(-1) + kw.array([kw.s16(topic) + kw.array([kw.i32(0) + kw.i64(-1)])])
    r = kw.Reader(raw(port, LIST_OFFSETS, 1, body))
    topics = r.array(lambda: (r.str(), r.array(lambda: (r.i32(), r.i16(), r.i64(), r.i64()))))
    return topics[0][1][0][3]


def produce(port, topic, batch, txn_id=None):
    body = kw.produce_body({topic: {0: batch}}, version=8, txn_id=txn_id)
    # v8 answer: the same layout as v7 plus record errors and an error message per partition
    resp = raw(port, PRODUCE, 8, body)
    r = kw.Reader(resp)
    r.i32()  # topics count
    r.str()
    r.i32()
    r.i32()
    return r.i16()


ADD_OFFSETS, OFFSET_FETCH = 25, 9


def add_offsets(port, tid, pid, epoch, group):
    r = kw.Reader(raw(port, ADD_OFFSETS, 1, kw.s16(tid) + kw.i64(pid) + kw.i16(epoch) +
                      kw.s16(group)))
    r.i32()
    return r.i16()


def txn_offset_commit_v2(port, tid, group, pid, epoch, topic, part, offset):
    body = kw.s16(tid) + kw.s16(group) + kw.i64(pid) + kw.i16(epoch)
    body += kw.array([kw.s16(topic) + kw.array([kw.i32(part) + kw.i64(offset) + kw.i32(-1) +
                                                 kw.s16("")])])
    r = kw.Reader(raw(port, TXN_COMMIT, 2, body))
    r.i32()
    return r.array(lambda: (r.str(), r.array(lambda: (r.i32(), r.i16()))))[0][1][0][1]


def skip_cstr(r):
    n = r.uvarint()
    r.pos += max(n - 1, 0)


def offset_fetch_v7(port, group, topic, part, stable):
    """OffsetFetch v7 (flexible): (offset, error) of the one partition."""
    body = cstr(group) + kw.uvarint(2) + cstr(topic) + kw.uvarint(2) + kw.i32(part) + b"\x00"
    body += kw.i8(1 if stable else 0) + b"\x00"
    r = kw.Reader(raw(port, OFFSET_FETCH, 7, body, flexible=True))
    r.uvarint()
    r.i32()
    r.uvarint()
    skip_cstr(r)
    r.uvarint()
    r.i32()
    off = r.i64()
    r.i32()
    skip_cstr(r)
    return off, r.i16()


DESCRIBE_PRODUCERS, FETCH = 61, 1


def describe_producers(port, topic, part, want_err=0):
    """DescribeProducers v0: [(pid, epoch, last_seq, txn_start_offset)] of the one partition
    (whose error code must be want_err)."""
    body = kw.uvarint(2) + cstr(topic) + kw.uvarint(2) + kw.i32(part) + b"\x00" + b"\x00"
    r = kw.Reader(raw(port, DESCRIBE_PRODUCERS, 0, body, flexible=True))
    r.uvarint()
    r.i32()
    r.uvarint()
    skip_cstr(r)
    r.uvarint()
    eq(r.i32(), part, "DescribeProducers partition index")
    eq(r.i16(), want_err, "DescribeProducers partition error")
    skip_cstr(r)
    out = []
    for _ in range(r.uvarint() - 1):
        pid, epoch, seq, _ts, _ce, start = r.i64(), r.i32(), r.i32(), r.i64(), r.i32(), r.i64()
        r.uvarint()
        out.append((pid, epoch, seq, start))
    return out


def fetch_committed(port, topic, offset=0):
    body = kw.fetch_body_v4({topic: {0: offset}}, isolation=1)
    return kw.parse_fetch_v4(raw(port, FETCH, 4, body))["topics"][0][1][0]


class Suite:
    def __init__(self, b):
        self.b = b

    @property
    def port(self):
        return self.b.port

    def end_txn_errors(self):
        eq(end_txn(self.port, "nobody", 5, 0), 49, "EndTxn of an unknown transactional id")
        err, pid, epoch = init_pid(self.port, "bad-1")
        eq((err, epoch), (0, 0), "InitProducerId bad-1")
        eq(end_txn(self.port, "bad-1", pid, epoch), 48, "EndTxn without a transaction")
        eq(end_txn(self.port, "bad-1", pid + 1, epoch), 49, "EndTxn with another producer id")
        err, pid2, epoch2 = init_pid(self.port, "bad-1")
        eq((err, pid2, epoch2), (0, pid, 1), "InitProducerId again: the next epoch")
        eq(end_txn(self.port, "bad-1", pid, 0), 47, "EndTxn v1 with the fenced epoch")

    def add_unknown_topic(self):
        err, pid, epoch = init_pid(self.port, "bad-2")
        create_topic(self.port, "known")
        got = add_parts(self.port, "bad-2", pid, epoch, "no-such-topic", [0])
        eq(got, [("no-such-topic", [(0, 3)])], "AddPartitionsToTxn of an unknown topic")
        eq(add_parts(self.port, "bad-2", pid, epoch, "known", [0, 7]),
           [("known", [(0, 55), (7, 3)])], "one unknown partition: the others not attempted")
        eq(end_txn(self.port, "bad-2", pid, epoch), 48, "nothing was added: no transaction")

    def txn_commit_unknown_group(self):
        err, pid, epoch = init_pid(self.port, "bad-3")
        got = txn_offset_commit_v3(self.port, "bad-3", "no-such-group", pid, epoch, 5, "m-1",
                                   "known", 0, 10)
        eq(got, [(0, 22)], "TxnOffsetCommit for an unknown group with a generation")

    def bad_txn_ids(self):
        eq(init_pid(self.port, "")[0], 42, "empty transactional id")
        eq(init_pid(self.port, "t\x00x")[0], 42, "transactional id with NUL")
        eq(init_pid(self.port, "x" * 256)[0], 42, "transactional id of 256 bytes")
        eq(init_pid(self.port, "y" * 255)[0], 0, "transactional id of 255 bytes")
        eq(init_pid(self.port, "z", timeout=0)[0], 50, "transaction timeout 0")
        eq(init_pid(self.port, "z", timeout=10**9)[0], 50, "timeout above transaction.max")

    def unstable_offsets(self):
        err, pid, epoch = init_pid(self.port, "bad-5")
        eq(add_offsets(self.port, "bad-5", pid, epoch, "g-stable"), 0, "AddOffsetsToTxn")
        eq(txn_offset_commit_v2(self.port, "bad-5", "g-stable", pid, epoch, "known", 0, 42), 0,
           "TxnOffsetCommit v2")
        eq(offset_fetch_v7(self.port, "g-stable", "known", 0, True), (-1, 88),
           "OffsetFetch require_stable during the transaction: UNSTABLE_OFFSET_COMMIT")
        eq(offset_fetch_v7(self.port, "g-stable", "known", 0, False), (-1, 0),
           "OffsetFetch without require_stable: the last committed (none)")
        eq(end_txn(self.port, "bad-5", pid, epoch, True), 0, "EndTxn commit")
        eq(offset_fetch_v7(self.port, "g-stable", "known", 0, True), (42, 0),
           "OffsetFetch after the commit")

    def wire_index(self):
        create_topic(self.port, "wire")
        plain = kw.batch([(b"k", b"p0", (), 1000)], 1000)
        eq(produce(self.port, "wire", plain), 0, "plain record")
        err, pid, epoch = init_pid(self.port, "bad-6")
        eq(add_parts(self.port, "bad-6", pid, epoch, "wire", [0]), [("wire", [(0, 0)])], "add")
        txb = kw.batch([(b"k", b"t0", (), 1000), (b"k", b"t1", (), 1000)], 1000, pid=pid,
                       epoch=epoch, seq=0, attrs=0x10)
        eq(produce(self.port, "wire", txb, txn_id="bad-6"), 0, "transactional batch")
        f = fetch_committed(self.port, "wire")
        eq((f["hwm"], f["lso"]), (3, 1), "HWM and LSO with the transaction open")
        eq(describe_producers(self.port, "wire", 0), [(pid, epoch, 1, 1)],
           "DescribeProducers: the open transaction starts at offset 1")
        eq(end_txn(self.port, "bad-6", pid, epoch, False), 0, "EndTxn abort")
        f = fetch_committed(self.port, "wire")
        eq((f["hwm"], f["lso"]), (4, 4), "HWM and LSO after the abort marker")
        eq(f["aborted"], [(pid, 1)], "AbortedTransactions of a read_committed fetch")
        eq(fetch_committed(self.port, "wire", 3)["aborted"], [(pid, 1)], "fetch at the marker")
        eq(describe_producers(self.port, "wire", 0), [(pid, epoch, 1, -1)], "no open transaction")
        eq(describe_producers(self.port, "wire", 7, 3), [], "DescribeProducers: unknown partition")
        eq(describe_producers(self.port, "no-such-topic", 0, 3), [], "... and unknown topic")

    def client_markers(self):
        before = hwm(self.port, "known")
        ctl = kw.batch([(b"\x00\x00\x00\x01", b"\x00\x00\x00\x00\x00\x00", (), 1000)], 1000,
                       pid=1, epoch=0, seq=-1, attrs=0x30)
        eq(produce(self.port, "known", ctl, txn_id="bad-4"), 87, "a control batch from a client")
        txb = kw.batch([(b"k", b"v", (), 1000)], 1000, pid=1, epoch=0, seq=0, attrs=0x10)
        eq(produce(self.port, "known", txb), 87, "a transactional batch without transactional id")
        eq(hwm(self.port, "known"), before, "nothing appended")


def main():
    b = Eddyd(["auto.create.topics.enable=false"])
    r = Results(b)
    s = Suite(b)
    for name, fn in [
        ("EndTxn: unknown id 49, no transaction 48, fenced epoch 47", s.end_txn_errors),
        ("AddPartitionsToTxn: unknown topic 3, the rest 55", s.add_unknown_topic),
        ("TxnOffsetCommit for an unknown group with a generation: 22", s.txn_commit_unknown_group),
        ("transactional ids: empty, NUL, > 255 bytes: 42; bad timeouts: 50", s.bad_txn_ids),
        ("control batches and bare transactional batches from clients: 87", s.client_markers),
        ("OffsetFetch require_stable while offsets are in a transaction: 88", s.unstable_offsets),
        ("on the wire: LSO, AbortedTransactions, DescribeProducers (unknown partition: 3)",
         s.wire_index),
    ]:
        r.run(name, fn)
    b.stop()
    r.finish()


if __name__ == "__main__":
    main()
