/* configs.c — `eddy configs describe|alter`: a broker's settings (DescribeConfigs on the BROKER
 * resource) and its dynamic ones (AlterConfigs), in the spirit of kafka-configs.sh
 * --entity-type brokers. librdkafka 2.0 has no IncrementalAlterConfigs and sends BROKER
 * resources by id only, so `alter` carries the broker's current dynamic settings with the
 * changes applied (AlterConfigs replaces the whole set), for one broker id.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/util.h"

#define MAX_CONFIGS 64

static const char *const k_usage =
    "usage: eddy configs describe [--broker ID] [--json]\n"
    "       eddy configs alter [--broker ID] [--set key=value]... [--delete key]...\n"
    "\n"
    "  describe        every setting of the broker: value, source (DYNAMIC_BROKER_CONFIG,\n"
    "                  DYNAMIC_DEFAULT_BROKER_CONFIG, STATIC_BROKER_CONFIG, DEFAULT_CONFIG) and\n"
    "                  whether it can change at run time (read-only settings cannot)\n"
    "  alter           sets (--set) or removes (--delete: back to the cluster default or the\n"
    "                  static value) dynamic settings of the broker; the other dynamic settings\n"
    "                  are kept; prints old and new values. eddyd applies them at once and keeps\n"
    "                  them across restarts; a static setting is refused by name\n"
    "\n"
    "options:\n"
    "  --broker ID     the broker (default: the first one the cluster's metadata lists)\n"
    "  --set K=V       a dynamic setting to set (repeatable)\n"
    "  --delete K      a dynamic setting to remove (repeatable)\n"
    "\n"
    "examples:\n"
    "  eddy configs describe\n"
    "  eddy configs alter --set log.retention.ms=86400000 --set compression.type=zstd\n"
    "  eddy configs alter --delete compression.type\n";

typedef struct bentry {
    char *name, *value;
    int source; /* rd_kafka_ConfigSource_t */
    int read_only, sensitive;
} bentry;

static void free_entries(bentry *e, int n)
{
    for (int i = 0; i < n; i++) {
        free(e[i].name);
        free(e[i].value);
    }
    free(e);
}

static int get_broker_configs(rd_kafka_t *rk, const char *id, bentry **out, int *nout)
{
    *out = NULL;
    *nout = 0;
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, id);
    cli_admin a;
    cli_admin_start(&a, rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(rk, &cr, 1, a.o, a.q);
    int rc =
        cli_admin_result(&a, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, "configs of broker %s", id);
    if (rc == CLI_OK) {
        size_t nres = 0;
        const rd_kafka_ConfigResource_t **res = rd_kafka_DescribeConfigs_result_resources(
            rd_kafka_event_DescribeConfigs_result(a.ev), &nres);
        for (size_t i = 0; rc == CLI_OK && i < nres; i++) {
            if (rd_kafka_ConfigResource_error(res[i])) {
                rc = cli_fail(CLI_EFAIL, "configs of broker %s: %s", id,
                              rd_kafka_ConfigResource_error_string(res[i]));
                break;
            }
            size_t n = 0;
            const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(res[i], &n);
            *out = xcalloc(n + 1, sizeof **out);
            for (size_t k = 0; k < n; k++) {
                const char *v = rd_kafka_ConfigEntry_value(ents[k]);
                (*out)[k].name = xstrdup(rd_kafka_ConfigEntry_name(ents[k]));
                (*out)[k].value = v ? xstrdup(v) : NULL;
                (*out)[k].source = (int)rd_kafka_ConfigEntry_source(ents[k]);
                (*out)[k].read_only = rd_kafka_ConfigEntry_is_read_only(ents[k]);
                (*out)[k].sensitive = rd_kafka_ConfigEntry_is_sensitive(ents[k]);
            }
            *nout = (int)n;
        }
    }
    cli_admin_end(&a);
    rd_kafka_ConfigResource_destroy(cr);
    return rc;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const bentry *)a)->name, ((const bentry *)b)->name);
}

static int configs_describe(rd_kafka_t *rk, const char *id)
{
    bentry *e;
    int n, rc = get_broker_configs(rk, id, &e, &n);
    if (rc) return rc;
    qsort(e, (size_t)n, sizeof *e, cmp_entry);
    if (!g_cli.json) printf("%-44s %-30s %-30s %s\n", "CONFIG", "VALUE", "SOURCE", "DYNAMIC");
    for (int k = 0; k < n; k++) {
        const char *src = rd_kafka_ConfigSource_name((rd_kafka_ConfigSource_t)e[k].source);
        if (g_cli.json)
            cli_json_print(json_pack("{s:s,s:s,s:s?,s:s,s:b,s:b}", "broker", id, "config",
                                     e[k].name, "value", e[k].value, "source", src, "dynamic",
                                     !e[k].read_only, "sensitive", e[k].sensitive));
        else
            printf("%-44s %-30s %-30s %s\n", e[k].name,
                   e[k].sensitive ? "(sensitive)"
                   : e[k].value   ? e[k].value
                                  : "(null)",
                   src, e[k].read_only ? "no" : "yes");
    }
    free_entries(e, n);
    return CLI_OK;
}

static bool named(const char *set, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(set, name, n) && set[n] == '=';
}

static int configs_alter(rd_kafka_t *rk, const char *id, const char **sets, int nsets,
                         const char **dels, int ndels)
{
    bentry *cur;
    int ncur, rc = get_broker_configs(rk, id, &cur, &ncur);
    if (rc) return rc;
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, id);
    for (int k = 0; k < ncur; k++) { /* kept: this broker's dynamic settings not touched */
        if (cur[k].source != RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG || !cur[k].value)
            continue;
        bool touched = false;
        for (int i = 0; i < ndels; i++) touched |= !strcmp(dels[i], cur[k].name);
        for (int i = 0; i < nsets; i++) touched |= named(sets[i], cur[k].name);
        if (!touched) rd_kafka_ConfigResource_set_config(cr, cur[k].name, cur[k].value);
    }
    char *what = xasprintf("broker %s", id);
    rc = cli_alter_configs(rk, cr, sets, nsets, what);
    free(what);
    bentry *now;
    int nnow;
    if (rc == CLI_OK && get_broker_configs(rk, id, &now, &nnow) == CLI_OK) {
        for (int k = 0; k < nnow; k++) {
            bool mentioned = false;
            for (int i = 0; i < ndels; i++) mentioned |= !strcmp(dels[i], now[k].name);
            for (int i = 0; i < nsets; i++) mentioned |= named(sets[i], now[k].name);
            if (!mentioned) continue;
            const char *was = NULL;
            for (int i = 0; i < ncur; i++)
                if (!strcmp(cur[i].name, now[k].name)) was = cur[i].value;
            const char *src = rd_kafka_ConfigSource_name((rd_kafka_ConfigSource_t)now[k].source);
            if (g_cli.json)
                cli_json_print(json_pack("{s:s,s:s,s:s?,s:s?,s:s}", "broker", id, "config",
                                         now[k].name, "before", was, "after", now[k].value,
                                         "source", src));
            else
                printf("broker %s %s: %s -> %s (%s)\n", id, now[k].name, was ? was : "(null)",
                       now[k].value ? now[k].value : "(null)", src);
        }
        free_entries(now, nnow);
    }
    free_entries(cur, ncur);
    rd_kafka_ConfigResource_destroy(cr);
    return rc;
}

int cmd_configs(int argc, char **argv)
{
    static const struct option lo[] = {
        CLI_GLOBAL_LONGOPTS,
        {"broker", required_argument, NULL, 'B'},
        {"set", required_argument, NULL, 'c'},
        {"delete", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    const char *sets[MAX_CONFIGS], *dels[MAX_CONFIGS], *id = NULL;
    int nsets = 0, ndels = 0, c, rc;
    while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS "c:B:", lo, k_usage, &rc)) != -1) {
        switch (c) {
        case CLI_OPT_EXIT: return rc;
        case 'B': {
            long long x;
            if (cli_parse_int(optarg, 0, 2147483647LL, &x))
                return cli_usage_error(k_usage, "--broker wants a broker id, got '%s'", optarg);
            id = optarg;
            break;
        }
        case 'c':
            if (!strchr(optarg, '=') || optarg[0] == '=' || nsets >= MAX_CONFIGS)
                return cli_usage_error(k_usage, "--set wants key=value, got '%s'", optarg);
            sets[nsets++] = optarg;
            break;
        case 'D':
            if (!*optarg || strchr(optarg, '=') || ndels >= MAX_CONFIGS)
                return cli_usage_error(k_usage, "--delete wants a setting name, got '%s'", optarg);
            dels[ndels++] = optarg;
            break;
        }
    }
    int npos = argc - optind;
    char **pos = argv + optind;
    if (npos < 1) return cli_usage_error(k_usage, "configs: which subcommand?");
    if (npos > 1) return cli_usage_error(k_usage, "configs: too many arguments");
    bool alter = !strcmp(pos[0], "alter");
    if (!alter && strcmp(pos[0], "describe"))
        return cli_usage_error(k_usage, "configs: unknown subcommand '%s'", pos[0]);
    if (alter && nsets + ndels == 0)
        return cli_usage_error(k_usage,
                               "configs alter: what to change? --set key=value or --delete key");
    if (!alter && nsets + ndels)
        return cli_usage_error(k_usage, "configs describe: --set/--delete belong to alter");
    rd_kafka_t *rk = cli_client(RD_KAFKA_PRODUCER, NULL, 0);
    if (!rk) return CLI_EUSAGE;
    char idbuf[16];
    rc = CLI_OK;
    if (!id) {
        const struct rd_kafka_metadata *md;
        rc = cli_metadata(rk, &md);
        if (rc == CLI_OK) {
            if (md->broker_cnt > 0) {
                snprintf(idbuf, sizeof idbuf, "%d", (int)md->brokers[0].id);
                id = idbuf;
            } else {
                rc = cli_fail(CLI_EFAIL, "the cluster's metadata lists no broker");
            }
            rd_kafka_metadata_destroy(md);
        }
    }
    if (rc == CLI_OK)
        rc = alter ? configs_alter(rk, id, sets, nsets, dels, ndels) : configs_describe(rk, id);
    rd_kafka_destroy(rk);
    return rc;
}
