/* compat — the schema registry's pure logic (no I/O, no broker): schema types and
 * compatibility levels by name, validation + normalisation of Avro and JSON Schema texts
 * (with references), and the compatibility checks — Avro's reader/writer schema resolution
 * rules and the JSON Schema content-model rules Confluent documents. Used by registry.c and
 * unit-tested by tests/registry/test_compat.c. See docs/schema-registry.md for the rules.
 */
#ifndef EDDY_REGISTRY_COMPAT_H
#define EDDY_REGISTRY_COMPAT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

typedef enum schema_type { STYPE_AVRO = 0, STYPE_JSON = 1, STYPE_PROTOBUF = 2 } schema_type;

typedef enum compat_level {
    CL_NONE = 0,
    CL_BACKWARD,
    CL_BACKWARD_TRANSITIVE,
    CL_FORWARD,
    CL_FORWARD_TRANSITIVE,
    CL_FULL,
    CL_FULL_TRANSITIVE,
} compat_level;

/* "AVRO"/"JSON"/"PROTOBUF" (NULL → AVRO). Returns the type or -1. */
int schema_type_parse(const char *s);
const char *schema_type_name(int t);
/* "NONE", "BACKWARD", ... Returns the level or -1. */
int compat_level_parse(const char *s);
const char *compat_level_name(int l);

/* A referenced schema, already resolved by the caller (name as in the reference). */
typedef struct schema_ref_text {
    const char *name;
    const char *schema;
} schema_ref_text;

/* One schema with the texts of its references (for Avro: parsed first, in order, so their
 * named types are visible to the schema). */
typedef struct schema_src {
    const char *text;
    const schema_ref_text *refs;
    int nrefs;
} schema_src;

/* Validates a schema. Returns a malloc()ed normalised text (compact JSON, keys in their
 * original order) or NULL with a message in err. PROTOBUF is not supported (NULL). */
char *schema_normalize(int type, const schema_src *s, char *err, size_t errlen);

/* The identity of a schema text, for "same schema → same id": compact JSON with sorted keys;
 * for Avro also {"type":"int"} (a primitive with nothing else) → "int". malloc()ed, or NULL
 * if the text is not JSON. */
char *schema_canonical(int type, const char *text);

/* Can a consumer using `reader` read data written with `writer`? Appends one message string
 * per incompatibility to `reasons` (a JSON array; may be NULL). rlabel/wlabel name the two
 * schemas in messages ("new"/"old"). Returns true when compatible. */
bool schema_can_read(int type, const schema_src *reader, const schema_src *writer,
                     const char *rlabel, const char *wlabel, json_t *reasons);

/* Checks `news` against previous versions (oldest first) per `level`: BACKWARD = new reads
 * the latest, FORWARD = the latest reads new, FULL = both; *_TRANSITIVE = against all.
 * Appends reasons (with "{oldSchemaVersion: N}" lines when versions != NULL). */
bool compat_check(int type, int level, const schema_src *news, const schema_src *prev,
                  const int *versions, int nprev, json_t *reasons);

#endif
