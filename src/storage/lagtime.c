/* lagtime — when was the record at an offset written? For consumer lag in seconds (/metrics):
 * the age of the oldest record a group has not consumed is now − timestamp(committed offset).
 *
 * Batch granularity: the answer is the timestamp of the first record of the batch holding the
 * offset (the create time the producer set), or the batch's append time on a topic with
 * message.timestamp.type=LogAppendTime. Only the 61-byte batch header is read (one pread),
 * so a scrape costs one small read per group and partition, whatever the batch size. */
#include <errno.h>
#include <unistd.h>

#include "storage/batch.h"
#include "storage/plog.h"

int plog_timestamp_at(plog *l, int64_t offset, int64_t *ts)
{
    int64_t start = plog_start_offset(l);
    if (offset < start) offset = start;
    if (offset >= plog_end_offset(l)) return -ERANGE;
    plog_slice s;
    int rc = plog_read(l, offset, 1, &s);
    if (rc < 0) return rc;
    if (s.len <= 0) {
        if (s.fd >= 0) close(s.fd);
        return -ERANGE;
    }
    uint8_t hdr[BATCH_HEADER_SIZE];
    ssize_t n = s.len >= (int32_t)sizeof hdr ? pread(s.fd, hdr, sizeof hdr, s.file_pos) : 0;
    close(s.fd);
    if (n != (ssize_t)sizeof hdr) return -EIO;
    batch_info bi;
    if (batch_parse(hdr, sizeof hdr, &bi) != BATCH_OK) return -EIO;
    *ts = (bi.attributes & BATCH_ATTR_LOG_APPEND_TIME) ? bi.max_timestamp : bi.base_timestamp;
    return 0;
}
