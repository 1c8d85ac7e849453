#!/usr/bin/python3
"""acl_sasl — issue 13 item 4 with an authenticated principal: the SASL user's identity reaches
the authorizer.

eddyd with a PLAINTEXT and a SASL_PLAINTEXT listener, the authorizer on, the SCRAM user `alice`
from EDDY_BOOTSTRAP_USER, and super.users=User:ANONYMOUS (the plaintext listener is the admin
channel of this test). kafka-python 2.0.2 on the plaintext listener creates topics `orders` and
`secret` and the ACLs: User:alice may Write and Read `orders` and Read group `ga`.
As alice over SASL_PLAINTEXT SCRAM-SHA-512 (kafka-python): producing to orders succeeds, to
secret fails with TopicAuthorizationFailedError (29); the consumer's topic list holds orders and
not secret; a group consumer in `ga` reads back what was produced; group `gb` fails with
GroupAuthorizationFailedError (30). kcat/librdkafka as alice (SCRAM-SHA-256): `-L` lists orders
and not secret.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sasl_common import Eddyd, Results, listener_ports  # noqa: E402

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer  # noqa: E402
from kafka.admin import (ACL, ACLOperation, ACLPermissionType, NewTopic,  # noqa: E402
                         ResourcePattern, ResourceType)
from kafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError  # noqa: E402

os.environ["EDDY_BOOTSTRAP_USER"] = "alice:alice-pw"
B = Eddyd(sets=["listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
                "authorizer.class.name=eddy.acl", "super.users=User:ANONYMOUS"])
del os.environ["EDDY_BOOTSTRAP_USER"]
R = Results(B)
P = listener_ports(B)
PLAIN, SASL = P["PLAINTEXT"], P["SASL_PLAINTEXT"]


def alice(mech="SCRAM-SHA-512"):
    return dict(bootstrap_servers="127.0.0.1:%d" % SASL, security_protocol="SASL_PLAINTEXT",
                sasl_mechanism=mech, sasl_plain_username="alice",
                sasl_plain_password="alice-pw", api_version=(2, 5, 0))


def t_setup():
    a = KafkaAdminClient(bootstrap_servers="127.0.0.1:%d" % PLAIN, client_id="acl-sasl")
    try:
        a.create_topics([NewTopic("orders", 1, 1), NewTopic("secret", 1, 1)])
        res = a.create_acls([
            ACL("User:alice", "*", op, ACLPermissionType.ALLOW,
                ResourcePattern(ResourceType.TOPIC, "orders"))
            for op in (ACLOperation.WRITE, ACLOperation.READ)] + [
            ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
                ResourcePattern(ResourceType.GROUP, "ga"))])
        assert not res["failed"], res["failed"]
    finally:
        a.close()


def t_produce():
    p = KafkaProducer(**alice(), max_block_ms=10000, retries=0)
    try:
        p.send("orders", b"hello").get(timeout=15)
        try:
            p.send("secret", b"nope").get(timeout=15)
            raise AssertionError("produce to secret succeeded")
        except TopicAuthorizationFailedError:
            pass
    finally:
        p.close()


def t_metadata_and_group():
    c = KafkaConsumer(**alice(), group_id="ga", auto_offset_reset="earliest",
                      consumer_timeout_ms=10000)
    try:
        topics = c.topics()
        if "orders" not in topics or "secret" in topics:
            raise AssertionError("alice's topic list should hold orders and not secret: %r"
                                 % sorted(topics))
        c.subscribe(["orders"])
        got = []
        for m in c:
            got.append(m.value)
            break
        if got != [b"hello"]:
            raise AssertionError("group ga read %r" % got)
    finally:
        c.close()
    c = KafkaConsumer("orders", **alice(), group_id="gb", auto_offset_reset="earliest",
                      consumer_timeout_ms=5000)
    try:
        try:
            c.poll(timeout_ms=5000)
            for _ in c:
                pass
            raise AssertionError("group gb was not refused")
        except GroupAuthorizationFailedError:
            pass
    finally:
        c.close()


def t_kcat():
    out = subprocess.run(["kcat", "-b", "127.0.0.1:%d" % SASL, "-X", "security.protocol=SASL_PLAINTEXT",
                          "-X", "sasl.mechanisms=SCRAM-SHA-256", "-X", "sasl.username=alice",
                          "-X", "sasl.password=alice-pw", "-L", "-m", "10"],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0 or 'topic "orders"' not in out.stdout or 'topic "secret"' in out.stdout:
        raise AssertionError("kcat -L as alice: rc %d\n%s%s" % (out.returncode, out.stdout,
                                                             out.stderr))


R.run("setup on the plaintext (super user) listener", t_setup)
R.run("alice produces to orders, is refused secret (29)", t_produce)
R.run("alice's metadata hides secret; group ga reads, gb is refused (30)", t_metadata_and_group)
R.run("kcat as alice (SCRAM-SHA-256): -L hides secret", t_kcat)
R.finish()
