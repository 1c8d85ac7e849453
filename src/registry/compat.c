/* compat — schema validation, normalisation and compatibility checks for the schema registry
 * (compat.h). Pure functions over jansson trees; no broker, no I/O.
 *
 * Avro: the JSON schema is parsed into a small graph of avnodes (named types shared through a
 * name table, so recursive records become cycles), then reader/writer resolution follows the
 * Avro specification's "Schema Resolution" section: records match fields by name or reader
 * alias, a reader field absent from the writer needs a default, int→long→float→double and
 * string↔bytes promote, enums need the writer's symbols (or a reader default), unions are
 * resolved branch by branch on both sides, arrays/maps/fixed recurse, named types match by
 * (full or short) name or alias. Pairs already under comparison count as compatible, which
 * ends recursion.
 *
 * JSON Schema: "reader can read writer" = every document valid under the writer is valid under
 * the reader. Checked keyword by keyword: type sets (integer ⊂ number), properties against the
 * open/closed content model (additionalProperties), required, enum/const, items, numeric and
 * length bounds, pattern, oneOf/anyOf subschemas.
 */
#include "registry/compat.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static const char *const g_types[] = {"AVRO", "JSON", "PROTOBUF"};
static const char *const g_levels[] = {"NONE",    "BACKWARD",           "BACKWARD_TRANSITIVE",
                                       "FORWARD", "FORWARD_TRANSITIVE", "FULL",
                                       "FULL_TRANSITIVE"};

int schema_type_parse(const char *s)
{
    if (!s) return STYPE_AVRO;
    for (size_t i = 0; i < ARRAY_LEN(g_types); i++)
        if (!strcmp(s, g_types[i])) return (int)i;
    return -1;
}

const char *schema_type_name(int t)
{
    return t >= 0 && (size_t)t < ARRAY_LEN(g_types) ? g_types[t] : "?";
}

int compat_level_parse(const char *s)
{
    if (!s) return -1;
    for (size_t i = 0; i < ARRAY_LEN(g_levels); i++)
        if (!strcmp(s, g_levels[i])) return (int)i;
    return -1;
}

const char *compat_level_name(int l)
{
    return l >= 0 && (size_t)l < ARRAY_LEN(g_levels) ? g_levels[l] : "?";
}

static void reason(json_t *reasons, const char *type, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reason(json_t *reasons, const char *type, const char *path, const char *fmt, ...)
{
    if (!reasons) return;
    char desc[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(desc, sizeof desc, fmt, ap);
    va_end(ap);
    char *m = xasprintf("{errorType:'%s', description:'%s', path:'%s'}", type, desc,
                        path[0] ? path : "/");
    json_array_append_new(reasons, json_string(m));
    free(m);
}

/* ================================================================== Avro ======== */

enum {
    AV_NULL,
    AV_BOOLEAN,
    AV_INT,
    AV_LONG,
    AV_FLOAT,
    AV_DOUBLE,
    AV_BYTES,
    AV_STRING,
    AV_RECORD,
    AV_ENUM,
    AV_ARRAY,
    AV_MAP,
    AV_UNION,
    AV_FIXED,
};
static const char *const av_prim[] = {"null",   "boolean", "int",    "long",
                                      "float",  "double",  "bytes",  "string",
                                      "record", "enum",    "array",  "map",
                                      "union",  "fixed"};

typedef struct avnode avnode;
typedef struct avfield {
    const char *name;
    json_t *aliases; /* borrowed array or NULL */
    avnode *type;
    json_t *def; /* borrowed; NULL = no default */
} avfield;

struct avnode {
    int kind;
    char *name;      /* full name of named types */
    json_t *aliases; /* borrowed */
    avfield *f;
    int nf;
    json_t *symbols; /* enum (borrowed) */
    bool has_edef;
    avnode *items; /* array items / map values */
    avnode **br;
    int nbr;
    int64_t size;
    json_t *index; /* record: field name → position; enum: symbol → position (owned) */
};

typedef struct avctx {
    avnode **all;
    int nall, aall;
    avnode **named;
    int nnamed, anamed;
    json_t **docs; /* parsed documents kept alive (nodes borrow from them) */
    int ndocs, adocs;
    char *err;
    size_t errlen;
    bool failed;
} avctx;

static void av_fail(avctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void av_fail(avctx *c, const char *fmt, ...)
{
    if (c->failed) return;
    c->failed = true;
    if (!c->err || !c->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
}

static avnode *av_new(avctx *c, int kind)
{
    avnode *n = xcalloc(1, sizeof *n);
    n->kind = kind;
    if (c->nall == c->aall) {
        c->aall = c->aall ? c->aall * 2 : 16;
        c->all = xrealloc(c->all, (size_t)c->aall * sizeof *c->all);
    }
    c->all[c->nall++] = n;
    return n;
}

static void av_free(avctx *c)
{
    for (int i = 0; i < c->nall; i++) {
        free(c->all[i]->name);
        free(c->all[i]->f);
        free(c->all[i]->br);
        json_decref(c->all[i]->index);
        free(c->all[i]);
    }
    free(c->all);
    free(c->named);
    for (int i = 0; i < c->ndocs; i++) json_decref(c->docs[i]);
    free(c->docs);
    memset(c, 0, sizeof *c);
}

static bool av_name_ok(const char *s)
{
    if (!s || !*s) return false;
    bool start = true;
    for (; *s; s++) {
        char ch = *s;
        if (ch == '.') {
            if (start) return false;
            start = true;
            continue;
        }
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        bool digit = ch >= '0' && ch <= '9';
        if (!alpha && !(digit && !start)) return false;
        start = false;
    }
    return !start;
}

static avnode *av_lookup(avctx *c, const char *full)
{
    for (int i = 0; i < c->nnamed; i++)
        if (!strcmp(c->named[i]->name, full)) return c->named[i];
    return NULL;
}

static const char *short_name(const char *full)
{
    const char *d = strrchr(full, '.');
    return d ? d + 1 : full;
}

static char *av_fullname(const char *name, const char *ns)
{
    if (strchr(name, '.') || !ns || !*ns) return xstrdup(name);
    return xasprintf("%s.%s", ns, name);
}

static avnode *av_parse(avctx *c, json_t *j, const char *ns, int depth);

static bool av_default_ok(const avnode *t, json_t *d, int depth)
{
    if (depth > 64) return true;
    switch (t->kind) {
    case AV_NULL: return json_is_null(d);
    case AV_BOOLEAN: return json_is_boolean(d);
    case AV_INT:
    case AV_LONG: return json_is_integer(d);
    case AV_FLOAT:
    case AV_DOUBLE: return json_is_number(d) || json_is_string(d); /* "NaN"/"Infinity" */
    case AV_BYTES:
    case AV_STRING:
    case AV_FIXED: return json_is_string(d);
    case AV_ENUM: {
        if (!json_is_string(d)) return false;
        size_t i;
        json_t *s;
        json_array_foreach(t->symbols, i, s) if (json_equal(s, d)) return true;
        return false;
    }
    case AV_ARRAY: {
        if (!json_is_array(d)) return false;
        size_t i;
        json_t *e;
        json_array_foreach(d, i, e) if (!av_default_ok(t->items, e, depth + 1)) return false;
        return true;
    }
    case AV_MAP: {
        if (!json_is_object(d)) return false;
        const char *k;
        json_t *e;
        json_object_foreach(d, k, e) if (!av_default_ok(t->items, e, depth + 1)) return false;
        return true;
    }
    case AV_RECORD: {
        if (!json_is_object(d)) return false;
        for (int i = 0; i < t->nf; i++) {
            json_t *e = json_object_get(d, t->f[i].name);
            if (!e && !t->f[i].def) return false;
            if (e && !av_default_ok(t->f[i].type, e, depth + 1)) return false;
        }
        return true;
    }
    case AV_UNION: return t->nbr > 0 && av_default_ok(t->br[0], d, depth + 1);
    }
    return false;
}

static bool av_check_aliases(avctx *c, json_t *al, const char *what)
{
    if (!al) return true;
    if (!json_is_array(al)) {
        av_fail(c, "aliases of %s must be an array of names", what);
        return false;
    }
    size_t i;
    json_t *a;
    json_array_foreach(al, i, a)
    {
        if (!json_is_string(a) || !av_name_ok(json_string_value(a))) {
            av_fail(c, "invalid alias in %s", what);
            return false;
        }
    }
    return true;
}

static avnode *av_define(avctx *c, int kind, json_t *j, const char *const *ns_inout)
{
    json_t *jn = json_object_get(j, "name");
    if (!json_is_string(jn) || !av_name_ok(json_string_value(jn))) {
        av_fail(c, "%s without a valid \"name\"", av_prim[kind]);
        return NULL;
    }
    json_t *jns = json_object_get(j, "namespace");
    const char *ns = *ns_inout;
    if (jns && !json_is_null(jns)) {
        if (!json_is_string(jns) ||
            (json_string_value(jns)[0] && !av_name_ok(json_string_value(jns)))) {
            av_fail(c, "invalid namespace of %s", json_string_value(jn));
            return NULL;
        }
        ns = json_string_value(jns);
    }
    char *full = av_fullname(json_string_value(jn), ns);
    if (av_lookup(c, full)) {
        av_fail(c, "type \"%s\" is defined twice", full);
        free(full);
        return NULL;
    }
    avnode *n = av_new(c, kind);
    n->name = full;
    n->aliases = json_object_get(j, "aliases");
    if (!av_check_aliases(c, n->aliases, full)) return NULL;
    if (c->nnamed == c->anamed) {
        c->anamed = c->anamed ? c->anamed * 2 : 16;
        c->named = xrealloc(c->named, (size_t)c->anamed * sizeof *c->named);
    }
    c->named[c->nnamed++] = n;
    return n;
}

/* Namespace for definitions nested in the named type n. Returned string is malloc()ed. */
static char *av_ns_of(const avnode *n)
{
    const char *d = strrchr(n->name, '.');
    return d ? xstrndup(n->name, (size_t)(d - n->name)) : xstrdup("");
}

static avnode *av_parse_record(avctx *c, json_t *j, const char *ns, int depth)
{
    const char *nsx = ns;
    avnode *n = av_define(c, AV_RECORD, j, &nsx);
    if (!n) return NULL;
    json_t *fields = json_object_get(j, "fields");
    if (!json_is_array(fields)) {
        av_fail(c, "record %s without a \"fields\" array", n->name);
        return NULL;
    }
    char *inner = av_ns_of(n);
    n->nf = (int)json_array_size(fields);
    n->f = xcalloc((size_t)n->nf + 1, sizeof *n->f);
    n->index = json_object();
    for (int i = 0; i < n->nf && !c->failed; i++) {
        json_t *jf = json_array_get(fields, (size_t)i);
        json_t *fname = json_object_get(jf, "name");
        if (!json_is_object(jf) || !json_is_string(fname) ||
            !av_name_ok(json_string_value(fname))) {
            av_fail(c, "field %d of record %s has no valid \"name\"", i, n->name);
            break;
        }
        avfield *f = &n->f[i];
        f->name = json_string_value(fname);
        if (json_object_get(n->index, f->name)) {
            av_fail(c, "duplicate field %s in %s", f->name, n->name);
            break;
        }
        json_object_set_new(n->index, f->name, json_integer(i));
        json_t *ft = json_object_get(jf, "type");
        if (!ft) {
            av_fail(c, "field %s of record %s has no \"type\"", f->name, n->name);
            break;
        }
        f->type = av_parse(c, ft, inner, depth + 1);
        if (!f->type) break;
        f->aliases = json_object_get(jf, "aliases");
        if (!av_check_aliases(c, f->aliases, f->name)) break;
        f->def = json_object_get(jf, "default");
        if (f->def && !av_default_ok(f->type, f->def, 0)) {
            av_fail(c, "invalid default for field %s of record %s", f->name, n->name);
            break;
        }
    }
    free(inner);
    return c->failed ? NULL : n;
}

static avnode *av_parse(avctx *c, json_t *j, const char *ns, int depth)
{
    if (c->failed) return NULL;
    if (depth > 100) {
        av_fail(c, "schema nested too deeply");
        return NULL;
    }
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        for (int k = AV_NULL; k <= AV_STRING; k++)
            if (!strcmp(s, av_prim[k])) return av_new(c, k);
        char *full = av_fullname(s, ns);
        avnode *n = av_lookup(c, full);
        if (!n) n = av_lookup(c, s);
        free(full);
        if (!n) av_fail(c, "unknown type \"%s\"", s);
        return n;
    }
    if (json_is_array(j)) {
        avnode *u = av_new(c, AV_UNION);
        u->nbr = (int)json_array_size(j);
        u->br = xcalloc((size_t)u->nbr + 1, sizeof *u->br);
        u->index = json_object(); /* "N:fullname" / "P:primitive" of the branches seen */
        for (int i = 0; i < u->nbr; i++) {
            avnode *b = av_parse(c, json_array_get(j, (size_t)i), ns, depth + 1);
            if (!b) return NULL;
            if (b->kind == AV_UNION) {
                av_fail(c, "a union may not immediately contain a union");
                return NULL;
            }
            bool named = b->kind == AV_RECORD || b->kind == AV_ENUM || b->kind == AV_FIXED;
            char *key = xasprintf("%s:%s", named ? "N" : "P", named ? b->name : av_prim[b->kind]);
            bool dup = json_object_get(u->index, key) != NULL;
            json_object_set_new(u->index, key, json_true());
            free(key);
            if (dup) {
                av_fail(c, "duplicate %s in union", named ? b->name : av_prim[b->kind]);
                return NULL;
            }
            u->br[i] = b;
        }
        return u;
    }
    if (!json_is_object(j)) {
        av_fail(c, "a schema is a name, an array (union) or an object");
        return NULL;
    }
    json_t *t = json_object_get(j, "type");
    if (json_is_array(t) || json_is_object(t)) return av_parse(c, t, ns, depth + 1);
    if (!json_is_string(t)) {
        av_fail(c, "schema object without a \"type\"");
        return NULL;
    }
    const char *ts = json_string_value(t);
    if (!strcmp(ts, "record") || !strcmp(ts, "error")) return av_parse_record(c, j, ns, depth);
    if (!strcmp(ts, "enum")) {
        const char *nsx = ns;
        avnode *n = av_define(c, AV_ENUM, j, &nsx);
        if (!n) return NULL;
        n->symbols = json_object_get(j, "symbols");
        if (!json_is_array(n->symbols)) {
            av_fail(c, "enum %s without a \"symbols\" array", n->name);
            return NULL;
        }
        size_t i;
        json_t *s;
        n->index = json_object();
        json_array_foreach(n->symbols, i, s)
        {
            if (!json_is_string(s) || !av_name_ok(json_string_value(s)) ||
                strchr(json_string_value(s), '.')) {
                av_fail(c, "invalid symbol in enum %s", n->name);
                return NULL;
            }
            if (json_object_get(n->index, json_string_value(s))) {
                av_fail(c, "duplicate symbol %s in enum %s", json_string_value(s), n->name);
                return NULL;
            }
            json_object_set_new(n->index, json_string_value(s), json_integer((json_int_t)i));
        }
        json_t *d = json_object_get(j, "default");
        if (d) {
            if (!av_default_ok(n, d, 0)) {
                av_fail(c, "default of enum %s is not one of its symbols", n->name);
                return NULL;
            }
            n->has_edef = true;
        }
        return n;
    }
    if (!strcmp(ts, "fixed")) {
        const char *nsx = ns;
        avnode *n = av_define(c, AV_FIXED, j, &nsx);
        if (!n) return NULL;
        json_t *sz = json_object_get(j, "size");
        if (!json_is_integer(sz) || json_integer_value(sz) < 0) {
            av_fail(c, "fixed %s without a valid \"size\"", n->name);
            return NULL;
        }
        n->size = json_integer_value(sz);
        return n;
    }
    if (!strcmp(ts, "array") || !strcmp(ts, "map")) {
        bool arr = ts[0] == 'a';
        json_t *it = json_object_get(j, arr ? "items" : "values");
        if (!it) {
            av_fail(c, "%s without \"%s\"", ts, arr ? "items" : "values");
            return NULL;
        }
        avnode *n = av_new(c, arr ? AV_ARRAY : AV_MAP);
        n->items = av_parse(c, it, ns, depth + 1);
        return n->items ? n : NULL;
    }
    return av_parse(c, t, ns, depth + 1); /* {"type":"int", "logicalType": ...} or a name */
}

static json_t *parse_doc(const char *text, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_loads(text ? text : "", JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!j && err) snprintf(err, errlen, "invalid JSON: %s (line %d)", je.text, je.line);
    return j;
}

/* Parses refs then the schema into c; returns the root node or NULL (c->err set). */
static avnode *av_load(avctx *c, const schema_src *s)
{
    for (int i = 0; i < s->nrefs && !c->failed; i++) {
        json_t *d = parse_doc(s->refs[i].schema, c->err, c->errlen);
        if (!d) {
            c->failed = true;
            return NULL;
        }
        if (c->ndocs == c->adocs) {
            c->adocs = c->adocs ? c->adocs * 2 : 8;
            c->docs = xrealloc(c->docs, (size_t)c->adocs * sizeof *c->docs);
        }
        c->docs[c->ndocs++] = d;
        if (!av_parse(c, d, "", 0)) return NULL;
    }
    json_t *d = parse_doc(s->text, c->err, c->errlen);
    if (!d) {
        c->failed = true;
        return NULL;
    }
    if (c->ndocs == c->adocs) {
        c->adocs = c->adocs ? c->adocs * 2 : 8;
        c->docs = xrealloc(c->docs, (size_t)c->adocs * sizeof *c->docs);
    }
    c->docs[c->ndocs++] = d;
    return av_parse(c, d, "", 0);
}

/* ---- Avro resolution ---- */

typedef struct avpair {
    const avnode *w, *r;
} avpair;

typedef struct avres {
    json_t *reasons;
    const char *rl, *wl;
    avpair *seen;
    int nseen, aseen;
    long steps; /* work budget: pathological schemas cannot stall the loop thread */
} avres;

#define COMPAT_MAX_STEPS 200000

static bool av_has_alias(json_t *aliases, const char *name)
{
    size_t i;
    json_t *a;
    json_array_foreach(aliases, i, a)
    {
        const char *s = json_string_value(a);
        if (s && (!strcmp(s, name) || !strcmp(short_name(s), short_name(name)))) return true;
    }
    return false;
}

static bool av_names_match(const avnode *w, const avnode *r)
{
    return !strcmp(w->name, r->name) || !strcmp(short_name(w->name), short_name(r->name)) ||
           av_has_alias(r->aliases, w->name);
}

static const char *av_desc(const avnode *n)
{
    return n->name ? n->name : av_prim[n->kind];
}

static bool av_match(avres *x, const avnode *w, const avnode *r, const char *path, bool quiet);

/* Does the writer type w match reader r (without reporting)? */
static bool av_quiet(avres *x, const avnode *w, const avnode *r)
{
    json_t *save = x->reasons;
    x->reasons = NULL;
    bool ok = av_match(x, w, r, "", true);
    x->reasons = save;
    return ok;
}

static bool av_match(avres *x, const avnode *w, const avnode *r, const char *path, bool quiet)
{
    (void)quiet;
    if (++x->steps > COMPAT_MAX_STEPS) {
        if (x->steps == COMPAT_MAX_STEPS + 1)
            reason(x->reasons, "TOO_COMPLEX", path, "the schemas are too complex to compare");
        return false;
    }
    for (int i = 0; i < x->nseen; i++)
        if (x->seen[i].w == w && x->seen[i].r == r) return true;
    if (w->kind == AV_UNION) {
        bool ok = true;
        for (int i = 0; i < w->nbr; i++) {
            char p[512];
            snprintf(p, sizeof p, "%s/%d", path, i);
            if (r->kind == AV_UNION) {
                bool any = false;
                for (int k = 0; k < r->nbr && !any; k++) any = av_quiet(x, w->br[i], r->br[k]);
                if (!any) {
                    ok = false;
                    reason(x->reasons, "MISSING_UNION_BRANCH", p,
                           "the %s schema's union lacks a branch for the %s schema's branch %s",
                           x->rl, x->wl, av_desc(w->br[i]));
                }
            } else if (!av_match(x, w->br[i], r, p, quiet)) {
                ok = false;
            }
        }
        return ok;
    }
    if (r->kind == AV_UNION) {
        for (int k = 0; k < r->nbr; k++)
            if (av_quiet(x, w, r->br[k])) return true;
        reason(x->reasons, "MISSING_UNION_BRANCH", path,
               "the %s schema's union has no branch that can read the %s schema's %s", x->rl,
               x->wl, av_desc(w));
        return false;
    }
    if (w->kind != r->kind) {
        bool promo = (w->kind == AV_INT &&
                      (r->kind == AV_LONG || r->kind == AV_FLOAT || r->kind == AV_DOUBLE)) ||
                     (w->kind == AV_LONG && (r->kind == AV_FLOAT || r->kind == AV_DOUBLE)) ||
                     (w->kind == AV_FLOAT && r->kind == AV_DOUBLE) ||
                     (w->kind == AV_STRING && r->kind == AV_BYTES) ||
                     (w->kind == AV_BYTES && r->kind == AV_STRING);
        if (!promo)
            reason(x->reasons, "TYPE_MISMATCH", path,
                   "the %s schema has type %s where the %s schema has %s (no promotion from %s "
                   "to %s)",
                   x->rl, av_desc(r), x->wl, av_desc(w), av_prim[w->kind], av_prim[r->kind]);
        return promo;
    }
    switch (w->kind) {
    case AV_ARRAY:
    case AV_MAP: {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", path, w->kind == AV_ARRAY ? "items" : "values");
        return av_match(x, w->items, r->items, p, quiet);
    }
    case AV_FIXED:
        if (!av_names_match(w, r)) {
            reason(x->reasons, "NAME_MISMATCH", path,
                   "fixed %s of the %s schema does not match fixed %s of the %s schema "
                   "(names and aliases differ)",
                   w->name, x->wl, r->name, x->rl);
            return false;
        }
        if (w->size != r->size) {
            reason(x->reasons, "FIXED_SIZE_MISMATCH", path,
                   "fixed %s has size %lld in the %s schema and %lld in the %s schema", w->name,
                   (long long)r->size, x->rl, (long long)w->size, x->wl);
            return false;
        }
        return true;
    case AV_ENUM: {
        if (!av_names_match(w, r)) {
            reason(x->reasons, "NAME_MISMATCH", path,
                   "enum %s of the %s schema does not match enum %s of the %s schema "
                   "(names and aliases differ)",
                   w->name, x->wl, r->name, x->rl);
            return false;
        }
        if (r->has_edef) return true;
        bool ok = true;
        size_t i;
        json_t *s;
        json_array_foreach(w->symbols, i, s)
        {
            if (!json_object_get(r->index, json_string_value(s))) {
                ok = false;
                reason(x->reasons, "MISSING_ENUM_SYMBOLS", path,
                       "enum %s: symbol %s of the %s schema is missing from the %s schema, which "
                       "has no enum default", r->name, json_string_value(s), x->wl, x->rl);
            }
        }
        return ok;
    }
    case AV_RECORD: {
        if (!av_names_match(w, r)) {
            reason(x->reasons, "NAME_MISMATCH", path,
                   "record %s of the %s schema does not match record %s of the %s schema "
                   "(names and aliases differ)",
                   w->name, x->wl, r->name, x->rl);
            return false;
        }
        if (x->nseen == x->aseen) {
            x->aseen = x->aseen ? x->aseen * 2 : 16;
            x->seen = xrealloc(x->seen, (size_t)x->aseen * sizeof *x->seen);
        }
        int mark = x->nseen;
        x->seen[x->nseen++] = (avpair){w, r};
        bool ok = true;
        for (int i = 0; i < r->nf; i++) {
            const avfield *rf = &r->f[i];
            const avfield *wf = NULL;
            json_t *at = json_object_get(w->index, rf->name);
            size_t ai;
            json_t *al;
            json_array_foreach(rf->aliases, ai, al)
            {
                if (at) break;
                if (json_is_string(al)) at = json_object_get(w->index, short_name(
                                                                   json_string_value(al)));
            }
            if (json_is_integer(at)) wf = &w->f[json_integer_value(at)];
            char p[512];
            snprintf(p, sizeof p, "%s/fields/%s", path, rf->name);
            if (!wf) {
                if (!rf->def) {
                    ok = false;
                    reason(x->reasons, "READER_FIELD_MISSING_DEFAULT_VALUE", p,
                           "field '%s' of record %s in the %s schema has no default value and "
                           "is missing from the %s schema", rf->name, r->name, x->rl, x->wl);
                }
                continue;
            }
            if (!av_match(x, wf->type, rf->type, p, quiet)) ok = false;
        }
        if (!ok) x->nseen = mark; /* only successful pairs stay assumed */
        return ok;
    }
    default: return true; /* same primitive */
    }
}

/* ============================================================ JSON Schema ======== */

enum { JT_NULL = 1, JT_BOOL = 2, JT_OBJ = 4, JT_ARR = 8, JT_NUM = 16, JT_STR = 32, JT_INT = 64 };
#define JT_ALL 127

static int js_type_bit(const char *s)
{
    static const char *const names[] = {"null",   "boolean", "object", "array",
                                        "number", "string",  "integer"};
    for (int i = 0; i < 7; i++)
        if (!strcmp(s, names[i])) return 1 << i;
    return 0;
}

static const char *js_type_name(int bit)
{
    static const char *const names[] = {"null",   "boolean", "object", "array",
                                        "number", "string",  "integer"};
    for (int i = 0; i < 7; i++)
        if (bit == 1 << i) return names[i];
    return "?";
}

static int js_types(json_t *s)
{
    json_t *t = json_object_get(s, "type");
    if (json_is_string(t)) return js_type_bit(json_string_value(t));
    if (json_is_array(t)) {
        int m = 0;
        size_t i;
        json_t *e;
        json_array_foreach(t, i, e) if (json_is_string(e)) m |= js_type_bit(json_string_value(e));
        return m;
    }
    return JT_ALL;
}

static bool js_valid(json_t *s, char *err, size_t errlen, int depth)
{
    if (depth > 100) {
        snprintf(err, errlen, "schema nested too deeply");
        return false;
    }
    if (json_is_boolean(s)) return true;
    if (!json_is_object(s)) {
        snprintf(err, errlen, "a JSON Schema is an object or a boolean");
        return false;
    }
    json_t *t = json_object_get(s, "type");
    if (t) {
        if (json_is_string(t)) {
            if (!js_type_bit(json_string_value(t))) {
                snprintf(err, errlen, "unknown type \"%s\"", json_string_value(t));
                return false;
            }
        } else if (json_is_array(t)) {
            size_t i;
            json_t *e;
            json_array_foreach(t, i, e) if (!json_is_string(e) ||
                                            !js_type_bit(json_string_value(e)))
            {
                snprintf(err, errlen, "invalid entry in \"type\"");
                return false;
            }
        } else {
            snprintf(err, errlen, "\"type\" must be a string or an array");
            return false;
        }
    }
    json_t *p = json_object_get(s, "properties");
    if (p) {
        if (!json_is_object(p)) {
            snprintf(err, errlen, "\"properties\" must be an object");
            return false;
        }
        const char *k;
        json_t *v;
        json_object_foreach(p, k, v) if (!js_valid(v, err, errlen, depth + 1)) return false;
    }
    json_t *r = json_object_get(s, "required");
    if (r) {
        size_t i;
        json_t *e;
        if (!json_is_array(r)) {
            snprintf(err, errlen, "\"required\" must be an array of strings");
            return false;
        }
        json_array_foreach(r, i, e) if (!json_is_string(e))
        {
            snprintf(err, errlen, "\"required\" must be an array of strings");
            return false;
        }
    }
    json_t *e = json_object_get(s, "enum");
    if (e && !json_is_array(e)) {
        snprintf(err, errlen, "\"enum\" must be an array");
        return false;
    }
    static const char *const sub[] = {"items", "additionalProperties", "not"};
    for (size_t i = 0; i < ARRAY_LEN(sub); i++) {
        json_t *v = json_object_get(s, sub[i]);
        if (v && !json_is_array(v) && !js_valid(v, err, errlen, depth + 1)) return false;
    }
    static const char *const comb[] = {"oneOf", "anyOf", "allOf"};
    for (size_t i = 0; i < ARRAY_LEN(comb); i++) {
        json_t *v = json_object_get(s, comb[i]);
        if (!v) continue;
        if (!json_is_array(v)) {
            snprintf(err, errlen, "\"%s\" must be an array", comb[i]);
            return false;
        }
        size_t k;
        json_t *b;
        json_array_foreach(v, k, b) if (!js_valid(b, err, errlen, depth + 1)) return false;
    }
    static const char *const nums[] = {"minimum",   "maximum",   "exclusiveMinimum",
                                       "minLength", "maxLength", "minItems",
                                       "maxItems",  "multipleOf"};
    for (size_t i = 0; i < ARRAY_LEN(nums); i++) {
        json_t *v = json_object_get(s, nums[i]);
        if (v && !json_is_number(v) && !json_is_boolean(v)) {
            snprintf(err, errlen, "\"%s\" must be a number", nums[i]);
            return false;
        }
    }
    return true;
}

typedef struct jsres {
    json_t *reasons;
    const char *rl, *wl;
    long *steps; /* shared work budget (COMPAT_MAX_STEPS) */
    json_t *rroot, *wroot; /* documents, for local "#/..." $refs */
    struct jsrefs *refs;   /* $ref targets under comparison (recursion guard) */
} jsres;

typedef struct jsrefs {
    json_t *r[128], *w[128];
    int n;
} jsrefs;

/* Resolves a local JSON pointer reference ("#/definitions/x") inside root, or NULL. */
static json_t *js_local_ref(json_t *root, json_t *ref)
{
    const char *p = json_string_value(ref);
    if (!p || p[0] != '#') return NULL;
    p++;
    json_t *cur = root;
    while (*p == '/' && cur) {
        p++;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char tok[256];
        size_t k = 0;
        for (size_t i = 0; i < n && k + 1 < sizeof tok; i++) {
            if (p[i] == '~' && i + 1 < n && (p[i + 1] == '0' || p[i + 1] == '1')) {
                tok[k++] = p[i + 1] == '0' ? '~' : '/';
                i++;
            } else {
                tok[k++] = p[i];
            }
        }
        tok[k] = 0;
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *end;
            long idx = strtol(tok, &end, 10);
            cur = (*end || idx < 0) ? NULL : json_array_get(cur, (size_t)idx);
        } else {
            cur = NULL;
        }
        p += n;
    }
    return *p ? NULL : cur;
}

static bool js_empty(json_t *s)
{
    return json_is_true(s) || (json_is_object(s) && json_object_size(s) == 0);
}

static bool js_closed(json_t *s) /* additionalProperties: false */
{
    return json_is_false(json_object_get(s, "additionalProperties"));
}

static bool js_can_read(jsres *x, json_t *r, json_t *w, const char *path, int depth);

static bool js_quiet(jsres *x, json_t *r, json_t *w, int depth)
{
    jsres q = {NULL, x->rl, x->wl, x->steps, x->rroot, x->wroot, x->refs};
    return js_can_read(&q, r, w, "", depth);
}

static bool js_in_array(json_t *arr, json_t *v)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) if (json_equal(e, v)) return true;
    return false;
}

static bool js_bound(jsres *x, json_t *r, json_t *w, const char *key, bool is_min,
                     const char *path)
{
    json_t *rv = json_object_get(r, key), *wv = json_object_get(w, key);
    if (!rv || !json_is_number(rv)) return true;
    char p[512];
    snprintf(p, sizeof p, "%s/%s", path, key);
    if (!wv || !json_is_number(wv)) {
        reason(x->reasons, is_min ? "MIN_ADDED" : "MAX_ADDED", p,
               "'%s' = %g added in the %s schema (absent in the %s schema) tightens the bound",
               key, json_number_value(rv), x->rl, x->wl);
        return false;
    }
    double a = json_number_value(rv), b = json_number_value(wv);
    if (is_min ? a > b : a < b) {
        reason(x->reasons, is_min ? "MIN_INCREASED" : "MAX_DECREASED", p,
               "'%s' %s from %g (%s schema) to %g (%s schema)", key,
               is_min ? "increased" : "decreased", b, x->wl, a, x->rl);
        return false;
    }
    return true;
}

static bool js_can_read(jsres *x, json_t *r, json_t *w, const char *path, int depth)
{
    if (depth > 100) return true;
    if (++*x->steps > COMPAT_MAX_STEPS) {
        if (*x->steps == COMPAT_MAX_STEPS + 1)
            reason(x->reasons, "TOO_COMPLEX", path, "the schemas are too complex to compare");
        return false;
    }
    if (json_is_false(w) || js_empty(r)) return true;
    if (json_is_false(r)) {
        reason(x->reasons, "SCHEMA_NARROWED", path,
               "the %s schema accepts nothing where the %s schema accepts documents", x->rl,
               x->wl);
        return false;
    }
    if (json_is_true(w)) {
        reason(x->reasons, "SCHEMA_NARROWED", path,
               "the %s schema constrains documents the %s schema accepts without constraint",
               x->rl, x->wl);
        return false;
    }
    if (!json_is_object(r) || !json_is_object(w)) return json_equal(r, w);
    bool ok = true;
    char p[512];

    /* $ref: local ones ("#/definitions/x") are followed, others compared by value */
    json_t *rref = json_object_get(r, "$ref"), *wref = json_object_get(w, "$ref");
    json_t *rtgt = rref ? js_local_ref(x->rroot, rref) : NULL;
    json_t *wtgt = wref ? js_local_ref(x->wroot, wref) : NULL;
    if (rtgt || wtgt) {
        json_t *nr = rtgt ? rtgt : r, *nw = wtgt ? wtgt : w;
        jsrefs *g = x->refs;
        for (int i = 0; i < g->n; i++)
            if (g->r[i] == nr && g->w[i] == nw) return true; /* recursive: assumed */
        if (g->n == (int)ARRAY_LEN(g->r)) return js_can_read(x, nr, nw, path, depth + 1);
        g->r[g->n] = nr;
        g->w[g->n++] = nw;
        bool res = js_can_read(x, nr, nw, path, depth + 1);
        g->n--;
        return res;
    }
    if (rref || wref) {
        if (!json_equal(rref, wref)) {
            reason(x->reasons, "REFERENCE_CHANGED", path, "$ref differs between the %s and the "
                   "%s schema", x->rl, x->wl);
            return false;
        }
    }

    /* combined schemas */
    static const char *const comb[] = {"oneOf", "anyOf"};
    for (size_t ci = 0; ci < ARRAY_LEN(comb); ci++) {
        json_t *rc = json_object_get(r, comb[ci]), *wc = json_object_get(w, comb[ci]);
        if (!rc && !wc) continue;
        /* no shortcut on textual equality: equal branches may be local $refs whose targets
         * changed */
        snprintf(p, sizeof p, "%s/%s", path, comb[ci]);
        size_t i, k;
        json_t *wb, *rb;
        if (wc) {
            json_array_foreach(wc, i, wb)
            {
                bool any = false;
                if (rc) {
                    json_array_foreach(rc, k, rb) if (!any && js_quiet(x, rb, wb, depth + 1))
                        any = true;
                } else {
                    any = js_quiet(x, r, wb, depth + 1);
                }
                if (!any) {
                    ok = false;
                    reason(x->reasons, "COMBINED_TYPE_SUBSCHEMAS_CHANGED", p,
                           "%s branch %zu of the %s schema is not accepted by any branch of the "
                           "%s schema", comb[ci], i, x->wl, x->rl);
                }
            }
        } else {
            bool any = false;
            json_array_foreach(rc, k, rb) if (!any && js_quiet(x, rb, w, depth + 1)) any = true;
            if (!any) {
                ok = false;
                reason(x->reasons, "COMBINED_TYPE_SUBSCHEMAS_CHANGED", p,
                       "no %s branch of the %s schema accepts what the %s schema accepts",
                       comb[ci], x->rl, x->wl);
            }
        }
    }

    /* type */
    int rt = js_types(r), wt = js_types(w);
    int eff_r = rt | ((rt & JT_NUM) ? JT_INT : 0);
    int missing = wt & ~eff_r;
    if (missing) {
        ok = false;
        snprintf(p, sizeof p, "%s/type", path);
        for (int bit = 1; bit <= JT_INT; bit <<= 1) {
            if (!(missing & bit)) continue;
            if (wt == JT_ALL)
                reason(x->reasons, "TYPE_NARROWED", p,
                       "the %s schema restricts the type where the %s schema allows any type",
                       x->rl, x->wl);
            else
                reason(x->reasons,
                       (rt & (wt | ((wt & JT_NUM) ? JT_INT : 0))) ? "TYPE_NARROWED"
                                                                  : "TYPE_CHANGED", p,
                       "type '%s' allowed by the %s schema is not allowed by the %s schema",
                       js_type_name(bit), x->wl, x->rl);
            if (wt == JT_ALL) break;
        }
    }

    /* enum / const */
    json_t *re = json_object_get(r, "enum"), *we = json_object_get(w, "enum");
    if (json_is_array(re)) {
        snprintf(p, sizeof p, "%s/enum", path);
        if (!json_is_array(we)) {
            ok = false;
            reason(x->reasons, "ENUM_ARRAY_NARROWED", p,
                   "the %s schema adds an enum where the %s schema has none", x->rl, x->wl);
        } else {
            size_t i;
            json_t *v;
            json_array_foreach(we, i, v)
            {
                *x->steps += (long)json_array_size(re) / 16;
                if (*x->steps > COMPAT_MAX_STEPS) {
                    ok = false;
                    reason(x->reasons, "TOO_COMPLEX", p, "the enums are too large to compare");
                    break;
                }
                if (js_in_array(re, v)) continue;
                ok = false;
                char *vs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                reason(x->reasons, "ENUM_ARRAY_NARROWED", p,
                       "enum value %s of the %s schema is missing from the %s schema",
                       vs ? vs : "?", x->wl, x->rl);
                free(vs);
            }
        }
    }
    json_t *rcst = json_object_get(r, "const");
    if (rcst && !json_equal(rcst, json_object_get(w, "const"))) {
        ok = false;
        snprintf(p, sizeof p, "%s/const", path);
        reason(x->reasons, "CONST_CHANGED", p, "const differs between the %s and the %s schema",
               x->rl, x->wl);
    }

    /* bounds */
    static const char *const mins[] = {"minimum", "exclusiveMinimum", "minLength", "minItems",
                                       "minProperties"};
    static const char *const maxs[] = {"maximum", "exclusiveMaximum", "maxLength", "maxItems",
                                       "maxProperties"};
    for (size_t i = 0; i < ARRAY_LEN(mins); i++)
        if (!js_bound(x, r, w, mins[i], true, path)) ok = false;
    for (size_t i = 0; i < ARRAY_LEN(maxs); i++)
        if (!js_bound(x, r, w, maxs[i], false, path)) ok = false;
    json_t *rm = json_object_get(r, "multipleOf"), *wm = json_object_get(w, "multipleOf");
    if (json_is_number(rm)) {
        double a = json_number_value(rm), b = wm ? json_number_value(wm) : 0;
        double q = b / a;
        if (!wm || a == 0 || q != (double)(long long)q) {
            ok = false;
            snprintf(p, sizeof p, "%s/multipleOf", path);
            reason(x->reasons, wm ? "MULTIPLE_OF_CHANGED" : "MULTIPLE_OF_ADDED", p,
                   "multipleOf %g in the %s schema is not implied by the %s schema", a, x->rl,
                   x->wl);
        }
    }
    json_t *rp = json_object_get(r, "pattern"), *wp = json_object_get(w, "pattern");
    if (rp && !json_equal(rp, wp)) {
        ok = false;
        snprintf(p, sizeof p, "%s/pattern", path);
        reason(x->reasons, wp ? "PATTERN_CHANGED" : "PATTERN_ADDED", p,
               "pattern %s in the %s schema", wp ? "changed" : "added", x->rl);
    }
    if (json_is_true(json_object_get(r, "uniqueItems")) &&
        !json_is_true(json_object_get(w, "uniqueItems"))) {
        ok = false;
        snprintf(p, sizeof p, "%s/uniqueItems", path);
        reason(x->reasons, "UNIQUE_ITEMS_ADDED", p, "uniqueItems added in the %s schema", x->rl);
    }

    /* items */
    json_t *ri = json_object_get(r, "items"), *wi = json_object_get(w, "items");
    if (ri && !json_is_array(ri) && !js_empty(ri)) {
        snprintf(p, sizeof p, "%s/items", path);
        if (!wi || json_is_array(wi)) {
            if (!wi && (wt & JT_ARR)) {
                ok = false;
                reason(x->reasons, "ITEMS_NARROWED", p,
                       "the %s schema constrains array items the %s schema leaves open", x->rl,
                       x->wl);
            }
        } else if (!js_can_read(x, ri, wi, p, depth + 1)) {
            ok = false;
        }
    }

    /* object: properties against the content model */
    json_t *rprops = json_object_get(r, "properties"), *wprops = json_object_get(w, "properties");
    json_t *raddl = json_object_get(r, "additionalProperties");
    json_t *waddl = json_object_get(w, "additionalProperties");
    const char *k;
    json_t *v;
    json_object_foreach(wprops, k, v)
    {
        json_t *rv = json_object_get(rprops, k);
        snprintf(p, sizeof p, "%s/properties/%s", path, k);
        if (rv) {
            if (!js_can_read(x, rv, v, p, depth + 1)) ok = false;
        } else if (js_closed(r)) {
            ok = false;
            reason(x->reasons, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", p,
                   "property '%s' of the %s schema is missing from the %s schema, whose content "
                   "model is closed (additionalProperties: false)", k, x->wl, x->rl);
        } else if (json_is_object(raddl) && !js_can_read(x, raddl, v, p, depth + 1)) {
            ok = false;
        }
    }
    json_object_foreach(rprops, k, v)
    {
        if (json_object_get(wprops, k) || js_empty(v)) continue;
        snprintf(p, sizeof p, "%s/properties/%s", path, k);
        if (js_closed(w)) continue; /* the writer never wrote it */
        if (json_is_object(waddl)) {
            if (!js_can_read(x, v, waddl, p, depth + 1)) ok = false;
            continue;
        }
        ok = false;
        reason(x->reasons, "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", p,
               "property '%s' added in the %s schema, but the %s schema's content model is open "
               "(additionalProperties not false), so its documents may hold any '%s'", k, x->rl,
               x->wl, k);
    }
    if (json_is_false(raddl) && !json_is_false(waddl)) {
        ok = false;
        snprintf(p, sizeof p, "%s/additionalProperties", path);
        reason(x->reasons, "ADDITIONAL_PROPERTIES_REMOVED", p,
               "the %s schema closes the content model (additionalProperties: false) that the "
               "%s schema leaves open", x->rl, x->wl);
    } else if (json_is_object(raddl) && !js_empty(raddl) && !json_is_false(waddl)) {
        snprintf(p, sizeof p, "%s/additionalProperties", path);
        if (!json_is_object(waddl)) {
            ok = false;
            reason(x->reasons, "ADDITIONAL_PROPERTIES_NARROWED", p,
                   "the %s schema constrains additional properties the %s schema leaves open",
                   x->rl, x->wl);
        } else if (!js_can_read(x, raddl, waddl, p, depth + 1)) {
            ok = false;
        }
    }
    json_t *rreq = json_object_get(r, "required"), *wreq = json_object_get(w, "required");
    size_t i;
    json_array_foreach(rreq, i, v)
    {
        if (json_is_array(wreq) && js_in_array(wreq, v)) continue;
        ok = false;
        snprintf(p, sizeof p, "%s/required/%s", path, json_string_value(v));
        reason(x->reasons, "REQUIRED_PROPERTY_ADDED", p,
               "property '%s' is required by the %s schema but not by the %s schema",
               json_string_value(v), x->rl, x->wl);
    }
    return ok;
}

/* =============================================================== public ======== */

char *schema_normalize(int type, const schema_src *s, char *err, size_t errlen)
{
    if (type == STYPE_PROTOBUF) {
        snprintf(err, errlen, "PROTOBUF schemas are not supported");
        return NULL;
    }
    if (type == STYPE_AVRO) {
        avctx c = {0};
        c.err = err;
        c.errlen = errlen;
        avnode *root = av_load(&c, s);
        char *out = NULL;
        if (root && !c.failed)
            out = json_dumps(c.docs[c.ndocs - 1], JSON_COMPACT | JSON_ENCODE_ANY);
        av_free(&c);
        return out;
    }
    if (type == STYPE_JSON) {
        json_t *d = parse_doc(s->text, err, errlen);
        if (!d) return NULL;
        char *out = NULL;
        if (js_valid(d, err, errlen, 0)) out = json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(d);
        return out;
    }
    snprintf(err, errlen, "unknown schema type");
    return NULL;
}

static json_t *avro_collapse(json_t *j, int depth)
{
    if (depth > 200) return json_incref(j);
    if (json_is_object(j)) {
        json_t *t = json_object_get(j, "type");
        if (json_object_size(j) == 1 && json_is_string(t)) {
            for (int k = AV_NULL; k <= AV_STRING; k++)
                if (!strcmp(json_string_value(t), av_prim[k])) return json_incref(t);
        }
        json_t *o = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) json_object_set_new(o, k, avro_collapse(v, depth + 1));
        return o;
    }
    if (json_is_array(j)) {
        json_t *a = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) json_array_append_new(a, avro_collapse(v, depth + 1));
        return a;
    }
    return json_incref(j);
}

char *schema_canonical(int type, const char *text)
{
    json_t *d = parse_doc(text, NULL, 0);
    if (!d) return NULL;
    if (type == STYPE_AVRO) {
        json_t *c = avro_collapse(d, 0);
        json_decref(d);
        d = c;
    }
    char *out = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(d);
    return out;
}

bool schema_can_read(int type, const schema_src *reader, const schema_src *writer,
                     const char *rlabel, const char *wlabel, json_t *reasons)
{
    char err[256] = "";
    if (type == STYPE_AVRO) {
        avctx cr = {0}, cw = {0};
        cr.err = cw.err = err;
        cr.errlen = cw.errlen = sizeof err;
        avnode *r = av_load(&cr, reader);
        avnode *w = av_load(&cw, writer);
        bool ok = false;
        if (r && w) {
            avres x = {reasons, rlabel, wlabel, NULL, 0, 0, 0};
            ok = av_match(&x, w, r, "", false);
            free(x.seen);
        } else {
            reason(reasons, "INVALID_SCHEMA", "", "%s", err);
        }
        av_free(&cr);
        av_free(&cw);
        return ok;
    }
    if (type == STYPE_JSON) {
        json_t *r = parse_doc(reader->text, err, sizeof err);
        json_t *w = parse_doc(writer->text, err, sizeof err);
        bool ok = false;
        if (r && w) {
            long steps = 0;
            jsrefs g;
            g.n = 0;
            jsres x = {reasons, rlabel, wlabel, &steps, r, w, &g};
            ok = js_can_read(&x, r, w, "", 0);
        } else {
            reason(reasons, "INVALID_SCHEMA", "", "%s", err);
        }
        json_decref(r);
        json_decref(w);
        return ok;
    }
    return false;
}

bool compat_check(int type, int level, const schema_src *news, const schema_src *prev,
                  const int *versions, int nprev, json_t *reasons)
{
    if (level == CL_NONE || nprev == 0) return true;
    bool transitive = level == CL_BACKWARD_TRANSITIVE || level == CL_FORWARD_TRANSITIVE ||
                      level == CL_FULL_TRANSITIVE;
    bool back = level != CL_FORWARD && level != CL_FORWARD_TRANSITIVE;
    bool fwd = level != CL_BACKWARD && level != CL_BACKWARD_TRANSITIVE;
    bool ok = true;
    for (int i = transitive ? 0 : nprev - 1; i < nprev; i++) {
        json_t *rs = json_array();
        bool one = true;
        if (back && !schema_can_read(type, news, &prev[i], "new", "old", rs)) one = false;
        if (fwd && !schema_can_read(type, &prev[i], news, "old", "new", rs)) one = false;
        if (!one) {
            ok = false;
            if (reasons) {
                json_array_extend(reasons, rs);
                if (versions) {
                    char *m = xasprintf("{oldSchemaVersion: %d}", versions[i]);
                    json_array_append_new(reasons, json_string(m));
                    free(m);
                }
                char *m = xasprintf("{compatibility: '%s'}", compat_level_name(level));
                json_array_append_new(reasons, json_string(m));
                free(m);
            }
        }
        json_decref(rs);
    }
    return ok;
}
