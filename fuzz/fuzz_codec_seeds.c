/* fuzz_codec_seeds — writes the seed corpus for fuzz_codec: for every API, version and
 * direction, a few valid encodings of random trees (fixed seed), in fuzz_codec's input layout.
 * usage: fuzz_codec_seeds OUT_DIR [PER_SCHEMA] */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/kmsg.h"

static uint64_t g_rng = 0xc0dec5eedull;

static uint64_t rnd(void)
{
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint32_t rndn(uint32_t n)
{
    return (uint32_t)(rnd() % n);
}

static bool on_wire(const kfield *f, int16_t v, bool flex)
{
    if (f->vmin == KV_NONE || v < f->vmin || v > f->vmax) return false;
    return !(f->tag >= 0 && v >= f->tag_min) || flex;
}
static bool nullable(const kfield *f, int16_t v)
{
    return f->type == KT_RECORDS ||
           (f->null_min != KV_NONE && v >= f->null_min && v <= f->null_max);
}

static void fill(kmsg *m, int16_t v, bool flex, int depth);

static void rand_val(karena *a, uint8_t type, const kschema *sub, bool can_null, kval *out,
                     int16_t v, bool flex, int depth)
{
    switch (type) {
    case KT_BOOL: out->i = rndn(2); break;
    case KT_INT8: out->i = (int8_t)rnd(); break;
    case KT_INT16: out->i = (int16_t)rndn(8); break;
    case KT_UINT16: out->i = (uint16_t)rnd(); break;
    case KT_INT32: out->i = rndn(2) ? (int32_t)rndn(100) : (int32_t)rnd(); break;
    case KT_UINT32: out->i = (uint32_t)rnd(); break;
    case KT_INT64: out->i = rndn(2) ? (int64_t)rndn(1000) : (int64_t)rnd(); break;
    case KT_FLOAT64: out->f = (double)rndn(1000) / 4.0; break;
    case KT_UUID:
        for (int i = 0; i < 16; i++) out->uuid[i] = (uint8_t)rnd();
        break;
    case KT_STRING:
    case KT_BYTES:
    case KT_RECORDS:
        if (can_null && rndn(4) == 0) {
            out->s = (kstr){NULL, -1};
        } else {
            int32_t n = (int32_t)rndn(type == KT_RECORDS ? 64 : 8);
            uint8_t *p = karena_alloc(a, (size_t)n + 1);
            for (int32_t i = 0; i < n; i++) p[i] = (uint8_t)('a' + rndn(26));
            out->s = (kstr){p, n};
        }
        break;
    case KT_STRUCT:
        out->m = kmsg_new(a, sub);
        fill(out->m, v, flex, depth + 1);
        break;
    default: break;
    }
}

static void fill(kmsg *m, int16_t v, bool flex, int depth)
{
    for (int i = 0; i < m->schema->nfields; i++) {
        const kfield *f = &m->schema->fields[i];
        if (!on_wire(f, v, flex)) continue;
        kval *val = &m->v[i];
        if (f->type != KT_ARRAY) {
            rand_val(m->arena, f->type, f->sub, nullable(f, v), val, v, flex, depth);
            continue;
        }
        int32_t n = depth > 4 ? 0 : (int32_t)rndn(3);
        val->a.n = n;
        val->a.v = n ? karena_alloc(m->arena, (size_t)n * sizeof(kval)) : NULL;
        for (int32_t k = 0; k < n; k++)
            rand_val(m->arena, f->elem, f->sub, false, &val->a.v[k], v, flex, depth);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUT_DIR [PER_SCHEMA]\n", argv[0]);
        return 2;
    }
    int per = argc > 2 ? atoi(argv[2]) : 2;
    if (mkdir(argv[1], 0755) < 0 && errno != EEXIST) {
        perror(argv[1]);
        return 1;
    }
    int idx = 0, files = 0;
    for (int key = 0; key <= KAPI_MAX_KEY; key++) {
        const kapi *api = kapi_get((int16_t)key);
        if (!api) continue;
        for (int v = api->min_version; v <= api->max_version; v++) {
            bool flex = kapi_flexible(api, (int16_t)v);
            for (int dir = 0; dir < 2; dir++) {
                for (int k = 0; k < per; k++) {
                    karena *a = karena_new();
                    kmsg *m = kmsg_new(a, dir ? api->response : api->request);
                    fill(m, (int16_t)v, flex, 0);
                    kout o;
                    kout_init(&o, 0);
                    uint8_t hdr[3] = {(uint8_t)idx, (uint8_t)(v - api->min_version), (uint8_t)dir};
                    wbuf_put(&o.mem, hdr, 3);
                    kmsg_encode(m, (int16_t)v, flex, &o);
                    kout_finish(&o);
                    char path[4096];
                    snprintf(path, sizeof path, "%s/%s-v%d-%s-%d", argv[1], api->name, v,
                             dir ? "resp" : "req", k);
                    FILE *f = fopen(path, "wb");
                    if (!f || fwrite(o.mem.data, 1, o.mem.len, f) != o.mem.len) {
                        perror(path);
                        return 1;
                    }
                    fclose(f);
                    files++;
                    kout_free(&o);
                    karena_free(a);
                }
            }
        }
        idx++;
    }
    /* a request header seed: Metadata v1 header (flag bit 1) */
    char path[4096];
    snprintf(path, sizeof path, "%s/header-v1", argv[1]);
    FILE *f = fopen(path, "wb");
    static const uint8_t h[] = {0, 0, 2, 0, 3, 0, 1, 0, 0, 0, 7, 0, 1, 'c'};
    if (f) {
        fwrite(h, 1, sizeof h, f);
        fclose(f);
        files++;
    }
    printf("%d seeds in %s\n", files, argv[1]);
    return 0;
}
