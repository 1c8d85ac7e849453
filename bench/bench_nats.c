/* eddy-bench-nats — libnats load generator for NATS JetStream (bench/run.sh starts nats-server
 * with JetStream on a file store in a temp dir). A topic is one file-backed stream; a
 * "partition" is one subject of it (<stream>.<i>).
 * Modes (one JSON line each), all with --port P --server-pid PID:
 *   produce  --partitions K --producers N --size B --window W --seconds S --warmup S
 *            N connections, each with up to W asynchronous publishes awaiting their PubAck
 *   catchup  --partitions K --size B --mib M   publish M MiB, then one pull consumer fetches
 *                                              it all back (batches of 1000)
 *   latency  --size B --rate R --seconds S     publish at a fixed rate, push consumer on
 *                                              another connection: end-to-end and ack latency
 * Streams are deleted at the end of each run. */
#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bcommon.h"

enum { PH_WARM, PH_MEASURE, PH_STOP };
static _Atomic int g_phase;
static char g_url[64];
static pid_t g_spid;

typedef struct pubst {
    _Atomic uint64_t acked, errors;
    _Atomic int64_t win0, win1;
    lat ack;
    char first_err[256];
} pubst;

static void ack_handler(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    pubst *p = closure;
    if (pa) {
        p->acked++;
        if (p->win1 && natsMsg_GetDataLength(msg) >= 8) {
            int64_t ts;
            memcpy(&ts, natsMsg_GetData(msg), 8);
            if (ts >= p->win0 && ts < p->win1) lat_add(&p->ack, now_ns() - ts);
        }
    } else if (pae) {
        if (!p->errors++)
            snprintf(p->first_err, sizeof p->first_err, "%s",
                     pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
    }
    natsMsg_Destroy(msg);
}

/* asap: flush every publish at once instead of letting the library's flusher batch them (the
 * latency mode wants each record on the wire when it is due) */
static natsConnection *nconnect_opt(bool asap)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    if (natsOptions_Create(&o) != NATS_OK || natsOptions_SetURL(o, g_url) != NATS_OK ||
        natsOptions_SetSendAsap(o, asap) != NATS_OK)
        die("nats options");
    natsStatus s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK) die("nats connect %s: %s", g_url, natsStatus_GetText(s));
    return nc;
}

static natsConnection *nconnect(void)
{
    return nconnect_opt(false);
}

static jsCtx *jsctx(natsConnection *nc, pubst *p, int window)
{
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = 30000;
    if (p) {
        o.PublishAsync.MaxPending = window;
        o.PublishAsync.AckHandler = ack_handler;
        o.PublishAsync.AckHandlerClosure = p;
        o.PublishAsync.StallWait = 1000;
    }
    jsCtx *js = NULL;
    natsStatus s = natsConnection_JetStream(&js, nc, &o);
    if (s != NATS_OK) die("jetstream: %s", natsStatus_GetText(s));
    return js;
}

static void make_stream(const char *name)
{
    natsConnection *nc = nconnect();
    jsCtx *js = jsctx(nc, NULL, 0);
    jsErrCode jerr = 0;
    js_DeleteStream(js, name, NULL, &jerr); /* leftovers of an aborted run */
    char subj[80];
    snprintf(subj, sizeof subj, "%s.>", name);
    const char *subjects[] = {subj};
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    natsStatus s = js_AddStream(NULL, js, &cfg, NULL, &jerr);
    if (s != NATS_OK) die("add stream %s: %s (%d)", name, natsStatus_GetText(s), (int)jerr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static void drop_stream(const char *name)
{
    natsConnection *nc = nconnect();
    jsCtx *js = jsctx(nc, NULL, 0);
    js_DeleteStream(js, name, NULL, NULL);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* ------------------------------------------------------------------ produce ---- */

typedef struct nprod {
    pthread_t th;
    int id, nparts, window;
    size_t size;
    const uint8_t *payload;
    char (*subjects)[32];
    pubst st;
} nprod;

static void *nprod_thread(void *arg)
{
    nprod *p = arg;
    natsConnection *nc = nconnect();
    jsCtx *js = jsctx(nc, &p->st, p->window);
    uint64_t seq = (uint64_t)p->id;
    while (g_phase != PH_STOP) {
        const char *subj = p->subjects[seq++ % (uint64_t)p->nparts];
        natsStatus s = js_PublishAsync(js, subj, p->payload, (int)p->size, NULL);
        if (s != NATS_OK && s != NATS_TIMEOUT) {
            if (!p->st.errors++)
                snprintf(p->st.first_err, sizeof p->st.first_err, "%s", natsStatus_GetText(s));
            usleep(1000);
        }
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 10000;
    js_PublishAsyncComplete(js, &po);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return NULL;
}

static int mode_produce(void)
{
    int k = (int)arg_ll("partitions", 8), n = (int)arg_ll("producers", 1);
    size_t size = (size_t)arg_ll("size", 100);
    int window = (int)arg_ll("window", 4096);
    double secs = arg_dbl("seconds", 5), warm = arg_dbl("warmup", 1);
    if (k < 1 || n < 1 || n > 64 || window < 1) die("bad arguments");
    uint8_t *payload = malloc(size);
    char(*subjects)[32] = calloc((size_t)k, 32);
    nprod *ps = calloc((size_t)n, sizeof *ps);
    if (!payload || !subjects || !ps) abort();
    fill_payload(payload, size, 1);
    for (int i = 0; i < k; i++) snprintf(subjects[i], 32, "bench.%d", i);
    make_stream("bench");
    for (int i = 0; i < n; i++) {
        ps[i].id = i;
        ps[i].nparts = k;
        ps[i].window = window;
        ps[i].size = size;
        ps[i].payload = payload;
        ps[i].subjects = subjects;
        pthread_create(&ps[i].th, NULL, nprod_thread, &ps[i]);
    }
    usleep((useconds_t)(warm * 1e6));
    uint64_t a0 = 0, a1 = 0, errs = 0;
    double cpu0 = proc_cpu_s(g_spid), ccpu0 = proc_cpu_s(getpid());
    int64_t t0 = now_ns();
    for (int i = 0; i < n; i++) a0 += ps[i].st.acked;
    g_phase = PH_MEASURE;
    usleep((useconds_t)(secs * 1e6));
    for (int i = 0; i < n; i++) a1 += ps[i].st.acked;
    int64_t t1 = now_ns();
    double cpu1 = proc_cpu_s(g_spid), ccpu1 = proc_cpu_s(getpid());
    g_phase = PH_STOP;
    const char *first_err = "";
    for (int i = 0; i < n; i++) {
        pthread_join(ps[i].th, NULL);
        errs += ps[i].st.errors;
        if (ps[i].st.errors && !*first_err) first_err = ps[i].st.first_err;
    }
    drop_stream("bench");
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
    if (recs <= 0) json_str("error", *first_err ? first_err : "nothing acknowledged");
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
    make_stream("catchup");
    natsConnection *nc = nconnect();
    pubst st = {0};
    jsCtx *js = jsctx(nc, &st, 4096);
    int64_t f0 = now_ns();
    double fcpu0 = proc_cpu_s(g_spid);
    char subj[32];
    for (uint64_t i = 0; i < total;) {
        snprintf(subj, sizeof subj, "catchup.%d", (int)(i % (uint64_t)k));
        natsStatus s = js_PublishAsync(js, subj, payload, (int)size, NULL);
        if (s == NATS_OK)
            i++;
        else if (s != NATS_TIMEOUT)
            die("fill: %s", natsStatus_GetText(s));
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    js_PublishAsyncComplete(js, &po);
    int64_t f1 = now_ns();
    double fcpu1 = proc_cpu_s(g_spid);
    if (st.errors) die("fill: %llu errors (%s)", (unsigned long long)st.errors, st.first_err);

    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Config.AckPolicy = js_AckNone;
    so.Config.DeliverPolicy = js_DeliverAll;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    double cpu0 = proc_cpu_s(g_spid), ccpu0 = proc_cpu_s(getpid());
    int64_t t0 = now_ns();
    natsStatus s = js_PullSubscribe(&sub, js, "catchup.>", NULL, NULL, &so, &jerr);
    if (s != NATS_OK) die("pull subscribe: %s (%d)", natsStatus_GetText(s), (int)jerr);
    uint64_t got = 0, bytes = 0;
    int64_t last = now_ns(), first = 0;
    while (got < total && now_ns() - last < 15000000000LL) {
        natsMsgList list = {0};
        /* never ask for more than is left: a pull waits for a full batch until it expires */
        int want = total - got < 1000 ? (int)(total - got) : 1000;
        s = natsSubscription_Fetch(&list, sub, want, 5000, &jerr);
        if (s == NATS_OK) last = now_ns();
        if (list.Count > 0 && !first) first = now_ns();
        for (int i = 0; i < list.Count; i++) {
            got++;
            bytes += (uint64_t)natsMsg_GetDataLength(list.Msgs[i]);
        }
        natsMsgList_Destroy(&list);
        if (s != NATS_OK && s != NATS_TIMEOUT) die("fetch: %s", natsStatus_GetText(s));
    }
    int64_t t1 = last;
    double cpu1 = proc_cpu_s(g_spid), ccpu1 = proc_cpu_s(getpid());
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    drop_stream("catchup");
    /* from the first message to the last, as for the Kafka consumer (the subscription's
     * start-up is not part of the read rate) */
    double secs = (double)(t1 - (first ? first : t0)) / 1e9, fs = (double)(f1 - f0) / 1e9;
    json_begin();
    json_str("mode", "catchup");
    json_num("records", (double)got);
    json_num("expected", (double)total);
    json_num("seconds", secs);
    json_num("mb_s", (double)bytes / 1e6 / secs);
    json_num("rec_s", (double)got / secs);
    json_num("server_cpu_s", cpu1 - cpu0);
    json_num("client_cpu_s", ccpu1 - ccpu0);
    json_num("fill_mb_s", (double)total * (double)size / 1e6 / fs);
    json_num("fill_server_cpu_s", fcpu1 - fcpu0);
    if (got < total) json_str("error", "not everything was read back");
    json_end();
    return got == total ? 0 : 1;
}

/* ------------------------------------------------------------------ latency ---- */

typedef struct ncons {
    _Atomic int64_t win0, win1;
    _Atomic uint64_t seen, in_window;
    lat e2e;
} ncons;

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    ncons *c = closure;
    int64_t now = now_ns();
    if (natsMsg_GetDataLength(msg) >= 8) {
        int64_t ts;
        memcpy(&ts, natsMsg_GetData(msg), 8);
        c->seen++;
        if (c->win1 && ts >= c->win0 && ts < c->win1) {
            lat_add(&c->e2e, now - ts);
            c->in_window++;
        }
    }
    natsMsg_Destroy(msg);
}

static int mode_latency(void)
{
    size_t size = (size_t)arg_ll("size", 1024);
    double rate = arg_dbl("rate", 10000), secs = arg_dbl("seconds", 5);
    double warm = arg_dbl("warmup", 1);
    if (size < 8 || rate <= 0) die("bad arguments");
    make_stream("lat");
    ncons c = {0};
    natsConnection *cnc = nconnect();
    jsCtx *cjs = jsctx(cnc, NULL, 0);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Config.AckPolicy = js_AckNone;
    so.Config.DeliverPolicy = js_DeliverNew;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_Subscribe(&sub, cjs, "lat.>", on_msg, &c, NULL, &so, &jerr);
    if (s != NATS_OK) die("subscribe: %s (%d)", natsStatus_GetText(s), (int)jerr);

    natsConnection *nc = nconnect_opt(true);
    pubst st = {0};
    jsCtx *js = jsctx(nc, &st, 100000);
    uint8_t *buf = malloc(size);
    if (!buf) abort();
    fill_payload(buf, size, 5);
    int64_t interval = (int64_t)(1e9 / rate), start = now_ns(), next = start;
    int64_t win0 = start + (int64_t)(warm * 1e9), win1 = win0 + (int64_t)(secs * 1e9);
    int ready = 0;
    uint64_t sent_in_window = 0, fails = 0;
    for (;;) {
        int64_t now = now_ns();
        if (!ready && now >= win0 && (c.seen > 0 || now > win0 + 10000000000LL)) {
            ready = 1;
            win0 = next;
            win1 = win0 + (int64_t)(secs * 1e9);
            c.win0 = st.win0 = win0;
            c.win1 = st.win1 = win1;
        }
        if (ready && now >= win1) break;
        while (next <= now) {
            memcpy(buf, &next, 8);
            if (js_PublishAsync(js, "lat.0", buf, (int)size, NULL) != NATS_OK)
                fails++;
            else if (ready && next >= win0 && next < win1)
                sent_in_window++;
            next += interval;
        }
        sleep_until_ns(next);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 10000;
    js_PublishAsyncComplete(js, &po);
    int64_t wait_end = now_ns() + 3000000000LL;
    while (c.in_window < sent_in_window && now_ns() < wait_end) usleep(1000);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    jsCtx_Destroy(cjs);
    natsConnection_Destroy(cnc);
    drop_stream("lat");
    lat_sort(&c.e2e);
    lat_sort(&st.ack);
    json_begin();
    json_str("mode", "latency");
    json_num("rate", rate);
    json_num("sent", (double)sent_in_window);
    json_num("received", (double)c.in_window);
    json_num("acked", (double)st.ack.n);
    json_num("produce_fails", (double)fails);
    json_num("e2e_p50_ms", lat_pct_ms(&c.e2e, 50));
    json_num("e2e_p99_ms", lat_pct_ms(&c.e2e, 99));
    json_num("e2e_p999_ms", lat_pct_ms(&c.e2e, 99.9));
    json_num("ack_p50_ms", lat_pct_ms(&st.ack, 50));
    json_num("ack_p99_ms", lat_pct_ms(&st.ack, 99));
    json_num("ack_p999_ms", lat_pct_ms(&st.ack, 99.9));
    int ok = c.in_window > 0 && c.in_window * 100 >= sent_in_window * 99;
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
    if (argc < 2) die("usage: eddy-bench-nats produce|catchup|latency --port P [--key value]...");
    args_init(argc, argv, 2);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)arg_ll("timeout", 300));
    snprintf(g_url, sizeof g_url, "nats://127.0.0.1:%d", (int)arg_ll("port", 4222));
    g_spid = (pid_t)arg_ll("server-pid", 0);
    const char *m = argv[1];
    int rc;
    if (!strcmp(m, "produce"))
        rc = mode_produce();
    else if (!strcmp(m, "catchup"))
        rc = mode_catchup();
    else if (!strcmp(m, "latency"))
        rc = mode_latency();
    else
        die("unknown mode %s", m);
    nats_Close();
    return rc;
}
