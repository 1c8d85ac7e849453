/* http — eddyd's HTTP port: libmicrohttpd driven from the broker's own epoll loop (MHD's epoll
 * fd is registered with the loop; MHD_run is called when it is readable and on MHD's timeout).
 * Routes by method and path prefix; handlers run on the loop thread and answer synchronously,
 * or leave the answer pending (http_defer) and complete it later from the loop thread.
 *
 * Users: /metrics and /healthz (metrics.c), the schema registry (src/registry), admin API and
 * console assets.
 */
#ifndef EDDY_HTTP_HTTP_H
#define EDDY_HTTP_HTTP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "net/loop.h"

typedef struct http_server http_server;

typedef struct http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* URL path without the query string, percent-decoded */
    size_t path_len;    /* decoded length: > strlen(path) when the URL held "%00" */
    const char *body;   /* NUL-terminated, may be "" */
    size_t body_len;
    const char *content_type; /* may be NULL */
    const char *peer_host;    /* the client's address without the port ("" if unknown) */
    void *internal;           /* the server's request state (http_query, http_defer, ...) */
} http_request;

typedef struct http_response {
    int status;
    const char *content_type; /* static string */
    char *body;               /* malloc()ed; freed by the server */
    size_t body_len;
} http_response;

typedef void (*http_handler)(void *arg, const http_request *req, http_response *resp);

/* A guard runs before routing for every request (authentication and authorization of the
 * port): it returns 0 to let the request on, or fills resp (e.g. 401, 403) and returns -1.
 * www_authenticate, when not NULL, goes out as the WWW-Authenticate header of that answer. */
typedef int (*http_guard)(void *arg, const http_request *req, http_response *resp,
                          const char **www_authenticate);
void http_set_guard(http_server *s, http_guard fn, void *arg);

/* Starts listening on "host:port" (port 0 = any free port). max_body: larger request bodies
 * get 413 without reaching a handler. Returns NULL with a message in err on failure. */
http_server *http_server_start(loop *l, const char *listen_addr, size_t max_body, char *err,
                               size_t errlen);

/* HTTPS: the server's key and certificate chain as PEM text (one buffer may hold both, as a
 * KIP-651 keystore does: the certificates are taken from cert_pem, the key from key_pem),
 * the key's password (NULL = unencrypted) and the accepted TLS versions as Kafka names them
 * ("TLSv1.2,TLSv1.3"; NULL = both). */
typedef struct http_tls {
    const char *cert_pem;
    const char *key_pem;
    const char *key_password;
    const char *protocols;
} http_tls;
/* As http_server_start, over TLS when tls is not NULL. */
http_server *http_server_start_tls(loop *l, const char *listen_addr, size_t max_body,
                                   const http_tls *tls, char *err, size_t errlen);
/* New certificates for new connections (SIGHUP): a second daemon takes over the listening
 * socket; the previous one stops accepting and serves its open connections until they end.
 * On error (unreadable or refused certificate) the old ones stay and -1 is returned. */
int http_server_reload_tls(http_server *s, const http_tls *tls, char *err, size_t errlen);
/* Whether the server speaks TLS. */
bool http_server_tls(const http_server *s);
void http_server_stop(http_server *s);
int http_server_port(const http_server *s);

/* method "*" matches any method; the longest matching prefix wins; unmatched → 404 JSON. */
void http_route(http_server *s, const char *method, const char *prefix, http_handler fn, void *arg);

const char *http_query(const http_request *req, const char *name); /* NULL if absent */
/* The same with the decoded length (> strlen(value) when the value held "%00"). */
const char *http_query_n(const http_request *req, const char *name, size_t *len);
const char *http_header(const http_request *req, const char *name); /* NULL if absent */

/* Helpers to fill a response (body copied / formatted into a malloc()ed buffer). */
void http_resp_set(http_response *r, int status, const char *content_type, const char *body,
                   size_t len);
void http_resp_printf(http_response *r, int status, const char *content_type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Deferred answers. A handler that cannot answer yet (its work runs on another thread, or waits
 * for an fsync) calls http_defer(req), leaves resp untouched and returns; the connection is
 * suspended (nothing more is read from it) until exactly one http_complete() for the handle,
 * called on the loop thread, answers it and frees the handle. http_complete may also be called
 * before the handler returns. The request's fields are valid only while the handler runs: copy
 * what the answer needs. Every pending request must be completed before http_server_stop; a
 * request still pending then is answered 503 and its handle freed (a later http_complete on it
 * is a use after free), so modules complete theirs in their stop function.
 * http_complete copies body (len bytes); http_complete_resp takes resp->body. */
typedef struct http_pending http_pending;
http_pending *http_defer(const http_request *req);
void http_complete(http_pending *p, int status, const char *content_type, const char *body,
                   size_t len);
void http_complete_resp(http_pending *p, http_response *resp);

#endif
