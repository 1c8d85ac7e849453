/* api — the console's JSON admin API (docs/admin-api.md): routing under /api/v1/, the
 * overview with its throughput sampler (a ring per topic: one sample of the topic's produce
 * counters every 10 s, one hour kept), topics (list, detail, create, delete with confirm,
 * one config), consumer groups (list, detail with lag in messages and seconds as /metrics
 * counts them, offset reset with preview), and the page's embedded assets at /. Messages,
 * trace and dead letters read the log: browse.c. Loop thread only. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "console_int.h"
#include "group/group.h"
#include "storage/batch.h"
#include "storage/plog.h"

#define SAMPLE_MS 10000
#define RATE_SLOTS 361 /* one hour of 10 s samples, and the one before it */

typedef struct rsample {
    int64_t t_ms;
    uint64_t records, bytes;
} rsample;

typedef struct trate {
    char *name;
    rsample ring[RATE_SLOTS];
    int head, n; /* head: the next slot to write */
    uint64_t gen;
} trate;

/* A reset waiting for its __consumer_offsets records to be fsynced. */
typedef struct cwait {
    http_pending *hp;
    plog *log;
    int64_t target;
    char *body;
    struct cwait *next;
} cwait;

struct console {
    broker *b;
    char *version;
    loop_timer *timer;
    trate *rates; /* per topic: records and bytes produced */
    int nrates;
    trate *glags; /* per group: total lag (records) and max lag seconds x 1000 (bytes) */
    int nglags;
    uint64_t gen;
    cwait *waits;
};

static console *g_console; /* the flush hook has no argument: one console per process */

/* ---------------------------------------------------------------- throughput ---- */

static trate *ring_of(trate **v, int *n, const char *name, bool create)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp((*v)[i].name, name)) return &(*v)[i];
    if (!create) return NULL;
    *v = xrealloc(*v, sizeof **v * (size_t)(*n + 1));
    trate *r = &(*v)[(*n)++];
    memset(r, 0, sizeof *r);
    r->name = xstrdup(name);
    return r;
}

static trate *rate_of(console *c, const char *name, bool create)
{
    return ring_of(&c->rates, &c->nrates, name, create);
}

static void ring_push(trate *r, int64_t t, uint64_t a, uint64_t b, uint64_t gen)
{
    r->ring[r->head] = (rsample){t, a, b};
    r->head = (r->head + 1) % RATE_SLOTS;
    if (r->n < RATE_SLOTS) r->n++;
    r->gen = gen;
}

/* Drops the rings of what the last sample did not see (deleted topics, expired groups). */
static void ring_purge(trate *v, int *n, uint64_t gen)
{
    for (int i = 0; i < *n;) {
        if (v[i].gen != gen) {
            free(v[i].name);
            v[i] = v[--*n];
        } else {
            i++;
        }
    }
}

typedef struct gids {
    char **v;
    int n;
} gids;

static json_t *group_json(broker *b, const char *gid, bool detail);
static void collect_gid(void *arg, const group_view *g);

static void topic_counters(const btopic *t, uint64_t *records, uint64_t *bytes)
{
    *records = *bytes = 0;
    for (int j = 0; j < t->nparts; j++) {
        *records += t->parts[j]->records_in;
        *bytes += t->parts[j]->bytes_in;
    }
}

static void sample(console *c)
{
    broker *b = c->b;
    int64_t now = now_wall_ms();
    c->gen++;
    for (int i = 0; i < topic_count(b); i++) {
        btopic *t = topic_at(b, i);
        if (!t || t->internal) continue;
        uint64_t rec, by;
        topic_counters(t, &rec, &by);
        ring_push(rate_of(c, t->name, true), now, rec, by, c->gen);
    }
    ring_purge(c->rates, &c->nrates, c->gen);
    /* every group's total lag, for its lag chart */
    gids ids = {NULL, 0};
    group_foreach_group(b, collect_gid, &ids);
    for (int i = 0; i < ids.n; i++) {
        json_t *g = group_json(b, ids.v[i], false);
        if (g) {
            double secs = json_real_value(json_object_get(g, "max_lag_seconds"));
            ring_push(ring_of(&c->glags, &c->nglags, ids.v[i], true), now,
                      (uint64_t)json_integer_value(json_object_get(g, "total_lag")),
                      (uint64_t)(secs * 1000.0), c->gen);
            json_decref(g);
        }
        free(ids.v[i]);
    }
    free(ids.v);
    ring_purge(c->glags, &c->nglags, c->gen);
}

/* [[t_ms, total lag, max lag seconds], ...] oldest first: a group's samples */
static json_t *lag_series(console *c, const char *gid)
{
    json_t *a = json_array();
    trate *r = ring_of(&c->glags, &c->nglags, gid, false);
    for (int k = 0; r && k < r->n; k++) {
        const rsample *s = &r->ring[(r->head - r->n + k + RATE_SLOTS) % RATE_SLOTS];
        json_array_append_new(a, json_pack("[I,I,f]", (json_int_t)s->t_ms, (json_int_t)s->records,
                                           (double)s->bytes / 1000.0));
    }
    return a;
}

static void on_sample(loop *l, void *arg)
{
    console *c = arg;
    sample(c);
    c->timer = loop_timer_add(l, SAMPLE_MS, on_sample, c);
}

static double per_sec(uint64_t a, uint64_t b, int64_t dt_ms)
{
    if (dt_ms <= 0 || b < a) return 0; /* counters restart with a recreated topic */
    return (double)(b - a) * 1000.0 / (double)dt_ms;
}

/* [[t_ms, records per s, bytes per s], ...] oldest first, the last point from the newest sample to
 * now (so a fresh broker shows its first rate at once). rps and bps: the newest rate. */
static json_t *rate_series(const trate *r, const btopic *t, int64_t now, double *rps, double *bps)
{
    json_t *a = json_array();
    *rps = *bps = 0;
    const rsample *prev = NULL;
    for (int k = 0; r && k < r->n; k++) {
        const rsample *s = &r->ring[(r->head - r->n + k + RATE_SLOTS) % RATE_SLOTS];
        if (prev) {
            *rps = per_sec(prev->records, s->records, s->t_ms - prev->t_ms);
            *bps = per_sec(prev->bytes, s->bytes, s->t_ms - prev->t_ms);
            json_array_append_new(a, json_pack("[I,f,f]", (json_int_t)s->t_ms, *rps, *bps));
        }
        prev = s;
    }
    if (prev && now - prev->t_ms >= 1000) {
        uint64_t rec, by;
        topic_counters(t, &rec, &by);
        *rps = per_sec(prev->records, rec, now - prev->t_ms);
        *bps = per_sec(prev->bytes, by, now - prev->t_ms);
        json_array_append_new(a, json_pack("[I,f,f]", (json_int_t)now, *rps, *bps));
    }
    return a;
}

/* ---------------------------------------------------------------- topics ---- */

static void topic_sizes(const btopic *t, int64_t *bytes, int64_t *messages)
{
    *bytes = *messages = 0;
    for (int j = 0; j < t->nparts; j++) {
        bpart *p = t->parts[j];
        if (!p->log) continue;
        *bytes += plog_size_bytes(p->log);
        *messages += part_hwm(p) - plog_start_offset(p->log);
    }
}

static const char *cleanup_name(int32_t policy)
{
    bool del = policy & PLOG_CLEANUP_DELETE, comp = policy & PLOG_CLEANUP_COMPACT;
    return del && comp ? "compact,delete" : comp ? "compact" : "delete";
}

static json_t *topic_summary(const btopic *t)
{
    int64_t bytes, msgs;
    topic_sizes(t, &bytes, &msgs);
    return json_pack("{s:s,s:i,s:I,s:I,s:b,s:s,s:I}", "name", t->name, "partitions", (int)t->nparts,
                     "size_bytes", (json_int_t)bytes, "messages", (json_int_t)msgs, "internal",
                     t->internal, "cleanup_policy", cleanup_name(t->cfg.log.cleanup_policy),
                     "retention_ms", (json_int_t)t->cfg.log.retention_ms);
}

static json_t *topic_detail(const btopic *t)
{
    json_t *o = topic_summary(t);
    char id[40];
    for (int i = 0; i < 16; i++) snprintf(id + 2 * i, 3, "%02x", t->id[i]);
    json_object_set_new(o, "topic_id", json_string(id));
    json_t *parts = json_array();
    for (int j = 0; j < t->nparts; j++) {
        bpart *p = t->parts[j];
        int64_t start = p->log ? plog_start_offset(p->log) : 0, end = part_hwm(p);
        json_array_append_new(parts, json_pack("{s:i,s:I,s:I,s:I,s:I,s:i,s:I,s:I}", "partition", j,
                                               "start_offset", (json_int_t)start, "end_offset",
                                               (json_int_t)end, "messages",
                                               (json_int_t)(end - start), "size_bytes",
                                               (json_int_t)(p->log ? plog_size_bytes(p->log) : 0),
                                               "leader", 0, "records_in", (json_int_t)p->records_in,
                                               "bytes_in", (json_int_t)p->bytes_in));
    }
    json_object_set_new(o, "partitions_detail", parts);
    const topic_config *c = &t->cfg;
    json_t *cfg = json_pack(
        "{s:I,s:I,s:I,s:I,s:s,s:I,s:i,s:s}", "retention.ms", (json_int_t)c->log.retention_ms,
        "retention.bytes", (json_int_t)c->log.retention_bytes, "segment.bytes",
        (json_int_t)c->log.segment_bytes, "segment.ms", (json_int_t)c->log.segment_ms,
        "cleanup.policy", cleanup_name(c->log.cleanup_policy), "delete.retention.ms",
        (json_int_t)c->log.delete_retention_ms, "max.message.bytes", (int)c->max_message_bytes,
        "message.timestamp.type", c->log_append_time ? "LogAppendTime" : "CreateTime");
    json_object_set_new(o, "configs", cfg);
    json_t *ov = json_object();
    for (const char *s = c->overrides; s && *s;) {
        size_t n = strcspn(s, "\n");
        const char *eq = memchr(s, '=', n);
        if (eq) {
            char *k = xstrndup(s, (size_t)(eq - s)),
                 *v = xstrndup(eq + 1, n - (size_t)(eq - s) - 1);
            json_object_set_new(ov, k, json_string(v));
            free(k);
            free(v);
        }
        s += n;
        if (*s) s++;
    }
    json_object_set_new(o, "overrides", ov);
    return o;
}

static void topics_list(broker *b, const http_request *req, http_response *resp)
{
    const char *all = http_query(req, "internal");
    bool internal = all && !strcmp(all, "true");
    json_t *a = json_array();
    for (int i = 0; i < topic_count(b); i++) {
        btopic *t = topic_at(b, i);
        if (t && (internal || !t->internal)) json_array_append_new(a, topic_summary(t));
    }
    con_json(resp, 200, json_pack("{s:o}", "topics", a));
}

static json_t *parse_body(const http_request *req, http_response *resp)
{
    json_error_t je;
    json_t *o = json_loadb(req->body, req->body_len, 0, &je);
    if (!o) {
        con_error(resp, 40001, "malformed JSON body: %s (line %d)", je.text, je.line);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        con_error(resp, 40001, "the body must be a JSON object");
        return NULL;
    }
    return o;
}

static void topic_create_api(broker *b, const http_request *req, http_response *resp)
{
    json_t *o = parse_body(req, resp);
    if (!o) return;
    json_t *jn = json_object_get(o, "name"), *jp = json_object_get(o, "partitions"),
           *jc = json_object_get(o, "configs");
    const char *name = json_string_value(jn);
    int64_t np = jp ? json_integer_value(jp) : b->cfg.num_partitions;
    char *ov = xstrdup("");
    if (!name || !*name) {
        con_error(resp, 42201, "\"name\" (a string) is required");
        goto out;
    }
    if (!topic_name_valid(name, strlen(name))) {
        con_error(resp, 42201,
                  "invalid topic name \"%s\": 1 to 249 of [a-zA-Z0-9._-], not \".\" or \"..\"",
                  name);
        goto out;
    }
    if (jp && (!json_is_integer(jp) || np < 1 || np > 100000)) {
        con_error(resp, 42202, "\"partitions\" must be an integer >= 1");
        goto out;
    }
    if (jc && !json_is_object(jc)) {
        con_error(resp, 42203, "\"configs\" must be an object of strings");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(jc, k, v)
    {
        const char *s = json_string_value(v);
        if (!s || has_ctl_chars(k, strlen(k)) || has_ctl_chars(s, strlen(s)) || strchr(k, '=')) {
            con_error(resp, 42203,
                      "config \"%s\": the value must be a string without control "
                      "characters",
                      k);
            goto out;
        }
        char *n = xasprintf("%s%s=%s\n", ov, k, s);
        free(ov);
        ov = n;
    }
    if (topic_find(b, name)) {
        con_error(resp, 40901, "topic \"%s\" already exists", name);
        goto out;
    }
    btopic *t = NULL;
    int rc = topic_create(b, name, (int32_t)np, ov, false, &t);
    if (rc == KERR_INVALID_CONFIG)
        con_error(resp, 42203, "invalid topic config (see eddyd's log; names as in Kafka)");
    else if (rc == KERR_INVALID_PARTITIONS)
        con_error(resp, 42202, "invalid partition count %" PRId64, np);
    else if (rc == KERR_INVALID_TOPIC_EXCEPTION)
        con_error(resp, 42201, "invalid topic name \"%s\"", name);
    else if (rc == KERR_TOPIC_ALREADY_EXISTS)
        con_error(resp, 40901, "topic \"%s\" already exists", name);
    else if (rc || !t)
        con_error(resp, 50001, "cannot create topic \"%s\": Kafka error %d", name, rc);
    else {
        LOGI("console", "created topic %s (%d partitions) through the admin API", name, (int)np);
        con_json(resp, 201, topic_detail(t));
    }
out:
    free(ov);
    json_decref(o);
}

static void topic_delete_api(broker *b, btopic *t, const http_request *req, http_response *resp)
{
    const char *confirm = http_query(req, "confirm");
    if (!confirm || strcmp(confirm, t->name)) {
        con_error(resp, 40003,
                  "deleting topic \"%s\" needs ?confirm=%s (the topic's name): nothing deleted",
                  t->name, t->name);
        return;
    }
    if (t->internal) {
        con_error(resp, 40301, "internal topic \"%s\" cannot be deleted", t->name);
        return;
    }
    char *name = xstrdup(t->name);
    int rc = topic_delete(b, t);
    if (rc)
        con_error(resp, 50001, "cannot delete topic \"%s\": Kafka error %d", name, rc);
    else {
        LOGI("console", "deleted topic %s through the admin API", name);
        con_json(resp, 200, json_pack("{s:s}", "deleted", name));
    }
    free(name);
}

static void topic_config_api(broker *b, btopic *t, const http_request *req, http_response *resp)
{
    json_t *o = parse_body(req, resp);
    if (!o) return;
    const char *k = json_string_value(json_object_get(o, "name"));
    const char *v = json_string_value(json_object_get(o, "value"));
    if (!k || !v) {
        con_error(resp, 42203, "the body is {\"name\": CONFIG, \"value\": STRING}");
    } else if (has_ctl_chars(k, strlen(k)) || has_ctl_chars(v, strlen(v))) {
        con_error(resp, 42203, "config names and values cannot hold control characters");
    } else {
        int rc = topic_set_config(b, t, k, v);
        if (rc)
            con_error(resp, 42203, "config %s=%s refused (Kafka error %d): nothing changed", k, v,
                      rc);
        else
            con_json(resp, 200, topic_detail(t));
    }
    json_decref(o);
}

/* ---------------------------------------------------------------- groups ---- */

/* Lag of a committed offset as /metrics counts it (metrics.c): messages to the high watermark,
 * and the age of the batch at the committed offset when there is lag. */
static void lag_fields(broker *b, json_t *o, const char *topic, int32_t part, int64_t committed,
                       int64_t now, int64_t *lag_out, double *secs_out)
{
    btopic *t = topic_find(b, topic);
    int64_t lag = 0, start = -1, end = -1;
    double age = 0;
    if (t && part >= 0 && part < t->nparts) {
        bpart *p = t->parts[part];
        end = part_hwm(p);
        start = p->log ? plog_start_offset(p->log) : 0;
        lag = committed >= 0 ? MAX(end - committed, 0) : 0;
        int64_t ts = 0;
        if (lag > 0 && p->log && plog_timestamp_at(p->log, committed, &ts) == 0 && ts > 0)
            age = (double)MAX(now - ts, 0) / 1000.0;
    }
    json_object_set_new(o, "log_start_offset", json_integer(start));
    json_object_set_new(o, "log_end_offset", json_integer(end));
    json_object_set_new(o, "lag", json_integer(lag));
    json_object_set_new(o, "lag_seconds", json_real(age));
    if (lag_out) *lag_out = lag;
    if (secs_out) *secs_out = age;
}

typedef struct gdesc {
    broker *b;
    json_t *o, *members, *offsets;
    int64_t now, total_lag;
    double max_secs;
} gdesc;

static void gd_group(void *arg, const group_view *g)
{
    gdesc *d = arg;
    json_object_set_new(d->o, "group_id", json_string(g->id));
    json_object_set_new(d->o, "state", json_string(g->state));
    json_object_set_new(d->o, "protocol_type", json_string(g->protocol_type));
    json_object_set_new(d->o, "protocol", json_string(g->protocol));
    json_object_set_new(d->o, "generation", json_integer(g->generation));
    json_object_set_new(d->o, "leader", json_string(g->leader));
    json_object_set_new(d->o, "member_count", json_integer(g->nmembers));
    json_object_set_new(d->o, "state_since_ms", json_integer(g->state_ts));
}

/* ConsumerProtocolAssignment: version int16, [topic string, [partition int32]], user data */
static json_t *decode_assignment(const uint8_t *p, int32_t len)
{
    json_t *a = json_array();
    if (!p || len < 6) return a;
    rbuf r = rbuf_make(p, (size_t)len);
    (void)rbuf_i16(&r);
    int32_t nt = rbuf_i32(&r);
    for (int32_t i = 0; i < nt && !r.err && (size_t)nt <= rbuf_left(&r); i++) {
        int16_t n = rbuf_i16(&r);
        const uint8_t *s = n > 0 ? rbuf_take(&r, (size_t)n) : NULL;
        int32_t np = rbuf_i32(&r);
        if (r.err || np < 0 || (size_t)np > rbuf_left(&r) / 4) break;
        json_t *parts = json_array();
        for (int32_t j = 0; j < np; j++) json_array_append_new(parts, json_integer(rbuf_i32(&r)));
        char *name = s ? xstrndup((const char *)s, (size_t)n) : xstrdup("");
        json_array_append_new(a, json_pack("{s:s,s:o}", "topic", name, "partitions", parts));
        free(name);
    }
    return a;
}

static void gd_member(void *arg, const group_member_view *m)
{
    gdesc *d = arg;
    json_t *o = json_pack("{s:s,s:s,s:s}", "member_id", m->id ? m->id : "", "client_id",
                          m->client_id ? m->client_id : "", "client_host",
                          m->client_host ? m->client_host : "");
    json_object_set_new(o, "group_instance_id",
                        m->instance_id ? json_string(m->instance_id) : json_null());
    json_object_set_new(o, "assignments", decode_assignment(m->assignment, m->assignment_len));
    json_array_append_new(d->members, o);
}

static void gd_offset(void *arg, const group_offset_view *ov)
{
    gdesc *d = arg;
    json_t *o = json_pack("{s:s,s:i,s:I,s:I}", "topic", ov->topic, "partition", (int)ov->partition,
                          "committed_offset", (json_int_t)ov->offset, "commit_time_ms",
                          (json_int_t)ov->commit_ts);
    int64_t lag;
    double secs;
    lag_fields(d->b, o, ov->topic, ov->partition, ov->offset, d->now, &lag, &secs);
    d->total_lag += lag;
    if (secs > d->max_secs) d->max_secs = secs;
    json_array_append_new(d->offsets, o);
}

/* The group's object, or NULL when there is no such group. */
static json_t *group_json(broker *b, const char *gid, bool detail)
{
    gdesc d = {b, json_object(), json_array(), json_array(), now_wall_ms(), 0, 0};
    if (group_describe(b, gid, gd_group, gd_member, gd_offset, &d) < 0) {
        json_decref(d.o);
        json_decref(d.members);
        json_decref(d.offsets);
        return NULL;
    }
    json_object_set_new(d.o, "total_lag", json_integer(d.total_lag));
    json_object_set_new(d.o, "max_lag_seconds", json_real(d.max_secs));
    if (detail) {
        json_object_set_new(d.o, "members", d.members);
        json_object_set_new(d.o, "offsets", d.offsets);
    } else {
        json_object_set_new(d.o, "partitions",
                            json_integer((json_int_t)json_array_size(d.offsets)));
        json_decref(d.members);
        json_decref(d.offsets);
    }
    return d.o;
}

static void collect_gid(void *arg, const group_view *g)
{
    gids *x = arg;
    x->v = xrealloc(x->v, sizeof *x->v * (size_t)(x->n + 1));
    x->v[x->n++] = xstrdup(g->id);
}

static void groups_list(broker *b, http_response *resp)
{
    gids x = {NULL, 0};
    group_foreach_group(b, collect_gid, &x);
    json_t *a = json_array();
    for (int i = 0; i < x.n; i++) {
        json_t *g = group_json(b, x.v[i], false);
        if (g) json_array_append_new(a, g);
        free(x.v[i]);
    }
    free(x.v);
    con_json(resp, 200, json_pack("{s:o}", "groups", a));
}

typedef struct rtarget {
    char *topic;
    int32_t partition;
    int64_t current; /* -1: none committed */
} rtarget;

typedef struct rcollect {
    rtarget *v;
    int n;
    const char *topic; /* only this topic (NULL: every committed one) */
} rcollect;

static void add_target(rcollect *c, const char *topic, int32_t part, int64_t cur)
{
    for (int i = 0; i < c->n; i++)
        if (c->v[i].partition == part && !strcmp(c->v[i].topic, topic)) {
            c->v[i].current = cur;
            return;
        }
    c->v = xrealloc(c->v, sizeof *c->v * (size_t)(c->n + 1));
    c->v[c->n++] = (rtarget){xstrdup(topic), part, cur};
}

static void rc_offset(void *arg, const group_offset_view *o)
{
    rcollect *c = arg;
    if (!c->topic || !strcmp(c->topic, o->topic)) add_target(c, o->topic, o->partition, o->offset);
}

static void reply_durable(console *c, http_pending *hp, plog *log, int64_t end, json_t *o);

static void group_reset(console *c, const char *gid, const http_request *req, http_response *resp)
{
    broker *b = c->b;
    json_t *o = parse_body(req, resp);
    if (!o) return;
    rcollect rc = {NULL, 0, NULL};
    group_offset_view *ov = NULL;
    const char *to = json_string_value(json_object_get(o, "to"));
    json_t *jts = json_object_get(o, "timestamp"), *joff = json_object_get(o, "offset"),
           *jparts = json_object_get(o, "partitions"), *jprev = json_object_get(o, "preview");
    const char *topic = json_string_value(json_object_get(o, "topic"));
    bool preview = json_is_true(jprev);
    if (json_object_get(o, "topic") && !topic) {
        con_error(resp, 42204, "\"topic\" must be a string");
        goto out;
    }
    if (jprev && !json_is_boolean(jprev)) {
        con_error(resp, 42204, "\"preview\" must be true or false");
        goto out;
    }
    enum { R_EARLIEST, R_LATEST, R_TIME, R_OFFSET } kind;
    if (!to) {
        con_error(resp, 42204, "\"to\" is required: earliest, latest, timestamp or offset");
        goto out;
    } else if (!strcmp(to, "earliest"))
        kind = R_EARLIEST;
    else if (!strcmp(to, "latest"))
        kind = R_LATEST;
    else if (!strcmp(to, "timestamp"))
        kind = R_TIME;
    else if (!strcmp(to, "offset"))
        kind = R_OFFSET;
    else {
        con_error(resp, 42204, "\"to\": \"%s\" is not earliest, latest, timestamp or offset", to);
        goto out;
    }
    if (kind == R_TIME && (!json_is_integer(jts) || json_integer_value(jts) < 0)) {
        con_error(resp, 42204, "\"to\": \"timestamp\" needs \"timestamp\": ms since the epoch");
        goto out;
    }
    if (kind == R_OFFSET && (!json_is_integer(joff) || json_integer_value(joff) < 0)) {
        con_error(resp, 42204, "\"to\": \"offset\" needs \"offset\": an integer >= 0");
        goto out;
    }
    if (jparts && (!json_is_array(jparts) || !topic)) {
        con_error(resp, 42204, "\"partitions\" is an array of integers and needs \"topic\"");
        goto out;
    }
    btopic *t = topic ? topic_find(b, topic) : NULL;
    if (topic && (!t || t->internal)) {
        con_error(resp, 40401, "unknown topic \"%s\": nothing changed", topic);
        goto out;
    }
    rc.topic = topic;
    bool exists = group_describe(b, gid, NULL, NULL, rc_offset, &rc) == 0;
    if (!exists && !topic) {
        con_error(resp, 40402, "unknown group \"%s\" (name a topic to give it offsets)", gid);
        goto out;
    }
    if (topic) {
        /* the named partitions (or all of the topic), with what is committed now */
        rcollect all = rc;
        rc = (rcollect){NULL, 0, topic};
        size_t i;
        json_t *jp;
        if (jparts) {
            json_array_foreach(jparts, i, jp)
            {
                json_int_t p = json_integer_value(jp);
                if (!json_is_integer(jp) || p < 0 || p >= t->nparts) {
                    con_error(resp, 40401, "topic \"%s\" has no partition %s: nothing changed",
                              topic, json_is_integer(jp) ? "so numbered" : "(not an integer)");
                    for (int k = 0; k < all.n; k++) free(all.v[k].topic);
                    free(all.v);
                    goto out;
                }
                add_target(&rc, topic, (int32_t)p, -1);
            }
        } else {
            for (int32_t p = 0; p < t->nparts; p++) add_target(&rc, topic, p, -1);
        }
        for (int k = 0; k < all.n; k++) {
            for (int m = 0; m < rc.n; m++)
                if (rc.v[m].partition == all.v[k].partition) rc.v[m].current = all.v[k].current;
            free(all.v[k].topic);
        }
        free(all.v);
    }
    if (rc.n == 0) {
        con_error(resp, 42204, "group \"%s\" has no committed offsets: name a \"topic\"", gid);
        goto out;
    }
    json_t *gj = group_json(b, gid, false);
    bool is_active = gj && json_integer_value(json_object_get(gj, "member_count")) > 0;
    if (gj && strcmp(json_string_value(json_object_get(gj, "state")), "Empty")) is_active = true;
    json_decref(gj);
    if (!preview && is_active) {
        con_error(resp, 40901,
                  "group \"%s\" has active members: stop its consumers first (their next commit "
                  "would undo the reset); nothing changed",
                  gid);
        goto out;
    }
    json_t *changes = json_array();
    ov = xcalloc((size_t)rc.n, sizeof *ov);
    for (int i = 0; i < rc.n; i++) {
        btopic *tt = topic_find(b, rc.v[i].topic);
        if (!tt || rc.v[i].partition >= tt->nparts) { /* a deleted topic's old offsets */
            ov[i] = (group_offset_view){rc.v[i].topic, rc.v[i].partition, -1, 0};
            continue;
        }
        bpart *p = tt->parts[rc.v[i].partition];
        int64_t start = p->log ? plog_start_offset(p->log) : 0, end = part_hwm(p), nw = end;
        switch (kind) {
        case R_EARLIEST: nw = start; break;
        case R_LATEST: nw = end; break;
        case R_TIME: nw = con_offset_for_time(p, json_integer_value(jts)); break;
        case R_OFFSET: nw = MAX(start, MIN(end, json_integer_value(joff))); break;
        }
        ov[i] = (group_offset_view){rc.v[i].topic, rc.v[i].partition, nw, 0};
        json_array_append_new(changes,
                              json_pack("{s:s,s:i,s:I,s:I,s:I,s:I,s:I}", "topic", rc.v[i].topic,
                                        "partition", (int)rc.v[i].partition, "current_offset",
                                        (json_int_t)rc.v[i].current, "new_offset", (json_int_t)nw,
                                        "log_start_offset", (json_int_t)start, "log_end_offset",
                                        (json_int_t)end, "lag_after", (json_int_t)(end - nw)));
    }
    /* offsets of deleted topics are left as they are */
    int n = 0;
    for (int i = 0; i < rc.n; i++)
        if (ov[i].offset >= 0) ov[n++] = ov[i];
    json_t *ans = json_pack("{s:s,s:s,s:b,s:b,s:b,s:o}", "group_id", gid, "to", to, "preview",
                            preview, "applied", !preview, "active", is_active, "changes", changes);
    if (preview) {
        con_json(resp, 200, ans);
        goto out;
    }
    plog *log;
    int64_t end;
    int err = group_admin_commit(b, gid, n, ov, &log, &end);
    if (err == KERR_NON_EMPTY_GROUP) {
        json_decref(ans);
        con_error(resp, 40901, "group \"%s\" has active members: nothing changed", gid);
    } else if (err) {
        json_decref(ans);
        con_error(resp, err == KERR_INVALID_GROUP_ID ? 42205 : 50001,
                  "reset of group \"%s\" refused: Kafka error %d", gid, err);
    } else {
        LOGI("console", "reset group %s to %s on %d partition(s) through the admin API", gid, to,
             n);
        reply_durable(c, http_defer(req), log, end, ans);
    }
out:
    for (int i = 0; i < rc.n; i++) free(rc.v[i].topic);
    free(rc.v);
    free(ov);
    json_decref(o);
}

static void complete_wait(cwait *w, int status)
{
    if (status == 200)
        http_complete(w->hp, 200, "application/json", w->body, strlen(w->body));
    else {
        const char *m = "{\"error_code\":50301,\"message\":\"eddyd is shutting down\"}";
        http_complete(w->hp, 503, "application/json", m, strlen(m));
    }
    free(w->body);
    free(w);
}

static void reply_durable(console *c, http_pending *hp, plog *log, int64_t end, json_t *o)
{
    cwait *w = xcalloc(1, sizeof *w);
    w->hp = hp;
    w->log = log;
    w->target = end;
    w->body = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!log || !c->b->flusher || plog_durable_offset(log) >= end) {
        complete_wait(w, 200);
        return;
    }
    cwait **pp = &c->waits;
    while (*pp) pp = &(*pp)->next;
    *pp = w;
}

void console_on_flush(broker *b)
{
    console *c = g_console;
    if (!c || c->b != b) return;
    con_redrive_on_flush(b);
    cwait **pp = &c->waits;
    while (*pp) {
        cwait *w = *pp;
        if (!b->flusher || plog_durable_offset(w->log) >= w->target) {
            *pp = w->next;
            complete_wait(w, 200);
        } else {
            pp = &w->next;
        }
    }
}

/* ---------------------------------------------------------------- overview ---- */

static void overview(console *c, http_response *resp)
{
    broker *b = c->b;
    int64_t now = now_wall_ms();
    json_t *listeners = json_array();
    for (int i = 0; i < b->nlisteners; i++) {
        const blistener *l = &b->listeners[i];
        json_array_append_new(listeners, json_pack("{s:s,s:s,s:s,s:i}", "name", l->name, "protocol",
                                                   bsecproto_name(l->proto), "host", l->adv_host,
                                                   "port", l->adv_port));
    }
    json_t *brk =
        json_pack("{s:s,s:i,s:s,s:s,s:I,s:I,s:I,s:o,s:i}", "status", "ok", "node_id",
                  (int)b->node_id, "cluster_id", b->cluster_id, "version", c->version, "started_ms",
                  (json_int_t)b->started_ms, "uptime_ms", (json_int_t)(now - b->started_ms),
                  "now_ms", (json_int_t)now, "listeners", listeners, "connections", b->nconns);
    json_t *topics = json_array();
    int64_t total_bytes = 0, total_msgs = 0;
    int nparts = 0, ntopics = 0;
    for (int i = 0; i < topic_count(b); i++) {
        btopic *t = topic_at(b, i);
        if (!t || t->internal) continue;
        json_t *o = topic_summary(t);
        int64_t bytes, msgs;
        topic_sizes(t, &bytes, &msgs);
        total_bytes += bytes;
        total_msgs += msgs;
        nparts += t->nparts;
        ntopics++;
        uint64_t rec, by;
        topic_counters(t, &rec, &by);
        double rps, bps;
        trate *r = rate_of(c, t->name, false);
        if (!r) { /* created since the last sample: its baseline is now */
            r = rate_of(c, t->name, true);
            r->ring[0] = (rsample){now, rec, by};
            r->head = 1;
            r->n = 1;
            r->gen = c->gen;
        }
        json_t *series = rate_series(r, t, now, &rps, &bps);
        json_object_set_new(o, "records_in", json_integer((json_int_t)rec));
        json_object_set_new(o, "bytes_in", json_integer((json_int_t)by));
        json_object_set_new(o, "records_per_sec", json_real(rps));
        json_object_set_new(o, "bytes_per_sec", json_real(bps));
        json_object_set_new(o, "rate", series);
        json_array_append_new(topics, o);
    }
    int counts[4];
    group_state_counts(b, counts);
    json_t *gs = json_object();
    int ngroups = 0;
    for (int i = 0; i < 4; i++) {
        json_object_set_new(gs, group_state_names[i], json_integer(counts[i]));
        ngroups += counts[i];
    }
    json_t *totals =
        json_pack("{s:i,s:i,s:I,s:I,s:i}", "topics", ntopics, "partitions", nparts, "size_bytes",
                  (json_int_t)total_bytes, "messages", (json_int_t)total_msgs, "groups", ngroups);
    con_json(resp, 200,
             json_pack("{s:o,s:o,s:o,s:i,s:o}", "broker", brk, "totals", totals, "groups", gs,
                       "sample_interval_ms", SAMPLE_MS, "topics", topics));
}

/* ---------------------------------------------------------------- routing ---- */

static bool is(const http_request *req, const char *m)
{
    return !strcmp(req->method, m);
}

static void method_not_allowed(http_response *resp, const http_request *req, const char *allowed)
{
    con_error(resp, 40501, "%s is not allowed here (allowed: %s)", req->method, allowed);
}

static void on_api(void *arg, const http_request *req, http_response *resp)
{
    console *c = arg;
    broker *b = c->b;
    const char *p = req->path + strlen("/api/v1/");
    if (strlen(req->path) != req->path_len) {
        con_error(resp, 40002, "the path holds a NUL byte");
        return;
    }
    if (!strcmp(p, "cluster/overview") || !strcmp(p, "overview")) {
        if (!is(req, "GET")) return method_not_allowed(resp, req, "GET");
        return overview(c, resp);
    }
    if (!strcmp(p, "topics")) {
        if (is(req, "GET")) return topics_list(b, req, resp);
        if (is(req, "POST")) return topic_create_api(b, req, resp);
        return method_not_allowed(resp, req, "GET, POST");
    }
    if (!strncmp(p, "topics/", 7)) {
        const char *name = p + 7;
        size_t n = strcspn(name, "/");
        const char *rest = name + n;
        btopic *t = topic_findn(b, name, n);
        if (!t) {
            con_error(resp, 40401, "unknown topic \"%.*s\"", (int)MIN(n, 300), name);
            return;
        }
        if (!*rest) {
            if (is(req, "GET")) return con_json(resp, 200, topic_detail(t));
            if (is(req, "DELETE")) return topic_delete_api(b, t, req, resp);
            return method_not_allowed(resp, req, "GET, DELETE");
        }
        if (!strcmp(rest, "/messages")) {
            if (!is(req, "GET")) return method_not_allowed(resp, req, "GET");
            return con_messages(b, t, req, resp);
        }
        if (!strcmp(rest, "/configs")) {
            if (!is(req, "POST") && !is(req, "PUT")) return method_not_allowed(resp, req, "POST");
            return topic_config_api(b, t, req, resp);
        }
    }
    if (!strcmp(p, "groups")) {
        if (!is(req, "GET")) return method_not_allowed(resp, req, "GET");
        return groups_list(b, resp);
    }
    if (!strncmp(p, "groups/", 7) && p[7]) {
        const char *gid = p + 7;
        size_t n = strlen(gid);
        if (n > 6 && !strcmp(gid + n - 6, "/reset") && is(req, "POST")) {
            char *g = xstrndup(gid, n - 6);
            group_reset(c, g, req, resp);
            free(g);
            return;
        }
        if (!is(req, "GET")) return method_not_allowed(resp, req, "GET (POST .../reset)");
        json_t *g = group_json(b, gid, true);
        if (!g) return con_error(resp, 40402, "unknown group \"%.300s\"", gid);
        json_object_set_new(g, "lag_history", lag_series(c, gid));
        return con_json(resp, 200, g);
    }
    if (!strcmp(p, "trace")) {
        if (!is(req, "GET")) return method_not_allowed(resp, req, "GET");
        return con_trace(b, req, resp);
    }
    if (!strcmp(p, "trace/recent")) {
        if (!is(req, "GET")) return method_not_allowed(resp, req, "GET");
        return con_trace_recent(b, req, resp);
    }
    if (!strcmp(p, "dlq")) {
        if (!is(req, "GET")) return method_not_allowed(resp, req, "GET");
        return con_dlq(b, req, resp);
    }
    if (!strncmp(p, "dlq/", 4) && strlen(p) > 13 && !strcmp(p + strlen(p) - 8, "/redrive")) {
        const char *name = p + 4;
        size_t n = strlen(name) - 8;
        if (!is(req, "POST")) return method_not_allowed(resp, req, "POST");
        btopic *t = memchr(name, '/', n) ? NULL : topic_findn(b, name, n);
        if (!t) return con_error(resp, 40401, "unknown topic \"%.*s\"", (int)MIN(n, 300), name);
        return con_redrive(b, t, req, resp);
    }
    con_error(resp, 40400, "no such admin API endpoint: %.300s (docs/admin-api.md)", req->path);
}

/* GET / and the assets: /index.html, /app.js, /style.css (also under /console/). */
static void on_page(void *arg, const http_request *req, http_response *resp)
{
    (void)arg;
    const char *p = req->path;
    if (!strncmp(p, "/console", 8) && (p[8] == '/' || !p[8])) p += 8;
    if (!*p || !strcmp(p, "/")) p = "/index.html";
    for (int i = 0; i < console_asset_count; i++) {
        const console_asset *a = &console_assets[i];
        if (strcmp(a->path, p)) continue;
        if (!is(req, "GET") && !is(req, "HEAD")) return method_not_allowed(resp, req, "GET");
        http_resp_set(resp, 200, a->content_type, (const char *)a->data, a->len);
        return;
    }
    /* outside the console: the HTTP server's own "no route" answer, as before the console */
    con_json(resp, 404, json_pack("{s:i,s:s}", "error_code", 404, "message", "Not found"));
}

console *console_start(broker *b, http_server *http, const char *version)
{
    console *c = xcalloc(1, sizeof *c);
    c->b = b;
    c->version = xstrdup(version ? version : "");
    http_route(http, "*", "/api/v1/", on_api, c);
    http_route(http, "*", "/", on_page, c);
    sample(c);
    c->timer = loop_timer_add(b->loop, SAMPLE_MS, on_sample, c);
    g_console = c;
    return c;
}

void console_stop(console *c)
{
    if (!c) return;
    while (c->waits) {
        cwait *w = c->waits;
        c->waits = w->next;
        complete_wait(w, 503);
    }
    con_redrive_stop();
    if (c->timer) loop_timer_cancel(c->b->loop, c->timer);
    for (int i = 0; i < c->nrates; i++) free(c->rates[i].name);
    free(c->rates);
    for (int i = 0; i < c->nglags; i++) free(c->glags[i].name);
    free(c->glags);
    free(c->version);
    if (g_console == c) g_console = NULL;
    free(c);
}
