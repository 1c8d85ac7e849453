/* avro_codec — Avro binary <-> JSON in Avro's JSON encoding (unions as {"<branch>": value} or
 * null, bytes and fixed as strings of code points 0-255): the REST produce API (src/rest) encodes
 * payloads that name an AVRO schema, the console's message browser (src/console) decodes records
 * in the registry's wire format. One codec in the registry module, below both. Pure: no I/O,
 * bounded recursion and size, every error a message naming the path of the offending value. */
#ifndef EDDY_REGISTRY_AVRO_CODEC_H
#define EDDY_REGISTRY_AVRO_CODEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct avro_schema avro_schema;

/* Parses an Avro schema (JSON text). NULL with a message in err when the schema is not valid
 * Avro (unknown type names, records without fields, enums without symbols, …). */
avro_schema *avro_schema_parse(const char *text, char *err, size_t errlen);
void avro_schema_free(avro_schema *s);

/* Appends the Avro binary encoding of data to out. 0, or -1 with "path: what" in err. */
int avro_encode_json(const avro_schema *s, const json_t *data, wbuf *out, char *err, size_t errlen);

/* Decodes the Avro binary p[0..n) written with schema s into JSON (*out, a new reference): floats
 * that JSON cannot hold (NaN, ±infinity) become the strings "NaN", "Infinity", "-Infinity". 0, or
 * -1 with "path: what" in err and *out NULL — a truncated varint or value, a varint longer than
 * 10 bytes, an int out of range, a bad union or enum index, a negative length or block size, a
 * length beyond the buffer, a string that is not UTF-8, values nested deeper than the limit,
 * more than AVRO_DECODE_MAX_VALUES values, or bytes left over after the value. */
#define AVRO_DECODE_MAX_VALUES 1000000
int avro_decode_json(const avro_schema *s, const uint8_t *p, size_t n, json_t **out, char *err,
                     size_t errlen);

#endif
