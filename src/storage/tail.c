/* tail — the internal-topic tailer over a partition log (batch_tail in batch.h): reads the log
 * with plog_read_copy and hands every record to batch_tail_buf. Apart from batch.c because it
 * reads a log: batch.c sits below plog.c (which uses it), this file above both.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "storage/batch.h"
#include "storage/plog.h"

int batch_tail(struct plog *l, int64_t from, batch_tail_fn fn, void *arg, const char *what,
               batch_tail_stats *st)
{
    return batch_tail_ctl(l, from, fn, NULL, arg, what, st);
}

int batch_tail_ctl(struct plog *l, int64_t from, batch_tail_fn fn, batch_control_fn ctl, void *arg,
                   const char *what, batch_tail_stats *st)
{
    memset(st, 0, sizeof *st);
    int64_t off = from > plog_start_offset(l) ? from : plog_start_offset(l);
    int64_t end = plog_end_offset(l);
    st->next = off;
    int rc = 0;
    while (off < end) {
        uint8_t *buf = NULL;
        int32_t len = 0;
        int64_t next = off;
        rc = plog_read_copy(l, off, 1 << 20, &buf, &len, &next);
        if (rc < 0) {
            free(buf);
            LOGW("storage", "reading %s stopped at offset %" PRId64 ": error %d", what, off, rc);
            st->next = off;
            break;
        }
        if (len <= 0 || next <= off) {
            free(buf);
            break;
        }
        rc = batch_tail_buf_ctl(buf, (size_t)len, from, fn, ctl, arg, st);
        free(buf);
        if (st->next < next) st->next = next;
        if (rc) break;
        off = next;
    }
    if (st->skipped)
        LOGW("storage", "%s: %d batch(es) that do not decode skipped", what, st->skipped);
    return rc;
}
