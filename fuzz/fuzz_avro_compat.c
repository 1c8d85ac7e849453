/* fuzz_avro_compat — Avro schema parsing and reader/writer compatibility (src/registry/avro.c,
 * compat.c) over pairs of schemas; see fuzz_compat.h for the input layout and the oracle. */
#define FUZZ_SCHEMA_TYPE STYPE_AVRO
#include "fuzz_compat.h"
