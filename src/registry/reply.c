/* reply — the registry's answers in Confluent's format (JSON bodies, error_code + message) and
 * the subject-name check every path shares. The bottom of the registry's files: routes, schemas
 * and the request queue answer through it; it calls none of them.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "http/http.h"
#include "registry/compat.h"
#include "registry/registry_int.h"

void reg_reply_json(http_response *resp, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    http_resp_set(resp, status, CT_SR, s ? s : "null", s ? strlen(s) : 4);
    free(s);
}

void reg_reply_err(http_response *resp, int status, int code, const char *fmt, ...)
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
    reg_reply_json(resp, status, json_pack("{s:i,s:o}", "error_code", code, "message", m));
}

void reg_reply_store_err(http_response *resp)
{
    reg_reply_err(resp, 500, 50001, "Error in the backend data store (%s)", SCHEMAS_TOPIC);
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

bool reg_check_subject(const char *s, http_response *resp)
{
    if (subject_ok(s)) return true;
    reg_reply_err(resp, 422, 42208,
                  "Invalid subject name (UTF-8, no control characters, at most "
                  "1024 bytes)");
    return false;
}

/* A version as the API shows it. */
json_t *reg_sver_json(const sver *v, bool with_subject)
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

/* Writes to a READONLY subject (or registry) are refused with 42205. */
bool reg_read_only(reg *r, const char *subject, http_response *resp)
{
    if (!strcmp(reg_mode_for(r, subject), "READONLY")) {
        reg_reply_err(resp, 422, 42205, "Subject %s is in read-only mode", subject ? subject : "");
        return true;
    }
    return false;
}
