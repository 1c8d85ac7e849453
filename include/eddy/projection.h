/* projection.h — libeddy CQRS projections: a read model in the service's database fed from
 * one or more topics, with its checkpoint (next offset per partition) committed in the same
 * transaction as the read-model change, so whatever the broker redelivers, every event counts
 * once. Rebuilds without reset scripts: a new generation of the read model (blue/green tables)
 * is filled from the earliest retained offset while reads keep using the current one, and
 * becomes current when it has caught up. Documented in docs/cqrs.md.
 *
 * Generations: the read model's tables carry a suffix, "_g1", "_g2", …; the service's
 * callbacks name their tables <base><suffix>, and its readers ask eddy_projection_suffix for
 * the current one. Errors: eddy_es_error() (eventstore.h) has the text of the last failure. */
#ifndef EDDY_PROJECTION_H
#define EDDY_PROJECTION_H

#include <stdint.h>

#include "eddy/eddy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_projection eddy_projection;

/* Applies one event to the generation named by suffix, inside tx. >= 0: done;
 * EDDY_ERR_TRANSIENT: the batch is rolled back and tried again later; any other negative:
 * the event is skipped (logged, counted in eddy_projection_skipped_total). Events that are not
 * valid envelopes are skipped the same way. */
typedef int (*eddy_projection_fn)(eddy_tx *tx, const eddy_event *ev, const char *suffix, void *arg);
/* Creates the (empty) tables of generation suffix: DROP … IF EXISTS then CREATE. */
typedef int (*eddy_projection_reset_fn)(eddy_tx *tx, const char *suffix, void *arg);
/* Drops the tables of an old generation after a switch (NULL: they are kept). */
typedef int (*eddy_projection_drop_fn)(eddy_tx *tx, const char *suffix, void *arg);

typedef struct eddy_projection_def {
    const char *name;          /* [a-z0-9_.-]{1,64} */
    const char *const *topics; /* NULL-terminated */
    eddy_projection_fn apply;
    eddy_projection_reset_fn reset;
    eddy_projection_drop_fn drop;
    int batch_size; /* events per transaction (default 500) */
    void *arg;
} eddy_projection_def;

/* A projection inside a service: started with it (own thread, own store connection, own
 * consumer with manual assignment), stopped with it. Adds GET /projections (status of all),
 * GET /projections/{name} and POST /projections/{name}/rebuild to the service's HTTP port and
 * eddy_projection_* metrics (lag in events and seconds, rebuild progress) to /metrics.
 * Call before eddy_service_start. def's strings must outlive the projection. A name is attached
 * once per service (again: EDDY_ERR_CONFLICT, eddy_es_error() says so); another service of the
 * process may use it. */
int eddy_projection_attach(eddy_service *svc, const eddy_projection_def *def,
                           eddy_projection **out);

/* Stand-alone (tests, tools): a projection on store_url fed from bootstrap. Creates its tables
 * and the first generation. */
int eddy_projection_new(const char *store_url, const char *bootstrap,
                        const eddy_projection_def *def, eddy_projection **out);
/* Processes in the calling thread until every lane has caught up with the high watermarks
 * seen (a pending rebuild runs to its switch) or timeout_ms passes. Returns events
 * processed, or < 0. Not while the projection's thread runs. */
int eddy_projection_run_once(eddy_projection *p, int timeout_ms);
int eddy_projection_start(eddy_projection *p); /* background thread */
void eddy_projection_stop(eddy_projection *p);
void eddy_projection_free(eddy_projection *p);

/* Asks for a rebuild (asynchronous; the projection's thread or run_once performs it).
 * EDDY_ERR_CONFLICT if one is already running. */
int eddy_projection_rebuild(eddy_projection *p);
/* The current generation's table suffix ("_g3"), safe from any thread. */
const char *eddy_projection_suffix(const eddy_projection *p, char buf[16]);

typedef struct eddy_projection_status {
    int generation;        /* current (served) generation */
    int building;          /* generation being rebuilt, 0 if none */
    int64_t events;        /* events applied by the current generation's lane since start */
    int64_t skipped;       /* events skipped (invalid or refused) since start */
    int64_t lag_events;    /* high watermark − checkpoint, summed over partitions */
    double lag_seconds;    /* age of the last applied event while behind, else 0 */
    int64_t rebuild_done;  /* events replayed into the new generation */
    int64_t rebuild_total; /* events retained when the rebuild started */
    double rebuild_rate;   /* events/s so far */
    int rebuilds;          /* rebuilds completed since start */
} eddy_projection_status;
void eddy_projection_get_status(eddy_projection *p, eddy_projection_status *out);
/* The status as a JSON object text (malloc'd). */
char *eddy_projection_status_json(eddy_projection *p);

#ifdef __cplusplus
}
#endif
#endif
