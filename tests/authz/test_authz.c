/* test_authz — src/authz: Kafka's authorization rules (literal, prefixed and '*' patterns, DENY
 * over ALLOW, implied operations, User:*, hosts, super users, allow.everyone.if.no.acl.found),
 * filters (ANY, MATCH), validation of bad bindings, the ACL and quota files (written, reloaded,
 * refused when damaged) and the quota token bucket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "authz/acl.h"
#include "authz/quota.h"
#include "common/util.h"

static char g_dir[64];

static char *tmp_path(const char *name)
{
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/tmp/test_authz.XXXXXX");
        assert_non_null(mkdtemp(g_dir));
    }
    return xasprintf("%s/%s", g_dir, name);
}

static acl_binding B(int rt, const char *name, int pat, const char *who, int op, int perm)
{
    return (acl_binding){(int8_t)rt, (int8_t)pat, (int8_t)op, (int8_t)perm, name, who, "*"};
}

static void test_decisions(void **state)
{
    (void)state;
    char *path = tmp_path("acls1"), *err = NULL;
    unlink(path);
    acl_store *s = acl_store_open(path, "User:root; User:admin", false, &err);
    assert_non_null(s);
    acl_binding a[] = {
        B(ACL_RES_TOPIC, "orders", ACL_PAT_LITERAL, "User:alice", ACL_OP_READ, ACL_PERM_ALLOW),
        B(ACL_RES_TOPIC, "pay.", ACL_PAT_PREFIXED, "User:alice", ACL_OP_WRITE, ACL_PERM_ALLOW),
        B(ACL_RES_TOPIC, "pay.secret", ACL_PAT_LITERAL, "User:alice", ACL_OP_ALL, ACL_PERM_DENY),
        B(ACL_RES_TOPIC, "*", ACL_PAT_LITERAL, "User:*", ACL_OP_DESCRIBE_CONFIGS, ACL_PERM_ALLOW),
        B(ACL_RES_TOPIC, "cfg", ACL_PAT_LITERAL, "User:bob", ACL_OP_ALTER_CONFIGS, ACL_PERM_ALLOW),
        B(ACL_RES_GROUP, "g", ACL_PAT_PREFIXED, "User:bob", ACL_OP_ALL, ACL_PERM_ALLOW),
    };
    assert_int_equal(acl_store_add(s, a, ARRAY_LEN(a)), 0);
    assert_int_equal(acl_store_add(s, a, 1), 0); /* a duplicate is kept once */
    assert_int_equal(acl_store_count(s), ARRAY_LEN(a));
    const char *h = "10.0.0.1";
    assert_true(acl_authorize(s, "User:alice", h, ACL_RES_TOPIC, "orders", ACL_OP_READ));
    assert_true(acl_authorize(s, "User:alice", h, ACL_RES_TOPIC, "orders", ACL_OP_DESCRIBE));
    assert_false(acl_authorize(s, "User:alice", h, ACL_RES_TOPIC, "orders", ACL_OP_WRITE));
    assert_false(acl_authorize(s, "User:bob", h, ACL_RES_TOPIC, "orders", ACL_OP_READ));
    assert_true(acl_authorize(s, "User:alice", h, ACL_RES_TOPIC, "pay.in", ACL_OP_WRITE));
    assert_true(acl_authorize(s, "User:alice", h, ACL_RES_TOPIC, "pay.in", ACL_OP_DESCRIBE));
    assert_false(acl_authorize(s, "User:alice", h, ACL_RES_TOPIC, "pay.in", ACL_OP_READ));
    assert_false(acl_authorize(s, "User:alice", h, ACL_RES_TOPIC, "pay", ACL_OP_WRITE));
    assert_false(acl_authorize(s, "User:alice", h, ACL_RES_TOPIC, "pay.secret", ACL_OP_WRITE));
    assert_false(acl_authorize(s, "User:alice", h, ACL_RES_TOPIC, "pay.secret", ACL_OP_DESCRIBE));
    /* '*' literal and User:* */
    assert_true(acl_authorize(s, "User:zed", h, ACL_RES_TOPIC, "any", ACL_OP_DESCRIBE_CONFIGS));
    assert_false(acl_authorize(s, "User:zed", h, ACL_RES_TOPIC, "any", ACL_OP_DESCRIBE));
    /* AlterConfigs implies DescribeConfigs, not Describe */
    assert_true(acl_authorize(s, "User:bob", h, ACL_RES_TOPIC, "cfg", ACL_OP_ALTER_CONFIGS));
    assert_false(acl_authorize(s, "User:bob", h, ACL_RES_TOPIC, "cfg", ACL_OP_READ));
    /* All on a prefixed group */
    assert_true(acl_authorize(s, "User:bob", h, ACL_RES_GROUP, "g1", ACL_OP_READ));
    assert_true(acl_authorize(s, "User:bob", h, ACL_RES_GROUP, "g1", ACL_OP_DELETE));
    assert_false(acl_authorize(s, "User:bob", h, ACL_RES_GROUP, "h1", ACL_OP_READ));
    /* super users; a resource without ACLs is denied unless allow.everyone.if.no.acl.found */
    assert_true(acl_authorize(s, "User:admin", h, ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_ALTER));
    assert_false(
        acl_authorize(s, "User:alice", h, ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_ALTER));
    assert_false(acl_authorize(s, "User:alice", h, ACL_RES_TRANSACTIONAL_ID, "tx", ACL_OP_WRITE));
    /* KIP-679: Write on some topic */
    assert_true(acl_authorize_any(s, "User:alice", h, ACL_RES_TOPIC, ACL_OP_WRITE));
    assert_false(acl_authorize_any(s, "User:bob", h, ACL_RES_TOPIC, ACL_OP_WRITE));
    acl_store_close(s);
    s = acl_store_open(path, NULL, true, &err);
    assert_non_null(s);
    assert_int_equal(acl_store_count(s), ARRAY_LEN(a)); /* reloaded from the file */
    assert_true(acl_authorize(s, "User:x", h, ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_ALTER));
    assert_false(acl_authorize(s, "User:x", h, ACL_RES_TOPIC, "orders", ACL_OP_READ));
    acl_store_close(s);
    free(path);
}

static void test_hosts_and_names(void **state)
{
    (void)state;
    char *path = tmp_path("acls2"), *err = NULL;
    unlink(path);
    acl_store *s = acl_store_open(path, NULL, false, &err);
    acl_binding a =
        B(ACL_RES_TOPIC, "we ird\n%name", ACL_PAT_LITERAL, "User:a b", ACL_OP_READ, ACL_PERM_ALLOW);
    a.host = "10.0.0.2";
    const char *msg = NULL;
    assert_int_equal(acl_binding_validate(&a, &msg), 42); /* the newline is a control char */
    a.name = "we ird %name";
    assert_int_equal(acl_binding_validate(&a, &msg), 0);
    assert_int_equal(acl_store_add(s, &a, 1), 0);
    assert_true(acl_authorize(s, "User:a b", "10.0.0.2", ACL_RES_TOPIC, a.name, ACL_OP_READ));
    assert_false(acl_authorize(s, "User:a b", "10.0.0.3", ACL_RES_TOPIC, a.name, ACL_OP_READ));
    acl_store_close(s);
    s = acl_store_open(path, NULL, false, &err);
    assert_non_null(s);
    assert_true(acl_authorize(s, "User:a b", "10.0.0.2", ACL_RES_TOPIC, a.name, ACL_OP_READ));
    acl_store_close(s);
    free(path);
}

static void test_validation_and_filters(void **state)
{
    (void)state;
    const char *msg;
    acl_binding ok = B(ACL_RES_TOPIC, "t", ACL_PAT_LITERAL, "User:a", ACL_OP_READ, ACL_PERM_ALLOW);
    acl_binding bad[] = {ok, ok, ok, ok, ok, ok, ok};
    bad[0].restype = ACL_RES_ANY;
    bad[1].pattern = ACL_PAT_MATCH;
    bad[2].op = ACL_OP_ANY;
    bad[3].perm = ACL_PERM_ANY;
    bad[4].principal = "alice";
    bad[5].restype = ACL_RES_CLUSTER;
    bad[6].name = "";
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        msg = NULL;
        assert_int_equal(acl_binding_validate(&bad[i], &msg), 42);
        assert_non_null(msg);
    }
    acl_filter f = {ACL_RES_ANY, 9, ACL_OP_ANY, ACL_PERM_ANY, NULL, NULL, NULL};
    assert_int_equal(acl_filter_validate(&f, &msg), 42);

    char *path = tmp_path("acls3"), *err = NULL;
    unlink(path);
    acl_store *s = acl_store_open(path, NULL, false, &err);
    acl_binding a[] = {
        B(ACL_RES_TOPIC, "pay.", ACL_PAT_PREFIXED, "User:a", ACL_OP_WRITE, ACL_PERM_ALLOW),
        B(ACL_RES_TOPIC, "pay.x", ACL_PAT_LITERAL, "User:a", ACL_OP_WRITE, ACL_PERM_DENY),
        B(ACL_RES_TOPIC, "*", ACL_PAT_LITERAL, "User:b", ACL_OP_READ, ACL_PERM_ALLOW),
        B(ACL_RES_GROUP, "pay.x", ACL_PAT_LITERAL, "User:a", ACL_OP_READ, ACL_PERM_ALLOW),
    };
    assert_int_equal(acl_store_add(s, a, ARRAY_LEN(a)), 0);
    acl_filter any = {ACL_RES_ANY, ACL_PAT_ANY, ACL_OP_ANY, ACL_PERM_ANY, NULL, NULL, NULL};
    assert_int_equal(acl_store_find(s, &any, NULL, NULL), 4);
    acl_filter match = {ACL_RES_TOPIC, ACL_PAT_MATCH, ACL_OP_ANY, ACL_PERM_ANY,
                        "pay.x",       NULL,          NULL};
    assert_int_equal(acl_store_find(s, &match, NULL, NULL), 3);
    acl_filter lit = {ACL_RES_TOPIC, ACL_PAT_LITERAL, ACL_OP_ANY, ACL_PERM_ANY, "pay.", NULL, NULL};
    assert_int_equal(acl_store_find(s, &lit, NULL, NULL), 0);
    acl_filter byp = {ACL_RES_ANY, ACL_PAT_ANY, ACL_OP_ANY, ACL_PERM_ANY, NULL, "User:a", NULL};
    assert_int_equal(acl_store_delete(s, &byp, NULL, NULL), 3);
    assert_int_equal(acl_store_count(s), 1);
    acl_store_close(s);
    s = acl_store_open(path, NULL, false, &err);
    assert_int_equal(acl_store_count(s), 1);
    acl_store_close(s);
    /* a damaged file is refused with a message, not half-loaded */
    FILE *fp = fopen(path, "a");
    fputs("2 3 3 3 ok User:a\n", fp);
    fclose(fp);
    s = acl_store_open(path, NULL, false, &err);
    assert_null(s);
    assert_non_null(err);
    free(err);
    free(path);
}

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(acl_op_parse("IdempotentWrite"), ACL_OP_IDEMPOTENT_WRITE);
    assert_int_equal(acl_op_parse("IDEMPOTENT_WRITE"), ACL_OP_IDEMPOTENT_WRITE);
    assert_int_equal(acl_restype_parse("transactional-id"), 0);
    assert_int_equal(acl_restype_parse("TransactionalId"), ACL_RES_TRANSACTIONAL_ID);
    assert_int_equal(acl_pattern_parse("prefixed"), ACL_PAT_PREFIXED);
    assert_int_equal(acl_perm_parse("DENY"), ACL_PERM_DENY);
    assert_string_equal(acl_op_name(ACL_OP_DESCRIBE_CONFIGS), "DescribeConfigs");
}

static void test_quotas(void **state)
{
    (void)state;
    char *path = tmp_path("quotas"), *err = NULL;
    unlink(path);
    quota_store *q = quota_store_open(path, &err);
    assert_non_null(q);
    assert_true(quota_store_empty(q));
    quota_store_set(q, NULL, QUOTA_PRODUCE, 1000, false);
    quota_store_set(q, "we ird", QUOTA_PRODUCE, 5000, false);
    quota_store_set(q, "we ird", QUOTA_FETCH, 7, false);
    assert_int_equal(quota_store_save(q), 0);
    quota_store_close(q);
    q = quota_store_open(path, &err);
    assert_non_null(q);
    assert_true(quota_limit(q, "we ird", QUOTA_PRODUCE) == 5000);
    assert_true(quota_limit(q, "other", QUOTA_PRODUCE) == 1000); /* the default entity */
    assert_true(quota_limit(q, "other", QUOTA_FETCH) < 0);
    /* the bucket: 0.2 s of quota passes, then the time to pay back the debt */
    assert_int_equal(quota_record(q, "other", QUOTA_PRODUCE, 200, 1000), 0);
    assert_int_equal(quota_record(q, "other", QUOTA_PRODUCE, 1000, 1000), 1000);
    assert_int_equal(quota_record(q, "other", QUOTA_PRODUCE, 0, 2000), 0);
    assert_int_equal(quota_record(q, "nobody-limited", QUOTA_FETCH, 1e9, 2000), 0);
    quota_store_set(q, "we ird", QUOTA_PRODUCE, 0, true);
    assert_true(quota_limit(q, "we ird", QUOTA_PRODUCE) == 1000);
    quota_store_close(q);
    FILE *fp = fopen(path, "a");
    fputs("x producer_byte_rate=abc\n", fp);
    fclose(fp);
    assert_null(quota_store_open(path, &err));
    free(err);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_hosts_and_names),
        cmocka_unit_test(test_validation_and_filters),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_quotas),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (g_dir[0]) {
        char *cmd = xasprintf("rm -rf %s", g_dir);
        if (system(cmd) != 0) rc = rc ? rc : 1;
        free(cmd);
    }
    return rc;
}
