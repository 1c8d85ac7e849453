/* fuzz_decompress — one decompressor of the RecordBatch reader (src/storage/batch.c), chosen at
 * build time by FUZZ_CODEC (1 gzip, 2 snappy raw or xerial, 3 lz4 frame, 4 zstd): the targets
 * fuzz_gzip, fuzz_snappy, fuzz_lz4 and fuzz_zstd.
 *
 * Input: the compressed records section.
 * Oracle: no crash, no out-of-bounds access, no leak (ASan/UBSan); an error returns no
 * output; a success of L bytes decodes again identically under a cap of exactly L and is
 * BATCH_ERR_TOO_BIG under a cap of L - 1 (one cap rule, whatever the codec). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/batch.h"

#define CAP ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* libFuzzer's entry point */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *out = NULL, *again = NULL;
    size_t n = 0, m = 0;
    int rc = batch_decompress(FUZZ_CODEC, data, size, CAP, &out, &n);
    if (rc != BATCH_OK) {
        if (out || n) abort();
        return 0;
    }
    if (n > CAP) abort();
    if (n > 0) {
        if (batch_decompress(FUZZ_CODEC, data, size, n, &again, &m) != BATCH_OK || m != n ||
            memcmp(out, again, n) != 0)
            abort();
        free(again);
        if (n > 1 &&
            batch_decompress(FUZZ_CODEC, data, size, n - 1, &again, &m) != BATCH_ERR_TOO_BIG)
            abort();
    }
    free(out);
    return 0;
}
