/* plog_int — internals shared by plog.c (segments, indexes, recovery, reads, retention),
 * flush.c (the group-commit thread) and compact.c (the cleaner). Not for other modules.
 *
 * Locking: the loop thread owns a plog and is the only writer of its fields. `mu` is taken
 * by the loop thread around every change the flusher can observe (the segment array, a
 * segment's size, leo) and by the flusher while it picks what to sync. Segments and plogs are
 * reference counted: a descriptor is closed only when its last reference goes, so the flusher
 * never fsyncs a closed or reused fd number.
 *
 * Index files (Kafka's, big-endian):
 *   .index      8 bytes/entry   off 0 int32 relative offset | off 4 int32 file position
 *   .timeindex 12 bytes/entry   off 0 int64 max timestamp so far | off 8 int32 relative offset
 * They are kept in memory and written whole at roll, close and after a rebuild; on open they
 * are validated against the log (and rebuilt from a scan when they do not match).
 */
#ifndef EDDY_STORAGE_PLOG_INT_H
#define EDDY_STORAGE_PLOG_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "storage/plog.h"

#define IDX_ENTRY 8
#define TIDX_ENTRY 12
#define SEG_VR_MAX 8

typedef struct idx_ent {
    int32_t rel;
    int32_t pos;
} idx_ent;

typedef struct tidx_ent {
    int64_t ts;
    int32_t rel;
} tidx_ent;

typedef struct seg {
    int64_t base;       /* base offset (file name) */
    char *path;         /* "<dir>/<20 digits>" without extension */
    int fd;             /* .log, O_RDWR */
    int64_t size;       /* bytes of whole valid batches (logical end) */
    int64_t alloc;      /* bytes the file has on disk (> size when preallocated) */
    int64_t next_off;   /* offset after the last batch (= base when empty) */
    int64_t max_ts;     /* largest batch maxTimestamp, -1 if none */
    int64_t max_ts_off; /* base offset of the batch holding it */
    int64_t created_ms; /* roll-by-age reference (first batch maxTimestamp, or wall time) */
    idx_ent *idx;
    int32_t nidx, aidx;
    tidx_ent *tidx;
    int32_t ntidx, atidx;
    int64_t since_idx; /* bytes appended since the last index entry */
    bool idx_dirty;    /* in-memory index differs from the files */
    int64_t synced;    /* bytes known durable (under plog mu) */
    int64_t wb_pos;    /* drop-behind: writeback started below this */
    int64_t drop_pos;  /* drop-behind: pages dropped below this */
    int64_t rd_last;   /* read drop-behind: position of the last cold read that dropped */
    int64_t ra_end;    /* cold reads: read-ahead requested below this */
    /* byte ranges [lo, hi) whose batch CRCs were verified since start (recovery and compaction
     * scans, the scrub, cold reads; a segment this process writes is [0, INT64_MAX)): a read
     * inside one is served as is, any other is checked first (loop thread; unordered, at most
     * SEG_VR_MAX, the smallest forgotten when full: its bytes are only checked again) */
    struct {
        int64_t lo, hi;
    } vr[SEG_VR_MAX];
    int32_t nvr;
    /* aborted-transaction index (txnidx.c): entries whose abort marker is in this segment;
     * tx_ok: the list is complete (loaded from a valid file, or kept since the segment was
     * created, or rebuilt); tx_dirty: the file is behind the list (written at rebuild end) */
    plog_txn_entry *tx;
    int32_t ntx, atx;
    bool tx_ok, tx_dirty;
    int refs; /* atomic */
} seg;

struct plog {
    char *dir;
    plog_config cfg;
    int64_t roll_age_ms; /* age at which the active segment rolls (segment.ms, jitter, max lag) */
    pthread_mutex_t mu;
    seg **segs;
    int32_t nsegs, asegs;
    int64_t start;   /* log start offset */
    int64_t leo;     /* atomic reads from other threads */
    int64_t durable; /* atomic */
    int refs;        /* atomic */
    bool closed;     /* under mu */
    /* flusher bookkeeping (under the flusher's mutex) */
    bool fq_queued;
    /* scrub (plog_scrub, loop thread): cursor = segment base + byte position in it; the
     * quarantined offset ranges found damaged (under mu: locate reads them) */
    int64_t scrub_base, scrub_pos, scrub_pos_off; /* scrub_pos_off: offset at scrub_pos */
    uint64_t seg_gen, scrub_gen; /* seg_gen: bumped when compaction replaces a segment */
    struct {
        int64_t first, last;
    } * quar;
    int32_t nquar, aquar;
    /* txnidx.c: the broker's "oldest open transaction's first offset" for txn-recovery */
    int64_t (*tx_floor_fn)(void *arg);
    void *tx_floor_arg;
    /* registry of open plogs for the periodic flush (under the registry mutex) */
    struct plog *reg_prev, *reg_next;
};

/* A read-through window over a file, for scans that look at many consecutive batches. */
typedef struct pl_scanner {
    int fd;
    int64_t limit; /* bytes of the file that may be read */
    uint8_t *buf;
    size_t cap;
    int64_t bpos; /* file position of buf[0] */
    size_t blen;
} pl_scanner;

/* plog.c */
void pl_scan_init(pl_scanner *s, int fd, int64_t limit, size_t cap);
void pl_scan_free(pl_scanner *s);
/* n bytes at pos, or NULL when the file (limit) has fewer or on a read error. */
const uint8_t *pl_scan_get(pl_scanner *s, int64_t pos, size_t n);
int pl_pwrite_all(int fd, const void *p, size_t n, int64_t off);
seg *pl_seg_new(const char *dir, int64_t base);
char *pl_seg_file(const seg *s, const char *ext);
void pl_seg_unlink_files(seg *s);
/* Scans CRC-checked batches from pos, filling indexes; returns where valid data ends. */
int64_t pl_seg_scan(seg *s, int32_t interval, int64_t pos, int64_t file_size, int64_t next_base,
                    const char **why);
/* Records [lo, hi) of s as CRC-verified since start (pl_seg_scan does it for what it scanned). */
void pl_seg_verified(seg *s, int64_t lo, int64_t hi);
void pl_seg_write_indexes(seg *s);
void plog_ref(plog *l);
void plog_unref(plog *l);
void pl_seg_ref(seg *s);
void pl_seg_unref(seg *s);
/* Syncs every segment with unsynced bytes and advances the durable offset (any thread).
 * Returns the number of fdatasync calls made, or -errno on failure. */
int plog_sync(plog *l);
/* Registry walk for the periodic flush: calls fn on every open plog with unsynced data,
 * holding a reference across the call. */
void plog_registry_each_dirty(void (*fn)(plog *l, void *arg), void *arg);
bool plog_is_dirty(plog *l);

/* txnidx.c */
void pl_tx_push(seg *s, const plog_txn_entry *e);
void pl_tx_load(seg *s);
int pl_tx_write(seg *s, bool durable);
void pl_tx_roll(plog *l, seg *old);

/* recover.c: finishes or discards half-done compaction swaps before the segments are listed. */
void plog_compact_recover_dir(const char *dir);

#endif
