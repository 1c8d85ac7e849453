/* fuzz_pgoutput — libFuzzer target for eddy-cdc's decoders (src/cdc): replication CopyData
 * frames, pgoutput messages, and the Debezium value conversions of whatever text a message
 * carries. The first byte picks the entry point; no input may crash, leak or trip a sanitizer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cdc/debezium.h"
#include "cdc/pgoutput.h"

static const uint32_t types[] = {16,   17,   20,   21,   23,   25,   114,  700,  701,  790,
                                 1082, 1083, 1114, 1184, 1186, 1266, 1560, 1700, 2950, 3802,
                                 1007, 1009, 1231, 1115, 1185, 1182, 1001, 3807};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    char err[128];
    if (sel < 32) {
        pgo_frame f;
        if (pgo_frame_decode(data, size, &f, err, sizeof(err)) == 0 && f.kind == 'w') {
            pgo_msg m;
            pgo_msg_decode(f.data, f.len, &m, err, sizeof(err));
            pgo_msg_free(&m);
        }
        return 0;
    }
    if (sel < 128) {
        /* a value of one type, typmod from the selector */
        uint32_t t = types[sel % (sizeof(types) / sizeof(types[0]))];
        int32_t typmod = (sel & 1) ? -1 : (sel & 2 ? 3 : (12 << 16 | 2) + 4);
        json_t *v = dbz_value(t, typmod, (const char *)data, size, (enum dbz_decimal)(sel % 3));
        json_decref(v);
        return 0;
    }
    pgo_msg m;
    if (pgo_msg_decode(data, size, &m, err, sizeof(err)) == 0 &&
        (m.type == 'I' || m.type == 'U' || m.type == 'D')) {
        /* a relation with as many columns as the tuple, types cycling through the table */
        dbz_rel rel = {0};
        int n = m.new_tuple.ncols > m.old_tuple.ncols ? m.new_tuple.ncols : m.old_tuple.ncols;
        rel.ncols = n;
        rel.cols = calloc((size_t)(n ? n : 1), sizeof(dbz_col));
        char names[64][8];
        for (int i = 0; i < n; i++) {
            snprintf(names[i % 64], 8, "c%d", i % 64);
            rel.cols[i].name = names[i % 64];
            rel.cols[i].typoid = types[(size_t)(i + sel) % (sizeof(types) / sizeof(types[0]))];
            rel.cols[i].typmod = -1;
            rel.cols[i].pk = i == 0;
        }
        json_t *a = dbz_row(&rel, &m.new_tuple, &m.old_tuple, DBZ_DECIMAL_PRECISE);
        json_t *k = dbz_key(&rel, &m.old_tuple, DBZ_DECIMAL_PRECISE);
        char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
        free(s);
        json_decref(a);
        json_decref(k);
        free(rel.cols);
    }
    pgo_msg_free(&m);
    return 0;
}
