"""tls_handshakes.py HOST:PORT CA SECONDS — new SASL_SSL connections per second from one client:
TCP connect, TLS handshake (TLS 1.3, certificate verified), SaslHandshake + SCRAM-SHA-512
exchange, close; prints one JSON line. The client's own cost (Python, PBKDF2 of 4096
iterations per login) is part of the figure."""
import json
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "security"))
from sasl_common import scram_login  # noqa: E402

host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(sys.argv[2])
secs = float(sys.argv[3])
n, t0 = 0, time.time()
while time.time() - t0 < secs:
    s = ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname="localhost")
    err = scram_login(s, "SCRAM-SHA-512", "bench", "bench-pass")[0]
    assert err == 0, err
    s.close()
    n += 1
dt = time.time() - t0
print(json.dumps({"mode": "sasl_ssl_handshakes", "connections": n, "seconds": round(dt, 2),
                  "conn_s": round(n / dt, 1)}))
