/* txnlog — the log side of transactions (KIP-98) for one partition: which producers have a
 * transaction open here and from which offset (the last stable offset is the smallest such
 * first offset, or the high watermark), the aborted-transaction index {producerId, firstOffset,
 * lastOffset} that read_committed fetches are answered with, and the end-transaction markers
 * (control batches) the transaction coordinator writes.
 *
 * Sits in broker/ beside producers.c: Produce calls ptxn_on_append for every transactional
 * batch it appends, and ptxn_on_marker for the markers the coordinator (src/txn) writes with
 * part_write_marker (produce.c). Nothing here is
 * persisted apart from the log itself: at start-up ptxn_rebuild reads the batch headers of the
 * whole partition (and the key of every control batch) and replays them, so the index is always
 * exactly what the log says. A partition that never saw a transactional batch keeps no state.
 */
#include <inttypes.h>
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

/* A marker of pid at `offset`: the producer's open transaction here ends (an abort is added
 * to the index). A marker for a producer with nothing open is recorded nowhere. */
void ptxn_on_marker(bpart *p, int64_t pid, bool commit, int64_t offset)
{
    ptxn *t = state(p, false);
    topen *o = find_open(t, pid);
    if (!o) return;
    if (!commit) {
        if (t->nab == t->aab) {
            t->aab = t->aab ? t->aab * 2 : 8;
            t->ab = xrealloc(t->ab, (size_t)t->aab * sizeof *t->ab);
        }
        t->ab[t->nab++] = (ptxn_aborted){pid, o->first, offset};
    }
    *o = t->open[--t->nopen];
}

int64_t part_lso(const bpart *p)
{
    int64_t lso = plog_end_offset(p->log);
    const ptxn *t = p->txn;
    for (int i = 0; t && i < t->nopen; i++)
        if (t->open[i].first < lso) lso = t->open[i].first;
    return lso;
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

typedef struct rebuild_ctx {
    bpart *p;
    int ntx; /* markers read */
} rebuild_ctx;

static int rebuild_one(const batch_info *bi, int fd, int64_t pos, void *arg)
{
    rebuild_ctx *c = arg;
    bpart *p = c->p;
    if (bi->attributes & BATCH_ATTR_CONTROL) {
        uint8_t cb[256];
        int type = -1;
        if (bi->total_len <= (int32_t)sizeof cb &&
            pread(fd, cb, (size_t)bi->total_len, pos) == (ssize_t)bi->total_len)
            type = batch_control_type(cb, (size_t)bi->total_len);
        if (type >= 0) {
            ptxn_on_marker(p, bi->producer_id, type == 1, bi->base_offset);
            producers_fence(p, bi->producer_id, bi->producer_epoch);
            c->ntx++;
        }
    } else if (bi->attributes & BATCH_ATTR_TRANSACTIONAL) {
        ptxn_on_append(p, bi, bi->base_offset);
    }
    return 0;
}

void ptxn_rebuild(bpart *p)
{
    rebuild_ctx c = {p, 0};
    batch_scan_headers(p->log, plog_start_offset(p->log), rebuild_one, &c);
    ptxn *t = p->txn;
    if (t)
        LOGD("txn", "%s-%d: %d marker(s), %d aborted, %d open transaction(s) recovered",
             p->topic->name, p->index, c.ntx, t->nab, t->nopen);
}
