#!/usr/bin/env python3
"""test_cdc_snapshot_restart.py — an interrupted initial snapshot must not leave deleted rows
live on the topic.

eddy-cdc starts on a table of ROWS rows with a throttled producer (a small local queue, one
event per request) so the snapshot is still running when it is killed with SIGKILL once part of
it is on the topic. Some rows that are already on the topic (as snapshot reads, op "r") are then
deleted or updated, the snapshot is interrupted a second time the same way, more published rows
are deleted, and eddy-cdc is started a third time, unthrottled, until it streams. Each restart
re-creates the slot and takes a new snapshot (the old exported snapshot is gone); the deleted
rows are in none of them, so only eddy-cdc's reconciliation can retract them.

The topic is read back with kcat and audited:
  - after dropping repeats by source.sequence (per key, as docs/cdc.md says consumers do), the
    latest image of every key equals the table: every deleted row ends with a delete (before =
    its last image) followed by a tombstone, every updated row shows its new version;
  - exactly the published-then-deleted keys get such a retraction, no other key;
  - a later change (the marker insert) streams normally after the reconciliation.
"""
import json, os, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from onramp import Env, PG, fail, log, psql, wait_for, pg_available

ROWS = 20000
# one event per request and one request at a time: the pace is the broker's round trip, not
# how fast the disk syncs (with 20 per request, a disk syncing in 0.2 ms let the second
# attempt finish all 20,000 rows between two looks at the topic)
THROTTLE = ["-X", "queue.buffering.max.messages=200", "-X", "batch.num.messages=1",
            "-X", "linger.ms=0", "-X", "max.in.flight.requests.per.connection=1"]

if not pg_available():
    fail("PostgreSQL is not reachable at %s (run scripts/pg.sh)" % PG)

env = Env("cdcsnaprs")
env.start_broker()
sch = env.schema()
slot, pub = env.slot()
prefix = "cdc" + env.tag
table = "%s.item" % sch
topic = "%s.%s.item" % (prefix, sch)
psql("CREATE TABLE %s (id bigint PRIMARY KEY, version int NOT NULL, name text NOT NULL)" % table)
psql("INSERT INTO %s SELECT g, 1, 'v1' FROM generate_series(1, %d) g" % (table, ROWS))


def end_offset():
    r = subprocess.run(["kcat", "-b", env.bootstrap, "-C", "-t", topic, "-o", "-1", "-c", "1",
                        "-e", "-q", "-f", "%o\n"], capture_output=True, text=True)
    return int(r.stdout.split()[0]) + 1 if r.stdout.strip() else 0


def interrupted_snapshot(at_least):
    """Starts eddy-cdc throttled, kills it once at_least events are on the topic, returns the
    ids published so far as snapshot reads."""
    cdc = env.start_cdc([table], slot, pub, prefix, THROTTLE)

    def enough():
        if cdc.poll() is not None:
            fail("eddy-cdc exited (rc %s): %s" % (cdc.returncode,
                                                  open(cdc.logfile).read()[cdc.logpos:][-3000:]))
        return end_offset() >= at_least
    wait_for(enough, "%d events on the topic" % at_least, 120, 0.05)
    cdc.kill()
    cdc.wait()
    if "snapshot done" in open(cdc.logfile).read()[cdc.logpos:]:
        fail("the snapshot finished before the kill: the test proves nothing (raise ROWS)")
    ids = set()
    for rec in env.read_topic(topic):
        if rec["payload"] and json.loads(rec["payload"])["op"] == "r":
            ids.add(json.loads(rec["key"])["id"])
    return ids


published = interrupted_snapshot(1000)
if len(published) >= ROWS:
    fail("every row was published before the kill")
deleted = set(sorted(published)[::7])           # published, then deleted
updated = set(sorted(published)[3::7])          # published, then updated
unpublished_deleted = {ROWS - 5, ROWS - 4}      # never published, then deleted
psql("DELETE FROM %s WHERE id IN (%s)" % (table, ",".join(map(str, deleted | unpublished_deleted))))
psql("UPDATE %s SET version = 2, name = 'v2' WHERE id IN (%s)"
     % (table, ",".join(map(str, updated))))
log("first attempt killed with %d rows published; deleted %d of them, updated %d"
    % (len(published), len(deleted), len(updated)))

# the second attempt publishes again from the start, and past where the first one stopped
published2 = interrupted_snapshot(end_offset() + len(published) + 1000)
if len(published2) <= len(published):
    fail("the second attempt published no new key")
deleted2 = set(sorted(published2 - deleted - updated)[5::11])
psql("DELETE FROM %s WHERE id IN (%s)" % (table, ",".join(map(str, deleted2))))
deleted |= deleted2
log("second attempt killed with %d rows published; deleted %d more" % (len(published2),
                                                                      len(deleted2)))

cdc = env.start_cdc([table], slot, pub, prefix)
wait_for(lambda: "streaming from" in open(cdc.logfile).read()[cdc.logpos:]
         or cdc.poll() is not None, "eddy-cdc streaming", 120, 0.05)
if cdc.poll() is not None:
    fail("eddy-cdc exited (rc %s): %s" % (cdc.returncode, open(cdc.logfile).read()[-3000:]))
psql("INSERT INTO %s (id, version, name) VALUES (-1, 1, 'END')" % table)


def marker_seen():
    r = subprocess.run(["kcat", "-b", env.bootstrap, "-C", "-t", topic, "-o", "-5", "-e", "-q",
                        "-f", "%k\n"], capture_output=True, text=True)
    return '{"id":-1}' in r.stdout.split()


wait_for(marker_seen, "the marker on the topic", 60, 0.05)
cdc.terminate()
if cdc.wait(60) != 0:
    fail("eddy-cdc exit code %s on SIGTERM" % cdc.returncode)

# ---- audit ------------------------------------------------------------------------------------
recs = env.read_topic(topic)
state, pos_seen, prev_op, retracted = {}, {}, {}, set()
for rec in recs:
    key = rec["key"]
    if rec["payload"] is None:
        if prev_op.get(key) != "d":
            fail("tombstone for %s without a delete just before it" % key)
        prev_op[key] = None
        continue
    ev = json.loads(rec["payload"])
    prev_op[key] = ev["op"]
    c, l = json.loads(ev["source"]["sequence"])
    pos = (int(c or 0), int(l))
    if key in pos_seen and pos <= pos_seen[key]:
        continue  # a repeat (an earlier attempt's snapshot read)
    pos_seen[key] = pos
    if ev["op"] in ("r", "c", "u"):
        state[key] = ev["after"]
    elif ev["op"] == "d":
        before = state.get(key)
        if before is None:
            fail("delete of %s which is not live: %s" % (key, ev))
        if ev["before"] != before:
            fail("delete of %s: before %s, last image %s" % (key, ev["before"], before))
        if ev["source"]["snapshot"] not in ("true", "last"):
            fail("a reconciliation delete outside the snapshot: %s" % ev)
        retracted.add(json.loads(key)["id"])
        del state[key]
last_rec = {}
for rec in recs:
    last_rec[rec["key"]] = rec
for i in deleted:
    if last_rec['{"id":%d}' % i]["payload"] is not None:
        fail("deleted row %d does not end with a tombstone on the topic" % i)
if retracted != deleted:
    fail("retracted %d keys, want the %d published-then-deleted: missing %s, extra %s"
         % (len(retracted), len(deleted), sorted(deleted - retracted)[:5],
            sorted(retracted - deleted)[:5]))
pg_rows = {}
for line in psql("SELECT id, version, name FROM %s" % table).stdout.split():
    i, v, n = line.split("|")
    pg_rows['{"id":%s}' % i] = (int(v), n)
if set(state) != set(pg_rows):
    only_pg, only_topic = set(pg_rows) - set(state), set(state) - set(pg_rows)
    fail("keys differ: %d in PostgreSQL only (e.g. %s), %d on the topic only (e.g. %s)"
         % (len(only_pg), sorted(only_pg)[:3], len(only_topic), sorted(only_topic)[:3]))
for k, (v, n) in pg_rows.items():
    if (state[k]["version"], state[k]["name"]) != (v, n):
        fail("key %s: topic %s, PostgreSQL %s %s" % (k, state[k], v, n))
log("audit ok: %d records, %d keys live, %d published-then-deleted keys retracted"
    % (len(recs), len(state), len(retracted)))
print("PASS")
