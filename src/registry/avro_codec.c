/* avro — JSON to Avro binary; see avro.h.
 *
 * The schema is kept as the parsed JSON plus a table of named types (records, enums, fixed) by
 * full name, so a reference by name (also a recursive one) resolves to its definition. Encoding
 * walks schema and data together. */
#include "registry/avro_codec.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

#define AVRO_MAX_DEPTH 64

typedef struct named {
    char *fullname;
    json_t *def; /* borrowed from root */
} named;

struct avro_schema {
    json_t *root;
    named *n;
    int nn, an;
};

static const char *PRIMS[] = {"null",  "boolean", "int",   "long",
                              "float", "double",  "bytes", "string"};

static bool is_prim(const char *t)
{
    for (size_t i = 0; i < ARRAY_LEN(PRIMS); i++)
        if (!strcmp(t, PRIMS[i])) return true;
    return false;
}

static char *full_name(const char *name, const char *ns)
{
    if (strchr(name, '.') || !ns || !*ns) return xstrdup(name);
    return xasprintf("%s.%s", ns, name);
}

static json_t *lookup(const avro_schema *s, const char *name, const char *ns)
{
    char *fn = full_name(name, ns);
    json_t *d = NULL;
    for (int i = 0; i < s->nn && !d; i++)
        if (!strcmp(s->n[i].fullname, fn)) d = s->n[i].def;
    /* a name without namespace may also mean a type defined in the null namespace */
    for (int i = 0; i < s->nn && !d; i++)
        if (!strcmp(s->n[i].fullname, name)) d = s->n[i].def;
    free(fn);
    return d;
}

/* Collects named types and checks the schema's shape. ns: the enclosing namespace. */
static int walk(avro_schema *s, json_t *t, const char *ns, int depth, char *err, size_t errlen)
{
    if (depth > AVRO_MAX_DEPTH) {
        snprintf(err, errlen, "schema nested deeper than %d", AVRO_MAX_DEPTH);
        return -1;
    }
    if (json_is_string(t)) {
        const char *n = json_string_value(t);
        if (is_prim(n) || lookup(s, n, ns)) return 0;
        snprintf(err, errlen, "unknown type \"%s\"", n);
        return -1;
    }
    if (json_is_array(t)) {
        size_t i;
        json_t *b;
        if (json_array_size(t) == 0) {
            snprintf(err, errlen, "a union needs at least one branch");
            return -1;
        }
        json_array_foreach(t, i, b)
        {
            if (json_is_array(b)) {
                snprintf(err, errlen, "a union may not contain a union");
                return -1;
            }
            if (walk(s, b, ns, depth + 1, err, errlen)) return -1;
        }
        return 0;
    }
    const char *type = json_is_object(t) ? json_string_value(json_object_get(t, "type")) : NULL;
    if (!type) {
        snprintf(err, errlen, "a schema is a type name, a union or an object with a \"type\"");
        return -1;
    }
    if (is_prim(type)) return 0;
    if (!strcmp(type, "array"))
        return walk(s, json_object_get(t, "items"), ns, depth + 1, err, errlen);
    if (!strcmp(type, "map"))
        return walk(s, json_object_get(t, "values"), ns, depth + 1, err, errlen);
    if (strcmp(type, "record") && strcmp(type, "error") && strcmp(type, "enum") &&
        strcmp(type, "fixed")) {
        if (lookup(s, type, ns)) return 0; /* {"type": "SomeNamedType"} */
        snprintf(err, errlen, "unknown type \"%s\"", type);
        return -1;
    }
    const char *name = json_string_value(json_object_get(t, "name"));
    if (!name || !*name) {
        snprintf(err, errlen, "a %s needs a name", type);
        return -1;
    }
    const char *own_ns = json_string_value(json_object_get(t, "namespace"));
    char *fn = full_name(name, own_ns ? own_ns : ns);
    if (lookup(s, fn, NULL)) {
        snprintf(err, errlen, "type \"%s\" defined twice", fn);
        free(fn);
        return -1;
    }
    if (s->nn == s->an) {
        s->an = s->an ? s->an * 2 : 8;
        s->n = xrealloc(s->n, (size_t)s->an * sizeof *s->n);
    }
    s->n[s->nn++] = (named){fn, t};
    const char *inner_ns = strrchr(fn, '.') ? NULL : ns;
    char *ns_buf = NULL;
    if (strrchr(fn, '.')) {
        ns_buf = xstrndup(fn, (size_t)(strrchr(fn, '.') - fn));
        inner_ns = ns_buf;
    }
    int rc = 0;
    if (!strcmp(type, "enum")) {
        json_t *syms = json_object_get(t, "symbols");
        if (!json_is_array(syms) || json_array_size(syms) == 0) {
            snprintf(err, errlen, "enum %s needs symbols", fn);
            rc = -1;
        }
    } else if (!strcmp(type, "fixed")) {
        json_t *size = json_object_get(t, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0) {
            snprintf(err, errlen, "fixed %s needs a size", fn);
            rc = -1;
        }
    } else {
        json_t *fields = json_object_get(t, "fields");
        size_t i;
        json_t *f;
        if (!json_is_array(fields)) {
            snprintf(err, errlen, "record %s needs fields", fn);
            rc = -1;
        }
        json_array_foreach(fields, i, f)
        {
            if (rc) break;
            if (!json_is_string(json_object_get(f, "name"))) {
                snprintf(err, errlen, "record %s: field %zu has no name", fn, i);
                rc = -1;
            } else {
                rc = walk(s, json_object_get(f, "type"), inner_ns, depth + 1, err, errlen);
            }
        }
    }
    free(ns_buf);
    return rc;
}

avro_schema *avro_schema_parse(const char *text, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loads(text, JSON_DECODE_ANY, &je);
    if (!root) {
        snprintf(err, errlen, "schema is not JSON: %s", je.text);
        return NULL;
    }
    avro_schema *s = xcalloc(1, sizeof *s);
    s->root = root;
    if (walk(s, root, NULL, 0, err, errlen)) {
        avro_schema_free(s);
        return NULL;
    }
    return s;
}

void avro_schema_free(avro_schema *s)
{
    if (!s) return;
    for (int i = 0; i < s->nn; i++) free(s->n[i].fullname);
    free(s->n);
    json_decref(s->root);
    free(s);
}

/* ---------------------------------------------------------------- encoding ---- */

typedef struct enc {
    const avro_schema *s;
    wbuf *out;
    char *err;
    size_t errlen;
    char path[256];
} enc;

static int fail(enc *e, const char *what)
{
    snprintf(e->err, e->errlen, "%s: %s", e->path[0] ? e->path : "value", what);
    return -1;
}

/* Appends ".name" / "[i]" to the path for the duration of a nested encode; returns where to
 * cut it back. */
static size_t path_name(enc *e, const char *name)
{
    size_t at = strlen(e->path);
    snprintf(e->path + at, sizeof e->path - at, ".%s", name);
    return at;
}

static size_t path_index(enc *e, size_t idx)
{
    size_t at = strlen(e->path);
    snprintf(e->path + at, sizeof e->path - at, "[%zu]", idx);
    return at;
}

/* Avro bytes/fixed in JSON: a string whose code points are each one byte (0-255). */
static int latin1_bytes(enc *e, const json_t *d, wbuf *tmp)
{
    if (!json_is_string(d)) return fail(e, "expected a string of bytes");
    const unsigned char *p = (const unsigned char *)json_string_value(d);
    size_t n = json_string_length(d);
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x80) {
            wbuf_put(tmp, &p[i], 1);
        } else if ((p[i] & 0xE0) == 0xC0 && i + 1 < n && p[i] <= 0xC3) {
            uint8_t b = (uint8_t)(((p[i] & 0x1F) << 6) | (p[i + 1] & 0x3F));
            wbuf_put(tmp, &b, 1);
            i++;
        } else {
            return fail(e, "bytes must be code points 0-255");
        }
    }
    return 0;
}

static int encode(enc *e, const json_t *t, const char *ns, const json_t *d, int depth);

static int encode_record(enc *e, const json_t *t, const char *ns, const json_t *d, int depth)
{
    if (!json_is_object(d)) return fail(e, "expected an object");
    json_t *fields = json_object_get(t, "fields");
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
    {
        const char *fname = json_string_value(json_object_get(f, "name"));
        const json_t *v = json_object_get(d, fname);
        if (!v) v = json_object_get(f, "default");
        size_t at = path_name(e, fname);
        int rc = v ? encode(e, json_object_get(f, "type"), ns, v, depth + 1)
                   : fail(e, "missing (and the field has no default)");
        if (rc) return rc;
        e->path[at] = 0;
    }
    return 0;
}

/* Whether union branch b is the one a JSON union value names with key (full or short name). */
static bool branch_is(const avro_schema *s, const json_t *b, const char *ns, const char *key)
{
    const char *tn =
        json_is_string(b) ? json_string_value(b) : json_string_value(json_object_get(b, "type"));
    if (!tn) return false;
    if (is_prim(tn) || !strcmp(tn, "array") || !strcmp(tn, "map")) return !strcmp(tn, key);
    const json_t *def = b;
    if (json_is_string(b) || !json_object_get(b, "name")) def = lookup(s, tn, ns);
    const char *nm = def ? json_string_value(json_object_get(def, "name")) : NULL;
    if (!nm) return false;
    const char *dns = json_string_value(json_object_get(def, "namespace"));
    char *fn = full_name(nm, dns ? dns : ns);
    bool m = !strcmp(fn, key) || !strcmp(nm, key);
    free(fn);
    return m;
}

static int encode_union(enc *e, const json_t *t, const char *ns, const json_t *d, int depth)
{
    size_t i;
    json_t *b;
    if (json_is_null(d)) {
        json_array_foreach(t, i, b)
        {
            if (json_is_string(b) && !strcmp(json_string_value(b), "null")) {
                wbuf_varlong(e->out, (int64_t)i);
                return 0;
            }
        }
        return fail(e, "null is not a branch of this union");
    }
    if (!json_is_object(d) || json_object_size(d) != 1)
        return fail(e, "a union value is null or {\"<branch type>\": value}");
    void *it = json_object_iter((json_t *)d);
    const char *key = json_object_iter_key(it);
    json_t *v = json_object_iter_value(it);
    json_array_foreach(t, i, b)
    {
        if (branch_is(e->s, b, ns, key)) {
            wbuf_varlong(e->out, (int64_t)i);
            return encode(e, b, ns, v, depth + 1);
        }
    }
    return fail(e, "no union branch of that name");
}

static int encode_prim(enc *e, const char *type, const json_t *d)
{
    if (!strcmp(type, "null")) return json_is_null(d) ? 0 : fail(e, "expected null");
    if (!strcmp(type, "boolean")) {
        if (!json_is_boolean(d)) return fail(e, "expected a boolean");
        wbuf_i8(e->out, json_is_true(d) ? 1 : 0);
        return 0;
    }
    if (!strcmp(type, "int") || !strcmp(type, "long")) {
        if (!json_is_integer(d)) return fail(e, "expected an integer");
        json_int_t v = json_integer_value(d);
        if (type[0] == 'i' && (v < INT32_MIN || v > INT32_MAX))
            return fail(e, "integer out of range for int");
        wbuf_varlong(e->out, (int64_t)v);
        return 0;
    }
    if (!strcmp(type, "float") || !strcmp(type, "double")) {
        if (!json_is_number(d)) return fail(e, "expected a number");
        double v = json_number_value(d);
        uint8_t b[8];
        if (type[0] == 'f') {
            float fv = (float)v;
            uint32_t u;
            memcpy(&u, &fv, 4);
            for (int i = 0; i < 4; i++) b[i] = (uint8_t)(u >> (8 * i));
            wbuf_put(e->out, b, 4);
        } else {
            uint64_t u;
            memcpy(&u, &v, 8);
            for (int i = 0; i < 8; i++) b[i] = (uint8_t)(u >> (8 * i));
            wbuf_put(e->out, b, 8);
        }
        return 0;
    }
    if (!strcmp(type, "string")) {
        if (!json_is_string(d)) return fail(e, "expected a string");
        wbuf_varlong(e->out, (int64_t)json_string_length(d));
        wbuf_put(e->out, json_string_value(d), json_string_length(d));
        return 0;
    }
    /* bytes */
    wbuf tmp;
    wbuf_init(&tmp, 0);
    int rc = latin1_bytes(e, d, &tmp);
    if (!rc) {
        wbuf_varlong(e->out, (int64_t)tmp.len);
        wbuf_put(e->out, tmp.data, tmp.len);
    }
    wbuf_free(&tmp);
    return rc;
}

/* Arrays and maps: one block with the count, the items, then the zero count. */
static int encode_items(enc *e, const json_t *t, const char *ns, const json_t *d, int depth)
{
    bool is_map = !strcmp(json_string_value(json_object_get(t, "type")), "map");
    const json_t *it = json_object_get(t, is_map ? "values" : "items");
    if (is_map ? !json_is_object(d) : !json_is_array(d))
        return fail(e, is_map ? "expected an object (map)" : "expected an array");
    size_t n = is_map ? json_object_size(d) : json_array_size(d);
    if (n) wbuf_varlong(e->out, (int64_t)n);
    if (is_map) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)d, k, v)
        {
            wbuf_varlong(e->out, (int64_t)strlen(k));
            wbuf_put(e->out, k, strlen(k));
            size_t at = path_name(e, k);
            if (encode(e, it, ns, v, depth + 1)) return -1;
            e->path[at] = 0;
        }
    } else {
        size_t i;
        json_t *v;
        json_array_foreach(d, i, v)
        {
            size_t at = path_index(e, i);
            if (encode(e, it, ns, v, depth + 1)) return -1;
            e->path[at] = 0;
        }
    }
    wbuf_varlong(e->out, 0);
    return 0;
}

static int encode_named(enc *e, const json_t *t, const char *ns, const char *type, const json_t *d,
                        int depth)
{
    const char *nm = json_string_value(json_object_get(t, "name"));
    const char *tns = json_string_value(json_object_get(t, "namespace"));
    /* the namespace types inside this one resolve against */
    char *fn = full_name(nm, tns ? tns : ns);
    char *inner = strrchr(fn, '.') ? xstrndup(fn, (size_t)(strrchr(fn, '.') - fn))
                                   : (ns ? xstrdup(ns) : NULL);
    int rc = 0;
    if (!strcmp(type, "enum")) {
        json_t *syms = json_object_get(t, "symbols");
        size_t i;
        json_t *sym;
        rc = fail(e, "not a symbol of the enum");
        if (json_is_string(d)) {
            json_array_foreach(syms, i, sym)
            {
                if (json_is_string(sym) && !strcmp(json_string_value(sym), json_string_value(d))) {
                    wbuf_varlong(e->out, (int64_t)i);
                    rc = 0;
                    break;
                }
            }
        }
    } else if (!strcmp(type, "fixed")) {
        wbuf tmp;
        wbuf_init(&tmp, 0);
        rc = latin1_bytes(e, d, &tmp);
        if (!rc && (json_int_t)tmp.len != json_integer_value(json_object_get(t, "size")))
            rc = fail(e, "wrong length for the fixed type");
        if (!rc) wbuf_put(e->out, tmp.data, tmp.len);
        wbuf_free(&tmp);
    } else {
        rc = encode_record(e, t, inner, d, depth);
    }
    free(inner);
    free(fn);
    return rc;
}

static int encode(enc *e, const json_t *t, const char *ns, const json_t *d, int depth)
{
    if (depth > AVRO_MAX_DEPTH) return fail(e, "value nested too deep");
    if (json_is_array(t)) return encode_union(e, t, ns, d, depth);
    const char *type =
        json_is_string(t) ? json_string_value(t) : json_string_value(json_object_get(t, "type"));
    if (!type) return fail(e, "bad schema");
    if (is_prim(type)) return encode_prim(e, type, d);
    if (json_is_object(t)) {
        if (!strcmp(type, "array") || !strcmp(type, "map")) return encode_items(e, t, ns, d, depth);
        if (!strcmp(type, "record") || !strcmp(type, "error") || !strcmp(type, "enum") ||
            !strcmp(type, "fixed"))
            return encode_named(e, t, ns, type, d, depth);
    }
    const json_t *def = lookup(e->s, type, ns);
    if (!def) return fail(e, "unknown type");
    return encode(e, def, ns, d, depth + 1);
}

int avro_encode_json(const avro_schema *s, const json_t *data, wbuf *out, char *err, size_t errlen)
{
    enc e = {s, out, err, errlen, {0}};
    size_t mark = out->len;
    int rc = encode(&e, s->root, NULL, data, 0);
    if (rc) out->len = mark;
    return rc;
}

/* ---------------------------------------------------------------- decoding ---- */

typedef struct dec {
    const avro_schema *s;
    const uint8_t *p;
    size_t n, at;
    int64_t values; /* decoded so far (AVRO_DECODE_MAX_VALUES) */
    char *err;
    size_t errlen;
    char path[256];
} dec;

static json_t *dfail(dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *dfail(dec *d, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(d->err, d->errlen, "%s: %s (at byte %zu)", d->path[0] ? d->path : "value", what,
             d->at);
    return NULL;
}

/* A zig-zag varint (Avro int and long): 0, or -1 after dfail. */
static int dec_long(dec *d, int64_t *v)
{
    uint64_t u = 0;
    for (int shift = 0;; shift += 7) {
        if (shift >= 70) {
            dfail(d, "varint longer than 10 bytes");
            return -1;
        }
        if (d->at >= d->n) {
            dfail(d, "truncated varint");
            return -1;
        }
        uint8_t b = d->p[d->at++];
        if (shift == 63 && (b & 0x7e)) {
            dfail(d, "varint overflows 64 bits");
            return -1;
        }
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) break;
    }
    *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return 0;
}

/* A length (bytes, string): non-negative and within the buffer. */
static int dec_len(dec *d, size_t *len)
{
    int64_t v;
    if (dec_long(d, &v)) return -1;
    if (v < 0) {
        dfail(d, "negative length %lld", (long long)v);
        return -1;
    }
    if ((uint64_t)v > d->n - d->at) {
        dfail(d, "length %lld runs beyond the buffer", (long long)v);
        return -1;
    }
    *len = (size_t)v;
    return 0;
}

/* Bytes and fixed in JSON: one code point (0-255) per byte. */
static json_t *latin1_json(const uint8_t *p, size_t n)
{
    char *s = xmalloc(n * 2 + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x80) {
            s[k++] = (char)p[i];
        } else {
            s[k++] = (char)(0xC0 | p[i] >> 6);
            s[k++] = (char)(0x80 | (p[i] & 0x3F));
        }
    }
    json_t *j = json_stringn(s, k);
    free(s);
    return j;
}

static json_t *dec_float(dec *d, int size)
{
    if (d->n - d->at < (size_t)size) return dfail(d, "truncated %d-byte float", size);
    uint64_t u = 0;
    for (int i = 0; i < size; i++) u |= (uint64_t)d->p[d->at + (size_t)i] << (8 * i);
    d->at += (size_t)size;
    double v;
    if (size == 4) {
        uint32_t u32 = (uint32_t)u;
        float f;
        memcpy(&f, &u32, 4);
        v = f;
    } else {
        memcpy(&v, &u, 8);
    }
    if (isnan(v)) return json_string("NaN");
    if (isinf(v)) return json_string(v > 0 ? "Infinity" : "-Infinity");
    return json_real(v);
}

static json_t *dec_prim(dec *d, const char *type)
{
    int64_t v;
    size_t len;
    switch (type[0]) {
    case 'n': return json_null();
    case 'b':
        if (type[1] == 'o') { /* boolean */
            if (d->at >= d->n) return dfail(d, "truncated boolean");
            uint8_t b = d->p[d->at++];
            if (b > 1) return dfail(d, "boolean byte %d is not 0 or 1", b);
            return json_boolean(b);
        }
        if (dec_len(d, &len)) return NULL; /* bytes */
        d->at += len;
        return latin1_json(d->p + d->at - len, len);
    case 'i':
    case 'l':
        if (dec_long(d, &v)) return NULL;
        if (type[0] == 'i' && (v < INT32_MIN || v > INT32_MAX))
            return dfail(d, "%lld is out of range for int", (long long)v);
        return json_integer((json_int_t)v);
    case 'f': return dec_float(d, 4);
    case 'd': return dec_float(d, 8);
    default: { /* string */
        if (dec_len(d, &len)) return NULL;
        json_t *j = json_stringn((const char *)d->p + d->at, len);
        if (!j) return dfail(d, "string is not UTF-8");
        d->at += len;
        return j;
    }
    }
}

static json_t *decode(dec *d, const json_t *t, const char *ns, int depth);

/* The name a JSON union value uses for branch b: its type name, or a named type's full name. */
static char *branch_name(const avro_schema *s, const json_t *b, const char *ns)
{
    const char *tn =
        json_is_string(b) ? json_string_value(b) : json_string_value(json_object_get(b, "type"));
    if (!tn) return xstrdup("?");
    if (is_prim(tn) || !strcmp(tn, "array") || !strcmp(tn, "map")) return xstrdup(tn);
    const json_t *def = b;
    if (json_is_string(b) || !json_object_get(b, "name")) def = lookup(s, tn, ns);
    const char *nm = def ? json_string_value(json_object_get(def, "name")) : NULL;
    if (!nm) return xstrdup(tn);
    const char *dns = json_string_value(json_object_get(def, "namespace"));
    return full_name(nm, dns ? dns : ns);
}

static json_t *dec_union(dec *d, const json_t *t, const char *ns, int depth)
{
    int64_t idx;
    if (dec_long(d, &idx)) return NULL;
    if (idx < 0 || (uint64_t)idx >= json_array_size(t))
        return dfail(d, "union index %lld out of range", (long long)idx);
    const json_t *b = json_array_get(t, (size_t)idx);
    json_t *v = decode(d, b, ns, depth + 1);
    if (!v || json_is_null(v)) return v;
    char *name = branch_name(d->s, b, ns);
    json_t *o = json_object();
    json_object_set_new(o, name, v);
    free(name);
    return o;
}

static size_t dpath(dec *d, const char *name, size_t idx)
{
    size_t at = strlen(d->path);
    if (name)
        snprintf(d->path + at, sizeof d->path - at, ".%s", name);
    else
        snprintf(d->path + at, sizeof d->path - at, "[%zu]", idx);
    return at;
}

static json_t *dec_record(dec *d, const json_t *t, const char *ns, int depth)
{
    json_t *o = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(t, "fields"), i, f)
    {
        const char *fname = json_string_value(json_object_get(f, "name"));
        size_t at = dpath(d, fname, 0);
        json_t *v = decode(d, json_object_get(f, "type"), ns, depth + 1);
        if (!v) {
            json_decref(o);
            return NULL;
        }
        d->path[at] = 0;
        json_object_set_new(o, fname, v);
    }
    return o;
}

/* Arrays and maps: blocks of (count, items), a negative count followed by the block's size in
 * bytes, up to a zero count. */
static json_t *dec_items(dec *d, const json_t *t, const char *ns, int depth)
{
    bool is_map = !strcmp(json_string_value(json_object_get(t, "type")), "map");
    const json_t *it = json_object_get(t, is_map ? "values" : "items");
    json_t *o = is_map ? json_object() : json_array();
    size_t idx = 0;
    for (;;) {
        int64_t count, size;
        if (dec_long(d, &count)) goto bad;
        if (count == 0) return o;
        if (count < 0) {
            if (count == INT64_MIN) {
                dfail(d, "block count out of range");
                goto bad;
            }
            count = -count;
            if (dec_long(d, &size)) goto bad;
            if (size < 0) {
                dfail(d, "negative block size %lld", (long long)size);
                goto bad;
            }
            if ((uint64_t)size > d->n - d->at) {
                dfail(d, "block size %lld runs beyond the buffer", (long long)size);
                goto bad;
            }
        }
        if (count > AVRO_DECODE_MAX_VALUES - d->values) {
            dfail(d, "more than %d values", AVRO_DECODE_MAX_VALUES);
            goto bad;
        }
        for (int64_t k = 0; k < count; k++, idx++) {
            char *key = NULL;
            if (is_map) {
                size_t len;
                if (dec_len(d, &len)) goto bad;
                key = xstrndup((const char *)d->p + d->at, len);
                d->at += len;
                if (strlen(key) != len) {
                    free(key);
                    dfail(d, "map key holds a NUL byte");
                    goto bad;
                }
            }
            size_t at = dpath(d, key, idx);
            json_t *v = decode(d, it, ns, depth + 1);
            if (!v) {
                free(key);
                goto bad;
            }
            d->path[at] = 0;
            if (is_map)
                json_object_set_new(o, key, v);
            else
                json_array_append_new(o, v);
            free(key);
        }
    }
bad:
    json_decref(o);
    return NULL;
}

static json_t *dec_named(dec *d, const json_t *t, const char *ns, const char *type, int depth)
{
    const char *nm = json_string_value(json_object_get(t, "name"));
    const char *tns = json_string_value(json_object_get(t, "namespace"));
    char *fn = full_name(nm, tns ? tns : ns);
    char *inner = strrchr(fn, '.') ? xstrndup(fn, (size_t)(strrchr(fn, '.') - fn))
                                   : (ns ? xstrdup(ns) : NULL);
    json_t *v = NULL;
    if (!strcmp(type, "enum")) {
        int64_t i;
        const json_t *syms = json_object_get(t, "symbols");
        if (dec_long(d, &i) == 0) {
            if (i < 0 || (uint64_t)i >= json_array_size(syms))
                dfail(d, "enum index %lld out of range", (long long)i);
            else
                v = json_copy(json_array_get(syms, (size_t)i));
        }
    } else if (!strcmp(type, "fixed")) {
        json_int_t size = json_integer_value(json_object_get(t, "size"));
        if ((uint64_t)size > d->n - d->at) {
            dfail(d, "truncated fixed of %lld bytes", (long long)size);
        } else {
            v = latin1_json(d->p + d->at, (size_t)size);
            d->at += (size_t)size;
        }
    } else {
        v = dec_record(d, t, inner, depth);
    }
    free(inner);
    free(fn);
    return v;
}

static json_t *decode(dec *d, const json_t *t, const char *ns, int depth)
{
    if (depth > AVRO_MAX_DEPTH) return dfail(d, "value nested deeper than %d", AVRO_MAX_DEPTH);
    if (++d->values > AVRO_DECODE_MAX_VALUES)
        return dfail(d, "more than %d values", AVRO_DECODE_MAX_VALUES);
    if (json_is_array(t)) return dec_union(d, t, ns, depth);
    const char *type =
        json_is_string(t) ? json_string_value(t) : json_string_value(json_object_get(t, "type"));
    if (!type) return dfail(d, "bad schema");
    if (is_prim(type)) return dec_prim(d, type);
    if (json_is_object(t)) {
        if (!strcmp(type, "array") || !strcmp(type, "map")) return dec_items(d, t, ns, depth);
        if (!strcmp(type, "record") || !strcmp(type, "error") || !strcmp(type, "enum") ||
            !strcmp(type, "fixed"))
            return dec_named(d, t, ns, type, depth);
    }
    const json_t *def = lookup(d->s, type, ns);
    if (!def) return dfail(d, "unknown type");
    return decode(d, def, ns, depth + 1);
}

int avro_decode_json(const avro_schema *s, const uint8_t *p, size_t n, json_t **out, char *err,
                     size_t errlen)
{
    dec d = {s, p, n, 0, 0, err, errlen, {0}};
    json_t *v = decode(&d, s->root, NULL, 0);
    if (v && d.at != n) {
        dfail(&d, "%lld bytes left after the value", (long long)(n - d.at));
        json_decref(v);
        v = NULL;
    }
    *out = v;
    return v ? 0 : -1;
}
