/* jsonschema.c — a JSON Schema validator for libeddy's publish-time payload checks
 * (include/eddy/schema.h; used by schema.c). A schema is compiled once (local $refs resolved,
 * patterns translated from ECMA-262 to POSIX ERE and regcomp'd), then validated against
 * read-only from any thread. The first violation is reported as "<path>: <value> <rule>".
 * Recursion is bounded (depth and steps) so a self-referencing schema cannot loop.
 */
#include "sdkschema/jsonptr.h"
#include "eddy/schema.h"

#include "seterr.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JS_MAX_DEPTH 128
#define JS_MAX_STEPS 1000000L
#define JS_PATH_MAX 512

typedef struct js_re {
    const json_t *owner; /* the schema object holding "pattern" (or the patternProperties key) */
    const char *src;     /* the ECMA source text */
    regex_t re;
} js_re;

struct eddy_jsonschema {
    json_t *root;
    js_re *re;
    size_t nre, capre;
};

typedef struct js_ctx {
    const eddy_jsonschema *s;
    char *err;
    size_t errlen;
    int depth;
    long *steps;
    char path[JS_PATH_MAX];
    size_t plen;
} js_ctx;

/* ---- ECMA-262 → POSIX ERE ---------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_puts(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* Returns a malloc'd ERE or NULL with the reason in why. */
static char *ecma_to_ere(const char *src, const char **why)
{
    sbuf b = {0};
    sb_puts(&b, ""); /* b.p is never NULL */
    bool inclass = false;
    for (const char *p = src; *p; p++) {
        char c = *p;
        if (c == '\\') {
            char e = p[1];
            if (!e) {
                *why = "trailing backslash";
                goto fail;
            }
            p++;
            const char *rep = NULL;
            char lit[3] = {0};
            switch (e) {
            case 'd': rep = inclass ? "0-9" : "[0-9]"; break;
            case 'w': rep = inclass ? "A-Za-z0-9_" : "[A-Za-z0-9_]"; break;
            case 's': rep = inclass ? "[:space:]" : "[[:space:]]"; break;
            case 'D': rep = inclass ? NULL : "[^0-9]"; break;
            case 'W': rep = inclass ? NULL : "[^A-Za-z0-9_]"; break;
            case 'S': rep = inclass ? NULL : "[^[:space:]]"; break;
            case 't': lit[0] = '\t'; break;
            case 'n': lit[0] = '\n'; break;
            case 'r': lit[0] = '\r'; break;
            case 'f': lit[0] = '\f'; break;
            case 'v': lit[0] = '\v'; break;
            default:
                if ((e >= '1' && e <= '9') || e == 'k') {
                    *why = "backreferences are not supported";
                    goto fail;
                }
                if (e == 'b' || e == 'B' || e == 'u' || e == 'x' || e == 'c' || e == 'p' ||
                    e == 'P' || e == '0') {
                    *why = "escape \\b \\B \\u \\x \\c \\p \\0 is not supported";
                    goto fail;
                }
                if (inclass) {
                    /* a backslash is literal inside a POSIX bracket expression */
                    if (e == ']' || e == '^' || e == '-') {
                        *why = "escaped ] ^ - inside [...] are not supported";
                        goto fail;
                    }
                    lit[0] = e;
                } else if (strchr(".[]()*+?{}|^$\\", e)) {
                    lit[0] = '\\';
                    lit[1] = e;
                } else {
                    lit[0] = e;
                }
            }
            if (!rep && !lit[0]) {
                *why = "\\D \\W \\S inside [...] are not supported";
                goto fail;
            }
            sb_puts(&b, rep ? rep : lit);
            continue;
        }
        if (inclass) {
            if (c == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
                *why = "[: [. [= inside [...] are not supported";
                goto fail;
            }
            if (c == ']') inclass = false;
            sb_put(&b, &c, 1);
            continue;
        }
        if (c == '[') {
            inclass = true;
            sb_put(&b, &c, 1);
            if (p[1] == '^') sb_put(&b, ++p, 1);
            if (p[1] == ']') {
                *why = "[] / [^] are not supported";
                goto fail;
            }
            continue;
        }
        if (c == '(' && p[1] == '?') {
            if (p[2] == ':') {
                sb_puts(&b, "(");
                p += 2;
                continue;
            }
            *why = "lookaround and named groups are not supported";
            goto fail;
        }
        sb_put(&b, &c, 1);
        /* lazy quantifier: the same strings match, drop the '?' */
        if ((c == '*' || c == '+' || c == '?' || c == '}') && p[1] == '?') p++;
    }
    if (inclass) {
        *why = "unterminated [";
        goto fail;
    }
    return b.p;
fail:
    free(b.p);
    return NULL;
}

/* ---- compile ----------------------------------------------------------------------------- */

const json_t *sch_json_pointer(const json_t *root, const char *ref)
{
    if (!ref || ref[0] != '#') return NULL;
    const json_t *cur = root;
    const char *p = ref + 1;
    if (*p == 0) return root;
    if (*p != '/') return NULL;
    while (*p == '/' && cur) {
        p++;
        char tok[256];
        size_t n = 0;
        while (*p && *p != '/') {
            char c = *p++;
            if (c == '~' && *p == '0')
                c = '~', p++;
            else if (c == '~' && *p == '1')
                c = '/', p++;
            else if (c == '%' && p[0] && p[1]) {
                /* percent-encoded (URI fragment) */
                char hex[3] = {p[0], p[1], 0};
                char *end;
                long v = strtol(hex, &end, 16);
                if (*end) return NULL;
                c = (char)v;
                p += 2;
            }
            if (n + 1 >= sizeof tok) return NULL;
            tok[n++] = c;
        }
        tok[n] = 0;
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *end;
            long i = strtol(tok, &end, 10);
            if (*end || n == 0 || i < 0) return NULL;
            cur = json_array_get(cur, (size_t)i);
        } else {
            return NULL;
        }
    }
    return *p ? NULL : cur;
}

static int add_re(eddy_jsonschema *s, const json_t *owner, const char *src, char *err,
                  size_t errlen)
{
    const char *why = NULL;
    char *ere = ecma_to_ere(src, &why);
    if (!ere) {
        seterr(err, errlen, "pattern \"%s\": %s (POSIX regex engine)", src, why);
        return EDDY_ERR_PERMANENT;
    }
    if (s->nre == s->capre) {
        s->capre = s->capre ? s->capre * 2 : 8;
        s->re = realloc(s->re, s->capre * sizeof *s->re);
        if (!s->re) abort();
    }
    js_re *r = &s->re[s->nre];
    int rc = regcomp(&r->re, ere, REG_EXTENDED | REG_NOSUB);
    free(ere);
    if (rc != 0) {
        char m[128];
        regerror(rc, &r->re, m, sizeof m);
        seterr(err, errlen, "pattern \"%s\": %s", src, m);
        return EDDY_ERR_PERMANENT;
    }
    r->owner = owner;
    r->src = src;
    s->nre++;
    return 0;
}

static const regex_t *find_re(const eddy_jsonschema *s, const json_t *owner, const char *src)
{
    for (size_t i = 0; i < s->nre; i++)
        if (s->re[i].owner == owner && s->re[i].src == src) return &s->re[i].re;
    return NULL;
}

/* Walks every value of the schema document: compiles "pattern"s and patternProperties keys of
 * schema objects, checks "$ref"s resolve. Walking data values (enum, const) too is harmless
 * except that a "pattern" key inside them would be compiled: only strings count. */
static int compile_walk(eddy_jsonschema *s, const json_t *node, int depth, char *err, size_t errlen)
{
    if (depth > JS_MAX_DEPTH) {
        seterr(err, errlen, "schema nested deeper than %d", JS_MAX_DEPTH);
        return EDDY_ERR_PERMANENT;
    }
    if (json_is_array(node)) {
        size_t i;
        const json_t *v;
        json_array_foreach(node, i, v)
        {
            int rc = compile_walk(s, v, depth + 1, err, errlen);
            if (rc) return rc;
        }
        return 0;
    }
    if (!json_is_object(node)) return 0;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)node, k, v)
    {
        int rc = 0;
        if (!strcmp(k, "enum") || !strcmp(k, "const") || !strcmp(k, "default") ||
            !strcmp(k, "examples"))
            continue; /* data, not schema */
        if (!strcmp(k, "pattern") && json_is_string(v)) {
            rc = add_re(s, node, json_string_value(v), err, errlen);
        } else if (!strcmp(k, "$ref") && json_is_string(v)) {
            const char *ref = json_string_value(v);
            if (!sch_json_pointer(s->root, ref)) {
                seterr(err, errlen, "$ref \"%s\" does not resolve (only local refs are supported)",
                       ref);
                rc = EDDY_ERR_PERMANENT;
            }
        } else if (!strcmp(k, "patternProperties") && json_is_object(v)) {
            const char *pk;
            const json_t *pv;
            json_object_foreach((json_t *)v, pk, pv)
            {
                /* the key string lives in the object; its address is stable */
                rc = add_re(s, v, pk, err, errlen);
                if (rc) return rc;
            }
        }
        if (rc) return rc;
        if (!strcmp(k, "properties") && json_is_object(v)) {
            /* property names are not schema keywords */
            const char *pk;
            const json_t *pv;
            json_object_foreach((json_t *)v, pk, pv)
            {
                rc = compile_walk(s, pv, depth + 1, err, errlen);
                if (rc) return rc;
            }
            continue;
        }
        rc = compile_walk(s, v, depth + 1, err, errlen);
        if (rc) return rc;
    }
    return 0;
}

int eddy_jsonschema_new(json_t *schema, eddy_jsonschema **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!json_is_object(schema) && !json_is_boolean(schema)) {
        seterr(err, errlen, "a JSON Schema is an object or a boolean");
        return EDDY_ERR_PERMANENT;
    }
    eddy_jsonschema *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->root = json_incref(schema);
    int rc = compile_walk(s, schema, 0, err, errlen);
    if (rc) {
        eddy_jsonschema_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void eddy_jsonschema_free(eddy_jsonschema *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->nre; i++) regfree(&s->re[i].re);
    free(s->re);
    json_decref(s->root);
    free(s);
}

/* ---- validate ---------------------------------------------------------------------------- */

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

/* No libm: libeddy's link line stays as it is. */
static double dabs(double d)
{
    return d < 0 ? -d : d;
}

/* Distance from d to the nearest integer (0 for |d| >= 2^52, where every double is one). */
static double frac_dist(double d)
{
    if (dabs(d) >= 4503599627370496.0) return 0;
    double r = (double)(long long)(d + (d >= 0 ? 0.5 : -0.5));
    return dabs(d - r);
}

static bool is_integral(const json_t *v)
{
    if (json_is_integer(v)) return true;
    if (!json_is_real(v)) return false;
    double d = json_real_value(v);
    return isfinite(d) && frac_dist(d) == 0;
}

static bool type_matches(const char *t, const json_t *v)
{
    if (!strcmp(t, "integer")) return is_integral(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    return !strcmp(t, type_name(v));
}

/* Short rendering of a value for messages. */
static void show(const json_t *v, char *out, size_t n)
{
    char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!d) {
        snprintf(out, n, "(value)");
        return;
    }
    if (strlen(d) > 40)
        snprintf(out, n, "%.37s...", d);
    else
        snprintf(out, n, "%s", d);
    free(d);
}

static int fail(js_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(js_ctx *c, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        char m[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m, sizeof m, fmt, ap);
        va_end(ap);
        snprintf(c->err, c->errlen, "%s: %s", c->path, m);
    }
    return EDDY_ERR_PERMANENT;
}

static size_t path_push(js_ctx *c, const char *seg)
{
    size_t old = c->plen;
    int n = snprintf(c->path + c->plen, sizeof c->path - c->plen, "/%s", seg);
    if (n > 0) c->plen += (size_t)n < sizeof c->path - c->plen ? (size_t)n : 0;
    return old;
}
static size_t path_push_idx(js_ctx *c, size_t i)
{
    char b[24];
    snprintf(b, sizeof b, "%zu", i);
    return path_push(c, b);
}
static void path_pop(js_ctx *c, size_t old)
{
    c->plen = old;
    c->path[old] = 0;
}

static double num(const json_t *v)
{
    return json_number_value(v);
}

static size_t utf8_len(const char *s, size_t n)
{
    size_t cps = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) cps++;
    return cps;
}

static int check(js_ctx *c, const json_t *sch, const json_t *v);

/* Runs sch on v with a private error buffer; 0 if valid. */
static int trial(js_ctx *c, const json_t *sch, const json_t *v, char *err, size_t errlen)
{
    js_ctx t = *c;
    t.err = err;
    t.errlen = errlen;
    if (err && errlen) err[0] = 0;
    return check(&t, sch, v);
}

static int check_types(js_ctx *c, const json_t *t, const json_t *v)
{
    if (json_is_string(t)) {
        if (type_matches(json_string_value(t), v)) return 0;
        char sv[64];
        show(v, sv, sizeof sv);
        return fail(c, "%s is %s, expected type %s", sv, type_name(v), json_string_value(t));
    }
    if (json_is_array(t)) {
        size_t i;
        const json_t *e;
        char want[256] = "";
        json_array_foreach(t, i, e)
        {
            if (!json_is_string(e)) continue;
            if (type_matches(json_string_value(e), v)) return 0;
            size_t l = strlen(want);
            snprintf(want + l, sizeof want - l, "%s%s", l ? "|" : "", json_string_value(e));
        }
        char sv[64];
        show(v, sv, sizeof sv);
        return fail(c, "%s is %s, expected type %s", sv, type_name(v), want);
    }
    return 0;
}

static int check_number(js_ctx *c, const json_t *sch, const json_t *v)
{
    double x = num(v);
    char sv[64];
    show(v, sv, sizeof sv);
    const json_t *k;
    const json_t *exmin = json_object_get(sch, "exclusiveMinimum");
    const json_t *exmax = json_object_get(sch, "exclusiveMaximum");
    if ((k = json_object_get(sch, "minimum")) && json_is_number(k)) {
        if (json_is_true(exmin)) {
            if (!(x > num(k)))
                return fail(c, "%s is not greater than exclusiveMinimum %g", sv, num(k));
        } else if (x < num(k)) {
            return fail(c, "%s is less than minimum %g", sv, num(k));
        }
    }
    if ((k = json_object_get(sch, "maximum")) && json_is_number(k)) {
        if (json_is_true(exmax)) {
            if (!(x < num(k)))
                return fail(c, "%s is not less than exclusiveMaximum %g", sv, num(k));
        } else if (x > num(k)) {
            return fail(c, "%s is greater than maximum %g", sv, num(k));
        }
    }
    if (json_is_number(exmin) && !(x > num(exmin)))
        return fail(c, "%s is not greater than exclusiveMinimum %g", sv, num(exmin));
    if (json_is_number(exmax) && !(x < num(exmax)))
        return fail(c, "%s is not less than exclusiveMaximum %g", sv, num(exmax));
    if ((k = json_object_get(sch, "multipleOf")) && json_is_number(k) && num(k) > 0) {
        double q = x / num(k);
        if (!isfinite(q) || frac_dist(q) > 1e-9 * (dabs(q) > 1.0 ? dabs(q) : 1.0))
            return fail(c, "%s is not a multiple of %g", sv, num(k));
    }
    return 0;
}

static int check_string(js_ctx *c, const json_t *sch, const json_t *v)
{
    const char *s = json_string_value(v);
    size_t len = utf8_len(s, json_string_length(v));
    char sv[64];
    show(v, sv, sizeof sv);
    const json_t *k;
    if ((k = json_object_get(sch, "minLength")) && json_is_integer(k) &&
        (json_int_t)len < json_integer_value(k))
        return fail(c, "%s is shorter than minLength %" JSON_INTEGER_FORMAT, sv,
                    json_integer_value(k));
    if ((k = json_object_get(sch, "maxLength")) && json_is_integer(k) &&
        (json_int_t)len > json_integer_value(k))
        return fail(c, "%s is longer than maxLength %" JSON_INTEGER_FORMAT, sv,
                    json_integer_value(k));
    if ((k = json_object_get(sch, "pattern")) && json_is_string(k)) {
        const regex_t *re = find_re(c->s, sch, json_string_value(k));
        if (re && strlen(s) == json_string_length(v) && regexec(re, s, 0, NULL, 0) != 0)
            return fail(c, "%s does not match pattern \"%s\"", sv, json_string_value(k));
    }
    return 0;
}

static int check_array(js_ctx *c, const json_t *sch, const json_t *v)
{
    size_t n = json_array_size(v);
    const json_t *k;
    if ((k = json_object_get(sch, "minItems")) && json_is_integer(k) &&
        (json_int_t)n < json_integer_value(k))
        return fail(c, "array has %zu items, fewer than minItems %" JSON_INTEGER_FORMAT, n,
                    json_integer_value(k));
    if ((k = json_object_get(sch, "maxItems")) && json_is_integer(k) &&
        (json_int_t)n > json_integer_value(k))
        return fail(c, "array has %zu items, more than maxItems %" JSON_INTEGER_FORMAT, n,
                    json_integer_value(k));
    if (json_is_true(json_object_get(sch, "uniqueItems"))) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (json_equal(json_array_get(v, i), json_array_get(v, j)))
                    return fail(c, "items %zu and %zu are equal, violating uniqueItems", i, j);
    }
    const json_t *items = json_object_get(sch, "items");
    size_t from = 0;
    if (json_is_array(items)) { /* tuple form */
        size_t m = json_array_size(items);
        for (size_t i = 0; i < n && i < m; i++) {
            size_t o = path_push_idx(c, i);
            int rc = check(c, json_array_get(items, i), json_array_get(v, i));
            path_pop(c, o);
            if (rc) return rc;
        }
        from = m;
        items = json_object_get(sch, "additionalItems");
        if (json_is_false(items) && n > m)
            return fail(c, "array has %zu items, the tuple allows %zu (additionalItems false)", n,
                        m);
    }
    if (json_is_object(items) || json_is_boolean(items)) {
        for (size_t i = from; i < n; i++) {
            size_t o = path_push_idx(c, i);
            int rc = check(c, items, json_array_get(v, i));
            path_pop(c, o);
            if (rc) return rc;
        }
    }
    if ((k = json_object_get(sch, "contains"))) {
        bool any = false;
        for (size_t i = 0; i < n && !any; i++) {
            size_t o = path_push_idx(c, i);
            any = trial(c, k, json_array_get(v, i), NULL, 0) == 0;
            path_pop(c, o);
        }
        if (!any) return fail(c, "no item matches \"contains\"");
    }
    return 0;
}

static int check_object(js_ctx *c, const json_t *sch, const json_t *v)
{
    const json_t *k;
    size_t n = json_object_size(v);
    if ((k = json_object_get(sch, "required")) && json_is_array(k)) {
        size_t i;
        const json_t *r;
        json_array_foreach(k, i, r)
        {
            if (json_is_string(r) && !json_object_get(v, json_string_value(r))) {
                size_t o = path_push(c, json_string_value(r));
                int rc = fail(c, "required property is missing");
                path_pop(c, o);
                return rc;
            }
        }
    }
    if ((k = json_object_get(sch, "minProperties")) && json_is_integer(k) &&
        (json_int_t)n < json_integer_value(k))
        return fail(c, "object has %zu properties, fewer than minProperties %" JSON_INTEGER_FORMAT,
                    n, json_integer_value(k));
    if ((k = json_object_get(sch, "maxProperties")) && json_is_integer(k) &&
        (json_int_t)n > json_integer_value(k))
        return fail(c, "object has %zu properties, more than maxProperties %" JSON_INTEGER_FORMAT,
                    n, json_integer_value(k));
    const json_t *props = json_object_get(sch, "properties");
    const json_t *pp = json_object_get(sch, "patternProperties");
    const json_t *addl = json_object_get(sch, "additionalProperties");
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        bool known = false;
        size_t o = path_push(c, key);
        int rc = 0;
        const json_t *ps = json_is_object(props) ? json_object_get(props, key) : NULL;
        if (ps) {
            known = true;
            rc = check(c, ps, val);
        }
        if (!rc && json_is_object(pp)) {
            const char *pk;
            const json_t *pv;
            json_object_foreach((json_t *)pp, pk, pv)
            {
                const regex_t *re = find_re(c->s, pp, pk);
                if (re && regexec(re, key, 0, NULL, 0) == 0) {
                    known = true;
                    rc = check(c, pv, val);
                    if (rc) break;
                }
            }
        }
        if (!rc && !known && addl) {
            if (json_is_false(addl))
                rc = fail(c, "property is not allowed (additionalProperties false)");
            else if (json_is_object(addl))
                rc = check(c, addl, val);
        }
        path_pop(c, o);
        if (rc) return rc;
    }
    return 0;
}

static int check(js_ctx *c, const json_t *sch, const json_t *v)
{
    if (json_is_true(sch)) return 0;
    if (json_is_false(sch)) return fail(c, "no value is allowed here (schema false)");
    if (!json_is_object(sch)) return 0;
    if (++*c->steps > JS_MAX_STEPS) return fail(c, "validation exceeded %ld steps", JS_MAX_STEPS);
    if (c->depth >= JS_MAX_DEPTH) return fail(c, "schema recursion deeper than %d", JS_MAX_DEPTH);
    c->depth++;
    int rc = 0;
    const json_t *k;
    char sv[64];

    if ((k = json_object_get(sch, "$ref")) && json_is_string(k)) {
        const json_t *t = sch_json_pointer(c->s->root, json_string_value(k));
        if (!t) {
            rc = fail(c, "$ref \"%s\" does not resolve", json_string_value(k));
            goto out;
        }
        if ((rc = check(c, t, v))) goto out;
    }
    if ((k = json_object_get(sch, "type")) && (rc = check_types(c, k, v))) goto out;
    if ((k = json_object_get(sch, "const")) && !json_equal((json_t *)k, (json_t *)v)) {
        char want[64];
        show(v, sv, sizeof sv);
        show(k, want, sizeof want);
        rc = fail(c, "%s is not the const %s", sv, want);
        goto out;
    }
    if ((k = json_object_get(sch, "enum")) && json_is_array(k)) {
        size_t i;
        const json_t *e;
        bool found = false;
        json_array_foreach(k, i, e) if (json_equal((json_t *)e, (json_t *)v)) found = true;
        if (!found) {
            char want[64];
            show(v, sv, sizeof sv);
            show(k, want, sizeof want);
            rc = fail(c, "%s is not one of enum %s", sv, want);
            goto out;
        }
    }
    if (json_is_number(v) && (rc = check_number(c, sch, v))) goto out;
    if (json_is_string(v) && (rc = check_string(c, sch, v))) goto out;
    if (json_is_array(v) && (rc = check_array(c, sch, v))) goto out;
    if (json_is_object(v) && (rc = check_object(c, sch, v))) goto out;

    if ((k = json_object_get(sch, "allOf")) && json_is_array(k)) {
        size_t i;
        const json_t *b;
        json_array_foreach(k, i, b) if ((rc = check(c, b, v))) goto out;
    }
    if ((k = json_object_get(sch, "anyOf")) && json_is_array(k)) {
        size_t i;
        const json_t *b;
        char first[256] = "";
        bool ok = false;
        json_array_foreach(k, i, b)
        {
            char e[256];
            if (trial(c, b, v, e, sizeof e) == 0) {
                ok = true;
                break;
            }
            if (!first[0]) snprintf(first, sizeof first, "%s", e);
        }
        if (!ok) {
            rc = fail(c, "matches none of the anyOf schemas (first: %s)", first);
            goto out;
        }
    }
    if ((k = json_object_get(sch, "oneOf")) && json_is_array(k)) {
        size_t i;
        const json_t *b;
        char first[256] = "";
        int nok = 0;
        size_t which[2] = {0, 0};
        json_array_foreach(k, i, b)
        {
            char e[256];
            if (trial(c, b, v, e, sizeof e) == 0) {
                if (nok < 2) which[nok] = i;
                nok++;
            } else if (!first[0]) {
                snprintf(first, sizeof first, "%s", e);
            }
        }
        if (nok == 0) {
            rc = fail(c, "matches none of the oneOf schemas (first: %s)", first);
            goto out;
        }
        if (nok > 1) {
            rc = fail(c, "matches oneOf schemas %zu and %zu, exactly one is allowed", which[0],
                      which[1]);
            goto out;
        }
    }
    if ((k = json_object_get(sch, "not")) && trial(c, k, v, NULL, 0) == 0) {
        show(v, sv, sizeof sv);
        rc = fail(c, "%s matches the \"not\" schema", sv);
        goto out;
    }
    if ((k = json_object_get(sch, "if"))) {
        const json_t *br = trial(c, k, v, NULL, 0) == 0 ? json_object_get(sch, "then")
                                                        : json_object_get(sch, "else");
        if (br && (rc = check(c, br, v))) goto out;
    }
out:
    c->depth--;
    return rc;
}

int eddy_jsonschema_validate(const eddy_jsonschema *s, const json_t *doc, const char *root,
                             char *err, size_t errlen)
{
    return eddy_jsonschema_validate_def(s, NULL, doc, root, err, errlen);
}

/* The root's "$defs"/"definitions" member named def, or NULL. */
static const json_t *find_def(const json_t *root, const char *def)
{
    if (!def || !json_is_object(root)) return NULL;
    const json_t *d = json_object_get(json_object_get(root, "$defs"), def);
    if (!d) d = json_object_get(json_object_get(root, "definitions"), def);
    return json_is_object(d) || json_is_boolean(d) ? d : NULL;
}

int eddy_jsonschema_has_def(const eddy_jsonschema *s, const char *def)
{
    return s && find_def(s->root, def) != NULL;
}

int eddy_jsonschema_validate_def(const eddy_jsonschema *s, const char *def, const json_t *doc,
                                 const char *root, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!s || !doc) {
        seterr(err, errlen, "%s: no document", root ? root : "payload");
        return EDDY_ERR_PERMANENT;
    }
    long steps = 0;
    js_ctx c = {.s = s, .err = err, .errlen = errlen, .steps = &steps};
    snprintf(c.path, sizeof c.path, "%s", root ? root : "payload");
    c.plen = strlen(c.path);
    const json_t *start = find_def(s->root, def);
    return check(&c, start ? start : s->root, doc);
}
