/* batch — RecordBatch v2 header parsing and validation (layout in batch.h). */
#include "storage/batch.h"

#include "common/buf.h"
#include "common/crc32c.h"

int batch_parse(const uint8_t *p, size_t len, batch_info *b)
{
    if (len < BATCH_HEADER_SIZE) return BATCH_ERR_SHORT;
    b->base_offset = (int64_t)be64(p);
    int32_t blen = (int32_t)be32(p + 8);
    b->leader_epoch = (int32_t)be32(p + 12);
    b->magic = (int8_t)p[16];
    if (b->magic != 2) return BATCH_ERR_MAGIC;
    if (blen < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD || blen > INT32_MAX - BATCH_LOG_OVERHEAD)
        return BATCH_ERR_SHORT;
    b->total_len = blen + BATCH_LOG_OVERHEAD;
    b->crc = be32(p + 17);
    b->attributes = (int16_t)be16(p + 21);
    b->last_offset_delta = (int32_t)be32(p + 23);
    b->base_timestamp = (int64_t)be64(p + 27);
    b->max_timestamp = (int64_t)be64(p + 35);
    b->producer_id = (int64_t)be64(p + 43);
    b->producer_epoch = (int16_t)be16(p + 51);
    b->base_sequence = (int32_t)be32(p + 53);
    b->records_count = (int32_t)be32(p + 57);
    return BATCH_OK;
}

int batch_validate(const uint8_t *p, size_t len, batch_info *b)
{
    int rc = batch_parse(p, len, b);
    if (rc) return rc;
    if ((size_t)b->total_len != len) return BATCH_ERR_SHORT;
    if (crc32c(p + 21, len - 21) != b->crc) return BATCH_ERR_CRC;
    if (b->records_count <= 0 || b->last_offset_delta < 0 ||
        (int64_t)b->last_offset_delta + 1 != b->records_count)
        return BATCH_ERR_INVALID;
    if (b->attributes & BATCH_ATTR_CONTROL) return BATCH_ERR_INVALID;
    if (b->producer_id >= 0 && b->base_sequence < 0) return BATCH_ERR_INVALID;
    return BATCH_OK;
}

void batch_update_crc(uint8_t *p, size_t len)
{
    if (len < BATCH_HEADER_SIZE) return;
    put_be32(p + 17, crc32c(p + 21, len - 21));
}

/* Records (kafka-protocol.md §3.3; varints zigzag): length varint | attributes i8 |
 * timestampDelta varlong | offsetDelta varint | keyLength varint | key | valueLength varint
 * (-1 = null) | value | headerCount varint (0). */
uint8_t *batch_build(const batch_rec *rs, int n, int64_t now_ms, size_t *len)
{
    wbuf w, rec;
    wbuf_init(&w, 0);
    wbuf_init(&rec, 0);
    static const uint8_t hdr[BATCH_HEADER_SIZE];
    wbuf_put(&w, hdr, sizeof hdr);
    for (int i = 0; i < n; i++) {
        wbuf_reset(&rec);
        wbuf_i8(&rec, 0);
        wbuf_varlong(&rec, 0);
        wbuf_varint(&rec, i);
        wbuf_varint(&rec, (int32_t)rs[i].key_len);
        wbuf_put(&rec, rs[i].key, rs[i].key_len);
        if (!rs[i].val) {
            wbuf_varint(&rec, -1);
        } else {
            wbuf_varint(&rec, (int32_t)rs[i].val_len);
            wbuf_put(&rec, rs[i].val, rs[i].val_len);
        }
        wbuf_varint(&rec, 0);
        wbuf_varint(&w, (int32_t)rec.len);
        wbuf_put(&w, rec.data, rec.len);
    }
    wbuf_free(&rec);
    uint8_t *p = w.data;
    size_t sz = w.len;
    put_be64(p + 0, 0);                   /* baseOffset: assigned by the log */
    put_be32(p + 8, (uint32_t)(sz - 12)); /* batchLength */
    put_be32(p + 12, 0);                  /* partitionLeaderEpoch */
    p[16] = 2;                            /* magic */
    put_be16(p + 21, 0);                  /* attributes */
    put_be32(p + 23, (uint32_t)(n - 1));  /* lastOffsetDelta */
    put_be64(p + 27, (uint64_t)now_ms);   /* baseTimestamp */
    put_be64(p + 35, (uint64_t)now_ms);   /* maxTimestamp */
    put_be64(p + 43, (uint64_t)-1);       /* producerId */
    put_be16(p + 51, (uint16_t)-1);       /* producerEpoch */
    put_be32(p + 53, (uint32_t)-1);       /* baseSequence */
    put_be32(p + 57, (uint32_t)n);        /* recordsCount */
    batch_update_crc(p, sz);
    *len = sz;
    return p;
}
