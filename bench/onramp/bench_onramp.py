#!/usr/bin/env python3
"""bench_onramp.py — issue 16's figures for eddy-cdc, HTTP produce and eddy-push (bench/run.sh
runs it as the "onramp" item; `--quick` for bench-quick). Everything on loopback, started fresh:

  CDC lag     pgbench (16 connections, -R) offers row changes at a fixed rate as 200
              multi-row commits/s (EDDY_BENCH_CDC_COMMITS): 1,000 rows/s = 5-row INSERTs,
              10,000 rows/s = 50-row INSERTs (one statement, one transaction each,
              synchronous_commit on) — "changes/s" are row changes. A kcat consumer tails the
              topic (created with message.timestamp.type=LogAppendTime) and takes, per event,
              (the time eddyd appended it − source.ts_ms, the commit time in the WAL): p50 /
              p99 / max; also the time kcat read it; the rate actually offered (kept beside
              the target: a short generator is visible), eddy-cdc's and eddyd's CPU µs/row.
  CDC max     one burst of INSERT … SELECT generate_series in 10,000-row transactions; events/s
              from the first event read to the last, and rows per eddy-cdc CPU-second.
  HTTP vs Kafka  1 KiB records, acks=all durability on both: REST v3 streamed (4 connections,
              each POSTing 200 newline-separated records per request, answered after the
              append is durable) vs eddy-bench-kafka produce (4 librdkafka producers, acks=all,
              linger 5 ms) against the same eddyd in the same run; records/s and eddyd CPU s per
              million records.
  push        N records already on a topic with 1 key and with 100 keys; eddy-push delivers to
              eddy-bench-sink (libmicrohttpd, keep-alive, answers 200); deliveries/s from
              the first delivery to the last, and deliveries per eddy-push CPU-second.

Goals from the issue: CDC p99 ≤ 50 ms at 10,000 changes/s; push ≥ 5,000 deliveries/s with 100
keys. The machine's load matters: the figures per CPU-second are the ones to compare between
runs. Options: --out DIR (onramp.json), --runs-file F and --run N (append run.sh's per-run JSON
lines, w "onramp", so bench/report.py puts the rows and targets in the main table)."""
import http.client, json, os, statistics, subprocess, sys, threading, time, urllib.request

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "../../tests/harness"))
os.environ.setdefault("EDDY_BUILD_DIR", os.path.join(here, "../../build"))
from onramp import Env, PG, BUILD, psql, pg_available, http_json, start_push, produce, wait_for


def opt(name, default=None):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


QUICK = "--quick" in sys.argv
OUT = opt("--out", os.path.join(BUILD, "bench-results"))
RUNS_FILE = opt("--runs-file")
RUN = int(opt("--run", "1"))
os.makedirs(OUT, exist_ok=True)
DUR = 3 if QUICK else 10
RATES = [1000, 10000]
BURST = 50_000 if QUICK else 200_000
PUSH_N = 5_000 if QUICK else 30_000
HTTP_DUR = 2 if QUICK else 6
HTTP_SIZE, HTTP_CONNS, HTTP_BATCH = 1024, 4, 200
COMMITS_PER_S = int(os.environ.get("EDDY_BENCH_CDC_COMMITS", "200"))
results = {"nproc": os.cpu_count(), "loadavg": os.getloadavg()[0], "quick": QUICK}
TICK = os.sysconf("SC_CLK_TCK")


def record(variant, res):
    """One line of run.sh's runs.jsonl (bench/report.py reads the onramp rows from it)."""
    if RUNS_FILE:
        with open(RUNS_FILE, "a") as f:
            f.write(json.dumps({"w": "onramp", "server": "eddyd", "variant": variant,
                                "run": RUN, "res": res}) + "\n")


def cpu_s(pid):
    """user+system CPU seconds of a process (0 when it is gone)."""
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


env = Env("bench")
env.start_broker()
bpid = env.broker.proc.pid


class Tail:
    """kcat tailing a topic from its end; records (read time ms, event) per value."""

    def __init__(self, topic):
        self.got = []
        self.p = subprocess.Popen(["kcat", "-b", env.bootstrap, "-C", "-t", topic, "-o", "end", "-u",
                                   "-q", "-X", "fetch.wait.max.ms=1", "-X", "fetch.error.backoff.ms=5",
                                   "-f", "%T %s\n"], stdout=subprocess.PIPE, text=True, bufsize=1)
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
    # the topic stamps records with the broker's append time: "commit → event on the topic" is
    # then measured where the event lands, apart from how fast a consumer reads it
    mk = subprocess.run([os.path.join(BUILD, "src/cli/eddy"), "-b", env.bootstrap, "topics",
                         "create", topic, "-c", "message.timestamp.type=LogAppendTime"],
                        capture_output=True, text=True)
    if mk.returncode != 0:
        print("bench: cannot create %s with LogAppendTime: %s" % (topic, mk.stderr.strip()))
        sys.exit(1)
    cdc = env.start_cdc([table], slot, pub, prefix, ["--metrics-listen", "127.0.0.1:0"])
    wait_for(lambda: "streaming from" in open(cdc.logfile).read(), "eddy-cdc streaming", 60)
    for rate in RATES:
        # row changes, not commits: COMMITS_PER_S multi-row transactions (one INSERT statement
        # each) of rate / COMMITS_PER_S rows; one-row commits at 1,000/s and 10-row commits at
        # 1,000/s were out of reach on the shared 2-core machine (synchronous_commit fsyncs)
        per = max(1, rate // COMMITS_PER_S)
        script = os.path.join(env.tmp, "ins%d.sql" % per)
        with open(script, "w") as f:
            if per == 1:
                f.write("INSERT INTO %s (v, note) VALUES (1, 'bench');\n" % table)
            else:
                f.write("INSERT INTO %s (v, note) SELECT g, 'bench' FROM generate_series(1, %d) g;\n"
                        % (table, per))
        tail = Tail(topic)
        time.sleep(1.5)  # the consumer has its assignment at the end of the topic
        # warm-up: one row through the whole path before measuring
        psql("INSERT INTO %s (v, note) VALUES (0, 'warm-up')" % table)
        wait_for(lambda: tail.got, "the warm-up event", 60, 0.05)
        tail.got.clear()
        before = int(psql("SELECT count(*) FROM %s" % table).stdout)
        c0, b0, t0 = cpu_s(cdc.pid), cpu_s(bpid), time.time()
        pb = subprocess.run(["pgbench", "-n", "-c", "16", "-j", "2", "-R", str(rate // per), "-T",
                             str(DUR), "-f", script, PG], capture_output=True, text=True)
        dt = time.time() - t0
        n = int(psql("SELECT count(*) FROM %s" % table).stdout) - before
        # pgbench's own rate (without its connection set-up, which a loaded machine stretches)
        tps = [float(l.split("=")[1].split()[0]) for l in pb.stdout.splitlines()
               if l.startswith("tps =")]
        offered = tps[0] * per if tps else n / dt
        wait_for(lambda: len(tail.got) >= n, "%d events" % n, 120, 0.1)
        c1, b1 = cpu_s(cdc.pid), cpu_s(bpid)
        tail.stop()
        # lag = the record's LogAppendTime (eddyd appended it) − the row's commit time; the
        # consumer's read time is kept apart (on a loaded machine kcat itself falls behind)
        evs = [(now, int(line.split(" ", 1)[0]), json.loads(line.split(" ", 1)[1])["source"]["ts_ms"])
               for now, line in tail.got[:n]]
        lags = [at - ts for _, at, ts in evs]
        read_lags = [now - ts for now, _, ts in evs]
        r = {"target_rows_per_s": rate, "rows_per_commit": per, "commits_per_s": rate // per,
             "achieved_rows_per_s": round(offered), "events": n,
             "lag_ms_p50": round(pct(lags, 0.5), 1), "lag_ms_p99": round(pct(lags, 0.99), 1),
             "lag_ms_max": round(max(lags), 1),
             "read_ms_p50": round(pct(read_lags, 0.5), 1), "read_ms_p99": round(pct(read_lags, 0.99), 1),
             "cdc_cpu_us_per_row": round((c1 - c0) / max(1, n) * 1e6, 1),
             "eddyd_cpu_us_per_row": round((b1 - b0) / max(1, n) * 1e6, 1)}
        results["cdc_lag_%d" % rate] = r
        record("cdc%d" % rate, r)
        print("cdc lag @%5d rows/s target (%d rows/commit, %5d achieved): p50 %6.1f ms  p99 %6.1f ms"
              "  max %6.1f ms (commit → consumer read p50 %.1f p99 %.1f ms); eddy-cdc %.1f µs"
              " CPU/row" % (rate, per, r["achieved_rows_per_s"], r["lag_ms_p50"], r["lag_ms_p99"],
                            r["lag_ms_max"], r["read_ms_p50"], r["read_ms_p99"],
                            r["cdc_cpu_us_per_row"]), flush=True)
    # maximum sustained: a burst
    tail = Tail(topic)
    time.sleep(1.5)
    sql = "".join("INSERT INTO %s (v, note) SELECT g, 'burst' FROM generate_series(1, 10000) g;\n" % table
                  for _ in range(BURST // 10000))
    c0 = cpu_s(cdc.pid)
    subprocess.run(["psql", PG, "-qX", "-c", sql], check=True, capture_output=True)
    wait_for(lambda: len(tail.got) >= BURST, "%d burst events" % BURST, 600, 0.2)
    c1 = cpu_s(cdc.pid)
    tail.stop()
    first, last = tail.got[0][0], tail.got[BURST - 1][0]
    rate = BURST / max(1e-3, (last - first) / 1000)
    results["cdc_max_rows_per_s"] = round(rate)
    results["cdc_max_rows_per_cpu_s"] = round(BURST / max(1e-3, c1 - c0))
    record("cdcmax", {"rows_per_s": round(rate), "rows": BURST,
                      "rows_per_cdc_cpu_s": results["cdc_max_rows_per_cpu_s"]})
    print("cdc max sustained: %d rows in %.2f s → %d rows/s; %d rows per eddy-cdc CPU-s"
          % (BURST, (last - first) / 1000, rate, results["cdc_max_rows_per_cpu_s"]), flush=True)
    cdc.terminate()
    cdc.wait(60)
else:
    print("cdc: skipped (no PostgreSQL at %s; run scripts/pg.sh)" % PG)
    for v in ("cdc1000", "cdc10000", "cdcmax"):
        record(v, {"error": "no PostgreSQL at %s (scripts/pg.sh)" % PG})

# ---- HTTP produce (REST v3 streamed) vs the Kafka protocol ------------------------------------
def http_produce(topic, seconds):
    """HTTP_CONNS keep-alive connections, each POSTing HTTP_BATCH records per request in the v3
    streamed form; counts records answered 200 (durable) in the measured window."""
    port = int(env.http_url.rsplit(":", 1)[1])
    st, b = http_json("GET", env.http_url + "/v3/clusters")
    cid = b["data"][0]["cluster_id"]
    path = "/v3/clusters/%s/topics/%s/records" % (cid, topic)
    rec = json.dumps({"value": {"type": "STRING", "data": "x" * HTTP_SIZE}})
    body = ("\n".join([rec] * HTTP_BATCH)).encode()
    state = {"measure": False, "stop": False, "acked": 0, "err": None}
    lock = threading.Lock()

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while not state["stop"]:
            try:
                c.request("POST", path, body, {"Content-Type": "application/json"})
                r = c.getresponse()
                text = r.read()
            except (OSError, http.client.HTTPException) as e:
                state["err"] = str(e)
                return
            ok = text.count(b'"error_code":200') if r.status == 200 else 0
            if ok != HTTP_BATCH:
                state["err"] = "HTTP %d: %s" % (r.status, text[:200])
            if state["measure"]:
                with lock:
                    state["acked"] += ok
        c.close()

    ths = [threading.Thread(target=worker, daemon=True) for _ in range(HTTP_CONNS)]
    for t in ths:
        t.start()
    time.sleep(1)  # warm-up
    b0, t0 = cpu_s(bpid), time.time()
    state["measure"] = True
    time.sleep(seconds)
    state["measure"] = False
    t1, b1 = time.time(), cpu_s(bpid)
    state["stop"] = True
    for t in ths:
        t.join(60)
    n = state["acked"]
    res = {"records": n, "seconds": t1 - t0, "rec_s": round(n / (t1 - t0)),
           "mb_s": round(n * HTTP_SIZE / 1e6 / (t1 - t0), 2), "server_cpu_s": round(b1 - b0, 3)}
    if state["err"] or n == 0:
        res["error"] = state["err"] or "nothing acknowledged"
    return res


if env.http_url:
    kafka_bin = os.path.join(BUILD, "bench/eddy-bench-kafka")
    subprocess.run([kafka_bin, "create", "--bootstrap", env.bootstrap, "--topic", "bench.http",
                    "--partitions", "8"], capture_output=True, timeout=60)
    hres = http_produce("bench.http", HTTP_DUR)
    r = subprocess.run([kafka_bin, "produce", "--bootstrap", env.bootstrap, "--server-pid",
                        str(bpid), "--topic", "bench.kafka", "--partitions", "8", "--producers",
                        str(HTTP_CONNS), "--size", str(HTTP_SIZE), "--acks", "all", "--linger",
                        "5", "--seconds", str(HTTP_DUR), "--warmup", "1"],
                       capture_output=True, text=True, timeout=120)
    try:
        kres = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        kres = {"error": "eddy-bench-kafka: exit %d %s" % (r.returncode, r.stderr[-200:])}
    for name, res in (("http", hres), ("kafka", kres)):
        if "error" not in res and res.get("records"):
            res["server_cpu_s_per_mrec"] = round(res["server_cpu_s"] / (res["records"] / 1e6), 2)
    if "error" not in hres and "error" not in kres and kres.get("rec_s"):
        hres["vs_kafka"] = round(hres["rec_s"] / kres["rec_s"], 3)
    results["http_produce"] = hres
    results["kafka_produce"] = kres
    record("http", hres)
    record("kafka", kres)
    print("produce 1 KiB acks=all: HTTP v3 streamed %s rec/s (%s s eddyd CPU/M rec), Kafka %s rec/s"
          " (%s s/M rec) → HTTP/Kafka %s"
          % (hres.get("rec_s", hres.get("error")), hres.get("server_cpu_s_per_mrec"),
             kres.get("rec_s", kres.get("error")), kres.get("server_cpu_s_per_mrec"),
             hres.get("vs_kafka")), flush=True)
else:
    record("http", {"error": "eddyd has no HTTP port"})

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
    t0, c0, p0, s0 = time.time(), count(), cpu_s(push.pid), cpu_s(sink.pid)
    wait_for(lambda: count() >= PUSH_N, "push deliveries", 600, 0.02)
    dt = time.time() - t0
    p1, s1 = cpu_s(push.pid), cpu_s(sink.pid)
    n = PUSH_N - c0
    res = {"keys": keys, "deliveries": n, "seconds": round(dt, 3), "per_s": round(n / dt),
           "per_push_cpu_s": round(n / max(1e-3, p1 - p0)),
           "sink_cpu_us_per_delivery": round((s1 - s0) / max(1, n) * 1e6, 1)}
    results["push_%dkeys_per_s" % keys] = res["per_s"]
    results["push_%dkeys" % keys] = res
    record("push%d" % keys, res)
    print("push %3d key(s): %d deliveries in %.2f s → %d/s (from the first delivery to the last);"
          " %d per eddy-push CPU-s" % (keys, n, dt, n / dt, res["per_push_cpu_s"]), flush=True)
    http_json("DELETE", push.api + "/v1/subscriptions/b%d" % keys)
sink.terminate()
push.terminate()
push.wait(60)
print("machine: %d cores, load average %.1f at start" % (results["nproc"], results["loadavg"]))
json.dump(results, open(os.path.join(OUT, "onramp.json"), "w"), indent=2)
print("wrote", os.path.join(OUT, "onramp.json"))
