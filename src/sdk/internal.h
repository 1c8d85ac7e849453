/* internal.h — libeddy private helpers shared by the SDK's files (src/sdk/). Not installed. */
#ifndef EDDY_SDK_INTERNAL_H
#define EDDY_SDK_INTERNAL_H

#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "eddy/eddy.h"

#define EDDY_HIDDEN __attribute__((visibility("hidden")))

EDDY_HIDDEN void *sdk_xmalloc(size_t n);
EDDY_HIDDEN void *sdk_xcalloc(size_t n, size_t m);
EDDY_HIDDEN void *sdk_xrealloc(void *p, size_t n);
EDDY_HIDDEN char *sdk_xstrdup(const char *s);
EDDY_HIDDEN char *sdk_xstrndup(const char *s, size_t n);
EDDY_HIDDEN char *sdk_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
EDDY_HIDDEN char *sdk_xvasprintf(const char *fmt, va_list ap);
EDDY_HIDDEN int64_t sdk_wall_ms(void);
/* a time-ordered (version 7) UUID for event ids: util.c */
EDDY_HIDDEN void sdk_uuid_v7(char out[37]);
EDDY_HIDDEN int64_t sdk_mono_us(void);
EDDY_HIDDEN void sdk_sleep_ms(int ms);
EDDY_HIDDEN void sdk_log(const char *svc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The relay's fast path: an envelope's header fields without parsing its payload (pointers
 * into scratch; ev is not to be freed). 0, or -1: use eddy_event_from_json. */
EDDY_HIDDEN int sdk_envelope_fields(const char *json, char *scratch, size_t cap, eddy_event *ev);
/* Envelope → Kafka headers (new list owned by caller). */
EDDY_HIDDEN rd_kafka_headers_t *sdk_event_headers(const eddy_event *ev);
/* Header lookup on a received message (malloc'd copy or NULL). */
EDDY_HIDDEN char *sdk_msg_header(const rd_kafka_message_t *m, const char *name);

/* Store internals the outbox needs. */
EDDY_HIDDEN const char *sdk_store_url(const eddy_store *st);
/* Waits up to timeout_ms for a NOTIFY on channel eddy_outbox (PostgreSQL, after LISTEN);
 * returns 1 if notified, 0 on timeout, < 0 on error. SQLite: returns 0 immediately. */
EDDY_HIDDEN int sdk_store_wait_notify(eddy_store *st, int timeout_ms);
EDDY_HIDDEN int sdk_store_listen(eddy_store *st);
/* PostgreSQL: the NOTIFY channel of the session's schema, as an SQL expression, the same for
 * the notifier and the relay that LISTENs: "eddy_outbox:" and 16 hex digits of the schema
 * name's MD5 (ASCII and short whatever the schema's name: a channel name holds 63 bytes) */
#define SDK_NOTIFY_CHANNEL_SQL "'eddy_outbox:' || left(md5(coalesce(current_schema(), '')), 16)"

/* Tracing: the tx remembers the span its events descend from. */
EDDY_HIDDEN void sdk_tx_set_cause(eddy_tx *tx, const eddy_event *cause, const char *span);
EDDY_HIDDEN int sdk_tx_published(const eddy_tx *tx);
/* SQLite: the id of the last outbox row the transaction inserted (0: none) */
EDDY_HIDDEN int64_t sdk_tx_top_id(const eddy_tx *tx);
/* after a rollback to a savepoint: the events still in the transaction (so PostgreSQL's NOTIFY
 * is raised again by the next publish when the rolled-back one took it) and the top id taken
 * before the rolled-back record (sdk_tx_top_id then: its rows' ids are handed out again) */
EDDY_HIDDEN void sdk_tx_set_published(eddy_tx *tx, int n, int64_t top_id);

/* A handler that must not share its transaction with the records after it (the saga
 * orchestrator: one transaction per transition) ends the inbox batch after its record. */
EDDY_HIDDEN void sdk_ctx_end_batch(eddy_ctx *ctx);

/* Test-only fault switch: EDDY_FAULT=crash_after_outbox_commit[:service]. */
EDDY_HIDDEN int sdk_fault_armed(const char *point, const char *service);

/* Per-stage distributions (stats.c): histogram + recent samples; callers lock. */
#define SDK_DIST_NB 14
#define SDK_DIST_RES 1024
typedef struct sdk_dist {
    const double *bounds; /* SDK_DIST_NB upper bounds */
    uint64_t buckets[SDK_DIST_NB + 1], count;
    double sum;
    uint32_t nres, rpos;
    float res[SDK_DIST_RES];
} sdk_dist;
EDDY_HIDDEN extern const double SDK_SECONDS_BOUNDS[SDK_DIST_NB];
EDDY_HIDDEN extern const double SDK_COUNT_BOUNDS[SDK_DIST_NB];
EDDY_HIDDEN void sdk_dist_init(sdk_dist *d, const double *bounds);
EDDY_HIDDEN void sdk_dist_observe(sdk_dist *d, double v);
EDDY_HIDDEN void sdk_dist_quantiles(const sdk_dist *d, const double *q, int nq, double *out);
/* Prometheus histogram NAME, summary NAME_recent (P50/P95/P99 of the recent window), gauge
 * NAME_mean; labels: 'k="v",...' */
EDDY_HIDDEN char *sdk_dist_text(const sdk_dist *d, const char *name, const char *help,
                                const char *labels);
/* The relay's stages as Prometheus text (outbox age, batch size). */
EDDY_HIDDEN char *sdk_relay_metrics_text(eddy_relay *r, const char *service);

/* A query whose rows are handed to fn one at a time, columns (at most 8) in the driver's own
 * memory, valid during the call only: no per-row allocation. fn returns non-zero to stop.
 * Returns the rows visited, or < 0. */
typedef int (*sdk_row_fn)(void *arg, const char *const *vals, const size_t *lens);
EDDY_HIDDEN int sdk_store_each(eddy_store *st, const char *sql, int n, const char *const *params,
                               sdk_row_fn fn, void *arg);

/* SQLite: makes everything committed so far durable (fdatasync of the WAL), for a store opened
 * with synchronous=NORMAL; PostgreSQL: nothing (its commit is durable). 0 or < 0. */
EDDY_HIDDEN int sdk_store_sync(eddy_store *st);
/* SQLite: the rowid of the connection's last INSERT (0 on PostgreSQL) */
EDDY_HIDDEN int64_t sdk_store_last_rowid(eddy_store *st);
/* Commits tx, syncs its store (SQLite), then wakes the store's relays telling them the rows
 * committed so far are durable. Returns < 0 if the commit or the sync failed. */
EDDY_HIDDEN int sdk_tx_commit_synced(eddy_tx *tx);

/* Whether a delivery report says the broker wrote the message (success with its offset, or
 * acks=0): not an idempotent producer's "implicit ack", which librdkafka infers for a message
 * when a later batch of its partition is accepted. The relay and the DLQ send again what was
 * not written (outbox.c). */
EDDY_HIDDEN int sdk_delivery_written(const rd_kafka_message_t *m);

/* Producer configuration shared by the relay and the DLQ producer. */
/* kafka.* settings of svc's config (NULL: none) and EDDY_KAFKA_* variables as a NULL-ended
 * array of "k=v" strings for librdkafka (service.c); free with sdk_strv_free. */
EDDY_HIDDEN char **sdk_kafka_conf(const eddy_service *svc);
EDDY_HIDDEN void sdk_strv_free(char **v);
EDDY_HIDDEN rd_kafka_t *sdk_producer_new(const char *bootstrap, const char *const *extra,
                                         void *opaque, char *err, size_t errlen);

/* dlq.c: adds "originalValueBase64" (the value's exact bytes; null: no value) to a dead
 * letter o, so a redrive republishes them byte for byte. */
EDDY_HIDDEN void sdk_dlq_keep_exact(json_t *o, const void *payload, size_t len);

#endif
