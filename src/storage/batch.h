/* batch — RecordBatch v2 (magic 2) header: parse and validate without touching the records.
 *
 *  off size field                  off size field
 *    0   8  baseOffset              27   8  baseTimestamp
 *    8   4  batchLength (total-12)  35   8  maxTimestamp
 *   12   4  partitionLeaderEpoch    43   8  producerId
 *   16   1  magic (= 2)             51   2  producerEpoch
 *   17   4  crc (CRC-32C of 21..end) 53  4  baseSequence
 *   21   2  attributes              57   4  recordsCount
 *   23   4  lastOffsetDelta         61   …  records (maybe compressed)
 */
#ifndef EDDY_STORAGE_BATCH_H
#define EDDY_STORAGE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#define BATCH_HEADER_SIZE 61
#define BATCH_LOG_OVERHEAD 12 /* baseOffset + batchLength */

#define BATCH_ATTR_COMPRESSION 0x07
#define BATCH_ATTR_LOG_APPEND_TIME 0x08
#define BATCH_ATTR_TRANSACTIONAL 0x10
#define BATCH_ATTR_CONTROL 0x20

typedef struct batch_info {
    int64_t base_offset;
    int32_t total_len; /* batchLength + 12 */
    int32_t leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t records_count;
} batch_info;

enum batch_err {
    BATCH_OK = 0,
    BATCH_ERR_SHORT = -1,   /* fewer bytes than the header or batchLength says */
    BATCH_ERR_MAGIC = -2,   /* magic != 2 */
    BATCH_ERR_CRC = -3,     /* CRC-32C mismatch */
    BATCH_ERR_INVALID = -4, /* inconsistent header (counts, sequences, control batch) */
};

/* Reads the header fields (no CRC check). `len` = bytes available. */
int batch_parse(const uint8_t *p, size_t len, batch_info *out);
/* Full check of exactly one client batch occupying all `len` bytes: size, magic, CRC,
 * lastOffsetDelta + 1 == recordsCount > 0, no control bit, idempotent fields consistent. */
int batch_validate(const uint8_t *p, size_t len, batch_info *out);
/* Recomputes and stores the CRC (after changing attributes or maxTimestamp). */
void batch_update_crc(uint8_t *p, size_t len);

/* One record of a batch the broker writes itself (offsets, group metadata, schemas). */
typedef struct batch_rec {
    const void *key;
    size_t key_len;
    const void *val; /* NULL = tombstone */
    size_t val_len;
} batch_rec;

/* Builds an uncompressed RecordBatch v2 of n >= 1 records without headers: every timestamp
 * now_ms, no producer id, baseOffset 0 (the log assigns it), CRC set. Returns malloc'ed
 * bytes; *len = their count. */
uint8_t *batch_build(const batch_rec *rs, int n, int64_t now_ms, size_t *len);

#endif
