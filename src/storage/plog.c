/* plog — one partition's log: segments of RecordBatch v2 bytes, sparse offset/time indexes,
 * append with roll, zero-copy reads, retention, DeleteRecords and crash recovery on open.
 * The flush thread is in flush.c, the cleaner in compact.c; shared structs in plog_int.h.
 *
 * Write path (perf-notes.md): fresh page-cache pages are expensive on this machine, so the
 * active segment keeps a bounded cache footprint ("drop-behind"): every DB_CHUNK bytes the
 * writer starts asynchronous writeback of the chunk (sync_file_range WRITE, never waits), and
 * pages older than the newest 32 MiB (plog_set_drop_behind) are dropped (POSIX_FADV_DONTNEED
 * skips pages still dirty or under writeback, so nothing blocks and nothing unsynced is lost).
 * Tailing readers read the newest 32 MiB from the cache. With cfg.preallocate the segment file
 * is grown by fallocate in steps that double from 64 KiB to 64 MiB (no size change per append,
 * so small fdatasyncs skip most of the journal work); the tail is cut back at roll and close,
 * and recovery treats a zero batchLength as the end of the log.
 * Measured with bench/storage/bench_plog.c (eddy-bench-plog /var/tmp 1024 16), 16 KiB batches:
 * plain 330/521 MB/s vs drop-behind 1284/1023 MB/s (two runs each); 4 KiB append + fdatasync
 * one at a time p50 340 us growing vs 237 us preallocated.
 *
 * Recovery rules (plog_open):
 *  - the last segment is always re-scanned batch by batch: at least 12 bytes, batchLength >= 49
 *    and inside the file, magic 2, CRC-32C over 21..end, baseOffset >= the previous batch's
 *    next offset (and >= the segment base), last offset below the next segment's base, relative
 *    offsets fit int32. The file is cut at the first batch that fails (logged with the byte
 *    count cut); a zero batchLength is the end of a preallocated tail (cut quietly).
 *  - other segments: their index files are validated (entry sizes, strictly increasing, inside
 *    the file, the indexed batch header has the indexed offset) and the batches after the last
 *    index entry are re-checked; anything off -> full scan + index rebuild as above.
 *  - a corrupt NON-last segment is cut at its first bad batch and the later segments are KEPT
 *    (logged at ERROR with the offset gap): they are fsynced, CRC-valid, acknowledged data, and
 *    an offset gap is something every consumer already handles (compacted topics have them).
 *    Kafka instead deletes everything after the cut; we prefer losing only the bad bytes.
 *  - an empty non-last segment is removed; stray *.tmp / *.cleaned files are removed, *.swap
 *    files (compaction) are completed, see compact.c.
 */
#include "storage/plog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
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
#include "storage/plog_int.h"

#define DB_CHUNK (8LL << 20)
static int64_t g_db_keep = 32LL << 20; /* DB_KEEP; 0 = drop-behind off */

void plog_set_drop_behind(int64_t keep_bytes)
{
    g_db_keep = keep_bytes > 0 ? keep_bytes : 0;
}
#define PREALLOC_STEP (64LL << 20)
#define PREALLOC_MIN (64LL << 10)
#define SCAN_BUF (1 << 20)

static void quar_load(plog *l); /* reads */

/* ------------------------------------------------------------------ test hooks ---- */

static int g_fail_errno;
static int g_fail_partial;

void plog_test_fail_next_write(int err, int partial_bytes)
{
    g_fail_errno = err;
    g_fail_partial = partial_bytes;
}

/* ------------------------------------------------------------------ registry ---- */

static pthread_mutex_t g_reg_mu = PTHREAD_MUTEX_INITIALIZER;
static plog g_reg = {.reg_prev = &g_reg, .reg_next = &g_reg};

static void reg_add(plog *l)
{
    pthread_mutex_lock(&g_reg_mu);
    l->reg_next = &g_reg;
    l->reg_prev = g_reg.reg_prev;
    g_reg.reg_prev->reg_next = l;
    g_reg.reg_prev = l;
    pthread_mutex_unlock(&g_reg_mu);
}

static void reg_del(plog *l)
{
    pthread_mutex_lock(&g_reg_mu);
    if (l->reg_next) {
        l->reg_prev->reg_next = l->reg_next;
        l->reg_next->reg_prev = l->reg_prev;
        l->reg_next = l->reg_prev = NULL;
    }
    pthread_mutex_unlock(&g_reg_mu);
}

bool plog_is_dirty(plog *l)
{
    return __atomic_load_n(&l->durable, __ATOMIC_ACQUIRE) <
           __atomic_load_n(&l->leo, __ATOMIC_ACQUIRE);
}

void plog_registry_each_dirty(void (*fn)(plog *l, void *arg), void *arg)
{
    plog **v = NULL;
    size_t n = 0, a = 0;
    pthread_mutex_lock(&g_reg_mu);
    for (plog *l = g_reg.reg_next; l != &g_reg; l = l->reg_next) {
        if (!plog_is_dirty(l)) continue;
        if (n == a) {
            a = a ? a * 2 : 16;
            v = xrealloc(v, a * sizeof *v);
        }
        plog_ref(l);
        v[n++] = l;
    }
    pthread_mutex_unlock(&g_reg_mu);
    for (size_t i = 0; i < n; i++) {
        fn(v[i], arg);
        plog_unref(v[i]);
    }
    free(v);
}

/* ------------------------------------------------------------------ small io ---- */

int pl_pwrite_all(int fd, const void *p, size_t n, int64_t off)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = pwrite(fd, b, n, off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (w == 0) return -EIO;
        b += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

static int pread_all(int fd, void *p, size_t n, int64_t off)
{
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = pread(fd, b, n, off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (r == 0) return -EIO;
        b += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}


void pl_scan_init(pl_scanner *s, int fd, int64_t limit, size_t cap)
{
    s->fd = fd;
    s->limit = limit;
    s->cap = cap;
    s->buf = xmalloc(cap);
    s->bpos = 0;
    s->blen = 0;
}

void pl_scan_free(pl_scanner *s)
{
    free(s->buf);
}

/* n bytes at pos, or NULL when the file (limit) has fewer or on a read error. */
const uint8_t *pl_scan_get(pl_scanner *s, int64_t pos, size_t n)
{
    if (pos < 0 || (int64_t)n > s->limit - pos) return NULL;
    if (pos >= s->bpos && pos + (int64_t)n <= s->bpos + (int64_t)s->blen)
        return s->buf + (pos - s->bpos);
    if (n > s->cap) {
        free(s->buf);
        s->cap = n;
        s->buf = xmalloc(n);
    }
    size_t want = s->cap;
    if ((int64_t)want > s->limit - pos) want = (size_t)(s->limit - pos);
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(s->fd, s->buf + got, want - got, pos + (int64_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    s->bpos = pos;
    s->blen = got;
    return got >= n ? s->buf : NULL;
}

/* ------------------------------------------------------------------ segments ---- */

void pl_seg_ref(seg *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
}

static void seg_free(seg *s)
{
    if (s->fd >= 0) close(s->fd);
    free(s->idx);
    free(s->tidx);
    free(s->tx);
    free(s->path);
    free(s);
}

void pl_seg_unref(seg *s)
{
    if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) seg_free(s);
}

char *pl_seg_file(const seg *s, const char *ext)
{
    return xasprintf("%s%s", s->path, ext);
}

seg *pl_seg_new(const char *dir, int64_t base)
{
    seg *s = xcalloc(1, sizeof *s);
    s->base = base;
    s->path = xasprintf("%s/%020" PRId64, dir, base);
    s->fd = -1;
    s->next_off = base;
    s->max_ts = -1;
    s->max_ts_off = -1;
    s->created_ms = -1;
    s->refs = 1;
    return s;
}

void pl_seg_verified(seg *s, int64_t lo, int64_t hi)
{
    if (hi <= lo) return;
    /* absorb every range that overlaps or touches [lo, hi) */
    int32_t j = 0;
    for (int32_t i = 0; i < s->nvr; i++) {
        if (s->vr[i].hi < lo || s->vr[i].lo > hi) {
            s->vr[j++] = s->vr[i];
            continue;
        }
        if (s->vr[i].lo < lo) lo = s->vr[i].lo;
        if (s->vr[i].hi > hi) hi = s->vr[i].hi;
    }
    s->nvr = j;
    if (s->nvr == SEG_VR_MAX) {
        int32_t k = 0;
        for (int32_t i = 1; i < s->nvr; i++)
            if (s->vr[i].hi - s->vr[i].lo < s->vr[k].hi - s->vr[k].lo) k = i;
        if (s->vr[k].hi - s->vr[k].lo >= hi - lo) return;
        s->vr[k] = s->vr[--s->nvr];
    }
    s->vr[s->nvr].lo = lo;
    s->vr[s->nvr].hi = hi;
    s->nvr++;
}

static bool seg_is_verified(const seg *s, int64_t lo, int64_t hi)
{
    for (int32_t i = 0; i < s->nvr; i++)
        if (s->vr[i].lo <= lo && hi <= s->vr[i].hi) return true;
    return false;
}

static void idx_push(seg *s, int32_t rel, int32_t pos)
{
    if (s->nidx > 0 && s->idx[s->nidx - 1].rel == rel) return;
    if (s->nidx == s->aidx) {
        s->aidx = s->aidx ? s->aidx * 2 : 64;
        s->idx = xrealloc(s->idx, (size_t)s->aidx * sizeof *s->idx);
    }
    s->idx[s->nidx].rel = rel;
    s->idx[s->nidx].pos = pos;
    s->nidx++;
    s->idx_dirty = true;
}

static void tidx_push(seg *s, int64_t ts, int32_t rel)
{
    if (s->ntidx > 0 && s->tidx[s->ntidx - 1].ts >= ts) return;
    if (s->ntidx > 0 && s->tidx[s->ntidx - 1].rel == rel) {
        s->tidx[s->ntidx - 1].ts = ts;
        s->idx_dirty = true;
        return;
    }
    if (s->ntidx == s->atidx) {
        s->atidx = s->atidx ? s->atidx * 2 : 64;
        s->tidx = xrealloc(s->tidx, (size_t)s->atidx * sizeof *s->tidx);
    }
    s->tidx[s->ntidx].ts = ts;
    s->tidx[s->ntidx].rel = rel;
    s->ntidx++;
    s->idx_dirty = true;
}

/* Accounts one batch that now sits at `pos` (indexes, timestamps, next offset). The size
 * itself is updated by the caller (under the plog mutex for the active segment). */
static void seg_note_batch(seg *s, int32_t interval, int64_t pos, const batch_info *bi)
{
    int32_t rel = (int32_t)(bi->base_offset - s->base);
    if (s->nidx == 0 || s->since_idx >= interval) {
        idx_push(s, rel, (int32_t)pos);
        s->since_idx = 0;
        int64_t ts = bi->max_timestamp > s->max_ts ? bi->max_timestamp : s->max_ts;
        if (ts >= 0) tidx_push(s, ts, rel);
    }
    s->since_idx += bi->total_len;
    if (bi->max_timestamp > s->max_ts) {
        s->max_ts = bi->max_timestamp;
        s->max_ts_off = bi->base_offset;
    }
    if (s->created_ms < 0) s->created_ms = now_wall_ms();
    s->next_off = bi->base_offset + bi->last_offset_delta + 1;
}

/* Records the segment's final max timestamp in the time index (Kafka does the same when a
 * segment becomes inactive) so that time retention and lookups see the whole segment. */
static void seg_seal_tidx(seg *s)
{
    if (s->max_ts >= 0 && s->max_ts_off >= s->base)
        tidx_push(s, s->max_ts, (int32_t)(s->max_ts_off - s->base));
}

/* Writes both index files whole from memory. Errors are logged: an index that did not make it
 * to disk is rebuilt by the next open. */
void pl_seg_write_indexes(seg *s)
{
    if (!s->idx_dirty) return;
    static const char *exts[2] = {".index", ".timeindex"};
    for (int k = 0; k < 2; k++) {
        size_t n = k == 0 ? (size_t)s->nidx * IDX_ENTRY : (size_t)s->ntidx * TIDX_ENTRY;
        uint8_t *b = xmalloc(n ? n : 1);
        if (k == 0) {
            for (int32_t i = 0; i < s->nidx; i++) {
                put_be32(b + i * IDX_ENTRY, (uint32_t)s->idx[i].rel);
                put_be32(b + i * IDX_ENTRY + 4, (uint32_t)s->idx[i].pos);
            }
        } else {
            for (int32_t i = 0; i < s->ntidx; i++) {
                put_be64(b + i * TIDX_ENTRY, (uint64_t)s->tidx[i].ts);
                put_be32(b + i * TIDX_ENTRY + 8, (uint32_t)s->tidx[i].rel);
            }
        }
        char *p = pl_seg_file(s, exts[k]);
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        int rc = fd < 0 ? -errno : pl_pwrite_all(fd, b, n, 0);
        if (!rc && ftruncate(fd, (off_t)n) < 0) rc = -errno;
        if (fd >= 0) close(fd);
        if (rc) LOGW("storage", "cannot write %s: %s (rebuilt on next open)", p, strerror(-rc));
        free(p);
        free(b);
    }
    s->idx_dirty = false;
}

/* Cuts a preallocated tail back to the logical end. */
static void seg_trim(seg *s)
{
    if (s->fd >= 0 && s->alloc > s->size) {
        if (ftruncate(s->fd, s->size) == 0) s->alloc = s->size;
    }
}

void pl_seg_unlink_files(seg *s)
{
    static const char *exts[4] = {".log", ".index", ".timeindex", ".txnindex"};
    for (int k = 0; k < 4; k++) {
        char *p = pl_seg_file(s, exts[k]);
        unlink(p);
        free(p);
    }
}

/* ------------------------------------------------------------------ recovery ---- */

/* Scans batches from `pos` (offset `expect` next) and appends index entries. Stops at the first
 * bad batch or the end. Returns the position where valid data ends; *why names the reason
 * (NULL = clean end of file, "zero" = zero batchLength). */
int64_t pl_seg_scan(seg *s, int32_t interval, int64_t pos, int64_t file_size, int64_t next_base,
                    const char **why)
{
    pl_scanner sc;
    pl_scan_init(&sc, s->fd, file_size, SCAN_BUF);
    *why = NULL;
    int64_t expect = s->next_off, from = pos;
    while (pos < file_size) {
        const uint8_t *h = pl_scan_get(&sc, pos, BATCH_LOG_OVERHEAD);
        if (!h) {
            *why = "torn batch header";
            break;
        }
        int64_t hbase;
        int32_t htotal;
        if (batch_peek(h, BATCH_LOG_OVERHEAD, &hbase, &htotal) != BATCH_OK) {
            /* a zero length is what preallocated space past the last batch reads as */
            *why = htotal == 0 ? "zero" : "insane batch length";
            break;
        }
        if ((int64_t)htotal > file_size - pos) {
            *why = "torn batch (length past the end of the file)";
            break;
        }
        size_t total = (size_t)htotal;
        const uint8_t *p = pl_scan_get(&sc, pos, total);
        batch_info bi;
        if (!p) {
            *why = "read error";
            break;
        }
        if (batch_parse(p, total, &bi) != BATCH_OK) {
            *why = "bad magic";
            break;
        }
        if (!batch_crc_ok(p, total)) {
            *why = "CRC mismatch";
            break;
        }
        int64_t last = bi.base_offset + (int64_t)bi.last_offset_delta;
        /* the last segment is never compacted: its batches are contiguous (baseOffset is
         * outside the CRC, so this is what catches a damaged one) */
        if (bi.last_offset_delta < 0 || bi.base_offset < expect ||
            (next_base < 0 && bi.base_offset != expect) || last - s->base > INT32_MAX ||
            (next_base >= 0 && last >= next_base) || pos + (int64_t)total > INT32_MAX) {
            *why = "offsets out of order";
            break;
        }
        seg_note_batch(s, interval, pos, &bi);
        expect = s->next_off;
        pos += (int64_t)total;
    }
    pl_scan_free(&sc);
    pl_seg_verified(s, from, pos); /* every batch CRC-checked */
    return pos;
}

/* Loads and checks the index files of a closed segment; on success fills idx/tidx, size,
 * next_off and max_ts (re-checking the batches after the last index entry). */
static bool seg_load_indexes(seg *s, const plog_config *cfg, int64_t file_size, int64_t next_base)
{
    bool ok = false;
    size_t n1 = 0, n2 = 0;
    char *p1 = pl_seg_file(s, ".index"), *p2 = pl_seg_file(s, ".timeindex");
    uint8_t *b1 = (uint8_t *)read_file_all(p1, &n1);
    uint8_t *b2 = (uint8_t *)read_file_all(p2, &n2);
    if (!b1 || !b2 || n1 == 0 || n1 % IDX_ENTRY || n2 % TIDX_ENTRY) goto out;
    for (size_t i = 0; i < n1 / IDX_ENTRY; i++) {
        int32_t rel = (int32_t)be32(b1 + i * IDX_ENTRY);
        int32_t pos = (int32_t)be32(b1 + i * IDX_ENTRY + 4);
        if (rel < 0 || pos < 0 || pos >= file_size) goto out;
        if (i == 0 && pos != 0) goto out;
        if (i > 0 && (rel <= s->idx[s->nidx - 1].rel || pos <= s->idx[s->nidx - 1].pos)) goto out;
        idx_push(s, rel, pos);
    }
    for (size_t i = 0; i < n2 / TIDX_ENTRY; i++) {
        int64_t ts = (int64_t)be64(b2 + i * TIDX_ENTRY);
        int32_t rel = (int32_t)be32(b2 + i * TIDX_ENTRY + 8);
        if (rel < 0 ||
            (s->ntidx > 0 && (ts <= s->tidx[s->ntidx - 1].ts || rel < s->tidx[s->ntidx - 1].rel)))
            goto out;
        tidx_push(s, ts, rel);
    }
    /* the indexed batch must carry the indexed offset; then re-check the tail */
    idx_ent last = s->idx[s->nidx - 1];
    uint8_t h[BATCH_HEADER_SIZE];
    batch_info bi;
    if (pread_all(s->fd, h, sizeof h, last.pos) < 0 || batch_parse(h, sizeof h, &bi) != BATCH_OK ||
        bi.base_offset != s->base + last.rel)
        goto out;
    /* rescan from the last entry: recompute since_idx/next_off/max_ts from there */
    int32_t keep_n = s->nidx, keep_t = s->ntidx;
    s->next_off = s->base + last.rel;
    s->since_idx = 0;
    const char *why;
    int64_t end = pl_seg_scan(s, cfg->index_interval_bytes, last.pos, file_size, next_base, &why);
    if (why && strcmp(why, "zero") != 0) goto out;
    s->size = end;
    if (s->ntidx > 0 && s->tidx[s->ntidx - 1].ts > s->max_ts) {
        s->max_ts = s->tidx[s->ntidx - 1].ts;
        s->max_ts_off = s->base + s->tidx[s->ntidx - 1].rel;
    }
    (void)keep_t;
    s->idx_dirty = (s->nidx != keep_n) || (s->ntidx * TIDX_ENTRY != (int32_t)n2);
    ok = true;
out:
    if (!ok) {
        s->nidx = s->ntidx = 0;
        s->since_idx = 0;
        s->next_off = s->base;
        s->max_ts = s->max_ts_off = -1;
        s->created_ms = -1;
    }
    free(b1);
    free(b2);
    free(p1);
    free(p2);
    return ok;
}

/* Opens and recovers one segment. last: always full scan. Returns 0 or -errno. */
static int seg_recover(plog *l, seg *s, bool last, int64_t next_base)
{
    char *p = pl_seg_file(s, ".log");
    s->fd = open(p, O_RDWR | O_CLOEXEC);
    if (s->fd < 0) {
        int rc = -errno;
        LOGE("storage", "cannot open %s: %s", p, strerror(-rc));
        free(p);
        return rc;
    }
    struct stat st;
    if (fstat(s->fd, &st) < 0) {
        int rc = -errno;
        free(p);
        return rc;
    }
    int64_t fsize = st.st_size;
    s->alloc = fsize;
    if (!last && seg_load_indexes(s, &l->cfg, fsize, next_base)) {
        if (s->size < fsize) {
            /* zero tail of a preallocated segment that was not trimmed */
            if (ftruncate(s->fd, s->size) == 0) s->alloc = s->size;
        }
        pl_seg_write_indexes(s);
        free(p);
        s->synced = s->size;
        s->wb_pos = s->drop_pos = s->size;
        pl_tx_load(s);
        return 0;
    }
    const char *why;
    int64_t end = pl_seg_scan(s, l->cfg.index_interval_bytes, 0, fsize, next_base, &why);
    s->size = end;
    if (end < fsize) {
        if (why && !strcmp(why, "zero")) {
            LOGI("storage",
                 "%s: end of log at byte %" PRId64 " (zero tail of %" PRId64
                 " bytes, preallocated)",
                 p, end, fsize - end);
        } else if (last) {
            LOGW("storage",
                 "%s: %s at byte %" PRId64 " (offset %" PRId64 "): cut %" PRId64 " bytes", p,
                 why ? why : "?", end, s->next_off, fsize - end);
        } else {
            LOGE("storage",
                 "%s: CORRUPT non-last segment: %s at byte %" PRId64 " (offset %" PRId64
                 "); cut %" PRId64 " bytes; offsets %" PRId64 "..%" PRId64
                 " are lost, later segments are kept",
                 p, why ? why : "?", end, s->next_off, fsize - end, s->next_off, next_base - 1);
        }
        if (ftruncate(s->fd, end) < 0) {
            int rc = -errno;
            LOGE("storage", "%s: cannot truncate: %s", p, strerror(-rc));
            free(p);
            return rc;
        }
        s->alloc = end;
    }
    s->idx_dirty = true;
    pl_seg_write_indexes(s);
    s->synced = s->size;
    s->wb_pos = s->drop_pos = s->size;
    if (last) pl_seg_verified(s, 0, INT64_MAX); /* scanned whole; appends are checked ones */
    /* roll-by-age reference after a restart: the last write (never later than now) */
    int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    s->created_ms = s->size > 0 ? MIN(mt, now_wall_ms()) : -1;
    free(p);
    if (!last) pl_tx_load(s); /* the last segment's entries are rebuilt by a scan */
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static bool parse_base(const char *name, const char *ext, int64_t *base)
{
    size_t n = strlen(name), e = strlen(ext);
    if (n != 20 + e || strcmp(name + 20, ext) != 0) return false;
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9') return false;
        if (v > (INT64_MAX - 9) / 10) return false;
        v = v * 10 + (name[i] - '0');
    }
    *base = v;
    return true;
}

static void segs_push(plog *l, seg *s)
{
    if (l->nsegs == l->asegs) {
        l->asegs = l->asegs ? l->asegs * 2 : 8;
        l->segs = xrealloc(l->segs, (size_t)l->asegs * sizeof *l->segs);
    }
    l->segs[l->nsegs++] = s;
}

static int64_t read_start_offset(const char *dir)
{
    char *p = xasprintf("%s/log-start-offset", dir);
    size_t n;
    char *t = read_file_all(p, &n);
    free(p);
    if (!t) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(t, &end, 10);
    bool ok = errno == 0 && end != t && v >= 0;
    free(t);
    return ok ? (int64_t)v : -1;
}

static int write_start_offset(plog *l)
{
    char *p = xasprintf("%s/log-start-offset", l->dir);
    char t[32];
    int n = snprintf(t, sizeof t, "%" PRId64 "\n", l->start);
    int rc = write_file_atomic(p, t, (size_t)n);
    if (rc) LOGE("storage", "cannot persist %s: %s", p, strerror(-rc));
    free(p);
    return rc;
}


void plog_config_default(plog_config *c)
{
    c->segment_bytes = 1LL << 30;
    c->segment_ms = 7LL * 24 * 3600 * 1000;
    c->retention_ms = 7LL * 24 * 3600 * 1000;
    c->retention_bytes = -1;
    c->index_interval_bytes = 4096;
    c->cleanup_policy = PLOG_CLEANUP_DELETE;
    c->delete_retention_ms = 24LL * 3600 * 1000;
    c->preallocate = false;
    c->segment_jitter_ms = 0;
    c->min_compaction_lag_ms = 0;
    c->max_compaction_lag_ms = 0;
}

static void sanitize_cfg(plog_config *c)
{
    if (c->segment_bytes < 1024) c->segment_bytes = 1024;
    if (c->segment_bytes > INT32_MAX) c->segment_bytes = INT32_MAX;
    if (c->segment_ms <= 0) c->segment_ms = INT64_MAX;
    if (c->index_interval_bytes < 0) c->index_interval_bytes = 0;
}

/* segment.ms less a random part of segment.jitter.ms (Kafka draws it per segment; one draw per
 * config change spreads the rolls of a topic's partitions just as well), capped by
 * max.compaction.lag.ms on a compact log so its records become compactable in time. */
static void set_roll_age(plog *l)
{
    int64_t age = l->cfg.segment_ms, j = l->cfg.segment_jitter_ms;
    if (j > 0 && age < INT64_MAX) {
        uint64_t r;
        rand_bytes(&r, sizeof r);
        int64_t cut = (int64_t)(r % (uint64_t)MIN(j, age));
        age -= cut;
    }
    if ((l->cfg.cleanup_policy & PLOG_CLEANUP_COMPACT) && l->cfg.max_compaction_lag_ms > 0 &&
        l->cfg.max_compaction_lag_ms < age)
        age = l->cfg.max_compaction_lag_ms;
    l->roll_age_ms = age > 0 ? age : 1;
}

static seg *seg_create(plog *l, int64_t base, int *rc)
{
    seg *s = pl_seg_new(l->dir, base);
    char *p = pl_seg_file(s, ".log");
    s->fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        *rc = -errno;
        LOGE("storage", "cannot create %s: %s", p, strerror(-*rc));
        free(p);
        pl_seg_unref(s);
        return NULL;
    }
    /* a leftover file of that name (e.g. an emptied segment) starts over */
    if (ftruncate(s->fd, 0) < 0) {
        *rc = -errno;
        free(p);
        pl_seg_unref(s);
        return NULL;
    }
    free(p);
    p = pl_seg_file(s, ".txnindex"); /* and a leftover index of it goes too */
    unlink(p);
    free(p);
    s->tx_ok = true; /* new: no aborted transaction in it */
    s->idx_dirty = true;
    pl_seg_verified(s, 0, INT64_MAX); /* only batches this process appends (CRC-checked) */
    *rc = 0;
    return s;
}

int plog_open(const char *dir, const plog_config *cfg, plog **out)
{
    *out = NULL;
    int rc = mkdir_p(dir, 0755);
    if (rc) return rc;
    plog_compact_recover_dir(dir);
    DIR *d = opendir(dir);
    if (!d) return -errno;
    int64_t *bases = NULL;
    size_t nb = 0, ab = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int64_t b;
        size_t n = strlen(e->d_name);
        if (n > 4 && !strcmp(e->d_name + n - 4, ".tmp")) {
            char *p = xasprintf("%s/%s", dir, e->d_name);
            unlink(p);
            free(p);
            continue;
        }
        if (!parse_base(e->d_name, ".log", &b)) continue;
        if (nb == ab) {
            ab = ab ? ab * 2 : 16;
            bases = xrealloc(bases, ab * sizeof *bases);
        }
        bases[nb++] = b;
    }
    closedir(d);
    if (nb > 1) qsort(bases, nb, sizeof *bases, cmp_i64);

    plog *l = xcalloc(1, sizeof *l);
    l->dir = xstrdup(dir);
    l->cfg = *cfg;
    sanitize_cfg(&l->cfg);
    set_roll_age(l);
    pthread_mutex_init(&l->mu, NULL);
    l->refs = 1;
    for (size_t i = 0; i < nb; i++) {
        seg *s = pl_seg_new(dir, bases[i]);
        bool last = i + 1 == nb;
        rc = seg_recover(l, s, last, last ? -1 : bases[i + 1]);
        if (rc) {
            pl_seg_unref(s);
            goto fail;
        }
        if (s->size == 0 && !last) {
            LOGI("storage", "%s: removing empty segment", s->path);
            pl_seg_unlink_files(s);
            pl_seg_unref(s);
            continue;
        }
        segs_push(l, s);
    }
    int64_t lso = read_start_offset(dir);
    if (l->nsegs == 0) {
        seg *s = seg_create(l, lso > 0 ? lso : 0, &rc);
        if (!s) goto fail;
        segs_push(l, s);
    }
    seg *act = l->segs[l->nsegs - 1];
    l->leo = act->next_off;
    l->durable = l->leo;
    l->start = l->segs[0]->base;
    if (lso > l->start) l->start = lso > l->leo ? l->leo : lso;
    quar_load(l);
    free(bases);
    reg_add(l);
    *out = l;
    return 0;
fail:
    free(bases);
    for (int32_t i = 0; i < l->nsegs; i++) pl_seg_unref(l->segs[i]);
    free(l->segs);
    pthread_mutex_destroy(&l->mu);
    free(l->dir);
    free(l);
    return rc;
}

/* ------------------------------------------------------------------ lifetime ---- */

void plog_ref(plog *l)
{
    __atomic_add_fetch(&l->refs, 1, __ATOMIC_ACQ_REL);
}

void plog_unref(plog *l)
{
    if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    for (int32_t i = 0; i < l->nsegs; i++) pl_seg_unref(l->segs[i]);
    free(l->segs);
    free(l->quar);
    pthread_mutex_destroy(&l->mu);
    free(l->dir);
    free(l);
}

int plog_sync(plog *l)
{
    pthread_mutex_lock(&l->mu);
    if (l->closed) {
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    int64_t target = l->leo;
    seg *v[8];
    int64_t sz[8];
    int n = 0;
    bool more = false;
    for (int32_t i = l->nsegs - 1; i >= 0; i--) {
        seg *s = l->segs[i];
        if (s->synced >= s->size) continue;
        if (n == 8) {
            more = true; /* rare: many rolled, unsynced segments; the next round takes them */
            break;
        }
        pl_seg_ref(s);
        v[n] = s;
        sz[n] = s->size;
        n++;
    }
    pthread_mutex_unlock(&l->mu);
    int rc = 0, calls = 0;
    bool ok[8];
    for (int i = 0; i < n; i++) {
        ok[i] = fdatasync(v[i]->fd) == 0;
        calls++;
        if (!ok[i]) {
            rc = -errno;
            LOGE("storage", "fdatasync %s.log: %s", v[i]->path, strerror(errno));
        }
    }
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < n; i++)
        if (ok[i] && v[i]->synced < sz[i]) v[i]->synced = sz[i];
    if (!rc && !more) {
        if (__atomic_load_n(&l->durable, __ATOMIC_ACQUIRE) < target)
            __atomic_store_n(&l->durable, target, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < n; i++) pl_seg_unref(v[i]);
    if (!rc && more) return plog_sync(l) + calls;
    return rc ? rc : calls;
}

void plog_close(plog *l)
{
    if (!l) return;
    reg_del(l);
    for (int32_t i = 0; i < l->nsegs; i++) {
        seg *s = l->segs[i];
        if (i == l->nsegs - 1) seg_seal_tidx(s);
        pl_seg_write_indexes(s);
        seg_trim(s);
    }
    plog_sync(l);
    pthread_mutex_lock(&l->mu);
    l->closed = true;
    pthread_mutex_unlock(&l->mu);
    plog_unref(l);
}

int plog_delete(plog *l)
{
    if (!l) return 0;
    reg_del(l);
    pthread_mutex_lock(&l->mu);
    l->closed = true;
    pthread_mutex_unlock(&l->mu);
    int rc = 0;
    DIR *d = opendir(l->dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *p = xasprintf("%s/%s", l->dir, e->d_name);
            if (unlink(p) < 0 && errno != ENOENT) rc = -errno;
            free(p);
        }
        closedir(d);
    }
    if (rmdir(l->dir) < 0 && errno != ENOENT) rc = -errno;
    fsync_dir_of(l->dir);
    plog_unref(l);
    return rc;
}

void plog_set_config(plog *l, const plog_config *cfg)
{
    l->cfg = *cfg;
    sanitize_cfg(&l->cfg);
    set_roll_age(l);
}

int64_t plog_start_offset(const plog *l)
{
    return l->start;
}
int64_t plog_end_offset(const plog *l)
{
    return __atomic_load_n(&l->leo, __ATOMIC_ACQUIRE);
}
int64_t plog_durable_offset(const plog *l)
{
    return __atomic_load_n(&l->durable, __ATOMIC_ACQUIRE);
}

int64_t plog_size_bytes(const plog *l)
{
    int64_t n = 0;
    for (int32_t i = 0; i < l->nsegs; i++) n += l->segs[i]->size;
    return n;
}

int32_t plog_segment_count(const plog *l)
{
    return l->nsegs;
}

/* ------------------------------------------------------------------ append ---- */

static int roll(plog *l)
{
    seg *old = l->segs[l->nsegs - 1];
    int rc;
    pl_tx_roll(l, old); /* durable with the new name by the fsync_dir below */
    seg *s = seg_create(l, l->leo, &rc);
    if (!s) return rc;
    seg_seal_tidx(old);
    pl_seg_write_indexes(old);
    seg_trim(old);
    /* the old segment's remaining pages: start writeback now, drop them later via the
     * flusher's fdatasync + the kernel; readers of old data are rare */
    pthread_mutex_lock(&l->mu);
    segs_push(l, s);
    pthread_mutex_unlock(&l->mu);
    fsync_dir(l->dir); /* cheap; makes the new name durable before acks cover it */
    return 0;
}

static void drop_behind(seg *s)
{
    if (!g_db_keep) return;
    if (s->size - s->wb_pos >= DB_CHUNK) {
        sync_file_range(s->fd, s->wb_pos, s->size - s->wb_pos, SYNC_FILE_RANGE_WRITE);
        s->wb_pos = s->size;
    }
    if (s->wb_pos - s->drop_pos >= g_db_keep + DB_CHUNK) {
        int64_t end = s->wb_pos - g_db_keep;
        posix_fadvise(s->fd, s->drop_pos, end - s->drop_pos, POSIX_FADV_DONTNEED);
        s->drop_pos = end;
    }
}

int plog_append(plog *l, uint8_t *batch, size_t len, int64_t *base_offset)
{
    batch_info bi;
    if (len > INT32_MAX || batch_parse(batch, len, &bi) != BATCH_OK ||
        (size_t)bi.total_len != len || bi.last_offset_delta < 0)
        return -EINVAL;
    seg *s = l->segs[l->nsegs - 1];
    int64_t now = now_wall_ms();
    bool full = s->size > 0 && s->size + (int64_t)len > l->cfg.segment_bytes;
    bool old = s->size > 0 && s->created_ms >= 0 && now - s->created_ms >= l->roll_age_ms;
    bool wide =
        l->leo + bi.last_offset_delta - s->base > INT32_MAX || s->size + (int64_t)len > INT32_MAX;
    if (full || old || wide) {
        int rc = roll(l);
        if (rc) return rc;
        s = l->segs[l->nsegs - 1];
    }
    batch_set_base_offset(batch, l->leo);
    batch_set_leader_epoch(batch, 0);
    if (l->cfg.preallocate && s->size + (int64_t)len > s->alloc) {
        /* the step doubles with the segment (PREALLOC_MIN .. PREALLOC_STEP): a busy partition
         * extends its file every 64 MiB, an idle one holds at most 64 KiB it has not used */
        int64_t step = s->size < PREALLOC_MIN    ? PREALLOC_MIN
                       : s->size > PREALLOC_STEP ? PREALLOC_STEP
                                                 : s->size;
        int64_t want = s->size + (int64_t)len + step;
        if (want > l->cfg.segment_bytes)
            want = s->size + (int64_t)len > l->cfg.segment_bytes ? s->size + (int64_t)len
                                                                 : l->cfg.segment_bytes;
        if (fallocate(s->fd, 0, 0, want) == 0) s->alloc = want;
        /* no preallocation (unsupported, ENOSPC): the write below decides */
    }
    int rc;
    if (g_fail_errno) {
        int err = g_fail_errno;
        g_fail_errno = 0;
        size_t part = (size_t)g_fail_partial < len ? (size_t)g_fail_partial : len;
        if (part) pl_pwrite_all(s->fd, batch, part, s->size);
        rc = -err;
    } else {
        rc = pl_pwrite_all(s->fd, batch, len, s->size);
    }
    if (rc) {
        /* nothing is appended: cut the partial write back (a preallocated tail keeps its
         * size; the next append overwrites the bytes and recovery would cut them) */
        if (s->alloc <= s->size) {
            if (ftruncate(s->fd, s->size) < 0)
                LOGE("storage", "%s.log: cannot cut back a failed write: %s", s->path,
                     strerror(errno));
        } else {
            static const uint8_t zero[BATCH_LOG_OVERHEAD];
            pl_pwrite_all(s->fd, zero, sizeof zero, s->size);
        }
        LOGE("storage", "%s.log: append of %zu bytes failed: %s", s->path, len, strerror(-rc));
        return rc;
    }
    bi.base_offset = l->leo;
    int64_t pos = s->size;
    seg_note_batch(s, l->cfg.index_interval_bytes, pos, &bi);
    pthread_mutex_lock(&l->mu);
    s->size = pos + (int64_t)len;
    if (s->alloc < s->size) s->alloc = s->size;
    __atomic_store_n(&l->leo, s->next_off, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&l->mu);
    drop_behind(s);
    if (base_offset) *base_offset = bi.base_offset;
    return 0;
}

/* ------------------------------------------------------------------ reads ---- */

/* Index of the last segment with base <= offset (0 if none). */
static int32_t seg_find(const plog *l, int64_t offset)
{
    int32_t lo = 0, hi = l->nsegs - 1;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo + 1) / 2;
        if (l->segs[mid]->base <= offset)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* The last index entry at or below `offset` in s, or -1 (then position 0). */
static int32_t idx_lookup(const seg *s, int64_t offset)
{
    int64_t rel = offset - s->base;
    if (s->nidx == 0 || rel < s->idx[0].rel) return -1;
    int32_t lo = 0, hi = s->nidx - 1;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo + 1) / 2;
        if (s->idx[mid].rel <= rel)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Rebuilds the indexes of a sealed segment from a CRC-checked scan (its index file passed the
 * open-time checks but an entry turned out not to point at its batch). Data after a bad batch
 * in the middle of the segment becomes unreadable (logged). */
static void seg_reindex(plog *l, seg *s)
{
    LOGE("storage", "%s.index: entry does not match the log; rebuilding", s->path);
    s->nidx = s->ntidx = 0;
    s->since_idx = 0;
    s->next_off = s->base;
    s->max_ts = s->max_ts_off = -1;
    const char *why;
    int64_t end = pl_seg_scan(s, l->cfg.index_interval_bytes, 0, s->size, INT64_MAX, &why);
    if (end < s->size) {
        LOGE("storage",
             "%s.log: %s at byte %" PRId64 "; the %" PRId64 " bytes after it are "
             "no longer served",
             s->path, why ? why : "?", end, s->size - end);
        pthread_mutex_lock(&l->mu);
        s->size = end;
        pthread_mutex_unlock(&l->mu);
    }
    seg_seal_tidx(s);
    s->idx_dirty = true;
    pl_seg_write_indexes(s);
}

/* File position to start scanning for `offset` in s, checked: the indexed batch must carry the
 * indexed offset (a damaged index is rebuilt, once). */
static int64_t idx_pos(plog *l, seg *s, int64_t offset)
{
    for (int tries = 0; tries < 2; tries++) {
        int32_t i = idx_lookup(s, offset);
        if (i < 0) return 0;
        uint8_t h[BATCH_LOG_OVERHEAD];
        int64_t bo;
        int32_t total;
        if (s->idx[i].pos <= s->size - BATCH_HEADER_SIZE &&
            pread_all(s->fd, h, sizeof h, s->idx[i].pos) == 0 &&
            batch_peek(h, sizeof h, &bo, &total) == BATCH_OK && bo == s->base + s->idx[i].rel)
            return s->idx[i].pos;
        if (s == l->segs[l->nsegs - 1]) break; /* built in memory by us: cannot happen */
        seg_reindex(l, s);
    }
    return 0;
}

/* Finds the bytes of a read: segment, position and length of whole batches. */
/* Index of the quarantined range holding offset, or of the first one above it (nquar when
 * none); callers hold mu. Ranges are kept sorted and disjoint. */
static int32_t quar_find(const plog *l, int64_t offset)
{
    int32_t i = 0;
    while (i < l->nquar && l->quar[i].last < offset) i++;
    return i;
}

bool plog_quarantined(plog *l, int64_t offset)
{
    pthread_mutex_lock(&l->mu);
    int32_t i = quar_find(l, offset);
    bool q = i < l->nquar && l->quar[i].first <= offset;
    pthread_mutex_unlock(&l->mu);
    return q;
}

int32_t plog_quarantine_count(plog *l)
{
    pthread_mutex_lock(&l->mu);
    int32_t n = l->nquar;
    pthread_mutex_unlock(&l->mu);
    return n;
}

void plog_quarantine_at(plog *l, int32_t i, int64_t *first, int64_t *last)
{
    pthread_mutex_lock(&l->mu);
    *first = i >= 0 && i < l->nquar ? l->quar[i].first : -1;
    *last = i >= 0 && i < l->nquar ? l->quar[i].last : -1;
    pthread_mutex_unlock(&l->mu);
}

/* Inserts [first, last] unless it overlaps a known range; caller holds mu. */
static bool quar_insert(plog *l, int64_t first, int64_t last)
{
    int32_t i = quar_find(l, first);
    if (i < l->nquar && l->quar[i].first <= last) return false; /* already known */
    if (l->nquar == l->aquar) {
        l->aquar = l->aquar ? 2 * l->aquar : 4;
        l->quar = xrealloc(l->quar, (size_t)l->aquar * sizeof *l->quar);
    }
    memmove(&l->quar[i + 1], &l->quar[i], (size_t)(l->nquar - i) * sizeof *l->quar);
    l->quar[i].first = first;
    l->quar[i].last = last;
    l->nquar++;
    return true;
}

/* The quarantined ranges persist in <dir>/quarantine, one "first last" line each, rewritten
 * atomically whenever they change (removed when none are left) and read back by plog_open:
 * after a restart Fetch answers CORRUPT_MESSAGE there at once and the operator's report still
 * lists them, before any scrub pass or read has met the damage again. */
static void quar_save(plog *l)
{
    char *p = xasprintf("%s/quarantine", l->dir);
    wbuf b;
    wbuf_init(&b, 0);
    pthread_mutex_lock(&l->mu);
    for (int32_t i = 0; i < l->nquar; i++) {
        char t[48];
        int n =
            snprintf(t, sizeof t, "%" PRId64 " %" PRId64 "\n", l->quar[i].first, l->quar[i].last);
        wbuf_put(&b, t, (size_t)n);
    }
    pthread_mutex_unlock(&l->mu);
    int rc = 0;
    if (b.len > 0)
        rc = write_file_atomic(p, b.data, b.len);
    else if (unlink(p) < 0 && errno != ENOENT)
        rc = -errno;
    if (rc) LOGE("storage", "cannot persist %s: %s", p, strerror(-rc));
    wbuf_free(&b);
    free(p);
}

/* plog_open: the persisted ranges still inside the log (malformed lines are ignored, logged). */
static void quar_load(plog *l)
{
    char *p = xasprintf("%s/quarantine", l->dir);
    size_t n;
    char *t = read_file_all(p, &n);
    if (t) {
        bool bad = false;
        for (char *line = t; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl) *nl = 0;
            long long first, last;
            char extra;
            if (sscanf(line, "%lld %lld %c", &first, &last, &extra) != 2 || first < 0 ||
                last < first)
                bad = true;
            else if (last >= l->start && first < l->leo)
                quar_insert(l, (int64_t)first, (int64_t)last);
            line = nl ? nl + 1 : NULL;
        }
        if (bad) LOGW("storage", "%s: malformed lines ignored", p);
        if (l->nquar)
            LOGW("storage",
                 "%s: %d damaged range(s) stay quarantined (first: offsets %" PRId64 "..%" PRId64
                 ")",
                 p, l->nquar, l->quar[0].first, l->quar[0].last);
        free(t);
    }
    free(p);
}

static bool quar_add(plog *l, int64_t first, int64_t last)
{
    pthread_mutex_lock(&l->mu);
    bool added = quar_insert(l, first, last);
    pthread_mutex_unlock(&l->mu);
    if (added) quar_save(l);
    return added;
}

int plog_scrub(plog *l, int64_t budget, plog_scrub_stats *st)
{
    memset(st, 0, sizeof *st);
    /* ranges that retention or DeleteRecords removed are no longer lost offsets */
    pthread_mutex_lock(&l->mu);
    int32_t gone = 0;
    while (gone < l->nquar && l->quar[gone].last < l->start) gone++;
    if (gone) {
        memmove(&l->quar[0], &l->quar[gone], (size_t)(l->nquar - gone) * sizeof *l->quar);
        l->nquar -= gone;
    }
    pthread_mutex_unlock(&l->mu);
    if (gone) quar_save(l);
    if (l->nsegs < 2) {
        st->pass_done = true;
        return 0;
    }
    /* the segment under the cursor (segments may have gone to retention meanwhile) */
    int32_t si = 0;
    while (si < l->nsegs - 1 && l->segs[si]->base < l->scrub_base) si++;
    if (si >= l->nsegs - 1 || l->segs[si]->base != l->scrub_base || l->scrub_gen != l->seg_gen)
        l->scrub_pos = 0;
    l->scrub_gen = l->seg_gen;
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    while (si < l->nsegs - 1 && st->bytes < budget) {
        seg *s = l->segs[si];
        l->scrub_base = s->base;
        int64_t pos = l->scrub_pos;
        uint8_t h[BATCH_HEADER_SIZE];
        batch_info bi;
        if (pos >= s->size) {
            si++;
            l->scrub_pos = 0;
            if (si < l->nsegs - 1) l->scrub_base = l->segs[si]->base;
            continue;
        }
        bool ok = pread_all(s->fd, h, sizeof h, pos) == 0 &&
                  batch_parse(h, sizeof h, &bi) == BATCH_OK && bi.total_len >= BATCH_HEADER_SIZE &&
                  pos + bi.total_len <= s->size && bi.last_offset_delta >= 0;
        if (!ok) {
            /* the headers no longer chain: everything from here to the segment's end */
            int64_t first = pos == 0 ? s->base : l->scrub_pos_off;
            quar_add(l, first, s->next_off - 1);
            LOGE("storage",
                 "%s.log: scrub: damaged batch header at byte %" PRId64 ": offsets %" PRId64
                 "..%" PRId64 " quarantined",
                 s->path, pos, first, s->next_off - 1);
            st->new_bad++;
            st->bytes += s->size - pos;
            l->scrub_pos = s->size;
            continue;
        }
        if ((size_t)bi.total_len > cap) {
            cap = (size_t)bi.total_len;
            buf = xrealloc(buf, cap);
        }
        rc = pread_all(s->fd, buf, (size_t)bi.total_len, pos);
        if (rc) break;
        if (batch_crc_ok(buf, (size_t)bi.total_len)) {
            pl_seg_verified(s, pos, pos + bi.total_len); /* a read there needs no check */
        } else {
            int64_t last = bi.base_offset + bi.last_offset_delta;
            if (quar_add(l, bi.base_offset, last)) {
                st->new_bad++;
                LOGE("storage",
                     "%s.log: scrub: CRC mismatch in the batch at byte %" PRId64
                     ": offsets %" PRId64 "..%" PRId64 " quarantined",
                     s->path, pos, bi.base_offset, last);
            }
        }
        l->scrub_pos_off = bi.base_offset + bi.last_offset_delta + 1;
        l->scrub_pos = pos + bi.total_len;
        st->bytes += bi.total_len;
    }
    free(buf);
    if (si >= l->nsegs - 1) {
        st->pass_done = true;
        l->scrub_base = 0;
        l->scrub_pos = 0;
        l->scrub_pos_off = 0;
    }
    return rc;
}

static int locate(plog *l, int64_t offset, int32_t max_bytes, seg **out_s, int64_t *out_pos,
                  int32_t *out_len, int64_t *next)
{
    *out_s = NULL;
    *out_pos = 0;
    *out_len = 0;
    *next = offset;
    if (offset < l->start || offset > l->leo) return -ERANGE;
    if (offset == l->leo) return 0;
    /* quarantined ranges (scrub): an offset inside one is an error, a slice ends before one */
    int64_t qfirst = INT64_MAX;
    if (__atomic_load_n(&l->nquar, __ATOMIC_RELAXED) > 0) {
        pthread_mutex_lock(&l->mu);
        int32_t qi = quar_find(l, offset);
        bool in = qi < l->nquar && l->quar[qi].first <= offset;
        if (qi < l->nquar) qfirst = l->quar[qi].first;
        pthread_mutex_unlock(&l->mu);
        if (in) return -EBADMSG;
    }
    int rc = 0;
    for (int32_t si = seg_find(l, offset); si < l->nsegs; si++) {
        seg *s = l->segs[si];
        if (s->size == 0 || s->next_off <= offset) continue;
        pl_scanner sc;
        pl_scan_init(&sc, s->fd, s->size, 64 << 10);
        int64_t pos = idx_pos(l, s, offset);
        int64_t first = -1, end = pos, nx = offset, floor = s->base;
        while (end < s->size) {
            const uint8_t *h = pl_scan_get(&sc, end, BATCH_HEADER_SIZE);
            batch_info hb;
            bool hok = h && batch_parse(h, BATCH_HEADER_SIZE, &hb) == BATCH_OK;
            int64_t bo = hok ? hb.base_offset : -1;
            int64_t total = hok ? hb.total_len : 0;
            int32_t lod = hok ? hb.last_offset_delta : -1;
            /* a damaged sealed segment: headers must still chain (lengths inside the
             * segment, offsets increasing); serve what came before, error at the bad one */
            if (!h || total < BATCH_HEADER_SIZE || end + total > s->size || lod < 0 || bo < floor ||
                bo > INT64_MAX - lod - 1) {
                if (first < 0) rc = -EIO;
                break;
            }
            int64_t last = bo + lod;
            floor = last + 1;
            if (last >= qfirst) break; /* never serve a quarantined batch */
            if (first < 0) {
                if (last < offset) {
                    end += total;
                    continue;
                }
                first = end;
            } else if (end + total - first > (int64_t)max_bytes) {
                break;
            }
            end += total;
            nx = last + 1;
        }
        pl_scan_free(&sc);
        if (rc) {
            LOGE("storage", "%s.log: unreadable batch headers near offset %" PRId64, s->path,
                 offset);
            return rc;
        }
        if (first < 0) continue; /* offset in a gap at the end of this segment */
        *out_s = s;
        *out_pos = first;
        *out_len = (int32_t)(end - first);
        *next = nx;
        return 0;
    }
    return 0;
}

/* Read drop-behind. A reader catching up on data older than the write-side window (below
 * drop_pos: dropped after writing, or written before this process started) pulls it back into
 * the page cache. Left alone, a long catch-up grows the cache with fresh pages, which cost a
 * host fault each here (perf-notes.md; a cold 1 GiB buffered read runs at 415-555 MB/s into
 * fresh pages and at 1.9 GB/s into recycled ones). So once a cold reader has moved RD_STEP on,
 * the RD_WINDOW below its position (less RD_SLACK) is dropped again and the next read-ahead
 * reuses those pages. The kernel skips pages still referenced by a send in flight. Several
 * readers in one cold region may drop pages another one is about to read; it reads them back
 * from the disk, into recycled pages. */
#define RD_STEP (4LL << 20)
#define RD_SLACK (2LL << 20)
#define RD_WINDOW (16LL << 20)

/* Cold reads also ask for the next RD_AHEAD bytes after the slice (POSIX_FADV_WILLNEED starts
 * the reads and returns), so the disk works while the consumer handles this slice, instead of
 * the next sendfile waiting for it. The kernel's own read-ahead does not see a clean sequential
 * pattern here: the batch-header scan of each read looks at the end of the slice first. */
#define RD_AHEAD (8LL << 20)

static void read_ahead(seg *s, int64_t end)
{
    /* our own frontier (ra_end within RD_AHEAD after us) is extended once half of it is used;
     * a frontier elsewhere (another reader, far ahead or behind) does not stop this one */
    bool ours = s->ra_end > end && s->ra_end <= end + RD_AHEAD;
    if (end >= s->size || (ours && s->ra_end > end + RD_AHEAD / 2)) return;
    int64_t from = ours ? s->ra_end : end, to = end + RD_AHEAD;
    if (to > s->size) to = s->size;
    if (to > from) posix_fadvise(s->fd, from, to - from, POSIX_FADV_WILLNEED);
    s->ra_end = to;
}

/* A read of [pos, pos+len) of s: below the write window, read ahead and drop behind. */
static void cold_read(seg *s, int64_t pos, int64_t len)
{
    if (!g_db_keep || pos >= s->drop_pos) return;
    read_ahead(s, pos + len);
    if (pos - s->rd_last < RD_STEP && s->rd_last - pos < RD_STEP) return;
    s->rd_last = pos;
    int64_t end = pos - RD_SLACK, start = end - RD_WINDOW;
    if (start < 0) start = 0;
    if (end > start) posix_fadvise(s->fd, start, end - start, POSIX_FADV_DONTNEED);
}

static uint64_t g_check_bytes, g_check_bad; /* atomic */

void plog_read_check_stats(uint64_t *bytes, uint64_t *bad)
{
    *bytes = __atomic_load_n(&g_check_bytes, __ATOMIC_RELAXED);
    *bad = __atomic_load_n(&g_check_bad, __ATOMIC_RELAXED);
}

/* The cold-read check (issue 11 item 5): a slice that nothing verified since start (a segment
 * older than this process, where the scrub has not been yet) is CRC-checked batch by batch
 * before it is served; a mismatch quarantines the batch as the scrub does. What was checked is
 * recorded, so each byte is read for the check once. Returns 0 (verified), 1 (a batch was newly
 * quarantined: locate again) or -errno. */
static int check_slice(plog *l, seg *s, int64_t pos, int32_t len)
{
    if (seg_is_verified(s, pos, pos + len)) return 0;
    pl_scanner sc;
    pl_scan_init(&sc, s->fd, pos + len, SCAN_BUF);
    int64_t p = pos, end = pos + len;
    int64_t bad_len = 0;
    int rc = 0;
    while (p < end) {
        const uint8_t *h = pl_scan_get(&sc, p, BATCH_HEADER_SIZE);
        batch_info bi;
        if (!h || batch_parse(h, BATCH_HEADER_SIZE, &bi) != BATCH_OK ||
            bi.total_len < BATCH_HEADER_SIZE || bi.total_len > end - p ||
            bi.last_offset_delta < 0) {
            rc = -EIO; /* locate saw these headers chain: the file changed under us */
            break;
        }
        const uint8_t *b = pl_scan_get(&sc, p, (size_t)bi.total_len);
        if (!b) {
            rc = -EIO;
            break;
        }
        if (!batch_crc_ok(b, (size_t)bi.total_len)) {
            int64_t last = bi.base_offset + bi.last_offset_delta;
            if (!quar_add(l, bi.base_offset, last)) {
                rc = -EIO;
                break;
            }
            __atomic_add_fetch(&g_check_bad, 1, __ATOMIC_RELAXED);
            LOGE("storage",
                 "%s.log: read check: CRC mismatch in the batch at byte %" PRId64
                 ": offsets %" PRId64 "..%" PRId64 " quarantined",
                 s->path, p, bi.base_offset, last);
            rc = 1;
            bad_len = bi.total_len;
            break;
        }
        p += bi.total_len;
    }
    pl_scan_free(&sc);
    __atomic_add_fetch(&g_check_bytes, (uint64_t)(p - pos + bad_len), __ATOMIC_RELAXED);
    pl_seg_verified(s, pos, p);
    return rc;
}

/* locate + (check) the slice; a batch found damaged is quarantined and the read located again
 * (it then ends before that batch, or answers -EBADMSG inside it). */
static int locate_checked(plog *l, int64_t offset, int32_t max_bytes, bool check, seg **s,
                          int64_t *pos, int32_t *len, int64_t *next)
{
    for (;;) {
        int rc = locate(l, offset, max_bytes, s, pos, len, next);
        if (rc || !*s || *len == 0 || !check) return rc;
        rc = check_slice(l, *s, *pos, *len);
        if (rc <= 0) return rc;
    }
}

static int read_slice(plog *l, int64_t offset, int32_t max_bytes, plog_slice *out, bool check)
{
    out->fd = -1;
    out->file_pos = 0;
    out->len = 0;
    out->next_offset = offset;
    seg *s;
    int rc = locate_checked(l, offset, max_bytes, check, &s, &out->file_pos, &out->len,
                            &out->next_offset);
    if (rc || !s || out->len == 0) {
        out->len = 0;
        return rc;
    }
    out->fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
    if (out->fd < 0) {
        out->len = 0;
        return -errno;
    }
    cold_read(s, out->file_pos, out->len);
    return 0;
}

int plog_read(plog *l, int64_t offset, int32_t max_bytes, plog_slice *out)
{
    return read_slice(l, offset, max_bytes, out, true);
}

int plog_read_headers(plog *l, int64_t offset, int32_t max_bytes, plog_slice *out)
{
    return read_slice(l, offset, max_bytes, out, false);
}

int plog_read_copy(plog *l, int64_t offset, int32_t max_bytes, uint8_t **buf, int32_t *len,
                   int64_t *next_offset)
{
    *buf = NULL;
    *len = 0;
    seg *s;
    int64_t pos;
    int32_t n;
    int rc = locate_checked(l, offset, max_bytes, true, &s, &pos, &n, next_offset);
    if (rc || !s || n == 0) return rc;
    uint8_t *b = xmalloc((size_t)n);
    rc = pread_all(s->fd, b, (size_t)n, pos);
    if (rc) {
        free(b);
        return rc;
    }
    *buf = b;
    *len = n;
    return 0;
}

/* ------------------------------------------------------------------ time lookups ---- */

int plog_offset_for_time(plog *l, int64_t ts, int64_t *offset, int64_t *timestamp)
{
    for (int32_t si = seg_find(l, l->start); si < l->nsegs; si++) {
        seg *s = l->segs[si];
        if (s->size == 0 || s->max_ts < ts || s->next_off <= l->start) continue;
        /* last time-index entry below ts: everything up to its batch is older */
        int64_t from = s->base;
        int32_t lo = 0, hi = s->ntidx - 1, best = -1;
        while (lo <= hi) {
            int32_t mid = lo + (hi - lo) / 2;
            if (s->tidx[mid].ts < ts) {
                best = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        if (best >= 0) from = s->base + s->tidx[best].rel;
        if (from < l->start) from = l->start;
        int64_t pos = idx_pos(l, s, from);
        pl_scanner sc;
        pl_scan_init(&sc, s->fd, s->size, 64 << 10);
        int found = -1;
        while (pos < s->size) {
            const uint8_t *h = pl_scan_get(&sc, pos, BATCH_HEADER_SIZE);
            batch_info bi;
            if (!h || batch_parse(h, BATCH_HEADER_SIZE, &bi) != BATCH_OK ||
                bi.total_len > s->size - pos)
                break;
            if (bi.base_offset + bi.last_offset_delta >= l->start && bi.max_timestamp >= ts) {
                *offset = bi.base_offset;
                *timestamp = bi.max_timestamp;
                found = 0;
                break;
            }
            pos += bi.total_len;
        }
        pl_scan_free(&sc);
        if (found == 0) return 0;
    }
    return -1;
}

int plog_max_timestamp(plog *l, int64_t *offset, int64_t *timestamp)
{
    int64_t best = -1, off = -1;
    for (int32_t i = 0; i < l->nsegs; i++) {
        seg *s = l->segs[i];
        if (s->size == 0 || s->next_off <= l->start) continue;
        if (s->max_ts > best) {
            best = s->max_ts;
            off = s->max_ts_off;
        }
    }
    if (best < 0) return -1;
    *offset = off < l->start ? l->start : off;
    *timestamp = best;
    return 0;
}

/* ------------------------------------------------------------------ retention ---- */

/* Removes segs[0] (never the active one). */
static void drop_first(plog *l)
{
    seg *s = l->segs[0];
    pthread_mutex_lock(&l->mu);
    memmove(l->segs, l->segs + 1, (size_t)(l->nsegs - 1) * sizeof *l->segs);
    l->nsegs--;
    pthread_mutex_unlock(&l->mu);
    pl_seg_unlink_files(s);
    pl_seg_unref(s); /* readers holding dup()ed fds keep the bytes */
}

static int drop_below_start(plog *l)
{
    int n = 0;
    while (l->nsegs > 1 && l->segs[1]->base <= l->start) {
        drop_first(l);
        n++;
    }
    return n;
}

int plog_delete_records(plog *l, int64_t offset)
{
    if (offset < 0 || offset > l->leo) return -ERANGE;
    if (offset <= l->start) return 0;
    l->start = offset;
    drop_below_start(l);
    return write_start_offset(l);
}

int plog_enforce_retention(plog *l, int64_t now_ms)
{
    seg *act = l->segs[l->nsegs - 1];
    if (act->size > 0 && act->created_ms >= 0 && now_ms - act->created_ms >= l->roll_age_ms)
        roll(l);
    int n = 0;
    int64_t old_start = l->start;
    if (l->cfg.cleanup_policy & PLOG_CLEANUP_DELETE) {
        if (l->cfg.retention_ms >= 0) {
            while (l->nsegs > 1 && l->segs[0]->max_ts < now_ms - l->cfg.retention_ms) {
                drop_first(l);
                n++;
            }
        }
        if (l->cfg.retention_bytes >= 0) {
            int64_t total = plog_size_bytes(l);
            while (l->nsegs > 1 && total - l->segs[0]->size >= l->cfg.retention_bytes) {
                total -= l->segs[0]->size;
                drop_first(l);
                n++;
            }
        }
    }
    n += drop_below_start(l);
    if (l->segs[0]->base > l->start) l->start = l->segs[0]->base;
    if (l->start != old_start) write_start_offset(l);
    return n;
}
