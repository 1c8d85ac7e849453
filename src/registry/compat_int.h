/* compat_int — what compat.c, avro.c and jsonschema.c share inside src/registry: the reason
 * format of incompatibilities, the JSON document parser, the work budget, and the per-type entry
 * points compat.c dispatches to. Not for use outside the registry.
 */
#ifndef EDDY_REGISTRY_COMPAT_INT_H
#define EDDY_REGISTRY_COMPAT_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "registry/compat.h"

/* Work budget of one reader/writer comparison: pathological schemas end with TOO_COMPLEX. */
#define COMPAT_MAX_STEPS 200000

/* Appends "{errorType:'T', description:'…', path:'P'}" to reasons (NULL: nothing). */
void compat_reason(json_t *reasons, const char *type, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parses a schema document (any JSON value, duplicate keys rejected); NULL + err on failure. */
json_t *compat_parse_doc(const char *text, char *err, size_t errlen);

char *avro_normalize(const schema_src *s, char *err, size_t errlen);
bool avro_can_read(const schema_src *reader, const schema_src *writer, const char *rlabel,
                   const char *wlabel, json_t *reasons);
/* A copy of an Avro document with {"type":"<primitive>"} collapsed to "<primitive>". */
json_t *avro_collapse(json_t *j, int depth);

char *jsonschema_normalize(const schema_src *s, char *err, size_t errlen);
bool jsonschema_can_read(const schema_src *reader, const schema_src *writer, const char *rlabel,
                         const char *wlabel, json_t *reasons);

#endif
