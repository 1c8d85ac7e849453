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
 * write new indexes (the .txnindex stays: control batches and offsets are kept). On open,
 * *.log.cleaned are deleted (the original is intact) and
 * *.log.swap are completed (they are whole and durable; the indexes are rebuilt).
 *
 * The cleaner runs on the caller's thread (the loop thread, from housekeeping) and blocks it
 * for the duration of a pass; segment.bytes bounds one rewrite.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "common/util.h"
#include "storage/batch.h"
#include "storage/plog.h"
#include "storage/plog_int.h"

static int g_crash_stage;
void plog_test_compact_crash_after(int stage)
{
    g_crash_stage = stage;
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

/* Every record of a data batch through fn; BATCH_OK only if the whole batch decodes. */
static int each_record(const uint8_t *b, const batch_info *bi,
                       void (*fn)(const batch_record *r, void *arg), void *arg)
{
    batch_iter it;
    batch_record r;
    int rc = batch_iter_init(&it, b, (size_t)bi->total_len, BATCH_INFLATE_MAX);
    while (rc == BATCH_OK && (rc = batch_iter_next(&it, &r)) > 0) {
        fn(&r, arg);
        rc = BATCH_OK;
    }
    batch_iter_free(&it);
    return rc;
}

/* Pass 1 collects a batch's keys first and maps them only if the whole batch decodes: a batch
 * the cleaner cannot read is kept whole, and must not make older values of its keys go. */
typedef struct keyrefs {
    batch_record *v;
    size_t n, cap;
} keyrefs;

static void collect_key(const batch_record *r, void *arg)
{
    keyrefs *k = arg;
    if (!r->key) return;
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 64;
        k->v = xrealloc(k->v, k->cap * sizeof *k->v);
    }
    k->v[k->n++] = *r;
}

static int map_batch(const uint8_t *b, const batch_info *bi, void *arg)
{
    if (bi->attributes & BATCH_ATTR_CONTROL) return 0;
    batch_iter it;
    batch_record r;
    keyrefs k = {0};
    int rc = batch_iter_init(&it, b, (size_t)bi->total_len, BATCH_INFLATE_MAX);
    while (rc == BATCH_OK && (rc = batch_iter_next(&it, &r)) > 0) {
        collect_key(&r, &k);
        rc = BATCH_OK;
    }
    if (rc == BATCH_OK) { /* the keys point into `it`: map them before it is freed */
        for (size_t i = 0; i < k.n; i++) kmap_put(arg, k.v[i].key, k.v[i].key_len, k.v[i].offset);
    } else {
        LOGW("storage", "compaction: batch at offset %" PRId64 " does not decode (%s); kept as is",
             bi->base_offset, it.why ? it.why : batch_strerror(rc));
    }
    free(k.v);
    batch_iter_free(&it);
    return 0;
}

typedef struct cleaner {
    kmap *map;
    int64_t now, delete_retention_ms;
    int64_t batch_max_ts;
    int fd;      /* output, -1 = dry run */
    int64_t out; /* bytes written */
    int64_t dropped;
    wbuf kept; /* kept raw records of the current batch */
    int32_t nkept, nseen;
} cleaner;

static void keep_rec(const batch_record *r, void *arg)
{
    cleaner *c = arg;
    c->nseen++;
    bool keep = true;
    if (r->key) {
        keep = kmap_get(c->map, r->key, r->key_len) == r->offset;
        /* age as a difference (a sum overflowed with delete.retention.ms near 2^63); a batch
         * without a real timestamp counts from the epoch */
        int64_t age = c->batch_max_ts <= 0 ? c->now : c->now - c->batch_max_ts;
        if (keep && !r->value && c->delete_retention_ms >= 0 && age > c->delete_retention_ms)
            keep = false;
    }
    if (keep) {
        wbuf_put(&c->kept, r->raw, r->raw_len);
        c->nkept++;
    } else {
        c->dropped++;
    }
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
    wbuf_reset(&c->kept);
    c->nkept = c->nseen = 0;
    c->batch_max_ts = bi->max_timestamp;
    int64_t dropped_before = c->dropped;
    if (each_record(b, bi, keep_rec, c) != BATCH_OK) {
        c->dropped = dropped_before;
        return emit(c, b, len); /* not understood: kept whole */
    }
    if (c->nkept == c->nseen) return emit(c, b, len);
    if (c->nkept == 0) return 0;
    size_t nl = BATCH_HEADER_SIZE + c->kept.len;
    uint8_t *nb = xmalloc(nl);
    memcpy(nb, b, BATCH_HEADER_SIZE);
    memcpy(nb + BATCH_HEADER_SIZE, c->kept.data, c->kept.len);
    batch_set_records(nb, nl, (int16_t)(bi->attributes & ~BATCH_ATTR_COMPRESSION), c->nkept);
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
    cleaner c = {
        .map = map, .now = now, .delete_retention_ms = l->cfg.delete_retention_ms, .fd = -1};
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
    /* markers and offsets are kept: the aborted-transaction entries (and their file) stay */
    for (int32_t k = 0; k < s->ntx; k++) pl_tx_push(ns, &s->tx[k]);
    ns->tx_ok = s->tx_ok;
    ns->tx_dirty = s->tx_dirty;
    pthread_mutex_lock(&l->mu);
    l->segs[i] = ns;
    l->seg_gen++; /* byte positions in this segment changed: the scrub restarts it */
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
    /* min.compaction.lag.ms: only the leading segments whose every record is old enough are
     * read into the key map and cleaned (Kafka's cleanable section ends there too) */
    int32_t lim = l->nsegs - 1;
    if (l->cfg.min_compaction_lag_ms > 0)
        for (int32_t i = 0; i < lim; i++)
            if (l->segs[i]->max_ts > now_ms - l->cfg.min_compaction_lag_ms) {
                lim = i;
                break;
            }
    if (lim == 0) return 0;
    kmap map = {0};
    int rc = 0;
    for (int32_t i = 0; i < lim && !rc; i++) rc = each_batch(l->segs[i], map_batch, &map);
    int n = 0;
    for (int32_t i = 0; !rc && i < lim;) {
        int64_t base = l->segs[i]->base;
        int r = clean_seg(l, i, &map, now_ms);
        if (r < 0)
            rc = r;
        else
            n += r;
        if (i < l->nsegs && l->segs[i]->base == base)
            i++;
        else
            lim--; /* removed: same index again, one fewer to clean */
    }
    kmap_free(&map);
    return rc < 0 ? rc : n;
}
