/* debezium — PostgreSQL text values to Debezium's JSON representation, and the change-event
 * envelope (before / after / source / op / ts_ms), for eddy-cdc (src/cdc).
 *
 * Mapping (Debezium's PostgreSQL connector defaults: decimal.handling.mode=precise,
 * time.precision.mode=adaptive, binary.handling.mode=bytes, interval.handling.mode=numeric):
 *   bool → boolean; int2/int4/int8/oid → integer; float4/float8 → number ("NaN", "Infinity"
 *   as strings); numeric(p,s) → base64 of the unscaled value's big-endian two's complement
 *   bytes; numeric → {"scale": s, "value": base64}; money → as numeric with scale 2;
 *   date → days since 1970-01-01; time(p≤3) → ms of day, time → µs of day;
 *   timestamp(p≤3) → epoch ms, timestamp → epoch µs; timestamptz → ISO-8601 UTC string
 *   (ZonedTimestamp); timetz → "HH:MM:SS[.f]Z" (ZonedTime); interval → µs (a month is 30.4375
 *   days, a year 365.25 days); bytea → base64; json/jsonb/xml/uuid/text/varchar/char/inet/
 *   enums and anything unknown → string; arrays of these → JSON arrays.
 * A value whose text does not parse as its type is passed on as its text, never dropped.
 * Pure (no I/O): the fuzzer drives it through fuzz/fuzz_pgoutput.c.
 */
#ifndef EDDY_CDC_DEBEZIUM_H
#define EDDY_CDC_DEBEZIUM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cdc/pgoutput.h"

/* Debezium's placeholder for a TOASTed value absent from an update. */
#define DBZ_UNAVAILABLE "__debezium_unavailable_value"

enum dbz_decimal { DBZ_DECIMAL_PRECISE = 0, DBZ_DECIMAL_STRING, DBZ_DECIMAL_DOUBLE };

typedef struct dbz_col {
    char *name;
    uint32_t typoid;
    int32_t typmod;
    bool pk;
} dbz_col;

typedef struct dbz_rel {
    uint32_t relid;
    char *nsp, *name;
    char replident; /* 'd', 'f', 'i', 'n' */
    int ncols;
    dbz_col *cols;
} dbz_rel;

/* A new reference; never NULL. */
json_t *dbz_value(uint32_t typoid, int32_t typmod, const char *text, size_t len,
                  enum dbz_decimal dm);

/* Row image as a JSON object (column name → value), or NULL when t is NULL. Unchanged TOAST
 * ('u') values are taken from fallback when it has them, else DBZ_UNAVAILABLE. */
json_t *dbz_row(const dbz_rel *rel, const pgo_tuple *t, const pgo_tuple *fallback,
                enum dbz_decimal dm);

/* Key object of the primary-key columns, or NULL when the table has none. */
json_t *dbz_key(const dbz_rel *rel, const pgo_tuple *t, enum dbz_decimal dm);

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t dbz_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
