/* test_compression — scenario 3: a librdkafka producer with compression.codec gzip, snappy,
 * lz4 and zstd (one topic each, linger so batches hold many records) writes keyed messages
 * with headers, some compressible and some not; a simple consumer reads them back: values,
 * keys and headers byte-for-byte equal, offsets contiguous from 0. The broker must store the
 * batches as received (compressed): the topic's *.log files under the data dir must be far
 * smaller than the raw payload — this also catches a broker whose ApiVersions answer makes
 * librdkafka 2.0.2 silently turn compression off (kafka-protocol.md §1.4).
 */
#include <dirent.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "it_common.h"

#define NMSG 3000

typedef struct {
    int idx;
    long bad;
    int64_t next_off;
} cstate;

/* Deterministic payload for message i: mostly text runs (compressible), every 7th is
 * pseudo-random bytes, sizes vary 0..2000, message 5 has an empty value. */
static size_t payload(int i, unsigned char *out)
{
    size_t len = (size_t)((i * 7919) % 2001);
    if (i == 5) return 0;
    if (i % 7 == 0) {
        uint32_t x = 2463534242u ^ (uint32_t)i;
        for (size_t k = 0; k < len; k++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            out[k] = (unsigned char)x;
        }
    } else {
        static const char words[] = "order-created payment-authorized inventory-reserved ";
        for (size_t k = 0; k < len; k++) out[k] = (unsigned char)words[(k + (size_t)i) % 52];
    }
    return len;
}

static int on_msg(const rd_kafka_message_t *m, void *opaque)
{
    cstate *s = opaque;
    static unsigned char want[4096];
    int i = s->idx++;
    CHECK(m->partition == 0 && m->offset == s->next_off, "offset %" PRId64 " expected %" PRId64,
          m->offset, s->next_off);
    s->next_off = m->offset + 1;
    size_t wl = payload(i, want);
    int ok = m->len == wl && (wl == 0 || !memcmp(m->payload, want, wl));
    char key[32];
    int kl = snprintf(key, sizeof key, "k%d", i);
    ok = ok && m->key_len == (size_t)kl && !memcmp(m->key, key, (size_t)kl);
    rd_kafka_headers_t *hdrs = NULL;
    const void *hv = NULL;
    size_t hl = 0;
    char hwant[32];
    int hwl = snprintf(hwant, sizeof hwant, "h%d", i);
    ok = ok && rd_kafka_message_headers(m, &hdrs) == 0 &&
         rd_kafka_header_get_last(hdrs, "seq", &hv, &hl) == 0 && hl == (size_t)hwl &&
         !memcmp(hv, hwant, hl);
    if (!ok && s->bad++ < 5)
        CHECK(0, "message %d (offset %" PRId64 "): value/key/header differ (len %zu want %zu)", i,
              m->offset, m->len, wl);
    return 0;
}

static long long dir_log_bytes(const char *data, const char *topic)
{
    long long total = -1;
    DIR *d = opendir(data);
    if (!d) return -1;
    struct dirent *e;
    size_t tl = strlen(topic);
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, topic, tl) || e->d_name[tl] != '-') continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", data, e->d_name);
        DIR *sd = opendir(sub);
        if (!sd) continue;
        struct dirent *f;
        while ((f = readdir(sd))) {
            size_t n = strlen(f->d_name);
            if (n < 4 || strcmp(f->d_name + n - 4, ".log")) continue;
            char fp[2048];
            struct stat sb;
            snprintf(fp, sizeof fp, "%s/%s", sub, f->d_name);
            if (stat(fp, &sb) == 0) total = (total < 0 ? 0 : total) + sb.st_size;
        }
        closedir(sd);
    }
    closedir(d);
    return total;
}

static long ndr_ok, ndr_bad;
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (ndr_bad++ < 5) fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
    } else {
        ndr_ok++;
    }
}

int main(void)
{
    static const char *codecs[] = {"gzip", "snappy", "lz4", "zstd"};
    const char *sets[] = {"num.partitions=1", NULL};
    eh_broker b;
    if (eh_start(&b, sets)) {
        CHECK(0, "eddyd start");
        eh_cleanup(&b);
        return it_finish("compression");
    }
    static unsigned char buf[4096];
    long long raw = 0;
    for (int i = 0; i < NMSG; i++) raw += (long long)payload(i, buf);

    for (size_t c = 0; c < sizeof codecs / sizeof *codecs; c++) {
        char topic[64], err[512];
        snprintf(topic, sizeof topic, "comp-%s", codecs[c]);
        rd_kafka_conf_t *conf = it_conf(b.bootstrap);
        it_conf_set(conf, "compression.codec", codecs[c]);
        it_conf_set(conf, "linger.ms", "100");
        it_conf_set(conf, "batch.num.messages", "1000");
        it_conf_set(conf, "acks", "all");
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        CHECK(rk != NULL, "rd_kafka_new: %s", err);
        if (!rk) break;
        CHECK(it_wait_topic(rk, topic, 1, 30000) == 0, "%s: topic visible", topic);
        ndr_ok = ndr_bad = 0;
        for (int i = 0; i < NMSG; i++) {
            size_t len = payload(i, buf);
            char key[32], hv[32];
            int kl = snprintf(key, sizeof key, "k%d", i);
            int hl = snprintf(hv, sizeof hv, "h%d", i);
            rd_kafka_resp_err_t e;
            while ((e = rd_kafka_producev(
                        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                        RD_KAFKA_V_KEY(key, (size_t)kl), RD_KAFKA_V_VALUE(buf, len),
                        RD_KAFKA_V_HEADER("seq", hv, hl), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(rk, 10);
            CHECK(e == 0, "%s: producev: %s", codecs[c], rd_kafka_err2str(e));
        }
        CHECK(rd_kafka_flush(rk, 60000) == 0, "%s: flush", codecs[c]);
        rd_kafka_destroy(rk);
        CHECK(ndr_ok == NMSG && ndr_bad == 0, "%s: %ld delivered, %ld failed of %d", codecs[c],
              ndr_ok, ndr_bad, NMSG);

        cstate s = {0, 0, 0};
        CHECK(it_consume_all(b.bootstrap, topic, 1, on_msg, &s, 30000) == 0, "%s: consumed to EOF",
              codecs[c]);
        CHECK(s.idx == NMSG, "%s: read %d of %d messages", codecs[c], s.idx, NMSG);
        long long stored = dir_log_bytes(b.data, topic);
        printf("%s: raw payload %lld bytes, stored log %lld bytes\n", codecs[c], raw, stored);
        CHECK(stored > 0, "%s: no <data>/%s-0/*.log segment found (Kafka layout expected)",
              codecs[c], topic);
        CHECK(stored < raw / 2,
              "%s: log holds %lld bytes for %lld raw payload bytes: batches "
              "were not stored compressed as sent",
              codecs[c], stored, raw);
    }
    CHECK(eh_stop(&b, 30) == 0, "clean SIGTERM shutdown");
    if (it_failures) eh_log_tail(&b, 30);
    eh_cleanup(&b);
    return it_finish("compression");
}
