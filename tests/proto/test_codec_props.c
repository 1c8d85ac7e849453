/* Generic property test of the codec engine over every API table (kapi_get(0..KAPI_MAX_KEY)),
 * every version, request and response: random trees valid for the version round-trip exactly
 * (decode consumes every byte, the trees are equal, re-encoding gives the same bytes), every
 * strict prefix fails to decode, and random byte flips never crash (run it under ASan/UBSan).
 * Set CODEC_PROPS_SEED / CODEC_PROPS_ITERS to reproduce or to run longer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/kmsg.h"

static uint64_t g_rng;

static uint64_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint32_t rndn(uint32_t n)
{
    return (uint32_t)(rnd() % n);
}

static bool present(const kfield *f, int16_t v)
{
    return f->vmin != KV_NONE && v >= f->vmin && v <= f->vmax;
}
static bool tagged_at(const kfield *f, int16_t v)
{
    return f->tag >= 0 && v >= f->tag_min;
}
static bool on_wire(const kfield *f, int16_t v, bool flex)
{
    return present(f, v) && (!tagged_at(f, v) || flex);
}
static bool nullable(const kfield *f, int16_t v)
{
    return f->type == KT_RECORDS ||
           (f->null_min != KV_NONE && v >= f->null_min && v <= f->null_max);
}

static void fill(kmsg *m, int16_t v, bool flex, int depth);

/* A random scalar of `type`; strings/bytes non-null unless `can_null`. */
static void rand_scalar(karena *a, uint8_t type, const kschema *sub, bool can_null, kval *out,
                        int16_t v, bool flex, int depth)
{
    switch (type) {
    case KT_BOOL: out->i = rndn(2); break;
    case KT_INT8: out->i = (int8_t)rnd(); break;
    case KT_INT16: out->i = (int16_t)rnd(); break;
    case KT_UINT16: out->i = (uint16_t)rnd(); break;
    case KT_INT32: out->i = (int32_t)rnd(); break;
    case KT_UINT32: out->i = (uint32_t)rnd(); break;
    case KT_INT64: out->i = (int64_t)rnd(); break;
    case KT_FLOAT64: out->f = (double)(int32_t)rnd() / 8.0; break;
    case KT_UUID:
        for (int i = 0; i < 16; i++) out->uuid[i] = (uint8_t)rnd();
        break;
    case KT_STRING:
    case KT_BYTES:
    case KT_RECORDS:
        if (can_null && rndn(4) == 0) {
            out->s = (kstr){NULL, -1};
        } else {
            int32_t n = (int32_t)rndn(type == KT_RECORDS ? 40 : 9);
            uint8_t *p = karena_alloc(a, (size_t)n + 1);
            for (int32_t i = 0; i < n; i++)
                p[i] = (uint8_t)(type == KT_STRING ? 'a' + rndn(26) : rnd());
            out->s = (kstr){p, n};
        }
        break;
    case KT_STRUCT:
        out->m = kmsg_new(a, sub);
        fill(out->m, v, flex, depth + 1);
        break;
    default: fail_msg("unknown type %d", type);
    }
}

static void fill(kmsg *m, int16_t v, bool flex, int depth)
{
    const kschema *s = m->schema;
    for (int i = 0; i < s->nfields; i++) {
        const kfield *f = &s->fields[i];
        if (!on_wire(f, v, flex)) continue;
        if (tagged_at(f, v) && rndn(3) == 0) continue; /* leave some tagged fields at default */
        kval *val = &m->v[i];
        if (f->type == KT_ARRAY) {
            if (nullable(f, v) && rndn(5) == 0) {
                val->a.v = NULL;
                val->a.n = -1;
                continue;
            }
            int32_t n = depth > 6 ? 0 : (int32_t)rndn(4);
            val->a.n = n;
            val->a.v = n ? karena_alloc(m->arena, (size_t)n * sizeof(kval)) : NULL;
            for (int32_t k = 0; k < n; k++)
                rand_scalar(m->arena, f->elem, f->sub, false, &val->a.v[k], v, flex, depth);
        } else {
            rand_scalar(m->arena, f->type, f->sub, nullable(f, v), val, v, flex, depth);
        }
    }
}

static uint8_t *encode(const kmsg *m, int16_t v, bool flex, size_t *n)
{
    kout o;
    kout_init(&o, 0);
    kmsg_encode(m, v, flex, &o);
    kout_finish(&o);
    for (int i = 0; i < o.nsegs; i++) assert_int_equal(o.segs[i].fd, -1);
    assert_int_equal(kout_size(&o), (int64_t)o.mem.len);
    *n = o.mem.len;
    uint8_t *p = malloc(o.mem.len ? o.mem.len : 1);
    if (o.mem.len) memcpy(p, o.mem.data, o.mem.len);
    kout_free(&o);
    return p;
}

static long g_cases, g_schemas, g_bytes;

static void check_schema(const kapi *api, const kschema *s, int16_t v, int iters)
{
    bool flex = kapi_flexible(api, v);
    g_schemas++;
    for (int it = 0; it < iters; it++) {
        uint64_t seed = g_rng;
        karena *a = karena_new();
        kmsg *m = kmsg_new(a, s);
        fill(m, v, flex, 0);
        size_t n;
        uint8_t *enc = encode(m, v, flex, &n);
        g_bytes += (long)n;

        /* exact round trip */
        rbuf r = rbuf_make(enc, n);
        kmsg *d;
        int rc = kmsg_decode(a, s, v, flex, &r, &d);
        if (rc != 0 || rbuf_left(&r) != 0 || !kmsg_equal(m, d, v, flex))
            fail_msg("%s v%d (%s) iter %d seed %llu: rc %d left %zu equal %d", s->name, v,
                     flex ? "flex" : "classic", it, (unsigned long long)seed, rc, rbuf_left(&r),
                     kmsg_equal(m, d, v, flex));
        size_t n2;
        uint8_t *enc2 = encode(d, v, flex, &n2);
        assert_int_equal(n2, n);
        assert_memory_equal(enc2, enc, n);
        free(enc2);

        /* every strict prefix fails (heap-exact copies so ASan sees any overread) */
        for (size_t k = 0; k < n; k++) {
            uint8_t *p = malloc(k ? k : 1);
            memcpy(p, enc, k);
            rbuf pr = rbuf_make(p, k);
            kmsg *x;
            if (kmsg_decode(a, s, v, flex, &pr, &x) == 0)
                fail_msg("%s v%d: prefix %zu of %zu decoded", s->name, v, k, n);
            free(p);
        }

        /* random corruption never crashes; whatever decodes re-encodes to the same tree */
        for (int f = 0; f < 24 && n > 0; f++) {
            uint8_t *p = malloc(n);
            memcpy(p, enc, n);
            int flips = 1 + (int)rndn(3);
            for (int j = 0; j < flips; j++) {
                size_t at = rndn((uint32_t)n);
                p[at] = rndn(2) ? (uint8_t)rnd() : (uint8_t)(p[at] ^ (1u << rndn(8)));
            }
            karena *fa = karena_new();
            rbuf fr = rbuf_make(p, n);
            kmsg *x;
            if (kmsg_decode(fa, s, v, flex, &fr, &x) == 0) {
                size_t n3;
                uint8_t *e3 = encode(x, v, flex, &n3);
                rbuf rr = rbuf_make(e3, n3);
                kmsg *y;
                assert_int_equal(kmsg_decode(fa, s, v, flex, &rr, &y), 0);
                assert_int_equal(rbuf_left(&rr), 0);
                assert_true(kmsg_equal(x, y, v, flex));
                free(e3);
            }
            karena_free(fa);
            free(p);
        }
        g_cases++;
        free(enc);
        karena_free(a);
    }
}

static void test_all_apis(void **state)
{
    (void)state;
    const char *e = getenv("CODEC_PROPS_SEED");
    g_rng = e ? strtoull(e, NULL, 0) : 0x5eed2026ull;
    e = getenv("CODEC_PROPS_ITERS");
    int iters = e ? atoi(e) : 12;
    int napis = 0;
    for (int key = 0; key <= KAPI_MAX_KEY; key++) {
        const kapi *api = kapi_get((int16_t)key);
        if (!api) continue;
        assert_int_equal(api->key, key);
        assert_true(api->min_version <= api->max_version);
        napis++;
        for (int v = api->min_version; v <= api->max_version; v++) {
            check_schema(api, api->request, (int16_t)v, iters);
            check_schema(api, api->response, (int16_t)v, iters);
        }
    }
    fprintf(stderr, "codec props: %d APIs, %ld schema-versions, %ld round trips, %ld bytes\n",
            napis, g_schemas, g_cases, g_bytes);
}

/* Decoding arbitrary garbage for every schema and version never crashes. */
static void test_garbage(void **state)
{
    (void)state;
    g_rng = 0xbadc0deull;
    for (int key = 0; key <= KAPI_MAX_KEY; key++) {
        const kapi *api = kapi_get((int16_t)key);
        if (!api) continue;
        for (int v = api->min_version; v <= api->max_version; v++) {
            for (int i = 0; i < 40; i++) {
                size_t n = rndn(64);
                uint8_t *p = malloc(n ? n : 1);
                for (size_t k = 0; k < n; k++)
                    p[k] = rndn(3) == 0 ? 0 : rndn(3) == 0 ? 1 : (uint8_t)rnd();
                karena *a = karena_new();
                rbuf r = rbuf_make(p, n);
                kmsg *m;
                const kschema *s = i & 1 ? api->response : api->request;
                (void)kmsg_decode(a, s, (int16_t)v, kapi_flexible(api, (int16_t)v), &r, &m);
                karena_free(a);
                free(p);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_apis),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
