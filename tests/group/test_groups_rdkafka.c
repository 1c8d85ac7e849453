/* test_groups_rdkafka — consumer groups against a real eddyd with librdkafka (the C client the
 * SDK uses): 3 consumers in one group over a 6-partition topic split the partitions; one
 * leaves and the other two take over; a new one joins; every message is consumed; commits
 * happen after processing (synchronously, per message) and no committed message is ever
 * delivered again, including after an eddyd restart. Prints the measured rebalance times.
 *
 * Run by ctest (LABELS integration) with EDDYD=<path to eddyd>.
 */
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "eddyd_harness.h"

#define NPART 6
#define TOPIC "grp-rdk"
#define GROUP "grp-rdk-g"
#define MAXMSG 4000
#define MAXCONS 4

static char g_bootstrap[64];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t g_committed[NPART]; /* highest committed offset per partition */
static unsigned char g_seen[NPART][MAXMSG];
static int g_distinct, g_deliveries, g_violations, g_errors;
static int64_t g_first_after_restart[NPART];
static bool g_restart_phase;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static eh_broker g_ed; /* the broker, through the shared C launcher (tests/harness) */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (g_ed.nstart) eh_log_tail(&g_ed, 40);
    exit(1);
}

typedef struct cons {
    int idx;
    rd_kafka_t *rk;
    pthread_t th;
    volatile int run;
    pthread_mutex_t mu;
    int nassigned;
    int assigned[NPART];
    int generation_seen;
} cons;

static cons g_cons[MAXCONS];

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    cons *c = opaque;
    pthread_mutex_lock(&c->mu);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        c->nassigned = 0;
        for (int i = 0; i < parts->cnt && i < NPART; i++)
            c->assigned[c->nassigned++] = parts->elems[i].partition;
        c->generation_seen++;
        pthread_mutex_unlock(&c->mu);
        rd_kafka_assign(rk, parts);
    } else {
        c->nassigned = 0;
        pthread_mutex_unlock(&c->mu);
        rd_kafka_assign(rk, NULL);
    }
}

static void *cons_main(void *arg)
{
    cons *c = arg;
    while (c->run) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 100);
        if (!m) continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "consumer %d: %s\n", c->idx, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        int p = m->partition;
        int64_t o = m->offset;
        pthread_mutex_lock(&g_mu);
        g_deliveries++;
        if (p < 0 || p >= NPART || o < 0 || o >= MAXMSG)
            g_errors++;
        else {
            if (o < g_committed[p]) {
                g_violations++;
                fprintf(stderr, "VIOLATION: consumer %d got p%d@%lld below committed %lld\n",
                        c->idx, p, (long long)o, (long long)g_committed[p]);
            }
            if (!g_seen[p][o]) {
                g_seen[p][o] = 1;
                g_distinct++;
            }
            if (g_restart_phase && g_first_after_restart[p] < 0) g_first_after_restart[p] = o;
        }
        pthread_mutex_unlock(&g_mu);
        /* commit after processing, synchronously */
        rd_kafka_resp_err_t e = rd_kafka_commit_message(c->rk, m, 0);
        if (!e) {
            pthread_mutex_lock(&g_mu);
            if (p >= 0 && p < NPART && o + 1 > g_committed[p]) g_committed[p] = o + 1;
            pthread_mutex_unlock(&g_mu);
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

static void conf_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) die("%s: %s", k, err);
}

static void cons_start(int i)
{
    cons *c = &g_cons[i];
    memset(c, 0, sizeof *c);
    c->idx = i;
    pthread_mutex_init(&c->mu, NULL);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char cid[32];
    snprintf(cid, sizeof cid, "rdk-consumer-%d", i);
    conf_set(conf, "bootstrap.servers", g_bootstrap);
    conf_set(conf, "client.id", cid);
    conf_set(conf, "group.id", GROUP);
    conf_set(conf, "enable.auto.commit", "false");
    conf_set(conf, "auto.offset.reset", "earliest");
    conf_set(conf, "session.timeout.ms", "10000");
    conf_set(conf, "heartbeat.interval.ms", "500");
    conf_set(conf, "enable.partition.eof", "false");
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, c);
    char err[256];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!c->rk) die("consumer: %s", err);
    rd_kafka_poll_set_consumer(c->rk);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, TOPIC, RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(c->rk, t)) die("subscribe");
    rd_kafka_topic_partition_list_destroy(t);
    c->run = 1;
    pthread_create(&c->th, NULL, cons_main, c);
}

static void cons_stop(int i)
{
    cons *c = &g_cons[i];
    if (!c->rk) return;
    c->run = 0;
    pthread_join(c->th, NULL);
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    c->rk = NULL;
}

/* Do the running consumers in `idx` own all partitions, disjointly, each at least one? */
static bool covered(const int *idx, int n)
{
    int owner[NPART];
    for (int p = 0; p < NPART; p++) owner[p] = -1;
    for (int k = 0; k < n; k++) {
        cons *c = &g_cons[idx[k]];
        pthread_mutex_lock(&c->mu);
        int na = c->nassigned;
        int a[NPART];
        memcpy(a, c->assigned, sizeof a);
        pthread_mutex_unlock(&c->mu);
        if (na == 0) return false;
        for (int j = 0; j < na; j++) {
            if (owner[a[j]] >= 0) return false;
            owner[a[j]] = idx[k];
        }
    }
    for (int p = 0; p < NPART; p++)
        if (owner[p] < 0) return false;
    return true;
}

static int64_t wait_covered(const int *idx, int n, const char *what)
{
    int64_t t0 = now_ms();
    while (!covered(idx, n)) {
        if (now_ms() - t0 > 60000)
            die("%s: partitions not split among %d consumers in 60 s", what, n);
        usleep(5000);
    }
    return now_ms() - t0;
}

static void wait_distinct(int want, const char *what)
{
    int64_t t0 = now_ms();
    for (;;) {
        pthread_mutex_lock(&g_mu);
        int d = g_distinct;
        pthread_mutex_unlock(&g_mu);
        if (d >= want) return;
        if (now_ms() - t0 > 60000) die("%s: consumed %d of %d messages in 60 s", what, d, want);
        usleep(20000);
    }
}

static int g_next[NPART];

static void produce(int per_partition)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "bootstrap.servers", g_bootstrap);
    conf_set(conf, "linger.ms", "5");
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) die("producer: %s", err);
    for (int i = 0; i < per_partition; i++)
        for (int p = 0; p < NPART; p++) {
            char v[64];
            int n = snprintf(v, sizeof v, "p%d-m%d", p, g_next[p]++);
            rd_kafka_resp_err_t e;
            while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(p),
                                          RD_KAFKA_V_VALUE(v, (size_t)n),
                                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                          RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(rk, 10);
            if (e) die("produce: %s", rd_kafka_err2str(e));
        }
    if (rd_kafka_flush(rk, 30000)) die("produce: flush timed out");
    rd_kafka_destroy(rk);
}

int main(void)
{
    static const char *const sets[] = {"group.initial.rebalance.delay.ms=0", "num.partitions=6",
                                       NULL};
    if (eh_start(&g_ed, sets)) die("eddyd did not start");
    snprintf(g_bootstrap, sizeof g_bootstrap, "%s", g_ed.bootstrap);
    for (int p = 0; p < NPART; p++) g_first_after_restart[p] = -1;

    /* the topic is auto-created by the producer's metadata request (num.partitions=6) */
    produce(200); /* 1200 */

    int64_t t0 = now_ms();
    for (int i = 0; i < 3; i++) cons_start(i);
    int three[3] = {0, 1, 2};
    int64_t form = wait_covered(three, 3, "initial split");
    (void)t0;
    printf("group formation (3 consumers subscribe at once -> 6 partitions split): %lld ms\n",
           (long long)form);
    wait_distinct(1200, "first batch");

    /* one leaves: the other two take over */
    int64_t tl = now_ms();
    cons_stop(2);
    int two[2] = {0, 1};
    wait_covered(two, 2, "after leave");
    printf("rebalance after a member leaves (3 -> 2 members): %lld ms\n",
           (long long)(now_ms() - tl));
    produce(100); /* 1800 */
    wait_distinct(1800, "after leave");

    /* a new one joins: 3 members again */
    int64_t tj = now_ms();
    cons_start(3);
    int again[3] = {0, 1, 3};
    wait_covered(again, 3, "after join");
    int64_t rb3 = now_ms() - tj;
    printf("rebalance time for a 3-member group (new member joins, 2 -> 3 members): %lld ms\n",
           (long long)rb3);
    produce(100); /* 2400 */
    wait_distinct(2400, "after join");

    cons_stop(0);
    cons_stop(1);
    cons_stop(3);
    for (int p = 0; p < NPART; p++)
        if (g_committed[p] != 400)
            die("partition %d committed %lld, want 400", p, (long long)g_committed[p]);

    /* restart eddyd: committed offsets survive, nothing committed is re-read */
    if (eh_stop(&g_ed, 30)) die("eddyd did not stop cleanly");
    if (eh_restart(&g_ed)) die("eddyd did not restart");
    produce(10); /* 2460 */
    g_restart_phase = true;
    cons_start(0);
    wait_distinct(2460, "after restart");
    cons_stop(0);
    for (int p = 0; p < NPART; p++)
        if (g_first_after_restart[p] != 400)
            die("after restart partition %d resumed at %lld, want 400", p,
                (long long)g_first_after_restart[p]);
    if (g_violations) die("%d committed messages were delivered again", g_violations);
    if (g_errors) die("%d unexpected messages", g_errors);
    printf("consumed %d distinct messages in %d deliveries, 0 committed re-reads\n", g_distinct,
           g_deliveries);
    if (eh_stop(&g_ed, 30)) die("eddyd did not stop cleanly");
    eh_cleanup(&g_ed);
    printf("1 passed, 0 failed\n");
    return 0;
}
