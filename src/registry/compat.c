/* compat — the schema registry's pure logic (compat.h): schema types and compatibility levels
 * by name, and the type-independent parts of validation and compatibility (dispatch to avro.c
 * and jsonschema.c, the canonical form, the per-level check against previous versions). No
 * broker, no I/O.
 */
#include "registry/compat.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "registry/compat_int.h"

static const char *const g_types[] = {"AVRO", "JSON", "PROTOBUF"};
static const char *const g_levels[] = {
    "NONE", "BACKWARD",       "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
    "FULL", "FULL_TRANSITIVE"};

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

char *schema_normalize(int type, const schema_src *s, char *err, size_t errlen)
{
    if (type == STYPE_AVRO) return avro_normalize(s, err, errlen);
    if (type == STYPE_JSON) return jsonschema_normalize(s, err, errlen);
    snprintf(err, errlen,
             type == STYPE_PROTOBUF ? "PROTOBUF schemas are not supported" : "unknown schema type");
    return NULL;
}

char *schema_canonical(int type, const char *text)
{
    json_t *d = compat_parse_doc(text, NULL, 0);
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
    if (type == STYPE_AVRO) return avro_can_read(reader, writer, rlabel, wlabel, reasons);
    if (type == STYPE_JSON) return jsonschema_can_read(reader, writer, rlabel, wlabel, reasons);
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
