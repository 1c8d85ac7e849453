/* eventstore.h — libeddy event sourcing: an event store in the service's own database (SQLite
 * or PostgreSQL), appended in the same transaction as the outbox, with expected-version
 * concurrency, forward/backward reads, a global position, event upcasting, and aggregates
 * loaded by folding events from the latest snapshot. Documented in docs/event-sourcing.md.
 *
 * Streams are named "<aggregate type>-<id>" ("account-acc-1"): the aggregate type is the text
 * before the first '-' ([a-z0-9_.]{1,64}), the id the rest (non-empty). Every appended event
 * is also recorded in the outbox for the topic "<aggregate type>.events" keyed by the stream
 * name, so the broker's per-partition order is the stream's order. Stream versions count
 * events: the first event of a stream has version 1, a stream of n events is at version n.
 *
 * Functions return 0 (or a count) on success, a negative code on failure; the text of the
 * last failure on the calling thread is eddy_es_error(). */
#ifndef EDDY_EVENTSTORE_H
#define EDDY_EVENTSTORE_H

#include <stdint.h>

#include "eddy/eddy.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef EDDY_ERR_CONFLICT
#define EDDY_ERR_CONFLICT (-116) /* expected version did not match: another writer won */
#endif
#ifndef EDDY_ERR_NOT_FOUND
#define EDDY_ERR_NOT_FOUND (-2) /* no such stream / instance */
#endif

/* Expected versions for eddy_es_append (any value >= 1 means "exactly this version"). */
#define EDDY_ES_ANY (-1)      /* append whatever the stream's version */
#define EDDY_ES_NO_STREAM (0) /* the stream must not exist yet */
/* from_version for a backward read that starts at the stream's last event. */
#define EDDY_ES_END INT64_MAX
#define EDDY_ES_MAX_EVENT_BYTES (1024 * 1024) /* serialised data of one event */
#define EDDY_ES_MAX_STREAM_NAME 200

/* Text of the last error from eddy_es_*, eddy_aggregate_*, eddy_projection_* or eddy_saga_*
 * on the calling thread ("" if none). */
const char *eddy_es_error(void);

/* Creates the event store's tables (eddy_streams, eddy_events, eddy_snapshots) if missing.
 * Idempotent. */
int eddy_es_migrate(eddy_store *st);
/* For a service: its store gets the event store's tables at eddy_service_start (call before). */
int eddy_es_attach(eddy_service *svc);

/* An event to append. data is stolen (NULL → {}); version defaults to "1.0". */
typedef struct eddy_es_new {
    const char *type;
    const char *version;
    json_t *data;
} eddy_es_new;

/* Appends n events to stream inside tx (and records each in the outbox, same transaction).
 * expected_version: EDDY_ES_ANY, EDDY_ES_NO_STREAM or the exact current version.
 * Returns EDDY_ERR_CONFLICT if the stream is not at the expected version (on PostgreSQL a
 * concurrent writer is waited for, then compared: exactly one of two racing appends with the
 * same expected version wins). *new_version (may be NULL) receives the stream's version after
 * the append. The data of every event is stolen, also on failure. After a failure the
 * transaction may hold part of the append: roll it back. */
int eddy_es_append(eddy_tx *tx, const char *stream, int64_t expected_version,
                   const eddy_es_new *events, int n, int64_t *new_version);

/* A stored event as read (after upcasting). */
typedef struct eddy_es_event {
    int64_t position; /* global position: strictly increasing across the store, in commit order */
    int64_t version;  /* version of the stream after this event (1-based) */
    char *stream;
    char *event_id; /* also the eventId of the envelope published to Kafka */
    char *type;
    char *event_version; /* "1.0"; after upcasting the current version */
    char *correlation_id;
    char *created_at; /* RFC 3339 */
    json_t *data;
} eddy_es_event;

typedef struct eddy_es_events {
    int n;
    eddy_es_event *ev;
} eddy_es_events;
void eddy_es_events_free(eddy_es_events *e);

#define EDDY_ES_FORWARD 1
#define EDDY_ES_BACKWARD (-1)

/* Reads up to max events (max <= 0: all) of stream starting at from_version (inclusive),
 * forward (versions ascending) or backward (descending; from_version EDDY_ES_END = the last).
 * Unknown stream: EDDY_ERR_NOT_FOUND. Negative from_version: EDDY_ERR_PERMANENT. */
int eddy_es_read(eddy_store *st, const char *stream, int64_t from_version, int direction, int max,
                 eddy_es_events **out);
/* Reads up to max events of every stream with position > after_position, ascending. */
int eddy_es_read_all(eddy_store *st, int64_t after_position, int max, eddy_es_events **out);
/* The stream's current version (EDDY_ERR_NOT_FOUND if it has no events). */
int eddy_es_stream_version(eddy_store *st, const char *stream, int64_t *version);
/* The highest global position in the store (0 when empty). */
int eddy_es_head(eddy_store *st, int64_t *position);

/* Upcasting: fn turns the data of an event of event_type whose version's major is from_major
 * into the data of version to_version (a new reference; NULL = the event cannot be upcast,
 * the read fails). Applied on read, repeatedly, until no upcaster matches. Process-wide;
 * register before reading (not thread-safe against concurrent reads). */
typedef json_t *(*eddy_es_upcast_fn)(const char *event_type, const json_t *data, void *arg);
int eddy_es_upcaster(const char *event_type, const char *from_major, const char *to_version,
                     eddy_es_upcast_fn fn, void *arg);
void eddy_es_upcasters_clear(void);

/* ---- aggregates and snapshots ------------------------------------------------------------- */
/* The service's reducer: apply folds one event into state (a JSON object, mutated in place).
 * Returns >= 0, or < 0 to fail the load. reducer_version names the reducer's code: snapshots
 * taken with another reducer_version are ignored (and replaced), never trusted. */
typedef int (*eddy_apply_fn)(json_t *state, const eddy_es_event *ev, void *arg);

typedef struct eddy_aggregate_type {
    const char *type;            /* "account": streams "account-<id>" */
    const char *reducer_version; /* e.g. "1"; bump when apply changes */
    eddy_apply_fn apply;
    int snapshot_every; /* take a snapshot when the version crosses a multiple; 0 = never */
    void *arg;
} eddy_aggregate_type;

typedef struct eddy_aggregate {
    char stream[EDDY_ES_MAX_STREAM_NAME + 1];
    int64_t version;          /* 0: no events yet */
    json_t *state;            /* owned; {} for a new aggregate */
    int64_t snapshot_version; /* version of the snapshot it started from (0: none) */
    int events_applied;       /* events folded by the load */
} eddy_aggregate;

#define EDDY_AGG_NO_SNAPSHOT 1 /* flag: fold from the first event, ignore snapshots */

/* Loads aggregate <type>-<id>: the latest snapshot of this reducer_version (unless flags has
 * EDDY_AGG_NO_SNAPSHOT) then every later event. A missing stream loads as version 0, {}. */
int eddy_aggregate_load(eddy_store *st, const eddy_aggregate_type *t, const char *id, int flags,
                        eddy_aggregate *out);
/* Appends events with expected version agg->version (EDDY_ERR_CONFLICT if another writer
 * won), folds them into agg->state, and writes a snapshot in the same transaction when the
 * version crosses a multiple of snapshot_every. Data is stolen. */
int eddy_aggregate_append(eddy_tx *tx, const eddy_aggregate_type *t, eddy_aggregate *agg,
                          const eddy_es_new *events, int n);
/* Writes a snapshot of agg now (outside the every-N rule). */
int eddy_aggregate_snapshot(eddy_store *st, const eddy_aggregate_type *t,
                            const eddy_aggregate *agg);
void eddy_aggregate_release(eddy_aggregate *agg);

#ifdef __cplusplus
}
#endif
#endif
