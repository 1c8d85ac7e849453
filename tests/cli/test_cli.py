"""test_cli.py — integration test of the `eddy` command-line tool (src/cli) against a real eddyd.

Starts eddyd through tests/harness/eddyd.py and drives every command as a user
would (subprocess, stdin/stdout, exit status): topics create/list/describe/delete, produce and
consume with keys and headers (plain, --json, -n, --follow), groups list/describe/lag after a
partial group consume, trace over hand-made envelopes on two topics plus a decoy and a dead
letter, dlq, schemas against eddyd's registry (HTTP port), bench (counts only, never timing),
and the error paths (bad arguments 2, unknown topic/group 4, unreachable broker 3); then
issue 17's first hour: consume from offsets, relative offsets and times (cross-checked with
kcat), --format/--json, produce --json-input/files/partitioner, groups reset/delete, topics
alter-config/add-partitions, schemas type detection/compatibility/mode/delete, connection
errors said as what they are, --version, bash completion, consume -f across a broker restart.
Binary: $EDDY_CLI, else $EDDY_BUILD_DIR/src/cli/eddy. Run with /usr/bin/python3.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "harness"))
from eddyd import Eddyd, Results, wait_until  # noqa: E402


def eddy_bin():
    b = os.environ.get("EDDY_CLI")
    if b and os.access(b, os.X_OK):
        return b
    bd = os.environ.get("EDDY_BUILD_DIR")
    if bd and os.access(os.path.join(bd, "src/cli/eddy"), os.X_OK):
        return os.path.join(bd, "src/cli/eddy")
    raise RuntimeError("eddy not found: EDDY_CLI=%r EDDY_BUILD_DIR=%r" % (b, bd))


EDDY = eddy_bin()
BROKER = None


class Run:
    def __init__(self, p):
        self.rc, self.out, self.err = p.returncode, p.stdout, p.stderr

    def __repr__(self):
        return "rc=%s\n--stdout--\n%s--stderr--\n%s" % (self.rc, self.out, self.err)


def eddy(*args, stdin="", bootstrap=True, env=None, timeout=60):
    argv = [EDDY]
    if bootstrap:
        argv += ["-b", BROKER.bootstrap]
    argv += list(args)
    e = dict(os.environ)
    e.pop("EDDY_BOOTSTRAP_SERVERS", None)
    if env:
        e.update(env)
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, env=e)
    return Run(p)


def ok(r):
    assert r.rc == 0, "expected exit 0: %r" % r
    return r


def fails(r, rc, text=None):
    assert r.rc == rc, "expected exit %d: %r" % (rc, r)
    if text:
        assert text in r.err, "expected %r on stderr: %r" % (text, r)
    return r


def jlines(out):
    return [json.loads(l) for l in out.splitlines() if l.strip()]


# ---- cases ----------------------------------------------------------------------------------

def t_help_and_usage():
    r = ok(eddy("--help", bootstrap=False))
    for cmd in ("topics", "produce", "consume", "groups", "dlq", "trace", "schemas", "bench"):
        assert cmd in r.out, r
    # every command answers --help on stdout (exit 0) and an unknown option with its usage on
    # stderr (exit 2), through the one option loop the commands share (cli_getopt)
    for cmd in (["topics"], ["produce"], ["consume"], ["groups"], ["dlq"], ["dlq", "redrive"],
                ["trace"], ["schemas"], ["bench"], ["users"], ["configs"], ["acls"], ["txn"],
                ["subscriptions"], ["sagas"], ["projections"]):
        r = ok(eddy(*(cmd + ["--help"]), bootstrap=False))
        assert r.out.startswith("usage: eddy " + " ".join(cmd)), r
        r = fails(eddy(*(cmd + ["--no-such-option"]), bootstrap=False), 2, "--no-such-option")
        assert r.out == "" and "usage: eddy " + " ".join(cmd) in r.err, r
    fails(eddy(bootstrap=False), 2)
    fails(eddy("frobnicate", bootstrap=False), 2, "unknown command")
    fails(eddy("topics", "create"), 2, "which topic")
    fails(eddy("topics", "explode", "x"), 2, "unknown subcommand")
    fails(eddy("topics", "create", "x", "-p", "zero"), 2, "-p wants")
    fails(eddy("consume", "x", "-n", "-3"), 2)
    fails(eddy("produce", "x", "-H", "novalue"), 2, "-H wants key=value")
    fails(eddy("trace"), 2, "which correlation id")
    fails(eddy("-t", "soon", "topics", "list", bootstrap=False), 2, "--timeout")
    fails(eddy("users", "add", "u", "--password", "p", "--iterations", "many", bootstrap=False), 2,
          "--iterations wants a count")


def t_topics():
    r = ok(eddy("topics", "create", "cli.t1", "-p", "3", "-c", "retention.ms=123456"))
    assert "created topic cli.t1" in r.out, r
    fails(eddy("topics", "create", "cli.t1"), 1, "TOPIC_ALREADY_EXISTS")
    r = ok(eddy("topics", "list"))
    rows = [l.split() for l in r.out.splitlines()[1:]]
    assert ["cli.t1", "3"] in rows, r
    assert not any(row[0].startswith("_") for row in rows), "internal topics listed: %r" % r
    r = ok(eddy("topics", "list", "--all", "--json"))
    topics = {o["topic"]: o for o in jlines(r.out)}
    assert topics["cli.t1"]["partitions"] == 3 and not topics["cli.t1"]["internal"], r
    # eddyd leaves internal topics out of "all topics" metadata (Kafka lists them): when a
    # cluster does list them, --all keeps them and flags them internal.
    assert all(o["internal"] == o["topic"].startswith("_") for o in topics.values()), r
    ok(eddy("produce", "cli.t1", "-p", "2", stdin="x\ny\n"))
    r = ok(eddy("topics", "describe", "cli.t1"))
    lines = r.out.splitlines()
    assert "PARTITIONS  3" in lines, r
    assert lines[4].split() == ["PARTITION", "LEADER", "REPLICAS", "ISR", "LOG-START",
                                "HIGH-WATERMARK", "MESSAGES"], r
    parts = {}
    for l in lines:
        f = l.split()
        if len(f) == 7 and f[0].isdigit():  # PARTITION LEADER REPLICAS ISR LOG-START HWM MSGS
            assert f[2] == f[1] and f[3] == f[1], r  # one node: it is every replica and the ISR
            parts[int(f[0])] = [int(f[1])] + [int(x) for x in f[4:]]
    assert parts == {0: [1, 0, 0, 0], 1: [1, 0, 0, 0], 2: [1, 0, 2, 2]}, r
    assert any(l.split()[:2] == ["retention.ms", "123456"] for l in lines), r
    r = ok(eddy("topics", "describe", "cli.t1", "--json"))
    d = json.loads(r.out)
    assert [p["highWatermark"] for p in d["partitions"]] == [0, 0, 2], r
    assert all(p["replicas"] == [1] and p["isr"] == [1] for p in d["partitions"]), r
    assert [p["messages"] for p in d["partitions"]] == [0, 0, 2], r
    assert d["configs"]["retention.ms"] == "123456", r
    r = ok(eddy("topics", "delete", "cli.t1"))
    assert "deleted topic cli.t1" in r.out, r
    r = ok(eddy("topics", "list"))
    assert "cli.t1" not in r.out, r
    fails(eddy("topics", "describe", "cli.t1"), 4, "unknown topic")
    fails(eddy("topics", "delete", "cli.t1"), 4, "unknown topic")


def t_produce_consume():
    ok(eddy("topics", "create", "cli.rt", "-p", "2"))
    r = ok(eddy("produce", "cli.rt", "-k", "order-7", "-H", "a=1", "-H", "b=x=y",
                stdin="first\nsecond line\n{\"n\":3}\n"))
    pos = r.out.split()
    assert len(pos) == 3, r
    part = pos[0].split("/")[1].split("@")[0]
    assert pos == ["cli.rt/%s@%d" % (part, i) for i in range(3)], r
    r = ok(eddy("produce", "cli.rt", "-K", ":", "-p", "0", stdin="k1:v1\nk2:v:2\n"))
    assert len(r.out.split()) == 2, r
    r = ok(eddy("consume", "cli.rt", "--from-beginning", "--json"))
    msgs = jlines(r.out)
    assert len(msgs) == 5, r
    keyed = [m for m in msgs if m["key"] == "order-7"]
    assert [m["value"] for m in keyed] == ["first", "second line", "{\"n\":3}"], r
    assert [m["offset"] for m in keyed] == [0, 1, 2], r
    assert keyed[0]["headers"] == [{"key": "a", "value": "1"}, {"key": "b", "value": "x=y"}], r
    delim = [(m["key"], m["value"]) for m in msgs if m["partition"] == 0 and m["key"] != "order-7"]
    assert delim == [("k1", "v1"), ("k2", "v:2")], r
    # The human format: position, key, headers, value, tab-separated.
    r = ok(eddy("consume", "cli.rt", "--from-beginning"))
    lines = r.out.splitlines()
    assert "cli.rt/%s@1\tkey=order-7\theaders=a=1,b=x=y\tsecond line" % part in lines, r
    r = ok(eddy("consume", "cli.rt", "--from-beginning", "-n", "2"))
    assert len(r.out.splitlines()) == 2, r
    # Without --from-beginning (and no group) consume starts at the end: nothing, exit 0.
    r = ok(eddy("consume", "cli.rt"))
    assert r.out == "", r
    # --follow waits for new messages.
    p = subprocess.Popen([EDDY, "-b", BROKER.bootstrap, "consume", "cli.rt", "--follow",
                          "-n", "1", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        time.sleep(1.5)
        ok(eddy("produce", "cli.rt", "-k", "late", stdin="late message\n"))
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, (out, err)
    m = jlines(out)
    assert len(m) == 1 and m[0]["key"] == "late" and m[0]["value"] == "late message", (out, err)
    fails(eddy("consume", "cli.nope"), 4, "unknown topic")
    fails(eddy("produce", "cli.nope", stdin="x\n"), 4, "unknown topic")
    fails(eddy("produce", "cli.rt", "-p", "9", stdin="x\n"), 2, "no partition 9")


def t_groups_lag():
    ok(eddy("topics", "create", "cli.lag", "-p", "2"))
    ok(eddy("produce", "cli.lag", "-p", "0", stdin="".join("a%d\n" % i for i in range(6))))
    ok(eddy("produce", "cli.lag", "-p", "1", stdin="".join("b%d\n" % i for i in range(4))))
    r = ok(eddy("consume", "cli.lag", "-g", "cli-g1", "--from-beginning", "-n", "4"))
    assert len(r.out.splitlines()) == 4, r
    r = ok(eddy("groups", "lag", "cli-g1", "--json"))
    rows = jlines(r.out)
    assert {(x["topic"], x["group"]) for x in rows} == {("cli.lag", "cli-g1")}, r
    # Which partitions the 4 came from is up to the consumer. A partition of the group's topic
    # without a commit shows committed -1 and no lag ("-" / null, not in the total), as
    # kafka-consumer-groups.sh shows it and as eddyd's /metrics counts lag.
    assert sorted(x["partition"] for x in rows) == [0, 1], r
    assert sum(x["committed"] for x in rows if x["committed"] >= 0) == 4, r
    want_total = 0
    for x in rows:
        assert x["highWatermark"] == {0: 6, 1: 4}[x["partition"]], r
        if x["committed"] >= 0:
            assert x["lag"] == x["highWatermark"] - x["committed"], r
            want_total += x["lag"]
        else:
            assert x["lag"] is None, r
    r = ok(eddy("groups", "lag", "cli-g1"))
    total = [l.split() for l in r.out.splitlines() if l.split()[1:2] == ["TOTAL"]]
    assert total == [["cli-g1", "TOTAL", str(want_total)]], r
    assert all(l.split()[-1] == "-" for l in r.out.splitlines() if l.split()[3:4] == ["-"]), r
    r = ok(eddy("groups", "list"))
    assert any(l.split() == ["cli-g1", "Empty"] for l in r.out.splitlines()), r
    r = ok(eddy("groups", "list", "--json"))
    assert {"group": "cli-g1", "state": "Empty"} in jlines(r.out), r
    r = ok(eddy("groups", "describe", "cli-g1"))
    assert "GROUP        cli-g1" in r.out and "STATE        Empty" in r.out, r
    assert "MEMBERS      0" in r.out and "cli-g1" in r.out.split("TOTAL")[0], r
    r = ok(eddy("groups", "lag"))  # every group
    assert any(l.split() == ["cli-g1", "TOTAL", str(want_total)] for l in r.out.splitlines()), r
    # A second run resumes at the committed offsets (and, with --from-beginning, at the log
    # start where nothing is committed) and reads exactly the rest.
    r = ok(eddy("consume", "cli.lag", "-g", "cli-g1", "--from-beginning"))
    assert len(r.out.splitlines()) == 6, r
    rows = jlines(ok(eddy("groups", "lag", "cli-g1", "--json")).out)
    assert sum(x["lag"] for x in rows) == 0 and sum(x["committed"] for x in rows) == 10, rows
    # A live member (consume --follow) shows up Stable with its partitions; Ctrl-C ends it, 0.
    p = subprocess.Popen([EDDY, "-b", BROKER.bootstrap, "consume", "cli.lag", "-g", "cli-g2",
                          "--follow"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def stable():
            r = eddy("groups", "describe", "cli-g2", "--json")
            return json.loads(r.out) if r.rc == 0 and '"Stable"' in r.out else None
        d = wait_until(stable, 30, "cli-g2 to be Stable")
        assert len(d["members"]) == 1, d
        assert sorted(d["members"][0]["partitions"]) == ["cli.lag/0", "cli.lag/1"], d
        assert d["members"][0]["clientId"] == "eddy-cli", d
    finally:
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    fails(eddy("groups", "describe", "cli-nobody"), 4, "unknown group")
    fails(eddy("groups", "lag", "cli-nobody"), 4, "no committed offsets")
    fails(eddy("groups", "describe"), 2, "which group")


CID = "7d4c2f0e-1b6a-4c1e-9a53-0c8f1e2d3b4a"
DECOY = "0f0f0f0f-aaaa-4bbb-8ccc-dddddddddddd"


def envelope(etype, eid, ts, cause, source, cid=CID):
    return json.dumps({"eventType": etype, "version": "1.0", "eventId": eid, "timestamp": ts,
                       "correlationId": cid, "causationId": cause, "source": source,
                       "payload": {"orderId": "o-1"}}, separators=(",", ":"))


def t_trace():
    ok(eddy("topics", "create", "cli.orders", "-p", "3"))
    ok(eddy("topics", "create", "cli.payments", "-p", "2"))
    ok(eddy("topics", "create", "cli.payments.dlq"))
    hdr = ["-H", "x-correlation-id=" + CID]
    # Produced out of time order, on different keys/partitions; header on some only.
    ok(eddy("produce", "cli.orders", "-k", "o-1", *hdr,
            stdin=envelope("order.confirmed", "e3", "2026-05-12T10:00:02.000Z", "e2", "order")
            + "\n"))
    ok(eddy("produce", "cli.payments", "-k", "p-9", *hdr,
            stdin=envelope("payment.authorized", "e2", "2026-05-12T10:00:01.000Z", "e1",
                           "payment") + "\n"))
    ok(eddy("produce", "cli.orders", "-k", "o-2",
            stdin=envelope("order.created", "e1", "2026-05-12T10:00:00.000Z", CID, "order")
            + "\n"))
    # The decoy: same types, another correlation id, in between in time.
    ok(eddy("produce", "cli.orders", "-k", "o-1", "-H", "x-correlation-id=" + DECOY,
            stdin=envelope("order.created", "d1", "2026-05-12T10:00:01.500Z", DECOY, "order",
                           cid=DECOY) + "\n"))
    # Header only (a value that is no envelope) still belongs to the flow.
    ok(eddy("produce", "cli.payments", "-k", "p-9", *hdr, "-H", "x-event-type=payment.audit",
            stdin="not json\n"))
    r = ok(eddy("trace", CID, "--topics", "cli.orders,cli.payments", "--json"))
    hits = jlines(r.out)
    assert [h["eventId"] for h in hits][:3] == ["e1", "e2", "e3"], r
    assert "d1" not in r.out and DECOY not in r.out, r
    assert [h["topic"] for h in hits[:3]] == ["cli.orders", "cli.payments", "cli.orders"], r
    assert [h["depth"] for h in hits[:3]] == [0, 1, 2], r
    assert [h["causationId"] for h in hits[:3]] == [CID, "e1", "e2"], r
    assert hits[0]["source"] == "order" and hits[1]["source"] == "payment", r
    assert hits[0]["time"] == "2026-05-12T10:00:00.000Z", r
    audit = [h for h in hits if h["eventType"] == "payment.audit"]
    assert len(audit) == 1 and audit[0]["eventId"] == "-", r
    assert len(hits) == 4, r
    # Human output, every non-internal topic (the dead letter joins the flow at failedAt).
    ok(eddy("produce", "cli.payments.dlq", "-k", "p-9", *hdr, stdin=json.dumps({
        "originalEvent": json.loads(envelope("payment.authorized", "e2",
                                             "2026-05-12T10:00:01.000Z", "e1", "payment")),
        "error": "card declined", "reason": "permanent", "failedAt": "2026-05-12T10:00:03.000Z",
        "attemptCount": 1, "service": "notification", "sourceTopic": "cli.payments",
        "sourcePartition": 1, "sourceOffset": 0}) + "\n"))
    r = ok(eddy("trace", CID))
    lines = r.out.splitlines()
    assert lines[0].split()[:3] == ["TIME", "TOPIC/PARTITION@OFFSET", "EVENT-TYPE"], r
    body = [l.split() for l in lines[1:-1] if not l.lstrip().startswith("!")]
    assert [b[0] for b in body] == sorted(b[0] for b in body), r
    assert body[0][2:] == ["order.created", "e1", CID, "order"], r
    assert body[1][2:] == ["\\_", "payment.authorized", "e2", "e1", "payment"], r
    # The header-only record has no envelope timestamp: it sorts by its Kafka timestamp (now).
    assert body[-1][1:3] == ["cli.payments/1@1", "payment.audit"], r
    assert body[-2][1] == "cli.payments.dlq/0@0" and body[-2][0] == "2026-05-12T10:00:03.000Z", r
    assert "! dead-lettered: card declined" in r.out, r
    assert lines[-1].startswith("5 event(s) for correlation id " + CID), r
    assert "d1" not in r.out, r
    r = fails(eddy("trace", "no-such-correlation"), 4, "no event with correlation id")
    fails(eddy("trace", CID, "--topics", "cli.orders,cli.missing"), 4, "unknown topic")


def t_dlq():
    ok(eddy("topics", "create", "cli.inv"))
    ok(eddy("topics", "create", "cli.inv.dlq"))
    letter = {
        "originalEvent": json.loads(envelope("inventory.reserve", "e7",
                                             "2026-05-12T10:00:00.000Z", "e6", "order")),
        "error": "handler failed: stock table locked", "reason": "retries_exhausted",
        "failedAt": "2026-05-12T10:05:00.000Z", "attemptCount": 5, "service": "inventory",
        "sourceTopic": "cli.inv", "sourcePartition": 0, "sourceOffset": 41}
    ok(eddy("produce", "cli.inv.dlq", "-k", "o-1", "-H", "x-dlq-reason=retries_exhausted",
            stdin=json.dumps(letter) + "\nraw garbage\n"))
    r = ok(eddy("dlq", "cli.inv"))
    lines = r.out.splitlines()
    assert lines[0].split() == ["cli.inv.dlq/0@0", "failedAt=2026-05-12T10:05:00.000Z",
                                "attempts=5", "reason=retries_exhausted", "service=inventory"], r
    assert "  error:   handler failed: stock table locked" in lines, r
    assert "  source:  cli.inv/0@41" in lines, r
    assert ("  event:   type=inventory.reserve version=1.0 id=e7 correlationId=" + CID) in lines, r
    assert any(l.startswith("cli.inv.dlq/0@1  (not a dead-letter record)") for l in lines), r
    assert lines[-1] == "2 dead letter(s) in cli.inv.dlq", r
    r = ok(eddy("dlq", "cli.inv.dlq", "--json", "-n", "1"))
    d = jlines(r.out)
    assert len(d) == 1 and d[0]["deadLetter"] == letter and d[0]["offset"] == 0, r
    fails(eddy("dlq", "cli.rt"), 4, "no dead-letter topic 'cli.rt.dlq'")


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def t_errors_and_env():
    bad = "127.0.0.1:%d" % closed_port()
    for cmd in (["topics", "list"], ["topics", "describe", "x"], ["consume", "x"],
                ["groups", "list"], ["groups", "lag"], ["trace", "x"], ["dlq", "x"]):
        t0 = time.time()
        r = fails(eddy("-b", bad, "-t", "2000", *cmd, bootstrap=False, timeout=30), 3,
                  "connection refused by %s: nothing listens there (after " % bad)
        assert time.time() - t0 < 25, "%s took %.1fs" % (cmd, time.time() - t0)
    fails(eddy("produce", "x", "-b", bad, "--timeout", "2000", stdin="v\n", bootstrap=False,
               timeout=30), 3, "connection refused")
    # EDDY_BOOTSTRAP_SERVERS is the default bootstrap; -b wins over it.
    r = ok(eddy("topics", "list", bootstrap=False,
                env={"EDDY_BOOTSTRAP_SERVERS": BROKER.bootstrap}))
    assert "cli.rt" in r.out, r
    fails(eddy("-t", "2000", "topics", "list", bootstrap=False,
               env={"EDDY_BOOTSTRAP_SERVERS": bad}), 3, bad)
    ok(eddy("-b", BROKER.bootstrap, "topics", "list", bootstrap=False,
            env={"EDDY_BOOTSTRAP_SERVERS": bad}))
    fails(eddy("-X", "no.such.property=1", "topics", "list"), 2, "no.such.property")


def t_schemas():
    m = re.search(r"http listening on 127\.0\.0\.1:(\d+)", BROKER.log_text())
    assert m, "eddyd logged no HTTP port"
    reg = ["--registry", "http://127.0.0.1:%s" % m.group(1)]
    v1 = json.dumps({"type": "record", "name": "Order",
                     "fields": [{"name": "id", "type": "string"}]})
    v2 = json.dumps({"type": "record", "name": "Order",
                     "fields": [{"name": "id", "type": "string"},
                                {"name": "qty", "type": "int", "default": 1}]})
    bad = json.dumps({"type": "record", "name": "Order",
                      "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": "int"}]})
    r = ok(eddy("schemas", "register", "cli.orders-value", "-", *reg, stdin=v1))
    first = int(r.out.split()[-1])
    assert r.out.startswith("registered cli.orders-value: id "), r
    r = ok(eddy("schemas", "check", "cli.orders-value", "-", *reg, stdin=v2))
    assert r.out.splitlines()[0] == "compatible", r
    r = fails(eddy("schemas", "check", "cli.orders-value", "-", *reg, stdin=bad), 1)
    assert r.out.splitlines()[0] == "NOT compatible", r
    ok(eddy("schemas", "register", "cli.orders-value", "-", *reg, stdin=v2))
    r = ok(eddy("schemas", "list", *reg))
    assert any(l.split()[:2] == ["cli.orders-value", "2"] for l in r.out.splitlines()), r
    r = ok(eddy("schemas", "get", "cli.orders-value", "-V", "1", "--json", *reg))
    g = json.loads(r.out)
    assert g["version"] == 1 and g["id"] == first and json.loads(g["schema"]) == json.loads(v1), r
    r = ok(eddy("schemas", "get", "cli.orders-value", *reg))
    assert "VERSION  2" in r.out and '"qty"' in r.out, r
    fails(eddy("schemas", "get", "cli.no-such-subject", *reg), 4, "HTTP 404")
    fails(eddy("schemas", "list", "--registry", "http://127.0.0.1:%d" % closed_port(),
               "-t", "2000"), 3, "cannot reach the schema registry")
    fails(eddy("schemas", "list", "--registry", "ftp://x"), 2, "is not http[s]://")


def t_bench():
    ok(eddy("topics", "create", "cli.bench", "-p", "2"))
    ok(eddy("produce", "cli.bench", stdin="before\n"))
    # an existing topic only with a confirmation (stdin is no terminal here: --yes)
    fails(eddy("bench", "cli.bench", "-n", "10"), 2, "confirm with --yes")
    fails(eddy("bench", "--topic", "cli.bench", "-n", "10"), 2, "confirm with --yes")
    d = json.loads(ok(eddy("topics", "describe", "cli.bench", "--json")).out)
    assert sum(p["highWatermark"] for p in d["partitions"]) == 1, d  # nothing written
    r = ok(eddy("bench", "cli.bench", "-n", "2000", "-s", "64", "--json", "--yes"))
    phases = {o["phase"]: o for o in jlines(r.out)}
    assert phases["produce"]["messages"] == 2000 and phases["produce"]["size"] == 64, r
    assert phases["consume"]["messages"] == 2000, r
    d = json.loads(ok(eddy("topics", "describe", "cli.bench", "--json")).out)
    assert sum(p["highWatermark"] for p in d["partitions"]) == 2001, d
    r = ok(eddy("bench", "--topic", "cli.bench", "-n", "10", "--acks", "1", "--no-consume",
                "--yes"))
    assert r.out.startswith("produce  10 msgs x 100 B (acks=1)") and "consume" not in r.out, r
    fails(eddy("bench", "cli.nope", "--yes"), 4, "unknown topic")
    fails(eddy("bench", "--acks", "2"), 2, "--acks")
    # by default: a topic of its own, gone afterwards
    before = set(l.split()[0] for l in ok(eddy("topics", "list")).out.splitlines()[1:])
    r = ok(eddy("bench", "-n", "500", "-p", "2", "--json"))
    phases = {o["phase"]: o for o in jlines(r.out)}
    assert phases["produce"]["messages"] == 500 and phases["consume"]["messages"] == 500, r
    m = re.search(r"bench topic (eddy-bench-[0-9a-f]{8}) created, deleted at the end", r.err)
    assert m and ("bench topic %s deleted" % m.group(1)) in r.err, r
    after = set(l.split()[0] for l in ok(eddy("topics", "list")).out.splitlines()[1:])
    assert after == before, (before, after)
    r = ok(eddy("bench", "-n", "10", "--keep", "--no-consume"))
    kept = re.search(r"bench topic (eddy-bench-[0-9a-f]{8}) created \(kept\)", r.err).group(1)
    d = json.loads(ok(eddy("topics", "describe", kept, "--json")).out)
    assert sum(p["highWatermark"] for p in d["partitions"]) == 10, d
    ok(eddy("topics", "delete", kept))


# ---- issue 17: the first hour ----------------------------------------------------------------

T0 = 1778580000000  # 2026-05-12T10:00:00Z


def kcat(*args):
    p = subprocess.run(["kcat", "-b", BROKER.bootstrap] + list(args), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p.stdout


def t_consume_positions():
    """-o beginning|end|N|-N|@TIME, --from-timestamp, -p, -e, --format, --json; kcat agrees."""
    ok(eddy("topics", "create", "cli.pos", "-p", "2"))
    lines = []
    for p in (0, 1):
        for i in range(5):  # timestamps T0, T0+1min, ... per partition
            lines.append(json.dumps({"key": "k%d%d" % (p, i), "value": "v%d%d" % (p, i),
                                     "partition": p, "timestamp": T0 + i * 60000,
                                     "headers": {"n": str(i)}}))
    ok(eddy("produce", "cli.pos", "--json-input", stdin="\n".join(lines) + "\n"))

    def offsets(*args):
        r = ok(eddy("consume", "cli.pos", "--format", "%p@%o\\n", *args))
        return sorted(r.out.split())
    assert offsets("-o", "beginning") == ["%d@%d" % (p, o) for p in (0, 1) for o in range(5)]
    assert offsets("-o", "end") == []
    assert offsets() == []  # the end is the default
    assert offsets("-o", "3", "-p", "1") == ["1@3", "1@4"]
    assert offsets("-o", "-2") == ["0@3", "0@4", "1@3", "1@4"]
    assert offsets("-o", "-99", "-p", "0") == ["0@%d" % o for o in range(5)]  # clamped
    assert offsets("-o", "99") == []
    # by time: the first message at or after it; ms, RFC 3339, kcat's s@, --from-timestamp
    want = ["0@2", "0@3", "0@4", "1@2", "1@3", "1@4"]
    assert offsets("-o", "@%d" % (T0 + 90000)) == want
    assert offsets("-o", "@2026-05-12T10:01:30Z") == want
    assert offsets("-o", "@2026-05-12T12:01:30+02:00") == want
    assert offsets("-o", "s@%d" % (T0 + 90000)) == want
    assert offsets("--from-timestamp", "2026-05-12T10:02:00.000Z") == want
    assert offsets("-o", "@2030-01-01T00:00:00Z") == []
    # kcat, reading the same broker from the same time, finds the same offsets
    for p in (0, 1):
        kc = kcat("-C", "-t", "cli.pos", "-p", str(p), "-o", "s@%d" % (T0 + 90000), "-e", "-q",
                  "-f", "%p@%o\n").split()
        assert sorted(kc) == [w for w in want if w.startswith("%d@" % p)], kc
    # -n, -e
    assert len(offsets("-o", "beginning", "-n", "3", "-e")) == 3
    # --format: kcat's letters
    r = ok(eddy("consume", "cli.pos", "-o", "4", "-p", "0", "--format",
                "%t|%p|%o|%T|%k|%K|%s|%S|%h|%%\\n"))
    assert r.out == "cli.pos|0|4|%d|k04|3|v04|3|n=4|%%\n" % (T0 + 240000), r
    # --json carries timestamp, its type, partition, offset and headers
    m = jlines(ok(eddy("consume", "cli.pos", "-o", "-1", "-p", "1", "--json")).out)
    assert m == [{"topic": "cli.pos", "partition": 1, "offset": 4, "timestamp": T0 + 240000,
                  "timestampType": "CreateTime", "key": "k14",
                  "headers": [{"key": "n", "value": "4"}], "value": "v14"}], m
    # bad positions are usage errors; a partition the topic lacks is not found
    fails(eddy("consume", "cli.pos", "-o", "yesterday"), 2, "-o wants")
    fails(eddy("consume", "cli.pos", "--from-timestamp", "May 12"), 2, "RFC 3339")
    fails(eddy("consume", "cli.pos", "-p", "7"), 4, "no partition 7")
    fails(eddy("consume", "cli.pos", "-f", "-e"), 2, "exclude")
    fails(eddy("consume", "cli.pos", "--format", "%s", "--json"), 2, "exclude")
    fails(eddy("consume", "cli.pos", "-g", "g", "-o", "3"), 2, "eddy groups reset")


def t_produce_inputs():
    """--json-input (key, headers, partition, timestamp per line), -f files, --partitioner."""
    ok(eddy("topics", "create", "cli.in", "-p", "3"))
    ok(eddy("produce", "cli.in", "--json-input", stdin=(
        '{"key":"a","value":{"n":1},"headers":{"x":"1","y":"2"},"partition":2}\n'
        '{"value":"plain","partition":0}\n'
        '{"key":"gone","value":null,"partition":0}\n')))
    m = {(x["partition"], x["offset"]): x
         for x in jlines(ok(eddy("consume", "cli.in", "-o", "beginning", "--json")).out)}
    assert m[(2, 0)]["key"] == "a" and m[(2, 0)]["value"] == '{"n":1}', m
    assert m[(2, 0)]["headers"] == [{"key": "x", "value": "1"}, {"key": "y", "value": "2"}], m
    assert m[(0, 0)]["key"] is None and m[(0, 0)]["value"] == "plain", m
    assert m[(0, 1)]["key"] == "gone" and m[(0, 1)]["value"] is None, m
    # a bad line names itself and stops before sending anything more
    r = fails(eddy("produce", "cli.in", "--json-input",
                   stdin='{"value":"ok1","partition":1}\n{"key":5,"value":"x"}\n'
                         '{"value":"never","partition":1}\n'), 2,
              'stdin line 2: "key" is not a string')
    vals = [x["value"] for x in jlines(ok(eddy("consume", "cli.in", "-o", "beginning", "-p", "1",
                                                "--json")).out)]
    assert vals == ["ok1"], vals
    fails(eddy("produce", "cli.in", "--json-input", stdin="not json\n"), 2, "stdin line 1")
    fails(eddy("produce", "cli.in", "--json-input", stdin='{"value":"x","partition":9}\n'), 2,
          "not a partition")
    fails(eddy("produce", "cli.in", "--json-input", "-k", "k", stdin=""), 2, "no -k")
    # files, in order, each line a message; -K per line keys
    d = os.path.join(BROKER.tmp, "in")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "a.txt"), "w") as f:
        f.write("k1:one\nk2:two\n")
    with open(os.path.join(d, "b.txt"), "w") as f:
        f.write("k3:three\n")
    r = ok(eddy("produce", "cli.in", "-p", "1", "-K", ":", "-f", os.path.join(d, "a.txt"),
                "-f", os.path.join(d, "b.txt")))
    assert r.out.split() == ["cli.in/1@1", "cli.in/1@2", "cli.in/1@3"], r
    got = [(x["key"], x["value"]) for x in jlines(ok(eddy("consume", "cli.in", "-o", "1", "-p",
                                                           "1", "--json")).out)]
    assert got == [("k1", "one"), ("k2", "two"), ("k3", "three")], got
    fails(eddy("produce", "cli.in", "-f", os.path.join(d, "nope.txt")), 2,
          "cannot read %s" % os.path.join(d, "nope.txt"))
    with open(os.path.join(d, "bad.txt"), "w") as f:
        f.write("k:v\nnodelim\n")
    fails(eddy("produce", "cli.in", "-K", ":", "-f", os.path.join(d, "bad.txt")), 2,
          "bad.txt line 2 has no key delimiter")
    # partitioner: a named one is used (same key, same partition; every partition reachable)
    ok(eddy("topics", "create", "cli.pt", "-p", "3"))
    for _ in range(2):
        ok(eddy("produce", "cli.pt", "--partitioner", "murmur2", "-K", ":",
                stdin="".join("key-%d:v\n" % i for i in range(30))))
    where = {}
    for x in jlines(ok(eddy("consume", "cli.pt", "-o", "beginning", "--json")).out):
        where.setdefault(x["key"], set()).add(x["partition"])
    assert len(where) == 30 and all(len(v) == 1 for v in where.values()), where
    assert set().union(*where.values()) == {0, 1, 2}, where
    fails(eddy("produce", "cli.in", "--partitioner", "roundrobin"), 2, "unknown partitioner")
    fails(eddy("produce", "cli.in", "--partitioner", "random", "-p", "1"), 2, "exclude")


def t_groups_reset_delete():
    ok(eddy("topics", "create", "cli.rs", "-p", "2"))
    lines = [json.dumps({"value": "m%d%d" % (p, i), "partition": p, "timestamp": T0 + i * 1000})
             for p in (0, 1) for i in range(10)]
    ok(eddy("produce", "cli.rs", "--json-input", stdin="\n".join(lines) + "\n"))
    ok(eddy("consume", "cli.rs", "-g", "cli-rs", "-o", "beginning"))  # commits 10 and 10

    def committed():
        return {x["partition"]: x["committed"]
                for x in jlines(ok(eddy("groups", "lag", "cli-rs", "--json")).out)}
    assert committed() == {0: 10, 1: 10}
    # dry run: before and after, nothing changed
    r = ok(eddy("groups", "reset", "cli-rs", "--to-earliest", "--dry-run"))
    rows = [l.split() for l in r.out.splitlines()]
    assert rows[0] == ["GROUP", "TOPIC", "PARTITION", "BEFORE", "AFTER"], r
    assert rows[1:] == [["cli-rs", "cli.rs", "0", "10", "0"], ["cli-rs", "cli.rs", "1", "10", "0"]]
    assert "dry run" in r.err, r
    assert committed() == {0: 10, 1: 10}
    # the resets, each checked through the group's committed offsets
    ok(eddy("groups", "reset", "cli-rs", "--to-earliest"))
    assert committed() == {0: 0, 1: 0}
    ok(eddy("groups", "reset", "cli-rs", "--shift-by", "3"))
    assert committed() == {0: 3, 1: 3}
    ok(eddy("groups", "reset", "cli-rs", "--shift-by", "-5"))  # clamped at the log start
    assert committed() == {0: 0, 1: 0}
    ok(eddy("groups", "reset", "cli-rs", "--to-offset", "7", "--topic", "cli.rs:1"))
    assert committed() == {0: 0, 1: 7}
    ok(eddy("groups", "reset", "cli-rs", "--to-latest", "--topic", "cli.rs"))
    assert committed() == {0: 10, 1: 10}
    r = ok(eddy("groups", "reset", "cli-rs", "--to-datetime", "2026-05-12T10:00:04.500Z",
                "--json"))
    assert [(x["partition"], x["before"], x["after"]) for x in jlines(r.out)] == \
        [(0, 10, 5), (1, 10, 5)], r
    assert committed() == {0: 5, 1: 5}
    ok(eddy("groups", "reset", "cli-rs", "--to-timestamp", str(T0 + 8000)))
    assert committed() == {0: 8, 1: 8}
    # the consumer resumes where the reset put it
    r = ok(eddy("consume", "cli.rs", "-g", "cli-rs", "--json"))
    assert sorted(x["value"] for x in jlines(r.out)) == ["m08", "m09", "m18", "m19"], r
    # usage
    fails(eddy("groups", "reset", "cli-rs"), 2, "say where to")
    fails(eddy("groups", "reset", "cli-rs", "--to-earliest", "--to-latest"), 2, "only one")
    fails(eddy("groups", "reset", "cli-rs", "--to-datetime", "noon"), 2, "RFC 3339")
    fails(eddy("groups", "reset", "cli-rs", "--to-earliest", "--topic", "cli.nope"), 4,
          "unknown topic")
    fails(eddy("groups", "reset", "cli-none", "--to-earliest"), 4, "no committed offsets")
    fails(eddy("groups", "lag", "--dry-run"), 2, "belong to groups reset")
    # a new group gets offsets when the partitions are named
    ok(eddy("groups", "reset", "cli-new", "--to-offset", "2", "--topic", "cli.rs"))
    assert {x["partition"]: x["committed"]
            for x in jlines(ok(eddy("groups", "lag", "cli-new", "--json")).out)} == {0: 2, 1: 2}
    # an active group: refused (its members would overwrite it), unless --force; not deleted
    p = subprocess.Popen([EDDY, "-b", BROKER.bootstrap, "consume", "cli.rs", "-g", "cli-rs",
                          "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: '"Stable"' in eddy("groups", "describe", "cli-rs", "--json").out, 30,
                   "cli-rs to be Stable")
        fails(eddy("groups", "reset", "cli-rs", "--to-earliest"), 1,
              "group cli-rs is active (1 member(s)")
        fails(eddy("groups", "delete", "cli-rs"), 1, "group cli-rs has active members")
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=30)
    # delete: gone afterwards; unknown is 4
    r = ok(eddy("groups", "delete", "cli-rs", "cli-new"))
    assert r.out.splitlines() == ["deleted group cli-rs", "deleted group cli-new"], r
    fails(eddy("groups", "lag", "cli-rs"), 4)
    fails(eddy("groups", "delete", "cli-rs"), 4, "unknown group 'cli-rs'")
    fails(eddy("groups", "delete"), 2, "which group")


def t_topics_alter():
    ok(eddy("topics", "create", "cli.alt", "-c", "retention.ms=60000"))

    def cfg():
        return json.loads(ok(eddy("topics", "describe", "cli.alt", "--json")).out)["configs"]
    r = ok(eddy("topics", "alter-config", "cli.alt", "--set", "segment.bytes=1048576"))
    assert "cli.alt segment.bytes: " in r.out and "-> 1048576" in r.out, r
    c = cfg()
    assert c["segment.bytes"] == "1048576" and c["retention.ms"] == "60000", c  # kept
    r = ok(eddy("topics", "alter-config", "cli.alt", "-c", "retention.ms=120000",
                "--delete", "segment.bytes", "--json"))
    ch = {x["config"]: x for x in jlines(r.out)}
    assert ch["retention.ms"]["before"] == "60000" and ch["retention.ms"]["after"] == "120000"
    assert ch["segment.bytes"]["before"] == "1048576" and not ch["segment.bytes"]["override"]
    c = cfg()
    assert c["retention.ms"] == "120000" and c["segment.bytes"] != "1048576", c
    fails(eddy("topics", "alter-config", "cli.alt", "--set", "retention.ms=soon"), 1,
          "retention.ms")
    assert cfg()["retention.ms"] == "120000"  # a refused change changes nothing
    fails(eddy("topics", "alter-config", "cli.alt", "--delete", "no.such"), 2,
          "has no config 'no.such'")
    fails(eddy("topics", "alter-config", "cli.alt"), 2, "what to change")
    fails(eddy("topics", "alter-config", "cli.alt", "--set", "=1"), 2, "--set wants key=value")
    fails(eddy("topics", "alter-config", "cli.alt", "--delete", "a=b"), 2,
          "--delete wants a config name")
    fails(eddy("topics", "alter-config", "cli.nope", "--set", "retention.ms=1"), 4,
          "unknown topic")
    # add-partitions: the new total; never fewer
    r = ok(eddy("topics", "add-partitions", "cli.alt", "-p", "3"))
    assert r.out.strip() == "topic cli.alt: 1 -> 3 partitions", r
    d = json.loads(ok(eddy("topics", "describe", "cli.alt", "--json")).out)
    assert [p["partition"] for p in d["partitions"]] == [0, 1, 2], d
    ok(eddy("produce", "cli.alt", "-p", "2", stdin="into the new one\n"))
    fails(eddy("topics", "add-partitions", "cli.alt", "-p", "2"), 2, "already has 3")
    fails(eddy("topics", "add-partitions", "cli.alt"), 2, "-p TOTAL")


def t_schemas_more():
    http = re.search(r"http listening on 127\.0\.0\.1:(\d+)", BROKER.log_text()).group(1)
    url = "http://127.0.0.1:%s" % http
    env = {"EDDY_SCHEMA_REGISTRY_URL": url}
    d = os.path.join(BROKER.tmp, "schemas")
    os.makedirs(d, exist_ok=True)
    js = os.path.join(d, "order.json")
    with open(js, "w") as f:
        json.dump({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                   "properties": {"id": {"type": "string"}}, "required": ["id"]}, f)
    # a JSON Schema file registers as JSON without --type (the env var names the registry)
    r = ok(eddy("schemas", "register", "cli.js-value", js, env=env))
    assert r.out.startswith("registered cli.js-value: id "), r
    assert "schema type JSON (detected from the file" in r.err, r
    g = json.loads(ok(eddy("schemas", "get", "cli.js-value", "--json", env=env)).out)
    assert g["schemaType"] == "JSON", g
    # forced to AVRO it fails, with the hint
    r = fails(eddy("schemas", "register", "cli.js2-value", js, "--type", "AVRO", env=env), 1)
    assert "looks like a JSON Schema: --type JSON" in r.err, r
    # the deprecated variable still works, with a warning
    r = ok(eddy("schemas", "list", env={"EDDY_REGISTRY_URL": url}))
    assert "cli.js-value" in r.out and "EDDY_REGISTRY_URL is deprecated" in r.err, r
    # compatibility get|set, global and per subject
    r = ok(eddy("schemas", "compatibility", "get", env=env))
    assert r.out.strip() == "(global): BACKWARD", r
    r = ok(eddy("schemas", "compatibility", "set", "full", "cli.js-value", env=env))
    assert r.out.strip() == "cli.js-value set to FULL", r
    r = ok(eddy("schemas", "compatibility", "get", "cli.js-value", "--json", env=env))
    assert jlines(r.out) == [{"subject": "cli.js-value", "compatibility": "FULL"}], r
    fails(eddy("schemas", "compatibility", "set", "lenient", env=env), 1, "Invalid compatibility")
    fails(eddy("schemas", "compatibility", "frob", env=env), 2, "get or set")
    # mode
    r = ok(eddy("schemas", "mode", "set", "READONLY", "cli.js-value", env=env))
    assert r.out.strip() == "cli.js-value set to READONLY", r
    assert ok(eddy("schemas", "mode", "get", "cli.js-value", env=env)).out.strip() == \
        "cli.js-value: READONLY"
    ok(eddy("schemas", "mode", "set", "READWRITE", "cli.js-value", env=env))
    # delete: soft, then permanent; unknown is 4
    r = ok(eddy("schemas", "delete", "cli.js-value", "-V", "1", env=env))
    assert r.out.strip() == "deleted cli.js-value version 1", r
    fails(eddy("schemas", "get", "cli.js-value", env=env), 4)
    r = ok(eddy("schemas", "delete", "cli.js-value", "--permanent", env=env))
    assert "(permanently)" in r.out, r
    assert "cli.js-value" not in ok(eddy("schemas", "list", env=env)).out
    fails(eddy("schemas", "delete", "cli.never", env=env), 4, "not found")
    # a refused registry port: said at once, with the real time
    r = fails(eddy("schemas", "list", "--registry",
                   "http://127.0.0.1:%d" % closed_port()), 3, "Connection refused, after ")
    assert "within" not in r.err, r


def t_connect_errors():
    """refused, DNS, HTTP port, a port that is not Kafka: each said as what it is."""
    http = re.search(r"http listening on 127\.0\.0\.1:(\d+)", BROKER.log_text()).group(1)
    fails(eddy("-b", "no-such-host.invalid:9092", "topics", "list", bootstrap=False), 3,
          "cannot resolve host 'no-such-host.invalid'")
    fails(eddy("-b", "127.0.0.1:" + http, "topics", "list", bootstrap=False), 3,
          "127.0.0.1:%s is an HTTP port, not a Kafka listener" % http)
    # a server that answers garbage
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    import threading

    def serve():
        for _ in range(2):
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.recv(64)
            c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            c.close()
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        fails(eddy("-b", "127.0.0.1:%d" % port, "topics", "list", bootstrap=False), 3,
              "accepts connections but answered garbage to a Kafka ApiVersions request")
    finally:
        srv.close()
    # the second bootstrap server is used when the first refuses
    bad = "127.0.0.1:%d" % closed_port()
    ok(eddy("-b", bad + "," + BROKER.bootstrap, "topics", "list", bootstrap=False))


def t_version_completion():
    r = ok(eddy("--version", bootstrap=False))
    assert re.match(r"eddy 0\.1\.0 \(commit ([0-9a-f]{12}(-dirty)?|unknown)\)\nlibrdkafka ", r.out), r
    r = ok(eddy("completion", "bash", bootstrap=False))
    assert "complete -F _eddy eddy" in r.out, r
    p = subprocess.run(["bash", "-c", r.out + "\nCOMP_WORDS=(eddy groups r); COMP_CWORD=2; _eddy;"
                        " echo \"${COMPREPLY[@]}\"; COMP_WORDS=(eddy consume x --fr);"
                        " COMP_CWORD=3; _eddy; echo \"${COMPREPLY[@]}\""],
                       capture_output=True, text=True, timeout=30)
    assert p.stdout.splitlines() == ["reset", "--from-beginning --from-timestamp"], p
    fails(eddy("completion", "zsh", bootstrap=False), 2, "only bash")
    # every command's help ends with examples
    for cmd in ("topics", "produce", "consume", "groups", "dlq", "trace", "schemas", "bench"):
        out = ok(eddy(cmd, "--help", bootstrap=False)).out
        assert "\nexamples:\n  eddy " + cmd in out or "\nexamples:\n  printf" in out, (cmd, out)


def t_follow_reconnect():
    """consume -f says when the broker is gone and reads again once it is back."""
    ok(eddy("topics", "create", "cli.fo"))
    ok(eddy("produce", "cli.fo", stdin="before\n"))
    errpath = os.path.join(BROKER.tmp, "follow.err")
    outpath = os.path.join(BROKER.tmp, "follow.out")

    def text(path):
        with open(path) as f:
            return f.read()
    with open(errpath, "w") as ef, open(outpath, "w") as of:
        p = subprocess.Popen([EDDY, "-b", BROKER.bootstrap, "consume", "cli.fo", "-o",
                              "beginning", "-f", "-n", "2", "--json"], stdout=of, stderr=ef,
                             text=True)
    try:
        # the reader is reading (it printed the first message) before the broker goes
        wait_until(lambda: "before" in text(outpath), 60, "consume -f to read the first message")
        BROKER.kill()
        wait_until(lambda: "lost the broker at " + BROKER.bootstrap in text(errpath), 60,
                   "consume -f to report the lost broker")
        assert p.poll() is None, "consume -f exited: %s" % text(errpath)
        BROKER.start()
        ok(eddy("produce", "cli.fo", stdin="after the restart\n"))
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    out, err = text(outpath), text(errpath)
    assert p.returncode == 0, (out, err)
    assert [m["value"] for m in jlines(out)] == ["before", "after the restart"], (out, err)
    assert "reading again after " in err, err
    assert err.count("lost the broker") == 1, err  # said once, not per retry


def main():
    global BROKER
    BROKER = Eddyd(sets=["http.listeners=127.0.0.1:0"])
    res = Results(BROKER)
    res.run("help and usage errors", t_help_and_usage)
    res.run("topics create/list/describe/delete", t_topics)
    res.run("produce/consume round trip with keys and headers", t_produce_consume)
    res.run("groups list/describe/lag after a partial consume", t_groups_lag)
    res.run("trace by correlation id across topics", t_trace)
    res.run("dlq prints dead letters", t_dlq)
    res.run("schemas register/check/list/get over the registry", t_schemas)
    res.run("bench produces and reads back", t_bench)
    res.run("unreachable broker, env bootstrap, bad property", t_errors_and_env)
    res.run("consume -o/-p/-e/--format/--json by offset and time (kcat agrees)",
            t_consume_positions)
    res.run("produce --json-input, files, partitioner", t_produce_inputs)
    res.run("groups reset (every mode, dry run, active refused) and delete",
            t_groups_reset_delete)
    res.run("topics alter-config and add-partitions", t_topics_alter)
    res.run("schemas: JSON detected, env var, compatibility, mode, delete", t_schemas_more)
    res.run("connection errors: DNS, HTTP port, not Kafka, second bootstrap", t_connect_errors)
    res.run("--version, completion, help examples", t_version_completion)
    res.run("consume -f across a broker restart", t_follow_reconnect)
    try:
        BROKER.stop()
    except AssertionError as e:
        res.failed += 1
        print("FAIL eddyd stop: %s" % e, flush=True)
    res.finish()


if __name__ == "__main__":
    main()
