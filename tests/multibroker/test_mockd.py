"""multibroker: eddy-mockd's control channel — every command answers one line; bad input gets a
clear "error: …" and changes nothing; down/up fail leaders and the known groups' coordinators
over to live brokers; state is JSON that matches what a client sees in Metadata."""
import json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, fail

c = Cluster("mockd")
c.start_broker()
st = c.state()
if [b["id"] for b in st["brokers"]] != [1, 2, 3] or not all(b["up"] for b in st["brokers"]):
    fail("brokers: %s" % st["brokers"])
topics = {t["topic"]: t["partitions"] for t in st["topics"]}
if len(topics["order.events"]) != 3 or any(p["replicas"] != [1, 2, 3]
                                           for p in topics["order.events"]):
    fail("order.events: %s" % topics.get("order.events"))
if set(st["groups"]) != {"order", "payment", "inventory", "notification", "order-orchestrator",
                         "accounts"}:
    fail("groups: %s" % st["groups"])

# bad input: one clear error line each, the process goes on
for cmd, why in [("frobnicate", "unknown command"), ("down", "unknown command"),
                 ("down 0", "no broker"), ("down 4", "no broker"), ("up x", "no broker"),
                 ("leader order.events 9 1", "no partition"), ("leader nosuch 0 1", "no partition"),
                 ("leader order.events 0 7", "usage"), ("error Produce 0 NOT_ENOUGH_REPLICAS", "usage"),
                 ("error Bogus 1 NOT_ENOUGH_REPLICAS", "usage"), ("error Produce 1 NO_SUCH_ERROR", "usage"),
                 ("broker-error 9 Produce 1 NOT_ENOUGH_REPLICAS", "usage"), ("rtt 1 -5", "usage"),
                 ("create t 0", "bad topic"), ("clear Bogus", "unknown API"),
                 ("coordinator payment 0", "no broker"), ("x" * 5000, "too long"),
                 ("x" * 9000, "too long"), ("state\0junk", "unknown command")]:
    a = c.ctl(cmd, ok=False)
    if not a.startswith("error:") or why not in a:
        fail("%r → %r (expected an error about %s)" % (cmd[:40], a, why))
if c.state()["topics"] != st["topics"]:
    fail("a refused command changed the cluster")
if "nosuch" in {t["topic"] for t in c.state()["topics"]}:
    fail("leader on an unknown topic created it")

# leader, rotate, elect
c.ctl("leader order.events 0 2")
if c.leaders()[("order.events", 0)] != 2:
    fail("leader move")
before = c.leaders()
c.ctl("rotate")
after = c.leaders()
if any(after[k] == before[k] for k in before):
    fail("rotate left leaders in place: %s → %s" % (before, after))
c.ctl("elect")
if any(v != 1 for v in c.leaders().values()):
    fail("elect: preferred replica is broker 1: %s" % c.leaders())

# down: broker 1 led everything; it all moves, and so do the coordinators it hosted
coord_before = c.state()["groups"]
a = c.ctl("down 1")
st = c.state()
if st["brokers"][0]["up"] or any(v == 1 for v in c.leaders().values()):
    fail("down 1: %s / %s" % (a, c.leaders()))
if any(g == 1 for g in st["groups"].values()):
    fail("a coordinator stayed on the down broker: %s" % st["groups"])
moved = sum(1 for g, b in coord_before.items() if b == 1)
if ("%d coordinators moved" % moved) not in a:
    fail("down answer: %s (expected %d coordinators moved)" % (a, moved))
if "already down" not in c.ctl("down 1"):
    fail("second down")
c.ctl("down 2")
if any(v != 3 for v in c.leaders().values()):
    fail("with 1 and 2 down every leader is 3: %s" % c.leaders())
if "0 leaders" not in c.ctl("down 3"):  # nobody left: leaders stay, partitions offline
    fail("down 3")
c.ctl("up 1")
c.ctl("up 2")
c.ctl("up 3")
if not all(b["up"] for b in c.state()["brokers"]):
    fail("up")

# coordinator and errors
c.ctl("coordinator payment 3")
if c.state()["groups"]["payment"] != 3:
    fail("coordinator")
c.ctl("group audit-group")
if "audit-group" not in c.state()["groups"]:
    fail("group")
for cmd in ["error Produce 5 NOT_LEADER_OR_FOLLOWER", "error JoinGroup 2 COORDINATOR_NOT_AVAILABLE NOT_COORDINATOR",
            "error Fetch 1 6", "broker-error 2 Produce 1 NOT_ENOUGH_REPLICAS 50", "clear Produce",
            "clear JoinGroup", "clear Fetch", "rtt 2 10", "rtt 2 0", "create extra.topic 5", "help"]:
    c.ctl(cmd)
c.ctl("broker-error 3 Produce 4 NOT_ENOUGH_REPLICAS")
if c.ctl("pending 3 Produce") != "4" or c.ctl("pending 1 Produce") != "0":
    fail("pending: %s" % c.ctl("pending 3 Produce"))
if not c.ctl("pending 3 Bogus", ok=False).startswith("error:"):
    fail("pending with an unknown API")
if len({t["topic"]: t for t in c.state()["topics"]}["extra.topic"]["partitions"]) != 5:
    fail("create")
c.ctl("quit")
c.broker.wait(30)
if c.broker.returncode != 0:
    fail("quit: exit %s" % c.broker.returncode)
print("PASS: eddy-mockd control channel")
