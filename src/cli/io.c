/* io.c — `eddy produce` (stdin lines → an idempotent acks=all producer, one delivery line per
 * message) and `eddy consume` (a partition scanner without a group, or a subscribed consumer
 * that commits exactly what it printed when -g is given). Output: one line per message,
 * tab-separated "topic/partition@offset  key=…  headers=…  value", or JSON with --json. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

#define MAX_HEADERS 64

/* ---- produce ------------------------------------------------------------------------------- */

static const char *const k_produce_usage =
    "usage: eddy produce TOPIC [-k KEY | -K DELIM | --json-input] [-H key=value]...\n"
    "                          [-p PARTITION | --partitioner NAME] [-f FILE]...\n"
    "  Produces each line of stdin (or of each FILE, in order) as one message (acks=all,\n"
    "  idempotent producer) and prints where it landed: TOPIC/PARTITION@OFFSET (JSON with\n"
    "  --json).\n"
    "  -k KEY              key of every message\n"
    "  -K DELIM            each line is KEY<DELIM>VALUE\n"
    "      --json-input    each line is a JSON object: {\"value\": ..., \"key\": \"...\",\n"
    "                      \"headers\": {\"k\": \"v\", ...}, \"partition\": N, \"timestamp\": MS};\n"
    "                      only value is required (a string is sent as is, other JSON\n"
    "                      compact, null is a tombstone)\n"
    "  -H key=value        header on every message (repeatable)\n"
    "  -p PARTITION        partition (default: the partitioner's choice, by key)\n"
    "      --partitioner NAME  consistent_random (default, as libeddy's producers), consistent,\n"
    "                      murmur2_random (as the Java client), murmur2, fnv1a_random, fnv1a,\n"
    "                      random\n"
    "  -f, --file FILE     read lines from FILE instead of stdin (repeatable; - is stdin)\n"
    "examples:\n"
    "  printf 'a\\nb\\n' | eddy produce orders -k order-1 -H x-correlation-id=42\n"
    "  eddy produce orders -K : -f orders.txt                  lines KEY:VALUE\n"
    "  echo '{\"key\":\"o1\",\"headers\":{\"h\":\"v\"},\"value\":{\"n\":1}}' | eddy produce orders --json-input\n"
    "  eddy produce orders --partitioner random -f big.log\n";

static const char *const k_partitioners[] = {"random",      "consistent",     "consistent_random",
                                             "murmur2",     "murmur2_random", "fnv1a",
                                             "fnv1a_random"};

typedef struct produce_state {
    long delivered, failed;
} produce_state;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    produce_state *st = opaque;
    if (m->err) {
        st->failed++;
        cli_fail(CLI_EFAIL, "delivery to %s failed: %s", rd_kafka_topic_name(m->rkt),
                 rd_kafka_err2str(m->err));
        return;
    }
    st->delivered++;
    if (g_cli.json)
        cli_json_print(json_pack("{s:s,s:i,s:I}", "topic", rd_kafka_topic_name(m->rkt), "partition",
                                 (int)m->partition, "offset", (json_int_t)m->offset));
    else
        printf("%s/%d@%lld\n", rd_kafka_topic_name(m->rkt), (int)m->partition,
               (long long)m->offset);
}

int cmd_produce(int argc, char **argv)
{
    static const struct option lo[] = {
        CLI_GLOBAL_LONGOPTS,
        {"key", required_argument, NULL, 'k'},
        {"key-delimiter", required_argument, NULL, 'K'},
        {"header", required_argument, NULL, 'H'},
        {"partition", required_argument, NULL, 'p'},
        {"partitioner", required_argument, NULL, 'P'},
        {"json-input", no_argument, NULL, 'I'},
        {"file", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    const char *key = NULL, *delim = NULL, *headers[MAX_HEADERS], *partitioner = NULL;
    const char *files[64];
    int nheaders = 0, c, rc, json_in = 0, nfiles = 0;
    long long partition = RD_KAFKA_PARTITION_UA;
    while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS "k:K:H:p:f:", lo, k_produce_usage,
                           &rc)) != -1) {
        switch (c) {
        case CLI_OPT_EXIT: return rc;
        case 'k': key = optarg; break;
        case 'K':
            if (!*optarg) return cli_usage_error(k_produce_usage, "-K wants a delimiter");
            delim = optarg;
            break;
        case 'H':
            if (!strchr(optarg, '=') || optarg[0] == '=' || nheaders >= MAX_HEADERS)
                return cli_usage_error(k_produce_usage, "-H wants key=value, got '%s'", optarg);
            headers[nheaders++] = optarg;
            break;
        case 'p':
            if (cli_parse_int(optarg, 0, INT32_MAX, &partition))
                return cli_usage_error(k_produce_usage, "-p wants a partition, got '%s'", optarg);
            break;
        case 'P': {
            int ok = 0;
            for (size_t i = 0; i < ARRAY_LEN(k_partitioners); i++)
                ok |= !strcmp(optarg, k_partitioners[i]);
            if (!ok)
                return cli_usage_error(
                    k_produce_usage,
                    "--partitioner: unknown partitioner '%s' (consistent_random, "
                    "consistent, murmur2_random, murmur2, fnv1a_random, "
                    "fnv1a, random)",
                    optarg);
            partitioner = optarg;
            break;
        }
        case 'I': json_in = 1; break;
        case 'f':
            if (nfiles >= (int)ARRAY_LEN(files))
                return cli_usage_error(k_produce_usage, "-f: at most %d files",
                                       (int)ARRAY_LEN(files));
            files[nfiles++] = optarg;
            break;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(k_produce_usage, "produce: %s",
                               argc - optind < 1 ? "which topic?" : "too many arguments");
    if (key && delim) return cli_usage_error(k_produce_usage, "-k and -K exclude each other");
    if (json_in && (key || delim))
        return cli_usage_error(k_produce_usage, "--json-input carries the key: no -k / -K");
    if (partitioner && partition != RD_KAFKA_PARTITION_UA)
        return cli_usage_error(k_produce_usage, "-p and --partitioner exclude each other");
    /* every file must open before anything is sent */
    FILE *fps[64];
    int nfps = 0;
    for (int i = 0; i < nfiles; i++) {
        FILE *f = strcmp(files[i], "-") ? fopen(files[i], "r") : stdin;
        if (!f) {
            int e = errno;
            for (int k = 0; k < nfps; k++)
                if (fps[k] != stdin) fclose(fps[k]);
            return cli_fail(CLI_EUSAGE, "cannot read %s: %s", files[i], strerror(e));
        }
        fps[nfps++] = f;
    }
    if (nfps == 0) fps[nfps++] = stdin;
    const char *topic = argv[optind];

    char mto[64];
    snprintf(mto, sizeof mto, "message.timeout.ms=%d", MAX(g_cli.timeout_ms * 3, 5000));
    char part_kv[64];
    snprintf(part_kv, sizeof part_kv, "partitioner=%s", partitioner ? partitioner : "");
    const char *extra[] = {"acks=all", "enable.idempotence=true", "linger.ms=5", mto, part_kv};
    produce_state st = {0, 0};
    /* no --partitioner: librdkafka's default, the one libeddy's producers use too */
    rd_kafka_conf_t *conf = cli_conf(extra, (int)ARRAY_LEN(extra) - (partitioner ? 0 : 1));
    if (!conf) {
        for (int k = 0; k < nfps; k++)
            if (fps[k] != stdin) fclose(fps[k]);
        return CLI_EUSAGE;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, &st);
    rd_kafka_t *rk = cli_new(RD_KAFKA_PRODUCER, conf);
    if (!rk) {
        for (int k = 0; k < nfps; k++)
            if (fps[k] != stdin) fclose(fps[k]);
        return CLI_EUSAGE;
    }

    const struct rd_kafka_metadata *md;
    rc = cli_metadata(rk, &md);
    if (rc) goto out;
    const struct rd_kafka_metadata_topic *t = cli_md_topic(md, topic);
    int nparts = t ? t->partition_cnt : 0;
    rd_kafka_metadata_destroy(md);
    if (!t) {
        rc = cli_fail(CLI_ENOTFOUND, "unknown topic '%s' (create it: eddy topics create %s)", topic,
                      topic);
        goto out;
    }
    if (partition != RD_KAFKA_PARTITION_UA && partition >= nparts) {
        rc = cli_fail(CLI_EUSAGE, "topic %s has %d partitions: no partition %lld", topic, nparts,
                      partition);
        goto out;
    }

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long sent = 0, lineno = 0;
    int interactive = isatty(STDIN_FILENO);
    for (int fi = 0; fi < nfps && rc == CLI_OK; fi++) {
        FILE *in = fps[fi];
        const char *fname = nfiles ? files[fi] : "stdin";
        lineno = 0;
        while (rc == CLI_OK && (n = getline(&line, &cap, in)) >= 0) {
            lineno++;
            if (n > 0 && line[n - 1] == '\n') line[--n] = 0;
            if (n > 0 && line[n - 1] == '\r') line[--n] = 0;
            const char *k = key, *v = line;
            size_t klen = key ? strlen(key) : 0, vlen = (size_t)n;
            int32_t part = (int32_t)partition;
            int64_t ts = 0; /* 0: now */
            cli_line jl = {.partition = -1};
            rd_kafka_headers_t *h = rd_kafka_headers_new((size_t)nheaders + 4);
            for (int i = 0; i < nheaders; i++) {
                const char *eq = strchr(headers[i], '=');
                rd_kafka_header_add(h, headers[i], eq - headers[i], eq + 1, -1);
            }
            if (json_in) {
                char why[200];
                if (cli_json_line(line, (size_t)n, nparts, &jl, why, sizeof why)) {
                    rc = cli_fail(CLI_EUSAGE, "%s line %ld: %s (nothing more sent)", fname, lineno,
                                  why);
                    rd_kafka_headers_destroy(h);
                    break;
                }
                k = jl.key;
                klen = jl.klen;
                v = jl.value;
                vlen = jl.vlen;
                const char *hk;
                json_t *hv;
                json_object_foreach(jl.headers, hk, hv)
                {
                    rd_kafka_header_add(h, hk, -1, json_string_value(hv),
                                        json_is_string(hv) ? (ssize_t)json_string_length(hv) : 0);
                }
                if (jl.partition >= 0) part = jl.partition;
                if (jl.timestamp) ts = jl.timestamp;
            } else if (delim) {
                char *d = strstr(line, delim);
                if (!d) {
                    rc = cli_fail(CLI_EUSAGE,
                                  "%s line %ld has no key delimiter '%s' (nothing more "
                                  "sent)",
                                  fname, lineno, delim);
                    rd_kafka_headers_destroy(h);
                    break;
                }
                k = line;
                klen = (size_t)(d - line);
                v = d + strlen(delim);
                vlen = (size_t)n - klen - strlen(delim);
            }
            for (;;) {
                rd_kafka_resp_err_t e = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(k, k ? klen : 0),
                    RD_KAFKA_V_VALUE((void *)v, vlen), RD_KAFKA_V_TIMESTAMP(ts),
                    RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
                if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    rd_kafka_poll(rk, 100);
                    continue;
                }
                if (e) {
                    rd_kafka_headers_destroy(h);
                    rc = cli_fail(CLI_EFAIL, "produce to %s: %s", topic, rd_kafka_err2str(e));
                }
                break;
            }
            cli_json_line_free(&jl);
            if (rc) break;
            sent++;
            /* Typed by hand: show where each line landed before reading the next one. */
            if (interactive && in == stdin)
                rd_kafka_flush(rk, MAX(g_cli.timeout_ms * 3, 5000));
            else
                rd_kafka_poll(rk, 0);
        }
    }
    for (int k = 0; k < nfps; k++)
        if (fps[k] != stdin) fclose(fps[k]);
    nfps = 0;
    free(line);
    /* Every queued message gets a delivery report: success or message.timeout.ms. */
    while (rd_kafka_outq_len(rk) > 0) rd_kafka_flush(rk, 1000);
    if (rc == CLI_OK && st.failed) rc = CLI_EFAIL;
    if (rc == CLI_OK && !g_cli.json)
        fprintf(stderr, "eddy: produced %ld message(s) to %s\n", st.delivered, topic);
out:
    for (int k = 0; k < nfps; k++)
        if (fps[k] != stdin) fclose(fps[k]);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- consume ------------------------------------------------------------------------------- */

static const char *const k_consume_usage =
    "usage: eddy consume TOPIC [-o OFFSET] [-p PARTITION] [-n COUNT] [-e | -f]\n"
    "                          [--format FMT | --json] [-g GROUP | -k KEY]\n"
    "  Prints messages: TOPIC/PARTITION@OFFSET <tab> key=KEY <tab> headers=k=v,... <tab> VALUE\n"
    "  (control bytes escaped), or as --format / --json say.\n"
    "  -o, --offset OFFSET   where to start, in every partition read:\n"
    "                          beginning | end (default) | N (absolute offset) |\n"
    "                          -N (the last N messages) | @TIME (first message at or after TIME:\n"
    "                          ms since the epoch or RFC 3339, e.g. @2026-05-12T10:00:00Z;\n"
    "                          kcat's s@MS works too)\n"
    "      --from-timestamp TIME   the same as -o @TIME\n"
    "      --from-beginning        the same as -o beginning\n"
    "  -p, --partition N     read only partition N\n"
    "  -n, --count COUNT     stop after COUNT messages\n"
    "  -e, --exit            stop at the end of every partition (the default without -f)\n"
    "  -f, --follow          keep waiting for new messages (Ctrl-C stops); says when the broker\n"
    "                        is lost and when reading resumes\n"
    "      --format FMT      kcat-style: %t topic, %p partition, %o offset, %k key, %s value,\n"
    "                        %K key length, %S value length, %T timestamp (ms), %h headers\n"
    "                        (k=v,...), %%, \\n, \\t; e.g. --format '%T %k=%s\\n'\n"
    "      --json            one object per message: topic, partition, offset, timestamp,\n"
    "                        timestampType, key, headers, value\n"
    "  -k, --key KEY         print only the messages whose key is exactly KEY (what the web\n"
    "                        console's \"by key\" browse shows; -n counts printed messages)\n"
    "  -g, --group GROUP     consume as a member of GROUP and commit what was printed; starts at\n"
    "                        the group's committed offsets (-o beginning|end: where nothing is\n"
    "                        committed; eddy groups reset moves a group)\n"
    "examples:\n"
    "  eddy consume orders -o beginning -e                  everything, then stop\n"
    "  eddy consume orders -o -10 -p 2                      the last 10 messages of partition 2\n"
    "  eddy consume orders -o @2026-05-12T10:00:00Z -n 5    5 messages from that time on\n"
    "  eddy consume orders -f --format '%T %p@%o %k %s\\n'   follow, with timestamps\n"
    "  eddy consume orders -g billing -o beginning -n 10    move group billing on by 10\n";

/* Prints bytes as they are (kcat's %k/%s): a format is the user's choice of framing. */
static void put_raw(const void *p, size_t n, const char *null_text)
{
    if (p)
        fwrite(p, 1, n, stdout);
    else
        fputs(null_text, stdout);
}

static void print_format(const rd_kafka_message_t *m, const char *fmt)
{
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h)) h = NULL;
    for (const char *f = fmt; *f; f++) {
        if (*f == '\\' && f[1]) {
            f++;
            putchar(*f == 'n' ? '\n' : *f == 't' ? '\t' : *f == 'r' ? '\r' : *f == '0' ? 0 : *f);
            continue;
        }
        if (*f != '%' || !f[1]) {
            putchar(*f);
            continue;
        }
        f++;
        switch (*f) {
        case 't': fputs(rd_kafka_topic_name(m->rkt), stdout); break;
        case 'p': printf("%d", (int)m->partition); break;
        case 'o': printf("%lld", (long long)m->offset); break;
        case 'k': put_raw(m->key, m->key_len, ""); break;
        case 's': put_raw(m->payload, m->len, ""); break;
        case 'K': printf("%lld", m->key ? (long long)m->key_len : -1LL); break;
        case 'S': printf("%lld", m->payload ? (long long)m->len : -1LL); break;
        case 'T': printf("%lld", (long long)rd_kafka_message_timestamp(m, NULL)); break;
        case 'h': {
            const char *name;
            const void *val;
            size_t vlen;
            for (size_t i = 0; h && !rd_kafka_header_get_all(h, i, &name, &val, &vlen); i++) {
                if (i) putchar(',');
                printf("%s=", name);
                put_raw(val, vlen, "");
            }
            break;
        }
        case '%': putchar('%'); break;
        default:
            putchar('%');
            putchar(*f);
            break;
        }
    }
}

static void print_message(const rd_kafka_message_t *m, const char *fmt)
{
    if (fmt) {
        print_format(m, fmt);
        return;
    }
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h)) h = NULL;
    const char *name;
    const void *val;
    size_t vlen;
    if (g_cli.json) {
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        json_t *hs = json_array();
        for (size_t i = 0; h && !rd_kafka_header_get_all(h, i, &name, &val, &vlen); i++)
            json_array_append_new(
                hs, json_pack("{s:s,s:o}", "key", name, "value", cli_json_bytes(val, vlen)));
        cli_json_print(json_pack("{s:s,s:i,s:I,s:I,s:s,s:o,s:o,s:o}", "topic",
                                 rd_kafka_topic_name(m->rkt), "partition", (int)m->partition,
                                 "offset", (json_int_t)m->offset, "timestamp", (json_int_t)ts,
                                 "timestampType",
                                 tt == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? "LogAppendTime"
                                 : tt == RD_KAFKA_TIMESTAMP_CREATE_TIME   ? "CreateTime"
                                                                          : "none",
                                 "key", cli_json_bytes(m->key, m->key_len), "headers", hs, "value",
                                 cli_json_bytes(m->payload, m->len)));
        return;
    }
    printf("%s/%d@%lld\tkey=", rd_kafka_topic_name(m->rkt), (int)m->partition,
           (long long)m->offset);
    if (m->key)
        cli_print_bytes(stdout, m->key, m->key_len);
    else
        fputs("(null)", stdout);
    fputs("\theaders=", stdout);
    for (size_t i = 0; h && !rd_kafka_header_get_all(h, i, &name, &val, &vlen); i++) {
        if (i) putchar(',');
        printf("%s=", name);
        if (val) cli_print_bytes(stdout, val, vlen);
    }
    putchar('\t');
    if (m->payload)
        cli_print_bytes(stdout, m->payload, m->len);
    else
        fputs("(null)", stdout);
    putchar('\n');
}

typedef struct consume_state {
    long count, max;
    const char *fmt;
    const char *key; /* --key: only messages with exactly this key (NULL: all) */
} consume_state;

static int scan_print(const rd_kafka_message_t *m, void *arg)
{
    consume_state *st = arg;
    if (st->key &&
        (!m->key || m->key_len != strlen(st->key) || memcmp(m->key, st->key, m->key_len)))
        return 0;
    print_message(m, st->fmt);
    st->count++;
    return st->max > 0 && st->count >= st->max;
}

/* Sets every partition's next offset from start (clamped to [low, high]). */
static int resolve_start(rd_kafka_t *rk, cli_scan *s, const start_pos *sp)
{
    if (sp->kind == START_TIME) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(s->nparts);
        for (int i = 0; i < s->nparts; i++)
            rd_kafka_topic_partition_list_add(l, s->parts[i].topic, s->parts[i].partition)->offset =
                sp->v;
        rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, l, g_cli.timeout_ms);
        for (int i = 0; !e && i < s->nparts; i++) {
            rd_kafka_topic_partition_t *tp =
                rd_kafka_topic_partition_list_find(l, s->parts[i].topic, s->parts[i].partition);
            if (tp && tp->err) e = tp->err;
            /* no message at or after the time: start at the end */
            int64_t o = tp && tp->offset >= 0 ? tp->offset : s->parts[i].high;
            s->parts[i].next = MIN(MAX(o, s->parts[i].low), s->parts[i].high);
        }
        rd_kafka_topic_partition_list_destroy(l);
        if (e)
            return cli_fail(CLI_EFAIL, "offsets for time %lld: %s", (long long)sp->v,
                            rd_kafka_err2str(e));
        return CLI_OK;
    }
    for (int i = 0; i < s->nparts; i++) {
        cli_part *p = &s->parts[i];
        int64_t o = sp->kind == START_BEGINNING ? p->low
                    : sp->kind == START_END     ? p->high
                    : sp->kind == START_ABS     ? sp->v
                                                : p->high - sp->v;
        p->next = MIN(MAX(o, p->low), p->high);
    }
    return CLI_OK;
}

/* Without a group: assign the partitions at their start positions and read. */
static int consume_plain(const struct rd_kafka_metadata_topic *t, int32_t partition,
                         const start_pos *sp, int follow, long max, const char *fmt,
                         const char *key)
{
    /* librdkafka wants a group.id even for assign(); a scanner never joins nor commits. */
    const char *extra[] = {"enable.partition.eof=true", "enable.auto.commit=false",
                           "group.id=eddy-cli-reader"};
    rd_kafka_t *rk = cli_client(RD_KAFKA_CONSUMER, extra, (int)ARRAY_LEN(extra));
    if (!rk) return CLI_EUSAGE;
    cli_scan s = {NULL, 0};
    int rc = cli_scan_add_topic(rk, &s, t);
    if (rc == CLI_OK && partition >= 0) { /* keep only that partition */
        int k = 0;
        for (int i = 0; i < s.nparts; i++) {
            if (s.parts[i].partition == partition)
                s.parts[k++] = s.parts[i];
            else
                free(s.parts[i].topic);
        }
        s.nparts = k;
    }
    if (rc == CLI_OK) rc = resolve_start(rk, &s, sp);
    if (rc == CLI_OK) {
        consume_state st = {0, max, fmt, key};
        rc = cli_scan_run(rk, &s, follow, &g_cli_stop, scan_print, &st);
    }
    cli_scan_free(&s);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

/* Commits next[p] (the offset after the last printed message) of every partition read. */
static int commit_offsets(rd_kafka_t *rk, const char *topic, const int64_t *next, int nparts,
                          int *dirty)
{
    if (!*dirty) return CLI_OK;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        if (next[p] >= 0) rd_kafka_topic_partition_list_add(l, topic, p)->offset = next[p];
    rd_kafka_resp_err_t e = rd_kafka_commit(rk, l, 0);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) return cli_fail(CLI_EFAIL, "commit: %s", rd_kafka_err2str(e));
    *dirty = 0;
    return CLI_OK;
}

/* As a group member: subscribe, print, commit exactly the printed messages. */
static int consume_group(const struct rd_kafka_metadata_topic *t, const char *group,
                         int from_beginning, int follow, long max, const char *fmt)
{
    char gid[512];
    snprintf(gid, sizeof gid, "group.id=%s", group);
    const char *extra[] = {gid, "enable.partition.eof=true", "enable.auto.commit=false",
                           from_beginning ? "auto.offset.reset=earliest"
                                          : "auto.offset.reset=latest"};
    rd_kafka_t *rk = cli_client(RD_KAFKA_CONSUMER, extra, (int)ARRAY_LEN(extra));
    if (!rk) return CLI_EUSAGE;
    rd_kafka_poll_set_consumer(rk);
    int rc = CLI_OK, nparts = t->partition_cnt, dirty = 0;
    char *eof = xcalloc((size_t)nparts + 1, 1);
    int64_t *next = xmalloc(sizeof *next * ((size_t)nparts + 1));
    for (int p = 0; p < nparts; p++) next[p] = -1;
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, t->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e) {
        rc = cli_fail(CLI_EFAIL, "subscribe %s: %s", t->topic, rd_kafka_err2str(e));
        goto out;
    }
    long count = 0;
    int64_t start = now_mono_ms(), last_commit = start, idle_since = start;
    int assigned_once = 0;
    while (!g_cli_stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        int64_t now = now_mono_ms();
        if (m && (m->err == 0 || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)) cli_broker_back();
        if (m && m->err == 0) {
            print_message(m, fmt);
            count++;
            if (m->partition >= 0 && m->partition < nparts) {
                eof[m->partition] = 0;
                next[m->partition] = m->offset + 1;
                dirty = 1;
            }
            idle_since = now;
        } else if (m && m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < nparts) eof[m->partition] = 1;
            idle_since = now;
        } else if (m && m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__TRANSPORT &&
                m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
                rc = cli_fail(CLI_EFAIL, "consume %s: %s", t->topic, rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                break;
            }
            cli_broker_lost(rd_kafka_message_errstr(m));
        }
        if (m) rd_kafka_message_destroy(m);
        if (max > 0 && count >= max) break;
        if (follow && now - last_commit >= 1000) {
            if ((rc = commit_offsets(rk, t->topic, next, nparts, &dirty))) break;
            last_commit = now;
        }
        rd_kafka_topic_partition_list_t *a = NULL;
        if (!rd_kafka_assignment(rk, &a) && a) {
            if (a->cnt > 0) assigned_once = 1;
            int all_eof = a->cnt > 0;
            for (int i = 0; i < a->cnt; i++)
                if (a->elems[i].partition < 0 || a->elems[i].partition >= nparts ||
                    !eof[a->elems[i].partition])
                    all_eof = 0;
            rd_kafka_topic_partition_list_destroy(a);
            if (!follow && all_eof) break;
        }
        if (!follow && now - idle_since > (int64_t)g_cli.timeout_ms * 3) {
            rc = cli_fail(CLI_EFAIL, "%s within %d ms",
                          assigned_once ? "no progress reading" : "no partitions assigned",
                          g_cli.timeout_ms * 3);
            break;
        }
    }
    /* Commit what was printed, and only that, even after an error. */
    int crc = commit_offsets(rk, t->topic, next, nparts, &dirty);
    if (rc == CLI_OK) rc = crc;
out:
    free(next);
    free(eof);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

int cmd_consume(int argc, char **argv)
{
    enum { O_FROM_BEGINNING = 1000, O_FROM_TIMESTAMP, O_FORMAT };
    static const struct option lo[] = {
        CLI_GLOBAL_LONGOPTS,
        {"group", required_argument, NULL, 'g'},
        {"offset", required_argument, NULL, 'o'},
        {"partition", required_argument, NULL, 'p'},
        {"from-beginning", no_argument, NULL, O_FROM_BEGINNING},
        {"from-timestamp", required_argument, NULL, O_FROM_TIMESTAMP},
        {"count", required_argument, NULL, 'n'},
        {"follow", no_argument, NULL, 'f'},
        {"exit", no_argument, NULL, 'e'},
        {"format", required_argument, NULL, O_FORMAT},
        {"key", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    const char *group = NULL, *fmt = NULL, *offset_arg = NULL, *key = NULL;
    start_pos sp = {START_END, 0};
    int follow = 0, exit_at_end = 0, c, rc;
    long long max = 0, partition = -1;
    while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS "g:k:n:fo:p:e", lo, k_consume_usage,
                           &rc)) != -1) {
        switch (c) {
        case CLI_OPT_EXIT: return rc;
        case 'g':
            if (!*optarg) return cli_usage_error(k_consume_usage, "-g wants a group id");
            group = optarg;
            break;
        case O_FROM_BEGINNING:
            offset_arg = "beginning";
            sp.kind = START_BEGINNING;
            break;
        case 'o':
            if (cli_parse_start(optarg, &sp))
                return cli_usage_error(k_consume_usage,
                                       "-o wants beginning, end, N, -N or @TIME (ms or RFC 3339), "
                                       "got '%s'",
                                       optarg);
            offset_arg = optarg;
            break;
        case O_FROM_TIMESTAMP:
            sp.kind = START_TIME;
            if (cli_parse_time(optarg, &sp.v))
                return cli_usage_error(k_consume_usage,
                                       "--from-timestamp wants ms since the epoch or RFC 3339 "
                                       "(2026-05-12T10:00:00Z), got '%s'",
                                       optarg);
            offset_arg = optarg;
            break;
        case 'p':
            if (cli_parse_int(optarg, 0, INT32_MAX, &partition))
                return cli_usage_error(k_consume_usage, "-p wants a partition number, got '%s'",
                                       optarg);
            break;
        case 'n':
            if (cli_parse_int(optarg, 1, INT64_MAX, &max))
                return cli_usage_error(k_consume_usage, "-n wants a count >= 1, got '%s'", optarg);
            break;
        case 'f': follow = 1; break;
        case 'e': exit_at_end = 1; break;
        case 'k': key = optarg; break;
        case O_FORMAT: fmt = optarg; break;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(k_consume_usage, "consume: %s",
                               argc - optind < 1 ? "which topic?" : "too many arguments");
    if (follow && exit_at_end)
        return cli_usage_error(k_consume_usage, "-f (follow) and -e (exit at the end) exclude "
                                                "each other");
    if (fmt && g_cli.json)
        return cli_usage_error(k_consume_usage, "--format and --json exclude each other");
    if (key && group)
        return cli_usage_error(k_consume_usage, "-k (a key filter) and -g exclude each other: a "
                                                "group would commit past what it did not print");
    if (group && (partition >= 0 || (sp.kind != START_BEGINNING && sp.kind != START_END)))
        return cli_usage_error(k_consume_usage,
                               "with -g the group's committed offsets say where to start: -p and "
                               "-o %s need no group (to move group %s: eddy groups reset %s ...)",
                               offset_arg ? offset_arg : "", group, group);
    const char *topic = argv[optind];
    rd_kafka_t *rk = cli_client(RD_KAFKA_PRODUCER, NULL, 0);
    if (!rk) return CLI_EUSAGE;
    const struct rd_kafka_metadata *md;
    rc = cli_metadata(rk, &md);
    if (rc == CLI_OK) {
        const struct rd_kafka_metadata_topic *t = cli_md_topic(md, topic);
        cli_catch_signals();
        g_cli_watch_broker = follow; /* the reading clients say when the broker goes */
        if (!t)
            rc = cli_fail(CLI_ENOTFOUND, "unknown topic '%s'", topic);
        else if (partition >= t->partition_cnt)
            rc = cli_fail(CLI_ENOTFOUND, "topic %s has %d partition(s): no partition %lld", topic,
                          t->partition_cnt, partition);
        else if (group)
            rc = consume_group(t, group, sp.kind == START_BEGINNING, follow, (long)max, fmt);
        else
            rc = consume_plain(t, (int32_t)partition, &sp, follow, (long)max, fmt, key);
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_destroy(rk);
    return rc;
}
