/* dlqrule.h — the rules of dead-letter redrive, in one place for libeddy (src/sdk/dlq.c: the
 * CLI's `eddy dlq redrive`) and eddyd's admin API (src/console/redrive.c: the console's redrive
 * button), so that both read a dead letter the same way, decide the same outcome, strip the same
 * headers and write the same marker — a record redriven by one is "already_redriven" for the
 * other. Pure: no I/O, no Kafka client, no broker; jansson and libc only. It sits in
 * src/sdkschema because that is the lowest module both libeddy and eddyd's console may link
 * (libeddy links nothing of the broker; see scripts/check_layering.py).
 *
 * A dead letter (libeddy's retry path and eddy-push write them) is a record on `<topic>.dlq`:
 * its key and headers are the failed record's (plus diagnostic `x-dlq-*` headers), its value a
 * JSON wrapper {"originalEvent", "originalValueBase64", "sourceTopic", "sourcePartition",
 * "sourceOffset", "reason", "error", "service", "failedAt", "attemptCount"}; a record without
 * that wrapper (another tool's DLQ) is its own original. Redrive republishes the original with
 * `eddy-redrive-count` set to one more than the dead letter's, then writes a marker on the
 * compacted topic `<dlq topic>.redriven`: key "PARTITION:OFFSET", value JSON naming the dead
 * letter (dlqPartition, dlqOffset, dlqTimestamp) and where it went; a tombstone unmarks. */
#ifndef EDDY_SDKSCHEMA_DLQRULE_H
#define EDDY_SDKSCHEMA_DLQRULE_H

#include <stddef.h>
#include <stdint.h>

/* Not part of libeddy's ABI: hidden from libeddy.so's dynamic symbols. */
#define DLQR_INTERNAL __attribute__((visibility("hidden")))

#define DLQR_REDRIVE_COUNT_HEADER "eddy-redrive-count"
#define DLQR_MARKER_SUFFIX ".redriven"
#define DLQR_MAX_DEFAULT 3

/* The outcomes, numbered as include/eddy/dlq.h's eddy_redrive_outcome. */
typedef enum dlqr_outcome {
    DLQR_MOVED = 0,
    DLQR_WOULD_MOVE = 1,
    DLQR_LOOP_GUARD = 2,
    DLQR_ALREADY = 3,
    DLQR_FILTERED = 4,
} dlqr_outcome;

/* "moved", "would_move", "loop_guard", "already_redriven", "filtered_out". */
DLQR_INTERNAL const char *dlqr_outcome_name(int o);

/* The decision: filtered out first, then already redriven (a marker exists), then the loop guard
 * (redrive_count >= max_redrives; max_redrives <= 0 means DLQR_MAX_DEFAULT), else (would) move. */
DLQR_INTERNAL dlqr_outcome dlqr_decide(int matches, int marked, int redrive_count, int max_redrives,
                                       int dry_run);

/* Whether a header of a dead letter is left out of the republished record: the DLQ's diagnostic
 * x-dlq-* headers and the old redrive count (the new one is added). */
DLQR_INTERNAL int dlqr_strip_header(const char *name, size_t len);

/* The redrive count a header value says (decimal); absent, malformed or negative: 0. */
DLQR_INTERNAL int dlqr_redrive_count(const void *v, size_t len);

/* ---- the dead letter's wrapper ------------------------------------------------------------ */
typedef struct dlqr_letter {
    char *source_topic, *reason, *error, *service, *failed_at; /* NULL: unknown */
    int32_t source_partition;                                  /* -1: unknown */
    int64_t source_offset;                                     /* -1: unknown */
    int attempt_count;                                         /* -1: unknown */
    unsigned char *value; /* the original value (NULL with has_value 0: no value) */
    size_t value_len;
    int has_value;
    int value_exact; /* 0: an old dead letter without the exact bytes, value re-serialised */
    int wrapped;     /* 1: libeddy's / eddy-push's JSON wrapper; 0: the record is its original */
} dlqr_letter;

/* Reads a DLQ record's value (payload NULL: no value) into l. Always succeeds. */
DLQR_INTERNAL void dlqr_letter_parse(dlqr_letter *l, const void *payload, size_t len);
DLQR_INTERNAL void dlqr_letter_free(dlqr_letter *l);
/* What the wrapper did not say: the reason and error from the x-dlq-reason / x-dlq-error headers
 * (NULL: absent), the source topic from the DLQ topic's name ("<source>.dlq"). */
DLQR_INTERNAL void dlqr_letter_defaults(dlqr_letter *l, const char *dlq_topic, const void *reason,
                                        size_t reason_len, const void *error, size_t error_len);

/* Base64 (RFC 4648, padded) of the exact value libeddy's DLQ writer keeps (malloc'd). */
DLQR_INTERNAL char *dlqr_b64_encode(const unsigned char *p, size_t n);

/* ---- markers ------------------------------------------------------------------------------ */
/* "PARTITION:OFFSET" of a dead letter: the key of its marker. */
DLQR_INTERNAL void dlqr_marker_key(int32_t dlq_partition, int64_t dlq_offset, char out[48]);
/* "PARTITION:OFFSET@TIMESTAMP": what a marker identifies (the timestamp tells a dead letter from
 * a later one at the same place after the DLQ topic was deleted and created again). */
DLQR_INTERNAL void dlqr_marker_id(int32_t dlq_partition, int64_t dlq_offset, int64_t dlq_ts,
                                  char out[80]);
/* A marker's value (malloc'd JSON). */
DLQR_INTERNAL char *dlqr_marker_value(const char *dlq_topic, int32_t dlq_partition,
                                      int64_t dlq_offset, int64_t dlq_ts, const char *to,
                                      int32_t to_partition, int64_t to_offset, int redrive_count,
                                      const char *redriven_at);
/* Reads a marker record: 1 and out set (dlqr_marker_id) for a marker, 2 and key_prefix set
 * ("PARTITION:OFFSET@") for a tombstone that unmarks, 0 for anything else. */
DLQR_INTERNAL int dlqr_marker_read(const void *key, size_t klen, const void *val, size_t vlen,
                                   char out[80]);

/* ---- filter (the CLI's --filter and the admin API's "filter") ------------------------------- *
 * error=TEXT reason=TEXT (substring), service=NAME topic=NAME key=KEY (exact), partition=N,
 * offset=A..B, time=T1..T2 (the DLQ record's timestamp; RFC 3339 or epoch ms), all ANDed. */
typedef struct dlqr_filter dlqr_filter;

typedef struct dlqr_fields {
    const char *error, *reason, *service, *source_topic;
    const void *key; /* NULL: no key */
    size_t key_len;
    int32_t source_partition;
    int64_t source_offset;
    int64_t dlq_timestamp_ms;
} dlqr_fields;

DLQR_INTERNAL dlqr_filter *dlqr_filter_new(void);
/* Adds one NAME=VALUE expression: 0, or -1 with a message in err. */
DLQR_INTERNAL int dlqr_filter_add(dlqr_filter *f, const char *expr, char *err, size_t errlen);
DLQR_INTERNAL int dlqr_filter_match(const dlqr_filter *f, const dlqr_fields *d);
DLQR_INTERNAL void dlqr_filter_free(dlqr_filter *f);

/* RFC 3339 date-time (YYYY-MM-DD[Tt ]HH:MM:SS[.frac](Z|±HH:MM)) to epoch ms (wall_ms NULL: only
 * checks): 0, or -1. libeddy's eddy_time_parse_rfc3339 is this parser. */
DLQR_INTERNAL int dlqr_parse_rfc3339(const char *s, int64_t *wall_ms);

#endif
