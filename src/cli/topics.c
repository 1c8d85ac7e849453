/* topics.c — `eddy topics list|create|delete|describe`: metadata for the listing, the
 * librdkafka Admin API (CreateTopics, DeleteTopics, DescribeConfigs) for the rest, and
 * ListOffsets (query_watermark_offsets) for each partition's log start and high watermark. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "httpc.h"

static const char *const k_usage =
    "usage: eddy topics list [--all] [--json]\n"
    "       eddy topics create NAME [-p PARTITIONS] [-r REPLICAS] [-c key=value]...\n"
    "       eddy topics delete NAME\n"
    "       eddy topics describe NAME [--json]\n"
    "       eddy topics scrub-report [--http URL]\n"
    "  list      topics with their partition counts (internal topics with --all)\n"
    "  create    -p partitions (default 1), -r replication factor (default 1),\n"
    "            -c topic config, repeatable (e.g. -c retention.ms=60000)\n"
    "  delete    deletes the topic and its data\n"
    "  describe  partitions (leader, log start, high watermark, messages) and configs\n"
    "  scrub-report  offsets lost to damaged batches the broker's background scrub found\n"
    "            (read from eddyd's /metrics; --http URL, env EDDY_HTTP_URL, default\n"
    "            http://127.0.0.1:8081); exit 1 when any were found\n";

#define MAX_CONFIGS 64

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
            printf("%s topic %s\n", verb, name);
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

static rd_kafka_AdminOptions_t *admin_opts(rd_kafka_t *rk, rd_kafka_admin_op_t op)
{
    char errstr[256];
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
    rd_kafka_AdminOptions_set_request_timeout(o, g_cli.timeout_ms, errstr, sizeof errstr);
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS)
        rd_kafka_AdminOptions_set_operation_timeout(o, g_cli.timeout_ms, errstr, sizeof errstr);
    return o;
}

static int topics_create(rd_kafka_t *rk, const char *name, int partitions, int replicas,
                         const char **configs, int nconfigs)
{
    char errstr[512];
    const struct rd_kafka_metadata *md;
    int rc = cli_metadata(rk, &md); /* reachability first: a clear error, fast */
    if (rc) return rc;
    rd_kafka_metadata_destroy(md);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, replicas, errstr,
                                                    sizeof errstr);
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
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = admin_opts(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(rk, &nt, 1, o, q);
    rd_kafka_event_t *ev = cli_admin_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT);
    rc = CLI_EUNREACHABLE;
    if (ev) {
        if (rd_kafka_event_error(ev)) {
            rc = cli_fail(CLI_EFAIL, "create %s: %s", name, rd_kafka_event_error_string(ev));
        } else {
            size_t n = 0;
            const rd_kafka_topic_result_t **res =
                rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
            rc = topic_result(res, n, "created");
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    return rc;
}

static int topics_delete(rd_kafka_t *rk, const char *name)
{
    const struct rd_kafka_metadata *md;
    int rc = cli_metadata(rk, &md);
    if (rc) return rc;
    int known = cli_md_topic(md, name) != NULL;
    rd_kafka_metadata_destroy(md);
    if (!known) return cli_fail(CLI_ENOTFOUND, "unknown topic '%s'", name);
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(name);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = admin_opts(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_DeleteTopics(rk, &dt, 1, o, q);
    rd_kafka_event_t *ev = cli_admin_wait(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT);
    rc = CLI_EUNREACHABLE;
    if (ev) {
        if (rd_kafka_event_error(ev)) {
            rc = cli_fail(CLI_EFAIL, "delete %s: %s", name, rd_kafka_event_error_string(ev));
        } else {
            size_t n = 0;
            const rd_kafka_topic_result_t **res =
                rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
            rc = topic_result(res, n, "deleted");
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_DeleteTopic_destroy(dt);
    rd_kafka_queue_destroy(q);
    return rc;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(rd_kafka_ConfigEntry_name(*(const rd_kafka_ConfigEntry_t *const *)a),
                  rd_kafka_ConfigEntry_name(*(const rd_kafka_ConfigEntry_t *const *)b));
}

static void json_str(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static int describe_configs(rd_kafka_t *rk, const char *name)
{
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = admin_opts(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(rk, &cr, 1, o, q);
    rd_kafka_event_t *ev = cli_admin_wait(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT);
    int rc = CLI_EUNREACHABLE;
    if (ev) {
        rc = CLI_OK;
        size_t nres = 0;
        const rd_kafka_ConfigResource_t **res = NULL;
        if (rd_kafka_event_error(ev))
            rc = cli_fail(CLI_EFAIL, "configs of %s: %s", name, rd_kafka_event_error_string(ev));
        else
            res = rd_kafka_DescribeConfigs_result_resources(
                rd_kafka_event_DescribeConfigs_result(ev), &nres);
        for (size_t i = 0; rc == CLI_OK && i < nres; i++) {
            if (rd_kafka_ConfigResource_error(res[i])) {
                rc = cli_fail(CLI_EFAIL, "configs of %s: %s", name,
                              rd_kafka_ConfigResource_error_string(res[i]));
                break;
            }
            size_t n = 0;
            const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(res[i], &n);
            const rd_kafka_ConfigEntry_t **sorted = xcalloc(n + 1, sizeof *sorted);
            memcpy(sorted, ents, n * sizeof *sorted);
            qsort(sorted, n, sizeof *sorted, cmp_entry);
            if (g_cli.json) {
                printf("\"configs\":{");
                for (size_t k = 0; k < n; k++) {
                    if (k) putchar(',');
                    json_str(rd_kafka_ConfigEntry_name(sorted[k]));
                    putchar(':');
                    const char *v = rd_kafka_ConfigEntry_value(sorted[k]);
                    if (v) json_str(v);
                    else printf("null");
                }
                printf("}");
            } else {
                printf("\nCONFIG%-34s %-30s %s\n", "", "VALUE", "SOURCE");
                for (size_t k = 0; k < n; k++) {
                    const char *v = rd_kafka_ConfigEntry_value(sorted[k]);
                    printf("%-40s %-30s %s\n", rd_kafka_ConfigEntry_name(sorted[k]),
                           v ? v : "(null)",
                           rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(sorted[k])));
                }
            }
            free(sorted);
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_ConfigResource_destroy(cr);
    rd_kafka_queue_destroy(q);
    return rc;
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
        printf("%-10s %-7s %-14s %-14s %s\n", "PARTITION", "LEADER", "LOG-START", "HIGH-WATERMARK",
               "MESSAGES");
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
        if (g_cli.json)
            printf("%s{\"partition\":%d,\"leader\":%d,\"logStart\":%lld,\"highWatermark\":%lld}",
                   i ? "," : "", (int)p->id, (int)p->leader, (long long)lo, (long long)hi);
        else
            printf("%-10d %-7d %-14lld %-14lld %lld\n", (int)p->id, (int)p->leader,
                   (long long)lo, (long long)hi, (long long)(hi - lo));
    }
    if (g_cli.json) printf("],");
    rd_kafka_metadata_destroy(md);
    if (rc == CLI_OK) rc = describe_configs(rk, name);
    if (g_cli.json) printf("}\n");
    return rc;
}

/* Reads eddy_partition_quarantined_offsets{topic,partition,first,last} from /metrics. */
static int topics_scrub_report(const char *url)
{
    char host[256], port[16], prefix[256], e[256] = "";
    if (httpc_parse_url(url, host, sizeof host, port, sizeof port, prefix, sizeof prefix))
        return cli_fail(CLI_EUSAGE, "HTTP URL '%s' is not http://HOST[:PORT][/PATH]", url);
    char *path = xasprintf("%s/metrics", prefix);
    httpc_resp r;
    memset(&r, 0, sizeof r);
    int rc = httpc_request(host, port, "GET", path, NULL, NULL, 0, g_cli.timeout_ms,
                           64 << 20, &r, e, sizeof e);
    free(path);
    if (rc) return cli_fail(CLI_EUNREACHABLE, "cannot read %s/metrics: %s", url, e);
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
                if (!found++) printf("%-30s %9s %20s %20s %12s\n", "TOPIC", "PARTITION", "FIRST",
                                     "LAST", "LOST");
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

int cmd_topics(int argc, char **argv)
{
    static const struct option lo[] = {
        CLI_GLOBAL_LONGOPTS,
        {"partitions", required_argument, NULL, 'p'},
        {"replicas", required_argument, NULL, 'r'},
        {"config", required_argument, NULL, 'c'},
        {"all", no_argument, NULL, 'a'},
        {"http", required_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    const char *http_url = getenv("EDDY_HTTP_URL");
    if (!http_url || !*http_url) http_url = "http://127.0.0.1:8081";
    long long partitions = 1, replicas = 1;
    const char *configs[MAX_CONFIGS];
    int nconfigs = 0, all = 0, c;
    while ((c = getopt_long(argc, argv, CLI_GLOBAL_SHORTOPTS "p:r:c:aH:", lo, NULL)) != -1) {
        int g = cli_global_opt(c, optarg);
        if (g < 0) return CLI_EUSAGE;
        if (g > 0) continue;
        switch (c) {
        case 'h':
            fputs(k_usage, stdout);
            return CLI_OK;
        case 'p':
            if (cli_parse_int(optarg, 1, 100000, &partitions))
                return cli_usage_error(k_usage, "-p wants a partition count, got '%s'", optarg);
            break;
        case 'r':
            if (cli_parse_int(optarg, 1, 1000, &replicas))
                return cli_usage_error(k_usage, "-r wants a replication factor, got '%s'",
                                       optarg);
            break;
        case 'c':
            if (!strchr(optarg, '=') || optarg[0] == '=' || nconfigs >= MAX_CONFIGS)
                return cli_usage_error(k_usage, "-c wants key=value, got '%s'", optarg);
            configs[nconfigs++] = optarg;
            break;
        case 'a':
            all = 1;
            break;
        case 'H':
            http_url = optarg;
            break;
        default:
            fputs(k_usage, stderr);
            return CLI_EUSAGE;
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
        strcmp(sub, "describe"))
        return cli_usage_error(k_usage, "topics: unknown subcommand '%s'", sub);
    if (npos != want)
        return cli_usage_error(k_usage, "topics %s: %s", sub,
                               npos < want ? "which topic?" : "too many arguments");
    rd_kafka_t *rk = cli_client(RD_KAFKA_PRODUCER, NULL, 0);
    if (!rk) return CLI_EUSAGE;
    int rc;
    if (!strcmp(sub, "list")) rc = topics_list(rk, all);
    else if (!strcmp(sub, "create"))
        rc = topics_create(rk, pos[1], (int)partitions, (int)replicas, configs, nconfigs);
    else if (!strcmp(sub, "delete")) rc = topics_delete(rk, pos[1]);
    else rc = topics_describe(rk, pos[1]);
    rd_kafka_destroy(rk);
    return rc;
}
