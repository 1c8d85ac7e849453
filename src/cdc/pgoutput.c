/* pgoutput.c — bounds-checked decoder of replication CopyData frames and pgoutput messages
 * (byte tables in pgoutput.h). Part of eddy-cdc (src/cdc); no I/O here. */
#include "cdc/pgoutput.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"

__attribute__((format(printf, 3, 4))) static void seterr(char *err, size_t errlen, const char *fmt,
                                                         ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* A NUL-terminated string inside the buffer; NULL (and r->err) when none. */
static const char *rstr(rbuf *r)
{
    if (r->err) return NULL;
    const uint8_t *nul = memchr(r->p, 0, (size_t)(r->end - r->p));
    if (!nul) {
        rbuf_fail(r, RBUF_TRUNCATED);
        return NULL;
    }
    const char *s = (const char *)r->p;
    r->p = nul + 1;
    return s;
}

static uint8_t ru8(rbuf *r)
{
    return (uint8_t)rbuf_i8(r);
}

int pgo_frame_decode(const uint8_t *p, size_t n, pgo_frame *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof(*f));
    rbuf r = rbuf_make(p, n);
    f->kind = (char)ru8(&r);
    if (f->kind == 'w') {
        f->wal_start = (uint64_t)rbuf_i64(&r);
        f->wal_end = (uint64_t)rbuf_i64(&r);
        f->send_time = rbuf_i64(&r);
        if (r.err) goto trunc;
        f->data = r.p;
        f->len = (size_t)(r.end - r.p);
        return 0;
    }
    if (f->kind == 'k') {
        f->wal_end = (uint64_t)rbuf_i64(&r);
        f->send_time = rbuf_i64(&r);
        f->reply = ru8(&r) != 0;
        if (r.err) goto trunc;
        return 0;
    }
    if (r.err) goto trunc;
    if (err && errlen)
        snprintf(err, errlen, "unexpected CopyData frame kind 0x%02x", (uint8_t)f->kind);
    return -1;
trunc:
    seterr(err, errlen, "truncated '%s' frame", f->kind == 'w' ? "w" : "k");
    return -1;
}

static int tuple_decode(rbuf *r, pgo_tuple *t)
{
    int16_t n = rbuf_i16(r);
    if (r->err) return -1;
    if (n < 0 || (size_t)n > rbuf_left(r)) { /* each column takes at least one byte */
        rbuf_fail(r, RBUF_BADVALUE);
        return -1;
    }
    t->ncols = n;
    t->cols = n ? xcalloc((size_t)n, sizeof(*t->cols)) : NULL;
    for (int i = 0; i < n; i++) {
        pgo_value *v = &t->cols[i];
        v->kind = (char)ru8(r);
        switch (v->kind) {
        case 'n':
        case 'u': break;
        case 't':
        case 'b': {
            int32_t len = rbuf_i32(r);
            if (len < 0) {
                rbuf_fail(r, RBUF_BADVALUE);
                return -1;
            }
            v->data = (const char *)rbuf_take(r, (size_t)len);
            v->len = (uint32_t)len;
            break;
        }
        default: rbuf_fail(r, RBUF_BADVALUE); return -1;
        }
        if (r->err) return -1;
    }
    return 0;
}

int pgo_msg_decode(const uint8_t *p, size_t n, pgo_msg *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    rbuf r = rbuf_make(p, n);
    m->type = (char)ru8(&r);
    switch (m->type) {
    case 'B':
        m->lsn = (uint64_t)rbuf_i64(&r);
        m->commit_ts = rbuf_i64(&r);
        m->xid = rbuf_u32(&r);
        break;
    case 'C':
        m->flags = ru8(&r);
        m->lsn = (uint64_t)rbuf_i64(&r);
        m->end_lsn = (uint64_t)rbuf_i64(&r);
        m->commit_ts = rbuf_i64(&r);
        break;
    case 'O':
        m->lsn = (uint64_t)rbuf_i64(&r);
        m->relname = rstr(&r);
        break;
    case 'Y':
        m->relid = rbuf_u32(&r);
        m->nspname = rstr(&r);
        m->relname = rstr(&r);
        break;
    case 'R': {
        m->relid = rbuf_u32(&r);
        m->nspname = rstr(&r);
        m->relname = rstr(&r);
        m->replident = (char)ru8(&r);
        int16_t nc = rbuf_i16(&r);
        if (r.err) break;
        /* each column: flags, at least a NUL, typoid, typmod = 10 bytes */
        if (nc < 0 || (size_t)nc * 10 > rbuf_left(&r)) {
            rbuf_fail(&r, RBUF_BADVALUE);
            break;
        }
        m->ncols = nc;
        m->cols = nc ? xcalloc((size_t)nc, sizeof(*m->cols)) : NULL;
        for (int i = 0; i < nc && !r.err; i++) {
            m->cols[i].flags = ru8(&r);
            m->cols[i].name = rstr(&r);
            m->cols[i].typoid = rbuf_u32(&r);
            m->cols[i].typmod = rbuf_i32(&r);
        }
        break;
    }
    case 'I':
        m->relid = rbuf_u32(&r);
        if (ru8(&r) != 'N') rbuf_fail(&r, RBUF_BADVALUE);
        tuple_decode(&r, &m->new_tuple);
        break;
    case 'U': {
        m->relid = rbuf_u32(&r);
        uint8_t k = ru8(&r);
        if (k == 'K' || k == 'O') {
            m->old_kind = (char)k;
            tuple_decode(&r, &m->old_tuple);
            k = ru8(&r);
        }
        if (k != 'N') rbuf_fail(&r, RBUF_BADVALUE);
        tuple_decode(&r, &m->new_tuple);
        break;
    }
    case 'D': {
        m->relid = rbuf_u32(&r);
        uint8_t k = ru8(&r);
        if (k != 'K' && k != 'O') rbuf_fail(&r, RBUF_BADVALUE);
        m->old_kind = (char)k;
        tuple_decode(&r, &m->old_tuple);
        break;
    }
    case 'T': {
        int32_t nr = rbuf_i32(&r);
        m->trunc_options = ru8(&r);
        if (r.err) break;
        if (nr < 0 || (size_t)nr * 4 > rbuf_left(&r)) {
            rbuf_fail(&r, RBUF_BADVALUE);
            break;
        }
        m->nrels = nr;
        m->relids = nr ? xcalloc((size_t)nr, sizeof(*m->relids)) : NULL;
        for (int i = 0; i < nr; i++) m->relids[i] = rbuf_u32(&r);
        break;
    }
    case 'M': {
        m->flags = ru8(&r);
        m->lsn = (uint64_t)rbuf_i64(&r);
        m->relname = rstr(&r);
        int32_t len = rbuf_i32(&r);
        if (len < 0) rbuf_fail(&r, RBUF_BADVALUE);
        m->content = rbuf_take(&r, (size_t)(len < 0 ? 0 : len));
        m->content_len = (uint32_t)(len < 0 ? 0 : len);
        break;
    }
    default:
        if (err && errlen)
            snprintf(err, errlen, "unknown pgoutput message type 0x%02x", (uint8_t)m->type);
        return -1;
    }
    if (r.err) {
        char t[2] = {m->type, 0};
        seterr(err, errlen,
               r.err == RBUF_TRUNCATED ? "truncated pgoutput '%s' message"
                                       : "malformed pgoutput '%s' message",
               t);
        return -1;
    }
    return 0;
}

void pgo_msg_free(pgo_msg *m)
{
    free(m->cols);
    free(m->old_tuple.cols);
    free(m->new_tuple.cols);
    free(m->relids);
    memset(m, 0, sizeof(*m));
}

void pgo_status_encode(uint8_t out[34], uint64_t written, uint64_t flushed, uint64_t applied,
                       int64_t send_time, bool reply)
{
    out[0] = 'r';
    put_be64(out + 1, written);
    put_be64(out + 9, flushed);
    put_be64(out + 17, applied);
    put_be64(out + 25, (uint64_t)send_time);
    out[33] = reply ? 1 : 0;
}

int pgo_lsn_parse(const char *s, uint64_t *lsn)
{
    unsigned hi, lo;
    int used = 0;
    if (!s || sscanf(s, "%X/%X%n", &hi, &lo, &used) != 2 || s[used] != 0) return -1;
    *lsn = ((uint64_t)hi << 32) | lo;
    return 0;
}

void pgo_lsn_format(uint64_t lsn, char out[32])
{
    snprintf(out, 32, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
}
