/* dlq.c — dead-letter redrive (include/eddy/dlq.h): reads `<topic>.dlq` to its end, recovers
 * each dead letter's original record (key, headers minus x-dlq-*, exact value bytes), applies
 * the filter, the loop guard (eddy-redrive-count) and the markers of `<dlq>.redriven`, checks
 * every target topic, then republishes with an idempotent acks=all producer (up to 256 records
 * in flight, each one's marker sent only once the record is acknowledged), paced by the rate
 * limit, reporting in DLQ order. Also the exact-value field libeddy's
 * DLQ writer adds (service.c) and the process-wide redrive counters. Part of src/sdk. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/dlq.h"
#include "internal.h"

#define MARKER_SUFFIX ".redriven"
#define REDRIVE_WINDOW 256 /* records in flight */

/* ---- base64 (RFC 4648, with padding) -------------------------------------------------------- */
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const unsigned char *p, size_t n)
{
    char *out = sdk_xmalloc((n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        *o++ = B64[v >> 18 & 63];
        *o++ = B64[v >> 12 & 63];
        *o++ = i + 1 < n ? B64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? B64[v & 63] : '=';
    }
    *o = 0;
    return out;
}

/* Decodes s (length n); NULL if it is not base64. */
static unsigned char *b64_decode(const char *s, size_t n, size_t *outlen)
{
    if (n % 4) return NULL;
    unsigned char *out = sdk_xmalloc(n / 4 * 3 + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            char c = s[i + j];
            const char *q = c ? strchr(B64, c) : NULL;
            if (c == '=' && i + 4 == n && j >= 2 && (j == 3 || s[i + 3] == '=')) {
                pad++;
                v <<= 6;
            } else if (q && !pad) {
                v = v << 6 | (uint32_t)(q - B64);
            } else {
                free(out);
                return NULL;
            }
        }
        out[k++] = (unsigned char)(v >> 16);
        if (pad < 2) out[k++] = (unsigned char)(v >> 8 & 255);
        if (pad < 1) out[k++] = (unsigned char)(v & 255);
    }
    *outlen = k;
    return out;
}

/* ---- the original value of a dead letter ---------------------------------------------------- */
/* What "originalEvent" gives back without "originalValueBase64": a string is the value itself (it
 * was not JSON), an object or array its compact JSON, null no value. malloc'd, or NULL (null). */
static char *value_from_original(const json_t *orig, size_t *len)
{
    if (json_is_string(orig)) {
        *len = json_string_length(orig);
        char *v = sdk_xmalloc(*len + 1);
        memcpy(v, json_string_value(orig), *len);
        v[*len] = 0;
        return v;
    }
    if (!orig || json_is_null(orig)) {
        *len = 0;
        return NULL;
    }
    char *v = json_dumps(orig, JSON_COMPACT | JSON_ENCODE_ANY);
    *len = v ? strlen(v) : 0;
    return v;
}

void sdk_dlq_keep_exact(json_t *o, const void *payload, size_t len)
{
    if (!payload) { /* no value at all (not an empty one) */
        json_object_set_new(o, "originalValueBase64", json_null());
        return;
    }
    char *b = b64_encode(payload, len);
    json_object_set_new(o, "originalValueBase64", json_string(b));
    free(b);
}

/* ---- filter --------------------------------------------------------------------------------- */
typedef enum { F_ERROR, F_REASON, F_SERVICE, F_TOPIC, F_KEY, F_PARTITION, F_OFFSET, F_TIME } fkind;

typedef struct fexpr {
    fkind kind;
    char *text;
    int64_t lo, hi; /* inclusive */
} fexpr;

struct eddy_dlq_filter {
    fexpr *x;
    int n;
};

eddy_dlq_filter *eddy_dlq_filter_new(void)
{
    return sdk_xcalloc(1, sizeof(eddy_dlq_filter));
}

void eddy_dlq_filter_free(eddy_dlq_filter *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) free(f->x[i].text);
    free(f->x);
    free(f);
}

/* A non-negative decimal integer filling s[0..n). */
static int parse_i64(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int parse_time(const char *s, size_t n, int64_t *out)
{
    if (parse_i64(s, n, out) == 0) return 0;
    char buf[64];
    if (n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    return eddy_time_parse_rfc3339(buf, out) == 0 ? 0 : -1;
}

/* "A..B", "A..", "..B" or "N" into [lo, hi]. */
static int parse_range(const char *s, int is_time, int64_t *lo, int64_t *hi)
{
    const char *dots = strstr(s, "..");
    int (*num)(const char *, size_t, int64_t *) = is_time ? parse_time : parse_i64;
    *lo = INT64_MIN;
    *hi = INT64_MAX;
    if (!dots) {
        if (num(s, strlen(s), lo) != 0) return -1;
        *hi = *lo;
        return 0;
    }
    size_t a = (size_t)(dots - s), b = strlen(dots + 2);
    if (a == 0 && b == 0) return -1;
    if (a && num(s, a, lo) != 0) return -1;
    if (b && num(dots + 2, b, hi) != 0) return -1;
    return *lo <= *hi ? 0 : -1;
}

int eddy_dlq_filter_add(eddy_dlq_filter *f, const char *expr, char **err)
{
    static const struct {
        const char *name;
        fkind kind;
    } names[] = {{"error", F_ERROR},   {"reason", F_REASON}, {"service", F_SERVICE},
                 {"topic", F_TOPIC},   {"key", F_KEY},       {"partition", F_PARTITION},
                 {"offset", F_OFFSET}, {"time", F_TIME}};
    const char *eq = expr ? strchr(expr, '=') : NULL;
    if (!eq) {
        *err = sdk_xasprintf("malformed filter '%s': expected NAME=VALUE (error, reason, service, "
                             "topic, key, partition, offset, time)",
                             expr ? expr : "");
        return EDDY_ERR_PERMANENT;
    }
    size_t nl = (size_t)(eq - expr);
    const char *val = eq + 1;
    int k = -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == nl && !strncmp(names[i].name, expr, nl)) k = (int)i;
    if (k < 0) {
        *err = sdk_xasprintf("malformed filter '%s': unknown field '%.*s' (error, reason, service, "
                             "topic, key, partition, offset, time)",
                             expr, (int)nl, expr);
        return EDDY_ERR_PERMANENT;
    }
    fexpr x = {names[k].kind, NULL, 0, 0};
    switch (x.kind) {
    case F_PARTITION:
        if (parse_i64(val, strlen(val), &x.lo) != 0 || x.lo > INT32_MAX) {
            *err = sdk_xasprintf("malformed filter '%s': partition wants a number", expr);
            return EDDY_ERR_PERMANENT;
        }
        x.hi = x.lo;
        break;
    case F_OFFSET:
    case F_TIME:
        if (parse_range(val, x.kind == F_TIME, &x.lo, &x.hi) != 0) {
            *err = sdk_xasprintf("malformed filter '%s': %s wants N, A..B, A.. or ..B%s", expr,
                                 x.kind == F_TIME ? "time" : "offset",
                                 x.kind == F_TIME ? " (RFC 3339 or epoch milliseconds)" : "");
            return EDDY_ERR_PERMANENT;
        }
        break;
    default:
        if (!*val && x.kind != F_KEY) {
            *err = sdk_xasprintf("malformed filter '%s': empty value", expr);
            return EDDY_ERR_PERMANENT;
        }
        x.text = sdk_xstrdup(val);
    }
    f->x = sdk_xrealloc(f->x, sizeof *f->x * (size_t)(f->n + 1));
    f->x[f->n++] = x;
    return 0;
}

static int has(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle);
}

static int filter_match(const eddy_dlq_filter *f, const eddy_dead_letter *d)
{
    for (int i = 0; f && i < f->n; i++) {
        const fexpr *x = &f->x[i];
        int ok;
        switch (x->kind) {
        case F_ERROR: ok = has(d->error, x->text); break;
        case F_REASON: ok = has(d->reason, x->text); break;
        case F_SERVICE: ok = d->service && !strcmp(d->service, x->text); break;
        case F_TOPIC: ok = d->source_topic && !strcmp(d->source_topic, x->text); break;
        case F_KEY:
            ok = d->key && d->key_len == strlen(x->text) && !memcmp(d->key, x->text, d->key_len);
            break;
        case F_PARTITION: ok = d->source_partition == x->lo; break;
        case F_OFFSET:
            ok = d->source_offset >= 0 && d->source_offset >= x->lo && d->source_offset <= x->hi;
            break;
        default: ok = d->dlq_timestamp_ms >= x->lo && d->dlq_timestamp_ms <= x->hi; break;
        }
        if (!ok) return 0;
    }
    return 1;
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
    switch (o) {
    case EDDY_REDRIVE_MOVED: return "moved";
    case EDDY_REDRIVE_WOULD_MOVE: return "would_move";
    case EDDY_REDRIVE_LOOP_GUARD: return "loop_guard";
    case EDDY_REDRIVE_ALREADY: return "already_redriven";
    default: return "filtered_out";
    }
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
    char *strs[6]; /* owned: source_topic, reason, error, service, failed_at, to_topic */
    void *key, *value;
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
    free(x->value);
    if (x->hdrs) rd_kafka_headers_destroy(x->hdrs);
}

static const char *own(letter *x, int i, const char *s)
{
    free(x->strs[i]);
    x->strs[i] = s ? sdk_xstrdup(s) : NULL;
    return x->strs[i];
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t jint(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

static char *hdr(rd_kafka_headers_t *h, const char *name)
{
    const void *v;
    size_t n;
    if (!h || rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v)
        return NULL;
    return sdk_xstrndup(v, n);
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
    d->source_partition = -1;
    d->source_offset = -1;
    d->attempt_count = -1;
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
        if (!strncmp(hn, "x-dlq-", 6) || !strcmp(hn, EDDY_REDRIVE_COUNT_HEADER)) continue;
        rd_kafka_header_add(x->hdrs, hn, -1, hv, hv ? (ssize_t)hl : -1);
    }
    char *rc = hdr(src, EDDY_REDRIVE_COUNT_HEADER);
    d->redrive_count = rc ? atoi(rc) : 0;
    if (d->redrive_count < 0) d->redrive_count = 0;
    free(rc);

    json_t *w = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
    const json_t *orig = json_object_get(w, "originalEvent");
    if (w && json_is_object(w) && orig) {
        d->source_topic = own(x, 0, jstr(w, "sourceTopic"));
        d->reason = own(x, 1, jstr(w, "reason"));
        d->error = own(x, 2, jstr(w, "error"));
        d->service = own(x, 3, jstr(w, "service"));
        d->failed_at = own(x, 4, jstr(w, "failedAt"));
        d->attempt_count = (int)jint(w, "attemptCount");
        int64_t p = jint(w, "sourcePartition");
        d->source_partition = p >= 0 && p <= INT32_MAX ? (int32_t)p : -1;
        d->source_offset = jint(w, "sourceOffset");
        const json_t *jb = json_object_get(w, "originalValueBase64");
        const char *b = json_string_value(jb);
        size_t n = 0;
        unsigned char *raw = b ? b64_decode(b, strlen(b), &n) : NULL;
        if (raw) {
            x->value = raw;
            d->value_len = n;
            d->value_exact = 1;
        } else if (json_is_null(jb)) { /* the failed record had no value */
            d->value_exact = 1;
        } else {
            /* written before the exact bytes were kept (or by another tool): the value again
             * from originalEvent, which is what it was unless its JSON was spaced otherwise */
            x->value = value_from_original(orig, &n);
            d->value_len = n;
        }
        d->value = x->value;
    } else {
        if (m->payload) {
            x->value = sdk_xmalloc(m->len + 1);
            memcpy(x->value, m->payload, m->len);
            d->value = x->value;
            d->value_len = m->len;
        }
        d->value_exact = 1;
    }
    json_decref(w);
    if (!d->reason) {
        char *s = hdr(src, "x-dlq-reason");
        d->reason = own(x, 1, s);
        free(s);
    }
    if (!d->error) {
        char *s = hdr(src, "x-dlq-error");
        d->error = own(x, 2, s);
        free(s);
    }
    if (!d->source_topic) {
        size_t n = strlen(r->dlq);
        if (n > 4 && !strcmp(r->dlq + n - 4, ".dlq")) {
            char *s = sdk_xstrndup(r->dlq, n - 4);
            d->source_topic = own(x, 0, s);
            free(s);
        }
    }
}

static void mark_add(run *r, int32_t p, int64_t off, int64_t ts)
{
    if (r->nmarks == r->capmarks) {
        r->capmarks = r->capmarks ? r->capmarks * 2 : 64;
        r->marks = sdk_xrealloc(r->marks, sizeof *r->marks * (size_t)r->capmarks);
    }
    r->marks[r->nmarks++] = sdk_xasprintf("%" PRId32 ":%" PRId64 "@%" PRId64, p, off, ts);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether d was redriven before (r->marks sorted). */
static int marked(const run *r, const eddy_dead_letter *d)
{
    char k[80];
    snprintf(k, sizeof k, "%" PRId32 ":%" PRId64 "@%" PRId64, d->dlq_partition, d->dlq_offset,
             d->dlq_timestamp_ms);
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
    /* value: {"dlqPartition":p,"dlqOffset":o,"dlqTimestamp":t,...}; a tombstone unmarks */
    json_t *v = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
    if (v) {
        int64_t p = jint(v, "dlqPartition"), o = jint(v, "dlqOffset"), t = jint(v, "dlqTimestamp");
        if (p >= 0 && o >= 0) mark_add(r, (int32_t)p, o, t);
        json_decref(v);
    } else if (!m->payload && m->key) {
        char k[64];
        snprintf(k, sizeof k, "%.*s@", (int)(m->key_len < 40 ? m->key_len : 40),
                 (const char *)m->key);
        for (int i = 0; i < r->nmarks; i++)
            if (!strncmp(r->marks[i], k, strlen(k))) r->marks[i][0] = '-';
    }
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
    if (!filter_match(r->o->filter, &x->d))
        x->outcome = EDDY_REDRIVE_FILTERED;
    else if (marked(r, &x->d))
        x->outcome = EDDY_REDRIVE_ALREADY;
    if ((int)x->outcome >= 0) {
        free(x->value);
        x->value = NULL;
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
    json_t *mv =
        json_pack("{s:s,s:i,s:I,s:I,s:s,s:i,s:I,s:i,s:s}", "dlqTopic", r->dlq, "dlqPartition",
                  (int)d->dlq_partition, "dlqOffset", (json_int_t)d->dlq_offset, "dlqTimestamp",
                  (json_int_t)d->dlq_timestamp_ms, "to", d->to_topic, "toPartition",
                  (int)d->to_partition, "toOffset", (json_int_t)d->to_offset, "redriveCount",
                  d->redrive_count + 1, "redrivenAt", ts);
    char *val = json_dumps(mv, JSON_COMPACT);
    json_decref(mv);
    char key[48];
    snprintf(key, sizeof key, "%" PRId32 ":%" PRId64, d->dlq_partition, d->dlq_offset);
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
        if ((int)x->outcome >= 0) /* filtered out or redriven before (on_letter) */
            ;
        else if (d->redrive_count >= max)
            x->outcome = EDDY_REDRIVE_LOOP_GUARD;
        else
            x->outcome = r.o->dry_run ? EDDY_REDRIVE_WOULD_MOVE : EDDY_REDRIVE_MOVED;
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
