#!/usr/bin/python3
"""acl_quota — issue 13 item 5: per-principal quotas throttle a real producer to its rate.

AlterClientQuotas v0 (raw, kwire.py) sets producer_byte_rate=QUOTA and consumer_byte_rate for the
default user entity (every principal; here User:ANONYMOUS); bad keys/values/entities answer
INVALID_REQUEST (42) and change nothing; DescribeClientQuotas returns the values, also after a
SIGKILL restart (the quota file is durable). A kafka-python 2.0.2 producer then writes BYTES of
records: the measured rate must be within 20 % of the quota (printed as a figure); a raw Produce
beyond the quota has throttle_time_ms > 0 and so has a raw Fetch beyond consumer_byte_rate.
"""
import os
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, os.path.join(HERE, "..", "broker"))
from eddyd import Eddyd, Results  # noqa: E402
import kwire as kw  # noqa: E402

from kafka import KafkaProducer  # noqa: E402

QUOTA = 400 * 1024          # producer_byte_rate, bytes/s
FETCH_QUOTA = 64 * 1024     # consumer_byte_rate
BYTES = 2 * 1024 * 1024     # written by the producer (~5 s at the quota)
PRODUCE, FETCH, DESCRIBE_CLIENT_QUOTAS, ALTER_CLIENT_QUOTAS = 0, 1, 48, 49


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s:\n  got      %r\n  expected %r" % (what, got, want))


def raw(port, api, version, body):
    c = kw.Conn(port, timeout=30)
    try:
        c.corr += 1
        c.send(kw.frame(api, version, c.corr, body, client_id=b"quota-test"))
        corr, resp = c.recv_frame()
        eq(corr, c.corr, "correlation id")
        return resp
    finally:
        c.close()


def f64(v):
    return struct.pack(">d", v)


def alter(port, entity, ops, validate=False):
    """entity: [(type, name)]; ops: [(key, value, remove)]. Returns [(error, message)]."""
    body = kw.array([kw.array([kw.s16(t) + kw.s16(n) for t, n in entity]) +
                     kw.array([kw.s16(k) + f64(v) + kw.i8(1 if rm else 0) for k, v, rm in ops])])
    body += kw.i8(1 if validate else 0)
    r = kw.Reader(raw(port, ALTER_CLIENT_QUOTAS, 0, body))
    r.i32()
    return r.array(lambda: (r.i16(), r.str(), r.array(lambda: (r.str(), r.str()))))


def describe(port):
    body = kw.array([kw.s16("user") + kw.i8(1) + kw.s16(None)]) + kw.i8(0)
    r = kw.Reader(raw(port, DESCRIBE_CLIENT_QUOTAS, 0, body))
    r.i32()
    err, _msg = r.i16(), r.str()
    def rf64():
        v = struct.unpack_from(">d", r.b, r.pos)[0]
        r.pos += 8
        return v

    entries = r.array(lambda: (r.array(lambda: (r.str(), r.str())),
                               r.array(lambda: (r.str(), rf64()))))
    return err, entries


def set_quotas(b):
    bad = alter(b.port, [("user", None)], [("no_such_key", 1.0, False)])
    eq(bad[0][0], 42, "unknown quota key")
    bad = alter(b.port, [("user", None)], [("producer_byte_rate", -5.0, False)])
    eq(bad[0][0], 42, "negative quota")
    bad = alter(b.port, [("client-id", "x")], [("producer_byte_rate", 5.0, False)])
    eq(bad[0][0], 42, "client-id entity (only user quotas)")
    ok = alter(b.port, [("user", None)], [("producer_byte_rate", 1.0, False)], validate=True)
    eq(ok[0][0], 0, "validate only")
    eq(describe(b.port), (0, []), "nothing stored by refused or validate-only alters")
    ok = alter(b.port, [("user", None)], [("producer_byte_rate", float(QUOTA), False),
                                          ("consumer_byte_rate", float(FETCH_QUOTA), False)])
    eq(ok[0][0], 0, "AlterClientQuotas")
    b.restart(kill=True)
    err, entries = describe(b.port)
    eq(err, 0, "DescribeClientQuotas error")
    eq(entries, [([("user", None)], [("producer_byte_rate", float(QUOTA)),
                                     ("consumer_byte_rate", float(FETCH_QUOTA))])],
       "DescribeClientQuotas after SIGKILL")


def producer_rate(b):
    p = KafkaProducer(bootstrap_servers=b.bootstrap, acks=1, linger_ms=5,
                      batch_size=64 * 1024, max_request_size=1 << 20)
    value = b"x" * 1000
    # warm-up: metadata, topic auto-creation, the bucket's initial burst
    for _ in range(100):
        p.send("quota-t", value)
    p.flush()
    n = BYTES // len(value)
    t0 = time.time()
    for _ in range(n):
        p.send("quota-t", value)
    p.flush()
    dt = time.time() - t0
    p.close()
    rate = n * len(value) / dt
    ratio = rate / QUOTA
    print("FIGURE producer_byte_rate quota %d B/s: kafka-python measured %.0f B/s over %.1f s "
          "(%.2fx the quota)" % (QUOTA, rate, dt, ratio), flush=True)
    if not 0.8 <= ratio <= 1.2:
        raise AssertionError("measured rate %.0f B/s is not within 20%% of the quota %d B/s"
                             % (rate, QUOTA))


def throttle_seen(b):
    big = kw.batch([(None, b"y" * (QUOTA // 2), (), 1700000000000)], base_ts=1700000000000)
    worst = 0
    for _ in range(3):
        res = kw.parse_produce(raw(b.port, PRODUCE, 7, kw.produce_body(
            {"quota-t": {0: big}}, acks=1, version=7)), 7)
        eq(res["topics"][0][1][0]["error"], 0, "raw produce error")
        worst = max(worst, res["throttle"])
    print("FIGURE produce throttle_time_ms %d after 3 x %d bytes" % (worst, QUOTA // 2),
          flush=True)
    if worst <= 0:
        raise AssertionError("no throttle_time_ms in Produce responses beyond the quota")
    res = kw.parse_fetch_v4(raw(b.port, FETCH, 4, kw.fetch_body_v4({"quota-t": {0: 0}},
                                                                    max_wait_ms=0)))
    eq(res["topics"][0][1][0]["error"], 0, "raw fetch error")
    print("FIGURE fetch throttle_time_ms %d (consumer_byte_rate %d)" % (res["throttle"],
                                                                        FETCH_QUOTA), flush=True)
    if res["throttle"] <= 0:
        raise AssertionError("no throttle_time_ms in a Fetch response beyond the quota")


def main():
    b = Eddyd(sets=["auto.create.topics.enable=true"])
    res = Results(b)
    res.run("AlterClientQuotas / DescribeClientQuotas, durable across SIGKILL", set_quotas, b)
    res.run("kafka-python producer throttled to producer_byte_rate (within 20%)", producer_rate, b)
    res.run("throttle_time_ms in Produce and Fetch responses", throttle_seen, b)
    res.finish()


if __name__ == "__main__":
    main()
