/* routes — the schema registry's REST API (Confluent's paths, bodies and error codes) on
 * eddyd's HTTP port: /subjects, /schemas, /compatibility, /config, /mode. Handlers run on the
 * broker's loop thread and read the model in store.c.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "common/util.h"
#include "http/http.h"
#include "registry/compat.h"
#include "registry/registry_int.h"

/* Wherever a subject is taken (also reads, which answer 40401 for other invalid names): no
 * control characters. (A NUL never gets here: see run_route.) */
static bool check_subject_chars(const char *s, http_response *resp)
{
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            reg_reply_err(resp, 422, 42208,
                          "Invalid subject name: control character 0x%02x at byte %d",
                          (unsigned char)*p, (int)(p - s));
            return false;
        }
    }
    return true;
}

/* Parses the body as a JSON object; answers 400/422 and returns NULL on failure. */
json_t *reg_body_object(const regreq *rq, http_response *resp)
{
    if (rq->body_len > MAX_BODY_BYTES) {
        reg_reply_err(resp, 413, 413, "Request body too large (limit %u bytes)", MAX_BODY_BYTES);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        reg_reply_err(resp, 400, 400, "Unexpected JSON in the request body: %s", je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        reg_reply_err(resp, 422, 422, "The request body must be a JSON object");
        return NULL;
    }
    return j;
}

/* "latest", "-1" or 1..2^31-1. Returns the version, 0 for latest, -1 if invalid. */
int reg_parse_version(const char *s)
{
    if (!strcmp(s, "latest") || !strcmp(s, "-1")) return 0;
    if (!*s || strlen(s) > 10) return -1;
    long long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    return v >= 1 && v <= 2147483647 ? (int)v : -1;
}


/* ------------------------------------------------------------ handlers ---- */


static void do_delete_subject(reg *r, const char *subject, reg_op *op, http_response *resp)
{
    if (reg_read_only(r, subject, resp)) return;
    bool perm = reg_qflag(&op->rq, Q_PERMANENT);
    if (!reg_subject_exists(r, subject, true))
        return reg_reply_err(resp, 404, 40401, "Subject '%s' not found.", subject);
    if (perm && reg_subject_exists(r, subject, false))
        return reg_reply_err(resp, 404, 40405,
                             "Subject '%s' was not deleted first before being permanently deleted",
                             subject);
    if (!perm && !reg_subject_exists(r, subject, false))
        return reg_reply_err(resp, 404, 40404,
                             "Subject '%s' was soft deleted.Set permanent=true to "
                             "delete permanently",
                             subject);
    sver *user = reg_referenced_by(r, subject, 0);
    if (user)
        return reg_reply_err(resp, 422, 42206,
                             "One or more references exist to the schema "
                             "{subject=%s}: referenced by %s version %d",
                             subject, user->subject, user->version);
    wrec *rs = xcalloc((size_t)r->n + 2, sizeof *rs);
    json_t *out = json_array();
    int n = 0;
    for (int i = 0; i < r->n; i++) {
        sver *v = r->v[i];
        if (strcmp(v->subject, subject)) continue;
        if (!perm && v->deleted) continue;
        rs[n].key = reg_key_schema(subject, v->version);
        if (!perm) reg_wrec_schema_val(&rs[n], v, true);
        json_array_append_new(out, json_integer(v->version));
        n++;
    }
    if (perm) {
        rs[n].key = xstrdup("{\"keytype\":\"ID_WATERMARK\",\"magic\":0}");
        rs[n].val = reg_watermark_val(r->max_id);
        n++;
    }
    reg_reply_json(resp, 200, out);
    op->st = reg_write_then(r, op, rs, n, reg_step_answer);
}

/* 42202: vs is neither a version number (1 … 2^31-1) nor "latest". */
static void bad_version(http_response *resp, const char *vs)
{
    reg_reply_err(resp, 422, 42202,
                  "The specified version '%s' is not a valid version id. "
                  "Allowed values are between [1, 2^31-1] and the string \"latest\"",
                  vs);
}

static void do_delete_version(reg *r, const char *subject, const char *vs, reg_op *op,
                              http_response *resp)
{
    if (reg_read_only(r, subject, resp)) return;
    bool perm = reg_qflag(&op->rq, Q_PERMANENT);
    int ver = reg_parse_version(vs);
    if (ver < 0) return bad_version(resp, vs);
    if (!reg_subject_exists(r, subject, true))
        return reg_reply_err(resp, 404, 40401, "Subject '%s' not found.", subject);
    sver *v = ver == 0 ? reg_latest(r, subject, perm) : reg_find_ver(r, subject, ver);
    if (!v) return reg_reply_err(resp, 404, 40402, "Version %s not found.", vs);
    if (perm && !v->deleted)
        return reg_reply_err(resp, 404, 40407,
                             "Subject '%s' Version %d was not deleted first "
                             "before being permanently deleted",
                             subject, v->version);
    if (!perm && v->deleted)
        return reg_reply_err(resp, 404, 40406,
                             "Subject '%s' Version %d was soft deleted.Set "
                             "permanent=true to delete permanently",
                             subject, v->version);
    int version = v->version;
    sver *user = reg_referenced_by(r, subject, version);
    if (user)
        return reg_reply_err(resp, 422, 42206,
                             "One or more references exist to the schema "
                             "{subject=%s,version=%d}: referenced by %s version %d",
                             subject, version, user->subject, user->version);
    wrec *rs = xcalloc(2, sizeof *rs);
    rs[0].key = reg_key_schema(subject, version);
    if (!perm) reg_wrec_schema_val(&rs[0], v, true);
    int n = 1;
    if (perm) {
        rs[1].key = xstrdup("{\"keytype\":\"ID_WATERMARK\",\"magic\":0}");
        rs[1].val = reg_watermark_val(r->max_id);
        n = 2;
    }
    reg_reply_json(resp, 200, json_integer(version));
    op->st = reg_write_then(r, op, rs, n, reg_step_answer);
}

static void do_get_version(reg *r, const char *subject, const char *vs, bool raw, bool referencedby,
                           reg_op *op, http_response *resp)
{
    int ver = reg_parse_version(vs);
    if (ver < 0) return bad_version(resp, vs);
    bool del = reg_qflag(&op->rq, Q_DELETED);
    if (!reg_subject_exists(r, subject, true))
        return reg_reply_err(resp, 404, 40401, "Subject '%s' not found.", subject);
    sver *v = ver == 0 ? reg_latest(r, subject, false) : reg_find_ver(r, subject, ver);
    if (!v || (v->deleted && !del && ver != 0))
        return reg_reply_err(resp, 404, 40402, "Version %s not found.", vs);
    if (raw) return http_resp_set(resp, 200, CT_SR, v->schema, strlen(v->schema));
    if (referencedby) {
        json_t *out = json_array();
        for (int i = 0; i < r->n; i++) {
            size_t k;
            json_t *e;
            json_array_foreach(r->v[i]->refs, k, e)
            {
                const char *s = json_string_value(json_object_get(e, "subject"));
                json_t *jv = json_object_get(e, "version");
                if (s && !strcmp(s, subject) && json_integer_value(jv) == v->version) {
                    json_array_append_new(out, json_integer(r->v[i]->id));
                    break;
                }
            }
        }
        return reg_reply_json(resp, 200, out);
    }
    reg_reply_json(resp, 200, reg_sver_json(v, true));
}

/* /subjects, /subjects/{s}, /subjects/{s}/versions[/{v}[/schema|/referencedby]] */
static void route_subjects(reg *r, reg_op *op, http_response *resp)
{
    const char *m = op->rq.method;
    const char *rest = op->rq.path + strlen("/subjects");
    if (!*rest || !strcmp(rest, "/")) {
        if (strcmp(m, "GET")) return reg_reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
        bool del = reg_qflag(&op->rq, Q_DELETED);
        const char *prefix = op->rq.q[Q_SUBJECT_PREFIX];
        json_t *out = json_array();
        const char *last = NULL;
        for (int i = 0; i < r->n; i++) {
            sver *v = r->v[i];
            if (v->deleted && !del) continue;
            if (prefix && strncmp(v->subject, prefix, strlen(prefix))) continue;
            if (last && !strcmp(last, v->subject)) continue;
            json_array_append_new(out, json_string(v->subject));
            last = v->subject;
        }
        return reg_reply_json(resp, 200, out);
    }
    if (*rest != '/') return reg_reply_err(resp, 404, 404, "HTTP 404 Not Found");
    rest++;
    const char *slash = strchr(rest, '/');
    char *subject = op->subject = xstrndup(rest, slash ? (size_t)(slash - rest) : strlen(rest));
    const char *tail = slash ? slash : "";
    if (!*subject) return reg_reply_err(resp, 404, 404, "HTTP 404 Not Found");
    if (!check_subject_chars(subject, resp)) return;
    if (!*tail || !strcmp(tail, "/")) {
        if (!strcmp(m, "POST"))
            op->st = reg_lookup(r, op);
        else if (!strcmp(m, "DELETE"))
            do_delete_subject(r, subject, op, resp);
        else
            reg_reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
    } else if (!strcmp(tail, "/versions") || !strcmp(tail, "/versions/")) {
        if (!strcmp(m, "POST")) {
            op->st = reg_register(r, op);
        } else if (!strcmp(m, "GET")) {
            bool del = reg_qflag(&op->rq, Q_DELETED);
            if (!reg_subject_exists(r, subject, del)) {
                reg_reply_err(resp, 404, 40401, "Subject '%s' not found.", subject);
            } else {
                json_t *out = json_array();
                for (int i = 0; i < r->n; i++)
                    if (!strcmp(r->v[i]->subject, subject) && (!r->v[i]->deleted || del))
                        json_array_append_new(out, json_integer(r->v[i]->version));
                reg_reply_json(resp, 200, out);
            }
        } else {
            reg_reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
        }
    } else if (!strncmp(tail, "/versions/", 10)) {
        const char *vs = tail + 10;
        const char *vslash = strchr(vs, '/');
        char *ver = xstrndup(vs, vslash ? (size_t)(vslash - vs) : strlen(vs));
        const char *sub = vslash ? vslash : "";
        if (!strcmp(m, "GET") && (!*sub || !strcmp(sub, "/")))
            do_get_version(r, subject, ver, false, false, op, resp);
        else if (!strcmp(m, "GET") && !strcmp(sub, "/schema"))
            do_get_version(r, subject, ver, true, false, op, resp);
        else if (!strcmp(m, "GET") && !strcmp(sub, "/referencedby"))
            do_get_version(r, subject, ver, false, true, op, resp);
        else if (!strcmp(m, "DELETE") && !*sub)
            do_delete_version(r, subject, ver, op, resp);
        else if (*sub && strcmp(sub, "/schema") && strcmp(sub, "/referencedby"))
            reg_reply_err(resp, 404, 404, "HTTP 404 Not Found");
        else
            reg_reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
        free(ver);
    } else {
        reg_reply_err(resp, 404, 404, "HTTP 404 Not Found");
    }
}

/* /schemas, /schemas/types, /schemas/ids/{id}[/schema|/versions|/subjects] */
static void route_schemas(reg *r, reg_op *op, http_response *resp)
{
    if (strcmp(op->rq.method, "GET"))
        return reg_reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
    const char *rest = op->rq.path + strlen("/schemas");
    if (!strcmp(rest, "/types") || !strcmp(rest, "/types/"))
        return reg_reply_json(resp, 200, json_pack("[s,s]", "JSON", "AVRO"));
    if (!*rest || !strcmp(rest, "/")) {
        json_t *out = json_array();
        for (int i = 0; i < r->n; i++)
            if (!r->v[i]->deleted) json_array_append_new(out, reg_sver_json(r->v[i], true));
        return reg_reply_json(resp, 200, out);
    }
    if (strncmp(rest, "/ids/", 5)) return reg_reply_err(resp, 404, 404, "HTTP 404 Not Found");
    const char *ids = rest + 5;
    const char *sl = strchr(ids, '/');
    char *idstr = xstrndup(ids, sl ? (size_t)(sl - ids) : strlen(ids));
    const char *tail = sl ? sl : "";
    int id = reg_parse_version(idstr);
    bool bad = id <= 0;
    free(idstr);
    sver *v = bad ? NULL : reg_by_id(r, id);
    if (!v) return reg_reply_err(resp, 404, 40403, "Schema %d not found", bad ? -1 : id);
    if (!*tail || !strcmp(tail, "/")) {
        json_t *o = json_object();
        if (v->type != STYPE_AVRO)
            json_object_set_new(o, "schemaType", json_string(schema_type_name(v->type)));
        json_object_set_new(o, "schema", json_string(v->schema));
        if (json_array_size(v->refs)) json_object_set(o, "references", v->refs);
        return reg_reply_json(resp, 200, o);
    }
    if (!strcmp(tail, "/schema"))
        return http_resp_set(resp, 200, CT_SR, v->schema, strlen(v->schema));
    bool vers = !strcmp(tail, "/versions"), subs = !strcmp(tail, "/subjects");
    if (!vers && !subs) return reg_reply_err(resp, 404, 404, "HTTP 404 Not Found");
    bool del = reg_qflag(&op->rq, Q_DELETED);
    json_t *out = json_array();
    for (int i = 0; i < r->n; i++) {
        sver *x = r->v[i];
        if (x->id != id || (x->deleted && !del)) continue;
        if (vers)
            json_array_append_new(
                out, json_pack("{s:s,s:i}", "subject", x->subject, "version", x->version));
        else if (!json_array_size(out) ||
                 strcmp(json_string_value(json_array_get(out, json_array_size(out) - 1)),
                        x->subject))
            json_array_append_new(out, json_string(x->subject));
    }
    reg_reply_json(resp, 200, out);
}

/* POST /compatibility/subjects/{s}/versions[/{v}] */
static void route_compat(reg *r, reg_op *op, http_response *resp)
{
    const char *rest = op->rq.path + strlen("/compatibility");
    if (strncmp(rest, "/subjects/", 10)) return reg_reply_err(resp, 404, 404, "HTTP 404 Not Found");
    rest += 10;
    const char *sl = strstr(rest, "/versions");
    if (!sl || sl == rest) return reg_reply_err(resp, 404, 404, "HTTP 404 Not Found");
    if (strcmp(op->rq.method, "POST"))
        return reg_reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
    op->subject = xstrndup(rest, (size_t)(sl - rest));
    if (!check_subject_chars(op->subject, resp)) return;
    const char *vtail = sl + 9;
    op->all = !*vtail || !strcmp(vtail, "/");
    if (!op->all) {
        if (*vtail != '/') return reg_reply_err(resp, 404, 404, "HTTP 404 Not Found");
        op->ver = reg_parse_version(vtail + 1);
        if (op->ver < 0) return bad_version(resp, vtail + 1);
    }
    op->st = reg_compatibility(r, op);
}

static void write_config(reg *r, reg_op *op, const char *subject, int level)
{
    wrec *rs = xcalloc(1, sizeof *rs);
    json_t *k = json_pack("{s:s,s:o,s:i}", "keytype", "CONFIG", "subject",
                          subject ? json_string(subject) : json_null(), "magic", 0);
    rs[0].key = json_dumps(k, JSON_COMPACT);
    json_decref(k);
    rs[0].val =
        level >= 0 ? xasprintf("{\"compatibilityLevel\":\"%s\"}", compat_level_name(level)) : NULL;
    op->st = reg_write_then(r, op, rs, 1, reg_step_answer);
}

/* /config, /config/{s} */
static void route_config(reg *r, reg_op *op, http_response *resp)
{
    const char *rest = op->rq.path + strlen("/config");
    const char *subject = NULL;
    if (*rest == '/' && rest[1])
        subject = rest + 1;
    else if (*rest && strcmp(rest, "/"))
        return reg_reply_err(resp, 404, 404, "HTTP 404 Not Found");
    if (subject && !reg_check_subject(subject, resp)) return;
    const char *m = op->rq.method;
    if (!strcmp(m, "GET")) {
        int lvl;
        if (subject) {
            subj_cfg *c = reg_cfg_find(r, subject);
            if (c && c->level < 0) c = NULL;
            if (!c && !reg_qflag(&op->rq, Q_DEFAULT_TO_GLOBAL))
                return reg_reply_err(resp, 404, 40408,
                                     "Subject '%s' does not have subject-level "
                                     "compatibility configured",
                                     subject);
            lvl = c ? c->level : reg_level_global(r);
        } else {
            lvl = reg_level_global(r);
        }
        return reg_reply_json(resp, 200,
                              json_pack("{s:s}", "compatibilityLevel", compat_level_name(lvl)));
    }
    if (!strcmp(m, "PUT")) {
        json_t *body = reg_body_object(&op->rq, resp);
        if (!body) return;
        const char *ls = json_string_value(json_object_get(body, "compatibility"));
        if (!ls) ls = json_string_value(json_object_get(body, "compatibilityLevel"));
        int lvl = compat_level_parse(ls);
        if (lvl < 0) {
            json_decref(body);
            return reg_reply_err(resp, 422, 42203,
                                 "Invalid compatibility level. Valid values are "
                                 "none, backward, forward, full, backward_transitive, "
                                 "forward_transitive, and full_transitive");
        }
        json_decref(body);
        if (reg_read_only(r, NULL, resp)) return;
        reg_reply_json(resp, 200, json_pack("{s:s}", "compatibility", compat_level_name(lvl)));
        return write_config(r, op, subject, lvl);
    }
    if (!strcmp(m, "DELETE")) {
        if (reg_read_only(r, NULL, resp)) return;
        int prev;
        if (subject) {
            subj_cfg *c = reg_cfg_find(r, subject);
            if (c && c->level < 0) c = NULL;
            if (!c && !reg_subject_exists(r, subject, true))
                return reg_reply_err(resp, 404, 40401, "Subject '%s' not found.", subject);
            prev = c ? c->level : reg_level_global(r);
        } else {
            prev = reg_level_global(r);
        }
        reg_reply_json(resp, 200,
                       json_pack("{s:s}", "compatibilityLevel", compat_level_name(prev)));
        return write_config(r, op, subject, -1);
    }
    reg_reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
}

static void write_mode(reg *r, reg_op *op, const char *subject, const char *mode)
{
    wrec *rs = xcalloc(1, sizeof *rs);
    json_t *k = json_pack("{s:s,s:o,s:i}", "keytype", "MODE", "subject",
                          subject ? json_string(subject) : json_null(), "magic", 0);
    rs[0].key = json_dumps(k, JSON_COMPACT);
    json_decref(k);
    rs[0].val = mode ? xasprintf("{\"mode\":\"%s\"}", mode) : NULL;
    op->st = reg_write_then(r, op, rs, 1, reg_step_answer);
}

/* /mode, /mode/{s}: READWRITE, READONLY, IMPORT */
static void route_mode(reg *r, reg_op *op, http_response *resp)
{
    const char *rest = op->rq.path + strlen("/mode");
    const char *subject = NULL;
    if (*rest == '/' && rest[1] && !strchr(rest + 1, '/'))
        subject = rest + 1;
    else if (*rest && strcmp(rest, "/"))
        return reg_reply_err(resp, 404, 404, "HTTP 404 Not Found");
    if (subject && !reg_check_subject(subject, resp)) return;
    subj_cfg *c = subject ? reg_cfg_find(r, subject) : NULL;
    if (c && !c->mode[0]) c = NULL;
    if (!strcmp(op->rq.method, "GET")) {
        if (subject && !c && !reg_qflag(&op->rq, Q_DEFAULT_TO_GLOBAL))
            return reg_reply_err(resp, 404, 40409,
                                 "Subject '%s' does not have subject-level mode "
                                 "configured",
                                 subject);
        return reg_reply_json(resp, 200, json_pack("{s:s}", "mode", c ? c->mode : r->mode));
    }
    if (!strcmp(op->rq.method, "DELETE")) {
        if (!subject) return reg_reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
        if (!c) return reg_reply_err(resp, 404, 40401, "Subject '%s' not found.", subject);
        char prev[16];
        snprintf(prev, sizeof prev, "%s", c->mode);
        reg_reply_json(resp, 200, json_pack("{s:s}", "mode", prev));
        return write_mode(r, op, subject, NULL);
    }
    if (strcmp(op->rq.method, "PUT"))
        return reg_reply_err(resp, 405, 405, "HTTP 405 Method Not Allowed");
    json_t *body = reg_body_object(&op->rq, resp);
    if (!body) return;
    const char *mode = json_string_value(json_object_get(body, "mode"));
    if (!mode ||
        (strcmp(mode, "READWRITE") && strcmp(mode, "READONLY") && strcmp(mode, "IMPORT"))) {
        json_decref(body);
        return reg_reply_err(resp, 422, 42204,
                             "Invalid mode. Valid values are READWRITE, READONLY "
                             "and IMPORT");
    }
    char m[16];
    snprintf(m, sizeof m, "%s", mode);
    json_decref(body);
    reg_reply_json(resp, 200, json_pack("{s:s}", "mode", m));
    write_mode(r, op, subject, m);
}

/* -------------------------------------------------------------- entry ---- */

typedef void (*route_fn)(reg *r, reg_op *op, http_response *resp);

/* Runs a route as one step of a request: REG_WAIT when it started asynchronous work. */
static int run_route(reg *r, reg_op *op, route_fn fn, bool subject_route)
{
    op->st = REG_DONE;
    if (op->rq.path_nul || (op->rq.q_nul && subject_route)) {
        /* "%00": the C string would name another subject ("a%00b" → "a") */
        if (subject_route)
            reg_reply_err(&op->resp, 422, 42208,
                          "Invalid subject name: the request holds a NUL byte (%%00); subject "
                          "names are UTF-8 without control characters");
        else
            reg_reply_err(&op->resp, 404, 404, "HTTP 404 Not Found");
        return REG_DONE;
    }
    fn(r, op, &op->resp);
    return op->st;
}

static int step_subjects(reg *r, reg_op *op)
{
    return run_route(r, op, route_subjects, true);
}
static int step_schemas(reg *r, reg_op *op)
{
    return run_route(r, op, route_schemas, false);
}
static int step_compat(reg *r, reg_op *op)
{
    return run_route(r, op, route_compat, true);
}
static int step_config(reg *r, reg_op *op)
{
    return run_route(r, op, route_config, true);
}
static int step_mode(reg *r, reg_op *op)
{
    return run_route(r, op, route_mode, true);
}

/* GETs are answered at once from the current state; everything else waits its turn in the
 * queue (queue.c), so writes and compatibility checks happen in arrival order, off the loop. */
static void entry(void *arg, const http_request *req, http_response *resp, reg_step step)
{
    reg *r = arg;
    if (strcmp(req->method, "GET")) return reg_enqueue(r, req, step);
    reg_op op = {0};
    reg_req_copy(&op.rq, req);
    op.resp = *resp;
    if (step(r, &op) != REG_DONE) /* cannot happen: no GET starts asynchronous work */
        reg_reply_err(&op.resp, 500, 50001, "Internal error");
    *resp = op.resp;
    op.resp.body = NULL;
    reg_op_release(&op);
}

static void h_subjects(void *arg, const http_request *req, http_response *resp)
{
    entry(arg, req, resp, step_subjects);
}

static void h_schemas(void *arg, const http_request *req, http_response *resp)
{
    entry(arg, req, resp, step_schemas);
}

static void h_compat(void *arg, const http_request *req, http_response *resp)
{
    entry(arg, req, resp, step_compat);
}

static void h_config(void *arg, const http_request *req, http_response *resp)
{
    entry(arg, req, resp, step_config);
}

static void h_mode(void *arg, const http_request *req, http_response *resp)
{
    entry(arg, req, resp, step_mode);
}

void reg_routes_add(reg *r, http_server *s)
{
    http_route(s, "*", "/subjects", h_subjects, r);
    http_route(s, "*", "/schemas", h_schemas, r);
    http_route(s, "*", "/compatibility", h_compat, r);
    http_route(s, "*", "/config", h_config, r);
    http_route(s, "*", "/mode", h_mode, r);
}
