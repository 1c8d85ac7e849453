/* bench_batch — the CPU cost of produce-time record validation (batch_check_records, the
 * check every produced batch goes through) on this machine, next to the CRC-32C check the
 * broker already made before it: batches shaped like librdkafka's (null key, no headers,
 * 64 KiB of records, uncompressed) of 100 B and 1 KiB values. Prints CPU seconds per million
 * records and per GB for each. Compare with `make bench` W2 (eddyd's whole produce path).
 *
 *   eddy-bench-batch [MiB of records per size, default 512]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    return 0;
}
