/* test_idempotent — scenario 2: a librdkafka idempotent producer (enable.idempotence=true,
 * acks=all) writes EDDY_IT_MESSAGES (default 100000) keyed messages over 4 partitions of an
 * auto-created topic; every delivery report must succeed; then a simple consumer reads all
 * partitions from the beginning to EOF: every message exactly once, at the offset its delivery
 * report gave, with its key, and per-partition order equal to produce order.
 */
#include <inttypes.h>
#include <string.h>

#include "it_common.h"

#define NPART 4
#define TOPIC "idem-100k"

typedef struct {
    int32_t partition;
    int64_t offset;
    int err;
    int seen;
} msg_state;

static msg_state *st;
static long nmsg;
static long ndr;
static int64_t last_id[NPART];
static int64_t next_off[NPART];

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    long id = (long)(intptr_t)m->_private;
    ndr++;
    if (id < 0 || id >= nmsg) return;
    st[id].err = m->err;
    st[id].partition = m->partition;
    st[id].offset = m->offset;
    if (m->err) {
        static int shown;
        if (shown++ < 10)
            fprintf(stderr, "delivery failed for msg %ld: %s\n", id, rd_kafka_err2str(m->err));
    }
}

static int on_msg(const rd_kafka_message_t *m, void *opaque)
{
    (void)opaque;
    char buf[64];
    size_t n = m->len < sizeof buf - 1 ? m->len : sizeof buf - 1;
    memcpy(buf, m->payload, n);
    buf[n] = 0;
    long id = -1;
    if (sscanf(buf, "msg-%ld", &id) != 1 || id < 0 || id >= nmsg) {
        CHECK(0, "unexpected value '%s' at p%d@%" PRId64, buf, m->partition, m->offset);
        return 0;
    }
    int p = m->partition;
    CHECK(st[id].seen == 0, "msg %ld consumed twice (again at p%d@%" PRId64 ")", id, p, m->offset);
    st[id].seen++;
    CHECK(p == st[id].partition && m->offset == st[id].offset,
          "msg %ld at p%d@%" PRId64 ", delivery report said p%d@%" PRId64, id, p, m->offset,
          st[id].partition, st[id].offset);
    CHECK(m->offset == next_off[p], "p%d: offset %" PRId64 " after %" PRId64 " (not contiguous)", p,
          m->offset, next_off[p] - 1);
    next_off[p] = m->offset + 1;
    CHECK(id > last_id[p], "p%d: msg %ld after msg %" PRId64 " (order differs from produce order)",
          p, id, last_id[p]);
    last_id[p] = id;
    char key[32];
    int kl = snprintf(key, sizeof key, "key-%ld", id % 997);
    CHECK(m->key_len == (size_t)kl && !memcmp(m->key, key, (size_t)kl), "msg %ld: wrong key", id);
    return it_failures > 20; /* stop early on a flood of errors */
}

int main(void)
{
    nmsg = it_env_long("EDDY_IT_MESSAGES", 100000);
    st = calloc((size_t)nmsg, sizeof *st);
    for (long i = 0; i < nmsg; i++) st[i].err = -12345;
    const char *sets[] = {"num.partitions=4", NULL};
    eh_broker b;
    if (eh_start(&b, sets)) {
        CHECK(0, "eddyd start");
        eh_cleanup(&b);
        return it_finish("idempotent_100k");
    }

    char err[512];
    rd_kafka_conf_t *c = it_conf(b.bootstrap);
    it_conf_set(c, "enable.idempotence", "true");
    it_conf_set(c, "acks", "all");
    it_conf_set(c, "linger.ms", "5");
    it_conf_set(c, "message.timeout.ms", "120000");
    rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        return 1;
    }
    CHECK(it_wait_topic(rk, TOPIC, NPART, 30000) == 0, "auto-created topic visible");

    int64_t t0 = eh_now_ms();
    char val[128], key[32];
    for (long i = 0; i < nmsg; i++) {
        int vl = snprintf(val, sizeof val, "msg-%08ld-%.*s", i, (int)(i % 64),
                          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/");
        int kl = snprintf(key, sizeof key, "key-%ld", i % 997);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_KEY(key, (size_t)kl),
                RD_KAFKA_V_VALUE(val, (size_t)vl), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 10);
                continue;
            }
            CHECK(e == 0, "producev %ld: %s", i, rd_kafka_err2str(e));
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_resp_err_t fe = rd_kafka_flush(rk, 180000);
    CHECK(fe == 0, "flush: %s (%d messages outstanding)", rd_kafka_err2str(fe),
          rd_kafka_outq_len(rk));
    char ferr[512];
    rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(rk, ferr, sizeof ferr);
    CHECK(fatal == 0, "idempotent producer fatal error: %s", ferr);
    printf("produced %ld messages in %" PRId64 " ms, %ld delivery reports\n", nmsg,
           eh_now_ms() - t0, ndr);
    rd_kafka_destroy(rk);

    long bad = 0, used[NPART] = {0};
    int64_t prev_off[NPART];
    for (int p = 0; p < NPART; p++) prev_off[p] = -1;
    for (long i = 0; i < nmsg; i++) {
        if (st[i].err) {
            bad++;
            continue;
        }
        int p = st[i].partition;
        if (p < 0 || p >= NPART) {
            CHECK(0, "msg %ld delivered to partition %d", i, p);
            continue;
        }
        used[p]++;
        CHECK(st[i].offset > prev_off[p],
              "p%d: delivery report offsets not increasing (msg %ld at %" PRId64 " after %" PRId64
              ")",
              p, i, st[i].offset, prev_off[p]);
        prev_off[p] = st[i].offset;
    }
    CHECK(bad == 0, "%ld of %ld delivery reports missing or failed", bad, nmsg);
    int nused = 0;
    for (int p = 0; p < NPART; p++) nused += used[p] > 0;
    CHECK(nused >= 2, "keys spread over %d partitions only", nused);

    if (it_failures == 0) {
        for (int p = 0; p < NPART; p++) last_id[p] = -1;
        int rc = it_consume_all(b.bootstrap, TOPIC, NPART, on_msg, NULL, 30000);
        CHECK(rc == 0, "consumer reached EOF on every partition");
        long missing = 0;
        for (long i = 0; i < nmsg; i++) missing += st[i].seen == 0;
        CHECK(missing == 0, "%ld acknowledged messages not read back", missing);
        for (int p = 0; p < NPART; p++)
            CHECK(next_off[p] == used[p], "p%d: read %" PRId64 " offsets, %ld delivered", p,
                  next_off[p], used[p]);
    }
    CHECK(eh_stop(&b, 30) == 0, "clean SIGTERM shutdown");
    if (it_failures) eh_log_tail(&b, 30);
    eh_cleanup(&b);
    free(st);
    return it_finish("idempotent_100k");
}
