#!/usr/bin/python3
"""test_names — issue 11 item 4: names that cannot lie, and every legal topic name fits the disk.

Raw sockets (kwire.py) for the names no client library would send: CreateTopics `a\\0b` and a
name with a newline are INVALID_TOPIC_EXCEPTION (17) and create nothing (no topic `a`);
DeleteTopics `victim\\0zzz` is UNKNOWN_TOPIC (3) and `victim` survives; JoinGroup and OffsetFetch
with a group id holding NUL or a control character are INVALID_GROUP_ID (24) and no group `g` is
touched; InitProducerId with a transactional id holding NUL is INVALID_REQUEST (42); a client id
with NUL/control bytes gives a member id with those bytes replaced ('_'), never cut short.
kafka-python 2.0.2 for the long names: topics of 200, 201, 247, 248 and 249 characters (Kafka's
limit) are created with 3 partitions, written and read back; two 249-character names that share
their first 248 characters get two different directories; every directory and meta file name
fits NAME_MAX; after a restart every topic and record is still there. A meta file written
before the name= line existed (the file name is the name) still loads.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, HERE)
from eddyd import Eddyd, Results  # noqa: E402
import kwire as kw  # noqa: E402

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import NewTopic  # noqa: E402

CREATE_TOPICS, DELETE_TOPICS, JOIN_GROUP, OFFSET_FETCH, INIT_PRODUCER_ID = 19, 20, 11, 9, 22
METADATA = 3


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s:\n  got      %r\n  expected %r" % (what, got, want))


def raw(port, api, version, body, client_id=b"it-names"):
    c = kw.Conn(port)
    try:
        c.corr += 1
        c.send(kw.frame(api, version, c.corr, body, client_id=client_id))
        corr, resp = c.recv_frame()
        eq(corr, c.corr, "correlation id")
        return resp
    finally:
        c.close()


def create_topic_raw(port, name):
    """CreateTopics v2; returns (error, message)."""
    body = kw.array([kw.s16(name) + kw.i32(1) + kw.i16(1) + kw.array([]) + kw.array([])])
    body += kw.i32(10000) + kw.i8(0)
    r = kw.Reader(raw(port, CREATE_TOPICS, 2, body))
    r.i32()
    topics = r.array(lambda: (r.str(), r.i16(), r.str()))
    eq(len(topics), 1, "CreateTopics answers")
    return topics[0][1], topics[0][2]


def delete_topic_raw(port, name):
    """DeleteTopics v1; returns the topic's error."""
    r = kw.Reader(raw(port, DELETE_TOPICS, 1, kw.array([kw.s16(name)]) + kw.i32(10000)))
    r.i32()
    topics = r.array(lambda: (r.str(), r.i16()))
    eq(len(topics), 1, "DeleteTopics answers")
    return topics[0][1]


def topic_names(port):
    """Metadata v1 for all topics."""
    p = kw.parse_metadata_v1(raw(port, METADATA, 1, kw.i32(-1)))
    return sorted(t["name"] if isinstance(t, dict) else t[1] for t in p["topics"])


def join_raw(port, gid, client_id=b"it-names"):
    """JoinGroup v0 as a new member; returns (error, member id)."""
    body = kw.s16(gid) + kw.i32(10000) + kw.s16(b"") + kw.s16(b"consumer")
    body += kw.array([kw.s16(b"range") + kw.bytes32(b"\x00\x00\x00\x00\x00\x00\x00\x00")])
    r = kw.Reader(raw(port, JOIN_GROUP, 0, body, client_id=client_id))
    err = r.i16()
    r.i32()  # generation
    r.str()  # protocol
    r.str()  # leader
    return err, r.str()


def offset_fetch_raw(port, gid):
    """OffsetFetch v3 with an empty topic list; returns the top-level error."""
    r = kw.Reader(raw(port, OFFSET_FETCH, 3, kw.s16(gid) + kw.array([])))
    r.i32()
    r.array(lambda: None)
    return r.i16()


def init_pid_raw(port, txn_id):
    """InitProducerId v1; returns the error."""
    r = kw.Reader(raw(port, INIT_PRODUCER_ID, 1, kw.s16(txn_id) + kw.i32(60000)))
    r.i32()
    return r.i16()


def long_name(n, last="x"):
    base = ("topic-with-a-long-name." * 20)[: n - 1]
    return base + last


class Suite:
    def __init__(self, b):
        self.b = b
        self.long = [long_name(n) for n in (200, 201, 247, 248, 249)] + [long_name(249, "y")]

    @property
    def port(self):
        return self.b.port

    def nul_topic(self):
        eq(create_topic_raw(self.port, b"a\x00b")[0], 17, "CreateTopics a\\0b")
        eq(create_topic_raw(self.port, b"line\nbreak")[0], 17, "CreateTopics with a newline")
        eq(create_topic_raw(self.port, b"\x01")[0], 17, "CreateTopics \\x01")
        names = topic_names(self.port)
        for n in (b"a", b"line", b"a\x00b"):
            if n in names or n.decode() in names:
                raise AssertionError("topic %r exists after a refused create: %r" % (n, names))
        eq(create_topic_raw(self.port, b"victim")[0], 0, "CreateTopics victim")
        eq(delete_topic_raw(self.port, b"victim\x00zzz"), 3, "DeleteTopics victim\\0zzz")
        names = topic_names(self.port)
        if b"victim" not in names and "victim" not in names:
            raise AssertionError("victim deleted by a NUL-suffixed name: %r" % names)

    def nul_group(self):
        eq(join_raw(self.port, b"g")[0], 0, "JoinGroup g")
        for gid in (b"g\x00evil", b"g\nINFO forged", b"\x7f"):
            eq(join_raw(self.port, gid)[0], 24, "JoinGroup %r" % gid)
            eq(offset_fetch_raw(self.port, gid), 24, "OffsetFetch %r" % gid)
        eq(offset_fetch_raw(self.port, b"g"), 0, "OffsetFetch g")

    def nul_txn_id(self):
        eq(init_pid_raw(self.port, b"t\x00x"), 42, "InitProducerId t\\0x")
        eq(init_pid_raw(self.port, b""), 42, "InitProducerId with an empty transactional id")
        eq(init_pid_raw(self.port, None), 0, "InitProducerId without a transactional id")

    def nul_client_id(self):
        err, member = join_raw(self.port, b"g2", client_id=b"cl\x00i\nx")
        eq(err, 0, "JoinGroup with a NUL client id")
        if not (member if isinstance(member, bytes) else member.encode()).startswith(b"cl_i_x-"):
            raise AssertionError("member id %r does not carry the sanitized client id" % member)

    def long_names(self):
        admin = KafkaAdminClient(bootstrap_servers=self.b.bootstrap, request_timeout_ms=20000)
        try:
            admin.create_topics([NewTopic(n, 3, 1) for n in self.long], timeout_ms=20000)
        finally:
            admin.close()
        p = KafkaProducer(bootstrap_servers=self.b.bootstrap, acks="all")
        for n in self.long:
            for part in range(3):
                p.send(n, value=("%s:%d" % (n[-4:], part)).encode(), partition=part)
        p.flush(30)
        p.close()
        self.check_long()
        # every name on disk fits NAME_MAX, and the two 249-character names do not share one
        dirs = os.listdir(self.b.data)
        metas = os.listdir(os.path.join(self.b.data, "__topics"))
        for f in dirs + metas:
            if len(f.encode()) + len(".tmp") > 255:
                raise AssertionError("file name of %d bytes: %s" % (len(f), f))
        long_dirs = [d for d in dirs if "~" in d]
        eq(len(long_dirs), 3 * 5, "hashed partition directories (5 names over 200 chars)")
        eq(len(set(long_dirs)), len(long_dirs), "distinct directories")
        for n in self.long:
            hits = [m for m in metas
                    if ("name=%s\n" % n) in open(os.path.join(self.b.data, "__topics", m)).read()]
            eq(len(hits), 1, "meta files naming %s..." % n[:20])

    def check_long(self):
        c = KafkaConsumer(bootstrap_servers=self.b.bootstrap, consumer_timeout_ms=3000,
                          enable_auto_commit=False)
        try:
            for n in self.long:
                tps = [TopicPartition(n, part) for part in range(3)]
                c.assign(tps)
                c.seek_to_beginning()
                got = {}
                for _ in range(30):
                    for tp, recs in c.poll(timeout_ms=500).items():
                        for rec in recs:
                            got.setdefault(tp.partition, []).append(rec.value)
                    if len(got) == 3:
                        break
                want = {part: [("%s:%d" % (n[-4:], part)).encode()] for part in range(3)}
                eq(got, want, "records of the %d-character topic" % len(n))
        finally:
            c.close()

    def restart(self):
        self.b.stop()
        # a meta file from before name= lines: the file name is the topic name
        mp = os.path.join(self.b.data, "__topics", "victim.meta")
        text = open(mp).read()
        if "name=victim\n" not in text:
            raise AssertionError("victim.meta has no name= line: %r" % text)
        with open(mp, "w") as f:
            f.write(text.replace("name=victim\n", ""))
        self.b.start()
        names = topic_names(self.port)
        for n in self.long + ["victim"]:
            if n.encode() not in names and n not in names:
                raise AssertionError("topic %s... missing after a restart" % n[:30])
        self.check_long()
        if "ignoring" in self.b.log_text():
            raise AssertionError("eddyd ignored something on restart:\n%s" % self.b.log_tail())


def main():
    b = Eddyd(["num.partitions=1", "auto.create.topics.enable=false"])
    r = Results(b)
    s = Suite(b)
    for name, fn in [
        ("topic names with NUL/control characters: 17, nothing created or deleted", s.nul_topic),
        ("group ids with NUL/control characters: 24 (JoinGroup, OffsetFetch)", s.nul_group),
        ("transactional id with NUL or empty: 42", s.nul_txn_id),
        ("client id with NUL/control characters: replaced in the member id", s.nul_client_id),
        ("topic names of 200-249 characters: created, written, read, fit NAME_MAX", s.long_names),
        ("after a restart (and an old meta file without name=): all there", s.restart),
    ]:
        r.run(name, fn)
    b.stop()
    r.finish()


if __name__ == "__main__":
    main()
