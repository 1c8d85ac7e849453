/* test_sdk_eventstore — libeddy's event store (eventstore.h) on SQLite and PostgreSQL:
 * expected-version appends (any / no stream / exact) and the conflict error, forward and
 * backward reads, the global position, the outbox publishing every event to
 * <aggregate type>.events keyed by stream (relayed to a real eddyd), concurrent appends with
 * the same expected version from two connections (exactly one wins, every round), upcasting,
 * aggregates loaded from snapshots equal to folds from scratch on random histories, a changed
 * reducer ignoring old snapshots, and bad input (unknown stream, negative version, oversized
 * event, malformed names) answered with a clear error. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <eddy/eventstore.h>

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

static eddy_store *open_store(tstore *ts, int pg)
{
    assert_int_equal(tstore_make(ts, pg), 0);
    eddy_store *st;
    assert_int_equal(eddy_store_open(ts->url, &st), 0);
    assert_int_equal(eddy_store_migrate(st), 0);
    assert_int_equal(eddy_es_migrate(st), 0);
    return st;
}

static int append1(eddy_store *st, const char *stream, int64_t expected, const char *type,
                   json_t *data, int64_t *newv)
{
    eddy_tx *tx;
    assert_int_equal(eddy_tx_begin(st, "test", "corr-es", NULL, &tx), 0);
    eddy_es_new e = {type, NULL, data};
    int rc = eddy_es_append(tx, stream, expected, &e, 1, newv);
    if (rc < 0) {
        eddy_tx_rollback(tx);
        return rc;
    }
    return eddy_tx_commit(tx);
}

/* ---- appends, reads, conflicts, outbox ---------------------------------------------------- */
static void basics(int pg)
{
    tstore ts;
    eddy_store *st = open_store(&ts, pg);
    char stream[64], u[37];
    eddy_uuid_generate(u);
    snprintf(stream, sizeof stream, "account-%.8s", u);
    int64_t v = -5;

    /* no stream: creates it; three events in one transaction */
    eddy_tx *tx;
    assert_int_equal(eddy_tx_begin(st, "test", "corr-es", NULL, &tx), 0);
    eddy_es_new evs[] = {
        {"account.created", "1.0", json_pack("{s:i}", "initialBalance", 100)},
        {"account.debited", NULL, json_pack("{s:i,s:s}", "amount", 30, "ref", "a")},
        {"account.credited", "1.0", json_pack("{s:i}", "amount", 5)}};
    assert_int_equal(eddy_es_append(tx, stream, EDDY_ES_NO_STREAM, evs, 3, &v), 0);
    assert_int_equal(eddy_tx_commit(tx), 0);
    assert_int_equal(v, 3);

    /* no stream again: conflict, and nothing written */
    assert_int_equal(append1(st, stream, EDDY_ES_NO_STREAM, "account.debited",
                             json_pack("{s:i}", "amount", 1), NULL),
                     EDDY_ERR_CONFLICT);
    assert_non_null(strstr(eddy_es_error(), "already exists"));
    /* stale exact version: conflict naming the current version */
    assert_int_equal(
        append1(st, stream, 2, "account.debited", json_pack("{s:i}", "amount", 1), NULL),
        EDDY_ERR_CONFLICT);
    assert_non_null(strstr(eddy_es_error(), "is at version 3, expected 2"));
    /* exact version: appended */
    assert_int_equal(append1(st, stream, 3, "account.debited", json_pack("{s:i}", "amount", 7), &v),
                     0);
    assert_int_equal(v, 4);
    /* any: appended whatever the version */
    assert_int_equal(
        append1(st, stream, EDDY_ES_ANY, "account.credited", json_pack("{s:i}", "amount", 2), &v),
        0);
    assert_int_equal(v, 5);
    /* exact version on a stream that does not exist: conflict */
    assert_int_equal(append1(st, "account-nobody", 1, "account.credited", NULL, NULL),
                     EDDY_ERR_CONFLICT);
    assert_non_null(strstr(eddy_es_error(), "does not exist"));
    /* any on a new stream creates it */
    char s2[64];
    snprintf(s2, sizeof s2, "account-%.8s-b", u);
    assert_int_equal(append1(st, s2, EDDY_ES_ANY, "account.created", NULL, &v), 0);
    assert_int_equal(v, 1);

    /* forward read */
    eddy_es_events *e;
    assert_int_equal(eddy_es_read(st, stream, 0, EDDY_ES_FORWARD, 0, &e), 5);
    static const char *types[] = {"account.created", "account.debited", "account.credited",
                                  "account.debited", "account.credited"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(e->ev[i].version, i + 1);
        assert_string_equal(e->ev[i].type, types[i]);
        assert_string_equal(e->ev[i].stream, stream);
        assert_string_equal(e->ev[i].correlation_id, "corr-es");
        assert_true(eddy_uuid_valid(e->ev[i].event_id));
        if (i) assert_true(e->ev[i].position > e->ev[i - 1].position);
    }
    assert_int_equal(json_integer_value(json_object_get(e->ev[1].data, "amount")), 30);
    int64_t last_pos = e->ev[4].position;
    eddy_es_events_free(e);
    /* from a version, limited */
    assert_int_equal(eddy_es_read(st, stream, 2, EDDY_ES_FORWARD, 2, &e), 2);
    assert_int_equal(e->ev[0].version, 2);
    assert_int_equal(e->ev[1].version, 3);
    eddy_es_events_free(e);
    /* backward from the end, and from a version */
    assert_int_equal(eddy_es_read(st, stream, EDDY_ES_END, EDDY_ES_BACKWARD, 0, &e), 5);
    assert_int_equal(e->ev[0].version, 5);
    assert_int_equal(e->ev[4].version, 1);
    eddy_es_events_free(e);
    assert_int_equal(eddy_es_read(st, stream, 3, EDDY_ES_BACKWARD, 2, &e), 2);
    assert_int_equal(e->ev[0].version, 3);
    assert_int_equal(e->ev[1].version, 2);
    eddy_es_events_free(e);
    /* global order across streams */
    assert_int_equal(eddy_es_read_all(st, 0, 0, &e), 6);
    for (int i = 1; i < 6; i++) assert_true(e->ev[i].position > e->ev[i - 1].position);
    assert_string_equal(e->ev[5].stream, s2);
    eddy_es_events_free(e);
    assert_int_equal(eddy_es_read_all(st, last_pos, 0, &e), 1);
    eddy_es_events_free(e);
    int64_t head = 0, sv = 0;
    assert_int_equal(eddy_es_head(st, &head), 0);
    assert_true(head > last_pos);
    assert_int_equal(eddy_es_stream_version(st, stream, &sv), 0);
    assert_int_equal(sv, 5);

    /* bad input */
    assert_int_equal(eddy_es_read(st, "account-unknown", 0, EDDY_ES_FORWARD, 0, &e),
                     EDDY_ERR_NOT_FOUND);
    assert_null(e);
    assert_non_null(strstr(eddy_es_error(), "does not exist"));
    assert_int_equal(eddy_es_stream_version(st, "account-unknown", &sv), EDDY_ERR_NOT_FOUND);
    assert_int_equal(eddy_es_read(st, stream, -1, EDDY_ES_FORWARD, 0, &e), EDDY_ERR_PERMANENT);
    assert_non_null(strstr(eddy_es_error(), "negative version"));
    assert_int_equal(eddy_es_read(st, stream, 0, 7, 0, &e), EDDY_ERR_PERMANENT);
    assert_int_equal(eddy_es_read_all(st, -3, 0, &e), EDDY_ERR_PERMANENT);
    assert_int_equal(append1(st, stream, -7, "account.debited", json_object(), NULL),
                     EDDY_ERR_PERMANENT);
    assert_non_null(strstr(eddy_es_error(), "negative"));
    static const char *bad_names[] = {"",      "account", "-x",          "account-",
                                      "Acc-1", "a b-1",   "account-\x01"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        assert_int_equal(append1(st, bad_names[i], EDDY_ES_ANY, "x.y", NULL, NULL),
                         EDDY_ERR_PERMANENT);
        assert_true(strlen(eddy_es_error()) > 0);
    }
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    longname[3] = '-';
    assert_int_equal(append1(st, longname, EDDY_ES_ANY, "x.y", NULL, NULL), EDDY_ERR_PERMANENT);
    /* oversized event */
    char *big = malloc(EDDY_ES_MAX_EVENT_BYTES + 10);
    memset(big, 'x', EDDY_ES_MAX_EVENT_BYTES + 9);
    big[EDDY_ES_MAX_EVENT_BYTES + 9] = 0;
    assert_int_equal(
        append1(st, stream, EDDY_ES_ANY, "account.debited", json_pack("{s:s}", "blob", big), NULL),
        EDDY_ERR_PERMANENT);
    assert_non_null(strstr(eddy_es_error(), "bytes (max"));
    free(big);
    /* data must be an object; a type is mandatory; an empty append is refused */
    assert_int_equal(append1(st, stream, EDDY_ES_ANY, "account.debited", json_integer(3), NULL),
                     EDDY_ERR_PERMANENT);
    assert_int_equal(append1(st, stream, EDDY_ES_ANY, "", NULL, NULL), EDDY_ERR_PERMANENT);
    assert_int_equal(eddy_tx_begin(st, "test", NULL, NULL, &tx), 0);
    assert_int_equal(eddy_es_append(tx, stream, EDDY_ES_ANY, NULL, 0, NULL), EDDY_ERR_PERMANENT);
    eddy_tx_rollback(tx);
    assert_int_equal(eddy_es_append(NULL, stream, EDDY_ES_ANY, NULL, 0, NULL), EDDY_ERR_PERMANENT);
    /* nothing of the refused appends was written */
    assert_int_equal(eddy_es_stream_version(st, stream, &sv), 0);
    assert_int_equal(sv, 5);

    /* the outbox holds each event for account.events keyed by the stream; a relay publishes
     * them to the broker in stream order */
    char topic[] = "account.events";
    eddy_relay *r;
    assert_int_equal(eddy_relay_new(ts.url, eddy_broker_bootstrap(g_broker), NULL, &r), 0);
    int total = 0;
    for (int i = 0; i < 50 && total < 6; i++) total += eddy_relay_run_once(r, 10000);
    assert_int_equal(total, 6);
    eddy_relay_free(r);
    tmsg *m;
    int n = topic_read(eddy_broker_bootstrap(g_broker), topic, &m);
    int seen = 0;
    int part = -1;
    for (int i = 0; i < n; i++) {
        if (!m[i].key || strcmp(m[i].key, stream)) continue;
        eddy_event *ev;
        char *why;
        assert_int_equal(eddy_event_from_json(m[i].value, strlen(m[i].value), &ev, &why), 0);
        assert_string_equal(ev->event_type, types[seen]);
        if (part < 0) part = m[i].partition;
        assert_int_equal(m[i].partition, part);
        eddy_event_free(ev);
        seen++;
    }
    assert_int_equal(seen, 5);
    tmsgs_free(m, n);
    eddy_store_close(st);
    tstore_drop(&ts);
}

static void test_basics_sqlite(void **state)
{
    basics(0);
}
static void test_basics_postgres(void **state)
{
    basics(1);
}

/* ---- concurrent appends ------------------------------------------------------------------- */
typedef struct racer {
    const char *url, *stream;
    int64_t expected;
    pthread_barrier_t *bar;
    int rc;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    eddy_store *st;
    if (eddy_store_open(r->url, &st) < 0) {
        r->rc = -999;
        return NULL;
    }
    pthread_barrier_wait(r->bar);
    eddy_tx *tx;
    r->rc = eddy_tx_begin(st, "racer", NULL, NULL, &tx);
    if (r->rc == 0) {
        eddy_es_new e = {"account.debited", "1.0", json_pack("{s:i}", "amount", 1)};
        r->rc = eddy_es_append(tx, r->stream, r->expected, &e, 1, NULL);
        if (r->rc == 0)
            r->rc = eddy_tx_commit(tx);
        else
            eddy_tx_rollback(tx);
    }
    eddy_store_close(st);
    return NULL;
}

static void concurrent(int pg)
{
    tstore ts;
    eddy_store *st = open_store(&ts, pg);
    const char *stream = "account-race";
    assert_int_equal(append1(st, stream, EDDY_ES_NO_STREAM, "account.created", NULL, NULL), 0);
    for (int round = 0; round < 20; round++) {
        int64_t v;
        assert_int_equal(eddy_es_stream_version(st, stream, &v), 0);
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, 2);
        racer a = {ts.url, stream, v, &bar, 0}, b = a;
        pthread_t ta, tb;
        pthread_create(&ta, NULL, race, &a);
        pthread_create(&tb, NULL, race, &b);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&bar);
        int wins = (a.rc == 0) + (b.rc == 0);
        int conflicts = (a.rc == EDDY_ERR_CONFLICT) + (b.rc == EDDY_ERR_CONFLICT);
        assert_int_equal(wins, 1);
        assert_int_equal(conflicts, 1);
        int64_t after;
        assert_int_equal(eddy_es_stream_version(st, stream, &after), 0);
        assert_int_equal(after, v + 1);
    }
    /* versions are dense: 1..21 */
    eddy_es_events *e;
    assert_int_equal(eddy_es_read(st, stream, 1, EDDY_ES_FORWARD, 0, &e), 21);
    for (int i = 0; i < 21; i++) assert_int_equal(e->ev[i].version, i + 1);
    eddy_es_events_free(e);
    eddy_store_close(st);
    tstore_drop(&ts);
}

static void test_concurrent_sqlite(void **state)
{
    concurrent(0);
}
static void test_concurrent_postgres(void **state)
{
    concurrent(1);
}

/* ---- upcasting ---------------------------------------------------------------------------- */
static json_t *debited_v1_to_v2(const char *type, const json_t *data, void *arg)
{
    (void)type;
    (void)arg;
    json_t *a = json_object_get(data, "amount");
    if (!json_is_integer(a)) return NULL;
    return json_pack("{s:I,s:s}", "amountCents", (json_int_t)json_integer_value(a) * 100, "ref",
                     "none");
}

static json_t *debited_v2_to_v3(const char *type, const json_t *data, void *arg)
{
    json_t *o = json_deep_copy(data);
    json_object_set_new(o, "currency", json_string("EUR"));
    return o;
}

static void upcasting(int pg)
{
    tstore ts;
    eddy_store *st = open_store(&ts, pg);
    assert_int_equal(append1(st, "account-up", EDDY_ES_NO_STREAM, "account.debited",
                             json_pack("{s:i}", "amount", 3), NULL),
                     0);
    assert_int_equal(
        append1(st, "account-up", 1, "account.debited", json_pack("{s:s}", "amount", "x"), NULL),
        0);
    assert_int_equal(eddy_es_upcaster("account.debited", "1", "2.0", debited_v1_to_v2, NULL), 0);
    assert_int_equal(eddy_es_upcaster("account.debited", "2", "3.1", debited_v2_to_v3, NULL), 0);
    assert_int_equal(eddy_es_upcaster("account.debited", "3", "3.2", debited_v2_to_v3, NULL),
                     EDDY_ERR_PERMANENT);
    eddy_es_events *e;
    assert_int_equal(eddy_es_read(st, "account-up", 1, EDDY_ES_FORWARD, 1, &e), 1);
    assert_string_equal(e->ev[0].event_version, "3.1");
    assert_int_equal(json_integer_value(json_object_get(e->ev[0].data, "amountCents")), 300);
    assert_string_equal(json_string_value(json_object_get(e->ev[0].data, "currency")), "EUR");
    eddy_es_events_free(e);
    /* an event the upcaster cannot convert fails the read with a clear error */
    assert_int_equal(eddy_es_read(st, "account-up", 0, EDDY_ES_FORWARD, 0, &e), EDDY_ERR_PERMANENT);
    assert_non_null(strstr(eddy_es_error(), "upcasting account.debited 1.0"));
    eddy_es_upcasters_clear();
    assert_int_equal(eddy_es_read(st, "account-up", 0, EDDY_ES_FORWARD, 0, &e), 2);
    assert_string_equal(e->ev[0].event_version, "1.0");
    eddy_es_events_free(e);
    eddy_store_close(st);
    tstore_drop(&ts);
}

static void test_upcast_sqlite(void **state)
{
    upcasting(0);
}
static void test_upcast_postgres(void **state)
{
    upcasting(1);
}

/* ---- aggregates and snapshots ------------------------------------------------------------- */
static int acct_apply(json_t *s, const eddy_es_event *ev, void *arg)
{
    (void)arg;
    json_int_t bal = json_integer_value(json_object_get(s, "balance"));
    json_int_t amt = json_integer_value(json_object_get(ev->data, "amount"));
    json_t *tx = json_object_get(s, "transactions");
    if (!tx) json_object_set_new(s, "transactions", tx = json_array());
    if (!strcmp(ev->type, "account.created"))
        bal = json_integer_value(json_object_get(ev->data, "initialBalance"));
    else if (!strcmp(ev->type, "account.debited"))
        bal -= amt;
    else if (!strcmp(ev->type, "account.credited"))
        bal += amt;
    else
        return -1;
    if (strcmp(ev->type, "account.created"))
        json_array_append_new(tx, json_pack("{s:s,s:I,s:I}", "type", ev->type + 8, "amount", amt,
                                            "v", (json_int_t)ev->version));
    json_object_set_new(s, "balance", json_integer(bal));
    return 0;
}

static void snapshots(int pg)
{
    tstore ts;
    eddy_store *st = open_store(&ts, pg);
    srand(12345 + pg);
    for (int acct = 0; acct < 6; acct++) {
        eddy_aggregate_type t = {"account", "1", acct_apply, 1 + rand() % 7, NULL};
        char id[16];
        snprintf(id, sizeof id, "r%d", acct);
        int batches = 5 + rand() % 10;
        for (int b = 0; b < batches; b++) {
            eddy_aggregate a;
            assert_int_equal(eddy_aggregate_load(st, &t, id, 0, &a), 0);
            int n = 1 + rand() % 5;
            eddy_es_new evs[5];
            for (int i = 0; i < n; i++) {
                int k = a.version == 0 && i == 0 ? 0 : 1 + rand() % 2;
                evs[i].type = k == 0   ? "account.created"
                              : k == 1 ? "account.debited"
                                       : "account.credited";
                evs[i].version = "1.0";
                evs[i].data = k == 0 ? json_pack("{s:i}", "initialBalance", 1000)
                                     : json_pack("{s:i}", "amount", 1 + rand() % 100);
            }
            eddy_tx *tx;
            assert_int_equal(eddy_tx_begin(st, "test", NULL, NULL, &tx), 0);
            assert_int_equal(eddy_aggregate_append(tx, &t, &a, evs, n), 0);
            assert_int_equal(eddy_tx_commit(tx), 0);
            /* loaded with snapshots == loaded from scratch == the state append left */
            eddy_aggregate s1, s2;
            assert_int_equal(eddy_aggregate_load(st, &t, id, 0, &s1), 0);
            assert_int_equal(eddy_aggregate_load(st, &t, id, EDDY_AGG_NO_SNAPSHOT, &s2), 0);
            assert_int_equal(s1.version, s2.version);
            assert_int_equal(s1.version, a.version);
            assert_true(json_equal(s1.state, s2.state));
            assert_true(json_equal(s1.state, a.state));
            assert_int_equal(s2.snapshot_version, 0);
            assert_int_equal(s2.events_applied, s2.version);
            assert_true(s1.snapshot_version <= s1.version);
            assert_true(s1.events_applied < t.snapshot_every + 5);
            eddy_aggregate_release(&s1);
            eddy_aggregate_release(&s2);
            eddy_aggregate_release(&a);
        }
        /* a changed reducer ignores the old snapshot instead of trusting it */
        eddy_aggregate_type t2 = t;
        t2.reducer_version = "2";
        eddy_aggregate s3;
        assert_int_equal(eddy_aggregate_load(st, &t2, id, 0, &s3), 0);
        assert_int_equal(s3.snapshot_version, 0);
        assert_int_equal(s3.events_applied, s3.version);
        eddy_aggregate_release(&s3);
    }
    /* new aggregate: version 0, {} ; bad input */
    eddy_aggregate_type t = {"account", "1", acct_apply, 3, NULL};
    eddy_aggregate a;
    assert_int_equal(eddy_aggregate_load(st, &t, "fresh", 0, &a), 0);
    assert_int_equal(a.version, 0);
    assert_int_equal(json_object_size(a.state), 0);
    eddy_aggregate_release(&a);
    assert_int_equal(eddy_aggregate_load(st, &t, "", 0, &a), EDDY_ERR_PERMANENT);
    eddy_aggregate_type bad = {"account", NULL, acct_apply, 3, NULL};
    assert_int_equal(eddy_aggregate_load(st, &bad, "x", 0, &a), EDDY_ERR_PERMANENT);
    /* a stale aggregate (another writer appended since the load) gets the conflict */
    eddy_aggregate x, y;
    assert_int_equal(eddy_aggregate_load(st, &t, "r0", 0, &x), 0);
    assert_int_equal(eddy_aggregate_load(st, &t, "r0", 0, &y), 0);
    eddy_tx *tx;
    eddy_es_new e1 = {"account.credited", NULL, json_pack("{s:i}", "amount", 1)};
    assert_int_equal(eddy_tx_begin(st, "test", NULL, NULL, &tx), 0);
    assert_int_equal(eddy_aggregate_append(tx, &t, &x, &e1, 1), 0);
    assert_int_equal(eddy_tx_commit(tx), 0);
    eddy_es_new e2 = {"account.credited", NULL, json_pack("{s:i}", "amount", 1)};
    assert_int_equal(eddy_tx_begin(st, "test", NULL, NULL, &tx), 0);
    assert_int_equal(eddy_aggregate_append(tx, &t, &y, &e2, 1), EDDY_ERR_CONFLICT);
    eddy_tx_rollback(tx);
    eddy_aggregate_release(&x);
    eddy_aggregate_release(&y);
    eddy_store_close(st);
    tstore_drop(&ts);
}

static void test_snapshots_sqlite(void **state)
{
    snapshots(0);
}
static void test_snapshots_postgres(void **state)
{
    snapshots(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics_sqlite),     cmocka_unit_test(test_basics_postgres),
        cmocka_unit_test(test_concurrent_sqlite), cmocka_unit_test(test_concurrent_postgres),
        cmocka_unit_test(test_upcast_sqlite),     cmocka_unit_test(test_upcast_postgres),
        cmocka_unit_test(test_snapshots_sqlite),  cmocka_unit_test(test_snapshots_postgres),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
