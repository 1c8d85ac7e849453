/* msgset — Kafka's legacy message sets (magic 0 and 1, the formats before 0.11) both ways:
 * Produce v0–v2 requests carry them and are up-converted to one RecordBatch v2 before append;
 * Fetch v0–v3 answers are down-converted from the stored v2 batches. Sits in storage/ beside
 * batch.c (the one v2 reader, whose codecs and record iterator it reuses).
 *
 * A message set is messages back to back, each:
 *
 *  off size field
 *    0   8  offset       (inside a magic 1 wrapper: 0..n-1, relative; the wrapper's own
 *                         offset is the last inner one)
 *    8   4  messageSize  (bytes after this field)
 *   12   4  crc          (CRC-32 IEEE — zlib's, not CRC-32C — of bytes 16..end)
 *   16   1  magic        (0 or 1)
 *   17   1  attributes   (bits 0-2 codec: 1 gzip, 2 snappy, 3 lz4; bit 3 LogAppendTime, magic 1)
 *   18   8  timestamp    (magic 1 only)
 *    …   4  keyLength    (-1 = null), key
 *    …   4  valueLength  (-1 = null), value
 *
 * A compressed message (codec != 0) is a wrapper: its value is the compressed bytes of an inner
 * message set of the same magic whose messages are not compressed themselves. lz4 in a magic 0
 * wrapper has the frame header checksum Kafka 0.8-0.9 computed wrongly (KAFKA-3160); the header
 * checksum of every lz4 frame is recomputed before decoding, so both forms are read.
 */
#ifndef EDDY_STORAGE_MSGSET_H
#define EDDY_STORAGE_MSGSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define MSGSET_LOG_OVERHEAD 12 /* offset + messageSize */
#define MSGSET_V0_OVERHEAD 26  /* log overhead + crc, magic, attributes, two lengths */
#define MSGSET_V1_OVERHEAD 34  /* + timestamp */
#define MSGSET_ATTR_LOG_APPEND_TIME 0x08

enum msgset_err {
    MSGSET_OK = 0,
    MSGSET_ERR_SHORT = -1,   /* a message or the set is cut short */
    MSGSET_ERR_CRC = -2,     /* CRC-32 mismatch */
    MSGSET_ERR_MAGIC = -3,   /* magic > 1, or an inner message of another magic than its wrapper */
    MSGSET_ERR_CODEC = -4,   /* codec 4..7 (zstd has no legacy form) */
    MSGSET_ERR_CORRUPT = -5, /* a wrapper's value does not decompress */
    MSGSET_ERR_NESTED = -6,  /* a compressed message inside a compressed message */
    MSGSET_ERR_TOO_BIG = -7, /* decompresses to more than the cap */
    MSGSET_ERR_EMPTY = -8,   /* no message, or a wrapper with an empty inner set */
    MSGSET_ERR_INVALID = -9, /* bad lengths, bytes after the value, a wrapper with null value */
};

const char *msgset_strerror(int err);

/* Produce v0–v2: decodes the whole message set p[0..len) (every message, inner messages of
 * wrappers in order) and builds one uncompressed RecordBatch v2 of them: keys and values as
 * they are (null kept), timestamps magic 1's own (an inner message of a LogAppendTime wrapper:
 * the wrapper's) and -1 (none) for magic 0, no headers, no producer id, baseOffset 0 (the log
 * assigns it), CRC-32C set. `cap` bounds the decompressed bytes of all wrappers together.
 * Returns MSGSET_OK with *out (malloc'ed, *olen bytes), *codec (the codec of the last wrapper,
 * 0 if none) and *magic (of the last message), or a msgset_err and *out NULL. */
int msgset_to_batch(const uint8_t *p, size_t len, size_t cap, uint8_t **out, size_t *olen,
                    int *codec, int *magic);

/* Fetch v0–v3: appends to w the records of the whole v2 batches p[0..len) (back to back, as
 * plog_read returns them) whose offsets are in [from, upto), as messages of `magic` (0: no
 * timestamp; 1: the record's timestamp, attribute bit 3 when its batch is LogAppendTime) with
 * their absolute offsets. A gzip, snappy or lz4 batch becomes one wrapper message of that codec
 * (as Kafka down-converts; magic 0 lz4 with the old header checksum, KAFKA-3160) when it fits,
 * else its records go uncompressed; zstd (no legacy form) goes uncompressed. Control batches
 * are skipped; headers are dropped (no legacy form). Stops before a message that would take
 * the set (bytes from `start` in w) past `limit` — except the first one when min_one — and sets
 * *full. *next = the offset after the last record converted or skipped. Returns the number of
 * records converted or a negative batch_err (batch.h) when a batch does not decode. */
int msgset_from_batches(wbuf *w, size_t start, const uint8_t *p, size_t len, int64_t from,
                        int64_t upto, int magic, size_t limit, bool min_one, int64_t *next,
                        bool *full);

#endif
