/* doc — what avro.c, jsonschema.c and compat.c share below them: parsing a schema document
 * (strict JSON: duplicate keys refused) and formatting an incompatibility reason the way
 * Confluent's registry words it. No broker, no I/O.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"
#include "registry/compat.h"
#include "registry/compat_int.h"

void compat_reason(json_t *reasons, const char *type, const char *path, const char *fmt, ...)
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

json_t *compat_parse_doc(const char *text, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_loads(text ? text : "", JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!j && err) snprintf(err, errlen, "invalid JSON: %s (line %d)", je.text, je.line);
    return j;
}
