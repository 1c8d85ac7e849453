/* otlp.c — OpenTelemetry span export from libeddy over OTLP/HTTP with the JSON encoding
 * (otlp.h). A service's spans (publish: PRODUCER, process: CONSUMER, messaging semantic
 * conventions; built by outbox.c and service.c) are queued here in a bounded ring; one thread
 * per exporter sends them in batches of otlp.batch.max, or every otlp.flush.ms, as
 * ExportTraceServiceRequest JSON to <endpoint>/v1/traces on libcurl, retrying connection
 * errors, 429 and 502/503/504 with exponential backoff. A full queue drops the new span and
 * counts it (eddy_otlp_spans_dropped_total); a batch still failing after its retries is counted
 * as failed. At shutdown what is queued is flushed within otlp.shutdown.ms. Part of src/sdk. */
#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "eddy_version.h"
#include "otlp.h"

#define OTLP_MAX_ATTEMPTS 5 /* a batch: the first try and 4 retries */
#define OTLP_BACKOFF_MS 100 /* first retry delay, doubled each time (with jitter) */
#define OTLP_BACKOFF_MAX_MS 2000

struct sdk_otlp {
    char *url, *service;
    struct curl_slist *headers;
    json_t *resource; /* Resource object (attributes), shared by every request */
    int batch_max, queue_max, flush_ms, timeout_ms, shutdown_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    json_t **q; /* ring of queue_max spans */
    int qhead, qlen;
    int stopping, running, joined;
    int64_t deadline_us; /* shutdown: give up exporting after this (monotonic) */
    pthread_t th;
    CURL *curl;
    int failing; /* the last export failed (logged once per outage) */
    _Atomic uint64_t exported, dropped_full, dropped_shutdown, failed, requests, retries;
};

/* ---- settings ----------------------------------------------------------------------------- */
static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Where the settings come from: the service's (file or EDDY_* environment). */
typedef struct conf_src {
    const char *name;
    sdk_conf_get_fn get;
    void *arg;
} conf_src;

/* An eddy setting, else an OTEL_* variable, else NULL. */
static const char *setting(const conf_src *svc, const char *key, const char *env1, const char *env2)
{
    const char *v = svc->get(svc->arg, key);
    if (v && *v) return v;
    if (env1 && (v = getenv(env1)) && *v) return v;
    if (env2 && (v = getenv(env2)) && *v) return v;
    return NULL;
}

static int setting_int(const conf_src *svc, const char *key, const char *env, int dflt, int min,
                       int max, int *out)
{
    const char *v = setting(svc, key, env, NULL);
    *out = dflt;
    if (!v) return 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < min || x > max) {
        sdk_log(svc->name, "%s%s%s = \"%s\": expected an integer in %d..%d", key, env ? " / " : "",
                env ? env : "", v, min, max);
        return EDDY_ERR_PERMANENT;
    }
    *out = (int)x;
    return 0;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decoding (the W3C Baggage format the OTEL_* lists use); NULL on a bad escape. */
static char *pct_decode(const char *s, size_t n)
{
    char *o = sdk_xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n) {
                free(o);
                return NULL;
            }
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0) {
                free(o);
                return NULL;
            }
            o[j++] = (char)(h * 16 + l);
            i += 2;
        } else {
            o[j++] = s[i];
        }
    }
    o[j] = 0;
    return o;
}

static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s)) (*s)++, (*n)--;
    while (*n && isspace((unsigned char)(*s)[*n - 1])) (*n)--;
}

/* "k1=v1,k2=v2" (values percent-encoded) → fn(k, v) per pair. < 0 on a malformed list. */
static int kv_list(const char *list, void (*fn)(void *arg, const char *k, const char *v), void *arg)
{
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *item = p;
        size_t in = n;
        p += n;
        if (*p == ',') p++;
        trim(&item, &in);
        if (!in) continue;
        const char *eq = memchr(item, '=', in);
        if (!eq) return -1;
        const char *k = item, *v = eq + 1;
        size_t kn = (size_t)(eq - item), vn = in - kn - 1;
        trim(&k, &kn);
        trim(&v, &vn);
        if (!kn) return -1;
        char *ks = pct_decode(k, kn), *vs = pct_decode(v, vn);
        int bad = !ks || !vs || strpbrk(ks, "\r\n:") || strpbrk(vs, "\r\n");
        if (!bad) fn(arg, ks, vs);
        free(ks);
        free(vs);
        if (bad) return -1;
    }
    return 0;
}

static void add_header(void *arg, const char *k, const char *v)
{
    sdk_otlp *o = arg;
    char *h = sdk_xasprintf("%s: %s", k, v);
    o->headers = curl_slist_append(o->headers, h);
    free(h);
}

static json_t *any_str(const char *v)
{
    return json_pack("{s:s}", "stringValue", v ? v : "");
}

static void attr_add(json_t *attrs, const char *k, json_t *value)
{
    json_array_append_new(attrs, json_pack("{s:s,s:o}", "key", k, "value", value));
}

static void add_resource_attr(void *arg, const char *k, const char *v)
{
    json_t *attrs = arg;
    size_t i;
    json_t *a;
    json_array_foreach(attrs, i, a) if (!strcmp(json_string_value(json_object_get(a, "key")), k))
    {
        json_array_remove(attrs, i);
        break;
    }
    attr_add(attrs, k, any_str(v));
}

static void *otlp_thread(void *arg);

/* <base>/v1/traces, without doubling the slash */
static char *traces_url(const char *base)
{
    size_t n = strlen(base);
    while (n && base[n - 1] == '/') n--;
    return sdk_xasprintf("%.*s/v1/traces", (int)n, base);
}

int sdk_otlp_configure(const char *name, sdk_conf_get_fn get, void *arg, sdk_otlp **out)
{
    *out = NULL;
    conf_src src = {name, get, arg}, *svc = &src;
    const char *dis = getenv("OTEL_SDK_DISABLED");
    if (dis && !strcasecmp(dis, "true")) return 0;
    char *url = NULL;
    const char *ep = get(arg, "otlp.endpoint");
    const char *from = "otlp.endpoint";
    if (ep && *ep) {
        url = traces_url(ep);
    } else if ((ep = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) && *ep) {
        url = sdk_xstrdup(ep); /* used as is (the OTel specification) */
        from = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    } else if ((ep = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")) && *ep) {
        url = traces_url(ep);
        from = "OTEL_EXPORTER_OTLP_ENDPOINT";
    } else {
        return 0; /* no collector named: export off */
    }
    if ((strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8)) ||
        strpbrk(url, " \t\r\n")) {
        sdk_log(name, "%s = \"%s\": expected an http:// or https:// URL of an OTLP/HTTP collector",
                from, ep);
        free(url);
        return EDDY_ERR_PERMANENT;
    }
    sdk_otlp *o = sdk_xcalloc(1, sizeof *o);
    o->url = url;
    int rc = 0;
    rc |= setting_int(svc, "otlp.batch.max", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, 1, 100000,
                      &o->batch_max);
    rc |= setting_int(svc, "otlp.queue.max", "OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1, 1000000,
                      &o->queue_max);
    rc |= setting_int(svc, "otlp.flush.ms", "OTEL_BSP_SCHEDULE_DELAY", 1000, 1, 3600000,
                      &o->flush_ms);
    const char *tenv = getenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
                           ? "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
                           : "OTEL_EXPORTER_OTLP_TIMEOUT";
    rc |= setting_int(svc, "otlp.timeout.ms", tenv, 10000, 1, 3600000, &o->timeout_ms);
    rc |= setting_int(svc, "otlp.shutdown.ms", NULL, 5000, 0, 3600000, &o->shutdown_ms);
    if (o->batch_max > o->queue_max) o->batch_max = o->queue_max;
    o->headers = curl_slist_append(NULL, "Content-Type: application/json");
    const char *hl = setting(svc, "otlp.headers", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                             "OTEL_EXPORTER_OTLP_HEADERS");
    if (hl && kv_list(hl, add_header, o) < 0) {
        sdk_log(name,
                "otlp.headers / OTEL_EXPORTER_OTLP_HEADERS = \"%s\": expected "
                "key=value,key=value (values percent-encoded)",
                hl);
        rc = EDDY_ERR_PERMANENT;
    }
    const char *proto = setting(svc, "otlp.protocol", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                                "OTEL_EXPORTER_OTLP_PROTOCOL");
    if (proto && strcmp(proto, "http/json"))
        sdk_log(name, "OTLP protocol %s is not supported: libeddy sends http/json", proto);
    json_t *attrs = json_array();
    const char *ra = getenv("OTEL_RESOURCE_ATTRIBUTES");
    if (ra && kv_list(ra, add_resource_attr, attrs) < 0) {
        sdk_log(name, "OTEL_RESOURCE_ATTRIBUTES = \"%s\": expected key=value,key=value", ra);
        rc = EDDY_ERR_PERMANENT;
    }
    const char *sn = getenv("OTEL_SERVICE_NAME");
    add_resource_attr(attrs, "service.name", sn && *sn ? sn : name);
    add_resource_attr(attrs, "telemetry.sdk.name", "libeddy");
    add_resource_attr(attrs, "telemetry.sdk.language", "c");
    add_resource_attr(attrs, "telemetry.sdk.version", EDDY_VERSION);
    o->resource = json_pack("{s:o}", "attributes", attrs);
    o->service = sdk_xstrdup(name);
    if (rc) {
        sdk_otlp_free(o);
        return EDDY_ERR_PERMANENT;
    }
    pthread_once(&g_curl_once, curl_init_once);
    o->curl = curl_easy_init();
    o->q = sdk_xcalloc((size_t)o->queue_max, sizeof *o->q);
    pthread_mutex_init(&o->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (!o->curl || pthread_create(&o->th, NULL, otlp_thread, o)) {
        sdk_log(name, "otlp: cannot start the exporter");
        sdk_otlp_free(o);
        return EDDY_ERR_IO;
    }
    o->running = 1;
    sdk_log(name, "exporting spans over OTLP/HTTP (JSON) to %s", o->url);
    *out = o;
    return 0;
}

/* ---- spans -------------------------------------------------------------------------------- */
int64_t sdk_otlp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static json_t *nanos(int64_t ns)
{
    return json_sprintf("%lld", (long long)ns);
}

sdk_span *sdk_span_start(sdk_otlp *o, const char *tp, const char *parent_span_id, const char *name,
                         int kind, int64_t start_ns)
{
    if (!o || !tp || strlen(tp) < 52) return NULL;
    json_t *s = json_object();
    json_object_set_new(s, "traceId", json_stringn(tp + 3, 32));
    json_object_set_new(s, "spanId", json_stringn(tp + 36, 16));
    if (parent_span_id) json_object_set_new(s, "parentSpanId", json_stringn(parent_span_id, 16));
    json_object_set_new(s, "name", json_string(name));
    json_object_set_new(s, "kind", json_integer(kind));
    json_object_set_new(s, "startTimeUnixNano", nanos(start_ns));
    json_object_set_new(s, "attributes", json_array());
    return s;
}

void sdk_span_str(sdk_span *s, const char *key, const char *value)
{
    if (s && value) attr_add(json_object_get(s, "attributes"), key, any_str(value));
}

void sdk_span_int(sdk_span *s, const char *key, int64_t value)
{
    /* int64 values are decimal strings in OTLP JSON */
    if (s)
        attr_add(json_object_get(s, "attributes"), key,
                 json_pack("{s:o}", "intValue", json_sprintf("%lld", (long long)value)));
}

sdk_span *sdk_span_messaging(sdk_otlp *o, const char *op, int kind, const char *tp,
                             const char *parent_span_id, const char *topic, const char *key,
                             const eddy_event *ev, int64_t start_ns)
{
    if (!o) return NULL;
    char *name = sdk_xasprintf("%s %s", op, topic);
    sdk_span *sp = sdk_span_start(o, tp, parent_span_id, name, kind, start_ns);
    free(name);
    const char *attrs[][2] = {
        {"messaging.system", "kafka"},
        {"messaging.destination.name", topic},
        {"messaging.operation.type", op},
        {"messaging.operation.name", op},
        {"messaging.kafka.message.key", key},
        {"messaging.message.id", ev->event_id},
        {"messaging.message.conversation_id", ev->correlation_id},
        {"eddy.correlation_id", ev->correlation_id},
        {"eddy.causation_id", ev->causation_id},
        {"cloudevents.event_type", ev->event_type},
        {"cloudevents.event_source", ev->source},
    };
    for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++)
        sdk_span_str(sp, attrs[i][0], attrs[i][1]);
    return sp;
}

void sdk_span_event(sdk_span *s, const char *name, int64_t t_ns, ...)
{
    if (!s) return;
    json_t *evs = json_object_get(s, "events");
    if (!evs) {
        evs = json_array();
        json_object_set_new(s, "events", evs);
    }
    json_t *attrs = json_array();
    va_list ap;
    va_start(ap, t_ns);
    const char *k;
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        if (v) attr_add(attrs, k, any_str(v));
    }
    va_end(ap);
    json_array_append_new(evs, json_pack("{s:o,s:s,s:o}", "timeUnixNano", nanos(t_ns), "name", name,
                                         "attributes", attrs));
}

void sdk_span_discard(sdk_span *s)
{
    json_decref(s);
}

void sdk_span_end(sdk_otlp *o, sdk_span *s, int64_t end_ns, int status, const char *msg)
{
    if (!o || !s) {
        json_decref(s);
        return;
    }
    json_object_set_new(s, "endTimeUnixNano", nanos(end_ns));
    if (status != SDK_STATUS_UNSET) {
        json_t *st = json_pack("{s:i}", "code", status);
        if (msg && *msg) json_object_set_new(st, "message", json_string(msg));
        json_object_set_new(s, "status", st);
    }
    pthread_mutex_lock(&o->mu);
    if (o->stopping || o->qlen >= o->queue_max) {
        pthread_mutex_unlock(&o->mu);
        json_decref(s);
        atomic_fetch_add(o->stopping ? &o->dropped_shutdown : &o->dropped_full, 1);
        return;
    }
    o->q[(o->qhead + o->qlen) % o->queue_max] = s;
    o->qlen++;
    if (o->qlen >= o->batch_max) pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

/* ---- the export thread -------------------------------------------------------------------- */
static int64_t mono_us(void)
{
    return sdk_mono_us();
}

static void abstime(int64_t at_us, struct timespec *ts)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t d = at_us - mono_us();
    if (d < 0) d = 0;
    int64_t ns = now.tv_nsec + (d % 1000000) * 1000;
    ts->tv_sec = now.tv_sec + d / 1000000 + ns / 1000000000;
    ts->tv_nsec = ns % 1000000000;
}

typedef struct resp {
    char buf[4096];
    size_t n;
} resp;

static size_t on_body(char *p, size_t sz, size_t nm, void *arg)
{
    resp *r = arg;
    size_t n = sz * nm;
    size_t room = sizeof r->buf - 1 - r->n;
    size_t k = n < room ? n : room;
    memcpy(r->buf + r->n, p, k);
    r->n += k;
    r->buf[r->n] = 0;
    return n;
}

/* One POST. Returns 0 (accepted; *rejected from a partial success), 1 retryable, -1 not. */
static int post(sdk_otlp *o, const char *body, size_t len, long timeout_ms, int64_t *rejected,
                char *why, size_t whylen)
{
    resp r = {.n = 0};
    r.buf[0] = 0;
    CURL *c = o->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, o->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, o->headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "libeddy-otlp/" EDDY_VERSION);
    atomic_fetch_add(&o->requests, 1);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(why, whylen, "%s", curl_easy_strerror(cc));
        return 1;
    }
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300) {
        json_t *j = json_loads(r.buf, 0, NULL);
        json_t *ps = json_object_get(json_object_get(j, "partialSuccess"), "rejectedSpans");
        if (json_is_string(ps)) *rejected = strtoll(json_string_value(ps), NULL, 10);
        if (json_is_integer(ps)) *rejected = json_integer_value(ps);
        json_decref(j);
        return 0;
    }
    snprintf(why, whylen, "HTTP %ld %.200s", code, r.buf);
    return code == 429 || code == 502 || code == 503 || code == 504 ? 1 : -1;
}

static void export_batch(sdk_otlp *o, json_t **spans, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(arr, spans[i]);
    json_t *req =
        json_pack("{s:[{s:O,s:[{s:{s:s,s:s},s:o}]}]}", "resourceSpans", "resource", o->resource,
                  "scopeSpans", "scope", "name", "libeddy", "version", EDDY_VERSION, "spans", arr);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    size_t len = strlen(body);
    char why[256] = "";
    int64_t rejected = 0;
    int rc = 1;
    for (int attempt = 1; attempt <= OTLP_MAX_ATTEMPTS; attempt++) {
        long tmo = o->timeout_ms;
        pthread_mutex_lock(&o->mu);
        int stopping = o->stopping;
        int64_t deadline = o->deadline_us;
        pthread_mutex_unlock(&o->mu);
        if (stopping) {
            int64_t left = (deadline - mono_us()) / 1000;
            if (left <= 0) break;
            if (left < tmo) tmo = (long)left;
        }
        rc = post(o, body, len, tmo, &rejected, why, sizeof why);
        if (rc <= 0 || attempt == OTLP_MAX_ATTEMPTS) break;
        /* backoff: base·2^(attempt-1) capped, the upper half jittered; stop cuts it short */
        int64_t d = OTLP_BACKOFF_MS;
        for (int i = 1; i < attempt && d < OTLP_BACKOFF_MAX_MS; i++) d *= 2;
        if (d > OTLP_BACKOFF_MAX_MS) d = OTLP_BACKOFF_MAX_MS;
        d = d / 2 + (int64_t)((unsigned)rand() % (unsigned)(d / 2 + 1));
        atomic_fetch_add(&o->retries, 1);
        int64_t until = mono_us() + d * 1000;
        pthread_mutex_lock(&o->mu);
        while (mono_us() < until && !(o->stopping && mono_us() >= o->deadline_us)) {
            struct timespec ts;
            abstime(o->stopping && o->deadline_us < until ? o->deadline_us : until, &ts);
            pthread_cond_timedwait(&o->cv, &o->mu, &ts);
        }
        pthread_mutex_unlock(&o->mu);
    }
    free(body);
    if (rc == 0) {
        if (rejected < 0 || rejected > n) rejected = n;
        atomic_fetch_add(&o->exported, (uint64_t)(n - rejected));
        atomic_fetch_add(&o->failed, (uint64_t)rejected);
        if (o->failing) sdk_log(o->service, "otlp: export to %s resumed", o->url);
        o->failing = 0;
    } else {
        atomic_fetch_add(&o->failed, (uint64_t)n);
        if (!o->failing)
            sdk_log(o->service, "otlp: export to %s failed (%s): spans dropped until it answers",
                    o->url, why[0] ? why : "shutdown deadline");
        o->failing = 1;
    }
}

static void *otlp_thread(void *arg)
{
    sdk_otlp *o = arg;
    json_t **batch = sdk_xcalloc((size_t)o->batch_max, sizeof *batch);
    pthread_mutex_lock(&o->mu);
    int64_t next = mono_us() + (int64_t)o->flush_ms * 1000;
    for (;;) {
        while (!o->stopping && o->qlen < o->batch_max && mono_us() < next) {
            struct timespec ts;
            abstime(next, &ts);
            pthread_cond_timedwait(&o->cv, &o->mu, &ts);
        }
        if (o->qlen == 0) {
            if (o->stopping) break;
            next = mono_us() + (int64_t)o->flush_ms * 1000;
            continue;
        }
        if (o->stopping && mono_us() >= o->deadline_us) {
            /* past the shutdown deadline: what is left is dropped, counted */
            while (o->qlen) {
                json_decref(o->q[o->qhead]);
                o->qhead = (o->qhead + 1) % o->queue_max;
                o->qlen--;
                atomic_fetch_add(&o->dropped_shutdown, 1);
            }
            break;
        }
        int n = o->qlen < o->batch_max ? o->qlen : o->batch_max;
        for (int i = 0; i < n; i++) {
            batch[i] = o->q[o->qhead];
            o->qhead = (o->qhead + 1) % o->queue_max;
        }
        o->qlen -= n;
        pthread_mutex_unlock(&o->mu);
        export_batch(o, batch, n);
        pthread_mutex_lock(&o->mu);
        if (o->qlen < o->batch_max) next = mono_us() + (int64_t)o->flush_ms * 1000;
    }
    pthread_mutex_unlock(&o->mu);
    free(batch);
    return NULL;
}

void sdk_otlp_shutdown(sdk_otlp *o)
{
    if (!o || !o->running || o->joined) return;
    pthread_mutex_lock(&o->mu);
    o->stopping = 1;
    o->deadline_us = mono_us() + (int64_t)o->shutdown_ms * 1000;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    pthread_join(o->th, NULL);
    o->joined = 1;
    uint64_t ex = atomic_load(&o->exported), dr = atomic_load(&o->dropped_full),
             ds = atomic_load(&o->dropped_shutdown), fa = atomic_load(&o->failed);
    sdk_log(o->service,
            "otlp: %llu spans exported, %llu dropped (queue full), %llu dropped at shutdown, "
            "%llu failed",
            (unsigned long long)ex, (unsigned long long)dr, (unsigned long long)ds,
            (unsigned long long)fa);
}

void sdk_otlp_free(sdk_otlp *o)
{
    if (!o) return;
    sdk_otlp_shutdown(o);
    if (o->q) { /* the lock and condition were made with the queue */
        pthread_mutex_destroy(&o->mu);
        pthread_cond_destroy(&o->cv);
    }
    for (int i = 0; i < o->qlen; i++) json_decref(o->q[(o->qhead + i) % o->queue_max]);
    free(o->q);
    if (o->curl) curl_easy_cleanup(o->curl);
    curl_slist_free_all(o->headers);
    json_decref(o->resource);
    free(o->url);
    free(o->service);
    free(o);
}

char *sdk_otlp_metrics_text(sdk_otlp *o, const char *service)
{
    if (!o) return NULL;
    pthread_mutex_lock(&o->mu);
    int qlen = o->qlen;
    pthread_mutex_unlock(&o->mu);
    return sdk_xasprintf(
        "# HELP eddy_otlp_spans_exported_total spans the OTLP exporter delivered to the "
        "collector\n"
        "# TYPE eddy_otlp_spans_exported_total counter\n"
        "eddy_otlp_spans_exported_total{service=\"%s\"} %llu\n"
        "# HELP eddy_otlp_spans_dropped_total spans never sent: the queue was full, or still "
        "queued at the shutdown deadline\n"
        "# TYPE eddy_otlp_spans_dropped_total counter\n"
        "eddy_otlp_spans_dropped_total{service=\"%s\",reason=\"queue_full\"} %llu\n"
        "eddy_otlp_spans_dropped_total{service=\"%s\",reason=\"shutdown\"} %llu\n"
        "# HELP eddy_otlp_spans_failed_total spans sent but not accepted: the collector "
        "refused them, or was unreachable through every retry\n"
        "# TYPE eddy_otlp_spans_failed_total counter\n"
        "eddy_otlp_spans_failed_total{service=\"%s\"} %llu\n"
        "# HELP eddy_otlp_export_requests_total export requests sent to the collector, "
        "retries included\n"
        "# TYPE eddy_otlp_export_requests_total counter\n"
        "eddy_otlp_export_requests_total{service=\"%s\"} %llu\n"
        "# HELP eddy_otlp_export_retries_total export requests retried after a connection "
        "error, 429 or 502/503/504\n"
        "# TYPE eddy_otlp_export_retries_total counter\n"
        "eddy_otlp_export_retries_total{service=\"%s\"} %llu\n"
        "# HELP eddy_otlp_queue_spans spans waiting in the exporter's queue\n"
        "# TYPE eddy_otlp_queue_spans gauge\n"
        "eddy_otlp_queue_spans{service=\"%s\"} %d\n"
        "# HELP eddy_otlp_queue_capacity the exporter queue's bound (otlp.queue.max)\n"
        "# TYPE eddy_otlp_queue_capacity gauge\n"
        "eddy_otlp_queue_capacity{service=\"%s\"} %d\n",
        service, (unsigned long long)atomic_load(&o->exported), service,
        (unsigned long long)atomic_load(&o->dropped_full), service,
        (unsigned long long)atomic_load(&o->dropped_shutdown), service,
        (unsigned long long)atomic_load(&o->failed), service,
        (unsigned long long)atomic_load(&o->requests), service,
        (unsigned long long)atomic_load(&o->retries), service, qlen, service, o->queue_max);
}
