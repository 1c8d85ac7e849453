"""test_metrics_prometheus — eddyd's /metrics and /healthz, checked by `promtool check metrics`
and scraped by a real Prometheus server (loopback, temp dir) that evaluates the guide's alert
`kafka_consumer_group_lag > 1000` (with `for:` shortened): the alert must fire for a group
lagging by more than 1000 messages and not for a caught-up group.
"""
import json
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


RULES = """groups:
- name: eddy
  rules:
  # the guide's alert, with `for:` shortened from 5m for the test
  - alert: KafkaConsumerLagHigh
    expr: kafka_consumer_group_lag > 1000
    for: 3s
    labels:
      severity: warning
    annotations:
      summary: "Consumer {{ $labels.consumer_group }} on {{ $labels.topic }} is lagging"
"""


def test_prometheus_alert():
    d = os.path.join(ED.tmp, "prom")
    os.makedirs(d)
    with open(os.path.join(d, "rules.yml"), "w") as f:
        f.write(RULES)
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
    ED = Eddyd().start()
    r = Results()
    try:
        setup_lag()
        r.run("GET /healthz", test_healthz)
        r.run("GET /metrics content (lag, watermarks, counters, histograms)",
              test_metrics_content)
        r.run("promtool check metrics", test_promtool)
        r.run("413 for oversized bodies, 404 JSON", test_413_and_404)
        r.run("Prometheus evaluates the lag alert", test_prometheus_alert)
        r.run("eddyd exits cleanly on SIGTERM", ED.stop_clean)
    finally:
        ED.cleanup()
    r.finish()


if __name__ == "__main__":
    main()
