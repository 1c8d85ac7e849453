/* rest — REST produce (Confluent REST Proxy v3/v2) on eddyd's HTTP port; see rest.h.
 *
 * A produce request: parse the body into records (records.c), resolve schema'd payloads,
 * choose each record's partition (explicit, murmur2 of the key as Kafka's clients do, or one
 * partition per request for keyless records, rotating between requests), build one batch per
 * partition in request order, append, then park the answer until the flusher reports every
 * touched partition durable (rest_on_flush, the broker's flush hook). Records that cannot be
 * produced get their own error in the answer; the others are written. */
#include "rest/rest.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "storage/batch.h"
#include "storage/plog.h"

/* A produce answered once durable: per touched partition the offset the log must reach. */
typedef struct rwait {
    http_pending *hp;
    char *topic;
    int32_t *part;
    int64_t *need;
    int n;
    int status;
    const char *ctype;
    char *body;
    struct rwait *next;
} rwait;

struct rest {
    broker *b;
    rest_lookup_fn lookup;
    void *lookup_arg;
    rest_schema_cache *schemas; /* compiled schemas by id, for every request */
    rwait *waits;
    uint32_t rotate; /* keyless records: partition of the next request */
};

static rest *g_rest; /* the flush hook has no argument: one REST API per process */

/* Per-record outcome. */
typedef struct rres {
    int code; /* 0 = written */
    char msg[200];
    int32_t part;
    int64_t offset;
    int64_t ts;
} rres;

/* ---------------------------------------------------------------- answers ---- */

static int http_status_of(int code)
{
    return code >= 1000 ? code / 100 : code;
}

static void answer_error(http_response *resp, int code, const char *msg)
{
    json_t *o = json_pack("{s:i,s:s}", "error_code", code, "message", msg);
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    http_resp_set(resp, http_status_of(code), "application/json", t, strlen(t));
    free(t);
}

static json_t *side_json(const rest_side *s)
{
    if (s->null) return json_null();
    json_t *o =
        json_pack("{s:s,s:I}", "type", s->schema ? (s->type ? s->type : "SCHEMA") : "BINARY",
                  "size", (json_int_t)s->len);
    if (s->schema && s->len >= 5) {
        uint32_t id = be32(s->bytes + 1);
        json_object_set_new(o, "schema_id", json_integer(id));
    }
    return o;
}

static json_t *v3_result(const rest *r, const char *topic, const rest_rec *rec, const rres *x)
{
    if (x->code) return json_pack("{s:i,s:s}", "error_code", x->code, "message", x->msg);
    char ts[32];
    rest_format_time(x->ts, ts);
    return json_pack("{s:i,s:s,s:s,s:i,s:I,s:s,s:o,s:o}", "error_code", 200, "cluster_id",
                     r->b->cluster_id, "topic_name", topic, "partition_id", (int)x->part, "offset",
                     (json_int_t)x->offset, "timestamp", ts, "key", side_json(&rec->key), "value",
                     side_json(&rec->value));
}

/* ---------------------------------------------------------------- durability ---- */

static bool wait_durable(broker *b, const rwait *w)
{
    if (!b->flusher) return true;
    btopic *t = topic_find(b, w->topic);
    for (int i = 0; t && i < w->n; i++) {
        if (w->part[i] >= t->nparts) continue; /* deleted meanwhile: nothing to wait for */
        if (plog_durable_offset(t->parts[w->part[i]]->log) < w->need[i]) return false;
    }
    return true;
}

static void wait_free(rwait *w)
{
    free(w->body);
    free(w->topic);
    free(w->part);
    free(w->need);
    free(w);
}

void rest_on_flush(broker *b)
{
    rest *r = g_rest;
    if (!r) return;
    for (rwait **pp = &r->waits; *pp;) {
        rwait *w = *pp;
        if (wait_durable(b, w)) {
            *pp = w->next;
            http_complete(w->hp, w->status, w->ctype, w->body, strlen(w->body));
            wait_free(w);
        } else {
            pp = &w->next;
        }
    }
}

/* Sends the answer now if nothing needs to become durable, else parks it. body is taken. */
static void answer_when_durable(rest *r, const http_request *req, http_response *resp,
                                const char *topic, const rres *res, int n, int status,
                                const char *ctype, char *body)
{
    rwait *w = xcalloc(1, sizeof *w);
    w->part = xcalloc((size_t)n + 1, sizeof *w->part);
    w->need = xcalloc((size_t)n + 1, sizeof *w->need);
    for (int i = 0; i < n; i++) {
        if (res[i].code) continue;
        int j = 0;
        while (j < w->n && w->part[j] != res[i].part) j++;
        if (j == w->n) w->part[w->n++] = res[i].part;
        w->need[j] = MAX(w->need[j], res[i].offset + 1);
    }
    w->topic = xstrdup(topic);
    if (w->n == 0 || wait_durable(r->b, w) || !(w->hp = http_defer(req))) {
        http_resp_set(resp, status, ctype, body, strlen(body));
        free(body);
        wait_free(w);
        return;
    }
    for (int i = 0; i < w->n; i++) {
        btopic *t = topic_find(r->b, topic);
        if (t && w->part[i] < t->nparts)
            flusher_request(r->b->flusher, t->parts[w->part[i]]->log, w->need[i]);
    }
    w->status = status;
    w->ctype = ctype;
    w->body = body;
    w->next = r->waits;
    r->waits = w;
}

/* ---------------------------------------------------------------- produce ---- */

static int32_t pick_partition(rest *r, btopic *t, const rest_rec *rec, int32_t keyless)
{
    if (rec->partition >= 0) return rec->partition;
    if (!rec->key.null && rec->key.bytes)
        return (int32_t)((rest_murmur2(rec->key.bytes, rec->key.len) & 0x7fffffff) %
                         (uint32_t)t->nparts);
    (void)r;
    return keyless;
}

/* Appends the records that are ready (res[i].code == 0), one batch per partition, in request
 * order; fills offsets and timestamps, or an error per record. */
static void append_all(rest *r, btopic *t, rest_rec *recs, rres *res, int n)
{
    int64_t now = now_wall_ms();
    batch_rec *br = xcalloc((size_t)n, sizeof *br);
    batch_header **hs = xcalloc((size_t)n, sizeof *hs);
    int *idx = xcalloc((size_t)n, sizeof *idx);
    bool *done = xcalloc((size_t)n, sizeof *done);
    for (int i = 0; i < n; i++) {
        if (res[i].code || done[i]) continue;
        int32_t part = res[i].part;
        int m = 0;
        for (int j = i; j < n; j++) {
            if (res[j].code || done[j] || res[j].part != part) continue;
            rest_rec *x = &recs[j];
            done[j] = true;
            idx[m] = j;
            res[j].ts = (x->timestamp >= 0 && !t->cfg.log_append_time) ? x->timestamp : now;
            hs[m] = xcalloc((size_t)x->nheaders + 1, sizeof **hs);
            for (int h = 0; h < x->nheaders; h++)
                hs[m][h] = (batch_header){x->headers[h].name, strlen(x->headers[h].name),
                                          x->headers[h].value, x->headers[h].len};
            br[m] = (batch_rec){x->key.null ? NULL : x->key.bytes,
                                x->key.null ? 0 : x->key.len,
                                x->value.null ? NULL : x->value.bytes,
                                x->value.null ? 0 : x->value.len,
                                hs[m],
                                x->nheaders,
                                res[j].ts};
            m++;
        }
        size_t len = 0;
        int64_t base = -1;
        int rc = part_append_records(r->b, t, part, br, m, now, &base, &len);
        for (int k = 0; k < m; k++) {
            rres *o = &res[idx[k]];
            if (rc == 0) {
                o->offset = base + k;
            } else if (rc == KERR_MESSAGE_TOO_LARGE) {
                o->code = REST_ERR_TOO_LARGE;
                snprintf(o->msg, sizeof o->msg,
                         "the records for partition %d (%zu bytes) exceed max.message.bytes %d",
                         part, len, (int)t->cfg.max_message_bytes);
            } else {
                o->code = REST_ERR_STORAGE;
                snprintf(o->msg, sizeof o->msg, "cannot append to partition %d (error %d)", part,
                         rc);
            }
            free(hs[k]);
        }
    }
    free(done);
    free(idx);
    free(hs);
    free(br);
}

/* Resolves schemas and partitions; res[i].code set for records that cannot be written. */
static void prepare(rest *r, btopic *t, rest_batch *rb, rres *res)
{
    int32_t keyless = (int32_t)(r->rotate++ % (uint32_t)t->nparts);
    for (int i = 0; i < rb->n; i++) {
        rest_rec *x = &rb->r[i];
        if (x->error) {
            res[i].code = x->error;
            snprintf(res[i].msg, sizeof res[i].msg, "%s", x->error_msg ? x->error_msg : "");
            continue;
        }
        int rc = rest_resolve_cached(x, t->name, r->lookup, r->lookup_arg, r->schemas, res[i].msg,
                                     sizeof res[i].msg);
        if (rc) {
            res[i].code = rc;
            continue;
        }
        res[i].part = pick_partition(r, t, x, keyless);
        if (res[i].part >= t->nparts) {
            res[i].code = REST_ERR_PARTITION_NOT_FOUND;
            snprintf(res[i].msg, sizeof res[i].msg, "partition %d of %s not found",
                     (int)res[i].part, t->name);
        }
    }
}

static btopic *find_topic(rest *r, const char *name, http_response *resp)
{
    btopic *t = topic_find(r->b, name);
    if (!t && strlen(name) > 0) t = topic_auto_create(r->b, name, strlen(name));
    if (!t || t->internal) {
        char msg[320];
        snprintf(msg, sizeof msg, "Topic %.249s not found.", name);
        answer_error(resp, REST_ERR_TOPIC_NOT_FOUND, msg);
        return NULL;
    }
    return t;
}

static void produce_v3(rest *r, const http_request *req, http_response *resp, const char *topic)
{
    btopic *t = find_topic(r, topic, resp);
    if (!t) return;
    rest_batch rb;
    size_t used = 0;
    char err[256] = "";
    int perr = rest_parse_v3_stream(req->body, req->body_len, &rb, &used, err, sizeof err);
    /* records parsed before a stream error are still produced; the error closes the answer */
    int n = rb.n;
    rres *res = xcalloc((size_t)n + 1, sizeof *res);
    if (n == 0 || (n == 1 && rb.r[0].error)) { /* one record, refused: a plain error */
        if (n == 1) snprintf(err, sizeof err, "%s", rb.r[0].error_msg);
        answer_error(resp, n ? rb.r[0].error : perr, err);
        rest_batch_free(&rb);
        free(res);
        return;
    }
    prepare(r, t, &rb, res);
    append_all(r, t, rb.r, res, n);
    char *body;
    int status = 200;
    if (n == 1) {
        json_t *o = v3_result(r, t->name, &rb.r[0], &res[0]);
        body = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (res[0].code) status = http_status_of(res[0].code);
    } else {
        /* streaming mode: one result object per record, in order */
        size_t cap = 256, len = 0;
        body = xmalloc(cap);
        body[0] = 0;
        for (int i = 0; i < n; i++) {
            json_t *o = v3_result(r, t->name, &rb.r[i], &res[i]);
            char *s = json_dumps(o, JSON_COMPACT);
            json_decref(o);
            size_t sl = strlen(s);
            if (len + sl + 2 > cap) body = xrealloc(body, cap = (len + sl + 2) * 2);
            memcpy(body + len, s, sl);
            len += sl;
            body[len++] = '\n';
            body[len] = 0;
            free(s);
        }
    }
    answer_when_durable(r, req, resp, t->name, res, n, status, "application/json", body);
    rest_batch_free(&rb);
    free(res);
}

static void produce_v2(rest *r, const http_request *req, http_response *resp, const char *topic,
                       int32_t part)
{
    char fmt[16];
    if (rest_v2_format(req->content_type, fmt, sizeof fmt)) {
        answer_error(resp, REST_ERR_UNSUPPORTED_MEDIA,
                     "Content-Type must be application/vnd.kafka.{json,binary,avro,jsonschema}"
                     ".v2+json");
        return;
    }
    btopic *t = find_topic(r, topic, resp);
    if (!t) return;
    if (part >= t->nparts) {
        answer_error(resp, REST_ERR_PARTITION_NOT_FOUND, "Partition not found.");
        return;
    }
    rest_batch rb;
    char err[256] = "";
    int perr = rest_parse_v2(req->body, req->body_len, fmt, &rb, err, sizeof err);
    if (perr) {
        answer_error(resp, perr, err);
        rest_batch_free(&rb);
        return;
    }
    int n = rb.n;
    if (part >= 0)
        for (int i = 0; i < n; i++) rb.r[i].partition = part;
    rres *res = xcalloc((size_t)n, sizeof *res);
    prepare(r, t, &rb, res);
    append_all(r, t, rb.r, res, n);
    json_t *offs = json_array();
    for (int i = 0; i < n; i++) {
        if (res[i].code)
            json_array_append_new(offs, json_pack("{s:n,s:n,s:i,s:s}", "partition", "offset",
                                                  "error_code", res[i].code, "error", res[i].msg));
        else
            json_array_append_new(
                offs, json_pack("{s:i,s:I,s:n,s:n}", "partition", (int)res[i].part, "offset",
                                (json_int_t)res[i].offset, "error_code", "error"));
    }
    json_t *ksid = json_null(), *vsid = json_null();
    for (int i = 0; i < n; i++) {
        if (rb.r[i].key.schema && rb.r[i].key.len >= 5)
            ksid = json_integer(be32(rb.r[i].key.bytes + 1));
        if (rb.r[i].value.schema && rb.r[i].value.len >= 5)
            vsid = json_integer(be32(rb.r[i].value.bytes + 1));
        if (!json_is_null(ksid) || !json_is_null(vsid)) break;
    }
    json_t *o =
        json_pack("{s:o,s:o,s:o}", "offsets", offs, "key_schema_id", ksid, "value_schema_id", vsid);
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    answer_when_durable(r, req, resp, t->name, res, n, 200, "application/vnd.kafka.v2+json", body);
    rest_batch_free(&rb);
    free(res);
}

/* ---------------------------------------------------------------- routes ---- */

/* Splits "/a/b/c" into at most max components (in place, in a copy). Returns the count. */
static int split_path(char *p, char **parts, int max)
{
    int n = 0;
    for (char *s = strtok(p, "/"); s && n < max; s = strtok(NULL, "/")) parts[n++] = s;
    return n;
}

static json_t *cluster_json(rest *r)
{
    return json_pack("{s:s,s:s,s:{s:i},s:{s:s}}", "kind", "KafkaCluster", "cluster_id",
                     r->b->cluster_id, "controller", "broker_id", (int)r->b->node_id, "topics",
                     "related", "topics");
}

static json_t *topic_json(rest *r, btopic *t)
{
    return json_pack("{s:s,s:s,s:s,s:b,s:i,s:i}", "kind", "KafkaTopic", "cluster_id",
                     r->b->cluster_id, "topic_name", t->name, "is_internal", t->internal,
                     "replication_factor", 1, "partitions_count", (int)t->nparts);
}

static void answer_json(http_response *resp, int status, const char *ctype, json_t *o)
{
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    http_resp_set(resp, status, ctype, t, strlen(t));
    free(t);
}

static void on_v3(void *arg, const http_request *req, http_response *resp)
{
    rest *r = arg;
    char *path = xstrdup(req->path);
    char *p[8];
    int n = split_path(path, p, 8); /* v3 clusters {id} topics {t} records */
    bool post = !strcmp(req->method, "POST");
    if (n >= 3 && strcmp(p[2], r->b->cluster_id)) {
        answer_error(resp, 404, "Cluster not found.");
    } else if (n == 2 && !post) {
        answer_json(resp, 200, "application/json",
                    json_pack("{s:s,s:[o]}", "kind", "KafkaClusterList", "data", cluster_json(r)));
    } else if (n == 3 && !post) {
        answer_json(resp, 200, "application/json", cluster_json(r));
    } else if (n == 4 && !post && !strcmp(p[3], "topics")) {
        json_t *data = json_array();
        for (int i = 0; i < topic_count(r->b); i++) {
            btopic *t = topic_at(r->b, i);
            if (!t->internal) json_array_append_new(data, topic_json(r, t));
        }
        answer_json(resp, 200, "application/json",
                    json_pack("{s:s,s:o}", "kind", "KafkaTopicList", "data", data));
    } else if (n == 5 && !post && !strcmp(p[3], "topics")) {
        btopic *t = topic_find(r->b, p[4]);
        if (!t || t->internal)
            answer_error(resp, REST_ERR_TOPIC_NOT_FOUND, "Topic not found.");
        else
            answer_json(resp, 200, "application/json", topic_json(r, t));
    } else if (n == 6 && post && !strcmp(p[3], "topics") && !strcmp(p[5], "records")) {
        produce_v3(r, req, resp, p[4]);
    } else {
        answer_error(resp, 404, "Not found.");
    }
    free(path);
}

static void on_v2(void *arg, const http_request *req, http_response *resp)
{
    rest *r = arg;
    char *path = xstrdup(req->path);
    char *p[6];
    int n = split_path(path, p, 6); /* topics {t} [partitions {p}] */
    bool post = !strcmp(req->method, "POST");
    if (n == 1 && !post) {
        json_t *names = json_array();
        for (int i = 0; i < topic_count(r->b); i++) {
            btopic *t = topic_at(r->b, i);
            if (!t->internal) json_array_append_new(names, json_string(t->name));
        }
        answer_json(resp, 200, "application/vnd.kafka.v2+json", names);
    } else if (n == 2 && post) {
        produce_v2(r, req, resp, p[1], -1);
    } else if (n == 4 && post && !strcmp(p[2], "partitions")) {
        char *end;
        long part = strtol(p[3], &end, 10);
        if (*end || part < 0 || part > INT32_MAX)
            answer_error(resp, REST_ERR_PARTITION_NOT_FOUND, "Partition not found.");
        else
            produce_v2(r, req, resp, p[1], (int32_t)part);
    } else {
        answer_error(resp, 404, "Not found.");
    }
    free(path);
}

rest *rest_start(broker *b, http_server *s, rest_lookup_fn lookup, void *lookup_arg)
{
    rest *r = xcalloc(1, sizeof *r);
    r->b = b;
    r->lookup = lookup;
    r->lookup_arg = lookup_arg;
    r->schemas = rest_schema_cache_new();
    http_route(s, "*", "/v3/clusters", on_v3, r);
    http_route(s, "*", "/topics", on_v2, r);
    g_rest = r;
    return r;
}

void rest_stop(rest *r)
{
    if (!r) return;
    while (r->waits) {
        rwait *w = r->waits;
        r->waits = w->next;
        static const char msg[] = "{\"error_code\":50301,\"message\":\"eddyd is shutting down; "
                                  "the records may or may not be durable\"}";
        http_complete(w->hp, 503, "application/json", msg, sizeof msg - 1);
        wait_free(w);
    }
    if (g_rest == r) g_rest = NULL;
    rest_schema_cache_free(r->schemas);
    free(r);
}
