/* rest — the REST produce API on eddyd's HTTP port, compatible with Confluent REST Proxy v3 and
 * v2 (docs/http-produce.md):
 *
 *   GET  /v3/clusters                                   this broker's cluster
 *   GET  /v3/clusters/{cluster}                         the same, one object
 *   GET  /v3/clusters/{cluster}/topics[/{topic}]        topics and their partition counts
 *   POST /v3/clusters/{cluster}/topics/{topic}/records  one record, or a stream of them
 *   GET  /topics, POST /topics/{topic}, POST /topics/{topic}/partitions/{p}   (v2)
 *
 * Records are appended as one RecordBatch per partition and the answer is sent once every
 * touched partition is durable up to the new records (acks=all semantics); the broker's loop
 * never waits for it (the answer is deferred, http_defer). Payloads that name a schema are
 * encoded with it through the registry (lookup callback). */
#ifndef EDDY_REST_REST_H
#define EDDY_REST_REST_H

#include "broker/broker.h"
#include "http/http.h"
#include "rest/records.h"

typedef struct rest rest;

/* Registers the routes on s. lookup may be NULL (no registry: schema'd payloads are refused). */
rest *rest_start(broker *b, http_server *s, rest_lookup_fn lookup, void *lookup_arg);
/* The broker's flush hook (broker_on_flush): answers every produce that is now durable. */
void rest_on_flush(broker *b);
/* Answers what still waits (503) and frees everything. Call before http_server_stop. */
void rest_stop(rest *r);

#endif
