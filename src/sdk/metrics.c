/* metrics.c — per-handler metrics (processed, failed, retried, dead-lettered, duplicates, a
 * processing-time histogram and P50/P95/P99 over recent events) in the Prometheus text format,
 * and the service's HTTP port on libmicrohttpd: /metrics, /healthz and the routes a service
 * adds (eddy_service_route). Part of src/sdk (libeddy). */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy/dlq.h"
#include "service_int.h"

static const double BUCKETS[SDK_NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};

void sdk_metrics_observe(eddy_service *svc, sdk_handler *h, int64_t dur_us)
{
    double s = (double)dur_us / 1e6;
    pthread_mutex_lock(&svc->mmu);
    h->m.processed++;
    int i = 0;
    while (i < SDK_NBUCKETS && s > BUCKETS[i]) i++;
    h->m.buckets[i]++;
    h->m.sum_s += s;
    h->m.res[h->m.rpos] = (float)s;
    h->m.rpos = (h->m.rpos + 1) % SDK_RESERVOIR;
    if (h->m.nres < SDK_RESERVOIR) h->m.nres++;
    pthread_mutex_unlock(&svc->mmu);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = sdk_xvasprintf(fmt, ap);
    va_end(ap);
    size_t l = strlen(s);
    if (b->n + l + 1 > b->cap) {
        b->cap = (b->n + l + 1) * 2;
        b->p = sdk_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, l + 1);
    b->n += l;
    free(s);
}

char *eddy_service_metrics_text(eddy_service *svc)
{
    sbuf b = {0};
    static const char *names[] = {"processed", "failed", "retried", "dead_lettered", "duplicates"};
    static const char *help[] = {"events handled and committed", "handler attempts that failed",
                                 "retries scheduled after a transient failure",
                                 "events sent to the dead-letter queue after failing",
                                 "redelivered events skipped by the inbox"};
    pthread_mutex_lock(&svc->mmu);
    for (int k = 0; k < 5; k++) {
        sb_printf(&b, "# HELP eddy_handler_%s_total %s\n# TYPE eddy_handler_%s_total counter\n",
                  names[k], help[k], names[k]);
        for (int i = 0; i < svc->nhandlers; i++) {
            sdk_handler *h = &svc->handlers[i];
            uint64_t v = k == 0   ? h->m.processed
                         : k == 1 ? h->m.failed
                         : k == 2 ? h->m.retried
                         : k == 3 ? h->m.dead_lettered
                                  : h->m.duplicates;
            sb_printf(&b,
                      "eddy_handler_%s_total{service=\"%s\",topic=\"%s\",event_type=\"%s\"} %llu\n",
                      names[k], svc->name, h->topic, h->event_type, (unsigned long long)v);
        }
    }
    sb_printf(&b, "# HELP eddy_handler_processing_seconds handler time inside its transaction\n"
                  "# TYPE eddy_handler_processing_seconds histogram\n");
    for (int i = 0; i < svc->nhandlers; i++) {
        sdk_handler *h = &svc->handlers[i];
        uint64_t cum = 0;
        for (int j = 0; j <= SDK_NBUCKETS; j++) {
            cum += h->m.buckets[j];
            char le[32];
            if (j < SDK_NBUCKETS)
                snprintf(le, sizeof le, "%g", BUCKETS[j]);
            else
                snprintf(le, sizeof le, "+Inf");
            sb_printf(&b,
                      "eddy_handler_processing_seconds_bucket{service=\"%s\",topic=\"%s\","
                      "event_type=\"%s\",le=\"%s\"} %llu\n",
                      svc->name, h->topic, h->event_type, le, (unsigned long long)cum);
        }
        sb_printf(&b,
                  "eddy_handler_processing_seconds_sum{service=\"%s\",topic=\"%s\","
                  "event_type=\"%s\"} %.6f\n",
                  svc->name, h->topic, h->event_type, h->m.sum_s);
        sb_printf(&b,
                  "eddy_handler_processing_seconds_count{service=\"%s\",topic=\"%s\","
                  "event_type=\"%s\"} %llu\n",
                  svc->name, h->topic, h->event_type, (unsigned long long)h->m.processed);
    }
    sb_printf(&b,
              "# HELP eddy_handler_processing_quantile_seconds P50/P95/P99 over the last %d "
              "events\n# TYPE eddy_handler_processing_quantile_seconds summary\n",
              SDK_RESERVOIR);
    float tmp[SDK_RESERVOIR];
    for (int i = 0; i < svc->nhandlers; i++) {
        sdk_handler *h = &svc->handlers[i];
        if (!h->m.nres) continue;
        memcpy(tmp, h->m.res, h->m.nres * sizeof(float));
        qsort(tmp, h->m.nres, sizeof(float), cmp_float);
        static const double q[] = {0.5, 0.95, 0.99};
        for (int k = 0; k < 3; k++) {
            uint32_t idx = (uint32_t)(q[k] * (h->m.nres - 1) + 0.5);
            sb_printf(&b,
                      "eddy_handler_processing_quantile_seconds{service=\"%s\",topic=\"%s\","
                      "event_type=\"%s\",quantile=\"%g\"} %.6f\n",
                      svc->name, h->topic, h->event_type, q[k], (double)tmp[idx]);
        }
    }
    sb_printf(
        &b,
        "# HELP eddy_dlq_published_total events this service sent to a dead-letter topic\n"
        "# TYPE eddy_dlq_published_total counter\neddy_dlq_published_total{service=\"%s\"} %llu\n",
        svc->name, (unsigned long long)svc->dlq_total);
    sb_printf(
        &b,
        "# HELP eddy_poison_total events that could not be decoded (dead-lettered as poison)\n"
        "# TYPE eddy_poison_total counter\neddy_poison_total{service=\"%s\"} %llu\n",
        svc->name, (unsigned long long)svc->poison_total);
    sb_printf(&b,
              "# HELP eddy_redriven_events_total events this service finished (handled, dropped "
              "as duplicates or dead-lettered again) that a DLQ redrive had republished\n"
              "# TYPE eddy_redriven_events_total counter\n"
              "eddy_redriven_events_total{service=\"%s\"} %llu\n",
              svc->name, (unsigned long long)svc->redriven_total);
    char *rd = eddy_dlq_metrics_text(); /* redrives this process made (dlq.c), if any */
    sb_printf(&b, "%s", rd);
    free(rd);
    char labels[160];
    snprintf(labels, sizeof labels, "service=\"%s\"", svc->name);
    char *t =
        sdk_dist_text(&svc->inbox_commit, "eddy_inbox_commit_seconds",
                      "commit of an inbox transaction (a batch of records) with its sync", labels);
    sb_printf(&b, "%s", t);
    free(t);
    t = sdk_dist_text(&svc->inbox_batch, "eddy_inbox_batch_size",
                      "records handled per inbox transaction", labels);
    sb_printf(&b, "%s", t);
    free(t);
    pthread_mutex_unlock(&svc->mmu);
    if (svc->relay) {
        t = sdk_relay_metrics_text(svc->relay, svc->name);
        sb_printf(&b, "%s", t);
        free(t);
    }
    sb_printf(&b,
              "# HELP eddy_outbox_published_total outbox rows published and acknowledged by the "
              "broker\n"
              "# TYPE eddy_outbox_published_total counter\n"
              "eddy_outbox_published_total{service=\"%s\"} %lld\n",
              svc->name, svc->relay ? (long long)eddy_relay_published(svc->relay) : 0LL);
    if (svc->otlp) {
        t = sdk_otlp_metrics_text(svc->otlp, svc->name);
        sb_printf(&b, "%s", t);
        free(t);
    }
    for (int i = 0; i < svc->ncomponents; i++) {
        if (!svc->components[i].metrics) continue;
        char *ct = svc->components[i].metrics(svc->components[i].arg);
        if (ct) sb_printf(&b, "%s", ct);
        free(ct);
    }
    return b.p;
}

/* ---- HTTP --------------------------------------------------------------------------------- */
#define MAX_BODY (64 * 1024)

typedef struct http_req {
    char *body;
    size_t len;
    int too_large;
} http_req;

char *eddy_http_error(int *status, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = sdk_xvasprintf(fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s}", "error", msg);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    free(msg);
    *status = code;
    return s;
}

int eddy_service_route(eddy_service *svc, const char *method, const char *path_prefix,
                       eddy_http_fn fn, void *arg)
{
    if (svc->nroutes >= SDK_MAX_ROUTES) return EDDY_ERR_PERMANENT;
    sdk_route *r = &svc->routes[svc->nroutes++];
    r->method = sdk_xstrdup(method);
    r->prefix = sdk_xstrdup(path_prefix);
    r->fn = fn;
    r->arg = arg;
    return 0;
}

/* The calling HTTP thread's own store connection, opened on its first request: with
 * http.threads > 1 each thread commits on its own connection, so concurrent POSTs are not
 * serialised behind one connection (PostgreSQL groups their commits; SQLite still has one
 * writer at a time, but a POST waiting for the write lock no longer holds up the others'
 * parsing, reads and answers). NULL when the store cannot be opened. */
eddy_store *sdk_http_store(eddy_service *svc)
{
    pthread_t self = pthread_self();
    eddy_store *st = NULL;
    pthread_mutex_lock(&svc->hmu);
    for (int i = 0; i < svc->nhttp_stores && !st; i++)
        if (pthread_equal(svc->http_owner[i], self)) st = svc->http_stores[i];
    pthread_mutex_unlock(&svc->hmu);
    if (st) return st;
    if (eddy_store_open(svc->store_url, &st) < 0) return NULL;
    sdk_store_set_otlp(st, svc->otlp);
    pthread_mutex_lock(&svc->hmu);
    if (svc->nhttp_stores < SDK_MAX_HTTP_THREADS) {
        svc->http_owner[svc->nhttp_stores] = self;
        svc->http_stores[svc->nhttp_stores++] = st;
    } else { /* cannot happen: MHD runs at most http.threads (<= the table) threads */
        eddy_store_close(st);
        st = NULL;
    }
    pthread_mutex_unlock(&svc->hmu);
    return st;
}

static enum MHD_Result reply(struct MHD_Connection *c, int status, char *body, const char *ctype)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(body ? strlen(body) : 0, body ? body : (char *)"",
                                        body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", ctype);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    eddy_service *svc = cls;
    http_req *rq = *con_cls;
    int status = 200;
    if (!rq) {
        rq = sdk_xcalloc(1, sizeof *rq);
        *con_cls = rq;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        /* Too large: the body is drained (never stored) and answered 413 once read, so
         * clients that write the whole body before reading still get the answer. */
        if (cl && strtoull(cl, NULL, 10) > MAX_BODY) rq->too_large = 1;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!rq->too_large && rq->len + *upload_data_size <= MAX_BODY) {
            rq->body = sdk_xrealloc(rq->body, rq->len + *upload_data_size + 1);
            memcpy(rq->body + rq->len, upload_data, *upload_data_size);
            rq->len += *upload_data_size;
            rq->body[rq->len] = 0;
        } else {
            rq->too_large = 1;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->too_large)
        return reply(
            c, 413,
            eddy_http_error(&status, 413, "request body too large (limit %d bytes)", MAX_BODY),
            "application/json");
    if (!strcmp(url, "/metrics")) {
        if (strcmp(method, "GET")) goto bad_method;
        return reply(c, 200, eddy_service_metrics_text(svc), "text/plain; version=0.0.4");
    }
    if (!strcmp(url, "/healthz")) {
        if (strcmp(method, "GET")) goto bad_method;
        return reply(c, 200, sdk_xasprintf("{\"status\":\"ok\",\"service\":\"%s\"}", svc->name),
                     "application/json");
    }
    int prefix_match = 0;
    for (int i = 0; i < svc->nroutes; i++) {
        sdk_route *r = &svc->routes[i];
        size_t pl = strlen(r->prefix);
        if (strncmp(url, r->prefix, pl) || (url[pl] && url[pl] != '/' && r->prefix[pl - 1] != '/'))
            continue;
        prefix_match = 1;
        if (strcmp(method, r->method)) continue;
        eddy_http_req req = {method,
                             url,
                             rq->body,
                             rq->len,
                             MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Correlation-Id"),
                             MHD_lookup_connection_value(c, MHD_HEADER_KIND, "traceparent")};
        char *body = r->fn(svc, &req, &status, r->arg);
        return reply(c, status, body, "application/json");
    }
    if (prefix_match) goto bad_method;
    return reply(c, 404, eddy_http_error(&status, 404, "no route for %s %s", method, url),
                 "application/json");
bad_method:
    return reply(c, 405, eddy_http_error(&status, 405, "method %s not allowed on %s", method, url),
                 "application/json");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_req *rq = *con_cls;
    if (!rq) return;
    free(rq->body);
    free(rq);
    *con_cls = NULL;
}

int sdk_http_start(eddy_service *svc, const char *listen_on, const char *threads_setting)
{
    if (!listen_on) listen_on = "127.0.0.1:0";
    if (!strcmp(listen_on, "off")) return 0;
    const char *colon = strrchr(listen_on, ':');
    char host[64] = "127.0.0.1";
    int port = 0;
    if (colon) {
        size_t hl = (size_t)(colon - listen_on);
        if (hl && hl < sizeof host) {
            memcpy(host, listen_on, hl);
            host[hl] = 0;
        }
        port = atoi(colon + 1);
    } else {
        port = atoi(listen_on);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
        listen(fd, 128)) {
        sdk_log(svc->name, "http: cannot listen on %s", listen_on);
        close(fd);
        return EDDY_ERR_IO;
    }
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    svc->http_port = ntohs(a.sin_port);
    svc->http_listen_fd = fd;
    /* http.threads: the number of threads serving requests (libmicrohttpd's thread pool; each
     * thread its own connections and its own store connection); 1 = the single thread */
    const char *tv = threads_setting;
    long threads = 1;
    if (tv) {
        char *end;
        threads = strtol(tv, &end, 10);
        if (*end || threads < 1 || threads > SDK_MAX_HTTP_THREADS) {
            sdk_log(svc->name, "http.threads must be an integer 1..%d (got \"%s\")",
                    SDK_MAX_HTTP_THREADS, tv);
            close(fd);
            return EDDY_ERR_PERMANENT;
        }
    }
    svc->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
                                on_request, svc, MHD_OPTION_LISTEN_SOCKET, fd,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, svc,
                                MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_THREAD_POOL_SIZE,
                                (unsigned)(threads > 1 ? threads : 0), MHD_OPTION_END);
    if (!svc->mhd) {
        close(fd);
        sdk_log(svc->name, "http: libmicrohttpd failed to start");
        return EDDY_ERR_IO;
    }
    sdk_log(svc->name, "http listening on %s:%d", host, svc->http_port);
    return 0;
}

void sdk_http_stop(eddy_service *svc)
{
    if (svc->mhd) {
        MHD_stop_daemon(svc->mhd);
        svc->mhd = NULL;
        close(svc->http_listen_fd);
    }
}

void sdk_http_free(eddy_service *svc)
{
    for (int i = 0; i < svc->nhttp_stores; i++) {
        eddy_store_close(svc->http_stores[i]);
        svc->http_stores[i] = NULL;
    }
    svc->nhttp_stores = 0;
    for (int i = 0; i < svc->nroutes; i++) {
        free(svc->routes[i].method);
        free(svc->routes[i].prefix);
    }
}

int eddy_service_http_port(const eddy_service *svc)
{
    return svc->http_port;
}
