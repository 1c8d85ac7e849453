/* test_jsonschema.c — unit tests of libeddy's JSON Schema validator (src/sdkschema/jsonschema.c):
 * a table of (schema, document) cases, each valid or refused with an expected fragment of the
 * error (the JSON path and the rule), plus compile-time refusals (bad $ref, unsupported regex)
 * and recursion bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "eddy/schema.h"

typedef struct vcase {
    const char *name;
    const char *schema;
    const char *doc;
    const char *want; /* NULL = valid; else a fragment of the error */
} vcase;

#define ORDER_SCHEMA                                                                               \
    "{\"type\":\"object\",\"required\":[\"orderId\",\"items\"],"                                   \
    "\"properties\":{\"orderId\":{\"type\":\"string\",\"pattern\":\"^ord-\\\\d+$\"},"              \
    "\"items\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"$ref\":\"#/definitions/item\"}},"   \
    "\"note\":{\"type\":[\"string\",\"null\"]}},"                                                  \
    "\"definitions\":{\"item\":{\"type\":\"object\",\"required\":[\"sku\",\"quantity\"],"          \
    "\"additionalProperties\":false,"                                                              \
    "\"properties\":{\"sku\":{\"type\":\"string\",\"minLength\":3},"                               \
    "\"quantity\":{\"type\":\"integer\",\"minimum\":1}}}}}"

static const vcase cases[] = {
    {"order ok", ORDER_SCHEMA,
     "{\"orderId\":\"ord-1\",\"items\":[{\"sku\":\"SKU-BOOK\",\"quantity\":2}],\"note\":null}",
     NULL},
    {"nested minimum", ORDER_SCHEMA,
     "{\"orderId\":\"ord-1\",\"items\":[{\"sku\":\"SKU-BOOK\",\"quantity\":-1}]}",
     "payload/items/0/quantity: -1 is less than minimum 1"},
    {"required missing", ORDER_SCHEMA, "{\"items\":[{\"sku\":\"SKU\",\"quantity\":1}]}",
     "payload/orderId: required property is missing"},
    {"integer vs number", ORDER_SCHEMA,
     "{\"orderId\":\"ord-1\",\"items\":[{\"sku\":\"SKU\",\"quantity\":1.5}]}",
     "payload/items/0/quantity: 1.5 is number, expected type integer"},
    {"integral real is an integer", ORDER_SCHEMA,
     "{\"orderId\":\"ord-1\",\"items\":[{\"sku\":\"SKU\",\"quantity\":2.0}]}", NULL},
    {"additionalProperties false", ORDER_SCHEMA,
     "{\"orderId\":\"ord-1\",\"items\":[{\"sku\":\"SKU\",\"quantity\":1,\"x\":1}]}",
     "payload/items/0/x: property is not allowed (additionalProperties false)"},
    {"pattern with \\d", ORDER_SCHEMA,
     "{\"orderId\":\"order-1\",\"items\":[{\"sku\":\"SKU\",\"quantity\":1}]}",
     "payload/orderId: \"order-1\" does not match pattern \"^ord-\\d+$\""},
    {"minItems", ORDER_SCHEMA, "{\"orderId\":\"ord-1\",\"items\":[]}",
     "payload/items: array has 0 items, fewer than minItems 1"},
    {"minLength", ORDER_SCHEMA,
     "{\"orderId\":\"ord-1\",\"items\":[{\"sku\":\"AB\",\"quantity\":1}]}",
     "payload/items/0/sku: \"AB\" is shorter than minLength 3"},
    {"type array with null", ORDER_SCHEMA,
     "{\"orderId\":\"ord-1\",\"items\":[{\"sku\":\"SKU\",\"quantity\":1}],\"note\":5}",
     "payload/note: 5 is integer, expected type string|null"},
    {"root type", "{\"type\":\"object\"}", "[1]", "payload: [1] is array, expected type object"},
    {"null type ok", "{\"type\":\"null\"}", "null", NULL},
    {"boolean type", "{\"type\":\"boolean\"}", "0", "expected type boolean"},
    {"number accepts integer", "{\"type\":\"number\"}", "3", NULL},
    {"enum", "{\"enum\":[\"pending\",\"paid\"]}", "\"lost\"",
     "payload: \"lost\" is not one of enum [\"pending\",\"paid\"]"},
    {"enum ok", "{\"enum\":[\"pending\",\"paid\",1]}", "1", NULL},
    {"const", "{\"properties\":{\"v\":{\"const\":2}}}", "{\"v\":3}",
     "payload/v: 3 is not the const 2"},
    {"maxItems", "{\"maxItems\":2}", "[1,2,3]", "more than maxItems 2"},
    {"maxLength counts code points", "{\"maxLength\":2}", "\"\\u00e9\\u00e9\"", NULL},
    {"maxLength", "{\"maxLength\":2}", "\"abc\"", "\"abc\" is longer than maxLength 2"},
    {"maximum", "{\"maximum\":10}", "10.5", "10.5 is greater than maximum 10"},
    {"exclusiveMinimum number", "{\"exclusiveMinimum\":0}", "0",
     "0 is not greater than exclusiveMinimum 0"},
    {"exclusiveMaximum draft4", "{\"maximum\":5,\"exclusiveMaximum\":true}", "5",
     "5 is not less than exclusiveMaximum 5"},
    {"exclusiveMaximum ok", "{\"exclusiveMaximum\":5}", "4.999", NULL},
    {"multipleOf", "{\"multipleOf\":0.01}", "10.005", "is not a multiple of 0.01"},
    {"multipleOf ok", "{\"multipleOf\":0.01}", "19.99", NULL},
    {"additionalProperties schema", "{\"additionalProperties\":{\"type\":\"string\"}}",
     "{\"a\":\"x\",\"b\":2}", "payload/b: 2 is integer, expected type string"},
    {"anyOf none", "{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\",\"minimum\":5}]}", "3",
     "payload: matches none of the anyOf schemas"},
    {"anyOf ok", "{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\",\"minimum\":5}]}", "7",
     NULL},
    {"oneOf two", "{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}", "3",
     "matches oneOf schemas 0 and 1, exactly one is allowed"},
    {"oneOf one", "{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"string\"}]}", "\"x\"", NULL},
    {"allOf", "{\"allOf\":[{\"type\":\"integer\"},{\"maximum\":3}]}", "4",
     "4 is greater than maximum 3"},
    {"not", "{\"not\":{\"type\":\"string\"}}", "\"x\"", "matches the \"not\" schema"},
    {"$defs ref",
     "{\"$defs\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"}},"
     "\"properties\":{\"id\":{\"$ref\":\"#/$defs/id\"}}}",
     "{\"id\":7}", "payload/id: 7 is integer, expected type string"},
    {"recursive ref ok",
     "{\"type\":\"object\",\"properties\":{\"child\":{\"$ref\":\"#\"},"
     "\"n\":{\"type\":\"integer\"}}}",
     "{\"n\":1,\"child\":{\"n\":2,\"child\":{\"n\":3}}}", NULL},
    {"recursive ref deep error",
     "{\"type\":\"object\",\"properties\":{\"child\":{\"$ref\":\"#\"},"
     "\"n\":{\"type\":\"integer\"}}}",
     "{\"n\":1,\"child\":{\"n\":2,\"child\":{\"n\":\"3\"}}}",
     "payload/child/child/n: \"3\" is string, expected type integer"},
    {"tuple items + additionalItems",
     "{\"items\":[{\"type\":\"string\"}],"
     "\"additionalItems\":false}",
     "[\"a\",1]", "the tuple allows 1 (additionalItems false)"},
    {"uniqueItems", "{\"uniqueItems\":true}", "[1,2,1]", "items 0 and 2 are equal"},
    {"patternProperties",
     "{\"patternProperties\":{\"^x-\":{\"type\":\"string\"}},"
     "\"additionalProperties\":false}",
     "{\"x-a\":\"ok\",\"y\":1}", "payload/y: property is not allowed"},
    {"if/then",
     "{\"if\":{\"properties\":{\"kind\":{\"const\":\"card\"}}},"
     "\"then\":{\"required\":[\"card\"]}}",
     "{\"kind\":\"card\"}", "payload/card: required property is missing"},
    {"false schema", "{\"properties\":{\"legacy\":false}}", "{\"legacy\":1}",
     "payload/legacy: no value is allowed here"},
    {"contains", "{\"contains\":{\"const\":\"x\"}}", "[\"a\",\"b\"]", "no item matches"},
    {"pattern class with \\w and lazy", "{\"pattern\":\"^[\\\\w-]+?@[a-z]+\\\\.com$\"}",
     "\"a_b-c@ex.com\"", NULL},
    {"pattern backslash in class", "{\"pattern\":\"^[a\\\\\\\\]+$\"}", "\"a\\\\a\"", NULL},
    {"pattern escaped dot", "{\"pattern\":\"^v\\\\d+\\\\.\\\\d+$\"}", "\"v1x2\"",
     "does not match pattern"},
    {"pattern non-capturing group", "{\"pattern\":\"^(?:ab)+$\"}", "\"abab\"", NULL},
    {"pattern \\s refusal", "{\"pattern\":\"^\\\\S+$\"}", "\"a b\"", "does not match pattern"},
    {"json pointer escapes",
     "{\"definitions\":{\"a/b\":{\"type\":\"integer\"}},"
     "\"$ref\":\"#/definitions/a~1b\"}",
     "\"s\"", "expected type integer"},
    {"minProperties", "{\"minProperties\":1}", "{}", "fewer than minProperties 1"},
    {"unknown keywords ignored", "{\"title\":\"x\",\"format\":\"date-time\",\"x-eddy\":1}",
     "\"whatever\"", NULL},
};

static void test_table(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const vcase *c = &cases[i];
        json_error_t je;
        json_t *sch = json_loads(c->schema, JSON_DECODE_ANY, &je);
        json_t *doc = json_loads(c->doc, JSON_DECODE_ANY, &je);
        if (!sch || !doc) {
            fprintf(stderr, "case %s: bad test JSON: %s\n", c->name, je.text);
            failures++;
            json_decref(sch);
            json_decref(doc);
            continue;
        }
        eddy_jsonschema *js = NULL;
        char err[512] = "";
        int rc = eddy_jsonschema_new(sch, &js, err, sizeof err);
        if (rc) {
            fprintf(stderr, "case %s: compile failed: %s\n", c->name, err);
            failures++;
        } else {
            rc = eddy_jsonschema_validate(js, doc, "payload", err, sizeof err);
            if (!c->want && rc != 0) {
                fprintf(stderr, "case %s: expected valid, got: %s\n", c->name, err);
                failures++;
            } else if (c->want && (rc != EDDY_ERR_PERMANENT || !strstr(err, c->want))) {
                fprintf(stderr, "case %s: expected error containing [%s], got rc %d [%s]\n",
                        c->name, c->want, rc, err);
                failures++;
            }
        }
        eddy_jsonschema_free(js);
        json_decref(sch);
        json_decref(doc);
    }
    assert_true(sizeof cases / sizeof cases[0] >= 25);
    assert_int_equal(failures, 0);
}

static void expect_compile_error(const char *schema, const char *frag)
{
    json_t *sch = json_loads(schema, JSON_DECODE_ANY, NULL);
    assert_non_null(sch);
    eddy_jsonschema *js = NULL;
    char err[256] = "";
    int rc = eddy_jsonschema_new(sch, &js, err, sizeof err);
    if (rc != EDDY_ERR_PERMANENT || !strstr(err, frag))
        fprintf(stderr, "schema %s: expected compile error [%s], got rc %d [%s]\n", schema, frag,
                rc, err);
    assert_int_equal(rc, EDDY_ERR_PERMANENT);
    assert_non_null(strstr(err, frag));
    assert_null(js);
    json_decref(sch);
}

static void test_compile_errors(void **state)
{
    (void)state;
    expect_compile_error("{\"$ref\":\"#/definitions/missing\"}", "does not resolve");
    expect_compile_error("{\"$ref\":\"http://example.com/s.json\"}", "only local refs");
    expect_compile_error("{\"pattern\":\"^(?=a)b\"}", "lookaround");
    expect_compile_error("{\"pattern\":\"(a)\\\\1\"}", "backreferences");
    expect_compile_error("{\"pattern\":\"[a-\"}", "unterminated");
    expect_compile_error("[1]", "object or a boolean");
}

/* A $ref cycle without progress (a → b → a) must end with an error, not recurse forever. */
static void test_ref_cycle(void **state)
{
    (void)state;
    json_t *sch = json_loads("{\"definitions\":{\"a\":{\"$ref\":\"#/definitions/b\"},"
                             "\"b\":{\"$ref\":\"#/definitions/a\"}},\"$ref\":\"#/definitions/a\"}",
                             0, NULL);
    eddy_jsonschema *js = NULL;
    char err[256];
    assert_int_equal(eddy_jsonschema_new(sch, &js, err, sizeof err), 0);
    json_t *doc = json_integer(1);
    assert_int_equal(eddy_jsonschema_validate(js, doc, NULL, err, sizeof err), EDDY_ERR_PERMANENT);
    assert_non_null(strstr(err, "recursion deeper"));
    json_decref(doc);
    eddy_jsonschema_free(js);
    json_decref(sch);
}

/* Deep documents against a recursive schema stay bounded too. */
static void test_deep_document(void **state)
{
    (void)state;
    json_t *sch = json_loads("{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}", 0, NULL);
    eddy_jsonschema *js = NULL;
    char err[1024];
    assert_int_equal(eddy_jsonschema_new(sch, &js, err, sizeof err), 0);
    json_t *doc = json_array();
    json_t *cur = doc;
    for (int i = 0; i < 500; i++) {
        json_t *n = json_array();
        json_array_append_new(cur, n);
        cur = n;
    }
    int rc = eddy_jsonschema_validate(js, doc, NULL, err, sizeof err);
    assert_int_equal(rc, EDDY_ERR_PERMANENT);
    assert_non_null(strstr(err, "recursion deeper"));
    json_decref(doc);
    eddy_jsonschema_free(js);
    json_decref(sch);
}

/* One schema for a topic carrying several event types: $defs named by event type. */
static void test_event_type_defs(void **state)
{
    (void)state;
    json_t *sch = json_loads(
        "{\"$defs\":{\"order.created\":{\"type\":\"object\",\"required\":[\"items\"]},"
        "\"order.cancelled\":{\"type\":\"object\",\"required\":[\"reason\"],"
        "\"properties\":{\"reason\":{\"$ref\":\"#/$defs/reason\"}}},"
        "\"reason\":{\"enum\":[\"payment_failed\",\"out_of_stock\"]}},"
        "\"anyOf\":[{\"$ref\":\"#/$defs/order.created\"},{\"$ref\":\"#/$defs/order.cancelled\"}]}",
        0, NULL);
    assert_non_null(sch);
    eddy_jsonschema *js = NULL;
    char err[512];
    assert_int_equal(eddy_jsonschema_new(sch, &js, err, sizeof err), 0);
    json_t *cancelled = json_loads("{\"reason\":\"bored\"}", 0, NULL);
    json_t *created = json_loads("{\"items\":[]}", 0, NULL);
    /* by type: the exact member, its own error */
    assert_int_equal(
        eddy_jsonschema_validate_def(js, "order.cancelled", cancelled, NULL, err, sizeof err),
        EDDY_ERR_PERMANENT);
    assert_non_null(strstr(err, "payload/reason: \"bored\" is not one of enum"));
    /* a created-shaped payload published as order.cancelled is refused (no cross-type match) */
    assert_int_equal(
        eddy_jsonschema_validate_def(js, "order.cancelled", created, NULL, err, sizeof err),
        EDDY_ERR_PERMANENT);
    assert_non_null(strstr(err, "payload/reason: required property is missing"));
    assert_int_equal(
        eddy_jsonschema_validate_def(js, "order.created", created, NULL, err, sizeof err), 0);
    /* without a type (or an unknown one): the union at the root */
    assert_int_equal(eddy_jsonschema_validate_def(js, NULL, created, NULL, err, sizeof err), 0);
    assert_int_equal(
        eddy_jsonschema_validate_def(js, "order.shipped", cancelled, NULL, err, sizeof err),
        EDDY_ERR_PERMANENT);
    assert_non_null(strstr(err, "payload: matches none of the anyOf schemas"));
    assert_true(eddy_jsonschema_has_def(js, "order.created"));
    assert_false(eddy_jsonschema_has_def(js, "order.shipped"));
    json_decref(cancelled);
    json_decref(created);
    eddy_jsonschema_free(js);
    json_decref(sch);
}

/* Registry URL parsing refuses what it cannot use, with a reason. */
static void test_registry_url(void **state)
{
    (void)state;
    char err[256];
    const char *bad[] = {"https://", "http://", "http://h:99999", "http://h:x", "ftp://h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_null(eddy_schema_registry_new(bad[i], err, sizeof err));
        assert_true(err[0] != 0);
    }
    eddy_schema_registry *r =
        eddy_schema_registry_new("http://127.0.0.1:1/prefix/", err, sizeof err);
    assert_non_null(r);
    /* nothing listens on port 1: transient, and the message names the registry */
    json_t *p = json_object();
    int rc = eddy_schema_validate(r, "t", "1.0", p, err, sizeof err);
    assert_int_equal(rc, EDDY_ERR_TRANSIENT);
    assert_non_null(strstr(err, "schema registry"));
    assert_int_equal(eddy_schema_validate(r, "t", "v1", p, err, sizeof err), EDDY_ERR_PERMANENT);
    assert_non_null(strstr(err, "MAJOR"));
    json_decref(p);
    eddy_schema_registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_ref_cycle),    cmocka_unit_test(test_deep_document),
        cmocka_unit_test(test_registry_url), cmocka_unit_test(test_event_type_defs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
