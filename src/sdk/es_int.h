/* es_int.h — private helpers shared by libeddy's event sourcing, projection and saga files
 * (eventstore.c, projection.c, saga.c): the per-thread error text and service attachments.
 * Not installed. Part of src/sdk (libeddy). */
#ifndef EDDY_SDK_ES_INT_H
#define EDDY_SDK_ES_INT_H

#include "eddy/eventstore.h"
#include "internal.h"

/* Sets the calling thread's eddy_es_error() text; returns code. */
EDDY_HIDDEN int sdk_es_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, with the store's last error appended. */
EDDY_HIDDEN int sdk_es_store_fail(eddy_store *st, int code, const char *what);
EDDY_HIDDEN void sdk_es_clear(void);

/* A component that lives as long as a service: started at the end of eddy_service_start,
 * stopped when eddy_service_run returns (before the relay's last flush), freed by
 * eddy_service_free; metrics text is appended to /metrics. Any callback may be NULL. */
typedef struct sdk_component {
    int (*start)(eddy_service *svc, void *arg);
    void (*stop)(void *arg);
    void (*destroy)(void *arg);
    char *(*metrics)(void *arg); /* malloc'd Prometheus text */
    void *arg;
} sdk_component;
EDDY_HIDDEN int sdk_service_attach(eddy_service *svc, const sdk_component *c);
/* The service's store URL and bootstrap servers (valid after eddy_service_start). */
EDDY_HIDDEN const char *sdk_service_store_url(const eddy_service *svc);
EDDY_HIDDEN const char *sdk_service_bootstrap(const eddy_service *svc);

#endif
