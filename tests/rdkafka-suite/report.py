#!/usr/bin/env python3
"""report.py — the results table of a librdkafka suite run (tests/rdkafka-suite/run.sh).

For each scenario's runner log (runner-SCEN.log) it reads the runner's JSON report
(report-SCEN.json, TEST_REPORT: each test's state; written before the runner's own exit checks,
so it survives a runner that aborts at the end) and takes the reasons from the log: a failure's
"### Test "NAME" failed at FILE:LINE ...: ###" and the line after it, a skip's "SKIPPING TEST:
reason". One markdown row per test: PASS, FAIL (the failure), SKIPPED (by the suite itself, with
its reason) or EXCLUDED (by us, with the reason from exclusions.txt). Tests the runner skips
silently (other scenario, not in TESTS) are not listed; its local tests (mock cluster, -L) are
counted, not listed.
"""
import argparse
import json
import os
import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# A sub-test's failure names it after the test: "0015_offsets_seek (do_seek:99: with timeout)".
FAILED = re.compile(r'^### Test "([^" ]+)( \([^"]*\))?" failed at ([^ ]+)[^\n]*###\n([^\n]*)', re.M)
SKIPPED = re.compile(r"^\[(\S+)\s*/\s*[0-9.]+s\] WARN: SKIPPING TEST: ([^\n]*)", re.M)
LOCAL = "Filtered due to negative test flags"
EXCL = "included in TESTS_SKIP list"
ORDER = {"FAIL": 3, "PASS": 2, "EXCLUDED": 1, "SKIPPED": 0}


def scenario_rows(log_path):
    """{name: (result, seconds, reason)}, local count, problems — one scenario."""
    text = ANSI.sub("", open(log_path, errors="replace").read())
    rep = re.sub(r"runner-(.*)\.log$", r"report-\1.json", log_path)
    problems = []
    if not os.path.exists(rep):
        last = [x for x in text.splitlines() if x.strip()][-3:]
        return {}, 0, ["%s: no JSON report (runner died?): %s" % (log_path, " / ".join(last))]
    tests = json.load(open(rep))["tests"]
    fails = {}
    for m in FAILED.finditer(text):
        sub = (m.group(2) or "").strip()
        fails.setdefault(m.group(1), "%s%s: %s" % (sub + " " if sub else "", m.group(3),
                                                  m.group(4).strip()))
    skips = {}
    for m in SKIPPED.finditer(text):
        skips.setdefault(m.group(1), m.group(2).strip())
    if fails.get("<MAIN>"):
        problems.append("%s: the runner itself failed: %s" % (log_path, fails["<MAIN>"]))
    rows, local = {}, 0
    for name, t in tests.items():
        if name == "<MAIN>":
            continue
        st, secs = t["state"], "%.1f" % t["duration"]
        if st == "PASSED":
            rows[name] = ("PASS", secs, "")
        elif st == "SKIPPED":
            why = skips.get(name)
            if why is None:
                continue  # silently skipped: another scenario, or not asked for
            if why.startswith(LOCAL):
                local += 1
            elif why.startswith(EXCL):
                rows[name] = ("EXCLUDED", secs, EXCL)
            else:
                rows[name] = ("SKIPPED", secs, why)
        elif st == "FAILED":
            # the runner's duration of a failed test runs on to the end of the whole run
            rows[name] = ("FAIL", "-", fails.get(name, "failed (no failure line in the log)"))
        else:  # RUNNING / NOT STARTED when the runner stopped early
            rows[name] = ("FAIL", secs, "state %s when the runner ended (timeout?)" % st)
    return rows, local, problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", required=True)
    ap.add_argument("--profile", required=True)
    ap.add_argument("--excluded", required=True)
    ap.add_argument("logs", nargs="+")
    a = ap.parse_args()

    reasons = {}
    with open(a.excluded) as f:
        for line in f:
            t, _, why = line.rstrip("\n").partition("\t")
            reasons[t] = why

    rows, local, problems = {}, 0, []
    for path in a.logs:
        r, n, p = scenario_rows(path)
        local += n
        problems += p
        for name, row in r.items():
            # A test listed by two scenarios (skipped in one, run in the other): the run wins.
            if name not in rows or ORDER[row[0]] > ORDER[rows[name][0]]:
                rows[name] = row

    print("librdkafka %s, profile %s" % (a.client, a.profile))
    print()
    print("| test | result | s | reason |")
    print("|---|---|---|---|")
    counts = {}
    for name in sorted(rows):
        r, s, why = rows[name]
        if r == "EXCLUDED":
            why = reasons.get(name[:4], why)
        counts[r] = counts.get(r, 0) + 1
        print("| %s | %s | %s | %s |" % (name, r, s, why.replace("|", "/")))
    for p in problems:
        print("| <runner> | NOTE | - | %s |" % p.replace("|", "/"))
    print()
    print("totals: " + ", ".join("%s %d" % (k, counts.get(k, 0))
                                 for k in ("PASS", "FAIL", "SKIPPED", "EXCLUDED"))
          + "; %d local (mock-cluster) tests not run" % local)
    return 0


if __name__ == "__main__":
    sys.exit(main())
