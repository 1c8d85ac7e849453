/* batch — the RecordBatch v2 reader: header, CRC, decompression, record iteration, produce-time
 * validation and the tailer over a buffer of batches (layout and rules in batch.h). Sits in
 * storage/ below plog.c (tail.c reads a log through it); the only file that knows where a field
 * lives inside a batch. */
#include "storage/batch.h"

#include <inttypes.h>
#include <lz4frame.h>
#include <pthread.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define BATCH_ZSTD_WINDOW_LOG 23 /* 8 MiB */

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "common/util.h"

/* field offsets (the table in batch.h) */
enum {
    OFF_BASE_OFFSET = 0,
    OFF_LENGTH = 8,
    OFF_LEADER_EPOCH = 12,
    OFF_MAGIC = 16,
    OFF_CRC = 17,
    OFF_ATTRIBUTES = 21,
    OFF_LAST_DELTA = 23,
    OFF_BASE_TS = 27,
    OFF_MAX_TS = 35,
    OFF_PRODUCER_ID = 43,
    OFF_PRODUCER_EPOCH = 51,
    OFF_BASE_SEQ = 53,
    OFF_COUNT = 57,
};

const char *batch_strerror(int err)
{
    switch (err) {
    case BATCH_OK: return "ok";
    case BATCH_ERR_SHORT: return "batch length does not match the bytes sent";
    case BATCH_ERR_MAGIC: return "unsupported magic (only RecordBatch v2)";
    case BATCH_ERR_CRC: return "CRC-32C mismatch";
    case BATCH_ERR_INVALID: return "inconsistent batch header";
    case BATCH_ERR_CODEC: return "unknown compression type";
    case BATCH_ERR_CORRUPT: return "compressed records do not decode (truncated or damaged)";
    case BATCH_ERR_TOO_BIG: return "records decompress to more than the limit";
    case BATCH_ERR_RECORD: return "malformed record";
    case BATCH_ERR_COUNT: return "record count does not match recordsCount";
    default: return "unknown batch error";
    }
}

/* ------------------------------------------------------------------ header ---- */

int batch_peek(const uint8_t *p, size_t len, int64_t *base_offset, int32_t *total_len)
{
    *total_len = -1;
    if (len < BATCH_LOG_OVERHEAD) return BATCH_ERR_SHORT;
    int32_t blen = (int32_t)be32(p + OFF_LENGTH);
    if (blen < BATCH_LENGTH_MIN || blen > INT32_MAX - BATCH_LOG_OVERHEAD) {
        if (blen == 0) *total_len = 0;
        return BATCH_ERR_SHORT;
    }
    *base_offset = (int64_t)be64(p + OFF_BASE_OFFSET);
    *total_len = blen + BATCH_LOG_OVERHEAD;
    return BATCH_OK;
}

int batch_parse(const uint8_t *p, size_t len, batch_info *b)
{
    if (len < BATCH_HEADER_SIZE) return BATCH_ERR_SHORT;
    b->base_offset = (int64_t)be64(p + OFF_BASE_OFFSET);
    int32_t blen = (int32_t)be32(p + OFF_LENGTH);
    b->leader_epoch = (int32_t)be32(p + OFF_LEADER_EPOCH);
    b->magic = (int8_t)p[OFF_MAGIC];
    if (b->magic != 2) return BATCH_ERR_MAGIC;
    if (blen < BATCH_LENGTH_MIN || blen > INT32_MAX - BATCH_LOG_OVERHEAD) return BATCH_ERR_SHORT;
    b->total_len = blen + BATCH_LOG_OVERHEAD;
    b->crc = be32(p + OFF_CRC);
    b->attributes = (int16_t)be16(p + OFF_ATTRIBUTES);
    b->last_offset_delta = (int32_t)be32(p + OFF_LAST_DELTA);
    b->base_timestamp = (int64_t)be64(p + OFF_BASE_TS);
    b->max_timestamp = (int64_t)be64(p + OFF_MAX_TS);
    b->producer_id = (int64_t)be64(p + OFF_PRODUCER_ID);
    b->producer_epoch = (int16_t)be16(p + OFF_PRODUCER_EPOCH);
    b->base_sequence = (int32_t)be32(p + OFF_BASE_SEQ);
    b->records_count = (int32_t)be32(p + OFF_COUNT);
    return BATCH_OK;
}

bool batch_crc_ok(const uint8_t *p, size_t len)
{
    return len >= BATCH_HEADER_SIZE &&
           crc32c(p + OFF_ATTRIBUTES, len - OFF_ATTRIBUTES) == be32(p + OFF_CRC);
}

int batch_validate(const uint8_t *p, size_t len, batch_info *b)
{
    int rc = batch_parse(p, len, b);
    if (rc) return rc;
    if ((size_t)b->total_len != len) return BATCH_ERR_SHORT;
    if (!batch_crc_ok(p, len)) return BATCH_ERR_CRC;
    if (b->records_count <= 0 || b->last_offset_delta < 0 ||
        (int64_t)b->last_offset_delta + 1 != b->records_count)
        return BATCH_ERR_INVALID;
    if (b->attributes & BATCH_ATTR_CONTROL) return BATCH_ERR_INVALID;
    if (b->producer_id >= 0 && b->base_sequence < 0) return BATCH_ERR_INVALID;
    return BATCH_OK;
}

void batch_update_crc(uint8_t *p, size_t len)
{
    if (len < BATCH_HEADER_SIZE) return;
    put_be32(p + OFF_CRC, crc32c(p + OFF_ATTRIBUTES, len - OFF_ATTRIBUTES));
}

void batch_set_base_offset(uint8_t *p, int64_t base_offset)
{
    put_be64(p + OFF_BASE_OFFSET, (uint64_t)base_offset);
}

void batch_set_leader_epoch(uint8_t *p, int32_t epoch)
{
    put_be32(p + OFF_LEADER_EPOCH, (uint32_t)epoch);
}

void batch_set_log_append_time(uint8_t *p, size_t len, int64_t ts)
{
    uint16_t attr = (uint16_t)(be16(p + OFF_ATTRIBUTES) | BATCH_ATTR_LOG_APPEND_TIME);
    put_be16(p + OFF_ATTRIBUTES, attr);
    put_be64(p + OFF_MAX_TS, (uint64_t)ts);
    batch_update_crc(p, len);
}

void batch_set_max_timestamp(uint8_t *p, size_t len, int64_t ts)
{
    put_be64(p + OFF_MAX_TS, (uint64_t)ts);
    batch_update_crc(p, len);
}

void batch_set_records(uint8_t *p, size_t len, int16_t attributes, int32_t count)
{
    put_be32(p + OFF_LENGTH, (uint32_t)(len - BATCH_LOG_OVERHEAD));
    put_be16(p + OFF_ATTRIBUTES, (uint16_t)attributes);
    put_be32(p + OFF_COUNT, (uint32_t)count);
    batch_update_crc(p, len);
}

/* ------------------------------------------------------------------ decompression ---- */

/* An output buffer that grows by doubling up to a cap. */
typedef struct obuf {
    uint8_t *p;
    size_t len, alloc, cap;
} obuf;

static void ob_init(obuf *o, size_t hint, size_t cap)
{
    o->cap = cap;
    o->alloc = hint < 4096 ? 4096 : hint;
    if (o->alloc > cap) o->alloc = cap ? cap : 1;
    o->p = xmalloc(o->alloc);
    o->len = 0;
}

/* Makes room for more output; BATCH_ERR_TOO_BIG when the buffer is already at the cap. */
static int ob_room(obuf *o)
{
    if (o->len < o->alloc) return BATCH_OK;
    if (o->alloc >= o->cap) return BATCH_ERR_TOO_BIG;
    size_t n = o->alloc > o->cap / 2 ? o->cap : o->alloc * 2;
    o->p = xrealloc(o->p, n);
    o->alloc = n;
    return BATCH_OK;
}

static int ob_done(obuf *o, int rc, uint8_t **out, size_t *olen)
{
    if (rc != BATCH_OK) {
        free(o->p);
        *out = NULL;
        *olen = 0;
        return rc;
    }
    *out = o->p;
    *olen = o->len;
    return BATCH_OK;
}

/* Decompression contexts, one set per thread, kept between batches: creating them (and the
 * buffers they allocate on first use) cost more than decompressing a 16 KiB batch. Freed when
 * their thread exits. */
typedef struct dctx_cache {
    ZSTD_DCtx *zstd;
    LZ4F_dctx *lz4;
} dctx_cache;

static pthread_key_t g_dctx_key;
static pthread_once_t g_dctx_once = PTHREAD_ONCE_INIT;

static void dctx_free(void *p)
{
    dctx_cache *c = p;
    ZSTD_freeDCtx(c->zstd);
    if (c->lz4) LZ4F_freeDecompressionContext(c->lz4);
    free(c);
}

static void dctx_key_init(void)
{
    pthread_key_create(&g_dctx_key, dctx_free);
}

static dctx_cache *dctx_get(void)
{
    pthread_once(&g_dctx_once, dctx_key_init);
    dctx_cache *c = pthread_getspecific(g_dctx_key);
    if (!c) {
        c = xcalloc(1, sizeof *c);
        pthread_setspecific(g_dctx_key, c);
    }
    return c;
}

static LZ4F_dctx *lz4_ctx(void)
{
    dctx_cache *c = dctx_get();
    if (c->lz4) {
        LZ4F_resetDecompressionContext(c->lz4);
        return c->lz4;
    }
    if (LZ4F_isError(LZ4F_createDecompressionContext(&c->lz4, LZ4F_VERSION))) c->lz4 = NULL;
    return c->lz4;
}

static ZSTD_DCtx *zstd_ctx(void)
{
    dctx_cache *c = dctx_get();
    if (c->zstd) {
        ZSTD_DCtx_reset(c->zstd, ZSTD_reset_session_only);
        return c->zstd;
    }
    c->zstd = ZSTD_createDCtx();
    /* a frame may ask for a window of up to 2 GiB; clients use <= 8 MiB (level <= 19 on
     * inputs of batch size), so more is refused rather than allocated */
    if (c->zstd) ZSTD_DCtx_setParameter(c->zstd, ZSTD_d_windowLogMax, BATCH_ZSTD_WINDOW_LOG);
    return c->zstd;
}

/* gzip (zlib headers accepted too, as before), one member or several back to back (Java's
 * GZIPInputStream reads concatenations). */
static int un_gzip(const uint8_t *in, size_t n, obuf *o)
{
    z_stream zs, *z = &zs;
    memset(z, 0, sizeof *z);
    if (inflateInit2(z, 15 + 32) != Z_OK) return BATCH_ERR_CORRUPT;
    z->next_in = (Bytef *)in;
    z->avail_in = (uInt)n;
    int rc = BATCH_ERR_CORRUPT;
    for (;;) {
        int room = ob_room(o);
        if (room) {
            rc = room;
            break;
        }
        z->next_out = o->p + o->len;
        z->avail_out = (uInt)(o->alloc - o->len);
        int zr = inflate(z, Z_NO_FLUSH);
        o->len = o->alloc - z->avail_out;
        if (zr == Z_STREAM_END) {
            if (z->avail_in == 0) {
                rc = BATCH_OK;
                break;
            }
            if (inflateReset(z) != Z_OK) break; /* another member follows */
            continue;
        }
        if (zr == Z_OK) continue;
        if (zr == Z_BUF_ERROR && z->avail_out == 0) continue; /* needs room */
        break; /* Z_BUF_ERROR with room: input ended inside the stream; or damaged data */
    }
    inflateEnd(z);
    return rc;
}

static int un_snappy_block(const uint8_t *in, size_t n, obuf *o)
{
    size_t ul;
    if (snappy_uncompressed_length((const char *)in, n, &ul) != SNAPPY_OK) return BATCH_ERR_CORRUPT;
    if (ul > o->cap - o->len) return BATCH_ERR_TOO_BIG;
    if (o->len + ul > o->alloc) {
        size_t a = o->alloc;
        while (a < o->len + ul) a = a > o->cap / 2 ? o->cap : a * 2;
        o->p = xrealloc(o->p, a);
        o->alloc = a;
    }
    size_t got = ul;
    if (snappy_uncompress((const char *)in, n, (char *)o->p + o->len, &got) != SNAPPY_OK ||
        got != ul)
        return BATCH_ERR_CORRUPT;
    o->len += ul;
    return BATCH_OK;
}

/* Raw snappy (librdkafka) or xerial framing (Java): magic(8) version(4) compatible(4), then
 * blocks of { int32 length, raw snappy }. */
static int un_snappy(const uint8_t *in, size_t n, obuf *o)
{
    static const uint8_t xerial[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
    if (n < 16 || memcmp(in, xerial, 8) != 0) return un_snappy_block(in, n, o);
    size_t pos = 16;
    while (pos < n) {
        if (n - pos < 4) return BATCH_ERR_CORRUPT;
        uint32_t bl = be32(in + pos);
        pos += 4;
        if (bl > n - pos) return BATCH_ERR_CORRUPT;
        int rc = un_snappy_block(in + pos, bl, o);
        if (rc) return rc;
        pos += bl;
    }
    return BATCH_OK;
}

/* One step of a streaming decoder: reads up to *src bytes of in and writes up to *dst bytes to
 * out, leaving in *src and *dst how many it did; returns its hint (0 = the last frame is
 * complete), with *err set when the input is damaged. */
typedef size_t (*stream_step)(void *dctx, const uint8_t *in, size_t *src, uint8_t *out, size_t *dst,
                              bool *err);

/* Drives a frame decoder (lz4, zstd) over all of in, one frame or several back to back, with
 * the one rule for truncated input: no progress with room left is CORRUPT. */
static int un_stream(stream_step step, void *dctx, const uint8_t *in, size_t n, obuf *o)
{
    if (!dctx) return BATCH_ERR_CORRUPT;
    size_t pos = 0, hint = 1;
    for (;;) {
        if (pos == n && hint == 0) return BATCH_OK;
        int room = ob_room(o);
        if (room) return room;
        size_t dst = o->alloc - o->len, src = n - pos;
        bool err = false;
        hint = step(dctx, in + pos, &src, o->p + o->len, &dst, &err);
        if (err) return BATCH_ERR_CORRUPT;
        pos += src;
        o->len += dst;
        if (src == 0 && dst == 0 && o->len < o->alloc) return BATCH_ERR_CORRUPT; /* truncated */
    }
}

static size_t lz4_step(void *dctx, const uint8_t *in, size_t *src, uint8_t *out, size_t *dst,
                       bool *err)
{
    size_t hint = LZ4F_decompress(dctx, out, dst, in, src, NULL);
    *err = LZ4F_isError(hint);
    return hint;
}

static size_t zstd_step(void *dctx, const uint8_t *in, size_t *src, uint8_t *out, size_t *dst,
                        bool *err)
{
    ZSTD_inBuffer ib = {in, *src, 0};
    ZSTD_outBuffer ob = {out, *dst, 0};
    size_t hint = ZSTD_decompressStream(dctx, &ob, &ib);
    *err = ZSTD_isError(hint);
    *src = ib.pos;
    *dst = ob.pos;
    return hint;
}

/* lz4 frame format, one frame or several back to back. */
static int un_lz4(const uint8_t *in, size_t n, obuf *o)
{
    return un_stream(lz4_step, lz4_ctx(), in, n, o);
}

/* zstd, one frame or several back to back. */
static int un_zstd(const uint8_t *in, size_t n, obuf *o)
{
    return un_stream(zstd_step, zstd_ctx(), in, n, o);
}

int batch_decompress(int codec, const uint8_t *in, size_t n, size_t cap, uint8_t **out,
                     size_t *olen)
{
    if (cap > BATCH_INFLATE_MAX || cap == 0) cap = BATCH_INFLATE_MAX;
    /* the buffer may hold one byte more than the cap: output of exactly `cap` bytes never
     * stops a codec before it has read its end marker, and more than `cap` is TOO_BIG */
    size_t room = cap + 1;
    obuf o;
    int rc;
    switch (codec) {
    case BATCH_CODEC_NONE:
        ob_init(&o, n < room ? n : room, room);
        if (n > cap) {
            rc = BATCH_ERR_TOO_BIG;
            break;
        }
        if (n) memcpy(o.p, in, n);
        o.len = n;
        rc = BATCH_OK;
        break;
    case BATCH_CODEC_GZIP:
    case BATCH_CODEC_SNAPPY:
    case BATCH_CODEC_LZ4:
    case BATCH_CODEC_ZSTD: {
        /* the first guess of the output size: n times the codec's usual ratio */
        static int (*const un[])(const uint8_t *, size_t, obuf *) = {
            [BATCH_CODEC_GZIP] = un_gzip,
            [BATCH_CODEC_SNAPPY] = un_snappy,
            [BATCH_CODEC_LZ4] = un_lz4,
            [BATCH_CODEC_ZSTD] = un_zstd,
        };
        ob_init(&o, codec == BATCH_CODEC_SNAPPY ? n * 2 : n * 4, room);
        rc = un[codec](in, n, &o);
        break;
    }
    default: return ob_done(&(obuf){0}, BATCH_ERR_CODEC, out, olen);
    }
    if (rc == BATCH_OK && o.len > cap) rc = BATCH_ERR_TOO_BIG;
    return ob_done(&o, rc, out, olen);
}

/* ------------------------------------------------------------------ compression ---- */

static int gz(int level, const uint8_t *in, size_t n, uint8_t **out, size_t *olen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, level < 0 ? Z_DEFAULT_COMPRESSION : level, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return BATCH_ERR_CODEC;
    size_t cap = deflateBound(&z, (uLong)n) + 32;
    uint8_t *o = xmalloc(cap);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = o;
    z.avail_out = (uInt)cap;
    int zr = deflate(&z, Z_FINISH);
    size_t got = cap - z.avail_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END) {
        free(o);
        return BATCH_ERR_CODEC;
    }
    *out = o;
    *olen = got;
    return BATCH_OK;
}

/* xerial framing: magic, version 1, compatible version 1, then [int32 length][raw block]... */
static int snap(const uint8_t *in, size_t n, uint8_t **out, size_t *olen)
{
    static const uint8_t head[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
    const size_t blk = 32 * 1024;
    size_t nb = n / blk + 1, cap = sizeof head + nb * (4 + snappy_max_compressed_length(blk));
    uint8_t *o = xmalloc(cap);
    memcpy(o, head, sizeof head);
    size_t pos = sizeof head;
    for (size_t at = 0; at < n; at += blk) {
        size_t take = MIN(blk, n - at), got = cap - pos - 4;
        if (snappy_compress((const char *)in + at, take, (char *)o + pos + 4, &got) != SNAPPY_OK) {
            free(o);
            return BATCH_ERR_CODEC;
        }
        put_be32(o + pos, (uint32_t)got);
        pos += 4 + got;
    }
    *out = o;
    *olen = pos;
    return BATCH_OK;
}

static int lz4c(int level, const uint8_t *in, size_t n, uint8_t **out, size_t *olen)
{
    LZ4F_preferences_t pr;
    memset(&pr, 0, sizeof pr);
    pr.frameInfo.blockSizeID = LZ4F_max64KB;
    pr.frameInfo.blockMode = LZ4F_blockIndependent;
    pr.compressionLevel = level;
    size_t cap = LZ4F_compressFrameBound(n, &pr);
    uint8_t *o = xmalloc(cap);
    size_t got = LZ4F_compressFrame(o, cap, in, n, &pr);
    if (LZ4F_isError(got)) {
        free(o);
        return BATCH_ERR_CODEC;
    }
    *out = o;
    *olen = got;
    return BATCH_OK;
}

static int zst(int level, const uint8_t *in, size_t n, uint8_t **out, size_t *olen)
{
    size_t cap = ZSTD_compressBound(n);
    uint8_t *o = xmalloc(cap);
    size_t got = ZSTD_compress(o, cap, in, n, level);
    if (ZSTD_isError(got)) {
        free(o);
        return BATCH_ERR_CODEC;
    }
    *out = o;
    *olen = got;
    return BATCH_OK;
}

int batch_compress(int codec, int level, const uint8_t *in, size_t n, uint8_t **out, size_t *olen)
{
    *out = NULL;
    *olen = 0;
    switch (codec) {
    case BATCH_CODEC_NONE:
        *out = xmalloc(n ? n : 1);
        if (n) memcpy(*out, in, n);
        *olen = n;
        return BATCH_OK;
    case BATCH_CODEC_GZIP: return gz(level, in, n, out, olen);
    case BATCH_CODEC_SNAPPY: return snap(in, n, out, olen);
    case BATCH_CODEC_LZ4: return lz4c(level, in, n, out, olen);
    case BATCH_CODEC_ZSTD: return zst(level, in, n, out, olen);
    default: return BATCH_ERR_CODEC;
    }
}

int batch_recompress(const uint8_t *p, size_t len, int codec, int level, size_t cap, uint8_t **out,
                     size_t *olen)
{
    *out = NULL;
    *olen = 0;
    if (len < BATCH_HEADER_SIZE) return BATCH_ERR_SHORT;
    int16_t attr = (int16_t)((p[OFF_ATTRIBUTES] << 8) | p[OFF_ATTRIBUTES + 1]);
    uint8_t *raw = NULL, *comp = NULL;
    size_t rawlen = 0, clen = 0;
    int rc = batch_decompress(attr & BATCH_ATTR_COMPRESSION, p + BATCH_HEADER_SIZE,
                              len - BATCH_HEADER_SIZE, cap, &raw, &rawlen);
    if (rc != BATCH_OK) return rc;
    rc = batch_compress(codec, level, raw, rawlen, &comp, &clen);
    free(raw);
    if (rc != BATCH_OK) return rc;
    size_t total = BATCH_HEADER_SIZE + clen;
    uint8_t *b = xmalloc(total);
    memcpy(b, p, BATCH_HEADER_SIZE);
    memcpy(b + BATCH_HEADER_SIZE, comp, clen);
    free(comp);
    batch_set_records(b, total, (int16_t)((attr & ~BATCH_ATTR_COMPRESSION) | codec),
                      (int32_t)be32(p + OFF_COUNT));
    *out = b;
    *olen = total;
    return BATCH_OK;
}

size_t batch_inflate_cap(int64_t max_message_bytes)
{
    size_t lo = (size_t)8 << 20;
    if (max_message_bytes <= 0) return lo;
    uint64_t c = (uint64_t)max_message_bytes * 32;
    if (c < lo) return lo;
    return c > BATCH_INFLATE_MAX ? BATCH_INFLATE_MAX : (size_t)c;
}

/* ------------------------------------------------------------------ records ---- */

/* LEB128 of at most `maxb` bytes; the last byte of a 10-byte varlong may carry one bit. */
static inline bool get_leb(const uint8_t **pp, const uint8_t *end, int maxb, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t x = 0;
    for (int i = 0; i < maxb; i++) {
        if (p >= end) return false;
        uint8_t c = *p++;
        if (i == 9 && c > 1) return false;
        x |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *pp = p;
            *v = x;
            return true;
        }
    }
    return false;
}

static inline bool get_varint(const uint8_t **pp, const uint8_t *end, int32_t *out)
{
    uint64_t u;
    if (!get_leb(pp, end, 5, &u) || u > UINT32_MAX) return false;
    uint32_t x = (uint32_t)u;
    *out = (int32_t)((x >> 1) ^ (~(x & 1) + 1));
    return true;
}

static inline bool get_varlong(const uint8_t **pp, const uint8_t *end, int64_t *out)
{
    uint64_t u;
    if (!get_leb(pp, end, 10, &u)) return false;
    *out = (int64_t)((u >> 1) ^ (~(u & 1) + 1));
    return true;
}

/* A length-prefixed byte field: -1 = null, otherwise it must fit before `end`. */
static inline bool get_bytes(const uint8_t **pp, const uint8_t *end, const uint8_t **out,
                             int32_t *len)
{
    if (!get_varint(pp, end, len) || *len < -1) return false;
    if (*len == -1) {
        *out = NULL;
        return true;
    }
    if ((size_t)*len > (size_t)(end - *pp)) return false;
    *out = *pp;
    *pp += *len;
    return true;
}

static int iter_fail(batch_iter *it, int err, const char *why)
{
    it->err = err;
    it->why = why;
    return err;
}

int batch_iter_init(batch_iter *it, const uint8_t *batch, size_t len, size_t cap)
{
    memset(it, 0, sizeof *it);
    int rc = batch_parse(batch, len, &it->info);
    if (rc) return iter_fail(it, rc, batch_strerror(rc));
    if ((size_t)it->info.total_len > len) return iter_fail(it, BATCH_ERR_SHORT, "batch cut short");
    if (it->info.records_count < 0)
        return iter_fail(it, BATCH_ERR_INVALID, "negative recordsCount");
    const uint8_t *recs = batch + BATCH_HEADER_SIZE;
    size_t n = (size_t)it->info.total_len - BATCH_HEADER_SIZE;
    int codec = it->info.attributes & BATCH_ATTR_COMPRESSION;
    if (codec == BATCH_CODEC_NONE) {
        it->p = recs;
        it->end = recs + n;
        return BATCH_OK;
    }
    size_t olen;
    rc = batch_decompress(codec, recs, n, cap, &it->owned, &olen);
    if (rc) return iter_fail(it, rc, batch_strerror(rc));
    it->p = it->owned;
    it->end = it->owned + olen;
    return BATCH_OK;
}

int batch_iter_next(batch_iter *it, batch_record *r)
{
    if (it->err) return it->err;
    const batch_info *bi = &it->info;
    if (it->index >= bi->records_count) {
        if (it->p != it->end) return iter_fail(it, BATCH_ERR_COUNT, "bytes after the last record");
        return 0;
    }
    if (it->p >= it->end) return iter_fail(it, BATCH_ERR_COUNT, "fewer records than recordsCount");
    const uint8_t *start = it->p, *p = it->p;
    int32_t len;
    if (!get_varint(&p, it->end, &len)) return iter_fail(it, BATCH_ERR_RECORD, "bad record length");
    if (len < 1 || (size_t)len > (size_t)(it->end - p))
        return iter_fail(it, BATCH_ERR_RECORD, "record length outside the batch");
    const uint8_t *e = p + len;
    int64_t tsd;
    r->attributes = (int8_t)*p++;
    if (!get_varlong(&p, e, &tsd) || !get_varint(&p, e, &r->offset_delta))
        return iter_fail(it, BATCH_ERR_RECORD, "bad timestamp or offset delta");
    if (!get_bytes(&p, e, &r->key, &r->key_len))
        return iter_fail(it, BATCH_ERR_RECORD, "bad key length");
    if (!get_bytes(&p, e, &r->value, &r->value_len))
        return iter_fail(it, BATCH_ERR_RECORD, "bad value length");
    if (!get_varint(&p, e, &r->header_count) || r->header_count < 0)
        return iter_fail(it, BATCH_ERR_RECORD, "bad header count");
    r->headers = p;
    for (int32_t h = 0; h < r->header_count; h++) {
        const uint8_t *hk, *hv;
        int32_t hkl, hvl;
        /* each header takes two bytes at least: the loop ends with the record's bytes */
        if (p >= e) return iter_fail(it, BATCH_ERR_RECORD, "header count past the record");
        if (!get_bytes(&p, e, &hk, &hkl) || hkl < 0)
            return iter_fail(it, BATCH_ERR_RECORD, "bad header key");
        if (!get_bytes(&p, e, &hv, &hvl))
            return iter_fail(it, BATCH_ERR_RECORD, "bad header value");
    }
    r->headers_len = (size_t)(p - r->headers);
    if (p != e) return iter_fail(it, BATCH_ERR_RECORD, "record length does not match its fields");
    if (bi->attributes & BATCH_ATTR_LOG_APPEND_TIME) {
        r->timestamp = bi->max_timestamp;
    } else if (__builtin_add_overflow(bi->base_timestamp, tsd, &r->timestamp)) {
        return iter_fail(it, BATCH_ERR_RECORD, "timestamp overflow");
    }
    if (__builtin_add_overflow(bi->base_offset, (int64_t)r->offset_delta, &r->offset))
        return iter_fail(it, BATCH_ERR_RECORD, "offset overflow");
    r->index = it->index++;
    r->raw = start;
    r->raw_len = (size_t)(e - start);
    it->p = e;
    return 1;
}

void batch_iter_free(batch_iter *it)
{
    free(it->owned);
    it->owned = NULL;
}

int batch_check_records(const uint8_t *batch, size_t len, size_t cap, int32_t *bad_index,
                        const char **why, int64_t *max_ts)
{
    batch_iter it;
    batch_record rec;
    int64_t mts = -1;
    int rc = batch_iter_init(&it, batch, len, cap);
    while (rc == BATCH_OK) {
        int n = batch_iter_next(&it, &rec);
        if (n == 0) break;
        if (n < 0) {
            rc = n;
            break;
        }
        if (rec.offset_delta != rec.index) {
            rc = iter_fail(&it, BATCH_ERR_RECORD, "offsetDelta is not the record's index");
            it.index = rec.index;
            break;
        }
        if (rec.timestamp > mts) mts = rec.timestamp;
    }
    *bad_index = -1;
    *why = NULL;
    if (rc != BATCH_OK) {
        *why = it.why;
        if (rc == BATCH_ERR_RECORD) *bad_index = it.index;
    }
    *max_ts = mts;
    batch_iter_free(&it);
    return rc;
}

/* ------------------------------------------------------------------ build ---- */

static void put_field(wbuf *w, const void *p, size_t n, bool null)
{
    if (null) {
        wbuf_varint(w, -1);
        return;
    }
    wbuf_varint(w, (int32_t)n);
    wbuf_put(w, p, n);
}

uint8_t *batch_build(const batch_rec *rs, int n, int64_t now_ms, size_t *len)
{
    int64_t base_ts = INT64_MAX, max_ts = INT64_MIN;
    for (int i = 0; i < n; i++) {
        int64_t t = rs[i].timestamp ? rs[i].timestamp : now_ms;
        if (t < base_ts) base_ts = t;
        if (t > max_ts) max_ts = t;
    }
    wbuf w, rec;
    wbuf_init(&w, 0);
    wbuf_init(&rec, 0);
    static const uint8_t hdr[BATCH_HEADER_SIZE];
    wbuf_put(&w, hdr, sizeof hdr);
    for (int i = 0; i < n; i++) {
        const batch_rec *r = &rs[i];
        wbuf_reset(&rec);
        wbuf_i8(&rec, 0);
        wbuf_varlong(&rec, (r->timestamp ? r->timestamp : now_ms) - base_ts);
        wbuf_varint(&rec, i);
        put_field(&rec, r->key, r->key_len, !r->key && r->key_len == 0);
        put_field(&rec, r->val, r->val_len, !r->val);
        wbuf_varint(&rec, r->nheaders > 0 ? r->nheaders : 0);
        for (int h = 0; h < r->nheaders; h++) {
            put_field(&rec, r->headers[h].key, r->headers[h].key_len, false);
            put_field(&rec, r->headers[h].val, r->headers[h].val_len, !r->headers[h].val);
        }
        wbuf_varint(&w, (int32_t)rec.len);
        wbuf_put(&w, rec.data, rec.len);
    }
    wbuf_free(&rec);
    uint8_t *p = w.data;
    size_t sz = w.len;
    put_be64(p + OFF_BASE_OFFSET, 0); /* assigned by the log */
    put_be32(p + OFF_LENGTH, (uint32_t)(sz - BATCH_LOG_OVERHEAD));
    put_be32(p + OFF_LEADER_EPOCH, 0);
    p[OFF_MAGIC] = 2;
    put_be16(p + OFF_ATTRIBUTES, 0);
    put_be32(p + OFF_LAST_DELTA, (uint32_t)(n - 1));
    put_be64(p + OFF_BASE_TS, (uint64_t)base_ts);
    put_be64(p + OFF_MAX_TS, (uint64_t)max_ts);
    put_be64(p + OFF_PRODUCER_ID, (uint64_t)-1);
    put_be16(p + OFF_PRODUCER_EPOCH, (uint16_t)-1);
    put_be32(p + OFF_BASE_SEQ, (uint32_t)-1);
    put_be32(p + OFF_COUNT, (uint32_t)n);
    batch_update_crc(p, sz);
    *len = sz;
    return p;
}

void batch_set_producer(uint8_t *p, size_t len, int64_t producer_id, int16_t epoch,
                        int32_t base_sequence, bool transactional)
{
    put_be64(p + OFF_PRODUCER_ID, (uint64_t)producer_id);
    put_be16(p + OFF_PRODUCER_EPOCH, (uint16_t)epoch);
    put_be32(p + OFF_BASE_SEQ, (uint32_t)base_sequence);
    uint16_t a = be16(p + OFF_ATTRIBUTES);
    if (transactional)
        a |= BATCH_ATTR_TRANSACTIONAL;
    else
        a &= (uint16_t)~BATCH_ATTR_TRANSACTIONAL;
    put_be16(p + OFF_ATTRIBUTES, a);
    batch_update_crc(p, len);
}

uint8_t *batch_build_control(int64_t producer_id, int16_t epoch, bool commit,
                             int32_t coordinator_epoch, int64_t now_ms, size_t *len)
{
    uint8_t key[4], val[6];
    put_be16(key, 0);                  /* ControlRecordKey version */
    put_be16(key + 2, commit ? 1 : 0); /* type: 0 abort, 1 commit */
    put_be16(val, 0);                  /* EndTxnMarker version */
    put_be32(val + 2, (uint32_t)coordinator_epoch);
    batch_rec r = {key, sizeof key, val, sizeof val, NULL, 0, 0};
    uint8_t *p = batch_build(&r, 1, now_ms, len);
    put_be64(p + OFF_PRODUCER_ID, (uint64_t)producer_id);
    put_be16(p + OFF_PRODUCER_EPOCH, (uint16_t)epoch);
    put_be32(p + OFF_BASE_SEQ, (uint32_t)-1);
    put_be16(p + OFF_ATTRIBUTES, BATCH_ATTR_CONTROL | BATCH_ATTR_TRANSACTIONAL);
    batch_update_crc(p, *len);
    return p;
}

int batch_control_type(const uint8_t *p, size_t len)
{
    batch_iter it;
    batch_record rec;
    int type = -1;
    if (batch_iter_init(&it, p, len, 1 << 16) == BATCH_OK &&
        (it.info.attributes & BATCH_ATTR_CONTROL) && batch_iter_next(&it, &rec) > 0 && rec.key &&
        rec.key_len >= 4 && be16(rec.key) == 0)
        type = be16(rec.key + 2);
    batch_iter_free(&it);
    return type == 0 || type == 1 ? type : -1;
}

/* ------------------------------------------------------------------ tailer ---- */

int batch_tail_buf(const uint8_t *p, size_t len, int64_t from, batch_tail_fn fn, void *arg,
                   batch_tail_stats *st)
{
    return batch_tail_buf_ctl(p, len, from, fn, NULL, arg, st);
}

int batch_tail_buf_ctl(const uint8_t *p, size_t len, int64_t from, batch_tail_fn fn,
                       batch_control_fn ctl, void *arg, batch_tail_stats *st)
{
    size_t pos = 0;
    while (len - pos >= BATCH_HEADER_SIZE) {
        int64_t base;
        int32_t total;
        if (batch_peek(p + pos, len - pos, &base, &total) || (size_t)total > len - pos) break;
        const uint8_t *bp = p + pos;
        pos += (size_t)total;
        st->batches++;
        batch_info bi;
        if (batch_parse(bp, (size_t)total, &bi) == BATCH_OK && bi.last_offset_delta >= 0 &&
            bi.base_offset < INT64_MAX - bi.last_offset_delta) {
            int64_t after = bi.base_offset + (int64_t)bi.last_offset_delta + 1;
            if (after > st->next) st->next = after;
        }
        batch_iter it;
        if (batch_iter_init(&it, bp, (size_t)total, BATCH_INFLATE_MAX) != BATCH_OK) {
            st->skipped++;
            batch_iter_free(&it);
            continue;
        }
        if (it.info.attributes & BATCH_ATTR_CONTROL) {
            batch_info ci = it.info;
            batch_iter_free(&it);
            int type = ctl ? batch_control_type(bp, (size_t)total) : -1;
            if (type >= 0 && ci.base_offset >= from) {
                int rc = ctl(&ci, type == 1, arg);
                if (rc) return rc;
            }
            continue;
        }
        batch_record rec;
        int n, rc = 0;
        while ((n = batch_iter_next(&it, &rec)) > 0) {
            if (rec.offset < from) continue;
            rc = fn(&it.info, &rec, arg);
            if (rc) break;
        }
        if (n < 0) st->skipped++;
        batch_iter_free(&it);
        if (rc) return rc;
    }
    return 0;
}
