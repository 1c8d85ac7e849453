/* fuzz_avro_decode — the Avro binary decoder (src/registry/avro_codec.c) the console's message
 * browser runs on records in the registry's wire format: untrusted bytes against a schema.
 *
 * Input layout: the schema text, a NUL byte, then the Avro binary.
 * Oracle: no crash, leak or out-of-bounds access (ASan/UBSan); a failed decode says why and
 * yields no value; a decoded value that encodes again decodes to the same JSON (round trip). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/avro_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul) return 0;
    char err[256];
    avro_schema *s = avro_schema_parse((const char *)data, err, sizeof err);
    if (!s) return 0;
    const uint8_t *bin = nul + 1;
    size_t n = size - (size_t)(bin - data);
    json_t *v = NULL;
    err[0] = 0;
    if (avro_decode_json(s, bin, n, &v, err, sizeof err) != 0) {
        if (v || !err[0]) abort(); /* an error yields no value and says why */
    } else {
        wbuf w;
        wbuf_init(&w, 0);
        if (avro_encode_json(s, v, &w, err, sizeof err) == 0) {
            json_t *again = NULL;
            if (avro_decode_json(s, w.data, w.len, &again, err, sizeof err) != 0) abort();
            if (!json_equal(v, again)) abort();
            json_decref(again);
        }
        wbuf_free(&w);
        json_decref(v);
    }
    avro_schema_free(s);
    return 0;
}
