#!/usr/bin/python3
"""test_producer_ids — issue 11 item 0: every shape of InitProducerId on raw sockets.

Kafka's rule, which eddyd must give: without a transactional id the ProducerId/ProducerEpoch
fields are ignored and a fresh producer id at epoch 0 is handed out — for -1/-1, for 0/0 (what
@platformatic/kafka sends), for a stale id/epoch of an earlier producer and for an id this broker
never handed out; one of the two set to -1 without the other is INVALID_REQUEST (42); a
transactional id is refused (53: eddyd has no transaction coordinator). Then the loss the bug
caused, in raw form: two producers that both asked with 0/0 each write a batch with sequence 0
to the same partition, and both batches are stored (before the fix the second was acknowledged
as a duplicate of the first and never written). Requests are hand-encoded (kwire.py).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, HERE)
from eddyd import Eddyd, Results  # noqa: E402
import kwire as kw  # noqa: E402

INIT_PRODUCER_ID, PRODUCE, FETCH = 22, 0, 1
TOPIC = "pids"
TS = 1700000000000


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s:\n  got      %r\n  expected %r" % (what, got, want))


def compact_nullable(s):
    if s is None:
        return kw.uvarint(0)
    b = s.encode()
    return kw.uvarint(len(b) + 1) + b


def init_pid(port, version=4, pid=-1, epoch=-1, txn_id=None):
    """InitProducerId; returns (error, producer id, epoch)."""
    if version >= 2:
        body = compact_nullable(txn_id) + kw.i32(60000)
        if version >= 3:
            body += kw.i64(pid) + kw.i16(epoch)
        body += b"\x00"
    else:
        body = kw.s16(txn_id) + kw.i32(60000)
    c = kw.Conn(port)
    try:
        resp = c.request(INIT_PRODUCER_ID, version, body, flexible=version >= 2)
    finally:
        c.close()
    r = kw.Reader(resp)
    if version >= 2:
        eq(r.uvarint(), 0, "response header tagged fields")
    r.i32()  # throttle
    out = (r.i16(), r.i64(), r.i16())
    if version >= 2:
        eq(r.uvarint(), 0, "response tagged fields")
    eq(r.left(), 0, "trailing bytes in the InitProducerId answer")
    return out


class Suite:
    def __init__(self, broker):
        self.port = broker.port
        self.ids = set()

    def fresh(self, got, what):
        err, pid, epoch = got
        eq((err, epoch), (0, 0), "%s: (error, epoch)" % what)
        if pid < 0 or pid in self.ids:
            raise AssertionError("%s: producer id %d is not fresh (handed out: %s)"
                                 % (what, pid, sorted(self.ids)))
        self.ids.add(pid)
        return pid

    def no_txn_minus_one(self):
        for v in (0, 1, 2, 3, 4):
            self.fresh(init_pid(self.port, v), "v%d without ids" % v)

    def no_txn_zero_zero(self):
        eq(0 in self.ids, True, "id 0 handed out already")
        for _ in range(3):
            self.fresh(init_pid(self.port, 4, 0, 0), "0/0 (@platformatic/kafka's request)")

    def no_txn_stale(self):
        old = min(self.ids)
        for ep in (0, 1, 5):
            self.fresh(init_pid(self.port, 4, old, ep), "stale id %d epoch %d" % (old, ep))
        latest = max(self.ids)
        self.fresh(init_pid(self.port, 3, latest, 0), "the latest id, as a bump (v3)")

    def no_txn_foreign(self):
        self.fresh(init_pid(self.port, 4, 1000000, 7), "an id never handed out")
        self.fresh(init_pid(self.port, 4, 2**62, 32766), "a huge id and epoch")

    def half_set(self):
        eq(init_pid(self.port, 4, -1, 3), (42, -1, -1), "id -1 with epoch 3")
        eq(init_pid(self.port, 4, 5, -1), (42, -1, -1), "id 5 with epoch -1")

    def transactional(self):
        eq(init_pid(self.port, 4, -1, -1, "tx-1"), (53, -1, -1), "transactional id (v4)")
        eq(init_pid(self.port, 1, txn_id="tx-1"), (53, -1, -1), "transactional id (v1)")

    def two_producers_same_request(self):
        """Both ask with 0/0, both write sequence 0: both batches are stored."""
        got = []
        for name in (b"a", b"b"):
            err, pid, epoch = init_pid(self.port, 4, 0, 0)
            eq(err, 0, "InitProducerId error")
            recs = [(name, name + b"-%d" % i, (), TS + i) for i in range(3)]
            bat = kw.batch(recs, TS, pid=pid, epoch=epoch, seq=0)
            c = kw.Conn(self.port)
            try:
                resp = c.request(PRODUCE, 7, kw.produce_body({TOPIC: {0: bat}}, version=7))
            finally:
                c.close()
            p = kw.parse_produce(resp, 7)
            part = p["topics"][0][1][0]
            eq(part["error"], 0, "produce error for producer %r" % name)
            got.append(part["base_offset"])
        eq(got, [0, 3], "base offsets of the two producers' batches")
        c = kw.Conn(self.port)
        try:
            f = kw.parse_fetch_v4(c.request(FETCH, 4, kw.fetch_body_v4({TOPIC: {0: 0}})))
        finally:
            c.close()
        part = f["topics"][0][1][0]
        eq(part["hwm"], 6, "high watermark")
        vals = [r[2] for b in kw.parse_batches(part["records"]) for r in b["records"]]
        eq(vals, [b"a-0", b"a-1", b"a-2", b"b-0", b"b-1", b"b-2"], "stored values")


def main():
    b = Eddyd(["num.partitions=1"])
    r = Results(b)
    s = Suite(b)
    for name, fn in [
        ("no transactional id, -1/-1, every version: a fresh id at epoch 0", s.no_txn_minus_one),
        ("no transactional id, 0/0: a fresh id, never a bump of id 0", s.no_txn_zero_zero),
        ("no transactional id, a stale id/epoch: a fresh id", s.no_txn_stale),
        ("no transactional id, an id the broker never gave: a fresh id", s.no_txn_foreign),
        ("one of id/epoch -1 without the other: INVALID_REQUEST (42)", s.half_set),
        ("a transactional id: TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53)", s.transactional),
        ("two producers asking 0/0 both write sequence 0: both stored", s.two_producers_same_request),
    ]:
        r.run(name, fn)
    r.finish()


if __name__ == "__main__":
    main()
