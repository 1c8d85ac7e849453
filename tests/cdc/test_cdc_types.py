#!/usr/bin/env python3
"""test_cdc_types.py — eddy-cdc's change events compared field by field with what Debezium's
PostgreSQL connector documents for the same rows (default settings: decimal.handling.mode=
precise, time.precision.mode=adaptive, binary.handling.mode=bytes, interval.handling.mode=
numeric; JSON converter with schemas disabled), plus TOAST, REPLICA IDENTITY FULL/DEFAULT,
primary-key change, truncate, and the envelope's source block.

Expected values are written out by hand from Debezium's documented mappings ("PostgreSQL
connector: data type mappings"): NUMERIC(p,s) → org.apache.kafka.connect.data.Decimal, bytes of
the unscaled two's-complement value (base64 in JSON); NUMERIC → VariableScaleDecimal
{scale, value}; MONEY → Decimal scale 2; DATE → io.debezium.time.Date (days); TIME(6) →
MicroTime (µs); TIMESTAMP(3) → Timestamp (ms); TIMESTAMP(6) → MicroTimestamp (µs);
TIMESTAMPTZ → ZonedTimestamp (ISO-8601, UTC); TIMETZ → ZonedTime; INTERVAL → MicroDuration
(µs, 30.4375-day months); BYTEA → bytes; UUID/JSON/JSONB → strings; arrays → arrays.
"""
import json, os, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from onramp import Env, PG, fail, log, psql, wait_for, pg_available, http_json

if not pg_available():
    fail("PostgreSQL is not reachable at %s (run scripts/pg.sh)" % PG)
env = Env("cdctypes")
env.start_broker()
sch = env.schema()
slot, pub = env.slot()
prefix = "ty" + env.tag
T = "%s.typed" % sch
F = "%s.fullid" % sch
psql("""CREATE TABLE %s (
  id int PRIMARY KEY, b bool, i2 smallint, i8 bigint, f8 float8, n numeric(10,2),
  nneg numeric(10,2), nv numeric, m money, d date, t time, ttz timetz, ts3 timestamp(3),
  ts timestamp, tstz timestamptz, iv interval, iv2 interval, by bytea, u uuid, j json,
  jb jsonb, ia int[], ta text[], vc varchar(10), ch char(3), doc text)""" % T)
psql("ALTER TABLE %s ALTER COLUMN doc SET STORAGE EXTERNAL" % T)
psql("CREATE TABLE %s (id int PRIMARY KEY, name text, doc text)" % F)
psql("ALTER TABLE %s ALTER COLUMN doc SET STORAGE EXTERNAL" % F)
psql("ALTER TABLE %s REPLICA IDENTITY FULL" % F)
big = "x" * 9000  # EXTERNAL storage: out of line, uncompressed → TOASTed
psql("INSERT INTO %s (id, name, doc) VALUES (1, 'snap', '%s')" % (F, big))

cdc = env.start_cdc([T, F], slot, pub, prefix, ["--schema-registry", env.http_url])
wait_for(lambda: "streaming from" in open(cdc.logfile).read() or cdc.poll() is not None,
         "eddy-cdc streaming", 60)
if cdc.poll() is not None:
    fail("eddy-cdc exited: " + open(cdc.logfile).read())

psql("""INSERT INTO %s VALUES (1, true, -7, 9007199254740993, 1.5, 123.45, -1.00, 3.14159,
  12.34, '2024-01-02', '03:04:05.5', '03:04:05+02', '2024-01-02 03:04:05.123',
  '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.5+02', '1 day 2 hours', '1 mon',
  '\\x0102ff', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{"b":1, "a":2}',
  '{1,2,NULL}', '{"a b",c}', 'hello', 'ab', '%s')""" % (T, big))
psql("UPDATE %s SET i2 = 8 WHERE id = 1" % T)                   # doc unchanged: TOAST
psql("UPDATE %s SET name = 'upd' WHERE id = 1" % F)             # FULL: before image
psql("UPDATE %s SET id = 2 WHERE id = 1" % T)                   # key change
psql("DELETE FROM %s WHERE id = 1" % F)
psql("TRUNCATE %s" % T)
psql("ALTER TABLE %s ADD COLUMN added text" % F)                 # schema change while running
psql("INSERT INTO %s VALUES (5, 'five', 'doc', 'new')" % F)

t_topic = "%s.%s.typed" % (prefix, sch)
f_topic = "%s.%s.fullid" % (prefix, sch)


def got(topic, n):
    recs = env.read_topic(topic)
    return recs if len(recs) >= n else None


tr = wait_for(lambda: got(t_topic, 6), "6 records on %s" % t_topic, 60, 0.3)
fr = wait_for(lambda: got(f_topic, 5), "5 records on %s" % f_topic, 60, 0.3)
errors = []


def check(what, actual, expected):
    if actual != expected:
        errors.append("%s: got %r, Debezium gives %r" % (what, actual, expected))


def val(rec):
    return json.loads(rec["payload"]) if rec["payload"] is not None else None


# 1. insert: every type
ins = val(tr[0])
check("key", json.loads(tr[0]["key"]), {"id": 1})
check("op", ins["op"], "c")
check("before", ins["before"], None)
a = ins["after"]
expected = {
    "id": 1, "b": True, "i2": -7, "i8": 9007199254740993, "f8": 1.5,
    "n": "MDk=",                                   # 12345 = 0x3039
    "nneg": "nA==",                                # -100 = 0x9c
    "nv": {"scale": 5, "value": "BMsv"},           # 314159 = 0x04cb2f
    "m": "BNI=",                                   # 1234 = 0x04d2
    "d": 19724,                                    # days 1970-01-01 → 2024-01-02
    "t": 11045500000,                              # µs of 03:04:05.5
    "ttz": "01:04:05Z",
    "ts3": 1704164645123,                          # ms
    "ts": 1704164645123456,                        # µs
    "tstz": "2024-01-02T01:04:05.5Z",
    "iv": 93600000000,                             # 26 h in µs
    "iv2": 2629800000000,                          # 30.4375 days in µs
    "by": "AQL/",
    "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    "j": '{"a": [1, 2]}',
    "jb": '{"a": 2, "b": 1}',
    "ia": [1, 2, None],
    "ta": ["a b", "c"],
    "vc": "hello",
    "ch": "ab ",
    "doc": big,
}
for k, v in expected.items():
    check("after." + k, a.get(k), v)
src = ins["source"]
for k in ("version", "connector", "name", "ts_ms", "snapshot", "db", "sequence", "schema", "table",
          "txId", "lsn", "xmin"):
    if k not in src:
        errors.append("source has no %s" % k)
check("source.connector", src["connector"], "postgresql")
check("source.name", src["name"], prefix)
check("source.schema", src["schema"], sch)
check("source.table", src["table"], "typed")
check("source.snapshot", src["snapshot"], "false")
if not isinstance(src["lsn"], int) or not isinstance(src["txId"], int):
    errors.append("source.lsn / txId are not numbers: %r" % src)
if not isinstance(ins["ts_ms"], int):
    errors.append("ts_ms is not a number")

# 2. update with an unchanged TOASTed column, REPLICA IDENTITY DEFAULT
up = val(tr[1])
check("toast update op", up["op"], "u")
check("toast update before (DEFAULT identity)", up["before"], None)
check("toast update i2", up["after"]["i2"], 8)
check("toast placeholder", up["after"]["doc"], "__debezium_unavailable_value")

# 3. key change: delete (+ tombstone) of the old key, create of the new
check("key change: delete", (val(tr[2])["op"], json.loads(tr[2]["key"])), ("d", {"id": 1}))
check("key change: tombstone", (tr[3]["payload"], json.loads(tr[3]["key"])), (None, {"id": 1}))
check("key change: create", (val(tr[4])["op"], json.loads(tr[4]["key"])), ("c", {"id": 2}))
# 4. truncate
tt = val(tr[5])
check("truncate op", tt["op"], "t")
check("truncate key", tr[5]["key"], None)
check("truncate images", (tt["before"], tt["after"]), (None, None))

# 5. REPLICA IDENTITY FULL: snapshot read, update with before, delete with before, tombstone
check("snapshot op", val(fr[0])["op"], "r")
check("snapshot flag", val(fr[0])["source"]["snapshot"] in ("first", "last", "true"), True)
check("snapshot row", val(fr[0])["after"], {"id": 1, "name": "snap", "doc": big})
fu = val(fr[1])
check("FULL update before", fu["before"], {"id": 1, "name": "snap", "doc": big})
check("FULL update after (TOAST value from the old row)", fu["after"],
      {"id": 1, "name": "upd", "doc": big})
fd = val(fr[2])
check("FULL delete", (fd["op"], fd["before"], fd["after"]),
      ("d", {"id": 1, "name": "upd", "doc": big}, None))
check("FULL tombstone", fr[3]["payload"], None)
check("row after ADD COLUMN", val(fr[4])["after"], {"id": 5, "name": "five", "doc": "doc", "added": "new"})
# the registry got a new version of the value schema for the changed table
st, vers = http_json("GET", env.http_url + "/subjects/%s-value/versions" % f_topic)
check("registered versions of %s-value" % f_topic, vers, [1, 2])
st, latest = http_json("GET", env.http_url + "/subjects/%s-value/versions/latest" % f_topic)
if st != 200 or "added" not in json.loads(latest["schema"])["$defs"]["Value"]["properties"]:
    errors.append("latest registered schema lacks the added column: %s" % latest)
st, tv = http_json("GET", env.http_url + "/subjects/%s-value/versions" % t_topic)
check("registered versions of %s-value" % t_topic, tv, [1])
if errors:
    fail("\n  ".join(["%d mismatch(es):" % len(errors)] + errors))
print("sample event:", tr[0]["payload"][:600])
cdc.terminate()
if cdc.wait(60) != 0:
    fail("eddy-cdc exit code %s on SIGTERM" % cdc.returncode)
print("PASS")
