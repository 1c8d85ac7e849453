/* test_sdk_service — the libeddy service runtime against librdkafka's mock cluster, on SQLite
 * and PostgreSQL: handlers per (topic, type), the inbox skipping a redelivered eventId,
 * correlation/causation/trace carried into published events, transient failures retried then
 * dead-lettered with the documented fields, permanent failures and poison messages (not JSON,
 * missing fields, unknown version) dead-lettered at once, the consumer moving on, metrics;
 * http.threads: concurrent POSTs on a pool of HTTP threads each stored once, bad values refused. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "sdk_test.h"

static mock g_mock;
static char g_out[64];
static atomic_int calls_ok_e1, calls_flaky, calls_broken, calls_bad, calls_rows;
static char g_e1[37];

static int setup(void **state)
{
    return mock_start(&g_mock);
}

static int teardown(void **state)
{
    mock_stop(&g_mock);
    return 0;
}

static int h_ok(eddy_ctx *ctx, void *arg)
{
    const eddy_event *ev = eddy_ctx_event(ctx);
    if (!strcmp(ev->event_id, g_e1)) atomic_fetch_add(&calls_ok_e1, 1);
    const char *p[] = {ev->event_id};
    int rc = eddy_ctx_exec(ctx, "INSERT INTO seen (event_id) VALUES ($1)", 1, p);
    if (rc < 0) return rc;
    return eddy_ctx_publish(ctx, g_out, ev->key, "thing.done", "1.0",
                            json_pack("{s:s}", "of", ev->event_id));
}

static int h_flaky(eddy_ctx *ctx, void *arg)
{
    atomic_fetch_add(&calls_flaky, 1);
    if (eddy_ctx_attempt(ctx) < 3)
        return eddy_ctx_fail(ctx, EDDY_ERR_TRANSIENT, "flaky %d", eddy_ctx_attempt(ctx));
    const char *p[] = {eddy_ctx_event(ctx)->event_id};
    return eddy_ctx_exec(ctx, "INSERT INTO seen (event_id) VALUES ($1)", 1, p) < 0
               ? EDDY_ERR_TRANSIENT
               : 0;
}

static int h_broken(eddy_ctx *ctx, void *arg)
{
    atomic_fetch_add(&calls_broken, 1);
    /* state written before failing must be rolled back */
    const char *p[] = {eddy_ctx_event(ctx)->event_id};
    eddy_ctx_exec(ctx, "INSERT INTO seen (event_id) VALUES ($1)", 1, p);
    return eddy_ctx_fail(ctx, EDDY_ERR_TRANSIENT, "downstream unavailable");
}

static int h_bad(eddy_ctx *ctx, void *arg)
{
    atomic_fetch_add(&calls_bad, 1);
    return eddy_ctx_fail(ctx, EDDY_ERR_PERMANENT, "amount must be positive");
}

/* Returns eddy_ctx_exec's row count (1): success under the handler contract (>= 0), not a
 * dead letter. */
static int h_rows(eddy_ctx *ctx, void *arg)
{
    atomic_fetch_add(&calls_rows, 1);
    const char *p[] = {eddy_ctx_event(ctx)->event_id};
    return eddy_ctx_exec(ctx, "INSERT INTO seen (event_id) VALUES ($1)", 1, p);
}

static void *run_svc(void *arg)
{
    eddy_service *svc = arg;
    /* one script for both databases: the sqlite: comment is SQLite's only */
    if (eddy_service_start(svc, "CREATE TABLE IF NOT EXISTS seen (event_id TEXT PRIMARY KEY)"
                                " /*sqlite: WITHOUT ROWID*/;") < 0)
        return (void *)1;
    return (void *)(intptr_t)eddy_service_run(svc);
}

static char *envelope(const char *type, const char *version, const char *id, const char *corr,
                      const char *tp)
{
    eddy_event *ev = eddy_event_new(type, version, "test", json_pack("{s:i}", "n", 1));
    if (id) eddy_event_set(&ev->event_id, id);
    if (corr) eddy_event_set(&ev->correlation_id, corr);
    if (tp) eddy_event_set(&ev->traceparent, tp);
    char *s = eddy_event_to_json(ev);
    eddy_event_free(ev);
    return s;
}

static int count_seen(const char *url, const char *id)
{
    eddy_store *st;
    if (eddy_store_open(url, &st) < 0) return -1;
    eddy_rows *r = NULL;
    const char *p[] = {id};
    int n = -1;
    if (eddy_store_query(st, "SELECT COUNT(*) FROM seen WHERE event_id = $1", 1, p, &r) > 0)
        n = atoi(eddy_rows_get(r, 0, 0));
    eddy_rows_free(r);
    eddy_store_close(st);
    return n;
}

static json_t *dlq_for(tmsg *m, int n, const char *needle)
{
    for (int i = 0; i < n; i++)
        if (strstr(m[i].value, needle)) return json_loads(m[i].value, 0, NULL);
    return NULL;
}

static void runtime(int pg)
{
    tstore ts;
    assert_int_equal(tstore_make(&ts, pg), 0);
    char u[37], in[64], name[64], dlq[80];
    eddy_uuid_generate(u);
    snprintf(in, sizeof in, "in-%.8s", u);
    snprintf(g_out, sizeof g_out, "out-%.8s", u);
    snprintf(name, sizeof name, "svc-%.8s", u);
    snprintf(dlq, sizeof dlq, "%s.dlq", in);
    mock_topic(&g_mock, in, 3);
    mock_topic(&g_mock, g_out, 3);
    mock_topic(&g_mock, dlq, 1);
    atomic_store(&calls_ok_e1, 0);
    atomic_store(&calls_flaky, 0);
    atomic_store(&calls_broken, 0);
    atomic_store(&calls_bad, 0);
    atomic_store(&calls_rows, 0);

    eddy_service *svc;
    assert_int_equal(eddy_service_new(name, &svc), 0);
    eddy_service_set(svc, "bootstrap.servers", g_mock.bootstrap);
    eddy_service_set(svc, "store", ts.url);
    eddy_service_set(svc, "http.listen", "off");
    eddy_service_set(svc, "retry.max.attempts", "3");
    eddy_service_set(svc, "retry.backoff.ms", "10");
    eddy_service_set(svc, "topic.create", "0");
    assert_int_equal(eddy_service_on(svc, in, "thing.ok", "1", h_ok, NULL), 0);
    assert_int_equal(eddy_service_on(svc, in, "thing.flaky", "1", h_flaky, NULL), 0);
    assert_int_equal(eddy_service_on(svc, in, "thing.broken", "1", h_broken, NULL), 0);
    assert_int_equal(eddy_service_on(svc, in, "thing.bad", "1", h_bad, NULL), 0);
    assert_int_equal(eddy_service_on(svc, in, "thing.rows", "1", h_rows, NULL), 0);
    pthread_t th;
    pthread_create(&th, NULL, run_svc, svc);

    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    eddy_uuid_generate(g_e1);
    char e2[37], flaky[37], broken[37], rows[37];
    eddy_uuid_generate(e2);
    eddy_uuid_generate(rows);
    eddy_uuid_generate(flaky);
    eddy_uuid_generate(broken);
    char *m1 = envelope("thing.ok", "1.0", g_e1, "corr-e1", tp);
    char *m1dup = strdup(m1);
    char *mf = envelope("thing.flaky", "1.0", flaky, NULL, NULL);
    char *mb = envelope("thing.broken", "1.0", broken, "corr-broken", NULL);
    char *mbad = envelope("thing.bad", "1.0", NULL, "corr-bad", NULL);
    char *mver = envelope("thing.ok", "2.0", NULL, "corr-v2", NULL);
    char *mother = envelope("thing.unrelated", "1.0", NULL, NULL, NULL);
    char *m2 = envelope("thing.ok", "1", e2, NULL, NULL);
    char *mrows = envelope("thing.rows", "1.0", rows, "corr-rows", NULL);
    const char *missing = "{\"eventType\":\"thing.ok\",\"version\":\"1.0\",\"payload\":{}}";
    const char *seq[] = {m1,      m1dup, mf,     mb,    mbad, "this is not json",
                         missing, mver,  mother, mrows, m2};
    for (size_t i = 0; i < sizeof seq / sizeof *seq; i++)
        assert_int_equal(produce_raw(g_mock.bootstrap, in, "same-key", seq[i], strlen(seq[i])), 0);

    int done = 0;
    for (int i = 0; i < 600 && !done; i++) {
        done = count_seen(ts.url, e2) == 1;
        if (!done) msleep(100);
    }
    assert_true(done);
    eddy_service_stop(svc);
    void *ret;
    pthread_join(th, &ret);
    assert_int_equal((intptr_t)ret, 0);

    /* inbox: the redelivered eventId ran once */
    assert_int_equal(atomic_load(&calls_ok_e1), 1);
    assert_int_equal(count_seen(ts.url, g_e1), 1);
    assert_int_equal(count_seen(ts.url, flaky), 1);
    if (!pg) { /* the schema's sqlite: comment became part of the table's definition */
        eddy_store *st;
        eddy_rows *r = NULL;
        assert_int_equal(eddy_store_open(ts.url, &st), 0);
        assert_true(eddy_store_query(st, "SELECT rowid FROM seen", 0, NULL, &r) < 0);
        assert_non_null(strstr(eddy_store_error(st), "rowid")); /* a WITHOUT ROWID table */
        eddy_rows_free(r);
        eddy_store_close(st);
    }
    assert_int_equal(atomic_load(&calls_flaky), 3);
    assert_int_equal(atomic_load(&calls_broken), 3);
    assert_int_equal(count_seen(ts.url, broken), 0); /* rolled back every time */
    assert_int_equal(atomic_load(&calls_bad), 1);
    /* a handler returning 1 (rows changed) committed once: success, not a dead letter */
    assert_int_equal(atomic_load(&calls_rows), 1);
    assert_int_equal(count_seen(ts.url, rows), 1);

    char *metrics = eddy_service_metrics_text(svc);
    assert_non_null(strstr(metrics, "eddy_handler_retried_total{service=\""));
    assert_non_null(strstr(metrics, "event_type=\"thing.flaky\"} 2"));
    assert_non_null(strstr(metrics, "eddy_handler_dead_lettered_total"));
    assert_non_null(strstr(metrics, "eddy_handler_duplicates_total"));
    assert_non_null(strstr(metrics, "eddy_handler_processing_seconds_bucket"));
    assert_non_null(strstr(metrics, "quantile=\"0.99\""));
    free(metrics);
    eddy_service_free(svc);

    /* correlation, causation and trace carried into the published event */
    tmsg *m;
    int n = 0;
    for (int i = 0; i < 100 && n < 2; i++) {
        if (n) tmsgs_free(m, n);
        n = topic_read(g_mock.bootstrap, g_out, &m);
        if (n < 2) msleep(100);
    }
    assert_int_equal(n, 2); /* e1 (once) and e2: flaky is not thing.ok, v2 went to the DLQ */
    int found = 0;
    for (int i = 0; i < n; i++) {
        eddy_event *ev;
        char *why;
        assert_int_equal(eddy_event_from_json(m[i].value, strlen(m[i].value), &ev, &why), 0);
        if (!strcmp(json_string_value(json_object_get(ev->payload, "of")), g_e1)) {
            found++;
            assert_string_equal(ev->correlation_id, "corr-e1");
            assert_string_equal(ev->causation_id, g_e1);
            assert_string_equal(ev->source, name);
            assert_memory_equal(ev->traceparent, tp, 35);               /* same trace */
            assert_memory_not_equal(ev->traceparent + 36, tp + 36, 16); /* new span */
        }
        eddy_event_free(ev);
    }
    tmsgs_free(m, n);
    assert_int_equal(found, 1);

    /* the DLQ: broken (3 attempts), bad (1), poison (0) x2, unknown version (0); not rows */
    n = topic_read(g_mock.bootstrap, dlq, &m);
    assert_int_equal(n, 5);
    assert_null(dlq_for(m, n, "corr-rows"));
    json_t *d = dlq_for(m, n, broken);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "reason")), "retries_exhausted");
    assert_string_equal(json_string_value(json_object_get(d, "error")), "downstream unavailable");
    assert_int_equal(json_integer_value(json_object_get(d, "attemptCount")), 3);
    assert_string_equal(json_string_value(json_object_get(d, "sourceTopic")), in);
    assert_true(json_is_integer(json_object_get(d, "sourcePartition")));
    assert_true(json_integer_value(json_object_get(d, "sourceOffset")) >= 0);
    assert_int_equal(
        eddy_time_parse_rfc3339(json_string_value(json_object_get(d, "failedAt")), NULL), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(d, "originalEvent"), "eventId")), broken);
    json_decref(d);
    d = dlq_for(m, n, "corr-bad");
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "reason")), "permanent");
    assert_int_equal(json_integer_value(json_object_get(d, "attemptCount")), 1);
    json_decref(d);
    d = dlq_for(m, n, "this is not json");
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "reason")), "poison");
    assert_non_null(strstr(json_string_value(json_object_get(d, "error")), "not JSON"));
    assert_string_equal(json_string_value(json_object_get(d, "originalEvent")), "this is not json");
    json_decref(d);
    d = dlq_for(m, n, "\"payload\":{}}");
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "reason")), "poison");
    assert_non_null(strstr(json_string_value(json_object_get(d, "error")), "eventId"));
    json_decref(d);
    d = dlq_for(m, n, "corr-v2");
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "reason")), "unknown_version");
    json_decref(d);
    tmsgs_free(m, n);

    free(m1);
    free(m1dup);
    free(mf);
    free(mb);
    free(mbad);
    free(mver);
    free(mother);
    free(m2);
    free(mrows);
    tstore_drop(&ts);
}

static void test_runtime_sqlite(void **state)
{
    runtime(0);
}
static void test_runtime_postgres(void **state)
{
    runtime(1);
}

/* ---- batched inbox transactions (issue 18) ---- */
static atomic_int calls_batch, calls_batch_fail;
static char g_fail_id[37];

/* records n in table seq (order of commit = rowid order) and publishes one event; the record
 * g_fail_id fails transiently on its first attempt after writing and publishing, so its
 * savepoint must take both back */
static int h_batch(eddy_ctx *ctx, void *arg)
{
    const eddy_event *ev = eddy_ctx_event(ctx);
    atomic_fetch_add(&calls_batch, 1);
    char n[24];
    snprintf(n, sizeof n, "%lld", (long long)json_integer_value(json_object_get(ev->payload, "n")));
    const char *p[] = {ev->event_id, n};
    int rc = eddy_ctx_exec(ctx, "INSERT INTO seq (event_id, n) VALUES ($1, $2)", 2, p);
    if (rc < 0) return rc;
    rc = eddy_ctx_publish(ctx, g_out, ev->key, "thing.done", "1.0", json_pack("{s:s}", "of", n));
    if (rc < 0) return rc;
    if (!strcmp(ev->event_id, g_fail_id) && eddy_ctx_attempt(ctx) == 1) {
        atomic_fetch_add(&calls_batch_fail, 1);
        return eddy_ctx_fail(ctx, EDDY_RETRY, "first attempt fails");
    }
    return 0;
}

static void *run_batch_svc(void *arg)
{
    eddy_service *svc = arg;
    if (eddy_service_start(svc, "CREATE TABLE IF NOT EXISTS seq (k INTEGER PRIMARY KEY "
                                "AUTOINCREMENT, event_id TEXT UNIQUE, n INTEGER);") < 0)
        return (void *)1;
    return (void *)(intptr_t)eddy_service_run(svc);
}

static void *run_batch_svc_pg(void *arg)
{
    eddy_service *svc = arg;
    if (eddy_service_start(svc, "CREATE TABLE IF NOT EXISTS seq (k BIGSERIAL PRIMARY KEY,"
                                " event_id TEXT UNIQUE, n INTEGER);") < 0)
        return (void *)1;
    return (void *)(intptr_t)eddy_service_run(svc);
}

static void batched(int pg)
{
    enum { N = 40, FAIL_AT = 17, DUP_OF = 5 };
    tstore ts;
    assert_int_equal(tstore_make(&ts, pg), 0);
    char u[37], in[64], name[64];
    eddy_uuid_generate(u);
    snprintf(in, sizeof in, "bin-%.8s", u);
    snprintf(g_out, sizeof g_out, "bout-%.8s", u);
    snprintf(name, sizeof name, "bsvc-%.8s", u);
    mock_topic(&g_mock, in, 1);
    mock_topic(&g_mock, g_out, 1);
    atomic_store(&calls_batch, 0);
    atomic_store(&calls_batch_fail, 0);
    /* every record on the topic before the service starts: they arrive as batches */
    char ids[N][37];
    for (int i = 0; i < N; i++) {
        eddy_uuid_generate(ids[i]);
        eddy_event *ev = eddy_event_new("thing.seq", "1.0", "test", json_pack("{s:i}", "n", i));
        eddy_event_set(&ev->event_id, ids[i]);
        char *v = eddy_event_to_json(ev);
        eddy_event_free(ev);
        assert_int_equal(produce_raw(g_mock.bootstrap, in, "k", v, strlen(v)), 0);
        if (i == DUP_OF) /* a redelivery of record 5 right after it */
            assert_int_equal(produce_raw(g_mock.bootstrap, in, "k", v, strlen(v)), 0);
        free(v);
    }
    snprintf(g_fail_id, sizeof g_fail_id, "%s", ids[FAIL_AT]);

    eddy_service *svc;
    assert_int_equal(eddy_service_new(name, &svc), 0);
    eddy_service_set(svc, "bootstrap.servers", g_mock.bootstrap);
    eddy_service_set(svc, "store", ts.url);
    eddy_service_set(svc, "http.listen", "off");
    eddy_service_set(svc, "retry.max.attempts", "3");
    eddy_service_set(svc, "retry.backoff.ms", "10");
    eddy_service_set(svc, "topic.create", "0");
    eddy_service_set(svc, "inbox.batch.max", "64");
    assert_int_equal(eddy_service_on(svc, in, "thing.seq", "1", h_batch, NULL), 0);
    pthread_t th;
    pthread_create(&th, NULL, pg ? run_batch_svc_pg : run_batch_svc, svc);
    eddy_store *st = NULL;
    int done = 0;
    for (int i = 0; i < 600 && !done; i++) {
        msleep(100);
        if (!st && eddy_store_open(ts.url, &st) < 0) st = NULL;
        eddy_rows *r = NULL;
        if (st && eddy_store_query(st, "SELECT COUNT(*) FROM seq", 0, NULL, &r) > 0)
            done = atoi(eddy_rows_get(r, 0, 0)) == N;
        eddy_rows_free(r);
    }
    assert_true(done);
    /* the relay published every record's event before we look at the topic */
    tmsg *m = NULL;
    int n = 0;
    for (int i = 0; i < 100 && n < N; i++) {
        if (n) tmsgs_free(m, n);
        n = topic_read(g_mock.bootstrap, g_out, &m);
        if (n < N) msleep(100);
    }
    char *metrics = eddy_service_metrics_text(svc);
    eddy_service_stop(svc);
    void *ret;
    pthread_join(th, &ret);
    assert_int_equal((intptr_t)ret, 0);

    /* exactly once in effect: each record's row and event once, the failed attempt's row and
     * event rolled back to its savepoint, the duplicate skipped by the inbox */
    assert_int_equal(n, N);
    tmsgs_free(m, n);
    assert_int_equal(atomic_load(&calls_batch_fail), 1);
    assert_int_equal(atomic_load(&calls_batch), N + 1); /* + the failed record's retry */
    /* order kept around the failure: commit order (k) is record order (n) */
    eddy_rows *r = NULL;
    assert_int_equal(eddy_store_query(st, "SELECT n FROM seq ORDER BY k", 0, NULL, &r), N);
    for (int i = 0; i < N; i++) assert_int_equal(atoi(eddy_rows_get(r, i, 0)), i);
    eddy_rows_free(r);
    assert_int_equal(eddy_store_query(st, "SELECT COUNT(*) FROM eddy_inbox", 0, NULL, &r), 1);
    assert_int_equal(atoi(eddy_rows_get(r, 0, 0)), N);
    eddy_rows_free(r);
    eddy_store_close(st);

    /* batches happened, and the per-stage metrics are there */
    assert_non_null(strstr(metrics, "event_type=\"thing.seq\"} 1\n")); /* 1 duplicate */
    assert_non_null(strstr(metrics, "eddy_inbox_commit_seconds_bucket{service="));
    assert_non_null(strstr(metrics, "eddy_outbox_delivery_seconds_bucket{service="));
    assert_non_null(
        strstr(metrics, "# TYPE eddy_outbox_age_seconds gauge\neddy_outbox_age_seconds{"));
    assert_non_null(strstr(metrics, "eddy_relay_batch_rows_count{service="));
    const char *bm = strstr(metrics, "eddy_inbox_batch_size_mean{service=");
    assert_non_null(bm);
    assert_true(atof(strchr(bm, '}') + 1) > 1.5); /* more than one record per transaction */
    free(metrics);
    eddy_service_free(svc);
    tstore_drop(&ts);
}

static void test_batched_sqlite(void **state)
{
    batched(0);
}

static void test_batched_postgres(void **state)
{
    batched(1);
}

static void test_config_file_and_env(void **state)
{
    char path[] = "/tmp/eddy-sdk-conf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text =
        "# payment service\nbootstrap.servers = 10.0.0.1:9092\n"
        "store=sqlite:/tmp/x.db\n  retry.max.attempts = 7  \nkafka.client.rack = r1\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    eddy_service *svc;
    assert_int_equal(eddy_service_new("cfg", &svc), 0);
    assert_int_equal(eddy_service_configure(svc, path), 0);
    unsetenv("EDDY_BOOTSTRAP_SERVERS");
    assert_string_equal(eddy_service_get(svc, "bootstrap.servers"), "10.0.0.1:9092");
    assert_string_equal(eddy_service_get(svc, "store"), "sqlite:/tmp/x.db");
    assert_string_equal(eddy_service_get(svc, "retry.max.attempts"), "7");
    assert_string_equal(eddy_service_get(svc, "kafka.client.rack"), "r1");
    setenv("EDDY_RETRY_MAX_ATTEMPTS", "2", 1); /* environment wins */
    assert_string_equal(eddy_service_get(svc, "retry.max.attempts"), "2");
    unsetenv("EDDY_RETRY_MAX_ATTEMPTS");
    assert_null(eddy_service_get(svc, "no.such.key"));
    assert_true(eddy_service_configure(svc, "/nonexistent/eddy.conf") < 0);
    eddy_service_free(svc);
    unlink(path);
}

/* ---- http.threads: routes served by a pool of threads, each its own store connection ---- */
static char *post_row(eddy_service *svc, const eddy_http_req *req, int *status, void *arg)
{
    eddy_store *st = eddy_service_store(svc);
    if (!st) return eddy_http_error(status, 503, "store unavailable");
    char k[40];
    snprintf(k, sizeof k, "%.*s", (int)(req->body_len < 39 ? req->body_len : 39),
             req->body ? req->body : "");
    const char *p[] = {k};
    if (eddy_store_begin(st) < 0 ||
        eddy_store_exec(st, "INSERT INTO hrows (k) VALUES ($1)", 1, p) != 1 ||
        eddy_store_commit(st) < 0) {
        eddy_store_rollback(st);
        return eddy_http_error(status, 503, "%s", eddy_store_error(st));
    }
    *status = 201;
    return strdup("{}");
}

typedef struct poster {
    int port, id, n, created;
} poster;

/* n POSTs, one connection each; counts the 201 answers */
static void *post_many(void *arg)
{
    poster *p = arg;
    for (int i = 0; i < p->n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)p->port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
            char body[40], req[256], resp[512];
            int bl = snprintf(body, sizeof body, "row-%d-%d", p->id, i);
            int rl = snprintf(req, sizeof req,
                              "POST /rows HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                              "Content-Length: %d\r\n\r\n%s",
                              bl, body);
            if (write(fd, req, (size_t)rl) == rl) {
                size_t got = 0;
                ssize_t r;
                while (got < sizeof resp - 1 &&
                       (r = read(fd, resp + got, sizeof resp - 1 - got)) > 0)
                    got += (size_t)r;
                resp[got] = 0;
                if (!strncmp(resp, "HTTP/1.1 201", 12)) p->created++;
            }
        }
        close(fd);
    }
    return NULL;
}

static void http_threads(int pg)
{
    tstore ts;
    assert_int_equal(tstore_make(&ts, pg), 0);
    /* a bad http.threads: a clear refusal at start */
    const char *bad[] = {"0", "65", "four", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        eddy_service *svc;
        assert_int_equal(eddy_service_new("hthreads", &svc), 0);
        eddy_service_set(svc, "bootstrap.servers", g_mock.bootstrap);
        eddy_service_set(svc, "store", ts.url);
        eddy_service_set(svc, "topic.create", "0");
        eddy_service_set(svc, "http.threads", bad[i]);
        assert_true(eddy_service_start(svc, NULL) < 0);
        eddy_service_free(svc);
    }
    eddy_service *svc;
    assert_int_equal(eddy_service_new("hthreads", &svc), 0);
    eddy_service_set(svc, "bootstrap.servers", g_mock.bootstrap);
    eddy_service_set(svc, "store", ts.url);
    eddy_service_set(svc, "topic.create", "0");
    eddy_service_set(svc, "http.threads", "4");
    assert_int_equal(eddy_service_route(svc, "POST", "/rows", post_row, NULL), 0);
    assert_int_equal(
        eddy_service_start(svc, "CREATE TABLE IF NOT EXISTS hrows (k TEXT PRIMARY KEY)"), 0);
    int port = eddy_service_http_port(svc);
    assert_true(port > 0);
    enum { CLIENTS = 6, EACH = 20 };
    poster ps[CLIENTS];
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        ps[i] = (poster){port, i, EACH, 0};
        pthread_create(&th[i], NULL, post_many, &ps[i]);
    }
    int created = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        created += ps[i].created;
    }
    assert_int_equal(created, CLIENTS * EACH);
    eddy_store *st;
    assert_int_equal(eddy_store_open(ts.url, &st), 0);
    eddy_rows *r;
    assert_int_equal(
        eddy_store_query(st, "SELECT count(*), count(DISTINCT k) FROM hrows", 0, NULL, &r), 1);
    assert_int_equal(atoi(eddy_rows_get(r, 0, 0)), CLIENTS * EACH);
    assert_int_equal(atoi(eddy_rows_get(r, 0, 1)), CLIENTS * EACH);
    eddy_rows_free(r);
    eddy_store_close(st);
    eddy_service_free(svc);
    tstore_drop(&ts);
}

static void test_http_threads_sqlite(void **state)
{
    http_threads(0);
}
static void test_http_threads_postgres(void **state)
{
    http_threads(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_file_and_env),   cmocka_unit_test(test_runtime_sqlite),
        cmocka_unit_test(test_runtime_postgres),      cmocka_unit_test(test_batched_sqlite),
        cmocka_unit_test(test_batched_postgres),      cmocka_unit_test(test_http_threads_sqlite),
        cmocka_unit_test(test_http_threads_postgres),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
