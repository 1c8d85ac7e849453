/* schema.c — libeddy's schema registry client (include/eddy/schema.h): registers JSON Schemas
 * with eddyd's Confluent-compatible registry (docs/schema-registry.md) and validates event
 * payloads against the schema of `<topic>-value` before they are published.
 *
 * Version rule: an event of version "N" or "N.M" is checked against registered version N of the
 * subject when it exists, else against the subject's latest version. Compiled schemas are cached
 * per (subject, version) for the life of the handle (registered versions never change); the
 * (subject, N) → version answer is cached forever when version N exists, and for `recheck_ms`
 * when it fell back to latest or the subject had no schema (so a later registration is seen).
 * One mutex guards the cache and the HTTP calls (each schema is fetched once even under
 * concurrent publishes); validation itself runs outside it on the immutable compiled schema.
 */
#include "eddy/schema.h"

#include "httpc.h"
#include "seterr.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SR_MAX_ANSWER (4u << 20) /* registry answers above 4 MiB are refused */

typedef struct sr_schema {
    char *subject;
    int version;
    int id;
    eddy_jsonschema *js; /* NULL if unusable */
    char *unusable;      /* why it cannot be used (compile error, not JSON, …) */
} sr_schema;

typedef struct sr_map {
    char *subject;
    int major;
    sr_schema *schema; /* NULL: no schema registered for the subject */
    long long expires; /* monotonic ms; 0 = never */
} sr_map;

struct eddy_schema_registry {
    httpc_url url;
    char *basic_auth; /* "user:password" (EDDY_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO) */
    char *ca_file;    /* EDDY_SCHEMA_REGISTRY_SSL_CA_LOCATION */
    int timeout_ms;
    int recheck_ms;
    int unregistered;
    long requests;
    pthread_mutex_t mu;
    sr_schema **schemas;
    size_t nschemas, capschemas;
    sr_map *maps;
    size_t nmaps, capmaps;
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) abort();
    return d;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- handle ------------------------------------------------------------------------------ */

eddy_schema_registry *eddy_schema_registry_new(const char *url, char *err, size_t errlen)
{
    if (!url || !*url) url = getenv("EDDY_SCHEMA_REGISTRY_URL");
    if (!url || !*url) {
        seterr(err, errlen, "no schema registry URL (argument or EDDY_SCHEMA_REGISTRY_URL)");
        return NULL;
    }
    eddy_schema_registry *r = calloc(1, sizeof *r);
    if (!r) abort();
    if (httpc_url_parse(url, &r->url)) {
        free(r);
        seterr(
            err, errlen,
            "schema registry URL \"%s\": expected http[s]://[USER:PASSWORD@]HOST[:PORT][/PREFIX]",
            url);
        return NULL;
    }
    const char *ui = getenv("EDDY_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO");
    if (ui && *ui) r->basic_auth = strdup(ui);
    const char *ca = getenv("EDDY_SCHEMA_REGISTRY_SSL_CA_LOCATION");
    if (ca && *ca) r->ca_file = strdup(ca);
    r->timeout_ms = 5000;
    r->recheck_ms = 30000;
    const char *t = getenv("EDDY_SCHEMA_TIMEOUT_MS");
    if (t && atoi(t) > 0) r->timeout_ms = atoi(t);
    const char *u = getenv("EDDY_SCHEMA_UNREGISTERED");
    if (u && !strcmp(u, "refuse")) r->unregistered = EDDY_SCHEMA_UNREGISTERED_REFUSE;
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void eddy_schema_registry_free(eddy_schema_registry *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->nschemas; i++) {
        eddy_jsonschema_free(r->schemas[i]->js);
        free(r->schemas[i]->subject);
        free(r->schemas[i]->unusable);
        free(r->schemas[i]);
    }
    free(r->schemas);
    for (size_t i = 0; i < r->nmaps; i++) free(r->maps[i].subject);
    free(r->maps);
    pthread_mutex_destroy(&r->mu);
    free(r->basic_auth);
    free(r->ca_file);
    free(r);
}

void eddy_schema_registry_set_unregistered(eddy_schema_registry *r, int policy)
{
    pthread_mutex_lock(&r->mu);
    r->unregistered =
        policy == EDDY_SCHEMA_UNREGISTERED_REFUSE ? policy : EDDY_SCHEMA_UNREGISTERED_ALLOW;
    pthread_mutex_unlock(&r->mu);
}

void eddy_schema_registry_set_timeout(eddy_schema_registry *r, int timeout_ms)
{
    pthread_mutex_lock(&r->mu);
    if (timeout_ms > 0) r->timeout_ms = timeout_ms;
    pthread_mutex_unlock(&r->mu);
}

void eddy_schema_registry_set_recheck(eddy_schema_registry *r, int recheck_ms)
{
    pthread_mutex_lock(&r->mu);
    if (recheck_ms >= 0) r->recheck_ms = recheck_ms;
    pthread_mutex_unlock(&r->mu);
}

long eddy_schema_registry_requests(const eddy_schema_registry *r)
{
    pthread_mutex_lock((pthread_mutex_t *)&r->mu);
    long n = r->requests;
    pthread_mutex_unlock((pthread_mutex_t *)&r->mu);
    return n;
}

/* ---- HTTP -------------------------------------------------------------------------------- */

/* Appends subject percent-encoded (RFC 3986 unreserved characters stay). */
static int enc_subject(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (n + 4 >= cap) return -1;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out[n++] = (char)c;
        } else {
            snprintf(out + n, cap - n, "%%%02X", c);
            n += 3;
        }
    }
    out[n] = 0;
    return 0;
}

/* One request (mutex held). On an answer fills *status and *body (parsed JSON or NULL). */
static int call(eddy_schema_registry *r, const char *method, const char *path, const char *body,
                int *status, json_t **jbody, char *err, size_t errlen)
{
    httpc_resp resp;
    r->requests++;
    char e[256] = "";
    httpc_opts o = {.basic_auth = r->basic_auth, .ca_file = r->ca_file};
    int rc = httpc_do(&r->url, &o, method, path, "application/vnd.schemaregistry.v1+json", body,
                      body ? strlen(body) : 0, r->timeout_ms, SR_MAX_ANSWER, &resp, e, sizeof e);
    if (rc) {
        seterr(err, errlen, "schema registry %s %s: %s", method, path, e);
        return rc;
    }
    *status = resp.status;
    *jbody = json_loadb(resp.body, resp.len, JSON_DECODE_ANY, NULL);
    httpc_resp_free(&resp);
    if (resp.status >= 500) {
        const char *m = json_string_value(json_object_get(*jbody, "message"));
        seterr(err, errlen, "schema registry %s %s: HTTP %d%s%s", method, path, *status,
               m ? ": " : "", m ? m : "");
        json_decref(*jbody);
        *jbody = NULL;
        return EDDY_ERR_TRANSIENT;
    }
    return 0;
}

static int error_code(const json_t *b)
{
    return (int)json_integer_value(json_object_get(b, "error_code"));
}

/* "… details: [\"{errorType:'X', description:'D', path:'/p'}\", \"{oldSchemaVersion: 1}\", …]"
 * → "X at /p: D; … (old version 1, BACKWARD)". Falls back to the raw message. */
static void format_409(const char *msg, char *out, size_t cap)
{
    const char *d = msg ? strstr(msg, "details: [") : NULL;
    json_t *arr = d ? json_loads(d + 9, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    if (!json_is_array(arr)) {
        snprintf(out, cap, "%s", msg ? msg : "incompatible schema");
        json_decref(arr);
        return;
    }
    size_t n = 0, i;
    json_t *it;
    char tail[128] = "";
    out[0] = 0;
    json_array_foreach(arr, i, it)
    {
        const char *s = json_string_value(it);
        if (!s) continue;
        const char *et = strstr(s, "errorType:'");
        if (et) {
            const char *ds = strstr(s, "description:'");
            const char *ps = strstr(s, "path:'");
            int etl = (int)strcspn(et + 11, "'");
            int psl = ps ? (int)strcspn(ps + 6, "'") : 0;
            /* the description may contain quotes: it ends at "', path:" */
            const char *de = ds ? strstr(ds + 13, "', path:'") : NULL;
            int dsl = ds ? (de ? (int)(de - (ds + 13)) : (int)strcspn(ds + 13, "'")) : 0;
            int w = snprintf(out + n, cap - n, "%s%.*s at %.*s: %.*s", n ? "; " : "", etl, et + 11,
                             psl, ps ? ps + 6 : "", dsl, ds ? ds + 13 : "");
            if (w > 0) n += (size_t)w < cap - n ? (size_t)w : cap - n - 1;
        } else {
            size_t tl = strlen(tail);
            snprintf(tail + tl, sizeof tail - tl, "%s%s", tl ? ", " : "", s);
        }
    }
    if (tail[0] && n + 4 < cap) snprintf(out + n, cap - n, " (%s)", tail);
    json_decref(arr);
}

/* ---- register ---------------------------------------------------------------------------- */

/* Drops the expiring (subject, N) answers of subject so a new registration is seen at once. */
static void forget_negative(eddy_schema_registry *r, const char *subject)
{
    size_t j = 0;
    for (size_t i = 0; i < r->nmaps; i++) {
        if (r->maps[i].expires && !strcmp(r->maps[i].subject, subject)) {
            free(r->maps[i].subject);
            continue;
        }
        r->maps[j++] = r->maps[i];
    }
    r->nmaps = j;
}

int eddy_schema_register(eddy_schema_registry *r, const char *subject, const char *schema_json,
                         int *id_out, int *version_out, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!r || !subject || !*subject || !schema_json) {
        seterr(err, errlen, "eddy_schema_register: missing argument");
        return EDDY_ERR_PERMANENT;
    }
    json_error_t je;
    json_t *sch = json_loads(schema_json, JSON_DECODE_ANY, &je);
    if (!sch) {
        seterr(err, errlen, "schema for %s is not JSON: %s (line %d)", subject, je.text, je.line);
        return EDDY_ERR_PERMANENT;
    }
    eddy_jsonschema *js = NULL;
    char ce[256];
    int rc = eddy_jsonschema_new(sch, &js, ce, sizeof ce);
    json_decref(sch);
    if (rc) {
        seterr(err, errlen, "schema for %s cannot be used: %s", subject, ce);
        return rc;
    }
    eddy_jsonschema_free(js);

    char es[1100], path[1200];
    if (enc_subject(es, sizeof es, subject)) {
        seterr(err, errlen, "subject name too long");
        return EDDY_ERR_PERMANENT;
    }
    json_t *req = json_pack("{s:s, s:s}", "schemaType", "JSON", "schema", schema_json);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body) abort();

    pthread_mutex_lock(&r->mu);
    int status = 0;
    json_t *ans = NULL;
    snprintf(path, sizeof path, "/subjects/%s/versions", es);
    rc = call(r, "POST", path, body, &status, &ans, err, errlen);
    if (rc) goto out;
    if (status == 409) {
        char why[1500];
        format_409(json_string_value(json_object_get(ans, "message")), why, sizeof why);
        seterr(err, errlen, "registry refused the schema for %s as incompatible (409): %s", subject,
               why);
        rc = EDDY_ERR_PERMANENT;
        goto out;
    }
    if (status != 200 || !json_is_integer(json_object_get(ans, "id"))) {
        const char *m = json_string_value(json_object_get(ans, "message"));
        seterr(err, errlen, "registry refused the schema for %s: HTTP %d error %d%s%s", subject,
               status, error_code(ans), m ? ": " : "", m ? m : "");
        rc = EDDY_ERR_PERMANENT;
        goto out;
    }
    int id = (int)json_integer_value(json_object_get(ans, "id"));
    json_decref(ans);
    ans = NULL;
    if (id_out) *id_out = id;
    if (version_out) {
        snprintf(path, sizeof path, "/subjects/%s", es);
        rc = call(r, "POST", path, body, &status, &ans, err, errlen);
        if (rc) goto out;
        if (status != 200 || !json_is_integer(json_object_get(ans, "version"))) {
            seterr(err, errlen, "registered %s as id %d but its version lookup answered HTTP %d",
                   subject, id, status);
            rc = EDDY_ERR_TRANSIENT;
            goto out;
        }
        *version_out = (int)json_integer_value(json_object_get(ans, "version"));
    }
    forget_negative(r, subject);
out:
    pthread_mutex_unlock(&r->mu);
    json_decref(ans);
    free(body);
    return rc;
}

/* ---- validate ---------------------------------------------------------------------------- */

static sr_schema *find_schema(eddy_schema_registry *r, const char *subject, int version)
{
    for (size_t i = 0; i < r->nschemas; i++)
        if (r->schemas[i]->version == version && !strcmp(r->schemas[i]->subject, subject))
            return r->schemas[i];
    return NULL;
}

/* Turns a GET /subjects/{s}/versions/{v} answer into a cached schema (mutex held). */
static sr_schema *adopt(eddy_schema_registry *r, const char *subject, const json_t *ans)
{
    int version = (int)json_integer_value(json_object_get(ans, "version"));
    sr_schema *s = find_schema(r, subject, version);
    if (s) return s;
    s = calloc(1, sizeof *s);
    if (!s) abort();
    s->subject = xstrdup(subject);
    s->version = version;
    s->id = (int)json_integer_value(json_object_get(ans, "id"));
    const char *type = json_string_value(json_object_get(ans, "schemaType"));
    const char *text = json_string_value(json_object_get(ans, "schema"));
    char e[512];
    if (!type || strcmp(type, "JSON") != 0) {
        snprintf(e, sizeof e, "it is %s, libeddy validates JSON Schema only", type ? type : "AVRO");
        s->unusable = xstrdup(e);
    } else if (!text) {
        s->unusable = xstrdup("the registry answer has no schema text");
    } else {
        json_error_t je;
        json_t *doc = json_loads(text, JSON_DECODE_ANY, &je);
        if (!doc) {
            snprintf(e, sizeof e, "schema text is not JSON: %s", je.text);
            s->unusable = xstrdup(e);
        } else {
            if (eddy_jsonschema_new(doc, &s->js, e, sizeof e)) s->unusable = xstrdup(e);
            json_decref(doc);
        }
    }
    if (r->nschemas == r->capschemas) {
        r->capschemas = r->capschemas ? r->capschemas * 2 : 8;
        r->schemas = realloc(r->schemas, r->capschemas * sizeof *r->schemas);
        if (!r->schemas) abort();
    }
    r->schemas[r->nschemas++] = s;
    return s;
}

static void remember(eddy_schema_registry *r, const char *subject, int major, sr_schema *s,
                     int expiring)
{
    if (r->nmaps == r->capmaps) {
        r->capmaps = r->capmaps ? r->capmaps * 2 : 8;
        r->maps = realloc(r->maps, r->capmaps * sizeof *r->maps);
        if (!r->maps) abort();
    }
    r->maps[r->nmaps++] =
        (sr_map){xstrdup(subject), major, s, expiring ? now_ms() + r->recheck_ms : 0};
}

/* Finds the schema for (subject, major), asking the registry if needed (mutex held).
 * *out = NULL when the subject has no schema. */
static int lookup(eddy_schema_registry *r, const char *subject, int major, sr_schema **out,
                  char *err, size_t errlen)
{
    long long now = now_ms();
    for (size_t i = 0; i < r->nmaps; i++) {
        sr_map *m = &r->maps[i];
        if (m->major != major || strcmp(m->subject, subject)) continue;
        if (m->expires && m->expires <= now) { /* stale: drop it and ask again */
            free(m->subject);
            r->maps[i] = r->maps[--r->nmaps];
            break;
        }
        *out = m->schema;
        return 0;
    }
    char es[1100], path[1200];
    if (enc_subject(es, sizeof es, subject)) {
        seterr(err, errlen, "subject name too long");
        return EDDY_ERR_PERMANENT;
    }
    int status = 0;
    json_t *ans = NULL;
    snprintf(path, sizeof path, "/subjects/%s/versions/%d", es, major);
    int rc = call(r, "GET", path, NULL, &status, &ans, err, errlen);
    if (rc) return rc;
    if (status == 200 && json_is_object(ans)) {
        *out = adopt(r, subject, ans);
        remember(r, subject, major, *out, 0);
        json_decref(ans);
        return 0;
    }
    int code = error_code(ans);
    json_decref(ans);
    ans = NULL;
    if (status == 404 && code == 40401) { /* no such subject */
        *out = NULL;
        remember(r, subject, major, NULL, 1);
        return 0;
    }
    if (!(status == 404 && (code == 40402 || code == 40406))) {
        seterr(err, errlen, "schema registry GET %s: HTTP %d error %d", path, status, code);
        return EDDY_ERR_PERMANENT;
    }
    snprintf(path, sizeof path, "/subjects/%s/versions/latest", es);
    rc = call(r, "GET", path, NULL, &status, &ans, err, errlen);
    if (rc) return rc;
    if (status == 200 && json_is_object(ans)) {
        *out = adopt(r, subject, ans);
        remember(r, subject, major, *out, 1);
    } else if (status == 404) { /* every version deleted meanwhile */
        *out = NULL;
        remember(r, subject, major, NULL, 1);
    } else {
        seterr(err, errlen, "schema registry GET %s: HTTP %d error %d", path, status,
               error_code(ans));
        rc = EDDY_ERR_PERMANENT;
    }
    json_decref(ans);
    return rc;
}

int eddy_schema_validate(eddy_schema_registry *r, const char *topic, const char *event_version,
                         const json_t *payload, char *err, size_t errlen)
{
    return eddy_schema_validate_event(r, topic, NULL, event_version, payload, err, errlen);
}

int eddy_schema_validate_event(eddy_schema_registry *r, const char *topic, const char *event_type,
                               const char *event_version, const json_t *payload, char *err,
                               size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!r || !topic || !*topic) {
        seterr(err, errlen, "eddy_schema_validate: missing registry or topic");
        return EDDY_ERR_PERMANENT;
    }
    const char *ev = event_version ? event_version : "";
    char *end = NULL;
    errno = 0;
    long major = strtol(ev, &end, 10);
    if (end == ev || errno || major < 1 || major > 0x7fffffff || (*end && *end != '.')) {
        seterr(err, errlen, "event version \"%s\" is not MAJOR or MAJOR.MINOR", ev);
        return EDDY_ERR_PERMANENT;
    }
    char subject[1100];
    if (snprintf(subject, sizeof subject, "%s-value", topic) >= (int)sizeof subject) {
        seterr(err, errlen, "topic name too long");
        return EDDY_ERR_PERMANENT;
    }
    pthread_mutex_lock(&r->mu);
    sr_schema *s = NULL;
    int rc = lookup(r, subject, (int)major, &s, err, errlen);
    int policy = r->unregistered;
    pthread_mutex_unlock(&r->mu);
    if (rc) return rc;
    if (!s) {
        if (policy == EDDY_SCHEMA_UNREGISTERED_REFUSE) {
            seterr(err, errlen, "no schema registered for %s (policy: refuse)", subject);
            return EDDY_ERR_PERMANENT;
        }
        return 0;
    }
    if (!s->js) {
        seterr(err, errlen, "schema %s version %d (id %d) cannot be used: %s", subject, s->version,
               s->id, s->unusable);
        return EDDY_ERR_PERMANENT;
    }
    char e[768];
    rc = eddy_jsonschema_validate_def(s->js, event_type, payload, "payload", e, sizeof e);
    if (rc) {
        int bytype = eddy_jsonschema_has_def(s->js, event_type);
        seterr(err, errlen, "%s (schema %s version %d%s%s, event version %s)", e, subject,
               s->version, bytype ? " $defs/" : "", bytype ? event_type : "", ev);
    }
    return rc;
}

/* ---- the process-wide default ------------------------------------------------------------ */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static eddy_schema_registry *g_default;
static int g_default_set; /* set_default was called, or the environment was read */
static eddy_schema_registry **g_retired;
static size_t g_nretired;
static int g_atexit;

static void free_defaults(void)
{
    pthread_mutex_lock(&g_mu);
    eddy_schema_registry_free(g_default);
    g_default = NULL;
    for (size_t i = 0; i < g_nretired; i++) eddy_schema_registry_free(g_retired[i]);
    free(g_retired);
    g_retired = NULL;
    g_nretired = 0;
    pthread_mutex_unlock(&g_mu);
}

/* g_mu held. */
static void install(eddy_schema_registry *r)
{
    if (!g_atexit) {
        atexit(free_defaults);
        g_atexit = 1;
    }
    if (g_default) {
        g_retired = realloc(g_retired, (g_nretired + 1) * sizeof *g_retired);
        if (!g_retired) abort();
        g_retired[g_nretired++] = g_default;
    }
    g_default = r;
    g_default_set = 1;
}

eddy_schema_registry *eddy_schema_registry_default(void)
{
    pthread_mutex_lock(&g_mu);
    if (!g_default_set) {
        const char *u = getenv("EDDY_SCHEMA_REGISTRY_URL");
        char e[256];
        eddy_schema_registry *r = u && *u ? eddy_schema_registry_new(u, e, sizeof e) : NULL;
        if (u && *u && !r) fprintf(stderr, "libeddy: schema validation off: %s\n", e);
        install(r);
    }
    eddy_schema_registry *r = g_default;
    pthread_mutex_unlock(&g_mu);
    return r;
}

int eddy_schema_registry_set_default(const char *url, char *err, size_t errlen)
{
    eddy_schema_registry *r = NULL;
    if (url && *url) {
        r = eddy_schema_registry_new(url, err, errlen);
        if (!r) return EDDY_ERR_PERMANENT;
    }
    pthread_mutex_lock(&g_mu);
    install(r);
    pthread_mutex_unlock(&g_mu);
    return 0;
}
