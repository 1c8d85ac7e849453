/* server — eddyd's HTTP port (http.h) on libmicrohttpd, driven from the broker's own epoll
 * loop: MHD runs with MHD_USE_EPOLL and no thread of its own; its epoll fd is registered with
 * the loop, MHD_run is called when that fd is readable and when MHD's own timeout (from
 * MHD_get_timeout) expires. Handlers therefore run on the loop thread and may read broker
 * state without locks.
 *
 * Requests: bodies are collected up to max_body (larger: 413 with a JSON error; a larger
 * Content-Length is answered before the body when the client sent "Expect: 100-continue" or
 * the body exceeds 4 x max_body, otherwise the body is read and dropped first); routes match by
 * method and longest path prefix; no match → 404 JSON.
 *
 * Deferred answers (http_defer/http_complete): the connection is suspended
 * (MHD_ALLOW_SUSPEND_RESUME) when its handler returns without an answer; http_complete stores
 * the answer and resumes it, and MHD calls on_access once more, which queues the answer. The
 * resume wakes MHD's epoll fd (its inter-thread channel is in that set) and a zero-delay timer
 * runs MHD as well, so the answer goes out on the next loop iteration.
 */
#include "http/http.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/util.h"

typedef struct route {
    char *method, *prefix;
    size_t plen;
    http_handler fn;
    void *arg;
} route;

struct http_server {
    loop *l;
    struct MHD_Daemon *d;
    int epfd;
    int port;
    size_t max_body;
    loop_timer *timer;
    route *routes;
    int nroutes;
    http_guard guard;
    void *guard_arg;
    http_pending *pending; /* deferred requests not yet completed (doubly linked) */
    bool tls;
    int listen_fd; /* owned by the current daemon */
    /* after a certificate reload: the previous daemon, no longer accepting, serving the
     * connections it had until they end */
    struct MHD_Daemon *old;
    int old_epfd;
};

typedef struct req_ctx {
    http_server *s;
    struct MHD_Connection *c;
    char *body;
    size_t len, alloc;
    size_t path_len; /* decoded length of the path, from the raw URI */
    bool started;
    bool too_large;
    bool answered;
    bool in_handler;
    http_pending *pending; /* deferred and not yet completed */
    bool ready;            /* completed: the answer below waits to be queued */
    int rstatus;
    const char *rctype;
    char *rbody;
    size_t rlen;
} req_ctx;

struct http_pending {
    req_ctx *x;
    http_pending *prev, *next;
};

static void rearm(http_server *s);

static void retire_old(http_server *s)
{
    loop_del_fd(s->l, s->old_epfd);
    MHD_stop_daemon(s->old);
    s->old = NULL;
    s->old_epfd = -1;
}

static void run(http_server *s)
{
    MHD_run(s->d);
    if (s->old) {
        MHD_run(s->old);
        const union MHD_DaemonInfo *i =
            MHD_get_daemon_info(s->old, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (i && i->num_connections == 0) retire_old(s);
    }
    rearm(s);
}

static void on_timer(loop *l, void *arg)
{
    (void)l;
    http_server *s = arg;
    s->timer = NULL;
    run(s);
}

static void rearm(http_server *s)
{
    if (s->timer) loop_timer_cancel(s->l, s->timer);
    s->timer = NULL;
    if (loop_stopping(s->l)) return;
    MHD_UNSIGNED_LONG_LONG to = 1000, to2 = 1000;
    if (MHD_get_timeout(s->d, &to) != MHD_YES || to > 1000) to = 1000;
    if (s->old && MHD_get_timeout(s->old, &to2) == MHD_YES && to2 < to) to = to2;
    s->timer = loop_timer_add(s->l, (int64_t)to, on_timer, s);
}

static void on_ready(loop *l, int fd, uint32_t events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    run(arg);
}

static enum MHD_Result queue(struct MHD_Connection *c, int status, const char *ctype, char *body,
                             size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body ? body : (char *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    if (ctype) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result queue_json_error(struct MHD_Connection *c, int status, const char *msg)
{
    char *body = xasprintf("{\"error_code\":%d,\"message\":\"%s\"}\n", status, msg);
    return queue(c, status, "application/json", body, strlen(body));
}

static const route *find_route(http_server *s, const char *method, const char *path)
{
    const route *best = NULL;
    for (int i = 0; i < s->nroutes; i++) {
        const route *r = &s->routes[i];
        if (strcmp(r->method, "*") && strcmp(r->method, method)) continue;
        if (strncmp(path, r->prefix, r->plen)) continue;
        if (!best || r->plen > best->plen) best = r;
    }
    return best;
}

/* Decoded length of the path part of a raw URI (MHD_http_unescape's rule: "%XX" → one byte). */
static size_t decoded_path_len(const char *uri)
{
    size_t n = 0;
    for (const char *p = uri; *p && *p != '?'; n++) {
        if (p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]))
            p += 3;
        else
            p++;
    }
    return n;
}

/* MHD's URI log callback: runs first for every request, with the URI before decoding. Its
 * return value becomes the request's context. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    req_ctx *x = xcalloc(1, sizeof *x);
    x->s = cls;
    x->c = c;
    x->path_len = decoded_path_len(uri ? uri : "");
    return x;
}

static enum MHD_Result queue_ready(req_ctx *x)
{
    x->ready = false;
    char *body = x->rbody;
    x->rbody = NULL;
    return queue(x->c, x->rstatus, x->rctype, body, x->rlen);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_server *s = cls;
    req_ctx *x = *con_cls;
    if (!x) *con_cls = x = on_uri(s, url, c); /* no URI callback ran (cannot happen in MHD) */
    if (!x->started) {
        x->started = true;
        x->c = c;
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->max_body) {
            x->too_large = true;
            /* Answer before the body only when the client waits for permission to send it
             * (Expect: 100-continue, as curl does) or the body is huge: otherwise read and drop
             * it, then answer. A client that is still writing when the server answers and
             * closes (Node's fetch, Python's urllib) sees a connection reset instead of 413. */
            const char *ex =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
            if ((ex && !strcasecmp(ex, "100-continue")) ||
                strtoull(cl, NULL, 10) > 4 * (unsigned long long)s->max_body) {
                x->answered = true;
                return queue_json_error(c, 413, "Request body too large");
            }
        }
        return MHD_YES;
    }
    if (x->ready) return queue_ready(x); /* resumed after http_complete */
    if (x->answered) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (x->too_large) return MHD_YES;
        if (x->len + n > s->max_body) {
            x->too_large = true;
            free(x->body);
            x->body = NULL;
            x->len = x->alloc = 0;
            return MHD_YES;
        }
        if (x->len + n + 1 > x->alloc) {
            x->alloc = MAX(x->alloc * 2, x->len + n + 1);
            x->body = xrealloc(x->body, x->alloc);
        }
        memcpy(x->body + x->len, upload_data, n);
        x->len += n;
        return MHD_YES;
    }
    x->answered = true;
    if (x->too_large) return queue_json_error(c, 413, "Request body too large");
    char peer[64] = "";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, peer,
                      sizeof peer);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, peer,
                      sizeof peer);
    }
    if (s->guard) {
        http_request g = {.method = method,
                          .path = url,
                          .path_len = x->path_len,
                          .body = "",
                          .peer_host = peer,
                          .internal = x};
        http_response gr = {.status = 401, .content_type = "application/json"};
        const char *www = NULL;
        if (s->guard(s->guard_arg, &g, &gr, &www) != 0) {
            struct MHD_Response *r = MHD_create_response_from_buffer(
                gr.body_len, gr.body ? gr.body : (char *)"",
                gr.body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
            if (!r) {
                free(gr.body);
                return MHD_NO;
            }
            if (gr.content_type)
                MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, gr.content_type);
            if (www) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, www);
            enum MHD_Result rc = MHD_queue_response(c, (unsigned)gr.status, r);
            MHD_destroy_response(r);
            return rc;
        }
    }
    const route *rt = find_route(s, method, url);
    if (!rt) return queue_json_error(c, 404, "Not found");
    size_t plen = strlen(url);
    http_request req = {
        .method = method,
        .path = url,
        .path_len = x->path_len > plen ? x->path_len : plen,
        .body = x->body ? x->body : "",
        .body_len = x->len,
        .content_type =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
        .peer_host = peer,
        .internal = x,
    };
    if (x->body) x->body[x->len] = 0;
    http_response resp = {.status = 200, .content_type = "application/json"};
    x->in_handler = true;
    rt->fn(rt->arg, &req, &resp);
    x->in_handler = false;
    if (x->ready || x->pending) free(resp.body);
    if (x->ready) return queue_ready(x); /* deferred and completed before returning */
    if (x->pending) {
        MHD_suspend_connection(c);
        return MHD_YES;
    }
    return queue(c, resp.status, resp.content_type, resp.body, resp.body_len);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    req_ctx *x = *con_cls;
    if (!x) return;
    if (x->pending) { /* only when the daemon stops with it pending (see http_server_stop) */
        http_pending *p = x->pending;
        if (p->prev)
            p->prev->next = p->next;
        else
            x->s->pending = p->next;
        if (p->next) p->next->prev = p->prev;
        free(p);
    }
    free(x->body);
    free(x->rbody);
    free(x);
    *con_cls = NULL;
}

/* "host:port", "[v6]:port", ":port" → a bound, listening, non-blocking socket. */
static int listen_on(const char *addr, int *port_out, char *err, size_t errlen)
{
    char host[256], portstr[8];
    int port;
    if (parse_hostport(addr, host, sizeof host, &port) < 0) {
        snprintf(err, errlen, "bad HTTP listen address \"%s\" (expected host:port)", addr);
        return -1;
    }
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &ai);
    if (rc) {
        snprintf(err, errlen, "HTTP listen address \"%s\": %s", addr, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *p = ai; p; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, p->ai_addr, p->ai_addrlen) == 0 && listen(fd, 128) == 0) break;
        snprintf(err, errlen, "HTTP listen on %s: %s", addr, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) return -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* Kafka's protocol names ("TLSv1.2,TLSv1.3") as a GnuTLS priority string (libmicrohttpd's TLS
 * is GnuTLS). -1 on a name other than TLSv1.2 / TLSv1.3 or an empty list. */
static int tls_priorities(const char *protocols, char *out, size_t outlen, char *err, size_t errlen)
{
    snprintf(out, outlen, "NORMAL:-VERS-ALL");
    int n = 0;
    const char *p = protocols ? protocols : "TLSv1.2,TLSv1.3";
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *tok = p;
        size_t tl = len;
        while (tl && isspace((unsigned char)*tok)) tok++, tl--;
        while (tl && isspace((unsigned char)tok[tl - 1])) tl--;
        const char *vers = NULL;
        if (tl == 7 && !strncasecmp(tok, "TLSv1.2", 7)) vers = ":+VERS-TLS1.2";
        if (tl == 7 && !strncasecmp(tok, "TLSv1.3", 7)) vers = ":+VERS-TLS1.3";
        if (tl && !vers) {
            snprintf(err, errlen, "ssl.enabled.protocols: \"%.*s\" is not TLSv1.2 or TLSv1.3",
                     (int)tl, tok);
            return -1;
        }
        if (vers) {
            size_t used = strlen(out);
            snprintf(out + used, outlen - used, "%s", vers);
            n++;
        }
        p += len;
        if (*p == ',') p++;
    }
    if (!n) {
        snprintf(err, errlen, "ssl.enabled.protocols is empty");
        return -1;
    }
    return 0;
}

/* One libmicrohttpd daemon on the listening socket fd (which it then owns), over TLS when tls
 * is set (prio: its GnuTLS priority string). */
static struct MHD_Daemon *daemon_new(http_server *s, int fd, const http_tls *tls, const char *prio)
{
    struct MHD_OptionItem opts[12];
    int n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, fd, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, s};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, 1000, NULL};
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    if (tls) {
        flags |= MHD_USE_TLS;
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)tls->cert_pem};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)tls->key_pem};
        if (tls->key_password && tls->key_password[0])
            opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_KEY_PASSWORD, 0,
                                                (void *)tls->key_password};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)prio};
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return MHD_start_daemon(flags, 0, NULL, NULL, on_access, s, MHD_OPTION_ARRAY, opts,
                            MHD_OPTION_END);
}

http_server *http_server_start(loop *l, const char *listen_addr, size_t max_body, char *err,
                               size_t errlen)
{
    return http_server_start_tls(l, listen_addr, max_body, NULL, err, errlen);
}

http_server *http_server_start_tls(loop *l, const char *listen_addr, size_t max_body,
                                   const http_tls *tls, char *err, size_t errlen)
{
    char prio[128];
    if (tls && (!tls->cert_pem || !tls->key_pem)) {
        snprintf(err, errlen, "HTTPS needs a certificate and a private key");
        return NULL;
    }
    if (tls && tls_priorities(tls->protocols, prio, sizeof prio, err, errlen) < 0) return NULL;
    int port = 0;
    int fd = listen_on(listen_addr, &port, err, errlen);
    if (fd < 0) return NULL;
    http_server *s = xcalloc(1, sizeof *s);
    s->l = l;
    s->port = port;
    s->tls = tls != NULL;
    s->listen_fd = fd;
    s->old_epfd = -1;
    s->max_body = max_body ? max_body : (size_t)1 << 20;
    s->d = daemon_new(s, fd, tls, prio);
    if (!s->d) {
        if (tls)
            snprintf(err, errlen,
                     "HTTPS on %s did not start: the certificate or key was refused (a PEM"
                     " certificate chain and its private key are needed; an encrypted key needs"
                     " ssl.key.password)",
                     listen_addr);
        else
            snprintf(err, errlen, "libmicrohttpd failed to start on %s", listen_addr);
        close(fd);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
    s->epfd = info ? info->epoll_fd : -1;
    if (s->epfd < 0 || loop_add_fd(l, s->epfd, EPOLLIN, on_ready, s) < 0) {
        snprintf(err, errlen, "cannot register the HTTP server with the loop");
        MHD_stop_daemon(s->d);
        free(s);
        return NULL;
    }
    rearm(s);
    return s;
}

int http_server_reload_tls(http_server *s, const http_tls *tls, char *err, size_t errlen)
{
    char prio[128];
    if (!s->tls) {
        snprintf(err, errlen, "the HTTP port does not speak TLS");
        return -1;
    }
    if (!tls->cert_pem || !tls->key_pem) {
        snprintf(err, errlen, "HTTPS needs a certificate and a private key");
        return -1;
    }
    if (tls_priorities(tls->protocols, prio, sizeof prio, err, errlen) < 0) return -1;
    int fd = fcntl(s->listen_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "dup: %s", strerror(errno));
        return -1;
    }
    struct MHD_Daemon *d = daemon_new(s, fd, tls, prio);
    if (!d) {
        close(fd);
        snprintf(err, errlen, "the new certificate or key was refused (keeping the old ones)");
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
    int epfd = info ? info->epoll_fd : -1;
    if (epfd < 0 || loop_add_fd(s->l, epfd, EPOLLIN, on_ready, s) < 0) {
        MHD_stop_daemon(d);
        snprintf(err, errlen, "cannot register the new HTTPS daemon with the loop");
        return -1;
    }
    /* a reload while the one before is still draining: that one's connections end now */
    if (s->old) retire_old(s);
    MHD_socket lfd = MHD_quiesce_daemon(s->d); /* stops accepting; the socket is ours now */
    if (lfd != MHD_INVALID_SOCKET) close(lfd);
    s->old = s->d;
    s->old_epfd = s->epfd;
    s->d = d;
    s->epfd = epfd;
    s->listen_fd = fd;
    run(s);
    return 0;
}

bool http_server_tls(const http_server *s)
{
    return s && s->tls;
}

void http_server_stop(http_server *s)
{
    if (!s) return;
    if (s->timer) loop_timer_cancel(s->l, s->timer);
    s->timer = NULL;
    /* MHD refuses to stop with suspended connections: answer what is still pending, resume,
     * and let MHD take the resumed connections back before stopping */
    int left = 0;
    while (s->pending) {
        static const char busy[] = "{\"error_code\":503,\"message\":\"shutting down\"}";
        http_complete(s->pending, 503, "application/json", busy, strlen(busy));
        left++;
    }
    if (s->timer) loop_timer_cancel(s->l, s->timer);
    s->timer = NULL;
    if (left) {
        LOGW("http", "%d deferred request(s) still pending at shutdown: answered 503", left);
        MHD_run(s->d);
    }
    if (left && s->old) MHD_run(s->old);
    if (s->old) retire_old(s);
    loop_del_fd(s->l, s->epfd);
    MHD_stop_daemon(s->d);
    for (int i = 0; i < s->nroutes; i++) {
        free(s->routes[i].method);
        free(s->routes[i].prefix);
    }
    free(s->routes);
    free(s);
}

int http_server_port(const http_server *s)
{
    return s->port;
}

void http_set_guard(http_server *s, http_guard fn, void *arg)
{
    s->guard = fn;
    s->guard_arg = arg;
}

void http_route(http_server *s, const char *method, const char *prefix, http_handler fn, void *arg)
{
    s->routes = xrealloc(s->routes, (size_t)(s->nroutes + 1) * sizeof *s->routes);
    route *r = &s->routes[s->nroutes++];
    r->method = xstrdup(method);
    r->prefix = xstrdup(prefix);
    r->plen = strlen(prefix);
    r->fn = fn;
    r->arg = arg;
}

static struct MHD_Connection *conn_of(const http_request *req)
{
    return ((req_ctx *)req->internal)->c;
}

const char *http_query(const http_request *req, const char *name)
{
    return MHD_lookup_connection_value(conn_of(req), MHD_GET_ARGUMENT_KIND, name);
}

const char *http_query_n(const http_request *req, const char *name, size_t *len)
{
    const char *v = NULL;
    size_t n = 0;
    if (MHD_lookup_connection_value_n(conn_of(req), MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
                                      &n) != MHD_YES ||
        !v)
        return NULL;
    *len = n;
    return v;
}

const char *http_header(const http_request *req, const char *name)
{
    return MHD_lookup_connection_value(conn_of(req), MHD_HEADER_KIND, name);
}

http_pending *http_defer(const http_request *req)
{
    req_ctx *x = req->internal;
    if (x->pending) return x->pending;
    http_pending *p = xcalloc(1, sizeof *p);
    p->x = x;
    p->next = x->s->pending;
    if (p->next) p->next->prev = p;
    x->s->pending = p;
    x->pending = p;
    return p;
}

static void on_resumed(loop *l, void *arg)
{
    (void)l;
    http_server *s = arg;
    s->timer = NULL;
    run(s);
}

void http_complete(http_pending *p, int status, const char *content_type, const char *body,
                   size_t len)
{
    req_ctx *x = p->x;
    http_server *s = x->s;
    if (p->prev)
        p->prev->next = p->next;
    else
        s->pending = p->next;
    if (p->next) p->next->prev = p->prev;
    free(p);
    x->pending = NULL;
    x->ready = true;
    x->rstatus = status;
    x->rctype = content_type;
    free(x->rbody);
    x->rbody = xmalloc(len + 1);
    if (len) memcpy(x->rbody, body, len);
    x->rbody[len] = 0;
    x->rlen = len;
    if (x->in_handler) return; /* on_access queues it when the handler returns */
    MHD_resume_connection(x->c);
    if (s->timer) loop_timer_cancel(s->l, s->timer);
    s->timer = loop_stopping(s->l) ? NULL : loop_timer_add(s->l, 0, on_resumed, s);
}

void http_complete_resp(http_pending *p, http_response *resp)
{
    http_complete(p, resp->status, resp->content_type, resp->body ? resp->body : "",
                  resp->body ? resp->body_len : 0);
    free(resp->body);
    resp->body = NULL;
}

void http_resp_set(http_response *r, int status, const char *content_type, const char *body,
                   size_t len)
{
    free(r->body);
    r->status = status;
    if (content_type) r->content_type = content_type;
    r->body = xmalloc(len + 1);
    if (len) memcpy(r->body, body, len);
    r->body[len] = 0;
    r->body_len = len;
}

void http_resp_printf(http_response *r, int status, const char *content_type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) abort();
    free(r->body);
    r->status = status;
    if (content_type) r->content_type = content_type;
    r->body = s;
    r->body_len = (size_t)n;
}
