/* test_sdk_dlq.c — libeddy's dead-letter redrive (include/eddy/dlq.h) against a real eddyd
 * (tests/harness) and a real libeddy service whose handler fails, then recovers:
 *   - the service dead-letters records (a pretty-printed envelope, a compact one, a record that
 *     is not JSON) with the original key and headers;
 *   - a dry run lists them and produces nothing (no marker topic either);
 *   - a filtered redrive moves one record: kcat reads it back on the source topic with the
 *     same key, headers and value bytes and eddy-redrive-count: 1, in its source partition;
 *   - it fails again; the loop guard (max 1) refuses its new dead letter, the marker makes the
 *     old one "already redriven"; nothing produced;
 *   - bad input: malformed filters, an unknown DLQ topic, an unknown --to topic → errors,
 *     nothing produced, no marker written;
 *   - the handler recovers: a full redrive moves the rest; the service handles the redriven
 *     events (its inbox keys by eventId and the failed attempts left no inbox row); the
 *     metrics count them; --to writes elsewhere; a second redrive moves nothing;
 *   - a second service on the same topic that handled the original drops the redriven copy as a
 *     duplicate (inbox by eventId) while the failing one handles it.
 * One eddyd, one store (SQLite), one service for the whole file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <pthread.h>

#include <cmocka.h>

#include "eddyd_harness.h"
#include "sdk_test.h"
#include <eddy/dlq.h>

static eh_broker g_b;
static atomic_int g_fail = 1;    /* the handler fails permanently while set */
static atomic_int g_handled = 0; /* successful handler runs */

static int h_order(eddy_ctx *ctx, void *arg)
{
    (void)arg;
    if (atomic_load(&g_fail)) return eddy_ctx_fail(ctx, EDDY_ERR_PERMANENT, "card declined");
    atomic_fetch_add(&g_handled, 1);
    const char *p[] = {eddy_ctx_event(ctx)->event_id};
    return eddy_ctx_exec(ctx, "INSERT INTO seen (event_id) VALUES ($1)", 1, p);
}

/* audit.logged: the test service fails it like orders; a second service ("shipping") on the same
 * topic always succeeds — the redriven copy is a duplicate for its inbox */
static atomic_int g_audit = 0, g_shipping = 0;

static int h_audit(eddy_ctx *ctx, void *arg)
{
    (void)arg;
    if (atomic_load(&g_fail)) return eddy_ctx_fail(ctx, EDDY_ERR_PERMANENT, "audit store down");
    atomic_fetch_add(&g_audit, 1);
    return 0;
}

static int h_shipping(eddy_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    atomic_fetch_add(&g_shipping, 1);
    return 0;
}

static void *run_svc(void *arg)
{
    eddy_service *svc = arg;
    if (eddy_service_start(svc, "CREATE TABLE IF NOT EXISTS seen (event_id TEXT PRIMARY KEY);") < 0)
        return (void *)1;
    return (void *)(intptr_t)eddy_service_run(svc);
}

static void create_topic(const char *name, int parts)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", g_b.bootstrap, err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, parts, 1, err, sizeof err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
    assert_non_null(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    assert_int_equal(n, 1);
    assert_int_equal(rd_kafka_topic_result_error(tr[0]), 0);
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
}

/* The high watermark of topic/p (-1: no such topic). */
static int64_t hwm(const char *topic, int p)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", g_b.bootstrap, err, sizeof err);
    rd_kafka_conf_set(c, "allow.auto.create.topics", "false", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    int64_t lo = 0, hi = -1;
    if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000)) hi = -1;
    rd_kafka_destroy(rk);
    return hi;
}

static void wait_hwm(const char *topic, int p, int64_t want)
{
    for (int i = 0; i < 600 && hwm(topic, p) < want; i++) msleep(50);
    assert_int_equal(hwm(topic, p), want);
}

static void produce(const char *topic, int p, const char *key, const void *val, size_t len,
                    rd_kafka_headers_t *h)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", g_b.bootstrap, err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(p),
                                       RD_KAFKA_V_KEY(key, strlen(key)),
                                       RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_HEADERS(h),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     0);
    assert_int_equal(rd_kafka_flush(rk, 10000), 0);
    rd_kafka_destroy(rk);
}

/* kcat's view of topic/p@off: "KEYLEN:KEY|VALUELEN:VALUE|HEADERS" (malloc'd). */
static char *kcat_read(const char *topic, int p, int64_t off)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "kcat -q -b %s -C -t %s -p %d -o %lld -c 1 -e -f '%%K:%%k|%%S:%%s|%%h'", g_b.bootstrap,
             topic, p, (long long)off);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = 0;
    assert_int_equal(pclose(f), 0);
    return buf;
}

typedef struct seen_rec {
    int n;
    eddy_redrive_outcome o[32];
    int64_t dlq_off[32], to_off[32];
    int32_t to_part[32];
    int redrives[32], exact[32];
} seen_rec;

static void on_rec(const eddy_dead_letter *d, eddy_redrive_outcome o, void *arg)
{
    seen_rec *s = arg;
    if (s->n >= 32) return;
    s->o[s->n] = o;
    s->dlq_off[s->n] = d->dlq_offset;
    s->to_off[s->n] = d->to_offset;
    s->to_part[s->n] = d->to_partition;
    s->redrives[s->n] = d->redrive_count;
    s->exact[s->n] = d->value_exact;
    s->n++;
}

static int redrive(const char *dlq, eddy_redrive_opts *o, eddy_redrive_stats *st, seen_rec *s,
                   char **err)
{
    memset(s, 0, sizeof *s);
    o->fn = on_rec;
    o->arg = s;
    o->timeout_ms = 10000;
    return eddy_dlq_redrive(g_b.bootstrap, dlq, o, st, err);
}

static eddy_dlq_filter *filter(const char *a, const char *b)
{
    eddy_dlq_filter *f = eddy_dlq_filter_new();
    char *err = NULL;
    assert_int_equal(eddy_dlq_filter_add(f, a, &err), 0);
    if (b) assert_int_equal(eddy_dlq_filter_add(f, b, &err), 0);
    return f;
}

/* Whether the service's metrics text comes to contain line (waits up to 30 s). */
static int metric_reaches(eddy_service *svc, const char *line)
{
    for (int i = 0; i < 600; i++) {
        char *t = eddy_service_metrics_text(svc);
        int ok = strstr(t, line) != NULL;
        free(t);
        if (ok) return 1;
        msleep(50);
    }
    return 0;
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

static void redrive_all(void **state)
{
    (void)state;
    create_topic("orders", 2);
    create_topic("orders.dlq", 1);
    create_topic("orders.retry", 1);
    create_topic("audit", 1);
    create_topic("audit.dlq", 1);
    tstore ts, ts2;
    assert_int_equal(tstore_make(&ts, 0), 0);
    assert_int_equal(tstore_make(&ts2, 0), 0);
    eddy_service *svc;
    assert_int_equal(eddy_service_new("payment-dlq-test", &svc), 0);
    eddy_service_set(svc, "bootstrap.servers", g_b.bootstrap);
    eddy_service_set(svc, "store", ts.url);
    eddy_service_set(svc, "http.listen", "off");
    eddy_service_set(svc, "retry.max.attempts", "2");
    eddy_service_set(svc, "retry.backoff.ms", "10");
    eddy_service_set(svc, "topic.create", "0");
    assert_int_equal(eddy_service_on(svc, "orders", "order.placed", "1", h_order, NULL), 0);
    assert_int_equal(eddy_service_on(svc, "audit", "audit.logged", "1", h_audit, NULL), 0);
    pthread_t th, th2;
    pthread_create(&th, NULL, run_svc, svc);
    eddy_service *ship;
    assert_int_equal(eddy_service_new("shipping-dlq-test", &ship), 0);
    eddy_service_set(ship, "bootstrap.servers", g_b.bootstrap);
    eddy_service_set(ship, "store", ts2.url);
    eddy_service_set(ship, "http.listen", "off");
    eddy_service_set(ship, "topic.create", "0");
    assert_int_equal(eddy_service_on(ship, "audit", "audit.logged", "1", h_shipping, NULL), 0);
    pthread_create(&th2, NULL, run_svc, ship);

    /* k1: a pretty-printed envelope (not what jansson writes back: the exact bytes are kept)
     * with headers; k2: a compact one; k3: not JSON at all (poison) */
    char id1[37], id2[37];
    eddy_uuid_generate(id1);
    eddy_uuid_generate(id2);
    char v1[512], v2[512];
    snprintf(v1, sizeof v1,
             "{ \"eventType\": \"order.placed\", \"version\": \"1.0\", \"eventId\": \"%s\",\n"
             "  \"timestamp\": \"2026-12-03T07:00:00.000Z\", \"correlationId\": \"c-1\",\n"
             "  \"causationId\": \"c-1\", \"source\": \"order\", \"payload\": {\"amount\": 1.50} }",
             id1);
    snprintf(v2, sizeof v2,
             "{\"eventType\":\"order.placed\",\"version\":\"1.0\",\"eventId\":\"%s\","
             "\"timestamp\":\"2026-12-03T07:00:01.000Z\",\"correlationId\":\"c-2\","
             "\"causationId\":\"c-2\",\"source\":\"order\",\"payload\":{\"amount\":2}}",
             id2);
    const char v3[] = "not json \x01\x02 at all";
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "x-correlation-id", -1, "c-1", -1);
    rd_kafka_header_add(h, "tenant", -1, "acme", -1);
    produce("orders", 1, "k1", v1, strlen(v1), h);
    wait_hwm("orders.dlq", 0, 1); /* DLQ order: k1, k2, k3 */
    produce("orders", 0, "k2", v2, strlen(v2), NULL);
    produce("orders", 0, "k3", v3, sizeof v3 - 1, NULL);
    wait_hwm("orders.dlq", 0, 3);
    eddy_event *audit = eddy_event_new("audit.logged", "1.0", "test", NULL);
    char *va = eddy_event_to_json(audit);
    produce("audit", 0, "a1", va, strlen(va), NULL);
    wait_hwm("audit.dlq", 0, 1); /* the test service failed it ... */
    for (int i = 0; i < 600 && atomic_load(&g_shipping) < 1; i++) msleep(50);
    assert_int_equal(atomic_load(&g_shipping), 1); /* ... shipping handled it */

    eddy_redrive_opts o;
    eddy_redrive_stats st;
    seen_rec s;
    char *err = NULL;

    /* dry run: lists three, produces nothing, creates no marker topic */
    memset(&o, 0, sizeof o);
    o.dry_run = 1;
    assert_int_equal(redrive("orders.dlq", &o, &st, &s, &err), 0);
    assert_int_equal(st.would_move, 3);
    assert_int_equal(st.moved, 0);
    assert_int_equal(s.n, 3);
    for (int i = 0; i < 3; i++) assert_int_equal(s.o[i], EDDY_REDRIVE_WOULD_MOVE);
    assert_int_equal(hwm("orders", 0), 2);
    assert_int_equal(hwm("orders", 1), 1);
    assert_int_equal(hwm("orders.dlq.redriven", 0), -1);

    /* filter key=k1, loop guard at 1: moves one, back to its partition, byte for byte */
    memset(&o, 0, sizeof o);
    o.filter = filter("key=k1", "reason=perm");
    o.max_redrives = 1;
    assert_int_equal(redrive("orders.dlq", &o, &st, &s, &err), 0);
    eddy_dlq_filter_free((eddy_dlq_filter *)o.filter);
    assert_int_equal(st.moved, 1);
    assert_int_equal(st.filtered_out, 2);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.o[0], EDDY_REDRIVE_MOVED);
    assert_int_equal(s.to_part[0], 1);
    assert_int_equal(s.to_off[0], 1);
    assert_int_equal(s.exact[0], 1);
    char *got = kcat_read("orders", 1, 1);
    char want[1024];
    snprintf(want, sizeof want, "2:k1|%zu:%s|x-correlation-id=c-1,tenant=acme,eddy-redrive-count=1",
             strlen(v1), v1);
    assert_string_equal(got, want);
    free(got);
    assert_int_equal(hwm("orders.dlq.redriven", 0), 1);

    /* it fails again: its new dead letter carries eddy-redrive-count 1 → refused at max 1;
     * the first is already redriven; nothing produced */
    wait_hwm("orders.dlq", 0, 4);
    memset(&o, 0, sizeof o);
    o.filter = filter("key=k1", NULL);
    o.max_redrives = 1;
    assert_int_equal(redrive("orders.dlq", &o, &st, &s, &err), 0);
    eddy_dlq_filter_free((eddy_dlq_filter *)o.filter);
    assert_int_equal(st.moved, 0);
    assert_int_equal(st.already_redriven, 1);
    assert_int_equal(st.loop_guard, 1);
    assert_int_equal(s.o[0], EDDY_REDRIVE_ALREADY);
    assert_int_equal(s.o[3], EDDY_REDRIVE_LOOP_GUARD);
    assert_int_equal(s.redrives[3], 1);
    assert_int_equal(hwm("orders", 1), 2);

    /* bad input: clear errors, nothing produced, no marker */
    eddy_dlq_filter *f = eddy_dlq_filter_new();
    const char *bad[] = {"key",      "colour=red",   "offset=9..3",
                         "offset=x", "partition=-1", "time=yesterday",
                         "error=",   "offset=..",    NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(eddy_dlq_filter_add(f, bad[i], &err), EDDY_ERR_PERMANENT);
        assert_non_null(strstr(err, "malformed filter"));
        free(err);
        err = NULL;
    }
    eddy_dlq_filter_free(f);
    memset(&o, 0, sizeof o);
    assert_int_equal(redrive("nosuch.dlq", &o, &st, &s, &err), EDDY_ERR_NOTFOUND);
    assert_non_null(strstr(err, "nosuch.dlq"));
    free(err);
    o.to = "nosuch";
    assert_int_equal(redrive("orders.dlq", &o, &st, &s, &err), EDDY_ERR_NOTFOUND);
    assert_non_null(strstr(err, "nosuch"));
    free(err);
    err = NULL;
    assert_int_equal(s.n, 0);
    assert_int_equal(hwm("nosuch", 0), -1); /* not auto-created either */
    assert_int_equal(hwm("orders", 0), 2);
    assert_int_equal(hwm("orders", 1), 2);
    assert_int_equal(hwm("orders.dlq.redriven", 0), 1);

    /* the handler recovers: redrive everything (default guard 3) at a rate limit */
    atomic_store(&g_fail, 0);
    memset(&o, 0, sizeof o);
    o.rate = 1000;
    assert_int_equal(redrive("orders.dlq", &o, &st, &s, &err), 0);
    assert_int_equal(st.moved, 3); /* k2, k3 (poison again), k1's second dead letter */
    assert_int_equal(st.already_redriven, 1);
    assert_int_equal(s.o[3], EDDY_REDRIVE_MOVED);
    got = kcat_read("orders", 1, 2);
    snprintf(want, sizeof want, "2:k1|%zu:%s|x-correlation-id=c-1,tenant=acme,eddy-redrive-count=2",
             strlen(v1), v1);
    assert_string_equal(got, want);
    free(got);
    got = kcat_read("orders", 0, s.to_off[2]);
    snprintf(want, sizeof want, "2:k3|%zu:%s|eddy-redrive-count=1", sizeof v3 - 1, v3);
    assert_string_equal(got, want);
    free(got);
    /* the service handles both redriven events (the inbox had no row for them) */
    for (int i = 0; i < 600 && (count_seen(ts.url, id1) < 1 || count_seen(ts.url, id2) < 1); i++)
        msleep(50);
    assert_int_equal(count_seen(ts.url, id1), 1);
    assert_int_equal(count_seen(ts.url, id2), 1);
    char *mt = eddy_service_metrics_text(svc);
    assert_non_null(strstr(mt, "eddy_dlq_redriven_total{dlq_topic=\"orders.dlq\"} 4\n"));
    assert_non_null(strstr(
        mt, "eddy_dlq_redrive_skipped_total{dlq_topic=\"orders.dlq\",reason=\"loop_guard\"} 1"));
    /* the service's whole /metrics text, redrive families included, is promtool-clean */
    FILE *pf = popen("promtool check metrics >/dev/null 2>&1", "w");
    assert_non_null(pf);
    fputs(mt, pf);
    assert_int_equal(pclose(pf), 0);
    free(mt);

    /* k3 is poison again (dead letter 4, redrive count 1): --to moves it elsewhere */
    wait_hwm("orders.dlq", 0, 5);
    memset(&o, 0, sizeof o);
    o.to = "orders.retry";
    assert_int_equal(redrive("orders.dlq", &o, &st, &s, &err), 0);
    assert_int_equal(st.moved, 1);
    assert_int_equal(st.already_redriven, 4);
    got = kcat_read("orders.retry", 0, 0);
    snprintf(want, sizeof want, "2:k3|%zu:%s|eddy-redrive-count=2", sizeof v3 - 1, v3);
    assert_string_equal(got, want);
    free(got);

    /* audit: the test service handles the redriven event; shipping, which handled the original,
     * drops the copy as a duplicate (its inbox keys by eventId) */
    memset(&o, 0, sizeof o);
    assert_int_equal(redrive("audit.dlq", &o, &st, &s, &err), 0);
    assert_int_equal(st.moved, 1);
    for (int i = 0; i < 600 && atomic_load(&g_audit) < 1; i++) msleep(50);
    assert_int_equal(atomic_load(&g_audit), 1);
    char *ms = NULL;
    for (int i = 0; i < 600; i++) {
        free(ms);
        ms = eddy_service_metrics_text(ship);
        if (strstr(ms,
                   "eddy_handler_duplicates_total{service=\"shipping-dlq-test\",topic=\"audit\","
                   "event_type=\"audit.logged\"} 1"))
            break;
        msleep(50);
    }
    assert_non_null(strstr(ms, "eddy_handler_duplicates_total{service=\"shipping-dlq-test\","
                               "topic=\"audit\",event_type=\"audit.logged\"} 1"));
    free(ms);
    assert_int_equal(atomic_load(&g_shipping), 1);
    eddy_event_free(audit);
    free(va);

    /* a second redrive moves nothing */
    memset(&o, 0, sizeof o);
    assert_int_equal(redrive("orders.dlq", &o, &st, &s, &err), 0);
    assert_int_equal(st.moved, 0);
    assert_int_equal(st.already_redriven, 5);
    assert_int_equal(hwm("orders", 0), 4);
    assert_int_equal(hwm("orders", 1), 3);
    assert_int_equal(atomic_load(&g_handled), 2);
    /* the services count the redriven events they finished: k1 (failed again), k2, k3 (poison
     * again), k1 again, a1 — and shipping its duplicate a1 */
    assert_true(
        metric_reaches(svc, "eddy_redriven_events_total{service=\"payment-dlq-test\"} 5\n"));
    assert_true(
        metric_reaches(ship, "eddy_redriven_events_total{service=\"shipping-dlq-test\"} 1\n"));

    eddy_service_stop(svc);
    eddy_service_stop(ship);
    void *ret;
    pthread_join(th, &ret);
    assert_int_equal((intptr_t)ret, 0);
    pthread_join(th2, &ret);
    assert_int_equal((intptr_t)ret, 0);
    eddy_service_free(svc);
    eddy_service_free(ship);
    tstore_drop(&ts);
    tstore_drop(&ts2);
}

static int setup(void **state)
{
    (void)state;
    return eh_start(&g_b, NULL);
}

static int teardown(void **state)
{
    (void)state;
    int rc = eh_stop(&g_b, 30);
    eh_cleanup(&g_b);
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(redrive_all)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
