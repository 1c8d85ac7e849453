#!/usr/bin/python3
"""test_scrub — issue 11 item 5: the background scrub finds a flipped byte in an old segment.

40 batches of 10 records (~1.3 KB each) go to partition 0 of topic `scrub` with
log.segment.bytes=16384, so the log has several closed segments. eddyd is stopped, one byte in
the records of the 4th batch of the first segment is flipped (its CRC no longer matches), and
eddyd is started again with a fast scrub (log.scrub.bytes.per.second). Then: the log says which
offsets were quarantined; Fetch at an offset inside the damaged batch is CORRUPT_MESSAGE (2),
not a stall and not OFFSET_OUT_OF_RANGE; Fetch from 0 returns exactly the batches before it;
Fetch just after it returns the rest, every CRC valid; /metrics counts one corrupt batch and
scrubbed bytes; kcat reads every offset after the damaged range; `eddy topics scrub-report`
prints the topic, partition and lost offsets and exits 1.
"""
import os
import re
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, HERE)
from eddyd import Eddyd, Results, wait_until  # noqa: E402
import kwire as kw  # noqa: E402

PRODUCE, FETCH = 0, 1
TOPIC = "scrub"
TS = 1700000000000
NB, PER = 40, 10


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s:\n  got      %r\n  expected %r" % (what, got, want))


def fetch(port, offset):
    c = kw.Conn(port)
    try:
        f = kw.parse_fetch_v4(c.request(FETCH, 4, kw.fetch_body_v4({TOPIC: {0: offset}})))
    finally:
        c.close()
    return f["topics"][0][1][0]


class Suite:
    def __init__(self, b):
        self.b = b
        self.bad = None  # (first, last) offsets of the damaged batch

    def produce_and_damage(self):
        c = kw.Conn(self.b.port)
        try:
            for i in range(NB):
                recs = [(b"k", b"v%04d-%03d-" % (i, j) + b"x" * 100, (), TS + j)
                        for j in range(PER)]
                p = kw.parse_produce(c.request(PRODUCE, 7, kw.produce_body(
                    {TOPIC: {0: kw.batch(recs, TS)}}, version=7)), 7)
                eq(p["topics"][0][1][0]["error"], 0, "produce error")
        finally:
            c.close()
        self.b.stop()
        d = os.path.join(self.b.data, TOPIC + "-0")
        segs = sorted(f for f in os.listdir(d) if f.endswith(".log"))
        if len(segs) < 3:
            raise AssertionError("expected several segments, got %r" % segs)
        path = os.path.join(d, segs[0])
        data = bytearray(open(path, "rb").read())
        pos = 0
        for _ in range(3):
            pos += 12 + int.from_bytes(data[pos + 8:pos + 12], "big")
        base = int.from_bytes(data[pos:pos + 8], "big")
        lod = int.from_bytes(data[pos + 23:pos + 27], "big")
        self.bad = (base, base + lod)
        data[pos + 61 + 20] ^= 0x01  # a bit inside the first record's value
        with open(path, "r+b") as f:
            f.write(bytes(data))
        self.b.start()
        wait_until(lambda: "scrub: CRC mismatch" in self.b.log_text(), 60, "the scrub log line")
        line = [x for x in self.b.log_text().splitlines() if "scrub: CRC mismatch" in x][0]
        if ("offsets %d..%d quarantined" % self.bad) not in line:
            raise AssertionError("log line does not name offsets %d..%d: %s" % (self.bad + (line,)))

    def fetch_inside(self):
        for off in (self.bad[0], self.bad[1]):
            p = fetch(self.b.port, off)
            eq(p["error"], 2, "Fetch at damaged offset %d" % off)
            eq(p["hwm"], NB * PER, "high watermark")

    def fetch_before(self):
        p = fetch(self.b.port, 0)
        eq(p["error"], 0, "Fetch from 0")
        bs = kw.parse_batches(p["records"])
        eq([b["base_offset"] for b in bs], [0, PER, 2 * PER], "batches before the damaged one")
        eq(all(b["crc_ok"] for b in bs), True, "CRCs of the batches served")

    def fetch_after(self):
        off = self.bad[1] + 1
        got = []
        while off < NB * PER:
            p = fetch(self.b.port, off)
            eq(p["error"], 0, "Fetch at %d" % off)
            bs = kw.parse_batches(p["records"])
            if not bs:
                raise AssertionError("no data at %d" % off)
            for b in bs:
                eq(b["crc_ok"], True, "CRC of batch %d" % b["base_offset"])
                got += [r[0] for r in b["records"] if r[0] >= off]
            off = got[-1] + 1
        eq(got, list(range(self.bad[1] + 1, NB * PER)), "offsets after the damaged batch")

    def metrics(self):
        m = re.search(r"http listening on 127\.0\.0\.1:(\d+)", self.b.log_text())
        if not m:
            raise AssertionError("no http listening line")
        text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % m.group(1),
                                      timeout=10).read().decode()
        eq(re.search(r"^eddy_scrub_corrupt_batches_total (\d+)$", text, re.M).group(1), "1",
           "eddy_scrub_corrupt_batches_total")
        if int(re.search(r"^eddy_scrub_bytes_total (\d+)$", text, re.M).group(1)) < 16384:
            raise AssertionError("eddy_scrub_bytes_total below one segment")

    def cli(self):
        m = re.search(r"http listening on 127\.0\.0\.1:(\d+)", self.b.log_text())
        eddy = os.path.join(os.environ.get("EDDY_BUILD_DIR", ""), "src", "cli", "eddy")
        out = subprocess.run([eddy, "topics", "scrub-report", "--http",
                              "http://127.0.0.1:%s" % m.group(1)],
                             capture_output=True, timeout=60, text=True)
        eq(out.returncode, 1, "exit status of eddy topics scrub-report with damage (%s)"
           % out.stderr)
        rows = [x.split() for x in out.stdout.splitlines()[1:]]
        eq(rows, [[TOPIC, "0", str(self.bad[0]), str(self.bad[1]), str(PER)]],
           "eddy topics scrub-report rows")

    def kcat(self):
        out = subprocess.run(["kcat", "-C", "-b", self.b.bootstrap, "-t", TOPIC, "-p", "0",
                              "-o", str(self.bad[1] + 1), "-e", "-f", "%o\n"],
                             capture_output=True, timeout=60, text=True)
        offs = [int(x) for x in out.stdout.split()]
        eq(offs, list(range(self.bad[1] + 1, NB * PER)), "kcat offsets after the damage")


def main():
    b = Eddyd(["num.partitions=1", "log.segment.bytes=16384",
               "log.scrub.bytes.per.second=10000000", "http.listeners=127.0.0.1:0"])
    r = Results(b)
    s = Suite(b)
    r.run("a flipped byte in an old segment: found by the scrub, logged with its offsets",
          s.produce_and_damage)
    if s.bad:
        for name, fn in [
            ("Fetch inside the damaged batch: CORRUPT_MESSAGE (2)", s.fetch_inside),
            ("Fetch from 0: exactly the batches before it", s.fetch_before),
            ("Fetch after it: everything else, CRCs valid", s.fetch_after),
            ("/metrics: scrubbed bytes and one corrupt batch", s.metrics),
            ("kcat reads everything after the damaged range", s.kcat),
            ("eddy topics scrub-report names the lost offsets (exit 1)", s.cli),
        ]:
            r.run(name, fn)
    b.stop()
    r.finish()


if __name__ == "__main__":
    main()
