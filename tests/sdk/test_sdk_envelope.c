/* test_sdk_envelope — libeddy envelope: mandatory fields on both sides, JSON round trip,
 * UUID / RFC 3339 / traceparent helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <eddy/eddy.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* libeddy-internal (src/sdk/internal.h): the relay's fast header reading */
int sdk_envelope_fields(const char *json, char *scratch, size_t cap, eddy_event *ev);

/* The relay reads an outbox envelope's header fields without parsing its payload: the same
 * values as the full parse for what eddy_event_to_json writes, and "parse it fully" (-1) for
 * anything it does not fully understand. */
static void test_relay_fast_fields(void **state)
{
    eddy_event *ev = eddy_event_new("order.created", "1.2", "order",
                                    json_pack("{s:s,s:s}", "source", "not-me", "eventId", "no"));
    eddy_event_set(&ev->traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    char *s = eddy_event_to_json(ev);
    char scratch[2048];
    eddy_event f;
    assert_int_equal(sdk_envelope_fields(s, scratch, sizeof scratch, &f), 0);
    assert_string_equal(f.event_type, "order.created");
    assert_string_equal(f.version, "1.2");
    assert_string_equal(f.event_id, ev->event_id);
    assert_string_equal(f.timestamp, ev->timestamp);
    assert_string_equal(f.correlation_id, ev->correlation_id);
    assert_string_equal(f.causation_id, ev->causation_id);
    assert_string_equal(f.source, "order"); /* not the payload's "source" */
    assert_string_equal(f.traceparent, ev->traceparent);
    assert_int_equal(sdk_envelope_fields(s, scratch, 40, &f), -1); /* no room: full parse */
    free(s);
    /* an escaped character in a field: full parse */
    eddy_event_set(&ev->source, "or\"der");
    s = eddy_event_to_json(ev);
    assert_int_equal(sdk_envelope_fields(s, scratch, sizeof scratch, &f), -1);
    free(s);
    eddy_event_free(ev);
    static const char *const bad[] = {"",
                                      "{",
                                      "[]",
                                      "{\"payload\":[]}",
                                      "{\"eventType\":1,\"payload\":{}}",
                                      "{\"payload\":{}}", /* fields missing */
                                      "{\"eventType\":\"a\",\"eventType\":\"b\",\"payload\":{}}",
                                      "{\"eventType\":\"a\"",
                                      "{\"eventType\":\"a\",\"version\":\"x\",\"payload\":{}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(sdk_envelope_fields(bad[i], scratch, sizeof scratch, &f), -1);
}

static void test_new_is_valid_and_round_trips(void **state)
{
    eddy_event *ev =
        eddy_event_new("order.created", "1.0", "order", json_pack("{s:s}", "orderId", "o1"));
    const char *why = "x";
    assert_int_equal(eddy_event_validate(ev, &why), 0);
    assert_null(why);
    assert_true(eddy_uuid_valid(ev->event_id));
    eddy_event_set(&ev->traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    char *s = eddy_event_to_json(ev);
    eddy_event *back = NULL;
    char *reason = NULL;
    assert_int_equal(eddy_event_from_json(s, strlen(s), &back, &reason), 0);
    assert_string_equal(back->event_type, "order.created");
    assert_string_equal(back->version, "1.0");
    assert_string_equal(back->event_id, ev->event_id);
    assert_string_equal(back->correlation_id, ev->correlation_id);
    assert_string_equal(back->causation_id, ev->causation_id);
    assert_string_equal(back->source, "order");
    assert_string_equal(back->traceparent, ev->traceparent);
    assert_string_equal(json_string_value(json_object_get(back->payload, "orderId")), "o1");
    free(s);
    eddy_event_free(ev);
    eddy_event_free(back);
}

static void expect_rejected(const char *json, const char *needle)
{
    eddy_event *ev = NULL;
    char *reason = NULL;
    assert_int_equal(eddy_event_from_json(json, strlen(json), &ev, &reason), EDDY_ERR_PERMANENT);
    assert_null(ev);
    assert_non_null(reason);
    if (!strstr(reason, needle)) fail_msg("reason '%s' lacks '%s'", reason, needle);
    free(reason);
}

#define OK_ID "\"eventId\":\"6f1c1e5e-8a3b-4c1d-9e2f-0a1b2c3d4e5f\""
#define OK_TS "\"timestamp\":\"2026-05-12T10:00:00Z\""
#define OK_REST "\"correlationId\":\"c\",\"causationId\":\"c\",\"source\":\"s\",\"payload\":{}"

static void test_receive_enforces_mandatory_fields(void **state)
{
    expect_rejected("not json", "not JSON");
    expect_rejected("[1,2]", "not a JSON object");
    expect_rejected("{\"version\":\"1.0\"," OK_ID "," OK_TS "," OK_REST "}", "eventType");
    expect_rejected("{\"eventType\":\"a\"," OK_ID "," OK_TS "," OK_REST "}", "version");
    expect_rejected("{\"eventType\":\"a\",\"version\":\"v1\"," OK_ID "," OK_TS "," OK_REST "}",
                    "version");
    expect_rejected("{\"eventType\":\"a\",\"version\":\"1\",\"eventId\":\"nope\"," OK_TS "," OK_REST
                    "}",
                    "eventId");
    expect_rejected("{\"eventType\":\"a\",\"version\":\"1\"," OK_ID
                    ",\"timestamp\":\"yesterday\"," OK_REST "}",
                    "timestamp");
    expect_rejected("{\"eventType\":\"a\",\"version\":\"1\"," OK_ID "," OK_TS
                    ",\"causationId\":\"c\",\"source\":\"s\",\"payload\":{}}",
                    "correlationId");
    expect_rejected("{\"eventType\":\"a\",\"version\":\"1\"," OK_ID "," OK_TS
                    ",\"correlationId\":\"c\",\"causationId\":\"c\",\"source\":\"s\"}",
                    "payload");
    expect_rejected("{\"eventType\":\"a\",\"version\":\"1\"," OK_ID "," OK_TS
                    ",\"correlationId\":\"c\",\"causationId\":\"c\",\"source\":\"s\","
                    "\"payload\":{},\"traceparent\":\"00-zz\"}",
                    "traceparent");
    eddy_event *ev = NULL;
    char *reason = NULL;
    const char *good = "{\"eventType\":\"a\",\"version\":\"2\"," OK_ID "," OK_TS "," OK_REST "}";
    assert_int_equal(eddy_event_from_json(good, strlen(good), &ev, &reason), 0);
    eddy_event_free(ev);
    assert_int_equal(eddy_event_from_json(NULL, 0, &ev, &reason), EDDY_ERR_PERMANENT);
    free(reason);
}

static void test_publish_side_validation(void **state)
{
    eddy_event *ev = eddy_event_new("", "1.0", "svc", NULL);
    const char *why;
    assert_int_equal(eddy_event_validate(ev, &why), EDDY_ERR_PERMANENT);
    assert_non_null(strstr(why, "eventType"));
    eddy_event_set(&ev->event_type, "x.y");
    eddy_event_set(&ev->correlation_id, NULL);
    assert_int_equal(eddy_event_validate(ev, &why), EDDY_ERR_PERMANENT);
    eddy_event_free(ev);
}

static void test_rfc3339(void **state)
{
    int64_t ms;
    assert_int_equal(eddy_time_parse_rfc3339("1970-01-01T00:00:01Z", &ms), 0);
    assert_int_equal(ms, 1000);
    assert_int_equal(eddy_time_parse_rfc3339("1970-01-01T01:00:00.250+01:00", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(eddy_time_parse_rfc3339("2026-05-12t10:00:00.123456z", &ms), 0);
    assert_int_not_equal(eddy_time_parse_rfc3339("2026-05-12T10:00:00", &ms), 0);
    assert_int_not_equal(eddy_time_parse_rfc3339("2026-13-12T10:00:00Z", &ms), 0);
    assert_int_not_equal(eddy_time_parse_rfc3339("2026-05-12T10:00:00.Z", &ms), 0);
    assert_int_not_equal(eddy_time_parse_rfc3339("", &ms), 0);
    char buf[32];
    eddy_time_rfc3339(1778580000123LL, buf);
    assert_int_equal(eddy_time_parse_rfc3339(buf, &ms), 0);
    assert_int_equal(ms, 1778580000123LL);
}

static void test_trace_context(void **state)
{
    char root[56], child[56];
    eddy_trace_new(root);
    assert_true(eddy_trace_valid(root));
    assert_int_equal(eddy_trace_child(root, child), 0);
    assert_true(eddy_trace_valid(child));
    assert_memory_equal(root, child, 35); /* same trace id */
    assert_memory_not_equal(root + 36, child + 36, 16);
    assert_false(eddy_trace_valid("00-00000000000000000000000000000000-b7ad6b7169203331-01"));
    assert_false(eddy_trace_valid("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"));
    assert_false(eddy_trace_valid("garbage"));
    char u[37];
    eddy_uuid_generate(u);
    assert_true(eddy_uuid_valid(u));
    assert_int_equal(u[14], '4');
    /* version 7: the clock first, so ids made later sort later */
    char a[37], b[37];
    eddy_uuid_v7(a);
    struct timespec two_ms = {0, 2000000};
    nanosleep(&two_ms, NULL);
    eddy_uuid_v7(b);
    assert_true(eddy_uuid_valid(a));
    assert_int_equal(a[14], '7');
    assert_true(strchr("89ab", a[19]) != NULL); /* RFC 9562's variant */
    assert_true(strcmp(a, b) < 0);
    char hexms[13];
    snprintf(hexms, sizeof hexms, "%.8s%.4s", a, a + 9);
    long long ms = strtoll(hexms, NULL, 16);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long now_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    assert_true(ms <= now_ms && ms > now_ms - 5000);
    assert_false(eddy_uuid_valid("6f1c1e5e-8a3b-4c1d-9e2f-0a1b2c3d4e5"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_is_valid_and_round_trips),
        cmocka_unit_test(test_relay_fast_fields),
        cmocka_unit_test(test_receive_enforces_mandatory_fields),
        cmocka_unit_test(test_publish_side_validation),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_trace_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
