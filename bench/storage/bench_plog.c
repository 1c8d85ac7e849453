/* bench_plog — measures the plog write path on this machine (perf-notes.md): append throughput
 * with plain page-cache writes vs drop-behind (and with preallocation), and the latency of a
 * small append + fdatasync (acks=all, one request per fsync) on a growing vs a preallocated
 * segment. Prints one line per mode; compare ratios within one run.
 *
 *   eddy-bench-plog [dir] [MiB per throughput run, default 1024] [batch KiB, default 16]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "storage/batch.h"
#include "storage/plog.h"

static uint8_t *make_batch(size_t len)
{
    /* one record carrying len - 61 - 10 bytes of value; CRC set */
    uint8_t *p = xcalloc(1, len);
    size_t vlen = len - BATCH_HEADER_SIZE - 16;
    wbuf r;
    wbuf_init(&r, 0);
    wbuf body;
    wbuf_init(&body, 0);
    wbuf_i8(&body, 0);
    wbuf_varlong(&body, 0);
    wbuf_varint(&body, 0);
    wbuf_varint(&body, -1);
    wbuf_varint(&body, (int32_t)vlen);
    uint8_t *v = wbuf_reserve(&body, vlen);
    for (size_t i = 0; i < vlen; i++) v[i] = (uint8_t)(i * 131);
    body.len += vlen;
    wbuf_varint(&body, 0);
    wbuf_varint(&r, (int32_t)body.len);
    wbuf_put(&r, body.data, body.len);
    size_t total = BATCH_HEADER_SIZE + r.len;
    if (total > len) abort();
    memcpy(p + BATCH_HEADER_SIZE, r.data, r.len);
    put_be32(p + 8, (uint32_t)(total - 12));
    p[16] = 2;
    put_be64(p + 27, (uint64_t)now_wall_ms());
    put_be64(p + 35, (uint64_t)now_wall_ms());
    put_be64(p + 43, (uint64_t)-1);
    put_be16(p + 51, 0xffff);
    put_be32(p + 53, (uint32_t)-1);
    put_be32(p + 57, 1);
    batch_update_crc(p, total);
    wbuf_free(&r);
    wbuf_free(&body);
    return p;
}

static size_t batch_len(const uint8_t *p)
{
    return (size_t)be32(p + 8) + 12;
}

static void throughput(const char *root, const char *name, int64_t keep, bool prealloc, int64_t mib,
                       size_t bkib)
{
    char *dir = xasprintf("%s/tp-%s", root, name);
    plog_config c;
    plog_config_default(&c);
    c.preallocate = prealloc;
    plog_set_drop_behind(keep);
    plog *l;
    if (plog_open(dir, &c, &l)) abort();
    uint8_t *b = make_batch(bkib << 10);
    size_t len = batch_len(b);
    int64_t n = (mib << 20) / (int64_t)len;
    int64_t t0 = now_mono_us();
    for (int64_t i = 0; i < n; i++)
        if (plog_append(l, b, len, NULL)) abort();
    int64_t t1 = now_mono_us();
    double mbs = (double)n * (double)len / 1e6 / ((double)(t1 - t0) / 1e6);
    printf("append %-28s %8.0f MB/s  (%" PRId64 " MiB in %zu B batches)\n", name, mbs, mib, len);
    fflush(stdout);
    plog_delete(l);
    free(b);
    free(dir);
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void fsync_latency(const char *root, const char *name, bool prealloc, int n)
{
    char *dir = xasprintf("%s/lat-%s", root, name);
    plog_config c;
    plog_config_default(&c);
    c.preallocate = prealloc;
    plog_set_drop_behind(32LL << 20);
    plog *l;
    if (plog_open(dir, &c, &l)) abort();
    uint8_t *b = make_batch(4096);
    size_t len = batch_len(b);
    flusher *f = flusher_start(-1, 0);
    int64_t *lat = xmalloc((size_t)n * sizeof *lat);
    for (int i = 0; i < n; i++) {
        int64_t t0 = now_mono_us();
        if (plog_append(l, b, len, NULL)) abort();
        int64_t want = plog_end_offset(l);
        flusher_request(f, l, want);
        while (plog_durable_offset(l) < want) usleep(20);
        lat[i] = now_mono_us() - t0;
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp);
    printf("4 KiB append + group-commit fsync, %-12s p50 %5" PRId64 " us  p99 %5" PRId64
           " us  (%d appends, one at a time)\n",
           name, lat[n / 2], lat[n * 99 / 100], n);
    fflush(stdout);
    flusher_stop(f);
    plog_delete(l);
    free(lat);
    free(b);
    free(dir);
}

int main(int argc, char **argv)
{
    log_set_level(LOG_WARN);
    const char *root = argc > 1 ? argv[1] : "/var/tmp";
    int64_t mib = argc > 2 ? atoll(argv[2]) : 1024;
    size_t bkib = argc > 3 ? (size_t)atoll(argv[3]) : 16;
    char *base = xasprintf("%s/eddy-bench-plog-%d", root, (int)getpid());
    mkdir_p(base, 0755);
    throughput(base, "plain (drop-behind off)", 0, false, mib, bkib);
    throughput(base, "drop-behind 32 MiB", 32LL << 20, false, mib, bkib);
    throughput(base, "drop-behind 32 MiB + prealloc", 32LL << 20, true, mib, bkib);
    throughput(base, "plain (again)", 0, false, mib, bkib);
    throughput(base, "drop-behind 32 MiB (again)", 32LL << 20, false, mib, bkib);
    fsync_latency(base, "growing", false, 2000);
    fsync_latency(base, "preallocated", true, 2000);
    rmdir(base);
    free(base);
    return 0;
}
