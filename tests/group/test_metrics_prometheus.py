"""test_metrics_prometheus — eddyd's /metrics and /healthz, checked by `promtool check metrics`
and scraped by a real Prometheus server (loopback, temp dir) that evaluates the guide's alert
`kafka_consumer_group_lag > 1000` from the shipped deploy/prometheus/alerts.yml (with `for:`
shortened): the alert must fire for a group lagging by more than 1000 messages and not for a
caught-up group. Lag in seconds is checked against records with known timestamps, and the stall
gauge must fire for a group whose offset stands still and clear when it moves.
"""
import json
import re
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Eddyd, Results, wait_until  # noqa: E402

from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.structs import OffsetAndMetadata  # noqa: E402

ED = None
SETUP_AT = 0.0
TOPIC = "lag-t"
N = 3000


def setup_lag():
    p = KafkaProducer(bootstrap_servers=ED.bootstrap, linger_ms=5)
    for i in range(N):
        p.send(TOPIC, value=b"x%d" % i, partition=0)
    p.flush()
    p.close()
    tp = TopicPartition(TOPIC, 0)
    for group, off in (("lagging", 100), ("caughtup", N)):
        c = KafkaConsumer(bootstrap_servers=ED.bootstrap, group_id=group,
                          enable_auto_commit=False)
        c.assign([tp])
        c.commit({tp: OffsetAndMetadata(off, "")})
        c.close()


AGE_TOPIC = "age-t"
AGES = [50, 40, 30, 20, 10]  # seconds before now, one record (and batch) each


def setup_ages():
    now = int(time.time() * 1000)
    p = KafkaProducer(bootstrap_servers=ED.bootstrap)
    for a in AGES:
        p.send(AGE_TOPIC, value=b"aged", partition=0, timestamp_ms=now - a * 1000).get(30)
    p.close()
    commit("aged", AGE_TOPIC, 2)       # next unread: the record written 30 s ago
    commit("aged-done", AGE_TOPIC, 5)  # read everything


def commit(group, topic, off):
    tp = TopicPartition(topic, 0)
    c = KafkaConsumer(bootstrap_servers=ED.bootstrap, group_id=group, enable_auto_commit=False)
    c.assign([tp])
    c.commit({tp: OffsetAndMetadata(off, "")})
    c.close()


def gauge(body, name, group, topic):
    want = '%s{consumer_group="%s",topic="%s",partition="0"} ' % (name, group, topic)
    vals = [float(ln[len(want):]) for ln in body.splitlines() if ln.startswith(want)]
    assert len(vals) == 1, (name, group, vals)
    return vals[0]


def test_lag_seconds():
    st, body = ED.http_get("/metrics")
    age = gauge(body, "kafka_consumer_group_lag_seconds", "aged", AGE_TOPIC)
    # the record at the committed offset was written 30 s before setup_ages ran
    assert 30 <= age <= 30 + (time.time() - SETUP_AT) + 1, age
    assert gauge(body, "kafka_consumer_group_lag_seconds", "aged-done", AGE_TOPIC) == 0
    assert gauge(body, "kafka_consumer_group_lag", "aged", AGE_TOPIC) == 3
    # lag counted the same way as the count: a group without a commit on a partition has no row
    assert 'consumer_group="nobody"' not in body


def test_stall_fires_and_clears():
    # metrics.lag.stall.ms=1000: the first scrape starts the clock, a later one sees no movement
    st, body = ED.http_get("/metrics")
    time.sleep(1.5)
    st, body = ED.http_get("/metrics")
    assert gauge(body, "kafka_consumer_group_stalled", "aged", AGE_TOPIC) == 1
    assert gauge(body, "kafka_consumer_group_stalled", "aged-done", AGE_TOPIC) == 0  # no lag
    commit("aged", AGE_TOPIC, 3)  # progress clears it
    st, body = ED.http_get("/metrics")
    assert gauge(body, "kafka_consumer_group_stalled", "aged", AGE_TOPIC) == 0
    age = gauge(body, "kafka_consumer_group_lag_seconds", "aged", AGE_TOPIC)
    assert 20 <= age < 30, age  # now the record written 20 s before setup
    time.sleep(1.5)
    st, body = ED.http_get("/metrics")
    assert gauge(body, "kafka_consumer_group_stalled", "aged", AGE_TOPIC) == 1
    commit("aged", AGE_TOPIC, 5)  # caught up: no lag, never stalled
    time.sleep(1.5)
    st, body = ED.http_get("/metrics")
    assert gauge(body, "kafka_consumer_group_stalled", "aged", AGE_TOPIC) == 0
    assert gauge(body, "kafka_consumer_group_lag_seconds", "aged", AGE_TOPIC) == 0


def test_disk_families():
    st, body = ED.http_get("/metrics")
    assert metric_lines(body, "eddy_log_dir_free_bytes"), "no eddy_log_dir_free_bytes"
    total = float(metric_lines(body, "eddy_log_dir_total_bytes")[0].split()[-1])
    free = float(metric_lines(body, "eddy_log_dir_free_bytes")[0].split()[-1])
    assert 0 < free <= total, (free, total)
    size = [ln for ln in metric_lines(body, "eddy_topic_size_bytes") if 'topic="lag-t"' in ln]
    assert size and float(size[0].split()[-1]) > N * 2, size  # 3000 records of 3-5 bytes + headers


def metric_lines(body, name):
    return [ln for ln in body.splitlines() if ln.startswith(name + "{") or ln.startswith(name + " ")]


def test_healthz():
    st, body = ED.http_get("/healthz")
    assert st == 200 and json.loads(body) == {"status": "ok"}, (st, body)


def test_metrics_content():
    st, body = ED.http_get("/metrics")
    assert st == 200
    lag = metric_lines(body, "kafka_consumer_group_lag")
    assert 'kafka_consumer_group_lag{consumer_group="lagging",topic="lag-t",partition="0"} %d' \
        % (N - 100) in lag, lag
    assert 'kafka_consumer_group_lag{consumer_group="caughtup",topic="lag-t",partition="0"} 0' \
        in lag, lag
    assert 'kafka_partition_high_watermark{topic="lag-t",partition="0"} %d' % N in body
    assert 'eddy_topic_produced_records_total{topic="lag-t"} %d' % N in body
    assert 'eddy_request_duration_seconds_bucket{api="Produce",le="+Inf"}' in body
    assert metric_lines(body, "eddy_connections")
    assert metric_lines(body, "eddy_uptime_seconds")


def test_promtool():
    st, body = ED.http_get("/metrics")
    r = subprocess.run(["promtool", "check", "metrics"], input=body.encode(),
                       capture_output=True)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


def test_413_and_404():
    big = b"x" * (17 << 20)
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % ED.http_port, data=big,
                                 method="POST")
    try:
        urllib.request.urlopen(req, timeout=20)
        raise AssertionError("oversized body accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 413, e.code
        assert json.loads(e.read())["error_code"] == 413
    except (ConnectionResetError, BrokenPipeError, urllib.error.URLError):
        pass  # the server may close before the client finishes sending
    try:
        ED.http_get("/no/such/route")
        raise AssertionError("404 expected")
    except urllib.error.HTTPError as e:
        assert e.code == 404


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def shipped_rules():
    """deploy/prometheus/alerts.yml as shipped, with every `for:` shortened to 3 s."""
    with open(os.path.join(ROOT, "deploy", "prometheus", "alerts.yml")) as f:
        text = f.read()
    assert "expr: kafka_consumer_group_lag > 1000" in text  # the guide's rule, unchanged
    return re.sub(r"(?m)^(\s+for:) \S+$", r"\1 3s", text)


def test_prometheus_alert():
    d = os.path.join(ED.tmp, "prom")
    os.makedirs(d)
    with open(os.path.join(d, "rules.yml"), "w") as f:
        f.write(shipped_rules())
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "rule_files: [rules.yml]\n"
                "scrape_configs:\n- job_name: eddyd\n  static_configs:\n"
                "  - targets: ['127.0.0.1:%d']\n" % ED.http_port)
    r = subprocess.run(["promtool", "check", "rules", os.path.join(d, "rules.yml")],
                       capture_output=True)
    assert r.returncode == 0, r.stdout + r.stderr
    port = free_port()
    log = open(os.path.join(d, "prometheus.log"), "wb")
    prom = subprocess.Popen(["prometheus", "--config.file=" + os.path.join(d, "prometheus.yml"),
                             "--storage.tsdb.path=" + os.path.join(d, "tsdb"),
                             "--web.listen-address=127.0.0.1:%d" % port],
                            stdout=log, stderr=log, cwd=d)
    try:
        def alerts():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/alerts" % port,
                                            timeout=5) as resp:
                    return json.loads(resp.read())["data"]["alerts"]
            except (urllib.error.URLError, ConnectionError):
                return None

        def firing():
            a = alerts() or []
            return [x for x in a if x["labels"].get("consumer_group") == "lagging"
                    and x["state"] == "firing"]
        got = wait_until(firing, 90, "KafkaConsumerLagHigh firing for group 'lagging'", 0.5)
        assert got[0]["labels"]["topic"] == TOPIC
        assert got[0]["labels"]["alertname"] == "KafkaConsumerLagHigh"
        a = alerts()
        assert not [x for x in a if x["labels"].get("consumer_group") == "caughtup"], a
        # the scrape itself is healthy
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/targets" % port) as resp:
            t = json.loads(resp.read())["data"]["activeTargets"]
        assert t and t[0]["health"] == "up", t
    finally:
        prom.terminate()
        try:
            prom.wait(10)
        except subprocess.TimeoutExpired:
            prom.kill()
        log.close()
        shutil.rmtree(os.path.join(d, "tsdb"), ignore_errors=True)


def main():
    global ED
    global SETUP_AT
    ED = Eddyd(sets=["metrics.lag.stall.ms=1000"]).start()
    r = Results()
    try:
        setup_lag()
        SETUP_AT = time.time()
        setup_ages()
        r.run("GET /healthz", test_healthz)
        r.run("GET /metrics content (lag, watermarks, counters, histograms)",
              test_metrics_content)
        r.run("lag in seconds from record timestamps", test_lag_seconds)
        r.run("stall gauge fires while the offset stands, clears when it moves",
              test_stall_fires_and_clears)
        r.run("disk and per-topic storage families", test_disk_families)
        r.run("promtool check metrics", test_promtool)
        r.run("413 for oversized bodies, 404 JSON", test_413_and_404)
        r.run("Prometheus evaluates the lag alert", test_prometheus_alert)
        r.run("eddyd exits cleanly on SIGTERM", ED.stop_clean)
    finally:
        ED.cleanup()
    r.finish()


if __name__ == "__main__":
    main()
