#!/usr/bin/python3
"""test_https — HTTPS on eddyd's HTTP port (issue 13 item 6), certificates generated at test time
(make_certs.sh), with Python's ssl/http.client, curl and the Confluent schema-registry client of
Node (@kafkajs/confluent-schema-registry) as real clients:

- http.listeners=https://127.0.0.1:PORT with the Kafka listeners' ssl.keystore.location: the
  registry, /metrics and /healthz answer over TLS, the certificate verifies against the test CA
  and not against another CA; a plain-HTTP request to the port gets no HTTP answer;
- HTTP Basic authentication over HTTPS (401 without / with wrong credentials, 200 with);
- the Confluent client registers a schema and encodes/decodes through it over HTTPS with Basic
  credentials (NODE_EXTRA_CA_CERTS for the CA); libeddy's registry client (through `eddy
  schemas`) with EDDY_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO / _SSL_CA_LOCATION or credentials in
  the URL, refused without credentials (401 + hint) and with another CA;
- ssl.enabled.protocols=TLSv1.3: a TLS 1.2-only client is refused, TLS 1.3 negotiates;
- TLS garbage and a client that stalls mid-handshake do not stop others;
- SIGHUP: a new keystore (from another CA) is served to new connections while an open keep-alive
  connection keeps working; an unreadable keystore on SIGHUP keeps the old certificate;
- start-up errors: https:// without a certificate, a bad scheme, an unknown TLS version — a clear
  message and a non-zero exit.
"""
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from eddyd import Eddyd, Results, eddyd_bin  # noqa: E402

CERTS = tempfile.mkdtemp(prefix="eddy-https-")
subprocess.run(["bash", os.path.join(HERE, "make_certs.sh"), CERTS], check=True)
C = lambda n: os.path.join(CERTS, n)  # noqa: E731
KEYSTORE = C("keystore.pem")
shutil.copy(C("broker.pem"), KEYSTORE)
AUTH = {"Authorization": "Basic " + base64.b64encode(b"alice:s3cret").decode()}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s:\n  got      %r\n  expected %r" % (what, got, want))


def ctx(ca="ca.pem", maxv=None, minv=None):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.load_verify_locations(C(ca))
    if maxv:
        c.maximum_version = maxv
    if minv:
        c.minimum_version = minv
    return c


def get(port, path, headers=None, ca="ca.pem", method="GET", body=None, conn=None, **kw):
    c = conn or http.client.HTTPSConnection("localhost", port, context=ctx(ca, **kw), timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read().decode()
    if conn is None:
        c.close()
    return r.status, data


def ssl_fails(fn, what):
    try:
        fn()
    except (ssl.SSLError, ConnectionError, OSError):
        return
    raise AssertionError("%s: succeeded, expected a TLS failure" % what)


HP = free_port()
os.environ["EDDY_BOOTSTRAP_USER"] = "alice:s3cret"
B = Eddyd(sets=["http.listeners=https://127.0.0.1:%d" % HP, "ssl.keystore.type=PEM",
                "ssl.keystore.location=" + KEYSTORE, "http.authentication.method=BASIC",
                "http.authentication.skip.paths=/healthz"])
del os.environ["EDDY_BOOTSTRAP_USER"]
R = Results(B)


def serves_https():
    if "(HTTPS)" not in B.log_text():
        raise AssertionError("no 'http listening on ... (HTTPS)' line")
    st, body = get(HP, "/healthz")
    eq((st, body.strip()), (200, '{"status":"ok"}'), "/healthz over TLS")
    st, body = get(HP, "/metrics", AUTH)
    eq(st, 200, "/metrics with credentials")
    if "eddy_" not in body:
        raise AssertionError("/metrics body: " + body[:200])
    ssl_fails(lambda: get(HP, "/healthz", ca="other-ca.pem"), "another CA's trust store")
    # curl, a second TLS stack (OpenSSL), with the CA and without it
    r = subprocess.run(["curl", "-sS", "--cacert", C("ca.pem"), "-u", "alice:s3cret",
                        "https://localhost:%d/subjects" % HP], capture_output=True, text=True)
    eq((r.returncode, r.stdout), (0, "[]"), "curl /subjects over HTTPS")
    r = subprocess.run(["curl", "-sS", "https://localhost:%d/healthz" % HP],
                       capture_output=True, text=True)
    eq(r.returncode, 60, "curl without the CA: certificate problem (exit 60)")


def plain_http_refused():
    c = http.client.HTTPConnection("127.0.0.1", HP, timeout=5)
    try:
        c.request("GET", "/healthz")
        r = c.getresponse()
        raise AssertionError("plain HTTP got an HTTP answer %d from the HTTPS port" % r.status)
    except (http.client.HTTPException, ConnectionError, OSError):
        pass
    finally:
        c.close()
    eq(get(HP, "/healthz")[0], 200, "HTTPS still served after a plain-HTTP client")


def basic_auth():
    eq(get(HP, "/subjects")[0], 401, "no credentials")
    bad = {"Authorization": "Basic " + base64.b64encode(b"alice:nope").decode()}
    eq(get(HP, "/subjects", bad)[0], 401, "wrong password")
    eq(get(HP, "/subjects", AUTH), (200, "[]"), "alice")


def confluent_client():
    js = os.path.join(HERE, "https_registry_client.js")
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=C("ca.pem"),
               REGISTRY="https://localhost:%d" % HP, REGISTRY_USER="alice",
               REGISTRY_PASSWORD="s3cret")
    r = subprocess.run([os.environ.get("NODE_EXE", "node"), js], capture_output=True, text=True,
                       env=env, timeout=60)
    if r.returncode != 0 or "OK" not in r.stdout:
        raise AssertionError("Confluent client over HTTPS: rc %d\n%s%s"
                             % (r.returncode, r.stdout, r.stderr))
    st, body = get(HP, "/subjects", AUTH)
    eq((st, json.loads(body)), (200, ["https-orders-value"]), "subject registered over HTTPS")
    # the same client with a wrong password: refused, nothing registered
    env["REGISTRY_PASSWORD"] = "wrong"
    env["SUBJECT"] = "https-other-value"
    r = subprocess.run([os.environ.get("NODE_EXE", "node"), js], capture_output=True, text=True,
                       env=env, timeout=60)
    if r.returncode == 0:
        raise AssertionError("the client with a wrong password succeeded: " + r.stdout)
    eq(json.loads(get(HP, "/subjects", AUTH)[1]), ["https-orders-value"], "nothing new")


def eddy_cli(*args, env_extra=None):
    cli = os.path.join(os.path.dirname(eddyd_bin()), "..", "cli", "eddy")
    env = dict(os.environ)
    for k in ("EDDY_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "EDDY_SCHEMA_REGISTRY_SSL_CA_LOCATION"):
        env.pop(k, None)
    env.update(env_extra or {})
    return subprocess.run([cli] + list(args), capture_output=True, text=True, env=env, timeout=30)


def libeddy_client():
    # the CLI's registry calls go through libeddy's HTTP client (src/sdkschema/httpc.c)
    url = "https://localhost:%d" % HP
    creds = {"EDDY_SCHEMA_REGISTRY_SSL_CA_LOCATION": C("ca.pem"),
             "EDDY_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "alice:s3cret"}
    schema = os.path.join(CERTS, "pay.json")
    with open(schema, "w") as f:
        json.dump({"type": "object", "properties": {"id": {"type": "string"}}}, f)
    r = eddy_cli("schemas", "register", "https-pay-value", schema, "--registry", url,
                 env_extra=creds)
    eq(r.returncode, 0, "eddy schemas register over HTTPS: " + r.stderr)
    r = eddy_cli("schemas", "list", "--registry", url, env_extra=creds)
    if r.returncode != 0 or "https-pay-value" not in r.stdout:
        raise AssertionError("eddy schemas list over HTTPS: %s %s" % (r.stdout, r.stderr))
    # credentials in the URL instead of the variable
    r = eddy_cli("schemas", "list", "--registry", "https://alice:s3cret@localhost:%d" % HP,
                 env_extra={"EDDY_SCHEMA_REGISTRY_SSL_CA_LOCATION": C("ca.pem")})
    eq(r.returncode, 0, "credentials in the URL: " + r.stderr)
    # no credentials: 401 and a hint; another CA: the certificate is refused
    r = eddy_cli("schemas", "list", "--registry", url,
                 env_extra={"EDDY_SCHEMA_REGISTRY_SSL_CA_LOCATION": C("ca.pem")})
    if r.returncode == 0 or "wants credentials" not in r.stderr:
        raise AssertionError("no credentials: rc %d %s" % (r.returncode, r.stderr))
    r = eddy_cli("schemas", "list", "--registry", url, env_extra=dict(
        creds, EDDY_SCHEMA_REGISTRY_SSL_CA_LOCATION=C("other-ca.pem")))
    if r.returncode == 0 or "not trusted" not in r.stderr:
        raise AssertionError("another CA: rc %d %s" % (r.returncode, r.stderr))
    # plain http:// to the HTTPS port: unreachable, exit 3, not a hang
    r = eddy_cli("schemas", "list", "--registry", "http://localhost:%d" % HP, "-t", "2000",
                 env_extra=creds)
    eq(r.returncode, 3, "http:// to the HTTPS port: " + r.stderr)


def versions():
    hp = free_port()
    b = Eddyd(sets=["http.listeners=https://127.0.0.1:%d" % hp,
                    "ssl.keystore.location=" + KEYSTORE, "ssl.enabled.protocols=TLSv1.3"])
    try:
        eq(get(hp, "/healthz", minv=ssl.TLSVersion.TLSv1_3)[0], 200, "TLS 1.3")
        ssl_fails(lambda: get(hp, "/healthz", maxv=ssl.TLSVersion.TLSv1_2), "TLS 1.2 only client")
    finally:
        b.stop()


def hostile_clients():
    garbage = socket.create_connection(("127.0.0.1", HP))
    garbage.sendall(b"\x16\x03\x01\x00\x05hello" + os.urandom(64))
    stalled = socket.create_connection(("127.0.0.1", HP))
    stalled.sendall(b"\x16\x03\x01")  # a record header, then nothing
    try:
        for _ in range(3):
            eq(get(HP, "/healthz")[0], 200, "others served meanwhile")
    finally:
        garbage.close()
        stalled.close()


def make_other_keystore(path):
    def ossl(*a):
        subprocess.run(["openssl"] + list(a), check=True, capture_output=True)
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", C("b2.key"), "-out", C("b2.csr"),
         "-subj", "/CN=localhost")
    with open(C("b2.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    ossl("x509", "-req", "-in", C("b2.csr"), "-CA", C("other-ca.pem"), "-CAkey",
         C("other-ca.key"), "-CAcreateserial", "-out", C("b2.pem"), "-days", "2",
         "-extfile", C("b2.ext"))
    with open(path + ".tmp", "w") as f:
        f.write(open(C("b2.key")).read() + open(C("b2.pem")).read())
    os.rename(path + ".tmp", path)


def wait_log(text, n_before):
    deadline = time.time() + 10
    while time.time() < deadline:
        if B.log_text().count(text) > n_before:
            return
        time.sleep(0.05)
    raise AssertionError("no %r in the log after SIGHUP" % text)


def sighup_reload():
    keep = http.client.HTTPSConnection("localhost", HP, context=ctx(), timeout=10)
    eq(get(HP, "/healthz", conn=keep)[0], 200, "keep-alive connection, first request")
    n = B.log_text().count("HTTPS certificates reloaded")
    make_other_keystore(KEYSTORE)
    B.proc.send_signal(signal.SIGHUP)
    wait_log("HTTPS certificates reloaded", n)
    eq(get(HP, "/healthz", ca="other-ca.pem")[0], 200, "new connection: the new certificate")
    ssl_fails(lambda: get(HP, "/healthz"), "new connection with the old CA")
    eq(get(HP, "/healthz", conn=keep)[0], 200, "the open connection keeps working")
    keep.close()
    # an unreadable keystore: an error, the current certificate stays
    with open(KEYSTORE, "w") as f:
        f.write("not a PEM file\n")
    n = B.log_text().count("HTTPS certificates not reloaded")
    B.proc.send_signal(signal.SIGHUP)
    wait_log("HTTPS certificates not reloaded", n)
    eq(get(HP, "/healthz", ca="other-ca.pem")[0], 200, "the previous certificate still served")
    make_other_keystore(KEYSTORE)


def startup_errors():
    cases = [
        (["--set", "http.listeners=https://127.0.0.1:0"], "needs the server's certificate"),
        (["--set", "http.listeners=ftp://127.0.0.1:0"], "scheme must be http:// or https://"),
        (["--set", "http.listeners=https://127.0.0.1:0", "--set", "ssl.keystore.location=" +
          KEYSTORE, "--set", "ssl.enabled.protocols=TLSv1.1"], "is not TLSv1.2 or TLSv1.3"),
        (["--set", "http.listeners=https://127.0.0.1:0", "--set", "ssl.keystore.location=" +
          C("ca.key") + ".missing"], "cannot read"),
    ]
    for extra, msg in cases:
        d = tempfile.mkdtemp(prefix="eddy-https-bad-")
        r = subprocess.run([eddyd_bin(), "--data-dir", d, "--listen", "127.0.0.1:0"] + extra,
                           capture_output=True, text=True, timeout=30)
        if r.returncode == 0 or msg not in r.stdout + r.stderr:
            raise AssertionError("%s: rc %d, expected a message with %r:\n%s%s"
                                 % (extra, r.returncode, msg, r.stdout, r.stderr))
        shutil.rmtree(d, ignore_errors=True)


R.run("registry, /metrics, /healthz over HTTPS; CA checked", serves_https)
R.run("plain HTTP to the HTTPS port gets no answer", plain_http_refused)
R.run("Basic authentication over HTTPS", basic_auth)
R.run("Confluent schema-registry client over HTTPS with credentials", confluent_client)
R.run("libeddy's registry client (through eddy schemas) over HTTPS", libeddy_client)
R.run("ssl.enabled.protocols=TLSv1.3 on the HTTP port", versions)
R.run("TLS garbage and a stalled handshake do not stop others", hostile_clients)
R.run("SIGHUP: new certificate for new connections, open ones kept", sighup_reload)
R.run("start-up errors are clear", startup_errors)
R.finish()
