/* txnidx — the aborted-transaction index of a partition log, one <base>.txnindex per segment
 * (plog.h, "aborted-transaction index"), and the txn-recovery file that says where the
 * broker's start-up scan for open transactions must begin.
 *
 * File format (Kafka's AbortedTxn, big-endian, 34 bytes per entry, no header):
 *   off 0 int16 version (0) | 2 int64 producerId | 10 int64 firstOffset |
 *   18 int64 lastOffset (the abort marker) | 26 int64 lastStableOffset (after the marker)
 * An entry belongs to the segment holding its abort marker (lastOffset), in marker order.
 *
 * Durability. The active segment's entries are appended to its file as the markers are
 * written (page cache only): the active segment is rescanned at every start, so its file is
 * never trusted. At roll the closed segment's file is written whole: an empty one is created
 * (nothing to lose), a non-empty one goes through <base>.txnindex.tmp, fdatasync, rename, and
 * roll's fsync of the directory makes it durable with the new segment's name. So a closed
 * segment's file either holds every entry of the segment or is absent (rebuilt by a scan).
 * On open, a non-last segment's file is validated: whole entries, version 0, producerId >= 0,
 * firstOffset <= lastOffset, lastOffset strictly increasing and inside the segment's recovered
 * offsets (an entry past the log's end means the log lost bytes: the file is rebuilt),
 * lastStableOffset <= lastOffset + 1. Anything else: a warning and a rebuild from the log.
 *
 * txn-recovery ("B F\n"): at the roll that started segment B, the oldest transaction then open
 * began at F (F == B: none). Written at every roll (tmp + rename, no fsync: after a crash the
 * file either names some boundary B that holds, or is unreadable and the scan starts at the
 * log start). At start-up the broker scans batch headers from F up to the end and trusts the
 * index files of the segments below B.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "storage/plog.h"
#include "storage/plog_int.h"

/* Below plog.c in the file order (plog.c calls in here at open and roll): only common/ and the
 * shared structs, none of plog.c's functions. */
static char *tx_path(const seg *s)
{
    return xasprintf("%s.txnindex", s->path);
}

static int write_at(int fd, const void *p, size_t n, int64_t off)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = pwrite(fd, b, n, off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? -errno : -EIO;
        b += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

void pl_tx_push(seg *s, const plog_txn_entry *e)
{
    if (s->ntx == s->atx) {
        s->atx = s->atx ? s->atx * 2 : 4;
        s->tx = xrealloc(s->tx, (size_t)s->atx * sizeof *s->tx);
    }
    s->tx[s->ntx++] = *e;
}

static void encode(uint8_t *b, const plog_txn_entry *e)
{
    put_be16(b, 0);
    put_be64(b + 2, (uint64_t)e->pid);
    put_be64(b + 10, (uint64_t)e->first);
    put_be64(b + 18, (uint64_t)e->last);
    put_be64(b + 26, (uint64_t)e->lso);
}

int plog_txnindex_decode(const uint8_t *b, size_t n, int64_t seg_base, int64_t seg_next,
                         plog_txn_entry **out, int32_t *count, const char **why)
{
    *out = NULL;
    *count = 0;
    if (n % PLOG_TXN_ENTRY_SIZE) {
        *why = "truncated (not a whole number of entries)";
        return -1;
    }
    size_t k = n / PLOG_TXN_ENTRY_SIZE;
    if (k > INT32_MAX) {
        *why = "too large";
        return -1;
    }
    plog_txn_entry *v = k ? xmalloc(k * sizeof *v) : NULL;
    int64_t prev = INT64_MIN;
    for (size_t i = 0; i < k; i++) {
        const uint8_t *p = b + i * PLOG_TXN_ENTRY_SIZE;
        plog_txn_entry e = {(int64_t)be64(p + 2), (int64_t)be64(p + 10), (int64_t)be64(p + 18),
                            (int64_t)be64(p + 26)};
        const char *bad = NULL;
        if (be16(p) != 0)
            bad = "unknown entry version";
        else if (e.pid < 0 || e.first < 0 || e.first > e.last || e.lso < 0)
            bad = "entry out of range";
        else if (e.last < seg_base || e.last >= seg_next)
            bad = "entry outside the segment's offsets";
        else if (e.last <= prev)
            bad = "entries out of order";
        else if (e.lso > e.last + 1)
            bad = "last stable offset past the marker";
        if (bad) {
            free(v);
            *why = bad;
            return -1;
        }
        prev = e.last;
        v[i] = e;
    }
    *out = v;
    *count = (int32_t)k;
    return 0;
}

/* Non-last segment at open: loads and validates <base>.txnindex (s->size/next_off are
 * recovered already). Sets s->tx_ok when the file can be trusted. */
void pl_tx_load(seg *s)
{
    char *p = tx_path(s);
    size_t n;
    uint8_t *b = (uint8_t *)read_file_all(p, &n);
    s->ntx = 0;
    s->tx_ok = false;
    if (!b) {
        if (errno != ENOENT)
            LOGW("storage", "%s: cannot read (%s): rebuilt from the log", p, strerror(errno));
        free(p);
        return;
    }
    plog_txn_entry *v;
    int32_t k;
    const char *why = NULL;
    if (plog_txnindex_decode(b, n, s->base, s->next_off, &v, &k, &why) < 0) {
        LOGW("storage", "%s: %s: rebuilt from the log", p, why);
    } else {
        free(s->tx);
        s->tx = v;
        s->ntx = s->atx = k;
        s->tx_ok = true;
    }
    free(b);
    free(p);
}

/* Writes s's entries whole. durable: a non-empty file goes through tmp + fdatasync + rename
 * (the caller fsyncs the directory); otherwise the file is rewritten in place. */
int pl_tx_write(seg *s, bool durable)
{
    char *p = tx_path(s);
    size_t n = (size_t)s->ntx * PLOG_TXN_ENTRY_SIZE;
    uint8_t *b = xmalloc(n ? n : 1);
    for (int32_t i = 0; i < s->ntx; i++) encode(b + (size_t)i * PLOG_TXN_ENTRY_SIZE, &s->tx[i]);
    int rc = 0;
    if (durable && n > 0) {
        char *tmp = xasprintf("%s.tmp", p);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        rc = fd < 0 ? -errno : write_at(fd, b, n, 0);
        if (!rc && fdatasync(fd) < 0) rc = -errno;
        if (fd >= 0) close(fd);
        if (!rc && rename(tmp, p) < 0) rc = -errno;
        if (rc) unlink(tmp);
        free(tmp);
    } else {
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        rc = fd < 0 ? -errno : write_at(fd, b, n, 0);
        if (fd >= 0) close(fd);
    }
    if (rc) {
        /* a file that may hold less than the segment's entries must not be trusted later */
        unlink(p);
        LOGW("storage", "cannot write %s: %s (rebuilt on next open)", p, strerror(-rc));
    }
    free(b);
    free(p);
    return rc;
}

int plog_txnindex_add(plog *l, const plog_txn_entry *e)
{
    if (e->last < l->segs[0]->base || e->last >= l->leo) return -ERANGE;
    int32_t i = l->nsegs - 1;
    while (i > 0 && l->segs[i]->base > e->last) i--;
    seg *s = l->segs[i];
    if (s->ntx > 0 && s->tx[s->ntx - 1].last >= e->last) return -EINVAL; /* marker order */
    pl_tx_push(s, e);
    if (i != l->nsegs - 1 || !s->tx_ok) {
        s->tx_dirty = true; /* a rebuild: written by plog_txnindex_rebuilt */
        return 0;
    }
    uint8_t b[PLOG_TXN_ENTRY_SIZE];
    encode(b, e);
    char *p = tx_path(s);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    int rc = fd < 0 ? -errno : write_at(fd, b, sizeof b, (int64_t)(s->ntx - 1) * (int64_t)sizeof b);
    if (fd >= 0) close(fd);
    /* the active segment's file is rebuilt at the next start anyway; roll writes it whole */
    if (rc) LOGW("storage", "cannot append to %s: %s", p, strerror(-rc));
    free(p);
    return 0;
}

void plog_set_txn_floor(plog *l, int64_t (*fn)(void *arg), void *arg)
{
    l->tx_floor_fn = fn;
    l->tx_floor_arg = arg;
}

static char *recovery_path(const plog *l)
{
    return xasprintf("%s/txn-recovery", l->dir);
}

/* "B F\n" without fsync: see the header comment for why a stale or lost file is safe. */
static void recovery_write(plog *l, int64_t b, int64_t f)
{
    char *p = recovery_path(l), *tmp = xasprintf("%s/txn-recovery.tmp", l->dir);
    char t[64];
    int n = snprintf(t, sizeof t, "%" PRId64 " %" PRId64 "\n", b, f);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? -errno : write_at(fd, t, (size_t)n, 0);
    if (fd >= 0) close(fd);
    if (!rc && rename(tmp, p) < 0) rc = -errno;
    if (rc) {
        unlink(tmp);
        unlink(p); /* unknown beats wrong: the next start scans from the log start */
        LOGW("storage", "cannot write %s: %s", p, strerror(-rc));
    }
    free(tmp);
    free(p);
}

static bool recovery_read(const plog *l, int64_t *b, int64_t *f)
{
    char *p = recovery_path(l);
    size_t n;
    char *t = read_file_all(p, &n);
    free(p);
    if (!t) return false;
    long long x, y;
    char nl;
    bool ok =
        sscanf(t, "%lld %lld%c", &x, &y, &nl) == 3 && nl == '\n' && x >= 0 && y >= 0 && y <= x;
    free(t);
    if (ok) {
        *b = x;
        *f = y;
    }
    return ok;
}

/* roll(): before the new segment at l->leo is created. */
void pl_tx_roll(plog *l, seg *old)
{
    if (!old->tx_ok) {
        /* recovered as the last segment and never rebuilt (no broker on top): unknown */
        char *p = tx_path(old);
        unlink(p);
        free(p);
        return;
    }
    if (pl_tx_write(old, true) < 0) {
        old->tx_ok = false;
        return;
    }
    old->tx_dirty = false;
    if (!l->tx_floor_fn) return; /* a stale txn-recovery names an older boundary: still true */
    int64_t f = l->leo;
    if (l->tx_floor_fn) {
        int64_t x = l->tx_floor_fn(l->tx_floor_arg);
        if (x >= 0 && x < f) f = x;
    }
    recovery_write(l, l->leo, f);
}

int plog_txnindex_recovery(plog *l, plog_txn_entry **out, int32_t *n, int64_t *indexed_below,
                           int64_t *scan_from)
{
    /* the trusted prefix: segments with a valid file, from the oldest */
    int32_t k = 0;
    while (k < l->nsegs - 1 && l->segs[k]->tx_ok) k++;
    int64_t t = l->segs[k]->base, b, f;
    int64_t from = l->start;
    if (recovery_read(l, &b, &f) && b <= t) {
        int32_t j = 0;
        while (j < k && l->segs[j]->base < b) j++;
        if (j < l->nsegs && l->segs[j]->base == b) {
            k = j;
            t = b;
            from = f;
        }
    }
    if (k == 0) from = l->start; /* nothing trusted: the whole log */
    if (from < l->start) from = l->start;
    if (from > t) from = t;
    int32_t cnt = 0;
    for (int32_t i = 0; i < k; i++) cnt += l->segs[i]->ntx;
    plog_txn_entry *v = cnt ? xmalloc((size_t)cnt * sizeof *v) : NULL;
    cnt = 0;
    for (int32_t i = 0; i < k; i++) {
        if (l->segs[i]->ntx > 0)
            memcpy(v + cnt, l->segs[i]->tx, (size_t)l->segs[i]->ntx * sizeof *v);
        cnt += l->segs[i]->ntx;
    }
    /* everything from the boundary on is rebuilt by the caller's scan */
    for (int32_t i = k; i < l->nsegs; i++) {
        l->segs[i]->ntx = 0;
        l->segs[i]->tx_ok = false;
        l->segs[i]->tx_dirty = true;
    }
    *out = v;
    *n = cnt;
    *indexed_below = t;
    *scan_from = from;
    return 0;
}

void plog_txnindex_rebuilt(plog *l, int64_t floor)
{
    bool wrote = false;
    for (int32_t i = 0; i < l->nsegs; i++) {
        seg *s = l->segs[i];
        if (!s->tx_dirty && s->tx_ok) continue;
        bool active = i == l->nsegs - 1;
        pl_tx_write(s, !active);
        s->tx_ok = true;
        s->tx_dirty = false;
        wrote = wrote || !active;
    }
    if (wrote) fsync_dir(l->dir);
    seg *act = l->segs[l->nsegs - 1];
    int64_t f = floor >= 0 && floor < act->base ? floor : act->base;
    int64_t b, f0;
    if (!recovery_read(l, &b, &f0) || b != act->base || f0 != f) recovery_write(l, act->base, f);
}

int32_t plog_txnindex_count(const plog *l, int32_t seg_index)
{
    if (seg_index < 0 || seg_index >= l->nsegs) return -1;
    return l->segs[seg_index]->ntx;
}
