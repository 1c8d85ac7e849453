/* records — REST produce bodies to records; see records.h. */
#include "rest/records.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/util.h"
#include "eddy/schema.h"
#include "registry/avro_codec.h"

static int bad(char *err, size_t errlen, int code, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return code;
}

static void set_bytes(rest_side *s, const void *p, size_t n)
{
    s->bytes = xmalloc(n ? n : 1);
    if (n) memcpy(s->bytes, p, n);
    s->len = n;
}

static int side_base64(rest_side *s, const json_t *data, char *err, size_t errlen)
{
    if (!json_is_string(data))
        return bad(err, errlen, REST_ERR_INVALID_PAYLOAD, "BINARY data must be a base64 string");
    s->bytes = b64_decode_alloc(json_string_value(data), json_string_length(data), &s->len);
    if (!s->bytes)
        return bad(err, errlen, REST_ERR_INVALID_PAYLOAD, "BINARY data is not valid base64");
    return 0;
}

static void side_json(rest_side *s, const json_t *data)
{
    char *t = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    s->bytes = (uint8_t *)t;
    s->len = strlen(t);
}

static bool is_schema_type(const char *t)
{
    return !strcmp(t, "AVRO") || !strcmp(t, "JSONSCHEMA") || !strcmp(t, "PROTOBUF");
}

/* One v3 key/value object: {"type", "data", "schema_id", "schema_version", "subject"}. */
static int parse_side_v3(const json_t *o, const char *what, rest_side *s, char *err, size_t errlen)
{
    s->id = -1;
    s->version = -1;
    if (!o || json_is_null(o)) {
        s->null = true;
        return 0;
    }
    if (!json_is_object(o)) {
        snprintf(err, errlen, "%s must be an object like {\"type\": \"JSON\", \"data\": …}", what);
        return REST_ERR_BAD_REQUEST;
    }
    const json_t *data = json_object_get(o, "data");
    const json_t *type = json_object_get(o, "type");
    const json_t *sid = json_object_get(o, "schema_id");
    const json_t *sver = json_object_get(o, "schema_version");
    const json_t *subj = json_object_get(o, "subject");
    if (type && !json_is_string(type)) {
        snprintf(err, errlen, "%s.type must be a string", what);
        return REST_ERR_BAD_REQUEST;
    }
    const char *t = type ? json_string_value(type) : NULL;
    if ((sid && !json_is_integer(sid)) || (sver && !json_is_integer(sver)) ||
        (subj && !json_is_string(subj))) {
        snprintf(err, errlen, "%s: schema_id and schema_version are integers, subject a string",
                 what);
        return REST_ERR_BAD_REQUEST;
    }
    if (sid || sver || subj || (t && is_schema_type(t)) || !t) {
        if (!data || json_is_null(data)) {
            s->null = true;
            return 0;
        }
        s->schema = true;
        s->id = sid ? (int32_t)json_integer_value(sid) : -1;
        s->version = sver ? (int32_t)json_integer_value(sver) : -1;
        s->subject = subj ? xstrdup(json_string_value(subj)) : NULL;
        s->type = t ? xstrdup(t) : NULL;
        s->data = json_incref((json_t *)data);
        return 0;
    }
    if (!data || json_is_null(data)) {
        s->null = true;
        return 0;
    }
    if (!strcmp(t, "BINARY")) return side_base64(s, data, err, errlen);
    if (!strcmp(t, "JSON")) {
        side_json(s, data);
        return 0;
    }
    if (!strcmp(t, "STRING")) {
        if (!json_is_string(data)) {
            snprintf(err, errlen, "%s: STRING data must be a string", what);
            return REST_ERR_INVALID_PAYLOAD;
        }
        set_bytes(s, json_string_value(data), json_string_length(data));
        return 0;
    }
    snprintf(err, errlen,
             "%s.type \"%.40s\" is not one of BINARY, JSON, STRING, AVRO, "
             "JSONSCHEMA, PROTOBUF",
             what, t);
    return REST_ERR_BAD_REQUEST;
}

static int parse_headers(const json_t *hs, rest_rec *r, char *err, size_t errlen)
{
    if (!hs || json_is_null(hs)) return 0;
    if (!json_is_array(hs))
        return bad(err, errlen, REST_ERR_BAD_REQUEST,
                   "headers must be an array of {\"name\": …, \"value\": <base64>}");
    r->headers = xcalloc(json_array_size(hs) + 1, sizeof *r->headers);
    size_t i;
    json_t *h;
    json_array_foreach(hs, i, h)
    {
        const char *name = json_string_value(json_object_get(h, "name"));
        const json_t *v = json_object_get(h, "value");
        if (!name) return bad(err, errlen, REST_ERR_BAD_REQUEST, "a header without a name");
        rest_header *o = &r->headers[r->nheaders++];
        o->name = xstrdup(name);
        if (!v || json_is_null(v)) continue;
        if (!json_is_string(v) ||
            !(o->value = b64_decode_alloc(json_string_value(v), json_string_length(v), &o->len)))
            return bad(err, errlen, REST_ERR_BAD_REQUEST, "a header value is not base64");
    }
    return 0;
}

int rest_parse_v3(const json_t *o, rest_rec *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->partition = -1;
    r->timestamp = -1;
    r->key.id = r->value.id = -1;
    if (!json_is_object(o))
        return bad(err, errlen, REST_ERR_BAD_REQUEST, "a record is a JSON object");
    const json_t *p = json_object_get(o, "partition_id");
    if (p && !json_is_null(p)) {
        if (!json_is_integer(p) || json_integer_value(p) < 0 || json_integer_value(p) > INT32_MAX)
            return bad(err, errlen, REST_ERR_BAD_REQUEST,
                       "partition_id must be a non-negative integer");
        r->partition = (int32_t)json_integer_value(p);
    }
    const json_t *ts = json_object_get(o, "timestamp");
    if (ts && !json_is_null(ts)) {
        if (!json_is_string(ts) || (r->timestamp = rest_parse_time(json_string_value(ts))) < 0)
            return bad(err, errlen, REST_ERR_BAD_REQUEST,
                       "timestamp must be an ISO-8601 time such as 2024-05-01T12:00:00Z");
    }
    int rc = parse_headers(json_object_get(o, "headers"), r, err, errlen);
    if (!rc) rc = parse_side_v3(json_object_get(o, "key"), "key", &r->key, err, errlen);
    if (!rc) rc = parse_side_v3(json_object_get(o, "value"), "value", &r->value, err, errlen);
    return rc;
}

static void batch_push(rest_batch *b, size_t *cap)
{
    if ((size_t)b->n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        b->r = xrealloc(b->r, *cap * sizeof *b->r);
    }
}

int rest_parse_v3_stream(const char *body, size_t len, rest_batch *out, size_t *consumed, char *err,
                         size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0, off = 0;
    for (;;) {
        while (off < len && isspace((unsigned char)body[off])) off++;
        *consumed = off;
        if (off >= len) break;
        json_error_t je;
        json_t *o = json_loadb(body + off, len - off, JSON_DISABLE_EOF_CHECK, &je);
        if (!o) {
            /* the broken object is the stream's last record (empty), so results stay aligned */
            batch_push(out, &cap);
            rest_rec *x = &out->r[out->n++];
            memset(x, 0, sizeof *x);
            x->partition = x->timestamp = x->key.id = x->value.id = -1;
            x->key.null = x->value.null = true;
            snprintf(err, errlen, "malformed JSON at byte %zu: %s", off + (size_t)je.position,
                     je.text);
            x->error = REST_ERR_BAD_REQUEST;
            x->error_msg = xstrdup(err);
            return REST_ERR_BAD_REQUEST;
        }
        off += (size_t)je.position;
        batch_push(out, &cap);
        rest_rec *x = &out->r[out->n++];
        char msg[256];
        int rc = rest_parse_v3(o, x, msg, sizeof msg);
        json_decref(o);
        if (rc) {
            x->error = rc;
            x->error_msg = xstrdup(msg);
        }
    }
    if (out->n == 0) return bad(err, errlen, REST_ERR_BAD_REQUEST, "the request has no record");
    return 0;
}

int rest_v2_format(const char *ct, char *fmt, size_t fmtlen)
{
    static const char *fmts[] = {"json", "binary", "avro", "jsonschema", "protobuf"};
    const char *pre = "application/vnd.kafka.";
    if (!ct || strncmp(ct, pre, strlen(pre))) return REST_ERR_UNSUPPORTED_MEDIA;
    const char *p = ct + strlen(pre);
    for (size_t i = 0; i < ARRAY_LEN(fmts); i++) {
        size_t n = strlen(fmts[i]);
        if (!strncmp(p, fmts[i], n) && !strncmp(p + n, ".v2+json", 8)) {
            snprintf(fmt, fmtlen, "%s", fmts[i]);
            return 0;
        }
    }
    return REST_ERR_UNSUPPORTED_MEDIA;
}

static int parse_side_v2(const json_t *d, const char *fmt, int32_t schema_id, rest_side *s,
                         char *err, size_t errlen)
{
    s->id = -1;
    s->version = -1;
    if (!d || json_is_null(d)) {
        s->null = true;
        return 0;
    }
    if (!strcmp(fmt, "binary")) return side_base64(s, d, err, errlen);
    if (!strcmp(fmt, "json")) {
        side_json(s, d);
        return 0;
    }
    if (!strcmp(fmt, "protobuf"))
        return bad(err, errlen, REST_ERR_INVALID_PAYLOAD,
                   "protobuf payloads are not supported; send them as binary");
    if (schema_id < 0)
        return bad(err, errlen, REST_ERR_SCHEMA_REQUIRED,
                   "records in this format need key_schema_id / value_schema_id (register the "
                   "schema with the registry first)");
    s->schema = true;
    s->id = schema_id;
    s->type = xstrdup(!strcmp(fmt, "avro") ? "AVRO" : "JSONSCHEMA");
    s->data = json_incref((json_t *)d);
    return 0;
}

int rest_parse_v2(const char *body, size_t len, const char *fmt, rest_batch *out, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *o = json_loadb(body, len, 0, &je);
    if (!o) {
        snprintf(err, errlen, "malformed JSON: %s", je.text);
        return REST_ERR_BAD_REQUEST;
    }
    int rc = 0;
    const json_t *recs = json_object_get(o, "records");
    int32_t ksid = -1, vsid = -1;
    const json_t *k = json_object_get(o, "key_schema_id"),
                 *v = json_object_get(o, "value_schema_id");
    if (json_is_integer(k)) ksid = (int32_t)json_integer_value(k);
    if (json_is_integer(v)) vsid = (int32_t)json_integer_value(v);
    if (json_object_get(o, "key_schema") || json_object_get(o, "value_schema"))
        rc = bad(err, errlen, REST_ERR_SCHEMA_REQUIRED,
                 "schemas given as text are not registered by this proxy; register them and "
                 "pass key_schema_id / value_schema_id");
    else if (!json_is_array(recs) || json_array_size(recs) == 0)
        rc = bad(err, errlen, REST_ERR_BAD_REQUEST, "\"records\" must be a non-empty array");
    size_t cap = 0, i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        if (rc) break;
        batch_push(out, &cap);
        rest_rec *x = &out->r[out->n++];
        memset(x, 0, sizeof *x);
        x->partition = -1;
        x->timestamp = -1;
        if (!json_is_object(r)) {
            rc = bad(err, errlen, REST_ERR_BAD_REQUEST, "a record is a JSON object");
            break;
        }
        const json_t *p = json_object_get(r, "partition");
        if (p && !json_is_null(p)) {
            if (!json_is_integer(p) || json_integer_value(p) < 0 ||
                json_integer_value(p) > INT32_MAX) {
                rc = bad(err, errlen, REST_ERR_BAD_REQUEST,
                         "partition must be a non-negative integer");
                break;
            }
            x->partition = (int32_t)json_integer_value(p);
        }
        rc = parse_side_v2(json_object_get(r, "key"), fmt, ksid, &x->key, err, errlen);
        if (!rc) rc = parse_side_v2(json_object_get(r, "value"), fmt, vsid, &x->value, err, errlen);
    }
    json_decref(o);
    return rc;
}

/* ---------------------------------------------------------------- schemas ---- */

/* A schema compiled for encoding: Avro parsed, or JSON Schema compiled (borrowing json). */
typedef struct compiled {
    int32_t id;
    char *type, *text; /* what it was compiled from */
    avro_schema *avro;
    json_t *json;
    eddy_jsonschema *js;
    uint64_t used; /* cache clock at the last use */
} compiled;

struct rest_schema_cache {
    compiled e[REST_SCHEMA_CACHE];
    int n;
    uint64_t clock;
    long compiles;
};

static void compiled_free(compiled *c)
{
    avro_schema_free(c->avro);
    eddy_jsonschema_free(c->js);
    json_decref(c->json);
    free(c->type);
    free(c->text);
    memset(c, 0, sizeof *c);
}

/* Compiles sc (type t) into c: 0, or -1 with the reason in err. */
static int compile(compiled *c, const rest_schema *sc, const char *t, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (!strcmp(t, "AVRO")) {
        c->avro = avro_schema_parse(sc->text, err, errlen);
        if (!c->avro) return -1;
    } else {
        c->json = json_loads(sc->text, JSON_DECODE_ANY, NULL);
        if (!c->json || eddy_jsonschema_new(c->json, &c->js, err, errlen)) {
            compiled_free(c);
            return -1;
        }
    }
    c->id = sc->id;
    c->type = xstrdup(t);
    c->text = xstrdup(sc->text);
    return 0;
}

rest_schema_cache *rest_schema_cache_new(void)
{
    return xcalloc(1, sizeof(rest_schema_cache));
}

void rest_schema_cache_free(rest_schema_cache *c)
{
    if (!c) return;
    for (int i = 0; i < c->n; i++) compiled_free(&c->e[i]);
    free(c);
}

long rest_schema_cache_compiles(const rest_schema_cache *c)
{
    return c ? c->compiles : 0;
}

/* The compiled form of sc: from cache (when its text is the same) or compiled into it; without a
 * cache, compiled into *tmp (the caller frees it). NULL with the reason in err. */
static const compiled *compiled_get(rest_schema_cache *cache, const rest_schema *sc, const char *t,
                                    compiled *tmp, char *err, size_t errlen)
{
    if (!cache) return compile(tmp, sc, t, err, errlen) ? NULL : tmp;
    compiled *slot = NULL;
    for (int i = 0; i < cache->n && !slot; i++) {
        compiled *c = &cache->e[i];
        if (c->id != sc->id) continue;
        if (!strcmp(c->type, t) && !strcmp(c->text, sc->text)) {
            c->used = ++cache->clock;
            return c;
        }
        slot = c; /* same id, other text: replaced */
    }
    compiled fresh;
    if (compile(&fresh, sc, t, err, errlen)) return NULL;
    cache->compiles++;
    if (!slot && cache->n < REST_SCHEMA_CACHE) slot = &cache->e[cache->n++];
    if (!slot) { /* full: the least recently used goes */
        slot = &cache->e[0];
        for (int i = 1; i < cache->n; i++)
            if (cache->e[i].used < slot->used) slot = &cache->e[i];
    }
    compiled_free(slot);
    *slot = fresh;
    slot->used = ++cache->clock;
    return slot;
}

static int encode_side(rest_side *s, const rest_schema *sc, rest_schema_cache *cache, char *err,
                       size_t errlen)
{
    const char *t = sc->type ? sc->type : "AVRO";
    wbuf w;
    wbuf_init(&w, 0);
    uint8_t hdr[5] = {0};
    put_be32(hdr + 1, (uint32_t)sc->id);
    wbuf_put(&w, hdr, 5);
    int rc = 0;
    if (!strcmp(t, "AVRO") || !strcmp(t, "JSON")) {
        compiled tmp = {0};
        const compiled *c = compiled_get(cache, sc, t, &tmp, err, errlen);
        if (!c) {
            rc = REST_ERR_INVALID_PAYLOAD;
        } else if (c->avro) {
            if (avro_encode_json(c->avro, s->data, &w, err, errlen)) rc = REST_ERR_INVALID_PAYLOAD;
        } else if (eddy_jsonschema_validate(c->js, s->data, "data", err, errlen)) {
            rc = REST_ERR_INVALID_PAYLOAD;
        } else {
            char *txt = json_dumps(s->data, JSON_COMPACT | JSON_ENCODE_ANY);
            wbuf_put(&w, txt, strlen(txt));
            free(txt);
        }
        if (!cache) compiled_free(&tmp);
    } else {
        snprintf(err, errlen, "%s payloads are not supported; send them as BINARY", t);
        rc = REST_ERR_INVALID_PAYLOAD;
    }
    if (!rc) {
        s->bytes = w.data;
        s->len = w.len;
    } else {
        wbuf_free(&w);
    }
    return rc;
}

static int resolve_side(rest_side *s, const char *topic, const char *which, rest_lookup_fn lookup,
                        void *arg, rest_schema_cache *cache, char *err, size_t errlen)
{
    if (!s->schema || s->bytes) return 0;
    rest_schema sc = {0};
    char defsubj[512];
    const char *subject = s->subject;
    if (s->id < 0 && !subject) {
        snprintf(defsubj, sizeof defsubj, "%s-%s", topic, which);
        subject = defsubj;
    }
    int found = lookup ? lookup(arg, s->id, s->id >= 0 ? NULL : subject, s->version, &sc) : -1;
    if (found != 0) {
        /* no type, no schema named, none registered for the topic: the data is plain JSON */
        if (!s->type && s->id < 0 && !s->subject && s->version < 0) {
            side_json(s, s->data);
            return 0;
        }
        if (s->id >= 0)
            snprintf(err, errlen, "%s: schema %d not found", which, (int)s->id);
        else
            snprintf(err, errlen, "%s: no schema for subject %s", which, subject);
        return REST_ERR_SCHEMA_NOT_FOUND;
    }
    const char *want = s->type;
    const char *have = sc.type ? sc.type : "AVRO";
    if (want && strcmp(want, have) && !(!strcmp(want, "JSONSCHEMA") && !strcmp(have, "JSON"))) {
        snprintf(err, errlen, "%s: type %s does not match the schema's type %s", which, want, have);
        return REST_ERR_INVALID_PAYLOAD;
    }
    return encode_side(s, &sc, cache, err, errlen);
}

int rest_resolve_cached(rest_rec *r, const char *topic, rest_lookup_fn lookup, void *arg,
                        rest_schema_cache *c, char *err, size_t errlen)
{
    int rc = resolve_side(&r->key, topic, "key", lookup, arg, c, err, errlen);
    if (!rc) rc = resolve_side(&r->value, topic, "value", lookup, arg, c, err, errlen);
    return rc;
}

int rest_resolve(rest_rec *r, const char *topic, rest_lookup_fn lookup, void *arg, char *err,
                 size_t errlen)
{
    return rest_resolve_cached(r, topic, lookup, arg, NULL, err, errlen);
}

static void side_free(rest_side *s)
{
    free(s->bytes);
    free(s->subject);
    free(s->type);
    json_decref(s->data);
}

void rest_rec_free(rest_rec *r)
{
    free(r->error_msg);
    side_free(&r->key);
    side_free(&r->value);
    for (int i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
}

void rest_batch_free(rest_batch *b)
{
    for (int i = 0; i < b->n; i++) rest_rec_free(&b->r[i]);
    free(b->r);
    b->r = NULL;
    b->n = 0;
}

/* ---------------------------------------------------------------- helpers ---- */

uint32_t rest_murmur2(const uint8_t *p, size_t n)
{
    const uint32_t m = 0x5bd1e995;
    uint32_t h = 0x9747b28c ^ (uint32_t)n;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t k = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
                     (uint32_t)p[i + 3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    switch (n & 3) {
    case 3: h ^= (uint32_t)p[i + 2] << 16; /* fall through */
    case 2: h ^= (uint32_t)p[i + 1] << 8;  /* fall through */
    case 1: h ^= p[i]; h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int64_t rest_parse_time(const char *s)
{
    int64_t ms;
    return time_parse_rfc3339(s, &ms) || ms < 0 ? -1 : ms;
}

void rest_format_time(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}
