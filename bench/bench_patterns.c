/* bench_patterns — W7 (outbox relay) and W8 (idempotent handlers) of `make bench` (issue 18;
 * bench/run.sh runs it, `eddy-bench-patterns --help`). Not a test: it prints what it measured,
 * one JSON object per line, the last line the workload's result.
 *   w7  a writer commits outbox rows (1 KiB payloads, --batch rows per transaction) while
 *       libeddy's relay publishes them to eddyd (acks=all): relay events/s at saturation (writer
 *       as fast as it can), then the outbox age (commit -> broker ack, the relay's own metric)
 *       P50/P99 with the writer at --load (default 50%) of that rate. Limit, measured first in
 *       the same run: the same database committing the same rows in the same batch sizes into a
 *       plain table of the outbox's shape.
 *   w8  --events envelopes produced to a topic, then consumed by a libeddy service whose handler
 *       writes one row (its inbox row in the same transaction): events/s and the handler
 *       P50/P95/P99 from the SDK's own metrics. Limit: the same database committing the same
 *       two rows per event in transactions of the service's inbox batch size.
 * Stores: SQLite file in a temp dir (default) or PostgreSQL (--postgres URL; a schema per run,
 * dropped at the end). The broker: eddyd from $EDDYD (eddy_broker_start). */
#include <eddy/eddy.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void sleep_s(double s)
{
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static char g_dir[256], g_schema[64];
static const char *g_pg;
static int g_nschemas;
static char g_schemas[8][128];

static void fail(const char *what, const char *why)
{
    printf("{\"error\":\"%s: %s\"}\n", what, why ? why : "?");
    fflush(stdout);
    exit(1);
}

/* A fresh database per part: a file on SQLite, a schema on PostgreSQL. */
static void store_url(const char *name, char *out, size_t n)
{
    if (!g_pg) {
        snprintf(out, n, "sqlite:%s/%s.db", g_dir, name);
        return;
    }
    eddy_store *st;
    char sql[200];
    if (eddy_store_open(g_pg, &st) == 0) {
        snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %.60s_%.60s CASCADE", g_schema, name);
        eddy_store_exec(st, sql, 0, NULL);
        snprintf(sql, sizeof sql, "CREATE SCHEMA %.60s_%.60s", g_schema, name);
        eddy_store_exec(st, sql, 0, NULL);
        eddy_store_close(st);
        if (g_nschemas < 8) snprintf(g_schemas[g_nschemas++], 128, "%.60s_%.60s", g_schema, name);
    }
    snprintf(out, n, "%s?options=-csearch_path%%3D%s_%s", g_pg, g_schema, name);
}

static void drop_schemas(void)
{
    if (!g_pg) return;
    eddy_store *st;
    if (eddy_store_open(g_pg, &st) < 0) return;
    for (int i = 0; i < g_nschemas; i++) {
        char sql[200];
        snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %.120s CASCADE", g_schemas[i]);
        eddy_store_exec(st, sql, 0, NULL);
    }
    eddy_store_close(st);
}

static eddy_store *open_store(const char *url)
{
    eddy_store *st;
    if (eddy_store_open(url, &st) < 0) fail("open", url);
    if (eddy_store_migrate(st) < 0) fail("migrate", eddy_store_error(st));
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The disk's durable-write latency in this run (the reference for latencies that include a
 * sync): n appends of 4 KiB each followed by fdatasync, in the temp dir. */
static void fsync_lat(int n, double *p50_ms, double *p99_ms)
{
    char path[300];
    snprintf(path, sizeof path, "%s/fsync.probe", g_dir);
    FILE *f = fopen(path, "w");
    double *v = calloc((size_t)n, sizeof *v);
    char buf[4096];
    memset(buf, 'f', sizeof buf);
    *p50_ms = *p99_ms = -1;
    if (!f || !v) goto out;
    for (int i = 0; i < n; i++) {
        double t0 = now_s();
        if (fwrite(buf, 1, sizeof buf, f) != sizeof buf || fflush(f) != 0 ||
            fdatasync(fileno(f)) != 0)
            goto out;
        v[i] = (now_s() - t0) * 1e3;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *p50_ms = v[n / 2];
    *p99_ms = v[(int)(0.99 * (n - 1) + 0.5)];
out:
    if (f) fclose(f);
    free(v);
    unlink(path);
}

/* ---- W7 ----------------------------------------------------------------------------------- */
static char g_payload[1025];

/* The limit: rows of the outbox's shape (a 1 KiB envelope) committed batch at a time into a
 * plain table, for secs seconds. Returns rows/s. */
static double w7_limit(int batch, double secs, double *per_cpu)
{
    char url[700];
    store_url("w7limit", url, sizeof url);
    eddy_store *st = open_store(url);
    const char *ddl = eddy_store_is_postgres(st)
                          ? "CREATE TABLE IF NOT EXISTS rows_limit (id BIGSERIAL PRIMARY KEY,"
                            " event_id TEXT NOT NULL UNIQUE, topic TEXT NOT NULL, msg_key TEXT,"
                            " event_type TEXT NOT NULL, correlation_id TEXT NOT NULL,"
                            " envelope TEXT NOT NULL, created_at TEXT NOT NULL, published_at TEXT)"
                          : "CREATE TABLE IF NOT EXISTS rows_limit (id INTEGER PRIMARY KEY"
                            " AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, topic TEXT NOT NULL,"
                            " msg_key TEXT, event_type TEXT NOT NULL, correlation_id TEXT NOT NULL,"
                            " envelope TEXT NOT NULL, created_at TEXT NOT NULL, published_at TEXT)";
    if (eddy_store_exec(st, ddl, 0, NULL) < 0) fail("w7 limit ddl", eddy_store_error(st));
    /* an envelope of the size the outbox stores */
    eddy_event *ev =
        eddy_event_new("bench.row", "1.0", "bench", json_pack("{s:s}", "p", g_payload));
    char *env = eddy_event_to_json(ev);
    eddy_event_free(ev);
    long n = 0;
    double t0 = now_s(), c0 = cpu_s(), end = t0 + secs;
    while (now_s() < end) {
        if (eddy_store_begin(st) < 0) fail("w7 limit begin", eddy_store_error(st));
        for (int i = 0; i < batch; i++) {
            char id[37], ts[32];
            eddy_uuid_generate(id);
            eddy_time_rfc3339(0, ts);
            const char *p[] = {id, "w7", "k", "bench.row", id, env, ts};
            if (eddy_store_exec(st,
                                "INSERT INTO rows_limit (event_id, topic, msg_key, event_type,"
                                " correlation_id, envelope, created_at)"
                                " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                                7, p) < 0)
                fail("w7 limit insert", eddy_store_error(st));
        }
        if (eddy_store_commit(st) < 0) fail("w7 limit commit", eddy_store_error(st));
        n += batch;
    }
    double el = now_s() - t0;
    *per_cpu = (double)n / (cpu_s() - c0);
    free(env);
    eddy_store_close(st);
    return (double)n / el;
}

/* Writer: batch rows per transaction through eddy_tx_publish. rate > 0: open loop at rate
 * rows/s (transactions spaced evenly); 0: as fast as it can. */
typedef struct w7_writer {
    const char *url;
    int batch;
    double rate, secs;
    long written;
    double t_first, t_last;
    char err[256];
} w7_writer;

static void *w7_write(void *arg)
{
    w7_writer *w = arg;
    pthread_setname_np(pthread_self(), "w7-writer");
    eddy_store *st;
    if (eddy_store_open(w->url, &st) < 0) {
        snprintf(w->err, sizeof w->err, "open %s", w->url);
        return NULL;
    }
    double t0 = now_s(), end = t0 + w->secs;
    w->t_first = t0;
    long k = 0;
    while (now_s() < end) {
        if (w->rate > 0) {
            double due = t0 + (double)k * w->batch / w->rate;
            sleep_s(due - now_s());
        }
        eddy_tx *tx;
        if (eddy_tx_begin(st, "bench", NULL, NULL, &tx) < 0) {
            snprintf(w->err, sizeof w->err, "begin: %s", eddy_store_error(st));
            break;
        }
        int bad = 0;
        for (int i = 0; i < w->batch && !bad; i++) {
            char key[24];
            snprintf(key, sizeof key, "k%ld", (w->written + i) % 64);
            bad = eddy_tx_publish(tx, "w7", key, "bench.row", "1.0",
                                  json_pack("{s:s}", "p", g_payload), NULL) < 0;
        }
        if (bad || eddy_tx_commit(tx) < 0) {
            if (bad) eddy_tx_rollback(tx);
            snprintf(w->err, sizeof w->err, "write: %s", eddy_store_error(st));
            break;
        }
        w->written += w->batch;
        k++;
    }
    w->t_last = now_s();
    eddy_store_close(st);
    return NULL;
}

/* One W7 phase: a fresh outbox, the relay running, the writer for secs. Fills *rate (events
 * published per second, first commit to last ack) and the relay's outbox-age quantiles. */
static void w7_phase(const char *name, const char *bs, int batch, double wrate, double secs,
                     double *rate, double *per_cpu, eddy_relay_stats *stats, double *wrote_rate)
{
    char url[700];
    store_url(name, url, sizeof url);
    eddy_store *st = open_store(url);
    eddy_store_close(st);
    eddy_relay *r;
    if (eddy_relay_new(url, bs, NULL, &r) < 0) fail("relay", url);
    if (eddy_relay_start(r) < 0) fail("relay", "start");
    w7_writer w = {.url = url, .batch = batch, .rate = wrate, .secs = secs};
    double c0 = cpu_s();
    pthread_t th;
    pthread_create(&th, NULL, w7_write, &w);
    pthread_join(th, NULL);
    if (w.err[0]) fail("w7 writer", w.err);
    double deadline = now_s() + 120;
    while (eddy_relay_published(r) < w.written && now_s() < deadline) sleep_s(0.001);
    double t_done = now_s();
    if (eddy_relay_published(r) < w.written) fail("w7", "relay did not publish every row in 120 s");
    *rate = (double)w.written / (t_done - w.t_first);
    *per_cpu = (double)w.written / (cpu_s() - c0);
    *wrote_rate = (double)w.written / (w.t_last - w.t_first);
    eddy_relay_stats_get(r, stats);
    eddy_relay_free(r);
}

static int w7(const char *bs, int batch, int lat_batch, double secs, double load)
{
    double f50, f99;
    fsync_lat(100, &f50, &f99);
    double lim_cpu, lim = w7_limit(batch, secs, &lim_cpu);
    printf("{\"part\":\"limit\",\"rows_s\":%.0f,\"rows_per_cpu_s\":%.0f}\n", lim, lim_cpu);
    fflush(stdout);
    double rate, per_cpu, wrote;
    eddy_relay_stats sat, below;
    w7_phase("w7sat", bs, batch, 0, secs, &rate, &per_cpu, &sat, &wrote);
    printf("{\"part\":\"saturated\",\"events_s\":%.0f,\"writer_rows_s\":%.0f,\"per_cpu_s\":%.0f,"
           "\"age_p99_ms\":%.2f,\"batch_mean\":%.1f}\n",
           rate, wrote, per_cpu, sat.outbox_age_p99_s * 1e3,
           sat.batches ? (double)sat.published / (double)sat.batches : 0.0);
    fflush(stdout);
    double target = rate * load, brate, bcpu, bwrote;
    /* below saturation, transactions of lat_batch events (default 1: a service's state change
     * and its event): the age is then commit -> ack, not the wait for a big transaction */
    w7_phase("w7load", bs, lat_batch, target, secs, &brate, &bcpu, &below, &bwrote);
    printf("{\"limit_rows_s\":%.0f,\"limit_per_cpu_s\":%.0f,\"events_s\":%.0f,\"per_cpu_s\":%.0f,"
           "\"ratio\":%.3f,\"batch\":%d,\"lat_batch\":%d,\"load_rate\":%.0f,\"load_achieved\":%.0f,"
           "\"age_p50_ms\":%.2f,\"age_p99_ms\":%.2f,\"sat_age_p99_ms\":%.2f,"
           "\"relay_batch_mean\":%.1f,\"fsync_p50_ms\":%.2f,\"fsync_p99_ms\":%.2f}\n",
           lim, lim_cpu, rate, per_cpu, lim > 0 ? rate / lim : 0, batch, lat_batch, target, bwrote,
           below.outbox_age_p50_s * 1e3, below.outbox_age_p99_s * 1e3, sat.outbox_age_p99_s * 1e3,
           sat.batches ? (double)sat.published / (double)sat.batches : 0.0, f50, f99);
    return 0;
}

/* ---- W8 ----------------------------------------------------------------------------------- */
static const char W8_SQLITE[] = "CREATE TABLE IF NOT EXISTS w8_rows (event_id TEXT PRIMARY KEY,"
                                " amount_cents INTEGER NOT NULL, seen_at TEXT NOT NULL)";

static double w8_limit(int batch, long n, double *per_cpu)
{
    char url[700];
    store_url("w8limit", url, sizeof url);
    eddy_store *st = open_store(url);
    if (eddy_store_exec(st, W8_SQLITE, 0, NULL) < 0) fail("w8 limit ddl", eddy_store_error(st));
    /* the same durability as the service: it syncs the WAL after every inbox transaction
     * before the consumer's offset may move (PostgreSQL: every commit is durable anyway) */
    if (!eddy_store_is_postgres(st)) eddy_store_exec(st, "PRAGMA synchronous=FULL", 0, NULL);
    double t0 = now_s(), c0 = cpu_s();
    for (long done = 0; done < n; done += batch) {
        if (eddy_store_begin(st) < 0) fail("w8 limit begin", eddy_store_error(st));
        for (int i = 0; i < batch; i++) {
            char id[37], ts[32], amt[24];
            eddy_uuid_generate(id);
            eddy_time_rfc3339(0, ts);
            snprintf(amt, sizeof amt, "%ld", done + i);
            const char *pi[] = {id, "w8", "order.placed", ts};
            const char *pr[] = {id, amt, ts};
            if (eddy_store_exec(st,
                                "INSERT INTO eddy_inbox (event_id, topic, event_type, processed_at)"
                                " VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING",
                                4, pi) < 0 ||
                eddy_store_exec(st,
                                "INSERT INTO w8_rows (event_id, amount_cents, seen_at)"
                                " VALUES ($1, $2, $3)",
                                3, pr) < 0)
                fail("w8 limit insert", eddy_store_error(st));
        }
        if (eddy_store_commit(st) < 0) fail("w8 limit commit", eddy_store_error(st));
    }
    double el = now_s() - t0;
    *per_cpu = (double)n / (cpu_s() - c0);
    eddy_store_close(st);
    return (double)n / el;
}

static void w8_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    if (m->err) atomic_fetch_add((atomic_long *)opaque, 1);
}

static void w8_fill(const char *bs, const char *topic, long n, int parts)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    static atomic_long failed;
    rd_kafka_conf_set(c, "bootstrap.servers", bs, err, sizeof err);
    rd_kafka_conf_set(c, "linger.ms", "5", err, sizeof err);
    rd_kafka_conf_set(c, "acks", "1", err, sizeof err);
    rd_kafka_conf_set(c, "log_level", "3", err, sizeof err);
    rd_kafka_conf_set_dr_msg_cb(c, w8_dr);
    rd_kafka_conf_set_opaque(c, &failed);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk) fail("w8 producer", err);
    /* the topic with the service's partition count, before the service subscribes */
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, parts, -1, err, sizeof err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 10000);
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    for (long i = 0; i < n; i++) {
        eddy_event *e = eddy_event_new(
            "order.placed", "1.0", "bench",
            json_pack("{s:I,s:s}", "amountCents", (json_int_t)i, "customerId", "c-0001"));
        char *v = eddy_event_to_json(e);
        char key[24];
        snprintf(key, sizeof key, "o%ld", i % 1000);
        for (;;) {
            rd_kafka_resp_err_t r = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(v, strlen(v)), RD_KAFKA_V_END);
            if (r == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 10);
                continue;
            }
            if (r) fail("w8 produce", rd_kafka_err2str(r));
            break;
        }
        eddy_event_free(e);
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    if (atomic_load(&failed) || rd_kafka_outq_len(rk)) fail("w8 fill", "not every record acked");
    rd_kafka_destroy(rk);
}

typedef struct w8_state {
    eddy_service *svc;
    long target;
    atomic_long seen;
    double t_first, t_last;
} w8_state;

static int w8_handler(eddy_ctx *ctx, void *arg)
{
    w8_state *s = arg;
    const eddy_event *ev = eddy_ctx_event(ctx);
    char amt[24], ts[32];
    snprintf(amt, sizeof amt, "%lld",
             (long long)json_integer_value(json_object_get(ev->payload, "amountCents")));
    eddy_time_rfc3339(0, ts);
    const char *p[] = {ev->event_id, amt, ts};
    int rc = eddy_ctx_exec(ctx,
                           "INSERT INTO w8_rows (event_id, amount_cents, seen_at)"
                           " VALUES ($1, $2, $3)",
                           3, p);
    if (rc < 0) return rc;
    long k = atomic_fetch_add(&s->seen, 1) + 1;
    if (k == 1) s->t_first = now_s();
    if (k >= s->target) {
        s->t_last = now_s();
        eddy_service_stop(s->svc);
    }
    return 0;
}

/* the value of the first metrics line that starts with prefix, or -1 */
static double metric(const char *text, const char *prefix)
{
    const char *p = strstr(text, prefix);
    if (!p) return -1;
    p = strchr(p, '}');
    return p ? atof(p + 1) : -1;
}

static int w8(const char *bs, long n, int batch, int parts)
{
    double f50, f99;
    fsync_lat(100, &f50, &f99);
    double lim_cpu, lim = w8_limit(batch, n < 200000 ? n : 200000, &lim_cpu);
    printf("{\"part\":\"limit\",\"events_s\":%.0f,\"per_cpu_s\":%.0f}\n", lim, lim_cpu);
    fflush(stdout);
    w8_fill(bs, "w8", n, parts);
    char url[700];
    store_url("w8svc", url, sizeof url);
    w8_state s = {.target = n};
    if (eddy_service_new("w8bench", &s.svc) < 0) fail("w8", "service");
    char bstr[16];
    snprintf(bstr, sizeof bstr, "%d", batch);
    eddy_service_set(s.svc, "store", url);
    eddy_service_set(s.svc, "bootstrap.servers", bs);
    eddy_service_set(s.svc, "topic.create", "0");
    eddy_service_set(s.svc, "http.listen", "off");
    eddy_service_set(s.svc, "inbox.batch.max", bstr);
    eddy_service_on(s.svc, "w8", "order.placed", "1", w8_handler, &s);
    if (eddy_service_start(s.svc, W8_SQLITE) < 0) fail("w8", "service start");
    double c0 = cpu_s(), t0 = now_s();
    eddy_service_run(s.svc);
    double cpu = cpu_s() - c0;
    long seen = atomic_load(&s.seen);
    char *m = eddy_service_metrics_text(s.svc);
    double p50 = metric(m, "eddy_handler_processing_quantile_seconds{service=\"w8bench\",topic="
                           "\"w8\",event_type=\"order.placed\",quantile=\"0.5\"");
    double p95 = metric(m, "quantile=\"0.95\"");
    double p99 = metric(m, "quantile=\"0.99\"");
    double commit_p99 = metric(m, "eddy_inbox_commit_seconds_recent{service=\"w8bench\","
                                  "quantile=\"0.99\"");
    double bmean = metric(m, "eddy_inbox_batch_size_mean{");
    free(m);
    eddy_service_free(s.svc);
    if (seen < n) fail("w8", "service stopped before every event was handled");
    double rate = (double)n / (s.t_last - s.t_first);
    printf("{\"limit_events_s\":%.0f,\"limit_per_cpu_s\":%.0f,\"events_s\":%.0f,"
           "\"events_s_from_start\":%.0f,\"per_cpu_s\":%.0f,\"ratio\":%.3f,\"events\":%ld,"
           "\"batch\":%d,\"batch_mean\":%.1f,\"p50_ms\":%.3f,\"p95_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"inbox_commit_p99_ms\":%.3f,\"fsync_p50_ms\":%.2f,\"fsync_p99_ms\":%.2f}\n",
           lim, lim_cpu, rate, (double)n / (s.t_last - t0), (double)n / cpu,
           lim > 0 ? rate / lim : 0, n, batch, bmean, p50 * 1e3, p95 * 1e3, p99 * 1e3,
           commit_p99 * 1e3, f50, f99);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    double secs = 5, load = 0.5;
    long events = 1000000;
    int batch = 100, lat_batch = 1, parts = 3, quick = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--postgres") && i + 1 < argc)
            g_pg = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            secs = atof(argv[++i]);
        else if (!strcmp(argv[i], "--load") && i + 1 < argc)
            load = atof(argv[++i]);
        else if (!strcmp(argv[i], "--events") && i + 1 < argc)
            events = atol(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lat-batch") && i + 1 < argc)
            lat_batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--partitions") && i + 1 < argc)
            parts = atoi(argv[++i]);
        else
            mode = "";
    }
    if ((strcmp(mode, "w7") && strcmp(mode, "w8")) || batch < 1 || lat_batch < 1 || secs <= 0 ||
        events < 1) {
        fprintf(stderr,
                "usage: eddy-bench-patterns w7|w8 [--quick] [--postgres URL] [--seconds S]\n"
                "       [--batch ROWS_PER_TX] [--lat-batch ROWS_PER_TX] [--load FRACTION]\n"
                "       [--events N] [--partitions P]\n"
                "  w7: outbox relay events/s and outbox age vs the database's commit rate\n"
                "  w8: idempotent handler events/s and P50/P95/P99 vs the commit rate\n");
        return 2;
    }
    if (quick) {
        secs = secs > 2 ? 2 : secs;
        events = events > 20000 ? 20000 : events;
    }
    memset(g_payload, 'x', 1024);
    snprintf(g_dir, sizeof g_dir, "%s/eddy-bench-patterns.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_dir)) fail("mkdtemp", g_dir);
    snprintf(g_schema, sizeof g_schema, "bp%d", (int)getpid());
    eddy_broker *br;
    if (eddy_broker_start(NULL, NULL, 0, &br) < 0) fail("eddyd", "did not start (set EDDYD)");
    const char *bs = eddy_broker_bootstrap(br);
    int rc =
        !strcmp(mode, "w7") ? w7(bs, batch, lat_batch, secs, load) : w8(bs, events, batch, parts);
    fflush(stdout);
    eddy_broker_free(br);
    drop_schemas();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "eddy-bench-patterns: could not remove %s\n", g_dir);
    return rc;
}
