"""test_dlq_redrive.py — `eddy dlq redrive` (src/cli/redrive.c over libeddy's eddy_dlq_redrive)
against a real eddyd; kcat writes the dead letters and reads the redriven records back.

The dead letters are written with kcat in the format libeddy's DLQ writer uses (docs/sdk.md,
"Dead-letter queue": a JSON wrapper with originalEvent, error, reason, sourceTopic/Partition/
Offset, originalValueBase64 when the exact bytes differ; the original key and headers plus
x-dlq-*), plus one record some other tool wrote (the original value itself, x-dlq-* headers).
A libeddy service writing real dead letters is in tests/sdk/test_sdk_dlq.c.

Cases: dry run (lines, summary, exit 5 for the loop guard, nothing produced, no marker topic);
bad input (malformed filter, bad --rate / --max-redrives, unknown DLQ and --to topics → exit
2 / 4, nothing produced); --filter with --json (byte-identical record on the source topic, in
its source partition, eddy-redrive-count 1); --to with a rate; a full redrive (loop guard
refuses, exit 5, markers skip what moved); --max-redrives lets the refused one go; a last run
moves nothing; `eddy dlq list` and `eddy dlq TOPIC` still list; help and completion.
Binary: $EDDY_CLI, else $EDDY_BUILD_DIR/src/cli/eddy. Run with /usr/bin/python3.
"""
import base64
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from eddyd import Eddyd, Results  # noqa: E402


def eddy_bin():
    b = os.environ.get("EDDY_CLI")
    if b and os.access(b, os.X_OK):
        return b
    bd = os.environ.get("EDDY_BUILD_DIR")
    if bd and os.access(os.path.join(bd, "src/cli/eddy"), os.X_OK):
        return os.path.join(bd, "src/cli/eddy")
    raise RuntimeError("eddy not found: EDDY_CLI=%r EDDY_BUILD_DIR=%r" % (b, bd))


EDDY = eddy_bin()
B = None


def eddy(*args, bootstrap=True):
    argv = [EDDY] + (["-b", B.bootstrap] if bootstrap else []) + list(args)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return p


def expect(p, rc, text=None, where="stderr"):
    assert p.returncode == rc, "expected exit %d, got %d\n--stdout--\n%s--stderr--\n%s" % (
        rc, p.returncode, p.stdout, p.stderr)
    if text:
        s = p.stderr if where == "stderr" else p.stdout
        assert text in s, "expected %r in %s:\n%s" % (text, where, s)
    return p


def kcat(*args, data=None):
    p = subprocess.run(["kcat", "-q", "-b", B.bootstrap] + list(args), input=data,
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def produce(topic, key, value, headers=(), partition=0):
    args = ["-P", "-t", topic, "-p", str(partition), "-k", key, "-D", "\x1e"]
    for h in headers:
        args += ["-H", h]
    kcat(*args, data=value.encode())


def record(topic, partition, offset):
    """(key, value, headers) of one record, read by kcat."""
    out = kcat("-C", "-t", topic, "-p", str(partition), "-o", str(offset), "-c", "1", "-e",
               "-f", "%K:%k|%S:%s|%h")
    return out


def hwm(topic, partition=0):
    """High watermark read by kcat (None: no such topic). The metadata of every topic: asking
    for one by name would let kcat's producer handle auto-create it."""
    p = subprocess.run(["kcat", "-q", "-b", B.bootstrap, "-L", "-J"],
                       capture_output=True, text=True, timeout=30)
    md = json.loads(p.stdout)
    t = [x for x in md.get("topics", []) if x["topic"] == topic]
    if not t or t[0].get("error"):
        return None
    out = kcat("-Q", "-t", "%s:%d:-1" % (topic, partition)).decode()  # -1: the end offset
    return int(out.split(" offset ")[1])


ENV1 = ('{ "eventType": "order.placed", "version": "1.0", "eventId": '
        '"6f0e1c2a-1111-4a4a-8b8b-000000000001", "timestamp": "2026-12-03T07:00:00Z",\n'
        '  "correlationId": "c-1", "causationId": "c-1", "source": "order", '
        '"payload": {"amount": 1.50} }')
ENV2 = ('{"eventType":"order.placed","version":"1.0","eventId":'
        '"6f0e1c2a-1111-4a4a-8b8b-000000000002","timestamp":"2026-12-03T07:00:01Z",'
        '"correlationId":"c-2","causationId":"c-2","source":"order","payload":{"amount":2}}')


def wrapper(orig_text, reason, error, part, off, exact=False):
    w = {"originalEvent": json.loads(orig_text), "error": error, "reason": reason,
         "failedAt": "2026-12-03T07:00:05.000Z", "attemptCount": 3, "service": "payment",
         "sourceTopic": "orders", "sourcePartition": part, "sourceOffset": off}
    if exact:
        w["originalValueBase64"] = base64.b64encode(orig_text.encode()).decode()
    return json.dumps(w, separators=(",", ":"))


def setup():
    expect(eddy("topics", "create", "orders", "-p", "2"), 0)
    expect(eddy("topics", "create", "orders.dlq", "-p", "1"), 0)
    expect(eddy("topics", "create", "orders.retry", "-p", "1"), 0)
    # 0: k1, pretty-printed original (exact bytes in originalValueBase64), own headers
    produce("orders.dlq", "k1", wrapper(ENV1, "permanent", "card declined", 1, 7, exact=True),
            ["tenant=acme", "x-correlation-id=c-1", "x-dlq-reason=permanent",
             "x-dlq-error=card declined"])
    # 1: k2, compact original without the exact bytes (an older writer), retries exhausted
    produce("orders.dlq", "k2", wrapper(ENV2, "retries_exhausted", "timeout talking to bank",
                                        0, 3), ["x-dlq-reason=retries_exhausted"])
    # 2: k3, already redriven three times
    produce("orders.dlq", "k3", wrapper(ENV2, "permanent", "card declined", 0, 4),
            ["eddy-redrive-count=3", "x-dlq-reason=permanent"])
    # 3: another tool's dead letter: the value is the original itself
    produce("orders.dlq", "k4", "raw bytes, not a wrapper",
            ["x-dlq-reason=http_4xx", "x-dlq-error=410 Gone", "trace=t-4"])


def t_dry_run():
    p = expect(eddy("dlq", "redrive", "orders.dlq", "--dry-run"), 5, "loop guard")
    lines = p.stdout.splitlines()
    assert sum(l.startswith("would move") for l in lines) == 3, p.stdout
    assert sum(l.startswith("loop guard") for l in lines) == 1, p.stdout
    assert "orders.dlq/0@0 -> orders/1" in p.stdout, p.stdout
    assert "orders.dlq/0@3 -> orders  key=k4" in p.stdout, p.stdout
    assert "3 would move (dry run), 1 refused by the loop guard (max 3), 0 already redriven, " \
        "0 filtered out" in p.stdout, p.stdout
    assert hwm("orders", 0) == 0 and hwm("orders", 1) == 0
    assert hwm("orders.dlq.redriven") is None


def t_filters_dry_run():
    def would(*filters):
        args = ["dlq", "redrive", "orders.dlq", "--dry-run", "--json"]
        for f in filters:
            args += ["--filter", f]
        p = eddy(*args)
        assert p.returncode in (0, 5), p.stderr
        objs = [json.loads(l) for l in p.stdout.splitlines()]
        return sorted(o["key"] for o in objs[:-1] if o["outcome"] == "would_move"), objs[-1]
    assert would("service=payment", "topic=orders", "partition=1")[0] == ["k1"]
    assert would("reason=perm")[0] == ["k1"]  # k3 is refused by the loop guard
    assert would("offset=4")[0] == []
    assert would("offset=..3")[0] == ["k2"]  # k1 failed at 7, k4 has no source offset
    assert would("time=2020-01-01T00:00:00Z..")[0] == ["k1", "k2", "k4"]
    keys, summary = would("time=..2020-01-01T00:00:00Z")
    assert keys == [] and summary["filteredOut"] == 4, summary
    assert would("time=0..1577836800000")[0] == []
    assert would("error=410")[0] == ["k4"]  # from the x-dlq-error header of the foreign one
    assert hwm("orders.dlq.redriven") is None


def t_bad_input():
    for f in ("colour=red", "offset=5..1", "key", "time=yesterday", "partition=x"):
        expect(eddy("dlq", "redrive", "orders.dlq", "--filter", f), 2, "malformed filter")
    expect(eddy("dlq", "redrive", "orders.dlq", "--rate", "fast"), 2, "--rate")
    expect(eddy("dlq", "redrive", "orders.dlq", "--rate", "0/s"), 2, "--rate")
    expect(eddy("dlq", "redrive", "orders.dlq", "--max-redrives", "0"), 2, "--max-redrives")
    expect(eddy("dlq", "redrive"), 2)
    expect(eddy("dlq", "redrive", "a.dlq", "b.dlq"), 2, "too many")
    expect(eddy("dlq", "redrive", "nosuch.dlq"), 4, "no dead-letter topic 'nosuch.dlq'")
    expect(eddy("dlq", "redrive", "orders.dlq", "--to", "nosuch"), 4, "no target topic 'nosuch'")
    expect(eddy("-b", "127.0.0.1:1", "-t", "1000", "dlq", "redrive", "orders.dlq",
                bootstrap=False), 3)
    assert hwm("orders", 0) == 0 and hwm("orders", 1) == 0
    assert hwm("nosuch") is None
    assert hwm("orders.dlq.redriven") is None


def t_filter_json():
    p = expect(eddy("dlq", "redrive", "orders.dlq", "--filter", "error=timeout", "--filter",
                    "offset=1..3", "--json"), 0)
    objs = [json.loads(l) for l in p.stdout.splitlines()]
    assert len(objs) == 2, p.stdout
    m, s = objs
    assert m["outcome"] == "moved" and m["key"] == "k2" and m["to"] == "orders", m
    # written without originalValueBase64 (an older libeddy): re-serialised from originalEvent
    assert m["toPartition"] == 0 and m["toOffset"] == 0 and m["valueExact"] is False, m
    assert m["sourceOffset"] == 3 and m["reason"] == "retries_exhausted", m
    assert s == {"summary": "orders.dlq", "dryRun": False, "moved": 1, "wouldMove": 0,
                 "loopGuard": 0, "alreadyRedriven": 0, "filteredOut": 3}, s
    want = ("2:k2|%d:%s|eddy-redrive-count=1" % (len(ENV2), ENV2)).encode()
    assert record("orders", 0, 0) == want, record("orders", 0, 0)
    assert hwm("orders.dlq.redriven") == 1


def t_to_and_rate():
    p = expect(eddy("dlq", "redrive", "orders.dlq", "--filter", "key=k1", "--to", "orders.retry",
                    "--rate", "100/s"), 0)
    assert "moved            orders.dlq/0@0 -> orders.retry/0@0  key=k1" in p.stdout, p.stdout
    want = ("2:k1|%d:%s|tenant=acme,x-correlation-id=c-1,eddy-redrive-count=1"
            % (len(ENV1), ENV1)).encode()
    assert record("orders.retry", 0, 0) == want, record("orders.retry", 0, 0)
    assert hwm("orders", 1) == 0  # not to the source topic


def t_full_redrive():
    p = expect(eddy("dlq", "redrive", "orders"), 5, "1 record(s) refused by the loop guard")
    assert "moved            orders.dlq/0@3 -> orders/" in p.stdout, p.stdout
    assert "already redriven orders.dlq/0@0" in p.stdout, p.stdout
    assert "already redriven orders.dlq/0@1" in p.stdout, p.stdout
    assert "loop guard       orders.dlq/0@2" in p.stdout, p.stdout
    assert "1 moved, 1 refused by the loop guard (max 3), 2 already redriven" in p.stdout
    # the foreign dead letter: its value as it was, its own header, x-dlq-* gone
    part = 0 if hwm("orders", 0) == 2 else 1
    off = hwm("orders", part) - 1
    assert record("orders", part, off) == b"2:k4|24:raw bytes, not a wrapper|trace=t-4," \
        b"eddy-redrive-count=1", record("orders", part, off)
    # raising the guard lets k3 go, with its fourth redrive count
    p = expect(eddy("dlq", "redrive", "orders.dlq", "--max-redrives", "4"), 0)
    assert "1 moved, 0 refused by the loop guard (max 4), 3 already redriven" in p.stdout
    want = ("2:k3|%d:%s|eddy-redrive-count=4" % (len(ENV2), ENV2)).encode()
    assert record("orders", 0, hwm("orders", 0) - 1) == want
    # nothing left
    before = (hwm("orders", 0), hwm("orders", 1), hwm("orders.retry"))
    p = expect(eddy("dlq", "redrive", "orders.dlq", "--max-redrives", "9"), 0)
    assert "0 moved, 0 refused by the loop guard (max 9), 4 already redriven" in p.stdout
    assert (hwm("orders", 0), hwm("orders", 1), hwm("orders.retry")) == before


def t_crash_between_record_and_marker():
    """SIGKILL after the record is acknowledged, before its marker: the next run moves it again
    (a repeat), never loses it; the run after that moves nothing."""
    expect(eddy("topics", "create", "pay", "-p", "1"), 0)
    expect(eddy("topics", "create", "pay.dlq", "-p", "1"), 0)
    w = json.loads(wrapper(ENV2, "permanent", "card declined", 0, 0, exact=True))
    w["sourceTopic"] = "pay"
    produce("pay.dlq", "k9", json.dumps(w), ["x-dlq-reason=permanent"])
    env = dict(os.environ, EDDY_FAULT="redrive_crash_after_produce")
    p = subprocess.run([EDDY, "-b", B.bootstrap, "dlq", "redrive", "pay.dlq"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == -9, (p.returncode, p.stdout, p.stderr)
    assert hwm("pay") == 1
    assert hwm("pay.dlq.redriven") == 0  # created, but no marker
    p = expect(eddy("dlq", "redrive", "pay.dlq"), 0)
    assert "1 moved" in p.stdout, p.stdout
    assert hwm("pay") == 2 and hwm("pay.dlq.redriven") == 1
    assert record("pay", 0, 0) == record("pay", 0, 1)  # the same record twice
    p = expect(eddy("dlq", "redrive", "pay.dlq"), 0)
    assert "0 moved" in p.stdout and "1 already redriven" in p.stdout, p.stdout
    assert hwm("pay") == 2


def t_list_help_completion():
    p = expect(eddy("dlq", "list", "orders"), 0)
    assert "4 dead letter(s) in orders.dlq" in p.stdout, p.stdout
    p = expect(eddy("dlq", "orders.dlq"), 0)
    assert "4 dead letter(s) in orders.dlq" in p.stdout, p.stdout
    p = expect(eddy("dlq", "redrive", "-h", bootstrap=False), 0)
    for w in ("--filter", "--dry-run", "--rate", "--to", "--max-redrives", "exit:"):
        assert w in p.stdout, p.stdout
    p = expect(eddy("completion", "bash", bootstrap=False), 0)
    assert "list redrive" in p.stdout and "--max-redrives" in p.stdout
    p = expect(eddy("--help", bootstrap=False), 0)
    assert "dlq redrive" in p.stdout


def main():
    global B
    B = Eddyd()
    res = Results(B)
    res.run("setup: dead letters written with kcat", setup)
    res.run("dry run lists and produces nothing", t_dry_run)
    res.run("filters in dry runs: service, topic, partition, reason, offset, time, error",
            t_filters_dry_run)
    res.run("bad input: exit 2/3/4, nothing produced", t_bad_input)
    res.run("--filter --json: byte-identical record on the source topic", t_filter_json)
    res.run("--to with --rate", t_to_and_rate)
    res.run("full redrive: loop guard, markers, --max-redrives, idempotence", t_full_redrive)
    res.run("SIGKILL between record and marker: a repeat, never a loss",
            t_crash_between_record_and_marker)
    res.run("dlq list, help, completion", t_list_help_completion)
    try:
        B.stop()
    except AssertionError as e:
        res.failed += 1
        print("FAIL eddyd stop: %s" % e, flush=True)
    res.finish()


if __name__ == "__main__":
    main()
