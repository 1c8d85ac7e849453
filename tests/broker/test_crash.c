/* test_crash — scenario 6: acknowledged means durable. A librdkafka idempotent producer
 * (acks=all) writes continuously to a 3-partition topic while the harness SIGKILLs eddyd
 * EDDY_IT_KILLS times (default 5) at random points (after a random number of fresh
 * acknowledgements) and restarts it on the same port and data dir. Every delivery report
 * success is recorded. At the end a simple consumer reads everything back: each acknowledged
 * message is present exactly once at its acknowledged offset, no message appears twice, and
 * each partition holds messages in produce order (unacknowledged ones may be absent).
 * EDDY_IT_SEED reproduces a run (the seed is printed).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "it_common.h"

#define NPART 3
#define TOPIC "crash"
#define MAXMSG 2000000

typedef struct {
    int32_t partition;
    int64_t offset;
    int8_t acked; /* 1 = success DR, -1 = failed DR */
    uint8_t seen;
} msg_state;

static msg_state *st;
static atomic_long nacked, nfailed, nproduced;
static atomic_int stop_producing;
static char bootstrap[64];
static atomic_int fatal_seen;
static char fatal_str[512];

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    long id = (long)(intptr_t)m->_private;
    if (id < 0 || id >= MAXMSG) return;
    if (m->err == 0) {
        st[id].partition = m->partition;
        st[id].offset = m->offset;
        st[id].acked = 1;
        atomic_fetch_add(&nacked, 1);
    } else {
        st[id].acked = -1;
        if (atomic_fetch_add(&nfailed, 1) < 5)
            fprintf(stderr, "delivery failed for msg %ld: %s\n", id, rd_kafka_err2str(m->err));
    }
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        fatal_seen = 1;
        rd_kafka_fatal_error(rk, fatal_str, sizeof fatal_str);
        fprintf(stderr, "FATAL producer error: %s\n", fatal_str);
    } else if (err != RD_KAFKA_RESP_ERR__TRANSPORT && err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        fprintf(stderr, "producer error: %s: %s\n", rd_kafka_err2str(err), reason);
    }
}

static void *producer_thread(void *arg)
{
    (void)arg;
    char err[512];
    rd_kafka_conf_t *c = it_conf(bootstrap);
    it_conf_set(c, "enable.idempotence", "true");
    it_conf_set(c, "acks", "all");
    it_conf_set(c, "linger.ms", "2");
    it_conf_set(c, "message.timeout.ms", "120000");
    it_conf_set(c, "queue.buffering.max.messages", "20000");
    rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
    rd_kafka_conf_set_error_cb(c, error_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        fatal_seen = 1;
        return NULL;
    }
    char val[64], key[32];
    long i = 0;
    while (!atomic_load(&stop_producing) && i < MAXMSG && !fatal_seen) {
        int vl = snprintf(val, sizeof val, "crash-%09ld", i);
        int kl = snprintf(key, sizeof key, "k%ld", i % 101);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_KEY(key, (size_t)kl),
            RD_KAFKA_V_VALUE(val, (size_t)vl), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 5);
            continue;
        }
        if (e) {
            fprintf(stderr, "producev: %s\n", rd_kafka_err2str(e));
            break;
        }
        i++;
        atomic_store(&nproduced, i);
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_resp_err_t fe = rd_kafka_flush(rk, 150000);
    if (fe) fprintf(stderr, "flush: %s, %d left\n", rd_kafka_err2str(fe), rd_kafka_outq_len(rk));
    rd_kafka_destroy(rk);
    return NULL;
}

/* Waits until `n` more acknowledgements than `base` arrived. */
static int wait_acks(long base, long n, int timeout_ms)
{
    int64_t deadline = eh_now_ms() + timeout_ms;
    while (atomic_load(&nacked) < base + n) {
        if (eh_now_ms() > deadline || fatal_seen) return -1;
        eh_sleep_ms(2);
    }
    return 0;
}

static long last_id[NPART];
static int64_t last_off[NPART];
static long dups, bad_vals;

static int on_msg(const rd_kafka_message_t *m, void *opaque)
{
    (void)opaque;
    char buf[64];
    size_t n = m->len < sizeof buf - 1 ? m->len : sizeof buf - 1;
    memcpy(buf, m->payload, n);
    buf[n] = 0;
    long id = -1;
    int p = m->partition;
    if (sscanf(buf, "crash-%ld", &id) != 1 || id < 0 || id >= MAXMSG || p < 0 || p >= NPART) {
        if (bad_vals++ < 5) CHECK(0, "unexpected record '%s' at p%d@%" PRId64, buf, p, m->offset);
        return 0;
    }
    if (st[id].seen) {
        if (dups++ < 10)
            CHECK(0, "msg %ld appears twice (again at p%d@%" PRId64 ")", id, p, m->offset);
    }
    st[id].seen = 1;
    if (st[id].acked == 1 && (st[id].partition != p || st[id].offset != m->offset))
        CHECK(0, "acked msg %ld found at p%d@%" PRId64 ", acknowledged at p%d@%" PRId64, id, p,
              m->offset, st[id].partition, st[id].offset);
    CHECK(id > last_id[p], "p%d: msg %ld at offset %" PRId64 " follows msg %ld (reordered)", p, id,
          m->offset, last_id[p]);
    CHECK(m->offset > last_off[p], "p%d: offsets not increasing", p);
    last_id[p] = id;
    last_off[p] = m->offset;
    return it_failures > 40;
}

int main(void)
{
    int kills = (int)it_env_long("EDDY_IT_KILLS", 5);
    unsigned seed = (unsigned)it_env_long("EDDY_IT_SEED", (long)time(NULL));
    printf("seed %u (EDDY_IT_SEED), %d kills\n", seed, kills);
    srand(seed);
    st = calloc(MAXMSG, sizeof *st);
    const char *sets[] = {"num.partitions=3", NULL};
    eh_broker b;
    if (eh_start(&b, sets)) {
        CHECK(0, "eddyd start");
        eh_cleanup(&b);
        return it_finish("crash_kill9");
    }
    snprintf(bootstrap, sizeof bootstrap, "%s", b.bootstrap);

    pthread_t th;
    pthread_create(&th, NULL, producer_thread, NULL);
    int restarted = 0;
    for (int k = 0; k < kills; k++) {
        long want = 500 + rand() % 8000;
        long base = atomic_load(&nacked);
        if (wait_acks(base, want, 60000)) {
            CHECK(0, "kill %d: producer made no progress (%ld acks, wanted %ld more)%s%s", k,
                  atomic_load(&nacked) - base, want, fatal_seen ? ": fatal: " : "", fatal_str);
            break;
        }
        /* A few microseconds of jitter so the kill lands at varied points of a write. */
        eh_sleep_ms(rand() % 3);
        eh_kill(&b);
        printf("kill %d after %ld acks (%ld produced)\n", k + 1, atomic_load(&nacked),
               atomic_load(&nproduced));
        fflush(stdout);
        if (eh_restart(&b)) {
            CHECK(0, "restart %d on port %d failed", k + 1, b.port);
            break;
        }
        restarted++;
    }
    if (restarted == kills)
        CHECK(wait_acks(atomic_load(&nacked), 1000, 60000) == 0,
              "producer acknowledged 1000 more after the last restart");
    atomic_store(&stop_producing, 1);
    pthread_join(th, NULL);
    long produced = atomic_load(&nproduced), acked = atomic_load(&nacked);
    printf("produced %ld, acknowledged %ld, failed %ld\n", produced, acked, atomic_load(&nfailed));
    CHECK(!fatal_seen, "idempotent producer raised a fatal error: %s", fatal_str);
    long undelivered = produced - acked - atomic_load(&nfailed);
    CHECK(undelivered == 0, "%ld messages got no delivery report", undelivered);

    if (b.pid > 0) {
        for (int p = 0; p < NPART; p++) {
            last_id[p] = -1;
            last_off[p] = -1;
        }
        CHECK(it_consume_all(b.bootstrap, TOPIC, NPART, on_msg, NULL, 30000) == 0,
              "consumer reached EOF on every partition");
        long lost = 0, extra = 0;
        for (long i = 0; i < produced; i++) {
            if (st[i].acked == 1 && !st[i].seen && lost++ < 10)
                CHECK(0, "acknowledged msg %ld (p%d@%" PRId64 ") is missing", i, st[i].partition,
                      st[i].offset);
            if (st[i].acked != 1 && st[i].seen) extra++;
        }
        CHECK(lost == 0, "%ld acknowledged messages lost", lost);
        CHECK(dups == 0, "%ld duplicated messages", dups);
        printf("unacknowledged but present: %ld\n", extra);
        CHECK(eh_stop(&b, 30) == 0, "clean SIGTERM shutdown");
    }
    if (it_failures) eh_log_tail(&b, 40);
    eh_cleanup(&b);
    free(st);
    return it_finish("crash_kill9");
}
