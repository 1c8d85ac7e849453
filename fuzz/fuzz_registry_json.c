/* fuzz_registry_json — the schema registry's JSON inputs: the `_schemas` records it replays at
 * start-up (store.c, reg_apply) and the schema text of a request body (schema_normalize and
 * schema_canonical, what a register or lookup runs on the worker).
 *
 * Input layout: byte 0 bit 0 selects the decoder, bit 1 the schema type of a body (Avro / JSON
 * Schema); the rest is its input. Records: lines "key<TAB>value" (no TAB or an empty value: a
 * tombstone), applied in order to an empty registry. Body: a JSON object as POSTed to
 * /subjects/{s}/versions.
 * Oracle: no crash, leak or out-of-bounds access (ASan/UBSan); after the records the model's
 * versions stay sorted by (subject, version) without duplicates, each with a schema and a
 * canonical form; a normalised schema normalises to itself and its canonical form is a fixed
 * point. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "registry/compat.h"
#include "registry/registry_int.h"

static void check_model(const reg *r)
{
    for (int i = 0; i < r->n; i++) {
        const sver *v = r->v[i];
        if (!v->subject || !v->schema || !v->canon || !json_is_array(v->refs)) abort();
        if (i == 0) continue;
        const sver *p = r->v[i - 1];
        int c = strcmp(p->subject, v->subject);
        if (c > 0 || (c == 0 && p->version >= v->version)) abort();
    }
}

static void records(const char *p, size_t n)
{
    reg r;
    memset(&r, 0, sizeof r);
    r.global_level = -1;
    const char *end = p + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *tab = memchr(p, '\t', (size_t)(le - p));
        const char *ke = tab ? tab : le;
        json_t *k = json_loadb(p, (size_t)(ke - p), 0, NULL);
        json_t *v =
            tab && le > tab + 1 ? json_loadb(tab + 1, (size_t)(le - tab - 1), 0, NULL) : NULL;
        if (k) reg_apply(&r, k, v);
        json_decref(k);
        json_decref(v);
        check_model(&r);
        p = nl ? nl + 1 : end;
    }
    reg_state_free(&r);
}

static void body(int type, const char *p, size_t n)
{
    json_t *b = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
    const char *text = json_string_value(json_object_get(b, "schema"));
    if (text) {
        char err[512];
        schema_src src = {text, NULL, 0};
        char *norm = schema_normalize(type, &src, err, sizeof err);
        if (norm) {
            schema_src again = {norm, NULL, 0};
            char *norm2 = schema_normalize(type, &again, err, sizeof err);
            if (!norm2 || strcmp(norm, norm2)) abort();
            char *c1 = schema_canonical(type, norm);
            char *c2 = c1 ? schema_canonical(type, c1) : NULL;
            if (!c1 || !c2 || strcmp(c1, c2)) abort();
            free(norm2);
            free(c1);
            free(c2);
            free(norm);
        }
    }
    json_decref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *p = (const char *)data + 1;
    if (data[0] & 1)
        body(data[0] & 2 ? STYPE_JSON : STYPE_AVRO, p, size - 1);
    else
        records(p, size - 1);
    return 0;
}
