/* eddy-bench-orders — the HTTP load client of W9 (the reference system under load; bench/w9.py
 * starts eddyd and the four services and runs this). It POSTs happy-path orders to the order
 * service over --clients keep-alive connections (one thread, epoll) and watches each order
 * reach its final status by tailing the order service's span log (trace.log): the line the
 * order service writes for `process notification.sent` is written after that record's inbox
 * transaction committed and was synced, i.e. when the order's status `completed` is durable.
 * Every order carries its own X-Correlation-Id (w9<tag>-<n>), which the span line repeats.
 *
 *   closed: each client posts its next order when one of its orders is completed, keeping
 *           --window orders in flight (default 1: post, wait for completion, post the next);
 *           its connection carries one POST at a time. Orders settled/s = completions observed
 *           in the window / window.
 *   open:   orders are scheduled at --rate per second, evenly spaced, whatever the system does;
 *           a scheduled order waits for a free connection; latency runs from its scheduled time
 *           (a stalled client cannot hide latency). After the window the client waits (up to
 *           --drain seconds) for the window's orders to complete; the rest count as unsettled.
 * Latency = POST scheduled/sent (CLOCK_MONOTONIC) → the completing span line read (the client
 * re-reads the log at least every millisecond); post_p50/p99_ms: POST written → its 201 read
 * (the order service's intake alone). --pids name=pid,... : utime+stime of those
 * processes over the window (/proc), per order settled in it (several pids of one name are
 * summed); the client's own CPU too.
 * One JSON line on stdout. */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bcommon.h"

#define MAXC 1024
#define MAXP 64

typedef struct conn {
    int fd;
    int busy;      /* a request is out, its answer not read yet */
    int64_t order; /* the order the request is for; -1 none */
    int inflight;  /* closed loop: this client's orders posted and not completed yet */
    char rbuf[4096];
    size_t rlen;
} conn;

typedef struct order {
    int64_t t0;   /* scheduled (open) or sent (closed), ns */
    int64_t done; /* completion observed, ns; 0 not yet */
    int64_t sent; /* its POST written, ns */
    int conn;     /* closed loop: the client that posted it */
    unsigned char in_window;
} order;

static conn C[MAXC];
static int NC;
static order *O;
static int64_t NO, CAPO;
static char TAG[32];
static int g_ep;
static int64_t g_errors, g_posted, g_answered;
static int64_t g_pending; /* orders of the window not completed yet */
static int g_closed;
static lat g_post_lat; /* POST written -> 201 read, the window's orders */
static char g_lasterr[200];
static struct sockaddr_in g_addr;
static char g_host[64];
static const char *BODY =
    "{\"customerId\":\"bench\",\"items\":[{\"sku\":\"SKU-BOOK\",\"quantity\":1,"
    "\"price\":12.5}],\"card\":\"4242424242424242\"}";

static int64_t order_new(int64_t t0)
{
    if (NO == CAPO) {
        CAPO = CAPO ? CAPO * 2 : 65536;
        O = realloc(O, (size_t)CAPO * sizeof *O);
        if (!O) die("out of memory");
    }
    O[NO] = (order){t0, 0, 0, -1, 0};
    return NO++;
}

static void conn_open(int i)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&g_addr, sizeof g_addr) < 0 && errno != EINPROGRESS)
        die("connect: %s", strerror(errno));
    C[i].fd = fd;
    C[i].rlen = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev);
}

static void conn_reset(int i, const char *why)
{
    g_errors++;
    snprintf(g_lasterr, sizeof g_lasterr, "%s", why);
    if (g_errors > 1000) die("the order service stopped answering (%s)", why);
    epoll_ctl(g_ep, EPOLL_CTL_DEL, C[i].fd, NULL);
    close(C[i].fd);
    C[i].busy = 0;
    C[i].order = -1;
    conn_open(i);
}

/* Sends order n's POST on connection i (the socket buffer takes the whole small request; on a
 * fresh connection the kernel queues it until the handshake ends). */
static void post(int i, int64_t n)
{
    char req[768];
    int len = snprintf(req, sizeof req,
                       "POST /orders HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                       "X-Correlation-Id: w9%s-%lld\r\nContent-Length: %zu\r\n\r\n%s",
                       g_host, TAG, (long long)n, strlen(BODY), BODY);
    for (;;) {
        ssize_t w = send(C[i].fd, req, (size_t)len, MSG_NOSIGNAL);
        if (w == len) break;
        if (w < 0 && (errno == EAGAIN || errno == ENOTCONN)) { /* still connecting */
            sleep_until_ns(now_ns() + 100000);
            continue;
        }
        conn_reset(i, "send failed");
        continue; /* on the new connection */
    }
    C[i].busy = 1;
    C[i].order = n;
    O[n].sent = now_ns();
    g_posted++;
}

/* Reads answers on connection i. Returns 1 when a whole answer was read (the connection is free
 * again), 0 otherwise. */
static int conn_read(int i)
{
    conn *c = &C[i];
    ssize_t r = recv(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - 1 - c->rlen, 0);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        int64_t n = c->order;
        conn_reset(i, "connection closed by the order service");
        if (n >= 0) post(i, n); /* the same order again: its correlation id dedups nothing, */
        return 0;               /* but an unanswered POST may not have been stored */
    }
    if (r < 0) return 0;
    c->rlen += (size_t)r;
    c->rbuf[c->rlen] = 0;
    char *eoh = strstr(c->rbuf, "\r\n\r\n");
    if (!eoh) return 0;
    long clen = 0;
    char *cl = strcasestr(c->rbuf, "\r\nContent-Length:");
    if (cl && cl < eoh) clen = strtol(cl + 17, NULL, 10);
    size_t total = (size_t)(eoh + 4 - c->rbuf) + (size_t)clen;
    if (c->rlen < total) return 0;
    int status = 0;
    if (sscanf(c->rbuf, "HTTP/1.%*d %d", &status) != 1 || status != 201) {
        char why[200];
        snprintf(why, sizeof why, "POST /orders answered %d: %.*s", status,
                 (int)clen > 120 ? 120 : (int)clen, eoh + 4);
        g_errors++;
        snprintf(g_lasterr, sizeof g_lasterr, "%s", why);
        if (c->order >= 0 && O[c->order].t0 >= 0) { /* never completes: not counted */
            if (O[c->order].in_window) g_pending--;
            O[c->order].t0 = -1;
        }
        if (g_closed && c->order >= 0) C[i].inflight--;
    } else {
        g_answered++;
        if (c->order >= 0 && O[c->order].in_window)
            lat_add(&g_post_lat, now_ns() - O[c->order].sent);
    }
    memmove(c->rbuf, c->rbuf + total, c->rlen - total);
    c->rlen -= total;
    c->busy = 0;
    c->order = -1;
    return 1;
}

/* ---- the span log ------------------------------------------------------------------------- */
static int g_tfd = -1;
static char g_tbuf[1 << 16];
static size_t g_tlen;
static int64_t g_completed_total;

/* Reads what the order service appended; calls done(n) for each order of ours that completed. */
static void trace_poll(void (*done)(int64_t n, int64_t t))
{
    for (;;) {
        ssize_t r = read(g_tfd, g_tbuf + g_tlen, sizeof g_tbuf - 1 - g_tlen);
        if (r <= 0) return;
        int64_t t = now_ns();
        g_tlen += (size_t)r;
        g_tbuf[g_tlen] = 0;
        char *p = g_tbuf, *nl;
        char pre[48];
        int pl = snprintf(pre, sizeof pre, "\"correlationId\":\"w9%s-", TAG);
        while ((nl = memchr(p, '\n', g_tlen - (size_t)(p - g_tbuf)))) {
            *nl = 0;
            if (strstr(p, "\"name\":\"process notification.sent\"") &&
                (strstr(p, "\"outcome\":\"ok\"") || strstr(p, "\"outcome\":\"duplicate\""))) {
                char *c = strstr(p, pre);
                if (c) {
                    long long n = strtoll(c + pl, NULL, 10);
                    if (n >= 0 && n < NO && !O[n].done && O[n].t0 >= 0) {
                        O[n].done = t;
                        g_completed_total++;
                        if (O[n].in_window) g_pending--;
                        done(n, t);
                    }
                }
            }
            p = nl + 1;
        }
        size_t left = g_tlen - (size_t)(p - g_tbuf);
        memmove(g_tbuf, p, left);
        g_tlen = left;
        if (g_tlen == sizeof g_tbuf - 1) g_tlen = 0; /* an absurd line: drop it */
    }
}

/* ---- CPU of the system's processes -------------------------------------------------------- */
static int NP;
static char *PNAME[MAXP];
static pid_t PPID_[MAXP];
static double PCPU0[MAXP], PCPU1[MAXP];

static void cpu_sample(double *out)
{
    for (int i = 0; i < NP; i++) out[i] = proc_cpu_s(PPID_[i]);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* ---- the loops ---------------------------------------------------------------------------- */
static int64_t g_w0, g_w1; /* the measured window, ns */
static int64_t g_settled_in_window;
static int64_t *g_free; /* open loop: queue of scheduled orders waiting for a connection */
static int64_t g_qh, g_qt, g_qcap;

static void q_push(int64_t n)
{
    if (g_qt - g_qh == g_qcap) {
        int64_t nc = g_qcap ? g_qcap * 2 : 4096;
        int64_t *q = malloc((size_t)nc * sizeof *q);
        if (!q) die("out of memory");
        for (int64_t k = 0; k < g_qt - g_qh; k++) q[k] = g_free[(g_qh + k) % g_qcap];
        free(g_free);
        g_free = q;
        g_qt -= g_qh;
        g_qh = 0;
        g_qcap = nc;
    }
    g_free[g_qt++ % g_qcap] = n;
}

static int64_t g_stop_posting; /* ns: closed loop posts nothing new from then on */

static int g_window = 1; /* closed loop: orders in flight per client (--window) */

/* Closed loop: client i posts its next order if its connection is free and fewer than
 * --window of its orders are in flight. */
static void closed_next(int i)
{
    int64_t t = now_ns();
    if (t >= g_stop_posting || C[i].busy || C[i].inflight >= g_window) return;
    int64_t n = order_new(t);
    O[n].conn = i;
    O[n].in_window = t >= g_w0 && t < g_w1;
    g_pending += O[n].in_window;
    C[i].inflight++;
    post(i, n);
}

static void on_done(int64_t n, int64_t t)
{
    if (t >= g_w0 && t < g_w1) g_settled_in_window++;
    if (g_closed && O[n].conn >= 0) {
        C[O[n].conn].inflight--;
        closed_next(O[n].conn);
    }
}

int main(int argc, char **argv)
{
    args_init(argc, argv, 1);
    const char *url = arg_str("url", NULL), *trace = arg_str("trace", NULL);
    if (!url || !trace)
        die("usage: eddy-bench-orders --url http://127.0.0.1:PORT --trace ORDER_SPAN_LOG "
            "[--clients 32] [--rate R (open loop; default closed)] [--seconds S] [--warmup W] "
            "[--window K] [--drain D] [--pids name=pid,...]");
    NC = (int)arg_ll("clients", 32);
    if (NC < 1 || NC > MAXC) die("--clients must be 1..%d", MAXC);
    double rate = arg_dbl("rate", 0);
    g_closed = rate <= 0;
    g_window = (int)arg_ll("window", 1);
    if (g_window < 1) die("--window must be >= 1");
    double secs = arg_dbl("seconds", 10), warm = arg_dbl("warmup", 2), drain = arg_dbl("drain", 30);
    if (secs <= 0 || warm < 0 || drain < 0) die("--seconds must be > 0, --warmup/--drain >= 0");
    int port = 0;
    if (sscanf(url, "http://%63[^:]:%d", g_host, &port) != 2 || port <= 0 || port > 65535)
        die("--url must be http://HOST:PORT (got %s)", url);
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, g_host, &g_addr.sin_addr) != 1)
        die("--url: HOST must be an IPv4 address");
    snprintf(TAG, sizeof TAG, "%x%x", (unsigned)getpid(), (unsigned)(now_ns() & 0xffffff));
    const char *pids = arg_str("pids", "");
    char *pd = strdup(pids), *save = NULL;
    for (char *t = strtok_r(pd, ",", &save); t && NP < MAXP; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (!eq) die("--pids: name=pid expected, got %s", t);
        *eq = 0;
        PNAME[NP] = t;
        PPID_[NP] = (pid_t)atoi(eq + 1);
        NP++;
    }
    g_tfd = open(trace, O_RDONLY | O_CLOEXEC);
    if (g_tfd < 0) die("cannot open the span log %s: %s", trace, strerror(errno));
    lseek(g_tfd, 0, SEEK_END); /* earlier lines are other runs' */
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < NC; i++) {
        C[i].order = -1;
        conn_open(i);
    }

    int64_t start = now_ns();
    g_w0 = start + (int64_t)(warm * 1e9);
    g_w1 = g_w0 + (int64_t)(secs * 1e9);
    g_stop_posting = g_w1;
    int64_t interval = g_closed ? 0 : (int64_t)(1e9 / rate);
    int64_t next_sched = start;
    int sampled0 = 0, sampled1 = 0;
    double self0 = 0, self1 = 0;
    int64_t drain_end = g_w1 + (int64_t)(drain * 1e9);
    if (g_closed)
        for (int i = 0; i < NC; i++) closed_next(i);
    struct epoll_event evs[64];
    for (;;) {
        int64_t t = now_ns();
        if (!sampled0 && t >= g_w0) {
            cpu_sample(PCPU0);
            self0 = self_cpu_s();
            sampled0 = 1;
        }
        if (!sampled1 && t >= g_w1) {
            cpu_sample(PCPU1);
            self1 = self_cpu_s();
            sampled1 = 1;
        }
        if (!g_closed) { /* schedule every order due by now */
            while (next_sched <= t && next_sched < g_w1) {
                int64_t n = order_new(next_sched);
                O[n].in_window = next_sched >= g_w0;
                g_pending += O[n].in_window;
                q_push(n);
                next_sched += interval;
            }
            for (int i = 0; i < NC && g_qt > g_qh; i++)
                if (!C[i].busy) post(i, g_free[g_qh++ % g_qcap]);
        }
        if (t >= g_w1) { /* the window's orders complete (or the drain time ends) */
            if (g_pending <= 0 || t >= drain_end) break;
        }
        int64_t wait_ms = 1;
        int k = epoll_wait(g_ep, evs, 64, (int)wait_ms);
        for (int e = 0; e < k; e++) {
            int i = (int)evs[e].data.u32;
            while (C[i].busy && conn_read(i)) {
                if (g_closed) closed_next(i);
                if (!C[i].busy) break;
            }
        }
        trace_poll(on_done);
    }
    double win = (double)(g_w1 - g_w0) / 1e9;
    lat l = {0};
    int64_t win_orders = 0, unsettled = 0;
    for (int64_t n = 0; n < NO; n++) {
        if (!O[n].in_window || O[n].t0 < 0) continue;
        win_orders++;
        if (O[n].done)
            lat_add(&l, O[n].done - O[n].t0);
        else
            unsettled++;
    }
    lat_sort(&l);
    json_begin();
    json_str("mode", g_closed ? "closed" : "open");
    json_num("clients", NC);
    json_num("rate", rate);
    json_num("window", g_closed ? g_window : 0);
    json_num("seconds", win);
    json_num("posted", (double)g_posted);
    json_num("window_orders", (double)win_orders);
    json_num("settled", (double)g_settled_in_window);
    json_num("settled_s", (double)g_settled_in_window / win);
    json_num("unsettled", (double)unsettled);
    json_num("p50_ms", lat_pct_ms(&l, 50));
    json_num("p99_ms", lat_pct_ms(&l, 99));
    json_num("max_ms", l.n ? (double)l.v[l.n - 1] / 1e6 : 0);
    lat_sort(&g_post_lat);
    json_num("post_p50_ms", lat_pct_ms(&g_post_lat, 50));
    json_num("post_p99_ms", lat_pct_ms(&g_post_lat, 99));
    json_num("errors", (double)g_errors);
    if (g_errors) json_str("last_error", g_lasterr);
    double per = g_settled_in_window ? 1000.0 / (double)g_settled_in_window : 0;
    double tot = 0;
    for (int i = 0; i < NP; i++) { /* processes given the same name are summed */
        int first = 1;
        for (int j = 0; j < i; j++) first &= strcmp(PNAME[i], PNAME[j]) != 0;
        if (!first) continue;
        double d = 0;
        for (int j = i; j < NP; j++) {
            if (strcmp(PNAME[i], PNAME[j])) continue;
            if (PCPU0[j] < 0 || PCPU1[j] < 0 || d < 0)
                d = -1;
            else
                d += PCPU1[j] - PCPU0[j];
        }
        char key[96];
        snprintf(key, sizeof key, "cpu_ms_order_%s", PNAME[i]);
        json_num(key, d >= 0 ? d * per : -1);
        if (d > 0) tot += d;
    }
    json_num("cpu_ms_order_system", tot * per);
    json_num("cpu_cores_used", tot / win);
    json_num("cpu_ms_order_client", (self1 - self0) * per);
    json_num("client_cpu_share", (self1 - self0) / win);
    json_end();
    free(l.v);
    free(g_post_lat.v);
    free(O);
    free(g_free);
    free(pd);
    for (int i = 0; i < NC; i++) close(C[i].fd);
    close(g_ep);
    close(g_tfd);
    return 0;
}
