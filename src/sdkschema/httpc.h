/* httpc.h — a small blocking HTTP/1.1 client (plain TCP, or TLS on OpenSSL with the server's
 * certificate and host name verified) for libeddy's schema registry client (schema.c) and the
 * CLI. HTTP Basic credentials from the URL or the options. One request per connection ("Connection:
 * close"), an overall deadline covering connect, send and receive, and a cap on the response size.
 * Content-Length, chunked and close-delimited bodies are understood. Internal to src/sdkschema.
 */
#ifndef EDDY_SDKSCHEMA_HTTPC_H
#define EDDY_SDKSCHEMA_HTTPC_H

#include <stddef.h>

/* Not part of libeddy's ABI: hidden from libeddy.so's dynamic symbols. */
#define HTTPC_INTERNAL __attribute__((visibility("hidden")))

typedef struct httpc_resp {
    int status; /* e.g. 200 */
    char *body; /* malloc'd, NUL-terminated */
    size_t len;
} httpc_resp;

/* A parsed "http[s]://[USER:PASSWORD@]HOST[:PORT][/PREFIX]" (HOST may be [v6]; PORT defaults
 * to 80 / 443; PREFIX without trailing '/', "" when absent; userinfo "" when absent). */
typedef struct httpc_url {
    char host[256];
    char port[8];
    char prefix[256];
    char userinfo[256]; /* "user:password" from the URL, percent-decoded */
    int tls;            /* https:// */
} httpc_url;

/* Per-request options (all may be NULL/0). */
typedef struct httpc_opts {
    const char *basic_auth; /* "user:password" for HTTP Basic; NULL = the URL's user info */
    const char *ca_file;    /* PEM CA certificates to verify an https server; NULL = system's */
} httpc_opts;

/* 0, or -1 when the URL is not of that form or a part does not fit. */
HTTPC_INTERNAL int httpc_url_parse(const char *url, httpc_url *u);

/* One request to u's host with path appended to its prefix. 0 on an answer (any status), else
 * EDDY_ERR_TRANSIENT (connect/timeout/IO/TLS handshake) or EDDY_ERR_PERMANENT (malformed
 * answer, over max_bytes, certificate refused) with the reason in err. */
HTTPC_INTERNAL int httpc_do(const httpc_url *u, const httpc_opts *o, const char *method,
                            const char *path, const char *content_type, const char *body,
                            size_t body_len, int timeout_ms, size_t max_bytes, httpc_resp *out,
                            char *err, size_t errlen);
HTTPC_INTERNAL void httpc_resp_free(httpc_resp *r);

#endif
