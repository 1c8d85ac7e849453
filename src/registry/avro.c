/* avro — Avro schemas for the schema registry (compat_int.h): validation and normalisation,
 * the canonical form, and reader/writer compatibility. Pure functions over jansson trees.
 *
 * The JSON schema is parsed into a small graph of avnodes (named types shared through a name
 * table, so recursive records become cycles), then reader/writer resolution follows the Avro
 * specification's "Schema Resolution" section: records match fields by name or reader alias, a
 * reader field absent from the writer needs a default, int→long→float→double and string↔bytes
 * promote, enums need the writer's symbols (or a reader default), unions are resolved branch by
 * branch on both sides, arrays/maps/fixed recurse, named types match by (full or short) name or
 * alias. Pairs already under comparison count as compatible, which ends recursion.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "registry/compat_int.h"

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
static const char *const av_prim[] = {"null",   "boolean", "int",    "long",   "float",
                                      "double", "bytes",   "string", "record", "enum",
                                      "array",  "map",     "union",  "fixed"};

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

/* Parses one schema document into c (kept alive in c->docs); its root node or NULL. */
static avnode *av_load_doc(avctx *c, const char *text)
{
    json_t *d = compat_parse_doc(text, c->err, c->errlen);
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

/* Parses refs then the schema into c; returns the root node or NULL (c->err set). */
static avnode *av_load(avctx *c, const schema_src *s)
{
    for (int i = 0; i < s->nrefs && !c->failed; i++)
        if (!av_load_doc(c, s->refs[i].schema)) return NULL;
    return av_load_doc(c, s->text);
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

/* Named types (kind: record, enum, fixed) match by full name, short name or a reader alias;
 * else a NAME_MISMATCH reason. */
static bool av_names_match(avres *x, const avnode *w, const avnode *r, const char *path,
                           const char *kind)
{
    if (!strcmp(w->name, r->name) || !strcmp(short_name(w->name), short_name(r->name)) ||
        av_has_alias(r->aliases, w->name))
        return true;
    compat_reason(x->reasons, "NAME_MISMATCH", path,
                  "%s %s of the %s schema does not match %s %s of the %s schema (names and "
                  "aliases differ)",
                  kind, w->name, x->wl, kind, r->name, x->rl);
    return false;
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

/* Records: names must match; every reader field is read from the writer field of the same
 * name (or a reader alias) or needs a default. */
static bool av_match_record(avres *x, const avnode *w, const avnode *r, const char *path,
                            bool quiet)
{
    if (!av_names_match(x, w, r, path, "record")) return false;
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
            if (json_is_string(al))
                at = json_object_get(w->index, short_name(json_string_value(al)));
        }
        if (json_is_integer(at)) wf = &w->f[json_integer_value(at)];
        char p[512];
        snprintf(p, sizeof p, "%s/fields/%s", path, rf->name);
        if (!wf) {
            if (!rf->def) {
                ok = false;
                compat_reason(x->reasons, "READER_FIELD_MISSING_DEFAULT_VALUE", p,
                              "field '%s' of record %s in the %s schema has no default value and "
                              "is missing from the %s schema",
                              rf->name, r->name, x->rl, x->wl);
            }
            continue;
        }
        if (!av_match(x, wf->type, rf->type, p, quiet)) ok = false;
    }
    if (!ok) x->nseen = mark; /* only successful pairs stay assumed */
    return ok;
}

static bool av_match(avres *x, const avnode *w, const avnode *r, const char *path, bool quiet)
{
    (void)quiet;
    if (++x->steps > COMPAT_MAX_STEPS) {
        if (x->steps == COMPAT_MAX_STEPS + 1)
            compat_reason(x->reasons, "TOO_COMPLEX", path,
                          "the schemas are too complex to compare");
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
                    compat_reason(
                        x->reasons, "MISSING_UNION_BRANCH", p,
                        "the %s schema's union lacks a branch for the %s schema's branch %s", x->rl,
                        x->wl, av_desc(w->br[i]));
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
        compat_reason(x->reasons, "MISSING_UNION_BRANCH", path,
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
            compat_reason(
                x->reasons, "TYPE_MISMATCH", path,
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
        if (!av_names_match(x, w, r, path, "fixed")) return false;
        if (w->size != r->size) {
            compat_reason(x->reasons, "FIXED_SIZE_MISMATCH", path,
                          "fixed %s has size %lld in the %s schema and %lld in the %s schema",
                          w->name, (long long)r->size, x->rl, (long long)w->size, x->wl);
            return false;
        }
        return true;
    case AV_ENUM: {
        if (!av_names_match(x, w, r, path, "enum")) return false;
        if (r->has_edef) return true;
        bool ok = true;
        size_t i;
        json_t *s;
        json_array_foreach(w->symbols, i, s)
        {
            if (!json_object_get(r->index, json_string_value(s))) {
                ok = false;
                compat_reason(
                    x->reasons, "MISSING_ENUM_SYMBOLS", path,
                    "enum %s: symbol %s of the %s schema is missing from the %s schema, which "
                    "has no enum default",
                    r->name, json_string_value(s), x->wl, x->rl);
            }
        }
        return ok;
    }
    case AV_RECORD: return av_match_record(x, w, r, path, quiet);
    default: return true; /* same primitive */
    }
}

json_t *avro_collapse(json_t *j, int depth)
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

char *avro_normalize(const schema_src *s, char *err, size_t errlen)
{
    avctx c = {0};
    c.err = err;
    c.errlen = errlen;
    avnode *root = av_load(&c, s);
    char *out = NULL;
    if (root && !c.failed) out = json_dumps(c.docs[c.ndocs - 1], JSON_COMPACT | JSON_ENCODE_ANY);
    av_free(&c);
    return out;
}

bool avro_can_read(const schema_src *reader, const schema_src *writer, const char *rlabel,
                   const char *wlabel, json_t *reasons)
{
    char err[256] = "";
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
        compat_reason(reasons, "INVALID_SCHEMA", "", "%s", err);
    }
    av_free(&cr);
    av_free(&cw);
    return ok;
}
