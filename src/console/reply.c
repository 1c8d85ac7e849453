/* reply — what the console's API files share (console_int.h): JSON answers and errors, query
 * parameters, and the offset of a time in a partition (for the message browser and resets).
 * Below api.c and browse.c, so neither calls the other's helpers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "console_int.h"
#include "storage/batch.h"
#include "storage/plog.h"

void con_json(http_response *resp, int status, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!s) s = xstrdup("{}");
    free(resp->body);
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = s;
    resp->body_len = strlen(s);
}

void con_error(http_response *resp, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    con_json(resp, code / 100, json_pack("{s:i,s:s}", "error_code", code, "message", msg));
}

int con_query_i64(const http_request *req, const char *name, int64_t *out)
{
    const char *v = http_query(req, name);
    if (!v) return 0;
    if (!*v) return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end) return -1;
    *out = x;
    return 1;
}

/* First offset whose record timestamp is >= ts (the batch the time index finds, refined to the
 * record), or the high watermark. */
static int ts_find(const batch_info *bi, const batch_record *rec, void *arg)
{
    (void)bi;
    int64_t *x = arg; /* x[0] = ts in, x[1] = offset out */
    if (rec->timestamp >= x[0]) {
        x[1] = rec->offset;
        return 1;
    }
    return 0;
}

int64_t con_offset_for_time(bpart *p, int64_t ts)
{
    int64_t off, bts, end = part_hwm(p);
    if (!p->log || plog_offset_for_time(p->log, ts, &off, &bts) < 0 || off < 0) return end;
    int64_t x[2] = {ts, end};
    uint8_t *buf = NULL;
    int32_t len = 0;
    int64_t next;
    /* the batch found and the next few: a batch's max timestamp >= ts, some record in it is */
    if (plog_read_copy(p->log, off, 1 << 20, &buf, &len, &next) == 0 && len > 0) {
        batch_tail_stats st = {0};
        if (batch_tail_buf(buf, (size_t)len, off, ts_find, x, &st) == 0) x[1] = MIN(next, end);
    }
    free(buf);
    return x[1];
}
