/* store — the schema registry's model and its `_schemas` log (registry_int.h): the in-memory
 * state (schema versions sorted by subject and version, per-subject config and mode), the
 * Confluent record format of `_schemas` (see registry.c's header comment and
 * docs/schema-registry.md), appending a change and applying it once durable (polled from loop
 * timers, the loop keeps serving meanwhile), and the replay at start-up. Runs on the broker's
 * loop thread.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "broker/broker.h"
#include "common/log.h"
#include "common/util.h"
#include "registry/compat.h"
#include "registry/registry_int.h"
#include "storage/batch.h"

/* ------------------------------------------------------------------ state ---- */

int reg_level_global(const reg *r)
{
    return r->global_level >= 0 ? r->global_level : CL_BACKWARD;
}

subj_cfg *reg_cfg_find(reg *r, const char *s)
{
    for (int i = 0; i < r->ncfg; i++)
        if (!strcmp(r->cfg[i].subject, s)) return &r->cfg[i];
    return NULL;
}

int reg_level_for(reg *r, const char *s)
{
    subj_cfg *c = reg_cfg_find(r, s);
    return c && c->level >= 0 ? c->level : reg_level_global(r);
}

const char *reg_mode_for(reg *r, const char *s)
{
    subj_cfg *c = s ? reg_cfg_find(r, s) : NULL;
    return c && c->mode[0] ? c->mode : r->mode;
}

static subj_cfg *cfg_get(reg *r, const char *s)
{
    subj_cfg *c = reg_cfg_find(r, s);
    if (c) return c;
    r->cfg = xrealloc(r->cfg, (size_t)(r->ncfg + 1) * sizeof *r->cfg);
    c = &r->cfg[r->ncfg++];
    memset(c, 0, sizeof *c);
    c->subject = xstrdup(s);
    c->level = -1;
    return c;
}

static void cfg_gc(reg *r, subj_cfg *c)
{
    if (c->level >= 0 || c->mode[0]) return;
    free(c->subject);
    *c = r->cfg[--r->ncfg];
}

/* r->v is sorted by (subject, version): index of the first entry >= (s, version). */
static int ver_lower_bound(const reg *r, const char *s, int version)
{
    int lo = 0, hi = r->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const sver *v = r->v[mid];
        int c = strcmp(v->subject, s);
        if (c < 0 || (c == 0 && v->version < version))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

sver *reg_find_ver(reg *r, const char *s, int version)
{
    int i = ver_lower_bound(r, s, version);
    if (i < r->n && r->v[i]->version == version && !strcmp(r->v[i]->subject, s)) return r->v[i];
    return NULL;
}

void reg_sver_free(sver *v)
{
    if (!v) return;
    free(v->subject);
    free(v->schema);
    free(v->canon);
    json_decref(v->refs);
    free(v);
}

/* Applies one _schemas record (value NULL = tombstone). Used by the replay and after writes. */
void reg_apply(reg *r, json_t *key, json_t *val)
{
    const char *kt = json_string_value(json_object_get(key, "keytype"));
    if (!kt) return;
    json_t *js = json_object_get(key, "subject");
    const char *subject = json_string_value(js);
    if (!strcmp(kt, "SCHEMA")) {
        json_t *jv = json_object_get(key, "version");
        if (!subject || !json_is_integer(jv)) return;
        int version = (int)json_integer_value(jv);
        sver *old = reg_find_ver(r, subject, version);
        if (!val || json_is_null(val)) {
            if (old) {
                int i = ver_lower_bound(r, subject, version);
                memmove(&r->v[i], &r->v[i + 1], (size_t)(r->n - i - 1) * sizeof *r->v);
                r->n--;
                reg_sver_free(old);
            }
            return;
        }
        json_t *jid = json_object_get(val, "id");
        const char *schema = json_string_value(json_object_get(val, "schema"));
        if (!json_is_integer(jid) || !schema) return;
        int type = schema_type_parse(json_string_value(json_object_get(val, "schemaType")));
        if (type < 0) return;
        /* the canonical form (a parse of the whole schema): kept when the text is unchanged (soft
         * deletes), taken from the worker's result for a schema being registered */
        char *canon = NULL;
        if (old && old->type == type && !strcmp(old->schema, schema)) {
            canon = old->canon;
            old->canon = NULL;
        } else if (r->hint_schema && !strcmp(r->hint_schema, schema)) {
            canon = xstrdup(r->hint_canon);
        }
        sver *v = old;
        if (!v) {
            v = xcalloc(1, sizeof *v);
            v->subject = xstrdup(subject);
            v->version = version;
            if (r->n == r->a) {
                r->a = r->a ? r->a * 2 : 64;
                r->v = xrealloc(r->v, (size_t)r->a * sizeof *r->v);
            }
            int at = ver_lower_bound(r, subject, version);
            memmove(&r->v[at + 1], &r->v[at], (size_t)(r->n - at) * sizeof *r->v);
            r->v[at] = v;
            r->n++;
        } else {
            free(v->schema);
            free(v->canon);
            json_decref(v->refs);
        }
        v->id = (int)json_integer_value(jid);
        v->type = type;
        v->schema = xstrdup(schema);
        v->canon = canon ? canon : schema_canonical(type, schema);
        if (!v->canon) v->canon = xstrdup(schema);
        json_t *refs = json_object_get(val, "references");
        v->refs = json_is_array(refs) ? json_incref(refs) : json_array();
        v->deleted = json_is_true(json_object_get(val, "deleted"));
        if (v->id > r->max_id) r->max_id = v->id;
    } else if (!strcmp(kt, "CONFIG")) {
        int lvl = -1;
        if (val && !json_is_null(val))
            lvl = compat_level_parse(json_string_value(json_object_get(val, "compatibilityLevel")));
        if (!subject) {
            r->global_level = lvl;
            return;
        }
        subj_cfg *c = cfg_get(r, subject);
        c->level = lvl;
        cfg_gc(r, c);
    } else if (!strcmp(kt, "MODE")) {
        const char *m = val ? json_string_value(json_object_get(val, "mode")) : NULL;
        if (!subject) {
            snprintf(r->mode, sizeof r->mode, "%s", m ? m : "READWRITE");
            return;
        }
        subj_cfg *c = cfg_get(r, subject);
        snprintf(c->mode, sizeof c->mode, "%s", m ? m : "");
        cfg_gc(r, c);
    } else if (!strcmp(kt, "DELETE_SUBJECT")) {
        json_t *jv = val ? json_object_get(val, "version") : NULL;
        if (!subject || !json_is_integer(jv)) return;
        for (int i = 0; i < r->n; i++)
            if (!strcmp(r->v[i]->subject, subject) && r->v[i]->version <= json_integer_value(jv))
                r->v[i]->deleted = true;
    } else if (!strcmp(kt, "ID_WATERMARK")) {
        json_t *jid = val ? json_object_get(val, "id") : NULL;
        if (json_is_integer(jid) && json_integer_value(jid) > r->max_id)
            r->max_id = (int)json_integer_value(jid);
    }
}

/* ------------------------------------------------------------- storage ---- */

static uint8_t *build_batch(const wrec *rs, int n, size_t *len)
{
    batch_rec *br = xcalloc((size_t)n, sizeof *br);
    for (int i = 0; i < n; i++)
        br[i] =
            (batch_rec){rs[i].key, strlen(rs[i].key), rs[i].val, rs[i].val ? strlen(rs[i].val) : 0};
    uint8_t *p = batch_build(br, n, now_wall_ms(), len);
    free(br);
    return p;
}

struct reg_wait {
    wrec *rs;
    int n;
    plog *log;
    int64_t end, deadline;
    loop_timer *timer;
    reg_write_done done;
    reg_op *op;
};

static void wait_poll(loop *l, void *arg)
{
    reg *r = arg;
    reg_wait *w = r->wait;
    w->timer = NULL;
    int rc = 0;
    if (plog_durable_offset(w->log) < w->end) {
        if (now_mono_ms() <= w->deadline) {
            w->timer = loop_timer_add(l, 1, wait_poll, r);
            return;
        }
        /* the records are in the log and a replay will see them: apply them so memory
         * matches the log, but do not claim durability (50001) */
        LOGE("registry", "%s not durable after 10 s", SCHEMAS_TOPIC);
        rc = -1;
    }
    r->wait = NULL;
    for (int i = 0; i < w->n; i++) {
        json_t *k = json_loads(w->rs[i].key, 0, NULL);
        json_t *v = w->rs[i].jval  ? json_incref(w->rs[i].jval)
                    : w->rs[i].val ? json_loads(w->rs[i].val, 0, NULL)
                                   : NULL;
        reg_apply(r, k, v);
        json_decref(k);
        json_decref(v);
    }
    reg_wrecs_free(w->rs, w->n);
    reg_write_done done = w->done;
    reg_op *op = w->op;
    free(w);
    done(r, op, rc);
}

int reg_write_async(reg *r, wrec *rs, int n, reg_write_done done, reg_op *op)
{
    if (!r->t || r->t->nparts < 1 || r->wait) {
        reg_wrecs_free(rs, n);
        return -1;
    }
    bpart *p = r->t->parts[0];
    size_t len;
    uint8_t *batch = build_batch(rs, n, &len);
    int64_t base = -1;
    int rc = part_append(r->b, p, batch, len, &base);
    free(batch);
    if (rc != 0) {
        LOGE("registry", "cannot append to %s: error %d", SCHEMAS_TOPIC, rc);
        reg_wrecs_free(rs, n);
        return -1;
    }
    reg_wait *w = xcalloc(1, sizeof *w);
    *w = (reg_wait){rs, n, p->log, base + n, now_mono_ms() + 10000, NULL, done, op};
    if (r->b->flusher)
        flusher_request(r->b->flusher, p->log, w->end);
    else
        w->end = INT64_MIN; /* no flusher (tests): nothing to wait for */
    r->wait = w;
    /* polled with 1 ms timers: the loop goes on serving while the flusher syncs */
    w->timer = loop_timer_add(r->b->loop, 0, wait_poll, r);
    return 0;
}

void reg_write_cancel(reg *r)
{
    reg_wait *w = r->wait;
    if (!w) return;
    if (w->timer) loop_timer_cancel(r->b->loop, w->timer);
    reg_wrecs_free(w->rs, w->n);
    free(w);
    r->wait = NULL;
}

static int replay_rec(const batch_info *bi, const batch_record *rec, void *arg)
{
    (void)bi;
    if (rec->key_len <= 0) return 0;
    json_t *k = json_loadb((const char *)rec->key, (size_t)rec->key_len, 0, NULL);
    json_t *v =
        rec->value ? json_loadb((const char *)rec->value, (size_t)rec->value_len, 0, NULL) : NULL;
    if (k) reg_apply(arg, k, v);
    json_decref(k);
    json_decref(v);
    return 0;
}

int reg_replay(reg *r)
{
    plog *log = r->t->parts[0]->log;
    batch_tail_stats st = {0};
    int rc = batch_tail(log, plog_start_offset(log), replay_rec, r, SCHEMAS_TOPIC, &st);
    if (rc < 0) {
        LOGE("registry", "cannot read %s at %" PRId64 ": %d", SCHEMAS_TOPIC, st.next, rc);
        return -1;
    }
    return 0;
}

sver *reg_latest(reg *r, const char *s, bool include_deleted)
{
    sver *best = NULL;
    for (int i = 0; i < r->n; i++) {
        sver *v = r->v[i];
        if (strcmp(v->subject, s) || (v->deleted && !include_deleted)) continue;
        if (!best || v->version > best->version) best = v;
    }
    return best;
}

bool reg_subject_exists(reg *r, const char *s, bool include_deleted)
{
    return reg_latest(r, s, include_deleted) != NULL;
}

sver *reg_by_id(reg *r, int id)
{
    sver *soft = NULL;
    for (int i = 0; i < r->n; i++) {
        if (r->v[i]->id != id) continue;
        if (!r->v[i]->deleted) return r->v[i];
        soft = r->v[i];
    }
    return soft;
}

int reg_type_of_subject(reg *r, const char *subject)
{
    sver *l = reg_latest(r, subject, false);
    return l ? l->type : -1;
}

sver *reg_referenced_by(reg *r, const char *subject, int version)
{
    for (int i = 0; i < r->n; i++) {
        sver *v = r->v[i];
        if (v->deleted || !strcmp(v->subject, subject)) continue;
        size_t k;
        json_t *e;
        json_array_foreach(v->refs, k, e)
        {
            const char *s = json_string_value(json_object_get(e, "subject"));
            json_int_t rv = json_integer_value(json_object_get(e, "version"));
            if (s && !strcmp(s, subject) && (version <= 0 || rv == version || rv == -1)) return v;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ writes ---- */

char *reg_key_schema(const char *subject, int version)
{
    json_t *k = json_pack("{s:s,s:s,s:i,s:i}", "keytype", "SCHEMA", "subject", subject, "version",
                          version, "magic", 1);
    char *s = json_dumps(k, JSON_COMPACT);
    json_decref(k);
    return s;
}

void reg_wrec_schema_val(wrec *w, const sver *v, bool deleted)
{
    w->jval = json_pack("{s:s,s:i,s:i,s:s,s:s,s:O,s:b}", "subject", v->subject, "version",
                        v->version, "id", v->id, "schemaType", schema_type_name(v->type), "schema",
                        v->schema, "references", v->refs, "deleted", deleted);
    w->val = json_dumps(w->jval, JSON_COMPACT);
}

void reg_wrecs_free(wrec *rs, int n)
{
    for (int i = 0; i < n; i++) {
        free(rs[i].key);
        free(rs[i].val);
        json_decref(rs[i].jval);
    }
    free(rs);
}

char *reg_watermark_val(int id)
{
    return xasprintf("{\"id\":%d}", id);
}

void reg_state_free(reg *r)
{
    for (int i = 0; i < r->n; i++) reg_sver_free(r->v[i]);
    free(r->v);
    for (int i = 0; i < r->ncfg; i++) free(r->cfg[i].subject);
    free(r->cfg);
    r->v = NULL;
    r->cfg = NULL;
    r->n = r->a = r->ncfg = 0;
}
