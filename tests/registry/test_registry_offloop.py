"""test_registry_offloop — registry work runs off eddyd's Kafka event loop, in arrival order.

A ~390 KB Avro schema (1,600 named record fields) is registered under FULL_TRANSITIVE with four
earlier versions: eight reader/writer comparisons of large schemas. While that register is being
checked (eddyd logs "checking a schema for big against 4 version(s)" when the check starts, and
"checked ..." on its loop when the result is back), the test sends a Kafka ApiVersions request
and a DELETE of the subject's latest version, then records the order of events:
  - ApiVersions is answered before the check's result reached the loop (the "checked" line is
    not yet in the log when the answer arrives), so before the register completes;
  - the register gets version 5, and the DELETE, queued behind it, deletes version 5 (writes
    happen in arrival order, not around the register).
Ordering of answers is asserted, never durations. Raw sockets: HTTP/1.1 with Connection: close,
the Kafka ApiVersions v0 frame by hand.
"""
import json
import os
import re
import select
import socket
import struct
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("EDDY_SOURCE_DIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "harness"))
from eddyd import Eddyd, Results, wait_until  # noqa: E402

CT = "application/vnd.schemaregistry.v1+json"
# fields per schema: 1600 (~390 KB); the ThreadSanitizer stage asks for fewer, where each check
# of 1600 fields takes over a minute
FIELDS = int(os.environ.get("EDDY_OFFLOOP_FIELDS", "1600"))
HTTP_RE = re.compile(r"http listening on 127\.0\.0\.1:(\d+)")


def big_schema(nfields, extra):
    """nfields named record fields (the expensive part), plus `extra` optional fields: version
    k+1 adds one optional field with a default, so every version reads every other (FULL)."""
    fields = []
    for i in range(nfields):
        fields.append({"name": "f%05d" % i, "doc": "field %d of a large schema" % i,
                       "type": {"type": "record", "name": "Rec%05d" % i,
                                "fields": [{"name": "a", "type": "long"},
                                           {"name": "b", "type": "string"},
                                           {"name": "c", "type": ["null", "double"],
                                            "default": None}]}})
    for k in range(extra):
        fields.append({"name": "x%d" % k, "type": ["null", "string"], "default": None})
    return json.dumps({"type": "record", "name": "Big", "namespace": "offloop",
                       "fields": fields})


def http_port(broker):
    m = HTTP_RE.findall(broker.log_text())
    assert m, "no http port in the log"
    return int(m[-1])


def call(port, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 method=method)
    if data is not None:
        req.add_header("Content-Type", CT)
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read().decode())


def raw_http(port, method, path, body=b""):
    s = socket.create_connection(("127.0.0.1", port))
    head = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
            "Connection: close\r\n\r\n" % (method, path, CT, len(body))).encode()
    s.sendall(head + body)
    return s


def api_versions(port, corr):
    s = socket.create_connection(("127.0.0.1", port))
    client = b"offloop-test"
    req = struct.pack(">hhih", 18, 0, corr, len(client)) + client
    s.sendall(struct.pack(">i", len(req)) + req)
    return s


def http_complete(buf):
    """(status, body) once buf holds a whole response (server closes: Connection: close)."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return None
    m = re.search(rb"Content-Length: *(\d+)", head, re.I)
    if not m or len(body) < int(m.group(1)):
        return None
    return int(head.split()[1]), body[:int(m.group(1))]


def kafka_complete(buf):
    if len(buf) < 4 or len(buf) < 4 + struct.unpack(">i", buf[:4])[0]:
        return None
    corr, err = struct.unpack(">ih", buf[4:10])
    return corr, err


def collect(socks, on_done=None):
    """Reads every socket until its answer is complete; returns names in completion order and
    the parsed answers. Each select() wake-up handles one socket, so the order is strict.
    on_done(name) runs as each answer completes."""
    bufs = {name: b"" for name in socks}
    done, order = {}, []
    while len(done) < len(socks):
        live = [s for name, (s, _) in socks.items() if name not in done]
        ready, _, _ = select.select(live, [], [], 120)
        assert ready, "no answer within 120 s (eddyd stuck?)"
        for name, (s, parse) in socks.items():
            if s is not ready[0]:
                continue
            chunk = s.recv(1 << 16)
            bufs[name] += chunk
            got = parse(bufs[name])
            if got is not None:
                done[name] = got
                order.append(name)
                if on_done:
                    on_done(name)
            elif not chunk:
                raise AssertionError("%s: connection closed before a whole answer: %r"
                                     % (name, bufs[name][:200]))
    for s, _ in socks.values():
        s.close()
    return order, done


def case_apiversions_during_register(broker):
    port = http_port(broker)
    assert call(port, "PUT", "/config/big", {"compatibility": "FULL_TRANSITIVE"}) == \
        {"compatibility": "FULL_TRANSITIVE"}
    for k in range(4):
        call(port, "POST", "/subjects/big/versions", {"schema": big_schema(FIELDS, k)})
    assert call(port, "GET", "/subjects/big/versions") == [1, 2, 3, 4]
    line = "checking a schema for big against 4 version(s) (FULL_TRANSITIVE)"
    checked = "checked a schema for big against 4 version(s): compatible"
    seen = broker.log_text().count(line)
    assert broker.log_text().count(checked) == 0, broker.log_tail()

    body = json.dumps({"schema": big_schema(FIELDS, 4)}).encode()
    if FIELDS == 1600:
        assert 350_000 < len(body) < 512 * 1024, len(body)
    reg = raw_http(port, "POST", "/subjects/big/versions", body)
    # the register is at the head of the queue and its check has started on the worker
    wait_until(lambda: broker.log_text().count(line) > seen, 120, "the check to start",
               interval=0.01)
    dele = raw_http(port, "DELETE", "/subjects/big/versions/latest")
    kafka = api_versions(broker.port, 7)
    # eddyd logs `checked` on its loop as soon as it has the check's result, before it goes on:
    # if the loop were blocked by the check, the line would be in the log before ApiVersions
    # could even be read, let alone answered
    at_answer = {}

    def on_done(name):
        at_answer[name] = broker.log_text().count(checked)

    order, got = collect({"register": (reg, http_complete), "delete": (dele, http_complete),
                          "apiversions": (kafka, kafka_complete)}, on_done)

    assert got["apiversions"] == (7, 0), got["apiversions"]
    assert got["register"][0] == 200, got["register"]
    assert got["delete"][0] == 200, got["delete"]
    assert at_answer["apiversions"] == 0, \
        "ApiVersions was answered only after the compatibility check had finished"
    assert order.index("apiversions") < order.index("register"), \
        "ApiVersions was answered after the register completed: %s" % order
    assert at_answer["register"] == 1, at_answer
    # the DELETE waited for the register: it deleted the version the register wrote
    reg_id = json.loads(got["register"][1])["id"]
    assert json.loads(got["delete"][1]) == 5, got["delete"]
    assert order.index("register") < order.index("delete"), order
    assert call(port, "GET", "/subjects/big/versions") == [1, 2, 3, 4]
    v5 = call(port, "GET", "/subjects/big/versions/5?deleted=true")
    assert v5["id"] == reg_id and v5["version"] == 5, v5


def case_stop_during_register(broker):
    """SIGTERM while a register is on the worker: eddyd exits cleanly (status 0, asserted by
    stop()), the waiting client gets 503 or a closed connection, never a false success, and the
    registry is whole after a restart."""
    port = http_port(broker)
    line = "checking a schema for big against 4 version(s) (FULL_TRANSITIVE)"
    seen = broker.log_text().count(line)
    reg = raw_http(port, "POST", "/subjects/big/versions",
                   json.dumps({"schema": big_schema(FIELDS, 5)}).encode())
    wait_until(lambda: broker.log_text().count(line) > seen, 120, "the check to start",
               interval=0.01)
    broker.stop()
    buf = b""
    while True:
        chunk = reg.recv(1 << 16)
        if not chunk:
            break
        buf += chunk
    reg.close()
    got = http_complete(buf)
    assert got is None or got[0] == 503 or (got[0] == 200 and b'"id"' in got[1]), buf[:300]
    broker.start()
    port = http_port(broker)
    versions = call(port, "GET", "/subjects/big/versions")
    assert versions in ([1, 2, 3, 4], [1, 2, 3, 4, 6]), versions
    if got is not None and got[0] == 200:
        assert versions == [1, 2, 3, 4, 6], "acknowledged but not stored: %s" % versions


def main():
    broker = Eddyd(sets=["http.listeners=127.0.0.1:0"])
    res = Results(broker)
    res.run("ApiVersions answered during a FULL_TRANSITIVE register of a 390 KB schema; "
            "a DELETE queued behind it applies after it", case_apiversions_during_register,
            broker)
    res.run("SIGTERM during a register: clean exit, 503 or closed, registry whole",
            case_stop_during_register, broker)
    broker.stop()
    res.finish()


if __name__ == "__main__":
    main()
