"""e2e: W9's bench code works (bench/w9.py --smoke: eddyd + the four services, eddy-bench-orders
with 4 clients, a 1 s closed loop and a 1 s open loop at 40 orders/s). Asserts that orders went
through the whole chain to `completed`, that none was left unsettled or answered with an error,
and that the JSON carries every field bench/report.py reads. Figures are not judged here (the
full W9 runs only in `make bench`). Also: bad arguments get a message and a non-zero exit."""
import json, os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, "../..")
build = os.environ.get("EDDY_BUILD_DIR", os.path.join(root, "build"))
client = os.path.join(build, "bench/eddy-bench-orders")
fails = []


def check(cond, what):
    if not cond:
        fails.append(what)
        print("FAIL:", what, flush=True)


# bad input: clear message, non-zero exit, no crash
for args, needle in [([], "usage"), (["--url", "localhost:80", "--trace", "/dev/null"], "--url"),
                     (["--url", "http://127.0.0.1:1", "--trace", "/nonexistent/x"], "span log"),
                     (["--url", "http://127.0.0.1:1", "--trace", "/dev/null", "--clients", "0"],
                      "--clients"),
                     (["--url", "http://127.0.0.1:1", "--trace", "/dev/null", "--window", "0"],
                      "--window"),
                     # nothing listens on port 1: it gives up with a message, never spins
                     (["--url", "http://127.0.0.1:1", "--trace", "/dev/null", "--seconds", "1",
                       "--warmup", "0"], "stopped answering")]:
    r = subprocess.run([client] + args, capture_output=True, text=True, timeout=30)
    check(r.returncode not in (0, -6, -11) and r.returncode > 0 and needle in r.stderr,
          "eddy-bench-orders %s: exit %s, stderr %r" % (args, r.returncode, r.stderr[-200:]))
r = subprocess.run([sys.executable, os.path.join(root, "bench/w9.py"), "--windows", "1,x"],
                   capture_output=True, text=True, timeout=30)
check(r.returncode == 2 and "--windows" in r.stderr, "w9.py --windows 1,x: %s %r"
      % (r.returncode, r.stderr[-200:]))

r = subprocess.run([sys.executable, os.path.join(root, "bench/w9.py"), "--smoke"],
                   capture_output=True, text=True, timeout=300)
sys.stderr.write(r.stderr[-3000:])
line = (r.stdout.strip().splitlines() or [""])[-1]
check(r.returncode == 0 and line.startswith("{"), "w9.py --smoke: exit %s, stdout %r"
      % (r.returncode, r.stdout[-300:]))
res = json.loads(line) if line.startswith("{") else {}
check("error" not in res, "w9.py reported an error: %s" % res.get("error"))
FIELDS = ["mode", "clients", "seconds", "posted", "window_orders", "settled", "settled_s",
          "unsettled", "p50_ms", "p99_ms", "max_ms", "post_p50_ms", "post_p99_ms", "errors", "cpu_ms_order_system",
          "cpu_cores_used", "cpu_ms_order_client", "client_cpu_share"] + \
    ["cpu_ms_order_" + p for p in ("eddyd", "order", "payment", "inventory", "notification")]
for phase in ("closed", "closed2", "opensmoke"):
    ph = res.get(phase)
    check(isinstance(ph, dict), "no %s phase in %s" % (phase, sorted(res)))
    if not isinstance(ph, dict):
        continue
    for f in FIELDS:
        check(f in ph, "%s lacks %s" % (phase, f))
    check(ph.get("window_orders", 0) > 0, "%s: no order in the window" % phase)
    check(ph.get("unsettled") == 0, "%s: %s orders never completed" % (phase, ph.get("unsettled")))
    check(ph.get("errors") == 0, "%s: %s HTTP errors (%s)" % (phase, ph.get("errors"),
                                                            ph.get("last_error")))
    check(ph.get("p50_ms", 0) > 0 and ph.get("p99_ms", 0) >= ph.get("p50_ms", 0),
          "%s: p50/p99 %s/%s" % (phase, ph.get("p50_ms"), ph.get("p99_ms")))
    for p in ("eddyd", "order", "payment", "inventory", "notification"):
        check(ph.get("cpu_ms_order_" + p, -1) > 0, "%s: no CPU measured for %s" % (phase, p))
check("kept_up" in res.get("opensmoke", {}) and "stages" in res.get("opensmoke", {}),
      "the open loop lacks kept_up/stages")
check(res.get("opensmoke", {}).get("stages", {}).get("order", {}).get("inbox_commit_p50", 0) > 0,
      "no per-stage figures from the order service's /metrics: %s"
      % res.get("opensmoke", {}).get("stages"))
check(res.get("closed", {}).get("settled", 0) > 0, "the closed loop settled nothing")
check(res.get("settled_s", 0) > 0 and res.get("db") == "sqlite", "top-level fields: %s"
      % {k: res.get(k) for k in ("db", "settled_s")})
if fails:
    print("%d check(s) failed" % len(fails))
    sys.exit(1)
print("PASS w9 smoke: closed %.0f orders/s settled, open 40/s p99 %.1f ms"
      % (res["closed"]["settled_s"], res["opensmoke"]["p99_ms"]))
