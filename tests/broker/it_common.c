/* it_common — librdkafka helpers for the C integration tests (see it_common.h). */
#include "it_common.h"

#include <string.h>

int it_failures;

long it_env_long(const char *name, long def)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : def;
}

void it_conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "librdkafka config %s=%s: %s\n", k, v, err);
        abort();
    }
}

rd_kafka_conf_t *it_conf(const char *bootstrap)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    it_conf_set(c, "bootstrap.servers", bootstrap);
    it_conf_set(c, "reconnect.backoff.ms", "20");
    it_conf_set(c, "reconnect.backoff.max.ms", "500");
    return c;
}

int it_wait_topic(rd_kafka_t *rk, const char *topic, int npart, int timeout_ms)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int64_t deadline = eh_now_ms() + timeout_ms;
    int rc = -1;
    const char *last = "no answer";
    while (eh_now_ms() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 2000);
        if (err) {
            last = rd_kafka_err2str(err);
        } else {
            for (int i = 0; i < md->topic_cnt; i++) {
                if (strcmp(md->topics[i].topic, topic)) continue;
                if (md->topics[i].err)
                    last = rd_kafka_err2str(md->topics[i].err);
                else if (md->topics[i].partition_cnt == npart)
                    rc = 0;
                else
                    last = "wrong partition count";
            }
            rd_kafka_metadata_destroy(md);
        }
        if (rc == 0) break;
        eh_sleep_ms(100);
    }
    if (rc) fprintf(stderr, "topic %s with %d partitions not visible: %s\n", topic, npart, last);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

int it_consume_all(const char *bootstrap, const char *topic, int npart, it_msg_cb cb, void *opaque,
                   int idle_timeout_ms)
{
    rd_kafka_conf_t *c = it_conf(bootstrap);
    char err[512];
    it_conf_set(c, "enable.partition.eof", "true");
    it_conf_set(c, "fetch.wait.max.ms", "100");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new(consumer): %s\n", err);
        return -1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    int *eof = calloc((size_t)npart, sizeof *eof);
    int neof = 0, rc = -1, stopped = 0;
    for (int p = 0; p < npart; p++)
        if (rd_kafka_consume_start_queue(rkt, p, RD_KAFKA_OFFSET_BEGINNING, q) == -1) {
            fprintf(stderr, "consume_start %s[%d]: %s\n", topic, p,
                    rd_kafka_err2str(rd_kafka_last_error()));
            goto out;
        }
    int64_t last_event = eh_now_ms();
    while (neof < npart && !stopped) {
        rd_kafka_message_t *m = rd_kafka_consume_queue(q, 200);
        if (!m) {
            if (eh_now_ms() - last_event > idle_timeout_ms) {
                fprintf(stderr, "consume %s: nothing for %d ms (%d/%d partitions at EOF)\n", topic,
                        idle_timeout_ms, neof, npart);
                goto out;
            }
            continue;
        }
        last_event = eh_now_ms();
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < npart && !eof[m->partition]) {
                eof[m->partition] = 1;
                neof++;
            }
        } else if (m->err) {
            fprintf(stderr, "consume %s[%d]: %s\n", topic, m->partition,
                    rd_kafka_message_errstr(m));
            if (m->err != RD_KAFKA_RESP_ERR__TRANSPORT &&
                m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
                rd_kafka_message_destroy(m);
                goto out;
            }
        } else {
            if (m->partition >= 0 && m->partition < npart && eof[m->partition]) {
                /* A message after EOF: only possible if data arrived meanwhile. */
                eof[m->partition] = 0;
                neof--;
            }
            stopped = cb(m, opaque);
        }
        rd_kafka_message_destroy(m);
    }
    rc = 0;
out:
    for (int p = 0; p < npart; p++) rd_kafka_consume_stop(rkt, p);
    free(eof);
    rd_kafka_queue_destroy(q);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return rc;
}

int it_finish(const char *name)
{
    if (it_failures) {
        printf("FAIL %s (%d checks failed)\n0 passed, 1 failed\n", name, it_failures);
        return 1;
    }
    printf("PASS %s\n1 passed, 0 failed\n", name);
    return 0;
}
