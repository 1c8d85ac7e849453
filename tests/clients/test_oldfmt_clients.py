#!/usr/bin/python3
"""test_oldfmt_clients — issue 14 item 5: real clients that speak the legacy message formats.

* kcat 1.7 / librdkafka 2.0.2 with api.version.request=false and broker.version.fallback=0.8.2.2
  (Produce v0, Fetch v0) and 0.9.0 (Produce v1, Fetch v1), message sets of magic 0: produce and
  consume back keys, values, null keys and null values with every codec (none, gzip, snappy,
  lz4 — magic 0 lz4 is the frame with Kafka 0.8's header checksum), checked against librdkafka's
  protocol log that the requests really were those versions;
* both directions against today's format: records written by the old producers read by a
  current consumer (magic 0 -> no timestamp), and records with headers and timestamps written by
  a current producer read by the old consumers (headers dropped, magic 1 keeps timestamps);
* kafka-python 2.0.2 pinned to api_version (0, 9) (magic 0), (0, 10) (magic 1, Fetch v2) and
  (0, 10, 1) (Produce v2, Fetch v3): producer (plain and gzip) and a consumer group (subscribe,
  poll, commit) round trip, timestamps kept by magic 1;
* sarama 1.22.1 with its default Version (V0_8_2_0: Produce v0, Fetch v0) and V0_10_0_0
  (magic 1), every codec each allows (sarama_client -mode oldfmt).
One eddyd for the whole file.
"""
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from eddyd import Eddyd, Results  # noqa: E402

from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402

# broker.version.fallback -> (magic, highest Produce version librdkafka may use). librdkafka
# sends ApiVersions (and then uses today's format) for any fallback >= 0.10.0, so magic 1 is
# kafka-python's part below.
OLD = {"0.8.2.2": (0, 0), "0.9.0": (0, 1)}
ROWS = [(b"k1", b"v1"), (None, b"nokey"), (b"k3", None), (b"k4", b"v4 " * 40)]


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s:\n  got      %r\n  expected %r" % (what, got, want))


def kcat(boot, args, stdin=None, fallback=None, debug=False):
    cmd = ["kcat", "-b", boot, "-X", "reconnect.backoff.ms=20"]
    if fallback:
        cmd += ["-X", "api.version.request=false", "-X", "broker.version.fallback=" + fallback]
    if debug:
        cmd += ["-d", "protocol"]
    p = subprocess.run(cmd + args, input=stdin, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("kcat %s failed (%d): %s" % (args, p.returncode,
                                                          p.stderr.decode()[-2000:]))
    return p.stdout, p.stderr.decode()


def versions(log, api):
    """The versions of `api` requests librdkafka logged as sent."""
    return sorted(set(int(v) for v in re.findall(r"Sent %sRequest \(v(\d+)" % api, log)))


def kcat_input():
    # -Z: empty key / value = NULL; -K: key delimiter
    return b"".join((k or b"") + b"\t" + (v or b"") + b"\n" for k, v in ROWS)


def kcat_rows(out):
    rows = []
    for line in out.decode().splitlines():
        k, v, ts = line.split("|")
        rows.append((None if k == "NULL" else k.encode(), None if v == "NULL" else v.encode(),
                     int(ts)))
    return rows


def main():
    b = Eddyd(["group.initial.rebalance.delay.ms=0"])
    r = Results(b)
    boot = b.bootstrap
    fmt = ["-f", "%k|%s|%T\n"]

    def kcat_roundtrip(fallback, codec):
        magic, pmax = OLD[fallback]
        topic = "of-%s-%s" % (fallback.replace(".", ""), codec)
        _, log = kcat(boot, ["-P", "-Z", "-K\t", "-t", topic, "-p", "0", "-X",
                             "compression.codec=" + codec], kcat_input(), fallback, debug=True)
        pv = versions(log, "Produce")
        eq(pv, [pmax], "Produce versions librdkafka used")
        out, log = kcat(boot, ["-C", "-Z", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q"]
                        + fmt, None, fallback, debug=True)
        fv = versions(log, "Fetch")
        eq(fv, [pmax], "Fetch versions librdkafka used")
        got = kcat_rows(out)
        eq([(k, v) for k, v, _ in got], ROWS, "%s %s: old consumer" % (fallback, codec))
        if magic == 1:
            assert all(ts > 1600000000000 for _, _, ts in got), "timestamps %r" % got
        # today's consumer of what the old producer wrote
        out, _ = kcat(boot, ["-C", "-Z", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q"]
                      + fmt)
        got2 = kcat_rows(out)
        eq([(k, v) for k, v, _ in got2], ROWS, "%s %s: current consumer" % (fallback, codec))
        if magic == 0:
            # no timestamp in magic 0: stored as -1 (librdkafka shows 0 or -1 for "none")
            assert all(ts <= 0 for _, _, ts in got2), "magic 0 timestamps %r" % got2

    def new_to_old():
        topic = "of-new"
        kcat(boot, ["-P", "-t", topic, "-p", "0", "-K:", "-H", "h=v", "-X",
                    "compression.codec=zstd"], b"a:1\nb:2\n")
        for fallback, (magic, _) in OLD.items():
            out, _ = kcat(boot, ["-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
                                 "-f", "%k|%s|%T|%h\n"], None, fallback)
            lines = out.decode().splitlines()
            eq([ln.split("|")[0:2] for ln in lines], [["a", "1"], ["b", "2"]],
               "zstd + headers read by %s" % fallback)
            # headers cannot be down-converted: none arrive
            assert all(ln.split("|")[3] in ("", "NULL") for ln in lines), lines
            if magic == 1:
                assert all(int(ln.split("|")[2]) > 1600000000000 for ln in lines), lines

    def kafka_python(api):
        topic = "of-kp-%s" % "".join(map(str, api))
        for comp in (None, "gzip"):
            p = KafkaProducer(bootstrap_servers=boot, api_version=api, acks="all",
                              compression_type=comp, linger_ms=20)
            try:
                futs = [p.send(topic, key=k, value=v, partition=0) for k, v in ROWS]
                p.flush(30)
                offs = [f.get(timeout=30).offset for f in futs]
            finally:
                p.close(10)
            eq(offs, list(range(offs[0], offs[0] + len(ROWS))), "offsets (%s)" % comp)
        c = KafkaConsumer(topic, bootstrap_servers=boot, api_version=api,
                          group_id="g-" + topic, auto_offset_reset="earliest",
                          enable_auto_commit=False)
        try:
            msgs = []
            deadline = time.time() + 60  # a fail-safe, not a timing assertion
            while len(msgs) < 2 * len(ROWS) and time.time() < deadline:
                for recs in c.poll(timeout_ms=200).values():
                    msgs += recs
            eq([(m.offset, m.key, m.value) for m in msgs],
               [(i, k, v) for i, (k, v) in enumerate(ROWS + ROWS)],
               "kafka-python %r consumer" % (api,))
            if api >= (0, 10):
                assert all(m.timestamp > 1600000000000 for m in msgs), \
                    "magic 1 timestamps %r" % [m.timestamp for m in msgs]
            c.commit()
            tp = TopicPartition(topic, 0)
            eq(c.committed(tp), 2 * len(ROWS), "the group's committed offset")
        finally:
            c.close()

    for fb in OLD:
        for codec in ("none", "gzip", "snappy", "lz4"):
            r.run("kcat fallback %s %s: produce + consume" % (fb, codec), kcat_roundtrip, fb, codec)
    r.run("current producer (zstd, headers) -> old consumers", new_to_old)
    def sarama():
        exe = os.environ.get("SARAMA_CLIENT") or os.path.join(
            os.environ.get("EDDY_BUILD_DIR", ""), "tests", "clients", "sarama_client")
        p = subprocess.run([exe, "-mode", "oldfmt", "-brokers", boot, "-topic", "sa-old"],
                           capture_output=True, timeout=120)
        print(p.stdout.decode(), end="")
        if p.returncode != 0:
            raise AssertionError("sarama_client -mode oldfmt failed: %s" % p.stderr.decode())

    r.run("sarama default Version (0.8.2) and 0.10.0", sarama)
    r.run("kafka-python api_version (0, 9)", kafka_python, (0, 9))
    r.run("kafka-python api_version (0, 10)", kafka_python, (0, 10))
    r.run("kafka-python api_version (0, 10, 1)", kafka_python, (0, 10, 1))
    r.run("eddyd stops cleanly (SIGTERM, status 0: no sanitizer report)", b.stop)
    r.finish()


if __name__ == "__main__":
    main()
