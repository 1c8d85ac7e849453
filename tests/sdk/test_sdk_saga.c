/* test_sdk_saga — bad input to libeddy's saga API (saga.h) gets a clear error and changes
 * nothing: definitions without steps, reply topic, success replies or compensation replies,
 * repeated step names, a saga attached twice; eddy_saga_begin without a transaction, with a
 * malformed or oversized id, with data that is not an object, with an id that exists (the
 * conflict); eddy_saga_show of a malformed or unknown id. A begun instance is running with
 * its first command in the outbox. The behaviour of running sagas is tested end to end
 * (tests/e2e/test_es.py, test_saga_crash.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <eddy/eventstore.h>
#include <eddy/saga.h>

#include "sdk_test.h"

static const char *const OK[] = {"x.done", NULL};
static const char *const UNDONE[] = {"x.undone", NULL};

static void test_definitions(void **state)
{
    eddy_service *svc;
    assert_int_equal(eddy_service_new("saga-test", &svc), 0);
    eddy_saga *s;
    eddy_saga_step steps[] = {
        {"one", "x.commands", "x.do", NULL, OK, NULL, "x.undo", NULL, UNDONE, 1000, 2},
        {"two", "x.commands", "x.do2", NULL, OK, NULL, NULL, NULL, NULL, 1000, 2},
    };
    eddy_saga_def d = {"t", "x.replies", steps, 2, NULL, NULL};

    eddy_saga_def bad = d;
    bad.name = "";
    assert_int_equal(eddy_saga_attach(svc, &bad, &s), EDDY_ERR_PERMANENT);
    assert_non_null(strstr(eddy_es_error(), "name"));
    bad = d;
    bad.reply_topic = NULL;
    assert_int_equal(eddy_saga_attach(svc, &bad, &s), EDDY_ERR_PERMANENT);
    assert_non_null(strstr(eddy_es_error(), "reply topic"));
    bad = d;
    bad.nsteps = 0;
    assert_int_equal(eddy_saga_attach(svc, &bad, &s), EDDY_ERR_PERMANENT);
    assert_non_null(strstr(eddy_es_error(), "steps"));
    eddy_saga_step s2[2] = {steps[0], steps[1]};
    s2[1].success = NULL;
    bad = d;
    bad.steps = s2;
    assert_int_equal(eddy_saga_attach(svc, &bad, &s), EDDY_ERR_PERMANENT);
    assert_non_null(strstr(eddy_es_error(), "success"));
    s2[1] = steps[1];
    s2[0].compensated = NULL;
    assert_int_equal(eddy_saga_attach(svc, &bad, &s), EDDY_ERR_PERMANENT);
    assert_non_null(strstr(eddy_es_error(), "compensat"));
    s2[0] = steps[0];
    s2[1].name = "one";
    assert_int_equal(eddy_saga_attach(svc, &bad, &s), EDDY_ERR_PERMANENT);
    assert_non_null(strstr(eddy_es_error(), "repeats"));

    assert_int_equal(eddy_saga_attach(svc, &d, &s), 0);
    eddy_saga *s_again;
    assert_int_equal(eddy_saga_attach(svc, &d, &s_again), EDDY_ERR_CONFLICT);
    assert_string_equal(eddy_es_error(), "saga t is already attached");
    /* saga names are unique in the process (eddy_saga_show finds a definition by name) */
    eddy_service *svc2;
    assert_int_equal(eddy_service_new("saga-test-2", &svc2), 0);
    assert_int_equal(eddy_saga_attach(svc2, &d, &s_again), EDDY_ERR_CONFLICT);
    eddy_saga_def d2 = d;
    d2.name = "t2";
    assert_int_equal(eddy_saga_attach(svc2, &d2, &s_again), 0);
    eddy_service_free(svc2);

    /* begin: bad input refused before anything is written */
    tstore ts;
    assert_int_equal(tstore_make(&ts, 0), 0);
    eddy_store *st;
    assert_int_equal(eddy_store_open(ts.url, &st), 0);
    assert_int_equal(eddy_store_migrate(st), 0);
    assert_int_equal(eddy_saga_begin(NULL, s, "a", json_object(), NULL), EDDY_ERR_PERMANENT);
    eddy_tx *tx;
    assert_int_equal(eddy_tx_begin(st, "t", NULL, NULL, &tx), 0);
    assert_int_equal(eddy_saga_begin(tx, s, "bad id", json_object(), NULL), EDDY_ERR_PERMANENT);
    assert_non_null(strstr(eddy_es_error(), "saga id"));
    char longid[200];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    assert_int_equal(eddy_saga_begin(tx, s, longid, json_object(), NULL), EDDY_ERR_PERMANENT);
    assert_int_equal(eddy_saga_begin(tx, s, "ok-id", json_array(), NULL), EDDY_ERR_PERMANENT);
    assert_non_null(strstr(eddy_es_error(), "object"));
    eddy_tx_rollback(tx);
    int rc;
    assert_null(eddy_saga_show(st, "bad id", &rc));
    assert_int_equal(rc, EDDY_ERR_PERMANENT);
    assert_null(eddy_saga_show(st, NULL, &rc));
    assert_int_equal(rc, EDDY_ERR_PERMANENT);
    assert_null(eddy_saga_show(st, "unknown", &rc)); /* no saga tables yet: a store error */
    assert_true(rc < 0);

    /* with the tables (what a started service creates): begin, then the same id conflicts */
    assert_true(eddy_store_exec(st,
                                "CREATE TABLE eddy_sagas (id TEXT PRIMARY KEY, saga_type TEXT NOT"
                                " NULL, state TEXT NOT NULL, step INTEGER NOT NULL, attempt"
                                " INTEGER NOT NULL, data TEXT NOT NULL, correlation_id TEXT NOT"
                                " NULL, reason TEXT, stuck INTEGER NOT NULL DEFAULT 0, deadline_ms"
                                " BIGINT, created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL,"
                                " created_at TEXT NOT NULL, updated_at TEXT NOT NULL, hist_n"
                                " INTEGER NOT NULL DEFAULT 0, lock_seq BIGINT NOT NULL DEFAULT 0);"
                                "CREATE TABLE eddy_saga_commands (event_id TEXT PRIMARY KEY,"
                                " saga_id TEXT, step INTEGER, kind TEXT, attempt INTEGER, sent_at"
                                " TEXT);"
                                "CREATE TABLE eddy_saga_history (saga_id TEXT, n INTEGER, at TEXT,"
                                " entry TEXT, PRIMARY KEY (saga_id, n));",
                                0, NULL) >= 0);
    assert_null(eddy_saga_show(st, "unknown", &rc));
    assert_int_equal(rc, EDDY_ERR_NOT_FOUND);
    char id[101];
    assert_int_equal(eddy_tx_begin(st, "t", "corr-1", NULL, &tx), 0);
    assert_int_equal(eddy_saga_begin(tx, s, "order-1", json_pack("{s:i}", "n", 1), id), 0);
    assert_string_equal(id, "order-1");
    assert_int_equal(eddy_tx_commit(tx), 0);
    assert_int_equal(eddy_tx_begin(st, "t", NULL, NULL, &tx), 0);
    assert_int_equal(eddy_saga_begin(tx, s, "order-1", NULL, NULL), EDDY_ERR_CONFLICT);
    eddy_tx_rollback(tx);
    char *j = eddy_saga_show(st, "order-1", &rc);
    assert_non_null(j);
    assert_non_null(strstr(j, "\"state\":\"running\""));
    assert_non_null(strstr(j, "\"stepName\":\"one\""));
    assert_non_null(strstr(j, "\"correlationId\":\"corr-1\""));
    assert_non_null(strstr(j, "command x.do sent to x.commands"));
    free(j);
    /* the first command is in the outbox with the saga's fields and its idempotency key */
    eddy_rows *r;
    assert_int_equal(
        eddy_store_query(st, "SELECT topic, msg_key, envelope FROM eddy_outbox", 0, NULL, &r), 1);
    assert_string_equal(eddy_rows_get(r, 0, 0), "x.commands");
    assert_string_equal(eddy_rows_get(r, 0, 1), "order-1");
    assert_non_null(strstr(eddy_rows_get(r, 0, 2), "\"idempotencyKey\":\"order-1:one:do\""));
    assert_non_null(strstr(eddy_rows_get(r, 0, 2), "\"replyTo\":\"x.replies\""));
    eddy_rows_free(r);
    eddy_store_close(st);
    tstore_drop(&ts);
    eddy_service_free(svc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_definitions)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
