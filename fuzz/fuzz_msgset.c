/* fuzz_msgset — the legacy message set converters (src/storage/msgset.c).
 *
 * Input: a message set (magic 0/1, maybe compressed wrappers; the CRC must match for a message
 * to get past its check, so the seeds carry good ones and mutations exercise the framing and
 * CRC paths), also read as RecordBatch v2 bytes for the down-converter.
 * Oracle: no crash, no out-of-bounds read, no leak (ASan/UBSan); a set that msgset_to_batch
 * accepts yields a batch that batch_validate and batch_check_records accept, and whose
 * down-conversion to magic 0 and to magic 1 converts back (msgset_to_batch) to a batch with the
 * same number of records — uncompressed, and stored in the producer's codec (then one wrapper
 * of that codec; with small limits, never more bytes than the limit). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "storage/batch.h"
#include "storage/msgset.h"

#define CAP ((size_t)1 << 20)

static void down_up(const uint8_t *batch, size_t len, int32_t count, int want_codec)
{
    for (int magic = 0; magic <= 1; magic++) {
        wbuf w;
        wbuf_init(&w, 0);
        int64_t next = 0;
        bool full;
        int n = msgset_from_batches(&w, 0, batch, len, 0, INT64_MAX, magic, SIZE_MAX, false, &next,
                                    &full);
        if (n != count || full || next != count) abort();
        uint8_t *again = NULL;
        size_t alen = 0;
        int codec, m;
        if (msgset_to_batch(w.data, w.len, CAP, &again, &alen, &codec, &m) != MSGSET_OK) abort();
        batch_info bi;
        if (batch_validate(again, alen, &bi) != BATCH_OK || bi.records_count != count ||
            codec != want_codec || m != magic)
            abort();
        free(again);
        wbuf_free(&w);
    }
}

/* Rewrites the CRC of every top-level message of a copy, so mutations of the fields behind it
 * reach the decoder. */
static void fix_crcs(uint8_t *p, size_t n)
{
    size_t pos = 0;
    while (pos + 16 <= n) {
        int32_t size = (int32_t)be32(p + pos + 8);
        if (size < 4 || (size_t)size > n - pos - 12) break;
        put_be32(p + pos + 12, (uint32_t)crc32(0, p + pos + 16, (uInt)(size - 4)));
        pos += 12 + (size_t)size;
    }
}

static void up(const uint8_t *data, size_t size)
{
    uint8_t *out = NULL;
    size_t olen = 0;
    int codec = -1, magic = -1;
    int rc = msgset_to_batch(data, size, CAP, &out, &olen, &codec, &magic);
    if (rc == MSGSET_OK) {
        batch_info bi;
        int32_t bad;
        const char *why;
        int64_t mts;
        if (!out || batch_validate(out, olen, &bi) != BATCH_OK) abort();
        if (batch_check_records(out, olen, CAP, &bad, &why, &mts) != BATCH_OK) abort();
        if (codec < 0 || codec > 3 || magic < 0 || magic > 1) abort();
        down_up(out, olen, bi.records_count, 0);
        if (codec) {
            /* stored in the producer's codec, as produce does: down-conversion then wraps the
             * batch, or (small limits) falls back to messages one by one */
            uint8_t *z = NULL;
            size_t zl = 0;
            if (batch_recompress(out, olen, codec, -1, CAP, &z, &zl) == BATCH_OK) {
                down_up(z, zl, bi.records_count, codec);
                for (size_t lim = 20; lim < 400; lim += 60) {
                    wbuf w;
                    wbuf_init(&w, 0);
                    int64_t next = 0;
                    bool full;
                    int n = msgset_from_batches(&w, 0, z, zl, 0, INT64_MAX, (int)(lim & 1), lim,
                                                false, &next, &full);
                    if (n < 0 || w.len > lim || (n < bi.records_count && !full)) abort();
                    wbuf_free(&w);
                }
                free(z);
            }
        }
        free(out);
    } else if (out || !msgset_strerror(rc)) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    up(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (size) memcpy(copy, data, size);
    fix_crcs(copy, size);
    up(copy, size);
    free(copy);
    /* the same bytes as stored batches, down-converted with a small limit */
    wbuf w;
    wbuf_init(&w, 0);
    int64_t next = 0;
    bool full;
    int n = msgset_from_batches(&w, 0, data, size, 0, INT64_MAX, (int)(size & 1), 200, size & 2,
                                &next, &full);
    if (n >= 0 && w.len > 200 && !(size & 2)) abort();
    wbuf_free(&w);
    return 0;
}
