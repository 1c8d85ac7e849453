/* registry — the Confluent-compatible schema registry on eddyd's HTTP port: its state lives in
 * the compacted internal topic `_schemas` (see docs/schema-registry.md). eddyd calls
 * registry_start after the HTTP port is up and registry_stop before it goes down.
 */
#ifndef EDDY_REGISTRY_REGISTRY_H
#define EDDY_REGISTRY_REGISTRY_H

#include "broker/broker.h"

/* Replays `_schemas` (creating it if needed) and registers the REST routes on b->http.
 * Returns 0 (also when the broker has no HTTP port) or -1. */
int registry_start(broker *b);
void registry_stop(broker *b);

#endif
