"""test_tls — TLS on the Kafka port (issue 13 item 2) with kafka-python 2.0.2 and raw sockets
(Python's ssl module), certificates generated at test time (make_certs.sh):

- SASL_SSL with SCRAM-SHA-256 and SCRAM-SHA-512: produce and consume; a wrong password fails;
- SSL with a client certificate (ssl.client.auth=requested): produce and consume; the principal
  is the subject mapped by ssl.principal.mapping.rules (RULE:...), seen in the debug log; a
  certificate from another CA: the handshake fails, nothing stored; ssl.client.auth=required:
  no certificate fails too;
- TLS 1.2 and TLS 1.3 both negotiate; TLS 1.1 is refused;
- TLS garbage, plaintext Kafka on a TLS port, a client that stalls mid-handshake: closed
  (the stalled one after socket.request.read.timeout.ms), a TLS client meanwhile unaffected;
- large Fetch responses (file ranges) arrive intact under TLS (the sendfile fallback);
- a burst of pipelined requests far larger than one read round (eddyd reads ahead several TLS
  records at a time; records left inside OpenSSL are not announced by epoll): every request
  answered, in order;
- SIGHUP: a new keystore is served to new connections, an open TLS connection keeps working.
"""
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import warnings

from sasl_common import (HERE, Eddyd, Results, closed, kwire, listener_ports, recv_exact, request,
                         scram_login, wait_until)

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

CERTS = tempfile.mkdtemp(prefix="eddy-certs-")
subprocess.run(["bash", os.path.join(HERE, "make_certs.sh"), CERTS], check=True)
C = lambda n: os.path.join(CERTS, n)  # noqa: E731
KEYSTORE = os.path.join(CERTS, "keystore.pem")
shutil.copy(C("broker.pem"), KEYSTORE)

os.environ["EDDY_BOOTSTRAP_USER"] = "admin:tls-pass"
B = Eddyd(sets=["listeners=SASL_SSL://127.0.0.1:0,SSL://127.0.0.1:0",
                "ssl.keystore.type=PEM", "ssl.keystore.location=" + KEYSTORE,
                "ssl.truststore.location=" + C("ca.pem"), "ssl.client.auth=requested",
                "ssl.principal.mapping.rules=RULE:^CN=([^,]*),OU=eng,.*$/$1/U,DEFAULT",
                "socket.request.read.timeout.ms=1500", "log.level=debug"])
del os.environ["EDDY_BOOTSTRAP_USER"]
R = Results(B)
P = listener_ports(B)
# ssl.client.auth=required: an SSL listener that refuses clients without a certificate
B3 = Eddyd(sets=["listeners=SSL://127.0.0.1:0", "ssl.keystore.location=" + KEYSTORE,
                 "ssl.truststore.location=" + C("ca.pem"), "ssl.client.auth=required"])


def ctx(cert=None, key=None, ca="ca.pem", minv=None, maxv=None):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.load_verify_locations(C(ca))
    if cert:
        c.load_cert_chain(C(cert), C(key))
    if minv:
        c.minimum_version = minv
    if maxv:
        c.maximum_version = maxv
    return c


def tls_connect(port, **kw):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx(**kw).wrap_socket(s, server_hostname="localhost")


def kp_sasl(mech, pw="tls-pass"):
    return dict(bootstrap_servers="127.0.0.1:%d" % P["SASL_SSL"], security_protocol="SASL_SSL",
                ssl_cafile=C("ca.pem"), sasl_mechanism=mech, sasl_plain_username="admin",
                sasl_plain_password=pw, api_version=(2, 5, 0))


def kp_ssl(cert="alice.pem", key="alice.key"):
    return dict(bootstrap_servers="127.0.0.1:%d" % P["SSL"], security_protocol="SSL",
                ssl_cafile=C("ca.pem"), ssl_certfile=C(cert), ssl_keyfile=C(key),
                api_version=(2, 5, 0))


def read_all(conf, topic):
    c = KafkaConsumer(**conf, consumer_timeout_ms=3000)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = [m.value for m in c]
    c.close()
    return got


def t_sasl_ssl_scram():
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        p = KafkaProducer(**kp_sasl(mech))
        for i in range(3):
            p.send("tls-sasl", ("%s-%d" % (mech, i)).encode()).get(timeout=20)
        p.close()
    got = read_all(kp_sasl("SCRAM-SHA-512"), "tls-sasl")
    assert got == [("%s-%d" % (m, i)).encode() for m in ("SCRAM-SHA-256", "SCRAM-SHA-512")
                   for i in range(3)], got
    try:
        p = KafkaProducer(**kp_sasl("SCRAM-SHA-256", "wrong"), max_block_ms=3000)
        p.send("tls-sasl", b"never").get(timeout=5)
        raise AssertionError("wrong password accepted")
    except KafkaError:
        pass
    # raw: the SCRAM exchange inside TLS, byte-exact
    s = tls_connect(P["SASL_SSL"])
    err, msg, _, _ = scram_login(s, "SCRAM-SHA-512", "admin", "tls-pass")
    assert err == 0, (err, msg)
    s.close()


def t_ssl_client_cert():
    p = KafkaProducer(**kp_ssl())
    for i in range(3):
        p.send("tls-cert", b"cert-%d" % i).get(timeout=20)
    p.close()
    assert read_all(kp_ssl(), "tls-cert") == [b"cert-%d" % i for i in range(3)]
    # RULE:^CN=([^,]*),OU=eng,.*$/$1/U maps "CN=alice,OU=eng,O=Eddy Test" to ALICE
    wait_until(lambda: "established (User:ALICE" in B.log_text(), 5, "principal User:ALICE")


def t_ssl_bad_certs():
    for port, cert, key in ((B3.port, None, None), (B3.port, "mallory.pem", "mallory.key"),
                            (P["SSL"], "mallory.pem", "mallory.key")):
        try:
            s = tls_connect(port, cert=cert, key=key)
            # TLS 1.3: the server's refusal arrives after the client's handshake finished
            s.sendall(kwire.frame(18, 0, 1, b""))
            assert s.recv(100) == b"", "served without a valid client certificate"
        except (ssl.SSLError, ConnectionError, OSError):
            pass
    # the alert reaches the client before the broker writes its log line
    wait_until(lambda: "client certificate: unable to get local issuer certificate" in
               B.log_text(), 10, "the other-CA log line")
    wait_until(lambda: "peer did not return a certificate" in B3.log_text(), 10,
               "the missing-certificate log line")
    # with a certificate, B3 serves
    s = tls_connect(B3.port, cert="alice.pem", key="alice.key")
    request(s, 18, 0, 1, b"")
    s.close()
    try:
        p = KafkaProducer(**kp_ssl("mallory.pem", "mallory.key"), max_block_ms=3000)
        p.send("tls-cert", b"never").get(timeout=5)
        raise AssertionError("certificate from another CA accepted")
    except KafkaError:
        pass
    assert b"never" not in read_all(kp_ssl(), "tls-cert")


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    TLS11 = ssl.TLSVersion.TLSv1_1


def t_versions():
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        s = tls_connect(P["SASL_SSL"], minv=v, maxv=v)
        assert s.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                               ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[v], s.version()
        request(s, 18, 0, 1, b"")
        s.close()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            s = tls_connect(P["SASL_SSL"], minv=TLS11,
                            maxv=TLS11)
        raise AssertionError("TLS 1.1 negotiated: %s" % s.version())
    except (ssl.SSLError, OSError):
        pass


def t_garbage_and_stalls():
    good = tls_connect(P["SASL_SSL"])
    assert scram_login(good, "SCRAM-SHA-256", "admin", "tls-pass")[0] == 0
    g = socket.create_connection(("127.0.0.1", P["SASL_SSL"]), timeout=10)
    g.sendall(os.urandom(3000))
    assert closed(g), "TLS garbage not closed"
    k = socket.create_connection(("127.0.0.1", P["SASL_SSL"]), timeout=10)
    k.sendall(kwire.frame(18, 0, 1, b""))  # plaintext Kafka on a TLS port
    assert closed(k)
    st = socket.create_connection(("127.0.0.1", P["SSL"]), timeout=10)
    st.sendall(b"\x16\x03\x01\x00\xc8\x01")  # the start of a ClientHello, then nothing
    t0 = time.time()
    assert closed(st, timeout=10), "stalled handshake kept open"
    assert time.time() - t0 < 9
    assert "TLS handshake not completed" in B.log_text()
    # the authenticated TLS connection kept working through all that
    r = kwire.Reader(request(good, 3, 1, 7, kwire.metadata_body_v1([])))
    assert r.array(lambda: (r.i32(), r.str(), r.i32(), r.str()))[0][2] == P["SASL_SSL"]
    good.close()


def t_large_fetch_over_tls():
    p = KafkaProducer(**kp_sasl("SCRAM-SHA-256"), batch_size=1 << 20, linger_ms=50)
    vals = [os.urandom(50000) for _ in range(60)]  # ~3 MB, several file ranges
    for v in vals:
        p.send("tls-big", v)
    p.flush()
    p.close()
    assert read_all(kp_sasl("SCRAM-SHA-256"), "tls-big") == vals


def t_pipelined_burst():
    s = tls_connect(P["SSL"])
    n, cid = 200, b"c" * 20000  # 200 frames of ~20 KB: ~4 MB, ~250 TLS records in one write
    s.sendall(b"".join(kwire.frame(18, 0, i, b"", client_id=cid) for i in range(n)))
    for i in range(n):
        d = recv_exact(s, struct.unpack(">i", recv_exact(s, 4))[0])
        assert struct.unpack(">i", d[:4])[0] == i, "response %d out of order" % i
        assert struct.unpack(">h", d[4:6])[0] == 0, "ApiVersions error"
    s.close()


def t_sighup_reload():
    old = tls_connect(P["SASL_SSL"])
    assert scram_login(old, "SCRAM-SHA-256", "admin", "tls-pass")[0] == 0
    # a new broker certificate from the same CA, swapped in place, then SIGHUP
    d = tempfile.mkdtemp(dir=CERTS)
    ossl = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/k.pem", "-out", d + "/r.csr",
         "-subj", "/CN=localhost/O=Rotated")
    with open(d + "/ext", "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", d + "/r.csr", "-CA", C("ca.pem"), "-CAkey", C("ca.key"),
         "-CAcreateserial", "-out", d + "/c.pem", "-days", "2", "-extfile", d + "/ext")
    with open(KEYSTORE + ".new", "w") as out:
        for n in (d + "/k.pem", d + "/c.pem", C("ca.pem")):
            out.write(open(n).read())
    os.rename(KEYSTORE + ".new", KEYSTORE)
    B.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "certificates reloaded" in B.log_text(), 10, "reload logged")
    new = tls_connect(P["SASL_SSL"])
    subj = dict(x[0] for x in new.getpeercert()["subject"])
    assert subj.get("organizationName") == "Rotated", subj
    new.close()
    request(old, 18, 0, 9, b"")  # the open connection was not dropped
    old.close()
    # an unusable keystore keeps the old certificates
    with open(KEYSTORE, "w") as f:
        f.write("not a pem\n")
    B.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "certificates not reloaded" in B.log_text(), 10, "refused reload logged")
    s = tls_connect(P["SASL_SSL"])
    assert dict(x[0] for x in s.getpeercert()["subject"]).get("organizationName") == "Rotated"
    s.close()


R.run("sasl_ssl_scram", t_sasl_ssl_scram)
R.run("ssl_client_cert", t_ssl_client_cert)
R.run("ssl_bad_certs", t_ssl_bad_certs)
R.run("versions", t_versions)
R.run("garbage_and_stalls", t_garbage_and_stalls)
R.run("large_fetch_over_tls", t_large_fetch_over_tls)
R.run("pipelined_burst", t_pipelined_burst)
R.run("sighup_reload", t_sighup_reload)
shutil.rmtree(CERTS, ignore_errors=True)
R.finish()
