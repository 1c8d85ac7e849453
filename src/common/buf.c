/* buf — bounded reader and capped writer (see buf.h for the contracts). */
#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

const uint8_t *rbuf_take(rbuf *r, size_t n)
{
    if (r->err || (size_t)(r->end - r->p) < n) {
        rbuf_fail(r, RBUF_TRUNCATED);
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

void rbuf_skip(rbuf *r, size_t n)
{
    (void)rbuf_take(r, n);
}

int8_t rbuf_i8(rbuf *r)
{
    const uint8_t *p = rbuf_take(r, 1);
    return p ? (int8_t)p[0] : 0;
}
int16_t rbuf_i16(rbuf *r)
{
    const uint8_t *p = rbuf_take(r, 2);
    return p ? (int16_t)be16(p) : 0;
}
int32_t rbuf_i32(rbuf *r)
{
    const uint8_t *p = rbuf_take(r, 4);
    return p ? (int32_t)be32(p) : 0;
}
uint32_t rbuf_u32(rbuf *r)
{
    const uint8_t *p = rbuf_take(r, 4);
    return p ? be32(p) : 0;
}
int64_t rbuf_i64(rbuf *r)
{
    const uint8_t *p = rbuf_take(r, 8);
    return p ? (int64_t)be64(p) : 0;
}
double rbuf_f64(rbuf *r)
{
    uint64_t u = (uint64_t)rbuf_i64(r);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static uint64_t read_leb(rbuf *r, int maxbytes)
{
    uint64_t v = 0;
    for (int i = 0; i < maxbytes; i++) {
        const uint8_t *p = rbuf_take(r, 1);
        if (!p) return 0;
        v |= (uint64_t)(p[0] & 0x7f) << (7 * i);
        if (!(p[0] & 0x80)) return v;
    }
    rbuf_fail(r, RBUF_BADVALUE);
    return 0;
}

uint32_t rbuf_uvarint(rbuf *r)
{
    uint64_t v = read_leb(r, 5);
    if (v > UINT32_MAX) {
        rbuf_fail(r, RBUF_BADVALUE);
        return 0;
    }
    return (uint32_t)v;
}
int32_t rbuf_varint(rbuf *r)
{
    uint64_t v = read_leb(r, 5);
    if (v > UINT32_MAX) {
        rbuf_fail(r, RBUF_BADVALUE);
        return 0;
    }
    uint32_t u = (uint32_t)v;
    return (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}
int64_t rbuf_varlong(rbuf *r)
{
    uint64_t u = read_leb(r, 10);
    return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

void wbuf_init(wbuf *w, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->cap = cap;
}
void wbuf_free(wbuf *w)
{
    free(w->data);
    memset(w, 0, sizeof *w);
}
void wbuf_reset(wbuf *w)
{
    w->len = 0;
    w->err = 0;
}

uint8_t *wbuf_reserve(wbuf *w, size_t n)
{
    if (w->err) return NULL;
    if (w->cap && (n > w->cap || w->len > w->cap - n)) {
        w->err = -1;
        return NULL;
    }
    if (w->len + n > w->alloc) {
        size_t na = w->alloc ? w->alloc : 256;
        while (na < w->len + n) na *= 2;
        w->data = xrealloc(w->data, na);
        w->alloc = na;
    }
    return w->data + w->len;
}

void wbuf_put(wbuf *w, const void *p, size_t n)
{
    uint8_t *d = wbuf_reserve(w, n);
    if (!d) return;
    if (n) memcpy(d, p, n);
    w->len += n;
}
void wbuf_i8(wbuf *w, int8_t v)
{
    wbuf_put(w, &v, 1);
}
void wbuf_i16(wbuf *w, int16_t v)
{
    uint8_t b[2];
    put_be16(b, (uint16_t)v);
    wbuf_put(w, b, 2);
}
void wbuf_u32(wbuf *w, uint32_t v)
{
    uint8_t b[4];
    put_be32(b, v);
    wbuf_put(w, b, 4);
}
void wbuf_i32(wbuf *w, int32_t v)
{
    wbuf_u32(w, (uint32_t)v);
}
void wbuf_i64(wbuf *w, int64_t v)
{
    uint8_t b[8];
    put_be64(b, (uint64_t)v);
    wbuf_put(w, b, 8);
}
void wbuf_f64(wbuf *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    wbuf_i64(w, (int64_t)u);
}

static void write_leb(wbuf *w, uint64_t v)
{
    uint8_t b[10];
    int n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    wbuf_put(w, b, (size_t)n);
}
void wbuf_uvarint(wbuf *w, uint32_t v)
{
    write_leb(w, v);
}
void wbuf_varint(wbuf *w, int32_t v)
{
    write_leb(w, (uint32_t)(((uint32_t)v << 1) ^ (uint32_t)(v >> 31)));
}
void wbuf_varlong(wbuf *w, int64_t v)
{
    write_leb(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}
void wbuf_patch_i32(wbuf *w, size_t at, int32_t v)
{
    if (w->err || at + 4 > w->len) return;
    put_be32(w->data + at, (uint32_t)v);
}
