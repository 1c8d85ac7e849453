/* test_sdk_otlp — libeddy's OpenTelemetry export (src/sdk/otlp.c) against a real eddyd
 * (tests/harness) and a Node stand-in collector (otlp_receiver.js) that decodes every request
 * with the OpenTelemetry project's protobuf definitions (@opentelemetry/otlp-transformer):
 *   - a service publishes and consumes: publish spans (PRODUCER) and process spans (CONSUMER)
 *     arrive with the messaging semantic-convention attributes, linked publish → process →
 *     publish → process in one trace (parent = the publish span named by traceparent);
 *     OTEL_SERVICE_NAME and OTEL_EXPORTER_OTLP_HEADERS honoured; a retried handler's span has a
 *     retry event, a dead-lettered one status ERROR with the message and a dead_letter event;
 *   - the collector down (its port closed, then answering 503): the service processes every
 *     event, the queue stays within otlp.queue.max, drops, failures and retries are counted on
 *     /metrics, and export resumes when the collector is back;
 *   - at shutdown the queue is flushed (a flush interval far longer than the test);
 *   - bad settings (otlp.endpoint not http(s), malformed OTEL_EXPORTER_OTLP_HEADERS) refuse to
 *     start with a message; OTEL_SDK_DISABLED=true turns the export off. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "eddyd_harness.h"
#include "sdk_test.h"

static eh_broker g_broker;
static pid_t g_recv_pid;
static int g_recv_in = -1; /* the receiver's stdin: closing it ends it */
static int g_otlp_port, g_ctl_port;
static atomic_int g_orders, g_payments, g_flaky_calls;

/* ---- HTTP (libcurl) ----------------------------------------------------------------------- */
typedef struct buf {
    char *p;
    size_t n;
} buf;

static size_t on_data(char *p, size_t sz, size_t nm, void *arg)
{
    buf *b = arg;
    b->p = realloc(b->p, b->n + sz * nm + 1);
    memcpy(b->p + b->n, p, sz * nm);
    b->n += sz * nm;
    b->p[b->n] = 0;
    return sz * nm;
}

/* GET (post = 0) or POST with an empty body; returns the body (malloc'd) or NULL. */
static char *http(int port, const char *path, int post)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    buf b = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (post) curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || code != 200) {
        free(b.p);
        return NULL;
    }
    if (!b.p) b.p = strdup("");
    return b.p;
}

static json_t *ctl_json(const char *path)
{
    char *s = http(g_ctl_port, path, 0);
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    free(s);
    return j;
}

static void set_mode(const char *mode)
{
    char path[64];
    snprintf(path, sizeof path, "/mode/%s", mode);
    char *s = http(g_ctl_port, path, 1);
    assert_non_null(s);
    free(s);
}

/* A metric's value in a service's /metrics ("name{labels}" prefix), -1 if absent. */
static double metric(int port, const char *series)
{
    char *t = http(port, "/metrics", 0);
    if (!t) return -1;
    double v = -1;
    for (char *l = t; l && *l;) {
        char *nl = strchr(l, '\n');
        if (!strncmp(l, series, strlen(series)) && l[strlen(series)] == ' ')
            v = strtod(l + strlen(series) + 1, NULL);
        l = nl ? nl + 1 : NULL;
    }
    free(t);
    return v;
}

/* ---- the receiver ------------------------------------------------------------------------- */
static int receiver_start(void)
{
    const char *src = getenv("EDDY_SOURCE_DIR");
    const char *node = getenv("EDDY_NODE") ? getenv("EDDY_NODE") : "node";
    char script[1024];
    snprintf(script, sizeof script, "%s/tests/sdk/otlp_receiver.js", src ? src : ".");
    int in[2], out[2];
    if (pipe(in) || pipe(out)) return -1;
    g_recv_pid = fork();
    if (g_recv_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execlp(node, node, script, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    g_recv_in = in[1];
    FILE *f = fdopen(out[0], "r");
    char line[256] = "";
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    json_t *j = json_loads(line, 0, NULL);
    g_otlp_port = (int)json_integer_value(json_object_get(j, "otlp"));
    g_ctl_port = (int)json_integer_value(json_object_get(j, "control"));
    json_decref(j);
    return g_otlp_port && g_ctl_port ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (receiver_start()) {
        fprintf(stderr, "the OTLP receiver (node tests/sdk/otlp_receiver.js) did not start\n");
        return -1;
    }
    /* one member per group: no reason to wait for more before the first rebalance */
    const char *sets[] = {"auto.create.topics.enable=true", "group.initial.rebalance.delay.ms=0",
                          NULL};
    if (eh_start(&g_broker, sets)) {
        eh_cleanup(&g_broker);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = eh_stop(&g_broker, 30);
    eh_cleanup(&g_broker);
    if (g_recv_in >= 0) close(g_recv_in);
    int st = 0;
    if (g_recv_pid > 0) waitpid(g_recv_pid, &st, 0);
    curl_global_cleanup();
    return rc;
}

/* ---- the service -------------------------------------------------------------------------- */
typedef struct names {
    char orders[64], payments[64], svc[64];
} names;
static names g_n;

static int h_order(eddy_ctx *ctx, void *arg)
{
    (void)arg;
    const eddy_event *ev = eddy_ctx_event(ctx);
    atomic_fetch_add(&g_orders, 1);
    json_t *kind = json_object_get(ev->payload, "kind");
    return eddy_ctx_publish(
        ctx, g_n.payments, ev->key, "payment.requested", "1.0",
        json_pack("{s:s,s:O}", "order", ev->event_id, "kind", kind ? kind : json_null()));
}

static int h_payment(eddy_ctx *ctx, void *arg)
{
    (void)arg;
    const char *kind = json_string_value(json_object_get(eddy_ctx_event(ctx)->payload, "kind"));
    if (kind && !strcmp(kind, "flaky")) {
        atomic_fetch_add(&g_flaky_calls, 1);
        if (eddy_ctx_attempt(ctx) == 1)
            return eddy_ctx_fail(ctx, EDDY_ERR_TRANSIENT, "card network timeout");
    }
    if (kind && !strcmp(kind, "bad"))
        return eddy_ctx_fail(ctx, EDDY_ERR_PERMANENT, "card declined");
    atomic_fetch_add(&g_payments, 1);
    return 0;
}

static atomic_int g_started; /* 1 started, -1 failed to start */

/* The service's own thread starts and runs it, so eddy_service_store gives the test thread a
 * connection of its own (the HTTP routes' one) rather than the handlers'. */
static void *run_svc(void *arg)
{
    eddy_service *svc = arg;
    if (eddy_service_start(svc, NULL) < 0) {
        atomic_store(&g_started, -1);
        return (void *)1;
    }
    atomic_store(&g_started, 1);
    return (void *)(intptr_t)eddy_service_run(svc);
}

static void spawn(eddy_service *svc, pthread_t *th)
{
    atomic_store(&g_started, 0);
    pthread_create(th, NULL, run_svc, svc);
    for (int i = 0; i < 300 && !atomic_load(&g_started); i++) msleep(100);
    assert_int_equal(atomic_load(&g_started), 1);
}

static eddy_service *service(const char *name, tstore *ts, const char *flush_ms,
                             const char *queue_max)
{
    eddy_service *svc;
    assert_int_equal(eddy_service_new(name, &svc), 0);
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d/", g_otlp_port);
    eddy_service_set(svc, "bootstrap.servers", g_broker.bootstrap);
    eddy_service_set(svc, "store", ts->url);
    eddy_service_set(svc, "http.listen", "127.0.0.1:0");
    eddy_service_set(svc, "retry.max.attempts", "3");
    eddy_service_set(svc, "retry.backoff.ms", "10");
    eddy_service_set(svc, "topic.partitions", "2");
    eddy_service_set(svc, "otlp.endpoint", ep);
    eddy_service_set(svc, "otlp.flush.ms", flush_ms);
    eddy_service_set(svc, "otlp.batch.max", "16");
    eddy_service_set(svc, "otlp.queue.max", queue_max);
    eddy_service_set(svc, "otlp.timeout.ms", "2000");
    assert_int_equal(eddy_service_topic(svc, g_n.orders), 0);
    assert_int_equal(eddy_service_topic(svc, g_n.payments), 0);
    assert_int_equal(eddy_service_on(svc, g_n.orders, "order.placed", "1", h_order, NULL), 0);
    assert_int_equal(eddy_service_on(svc, g_n.payments, "payment.requested", "1", h_payment, NULL),
                     0);
    return svc;
}

/* Publishes an order from outside any handler (a root publish span); its event id in id. */
static void place_order(eddy_service *svc, const char *key, const char *kind, const char *corr,
                        char id[37])
{
    eddy_tx *tx;
    assert_int_equal(eddy_tx_begin(eddy_service_store(svc), "shop", corr, NULL, &tx), 0);
    assert_int_equal(eddy_tx_publish(tx, g_n.orders, key, "order.placed", "1.0",
                                     json_pack("{s:s}", "kind", kind), id),
                     0);
    assert_int_equal(eddy_tx_commit(tx), 0);
    eddy_service_outbox_wake(svc);
}

static json_t *find_span(json_t *spans, int kind, const char *attr, const char *value)
{
    size_t i;
    json_t *s;
    json_array_foreach(spans, i, s)
    {
        const char *v = json_string_value(json_object_get(json_object_get(s, "attributes"), attr));
        if (json_integer_value(json_object_get(s, "kind")) == kind && v && !strcmp(v, value))
            return s;
    }
    return NULL;
}

/* the payment.requested event published by the process span `parent` */
static json_t *find_child(json_t *spans, int kind, const char *parent_span_id)
{
    size_t i;
    json_t *s;
    json_array_foreach(spans, i, s)
    {
        const char *p = json_string_value(json_object_get(s, "parentSpanId"));
        if (json_integer_value(json_object_get(s, "kind")) == kind && p &&
            !strcmp(p, parent_span_id))
            return s;
    }
    return NULL;
}

static const char *sattr(json_t *span, const char *k)
{
    return json_string_value(json_object_get(json_object_get(span, "attributes"), k));
}

static const char *sfield(json_t *span, const char *k)
{
    return json_string_value(json_object_get(span, k));
}

typedef struct chain {
    json_t *pub1, *proc1, *pub2, *proc2;
} chain;

/* The four spans of one order: publish order → process order → publish payment → process
 * payment, each the parent of the next. 0 when all four have arrived. */
static int order_chain(json_t *spans, const char *order_id, chain *c)
{
    memset(c, 0, sizeof *c);
    c->pub1 = find_span(spans, 4, "messaging.message.id", order_id);
    c->proc1 = find_span(spans, 5, "messaging.message.id", order_id);
    if (c->proc1) c->pub2 = find_child(spans, 4, sfield(c->proc1, "spanId"));
    if (c->pub2) c->proc2 = find_child(spans, 5, sfield(c->pub2, "spanId"));
    return c->pub1 && c->proc1 && c->pub2 && c->proc2 ? 0 : -1;
}

static json_t *wait_chain(const char *order_id, chain *c)
{
    for (int i = 0; i < 300; i++) { /* an eventual condition, bounded at 30 s */
        json_t *spans = ctl_json("/spans");
        if (spans && order_chain(spans, order_id, c) == 0) return spans;
        json_decref(spans);
        msleep(100);
    }
    return NULL;
}

static void check_stats_clean(void)
{
    json_t *st = ctl_json("/stats");
    assert_non_null(st);
    json_t *errs = json_object_get(st, "errors");
    if (json_array_size(errs)) {
        char *s = json_dumps(errs, JSON_INDENT(2));
        fprintf(stderr, "the receiver refused what libeddy sent:\n%s\n", s);
        free(s);
    }
    assert_int_equal(json_integer_value(json_object_get(st, "invalid")), 0);
    json_decref(st);
}

static void check_publish(json_t *s, const char *topic, const char *key, const char *id,
                          const char *corr)
{
    assert_non_null(s);
    assert_int_equal(json_integer_value(json_object_get(s, "kind")), 4); /* PRODUCER */
    char name[128];
    snprintf(name, sizeof name, "publish %s", topic);
    assert_string_equal(sfield(s, "name"), name);
    assert_string_equal(sattr(s, "messaging.system"), "kafka");
    assert_string_equal(sattr(s, "messaging.destination.name"), topic);
    assert_string_equal(sattr(s, "messaging.operation.type"), "publish");
    assert_string_equal(sattr(s, "messaging.operation.name"), "publish");
    assert_string_equal(sattr(s, "messaging.kafka.message.key"), key);
    if (id) assert_string_equal(sattr(s, "messaging.message.id"), id);
    assert_string_equal(sattr(s, "messaging.message.conversation_id"), corr);
    assert_string_equal(sattr(s, "eddy.correlation_id"), corr);
    assert_int_equal(strlen(sfield(s, "traceId")), 32);
    assert_int_equal(strlen(sfield(s, "spanId")), 16);
}

static void check_process(json_t *s, json_t *pub, const char *topic, const char *key,
                          const char *corr, const char *group)
{
    assert_non_null(s);
    assert_int_equal(json_integer_value(json_object_get(s, "kind")), 5); /* CONSUMER */
    char name[128];
    snprintf(name, sizeof name, "process %s", topic);
    assert_string_equal(sfield(s, "name"), name);
    /* linked through the record's traceparent: same trace, parent = the publish span */
    assert_string_equal(sfield(s, "traceId"), sfield(pub, "traceId"));
    assert_string_equal(sfield(s, "parentSpanId"), sfield(pub, "spanId"));
    assert_string_equal(sattr(s, "messaging.system"), "kafka");
    assert_string_equal(sattr(s, "messaging.destination.name"), topic);
    assert_string_equal(sattr(s, "messaging.operation.type"), "process");
    assert_string_equal(sattr(s, "messaging.operation.name"), "process");
    assert_string_equal(sattr(s, "messaging.consumer.group.name"), group);
    assert_string_equal(sattr(s, "messaging.kafka.message.key"), key);
    assert_string_equal(sattr(s, "messaging.message.id"), sattr(pub, "messaging.message.id"));
    assert_string_equal(sattr(s, "messaging.message.conversation_id"), corr);
    assert_string_equal(sattr(s, "eddy.correlation_id"), corr);
    const char *part = sattr(s, "messaging.destination.partition.id");
    assert_non_null(part);
    assert_true(!strcmp(part, "0") || !strcmp(part, "1")); /* topic.partitions = 2 */
    json_t *off = json_object_get(json_object_get(s, "attributes"), "messaging.kafka.offset");
    assert_true(json_is_integer(off) && json_integer_value(off) >= 0);
    /* the consumer's span starts after the producer's */
    assert_true(strtoull(sfield(s, "startTimeUnixNano"), NULL, 10) >=
                strtoull(sfield(pub, "startTimeUnixNano"), NULL, 10));
    assert_true(strtoull(sfield(s, "endTimeUnixNano"), NULL, 10) >=
                strtoull(sfield(s, "startTimeUnixNano"), NULL, 10));
}

static json_t *event_named(json_t *span, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(
        json_object_get(span, "events"), i,
        e) if (!strcmp(json_string_value(json_object_get(e, "name")), name)) return e;
    return NULL;
}

static int wait_count(atomic_int *c, int want)
{
    for (int i = 0; i < 300 && atomic_load(c) < want; i++) msleep(100);
    return atomic_load(c);
}

static void export_and_outage(void **state)
{
    (void)state;
    char u[37];
    eddy_uuid_generate(u);
    snprintf(g_n.orders, sizeof g_n.orders, "orders-%.8s", u);
    snprintf(g_n.payments, sizeof g_n.payments, "payments-%.8s", u);
    snprintf(g_n.svc, sizeof g_n.svc, "shop-%.8s", u);
    setenv("OTEL_SERVICE_NAME", "checkout", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-eddy-tenant=acme%20corp, authorization=Bearer t0k", 1);
    tstore ts;
    assert_int_equal(tstore_make(&ts, 0), 0);
    eddy_service *svc = service(g_n.svc, &ts, "100", "32");
    pthread_t th;
    spawn(svc, &th);
    unsetenv("OTEL_SERVICE_NAME");
    unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
    int mport = eddy_service_http_port(svc);

    /* 1. collector up: three orders, one plain, one whose payment is retried once, one whose
     * payment is dead-lettered */
    char o1[37], o2[37], o3[37];
    place_order(svc, "cust-1", "plain", "corr-plain", o1);
    place_order(svc, "cust-2", "flaky", "corr-flaky", o2);
    place_order(svc, "cust-3", "bad", "corr-bad", o3);
    chain c1, c2, c3;
    json_t *spans = wait_chain(o1, &c1);
    assert_non_null(spans);
    json_decref(spans);
    assert_non_null(spans = wait_chain(o2, &c2));
    json_decref(spans);
    assert_non_null(spans = wait_chain(o3, &c3));
    assert_int_equal(order_chain(spans, o1, &c1), 0);
    assert_int_equal(order_chain(spans, o2, &c2), 0);

    check_publish(c1.pub1, g_n.orders, "cust-1", o1, "corr-plain");
    /* placed outside a handler without a traceparent: a root span */
    assert_string_equal(sfield(c1.pub1, "parentSpanId"), "");
    check_process(c1.proc1, c1.pub1, g_n.orders, "cust-1", "corr-plain", g_n.svc);
    check_publish(c1.pub2, g_n.payments, "cust-1", NULL, "corr-plain");
    assert_string_equal(sfield(c1.pub2, "traceId"), sfield(c1.pub1, "traceId"));
    assert_string_equal(sattr(c1.pub2, "eddy.causation_id"), o1);
    check_process(c1.proc2, c1.pub2, g_n.payments, "cust-1", "corr-plain", g_n.svc);
    assert_string_equal(sattr(c1.proc2, "cloudevents.event_type"), "payment.requested");
    assert_string_equal(sattr(c1.proc2, "eddy.outcome"), "ok");
    assert_null(json_object_get(json_object_get(c1.proc2, "status"), "code"));
    /* resource: OTEL_SERVICE_NAME wins over the service's name */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(c1.proc1, "resource"), "service.name")),
        "checkout");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(c1.proc1, "scope"), "name")), "libeddy");

    /* the retried payment: one span, a retry event with the error, then ok */
    check_process(c2.proc2, c2.pub2, g_n.payments, "cust-2", "corr-flaky", g_n.svc);
    json_t *retry = event_named(c2.proc2, "retry");
    assert_non_null(retry);
    assert_string_equal(json_string_value(json_object_get(json_object_get(retry, "attributes"),
                                                          "exception.message")),
                        "card network timeout");
    assert_string_equal(sattr(c2.proc2, "eddy.outcome"), "ok");
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(c2.proc2, "attributes"), "eddy.attempts")),
                     2);

    /* the dead-lettered payment: status ERROR with the handler's message, a dead_letter event */
    check_process(c3.proc2, c3.pub2, g_n.payments, "cust-3", "corr-bad", g_n.svc);
    json_t *st = json_object_get(c3.proc2, "status");
    assert_int_equal(json_integer_value(json_object_get(st, "code")), 2);
    assert_string_equal(json_string_value(json_object_get(st, "message")), "card declined");
    json_t *dl = event_named(c3.proc2, "dead_letter");
    assert_non_null(dl);
    char dlq[80];
    snprintf(dlq, sizeof dlq, "%s.dlq", g_n.payments);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(dl, "attributes"), "eddy.dlq.topic")),
        dlq);
    assert_string_equal(sattr(c3.proc2, "eddy.outcome"), "dead_letter");
    json_decref(spans);

    /* OTEL_EXPORTER_OTLP_HEADERS reached the collector (percent-decoded) */
    json_t *stj = ctl_json("/stats");
    json_t *hd = json_object_get(stj, "headers");
    assert_string_equal(json_string_value(json_object_get(hd, "x-eddy-tenant")), "acme corp");
    assert_string_equal(json_string_value(json_object_get(hd, "authorization")), "Bearer t0k");
    assert_string_equal(json_string_value(json_object_get(hd, "content-type")), "application/json");
    json_decref(stj);
    check_stats_clean();
    char *text = http(g_ctl_port, "/text", 0);
    if (text) printf("--- traces as the receiver decoded them ---\n%s", text);
    fflush(stdout);
    free(text);
    char series[256];
    snprintf(series, sizeof series, "eddy_otlp_spans_exported_total{service=\"%s\"}", g_n.svc);
    assert_true(metric(mport, series) >= 12);

    /* 2. the collector's port closed: 150 orders (600 spans) through a queue of 32 */
    set_mode("closed");
    int base_orders = atomic_load(&g_orders), base_pay = atomic_load(&g_payments);
    char id[37];
    char qseries[256], dseries[256], fseries[256], rseries[256];
    snprintf(qseries, sizeof qseries, "eddy_otlp_queue_spans{service=\"%s\"}", g_n.svc);
    snprintf(dseries, sizeof dseries,
             "eddy_otlp_spans_dropped_total{service=\"%s\",reason=\"queue_full\"}", g_n.svc);
    snprintf(fseries, sizeof fseries, "eddy_otlp_spans_failed_total{service=\"%s\"}", g_n.svc);
    snprintf(rseries, sizeof rseries, "eddy_otlp_export_retries_total{service=\"%s\"}", g_n.svc);
    double qmax = 0;
    for (int i = 0; i < 150; i++) {
        place_order(svc, "cust-down", "plain", "corr-down", id);
        if (i % 10 == 0) {
            double q = metric(mport, qseries);
            if (q > qmax) qmax = q;
        }
    }
    /* the service is unaffected: every order and payment is processed */
    assert_int_equal(wait_count(&g_orders, base_orders + 150), base_orders + 150);
    assert_int_equal(wait_count(&g_payments, base_pay + 150), base_pay + 150);
    double q = metric(mport, qseries);
    if (q > qmax) qmax = q;
    assert_true(qmax <= 32); /* bounded */
    assert_true(metric(mport, dseries) > 0);
    /* the batch in hand fails after its retries (an eventual condition, bounded) */
    for (int i = 0; i < 200 && metric(mport, fseries) <= 0; i++) msleep(100);
    assert_true(metric(mport, fseries) > 0);
    assert_true(metric(mport, rseries) > 0);

    /* 3. the collector answers 503: retried, refused, counted; the service goes on */
    set_mode("503");
    double failed_before = metric(mport, fseries);
    base_pay = atomic_load(&g_payments);
    for (int i = 0; i < 5; i++) place_order(svc, "cust-503", "plain", "corr-503", id);
    assert_int_equal(wait_count(&g_payments, base_pay + 5), base_pay + 5);
    json_t *s503 = NULL;
    for (int i = 0; i < 200; i++) {
        json_decref(s503);
        s503 = ctl_json("/stats");
        if (json_integer_value(json_object_get(s503, "refused503")) >= 2 &&
            metric(mport, fseries) > failed_before)
            break;
        msleep(100);
    }
    assert_true(json_integer_value(json_object_get(s503, "refused503")) >= 2); /* retried */
    json_decref(s503);
    assert_true(metric(mport, fseries) > failed_before);

    /* 4. the collector is back: export resumes */
    set_mode("ok");
    char o4[37];
    place_order(svc, "cust-4", "plain", "corr-back", o4);
    chain c4;
    assert_non_null(spans = wait_chain(o4, &c4));
    check_process(c4.proc2, c4.pub2, g_n.payments, "cust-4", "corr-back", g_n.svc);
    json_decref(spans);
    check_stats_clean();

    /* the service's /metrics with the eddy_otlp_* families passes promtool's lint */
    char *mt = http(mport, "/metrics", 0);
    assert_non_null(mt);
    char path[] = "/tmp/eddy-otlp-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, mt, strlen(mt)), (ssize_t)strlen(mt));
    close(fd);
    free(mt);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s check metrics < %s",
             getenv("EDDY_PROMTOOL") ? getenv("EDDY_PROMTOOL") : "promtool", path);
    int prc = system(cmd);
    unlink(path);
    assert_int_equal(prc, 0);

    eddy_service_stop(svc);
    void *ret;
    pthread_join(th, &ret);
    assert_int_equal((intptr_t)ret, 0);
    eddy_service_free(svc);
    tstore_drop(&ts);
}

/* A flush interval of an hour: the spans reach the collector only through the shutdown flush. */
static void shutdown_flush(void **state)
{
    (void)state;
    set_mode("ok");
    tstore ts;
    assert_int_equal(tstore_make(&ts, 0), 0);
    char u[37], name[80];
    eddy_uuid_generate(u);
    snprintf(g_n.orders, sizeof g_n.orders, "orders-%.8s", u);
    snprintf(g_n.payments, sizeof g_n.payments, "payments-%.8s", u);
    snprintf(name, sizeof name, "late-%.8s", u);
    eddy_service *svc = service(name, &ts, "3600000", "1000");
    pthread_t th;
    spawn(svc, &th);
    int base = atomic_load(&g_payments);
    char o[37];
    place_order(svc, "cust-late", "plain", "corr-late", o);
    assert_int_equal(wait_count(&g_payments, base + 1), base + 1);
    json_t *spans = ctl_json("/spans");
    chain c;
    assert_int_not_equal(order_chain(spans, o, &c), 0); /* not yet: still queued */
    json_decref(spans);
    eddy_service_stop(svc);
    void *ret;
    pthread_join(th, &ret);
    assert_int_equal((intptr_t)ret, 0);
    spans = ctl_json("/spans"); /* the stop returned after the flush */
    assert_int_equal(order_chain(spans, o, &c), 0);
    check_process(c.proc2, c.pub2, g_n.payments, "cust-late", "corr-late", name);
    json_decref(spans);
    eddy_service_free(svc);
    tstore_drop(&ts);
    check_stats_clean();
}

static void bad_settings(void **state)
{
    (void)state;
    tstore ts;
    assert_int_equal(tstore_make(&ts, 0), 0);
    eddy_service *svc;
    assert_int_equal(eddy_service_new("bad-otlp", &svc), 0);
    eddy_service_set(svc, "store", ts.url);
    eddy_service_set(svc, "bootstrap.servers", g_broker.bootstrap);
    eddy_service_set(svc, "http.listen", "off");
    eddy_service_set(svc, "otlp.endpoint", "ftp://127.0.0.1:4318");
    assert_true(eddy_service_start(svc, NULL) < 0);
    eddy_service_free(svc);

    assert_int_equal(eddy_service_new("bad-otlp", &svc), 0);
    eddy_service_set(svc, "store", ts.url);
    eddy_service_set(svc, "http.listen", "off");
    eddy_service_set(svc, "otlp.endpoint", "http://127.0.0.1:4318");
    eddy_service_set(svc, "otlp.queue.max", "lots");
    assert_true(eddy_service_start(svc, NULL) < 0);
    eddy_service_free(svc);

    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "no-equals-sign", 1);
    assert_int_equal(eddy_service_new("bad-otlp", &svc), 0);
    eddy_service_set(svc, "store", ts.url);
    eddy_service_set(svc, "http.listen", "off");
    assert_true(eddy_service_start(svc, NULL) < 0);
    eddy_service_free(svc);
    unsetenv("OTEL_EXPORTER_OTLP_HEADERS");

    /* OTEL_SDK_DISABLED=true: no export, whatever the settings say */
    setenv("OTEL_SDK_DISABLED", "true", 1);
    assert_int_equal(eddy_service_new("off-otlp", &svc), 0);
    eddy_service_set(svc, "store", ts.url);
    eddy_service_set(svc, "bootstrap.servers", g_broker.bootstrap);
    eddy_service_set(svc, "http.listen", "off");
    eddy_service_set(svc, "topic.create", "0");
    assert_int_equal(eddy_service_start(svc, NULL), 0);
    char *mt = eddy_service_metrics_text(svc);
    assert_null(strstr(mt, "eddy_otlp_"));
    free(mt);
    eddy_service_free(svc);
    unsetenv("OTEL_SDK_DISABLED");
    unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    tstore_drop(&ts);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_settings),
        cmocka_unit_test(export_and_outage),
        cmocka_unit_test(shutdown_flush),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
