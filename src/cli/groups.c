/* groups.c — `eddy groups list|describe GROUP|lag [GROUP]|reset GROUP|delete GROUP...`:
 * librdkafka's Admin API (ListConsumerGroups, DescribeConsumerGroups, ListConsumerGroupOffsets,
 * AlterConsumerGroupOffsets, DeleteGroups) plus ListOffsets (query_watermark_offsets,
 * offsets_for_times); lag per partition = high watermark − committed offset. */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static const char *const k_usage =
    "usage: eddy groups list [--json]\n"
    "       eddy groups describe GROUP [--json]\n"
    "       eddy groups lag [GROUP] [--json]\n"
    "       eddy groups reset GROUP (--to-earliest | --to-latest | --to-datetime RFC3339 |\n"
    "                               --to-timestamp MS | --to-offset N | --shift-by [-]N)\n"
    "                               [--topic TOPIC[:P,P...]]... [--dry-run] [--force]\n"
    "       eddy groups delete GROUP...\n"
    "  list      consumer groups and their states\n"
    "  describe  state, assignor, coordinator, members and their partitions, then the lag\n"
    "  lag       committed offset, high watermark and lag (HWM - committed) per partition,\n"
    "            of GROUP or of every group\n"
    "  reset     moves GROUP's committed offsets (per partition, clamped to the log start and\n"
    "            end) and prints BEFORE and AFTER for each partition. Partitions: those of\n"
    "            --topic (all, or the listed ones), else every partition the group has\n"
    "            committed offsets on. --dry-run only prints. Refused while the group has\n"
    "            members (their next commit would undo it) unless --force.\n"
    "  delete    deletes the groups and their committed offsets (a group with members: exit 1)\n"
    "examples:\n"
    "  eddy groups reset billing --to-earliest --topic orders --dry-run\n"
    "  eddy groups reset billing --to-datetime 2026-05-12T10:00:00Z\n"
    "  eddy groups reset billing --shift-by -10 --topic orders:0,1\n"
    "  eddy groups delete billing\n";

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every group id (sorted, malloc'd strings) with its state name in states (same index). */
static int list_groups(rd_kafka_t *rk, char ***ids_out, char ***states_out, int *n_out)
{
    cli_admin a;
    cli_admin_start(&a, rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
    rd_kafka_ListConsumerGroups(rk, a.o, a.q);
    *ids_out = *states_out = NULL;
    *n_out = 0;
    int rc = cli_admin_result(&a, RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT, "list groups");
    if (rc == CLI_OK) {
        const rd_kafka_ListConsumerGroups_result_t *res =
            rd_kafka_event_ListConsumerGroups_result(a.ev);
        size_t n = 0, nerr = 0;
        const rd_kafka_ConsumerGroupListing_t **gl =
            rd_kafka_ListConsumerGroups_result_valid(res, &n);
        const rd_kafka_error_t **errs = rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
        for (size_t i = 0; i < nerr; i++)
            fprintf(stderr, "eddy: list groups: %s\n", rd_kafka_error_string(errs[i]));
        /* Sort "id\0state" pairs by id: keep them together in one string. */
        char **pairs = xcalloc(n + 1, sizeof *pairs);
        for (size_t i = 0; i < n; i++)
            pairs[i] = xasprintf(
                "%s%c%s", rd_kafka_ConsumerGroupListing_group_id(gl[i]), 0,
                rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupListing_state(gl[i])));
        qsort(pairs, n, sizeof *pairs, cmp_str);
        char **ids = xcalloc(n + 1, sizeof *ids), **states = xcalloc(n + 1, sizeof *states);
        for (size_t i = 0; i < n; i++) {
            ids[i] = xstrdup(pairs[i]);
            states[i] = xstrdup(pairs[i] + strlen(pairs[i]) + 1);
            free(pairs[i]);
        }
        free(pairs);
        *ids_out = ids;
        *states_out = states;
        *n_out = (int)n;
        if (nerr && !n) rc = CLI_EFAIL;
    }
    cli_admin_end(&a);
    return rc;
}

static void free_strv(char **v, int n)
{
    for (int i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

static int groups_list(rd_kafka_t *rk)
{
    char **ids, **states;
    int n;
    int rc = list_groups(rk, &ids, &states, &n);
    if (rc) return rc;
    if (!g_cli.json) printf("%-40s %s\n", "GROUP", "STATE");
    for (int i = 0; i < n; i++) {
        if (g_cli.json)
            cli_json_print(json_pack("{s:s,s:s}", "group", ids[i], "state", states[i]));
        else
            printf("%-40s %s\n", ids[i], states[i]);
    }
    free_strv(ids, n);
    free_strv(states, n);
    return CLI_OK;
}

typedef struct lag_row {
    char *topic;
    int32_t partition;
    int64_t committed, high, lag;
} lag_row;

static int cmp_row(const void *a, const void *b)
{
    const lag_row *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Adds the partitions of the group's topics that have no commit: committed -1 and lag unknown
 * (-1, printed "-" and left out of the total), as kafka-consumer-groups.sh shows them and as
 * eddyd's /metrics counts lag (only where an offset is committed). */
static lag_row *add_uncommitted(rd_kafka_t *rk, lag_row *rows, int *np)
{
    const struct rd_kafka_metadata *md;
    int n = *np, n0 = *np;
    if (n == 0 || rd_kafka_metadata(rk, 1, NULL, &md, g_cli.timeout_ms)) return rows;
    for (int i = 0; i < n0; i++) {
        int seen = 0;
        for (int k = 0; k < i && !seen; k++) seen = !strcmp(rows[k].topic, rows[i].topic);
        const struct rd_kafka_metadata_topic *t = seen ? NULL : cli_md_topic(md, rows[i].topic);
        for (int p = 0; t && p < t->partition_cnt; p++) {
            int32_t id = t->partitions[p].id;
            int have = 0;
            for (int k = 0; k < n0 && !have; k++)
                have = rows[k].partition == id && !strcmp(rows[k].topic, t->topic);
            int64_t lo = 0, hi = 0;
            if (have || /* (lo unused: no lag is claimed for a partition without a commit) */
                rd_kafka_query_watermark_offsets(rk, t->topic, id, &lo, &hi, g_cli.timeout_ms))
                continue;
            rows = xrealloc(rows, sizeof *rows * (size_t)(n + 1));
            rows[n].topic = xstrdup(t->topic);
            rows[n].partition = id;
            rows[n].committed = -1;
            rows[n].high = hi;
            rows[n].lag = -1;
            n++;
        }
    }
    rd_kafka_metadata_destroy(md);
    *np = n;
    return rows;
}

/* The committed offsets of group with their lag. *nrows = 0 when nothing is committed. */
static int group_lag_rows(rd_kafka_t *rk, const char *group, lag_row **rows_out, int *nrows)
{
    *rows_out = NULL;
    *nrows = 0;
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
    cli_admin a;
    cli_admin_start(&a, rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, a.o, a.q);
    int rc = cli_admin_result(&a, RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT,
                              "offsets of group %s", group);
    if (rc == CLI_OK) {
        size_t ng = 0;
        const rd_kafka_group_result_t **gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
            rd_kafka_event_ListConsumerGroupOffsets_result(a.ev), &ng);
        for (size_t i = 0; rc == CLI_OK && i < ng; i++) {
            const rd_kafka_error_t *ge = rd_kafka_group_result_error(gr[i]);
            if (ge) {
                rc = cli_fail(CLI_EFAIL, "offsets of group %s: %s", group,
                              rd_kafka_error_string(ge));
                break;
            }
            const rd_kafka_topic_partition_list_t *l = rd_kafka_group_result_partitions(gr[i]);
            lag_row *rows = xcalloc((size_t)(l ? l->cnt : 0) + 1, sizeof *rows);
            int n = 0;
            for (int k = 0; l && k < l->cnt; k++) {
                const rd_kafka_topic_partition_t *tp = &l->elems[k];
                if (tp->err || tp->offset < 0) continue; /* nothing committed there */
                int64_t lo = 0, hi = 0;
                rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
                    rk, tp->topic, tp->partition, &lo, &hi, g_cli.timeout_ms);
                lag_row *r = &rows[n++];
                r->topic = xstrdup(tp->topic);
                r->partition = tp->partition;
                r->committed = tp->offset;
                r->high = e ? -1 : hi;
                r->lag = e ? -1 : MAX(hi - tp->offset, 0);
                if (e)
                    fprintf(stderr, "eddy: watermarks of %s/%d: %s\n", tp->topic,
                            (int)tp->partition, rd_kafka_err2str(e));
            }
            rows = add_uncommitted(rk, rows, &n);
            qsort(rows, (size_t)n, sizeof *rows, cmp_row);
            *rows_out = rows;
            *nrows = n;
        }
    }
    cli_admin_end(&a);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    return rc;
}

static void free_rows(lag_row *rows, int n)
{
    for (int i = 0; i < n; i++) free(rows[i].topic);
    free(rows);
}

static void print_lag(const char *group, const lag_row *rows, int n, int header)
{
    int64_t total = 0;
    if (header && !g_cli.json)
        printf("%-30s %-30s %-9s %-12s %-14s %s\n", "GROUP", "TOPIC", "PARTITION", "COMMITTED",
               "HIGH-WATERMARK", "LAG");
    for (int i = 0; i < n; i++) {
        if (g_cli.json)
            cli_json_print(json_pack("{s:s,s:s,s:i,s:I,s:I,s:o}", "group", group, "topic",
                                     rows[i].topic, "partition", (int)rows[i].partition,
                                     "committed", (json_int_t)rows[i].committed, "highWatermark",
                                     (json_int_t)rows[i].high, "lag",
                                     rows[i].lag >= 0 ? json_integer(rows[i].lag) : json_null()));
        else {
            char com[32], lag[32];
            if (rows[i].committed >= 0)
                snprintf(com, sizeof com, "%lld", (long long)rows[i].committed);
            else
                snprintf(com, sizeof com, "-");
            if (rows[i].lag >= 0)
                snprintf(lag, sizeof lag, "%lld", (long long)rows[i].lag);
            else
                snprintf(lag, sizeof lag, "-");
            printf("%-30s %-30s %-9d %-12s %-14lld %s\n", group, rows[i].topic,
                   (int)rows[i].partition, com, (long long)rows[i].high, lag);
        }
        if (rows[i].lag > 0) total += rows[i].lag;
    }
    if (!g_cli.json)
        printf("%-30s %-30s %-9s %-12s %-14s %lld\n", group, "TOTAL", "", "", "", (long long)total);
}

static int groups_lag(rd_kafka_t *rk, const char *group)
{
    char **ids = NULL, **states = NULL;
    int n = 0, rc = CLI_OK;
    const struct rd_kafka_metadata *md;
    if ((rc = cli_metadata(rk, &md))) return rc;
    rd_kafka_metadata_destroy(md);
    if (group) {
        ids = xcalloc(2, sizeof *ids);
        ids[0] = xstrdup(group);
        n = 1;
    } else if ((rc = list_groups(rk, &ids, &states, &n))) {
        return rc;
    }
    int printed = 0;
    for (int i = 0; i < n; i++) {
        lag_row *rows;
        int nr;
        int r = group_lag_rows(rk, ids[i], &rows, &nr);
        if (r) {
            rc = r;
            continue;
        }
        if (nr == 0 && group)
            rc = cli_fail(CLI_ENOTFOUND, "group '%s' has no committed offsets", group);
        if (nr) print_lag(ids[i], rows, nr, !printed++);
        free_rows(rows, nr);
    }
    if (!group && n == 0 && !g_cli.json) printf("no consumer groups\n");
    free_strv(ids, n);
    free_strv(states, n);
    return rc;
}

/* Describes group into a JSON object (state, assignor, coordinator, members). */
static int describe_group(rd_kafka_t *rk, const char *group, json_t **out)
{
    const char *gs[1] = {group};
    cli_admin a;
    cli_admin_start(&a, rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    rd_kafka_DescribeConsumerGroups(rk, gs, 1, a.o, a.q);
    *out = NULL;
    int rc = cli_admin_result(&a, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT, "describe group %s",
                              group);
    if (rc == CLI_OK) {
        size_t n = 0;
        const rd_kafka_ConsumerGroupDescription_t **d =
            rd_kafka_DescribeConsumerGroups_result_groups(
                rd_kafka_event_DescribeConsumerGroups_result(a.ev), &n);
        for (size_t i = 0; rc == CLI_OK && i < n && !*out; i++) {
            const rd_kafka_error_t *ge = rd_kafka_ConsumerGroupDescription_error(d[i]);
            if (ge) {
                int code = rd_kafka_error_code(ge) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND
                               ? CLI_ENOTFOUND
                               : CLI_EFAIL;
                rc = cli_fail(code, "group %s: %s", group, rd_kafka_error_string(ge));
                break;
            }
            rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupDescription_state(d[i]);
            const rd_kafka_Node_t *co = rd_kafka_ConsumerGroupDescription_coordinator(d[i]);
            const char *assignor = rd_kafka_ConsumerGroupDescription_partition_assignor(d[i]);
            size_t members = rd_kafka_ConsumerGroupDescription_member_count(d[i]);
            json_t *jm = json_array();
            for (size_t k = 0; k < members; k++) {
                const rd_kafka_MemberDescription_t *m =
                    rd_kafka_ConsumerGroupDescription_member(d[i], k);
                const rd_kafka_MemberAssignment_t *ma = rd_kafka_MemberDescription_assignment(m);
                const rd_kafka_topic_partition_list_t *l =
                    ma ? rd_kafka_MemberAssignment_partitions(ma) : NULL;
                json_t *jp = json_array();
                for (int p = 0; l && p < l->cnt; p++)
                    json_array_append_new(
                        jp, json_sprintf("%s/%d", l->elems[p].topic, (int)l->elems[p].partition));
                const char *host = rd_kafka_MemberDescription_host(m);
                const char *cid = rd_kafka_MemberDescription_client_id(m);
                json_array_append_new(jm, json_pack("{s:s,s:s,s:s,s:o}", "memberId",
                                                    rd_kafka_MemberDescription_consumer_id(m),
                                                    "clientId", cid ? cid : "", "host",
                                                    host ? host : "", "partitions", jp));
            }
            *out = json_pack("{s:s,s:s,s:s,s:o}", "group", group, "state",
                             rd_kafka_consumer_group_state_name(st), "assignor",
                             assignor ? assignor : "", "members", jm);
            if (co)
                json_object_set_new(*out, "coordinator",
                                    json_sprintf("%d (%s:%u)", rd_kafka_Node_id(co),
                                                 rd_kafka_Node_host(co),
                                                 (unsigned)rd_kafka_Node_port(co)));
        }
        if (rc == CLI_OK && !*out) rc = cli_fail(CLI_EFAIL, "group %s: no description", group);
    }
    cli_admin_end(&a);
    return rc;
}

static int groups_describe(rd_kafka_t *rk, const char *group)
{
    const struct rd_kafka_metadata *md;
    int rc = cli_metadata(rk, &md);
    if (rc) return rc;
    rd_kafka_metadata_destroy(md);
    json_t *d;
    if ((rc = describe_group(rk, group, &d))) return rc;
    lag_row *rows = NULL;
    int nr = 0;
    json_t *members = json_object_get(d, "members");
    const char *state = json_string_value(json_object_get(d, "state"));
    if ((rc = group_lag_rows(rk, group, &rows, &nr))) goto out;
    if (nr == 0 && json_array_size(members) == 0 && state && !strcmp(state, "Dead")) {
        rc =
            cli_fail(CLI_ENOTFOUND, "unknown group '%s' (no members, no committed offsets)", group);
        goto out;
    }
    if (g_cli.json) {
        json_incref(d);
        cli_json_print(d);
    } else {
        const char *assignor = json_string_value(json_object_get(d, "assignor"));
        const char *co = json_string_value(json_object_get(d, "coordinator"));
        printf("GROUP        %s\nSTATE        %s\nASSIGNOR     %s\nCOORDINATOR  %s\n"
               "MEMBERS      %zu\n",
               group, state, assignor && *assignor ? assignor : "-", co ? co : "-",
               json_array_size(members));
        size_t i;
        json_t *m;
        json_array_foreach(members, i, m)
        {
            printf("  %s  client=%s host=%s partitions=",
                   json_string_value(json_object_get(m, "memberId")),
                   json_string_value(json_object_get(m, "clientId")),
                   json_string_value(json_object_get(m, "host")));
            json_t *parts = json_object_get(m, "partitions");
            size_t k;
            json_t *p;
            json_array_foreach(parts, k, p) printf("%s%s", k ? "," : "", json_string_value(p));
            printf("%s\n", json_array_size(parts) ? "" : "-");
        }
        putchar('\n');
        if (nr == 0) printf("no committed offsets\n");
    }
    if (nr) print_lag(group, rows, nr, 1);
out:
    free_rows(rows, nr);
    json_decref(d);
    return rc;
}

/* ---- reset --------------------------------------------------------------------------------- */

typedef enum { TO_NONE, TO_EARLIEST, TO_LATEST, TO_TIME, TO_OFFSET, TO_SHIFT } reset_kind;

typedef struct reset_opts {
    reset_kind kind;
    int64_t v;
    const char *topics[64];
    int ntopics;
    int dry_run, force;
} reset_opts;

typedef struct reset_row {
    char *topic;
    int32_t partition;
    int64_t low, high, before, after;
} reset_row;

static int cmp_reset(const void *a, const void *b)
{
    const reset_row *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* "TOPIC" or "TOPIC:0,2": the partitions (from md) into rows. */
static int add_topic_spec(const struct rd_kafka_metadata *md, const char *spec, reset_row **rows,
                          int *n)
{
    char *name = xstrdup(spec), *colon = strchr(name, ':');
    if (colon) *colon = 0;
    const struct rd_kafka_metadata_topic *t = cli_md_topic(md, name);
    int rc = CLI_OK;
    if (!t) {
        rc = cli_fail(CLI_ENOTFOUND, "unknown topic '%s'", name);
        goto out;
    }
    for (int i = 0; i < t->partition_cnt; i++) {
        int32_t id = t->partitions[i].id;
        if (colon) {
            int want = 0;
            char *list = xstrdup(colon + 1), *save = NULL;
            for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
                long long v;
                if (cli_parse_int(p, 0, INT32_MAX, &v) || v >= t->partition_cnt) {
                    free(list);
                    rc = cli_fail(CLI_EUSAGE, "--topic %s: no partition '%s' (%s has %d)", spec, p,
                                  name, t->partition_cnt);
                    goto out;
                }
                if (v == id) want = 1;
            }
            free(list);
            if (!want) continue;
        }
        *rows = xrealloc(*rows, sizeof **rows * (size_t)(*n + 1));
        (*rows)[*n] = (reset_row){xstrdup(name), id, -1, -1, -1, -1};
        (*n)++;
    }
out:
    free(name);
    return rc;
}

static int groups_reset(rd_kafka_t *rk, const char *group, const reset_opts *o)
{
    const struct rd_kafka_metadata *md = NULL;
    int rc = cli_metadata(rk, &md);
    if (rc) return rc;
    json_t *d = NULL;
    reset_row *rows = NULL;
    lag_row *lag = NULL;
    int n = 0, nlag = 0;
    rd_kafka_topic_partition_list_t *l = NULL;
    if ((rc = describe_group(rk, group, &d)) && rc != CLI_ENOTFOUND) goto out;
    rc = CLI_OK;
    size_t members = json_array_size(json_object_get(d, "members"));
    const char *state = d ? json_string_value(json_object_get(d, "state")) : "Dead";
    if (members > 0 && !o->force) {
        rc = cli_fail(CLI_EFAIL,
                      "group %s is active (%zu member(s), state %s): stop its consumers first "
                      "(their next commit would undo the reset), or use --force",
                      group, members, state ? state : "?");
        goto out;
    }
    if ((rc = group_lag_rows(rk, group, &lag, &nlag))) goto out;
    for (int i = 0; i < o->ntopics; i++)
        if ((rc = add_topic_spec(md, o->topics[i], &rows, &n))) goto out;
    if (o->ntopics == 0) {
        for (int i = 0; i < nlag; i++) {
            rows = xrealloc(rows, sizeof *rows * (size_t)(n + 1));
            rows[n++] = (reset_row){xstrdup(lag[i].topic), lag[i].partition, -1, -1, -1, -1};
        }
        if (n == 0) {
            rc = cli_fail(CLI_ENOTFOUND,
                          "group %s has no committed offsets: name the partitions to reset with "
                          "--topic TOPIC[:P,...]",
                          group);
            goto out;
        }
    }
    for (int i = 0; i < n; i++) {
        reset_row *r = &rows[i];
        for (int k = 0; k < nlag; k++)
            if (lag[k].partition == r->partition && !strcmp(lag[k].topic, r->topic))
                r->before = lag[k].committed;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
            rk, r->topic, r->partition, &r->low, &r->high, g_cli.timeout_ms);
        if (e) {
            rc = cli_fail(CLI_EFAIL, "watermarks of %s/%d: %s", r->topic, (int)r->partition,
                          rd_kafka_err2str(e));
            goto out;
        }
        int64_t to = o->kind == TO_EARLIEST ? r->low
                     : o->kind == TO_LATEST ? r->high
                     : o->kind == TO_OFFSET ? o->v
                     : o->kind == TO_SHIFT  ? (r->before >= 0 ? r->before : r->low) + o->v
                                            : -1;
        r->after = MIN(MAX(to, r->low), r->high);
    }
    if (o->kind == TO_TIME) {
        rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(n);
        for (int i = 0; i < n; i++)
            rd_kafka_topic_partition_list_add(tl, rows[i].topic, rows[i].partition)->offset = o->v;
        rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, tl, g_cli.timeout_ms);
        for (int i = 0; !e && i < n; i++) {
            rd_kafka_topic_partition_t *tp =
                rd_kafka_topic_partition_list_find(tl, rows[i].topic, rows[i].partition);
            if (tp && tp->err) e = tp->err;
            /* nothing at or after the time: the end */
            rows[i].after = tp && tp->offset >= 0 ? tp->offset : rows[i].high;
        }
        rd_kafka_topic_partition_list_destroy(tl);
        if (e) {
            rc = cli_fail(CLI_EFAIL, "offsets for time %lld: %s", (long long)o->v,
                          rd_kafka_err2str(e));
            goto out;
        }
    }
    qsort(rows, (size_t)n, sizeof *rows, cmp_reset);
    if (!g_cli.json)
        printf("%-30s %-30s %-9s %-12s %s\n", "GROUP", "TOPIC", "PARTITION", "BEFORE", "AFTER");
    for (int i = 0; i < n; i++) {
        if (g_cli.json) {
            cli_json_print(json_pack("{s:s,s:s,s:i,s:I,s:I,s:b}", "group", group, "topic",
                                     rows[i].topic, "partition", (int)rows[i].partition, "before",
                                     (json_int_t)rows[i].before, "after", (json_int_t)rows[i].after,
                                     "dryRun", o->dry_run));
            continue;
        }
        char before[32];
        if (rows[i].before >= 0)
            snprintf(before, sizeof before, "%lld", (long long)rows[i].before);
        else
            snprintf(before, sizeof before, "-");
        printf("%-30s %-30s %-9d %-12s %lld\n", group, rows[i].topic, (int)rows[i].partition,
               before, (long long)rows[i].after);
    }
    if (o->dry_run) {
        fprintf(stderr, "eddy: dry run: group %s not changed\n", group);
        goto out;
    }
    l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, rows[i].topic, rows[i].partition)->offset =
            rows[i].after;
    rd_kafka_AlterConsumerGroupOffsets_t *req = rd_kafka_AlterConsumerGroupOffsets_new(group, l);
    cli_admin a;
    cli_admin_start(&a, rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
    rd_kafka_AlterConsumerGroupOffsets(rk, &req, 1, a.o, a.q);
    rc = cli_admin_result(&a, RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT, "reset group %s",
                          group);
    if (rc == CLI_OK) {
        size_t ng = 0;
        const rd_kafka_group_result_t **gr = rd_kafka_AlterConsumerGroupOffsets_result_groups(
            rd_kafka_event_AlterConsumerGroupOffsets_result(a.ev), &ng);
        for (size_t i = 0; rc == CLI_OK && i < ng; i++) {
            const rd_kafka_error_t *ge = rd_kafka_group_result_error(gr[i]);
            if (ge) {
                rc = cli_fail(CLI_EFAIL, "reset group %s: %s", group, rd_kafka_error_string(ge));
                break;
            }
            const rd_kafka_topic_partition_list_t *pl = rd_kafka_group_result_partitions(gr[i]);
            for (int k = 0; pl && k < pl->cnt; k++)
                if (pl->elems[k].err)
                    rc = cli_fail(CLI_EFAIL, "reset group %s, %s/%d: %s", group, pl->elems[k].topic,
                                  (int)pl->elems[k].partition, rd_kafka_err2str(pl->elems[k].err));
        }
    }
    if (rc == CLI_OK) fprintf(stderr, "eddy: group %s reset on %d partition(s)\n", group, n);
    cli_admin_end(&a);
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
out:
    if (l) rd_kafka_topic_partition_list_destroy(l);
    for (int i = 0; i < n; i++) free(rows[i].topic);
    free(rows);
    free_rows(lag, nlag);
    json_decref(d);
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* ---- delete -------------------------------------------------------------------------------- */

static int groups_delete(rd_kafka_t *rk, char **groups, int n)
{
    const struct rd_kafka_metadata *md;
    int rc = cli_metadata(rk, &md);
    if (rc) return rc;
    rd_kafka_metadata_destroy(md);
    rd_kafka_DeleteGroup_t **dg = xcalloc((size_t)n, sizeof *dg);
    for (int i = 0; i < n; i++) dg[i] = rd_kafka_DeleteGroup_new(groups[i]);
    cli_admin a;
    cli_admin_start(&a, rk, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
    rd_kafka_DeleteGroups(rk, dg, (size_t)n, a.o, a.q);
    rc = cli_admin_result(&a, RD_KAFKA_EVENT_DELETEGROUPS_RESULT, "delete groups");
    if (rc == CLI_OK) {
        size_t ng = 0;
        const rd_kafka_group_result_t **gr =
            rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(a.ev), &ng);
        for (size_t i = 0; i < ng; i++) {
            const char *name = rd_kafka_group_result_name(gr[i]);
            const rd_kafka_error_t *ge = rd_kafka_group_result_error(gr[i]);
            if (!ge) {
                printf("deleted group %s\n", name);
                continue;
            }
            rd_kafka_resp_err_t e = rd_kafka_error_code(ge);
            int code = e == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND ? CLI_ENOTFOUND : CLI_EFAIL;
            if (e == RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP)
                cli_fail(code, "group %s has active members: stop its consumers first", name);
            else if (e == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND)
                cli_fail(code, "unknown group '%s'", name);
            else
                cli_fail(code, "delete group %s: %s", name, rd_kafka_error_string(ge));
            if (rc == CLI_OK || code == CLI_EFAIL) rc = code;
        }
    }
    cli_admin_end(&a);
    for (int i = 0; i < n; i++) rd_kafka_DeleteGroup_destroy(dg[i]);
    free(dg);
    return rc;
}

int cmd_groups(int argc, char **argv)
{
    enum {
        O_EARLIEST = 1000,
        O_LATEST,
        O_DATETIME,
        O_TIMESTAMP,
        O_OFFSET,
        O_SHIFT,
        O_TOPIC,
        O_DRY,
        O_FORCE
    };
    static const struct option lo[] = {
        CLI_GLOBAL_LONGOPTS,
        {"to-earliest", no_argument, NULL, O_EARLIEST},
        {"to-latest", no_argument, NULL, O_LATEST},
        {"to-datetime", required_argument, NULL, O_DATETIME},
        {"to-timestamp", required_argument, NULL, O_TIMESTAMP},
        {"to-offset", required_argument, NULL, O_OFFSET},
        {"shift-by", required_argument, NULL, O_SHIFT},
        {"topic", required_argument, NULL, O_TOPIC},
        {"dry-run", no_argument, NULL, O_DRY},
        {"force", no_argument, NULL, O_FORCE},
        {NULL, 0, NULL, 0},
    };
    reset_opts ro;
    memset(&ro, 0, sizeof ro);
    int c, rc, nkinds = 0;
    long long v;
    while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS, lo, k_usage, &rc)) != -1) {
        switch (c) {
        case CLI_OPT_EXIT: return rc;
        case O_EARLIEST:
            ro.kind = TO_EARLIEST;
            nkinds++;
            break;
        case O_LATEST:
            ro.kind = TO_LATEST;
            nkinds++;
            break;
        case O_DATETIME:
            if (cli_parse_rfc3339(optarg, &ro.v))
                return cli_usage_error(k_usage,
                                       "--to-datetime wants RFC 3339 (2026-05-12T10:00:00Z), "
                                       "got '%s'",
                                       optarg);
            ro.kind = TO_TIME;
            nkinds++;
            break;
        case O_TIMESTAMP:
            if (cli_parse_int(optarg, 0, INT64_MAX, &v))
                return cli_usage_error(k_usage, "--to-timestamp wants ms since the epoch, got '%s'",
                                       optarg);
            ro.kind = TO_TIME;
            ro.v = v;
            nkinds++;
            break;
        case O_OFFSET:
            if (cli_parse_int(optarg, 0, INT64_MAX, &v))
                return cli_usage_error(k_usage, "--to-offset wants an offset >= 0, got '%s'",
                                       optarg);
            ro.kind = TO_OFFSET;
            ro.v = v;
            nkinds++;
            break;
        case O_SHIFT:
            if (cli_parse_int(optarg, -INT64_MAX, INT64_MAX, &v))
                return cli_usage_error(k_usage, "--shift-by wants a signed count, got '%s'",
                                       optarg);
            ro.kind = TO_SHIFT;
            ro.v = v;
            nkinds++;
            break;
        case O_TOPIC:
            if (!*optarg || optarg[0] == ':' || ro.ntopics >= (int)ARRAY_LEN(ro.topics))
                return cli_usage_error(k_usage, "--topic wants TOPIC or TOPIC:P,P..., got '%s'",
                                       optarg);
            ro.topics[ro.ntopics++] = optarg;
            break;
        case O_DRY: ro.dry_run = 1; break;
        case O_FORCE: ro.force = 1; break;
        }
    }
    int npos = argc - optind;
    char **pos = argv + optind;
    if (npos < 1) return cli_usage_error(k_usage, "groups: which subcommand?");
    const char *sub = pos[0];
    if (strcmp(sub, "list") && strcmp(sub, "describe") && strcmp(sub, "lag") &&
        strcmp(sub, "reset") && strcmp(sub, "delete"))
        return cli_usage_error(k_usage, "groups: unknown subcommand '%s'", sub);
    if (!strcmp(sub, "list") && npos != 1)
        return cli_usage_error(k_usage, "groups list: too many arguments");
    if ((!strcmp(sub, "describe") || !strcmp(sub, "reset")) && npos != 2)
        return cli_usage_error(k_usage, "groups %s: %s", sub,
                               npos < 2 ? "which group?" : "too many arguments");
    if (!strcmp(sub, "delete") && npos < 2)
        return cli_usage_error(k_usage, "groups delete: which group(s)?");
    if (!strcmp(sub, "lag") && npos > 2)
        return cli_usage_error(k_usage, "groups lag: too many arguments");
    if (strcmp(sub, "reset") && (nkinds || ro.ntopics || ro.dry_run || ro.force))
        return cli_usage_error(k_usage,
                               "groups %s: --to-*, --shift-by, --topic, --dry-run and "
                               "--force belong to groups reset",
                               sub);
    if (!strcmp(sub, "reset") && nkinds != 1)
        return cli_usage_error(k_usage,
                               "groups reset: %s one of --to-earliest, --to-latest, "
                               "--to-datetime, --to-timestamp, --to-offset, --shift-by",
                               nkinds ? "only" : "say where to, with");
    rd_kafka_t *rk = cli_client(RD_KAFKA_PRODUCER, NULL, 0);
    if (!rk) return CLI_EUSAGE;
    if (!strcmp(sub, "list")) {
        const struct rd_kafka_metadata *md;
        rc = cli_metadata(rk, &md);
        if (rc == CLI_OK) {
            rd_kafka_metadata_destroy(md);
            rc = groups_list(rk);
        }
    } else if (!strcmp(sub, "describe")) {
        rc = groups_describe(rk, pos[1]);
    } else if (!strcmp(sub, "reset")) {
        rc = groups_reset(rk, pos[1], &ro);
    } else if (!strcmp(sub, "delete")) {
        rc = groups_delete(rk, pos + 1, npos - 1);
    } else {
        rc = groups_lag(rk, npos == 2 ? pos[1] : NULL);
    }
    rd_kafka_destroy(rk);
    return rc;
}
