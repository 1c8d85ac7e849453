/* browse — the admin API's readers of the log (docs/admin-api.md): the message browser (by
 * partition and offset, by timestamp, by key, newest first; headers, payload as text, JSON or
 * base64, CloudEvents fields), the trace of a correlation id across topics with each event's
 * dwell time in the broker, and the dead-letter topics. Reads run on the loop thread in 1 MiB
 * slices with a byte budget per request (a scan that hits it says "truncated": true). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/util.h"
#include "console_int.h"
#include "group/group.h"
#include "registry/avro_codec.h"
#include "registry/registry.h"
#include "storage/batch.h"
#include "storage/plog.h"

#define SLICE_BYTES (1 << 20)
#define BROWSE_BUDGET ((int64_t)64 << 20) /* bytes read for one message request */
#define TRACE_BUDGET ((int64_t)256 << 20) /* bytes read for one trace */
#define LIMIT_MAX 500

/* ---------------------------------------------------------------- scanning ---- */

typedef con_rec_fn rec_fn;

typedef struct scan_ctx {
    bpart *p;
    int64_t to; /* stop before this offset */
    rec_fn fn;
    void *arg;
    bool stopped;
} scan_ctx;

static int scan_cb(const batch_info *bi, const batch_record *rec, void *arg)
{
    (void)bi;
    scan_ctx *s = arg;
    if (rec->offset >= s->to) return 1;
    if (s->fn(s->p, rec, s->arg)) {
        s->stopped = true;
        return 1;
    }
    return 0;
}

/* Calls fn for the records of p in [from, to). Returns 1 when fn stopped it, 2 when the
 * budget ran out first, 0 at `to`. */
static int scan_part(bpart *p, int64_t from, int64_t to, rec_fn fn, void *arg, int64_t *budget)
{
    if (!p->log) return 0;
    int64_t off = MAX(from, plog_start_offset(p->log));
    scan_ctx s = {p, to, fn, arg, false};
    while (off < to) {
        if (*budget <= 0) return 2;
        uint8_t *buf = NULL;
        int32_t len = 0;
        int64_t next = off;
        if (plog_read_copy(p->log, off, SLICE_BYTES, &buf, &len, &next) != 0 || len <= 0 ||
            next <= off) {
            free(buf);
            break;
        }
        *budget -= len;
        batch_tail_stats st = {0};
        int rc = batch_tail_buf(buf, (size_t)len, from, scan_cb, &s, &st);
        free(buf);
        if (s.stopped) return 1;
        if (rc) break; /* reached `to` */
        off = next;
    }
    return 0;
}

int con_scan_part(bpart *p, int64_t from, int64_t to, con_rec_fn fn, void *arg, int64_t *budget)
{
    return scan_part(p, from, to, fn, arg, budget);
}

/* ---------------------------------------------------------------- encodings ---- */

static bool utf8_text(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') return false;
            if (c == 0x7f) return false;
            i++;
            continue;
        }
        int k = (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
        if (k < 0 || (size_t)k >= n - i) return false;
        uint32_t cp = c & (0x3f >> k);
        for (int j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (p[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += (size_t)k + 1;
    }
    return true;
}

/* Sets o[field] and o[field "_encoding"]: null, text, json or base64 (format: auto, text, json,
 * base64). */
static void set_payload(json_t *o, const char *field, const uint8_t *p, int32_t n,
                        const char *format)
{
    char enc[64];
    snprintf(enc, sizeof enc, "%s_encoding", field);
    if (!p || n < 0) {
        json_object_set_new(o, field, json_null());
        json_object_set_new(o, enc, json_null());
        return;
    }
    bool text = strcmp(format, "base64") && utf8_text(p, (size_t)n);
    if (!text) {
        char *b = b64_encode_alloc(p, (size_t)n, false);
        json_object_set_new(o, field, json_string(b));
        json_object_set_new(o, enc, json_string("base64"));
        free(b);
        return;
    }
    const char *kind = "text";
    if (strcmp(format, "text") && n > 0 && (p[0] == '{' || p[0] == '[')) {
        json_t *j = json_loadb((const char *)p, (size_t)n, 0, NULL);
        if (j) kind = "json";
        json_decref(j);
    }
    json_object_set_new(o, field, json_stringn((const char *)p, (size_t)n));
    json_object_set_new(o, enc, json_string(kind));
}

/* Finds header `name` in a record's raw headers. */
static bool header_get(const batch_record *rec, const char *name, const uint8_t **v, int32_t *vl)
{
    rbuf r = rbuf_make(rec->headers, rec->headers_len);
    size_t nl = strlen(name);
    for (int32_t i = 0; i < rec->header_count && !r.err; i++) {
        int32_t kl = rbuf_varint(&r);
        const uint8_t *k = kl > 0 ? rbuf_take(&r, (size_t)kl) : NULL;
        int32_t l = rbuf_varint(&r);
        const uint8_t *val = l > 0 ? rbuf_take(&r, (size_t)l) : NULL;
        if (r.err) break;
        if (kl == (int32_t)nl && k && !memcmp(k, name, nl)) {
            *v = val ? val : (const uint8_t *)"";
            *vl = l;
            return true;
        }
    }
    return false;
}

static char *header_str(const batch_record *rec, const char *name)
{
    const uint8_t *v;
    int32_t l;
    if (!header_get(rec, name, &v, &l) || l < 0 || !utf8_text(v, (size_t)l)) return NULL;
    return xstrndup((const char *)v, (size_t)l);
}

/* The broker whose registry decodes Avro payloads (set by the request that browses). */
static broker *g_registry_b;

/* An Avro payload (Confluent wire format, schema `id`) as its JSON: value (the JSON text),
 * value_encoding "json", value_schema_type "AVRO"; a payload the schema cannot decode gets
 * value_decode_error and stays shown as it is. true when shown. */
static bool avro_value(json_t *o, int32_t id, const uint8_t *p, size_t n)
{
    registry_schema rs;
    if (!g_registry_b || registry_schema_by_id(g_registry_b, id, &rs) != 0 || !rs.type ||
        strcmp(rs.type, "AVRO"))
        return false;
    json_object_set_new(o, "value_schema_type", json_string("AVRO"));
    char err[300];
    avro_schema *s = avro_schema_parse(rs.schema, err, sizeof err);
    json_t *v = NULL;
    if (s && avro_decode_json(s, p, n, &v, err, sizeof err) == 0) {
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        json_object_set_new(o, "value", json_string(t));
        json_object_set_new(o, "value_encoding", json_string("json"));
        free(t);
        json_decref(v);
    } else {
        json_object_set_new(o, "value_decode_error", json_string(err));
    }
    avro_schema_free(s);
    return v != NULL;
}

static json_t *record_json(bpart *p, const batch_record *rec, const char *format)
{
    json_t *o = json_pack("{s:i,s:I,s:I,s:i}", "partition", (int)p->index, "offset",
                          (json_int_t)rec->offset, "timestamp", (json_int_t)rec->timestamp, "size",
                          (int)rec->raw_len);
    set_payload(o, "key", rec->key, rec->key_len, "auto");
    /* Confluent's wire format (serializers of the schema registry): magic 0, the schema id
     * (int32 big-endian), then the payload; a JSON Schema payload is shown as its JSON */
    const uint8_t *pv = rec->value;
    bool shown = false;
    if (!strcmp(format, "auto") && pv && rec->value_len >= 6 && pv[0] == 0) {
        int32_t id = (int32_t)((uint32_t)pv[1] << 24 | (uint32_t)pv[2] << 16 |
                               (uint32_t)pv[3] << 8 | (uint32_t)pv[4]);
        json_object_set_new(o, "schema_id", json_integer(id));
        json_t *j = (pv[5] == '{' || pv[5] == '[')
                        ? json_loadb((const char *)pv + 5, (size_t)rec->value_len - 5, 0, NULL)
                        : NULL;
        if (j && utf8_text(pv + 5, (size_t)rec->value_len - 5)) {
            set_payload(o, "value", pv + 5, rec->value_len - 5, "json");
            shown = true;
        }
        json_decref(j);
        if (!shown) shown = avro_value(o, id, pv + 5, (size_t)rec->value_len - 5);
    }
    if (!shown) set_payload(o, "value", rec->value, rec->value_len, format);
    json_t *hs = json_array(), *ce = json_object();
    rbuf r = rbuf_make(rec->headers, rec->headers_len);
    for (int32_t i = 0; i < rec->header_count && !r.err; i++) {
        int32_t kl = rbuf_varint(&r);
        const uint8_t *k = kl > 0 ? rbuf_take(&r, (size_t)kl) : NULL;
        int32_t l = rbuf_varint(&r);
        const uint8_t *v = l > 0 ? rbuf_take(&r, (size_t)l) : (l == 0 ? (const uint8_t *)"" : NULL);
        if (r.err || kl < 0) break;
        json_t *h = json_object();
        set_payload(h, "key", k ? k : (const uint8_t *)"", kl, "text");
        set_payload(h, "value", v, l, "text");
        json_array_append_new(hs, h);
        if (k && kl > 3 && !memcmp(k, "ce_", 3) && v && utf8_text(k, (size_t)kl) &&
            utf8_text(v, (size_t)l)) {
            char *name = xstrndup((const char *)k + 3, (size_t)kl - 3);
            json_object_set_new(ce, name, json_stringn((const char *)v, (size_t)l));
            free(name);
        }
    }
    json_object_set_new(o, "headers", hs);
    if (json_object_size(ce))
        json_object_set_new(o, "cloudevents", ce);
    else
        json_decref(ce);
    return o;
}

/* ---------------------------------------------------------------- collecting ---- */

/* Records kept by a browse: at most `limit`, the oldest dropped first when `keep_last`. */
typedef struct coll {
    json_t **v;
    int n, limit;
    bool keep_last;
    const char *format;
    int64_t ts_min;     /* by timestamp: records older are skipped */
    const uint8_t *key; /* by key */
    size_t key_len;
    json_t *(*conv)(bpart *p, const batch_record *rec, const char *format);
} coll;

static int coll_add(bpart *p, const batch_record *rec, void *arg)
{
    coll *c = arg;
    if (rec->timestamp < c->ts_min) return 0;
    if (c->key &&
        (rec->key_len != (int32_t)c->key_len || !rec->key || memcmp(rec->key, c->key, c->key_len)))
        return 0;
    if (c->n == c->limit) {
        if (!c->keep_last) return 1;
        json_decref(c->v[0]);
        memmove(c->v, c->v + 1, sizeof *c->v * (size_t)(c->n - 1));
        c->n--;
    }
    c->v[c->n++] = c->conv(p, rec, c->format);
    return 0;
}

static int64_t jint(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static int cmp_asc(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int64_t tx = jint(x, "timestamp"), ty = jint(y, "timestamp");
    if (tx != ty) return tx < ty ? -1 : 1;
    int64_t px = jint(x, "partition"), py = jint(y, "partition");
    if (px != py) return px < py ? -1 : 1;
    int64_t ox = jint(x, "offset"), oy = jint(y, "offset");
    return (ox > oy) - (ox < oy);
}

static int cmp_desc(const void *a, const void *b)
{
    return -cmp_asc(a, b);
}

/* Merges per-partition collections: sorted, the first `limit` kept. */
static json_t *merge(coll *parts, int np, int limit, bool newest_first)
{
    int total = 0;
    for (int i = 0; i < np; i++) total += parts[i].n;
    json_t **all = xcalloc((size_t)total + 1, sizeof *all);
    int k = 0;
    for (int i = 0; i < np; i++)
        for (int j = 0; j < parts[i].n; j++) all[k++] = parts[i].v[j];
    qsort(all, (size_t)total, sizeof *all, newest_first ? cmp_desc : cmp_asc);
    json_t *a = json_array();
    for (int i = 0; i < total; i++) {
        if (i < limit)
            json_array_append_new(a, all[i]);
        else
            json_decref(all[i]);
    }
    free(all);
    return a;
}

void con_messages(broker *b, btopic *t, const http_request *req, http_response *resp)
{
    g_registry_b = b;
    int64_t part = -1, offset = -1, ts = -1, limit = 50;
    int hp = con_query_i64(req, "partition", &part), ho = con_query_i64(req, "offset", &offset),
        ht = con_query_i64(req, "timestamp", &ts), hl = con_query_i64(req, "limit", &limit);
    const char *format = http_query(req, "format");
    size_t key_len = 0;
    const char *key = http_query_n(req, "key", &key_len);
    const char *newest = http_query(req, "newest");
    if (hp < 0 || (hp && (part < 0 || part >= t->nparts)))
        return con_error(resp, hp < 0 ? 40004 : 40403, "topic \"%s\" has no partition %s", t->name,
                         http_query(req, "partition"));
    if (ho < 0 || (ho && offset < 0))
        return con_error(resp, 40004, "offset must be an integer >= 0");
    if (ht < 0 || (ht && ts < 0))
        return con_error(resp, 40004, "timestamp must be ms since the epoch");
    if (hl < 0 || (hl && (limit < 1 || limit > LIMIT_MAX)))
        return con_error(resp, 40004, "limit must be 1..%d", LIMIT_MAX);
    if (format && strcmp(format, "auto") && strcmp(format, "text") && strcmp(format, "json") &&
        strcmp(format, "base64"))
        return con_error(resp, 40004, "format must be auto, text, json or base64");
    if ((ho != 0) + (ht != 0) + (key != NULL) > 1)
        return con_error(resp, 40004, "choose one of offset, timestamp and key");
    if (newest && strcmp(newest, "true") && strcmp(newest, "false"))
        return con_error(resp, 40004, "newest must be true or false");
    if (ho && !hp) return con_error(resp, 40004, "offset needs a partition");
    if (!format) format = "auto";
    const char *mode = ho ? "offset" : ht ? "timestamp" : key ? "key" : "newest";
    bool newest_first = !ho && !ht;
    int p0 = hp ? (int)part : 0, p1 = hp ? (int)part + 1 : t->nparts;
    coll *cs = xcalloc((size_t)(p1 - p0) + 1, sizeof *cs);
    int64_t budget = BROWSE_BUDGET;
    bool truncated = false;
    for (int i = p0; i < p1; i++) {
        bpart *p = t->parts[i];
        coll *c = &cs[i - p0];
        *c = (coll){xcalloc((size_t)limit, sizeof(json_t *)),
                    0,
                    (int)limit,
                    newest_first,
                    format,
                    INT64_MIN,
                    NULL,
                    0,
                    record_json};
        int64_t end = part_hwm(p), start = p->log ? plog_start_offset(p->log) : 0, from = start;
        if (ho)
            from = offset;
        else if (ht) {
            from = con_offset_for_time(p, ts);
            c->ts_min = ts;
        } else if (key) {
            c->key = (const uint8_t *)key;
            c->key_len = key_len;
        } else
            from = MAX(start, end - limit);
        if (scan_part(p, from, end, coll_add, c, &budget) == 2) truncated = true;
    }
    json_t *msgs = merge(cs, p1 - p0, (int)limit, newest_first);
    for (int i = 0; i < p1 - p0; i++) free(cs[i].v);
    free(cs);
    con_json(resp, 200,
             json_pack("{s:s,s:s,s:o,s:b}", "topic", t->name, "mode", mode, "messages", msgs,
                       "truncated", truncated));
}

/* ---------------------------------------------------------------- trace ---- */

typedef struct toff {
    char *group, *topic;
    int32_t partition;
    int64_t offset, commit_ts;
} toff;

typedef struct tstate {
    const char *cid;
    size_t cid_len;
    json_t *hits;
    toff *offs;
    int noffs;
    const char *cur_group;
} tstate;

static void t_offset(void *arg, const group_offset_view *o)
{
    tstate *s = arg;
    s->offs = xrealloc(s->offs, sizeof *s->offs * (size_t)(s->noffs + 1));
    s->offs[s->noffs++] =
        (toff){xstrdup(s->cur_group), xstrdup(o->topic), o->partition, o->offset, o->commit_ts};
}

typedef struct gidl {
    char **v;
    int n;
} gidl;

static void t_gid(void *arg, const group_view *g)
{
    gidl *x = arg;
    x->v = xrealloc(x->v, sizeof *x->v * (size_t)(x->n + 1));
    x->v[x->n++] = xstrdup(g->id);
}

static const char *js(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void set_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, v ? json_string(v) : json_null());
}

/* o[k] = src[sk] (any JSON value), null when src has none. */
static void set_from(json_t *o, const char *k, json_t *src, const char *sk)
{
    json_t *v = json_object_get(src, sk);
    json_object_set(o, k, v ? v : json_null());
}

/* The fields of a dead letter's value (libeddy's DLQ envelope) that the trace and the DLQ page
 * both show, under the API's names. */
static void set_dead_letter(json_t *o, json_t *dead)
{
    set_str(o, "error", js(dead, "error"));
    set_str(o, "reason", js(dead, "reason"));
    set_str(o, "failed_at", js(dead, "failedAt"));
    set_str(o, "service", js(dead, "service"));
    set_str(o, "source_topic", js(dead, "sourceTopic"));
    set_from(o, "attempt_count", dead, "attemptCount");
}

static int trace_rec(bpart *p, const batch_record *rec, void *arg)
{
    tstate *s = arg;
    const uint8_t *hv;
    int32_t hl;
    bool match = header_get(rec, "x-correlation-id", &hv, &hl) && hl == (int32_t)s->cid_len &&
                 !memcmp(hv, s->cid, s->cid_len);
    json_t *v = NULL, *env = NULL, *dead = NULL;
    if (rec->value && rec->value_len > 0 &&
        (match || memmem(rec->value, (size_t)rec->value_len, s->cid, s->cid_len))) {
        v = json_loadb((const char *)rec->value, (size_t)rec->value_len, 0, NULL);
        env = json_is_object(v) ? v : NULL;
        if (env && json_is_object(json_object_get(env, "originalEvent"))) {
            dead = env;
            env = json_object_get(env, "originalEvent");
        }
        const char *c = env ? js(env, "correlationId") : NULL;
        if (c && !strcmp(c, s->cid)) match = true;
    }
    if (!match) {
        json_decref(v);
        return 0;
    }
    json_t *o =
        json_pack("{s:s,s:i,s:I,s:I}", "topic", p->topic->name, "partition", (int)p->index,
                  "offset", (json_int_t)rec->offset, "timestamp", (json_int_t)rec->timestamp);
    char *h_id = header_str(rec, "ce_id"), *h_type = header_str(rec, "x-event-type"),
         *h_cause = header_str(rec, "x-causation-id"), *h_src = header_str(rec, "ce_source");
    set_str(o, "event_id", env && js(env, "eventId") ? js(env, "eventId") : h_id);
    set_str(o, "event_type", env && js(env, "eventType") ? js(env, "eventType") : h_type);
    set_str(o, "causation_id", env && js(env, "causationId") ? js(env, "causationId") : h_cause);
    set_str(o, "source", env && js(env, "source") ? js(env, "source") : h_src);
    set_str(o, "event_time", env ? js(env, "timestamp") : NULL);
    free(h_id);
    free(h_type);
    free(h_cause);
    free(h_src);
    if (dead) {
        json_t *d = json_object();
        set_dead_letter(d, dead);
        json_object_set_new(o, "dead_letter", d);
    } else {
        json_object_set_new(o, "dead_letter", json_null());
    }
    json_decref(v);
    json_array_append_new(s->hits, o);
    return 0;
}

static int cmp_hit(const void *a, const void *b)
{
    return cmp_asc(a, b);
}

void con_trace(broker *b, const http_request *req, http_response *resp)
{
    size_t cl = 0;
    const char *cid = http_query_n(req, "correlation_id", &cl);
    if (!cid || !*cid || cl != strlen(cid) || cl > 256)
        return con_error(resp, 40005, "correlation_id (1 to 256 characters) is required");
    const char *only = http_query(req, "topics");
    tstate s = {cid, cl, json_array(), NULL, 0, NULL};
    gidl g = {NULL, 0};
    group_foreach_group(b, t_gid, &g);
    for (int i = 0; i < g.n; i++) {
        s.cur_group = g.v[i];
        group_describe(b, g.v[i], NULL, NULL, t_offset, &s);
        free(g.v[i]);
    }
    free(g.v);
    int64_t budget = TRACE_BUDGET;
    bool truncated = false;
    int ntopics = 0;
    for (int i = 0; i < topic_count(b); i++) {
        btopic *t = topic_at(b, i);
        if (!t || t->internal) continue;
        if (only) {
            size_t n = strlen(t->name);
            bool in = false;
            for (const char *q = only; *q;) {
                size_t m = strcspn(q, ",");
                if (m == n && !strncmp(q, t->name, n)) in = true;
                q += m;
                if (*q) q++;
            }
            if (!in) continue;
        }
        ntopics++;
        for (int j = 0; j < t->nparts; j++)
            if (scan_part(t->parts[j], 0, part_hwm(t->parts[j]), trace_rec, &s, &budget) == 2)
                truncated = true;
    }
    /* time order, then causation depth, consumers and dwell time */
    size_t n = json_array_size(s.hits);
    json_t **v = xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = json_incref(json_array_get(s.hits, i));
    json_decref(s.hits);
    qsort(v, n, sizeof *v, cmp_hit);
    json_t *events = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = v[i];
        const char *topic = js(e, "topic");
        int64_t part = jint(e, "partition"), off = jint(e, "offset"), ts = jint(e, "timestamp");
        const char *cause = js(e, "causation_id");
        int depth = 0;
        for (size_t k = i; k-- > 0;) {
            const char *id = js(v[k], "event_id");
            if (cause && id && json_is_null(json_object_get(v[k], "dead_letter")) &&
                !strcmp(id, cause)) {
                depth = (int)MIN(jint(v[k], "depth") + 1, 16);
                break;
            }
        }
        json_object_set_new(e, "depth", json_integer(depth));
        json_t *consumers = json_array();
        int64_t dwell = -1;
        const char *basis = NULL;
        for (int k = 0; k < s.noffs; k++) {
            toff *o = &s.offs[k];
            if (o->partition != part || strcmp(o->topic, topic) || o->offset <= off) continue;
            json_array_append_new(consumers, json_pack("{s:s,s:I,s:I}", "group", o->group,
                                                       "committed_offset", (json_int_t)o->offset,
                                                       "commit_time_ms", (json_int_t)o->commit_ts));
            if (o->offset == off + 1 && o->commit_ts >= ts && dwell < 0) {
                dwell = o->commit_ts - ts;
                basis = "group_commit";
            }
        }
        const char *id = js(e, "event_id");
        for (size_t k = i + 1; dwell < 0 && id && k < n; k++) {
            const char *c2 = js(v[k], "causation_id");
            if (c2 && !strcmp(c2, id)) {
                dwell = MAX(jint(v[k], "timestamp") - ts, 0);
                basis = "next_event";
            }
        }
        json_object_set_new(e, "consumed_by", consumers);
        json_object_set_new(e, "dwell_ms", dwell >= 0 ? json_integer(dwell) : json_null());
        set_str(e, "dwell_basis", basis);
        json_array_append_new(events, e);
    }
    free(v);
    for (int k = 0; k < s.noffs; k++) {
        free(s.offs[k].group);
        free(s.offs[k].topic);
    }
    free(s.offs);
    con_json(resp, 200,
             json_pack("{s:s,s:i,s:o,s:b}", "correlation_id", cid, "topics_scanned", ntopics,
                       "events", events, "truncated", truncated));
}

/* ---------------------------------------------------------------- recent traces ---- */

#define RECENT_PER_PART 50
#define RECENT_MAX 20

typedef struct rtrace {
    char *cid;
    int64_t last_ts;
    int events;
    bool dead;
    char *last_type;
} rtrace;

typedef struct rstate {
    rtrace *v;
    int n;
} rstate;

static int recent_rec(bpart *p, const batch_record *rec, void *arg)
{
    rstate *s = arg;
    char *cid = header_str(rec, "x-correlation-id");
    if (!cid || !*cid || strlen(cid) > 256) {
        free(cid);
        return 0;
    }
    rtrace *t = NULL;
    for (int i = 0; i < s->n && !t; i++)
        if (!strcmp(s->v[i].cid, cid)) t = &s->v[i];
    if (!t) {
        if (s->n >= 4096) { /* bounded: enough distinct ids for a page */
            free(cid);
            return 0;
        }
        s->v = xrealloc(s->v, sizeof *s->v * (size_t)(s->n + 1));
        t = &s->v[s->n++];
        *t = (rtrace){cid, INT64_MIN, 0, false, NULL};
    } else {
        free(cid);
    }
    t->events++;
    size_t n = strlen(p->topic->name);
    if (n > 4 && !strcmp(p->topic->name + n - 4, ".dlq")) t->dead = true;
    if (rec->timestamp >= t->last_ts) {
        t->last_ts = rec->timestamp;
        char *type = header_str(rec, "x-event-type");
        if (!type) type = header_str(rec, "ce_type");
        if (type) {
            free(t->last_type);
            t->last_type = type;
        }
    }
    return 0;
}

static int cmp_recent(const void *a, const void *b)
{
    const rtrace *x = a, *y = b;
    return (x->last_ts < y->last_ts) - (x->last_ts > y->last_ts);
}

void con_trace_recent(broker *b, const http_request *req, http_response *resp)
{
    (void)req;
    rstate s = {NULL, 0};
    int64_t budget = BROWSE_BUDGET / 4;
    for (int i = 0; i < topic_count(b); i++) {
        btopic *t = topic_at(b, i);
        if (!t || t->internal) continue;
        for (int j = 0; j < t->nparts; j++) {
            bpart *p = t->parts[j];
            int64_t end = part_hwm(p), start = p->log ? plog_start_offset(p->log) : 0;
            scan_part(p, MAX(start, end - RECENT_PER_PART), end, recent_rec, &s, &budget);
        }
    }
    if (s.n) qsort(s.v, (size_t)s.n, sizeof *s.v, cmp_recent);
    json_t *a = json_array();
    for (int i = 0; i < s.n; i++) {
        rtrace *t = &s.v[i];
        if (i < RECENT_MAX) {
            json_t *o =
                json_pack("{s:s,s:I,s:i,s:b}", "correlation_id", t->cid, "last_timestamp",
                          (json_int_t)t->last_ts, "events", t->events, "dead_letter", t->dead);
            set_str(o, "last_event_type", t->last_type);
            json_array_append_new(a, o);
        }
        free(t->cid);
        free(t->last_type);
    }
    free(s.v);
    con_json(resp, 200, json_pack("{s:o}", "recent", a));
}

/* ---------------------------------------------------------------- dead letters ---- */

static json_t *dead_letter_json(bpart *p, const batch_record *rec, const char *format)
{
    json_t *o = record_json(p, rec, format);
    json_t *v = rec->value && rec->value_len > 0
                    ? json_loadb((const char *)rec->value, (size_t)rec->value_len, 0, NULL)
                    : NULL;
    if (json_is_object(v)) {
        set_dead_letter(o, v);
        set_from(o, "source_partition", v, "sourcePartition");
        set_from(o, "source_offset", v, "sourceOffset");
        json_t *orig = json_object_get(v, "originalEvent");
        set_str(o, "event_type", json_is_object(orig) ? js(orig, "eventType") : NULL);
        set_str(o, "correlation_id", json_is_object(orig) ? js(orig, "correlationId") : NULL);
    }
    if (!json_object_get(o, "reason")) {
        char *r = header_str(rec, "x-dlq-reason"), *e = header_str(rec, "x-dlq-error");
        set_str(o, "reason", r);
        set_str(o, "error", e);
        free(r);
        free(e);
    }
    json_decref(v);
    return o;
}

void con_dlq(broker *b, const http_request *req, http_response *resp)
{
    int64_t limit = 20;
    int hl = con_query_i64(req, "limit", &limit);
    if (hl < 0 || (hl && (limit < 1 || limit > LIMIT_MAX)))
        return con_error(resp, 40004, "limit must be 1..%d", LIMIT_MAX);
    json_t *a = json_array();
    int64_t budget = BROWSE_BUDGET;
    for (int i = 0; i < topic_count(b); i++) {
        btopic *t = topic_at(b, i);
        size_t n = t ? strlen(t->name) : 0;
        if (!t || t->internal || n < 5 || strcmp(t->name + n - 4, ".dlq")) continue;
        coll *cs = xcalloc((size_t)t->nparts + 1, sizeof *cs);
        int64_t msgs = 0;
        for (int j = 0; j < t->nparts; j++) {
            bpart *p = t->parts[j];
            cs[j] = (coll){xcalloc((size_t)limit, sizeof(json_t *)),
                           0,
                           (int)limit,
                           true,
                           "auto",
                           INT64_MIN,
                           NULL,
                           0,
                           dead_letter_json};
            int64_t end = part_hwm(p), start = p->log ? plog_start_offset(p->log) : 0;
            msgs += end - start;
            scan_part(p, MAX(start, end - limit), end, coll_add, &cs[j], &budget);
        }
        json_t *latest = merge(cs, t->nparts, (int)limit, true);
        for (int j = 0; j < t->nparts; j++) free(cs[j].v);
        free(cs);
        char *src = xstrndup(t->name, n - 4);
        json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:o}", "topic", t->name, "source_topic",
                                           src, "messages", (json_int_t)msgs, "latest", latest));
        free(src);
    }
    con_json(resp, 200, json_pack("{s:o}", "dlq_topics", a));
}
