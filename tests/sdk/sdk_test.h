/* sdk_test.h — helpers for the libeddy unit tests (tests/sdk): an in-process librdkafka mock
 * cluster, per-test PostgreSQL schemas on the server scripts/pg.sh starts, temp SQLite files,
 * and reading a topic back to the end. Header-only, static. */
#ifndef EDDY_TESTS_SDK_TEST_H
#define EDDY_TESTS_SDK_TEST_H

#include <eddy/eddy.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PG_BASE "postgresql://eddy:eddy@127.0.0.1:5432/eddy"

typedef struct mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    const char *bootstrap;
} mock;

static inline void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline int mock_start(mock *m)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "log_level", "2", err, sizeof err);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!m->rk) return -1;
    m->mc = rd_kafka_mock_cluster_new(m->rk, 1);
    if (!m->mc) return -1;
    m->bootstrap = rd_kafka_mock_cluster_bootstraps(m->mc);
    return 0;
}

static inline void mock_topic(mock *m, const char *t, int parts)
{
    rd_kafka_mock_topic_create(m->mc, t, parts, 1);
}

static inline void mock_stop(mock *m)
{
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->rk);
}

/* A store URL for a fresh, empty store: "sqlite" → temp file; "postgres" → a new schema. */
typedef struct tstore {
    char url[512];
    char schema[64];
    char path[256];
    int pg;
} tstore;

static inline int tstore_make(tstore *s, int pg)
{
    memset(s, 0, sizeof *s);
    s->pg = pg;
    char id[37];
    eddy_uuid_generate(id);
    if (!pg) {
        snprintf(s->path, sizeof s->path, "%s/eddy-sdk-test-%s.db",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", id);
        snprintf(s->url, sizeof s->url, "sqlite:%s", s->path);
        return 0;
    }
    snprintf(s->schema, sizeof s->schema, "t_%.8s%.4s", id, id + 9);
    PGconn *c = PQconnectdb(PG_BASE);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "PostgreSQL unavailable at %s (run scripts/pg.sh): %s\n", PG_BASE,
                PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", s->schema);
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PQfinish(c);
    snprintf(s->url, sizeof s->url, "%s?options=-csearch_path%%3D%s", PG_BASE, s->schema);
    return ok ? 0 : -1;
}

static inline void tstore_drop(tstore *s)
{
    if (!s->pg) {
        char p[300];
        unlink(s->path);
        snprintf(p, sizeof p, "%s-wal", s->path);
        unlink(p);
        snprintf(p, sizeof p, "%s-shm", s->path);
        unlink(p);
        return;
    }
    PGconn *c = PQconnectdb(PG_BASE);
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", s->schema);
    PQclear(PQexec(c, sql));
    PQfinish(c);
}

/* Reads every message of topic (all partitions) from the beginning to its current end. */
typedef struct tmsg {
    char *key, *value;
    int partition;
    long long offset;
    rd_kafka_headers_t *headers;
} tmsg;

static inline int topic_read(const char *bootstrap, const char *topic, tmsg **out)
{
    char err[256], gid[64], u[37];
    eddy_uuid_generate(u);
    snprintf(gid, sizeof gid, "reader-%s", u);
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(c, "group.id", gid, err, sizeof err);
    rd_kafka_conf_set(c, "enable.partition.eof", "true", err, sizeof err);
    rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = 0, cap = 0, pending = 0;
    *out = NULL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == 0 && md->topic_cnt == 1 && !md->topics[0].err)
        for (int p = 0; p < md->topics[0].partition_cnt; p++) {
            int64_t lo = 0, hi = 0;
            rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000);
            if (hi > lo) {
                rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
                pending++;
            }
        }
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    for (int idle = 0; pending > 0 && idle < 100;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle++;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            pending--;
        else if (!m->err) {
            if (n == cap) *out = realloc(*out, (size_t)(cap = cap ? cap * 2 : 16) * sizeof(tmsg));
            tmsg *t = &(*out)[n++];
            t->key = m->key ? strndup(m->key, m->key_len) : NULL;
            t->value = m->payload ? strndup(m->payload, m->len) : NULL;
            t->partition = m->partition;
            t->offset = m->offset;
            rd_kafka_headers_t *h = NULL;
            t->headers =
                rd_kafka_message_headers(m, &h) == 0 && h ? rd_kafka_headers_copy(h) : NULL;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

static inline void tmsgs_free(tmsg *m, int n)
{
    for (int i = 0; i < n; i++) {
        free(m[i].key);
        free(m[i].value);
        if (m[i].headers) rd_kafka_headers_destroy(m[i].headers);
    }
    free(m);
}

static inline char *tmsg_header(const tmsg *m, const char *name)
{
    const void *v;
    size_t n;
    if (!m->headers || rd_kafka_header_get_last(m->headers, name, &v, &n)) return NULL;
    return strndup(v, n);
}

/* Produces a raw message (value as given) with optional headers from an event. */
static inline int produce_raw(const char *bootstrap, const char *topic, const char *key,
                              const char *value, size_t len)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    rd_kafka_resp_err_t e =
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                          RD_KAFKA_V_VALUE((void *)value, len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    rd_kafka_flush(rk, 10000);
    int left = rd_kafka_outq_len(rk);
    rd_kafka_destroy(rk);
    return e || left ? -1 : 0;
}

#endif
