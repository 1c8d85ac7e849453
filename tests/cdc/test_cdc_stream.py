#!/usr/bin/env python3
"""test_cdc_stream.py — eddy-cdc end to end under load and kill -9 (issue 16, CDC tests).

A real PostgreSQL table gets CDC_SNAPSHOT_ROWS rows, then eddy-cdc starts (initial snapshot)
while two psql writers run CDC_TXNS transactions each (inserts, updates that bump a version
column, deletes, and transactions that are rolled back) and the table gains and loses a column.
eddy-cdc is killed with SIGKILL CDC_KILLS times at random points and restarted; the first kill
lands in the initial snapshot once part of it is on the topic, and the first rows it published
are then deleted (the next snapshot does not see them: they must be retracted). At the end the
topic is read back with kcat and audited:
  - after dropping repeats by source.sequence (per key), every key's events form an unbroken chain:
    a snapshot read or a create at version 1, then updates at version+1 each, then at most one
    delete (with a tombstone after it) — so no committed change is missing or out of order;
  - the last image of every key equals the row in PostgreSQL (deleted rows are absent in both);
  - no rolled-back write appears; the added column shows up in later events, the dropped one
    disappears.
"""
import os, random, subprocess, sys, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from onramp import Env, PG, fail, log, psql, wait_for, pg_available

from onramp import BUILD
SLOW = "asan" in BUILD.lower()  # sanitizer build: a smaller load, the same checks
SNAP = int(os.environ.get("CDC_SNAPSHOT_ROWS", "30000" if SLOW else "80000"))
TXNS = int(os.environ.get("CDC_TXNS", "1500" if SLOW else "4000"))  # per writer; ~3 changes each
KILLS = int(os.environ.get("CDC_KILLS", "20"))
WRITERS = 2

if not pg_available():
    fail("PostgreSQL is not reachable at %s (run scripts/pg.sh)" % PG)

env = Env("cdcstream")
env.start_broker()
sch = env.schema()
slot, pub = env.slot()
prefix = "cdc" + env.tag
table = "%s.acct" % sch
topic = "%s.%s.acct" % (prefix, sch)
psql("CREATE TABLE %s (id bigint PRIMARY KEY, version int NOT NULL, name text NOT NULL,"
     " balance numeric(12,2), spare int)" % table)
psql("INSERT INTO %s SELECT g, 1, 'v1', g * 1.5, 0 FROM generate_series(1, %d) g" % (table, SNAP))
log("table %s: %d rows before eddy-cdc starts" % (table, SNAP))

# ---- writer scripts --------------------------------------------------------------------------
rng = random.Random(16)
scripts = []
for w in range(WRITERS):
    lines = ["\\set ON_ERROR_STOP 0"]
    next_id = (w + 1) * 10_000_000
    mine = []
    for i in range(TXNS):
        r = rng.random()
        lines.append("BEGIN;")
        if r < 0.05:  # a transaction that never commits
            k = rng.randint(1, SNAP)
            lines.append("UPDATE %s SET name = 'ROLLED-BACK', version = version + 1 WHERE id = %d;"
                         % (table, k))
            lines.append("ROLLBACK;")
            continue
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            if op < 0.3 or not mine:
                next_id += 1
                mine.append(next_id)
                lines.append("INSERT INTO %s (id, version, name, balance) VALUES (%d, 1, 'v1', %d.25);"
                             % (table, next_id, next_id % 1000))
            elif op < 0.9:
                k = rng.choice(mine) if rng.random() < 0.5 else rng.randint(1, SNAP)
                lines.append("UPDATE %s SET version = version + 1, name = 'v' || (version + 1),"
                             " balance = balance + 1 WHERE id = %d;" % (table, k))
            else:
                k = rng.choice(mine) if rng.random() < 0.5 else rng.randint(1, SNAP)
                lines.append("DELETE FROM %s WHERE id = %d;" % (table, k))
        lines.append("COMMIT;")
    path = os.path.join(env.tmp, "writer%d.sql" % w)
    open(path, "w").write("\n".join(lines) + "\n")
    scripts.append(path)

# ---- run: writers + DDL + kills ---------------------------------------------------------------
cdc = env.start_cdc([table], slot, pub, prefix)
writers = [subprocess.Popen(["psql", PG, "-qX", "-f", s], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL) for s in scripts]
ddl_done = []
drop_lsn = []


def ddl():
    time.sleep(1.0)
    psql("ALTER TABLE %s ADD COLUMN note text DEFAULT 'n'" % table)
    ddl_done.append("add")
    time.sleep(1.0)
    psql("ALTER TABLE %s DROP COLUMN spare" % table)
    # WAL insert position after the DROP committed: a change whose transaction committed past
    # it was written without the column
    hi, lo = psql("SELECT pg_current_wal_lsn()").stdout.strip().split("/")
    drop_lsn.append((int(hi, 16) << 32) | int(lo, 16))
    ddl_done.append("drop")


t_ddl = threading.Thread(target=ddl)
t_ddl.start()
kills = 0
krng = random.Random()
while kills < KILLS:
    if kills == 0:  # the first kill lands in the initial snapshot, once part of it is published
        def snapshot_partly_out():
            if cdc.poll() is not None or "snapshot done" in open(cdc.logfile).read():
                return True
            r = subprocess.run(["kcat", "-b", env.bootstrap, "-C", "-t", topic, "-o", "-1", "-c",
                                "1", "-e", "-q", "-f", "%o\n"], capture_output=True, text=True)
            return r.stdout.strip() and int(r.stdout.split()[0]) >= 1000
        wait_for(snapshot_partly_out, "part of the snapshot on the topic", 120, 0.02)
    else:  # the others while streaming
        start = cdc.logpos
        def streaming():
            if time.time() - t_restart > 240:
                fail("eddy-cdc did not stream again within 240 s; its log:\n"
                     + open(cdc.logfile).read()[start:][-3000:])
            return "streaming from" in open(cdc.logfile).read()[start:] or cdc.poll() is not None
        t_restart = time.time()
        wait_for(streaming, "eddy-cdc streaming again", 300, 0.05)
        time.sleep(krng.uniform(0.05, 1.0))
    if cdc.poll() is not None:
        fail("eddy-cdc exited by itself (rc %s): %s" % (cdc.returncode,
                                                        open(cdc.logfile).read()[-3000:]))
    cdc.kill()
    cdc.wait()
    if kills == 0:
        # rows the interrupted snapshot published (the cursor reads them first), deleted before
        # the next snapshot: only a retraction (delete + tombstone) can take them off the topic
        psql("DELETE FROM %s WHERE id BETWEEN 1 AND 20" % table)
    kills += 1
    cdc = env.start_cdc([table], slot, pub, prefix)
t_ddl.join()
for w in writers:
    w.wait()
    if w.returncode != 0:
        fail("a writer failed (rc %d)" % w.returncode)
log("%d kill -9 done; writers finished" % kills)

# marker row: the last change; when it is on the topic, everything before it is too
psql("INSERT INTO %s (id, version, name) VALUES (-1, 1, 'END')" % table)


def marker_seen():
    if cdc.poll() is not None:
        fail("eddy-cdc exited (rc %s): %s" % (cdc.returncode, open(cdc.logfile).read()[-3000:]))
    r = subprocess.run(["kcat", "-b", env.bootstrap, "-C", "-t", topic, "-o", "-50", "-e", "-q",
                        "-f", "%k\n"], capture_output=True, text=True)
    return '{"id":-1}' in r.stdout


wait_for(marker_seen, "the marker row on the topic", 180, 0.5)
cdc.terminate()
if cdc.wait(60) != 0:
    fail("eddy-cdc exit code %s on SIGTERM" % cdc.returncode)

# ---- audit ------------------------------------------------------------------------------------
import json
recs = env.read_topic(topic, 300)
log("%d records on %s" % (len(recs), topic))
state = {}      # key -> ("live", version, after) | ("deleted",)
last_lsn = {}
dups = 0
ops = {}
saw_note = saw_spare_after_drop = 0
last_raw = {}
for rec in recs:
    key = rec["key"]
    if rec["payload"] is None:  # tombstone
        if last_raw.get(key) != "d":
            fail("tombstone for %s without a preceding delete" % key)
        continue
    ev = json.loads(rec["payload"])
    last_raw[key] = ev["op"]
    # position = source.sequence: [commit LSN of the transaction (null for snapshot reads),
    # change LSN]; it only grows per key, so a repeat is one not past the last seen
    c, l = json.loads(ev["source"]["sequence"])
    pos = (int(c or 0), int(l))
    if l is None or int(l) != ev["source"]["lsn"]:
        fail("source.sequence does not end with source.lsn: %s" % ev["source"])
    if key in last_lsn and pos <= last_lsn[key]:
        dups += 1
        continue
    last_lsn[key] = pos
    op = ev["op"]
    ops[op] = ops.get(op, 0) + 1
    after = ev["after"]
    if after is not None:
        if after.get("name") == "ROLLED-BACK":
            fail("a rolled-back write appeared: %s" % ev)
        if "note" in after:
            saw_note += 1
    st = state.get(key)
    if op == "r":
        state[key] = ("live", after["version"], after)
    elif op == "c":
        if st and st[0] == "live":
            fail("create of %s while it exists: %s" % (key, ev))
        if after["version"] != 1:
            fail("create with version %s: %s" % (after["version"], ev))
        state[key] = ("live", 1, after)
    elif op == "u":
        if not st or st[0] != "live":
            fail("update of %s before its create/read: %s" % (key, ev))
        if after["version"] != st[1] + 1:
            fail("key %s: version %d after %d — a change is missing or out of order"
                 % (key, after["version"], st[1]))
        if ev["before"] is not None:
            fail("REPLICA IDENTITY DEFAULT update with a before image: %s" % ev)
        state[key] = ("live", after["version"], after)
    elif op == "d":
        if not st or st[0] != "live":
            fail("delete of %s which is not live" % key)
        if ev["before"]["id"] != json.loads(key)["id"]:
            fail("delete before image without the key: %s" % ev)
        state[key] = ("deleted",)
    else:
        fail("unexpected op %s" % op)
rows = psql("SELECT id, version, name FROM %s" % table).stdout.split()
pg_rows = {}
for line in rows:
    i, v, n = line.split("|")
    pg_rows['{"id":%s}' % i] = (int(v), n)
live = {k: s for k, s in state.items() if s[0] == "live"}
if set(live) != set(pg_rows):
    missing = set(pg_rows) - set(live)
    extra = set(live) - set(pg_rows)
    fail("keys differ: %d in PostgreSQL only (e.g. %s), %d on the topic only (e.g. %s)"
         % (len(missing), list(missing)[:3], len(extra), list(extra)[:3]))
for k, (v, n) in pg_rows.items():
    if live[k][1] != v or live[k][2]["name"] != n:
        fail("key %s: topic says version %s name %s, PostgreSQL %s %s"
             % (k, live[k][1], live[k][2]["name"], v, n))
if not saw_note:
    fail("no event carries the column added while streaming")
# judged per event by its transaction's commit LSN against the DROP's, not by read order: the
# topic's partitions interleave in any order when read back
after_drop = 0
for rec in recs:
    if not rec["payload"]:
        continue
    ev = json.loads(rec["payload"])
    c = json.loads(ev["source"]["sequence"])[0]
    if c is None or int(c) <= drop_lsn[0] or ev["after"] is None:
        continue
    after_drop += 1
    if "spare" in ev["after"]:
        fail("the dropped column appears in a change committed after the DROP: %s" % ev)
if not after_drop:
    fail("no change committed after the DROP COLUMN was on the topic")
log("audit ok: %d keys live, ops %s, %d repeats dropped by source.sequence, %d kills, "
    "%d changes after the DROP" % (len(live), ops, dups, kills, after_drop))
print("PASS")
