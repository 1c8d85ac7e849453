/* fuzz_cli — the eddy CLI's input decoders (src/cli/input.c): consume's -o positions, RFC 3339
 * times, produce's --json-input lines, the schema type of a schema file.
 *
 * Input layout: byte 0 selects the decoder (modulo 4), byte 1 is the topic's partition count
 * for --json-input, the rest (NUL-terminated copy) is the text.
 * Oracle: no crash, no out-of-bounds access, no leak (ASan/UBSan); an accepted --json-input
 * line has a partition below the count and lengths that fit its strings; a time that parses
 * formats and parses back to itself; a detected schema type is one of the three names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    char *s = malloc(size - 1);
    memcpy(s, data + 2, size - 2);
    s[size - 2] = 0;
    switch (data[0] % 4) {
    case 0: {
        start_pos sp = {START_END, 0};
        if (cli_parse_start(s, &sp) == 0 && sp.kind == START_REL && sp.v < 1) abort();
        break;
    }
    case 1: {
        int64_t ms;
        if (cli_parse_rfc3339(s, &ms) == 0 && ms >= 0 && ms < 253402300800000LL) {
            char out[32], again[32];
            int64_t back;
            cli_format_ms(ms, out);
            if (cli_parse_rfc3339(out, &back) || back != ms) abort();
            cli_format_ms(back, again);
            if (strcmp(out, again)) abort();
        }
        break;
    }
    case 2: {
        cli_line l;
        char err[200];
        int nparts = data[1] % 9;
        if (cli_json_line(s, size - 2, nparts, &l, err, sizeof err) == 0) {
            if (l.partition >= nparts || l.partition < -1) abort();
            /* every byte the producer would send is readable (ASan checks the bounds) */
            volatile unsigned sum = 0;
            for (size_t i = 0; l.key && i < l.klen; i++) sum += (unsigned char)l.key[i];
            for (size_t i = 0; l.value && i < l.vlen; i++) sum += (unsigned char)l.value[i];
            if ((!l.key && l.klen) || (!l.value && l.vlen)) abort();
            cli_json_line_free(&l);
        } else if (!err[0]) {
            abort(); /* a refusal always says why */
        }
        break;
    }
    default: {
        const char *t = cli_detect_schema_type(s);
        if (t && strcmp(t, "JSON") && strcmp(t, "AVRO") && strcmp(t, "PROTOBUF")) abort();
        break;
    }
    }
    free(s);
    return 0;
}
