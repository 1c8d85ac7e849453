/* bench_batch — the CPU cost of produce-time record validation (batch_check_records, the
 * check every produced batch goes through) on this machine, next to the CRC-32C check the
 * broker already made before it: batches shaped like librdkafka's (null key, no headers,
 * 64 KiB of records, uncompressed) of 100 B and 1 KiB values; then batches of ~150 records
 * with ~60 B JSON-like values compressed with each codec (the validation then includes
 * decompression). Prints CPU seconds per million records and per GB (uncompressed) for each.
 * Compare with `make bench` W2 (eddyd's whole produce path).
 *
 *   eddy-bench-batch [MiB of records per size, default 512]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "storage/batch.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t *make(size_t vsize, size_t target, size_t *len, int *nrec)
{
    uint8_t *val = calloc(1, vsize);
    int n = (int)(target / (vsize + 8));
    if (n < 1) n = 1;
    batch_rec *rs = calloc((size_t)n, sizeof *rs);
    for (int i = 0; i < n; i++) rs[i] = (batch_rec){NULL, 0, val, vsize, NULL, 0, 0};
    uint8_t *p = batch_build(rs, n, 1700000000000LL, len);
    free(rs);
    free(val);
    *nrec = n;
    return p;
}

/* Re-encodes the records section of a batch_build batch with a codec (1 gzip, 2 snappy, 3 lz4
 * frame, 4 zstd). */
static uint8_t *compress_batch(const uint8_t *b, size_t len, int codec, size_t *olen)
{
    const uint8_t *in = b + BATCH_HEADER_SIZE;
    size_t n = len - BATCH_HEADER_SIZE, cap = n + n / 8 + 1024, c = cap;
    uint8_t *o = malloc(BATCH_HEADER_SIZE + cap), *d = o + BATCH_HEADER_SIZE;
    memcpy(o, b, BATCH_HEADER_SIZE);
    if (codec == 1) {
        z_stream z;
        memset(&z, 0, sizeof z);
        deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)n;
        z.next_out = d;
        z.avail_out = (uInt)cap;
        deflate(&z, Z_FINISH);
        c = cap - z.avail_out;
        deflateEnd(&z);
    } else if (codec == 2) {
        snappy_compress((const char *)in, n, (char *)d, &c);
    } else if (codec == 3) {
        c = LZ4F_compressFrame(d, cap, in, n, NULL);
    } else {
        c = ZSTD_compress(d, cap, in, n, 3);
    }
    *olen = BATCH_HEADER_SIZE + c;
    batch_info bi;
    batch_parse(b, len, &bi);
    batch_set_records(o, *olen, (int16_t)codec, bi.records_count);
    return o;
}

static double check_all(const uint8_t *b, size_t len, long iters, long *bad)
{
    double t0 = cpu_now();
    for (long i = 0; i < iters; i++) {
        int32_t idx;
        const char *why;
        int64_t mts;
        *bad += batch_check_records(b, len, 0, &idx, &why, &mts) != BATCH_OK;
    }
    return cpu_now() - t0;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 512;
    static const size_t sizes[] = {100, 1024};
    for (int s = 0; s < 2; s++) {
        size_t len;
        int n;
        uint8_t *b = make(sizes[s], 64 << 10, &len, &n);
        long iters = (long)((mib << 20) / len);
        double t0 = cpu_now();
        uint32_t x = 0;
        for (long i = 0; i < iters; i++) x ^= crc32c(b + 21, len - 21);
        double t1 = cpu_now();
        long bad = 0;
        for (long i = 0; i < iters; i++) {
            int32_t idx;
            const char *why;
            int64_t mts;
            bad += batch_check_records(b, len, 0, &idx, &why, &mts) != BATCH_OK;
        }
        double t2 = cpu_now();
        double recs = (double)iters * n, gb = (double)iters * (double)len / 1e9;
        printf("%5zu B records, %d per batch: CRC %.3f s/M rec %.3f s/GB | validation %.3f s/M "
               "rec %.3f s/GB%s (%u)\n",
               sizes[s], n, (t1 - t0) / recs * 1e6, (t1 - t0) / gb, (t2 - t1) / recs * 1e6,
               (t2 - t1) / gb, bad ? " ERRORS" : "", x & 1);
        free(b);
    }
    /* ~150 JSON-like values per batch, compressed */
    int n = 16384 / 110;
    char(*vals)[112] = calloc((size_t)n, sizeof *vals);
    batch_rec *rs = calloc((size_t)n, sizeof *rs);
    for (int i = 0; i < n; i++) {
        int vl = snprintf(vals[i], sizeof vals[i],
                          "{\"order\":%d,\"sku\":\"A-%d\",\"qty\":%d,\"note\":\"text %d\"}", i,
                          i * 7 % 1000, i % 9, i * 13);
        rs[i] = (batch_rec){NULL, 0, vals[i], (size_t)vl, NULL, 0, 0};
    }
    size_t plen;
    uint8_t *plain = batch_build(rs, n, 1700000000000LL, &plen);
    static const char *names[] = {"", "gzip", "snappy", "lz4", "zstd"};
    for (int codec = 1; codec <= 4; codec++) {
        size_t len;
        uint8_t *b = compress_batch(plain, plen, codec, &len);
        long iters = (long)((mib << 20) / 8 / plen), bad = 0;
        double t = check_all(b, len, iters, &bad);
        double recs = (double)iters * n, gb = (double)iters * (double)plen / 1e9;
        printf("%-6s %zu B batches of %d records, %zu B compressed: validation %.3f s/M rec "
               "%.2f s/GB%s\n",
               names[codec], plen, n, len, t / recs * 1e6, t / gb, bad ? " ERRORS" : "");
        free(b);
    }
    free(plain);
    free(rs);
    free(vals);
    return 0;
}
