/* scan — the batch-header scan of a partition log (batch_scan_headers in batch.h): the broker's
 * start-up rebuilds of producer state and transactions read only batch headers, with
 * plog_read_headers. Beside tail.c, above plog.c and batch.c; a file of its own so that
 * programs that stub the log's readers link only what they call.
 */
#include <stdint.h>
#include <unistd.h>

#include "storage/batch.h"
#include "storage/plog.h"

int batch_scan_headers(struct plog *l, int64_t from, batch_header_fn fn, void *arg)
{
    int64_t off = from > plog_start_offset(l) ? from : plog_start_offset(l);
    int64_t end = plog_end_offset(l);
    int nb = 0, stop = 0;
    while (off < end && !stop) {
        plog_slice s;
        if (plog_read_headers(l, off, 64 << 20, &s) < 0) break;
        if (s.len <= 0) {
            if (s.fd >= 0) close(s.fd);
            break;
        }
        int64_t pos = s.file_pos, last = s.file_pos + s.len;
        while (!stop && pos + BATCH_HEADER_SIZE <= last) {
            uint8_t h[BATCH_HEADER_SIZE];
            if (pread(s.fd, h, sizeof h, pos) != (ssize_t)sizeof h) break;
            batch_info bi;
            if (batch_parse(h, sizeof h, &bi) < 0 || bi.total_len < BATCH_HEADER_SIZE) break;
            nb++;
            stop = fn(&bi, s.fd, pos, arg);
            pos += bi.total_len;
        }
        close(s.fd);
        if (s.next_offset <= off) break;
        off = s.next_offset;
    }
    return nb;
}
