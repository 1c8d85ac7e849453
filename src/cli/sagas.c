/* sagas.c — `eddy sagas list|stuck|show|retry` and `eddy projections list|show|rebuild`:
 * the saga instances of an orchestrator and the projections of a read-side service, over the
 * HTTP port of that service (libeddy's /sagas and /projections routes; docs/sagas.md,
 * docs/cqrs.md), with libeddy's small HTTP/1.1 client (src/sdkschema/httpc.c). */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "eddy/eddy.h"
#include "httpc.h"

#define HTTP_MAX_BODY (16u << 20)

static const char *const k_sagas_usage =
    "usage: eddy sagas list|stuck [--url URL]\n"
    "       eddy sagas show ID [--url URL]\n"
    "       eddy sagas retry ID [--url URL]\n"
    "  --url URL   the orchestrating service's HTTP address (env EDDY_SERVICE_URL,\n"
    "              default http://127.0.0.1:8080)\n"
    "  list    instances, newest first: id, state, step, attempt, age, stuck flag\n"
    "  stuck   only the instances past their deadline or out of attempts\n"
    "  show    one instance with its data and history\n"
    "  retry   resets a stuck instance's attempts so its current command is sent again\n"
    "exit codes: 0 ok, 1 failed, 2 bad arguments, 3 service unreachable, 4 not found\n";

static const char *const k_proj_usage =
    "usage: eddy projections list [--url URL]\n"
    "       eddy projections show NAME [--url URL]\n"
    "       eddy projections rebuild NAME [--url URL] [--wait]\n"
    "  --url URL   the read-side service's HTTP address (env EDDY_SERVICE_URL,\n"
    "              default http://127.0.0.1:8080)\n"
    "  list      projections: generation, state, lag (events, seconds), rebuild progress\n"
    "  rebuild   replays the projection's topics from the earliest offsets into a new\n"
    "            generation; reads switch to it once it has caught up. --wait prints the\n"
    "            progress until then\n"
    "exit codes: 0 ok, 1 failed, 2 bad arguments, 3 service unreachable, 4 not found\n";

/* One request; CLI_OK with *r filled (r->body malloc'd), or an exit code after printing why. */
static int call(const char *base, const char *method, const char *path, httpc_resp *r)
{
    return cli_http(base, 0, "the service", NULL, method, path, NULL, NULL, HTTP_MAX_BODY, r);
}

/* GET/POST → parsed JSON answer (2xx), or an exit code after printing why. */
static int call_json(const char *base, const char *method, const char *path, json_t **out)
{
    httpc_resp r;
    *out = NULL;
    int rc = call(base, method, path, &r);
    if (rc) return rc;
    char *what = xasprintf("%s %s", method, path);
    rc = cli_http_json(&r, what, out);
    free(what);
    return rc;
}

static int url_ok_id(const char *s)
{
    if (!*s || strlen(s) > 100) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == ':' || *s == '-'))
            return 0;
    return 1;
}

static const char *str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "-";
}

static int print_sagas(json_t *a)
{
    if (!json_is_array(a)) return cli_fail(CLI_EFAIL, "the answer is not a JSON array");
    if (!g_cli.json)
        printf("%-40s %-13s %-12s %-7s %-9s %-5s %s\n", "ID", "STATE", "STEP", "ATTEMPT", "AGE(s)",
               "STUCK", "REASON");
    size_t i;
    json_t *o;
    json_array_foreach(a, i, o)
    {
        if (g_cli.json) {
            cli_json_print(o);
            continue;
        }
        printf("%-40s %-13s %-12s %-7lld %-9.1f %-5s %s\n", str(o, "id"), str(o, "state"),
               str(o, "stepName"), (long long)json_integer_value(json_object_get(o, "attempt")),
               json_number_value(json_object_get(o, "ageSeconds")),
               json_is_true(json_object_get(o, "stuck")) ? "yes" : "no", str(o, "reason"));
    }
    return CLI_OK;
}

static int saga_show(json_t *o)
{
    if (g_cli.json) {
        cli_json_print(o);
        return CLI_OK;
    }
    printf("saga %s (%s)\n  state %s, step %s, attempt %lld%s\n  correlation %s\n"
           "  created %s, updated %s, age %.1f s\n",
           str(o, "id"), str(o, "type"), str(o, "state"), str(o, "stepName"),
           (long long)json_integer_value(json_object_get(o, "attempt")),
           json_is_true(json_object_get(o, "stuck")) ? ", STUCK" : "", str(o, "correlationId"),
           str(o, "createdAt"), str(o, "updatedAt"),
           json_number_value(json_object_get(o, "ageSeconds")));
    if (json_is_string(json_object_get(o, "reason"))) printf("  reason: %s\n", str(o, "reason"));
    char *d = json_dumps(json_object_get(o, "data"), JSON_COMPACT);
    if (d) printf("  data: %s\n", d);
    free(d);
    printf("  history:\n");
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(o, "history"), i, h)
        printf("    %s  %s\n", str(h, "at"), str(h, "entry"));
    return CLI_OK;
}

static const char *default_url(void)
{
    const char *u = getenv("EDDY_SERVICE_URL");
    return u && *u ? u : "http://127.0.0.1:8080";
}

/* Shared option parsing: --url, --wait (projections: wait not NULL) and the global options.
 * 0 to go on; 1 when the command ends (--help, a bad option) and returns *rc. */
static int parse(int argc, char **argv, const char *usage, const char **url, int *wait, int *rc)
{
    static const struct option lo[] = {CLI_GLOBAL_LONGOPTS,
                                       {"url", required_argument, NULL, 'U'},
                                       {"wait", no_argument, NULL, 'W'},
                                       {NULL, 0, NULL, 0}};
    *url = default_url();
    int c;
    while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS "U:W", lo, usage, rc)) != -1) {
        if (c == CLI_OPT_EXIT) return 1;
        if (c == 'U') {
            *url = optarg;
        } else if (c == 'W' && wait) {
            *wait = 1;
        } else {
            fputs(usage, stderr);
            *rc = CLI_EUSAGE;
            return 1;
        }
    }
    return 0;
}

int cmd_sagas(int argc, char **argv)
{
    const char *url;
    int rc;
    if (parse(argc, argv, k_sagas_usage, &url, NULL, &rc)) return rc;
    int npos = argc - optind;
    char **pos = argv + optind;
    const char *sub = npos ? pos[0] : "list";
    json_t *j = NULL;
    if (!strcmp(sub, "list") || !strcmp(sub, "stuck")) {
        if (npos > 1) return cli_usage_error(k_sagas_usage, "sagas %s: too many arguments", sub);
        rc = call_json(url, "GET", !strcmp(sub, "list") ? "/sagas" : "/sagas/stuck", &j);
        if (!rc) rc = print_sagas(j);
    } else if (!strcmp(sub, "show") || !strcmp(sub, "retry")) {
        if (npos != 2) return cli_usage_error(k_sagas_usage, "sagas %s: which saga id?", sub);
        if (!url_ok_id(pos[1]))
            return cli_usage_error(k_sagas_usage, "saga id must be 1..100 of [A-Za-z0-9_.:-]");
        char *path = xasprintf(!strcmp(sub, "show") ? "/sagas/%s" : "/sagas/%s/retry", pos[1]);
        rc = call_json(url, !strcmp(sub, "show") ? "GET" : "POST", path, &j);
        free(path);
        if (!rc && !strcmp(sub, "show"))
            rc = saga_show(j);
        else if (!rc)
            printf("saga %s: retry scheduled\n", pos[1]);
    } else {
        return cli_usage_error(k_sagas_usage, "sagas: unknown subcommand '%s'", sub);
    }
    json_decref(j);
    return rc;
}

static void print_projection(json_t *o)
{
    if (g_cli.json) {
        cli_json_print(o);
        return;
    }
    json_t *rb = json_object_get(o, "rebuild");
    char prog[128] = "-";
    if (rb) {
        long long done = json_integer_value(json_object_get(rb, "done")),
                  total = json_integer_value(json_object_get(rb, "total"));
        snprintf(prog, sizeof prog, "gen %lld: %lld/%lld (%.0f%%) %.0f ev/s",
                 (long long)json_integer_value(json_object_get(rb, "generation")), done, total,
                 total ? 100.0 * (double)done / (double)total : 100.0,
                 json_number_value(json_object_get(rb, "rate")));
    }
    printf("%-24s %-4lld %-11s %-10lld %-9.1f %s\n", str(o, "name"),
           (long long)json_integer_value(json_object_get(o, "generation")), str(o, "state"),
           (long long)json_integer_value(json_object_get(o, "lagEvents")),
           json_number_value(json_object_get(o, "lagSeconds")), prog);
}

static void projection_header(void)
{
    if (!g_cli.json)
        printf("%-24s %-4s %-11s %-10s %-9s %s\n", "PROJECTION", "GEN", "STATE", "LAG(ev)",
               "LAG(s)", "REBUILD");
}

int cmd_projections(int argc, char **argv)
{
    const char *url;
    int wait = 0;
    cli_catch_signals();
    int rc;
    if (parse(argc, argv, k_proj_usage, &url, &wait, &rc)) return rc;
    int npos = argc - optind;
    char **pos = argv + optind;
    const char *sub = npos ? pos[0] : "list";
    json_t *j = NULL;
    if (!strcmp(sub, "list")) {
        if (npos > 1) return cli_usage_error(k_proj_usage, "projections list: too many arguments");
        rc = call_json(url, "GET", "/projections", &j);
        if (!rc && !json_is_array(j)) rc = cli_fail(CLI_EFAIL, "the answer is not a JSON array");
        if (!rc) {
            projection_header();
            size_t i;
            json_t *o;
            json_array_foreach(j, i, o) print_projection(o);
        }
        json_decref(j);
        return rc;
    }
    if (strcmp(sub, "show") && strcmp(sub, "rebuild"))
        return cli_usage_error(k_proj_usage, "projections: unknown subcommand '%s'", sub);
    if (npos != 2) return cli_usage_error(k_proj_usage, "projections %s: which projection?", sub);
    if (!url_ok_id(pos[1])) return cli_usage_error(k_proj_usage, "bad projection name");
    char *path = xasprintf("/projections/%s", pos[1]);
    if (!strcmp(sub, "rebuild")) {
        char *p2 = xasprintf("%s/rebuild", path);
        rc = call_json(url, "POST", p2, &j);
        free(p2);
        json_decref(j);
        j = NULL;
        if (!rc) printf("projection %s: rebuild started\n", pos[1]);
    }
    if (!rc) {
        projection_header();
        for (;;) {
            rc = call_json(url, "GET", path, &j);
            if (rc) break;
            print_projection(j);
            int live = !strcmp(str(j, "state"), "live");
            json_decref(j);
            j = NULL;
            if (!wait || live || g_cli_stop) break;
            usleep(1000 * 1000);
        }
    }
    free(path);
    json_decref(j);
    return rc;
}
