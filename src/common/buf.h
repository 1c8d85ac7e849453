/* buf — bounded big-endian reader with a sticky error, and a growable writer.
 *
 * Sits at the bottom of the tree (common/): the Kafka codec, the storage layer and the
 * tests all read and write bytes through these two types.
 *
 * Reader contract: every read checks the bytes left; on the first failure `err` is set and
 * stays set, every later read returns 0 / an empty slice, and the caller checks `err` once at
 * the end. No read ever touches memory outside [p, end).
 *
 * Writer contract: appends grow the buffer (out-of-memory aborts); `cap` (0 = none) bounds the
 * total size, past which `err` is set and further appends are dropped.
 */
#ifndef EDDY_COMMON_BUF_H
#define EDDY_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct rbuf {
    const uint8_t *p;   /* next byte to read */
    const uint8_t *end; /* one past the last byte */
    int err;            /* 0 or the first error (-1 = truncated, -2 = bad value) */
} rbuf;

#define RBUF_TRUNCATED (-1)
#define RBUF_BADVALUE (-2)

static inline rbuf rbuf_make(const void *p, size_t n)
{
    rbuf r = {(const uint8_t *)p, (const uint8_t *)p + n, 0};
    return r;
}
static inline size_t rbuf_left(const rbuf *r)
{
    return r->err ? 0 : (size_t)(r->end - r->p);
}
static inline void rbuf_fail(rbuf *r, int e)
{
    if (!r->err) r->err = e;
    r->p = r->end;
}

int8_t rbuf_i8(rbuf *r);
int16_t rbuf_i16(rbuf *r);
int32_t rbuf_i32(rbuf *r);
int64_t rbuf_i64(rbuf *r);
uint32_t rbuf_u32(rbuf *r);
double rbuf_f64(rbuf *r);
/* Unsigned LEB128 (Kafka UNSIGNED_VARINT), at most 5 bytes. */
uint32_t rbuf_uvarint(rbuf *r);
/* Zigzag varint / varlong as used inside records. */
int32_t rbuf_varint(rbuf *r);
int64_t rbuf_varlong(rbuf *r);
/* Returns a pointer to n bytes inside the buffer and advances, or NULL (and sets err). */
const uint8_t *rbuf_take(rbuf *r, size_t n);
void rbuf_skip(rbuf *r, size_t n);

typedef struct wbuf {
    uint8_t *data;
    size_t len;
    size_t alloc;
    size_t cap; /* 0 = unbounded */
    int err;
} wbuf;

void wbuf_init(wbuf *w, size_t cap);
void wbuf_free(wbuf *w);
void wbuf_reset(wbuf *w);
/* Ensures room for n more bytes; returns a pointer to them or NULL if over cap. */
uint8_t *wbuf_reserve(wbuf *w, size_t n);
void wbuf_put(wbuf *w, const void *p, size_t n);
void wbuf_i8(wbuf *w, int8_t v);
void wbuf_i16(wbuf *w, int16_t v);
void wbuf_i32(wbuf *w, int32_t v);
void wbuf_i64(wbuf *w, int64_t v);
void wbuf_u32(wbuf *w, uint32_t v);
void wbuf_f64(wbuf *w, double v);
void wbuf_uvarint(wbuf *w, uint32_t v);
void wbuf_varint(wbuf *w, int32_t v);
void wbuf_varlong(wbuf *w, int64_t v);
/* Overwrites 4 bytes at an earlier position (for length prefixes). */
void wbuf_patch_i32(wbuf *w, size_t at, int32_t v);

/* Plain big-endian helpers for fixed layouts (disk headers, batch headers). */
static inline uint16_t be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t be64(const uint8_t *p)
{
    return ((uint64_t)be32(p) << 32) | be32(p + 4);
}
static inline void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

#endif
