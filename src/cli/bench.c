/* bench.c — `eddy bench`: a quick load test against any Kafka-protocol cluster, on a topic it
 * creates for the run and deletes after (or, with --topic and a confirmation, an existing
 * one: it adds COUNT records there). Produces
 * COUNT messages of SIZE bytes (idempotent, acks=all by default) and reports throughput and
 * delivery-latency percentiles, then reads the same range back (the partition scanner of
 * main.c) and reports the consume rate and that every message came back. For rigorous
 * comparisons against peers see bench/; this answers "how fast is this cluster from here". */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

static const char *const k_usage =
    "usage: eddy bench [-n COUNT] [-s SIZE] [-p PARTITIONS] [--acks all|1|0] [--no-consume]\n"
    "                  [--keep] [--topic TOPIC [--yes]]\n"
    "  Produces COUNT (default 10000) messages of SIZE (default 100) bytes, prints messages/s,\n"
    "  MB/s and delivery latency (p50/p99/max), then consumes the same messages back and\n"
    "  prints the consume rate.\n"
    "  The messages go to a new topic eddy-bench-XXXXXXXX (-p partitions, default 1), deleted\n"
    "  at the end (--keep keeps it). --topic TOPIC writes into an existing topic instead:\n"
    "  that adds COUNT records to it, so it asks first (or takes --yes).\n"
    "examples:\n"
    "  eddy bench -n 100000 -s 1024 -p 3\n"
    "  eddy bench --acks 1 --no-consume\n"
    "  eddy bench --topic load-test --yes\n";

typedef struct bench_state {
    int64_t *lat_us; /* per message, by index */
    long delivered, failed;
} bench_state;

static void bench_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    bench_state *st = opaque;
    if (m->err) {
        if (st->failed++ == 0) cli_fail(CLI_EFAIL, "delivery failed: %s", rd_kafka_err2str(m->err));
        return;
    }
    int64_t *t0 = m->_private;
    if (t0) *t0 = now_mono_us() - *t0;
    st->delivered++;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct read_state {
    long count, want;
    int64_t bytes;
} read_state;

static int bench_read(const rd_kafka_message_t *m, void *arg)
{
    read_state *rs = arg;
    rs->count++;
    rs->bytes += (int64_t)m->len;
    return rs->count >= rs->want;
}

int cmd_bench(int argc, char **argv)
{
    static const struct option lo[] = {
        CLI_GLOBAL_LONGOPTS,
        {"count", required_argument, NULL, 'n'},
        {"size", required_argument, NULL, 's'},
        {"acks", required_argument, NULL, 'A'},
        {"no-consume", no_argument, NULL, 'N'},
        {"topic", required_argument, NULL, 'T'},
        {"yes", no_argument, NULL, 'y'},
        {"keep", no_argument, NULL, 'K'},
        {"partitions", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    long long count = 10000, size = 100, partitions = 1;
    const char *acks = "all", *topic = NULL;
    int consume = 1, c, rc, yes = 0, keep = 0;
    char created[64] = "";
    while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS "n:s:p:y", lo, k_usage, &rc)) != -1) {
        switch (c) {
        case CLI_OPT_EXIT: return rc;
        case 'n':
            if (cli_parse_int(optarg, 1, 100000000, &count))
                return cli_usage_error(k_usage, "-n wants a count >= 1, got '%s'", optarg);
            break;
        case 's':
            if (cli_parse_int(optarg, 0, 10 << 20, &size))
                return cli_usage_error(k_usage, "-s wants a size in bytes, got '%s'", optarg);
            break;
        case 'A':
            if (strcmp(optarg, "all") && strcmp(optarg, "1") && strcmp(optarg, "0"))
                return cli_usage_error(k_usage, "--acks wants all, 1 or 0, got '%s'", optarg);
            acks = optarg;
            break;
        case 'N': consume = 0; break;
        case 'T':
            if (!*optarg) return cli_usage_error(k_usage, "--topic wants a topic name");
            topic = optarg;
            break;
        case 'y': yes = 1; break;
        case 'K': keep = 1; break;
        case 'p':
            if (cli_parse_int(optarg, 1, 1000, &partitions))
                return cli_usage_error(k_usage, "-p wants a partition count (1..1000), got '%s'",
                                       optarg);
            break;
        }
    }
    if (argc - optind > 1 || (argc - optind == 1 && topic))
        return cli_usage_error(k_usage, "bench: too many arguments");
    if (argc - optind == 1) topic = argv[optind]; /* eddy bench TOPIC: as --topic TOPIC */
    if (topic && keep) return cli_usage_error(k_usage, "--keep is for the topic bench creates");
    if (topic && !yes) {
        if (!isatty(STDIN_FILENO))
            return cli_fail(CLI_EUSAGE,
                            "bench would add %lld records to the existing topic %s: confirm with "
                            "--yes, or leave --topic out (bench then uses a topic of its own)",
                            count, topic);
        fprintf(stderr,
                "eddy: bench adds %lld records of %lld bytes to the existing topic %s. "
                "Go on? [y/N] ",
                count, size, topic);
        char answer[16] = "";
        if (!fgets(answer, sizeof answer, stdin) || (answer[0] != 'y' && answer[0] != 'Y'))
            return cli_fail(CLI_EFAIL, "not confirmed: nothing written");
    }
    char acks_kv[32], mto[64];
    snprintf(acks_kv, sizeof acks_kv, "acks=%s", acks);
    snprintf(mto, sizeof mto, "message.timeout.ms=%d", MAX(g_cli.timeout_ms * 3, 5000));
    const char *extra[] = {
        acks_kv, strcmp(acks, "all") ? "enable.idempotence=false" : "enable.idempotence=true",
        "linger.ms=5", "queue.buffering.max.messages=1000000", mto};
    bench_state st = {xcalloc((size_t)count, sizeof(int64_t)), 0, 0};
    rd_kafka_conf_t *conf = cli_conf(extra, (int)ARRAY_LEN(extra));
    if (!conf) {
        free(st.lat_us);
        return CLI_EUSAGE;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, bench_dr);
    rd_kafka_conf_set_opaque(conf, &st);
    rd_kafka_t *rk = cli_new(RD_KAFKA_PRODUCER, conf);
    if (!rk) {
        free(st.lat_us);
        return CLI_EUSAGE;
    }
    const struct rd_kafka_metadata *md;
    cli_scan scan = {NULL, 0};
    char *payload = xmalloc((size_t)size + 1);
    for (long long i = 0; i < size; i++) payload[i] = (char)('a' + i % 26);
    rc = cli_metadata(rk, &md);
    if (rc) goto out;
    if (!topic) {
        char u[37];
        uuid_v4_str(u);
        snprintf(created, sizeof created, "eddy-bench-%.8s", u);
        topic = created;
        rd_kafka_metadata_destroy(md);
        md = NULL;
        if ((rc = cli_topic_admin(rk, topic, (int)partitions))) {
            created[0] = 0;
            goto out;
        }
        if (!keep)
            fprintf(stderr, "eddy: bench topic %s created, deleted at the end\n", topic);
        else
            fprintf(stderr, "eddy: bench topic %s created (kept)\n", topic);
        /* until the metadata shows every partition */
        for (int i = 0; i < 100; i++) {
            if ((rc = cli_metadata(rk, &md))) goto out;
            const struct rd_kafka_metadata_topic *nt = cli_md_topic(md, topic);
            if (nt && nt->partition_cnt == partitions) break;
            rd_kafka_metadata_destroy(md);
            md = NULL;
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (!md && (rc = cli_metadata(rk, &md))) goto out;
    }
    const struct rd_kafka_metadata_topic *t = cli_md_topic(md, topic);
    if (!t) {
        rd_kafka_metadata_destroy(md);
        rc = cli_fail(CLI_ENOTFOUND, "unknown topic '%s'", topic);
        goto out;
    }
    /* The high watermarks before: the consume phase reads from there. */
    rc = cli_scan_add_topic(rk, &scan, t);
    rd_kafka_metadata_destroy(md);
    if (rc) goto out;

    int64_t t0 = now_mono_us();
    for (long long i = 0; i < count; i++) {
        st.lat_us[i] = now_mono_us();
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_VALUE(payload, (size_t)size), RD_KAFKA_V_OPAQUE(&st.lat_us[i]),
                RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 10);
                continue;
            }
            if (e) rc = cli_fail(CLI_EFAIL, "produce: %s", rd_kafka_err2str(e));
            break;
        }
        if (rc) break;
        if ((i & 1023) == 0) rd_kafka_poll(rk, 0);
    }
    while (rd_kafka_outq_len(rk) > 0) rd_kafka_flush(rk, 1000);
    double secs = (double)(now_mono_us() - t0) / 1e6;
    if (rc == CLI_OK && st.failed) rc = CLI_EFAIL;
    if (rc) goto out;
    qsort(st.lat_us, (size_t)count, sizeof *st.lat_us, cmp_i64);
    double mb = (double)count * (double)size / 1e6;
    double p50 = (double)st.lat_us[count / 2] / 1000.0;
    double p99 = (double)st.lat_us[MIN(count - 1, count * 99 / 100)] / 1000.0;
    double pmax = (double)st.lat_us[count - 1] / 1000.0;
    if (g_cli.json)
        cli_json_print(json_pack("{s:s,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f}", "phase", "produce",
                                 "messages", (json_int_t)st.delivered, "size", (json_int_t)size,
                                 "seconds", secs, "msgPerSec", (double)count / secs, "mbPerSec",
                                 mb / secs, "p50Ms", p50, "p99Ms", p99, "maxMs", pmax));
    else
        printf("produce  %ld msgs x %lld B (acks=%s) in %.2f s: %.0f msg/s, %.2f MB/s; "
               "latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
               st.delivered, size, acks, secs, (double)count / secs, mb / secs, p50, p99, pmax);
    if (!consume) goto out;

    rd_kafka_destroy(rk);
    const char *cextra[] = {"enable.partition.eof=true", "enable.auto.commit=false",
                            "group.id=eddy-cli-reader"};
    rk = cli_client(RD_KAFKA_CONSUMER, cextra, (int)ARRAY_LEN(cextra));
    if (!rk) {
        rc = CLI_EUSAGE;
        goto out_nork;
    }
    for (int i = 0; i < scan.nparts; i++) {
        int64_t low = 0, hi = 0;
        cli_part *p = &scan.parts[i];
        p->next = p->high; /* where this run's messages start */
        if (rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &low, &hi,
                                             g_cli.timeout_ms) == 0)
            p->high = hi;
    }
    read_state rs = {0, (long)count, 0};
    t0 = now_mono_us();
    rc = cli_scan_run(rk, &scan, 0, NULL, bench_read, &rs);
    secs = (double)(now_mono_us() - t0) / 1e6;
    rd_kafka_consumer_close(rk);
    if (rc) goto out;
    if (g_cli.json)
        cli_json_print(json_pack("{s:s,s:I,s:f,s:f,s:f}", "phase", "consume", "messages",
                                 (json_int_t)rs.count, "seconds", secs, "msgPerSec",
                                 (double)rs.count / secs, "mbPerSec",
                                 (double)rs.bytes / 1e6 / secs));
    else
        printf("consume  %ld msgs in %.2f s: %.0f msg/s, %.2f MB/s\n", rs.count, secs,
               (double)rs.count / secs, (double)rs.bytes / 1e6 / secs);
    if (rs.count < count)
        rc = cli_fail(CLI_EFAIL, "read back %ld of %lld messages", rs.count, count);
out:
    if (created[0] && !keep) {
        if (rd_kafka_type(rk) == RD_KAFKA_CONSUMER) {
            /* librdkafka 2.0.2's rd_kafka_destroy of a consumer can wait for good on its broker
             * thread when the topic it read was deleted through it just before: close the
             * consumer first, delete the topic with a fresh client */
            rd_kafka_destroy(rk);
            rk = cli_client(RD_KAFKA_PRODUCER, NULL, 0);
            if (!rk) {
                if (rc == CLI_OK) rc = CLI_EFAIL;
                goto out_nork;
            }
        }
        int drc = cli_topic_admin(rk, created, 0);
        if (drc == CLI_OK) fprintf(stderr, "eddy: bench topic %s deleted\n", created);
        if (rc == CLI_OK) rc = drc;
    }
    rd_kafka_destroy(rk);
out_nork:
    cli_scan_free(&scan);
    free(payload);
    free(st.lat_us);
    return rc;
}
