/* kmsg — the table-driven Kafka codec engine (see kmsg.h for the model).
 *
 * One recursive decoder and one recursive encoder walk a kschema for a given version:
 *  - classic versions: int16-length strings, int32-length bytes/arrays (-1 = null);
 *  - flexible versions (KIP-482): uvarint(N+1) lengths (0 = null) and, after every struct, a
 *    tagged-field buffer {uvarint count, {uvarint tag, uvarint size, bytes}*}.
 * Defaults: integer fields read as `dflt` when absent; strings, bytes and arrays read as null
 * when `dflt == 1`, else empty.
 * Safety: every length is checked against the bytes left before use; array counts are bounded
 * by the bytes left (each element takes at least one byte); nesting depth is capped; the tree a
 * decode builds is capped at DECODE_AMPLIFICATION times the input (hostile frames full of empty
 * structs cannot exhaust memory).
 */
#include "proto/kmsg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define MAX_DEPTH 16
/* Decoded trees may take at most this many times the input (plus a constant) in the arena:
 * bounds the memory a hostile frame can make us allocate (real messages stay far below,
 * their trees stay under ~20 times the input). */
#define DECODE_AMPLIFICATION 64
#define DECODE_SLACK (1u << 20)

/* ------------------------------------------------------------------ arena ---- */

typedef struct chunk {
    struct chunk *next;
    size_t used, size;
    _Alignas(16) uint8_t data[];
} chunk;

struct karena {
    chunk *head;
    size_t total; /* bytes handed out */
    size_t limit; /* during kmsg_decode: fail the decode past this total (0 = none) */
};

karena *karena_new(void)
{
    return xcalloc(1, sizeof(karena));
}

void karena_free(karena *a)
{
    if (!a) return;
    chunk *c = a->head;
    while (c) {
        chunk *n = c->next;
        free(c);
        c = n;
    }
    free(a);
}

void *karena_alloc(karena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t sz = n > 8192 ? n : 8192;
        if (c && c->size * 2 > sz && c->size < (1u << 20)) sz = c->size * 2 > n ? c->size * 2 : n;
        chunk *nc = xmalloc(sizeof(chunk) + sz);
        nc->used = 0;
        nc->size = sz;
        nc->next = a->head;
        a->head = nc;
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->total += n;
    memset(p, 0, n);
    return p;
}

char *karena_strdup(karena *a, const char *s)
{
    size_t n = strlen(s);
    char *p = karena_alloc(a, n + 1);
    memcpy(p, s, n);
    return p;
}

/* ------------------------------------------------------------------ helpers ---- */

static inline bool in_range(int16_t v, int16_t lo, int16_t hi)
{
    return lo != KV_NONE && v >= lo && v <= hi;
}

static inline bool field_present(const kfield *f, int16_t v)
{
    return in_range(v, f->vmin, f->vmax);
}

/* Tagged at this version (from tag_min on). Like Kafka's generator, a field present before its
 * tagged versions is a regular field there. */
static inline bool tagged_at(const kfield *f, int16_t v)
{
    return f->tag >= 0 && v >= f->tag_min;
}

/* Carried in the struct's tagged-field buffer at this version. A field tagged at a version that
 * is not flexible (an inconsistent table) has nowhere to go: it is absent. */
static inline bool field_tagged(const kfield *f, int16_t v, bool flex)
{
    return flex && field_present(f, v) && tagged_at(f, v);
}

/* Inline (regular) field at this version. */
static inline bool field_inline(const kfield *f, int16_t v, bool flex)
{
    (void)flex;
    return field_present(f, v) && !tagged_at(f, v);
}

/* On the wire at all at this version (inline or tagged). */
static inline bool field_on_wire(const kfield *f, int16_t v, bool flex)
{
    return field_inline(f, v, flex) || field_tagged(f, v, flex);
}

static inline bool field_nullable(const kfield *f, int16_t v)
{
    if (f->type == KT_RECORDS) return true;
    return in_range(v, f->null_min, f->null_max);
}

static void set_default(kmsg *m, const kfield *f, kval *val)
{
    memset(val, 0, sizeof *val);
    switch (f->type) {
    case KT_STRING:
    case KT_BYTES:
    case KT_RECORDS:
        val->s.p = NULL;
        val->s.len = f->dflt == 1 ? -1 : 0;
        break;
    case KT_ARRAY:
        val->a.v = NULL;
        val->a.n = f->dflt == 1 ? -1 : 0;
        break;
    case KT_STRUCT: val->m = f->sub ? kmsg_new(m->arena, f->sub) : NULL; break;
    case KT_FLOAT64: val->f = (double)f->dflt; break;
    case KT_UUID: break;
    default: val->i = f->dflt; break;
    }
}

kmsg *kmsg_new(karena *a, const kschema *s)
{
    kmsg *m = karena_alloc(a, sizeof(kmsg) + (size_t)s->nfields * sizeof(kval));
    m->schema = s;
    m->arena = a;
    for (int i = 0; i < s->nfields; i++) set_default(m, &s->fields[i], &m->v[i]);
    return m;
}

/* ------------------------------------------------------------------ decode ---- */

static kmsg *decode_struct(karena *a, const kschema *s, int16_t v, bool flex, rbuf *r, int depth);

static int32_t read_len(rbuf *r, bool flex, bool wide)
{
    if (flex) {
        uint32_t n = rbuf_uvarint(r);
        if (r->err) return 0;
        if (n > (uint32_t)INT32_MAX) {
            rbuf_fail(r, RBUF_BADVALUE);
            return 0;
        }
        return (int32_t)n - 1; /* -1 = null */
    }
    return wide ? rbuf_i32(r) : rbuf_i16(r);
}

/* `f` is the field for a top-level value, NULL for an array element (never nullable). */
static void decode_scalar(karena *a, uint8_t type, const kfield *f, int16_t v, bool flex, rbuf *r,
                          kval *out, int depth)
{
    switch (type) {
    case KT_BOOL: out->i = rbuf_i8(r) != 0; break;
    case KT_INT8: out->i = rbuf_i8(r); break;
    case KT_INT16: out->i = rbuf_i16(r); break;
    case KT_UINT16: out->i = (uint16_t)rbuf_i16(r); break;
    case KT_INT32: out->i = rbuf_i32(r); break;
    case KT_UINT32: out->i = rbuf_u32(r); break;
    case KT_INT64: out->i = rbuf_i64(r); break;
    case KT_FLOAT64: out->f = rbuf_f64(r); break;
    case KT_UUID: {
        const uint8_t *p = rbuf_take(r, 16);
        if (p) memcpy(out->uuid, p, 16);
        break;
    }
    case KT_STRING:
    case KT_BYTES:
    case KT_RECORDS: {
        int32_t n = read_len(r, flex, type != KT_STRING);
        if (r->err) return;
        if (n < -1) {
            rbuf_fail(r, RBUF_BADVALUE);
            return;
        }
        if (n == -1) {
            if (!f || !field_nullable(f, v)) {
                rbuf_fail(r, RBUF_BADVALUE);
                return;
            }
            out->s.p = NULL;
            out->s.len = -1;
            return;
        }
        const uint8_t *p = rbuf_take(r, (size_t)n);
        out->s.p = p ? p : (const uint8_t *)"";
        out->s.len = p ? n : 0;
        break;
    }
    case KT_STRUCT:
        if (!f || !f->sub) {
            rbuf_fail(r, RBUF_BADVALUE);
            return;
        }
        out->m = decode_struct(a, f->sub, v, flex, r, depth + 1);
        break;
    default: rbuf_fail(r, RBUF_BADVALUE); break;
    }
}

static void decode_field(karena *a, const kfield *f, int16_t v, bool flex, rbuf *r, kval *out,
                         int depth)
{
    if (f->type != KT_ARRAY) {
        decode_scalar(a, f->type, f, v, flex, r, out, depth);
        return;
    }
    int32_t n = read_len(r, flex, true);
    if (r->err) return;
    if (n < -1) {
        rbuf_fail(r, RBUF_BADVALUE);
        return;
    }
    if (n == -1) {
        if (!field_nullable(f, v)) {
            rbuf_fail(r, RBUF_BADVALUE);
            return;
        }
        out->a.v = NULL;
        out->a.n = -1;
        return;
    }
    /* every element takes at least one byte on the wire */
    if ((size_t)n > rbuf_left(r)) {
        rbuf_fail(r, RBUF_TRUNCATED);
        return;
    }
    if (a->limit && a->total + (size_t)n * sizeof(kval) > a->limit) {
        rbuf_fail(r, RBUF_BADVALUE);
        return;
    }
    out->a.n = n;
    out->a.v = n ? karena_alloc(a, (size_t)n * sizeof(kval)) : NULL;
    for (int32_t i = 0; i < n && !r->err; i++) {
        if (f->elem == KT_STRUCT) {
            if (!f->sub) {
                rbuf_fail(r, RBUF_BADVALUE);
                return;
            }
            out->a.v[i].m = decode_struct(a, f->sub, v, flex, r, depth + 1);
        } else {
            decode_scalar(a, f->elem, NULL, v, flex, r, &out->a.v[i], depth);
        }
    }
}

static void decode_tags(karena *a, kmsg *m, int16_t v, rbuf *r, int depth)
{
    uint32_t count = rbuf_uvarint(r);
    if (r->err) return;
    if (count > rbuf_left(r)) {
        rbuf_fail(r, RBUF_TRUNCATED);
        return;
    }
    /* Writers emit tags in ascending order; like Kafka's own reader we do not insist on it
     * (a repeated tag simply overwrites). */
    for (uint32_t i = 0; i < count && !r->err; i++) {
        uint32_t tag = rbuf_uvarint(r);
        uint32_t size = rbuf_uvarint(r);
        if (r->err) return;
        const uint8_t *p = rbuf_take(r, size);
        if (!p) return;
        const kschema *s = m->schema;
        for (int k = 0; k < s->nfields; k++) {
            const kfield *f = &s->fields[k];
            if (f->tag >= 0 && (uint32_t)f->tag == tag && field_tagged(f, v, true)) {
                rbuf sub = rbuf_make(p, size);
                decode_field(a, f, v, true, &sub, &m->v[k], depth);
                if (sub.err) rbuf_fail(r, sub.err);
                break;
            }
        }
        /* unknown tags are skipped */
    }
}

static kmsg *decode_struct(karena *a, const kschema *s, int16_t v, bool flex, rbuf *r, int depth)
{
    kmsg *m = kmsg_new(a, s);
    if (depth > MAX_DEPTH || (a->limit && a->total > a->limit)) {
        rbuf_fail(r, RBUF_BADVALUE);
        return m;
    }
    for (int i = 0; i < s->nfields && !r->err; i++) {
        const kfield *f = &s->fields[i];
        if (!field_inline(f, v, flex)) continue;
        decode_field(a, f, v, flex, r, &m->v[i], depth);
    }
    if (flex && !r->err) decode_tags(a, m, v, r, depth);
    return m;
}

int kmsg_decode(karena *a, const kschema *s, int16_t version, bool flexible, rbuf *r, kmsg **out)
{
    size_t saved = a->limit, in = (size_t)(r->end - r->p);
    size_t lim = a->total + DECODE_SLACK + in * DECODE_AMPLIFICATION;
    if (!saved || lim < saved) a->limit = lim;
    *out = decode_struct(a, s, version, flexible, r, 0);
    a->limit = saved;
    return r->err ? r->err : 0;
}

/* ------------------------------------------------------------------ output ---- */

void kout_init(kout *o, size_t cap)
{
    memset(o, 0, sizeof *o);
    wbuf_init(&o->mem, cap);
}

void kout_free(kout *o)
{
    wbuf_free(&o->mem);
    free(o->segs);
    memset(o, 0, sizeof *o);
}

static void add_seg(kout *o, int fd, int64_t off, int64_t len)
{
    if (len <= 0) return;
    if (o->nsegs == o->asegs) {
        o->asegs = o->asegs ? o->asegs * 2 : 8;
        o->segs = xrealloc(o->segs, (size_t)o->asegs * sizeof *o->segs);
    }
    o->segs[o->nsegs++] = (kout_seg){fd, off, len};
}

static void close_mem_run(kout *o)
{
    if (o->mem.len > o->mem_start)
        add_seg(o, -1, (int64_t)o->mem_start, (int64_t)(o->mem.len - o->mem_start));
    o->mem_start = o->mem.len;
}

void kout_add_file(kout *o, int fd, int64_t off, int32_t len)
{
    close_mem_run(o);
    add_seg(o, fd, off, len);
}

void kout_finish(kout *o)
{
    close_mem_run(o);
}

int64_t kout_size(const kout *o)
{
    int64_t n = (int64_t)(o->mem.len - o->mem_start);
    for (int i = 0; i < o->nsegs; i++) n += o->segs[i].len;
    return n;
}

/* ------------------------------------------------------------------ encode ---- */

static void encode_struct(const kmsg *m, int16_t v, bool flex, kout *o);

static void write_len(wbuf *w, bool flex, bool wide, int32_t n)
{
    if (flex)
        wbuf_uvarint(w, (uint32_t)(n + 1));
    else if (wide)
        wbuf_i32(w, n);
    else
        wbuf_i16(w, (int16_t)n);
}

static void encode_scalar(uint8_t type, const kfield *f, const kval *val, int16_t v, bool flex,
                          kout *o)
{
    wbuf *w = &o->mem;
    switch (type) {
    case KT_BOOL: wbuf_i8(w, val->i ? 1 : 0); break;
    case KT_INT8: wbuf_i8(w, (int8_t)val->i); break;
    case KT_INT16:
    case KT_UINT16: wbuf_i16(w, (int16_t)val->i); break;
    case KT_INT32: wbuf_i32(w, (int32_t)val->i); break;
    case KT_UINT32: wbuf_u32(w, (uint32_t)val->i); break;
    case KT_INT64: wbuf_i64(w, val->i); break;
    case KT_FLOAT64: wbuf_f64(w, val->f); break;
    case KT_UUID: wbuf_put(w, val->uuid, 16); break;
    case KT_STRING:
    case KT_BYTES:
    case KT_RECORDS: {
        bool wide = type != KT_STRING;
        int32_t n = val->s.len;
        if (n < 0 && !(f && field_nullable(f, v))) n = 0; /* null where not allowed: empty */
        if (n < 0) {
            write_len(w, flex, wide, -1);
            break;
        }
        /* a classic STRING cannot say more than INT16_MAX bytes: keep the frame well formed */
        if (!wide && !flex && n > INT16_MAX) n = INT16_MAX;
        write_len(w, flex, wide, n);
        if (type == KT_RECORDS && val->frags) {
            for (const kfile_frag *fr = val->frags; fr; fr = fr->next)
                kout_add_file(o, fr->fd, fr->off, fr->len);
        } else if (n > 0) {
            wbuf_put(w, val->s.p, (size_t)n);
        }
        break;
    }
    case KT_STRUCT:
        if (val->m)
            encode_struct(val->m, v, flex, o);
        else if (f && f->sub) {
            karena *a = karena_new();
            encode_struct(kmsg_new(a, f->sub), v, flex, o);
            karena_free(a);
        }
        break;
    default: break;
    }
}

static void encode_field(const kfield *f, const kval *val, int16_t v, bool flex, kout *o)
{
    if (f->type != KT_ARRAY) {
        encode_scalar(f->type, f, val, v, flex, o);
        return;
    }
    int32_t n = val->a.n;
    if (n < 0 && !field_nullable(f, v)) n = 0;
    if (n < 0) {
        write_len(&o->mem, flex, true, -1);
        return;
    }
    write_len(&o->mem, flex, true, n);
    for (int32_t i = 0; i < n && val->a.v; i++) {
        if (f->elem == KT_STRUCT) {
            if (val->a.v[i].m)
                encode_struct(val->a.v[i].m, v, flex, o);
            else {
                karena *a = karena_new();
                encode_struct(kmsg_new(a, f->sub), v, flex, o);
                karena_free(a);
            }
        } else {
            encode_scalar(f->elem, NULL, &val->a.v[i], v, flex, o);
        }
    }
}

static bool struct_is_default(const kmsg *m, int16_t v);

static bool val_is_default(const kfield *f, const kval *val, int16_t v)
{
    switch (f->type) {
    case KT_STRING:
    case KT_BYTES:
    case KT_RECORDS: return f->dflt == 1 ? val->s.len < 0 : val->s.len == 0;
    case KT_ARRAY: return f->dflt == 1 ? val->a.n < 0 : val->a.n == 0;
    case KT_STRUCT: return !val->m || struct_is_default(val->m, v);
    case KT_FLOAT64: return val->f == (double)f->dflt;
    case KT_UUID: {
        static const uint8_t zero[16];
        return memcmp(val->uuid, zero, 16) == 0;
    }
    default: return val->i == f->dflt;
    }
}

static bool struct_is_default(const kmsg *m, int16_t v)
{
    for (int i = 0; i < m->schema->nfields; i++) {
        const kfield *f = &m->schema->fields[i];
        if (field_on_wire(f, v, true) && !val_is_default(f, &m->v[i], v)) return false;
    }
    return true;
}

static void encode_struct(const kmsg *m, int16_t v, bool flex, kout *o)
{
    const kschema *s = m->schema;
    for (int i = 0; i < s->nfields; i++) {
        const kfield *f = &s->fields[i];
        if (!field_inline(f, v, flex)) continue;
        encode_field(f, &m->v[i], v, flex, o);
    }
    if (!flex) return;
    /* tagged fields: those present at v, tagged at v, and not at their default, by tag */
    int idx[64], n = 0;
    for (int i = 0; i < s->nfields && n < 64; i++) {
        const kfield *f = &s->fields[i];
        if (field_tagged(f, v, flex) && !val_is_default(f, &m->v[i], v)) idx[n++] = i;
    }
    for (int i = 1; i < n; i++) /* insertion sort by tag */
        for (int j = i; j > 0 && s->fields[idx[j]].tag < s->fields[idx[j - 1]].tag; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    wbuf_uvarint(&o->mem, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        const kfield *f = &s->fields[idx[i]];
        kout tmp;
        kout_init(&tmp, 0);
        encode_field(f, &m->v[idx[i]], v, true, &tmp);
        wbuf_uvarint(&o->mem, (uint32_t)f->tag);
        wbuf_uvarint(&o->mem, (uint32_t)tmp.mem.len);
        wbuf_put(&o->mem, tmp.mem.data, tmp.mem.len);
        kout_free(&tmp);
    }
}

void kmsg_encode(const kmsg *m, int16_t version, bool flexible, kout *o)
{
    encode_struct(m, version, flexible, o);
}

/* ------------------------------------------------------------------ equality ---- */

static bool struct_equal(const kmsg *a, const kmsg *b, int16_t v, bool flex);

static bool scalar_equal(uint8_t type, const kfield *f, const kval *x, const kval *y, int16_t v,
                         bool flex)
{
    switch (type) {
    case KT_FLOAT64: return memcmp(&x->f, &y->f, sizeof(double)) == 0 || x->f == y->f;
    case KT_UUID: return memcmp(x->uuid, y->uuid, 16) == 0;
    case KT_STRING:
    case KT_BYTES:
    case KT_RECORDS:
        if (x->frags || y->frags) { /* file ranges: equal when they name the same ranges */
            const kfile_frag *p = x->frags, *q = y->frags;
            for (; p && q; p = p->next, q = q->next)
                if (p->fd != q->fd || p->off != q->off || p->len != q->len) return false;
            return !p && !q;
        }
        if ((x->s.len < 0) != (y->s.len < 0)) return false;
        if (x->s.len < 0) return true;
        return x->s.len == y->s.len &&
               (x->s.len == 0 || memcmp(x->s.p, y->s.p, (size_t)x->s.len) == 0);
    case KT_STRUCT:
        if (!x->m || !y->m) return x->m == y->m;
        return struct_equal(x->m, y->m, v, flex);
    default: return x->i == y->i;
    }
    (void)f;
}

static bool struct_equal(const kmsg *a, const kmsg *b, int16_t v, bool flex)
{
    if (a->schema != b->schema) return false;
    for (int i = 0; i < a->schema->nfields; i++) {
        const kfield *f = &a->schema->fields[i];
        if (!field_on_wire(f, v, flex)) continue;
        const kval *x = &a->v[i], *y = &b->v[i];
        if (f->type == KT_ARRAY) {
            if (x->a.n != y->a.n) return false;
            for (int32_t k = 0; k < x->a.n; k++) {
                const kval *ex = &x->a.v[k], *ey = &y->a.v[k];
                if (f->elem == KT_STRUCT) {
                    if (!ex->m || !ey->m) {
                        if (ex->m != ey->m) return false;
                    } else if (!struct_equal(ex->m, ey->m, v, flex)) {
                        return false;
                    }
                } else if (!scalar_equal(f->elem, NULL, ex, ey, v, flex)) {
                    return false;
                }
            }
        } else if (!scalar_equal(f->type, f, x, y, v, flex)) {
            return false;
        }
    }
    return true;
}

bool kmsg_equal(const kmsg *a, const kmsg *b, int16_t version, bool flexible)
{
    return struct_equal(a, b, version, flexible);
}

/* ------------------------------------------------------------------ accessors ---- */

_Noreturn void kmsg_bad_field(const kmsg *m, kfid f)
{
    int sid = KFID_STRUCT(f), idx = KFID_INDEX(f);
    const char *want = sid > 0 && sid < KS_COUNT_ ? kstruct_names[sid] : "?";
    if (!m)
        fprintf(stderr, "kmsg: BUG: field %d of %s read from a NULL message\n", idx, want);
    else
        fprintf(stderr, "kmsg: BUG: field %d of %s used on %s (%s)\n", idx, want,
                m->schema->id > 0 && m->schema->id < KS_COUNT_ ? kstruct_names[m->schema->id] : "?",
                m->schema->name);
    abort();
}

void k_set_uuid(kmsg *m, kfid f, const uint8_t uuid[16])
{
    memcpy(k_val(m, f)->uuid, uuid, 16);
}
void k_set_str(kmsg *m, kfid f, const char *s)
{
    kval *v = k_val(m, f);
    v->frags = NULL;
    if (!s) {
        v->s = (kstr){NULL, -1};
        return;
    }
    size_t n = strlen(s);
    char *p = karena_alloc(m->arena, n + 1);
    memcpy(p, s, n);
    v->s = (kstr){(const uint8_t *)p, (int32_t)n};
}
void k_set_bytes(kmsg *m, kfid f, const void *p, int32_t len)
{
    kval *v = k_val(m, f);
    v->frags = NULL;
    if (!p || len < 0) {
        v->s = (kstr){NULL, -1};
        return;
    }
    uint8_t *d = karena_alloc(m->arena, (size_t)len + 1);
    if (len) memcpy(d, p, (size_t)len);
    v->s = (kstr){d, len};
}
void k_set_ref(kmsg *m, kfid f, const void *p, int32_t len)
{
    kval *v = k_val(m, f);
    v->frags = NULL;
    v->s = (kstr){p ? (const uint8_t *)p : (const uint8_t *)"", p ? len : -1};
    if (len < 0) v->s = (kstr){NULL, -1};
}
void k_set_frags(kmsg *m, kfid f, kfile_frag *frags)
{
    kval *v = k_val(m, f);
    int64_t total = 0;
    for (kfile_frag *fr = frags; fr; fr = fr->next) total += fr->len;
    v->frags = frags;
    v->s = (kstr){(const uint8_t *)"", (int32_t)total};
}
void k_set_null(kmsg *m, kfid f)
{
    kval *v = k_val(m, f);
    if (k_field(m, f)->type == KT_ARRAY) {
        v->a.v = NULL;
        v->a.n = -1;
    } else {
        v->s = (kstr){NULL, -1};
        v->frags = NULL;
    }
}
kval *k_set_array(kmsg *m, kfid f, int32_t n)
{
    const kfield *fd = k_field(m, f);
    kval *v = k_val(m, f);
    if (n < 0) n = 0;
    v->a.n = n;
    v->a.v = n ? karena_alloc(m->arena, (size_t)n * sizeof(kval)) : NULL;
    if (fd->elem == KT_STRUCT && fd->sub)
        for (int32_t k = 0; k < n; k++) v->a.v[k].m = kmsg_new(m->arena, fd->sub);
    return v->a.v;
}
kmsg *k_new_items(kmsg *m, kfid f, int32_t n)
{
    kval *v = k_set_array(m, f, n);
    return n > 0 ? v[0].m : NULL;
}
kmsg *k_new_struct(kmsg *m, kfid f)
{
    const kfield *fd = k_field(m, f);
    kval *v = k_val(m, f);
    v->m = fd->sub ? kmsg_new(m->arena, fd->sub) : NULL;
    return v->m;
}

/* ------------------------------------------------------------------ headers ---- */

int kreq_header_decode(rbuf *r, kreq_header *h)
{
    h->api_key = rbuf_i16(r);
    h->api_version = rbuf_i16(r);
    h->correlation_id = rbuf_i32(r);
    int16_t n = rbuf_i16(r);
    if (r->err) return r->err;
    if (n < -1) {
        rbuf_fail(r, RBUF_BADVALUE);
        return r->err;
    }
    if (n == -1)
        h->client_id = (kstr){NULL, -1};
    else {
        const uint8_t *p = rbuf_take(r, (size_t)n);
        if (!p) return r->err;
        h->client_id = (kstr){p, n};
    }
    const kapi *a = kapi_get(h->api_key);
    h->flexible = a && kapi_flexible(a, h->api_version);
    if (h->flexible) {
        /* header tagged fields: none are known; skip them all */
        uint32_t count = rbuf_uvarint(r);
        for (uint32_t i = 0; i < count && !r->err; i++) {
            (void)rbuf_uvarint(r);
            uint32_t size = rbuf_uvarint(r);
            rbuf_skip(r, size);
        }
    }
    return r->err;
}

void kreq_header_encode(wbuf *w, const kreq_header *h)
{
    wbuf_i16(w, h->api_key);
    wbuf_i16(w, h->api_version);
    wbuf_i32(w, h->correlation_id);
    if (h->client_id.len < 0)
        wbuf_i16(w, -1);
    else {
        wbuf_i16(w, (int16_t)h->client_id.len);
        wbuf_put(w, h->client_id.p, (size_t)h->client_id.len);
    }
    const kapi *a = kapi_get(h->api_key);
    if (a && kapi_flexible(a, h->api_version)) wbuf_uvarint(w, 0);
}

void kresp_header_encode(wbuf *w, int16_t api_key, int16_t api_version, int32_t correlation_id)
{
    wbuf_i32(w, correlation_id);
    const kapi *a = kapi_get(api_key);
    if (api_key != API_ApiVersions && a && kapi_flexible(a, api_version)) wbuf_uvarint(w, 0);
}
