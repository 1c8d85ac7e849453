/* txnlog — the log side of transactions (KIP-98) for one partition: which producers have a
 * transaction open here and from which offset (the last stable offset is the smallest such
 * first offset, or the high watermark), the aborted-transaction index {producerId, firstOffset,
 * lastOffset} that read_committed fetches are answered with, and the end-transaction markers
 * (control batches) the transaction coordinator writes.
 *
 * Sits in broker/ beside producers.c: Produce calls ptxn_on_append for every transactional
 * batch it appends, and ptxn_on_marker for the markers the coordinator (src/txn) writes with
 * part_write_marker (produce.c). The index is kept in memory for fetches and on disk, one
 * <base>.txnindex per segment (storage/txnidx.c): every abort marker adds its entry there.
 * At start-up ptxn_rebuild loads the entries of the closed segments whose files are valid and
 * reads batch headers (and the key of every control batch) only from where a transaction still
 * open could have begun (txn-recovery: the oldest one open at the last roll) or the first
 * segment without a valid file, normally just the active segment; markers found below the
 * indexed boundary only end open transactions (their aborts are in the files). A partition that
 * never saw a transactional batch keeps no state.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/core.h"
#include "common/log.h"
#include "common/util.h"

typedef struct topen {
    int64_t pid;
    int16_t epoch;
    int64_t first, last;
} topen;

typedef struct ptxn {
    topen *open;
    int nopen, aopen;
    ptxn_aborted *ab; /* by lastOffset, ascending (markers are appended in order) */
    int nab, aab;
} ptxn;

static ptxn *state(bpart *p, bool create)
{
    if (!p->txn && create) p->txn = xcalloc(1, sizeof(ptxn));
    return p->txn;
}

void ptxn_free(bpart *p)
{
    ptxn *t = p->txn;
    if (!t) return;
    free(t->open);
    free(t->ab);
    free(t);
    p->txn = NULL;
}

static topen *find_open(ptxn *t, int64_t pid)
{
    for (int i = 0; t && i < t->nopen; i++)
        if (t->open[i].pid == pid) return &t->open[i];
    return NULL;
}

void ptxn_on_append(bpart *p, const batch_info *bi, int64_t base)
{
    if (!(bi->attributes & BATCH_ATTR_TRANSACTIONAL) || (bi->attributes & BATCH_ATTR_CONTROL))
        return;
    ptxn *t = state(p, true);
    int64_t last = base + bi->last_offset_delta;
    topen *o = find_open(t, bi->producer_id);
    if (o) {
        if (last > o->last) o->last = last;
        if (bi->producer_epoch > o->epoch) o->epoch = bi->producer_epoch;
        return;
    }
    if (t->nopen == t->aopen) {
        t->aopen = t->aopen ? t->aopen * 2 : 4;
        t->open = xrealloc(t->open, (size_t)t->aopen * sizeof *t->open);
    }
    t->open[t->nopen++] = (topen){bi->producer_id, bi->producer_epoch, base, last};
}

static void ab_push(ptxn *t, int64_t pid, int64_t first, int64_t last)
{
    if (t->nab == t->aab) {
        t->aab = t->aab ? t->aab * 2 : 8;
        t->ab = xrealloc(t->ab, (size_t)t->aab * sizeof *t->ab);
    }
    t->ab[t->nab++] = (ptxn_aborted){pid, first, last};
}

/* The oldest open transaction's first offset, or INT64_MAX. */
static int64_t oldest_open(const ptxn *t)
{
    int64_t m = INT64_MAX;
    for (int i = 0; t && i < t->nopen; i++)
        if (t->open[i].first < m) m = t->open[i].first;
    return m;
}

/* Ends pid's open transaction at the marker `offset`; index: record an abort (in memory and in
 * the segment's .txnindex). */
static void end_txn(bpart *p, int64_t pid, bool commit, int64_t offset, bool index)
{
    ptxn *t = state(p, false);
    topen *o = find_open(t, pid);
    if (!o) return;
    int64_t first = o->first;
    *o = t->open[--t->nopen];
    if (commit || !index) return;
    ab_push(t, pid, first, offset);
    int64_t lso = oldest_open(t);
    if (lso > offset + 1) lso = offset + 1;
    plog_txn_entry e = {pid, first, offset, lso};
    int rc = plog_txnindex_add(p->log, &e);
    if (rc)
        LOGW("txn", "%s-%d: abort at %" PRId64 " not indexed (error %d)", p->topic->name, p->index,
             offset, rc);
}

/* A marker of pid at `offset`: the producer's open transaction here ends (an abort is added
 * to the index). A marker for a producer with nothing open is recorded nowhere. */
void ptxn_on_marker(bpart *p, int64_t pid, bool commit, int64_t offset)
{
    if (!commit && getenv("EDDY_TXN_CRASH_AT") && find_open(p->txn, pid)) {
        /* test hook: the abort marker is in the log, its index entry is not written */
        const char *at = getenv("EDDY_TXN_CRASH_AT");
        if (!strcmp(at, "before-txnindex")) {
            LOGW("txn", "EDDY_TXN_CRASH_AT=%s: killing the broker here (test hook)", at);
            raise(SIGKILL);
        }
    }
    end_txn(p, pid, commit, offset, true);
}

int64_t part_lso(const bpart *p)
{
    int64_t lso = plog_end_offset(p->log), o = oldest_open(p->txn);
    return o < lso ? o : lso;
}

int part_open_txns(const bpart *p, int64_t *oldest_first)
{
    const ptxn *t = p->txn;
    if (oldest_first) *oldest_first = part_lso(p);
    return t ? t->nopen : 0;
}

int part_txn_producer(const bpart *p, int64_t pid, int64_t *first_offset)
{
    topen *o = find_open((ptxn *)p->txn, pid);
    if (!o) return 0;
    if (first_offset) *first_offset = o->first;
    return 1;
}

int ptxn_aborted_between(const bpart *p, int64_t from, int64_t upto, ptxn_aborted *out, int max)
{
    const ptxn *t = p->txn;
    int n = 0;
    if (!t) return 0;
    /* entries are ordered by lastOffset: skip those that ended before `from` */
    int lo = 0, hi = t->nab;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (t->ab[mid].last < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (int i = lo; i < t->nab && n < max; i++)
        if (t->ab[i].first < upto) {
            if (out) out[n] = t->ab[i];
            n++;
        }
    return n;
}

void ptxn_trim(bpart *p)
{
    ptxn *t = p->txn;
    if (!t || t->nab == 0) return;
    int64_t start = plog_start_offset(p->log);
    int k = 0;
    while (k < t->nab && t->ab[k].last < start) k++;
    if (k == 0) return;
    memmove(t->ab, t->ab + k, (size_t)(t->nab - k) * sizeof *t->ab);
    t->nab -= k;
}

static uint64_t g_scanned, g_loaded; /* loop thread */

void ptxn_recovery_stats(uint64_t *scanned_batches, uint64_t *index_entries)
{
    *scanned_batches = g_scanned;
    *index_entries = g_loaded;
}

typedef struct rebuild_ctx {
    bpart *p;
    int64_t indexed_below; /* aborts below are in the loaded files */
    int64_t floor;         /* oldest open transaction's first offset at indexed_below */
    bool crossed;
    int ntx; /* markers read */
} rebuild_ctx;

static int rebuild_one(const batch_info *bi, int fd, int64_t pos, void *arg)
{
    rebuild_ctx *c = arg;
    bpart *p = c->p;
    if (!c->crossed && bi->base_offset >= c->indexed_below) {
        c->crossed = true;
        int64_t o = oldest_open(p->txn);
        c->floor = o < c->indexed_below ? o : -1;
    }
    if (bi->attributes & BATCH_ATTR_CONTROL) {
        uint8_t cb[256];
        int type = -1;
        if (bi->total_len <= (int32_t)sizeof cb &&
            pread(fd, cb, (size_t)bi->total_len, pos) == (ssize_t)bi->total_len)
            type = batch_control_type(cb, (size_t)bi->total_len);
        if (type >= 0) {
            end_txn(p, bi->producer_id, type == 1, bi->base_offset,
                    bi->base_offset >= c->indexed_below);
            producers_fence(p, bi->producer_id, bi->producer_epoch);
            c->ntx++;
        }
    } else if (bi->attributes & BATCH_ATTR_TRANSACTIONAL) {
        ptxn_on_append(p, bi, bi->base_offset);
    }
    return 0;
}

static int64_t floor_fn(void *arg)
{
    int64_t o = oldest_open(((bpart *)arg)->txn);
    return o == INT64_MAX ? -1 : o;
}

void ptxn_rebuild(bpart *p)
{
    plog_txn_entry *e = NULL;
    int32_t n = 0;
    int64_t below = 0, from = 0;
    plog_txnindex_recovery(p->log, &e, &n, &below, &from);
    if (n > 0) {
        ptxn *t = state(p, true);
        for (int32_t i = 0; i < n; i++) ab_push(t, e[i].pid, e[i].first, e[i].last);
    }
    free(e);
    rebuild_ctx c = {p, below, -1, false, 0};
    int nb = batch_scan_headers(p->log, from, rebuild_one, &c);
    if (!c.crossed) {
        int64_t o = oldest_open(p->txn);
        c.floor = o < below ? o : -1;
    }
    plog_txnindex_rebuilt(p->log, c.floor);
    plog_set_txn_floor(p->log, floor_fn, p);
    g_scanned += (uint64_t)(nb > 0 ? nb : 0);
    g_loaded += (uint64_t)n;
    ptxn *t = p->txn;
    if (t) /* partitions that saw transactions (tests read this line) */
        LOGI("txn",
             "%s-%d: %d aborted transaction(s) from .txnindex below offset %" PRId64
             ", %d batch header(s) scanned from %" PRId64 " (%d marker(s)); %d aborted, %d open",
             p->topic->name, p->index, n, below, nb, from, c.ntx, t ? t->nab : 0, t ? t->nopen : 0);
}
