/* input.h — the `eddy` CLI's decoders of user input, pure (no librdkafka, no I/O) so that
 * fuzz/fuzz_cli.c can feed them bytes: integers, RFC 3339 times, consume's -o positions,
 * produce's --json-input lines and the schema type of a schema file. */
#ifndef EDDY_CLI_INPUT_H
#define EDDY_CLI_INPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A decimal integer in [min, max]; 0 on success, -1 otherwise (nothing written). */
int cli_parse_int(const char *s, long long min, long long max, long long *out);
/* RFC 3339 ("2026-05-12T10:00:00.123Z", "...+02:00") → ms since the epoch; 0 on success. */
int cli_parse_rfc3339(const char *s, int64_t *ms);
/* ms since the epoch → "2026-05-12T10:00:00.123Z" (ms >= 0). */
void cli_format_ms(int64_t ms, char out[32]);
/* ms since the epoch (digits) or RFC 3339; 0 on success. */
int cli_parse_time(const char *s, int64_t *ms);

/* consume -o: beginning | end | N | -N | @TIME | s@MS. */
typedef enum { START_BEGINNING, START_END, START_ABS, START_REL, START_TIME } start_kind;
typedef struct start_pos {
    start_kind kind;
    int64_t v; /* offset, count back, or ms since the epoch */
} start_pos;
int cli_parse_start(const char *s, start_pos *out);

/* produce --json-input: one line {"value":…, "key":"…", "headers":{"k":"v"|null},
 * "partition":N, "timestamp":MS}. On success 0 and *out filled (pointers into out->doc /
 * out->vbuf: valid until cli_json_line_free); else -1 and a one-line reason in err. A
 * partition must be < nparts. */
typedef struct cli_line {
    const char *key, *value; /* NULL: none (value NULL: a tombstone) */
    size_t klen, vlen;
    json_t *headers;   /* object of string/null values, or NULL */
    int32_t partition; /* -1: the partitioner's choice */
    int64_t timestamp; /* 0: now */
    json_t *doc;
    char *vbuf;
} cli_line;
int cli_json_line(const char *line, size_t n, int nparts, cli_line *out, char *err, size_t errlen);
void cli_json_line_free(cli_line *l);

/* The schema type of a schema file's text: "JSON", "AVRO", "PROTOBUF", or NULL (unknown). */
const char *cli_detect_schema_type(const char *text);

#endif
