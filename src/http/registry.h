/* registry — the schema registry's lifecycle (registry.c): eddyd's main starts it once the
 * broker has its topics and the HTTP port is up; it replays the _schemas topic and routes its
 * REST paths on that HTTP server.
 */
#ifndef EDDY_HTTP_REGISTRY_H
#define EDDY_HTTP_REGISTRY_H

#include "broker/broker.h"
#include "http/http.h"

/* Returns 0 (also when http is NULL: no registry without an HTTP port) or -1. */
int registry_start(broker *b, http_server *http);
void registry_stop(broker *b);

#endif
