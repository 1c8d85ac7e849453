/* bench_es — figures for libeddy's event sourcing, projections and sagas (bench/run.sh runs it
 * as workload ES; `eddy-bench-es --help`). Not a test: it prints what it measured.
 *   appends/s   one stream, and 1,000 streams, 100 events per transaction (outbox included)
 *   load        aggregate of a 10,000-event stream, from scratch and from its snapshot
 *   rebuild     projection replay of every retained event into a new generation (events/s)
 *   sagas/s     two-step orchestrated sagas completed per second, the participants' handlers
 *               in the same process (one service), through a real eddyd
 * Stores: SQLite file in a temp dir (default) or PostgreSQL (--postgres URL; a schema is made
 * and dropped). */
#include <eddy/eddy.h>
#include <eddy/eventstore.h>
#include <eddy/projection.h>
#include <eddy/saga.h>
#include <pthread.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void die(const char *what)
{
    fprintf(stderr, "eddy-bench-es: %s: %s\n", what, eddy_es_error());
    exit(1);
}

static char g_url[600], g_dir[256], g_schema[64];
static const char *g_pg;

/* One database per part: a file each on SQLite, a schema each (<g_schema>_<name>) on
 * PostgreSQL, made on first use and dropped at the end. */
static void store_url(const char *name, char *out, size_t n)
{
    if (!g_pg) {
        snprintf(out, n, "sqlite:%s/%s.db", g_dir, name);
        return;
    }
    eddy_store *st;
    char sql[160];
    if (eddy_store_open(g_pg, &st) == 0) {
        snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS %s_%s", g_schema, name);
        eddy_store_exec(st, sql, 0, NULL);
        eddy_store_close(st);
    }
    snprintf(out, n, "%s?options=-csearch_path%%3D%s_%s", g_pg, g_schema, name);
}

static eddy_store *open_store(const char *name)
{
    char url[600];
    store_url(name, url, sizeof url);
    eddy_store *st;
    if (eddy_store_open(url, &st) < 0) die(url);
    if (eddy_store_migrate(st) < 0 || eddy_es_migrate(st) < 0) {
        fprintf(stderr, "eddy-bench-es: %s: %s\n", url, eddy_store_error(st));
        exit(1);
    }
    return st;
}

/* ---- appends ------------------------------------------------------------------------------ */
/* events/s by the wall clock; *per_cpu: events per CPU-second of this process (the figure that
 * does not depend on what else the machine runs) */
static double appends(eddy_store *st, int nstreams, int total, const char *tag, double *per_cpu)
{
    int64_t *ver = calloc((size_t)nstreams, sizeof *ver);
    double t0 = now_s(), c0 = cpu_s();
    for (int done = 0; done < total;) {
        eddy_tx *tx;
        if (eddy_tx_begin(st, "bench", NULL, NULL, &tx) < 0) die("begin");
        if (nstreams == 1) {
            eddy_es_new ev[100];
            for (int i = 0; i < 100; i++)
                ev[i] = (eddy_es_new){"account.credited", "1.0",
                                      json_pack("{s:i,s:s}", "amountCents", done + i, "ref", "b")};
            char s[64];
            snprintf(s, sizeof s, "account-%s-0", tag);
            if (eddy_es_append(tx, s, ver[0] ? ver[0] : EDDY_ES_NO_STREAM, ev, 100, &ver[0]) < 0)
                die("append");
        } else {
            for (int i = 0; i < 100; i++) {
                int k = (done + i) % nstreams;
                char s[64];
                snprintf(s, sizeof s, "account-%s-%d", tag, k);
                eddy_es_new ev = {"account.credited", "1.0",
                                  json_pack("{s:i,s:s}", "amountCents", done + i, "ref", "b")};
                if (eddy_es_append(tx, s, ver[k] ? ver[k] : EDDY_ES_NO_STREAM, &ev, 1, &ver[k]) < 0)
                    die("append");
            }
        }
        if (eddy_tx_commit(tx) < 0) die("commit");
        done += 100;
    }
    double el = now_s() - t0;
    *per_cpu = total / (cpu_s() - c0);
    free(ver);
    return total / el;
}

/* ---- aggregate load ----------------------------------------------------------------------- */
static int apply(json_t *s, const eddy_es_event *ev, void *arg)
{
    json_int_t b = json_integer_value(json_object_get(s, "balanceCents"));
    json_object_set_new(
        s, "balanceCents",
        json_integer(b + json_integer_value(json_object_get(ev->data, "amountCents"))));
    return 0;
}

static void loads(eddy_store *st, int n, double *scratch_ms, double *snap_ms)
{
    eddy_aggregate_type t = {"account", "1", apply, 100, NULL};
    eddy_aggregate a;
    if (eddy_aggregate_load(st, &t, "load", 0, &a) < 0) die("load");
    while (a.version < n) {
        eddy_tx *tx;
        if (eddy_tx_begin(st, "bench", NULL, NULL, &tx) < 0) die("begin");
        eddy_es_new ev[100];
        for (int i = 0; i < 100; i++)
            ev[i] = (eddy_es_new){"account.credited", "1.0", json_pack("{s:i}", "amountCents", 1)};
        if (eddy_aggregate_append(tx, &t, &a, ev, 100) < 0) die("append");
        if (eddy_tx_commit(tx) < 0) die("commit");
    }
    eddy_aggregate_release(&a);
    double t0 = now_s();
    int reps = 5;
    for (int i = 0; i < reps; i++) {
        if (eddy_aggregate_load(st, &t, "load", EDDY_AGG_NO_SNAPSHOT, &a) < 0) die("load");
        eddy_aggregate_release(&a);
    }
    *scratch_ms = (now_s() - t0) * 1000 / reps;
    reps = 200;
    t0 = now_s();
    for (int i = 0; i < reps; i++) {
        if (eddy_aggregate_load(st, &t, "load", 0, &a) < 0) die("load");
        eddy_aggregate_release(&a);
    }
    *snap_ms = (now_s() - t0) * 1000 / reps;
}

/* ---- projection rebuild ------------------------------------------------------------------- */
static int p_reset(eddy_tx *tx, const char *sfx, void *arg)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "DROP TABLE IF EXISTS bal%s; CREATE TABLE bal%s (k TEXT PRIMARY KEY,"
             " n BIGINT NOT NULL)",
             sfx, sfx);
    return eddy_tx_exec(tx, sql, 0, NULL);
}

static int p_drop(eddy_tx *tx, const char *sfx, void *arg)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS bal%s", sfx);
    return eddy_tx_exec(tx, sql, 0, NULL);
}

static int p_apply(eddy_tx *tx, const eddy_event *ev, const char *sfx, void *arg)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO bal%s (k, n) VALUES ($1, 1) ON CONFLICT (k) DO UPDATE"
             " SET n = bal%s.n + 1",
             sfx, sfx);
    const char *p[] = {ev->key ? ev->key : "-"};
    int rc = eddy_tx_exec(tx, sql, 1, p);
    return rc < 0 ? rc : 0;
}

static void rebuild(const char *bootstrap, eddy_store *st, int n, double *first_rate,
                    double *rebuild_rate, double *rebuild_cpu)
{
    /* n events through the outbox of a fresh store, relayed to the broker */
    char url[600];
    store_url("proj", url, sizeof url);
    eddy_store *ps = open_store("proj");
    for (int done = 0; done < n;) {
        eddy_tx *tx;
        if (eddy_tx_begin(ps, "bench", NULL, NULL, &tx) < 0) die("begin");
        for (int i = 0; i < 1000 && done < n; i++, done++) {
            char k[16];
            snprintf(k, sizeof k, "k%d", done % 1000);
            if (eddy_tx_publish(tx, "bench-es.events", k, "thing.happened", "1.0",
                                json_pack("{s:i}", "i", done), NULL) < 0)
                die("publish");
        }
        if (eddy_tx_commit(tx) < 0) die("commit");
    }
    eddy_relay *r;
    if (eddy_relay_new(url, bootstrap, NULL, &r) < 0) die("relay");
    int pub = 0;
    for (int i = 0; i < 1000 && pub < n; i++) pub += eddy_relay_run_once(r, 30000);
    eddy_relay_free(r);
    static const char *const topics[] = {"bench-es.events", NULL};
    eddy_projection_def def = {"bench", topics, p_apply, p_reset, p_drop, 1000, NULL};
    eddy_projection *p;
    if (eddy_projection_new(url, bootstrap, &def, &p) < 0) die("projection");
    double t0 = now_s();
    int got = eddy_projection_run_once(p, 600000);
    *first_rate = got / (now_s() - t0);
    if (eddy_projection_rebuild(p) < 0) die("rebuild");
    t0 = now_s();
    double c0 = cpu_s();
    got = eddy_projection_run_once(p, 600000);
    *rebuild_rate = got / (now_s() - t0);
    *rebuild_cpu = got / (cpu_s() - c0);
    eddy_projection_status s;
    eddy_projection_get_status(p, &s);
    fprintf(stderr, "  rebuild: %lld/%lld events, %.0f events/s by the projection's own clock\n",
            (long long)s.rebuild_done, (long long)s.rebuild_total, s.rebuild_rate);
    eddy_projection_free(p);
    eddy_store_close(ps);
    (void)st;
}

/* ---- sagas -------------------------------------------------------------------------------- */
static const char *const OK1[] = {"bench.step1.done", NULL};
static const char *const OK2[] = {"bench.step2.done", NULL};
static const char *const UNDONE[] = {"bench.undone", NULL};
static eddy_saga_step g_steps[] = {
    {"one", "bench.commands", "bench.step1", NULL, OK1, NULL, "bench.undo", NULL, UNDONE, 30000, 3},
    {"two", "bench.commands", "bench.step2", NULL, OK2, NULL, NULL, NULL, NULL, 30000, 3},
};
static int g_ended, g_nsagas;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static eddy_service *g_svc;

static int on_end(eddy_tx *tx, const char *id, const char *state, const char *reason,
                  const json_t *data, void *arg)
{
    pthread_mutex_lock(&g_mu);
    if (++g_ended == g_nsagas) eddy_service_stop(g_svc);
    pthread_mutex_unlock(&g_mu);
    return 0;
}

static eddy_saga_def g_def = {"bench", "bench.replies", g_steps, 2, on_end, NULL};

static int participant(eddy_ctx *ctx, void *arg)
{
    return eddy_saga_reply(ctx, arg, json_object());
}

typedef struct starter {
    eddy_saga *saga;
    char url[600];
    double t0;
} starter;

static void *start_sagas(void *arg)
{
    starter *s = arg;
    eddy_store *st;
    if (eddy_store_open(s->url, &st) < 0) die("store");
    sleep(2); /* the service's consumer joins its group */
    s->t0 = now_s();
    for (int i = 0; i < g_nsagas;) {
        eddy_tx *tx;
        if (eddy_tx_begin(st, "bench-saga", NULL, NULL, &tx) < 0) die("begin");
        for (int k = 0; k < 50 && i < g_nsagas; k++, i++)
            if (eddy_saga_begin(tx, s->saga, NULL, json_object(), NULL) < 0) die("saga begin");
        if (eddy_tx_commit(tx) < 0) die("commit");
    }
    eddy_store_close(st);
    return NULL;
}

static double sagas(const char *bootstrap, int n)
{
    g_nsagas = n;
    eddy_service *svc;
    eddy_service_new("bench-saga", &svc);
    g_svc = svc;
    char url[600];
    store_url("saga", url, sizeof url);
    eddy_service_set(svc, "store", url);
    eddy_service_set(svc, "bootstrap.servers", bootstrap);
    eddy_service_set(svc, "http.listen", "off");
    eddy_service_set(svc, "topic.partitions", "1");
    eddy_saga *saga;
    if (eddy_saga_attach(svc, &g_def, &saga) < 0) die("saga attach");
    eddy_service_on(svc, "bench.commands", "bench.step1", "1", participant, "bench.step1.done");
    eddy_service_on(svc, "bench.commands", "bench.step2", "1", participant, "bench.step2.done");
    eddy_service_on(svc, "bench.commands", "bench.undo", "1", participant, "bench.undone");
    if (eddy_service_start(svc, NULL) < 0) die("service start");
    starter s = {saga, "", 0};
    snprintf(s.url, sizeof s.url, "%s", url);
    pthread_t th;
    pthread_create(&th, NULL, start_sagas, &s);
    eddy_service_run(svc);
    double el = now_s() - s.t0;
    pthread_join(th, NULL);
    eddy_service_free(svc);
    return g_ended / el;
}

int main(int argc, char **argv)
{
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--postgres") && i + 1 < argc)
            g_pg = argv[++i];
        else {
            fprintf(stderr, "usage: eddy-bench-es [--quick] [--postgres URL]\n");
            return 2;
        }
    }
    snprintf(g_dir, sizeof g_dir, "%s/eddy-bench-es-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_dir)) return 1;
    if (g_pg) {
        char u[37];
        eddy_uuid_generate(u);
        snprintf(g_schema, sizeof g_schema, "bench_%.8s", u);
        eddy_store *st;
        if (eddy_store_open(g_pg, &st) < 0) die("postgres");
        eddy_store_close(st);
    }
    snprintf(g_url, sizeof g_url, "%s", g_pg ? "postgres" : "sqlite");
    const char *bdir = getenv("EDDY_BUILD_DIR");
    char bin[512] = "";
    if (getenv("EDDYD"))
        snprintf(bin, sizeof bin, "%s", getenv("EDDYD"));
    else if (bdir)
        snprintf(bin, sizeof bin, "%s/src/eddyd/eddyd", bdir);
    eddy_broker *br;
    if (eddy_broker_start(bin[0] ? bin : NULL, NULL, 0, &br) < 0) die("eddyd");
    const char *bs = eddy_broker_bootstrap(br);
    int nappend = quick ? 20000 : 100000, nload = 10000, nproj = quick ? 50000 : 200000,
        nsaga = quick ? 500 : 2000;
    eddy_store *st = open_store("es");
    double c1, c2;
    double a1 = appends(st, 1, nappend, "one", &c1);
    double a2 = appends(st, 1000, nappend, "many", &c2);
    double ls, lsnap;
    loads(st, nload, &ls, &lsnap);
    double r1, r2, r3;
    rebuild(bs, st, nproj, &r1, &r2, &r3);
    eddy_store_close(st);
    double sg = sagas(bs, nsaga);
    printf(
        "{\"store\":\"%s\",\"append_one_stream_per_s\":%.0f,\"append_1000_streams_per_s\":%.0f,"
        "\"append_one_stream_per_cpu_s\":%.0f,\"append_1000_streams_per_cpu_s\":%.0f,"
        "\"load_10000_scratch_ms\":%.3f,\"load_10000_snapshot_ms\":%.3f,"
        "\"projection_first_build_per_s\":%.0f,\"projection_rebuild_per_s\":%.0f,\"projection_rebuild_per_cpu_s\":%.0f,"
        "\"projection_events\":%d,\"sagas_per_s\":%.1f,\"sagas\":%d}\n",
        g_url, a1, a2, c1, c2, ls, lsnap, r1, r2, r3, nproj, sg, nsaga);
    printf("event store (%s): appends %.0f events/s (one stream), %.0f events/s (1,000 streams),"
           " 100 events per transaction; per CPU-second of this process: %.0f and %.0f\n",
           g_url, a1, a2, c1, c2);
    printf("aggregate of %d events: %.3f ms from scratch, %.3f ms from its snapshot\n", nload, ls,
           lsnap);
    printf("projection: first build %.0f events/s, rebuild %.0f events/s (%d events); rebuild per"
           " CPU-second of this process (the broker's excluded): %.0f\n",
           r1, r2, nproj, r3);
    printf("orchestrated sagas (2 steps, participants in-process): %.1f completed/s (%d)\n", sg,
           nsaga);
    eddy_broker_free(br);
    if (g_pg) {
        eddy_store *x;
        if (eddy_store_open(g_pg, &x) == 0) {
            static const char *const parts[] = {"es", "proj", "saga"};
            for (int i = 0; i < 3; i++) {
                char sql[160];
                snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s_%s CASCADE", g_schema,
                         parts[i]);
                eddy_store_exec(x, sql, 0, NULL);
            }
            eddy_store_close(x);
        }
    } else {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        if (system(cmd)) {}
    }
    return 0;
}
