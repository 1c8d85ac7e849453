"""sasl_common — helpers of the SASL/TLS tests (tests/security): an eddyd with several
listeners (ports read from its "listener NAME (PROTO) on HOST:PORT" lines), raw-socket SASL
exchanges written from RFC 5802/7677 and Kafka's message definitions (no client library), and
a SCRAM client used to check the server side byte for byte.
"""
import base64
import hashlib
import hmac
import os
import re
import socket
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, os.path.join(HERE, "..", "broker"))
from eddyd import Eddyd, Results, wait_until  # noqa: E402,F401
import kwire  # noqa: E402,F401

LISTENER_RE = re.compile(r"listener (\S+) \((\S+)\) on 127\.0\.0\.1:(\d+)")


def listener_ports(broker):
    """{listener name: port} from the broker's log (the last start's lines win)."""
    ports = {}
    for m in LISTENER_RE.finditer(broker.log_text()):
        ports[m.group(1)] = int(m.group(3))
    return ports


def pin_ports(broker, listeners):
    """Rewrites the broker's listeners setting with the ports it got, so a restart keeps them."""
    ports = listener_ports(broker)
    entries = []
    for e in listeners.split(","):
        name = e.split("://")[0]
        entries.append("%s://127.0.0.1:%d" % (name, ports[name]))
    broker.sets = [s for s in broker.sets if not s.startswith("listeners=")]
    broker.sets.append("listeners=" + ",".join(entries))


def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s


def recv_exact(s, n):
    d = b""
    while len(d) < n:
        c = s.recv(n - len(d))
        if not c:
            raise ConnectionError("closed after %d of %d bytes" % (len(d), n))
        d += c
    return d


def request(s, key, version, corr, body, client_id=b"sec-test"):
    """One request with header v1; returns the response body (after the correlation id)."""
    s.sendall(kwire.frame(key, version, corr, body, client_id=client_id))
    n = struct.unpack(">i", recv_exact(s, 4))[0]
    d = recv_exact(s, n)
    got = struct.unpack(">i", d[:4])[0]
    assert got == corr, "correlation id %d, expected %d" % (got, corr)
    return d[4:]


def closed(s, timeout=5):
    """True when the peer closed the connection (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            d = s.recv(4096)
            if not d:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def handshake(s, mech, version=1, corr=1):
    """SaslHandshake; returns (error_code, [mechanisms])."""
    r = kwire.Reader(request(s, 17, version, corr, kwire.s16(mech)))
    err = r.i16()
    mechs = r.array(lambda: r.str())
    return err, [m.decode() if isinstance(m, bytes) else m for m in mechs]


def authenticate(s, token, version=1, corr=2):
    """SaslAuthenticate v0/v1 (non-flexible); returns (error_code, message, auth_bytes, lifetime)."""
    r = kwire.Reader(request(s, 36, version, corr, kwire.bytes32(token)))
    err = r.i16()
    msg = r.str()
    auth = r.bytes()
    life = r.i64() if version >= 1 else None
    if isinstance(msg, bytes):
        msg = msg.decode()
    return err, msg, auth, life


class ScramClient:
    """The client side of RFC 5802 (SHA-256 or SHA-512), for raw-socket tests."""

    def __init__(self, mech, user, password):
        self.h = "sha256" if mech.endswith("256") else "sha512"
        self.user, self.password = user, password
        self.cnonce = base64.b64encode(os.urandom(18)).decode()
        self.bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), self.cnonce)

    def first(self):
        return ("n,," + self.bare).encode()

    def final(self, server_first):
        sf = server_first.decode()
        a = dict(x.split("=", 1) for x in sf.split(","))
        assert a["r"].startswith(self.cnonce)
        salted = hashlib.pbkdf2_hmac(self.h, self.password.encode(), base64.b64decode(a["s"]),
                                     int(a["i"]))
        ck = hmac.new(salted, b"Client Key", self.h).digest()
        sk = hashlib.new(self.h, ck).digest()
        wo = "c=biws,r=" + a["r"]
        am = (self.bare + "," + sf + "," + wo).encode()
        sig = hmac.new(sk, am, self.h).digest()
        proof = bytes(x ^ y for x, y in zip(ck, sig))
        self.server_key = hmac.new(salted, b"Server Key", self.h).digest()
        self.auth_message = am
        return (wo + ",p=" + base64.b64encode(proof).decode()).encode()

    def check_server_final(self, server_final):
        want = hmac.new(self.server_key, self.auth_message, self.h).digest()
        assert server_final.decode() == "v=" + base64.b64encode(want).decode(), server_final


def scram_login(s, mech, user, password, version=1):
    """Handshake + SCRAM exchange on s; returns the final (err, msg, auth, lifetime)."""
    err, _ = handshake(s, mech, version=version)
    assert err == 0, "handshake error %d" % err
    c = ScramClient(mech, user, password)
    err, msg, sf, _ = authenticate(s, c.first(), version=version, corr=2)
    if err:
        return err, msg, sf, None
    res = authenticate(s, c.final(sf), version=version, corr=3)
    if res[0] == 0:
        c.check_server_final(res[2])
    return res


def plain_login(s, user, password, version=1):
    err, _ = handshake(s, "PLAIN", version=version)
    assert err == 0, "handshake error %d" % err
    return authenticate(s, b"\0" + user.encode() + b"\0" + password.encode(), version=version)
