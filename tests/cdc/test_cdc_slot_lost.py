#!/usr/bin/env python3
"""test_cdc_slot_lost.py — eddy-cdc against a replication slot the server invalidated (issue
16): the slot's WAL is removed under max_slot_wal_keep_size while eddy-cdc is stopped; the next
start must fail with a clear message naming the slot and the way out, and exit code 3 (as
docs/cdc.md documents) — never stream from a slot that lost changes.

The shared server of scripts/pg.sh must not get a tiny max_slot_wal_keep_size (other tests'
slots would be invalidated), so this test runs its own short-lived PostgreSQL cluster (initdb in
a temp dir, loopback port, wal_level=logical, max_slot_wal_keep_size=1MB) with the same
binaries. Running as root, the server runs as the postgres user (it refuses root)."""
import glob, os, pwd, shutil, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from onramp import Env, BUILD, fail, log, wait_for, free_port

bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
if not bins:
    fail("PostgreSQL server binaries not installed (scripts/deps.sh)")
PGBIN = os.path.dirname(bins[-1])

env = Env("cdclost")
env.start_broker()
pgdir = os.path.join(env.tmp, "pg")
os.makedirs(pgdir)
asuser = []
if os.getuid() == 0:
    pw = pwd.getpwnam("postgres")
    for d in (env.tmp, pgdir):
        os.chown(d, pw.pw_uid, pw.pw_gid)
    os.chmod(env.tmp, 0o755)
    asuser = ["runuser", "-u", "postgres", "--"]


def pgrun(args, **kw):
    return subprocess.run(asuser + args, capture_output=True, text=True, **kw)


r = pgrun([os.path.join(PGBIN, "initdb"), "-D", os.path.join(pgdir, "data"), "-U", "postgres",
           "--auth=trust", "-N"])
if r.returncode != 0:
    fail("initdb: " + r.stderr)
port = free_port()
conf = ("port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"
        "wal_level = logical\nmax_slot_wal_keep_size = 1MB\nwal_keep_size = 0\n"
        "min_wal_size = 32MB\nmax_wal_size = 64MB\nfsync = off\n" % (port, pgdir))
with open(os.path.join(pgdir, "data", "postgresql.auto.conf"), "a") as f:
    f.write(conf)
r = pgrun([os.path.join(PGBIN, "pg_ctl"), "-D", os.path.join(pgdir, "data"), "-l",
           os.path.join(pgdir, "log"), "-w", "start"])
if r.returncode != 0:
    fail("pg_ctl start: %s %s" % (r.stderr, open(os.path.join(pgdir, "log")).read()[-2000:]))


def stop_pg():
    pgrun([os.path.join(PGBIN, "pg_ctl"), "-D", os.path.join(pgdir, "data"), "-m", "immediate",
           "stop"])


import atexit
atexit.register(stop_pg)  # registered after Env's: runs first, before the temp dir goes
URL = "postgresql://postgres@127.0.0.1:%d/postgres" % port


def sql(q):
    r = subprocess.run(["psql", URL, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", q],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail("psql %s: %s" % (q, r.stderr))
    return r.stdout.strip()


sql("CREATE TABLE t (id int PRIMARY KEY, v text)")
sql("INSERT INTO t VALUES (1, 'before')")
slot, pub = "lost_slot", "lost_pub"
args = [os.path.join(BUILD, "src/cdc/eddy-cdc"), "--pg", URL, "--bootstrap-servers",
        env.bootstrap, "--slot", slot, "--publication", pub, "--topic-prefix", "lost",
        "--state-file", os.path.join(env.tmp, "cdc.state"), "--table", "public.t"]
cdc = env.spawn(args, "cdc.log")
wait_for(lambda: "streaming from" in open(cdc.logfile).read(), "eddy-cdc streaming", 60)
sql("INSERT INTO t VALUES (2, 'streamed')")
wait_for(lambda: len(env.read_topic("lost.public.t", 10)) >= 2, "2 events on the topic", 60, 0.3)
cdc.terminate()
if cdc.wait(60) != 0:
    fail("eddy-cdc did not exit 0 after SIGTERM: " + open(cdc.logfile).read()[-2000:])
log("eddy-cdc stopped; writing WAL past max_slot_wal_keep_size")

# changes eddy-cdc has not seen, then several WAL segments and a checkpoint: the server removes
# the WAL the slot still needs and marks it lost
sql("INSERT INTO t VALUES (3, 'missed')")
sql("DELETE FROM t WHERE id = 2")  # its streamed create must not stay live on the topic
for i in range(6):
    sql("INSERT INTO t SELECT g + %d, repeat('x', 200) FROM generate_series(1, 2000) g"
        % (1000 + i * 10000))
    sql("SELECT pg_switch_wal()")
sql("CHECKPOINT")


def lost():
    if sql("SELECT wal_status FROM pg_replication_slots WHERE slot_name = '%s'" % slot) == "lost":
        return True
    sql("CHECKPOINT")
    return False


wait_for(lost, "the server to invalidate the slot", 60, 0.5)
log("slot wal_status = lost")

r = subprocess.run(args, capture_output=True, text=True, timeout=120)
out = r.stdout + r.stderr
if r.returncode != 3:
    fail("eddy-cdc on an invalidated slot: exit %d, want 3:\n%s" % (r.returncode, out))
for needle in ("replication slot %s was invalidated by the server" % slot,
               "pg_drop_replication_slot('%s')" % slot):
    if needle not in out:
        fail("the message lacks %r:\n%s" % (needle, out))
log("ok: exit 3: %s" % out.strip().splitlines()[-1][:200])
# nothing was produced from the lost slot
evs = env.read_topic("lost.public.t", 10)
if len(evs) != 2:
    fail("events after the failed start: %d, want the 2 from before" % len(evs))

# the way out the message gives works: drop the slot, start again, a new snapshot has every row
sql("SELECT pg_drop_replication_slot('%s')" % slot)
cdc = env.spawn(args, "cdc.log")
wait_for(lambda: "streaming from" in open(cdc.logfile).read()[cdc.logpos:], "restart", 60)
n = int(sql("SELECT count(*) FROM t"))
# the new snapshot: n reads, and the key it lacks that the topic had live (row 2, deleted while
# the slot was gone) retracted with a delete and a tombstone
wait_for(lambda: len(env.read_topic("lost.public.t", 20)) >= 2 + n + 2, "the new snapshot", 60,
         0.5)
cdc.terminate()
cdc.wait(60)
evs = env.read_topic("lost.public.t", 20)[2:]
import json
reads = [e for e in evs if e["payload"] and json.loads(e["payload"])["op"] == "r"]
if len(reads) != n:
    fail("the new snapshot has %d reads, want %d" % (len(reads), n))
k2 = [e for e in evs if e["key"] == '{"id":2}']
if len(k2) != 2 or k2[1]["payload"] is not None:
    fail("row 2, deleted while the slot was gone, is not retracted: %s" % k2)
d = json.loads(k2[0]["payload"])
if d["op"] != "d" or d["before"] != {"id": 2, "v": "streamed"} or d["after"] is not None:
    fail("row 2's retraction: %s" % d)
if "retracted 1 key(s) live on the topics whose rows no longer exist" not in open(cdc.logfile).read():
    fail("the log does not report the retraction")
print("PASS")
