/* acls.c — `eddy acls add|list|delete`: Kafka ACLs through librdkafka's admin API (CreateAcls,
 * DescribeAcls, DeleteAcls), in the spirit of kafka-acls.sh. Works against any broker with an
 * authorizer (eddyd with authorizer.class.name set, Kafka, Redpanda). docs/security.md. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

static const char *const k_usage =
    "usage: eddy acls add (--allow-principal P | --deny-principal P) --operation OP...\n"
    "                     RESOURCE [--resource-pattern-type literal|prefixed] [--host H]\n"
    "       eddy acls list [RESOURCE] [--principal P] [--resource-pattern-type TYPE] [--json]\n"
    "       eddy acls delete [RESOURCE] [--principal P | --allow-principal P | --deny-principal P]\n"
    "                        [--operation OP] [--resource-pattern-type TYPE] [--host H]\n"
    "  RESOURCE        --topic NAME | --group NAME | --cluster  (NAME '*' = every one)\n"
    "  --operation     Read, Write, Create, Delete, Alter, Describe, DescribeConfigs,\n"
    "                  AlterConfigs, IdempotentWrite, ClusterAction, All (repeatable for add)\n"
    "  --resource-pattern-type  add: literal (default) or prefixed; list/delete: any (default),\n"
    "                  match (every ACL that applies to the name), literal, prefixed\n"
    "  --host          the client address the ACL applies to (default '*': every address)\n"
    "  delete          removes every ACL matching the filter and prints them; with no filter\n"
    "                  at all it refuses (use --topic '*' style filters deliberately)\n"
    "examples:\n"
    "  eddy acls add --allow-principal User:orders --operation Write --topic orders\n"
    "  eddy acls add --allow-principal User:billing --operation Read --topic pay. \\\n"
    "                --resource-pattern-type prefixed\n"
    "  eddy acls add --allow-principal User:billing --operation Read --group billing\n"
    "  eddy acls list --topic orders --resource-pattern-type match\n"
    "  eddy acls delete --principal User:billing\n";

static const struct {
    const char *name;
    rd_kafka_AclOperation_t op;
} k_ops[] = {
    {"All", RD_KAFKA_ACL_OPERATION_ALL},
    {"Read", RD_KAFKA_ACL_OPERATION_READ},
    {"Write", RD_KAFKA_ACL_OPERATION_WRITE},
    {"Create", RD_KAFKA_ACL_OPERATION_CREATE},
    {"Delete", RD_KAFKA_ACL_OPERATION_DELETE},
    {"Alter", RD_KAFKA_ACL_OPERATION_ALTER},
    {"Describe", RD_KAFKA_ACL_OPERATION_DESCRIBE},
    {"ClusterAction", RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION},
    {"DescribeConfigs", RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS},
    {"AlterConfigs", RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS},
    {"IdempotentWrite", RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE},
};

static int op_parse(const char *s)
{
    for (size_t i = 0; i < sizeof k_ops / sizeof k_ops[0]; i++)
        if (!strcasecmp(s, k_ops[i].name)) return k_ops[i].op;
    return -1;
}

static const char *op_name(int op)
{
    for (size_t i = 0; i < sizeof k_ops / sizeof k_ops[0]; i++)
        if ((int)k_ops[i].op == op) return k_ops[i].name;
    return "Unknown";
}

static const char *restype_name(int t)
{
    return t == RD_KAFKA_RESOURCE_TOPIC    ? "Topic"
           : t == RD_KAFKA_RESOURCE_GROUP  ? "Group"
           : t == RD_KAFKA_RESOURCE_BROKER ? "Cluster"
                                           : "Unknown";
}

static const char *pattern_name(int p)
{
    return p == RD_KAFKA_RESOURCE_PATTERN_LITERAL    ? "LITERAL"
           : p == RD_KAFKA_RESOURCE_PATTERN_PREFIXED ? "PREFIXED"
                                                     : "UNKNOWN";
}

static void print_acl(const rd_kafka_AclBinding_t *a, const char *prefix)
{
    if (g_cli.json) {
        printf("{\"resource_type\":\"%s\",\"resource_name\":\"%s\",\"pattern_type\":\"%s\","
               "\"principal\":\"%s\",\"host\":\"%s\",\"operation\":\"%s\",\"permission\":\"%s\"}\n",
               restype_name(rd_kafka_AclBinding_restype(a)), rd_kafka_AclBinding_name(a),
               pattern_name(rd_kafka_AclBinding_resource_pattern_type(a)),
               rd_kafka_AclBinding_principal(a), rd_kafka_AclBinding_host(a),
               op_name(rd_kafka_AclBinding_operation(a)),
               rd_kafka_AclBinding_permission_type(a) == RD_KAFKA_ACL_PERMISSION_TYPE_DENY
                   ? "DENY"
                   : "ALLOW");
        return;
    }
    printf("%s%-7s %-8s %s:%s  %s from %s  %s\n", prefix,
           rd_kafka_AclBinding_permission_type(a) == RD_KAFKA_ACL_PERMISSION_TYPE_DENY ? "DENY"
                                                                                       : "ALLOW",
           pattern_name(rd_kafka_AclBinding_resource_pattern_type(a)),
           restype_name(rd_kafka_AclBinding_restype(a)), rd_kafka_AclBinding_name(a),
           rd_kafka_AclBinding_principal(a), rd_kafka_AclBinding_host(a),
           op_name(rd_kafka_AclBinding_operation(a)));
}

typedef struct acl_args {
    int restype; /* RD_KAFKA_RESOURCE_ANY when not given */
    const char *name;
    int pattern; /* -1 = not given */
    const char *principal;
    int perm; /* RD_KAFKA_ACL_PERMISSION_TYPE_ANY when not given */
    const char *host;
    int ops[16];
    int nops;
} acl_args;

static int acls_add(rd_kafka_t *rk, const acl_args *a)
{
    char errstr[512];
    rd_kafka_AclBinding_t *nb[16];
    int n = 0, rc = CLI_OK;
    for (int i = 0; i < a->nops; i++) {
        nb[n] = rd_kafka_AclBinding_new(
            (rd_kafka_ResourceType_t)a->restype, a->name,
            a->pattern < 0 ? RD_KAFKA_RESOURCE_PATTERN_LITERAL
                           : (rd_kafka_ResourcePatternType_t)a->pattern,
            a->principal, a->host ? a->host : "*", (rd_kafka_AclOperation_t)a->ops[i],
            (rd_kafka_AclPermissionType_t)a->perm, errstr, sizeof errstr);
        if (!nb[n]) {
            rc = cli_fail(CLI_EUSAGE, "acls add: %s", errstr);
            break;
        }
        n++;
    }
    if (rc == CLI_OK) {
        cli_admin ad;
        cli_admin_start(&ad, rk, RD_KAFKA_ADMIN_OP_CREATEACLS);
        rd_kafka_CreateAcls(rk, nb, (size_t)n, ad.o, ad.q);
        rc = cli_admin_result(&ad, RD_KAFKA_EVENT_CREATEACLS_RESULT, "acls add");
        if (!rc) {
            size_t cnt;
            const rd_kafka_acl_result_t **res =
                rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ad.ev), &cnt);
            for (size_t i = 0; i < cnt; i++) {
                const rd_kafka_error_t *e = rd_kafka_acl_result_error(res[i]);
                if (e && rd_kafka_error_code(e)) {
                    rc = cli_fail(CLI_EFAIL, "acls add: %s (%s)", rd_kafka_error_string(e),
                                  rd_kafka_error_name(e));
                } else if (i < (size_t)n) {
                    print_acl(nb[i], g_cli.json ? "" : "added ");
                }
            }
        }
        cli_admin_end(&ad);
    }
    for (int i = 0; i < n; i++) rd_kafka_AclBinding_destroy(nb[i]);
    return rc;
}

static rd_kafka_AclBindingFilter_t *make_filter(const acl_args *a, int op)
{
    char errstr[512];
    rd_kafka_AclBindingFilter_t *f = rd_kafka_AclBindingFilter_new(
        (rd_kafka_ResourceType_t)a->restype, a->name,
        a->pattern < 0 ? RD_KAFKA_RESOURCE_PATTERN_ANY : (rd_kafka_ResourcePatternType_t)a->pattern,
        a->principal, a->host, (rd_kafka_AclOperation_t)op, (rd_kafka_AclPermissionType_t)a->perm,
        errstr, sizeof errstr);
    if (!f) cli_fail(CLI_EUSAGE, "acls: %s", errstr);
    return f;
}

static int acls_list(rd_kafka_t *rk, const acl_args *a)
{
    rd_kafka_AclBindingFilter_t *f = make_filter(a, RD_KAFKA_ACL_OPERATION_ANY);
    if (!f) return CLI_EUSAGE;
    cli_admin ad;
    cli_admin_start(&ad, rk, RD_KAFKA_ADMIN_OP_DESCRIBEACLS);
    rd_kafka_DescribeAcls(rk, f, ad.o, ad.q);
    int rc = cli_admin_result(&ad, RD_KAFKA_EVENT_DESCRIBEACLS_RESULT, "acls list");
    if (!rc) {
        size_t cnt;
        const rd_kafka_AclBinding_t **acls =
            rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ad.ev), &cnt);
        for (size_t i = 0; i < cnt; i++) print_acl(acls[i], "");
        if (!cnt && !g_cli.json) fprintf(stderr, "eddy: no ACL matches\n");
    }
    cli_admin_end(&ad);
    rd_kafka_AclBinding_destroy(f);
    return rc;
}

static int acls_delete(rd_kafka_t *rk, const acl_args *a)
{
    rd_kafka_AclBindingFilter_t *f =
        make_filter(a, a->nops ? a->ops[0] : RD_KAFKA_ACL_OPERATION_ANY);
    if (!f) return CLI_EUSAGE;
    cli_admin ad;
    cli_admin_start(&ad, rk, RD_KAFKA_ADMIN_OP_DELETEACLS);
    rd_kafka_DeleteAcls(rk, &f, 1, ad.o, ad.q);
    int rc = cli_admin_result(&ad, RD_KAFKA_EVENT_DELETEACLS_RESULT, "acls delete");
    if (!rc) {
        size_t nr, total = 0;
        const rd_kafka_DeleteAcls_result_response_t **rs =
            rd_kafka_DeleteAcls_result_responses(rd_kafka_event_DeleteAcls_result(ad.ev), &nr);
        for (size_t i = 0; i < nr; i++) {
            const rd_kafka_error_t *e = rd_kafka_DeleteAcls_result_response_error(rs[i]);
            if (e && rd_kafka_error_code(e)) {
                rc = cli_fail(CLI_EFAIL, "acls delete: %s (%s)", rd_kafka_error_string(e),
                              rd_kafka_error_name(e));
                continue;
            }
            size_t m;
            const rd_kafka_AclBinding_t **acls =
                rd_kafka_DeleteAcls_result_response_matching_acls(rs[i], &m);
            for (size_t j = 0; j < m; j++) print_acl(acls[j], g_cli.json ? "" : "deleted ");
            total += m;
        }
        if (!rc && total == 0) rc = cli_fail(CLI_ENOTFOUND, "acls delete: no ACL matched");
    }
    cli_admin_end(&ad);
    rd_kafka_AclBinding_destroy(f);
    return rc;
}

int cmd_acls(int argc, char **argv)
{
    static const struct option lo[] = {
        CLI_GLOBAL_LONGOPTS,
        {"allow-principal", required_argument, NULL, 'A'},
        {"deny-principal", required_argument, NULL, 'D'},
        {"principal", required_argument, NULL, 'P'},
        {"operation", required_argument, NULL, 'o'},
        {"topic", required_argument, NULL, 'T'},
        {"group", required_argument, NULL, 'G'},
        {"cluster", no_argument, NULL, 'C'},
        {"transactional-id", required_argument, NULL, 'x'},
        {"resource-pattern-type", required_argument, NULL, 'p'},
        {"host", required_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    acl_args a = {
        .restype = RD_KAFKA_RESOURCE_ANY, .pattern = -1, .perm = RD_KAFKA_ACL_PERMISSION_TYPE_ANY};
    int c, rc, nres = 0;
    while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS, lo, k_usage, &rc)) != -1) {
        switch (c) {
        case CLI_OPT_EXIT: return rc;
        case 'A':
        case 'D':
        case 'P':
            if (a.principal)
                return cli_usage_error(k_usage, "one principal option, please (got a second: %s)",
                                       optarg);
            a.principal = optarg;
            if (c != 'P')
                a.perm = c == 'A' ? RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW
                                  : RD_KAFKA_ACL_PERMISSION_TYPE_DENY;
            break;
        case 'o': {
            int op = op_parse(optarg);
            if (op < 0) return cli_usage_error(k_usage, "unknown operation '%s'", optarg);
            if (a.nops >= 16) return cli_usage_error(k_usage, "at most 16 --operation");
            a.ops[a.nops++] = op;
            break;
        }
        case 'T':
        case 'G':
        case 'C':
            nres++;
            a.restype = c == 'T'   ? RD_KAFKA_RESOURCE_TOPIC
                        : c == 'G' ? RD_KAFKA_RESOURCE_GROUP
                                   : RD_KAFKA_RESOURCE_BROKER;
            a.name = c == 'C' ? "kafka-cluster" : optarg;
            break;
        case 'x':
            return cli_fail(CLI_EUSAGE, "--transactional-id: librdkafka's admin API (which eddy "
                                        "uses) has no TransactionalId resource type yet; use "
                                        "kafka-acls.sh or kafka-python for those ACLs");
        case 'p':
            a.pattern = !strcasecmp(optarg, "literal")    ? RD_KAFKA_RESOURCE_PATTERN_LITERAL
                        : !strcasecmp(optarg, "prefixed") ? RD_KAFKA_RESOURCE_PATTERN_PREFIXED
                        : !strcasecmp(optarg, "match")    ? RD_KAFKA_RESOURCE_PATTERN_MATCH
                        : !strcasecmp(optarg, "any")      ? RD_KAFKA_RESOURCE_PATTERN_ANY
                                                          : -2;
            if (a.pattern == -2)
                return cli_usage_error(k_usage, "unknown --resource-pattern-type '%s'", optarg);
            break;
        case 'H': a.host = optarg; break;
        }
    }
    if (argc - optind != 1) return cli_usage_error(k_usage, "acls: which subcommand?");
    const char *sub = argv[optind];
    if (nres > 1) return cli_usage_error(k_usage, "one resource (--topic, --group or --cluster)");
    bool add = !strcmp(sub, "add");
    if (add) {
        if (!nres) return cli_usage_error(k_usage, "acls add: which resource?");
        if (a.perm == RD_KAFKA_ACL_PERMISSION_TYPE_ANY)
            return cli_usage_error(k_usage, "acls add: --allow-principal or --deny-principal");
        if (!a.nops) return cli_usage_error(k_usage, "acls add: which --operation?");
        if (a.pattern == RD_KAFKA_RESOURCE_PATTERN_ANY ||
            a.pattern == RD_KAFKA_RESOURCE_PATTERN_MATCH)
            return cli_usage_error(k_usage, "acls add: the pattern is literal or prefixed");
    } else if (!strcmp(sub, "delete")) {
        if (!nres && !a.principal && !a.nops && !a.host)
            return cli_usage_error(k_usage, "acls delete: give a filter (a resource, principal, "
                                            "operation or host)");
        if (a.nops > 1) return cli_usage_error(k_usage, "acls delete: one --operation");
    } else if (strcmp(sub, "list") && strcmp(sub, "ls")) {
        return cli_usage_error(k_usage, "acls: unknown subcommand '%s'", sub);
    }
    rd_kafka_t *rk = cli_client(RD_KAFKA_PRODUCER, NULL, 0);
    if (!rk) return CLI_EFAIL;
    rc = add ? acls_add(rk, &a) : !strcmp(sub, "delete") ? acls_delete(rk, &a) : acls_list(rk, &a);
    rd_kafka_destroy(rk);
    return rc;
}
