/* subscriptions.c — `eddy subscriptions`: eddy-push's HTTP push subscriptions over its API
 * (docs/push.md): list, get, create, pause, resume, delete. Uses libeddy's small HTTP client
 * (src/sdkschema/httpc.c) like `eddy schemas`. */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "eddy/eddy.h"
#include "httpc.h"

static const char *const k_usage =
    "usage: eddy subscriptions list\n"
    "       eddy subscriptions get|pause|resume|delete NAME\n"
    "       eddy subscriptions create NAME --url URL --topic TOPIC [--topic ...] [--group G]\n"
    "                                 [--secret S] [--max-in-flight-per-key N]\n"
    "       eddy subscriptions create-json FILE|-      (the POST body as docs/push.md gives it)\n"
    "  --push URL   eddy-push's API (env EDDY_PUSH_URL, default http://127.0.0.1:8086)\n"
    "  list      name, state, topics, url, delivered / failed / dead-lettered / retrying,\n"
    "            oldest undelivered age\n";

static int push_do(const char *base, const char *method, const char *path, const char *body,
                   httpc_resp *resp)
{
    return cli_http(base, 0, "eddy-push", NULL, method, path, body ? "application/json" : NULL,
                    body, 4u << 20, resp);
}


static void print_sub(json_t *s)
{
    if (g_cli.json) {
        char *t = json_dumps(s, JSON_COMPACT);
        printf("%s\n", t);
        free(t);
        return;
    }
    json_t *st = json_object_get(s, "stats");
    char topics[512] = "";
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(s, "topics"), i, t)
    {
        size_t l = strlen(topics);
        snprintf(topics + l, sizeof topics - l, "%s%s", i ? "," : "", json_string_value(t));
    }
    printf("%-20s %-8s %-30s %-30s %9lld %7lld %5lld %5lld %8.1f\n",
           json_string_value(json_object_get(s, "name")),
           json_string_value(json_object_get(s, "state")), topics,
           json_string_value(json_object_get(s, "url")),
           (long long)json_integer_value(json_object_get(st, "delivered")),
           (long long)json_integer_value(json_object_get(st, "failed")),
           (long long)json_integer_value(json_object_get(st, "dead_lettered")),
           (long long)json_integer_value(json_object_get(st, "retrying")),
           json_number_value(json_object_get(st, "oldest_undelivered_age_seconds")));
}

static void print_header(void)
{
    if (!g_cli.json)
        printf("%-20s %-8s %-30s %-30s %9s %7s %5s %5s %8s\n", "NAME", "STATE", "TOPICS", "URL",
               "DELIVERED", "FAILED", "DLQ", "RETRY", "OLDEST_S");
}

static int request(const char *url, const char *method, const char *path, const char *body,
                   const char *what)
{
    httpc_resp r;
    json_t *j;
    int rc = push_do(url, method, path, body, &r);
    if (!rc) rc = cli_http_json(&r, what, &j);
    if (rc) return rc;
    json_t *list = json_object_get(j, "subscriptions");
    if (json_is_array(list) || json_object_get(j, "stats")) print_header();
    if (json_is_array(list)) {
        size_t i;
        json_t *s;
        json_array_foreach(list, i, s) print_sub(s);
    } else if (json_object_get(j, "stats")) {
        print_sub(j);
    } else if (!g_cli.json) {
        printf("%s deleted\n", json_string_value(json_object_get(j, "name")));
    }
    json_decref(j);
    return CLI_OK;
}

int cmd_subscriptions(int argc, char **argv)
{
    const char *url = getenv("EDDY_PUSH_URL");
    if (!url || !*url) url = "http://127.0.0.1:8086";
    static const struct option lo[] = {CLI_GLOBAL_LONGOPTS,
                                       {"push", required_argument, NULL, 'P'},
                                       {"url", required_argument, NULL, 'u'},
                                       {"topic", required_argument, NULL, 'T'},
                                       {"group", required_argument, NULL, 'g'},
                                       {"secret", required_argument, NULL, 's'},
                                       {"max-in-flight-per-key", required_argument, NULL, 'k'},
                                       {NULL, 0, NULL, 0}};
    json_t *body = json_object(), *topics = json_array();
    int c, rc = CLI_OK;
    while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS, lo, k_usage, &rc)) != -1) {
        long long n;
        switch (c) {
        case CLI_OPT_EXIT: goto out;
        case 'P': url = optarg; break;
        case 'u': json_object_set_new(body, "url", json_string(optarg)); break;
        case 'T': json_array_append_new(topics, json_string(optarg)); break;
        case 'g': json_object_set_new(body, "group", json_string(optarg)); break;
        case 's': json_object_set_new(body, "secret", json_string(optarg)); break;
        case 'k':
            if (cli_parse_int(optarg, 1, 1000, &n)) {
                rc = cli_usage_error(k_usage, "--max-in-flight-per-key: 1..1000");
                goto out;
            }
            json_object_set_new(body, "max_in_flight_per_key", json_integer(n));
            break;
        }
    }
    const char *sub = optind < argc ? argv[optind] : NULL;
    const char *name = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (!sub || !strcmp(sub, "list")) {
        rc = request(url, "GET", "/v1/subscriptions", NULL, "list subscriptions");
        goto out;
    }
    if (!name) {
        rc = cli_usage_error(k_usage, "%s needs a NAME", sub);
        goto out;
    }
    char *path = NULL;
    if (!strcmp(sub, "get") || !strcmp(sub, "delete")) {
        path = xasprintf("/v1/subscriptions/%s", name);
        rc = request(url, strcmp(sub, "get") ? "DELETE" : "GET", path, NULL, sub);
    } else if (!strcmp(sub, "pause") || !strcmp(sub, "resume")) {
        path = xasprintf("/v1/subscriptions/%s/%s", name, sub);
        rc = request(url, "POST", path, "{}", sub);
    } else if (!strcmp(sub, "create")) {
        json_object_set_new(body, "name", json_string(name));
        json_object_set(body, "topics", topics);
        char *txt = json_dumps(body, JSON_COMPACT);
        rc = request(url, "POST", "/v1/subscriptions", txt, "create");
        free(txt);
    } else if (!strcmp(sub, "create-json")) {
        json_error_t je;
        json_t *j = strcmp(name, "-") ? json_load_file(name, 0, &je) : json_loadf(stdin, 0, &je);
        if (!j) {
            rc = cli_fail(CLI_EUSAGE, "%s: %s (line %d)", name, je.text, je.line);
        } else {
            char *txt = json_dumps(j, JSON_COMPACT);
            rc = request(url, "POST", "/v1/subscriptions", txt, "create");
            free(txt);
            json_decref(j);
        }
    } else {
        rc = cli_usage_error(k_usage, "unknown subcommand '%s'", sub);
    }
    free(path);
out:
    json_decref(body);
    json_decref(topics);
    return rc;
}
