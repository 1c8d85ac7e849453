/* httpc.h — a small blocking HTTP/1.1 client over a plain TCP socket for libeddy's schema
 * registry client (schema.c). One request per connection ("Connection: close"), an overall
 * deadline covering connect, send and receive, and a cap on the response size. Content-Length,
 * chunked and close-delimited bodies are understood. Internal to src/sdkschema.
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

/* 0 on an answer (any status), else EDDY_ERR_TRANSIENT (connect/timeout/IO) or
 * EDDY_ERR_PERMANENT (malformed answer, over max_bytes) with the reason in err. */
HTTPC_INTERNAL int httpc_request(const char *host, const char *port, const char *method,
                                 const char *path, const char *content_type, const char *body,
                                 size_t body_len, int timeout_ms, size_t max_bytes, httpc_resp *out,
                                 char *err, size_t errlen);
HTTPC_INTERNAL void httpc_resp_free(httpc_resp *r);

/* Splits "http://HOST[:PORT][/PREFIX]" (HOST may be [v6]; PORT defaults to 80, must be
 * 1..65535; PREFIX is returned without trailing '/', "" when absent). 0, or -1 when the URL
 * is not of that form or a part does not fit its buffer. */
HTTPC_INTERNAL int httpc_parse_url(const char *url, char *host, size_t host_len, char *port,
                                   size_t port_len, char *prefix, size_t prefix_len);

#endif
