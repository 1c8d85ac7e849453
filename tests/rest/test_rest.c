/* REST produce bodies (Confluent REST Proxy v3 / v2) and the Avro encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "registry/avro_codec.h"
#include "rest/records.h"

static char err[256];

static void test_v3_sides(void **state)
{
    (void)state;
    const char *body =
        "{\"partition_id\":2,\"timestamp\":\"2024-05-01T12:00:00.25+02:00\","
        "\"headers\":[{\"name\":\"ce_type\",\"value\":\"T3JkZXJQbGFjZWQ=\"},{\"name\":\"n\"}],"
        "\"key\":{\"type\":\"STRING\",\"data\":\"order-1\"},"
        "\"value\":{\"type\":\"JSON\",\"data\":{\"a\":[1,2]}}}\n"
        "  {\"key\":{\"type\":\"BINARY\",\"data\":\"AAEC\"},\"value\":null}";
    rest_batch b;
    size_t used;
    assert_int_equal(rest_parse_v3_stream(body, strlen(body), &b, &used, err, sizeof err), 0);
    assert_int_equal(b.n, 2);
    rest_rec *r = &b.r[0];
    assert_int_equal(r->partition, 2);
    assert_int_equal(r->timestamp, 1714557600250LL); /* 10:00:00.25 UTC */
    assert_int_equal(r->nheaders, 2);
    assert_string_equal(r->headers[0].name, "ce_type");
    assert_memory_equal(r->headers[0].value, "OrderPlaced", 11);
    assert_null(r->headers[1].value);
    assert_int_equal(r->key.len, 7);
    assert_memory_equal(r->key.bytes, "order-1", 7);
    assert_int_equal(r->value.len, strlen("{\"a\":[1,2]}"));
    assert_memory_equal(r->value.bytes, "{\"a\":[1,2]}", r->value.len);
    r = &b.r[1];
    assert_int_equal(r->partition, -1);
    assert_int_equal(r->key.len, 3);
    assert_int_equal(r->key.bytes[2], 2);
    assert_true(r->value.null);
    rest_batch_free(&b);
}

static void test_v3_errors(void **state)
{
    (void)state;
    const char *cases[] = {
        "{\"key\":{\"type\":\"BINARY\",\"data\":\"!!\"}}",
        "{\"value\":{\"type\":\"STRING\",\"data\":5}}",
        "{\"value\":{\"type\":\"XML\",\"data\":\"<a/>\"}}",
        "{\"partition_id\":-1}",
        "{\"timestamp\":\"yesterday\"}",
        "{\"headers\":[{\"value\":\"AA==\"}]}",
        "{\"value\":[1]}",
        "[1,2]",
        "",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rest_batch b;
        size_t used;
        err[0] = 0;
        int rc = rest_parse_v3_stream(cases[i], strlen(cases[i]), &b, &used, err, sizeof err);
        /* an empty body is an error with no record; otherwise the record carries its error */
        if (b.n == 0) {
            assert_true(rc >= 400);
            assert_true(err[0] != 0);
        } else {
            assert_int_equal(b.n, 1);
            assert_true(b.r[0].error >= 400);
            assert_true(b.r[0].error_msg && b.r[0].error_msg[0]);
        }
        rest_batch_free(&b);
    }
    /* a bad record in a stream keeps its place and the stream goes on */
    const char *mixed = "{\"value\":{\"type\":\"BINARY\",\"data\":\"!\"}} {\"value\":null}";
    rest_batch mb;
    size_t mu;
    assert_int_equal(rest_parse_v3_stream(mixed, strlen(mixed), &mb, &mu, err, sizeof err), 0);
    assert_int_equal(mb.n, 2);
    assert_int_equal(mb.r[0].error, REST_ERR_INVALID_PAYLOAD);
    assert_int_equal(mb.r[1].error, 0);
    rest_batch_free(&mb);
    /* a stream broken in its second object says how far it got */
    const char *s = "{\"value\":{\"type\":\"JSON\",\"data\":1}} {\"value\":";
    rest_batch b;
    size_t used;
    assert_int_equal(rest_parse_v3_stream(s, strlen(s), &b, &used, err, sizeof err),
                     REST_ERR_BAD_REQUEST);
    assert_int_equal(b.n, 2); /* the good record and the broken one */
    assert_false(b.r[0].value.null);
    assert_true(b.r[1].value.null);
    assert_int_equal(used, 35);
    rest_batch_free(&b);
}

static void test_v2(void **state)
{
    (void)state;
    char fmt[16];
    assert_int_equal(rest_v2_format("application/vnd.kafka.binary.v2+json", fmt, sizeof fmt), 0);
    assert_string_equal(fmt, "binary");
    assert_int_equal(rest_v2_format("application/json", fmt, sizeof fmt),
                     REST_ERR_UNSUPPORTED_MEDIA);
    const char *body = "{\"records\":[{\"key\":\"a2V5\",\"value\":\"dmFs\",\"partition\":1},"
                       "{\"value\":\"\"}]}";
    rest_batch b;
    assert_int_equal(rest_parse_v2(body, strlen(body), "binary", &b, err, sizeof err), 0);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.r[0].partition, 1);
    assert_memory_equal(b.r[0].key.bytes, "key", 3);
    assert_memory_equal(b.r[0].value.bytes, "val", 3);
    assert_true(b.r[1].key.null);
    assert_int_equal(b.r[1].value.len, 0);
    rest_batch_free(&b);
    const char *avro = "{\"records\":[{\"value\":{\"x\":1}}]}";
    assert_int_equal(rest_parse_v2(avro, strlen(avro), "avro", &b, err, sizeof err),
                     REST_ERR_SCHEMA_REQUIRED);
    rest_batch_free(&b);
}

static const char *SCHEMA =
    "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"shop\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"items\",\"type\":{\"type\":\"array\",\"items\":\"int\"}},"
    "{\"name\":\"state\",\"type\":{\"type\":\"enum\",\"name\":\"State\",\"symbols\":[\"NEW\","
    "\"PAID\"]}},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":\"boolean\"}},"
    "{\"name\":\"raw\",\"type\":\"bytes\"},"
    "{\"name\":\"next\",\"type\":[\"null\",\"Order\"],\"default\":null}]}";

static void test_avro(void **state)
{
    (void)state;
    avro_schema *s = avro_schema_parse(SCHEMA, err, sizeof err);
    assert_non_null(s);
    json_t *d = json_loads("{\"id\":-2,\"note\":{\"string\":\"hi\"},\"items\":[1,64],"
                           "\"state\":\"PAID\",\"tags\":{\"k\":true},\"raw\":\"\\u00ff\","
                           "\"next\":{\"shop.Order\":{\"id\":1,\"items\":[],\"state\":\"NEW\","
                           "\"tags\":{},\"raw\":\"\"}}}",
                           0, NULL);
    assert_non_null(d);
    wbuf w;
    wbuf_init(&w, 0);
    assert_int_equal(avro_encode_json(s, d, &w, err, sizeof err), 0);
    const uint8_t want[] = {
        0x03,                                     /* id -2 zigzag */
        0x02, 0x04, 'h',  'i',                    /* union branch 1, "hi" */
        0x04, 0x02, 0x80, 0x01, 0x00,             /* array: 2 items 1, 64, end */
        0x02,                                     /* enum PAID */
        0x02, 0x02, 'k',  0x01, 0x00,             /* map: 1 entry k=true, end */
        0x02, 0xff,                               /* bytes 0xff */
        0x02,                                     /* union branch Order */
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* id 1, note null, [], NEW, {}, "", null */
    };
    assert_int_equal(w.len, sizeof want);
    assert_memory_equal(w.data, want, sizeof want);
    json_decref(d);
    /* a wrong value names its path and leaves nothing behind */
    size_t before = w.len;
    d = json_loads("{\"id\":1,\"items\":[1,\"x\"],\"state\":\"NEW\",\"tags\":{},\"raw\":\"\"}", 0,
                   NULL);
    assert_int_equal(avro_encode_json(s, d, &w, err, sizeof err), -1);
    assert_non_null(strstr(err, "items[1]"));
    assert_int_equal(w.len, before);
    json_decref(d);
    wbuf_free(&w);
    avro_schema_free(s);
    const char *bad[] = {"{\"type\":\"record\",\"name\":\"X\"}",
                         "\"Unknown\"",
                         "[]",
                         "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[]}",
                         "{",
                         "[[\"int\"]]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_null(avro_schema_parse(bad[i], err, sizeof err));
}

/* Decodes p[0..n) with schema text sc: the JSON (malloc'd, compact, sorted keys) or NULL with
 * the error in err. */
static char *decode_text(const char *sc, const uint8_t *p, size_t n)
{
    avro_schema *s = avro_schema_parse(sc, err, sizeof err);
    assert_non_null(s);
    json_t *v = (json_t *)1;
    int rc = avro_decode_json(s, p, n, &v, err, sizeof err);
    avro_schema_free(s);
    if (rc) {
        assert_null(v);
        return NULL;
    }
    char *t = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(v);
    return t;
}

/* the binary -> JSON decoder (the console's message browser): round trip, and every malformed
 * input a clear error */
static void test_avro_decode(void **state)
{
    (void)state;
    const char *doc = "{\"id\":-2,\"items\":[1,64],\"next\":{\"shop.Order\":{\"id\":1,\"items\":[],"
                      "\"next\":null,\"note\":null,\"raw\":\"\",\"state\":\"NEW\",\"tags\":{}}},"
                      "\"note\":{\"string\":\"h\\u00e9\"},\"raw\":\"\\u00ffa\",\"state\":"
                      "\"PAID\",\"tags\":{\"k\":true}}";
    avro_schema *s = avro_schema_parse(SCHEMA, err, sizeof err);
    json_t *d = json_loads(doc, 0, NULL);
    wbuf w;
    wbuf_init(&w, 0);
    assert_int_equal(avro_encode_json(s, d, &w, err, sizeof err), 0);
    avro_schema_free(s);
    char *back = decode_text(SCHEMA, w.data, w.len);
    assert_non_null(back);
    char *want = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(back, want); /* encode -> decode gives the document back */
    free(back);
    free(want);
    json_decref(d);
    /* every malformed input: an error naming the place, no value */
    assert_null(decode_text(SCHEMA, w.data, w.len - 1)); /* truncated */
    uint8_t *more = malloc(w.len + 1);
    memcpy(more, w.data, w.len);
    more[w.len] = 0;
    assert_null(decode_text(SCHEMA, more, w.len + 1));
    assert_non_null(strstr(err, "left after the value"));
    free(more);
    wbuf_free(&w);

    const uint8_t varint[] = {0x80, 0x80};
    assert_null(decode_text("\"long\"", varint, sizeof varint));
    assert_non_null(strstr(err, "truncated varint"));
    const uint8_t longv[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_null(decode_text("\"long\"", longv, sizeof longv));
    const uint8_t big_int[] = {0x80, 0x80, 0x80, 0x80, 0x10}; /* 2^31 zigzag */
    assert_null(decode_text("\"int\"", big_int, sizeof big_int));
    assert_non_null(strstr(err, "out of range for int"));
    const uint8_t union_idx[] = {0x04}; /* branch 2 of 2 */
    assert_null(decode_text("[\"null\",\"int\"]", union_idx, sizeof union_idx));
    assert_non_null(strstr(err, "union index 2"));
    const uint8_t neg_len[] = {0x01, 'a'}; /* length -1 */
    assert_null(decode_text("\"string\"", neg_len, sizeof neg_len));
    assert_non_null(strstr(err, "negative length"));
    const uint8_t long_len[] = {0x10, 'a', 'b'}; /* length 8, 2 bytes there */
    assert_null(decode_text("\"bytes\"", long_len, sizeof long_len));
    assert_non_null(strstr(err, "beyond the buffer"));
    const uint8_t bad_utf8[] = {0x02, 0xff};
    assert_null(decode_text("\"string\"", bad_utf8, sizeof bad_utf8));
    const uint8_t enum_idx[] = {0x06};
    assert_null(decode_text("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}",
                            enum_idx, sizeof enum_idx));
    assert_non_null(strstr(err, "enum index 3"));
    const uint8_t huge_block[] = {0xfe, 0xff, 0xff, 0xff, 0x0f}; /* 2^31-1 nulls */
    assert_null(
        decode_text("{\"type\":\"array\",\"items\":\"null\"}", huge_block, sizeof huge_block));
    assert_non_null(strstr(err, "more than"));
    const uint8_t neg_block[] = {0x03, 0x01}; /* count -2, size -1 */
    assert_null(decode_text("{\"type\":\"array\",\"items\":\"int\"}", neg_block, sizeof neg_block));
    assert_non_null(strstr(err, "negative block size"));
    /* a record nested deeper than the limit (a recursive type): the depth limit */
    uint8_t deep[200];
    memset(deep, 0x02, sizeof deep); /* branch "L" again and again */
    assert_null(decode_text("{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"n\","
                            "\"type\":[\"null\",\"L\"]}]}",
                            deep, sizeof deep));
    assert_non_null(strstr(err, "nested deeper"));
    /* the path of the bad value is named */
    const uint8_t rec[] = {0x02, 0x04, 0x02, 0x04, 0x02}; /* n: [1, 2, then truncated */
    assert_null(decode_text("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"n\","
                            "\"type\":{\"type\":\"array\",\"items\":\"int\"}}]}",
                            rec, sizeof rec));
    assert_non_null(strstr(err, "n[2]"));
    /* floats JSON cannot hold, and a negative-count block with its byte size */
    const uint8_t nan[] = {0x00, 0x00, 0xc0, 0x7f};
    char *t = decode_text("\"float\"", nan, sizeof nan);
    assert_string_equal(t, "\"NaN\"");
    free(t);
    const uint8_t blk[] = {0x03, 0x04, 0x02, 0x04, 0x00}; /* count -2, size 2: [1, 2] */
    t = decode_text("{\"type\":\"array\",\"items\":\"int\"}", blk, sizeof blk);
    assert_string_equal(t, "[1,2]");
    free(t);
}

static int lookup(void *arg, int32_t id, const char *subject, int32_t version, rest_schema *out)
{
    (void)arg;
    (void)version;
    if (id == 7 || (subject && !strcmp(subject, "orders-value"))) {
        *out = (rest_schema){7, NULL,
                             "{\"type\":\"record\",\"name\":\"R\",\"fields\":"
                             "[{\"name\":\"n\",\"type\":\"int\"}]}"};
        return 0;
    }
    if (id == 8) {
        *out = (rest_schema){8, "JSON", "{\"type\":\"object\",\"required\":[\"n\"]}"};
        return 0;
    }
    return -1;
}

static void test_resolve(void **state)
{
    (void)state;
    const char *body = "{\"value\":{\"data\":{\"n\":3}}}"                 /* TopicNameStrategy */
                       "{\"value\":{\"schema_id\":8,\"data\":{\"n\":1}}}" /* JSON Schema */
                       "{\"value\":{\"type\":\"AVRO\",\"schema_id\":8,\"data\":{}}}";
    rest_batch b;
    size_t used;
    assert_int_equal(rest_parse_v3_stream(body, strlen(body), &b, &used, err, sizeof err), 0);
    assert_int_equal(rest_resolve(&b.r[0], "orders", lookup, NULL, err, sizeof err), 0);
    const uint8_t w0[] = {0, 0, 0, 0, 7, 6};
    assert_int_equal(b.r[0].value.len, sizeof w0);
    assert_memory_equal(b.r[0].value.bytes, w0, sizeof w0);
    assert_int_equal(rest_resolve(&b.r[1], "orders", lookup, NULL, err, sizeof err), 0);
    assert_int_equal(b.r[1].value.len, 5 + strlen("{\"n\":1}"));
    assert_int_equal(rest_resolve(&b.r[2], "orders", lookup, NULL, err, sizeof err),
                     REST_ERR_INVALID_PAYLOAD);
    rest_batch_free(&b);
    /* no schema registered and no type: plain JSON */
    body = "{\"value\":{\"data\":{\"n\":3}}}";
    assert_int_equal(rest_parse_v3_stream(body, strlen(body), &b, &used, err, sizeof err), 0);
    assert_int_equal(rest_resolve(&b.r[0], "other", lookup, NULL, err, sizeof err), 0);
    assert_memory_equal(b.r[0].value.bytes, "{\"n\":3}", 7);
    rest_batch_free(&b);
    /* a schema that fails validation, and an unknown id */
    body = "{\"value\":{\"schema_id\":8,\"data\":{}}} {\"value\":{\"schema_id\":9,\"data\":1}}";
    assert_int_equal(rest_parse_v3_stream(body, strlen(body), &b, &used, err, sizeof err), 0);
    assert_int_equal(rest_resolve(&b.r[0], "t", lookup, NULL, err, sizeof err),
                     REST_ERR_INVALID_PAYLOAD);
    assert_int_equal(rest_resolve(&b.r[1], "t", lookup, NULL, err, sizeof err),
                     REST_ERR_SCHEMA_NOT_FOUND);
    rest_batch_free(&b);
}

/* Compiled schemas are cached by id: many records compile each schema once; the same id with
 * another text (another registry) recompiles; a full cache keeps working (LRU). */
static const char *g_text7;
static int lookup_var(void *arg, int32_t id, const char *subject, int32_t version, rest_schema *out)
{
    (void)arg;
    (void)subject;
    (void)version;
    if (id == 8) return lookup(NULL, 8, NULL, -1, out);
    *out = (rest_schema){id, "AVRO", id == 7 ? g_text7 : "\"int\""};
    return 0;
}

static void test_schema_cache(void **state)
{
    (void)state;
    rest_schema_cache *c = rest_schema_cache_new();
    g_text7 = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"n\",\"type\":\"int\"}]}";
    const char *body = "{\"value\":{\"schema_id\":7,\"data\":{\"n\":3}}}"
                       "{\"value\":{\"schema_id\":7,\"data\":{\"n\":3}}}"
                       "{\"value\":{\"schema_id\":8,\"data\":{\"n\":1}}}"
                       "{\"value\":{\"schema_id\":8,\"data\":{}}}";
    rest_batch b;
    size_t used;
    assert_int_equal(rest_parse_v3_stream(body, strlen(body), &b, &used, err, sizeof err), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rest_resolve_cached(&b.r[i], "t", lookup_var, NULL, c, err, sizeof err),
                         0);
    assert_int_equal(rest_resolve_cached(&b.r[3], "t", lookup_var, NULL, c, err, sizeof err),
                     REST_ERR_INVALID_PAYLOAD); /* a cached schema still validates */
    const uint8_t w[] = {0, 0, 0, 0, 7, 6};
    assert_memory_equal(b.r[1].value.bytes, w, sizeof w);
    assert_int_equal(rest_schema_cache_compiles(c), 2);
    rest_batch_free(&b);
    /* same id 7, other text: recompiled, encoded by the new schema */
    g_text7 =
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"n\",\"type\":\"string\"}]}";
    body = "{\"value\":{\"schema_id\":7,\"data\":{\"n\":\"ab\"}}}";
    assert_int_equal(rest_parse_v3_stream(body, strlen(body), &b, &used, err, sizeof err), 0);
    assert_int_equal(rest_resolve_cached(&b.r[0], "t", lookup_var, NULL, c, err, sizeof err), 0);
    const uint8_t w2[] = {0, 0, 0, 0, 7, 4, 'a', 'b'};
    assert_int_equal(b.r[0].value.len, sizeof w2);
    assert_memory_equal(b.r[0].value.bytes, w2, sizeof w2);
    assert_int_equal(rest_schema_cache_compiles(c), 3);
    rest_batch_free(&b);
    /* more ids than the cache holds: every one still encodes */
    for (int id = 100; id < 100 + 2 * REST_SCHEMA_CACHE; id++) {
        char one[96];
        snprintf(one, sizeof one, "{\"value\":{\"schema_id\":%d,\"data\":1}}", id);
        assert_int_equal(rest_parse_v3_stream(one, strlen(one), &b, &used, err, sizeof err), 0);
        assert_int_equal(rest_resolve_cached(&b.r[0], "t", lookup_var, NULL, c, err, sizeof err),
                         0);
        assert_int_equal(b.r[0].value.len, 6);
        rest_batch_free(&b);
    }
    rest_schema_cache_free(c);
}

static void test_time(void **state)
{
    (void)state;
    char out[32];
    rest_format_time(1714557600250LL, out);
    assert_string_equal(out, "2024-05-01T10:00:00.250Z");
    assert_int_equal(rest_parse_time(out), 1714557600250LL);
    assert_int_equal(rest_parse_time("2024-05-01T10:00:00Z"), 1714557600000LL);
    assert_int_equal(rest_parse_time("2024-05-01T10:00:00"), -1);
    assert_int_equal(rest_parse_time("2024-13-01T10:00:00Z"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v3_sides),     cmocka_unit_test(test_v3_errors),
        cmocka_unit_test(test_v2),           cmocka_unit_test(test_avro),
        cmocka_unit_test(test_avro_decode),  cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_schema_cache), cmocka_unit_test(test_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
