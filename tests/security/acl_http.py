#!/usr/bin/python3
"""acl_http — issue 13 item 6: HTTP Basic authentication and ACLs on eddyd's HTTP port.

eddyd with http.authentication.method=BASIC, an authorizer, the SCRAM user `alice` from
EDDY_BOOTSTRAP_USER (credentials stored as salted keys; the HTTP check verifies against them),
http.authentication.skip.paths=/healthz, and super.users=User:ANONYMOUS so the plaintext Kafka
listener can set up ACLs with kafka-python: alice may Write topic `orders` and Read topic `audit`.
Over urllib (a plain HTTP client):
  no credentials → 401 with WWW-Authenticate: Basic realm="eddy"; a wrong password, an unknown
  user, garbage base64 → 401; /healthz without credentials → 200 (skipped), /metrics → 401;
  alice registers orders-value → 200 (Write on topic orders); reads orders-value → 200 (Write
  implies Describe: a producer reads the schema it writes with); reads pay-value → 403 naming
  Describe; registers pay-value → 403; reads audit-value (registered by nobody) → 404
  after passing authorization (Read on audit); registers audit-value → 403 (Read is not Write); GET /schemas/ids/1 → 200 (ids are global);
  PUT /mode (global READONLY) → 403 (needs Alter on the Cluster); GET /subjects → 403.
"""
import base64
import json
import os
import socket
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from eddyd import Eddyd, Results  # noqa: E402

from kafka import KafkaAdminClient  # noqa: E402
from kafka.admin import (ACL, ACLOperation, ACLPermissionType,  # noqa: E402
                         ResourcePattern, ResourceType)

SCHEMA = json.dumps({"schema": json.dumps({"type": "record", "name": "O", "fields": [
    {"name": "id", "type": "string"}]})})


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s:\n  got      %r\n  expected %r" % (what, got, want))


def call(port, method, path, body=None, user=None, password=None, raw_auth=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=body.encode() if body is not None else None)
    if body is not None:
        req.add_header("Content-Type", "application/vnd.schemaregistry.v1+json")
    if raw_auth is not None:
        req.add_header("Authorization", raw_auth)
    elif user is not None:
        tok = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        req.add_header("Authorization", "Basic " + tok)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def setup(b):
    a = KafkaAdminClient(bootstrap_servers=b.bootstrap, client_id="acl-http")
    try:
        res = a.create_acls([
            ACL("User:alice", "*", ACLOperation.WRITE, ACLPermissionType.ALLOW,
                ResourcePattern(ResourceType.TOPIC, "orders")),
            ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
                ResourcePattern(ResourceType.TOPIC, "audit")),
        ])
        eq(len(res["failed"]), 0, "CreateAcls failures")
    finally:
        a.close()


def unauthenticated(b, hp):
    st, hd, _ = call(hp, "GET", "/subjects")
    eq(st, 401, "no credentials")
    eq(hd.get("WWW-Authenticate"), 'Basic realm="eddy"', "WWW-Authenticate")
    eq(call(hp, "GET", "/subjects", user="alice", password="wrong")[0], 401, "wrong password")
    eq(call(hp, "GET", "/subjects", user="mallory", password="x")[0], 401, "unknown user")
    eq(call(hp, "GET", "/subjects", raw_auth="Basic !!!notbase64")[0], 401, "garbage")
    eq(call(hp, "GET", "/healthz")[0], 200, "/healthz is in skip.paths")
    eq(call(hp, "GET", "/metrics")[0], 401, "/metrics needs credentials")
    eq(call(hp, "GET", "/metrics", user="alice", password="s3cret")[0], 200, "/metrics as alice")


def authorized(b, hp):
    u = dict(user="alice", password="s3cret")
    st, _, body = call(hp, "POST", "/subjects/orders-value/versions", SCHEMA, **u)
    eq(st, 200, "register orders-value (Write on orders): %s" % body)
    st, _, body = call(hp, "GET", "/subjects/orders-value/versions", **u)
    eq(st, 200, "read orders-value with Write (implies Describe): %s" % body)
    st, _, body = call(hp, "GET", "/subjects/pay-value/versions", **u)
    eq(st, 403, "read pay-value without any ACL on pay")
    if "Describe" not in body:
        raise AssertionError("403 should name the operation: " + body)
    eq(call(hp, "POST", "/subjects/pay-value/versions", SCHEMA, **u)[0], 403, "register pay-value")
    eq(call(hp, "GET", "/subjects/audit-value/versions", **u)[0], 404,
       "read audit-value (authorized, not registered)")
    eq(call(hp, "POST", "/subjects/audit-value/versions", SCHEMA, **u)[0], 403,
       "register audit-value with Read only")
    eq(call(hp, "GET", "/schemas/ids/1", **u)[0], 200, "schema by id")
    eq(call(hp, "PUT", "/mode", json.dumps({"mode": "READONLY"}), **u)[0], 403,
       "global mode change")
    eq(call(hp, "GET", "/subjects", **u)[0], 403, "list subjects without Describe on the Cluster")


def main():
    os.environ["EDDY_BOOTSTRAP_USER"] = "alice:s3cret"
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    hp = s.getsockname()[1]
    s.close()
    b = Eddyd(sets=["authorizer.class.name=eddy.acl", "super.users=User:ANONYMOUS",
                    "http.listeners=127.0.0.1:%d" % hp, "http.authentication.method=BASIC",
                    "http.authentication.skip.paths=/healthz"])
    res = Results(b)
    res.run("ACLs for alice through the Kafka port", setup, b)
    res.run("401: no, wrong, unknown, garbage credentials; skip.paths", unauthenticated, b, hp)
    res.run("403/200 by ACL on subjects (as topics), ids, global mode", authorized, b, hp)
    res.finish()


if __name__ == "__main__":
    main()
