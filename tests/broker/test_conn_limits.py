"""test_conn_limits — connection hygiene and the request-memory budget (issue 11 items 2-3),
against a real eddyd with raw sockets and kafka-python:

- connections.max.idle.ms closes a connection that does nothing (also after a request);
- socket.request.read.timeout.ms closes a peer that starts a request and trickles the rest;
- max.connections.per.ip (+ .overrides, from 127.0.0.1 and 127.0.0.2) and max.connections
  refuse extra connections, max.connections.loopback.reserve lets an operator in beyond them;
- lines about bad peers are rate-limited, with the count of suppressed lines;
- queued.max.request.bytes: ten peers each sending most of a 90 MB request keep eddyd's RSS
  near the budget (the figure is printed), and a normal client is served meanwhile.
"""
import os
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, HERE)
from eddyd import Eddyd, Results, wait_until  # noqa: E402
import kwire  # noqa: E402

from kafka import KafkaProducer  # noqa: E402


def connect(broker, src="127.0.0.1"):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", broker.port))
    s.settimeout(10)
    return s


def closed_by_server(s, within):
    """True if the server closes s within `within` seconds (recv sees EOF or a reset)."""
    s.settimeout(within)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def api_versions(s, corr=1):
    s.sendall(kwire.frame(18, 0, corr, b""))
    n = int.from_bytes(s.recv(4), "big")
    got = b""
    while len(got) < n:
        got += s.recv(n - len(got))
    return got


def produce_ok(broker, topic):
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", request_timeout_ms=20000)
    p.send(topic, b"still-served").get(timeout=30)
    p.close()


def t_idle(broker):
    quiet = connect(broker)
    used = connect(broker)
    api_versions(used)
    t0 = time.time()
    assert closed_by_server(quiet, 8), "an idle connection was not closed"
    assert closed_by_server(used, 8), "an idle connection (after a request) was not closed"
    assert time.time() - t0 >= 1.0, "closed before connections.max.idle.ms"


def t_slow_request(broker):
    s = connect(broker)
    s.sendall((1000).to_bytes(4, "big") + b"\x00\x12\x00\x00")  # 8 of 1004 bytes
    busy = connect(broker)
    api_versions(busy)  # others are served meanwhile
    assert closed_by_server(s, 8), "a trickling request was not cut off"
    assert "socket.request.read.timeout.ms" in broker.log_text()


def t_per_ip(broker):
    held = [connect(broker) for _ in range(3)]
    extra = connect(broker)
    assert closed_by_server(extra, 3), "a 4th connection from 127.0.0.1 was accepted"
    for s in held:
        api_versions(s)  # the first three work
    other = [connect(broker, "127.0.0.2") for _ in range(5)]  # override: 5 for 127.0.0.2
    for s in other:
        api_versions(s)
    sixth = connect(broker, "127.0.0.2")
    assert closed_by_server(sixth, 3), "a 6th connection from 127.0.0.2 was accepted"
    for s in held + other:
        s.close()
    # freed slots are reusable (once eddyd has seen the closes)
    def reconnect():
        try:
            s = connect(broker)
            api_versions(s)
            s.close()
            return True
        except OSError:
            return False
    wait_until(reconnect, 5, "a connection after the others closed")


def t_max_connections_reserve(broker):
    # max.connections=4, reserve 2 for loopback: 6 accepted, the 7th refused
    held = [connect(broker) for _ in range(6)]
    for s in held:
        api_versions(s)
    seventh = connect(broker)
    assert closed_by_server(seventh, 3), "a 7th connection was accepted"
    assert "max.connections (4) reached" in broker.log_text()


def t_rate_limited_logs(broker):
    for i in range(60):
        s = connect(broker)
        s.sendall(kwire.frame(31000, 0, i, b""))  # unknown API key: closed and logged
        closed_by_server(s, 3)
    lines = [ln for ln in broker.log_text().splitlines() if "unknown API key" in ln]
    assert 1 <= len(lines) <= 10, "%d lines about bad peers" % len(lines)
    time.sleep(10.5)  # the next window reports what was dropped
    s = connect(broker)
    s.sendall(kwire.frame(31000, 0, 99, b""))
    closed_by_server(s, 3)
    wait_until(lambda: "similar lines suppressed" in broker.log_text(), 5, "suppressed count")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def t_memory_budget(broker):
    pid = broker.proc.pid
    base = rss_kb(pid)
    stop = threading.Event()
    socks = []

    def attacker():
        s = connect(broker)
        socks.append(s)
        s.setblocking(False)
        head = (90 << 20).to_bytes(4, "big") + kwire.i16(0) + kwire.i16(7) + kwire.i32(1)
        chunk = b"\x00" * (1 << 20)
        sent = 0
        try:
            s.send(head)
            while sent < (80 << 20) and not stop.is_set():
                try:
                    sent += s.send(chunk)
                except BlockingIOError:
                    time.sleep(0.01)
        except OSError:
            pass

    ts = [threading.Thread(target=attacker) for _ in range(10)]
    for t in ts:
        t.start()
    time.sleep(4)
    peak = rss_kb(pid)
    produce_ok(broker, "served-under-attack")
    peak = max(peak, rss_kb(pid))
    stop.set()
    for t in ts:
        t.join()
    for s in socks:
        s.close()
    grown_mb = (peak - base) / 1024
    print("RSS with 10 peers each sending 80 of a 90 MB request: +%.0f MB over %.0f MB "
          "(budget 64 MB, socket.request.max.bytes 100 MB; unbounded would be ~800 MB)"
          % (grown_mb, base / 1024), flush=True)
    assert grown_mb < 64 + 100 + 64, "eddyd grew by %.0f MB" % grown_mb


def main():
    res = Results()
    with Eddyd(sets=["connections.max.idle.ms=1500", "socket.request.read.timeout.ms=1500"]) as b:
        res.broker = b
        res.run("connections.max.idle.ms closes idle connections", t_idle, b)
        res.run("socket.request.read.timeout.ms cuts off a trickling request", t_slow_request, b)
    with Eddyd(sets=["max.connections.per.ip=3", "max.connections.per.ip.overrides=127.0.0.2:5",
                     "max.connections.loopback.reserve=0"]) as b:
        res.broker = b
        res.run("max.connections.per.ip and its overrides", t_per_ip, b)
    with Eddyd(sets=["max.connections=4", "max.connections.loopback.reserve=2"]) as b:
        res.broker = b
        res.run("max.connections with a loopback reserve", t_max_connections_reserve, b)
    with Eddyd() as b:
        res.broker = b
        res.run("lines about bad peers are rate-limited", t_rate_limited_logs, b)
    with Eddyd(sets=["queued.max.request.bytes=67108864"]) as b:
        res.broker = b
        res.run("queued.max.request.bytes bounds memory under a 10 x 90 MB attack",
                t_memory_budget, b)
    res.finish()


if __name__ == "__main__":
    main()
