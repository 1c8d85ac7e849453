/* httpc.c — the small HTTP/1.1 client behind libeddy's schema registry client (see httpc.h).
 * Non-blocking connect and poll() against one deadline; the whole answer is read until the
 * peer closes (we send "Connection: close") or the declared length is complete, never more
 * than max_bytes.
 */
#include "httpc.h"

#include "eddy/schema.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

static int send_all(int fd, const char *p, size_t n, long long deadline)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline) != 1) return -1;
        } else {
            return -1;
        }
    }
    return 0;
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

int httpc_request(const char *host, const char *port, const char *method, const char *path,
                  const char *content_type, const char *body, size_t body_len, int timeout_ms,
                  size_t max_bytes, httpc_resp *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 5000);
    int fd = dial(host, port, deadline, err, errlen);
    if (fd < 0) return fd;
    int rc = EDDY_ERR_TRANSIENT;
    char *buf = NULL;
    char head[1024];
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: libeddy\r\n"
                      "Accept: application/vnd.schemaregistry.v1+json, application/json\r\n"
                      "Connection: close\r\n",
                      method, path, strchr(host, ':') ? "[" : "", host,
                      strchr(host, ':') ? "]" : "", port);
    if (hn < 0 || (size_t)hn >= sizeof head - 128) {
        rc = ferr(err, errlen, EDDY_ERR_PERMANENT, "request path too long");
        goto out;
    }
    if (body)
        hn += snprintf(head + hn, sizeof head - (size_t)hn,
                       "Content-Type: %s\r\nContent-Length: %zu\r\n",
                       content_type ? content_type : "application/json", body_len);
    hn += snprintf(head + hn, sizeof head - (size_t)hn, "\r\n");
    if (send_all(fd, head, (size_t)hn, deadline) ||
        (body && send_all(fd, body, body_len, deadline))) {
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
        ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
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
            int w = wait_fd(fd, POLLIN, deadline);
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
    close(fd);
    return rc;
}

void httpc_resp_free(httpc_resp *r)
{
    if (!r) return;
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

int httpc_parse_url(const char *url, char *host, size_t host_len, char *port, size_t port_len,
                    char *prefix, size_t prefix_len)
{
    if (!url || strncmp(url, "http://", 7) != 0) return -1;
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
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
    if (!*hs || strlen(hs) >= host_len) return -1;
    if (ps) {
        if (!*ps || strlen(ps) > 5) return -1;
        for (const char *q = ps; *q; q++)
            if (*q < '0' || *q > '9') return -1;
        if (atoi(ps) < 1 || atoi(ps) > 65535) return -1;
    }
    const char *pv = ps ? ps : "80";
    if (strlen(pv) >= port_len) return -1;
    const char *pre = slash ? slash : "";
    size_t pl = strlen(pre);
    while (pl && pre[pl - 1] == '/') pl--;
    if (pl >= prefix_len) return -1;
    snprintf(host, host_len, "%s", hs);
    snprintf(port, port_len, "%s", pv);
    memcpy(prefix, pre, pl);
    prefix[pl] = 0;
    return 0;
}
