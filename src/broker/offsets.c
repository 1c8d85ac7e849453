/* offsets — the ListOffsets API (v0–v7) and record-level timestamp lookup inside a batch.
 *
 *   -1 latest (HWM; LSO for read_committed, equal here: no transactions)
 *   -2 earliest (log start offset)
 *   -3 max timestamp (v7+): the first record carrying the largest timestamp
 *   t >= 0: the first record whose timestamp >= t. plog finds the batch; the records of that
 *   batch are decoded (decompressed first for gzip/snappy/lz4/zstd) to find the record.
 *   v0 answers in old_style_offsets.
 */
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "broker/core.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"

#define MAX_INFLATE (256u << 20)

/* ------------------------------------------------------------------ decompression ---- */

static int un_gzip(const uint8_t *in, size_t n, uint8_t **out, size_t *olen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 32) != Z_OK) return -1;
    size_t cap = n * 4 + 1024, len = 0;
    uint8_t *buf = xmalloc(cap);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    int rc;
    do {
        if (len == cap) {
            if (cap >= MAX_INFLATE) break;
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        zs.next_out = buf + len;
        zs.avail_out = (uInt)(cap - len);
        rc = inflate(&zs, Z_NO_FLUSH);
        len = cap - zs.avail_out;
        if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;
    } while (rc == Z_OK || rc == Z_BUF_ERROR);
    inflateEnd(&zs);
    *out = buf;
    *olen = len;
    return 0; /* a truncated stream still yields the records decoded so far */
}

static int un_snappy_raw(const uint8_t *in, size_t n, wbuf *w)
{
    size_t ul;
    if (snappy_uncompressed_length((const char *)in, n, &ul) != SNAPPY_OK || ul > MAX_INFLATE)
        return -1;
    uint8_t *p = wbuf_reserve(w, ul);
    if (!p) return -1;
    if (snappy_uncompress((const char *)in, n, (char *)p, &ul) != SNAPPY_OK) return -1;
    w->len += ul;
    return 0;
}

static int un_snappy(const uint8_t *in, size_t n, uint8_t **out, size_t *olen)
{
    static const uint8_t xerial[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
    wbuf w;
    wbuf_init(&w, MAX_INFLATE);
    int rc = 0;
    if (n >= 16 && !memcmp(in, xerial, 8)) {
        rbuf r = rbuf_make(in + 16, n - 16);
        while (rbuf_left(&r) >= 4) {
            int32_t bl = rbuf_i32(&r);
            if (bl < 0 || (size_t)bl > rbuf_left(&r)) break;
            const uint8_t *blk = rbuf_take(&r, (size_t)bl);
            if (!blk || un_snappy_raw(blk, (size_t)bl, &w) < 0) {
                rc = -1;
                break;
            }
        }
    } else {
        rc = un_snappy_raw(in, n, &w);
    }
    if (rc < 0 && w.len == 0) {
        wbuf_free(&w);
        return -1;
    }
    *out = w.data;
    *olen = w.len;
    return 0;
}

static int un_lz4(const uint8_t *in, size_t n, uint8_t **out, size_t *olen)
{
    LZ4F_dctx *d;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION))) return -1;
    size_t cap = n * 4 + 1024, len = 0, pos = 0;
    uint8_t *buf = xmalloc(cap);
    int rc = 0;
    while (pos < n) {
        if (len == cap) {
            if (cap >= MAX_INFLATE) break;
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t dst = cap - len, src = n - pos;
        size_t r = LZ4F_decompress(d, buf + len, &dst, in + pos, &src, NULL);
        if (LZ4F_isError(r)) {
            rc = -1;
            break;
        }
        pos += src;
        len += dst;
        if (r == 0) break;
        if (src == 0 && dst == 0 && len < cap) break;
    }
    LZ4F_freeDecompressionContext(d);
    if (rc < 0 && len == 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *olen = len;
    return 0;
}

static int un_zstd(const uint8_t *in, size_t n, uint8_t **out, size_t *olen)
{
    ZSTD_DStream *ds = ZSTD_createDStream();
    if (!ds) return -1;
    ZSTD_initDStream(ds);
    size_t cap = n * 4 + 1024, len = 0;
    uint8_t *buf = xmalloc(cap);
    ZSTD_inBuffer ib = {in, n, 0};
    int rc = 0;
    while (ib.pos < ib.size) {
        if (len == cap) {
            if (cap >= MAX_INFLATE) break;
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ZSTD_outBuffer ob = {buf + len, cap - len, 0};
        size_t r = ZSTD_decompressStream(ds, &ob, &ib);
        len += ob.pos;
        if (ZSTD_isError(r)) {
            rc = -1;
            break;
        }
        if (r == 0 && ib.pos == ib.size) break;
        if (ob.pos == 0 && len < cap && r != 0) {
            /* no progress with room left: needs more input we don't have */
            if (ib.pos == ib.size) break;
        }
    }
    ZSTD_freeDStream(ds);
    if (rc < 0 && len == 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *olen = len;
    return 0;
}

/* ------------------------------------------------------------------ records ---- */

int records_find_time(const uint8_t *batch, size_t len, int64_t ts, int64_t *offset,
                      int64_t *timestamp)
{
    batch_info bi;
    if (batch_parse(batch, len, &bi) < 0 || bi.total_len < BATCH_HEADER_SIZE ||
        (size_t)bi.total_len > len)
        return -1;
    if (bi.max_timestamp < ts) return 1;
    if (bi.attributes & BATCH_ATTR_LOG_APPEND_TIME) {
        /* every record carries the batch's append time */
        *offset = bi.base_offset;
        *timestamp = bi.max_timestamp;
        return 0;
    }
    const uint8_t *recs = batch + BATCH_HEADER_SIZE;
    size_t rlen = (size_t)bi.total_len - BATCH_HEADER_SIZE;
    uint8_t *plain = NULL;
    size_t plen = 0;
    int rc = 0;
    switch (bi.attributes & BATCH_ATTR_COMPRESSION) {
    case 0: break;
    case 1: rc = un_gzip(recs, rlen, &plain, &plen); break;
    case 2: rc = un_snappy(recs, rlen, &plain, &plen); break;
    case 3: rc = un_lz4(recs, rlen, &plain, &plen); break;
    case 4: rc = un_zstd(recs, rlen, &plain, &plen); break;
    default: rc = -1;
    }
    if (rc < 0) return -2;
    if (plain) {
        recs = plain;
        rlen = plen;
    }
    rbuf r = rbuf_make(recs, rlen);
    int found = 1;
    for (int32_t i = 0; i < bi.records_count && rbuf_left(&r) > 0; i++) {
        int32_t rl = rbuf_varint(&r);
        if (r.err || rl < 0 || (size_t)rl > rbuf_left(&r)) break;
        rbuf rec = rbuf_make(r.p, (size_t)rl);
        rbuf_skip(&r, (size_t)rl);
        rbuf_i8(&rec);
        int64_t tsd = rbuf_varlong(&rec);
        int32_t od = rbuf_varint(&rec);
        if (rec.err) break;
        int64_t rts = bi.base_timestamp + tsd;
        if (rts >= ts) {
            *offset = bi.base_offset + od;
            *timestamp = rts;
            found = 0;
            break;
        }
    }
    free(plain);
    return found;
}

/* ------------------------------------------------------------------ ListOffsets ---- */

/* Lookup by time from batch granularity down to the record. */
static int by_time(bpart *p, int64_t ts, int64_t *off, int64_t *rts)
{
    int64_t bo, bts;
    if (plog_offset_for_time(p->log, ts, &bo, &bts) < 0) return -1;
    *off = bo;
    *rts = bts;
    uint8_t *buf = NULL;
    int32_t len = 0;
    int64_t next;
    if (plog_read_copy(p->log, bo, 1, &buf, &len, &next) == 0 && len > 0) {
        int64_t o, t;
        if (records_find_time(buf, (size_t)len, ts, &o, &t) == 0) {
            *off = o < plog_start_offset(p->log) ? plog_start_offset(p->log) : o;
            *rts = t;
        }
    }
    free(buf);
    return 0;
}

void h_list_offsets(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    int8_t iso = v >= 2 ? (int8_t)k_int(q, ListOffsetsRequest_IsolationLevel) : 0;
    (void)iso; /* LSO == HWM: no transactions */
    int32_t nt = k_count(q, ListOffsetsRequest_Topics);
    if (nt < 0) nt = 0;
    k_set_int(resp, ListOffsetsResponse_ThrottleTimeMs, 0);
    k_new_items(resp, ListOffsetsResponse_Topics, nt);
    for (int32_t i = 0; i < nt; i++) {
        kmsg *tq = k_item(q, ListOffsetsRequest_Topics, i),
             *tr = k_item(resp, ListOffsetsResponse_Topics, i);
        kstr name = k_str(tq, ListOffsetsTopic_Name);
        k_set_kstr(tr, ListOffsetsTopicResponse_Name, name);
        btopic *t = name.len > 0 ? topic_findn(b, (const char *)name.p, (size_t)name.len) : NULL;
        int32_t np = k_count(tq, ListOffsetsTopic_Partitions);
        if (np < 0) np = 0;
        k_new_items(tr, ListOffsetsTopicResponse_Partitions, np);
        for (int32_t j = 0; j < np; j++) {
            kmsg *pq = k_item(tq, ListOffsetsTopic_Partitions, j),
                 *pr = k_item(tr, ListOffsetsTopicResponse_Partitions, j);
            int32_t idx = (int32_t)k_int(pq, ListOffsetsPartition_PartitionIndex);
            int64_t ts = k_int(pq, ListOffsetsPartition_Timestamp);
            k_set_int(pr, ListOffsetsPartitionResponse_PartitionIndex, idx);
            int err = 0;
            int64_t off = -1, rts = -1;
            bpart *p = (t && idx >= 0 && idx < t->nparts) ? t->parts[idx] : NULL;
            if (!p) err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (v >= 4 && k_int(pq, ListOffsetsPartition_CurrentLeaderEpoch) > 0)
                err = KERR_UNKNOWN_LEADER_EPOCH;
            else if (ts == -1) off = part_hwm(p);
            else if (ts == -2) off = plog_start_offset(p->log);
            else if (ts == -3) {
                int64_t bo, bts;
                if (plog_max_timestamp(p->log, &bo, &bts) == 0) {
                    off = bo;
                    rts = bts;
                    int64_t o2, t2;
                    if (by_time(p, bts, &o2, &t2) == 0 && t2 == bts) off = o2;
                }
            } else if (ts >= 0) {
                if (by_time(p, ts, &off, &rts) < 0) off = rts = -1;
            } else {
                err = KERR_INVALID_REQUEST;
            }
            k_set_int(pr, ListOffsetsPartitionResponse_ErrorCode, err);
            k_set_int(pr, ListOffsetsPartitionResponse_Timestamp, err ? -1 : rts);
            k_set_int(pr, ListOffsetsPartitionResponse_Offset, err ? -1 : off);
            k_set_int(pr, ListOffsetsPartitionResponse_LeaderEpoch, err ? -1 : 0);
            if (v == 0) {
                int64_t maxn = k_int(pq, ListOffsetsPartition_MaxNumOffsets);
                bool one = !err && off >= 0 && maxn > 0;
                kval *a =
                    k_set_array(pr, ListOffsetsPartitionResponse_OldStyleOffsets, one ? 1 : 0);
                if (one) a[0].i = off;
            }
        }
    }
    breq_done(r);
}
