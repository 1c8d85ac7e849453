/* push.c — eddy-push: HTTP push subscriptions for Kafka topics. A separate
 * process on librdkafka (works against eddyd and any Kafka cluster) with its own HTTP port:
 *
 *   POST   /v1/subscriptions                 register {"name","topics","group","url", ...}
 *   GET    /v1/subscriptions[/NAME]          list / one, with per-subscription stats
 *   POST   /v1/subscriptions/NAME/pause      stop delivering (in-flight requests finish)
 *   POST   /v1/subscriptions/NAME/resume
 *   DELETE /v1/subscriptions/NAME
 *   GET    /metrics, /healthz
 *
 * Each subscription runs in its own thread: a consumer in the subscription's group (manual
 * offset commits), a libcurl multi handle for the deliveries, and an acks=all producer for
 * <topic>.dlq. Records are queued per (topic, key): at most max_in_flight_per_key deliveries of
 * a key are outstanding (default 1, so a key's records arrive in order, a retrying record holds
 * back the ones behind it), while different keys go in parallel up to max_in_flight. A delivery
 * is an HTTP POST of the record value with CloudEvents binary-mode headers, signed with
 * HMAC-SHA256 over "<timestamp>.<body>" (Eddy-Timestamp / Eddy-Signature) when a secret is set.
 * 5xx, 408, 429, timeouts and connection failures are retried with exponential backoff and
 * jitter (at least Retry-After when the receiver sends one); other answers, or exhausting the
 * policy, send the record to <topic>.dlq with the last status and an excerpt of the body. A
 * partition's committed offset only moves past records that were delivered, dead-lettered
 * (after the DLQ write was acknowledged) or filtered out, so a restart re-delivers at most what
 * was in flight. Subscriptions are kept in <state-dir>/subscriptions.json and restarted with
 * the process. See docs/push.md.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/base64.h"
#include "common/log.h"
#include "common/util.h"

#define M "push"
#define BODY_EXCERPT 512
#define MAX_REQUEST_BODY (64 * 1024)

/* ---- subscriptions ----------------------------------------------------------------------------
 */

typedef struct sub {
    char *name, *group, *url, *secret;
    char **topics;
    int ntopics;
    char **types; /* filter on the event type (ce_type header), empty = all */
    int ntypes;
    json_t *hfilter; /* {"header": "value"} all must match, or NULL */
    int max_per_key, max_in_flight, max_buffered;
    int max_attempts, initial_ms, max_backoff_ms, timeout_ms;
    json_t *spec; /* as registered (persisted) */
    atomic_bool paused, stop;
    pthread_t th;
    int started;
    /* stats */
    _Atomic uint64_t delivered, failed, dead, filtered;
    _Atomic int64_t retrying, in_flight, buffered, oldest_ms;
    char last_error[256];
    pthread_mutex_t err_mu;
    struct sub *next;
} sub;

static struct {
    const char *bootstrap;
    const char *listen;
    char *state_dir;
    int session_timeout_ms;
} C = {.listen = "127.0.0.1:8086", .session_timeout_ms = 10000};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static sub *g_subs;
static volatile sig_atomic_t g_stop;

static void on_signal(int s)
{
    (void)s;
    g_stop = 1;
}

static void sub_set_error(sub *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sub_set_error(sub *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&s->err_mu);
    vsnprintf(s->last_error, sizeof(s->last_error), fmt, ap);
    pthread_mutex_unlock(&s->err_mu);
    va_end(ap);
}

/* ---- records, keys, partitions ------------------------------------------------------------ */

enum rstate { R_QUEUED, R_INFLIGHT, R_WAIT, R_DLQ, R_DONE };

typedef struct part part;
typedef struct keyq keyq;

typedef struct rec {
    part *p;
    keyq *kq;
    int64_t offset, ts_ms;
    void *key, *val;
    size_t klen, vlen;
    rd_kafka_headers_t *hdrs;
    enum rstate st;
    int attempts;
    int64_t next_ms;
    long last_status;
    char last_err[256];
    char body[BODY_EXCERPT + 1];
    size_t body_len;
    int64_t retry_after_ms;
    int dlq_retry, orphan;
    const char *dlq_reason;
    CURL *easy;
    struct curl_slist *hl;
    struct rec *pnext; /* partition FIFO (offset order) */
    struct rec *knext; /* key FIFO */
    struct rec *wnext; /* retry wait list */
} rec;

struct part {
    char *topic;
    int32_t partition;
    rec *head, *tail;
    int64_t commit_pos, committed; /* next offset to commit; last committed */
    part *next;
};

struct keyq {
    char *id; /* topic NUL key bytes, as a string key */
    size_t idlen;
    rec *head, *tail;
    int active;  /* records of this key in flight or waiting to retry */
    int ready;   /* on the ready list */
    keyq *hnext; /* hash chain */
    keyq *rnext; /* ready list */
};

#define KQ_BUCKETS 4096
#define EASY_POOL 256

typedef struct worker {
    sub *s;
    rd_kafka_t *rk, *dlq;
    CURLM *multi;
    part *parts;
    keyq *buckets[KQ_BUCKETS];
    keyq *ready_head, *ready_tail;
    rec *waiting;
    rec *orphans; /* in flight when their partition was revoked (linked by pnext) */
    int64_t in_flight, buffered;
    int consumer_paused;
    int64_t last_commit_ms;
    CURL *pool[EASY_POOL]; /* finished easy handles kept for the next deliveries */
    int npool;
} worker;

/* Easy handles are reused: creating and freeing one per delivery (its state and receive
 * buffer) was a fifth of eddy-push's CPU in malloc/free at 100 keys. Connections live in the
 * multi handle's cache either way (keep-alive to the receiver). */
static CURL *easy_get(worker *w)
{
    CURL *e = w->npool ? w->pool[--w->npool] : curl_easy_init();
    if (!e) abort();
    return e;
}

static void easy_put(worker *w, CURL *e)
{
    if (w->npool < EASY_POOL)
        w->pool[w->npool++] = e;
    else
        curl_easy_cleanup(e);
}

static uint64_t fnv(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static part *part_get(worker *w, const char *topic, int32_t partition)
{
    for (part *p = w->parts; p; p = p->next)
        if (p->partition == partition && !strcmp(p->topic, topic)) return p;
    part *p = xcalloc(1, sizeof(*p));
    p->topic = xstrdup(topic);
    p->partition = partition;
    p->commit_pos = p->committed = -1;
    p->next = w->parts;
    w->parts = p;
    return p;
}

static void ready_push(worker *w, keyq *k)
{
    if (k->ready) return;
    k->ready = 1;
    k->rnext = NULL;
    if (w->ready_tail)
        w->ready_tail->rnext = k;
    else
        w->ready_head = k;
    w->ready_tail = k;
}

static keyq *keyq_get(worker *w, const char *topic, const void *key, size_t klen, int64_t uniq)
{
    size_t tl = strlen(topic);
    /* a null key has no order to keep: every such record is its own queue */
    size_t n = tl + 1 + (key ? klen : 24);
    char *id = xmalloc(n + 1);
    memcpy(id, topic, tl);
    id[tl] = key ? 'k' : 'n';
    if (key)
        memcpy(id + tl + 1, key, klen);
    else
        snprintf(id + tl + 1, 24, "%023" PRId64, uniq);
    id[n] = 0;
    uint64_t h = fnv(id, n) % KQ_BUCKETS;
    for (keyq *k = w->buckets[h]; k; k = k->hnext)
        if (k->idlen == n && !memcmp(k->id, id, n)) {
            free(id);
            return k;
        }
    keyq *k = xcalloc(1, sizeof(*k));
    k->id = id;
    k->idlen = n;
    k->hnext = w->buckets[h];
    w->buckets[h] = k;
    return k;
}

static void keyq_maybe_free(worker *w, keyq *k)
{
    if (k->head || k->ready || k->active) return;
    uint64_t h = fnv(k->id, k->idlen) % KQ_BUCKETS;
    for (keyq **pp = &w->buckets[h]; *pp; pp = &(*pp)->hnext)
        if (*pp == k) {
            *pp = k->hnext;
            break;
        }
    free(k->id);
    free(k);
}

static void rec_free(rec *r)
{
    if (r->hdrs) rd_kafka_headers_destroy(r->hdrs);
    if (r->hl) curl_slist_free_all(r->hl);
    free(r->key);
    free(r->val);
    free(r);
}

static void stats_oldest(worker *w)
{
    int64_t oldest = 0;
    for (part *p = w->parts; p; p = p->next)
        if (p->head && (!oldest || p->head->ts_ms < oldest)) oldest = p->head->ts_ms;
    atomic_store(&w->s->oldest_ms, oldest);
    atomic_store(&w->s->buffered, w->buffered);
    atomic_store(&w->s->in_flight, w->in_flight);
}

/* Takes r out of its key's FIFO (it is usually the head). */
static void kq_remove(keyq *k, rec *r)
{
    rec **pp = &k->head, *prev = NULL;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->knext;
    }
    if (*pp) {
        *pp = r->knext;
        if (k->tail == r) k->tail = prev;
    }
}

/* A record is finished (delivered, dead-lettered or filtered): off its key queue; the
 * partition's commit position moves past every finished record at its head. */
static void rec_done(worker *w, rec *r)
{
    r->st = R_DONE;
    keyq *k = r->kq;
    if (k) {
        kq_remove(k, r);
        r->kq = NULL;
        if (k->head)
            ready_push(w, k);
        else
            keyq_maybe_free(w, k);
    }
    part *p = r->p;
    while (p->head && p->head->st == R_DONE) {
        rec *h = p->head;
        p->commit_pos = h->offset + 1;
        p->head = h->pnext;
        if (!p->head) p->tail = NULL;
        rec_free(h);
        w->buffered--;
    }
}

/* ---- deliveries ----------------------------------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    rec *r = ud;
    size_t n = size * nmemb, room = BODY_EXCERPT - r->body_len;
    size_t take = n < room ? n : room;
    memcpy(r->body + r->body_len, ptr, take);
    r->body_len += take;
    r->body[r->body_len] = 0;
    return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    rec *r = ud;
    size_t n = size * nitems;
    if (n > 12 && !strncasecmp(buf, "Retry-After:", 12)) {
        char v[128];
        size_t l = n - 12 < sizeof(v) - 1 ? n - 12 : sizeof(v) - 1;
        memcpy(v, buf + 12, l);
        v[l] = 0;
        char *s = v;
        while (*s == ' ' || *s == '\t') s++;
        s[strcspn(s, "\r\n")] = 0;
        char *end;
        long secs = strtol(s, &end, 10);
        if (end != s && !*end && secs >= 0) {
            r->retry_after_ms = (int64_t)secs * 1000;
        } else {
            time_t t = curl_getdate(s, NULL);
            if (t > 0) r->retry_after_ms = ((int64_t)t - time(NULL)) * 1000;
        }
        if (r->retry_after_ms < 0) r->retry_after_ms = 0;
        if (r->retry_after_ms > 3600 * 1000) r->retry_after_ms = 3600 * 1000;
    }
    return n;
}

static int header_get(rd_kafka_headers_t *h, const char *name, char *out, size_t outlen)
{
    const void *v;
    size_t n;
    if (!h || rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v)
        return -1;
    if (n >= outlen) n = outlen - 1;
    memcpy(out, v, n);
    out[n] = 0;
    return 0;
}

static int printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
    return 1;
}

static void hl_add(rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hl_add(rec *r, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0) abort();
    if ((size_t)n < sizeof(buf)) {
        r->hl = curl_slist_append(r->hl, buf); /* copies */
        return;
    }
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) abort();
    va_end(ap);
    r->hl = curl_slist_append(r->hl, s);
    free(s);
}

static void rfc3339(int64_t ms, char out[40])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%03dZ", (int)(ms % 1000));
}

/* The event type of a record: its ce_type header (the SDK's envelope), else x-event-type. */
static int rec_type(const rec *r, char *out, size_t n)
{
    if (!header_get(r->hdrs, "ce_type", out, n)) return 0;
    if (!header_get(r->hdrs, "x-event-type", out, n)) return 0;
    return -1;
}

static void delivery_start(worker *w, rec *r)
{
    sub *s = w->s;
    r->attempts++;
    r->st = R_INFLIGHT;
    r->body_len = 0;
    r->body[0] = 0;
    r->retry_after_ms = -1;
    if (r->hl) curl_slist_free_all(r->hl);
    r->hl = NULL;
    CURL *e = r->easy ? r->easy : easy_get(w);
    curl_easy_reset(e);
    r->easy = e;
    /* CloudEvents binary mode: ce_* record headers become ce-* HTTP headers */
    int have[5] = {0};
    static const char *const ce_req[5] = {"specversion", "id", "source", "type", "time"};
    char ctype[256] = "application/json";
    size_t idx = 0;
    const char *name;
    const void *val;
    size_t vlen;
    while (r->hdrs && !rd_kafka_header_get_all(r->hdrs, idx++, &name, &val, &vlen)) {
        if (!val || !printable(val, vlen) || vlen > 4096) continue;
        if (!strcasecmp(name, "content-type")) {
            snprintf(ctype, sizeof(ctype), "%.*s", (int)vlen, (const char *)val);
            continue;
        }
        if (!strncmp(name, "ce_", 3) && printable(name, strlen(name))) {
            for (int i = 0; i < 5; i++)
                if (!strcmp(name + 3, ce_req[i])) have[i] = 1;
            hl_add(r, "ce-%s: %.*s", name + 3, (int)vlen, (const char *)val);
        }
    }
    char ts[40];
    rfc3339(r->ts_ms, ts);
    if (!have[0]) hl_add(r, "ce-specversion: 1.0");
    if (!have[1])
        hl_add(r, "ce-id: %s-%" PRId32 "-%" PRId64, r->p->topic, r->p->partition, r->offset);
    if (!have[2]) hl_add(r, "ce-source: /topics/%s", r->p->topic);
    if (!have[3]) hl_add(r, "ce-type: eddy.record");
    if (!have[4]) hl_add(r, "ce-time: %s", ts);
    if (r->key && printable(r->key, r->klen) && r->klen <= 1024)
        hl_add(r, "ce-partitionkey: %.*s", (int)r->klen, (const char *)r->key);
    hl_add(r, "Content-Type: %s", ctype);
    hl_add(r, "Eddy-Subscription: %s", s->name);
    hl_add(r, "Eddy-Delivery-Attempt: %d", r->attempts);
    hl_add(r, "Eddy-Topic: %s", r->p->topic);
    hl_add(r, "Eddy-Partition: %" PRId32, r->p->partition);
    hl_add(r, "Eddy-Offset: %" PRId64, r->offset);
    long long now_s = (long long)time(NULL);
    hl_add(r, "Eddy-Timestamp: %lld", now_s);
    if (s->secret) {
        /* HMAC-SHA256(secret, "<timestamp>.<body>"), hex */
        char pre[32];
        int pl = snprintf(pre, sizeof(pre), "%lld.", now_s);
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int maclen = 0;
        size_t total = (size_t)pl + r->vlen;
        unsigned char *msg = xmalloc(total ? total : 1);
        memcpy(msg, pre, (size_t)pl);
        if (r->vlen) memcpy(msg + pl, r->val, r->vlen);
        HMAC(EVP_sha256(), s->secret, (int)strlen(s->secret), msg, total, mac, &maclen);
        free(msg);
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        for (unsigned i = 0; i < maclen; i++) snprintf(hex + 2 * i, 3, "%02x", mac[i]);
        hl_add(r, "Eddy-Signature: v1=%s", hex);
    }
    hl_add(r, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, s->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->val ? (char *)r->val : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->vlen);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hl);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(s->timeout_ms < 5000 ? s->timeout_ms : 5000));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "eddy-push/0.1");
    curl_multi_add_handle(w->multi, e);
    w->in_flight++;
}

/* The DLQ write was acknowledged (or failed: then the record stays and is tried again). */
static void on_dlq_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    worker *w = opaque;
    rec *r = m->_private;
    if (!r) return;
    if (r->orphan) { /* its partition was revoked meanwhile */
        rec_free(r);
        return;
    }
    /* a report without an offset is librdkafka's idempotent "implicit ack" (a failed request
     * inferred as stored from a later one): a cluster that does not check sequences may not
     * have it, so it counts as not written, as libeddy's relay does */
    if (m->err || m->offset < 0) {
        LOGW(M, "%s: DLQ write failed (%s); will retry it", w->s->name,
             m->err ? rd_kafka_err2str(m->err) : "delivered without an offset");
        r->st = R_WAIT;
        r->dlq_retry = 1;
        r->next_ms = now_mono_ms() + 1000;
        r->wnext = w->waiting;
        w->waiting = r;
        return;
    }
    atomic_fetch_add(&w->s->dead, 1);
    r->kq->active--;
    rec_done(w, r);
}

static void dead_letter(worker *w, rec *r, const char *reason)
{
    sub *s = w->s;
    r->st = R_DLQ;
    r->dlq_reason = reason;
    char *dlq = xasprintf("%s.dlq", r->p->topic);
    json_t *o = json_object();
    json_t *orig = r->val ? json_loadb(r->val, r->vlen, 0, NULL) : NULL;
    if (!orig) orig = r->val ? json_stringn(r->val, r->vlen) : json_null();
    if (!orig) orig = json_string("<not valid UTF-8>");
    char status[16], ts[40];
    snprintf(status, sizeof(status), "%ld", r->last_status);
    rfc3339(now_wall_ms(), ts);
    json_t *body = json_stringn(r->body, r->body_len);
    json_object_set_new(o, "originalEvent", orig);
    json_object_set_new(o, "error", json_string(r->last_err));
    json_object_set_new(o, "reason", json_string(reason));
    json_object_set_new(o, "failedAt", json_string(ts));
    json_object_set_new(o, "attemptCount", json_integer(r->attempts));
    json_object_set_new(o, "service", json_string("eddy-push"));
    json_object_set_new(o, "subscription", json_string(s->name));
    json_object_set_new(o, "url", json_string(s->url));
    json_object_set_new(o, "lastStatus", json_integer(r->last_status));
    json_object_set_new(o, "lastResponseBody", body ? body : json_string("<not valid UTF-8>"));
    json_object_set_new(o, "sourceTopic", json_string(r->p->topic));
    json_object_set_new(o, "sourcePartition", json_integer(r->p->partition));
    json_object_set_new(o, "sourceOffset", json_integer(r->offset));
    /* the exact bytes, for `eddy dlq redrive` (docs/sdk.md, "Dead-letter redrive") */
    char *exact = r->val ? b64_encode_alloc(r->val, r->vlen, false) : NULL;
    json_object_set_new(o, "originalValueBase64", exact ? json_string(exact) : json_null());
    free(exact);
    char *v = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    rd_kafka_headers_t *h = r->hdrs ? rd_kafka_headers_copy(r->hdrs) : rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "x-dlq-reason", -1, reason, -1);
    rd_kafka_header_add(h, "x-dlq-error", -1, r->last_err, -1);
    rd_kafka_header_add(h, "x-dlq-status", -1, status, -1);
    rd_kafka_header_add(h, "x-dlq-subscription", -1, s->name, -1);
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            w->dlq, RD_KAFKA_V_TOPIC(dlq), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(r->key, r->klen), RD_KAFKA_V_VALUE(v, strlen(v)), RD_KAFKA_V_HEADERS(h),
            RD_KAFKA_V_OPAQUE(r), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(w->dlq, 50);
            continue;
        }
        if (e) {
            rd_kafka_headers_destroy(h);
            LOGW(M, "%s: cannot produce to %s: %s", s->name, dlq, rd_kafka_err2str(e));
            r->st = R_WAIT;
            r->dlq_retry = 1;
            r->next_ms = now_mono_ms() + 1000;
            r->wnext = w->waiting;
            w->waiting = r;
        }
        break;
    }
    LOGI(M, "%s: %s[%" PRId32 "]@%" PRId64 " to %s after %d attempt(s): %s", s->name, r->p->topic,
         r->p->partition, r->offset, dlq, r->attempts, r->last_err);
    free(v);
    free(dlq);
}

/* The record of the next finished transfer of w (NULL: none finished now); its result in *cc. */
static rec *next_done(worker *w, CURLcode *cc)
{
    CURLMsg *cm;
    int left;
    while ((cm = curl_multi_info_read(w->multi, &left)))
        if (cm->msg == CURLMSG_DONE) {
            rec *r = NULL;
            curl_easy_getinfo(cm->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            *cc = cm->data.result;
            return r;
        }
    return NULL;
}

/* r's transfer is over: off the multi handle, its easy handle back to the pool. */
static void transfer_end(worker *w, rec *r)
{
    w->in_flight--;
    curl_multi_remove_handle(w->multi, r->easy);
    easy_put(w, r->easy);
    r->easy = NULL;
}

static void delivery_done(worker *w, rec *r, CURLcode cc)
{
    sub *s = w->s;
    w->in_flight--;
    curl_multi_remove_handle(w->multi, r->easy);
    long status = 0;
    if (cc == CURLE_OK) curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    r->last_status = status;
    if (cc == CURLE_OK && status >= 200 && status < 300) {
        atomic_fetch_add(&s->delivered, 1);
        easy_put(w, r->easy);
        r->easy = NULL;
        r->kq->active--;
        rec_done(w, r);
        return;
    }
    atomic_fetch_add(&s->failed, 1);
    int retryable;
    if (cc != CURLE_OK) {
        snprintf(r->last_err, sizeof(r->last_err), "%s", curl_easy_strerror(cc));
        retryable = 1;
    } else {
        snprintf(r->last_err, sizeof(r->last_err), "HTTP %ld", status);
        retryable = status >= 500 || status == 408 || status == 429;
    }
    sub_set_error(s, "%s[%d]@%" PRId64 ": %s", r->p->topic, (int)r->p->partition, r->offset,
                  r->last_err);
    easy_put(w, r->easy);
    r->easy = NULL;
    if (!retryable) {
        dead_letter(w, r, "permanent");
        return;
    }
    if (r->attempts >= s->max_attempts) {
        dead_letter(w, r, "retries_exhausted");
        return;
    }
    /* exponential backoff with equal jitter, never sooner than Retry-After */
    int64_t base = s->initial_ms;
    for (int i = 1; i < r->attempts && base < s->max_backoff_ms; i++) base *= 2;
    if (base > s->max_backoff_ms) base = s->max_backoff_ms;
    uint32_t rnd;
    rand_bytes(&rnd, sizeof(rnd));
    int64_t delay = base / 2 + (base > 1 ? (int64_t)(rnd % (uint32_t)(base / 2 + 1)) : 0);
    if (r->retry_after_ms > delay) delay = r->retry_after_ms;
    r->st = R_WAIT;
    r->next_ms = now_mono_ms() + delay;
    r->wnext = w->waiting;
    w->waiting = r;
    atomic_fetch_add(&s->retrying, 1);
}

/* Starts what may start: per key, up to max_per_key outstanding records; overall up to
 * max_in_flight. */
static void dispatch(worker *w)
{
    sub *s = w->s;
    if (atomic_load(&s->paused) || atomic_load(&s->stop)) return;
    while (w->ready_head && w->in_flight < s->max_in_flight) {
        keyq *k = w->ready_head;
        w->ready_head = k->rnext;
        if (!w->ready_head) w->ready_tail = NULL;
        k->ready = 0;
        for (rec *r = k->head; r && k->active < s->max_per_key && w->in_flight < s->max_in_flight;
             r = r->knext) {
            if (r->st != R_QUEUED) continue;
            k->active++;
            delivery_start(w, r);
        }
        /* more of this key can start later when capacity frees up */
        if (k->active < s->max_per_key) {
            for (rec *r = k->head; r; r = r->knext)
                if (r->st == R_QUEUED) {
                    ready_push(w, k);
                    break;
                }
        }
        if (!k->ready) keyq_maybe_free(w, k);
    }
}

static void retries_due(worker *w)
{
    int64_t now = now_mono_ms();
    int paused = atomic_load(&w->s->paused);
    rec **pp = &w->waiting;
    while (*pp) {
        rec *r = *pp;
        if (r->next_ms > now ||
            (!r->dlq_retry && (paused || w->in_flight >= w->s->max_in_flight))) {
            pp = &r->wnext;
            continue;
        }
        *pp = r->wnext;
        if (r->dlq_retry) { /* a DLQ write that failed is tried again as a DLQ write */
            r->dlq_retry = 0;
            dead_letter(w, r, r->dlq_reason);
            continue;
        }
        atomic_fetch_sub(&w->s->retrying, 1);
        delivery_start(w, r);
    }
}

/* ---- consumer ----------------------------------------------------------------------------- */

static int accept_record(const sub *s, const rec *r)
{
    if (s->ntypes) {
        char t[256];
        if (rec_type(r, t, sizeof(t))) return 0;
        int ok = 0;
        for (int i = 0; i < s->ntypes; i++)
            if (!strcmp(s->types[i], t)) ok = 1;
        if (!ok) return 0;
    }
    if (s->hfilter) {
        const char *k;
        json_t *v;
        json_object_foreach(s->hfilter, k, v)
        {
            char got[1024];
            if (header_get(r->hdrs, k, got, sizeof(got)) || strcmp(got, json_string_value(v)))
                return 0;
        }
    }
    return 1;
}

static void on_record(worker *w, rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    part *p = part_get(w, topic, m->partition);
    if (p->tail && m->offset <= p->tail->offset) return; /* seen (after a seek) */
    rec *r = xcalloc(1, sizeof(*r));
    r->p = p;
    r->offset = m->offset;
    rd_kafka_timestamp_type_t tt;
    r->ts_ms = rd_kafka_message_timestamp(m, &tt);
    if (r->ts_ms <= 0) r->ts_ms = now_wall_ms();
    if (m->key) {
        r->key = xmalloc(m->key_len ? m->key_len : 1);
        memcpy(r->key, m->key, m->key_len);
        r->klen = m->key_len;
    }
    if (m->payload) {
        r->val = xmalloc(m->len + 1);
        memcpy(r->val, m->payload, m->len);
        ((char *)r->val)[m->len] = 0;
        r->vlen = m->len;
    }
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h)
        r->hdrs = rd_kafka_headers_copy(h);
    if (p->tail)
        p->tail->pnext = r;
    else
        p->head = r;
    p->tail = r;
    w->buffered++;
    if (!accept_record(w->s, r)) {
        atomic_fetch_add(&w->s->filtered, 1);
        rec_done(w, r);
        return;
    }
    keyq *k = keyq_get(w, topic, r->key, r->klen, r->offset ^ ((int64_t)m->partition << 48));
    r->kq = k;
    if (k->tail)
        k->tail->knext = r;
    else
        k->head = r;
    k->tail = r;
    ready_push(w, k);
}

static void commit(worker *w, int sync)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (part *p = w->parts; p; p = p->next)
        if (p->commit_pos > p->committed) {
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->commit_pos;
            p->committed = p->commit_pos;
        }
    if (l->cnt) {
        rd_kafka_resp_err_t e = rd_kafka_commit(w->rk, l, sync ? 0 : 1);
        if (e && sync) LOGW(M, "%s: commit: %s", w->s->name, rd_kafka_err2str(e));
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void kq_unlink(worker *w, rec *r)
{
    keyq *k = r->kq;
    if (!k) return;
    kq_remove(k, r);
    if (r->st == R_INFLIGHT || r->st == R_DLQ || r->st == R_WAIT) k->active--;
    r->kq = NULL;
    keyq_maybe_free(w, k);
}

/* Forgets a revoked partition's records: its next owner delivers them again from the last
 * commit. Requests and DLQ writes in progress finish as orphans whose results are dropped. */
static void part_forget(worker *w, part *p)
{
    rec *r = p->head;
    while (r) {
        rec *next = r->pnext;
        kq_unlink(w, r);
        if (r->st == R_WAIT) {
            for (rec **pp = &w->waiting; *pp; pp = &(*pp)->wnext)
                if (*pp == r) {
                    *pp = r->wnext;
                    break;
                }
            if (!r->dlq_retry) atomic_fetch_sub(&w->s->retrying, 1);
        }
        if (r->st == R_INFLIGHT || (r->st == R_DLQ && !r->dlq_retry)) {
            r->orphan = 1;
            r->pnext = w->orphans;
            w->orphans = r;
        } else {
            rec_free(r);
        }
        w->buffered--;
        r = next;
    }
    p->head = p->tail = NULL;
    p->commit_pos = p->committed = -1;
}

static void orphan_free(worker *w, rec *r)
{
    for (rec **pp = &w->orphans; *pp; pp = &(*pp)->pnext)
        if (*pp == r) {
            *pp = r->pnext;
            break;
        }
    rec_free(r);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    worker *w = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        LOGI(M, "%s: assigned %d partition(s)", w->s->name, parts->cnt);
        rd_kafka_assign(rk, parts);
        if (w->consumer_paused || atomic_load(&w->s->paused)) rd_kafka_pause_partitions(rk, parts);
    } else {
        commit(w, 1);
        for (int i = 0; i < parts->cnt; i++) {
            part *p = part_get(w, parts->elems[i].topic, parts->elems[i].partition);
            part_forget(w, p);
        }
        rd_kafka_assign(rk, NULL);
    }
}

static void set_consumer_paused(worker *w, int paused)
{
    if (w->consumer_paused == paused) return;
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(w->rk, &a) == RD_KAFKA_RESP_ERR_NO_ERROR && a) {
        if (paused)
            rd_kafka_pause_partitions(w->rk, a);
        else
            rd_kafka_resume_partitions(w->rk, a);
        rd_kafka_topic_partition_list_destroy(a);
    }
    w->consumer_paused = paused;
}

static rd_kafka_t *kafka_new(worker *w, rd_kafka_type_t type)
{
    sub *s = w->s;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256], sto[32];
    snprintf(sto, sizeof(sto), "%d", C.session_timeout_ms);
    const char *common[][2] = {{"bootstrap.servers", C.bootstrap}, {"client.id", "eddy-push"}};
    for (size_t i = 0; i < ARRAY_LEN(common); i++)
        rd_kafka_conf_set(conf, common[i][0], common[i][1], err, sizeof(err));
    if (type == RD_KAFKA_CONSUMER) {
        const char *set[][2] = {{"group.id", s->group},
                                {"enable.auto.commit", "false"},
                                {"enable.auto.offset.store", "false"},
                                {"auto.offset.reset", "earliest"},
                                {"session.timeout.ms", sto},
                                {"heartbeat.interval.ms", "1000"},
                                {"max.poll.interval.ms", "86400000"},
                                {"topic.metadata.refresh.interval.ms", "5000"}};
        for (size_t i = 0; i < ARRAY_LEN(set); i++)
            if (rd_kafka_conf_set(conf, set[i][0], set[i][1], err, sizeof(err)))
                LOGW(M, "consumer %s: %s", set[i][0], err);
        rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    } else {
        const char *set[][2] = {
            {"acks", "all"}, {"enable.idempotence", "true"}, {"linger.ms", "5"}};
        for (size_t i = 0; i < ARRAY_LEN(set); i++)
            rd_kafka_conf_set(conf, set[i][0], set[i][1], err, sizeof(err));
        rd_kafka_conf_set_dr_msg_cb(conf, on_dlq_delivery);
    }
    rd_kafka_conf_set_opaque(conf, w);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (!rk) LOGE(M, "%s: %s", s->name, err);
    return rk;
}

static void *sub_thread(void *arg)
{
    sub *s = arg;
    worker *w = xcalloc(1, sizeof(*w));
    w->s = s;
    w->rk = kafka_new(w, RD_KAFKA_CONSUMER);
    w->dlq = kafka_new(w, RD_KAFKA_PRODUCER);
    w->multi = curl_multi_init();
    if (!w->rk || !w->dlq) {
        sub_set_error(s, "cannot create Kafka clients");
        goto out;
    }
    curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)s->max_in_flight);
    rd_kafka_poll_set_consumer(w->rk);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(s->ntopics);
    for (int i = 0; i < s->ntopics; i++)
        rd_kafka_topic_partition_list_add(tl, s->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(w->rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (e) {
        sub_set_error(s, "subscribe: %s", rd_kafka_err2str(e));
        goto out;
    }
    LOGI(M, "subscription %s: %d topic(s) → %s (group %s)", s->name, s->ntopics, s->url, s->group);
    while (!atomic_load(&s->stop) && !g_stop) {
        int paused = atomic_load(&s->paused);
        set_consumer_paused(w, paused || w->buffered >= s->max_buffered);
        int busy = w->in_flight > 0 || w->ready_head;
        /* take what the consumer has; block briefly only when there is nothing else to do */
        for (int i = 0; i < 1000; i++) {
            rd_kafka_message_t *m =
                rd_kafka_consumer_poll(w->rk, (i == 0 && !busy && !w->waiting) ? 20 : 0);
            if (!m) break;
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    sub_set_error(s, "consumer: %s", rd_kafka_message_errstr(m));
            } else {
                on_record(w, m);
            }
            rd_kafka_message_destroy(m);
            if (w->buffered >= s->max_buffered) break;
        }
        retries_due(w);
        dispatch(w);
        if (w->in_flight > 0) {
            int still;
            curl_multi_perform(w->multi, &still);
            curl_multi_poll(w->multi, NULL, 0, w->ready_head ? 0 : 5, NULL);
            curl_multi_perform(w->multi, &still);
            CURLcode cc;
            for (rec *r; (r = next_done(w, &cc));) {
                if (r->orphan) { /* the partition moved on; drop the answer */
                    transfer_end(w, r);
                    orphan_free(w, r);
                    continue;
                }
                delivery_done(w, r, cc);
            }
        } else if (w->waiting && !w->ready_head) {
            usleep(2000);
        }
        rd_kafka_poll(w->dlq, 0);
        int64_t now = now_mono_ms();
        if (now - w->last_commit_ms >= 100) {
            commit(w, 0);
            w->last_commit_ms = now;
        }
        stats_oldest(w);
    }
    /* stopping: let in-flight requests finish (bounded), then commit what is done */
    for (int i = 0; i < 200 && w->in_flight > 0; i++) {
        int still;
        curl_multi_perform(w->multi, &still);
        curl_multi_poll(w->multi, NULL, 0, 50, NULL);
        CURLcode cc;
        for (rec *r; (r = next_done(w, &cc));) {
            long st = 0;
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &st);
            transfer_end(w, r);
            if (r->orphan) {
                orphan_free(w, r);
            } else if (cc == CURLE_OK && st >= 200 && st < 300) {
                atomic_fetch_add(&s->delivered, 1);
                r->kq->active--;
                rec_done(w, r);
            }
        }
    }
    rd_kafka_flush(w->dlq, 5000);
    rd_kafka_poll(w->dlq, 0);
    commit(w, 1);
out:
    if (w->rk) {
        rd_kafka_consumer_close(w->rk);
        rd_kafka_destroy(w->rk);
    }
    if (w->dlq) rd_kafka_destroy(w->dlq);
    /* free what is left */
    for (rec *r = w->orphans, *rn; r; r = rn) {
        rn = r->pnext;
        if (r->easy) {
            curl_multi_remove_handle(w->multi, r->easy);
            curl_easy_cleanup(r->easy);
        }
        rec_free(r);
    }
    for (part *p = w->parts, *pn; p; p = pn) {
        pn = p->next;
        for (rec *r = p->head, *rn; r; r = rn) {
            rn = r->pnext;
            if (r->easy) {
                curl_multi_remove_handle(w->multi, r->easy);
                curl_easy_cleanup(r->easy);
            }
            rec_free(r);
        }
        free(p->topic);
        free(p);
    }
    for (int i = 0; i < KQ_BUCKETS; i++)
        for (keyq *k = w->buckets[i], *kn; k; k = kn) {
            kn = k->hnext;
            free(k->id);
            free(k);
        }
    while (w->npool) curl_easy_cleanup(w->pool[--w->npool]);
    curl_multi_cleanup(w->multi);
    free(w);
    return NULL;
}

/* ---- subscription registry ------------------------------------------------------------------ */

static char *state_path(void)
{
    return xasprintf("%s/subscriptions.json", C.state_dir);
}

/* Writes every subscription (spec + paused) atomically. Call with g_mu held. */
static void persist(void)
{
    json_t *a = json_array();
    for (sub *s = g_subs; s; s = s->next) {
        json_t *o = json_deep_copy(s->spec);
        json_object_set_new(o, "paused", json_boolean(atomic_load(&s->paused)));
        json_array_append_new(a, o);
    }
    json_t *root = json_pack("{s:o}", "subscriptions", a);
    char *txt = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    char *p = state_path();
    if (write_file_atomic(p, txt, strlen(txt))) LOGE(M, "cannot write %s: %s", p, strerror(errno));
    free(p);
    free(txt);
}

static sub *sub_find(const char *name)
{
    for (sub *s = g_subs; s; s = s->next)
        if (!strcmp(s->name, name)) return s;
    return NULL;
}

static void sub_free(sub *s)
{
    free(s->name);
    free(s->group);
    free(s->url);
    free(s->secret);
    for (int i = 0; i < s->ntopics; i++) free(s->topics[i]);
    free(s->topics);
    for (int i = 0; i < s->ntypes; i++) free(s->types[i]);
    free(s->types);
    json_decref(s->hfilter);
    json_decref(s->spec);
    pthread_mutex_destroy(&s->err_mu);
    free(s);
}

static int get_int(json_t *o, const char *k, int def, int lo, int hi, int *out, char *err,
                   size_t errlen)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(err, errlen, "\"%s\" must be an integer from %d to %d", k, lo, hi);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 100) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

/* Validates a registration body into a new (not started) subscription. NULL + err on bad
 * input. */
static sub *sub_from_json(json_t *j, char *err, size_t errlen)
{
    if (!json_is_object(j)) {
        snprintf(err, errlen, "the body must be a JSON object");
        return NULL;
    }
    static const char *const known[] = {
        "name",          "topics", "group",  "url",    "secret",      "max_in_flight_per_key",
        "max_in_flight", "retry",  "filter", "paused", "max_buffered"};
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        int ok = 0;
        for (size_t i = 0; i < ARRAY_LEN(known); i++)
            if (!strcmp(k, known[i])) ok = 1;
        if (!ok) {
            snprintf(err, errlen, "unknown field \"%s\"", k);
            return NULL;
        }
    }
    const char *name = json_string_value(json_object_get(j, "name"));
    const char *url = json_string_value(json_object_get(j, "url"));
    json_t *topics = json_object_get(j, "topics");
    if (!name || !valid_name(name)) {
        snprintf(err, errlen, "\"name\" is required: 1-100 of [A-Za-z0-9._-]");
        return NULL;
    }
    if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))) {
        snprintf(err, errlen, "\"url\" is required and must be an http:// or https:// URL");
        return NULL;
    }
    if (!json_is_array(topics) || json_array_size(topics) == 0 || json_array_size(topics) > 100) {
        snprintf(err, errlen, "\"topics\" must be a non-empty array of topic names");
        return NULL;
    }
    size_t i;
    json_array_foreach(topics, i, v)
    {
        if (!json_is_string(v) || !valid_name(json_string_value(v))) {
            snprintf(err, errlen, "\"topics\"[%zu] is not a valid topic name", i);
            return NULL;
        }
    }
    json_t *g = json_object_get(j, "group"), *sec = json_object_get(j, "secret");
    if (g && !json_is_string(g)) {
        snprintf(err, errlen, "\"group\" must be a string");
        return NULL;
    }
    if (sec && !json_is_null(sec) && (!json_is_string(sec) || !json_string_length(sec))) {
        snprintf(err, errlen, "\"secret\" must be a non-empty string");
        return NULL;
    }
    sub *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->err_mu, NULL);
    json_t *retry = json_object_get(j, "retry");
    if (retry && !json_is_object(retry)) {
        snprintf(err, errlen, "\"retry\" must be an object");
        goto bad;
    }
    json_t *ro = retry ? retry : json_object();
    int rc = get_int(j, "max_in_flight_per_key", 1, 1, 1000, &s->max_per_key, err, errlen) ||
             get_int(j, "max_in_flight", 64, 1, 10000, &s->max_in_flight, err, errlen) ||
             get_int(j, "max_buffered", 10000, 1, 1000000, &s->max_buffered, err, errlen) ||
             get_int(ro, "max_attempts", 12, 1, 1000000, &s->max_attempts, err, errlen) ||
             get_int(ro, "initial_backoff_ms", 500, 1, 3600000, &s->initial_ms, err, errlen) ||
             get_int(ro, "max_backoff_ms", 60000, 1, 86400000, &s->max_backoff_ms, err, errlen) ||
             get_int(ro, "timeout_ms", 10000, 100, 600000, &s->timeout_ms, err, errlen);
    if (!retry) json_decref(ro);
    if (rc) goto bad;
    json_t *f = json_object_get(j, "filter");
    if (f && !json_is_null(f)) {
        json_t *types = json_object_get(f, "types"), *hdrs = json_object_get(f, "headers");
        if (!json_is_object(f) || (types && !json_is_array(types)) ||
            (hdrs && !json_is_object(hdrs))) {
            snprintf(
                err, errlen,
                "\"filter\" must be {\"types\": [\"...\"], \"headers\": {\"name\": \"value\"}}");
            goto bad;
        }
        json_array_foreach(types, i, v)
        {
            if (!json_is_string(v)) {
                snprintf(err, errlen, "\"filter.types\" must hold strings");
                goto bad;
            }
            s->types = xrealloc(s->types, sizeof(char *) * (size_t)(s->ntypes + 1));
            s->types[s->ntypes++] = xstrdup(json_string_value(v));
        }
        if (hdrs) {
            json_object_foreach(hdrs, k, v)
            {
                if (!json_is_string(v)) {
                    snprintf(err, errlen, "\"filter.headers\" values must be strings");
                    goto bad;
                }
            }
            s->hfilter = json_incref(hdrs);
        }
    }
    s->name = xstrdup(name);
    s->url = xstrdup(url);
    s->group = xstrdup(g ? json_string_value(g) : name);
    if (!g) {
        free(s->group);
        s->group = xasprintf("push-%s", name);
    }
    s->secret = sec && json_is_string(sec) ? xstrdup(json_string_value(sec)) : NULL;
    s->ntopics = (int)json_array_size(topics);
    s->topics = xcalloc((size_t)s->ntopics, sizeof(char *));
    json_array_foreach(topics, i, v) s->topics[i] = xstrdup(json_string_value(v));
    s->spec = json_deep_copy(j);
    json_object_del(s->spec, "paused");
    json_object_set_new(s->spec, "group", json_string(s->group));
    atomic_store(&s->paused, json_is_true(json_object_get(j, "paused")));
    return s;
bad:
    sub_free(s);
    return NULL;
}

static void sub_start(sub *s)
{
    if (pthread_create(&s->th, NULL, sub_thread, s) == 0) s->started = 1;
}

static void sub_stop(sub *s)
{
    atomic_store(&s->stop, true);
    if (s->started) pthread_join(s->th, NULL);
    s->started = 0;
}

static json_t *sub_view(sub *s)
{
    json_t *o = json_deep_copy(s->spec);
    if (json_object_get(o, "secret")) {
        json_object_del(o, "secret");
        json_object_set_new(o, "secret_set", json_true());
    }
    json_object_set_new(o, "state", json_string(atomic_load(&s->paused) ? "paused" : "running"));
    int64_t oldest = atomic_load(&s->oldest_ms);
    double age = oldest ? (double)(now_wall_ms() - oldest) / 1000.0 : 0.0;
    pthread_mutex_lock(&s->err_mu);
    json_t *st = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:s}", "delivered",
        (json_int_t)atomic_load(&s->delivered), "failed", (json_int_t)atomic_load(&s->failed),
        "dead_lettered", (json_int_t)atomic_load(&s->dead), "filtered",
        (json_int_t)atomic_load(&s->filtered), "retrying", (json_int_t)atomic_load(&s->retrying),
        "in_flight", (json_int_t)atomic_load(&s->in_flight), "buffered",
        (json_int_t)atomic_load(&s->buffered), "oldest_undelivered_age_seconds",
        age < 0 ? 0.0 : age, "last_error", s->last_error);
    pthread_mutex_unlock(&s->err_mu);
    json_object_set_new(o, "stats", st);
    return o;
}

static void load_state(void)
{
    char *p = state_path();
    json_error_t je;
    json_t *root = json_load_file(p, 0, &je);
    if (!root) {
        if (access(p, F_OK) == 0) {
            LOGE(M, "cannot read %s: %s (line %d)", p, je.text, je.line);
            exit(2);
        }
        free(p);
        return;
    }
    json_t *a = json_object_get(root, "subscriptions"), *v;
    size_t i;
    json_array_foreach(a, i, v)
    {
        char err[256];
        sub *s = sub_from_json(v, err, sizeof(err));
        if (!s) {
            LOGE(M, "%s: subscription %zu: %s", p, i, err);
            continue;
        }
        s->next = g_subs;
        g_subs = s;
        sub_start(s);
    }
    LOGI(M, "%zu subscription(s) restored from %s", json_array_size(a), p);
    json_decref(root);
    free(p);
}

/* ---- HTTP API ----------------------------------------------------------------------------- */

typedef struct reqctx {
    char *body;
    size_t len;
    int too_big;
} reqctx;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *body /* freed */)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return reply(c, status, "application/json", s);
}

static enum MHD_Result reply_err(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result reply_err(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return reply_json(c, status, json_pack("{s:i,s:s}", "error_code", status, "message", msg));
}

static char *metrics_text(void)
{
    size_t cap = 4096, len = 0;
    char *out = xmalloc(cap);
    out[0] = 0;
#define EMIT(...)                                                                                  \
    do {                                                                                           \
        int n_ = snprintf(out + len, cap - len, __VA_ARGS__);                                      \
        if ((size_t)n_ >= cap - len) {                                                             \
            cap = (cap + (size_t)n_) * 2;                                                          \
            out = xrealloc(out, cap);                                                              \
            n_ = snprintf(out + len, cap - len, __VA_ARGS__);                                      \
        }                                                                                          \
        len += (size_t)n_;                                                                         \
    } while (0)
    static const char *const names[][3] = {
        {"eddy_push_delivered_total", "counter", "Records delivered (2xx)."},
        {"eddy_push_failed_total", "counter", "Delivery attempts that failed."},
        {"eddy_push_dead_lettered_total", "counter", "Records sent to <topic>.dlq."},
        {"eddy_push_filtered_total", "counter", "Records skipped by the filter."},
        {"eddy_push_retrying", "gauge", "Records waiting for a retry."},
        {"eddy_push_in_flight", "gauge", "Deliveries in progress."},
        {"eddy_push_oldest_undelivered_age_seconds", "gauge",
         "Age of the oldest record not yet delivered or dead-lettered."}};
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        EMIT("# HELP %s %s\n# TYPE %s %s\n", names[i][0], names[i][2], names[i][0], names[i][1]);
        for (sub *s = g_subs; s; s = s->next) {
            int64_t oldest = atomic_load(&s->oldest_ms);
            double vals[] = {(double)atomic_load(&s->delivered),
                             (double)atomic_load(&s->failed),
                             (double)atomic_load(&s->dead),
                             (double)atomic_load(&s->filtered),
                             (double)atomic_load(&s->retrying),
                             (double)atomic_load(&s->in_flight),
                             oldest ? (double)(now_wall_ms() - oldest) / 1000.0 : 0.0};
            EMIT("%s{subscription=\"%s\"} %.3f\n", names[i][0], s->name, vals[i] < 0 ? 0 : vals[i]);
        }
    }
    pthread_mutex_unlock(&g_mu);
#undef EMIT
    return out;
}

static enum MHD_Result on_http(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **ctxp)
{
    (void)cls;
    (void)version;
    reqctx *ctx = *ctxp;
    if (!ctx) {
        ctx = xcalloc(1, sizeof(*ctx));
        *ctxp = ctx;
        return MHD_YES;
    }
    if (*upload_size) {
        if (ctx->len + *upload_size > MAX_REQUEST_BODY)
            ctx->too_big = 1;
        else {
            ctx->body = xrealloc(ctx->body, ctx->len + *upload_size + 1);
            memcpy(ctx->body + ctx->len, upload, *upload_size);
            ctx->len += *upload_size;
            ctx->body[ctx->len] = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (!strcmp(url, "/healthz")) return reply(c, 200, "text/plain", xstrdup("ok\n"));
    if (!strcmp(url, "/metrics")) return reply(c, 200, "text/plain; version=0.0.4", metrics_text());
    const char *pre = "/v1/subscriptions";
    if (strncmp(url, pre, strlen(pre)) || (url[strlen(pre)] && url[strlen(pre)] != '/'))
        return reply_err(c, 404, "no such endpoint: %s", url);
    const char *rest = url + strlen(pre);
    if (*rest == '/') rest++;
    char name[128] = "", action[32] = "";
    const char *slash = strchr(rest, '/');
    if (slash) {
        snprintf(name, sizeof(name), "%.*s", (int)(slash - rest), rest);
        snprintf(action, sizeof(action), "%s", slash + 1);
    } else {
        snprintf(name, sizeof(name), "%s", rest);
    }
    if (!*name) {
        if (!strcmp(method, "GET")) {
            json_t *a = json_array();
            pthread_mutex_lock(&g_mu);
            for (sub *s = g_subs; s; s = s->next) json_array_insert_new(a, 0, sub_view(s));
            pthread_mutex_unlock(&g_mu);
            return reply_json(c, 200, json_pack("{s:o}", "subscriptions", a));
        }
        if (strcmp(method, "POST")) return reply_err(c, 405, "use GET or POST on %s", pre);
        if (ctx->too_big) return reply_err(c, 413, "body over %d bytes", MAX_REQUEST_BODY);
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        if (ct && strncasecmp(ct, "application/json", 16))
            return reply_err(c, 415, "Content-Type must be application/json, not %s", ct);
        json_error_t je;
        json_t *j = json_loadb(ctx->body ? ctx->body : "", ctx->len, 0, &je);
        if (!j) return reply_err(c, 400, "malformed JSON: %s (line %d)", je.text, je.line);
        char err[256];
        sub *s = sub_from_json(j, err, sizeof(err));
        json_decref(j);
        if (!s) return reply_err(c, 400, "%s", err);
        pthread_mutex_lock(&g_mu);
        if (sub_find(s->name)) {
            pthread_mutex_unlock(&g_mu);
            char n[128];
            snprintf(n, sizeof(n), "%s", s->name);
            sub_free(s);
            return reply_err(c, 409, "subscription %s exists (DELETE it first)", n);
        }
        s->next = g_subs;
        g_subs = s;
        persist();
        sub_start(s);
        json_t *view = sub_view(s);
        pthread_mutex_unlock(&g_mu);
        return reply_json(c, 201, view);
    }
    pthread_mutex_lock(&g_mu);
    sub *s = sub_find(name);
    if (!s) {
        pthread_mutex_unlock(&g_mu);
        return reply_err(c, 404, "no subscription named %s", name);
    }
    if (!*action && !strcmp(method, "GET")) {
        json_t *v = sub_view(s);
        pthread_mutex_unlock(&g_mu);
        return reply_json(c, 200, v);
    }
    if (!*action && !strcmp(method, "DELETE")) {
        for (sub **pp = &g_subs; *pp; pp = &(*pp)->next)
            if (*pp == s) {
                *pp = s->next;
                break;
            }
        persist();
        pthread_mutex_unlock(&g_mu);
        sub_stop(s);
        json_t *v = json_pack("{s:s,s:b}", "name", s->name, "deleted", 1);
        sub_free(s);
        return reply_json(c, 200, v);
    }
    if ((!strcmp(action, "pause") || !strcmp(action, "resume")) && !strcmp(method, "POST")) {
        atomic_store(&s->paused, !strcmp(action, "pause"));
        persist();
        json_t *v = sub_view(s);
        pthread_mutex_unlock(&g_mu);
        return reply_json(c, 200, v);
    }
    pthread_mutex_unlock(&g_mu);
    return reply_err(c, 405, "%s %s is not an operation (GET, DELETE, POST .../pause|resume)",
                     method, url);
}

static void on_done(void *cls, struct MHD_Connection *c, void **ctxp,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    reqctx *ctx = *ctxp;
    if (ctx) {
        free(ctx->body);
        free(ctx);
    }
    *ctxp = NULL;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: eddy-push --bootstrap-servers HOST:PORT [--listen HOST:PORT] [--state-dir DIR]\n"
        "HTTP push subscriptions for Kafka topics: POST /v1/subscriptions registers one;\n"
        "records are POSTed to its URL in per-key order, signed, retried, dead-lettered to\n"
        "<topic>.dlq. See docs/push.md.\n"
        "  --bootstrap-servers H:P  Kafka/eddyd bootstrap servers\n"
        "  --listen HOST:PORT       the HTTP API and /metrics (default 127.0.0.1:8086; port 0 ="
        " any)\n"
        "  --state-dir DIR          where subscriptions.json is kept (default ./eddy-push-data)\n"
        "  --session-timeout-ms N   consumer group session timeout (default 10000)\n"
        "  --log-level LEVEL        debug, info, warn or error\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"bootstrap-servers", 1, 0, 'b'},
                                         {"listen", 1, 0, 'l'},
                                         {"state-dir", 1, 0, 'd'},
                                         {"session-timeout-ms", 1, 0, 's'},
                                         {"log-level", 1, 0, 'L'},
                                         {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'b': C.bootstrap = optarg; break;
        case 'l': C.listen = optarg; break;
        case 'd': C.state_dir = xstrdup(optarg); break;
        case 's': C.session_timeout_ms = atoi(optarg); break;
        case 'L': {
            int l = log_parse_level(optarg);
            if (l < 0) {
                fprintf(stderr, "eddy-push: --log-level: debug, info, warn or error\n");
                return 2;
            }
            log_set_level((enum log_level)l);
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!C.bootstrap || optind < argc) {
        usage(stderr);
        return 2;
    }
    if (!C.state_dir) C.state_dir = xstrdup("eddy-push-data");
    if (mkdir_p(C.state_dir, 0755)) {
        fprintf(stderr, "eddy-push: cannot create %s: %s\n", C.state_dir, strerror(errno));
        return 2;
    }
    char host[256];
    int port;
    struct sockaddr_storage sa;
    socklen_t salen;
    if (parse_hostport(C.listen, host, sizeof host, &port) < 0) {
        fprintf(stderr, "eddy-push: --listen HOST:PORT\n");
        return 2;
    }
    if (numeric_sockaddr(host, port, &sa, &salen) < 0) {
        fprintf(stderr, "eddy-push: --listen: bad IP address %s\n", host);
        return 2;
    }
    struct sigaction sig = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sig, NULL);
    sigaction(SIGINT, &sig, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                             (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                         0, NULL, NULL, on_http, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                         MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "eddy-push: cannot listen on %s\n", C.listen);
        return 2;
    }
    pthread_mutex_lock(&g_mu);
    load_state();
    pthread_mutex_unlock(&g_mu);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    LOGI(M, "http listening on %s:%u", host, di ? di->port : 0);
    while (!g_stop) pause();
    LOGI(M, "stopping");
    MHD_stop_daemon(d);
    pthread_mutex_lock(&g_mu);
    sub *s = g_subs;
    g_subs = NULL;
    pthread_mutex_unlock(&g_mu);
    while (s) {
        sub *n = s->next;
        sub_stop(s);
        sub_free(s);
        s = n;
    }
    curl_global_cleanup();
    free(C.state_dir);
    LOGI(M, "stopped");
    return 0;
}
