/* records — the bodies of the REST produce API (Confluent REST Proxy v3 and v2) parsed into
 * records: partition choice, key, value, headers, timestamp. Pure (no I/O): payloads that name
 * a schema are resolved and encoded by rest_resolve through a caller-supplied lookup. Every
 * decoder here has a fuzz target (fuzz/fuzz_rest.c). */
#ifndef EDDY_REST_RECORDS_H
#define EDDY_REST_RECORDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One side (key or value) of a record. */
typedef struct rest_side {
    bool null;      /* absent or null data: a null key / value */
    uint8_t *bytes; /* encoded payload (malloc()ed; NULL while a schema must still be applied) */
    size_t len;
    /* schema reference, resolved by rest_resolve */
    bool schema;   /* the payload is to be encoded with a registered schema */
    int32_t id;    /* schema id, or -1 */
    char *subject; /* or subject + version (-1 = latest) */
    int32_t version;
    char *type;   /* "AVRO", "JSONSCHEMA", "PROTOBUF", or NULL (from the schema) */
    json_t *data; /* the data to encode (reference owned) */
} rest_side;

typedef struct rest_header {
    char *name;
    uint8_t *value; /* NULL = null value */
    size_t len;
} rest_header;

typedef struct rest_rec {
    int32_t partition; /* -1: chosen by key hash (murmur2, as Kafka's clients) or sticky */
    rest_side key, value;
    rest_header *headers;
    int nheaders;
    int64_t timestamp; /* ms since the epoch, -1 = the broker's time */
    int error;         /* 0, or why this record cannot be produced (REST_ERR_*) */
    char *error_msg;   /* malloc()ed message when error != 0 */
} rest_rec;

typedef struct rest_batch {
    rest_rec *r;
    int n;
} rest_batch;

/* REST Proxy error codes used in answers (HTTP status = code / 100 when >= 1000). */
enum {
    REST_ERR_BAD_REQUEST = 400,
    REST_ERR_TOPIC_NOT_FOUND = 40401,
    REST_ERR_PARTITION_NOT_FOUND = 40402,
    REST_ERR_SCHEMA_NOT_FOUND = 40403,
    REST_ERR_UNSUPPORTED_MEDIA = 415,
    REST_ERR_INVALID_PAYLOAD = 42201, /* the data does not match its schema / format */
    REST_ERR_SCHEMA_REQUIRED = 42202,
    REST_ERR_TOO_LARGE = 413,
    REST_ERR_STORAGE = 50002,
};

/* v3: one record object {"partition_id", "headers", "key", "value", "timestamp"}. Returns 0 or
 * an error code with a message. */
int rest_parse_v3(const json_t *o, rest_rec *out, char *err, size_t errlen);
/* v3 body: one record object or a stream of them (whitespace-separated, the streaming mode).
 * A record that is JSON but not a valid record keeps its place with its own error
 * (rest_rec.error / error_msg) and the stream goes on. Malformed JSON ends the stream: the
 * broken object is the last record (empty, with the error), the error is also returned, and
 * *consumed = where that object started. An empty body is an error with no record. Free out
 * with rest_batch_free in every case. */
int rest_parse_v3_stream(const char *body, size_t len, rest_batch *out, size_t *consumed, char *err,
                         size_t errlen);

/* v2: embedded format from the Content-Type (application/vnd.kafka.<fmt>.v2+json, fmt json,
 * binary, avro, jsonschema, protobuf). Returns 0 or an error code. */
int rest_v2_format(const char *content_type, char *fmt, size_t fmtlen);
/* v2 body {"records": [{"key", "value", "partition"}], "key_schema_id", "value_schema_id"}. */
int rest_parse_v2(const char *body, size_t len, const char *fmt, rest_batch *out, char *err,
                  size_t errlen);

/* The schema a side names, as the caller's registry knows it. */
typedef struct rest_schema {
    int32_t id;
    const char *type; /* "AVRO", "JSON", "PROTOBUF" (registry names) */
    const char *text;
} rest_schema;
/* Lookup by id (subject NULL) or by subject + version (-1 = latest). 0 found, -1 not. */
typedef int (*rest_lookup_fn)(void *arg, int32_t id, const char *subject, int32_t version,
                              rest_schema *out);

/* Encodes every side that names a schema (AVRO: Avro binary; JSONSCHEMA: the JSON text) behind
 * the Confluent wire header (magic 0, big-endian schema id). Sides with a schema but neither id
 * nor subject use the TopicNameStrategy subject "<topic>-key" / "<topic>-value". Returns 0 or
 * an error code (message in err). */
int rest_resolve(rest_rec *r, const char *topic, rest_lookup_fn lookup, void *arg, char *err,
                 size_t errlen);

/* Compiled schemas (parsed Avro, compiled JSON Schema) by schema id, so a request of many records
 * parses and compiles each schema once, not once per record. Bounded (REST_SCHEMA_CACHE entries,
 * the least recently used goes); an entry is used only while the registry's text for its id is
 * the same (ids are immutable in one registry, the check keeps that an assumption-free fact). */
#define REST_SCHEMA_CACHE 64
typedef struct rest_schema_cache rest_schema_cache;
rest_schema_cache *rest_schema_cache_new(void);
void rest_schema_cache_free(rest_schema_cache *c);
/* How many schemas the cache compiled so far (misses). */
long rest_schema_cache_compiles(const rest_schema_cache *c);
/* rest_resolve through cache c (NULL: compile every time, as rest_resolve). */
int rest_resolve_cached(rest_rec *r, const char *topic, rest_lookup_fn lookup, void *arg,
                        rest_schema_cache *c, char *err, size_t errlen);

void rest_rec_free(rest_rec *r);
void rest_batch_free(rest_batch *b);

/* Kafka's default partitioner hash (murmur2 of the key bytes, as the Java client). */
uint32_t rest_murmur2(const uint8_t *p, size_t n);

/* ms since the epoch from an ISO-8601 timestamp ("2024-05-01T12:00:00Z", fractions and
 * offsets accepted); -1 if it cannot be read. */
int64_t rest_parse_time(const char *s);
/* Writes an ISO-8601 UTC timestamp with milliseconds into out[32]. */
void rest_format_time(int64_t ms, char out[32]);

#endif
