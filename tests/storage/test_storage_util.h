/* test_storage_util — helpers for the storage unit tests: build valid RecordBatch v2 bytes
 * (records varint-encoded per kafka-protocol.md §3.3, CRC-32C set), temp dirs, file pokes. */
#ifndef EDDY_TEST_STORAGE_UTIL_H
#define EDDY_TEST_STORAGE_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "common/buf.h"
#include "common/util.h"
#include "storage/batch.h"

typedef struct tbatch {
    uint8_t *p;
    size_t len;
} tbatch;

typedef struct trec {
    const char *key; /* NULL = null key */
    const char *val; /* NULL = tombstone */
} trec;

/* Compresses a records section with Kafka codec `codec` (1 gzip, 2 snappy raw, 3 lz4 frame,
 * 4 zstd, 5 = snappy with xerial framing, written as codec 2). */
static inline void tb_compress(int codec, const uint8_t *in, size_t n, wbuf *out)
{
    switch (codec) {
    case 1: {
        z_stream z;
        memset(&z, 0, sizeof z);
        deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
        size_t cap = deflateBound(&z, (uLong)n) + 32;
        uint8_t *o = wbuf_reserve(out, cap);
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)n;
        z.next_out = o;
        z.avail_out = (uInt)cap;
        deflate(&z, Z_FINISH);
        out->len += cap - z.avail_out;
        deflateEnd(&z);
        break;
    }
    case 2: {
        size_t cap = snappy_max_compressed_length(n);
        uint8_t *o = wbuf_reserve(out, cap);
        snappy_compress((const char *)in, n, (char *)o, &cap);
        out->len += cap;
        break;
    }
    case 5: {
        static const uint8_t hdr[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0,
                                        0,    0,   0,   1,   0,   0,   0,   1};
        wbuf_put(out, hdr, sizeof hdr);
        size_t half = n / 2; /* two blocks */
        for (int k = 0; k < 2; k++) {
            const uint8_t *p = k ? in + half : in;
            size_t m = k ? n - half : half;
            size_t cap = snappy_max_compressed_length(m);
            size_t at = out->len;
            wbuf_i32(out, 0);
            uint8_t *o = wbuf_reserve(out, cap);
            snappy_compress((const char *)p, m, (char *)o, &cap);
            out->len += cap;
            wbuf_patch_i32(out, at, (int32_t)cap);
        }
        break;
    }
    case 3: {
        size_t cap = LZ4F_compressFrameBound(n, NULL);
        uint8_t *o = wbuf_reserve(out, cap);
        out->len += LZ4F_compressFrame(o, cap, in, n, NULL);
        break;
    }
    case 4: {
        size_t cap = ZSTD_compressBound(n);
        uint8_t *o = wbuf_reserve(out, cap);
        out->len += ZSTD_compress(o, cap, in, n, 3);
        break;
    }
    default: wbuf_put(out, in, n);
    }
}

/* A batch of n records with keys/values from recs (or "k<i>"/"v<i>" when recs is NULL),
 * records compressed with `codec` (0 = none). */
static inline tbatch tb_make_codec(int n, int64_t ts, const trec *recs, int pad, int codec)
{
    wbuf r;
    wbuf_init(&r, 0);
    for (int i = 0; i < n; i++) {
        char kb[32], vb[64];
        const char *k, *v;
        if (recs) {
            k = recs[i].key;
            v = recs[i].val;
        } else {
            snprintf(kb, sizeof kb, "k%d", i);
            snprintf(vb, sizeof vb, "v%d", i);
            k = kb;
            v = vb;
        }
        wbuf body;
        wbuf_init(&body, 0);
        wbuf_i8(&body, 0);
        wbuf_varlong(&body, i);
        wbuf_varint(&body, i);
        if (k) {
            wbuf_varint(&body, (int32_t)strlen(k));
            wbuf_put(&body, k, strlen(k));
        } else {
            wbuf_varint(&body, -1);
        }
        if (v) {
            int vl = (int)strlen(v) + (i == 0 ? pad : 0);
            wbuf_varint(&body, vl);
            wbuf_put(&body, v, strlen(v));
            for (int j = (int)strlen(v); j < vl; j++) wbuf_i8(&body, 'x');
        } else {
            wbuf_varint(&body, -1);
        }
        wbuf_varint(&body, 0);
        wbuf_varint(&r, (int32_t)body.len);
        wbuf_put(&r, body.data, body.len);
        wbuf_free(&body);
    }
    wbuf w;
    wbuf_init(&w, 0);
    uint8_t hdr[BATCH_HEADER_SIZE] = {0};
    wbuf_put(&w, hdr, sizeof hdr);
    tb_compress(codec, r.data, r.len, &w);
    wbuf_free(&r);
    uint8_t *p = w.data;
    size_t len = w.len;
    put_be64(p, 0);
    put_be32(p + 8, (uint32_t)(len - 12));
    put_be32(p + 12, (uint32_t)-1);
    p[16] = 2;
    put_be16(p + 21, (uint16_t)(codec == 5 ? 2 : codec));
    put_be32(p + 23, (uint32_t)(n - 1));
    put_be64(p + 27, (uint64_t)ts);
    put_be64(p + 35, (uint64_t)(ts + n - 1));
    put_be64(p + 43, (uint64_t)-1);
    put_be16(p + 51, 0xffff);
    put_be32(p + 53, (uint32_t)-1);
    put_be32(p + 57, (uint32_t)n);
    batch_update_crc(p, len);
    tbatch b = {p, len};
    return b;
}

static inline tbatch tb_make(int n, int64_t ts, const trec *recs, int pad)
{
    return tb_make_codec(n, ts, recs, pad, 0);
}

static inline char *tmp_dir(const char *tag)
{
    char *t = xasprintf("/tmp/eddy-storage-%s-XXXXXX", tag);
    if (!mkdtemp(t)) abort();
    return t;
}

static inline void rm_tree(const char *dir)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0) {}
    free(cmd);
}

static inline int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static inline char *seg_path(const char *dir, int64_t base, const char *ext)
{
    return xasprintf("%s/%020lld%s", dir, (long long)base, ext);
}

#endif
