/* projection.c — libeddy CQRS projections (projection.h): a read model fed from topics with
 * its checkpoint committed in the read model's transaction, blue/green rebuilds from the
 * earliest retained offset, lag and rebuild progress in logs, metrics and HTTP.
 * Part of src/sdk (libeddy).
 *
 * A "lane" is one generation being fed: its own consumer (manual assignment, no group
 * offsets: the positions come from the database), its partitions and their committed next
 * offsets. The current generation's lane always runs; during a rebuild a second lane fills the
 * new generation from the beginning, batch for batch beside the first, and when its position
 * has reached the current lane's on every partition the generation switch is one transaction.
 *
 * Tables:
 *   eddy_projections        (name PK, active_gen, building_gen NULL, rebuild_total,
 *                            rebuild_started_at, updated_at)
 *   eddy_projection_offsets (name, gen, topic, partition, next_offset; PK all but the last) */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/projection.h"
#include "service_int.h"

#define PROJ_DEFAULT_BATCH 500
#define PROJ_MAX_BATCH 10000

typedef struct part {
    int topic;
    int32_t partition;
    int64_t next; /* committed next offset; -1: from the beginning */
    int64_t pend; /* next offset once the open batch commits */
} part;

typedef struct lane {
    int gen;
    rd_kafka_t *rk;
    part *parts;
    int nparts;
    int64_t processed;
    int64_t last_ts_ms;
    int64_t refreshed_us;
} lane;

struct eddy_projection {
    eddy_projection_def def;
    char *name, *url, *bootstrap, *source;
    char **topics;
    int ntopics;
    eddy_store *st;
    lane live, build;
    int building;
    int opened;
    pthread_t th;
    int running;
    atomic_int stop;
    atomic_int rebuild_req;
    atomic_int active_gen;
    pthread_mutex_t mu; /* stat */
    eddy_projection_status stat;
    int64_t rebuild_started_us, progress_logged_us;
    eddy_service *svc;
};

static const char PROJ_DDL[] =
    "CREATE TABLE IF NOT EXISTS eddy_projections ("
    " name TEXT PRIMARY KEY, active_gen INTEGER NOT NULL, building_gen INTEGER,"
    " rebuild_total BIGINT, rebuild_started_at TEXT, updated_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS eddy_projection_offsets ("
    " name TEXT NOT NULL, gen INTEGER NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,"
    " next_offset BIGINT NOT NULL, PRIMARY KEY (name, gen, topic, partition));";

/* the attached projections of this process */
static sdk_attached g_attached = {"projection", 1, "/projections", PTHREAD_MUTEX_INITIALIZER, NULL};

static void suffix_of(int gen, char buf[16])
{
    snprintf(buf, 16, "_g%d", gen);
}

const char *eddy_projection_suffix(const eddy_projection *p, char buf[16])
{
    suffix_of(atomic_load(&((eddy_projection *)p)->active_gen), buf);
    return buf;
}

static int valid_name(const char *n)
{
    if (!n || !*n || strlen(n) > 64) return 0;
    for (const char *c = n; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' ||
              *c == '-'))
            return 0;
    return 1;
}

/* ---- construction ------------------------------------------------------------------------- */
static int proj_init(const eddy_projection_def *def, eddy_projection **out)
{
    *out = NULL;
    sdk_es_clear();
    if (!def || !valid_name(def->name))
        return sdk_es_fail(EDDY_ERR_PERMANENT, "projection name must be [a-z0-9_.-]{1,64}");
    if (!def->apply || !def->reset)
        return sdk_es_fail(EDDY_ERR_PERMANENT, "projection %s needs apply and reset", def->name);
    if (!def->topics || !def->topics[0])
        return sdk_es_fail(EDDY_ERR_PERMANENT, "projection %s has no topics", def->name);
    if (def->batch_size < 0 || def->batch_size > PROJ_MAX_BATCH)
        return sdk_es_fail(EDDY_ERR_PERMANENT, "projection %s: batch_size must be 0..%d", def->name,
                           PROJ_MAX_BATCH);
    eddy_projection *p = sdk_xcalloc(1, sizeof *p);
    p->def = *def;
    if (!p->def.batch_size) p->def.batch_size = PROJ_DEFAULT_BATCH;
    p->name = sdk_xstrdup(def->name);
    while (def->topics[p->ntopics]) p->ntopics++;
    p->topics = sdk_xcalloc((size_t)p->ntopics, sizeof(char *));
    for (int i = 0; i < p->ntopics; i++) p->topics[i] = sdk_xstrdup(def->topics[i]);
    pthread_mutex_init(&p->mu, NULL);
    atomic_store(&p->active_gen, 1);
    *out = p;
    return 0;
}

static void lane_close(lane *l)
{
    if (l->rk) {
        rd_kafka_assign(l->rk, NULL);
        rd_kafka_destroy(l->rk);
    }
    free(l->parts);
    memset(l, 0, sizeof *l);
}

static int topic_index(eddy_projection *p, const char *t)
{
    for (int i = 0; i < p->ntopics; i++)
        if (!strcmp(p->topics[i], t)) return i;
    return -1;
}

static part *lane_part(lane *l, int topic, int32_t partition)
{
    for (int i = 0; i < l->nparts; i++)
        if (l->parts[i].topic == topic && l->parts[i].partition == partition) return &l->parts[i];
    return NULL;
}

static void lane_add(lane *l, int topic, int32_t partition, int64_t next)
{
    l->parts = sdk_xrealloc(l->parts, (size_t)(l->nparts + 1) * sizeof(part));
    l->parts[l->nparts++] = (part){topic, partition, next, next};
}

static int lane_assign(eddy_projection *p, lane *l)
{
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(l->nparts + 1);
    for (int i = 0; i < l->nparts; i++) {
        l->parts[i].pend = l->parts[i].next;
        rd_kafka_topic_partition_list_add(tl, p->topics[l->parts[i].topic], l->parts[i].partition)
            ->offset = l->parts[i].next >= 0 ? l->parts[i].next : RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(l->rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (e) {
        sdk_log(p->source, "projection %s: assign: %s", p->name, rd_kafka_err2str(e));
        return EDDY_ERR_TRANSIENT;
    }
    return 0;
}

/* Adds partitions that appeared (topics created after start); reassigns if any did. */
static void lane_refresh(eddy_projection *p, lane *l, int force)
{
    int64_t now = sdk_mono_us();
    if (!force && now - l->refreshed_us < 2000000) return;
    l->refreshed_us = now;
    int added = 0;
    for (int t = 0; t < p->ntopics; t++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(l->rk, p->topics[t], NULL);
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(l->rk, 0, rkt, &md, 3000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topic_cnt == 1 && !md->topics[0].err)
            for (int i = 0; i < md->topics[0].partition_cnt; i++) {
                int32_t pid = md->topics[0].partitions[i].id;
                if (!lane_part(l, t, pid)) {
                    lane_add(l, t, pid, -1);
                    added = 1;
                }
            }
        if (md) rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
    }
    if (added || force) lane_assign(p, l);
}

static int lane_open(eddy_projection *p, lane *l, int gen)
{
    memset(l, 0, sizeof *l);
    l->gen = gen;
    char err[256], gid[128], u[37];
    eddy_uuid_generate(u);
    snprintf(gid, sizeof gid, "eddy-projection-%s-%.8s", p->name, u);
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    const char *kv[] = {"bootstrap.servers",
                        p->bootstrap,
                        "group.id",
                        gid,
                        "enable.auto.commit",
                        "false",
                        "enable.auto.offset.store",
                        "false",
                        "auto.offset.reset",
                        "earliest",
                        "fetch.wait.max.ms",
                        "50",
                        "allow.auto.create.topics",
                        "false",
                        "log_level",
                        "3",
                        "reconnect.backoff.max.ms",
                        "1000",
                        NULL};
    for (int i = 0; kv[i]; i += 2)
        if (rd_kafka_conf_set(c, kv[i], kv[i + 1], err, sizeof err) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(c);
            return sdk_es_fail(EDDY_ERR_PERMANENT, "projection %s: %s", p->name, err);
        }
    /* the service's client settings (security.protocol, sasl.*, ssl.*, ...): a projection
     * reads the same cluster with the same credentials */
    char **kc = sdk_kafka_conf(p->svc);
    for (int i = 0; kc[i]; i++) {
        char *eq = strchr(kc[i], '=');
        if (!eq) continue;
        *eq = 0;
        int bad = rd_kafka_conf_set(c, kc[i], eq + 1, err, sizeof err) != RD_KAFKA_CONF_OK;
        *eq = '=';
        if (bad) {
            sdk_strv_free(kc);
            rd_kafka_conf_destroy(c);
            return sdk_es_fail(EDDY_ERR_PERMANENT, "projection %s: %s", p->name, err);
        }
    }
    sdk_strv_free(kc);
    l->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!l->rk) return sdk_es_fail(EDDY_ERR_PERMANENT, "projection %s: consumer: %s", p->name, err);
    rd_kafka_poll_set_consumer(l->rk);
    char g[16];
    snprintf(g, sizeof g, "%d", gen);
    const char *q[] = {p->name, g};
    eddy_rows *r = NULL;
    int rc = eddy_store_query(p->st,
                              "SELECT topic, partition, next_offset FROM"
                              " eddy_projection_offsets WHERE name = $1 AND gen = $2",
                              2, q, &r);
    if (rc < 0) {
        lane_close(l);
        return sdk_es_store_fail(p->st, rc, "reading projection checkpoint");
    }
    for (int i = 0; i < eddy_rows_count(r); i++) {
        int t = topic_index(p, eddy_rows_get(r, i, 0));
        if (t >= 0) lane_add(l, t, atoi(eddy_rows_get(r, i, 1)), atoll(eddy_rows_get(r, i, 2)));
    }
    eddy_rows_free(r);
    lane_refresh(p, l, 1);
    return 0;
}

static int proj_open(eddy_projection *p, const char *url, const char *bootstrap, const char *source)
{
    p->url = sdk_xstrdup(url);
    p->bootstrap = sdk_xstrdup(bootstrap);
    p->source = sdk_xstrdup(source ? source : p->name);
    int rc = eddy_store_open(url, &p->st);
    if (rc < 0) return sdk_es_fail(rc, "projection %s: cannot open store", p->name);
    if ((rc = eddy_store_migrate(p->st)) < 0)
        return sdk_es_store_fail(p->st, rc, "projection migration");
    int pg = eddy_store_is_postgres(p->st);
    if (pg) eddy_store_exec(p->st, "SELECT pg_advisory_lock(4244)", 0, NULL);
    rc = eddy_store_exec(p->st, PROJ_DDL, 0, NULL);
    if (pg) eddy_store_exec(p->st, "SELECT pg_advisory_unlock(4244)", 0, NULL);
    if (rc < 0) return sdk_es_store_fail(p->st, rc, "projection migration");
    eddy_tx *tx;
    if ((rc = eddy_tx_begin(p->st, p->source, NULL, NULL, &tx)) < 0)
        return sdk_es_store_fail(p->st, rc, "projection start");
    eddy_rows *r = NULL;
    const char *q[] = {p->name};
    rc = eddy_tx_query(tx,
                       "SELECT active_gen, building_gen, rebuild_total FROM eddy_projections"
                       " WHERE name = $1",
                       1, q, &r);
    int active = 1, building = 0;
    int64_t total = 0;
    if (rc > 0) {
        active = atoi(eddy_rows_get(r, 0, 0));
        building = eddy_rows_get(r, 0, 1) ? atoi(eddy_rows_get(r, 0, 1)) : 0;
        total = eddy_rows_get(r, 0, 2) ? atoll(eddy_rows_get(r, 0, 2)) : 0;
    } else if (rc == 0) {
        char ts[32], sfx[16];
        eddy_time_rfc3339(sdk_wall_ms(), ts);
        suffix_of(1, sfx);
        const char *ip[] = {p->name, ts};
        rc = eddy_tx_exec(tx,
                          "INSERT INTO eddy_projections (name, active_gen, updated_at)"
                          " VALUES ($1, 1, $2)",
                          2, ip);
        if (rc >= 0) rc = p->def.reset(tx, sfx, p->def.arg);
        if (rc < 0 && !*eddy_es_error())
            sdk_es_fail(rc, "projection %s: reset of %s failed: %s", p->name, sfx,
                        eddy_store_error(p->st));
    }
    eddy_rows_free(r);
    if (rc < 0) {
        eddy_tx_rollback(tx);
        if (!*eddy_es_error()) sdk_es_store_fail(p->st, rc, "projection start");
        return rc;
    }
    if ((rc = eddy_tx_commit(tx)) < 0) return sdk_es_store_fail(p->st, rc, "projection start");
    atomic_store(&p->active_gen, active);
    if ((rc = lane_open(p, &p->live, active)) < 0) return rc;
    if (building) {
        if ((rc = lane_open(p, &p->build, building)) < 0) return rc;
        p->building = 1;
        p->rebuild_started_us = sdk_mono_us();
        pthread_mutex_lock(&p->mu);
        p->stat.rebuild_total = total;
        pthread_mutex_unlock(&p->mu);
        sdk_log(p->source, "projection %s: resuming the rebuild of generation %d", p->name,
                building);
    }
    p->opened = 1;
    return 0;
}

int eddy_projection_new(const char *store_url, const char *bootstrap,
                        const eddy_projection_def *def, eddy_projection **out)
{
    eddy_projection *p;
    int rc = proj_init(def, &p);
    if (rc < 0) return rc;
    if (!store_url || !bootstrap) {
        eddy_projection_free(p);
        return sdk_es_fail(EDDY_ERR_PERMANENT, "projection needs a store and bootstrap servers");
    }
    if ((rc = proj_open(p, store_url, bootstrap, NULL)) < 0) {
        char keep[512];
        snprintf(keep, sizeof keep, "%s", eddy_es_error());
        eddy_projection_free(p);
        return sdk_es_fail(rc, "%s", keep);
    }
    *out = p;
    return 0;
}

/* ---- processing --------------------------------------------------------------------------- */
static int save_offsets(eddy_projection *p, eddy_tx *tx, lane *l)
{
    char g[16];
    snprintf(g, sizeof g, "%d", l->gen);
    for (int i = 0; i < l->nparts; i++) {
        part *x = &l->parts[i];
        if (x->pend == x->next) continue;
        char pp[16], off[24];
        snprintf(pp, sizeof pp, "%d", (int)x->partition);
        snprintf(off, sizeof off, "%lld", (long long)x->pend);
        const char *q[] = {p->name, g, p->topics[x->topic], pp, off};
        int rc = eddy_tx_exec(tx,
                              "INSERT INTO eddy_projection_offsets (name, gen, topic, partition,"
                              " next_offset) VALUES ($1, $2, $3, $4, $5)"
                              " ON CONFLICT (name, gen, topic, partition) DO UPDATE"
                              " SET next_offset = excluded.next_offset",
                              5, q);
        if (rc < 0) return rc;
    }
    return 0;
}

/* One batch of lane l in one transaction. Returns messages consumed (>= 0) or < 0. */
static int lane_batch(eddy_projection *p, lane *l, int wait_ms)
{
    if (!l->rk) return 0;
    int max = p->def.batch_size;
    rd_kafka_message_t **msgs = sdk_xcalloc((size_t)max, sizeof *msgs);
    int n = 0;
    while (n < max) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(l->rk, n ? 0 : wait_ms);
        if (!m) break;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                sdk_log(p->source, "projection %s: %s", p->name, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        msgs[n++] = m;
    }
    if (!n) {
        free(msgs);
        return 0;
    }
    char sfx[16];
    suffix_of(l->gen, sfx);
    eddy_tx *tx = NULL;
    int rc = eddy_tx_begin(p->st, p->source, NULL, NULL, &tx);
    int64_t skipped = 0, last_ts = 0;
    int crash = sdk_fault_armed("projection_crash_mid_batch", p->name);
    for (int i = 0; rc >= 0 && i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        if (crash && i == n / 2 && n >= 2) {
            sdk_log(p->source, "fault switch: projection_crash_mid_batch after %d of %d, SIGKILL",
                    i, n);
            kill(getpid(), SIGKILL);
        }
        int t = topic_index(p, rd_kafka_topic_name(m->rkt));
        part *x = t >= 0 ? lane_part(l, t, m->partition) : NULL;
        if (!x || (x->pend >= 0 && m->offset < x->pend)) continue; /* already applied */
        x->pend = m->offset + 1;
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        if (ts > 0) last_ts = ts;
        eddy_event *ev = NULL;
        char *why = NULL;
        if (eddy_event_from_json(m->payload, m->len, &ev, &why) != 0) {
            sdk_log(p->source, "projection %s: skipped %s[%d]@%lld: %s", p->name,
                    rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset, why);
            free(why);
            skipped++;
            continue;
        }
        ev->topic = sdk_xstrdup(rd_kafka_topic_name(m->rkt));
        ev->partition = m->partition;
        ev->offset = m->offset;
        if (m->key) ev->key = sdk_xstrndup(m->key, m->key_len);
        int a = p->def.apply(tx, ev, sfx, p->def.arg);
        if (a == EDDY_ERR_TRANSIENT || a == EDDY_ERR_IO) {
            rc = a;
        } else if (a < 0) {
            sdk_log(p->source, "projection %s: skipped %s %s[%d]@%lld (apply returned %d: %s)",
                    p->name, ev->event_type, ev->topic, (int)m->partition, (long long)m->offset, a,
                    eddy_store_error(p->st));
            skipped++;
        }
        eddy_event_free(ev);
    }
    if (rc >= 0) rc = save_offsets(p, tx, l);
    if (rc >= 0) {
        rc = eddy_tx_commit(tx);
        tx = NULL;
    }
    if (tx) eddy_tx_rollback(tx);
    for (int i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
    free(msgs);
    if (rc < 0) {
        sdk_log(p->source, "projection %s: batch rolled back (%d): %s", p->name, rc,
                eddy_store_error(p->st));
        lane_assign(p, l); /* back to the committed positions */
        return rc;
    }
    for (int i = 0; i < l->nparts; i++) l->parts[i].next = l->parts[i].pend;
    l->processed += n;
    if (last_ts) l->last_ts_ms = last_ts;
    pthread_mutex_lock(&p->mu);
    p->stat.skipped += skipped;
    pthread_mutex_unlock(&p->mu);
    return n;
}

static int64_t lane_lag(eddy_projection *p, lane *l, int query)
{
    int64_t lag = 0;
    for (int i = 0; i < l->nparts; i++) {
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t e =
            query ? rd_kafka_query_watermark_offsets(l->rk, p->topics[l->parts[i].topic],
                                                     l->parts[i].partition, &lo, &hi, 5000)
                  : rd_kafka_get_watermark_offsets(l->rk, p->topics[l->parts[i].topic],
                                                   l->parts[i].partition, &lo, &hi);
        if (e || hi < 0) continue;
        int64_t pos = l->parts[i].next >= 0 ? l->parts[i].next : (lo > 0 ? lo : 0);
        if (hi > pos) lag += hi - pos;
    }
    return lag;
}

static void update_stat(eddy_projection *p)
{
    int64_t lag = lane_lag(p, &p->live, 0);
    pthread_mutex_lock(&p->mu);
    p->stat.generation = atomic_load(&p->active_gen);
    p->stat.building = p->building ? p->build.gen : 0;
    p->stat.events = p->live.processed;
    p->stat.lag_events = lag;
    p->stat.lag_seconds = lag > 0 && p->live.last_ts_ms > 0
                              ? (double)(sdk_wall_ms() - p->live.last_ts_ms) / 1000.0
                              : 0.0;
    if (p->stat.lag_seconds < 0) p->stat.lag_seconds = 0;
    if (p->building) {
        p->stat.rebuild_done = p->build.processed;
        double el = (double)(sdk_mono_us() - p->rebuild_started_us) / 1e6;
        p->stat.rebuild_rate = el > 0 ? (double)p->build.processed / el : 0;
    }
    pthread_mutex_unlock(&p->mu);
}

static int start_rebuild(eddy_projection *p)
{
    int gen = atomic_load(&p->active_gen) + 1;
    char sfx[16], g[16], total_s[24], ts[32];
    suffix_of(gen, sfx);
    snprintf(g, sizeof g, "%d", gen);
    /* total: what the log retains now, every partition */
    lane tmp;
    int rc = lane_open(p, &tmp, gen);
    if (rc < 0) return rc;
    int64_t total = 0;
    for (int i = 0; i < tmp.nparts; i++) {
        int64_t lo = 0, hi = 0;
        if (!rd_kafka_query_watermark_offsets(tmp.rk, p->topics[tmp.parts[i].topic],
                                              tmp.parts[i].partition, &lo, &hi, 5000))
            total += hi - lo;
    }
    lane_close(&tmp);
    snprintf(total_s, sizeof total_s, "%lld", (long long)total);
    eddy_time_rfc3339(sdk_wall_ms(), ts);
    eddy_tx *tx;
    if ((rc = eddy_tx_begin(p->st, p->source, NULL, NULL, &tx)) < 0)
        return sdk_es_store_fail(p->st, rc, "rebuild");
    rc = p->def.reset(tx, sfx, p->def.arg);
    const char *q1[] = {p->name, g};
    if (rc >= 0)
        rc = eddy_tx_exec(tx, "DELETE FROM eddy_projection_offsets WHERE name = $1 AND gen = $2", 2,
                          q1);
    const char *q2[] = {p->name, g, total_s, ts};
    if (rc >= 0)
        rc = eddy_tx_exec(tx,
                          "UPDATE eddy_projections SET building_gen = $2, rebuild_total = $3,"
                          " rebuild_started_at = $4, updated_at = $4 WHERE name = $1",
                          4, q2);
    if (rc < 0) {
        sdk_log(p->source, "projection %s: rebuild could not start: %s", p->name,
                eddy_store_error(p->st));
        eddy_tx_rollback(tx);
        return rc;
    }
    if ((rc = eddy_tx_commit(tx)) < 0) return rc;
    if ((rc = lane_open(p, &p->build, gen)) < 0) return rc;
    p->building = 1;
    p->rebuild_started_us = p->progress_logged_us = sdk_mono_us();
    pthread_mutex_lock(&p->mu);
    p->stat.rebuild_total = total;
    p->stat.rebuild_done = 0;
    p->stat.rebuild_rate = 0;
    pthread_mutex_unlock(&p->mu);
    sdk_log(p->source,
            "projection %s: rebuilding into generation %d from the earliest offsets"
            " (%lld events retained); reads stay on generation %d",
            p->name, gen, (long long)total, gen - 1);
    return 0;
}

/* The new generation has reached the current one on every partition: switch in one tx. */
static int maybe_switch(eddy_projection *p)
{
    if (!p->building) return 0;
    for (int i = 0; i < p->live.nparts; i++) {
        part *a = &p->live.parts[i];
        part *b = lane_part(&p->build, a->topic, a->partition);
        int64_t an = a->next < 0 ? 0 : a->next, bn = !b || b->next < 0 ? 0 : b->next;
        if (bn < an) return 0;
    }
    /* and the new generation has nothing left to read */
    if (lane_lag(p, &p->build, 1) > 0) return 0;
    int old = p->live.gen, gen = p->build.gen;
    char g[16], o[16], ts[32];
    snprintf(g, sizeof g, "%d", gen);
    snprintf(o, sizeof o, "%d", old);
    eddy_time_rfc3339(sdk_wall_ms(), ts);
    eddy_tx *tx;
    int rc = eddy_tx_begin(p->st, p->source, NULL, NULL, &tx);
    if (rc < 0) return rc;
    const char *q1[] = {p->name, g, ts};
    rc = eddy_tx_exec(tx,
                      "UPDATE eddy_projections SET active_gen = $2, building_gen = NULL,"
                      " updated_at = $3 WHERE name = $1",
                      3, q1);
    const char *q2[] = {p->name, o};
    if (rc >= 0)
        rc = eddy_tx_exec(tx, "DELETE FROM eddy_projection_offsets WHERE name = $1 AND gen = $2", 2,
                          q2);
    if (rc < 0) {
        eddy_tx_rollback(tx);
        return rc;
    }
    if ((rc = eddy_tx_commit(tx)) < 0) return rc;
    atomic_store(&p->active_gen, gen);
    double el = (double)(sdk_mono_us() - p->rebuild_started_us) / 1e6;
    int64_t done = p->build.processed;
    sdk_log(p->source,
            "projection %s: generation %d is current: %lld events replayed in %.2f s"
            " (%.0f events/s)",
            p->name, gen, (long long)done, el, el > 0 ? (double)done / el : 0.0);
    lane_close(&p->live);
    p->live = p->build;
    memset(&p->build, 0, sizeof p->build);
    p->building = 0;
    pthread_mutex_lock(&p->mu);
    p->stat.rebuilds++;
    p->stat.rebuild_done = done;
    p->stat.rebuild_rate = el > 0 ? (double)done / el : 0;
    pthread_mutex_unlock(&p->mu);
    if (p->def.drop) {
        char sfx[16];
        suffix_of(old, sfx);
        if (eddy_tx_begin(p->st, p->source, NULL, NULL, &tx) == 0) {
            int d = p->def.drop(tx, sfx, p->def.arg);
            if (d >= 0)
                d = eddy_tx_commit(tx);
            else
                eddy_tx_rollback(tx);
            if (d < 0)
                sdk_log(p->source, "projection %s: dropping generation %d failed: %s", p->name, old,
                        eddy_store_error(p->st));
        }
    }
    return 1;
}

static void progress_log(eddy_projection *p)
{
    if (!p->building) return;
    int64_t now = sdk_mono_us();
    if (now - p->progress_logged_us < 1000000) return;
    p->progress_logged_us = now;
    eddy_projection_status s;
    eddy_projection_get_status(p, &s);
    sdk_log(p->source,
            "projection %s: rebuild of generation %d: %lld/%lld events (%.0f%%),"
            " %.0f events/s",
            p->name, s.building, (long long)s.rebuild_done, (long long)s.rebuild_total,
            s.rebuild_total ? 100.0 * (double)s.rebuild_done / (double)s.rebuild_total : 100.0,
            s.rebuild_rate);
}

/* One round: a rebuild request, new partitions, a batch of each lane, the switch. */
static int step(eddy_projection *p, int wait_ms)
{
    if (atomic_exchange(&p->rebuild_req, 0) && !p->building) start_rebuild(p);
    lane_refresh(p, &p->live, 0);
    if (p->building) lane_refresh(p, &p->build, 0);
    int a = lane_batch(p, &p->live, p->building ? 0 : wait_ms);
    int b = 0;
    if (p->building) {
        b = lane_batch(p, &p->build, a > 0 ? 0 : wait_ms);
        update_stat(p);
        progress_log(p);
        maybe_switch(p);
    }
    update_stat(p);
    if (a < 0 || b < 0) return a < 0 ? a : b;
    return a + b;
}

int eddy_projection_run_once(eddy_projection *p, int timeout_ms)
{
    if (!p->opened || p->running) return sdk_es_fail(EDDY_ERR_PERMANENT, "projection busy");
    int64_t deadline = sdk_mono_us() + (int64_t)timeout_ms * 1000;
    int total = 0;
    lane_refresh(p, &p->live, 1);
    for (;;) {
        int n = step(p, 100);
        if (n > 0) total += n;
        if (n < 0) sdk_sleep_ms(100);
        if (n == 0 && !p->building && !atomic_load(&p->rebuild_req) &&
            lane_lag(p, &p->live, 1) == 0)
            break;
        if (sdk_mono_us() >= deadline) break;
    }
    return total;
}

static void *proj_main(void *arg)
{
    eddy_projection *p = arg;
    while (!atomic_load(&p->stop)) {
        if (step(p, 200) < 0) sdk_sleep_ms(200);
    }
    return NULL;
}

int eddy_projection_start(eddy_projection *p)
{
    if (p->running) return 0;
    if (!p->opened) return sdk_es_fail(EDDY_ERR_PERMANENT, "projection not opened");
    atomic_store(&p->stop, 0);
    if (pthread_create(&p->th, NULL, proj_main, p)) return EDDY_ERR_IO;
    p->running = 1;
    return 0;
}

void eddy_projection_stop(eddy_projection *p)
{
    if (!p || !p->running) return;
    atomic_store(&p->stop, 1);
    pthread_join(p->th, NULL);
    p->running = 0;
}

void eddy_projection_free(eddy_projection *p)
{
    if (!p) return;
    eddy_projection_stop(p);
    sdk_detach(&g_attached, p);
    lane_close(&p->live);
    lane_close(&p->build);
    eddy_store_close(p->st);
    for (int i = 0; i < p->ntopics; i++) free(p->topics[i]);
    free(p->topics);
    free(p->name);
    free(p->url);
    free(p->bootstrap);
    free(p->source);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int eddy_projection_rebuild(eddy_projection *p)
{
    pthread_mutex_lock(&p->mu);
    int busy = p->stat.building != 0 || atomic_load(&p->rebuild_req);
    pthread_mutex_unlock(&p->mu);
    if (busy)
        return sdk_es_fail(EDDY_ERR_CONFLICT, "projection %s: a rebuild is already running",
                           p->name);
    atomic_store(&p->rebuild_req, 1);
    return 0;
}

void eddy_projection_get_status(eddy_projection *p, eddy_projection_status *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->stat;
    pthread_mutex_unlock(&p->mu);
    out->generation = atomic_load(&p->active_gen);
}

char *eddy_projection_status_json(eddy_projection *p)
{
    eddy_projection_status s;
    eddy_projection_get_status(p, &s);
    json_t *o =
        json_pack("{s:s,s:i,s:s,s:I,s:I,s:I,s:f,s:i}", "name", p->name, "generation", s.generation,
                  "state", s.building || atomic_load(&p->rebuild_req) ? "rebuilding" : "live",
                  "events", (json_int_t)s.events, "skipped", (json_int_t)s.skipped, "lagEvents",
                  (json_int_t)s.lag_events, "lagSeconds", s.lag_seconds, "rebuilds", s.rebuilds);
    json_t *topics = json_array();
    for (int i = 0; i < p->ntopics; i++) json_array_append_new(topics, json_string(p->topics[i]));
    json_object_set_new(o, "topics", topics);
    if (s.building || s.rebuilds)
        json_object_set_new(o, "rebuild",
                            json_pack("{s:i,s:I,s:I,s:f}", "generation",
                                      s.building ? s.building : s.generation, "done",
                                      (json_int_t)s.rebuild_done, "total",
                                      (json_int_t)s.rebuild_total, "rate", s.rebuild_rate));
    char *txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return txt;
}

/* ---- inside a service --------------------------------------------------------------------- */
static int comp_start(eddy_service *svc, void *arg)
{
    eddy_projection *p = arg;
    int rc = proj_open(p, sdk_service_store_url(svc), sdk_service_bootstrap(svc),
                       eddy_service_name(svc));
    if (rc < 0) {
        sdk_log(eddy_service_name(svc), "%s", eddy_es_error());
        return rc;
    }
    return eddy_projection_start(p);
}

static void comp_stop(void *arg)
{
    eddy_projection_stop(arg);
}

static void comp_destroy(void *arg)
{
    eddy_projection_free(arg);
}

static char *comp_metrics(void *arg)
{
    eddy_projection *p = arg;
    eddy_projection_status s;
    eddy_projection_get_status(p, &s);
    const char *svc = p->source ? p->source : p->name;
    return sdk_xasprintf(
        "# HELP eddy_projection_lag_events events on the source topics the projection has not applied\n# TYPE eddy_projection_lag_events gauge\n"
        "eddy_projection_lag_events{service=\"%s\",projection=\"%s\"} %lld\n"
        "# HELP eddy_projection_lag_seconds age of the oldest event the projection has not applied\n# TYPE eddy_projection_lag_seconds gauge\n"
        "eddy_projection_lag_seconds{service=\"%s\",projection=\"%s\"} %.3f\n"
        "# HELP eddy_projection_events_total events applied to the read model\n# TYPE eddy_projection_events_total counter\n"
        "eddy_projection_events_total{service=\"%s\",projection=\"%s\"} %lld\n"
        "# HELP eddy_projection_skipped_total events the projection skipped (not its types, or already applied)\n# TYPE eddy_projection_skipped_total counter\n"
        "eddy_projection_skipped_total{service=\"%s\",projection=\"%s\"} %lld\n"
        "# HELP eddy_projection_generation read-model generation being served\n# TYPE eddy_projection_generation gauge\n"
        "eddy_projection_generation{service=\"%s\",projection=\"%s\"} %d\n"
        "# HELP eddy_projection_rebuilding 1 while a rebuild into a new generation runs\n# TYPE eddy_projection_rebuilding gauge\n"
        "eddy_projection_rebuilding{service=\"%s\",projection=\"%s\"} %d\n"
        "# HELP eddy_projection_rebuild_done events replayed by the running rebuild\n# TYPE eddy_projection_rebuild_done gauge\n"
        "eddy_projection_rebuild_done{service=\"%s\",projection=\"%s\"} %lld\n"
        "# HELP eddy_projection_rebuild_events events the running rebuild has to replay\n# TYPE eddy_projection_rebuild_events gauge\n"
        "eddy_projection_rebuild_events{service=\"%s\",projection=\"%s\"} %lld\n"
        "# HELP eddy_projection_rebuild_rate events per second of the running rebuild\n# TYPE eddy_projection_rebuild_rate gauge\n"
        "eddy_projection_rebuild_rate{service=\"%s\",projection=\"%s\"} %.1f\n",
        svc, p->name, (long long)s.lag_events, svc, p->name, s.lag_seconds, svc, p->name,
        (long long)s.events, svc, p->name, (long long)s.skipped, svc, p->name, s.generation, svc,
        p->name, s.building ? 1 : 0, svc, p->name, (long long)s.rebuild_done, svc, p->name,
        (long long)s.rebuild_total, svc, p->name, s.rebuild_rate);
}

static char *route_get(eddy_service *svc, const eddy_http_req *req, int *status, void *arg)
{
    (void)arg;
    const char *rest = req->path + strlen("/projections");
    if (*rest == '/') rest++;
    pthread_mutex_lock(&g_attached.mu);
    if (!*rest) {
        json_t *a = json_array();
        for (sdk_attached_item *it = g_attached.head; it; it = it->next) {
            if (it->svc != svc) continue;
            char *t = eddy_projection_status_json(it->obj);
            json_array_append_new(a, json_loads(t, 0, NULL));
            free(t);
        }
        pthread_mutex_unlock(&g_attached.mu);
        char *out = json_dumps(a, JSON_COMPACT);
        json_decref(a);
        return out;
    }
    eddy_projection *p = sdk_attached_find(&g_attached, svc, rest, strlen(rest));
    char *t = p ? eddy_projection_status_json(p) : NULL;
    pthread_mutex_unlock(&g_attached.mu);
    return t ? t : eddy_http_error(status, 404, "no projection %.100s", rest);
}

static char *route_post(eddy_service *svc, const eddy_http_req *req, int *status, void *arg)
{
    (void)arg;
    const char *rest = req->path + strlen("/projections");
    if (*rest == '/') rest++;
    size_t n = strcspn(rest, "/");
    if (!n || strcmp(rest + n, "/rebuild"))
        return eddy_http_error(status, 404,
                               "no route for POST %s (POST /projections/{name}"
                               "/rebuild)",
                               req->path);
    pthread_mutex_lock(&g_attached.mu);
    eddy_projection *p = sdk_attached_find(&g_attached, svc, rest, n);
    int rc = p ? eddy_projection_rebuild(p) : 0;
    pthread_mutex_unlock(&g_attached.mu);
    if (p && rc == EDDY_ERR_CONFLICT) return eddy_http_error(status, 409, "%s", eddy_es_error());
    if (p) {
        *status = 202;
        return sdk_xasprintf("{\"projection\":\"%s\",\"rebuild\":\"started\"}", p->name);
    }
    return eddy_http_error(status, 404, "no projection %.*s", (int)(n > 100 ? 100 : n), rest);
}

int eddy_projection_attach(eddy_service *svc, const eddy_projection_def *def, eddy_projection **out)
{
    eddy_projection *p;
    int rc = proj_init(def, &p);
    if (rc < 0) return rc;
    p->svc = svc;
    sdk_component c = {comp_start, comp_stop, comp_destroy, comp_metrics, p};
    if ((rc = sdk_attach(&g_attached, svc, p->name, &c, route_get, route_post)) < 0) {
        eddy_projection_free(p);
        return rc;
    }
    if (out) *out = p;
    return 0;
}
