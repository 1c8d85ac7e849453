#!/usr/bin/env python3
"""bench_onramp.py — issue 16's figures for eddy-cdc and eddy-push (bench/run.sh runs it as
the "onramp" item; `--quick` for bench-quick). Everything on loopback, started fresh:

  CDC lag     pgbench commits one-row INSERTs at a fixed rate (1,000 and 10,000 rows/s,
              synchronous_commit on); a kcat consumer tails the topic and, for each event,
              takes (time it read the event − source.ts_ms, the commit time in the WAL).
              p50 / p99 / max, and the rate actually achieved.
  CDC max     one burst of INSERT … SELECT generate_series in 10,000-row transactions; events/s
              from the first event read to the last.
  push        N records already on a topic with 1 key and with 100 keys; eddy-push delivers to
              eddy-bench-sink (libmicrohttpd, keep-alive, answers 200); deliveries/s from
              registering the subscription to the sink's count reaching N.

Goals from the issue: CDC p99 ≤ 50 ms at 10,000 changes/s; push ≥ 5,000 deliveries/s with 100
keys. The machine's load matters: the note prints nproc and the load average beside them."""
import json, os, statistics, subprocess, sys, threading, time, urllib.request

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "../../tests/harness"))
os.environ.setdefault("EDDY_BUILD_DIR", os.path.join(here, "../../build"))
from onramp import Env, PG, BUILD, psql, pg_available, http_json, start_push, produce, wait_for

QUICK = "--quick" in sys.argv
OUT = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else os.path.join(BUILD, "bench-results")
os.makedirs(OUT, exist_ok=True)
DUR = 3 if QUICK else 10
RATES = [1000, 10000]
BURST = 50_000 if QUICK else 200_000
PUSH_N = 5_000 if QUICK else 30_000
results = {"nproc": os.cpu_count(), "loadavg": os.getloadavg()[0], "quick": QUICK}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


env = Env("bench")
env.start_broker()


class Tail:
    """kcat tailing a topic from its end; records (read time ms, event) per value."""

    def __init__(self, topic):
        self.got = []
        self.p = subprocess.Popen(["kcat", "-b", env.bootstrap, "-C", "-t", topic, "-o", "end", "-u",
                                   "-q", "-X", "fetch.wait.max.ms=1", "-X", "fetch.error.backoff.ms=5",
                                   "-f", "%s\n"], stdout=subprocess.PIPE, text=True, bufsize=1)
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        for line in self.p.stdout:
            now = time.time() * 1000
            if line.strip():
                self.got.append((now, line))

    def stop(self):
        self.p.kill()
        self.p.wait()


if pg_available():
    sch = env.schema()
    slot, pub = env.slot()
    prefix = "bench" + env.tag
    table = sch + ".t"
    topic = "%s.%s.t" % (prefix, sch)
    psql("CREATE TABLE %s (id bigserial PRIMARY KEY, v int NOT NULL, note text)" % table)
    cdc = env.start_cdc([table], slot, pub, prefix, ["--metrics-listen", "127.0.0.1:0"])
    wait_for(lambda: "streaming from" in open(cdc.logfile).read(), "eddy-cdc streaming", 60)
    script = os.path.join(env.tmp, "ins.sql")
    open(script, "w").write("INSERT INTO %s (v, note) VALUES (1, 'bench');\n" % table)
    for rate in RATES:
        tail = Tail(topic)
        time.sleep(1.5)  # the consumer has its assignment at the end of the topic
        # warm-up: one row through the whole path before measuring
        psql("INSERT INTO %s (v, note) VALUES (0, 'warm-up')" % table)
        wait_for(lambda: tail.got, "the warm-up event", 60, 0.05)
        tail.got.clear()
        before = int(psql("SELECT count(*) FROM %s" % table).stdout)
        t0 = time.time()
        subprocess.run(["pgbench", "-n", "-c", "8", "-j", "2", "-R", str(rate), "-T", str(DUR),
                        "-f", script, PG], capture_output=True, text=True)
        dt = time.time() - t0
        n = int(psql("SELECT count(*) FROM %s" % table).stdout) - before
        wait_for(lambda: len(tail.got) >= n, "%d events" % n, 120, 0.1)
        tail.stop()
        lags = [now - json.loads(line)["source"]["ts_ms"] for now, line in tail.got[:n]]
        r = {"target_rows_per_s": rate, "achieved_rows_per_s": round(n / dt), "events": n,
             "lag_ms_p50": round(pct(lags, 0.5), 1), "lag_ms_p99": round(pct(lags, 0.99), 1),
             "lag_ms_max": round(max(lags), 1)}
        results["cdc_lag_%d" % rate] = r
        print("cdc lag @%5d rows/s target (%5d achieved): p50 %6.1f ms  p99 %6.1f ms  max %6.1f ms"
              % (rate, r["achieved_rows_per_s"], r["lag_ms_p50"], r["lag_ms_p99"], r["lag_ms_max"]),
              flush=True)
    # maximum sustained: a burst
    tail = Tail(topic)
    time.sleep(1.5)
    sql = "".join("INSERT INTO %s (v, note) SELECT g, 'burst' FROM generate_series(1, 10000) g;\n" % table
                  for _ in range(BURST // 10000))
    subprocess.run(["psql", PG, "-qX", "-c", sql], check=True, capture_output=True)
    wait_for(lambda: len(tail.got) >= BURST, "%d burst events" % BURST, 600, 0.2)
    tail.stop()
    first, last = tail.got[0][0], tail.got[BURST - 1][0]
    rate = BURST / max(1e-3, (last - first) / 1000)
    results["cdc_max_rows_per_s"] = round(rate)
    print("cdc max sustained: %d rows in %.2f s → %d rows/s" % (BURST, (last - first) / 1000, rate),
          flush=True)
    cdc.terminate()
    cdc.wait(60)
else:
    print("cdc: skipped (no PostgreSQL at %s; run scripts/pg.sh)" % PG)

# ---- push ------------------------------------------------------------------------------------
sink = subprocess.Popen([os.path.join(BUILD, "bench/eddy-bench-sink")], stdout=subprocess.PIPE,
                        text=True)
sport = int(sink.stdout.readline().rsplit(":", 1)[1])
push = start_push(env, os.path.join(env.tmp, "push"))
for keys in (1, 100):
    t = "bench.push%d.%s" % (keys, env.tag)
    produce(env, t, [("k%d" % (i % keys), '{"i":%d,"pad":"%s"}' % (i, "x" * 100)) for i in range(PUSH_N)])
    base = int(urllib.request.urlopen("http://127.0.0.1:%d/count" % sport).read())
    st, b = http_json("POST", push.api + "/v1/subscriptions",
                      {"name": "b%d" % keys, "topics": [t], "url": "http://127.0.0.1:%d/hook" % sport,
                       "max_in_flight": 64, "max_buffered": 50000})
    assert st == 201, b
    count = lambda: int(urllib.request.urlopen("http://127.0.0.1:%d/count" % sport).read()) - base
    wait_for(lambda: count() > 0, "the first delivery (group join)", 120, 0.005)
    t0, c0 = time.time(), count()
    wait_for(lambda: count() >= PUSH_N, "push deliveries", 600, 0.02)
    dt = time.time() - t0
    results["push_%dkeys_per_s" % keys] = round((PUSH_N - c0) / dt)
    print("push %3d key(s): %d deliveries in %.2f s → %d/s (from the first delivery to the last)"
          % (keys, PUSH_N - c0, dt, (PUSH_N - c0) / dt), flush=True)
    http_json("DELETE", push.api + "/v1/subscriptions/b%d" % keys)
sink.terminate()
push.terminate()
push.wait(60)
print("machine: %d cores, load average %.1f at start" % (results["nproc"], results["loadavg"]))
json.dump(results, open(os.path.join(OUT, "onramp.json"), "w"), indent=2)
print("wrote", os.path.join(OUT, "onramp.json"))
