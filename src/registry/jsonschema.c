/* jsonschema — JSON Schema for the schema registry (compat_int.h): validation and
 * normalisation, and "reader can read writer" = every document valid under the writer is valid
 * under the reader. Checked keyword by keyword: type sets (integer ⊂ number), properties against
 * the open/closed content model (additionalProperties), required, enum/const, items, numeric and
 * length bounds, pattern, oneOf/anyOf subschemas, local $refs followed. Pure functions over
 * jansson trees.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "registry/compat_int.h"
#include "sdkschema/jsonptr.h"

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
            json_array_foreach(t, i,
                               e) if (!json_is_string(e) || !js_type_bit(json_string_value(e)))
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
    static const char *const nums[] = {"minimum",   "maximum",  "exclusiveMinimum", "minLength",
                                       "maxLength", "minItems", "maxItems",         "multipleOf"};
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
    long *steps;           /* shared work budget (COMPAT_MAX_STEPS) */
    json_t *rroot, *wroot; /* documents, for local "#/..." $refs */
    struct jsrefs *refs;   /* $ref targets under comparison (recursion guard) */
} jsres;

typedef struct jsrefs {
    json_t *r[128], *w[128];
    int n;
} jsrefs;

/* Resolves a local JSON pointer reference ("#/definitions/x") inside root, or NULL: the same
 * resolver as libeddy's validator (sdkschema/jsonptr.h). */
static json_t *js_local_ref(json_t *root, json_t *ref)
{
    return (json_t *)sch_json_pointer(root, json_string_value(ref));
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

static bool js_bound(jsres *x, json_t *r, json_t *w, const char *key, bool is_min, const char *path)
{
    json_t *rv = json_object_get(r, key), *wv = json_object_get(w, key);
    if (!rv || !json_is_number(rv)) return true;
    char p[512];
    snprintf(p, sizeof p, "%s/%s", path, key);
    if (!wv || !json_is_number(wv)) {
        compat_reason(
            x->reasons, is_min ? "MIN_ADDED" : "MAX_ADDED", p,
            "'%s' = %g added in the %s schema (absent in the %s schema) tightens the bound", key,
            json_number_value(rv), x->rl, x->wl);
        return false;
    }
    double a = json_number_value(rv), b = json_number_value(wv);
    if (is_min ? a > b : a < b) {
        compat_reason(x->reasons, is_min ? "MIN_INCREASED" : "MAX_DECREASED", p,
                      "'%s' %s from %g (%s schema) to %g (%s schema)", key,
                      is_min ? "increased" : "decreased", b, x->wl, a, x->rl);
        return false;
    }
    return true;
}

/* $ref: local ones ("#/definitions/x") are followed, others compared by value. Returns true
 * when the pair was decided here (*res holds the answer). */
static bool js_follow_ref(jsres *x, json_t *r, json_t *w, const char *path, int depth, bool *res)
{
    json_t *rref = json_object_get(r, "$ref"), *wref = json_object_get(w, "$ref");
    json_t *rtgt = rref ? js_local_ref(x->rroot, rref) : NULL;
    json_t *wtgt = wref ? js_local_ref(x->wroot, wref) : NULL;
    if (rtgt || wtgt) {
        json_t *nr = rtgt ? rtgt : r, *nw = wtgt ? wtgt : w;
        jsrefs *g = x->refs;
        for (int i = 0; i < g->n; i++) {
            if (g->r[i] == nr && g->w[i] == nw) { /* recursive: assumed */
                *res = true;
                return true;
            }
        }
        if (g->n == (int)ARRAY_LEN(g->r)) {
            *res = js_can_read(x, nr, nw, path, depth + 1);
            return true;
        }
        g->r[g->n] = nr;
        g->w[g->n++] = nw;
        *res = js_can_read(x, nr, nw, path, depth + 1);
        g->n--;
        return true;
    }
    if ((rref || wref) && !json_equal(rref, wref)) {
        compat_reason(x->reasons, "REFERENCE_CHANGED", path,
                      "$ref differs between the %s and the %s schema", x->rl, x->wl);
        *res = false;
        return true;
    }
    return false;
}

/* Is writer branch wb accepted by some branch of rc (or by r itself when rc is NULL)? */
static bool js_any_branch(jsres *x, json_t *r, json_t *rc, json_t *wb, int depth)
{
    if (!rc) return js_quiet(x, r, wb, depth + 1);
    size_t k;
    json_t *rb;
    json_array_foreach(rc, k, rb) if (js_quiet(x, rb, wb, depth + 1)) return true;
    return false;
}

/* oneOf / anyOf: every writer branch must be accepted by a reader branch. No shortcut on
 * textual equality: equal branches may be local $refs whose targets changed. */
static bool js_combined(jsres *x, json_t *r, json_t *w, const char *path, int depth)
{
    static const char *const comb[] = {"oneOf", "anyOf"};
    bool ok = true;
    char p[512];
    for (size_t ci = 0; ci < ARRAY_LEN(comb); ci++) {
        json_t *rc = json_object_get(r, comb[ci]), *wc = json_object_get(w, comb[ci]);
        if (!rc && !wc) continue;
        snprintf(p, sizeof p, "%s/%s", path, comb[ci]);
        if (!wc) {
            if (js_any_branch(x, NULL, rc, w, depth)) continue;
            ok = false;
            compat_reason(x->reasons, "COMBINED_TYPE_SUBSCHEMAS_CHANGED", p,
                          "no %s branch of the %s schema accepts what the %s schema accepts",
                          comb[ci], x->rl, x->wl);
            continue;
        }
        size_t i;
        json_t *wb;
        json_array_foreach(wc, i, wb)
        {
            if (js_any_branch(x, r, rc, wb, depth)) continue;
            ok = false;
            compat_reason(x->reasons, "COMBINED_TYPE_SUBSCHEMAS_CHANGED", p,
                          "%s branch %zu of the %s schema is not accepted by any branch of the "
                          "%s schema",
                          comb[ci], i, x->wl, x->rl);
        }
    }
    return ok;
}

/* "type": every type the writer allows must be allowed by the reader (integer ⊂ number). */
static bool js_type_ok(jsres *x, json_t *r, json_t *w, const char *path)
{
    int rt = js_types(r), wt = js_types(w);
    int eff_r = rt | ((rt & JT_NUM) ? JT_INT : 0);
    int missing = wt & ~eff_r;
    if (!missing) return true;
    char p[512];
    snprintf(p, sizeof p, "%s/type", path);
    for (int bit = 1; bit <= JT_INT; bit <<= 1) {
        if (!(missing & bit)) continue;
        if (wt == JT_ALL) {
            compat_reason(x->reasons, "TYPE_NARROWED", p,
                          "the %s schema restricts the type where the %s schema allows any type",
                          x->rl, x->wl);
            break;
        }
        compat_reason(x->reasons,
                      (rt & (wt | ((wt & JT_NUM) ? JT_INT : 0))) ? "TYPE_NARROWED" : "TYPE_CHANGED",
                      p, "type '%s' allowed by the %s schema is not allowed by the %s schema",
                      js_type_name(bit), x->wl, x->rl);
    }
    return false;
}

/* "enum" (the reader's must hold every writer value) and "const" (must be equal). */
static bool js_enum_const(jsres *x, json_t *r, json_t *w, const char *path)
{
    bool ok = true;
    char p[512];
    json_t *re = json_object_get(r, "enum"), *we = json_object_get(w, "enum");
    if (json_is_array(re)) {
        snprintf(p, sizeof p, "%s/enum", path);
        if (!json_is_array(we)) {
            ok = false;
            compat_reason(x->reasons, "ENUM_ARRAY_NARROWED", p,
                          "the %s schema adds an enum where the %s schema has none", x->rl, x->wl);
        } else {
            size_t i;
            json_t *v;
            json_array_foreach(we, i, v)
            {
                *x->steps += (long)json_array_size(re) / 16;
                if (*x->steps > COMPAT_MAX_STEPS) {
                    ok = false;
                    compat_reason(x->reasons, "TOO_COMPLEX", p,
                                  "the enums are too large to compare");
                    break;
                }
                if (js_in_array(re, v)) continue;
                ok = false;
                char *vs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                compat_reason(x->reasons, "ENUM_ARRAY_NARROWED", p,
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
        compat_reason(x->reasons, "CONST_CHANGED", p,
                      "const differs between the %s and the %s schema", x->rl, x->wl);
    }
    return ok;
}

/* Numeric and length bounds, multipleOf, pattern, uniqueItems: the reader may not tighten. */
static bool js_constraints(jsres *x, json_t *r, json_t *w, const char *path)
{
    static const char *const mins[] = {"minimum", "exclusiveMinimum", "minLength", "minItems",
                                       "minProperties"};
    static const char *const maxs[] = {"maximum", "exclusiveMaximum", "maxLength", "maxItems",
                                       "maxProperties"};
    bool ok = true;
    char p[512];
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
            compat_reason(x->reasons, wm ? "MULTIPLE_OF_CHANGED" : "MULTIPLE_OF_ADDED", p,
                          "multipleOf %g in the %s schema is not implied by the %s schema", a,
                          x->rl, x->wl);
        }
    }
    json_t *rp = json_object_get(r, "pattern"), *wp = json_object_get(w, "pattern");
    if (rp && !json_equal(rp, wp)) {
        ok = false;
        snprintf(p, sizeof p, "%s/pattern", path);
        compat_reason(x->reasons, wp ? "PATTERN_CHANGED" : "PATTERN_ADDED", p,
                      "pattern %s in the %s schema", wp ? "changed" : "added", x->rl);
    }
    if (json_is_true(json_object_get(r, "uniqueItems")) &&
        !json_is_true(json_object_get(w, "uniqueItems"))) {
        ok = false;
        snprintf(p, sizeof p, "%s/uniqueItems", path);
        compat_reason(x->reasons, "UNIQUE_ITEMS_ADDED", p, "uniqueItems added in the %s schema",
                      x->rl);
    }
    return ok;
}

/* "items" (single-schema form): the reader's must read the writer's. */
static bool js_items(jsres *x, json_t *r, json_t *w, const char *path, int depth)
{
    json_t *ri = json_object_get(r, "items"), *wi = json_object_get(w, "items");
    if (!ri || json_is_array(ri) || js_empty(ri)) return true;
    char p[512];
    snprintf(p, sizeof p, "%s/items", path);
    if (wi && !json_is_array(wi)) return js_can_read(x, ri, wi, p, depth + 1);
    if (!wi && (js_types(w) & JT_ARR)) {
        compat_reason(x->reasons, "ITEMS_NARROWED", p,
                      "the %s schema constrains array items the %s schema leaves open", x->rl,
                      x->wl);
        return false;
    }
    return true;
}

/* "properties", both ways. A writer property must be readable: by the reader's property of the
 * same name, or by its additionalProperties; a closed reader content model refuses it. A reader
 * property the writer does not name is fine if the writer's content model is closed, checked
 * against its additionalProperties schema if it has one, refused if it is open. */
static bool js_properties(jsres *x, json_t *r, json_t *w, const char *path, int depth)
{
    json_t *rprops = json_object_get(r, "properties"), *wprops = json_object_get(w, "properties");
    json_t *raddl = json_object_get(r, "additionalProperties");
    json_t *waddl = json_object_get(w, "additionalProperties");
    bool ok = true;
    char p[512];
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
            compat_reason(x->reasons, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", p,
                          "property '%s' of the %s schema is missing from the %s schema, whose "
                          "content model is closed (additionalProperties: false)",
                          k, x->wl, x->rl);
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
        compat_reason(x->reasons, "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", p,
                      "property '%s' added in the %s schema, but the %s schema's content model "
                      "is open (additionalProperties not false), so its documents may hold any "
                      "'%s'",
                      k, x->rl, x->wl, k);
    }
    return ok;
}

/* additionalProperties (the reader may not close or narrow it) and required (the reader may
 * not require what the writer does not). */
static bool js_addl_required(jsres *x, json_t *r, json_t *w, const char *path, int depth)
{
    json_t *raddl = json_object_get(r, "additionalProperties");
    json_t *waddl = json_object_get(w, "additionalProperties");
    bool ok = true;
    char p[512];
    if (json_is_false(raddl) && !json_is_false(waddl)) {
        ok = false;
        snprintf(p, sizeof p, "%s/additionalProperties", path);
        compat_reason(x->reasons, "ADDITIONAL_PROPERTIES_REMOVED", p,
                      "the %s schema closes the content model (additionalProperties: false) "
                      "that the %s schema leaves open",
                      x->rl, x->wl);
    } else if (json_is_object(raddl) && !js_empty(raddl) && !json_is_false(waddl)) {
        snprintf(p, sizeof p, "%s/additionalProperties", path);
        if (!json_is_object(waddl)) {
            ok = false;
            compat_reason(x->reasons, "ADDITIONAL_PROPERTIES_NARROWED", p,
                          "the %s schema constrains additional properties the %s schema "
                          "leaves open",
                          x->rl, x->wl);
        } else if (!js_can_read(x, raddl, waddl, p, depth + 1)) {
            ok = false;
        }
    }
    json_t *rreq = json_object_get(r, "required"), *wreq = json_object_get(w, "required");
    size_t i;
    json_t *v;
    json_array_foreach(rreq, i, v)
    {
        if (json_is_array(wreq) && js_in_array(wreq, v)) continue;
        ok = false;
        snprintf(p, sizeof p, "%s/required/%s", path, json_string_value(v));
        compat_reason(x->reasons, "REQUIRED_PROPERTY_ADDED", p,
                      "property '%s' is required by the %s schema but not by the %s schema",
                      json_string_value(v), x->rl, x->wl);
    }
    return ok;
}

/* The trivial cases: true/false/{} schemas, non-objects. Returns true when decided. */
static bool js_trivial(jsres *x, json_t *r, json_t *w, const char *path, bool *res)
{
    *res = true;
    if (json_is_false(w) || js_empty(r)) return true;
    if (json_is_false(r)) {
        compat_reason(x->reasons, "SCHEMA_NARROWED", path,
                      "the %s schema accepts nothing where the %s schema accepts documents", x->rl,
                      x->wl);
        *res = false;
        return true;
    }
    if (json_is_true(w)) {
        compat_reason(x->reasons, "SCHEMA_NARROWED", path,
                      "the %s schema constrains documents the %s schema accepts without "
                      "constraint",
                      x->rl, x->wl);
        *res = false;
        return true;
    }
    if (!json_is_object(r) || !json_is_object(w)) {
        *res = json_equal(r, w);
        return true;
    }
    return false;
}

static bool js_can_read(jsres *x, json_t *r, json_t *w, const char *path, int depth)
{
    if (depth > 100) return true;
    if (++*x->steps > COMPAT_MAX_STEPS) {
        if (*x->steps == COMPAT_MAX_STEPS + 1)
            compat_reason(x->reasons, "TOO_COMPLEX", path,
                          "the schemas are too complex to compare");
        return false;
    }
    bool res;
    if (js_trivial(x, r, w, path, &res)) return res;
    if (js_follow_ref(x, r, w, path, depth, &res)) return res;
    bool ok = js_combined(x, r, w, path, depth);
    if (!js_type_ok(x, r, w, path)) ok = false;
    if (!js_enum_const(x, r, w, path)) ok = false;
    if (!js_constraints(x, r, w, path)) ok = false;
    if (!js_items(x, r, w, path, depth)) ok = false;
    if (!js_properties(x, r, w, path, depth)) ok = false;
    if (!js_addl_required(x, r, w, path, depth)) ok = false;
    return ok;
}

char *jsonschema_normalize(const schema_src *s, char *err, size_t errlen)
{
    json_t *d = compat_parse_doc(s->text, err, errlen);
    if (!d) return NULL;
    char *out = NULL;
    if (js_valid(d, err, errlen, 0)) out = json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(d);
    return out;
}

bool jsonschema_can_read(const schema_src *reader, const schema_src *writer, const char *rlabel,
                         const char *wlabel, json_t *reasons)
{
    char err[256] = "";
    json_t *r = compat_parse_doc(reader->text, err, sizeof err);
    json_t *w = compat_parse_doc(writer->text, err, sizeof err);
    bool ok = false;
    if (r && w) {
        long steps = 0;
        jsrefs g;
        g.n = 0;
        jsres x = {reasons, rlabel, wlabel, &steps, r, w, &g};
        ok = js_can_read(&x, r, w, "", 0);
    } else {
        compat_reason(reasons, "INVALID_SCHEMA", "", "%s", err);
    }
    json_decref(r);
    json_decref(w);
    return ok;
}
