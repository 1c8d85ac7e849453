/* schemas.c — `eddy schemas list|get|register|check|delete|compatibility|mode` against a
 * Confluent-compatible schema
 * registry (eddyd serves one on its HTTP port; docs/schema-registry.md), over libeddy's small
 * HTTP/1.1 client (src/sdkschema/httpc.c): one request per connection, bounded by --timeout,
 * answers capped at 16 MiB. */
#include "cli.h"

#include <errno.h>
#include <ctype.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/util.h"
#include "eddy/eddy.h"
#include "httpc.h"

#define HTTP_MAX_BODY (16u << 20)

static const char *const k_usage =
    "usage: eddy schemas list\n"
    "       eddy schemas get SUBJECT [-V VERSION]\n"
    "       eddy schemas register SUBJECT FILE|- [--type AVRO|JSON|PROTOBUF]\n"
    "       eddy schemas check SUBJECT FILE|- [--type AVRO|JSON|PROTOBUF]\n"
    "       eddy schemas delete SUBJECT [-V VERSION] [--permanent]\n"
    "       eddy schemas compatibility get [SUBJECT]\n"
    "       eddy schemas compatibility set LEVEL [SUBJECT]\n"
    "       eddy schemas mode get [SUBJECT]\n"
    "       eddy schemas mode set READWRITE|READONLY|IMPORT [SUBJECT]\n"
    "  --registry URL   schema registry (env EDDY_SCHEMA_REGISTRY_URL, shared with libeddy;\n"
    "                   default http://127.0.0.1:8081, eddyd's default --http port);\n"
    "                   https://[USER:PASSWORD@]HOST:PORT for HTTPS and Basic credentials,\n"
    "                   or EDDY_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO=USER:PASSWORD and\n"
    "                   EDDY_SCHEMA_REGISTRY_SSL_CA_LOCATION=ca.pem (as libeddy)\n"
    "  list           subjects with their latest version, id and type\n"
    "  get            a version of SUBJECT (default latest): id, version, type and the schema\n"
    "  register       registers the schema in FILE (- = stdin) under SUBJECT, prints its id;\n"
    "                 the type is detected from the file (a JSON Schema: JSON; an Avro record,\n"
    "                 enum or fixed: AVRO; a .proto text: PROTOBUF) unless --type says\n"
    "  check          is the schema compatible with SUBJECT's latest version? exit 1 if not\n"
    "  delete         deletes SUBJECT (or one version, -V); --permanent removes it for good\n"
    "  compatibility  the compatibility level, global or of SUBJECT: NONE, BACKWARD, FORWARD,\n"
    "                 FULL, BACKWARD_TRANSITIVE, FORWARD_TRANSITIVE, FULL_TRANSITIVE\n"
    "  mode           the registry mode, global or of SUBJECT\n"
    "examples:\n"
    "  eddy schemas register order.events-value schemas/order.json     (detected: JSON)\n"
    "  eddy schemas check order.events-value schemas/order-v2.json\n"
    "  eddy schemas compatibility set FULL order.events-value\n"
    "  eddy schemas delete order.events-value -V 1\n";

typedef httpc_resp http_resp;

/* One request; CLI_OK with *resp filled (resp->body malloc'd), or an exit code after printing
 * why. */
static int http_do(const char *base, const char *method, const char *path, const char *body,
                   http_resp *resp)
{
    return cli_http(base, CLI_HTTP_REGISTRY, "the schema registry",
                    "; eddyd serves it on its --http port, 127.0.0.1:8081 by default", method, path,
                    body ? "application/vnd.schemaregistry.v1+json" : NULL, body, HTTP_MAX_BODY,
                    resp);
}

/* Percent-encodes a path segment. */
static char *seg(const char *s)
{
    char *o = xmalloc(strlen(s) * 3 + 1), *w = o;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            *w++ = (char)c;
        else
            w += sprintf(w, "%%%02X", c);
    }
    *w = 0;
    return o;
}

/* A registry error answer → exit code (404 → not found). */
static int http_error(const char *what, const http_resp *r)
{
    return cli_http_error(what, r->status, r->body);
}

static char *read_schema(const char *file)
{
    FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *b = xmalloc(cap);
    size_t n;
    while ((n = fread(b + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) b = xrealloc(b, cap *= 2);
    }
    b[len] = 0;
    if (f != stdin) fclose(f);
    return b;
}

static int schemas_list(const char *url)
{
    http_resp r;
    json_t *subs;
    int rc = http_do(url, "GET", "/subjects", NULL, &r);
    if (!rc) rc = cli_http_json(&r, "list subjects", &subs);
    if (rc) return rc;
    if (!json_is_array(subs)) {
        json_decref(subs);
        return cli_fail(CLI_EFAIL, "list subjects: not a JSON array");
    }
    if (!g_cli.json) printf("%-40s %-8s %-6s %s\n", "SUBJECT", "VERSION", "ID", "TYPE");
    size_t i;
    json_t *s;
    json_array_foreach(subs, i, s)
    {
        if (!json_is_string(s)) continue;
        char *e = seg(json_string_value(s));
        char *path = xasprintf("/subjects/%s/versions/latest", e);
        free(e);
        rc = http_do(url, "GET", path, NULL, &r);
        free(path);
        if (rc) break;
        json_t *v = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
        free(r.body);
        if (!v) continue; /* deleted in between */
        const char *type = json_string_value(json_object_get(v, "schemaType"));
        if (g_cli.json) {
            json_object_del(v, "schema");
            if (!type) json_object_set_new(v, "schemaType", json_string("AVRO"));
            cli_json_print(v);
            continue;
        }
        printf("%-40s %-8lld %-6lld %s\n", json_string_value(s),
               (long long)json_integer_value(json_object_get(v, "version")),
               (long long)json_integer_value(json_object_get(v, "id")), type ? type : "AVRO");
        json_decref(v);
    }
    json_decref(subs);
    return rc;
}

static int schemas_get(const char *url, const char *subject, const char *version)
{
    char *e = seg(subject), *ve = seg(version ? version : "latest");
    char *path = xasprintf("/subjects/%s/versions/%s", e, ve);
    free(e);
    free(ve);
    http_resp r;
    json_t *v;
    int rc = http_do(url, "GET", path, NULL, &r);
    free(path);
    if (!rc) rc = cli_http_json(&r, subject, &v);
    if (rc) return rc;
    if (!json_is_object(v)) {
        json_decref(v);
        return cli_fail(CLI_EFAIL, "%s: not a JSON object", subject);
    }
    if (g_cli.json) {
        cli_json_print(v);
        return CLI_OK;
    }
    const char *type = json_string_value(json_object_get(v, "schemaType"));
    const char *schema = json_string_value(json_object_get(v, "schema"));
    printf("SUBJECT  %s\nVERSION  %lld\nID       %lld\nTYPE     %s\n\n", subject,
           (long long)json_integer_value(json_object_get(v, "version")),
           (long long)json_integer_value(json_object_get(v, "id")), type ? type : "AVRO");
    json_t *parsed = schema ? json_loads(schema, JSON_DECODE_ANY, NULL) : NULL;
    char *pretty = parsed ? json_dumps(parsed, JSON_INDENT(2) | JSON_ENCODE_ANY) : NULL;
    printf("%s\n", pretty ? pretty : schema ? schema : "");
    free(pretty);
    json_decref(parsed);
    json_decref(v);
    return CLI_OK;
}

static int schemas_post(const char *url, const char *sub, const char *subject, const char *file,
                        const char *type)
{
    int type_given = type != NULL;
    char *schema_text = read_schema(file);
    if (!schema_text) return cli_fail(CLI_EUSAGE, "cannot read %s: %s", file, strerror(errno));
    json_t *b = json_pack("{s:s}", "schema", schema_text);
    if (!b) {
        free(schema_text);
        return cli_fail(CLI_EUSAGE, "%s is not UTF-8 text", file);
    }
    const char *detected = cli_detect_schema_type(schema_text);
    free(schema_text);
    if (!type) type = detected;
    if (type && strcmp(type, "AVRO")) json_object_set_new(b, "schemaType", json_string(type));
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    if (!type_given)
        fprintf(stderr, "eddy: schema type %s%s\n", type ? type : "AVRO",
                detected ? " (detected from the file; --type to override)"
                         : " (the registry's default; --type to say otherwise)");
    char *e = seg(subject);
    char *path = !strcmp(sub, "register")
                     ? xasprintf("/subjects/%s/versions", e)
                     : xasprintf("/compatibility/subjects/%s/versions/latest?verbose=true", e);
    free(e);
    http_resp r;
    int rc = http_do(url, "POST", path, body, &r);
    free(path);
    free(body);
    if (rc) return rc;
    int status = r.status;
    json_t *v;
    if ((rc = cli_http_json(&r, subject, &v))) {
        if (status == 422 && type && !strcmp(type, "AVRO") && detected && !strcmp(detected, "JSON"))
            fprintf(stderr, "eddy: hint: %s looks like a JSON Schema: --type JSON\n", file);
        else if (status == 422 && !detected)
            fprintf(stderr, "eddy: hint: the type was not recognised and the registry assumed "
                            "AVRO; say --type JSON or --type PROTOBUF if it is one\n");
        return rc;
    }
    if (g_cli.json) {
        json_incref(v);
        cli_json_print(v);
    }
    if (!strcmp(sub, "register")) {
        json_t *id = json_object_get(v, "id");
        if (!json_is_integer(id))
            rc = cli_fail(CLI_EFAIL, "register %s: no id in answer", subject);
        else if (!g_cli.json)
            printf("registered %s: id %lld\n", subject, (long long)json_integer_value(id));
    } else {
        json_t *ok = json_object_get(v, "is_compatible");
        if (!json_is_boolean(ok)) {
            rc = cli_fail(CLI_EFAIL, "check %s: no is_compatible in answer", subject);
        } else {
            if (!g_cli.json) printf("%s\n", json_is_true(ok) ? "compatible" : "NOT compatible");
            size_t i;
            json_t *m;
            json_array_foreach(json_object_get(v, "messages"), i,
                               m) if (!g_cli.json && json_is_string(m))
                printf("  %s\n", json_string_value(m));
            if (!json_is_true(ok)) rc = CLI_EFAIL;
        }
    }
    json_decref(v);
    return rc;
}

static int schemas_delete(const char *url, const char *subject, const char *version, int permanent)
{
    char *e = seg(subject), *ve = version ? seg(version) : NULL;
    char *path = ve ? xasprintf("/subjects/%s/versions/%s", e, ve) : xasprintf("/subjects/%s", e);
    free(e);
    free(ve);
    http_resp r;
    int rc = http_do(url, "DELETE", path, NULL, &r);
    /* a subject already soft-deleted (40404/40405) can still be deleted permanently */
    int soft_gone = 0;
    if (rc == CLI_OK && r.status == 404 && permanent) {
        json_t *j = json_loads(r.body, 0, NULL);
        json_int_t code = json_integer_value(json_object_get(j, "error_code"));
        soft_gone = code == 40404 || code == 40405 || code == 40406;
        json_decref(j);
    }
    if (rc == CLI_OK && r.status != 200 && !soft_gone) {
        rc = http_error(subject, &r);
        free(r.body);
        free(path);
        return rc;
    }
    if (rc == CLI_OK) free(r.body);
    if (rc == CLI_OK && permanent) {
        char *pp = xasprintf("%s?permanent=true", path);
        rc = http_do(url, "DELETE", pp, NULL, &r);
        free(pp);
        if (rc == CLI_OK && r.status != 200) rc = http_error(subject, &r);
        if (rc == CLI_OK || r.body) free(r.body);
    }
    free(path);
    if (rc == CLI_OK)
        printf("deleted %s%s%s%s\n", subject, version ? " version " : "", version ? version : "",
               permanent ? " (permanently)" : "");
    return rc;
}

/* compatibility / mode, global or per subject: GET, or PUT value. */
static int schemas_setting(const char *url, int mode, const char *value, const char *subject)
{
    const char *base = mode ? "/mode" : "/config";
    char *e = subject ? seg(subject) : NULL;
    char *path = e ? xasprintf("%s/%s%s", base, e, value ? "" : "?defaultToGlobal=true")
                   : xasprintf("%s", base);
    free(e);
    char *body = NULL, up[32];
    if (value) {
        size_t n = strlen(value);
        if (n >= sizeof up) n = sizeof up - 1;
        for (size_t i = 0; i < n; i++) up[i] = (char)toupper((unsigned char)value[i]);
        up[n] = 0;
        json_t *b = json_pack("{s:s}", mode ? "mode" : "compatibility", up);
        body = json_dumps(b, JSON_COMPACT);
        json_decref(b);
    }
    http_resp r;
    json_t *v;
    int rc = http_do(url, value ? "PUT" : "GET", path, body, &r);
    free(path);
    free(body);
    if (!rc) rc = cli_http_json(&r, subject ? subject : mode ? "mode" : "compatibility", &v);
    if (rc) return rc;
    const char *got = json_string_value(json_object_get(v, mode ? "mode" : "compatibilityLevel"));
    if (!got) got = json_string_value(json_object_get(v, "compatibility"));
    if (g_cli.json) {
        cli_json_print(
            json_pack("{s:s?,s:s?}", "subject", subject, mode ? "mode" : "compatibility", got));
    } else {
        printf("%s%s%s\n", subject ? subject : "(global)", value ? " set to " : ": ",
               got ? got : "?");
    }
    json_decref(v);
    return CLI_OK;
}

int cmd_schemas(int argc, char **argv)
{
    static const struct option lo[] = {
        CLI_GLOBAL_LONGOPTS,
        {"registry", required_argument, NULL, 'R'},
        {"version", required_argument, NULL, 'V'},
        {"type", required_argument, NULL, 'T'},
        {"permanent", no_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    const char *url = getenv("EDDY_SCHEMA_REGISTRY_URL"), *version = NULL, *type = NULL;
    int permanent = 0;
    if (!url || !*url) {
        url = getenv("EDDY_REGISTRY_URL");
        if (url && *url)
            fprintf(stderr, "eddy: EDDY_REGISTRY_URL is deprecated: set EDDY_SCHEMA_REGISTRY_URL "
                            "(libeddy reads the same one)\n");
    }
    if (!url || !*url) url = "http://127.0.0.1:8081";
    int c, rc;
    while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS "R:V:T:", lo, k_usage, &rc)) != -1) {
        switch (c) {
        case CLI_OPT_EXIT: return rc;
        case 'R': url = optarg; break;
        case 'V': version = optarg; break;
        case 'T':
            if (!strcasecmp(optarg, "AVRO"))
                type = "AVRO";
            else if (!strcasecmp(optarg, "JSON"))
                type = "JSON";
            else if (!strcasecmp(optarg, "PROTOBUF"))
                type = "PROTOBUF";
            else
                return cli_usage_error(k_usage, "--type wants AVRO, JSON or PROTOBUF, got '%s'",
                                       optarg);
            break;
        case 'P': permanent = 1; break;
        }
    }
    int npos = argc - optind;
    char **pos = argv + optind;
    if (npos < 1) return cli_usage_error(k_usage, "schemas: which subcommand?");
    const char *sub = pos[0];
    if (!strcmp(sub, "list")) {
        if (npos != 1) return cli_usage_error(k_usage, "schemas list: too many arguments");
        return schemas_list(url);
    }
    if (!strcmp(sub, "get")) {
        if (npos != 2) return cli_usage_error(k_usage, "schemas get: which subject?");
        return schemas_get(url, pos[1], version);
    }
    if (!strcmp(sub, "register") || !strcmp(sub, "check")) {
        if (npos != 3) return cli_usage_error(k_usage, "schemas %s: SUBJECT FILE|-", sub);
        return schemas_post(url, sub, pos[1], pos[2], type);
    }
    if (!strcmp(sub, "delete")) {
        if (npos != 2) return cli_usage_error(k_usage, "schemas delete: which subject?");
        return schemas_delete(url, pos[1], version, permanent);
    }
    if (!strcmp(sub, "compatibility") || !strcmp(sub, "mode")) {
        int set = npos >= 2 && !strcmp(pos[1], "set");
        int get = npos >= 2 && !strcmp(pos[1], "get");
        if (!set && !get) return cli_usage_error(k_usage, "schemas %s: get or set?", sub);
        if ((get && npos > 3) || (set && (npos < 3 || npos > 4)))
            return cli_usage_error(k_usage, "schemas %s %s: %s", sub, pos[1],
                                   set && npos < 3 ? "which level?" : "too many arguments");
        const char *subject = get ? (npos == 3 ? pos[2] : NULL) : (npos == 4 ? pos[3] : NULL);
        return schemas_setting(url, !strcmp(sub, "mode"), set ? pos[2] : NULL, subject);
    }
    return cli_usage_error(k_usage, "schemas: unknown subcommand '%s'", sub);
}
