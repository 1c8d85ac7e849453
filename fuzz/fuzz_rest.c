/* fuzz_rest — the REST produce API's decoders (src/rest): Confluent REST Proxy v3 record
 * streams and v2 bodies, the Avro encoder (schema + data), ISO-8601 timestamps.
 *
 * Input layout: byte 0 selects the decoder (modulo 5), the rest is its input; for the Avro
 * encoder the schema and the data are separated by the first NUL byte.
 * Oracle: no crash, no out-of-bounds access, no leak (ASan/UBSan); a rejected Avro value
 * leaves the output buffer as it was; a formatted timestamp parses back to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/avro_codec.h"
#include "rest/records.h"

static int lookup(void *arg, int32_t id, const char *subject, int32_t version, rest_schema *out)
{
    (void)arg;
    (void)subject;
    (void)version;
    if (id == 2 || id < 0) {
        *out = (rest_schema){2, "JSON",
                             "{\"type\":\"object\",\"properties\":{\"n\":"
                             "{\"type\":\"integer\",\"minimum\":0}}}"};
        return 0;
    }
    if (id == 1) {
        *out = (rest_schema){1, NULL,
                             "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                             "{\"name\":\"n\",\"type\":[\"null\",\"long\",\"R\"]},"
                             "{\"name\":\"s\",\"type\":{\"type\":\"map\",\"values\":"
                             "\"bytes\"},\"default\":{}}]}"};
        return 0;
    }
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char err[256];
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    rest_batch b;
    switch (data[0] % 5) {
    case 0: {
        size_t used;
        rest_parse_v3_stream(body, n, &b, &used, err, sizeof err);
        if (used > n) abort();
        for (int i = 0; i < b.n; i++) rest_resolve(&b.r[i], "t", lookup, NULL, err, sizeof err);
        rest_batch_free(&b);
        break;
    }
    case 1:
    case 2:
        rest_parse_v2(body, n, data[0] % 5 == 1 ? "json" : "binary", &b, err, sizeof err);
        rest_batch_free(&b);
        break;
    case 3: {
        char *s = malloc(n + 1);
        memcpy(s, body, n);
        s[n] = 0;
        size_t sl = strlen(s);
        avro_schema *as = avro_schema_parse(s, err, sizeof err);
        if (as && sl < n) {
            json_t *d = json_loadb(body + sl + 1, n - sl - 1, JSON_DECODE_ANY, NULL);
            if (d) {
                wbuf w;
                wbuf_init(&w, 1 << 20);
                wbuf_put(&w, "x", 1);
                if (avro_encode_json(as, d, &w, err, sizeof err) != 0 && w.len != 1) abort();
                wbuf_free(&w);
                json_decref(d);
            }
        }
        avro_schema_free(as);
        free(s);
        break;
    }
    default: {
        char *s = malloc(n + 1);
        memcpy(s, body, n);
        s[n] = 0;
        int64_t ms = rest_parse_time(s);
        if (ms >= 0 && ms < 253402300800000LL) {
            char out[32];
            rest_format_time(ms, out);
            if (rest_parse_time(out) != ms) abort();
        }
        free(s);
    }
    }
    return 0;
}
