/* schemas — the registry requests that carry a schema in their body: register
 * (POST /subjects/{s}/versions), lookup (POST /subjects/{s}) and compatibility
 * (POST /compatibility/subjects/{s}/versions[/{v}]). Each is a sequence of steps of the request
 * queue (queue.c): the body is checked and references resolved on the loop, the schema is
 * normalised on the worker, the subject's previous versions are checked for compatibility on
 * the worker, and the result is written durably — all on copies, in arrival order.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "common/util.h"
#include "registry/compat.h"
#include "registry/registry_int.h"

/* ------------------------------------------------- schema from a body ---- */

/* Parses the request body (up to 512 KiB of JSON) on the worker, then runs `next`, which takes
 * it with parsed_body. */
static int parse_body(reg *r, reg_op *op, reg_step next)
{
    if (op->rq.body_len > MAX_BODY_BYTES) {
        reg_reply_err(&op->resp, 413, 413, "Request body too large (limit %u bytes)",
                      MAX_BODY_BYTES);
        return REG_DONE;
    }
    reg_job *job = xcalloc(1, sizeof *job);
    job->level = -1;
    job->body = op->rq.body; /* the request's copy: nothing touches it while the job runs */
    job->body_len = op->rq.body_len;
    return reg_submit(r, op, job, next);
}

/* The body parse_body's job produced: a JSON object, or NULL after answering 400/422. */
static json_t *parsed_body(reg_op *op)
{
    reg_job *job = op->job;
    json_t *j = job->parsed;
    job->parsed = NULL;
    if (!j) {
        reg_reply_err(&op->resp, 400, 400, "Unexpected JSON in the request body: %s",
                      job->jerr.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        reg_reply_err(&op->resp, 422, 422, "The request body must be a JSON object");
        return NULL;
    }
    return j;
}

/* Resolves references into texts (borrowed from the registry). */
static int resolve_refs(reg *r, json_t *refs, schema_ref_text **out, int *nout, char *err,
                        size_t errlen)
{
    *out = NULL;
    *nout = 0;
    if (!refs || json_is_null(refs)) return 0;
    if (!json_is_array(refs)) {
        snprintf(err, errlen, "\"references\" must be an array");
        return -1;
    }
    size_t n = json_array_size(refs);
    schema_ref_text *rt = xcalloc(n + 1, sizeof *rt);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(refs, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *subj = json_string_value(json_object_get(e, "subject"));
        json_t *jv = json_object_get(e, "version");
        if (!name || !subj || !json_is_integer(jv)) {
            snprintf(err, errlen, "reference %zu needs \"name\", \"subject\" and \"version\"", i);
            free(rt);
            return -1;
        }
        int ver = (int)json_integer_value(jv);
        sver *v = ver == -1 ? reg_latest(r, subj, false) : reg_find_ver(r, subj, ver);
        if (!v) {
            snprintf(err, errlen, "reference %s: subject %s version %d not found", name, subj, ver);
            free(rt);
            return -1;
        }
        rt[i].name = name;
        rt[i].schema = v->schema;
    }
    *out = rt;
    *nout = (int)n;
    return 0;
}

/* Copies reference texts into the job (the worker must not read registry memory). */
static schema_ref_text *refs_copy(reg_job *job, const schema_ref_text *rt, int n)
{
    schema_ref_text *c = xcalloc((size_t)n + 1, sizeof *c);
    for (int i = 0; i < n; i++)
        c[i] = (schema_ref_text){reg_job_own(job, rt[i].name), reg_job_own(job, rt[i].schema)};
    return c;
}

/* Reads schema/schemaType/references from a request body into op->s and submits the
 * normalisation to the worker, `next` running after it. Answers (REG_DONE) on bad input. */
static int read_schema(reg *r, reg_op *op, json_t *body, reg_step next)
{
    inschema *s = &op->s;
    http_response *resp = &op->resp;
    json_t *js = json_object_get(body, "schema");
    if (!json_is_string(js) || !json_string_length(js)) {
        reg_reply_err(resp, 422, 42201, "Invalid schema: \"schema\" must be a non-empty string");
        return REG_DONE;
    }
    json_t *jt = json_object_get(body, "schemaType");
    if (jt && !json_is_null(jt) && !json_is_string(jt)) {
        reg_reply_err(resp, 422, 42201, "Invalid schema: \"schemaType\" must be a string");
        return REG_DONE;
    }
    s->type = schema_type_parse(json_is_string(jt) ? json_string_value(jt) : NULL);
    if (s->type < 0 || s->type == STYPE_PROTOBUF) {
        reg_reply_err(resp, 422, 42201, "Invalid schema: unsupported schemaType %s",
                      json_string_value(jt));
        return REG_DONE;
    }
    char err[512] = "";
    json_t *refs = json_object_get(body, "references");
    schema_ref_text *rt;
    int nrt;
    if (resolve_refs(r, refs, &rt, &nrt, err, sizeof err) < 0) {
        reg_reply_err(resp, 422, 42201, "Invalid schema: %s", err);
        return REG_DONE;
    }
    /* keep only name/subject/version in stored references */
    s->refs = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(refs, i, e)
    {
        json_array_append_new(s->refs,
                              json_pack("{s:O,s:O,s:O}", "name", json_object_get(e, "name"),
                                        "subject", json_object_get(e, "subject"), "version",
                                        json_object_get(e, "version")));
    }
    for (int k = 0; k < nrt; k++) /* the names now live in s->refs, not in the body */
        rt[k].name = json_string_value(json_object_get(json_array_get(s->refs, (size_t)k), "name"));
    reg_job *job = xcalloc(1, sizeof *job);
    job->type = s->type;
    job->level = -1;
    job->text = reg_job_own(job, json_string_value(js));
    job->rt = refs_copy(job, rt, nrt);
    job->nrt = nrt;
    s->rt = rt; /* borrowed texts; valid while this request runs (nothing else writes) */
    s->nrt = nrt;
    return reg_submit(r, op, job, next);
}

/* The step after parse_body for a body that is only a schema (lookup, compatibility): its
 * schema read as read_schema does, `next` running after the normalisation. */
static int read_body_schema(reg *r, reg_op *op, reg_step next)
{
    json_t *body = parsed_body(op);
    if (!body) return REG_DONE;
    int rc = read_schema(r, op, body, next);
    json_decref(body);
    return rc;
}

/* After read_schema's job: takes the normalised text into op->s, or answers 422. */
static bool read_schema_done(reg_op *op)
{
    reg_job *job = op->job;
    if (!job->norm) {
        reg_reply_err(&op->resp, 422, 42201, "Invalid schema: %s", job->err);
        return false;
    }
    op->s.norm = job->norm;
    op->s.canon = job->canon;
    job->norm = job->canon = NULL;
    return true;
}

static bool same_schema(const sver *v, const inschema *s)
{
    return v->type == s->type && !strcmp(v->canon, s->canon) && json_equal(v->refs, s->refs);
}

/* Submits the compatibility check of op->s against the subject's live versions (only
 * `only_version` if > 0), oldest first, with their references resolved — all copied. */
static int check_compat(reg *r, reg_op *op, const char *subject, int only_version, int level,
                        reg_step next)
{
    reg_job *job = xcalloc(1, sizeof *job);
    job->type = op->s.type;
    job->level = level;
    job->news =
        (schema_src){reg_job_own(job, op->s.norm), refs_copy(job, op->s.rt, op->s.nrt), op->s.nrt};
    job->prev = xcalloc((size_t)r->n + 1, sizeof *job->prev);
    job->versions = xcalloc((size_t)r->n + 1, sizeof *job->versions);
    /* reference arrays of news and of every previous version, freed with the job */
    schema_ref_text **rts = xcalloc((size_t)r->n + 2, sizeof *rts);
    int nrts = 0;
    rts[nrts++] = (schema_ref_text *)job->news.refs;
    for (int i = 0; i < r->n; i++) { /* r->v is sorted by subject, version */
        sver *v = r->v[i];
        if (v->deleted || strcmp(v->subject, subject)) continue;
        if (only_version > 0 && v->version != only_version) continue;
        char err[256];
        schema_ref_text *rt = NULL;
        int nrt = 0;
        resolve_refs(r, v->refs, &rt, &nrt, err, sizeof err);
        schema_ref_text *c = refs_copy(job, rt, nrt);
        free(rt);
        rts[nrts++] = c;
        job->prev[job->nprev] = (schema_src){reg_job_own(job, v->schema), c, nrt};
        job->versions[job->nprev++] = v->version;
    }
    /* the arrays are owned by the job like its strings */
    for (int i = 0; i < nrts; i++) {
        job->owned = xrealloc(job->owned, (size_t)(job->nowned + 1) * sizeof *job->owned);
        job->owned[job->nowned++] = (char *)rts[i];
    }
    free(rts);
    LOGI("registry", "checking a schema for %s against %d version(s) (%s) on the worker", subject,
         job->nprev, compat_level_name(level));
    return reg_submit(r, op, job, next);
}

/* ------------------------------------------------------------- register ---- */

static int register_written(reg *r, reg_op *op)
{
    r->hint_schema = r->hint_canon = NULL;
    if (op->resp.status == 200)
        LOGI("registry", "%s %s version %d id %d", op->import ? "imported" : "registered",
             op->subject, op->ver, op->want_id);
    return REG_DONE;
}

/* Writes op->s as version op->ver of op->subject with id op->want_id, then answers the id. */
static int register_write(reg *r, reg_op *op)
{
    inschema *s = &op->s;
    sver nv = {op->subject, op->ver, op->want_id, s->type, s->norm, NULL, s->refs, false};
    wrec *rs = xcalloc(1, sizeof *rs);
    rs[0].key = reg_key_schema(op->subject, op->ver);
    reg_wrec_schema_val(&rs[0], &nv, false);
    reg_reply_json(&op->resp, 200, json_pack("{s:i}", "id", op->want_id));
    r->hint_schema = s->norm; /* cleared when the write is done (register_written) */
    r->hint_canon = s->canon;
    int st = reg_write_then(r, op, rs, 1, register_written);
    if (st == REG_DONE) r->hint_schema = r->hint_canon = NULL; /* the append failed */
    return st;
}

/* IMPORT mode: the caller chooses the id (and optionally the version). */
static int register_import(reg *r, reg_op *op)
{
    sver *o = reg_by_id(r, op->want_id);
    if (o && !same_schema(o, &op->s)) {
        reg_reply_err(&op->resp, 422, 42205, "Overwrite new schema with id %d is not permitted.",
                      op->want_id);
        return REG_DONE;
    }
    sver *l = reg_latest(r, op->subject, true);
    op->ver = op->want_ver ? op->want_ver : (l ? l->version + 1 : 1);
    sver *ex = reg_find_ver(r, op->subject, op->ver);
    if (ex && (ex->id != op->want_id || !same_schema(ex, &op->s))) {
        reg_reply_err(&op->resp, 422, 42205, "Overwrite of subject %s version %d is not permitted.",
                      op->subject, op->ver);
        return REG_DONE;
    }
    if (ex) {
        reg_reply_json(&op->resp, 200, json_pack("{s:i}", "id", op->want_id));
        return REG_DONE;
    }
    return register_write(r, op);
}

static int register_checked(reg *r, reg_op *op)
{
    reg_job *job = op->job;
    if (job->level >= 0)
        LOGI("registry", "checked a schema for %s against %d version(s): %s", op->subject,
             job->nprev, job->ok ? "compatible" : "incompatible");
    if (!job->ok) {
        char *d = json_dumps(job->reasons, JSON_COMPACT);
        reg_reply_err(&op->resp, 409, 409,
                      "Schema being registered is incompatible with an earlier schema for "
                      "subject \"%s\", details: %s",
                      op->subject, d ? d : "[]");
        free(d);
        return REG_DONE;
    }
    /* id: the same schema anywhere keeps its id; otherwise the next never-used one */
    int id = 0;
    for (int i = 0; i < r->n && !id; i++)
        if (same_schema(r->v[i], &op->s)) id = r->v[i]->id;
    op->want_id = id ? id : r->max_id + 1;
    sver *l = reg_latest(r, op->subject, true);
    op->ver = l ? l->version + 1 : 1;
    return register_write(r, op);
}

static int register_normalised(reg *r, reg_op *op)
{
    if (!read_schema_done(op)) return REG_DONE;
    const char *subject = op->subject;
    if (op->level < 0) { /* bad "id" / "version" (found before normalising) */
        reg_reply_err(&op->resp, 422, 42201,
                      "Invalid schema: \"id\" and \"version\" must be integers in [1, 2^31-1]");
        return REG_DONE;
    }
    if ((op->want_id || op->want_ver) && !op->import) {
        reg_reply_err(&op->resp, 422, 42205,
                      "Subject %s is not in import mode: \"id\" and \"version\" cannot be "
                      "chosen",
                      subject);
        return REG_DONE;
    }
    if (op->import && op->want_id) return register_import(r, op);
    /* already registered (not deleted) under this subject: same id */
    for (int i = 0; i < r->n; i++) {
        sver *v = r->v[i];
        if (!v->deleted && !strcmp(v->subject, subject) && same_schema(v, &op->s)) {
            reg_reply_json(&op->resp, 200, json_pack("{s:i}", "id", v->id));
            return REG_DONE;
        }
    }
    int cur_type = reg_type_of_subject(r, subject);
    int level = op->import ? CL_NONE : reg_level_for(r, subject); /* imports are not checked */
    if (cur_type >= 0 && cur_type != op->s.type && level != CL_NONE) {
        reg_reply_err(&op->resp, 409, 409,
                      "Schema being registered is incompatible with an earlier schema for "
                      "subject \"%s\": schema type %s differs from the subject's %s",
                      subject, schema_type_name(op->s.type), schema_type_name(cur_type));
        return REG_DONE;
    }
    if (cur_type < 0 || level == CL_NONE) { /* nothing to check against */
        op->job->ok = true;
        return register_checked(r, op);
    }
    return check_compat(r, op, subject, 0, level, register_checked);
}

static bool bad_int(json_t *j)
{
    return j && !json_is_null(j) &&
           (!json_is_integer(j) || json_integer_value(j) < 1 || json_integer_value(j) > INT32_MAX);
}

static int register_parsed(reg *r, reg_op *op)
{
    const char *subject = op->subject;
    json_t *body = parsed_body(op);
    if (!body) return REG_DONE;
    op->import = !strcmp(reg_mode_for(r, subject), "IMPORT");
    json_t *jid = json_object_get(body, "id"), *jver = json_object_get(body, "version");
    op->want_id = json_is_integer(jid) ? (int)json_integer_value(jid) : 0;
    op->want_ver = json_is_integer(jver) ? (int)json_integer_value(jver) : 0;
    op->level = bad_int(jid) || bad_int(jver) ? -1 : 0;
    int rc = read_schema(r, op, body, register_normalised);
    json_decref(body);
    return rc;
}

int reg_register(reg *r, reg_op *op)
{
    if (!reg_check_subject(op->subject, &op->resp) || reg_read_only(r, op->subject, &op->resp))
        return REG_DONE;
    return parse_body(r, op, register_parsed);
}

/* --------------------------------------------------------------- lookup ---- */

static int lookup_normalised(reg *r, reg_op *op)
{
    if (!read_schema_done(op)) return REG_DONE;
    bool del = reg_qflag(&op->rq, Q_DELETED);
    if (!reg_subject_exists(r, op->subject, del)) {
        reg_reply_err(&op->resp, 404, 40401, "Subject '%s' not found.", op->subject);
        return REG_DONE;
    }
    for (int i = 0; i < r->n; i++) {
        sver *v = r->v[i];
        if ((!v->deleted || del) && !strcmp(v->subject, op->subject) && same_schema(v, &op->s)) {
            reg_reply_json(&op->resp, 200, reg_sver_json(v, true));
            return REG_DONE;
        }
    }
    reg_reply_err(&op->resp, 404, 40403, "Schema not found");
    return REG_DONE;
}

static int lookup_parsed(reg *r, reg_op *op)
{
    return read_body_schema(r, op, lookup_normalised);
}

int reg_lookup(reg *r, reg_op *op)
{
    return parse_body(r, op, lookup_parsed);
}

/* -------------------------------------------------------- compatibility ---- */

static int compat_answer(reg *r, reg_op *op)
{
    (void)r;
    reg_job *job = op->job;
    json_t *o = json_pack("{s:b}", "is_compatible", job->ok);
    if (reg_qflag(&op->rq, Q_VERBOSE))
        json_object_set_new(o, "messages", job->reasons ? json_incref(job->reasons) : json_array());
    reg_reply_json(&op->resp, 200, o);
    return REG_DONE;
}

static int compat_normalised(reg *r, reg_op *op)
{
    if (!read_schema_done(op)) return REG_DONE;
    const char *subject = op->subject;
    int level = reg_level_for(r, subject);
    reg_job *job = op->job;
    job->ok = true;
    if (!reg_subject_exists(r, subject, false)) {
        if (op->all) return compat_answer(r, op);
        reg_reply_err(&op->resp, 404, 40401, "Subject '%s' not found.", subject);
        return REG_DONE;
    }
    if (op->ver > 0 && !reg_find_ver(r, subject, op->ver)) {
        reg_reply_err(&op->resp, 404, 40402, "Version %d not found.", op->ver);
        return REG_DONE;
    }
    int cur_type = reg_type_of_subject(r, subject);
    if (cur_type != op->s.type && level != CL_NONE) {
        job->ok = false;
        job->reasons = json_array();
        char *m = xasprintf("{errorType:'TYPE_MISMATCH', description:'schema type %s differs "
                            "from the subject's %s'}",
                            schema_type_name(op->s.type), schema_type_name(cur_type));
        json_array_append_new(job->reasons, json_string(m));
        free(m);
        return compat_answer(r, op);
    }
    /* a given version: check against it (the level's direction, not transitive) */
    if (op->ver > 0) {
        if (level == CL_BACKWARD_TRANSITIVE) level = CL_BACKWARD;
        if (level == CL_FORWARD_TRANSITIVE) level = CL_FORWARD;
        if (level == CL_FULL_TRANSITIVE) level = CL_FULL;
    }
    return check_compat(r, op, subject, op->ver, level, compat_answer);
}

static int compat_parsed(reg *r, reg_op *op)
{
    return read_body_schema(r, op, compat_normalised);
}

int reg_compatibility(reg *r, reg_op *op)
{
    return parse_body(r, op, compat_parsed);
}
