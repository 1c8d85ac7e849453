/* registry — the Confluent-compatible schema registry on eddyd's HTTP port: its state lives in
 * the compacted internal topic `_schemas` (see docs/schema-registry.md). eddyd's main starts it
 * once the broker has its topics and the HTTP port is up (it replays _schemas and routes its
 * REST paths on that server), and stops it before the HTTP port goes down.
 */
#ifndef EDDY_REGISTRY_REGISTRY_H
#define EDDY_REGISTRY_REGISTRY_H

#include <stdbool.h>

#include "broker/broker.h"
#include "http/http.h"

/* Replays `_schemas` (creating it if needed), starts the compatibility worker thread and routes
 * the REST paths on http. Returns 0 (also when http is NULL: no registry without an HTTP port)
 * or -1. */
int registry_start(broker *b, http_server *http);
/* Answers the requests still queued (503), joins the worker, frees the state. */
void registry_stop(broker *b);

/* Lookups for other modules, on the loop thread (e.g. REST produce encoding a payload). The
 * strings belong to the registry and stay valid until the next registry change is applied: copy
 * what must outlive the caller's turn of the loop. */
typedef struct registry_schema {
    int id;
    int version;
    const char *subject;
    const char *type;   /* "AVRO" or "JSON" (compat.h's schema_type_name) */
    const char *schema; /* the schema text as stored (normalised JSON) */
    bool deleted;       /* soft-deleted version (by id: only when no live version has the id) */
} registry_schema;

/* Schema by global id: 0, or -1 if unknown (or no registry runs). */
int registry_schema_by_id(broker *b, int id, registry_schema *out);
/* A subject's version (version <= 0: the latest live one): 0, or -1 if the subject or live
 * version does not exist. */
int registry_schema_by_version(broker *b, const char *subject, int version, registry_schema *out);

#endif
