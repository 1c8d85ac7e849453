/* registry — a Confluent-compatible schema registry on eddyd's HTTP port, storing its state in
 * the compacted internal topic `_schemas` with Confluent's record format. registry_start (called
 * by eddyd's main after the HTTP port is up) replays the topic into memory, starts the worker
 * thread and registers the routes; every change is appended as one RecordBatch, made durable
 * (fsync through the broker's flusher, polled from loop timers), then applied to memory with
 * the same code as the replay, and only then answered.
 *
 * Threads: everything runs on the broker's loop thread except schema normalisation and
 * compatibility checks, which run on the registry's worker thread over copies (queue.c).
 * Requests that write or carry a schema run one at a time in arrival order; GETs are answered
 * at once.
 *
 * Files: store.c (model and _schemas log), queue.c (request queue, worker), routes.c (paths,
 * GETs, config, mode, deletes), schemas.c (register, lookup, compatibility), compat.c +
 * avro.c + jsonschema.c (validation and compatibility, pure), this file (start, stop, lookups
 * for other modules).
 *
 * _schemas records (key → value, JSON):
 *   {"keytype":"SCHEMA","subject":S,"version":V,"magic":1}
 *        → {"subject":S,"version":V,"id":N,"schemaType":T,"schema":"…","references":[…],
 *           "deleted":bool}          (null value = permanently deleted)
 *   {"keytype":"CONFIG","subject":S|null,"magic":0} → {"compatibilityLevel":L} (null = reset)
 *   {"keytype":"MODE","subject":S|null,"magic":0}   → {"mode":M}             (null = reset)
 *   {"keytype":"DELETE_SUBJECT","subject":S,"magic":0} → {"subject":S,"version":V} (replay only)
 *   {"keytype":"ID_WATERMARK","magic":0} → {"id":N}   (Eddy extension: written with permanent
 *        deletes so the highest id ever used survives compaction; ids are never reused)
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/util.h"
#include "registry/compat.h"
#include "registry/registry.h"
#include "registry/registry_int.h"

static reg *g_reg;

/* -------------------------------------------------------------- lifecycle ---- */

int registry_start(broker *b, http_server *http)
{
    if (!http) return 0;
    reg *r = xcalloc(1, sizeof *r);
    r->b = b;
    r->global_level = -1;
    snprintf(r->mode, sizeof r->mode, "READWRITE");
    r->t = topic_find(b, SCHEMAS_TOPIC);
    if (!r->t) {
        int rc = topic_create(b, SCHEMAS_TOPIC, 1, "cleanup.policy=compact\nretention.ms=-1\n",
                              true, &r->t);
        if (rc != 0 || !r->t) {
            LOGE("registry", "cannot create %s: error %d", SCHEMAS_TOPIC, rc);
            free(r);
            return -1;
        }
    }
    if (r->t->nparts < 1 || reg_replay(r) < 0 || reg_queue_start(r) < 0) {
        free(r);
        return -1;
    }
    g_reg = r;
    reg_routes_add(r, http);
    LOGI("registry", "schema registry: %d schema versions, max id %d, compatibility %s", r->n,
         r->max_id, compat_level_name(reg_level_global(r)));
    return 0;
}

void registry_stop(broker *b)
{
    (void)b;
    reg *r = g_reg;
    if (!r) return;
    g_reg = NULL;
    reg_queue_stop(r);
    reg_state_free(r);
    free(r);
}

static void fill(const sver *v, registry_schema *out)
{
    *out = (registry_schema){v->id,     v->version, v->subject, schema_type_name(v->type),
                             v->schema, v->deleted};
}

int registry_schema_by_id(broker *b, int id, registry_schema *out)
{
    (void)b;
    sver *v = g_reg ? reg_by_id(g_reg, id) : NULL;
    if (!v) return -1;
    fill(v, out);
    return 0;
}

int registry_schema_by_version(broker *b, const char *subject, int version, registry_schema *out)
{
    (void)b;
    if (!g_reg || !subject) return -1;
    sver *v =
        version <= 0 ? reg_latest(g_reg, subject, false) : reg_find_ver(g_reg, subject, version);
    if (!v || v->deleted) return -1;
    fill(v, out);
    return 0;
}
