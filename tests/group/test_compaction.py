"""test_compaction — log compaction of a cleanup.policy=compact topic (the policy of
__consumer_offsets) seen by a real client: 100k keyed updates over 1k keys plus tombstones for
100 of them; once the broker has compacted, kafka-python reads back from the beginning the
latest value of every live key, no value for a tombstoned key, and every record at the offset it
was originally written at (compaction keeps offsets).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Eddyd, Results, wait_until  # noqa: E402

from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402

ED = None
TOPIC = "compact-t"
KEYS = 1000
UPDATES = 100_000
DEAD = 100  # keys 0..99 get a tombstone at the end


def read_all(expect_max=None):
    c = KafkaConsumer(bootstrap_servers=ED.bootstrap, enable_auto_commit=False,
                      auto_offset_reset="earliest", consumer_timeout_ms=3000,
                      max_partition_fetch_bytes=4 << 20)
    tp = TopicPartition(TOPIC, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    end = c.end_offsets([tp])[tp]
    out = []
    while True:
        recs = c.poll(timeout_ms=1000)
        for rs in recs.values():
            out.extend(rs)
        if out and out[-1].offset >= end - 1:
            break
        if not recs and c.position(tp) >= end:
            break
    c.close()
    return out, end


def test_compaction():
    # the topic is auto-created with the broker defaults set in main(): compact, 256 KiB
    # segments, 1 partition
    p = KafkaProducer(bootstrap_servers=ED.bootstrap, linger_ms=20, batch_size=65536)
    offset_of = {}
    futs = []
    for i in range(UPDATES):
        k = i % KEYS
        futs.append((i, p.send(TOPIC, key=b"k%d" % k, value=b"v%d" % i, partition=0)))
    for k in range(DEAD):
        futs.append((-1 - k, p.send(TOPIC, key=b"k%d" % k, value=None, partition=0)))
    p.flush()
    for i, f in futs:
        offset_of[i] = f.get(30).offset
    p.close()
    latest = {}
    for i in range(UPDATES):
        latest[i % KEYS] = i

    def compacted():
        recs, _ = read_all()
        return recs if len(recs) < UPDATES // 4 else None
    recs = wait_until(compacted, 120, "compaction to shrink the log", interval=2)
    print("read back %d records after compaction (from %d written)" %
          (len(recs), UPDATES + DEAD))
    live = {}
    for r in recs:
        k = int(r.key[1:])
        if r.value is None:
            live.pop(k, None)
            assert r.offset == offset_of[-1 - k], (k, r.offset)
            continue
        i = int(r.value[1:])
        assert r.offset == offset_of[i], ("offset moved", i, r.offset, offset_of[i])
        live[k] = i
    for k in range(KEYS):
        if k < DEAD:
            assert k not in live, ("tombstoned key has a value", k)
        else:
            assert live.get(k) == latest[k], (k, live.get(k), latest[k])
    offs = [r.offset for r in recs]
    assert offs == sorted(offs) and len(set(offs)) == len(offs)


def main():
    global ED
    ED = Eddyd(sets=["log.retention.check.interval.ms=1000", "log.cleanup.policy=compact",
                     "log.segment.bytes=262144", "num.partitions=1"]).start()
    r = Results()
    try:
        r.run("compaction: latest value per key, tombstones, offsets preserved", test_compaction)
        r.run("eddyd exits cleanly on SIGTERM", ED.stop_clean)
    finally:
        ED.cleanup()
    r.finish()


if __name__ == "__main__":
    main()
