/* eddy-bench-redis — hiredis load generator for Redis Streams (bench/run.sh starts redis-server
 * with AOF on and the appendfsync policy of the workload). A "partition" is one stream key.
 * Modes (one JSON line each), all with --port P --server-pid PID:
 *   produce  --partitions K --producers N --size B --window W --seconds S --warmup S
 *            N connections, each keeping up to W pipelined XADDs outstanding
 *   catchup  --partitions K --size B --mib M    XADD M MiB, then XREAD it all back on one
 *                                            connection (COUNT 1000 per stream per call)
 *   latency  --size B --rate R --seconds S   XADD at a fixed rate on one connection, XREAD BLOCK
 *                                            on another: end-to-end and ack latency
 * Streams are deleted at the end of each run. */
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bcommon.h"

enum { PH_WARM, PH_MEASURE, PH_STOP };
static _Atomic int g_phase;
static int g_port;
static pid_t g_spid;

static redisContext *rconnect(void)
{
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", g_port, tv);
    if (!c || c->err) die("redis connect :%d: %s", g_port, c ? c->errstr : "oom");
    redisSetTimeout(c, (struct timeval){30, 0});
    return c;
}

static void del_streams(int k, const char *prefix)
{
    redisContext *c = rconnect();
    for (int i = 0; i < k; i++) {
        redisReply *r = redisCommand(c, "DEL %s%d", prefix, i);
        if (r) freeReplyObject(r);
    }
    redisFree(c);
}

/* ------------------------------------------------------------------ produce ---- */

typedef struct rprod {
    pthread_t th;
    int id, nstreams, window;
    char **cmds; /* one preformatted XADD per stream */
    int *cmdlen;
    _Atomic uint64_t acked, errors;
    char first_err[256];
} rprod;

static void *rprod_thread(void *arg)
{
    rprod *p = arg;
    redisContext *c = rconnect();
    int outstanding = 0;
    uint64_t seq = (uint64_t)p->id;
    while (g_phase != PH_STOP || outstanding) {
        while (g_phase != PH_STOP && outstanding < p->window) {
            int k = (int)(seq++ % (uint64_t)p->nstreams);
            redisAppendFormattedCommand(c, p->cmds[k], (size_t)p->cmdlen[k]);
            outstanding++;
        }
        if (!outstanding) break;
        redisReply *r;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            snprintf(p->first_err, sizeof p->first_err, "%s", c->errstr);
            p->errors++;
            break;
        }
        outstanding--;
        if (r->type == REDIS_REPLY_ERROR) {
            if (!p->errors++) snprintf(p->first_err, sizeof p->first_err, "%s", r->str);
        } else
            p->acked++;
        freeReplyObject(r);
    }
    redisFree(c);
    return NULL;
}

static void make_cmds(int k, const char *prefix, const uint8_t *payload, size_t size, char ***cmds,
                      int **lens)
{
    *cmds = calloc((size_t)k, sizeof **cmds);
    *lens = calloc((size_t)k, sizeof **lens);
    if (!*cmds || !*lens) abort();
    for (int i = 0; i < k; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s%d", prefix, i);
        (*lens)[i] = redisFormatCommand(&(*cmds)[i], "XADD %s * d %b", key, payload, size);
        if ((*lens)[i] < 0) abort();
    }
}

static int mode_produce(void)
{
    int k = (int)arg_ll("partitions", 8), n = (int)arg_ll("producers", 1);
    size_t size = (size_t)arg_ll("size", 100);
    int window = (int)arg_ll("window", 256);
    double secs = arg_dbl("seconds", 5), warm = arg_dbl("warmup", 1);
    if (k < 1 || n < 1 || n > 64 || window < 1) die("bad arguments");
    uint8_t *payload = malloc(size);
    if (!payload) abort();
    fill_payload(payload, size, 1);
    char **cmds;
    int *lens;
    make_cmds(k, "bench", payload, size, &cmds, &lens);
    del_streams(k, "bench");
    rprod *ps = calloc((size_t)n, sizeof *ps);
    if (!ps) abort();
    for (int i = 0; i < n; i++) {
        ps[i] = (rprod){.id = i, .nstreams = k, .window = window, .cmds = cmds, .cmdlen = lens};
        pthread_create(&ps[i].th, NULL, rprod_thread, &ps[i]);
    }
    usleep((useconds_t)(warm * 1e6));
    uint64_t a0 = 0, a1 = 0, errs = 0;
    double cpu0 = proc_cpu_s(g_spid), ccpu0 = proc_cpu_s(getpid());
    int64_t t0 = now_ns();
    for (int i = 0; i < n; i++) a0 += ps[i].acked;
    g_phase = PH_MEASURE;
    usleep((useconds_t)(secs * 1e6));
    for (int i = 0; i < n; i++) a1 += ps[i].acked;
    int64_t t1 = now_ns();
    double cpu1 = proc_cpu_s(g_spid), ccpu1 = proc_cpu_s(getpid());
    g_phase = PH_STOP;
    const char *first_err = "";
    for (int i = 0; i < n; i++) {
        pthread_join(ps[i].th, NULL);
        errs += ps[i].errors;
        if (ps[i].errors && !*first_err) first_err = ps[i].first_err;
    }
    del_streams(k, "bench");
    double s = (double)(t1 - t0) / 1e9, recs = (double)(a1 - a0);
    json_begin();
    json_str("mode", "produce");
    json_num("seconds", s);
    json_num("records", recs);
    json_num("rec_s", recs / s);
    json_num("mb_s", recs * (double)size / 1e6 / s);
    json_num("server_cpu_s", cpu1 - cpu0);
    json_num("client_cpu_s", ccpu1 - ccpu0);
    json_num("errors", (double)errs);
    if (recs <= 0 || errs) json_str("error", *first_err ? first_err : "nothing acknowledged");
    json_end();
    return recs > 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ catch-up ---- */

static int mode_catchup(void)
{
    int k = (int)arg_ll("partitions", 8);
    size_t size = (size_t)arg_ll("size", 1024);
    long long mib = arg_ll("mib", 1024);
    uint64_t total = (uint64_t)mib * 1024 * 1024 / size;
    uint8_t *payload = malloc(size);
    if (!payload) abort();
    fill_payload(payload, size, 2);
    char **cmds;
    int *lens;
    make_cmds(k, "catchup", payload, size, &cmds, &lens);
    del_streams(k, "catchup");

    redisContext *c = rconnect();
    int64_t f0 = now_ns();
    double fcpu0 = proc_cpu_s(g_spid);
    uint64_t sent = 0, done = 0;
    while (done < total) {
        while (sent < total && sent - done < 256) {
            int i = (int)(sent++ % (uint64_t)k);
            redisAppendFormattedCommand(c, cmds[i], (size_t)lens[i]);
        }
        redisReply *r;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) die("fill: %s", c->errstr);
        if (r->type == REDIS_REPLY_ERROR) die("fill: %s", r->str);
        freeReplyObject(r);
        done++;
    }
    int64_t f1 = now_ns();
    double fcpu1 = proc_cpu_s(g_spid);

    /* XREAD COUNT 1000 STREAMS catchup0 .. catchupK-1 id0 .. idK-1 */
    int argc = 4 + 2 * k;
    const char **argv = calloc((size_t)argc, sizeof *argv);
    char(*keys)[64] = calloc((size_t)k, 64), (*ids)[64] = calloc((size_t)k, 64);
    if (!argv || !keys || !ids) abort();
    argv[0] = "XREAD";
    argv[1] = "COUNT";
    argv[2] = "1000";
    argv[3] = "STREAMS";
    for (int i = 0; i < k; i++) {
        snprintf(keys[i], 64, "catchup%d", i);
        snprintf(ids[i], 64, "0-0");
        argv[4 + i] = keys[i];
        argv[4 + k + i] = ids[i];
    }
    uint64_t got = 0, bytes = 0;
    double cpu0 = proc_cpu_s(g_spid), ccpu0 = proc_cpu_s(getpid());
    int64_t t0 = now_ns();
    while (got < total) {
        redisReply *r = redisCommandArgv(c, argc, argv, NULL);
        if (!r) die("XREAD: %s", c->errstr);
        if (r->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            break; /* nil: nothing more */
        }
        for (size_t s = 0; s < r->elements; s++) {
            redisReply *st = r->element[s];
            if (st->type != REDIS_REPLY_ARRAY || st->elements != 2) continue;
            int idx = -1;
            for (int i = 0; i < k; i++)
                if (!strcmp(keys[i], st->element[0]->str)) idx = i;
            redisReply *ents = st->element[1];
            for (size_t e = 0; e < ents->elements; e++) {
                redisReply *ent = ents->element[e];
                if (ent->elements != 2 || ent->element[1]->elements != 2) continue;
                got++;
                bytes += ent->element[1]->element[1]->len;
                if (idx >= 0 && e + 1 == ents->elements)
                    snprintf(ids[idx], 64, "%s", ent->element[0]->str);
            }
        }
        freeReplyObject(r);
    }
    int64_t t1 = now_ns();
    double cpu1 = proc_cpu_s(g_spid), ccpu1 = proc_cpu_s(getpid());
    redisFree(c);
    del_streams(k, "catchup");
    double s = (double)(t1 - t0) / 1e9, fs = (double)(f1 - f0) / 1e9;
    json_begin();
    json_str("mode", "catchup");
    json_num("records", (double)got);
    json_num("expected", (double)total);
    json_num("seconds", s);
    json_num("mb_s", (double)bytes / 1e6 / s);
    json_num("rec_s", (double)got / s);
    json_num("server_cpu_s", cpu1 - cpu0);
    json_num("client_cpu_s", ccpu1 - ccpu0);
    json_num("fill_mb_s", (double)total * (double)size / 1e6 / fs);
    json_num("fill_server_cpu_s", fcpu1 - fcpu0);
    if (got < total) json_str("error", "not everything was read back");
    json_end();
    return got == total ? 0 : 1;
}

/* ------------------------------------------------------------------ latency ---- */

typedef struct rcons {
    _Atomic int64_t win0, win1;
    _Atomic uint64_t seen, in_window;
    lat e2e;
} rcons;

static void *rcons_thread(void *arg)
{
    rcons *cs = arg;
    redisContext *c = rconnect();
    char last[64] = "$";
    while (g_phase != PH_STOP) {
        redisReply *r = redisCommand(c, "XREAD BLOCK 100 COUNT 1000 STREAMS lat0 %s", last);
        if (!r) die("XREAD: %s", c->errstr);
        int64_t now = now_ns();
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
            redisReply *ents = r->element[0]->element[1];
            for (size_t e = 0; e < ents->elements; e++) {
                redisReply *ent = ents->element[e];
                if (ent->elements != 2 || ent->element[1]->elements != 2) continue;
                redisReply *v = ent->element[1]->element[1];
                snprintf(last, sizeof last, "%s", ent->element[0]->str);
                if (v->len < 8) continue;
                int64_t ts;
                memcpy(&ts, v->str, 8);
                cs->seen++;
                if (cs->win1 && ts >= cs->win0 && ts < cs->win1) {
                    lat_add(&cs->e2e, now - ts);
                    cs->in_window++;
                }
            }
        }
        freeReplyObject(r);
    }
    redisFree(c);
    return NULL;
}

static int mode_latency(void)
{
    size_t size = (size_t)arg_ll("size", 1024);
    double rate = arg_dbl("rate", 10000), secs = arg_dbl("seconds", 5);
    double warm = arg_dbl("warmup", 1);
    if (size < 8 || rate <= 0) die("bad arguments");
    del_streams(1, "lat");
    rcons cs = {0};
    pthread_t th;
    pthread_create(&th, NULL, rcons_thread, &cs);
    redisContext *c = rconnect();
    uint8_t *buf = malloc(size);
    if (!buf) abort();
    fill_payload(buf, size, 5);
    size_t qcap = 1 << 20, qh = 0, qt = 0; /* FIFO of send times, for ack latency */
    int64_t *q = malloc(qcap * sizeof *q);
    if (!q) abort();
    lat ack = {0};
    int64_t interval = (int64_t)(1e9 / rate), start = now_ns(), next = start;
    int64_t win0 = start + (int64_t)(warm * 1e9), win1 = win0 + (int64_t)(secs * 1e9);
    int ready = 0;
    uint64_t sent_in_window = 0;
    for (;;) {
        int64_t now = now_ns();
        if (!ready && now >= win0 && (cs.seen > 0 || now > win0 + 10000000000LL)) {
            ready = 1;
            win0 = next;
            win1 = win0 + (int64_t)(secs * 1e9);
            cs.win0 = win0;
            cs.win1 = win1;
        }
        if (ready && now >= win1 && qh == qt) break;
        int sent = 0;
        while (next <= now && !(ready && next >= win1)) {
            memcpy(buf, &next, 8);
            redisAppendCommand(c, "XADD lat0 * d %b", buf, size);
            if (qt - qh == qcap) die("ack queue overflow");
            q[qt++ % qcap] = next;
            if (ready && next >= win0 && next < win1) sent_in_window++;
            next += interval;
            sent = 1;
        }
        if (sent) {
            int done = 0;
            while (!done)
                if (redisBufferWrite(c, &done) != REDIS_OK) die("write: %s", c->errstr);
        }
        int64_t wait_ns = next - now_ns();
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int ms = wait_ns > 0 ? (int)(wait_ns / 1000000) : 0;
        if (poll(&p, 1, ms) == 1) {
            if (redisBufferRead(c) != REDIS_OK) die("read: %s", c->errstr);
            redisReply *r;
            while (redisGetReplyFromReader(c, (void **)&r) == REDIS_OK && r) {
                int64_t t = q[qh++ % qcap];
                if (r->type == REDIS_REPLY_ERROR) die("XADD: %s", r->str);
                if (ready && t >= win0 && t < win1) lat_add(&ack, now_ns() - t);
                freeReplyObject(r);
            }
        } else if (wait_ns > 0) {
            sleep_until_ns(next);
        }
    }
    int64_t wait_end = now_ns() + 3000000000LL;
    while (cs.in_window < sent_in_window && now_ns() < wait_end) usleep(1000);
    g_phase = PH_STOP;
    pthread_join(th, NULL);
    redisFree(c);
    del_streams(1, "lat");
    lat_sort(&cs.e2e);
    lat_sort(&ack);
    json_begin();
    json_str("mode", "latency");
    json_num("rate", rate);
    json_num("sent", (double)sent_in_window);
    json_num("received", (double)cs.in_window);
    json_num("acked", (double)ack.n);
    json_num("e2e_p50_ms", lat_pct_ms(&cs.e2e, 50));
    json_num("e2e_p99_ms", lat_pct_ms(&cs.e2e, 99));
    json_num("e2e_p999_ms", lat_pct_ms(&cs.e2e, 99.9));
    json_num("ack_p50_ms", lat_pct_ms(&ack, 50));
    json_num("ack_p99_ms", lat_pct_ms(&ack, 99));
    json_num("ack_p999_ms", lat_pct_ms(&ack, 99.9));
    int ok = cs.in_window > 0 && cs.in_window * 100 >= sent_in_window * 99;
    if (!ok) json_str("error", "records lost or late");
    json_end();
    return ok ? 0 : 1;
}

static void on_alarm(int sig)
{
    static const char msg[] = "{\"error\":\"timed out\"}\n";
    if (write(1, msg, sizeof msg - 1) < 0) _exit(3);
    _exit(3);
}

int main(int argc, char **argv)
{
    if (argc < 2) die("usage: eddy-bench-redis produce|catchup|latency --port P [--key value]...");
    args_init(argc, argv, 2);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)arg_ll("timeout", 300));
    g_port = (int)arg_ll("port", 6379);
    g_spid = (pid_t)arg_ll("server-pid", 0);
    const char *m = argv[1];
    if (!strcmp(m, "produce")) return mode_produce();
    if (!strcmp(m, "catchup")) return mode_catchup();
    if (!strcmp(m, "latency")) return mode_latency();
    die("unknown mode %s", m);
}
