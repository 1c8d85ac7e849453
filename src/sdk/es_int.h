/* es_int.h — private helpers shared by libeddy's event sourcing, projection and saga files
 * (eventstore.c, projection.c, saga.c): the per-thread error text and service attachments
 * (eventstore.c, but sdk_service_attach: service.c).
 * Not installed. Part of src/sdk (libeddy). */
#ifndef EDDY_SDK_ES_INT_H
#define EDDY_SDK_ES_INT_H

#include <pthread.h>

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
/* The projections, or the sagas, attached to services in this process: a list under its own
 * lock (walk it holding mu). */
typedef struct sdk_attached_item {
    eddy_service *svc;
    const char *name; /* the attached object's own string */
    void *obj;
    struct sdk_attached_item *next;
} sdk_attached_item;
typedef struct sdk_attached {
    const char *kind;   /* "projection", "saga": in error texts */
    int per_service;    /* 1: a name is unique per service; 0: per process */
    const char *prefix; /* of the kind's HTTP routes */
    pthread_mutex_t mu;
    sdk_attached_item *head;
} sdk_attached;
/* Attaches c (c->arg the object, named name) to svc and lists it in l; the service's first of
 * the kind also gets the kind's routes, get and post under l->prefix. 0, or < 0 with
 * eddy_es_error() set: EDDY_ERR_CONFLICT when the name is taken, else the service is started
 * or full. The object is not freed. */
EDDY_HIDDEN int sdk_attach(sdk_attached *l, eddy_service *svc, const char *name,
                           const sdk_component *c, eddy_http_fn get, eddy_http_fn post);
/* Takes obj off l (nothing if it is not there). */
EDDY_HIDDEN void sdk_detach(sdk_attached *l, const void *obj);
/* The object named by the n bytes at name on svc (NULL: on any service), or NULL; the caller
 * holds l->mu. */
EDDY_HIDDEN void *sdk_attached_find(sdk_attached *l, const eddy_service *svc, const char *name,
                                    size_t n);
/* The service's store URL and bootstrap servers (valid after eddy_service_start). */
EDDY_HIDDEN const char *sdk_service_store_url(const eddy_service *svc);
EDDY_HIDDEN const char *sdk_service_bootstrap(const eddy_service *svc);

#endif
