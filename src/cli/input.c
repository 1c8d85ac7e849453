/* input.c — the CLI's pure input decoders (input.h): integers, RFC 3339 times, -o positions,
 * --json-input lines, schema type detection. Every input is untrusted; nothing here asserts
 * or reads past what it was given (fuzz/fuzz_cli.c). */
#include "input.h"

#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cli_parse_int(const char *s, long long min, long long max, long long *out)
{
    if (!s || !*s) return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

int cli_parse_rfc3339(const char *s, int64_t *ms)
{
    return time_parse_rfc3339(s, ms);
}

void cli_format_ms(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || !gmtime_r(&t, &tm)) {
        snprintf(out, 32, "%lld", (long long)ms);
        return;
    }
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

int cli_parse_time(const char *s, int64_t *ms)
{
    long long v;
    if (!cli_parse_int(s, 0, INT64_MAX, &v)) {
        *ms = v;
        return 0;
    }
    return cli_parse_rfc3339(s, ms);
}

int cli_parse_start(const char *s, start_pos *out)
{
    long long v;
    if (!s) return -1;
    if (!strcmp(s, "beginning") || !strcmp(s, "earliest") || !strcmp(s, "start")) {
        out->kind = START_BEGINNING;
    } else if (!strcmp(s, "end") || !strcmp(s, "latest")) {
        out->kind = START_END;
    } else if (s[0] == '@' || !strncmp(s, "s@", 2)) {
        int64_t ms;
        if (cli_parse_time(s + (s[0] == '@' ? 1 : 2), &ms)) return -1;
        out->kind = START_TIME;
        out->v = ms;
    } else if (s[0] == '-' && !cli_parse_int(s + 1, 1, INT64_MAX, &v)) {
        out->kind = START_REL;
        out->v = v;
    } else if (!cli_parse_int(s, 0, INT64_MAX, &v)) {
        out->kind = START_ABS;
        out->v = v;
    } else {
        return -1;
    }
    return 0;
}

int cli_json_line(const char *line, size_t n, int nparts, cli_line *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->partition = -1;
    json_error_t je;
    json_t *j = json_loadb(line, n, 0, &je);
    json_t *jv = json_object_get(j, "value"), *jk = json_object_get(j, "key");
    json_t *jh = json_object_get(j, "headers"), *jp = json_object_get(j, "partition");
    json_t *jt = json_object_get(j, "timestamp");
    const char *bad = !j                                               ? je.text
                      : !json_is_object(j)                             ? "not a JSON object"
                      : !jv                                            ? "no \"value\""
                      : jk && !json_is_string(jk) && !json_is_null(jk) ? "\"key\" is not a string"
                      : jh && !json_is_object(jh) ? "\"headers\" is not an object"
                      : jp && (!json_is_integer(jp) || json_integer_value(jp) < 0 ||
                               json_integer_value(jp) >= nparts)
                          ? "\"partition\" is not a partition of the topic"
                      : jt && (!json_is_integer(jt) || json_integer_value(jt) < 0)
                          ? "\"timestamp\" is not ms since the epoch"
                          : NULL;
    const char *hk;
    json_t *hv;
    json_object_foreach(jh, hk, hv)
    {
        if (!bad && !json_is_string(hv) && !json_is_null(hv))
            bad = "a header value is not a string";
    }
    if (bad) {
        snprintf(err, errlen, "%s", bad);
        json_decref(j);
        return -1;
    }
    out->doc = j;
    out->key = json_string_value(jk);
    out->klen = out->key ? json_string_length(jk) : 0;
    if (json_is_string(jv)) {
        out->value = json_string_value(jv);
        out->vlen = json_string_length(jv);
    } else if (!json_is_null(jv)) {
        out->vbuf = json_dumps(jv, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!out->vbuf) {
            snprintf(err, errlen, "\"value\" cannot be encoded");
            cli_json_line_free(out);
            return -1;
        }
        out->value = out->vbuf;
        out->vlen = strlen(out->vbuf);
    }
    out->headers = jh;
    if (jp) out->partition = (int32_t)json_integer_value(jp);
    if (jt) out->timestamp = (int64_t)json_integer_value(jt);
    return 0;
}

void cli_json_line_free(cli_line *l)
{
    json_decref(l->doc);
    free(l->vbuf);
    memset(l, 0, sizeof *l);
    l->partition = -1;
}

const char *cli_detect_schema_type(const char *text)
{
    const char *p = text;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (!strncmp(p, "syntax", 6) || !strncmp(p, "package ", 8) || !strncmp(p, "message ", 8))
        return "PROTOBUF";
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    const char *type = NULL;
    if (json_is_string(j) || json_is_array(j)) type = "AVRO"; /* primitive or union */
    if (json_is_boolean(j)) type = "JSON";
    if (json_is_object(j)) {
        const char *t = json_string_value(json_object_get(j, "type"));
        static const char *const json_keys[] = {
            "$schema", "properties", "$defs",    "definitions",          "anyOf", "oneOf",
            "allOf",   "$ref",       "required", "additionalProperties", "items", "const"};
        if (json_object_get(j, "fields") ||
            (t && (!strcmp(t, "record") || !strcmp(t, "fixed") ||
                   (!strcmp(t, "enum") && json_object_get(j, "symbols")))))
            type = "AVRO";
        else if (t && (!strcmp(t, "object") || !strcmp(t, "integer") || !strcmp(t, "number")))
            type = "JSON"; /* no such Avro types */
        else {
            for (size_t i = 0; i < sizeof json_keys / sizeof *json_keys && !type; i++)
                if (json_object_get(j, json_keys[i])) type = "JSON";
            if (!type && t) type = "AVRO"; /* {"type":"string"}: valid in both; Avro's default */
        }
    }
    json_decref(j);
    return type;
}
