/* msgset — legacy message sets (magic 0/1) to and from RecordBatch v2; see msgset.h for the
 * byte layout. Decompression and the v2 record iterator are batch.c's. */
#include "storage/msgset.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/util.h"
#include "storage/batch.h"

const char *msgset_strerror(int err)
{
    switch (err) {
    case MSGSET_OK: return "ok";
    case MSGSET_ERR_SHORT: return "message set truncated";
    case MSGSET_ERR_CRC: return "message CRC mismatch";
    case MSGSET_ERR_MAGIC: return "unknown message magic, or an inner message of another magic";
    case MSGSET_ERR_CODEC: return "compression codec has no legacy message form";
    case MSGSET_ERR_CORRUPT: return "compressed message does not decompress";
    case MSGSET_ERR_NESTED: return "compressed message inside a compressed message";
    case MSGSET_ERR_TOO_BIG: return "compressed messages decompress to more than allowed";
    case MSGSET_ERR_EMPTY: return "empty message set";
    case MSGSET_ERR_INVALID: return "malformed message (lengths, timestamp or trailing bytes)";
    default: return "unknown message set error";
    }
}

/* ------------------------------------------------------------------ lz4 header ---- */

/* xxHash32 of fewer than 16 bytes, seed 0 (all an lz4 frame descriptor needs). */
static uint32_t rotl32(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

static uint32_t xxh32_small(const uint8_t *p, size_t n)
{
    const uint32_t P1 = 2654435761U, P2 = 2246822519U, P3 = 3266489917U, P4 = 668265263U,
                   P5 = 374761393U;
    uint32_t h = P5 + (uint32_t)n;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t w = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
                     (uint32_t)p[i + 3] << 24;
        h += w * P3;
        h = rotl32(h, 17) * P4;
    }
    for (; i < n; i++) {
        h += p[i] * P5;
        h = rotl32(h, 11) * P1;
    }
    h ^= h >> 15;
    h *= P2;
    h ^= h >> 13;
    h *= P3;
    h ^= h >> 16;
    return h;
}

/* Kafka 0.8-0.9 (and librdkafka for magic 0) hashed the frame's magic number into the header
 * checksum (KAFKA-3160). Rewrites the checksum byte of an lz4 frame at p to the right value;
 * leaves anything that is not an lz4 frame alone (liblz4 then refuses it). */
static void lz4_fix_header(uint8_t *p, size_t n)
{
    if (n < 7 || p[0] != 0x04 || p[1] != 0x22 || p[2] != 0x4d || p[3] != 0x18) return;
    uint8_t flg = p[4];
    size_t desc = 2 + ((flg & 0x08) ? 8 : 0) + ((flg & 0x01) ? 4 : 0);
    if (4 + desc + 1 > n) return;
    p[4 + desc] = (uint8_t)(xxh32_small(p + 4, desc) >> 8);
}

/* The header checksum as Kafka 0.8-0.9 wrote it into magic 0 lz4 messages (hashed from the
 * frame's magic number on), which Kafka still writes when down-converting to magic 0. */
static void lz4_break_header(uint8_t *p, size_t n)
{
    if (n < 7 || p[0] != 0x04 || p[1] != 0x22 || p[2] != 0x4d || p[3] != 0x18) return;
    uint8_t flg = p[4];
    size_t desc = 2 + ((flg & 0x08) ? 8 : 0) + ((flg & 0x01) ? 4 : 0);
    if (4 + desc + 1 > n || 4 + desc >= 16) return; /* xxh32_small's range; left right */
    p[4 + desc] = (uint8_t)(xxh32_small(p, 4 + desc) >> 8);
}

/* ---------------------------------------------------------------- up-convert ---- */

typedef struct mrec {
    const uint8_t *key, *val;
    int32_t klen, vlen;
    int64_t ts;
} mrec;

typedef struct mdec {
    mrec *v;
    size_t n, a;
    uint8_t **bufs; /* decompressed inner sets, alive until the batch is built */
    size_t nb, ab;
    size_t inflated, cap;
    int codec, magic;
} mdec;

static int read_bytes(rbuf *r, const uint8_t **p, int32_t *len)
{
    int32_t l = rbuf_i32(r);
    if (r->err) return MSGSET_ERR_SHORT;
    if (l < -1) return MSGSET_ERR_INVALID;
    *len = l;
    *p = NULL;
    if (l >= 0) {
        *p = rbuf_take(r, (size_t)l);
        if (!*p) return MSGSET_ERR_SHORT;
    }
    return MSGSET_OK;
}

static int parse_set(mdec *d, const uint8_t *p, size_t len, int depth, int wmagic, int64_t wts,
                     bool wlat)
{
    rbuf r = rbuf_make(p, len);
    size_t count = 0;
    while (rbuf_left(&r) > 0) {
        if (rbuf_left(&r) < MSGSET_LOG_OVERHEAD) return MSGSET_ERR_SHORT;
        (void)rbuf_i64(&r); /* the producer's offset: the log assigns them */
        int32_t size = rbuf_i32(&r);
        if (size < 0) return MSGSET_ERR_INVALID;
        if ((size_t)size > rbuf_left(&r)) return MSGSET_ERR_SHORT;
        if (size < MSGSET_V0_OVERHEAD - MSGSET_LOG_OVERHEAD) return MSGSET_ERR_SHORT;
        const uint8_t *m = rbuf_take(&r, (size_t)size);
        int8_t magic = (int8_t)m[4];
        uint8_t attr = m[5];
        if (magic < 0 || magic > 1) return MSGSET_ERR_MAGIC;
        if (depth > 0 && magic != wmagic) return MSGSET_ERR_MAGIC;
        if ((uint32_t)crc32(0, m + 4, (uInt)(size - 4)) != be32(m)) return MSGSET_ERR_CRC;
        rbuf q = rbuf_make(m + 6, (size_t)size - 6);
        int64_t ts = magic == 1 ? rbuf_i64(&q) : -1;
        if (ts < -1) return MSGSET_ERR_INVALID; /* Kafka: "Invalid negative timestamp" */
        mrec mr = {0};
        mr.ts = ts;
        int rc = read_bytes(&q, &mr.key, &mr.klen);
        if (rc == MSGSET_OK) rc = read_bytes(&q, &mr.val, &mr.vlen);
        if (rc != MSGSET_OK) return rc;
        if (rbuf_left(&q) != 0) return MSGSET_ERR_INVALID;
        int codec = attr & BATCH_ATTR_COMPRESSION;
        d->magic = magic;
        if (codec == BATCH_CODEC_NONE) {
            if (depth > 0 && wmagic == 1 && wlat) mr.ts = wts;
            if (d->n == d->a) {
                d->a = d->a ? d->a * 2 : 16;
                d->v = xrealloc(d->v, d->a * sizeof *d->v);
            }
            d->v[d->n++] = mr;
        } else {
            if (depth > 0) return MSGSET_ERR_NESTED;
            if (codec > BATCH_CODEC_LZ4) return MSGSET_ERR_CODEC;
            if (!mr.val) return MSGSET_ERR_INVALID;
            const uint8_t *in = mr.val;
            uint8_t *fixed = NULL;
            if (codec == BATCH_CODEC_LZ4) {
                fixed = xmalloc((size_t)mr.vlen + 1);
                memcpy(fixed, mr.val, (size_t)mr.vlen);
                lz4_fix_header(fixed, (size_t)mr.vlen);
                in = fixed;
            }
            uint8_t *inner = NULL;
            size_t ilen = 0;
            rc = batch_decompress(codec, in, (size_t)mr.vlen, d->cap - d->inflated, &inner, &ilen);
            free(fixed);
            if (rc == BATCH_ERR_TOO_BIG) return MSGSET_ERR_TOO_BIG;
            if (rc != BATCH_OK) return MSGSET_ERR_CORRUPT;
            if (d->nb == d->ab) {
                d->ab = d->ab ? d->ab * 2 : 4;
                d->bufs = xrealloc(d->bufs, d->ab * sizeof *d->bufs);
            }
            d->bufs[d->nb++] = inner;
            d->inflated += ilen;
            d->codec = codec;
            rc = parse_set(d, inner, ilen, depth + 1, magic, ts,
                           (attr & MSGSET_ATTR_LOG_APPEND_TIME) != 0);
            if (rc != MSGSET_OK) return rc;
        }
        count++;
    }
    return count ? MSGSET_OK : MSGSET_ERR_EMPTY;
}

static void put_field(wbuf *w, const uint8_t *p, int32_t len)
{
    wbuf_varint(w, len < 0 ? -1 : len);
    if (len > 0) wbuf_put(w, p, (size_t)len);
}

/* One uncompressed RecordBatch v2 of d's records (the header layout is batch.h's). */
static uint8_t *build_batch(const mdec *d, size_t *len)
{
    int64_t base_ts = d->v[0].ts, max_ts = d->v[0].ts;
    for (size_t i = 1; i < d->n; i++)
        if (d->v[i].ts > max_ts) max_ts = d->v[i].ts;
    wbuf w, rec;
    wbuf_init(&w, 0);
    wbuf_init(&rec, 0);
    wbuf_i64(&w, 0);                   /* baseOffset: the log assigns it */
    wbuf_i32(&w, 0);                   /* batchLength, below */
    wbuf_i32(&w, 0);                   /* partitionLeaderEpoch */
    wbuf_i8(&w, 2);                    /* magic */
    wbuf_u32(&w, 0);                   /* crc, below */
    wbuf_i16(&w, 0);                   /* attributes: uncompressed, CreateTime */
    wbuf_i32(&w, (int32_t)(d->n - 1)); /* lastOffsetDelta */
    wbuf_i64(&w, base_ts);             /* baseTimestamp: the first record's */
    wbuf_i64(&w, max_ts);              /* maxTimestamp */
    wbuf_i64(&w, -1);                  /* producerId */
    wbuf_i16(&w, -1);                  /* producerEpoch */
    wbuf_i32(&w, -1);                  /* baseSequence */
    wbuf_i32(&w, (int32_t)d->n);       /* recordsCount */
    for (size_t i = 0; i < d->n; i++) {
        const mrec *m = &d->v[i];
        wbuf_reset(&rec);
        wbuf_i8(&rec, 0);
        /* magic 0 records all have -1; a mix of -1 and real timestamps keeps each as sent */
        wbuf_varlong(&rec, m->ts - base_ts);
        wbuf_varint(&rec, (int32_t)i);
        put_field(&rec, m->key, m->klen);
        put_field(&rec, m->val, m->vlen);
        wbuf_varint(&rec, 0);
        wbuf_varint(&w, (int32_t)rec.len);
        wbuf_put(&w, rec.data, rec.len);
    }
    wbuf_free(&rec);
    put_be32(w.data + 8, (uint32_t)(w.len - BATCH_LOG_OVERHEAD));
    batch_update_crc(w.data, w.len);
    *len = w.len;
    return w.data;
}

int msgset_to_batch(const uint8_t *p, size_t len, size_t cap, uint8_t **out, size_t *olen,
                    int *codec, int *magic)
{
    mdec d;
    memset(&d, 0, sizeof d);
    d.cap = cap;
    *out = NULL;
    *olen = 0;
    int rc = parse_set(&d, p, len, 0, 0, -1, false);
    if (rc == MSGSET_OK && d.n > (size_t)INT32_MAX - 1) rc = MSGSET_ERR_INVALID;
    for (size_t i = 1; rc == MSGSET_OK && i < d.n; i++) {
        int64_t delta; /* to the first record's timestamp: -1 and INT64_MAX are too far apart */
        if (__builtin_sub_overflow(d.v[i].ts, d.v[0].ts, &delta)) rc = MSGSET_ERR_INVALID;
    }
    if (rc == MSGSET_OK) {
        *out = build_batch(&d, olen);
        if (codec) *codec = d.codec;
        if (magic) *magic = d.magic;
    }
    for (size_t i = 0; i < d.nb; i++) free(d.bufs[i]);
    free(d.bufs);
    free(d.v);
    return rc;
}

/* -------------------------------------------------------------- down-convert ---- */

static void put_bytes(wbuf *w, const uint8_t *p, int32_t len)
{
    wbuf_i32(w, len < 0 ? -1 : len);
    if (len > 0) wbuf_put(w, p, (size_t)len);
}

static void put_msg(wbuf *w, int64_t offset, int magic, uint8_t attr, int64_t ts,
                    const uint8_t *key, int32_t klen, const uint8_t *val, int32_t vlen)
{
    size_t msz = (size_t)(magic ? MSGSET_V1_OVERHEAD : MSGSET_V0_OVERHEAD) +
                 (size_t)(klen > 0 ? klen : 0) + (size_t)(vlen > 0 ? vlen : 0);
    wbuf_i64(w, offset);
    wbuf_i32(w, (int32_t)(msz - MSGSET_LOG_OVERHEAD));
    size_t crc_at = w->len;
    wbuf_u32(w, 0);
    wbuf_i8(w, (int8_t)magic);
    wbuf_i8(w, (int8_t)attr);
    if (magic) wbuf_i64(w, ts);
    put_bytes(w, key, klen);
    put_bytes(w, val, vlen);
    put_be32(w->data + crc_at,
             (uint32_t)crc32(0, w->data + crc_at + 4, (uInt)(w->len - crc_at - 4)));
}

#define WRAP_UNFIT (-1000) /* not a batch_err */

/* A compressed stored batch as one wrapper message of the same codec, as Kafka down-converts:
 * the inner messages hold the records in [from, upto) (magic 1: offsets relative to the first,
 * the wrapper's offset the last one's; magic 0: absolute). Returns the records wrapped (0:
 * none in range, nothing written), WRAP_UNFIT when the wrapper does not fit the limit or the
 * codec fails (the caller converts the batch uncompressed instead), or a negative batch_err. */
static int wrap_batch(wbuf *w, size_t start, const uint8_t *b, size_t blen, int64_t from,
                      int64_t upto, int magic, size_t limit, bool may_exceed, int64_t *last)
{
    batch_iter it;
    int rc = batch_iter_init(&it, b, blen, BATCH_INFLATE_MAX);
    if (rc != BATCH_OK) return rc;
    int codec = it.info.attributes & BATCH_ATTR_COMPRESSION;
    bool lat = (it.info.attributes & BATCH_ATTR_LOG_APPEND_TIME) != 0;
    wbuf in;
    wbuf_init(&in, 0);
    int k = 0;
    int64_t first = -1, max_ts = -1;
    batch_record rec;
    while ((rc = batch_iter_next(&it, &rec)) > 0) {
        if (rec.offset >= upto) break;
        if (rec.offset < from) continue;
        if (first < 0) first = rec.offset;
        put_msg(&in, magic ? rec.offset - first : rec.offset, magic, 0, rec.timestamp, rec.key,
                rec.key_len, rec.value, rec.value_len);
        if (rec.timestamp > max_ts) max_ts = rec.timestamp;
        *last = rec.offset;
        k++;
    }
    batch_iter_free(&it);
    if (rc < 0 || k == 0) {
        wbuf_free(&in);
        return rc < 0 ? rc : 0;
    }
    uint8_t *z = NULL;
    size_t zl = 0;
    /* gzip at level 1: the broker's CPU for old consumers, not the best ratio (Kafka: 6) */
    rc = batch_compress(codec, codec == BATCH_CODEC_GZIP ? 1 : -1, in.data, in.len, &z, &zl);
    wbuf_free(&in);
    if (rc != BATCH_OK) return WRAP_UNFIT;
    if (codec == BATCH_CODEC_LZ4 && magic == 0) lz4_break_header(z, zl);
    size_t msz = (size_t)(magic ? MSGSET_V1_OVERHEAD : MSGSET_V0_OVERHEAD) + zl;
    if (zl > INT32_MAX || (w->len - start + msz > limit && !may_exceed)) {
        free(z);
        return WRAP_UNFIT;
    }
    uint8_t attr = (uint8_t)(codec | (magic && lat ? MSGSET_ATTR_LOG_APPEND_TIME : 0));
    put_msg(w, *last, magic, attr, lat ? it.info.max_timestamp : max_ts, NULL, -1, z, (int32_t)zl);
    free(z);
    return k;
}

int msgset_from_batches(wbuf *w, size_t start, const uint8_t *p, size_t len, int64_t from,
                        int64_t upto, int magic, size_t limit, bool min_one, int64_t *next,
                        bool *full)
{
    size_t pos = 0;
    int n = 0;
    *full = false;
    while (pos + BATCH_LOG_OVERHEAD <= len) {
        int64_t bo;
        int32_t tl;
        if (batch_peek(p + pos, len - pos, &bo, &tl) != BATCH_OK || (size_t)tl > len - pos) break;
        batch_info bi;
        if ((size_t)tl < BATCH_HEADER_SIZE || batch_parse(p + pos, (size_t)tl, &bi) != BATCH_OK)
            return BATCH_ERR_SHORT;
        if (bi.base_offset >= upto) break;
        int codec = bi.attributes & BATCH_ATTR_COMPRESSION;
        bool control = (bi.attributes & BATCH_ATTR_CONTROL) != 0;
        int64_t end = bi.base_offset + bi.last_offset_delta + 1;
        if (end > upto) end = upto;
        if (!control && codec >= BATCH_CODEC_GZIP && codec <= BATCH_CODEC_LZ4) {
            int64_t last = -1;
            int k = wrap_batch(w, start, p + pos, (size_t)tl, from, upto, magic, limit,
                               min_one && n == 0, &last);
            if (k < 0 && k != WRAP_UNFIT) return k;
            if (k >= 0) {
                n += k;
                if (end > *next) *next = end;
                pos += (size_t)tl;
                continue;
            }
            /* too big as one wrapper (or the codec failed): the records one by one */
        }
        batch_iter it;
        int rc = batch_iter_init(&it, p + pos, (size_t)tl, BATCH_INFLATE_MAX);
        if (rc != BATCH_OK) return rc;
        bool lat = (it.info.attributes & BATCH_ATTR_LOG_APPEND_TIME) != 0;
        batch_record rec;
        while ((rc = batch_iter_next(&it, &rec)) > 0) {
            if (rec.offset >= upto) break;
            if (control || rec.offset < from) {
                if (rec.offset + 1 > *next) *next = rec.offset + 1;
                continue;
            }
            size_t msz = (size_t)(magic ? MSGSET_V1_OVERHEAD : MSGSET_V0_OVERHEAD) +
                         (size_t)(rec.key_len > 0 ? rec.key_len : 0) +
                         (size_t)(rec.value_len > 0 ? rec.value_len : 0);
            if (w->len - start + msz > limit && !(min_one && n == 0)) {
                *full = true;
                batch_iter_free(&it);
                return n;
            }
            put_msg(w, rec.offset, magic, (uint8_t)(magic && lat ? MSGSET_ATTR_LOG_APPEND_TIME : 0),
                    rec.timestamp, rec.key, rec.key_len, rec.value, rec.value_len);
            n++;
            if (rec.offset + 1 > *next) *next = rec.offset + 1;
        }
        batch_iter_free(&it);
        if (rc < 0) return rc;
        if (end > *next) *next = end;
        pos += (size_t)tl;
    }
    return n;
}
