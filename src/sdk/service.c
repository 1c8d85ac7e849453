/* service.c — the libeddy service runtime (eddy.h): configuration from file and environment,
 * handlers per (topic, event type), a consumer in group = service name, the idempotent-consumer
 * (inbox) transaction around every handler, retries with exponential backoff and jitter, the
 * dead-letter queue <topic>.dlq, processing spans, graceful SIGTERM shutdown. Metrics and HTTP
 * live in metrics.c. Part of src/sdk (libeddy). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service_int.h"

extern char **environ;

static volatile sig_atomic_t g_signalled;

static void on_signal(int sig)
{
    (void)sig;
    g_signalled = 1;
}

/* ---- configuration ------------------------------------------------------------------------ */
static void kv_set(eddy_service *svc, const char *k, const char *v)
{
    for (int i = 0; i < svc->nconf; i++)
        if (!strcmp(svc->conf_k[i], k)) {
            free(svc->conf_v[i]);
            svc->conf_v[i] = sdk_xstrdup(v);
            return;
        }
    svc->conf_k = sdk_xrealloc(svc->conf_k, (size_t)(svc->nconf + 1) * sizeof(char *));
    svc->conf_v = sdk_xrealloc(svc->conf_v, (size_t)(svc->nconf + 1) * sizeof(char *));
    svc->conf_k[svc->nconf] = sdk_xstrdup(k);
    svc->conf_v[svc->nconf] = sdk_xstrdup(v);
    svc->nconf++;
}

void eddy_service_set(eddy_service *svc, const char *key, const char *value)
{
    kv_set(svc, key, value);
}

const char *eddy_service_get(const eddy_service *svc, const char *key)
{
    /* Environment wins: key "a.b.c" ↔ EDDY_A_B_C. */
    char env[160] = "EDDY_";
    size_t n = 5;
    for (const char *p = key; *p && n < sizeof env - 1; p++, n++)
        env[n] = (*p == '.' || *p == '-') ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    env[n] = 0;
    const char *e = getenv(env);
    if (e && *e) return e;
    for (int i = 0; i < svc->nconf; i++)
        if (!strcmp(svc->conf_k[i], key)) return svc->conf_v[i];
    return NULL;
}

static const char *conf_str(const eddy_service *svc, const char *key, const char *dflt)
{
    const char *v = eddy_service_get(svc, key);
    return v ? v : dflt;
}

static int conf_int(const eddy_service *svc, const char *key, int dflt)
{
    const char *v = eddy_service_get(svc, key);
    if (!v) return dflt;
    char *end;
    long x = strtol(v, &end, 10);
    return (*end || x < 0 || x > 1000000000) ? dflt : (int)x;
}

int eddy_service_configure(eddy_service *svc, const char *path)
{
    if (!path) path = getenv("EDDY_CONFIG");
    if (!path) return 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        sdk_log(svc->name, "config %s: %s", path, strerror(errno));
        return -errno;
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || *p == '\n' || !*p) continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            sdk_log(svc->name, "config %s:%d: expected key = value", path, lineno);
            rc = EDDY_ERR_PERMANENT;
            continue;
        }
        char *ke = eq;
        while (ke > p && (ke[-1] == ' ' || ke[-1] == '\t')) ke--;
        *ke = 0;
        char *v = eq + 1;
        while (*v == ' ' || *v == '\t') v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == '\n' || v[vl - 1] == '\r' || v[vl - 1] == ' ')) v[--vl] = 0;
        kv_set(svc, p, v);
    }
    fclose(f);
    return rc;
}

/* ---- consumer group ----------------------------------------------------------------------- */
/* Rebalances are logged: a moved coordinator, a lost broker or a new instance shows up here
 * first. On revocation librdkafka commits the offsets stored so far (enable.auto.commit with
 * enable.auto.offset.store=false: only processed messages), so the next owner starts after
 * them. Eager and cooperative assignors both. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    eddy_service *svc = opaque;
    int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        sdk_log(svc->name, "rebalance: assigned %d partition(s)", parts->cnt);
        rd_kafka_error_t *e = NULL;
        if (cooperative)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (e) {
            sdk_log(svc->name, "rebalance: assign: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        sdk_log(svc->name, "rebalance: revoked %d partition(s)", parts->cnt);
    } else {
        sdk_log(svc->name, "rebalance: %s", rd_kafka_err2str(err));
    }
    if (cooperative) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e) rd_kafka_error_destroy(e);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

/* ---- construction ------------------------------------------------------------------------- */
int eddy_service_new(const char *name, eddy_service **out)
{
    *out = NULL;
    if (!name || !*name || strlen(name) > 100) return EDDY_ERR_PERMANENT;
    eddy_service *svc = sdk_xcalloc(1, sizeof *svc);
    svc->name = sdk_xstrdup(name);
    pthread_mutex_init(&svc->mmu, NULL);
    pthread_mutex_init(&svc->hmu, NULL);
    sdk_dist_init(&svc->inbox_commit, SDK_SECONDS_BOUNDS);
    sdk_dist_init(&svc->inbox_batch, SDK_COUNT_BOUNDS);
    *out = svc;
    return 0;
}

const char *eddy_service_name(const eddy_service *svc)
{
    return svc->name;
}

int eddy_service_on(eddy_service *svc, const char *topic, const char *event_type,
                    const char *versions, eddy_handler_fn fn, void *arg)
{
    if (!topic || !event_type || !fn || svc->nhandlers >= SDK_MAX_HANDLERS)
        return EDDY_ERR_PERMANENT;
    sdk_handler *h = &svc->handlers[svc->nhandlers++];
    memset(h, 0, sizeof *h);
    h->topic = sdk_xstrdup(topic);
    h->event_type = sdk_xstrdup(event_type);
    h->versions = sdk_xstrdup(versions ? versions : "1");
    h->fn = fn;
    h->arg = arg;
    return 0;
}

int eddy_service_topic(eddy_service *svc, const char *topic)
{
    if (svc->ntopics >= SDK_MAX_TOPICS) return EDDY_ERR_PERMANENT;
    for (int i = 0; i < svc->ntopics; i++)
        if (!strcmp(svc->topics[i], topic)) return 0;
    svc->topics[svc->ntopics++] = sdk_xstrdup(topic);
    return 0;
}

/* Collects kafka.* settings (file) and EDDY_KAFKA_* (environment) as "k=v" strings; svc NULL:
 * the environment only. */
char **sdk_kafka_conf(const eddy_service *svc)
{
    int n = 0, cap = 8;
    char **v = sdk_xcalloc((size_t)cap + 1, sizeof(char *));
    for (int i = 0; svc && i < svc->nconf; i++) {
        if (strncmp(svc->conf_k[i], "kafka.", 6)) continue;
        if (n == cap) v = sdk_xrealloc(v, (size_t)((cap *= 2) + 1) * sizeof(char *));
        v[n++] = sdk_xasprintf("%s=%s", svc->conf_k[i] + 6, svc->conf_v[i]);
    }
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "EDDY_KAFKA_", 11)) continue;
        const char *eq = strchr(*e, '=');
        if (!eq) continue;
        char *k = sdk_xstrndup(*e + 11, (size_t)(eq - *e - 11));
        for (char *p = k; *p; p++)
            *p = *p == '_' ? '.' : (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        if (n == cap) v = sdk_xrealloc(v, (size_t)((cap *= 2) + 1) * sizeof(char *));
        v[n++] = sdk_xasprintf("%s=%s", k, eq + 1);
        free(k);
    }
    v[n] = NULL;
    return v;
}

void sdk_strv_free(char **v)
{
    for (int i = 0; v && v[i]; i++) free(v[i]);
    free(v);
}

static int apply_conf(rd_kafka_conf_t *c, const char *k, const char *v, const char *svc)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        sdk_log(svc, "kafka config %s=%s: %s", k, v, err);
        return EDDY_ERR_PERMANENT;
    }
    return 0;
}

static void create_topics(eddy_service *svc)
{
    const char *names[SDK_MAX_TOPICS * 2 + SDK_MAX_HANDLERS * 2];
    int n = 0;
    for (int i = 0; i < svc->ntopics; i++) {
        names[n++] = svc->topics[i];
    }
    for (int i = 0; i < svc->nhandlers; i++) names[n++] = svc->handlers[i].topic;
    char *dlqs[SDK_MAX_TOPICS + SDK_MAX_HANDLERS];
    int nd = 0, base = n;
    for (int i = 0; i < base; i++) {
        int dup = 0;
        for (int j = 0; j < i; j++) dup |= !strcmp(names[i], names[j]);
        if (!dup) dlqs[nd++] = sdk_xasprintf("%s.dlq", names[i]);
    }
    for (int i = 0; i < nd; i++) names[n++] = dlqs[i];
    int parts = conf_int(svc, "topic.partitions", 3);
    /* -1: the cluster's default.replication.factor (eddyd: 1). A cluster wants 3 (and
     * min.insync.replicas 2), set here or by the operator; docs/production.md. */
    const char *rfs = eddy_service_get(svc, "topic.replication.factor");
    int rf = rfs && atoi(rfs) > 0 ? atoi(rfs) : -1;
    const char *minisr = eddy_service_get(svc, "topic.min.insync.replicas");
    rd_kafka_NewTopic_t *nt[SDK_MAX_TOPICS * 2 + SDK_MAX_HANDLERS * 2];
    int k = 0;
    for (int i = 0; i < n; i++) {
        int dup = 0;
        for (int j = 0; j < i; j++) dup |= !strcmp(names[i], names[j]);
        if (dup) continue;
        char err[256];
        nt[k] = rd_kafka_NewTopic_new(names[i], parts, rf, err, sizeof err);
        if (!nt[k]) {
            sdk_log(svc->name, "create topic %s: %s", names[i], err);
            continue;
        }
        if (minisr && *minisr && rd_kafka_NewTopic_set_config(nt[k], "min.insync.replicas", minisr))
            sdk_log(svc->name, "create topic %s: min.insync.replicas=%s refused", names[i], minisr);
        k++;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(svc->dlq_rk);
    rd_kafka_AdminOptions_t *o =
        rd_kafka_AdminOptions_new(svc->dlq_rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(o, 5000, NULL, 0);
    rd_kafka_AdminOptions_set_request_timeout(o, 5000, NULL, 0);
    rd_kafka_CreateTopics(svc->dlq_rk, nt, (size_t)k, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 8000);
    if (ev) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        if (rd_kafka_event_error(ev)) {
            sdk_log(svc->name, "create topics: %s", rd_kafka_event_error_string(ev));
        } else if (res) {
            size_t cnt;
            const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
            for (size_t i = 0; i < cnt; i++) {
                rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
                if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                    sdk_log(svc->name, "create topic %s: %s", rd_kafka_topic_result_name(tr[i]),
                            rd_kafka_err2str(e));
            }
        }
        rd_kafka_event_destroy(ev);
    } else {
        sdk_log(svc->name, "create topics: no answer (auto-creation may still apply)");
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    for (int i = 0; i < k; i++) rd_kafka_NewTopic_destroy(nt[i]);
    for (int i = 0; i < nd; i++) free(dlqs[i]);
}

static const char *otlp_conf(void *arg, const char *key)
{
    return eddy_service_get(arg, key);
}

/* The schema script for the store's database: on SQLite each comment opening with "sqlite:"
 * becomes its text (eddy.h); elsewhere the script is unchanged. */
static char *schema_dialect(const char *sql, int sqlite)
{
    static const char open_tag[] = "/*sqlite:";
    char *out = sdk_xstrdup(sql), *w = out;
    if (!sqlite) return out;
    for (const char *p = sql; *p;) {
        const char *end;
        if (!strncmp(p, open_tag, sizeof open_tag - 1) && (end = strstr(p, "*/"))) {
            size_t n = (size_t)(end - p) - (sizeof open_tag - 1);
            memcpy(w, p + sizeof open_tag - 1, n);
            w += n;
            p = end + 2;
        } else {
            *w++ = *p++;
        }
    }
    *w = 0;
    return out;
}

int eddy_service_start(eddy_service *svc, const char *schema_sql)
{
    int rc;
    if (!svc->nconf && getenv("EDDY_CONFIG")) eddy_service_configure(svc, NULL);
    svc->main_thread = pthread_self();
    char *dflt_store = sdk_xasprintf("sqlite:%s.db", svc->name);
    svc->store_url = sdk_xstrdup(conf_str(svc, "store", dflt_store));
    free(dflt_store);
    svc->bootstrap = sdk_xstrdup(conf_str(svc, "bootstrap.servers", "127.0.0.1:9092"));
    svc->max_attempts = conf_int(svc, "retry.max.attempts", 5);
    if (svc->max_attempts < 1) svc->max_attempts = 1;
    svc->backoff_ms = conf_int(svc, "retry.backoff.ms", 100);
    svc->backoff_max_ms = conf_int(svc, "retry.backoff.max.ms", 5000);
    /* records per inbox transaction: the ones already fetched, never waited for */
    svc->batch_max = conf_int(svc, "inbox.batch.max", 100);
    if (svc->batch_max < 1) svc->batch_max = 1;
    if (svc->batch_max > 10000) svc->batch_max = 10000;
    const char *tl = eddy_service_get(svc, "trace.log");
    if (tl && *tl) svc->trace = fopen(tl, "a");
    if (svc->trace) setvbuf(svc->trace, NULL, _IOLBF, 0);
    if (!svc->otlp && (rc = sdk_otlp_configure(svc->name, otlp_conf, svc, &svc->otlp)) < 0)
        return rc;

    /* Store: may be briefly unavailable (PostgreSQL starting): retry a little. */
    for (int i = 0;; i++) {
        rc = eddy_store_open(svc->store_url, &svc->store);
        if (rc == 0 || rc != EDDY_ERR_TRANSIENT || i >= 50) break;
        sdk_sleep_ms(200);
    }
    if (rc < 0) {
        sdk_log(svc->name, "cannot open store %s", svc->store_url);
        return rc;
    }
    sdk_store_set_otlp(svc->store, svc->otlp);
    if (schema_sql) {
        char *sql = schema_dialect(schema_sql, !eddy_store_is_postgres(svc->store));
        rc = eddy_store_exec(svc->store, sql, 0, NULL);
        free(sql);
        if (rc < 0) {
            sdk_log(svc->name, "schema: %s", eddy_store_error(svc->store));
            return rc;
        }
    }
    if ((rc = eddy_store_migrate(svc->store)) < 0) {
        sdk_log(svc->name, "migrate: %s", eddy_store_error(svc->store));
        return rc;
    }

    char **kc = sdk_kafka_conf(svc);
    char err[512];
    svc->dlq_rk = sdk_producer_new(svc->bootstrap, (const char *const *)kc, NULL, err, sizeof err);
    if (!svc->dlq_rk) {
        sdk_log(svc->name, "producer: %s", err);
        sdk_strv_free(kc);
        return EDDY_ERR_PERMANENT;
    }
    if (conf_int(svc, "topic.create", 1)) create_topics(svc);

    /* Relay: not started while the crash fault is armed, so the crash point is exact. */
    rc = eddy_relay_new(svc->store_url, svc->bootstrap, (const char *const *)kc, &svc->relay);
    if (rc < 0) {
        sdk_strv_free(kc);
        return rc;
    }
    if (!sdk_fault_armed("crash_after_outbox_commit", svc->name)) eddy_relay_start(svc->relay);

    if (svc->nhandlers) {
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rc = 0;
        rc |= apply_conf(c, "bootstrap.servers", svc->bootstrap, svc->name);
        rc |= apply_conf(c, "group.id", svc->name, svc->name);
        rc |= apply_conf(c, "client.id", svc->name, svc->name);
        rc |= apply_conf(c, "enable.auto.commit", "true", svc->name);
        rc |= apply_conf(c, "auto.commit.interval.ms", "500", svc->name);
        rc |= apply_conf(c, "enable.auto.offset.store", "false", svc->name);
        rc |= apply_conf(c, "auto.offset.reset", "earliest", svc->name);
        rc |= apply_conf(c, "allow.auto.create.topics", "true", svc->name);
        rc |= apply_conf(c, "topic.metadata.refresh.interval.ms", "1000", svc->name);
        rc |= apply_conf(c, "reconnect.backoff.max.ms", "1000", svc->name);
        rc |= apply_conf(c, "fetch.wait.max.ms", "100", svc->name);
        rc |= apply_conf(c, "log_level", "3", svc->name);
        for (int i = 0; kc[i]; i++) {
            char *eq = strchr(kc[i], '=');
            *eq = 0;
            if (strcmp(kc[i], "enable.idempotence") && strcmp(kc[i], "acks") &&
                strcmp(kc[i], "linger.ms") && strcmp(kc[i], "message.timeout.ms"))
                rc |= apply_conf(c, kc[i], eq + 1, svc->name);
            *eq = '=';
        }
        if (rc) {
            rd_kafka_conf_destroy(c);
            sdk_strv_free(kc);
            return EDDY_ERR_PERMANENT;
        }
        rd_kafka_conf_set_rebalance_cb(c, rebalance_cb);
        rd_kafka_conf_set_opaque(c, svc);
        svc->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
        if (!svc->rk) {
            sdk_log(svc->name, "consumer: %s", err);
            sdk_strv_free(kc);
            return EDDY_ERR_PERMANENT;
        }
        rd_kafka_poll_set_consumer(svc->rk);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(svc->nhandlers);
        for (int i = 0; i < svc->nhandlers; i++) {
            int dup = 0;
            for (int j = 0; j < i; j++)
                dup |= !strcmp(svc->handlers[i].topic, svc->handlers[j].topic);
            if (!dup)
                rd_kafka_topic_partition_list_add(l, svc->handlers[i].topic, RD_KAFKA_PARTITION_UA);
        }
        rd_kafka_resp_err_t e = rd_kafka_subscribe(svc->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e) {
            sdk_log(svc->name, "subscribe: %s", rd_kafka_err2str(e));
            sdk_strv_free(kc);
            return EDDY_ERR_PERMANENT;
        }
    }
    sdk_strv_free(kc);
    for (int i = 0; i < svc->ncomponents; i++)
        if (svc->components[i].start &&
            (rc = svc->components[i].start(svc, svc->components[i].arg)) < 0)
            return rc;
    rc = sdk_http_start(svc, eddy_service_get(svc, "http.listen"),
                        eddy_service_get(svc, "http.threads"));
    if (rc < 0) return rc;
    svc->started = 1;
    sdk_log(svc->name, "started (store %s, brokers %s)",
            eddy_store_is_postgres(svc->store) ? "postgres" : svc->store_url, svc->bootstrap);
    return 0;
}

int sdk_service_attach(eddy_service *svc, const sdk_component *c)
{
    if (svc->ncomponents >= SDK_MAX_COMPONENTS || svc->started) return EDDY_ERR_PERMANENT;
    svc->components[svc->ncomponents++] = *c;
    return 0;
}

const char *sdk_service_store_url(const eddy_service *svc)
{
    return svc->store_url;
}

const char *sdk_service_bootstrap(const eddy_service *svc)
{
    return svc->bootstrap;
}

eddy_store *eddy_service_store(eddy_service *svc)
{
    if (pthread_equal(pthread_self(), svc->main_thread)) return svc->store;
    return sdk_http_store(svc);
}

void eddy_service_outbox_wake(eddy_service *svc)
{
    if (svc->relay) eddy_relay_wake(svc->relay);
}

void eddy_service_stop(eddy_service *svc)
{
    atomic_store(&svc->stop, 1);
}

static int stopping(eddy_service *svc)
{
    return atomic_load(&svc->stop) || g_signalled;
}

/* ---- handler context ---------------------------------------------------------------------- */
struct eddy_ctx {
    eddy_service *svc;
    const eddy_event *ev;
    eddy_tx *tx;
    int attempt;
    char *error;
    int end_batch; /* sdk_ctx_end_batch: commit right after this record */
};

void sdk_ctx_end_batch(eddy_ctx *ctx)
{
    ctx->end_batch = 1;
}

const eddy_event *eddy_ctx_event(const eddy_ctx *ctx)
{
    return ctx->ev;
}

eddy_tx *eddy_ctx_tx(eddy_ctx *ctx)
{
    return ctx->tx;
}

int eddy_ctx_attempt(const eddy_ctx *ctx)
{
    return ctx->attempt;
}

int eddy_ctx_fail(eddy_ctx *ctx, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(ctx->error);
    ctx->error = sdk_xvasprintf(fmt, ap);
    va_end(ap);
    return code;
}

int eddy_ctx_exec(eddy_ctx *ctx, const char *sql, int n, const char *const *params)
{
    int rc = eddy_tx_exec(ctx->tx, sql, n, params);
    if (rc < 0 && !ctx->error) ctx->error = sdk_xstrdup(eddy_store_error(eddy_tx_store(ctx->tx)));
    return rc;
}

int eddy_ctx_query(eddy_ctx *ctx, const char *sql, int n, const char *const *params,
                   eddy_rows **out)
{
    int rc = eddy_tx_query(ctx->tx, sql, n, params, out);
    if (rc < 0 && !ctx->error) ctx->error = sdk_xstrdup(eddy_store_error(eddy_tx_store(ctx->tx)));
    return rc;
}

int eddy_ctx_publish(eddy_ctx *ctx, const char *topic, const char *key, const char *type,
                     const char *version, json_t *payload)
{
    int rc = eddy_tx_publish(ctx->tx, topic, key, type, version, payload, NULL);
    if (rc < 0 && !ctx->error) ctx->error = sdk_xstrdup(eddy_store_error(eddy_tx_store(ctx->tx)));
    return rc;
}

/* ---- dead-letter queue -------------------------------------------------------------------- */
/* Value: {"originalEvent": <envelope object, or the raw value as a string if not JSON>,
 *   "error": "…", "reason": "poison|unknown_version|permanent|retries_exhausted",
 *   "failedAt": RFC 3339, "attemptCount": n, "service": "…",
 *   "sourceTopic": "…", "sourcePartition": p, "sourceOffset": o,
 *   "originalValueBase64": "<the value's exact bytes>" (null: the record had no value)}
 * Key and headers of the original message are kept; x-dlq-reason and x-dlq-error are added.
 * eddy_dlq_redrive (dlq.c) republishes the original from this. */
static int dlq_send(eddy_service *svc, const rd_kafka_message_t *m, const char *reason,
                    const char *error, int attempts)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    json_t *o = json_object();
    json_t *orig = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
    if (!orig) orig = m->payload ? json_stringn_nocheck(m->payload, m->len) : json_null();
    if (!orig) orig = json_string("<not valid UTF-8>");
    json_object_set_new(o, "originalEvent", orig);
    json_object_set_new(o, "error", json_string(error ? error : reason));
    json_object_set_new(o, "reason", json_string(reason));
    char ts[32];
    eddy_time_rfc3339(sdk_wall_ms(), ts);
    json_object_set_new(o, "failedAt", json_string(ts));
    json_object_set_new(o, "attemptCount", json_integer(attempts));
    json_object_set_new(o, "service", json_string(svc->name));
    json_object_set_new(o, "sourceTopic", json_string(topic));
    json_object_set_new(o, "sourcePartition", json_integer(m->partition));
    json_object_set_new(o, "sourceOffset", json_integer(m->offset));
    sdk_dlq_keep_exact(o, m->payload, m->len);
    char *val = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char *dlq = sdk_xasprintf("%s.dlq", topic);
    rd_kafka_headers_t *h = NULL, *src = NULL;
    if (rd_kafka_message_headers(m, &src) == RD_KAFKA_RESP_ERR_NO_ERROR && src)
        h = rd_kafka_headers_copy(src);
    else
        h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "x-dlq-reason", -1, reason, -1);
    if (error) rd_kafka_header_add(h, "x-dlq-error", -1, error, -1);
    volatile int status = 0;
    int rc = 0;
    char why[512];
    rd_kafka_resp_err_t fe = rd_kafka_fatal_error(svc->dlq_rk, why, sizeof why);
    if (fe) {
        /* as the relay does (outbox.c): a fenced idempotent producer is replaced */
        sdk_log(svc->name, "DLQ producer fatal error (%s): %s; starting a new producer",
                rd_kafka_err2name(fe), why);
        char **kc = sdk_kafka_conf(svc), err[512];
        rd_kafka_t *rk =
            sdk_producer_new(svc->bootstrap, (const char *const *)kc, NULL, err, sizeof err);
        sdk_strv_free(kc);
        if (rk) {
            rd_kafka_purge(svc->dlq_rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_destroy(svc->dlq_rk);
            svc->dlq_rk = rk;
        } else {
            sdk_log(svc->name, "DLQ producer: %s", err);
        }
    }
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            svc->dlq_rk, RD_KAFKA_V_TOPIC(dlq), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(val, strlen(val)),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE((void *)&status), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(svc->dlq_rk, 50);
            continue;
        }
        if (e) {
            rd_kafka_headers_destroy(h);
            rc = EDDY_ERR_IO;
        }
        break;
    }
    while (rc == 0 && status == 0) {
        rd_kafka_poll(svc->dlq_rk, 100);
        if (stopping(svc) && status == 0) {
            /* Give it a moment at shutdown; if the broker is away, the message stays
             * uncommitted and is dead-lettered again after restart. */
            rd_kafka_flush(svc->dlq_rk, 2000);
            if (status == 0) rc = EDDY_ERR_TRANSIENT;
            break;
        }
    }
    if (status < 0) rc = EDDY_ERR_IO;
    if (rc == 0) {
        sdk_log(svc->name, "dead-lettered %s[%d]@%lld to %s: %s: %s", topic, (int)m->partition,
                (long long)m->offset, dlq, reason, error ? error : "");
        pthread_mutex_lock(&svc->mmu);
        svc->dlq_total++;
        if (!strcmp(reason, "poison") || !strcmp(reason, "unknown_version")) svc->poison_total++;
        pthread_mutex_unlock(&svc->mmu);
    }
    free(dlq);
    free(val);
    return rc;
}

/* ---- processing --------------------------------------------------------------------------- */
static int version_accepted(const char *versions, const char *v)
{
    size_t maj = strcspn(v, ".");
    const char *p = versions;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == maj && !strncmp(p, v, n)) return 1;
        p += n;
        if (*p == ',') p++;
    }
    return 0;
}

static int backoff_delay(eddy_service *svc, int attempt)
{
    /* Exponential with full jitter on the upper half: base·2^(attempt-1), capped. */
    int64_t d = svc->backoff_ms;
    for (int i = 1; i < attempt && d < svc->backoff_max_ms; i++) d *= 2;
    if (d > svc->backoff_max_ms) d = svc->backoff_max_ms;
    unsigned r = (unsigned)rand();
    return (int)(d / 2 + (d > 1 ? (int64_t)(r % (unsigned)(d / 2 + 1)) : 0));
}

/* The OpenTelemetry process span of ev (CONSUMER, messaging semantic conventions): span is its
 * own traceparent, its parent the publish span named by the record's traceparent. */
static sdk_span *process_span(eddy_service *svc, const eddy_event *ev, const char *span,
                              int64_t start_ns)
{
    sdk_span *sp = sdk_span_messaging(svc->otlp, "process", SDK_SPAN_CONSUMER, span,
                                      ev->traceparent ? ev->traceparent + 36 : NULL, ev->topic,
                                      ev->key, ev, start_ns);
    if (!sp) return NULL;
    char part[16];
    snprintf(part, sizeof part, "%d", (int)ev->partition);
    sdk_span_str(sp, "messaging.destination.partition.id", part);
    sdk_span_str(sp, "messaging.consumer.group.name", svc->name);
    sdk_span_int(sp, "messaging.kafka.offset", ev->offset);
    return sp;
}

static void process_span_end(eddy_service *svc, sdk_span *sp, const char *outcome, int attempts,
                             int status, const char *msg)
{
    sdk_span_str(sp, "eddy.outcome", outcome);
    sdk_span_int(sp, "eddy.attempts", attempts);
    sdk_span_end(svc->otlp, sp, sdk_otlp_now_ns(), status, msg);
}

static void span_write(eddy_service *svc, const eddy_event *ev, const char *span, int64_t dur_us,
                       const char *outcome, int attempt)
{
    if (!svc->trace) return;
    json_t *o = json_object();
    char ts[32];
    eddy_time_rfc3339(sdk_wall_ms(), ts);
    json_object_set_new(o, "name", json_sprintf("process %s", ev->event_type));
    json_object_set_new(o, "service", json_string(svc->name));
    json_object_set_new(o, "traceId", json_stringn(span + 3, 32));
    json_object_set_new(o, "spanId", json_stringn(span + 36, 16));
    if (ev->traceparent)
        json_object_set_new(o, "parentSpanId", json_stringn(ev->traceparent + 36, 16));
    json_object_set_new(o, "correlationId", json_string(ev->correlation_id));
    json_object_set_new(o, "eventId", json_string(ev->event_id));
    json_object_set_new(o, "topic", json_string(ev->topic));
    json_object_set_new(o, "endTime", json_string(ts));
    json_object_set_new(o, "durationUs", json_integer(dur_us));
    json_object_set_new(o, "attempt", json_integer(attempt));
    json_object_set_new(o, "outcome", json_string(outcome));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    pthread_mutex_lock(&svc->mmu);
    fprintf(svc->trace, "%s\n", s);
    pthread_mutex_unlock(&svc->mmu);
    free(s);
}

/* The handler of an event type on a topic, or NULL (someone else's event on a shared topic). */
static sdk_handler *handler_of(eddy_service *svc, const char *topic, const char *event_type)
{
    for (int i = 0; i < svc->nhandlers; i++)
        if (!strcmp(svc->handlers[i].topic, topic) &&
            !strcmp(svc->handlers[i].event_type, event_type))
            return &svc->handlers[i];
    return NULL;
}

/* What the record adds to its decoded envelope: where it was read (topic, partition, offset),
 * its key, and the traceparent header when the envelope has none (an invalid one is dropped). */
static void event_from_msg(eddy_event *ev, const rd_kafka_message_t *m, const char *topic)
{
    ev->topic = sdk_xstrdup(topic);
    ev->partition = m->partition;
    ev->offset = m->offset;
    if (m->key) ev->key = sdk_xstrndup(m->key, m->key_len);
    if (!ev->traceparent) ev->traceparent = sdk_msg_header(m, "traceparent");
    if (ev->traceparent && !eddy_trace_valid(ev->traceparent))
        eddy_event_set(&ev->traceparent, NULL);
}

/* The outcome of a record's first attempt made inside a batch (batch_run), which process()
 * counts as its attempt 1 instead of calling the handler again. */
typedef struct prior_attempt {
    int rc;
    char *error;
    int64_t dur_us;
} prior_attempt;

/* Returns 1 when the message is finished with (offset may be stored), 0 if processing was
 * interrupted by shutdown or the DLQ was unreachable (the message will be seen again). */
static int process(eddy_service *svc, rd_kafka_message_t *m, prior_attempt *prior)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    eddy_event *ev = NULL;
    char *why = NULL;
    if (eddy_event_from_json(m->payload, m->len, &ev, &why) != 0) {
        int ok = dlq_send(svc, m, "poison", why, 0) == 0;
        free(why);
        return ok;
    }
    event_from_msg(ev, m, topic);

    sdk_handler *h = handler_of(svc, topic, ev->event_type);
    if (!h) {
        eddy_event_free(ev);
        return 1; /* someone else's event on a shared topic */
    }
    if (!version_accepted(h->versions, ev->version)) {
        char *e = sdk_xasprintf("unknown version %s of %s (accepted majors: %s)", ev->version,
                                ev->event_type, h->versions);
        int ok = dlq_send(svc, m, "unknown_version", e, 0) == 0;
        free(e);
        eddy_event_free(ev);
        return ok;
    }

    char span[56];
    if (ev->traceparent)
        eddy_trace_child(ev->traceparent, span);
    else
        eddy_trace_new(span);
    sdk_span *osp =
        process_span(svc, ev, span, sdk_otlp_now_ns() - (prior ? prior->dur_us * 1000 : 0));
    int done = 0;
    int attempt;
    char *last_error = NULL;
    const char *reason = "retries_exhausted";
    for (attempt = 1; attempt <= svc->max_attempts; attempt++) {
        int64_t t0 = sdk_mono_us();
        eddy_ctx ctx = {svc, ev, NULL, attempt, NULL, 0};
        int rc;
        if (prior) { /* attempt 1 was made in the batch and rolled back to its savepoint */
            rc = prior->rc;
            ctx.error = prior->error;
            t0 -= prior->dur_us;
            prior = NULL;
        } else if ((rc = eddy_tx_begin(svc->store, svc->name, ev->correlation_id, NULL, &ctx.tx)) ==
                   0) {
            sdk_tx_set_cause(ctx.tx, ev, span);
            char ts[32];
            eddy_time_rfc3339(sdk_wall_ms(), ts);
            const char *p[] = {ev->event_id, topic, ev->event_type, ts};
            rc = eddy_tx_exec(ctx.tx,
                              "INSERT INTO eddy_inbox (event_id, topic, event_type, processed_at)"
                              " VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING",
                              4, p);
            if (rc == 0) {
                eddy_tx_rollback(ctx.tx);
                pthread_mutex_lock(&svc->mmu);
                h->m.duplicates++;
                pthread_mutex_unlock(&svc->mmu);
                span_write(svc, ev, span, sdk_mono_us() - t0, "duplicate", attempt);
                process_span_end(svc, osp, "duplicate", attempt, SDK_STATUS_UNSET, NULL);
                osp = NULL;
                done = 1;
                break;
            }
            if (rc > 0) {
                rc = h->fn(&ctx, h->arg);
                if (rc >= 0) { /* any non-negative value (a row count too) is success */
                    rc = eddy_tx_commit(ctx.tx);
                    if (rc > 0) rc = 0;
                    ctx.tx = NULL;
                    if (rc < 0 && !ctx.error)
                        ctx.error = sdk_xasprintf("commit: %s", eddy_store_error(svc->store));
                    if (rc == EDDY_ERR_PERMANENT) rc = EDDY_ERR_TRANSIENT; /* retry commit */
                }
            } else if (!ctx.error) {
                ctx.error = sdk_xasprintf("inbox: %s", eddy_store_error(svc->store));
                rc = EDDY_ERR_TRANSIENT;
            }
            if (ctx.tx) eddy_tx_rollback(ctx.tx);
        } else {
            ctx.error = sdk_xasprintf("begin: %s", eddy_store_error(svc->store));
        }
        if (rc == 0) {
            pthread_mutex_lock(&svc->mmu);
            sdk_dist_observe(&svc->inbox_batch, 1);
            pthread_mutex_unlock(&svc->mmu);
        }
        int64_t dur = sdk_mono_us() - t0;
        if (rc == 0) {
            sdk_metrics_observe(svc, h, dur);
            span_write(svc, ev, span, dur, "ok", attempt);
            process_span_end(svc, osp, "ok", attempt, SDK_STATUS_UNSET, NULL);
            osp = NULL;
            free(ctx.error);
            done = 1;
            break;
        }
        pthread_mutex_lock(&svc->mmu);
        h->m.failed++;
        pthread_mutex_unlock(&svc->mmu);
        span_write(svc, ev, span, dur, "error", attempt);
        free(last_error);
        last_error = ctx.error ? ctx.error : sdk_xasprintf("handler returned %d", rc);
        if (rc != EDDY_ERR_TRANSIENT && rc != EDDY_ERR_IO) {
            reason = "permanent";
            break;
        }
        if (attempt == svc->max_attempts) break;
        pthread_mutex_lock(&svc->mmu);
        h->m.retried++;
        pthread_mutex_unlock(&svc->mmu);
        int delay = backoff_delay(svc, attempt);
        if (osp) {
            char at[16], dl[16];
            snprintf(at, sizeof at, "%d", attempt);
            snprintf(dl, sizeof dl, "%d", delay);
            sdk_span_event(osp, "retry", sdk_otlp_now_ns(), "eddy.attempt", at, "exception.message",
                           last_error, "eddy.retry.delay_ms", dl, NULL);
        }
        for (int waited = 0; waited < delay && !stopping(svc); waited += 50)
            sdk_sleep_ms(delay - waited < 50 ? delay - waited : 50);
        if (stopping(svc)) {
            sdk_span_event(osp, "shutdown", sdk_otlp_now_ns(), NULL);
            process_span_end(svc, osp, "interrupted", attempt, SDK_STATUS_ERROR,
                             "interrupted by shutdown before its retry");
            free(last_error);
            eddy_event_free(ev);
            return 0;
        }
    }
    if (!done) {
        if (attempt > svc->max_attempts) attempt = svc->max_attempts;
        done = dlq_send(svc, m, reason, last_error, attempt) == 0;
        if (osp) {
            char at[16];
            snprintf(at, sizeof at, "%d", attempt);
            char *dlq = sdk_xasprintf("%s.dlq", topic);
            if (done)
                sdk_span_event(osp, "dead_letter", sdk_otlp_now_ns(), "eddy.dlq.topic", dlq,
                               "eddy.dlq.reason", reason, "eddy.attempt", at, "exception.message",
                               last_error, NULL);
            free(dlq);
            process_span_end(svc, osp, done ? "dead_letter" : "dlq_unreachable", attempt,
                             SDK_STATUS_ERROR, last_error);
            osp = NULL;
        }
        if (done) {
            pthread_mutex_lock(&svc->mmu);
            h->m.dead_lettered++;
            pthread_mutex_unlock(&svc->mmu);
        }
    }
    sdk_span_discard(osp);
    free(last_error);
    eddy_event_free(ev);
    return done;
}

/* ---- batched inbox transactions ----------------------------------------------------------- */
/* Runs msgs[0..n) in one database transaction, each record inside its own savepoint with its
 * inbox row: a record that fails rolls back to its savepoint (its inbox row and every write
 * and event of its handler go with it), the records before it commit. Returns how many leading
 * records are finished (committed, duplicates, or someone else's events); the record at that
 * index, if any, is left to process(): when its handler failed, *prior says how (that was its
 * attempt 1). 0 also when the batch could not commit: then every record goes to process(). */
static int batch_run(eddy_service *svc, rd_kafka_message_t **msgs, int n, prior_attempt *prior)
{
    eddy_tx *tx = NULL;
    int stop_at = n;
    int nrec = 0;    /* records with a handler in this transaction */
    int open_sp = 0; /* the previous record's savepoint is still open (released lazily) */
    eddy_event **evs = svc->batch_ev;
    sdk_handler **hs = svc->batch_h;
    int64_t *durs = svc->batch_dur;
    prior->rc = 0;
    for (int i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        const char *topic = rd_kafka_topic_name(m->rkt);
        eddy_event *ev = NULL;
        char *why = NULL;
        if (eddy_event_from_json(m->payload, m->len, &ev, &why) != 0) {
            free(why);
            stop_at = i; /* poison: process() dead-letters it */
            break;
        }
        sdk_handler *h = handler_of(svc, topic, ev->event_type);
        if (!h) { /* someone else's event on a shared topic */
            eddy_event_free(ev);
            continue;
        }
        if (!version_accepted(h->versions, ev->version)) {
            eddy_event_free(ev);
            stop_at = i;
            break;
        }
        event_from_msg(ev, m, topic);
        if (!tx && eddy_tx_begin(svc->store, svc->name, ev->correlation_id, NULL, &tx) < 0) {
            eddy_event_free(ev);
            tx = NULL;
            stop_at = i;
            break;
        }
        char span[56];
        if (ev->traceparent)
            eddy_trace_child(ev->traceparent, span);
        else
            eddy_trace_new(span);
        sdk_tx_set_cause(tx, ev, span);
        int published = sdk_tx_published(tx);
        int64_t top_id = sdk_tx_top_id(tx);
        int64_t t0 = sdk_mono_us();
        char ts[32];
        eddy_time_rfc3339(sdk_wall_ms(), ts);
        const char *p[] = {ev->event_id, topic, ev->event_type, ts};
        /* the previous record's RELEASE travels with this record's SAVEPOINT: one round trip
         * to PostgreSQL instead of two (the commit releases the last one) */
        int rc = eddy_tx_exec(tx,
                              open_sp ? "RELEASE SAVEPOINT eddy_record; SAVEPOINT eddy_record"
                                      : "SAVEPOINT eddy_record",
                              0, NULL);
        open_sp = rc >= 0;
        int dup = 0;
        eddy_ctx ctx = {svc, ev, tx, 1, NULL, 0};
        if (rc >= 0) {
            rc = eddy_tx_exec(tx,
                              "INSERT INTO eddy_inbox (event_id, topic, event_type, processed_at)"
                              " VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING",
                              4, p);
            if (rc == 0) {
                dup = 1;
            } else if (rc > 0) {
                rc = h->fn(&ctx, h->arg);
                if (rc < 0) {
                    prior->rc = rc;
                    prior->error = ctx.error;
                    prior->dur_us = sdk_mono_us() - t0;
                    ctx.error = NULL;
                }
            }
        }
        if (rc < 0) {
            free(ctx.error);
            if (open_sp)
                eddy_tx_exec(tx, "ROLLBACK TO SAVEPOINT eddy_record; RELEASE SAVEPOINT eddy_record",
                             0, NULL);
            sdk_tx_set_published(tx, published, top_id);
            eddy_event_free(ev);
            stop_at = i;
            break;
        }
        free(ctx.error);
        evs[nrec] = ev;
        hs[nrec] = h;
        memcpy(svc->batch_span[nrec], span, sizeof span);
        durs[nrec] = dup ? -(sdk_mono_us() - t0) - 1 : sdk_mono_us() - t0;
        nrec++;
        if (ctx.end_batch) { /* the handler wants its effects committed before anything else */
            stop_at = i + 1;
            break;
        }
    }
    int ok = 1;
    if (tx) {
        int64_t c0 = sdk_mono_us();
        /* the consumer's offset never runs ahead of what the database has durably stored;
         * the relay, woken after the sync, does not sync again for these rows */
        int rc = sdk_tx_commit_synced(tx);
        if (rc < 0) {
            sdk_log(svc->name, "inbox batch of %d: %s; one record at a time", nrec,
                    eddy_store_error(svc->store));
            ok = 0;
        } else {
            pthread_mutex_lock(&svc->mmu);
            sdk_dist_observe(&svc->inbox_commit, (double)(sdk_mono_us() - c0) / 1e6);
            sdk_dist_observe(&svc->inbox_batch, nrec);
            pthread_mutex_unlock(&svc->mmu);
        }
    }
    for (int k = 0; k < nrec; k++) {
        if (ok) {
            if (durs[k] < 0) {
                pthread_mutex_lock(&svc->mmu);
                hs[k]->m.duplicates++;
                pthread_mutex_unlock(&svc->mmu);
                span_write(svc, evs[k], svc->batch_span[k], -durs[k] - 1, "duplicate", 1);
            } else {
                sdk_metrics_observe(svc, hs[k], durs[k]);
                span_write(svc, evs[k], svc->batch_span[k], durs[k], "ok", 1);
            }
            int64_t us = durs[k] < 0 ? -durs[k] - 1 : durs[k];
            process_span_end(
                svc, process_span(svc, evs[k], svc->batch_span[k], sdk_otlp_now_ns() - us * 1000),
                durs[k] < 0 ? "duplicate" : "ok", 1, SDK_STATUS_UNSET, NULL);
        }
        eddy_event_free(evs[k]);
    }
    if (!ok) {
        if (prior->rc) free(prior->error);
        prior->rc = 0;
        return 0;
    }
    return stop_at;
}

/* Stores offsets past msgs[0..n) (the highest per partition). The store was synced when they
 * committed. */
static void offsets_store(eddy_service *svc, rd_kafka_message_t **msgs, int n)
{
    if (n <= 0) return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n < 8 ? n : 8);
    int redriven = 0; /* republished by a DLQ redrive (docs/sdk.md) */
    for (int i = 0; i < n; i++) {
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t vn;
        if (rd_kafka_message_headers(msgs[i], &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h &&
            rd_kafka_header_get_last(h, "eddy-redrive-count", &v, &vn) ==
                RD_KAFKA_RESP_ERR_NO_ERROR)
            redriven++;
        const char *t = rd_kafka_topic_name(msgs[i]->rkt);
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(l, t, msgs[i]->partition);
        if (!p) p = rd_kafka_topic_partition_list_add(l, t, msgs[i]->partition);
        if (msgs[i]->offset + 1 > p->offset) p->offset = msgs[i]->offset + 1;
    }
    rd_kafka_offsets_store(svc->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (redriven) {
        pthread_mutex_lock(&svc->mmu);
        svc->redriven_total += (uint64_t)redriven;
        pthread_mutex_unlock(&svc->mmu);
    }
}

/* Goes back to the first of msgs[0..n) on each partition: they will be fetched again. */
static void seek_back(eddy_service *svc, rd_kafka_message_t **msgs, int n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n < 8 ? n : 8);
    for (int i = 0; i < n; i++) {
        const char *t = rd_kafka_topic_name(msgs[i]->rkt);
        if (!rd_kafka_topic_partition_list_find(l, t, msgs[i]->partition))
            rd_kafka_topic_partition_list_add(l, t, msgs[i]->partition)->offset = msgs[i]->offset;
    }
    rd_kafka_error_t *e = rd_kafka_seek_partitions(svc->rk, l, 5000);
    if (e) rd_kafka_error_destroy(e);
    rd_kafka_topic_partition_list_destroy(l);
}

int eddy_service_run(eddy_service *svc)
{
    if (!svc->started) return EDDY_ERR_PERMANENT;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int64_t last_err_log = 0;
    int bmax = svc->batch_max;
    rd_kafka_message_t **msgs = sdk_xcalloc((size_t)bmax, sizeof *msgs);
    svc->batch_ev = sdk_xcalloc((size_t)bmax, sizeof *svc->batch_ev);
    svc->batch_h = sdk_xcalloc((size_t)bmax, sizeof *svc->batch_h);
    svc->batch_dur = sdk_xcalloc((size_t)bmax, sizeof *svc->batch_dur);
    svc->batch_span = sdk_xcalloc((size_t)bmax, sizeof *svc->batch_span);
    while (!stopping(svc)) {
        if (!svc->rk) {
            sdk_sleep_ms(100);
            continue;
        }
        /* the first record waits; the rest are what has already been fetched */
        int n = 0;
        while (n < bmax) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(svc->rk, n ? 0 : 200);
            if (!m) break;
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
                    sdk_mono_us() - last_err_log > 5000000) {
                    sdk_log(svc->name, "consumer: %s", rd_kafka_message_errstr(m));
                    last_err_log = sdk_mono_us();
                }
                rd_kafka_message_destroy(m);
                continue;
            }
            msgs[n++] = m;
        }
        int i = 0;
        while (i < n && !stopping(svc)) {
            prior_attempt prior = {0, NULL, 0};
            int k = bmax > 1 ? batch_run(svc, msgs + i, n - i, &prior) : 0;
            if (k > 0) {
                offsets_store(svc, msgs + i, k);
                i += k;
            }
            if (i >= n) break;
            /* msgs[i] stopped the batch: its handler failed (prior: that was attempt 1), or it
             * is poison / of an unknown version (the next batch_run stops at it at once) */
            if (k > 0 && !prior.rc) continue;
            int done = process(svc, msgs[i], prior.rc ? &prior : NULL);
            if (done && sdk_store_sync(svc->store) < 0) {
                sdk_log(svc->name, "sync: %s", eddy_store_error(svc->store));
                done = 0;
            }
            if (done) {
                offsets_store(svc, msgs + i, 1);
                i++;
            } else {
                break;
            }
        }
        if (i < n) {
            /* shutdown, or the DLQ or the store unreachable: these records will be seen again */
            if (!stopping(svc)) {
                seek_back(svc, msgs + i, n - i);
                sdk_sleep_ms(500);
            }
        }
        for (int j = 0; j < n; j++) rd_kafka_message_destroy(msgs[j]);
    }
    free(msgs);
    sdk_log(svc->name, "stopping: committing offsets, flushing the outbox");
    int rc = 0;
    if (svc->rk) {
        rd_kafka_resp_err_t e = rd_kafka_commit(svc->rk, NULL, 0);
        if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
            sdk_log(svc->name, "commit: %s", rd_kafka_err2str(e));
        rd_kafka_consumer_close(svc->rk);
    }
    for (int i = svc->ncomponents - 1; i >= 0; i--)
        if (svc->components[i].stop) svc->components[i].stop(svc->components[i].arg);
    if (svc->relay) eddy_relay_stop(svc->relay, 10000);
    if (svc->dlq_rk) rd_kafka_flush(svc->dlq_rk, 5000);
    sdk_http_stop(svc);
    sdk_otlp_shutdown(svc->otlp); /* the spans of everything above, within otlp.shutdown.ms */
    sdk_log(svc->name, "stopped");
    return rc;
}

void eddy_service_free(eddy_service *svc)
{
    if (!svc) return;
    sdk_http_stop(svc);
    for (int i = svc->ncomponents - 1; i >= 0; i--) {
        if (svc->components[i].stop) svc->components[i].stop(svc->components[i].arg);
        if (svc->components[i].destroy) svc->components[i].destroy(svc->components[i].arg);
    }
    if (svc->rk) rd_kafka_destroy(svc->rk);
    if (svc->relay) eddy_relay_free(svc->relay);
    if (svc->dlq_rk) rd_kafka_destroy(svc->dlq_rk);
    eddy_store_close(svc->store);
    sdk_http_free(svc);
    sdk_otlp_free(svc->otlp);
    for (int i = 0; i < svc->nhandlers; i++) {
        free(svc->handlers[i].topic);
        free(svc->handlers[i].event_type);
        free(svc->handlers[i].versions);
    }
    for (int i = 0; i < svc->ntopics; i++) free(svc->topics[i]);
    for (int i = 0; i < svc->nconf; i++) {
        free(svc->conf_k[i]);
        free(svc->conf_v[i]);
    }
    free(svc->conf_k);
    free(svc->conf_v);
    if (svc->trace) fclose(svc->trace);
    free(svc->store_url);
    free(svc->bootstrap);
    free(svc->name);
    free(svc->batch_ev);
    free(svc->batch_h);
    free(svc->batch_dur);
    free(svc->batch_span);
    pthread_mutex_destroy(&svc->mmu);
    pthread_mutex_destroy(&svc->hmu);
    free(svc);
}
