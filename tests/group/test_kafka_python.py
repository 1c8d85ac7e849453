"""test_kafka_python — consumer groups and committed offsets with kafka-python 2.0.2 (run with
/usr/bin/python3) against a real eddyd: commit, restart the consumer, resume; seek_to_beginning
replays; offsets survive an eddyd SIGKILL + restart; a consumer killed with SIGKILL is expelled
after its session timeout and its partitions move to the survivor; admin views of groups.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Eddyd, Results, wait_until  # noqa: E402

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.structs import OffsetAndMetadata  # noqa: E402

ED = None
PARTS = 4


def admin():
    return KafkaAdminClient(bootstrap_servers=ED.bootstrap, client_id="kp-admin")


def create(topic, parts):
    """Topics are auto-created with num.partitions=4 (this suite tests groups, not
    CreateTopics); one record makes the topic exist before consumers subscribe."""
    assert parts == PARTS
    p = KafkaProducer(bootstrap_servers=ED.bootstrap)
    p.send(topic, value=b"first", partition=0).get(30)
    p.close()


def produce(topic, n, parts):
    p = KafkaProducer(bootstrap_servers=ED.bootstrap)
    for i in range(n):
        p.send(topic, value=b"m%d" % i, partition=i % parts)
    p.flush()
    p.close()


def consumer(group, **kw):
    kw.setdefault("auto_offset_reset", "earliest")
    kw.setdefault("enable_auto_commit", False)
    return KafkaConsumer(bootstrap_servers=ED.bootstrap, group_id=group, **kw)


def drain(c, want, timeout=30):
    got = []
    deadline = time.time() + timeout
    while len(got) < want and time.time() < deadline:
        for tp, recs in c.poll(timeout_ms=200).items():
            got.extend((tp.partition, r.offset) for r in recs)
    return got


def test_commit_restart_resume():
    # partition 0 holds "first" at offset 0, then 30 records per partition
    create("kp-resume", 4)
    produce("kp-resume", 120, 4)
    c = consumer("kp-g1")
    c.subscribe(["kp-resume"])
    first = drain(c, 121)
    assert len(first) == 121, len(first)
    c.commit()
    c.close()
    produce("kp-resume", 40, 4)
    c = consumer("kp-g1")
    c.subscribe(["kp-resume"])
    second = drain(c, 40)
    time.sleep(1.0)
    second += drain(c, 1, timeout=1)
    c.close()
    want = [(i % 4, 30 + i // 4 + (1 if i % 4 == 0 else 0)) for i in range(40)]
    assert sorted(second) == sorted(want), second


def test_seek_to_beginning_replays():
    c = consumer("kp-g1")
    c.subscribe(["kp-resume"])
    wait_until(lambda: c.poll(timeout_ms=100) is not None and c.assignment(), 30, "assignment")
    c.seek_to_beginning()
    got = drain(c, 161)
    c.close()
    assert len(set(got)) == 161, len(set(got))
    assert (0, 0) in got


def test_offsets_survive_sigkill():
    create("kp-kill", 4)
    produce("kp-kill", 40, 2)  # partitions 0 and 1 only; p0 also has "first" at 0
    c = consumer("kp-g2")
    tps = [TopicPartition("kp-kill", 0), TopicPartition("kp-kill", 1)]
    c.assign(tps)
    c.commit({tps[0]: OffsetAndMetadata(17, "meta-17"), tps[1]: OffsetAndMetadata(5, "")})
    c.close()
    ED.kill9()
    ED.start()
    c = consumer("kp-g2")
    assert c.committed(tps[0]) == 17, c.committed(tps[0])
    assert c.committed(tps[1]) == 5
    c.close()
    a = admin()
    offs = a.list_consumer_group_offsets("kp-g2")
    a.close()
    assert offs[tps[0]].offset == 17 and offs[tps[0]].metadata == "meta-17", offs
    # a group consumer resumes from the committed offsets
    c = consumer("kp-g2")
    c.subscribe(["kp-kill"])
    got = drain(c, 19)
    c.close()
    assert min(o for p, o in got if p == 0) == 17 and min(o for p, o in got if p == 1) == 5


CHILD = r"""
import sys, time
from kafka import KafkaConsumer
c = KafkaConsumer(bootstrap_servers=sys.argv[1], group_id="kp-g3", session_timeout_ms=6000,
                  heartbeat_interval_ms=1000, enable_auto_commit=False,
                  auto_offset_reset="earliest")
c.subscribe(["kp-expel"])
while True:
    c.poll(timeout_ms=200)
    if c.assignment():
        print("assigned", len(c.assignment()), flush=True)
"""


def test_sigkilled_consumer_expelled():
    create("kp-expel", 4)
    child = subprocess.Popen([sys.executable, "-c", CHILD, ED.bootstrap],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = child.stdout.readline()
        assert line.startswith(b"assigned"), line
        c = consumer("kp-g3", session_timeout_ms=6000, heartbeat_interval_ms=1000)
        c.subscribe(["kp-expel"])

        def split():
            c.poll(timeout_ms=100)
            return len(c.assignment()) == 2
        wait_until(split, 60, "the two consumers to split 4 partitions")
        a = admin()
        desc = a.describe_consumer_groups(["kp-g3"])[0]
        assert desc.state == "Stable" and len(desc.members) == 2, desc
        child.send_signal(signal.SIGKILL)
        child.wait()
        t0 = time.time()

        def all4():
            c.poll(timeout_ms=100)
            return len(c.assignment()) == 4
        wait_until(all4, 60, "the survivor to own all 4 partitions")
        took = time.time() - t0
        print("killed member expelled and partitions moved after %.1f s "
              "(session.timeout 6 s)" % took)
        assert took >= 3, took  # expelled by the session timeout, not before
        desc = a.describe_consumer_groups(["kp-g3"])[0]
        assert len(desc.members) == 1, desc
        a.close()
        c.close()
    finally:
        if child.poll() is None:
            child.kill()


CHILD_G4 = CHILD.replace('"kp-g3"', '"kp-g4"').replace('"kp-expel"', '"kp-expire"')


def test_delete_group_at_session_deadline():
    # librdkafka's admin test: a member goes silent, DeleteGroups exactly session.timeout.ms
    # later must find the group empty (the member expired at its deadline, not a tick later)
    create("kp-expire", PARTS)
    child = subprocess.Popen([sys.executable, "-c", CHILD_G4, ED.bootstrap],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = child.stdout.readline()
        assert line.startswith(b"assigned"), line
        child.send_signal(signal.SIGKILL)
        child.wait()
        t_kill = time.monotonic()  # its last heartbeat was before this
        a = admin()
        d = a.describe_consumer_groups(["kp-g4"])[0]
        assert len(d.members) == 1, d  # still a member: its session has not ended
        time.sleep(max(0.0, t_kill + 6.02 - time.monotonic()))
        res = dict(a.delete_consumer_groups(["kp-g4"]))
        errs = {g: e.errno for g, e in res.items()}
        assert errs == {"kp-g4": 0}, "DeleteGroups %.2f s after the kill: %s" % (
            time.monotonic() - t_kill, errs)
        assert "kp-g4" not in dict(a.list_consumer_groups())
        a.close()
    finally:
        if child.poll() is None:
            child.kill()


def test_admin_views():
    a = admin()
    groups = dict(a.list_consumer_groups())
    assert "kp-g1" in groups and "kp-g2" in groups, groups
    d = a.describe_consumer_groups(["kp-g1", "no-such-group"])
    assert d[0].state == "Empty", d[0]
    assert d[1].state == "Dead", d[1]
    if hasattr(a, "delete_consumer_groups"):
        res = dict(a.delete_consumer_groups(["kp-g1"]))
        assert all(e.errno == 0 for e in res.values()) if res else True, res
        assert "kp-g1" not in dict(a.list_consumer_groups())
    a.close()


def main():
    global ED
    ED = Eddyd(sets=["num.partitions=%d" % PARTS]).start()
    r = Results()
    try:
        r.run("commit, restart consumer, resume", test_commit_restart_resume)
        r.run("seek_to_beginning replays", test_seek_to_beginning_replays)
        r.run("offsets survive eddyd SIGKILL + restart", test_offsets_survive_sigkill)
        r.run("SIGKILLed consumer expelled after session timeout",
              test_sigkilled_consumer_expelled)
        r.run("admin list/describe/delete groups", test_admin_views)
        r.run("DeleteGroups at the silent member's session deadline",
              test_delete_group_at_session_deadline)
        r.run("eddyd exits cleanly on SIGTERM", ED.stop_clean)
    finally:
        ED.cleanup()
    r.finish()


if __name__ == "__main__":
    main()
