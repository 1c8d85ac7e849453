/* avro — encodes a JSON document (Avro's JSON encoding: unions as {"<branch>": value} or null,
 * bytes and fixed as strings of code points 0-255) into Avro binary, as the REST produce API
 * does for payloads that name an AVRO schema. Pure: no I/O, bounded recursion, every error is
 * a message naming the path of the offending value. */
#ifndef EDDY_REST_AVRO_H
#define EDDY_REST_AVRO_H

#include <jansson.h>
#include <stddef.h>

#include "common/buf.h"

typedef struct avro_schema avro_schema;

/* Parses an Avro schema (JSON text). NULL with a message in err when the schema is not valid
 * Avro (unknown type names, records without fields, enums without symbols, …). */
avro_schema *avro_schema_parse(const char *text, char *err, size_t errlen);
void avro_schema_free(avro_schema *s);

/* Appends the Avro binary encoding of data to out. 0, or -1 with "path: what" in err. */
int avro_encode_json(const avro_schema *s, const json_t *data, wbuf *out, char *err, size_t errlen);

#endif
