/* redrive.c — `eddy dlq redrive TOPIC.dlq`: republishes dead letters to their source topic (or
 * --to) through libeddy's eddy_dlq_redrive (include/eddy/dlq.h): filter, dry run, rate limit,
 * loop guard, markers on TOPIC.dlq.redriven. One line per dead letter (filtered-out ones are
 * only counted), then a summary; --json gives one object per line and a summary object. */
#include <getopt.h>
#include <unistd.h> /* environ */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eddy/eddy.h"
#include "eddy/dlq.h"
#include "common/util.h"

static const char *const k_usage =
    "usage: eddy dlq redrive TOPIC.dlq [--filter NAME=VALUE]... [--dry-run] [--rate N/s]\n"
    "                        [--to TOPIC] [--max-redrives N] [--json]\n"
    "  Republishes each dead letter of TOPIC.dlq as its original record (own key, headers and\n"
    "  value; the x-dlq-* headers removed, eddy-redrive-count set) to its source topic and\n"
    "  partition, or to --to TOPIC. Redriven dead letters are marked on TOPIC.dlq.redriven and\n"
    "  never moved twice. TOPIC may also be given without its .dlq suffix. eddyd's web console\n"
    "  (Dead letters) and POST /api/v1/dlq/TOPIC.dlq/redrive do the same on the same markers.\n"
    "options:\n"
    "  --filter NAME=VALUE   only these (repeat: all must match): error=TEXT, reason=TEXT\n"
    "                        (substrings), service=NAME, topic=NAME, key=KEY, partition=N,\n"
    "                        offset=A..B (source offset), time=T1..T2 (when dead-lettered:\n"
    "                        RFC 3339 or epoch ms; either end may be left out)\n"
    "  --dry-run             list what would move; produce nothing\n"
    "  --rate N[/s]          at most N records per second (default: unlimited)\n"
    "  --to TOPIC            republish to TOPIC instead of each record's source topic\n"
    "  --max-redrives N      loop guard: refuse a record already redriven N times (default 3)\n"
    "exit: 0 done (or nothing to do), 5 some records refused by the loop guard (the others\n"
    "  moved), 4 no such DLQ / target topic, 2 bad arguments (a malformed filter), 3 broker\n"
    "  unreachable, 1 failed midway (what moved is marked; run it again).\n"
    "examples:\n"
    "  eddy dlq redrive payment.events.dlq --dry-run\n"
    "  eddy dlq redrive payment.events.dlq --filter reason=retries_exhausted --rate 50/s\n"
    "  eddy dlq redrive payment.events.dlq --filter key=order-42 --to payment.events.retry\n";

static void out_line(const eddy_dead_letter *d, eddy_redrive_outcome o, void *arg)
{
    (void)arg;
    if (o == EDDY_REDRIVE_FILTERED) return;
    if (g_cli.json) {
        json_t *j =
            json_pack("{s:s,s:s,s:i,s:I,s:i}", "outcome", eddy_redrive_outcome_name(o), "dlqTopic",
                      d->dlq_topic, "dlqPartition", (int)d->dlq_partition, "dlqOffset",
                      (json_int_t)d->dlq_offset, "redriveCount", d->redrive_count);
        json_object_set_new(j, "key", d->key ? cli_json_bytes(d->key, d->key_len) : json_null());
        json_object_set_new(j, "reason", d->reason ? json_string(d->reason) : json_null());
        json_object_set_new(j, "error", d->error ? json_string(d->error) : json_null());
        json_object_set_new(j, "sourceTopic",
                            d->source_topic ? json_string(d->source_topic) : json_null());
        json_object_set_new(j, "sourcePartition", json_integer(d->source_partition));
        json_object_set_new(j, "sourceOffset", json_integer(d->source_offset));
        if (o == EDDY_REDRIVE_MOVED || o == EDDY_REDRIVE_WOULD_MOVE) {
            json_object_set_new(j, "to", json_string(d->to_topic));
            json_object_set_new(j, "toPartition", json_integer(d->to_partition));
            if (o == EDDY_REDRIVE_MOVED)
                json_object_set_new(j, "toOffset", json_integer(d->to_offset));
            json_object_set_new(j, "valueExact", json_boolean(d->value_exact));
        }
        cli_json_print(j);
        return;
    }
    static const char *const word[] = {"moved", "would move", "loop guard", "already redriven"};
    printf("%-16s %s/%d@%lld", word[o], d->dlq_topic, (int)d->dlq_partition,
           (long long)d->dlq_offset);
    if (o == EDDY_REDRIVE_MOVED)
        printf(" -> %s/%d@%lld", d->to_topic, (int)d->to_partition, (long long)d->to_offset);
    else if (o == EDDY_REDRIVE_WOULD_MOVE && d->to_partition >= 0)
        printf(" -> %s/%d", d->to_topic, (int)d->to_partition);
    else if (o == EDDY_REDRIVE_WOULD_MOVE)
        printf(" -> %s", d->to_topic);
    printf("  key=");
    if (d->key)
        cli_print_bytes(stdout, d->key, d->key_len);
    else
        printf("-");
    printf("  reason=%s  redrives=%d", d->reason ? d->reason : "-", d->redrive_count);
    if (o == EDDY_REDRIVE_LOOP_GUARD) printf(" (refused: loop guard)");
    if ((o == EDDY_REDRIVE_MOVED || o == EDDY_REDRIVE_WOULD_MOVE) && !d->value_exact)
        printf("  (value re-serialised: an old dead letter)");
    printf("\n  error: %s\n", d->error ? d->error : "-");
}

int cmd_dlq_redrive(int argc, char **argv)
{
    enum { O_FILTER = 1000, O_DRY, O_RATE, O_TO, O_MAX };
    static const struct option lo[] = {
        CLI_GLOBAL_LONGOPTS,
        {"filter", required_argument, NULL, O_FILTER},
        {"dry-run", no_argument, NULL, O_DRY},
        {"rate", required_argument, NULL, O_RATE},
        {"to", required_argument, NULL, O_TO},
        {"max-redrives", required_argument, NULL, O_MAX},
        {NULL, 0, NULL, 0},
    };
    eddy_dlq_filter *f = eddy_dlq_filter_new();
    eddy_redrive_opts o = {0};
    int c, rc = CLI_OK;
    char *err = NULL, *dlq = NULL, **conf = NULL;
    long long n;
    while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS, lo, k_usage, &rc)) != -1) {
        switch (c) {
        case CLI_OPT_EXIT: goto out;
        case O_FILTER:
            if (eddy_dlq_filter_add(f, optarg, &err) < 0) {
                rc = cli_usage_error(NULL, "dlq redrive: %s", err);
                goto out;
            }
            break;
        case O_DRY: o.dry_run = 1; break;
        case O_RATE: {
            size_t l = strlen(optarg);
            char *num = xstrdup(optarg);
            if (l > 2 && !strcmp(num + l - 2, "/s")) num[l - 2] = 0;
            int bad = cli_parse_int(num, 1, 1000000, &n);
            free(num);
            if (bad) {
                rc = cli_usage_error(k_usage, "--rate wants N or N/s (1..1000000), got '%s'",
                                     optarg);
                goto out;
            }
            o.rate = (double)n;
            break;
        }
        case O_TO:
            if (!*optarg) {
                rc = cli_usage_error(k_usage, "--to wants a topic");
                goto out;
            }
            o.to = optarg;
            break;
        case O_MAX:
            if (cli_parse_int(optarg, 1, 1000000, &n)) {
                rc = cli_usage_error(k_usage, "--max-redrives wants N >= 1, got '%s'", optarg);
                goto out;
            }
            o.max_redrives = (int)n;
            break;
        }
    }
    if (argc - optind != 1 || !*argv[optind]) {
        rc = cli_usage_error(k_usage, "dlq redrive: %s",
                             argc - optind < 1 ? "which DLQ topic?" : "too many arguments");
        goto out;
    }
    const char *arg = argv[optind];
    size_t al = strlen(arg);
    dlq = al > 4 && !strcmp(arg + al - 4, ".dlq") ? xstrdup(arg) : xasprintf("%s.dlq", arg);

    /* reachability first, so an absent broker is exit 3 like every other command */
    rd_kafka_t *rk = cli_client(RD_KAFKA_PRODUCER, NULL, 0);
    if (!rk) {
        rc = CLI_EUSAGE;
        goto out;
    }
    const struct rd_kafka_metadata *md;
    rc = cli_metadata(rk, &md);
    if (rc == CLI_OK) rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    if (rc != CLI_OK) goto out;

    /* the settings every other command's clients get (cli_conf): EDDY_KAFKA_* from the
     * environment, then -X (which wins) */
    int nenv = 0;
    for (char **e = environ; *e; e++) nenv++;
    conf = xmalloc(sizeof *conf * (size_t)(nenv + g_cli.nprops + 2));
    int nc = 0;
    conf[nc++] = xstrdup("client.id=eddy-cli");
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "EDDY_KAFKA_", 11) || !strchr(*e, '=')) continue;
        char *kv = xstrdup(*e + 11);
        for (char *p = kv; *p && *p != '='; p++)
            *p = *p == '_' ? '.' : (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        conf[nc++] = kv;
    }
    for (int i = 0; i < g_cli.nprops; i++) conf[nc++] = xstrdup(g_cli.props[i]);
    conf[nc] = NULL;
    o.rdkafka_conf = (const char *const *)conf;
    o.timeout_ms = g_cli.timeout_ms;
    o.filter = f;
    o.fn = out_line;
    o.stop = &g_cli_stop;
    cli_catch_signals();
    eddy_redrive_stats st;
    int r = eddy_dlq_redrive(g_cli.bootstrap, dlq, &o, &st, &err);
    if (r == 0 || st.scanned > 0) {
        if (g_cli.json) {
            json_t *j = json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:I}", "summary", dlq, "dryRun",
                                  o.dry_run, "moved", (json_int_t)st.moved, "wouldMove",
                                  (json_int_t)st.would_move, "loopGuard", (json_int_t)st.loop_guard,
                                  "alreadyRedriven", (json_int_t)st.already_redriven, "filteredOut",
                                  (json_int_t)st.filtered_out);
            cli_json_print(j);
        } else {
            printf("%s: %lld %s, %lld refused by the loop guard (max %d), %lld already "
                   "redriven, %lld filtered out\n",
                   dlq, (long long)(o.dry_run ? st.would_move : st.moved),
                   o.dry_run ? "would move (dry run)" : "moved", (long long)st.loop_guard,
                   o.max_redrives ? o.max_redrives : EDDY_REDRIVE_MAX_DEFAULT,
                   (long long)st.already_redriven, (long long)st.filtered_out);
        }
    }
    if (r == EDDY_ERR_NOTFOUND)
        rc = cli_fail(CLI_ENOTFOUND, "dlq redrive: %s", err);
    else if (r == EDDY_ERR_PERMANENT)
        rc = cli_fail(CLI_EUSAGE, "dlq redrive: %s", err);
    else if (r < 0)
        rc = cli_fail(CLI_EFAIL, "dlq redrive: %s", err);
    else if (st.loop_guard > 0)
        rc = cli_fail(CLI_EREFUSED,
                      "dlq redrive: %lld record(s) refused by the loop guard (redriven %d times "
                      "already); fix the cause, then use --max-redrives to move them",
                      (long long)st.loop_guard,
                      o.max_redrives ? o.max_redrives : EDDY_REDRIVE_MAX_DEFAULT);
out:
    for (int i = 0; conf && conf[i]; i++) free(conf[i]);
    free(conf);
    free(err);
    free(dlq);
    eddy_dlq_filter_free(f);
    return rc;
}
