/* httpc.c — the small HTTP/1.1 client behind libeddy's schema registry client (see httpc.h).
 * Non-blocking connect and poll() against one deadline; the whole answer is read until the
 * peer closes (we send "Connection: close") or the declared length is complete, never more
 * than max_bytes. https: OpenSSL on the same non-blocking socket (SNI, the certificate chain
 * verified against ca_file or the system's store, the host name or IP checked), every
 * SSL_ call waiting on what it wants against the same deadline.
 */
#include "httpc.h"

#include "eddy/schema.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ferr(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int ferr(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Waits for ev on fd until deadline: 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short ev, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) return 0;
        struct pollfd p = {.fd = fd, .events = ev};
        int r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
        if (r > 0) return 1;
        if (r < 0 && errno != EINTR) return -1;
    }
}

static int dial(const char *host, const char *port, long long deadline, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g != 0)
        return ferr(err, errlen, EDDY_ERR_TRANSIENT, "cannot resolve %s: %s", host,
                    gai_strerror(g));
    int fd = -1, last = 0;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
        if (errno == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, deadline);
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            last = w == 0 ? ETIMEDOUT : (soerr ? soerr : errno);
        } else {
            last = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return ferr(err, errlen, EDDY_ERR_TRANSIENT, "cannot connect to %s:%s: %s", host, port,
                    strerror(last));
    return fd;
}

typedef struct conn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
} conn;

static const char *ssl_reason(void)
{
    unsigned long e = ERR_get_error();
    return e ? ERR_reason_error_string(e) : "connection closed";
}

/* Waits for what the last SSL_ call wants; 1 ready, 0/-1 timeout/error. */
static int ssl_wait(conn *c, int r, long long deadline)
{
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return wait_fd(c->fd, POLLIN, deadline);
    if (e == SSL_ERROR_WANT_WRITE) return wait_fd(c->fd, POLLOUT, deadline);
    return -1;
}

static int tls_start(conn *c, const httpc_url *u, const httpc_opts *o, long long deadline,
                     char *err, size_t errlen)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx) return ferr(err, errlen, EDDY_ERR_PERMANENT, "TLS: %s", ssl_reason());
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    int ok = o && o->ca_file && *o->ca_file
                 ? SSL_CTX_load_verify_locations(c->ctx, o->ca_file, NULL)
                 : SSL_CTX_set_default_verify_paths(c->ctx);
    if (ok != 1)
        return ferr(err, errlen, EDDY_ERR_PERMANENT, "TLS: cannot load CA certificates %s: %s",
                    o && o->ca_file ? o->ca_file : "(system)", ssl_reason());
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
        return ferr(err, errlen, EDDY_ERR_PERMANENT, "TLS: %s", ssl_reason());
    X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, u->host, ip) == 1 || inet_pton(AF_INET6, u->host, ip) == 1;
    if (is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(vp, u->host);
    } else {
        SSL_set_tlsext_host_name(c->ssl, u->host);
        X509_VERIFY_PARAM_set1_host(vp, u->host, 0);
    }
    for (;;) {
        int r = SSL_connect(c->ssl);
        if (r == 1) return 0;
        long v = SSL_get_verify_result(c->ssl);
        if (v != X509_V_OK)
            return ferr(err, errlen, EDDY_ERR_PERMANENT,
                        "TLS: the certificate of %s:%s is not trusted: %s", u->host, u->port,
                        X509_verify_cert_error_string(v));
        int w = ssl_wait(c, r, deadline);
        if (w == 0)
            return ferr(err, errlen, EDDY_ERR_TRANSIENT, "TLS handshake with %s:%s timed out",
                        u->host, u->port);
        if (w < 0)
            return ferr(err, errlen, EDDY_ERR_TRANSIENT, "TLS handshake with %s:%s failed: %s",
                        u->host, u->port, ssl_reason());
    }
}

static void conn_close(conn *c)
{
    if (c->ssl) SSL_free(c->ssl);
    if (c->ctx) SSL_CTX_free(c->ctx);
    if (c->fd >= 0) close(c->fd);
}

static int send_all(conn *c, const char *p, size_t n, long long deadline)
{
    while (n) {
        if (c->ssl) {
            int w = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
            if (w > 0) {
                p += w;
                n -= (size_t)w;
            } else if (ssl_wait(c, w, deadline) != 1) {
                return -1;
            }
            continue;
        }
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(c->fd, POLLOUT, deadline) != 1) return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* recv semantics: > 0 bytes, 0 peer closed, -1 with errno EAGAIN (wait: *want set) or an error. */
static ssize_t conn_recv(conn *c, char *buf, size_t n, short *want)
{
    *want = POLLIN;
    if (!c->ssl) return recv(c->fd, buf, n, 0);
    int r = SSL_read(c->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *want = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
        errno = EAGAIN;
        return -1;
    }
    /* a peer that closes without close_notify after a complete answer: treat as the end */
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return 0;
    errno = EPROTO;
    return -1;
}

/* Decodes a chunked body in place; returns the decoded length or -1. */
static long dechunk(char *b, size_t n)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *eol = memmem(b + in, n - in, "\r\n", 2);
        if (!eol) return -1;
        char *end;
        unsigned long sz = strtoul(b + in, &end, 16);
        if (end == b + in) return -1;
        in = (size_t)(eol - b) + 2;
        if (sz == 0) return (long)out;
        if (sz > n - in || n - in - sz < 2) return -1;
        memmove(b + out, b + in, sz);
        out += sz;
        in += sz + 2;
    }
}

int httpc_do(const httpc_url *u, const httpc_opts *o, const char *method, const char *rpath,
             const char *content_type, const char *body, size_t body_len, int timeout_ms,
             size_t max_bytes, httpc_resp *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *host = u->host, *port = u->port;
    long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 5000);
    conn c = {.fd = dial(host, port, deadline, err, errlen)};
    if (c.fd < 0) return c.fd;
    int rc = EDDY_ERR_TRANSIENT;
    char *buf = NULL;
    char head[2048], path[1024];
    if (u->tls && (rc = tls_start(&c, u, o, deadline, err, errlen)) != 0) goto out;
    rc = EDDY_ERR_TRANSIENT;
    if ((size_t)snprintf(path, sizeof path, "%s%s", u->prefix, rpath) >= sizeof path) {
        rc = ferr(err, errlen, EDDY_ERR_PERMANENT, "request path too long");
        goto out;
    }
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: libeddy\r\n"
                      "Accept: application/vnd.schemaregistry.v1+json, application/json\r\n"
                      "Connection: close\r\n",
                      method, path, strchr(host, ':') ? "[" : "", host,
                      strchr(host, ':') ? "]" : "", port);
    if (hn < 0 || (size_t)hn >= sizeof head - 512) {
        rc = ferr(err, errlen, EDDY_ERR_PERMANENT, "request path too long");
        goto out;
    }
    const char *cred = o && o->basic_auth && *o->basic_auth ? o->basic_auth : u->userinfo;
    if (*cred) {
        unsigned char b64[400];
        size_t cl = strlen(cred);
        if (cl > 290) {
            rc = ferr(err, errlen, EDDY_ERR_PERMANENT, "credentials too long");
            goto out;
        }
        EVP_EncodeBlock(b64, (const unsigned char *)cred, (int)cl);
        hn += snprintf(head + hn, sizeof head - (size_t)hn, "Authorization: Basic %s\r\n", b64);
    }
    if (body)
        hn += snprintf(head + hn, sizeof head - (size_t)hn,
                       "Content-Type: %s\r\nContent-Length: %zu\r\n",
                       content_type ? content_type : "application/json", body_len);
    hn += snprintf(head + hn, sizeof head - (size_t)hn, "\r\n");
    if (send_all(&c, head, (size_t)hn, deadline) ||
        (body && send_all(&c, body, body_len, deadline))) {
        rc = ferr(err, errlen, EDDY_ERR_TRANSIENT, "sending to %s:%s: %s", host, port,
                  errno ? strerror(errno) : "timeout");
        goto out;
    }
    size_t cap = 4096, n = 0;
    buf = malloc(cap);
    if (!buf) abort();
    size_t hdr_end = 0;
    long long clen = -1;
    int chunked = 0;
    for (;;) {
        if (hdr_end && clen >= 0 && n - hdr_end >= (size_t)clen) break;
        if (n + 1 >= cap) {
            if (cap >= max_bytes + 8192) {
                rc = ferr(err, errlen, EDDY_ERR_PERMANENT, "answer from %s:%s is over %zu bytes",
                          host, port, max_bytes);
                goto out;
            }
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) abort();
        }
        short want;
        ssize_t r = conn_recv(&c, buf + n, cap - n - 1, &want);
        if (r > 0) {
            n += (size_t)r;
            buf[n] = 0;
            if (!hdr_end) {
                char *e = strstr(buf, "\r\n\r\n");
                if (e) {
                    hdr_end = (size_t)(e - buf) + 4;
                    for (char *l = strstr(buf, "\r\n"); l && l < e; l = strstr(l + 2, "\r\n")) {
                        char *h = l + 2;
                        if (!strncasecmp(h, "Content-Length:", 15)) clen = atoll(h + 15);
                        if (!strncasecmp(h, "Transfer-Encoding:", 18) && strstr(h, "chunked") &&
                            strstr(h, "chunked") < strstr(h, "\r\n"))
                            chunked = 1;
                    }
                    if (chunked) clen = -1;
                    if (clen > (long long)max_bytes) {
                        rc = ferr(err, errlen, EDDY_ERR_PERMANENT,
                                  "answer from %s:%s is over %zu bytes", host, port, max_bytes);
                        goto out;
                    }
                }
            }
            if (n > max_bytes + 8192) {
                rc = ferr(err, errlen, EDDY_ERR_PERMANENT, "answer from %s:%s is over %zu bytes",
                          host, port, max_bytes);
                goto out;
            }
        } else if (r == 0) {
            break;
        } else if (errno == EAGAIN || errno == EINTR) {
            int w = wait_fd(c.fd, want, deadline);
            if (w != 1) {
                rc = ferr(err, errlen, EDDY_ERR_TRANSIENT, "no answer from %s:%s within %d ms",
                          host, port, timeout_ms);
                goto out;
            }
        } else {
            rc = ferr(err, errlen, EDDY_ERR_TRANSIENT, "reading from %s:%s: %s", host, port,
                      strerror(errno));
            goto out;
        }
    }
    int status = 0;
    if (!hdr_end || sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || status < 100 || status > 599) {
        rc = ferr(err, errlen, EDDY_ERR_TRANSIENT, "malformed HTTP answer from %s:%s", host, port);
        goto out;
    }
    size_t blen = n - hdr_end;
    if (clen >= 0 && (size_t)clen < blen) blen = (size_t)clen;
    if (clen >= 0 && (size_t)clen > blen) {
        rc = ferr(err, errlen, EDDY_ERR_TRANSIENT, "truncated answer from %s:%s", host, port);
        goto out;
    }
    memmove(buf, buf + hdr_end, blen);
    if (chunked) {
        long d = dechunk(buf, blen);
        if (d < 0) {
            rc = ferr(err, errlen, EDDY_ERR_TRANSIENT, "bad chunked answer from %s:%s", host, port);
            goto out;
        }
        blen = (size_t)d;
    }
    buf[blen] = 0;
    out->status = status;
    out->body = buf;
    out->len = blen;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    conn_close(&c);
    return rc;
}

void httpc_resp_free(httpc_resp *r)
{
    if (!r) return;
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

/* Percent-decodes n bytes of s into out (size outlen); -1 on a bad escape or no room. */
static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) return -1;
            ch = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            if (!ch) return -1;
            i += 2;
        }
        if (o + 1 >= outlen) return -1;
        out[o++] = ch;
    }
    out[o] = 0;
    return 0;
}

int httpc_url_parse(const char *url, httpc_url *u)
{
    memset(u, 0, sizeof *u);
    const char *h;
    if (url && !strncasecmp(url, "http://", 7)) {
        h = url + 7;
    } else if (url && !strncasecmp(url, "https://", 8)) {
        h = url + 8;
        u->tls = 1;
    } else {
        return -1;
    }
    const char *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    const char *at = memrchr(h, '@', hl);
    if (at) {
        if (pct_decode(h, (size_t)(at - h), u->userinfo, sizeof u->userinfo) < 0) return -1;
        hl -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    char hostport[300];
    if (hl == 0 || hl >= sizeof hostport) return -1;
    memcpy(hostport, h, hl);
    hostport[hl] = 0;
    char *hs = hostport, *ps = NULL;
    if (hostport[0] == '[') { /* [v6]:port */
        char *rb = strchr(hostport, ']');
        if (!rb) return -1;
        *rb = 0;
        hs = hostport + 1;
        if (rb[1] == ':')
            ps = rb + 2;
        else if (rb[1])
            return -1;
    } else {
        char *c = strrchr(hostport, ':');
        if (c) {
            *c = 0;
            ps = c + 1;
        }
    }
    if (!*hs || strlen(hs) >= sizeof u->host) return -1;
    if (ps) {
        if (!*ps || strlen(ps) > 5) return -1;
        for (const char *q = ps; *q; q++)
            if (*q < '0' || *q > '9') return -1;
        if (atoi(ps) < 1 || atoi(ps) > 65535) return -1;
    }
    const char *pre = slash ? slash : "";
    size_t pl = strlen(pre);
    while (pl && pre[pl - 1] == '/') pl--;
    if (pl >= sizeof u->prefix) return -1;
    memcpy(u->host, hs, strlen(hs) + 1); /* fits: checked above */
    snprintf(u->port, sizeof u->port, "%s", ps ? ps : u->tls ? "443" : "80");
    memcpy(u->prefix, pre, pl);
    u->prefix[pl] = 0;
    return 0;
}
