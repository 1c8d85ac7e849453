/* trace.c — `eddy trace CORRELATION_ID` (reads topics from their log start to the high
 * watermark seen at the start, keeps the messages whose x-correlation-id header or envelope
 * correlationId matches — dead letters too, through their originalEvent — and prints the flow
 * in time order, indented by causation) and `eddy dlq TOPIC` (prints each dead letter of
 * TOPIC.dlq as libeddy writes them: originalEvent, error, reason, failedAt, attemptCount,
 * service, sourceTopic/sourcePartition/sourceOffset). */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : NULL;
}

/* ---- trace --------------------------------------------------------------------------------- */

static const char *const k_trace_usage =
    "usage: eddy trace CORRELATION_ID [--topics T1,T2,...] [--json]\n"
    "  Reads the topics (default: every non-internal topic, dead-letter topics included) from\n"
    "  the beginning to their current end and prints every event whose x-correlation-id\n"
    "  header or envelope correlationId is CORRELATION_ID, sorted by event timestamp:\n"
    "  time, topic/partition@offset, eventType (indented under the event that caused it),\n"
    "  eventId, causationId, source. Exit status 4 when nothing matches.\n"
    "examples:\n"
    "  eddy trace 6f1c2a90-1d2e-4c1a-9a55-0d3f4b1e2c77\n"
    "  eddy trace 6f1c2a90-1d2e-4c1a-9a55-0d3f4b1e2c77 --topics order.events,payment.events\n";

typedef struct hit {
    int64_t ts;
    char *topic;
    int32_t partition;
    int64_t offset;
    char *type, *id, *cause, *source, *dlq_error;
    int depth;
} hit;

typedef struct trace_state {
    const char *cid;
    hit *hits;
    int n;
} trace_state;

static char *dup_or_dash(const char *s)
{
    return xstrdup(s && *s ? s : "-");
}

static int trace_cb(const rd_kafka_message_t *m, void *arg)
{
    trace_state *st = arg;
    size_t hl = 0;
    const char *h = cli_header(m, "x-correlation-id", &hl);
    int match = h && hl == strlen(st->cid) && !memcmp(h, st->cid, hl);
    json_t *v = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
    json_t *env = json_is_object(v) ? v : NULL, *dead = NULL;
    if (env && json_is_object(json_object_get(env, "originalEvent"))) {
        dead = env;
        env = json_object_get(env, "originalEvent");
    }
    const char *cid = env ? jstr(env, "correlationId") : NULL;
    if (cid && !strcmp(cid, st->cid)) match = 1;
    if (match) {
        st->hits = xrealloc(st->hits, sizeof *st->hits * (size_t)(st->n + 1));
        hit *x = &st->hits[st->n++];
        memset(x, 0, sizeof *x);
        rd_kafka_timestamp_type_t tt;
        x->ts = rd_kafka_message_timestamp(m, &tt);
        /* A dead letter sits in the flow when it failed; an event when it was created. */
        const char *ets = dead ? jstr(dead, "failedAt") : NULL;
        if (!ets && env) ets = jstr(env, "timestamp");
        int64_t ms;
        if (ets && cli_parse_rfc3339(ets, &ms) == 0) x->ts = ms;
        x->topic = xstrdup(rd_kafka_topic_name(m->rkt));
        x->partition = m->partition;
        x->offset = m->offset;
        size_t n = 0;
        const char *ht;
        x->type = dup_or_dash(env ? jstr(env, "eventType") : NULL);
        if (!strcmp(x->type, "-") && (ht = cli_header(m, "x-event-type", &n))) {
            free(x->type);
            x->type = xstrndup(ht, n);
        }
        x->id = dup_or_dash(env ? jstr(env, "eventId") : NULL);
        x->cause = dup_or_dash(env ? jstr(env, "causationId") : NULL);
        x->source = dup_or_dash(env ? jstr(env, "source") : NULL);
        if (dead) x->dlq_error = dup_or_dash(jstr(dead, "error"));
    }
    json_decref(v);
    return 0;
}

static int cmp_hit(const void *a, const void *b)
{
    const hit *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    int c = strcmp(x->topic, y->topic);
    if (c) return c;
    if (x->partition != y->partition) return x->partition < y->partition ? -1 : 1;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static void print_trace(trace_state *st, int ntopics)
{
    /* Depth: one more than the (earlier) event that caused it; dead letters are not causes. */
    for (int i = 0; i < st->n; i++) {
        st->hits[i].depth = 0;
        for (int k = i - 1; k >= 0; k--)
            if (!st->hits[k].dlq_error && strcmp(st->hits[k].id, "-") &&
                !strcmp(st->hits[k].id, st->hits[i].cause)) {
                st->hits[i].depth = MIN(st->hits[k].depth + 1, 16);
                break;
            }
    }
    if (!g_cli.json)
        printf("%-24s  %-28s  %-32s  %-36s  %-36s  %s\n", "TIME", "TOPIC/PARTITION@OFFSET",
               "EVENT-TYPE", "EVENT-ID", "CAUSATION-ID", "SOURCE");
    for (int i = 0; i < st->n; i++) {
        hit *x = &st->hits[i];
        char t[32], pos[256], type[256];
        cli_format_ms(x->ts, t);
        if (g_cli.json) {
            json_t *o =
                json_pack("{s:s,s:I,s:s,s:i,s:I,s:s,s:s,s:s,s:s,s:i}", "time", t, "timestampMs",
                          (json_int_t)x->ts, "topic", x->topic, "partition", (int)x->partition,
                          "offset", (json_int_t)x->offset, "eventType", x->type, "eventId", x->id,
                          "causationId", x->cause, "source", x->source, "depth", x->depth);
            if (x->dlq_error) json_object_set_new(o, "deadLetterError", json_string(x->dlq_error));
            cli_json_print(o);
            continue;
        }
        snprintf(pos, sizeof pos, "%s/%d@%lld", x->topic, (int)x->partition, (long long)x->offset);
        snprintf(type, sizeof type, "%*s%s%s", x->depth * 2, "", x->depth ? "\\_ " : "", x->type);
        printf("%-24s  %-28s  %-32s  %-36s  %-36s  %s\n", t, pos, type, x->id, x->cause, x->source);
        if (x->dlq_error)
            printf("%-24s  %-28s  %*s! dead-lettered: %s\n", "", "", x->depth * 2, "",
                   x->dlq_error);
    }
    if (!g_cli.json)
        printf("%d event(s) for correlation id %s across %d topic(s) scanned\n", st->n, st->cid,
               ntopics);
}

int cmd_trace(int argc, char **argv)
{
    static const struct option lo[] = {
        CLI_GLOBAL_LONGOPTS,
        {"topics", required_argument, NULL, 'T'},
        {NULL, 0, NULL, 0},
    };
    const char *topics = NULL;
    int c, rc;
    while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS "T:", lo, k_trace_usage, &rc)) != -1) {
        switch (c) {
        case CLI_OPT_EXIT: return rc;
        case 'T':
            if (!*optarg) return cli_usage_error(k_trace_usage, "--topics wants t1,t2,...");
            topics = optarg;
            break;
        }
    }
    if (argc - optind != 1 || !*argv[optind])
        return cli_usage_error(k_trace_usage, "trace: %s",
                               argc - optind < 1 ? "which correlation id?" : "too many arguments");
    trace_state st = {argv[optind], NULL, 0};
    /* librdkafka wants a group.id even for assign(); a scanner never joins nor commits. */
    const char *extra[] = {"enable.partition.eof=true", "enable.auto.commit=false",
                           "group.id=eddy-cli-reader"};
    rd_kafka_t *rk = cli_client(RD_KAFKA_CONSUMER, extra, (int)ARRAY_LEN(extra));
    if (!rk) return CLI_EUSAGE;
    const struct rd_kafka_metadata *md;
    cli_scan s = {NULL, 0};
    int ntopics = 0;
    rc = cli_metadata(rk, &md);
    if (rc) goto out_rk;
    if (topics) {
        char *list = xstrdup(topics), *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t && rc == CLI_OK;
             t = strtok_r(NULL, ",", &save)) {
            const struct rd_kafka_metadata_topic *mt = cli_md_topic(md, t);
            if (!mt)
                rc = cli_fail(CLI_ENOTFOUND, "unknown topic '%s'", t);
            else if ((rc = cli_scan_add_topic(rk, &s, mt)) == CLI_OK)
                ntopics++;
        }
        free(list);
    } else {
        for (int i = 0; i < md->topic_cnt && rc == CLI_OK; i++) {
            const struct rd_kafka_metadata_topic *mt = &md->topics[i];
            if (mt->err || cli_topic_internal(mt->topic)) continue;
            if ((rc = cli_scan_add_topic(rk, &s, mt)) == CLI_OK) ntopics++;
        }
    }
    rd_kafka_metadata_destroy(md);
    if (rc) goto out;
    cli_catch_signals();
    rc = cli_scan_run(rk, &s, 0, &g_cli_stop, trace_cb, &st);
    if (rc) goto out;
    if (st.n > 1) qsort(st.hits, (size_t)st.n, sizeof *st.hits, cmp_hit);
    if (st.n == 0) {
        rc = cli_fail(CLI_ENOTFOUND, "no event with correlation id '%s' in %d topic(s)", st.cid,
                      ntopics);
        goto out;
    }
    print_trace(&st, ntopics);
out:
    for (int i = 0; i < st.n; i++) {
        hit *x = &st.hits[i];
        free(x->topic);
        free(x->type);
        free(x->id);
        free(x->cause);
        free(x->source);
        free(x->dlq_error);
    }
    free(st.hits);
    cli_scan_free(&s);
    rd_kafka_consumer_close(rk);
out_rk:
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- dlq ----------------------------------------------------------------------------------- */

static const char *const k_dlq_usage =
    "usage: eddy dlq [list] TOPIC [-n COUNT] [--follow] [--json]\n"
    "       eddy dlq redrive TOPIC.dlq [--filter NAME=VALUE]... [--dry-run] [--rate N/s]\n"
    "                        [--to TOPIC] [--max-redrives N] [--json]   (eddy dlq redrive -h)\n"
    "  Prints each dead letter of TOPIC (read from TOPIC.dlq, from the beginning): when it\n"
    "  failed, after how many attempts, why (reason, error), which service, where the original\n"
    "  message was (topic/partition@offset) and the original event's type, id and\n"
    "  correlation id. TOPIC may also be given with its .dlq suffix.\n"
    "examples:\n"
    "  eddy dlq payment.events\n"
    "  eddy dlq payment.events.dlq -n 1 --json\n";

typedef struct dlq_state {
    long count, max;
} dlq_state;

static int dlq_cb(const rd_kafka_message_t *m, void *arg)
{
    dlq_state *st = arg;
    st->count++;
    json_t *v = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
    if (g_cli.json) {
        json_t *o = json_pack("{s:s,s:i,s:I}", "topic", rd_kafka_topic_name(m->rkt), "partition",
                              (int)m->partition, "offset", (json_int_t)m->offset);
        json_object_set(o, "deadLetter", v ? v : json_null());
        if (!v) json_object_set_new(o, "raw", cli_json_bytes(m->payload, m->len));
        cli_json_print(o);
        json_decref(v);
        return st->max > 0 && st->count >= st->max;
    }
    printf("%s/%d@%lld", rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset);
    if (!json_is_object(v)) {
        printf("  (not a dead-letter record)\n  value:   ");
        if (m->payload) cli_print_bytes(stdout, m->payload, m->len);
        printf("\n\n");
        json_decref(v);
        return st->max > 0 && st->count >= st->max;
    }
    const char *s;
    size_t hn = 0;
    printf("  failedAt=%s", (s = jstr(v, "failedAt")) ? s : "-");
    json_t *att = json_object_get(v, "attemptCount");
    if (json_is_integer(att))
        printf("  attempts=%lld", (long long)json_integer_value(att));
    else
        printf("  attempts=-");
    s = jstr(v, "reason");
    if (!s && (s = cli_header(m, "x-dlq-reason", &hn)))
        printf("  reason=%.*s", (int)hn, s);
    else
        printf("  reason=%s", s ? s : "-");
    printf("  service=%s\n", (s = jstr(v, "service")) ? s : "-");
    s = jstr(v, "error");
    if (!s && (s = cli_header(m, "x-dlq-error", &hn))) {
        printf("  error:   ");
        cli_print_bytes(stdout, s, hn);
        putchar('\n');
    } else {
        printf("  error:   %s\n", s ? s : "-");
    }
    json_t *sp = json_object_get(v, "sourcePartition"), *so = json_object_get(v, "sourceOffset");
    printf("  source:  %s/", (s = jstr(v, "sourceTopic")) ? s : "-");
    if (json_is_integer(sp))
        printf("%lld", (long long)json_integer_value(sp));
    else
        printf("-");
    if (json_is_integer(so))
        printf("@%lld\n", (long long)json_integer_value(so));
    else
        printf("@-\n");
    json_t *orig = json_object_get(v, "originalEvent");
    if (json_is_object(orig)) {
        printf("  event:   type=%s", (s = jstr(orig, "eventType")) ? s : "-");
        printf(" version=%s", (s = jstr(orig, "version")) ? s : "-");
        printf(" id=%s", (s = jstr(orig, "eventId")) ? s : "-");
        printf(" correlationId=%s\n", (s = jstr(orig, "correlationId")) ? s : "-");
    } else if (json_is_string(orig)) {
        printf("  event:   (not an envelope) ");
        cli_print_bytes(stdout, json_string_value(orig), json_string_length(orig));
        putchar('\n');
    } else {
        printf("  event:   -\n");
    }
    putchar('\n');
    json_decref(v);
    return st->max > 0 && st->count >= st->max;
}

int cmd_dlq(int argc, char **argv)
{
    /* subcommands: "redrive", and "list" (the same as no subcommand; `eddy dlq list redrive`
     * lists a topic named redrive) */
    if (argc > 1 && !strcmp(argv[1], "redrive")) return cmd_dlq_redrive(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "list")) {
        argc--;
        argv++;
    }
    static const struct option lo[] = {
        CLI_GLOBAL_LONGOPTS,
        {"count", required_argument, NULL, 'n'},
        {"follow", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    int follow = 0, c, rc;
    long long max = 0;
    while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS "n:f", lo, k_dlq_usage, &rc)) != -1) {
        switch (c) {
        case CLI_OPT_EXIT: return rc;
        case 'n':
            if (cli_parse_int(optarg, 1, INT64_MAX, &max))
                return cli_usage_error(k_dlq_usage, "-n wants a count >= 1, got '%s'", optarg);
            break;
        case 'f': follow = 1; break;
        }
    }
    if (argc - optind != 1 || !*argv[optind])
        return cli_usage_error(k_dlq_usage, "dlq: %s",
                               argc - optind < 1 ? "which topic?" : "too many arguments");
    const char *arg = argv[optind];
    size_t al = strlen(arg);
    char *dlq = al > 4 && !strcmp(arg + al - 4, ".dlq") ? xstrdup(arg) : xasprintf("%s.dlq", arg);
    /* librdkafka wants a group.id even for assign(); a scanner never joins nor commits. */
    const char *extra[] = {"enable.partition.eof=true", "enable.auto.commit=false",
                           "group.id=eddy-cli-reader"};
    rd_kafka_t *rk = cli_client(RD_KAFKA_CONSUMER, extra, (int)ARRAY_LEN(extra));
    if (!rk) {
        free(dlq);
        return CLI_EUSAGE;
    }
    const struct rd_kafka_metadata *md;
    cli_scan s = {NULL, 0};
    dlq_state st = {0, (long)max};
    rc = cli_metadata(rk, &md);
    if (rc == CLI_OK) {
        const struct rd_kafka_metadata_topic *t = cli_md_topic(md, dlq);
        if (!t)
            rc = cli_fail(CLI_ENOTFOUND, "no dead-letter topic '%s'", dlq);
        else
            rc = cli_scan_add_topic(rk, &s, t);
        rd_kafka_metadata_destroy(md);
        if (rc == CLI_OK) {
            cli_catch_signals();
            rc = cli_scan_run(rk, &s, follow, &g_cli_stop, dlq_cb, &st);
        }
        if (rc == CLI_OK && !g_cli.json) printf("%ld dead letter(s) in %s\n", st.count, dlq);
        cli_scan_free(&s);
        rd_kafka_consumer_close(rk);
    }
    rd_kafka_destroy(rk);
    free(dlq);
    return rc;
}
