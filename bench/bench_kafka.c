/* eddy-bench-kafka — librdkafka load generator for eddyd (--bootstrap HOST:PORT --server-pid PID)
 * and for librdkafka's in-memory mock cluster (--mock), the ceiling the client itself sets.
 * Modes (one JSON line each):
 *   create   --topic T --partitions P
 *   produce  --topic T --partitions P --producers N --size B --acks A --linger MS
 *            --seconds S --warmup S      records/s and MB/s acked in the window, server CPU,
 *                                        p99 Produce round trip (librdkafka stats "rtt")
 *   catchup  --topic T --partitions P --size B --mib M
 *            writes M MiB (acks=1), then one consumer reads it all from the start;
 *            --raw-groups G then reads it again with raw Fetch requests, G in flight
 *   latency  --topic T --size B --acks A --rate R --seconds S
 *            producer at a fixed rate, consumer on another connection: end-to-end and ack
 *            latency percentiles
 * Topics are made with CreateTopics, or with --create auto by the broker's auto-creation.
 * The mock's CPU is the CPU of its own thread(s) in this process; a real server's CPU is
 * utime+stime of --server-pid, sampled at the edges of the measured window only. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bcommon.h"

enum { PH_WARM, PH_MEASURE, PH_STOP };
static _Atomic int g_phase;

static const char *g_bootstrap;
static pid_t g_spid;
static rd_kafka_t *g_mock_rk;
static rd_kafka_mock_cluster_t *g_mock;
static pid_t g_mock_tids[64];
static int g_nmock_tids;

/* ------------------------------------------------------------------ server side ---- */

static int list_tids(pid_t *out, int cap)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.' && n < cap) out[n++] = (pid_t)atoi(e->d_name);
    if (d) closedir(d);
    return n;
}

static void mock_start(void)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    g_mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!g_mock_rk) die("mock: %s", err);
    pid_t before[256], after[256];
    int nb = list_tids(before, 256);
    g_mock = rd_kafka_mock_cluster_new(g_mock_rk, 1);
    if (!g_mock) die("mock cluster failed");
    usleep(20000);
    int na = list_tids(after, 256);
    for (int i = 0; i < na; i++) {
        int seen = 0;
        for (int j = 0; j < nb; j++) seen |= after[i] == before[j];
        if (!seen && g_nmock_tids < 64) g_mock_tids[g_nmock_tids++] = after[i];
    }
    g_bootstrap = rd_kafka_mock_cluster_bootstraps(g_mock);
}

static double server_cpu(void)
{
    if (g_mock) {
        double s = 0;
        for (int i = 0; i < g_nmock_tids; i++) {
            double t = thread_cpu_s(getpid(), g_mock_tids[i]);
            if (t > 0) s += t;
        }
        return s;
    }
    return g_spid ? proc_cpu_s(g_spid) : -1;
}

/* ------------------------------------------------------------------ clients ---- */

static void conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) die("%s", err);
}

/* --rdconf "k=v,k=v": extra librdkafka settings for the producer and the consumer
 * (experiments, bench/tls.sh's security settings; run.sh passes none, so every server's client
 * runs the same defaults) */
static void conf_extra(rd_kafka_conf_t *c)
{
    const char *s = arg_str("rdconf", "");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) die("--rdconf: expected k=v, got %s", kv);
        *eq = 0;
        conf_set(c, kv, eq + 1);
    }
}

typedef struct prod {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    pthread_t th;
    int id, nparts;
    size_t size;
    const uint8_t *payload;
    _Atomic uint64_t acked, acked_bytes, errors;
    _Atomic double rtt_p99_us; /* max over the stats windows inside the measured window */
    lat ack;                   /* latency mode: produce() -> delivery report */
    int64_t win0, win1;        /* latency mode: timestamps counted */
    char first_err[256];
} prod;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    prod *p = opaque;
    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE) return; /* dropped at the end of a run */
        if (!p->errors++)
            snprintf(p->first_err, sizeof p->first_err, "%s", rd_kafka_err2str(m->err));
        return;
    }
    p->acked++;
    p->acked_bytes += m->len;
    if (p->win1 && m->len >= 8) {
        int64_t ts;
        memcpy(&ts, m->payload, 8);
        if (ts >= p->win0 && ts < p->win1) lat_add(&p->ack, now_ns() - ts);
    }
}

/* Reads the largest brokers.*.rtt.p99 (µs) with a non-zero count out of a stats JSON. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    prod *p = opaque;
    if (g_phase != PH_MEASURE) return 0;
    for (char *s = json; (s = strstr(s, "\"rtt\":")); s += 6) {
        char *end = strchr(s, '}');
        if (!end) break;
        char *cnt = strstr(s, "\"cnt\":"), *p99 = strstr(s, "\"p99\":");
        if (!cnt || !p99 || cnt > end || p99 > end) continue;
        if (atoll(cnt + 6) <= 0) continue;
        double v = atof(p99 + 6);
        if (v > p->rtt_p99_us) p->rtt_p99_us = v;
    }
    return 0;
}

static rd_kafka_t *new_producer(prod *p, const char *acks, const char *linger, int stats)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    conf_set(c, "bootstrap.servers", g_bootstrap);
    conf_set(c, "acks", acks);
    conf_set(c, "linger.ms", linger);
    conf_set(c, "compression.type", "none");
    conf_set(c, "enable.idempotence", "false");
    conf_set(c, "batch.size", "1000000");
    conf_extra(c); /* --rdconf: also the producer's (bench/tls.sh: security settings) */
    conf_set(c, "queue.buffering.max.messages", "200000");
    conf_set(c, "queue.buffering.max.kbytes", "131072");
    conf_set(c, "message.timeout.ms", "30000");
    /* Kafka's Java default; librdkafka's own (1,000,000) would let the Produce round trip
     * measure the client's queue rather than the broker */
    conf_set(c, "max.in.flight.requests.per.connection", arg_str("inflight", "5"));
    conf_set(c, "log_level", "3");
    if (stats) {
        conf_set(c, "statistics.interval.ms", "1000");
        rd_kafka_conf_set_stats_cb(c, stats_cb);
    }
    rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
    rd_kafka_conf_set_opaque(c, p);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk) die("producer: %s", err);
    return rk;
}

/* Waits until the topic has `nparts` partitions with leaders (any count if nparts is 0);
 * returns the count. */
static int wait_metadata(rd_kafka_t *rk, const char *topic, int nparts)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int64_t end = now_ns() + 30000000000LL;
    const char *why = "no answer";
    while (now_ns() < end) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
        if (!e && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0 &&
            (!nparts || md->topics[0].partition_cnt == nparts)) {
            int ok = 1, n = md->topics[0].partition_cnt;
            for (int i = 0; i < n; i++) ok &= md->topics[0].partitions[i].leader >= 0;
            rd_kafka_metadata_destroy(md);
            if (ok) {
                rd_kafka_topic_destroy(rkt);
                return n;
            }
            why = "partitions without leader";
        } else {
            why = e ? rd_kafka_err2str(e)
                    : (md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "topic missing");
            if (md) rd_kafka_metadata_destroy(md);
        }
        usleep(100000);
    }
    die("metadata for %s: %s", topic, why);
}

/* Creates the topic with CreateTopics (the mock: directly). A broker that does not answer
 * CreateTopics gets the topic auto-created by a Metadata request instead, with whatever
 * partition count it picks: that count is returned and reported. */
static int create_topic(const char *topic, int nparts)
{
    if (g_mock) {
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(g_mock, topic, nparts, 1);
        if (e) die("mock topic: %s", rd_kafka_err2str(e));
    }
    prod dummy = {0};
    rd_kafka_t *rk = new_producer(&dummy, "1", "0", 0);
    /* --create auto: no CreateTopics; the broker auto-creates the topic on our Metadata
     * request (it must have been started with num.partitions = the count wanted) */
    if (!g_mock && strcmp(arg_str("create", "admin"), "auto")) {
        char err[256];
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, nparts, 1, err, sizeof err);
        if (!nt) die("NewTopic: %s", err);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_operation_timeout(o, 30000, err, sizeof err);
        rd_kafka_AdminOptions_set_request_timeout(o, 10000, err, sizeof err);
        rd_kafka_CreateTopics(rk, &nt, 1, o, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
        if (!ev || rd_kafka_event_error(ev)) {
            note("CreateTopics %s: %s; relying on auto-creation", topic,
                 ev ? rd_kafka_event_error_string(ev) : "no answer");
            nparts = 0;
        } else {
            const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
            size_t n = 0;
            const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
            for (size_t i = 0; i < n; i++) {
                rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
                if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                    die("CreateTopics %s: %s", topic, rd_kafka_err2str(e));
            }
        }
        if (ev) rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_NewTopic_destroy(nt);
        rd_kafka_queue_destroy(q);
    }
    int n = wait_metadata(rk, topic, nparts);
    rd_kafka_destroy(rk);
    if (nparts && n != nparts) die("%s has %d partitions, wanted %d", topic, n, nparts);
    return n;
}

/* ------------------------------------------------------------------ produce ---- */

static void *produce_thread(void *arg)
{
    prod *p = arg;
    uint64_t seq = (uint64_t)p->id * 7;
    while (g_phase != PH_STOP) {
        for (int i = 0; i < 1000; i++) {
            int part = (int)(seq % (uint64_t)p->nparts);
            if (rd_kafka_produce(p->rkt, part, 0, (void *)p->payload, p->size, NULL, 0, NULL)) {
                if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    if (!p->errors++)
                        snprintf(p->first_err, sizeof p->first_err, "produce: %s",
                                 rd_kafka_err2str(rd_kafka_last_error()));
                    usleep(1000);
                }
                rd_kafka_poll(p->rk, 1);
                break;
            }
            seq++;
        }
        rd_kafka_poll(p->rk, 0);
    }
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE);
    rd_kafka_flush(p->rk, 5000);
    return NULL;
}

static void sum_prods(prod *ps, int n, uint64_t *acked, uint64_t *bytes)
{
    *acked = *bytes = 0;
    for (int i = 0; i < n; i++) {
        *acked += ps[i].acked;
        *bytes += ps[i].acked_bytes;
    }
}

static int mode_produce(void)
{
    const char *topic = arg_str("topic", "bench");
    int nparts = (int)arg_ll("partitions", 8);
    int nprod = (int)arg_ll("producers", 1);
    size_t size = (size_t)arg_ll("size", 100);
    const char *acks = arg_str("acks", "1");
    const char *linger = arg_str("linger", "5");
    double secs = arg_dbl("seconds", 5), warm = arg_dbl("warmup", 1);
    if (nprod < 1 || nprod > 64 || nparts < 1 || size < 1) die("bad arguments");
    int want = nparts;
    nparts = create_topic(topic, nparts);
    uint8_t *payload = malloc(size);
    if (!payload) abort();
    fill_payload(payload, size, 1);
    prod *ps = calloc((size_t)nprod, sizeof *ps);
    if (!ps) abort();
    for (int i = 0; i < nprod; i++) {
        ps[i].id = i;
        ps[i].nparts = nparts;
        ps[i].size = size;
        ps[i].payload = payload;
        ps[i].rk = new_producer(&ps[i], acks, linger, 1);
        ps[i].rkt = rd_kafka_topic_new(ps[i].rk, topic, NULL);
    }
    for (int i = 0; i < nprod; i++) pthread_create(&ps[i].th, NULL, produce_thread, &ps[i]);
    usleep((useconds_t)(warm * 1e6));
    uint64_t a0, b0, a1, b1;
    double cpu0 = server_cpu(), ccpu0 = proc_cpu_s(getpid());
    int64_t t0 = now_ns();
    sum_prods(ps, nprod, &a0, &b0);
    g_phase = PH_MEASURE;
    usleep((useconds_t)(secs * 1e6));
    sum_prods(ps, nprod, &a1, &b1);
    int64_t t1 = now_ns();
    double cpu1 = server_cpu();
    double ccpu1 = proc_cpu_s(getpid());
    g_phase = PH_STOP;
    for (int i = 0; i < nprod; i++) pthread_join(ps[i].th, NULL);
    double s = (double)(t1 - t0) / 1e9, rtt = 0;
    uint64_t errs = 0;
    const char *first_err = "";
    for (int i = 0; i < nprod; i++) {
        if (ps[i].rtt_p99_us > rtt) rtt = ps[i].rtt_p99_us;
        errs += ps[i].errors;
        if (ps[i].errors && !*first_err) first_err = ps[i].first_err;
    }
    double recs = (double)(a1 - a0), bytes = (double)(b1 - b0);
    json_begin();
    json_str("mode", "produce");
    json_num("partitions", nparts);
    json_num("seconds", s);
    json_num("records", recs);
    json_num("rec_s", recs / s);
    json_num("mb_s", bytes / 1e6 / s);
    json_num("server_cpu_s", cpu1 - cpu0);
    json_num("client_cpu_s", ccpu1 - ccpu0 - (g_mock ? cpu1 - cpu0 : 0));
    json_num("rtt_p99_ms", rtt / 1000.0);
    json_num("errors", (double)errs);
    if (recs <= 0)
        json_str("error", *first_err ? first_err : "nothing acknowledged");
    else if (want != nparts)
        json_str("error", "CreateTopics failed: wrong partition count");
    json_end();
    for (int i = 0; i < nprod; i++) {
        rd_kafka_topic_destroy(ps[i].rkt);
        rd_kafka_destroy(ps[i].rk);
    }
    return recs > 0 ? 0 : 1;
}

/* ------------------------------------------------------------- raw fetch ---- */
/* The broker's read path without a client's record handling: Fetch v4 written and parsed
 * here, partitions split into `groups` requests kept in flight at once on one connection
 * (librdkafka has one Fetch in flight per broker and parses a whole response before it asks
 * for the next). Only batch headers are looked at: baseOffset and lastOffsetDelta for the next
 * fetch offset, and the record count. Returns 0 and fills *mb_s, *cpu_s when `total` records
 * came back. */

typedef struct rawbuf {
    uint8_t *p;
    size_t len, cap;
} rawbuf;

static void rb_put(rawbuf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}
static void rb_i16(rawbuf *b, int v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    rb_put(b, x, 2);
}
static void rb_i32(rawbuf *b, int32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    rb_put(b, x, 4);
}
static void rb_i64(rawbuf *b, int64_t v)
{
    rb_i32(b, (int32_t)(v >> 32));
    rb_i32(b, (int32_t)v);
}
static int32_t rd32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}
static int64_t rd64(const uint8_t *p)
{
    return (int64_t)((uint64_t)(uint32_t)rd32(p) << 32 | (uint32_t)rd32(p + 4));
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) die("raw fetch: write: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

static void read_all(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die("raw fetch: read: %s", r ? strerror(errno) : "connection closed");
        p += r;
        n -= (size_t)r;
    }
}

static void raw_send_fetch(int fd, int32_t corr, const char *topic, const int64_t *offs, int p0,
                           int p1)
{
    rawbuf b = {0};
    rb_i32(&b, 0); /* size, patched below */
    rb_i16(&b, 1); /* Fetch */
    rb_i16(&b, 4);
    rb_i32(&b, corr);
    rb_i16(&b, 3);
    rb_put(&b, "raw", 3);
    rb_i32(&b, -1);                      /* replica id */
    rb_i32(&b, 100);                     /* max wait ms */
    rb_i32(&b, 1);                       /* min bytes */
    rb_i32(&b, 52428800);                /* max bytes: librdkafka's default */
    rb_put(&b, (const uint8_t[]){0}, 1); /* isolation level */
    rb_i32(&b, 1);
    rb_i16(&b, (int)strlen(topic));
    rb_put(&b, topic, strlen(topic));
    rb_i32(&b, p1 - p0);
    for (int p = p0; p < p1; p++) {
        rb_i32(&b, p);
        rb_i64(&b, offs[p]);
        rb_i32(&b, 1048576); /* librdkafka's max.partition.fetch.bytes */
    }
    uint8_t *q = b.p;
    int32_t n = (int32_t)b.len - 4;
    q[0] = (uint8_t)(n >> 24), q[1] = (uint8_t)(n >> 16), q[2] = (uint8_t)(n >> 8),
    q[3] = (uint8_t)n;
    write_all(fd, b.p, b.len);
    free(b.p);
}

static int raw_catchup(const char *topic, int nparts, uint64_t total, int groups, double *mb_s,
                       double *cpu_s, size_t size)
{
    char host[256];
    snprintf(host, sizeof host, "%s", g_bootstrap);
    char *colon = strrchr(host, ':');
    if (!colon) die("raw fetch: bootstrap without a port");
    *colon = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        die("raw fetch: %s is not an IPv4 address", host);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("raw fetch: connect: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (groups < 1) groups = 1;
    if (groups > nparts) groups = nparts;
    int64_t *offs = calloc((size_t)nparts, sizeof *offs);
    size_t cap = 64 << 20;
    uint8_t *buf = malloc(cap);
    if (!offs || !buf) abort();
    uint64_t got = 0;
    double c0 = server_cpu();
    int64_t t0 = now_ns(), deadline = t0 + 120000000000LL;
    for (int g = 0; g < groups; g++)
        raw_send_fetch(fd, g, topic, offs, g * nparts / groups, (g + 1) * nparts / groups);
    while (got < total) {
        if (now_ns() > deadline)
            die("raw fetch: stuck at %llu of %llu records", (unsigned long long)got,
                (unsigned long long)total);
        uint8_t h[4];
        read_all(fd, h, 4);
        size_t n = (size_t)(uint32_t)rd32(h);
        if (n < 16 || n > cap) die("raw fetch: response of %zu bytes", n);
        read_all(fd, buf, n);
        const uint8_t *p = buf, *end = buf + n;
        int32_t corr = rd32(p);
        if (corr < 0 || corr >= groups) die("raw fetch: correlation id %d", corr);
        p += 8; /* correlation id, throttle */
        int32_t nt = rd32(p);
        p += 4;
        for (int t = 0; t < nt; t++) {
            if (end - p < 6) die("raw fetch: short response");
            p += 2 + ((p[0] << 8) | p[1]);
            int32_t np = rd32(p);
            p += 4;
            for (int i = 0; i < np; i++) {
                if (end - p < 30) die("raw fetch: short partition");
                int32_t part = rd32(p);
                int err = (p[4] << 8) | p[5];
                if (err) die("raw fetch: partition %d error %d", part, err);
                if (part < 0 || part >= nparts) die("raw fetch: partition %d", part);
                p += 4 + 2 + 8 + 8;
                int32_t na = rd32(p);
                p += 4 + (na > 0 ? (size_t)na * 16 : 0);
                int32_t rl = rd32(p);
                p += 4;
                if (rl < 0) rl = 0;
                if (end - p < rl) die("raw fetch: records past the end");
                const uint8_t *r = p, *re = p + rl;
                while (re - r >= 61) {
                    int64_t bo = rd64(r);
                    int32_t bl = rd32(r + 8);
                    if (bl < 49 || re - r < 12 + (int64_t)bl) break; /* partial batch at the end */
                    int32_t lod = rd32(r + 23);
                    got += (uint64_t)lod + 1;
                    offs[part] = bo + lod + 1;
                    r += 12 + bl;
                }
                p = re;
            }
        }
        if (got < total)
            raw_send_fetch(fd, corr, topic, offs, corr * nparts / groups,
                           (corr + 1) * nparts / groups);
    }
    int64_t t1 = now_ns();
    *cpu_s = server_cpu() - c0;
    *mb_s = (double)got * (double)size / 1e6 / ((double)(t1 - t0) / 1e9);
    /* the requests still in flight are answered (empty, after their wait) and dropped */
    close(fd);
    free(offs);
    free(buf);
    return 0;
}

/* ------------------------------------------------------------------ catch-up ---- */

static rd_kafka_t *new_consumer(void)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    conf_set(c, "bootstrap.servers", g_bootstrap);
    conf_set(c, "log_level", "3");
    conf_set(c, "enable.partition.eof", "false");
    conf_set(c, "fetch.wait.max.ms", arg_str("fetch-wait-ms", "100"));
    conf_set(c, "fetch.min.bytes", "1");
    conf_extra(c);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!rk) die("consumer: %s", err);
    return rk;
}

static int mode_catchup(void)
{
    const char *topic = arg_str("topic", "catchup");
    int nparts = (int)arg_ll("partitions", 8);
    size_t size = (size_t)arg_ll("size", 1024);
    long long mib = arg_ll("mib", 1024);
    uint64_t total = (uint64_t)mib * 1024 * 1024 / size;
    nparts = create_topic(topic, nparts);
    uint8_t *payload = malloc(size);
    if (!payload) abort();
    fill_payload(payload, size, 2);

    /* fill, acks=1 */
    prod p = {.nparts = nparts, .size = size, .payload = payload};
    p.rk = new_producer(&p, "1", "5", 0);
    p.rkt = rd_kafka_topic_new(p.rk, topic, NULL);
    int64_t f0 = now_ns();
    double fcpu0 = server_cpu();
    for (uint64_t i = 0; i < total;) {
        if (rd_kafka_produce(p.rkt, (int)(i % (uint64_t)nparts), 0, payload, size, NULL, 0, NULL)) {
            rd_kafka_poll(p.rk, 1);
            if (now_ns() - f0 > 300000000000LL) die("fill: stuck");
            continue;
        }
        if (!(++i & 1023)) rd_kafka_poll(p.rk, 0);
    }
    while (p.acked + p.errors < total && now_ns() - f0 < 300000000000LL) rd_kafka_poll(p.rk, 100);
    int64_t f1 = now_ns();
    double fcpu1 = server_cpu();
    if (p.errors) die("fill: %llu errors (%s)", (unsigned long long)p.errors, p.first_err);
    rd_kafka_topic_destroy(p.rkt);
    rd_kafka_destroy(p.rk);

    /* read everything back with one consumer */
    rd_kafka_t *rk = new_consumer();
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    double cpu0 = server_cpu(), ccpu0 = proc_cpu_s(getpid());
    int64_t t0 = now_ns(), last = t0;
    for (int i = 0; i < nparts; i++)
        if (rd_kafka_consume_start_queue(rkt, i, RD_KAFKA_OFFSET_BEGINNING, q) < 0)
            die("consume_start: %s", rd_kafka_err2str(rd_kafka_last_error()));
    uint64_t got = 0, bytes = 0, errs = 0;
    int64_t first = 0;
    rd_kafka_message_t *msgs[1000];
    while (got < total && now_ns() - last < 15000000000LL) {
        /* never ask for more than is left: the call waits (up to its timeout) until it has
         * as many as asked, and that wait would count in the read time */
        size_t want = total - got < 1000 ? (size_t)(total - got) : 1000;
        ssize_t n = rd_kafka_consume_batch_queue(q, 200, msgs, want);
        if (n > 0 && !first) first = now_ns();
        for (ssize_t i = 0; i < n; i++) {
            if (msgs[i]->err)
                errs++;
            else {
                got++;
                bytes += msgs[i]->len;
            }
            rd_kafka_message_destroy(msgs[i]);
        }
        if (n > 0) last = now_ns();
    }
    int64_t t1 = last;
    double cpu1 = server_cpu(), ccpu1 = proc_cpu_s(getpid());
    for (int i = 0; i < nparts; i++) rd_kafka_consume_stop(rkt, i);
    rd_kafka_queue_destroy(q);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    /* read rate from the first record to the last; the start-up (connect, metadata, offset
     * lookup) is reported apart */
    double s = (double)(t1 - (first ? first : t0)) / 1e9, fs = (double)(f1 - f0) / 1e9;
    json_begin();
    json_str("mode", "catchup");
    json_num("partitions", nparts);
    json_num("first_record_ms", first ? (double)(first - t0) / 1e6 : -1);
    json_num("records", (double)got);
    json_num("expected", (double)total);
    json_num("seconds", s);
    json_num("mb_s", (double)bytes / 1e6 / s);
    json_num("rec_s", (double)got / s);
    json_num("server_cpu_s", cpu1 - cpu0);
    json_num("client_cpu_s", ccpu1 - ccpu0 - (g_mock ? cpu1 - cpu0 : 0));
    json_num("fill_mb_s", (double)total * (double)size / 1e6 / fs);
    json_num("fill_server_cpu_s", fcpu1 - fcpu0);
    json_num("errors", (double)errs);
    if (got == total && arg_ll("raw-groups", 0) > 0 && !g_mock) {
        double rmb, rcpu;
        raw_catchup(topic, nparts, total, (int)arg_ll("raw-groups", 0), &rmb, &rcpu, size);
        json_num("raw_mb_s", rmb);
        json_num("raw_server_cpu_s", rcpu);
    }
    if (got < total) json_str("error", "not everything was read back");
    json_end();
    return got == total ? 0 : 1;
}

/* ------------------------------------------------------------------ latency ---- */

typedef struct lcons {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rd_kafka_queue_t *q;
    _Atomic int64_t win0, win1;
    _Atomic uint64_t seen, in_window;
    lat e2e;
} lcons;

static void *latency_consumer(void *arg)
{
    lcons *c = arg;
    /* one message at a time: the batch call waits to fill its batch, which would add latency */
    while (g_phase != PH_STOP) {
        rd_kafka_message_t *m = rd_kafka_consume_queue(c->q, 50);
        if (!m) continue;
        int64_t now = now_ns();
        if (!m->err && m->len >= 8) {
            int64_t ts;
            memcpy(&ts, m->payload, 8);
            c->seen++;
            if (c->win1 && ts >= c->win0 && ts < c->win1) {
                lat_add(&c->e2e, now - ts);
                c->in_window++;
            }
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

static int mode_latency(void)
{
    const char *topic = arg_str("topic", "latency");
    size_t size = (size_t)arg_ll("size", 1024);
    const char *acks = arg_str("acks", "1");
    const char *linger = arg_str("linger", "0");
    double rate = arg_dbl("rate", 10000), secs = arg_dbl("seconds", 5);
    double warm = arg_dbl("warmup", 1);
    if (size < 8 || rate <= 0) die("bad arguments");
    create_topic(topic, 1);
    lcons c = {0};
    c.rk = new_consumer();
    c.rkt = rd_kafka_topic_new(c.rk, topic, NULL);
    c.q = rd_kafka_queue_new(c.rk);
    if (rd_kafka_consume_start_queue(c.rkt, 0, RD_KAFKA_OFFSET_END, c.q) < 0)
        die("consume_start: %s", rd_kafka_err2str(rd_kafka_last_error()));
    pthread_t th;
    pthread_create(&th, NULL, latency_consumer, &c);

    prod p = {.size = size};
    p.rk = new_producer(&p, acks, linger, 0);
    p.rkt = rd_kafka_topic_new(p.rk, topic, NULL);
    uint8_t *buf = malloc(size);
    if (!buf) abort();
    fill_payload(buf, size, 5);
    int64_t interval = (int64_t)(1e9 / rate);
    int64_t start = now_ns(), next = start;
    int64_t win0 = start + (int64_t)(warm * 1e9), win1 = win0 + (int64_t)(secs * 1e9);
    int64_t hard_end = win1 + 10000000000LL;
    uint64_t sent_in_window = 0, fails = 0;
    int ready = 0;
    for (;;) {
        int64_t now = now_ns();
        if (!ready && now >= win0) {
            /* the consumer must be fetching before the window opens */
            if (c.seen > 0 || now > hard_end) {
                ready = 1;
                win0 = next;
                win1 = win0 + (int64_t)(secs * 1e9);
                p.win0 = c.win0 = win0;
                p.win1 = c.win1 = win1;
            }
        }
        if (ready && now >= win1) break;
        while (next <= now) {
            memcpy(buf, &next, 8);
            if (rd_kafka_produce(p.rkt, 0, RD_KAFKA_MSG_F_COPY, buf, size, NULL, 0, NULL))
                fails++;
            else if (ready && next >= win0 && next < win1)
                sent_in_window++;
            next += interval;
        }
        rd_kafka_poll(p.rk, 0);
        sleep_until_ns(next);
    }
    rd_kafka_flush(p.rk, 10000);
    int64_t wait_end = now_ns() + 3000000000LL;
    while (c.in_window < sent_in_window && now_ns() < wait_end) usleep(1000);
    g_phase = PH_STOP;
    pthread_join(th, NULL);
    lat_sort(&c.e2e);
    lat_sort(&p.ack);
    json_begin();
    json_str("mode", "latency");
    json_num("rate", rate);
    json_num("sent", (double)sent_in_window);
    json_num("received", (double)c.in_window);
    json_num("acked", (double)p.ack.n);
    json_num("produce_fails", (double)fails);
    json_num("e2e_p50_ms", lat_pct_ms(&c.e2e, 50));
    json_num("e2e_p99_ms", lat_pct_ms(&c.e2e, 99));
    json_num("e2e_p999_ms", lat_pct_ms(&c.e2e, 99.9));
    json_num("ack_p50_ms", lat_pct_ms(&p.ack, 50));
    json_num("ack_p99_ms", lat_pct_ms(&p.ack, 99));
    json_num("ack_p999_ms", lat_pct_ms(&p.ack, 99.9));
    int ok = c.in_window > 0 && c.in_window * 100 >= sent_in_window * 99;
    if (!ok) json_str("error", c.seen ? "records lost or late" : "consumer received nothing");
    json_end();
    rd_kafka_consume_stop(c.rkt, 0);
    rd_kafka_queue_destroy(c.q);
    rd_kafka_topic_destroy(c.rkt);
    rd_kafka_destroy(c.rk);
    rd_kafka_topic_destroy(p.rkt);
    rd_kafka_destroy(p.rk);
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
    if (argc < 2) die("usage: eddy-bench-kafka create|produce|catchup|latency [--key value]...");
    args_init(argc, argv, 2);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)arg_ll("timeout", 300));
    if (arg_flag("mock"))
        mock_start();
    else
        g_bootstrap = arg_str("bootstrap", NULL);
    if (!g_bootstrap) die("--bootstrap HOST:PORT or --mock");
    g_spid = (pid_t)arg_ll("server-pid", 0);
    const char *m = argv[1];
    int rc;
    if (!strcmp(m, "create")) {
        int want = (int)arg_ll("partitions", 1);
        int n = create_topic(arg_str("topic", "bench"), want);
        json_begin();
        json_str("mode", "create");
        json_num("partitions", n);
        if (n != want) json_str("error", "CreateTopics failed: wrong partition count");
        json_end();
        rc = n == want ? 0 : 1;
    } else if (!strcmp(m, "produce"))
        rc = mode_produce();
    else if (!strcmp(m, "catchup"))
        rc = mode_catchup();
    else if (!strcmp(m, "latency"))
        rc = mode_latency();
    else
        die("unknown mode %s", m);
    if (g_mock) {
        rd_kafka_mock_cluster_destroy(g_mock);
        rd_kafka_destroy(g_mock_rk);
    }
    return rc;
}
