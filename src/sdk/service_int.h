/* service_int.h — the eddy_service structure shared by service.c (runtime) and metrics.c
 * (metrics, HTTP). Private to src/sdk (libeddy). */
#ifndef EDDY_SDK_SERVICE_INT_H
#define EDDY_SDK_SERVICE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "es_int.h"
#include "internal.h"
#include "otlp.h"

#define SDK_MAX_HANDLERS 32
#define SDK_MAX_TOPICS 32
#define SDK_MAX_ROUTES 16
#define SDK_MAX_HTTP_THREADS 64 /* http.threads: the largest pool */
#define SDK_NBUCKETS 14
#define SDK_RESERVOIR 2048
#define SDK_MAX_COMPONENTS 16

typedef struct sdk_metrics {
    uint64_t processed, failed, retried, dead_lettered, duplicates;
    uint64_t buckets[SDK_NBUCKETS + 1]; /* last = +Inf */
    double sum_s;
    uint32_t nres, rpos;
    float res[SDK_RESERVOIR]; /* recent durations (s) for P50/P95/P99 */
} sdk_metrics;

typedef struct sdk_handler {
    char *topic, *event_type, *versions;
    eddy_handler_fn fn;
    void *arg;
    sdk_metrics m;
} sdk_handler;

typedef struct sdk_route {
    char *method, *prefix;
    eddy_http_fn fn;
    void *arg;
} sdk_route;

struct eddy_service {
    char *name;
    char **conf_k, **conf_v;
    int nconf;
    sdk_handler handlers[SDK_MAX_HANDLERS];
    int nhandlers;
    char *topics[SDK_MAX_TOPICS];
    int ntopics;
    sdk_route routes[SDK_MAX_ROUTES];
    int nroutes;
    char *store_url, *bootstrap;
    eddy_store *store;
    /* the HTTP threads' own store connections (http.threads): one per thread, opened on its
     * first request; hmu guards the table, never a connection */
    pthread_mutex_t hmu;
    eddy_store *http_stores[SDK_MAX_HTTP_THREADS];
    pthread_t http_owner[SDK_MAX_HTTP_THREADS];
    int nhttp_stores;
    eddy_relay *relay;
    rd_kafka_t *rk;     /* consumer */
    rd_kafka_t *dlq_rk; /* producer for the DLQ and admin */
    int max_attempts, backoff_ms, backoff_max_ms;
    FILE *trace;
    struct sdk_otlp *otlp; /* OpenTelemetry export (otlp.c), NULL when off */
    pthread_t main_thread;
    atomic_int stop;
    int started;
    pthread_mutex_t mmu; /* metrics, trace file */
    uint64_t dlq_total, poison_total;
    uint64_t redriven_total; /* finished records that carried eddy-redrive-count */
    void *mhd;
    int http_port;
    int http_listen_fd;
    int batch_max;         /* inbox.batch.max: records per inbox transaction */
    sdk_dist inbox_commit; /* mmu: a batch's commit + durability sync (seconds) */
    sdk_dist inbox_batch;  /* mmu: records per inbox transaction */
    eddy_event **batch_ev; /* batch_max each: the batch's records, handlers, times */
    struct sdk_handler **batch_h;
    int64_t *batch_dur;
    char (*batch_span)[56];
    sdk_component components[SDK_MAX_COMPONENTS]; /* projections, sagas (es_int.h) */
    int ncomponents;
};

EDDY_HIDDEN void sdk_metrics_observe(eddy_service *svc, sdk_handler *h, int64_t dur_us);
/* Starts the service's HTTP port on listen_on (the http.listen setting: "host:port", NULL =
 * 127.0.0.1:0, "off" = none), served by threads_setting threads (http.threads, NULL = 1). */
EDDY_HIDDEN int sdk_http_start(eddy_service *svc, const char *listen_on,
                               const char *threads_setting);
EDDY_HIDDEN void sdk_http_stop(eddy_service *svc);
EDDY_HIDDEN void sdk_http_free(eddy_service *svc);
EDDY_HIDDEN eddy_store *sdk_http_store(eddy_service *svc);

#endif
