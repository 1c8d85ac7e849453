/* server — eddyd's Kafka listener: accepts connections, cuts the byte stream into frames,
 * decodes request headers and bodies, dispatches to handlers, and sends responses in request
 * order (memory runs with writev, record-batch file ranges with sendfile).
 *
 * Sits in broker/ on top of net/loop and proto/kmsg. Lifetime rules:
 *  - a connection (bconn) holds one reference for its open socket, one per request not yet
 *    finished, and one while its callback runs; it is freed when the count reaches zero;
 *  - a request (breq) lives in its connection's FIFO from arrival until its response has been
 *    encoded and the requests before it have been sent on; a request finished on a closed
 *    connection is dropped.
 * Any malformed input closes that one connection (logged); nothing else is disturbed.
 */
#include "broker/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "authz/quota.h"
#include "broker/broker.h"
#include "broker/core.h"
#include "common/log.h"
#include "common/util.h"
#include "net/tls.h"
#include "security/principal.h"
#include "security/sasl.h"

#define READ_CHUNK (64 * 1024)
#define MAX_INFLIGHT_PER_CONN 4096
#define OUT_HIGH_WATER (64LL * 1024 * 1024)
#define TLS_STAGE (64 * 1024) /* plaintext staged per TLS write (memory runs, file ranges) */

typedef struct outbuf {
    kout out;
    int seg;      /* current segment */
    int64_t done; /* bytes of the current segment already sent */
    struct outbuf *next;
} outbuf;

struct bconn {
    broker *b;
    blistener *lis; /* the listener it came in on */
    int fd;
    int refs;
    bool closed;
    bool want_write;
    bool reading_paused;
    bool in_processing;
    bool budget_wait; /* not reading: queued.max.request.bytes is spent (g_budget_waiters) */
    bool loopback;
    char peer[64];
    char host[48];          /* peer address without the port (per-IP limits) */
    char principal[256];    /* "User:<name>" once authenticated; "User:ANONYMOUS" until then */
    bsasl sasl;             /* SASL listeners: where the exchange stands (core.h) */
    bool close_after_flush; /* close once the queued responses are written (failed auth) */
    /* TLS listeners (SSL, SASL_SSL) */
    tls_conn *tls;
    bool handshaking;
    int64_t accepted_ms;
    uint8_t *stage;         /* TLS_STAGE bytes: what one tls_write sends */
    int64_t last_active_ms; /* last byte received or sent (connections.max.idle.ms) */
    int64_t frame_start_ms; /* when the first byte of the incomplete frame arrived, 0 = none */
    int64_t muted_until_ms; /* quota throttle (KIP-219): no reading before this, 0 = none */
    loop_timer *mute_timer;
    loop_timer *reread_timer; /* TLS: records left inside OpenSSL when conn_read stopped */
    struct bconn *next_waiter;
    struct bconn *prev_conn, *next_conn; /* all open connections, for shutdown */
    /* input */
    uint8_t *in;
    size_t in_len, in_alloc;
    /* requests in arrival order */
    breq *head, *tail;
    int inflight;
    /* encoded responses waiting to be written */
    outbuf *out_head, *out_tail;
    int64_t out_bytes;
};

static bconn *g_conns;

/* queued.max.request.bytes: bytes held by connections' input buffers beyond their first
 * 128 KiB (in_charge). A connection that must grow its buffer beyond the budget stops reading
 * (budget_wait) until others give memory back; the only connection holding budget may always
 * grow (no deadlock on one big request). */
static int64_t g_in_bytes;
static bconn *g_budget_waiters, **g_budget_tail = &g_budget_waiters;
static loop_timer *g_sweep; /* idle / slow-request sweep */

/* Connections per peer address (max.connections.per.ip): a small chained hash table. */
typedef struct ipcount {
    char host[48];
    int n;
    struct ipcount *next;
} ipcount;
#define IP_BUCKETS 1024
static ipcount *g_ips[IP_BUCKETS];

static unsigned ip_hash(const char *h)
{
    unsigned v = 2166136261u;
    for (; *h; h++) v = (v ^ (unsigned char)*h) * 16777619u;
    return v % IP_BUCKETS;
}

static ipcount *ip_find(const char *h, bool create)
{
    ipcount **pp = &g_ips[ip_hash(h)];
    for (ipcount *e = *pp; e; e = e->next)
        if (!strcmp(e->host, h)) return e;
    if (!create) return NULL;
    ipcount *e = xcalloc(1, sizeof *e);
    snprintf(e->host, sizeof e->host, "%s", h);
    e->next = *pp;
    *pp = e;
    return e;
}

static void ip_drop(const char *h)
{
    ipcount **pp = &g_ips[ip_hash(h)];
    for (ipcount *e = *pp; e; pp = &e->next, e = e->next) {
        if (strcmp(e->host, h)) continue;
        if (--e->n <= 0) {
            *pp = e->next;
            free(e);
        }
        return;
    }
}

/* The limit for host: max.connections.per.ip.overrides ("host:n,host:n"), else the default. */
static int ip_limit(const broker *b, const char *host)
{
    const char *o = b->cfg.max_connections_per_ip_overrides;
    size_t hl = strlen(host);
    while (o && *o) {
        const char *comma = strchr(o, ',');
        size_t len = comma ? (size_t)(comma - o) : strlen(o);
        const char *colon = memrchr(o, ':', len);
        if (colon && (size_t)(colon - o) == hl && !strncmp(o, host, hl))
            return (int)strtol(colon + 1, NULL, 10);
        o = comma ? comma + 1 : NULL;
    }
    return b->cfg.max_connections_per_ip;
}

static void budget_wake(void);

static void conn_close(bconn *c, const char *why);
static void conn_release(bconn *c);
static void conn_pump(bconn *c);
static void conn_update_events(bconn *c);
static void conn_process_input(bconn *c);
static void conn_read(bconn *c);

/* ------------------------------------------------------------------ metrics ---- */

static int latency_bucket(int64_t us)
{
    int i = 0;
    while (i < 15 && us > (1LL << (i + 6))) i++;
    return i;
}

static void count_request(broker *b, const breq *r)
{
    if (r->hdr.api_key < 0 || r->hdr.api_key > KAPI_MAX_KEY) return;
    bmetrics_api *m = &b->api_metrics[r->hdr.api_key];
    int64_t us = now_mono_us() - r->recv_us;
    if (us < 0) us = 0;
    m->requests++;
    m->latency_sum_us += (uint64_t)us;
    m->latency_buckets[latency_bucket(us)]++;
    /* a top-level ErrorCode, when the response has one */
    if (r->resp && r->api && r->api->response_error_code >= 0 &&
        r->resp->v[r->api->response_error_code].i != 0)
        m->errors++;
}

/* ------------------------------------------------------------------ requests ---- */

static void breq_free(breq *r)
{
    karena_free(r->arena);
    free(r->frame);
    free(r);
}

const char *breq_client_host(const breq *r)
{
    return r->conn ? r->conn->peer : "?";
}

const char *breq_principal(const breq *r)
{
    return r->conn && r->conn->principal[0] ? r->conn->principal : "User:ANONYMOUS";
}

const char *breq_peer_host(const breq *r)
{
    return r->conn ? r->conn->host : "";
}

static void on_unmute(loop *l, void *arg)
{
    (void)l;
    bconn *c = arg;
    c->mute_timer = NULL;
    c->muted_until_ms = 0;
    if (!c->closed) conn_pump(c);
    conn_release(c);
}

/* Mutes c until now + ms (keeping a later end already set). */
static void conn_mute(bconn *c, int32_t ms)
{
    if (c->closed || ms <= 0) return;
    int64_t until = now_mono_ms() + ms;
    if (until <= c->muted_until_ms) return;
    c->muted_until_ms = until;
    if (c->mute_timer)
        loop_timer_cancel(c->b->loop, c->mute_timer); /* its reference passes to the new one */
    else
        c->refs++; /* held by the timer */
    c->mute_timer = loop_timer_add(c->b->loop, ms, on_unmute, c);
    conn_update_events(c);
}

void breq_throttle(breq *r, int32_t ms)
{
    if (r->conn) conn_mute(r->conn, ms);
}

void breq_set_principal(breq *r, const char *principal)
{
    if (r->conn) snprintf(r->conn->principal, sizeof r->conn->principal, "%s", principal);
}

void breq_advertised(const breq *r, const char **host, int *port)
{
    if (r->conn && r->conn->lis) {
        *host = r->conn->lis->adv_host;
        *port = r->conn->lis->adv_port;
    } else {
        *host = r->b->adv_host;
        *port = r->b->adv_port;
    }
}

int breq_security_protocol(const breq *r)
{
    return r->conn && r->conn->lis ? r->conn->lis->proto : SEC_PLAINTEXT;
}

const char *breq_listener_name(const breq *r)
{
    return r->conn && r->conn->lis ? r->conn->lis->name : "";
}

bsasl *breq_sasl(breq *r)
{
    return r->conn && r->conn->lis && SEC_IS_SASL(r->conn->lis->proto) ? &r->conn->sasl : NULL;
}

void breq_close_after_response(breq *r)
{
    if (r->conn) r->conn->close_after_flush = true;
}

char *breq_client_id(const breq *r)
{
    size_t n = r->hdr.client_id.len > 0 ? (size_t)r->hdr.client_id.len : 0;
    char *s = karena_alloc(r->arena, n + 1);
    if (n) memcpy(s, r->hdr.client_id.p, n);
    /* Kafka accepts any client id; it goes into member ids (stored in the group log) and log
     * lines, so NUL and control characters are replaced rather than let cut or forge them */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) s[i] = '_';
    return s;
}

static void outbuf_free(outbuf *o)
{
    for (int i = 0; i < o->out.nsegs; i++)
        if (o->out.segs[i].fd >= 0) close(o->out.segs[i].fd);
    kout_free(&o->out);
    free(o);
}

/* Encodes r's response (size prefix, header, body) into a new outbuf. */
static outbuf *encode_response(breq *r)
{
    outbuf *o = xcalloc(1, sizeof *o);
    kout_init(&o->out, 0);
    if (r->raw_sasl) {
        /* SaslHandshake v0's raw form: the token alone behind its size */
        kstr t = k_str(r->resp, SaslAuthenticateResponse_AuthBytes);
        int32_t n = t.len > 0 ? t.len : 0;
        wbuf_i32(&o->out.mem, n);
        if (n) wbuf_put(&o->out.mem, t.p, (size_t)n);
        kout_finish(&o->out);
        return o;
    }
    wbuf_i32(&o->out.mem, 0); /* size, patched below */
    kresp_header_encode(&o->out.mem, r->hdr.api_key, r->hdr.api_version, r->hdr.correlation_id);
    kmsg_encode(r->resp, r->hdr.api_version, kapi_flexible(r->api, r->hdr.api_version), &o->out);
    kout_finish(&o->out);
    int64_t total = kout_size(&o->out) - 4;
    wbuf_patch_i32(&o->out.mem, 0, (int32_t)total);
    return o;
}

static void conn_queue_out(bconn *c, outbuf *o)
{
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out_head = o;
    c->out_tail = o;
    c->out_bytes += kout_size(&o->out);
}

/* Moves finished requests from the head of the FIFO to the output queue, in order. */
static void conn_drain_finished(bconn *c)
{
    while (c->head && c->head->finished) {
        breq *r = c->head;
        c->head = r->next;
        if (!c->head) c->tail = NULL;
        c->inflight--;
        if (!r->noreply) {
            /* encoding also takes over any file fragments (Fetch records), so a response that
             * can no longer be sent still closes its descriptors when freed */
            outbuf *o = encode_response(r);
            if (!c->closed)
                conn_queue_out(c, o);
            else
                outbuf_free(o);
        }
        breq_free(r);
        conn_release(c);
    }
}

static void finish(breq *r)
{
    if (r->finished) {
        LOGE("server", "BUG: request %s corr %d finished twice", r->api ? r->api->name : "?",
             r->hdr.correlation_id);
        return;
    }
    r->finished = true;
    count_request(r->b, r);
    bconn *c = r->conn;
    c->refs++;
    conn_drain_finished(c);
    if (!c->closed) conn_pump(c);
    conn_release(c);
}

void breq_done(breq *r)
{
    finish(r);
}

void breq_done_noreply(breq *r)
{
    r->noreply = true;
    finish(r);
}

void breq_close_conn(breq *r)
{
    r->noreply = true;
    bconn *c = r->conn;
    c->refs++;
    if (!c->closed) conn_close(c, "request refused");
    finish(r);
    conn_release(c);
}

/* ------------------------------------------------------------------ output ---- */

/* One TLS write from the current position of o: memory segments are staged together (one
 * record instead of one per segment), file ranges go through kernel TLS with sendfile when the
 * connection has it, else pread into the stage + tls_write. A retry after EAGAIN stages the same
 * bytes again (OpenSSL requires it). Returns what tls_write returned, or -2 once c is closed. */
static ssize_t tls_send_seg(bconn *c, kout *k, outbuf *o)
{
    kout_seg *s = &k->segs[o->seg];
    if (!c->stage) c->stage = xmalloc(TLS_STAGE);
    if (s->fd >= 0) {
        off_t off = (off_t)(s->off + o->done);
        size_t left = (size_t)(s->len - o->done);
        if (tls_ktls_send(c->tls)) return tls_sendfile(c->tls, s->fd, off, left);
        size_t want = MIN(left, (size_t)TLS_STAGE);
        ssize_t got = pread(s->fd, c->stage, want, off);
        if (got <= 0) {
            conn_close(c, got == 0 ? "segment file shrank during send" : strerror(errno));
            return -2;
        }
        return tls_write(c->tls, c->stage, (size_t)got);
    }
    size_t used = 0;
    for (int i = o->seg; i < k->nsegs && k->segs[i].fd < 0 && used < TLS_STAGE; i++) {
        int64_t skip = (i == o->seg) ? o->done : 0;
        size_t n = MIN((size_t)(k->segs[i].len - skip), (size_t)TLS_STAGE - used);
        memcpy(c->stage + used, k->mem.data + k->segs[i].off + skip, n);
        used += n;
    }
    return tls_write(c->tls, c->stage, used);
}

static int conn_write_some(bconn *c)
{
    while (c->out_head) {
        outbuf *o = c->out_head;
        kout *k = &o->out;
        while (o->seg < k->nsegs) {
            kout_seg *s = &k->segs[o->seg];
            ssize_t n;
            if (c->tls) {
                n = tls_send_seg(c, k, o);
                if (n == -2) return -1; /* closed */
            } else if (s->fd < 0) {
                /* gather consecutive memory segments of this response */
                struct iovec iov[64];
                int cnt = 0;
                for (int i = o->seg; i < k->nsegs && cnt < 64 && k->segs[i].fd < 0; i++) {
                    int64_t skip = (i == o->seg) ? o->done : 0;
                    iov[cnt].iov_base = k->mem.data + k->segs[i].off + skip;
                    iov[cnt].iov_len = (size_t)(k->segs[i].len - skip);
                    cnt++;
                }
                n = writev(c->fd, iov, cnt);
            } else {
                off_t off = (off_t)(s->off + o->done);
                n = sendfile(c->fd, s->fd, &off, (size_t)(s->len - o->done));
                if (n == 0 && s->len - o->done > 0) {
                    /* the file is shorter than promised (truncated underneath): close rather
                     * than send a wrong frame */
                    conn_close(c, "segment file shrank during send");
                    return -1;
                }
            }
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
                conn_close(c, c->tls && errno == EIO ? tls_error(c->tls) : strerror(errno));
                return -1;
            }
            c->out_bytes -= n;
            c->last_active_ms = now_mono_ms();
            while (n > 0 && o->seg < k->nsegs) {
                int64_t left = k->segs[o->seg].len - o->done;
                if (n >= left) {
                    n -= left;
                    o->seg++;
                    o->done = 0;
                } else {
                    o->done += n;
                    n = 0;
                }
            }
        }
        c->out_head = o->next;
        if (!c->out_head) c->out_tail = NULL;
        outbuf_free(o);
    }
    if (c->close_after_flush && !c->head) {
        conn_close(c, "authentication failed");
        return -1;
    }
    return 0;
}

static void conn_update_events(bconn *c)
{
    if (c->closed) return;
    bool want_write = c->out_head != NULL;
    bool pause = c->out_bytes > OUT_HIGH_WATER || c->inflight >= MAX_INFLIGHT_PER_CONN ||
                 c->budget_wait || c->close_after_flush || c->muted_until_ms;
    if (want_write != c->want_write || pause != c->reading_paused) {
        c->want_write = want_write;
        c->reading_paused = pause;
        uint32_t ev = (pause ? 0 : EPOLLIN) | (want_write ? EPOLLOUT : 0);
        loop_mod_fd(c->b->loop, c->fd, ev);
    }
}

static void conn_pump(bconn *c)
{
    if (c->closed) return;
    if (conn_write_some(c) < 0) return;
    bool was_paused = c->reading_paused;
    conn_update_events(c);
    /* frames left in the buffer while paused are not announced again by epoll */
    if (was_paused && !c->reading_paused && c->in_len >= 4 && !c->in_processing) {
        conn_process_input(c);
        if (!c->closed && conn_write_some(c) == 0) conn_update_events(c);
    }
    if (was_paused && !c->closed && !c->reading_paused && c->tls && tls_buffered(c->tls) &&
        !c->in_processing)
        conn_read(c);
}

/* ------------------------------------------------------------------ input ---- */

/* ApiVersions at a version we don't know: v0 body layout, error 35, only key 18 listed. */
static void answer_api_versions_unsupported(bconn *c, int32_t corr)
{
    const bhandler *h = dispatch_find(API_ApiVersions);
    outbuf *o = xcalloc(1, sizeof *o);
    kout_init(&o->out, 0);
    wbuf *w = &o->out.mem;
    wbuf_i32(w, 16);
    wbuf_i32(w, corr);
    wbuf_i16(w, KERR_UNSUPPORTED_VERSION);
    wbuf_i32(w, 1);
    wbuf_i16(w, API_ApiVersions);
    wbuf_i16(w, h ? h->min_version : 0);
    wbuf_i16(w, h ? h->max_version : 0);
    kout_finish(&o->out);
    conn_queue_out(c, o);
}

/* Queues r (decoded) on c and runs its handler. Returns 0, or -1 if c was closed. */
static int conn_dispatch(bconn *c, breq *q, const bhandler *h)
{
    q->resp = kmsg_new(q->arena, q->api->response);
    /* enqueue before running the handler: it may finish synchronously */
    if (c->tail)
        c->tail->next = q;
    else
        c->head = q;
    c->tail = q;
    c->inflight++;
    c->refs++;
    int64_t t0 = now_mono_us();
    h->fn(c->b, q);
    /* request_percentage quota: the loop thread's time spent in the handler */
    quota_store *qs = c->b->quotas;
    if (qs && !quota_store_empty(qs)) {
        const char *p = c->principal[0] ? c->principal : "User:ANONYMOUS";
        const char *user = strchr(p, ':') ? strchr(p, ':') + 1 : p;
        int32_t ms =
            quota_record(qs, user, QUOTA_REQUEST, (double)(now_mono_us() - t0), now_mono_ms());
        if (ms > 0) conn_mute(c, ms);
    }
    return c->closed ? -1 : 0;
}

/* After SaslHandshake v0 the client sends its SASL tokens bare (size + bytes, no header): the
 * frame goes to the SaslAuthenticate handler as a v0 request marked raw_sasl, and its answer
 * goes back bare too (encode_response). */
static int conn_raw_sasl(bconn *c, uint8_t *frame, size_t len)
{
    const bhandler *h = dispatch_find(API_SaslAuthenticate);
    const kapi *api = kapi_get(API_SaslAuthenticate);
    if (!h || !api) {
        free(frame);
        conn_close(c, "SASL is not served");
        return -1;
    }
    breq *q = xcalloc(1, sizeof *q);
    q->b = c->b;
    q->conn = c;
    q->hdr.api_key = API_SaslAuthenticate;
    q->hdr.api_version = 0;
    q->hdr.client_id = (kstr){NULL, -1};
    q->api = api;
    q->arena = karena_new();
    q->frame = frame;
    q->frame_len = len;
    q->recv_us = now_mono_us();
    q->raw_sasl = true;
    q->req = kmsg_new(q->arena, api->request);
    k_set_ref(q->req, SaslAuthenticateRequest_AuthBytes, frame, (int32_t)len);
    return conn_dispatch(c, q, h);
}

/* On a SASL listener, before authentication (or once the session has expired,
 * connections.max.reauth.ms) only ApiVersions, SaslHandshake and SaslAuthenticate are served:
 * anything else closes the connection, as Kafka does. Returns true when key may pass. */
static bool sasl_gate(bconn *c, int16_t key, int16_t ver)
{
    if (!c->lis || !SEC_IS_SASL(c->lis->proto)) return true;
    if (key == API_ApiVersions || key == API_SaslHandshake || key == API_SaslAuthenticate)
        return true;
    if (c->sasl.state == BSASL_DONE) {
        if (!c->sasl.expiry_ms || now_wall_ms() < c->sasl.expiry_ms) return true;
        LOGW_RL("server",
                "%s: %s: SASL session expired (connections.max.reauth.ms) without "
                "re-authentication: closing connection",
                c->peer, c->principal);
        return false;
    }
    const kapi *api = kapi_get(key);
    LOGW_RL("server", "%s: %s v%d before SASL authentication on listener %s: closing connection",
            c->peer, api ? api->name : "unknown API", ver, c->lis->name);
    return false;
}

/* Handles one complete frame (without its size prefix); takes `frame` over.
 * Returns 0, or -1 if the connection was closed. */
static int conn_handle_frame(bconn *c, uint8_t *frame, size_t len)
{
    broker *b = c->b;
    if (c->close_after_flush) {
        free(frame);
        return 0;
    }
    if (c->sasl.raw && c->sasl.state == BSASL_NEED_AUTH) return conn_raw_sasl(c, frame, len);
    if (len < 8) {
        free(frame);
        LOGW_RL("server",
                "%s: frame of %zu bytes is shorter than a request header: closing "
                "connection",
                c->peer, len);
        conn_close(c, NULL);
        return -1;
    }
    int16_t key = (int16_t)be16(frame), ver = (int16_t)be16(frame + 2);
    int32_t corr = (int32_t)be32(frame + 4);
    if (!sasl_gate(c, key, ver)) {
        free(frame);
        conn_close(c, NULL);
        return -1;
    }
    const bhandler *h = dispatch_find(key);
    const kapi *api = kapi_get(key);
    if (!h || !api) {
        LOGW_RL("server", "%s: unknown API key %d (v%d, corr %d): closing connection", c->peer, key,
                ver, corr);
        free(frame);
        conn_close(c, NULL);
        return -1;
    }
    if (ver < h->min_version || ver > h->max_version) {
        free(frame);
        if (key == API_ApiVersions) {
            LOGI("server", "%s: ApiVersions v%d not supported; answering with the v0 layout",
                 c->peer, ver);
            answer_api_versions_unsupported(c, corr);
            return 0;
        }
        LOGW_RL("server", "%s: %s v%d is not supported (we serve v%d-v%d): closing connection",
                c->peer, api->name, ver, h->min_version, h->max_version);
        conn_close(c, NULL);
        return -1;
    }
    if (ver < h->accept_min) {
        LOGW_RL("server",
                "%s: %s v%d is advertised for client compatibility but not served: "
                "closing connection",
                c->peer, api->name, ver);
        free(frame);
        conn_close(c, NULL);
        return -1;
    }
    rbuf r = rbuf_make(frame, len);
    kreq_header hdr;
    memset(&hdr, 0, sizeof hdr);
    if (kreq_header_decode(&r, &hdr) < 0) {
        LOGW_RL("server", "%s: malformed %s v%d request header: closing connection", c->peer,
                api->name, ver);
        free(frame);
        conn_close(c, NULL);
        return -1;
    }
    breq *q = xcalloc(1, sizeof *q);
    q->b = b;
    q->conn = c;
    q->hdr = hdr;
    q->api = api;
    q->arena = karena_new();
    q->frame = frame;
    q->frame_len = len;
    q->recv_us = now_mono_us();
    bool flex = kapi_flexible(api, ver);
    if (kmsg_decode(q->arena, api->request, ver, flex, &r, &q->req) < 0) {
        LOGW_RL("server", "%s: malformed %s v%d request (corr %d, %zu bytes): closing connection",
                c->peer, api->name, ver, corr, len);
        breq_free(q);
        conn_close(c, NULL);
        return -1;
    }
    return conn_dispatch(c, q, h);
}

/* Cuts and handles every complete frame in the input buffer (while not paused). */
static void conn_process_input(bconn *c)
{
    size_t max_frame = (size_t)c->b->cfg.socket_request_max_bytes;
    size_t pos = 0;
    c->in_processing = true;
    while (!c->closed && c->in_len - pos >= 4 && c->inflight < MAX_INFLIGHT_PER_CONN &&
           !c->muted_until_ms) {
        int32_t sz = (int32_t)be32(c->in + pos);
        if (sz < 0 || (size_t)sz > max_frame) {
            LOGW_RL("server",
                    "%s: request size %d exceeds socket.request.max.bytes (%zu): "
                    "closing connection",
                    c->peer, sz, max_frame);
            conn_close(c, NULL);
            break;
        }
        if (c->in_len - pos - 4 < (size_t)sz) break;
        uint8_t *frame = xmalloc((size_t)sz ? (size_t)sz : 1);
        memcpy(frame, c->in + pos + 4, (size_t)sz);
        pos += 4 + (size_t)sz;
        if (conn_handle_frame(c, frame, (size_t)sz) < 0) break;
    }
    c->in_processing = false;
    if (pos > 0 && !c->closed) {
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
        c->frame_start_ms = c->in_len ? now_mono_ms() : 0; /* a new frame has begun */
    }
}

/* What an input buffer of n bytes costs from queued.max.request.bytes: the part above the
 * first two read chunks, so small requests never wait behind large ones (memory is bounded by
 * the budget plus 128 KiB per connection). */
static int64_t in_charge(size_t n)
{
    return n > 2 * READ_CHUNK ? (int64_t)(n - 2 * READ_CHUNK) : 0;
}

/* Sets the input buffer to na bytes, keeping the budget's count. */
static void in_resize(bconn *c, size_t na)
{
    g_in_bytes += in_charge(na) - in_charge(c->in_alloc);
    if (na == 0) {
        free(c->in);
        c->in = NULL;
    } else {
        c->in = xrealloc(c->in, na);
    }
    c->in_alloc = na;
}

/* May c grow its input buffer to na bytes under queued.max.request.bytes? If not, it waits. */
static bool budget_allows(bconn *c, size_t na)
{
    int64_t budget = c->b->cfg.queued_max_request_bytes;
    int64_t others = g_in_bytes - in_charge(c->in_alloc);
    if (budget < 0 || in_charge(na) == 0 || others <= 0 || others + in_charge(na) <= budget)
        return true;
    if (!c->budget_wait) {
        c->budget_wait = true;
        c->refs++; /* held while queued */
        c->next_waiter = NULL;
        *g_budget_tail = c;
        g_budget_tail = &c->next_waiter;
        LOGI_RL("server", "%s: queued.max.request.bytes (%" PRId64 ") in use: reading paused",
                c->peer, budget);
        conn_update_events(c);
    }
    return false;
}

static void on_reread(loop *l, void *arg)
{
    (void)l;
    bconn *c = arg;
    c->reread_timer = NULL;
    if (!c->closed && !c->reading_paused && !c->budget_wait && !c->in_processing) conn_read(c);
    conn_release(c);
}

/* A TLS connection whose reading stopped with records still buffered inside OpenSSL (read
 * ahead) reads again from the loop: epoll would not announce them. */
static void conn_reread_later(bconn *c)
{
    if (c->closed || c->reread_timer || !tls_buffered(c->tls)) return;
    c->refs++; /* held by the timer */
    c->reread_timer = loop_timer_add(c->b->loop, 0, on_reread, c);
}

/* Memory came back: every waiting connection tries again (epoll announces its input). */
static void budget_wake(void)
{
    bconn *c = g_budget_waiters;
    g_budget_waiters = NULL;
    g_budget_tail = &g_budget_waiters;
    while (c) {
        bconn *next = c->next_waiter;
        c->budget_wait = false;
        c->next_waiter = NULL;
        if (!c->closed) conn_update_events(c);
        if (!c->closed && c->tls) conn_reread_later(c); /* bytes inside OpenSSL: no epoll event */
        conn_release(c);
        c = next;
    }
}

static void conn_read(bconn *c)
{
    int max_rounds = c->tls ? 64 : 16;
    bool drained = false; /* stopped at EAGAIN */
    for (int rounds = 0; rounds < max_rounds && !c->closed && !c->reading_paused; rounds++) {
        /* room for at least one chunk, or for the rest of the frame being received */
        size_t need = READ_CHUNK;
        if (c->in_len >= 4) {
            int32_t sz = (int32_t)be32(c->in);
            if (sz > 0 && (size_t)sz <= (size_t)c->b->cfg.socket_request_max_bytes &&
                (size_t)sz + 4 > c->in_len)
                need = MAX(need, (size_t)sz + 4 - c->in_len);
        }
        if (c->in_alloc - c->in_len < need) {
            size_t na = c->in_alloc ? c->in_alloc : READ_CHUNK * 2;
            while (na - c->in_len < need) na *= 2;
            if (!budget_allows(c, na)) break;
            in_resize(c, na);
        }
        size_t room = c->in_alloc - c->in_len;
        ssize_t n = c->tls ? tls_read(c->tls, c->in + c->in_len, room)
                           : read(c->fd, c->in + c->in_len, room);
        if (n == 0) {
            conn_close(c, c->in_len ? "peer closed mid-frame" : NULL);
            return;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                drained = true;
                break;
            }
            conn_close(c, c->tls && errno == EIO ? tls_error(c->tls) : strerror(errno));
            return;
        }
        c->last_active_ms = now_mono_ms();
        if (c->in_len == 0) c->frame_start_ms = c->last_active_ms;
        c->in_len += (size_t)n;
        conn_process_input(c);
        /* TLS reads return one record (16 KiB) at a time: keep reading until EAGAIN instead of
         * going back to epoll per record (decrypted bytes left inside OpenSSL are not announced
         * by epoll either) */
        if ((size_t)n < room && !c->tls) break;
    }
    /* A TLS client's request often reaches us as two segments (librdkafka writes each part of a
     * request with its own SSL_write) and, with Nagle on at the client (librdkafka's default),
     * the second waits for our ACK of the first, which delayed ACK holds up to 40 ms: a catch-up
     * read over SASL_SSL ran at 147 MB/s with both sides idle, 613 MB/s with the client's Nagle
     * off. Acknowledge at once instead (Linux clears TCP_QUICKACK by itself, so after each read).
     */
    if (c->tls && !c->closed) {
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        /* stopped by the round limit or the memory budget with records read ahead: come back
         * (once paused, conn_pump or budget_wake does) */
        if (!drained && !c->reading_paused && !c->budget_wait) conn_reread_later(c);
    }
    /* give back an oversized idle input buffer */
    if (!c->closed && c->in_len == 0 && c->in_alloc > 4 * READ_CHUNK) {
        in_resize(c, 0);
        if (g_budget_waiters) budget_wake();
    }
}

/* Advances a TLS handshake; once done, the connection reads like any other (an SSL listener's
 * client certificate becomes the principal through ssl.principal.mapping.rules). */
static void conn_handshake(bconn *c)
{
    int rc = tls_handshake(c->tls);
    if (rc == TLS_ERR) {
        LOGW_RL("server", "%s: %s: closing connection", c->peer, tls_error(c->tls));
        conn_close(c, NULL);
        return;
    }
    if (rc == TLS_AGAIN) {
        loop_mod_fd(c->b->loop, c->fd, tls_want_write(c->tls) ? EPOLLOUT : EPOLLIN);
        return;
    }
    c->handshaking = false;
    c->last_active_ms = now_mono_ms();
    char subject[512], name[240];
    if (c->lis->proto == SEC_SSL && tls_peer_subject(c->tls, subject, sizeof subject)) {
        const bconfig *cfg = &c->b->cfg;
        if (principal_map_subject(bconfig_for_listener(cfg, c->lis->name,
                                                       "ssl.principal.mapping.rules",
                                                       cfg->ssl_principal_mapping_rules),
                                  subject, name, sizeof name) == 0)
            snprintf(c->principal, sizeof c->principal, "User:%s", name);
        else
            LOGW_RL("server",
                    "%s: no ssl.principal.mapping.rules rule matches \"%s\": principal stays "
                    "User:ANONYMOUS",
                    c->peer, subject);
    }
    LOGD("server", "%s: %s established (%s%s)", c->peer, tls_version(c->tls),
         c->principal[0] ? c->principal : "no client certificate",
         tls_ktls_send(c->tls) ? ", kernel TLS" : "");
    c->want_write = false;
    c->reading_paused = false;
    loop_mod_fd(c->b->loop, c->fd, EPOLLIN);
    conn_read(c); /* the client's first request may have come with the handshake */
}

static void conn_io(loop *l, int fd, uint32_t events, void *arg)
{
    (void)l;
    (void)fd;
    bconn *c = arg;
    c->refs++;
    if (c->handshaking && !c->closed) {
        if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN))
            conn_close(c, NULL);
        else
            conn_handshake(c);
        if (c->closed || c->handshaking) {
            conn_release(c);
            return;
        }
    }
    if (!c->closed && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN)) conn_close(c, NULL);
    if (!c->closed && (events & EPOLLOUT)) conn_pump(c);
    if (!c->closed && (events & EPOLLIN)) conn_read(c);
    if (!c->closed) conn_pump(c);
    conn_release(c);
}

static void conn_close(bconn *c, const char *why)
{
    if (c->closed) return;
    c->closed = true;
    if (why)
        LOGI("server", "%s: connection closed: %s", c->peer, why);
    else
        LOGD("server", "%s: connection closed", c->peer);
    loop_del_fd(c->b->loop, c->fd);
    tls_conn_free(c->tls);
    c->tls = NULL;
    free(c->stage);
    c->stage = NULL;
    close(c->fd);
    c->fd = -1;
    c->b->nconns--;
    if (c->prev_conn)
        c->prev_conn->next_conn = c->next_conn;
    else
        g_conns = c->next_conn;
    if (c->next_conn) c->next_conn->prev_conn = c->prev_conn;
    c->prev_conn = c->next_conn = NULL;
    for (breq *r = c->head; r; r = r->next) r->conn_closed = true;
    while (c->out_head) {
        outbuf *o = c->out_head;
        c->out_head = o->next;
        outbuf_free(o);
    }
    c->out_tail = NULL;
    c->out_bytes = 0;
    in_resize(c, 0);
    c->in_len = 0;
    ip_drop(c->host);
    if (g_budget_waiters) budget_wake();
    if (c->mute_timer) {
        loop_timer_cancel(c->b->loop, c->mute_timer);
        c->mute_timer = NULL;
        c->refs--; /* the mute timer's (the socket's is still held) */
    }
    if (c->reread_timer) {
        loop_timer_cancel(c->b->loop, c->reread_timer);
        c->reread_timer = NULL;
        c->refs--; /* the timer's */
    }
    conn_release(c); /* the socket's reference */
}

static void conn_release(bconn *c)
{
    if (--c->refs > 0) return;
    /* reachable only once closed and every request has finished */
    sasl_session_free(c->sasl.sess);
    free(c);
}

/* ------------------------------------------------------------------ listener ---- */

static bool peer_is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a)) return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

/* socket.loopback.congestion.control (config.h): applied to connections from this host */
static void set_loopback_cc(broker *b, int fd, const struct sockaddr_storage *ss)
{
    static bool warned;
    const char *cc = b->cfg.socket_loopback_cc;
    if (!cc || !peer_is_loopback(ss)) return;
    if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, (socklen_t)strlen(cc)) < 0 && !warned) {
        warned = true;
        LOGW("server", "socket.loopback.congestion.control=%s: %s (keeping the system's)", cc,
             strerror(errno));
    }
}

static void on_accept(loop *l, int fd, uint32_t events, void *arg)
{
    (void)l;
    (void)events;
    blistener *lis = arg;
    broker *b = lis->b;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                LOGW("server", "accept: %s", strerror(errno));
            return;
        }
        char host[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *sa = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &sa->sin_addr, host, sizeof host);
            port = ntohs(sa->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &sa->sin6_addr, host, sizeof host);
            port = ntohs(sa->sin6_port);
        }
        bool lo = peer_is_loopback(&ss);
        /* an operator on this host still gets in when the limits are reached */
        int reserve = lo ? b->cfg.max_connections_loopback_reserve : 0;
        ipcount *ic = ip_find(host, false);
        int limit_ip = ip_limit(b, host);
        if (b->nconns >= (int64_t)b->cfg.max_connections + reserve ||
            (ic && ic->n >= (int64_t)limit_ip + reserve)) {
            bool per_ip = b->nconns < (int64_t)b->cfg.max_connections + reserve;
            LOGW_RL("server", "%s: %s (%d) reached: refusing a connection", host,
                    per_ip ? "max.connections.per.ip" : "max.connections",
                    per_ip ? limit_ip : b->cfg.max_connections);
            close(cfd);
            b->conns_refused++;
            continue;
        }
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        set_loopback_cc(b, cfd, &ss);
        bconn *c = xcalloc(1, sizeof *c);
        c->b = b;
        c->lis = lis;
        c->accepted_ms = now_mono_ms();
        if (lis->tls) {
            c->tls = tls_conn_new(lis->tls, cfd);
            if (!c->tls) {
                LOGW_RL("server", "%s: cannot set up TLS: refusing the connection", host);
                close(cfd);
                free(c);
                continue;
            }
            c->handshaking = true;
        }
        c->sasl.state = SEC_IS_SASL(lis->proto) ? BSASL_NEED_HANDSHAKE : BSASL_NONE;
        c->fd = cfd;
        c->refs = 1;
        c->loopback = lo;
        c->last_active_ms = now_mono_ms();
        snprintf(c->host, sizeof c->host, "%s", host);
        snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
        if (loop_add_fd(b->loop, cfd, EPOLLIN, conn_io, c) < 0) {
            tls_conn_free(c->tls);
            close(cfd);
            free(c);
            continue;
        }
        c->next_conn = g_conns;
        if (g_conns) g_conns->prev_conn = c;
        g_conns = c;
        b->nconns++;
        b->conns_total++;
        ip_find(host, true)->n++;
        LOGD("server", "%s: connected", c->peer);
    }
}

/* Every second: closes connections idle for connections.max.idle.ms (nothing in flight,
 * nothing to send, no partial request) and those whose started request has not fully arrived
 * within socket.request.read.timeout.ms (a peer trickling bytes holds no memory forever). */
static void on_sweep(loop *l, void *arg)
{
    broker *b = arg;
    int64_t now = now_mono_ms();
    int64_t idle = b->cfg.connections_max_idle_ms, slow = b->cfg.socket_request_read_timeout_ms;
    for (bconn *c = g_conns, *next; c; c = next) {
        next = c->next_conn;
        if (c->closed) continue;
        if (c->handshaking && slow > 0 && now - c->accepted_ms > slow) {
            b->conns_slow_closed++;
            LOGW_RL("server",
                    "%s: TLS handshake not completed within socket.request.read.timeout.ms "
                    "(%" PRId64 " ms): closing",
                    c->peer, slow);
            conn_close(c, NULL);
        } else if (slow > 0 && c->in_len > 0 && c->frame_start_ms &&
                   now - c->frame_start_ms > slow && !c->budget_wait) {
            b->conns_slow_closed++;
            LOGW_RL("server",
                    "%s: a request was not received within "
                    "socket.request.read.timeout.ms (%" PRId64 " ms, %zu bytes so far): closing",
                    c->peer, slow, c->in_len);
            conn_close(c, NULL);
        } else if (idle > 0 && c->inflight == 0 && !c->out_head && c->in_len == 0 &&
                   now - c->last_active_ms > idle) {
            b->conns_idle_closed++;
            LOGD("server", "%s: idle for connections.max.idle.ms (%" PRId64 " ms): closing",
                 c->peer, idle);
            conn_close(c, NULL);
        }
    }
    g_sweep = loop_stopping(l) ? NULL : loop_timer_add(l, 1000, on_sweep, b);
}

int server_listen(broker *b, blistener *lis)
{
    const char *host = lis->host;
    int port = lis->port;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    int family;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (!host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "localhost") ||
        inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        family = AF_INET;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (!host[0] || !strcmp(host, "0.0.0.0")) s4->sin_addr.s_addr = htonl(INADDR_ANY);
        if (!strcmp(host, "localhost")) s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *s4;
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        family = AF_INET6;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        sl = sizeof *s6;
    } else {
        LOGE("server", "listen address \"%s\": not an IP address", host);
        return -EINVAL;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0) {
        int e = errno;
        LOGE("server", "cannot listen on %s:%d: %s%s [listener %s]", host, port, strerror(e),
             e == EADDRINUSE ? " (another process has this port: pass another --listen, or "
                               "port 0 for any free one)"
             : e == EACCES   ? " (ports below 1024 need privileges: pass another --listen)"
                             : "",
             lis->name);
        close(fd);
        return -e;
    }
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    getsockname(fd, (struct sockaddr *)&got, &gl);
    lis->port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                        : ((struct sockaddr_in6 *)&got)->sin6_port);
    lis->b = b;
    int rc = loop_add_fd(b->loop, fd, EPOLLIN, on_accept, lis);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    lis->fd = fd;
    if (!g_sweep) g_sweep = loop_timer_add(b->loop, 1000, on_sweep, b);
    return 0;
}

void server_stop_listening(broker *b)
{
    if (g_sweep) loop_timer_cancel(b->loop, g_sweep);
    g_sweep = NULL;
    for (int i = 0; i < b->nlisteners; i++) {
        blistener *l = &b->listeners[i];
        if (l->fd < 0) continue;
        loop_del_fd(b->loop, l->fd);
        close(l->fd);
        l->fd = -1;
    }
}

int server_pending_output(void)
{
    int n = 0;
    for (bconn *c = g_conns; c; c = c->next_conn)
        if (c->out_head) n++;
    return n;
}

void server_flush_and_close_all(int timeout_ms)
{
    int64_t deadline = now_mono_ms() + timeout_ms;
    /* write out what is queued (blocking, bounded): answers already produced reach clients */
    for (bconn *c = g_conns; c; c = c->next_conn) {
        while (c->out_head && !c->closed && now_mono_ms() < deadline) {
            struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
            if (poll(&pfd, 1, (int)MAX(1, deadline - now_mono_ms())) <= 0) break;
            if (conn_write_some(c) < 0) break;
        }
    }
    while (g_conns) {
        bconn *c = g_conns;
        c->refs++;
        conn_close(c, NULL);
        conn_release(c);
    }
}
