/* redrive — POST /api/v1/dlq/<dlq topic>/redrive (docs/admin-api.md): dead-letter redrive from
 * the admin API and the console, interoperating with libeddy's `eddy dlq redrive` through the
 * same rules (src/sdkschema/dlqrule.h: the wrapper, the outcome, the headers left out, the marker
 * topic `<dlq>.redriven` and its "PARTITION:OFFSET" keys).
 *
 * The request runs on the loop thread: read the markers and the whole DLQ (a byte budget: a
 * larger DLQ is refused with 413, use the CLI), classify every dead letter, check every target
 * topic and record size, then (unless dry_run) append each original record through the broker's
 * own append path, wait until the flusher reports those partitions durable, append the markers,
 * wait again, and only then answer — acks=all semantics, and never a marker without its record
 * durable first. One redrive per DLQ topic at a time (409 otherwise). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "common/util.h"
#include "console_int.h"
#include "sdkschema/dlqrule.h"
#include "storage/batch.h"
#include "storage/plog.h"

#define REDRIVE_BUDGET ((int64_t)256 << 20) /* bytes of DLQ and markers read by one request */

typedef struct rhdr {
    char *name;
    uint8_t *val; /* NULL: null value */
    size_t name_len, val_len;
} rhdr;

typedef struct rletter {
    int32_t part;
    int64_t offset, ts;
    uint8_t *key; /* NULL: no key */
    size_t key_len;
    rhdr *h;
    int nh;
    int redrive_count;
    dlqr_letter l;
    dlqr_outcome outcome;
    char *to;
    int32_t to_part;
    int64_t to_offset;
} rletter;

/* One durable wait: the log of topic/partition must reach `need`. */
typedef struct rneed {
    char *topic;
    int32_t part;
    int64_t need;
} rneed;

typedef struct rjob {
    http_pending *hp;
    char *dlq, *marker_topic;
    int phase;  /* 1: the records on their way to disk, 2: the markers */
    int status; /* of the answer: 200, or an error after some records moved */
    rneed *w;
    int nw;
    rletter *l; /* the moved ones' markers are written in phase 2 */
    int nl;
    json_t *ans;
    struct rjob *next;
} rjob;

static rjob *g_jobs;

typedef struct rscan {
    rletter *l;
    int nl, cap;
    char **marks; /* sorted once the markers are read */
    int nmarks, capmarks;
    /* the request's choice, to classify each dead letter as it is read */
    const dlqr_filter *filter;
    char *const *records; /* "P:O", NULL: every dead letter */
    int nrecords, max_redrives;
    bool dry_run;
} rscan;

/* ---------------------------------------------------------------- reading ---- */

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = xmalloc(n + 1);
    if (n) memcpy(d, p, n);
    d[n] = 0;
    return d;
}

static int on_marker(bpart *p, const batch_record *rec, void *arg)
{
    (void)p;
    rscan *s = arg;
    char id[80];
    int kind = dlqr_marker_read(rec->key, rec->key ? (size_t)rec->key_len : 0, rec->value,
                                rec->value ? (size_t)rec->value_len : 0, id);
    if (kind == 1) {
        if (s->nmarks == s->capmarks) {
            s->capmarks = s->capmarks ? s->capmarks * 2 : 64;
            s->marks = xrealloc(s->marks, sizeof *s->marks * (size_t)s->capmarks);
        }
        s->marks[s->nmarks++] = xstrdup(id);
    }
    for (int i = 0; kind == 2 && i < s->nmarks; i++) /* a tombstone unmarks */
        if (!strncmp(s->marks[i], id, strlen(id))) s->marks[i][0] = '-';
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void drop_record(rletter *x)
{
    for (int i = 0; i < x->nh; i++) {
        free(x->h[i].name);
        free(x->h[i].val);
    }
    x->nh = 0;
    free(x->l.value);
    x->l.value = NULL;
    x->l.has_value = 0;
}

/* The outcome of a dead letter (dlqrule.h's decision); one that will not move keeps no value
 * or headers, so a large DLQ read for a narrow filter holds only what it moves. */
static void classify(rscan *s, rletter *x)
{
    dlqr_fields f = {x->l.error, x->l.reason, x->l.service,          x->l.source_topic,
                     x->key,     x->key_len,  x->l.source_partition, x->l.source_offset,
                     x->ts};
    char id[80], po[48];
    dlqr_marker_id(x->part, x->offset, x->ts, id);
    const char *idp = id;
    bool marked =
        s->nmarks && bsearch(&idp, s->marks, (size_t)s->nmarks, sizeof *s->marks, cmp_str);
    bool listed = !s->records;
    dlqr_marker_key(x->part, x->offset, po);
    for (int i = 0; i < s->nrecords && !listed; i++) listed = !strcmp(s->records[i], po);
    bool match = listed && dlqr_filter_match(s->filter, &f);
    x->outcome = dlqr_decide(match, marked, x->redrive_count, s->max_redrives, s->dry_run);
    if (x->outcome != DLQR_MOVED && x->outcome != DLQR_WOULD_MOVE) drop_record(x);
}

static int on_letter(bpart *p, const batch_record *rec, void *arg)
{
    rscan *s = arg;
    if (s->nl == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->l = xrealloc(s->l, sizeof *s->l * (size_t)s->cap);
    }
    rletter *x = &s->l[s->nl++];
    memset(x, 0, sizeof *x);
    x->part = p->index;
    x->offset = rec->offset;
    x->ts = rec->timestamp;
    x->to_part = -1;
    x->to_offset = -1;
    if (rec->key && rec->key_len >= 0) {
        x->key = dup_bytes(rec->key, (size_t)rec->key_len);
        x->key_len = (size_t)rec->key_len;
    }
    const uint8_t *reason = NULL, *error = NULL;
    size_t rlen = 0, elen = 0;
    rbuf r = rbuf_make(rec->headers, rec->headers_len);
    x->h = xcalloc((size_t)(rec->header_count > 0 ? rec->header_count : 0) + 1, sizeof *x->h);
    for (int32_t i = 0; i < rec->header_count && !r.err; i++) {
        int32_t kl = rbuf_varint(&r);
        const uint8_t *k = kl > 0 ? rbuf_take(&r, (size_t)kl) : NULL;
        int32_t vl = rbuf_varint(&r);
        const uint8_t *v = vl > 0 ? rbuf_take(&r, (size_t)vl) : NULL;
        if (r.err || kl < 0) break;
        const char *name = k ? (const char *)k : "";
        size_t nl = k ? (size_t)kl : 0;
        if (vl >= 0 && nl == strlen(DLQR_REDRIVE_COUNT_HEADER) &&
            !memcmp(name, DLQR_REDRIVE_COUNT_HEADER, nl))
            x->redrive_count = dlqr_redrive_count(v, (size_t)vl);
        if (vl >= 0 && nl == 12 && !memcmp(name, "x-dlq-reason", 12))
            reason = v ? v : (const uint8_t *)"", rlen = (size_t)vl;
        if (vl >= 0 && nl == 11 && !memcmp(name, "x-dlq-error", 11))
            error = v ? v : (const uint8_t *)"", elen = (size_t)vl;
        if (dlqr_strip_header(name, nl)) continue;
        rhdr *h = &x->h[x->nh++];
        h->name = (char *)dup_bytes((const uint8_t *)name, nl);
        h->name_len = nl;
        h->val = vl >= 0 ? dup_bytes(v ? v : (const uint8_t *)"", (size_t)vl) : NULL;
        h->val_len = vl >= 0 ? (size_t)vl : 0;
    }
    dlqr_letter_parse(&x->l, rec->value, rec->value ? (size_t)rec->value_len : 0);
    dlqr_letter_defaults(&x->l, p->topic->name, reason, rlen, error, elen);
    classify(s, x);
    return 0;
}

static void letter_free(rletter *x)
{
    free(x->key);
    for (int i = 0; i < x->nh; i++) {
        free(x->h[i].name);
        free(x->h[i].val);
    }
    free(x->h);
    x->h = NULL;
    x->nh = 0;
    dlqr_letter_free(&x->l);
    free(x->to);
}

/* Reads every record of t: 0, or -1 when the budget ran out. */
static int read_all(btopic *t, con_rec_fn fn, void *arg, int64_t *budget)
{
    for (int i = 0; i < t->nparts; i++) {
        bpart *p = t->parts[i];
        int64_t end = part_hwm(p);
        if (con_scan_part(p, 0, end, fn, arg, budget) == 2) return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- answers ---- */

static void set_opt_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, v ? json_string(v) : json_null());
}

static json_t *letter_json(const rletter *x)
{
    json_t *o = json_pack("{s:i,s:I,s:I,s:s,s:i}", "dlq_partition", (int)x->part, "dlq_offset",
                          (json_int_t)x->offset, "dlq_timestamp", (json_int_t)x->ts, "outcome",
                          dlqr_outcome_name(x->outcome), "redrive_count", x->redrive_count);
    json_t *k = x->key ? json_stringn((const char *)x->key, x->key_len) : NULL;
    json_object_set_new(o, "key", k ? k : json_null()); /* null also for a non-UTF-8 key */
    set_opt_str(o, "source_topic", x->l.source_topic);
    json_object_set_new(o, "source_partition",
                        x->l.source_partition >= 0 ? json_integer(x->l.source_partition)
                                                   : json_null());
    json_object_set_new(o, "source_offset",
                        x->l.source_offset >= 0 ? json_integer(x->l.source_offset) : json_null());
    set_opt_str(o, "reason", x->l.reason);
    set_opt_str(o, "error", x->l.error);
    set_opt_str(o, "service", x->l.service);
    json_object_set_new(o, "attempt_count",
                        x->l.attempt_count >= 0 ? json_integer(x->l.attempt_count) : json_null());
    if (x->outcome == DLQR_MOVED || x->outcome == DLQR_WOULD_MOVE) {
        set_opt_str(o, "to_topic", x->to);
        json_object_set_new(o, "value_exact", json_boolean(x->l.value_exact));
    }
    if (x->outcome == DLQR_MOVED) {
        json_object_set_new(o, "to_partition", json_integer(x->to_part));
        json_object_set_new(o, "to_offset", json_integer(x->to_offset));
    }
    return o;
}

/* ---------------------------------------------------------------- writing ---- */

/* Appends one record to t/part: 0 and *offset, or a Kafka error code. */
static int append_one(broker *b, btopic *t, int32_t part, const batch_rec *br, int64_t *offset)
{
    return part_append_records(b, t, part, br, 1, now_wall_ms(), offset, NULL);
}

static void need_add(rjob *j, const char *topic, int32_t part, int64_t need)
{
    for (int i = 0; i < j->nw; i++) {
        if (j->w[i].part == part && !strcmp(j->w[i].topic, topic)) {
            j->w[i].need = MAX(j->w[i].need, need);
            return;
        }
    }
    j->w = xrealloc(j->w, sizeof *j->w * (size_t)(j->nw + 1));
    j->w[j->nw++] = (rneed){xstrdup(topic), part, need};
}

static void needs_clear(rjob *j)
{
    for (int i = 0; i < j->nw; i++) free(j->w[i].topic);
    free(j->w);
    j->w = NULL;
    j->nw = 0;
}

/* Whether every wait of j is durable; asks the flusher for the ones that are not. */
static bool durable(broker *b, rjob *j)
{
    bool all = true;
    for (int i = 0; i < j->nw; i++) {
        btopic *t = topic_find(b, j->w[i].topic);
        if (!b->flusher || !t || j->w[i].part >= t->nparts) continue; /* deleted meanwhile */
        plog *log = t->parts[j->w[i].part]->log;
        if (log && plog_durable_offset(log) < j->w[i].need) {
            flusher_request(b->flusher, log, j->w[i].need);
            all = false;
        }
    }
    return all;
}

static void job_free(rjob *j)
{
    needs_clear(j);
    for (int i = 0; i < j->nl; i++) letter_free(&j->l[i]);
    free(j->l);
    json_decref(j->ans);
    free(j->dlq);
    free(j->marker_topic);
    free(j);
}

static void job_answer(rjob *j, int status, json_t *body)
{
    char *t = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
    http_complete(j->hp, status, "application/json", t, strlen(t));
    free(t);
}

/* Phase 2: the markers of the moved dead letters (their records are durable now). */
static void write_markers(broker *b, rjob *j)
{
    needs_clear(j);
    btopic *mt = topic_find(b, j->marker_topic);
    char ts[40];
    int64_t now = now_wall_ms();
    time_t sec = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(now % 1000));
    for (int i = 0; i < j->nl && mt; i++) {
        rletter *x = &j->l[i];
        char key[48];
        dlqr_marker_key(x->part, x->offset, key);
        char *val = dlqr_marker_value(j->dlq, x->part, x->offset, x->ts, x->to, x->to_part,
                                      x->to_offset, x->redrive_count + 1, ts);
        batch_rec br = {key, strlen(key), val, strlen(val), NULL, 0, 0};
        int64_t off = -1;
        int rc = append_one(b, mt, 0, &br, &off);
        free(val);
        if (rc) {
            LOGW("console",
                 "redrive of %s: the marker %s was not written (Kafka error %d): the "
                 "next redrive moves that record again",
                 j->dlq, key, rc);
            continue;
        }
        need_add(j, mt->name, 0, off + 1);
    }
    if (!mt)
        LOGW("console",
             "redrive of %s: the marker topic %s is gone: the next redrive moves the "
             "records again",
             j->dlq, j->marker_topic);
    j->phase = 2;
}

/* Moves a job on: 1 when it is finished (answered). */
static int job_step(broker *b, rjob *j)
{
    if (!durable(b, j)) return 0;
    if (j->phase == 1) {
        write_markers(b, j);
        if (!durable(b, j)) return 0;
    }
    job_answer(j, j->status, j->ans);
    return 1;
}

void con_redrive_on_flush(broker *b)
{
    for (rjob **pp = &g_jobs; *pp;) {
        rjob *j = *pp;
        if (job_step(b, j)) {
            *pp = j->next;
            job_free(j);
        } else {
            pp = &j->next;
        }
    }
}

void con_redrive_stop(void)
{
    while (g_jobs) {
        rjob *j = g_jobs;
        g_jobs = j->next;
        json_t *e = json_pack("{s:i,s:s}", "error_code", 50301, "message",
                              "eddyd is shutting down: the records moved so far are not marked "
                              "(the next redrive moves them again)");
        job_answer(j, 503, e);
        json_decref(e);
        job_free(j);
    }
}

/* ---------------------------------------------------------------- the request ---- */

typedef struct ropts {
    bool dry_run;
    const char *to;
    int max_redrives;
    dlqr_filter *filter;
    char **records; /* "P:O" */
    int nrecords;
} ropts;

/* "P:O" with P and O non-negative decimal numbers. */
static bool parse_po(const char *s, int32_t *p, int64_t *o)
{
    const char *c = strchr(s, ':');
    if (!c || c == s || !c[1] || c - s > 9 || strlen(c + 1) > 18) return false;
    for (const char *q = s; *q; q++)
        if (q != c && (*q < '0' || *q > '9')) return false;
    *p = (int32_t)strtol(s, NULL, 10);
    *o = strtoll(c + 1, NULL, 10);
    return true;
}

/* Parses the body into o: 0, or -1 with resp answered (4xx). */
static int parse_opts(broker *b, json_t *body, ropts *o, http_response *resp)
{
    const char *k;
    json_t *v;
    o->max_redrives = DLQR_MAX_DEFAULT;
    o->filter = dlqr_filter_new();
    json_object_foreach(body, k, v)
    {
        if (!strcmp(k, "dry_run")) {
            if (!json_is_boolean(v)) goto bad_type;
            o->dry_run = json_is_true(v);
        } else if (!strcmp(k, "to")) {
            if (json_is_null(v)) continue;
            if (!json_is_string(v) || !json_string_length(v)) goto bad_type;
            o->to = json_string_value(v);
            btopic *t = topic_find(b, o->to);
            if (!t || t->internal) {
                con_error(resp, 40401, "unknown topic \"%.300s\" (\"to\"): nothing moved", o->to);
                return -1;
            }
        } else if (!strcmp(k, "max_redrives")) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                json_integer_value(v) > 1000000) {
                con_error(resp, 42211, "\"max_redrives\" must be an integer 1..1000000");
                return -1;
            }
            o->max_redrives = (int)json_integer_value(v);
        } else if (!strcmp(k, "filter")) {
            json_t *one = json_is_string(v) ? json_array() : NULL;
            if (one) json_array_append(one, v);
            json_t *a = one ? one : v;
            size_t i;
            json_t *e;
            if (!json_is_array(a) && !json_is_null(a)) goto bad_type;
            json_array_foreach(a, i, e)
            {
                char err[512];
                if (!json_is_string(e)) {
                    json_decref(one);
                    goto bad_type;
                }
                if (dlqr_filter_add(o->filter, json_string_value(e), err, sizeof err)) {
                    json_decref(one);
                    con_error(resp, 42212, "%s", err);
                    return -1;
                }
            }
            json_decref(one);
        } else if (!strcmp(k, "records")) {
            size_t i;
            json_t *e;
            if (json_is_null(v)) continue;
            if (!json_is_array(v) || json_array_size(v) > 100000) goto bad_type;
            o->records = xcalloc(json_array_size(v) + 1, sizeof *o->records);
            json_array_foreach(v, i, e)
            {
                int32_t p;
                int64_t off;
                if (!json_is_string(e) || !parse_po(json_string_value(e), &p, &off)) {
                    con_error(resp, 42213,
                              "\"records\"[%zu]: expected \"PARTITION:OFFSET\" of a dead letter",
                              i);
                    return -1;
                }
                o->records[o->nrecords++] = xstrdup(json_string_value(e));
            }
        } else {
            con_error(resp, 40005,
                      "unknown field \"%.100s\" (dry_run, filter, to, max_redrives, records; "
                      "--rate is the CLI's: one request moves at the broker's pace)",
                      k);
            return -1;
        }
        continue;
    bad_type:
        con_error(resp, 42210,
                  "\"%s\" has the wrong type (dry_run: boolean, filter: string or array of "
                  "strings, to: topic name, max_redrives: integer, records: array of \"P:O\")",
                  k);
        return -1;
    }
    return 0;
}

/* Where a moved record goes: its own partition when it goes back to its source topic (keeps the
 * key's order), else by key (CRC-32C of the key), else partition 0. */
static int32_t target_part(const ropts *o, const rletter *x, const btopic *t)
{
    if (!o->to && x->l.source_partition >= 0 && x->l.source_partition < t->nparts)
        return x->l.source_partition;
    if (x->key) return (int32_t)(crc32c_update(0, x->key, x->key_len) % (uint32_t)t->nparts);
    return 0;
}

void con_redrive(broker *b, btopic *dlq, const http_request *req, http_response *resp)
{
    ropts o = {0};
    rscan s = {0};
    rjob *j = NULL;
    char *marker_topic = xasprintf("%s%s", dlq->name, DLQR_MARKER_SUFFIX);
    json_error_t je;
    json_t *body = req->body_len ? json_loadb(req->body, req->body_len, 0, &je) : json_object();
    if (!body) {
        con_error(resp, 40001, "malformed JSON body: %s (line %d)", je.text, je.line);
        goto out;
    }
    if (!json_is_object(body)) {
        con_error(resp, 40001, "the body must be a JSON object");
        goto out;
    }
    size_t dn = strlen(dlq->name), sn = strlen(DLQR_MARKER_SUFFIX);
    if (dlq->internal || (dn >= sn && !strcmp(dlq->name + dn - sn, DLQR_MARKER_SUFFIX))) {
        con_error(resp, 42214, "\"%s\" is not a dead-letter topic", dlq->name);
        goto out;
    }
    if (parse_opts(b, body, &o, resp)) goto out;
    for (rjob *q = g_jobs; q; q = q->next) {
        if (!strcmp(q->dlq, dlq->name)) {
            con_error(resp, 40902, "a redrive of %s is in progress: try again when it answers",
                      dlq->name);
            goto out;
        }
    }

    /* read: the markers, then the dead letters */
    int64_t budget = REDRIVE_BUDGET;
    btopic *mt = topic_find(b, marker_topic);
    bool over = mt && read_all(mt, on_marker, &s, &budget);
    if (s.nmarks) qsort(s.marks, (size_t)s.nmarks, sizeof *s.marks, cmp_str);
    s.filter = o.filter;
    s.records = o.records;
    s.nrecords = o.nrecords;
    s.max_redrives = o.max_redrives;
    s.dry_run = o.dry_run;
    if (over || read_all(dlq, on_letter, &s, &budget)) {
        con_error(resp, 41301,
                  "%s and its markers hold more than the admin API reads in one request "
                  "(%" PRId64 " MiB): use `eddy dlq redrive` (nothing moved)",
                  dlq->name, REDRIVE_BUDGET >> 20);
        goto out;
    }
    for (int i = 0; i < o.nrecords; i++) {
        bool found = false;
        int32_t p;
        int64_t off;
        parse_po(o.records[i], &p, &off);
        for (int k = 0; k < s.nl && !found; k++) found = s.l[k].part == p && s.l[k].offset == off;
        if (!found) {
            con_error(resp, 40403, "no dead letter %s on %s (nothing moved)", o.records[i],
                      dlq->name);
            goto out;
        }
    }

    /* every target checked before anything is written (classified while read: classify) */
    int moving = 0;
    for (int i = 0; i < s.nl; i++) {
        rletter *x = &s.l[i];
        if (x->outcome != DLQR_MOVED && x->outcome != DLQR_WOULD_MOVE) continue;
        const char *to = o.to ? o.to : x->l.source_topic;
        if (!to) {
            con_error(resp, 42215,
                      "%s[%d]@%" PRId64 " names no source topic: give \"to\" (nothing moved)",
                      dlq->name, (int)x->part, x->offset);
            goto out;
        }
        x->to = xstrdup(to);
        btopic *t = topic_find(b, to);
        if (!t || t->internal) {
            con_error(resp, 40404,
                      "no source topic \"%.300s\" (of %s[%d]@%" PRId64 "): nothing moved", to,
                      dlq->name, (int)x->part, x->offset);
            goto out;
        }
        x->to_part = target_part(&o, x, t);
        moving += x->outcome == DLQR_MOVED;
    }

    json_t *results = json_array();
    int64_t cnt[5] = {0};
    for (int i = 0; i < s.nl; i++) cnt[s.l[i].outcome]++;
    if (moving) {
        if (!mt) {
            btopic *nt = NULL;
            int rc = topic_create(b, marker_topic, 1, "cleanup.policy=compact\n", false, &nt);
            if (rc || !nt) {
                json_decref(results);
                con_error(resp, 50002,
                          "cannot create the marker topic %s: Kafka error %d "
                          "(nothing moved)",
                          marker_topic, rc);
                goto out;
            }
            LOGI("console", "created the redrive marker topic %s", marker_topic);
        }
        j = xcalloc(1, sizeof *j);
        j->dlq = xstrdup(dlq->name);
        j->marker_topic = xstrdup(marker_topic);
        j->phase = 1;
        j->status = 200;
    }
    int moved_ok = 0;
    for (int i = 0; i < s.nl; i++) {
        rletter *x = &s.l[i];
        if (x->outcome == DLQR_MOVED) {
            btopic *t = topic_find(b, x->to);
            batch_header *hs = xcalloc((size_t)x->nh + 1, sizeof *hs);
            for (int h = 0; h < x->nh; h++)
                hs[h] =
                    (batch_header){x->h[h].name, x->h[h].name_len, x->h[h].val, x->h[h].val_len};
            char cntv[16];
            snprintf(cntv, sizeof cntv, "%d", x->redrive_count + 1);
            hs[x->nh] = (batch_header){DLQR_REDRIVE_COUNT_HEADER, strlen(DLQR_REDRIVE_COUNT_HEADER),
                                       cntv, strlen(cntv)};
            batch_rec br = {
                x->key,    x->key_len, x->l.has_value ? x->l.value : NULL, x->l.value_len, hs,
                x->nh + 1, 0};
            int64_t off = -1;
            int rc = append_one(b, t, x->to_part, &br, &off);
            free(hs);
            if (!rc) x->to_offset = off;
            if (rc) {
                /* earlier records stay moved (and get their markers); this one and the
                 * rest are left for the next redrive */
                LOGW("console", "redrive of %s[%d]@%" PRId64 " to %s: Kafka error %d", dlq->name,
                     (int)x->part, x->offset, x->to, rc);
                json_decref(results);
                json_t *e = json_pack("{s:i,s:s}", "error_code",
                                      rc == KERR_MESSAGE_TOO_LARGE ? 41302 : 50003, "message", "");
                char *m = xasprintf("redrive of %s[%d]@%" PRId64 " to %s refused: Kafka error "
                                    "%d; the %d record(s) before it were moved and are marked",
                                    dlq->name, (int)x->part, x->offset, x->to, rc, moved_ok);
                json_object_set_new(e, "message", json_string(m));
                free(m);
                j->ans = e;
                j->status = rc == KERR_MESSAGE_TOO_LARGE ? 413 : 500;
                j->hp = http_defer(req);
                goto start;
            }
            moved_ok++;
            need_add(j, t->name, x->to_part, x->to_offset + 1);
        }
        json_array_append_new(results, letter_json(x));
    }
    json_t *ans =
        json_pack("{s:s,s:s,s:b,s:o,s:i,s:o,s:{s:I,s:I,s:I,s:I,s:I,s:I}}", "dlq_topic", dlq->name,
                  "marker_topic", marker_topic, "dry_run", o.dry_run, "to",
                  o.to ? json_string(o.to) : json_null(), "max_redrives", o.max_redrives, "results",
                  results, "stats", "scanned", (json_int_t)s.nl, "moved",
                  (json_int_t)cnt[DLQR_MOVED], "would_move", (json_int_t)cnt[DLQR_WOULD_MOVE],
                  "loop_guard", (json_int_t)cnt[DLQR_LOOP_GUARD], "already_redriven",
                  (json_int_t)cnt[DLQR_ALREADY], "filtered_out", (json_int_t)cnt[DLQR_FILTERED]);
    if (!j) {
        con_json(resp, 200, ans);
        goto out;
    }
    LOGI("console", "redrive of %s through the admin API: %" PRId64 " record(s) moved", dlq->name,
         cnt[DLQR_MOVED]);
    j->ans = ans;
    j->hp = http_defer(req);
start:
    /* hand the moved letters to the job (their markers follow once the records are durable) */
    for (int i = 0; i < s.nl; i++) {
        if (s.l[i].outcome != DLQR_MOVED || s.l[i].to_offset < 0) continue; /* not written */
        j->l = xrealloc(j->l, sizeof *j->l * (size_t)(j->nl + 1));
        j->l[j->nl++] = s.l[i];
        memset(&s.l[i], 0, sizeof s.l[i]);
    }
    if (!j->hp) { /* cannot defer: the answer now (durability not awaited) */
        con_json(resp, j->status, json_incref(j->ans));
        write_markers(b, j);
        job_free(j);
    } else if (job_step(b, j)) {
        job_free(j);
    } else {
        j->next = g_jobs;
        g_jobs = j;
    }
out:
    for (int i = 0; i < s.nl; i++) letter_free(&s.l[i]);
    free(s.l);
    for (int i = 0; i < s.nmarks; i++) free(s.marks[i]);
    free(s.marks);
    dlqr_filter_free(o.filter);
    for (int i = 0; i < o.nrecords; i++) free(o.records[i]);
    free(o.records);
    json_decref(body);
    free(marker_topic);
}
