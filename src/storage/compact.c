/* compact — the log cleaner for cleanup.policy=compact (plog_compact in plog.h) and the
 * recovery of half-done segment swaps (called by plog_open).
 *
 * What is kept. Pass 1 reads every non-active segment (decompressing gzip, snappy raw or
 * xerial-framed, lz4 frame and zstd batches) and maps each key to the offset of its latest
 * record. Pass 2 rewrites each non-active segment that would change, one output segment per
 * input segment, same base offset:
 *   - a keyed record is kept iff it is the latest of its key; a latest tombstone (null value)
 *     is dropped once its batch's maxTimestamp + delete_retention_ms < now (Kafka measures the
 *     horizon from when the cleaner first saw the tombstone; the batch time is deterministic and
 *     needs no state);
 *   - null-key records, control batches and batches that cannot be decoded are kept whole
 *     (the cleaner never throws data away that it does not understand);
 *   - a batch with every record kept is copied byte for byte (compression included); a batch
 *     with none is dropped; otherwise it is re-written uncompressed: the 61-byte header is kept
 *     (baseOffset, lastOffsetDelta, timestamps, producer fields, like Kafka, so the batch's
 *     offset range and the producer's sequence range stay visible), recordsCount is set to the
 *     kept count, attributes lose the compression bits, the kept records are copied verbatim
 *     (their offsetDelta/timestampDelta stay valid because the base is unchanged), new CRC.
 *   Records keep their offsets; gaps appear where records were removed.
 *   A segment that ends up empty is removed (offsets in it are gone anyway).
 *
 * Crash safety (never lose the latest value of a key): every segment the map was built from
 * is fdatasynced first (the newer values that justify dropping older ones must be durable).
 * Then, per segment:  write <base>.log.cleaned, fdatasync  ->  rename to <base>.log.swap,
 * fsync dir  ->  unlink <base>.index/.timeindex  ->  rename .swap over <base>.log, fsync dir ->
 * write new indexes. On open, *.log.cleaned are deleted (the original is intact) and
 * *.log.swap are completed (they are whole and durable; the indexes are rebuilt).
 *
 * The cleaner runs on the caller's thread (the loop thread, from housekeeping) and blocks it
 * for the duration of a pass; segment.bytes bounds one rewrite.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "common/util.h"
#include "storage/batch.h"
#include "storage/plog.h"
#include "storage/plog_int.h"

#define MAX_INFLATE (256u << 20) /* decompressed bytes per batch */

static int g_crash_stage;
void plog_test_compact_crash_after(int stage) { g_crash_stage = stage; }

/* ------------------------------------------------------------------ decompression ---- */

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    if (need > MAX_INFLATE) return -1;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    if (c > MAX_INFLATE) c = MAX_INFLATE;
    *buf = xrealloc(*buf, c);
    *cap = c;
    return 0;
}

static int un_gzip(const uint8_t *in, size_t n, uint8_t **out, size_t *olen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) return -1;
    uint8_t *b = NULL;
    size_t cap = 0, len = 0;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    int rc;
    do {
        if (grow(&b, &cap, len + 65536) < 0) {
            rc = Z_MEM_ERROR;
            break;
        }
        z.next_out = b + len;
        z.avail_out = (uInt)(cap - len);
        rc = inflate(&z, Z_NO_FLUSH);
        len = cap - z.avail_out;
    } while (rc == Z_OK);
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(b);
        return -1;
    }
    *out = b;
    *olen = len;
    return 0;
}

static int un_snappy_block(const uint8_t *in, size_t n, uint8_t **b, size_t *cap, size_t *len)
{
    size_t ul;
    if (snappy_uncompressed_length((const char *)in, n, &ul) != SNAPPY_OK) return -1;
    if (grow(b, cap, *len + ul + 1) < 0) return -1;
    if (snappy_uncompress((const char *)in, n, (char *)*b + *len, &ul) != SNAPPY_OK) return -1;
    *len += ul;
    return 0;
}

/* Raw snappy (librdkafka) or xerial framing (Java): magic(8) version(4) compat(4), then
 * blocks of { int32 length, raw snappy }. */
static int un_snappy(const uint8_t *in, size_t n, uint8_t **out, size_t *olen)
{
    static const uint8_t xerial[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
    uint8_t *b = NULL;
    size_t cap = 0, len = 0;
    if (n >= 16 && !memcmp(in, xerial, 8)) {
        size_t pos = 16;
        while (pos < n) {
            if (n - pos < 4) goto fail;
            uint32_t bl = be32(in + pos);
            pos += 4;
            if (bl > n - pos || un_snappy_block(in + pos, bl, &b, &cap, &len) < 0) goto fail;
            pos += bl;
        }
    } else if (un_snappy_block(in, n, &b, &cap, &len) < 0) {
        goto fail;
    }
    *out = b;
    *olen = len;
    return 0;
fail:
    free(b);
    return -1;
}

static int un_lz4(const uint8_t *in, size_t n, uint8_t **out, size_t *olen)
{
    LZ4F_dctx *d;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION))) return -1;
    uint8_t *b = NULL;
    size_t cap = 0, len = 0, pos = 0;
    bool ok = false;
    for (;;) {
        if (grow(&b, &cap, len + 65536) < 0) break;
        size_t dst = cap - len, src = n - pos;
        size_t r = LZ4F_decompress(d, b + len, &dst, in + pos, &src, NULL);
        if (LZ4F_isError(r)) break;
        len += dst;
        pos += src;
        if (r == 0) { /* frame complete */
            ok = pos == n;
            break;
        }
        if (dst == 0 && src == 0) break; /* no progress: truncated frame */
    }
    LZ4F_freeDecompressionContext(d);
    if (!ok) {
        free(b);
        return -1;
    }
    *out = b;
    *olen = len;
    return 0;
}

static int un_zstd(const uint8_t *in, size_t n, uint8_t **out, size_t *olen)
{
    ZSTD_DStream *ds = ZSTD_createDStream();
    if (!ds) return -1;
    ZSTD_initDStream(ds);
    uint8_t *b = NULL;
    size_t cap = 0, len = 0;
    bool ok = false;
    ZSTD_inBuffer ib = {in, n, 0};
    for (;;) {
        if (grow(&b, &cap, len + 65536) < 0) break;
        ZSTD_outBuffer ob = {b + len, cap - len, 0};
        size_t before = ib.pos;
        size_t r = ZSTD_decompressStream(ds, &ob, &ib);
        if (ZSTD_isError(r)) break;
        len += ob.pos;
        if (r == 0 && ib.pos == ib.size) {
            ok = true;
            break;
        }
        if (ob.pos == 0 && ib.pos == before) break; /* no progress: truncated frame */
    }
    ZSTD_freeDStream(ds);
    if (!ok) {
        free(b);
        return -1;
    }
    *out = b;
    *olen = len;
    return 0;
}

/* The records section of a batch, decompressed when needed (*owned then set). */
int pl_batch_records(const uint8_t *b, size_t len, int codec, const uint8_t **recs,
                               size_t *rlen, uint8_t **owned)
{
    *owned = NULL;
    if (len < BATCH_HEADER_SIZE) return -1;
    const uint8_t *in = b + BATCH_HEADER_SIZE;
    size_t n = len - BATCH_HEADER_SIZE;
    int rc;
    switch (codec) {
    case 0:
        *recs = in;
        *rlen = n;
        return 0;
    case 1: rc = un_gzip(in, n, owned, rlen); break;
    case 2: rc = un_snappy(in, n, owned, rlen); break;
    case 3: rc = un_lz4(in, n, owned, rlen); break;
    case 4: rc = un_zstd(in, n, owned, rlen); break;
    default: return -1;
    }
    if (rc == 0) *recs = *owned;
    return rc;
}

/* ------------------------------------------------------------------ records ---- */

/* Splits a records section into `count` records. Returns 0 or -1 on malformed bytes. */
int pl_each_record(const uint8_t *p, size_t n, int32_t count, int64_t base,
                       int (*fn)(const rec_view *r, void *arg), void *arg)
{
    rbuf r = rbuf_make(p, n);
    for (int32_t i = 0; i < count; i++) {
        const uint8_t *start = r.p;
        int32_t rl = rbuf_varint(&r);
        if (r.err || rl < 0 || (size_t)rl > rbuf_left(&r)) return -1;
        rbuf body = rbuf_make(r.p, (size_t)rl);
        rbuf_skip(&r, (size_t)rl);
        rec_view v;
        rbuf_i8(&body);
        rbuf_varlong(&body);
        int32_t od = rbuf_varint(&body);
        int32_t kl = rbuf_varint(&body);
        v.key = NULL;
        v.klen = -1;
        if (kl >= 0) {
            v.key = rbuf_take(&body, (size_t)kl);
            v.klen = kl;
        } else if (kl != -1) {
            return -1;
        }
        int32_t vl = rbuf_varint(&body);
        if (body.err || vl < -1) return -1;
        v.tomb = vl < 0;
        v.offset = base + od;
        v.raw = start;
        v.rawlen = (size_t)(r.p - start);
        int rc = fn(&v, arg);
        if (rc) return rc;
    }
    return r.err ? -1 : 0;
}

/* ------------------------------------------------------------------ key map ---- */

typedef struct kent {
    uint8_t *key; /* NULL = empty slot */
    int32_t klen;
    uint64_t h;
    int64_t off;
} kent;

typedef struct kmap {
    kent *v;
    size_t cap, n;
} kmap;

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static kent *kmap_find(kmap *m, const uint8_t *k, int32_t kl, uint64_t h)
{
    size_t i = h & (m->cap - 1);
    for (;;) {
        kent *e = &m->v[i];
        if (!e->key || (e->h == h && e->klen == kl && !memcmp(e->key, k, (size_t)kl))) return e;
        i = (i + 1) & (m->cap - 1);
    }
}

static void kmap_put(kmap *m, const uint8_t *k, int32_t kl, int64_t off)
{
    if ((m->n + 1) * 10 > m->cap * 7) {
        kmap old = *m;
        m->cap = old.cap ? old.cap * 2 : 1024;
        m->v = xcalloc(m->cap, sizeof *m->v);
        m->n = 0;
        for (size_t i = 0; i < old.cap; i++) {
            if (!old.v[i].key) continue;
            kent *e = kmap_find(m, old.v[i].key, old.v[i].klen, old.v[i].h);
            *e = old.v[i];
            m->n++;
        }
        free(old.v);
    }
    uint64_t h = fnv(k, (size_t)kl);
    kent *e = kmap_find(m, k, kl, h);
    if (!e->key) {
        e->key = xmalloc(kl > 0 ? (size_t)kl : 1);
        if (kl > 0) memcpy(e->key, k, (size_t)kl);
        e->klen = kl;
        e->h = h;
        e->off = off;
        m->n++;
    } else if (off > e->off) {
        e->off = off;
    }
}

static int64_t kmap_get(kmap *m, const uint8_t *k, int32_t kl)
{
    if (!m->cap) return -1;
    kent *e = kmap_find(m, k, kl, fnv(k, (size_t)kl));
    return e->key ? e->off : -1;
}

static void kmap_free(kmap *m)
{
    for (size_t i = 0; i < m->cap; i++) free(m->v[i].key);
    free(m->v);
}

/* ------------------------------------------------------------------ passes ---- */

/* Calls fn(batch bytes, info) for every batch of s; returns -errno on a read error. */
static int each_batch(seg *s, int (*fn)(const uint8_t *b, const batch_info *bi, void *arg),
                      void *arg)
{
    pl_scanner sc;
    pl_scan_init(&sc, s->fd, s->size, 1 << 20);
    int64_t pos = 0;
    int rc = 0;
    while (pos < s->size) {
        const uint8_t *h = pl_scan_get(&sc, pos, BATCH_HEADER_SIZE);
        batch_info bi;
        if (!h || batch_parse(h, BATCH_HEADER_SIZE, &bi) != BATCH_OK) {
            rc = -EIO;
            break;
        }
        const uint8_t *b = pl_scan_get(&sc, pos, (size_t)bi.total_len);
        if (!b) {
            rc = -EIO;
            break;
        }
        rc = fn(b, &bi, arg);
        if (rc) break;
        pos += bi.total_len;
    }
    pl_scan_free(&sc);
    return rc;
}

static int map_rec(const rec_view *r, void *arg)
{
    if (r->key) kmap_put(arg, r->key, r->klen, r->offset);
    return 0;
}

static int map_batch(const uint8_t *b, const batch_info *bi, void *arg)
{
    if (bi->attributes & BATCH_ATTR_CONTROL) return 0;
    const uint8_t *recs;
    size_t rl;
    uint8_t *owned;
    if (pl_batch_records(b, (size_t)bi->total_len, bi->attributes & BATCH_ATTR_COMPRESSION,
                            &recs, &rl, &owned) == 0) {
        if (pl_each_record(recs, rl, bi->records_count, bi->base_offset, map_rec, arg) < 0)
            LOGW("storage", "compaction: undecodable records in batch at offset %" PRId64
                 " (kept as is)", bi->base_offset);
    }
    free(owned);
    return 0;
}

typedef struct cleaner {
    kmap *map;
    int64_t now, delete_retention_ms;
    int64_t batch_max_ts;
    int fd;        /* output, -1 = dry run */
    int64_t out;   /* bytes written */
    int64_t dropped;
    wbuf kept;     /* kept raw records of the current batch */
    int32_t nkept, nseen;
} cleaner;

static int keep_rec(const rec_view *r, void *arg)
{
    cleaner *c = arg;
    c->nseen++;
    bool keep = true;
    if (r->key) {
        keep = kmap_get(c->map, r->key, r->klen) == r->offset;
        if (keep && r->tomb && c->delete_retention_ms >= 0 &&
            c->batch_max_ts + c->delete_retention_ms < c->now)
            keep = false;
    }
    if (keep) {
        wbuf_put(&c->kept, r->raw, r->rawlen);
        c->nkept++;
    } else {
        c->dropped++;
    }
    return 0;
}

static int emit(cleaner *c, const void *p, size_t n)
{
    if (c->fd >= 0) {
        int rc = pl_pwrite_all(c->fd, p, n, c->out);
        if (rc) return rc;
    }
    c->out += (int64_t)n;
    return 0;
}

static int clean_batch(const uint8_t *b, const batch_info *bi, void *arg)
{
    cleaner *c = arg;
    size_t len = (size_t)bi->total_len;
    if (bi->attributes & BATCH_ATTR_CONTROL) return emit(c, b, len);
    const uint8_t *recs;
    size_t rl;
    uint8_t *owned;
    wbuf_reset(&c->kept);
    c->nkept = c->nseen = 0;
    c->batch_max_ts = bi->max_timestamp;
    int64_t dropped_before = c->dropped;
    if (pl_batch_records(b, len, bi->attributes & BATCH_ATTR_COMPRESSION, &recs, &rl,
                            &owned) < 0 ||
        pl_each_record(recs, rl, bi->records_count, bi->base_offset, keep_rec, c) < 0) {
        free(owned);
        c->dropped = dropped_before;
        return emit(c, b, len); /* not understood: kept whole */
    }
    free(owned);
    if (c->nkept == c->nseen) return emit(c, b, len);
    if (c->nkept == 0) return 0;
    size_t nl = BATCH_HEADER_SIZE + c->kept.len;
    uint8_t *nb = xmalloc(nl);
    memcpy(nb, b, BATCH_HEADER_SIZE);
    memcpy(nb + BATCH_HEADER_SIZE, c->kept.data, c->kept.len);
    put_be32(nb + 8, (uint32_t)(nl - BATCH_LOG_OVERHEAD));
    put_be16(nb + 21, (uint16_t)(bi->attributes & ~BATCH_ATTR_COMPRESSION));
    put_be32(nb + 57, (uint32_t)c->nkept);
    batch_update_crc(nb, nl);
    int rc = emit(c, nb, nl);
    free(nb);
    return rc;
}

/* Opens the segment file at s->path + ".log" and indexes it by a full scan. */
static seg *reload_seg(plog *l, int64_t base, int *rc)
{
    seg *s = pl_seg_new(l->dir, base);
    char *p = pl_seg_file(s, ".log");
    s->fd = open(p, O_RDWR | O_CLOEXEC);
    free(p);
    struct stat st;
    if (s->fd < 0 || fstat(s->fd, &st) < 0) {
        *rc = -errno;
        pl_seg_unref(s);
        return NULL;
    }
    const char *why;
    /* INT64_MAX: a sealed segment (gaps allowed), whose next segment starts later */
    s->size = pl_seg_scan(s, l->cfg.index_interval_bytes, 0, st.st_size, INT64_MAX, &why);
    s->alloc = st.st_size;
    s->synced = s->wb_pos = s->drop_pos = s->size;
    s->idx_dirty = true;
    pl_seg_write_indexes(s);
    *rc = 0;
    return s;
}

/* Rewrites segs[i]; returns 1 if replaced/removed, 0 if unchanged, -errno. */
static int clean_seg(plog *l, int32_t i, kmap *map, int64_t now)
{
    seg *s = l->segs[i];
    cleaner c = {.map = map, .now = now, .delete_retention_ms = l->cfg.delete_retention_ms,
                 .fd = -1};
    wbuf_init(&c.kept, 0);
    int rc = each_batch(s, clean_batch, &c);
    if (rc || c.dropped == 0) {
        wbuf_free(&c.kept);
        return rc;
    }
    char *cleaned = pl_seg_file(s, ".log.cleaned"), *swap = pl_seg_file(s, ".log.swap");
    char *logp = pl_seg_file(s, ".log");
    int64_t dropped = c.dropped;
    c.fd = open(cleaned, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (c.fd < 0) {
        rc = -errno;
        goto out;
    }
    c.out = 0;
    c.dropped = 0;
    rc = each_batch(s, clean_batch, &c);
    if (!rc && fdatasync(c.fd) < 0) rc = -errno;
    close(c.fd);
    if (rc) {
        unlink(cleaned);
        goto out;
    }
    if (g_crash_stage == 1) {
        rc = -EINTR;
        goto out;
    }
    if (c.out == 0) {
        /* nothing left: the segment goes (never the active one) */
        unlink(cleaned);
        pthread_mutex_lock(&l->mu);
        memmove(l->segs + i, l->segs + i + 1, (size_t)(l->nsegs - i - 1) * sizeof *l->segs);
        l->nsegs--;
        pthread_mutex_unlock(&l->mu);
        pl_seg_unlink_files(s);
        pl_seg_unref(s);
        if (l->segs[0]->base > l->start) l->start = l->segs[0]->base;
        LOGI("storage", "%s: compaction removed every record (%" PRId64 ")", logp, dropped);
        rc = 1;
        goto out;
    }
    if (rename(cleaned, swap) < 0) {
        rc = -errno;
        unlink(cleaned);
        goto out;
    }
    fsync_dir(l->dir);
    if (g_crash_stage == 2) {
        rc = -EINTR;
        goto out;
    }
    char *ip = pl_seg_file(s, ".index"), *tp = pl_seg_file(s, ".timeindex");
    unlink(ip);
    unlink(tp);
    free(ip);
    free(tp);
    if (rename(swap, logp) < 0) {
        rc = -errno; /* the .swap is completed by the next open */
        goto out;
    }
    fsync_dir(l->dir);
    seg *ns = reload_seg(l, s->base, &rc);
    if (!ns) goto out;
    pthread_mutex_lock(&l->mu);
    l->segs[i] = ns;
    pthread_mutex_unlock(&l->mu);
    pl_seg_unref(s); /* dup()ed readers keep the old bytes */
    LOGD("storage", "%s: compacted, %" PRId64 " records dropped", logp, dropped);
    rc = 1;
out:
    wbuf_free(&c.kept);
    free(cleaned);
    free(swap);
    free(logp);
    return rc;
}

int plog_compact(plog *l, int64_t now_ms)
{
    if (!(l->cfg.cleanup_policy & PLOG_CLEANUP_COMPACT) || l->nsegs < 2) return 0;
    /* the newer values that justify dropping older ones must be durable first */
    for (int32_t i = 0; i < l->nsegs - 1; i++) {
        seg *s = l->segs[i];
        pthread_mutex_lock(&l->mu);
        bool dirty = s->synced < s->size;
        pthread_mutex_unlock(&l->mu);
        if (dirty) {
            if (fdatasync(s->fd) < 0) return -errno;
            pthread_mutex_lock(&l->mu);
            s->synced = s->size;
            pthread_mutex_unlock(&l->mu);
        }
    }
    kmap map = {0};
    int rc = 0;
    for (int32_t i = 0; i < l->nsegs - 1 && !rc; i++) rc = each_batch(l->segs[i], map_batch, &map);
    int n = 0;
    for (int32_t i = 0; !rc && i < l->nsegs - 1;) {
        int64_t base = l->segs[i]->base;
        int r = clean_seg(l, i, &map, now_ms);
        if (r < 0) rc = r;
        else n += r;
        if (i < l->nsegs && l->segs[i]->base == base) i++; /* else removed: same index again */
    }
    kmap_free(&map);
    return rc < 0 ? rc : n;
}
