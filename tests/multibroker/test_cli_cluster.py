"""multibroker: the eddy CLI against a three-broker cluster (eddy-mockd --brokers 3), unchanged
but for `-b host1,host2,host3`: topics list, describe (leader, replicas, ISR per partition),
produce and consume; the describe output follows a moved leader and a lost broker, and produce
and consume keep working while a broker is down. Groups are not exercised here: librdkafka's mock
cluster (2.0.2) answers neither ListGroups nor DescribeGroups nor DescribeConfigs."""
import json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, BUILD, fail
import subprocess

c = Cluster("cli")
c.start_broker()
c.ctl("create cli.mb 3")
CLI = os.environ.get("EDDY_CLI") or os.path.join(BUILD, "src/cli/eddy")


def eddy(*args, stdin=None, rc=0):
    p = subprocess.run([CLI, "-b", c.bootstrap] + list(args), input=stdin, capture_output=True,
                       text=True, timeout=120)
    if rc is not None and p.returncode != rc:
        fail("eddy %s → %d (want %d): %s %s" % (" ".join(args), p.returncode, rc, p.stdout,
                                               p.stderr))
    return p


def describe():
    # exit 1: the mock has no DescribeConfigs (a short -t for that part); the partitions come first
    p = eddy("topics", "describe", "cli.mb", "--json", "-t", "2000", rc=None)
    d = json.loads(p.stdout)
    return {q["partition"]: q for q in d["partitions"]}


if len(c.bootstrap.split(",")) != 3:
    fail("bootstrap %s" % c.bootstrap)
r = eddy("topics", "list", "--json")
topics = {json.loads(l)["topic"]: json.loads(l) for l in r.stdout.splitlines()}
if topics.get("cli.mb", {}).get("partitions") != 3:
    fail("topics list: %s" % r.stdout)

parts = describe()
for n, q in parts.items():
    if q["replicas"] != [1, 2, 3] or sorted(q["isr"]) != [1, 2, 3] or q["leader"] not in (1, 2, 3):
        fail("partition %d: %s" % (n, q))
mock = {(p["partition"]): p["leader"] for t in c.state()["topics"] if t["topic"] == "cli.mb"
        for p in t["partitions"]}
if mock != {n: q["leader"] for n, q in parts.items()}:
    fail("describe leaders %s, cluster %s" % (parts, mock))

# a leader moved by the cluster shows in describe
to = parts[0]["leader"] % 3 + 1
c.ctl("leader cli.mb 0 %d" % to)
if describe()[0]["leader"] != to:
    fail("partition 0 leader should be %d: %s" % (to, describe()[0]))

lines = "".join("k%d\tv%d\n" % (i % 10, i) for i in range(100))
r = eddy("produce", "cli.mb", "-K", "\t", stdin=lines)
if len(r.stdout.splitlines()) != 100:
    fail("produce: %s" % r.stdout[-500:])

# a broker goes down: its partitions get other leaders, produce and consume go on
down = parts[1]["leader"]
c.ctl("down %d" % down)
after = describe()
if any(q["leader"] == down for q in after.values()):
    fail("broker %d is down but still leads: %s" % (down, after))
lines = "".join("k%d\tv%d\n" % (i % 10, i) for i in range(100, 200))
r = eddy("produce", "cli.mb", "-K", "\t", stdin=lines)
if len(r.stdout.splitlines()) != 100:
    fail("produce with broker %d down: %s" % (down, r.stdout[-500:]))
r = eddy("consume", "cli.mb", "--from-beginning", "--json")
vals = sorted(int(json.loads(l)["value"][1:]) for l in r.stdout.splitlines())
if vals != list(range(200)):
    fail("consume: %d messages, first missing %s" % (
        len(vals), sorted(set(range(200)) - set(vals))[:5]))
by_key = {}
for l in r.stdout.splitlines():
    m = json.loads(l)
    by_key.setdefault(m["key"], set()).add(m["partition"])
if any(len(p) != 1 for p in by_key.values()):
    fail("a key landed in two partitions: %s" % by_key)
c.ctl("up %d" % down)
c.close()
print("PASS: eddy -b with three brokers: list, describe (leader/replicas/ISR), a moved leader, "
      "produce and consume with broker %d down" % down)
