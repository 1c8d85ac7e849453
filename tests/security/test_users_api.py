"""test_users_api — SCRAM users through Kafka's APIs (KIP-554) and `eddy users`, on raw sockets
(flexible v0 encodings written from Kafka's message definitions) and real clients:

- AlterUserScramCredentials upserts (salted passwords computed here) and deletions; the new
  user logs in with kcat over SCRAM-SHA-256/512 and PLAIN; a deleted credential no longer works;
- Kafka's per-user errors: unknown mechanism 33, too few / too many iterations 93, empty salt
  93, wrong salted-password length 93, the same user+mechanism twice 92, deleting what does
  not exist 91 — and nothing of a refused user is applied;
- DescribeUserScramCredentials: all users (null), named users, unknown user 91, duplicates 92;
- `eddy users add|list|delete` over SASL_PLAINTEXT, the change visible to kcat;
- connections.max.reauth.ms: SessionLifetimeMs is returned, re-authentication on the same
  connection works, a connection that lets its session expire is closed on its next request.
"""
import base64
import hashlib
import hmac
import os
import subprocess
import time

from sasl_common import (Eddyd, Results, closed, connect, handshake, kwire, listener_ports,
                         pin_ports, plain_login, recv_exact, request, scram_login)

LISTENERS = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"
os.environ["EDDY_BOOTSTRAP_USER"] = "admin:adm-pass"
B = Eddyd(sets=["listeners=" + LISTENERS, "connections.max.reauth.ms=1500"])
del os.environ["EDDY_BOOTSTRAP_USER"]
R = Results(B)
P = listener_ports(B)
SASL = P["SASL_PLAINTEXT"]
BUILD = os.environ.get("EDDY_BUILD_DIR", "")
EDDY = os.path.join(BUILD, "src/cli/eddy")


def uv(n):
    return kwire.uvarint(n)


def cstr(s):
    b = s.encode() if isinstance(s, str) else s
    return uv(len(b) + 1) + b


def carr(items):
    return uv(0) if items is None else uv(len(items) + 1) + b"".join(items)


TAG0 = b"\x00"


def flex_request(s, key, corr, body):
    hdr = kwire.i16(key) + kwire.i16(0) + kwire.i32(corr) + kwire.s16(b"sec-users") + TAG0
    msg = hdr + body
    s.sendall(kwire.i32(len(msg)) + msg)
    n = int.from_bytes(recv_exact(s, 4), "big")
    d = recv_exact(s, n)
    assert int.from_bytes(d[:4], "big", signed=True) == corr
    r = kwire.Reader(d[4:])
    assert r.uvarint() == 0  # response header tagged fields
    return r


def rstr(r):
    n = r.uvarint()
    if n == 0:
        return None
    v = bytes(r.b[r.pos:r.pos + n - 1]).decode()
    r.pos += n - 1
    return v


def rarr(r, fn):
    n = r.uvarint()
    return None if n == 0 else [fn() for _ in range(n - 1)]


def salted(mech, password, salt, it):
    h = "sha256" if mech == 1 else "sha512"
    return hashlib.pbkdf2_hmac(h, password.encode(), salt, it)


def upsert(name, mech, password, it=4096, salt=None, sp=None):
    salt = os.urandom(16) if salt is None else salt
    sp = salted(mech, password, salt, it) if sp is None else sp
    return cstr(name) + kwire.i8(mech) + kwire.i32(it) + cstr(salt) + cstr(sp) + TAG0


def delete(name, mech):
    return cstr(name) + kwire.i8(mech) + TAG0


def alter(dels, ups, corr=5):
    s = admin_conn()  # a fresh session: connections.max.reauth.ms is short here
    r = flex_request(s, 51, corr, carr(dels) + carr(ups) + TAG0)
    r.i32()  # throttle

    def res():
        u, e, m = rstr(r), r.i16(), rstr(r)
        assert r.uvarint() == 0
        return u, e, m
    out = rarr(r, res)
    return {u: (e, m) for u, e, m in out}


def describe(users, corr=6):
    s = admin_conn()
    body = carr(None if users is None else [cstr(u) + TAG0 for u in users]) + TAG0
    r = flex_request(s, 50, corr, body)
    r.i32()
    top = r.i16()
    rstr(r)

    def ci():
        m, it = r.i8(), r.i32()
        assert r.uvarint() == 0
        return (m, it)

    def res():
        u, e, m = rstr(r), r.i16(), rstr(r)
        infos = rarr(r, ci)
        assert r.uvarint() == 0
        return u, e, infos
    assert top == 0
    return {u: (e, infos) for u, e, infos in rarr(r, res)}


def login_ok(user, pw, mech="SCRAM-SHA-256"):
    s = connect(SASL)
    res = plain_login(s, user, pw) if mech == "PLAIN" else scram_login(s, mech, user, pw)
    s.close()
    return res[0] == 0


def kcat_ok(user, pw, mech):
    r = subprocess.run(["kcat", "-b", "127.0.0.1:%d" % SASL, "-L", "-X",
                        "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=" + mech,
                        "-X", "sasl.username=" + user, "-X", "sasl.password=" + pw,
                        "-m", "5"], capture_output=True, timeout=30)
    return r.returncode == 0


def admin_conn():
    s = connect(SASL)
    assert scram_login(s, "SCRAM-SHA-512", "admin", "adm-pass")[0] == 0
    return s


def t_alter_and_login():
    res = alter([], [upsert("bob", 1, "bob-pw"), upsert("bob", 2, "bob-pw", it=8192),
                        upsert("carol,=x", 2, "c-pw")])
    assert res == {"bob": (0, None), "carol,=x": (0, None)}, res
    assert login_ok("bob", "bob-pw") and login_ok("bob", "bob-pw", "SCRAM-SHA-512")
    assert login_ok("bob", "bob-pw", "PLAIN") and login_ok("carol,=x", "c-pw", "SCRAM-SHA-512")
    assert kcat_ok("bob", "bob-pw", "SCRAM-SHA-512") and not kcat_ok("bob", "nope", "SCRAM-SHA-512")
    d = describe(None)
    assert d["bob"] == (0, [(1, 4096), (2, 8192)]) and d["admin"][0] == 0, d
    res = alter([delete("bob", 1)], [])
    assert res == {"bob": (0, None)}
    assert not login_ok("bob", "bob-pw") and login_ok("bob", "bob-pw", "SCRAM-SHA-512")


def t_alter_errors():
    salt = os.urandom(16)
    res = alter([delete("ghost", 1), delete("dave", 1)],
                [upsert("u33", 3, "x"), upsert("few", 1, "x", it=1000),
                 upsert("many", 1, "x", it=20000), upsert("nosalt", 1, "x", salt=b"", sp=b"\0" * 32),
                 upsert("shortsp", 2, "x", sp=b"\1" * 32), upsert("dave", 1, "d-pw"),
                 upsert("twice", 1, "x"), upsert("twice", 1, "y"), upsert("", 1, "x", salt=salt)])
    want = {"ghost": 91, "dave": 91, "u33": 33, "few": 93, "many": 93, "nosalt": 93,
            "shortsp": 93, "twice": 92, "": 93}
    assert {u: e for u, (e, _) in res.items()} == want, res
    assert all(m for e, m in res.values()), res
    d = describe(["dave", "twice", "few", "admin", "admin"])
    assert d["dave"][0] == 91 and d["twice"][0] == 91 and d["few"][0] == 91, d
    assert d["admin"][0] == 92, d
    assert not login_ok("dave", "d-pw")


def t_cli_users():
    env = dict(os.environ, EDDY_BOOTSTRAP_SERVERS="127.0.0.1:%d" % SASL,
               EDDY_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
               EDDY_KAFKA_SASL_MECHANISMS="SCRAM-SHA-512", EDDY_KAFKA_SASL_USERNAME="admin",
               EDDY_KAFKA_SASL_PASSWORD="adm-pass")

    def eddy(*a, inp=None):
        return subprocess.run([EDDY, "users", *a], env=env, capture_output=True, text=True,
                              input=inp, timeout=30)
    r = eddy("add", "erin", "--password-stdin", inp="erin-pw\n")
    assert r.returncode == 0, r.stderr
    assert login_ok("erin", "erin-pw", "SCRAM-SHA-512") and login_ok("erin", "erin-pw")
    r = eddy("list")
    assert r.returncode == 0 and "erin" in r.stdout and "SCRAM-SHA-512" in r.stdout, r
    r = eddy("delete", "erin")
    assert r.returncode == 0, r.stderr
    assert not login_ok("erin", "erin-pw", "SCRAM-SHA-512")
    r = eddy("delete", "erin")
    assert r.returncode != 0 and "does not exist" in r.stderr, r
    env["EDDY_KAFKA_SASL_PASSWORD"] = "wrong"
    r = eddy("list")
    assert r.returncode != 0 and "invalid credentials" in r.stderr, r


def t_reauth():
    s = connect(SASL)
    err, _, _, life = scram_login(s, "SCRAM-SHA-512", "admin", "adm-pass")
    assert err == 0 and life == 1500, (err, life)
    # re-authenticate on the same connection before expiry (KIP-368), then keep using it
    time.sleep(1.0)
    err, _, _, life = scram_login(s, "SCRAM-SHA-512", "admin", "adm-pass")
    assert err == 0 and life == 1500
    time.sleep(1.0)  # 2 s after the first login, 1 s after the second
    request(s, 3, 1, 20, kwire.metadata_body_v1([]))
    # another mechanism is refused (34); so is another user (58)
    s2 = connect(SASL)
    assert scram_login(s2, "SCRAM-SHA-512", "admin", "adm-pass")[0] == 0
    assert handshake(s2, "PLAIN")[0] == 34
    assert closed(s2)
    err, msg, _, _ = scram_login(s, "SCRAM-SHA-512", "carol,=x", "c-pw")
    assert err == 58 and "keep the user" in msg, (err, msg)
    assert closed(s)
    # a session left to expire: the next request closes the connection
    s = connect(SASL)
    assert scram_login(s, "SCRAM-SHA-512", "admin", "adm-pass")[0] == 0
    time.sleep(1.8)
    s.sendall(kwire.frame(3, 1, 21, kwire.metadata_body_v1([])))
    assert closed(s), "expired session served"
    assert "SASL session expired" in B.log_text()


def t_users_survive_sigkill():
    pin_ports(B, LISTENERS)
    B.restart(kill=True)
    assert login_ok("carol,=x", "c-pw", "SCRAM-SHA-512") and login_ok("bob", "bob-pw", "PLAIN")
    assert not login_ok("bob", "bob-pw", "SCRAM-SHA-256")


R.run("alter_and_login", t_alter_and_login)
R.run("alter_errors", t_alter_errors)
R.run("cli_users", t_cli_users)
R.run("reauth", t_reauth)
R.run("users_survive_sigkill", t_users_survive_sigkill)
R.finish()
