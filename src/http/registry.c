/* registry — a Confluent-compatible schema registry on eddyd's HTTP port (http.h routes on the
 * broker's loop), storing its state in the compacted internal topic `_schemas` with Confluent's
 * record format. registry_start (called by main.c after the HTTP port is up) replays the topic
 * into memory and registers the routes; every change is appended as one RecordBatch, made
 * durable (fsync through the broker's flusher), then applied to memory with the same code as
 * the replay, and only then answered. Validation and compatibility live in compat.c.
 *
 * _schemas records (key → value, JSON):
 *   {"keytype":"SCHEMA","subject":S,"version":V,"magic":1}
 *        → {"subject":S,"version":V,"id":N,"schemaType":T,"schema":"…","references":[…],
 *           "deleted":bool}          (null value = permanently deleted)
 *   {"keytype":"CONFIG","subject":S|null,"magic":0} → {"compatibilityLevel":L} (null = reset)
 *   {"keytype":"MODE","subject":S|null,"magic":0}   → {"mode":M}             (null = reset)
 *   {"keytype":"DELETE_SUBJECT","subject":S,"magic":0} → {"subject":S,"version":V} (replay only)
 *   {"keytype":"ID_WATERMARK","magic":0} → {"id":N}   (Eddy extension: written with permanent
 *        deletes so the highest id ever used survives compaction; ids are never reused)
 *
 * Durability: a write polls plog_durable_offset with 1 ms sleeps on the loop thread (at most
 * 10 s). Registry writes are rare admin operations; blocking the loop that briefly keeps the
 * handlers synchronous (http.h) and the answer honest (acknowledged = on disk).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "broker/broker.h"
#include "common/buf.h"
#include "storage/batch.h"
#include "common/log.h"
#include "common/util.h"
#include "http/compat.h"
#include "http/http.h"
#include "http/registry.h"

#define SCHEMAS_TOPIC "_schemas"
#define CT_SR "application/vnd.schemaregistry.v1+json"
#define MAX_BODY_BYTES (512u << 10) /* a _schemas record must stay below max.message.bytes */

typedef struct sver {
    char *subject;
    int version;
    int id;
    int type;
    char *schema; /* normalised text */
    char *canon;  /* schema_canonical(): identity for "same schema, same id" (not stored) */
    json_t *refs; /* array (owned) */
    bool deleted; /* soft-deleted */
} sver;

typedef struct subj_cfg {
    char *subject;
    int level;     /* -1 = none (global applies) */
    char mode[16]; /* "" = none (global applies) */
} subj_cfg;

typedef struct reg {
    broker *b;
    btopic *t;
    sver **v;
    int n, a;
    int max_id;
    int global_level; /* -1 = default (BACKWARD) */
    subj_cfg *cfg;
    int ncfg;
    char mode[16];
} reg;

static reg *g_reg;

/* ------------------------------------------------------------------ state ---- */

static int level_global(const reg *r)
{
    return r->global_level >= 0 ? r->global_level : CL_BACKWARD;
}

static subj_cfg *cfg_find(reg *r, const char *s)
{
    for (int i = 0; i < r->ncfg; i++)
        if (!strcmp(r->cfg[i].subject, s)) return &r->cfg[i];
    return NULL;
}

static int level_for(reg *r, const char *s)
{
    subj_cfg *c = cfg_find(r, s);
    return c && c->level >= 0 ? c->level : level_global(r);
}

static const char *mode_for(reg *r, const char *s)
{
    subj_cfg *c = s ? cfg_find(r, s) : NULL;
    return c && c->mode[0] ? c->mode : r->mode;
}

static subj_cfg *cfg_get(reg *r, const char *s)
{
    subj_cfg *c = cfg_find(r, s);
    if (c) return c;
    r->cfg = xrealloc(r->cfg, (size_t)(r->ncfg + 1) * sizeof *r->cfg);
    c = &r->cfg[r->ncfg++];
    memset(c, 0, sizeof *c);
    c->subject = xstrdup(s);
    c->level = -1;
    return c;
}

static void cfg_gc(reg *r, subj_cfg *c)
{
    if (c->level >= 0 || c->mode[0]) return;
    free(c->subject);
    *c = r->cfg[--r->ncfg];
}

/* r->v is sorted by (subject, version): index of the first entry >= (s, version). */
static int ver_lower_bound(const reg *r, const char *s, int version)
{
    int lo = 0, hi = r->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const sver *v = r->v[mid];
        int c = strcmp(v->subject, s);
        if (c < 0 || (c == 0 && v->version < version)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static sver *find_ver(reg *r, const char *s, int version)
{
    int i = ver_lower_bound(r, s, version);
    if (i < r->n && r->v[i]->version == version && !strcmp(r->v[i]->subject, s)) return r->v[i];
    return NULL;
}

static void sver_free(sver *v)
{
    if (!v) return;
    free(v->subject);
    free(v->schema);
    free(v->canon);
    json_decref(v->refs);
    free(v);
}

/* Applies one _schemas record (value NULL = tombstone). Used by the replay and after writes. */
static void apply_record(reg *r, json_t *key, json_t *val)
{
    const char *kt = json_string_value(json_object_get(key, "keytype"));
    if (!kt) return;
    json_t *js = json_object_get(key, "subject");
    const char *subject = json_string_value(js);
    if (!strcmp(kt, "SCHEMA")) {
        json_t *jv = json_object_get(key, "version");
        if (!subject || !json_is_integer(jv)) return;
        int version = (int)json_integer_value(jv);
        sver *old = find_ver(r, subject, version);
        if (!val || json_is_null(val)) {
            if (old) {
                int i = ver_lower_bound(r, subject, version);
                memmove(&r->v[i], &r->v[i + 1], (size_t)(r->n - i - 1) * sizeof *r->v);
                r->n--;
                sver_free(old);
            }
            return;
        }
        json_t *jid = json_object_get(val, "id");
        const char *schema = json_string_value(json_object_get(val, "schema"));
        if (!json_is_integer(jid) || !schema) return;
        int type = schema_type_parse(json_string_value(json_object_get(val, "schemaType")));
        if (type < 0) return;
        sver *v = old;
        if (!v) {
            v = xcalloc(1, sizeof *v);
            v->subject = xstrdup(subject);
            v->version = version;
            if (r->n == r->a) {
                r->a = r->a ? r->a * 2 : 64;
                r->v = xrealloc(r->v, (size_t)r->a * sizeof *r->v);
            }
            int at = ver_lower_bound(r, subject, version);
            memmove(&r->v[at + 1], &r->v[at], (size_t)(r->n - at) * sizeof *r->v);
            r->v[at] = v;
            r->n++;
        } else {
            free(v->schema);
            free(v->canon);
            json_decref(v->refs);
        }
        v->id = (int)json_integer_value(jid);
        v->type = type;
        v->schema = xstrdup(schema);
        v->canon = schema_canonical(type, schema);
        if (!v->canon) v->canon = xstrdup(schema);
        json_t *refs = json_object_get(val, "references");
        v->refs = json_is_array(refs) ? json_incref(refs) : json_array();
        v->deleted = json_is_true(json_object_get(val, "deleted"));
        if (v->id > r->max_id) r->max_id = v->id;
    } else if (!strcmp(kt, "CONFIG")) {
        int lvl = -1;
        if (val && !json_is_null(val))
            lvl = compat_level_parse(json_string_value(json_object_get(val,
                                                                       "compatibilityLevel")));
        if (!subject) {
            r->global_level = lvl;
            return;
        }
        subj_cfg *c = cfg_get(r, subject);
        c->level = lvl;
        cfg_gc(r, c);
    } else if (!strcmp(kt, "MODE")) {
        const char *m = val ? json_string_value(json_object_get(val, "mode")) : NULL;
        if (!subject) {
            snprintf(r->mode, sizeof r->mode, "%s", m ? m : "READWRITE");
            return;
        }
        subj_cfg *c = cfg_get(r, subject);
        snprintf(c->mode, sizeof c->mode, "%s", m ? m : "");
        cfg_gc(r, c);
    } else if (!strcmp(kt, "DELETE_SUBJECT")) {
        json_t *jv = val ? json_object_get(val, "version") : NULL;
        if (!subject || !json_is_integer(jv)) return;
        for (int i = 0; i < r->n; i++)
            if (!strcmp(r->v[i]->subject, subject) && r->v[i]->version <= json_integer_value(jv))
                r->v[i]->deleted = true;
    } else if (!strcmp(kt, "ID_WATERMARK")) {
        json_t *jid = val ? json_object_get(val, "id") : NULL;
        if (json_is_integer(jid) && json_integer_value(jid) > r->max_id)
            r->max_id = (int)json_integer_value(jid);
    }
}

/* ------------------------------------------------------------- storage ---- */

typedef struct wrec {
    char *key, *val; /* val NULL = tombstone */
} wrec;

static uint8_t *build_batch(const wrec *rs, int n, size_t *len)
{
    batch_rec *br = xcalloc((size_t)n, sizeof *br);
    for (int i = 0; i < n; i++)
        br[i] = (batch_rec){rs[i].key, strlen(rs[i].key), rs[i].val,
                            rs[i].val ? strlen(rs[i].val) : 0};
    uint8_t *p = batch_build(br, n, now_wall_ms(), len);
    free(br);
    return p;
}

/* Appends the records, waits until they are fsynced, applies them. 0 or -1. */
static int reg_write(reg *r, wrec *rs, int n)
{
    if (!r->t || r->t->nparts < 1) return -1;
    bpart *p = r->t->parts[0];
    size_t len;
    uint8_t *batch = build_batch(rs, n, &len);
    int64_t base = -1;
    int rc = part_append(r->b, p, batch, len, &base);
    free(batch);
    if (rc != 0) {
        LOGE("registry", "cannot append to %s: error %d", SCHEMAS_TOPIC, rc);
        return -1;
    }
    int64_t end = base + n;
    int ret = 0;
    if (r->b->flusher) {
        flusher_request(r->b->flusher, p->log, end);
        int64_t deadline = now_mono_ms() + 10000;
        while (plog_durable_offset(p->log) < end) {
            if (now_mono_ms() > deadline) {
                /* the records are in the log and a replay will see them: apply them so memory
                 * matches the log, but do not claim durability (50001) */
                LOGE("registry", "%s not durable after 10 s", SCHEMAS_TOPIC);
                ret = -1;
                break;
            }
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    for (int i = 0; i < n; i++) {
        json_t *k = json_loads(rs[i].key, 0, NULL);
        json_t *v = rs[i].val ? json_loads(rs[i].val, 0, NULL) : NULL;
        apply_record(r, k, v);
        json_decref(k);
        json_decref(v);
    }
    return ret;
}

static void parse_records(reg *r, const uint8_t *buf, int32_t len, int64_t from, int64_t *next)
{
    rbuf in = rbuf_make(buf, (size_t)len);
    while (rbuf_left(&in) >= 61) {
        int64_t base = rbuf_i64(&in);
        int32_t blen = rbuf_i32(&in);
        if (blen < 49 || (size_t)blen > rbuf_left(&in)) break;
        rbuf b = rbuf_make(in.p, (size_t)blen);
        rbuf_skip(&in, (size_t)blen);
        rbuf_i32(&b); /* partitionLeaderEpoch */
        int8_t magic = rbuf_i8(&b);
        rbuf_u32(&b); /* crc (validated by plog_open) */
        int16_t attr = rbuf_i16(&b);
        int32_t last_delta = rbuf_i32(&b);
        rbuf_skip(&b, 8 + 8 + 8 + 2 + 4);
        int32_t count = rbuf_i32(&b);
        if (base + last_delta + 1 > *next) *next = base + last_delta + 1;
        if (magic != 2 || (attr & 0x07) || (attr & 0x20)) {
            if (attr & 0x07) LOGW("registry", "skipping a compressed batch in %s", SCHEMAS_TOPIC);
            continue;
        }
        for (int32_t i = 0; i < count && !b.err; i++) {
            int32_t rlen = rbuf_varint(&b);
            if (rlen < 0 || (size_t)rlen > rbuf_left(&b)) break;
            rbuf rr = rbuf_make(b.p, (size_t)rlen);
            rbuf_skip(&b, (size_t)rlen);
            rbuf_i8(&rr);
            rbuf_varlong(&rr);
            int32_t odelta = rbuf_varint(&rr);
            int32_t kl = rbuf_varint(&rr);
            const uint8_t *kp = kl > 0 ? rbuf_take(&rr, (size_t)kl) : NULL;
            int32_t vl = rbuf_varint(&rr);
            const uint8_t *vp = vl >= 0 ? rbuf_take(&rr, (size_t)vl) : NULL;
            if (rr.err || !kp || base + odelta < from) continue;
            json_t *k = json_loadb((const char *)kp, (size_t)kl, 0, NULL);
            json_t *v = vp ? json_loadb((const char *)vp, (size_t)vl, 0, NULL) : NULL;
            if (k) apply_record(r, k, v);
            json_decref(k);
            json_decref(v);
        }
    }
}

static int replay(reg *r)
{
    plog *log = r->t->parts[0]->log;
    int64_t off = plog_start_offset(log), end = plog_end_offset(log);
    while (off < end) {
        uint8_t *buf = NULL;
        int32_t len = 0;
        int64_t nx = off;
        int rc = plog_read_copy(log, off, 1 << 20, &buf, &len, &nx);
        if (rc < 0) {
            free(buf);
            LOGE("registry", "cannot read %s at %" PRId64 ": %d", SCHEMAS_TOPIC, off, rc);
            return -1;
        }
        int64_t next = nx > off ? nx : off;
        parse_records(r, buf, len, off, &next);
        free(buf);
        if (len == 0 || next <= off) break;
        off = next;
    }
    return 0;
}

/* ---------------------------------------------------------- responses ---- */

static void reply_json(http_response *resp, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    http_resp_set(resp, status, CT_SR, s ? s : "null", s ? strlen(s) : 4);
    free(s);
}

static void reply_err(http_response *resp, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply_err(http_response *resp, int status, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = xmalloc((size_t)(n > 0 ? n : 0) + 1);
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
    va_end(ap);
    json_t *m = json_string(msg);
    if (!m) { /* not UTF-8 (e.g. a subject from the path): keep ASCII only */
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p >= 0x80) *p = '?';
        m = json_string(msg);
    }
    free(msg);
    reply_json(resp, status, json_pack("{s:i,s:o}", "error_code", code, "message", m));
}

static void reply_store_err(http_response *resp)
{
    reply_err(resp, 500, 50001, "Error in the backend data store (%s)", SCHEMAS_TOPIC);
}

static bool qflag(const http_request *req, const char *name)
{
    const char *v = http_query(req, name);
    return v && !strcmp(v, "true");
}

/* Subject names: valid UTF-8, no control characters, 1..1024 bytes. */
static bool subject_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 1024) return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) return false;
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

static bool check_subject(const char *s, http_response *resp)
{
    if (subject_ok(s)) return true;
    reply_err(resp, 422, 42208, "Invalid subject name (UTF-8, no control characters, at most "
              "1024 bytes)");
    return false;
}

/* Parses the body as a JSON object; answers 400/422 and returns NULL on failure. */
static json_t *body_object(const http_request *req, http_response *resp)
{
    if (req->body_len > MAX_BODY_BYTES) {
        reply_err(resp, 413, 413, "Request body too large (limit %u bytes)", MAX_BODY_BYTES);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        reply_err(resp, 400, 400, "Unexpected JSON in the request body: %s", je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        reply_err(resp, 422, 422, "The request body must be a JSON object");
        return NULL;
    }
    return j;
}

/* "latest", "-1" or 1..2^31-1. Returns the version, 0 for latest, -1 if invalid. */
static int parse_version(const char *s)
{
    if (!strcmp(s, "latest") || !strcmp(s, "-1")) return 0;
    if (!*s || strlen(s) > 10) return -1;
    long long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    return v >= 1 && v <= 2147483647 ? (int)v : -1;
}

static json_t *sver_json(const sver *v, bool with_subject)
{
    json_t *o = json_object();
    if (with_subject) json_object_set_new(o, "subject", json_string(v->subject));
    json_object_set_new(o, "version", json_integer(v->version));
    json_object_set_new(o, "id", json_integer(v->id));
    if (v->type != STYPE_AVRO)
        json_object_set_new(o, "schemaType", json_string(schema_type_name(v->type)));
    if (json_array_size(v->refs)) json_object_set(o, "references", v->refs);
    json_object_set_new(o, "schema", json_string(v->schema));
    return o;
}

/* Latest version of a subject (not deleted unless include_deleted). */
static sver *latest(reg *r, const char *s, bool include_deleted)
{
    sver *best = NULL;
    for (int i = 0; i < r->n; i++) {
        sver *v = r->v[i];
        if (strcmp(v->subject, s) || (v->deleted && !include_deleted)) continue;
        if (!best || v->version > best->version) best = v;
    }
    return best;
}

static bool subject_exists(reg *r, const char *s, bool include_deleted)
{
    return latest(r, s, include_deleted) != NULL;
}

static sver *by_id(reg *r, int id)
{
    sver *soft = NULL;
    for (int i = 0; i < r->n; i++) {
        if (r->v[i]->id != id) continue;
        if (!r->v[i]->deleted) return r->v[i];
        soft = r->v[i];
    }
    return soft;
}

/* ------------------------------------------------- schema from a body ---- */

typedef struct inschema {
    int type;
    char *norm;
    char *canon;
    json_t *refs;
    schema_ref_text *rt;
    int nrt;
} inschema;

static void inschema_free(inschema *s)
{
    free(s->norm);
    free(s->canon);
    json_decref(s->refs);
    free(s->rt);
    memset(s, 0, sizeof *s);
}

/* Resolves references of (type, refs) into texts (borrowed from the registry). */
static int resolve_refs(reg *r, json_t *refs, schema_ref_text **out, int *nout, char *err,
                        size_t errlen)
{
    *out = NULL;
    *nout = 0;
    if (!refs || json_is_null(refs)) return 0;
    if (!json_is_array(refs)) {
        snprintf(err, errlen, "\"references\" must be an array");
        return -1;
    }
    size_t n = json_array_size(refs);
    schema_ref_text *rt = xcalloc(n + 1, sizeof *rt);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(refs, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *subj = json_string_value(json_object_get(e, "subject"));
        json_t *jv = json_object_get(e, "version");
        if (!name || !subj || !json_is_integer(jv)) {
            snprintf(err, errlen, "reference %zu needs \"name\", \"subject\" and \"version\"", i);
            free(rt);
            return -1;
        }
        int ver = (int)json_integer_value(jv);
        sver *v = ver == -1 ? latest(r, subj, false) : find_ver(r, subj, ver);
        if (!v) {
            snprintf(err, errlen, "reference %s: subject %s version %d not found", name, subj,
                     ver);
            free(rt);
            return -1;
        }
        rt[i].name = json_string_value(json_object_get(e, "name"));
        rt[i].schema = v->schema;
    }
    *out = rt;
    *nout = (int)n;
    return 0;
}

/* Reads schema/schemaType/references from a request body; answers and returns -1 on error. */
static int read_schema(reg *r, json_t *body, inschema *s, http_response *resp)
{
    memset(s, 0, sizeof *s);
    json_t *js = json_object_get(body, "schema");
    if (!json_is_string(js) || !json_string_length(js)) {
        reply_err(resp, 422, 42201, "Invalid schema: \"schema\" must be a non-empty string");
        return -1;
    }
    json_t *jt = json_object_get(body, "schemaType");
    if (jt && !json_is_null(jt) && !json_is_string(jt)) {
        reply_err(resp, 422, 42201, "Invalid schema: \"schemaType\" must be a string");
        return -1;
    }
    s->type = schema_type_parse(json_is_string(jt) ? json_string_value(jt) : NULL);
    if (s->type < 0 || s->type == STYPE_PROTOBUF) {
        reply_err(resp, 422, 42201, "Invalid schema: unsupported schemaType %s",
                  json_string_value(jt));
        return -1;
    }
    char err[512] = "";
    json_t *refs = json_object_get(body, "references");
    if (resolve_refs(r, refs, &s->rt, &s->nrt, err, sizeof err) < 0) {
        reply_err(resp, 422, 42201, "Invalid schema: %s", err);
        return -1;
    }
    s->refs = json_is_array(refs) ? json_incref(refs) : json_array();
    /* keep only name/subject/version in stored references */
    json_t *clean = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(s->refs, i, e)
    {
        json_array_append_new(clean, json_pack("{s:O,s:O,s:O}", "name", json_object_get(e, "name"),
                                               "subject", json_object_get(e, "subject"),
                                               "version", json_object_get(e, "version")));
    }
    json_decref(s->refs);
    s->refs = clean;
    schema_src src = {json_string_value(js), s->rt, s->nrt};
    s->norm = schema_normalize(s->type, &src, err, sizeof err);
    if (!s->norm) {
        reply_err(resp, 422, 42201, "Invalid schema: %s", err);
        inschema_free(s);
        return -1;
    }
    s->canon = schema_canonical(s->type, s->norm);
    if (!s->canon) s->canon = xstrdup(s->norm);
    return 0;
}

static bool same_schema(const sver *v, const inschema *s)
{
    return v->type == s->type && !strcmp(v->canon, s->canon) && json_equal(v->refs, s->refs);
}

/* Previous (non-deleted) versions of a subject, oldest first, with resolved references. */
typedef struct prevset {
    schema_src *src;
    int *versions;
    schema_ref_text **rts;
    int n;
} prevset;

static void prev_load(reg *r, const char *subject, int only_version, prevset *ps)
{
    memset(ps, 0, sizeof *ps);
    ps->src = xcalloc((size_t)r->n + 1, sizeof *ps->src);
    ps->versions = xcalloc((size_t)r->n + 1, sizeof *ps->versions);
    ps->rts = xcalloc((size_t)r->n + 1, sizeof *ps->rts);
    for (int i = 0; i < r->n; i++) { /* r->v is sorted by subject, version */
        sver *v = r->v[i];
        if (v->deleted || strcmp(v->subject, subject)) continue;
        if (only_version > 0 && v->version != only_version) continue;
        char err[256];
        int nrt = 0;
        resolve_refs(r, v->refs, &ps->rts[ps->n], &nrt, err, sizeof err);
        ps->src[ps->n] = (schema_src){v->schema, ps->rts[ps->n], nrt};
        ps->versions[ps->n] = v->version;
        ps->n++;
    }
}

static void prev_free(prevset *ps)
{
    for (int i = 0; i < ps->n; i++) free(ps->rts[i]);
    free(ps->rts);
    free(ps->src);
    free(ps->versions);
}

static int type_of_subject(reg *r, const char *subject)
{
    sver *l = latest(r, subject, false);
    return l ? l->type : -1;
}

/* ------------------------------------------------------------ writes ---- */

static char *key_schema(const char *subject, int version)
{
    json_t *k = json_pack("{s:s,s:s,s:i,s:i}", "keytype", "SCHEMA", "subject", subject, "version",
                          version, "magic", 1);
    char *s = json_dumps(k, JSON_COMPACT);
    json_decref(k);
    return s;
}

static char *val_schema(const sver *v, bool deleted)
{
    json_t *o = json_pack("{s:s,s:i,s:i,s:s,s:s,s:O,s:b}", "subject", v->subject, "version",
                          v->version, "id", v->id, "schemaType", schema_type_name(v->type),
                          "schema", v->schema, "references", v->refs, "deleted", deleted);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static void wrecs_free(wrec *rs, int n)
{
    for (int i = 0; i < n; i++) {
        free(rs[i].key);
        free(rs[i].val);
    }
    free(rs);
}

static char *watermark_val(int id)
{
    return xasprintf("{\"id\":%d}", id);
}

/* ------------------------------------------------------------ handlers ---- */

static bool read_only_s(reg *r, const char *subject, http_response *resp)
{
    if (!strcmp(mode_for(r, subject), "READONLY")) {
        reply_err(resp, 422, 42205, "Subject %s is in read-only mode", subject ? subject : "");
        return true;
    }
    return false;
}

static bool read_only(reg *r, http_response *resp)
{
    return read_only_s(r, NULL, resp);
}

static void do_register(reg *r, const char *subject, const http_request *req,
                        http_response *resp)
{
    if (!check_subject(subject, resp) || read_only_s(r, subject, resp)) return;
    json_t *body = body_object(req, resp);
    if (!body) return;
    inschema s;
    if (read_schema(r, body, &s, resp) < 0) {
        json_decref(body);
        return;
    }
    /* IMPORT mode: the caller chooses the id (and optionally the version) */
    bool import = !strcmp(mode_for(r, subject), "IMPORT");
    json_t *jid = json_object_get(body, "id"), *jver = json_object_get(body, "version");
    int want_id = json_is_integer(jid) ? (int)json_integer_value(jid) : 0;
    int want_ver = json_is_integer(jver) ? (int)json_integer_value(jver) : 0;
    bool bad_id = (jid && !json_is_null(jid) && (!json_is_integer(jid) ||
                                                 json_integer_value(jid) < 1 ||
                                                 json_integer_value(jid) > INT32_MAX)) ||
                  (jver && !json_is_null(jver) && (!json_is_integer(jver) ||
                                                   json_integer_value(jver) < 1 ||
                                                   json_integer_value(jver) > INT32_MAX));
    json_decref(body);
    if (bad_id) {
        inschema_free(&s);
        return reply_err(resp, 422, 42201, "Invalid schema: \"id\" and \"version\" must be "
                         "integers in [1, 2^31-1]");
    }
    if ((want_id || want_ver) && !import) {
        inschema_free(&s);
        return reply_err(resp, 422, 42205, "Subject %s is not in import mode: \"id\" and "
                         "\"version\" cannot be chosen", subject);
    }
    if (import && want_id) {
        sver *o = by_id(r, want_id);
        if (o && !same_schema(o, &s)) {
            inschema_free(&s);
            return reply_err(resp, 422, 42205, "Overwrite new schema with id %d is not "
                             "permitted.", want_id);
        }
        sver *l = latest(r, subject, true);
        int ver = want_ver ? want_ver : (l ? l->version + 1 : 1);
        sver *ex = find_ver(r, subject, ver);
        if (ex && (ex->id != want_id || !same_schema(ex, &s))) {
            inschema_free(&s);
            return reply_err(resp, 422, 42205, "Overwrite of subject %s version %d is not "
                             "permitted.", subject, ver);
        }
        if (ex) {
            inschema_free(&s);
            return reply_json(resp, 200, json_pack("{s:i}", "id", want_id));
        }
        sver nv = {(char *)subject, ver, want_id, s.type, s.norm, NULL, s.refs, false};
        wrec rs[1];
        rs[0].key = key_schema(subject, ver);
        rs[0].val = val_schema(&nv, false);
        int rc = reg_write(r, rs, 1);
        free(rs[0].key);
        free(rs[0].val);
        inschema_free(&s);
        if (rc < 0) return reply_store_err(resp);
        LOGI("registry", "imported %s version %d id %d", subject, ver, want_id);
        return reply_json(resp, 200, json_pack("{s:i}", "id", want_id));
    }
    /* already registered (not deleted) under this subject: same id */
    for (int i = 0; i < r->n; i++) {
        sver *v = r->v[i];
        if (!v->deleted && !strcmp(v->subject, subject) && same_schema(v, &s)) {
            reply_json(resp, 200, json_pack("{s:i}", "id", v->id));
            inschema_free(&s);
            return;
        }
    }
    int cur_type = type_of_subject(r, subject);
    int level = import ? CL_NONE : level_for(r, subject); /* imports are not checked */
    if (cur_type >= 0 && cur_type != s.type && level != CL_NONE) {
        reply_err(resp, 409, 409,
                  "Schema being registered is incompatible with an earlier schema for subject "
                  "\"%s\": schema type %s differs from the subject's %s",
                  subject, schema_type_name(s.type), schema_type_name(cur_type));
        inschema_free(&s);
        return;
    }
    prevset ps;
    prev_load(r, subject, 0, &ps);
    json_t *reasons = json_array();
    schema_src ns = {s.norm, s.rt, s.nrt};
    bool ok = cur_type < 0 || compat_check(s.type, level, &ns, ps.src, ps.versions, ps.n, reasons);
    prev_free(&ps);
    if (!ok) {
        char *d = json_dumps(reasons, JSON_COMPACT);
        reply_err(resp, 409, 409,
                  "Schema being registered is incompatible with an earlier schema for subject "
                  "\"%s\", details: %s",
                  subject, d ? d : "[]");
        free(d);
        json_decref(reasons);
        inschema_free(&s);
        return;
    }
    json_decref(reasons);
    /* id: the same schema anywhere keeps its id; otherwise the next never-used one */
    int id = 0;
    for (int i = 0; i < r->n && !id; i++)
        if (same_schema(r->v[i], &s)) id = r->v[i]->id;
    if (!id) id = r->max_id + 1;
    sver *l = latest(r, subject, true);
    sver nv = {(char *)subject, l ? l->version + 1 : 1, id, s.type, s.norm, NULL, s.refs, false};
    wrec *rs = xcalloc(1, sizeof *rs);
    rs[0].key = key_schema(subject, nv.version);
    rs[0].val = val_schema(&nv, false);
    int rc = reg_write(r, rs, 1);
    wrecs_free(rs, 1);
    inschema_free(&s);
    if (rc < 0) return reply_store_err(resp);
    LOGI("registry", "registered %s version %d id %d", subject, nv.version, id);
    reply_json(resp, 200, json_pack("{s:i}", "id", id));
}

static void do_lookup(reg *r, const char *subject, const http_request *req, http_response *resp)
{
    json_t *body = body_object(req, resp);
    if (!body) return;
    inschema s;
    if (read_schema(r, body, &s, resp) < 0) {
        json_decref(body);
        return;
    }
    json_decref(body);
    bool del = qflag(req, "deleted");
    if (!subject_exists(r, subject, del)) {
        inschema_free(&s);
        return reply_err(resp, 404, 40401, "Subject '%s' not found.", subject);
    }
    for (int i = 0; i < r->n; i++) {
        sver *v = r->v[i];
        if ((!v->deleted || del) && !strcmp(v->subject, subject) && same_schema(v, &s)) {
            inschema_free(&s);
            return reply_json(resp, 200, sver_json(v, true));
        }
    }
    inschema_free(&s);
    reply_err(resp, 404, 40403, "Schema not found");
}

/* A live (not soft-deleted) version whose references name subject (and version, if > 0)? */
static sver *referenced_by(reg *r, const char *subject, int version)
{
    for (int i = 0; i < r->n; i++) {
        sver *v = r->v[i];
        if (v->deleted || !strcmp(v->subject, subject)) continue;
        size_t k;
        json_t *e;
        json_array_foreach(v->refs, k, e)
        {
            const char *s = json_string_value(json_object_get(e, "subject"));
            json_int_t rv = json_integer_value(json_object_get(e, "version"));
            if (s && !strcmp(s, subject) && (version <= 0 || rv == version || rv == -1))
                return v;
        }
    }
    return NULL;
}

static void do_delete_subject(reg *r, const char *subject, const http_request *req,
                              http_response *resp)
{
    if (read_only_s(r, subject, resp)) return;
    bool perm = qflag(req, "permanent");
    if (!subject_exists(r, subject, true))
        return reply_err(resp, 404, 40401, "Subject '%s' not found.", subject);
    if (perm && subject_exists(r, subject, false))
        return reply_err(resp, 404, 40405,
                         "Subject '%s' was not deleted first before being permanently deleted",
                         subject);
    if (!perm && !subject_exists(r, subject, false))
        return reply_err(resp, 404, 40404, "Subject '%s' was soft deleted.Set permanent=true to "
                         "delete permanently", subject);
    sver *user = referenced_by(r, subject, 0);
    if (user)
        return reply_err(resp, 422, 42206, "One or more references exist to the schema "
                         "{subject=%s}: referenced by %s version %d", subject, user->subject,
                         user->version);
    wrec *rs = xcalloc((size_t)r->n + 2, sizeof *rs);
    json_t *out = json_array();
    int n = 0;
    for (int i = 0; i < r->n; i++) {
        sver *v = r->v[i];
        if (strcmp(v->subject, subject)) continue;
        if (!perm && v->deleted) continue;
        rs[n].key = key_schema(subject, v->version);
        rs[n].val = perm ? NULL : val_schema(v, true);
        json_array_append_new(out, json_integer(v->version));
        n++;
    }
    if (perm) {
        rs[n].key = xstrdup("{\"keytype\":\"ID_WATERMARK\",\"magic\":0}");
        rs[n].val = watermark_val(r->max_id);
        n++;
    }
    int rc = reg_write(r, rs, n);
    wrecs_free(rs, n);
    if (rc < 0) {
        json_decref(out);
        return reply_store_err(resp);
    }
    reply_json(resp, 200, out);
}

static void do_delete_version(reg *r, const char *subject, const char *vs,
                              const http_request *req, http_response *resp)
{
    if (read_only_s(r, subject, resp)) return;
    bool perm = qflag(req, "permanent");
    int ver = parse_version(vs);
    if (ver < 0)
        return reply_err(resp, 422, 42202, "The specified version '%s' is not a valid version id. "
                         "Allowed values are between [1, 2^31-1] and the string \"latest\"", vs);
    if (!subject_exists(r, subject, true))
        return reply_err(resp, 404, 40401, "Subject '%s' not found.", subject);
    sver *v = ver == 0 ? latest(r, subject, perm) : find_ver(r, subject, ver);
    if (!v) return reply_err(resp, 404, 40402, "Version %s not found.", vs);
    if (perm && !v->deleted)
        return reply_err(resp, 404, 40407, "Subject '%s' Version %d was not deleted first "
                         "before being permanently deleted", subject, v->version);
    if (!perm && v->deleted)
        return reply_err(resp, 404, 40406, "Subject '%s' Version %d was soft deleted.Set "
                         "permanent=true to delete permanently", subject, v->version);
    int version = v->version;
    sver *user = referenced_by(r, subject, version);
    if (user)
        return reply_err(resp, 422, 42206, "One or more references exist to the schema "
                         "{subject=%s,version=%d}: referenced by %s version %d", subject, version,
                         user->subject, user->version);
    wrec *rs = xcalloc(2, sizeof *rs);
    rs[0].key = key_schema(subject, version);
    rs[0].val = perm ? NULL : val_schema(v, true);
    int n = 1;
    if (perm) {
        rs[1].key = xstrdup("{\"keytype\":\"ID_WATERMARK\",\"magic\":0}");
        rs[1].val = watermark_val(r->max_id);
        n = 2;
    }
    int rc = reg_write(r, rs, n);
    wrecs_free(rs, n);
    if (rc < 0) return reply_store_err(resp);
    reply_json(resp, 200, json_integer(version));
}

static void do_get_version(reg *r, const char *subject, const char *vs, bool raw,
                           bool referencedby, const http_request *req, http_response *resp)
{
    int ver = parse_version(vs);
    if (ver < 0)
        return reply_err(resp, 422, 42202, "The specified version '%s' is not a valid version id. "
                         "Allowed values are between [1, 2^31-1] and the string \"latest\"", vs);
    bool del = qflag(req, "deleted");
    if (!subject_exists(r, subject, true))
        return reply_err(resp, 404, 40401, "Subject '%s' not found.", subject);
    sver *v = ver == 0 ? latest(r, subject, false) : find_ver(r, subject, ver);
    if (!v || (v->deleted && !del && ver != 0))
        return reply_err(resp, 404, 40402, "Version %s not found.", vs);
    if (raw) return http_resp_set(resp, 200, CT_SR, v->schema, strlen(v->schema));
    if (referencedby) {
        json_t *out = json_array();
        for (int i = 0; i < r->n; i++) {
            size_t k;
            json_t *e;
            json_array_foreach(r->v[i]->refs, k, e)
            {
                const char *s = json_string_value(json_object_get(e, "subject"));
                json_t *jv = json_object_get(e, "version");
                if (s && !strcmp(s, subject) && json_integer_value(jv) == v->version) {
                    json_array_append_new(out, json_integer(r->v[i]->id));
                    break;
                }
            }
        }
        return reply_json(resp, 200, out);
    }
    reply_json(resp, 200, sver_json(v, true));
}

/* /subjects, /subjects/{s}, /subjects/{s}/versions[/{v}[/schema|/referencedby]] */
static void h_subjects(void *arg, const http_request *req, http_response *resp)
{
    reg *r = arg;
    const char *m = req->method;
    const char *rest = req->path + strlen("/subjects");
    if (!*rest || !strcmp(rest, "/")) {
        if (strcmp(m, "GET")) return reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
        bool del = qflag(req, "deleted");
        const char *prefix = http_query(req, "subjectPrefix");
        json_t *out = json_array();
        const char *last = NULL;
        for (int i = 0; i < r->n; i++) {
            sver *v = r->v[i];
            if (v->deleted && !del) continue;
            if (prefix && strncmp(v->subject, prefix, strlen(prefix))) continue;
            if (last && !strcmp(last, v->subject)) continue;
            json_array_append_new(out, json_string(v->subject));
            last = v->subject;
        }
        return reply_json(resp, 200, out);
    }
    if (*rest != '/') return reply_err(resp, 404, 404, "HTTP 404 Not Found");
    rest++;
    const char *slash = strchr(rest, '/');
    char *subject = xstrndup(rest, slash ? (size_t)(slash - rest) : strlen(rest));
    const char *tail = slash ? slash : "";
    if (!*subject) {
        free(subject);
        return reply_err(resp, 404, 404, "HTTP 404 Not Found");
    }
    if (!*tail || !strcmp(tail, "/")) {
        if (!strcmp(m, "POST")) do_lookup(r, subject, req, resp);
        else if (!strcmp(m, "DELETE")) do_delete_subject(r, subject, req, resp);
        else reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
    } else if (!strcmp(tail, "/versions") || !strcmp(tail, "/versions/")) {
        if (!strcmp(m, "POST")) {
            do_register(r, subject, req, resp);
        } else if (!strcmp(m, "GET")) {
            bool del = qflag(req, "deleted");
            if (!subject_exists(r, subject, del)) {
                reply_err(resp, 404, 40401, "Subject '%s' not found.", subject);
            } else {
                json_t *out = json_array();
                for (int i = 0; i < r->n; i++)
                    if (!strcmp(r->v[i]->subject, subject) && (!r->v[i]->deleted || del))
                        json_array_append_new(out, json_integer(r->v[i]->version));
                reply_json(resp, 200, out);
            }
        } else {
            reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
        }
    } else if (!strncmp(tail, "/versions/", 10)) {
        const char *vs = tail + 10;
        const char *vslash = strchr(vs, '/');
        char *ver = xstrndup(vs, vslash ? (size_t)(vslash - vs) : strlen(vs));
        const char *sub = vslash ? vslash : "";
        if (!strcmp(m, "GET") && (!*sub || !strcmp(sub, "/")))
            do_get_version(r, subject, ver, false, false, req, resp);
        else if (!strcmp(m, "GET") && !strcmp(sub, "/schema"))
            do_get_version(r, subject, ver, true, false, req, resp);
        else if (!strcmp(m, "GET") && !strcmp(sub, "/referencedby"))
            do_get_version(r, subject, ver, false, true, req, resp);
        else if (!strcmp(m, "DELETE") && !*sub)
            do_delete_version(r, subject, ver, req, resp);
        else if (*sub && strcmp(sub, "/schema") && strcmp(sub, "/referencedby"))
            reply_err(resp, 404, 404, "HTTP 404 Not Found");
        else
            reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
        free(ver);
    } else {
        reply_err(resp, 404, 404, "HTTP 404 Not Found");
    }
    free(subject);
}

/* /schemas, /schemas/types, /schemas/ids/{id}[/schema|/versions|/subjects] */
static void h_schemas(void *arg, const http_request *req, http_response *resp)
{
    reg *r = arg;
    if (strcmp(req->method, "GET")) return reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
    const char *rest = req->path + strlen("/schemas");
    if (!strcmp(rest, "/types") || !strcmp(rest, "/types/"))
        return reply_json(resp, 200, json_pack("[s,s]", "JSON", "AVRO"));
    if (!*rest || !strcmp(rest, "/")) {
        json_t *out = json_array();
        for (int i = 0; i < r->n; i++)
            if (!r->v[i]->deleted) json_array_append_new(out, sver_json(r->v[i], true));
        return reply_json(resp, 200, out);
    }
    if (strncmp(rest, "/ids/", 5)) return reply_err(resp, 404, 404, "HTTP 404 Not Found");
    const char *ids = rest + 5;
    const char *sl = strchr(ids, '/');
    char *idstr = xstrndup(ids, sl ? (size_t)(sl - ids) : strlen(ids));
    const char *tail = sl ? sl : "";
    int id = parse_version(idstr);
    bool bad = id <= 0;
    free(idstr);
    sver *v = bad ? NULL : by_id(r, id);
    if (!v) return reply_err(resp, 404, 40403, "Schema %d not found", bad ? -1 : id);
    if (!*tail || !strcmp(tail, "/")) {
        json_t *o = json_object();
        if (v->type != STYPE_AVRO)
            json_object_set_new(o, "schemaType", json_string(schema_type_name(v->type)));
        json_object_set_new(o, "schema", json_string(v->schema));
        if (json_array_size(v->refs)) json_object_set(o, "references", v->refs);
        return reply_json(resp, 200, o);
    }
    if (!strcmp(tail, "/schema")) return http_resp_set(resp, 200, CT_SR, v->schema,
                                                       strlen(v->schema));
    bool vers = !strcmp(tail, "/versions"), subs = !strcmp(tail, "/subjects");
    if (!vers && !subs) return reply_err(resp, 404, 404, "HTTP 404 Not Found");
    bool del = qflag(req, "deleted");
    json_t *out = json_array();
    for (int i = 0; i < r->n; i++) {
        sver *x = r->v[i];
        if (x->id != id || (x->deleted && !del)) continue;
        if (vers)
            json_array_append_new(out, json_pack("{s:s,s:i}", "subject", x->subject, "version",
                                                 x->version));
        else if (!json_array_size(out) ||
                 strcmp(json_string_value(json_array_get(out, json_array_size(out) - 1)),
                        x->subject))
            json_array_append_new(out, json_string(x->subject));
    }
    reply_json(resp, 200, out);
}

/* POST /compatibility/subjects/{s}/versions[/{v}] */
static void h_compat(void *arg, const http_request *req, http_response *resp)
{
    reg *r = arg;
    const char *rest = req->path + strlen("/compatibility");
    if (strncmp(rest, "/subjects/", 10)) return reply_err(resp, 404, 404, "HTTP 404 Not Found");
    rest += 10;
    const char *sl = strstr(rest, "/versions");
    if (!sl || sl == rest) return reply_err(resp, 404, 404, "HTTP 404 Not Found");
    if (strcmp(req->method, "POST"))
        return reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
    char *subject = xstrndup(rest, (size_t)(sl - rest));
    const char *vtail = sl + 9;
    int ver = 0;
    bool all = !*vtail || !strcmp(vtail, "/");
    if (!all) {
        if (*vtail != '/') {
            free(subject);
            return reply_err(resp, 404, 404, "HTTP 404 Not Found");
        }
        ver = parse_version(vtail + 1);
        if (ver < 0) {
            reply_err(resp, 422, 42202, "The specified version '%s' is not a valid version id. "
                      "Allowed values are between [1, 2^31-1] and the string \"latest\"",
                      vtail + 1);
            free(subject);
            return;
        }
    }
    json_t *body = body_object(req, resp);
    if (!body) {
        free(subject);
        return;
    }
    inschema s;
    if (read_schema(r, body, &s, resp) < 0) {
        json_decref(body);
        free(subject);
        return;
    }
    json_decref(body);
    bool verbose = qflag(req, "verbose");
    int level = level_for(r, subject);
    json_t *reasons = json_array();
    bool ok = true;
    if (!subject_exists(r, subject, false)) {
        if (!all) {
            reply_err(resp, 404, 40401, "Subject '%s' not found.", subject);
            goto out;
        }
    } else {
        if (ver > 0 && !find_ver(r, subject, ver)) {
            reply_err(resp, 404, 40402, "Version %d not found.", ver);
            goto out;
        }
        int cur_type = type_of_subject(r, subject);
        if (cur_type != s.type && level != CL_NONE) {
            ok = false;
            char *m = xasprintf("{errorType:'TYPE_MISMATCH', description:'schema type %s differs "
                                "from the subject's %s'}", schema_type_name(s.type),
                                schema_type_name(cur_type));
            json_array_append_new(reasons, json_string(m));
            free(m);
        } else {
            prevset ps;
            /* a given version: check against it (the level's direction, not transitive) */
            int lvl = level;
            if (ver > 0) {
                if (lvl == CL_BACKWARD_TRANSITIVE) lvl = CL_BACKWARD;
                if (lvl == CL_FORWARD_TRANSITIVE) lvl = CL_FORWARD;
                if (lvl == CL_FULL_TRANSITIVE) lvl = CL_FULL;
            }
            prev_load(r, subject, ver, &ps);
            schema_src ns = {s.norm, s.rt, s.nrt};
            ok = compat_check(s.type, lvl, &ns, ps.src, ps.versions, ps.n, reasons);
            prev_free(&ps);
        }
    }
    {
        json_t *o = json_pack("{s:b}", "is_compatible", ok);
        if (verbose) json_object_set(o, "messages", reasons);
        reply_json(resp, 200, o);
    }
out:
    json_decref(reasons);
    inschema_free(&s);
    free(subject);
}

static int write_config(reg *r, const char *subject, int level)
{
    wrec rs[1];
    json_t *k = json_pack("{s:s,s:o,s:i}", "keytype", "CONFIG", "subject",
                          subject ? json_string(subject) : json_null(), "magic", 0);
    rs[0].key = json_dumps(k, JSON_COMPACT);
    json_decref(k);
    rs[0].val = level >= 0 ? xasprintf("{\"compatibilityLevel\":\"%s\"}", compat_level_name(level))
                           : NULL;
    int rc = reg_write(r, rs, 1);
    free(rs[0].key);
    free(rs[0].val);
    return rc;
}

/* /config, /config/{s} */
static void h_config(void *arg, const http_request *req, http_response *resp)
{
    reg *r = arg;
    const char *rest = req->path + strlen("/config");
    const char *subject = NULL;
    if (*rest == '/' && rest[1]) subject = rest + 1;
    else if (*rest && strcmp(rest, "/")) return reply_err(resp, 404, 404, "HTTP 404 Not Found");
    if (subject && !check_subject(subject, resp)) return;
    const char *m = req->method;
    if (!strcmp(m, "GET")) {
        int lvl;
        if (subject) {
            subj_cfg *c = cfg_find(r, subject);
            if (c && c->level < 0) c = NULL;
            if (!c && !qflag(req, "defaultToGlobal"))
                return reply_err(resp, 404, 40408, "Subject '%s' does not have subject-level "
                                 "compatibility configured", subject);
            lvl = c ? c->level : level_global(r);
        } else {
            lvl = level_global(r);
        }
        return reply_json(resp, 200, json_pack("{s:s}", "compatibilityLevel",
                                               compat_level_name(lvl)));
    }
    if (!strcmp(m, "PUT")) {
        json_t *body = body_object(req, resp);
        if (!body) return;
        const char *ls = json_string_value(json_object_get(body, "compatibility"));
        if (!ls) ls = json_string_value(json_object_get(body, "compatibilityLevel"));
        int lvl = compat_level_parse(ls);
        if (lvl < 0) {
            json_decref(body);
            return reply_err(resp, 422, 42203, "Invalid compatibility level. Valid values are "
                             "none, backward, forward, full, backward_transitive, "
                             "forward_transitive, and full_transitive");
        }
        json_decref(body);
        if (read_only(r, resp)) return;
        if (write_config(r, subject, lvl) < 0) return reply_store_err(resp);
        return reply_json(resp, 200, json_pack("{s:s}", "compatibility", compat_level_name(lvl)));
    }
    if (!strcmp(m, "DELETE")) {
        if (read_only(r, resp)) return;
        int prev;
        if (subject) {
            subj_cfg *c = cfg_find(r, subject);
            if (c && c->level < 0) c = NULL;
            if (!c && !subject_exists(r, subject, true))
                return reply_err(resp, 404, 40401, "Subject '%s' not found.", subject);
            prev = c ? c->level : level_global(r);
        } else {
            prev = level_global(r);
        }
        if (write_config(r, subject, -1) < 0) return reply_store_err(resp);
        return reply_json(resp, 200, json_pack("{s:s}", "compatibilityLevel",
                                               compat_level_name(prev)));
    }
    reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
}

static int write_mode(reg *r, const char *subject, const char *mode)
{
    wrec rs[1];
    json_t *k = json_pack("{s:s,s:o,s:i}", "keytype", "MODE", "subject",
                          subject ? json_string(subject) : json_null(), "magic", 0);
    rs[0].key = json_dumps(k, JSON_COMPACT);
    json_decref(k);
    rs[0].val = mode ? xasprintf("{\"mode\":\"%s\"}", mode) : NULL;
    int rc = reg_write(r, rs, 1);
    free(rs[0].key);
    free(rs[0].val);
    return rc;
}

/* /mode, /mode/{s}: READWRITE, READONLY, IMPORT */
static void h_mode(void *arg, const http_request *req, http_response *resp)
{
    reg *r = arg;
    const char *rest = req->path + strlen("/mode");
    const char *subject = NULL;
    if (*rest == '/' && rest[1] && !strchr(rest + 1, '/')) subject = rest + 1;
    else if (*rest && strcmp(rest, "/")) return reply_err(resp, 404, 404, "HTTP 404 Not Found");
    if (subject && !check_subject(subject, resp)) return;
    subj_cfg *c = subject ? cfg_find(r, subject) : NULL;
    if (c && !c->mode[0]) c = NULL;
    if (!strcmp(req->method, "GET")) {
        if (subject && !c && !qflag(req, "defaultToGlobal"))
            return reply_err(resp, 404, 40409, "Subject '%s' does not have subject-level mode "
                             "configured", subject);
        return reply_json(resp, 200, json_pack("{s:s}", "mode", c ? c->mode : r->mode));
    }
    if (!strcmp(req->method, "DELETE")) {
        if (!subject) return reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
        if (!c) return reply_err(resp, 404, 40401, "Subject '%s' not found.", subject);
        char prev[16];
        snprintf(prev, sizeof prev, "%s", c->mode);
        if (write_mode(r, subject, NULL) < 0) return reply_store_err(resp);
        return reply_json(resp, 200, json_pack("{s:s}", "mode", prev));
    }
    if (strcmp(req->method, "PUT")) return reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
    json_t *body = body_object(req, resp);
    if (!body) return;
    const char *mode = json_string_value(json_object_get(body, "mode"));
    if (!mode ||
        (strcmp(mode, "READWRITE") && strcmp(mode, "READONLY") && strcmp(mode, "IMPORT"))) {
        json_decref(body);
        return reply_err(resp, 422, 42204, "Invalid mode. Valid values are READWRITE, READONLY "
                         "and IMPORT");
    }
    char m[16];
    snprintf(m, sizeof m, "%s", mode);
    json_decref(body);
    if (write_mode(r, subject, m) < 0) return reply_store_err(resp);
    reply_json(resp, 200, json_pack("{s:s}", "mode", m));
}

/* -------------------------------------------------------------- lifecycle ---- */

int registry_start(broker *b, http_server *http)
{
    if (!http) return 0;
    reg *r = xcalloc(1, sizeof *r);
    r->b = b;
    r->global_level = -1;
    snprintf(r->mode, sizeof r->mode, "READWRITE");
    r->t = topic_find(b, SCHEMAS_TOPIC);
    if (!r->t) {
        int rc = topic_create(b, SCHEMAS_TOPIC, 1, "cleanup.policy=compact\nretention.ms=-1\n",
                              true, &r->t);
        if (rc != 0 || !r->t) {
            LOGE("registry", "cannot create %s: error %d", SCHEMAS_TOPIC, rc);
            free(r);
            return -1;
        }
    }
    if (r->t->nparts < 1 || replay(r) < 0) {
        free(r);
        return -1;
    }
    g_reg = r;
    http_route(http, "*", "/subjects", h_subjects, r);
    http_route(http, "*", "/schemas", h_schemas, r);
    http_route(http, "*", "/compatibility", h_compat, r);
    http_route(http, "*", "/config", h_config, r);
    http_route(http, "*", "/mode", h_mode, r);
    LOGI("registry", "schema registry: %d schema versions, max id %d, compatibility %s",
         r->n, r->max_id, compat_level_name(level_global(r)));
    return 0;
}

void registry_stop(broker *b)
{
    (void)b;
    reg *r = g_reg;
    if (!r) return;
    g_reg = NULL;
    for (int i = 0; i < r->n; i++) sver_free(r->v[i]);
    free(r->v);
    for (int i = 0; i < r->ncfg; i++) free(r->cfg[i].subject);
    free(r->cfg);
    free(r);
}
