/* fuzz_jsonschema_compat — JSON Schema validation and "reader accepts every document the writer
 * accepts" (src/registry/jsonschema.c, compat.c) over pairs of schemas; see fuzz_compat.h. */
#define FUZZ_SCHEMA_TYPE STYPE_JSON
#include "fuzz_compat.h"
