/* http — eddyd's HTTP port: libmicrohttpd driven from the broker's own epoll loop (MHD's epoll
 * fd is registered with the loop; MHD_run is called when it is readable and on MHD's timeout).
 * Routes by method and path prefix; handlers run on the loop thread and answer synchronously.
 *
 * Users: /metrics and /healthz (metrics.c), the schema registry (registry*.c), admin API and
 * console assets.
 */
#ifndef EDDY_HTTP_HTTP_H
#define EDDY_HTTP_HTTP_H

#include <stdarg.h>
#include <stddef.h>

#include "net/loop.h"

typedef struct http_server http_server;

typedef struct http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* URL path without the query string, percent-decoded */
    const char *body;   /* NUL-terminated, may be "" */
    size_t body_len;
    const char *content_type; /* may be NULL */
    void *internal;           /* the MHD connection (for http_query / http_header) */
    void *ctx;                /* the server's per-request context (for http_defer) */
} http_request;

typedef struct http_response {
    int status;
    const char *content_type; /* static string */
    char *body;               /* malloc()ed; freed by the server */
    size_t body_len;
} http_response;

typedef void (*http_handler)(void *arg, const http_request *req, http_response *resp);

/* Starts listening on "host:port" (port 0 = any free port). max_body: larger request bodies
 * get 413 without reaching a handler. Returns NULL with a message in err on failure. */
http_server *http_server_start(loop *l, const char *listen_addr, size_t max_body, char *err,
                               size_t errlen);
void http_server_stop(http_server *s);
int http_server_port(const http_server *s);

/* Deferred answers. A handler that cannot answer yet (it waits for an fsync, a worker thread,
 * another request) calls http_defer(req) and returns without filling resp; the connection is
 * suspended (no timeout runs) until the owner of the token calls http_complete exactly once, on
 * the loop thread (from any callback, also from inside another handler). body is malloc()ed
 * and taken. If the client went away meanwhile the answer is dropped. Every token must be
 * completed before http_server_stop; any left then are answered 503 and become invalid. */
typedef struct http_pending http_pending;
http_pending *http_defer(const http_request *req);
void http_complete(http_pending *p, int status, const char *content_type, char *body,
                   size_t len);
/* Number of deferred requests not yet completed (for metrics and tests). */
int http_pending_count(const http_server *s);

/* method "*" matches any method; the longest matching prefix wins; unmatched → 404 JSON. */
void http_route(http_server *s, const char *method, const char *prefix, http_handler fn,
                void *arg);

const char *http_query(const http_request *req, const char *name);  /* NULL if absent */
const char *http_header(const http_request *req, const char *name); /* NULL if absent */

/* Helpers to fill a response (body copied / formatted into a malloc()ed buffer). */
void http_resp_set(http_response *r, int status, const char *content_type, const char *body,
                   size_t len);
void http_resp_printf(http_response *r, int status, const char *content_type, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

#endif
