/* otlp.h — libeddy's OpenTelemetry span exporter (OTLP/HTTP, JSON encoding), private to
 * src/sdk. Spans are built as OTLP JSON objects (traceId/spanId hex, times as unix-nano
 * strings, kinds as integers), queued in a bounded queue (full: dropped and counted) and sent
 * in batches by a background thread with retries and backoff; the handler path never waits on
 * the network. Every function accepts a NULL exporter or span (export off): it does nothing. */
#ifndef EDDY_SDK_OTLP_H
#define EDDY_SDK_OTLP_H

#include <jansson.h>
#include <stdint.h>

#include "internal.h"

typedef struct sdk_otlp sdk_otlp;
typedef json_t sdk_span; /* an OTLP JSON Span object under construction */

/* SpanKind and Status.code of opentelemetry/proto/trace/v1/trace.proto */
enum {
    SDK_SPAN_INTERNAL = 1,
    SDK_SPAN_SERVER,
    SDK_SPAN_CLIENT,
    SDK_SPAN_PRODUCER,
    SDK_SPAN_CONSUMER
};
enum { SDK_STATUS_UNSET = 0, SDK_STATUS_OK = 1, SDK_STATUS_ERROR = 2 };

/* The exporter of service `name`, from its settings (otlp.*, read through get) and the OTEL_*
 * environment (docs/sdk.md). *out = NULL when export is off. < 0 (logged) on a bad setting. */
typedef const char *(*sdk_conf_get_fn)(void *arg, const char *key);
EDDY_HIDDEN int sdk_otlp_configure(const char *name, sdk_conf_get_fn get, void *arg,
                                   sdk_otlp **out);
/* Flushes what is queued (bounded by otlp.shutdown.ms), stops the thread. Idempotent. */
EDDY_HIDDEN void sdk_otlp_shutdown(sdk_otlp *o);
EDDY_HIDDEN void sdk_otlp_free(sdk_otlp *o);
/* Prometheus text of the exporter's counters (malloc'd; NULL when o is NULL). */
EDDY_HIDDEN char *sdk_otlp_metrics_text(sdk_otlp *o, const char *service);

EDDY_HIDDEN int64_t sdk_otlp_now_ns(void);
/* A span: tp is its own W3C traceparent (trace id and span id), parent_span_id 16 hex
 * characters or NULL (a root span). */
EDDY_HIDDEN sdk_span *sdk_span_start(sdk_otlp *o, const char *tp, const char *parent_span_id,
                                     const char *name, int kind, int64_t start_ns);
EDDY_HIDDEN void sdk_span_str(sdk_span *s, const char *key, const char *value);
EDDY_HIDDEN void sdk_span_int(sdk_span *s, const char *key, int64_t value);
/* A messaging span of event ev (OpenTelemetry messaging semantic conventions, Kafka) named
 * "<op> <topic>": op "publish" (kind PRODUCER) or "process" (CONSUMER), tp and parent_span_id as
 * for sdk_span_start; carries the attributes both sides share (system, destination, operation,
 * key, message and correlation ids, CloudEvents type and source). NULL when o is NULL. */
EDDY_HIDDEN sdk_span *sdk_span_messaging(sdk_otlp *o, const char *op, int kind, const char *tp,
                                         const char *parent_span_id, const char *topic,
                                         const char *key, const eddy_event *ev, int64_t start_ns);
/* An event on the span; attributes follow as key, string value pairs, NULL-terminated. */
EDDY_HIDDEN void sdk_span_event(sdk_span *s, const char *name, int64_t t_ns, ...);
/* Ends the span and queues it (dropped and counted when the queue is full). msg may be NULL. */
EDDY_HIDDEN void sdk_span_end(sdk_otlp *o, sdk_span *s, int64_t end_ns, int status,
                              const char *msg);
EDDY_HIDDEN void sdk_span_discard(sdk_span *s);

/* Stores opened by a service carry its exporter, so transactions on them record publish spans. */
EDDY_HIDDEN void sdk_store_set_otlp(eddy_store *st, sdk_otlp *o);
EDDY_HIDDEN sdk_otlp *sdk_store_otlp(const eddy_store *st);

#endif
