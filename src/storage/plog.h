/* plog — one partition's durable log: segment files of RecordBatch v2 bytes as received,
 * sparse offset and time indexes, roll, retention, recovery, and the fsync (flush) thread.
 *
 * Sits in storage/: knows nothing of the Kafka protocol beyond "a record batch is bytes with
 * a 61-byte header" (batch.h). Threading: every plog_* call except those marked "any thread"
 * is made from the broker's loop thread. The flusher runs on its own thread and only calls
 * fdatasync on segment fds it holds references to.
 *
 * On-disk layout, Kafka's own:  <data-dir>/<topic>-<partition>/
 *     00000000000000000000.log        record batches, back to back
 *     00000000000000000000.index      sparse: {int32 relative offset, int32 file position}
 *     00000000000000000000.timeindex  sparse: {int64 max timestamp so far, int32 rel offset}
 *     00000000000000000000.txnindex   aborted transactions whose marker is in the segment
 *     log-start-offset                 decimal text, written atomically when it moves
 *     quarantine                       "first last" lines: damaged batches (scrub, read check)
 *     txn-recovery                     "B F": at the roll that began segment B the oldest open
 *                                      transaction began at offset F (txnidx.c)
 */
#ifndef EDDY_STORAGE_PLOG_H
#define EDDY_STORAGE_PLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct plog plog;

enum plog_cleanup { PLOG_CLEANUP_DELETE = 1, PLOG_CLEANUP_COMPACT = 2 }; /* bit flags */

typedef struct plog_config {
    int64_t segment_bytes;        /* log.segment.bytes, default 1 GiB */
    int64_t segment_ms;           /* log.roll.ms, default 7 days */
    int64_t retention_ms;         /* log.retention.ms, -1 = forever, default 7 days */
    int64_t retention_bytes;      /* log.retention.bytes, -1 = unlimited */
    int32_t index_interval_bytes; /* log.index.interval.bytes, default 4096 */
    int32_t cleanup_policy;       /* plog_cleanup flags */
    int64_t delete_retention_ms;  /* delete.retention.ms (tombstones), default 1 day */
    bool preallocate;             /* preallocate segment files (fallocate) */
    /* 0 = none for the three below (zeroed configs keep the old behaviour) */
    int64_t segment_jitter_ms;     /* segment.jitter.ms: a random [0, jitter) is taken off the
                                    * roll age of this log, drawn when the config is set */
    int64_t min_compaction_lag_ms; /* min.compaction.lag.ms: compaction stops at the first
                                    * segment holding a record younger than this */
    int64_t max_compaction_lag_ms; /* max.compaction.lag.ms: a compact log's active segment
                                    * rolls (becomes compactable) at this age */
} plog_config;

void plog_config_default(plog_config *c);

/* Opens (creating if absent) the partition directory and recovers it: the last segment is
 * re-validated batch by batch (length, magic, CRC32C) and cut at the first bad batch;
 * indexes that do not match are rebuilt. Returns 0 or -errno / negative error. */
int plog_open(const char *dir, const plog_config *cfg, plog **out);
/* Flushes (fdatasync) and closes everything. */
void plog_close(plog *l);
/* Closes and removes the directory and every file in it. */
int plog_delete(plog *l);
void plog_set_config(plog *l, const plog_config *cfg);

int64_t plog_start_offset(const plog *l);   /* first retained offset */
int64_t plog_end_offset(const plog *l);     /* LEO: next offset to assign */
int64_t plog_durable_offset(const plog *l); /* everything below is fsynced (any thread) */
int64_t plog_size_bytes(const plog *l);

/* Appends one validated batch (see batch.h). Rewrites baseOffset (:= LEO) and
 * partitionLeaderEpoch (:= 0) in `batch` in place, writes it. Rolls the segment first when it
 * is full or old. Returns 0 and the assigned base offset, or -errno (e.g. -ENOSPC: nothing is
 * appended and the LEO does not move). */
int plog_append(plog *l, uint8_t *batch, size_t len, int64_t *base_offset);

/* Where the bytes for a fetch starting at `offset` are: at most `max_bytes` of whole batches,
 * starting with the batch that contains `offset`; the first batch is returned whole even if it
 * is larger than max_bytes. `fd` is a dup()ed descriptor the caller must close (the segment may
 * be deleted meanwhile; the open fd keeps the bytes readable). Returns 0 (len may be 0 at the
 * end of the log), or -ERANGE if offset is outside [start, end]. Only whole batches. */
typedef struct plog_slice {
    int fd;
    int64_t file_pos;
    int32_t len;
    int64_t next_offset; /* offset just after the last batch in the slice */
} plog_slice;
int plog_read(plog *l, int64_t offset, int32_t max_bytes, plog_slice *out);
/* Like plog_read but copies into memory (for internal readers: group offsets, registry).
 * *buf is malloc()ed; caller frees. */
int plog_read_copy(plog *l, int64_t offset, int32_t max_bytes, uint8_t **buf, int32_t *len,
                   int64_t *next_offset);
/* Both check a slice's batch CRCs first when nothing has verified those bytes since start (a
 * segment older than this process that the scrub has not reached yet; see "scrub" below):
 * written-here and already-verified bytes are served as they are. plog_read_headers skips the
 * check, for readers that look only at batch headers (the producer-state rebuild at start). */
int plog_read_headers(plog *l, int64_t offset, int32_t max_bytes, plog_slice *out);
/* Cold-read check totals (any thread): bytes checked, batches found damaged and quarantined. */
void plog_read_check_stats(uint64_t *bytes, uint64_t *bad);

/* First offset whose batch maxTimestamp >= ts (batch granularity; the caller may refine inside
 * the batch). Returns the batch base offset and that batch's max timestamp, or -1 if none. */
int plog_offset_for_time(plog *l, int64_t ts, int64_t *offset, int64_t *timestamp);
/* Timestamp of the batch holding `offset` (its first record's create time, or its append time
 * under LogAppendTime; an offset below the log start reads the first retained batch): for lag
 * in seconds (lagtime.c). 0, -ERANGE at or past the end, or -EIO. */
int plog_timestamp_at(plog *l, int64_t offset, int64_t *ts);
/* Offset and timestamp of the record batch with the largest max timestamp, or -1. */
int plog_max_timestamp(plog *l, int64_t *offset, int64_t *timestamp);

/* ---- scrub ----
 * Re-verifies the CRC-32C of every batch of the closed segments (never the active one), a
 * slice at a time from a cursor that wraps around. A batch whose CRC does not match (or whose
 * header no longer chains) is quarantined: its offset range is recorded, logged once, and
 * plog_read/plog_read_copy answer -EBADMSG for an offset inside it and end a slice before it,
 * so a reader gets a clear error at the damaged offsets and everything else stays readable.
 * A read of bytes not verified since start does the same check first (plog_read), so damage
 * is caught on first use even with the scrub off. Quarantined ranges are persisted in
 * <dir>/quarantine ("first last" lines) and survive a restart; ranges below the log start
 * offset are dropped. */
typedef struct plog_scrub_stats {
    int64_t bytes;   /* bytes verified by this call */
    int32_t new_bad; /* batches newly quarantined by this call */
    bool pass_done;  /* the cursor wrapped: every closed segment was verified once */
} plog_scrub_stats;
/* Verifies about `budget` bytes (at least one batch). Returns 0 or -errno. */
int plog_scrub(plog *l, int64_t budget, plog_scrub_stats *st);
/* Quarantined ranges: count, and the i-th [first, last] (0 <= i < count). */
int32_t plog_quarantine_count(plog *l);
void plog_quarantine_at(plog *l, int32_t i, int64_t *first, int64_t *last);
/* Test/tool hook: is `offset` inside a quarantined range? */
bool plog_quarantined(plog *l, int64_t offset);

/* DeleteRecords: moves the log start offset up to `offset` (<= LEO), deletes whole segments
 * below it, persists it. Returns 0 or -ERANGE / -errno. */
int plog_delete_records(plog *l, int64_t offset);
/* Applies time and size retention (whole segments, never the active one) and age-based roll.
 * Returns the number of segments deleted. */
int plog_enforce_retention(plog *l, int64_t now_ms);

/* ---- flush policy and group commit ---- */
typedef struct flusher flusher;
/* Starts the flush thread. After each round of fdatasyncs it writes to `notify_fd` (an
 * eventfd the loop polls), so the loop can answer acks=all requests whose offsets are durable.
 * `interval_ms` > 0 also flushes every dirty partition on that period (log.flush.interval.ms).
 */
flusher *flusher_start(int notify_fd, int64_t interval_ms);
void flusher_stop(flusher *f); /* flushes everything pending, joins the thread */
/* Loop thread: `l` has data below `offset` that must become durable (acks=all). Cheap; many
 * requests between two fsync rounds share one fdatasync per partition. */
void flusher_request(flusher *f, plog *l, int64_t offset);
/* Must be called before plog_close/plog_delete of a partition the flusher may know about. */
void flusher_forget(flusher *f, plog *l);

/* ---- log compaction (cleanup.policy=compact; see compact.c for the rules) ---- */
/* Keeps the latest record of every key in the non-active segments (tombstones until their
 * batch maxTimestamp + delete_retention_ms < now_ms); records keep their offsets. No-op unless
 * cfg.cleanup_policy has PLOG_CLEANUP_COMPACT. Crash-safe (.cleaned -> .swap -> .log).
 * Loop thread; blocks it while segments are rewritten. Returns the number of segments
 * rewritten or removed, or -errno. */
int plog_compact(plog *l, int64_t now_ms);
/* Test hook: the next compaction stops after writing <base>.log.cleaned (stage 1) or after
 * renaming it to .swap (stage 2), as if killed there; 0 = off. */
void plog_test_compact_crash_after(int stage);

/* ---- additions (storage engineer; additive) ---- */
/* Number of segment files (tests, metrics). */
int32_t plog_segment_count(const plog *l);
/* Flusher statistics: completed rounds and fdatasync calls made (tests, metrics; any thread). */
void flusher_stats(flusher *f, uint64_t *rounds, uint64_t *fsyncs);
/* Drop-behind window (process-wide): the newest `keep_bytes` of each active segment stay in
 * the page cache, older pages are written back and dropped. 0 turns drop-behind off (plain
 * page-cache writes). Default 32 MiB. For benchmarks and tuning. */
void plog_set_drop_behind(int64_t keep_bytes);
/* Test hook: the next plog_append writes `partial_bytes` of its batch, then fails with -err
 * (simulates ENOSPC/EIO mid-write). Not for production use. */
void plog_test_fail_next_write(int err, int partial_bytes);

/* ---- aborted-transaction index (txnidx.c; the broker's txnlog keeps the meaning) ----
 * One <base>.txnindex per segment, Kafka's AbortedTxn entries (34 bytes, big-endian: int16
 * version 0, producerId, firstOffset, lastOffset = the abort marker, lastStableOffset after
 * it), in marker order, in the segment holding the marker. Closed segments' files are written
 * whole and durable at roll and trusted at open after validation; the active segment's file
 * is appended to and rebuilt at every start. Retention deletes a segment's file with it;
 * compaction keeps markers and offsets, so a cleaned segment keeps its entries. */
typedef struct plog_txn_entry {
    int64_t pid, first, last, lso;
} plog_txn_entry;
#define PLOG_TXN_ENTRY_SIZE 34
/* An abort marker at e->last (< LEO, in marker order) was appended: records its entry. */
int plog_txnindex_add(plog *l, const plog_txn_entry *e);
/* The broker's callback for roll: first offset of the oldest transaction open now, or -1. */
void plog_set_txn_floor(plog *l, int64_t (*fn)(void *arg), void *arg);
/* Start-up: the entries of the trusted segments (every segment below *indexed_below; *out is
 * malloc()ed, in order), and where a batch-header scan must start (*scan_from <=
 * *indexed_below) to find every transaction still open and every abort marker at or above
 * *indexed_below, which the caller adds with plog_txnindex_add. */
int plog_txnindex_recovery(plog *l, plog_txn_entry **out, int32_t *n, int64_t *indexed_below,
                           int64_t *scan_from);
/* After that scan: writes the rebuilt files; floor = first offset of the oldest transaction
 * open at the active segment's base (or -1). */
void plog_txnindex_rebuilt(plog *l, int64_t floor);
/* Decodes and validates a .txnindex image for the segment [seg_base, seg_next): 0 (*out
 * malloc()ed) or -1 with *why. For tests and fuzzing. */
int plog_txnindex_decode(const uint8_t *b, size_t n, int64_t seg_base, int64_t seg_next,
                         plog_txn_entry **out, int32_t *count, const char **why);
/* Entries held for the i-th segment (tests), or -1. */
int32_t plog_txnindex_count(const plog *l, int32_t seg_index);

#endif
