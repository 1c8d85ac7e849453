/* eddy.h — libeddy, the Eddy SDK: event envelope, service stores (SQLite / PostgreSQL),
 * transactional outbox and relay, idempotent consumer (inbox), retries and dead-letter queue,
 * correlation/tracing, per-handler metrics, the service runtime and an embedded broker for
 * tests. Services include only this header and link libeddy (pkg-config: eddy).
 *
 * Every function returns 0 (or a non-negative count) on success and a negative errno-style code
 * on failure unless documented otherwise. Out-of-memory aborts.
 */
#ifndef EDDY_EDDY_H
#define EDDY_EDDY_H

#include <jansson.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- error codes -------------------------------------------------------------------------- */
#define EDDY_ERR_TRANSIENT (-11) /* -EAGAIN: retry with backoff */
#define EDDY_ERR_PERMANENT (-22) /* -EINVAL: no retry, straight to the DLQ */
#define EDDY_ERR_IO (-5)         /* -EIO */

/* ---- handler results (eddy_handler_fn) ----------------------------------------------------- */
/* Any value >= 0 is success (so `return eddy_ctx_exec(...)`, a row count, commits); EDDY_RETRY
 * retries with backoff, then dead-letters; any other negative value dead-letters now. */
#define EDDY_OK 0
#define EDDY_RETRY EDDY_ERR_TRANSIENT
#define EDDY_DEAD EDDY_ERR_PERMANENT

/* ---- version ------------------------------------------------------------------------------ */
/* libeddy's version and the commit it was built from, e.g. "0.1.0 (commit 0a06bf4c1e2d)"
 * (static string). The shared library's soname is libeddy.so.MAJOR. */
const char *eddy_version(void);

/* ---- event envelope (envelope.c) ---------------------------------------------------------- */
/* JSON form:
 *   {"eventType":"order.created","version":"1.0","eventId":"<uuid>",
 *    "timestamp":"2026-05-12T10:00:00.123Z","correlationId":"…","causationId":"…",
 *    "source":"order","traceparent":"00-<32hex>-<16hex>-01","payload":{…}}
 * Mandatory: eventType, version, eventId (UUID), timestamp (RFC 3339), correlationId,
 * causationId, source, payload (object). traceparent is optional (W3C trace context).
 * The same facts travel as Kafka headers, CloudEvents Kafka-binding names where they fit:
 *   ce_specversion=1.0 ce_id ce_type ce_source ce_time content-type=application/json
 *   x-correlation-id x-causation-id x-event-type x-event-version traceparent            */
typedef struct eddy_event {
    char *event_type;
    char *version;
    char *event_id;
    char *timestamp;
    char *correlation_id;
    char *causation_id;
    char *source;
    char *traceparent; /* may be NULL */
    json_t *payload;   /* owned reference */
    /* Delivery facts, filled on receive (NULL / -1 otherwise). */
    char *key;
    char *topic;
    int32_t partition;
    int64_t offset;
} eddy_event;

/* A fresh root event: new eventId, timestamp now, correlationId = causationId = new UUID
 * unless set afterwards. payload is stolen (NULL → {}). */
eddy_event *eddy_event_new(const char *type, const char *version, const char *source,
                           json_t *payload);
void eddy_event_free(eddy_event *ev);
/* Sets a string field of ev (replacing it): helpers for callers and tests. */
void eddy_event_set(char **field, const char *value);
/* 0 if all mandatory fields are present and well-formed, else EDDY_ERR_PERMANENT with a
 * static reason in *reason. */
int eddy_event_validate(const eddy_event *ev, const char **reason);
/* Serialises the envelope (malloc'd, NUL-terminated, compact JSON). */
char *eddy_event_to_json(const eddy_event *ev);
/* Parses and validates. On failure returns EDDY_ERR_PERMANENT and *reason (malloc'd). */
int eddy_event_from_json(const char *buf, size_t len, eddy_event **out, char **reason);

/* Helpers. */
void eddy_uuid_generate(char out[37]);
/* RFC 9562 version 7 (48 bits of Unix milliseconds, then random bits): for primary keys, whose
 * indexes then grow at one edge instead of dirtying a random B-tree page per insert. Its first
 * 12 hex digits are the clock: not for names that keep only a prefix of the id. */
void eddy_uuid_v7(char out[37]);
int eddy_uuid_valid(const char *s);
void eddy_time_rfc3339(int64_t wall_ms, char out[32]);
int eddy_time_parse_rfc3339(const char *s, int64_t *wall_ms);
/* W3C traceparent: a new root, or a child span of parent (same trace id, new span id). */
void eddy_trace_new(char out[56]);
int eddy_trace_child(const char *parent, char out[56]);
int eddy_trace_valid(const char *tp);

/* ---- stores (store.c, store_sqlite.c, store_pg.c) ----------------------------------------- */
/* URL: "sqlite:PATH" (or a path ending in .db) | "postgres://…" | "postgresql://…".
 * SQL uses $1..$n placeholders on both back ends; every parameter is text (NULL = SQL NULL).
 * One handle is one connection; use it from one thread at a time. */
typedef struct eddy_store eddy_store;
typedef struct eddy_rows eddy_rows;

int eddy_store_open(const char *url, eddy_store **out);
void eddy_store_close(eddy_store *st);
int eddy_store_is_postgres(const eddy_store *st);
const char *eddy_store_error(const eddy_store *st);
/* Creates libeddy's own tables (eddy_outbox, eddy_inbox) if missing. */
int eddy_store_migrate(eddy_store *st);
int eddy_store_begin(eddy_store *st);
int eddy_store_commit(eddy_store *st);
int eddy_store_rollback(eddy_store *st);
/* Runs one statement (or, with n == 0, a script of several). Returns rows changed (>= 0). */
int eddy_store_exec(eddy_store *st, const char *sql, int n, const char *const *params);
int eddy_store_query(eddy_store *st, const char *sql, int n, const char *const *params,
                     eddy_rows **out);
int eddy_rows_count(const eddy_rows *r);
const char *eddy_rows_get(const eddy_rows *r, int row, int col); /* NULL for SQL NULL */
void eddy_rows_free(eddy_rows *r);

/* ---- transactions with an outbox (outbox.c) ----------------------------------------------- */
/* A unit of work on a service's store: state changes plus events recorded to the outbox in the
 * same database transaction. Inside a handler the tx carries the cause (correlation id,
 * causation id, trace context) into every event published through it. */
typedef struct eddy_tx eddy_tx;

/* Opens a transaction on st. correlation_id/traceparent may be NULL (new ones are made). */
int eddy_tx_begin(eddy_store *st, const char *source, const char *correlation_id,
                  const char *traceparent, eddy_tx **out);
eddy_store *eddy_tx_store(eddy_tx *tx);
const char *eddy_tx_correlation_id(const eddy_tx *tx);
int eddy_tx_exec(eddy_tx *tx, const char *sql, int n, const char *const *params);
int eddy_tx_query(eddy_tx *tx, const char *sql, int n, const char *const *params, eddy_rows **out);
/* Records an event in the outbox (payload stolen). event_id_out (37 bytes) may be NULL. */
int eddy_tx_publish(eddy_tx *tx, const char *topic, const char *key, const char *type,
                    const char *version, json_t *payload, char *event_id_out);
/* Commit / rollback, then frees tx. Commit returns < 0 if the commit failed (rolled back). */
int eddy_tx_commit(eddy_tx *tx);
void eddy_tx_rollback(eddy_tx *tx);

/* The relay: publishes committed outbox rows in id order (so in order per key) with an
 * idempotent producer and marks them published. */
typedef struct eddy_relay eddy_relay;
/* rdkafka_conf: optional "k=v" pairs, NULL-terminated, applied to the producer. */
int eddy_relay_new(const char *store_url, const char *bootstrap, const char *const *rdkafka_conf,
                   eddy_relay **out);
/* One pass: publishes everything pending (waits for acks up to timeout_ms).
 * Returns the number of events marked published, or < 0. */
int eddy_relay_run_once(eddy_relay *r, int timeout_ms);
/* Background thread: wakes on eddy_relay_wake, on PostgreSQL NOTIFY eddy_outbox, or every
 * poll interval. */
int eddy_relay_start(eddy_relay *r);
void eddy_relay_wake(eddy_relay *r);
/* Stops the thread after a last pass that flushes the outbox (bounded by timeout_ms). */
void eddy_relay_stop(eddy_relay *r, int timeout_ms);
void eddy_relay_free(eddy_relay *r);
int64_t eddy_relay_published(const eddy_relay *r);
/* The relay's per-stage figures (also on a service's /metrics, docs/sdk.md): events published,
 * produce batches read from the outbox, and the outbox age (eddy_outbox_delivery_seconds on
 * /metrics: the event's creation in its
 * transaction -> the broker's acknowledgement) P50/P99/max over the last 1,024 events. */
typedef struct eddy_relay_stats {
    int64_t published, batches;
    double outbox_age_p50_s, outbox_age_p99_s, outbox_age_max_s;
} eddy_relay_stats;
void eddy_relay_stats_get(eddy_relay *r, eddy_relay_stats *out);

/* ---- the service runtime (service.c, metrics.c, http.c) ----------------------------------- */
typedef struct eddy_service eddy_service;
typedef struct eddy_ctx eddy_ctx;

/* A handler runs inside a database transaction that also records the event as processed.
 * Return >= 0 (EDDY_OK, or any count such as eddy_ctx_exec's rows changed: commit),
 * EDDY_RETRY / EDDY_ERR_TRANSIENT / EDDY_ERR_IO (retry with backoff, then DLQ) or any other
 * negative value such as EDDY_DEAD / EDDY_ERR_PERMANENT (DLQ now). eddy_ctx_fail sets the
 * error text recorded in the DLQ and returns code. */
typedef int (*eddy_handler_fn)(eddy_ctx *ctx, void *arg);

const eddy_event *eddy_ctx_event(const eddy_ctx *ctx);
eddy_tx *eddy_ctx_tx(eddy_ctx *ctx);
int eddy_ctx_attempt(const eddy_ctx *ctx); /* 1-based */
int eddy_ctx_fail(eddy_ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Shorthands on the handler's transaction. */
int eddy_ctx_exec(eddy_ctx *ctx, const char *sql, int n, const char *const *params);
int eddy_ctx_query(eddy_ctx *ctx, const char *sql, int n, const char *const *params,
                   eddy_rows **out);
int eddy_ctx_publish(eddy_ctx *ctx, const char *topic, const char *key, const char *type,
                     const char *version, json_t *payload);

/* Configuration. Keys (file: "key = value" lines, '#' comments; environment wins):
 *   bootstrap.servers   EDDY_BOOTSTRAP_SERVERS   (default 127.0.0.1:9092)
 *   store               EDDY_STORE               sqlite:PATH | postgres://…  (default
 *                                                sqlite:<name>.db)
 *   http.listen         EDDY_HTTP_LISTEN         host:port (default 127.0.0.1:0), "off"
 *   http.threads        EDDY_HTTP_THREADS        threads serving routes, 1..64 (default 1);
 *                       > 1: callbacks run concurrently, each thread its own store
 *   retry.max.attempts  EDDY_RETRY_MAX_ATTEMPTS  (default 5)
 *   retry.backoff.ms    EDDY_RETRY_BACKOFF_MS    first delay (default 100)
 *   retry.backoff.max.ms EDDY_RETRY_BACKOFF_MAX_MS cap (default 5000)
 *   relay.poll.ms       EDDY_RELAY_POLL_MS       (default 200)
 *   topic.partitions    EDDY_TOPIC_PARTITIONS    partitions of topics created (default 3)
 *   topic.replication.factor  EDDY_TOPIC_REPLICATION_FACTOR  of topics created (default: the
 *                       cluster's default.replication.factor)
 *   topic.min.insync.replicas EDDY_TOPIC_MIN_INSYNC_REPLICAS config of topics created
 *   trace.log           EDDY_TRACE_LOG           file receiving one JSON line per span
 *   otlp.endpoint       EDDY_OTLP_ENDPOINT       OpenTelemetry collector (OTLP/HTTP JSON) base
 *                       URL; also OTEL_EXPORTER_OTLP_ENDPOINT and the other OTEL_* variables
 *                       (otlp.headers, .batch.max, .queue.max, .flush.ms, .timeout.ms,
 *                       .shutdown.ms: docs/sdk.md, "OpenTelemetry export")
 *   kafka.<prop>        EDDY_KAFKA_<PROP>        passed to librdkafka (dots for _ in env)
 * A config file is named by eddy_service_configure or EDDY_CONFIG. */
int eddy_service_new(const char *name, eddy_service **out);
int eddy_service_configure(eddy_service *svc, const char *config_path);
/* Sets one configuration key (as if from the file; environment still wins). */
void eddy_service_set(eddy_service *svc, const char *key, const char *value);
const char *eddy_service_get(const eddy_service *svc, const char *key);
const char *eddy_service_name(const eddy_service *svc);
/* versions: the version majors accepted, e.g. "1" or "1,2"; other versions go to the DLQ. */
int eddy_service_on(eddy_service *svc, const char *topic, const char *event_type,
                    const char *versions, eddy_handler_fn fn, void *arg);
/* Declares a topic the service publishes to: created (with its .dlq) at start if missing. */
int eddy_service_topic(eddy_service *svc, const char *topic);
/* Opens the store, runs schema_sql (the service's own tables, a script) and libeddy's
 * migrations, connects the consumer and producer, starts the relay and HTTP. One script serves
 * both databases: a comment whose text starts with "sqlite:" is replaced by the rest of its text
 * on SQLite and stays a comment on PostgreSQL (docs/sdk.md "Schema": WITHOUT ROWID). */
int eddy_service_start(eddy_service *svc, const char *schema_sql);
/* The service's store for the calling thread's own use outside handlers (main thread only
 * before run, or from HTTP route callbacks: each gets its own connection). */
eddy_store *eddy_service_store(eddy_service *svc);
/* Wakes the relay after a commit made outside handlers. */
void eddy_service_outbox_wake(eddy_service *svc);
/* Runs until SIGTERM/SIGINT or eddy_service_stop: finishes the handler in progress, commits
 * offsets, flushes the outbox. Returns 0 on a clean stop. */
int eddy_service_run(eddy_service *svc);
void eddy_service_stop(eddy_service *svc);
void eddy_service_free(eddy_service *svc);
/* The HTTP port actually bound (0 if HTTP is off). */
int eddy_service_http_port(const eddy_service *svc);

/* HTTP routes beside /metrics and /healthz. The callback fills *status and returns a malloc'd
 * body (JSON) or NULL for an empty body. body may be NULL. Requests with a body above
 * max_body bytes are answered 413 before the callback runs. */
typedef struct eddy_http_req {
    const char *method;
    const char *path;
    const char *body;
    size_t body_len;
    const char *correlation_id; /* X-Correlation-Id header or NULL */
    const char *traceparent;    /* traceparent header or NULL */
} eddy_http_req;
typedef char *(*eddy_http_fn)(eddy_service *svc, const eddy_http_req *req, int *status, void *arg);
int eddy_service_route(eddy_service *svc, const char *method, const char *path_prefix,
                       eddy_http_fn fn, void *arg);
/* A JSON error body {"error":"…"} (malloc'd). */
char *eddy_http_error(int *status, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Metrics text (Prometheus exposition format) of a service (malloc'd). */
char *eddy_service_metrics_text(eddy_service *svc);

/* ---- embedded broker (broker.c) ----------------------------------------------------------- */
/* Starts eddyd as a child process on a free loopback port with a temp data dir (binary from
 * path, $EDDYD, or eddyd on PATH; with EDDY_BROKER=mock, libeddy's eddy-mockd built on
 * librdkafka's mock cluster). port 0 = any free port. */
typedef struct eddy_broker eddy_broker;
int eddy_broker_start(const char *path, const char *data_dir, int port, eddy_broker **out);
const char *eddy_broker_bootstrap(const eddy_broker *b);
int eddy_broker_port(const eddy_broker *b);
int eddy_broker_pid(const eddy_broker *b);
/* SIGTERM, wait (SIGKILL after 15 s). Keeps the data dir and port for a restart. */
int eddy_broker_stop(eddy_broker *b);
int eddy_broker_kill(eddy_broker *b);
int eddy_broker_restart(eddy_broker *b);
/* Stops if running, removes the temp data dir it made, frees. */
void eddy_broker_free(eddy_broker *b);

#ifdef __cplusplus
}
#endif
#endif
