/* test_schema_registry.c — libeddy's registry client (src/sdkschema/schema.c) against a real
 * eddyd (tests/harness) with its schema registry on the HTTP port: a service
 * registers order.created v1 for order.events-value at start-up (one call, idempotent), good
 * payloads pass and bad ones are refused naming the field; a breaking v2 is refused with 409 and
 * the registry's reasons, goes to order.events.v2-value instead, and v1 and v2 events are
 * validated side by side on order.events and order.events.v2. Also: the cache fetches a schema
 * once, the version rule (major N → subject version N, else latest), the unregistered policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/schema.h"
#include "eddyd_harness.h"

static eh_broker broker;
static char url[64];

static const char V1[] =
    "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"title\":\"order.created v1\","
    "\"type\":\"object\",\"required\":[\"orderId\",\"customerId\",\"items\",\"total\"],"
    "\"properties\":{"
    "\"orderId\":{\"type\":\"string\",\"minLength\":1},"
    "\"customerId\":{\"type\":\"string\"},"
    "\"channel\":{\"enum\":[\"web\",\"app\"]},"
    "\"items\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"$ref\":\"#/definitions/item\"}},"
    "\"total\":{\"type\":\"number\",\"minimum\":0}},"
    "\"definitions\":{\"item\":{\"type\":\"object\",\"required\":[\"sku\",\"quantity\"],"
    "\"properties\":{\"sku\":{\"type\":\"string\"},"
    "\"quantity\":{\"type\":\"integer\",\"minimum\":1},"
    "\"price\":{\"type\":\"number\",\"minimum\":0}}}}}";

/* Compatible (BACKWARD) evolution: the channel enum is extended. */
static const char V1_COMPAT[] =
    "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"title\":\"order.created v1\","
    "\"type\":\"object\",\"required\":[\"orderId\",\"customerId\",\"items\",\"total\"],"
    "\"properties\":{"
    "\"orderId\":{\"type\":\"string\",\"minLength\":1},"
    "\"customerId\":{\"type\":\"string\"},"
    "\"channel\":{\"enum\":[\"web\",\"app\",\"pos\"]},"
    "\"items\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"$ref\":\"#/definitions/item\"}},"
    "\"total\":{\"type\":\"number\",\"minimum\":0}},"
    "\"definitions\":{\"item\":{\"type\":\"object\",\"required\":[\"sku\",\"quantity\"],"
    "\"properties\":{\"sku\":{\"type\":\"string\"},"
    "\"quantity\":{\"type\":\"integer\",\"minimum\":1},"
    "\"price\":{\"type\":\"number\",\"minimum\":0}}}}}";

/* Breaking: total becomes {amountCents, currency}, currency required. */
static const char V2[] =
    "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"title\":\"order.created v2\","
    "\"type\":\"object\",\"required\":[\"orderId\",\"customerId\",\"items\",\"total\","
    "\"currency\"],"
    "\"properties\":{"
    "\"orderId\":{\"type\":\"string\",\"minLength\":1},"
    "\"customerId\":{\"type\":\"string\"},"
    "\"currency\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{3}$\"},"
    "\"items\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"$ref\":\"#/$defs/item\"}},"
    "\"total\":{\"type\":\"object\",\"required\":[\"amountCents\"],"
    "\"properties\":{\"amountCents\":{\"type\":\"integer\",\"minimum\":0}}}},"
    "\"$defs\":{\"item\":{\"type\":\"object\",\"required\":[\"sku\",\"quantity\"],"
    "\"properties\":{\"sku\":{\"type\":\"string\"},"
    "\"quantity\":{\"type\":\"integer\",\"minimum\":1}}}}}";

static const char EV1_GOOD[] = "{\"orderId\":\"o-1\",\"customerId\":\"c-1\",\"channel\":\"web\","
                               "\"items\":[{\"sku\":\"SKU-BOOK\",\"quantity\":2,\"price\":9.5}],"
                               "\"total\":19.0}";
static const char EV1_BAD[] = "{\"orderId\":\"o-2\",\"customerId\":\"c-1\","
                              "\"items\":[{\"sku\":\"SKU-BOOK\",\"quantity\":-1}],\"total\":0}";
static const char EV1_POS[] = "{\"orderId\":\"o-3\",\"customerId\":\"c-1\",\"channel\":\"pos\","
                              "\"items\":[{\"sku\":\"SKU-MUG\",\"quantity\":1}],\"total\":5}";
static const char EV2_GOOD[] = "{\"orderId\":\"o-4\",\"customerId\":\"c-2\",\"currency\":\"EUR\","
                               "\"items\":[{\"sku\":\"SKU-LAMP\",\"quantity\":1}],"
                               "\"total\":{\"amountCents\":4999}}";
static const char EV2_BAD[] = "{\"orderId\":\"o-5\",\"customerId\":\"c-2\",\"currency\":\"euro\","
                              "\"items\":[{\"sku\":\"SKU-LAMP\",\"quantity\":1}],"
                              "\"total\":{\"amountCents\":4999}}";

/* The HTTP port from eddyd's "http listening on 127.0.0.1:PORT" line. */
static int http_port(void)
{
    for (int tries = 0; tries < 500; tries++) {
        FILE *f = fopen(broker.log, "r");
        char line[4096];
        int port = 0;
        while (f && !port && fgets(line, sizeof line, f)) {
            char *s = strstr(line, "http listening on 127.0.0.1:");
            if (s) port = atoi(s + strlen("http listening on 127.0.0.1:"));
        }
        if (f) fclose(f);
        if (port) return port;
        eh_sleep_ms(20);
    }
    return 0;
}

static int setup(void **state)
{
    (void)state;
    const char *sets[] = {"http.listeners=127.0.0.1:0", NULL};
    if (eh_start(&broker, sets) != 0) return -1;
    int port = http_port();
    if (!port) {
        eh_log_tail(&broker, 40);
        return -1;
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = eh_stop(&broker, 30);
    eh_cleanup(&broker);
    return rc;
}

static int validate(eddy_schema_registry *r, const char *topic, const char *ver, const char *doc,
                    char *err, size_t errlen)
{
    json_t *p = json_loads(doc, 0, NULL);
    assert_non_null(p);
    int rc = eddy_schema_validate(r, topic, ver, p, err, errlen);
    json_decref(p);
    return rc;
}

#define EXPECT_OK(r, topic, ver, doc)                                                              \
    do {                                                                                           \
        char e_[1024] = "";                                                                        \
        int rc_ = validate(r, topic, ver, doc, e_, sizeof e_);                                     \
        if (rc_) fprintf(stderr, "unexpected refusal on %s v%s: %s\n", topic, ver, e_);            \
        assert_int_equal(rc_, 0);                                                                  \
    } while (0)

#define EXPECT_REFUSED(r, topic, ver, doc, frag)                                                   \
    do {                                                                                           \
        char e_[1024] = "";                                                                        \
        int rc_ = validate(r, topic, ver, doc, e_, sizeof e_);                                     \
        fprintf(stderr, "refused as expected on %s v%s: %s\n", topic, ver, e_);                    \
        assert_int_equal(rc_, EDDY_ERR_PERMANENT);                                                 \
        if (!strstr(e_, frag)) fprintf(stderr, "  missing fragment [%s]\n", frag);                 \
        assert_non_null(strstr(e_, frag));                                                         \
    } while (0)

static void test_register_validate_evolve(void **state)
{
    (void)state;
    char err[2048];
    setenv("EDDY_SCHEMA_REGISTRY_URL", url, 1);
    eddy_schema_registry *r = eddy_schema_registry_new(NULL, err, sizeof err);
    assert_non_null(r);

    /* before anything is registered: allowed by default, refused on request */
    EXPECT_OK(r, "order.events", "1.0", EV1_BAD);
    eddy_schema_registry_set_unregistered(r, EDDY_SCHEMA_UNREGISTERED_REFUSE);
    EXPECT_REFUSED(r, "payment.events", "1.0", "{}", "no schema registered for payment.events");
    eddy_schema_registry_set_unregistered(r, EDDY_SCHEMA_UNREGISTERED_ALLOW);

    /* start-up registration: one call, and the same again at the next start-up */
    int id = 0, ver = 0, id2 = 0, ver2 = 0;
    assert_int_equal(eddy_schema_register(r, "order.events-value", V1, &id, &ver, err, sizeof err),
                     0);
    assert_true(id > 0);
    assert_int_equal(ver, 1);
    assert_int_equal(
        eddy_schema_register(r, "order.events-value", V1, &id2, &ver2, err, sizeof err), 0);
    assert_int_equal(id2, id);
    assert_int_equal(ver2, 1);

    /* the registration is seen at once even though "no subject" was cached before */
    EXPECT_OK(r, "order.events", "1.0", EV1_GOOD);
    EXPECT_REFUSED(r, "order.events", "1.0", EV1_BAD,
                   "payload/items/0/quantity: -1 is less than minimum 1");
    EXPECT_REFUSED(r, "order.events", "1", "{\"orderId\":\"o\",\"items\":[]}",
                   "payload/customerId: required property is missing");

    /* cached: no more requests however many publishes */
    long before = eddy_schema_registry_requests(r);
    for (int i = 0; i < 50; i++) EXPECT_OK(r, "order.events", "1.0", EV1_GOOD);
    assert_int_equal(eddy_schema_registry_requests(r), before);

    /* a breaking change on the same subject: 409 with the registry's reasons */
    int rc = eddy_schema_register(r, "order.events-value", V2, &id2, &ver2, err, sizeof err);
    fprintf(stderr, "breaking v2 on order.events-value: %s\n", err);
    assert_int_equal(rc, EDDY_ERR_PERMANENT);
    assert_non_null(strstr(err, "409"));
    assert_non_null(strstr(err, "REQUIRED_PROPERTY_ADDED"));
    assert_non_null(strstr(err, "currency"));

    /* so it goes to a new versioned topic */
    assert_int_equal(
        eddy_schema_register(r, "order.events.v2-value", V2, &id2, &ver2, err, sizeof err), 0);
    assert_true(id2 > id);
    assert_int_equal(ver2, 1);

    /* v1 and v2 side by side */
    for (int i = 0; i < 3; i++) {
        EXPECT_OK(r, "order.events", "1.0", EV1_GOOD);
        EXPECT_OK(r, "order.events.v2", "2.0", EV2_GOOD);
        EXPECT_REFUSED(r, "order.events.v2", "2.0", EV2_BAD,
                       "payload/currency: \"euro\" does not match pattern");
        EXPECT_REFUSED(r, "order.events.v2", "2.0", EV1_GOOD,
                       "payload/currency: required property is missing");
        EXPECT_REFUSED(r, "order.events", "1.0", EV2_GOOD,
                       "payload/total: {\"amountCents\":4999} is object, expected type number");
    }

    /* version rule: "2.0" on order.events has no subject version 2 yet → latest (1) */
    EXPECT_REFUSED(r, "order.events", "1.1", EV1_POS,
                   "payload/channel: \"pos\" is not one of enum");
    EXPECT_REFUSED(r, "order.events", "2.0", EV1_POS, "schema order.events-value version 1");
    /* a compatible evolution becomes subject version 2 … */
    assert_int_equal(
        eddy_schema_register(r, "order.events-value", V1_COMPAT, NULL, &ver, err, sizeof err), 0);
    assert_int_equal(ver, 2);
    /* … which events of major 2 use from now on; major 1 stays on version 1 */
    EXPECT_OK(r, "order.events", "2.0", EV1_POS);
    EXPECT_REFUSED(r, "order.events", "1.0", EV1_POS, "version 1");

    /* a second handle (another service) shares nothing and sees the same answers */
    eddy_schema_registry *r2 = eddy_schema_registry_new(url, err, sizeof err);
    assert_non_null(r2);
    EXPECT_OK(r2, "order.events.v2", "2", EV2_GOOD);
    EXPECT_REFUSED(r2, "order.events", "1", EV1_BAD, "payload/items/0/quantity");
    eddy_schema_registry_free(r2);
    eddy_schema_registry_free(r);
}

/* A topic with several event types (one schema, $defs by event type), through the process-wide
 * default handle the publish path uses (from EDDY_SCHEMA_REGISTRY_URL). */
static void test_event_types_default_handle(void **state)
{
    (void)state;
    char err[1024];
    setenv("EDDY_SCHEMA_REGISTRY_URL", url, 1);
    eddy_schema_registry *r = eddy_schema_registry_default();
    assert_non_null(r);
    assert_ptr_equal(eddy_schema_registry_default(), r);
    static const char PAY[] =
        "{\"$defs\":{"
        "\"payment.processed\":{\"type\":\"object\",\"required\":[\"orderId\",\"amount\"],"
        "\"properties\":{\"amount\":{\"type\":\"number\",\"exclusiveMinimum\":0}}},"
        "\"payment.failed\":{\"type\":\"object\",\"required\":[\"orderId\",\"reason\"],"
        "\"properties\":{\"reason\":{\"type\":\"string\",\"minLength\":1}}}},"
        "\"anyOf\":[{\"$ref\":\"#/$defs/payment.processed\"},"
        "{\"$ref\":\"#/$defs/payment.failed\"}]}";
    assert_int_equal(
        eddy_schema_register(r, "payment.events-value", PAY, NULL, NULL, err, sizeof err), 0);
    json_t *ok = json_loads("{\"orderId\":\"o-1\",\"amount\":19.5}", 0, NULL);
    json_t *bad = json_loads("{\"orderId\":\"o-1\",\"amount\":0}", 0, NULL);
    assert_int_equal(eddy_schema_validate_event(r, "payment.events", "payment.processed", "1.0", ok,
                                                err, sizeof err),
                     0);
    assert_int_equal(eddy_schema_validate_event(r, "payment.events", "payment.processed", "1.0",
                                                bad, err, sizeof err),
                     EDDY_ERR_PERMANENT);
    fprintf(stderr, "by event type: %s\n", err);
    assert_non_null(strstr(err, "payload/amount: 0 is not greater than exclusiveMinimum 0"));
    assert_non_null(strstr(err, "$defs/payment.processed"));
    /* a processed-shaped payload published as payment.failed */
    assert_int_equal(eddy_schema_validate_event(r, "payment.events", "payment.failed", "1.0", ok,
                                                err, sizeof err),
                     EDDY_ERR_PERMANENT);
    assert_non_null(strstr(err, "payload/reason: required property is missing"));
    json_decref(ok);
    json_decref(bad);
    /* a second default replaces the first; the first stays usable until exit */
    assert_int_equal(eddy_schema_registry_set_default(url, err, sizeof err), 0);
    assert_true(eddy_schema_registry_default() != r);
    assert_int_equal(eddy_schema_registry_set_default(NULL, err, sizeof err), 0);
    assert_null(eddy_schema_registry_default());
    json_t *p = json_loads("{}", 0, NULL);
    assert_int_equal(eddy_schema_validate(r, "order.events", "1", p, err, sizeof err),
                     EDDY_ERR_PERMANENT);
    json_decref(p);
}

/* A registry that is gone: transient errors, but cached schemas keep validating. */
static void test_registry_down(void **state)
{
    (void)state;
    char err[1024];
    eddy_schema_registry *r = eddy_schema_registry_new(url, err, sizeof err);
    assert_non_null(r);
    eddy_schema_registry_set_timeout(r, 2000);
    EXPECT_OK(r, "order.events", "1.0", EV1_GOOD);
    eh_kill(&broker);
    EXPECT_OK(r, "order.events", "1.0", EV1_GOOD);
    EXPECT_REFUSED(r, "order.events", "1.0", EV1_BAD, "minimum 1");
    assert_int_equal(validate(r, "inventory.events", "1.0", "{}", err, sizeof err),
                     EDDY_ERR_TRANSIENT);
    fprintf(stderr, "registry down: %s\n", err);
    assert_int_equal(eddy_schema_register(r, "x-value", "{}", NULL, NULL, err, sizeof err),
                     EDDY_ERR_TRANSIENT);
    eddy_schema_registry_free(r);
    /* restart so teardown can stop it cleanly; the registrations survived */
    assert_int_equal(eh_restart(&broker), 0);
    int port = http_port(); /* the HTTP listener is on a fresh :0 port */
    assert_true(port > 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    eddy_schema_registry *r3 = NULL;
    for (int i = 0; i < 100 && !r3; i++) {
        r3 = eddy_schema_registry_new(url, err, sizeof err);
        assert_non_null(r3);
        if (validate(r3, "order.events.v2", "2.0", EV2_GOOD, err, sizeof err) != 0) {
            eddy_schema_registry_free(r3);
            r3 = NULL;
            eh_sleep_ms(100);
        }
    }
    assert_non_null(r3);
    EXPECT_REFUSED(r3, "order.events.v2", "2.0", EV2_BAD, "currency");
    eddy_schema_registry_free(r3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_validate_evolve),
        cmocka_unit_test(test_event_types_default_handle),
        cmocka_unit_test(test_registry_down),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
