/* fuzz_batch — the RecordBatch reader (src/storage/batch.c): header parse and checks, the
 * record iterator, produce-time record validation and the tailer's batch walk.
 *
 * Input: one or more RecordBatch v2 byte strings back to back (the CRC is not required to
 * match: the iterator does not check it, so mutations reach the records).
 * Oracle: no crash, no out-of-bounds read, no leak (ASan/UBSan); a batch that
 * batch_check_records accepts iterates to exactly recordsCount records, every record lying
 * inside the bytes it came from, with offsets base + index; an error is sticky. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/batch.h"

#define CAP ((size_t)1 << 20)

static int on_rec(const batch_info *bi, const batch_record *r, void *arg)
{
    (void)bi;
    (*(int *)arg)++;
    if (r->key_len < -1 || r->value_len < -1 || r->header_count < 0) abort();
    return 0;
}

static void one(const uint8_t *p, size_t n)
{
    batch_info bi;
    (void)batch_validate(p, n, &bi);
    int32_t bad;
    const char *why;
    int64_t mts;
    int rc = batch_check_records(p, n, CAP, &bad, &why, &mts);
    batch_iter it;
    batch_record r;
    int irc = batch_iter_init(&it, p, n, CAP);
    int32_t count = 0;
    int nx = 0;
    if (irc == BATCH_OK) {
        const uint8_t *lo = it.p, *hi = it.end;
        while ((nx = batch_iter_next(&it, &r)) > 0) {
            if (r.raw < lo || r.raw + r.raw_len > hi) abort();
            if (r.key && (r.key < r.raw || r.key + r.key_len > r.raw + r.raw_len)) abort();
            if (r.index != count) abort();
            count++;
        }
        if (nx < 0 && batch_iter_next(&it, &r) != nx) abort(); /* sticky */
    }
    if (rc == BATCH_OK) {
        if (irc != BATCH_OK || nx != 0 || count != it.info.records_count) abort();
        if (bad != -1 || why) abort();
    } else if (rc == BATCH_ERR_RECORD && (bad < 0 || !why)) {
        abort();
    }
    batch_iter_free(&it);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* libFuzzer's entry point */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size);
    int n = 0;
    batch_tail_stats st = {0};
    batch_tail_buf(data, size, 0, on_rec, &n, &st);
    return 0;
}
