/* metrics — eddyd's Prometheus exposition (GET /metrics) and liveness probe (GET /healthz),
 * as HTTP handlers eddyd's main routes on its HTTP port. Sits above broker/ (reads its counters)
 * beside group/ and the registry: what it shows of consumer groups comes through callbacks, so it
 * does not depend on group/.
 */
#ifndef EDDY_METRICS_METRICS_H
#define EDDY_METRICS_METRICS_H

#include <stdint.h>

#include "broker/broker.h"
#include "http/http.h"

typedef void (*metrics_offset_cb)(void *arg, const char *group, const char *topic,
                                  int32_t partition, int64_t offset);

typedef struct metrics_state metrics_state;

/* What /metrics reads. The group callbacks may be NULL (no consumer-group families then). */
typedef struct metrics_source {
    broker *b;
    /* calls cb for every committed offset (loop thread) */
    void (*foreach_offset)(broker *b, metrics_offset_cb cb, void *arg);
    /* number of groups in each of 4 states, named by state_names[0..3] */
    void (*state_counts)(broker *b, int counts[4]);
    const char *const *state_names;
    /* transactions open now and the age in ms of the oldest (may be NULL: no such families) */
    void (*txn_stats)(broker *b, int *open, int64_t *oldest_age_ms);
    metrics_state *state; /* the module's own (stall detection); NULL to start */
} metrics_source;

/* Frees what /metrics kept between scrapes (stall detection), after the HTTP server stopped. */
void metrics_source_release(metrics_source *src);

/* http_handler for GET /metrics; arg is a metrics_source that outlives the HTTP server. */
void metrics_handle(void *arg, const http_request *req, http_response *resp);
/* http_handler for GET /healthz: {"status":"ok"}. */
void metrics_healthz(void *arg, const http_request *req, http_response *resp);

#endif
