/* topics.c — `eddy topics list|create|delete|describe|alter-config|add-partitions`: metadata
 * for the listing and the leader/replicas/ISR of each partition, the librdkafka Admin API
 * (CreateTopics, DeleteTopics, DescribeConfigs, AlterConfigs, CreatePartitions) for the rest,
 * and ListOffsets (query_watermark_offsets) for each partition's log start and high watermark. */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "httpc.h"

static const char *const k_usage =
    "usage: eddy topics list [--all] [--json]\n"
    "       eddy topics create NAME [-p PARTITIONS] [-r REPLICAS] [-c key=value]...\n"
    "       eddy topics delete NAME\n"
    "       eddy topics describe NAME [--json]\n"
    "       eddy topics alter-config NAME [--set key=value]... [--delete key]...\n"
    "       eddy topics add-partitions NAME -p TOTAL\n"
    "       eddy topics scrub-report [--http URL]\n"
    "  list            topics with their partition counts (internal topics with --all)\n"
    "  create          -p partitions (default 1), -r replication factor (default 1),\n"
    "                  -c topic config, repeatable (e.g. -c retention.ms=60000)\n"
    "  delete          deletes the topic and its data\n"
    "  describe        per partition: leader, replicas, in-sync replicas, log start, high\n"
    "                  watermark, messages; then every config with its value and source\n"
    "  alter-config    sets (--set, -c) or removes (--delete: back to the default) topic\n"
    "                  configs; the other dynamic configs are kept; prints old and new values\n"
    "  add-partitions  grows the topic to TOTAL partitions (never shrinks)\n"
    "  scrub-report    offsets lost to damaged batches the broker's background scrub found\n"
    "                  (read from eddyd's /metrics; --http URL, env EDDY_HTTP_URL, default\n"
    "                  http://127.0.0.1:8081); exit 1 when any were found\n"
    "examples:\n"
    "  eddy topics create orders -p 3 -c retention.ms=86400000\n"
    "  eddy topics describe orders\n"
    "  eddy topics alter-config orders --set retention.ms=3600000 --delete cleanup.policy\n"
    "  eddy topics add-partitions orders -p 6\n";

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int topics_list(rd_kafka_t *rk, int all)
{
    const struct rd_kafka_metadata *md;
    int rc = cli_metadata(rk, &md);
    if (rc) return rc;
    const char **names = xcalloc((size_t)md->topic_cnt + 1, sizeof *names);
    int n = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (md->topics[i].err == 0 && (all || !cli_topic_internal(md->topics[i].topic)))
            names[n++] = md->topics[i].topic;
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    if (!g_cli.json) printf("%-40s %s\n", "TOPIC", "PARTITIONS");
    for (int i = 0; i < n; i++) {
        const struct rd_kafka_metadata_topic *t = cli_md_topic(md, names[i]);
        if (g_cli.json)
            printf("{\"topic\":\"%s\",\"partitions\":%d,\"internal\":%s}\n", t->topic,
                   t->partition_cnt, cli_topic_internal(t->topic) ? "true" : "false");
        else
            printf("%-40s %d\n", t->topic, t->partition_cnt);
    }
    free(names);
    rd_kafka_metadata_destroy(md);
    return CLI_OK;
}

static int topic_result(const rd_kafka_topic_result_t **res, size_t n, const char *verb)
{
    int rc = CLI_OK;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        const char *name = rd_kafka_topic_result_name(res[i]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (verb) printf("%s topic %s\n", verb, name);
            continue;
        }
        const char *msg = rd_kafka_topic_result_error_string(res[i]);
        int code = e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? CLI_ENOTFOUND : CLI_EFAIL;
        if (e == RD_KAFKA_RESP_ERR__TIMED_OUT) code = CLI_EUNREACHABLE;
        rc = cli_fail(code, "topic %s: %s (%s)", name, msg ? msg : rd_kafka_err2str(e),
                      rd_kafka_err2name(e));
    }
    return rc;
}

/* Creates the topic nt describes, or deletes topic name (nt NULL): one request, its answer
 * through topic_result (verb printed on success, NULL: nothing); what names the operation in
 * messages ("create", "delete topic", ...). */
static int topic_create_delete(rd_kafka_t *rk, rd_kafka_NewTopic_t *nt, const char *name,
                               const char *what, const char *verb)
{
    cli_admin a;
    rd_kafka_DeleteTopic_t *dt = nt ? NULL : rd_kafka_DeleteTopic_new(name);
    cli_admin_start(&a, rk, nt ? RD_KAFKA_ADMIN_OP_CREATETOPICS : RD_KAFKA_ADMIN_OP_DELETETOPICS);
    if (nt)
        rd_kafka_CreateTopics(rk, &nt, 1, a.o, a.q);
    else
        rd_kafka_DeleteTopics(rk, &dt, 1, a.o, a.q);
    int rc = cli_admin_result(
        &a, nt ? RD_KAFKA_EVENT_CREATETOPICS_RESULT : RD_KAFKA_EVENT_DELETETOPICS_RESULT, "%s %s",
        what, name);
    if (rc == CLI_OK) {
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
            nt ? rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(a.ev), &n)
               : rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(a.ev), &n);
        rc = topic_result(res, n, verb);
    }
    cli_admin_end(&a);
    if (dt) rd_kafka_DeleteTopic_destroy(dt);
    return rc;
}

static int topics_create(rd_kafka_t *rk, const char *name, int partitions, int replicas,
                         const char **configs, int nconfigs)
{
    char errstr[512];
    const struct rd_kafka_metadata *md;
    int rc = cli_metadata(rk, &md); /* reachability first: a clear error, fast */
    if (rc) return rc;
    rd_kafka_metadata_destroy(md);
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(name, partitions, replicas, errstr, sizeof errstr);
    if (!nt) return cli_fail(CLI_EUSAGE, "topic %s: %s", name, errstr);
    for (int i = 0; i < nconfigs; i++) {
        const char *eq = strchr(configs[i], '=');
        char *k = xstrndup(configs[i], (size_t)(eq - configs[i]));
        rd_kafka_resp_err_t e = rd_kafka_NewTopic_set_config(nt, k, eq + 1);
        free(k);
        if (e) {
            rd_kafka_NewTopic_destroy(nt);
            return cli_fail(CLI_EUSAGE, "config %s: %s", configs[i], rd_kafka_err2str(e));
        }
    }
    rc = topic_create_delete(rk, nt, name, "create", "created");
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/* CLI_OK if the broker is reachable and knows topic name, else an exit code after saying why. */
static int topic_must_exist(rd_kafka_t *rk, const char *name)
{
    const struct rd_kafka_metadata *md;
    int rc = cli_metadata(rk, &md);
    if (rc) return rc;
    int known = cli_md_topic(md, name) != NULL;
    rd_kafka_metadata_destroy(md);
    return known ? CLI_OK : cli_fail(CLI_ENOTFOUND, "unknown topic '%s'", name);
}

static int topics_delete(rd_kafka_t *rk, const char *name)
{
    int rc = topic_must_exist(rk, name);
    return rc ? rc : topic_create_delete(rk, NULL, name, "delete", "deleted");
}

static void json_str(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static int describe_configs(rd_kafka_t *rk, const char *name)
{
    cli_config *c;
    int n;
    int rc = cli_describe_configs(rk, RD_KAFKA_RESOURCE_TOPIC, name, &c, &n);
    if (rc) return rc;
    if (g_cli.json) {
        printf(",\"configs\":{");
        for (int k = 0; k < n; k++) {
            if (k) putchar(',');
            json_str(c[k].name);
            putchar(':');
            if (c[k].value)
                json_str(c[k].value);
            else
                printf("null");
        }
        printf("}");
    } else {
        printf("\nCONFIG%-34s %-30s %s\n", "", "VALUE", "SOURCE");
        for (int k = 0; k < n; k++)
            printf("%-40s %-30s %s\n", c[k].name, c[k].value ? c[k].value : "(null)",
                   rd_kafka_ConfigSource_name(c[k].source));
    }
    cli_configs_free(c, n);
    return CLI_OK;
}

/* "1,2,3" (JSON array body with json; text: the same, "-" when empty). */
static void broker_list(const int32_t *ids, int n, char *out, size_t cap, int json)
{
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n && len + 12 < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%d", i ? "," : "", (int)ids[i]);
    if (!n && !json) snprintf(out, cap, "-");
}

static int topics_describe(rd_kafka_t *rk, const char *name)
{
    const struct rd_kafka_metadata *md;
    int rc = cli_metadata(rk, &md);
    if (rc) return rc;
    const struct rd_kafka_metadata_topic *t = cli_md_topic(md, name);
    if (!t) {
        rd_kafka_metadata_destroy(md);
        return cli_fail(CLI_ENOTFOUND, "unknown topic '%s'", name);
    }
    if (g_cli.json) {
        printf("{\"topic\":");
        json_str(name);
        printf(",\"partitions\":[");
    } else {
        printf("TOPIC       %s\nPARTITIONS  %d\nINTERNAL    %s\n\n", name, t->partition_cnt,
               cli_topic_internal(name) ? "yes" : "no");
        printf("%-10s %-7s %-12s %-12s %-14s %-14s %s\n", "PARTITION", "LEADER", "REPLICAS", "ISR",
               "LOG-START", "HIGH-WATERMARK", "MESSAGES");
    }
    for (int i = 0; i < t->partition_cnt; i++) {
        const struct rd_kafka_metadata_partition *p = &t->partitions[i];
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, name, p->id, &lo, &hi, g_cli.timeout_ms);
        if (e) {
            rc = cli_fail(CLI_EFAIL, "watermarks of %s/%d: %s", name, (int)p->id,
                          rd_kafka_err2str(e));
            break;
        }
        /* replicas and in-sync replicas: on a cluster, where each partition lives and which
         * copies are caught up (a broker down shows as a shorter ISR or a moved leader) */
        char reps[128], isrs[128];
        broker_list(p->replicas, p->replica_cnt, reps, sizeof reps, g_cli.json);
        broker_list(p->isrs, p->isr_cnt, isrs, sizeof isrs, g_cli.json);
        if (g_cli.json)
            printf("%s{\"partition\":%d,\"leader\":%d,\"replicas\":[%s],\"isr\":[%s],"
                   "\"logStart\":%lld,\"highWatermark\":%lld,\"messages\":%lld}",
                   i ? "," : "", (int)p->id, (int)p->leader, reps, isrs, (long long)lo,
                   (long long)hi, (long long)(hi - lo));
        else
            printf("%-10d %-7d %-12s %-12s %-14lld %-14lld %lld\n", (int)p->id, (int)p->leader,
                   reps, isrs, (long long)lo, (long long)hi, (long long)(hi - lo));
    }
    if (g_cli.json) printf("]");
    rd_kafka_metadata_destroy(md);
    if (rc == CLI_OK) rc = describe_configs(rk, name);
    if (g_cli.json) printf("}\n");
    return rc;
}

/* Reads eddy_partition_quarantined_offsets{topic,partition,first,last} from /metrics. */
static int topics_scrub_report(const char *url)
{
    httpc_resp r;
    int rc =
        cli_http(url, 0, "eddyd's HTTP port", NULL, "GET", "/metrics", NULL, NULL, 64 << 20, &r);
    if (rc) return rc;
    if (r.status != 200) {
        free(r.body);
        return cli_fail(CLI_EFAIL, "%s/metrics answered HTTP %d", url, r.status);
    }
    static const char key[] = "eddy_partition_quarantined_offsets{topic=\"";
    long long scrubbed = -1, passes = -1;
    int found = 0;
    for (char *line = r.body; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (!strncmp(line, key, sizeof key - 1)) {
            char *tp = line + sizeof key - 1, *q = strstr(tp, "\",partition=\"");
            int part;
            long long first, last;
            if (q && sscanf(q, "\",partition=\"%d\",first=\"%lld\",last=\"%lld\"", &part, &first,
                            &last) == 3) {
                if (!found++)
                    printf("%-30s %9s %20s %20s %12s\n", "TOPIC", "PARTITION", "FIRST", "LAST",
                           "LOST");
                printf("%-30.*s %9d %20lld %20lld %12lld\n", (int)(q - tp), tp, part, first, last,
                       last - first + 1);
            }
        } else if (!strncmp(line, "eddy_scrub_bytes_total ", 23)) {
            scrubbed = atoll(line + 23);
        } else if (!strncmp(line, "eddy_scrub_passes_total ", 24)) {
            passes = atoll(line + 24);
        }
        line = nl ? nl + 1 : NULL;
    }
    free(r.body);
    if (scrubbed < 0)
        return cli_fail(CLI_EFAIL, "%s/metrics has no scrub figures (an older eddyd?)", url);
    if (!found)
        printf("no damaged batches found (%lld bytes scrubbed, %lld complete passes)\n", scrubbed,
               passes);
    return found ? CLI_EFAIL : CLI_OK;
}

static void topic_changed(const cli_config_edit *e, const cli_config *now, const char *before)
{
    bool own = now->source == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG;
    if (g_cli.json)
        cli_json_print(json_pack("{s:s,s:s,s:s?,s:s?,s:b}", "topic", e->name, "config", now->name,
                                 "before", before, "after", now->value, "override", own));
    else
        printf("%s %s: %s -> %s%s\n", e->name, now->name, before ? before : "(null)",
               now->value ? now->value : "(null)", own ? "" : " (default)");
}

/* Sets and deletes a topic's configs, keeping its other overrides (cli_change_configs). */
static int topics_alter_config(rd_kafka_t *rk, cli_config_edit *e, const char *name)
{
    int rc = topic_must_exist(rk, name);
    e->name = name;
    return rc ? rc : cli_change_configs(rk, e, topic_changed);
}

static int topics_add_partitions(rd_kafka_t *rk, const char *name, int total)
{
    char errstr[512];
    const struct rd_kafka_metadata *md;
    int rc = cli_metadata(rk, &md);
    if (rc) return rc;
    const struct rd_kafka_metadata_topic *t = cli_md_topic(md, name);
    int have = t ? t->partition_cnt : 0;
    rd_kafka_metadata_destroy(md);
    if (!t) return cli_fail(CLI_ENOTFOUND, "unknown topic '%s'", name);
    if (total <= have)
        return cli_fail(CLI_EUSAGE,
                        "topic %s already has %d partition(s): -p is the new total, above %d "
                        "(partitions are never removed)",
                        name, have, have);
    rd_kafka_NewPartitions_t *np =
        rd_kafka_NewPartitions_new(name, (size_t)total, errstr, sizeof errstr);
    if (!np) return cli_fail(CLI_EUSAGE, "add partitions to %s: %s", name, errstr);
    cli_admin a;
    cli_admin_start(&a, rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
    rd_kafka_CreatePartitions(rk, &np, 1, a.o, a.q);
    rc = cli_admin_result(&a, RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT, "add partitions to %s", name);
    if (rc == CLI_OK) {
        size_t n = 0;
        const rd_kafka_topic_result_t **res = rd_kafka_CreatePartitions_result_topics(
            rd_kafka_event_CreatePartitions_result(a.ev), &n);
        rc = topic_result(res, n, NULL);
        if (rc == CLI_OK) printf("topic %s: %d -> %d partitions\n", name, have, total);
    }
    cli_admin_end(&a);
    rd_kafka_NewPartitions_destroy(np);
    return rc;
}

int cmd_topics(int argc, char **argv)
{
    static const struct option lo[] = {
        CLI_GLOBAL_LONGOPTS,
        {"partitions", required_argument, NULL, 'p'},
        {"replicas", required_argument, NULL, 'r'},
        {"config", required_argument, NULL, 'c'},
        {"all", no_argument, NULL, 'a'},
        {"http", required_argument, NULL, 'H'},
        {"set", required_argument, NULL, 'c'},
        {"delete", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    const char *http_url = getenv("EDDY_HTTP_URL");
    if (!http_url || !*http_url) http_url = "http://127.0.0.1:8081";
    long long partitions = 1, replicas = 1;
    cli_config_edit e = {.type = RD_KAFKA_RESOURCE_TOPIC}; /* -c of create, alter-config */
    int all = 0, c, rc, have_p = 0;
    while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS "p:r:c:aH:", lo, k_usage, &rc)) != -1) {
        switch (c) {
        case CLI_OPT_EXIT: return rc;
        case 'p':
            if (cli_parse_int(optarg, 1, 100000, &partitions))
                return cli_usage_error(k_usage, "-p wants a partition count, got '%s'", optarg);
            have_p = 1;
            break;
        case 'r':
            if (cli_parse_int(optarg, 1, 1000, &replicas))
                return cli_usage_error(k_usage, "-r wants a replication factor, got '%s'", optarg);
            break;
        case 'c':
        case 'D':
            if (cli_config_edit_opt(&e, c == 'D', optarg, k_usage)) return CLI_EUSAGE;
            break;
        case 'a': all = 1; break;
        case 'H': http_url = optarg; break;
        }
    }
    int npos = argc - optind;
    char **pos = argv + optind;
    if (npos < 1) return cli_usage_error(k_usage, "topics: which subcommand?");
    const char *sub = pos[0];
    if (!strcmp(sub, "scrub-report")) {
        if (npos != 1) return cli_usage_error(k_usage, "topics scrub-report: too many arguments");
        return topics_scrub_report(http_url);
    }
    int want = !strcmp(sub, "list") ? 1 : 2;
    if (strcmp(sub, "list") && strcmp(sub, "create") && strcmp(sub, "delete") &&
        strcmp(sub, "describe") && strcmp(sub, "alter-config") && strcmp(sub, "add-partitions"))
        return cli_usage_error(k_usage, "topics: unknown subcommand '%s'", sub);
    if (!strcmp(sub, "alter-config") && e.nsets + e.ndels == 0)
        return cli_usage_error(k_usage, "topics alter-config: what to change? --set key=value "
                                        "or --delete key");
    if (!strcmp(sub, "add-partitions") && !have_p)
        return cli_usage_error(k_usage, "topics add-partitions: -p TOTAL (the new partition "
                                        "count) is required");
    if (npos != want)
        return cli_usage_error(k_usage, "topics %s: %s", sub,
                               npos < want ? "which topic?" : "too many arguments");
    rd_kafka_t *rk = cli_client(RD_KAFKA_PRODUCER, NULL, 0);
    if (!rk) return CLI_EUSAGE;
    if (!strcmp(sub, "list"))
        rc = topics_list(rk, all);
    else if (!strcmp(sub, "create"))
        rc = topics_create(rk, pos[1], (int)partitions, (int)replicas, e.sets, e.nsets);
    else if (!strcmp(sub, "delete"))
        rc = topics_delete(rk, pos[1]);
    else if (!strcmp(sub, "alter-config"))
        rc = topics_alter_config(rk, &e, pos[1]);
    else if (!strcmp(sub, "add-partitions"))
        rc = topics_add_partitions(rk, pos[1], (int)partitions);
    else
        rc = topics_describe(rk, pos[1]);
    rd_kafka_destroy(rk);
    return rc;
}

int cli_topic_admin(rd_kafka_t *rk, const char *name, int partitions)
{
    if (partitions <= 0) return topic_create_delete(rk, NULL, name, "delete topic", NULL);
    char errstr[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, 1, errstr, sizeof errstr);
    if (!nt) return cli_fail(CLI_EUSAGE, "topic %s: %s", name, errstr);
    int rc = topic_create_delete(rk, nt, name, "create topic", NULL);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}
