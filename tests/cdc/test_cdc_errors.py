#!/usr/bin/env python3
"""test_cdc_errors.py — eddy-cdc's answers to bad input (issue 16): an unknown table, a role
that may not publish the table, a wrong password, a bad option, and a slot that is busy or of
the wrong kind, and a state file that cannot be read each give a clear message and a non-zero exit, before anything is streamed."""
import os, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from onramp import Env, PG, BUILD, fail, log, psql, pg_available

if not pg_available():
    fail("PostgreSQL is not reachable at %s (run scripts/pg.sh)" % PG)
env = Env("cdcerr")
env.start_broker()
sch = env.schema()
slot, pub = env.slot()
psql("CREATE TABLE %s.t (id int PRIMARY KEY, v text)" % sch)
CDC = os.path.join(BUILD, "src/cdc/eddy-cdc")


def run(args, code, *needles):
    r = subprocess.run([CDC] + args, capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    if r.returncode != code:
        fail("%s: exit %d, want %d; output:\n%s" % (args, r.returncode, code, out))
    for n in needles:
        if n not in out:
            fail("%s: output lacks %r:\n%s" % (args, n, out))
    log("ok: %s" % out.strip().splitlines()[0][:160])


base = ["--bootstrap-servers", env.bootstrap, "--slot", slot, "--publication", pub,
        "--state-file", os.path.join(env.tmp, "st")]
run(["--pg", PG, "--table", sch + ".nope"] + base, 2, "table %s.nope does not exist" % sch)
bad = PG.replace("eddy:eddy@", "eddy:wrong@")
run(["--pg", bad, "--table", sch + ".t"] + base, 2, "password authentication failed",
    "cannot connect")
if "eddy:wrong" in subprocess.run([CDC, "--pg", bad, "--table", "x"] + base,
                                  capture_output=True, text=True).stderr:
    fail("the password appears in the error message")
other = PG.replace("eddy:eddy@", "eddy_other:eddy@")
run(["--pg", other, "--table", sch + ".t"] + base, 2, "cannot publish table",
    "permission denied")
run(["--pg", PG] + base, 2, "no tables")
run(["--pg", PG, "--table", sch + ".t", "--decimal-handling", "money"] + base, 2,
    "--decimal-handling")
run(["--pg", PG, "--table", sch + ".t", "--slot", "Bad-Slot"] + base[:2], 2, "--slot")
# a physical slot under the name eddy-cdc wants
psql("SELECT pg_create_physical_replication_slot('%s')" % slot)
run(["--pg", PG, "--table", sch + ".t"] + base, 2, "not a logical pgoutput slot")
psql("SELECT pg_drop_replication_slot('%s')" % slot)
# a state file that cannot be read is an error, not "no snapshot yet" (which drops the slot)
run(["--pg", PG, "--table", sch + ".t", "--bootstrap-servers", env.bootstrap, "--slot", slot,
     "--publication", pub, "--state-file", env.tmp], 2, "cannot read the state file")
# no replication slot or publication was left behind by the failures above (except the
# publication, which is created before the slot and is harmless)
r = psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s'" % slot)
if r.stdout.strip() != "0":
    fail("a failed start left a slot behind")
print("PASS")
