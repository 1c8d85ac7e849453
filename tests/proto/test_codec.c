/* Unit tests for the codec engine (proto/kmsg.c) on hand-written schemas: byte-exact classic and
 * flexible encodings, tagged fields, null vs empty, version gating, bounds, file fragments,
 * request/response headers, and the kafka-protocol.md §2.1 / §2.3 ApiVersions frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/kmsg.h"

/* ---- helpers ---- */

/* "0a 0b0c" -> bytes; returns the length. */
static size_t unhex(const char *s, uint8_t *out)
{
    size_t n = 0;
    int hi = -1;
    for (; *s; s++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (*s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            continue;
        if (hi < 0)
            hi = d;
        else {
            out[n++] = (uint8_t)(hi << 4 | d);
            hi = -1;
        }
    }
    return n;
}

static void assert_bytes(const uint8_t *got, size_t gotn, const char *hex)
{
    uint8_t want[4096];
    size_t n = unhex(hex, want);
    if (gotn != n || memcmp(got, want, n) != 0) {
        fprintf(stderr, "want %zu bytes: ", n);
        for (size_t i = 0; i < n; i++) fprintf(stderr, "%02x", want[i]);
        fprintf(stderr, "\ngot  %zu bytes: ", gotn);
        for (size_t i = 0; i < gotn; i++) fprintf(stderr, "%02x", got[i]);
        fprintf(stderr, "\n");
        fail();
    }
}

/* Encodes m (memory only) and compares with hex. */
static void assert_encodes(const kmsg *m, int16_t v, bool flex, const char *hex)
{
    kout o;
    kout_init(&o, 0);
    kmsg_encode(m, v, flex, &o);
    kout_finish(&o);
    assert_int_equal(o.nsegs <= 1, 1);
    assert_int_equal(kout_size(&o), (int64_t)o.mem.len);
    assert_bytes(o.mem.data, o.mem.len, hex);
    kout_free(&o);
}

/* Decodes hex; returns the error code, *m the tree, *left the unread bytes. The input copy is
 * heap-exact so ASan sees any overread; it is kept alive in *keep (zero copy). */
static int decode_hex(karena *a, const kschema *s, int16_t v, bool flex, const char *hex, kmsg **m,
                      size_t *left)
{
    uint8_t tmp[4096];
    size_t n = unhex(hex, tmp);
    uint8_t *p = karena_alloc(a, n ? n : 1);
    memcpy(p, tmp, n);
    rbuf r = rbuf_make(p, n);
    int rc = kmsg_decode(a, s, v, flex, &r, m);
    if (left) *left = rbuf_left(&r);
    return rc;
}

static bool kstr_eq(kstr s, const char *want)
{
    if (!want) return s.len == -1;
    return s.len == (int32_t)strlen(want) && memcmp(s.p, want, (size_t)s.len) == 0;
}

/* ---- test schemas ---- */

/* Struct ids of the test schemas (beyond the generated KS_* range) and their field constants,
 * written the way api_gen.h writes them. */
enum { TS_Items = 1000, TS_T, TS_Nul, TS_Late, TS_Deep, TS_WideItem, TS_Wide, TS_Rec };
enum {
    Items_Name = KFIELD(TS_Items, 0),
    Items_Id = KFIELD(TS_Items, 1),
    Items_ItemTag = KFIELD(TS_Items, 2),
};
enum {
    T_I8 = KFIELD(TS_T, 0),
    T_I16 = KFIELD(TS_T, 1),
    T_I32 = KFIELD(TS_T, 2),
    T_I64 = KFIELD(TS_T, 3),
    T_Flag = KFIELD(TS_T, 4),
    T_Name = KFIELD(TS_T, 5),
    T_Data = KFIELD(TS_T, 6),
    T_Nums = KFIELD(TS_T, 7),
    T_Items = KFIELD(TS_T, 8),
    T_Id = KFIELD(TS_T, 9),
    T_Ratio = KFIELD(TS_T, 10),
    T_Port = KFIELD(TS_T, 11),
    T_Recs = KFIELD(TS_T, 12),
    T_Gone = KFIELD(TS_T, 13),
    T_GoneStr = KFIELD(TS_T, 14),
    T_TagB = KFIELD(TS_T, 15),
    T_TagA = KFIELD(TS_T, 16),
};
enum {
    Nul_S = KFIELD(TS_Nul, 0),
    Nul_A = KFIELD(TS_Nul, 1),
};
enum {
    Late_X = KFIELD(TS_Late, 0),
    Late_B = KFIELD(TS_Late, 1),
};
enum {
    Deep_Kids = KFIELD(TS_Deep, 0),
};
enum {
    WideItem_A = KFIELD(TS_WideItem, 0),
    WideItem_B = KFIELD(TS_WideItem, 1),
    WideItem_C = KFIELD(TS_WideItem, 2),
    WideItem_D = KFIELD(TS_WideItem, 3),
    WideItem_E = KFIELD(TS_WideItem, 4),
    WideItem_F = KFIELD(TS_WideItem, 5),
    WideItem_G = KFIELD(TS_WideItem, 6),
    WideItem_H = KFIELD(TS_WideItem, 7),
    WideItem_I = KFIELD(TS_WideItem, 8),
    WideItem_J = KFIELD(TS_WideItem, 9),
    WideItem_K = KFIELD(TS_WideItem, 10),
    WideItem_L = KFIELD(TS_WideItem, 11),
};
enum {
    Wide_Items = KFIELD(TS_Wide, 0),
    Wide_Pad = KFIELD(TS_Wide, 1),
};
enum {
    Rec_Before = KFIELD(TS_Rec, 0),
    Rec_Recs = KFIELD(TS_Rec, 1),
    Rec_After = KFIELD(TS_Rec, 2),
};


static const kfield item_f[] = {
    {"Name", KT_STRING, 0, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"Id", KT_INT32, 0, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"ItemTag", KT_INT32, 0, 2, KV_MAX, KV_NONE, KV_NONE, 0, 2, NULL, -1},
};
static const kschema item_s = {"T.Items", 3, item_f, TS_Items};

static const kfield t_f[] = {
    {"I8", KT_INT8, 0, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"I16", KT_INT16, 0, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"I32", KT_INT32, 0, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"I64", KT_INT64, 0, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"Flag", KT_BOOL, 0, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"Name", KT_STRING, 0, 0, KV_MAX, 0, KV_MAX, -1, 0, NULL, 0},
    {"Data", KT_BYTES, 0, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"Nums", KT_ARRAY, KT_INT32, 0, KV_MAX, 1, KV_MAX, -1, 0, NULL, 0},
    {"Items", KT_ARRAY, KT_STRUCT, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, &item_s, 0},
    {"Id", KT_UUID, 0, 1, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"Ratio", KT_FLOAT64, 0, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"Port", KT_UINT16, 0, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"Recs", KT_RECORDS, 0, 0, KV_MAX, 0, KV_MAX, -1, 0, NULL, 0},
    {"Gone", KT_INT32, 0, 5, 6, KV_NONE, KV_NONE, -1, 0, NULL, 7},
    {"GoneStr", KT_STRING, 0, 5, 6, 5, 6, -1, 0, NULL, 1},
    {"TagB", KT_STRING, 0, 2, KV_MAX, 2, KV_MAX, 5, 2, NULL, 1},
    {"TagA", KT_INT32, 0, 2, KV_MAX, KV_NONE, KV_NONE, 0, 2, NULL, -1},
};
static const kschema t_s = {"T", 17, t_f, TS_T};

static kmsg *make_t(karena *a, int16_t v)
{
    kmsg *m = kmsg_new(a, &t_s);
    k_set_int(m, T_I8, -2);
    k_set_int(m, T_I16, 0x0102);
    k_set_int(m, T_I32, 0x03040506);
    k_set_int(m, T_I64, -1);
    k_set_bool(m, T_Flag, true);
    k_set_str(m, T_Name, "ab");
    k_set_bytes(m, T_Data, "\xde\xad", 2);
    kval *nums = k_set_array(m, T_Nums, 1);
    nums[0].i = 7;
    kmsg *it = k_new_items(m, T_Items, 1);
    k_set_str(it, Items_Name, "x");
    k_set_int(it, Items_Id, 9);
    if (v >= 1) {
        uint8_t u[16];
        for (int i = 0; i < 16; i++) u[i] = (uint8_t)i;
        k_set_uuid(m, T_Id, u);
    }
    k_set_f64(m, T_Ratio, 1.5);
    k_set_int(m, T_Port, 65535);
    k_set_ref(m, T_Recs, "R", 1);
    return m;
}

#define T_V0                                                                                       \
    "fe 0102 03040506 ffffffffffffffff 01 0002 6162 00000002 dead 00000001 00000007 "              \
    "00000001 0001 78 00000009 3ff8000000000000 ffff 00000001 52"

static void test_classic_exact(void **state)
{
    (void)state;
    karena *a = karena_new();
    kmsg *m = make_t(a, 0);
    assert_encodes(m, 0, false, T_V0);
    kmsg *d;
    size_t left;
    assert_int_equal(decode_hex(a, &t_s, 0, false, T_V0, &d, &left), 0);
    assert_int_equal(left, 0);
    assert_true(kmsg_equal(m, d, 0, false));
    assert_int_equal(k_int(d, T_I8), -2);
    assert_int_equal(k_int(d, T_I64), -1);
    assert_true(k_bool(d, T_Flag));
    assert_true(kstr_eq(k_str(d, T_Name), "ab"));
    assert_int_equal(k_count(d, T_Nums), 1);
    assert_int_equal(k_item_int(d, T_Nums, 0), 7);
    assert_true(kstr_eq(k_str(k_item(d, T_Items, 0), Items_Name), "x"));
    assert_int_equal(k_int(k_item(d, T_Items, 0), Items_Id), 9);
    assert_true(k_f64(d, T_Ratio) == 1.5);
    assert_int_equal(k_int(d, T_Port), 65535);
    assert_true(kstr_eq(k_str(d, T_Recs), "R"));
    /* absent fields read as their defaults */
    assert_int_equal(k_int(d, T_Gone), 7);
    assert_int_equal(k_str(d, T_GoneStr).len, -1);
    assert_int_equal(k_int(d, T_TagA), -1);
    assert_int_equal(k_str(d, T_TagB).len, -1);
    /* zero copy: decoded strings point into the input */
    karena_free(a);
}

#define T_V2_HEAD                                                                                  \
    "fe 0102 03040506 ffffffffffffffff 01 03 6162 03 dead 02 00000007 02 02 78 00000009 00 "       \
    "000102030405060708090a0b0c0d0e0f 3ff8000000000000 ffff 02 52"

static void test_flexible_exact_and_tags(void **state)
{
    (void)state;
    karena *a = karena_new();
    kmsg *m = make_t(a, 2);
    /* all tagged fields at default: empty tag buffer */
    assert_encodes(m, 2, true, T_V2_HEAD " 00");
    /* tags emitted in ascending order although declared TagB(5) before TagA(0) */
    k_set_int(m, T_TagA, 42);
    k_set_str(m, T_TagB, "z");
    assert_encodes(m, 2, true, T_V2_HEAD " 02 00 04 0000002a 05 02 027a");
    kmsg *d;
    size_t left;
    assert_int_equal(
        decode_hex(a, &t_s, 2, true, T_V2_HEAD " 02 00 04 0000002a 05 02 027a", &d, &left), 0);
    assert_int_equal(left, 0);
    assert_true(kmsg_equal(m, d, 2, true));
    assert_int_equal(k_int(d, T_TagA), 42);
    assert_true(kstr_eq(k_str(d, T_TagB), "z"));

    /* unknown tags (1, 65536 which must not alias tag 0, 300) are skipped; known ones read,
     * out of order accepted */
    assert_int_equal(decode_hex(a, &t_s, 2, true,
                                T_V2_HEAD " 04 01 03 aabbcc 808004 01 ff 05 02 027a ac02 00", &d,
                                &left),
                     0);
    assert_int_equal(left, 0);
    assert_int_equal(k_int(d, T_TagA), -1);
    assert_true(kstr_eq(k_str(d, T_TagB), "z"));

    /* a tagged field set back to its default is not emitted; a nested tag is */
    k_set_int(m, T_TagA, -1);
    k_set_null(m, T_TagB);
    k_set_int(k_item(m, T_Items, 0), Items_ItemTag, 3);
    assert_encodes(m, 2, true,
                   "fe 0102 03040506 ffffffffffffffff 01 03 6162 03 dead 02 00000007 "
                   "02 02 78 00000009 01 00 04 00000003 "
                   "000102030405060708090a0b0c0d0e0f 3ff8000000000000 ffff 02 52 00");
    /* tag buffer truncated inside a value, and a value not fitting its declared size */
    assert_int_equal(decode_hex(a, &t_s, 2, true, T_V2_HEAD " 01 00 04 0000", &d, NULL),
                     RBUF_TRUNCATED);
    assert_true(decode_hex(a, &t_s, 2, true, T_V2_HEAD " 01 00 02 0000", &d, NULL) < 0);
    karena_free(a);
}

static const kfield nul_f[] = {
    {"S", KT_STRING, 0, 0, KV_MAX, 1, KV_MAX, -1, 0, NULL, 0},
    {"A", KT_ARRAY, KT_STRING, 0, KV_MAX, 1, KV_MAX, -1, 0, NULL, 0},
};
static const kschema nul_s = {"Nul", 2, nul_f, TS_Nul};

static void test_null_vs_empty(void **state)
{
    (void)state;
    karena *a = karena_new();
    kmsg *m = kmsg_new(a, &nul_s), *d;
    /* defaults (dflt 0): empty */
    assert_int_equal(k_str(m, Nul_S).len, 0);
    assert_int_equal(k_count(m, Nul_A), 0);
    assert_encodes(m, 1, false, "0000 00000000");
    assert_encodes(m, 2, true, "01 01 00");
    k_set_null(m, Nul_S);
    k_set_null(m, Nul_A);
    assert_encodes(m, 1, false, "ffff ffffffff");
    assert_encodes(m, 2, true, "00 00 00");
    /* not nullable at v0: encode writes empty, decode rejects */
    assert_encodes(m, 0, false, "0000 00000000");
    assert_int_equal(decode_hex(a, &nul_s, 0, false, "ffff 00000000", &d, NULL), RBUF_BADVALUE);
    assert_int_equal(decode_hex(a, &nul_s, 0, false, "0000 ffffffff", &d, NULL), RBUF_BADVALUE);
    assert_int_equal(decode_hex(a, &nul_s, 1, false, "ffff ffffffff", &d, NULL), 0);
    assert_int_equal(k_str(d, Nul_S).len, -1);
    assert_int_equal(k_count(d, Nul_A), -1);
    assert_int_equal(decode_hex(a, &nul_s, 2, true, "01 01 00", &d, NULL), 0);
    assert_int_equal(k_str(d, Nul_S).len, 0);
    assert_int_equal(k_count(d, Nul_A), 0);
    /* array elements are never null */
    assert_int_equal(decode_hex(a, &nul_s, 1, false, "0000 00000001 ffff", &d, NULL),
                     RBUF_BADVALUE);
    assert_int_equal(decode_hex(a, &nul_s, 2, true, "01 02 00 00", &d, NULL), RBUF_BADVALUE);
    /* negative lengths other than -1 */
    assert_int_equal(decode_hex(a, &nul_s, 1, false, "fffe 00000000", &d, NULL), RBUF_BADVALUE);
    assert_int_equal(decode_hex(a, &nul_s, 1, false, "0000 fffffffe", &d, NULL), RBUF_BADVALUE);
    /* string longer than the input */
    assert_int_equal(decode_hex(a, &nul_s, 1, false, "0005 6162", &d, NULL), RBUF_TRUNCATED);
    /* array count larger than the bytes left: rejected before allocating */
    assert_int_equal(decode_hex(a, &nul_s, 1, false, "0000 7fffffff 0000", &d, NULL),
                     RBUF_TRUNCATED);
    assert_int_equal(decode_hex(a, &nul_s, 2, true, "01 ffffffff07 00", &d, NULL), RBUF_TRUNCATED);
    /* over-long uvarint */
    assert_int_equal(decode_hex(a, &nul_s, 2, true, "ffffffffff01", &d, NULL), RBUF_BADVALUE);
    karena_free(a);
}

/* A field present before its tagged versions is a regular field there. */
static const kfield late_f[] = {
    {"X", KT_INT32, 0, 0, KV_MAX, KV_NONE, KV_NONE, 3, 2, NULL, 0},
    {"B", KT_BOOL, 0, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
};
static const kschema late_s = {"Late", 2, late_f, TS_Late};

static void test_tagged_from_version(void **state)
{
    (void)state;
    karena *a = karena_new();
    kmsg *m = kmsg_new(a, &late_s), *d;
    k_set_int(m, Late_X, 5);
    k_set_bool(m, Late_B, true);
    assert_encodes(m, 1, false, "00000005 01");
    assert_encodes(m, 1, true, "00000005 01 00");
    assert_encodes(m, 2, true, "01 01 03 04 00000005");
    /* BOOL: any nonzero byte is true */
    assert_int_equal(decode_hex(a, &late_s, 2, true, "7f 00", &d, NULL), 0);
    assert_true(k_bool(d, Late_B));
    assert_int_equal(k_int(d, Late_X), 0);
    karena_free(a);
}

/* A self-referential schema: nesting depth must be capped, never a stack overflow. */
static const kschema deep_s;
static const kfield deep_f[] = {
    {"Kids", KT_ARRAY, KT_STRUCT, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, &deep_s, 0},
};
static const kschema deep_s = {"Deep", 1, deep_f, TS_Deep};

static void test_depth_cap(void **state)
{
    (void)state;
    size_t n = 4 * 5000;
    uint8_t *buf = malloc(n);
    for (size_t i = 0; i < n; i += 4) memcpy(buf + i, "\x00\x00\x00\x01", 4);
    karena *a = karena_new();
    rbuf r = rbuf_make(buf, n);
    kmsg *m;
    assert_true(kmsg_decode(a, &deep_s, 0, false, &r, &m) < 0);
    /* shallow nesting is fine */
    r = rbuf_make("\x00\x00\x00\x01\x00\x00\x00\x00", 8);
    assert_int_equal(kmsg_decode(a, &deep_s, 0, false, &r, &m), 0);
    assert_int_equal(k_count(k_item(m, Deep_Kids, 0), Deep_Kids), 0);
    karena_free(a);
    free(buf);
}

/* Elements that take no bytes at this version (all fields absent) cost arena memory only: the
 * decode must stop at its amplification cap instead of allocating without bound. */
static const kfield wide_item_f[] = {
    {"A", KT_INT64, 0, 9, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"B", KT_INT64, 0, 9, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"C", KT_INT64, 0, 9, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"D", KT_INT64, 0, 9, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"E", KT_INT64, 0, 9, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"F", KT_INT64, 0, 9, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"G", KT_INT64, 0, 9, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"H", KT_INT64, 0, 9, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"I", KT_INT64, 0, 9, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"J", KT_INT64, 0, 9, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"K", KT_INT64, 0, 9, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"L", KT_INT64, 0, 9, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
};
static const kschema wide_item_s = {"Wide.Items", 12, wide_item_f, TS_WideItem};
static const kfield wide_f[] = {
    {"Items", KT_ARRAY, KT_STRUCT, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, &wide_item_s, 0},
    {"Pad", KT_BYTES, 0, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
};
static const kschema wide_s = {"Wide", 2, wide_f, TS_Wide};

static void test_amplification_cap(void **state)
{
    (void)state;
    /* count N, then a BYTES field padding the input so that N <= bytes left */
    int32_t n = 400000;
    size_t len = 4 + 4 + (size_t)n;
    uint8_t *buf = calloc(1, len);
    put_be32(buf, (uint32_t)n);
    put_be32(buf + 4, (uint32_t)n);
    karena *a = karena_new();
    rbuf r = rbuf_make(buf, len);
    kmsg *m;
    assert_int_equal(kmsg_decode(a, &wide_s, 0, false, &r, &m), RBUF_BADVALUE);
    /* a modest count of the same shape decodes */
    len = 4 + 4 + 1000;
    put_be32(buf, 1000);
    put_be32(buf + 4, 1000);
    r = rbuf_make(buf, len);
    assert_int_equal(kmsg_decode(a, &wide_s, 0, false, &r, &m), 0);
    assert_int_equal(k_count(m, Wide_Items), 1000);
    assert_int_equal(rbuf_left(&r), 0);
    karena_free(a);
    free(buf);
}

static const kfield rec_f[] = {
    {"Before", KT_INT16, 0, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
    {"Recs", KT_RECORDS, 0, 0, KV_MAX, 0, KV_MAX, -1, 0, NULL, 0},
    {"After", KT_INT16, 0, 0, KV_MAX, KV_NONE, KV_NONE, -1, 0, NULL, 0},
};
static const kschema rec_s = {"Rec", 3, rec_f, TS_Rec};

static void test_kout_file_frags(void **state)
{
    (void)state;
    karena *a = karena_new();
    kmsg *m = kmsg_new(a, &rec_s);
    k_set_int(m, Rec_Before, 1);
    k_set_int(m, Rec_After, 2);
    kfile_frag f2 = {8, 4096, 50, NULL}, f1 = {7, 100, 30, &f2};
    k_set_frags(m, Rec_Recs, &f1);
    assert_int_equal(k_str(m, Rec_Recs).len, 80);
    for (int flex = 0; flex <= 1; flex++) {
        kout o;
        kout_init(&o, 0);
        wbuf_i32(&o.mem, 0); /* a size prefix written by the caller */
        kmsg_encode(m, 0, flex, &o);
        kout_finish(&o);
        assert_int_equal(o.nsegs, 4);
        size_t pre = flex ? 4 + 2 + 1 : 4 + 2 + 4;
        assert_int_equal(o.segs[0].fd, -1);
        assert_int_equal(o.segs[0].off, 0);
        assert_int_equal(o.segs[0].len, (int64_t)pre);
        assert_int_equal(o.segs[1].fd, 7);
        assert_int_equal(o.segs[1].off, 100);
        assert_int_equal(o.segs[1].len, 30);
        assert_int_equal(o.segs[2].fd, 8);
        assert_int_equal(o.segs[2].len, 50);
        assert_int_equal(o.segs[3].fd, -1);
        assert_int_equal(o.segs[3].off, (int64_t)pre);
        assert_int_equal(o.segs[3].len, flex ? 3 : 2);
        assert_int_equal(kout_size(&o), (int64_t)pre + 80 + (flex ? 3 : 2));
        if (flex)
            assert_bytes(o.mem.data, o.mem.len, "00000000 0001 51 0002 00");
        else
            assert_bytes(o.mem.data, o.mem.len, "00000000 0001 00000050 0002");
        kout_free(&o);
    }
    /* equality compares the ranges, never the (absent) bytes */
    kmsg *m2 = kmsg_new(a, &rec_s);
    k_set_int(m2, Rec_Before, 1);
    k_set_int(m2, Rec_After, 2);
    kfile_frag g2 = {8, 4096, 50, NULL}, g1 = {7, 100, 30, &g2};
    k_set_frags(m2, Rec_Recs, &g1);
    assert_true(kmsg_equal(m, m2, 0, false));
    g2.off = 4097;
    assert_false(kmsg_equal(m, m2, 0, false));
    /* null records */
    k_set_null(m, Rec_Recs);
    assert_encodes(m, 0, false, "0001 ffffffff 0002");
    assert_encodes(m, 0, true, "0001 00 0002 00");
    karena_free(a);
}

static void test_equal(void **state)
{
    (void)state;
    karena *a = karena_new();
    kmsg *x = make_t(a, 1), *y = make_t(a, 1);
    assert_true(kmsg_equal(x, y, 1, false));
    k_set_int(k_item(y, T_Items, 0), Items_Id, 10);
    assert_false(kmsg_equal(x, y, 1, false));
    y = make_t(a, 1);
    k_set_int(y, T_Gone, 99); /* absent at v1: ignored */
    assert_true(kmsg_equal(x, y, 1, false));
    k_set_null(y, T_Name);
    assert_false(kmsg_equal(x, y, 1, false));
    y = make_t(a, 1);
    k_set_str(y, T_Name, "");
    assert_false(kmsg_equal(x, y, 1, false));
    karena_free(a);
}

/* A misspelt field does not compile (tests/proto/codec_field_check.c, a build-fails test);
 * a constant of another struct is a programming error caught at the first access. */
static void test_foreign_field_aborts(void **state)
{
    (void)state;
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        karena *a = karena_new();
        kmsg *m = kmsg_new(a, &t_s);
        (void)k_int(m, Late_X);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
}

/* ---- headers and the real ApiVersions schemas ---- */

static void test_kcat_apiversions_frame(void **state)
{
    (void)state;
    const kapi *api = kapi_get(API_ApiVersions);
    assert_non_null(api);
    static const char *frame = "00000024 0012 0003 00000001 0007 72646b61666b61 00"
                               " 0b 6c696272646b61666b61 06 322e302e32 00";
    uint8_t buf[64];
    size_t n = unhex(frame, buf);
    uint8_t *in = malloc(n);
    memcpy(in, buf, n);
    rbuf r = rbuf_make(in, n);
    assert_int_equal(rbuf_i32(&r), 36);
    assert_int_equal(rbuf_left(&r), 36);
    kreq_header h;
    assert_int_equal(kreq_header_decode(&r, &h), 0);
    assert_int_equal(h.api_key, 18);
    assert_int_equal(h.api_version, 3);
    assert_int_equal(h.correlation_id, 1);
    assert_true(kstr_eq(h.client_id, "rdkafka"));
    assert_true(h.flexible);
    karena *a = karena_new();
    kmsg *m;
    assert_int_equal(kmsg_decode(a, api->request, 3, kapi_flexible(api, 3), &r, &m), 0);
    assert_int_equal(rbuf_left(&r), 0);
    assert_true(kstr_eq(k_str(m, ApiVersionsRequest_ClientSoftwareName), "librdkafka"));
    assert_true(kstr_eq(k_str(m, ApiVersionsRequest_ClientSoftwareVersion), "2.0.2"));
    /* zero copy */
    assert_ptr_equal(k_str(m, ApiVersionsRequest_ClientSoftwareName).p, in + 4 + 18 + 1);
    /* and back, byte for byte */
    kout o;
    kout_init(&o, 0);
    wbuf_i32(&o.mem, 36);
    kreq_header_encode(&o.mem, &h);
    kmsg_encode(m, 3, true, &o);
    kout_finish(&o);
    assert_bytes(o.mem.data, o.mem.len, frame);
    kout_free(&o);
    karena_free(a);
    free(in);
}

static void test_apiversions_unsupported_example(void **state)
{
    (void)state;
    const kapi *api = kapi_get(API_ApiVersions);
    assert_non_null(api);
    karena *a = karena_new();
    kmsg *m = kmsg_new(a, api->response);
    k_set_int(m, ApiVersionsResponse_ErrorCode, 35);
    kmsg *k = k_new_items(m, ApiVersionsResponse_ApiKeys, 1);
    k_set_int(k, ApiVersion_ApiKey, 18);
    k_set_int(k, ApiVersion_MinVersion, 0);
    k_set_int(k, ApiVersion_MaxVersion, 3);
    k_set_int(m, ApiVersionsResponse_ThrottleTimeMs, 500); /* not in v0 */
    kout o;
    kout_init(&o, 0);
    wbuf_i32(&o.mem, 0);
    kresp_header_encode(&o.mem, 18, 0, 1);
    kmsg_encode(m, 0, kapi_flexible(api, 0), &o);
    kout_finish(&o);
    wbuf_patch_i32(&o.mem, 0, (int32_t)(kout_size(&o) - 4));
    assert_bytes(o.mem.data, o.mem.len, "00000010 00000001 0023 00000001 0012 0000 0003");
    kout_free(&o);
    /* the v3 response: header still v0, compact array, per-entry and top-level tags */
    kout_init(&o, 0);
    kresp_header_encode(&o.mem, 18, 3, 7);
    k_set_int(m, ApiVersionsResponse_ErrorCode, 0);
    k_set_int(m, ApiVersionsResponse_ThrottleTimeMs, 0);
    kmsg_encode(m, 3, kapi_flexible(api, 3), &o);
    assert_bytes(o.mem.data, o.mem.len, "00000007 0000 02 0012 0000 0003 00 00000000 00");
    kout_free(&o);
    karena_free(a);
}

static void test_headers(void **state)
{
    (void)state;
    wbuf w;
    /* response header: v1 (tag byte) for flexible versions of other APIs, v0 otherwise */
    const kapi *md = kapi_get(API_Metadata);
    if (md && md->flex_min != KV_NONE) {
        wbuf_init(&w, 0);
        kresp_header_encode(&w, 3, md->flex_min, 5);
        assert_bytes(w.data, w.len, "00000005 00");
        wbuf_free(&w);
        if (md->flex_min > 0) {
            wbuf_init(&w, 0);
            kresp_header_encode(&w, 3, (int16_t)(md->flex_min - 1), 5);
            assert_bytes(w.data, w.len, "00000005");
            wbuf_free(&w);
        }
    }
    wbuf_init(&w, 0);
    kresp_header_encode(&w, 18, 4, 5);
    assert_bytes(w.data, w.len, "00000005");
    wbuf_free(&w);

    /* request header v1: null client id; unknown API key decodes as v1 */
    uint8_t b[64];
    size_t n = unhex("7000 0005 0000002a ffff", b);
    rbuf r = rbuf_make(b, n);
    kreq_header h;
    assert_int_equal(kreq_header_decode(&r, &h), 0);
    assert_int_equal(h.api_key, 0x7000);
    assert_int_equal(h.client_id.len, -1);
    assert_false(h.flexible);
    assert_int_equal(rbuf_left(&r), 0);
    wbuf_init(&w, 0);
    kreq_header_encode(&w, &h);
    assert_bytes(w.data, w.len, "7000 0005 0000002a ffff");
    wbuf_free(&w);
    /* header v2 with unknown header tags skipped */
    if (md && md->flex_min != KV_NONE) {
        char hex[128];
        snprintf(hex, sizeof hex, "0003 %04x 00000001 0001 63 02 00 01 aa 05 00 ee",
                 (unsigned)md->flex_min);
        n = unhex(hex, b);
        r = rbuf_make(b, n);
        assert_int_equal(kreq_header_decode(&r, &h), 0);
        assert_true(h.flexible);
        assert_true(kstr_eq(h.client_id, "c"));
        assert_int_equal(rbuf_left(&r), 1);
        /* every truncation fails */
        for (size_t k = 0; k + 1 < n; k++) {
            uint8_t *p = malloc(k ? k : 1);
            memcpy(p, b, k);
            r = rbuf_make(p, k);
            assert_true(kreq_header_decode(&r, &h) < 0);
            free(p);
        }
    }
    /* bad client id length */
    n = unhex("0003 0001 00000001 fffe", b);
    r = rbuf_make(b, n);
    assert_int_equal(kreq_header_decode(&r, &h), RBUF_BADVALUE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classic_exact),
        cmocka_unit_test(test_flexible_exact_and_tags),
        cmocka_unit_test(test_null_vs_empty),
        cmocka_unit_test(test_tagged_from_version),
        cmocka_unit_test(test_depth_cap),
        cmocka_unit_test(test_amplification_cap),
        cmocka_unit_test(test_kout_file_frags),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_foreign_field_aborts),
        cmocka_unit_test(test_kcat_apiversions_frame),
        cmocka_unit_test(test_apiversions_unsupported_example),
        cmocka_unit_test(test_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
