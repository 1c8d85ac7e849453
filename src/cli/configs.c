/* configs.c — `eddy configs describe|alter`: a broker's settings (DescribeConfigs on the BROKER
 * resource) and its dynamic ones (AlterConfigs), in the spirit of kafka-configs.sh
 * --entity-type brokers; and the steps `eddy topics describe|alter-config` share with it
 * (cli_describe_configs, cli_change_configs). librdkafka 2.0 has no IncrementalAlterConfigs and
 * sends BROKER resources by id only, so a change carries the resource's current dynamic settings
 * with the changes applied (AlterConfigs replaces the whole set), for one broker id.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/util.h"

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

/* ---- one topic's or broker's settings, read and changed (shared with topics.c) ---- */

void cli_configs_free(cli_config *c, int n)
{
    for (int i = 0; i < n; i++) {
        free(c[i].name);
        free(c[i].value);
    }
    free(c);
}

static int cmp_config(const void *a, const void *b)
{
    return strcmp(((const cli_config *)a)->name, ((const cli_config *)b)->name);
}

static char *config_what(rd_kafka_ResourceType_t type, const char *name)
{
    return xasprintf("%s %s", type == RD_KAFKA_RESOURCE_BROKER ? "broker" : "topic", name);
}

/* One DescribeConfigs (alter false) or AlterConfigs request of cr: CLI_OK with *res the
 * answer's resources (in a->ev), none with an error; else an exit code after printing why. The
 * caller ends a with cli_admin_end either way. */
static int config_request(cli_admin *a, rd_kafka_t *rk, rd_kafka_ConfigResource_t *cr, bool alter,
                          const char *what, const rd_kafka_ConfigResource_t ***res, size_t *nres)
{
    const char *verb = alter ? "alter configs" : "configs";
    cli_admin_start(a, rk,
                    alter ? RD_KAFKA_ADMIN_OP_ALTERCONFIGS : RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    if (alter)
        rd_kafka_AlterConfigs(rk, &cr, 1, a->o, a->q);
    else
        rd_kafka_DescribeConfigs(rk, &cr, 1, a->o, a->q);
    int rc = cli_admin_result(
        a, alter ? RD_KAFKA_EVENT_ALTERCONFIGS_RESULT : RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT,
        "%s of %s", verb, what);
    if (rc) return rc;
    *res = alter ? rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(a->ev),
                                                          nres)
                 : rd_kafka_DescribeConfigs_result_resources(
                       rd_kafka_event_DescribeConfigs_result(a->ev), nres);
    for (size_t i = 0; i < *nres; i++) {
        rd_kafka_resp_err_t e = rd_kafka_ConfigResource_error((*res)[i]);
        if (e)
            return cli_fail(e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? CLI_ENOTFOUND
                                                                         : CLI_EFAIL,
                            "%s of %s: %s (%s)", verb, what,
                            rd_kafka_ConfigResource_error_string((*res)[i]), rd_kafka_err2name(e));
    }
    return CLI_OK;
}

int cli_describe_configs(rd_kafka_t *rk, rd_kafka_ResourceType_t type, const char *name,
                         cli_config **out, int *nout)
{
    *out = NULL;
    *nout = 0;
    char *what = config_what(type, name);
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(type, name);
    cli_admin a;
    const rd_kafka_ConfigResource_t **res;
    size_t nres;
    int rc = config_request(&a, rk, cr, false, what, &res, &nres);
    if (rc == CLI_OK && nres > 0) {
        size_t n = 0;
        const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(res[0], &n);
        *out = xcalloc(n + 1, sizeof **out);
        for (size_t k = 0; k < n; k++) {
            const char *v = rd_kafka_ConfigEntry_value(ents[k]);
            (*out)[k].name = xstrdup(rd_kafka_ConfigEntry_name(ents[k]));
            (*out)[k].value = v ? xstrdup(v) : NULL;
            (*out)[k].source = rd_kafka_ConfigEntry_source(ents[k]);
            (*out)[k].read_only = rd_kafka_ConfigEntry_is_read_only(ents[k]);
            (*out)[k].sensitive = rd_kafka_ConfigEntry_is_sensitive(ents[k]);
        }
        *nout = (int)n;
        qsort(*out, n, sizeof **out, cmp_config);
    }
    cli_admin_end(&a);
    rd_kafka_ConfigResource_destroy(cr);
    free(what);
    return rc;
}

int cli_config_edit_opt(cli_config_edit *e, int del, const char *arg, const char *usage)
{
    if (del) {
        if (!*arg || strchr(arg, '=') || e->ndels >= CLI_MAX_CONFIGS)
            return cli_usage_error(usage, "--delete wants a config name, got '%s'", arg);
        e->dels[e->ndels++] = arg;
    } else {
        if (!strchr(arg, '=') || arg[0] == '=' || e->nsets >= CLI_MAX_CONFIGS)
            return cli_usage_error(usage, "-c/--set wants key=value, got '%s'", arg);
        e->sets[e->nsets++] = arg;
    }
    return CLI_OK;
}

static const cli_config *find_config(const cli_config *c, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(c[i].name, name)) return &c[i];
    return NULL;
}

/* Does e set or delete name? */
static bool edit_names(const cli_config_edit *e, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < e->ndels; i++)
        if (!strcmp(e->dels[i], name)) return true;
    for (int i = 0; i < e->nsets; i++)
        if (!strncmp(e->sets[i], name, n) && e->sets[i][n] == '=') return true;
    return false;
}

int cli_change_configs(rd_kafka_t *rk, const cli_config_edit *e, cli_config_changed_fn changed)
{
    rd_kafka_ConfigSource_t own = e->type == RD_KAFKA_RESOURCE_BROKER
                                      ? RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG
                                      : RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG;
    char *what = config_what(e->type, e->name);
    cli_config *cur, *now;
    int ncur, nnow;
    int rc = cli_describe_configs(rk, e->type, e->name, &cur, &ncur);
    if (rc) goto out;
    for (int i = 0; i < e->ndels && rc == CLI_OK; i++)
        if (!find_config(cur, ncur, e->dels[i]))
            rc = cli_fail(CLI_EUSAGE, "%s has no config '%s' (eddy %s %s lists them)", what,
                          e->dels[i],
                          e->type == RD_KAFKA_RESOURCE_BROKER ? "configs describe --broker"
                                                              : "topics describe",
                          e->name);
    if (rc) goto out_cur;
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(e->type, e->name);
    for (int k = 0; k < ncur; k++) /* kept: its own dynamic settings e does not name */
        if (cur[k].source == own && cur[k].value && !edit_names(e, cur[k].name))
            rd_kafka_ConfigResource_set_config(cr, cur[k].name, cur[k].value);
    for (int i = 0; i < e->nsets; i++) {
        const char *eq = strchr(e->sets[i], '=');
        char *k = xstrndup(e->sets[i], (size_t)(eq - e->sets[i]));
        rd_kafka_ConfigResource_set_config(cr, k, eq + 1);
        free(k);
    }
    cli_admin a;
    const rd_kafka_ConfigResource_t **res;
    size_t nres;
    rc = config_request(&a, rk, cr, true, what, &res, &nres);
    cli_admin_end(&a);
    rd_kafka_ConfigResource_destroy(cr);
    if (rc == CLI_OK && cli_describe_configs(rk, e->type, e->name, &now, &nnow) == CLI_OK) {
        for (int k = 0; k < nnow; k++) {
            if (!edit_names(e, now[k].name)) continue;
            const cli_config *was = find_config(cur, ncur, now[k].name);
            changed(e, &now[k], was ? was->value : NULL);
        }
        cli_configs_free(now, nnow);
    }
out_cur:
    cli_configs_free(cur, ncur);
out:
    free(what);
    return rc;
}

/* ---- eddy configs ---- */

static int configs_describe(rd_kafka_t *rk, const char *id)
{
    cli_config *e;
    int n, rc = cli_describe_configs(rk, RD_KAFKA_RESOURCE_BROKER, id, &e, &n);
    if (rc) return rc;
    if (!g_cli.json) printf("%-44s %-30s %-30s %s\n", "CONFIG", "VALUE", "SOURCE", "DYNAMIC");
    for (int k = 0; k < n; k++) {
        const char *src = rd_kafka_ConfigSource_name(e[k].source);
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
    cli_configs_free(e, n);
    return CLI_OK;
}

static void broker_changed(const cli_config_edit *e, const cli_config *now, const char *before)
{
    const char *id = e->name, *src = rd_kafka_ConfigSource_name(now->source);
    if (g_cli.json)
        cli_json_print(json_pack("{s:s,s:s,s:s?,s:s?,s:s}", "broker", id, "config", now->name,
                                 "before", before, "after", now->value, "source", src));
    else
        printf("broker %s %s: %s -> %s (%s)\n", id, now->name, before ? before : "(null)",
               now->value ? now->value : "(null)", src);
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
    cli_config_edit e = {.type = RD_KAFKA_RESOURCE_BROKER};
    int c, rc;
    while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS "c:B:", lo, k_usage, &rc)) != -1) {
        switch (c) {
        case CLI_OPT_EXIT: return rc;
        case 'B': {
            long long x;
            if (cli_parse_int(optarg, 0, 2147483647LL, &x))
                return cli_usage_error(k_usage, "--broker wants a broker id, got '%s'", optarg);
            e.name = optarg;
            break;
        }
        case 'c':
        case 'D':
            if (cli_config_edit_opt(&e, c == 'D', optarg, k_usage)) return CLI_EUSAGE;
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
    if (alter && e.nsets + e.ndels == 0)
        return cli_usage_error(k_usage,
                               "configs alter: what to change? --set key=value or --delete key");
    if (!alter && e.nsets + e.ndels)
        return cli_usage_error(k_usage, "configs describe: --set/--delete belong to alter");
    rd_kafka_t *rk = cli_client(RD_KAFKA_PRODUCER, NULL, 0);
    if (!rk) return CLI_EUSAGE;
    char idbuf[16];
    rc = CLI_OK;
    if (!e.name) {
        const struct rd_kafka_metadata *md;
        rc = cli_metadata(rk, &md);
        if (rc == CLI_OK) {
            if (md->broker_cnt > 0) {
                snprintf(idbuf, sizeof idbuf, "%d", (int)md->brokers[0].id);
                e.name = idbuf;
            } else {
                rc = cli_fail(CLI_EFAIL, "the cluster's metadata lists no broker");
            }
            rd_kafka_metadata_destroy(md);
        }
    }
    if (rc == CLI_OK)
        rc = alter ? cli_change_configs(rk, &e, broker_changed) : configs_describe(rk, e.name);
    rd_kafka_destroy(rk);
    return rc;
}
