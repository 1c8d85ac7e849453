"""test_sasl — SASL on the Kafka port (issue 13 items 1 and 3) with kafka-python 2.0.2 (which
uses SaslHandshake v0 and bare tokens) and raw sockets (v1 requests, byte-exact checks):

- PLAINTEXT and SASL_PLAINTEXT listeners side by side; Metadata and FindCoordinator answer
  with the advertised address of the listener the client came in on;
- PLAIN, SCRAM-SHA-256, SCRAM-SHA-512: right credentials produce and consume, a wrong password
  and an unknown user fail with SASL_AUTHENTICATION_FAILED (58) and a message, connection closed;
- before authentication only ApiVersions and the SASL APIs pass: Metadata closes the connection
  (logged, rate-limited);
- an unknown mechanism (33 with the enabled list), SaslAuthenticate without handshake (34),
  malformed SCRAM and PLAIN tokens, an oversize token, garbage bytes: error, closed, and an
  authenticated client on another connection keeps working;
- credentials from EDDY_BOOTSTRAP_USER survive SIGKILL; the store holds no password;
- per-listener settings (listener.name.<listener>.sasl.enabled.mechanisms): each listener
  offers and accepts its own mechanisms; an override for a listener that does not exist, or of
  a setting a listener cannot have, stops start-up with a message naming it.
"""
import os
import stat

from sasl_common import (Eddyd, Results, authenticate, closed, connect, handshake, kwire,
                         listener_ports, pin_ports, plain_login, request, scram_login)

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

LISTENERS = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"
os.environ["EDDY_BOOTSTRAP_USER"] = "admin:s3cret-pw"
B = Eddyd(sets=["listeners=" + LISTENERS, "super.users=User:admin",
                "advertised.listeners=SASL_PLAINTEXT://sasl.invalid:19999"])
del os.environ["EDDY_BOOTSTRAP_USER"]
R = Results(B)
P = listener_ports(B)
SASL = P["SASL_PLAINTEXT"]


def kp_conf(mech, user="admin", password="s3cret-pw"):
    return dict(bootstrap_servers="127.0.0.1:%d" % SASL, security_protocol="SASL_PLAINTEXT",
                sasl_mechanism=mech, sasl_plain_username=user, sasl_plain_password=password,
                api_version=(2, 5, 0))


def metadata_broker(s):
    r = kwire.Reader(request(s, 3, 1, 9, kwire.metadata_body_v1([])))
    brokers = r.array(lambda: (r.i32(), r.str(), r.i32(), r.str()))
    return brokers[0][1], brokers[0][2]


def t_kafka_python_mechanisms():
    # advertised.listeners points SASL clients elsewhere; kafka-python would follow it, so it
    # runs against a second broker with default advertising
    for mech in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        p = KafkaProducer(**K_CONF(mech))
        for i in range(5):
            p.send("kp-sasl", ("%s-%d" % (mech, i)).encode()).get(timeout=20)
        p.close()
    c = KafkaConsumer(**K_CONF("SCRAM-SHA-512"), consumer_timeout_ms=5000)
    tp = TopicPartition("kp-sasl", 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = [m.value.decode() for m in c]
    c.close()
    want = ["%s-%d" % (m, i) for m in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
            for i in range(5)]
    assert got == want, got


def t_kafka_python_failures():
    for mech, user, pw in (("PLAIN", "admin", "wrong"), ("SCRAM-SHA-256", "admin", "wrong"),
                           ("SCRAM-SHA-512", "nobody", "x"), ("PLAIN", "nobody", "x")):
        try:
            p = KafkaProducer(**K_CONF(mech, user, pw), max_block_ms=3000)
            p.send("kp-sasl", b"must not arrive").get(timeout=5)
            raise AssertionError("%s %s/%s: authenticated" % (mech, user, pw))
        except KafkaError:
            pass


def t_listeners_and_advertised():
    s = connect(P["PLAINTEXT"])
    assert metadata_broker(s) == ("127.0.0.1", P["PLAINTEXT"])
    s.close()
    s = connect(SASL)
    err, msg, _, _ = plain_login(s, "admin", "s3cret-pw")
    assert err == 0, (err, msg)
    assert metadata_broker(s) == ("sasl.invalid", 19999)
    # FindCoordinator v1: the same listener's address
    r = kwire.Reader(request(s, 10, 1, 10, kwire.s16("g1") + kwire.i8(0)))
    r.i32(), r.i16(), r.str(), r.i32()
    assert (r.str(), r.i32()) == ("sasl.invalid", 19999)
    s.close()


def t_scram_raw_exchange():
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        s = connect(SASL)
        err, msg, _, life = scram_login(s, mech, "admin", "s3cret-pw")
        assert err == 0 and life == 0, (err, msg, life)
        assert metadata_broker(s)[1] == 19999
        s.close()


def t_wrong_credentials_raw():
    for mech, user, pw in (("SCRAM-SHA-256", "admin", "nope"), ("SCRAM-SHA-512", "ghost", "x")):
        s = connect(SASL)
        err, msg, _, _ = scram_login(s, mech, user, pw)
        assert err == 58 and "invalid credentials" in msg, (err, msg)
        assert closed(s)
    s = connect(SASL)
    err, msg, _, _ = plain_login(s, "admin", "nope")
    assert err == 58 and "Invalid username or password" in msg, (err, msg)
    assert closed(s)


def t_request_before_auth_closes():
    s = connect(SASL)
    request(s, 18, 0, 1, b"")  # ApiVersions passes
    s.sendall(kwire.frame(3, 1, 2, kwire.metadata_body_v1([])))
    assert closed(s), "Metadata before authentication was served"
    assert "before SASL authentication" in B.log_text()
    # after a handshake, still nothing but SaslAuthenticate
    s = connect(SASL)
    assert handshake(s, "PLAIN")[0] == 0
    s.sendall(kwire.frame(3, 1, 2, kwire.metadata_body_v1([])))
    assert closed(s)


def t_bad_sasl_input():
    s = connect(SASL)
    err, mechs = handshake(s, "GSSAPI")
    assert err == 33 and mechs == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"], (err, mechs)
    assert closed(s)
    s = connect(SASL)
    err, msg, _, _ = authenticate(s, b"\0admin\0s3cret-pw")
    assert err == 34, (err, msg)
    assert closed(s)
    cases = [("SCRAM-SHA-256", b"garbage"), ("SCRAM-SHA-256", b"p=tls-unique,,n=admin,r=x"),
             ("SCRAM-SHA-512", b"n,,n=adm=ZZin,r=abc"), ("SCRAM-SHA-512", b"n,,n=admin,r=\x01"),
             ("PLAIN", b"no-nul-bytes"), ("PLAIN", b"\0\0"), ("PLAIN", b"x" * 100000),
             ("SCRAM-SHA-256", b"n,,n=admin,r=" + b"A" * 9000), ("SCRAM-SHA-256", b"")]
    for mech, tok in cases:
        s = connect(SASL)
        assert handshake(s, mech)[0] == 0
        err, msg, _, _ = authenticate(s, tok)
        assert err == 58 and msg, (mech, tok[:20], err, msg)
        assert closed(s), (mech, tok[:20])
    # a SCRAM client-final with a forged nonce
    s = connect(SASL)
    assert handshake(s, "SCRAM-SHA-256")[0] == 0
    err, _, sf, _ = authenticate(s, b"n,,n=admin,r=abcdef")
    assert err == 0
    err, msg, _, _ = authenticate(s, b"c=biws,r=abcdefXYZ,p=AAAA", corr=3)
    assert err == 58, (err, msg)
    assert closed(s)
    # bare garbage after a v0 handshake (raw token mode): closed without an answer
    s = connect(SASL)
    assert handshake(s, "SCRAM-SHA-256", version=0)[0] == 0
    s.sendall(kwire.i32(5) + b"\xff\xfe\x00\x01\x02")
    assert closed(s)
    # SaslHandshake on a PLAINTEXT listener: ILLEGAL_SASL_STATE
    s = connect(P["PLAINTEXT"])
    assert handshake(s, "PLAIN")[0] == 34
    assert closed(s)


def t_others_unaffected():
    s = connect(SASL)
    assert plain_login(s, "admin", "s3cret-pw")[0] == 0
    t_bad_sasl_input()
    assert metadata_broker(s)[1] == 19999  # the authenticated connection still serves
    s.close()


def t_credentials_survive_sigkill():
    path = os.path.join(B.data, "__scram_credentials")
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    with open(path, "rb") as f:
        assert b"s3cret-pw" not in f.read()
    pin_ports(B, LISTENERS)
    B.restart(kill=True)  # no EDDY_BOOTSTRAP_USER this time
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        s = connect(SASL)
        err, msg, _, _ = scram_login(s, mech, "admin", "s3cret-pw")
        assert err == 0, (mech, err, msg)
        s.close()
    s = connect(SASL)
    assert plain_login(s, "admin", "s3cret-pw")[0] == 0


# kafka-python follows advertised addresses: a second broker advertising its real ports
os.environ["EDDY_BOOTSTRAP_USER"] = "admin:s3cret-pw"
B2 = Eddyd(sets=["listeners=" + LISTENERS])
del os.environ["EDDY_BOOTSTRAP_USER"]
P2 = listener_ports(B2)


def t_per_listener_mechanisms():
    os.environ["EDDY_BOOTSTRAP_USER"] = "admin:s3cret-pw"
    b = Eddyd(sets=["listeners=SASL_PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
                    "listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,"
                    "SASL_PLAINTEXT:SASL_PLAINTEXT",
                    "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
                    "listener.name.internal.sasl.enabled.mechanisms=SCRAM-SHA-512"])
    del os.environ["EDDY_BOOTSTRAP_USER"]
    try:
        ports = listener_ports(b)
        s = connect(ports["INTERNAL"])
        err, mechs = handshake(s, "PLAIN")
        assert err == 33 and mechs == ["SCRAM-SHA-512"], (err, mechs)
        s.close()
        s = connect(ports["INTERNAL"])
        err, msg, _, _ = scram_login(s, "SCRAM-SHA-512", "admin", "s3cret-pw")
        assert err == 0, (err, msg)
        s.close()
        s = connect(ports["SASL_PLAINTEXT"])
        err, msg, _, _ = plain_login(s, "admin", "s3cret-pw")
        assert err == 0, (err, msg)
        s.close()
        assert "not enabled on listener INTERNAL" in b.log_text()
    finally:
        b.cleanup()
    for bad, want in (("listener.name.nope.ssl.client.auth=required",
                       "listener.name.nope.ssl.client.auth: there is no listener nope"),
                      ("listener.name.internal.log.retention.ms=5",
                       "a listener overrides only its ssl.* settings and sasl.enabled.mechanisms"),
                      ("listener.name.internal.ssl.client.auth=sometimes",
                       "listener INTERNAL: ssl.client.auth=sometimes: expected none, requested or"),
                      ("listener.name.internal.sasl.enabled.mechanisms=GSSAPI",
                       "listener INTERNAL: sasl.enabled.mechanisms: GSSAPI is not supported")):
        b = Eddyd(sets=["listeners=PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
                        "listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,"
                        "PLAINTEXT:PLAINTEXT", bad], start=False)
        try:
            try:
                b.start()
            except AssertionError as e:
                assert want in str(e), (bad, str(e)[-800:])
            else:
                raise AssertionError("eddyd started with " + bad)
        finally:
            b.cleanup()


def K_CONF(mech, user="admin", password="s3cret-pw"):
    c = kp_conf(mech, user, password)
    c["bootstrap_servers"] = "127.0.0.1:%d" % P2["SASL_PLAINTEXT"]
    return c


R.run("kafka_python_mechanisms", t_kafka_python_mechanisms)
R.run("kafka_python_failures", t_kafka_python_failures)
R.run("listeners_and_advertised", t_listeners_and_advertised)
R.run("scram_raw_exchange", t_scram_raw_exchange)
R.run("wrong_credentials_raw", t_wrong_credentials_raw)
R.run("request_before_auth_closes", t_request_before_auth_closes)
R.run("bad_sasl_input", t_bad_sasl_input)
R.run("others_unaffected", t_others_unaffected)
R.run("credentials_survive_sigkill", t_credentials_survive_sigkill)
R.run("per_listener_mechanisms", t_per_listener_mechanisms)
R.finish()
