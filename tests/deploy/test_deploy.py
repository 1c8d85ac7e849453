"""test_deploy — what deploy/ ships is usable as shipped:
- deploy/prometheus/alerts.yml passes `promtool check rules`, and `promtool test rules` runs its
  unit tests (alerts_test.yml: each alert fires on the series that should fire it and not on its
  neighbour);
- every PromQL expression of the Grafana dashboard (deploy/grafana/eddy-dashboard.json) parses
  (checked by promtool as recording rules), every panel has a unique id and a grid position;
- every metric the rules and the dashboard use is one Eddy really exports: broker families are
  read from a live eddyd's /metrics (after traffic that makes them appear), libeddy's from the
  SDK's sources (e2e tests check a running service's /metrics with promtool).
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
from eddyd import Eddyd  # noqa: E402

from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.structs import OffsetAndMetadata  # noqa: E402

PROM = os.path.join(ROOT, "deploy", "prometheus")
DASH = os.path.join(ROOT, "deploy", "grafana", "eddy-dashboard.json")
NAME = re.compile(r"\b((?:eddy|kafka)_[a-z_]+)\b")
SUFFIX = re.compile(r"_(bucket|sum|count)$")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def promtool(*args):
    r = subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=PROM)
    return r.returncode, r.stdout + r.stderr


def broker_families():
    """Family names on a live eddyd's /metrics after produce, a group commit and a DLQ topic."""
    port = 0
    ed = Eddyd(sets=["http.listeners=127.0.0.1:0"])
    try:
        port = int(re.search(r"http listening on 127\.0\.0\.1:(\d+)", ed.log_text()).group(1))
        p = KafkaProducer(bootstrap_servers=ed.bootstrap)
        for t in ("orders", "orders.dlq"):
            p.send(t, b"x", partition=0).get(30)
        p.close()
        tp = TopicPartition("orders", 0)
        c = KafkaConsumer(bootstrap_servers=ed.bootstrap, group_id="billing",
                          enable_auto_commit=False)
        c.assign([tp])
        c.commit({tp: OffsetAndMetadata(0, "")})
        c.close()
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=30).read()
    finally:
        ed.stop()
    return set(re.findall(r"(?m)^# TYPE (\S+) ", body.decode()))


def sdk_patterns():
    """Metric names libeddy can print: literals in src/sdk, with printf %s parts as wildcards."""
    pats = set()
    for d, _, files in os.walk(os.path.join(ROOT, "src", "sdk")):
        for f in files:
            if f.endswith(".c"):
                text = open(os.path.join(d, f)).read()
                for m in re.findall(r"# TYPE (eddy_[a-z_%]+)", text):
                    pats.add(re.compile("^" + re.escape(m).replace("%s", "[a-z_]+") + "$"))
    return pats


def main():
    rc, out = promtool("check", "rules", "alerts.yml")
    check(rc == 0, "promtool check rules alerts.yml\n" + out)
    rc, out = promtool("test", "rules", "alerts_test.yml")
    check(rc == 0, "promtool test rules alerts_test.yml\n" + out)

    dash = json.load(open(DASH))
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dash["panels"]]
    check(len(ids) == len(set(ids)), "dashboard panel ids unique")
    check(all("gridPos" in p for p in dash["panels"]), "every panel has a grid position")
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    check(len(exprs) >= 15, "dashboard has %d queries" % len(exprs))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "dashboard_rules.yml")
        with open(path, "w") as f:
            f.write("groups:\n- name: dashboard\n  rules:\n")
            for i, e in enumerate(exprs):
                e = e.replace("$instance", ".*").replace("$group", ".*")
                f.write("  - record: dashboard:q%d\n    expr: %s\n" % (i, json.dumps(e)))
        rc, out = promtool("check", "rules", path)
        check(rc == 0, "every dashboard query parses (promtool)\n" + out)

    rules_text = open(os.path.join(PROM, "alerts.yml")).read()
    used = set(NAME.findall(rules_text)) | {n for e in exprs for n in NAME.findall(e)}
    fams, sdk = broker_families(), sdk_patterns()
    for n in sorted(used):
        base = SUFFIX.sub("", n)
        ok = n in fams or base in fams or any(p.match(n) or p.match(base) for p in sdk)
        check(ok, "metric %s is exported by eddyd or libeddy" % n)
    if failures:
        print("FAILED: %d check(s)" % len(failures))
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
