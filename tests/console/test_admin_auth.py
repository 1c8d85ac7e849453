"""test_admin_auth — the console and its admin API behind the HTTP port's Basic authentication
and the authorizer's ACLs (src/eddyd/http_auth.c; docs/admin-api.md "Authentication"):

eddyd with http.authentication.method=BASIC, the ACL authorizer, the SCRAM user alice, and
super.users=User:ANONYMOUS so kafka-python on the plaintext Kafka port sets up topics and ACLs:
alice may Read topic `audit` and Write topic `orders`, nothing else. Then over urllib:
the page and the API without credentials → 401; alice reads audit's messages (200) but not
orders' (403: Write does not give Read); deleting audit, creating a topic, resetting a group,
tracing (Read on every topic) and the overview (Describe on the Cluster) → 403 with nothing
changed (kcat -L still shows what was there and nothing new).
"""
import base64
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("EDDY_SOURCE_DIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "harness"))
from eddyd import Eddyd, Results  # noqa: E402

from kafka import KafkaAdminClient  # noqa: E402
from kafka.admin import (ACL, ACLOperation, ACLPermissionType, NewTopic,  # noqa: E402
                         ResourcePattern, ResourceType)


def call(port, method, path, body=None, user=None, password=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if user is not None:
        tok = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        req.add_header("Authorization", "Basic " + tok)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def kcat_topics(b):
    out = subprocess.run(["kcat", "-b", b.bootstrap, "-L", "-J"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    return sorted(t["topic"] for t in json.loads(out)["topics"] if not t["topic"].startswith("_"))


def main():
    os.environ["EDDY_BOOTSTRAP_USER"] = "alice:s3cret"
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    hp = s.getsockname()[1]
    s.close()
    b = Eddyd(sets=["authorizer.class.name=eddy.acl", "super.users=User:ANONYMOUS",
                    "http.listeners=127.0.0.1:%d" % hp, "http.authentication.method=BASIC",
                    "auto.create.topics.enable=false"])
    res = Results(b)
    u = dict(user="alice", password="s3cret")

    def setup():
        a = KafkaAdminClient(bootstrap_servers=b.bootstrap, client_id="console-auth")
        try:
            a.create_topics([NewTopic("audit", 1, 1), NewTopic("orders", 1, 1),
                             NewTopic("orders.dlq", 1, 1)])
            r = a.create_acls([
                ACL("User:alice", "*", ACLOperation.WRITE, ACLPermissionType.ALLOW,
                    ResourcePattern(ResourceType.TOPIC, "orders")),
                ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
                    ResourcePattern(ResourceType.TOPIC, "audit")),
            ])
            assert not r["failed"], r
        finally:
            a.close()

    def unauthenticated():
        for path in ["/", "/console/app.js", "/api/v1/cluster/overview", "/api/v1/topics"]:
            st, body = call(hp, "GET", path)
            assert st == 401, (path, st, body)
        st, _ = call(hp, "GET", "/", user="alice", password="wrong")
        assert st == 401
        st, body = call(hp, "GET", "/", **u)
        assert st == 200 and "/console/app.js" in body, st

    def by_acl():
        st, body = call(hp, "GET", "/api/v1/topics/audit/messages", **u)
        assert st == 200, (st, body)
        st, body = call(hp, "GET", "/api/v1/topics/orders/messages", **u)
        assert st == 403 and "Read" in body, (st, body)
        before = kcat_topics(b)
        st, body = call(hp, "DELETE", "/api/v1/topics/audit?confirm=audit", **u)
        assert st == 403 and "Delete" in body, (st, body)
        st, body = call(hp, "POST", "/api/v1/topics", {"name": "sneaky"}, **u)
        assert st == 403 and "Create" in body, (st, body)
        st, body = call(hp, "POST", "/api/v1/groups/g1/reset",
                        {"to": "earliest", "topic": "audit"}, **u)
        assert st == 403 and "Group" in body, (st, body)
        st, body = call(hp, "GET", "/api/v1/trace?correlation_id=x", **u)
        assert st == 403, (st, body)
        st, body = call(hp, "GET", "/api/v1/cluster/overview", **u)
        assert st == 403 and "Cluster" in body, (st, body)
        # a redrive writes to the dead letters' source topics: Write on every topic (Topic:*),
        # not only on the one alice may write
        st, body = call(hp, "POST", "/api/v1/dlq/orders.dlq/redrive", {"dry_run": False}, **u)
        assert st == 403 and "Write" in body, (st, body)
        assert kcat_topics(b) == before == ["audit", "orders", "orders.dlq"], before
        st, body = call(hp, "GET", "/api/v1/groups/g1")
        assert st == 401, st

    res.run("topics and ACLs through the Kafka port", setup)
    res.run("401 without credentials: page and API", unauthenticated)
    res.run("403/200 by ACL; nothing changed", by_acl)
    b.stop()
    res.finish()


if __name__ == "__main__":
    main()
