/* dlq.c — dead-letter redrive (include/eddy/dlq.h): reads `<topic>.dlq` to its end, recovers
 * each dead letter's original record (key, headers minus x-dlq-*, exact value bytes), applies
 * the filter, the loop guard (eddy-redrive-count) and the markers of `<dlq>.redriven`, checks
 * every target topic, then republishes with an idempotent acks=all producer (up to 256 records
 * in flight, each one's marker sent only once the record is acknowledged), paced by the rate
 * limit, reporting in DLQ order. Also the exact-value field libeddy's
 * DLQ writer adds (service.c) and the process-wide redrive counters. Part of src/sdk. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/dlq.h"
#include "internal.h"
#include "sdkschema/dlqrule.h"

#define MARKER_SUFFIX DLQR_MARKER_SUFFIX
#define REDRIVE_WINDOW 256 /* records in flight */

void sdk_dlq_keep_exact(json_t *o, const void *payload, size_t len)
{
    if (!payload) { /* no value at all (not an empty one) */
        json_object_set_new(o, "originalValueBase64", json_null());
        return;
    }
    char *b = dlqr_b64_encode(payload, len);
    json_object_set_new(o, "originalValueBase64", json_string(b));
    free(b);
}

/* ---- filter (the language is dlqrule.c's, shared with eddyd's admin API) ------------------ */
struct eddy_dlq_filter {
    dlqr_filter *f;
};

eddy_dlq_filter *eddy_dlq_filter_new(void)
{
    eddy_dlq_filter *f = sdk_xcalloc(1, sizeof(eddy_dlq_filter));
    f->f = dlqr_filter_new();
    return f;
}

void eddy_dlq_filter_free(eddy_dlq_filter *f)
{
    if (!f) return;
    dlqr_filter_free(f->f);
    free(f);
}

int eddy_dlq_filter_add(eddy_dlq_filter *f, const char *expr, char **err)
{
    char e[512];
    if (dlqr_filter_add(f->f, expr, e, sizeof e) == 0) return 0;
    *err = sdk_xstrdup(e);
    return EDDY_ERR_PERMANENT;
}

static int filter_match(const eddy_dlq_filter *f, const eddy_dead_letter *d)
{
    dlqr_fields v = {d->error,   d->reason,           d->service,       d->source_topic,    d->key,
                     d->key_len, d->source_partition, d->source_offset, d->dlq_timestamp_ms};
    return !f || dlqr_filter_match(f->f, &v);
}

/* ---- metrics -------------------------------------------------------------------------------- */
typedef struct mrow {
    char *dlq;
    uint64_t moved, loop_guard, already;
} mrow;

static pthread_mutex_t g_mmu = PTHREAD_MUTEX_INITIALIZER;
static mrow *g_rows;
static int g_nrows;

static void count(const char *dlq, eddy_redrive_outcome o)
{
    if (o == EDDY_REDRIVE_WOULD_MOVE || o == EDDY_REDRIVE_FILTERED) return;
    pthread_mutex_lock(&g_mmu);
    int i = 0;
    while (i < g_nrows && strcmp(g_rows[i].dlq, dlq)) i++;
    if (i == g_nrows) {
        g_rows = sdk_xrealloc(g_rows, sizeof *g_rows * (size_t)(g_nrows + 1));
        g_rows[g_nrows++] = (mrow){sdk_xstrdup(dlq), 0, 0, 0};
    }
    if (o == EDDY_REDRIVE_MOVED) g_rows[i].moved++;
    if (o == EDDY_REDRIVE_LOOP_GUARD) g_rows[i].loop_guard++;
    if (o == EDDY_REDRIVE_ALREADY) g_rows[i].already++;
    pthread_mutex_unlock(&g_mmu);
}

/* A label value with \ " and newline escaped (the exposition format's rules). */
static char *label(const char *s)
{
    char *o = sdk_xmalloc(strlen(s) * 2 + 1), *p = o;
    for (; *s; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') *p++ = '\\';
        *p++ = *s == '\n' ? 'n' : *s;
    }
    *p = 0;
    return o;
}

char *eddy_dlq_metrics_text(void)
{
    size_t cap = 512, len = 0;
    char *b = sdk_xmalloc(cap);
    b[0] = 0;
#define APPEND(...)                                                                                \
    do {                                                                                           \
        char *s_ = sdk_xasprintf(__VA_ARGS__);                                                     \
        size_t n_ = strlen(s_);                                                                    \
        if (len + n_ + 1 > cap) b = sdk_xrealloc(b, cap = (len + n_ + 1) * 2);                     \
        memcpy(b + len, s_, n_ + 1);                                                               \
        len += n_;                                                                                 \
        free(s_);                                                                                  \
    } while (0)
    pthread_mutex_lock(&g_mmu);
    if (!g_nrows) goto done; /* no redrive in this process: no families */
    APPEND("# HELP eddy_dlq_redriven_total dead letters this process republished to their "
           "source topic (or --to)\n# TYPE eddy_dlq_redriven_total counter\n");
    for (int i = 0; i < g_nrows; i++) {
        char *l = label(g_rows[i].dlq);
        APPEND("eddy_dlq_redriven_total{dlq_topic=\"%s\"} %" PRIu64 "\n", l, g_rows[i].moved);
        free(l);
    }
    APPEND("# HELP eddy_dlq_redrive_skipped_total dead letters a redrive did not move: refused by "
           "the loop guard, or redriven before\n# TYPE eddy_dlq_redrive_skipped_total counter\n");
    for (int i = 0; i < g_nrows; i++) {
        char *l = label(g_rows[i].dlq);
        APPEND("eddy_dlq_redrive_skipped_total{dlq_topic=\"%s\",reason=\"loop_guard\"} %" PRIu64
               "\n",
               l, g_rows[i].loop_guard);
        APPEND("eddy_dlq_redrive_skipped_total{dlq_topic=\"%s\",reason=\"already_redriven\"} "
               "%" PRIu64 "\n",
               l, g_rows[i].already);
        free(l);
    }
done:
    pthread_mutex_unlock(&g_mmu);
#undef APPEND
    return b;
}

const char *eddy_redrive_outcome_name(eddy_redrive_outcome o)
{
    return dlqr_outcome_name((int)o);
}

/* ---- reading the DLQ ------------------------------------------------------------------------ */
typedef struct ack {
    int done; /* 1 acknowledged, -1 failed */
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
} ack;

typedef struct letter {
    eddy_dead_letter d;
    dlqr_letter dl; /* owned: the wrapper's fields and the original value (dlqrule.h) */
    char *strs[6];  /* owned: [5] to_topic */
    void *key;
    rd_kafka_headers_t *hdrs; /* the original headers, x-dlq-* and the redrive count removed */
    eddy_redrive_outcome outcome;
    int parts;     /* partitions of its target topic, once checked */
    int stage;     /* send_record: 1 sent, 2 marker sent, 3 done, -1 failed */
    ack rec, mack; /* delivery reports of the record and of its marker */
} letter;

typedef struct run {
    const char *dlq;
    const eddy_redrive_opts *o;
    int timeout_ms;
    rd_kafka_t *rk; /* consumer (reads, metadata) */
    rd_kafka_t *pk; /* producer */
    char **marks;   /* "PARTITION:OFFSET@TIMESTAMP" of redriven dead letters */
    int nmarks, capmarks;
    letter *l;
    int nl;
    char *err;
} run;

static void letter_free(letter *x)
{
    for (int i = 0; i < 6; i++) free(x->strs[i]);
    free(x->key);
    dlqr_letter_free(&x->dl);
    if (x->hdrs) rd_kafka_headers_destroy(x->hdrs);
}

static const char *own(letter *x, int i, const char *s)
{
    free(x->strs[i]);
    x->strs[i] = s ? sdk_xstrdup(s) : NULL;
    return x->strs[i];
}

/* Turns one DLQ record into a letter: libeddy's and eddy-push's JSON wrapper, or (a DLQ some
 * other tool wrote) the record itself as the original. */
static void letter_load(run *r, letter *x, const rd_kafka_message_t *m)
{
    eddy_dead_letter *d = &x->d;
    d->dlq_topic = r->dlq;
    d->dlq_partition = m->partition;
    d->dlq_offset = m->offset;
    d->dlq_timestamp_ms = rd_kafka_message_timestamp(m, NULL);
    d->to_partition = -1;
    d->to_offset = -1;
    if (m->key) {
        x->key = sdk_xmalloc(m->key_len + 1);
        memcpy(x->key, m->key, m->key_len);
        d->key = x->key;
        d->key_len = m->key_len;
    }
    rd_kafka_headers_t *src = NULL;
    if (rd_kafka_message_headers(m, &src) != RD_KAFKA_RESP_ERR_NO_ERROR) src = NULL;
    x->hdrs = rd_kafka_headers_new(src ? rd_kafka_header_cnt(src) + 1 : 1);
    const char *hn;
    const void *hv;
    size_t hl;
    for (size_t i = 0; src && rd_kafka_header_get_all(src, i, &hn, &hv, &hl) == 0; i++) {
        if (dlqr_strip_header(hn, strlen(hn))) continue;
        rd_kafka_header_add(x->hdrs, hn, -1, hv, hv ? (ssize_t)hl : -1);
    }
    const void *v = NULL, *rv = NULL, *ev = NULL;
    size_t n = 0, rn = 0, en = 0;
    if (src && rd_kafka_header_get_last(src, EDDY_REDRIVE_COUNT_HEADER, &v, &n) != 0) v = NULL;
    d->redrive_count = dlqr_redrive_count(v, n);
    if (src && rd_kafka_header_get_last(src, "x-dlq-reason", &rv, &rn) != 0) rv = NULL;
    if (src && rd_kafka_header_get_last(src, "x-dlq-error", &ev, &en) != 0) ev = NULL;

    dlqr_letter *l = &x->dl;
    dlqr_letter_parse(l, m->payload, m->len);
    dlqr_letter_defaults(l, r->dlq, rv, rn, ev, en);
    d->source_topic = l->source_topic;
    d->reason = l->reason;
    d->error = l->error;
    d->service = l->service;
    d->failed_at = l->failed_at;
    d->attempt_count = l->attempt_count;
    d->source_partition = l->source_partition;
    d->source_offset = l->source_offset;
    d->value = l->has_value ? l->value : NULL;
    d->value_len = l->value_len;
    d->value_exact = l->value_exact;
}

static void mark_add(run *r, const char *id)
{
    if (r->nmarks == r->capmarks) {
        r->capmarks = r->capmarks ? r->capmarks * 2 : 64;
        r->marks = sdk_xrealloc(r->marks, sizeof *r->marks * (size_t)r->capmarks);
    }
    r->marks[r->nmarks++] = sdk_xstrdup(id);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether d was redriven before (r->marks sorted). */
static int marked(const run *r, const eddy_dead_letter *d)
{
    char k[80];
    dlqr_marker_id(d->dlq_partition, d->dlq_offset, d->dlq_timestamp_ms, k);
    const char *key = k;
    return r->nmarks && bsearch(&key, r->marks, (size_t)r->nmarks, sizeof *r->marks, cmp_str);
}

/* Metadata of one topic: its partition count, 0 if it does not exist, < 0 on error. */
static int topic_parts(run *r, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(r->rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(r->rk, 0, t, &md, r->timeout_ms);
    rd_kafka_topic_destroy(t);
    if (e) {
        free(r->err);
        r->err = sdk_xasprintf("metadata of %s: %s", topic, rd_kafka_err2str(e));
        return EDDY_ERR_IO;
    }
    int n = 0;
    if (md->topic_cnt == 1 && !md->topics[0].err) n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

/* Reads every partition of topic from its low to its (start-time) high watermark; fn gets each
 * record. 0 or < 0 with r->err. */
static int read_topic(run *r, const char *topic, int nparts,
                      void (*fn)(run *, const rd_kafka_message_t *))
{
    int64_t *next = sdk_xcalloc((size_t)nparts, sizeof(int64_t));
    int64_t *high = sdk_xcalloc((size_t)nparts, sizeof(int64_t));
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    int rc = 0, left = 0;
    for (int p = 0; p < nparts; p++) {
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(r->rk, topic, p, &next[p], &high[p], r->timeout_ms);
        if (e) {
            r->err = sdk_xasprintf("watermarks of %s/%d: %s", topic, p, rd_kafka_err2str(e));
            rc = EDDY_ERR_IO;
            goto out;
        }
        if (next[p] < high[p]) {
            rd_kafka_topic_partition_list_add(l, topic, p)->offset = next[p];
            left++;
        }
    }
    if (!left) goto out;
    rd_kafka_resp_err_t e = rd_kafka_assign(r->rk, l);
    if (e) {
        r->err = sdk_xasprintf("assign %s: %s", topic, rd_kafka_err2str(e));
        rc = EDDY_ERR_IO;
        goto out;
    }
    int64_t idle = sdk_mono_us();
    while (left > 0) {
        if (r->o->stop && *r->o->stop) {
            r->err = sdk_xstrdup("stopped");
            rc = EDDY_ERR_TRANSIENT;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 200);
        if (!m) {
            if (sdk_mono_us() - idle > (int64_t)r->timeout_ms * 1000) {
                r->err =
                    sdk_xasprintf("reading %s: no progress within %d ms", topic, r->timeout_ms);
                rc = EDDY_ERR_IO;
                break;
            }
            continue;
        }
        idle = sdk_mono_us();
        int32_t p = m->partition;
        int mine = m->rkt && !strcmp(rd_kafka_topic_name(m->rkt), topic) && p >= 0 && p < nparts;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (mine && next[p] < high[p] && m->offset >= high[p]) left--;
            if (mine && m->offset > next[p]) next[p] = m->offset;
        } else if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__TRANSPORT &&
                m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
                r->err = sdk_xasprintf("reading %s: %s", topic, rd_kafka_message_errstr(m));
                rc = m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? EDDY_ERR_NOTFOUND
                                                                       : EDDY_ERR_IO;
                rd_kafka_message_destroy(m);
                break;
            }
        } else if (mine && next[p] < high[p]) {
            if (m->offset < high[p]) fn(r, m);
            next[p] = m->offset + 1;
            if (next[p] >= high[p]) left--;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(r->rk, NULL);
out:
    rd_kafka_topic_partition_list_destroy(l);
    free(next);
    free(high);
    return rc;
}

static void on_marker(run *r, const rd_kafka_message_t *m)
{
    /* a marker names its dead letter; a tombstone unmarks (dlqrule.h) */
    char id[80];
    int kind = dlqr_marker_read(m->key, m->key_len, m->payload, m->len, id);
    if (kind == 1) mark_add(r, id);
    for (int i = 0; kind == 2 && i < r->nmarks; i++)
        if (!strncmp(r->marks[i], id, strlen(id))) r->marks[i][0] = '-';
}

static void on_letter(run *r, const rd_kafka_message_t *m)
{
    r->l = sdk_xrealloc(r->l, sizeof *r->l * (size_t)(r->nl + 1));
    letter *x = &r->l[r->nl++];
    memset(x, 0, sizeof *x);
    letter_load(r, x, m);
    /* decided now, so that a large DLQ read for a narrow filter keeps no values it will not
     * move; the rest is classified once everything is read */
    x->outcome = (eddy_redrive_outcome)-1;
    dlqr_outcome o = dlqr_decide(filter_match(r->o->filter, &x->d), marked(r, &x->d), 0, 1, 0);
    if (o == DLQR_FILTERED || o == DLQR_ALREADY) x->outcome = (eddy_redrive_outcome)o;
    if ((int)x->outcome >= 0) {
        free(x->dl.value);
        x->dl.value = NULL;
        x->d.value = NULL;
        x->d.value_len = 0;
        rd_kafka_headers_destroy(x->hdrs);
        x->hdrs = NULL;
    }
}

/* ---- producing ------------------------------------------------------------------------------ */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    ack *a = m->_private;
    if (!a) return;
    a->err = m->err;
    a->partition = m->partition;
    a->offset = m->offset;
    a->done = m->err ? -1 : 1;
}

static rd_kafka_conf_t *conf_new(run *r, const char *bootstrap, int producer)
{
    char e[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char tmo[24];
    snprintf(tmo, sizeof tmo, "%d", r->timeout_ms);
    const char *pairs[] = {
        "bootstrap.servers", bootstrap, "log_level", "3",
        producer ? "enable.idempotence" : "enable.partition.eof", "true",
        producer ? "acks" : "enable.auto.commit", producer ? "all" : "false",
        producer ? "message.timeout.ms" : "group.id", producer ? tmo : "eddy-redrive",
        /* a parked Fetch would hold the metadata requests behind it */
        producer ? "linger.ms" : "fetch.wait.max.ms", producer ? "0" : "20", NULL};
    for (int i = 0; pairs[i]; i += 2)
        if (rd_kafka_conf_set(c, pairs[i], pairs[i + 1], e, sizeof e) != RD_KAFKA_CONF_OK)
            goto fail;
    for (int i = 0; r->o->rdkafka_conf && r->o->rdkafka_conf[i]; i++) {
        const char *kv = r->o->rdkafka_conf[i], *eq = strchr(kv, '=');
        if (!eq) {
            snprintf(e, sizeof e, "'%s' is not k=v", kv);
            goto fail;
        }
        char *k = sdk_xstrndup(kv, (size_t)(eq - kv));
        rd_kafka_conf_res_t res = rd_kafka_conf_set(c, k, eq + 1, e, sizeof e);
        free(k);
        if (res != RD_KAFKA_CONF_OK && !(res == RD_KAFKA_CONF_UNKNOWN && !producer)) goto fail;
    }
    if (producer) rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    return c;
fail:
    free(r->err);
    r->err = sdk_xasprintf("client configuration: %s", e);
    rd_kafka_conf_destroy(c);
    return NULL;
}

/* Sends without waiting (the delivery report fills a). 0, or < 0 with r->err; h is freed on
 * failure (librdkafka owns it on success). */
static int send_async(run *r, const char *topic, int32_t part, const void *key, size_t klen,
                      const void *val, size_t vlen, rd_kafka_headers_t *h, ack *a, const char *what)
{
    memset(a, 0, sizeof *a);
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(r->pk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, klen),
                              RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_HEADERS(h),
                              RD_KAFKA_V_OPAQUE(a), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(r->pk, 50);
            continue;
        }
        if (e) {
            if (h) rd_kafka_headers_destroy(h);
            free(r->err);
            r->err = sdk_xasprintf("%s: %s", what, rd_kafka_err2str(e));
            return EDDY_ERR_IO;
        }
        return 0;
    }
}

static int create_marker_topic(run *r, const char *topic)
{
    char e[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, 1, -1, e, sizeof e);
    if (!nt) {
        r->err = sdk_xasprintf("create %s: %s", topic, e);
        return EDDY_ERR_PERMANENT;
    }
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t *q = rd_kafka_queue_new(r->pk);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(r->pk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(o, r->timeout_ms, NULL, 0);
    rd_kafka_CreateTopics(r->pk, &nt, 1, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, r->timeout_ms + 2000);
    int rc = 0;
    if (!ev) {
        r->err = sdk_xasprintf("create %s: no answer", topic);
        rc = EDDY_ERR_IO;
    } else {
        size_t n = 0;
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        const rd_kafka_topic_result_t **tr =
            res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
        rd_kafka_resp_err_t te = rd_kafka_event_error(ev);
        if (!te && n == 1) te = rd_kafka_topic_result_error(tr[0]);
        if (te && te != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            r->err = sdk_xasprintf("create %s: %s", topic, rd_kafka_err2str(te));
            rc = EDDY_ERR_IO;
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

static void pace(run *r, int64_t t0_us, int64_t done)
{
    if (r->o->rate <= 0) return;
    int64_t due = t0_us + (int64_t)((double)done * 1e6 / r->o->rate);
    for (int64_t now = sdk_mono_us(); now < due && !(r->o->stop && *r->o->stop);
         now = sdk_mono_us()) {
        int64_t ms = (due - now) / 1000 + 1;
        sdk_sleep_ms(ms > 100 ? 100 : (int)ms);
    }
}

/* A letter on its way: stage 1 record sent, 2 its marker sent, 3 both acknowledged, -1 failed. */
static int send_record(run *r, letter *x)
{
    eddy_dead_letter *d = &x->d;
    char cnt[16];
    snprintf(cnt, sizeof cnt, "%d", d->redrive_count + 1);
    rd_kafka_headers_t *h = rd_kafka_headers_copy(x->hdrs);
    rd_kafka_header_add(h, EDDY_REDRIVE_COUNT_HEADER, -1, cnt, -1);
    char *what = sdk_xasprintf("redrive %s[%d]@%" PRId64 " to %s", r->dlq, (int)d->dlq_partition,
                               d->dlq_offset, d->to_topic);
    int rc = send_async(r, d->to_topic, d->to_partition, d->key, d->key_len, d->value, d->value_len,
                        h, &x->rec, what);
    free(what);
    x->stage = rc < 0 ? -1 : 1;
    return rc;
}

/* Only once its record is acknowledged: the marker of x. */
static int send_marker(run *r, letter *x, const char *marker_topic)
{
    if (sdk_fault_armed("redrive_crash_after_produce", NULL)) { /* tests: the worst moment */
        sdk_log("redrive", "fault switch: redrive_crash_after_produce, SIGKILL");
        kill(getpid(), SIGKILL);
    }
    eddy_dead_letter *d = &x->d;
    d->to_partition = x->rec.partition;
    d->to_offset = x->rec.offset;
    char ts[32];
    eddy_time_rfc3339(sdk_wall_ms(), ts);
    char *val =
        dlqr_marker_value(r->dlq, d->dlq_partition, d->dlq_offset, d->dlq_timestamp_ms, d->to_topic,
                          d->to_partition, d->to_offset, d->redrive_count + 1, ts);
    char key[48];
    dlqr_marker_key(d->dlq_partition, d->dlq_offset, key);
    char *what = sdk_xasprintf("marker %s on %s", key, marker_topic);
    int rc =
        send_async(r, marker_topic, 0, key, strlen(key), val, strlen(val), NULL, &x->mack, what);
    free(what);
    free(val);
    x->stage = rc < 0 ? -1 : 2;
    return rc;
}

/* Moves letters [from, to) on as their acknowledgements arrive: an acknowledged record gets its
 * marker, an acknowledged marker finishes the letter. 0, or < 0 (r->err: the first failure). */
static int advance(run *r, int from, int to, const char *marker_topic, int *inflight)
{
    int rc = 0;
    for (int i = from; i < to; i++) {
        letter *x = &r->l[i];
        if (x->stage == 1 && x->rec.done) {
            if (x->rec.done > 0 && send_marker(r, x, marker_topic) == 0) continue;
            (*inflight)--;
            if (x->stage == 1 && !rc) {
                free(r->err);
                r->err = sdk_xasprintf("redrive %s[%d]@%" PRId64 " to %s: %s", r->dlq,
                                       (int)x->d.dlq_partition, x->d.dlq_offset, x->d.to_topic,
                                       rd_kafka_err2str(x->rec.err));
            }
            x->stage = -1;
            rc = EDDY_ERR_IO;
        } else if (x->stage == 2 && x->mack.done) {
            (*inflight)--;
            x->stage = x->mack.done > 0 ? 3 : -1;
            if (x->stage < 0 && !rc) {
                free(r->err);
                r->err = sdk_xasprintf("marker of %s[%d]@%" PRId64 ": %s (the record was moved: "
                                       "the next redrive moves it again)",
                                       r->dlq, (int)x->d.dlq_partition, x->d.dlq_offset,
                                       rd_kafka_err2str(x->mack.err));
                rc = EDDY_ERR_IO;
            }
        }
    }
    return rc;
}

/* Reports letters from head on, in DLQ order, as far as they are finished (end: skipping the
 * ones that will not finish). Returns the new head. */
static int report(run *r, int head, int to, eddy_redrive_stats *s, int end)
{
    for (; head < to; head++) {
        letter *x = &r->l[head];
        if (x->outcome == EDDY_REDRIVE_MOVED && x->stage != 3) {
            if (!end) break;
            continue; /* failed or never sent: neither moved nor counted */
        }
        s->scanned++;
        switch (x->outcome) {
        case EDDY_REDRIVE_MOVED: s->moved++; break;
        case EDDY_REDRIVE_WOULD_MOVE: s->would_move++; break;
        case EDDY_REDRIVE_LOOP_GUARD: s->loop_guard++; break;
        case EDDY_REDRIVE_ALREADY: s->already_redriven++; break;
        default: s->filtered_out++;
        }
        if (!r->o->dry_run) count(r->dlq, x->outcome);
        if (r->o->fn) r->o->fn(&x->d, x->outcome, r->o->arg);
    }
    return head;
}

/* ---- redrive -------------------------------------------------------------------------------- */
static int fail(run *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(run *r, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(r->err);
    r->err = sdk_xvasprintf(fmt, ap);
    va_end(ap);
    return rc;
}

int eddy_dlq_redrive(const char *bootstrap, const char *dlq_topic, const eddy_redrive_opts *o,
                     eddy_redrive_stats *st, char **err)
{
    static const eddy_redrive_opts none = {0};
    run r = {0};
    r.dlq = dlq_topic;
    r.o = o ? o : &none;
    r.timeout_ms = r.o->timeout_ms > 0 ? r.o->timeout_ms : 30000;
    int max = r.o->max_redrives > 0 ? r.o->max_redrives : EDDY_REDRIVE_MAX_DEFAULT;
    eddy_redrive_stats s = {0};
    char *marker_topic = NULL;
    char e[512];
    int rc = 0;
    if (err) *err = NULL;
    if (!bootstrap || !*bootstrap || !dlq_topic || !*dlq_topic) {
        rc = fail(&r, EDDY_ERR_PERMANENT, "no bootstrap servers or no DLQ topic");
        goto out;
    }
    if (r.o->rate < 0) {
        rc = fail(&r, EDDY_ERR_PERMANENT, "the rate must be >= 0");
        goto out;
    }
    if (r.o->to && !*r.o->to) {
        rc = fail(&r, EDDY_ERR_PERMANENT, "empty target topic");
        goto out;
    }
    marker_topic = sdk_xasprintf("%s%s", dlq_topic, MARKER_SUFFIX);
    rd_kafka_conf_t *c = conf_new(&r, bootstrap, 0);
    if (!c) {
        rc = EDDY_ERR_PERMANENT;
        goto out;
    }
    if (!(r.rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, e, sizeof e))) {
        rc = fail(&r, EDDY_ERR_PERMANENT, "consumer: %s", e);
        goto out;
    }
    rd_kafka_poll_set_consumer(r.rk);

    int nparts = topic_parts(&r, dlq_topic);
    if (nparts < 0) {
        rc = nparts;
        goto out;
    }
    if (nparts == 0) {
        rc = fail(&r, EDDY_ERR_NOTFOUND, "no dead-letter topic '%s'", dlq_topic);
        goto out;
    }
    int to_parts = 0;
    if (r.o->to) {
        if ((to_parts = topic_parts(&r, r.o->to)) < 0) {
            rc = to_parts;
            goto out;
        }
        if (to_parts == 0) {
            rc = fail(&r, EDDY_ERR_NOTFOUND, "no target topic '%s'", r.o->to);
            goto out;
        }
    }
    int mparts = topic_parts(&r, marker_topic);
    if (mparts < 0 || (mparts > 0 && (rc = read_topic(&r, marker_topic, mparts, on_marker)) < 0)) {
        if (mparts < 0) rc = mparts;
        goto out;
    }
    if (r.nmarks) qsort(r.marks, (size_t)r.nmarks, sizeof *r.marks, cmp_str);
    if ((rc = read_topic(&r, dlq_topic, nparts, on_letter)) < 0) goto out;

    /* classify, then check every target before producing anything */
    for (int i = 0; i < r.nl; i++) {
        letter *x = &r.l[i];
        eddy_dead_letter *d = &x->d;
        const char *to = r.o->to ? r.o->to : d->source_topic;
        d->to_topic = own(x, 5, to);
        if ((int)x->outcome < 0) /* else filtered out or redriven before (on_letter) */
            x->outcome =
                (eddy_redrive_outcome)dlqr_decide(1, 0, d->redrive_count, max, r.o->dry_run);
        if (x->outcome != EDDY_REDRIVE_MOVED && x->outcome != EDDY_REDRIVE_WOULD_MOVE) continue;
        if (!to) {
            rc = fail(&r, EDDY_ERR_PERMANENT,
                      "%s[%d]@%" PRId64 " names no source topic: give a target topic", dlq_topic,
                      (int)d->dlq_partition, d->dlq_offset);
            goto out;
        }
        int n = r.o->to ? to_parts : -1;
        for (int j = 0; j < i && n < 0; j++) /* the same source topic as an earlier one */
            if (r.l[j].parts > 0 && !strcmp(r.l[j].d.to_topic, to)) n = r.l[j].parts;
        if (n < 0) n = topic_parts(&r, to);
        x->parts = n;
        if (n < 0) {
            rc = n;
            goto out;
        }
        if (n == 0) {
            rc = fail(&r, EDDY_ERR_NOTFOUND, "no source topic '%s' (of %s[%d]@%" PRId64 ")", to,
                      dlq_topic, (int)d->dlq_partition, d->dlq_offset);
            goto out;
        }
        /* back to its own partition (keeps per-key order whatever partitioner wrote it);
         * elsewhere the producer's partitioner decides by key */
        d->to_partition = !r.o->to && d->source_partition >= 0 && d->source_partition < n
                              ? d->source_partition
                              : RD_KAFKA_PARTITION_UA;
    }

    int moving = 0;
    for (int i = 0; i < r.nl; i++) moving += r.l[i].outcome == EDDY_REDRIVE_MOVED;
    if (moving) {
        if (!(c = conf_new(&r, bootstrap, 1))) {
            rc = EDDY_ERR_PERMANENT;
            goto out;
        }
        if (!(r.pk = rd_kafka_new(RD_KAFKA_PRODUCER, c, e, sizeof e))) {
            rc = fail(&r, EDDY_ERR_PERMANENT, "producer: %s", e);
            goto out;
        }
        if (mparts == 0 && (rc = create_marker_topic(&r, marker_topic)) < 0) goto out;
        /* warm the producer's metadata cache: an unknown topic costs its first produce ~1 s */
        const struct rd_kafka_metadata *pmd = NULL;
        if (rd_kafka_metadata(r.pk, 1, NULL, &pmd, r.timeout_ms) == 0)
            rd_kafka_metadata_destroy(pmd);
    }
    /* up to REDRIVE_WINDOW records in flight; per partition librdkafka's idempotent producer
     * keeps them in DLQ order, and a marker is sent only once its record is acknowledged */
    int64_t t0 = sdk_mono_us(), sent = 0;
    int head = 0, inflight = 0, i = 0;
    for (; i < r.nl && rc == 0; i++) {
        letter *x = &r.l[i];
        if (x->outcome == EDDY_REDRIVE_MOVED) {
            if (r.o->stop && *r.o->stop) {
                rc = fail(&r, EDDY_ERR_TRANSIENT, "stopped");
                break;
            }
            pace(&r, t0, sent);
            while (rc == 0 && inflight >= REDRIVE_WINDOW) {
                rd_kafka_poll(r.pk, 50);
                rc = advance(&r, head, i, marker_topic, &inflight);
            }
            if (rc < 0 || (rc = send_record(&r, x)) < 0) break;
            inflight++;
            sent++;
            rd_kafka_poll(r.pk, 0);
        }
        if (r.pk && (rc = advance(&r, head, i + 1, marker_topic, &inflight)) < 0) {
            i++;
            break;
        }
        head = report(&r, head, i + 1, &s, 0);
    }
    /* every record sent gets a delivery report within message.timeout.ms */
    int64_t idle = sdk_mono_us();
    while (inflight > 0) {
        int before = inflight;
        rd_kafka_poll(r.pk, 50);
        int ae = advance(&r, head, i, marker_topic, &inflight);
        if (ae < 0 && rc == 0) rc = ae;
        if (inflight != before) idle = sdk_mono_us();
        if (sdk_mono_us() - idle > (int64_t)(r.timeout_ms * 2 + 5000) * 1000) {
            if (rc == 0) rc = fail(&r, EDDY_ERR_IO, "no acknowledgement");
            break;
        }
    }
    report(&r, head, i, &s, 1);
out:
    if (r.rk) {
        rd_kafka_consumer_close(r.rk);
        rd_kafka_destroy(r.rk);
    }
    if (r.pk) {
        rd_kafka_flush(r.pk, r.timeout_ms);
        rd_kafka_destroy(r.pk);
    }
    for (int j = 0; j < r.nl; j++) letter_free(&r.l[j]);
    free(r.l);
    for (int j = 0; j < r.nmarks; j++) free(r.marks[j]);
    free(r.marks);
    free(marker_topic);
    if (st) *st = s;
    if (rc < 0 && err)
        *err = r.err ? r.err : sdk_xstrdup("redrive failed");
    else
        free(r.err);
    return rc;
}
