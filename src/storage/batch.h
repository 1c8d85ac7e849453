/* batch — the one RecordBatch v2 (magic 2) reader of the tree: header parse and check, CRC,
 * decompression (gzip, snappy raw or xerial-framed, lz4 frame, zstd), a bounds-checked record
 * iterator, full validation of every record of a client batch (produce), and a tailer that
 * reads an internal topic's partition record by record (offsets store, schema registry). No
 * other file knows a byte offset inside a batch; they go through the accessors below.
 *
 *  off size field                  off size field
 *    0   8  baseOffset              27   8  baseTimestamp
 *    8   4  batchLength (total-12)  35   8  maxTimestamp
 *   12   4  partitionLeaderEpoch    43   8  producerId
 *   16   1  magic (= 2)             51   2  producerEpoch
 *   17   4  crc (CRC-32C of 21..end) 53  4  baseSequence
 *   21   2  attributes              57   4  recordsCount
 *   23   4  lastOffsetDelta         61   …  records (maybe compressed)
 *
 * A record (varints are zigzag, kafka-protocol §3.3):
 *   length varint | attributes i8 | timestampDelta varlong | offsetDelta varint |
 *   keyLength varint (-1 = null) | key | valueLength varint (-1 = null) | value |
 *   headerCount varint | { keyLength varint (>= 0) | key | valueLength varint (-1 = null) |
 *   value } * headerCount
 *
 * One rule for damaged input, whatever the codec: a compressed section that is truncated, has
 * trailing bytes, or does not decode is an error (BATCH_ERR_CORRUPT) and yields nothing — never
 * the records decoded so far. One output cap: a section that decompresses to more than the cap
 * the caller passes (at most BATCH_INFLATE_MAX) is BATCH_ERR_TOO_BIG. (Snappy's xerial framing
 * carries no total length, so a cut exactly between two of its blocks decodes as a shorter
 * section; the record iterator's count check catches it.)
 */
#ifndef EDDY_STORAGE_BATCH_H
#define EDDY_STORAGE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BATCH_HEADER_SIZE 61
#define BATCH_LOG_OVERHEAD 12 /* baseOffset + batchLength */
#define BATCH_LENGTH_MIN (BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD)

#define BATCH_ATTR_COMPRESSION 0x07
#define BATCH_ATTR_LOG_APPEND_TIME 0x08
#define BATCH_ATTR_TRANSACTIONAL 0x10
#define BATCH_ATTR_CONTROL 0x20

enum batch_codec {
    BATCH_CODEC_NONE = 0,
    BATCH_CODEC_GZIP = 1,
    BATCH_CODEC_SNAPPY = 2,
    BATCH_CODEC_LZ4 = 3,
    BATCH_CODEC_ZSTD = 4,
};

/* The largest decompressed records section any reader accepts (internal readers use it as
 * their cap; produce passes batch_inflate_cap(max.message.bytes), never more). */
#define BATCH_INFLATE_MAX ((size_t)256 << 20)

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
    BATCH_ERR_CODEC = -5,   /* compression type 5..7 */
    BATCH_ERR_CORRUPT = -6, /* compressed section truncated, trailing bytes or undecodable */
    BATCH_ERR_TOO_BIG = -7, /* decompresses to more than the cap */
    BATCH_ERR_RECORD = -8,  /* a record is malformed (lengths, varints, headers, offsets) */
    BATCH_ERR_COUNT = -9,   /* fewer records than recordsCount, or bytes after the last one */
};

/* A short English description of a batch_err (static string). */
const char *batch_strerror(int err);

/* Reads the header fields (no CRC check). `len` = bytes available (>= 61). */
int batch_parse(const uint8_t *p, size_t len, batch_info *out);
/* Reads baseOffset and the total length (batchLength + 12) from the first 12 bytes, checking
 * the length is at least a header. Returns BATCH_OK or BATCH_ERR_SHORT (then *total_len is 0
 * if the length field is zero — what preallocated space reads as — and -1 otherwise). */
int batch_peek(const uint8_t *p, size_t len, int64_t *base_offset, int32_t *total_len);
/* Full check of exactly one client batch occupying all `len` bytes: size, magic, CRC,
 * lastOffsetDelta + 1 == recordsCount > 0, no control bit, idempotent fields consistent. The
 * records themselves are checked by batch_check_records. */
int batch_validate(const uint8_t *p, size_t len, batch_info *out);
/* True if the stored CRC matches bytes 21..len. */
bool batch_crc_ok(const uint8_t *p, size_t len);
/* Recomputes and stores the CRC (after changing attributes or maxTimestamp). */
void batch_update_crc(uint8_t *p, size_t len);

/* In-place header edits. The first two leave the CRC alone (baseOffset and the leader epoch
 * are outside it); the others recompute it. */
void batch_set_base_offset(uint8_t *p, int64_t base_offset);
void batch_set_leader_epoch(uint8_t *p, int32_t epoch);
/* Marks the batch LogAppendTime with maxTimestamp = ts. */
void batch_set_log_append_time(uint8_t *p, size_t len, int64_t ts);
void batch_set_max_timestamp(uint8_t *p, size_t len, int64_t ts);
/* After a rewrite of the records section: batchLength from len, the given attributes and
 * recordsCount, new CRC. */
void batch_set_records(uint8_t *p, size_t len, int16_t attributes, int32_t count);

/* Decompresses `n` bytes of `codec` into a malloc'ed buffer of at most `cap` bytes (0 bytes is
 * a valid result; *out is then still a valid pointer to free). Returns BATCH_OK or
 * BATCH_ERR_CODEC / _CORRUPT / _TOO_BIG, *out NULL. BATCH_CODEC_NONE copies. */
int batch_decompress(int codec, const uint8_t *in, size_t n, size_t cap, uint8_t **out,
                     size_t *olen);
/* Compresses `n` bytes with `codec` at `level` (the codec's own scale; gzip -1 = zlib's default)
 * into a malloc'ed buffer: gzip (one member), snappy (xerial framing, as Kafka's producers
 * write it), lz4 (frame), zstd (frame). BATCH_CODEC_NONE copies. Returns BATCH_OK or
 * BATCH_ERR_CODEC (unknown codec or the library failed), *out NULL. */
int batch_compress(int codec, int level, const uint8_t *in, size_t n, uint8_t **out, size_t *olen);
/* compression.type on append: a copy of the whole batch `p` (len bytes, already validated) with
 * its records section decompressed (within `cap`) and compressed again with `codec` at `level`;
 * header fields kept, codec bits, batchLength and CRC rewritten. Returns BATCH_OK (and *out,
 * malloc'ed, *olen) or an error of batch_decompress / batch_compress. */
int batch_recompress(const uint8_t *p, size_t len, int codec, int level, size_t cap, uint8_t **out,
                     size_t *olen);
/* The decompression cap for client batches of a topic: 32 x max.message.bytes, at least
 * 8 MiB, at most BATCH_INFLATE_MAX. */
size_t batch_inflate_cap(int64_t max_message_bytes);

/* One record, pointing into the batch (or its decompressed copy held by the iterator). */
typedef struct batch_record {
    int32_t index; /* position in the batch, 0-based */
    int8_t attributes;
    int32_t offset_delta;
    int64_t offset;       /* baseOffset + offsetDelta */
    int64_t timestamp;    /* baseTimestamp + timestampDelta, or maxTimestamp (LogAppendTime) */
    const uint8_t *key;   /* NULL = null key */
    int32_t key_len;      /* -1 = null */
    const uint8_t *value; /* NULL = null value (tombstone) */
    int32_t value_len;    /* -1 = null */
    int32_t header_count;
    const uint8_t *headers; /* the headers as on the wire (after headerCount) */
    size_t headers_len;
    const uint8_t *raw; /* the whole record, length prefix included */
    size_t raw_len;
} batch_record;

/* Walks the records of one batch. init parses the header (the batch must be whole: total_len
 * <= len) and decompresses the records section (cap as for batch_decompress); it does not
 * check the CRC. next returns 1 with a record, 0 after the last (exactly recordsCount records
 * and no byte left), or a negative batch_err; errors are sticky, `index` tells which record and
 * `why` what was wrong. Control batches iterate like any other (the caller checks
 * info.attributes). free releases the decompressed copy. */
typedef struct batch_iter {
    batch_info info;
    const uint8_t *p, *end; /* the records section still to read */
    uint8_t *owned;         /* decompressed records section */
    int32_t index;          /* records returned so far */
    int err;
    const char *why;
} batch_iter;

int batch_iter_init(batch_iter *it, const uint8_t *batch, size_t len, size_t cap);
int batch_iter_next(batch_iter *it, batch_record *rec);
void batch_iter_free(batch_iter *it);

/* Produce-time validation of a batch that passed batch_validate: every record decoded with
 * the iterator's checks, offsetDelta == its index, timestamps without overflow, exactly
 * recordsCount records. Returns BATCH_OK or a batch_err; on error *bad_index is the record's
 * index (-1 when the fault is not one record's: decompression, count) and *why says what.
 * *max_ts receives the largest record timestamp (-1 if none). */
int batch_check_records(const uint8_t *batch, size_t len, size_t cap, int32_t *bad_index,
                        const char **why, int64_t *max_ts);

/* A record header for batch_build (val NULL = null value). */
typedef struct batch_header {
    const void *key;
    size_t key_len;
    const void *val;
    size_t val_len;
} batch_header;

/* One record of a batch the broker writes itself (offsets, group metadata, schemas, HTTP
 * produce). Fields after val_len are optional (zero = none / now). */
typedef struct batch_rec {
    const void *key; /* NULL with key_len 0 = null key */
    size_t key_len;
    const void *val; /* NULL = tombstone */
    size_t val_len;
    const batch_header *headers;
    int nheaders;
    int64_t timestamp; /* 0 = the batch's now_ms */
} batch_rec;

/* Builds an uncompressed RecordBatch v2 of n >= 1 records: baseTimestamp / maxTimestamp the
 * smallest / largest record timestamp, no producer id, baseOffset 0 (the log assigns it), CRC
 * set. Returns malloc'ed bytes; *len = their count. */
uint8_t *batch_build(const batch_rec *rs, int n, int64_t now_ms, size_t *len);

/* Transactions (KIP-98). Sets producerId / producerEpoch / baseSequence and the transactional
 * attribute of a batch built by batch_build (recomputes the CRC). */
void batch_set_producer(uint8_t *p, size_t len, int64_t producer_id, int16_t epoch,
                        int32_t base_sequence, bool transactional);
/* Builds a control batch (attributes control + transactional) holding one end-transaction
 * marker of producer_id/epoch: key {int16 version 0, int16 type (0 abort, 1 commit)}, value
 * {int16 version 0, int32 coordinatorEpoch}. malloc'ed; *len = its size. */
uint8_t *batch_build_control(int64_t producer_id, int16_t epoch, bool commit,
                             int32_t coordinator_epoch, int64_t now_ms, size_t *len);
/* The marker type of a whole control batch: 1 commit, 0 abort, -1 not a (known) marker. */
int batch_control_type(const uint8_t *p, size_t len);

/* ------------------------------------------------------------------ tailer ---- */

struct plog;

/* Called for each record; a non-zero return stops the tail with that value. `bi` is the
 * record's batch header. */
typedef int (*batch_tail_fn)(const batch_info *bi, const batch_record *rec, void *arg);

typedef struct batch_tail_stats {
    int batches;  /* batches read (control batches included) */
    int skipped;  /* batches that did not decode (counted, logged once per call, passed over) */
    int64_t next; /* the offset after the last batch read */
} batch_tail_stats;

/* Reads partition log `l` from offset `from` up to its end offset at the time of the call and
 * calls fn for every record at or after `from` of every data batch (control batches are
 * skipped; compressed batches are decompressed with BATCH_INFLATE_MAX). A batch that does not
 * decode is skipped whole and counted. Returns 0, fn's non-zero value, or a negative errno from
 * the log (st->next then says where it stopped). `what` names the log in messages. */
int batch_tail(struct plog *l, int64_t from, batch_tail_fn fn, void *arg, const char *what,
               batch_tail_stats *st);

/* The same over batches already in memory (whole batches back to back, as plog_read_copy
 * returns them); `from` as above. Returns 0 or fn's non-zero value; st accumulates. */
int batch_tail_buf(const uint8_t *p, size_t len, int64_t from, batch_tail_fn fn, void *arg,
                   batch_tail_stats *st);

/* Called for every end-transaction marker (control batch) at or after `from` by the _ctl
 * variants; bi is the control batch's header. A non-zero return stops the tail. */
typedef int (*batch_control_fn)(const batch_info *bi, bool commit, void *arg);
int batch_tail_buf_ctl(const uint8_t *p, size_t len, int64_t from, batch_tail_fn fn,
                       batch_control_fn ctl, void *arg, batch_tail_stats *st);
int batch_tail_ctl(struct plog *l, int64_t from, batch_tail_fn fn, batch_control_fn ctl, void *arg,
                   const char *what, batch_tail_stats *st);

/* Called for every batch header by batch_scan_headers; the whole batch (bi->total_len bytes)
 * stands at `pos` in `fd`, for a caller that needs more than its header. A non-zero return
 * stops the scan. */
typedef int (*batch_header_fn)(const batch_info *bi, int fd, int64_t pos, void *arg);
/* Reads the batch headers of `l` from offset `from` to its end offset at the time of the call
 * (plog_read_headers: no CRC check, no record read) and calls fn for each, control batches
 * included; stops at the first header that does not parse. Returns the number of headers
 * read. */
int batch_scan_headers(struct plog *l, int64_t from, batch_header_fn fn, void *arg);

#endif
