/* dlq.h — libeddy: dead-letter queue redrive. Reads the dead letters of a `<topic>.dlq` topic
 * (as libeddy's retry path and eddy-push write them) and republishes each ORIGINAL record —
 * its own key, headers and value, byte for byte, with only the DLQ's diagnostic `x-dlq-*`
 * headers removed and an `eddy-redrive-count` header set — to its source topic or another
 * one. A filter picks which dead letters move, a dry run lists them without producing, a rate
 * limit paces the producer, a loop guard refuses records already redriven N times, and every
 * redriven dead letter is marked on the compacted topic `<dlq topic>.redriven` (key
 * "PARTITION:OFFSET") so that a second redrive does not move it again.
 *
 * Order of the writes: the record (acks=all, idempotent producer) and only once it is
 * acknowledged its marker. A crash between the two repeats that record at the next redrive
 * (the service's inbox drops the repeat by eventId); nothing is ever lost.
 *
 * Include after <eddy/eddy.h>; link libeddy. See docs/sdk.md ("Dead-letter redrive").
 */
#ifndef EDDY_DLQ_H
#define EDDY_DLQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDDY_REDRIVE_COUNT_HEADER "eddy-redrive-count"
#define EDDY_REDRIVE_MAX_DEFAULT 3
/* eddy_dlq_redrive's result when the DLQ topic or the --to topic does not exist (-ENOENT). */
#define EDDY_ERR_NOTFOUND (-2)

/* ---- filter --------------------------------------------------------------------------------
 * Expressions, all of which must match (AND):
 *   error=TEXT      TEXT occurs in the error           reason=TEXT   TEXT occurs in the reason
 *   service=NAME    the service that dead-lettered it  topic=NAME    the source topic
 *   key=KEY         the record's key, exactly          partition=N   the source partition
 *   offset=A..B     source offset in [A, B] (A.., ..B and a single N work too)
 *   time=T1..T2     when it was dead-lettered (the DLQ record's timestamp), RFC 3339 or
 *                   epoch milliseconds, either end optional                               */
typedef struct eddy_dlq_filter eddy_dlq_filter;

eddy_dlq_filter *eddy_dlq_filter_new(void);
/* Adds one expression. 0, or EDDY_ERR_PERMANENT with *err (malloc'd) saying what is wrong. */
int eddy_dlq_filter_add(eddy_dlq_filter *f, const char *expr, char **err);
void eddy_dlq_filter_free(eddy_dlq_filter *f);

/* ---- redrive ------------------------------------------------------------------------------- */
typedef enum eddy_redrive_outcome {
    EDDY_REDRIVE_MOVED = 0,      /* republished and marked */
    EDDY_REDRIVE_WOULD_MOVE = 1, /* dry run: would be republished */
    EDDY_REDRIVE_LOOP_GUARD = 2, /* refused: its redrive count is already >= max_redrives */
    EDDY_REDRIVE_ALREADY = 3,    /* skipped: redriven before (its marker exists) */
    EDDY_REDRIVE_FILTERED = 4,   /* skipped: the filter does not match it */
} eddy_redrive_outcome;

/* "moved", "would_move", "loop_guard", "already_redriven", "filtered_out" (static). */
const char *eddy_redrive_outcome_name(eddy_redrive_outcome o);

/* One dead letter, as the callback sees it (valid during the call only). Unknown numbers are
 * -1, unknown strings NULL. */
typedef struct eddy_dead_letter {
    const char *dlq_topic;
    int32_t dlq_partition;
    int64_t dlq_offset;
    int64_t dlq_timestamp_ms; /* when it was dead-lettered (the DLQ record's timestamp) */
    const char *source_topic;
    int32_t source_partition;
    int64_t source_offset;
    const char *reason, *error, *service, *failed_at;
    int attempt_count;
    int redrive_count; /* eddy-redrive-count of the failed record (0: never redriven) */
    const void *key;   /* NULL: no key */
    size_t key_len;
    const void *value; /* the original value, as it is (or would be) republished; NULL for
                        * FILTERED and ALREADY (not kept in memory) */
    size_t value_len;
    int value_exact; /* 0: an old dead letter without the exact bytes, value re-serialised */
    /* where it goes; for MOVED also where it landed (partition/offset, else -1) */
    const char *to_topic;
    int32_t to_partition;
    int64_t to_offset;
} eddy_dead_letter;

typedef void (*eddy_redrive_fn)(const eddy_dead_letter *dl, eddy_redrive_outcome outcome,
                                void *arg);

typedef struct eddy_redrive_opts {
    const char *to;                  /* NULL: each record's source topic */
    const eddy_dlq_filter *filter;   /* NULL: every dead letter */
    int dry_run;                     /* list only: nothing is produced, nothing created */
    double rate;                     /* records per second; 0: unlimited */
    int max_redrives;                /* loop guard; 0: EDDY_REDRIVE_MAX_DEFAULT */
    int timeout_ms;                  /* metadata, reads, each acknowledgement; 0: 30000 */
    const char *const *rdkafka_conf; /* NULL-terminated "k=v" (security settings, ...) */
    eddy_redrive_fn fn;              /* called for every dead letter, in DLQ order */
    void *arg;
    volatile int *stop; /* set (e.g. by a signal handler) to stop between records */
} eddy_redrive_opts;

typedef struct eddy_redrive_stats {
    int64_t scanned, moved, would_move, loop_guard, already_redriven, filtered_out;
} eddy_redrive_stats;

/* Redrives the dead letters of dlq_topic (read from its beginning to its end at the start).
 * Every target topic is checked before anything is produced. Returns 0 (see *st for what
 * happened), or, with *err (malloc'd): EDDY_ERR_NOTFOUND (no such DLQ topic / target topic),
 * EDDY_ERR_PERMANENT (bad arguments), EDDY_ERR_IO (the broker refused or did not answer;
 * records already moved stay moved and marked), EDDY_ERR_TRANSIENT (*stop was set). */
int eddy_dlq_redrive(const char *bootstrap, const char *dlq_topic, const eddy_redrive_opts *o,
                     eddy_redrive_stats *st, char **err);

/* Prometheus text of this process's redrive counters (malloc'd):
 *   eddy_dlq_redriven_total{dlq_topic}                    records republished
 *   eddy_dlq_redrive_skipped_total{dlq_topic,reason}      loop_guard / already_redriven
 * A service's /metrics includes them. */
char *eddy_dlq_metrics_text(void);

#ifdef __cplusplus
}
#endif

#endif
