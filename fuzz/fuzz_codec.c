/* fuzz_codec — libFuzzer target for the codec engine (proto/kmsg.c) over every API table.
 *
 * Input layout (what fuzz_codec_seeds writes):
 *   byte 0  API selector (index into the APIs kapi_get knows, modulo their number)
 *   byte 1  version selector (min_version + byte % number of versions)
 *   byte 2  bit 0: response schema (else request); bit 1: also decode the bytes as a request
 *           header
 *   rest    the body
 * Oracle: decoding never crashes or reads out of bounds (ASan/UBSan); whatever decodes
 * re-encodes to bytes that decode to an equal tree, consume every byte, and re-encode
 * identically. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/kmsg.h"

static const kapi *g_apis[KAPI_MAX_KEY + 1];
static int g_napis = -1;

static void init_apis(void)
{
    g_napis = 0;
    for (int k = 0; k <= KAPI_MAX_KEY; k++) {
        const kapi *a = kapi_get((int16_t)k);
        if (a) g_apis[g_napis++] = a;
    }
}

static uint8_t *encode(const kmsg *m, int16_t v, bool flex, size_t *n)
{
    kout o;
    kout_init(&o, 0);
    kmsg_encode(m, v, flex, &o);
    kout_finish(&o);
    *n = o.mem.len;
    uint8_t *p = malloc(o.mem.len ? o.mem.len : 1);
    if (o.mem.len) memcpy(p, o.mem.data, o.mem.len);
    kout_free(&o);
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_napis < 0) init_apis();
    if (size < 3 || g_napis == 0) return 0;
    const kapi *api = g_apis[data[0] % g_napis];
    int16_t v = (int16_t)(api->min_version + data[1] % (api->max_version - api->min_version + 1));
    const kschema *s = (data[2] & 1) ? api->response : api->request;
    bool flex = kapi_flexible(api, v);
    const uint8_t *body = data + 3;
    size_t n = size - 3;

    if (data[2] & 2) {
        rbuf hr = rbuf_make(body, n);
        kreq_header h;
        if (kreq_header_decode(&hr, &h) == 0 && h.client_id.len > 0 &&
            (h.client_id.p < body || h.client_id.p + h.client_id.len > body + n))
            abort();
    }

    karena *a = karena_new();
    rbuf r = rbuf_make(body, n);
    kmsg *m;
    if (kmsg_decode(a, s, v, flex, &r, &m) == 0) {
        size_t n1, n2;
        uint8_t *e1 = encode(m, v, flex, &n1);
        rbuf r1 = rbuf_make(e1, n1);
        kmsg *m1;
        if (kmsg_decode(a, s, v, flex, &r1, &m1) != 0 || rbuf_left(&r1) != 0 ||
            !kmsg_equal(m, m1, v, flex)) {
            fprintf(stderr, "re-encoded %s v%d does not round trip\n", s->name, v);
            abort();
        }
        uint8_t *e2 = encode(m1, v, flex, &n2);
        if (n1 != n2 || memcmp(e1, e2, n1) != 0) {
            fprintf(stderr, "re-encoding %s v%d is not stable\n", s->name, v);
            abort();
        }
        free(e1);
        free(e2);
    }
    karena_free(a);
    return 0;
}
