/* bench_msgset — the CPU cost of the legacy message set conversions (storage/msgset.c) on this
 * machine: up-conversion of Produce v0–v2 message sets (magic 1, 100 B and 1 KiB values, 64 KiB
 * sets, uncompressed and gzip-wrapped) to a RecordBatch v2, and down-conversion of stored v2
 * batches (uncompressed, and gzip/snappy/lz4: then one wrapper of that codec) to magic 1 messages
 * for Fetch v0–v3, next to the produce-time validation every v2 batch gets anyway
 * (batch_check_records). Prints CPU seconds per million records and per GB.
 *
 *   eddy-bench-msgset [MiB of records per case, default 256]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "common/buf.h"
#include "storage/batch.h"
#include "storage/msgset.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A magic 1 message set of ~64 KiB of vsize-byte values (null keys). */
static void make_set(wbuf *w, size_t vsize, int *nrec)
{
    uint8_t *val = calloc(1, vsize);
    for (size_t i = 0; i < vsize; i++) val[i] = (uint8_t)('a' + i % 26);
    int n = (int)((64 << 10) / (vsize + MSGSET_V1_OVERHEAD));
    for (int i = 0; i < n; i++) {
        size_t at = w->len;
        wbuf_i64(w, i);
        wbuf_i32(w, (int32_t)(MSGSET_V1_OVERHEAD - 12 + vsize));
        wbuf_u32(w, 0);
        wbuf_i8(w, 1);
        wbuf_i8(w, 0);
        wbuf_i64(w, 1700000000000LL + i);
        wbuf_i32(w, -1);
        wbuf_i32(w, (int32_t)vsize);
        wbuf_put(w, val, vsize);
        put_be32(w->data + at + 12,
                 (uint32_t)crc32(0, w->data + at + 16, (uInt)(w->len - at - 16)));
    }
    *nrec = n;
    free(val);
}

static void gzip_wrap(wbuf *out, const wbuf *inner, int n)
{
    uint8_t *z = NULL;
    size_t zl = 0;
    if (batch_compress(BATCH_CODEC_GZIP, -1, inner->data, inner->len, &z, &zl) != BATCH_OK) exit(1);
    size_t at = out->len;
    wbuf_i64(out, n - 1);
    wbuf_i32(out, (int32_t)(MSGSET_V1_OVERHEAD - 12 + zl));
    wbuf_u32(out, 0);
    wbuf_i8(out, 1);
    wbuf_i8(out, BATCH_CODEC_GZIP);
    wbuf_i64(out, 1700000000000LL);
    wbuf_i32(out, -1);
    wbuf_i32(out, (int32_t)zl);
    wbuf_put(out, z, zl);
    put_be32(out->data + at + 12,
             (uint32_t)crc32(0, out->data + at + 16, (uInt)(out->len - at - 16)));
    free(z);
}

static void row(const char *what, double secs, double recs, double bytes)
{
    printf("%-44s %8.3f s/M records %8.3f s/GB\n", what, secs / recs * 1e6, secs / bytes * 1e9);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 256;
    size_t sizes[] = {100, 1024};
    for (int s = 0; s < 2; s++) {
        for (int gz = 0; gz < 2; gz++) {
            wbuf set, in;
            wbuf_init(&set, 0);
            wbuf_init(&in, 0);
            int n;
            make_set(&set, sizes[s], &n);
            if (gz) gzip_wrap(&in, &set, n);
            const wbuf *src = gz ? &in : &set;
            size_t rounds = (mib << 20) / set.len;
            double bytes = (double)rounds * (double)n * (double)sizes[s];
            double recs = (double)rounds * n;
            uint8_t *b = NULL;
            size_t blen = 0;
            double t0 = cpu_now();
            for (size_t r = 0; r < rounds; r++) {
                free(b);
                if (msgset_to_batch(src->data, src->len, BATCH_INFLATE_MAX, &b, &blen, NULL,
                                    NULL) != MSGSET_OK)
                    return 1;
            }
            double up = cpu_now() - t0;
            char what[80];
            snprintf(what, sizeof what, "up-convert %4zu B values%s", sizes[s], gz ? ", gzip" : "");
            row(what, up, recs, bytes);
            if (!gz) {
                int32_t bad;
                const char *why;
                int64_t mts;
                t0 = cpu_now();
                for (size_t r = 0; r < rounds; r++)
                    if (batch_check_records(b, blen, BATCH_INFLATE_MAX, &bad, &why, &mts)) return 1;
                snprintf(what, sizeof what, "  (v2 validation, for scale)");
                row(what, cpu_now() - t0, recs, bytes);
                wbuf out;
                wbuf_init(&out, 0);
                t0 = cpu_now();
                for (size_t r = 0; r < rounds; r++) {
                    int64_t next = 0;
                    bool full;
                    wbuf_reset(&out);
                    if (msgset_from_batches(&out, 0, b, blen, 0, INT64_MAX, 1, SIZE_MAX, false,
                                            &next, &full) != n)
                        return 1;
                }
                snprintf(what, sizeof what, "down-convert %4zu B values", sizes[s]);
                row(what, cpu_now() - t0, recs, bytes);
                /* a compressed batch: decompressed, converted, compressed again into one
                 * wrapper of its codec */
                static const char *const cname[] = {"", "gzip", "snappy", "lz4"};
                for (int codec = BATCH_CODEC_GZIP; codec <= BATCH_CODEC_LZ4; codec++) {
                    uint8_t *z = NULL;
                    size_t zl = 0;
                    if (batch_recompress(b, blen, codec, -1, BATCH_INFLATE_MAX, &z, &zl)) return 1;
                    t0 = cpu_now();
                    for (size_t r = 0; r < rounds; r++) {
                        int64_t next = 0;
                        bool full;
                        wbuf_reset(&out);
                        if (msgset_from_batches(&out, 0, z, zl, 0, INT64_MAX, 1, SIZE_MAX, false,
                                                &next, &full) != n)
                            return 1;
                    }
                    snprintf(what, sizeof what, "down-convert %4zu B values, %s", sizes[s],
                             cname[codec]);
                    row(what, cpu_now() - t0, recs, bytes);
                    free(z);
                }
                wbuf_free(&out);
            }
            free(b);
            wbuf_free(&set);
            wbuf_free(&in);
        }
    }
    return 0;
}
