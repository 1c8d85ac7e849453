/* test_sdk_projection — libeddy CQRS projections (projection.h) on SQLite and PostgreSQL with a
 * real eddyd: a read model fed from two topics with its checkpoint in the same transaction;
 * a process killed (SIGKILL) in the middle of a batch and restarted counts every event exactly
 * once; invalid events are skipped and counted; a rebuild fills a new generation from the
 * earliest offsets, switches only when caught up, produces a byte-identical read model (the
 * read model is order-independent across partitions, as a rebuildable one must be) and
 * drops the old tables; a second rebuild request while one runs is refused; bad definitions
 * get a clear error; a name is attached once per service. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/wait.h>

#include <eddy/eventstore.h>
#include <eddy/projection.h>

#include "sdk_test.h"

static eddy_broker *g_broker;

static int setup(void **state)
{
    char bin[512] = "";
    const char *e = getenv("EDDYD"), *b = getenv("EDDY_BUILD_DIR");
    if (e && access(e, X_OK) == 0)
        snprintf(bin, sizeof bin, "%s", e);
    else if (b)
        snprintf(bin, sizeof bin, "%s/src/eddyd/eddyd", b);
    return eddy_broker_start(bin[0] ? bin : NULL, NULL, 0, &g_broker);
}

static int teardown(void **state)
{
    eddy_broker_free(g_broker);
    return 0;
}

/* read model: per customer, the number of orders and the sum of amounts */
static int reset(eddy_tx *tx, const char *sfx, void *arg)
{
    char sql[256];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS totals%s", sfx);
    int rc = eddy_tx_exec(tx, sql, 0, NULL);
    if (rc < 0) return rc;
    snprintf(sql, sizeof sql,
             "CREATE TABLE totals%s (customer TEXT PRIMARY KEY, n BIGINT NOT NULL,"
             " amount BIGINT NOT NULL, max_amount BIGINT NOT NULL)",
             sfx);
    return eddy_tx_exec(tx, sql, 0, NULL);
}

static int drop(eddy_tx *tx, const char *sfx, void *arg)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS totals%s", sfx);
    return eddy_tx_exec(tx, sql, 0, NULL);
}

static int apply(eddy_tx *tx, const eddy_event *ev, const char *sfx, void *arg)
{
    json_t *c = json_object_get(ev->payload, "customer");
    json_t *a = json_object_get(ev->payload, "amount");
    if (!json_is_string(c) || !json_is_integer(a)) return EDDY_ERR_PERMANENT;
    char sql[512], amt[24];
    snprintf(amt, sizeof amt, "%lld", (long long)json_integer_value(a));
    snprintf(sql, sizeof sql,
             "INSERT INTO totals%s (customer, n, amount, max_amount) VALUES ($1, 1, $2, $2)"
             " ON CONFLICT (customer) DO UPDATE SET n = totals%s.n + 1,"
             " amount = totals%s.amount + excluded.amount, max_amount = CASE WHEN"
             " excluded.max_amount > totals%s.max_amount THEN excluded.max_amount"
             " ELSE totals%s.max_amount END",
             sfx, sfx, sfx, sfx, sfx);
    const char *p[] = {json_string_value(c), amt};
    int rc = eddy_tx_exec(tx, sql, 2, p);
    return rc < 0 ? rc : 0;
}

/* Publishes n events round-robin over topics a and b through an outbox and a relay. */
static void publish(const char *url, const char *ta, const char *tb, int n, int start,
                    long long *sum)
{
    eddy_store *st;
    assert_int_equal(eddy_store_open(url, &st), 0);
    eddy_tx *tx;
    assert_int_equal(eddy_tx_begin(st, "shop", NULL, NULL, &tx), 0);
    for (int i = start; i < start + n; i++) {
        char cust[16];
        snprintf(cust, sizeof cust, "c%d", i % 7);
        assert_int_equal(eddy_tx_publish(tx, i % 2 ? tb : ta, cust, "order.placed", "1.0",
                                         json_pack("{s:s,s:i}", "customer", cust, "amount", i),
                                         NULL),
                         0);
        *sum += i;
    }
    assert_int_equal(eddy_tx_commit(tx), 0);
    eddy_relay *r;
    assert_int_equal(eddy_relay_new(url, eddy_broker_bootstrap(g_broker), NULL, &r), 0);
    int total = 0;
    for (int i = 0; i < 50 && total < n; i++) total += eddy_relay_run_once(r, 10000);
    assert_int_equal(total, n);
    eddy_relay_free(r);
    eddy_store_close(st);
}

static char *dump(const char *url, const char *sfx, long long *n, long long *amount)
{
    eddy_store *st;
    assert_int_equal(eddy_store_open(url, &st), 0);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT customer, n, amount, max_amount FROM totals%s ORDER BY customer", sfx);
    eddy_rows *r;
    assert_true(eddy_store_query(st, sql, 0, NULL, &r) >= 0);
    size_t cap = 64;
    char *out = calloc(1, cap);
    *n = *amount = 0;
    for (int i = 0; i < eddy_rows_count(r); i++) {
        char line[256];
        snprintf(line, sizeof line, "%s|%s|%s|%s\n", eddy_rows_get(r, i, 0), eddy_rows_get(r, i, 1),
                 eddy_rows_get(r, i, 2), eddy_rows_get(r, i, 3));
        *n += atoll(eddy_rows_get(r, i, 1));
        *amount += atoll(eddy_rows_get(r, i, 2));
        while (strlen(out) + strlen(line) + 1 > cap) out = realloc(out, cap *= 2);
        strcat(out, line);
    }
    eddy_rows_free(r);
    eddy_store_close(st);
    return out;
}

static int table_exists(const char *url, const char *name)
{
    eddy_store *st;
    assert_int_equal(eddy_store_open(url, &st), 0);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", name);
    eddy_rows *r;
    int rc = eddy_store_query(st, sql, 0, NULL, &r);
    eddy_rows_free(r);
    eddy_store_close(st);
    return rc >= 0;
}

static void projection(int pg)
{
    tstore ts;
    assert_int_equal(tstore_make(&ts, pg), 0);
    eddy_store *st;
    assert_int_equal(eddy_store_open(ts.url, &st), 0);
    assert_int_equal(eddy_store_migrate(st), 0);
    eddy_store_close(st);
    char ta[64], tb[64], u[37];
    eddy_uuid_generate(u);
    snprintf(ta, sizeof ta, "pa-%.8s", u);
    snprintf(tb, sizeof tb, "pb-%.8s", u);
    const char *topics[] = {ta, tb, NULL};
    eddy_projection_def def = {"totals", topics, apply, reset, drop, 40, NULL};
    long long sum = 0, n, amount;
    const char *bs = eddy_broker_bootstrap(g_broker);

    /* 1. live: 300 events over two topics, plus one that is not an envelope */
    publish(ts.url, ta, tb, 300, 0, &sum);
    assert_int_equal(produce_raw(bs, ta, "x", "not json", 8), 0);
    eddy_projection *p;
    assert_int_equal(eddy_projection_new(ts.url, bs, &def, &p), 0);
    char sfx[16];
    assert_string_equal(eddy_projection_suffix(p, sfx), "_g1");
    assert_int_equal(eddy_projection_run_once(p, 60000), 301);
    char *d1 = dump(ts.url, "_g1", &n, &amount);
    assert_int_equal(n, 300);
    assert_int_equal(amount, sum);
    eddy_projection_status s;
    eddy_projection_get_status(p, &s);
    assert_int_equal(s.skipped, 1);
    assert_int_equal(s.lag_events, 0);
    free(d1);
    eddy_projection_free(p);

    /* 2. killed in the middle of a batch: a restart counts every event exactly once */
    publish(ts.url, ta, tb, 200, 300, &sum);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("EDDY_FAULT", "projection_crash_mid_batch:totals", 1);
        eddy_projection *c;
        if (eddy_projection_new(ts.url, bs, &def, &c) == 0) eddy_projection_run_once(c, 60000);
        _exit(3);
    }
    int wst = 0;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFSIGNALED(wst));
    assert_int_equal(WTERMSIG(wst), SIGKILL);
    d1 = dump(ts.url, "_g1", &n, &amount);
    assert_true(n < 500); /* the killed batch left nothing behind */
    free(d1);
    assert_int_equal(eddy_projection_new(ts.url, bs, &def, &p), 0);
    assert_true(eddy_projection_run_once(p, 60000) > 0);
    d1 = dump(ts.url, "_g1", &n, &amount);
    assert_int_equal(n, 500);
    assert_int_equal(amount, sum);
    /* a second pass finds nothing more */
    assert_int_equal(eddy_projection_run_once(p, 5000), 0);

    /* 3. rebuild: a new generation from the earliest offsets, byte-identical, then switched */
    assert_int_equal(eddy_projection_rebuild(p), 0);
    assert_int_equal(eddy_projection_rebuild(p), EDDY_ERR_CONFLICT);
    assert_non_null(strstr(eddy_es_error(), "already running"));
    assert_true(eddy_projection_run_once(p, 120000) >= 501);
    assert_string_equal(eddy_projection_suffix(p, sfx), "_g2");
    long long n2, amount2;
    char *d2 = dump(ts.url, "_g2", &n2, &amount2);
    assert_string_equal(d1, d2);
    assert_int_equal(n2, 500);
    eddy_projection_get_status(p, &s);
    assert_int_equal(s.rebuilds, 1);
    assert_int_equal(s.rebuild_done, 501);
    assert_int_equal(s.rebuild_total, 501);
    assert_true(s.rebuild_rate > 0);
    assert_false(table_exists(ts.url, "totals_g1"));
    char *js = eddy_projection_status_json(p);
    assert_non_null(strstr(js, "\"generation\":2"));
    assert_non_null(strstr(js, "\"state\":\"live\""));
    free(js);
    free(d1);
    free(d2);
    /* events after the switch land in the new generation */
    eddy_projection_free(p);
    publish(ts.url, ta, tb, 10, 500, &sum);
    assert_int_equal(eddy_projection_new(ts.url, bs, &def, &p), 0);
    assert_string_equal(eddy_projection_suffix(p, sfx), "_g2");
    assert_int_equal(eddy_projection_run_once(p, 60000), 10);
    d2 = dump(ts.url, "_g2", &n2, &amount2);
    assert_int_equal(n2, 510);
    assert_int_equal(amount2, sum);
    free(d2);
    eddy_projection_free(p);

    /* bad definitions */
    eddy_projection_def bad = def;
    bad.name = "Bad Name";
    assert_int_equal(eddy_projection_new(ts.url, bs, &bad, &p), EDDY_ERR_PERMANENT);
    assert_non_null(strstr(eddy_es_error(), "name"));
    bad = def;
    bad.topics = NULL;
    assert_int_equal(eddy_projection_new(ts.url, bs, &bad, &p), EDDY_ERR_PERMANENT);
    bad = def;
    bad.reset = NULL;
    assert_int_equal(eddy_projection_new(ts.url, bs, &bad, &p), EDDY_ERR_PERMANENT);
    bad = def;
    bad.batch_size = -1;
    assert_int_equal(eddy_projection_new(ts.url, bs, &bad, &p), EDDY_ERR_PERMANENT);
    tstore_drop(&ts);
}

static void test_projection_sqlite(void **state)
{
    projection(0);
}
static void test_projection_postgres(void **state)
{
    projection(1);
}

/* Attaching to services: a name is unique per service (a second attach is a conflict with a
 * clear error), another service may use it; eddy_service_free frees what was attached. */
static void test_attach(void **state)
{
    eddy_service *a, *b;
    assert_int_equal(eddy_service_new("proj-a", &a), 0);
    assert_int_equal(eddy_service_new("proj-b", &b), 0);
    const char *topics[] = {"t", NULL};
    eddy_projection_def def = {"totals", topics, apply, reset, drop, 0, NULL};
    eddy_projection *p, *q;
    assert_int_equal(eddy_projection_attach(a, &def, &p), 0);
    assert_int_equal(eddy_projection_attach(a, &def, &q), EDDY_ERR_CONFLICT);
    assert_string_equal(eddy_es_error(), "projection totals is already attached");
    assert_int_equal(eddy_projection_attach(b, &def, &q), 0);
    assert_ptr_not_equal(p, q);
    eddy_projection_def other = def;
    other.name = "counts";
    assert_int_equal(eddy_projection_attach(a, &other, &q), 0);
    eddy_service_free(a);
    eddy_service_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_attach),
                                       cmocka_unit_test(test_projection_sqlite),
                                       cmocka_unit_test(test_projection_postgres)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
