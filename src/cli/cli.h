/* cli.h — the `eddy` command-line tool: options shared by every command, exit codes, and the
 * librdkafka helpers (client construction, broker reachability, metadata and watermark
 * look-ups, a bounded "read partitions to their end" scanner) the command files share.
 * Commands live in topics.c, io.c (produce/consume), groups.c, trace.c (trace/dlq) and
 * schemas.c (schema registry over HTTP), bench.c;
 * main.c parses the global options and dispatches. Only librdkafka's public API is used. */
#ifndef EDDY_CLI_H
#define EDDY_CLI_H

#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>

#include "input.h" /* cli_parse_int, cli_parse_rfc3339, -o positions, --json-input lines */

/* Exit codes (documented in docs/cli.md). */
enum {
    CLI_OK = 0,
    CLI_EFAIL = 1,        /* the operation failed (broker answered with an error, ...) */
    CLI_EUSAGE = 2,       /* bad arguments */
    CLI_EUNREACHABLE = 3, /* no broker answered within the timeout */
    CLI_ENOTFOUND = 4,    /* unknown topic / group, nothing matched */
    CLI_EREFUSED = 5,     /* dlq redrive: some records refused by the loop guard */
};

#define CLI_MAX_PROPS 64

/* Global options: accepted before the command and after it. */
typedef struct cli_opts {
    const char *bootstrap;            /* -b, EDDY_BOOTSTRAP_SERVERS, 127.0.0.1:9092 */
    int timeout_ms;                   /* -t/--timeout: reach the broker, admin requests */
    int verbose;                      /* -v: librdkafka logs to stderr */
    int json;                         /* --json: machine-readable output where offered */
    const char *props[CLI_MAX_PROPS]; /* -X key=value, passed to librdkafka */
    int nprops;
} cli_opts;

extern cli_opts g_cli;

/* getopt_long entries every command accepts; cli_global_opt handles them (returns 1 if c was
 * one of them, -1 on a bad value after printing why, 0 otherwise). */
#define CLI_GLOBAL_LONGOPTS                                                                        \
    {"brokers", required_argument, NULL, 'b'}, {"timeout", required_argument, NULL, 't'},          \
        {"verbose", no_argument, NULL, 'v'}, {"json", no_argument, NULL, 'J'},                     \
        {"property", required_argument, NULL, 'X'},                                                \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }
#define CLI_GLOBAL_SHORTOPTS "b:t:vX:h"
int cli_global_opt(int c, const char *arg);

/* A command's option loop: getopt_long over shortopts / lo (both include the global options)
 * that applies the global options itself and returns the next of the command's own options,
 * or -1 after the last. It returns CLI_OPT_EXIT, with *rc what the command then returns, after
 * -h/--help (usage printed on stdout, CLI_OK), a bad value of a global option (CLI_EUSAGE) or
 * an unknown option or missing argument (usage printed on stderr, CLI_EUSAGE):
 *   while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS "n:", lo, k_usage, &rc)) != -1)
 *       switch (c) { case CLI_OPT_EXIT: return rc; case 'n': ... } */
enum { CLI_OPT_EXIT = -2 };
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *lo,
               const char *usage, int *rc);

/* Messages: "eddy: ..." on stderr. Returns code, so `return cli_fail(CLI_EFAIL, ...)`. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An HTTP error answer (registry, eddy-push: JSON {"message": ...}, the services' {"error": ...},
 * or plain text) as
 * "WHAT: HTTP status: message"; returns CLI_ENOTFOUND for 404, CLI_EFAIL otherwise. */
int cli_http_error(const char *what, int status, const char *body);

/* One HTTP request to base (http[s]://[USER:PASSWORD@]HOST[:PORT][/PREFIX]) + path (http.c):
 * CLI_OK with *resp filled (resp->body malloc'd, any status), or an exit code after printing
 * why (bad URL → CLI_EUSAGE, unreachable / TLS handshake → CLI_EUNREACHABLE with hint appended,
 * else CLI_EFAIL). what names the service ("the schema registry"). CLI_HTTP_REGISTRY: the
 * registry's credentials and CA (EDDY_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO,
 * EDDY_SCHEMA_REGISTRY_SSL_CA_LOCATION); others take EDDY_HTTP_SSL_CA_LOCATION. */
enum { CLI_HTTP_REGISTRY = 1 };
struct httpc_resp;
int cli_http(const char *base, int flags, const char *what, const char *hint, const char *method,
             const char *path, const char *content_type, const char *body, size_t max_bytes,
             struct httpc_resp *resp);
/* The answer of a cli_http request as JSON, its body freed: CLI_OK with *out (the caller's) for a
 * 2xx status, else an exit code after printing why (cli_http_error, or "WHAT: the answer is not
 * JSON"). */
struct json_t;
int cli_http_json(struct httpc_resp *resp, const char *what, struct json_t **out);


/* A configured client (bootstrap, logging, -X properties, extra "k=v" pairs). NULL after
 * printing why. */
rd_kafka_t *cli_client(rd_kafka_type_t type, const char *const *extra, int nextra);
/* The same in two steps, for callers that set callbacks on the conf. cli_new takes conf. */
rd_kafka_conf_t *cli_conf(const char *const *extra, int nextra);
rd_kafka_t *cli_new(rd_kafka_type_t type, rd_kafka_conf_t *conf);

/* Metadata of every topic, after checking the broker is reachable within the timeout.
 * Returns CLI_OK or CLI_EUNREACHABLE / CLI_EFAIL after printing why. */
int cli_metadata(rd_kafka_t *rk, const struct rd_kafka_metadata **md);
const struct rd_kafka_metadata_topic *cli_md_topic(const struct rd_kafka_metadata *md,
                                                   const char *name);
/* Internal topics (__consumer_offsets, _schemas, ...): names starting with '_'. */
int cli_topic_internal(const char *name);

/* Creates topic name with partitions (> 0; replication 1), or deletes it (partitions == 0),
 * printing nothing on success. CLI_OK or an exit code after printing why. */
int cli_topic_admin(rd_kafka_t *rk, const char *name, int partitions);

/* Waits for one admin result event of the given type on q (timeout + slack). NULL and a
 * message on timeout. */
rd_kafka_event_t *cli_admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type);

/* One admin request, the same three steps everywhere:
 *   cli_admin a;
 *   cli_admin_start(&a, rk, RD_KAFKA_ADMIN_OP_X);          queue + options (request timeout,
 *                                                          and operation timeout for topics)
 *   rd_kafka_X(rk, ..., a.o, a.q);                         the caller sends its request
 *   if ((rc = cli_admin_result(&a, RD_KAFKA_EVENT_X_RESULT, "what %s", name)) == CLI_OK)
 *       ... read a.ev ...
 *   cli_admin_end(&a);                                     frees queue, options and event
 * cli_admin_result returns CLI_OK with a.ev set, or after printing why CLI_EUNREACHABLE (no
 * answer within the timeout) or CLI_EFAIL ("what NAME: the request's error (ERROR_NAME)"). */
typedef struct cli_admin {
    rd_kafka_queue_t *q;
    rd_kafka_AdminOptions_t *o;
    rd_kafka_event_t *ev;
} cli_admin;
void cli_admin_start(cli_admin *a, rd_kafka_t *rk, rd_kafka_admin_op_t op);
int cli_admin_result(cli_admin *a, rd_kafka_event_type_t type, const char *what_fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cli_admin_end(cli_admin *a);
/* One setting of a topic or a broker as DescribeConfigs answers it (configs.c). */
typedef struct cli_config {
    char *name, *value; /* value NULL: none, or sensitive */
    rd_kafka_ConfigSource_t source;
    int read_only, sensitive;
} cli_config;
/* The settings of a topic or broker (type RD_KAFKA_RESOURCE_TOPIC or _BROKER, name the topic or
 * the broker id), sorted by name: CLI_OK with *out (cli_configs_free) and *nout, or an exit code
 * after printing "configs of topic NAME: ..." (CLI_ENOTFOUND: no such topic). */
int cli_describe_configs(rd_kafka_t *rk, rd_kafka_ResourceType_t type, const char *name,
                         cli_config **out, int *nout);
void cli_configs_free(cli_config *c, int n);

/* A change of a topic's or broker's dynamic settings: --set key=value, --delete key. */
#define CLI_MAX_CONFIGS 64
typedef struct cli_config_edit {
    rd_kafka_ResourceType_t type;      /* RD_KAFKA_RESOURCE_TOPIC or _BROKER */
    const char *name;                  /* the topic, or the broker id */
    const char *sets[CLI_MAX_CONFIGS]; /* "key=value" */
    const char *dels[CLI_MAX_CONFIGS]; /* keys: back to the default */
    int nsets, ndels;
} cli_config_edit;
/* Adds an option's argument to e: -c/--set key=value (del 0) or --delete key (del 1). CLI_OK, or
 * CLI_EUSAGE after printing why and usage. */
int cli_config_edit_opt(cli_config_edit *e, int del, const char *arg, const char *usage);
/* Applies e (AlterConfigs: librdkafka 2.0 has no IncrementalAlterConfigs, so the request carries
 * the resource's other dynamic settings as they are), then calls changed for each setting e
 * names, as it now is, with its value before. CLI_OK, or an exit code after printing why (a
 * deleted key the resource does not have: CLI_EUSAGE, nothing changed). */
typedef void (*cli_config_changed_fn)(const cli_config_edit *e, const cli_config *now,
                                      const char *before);
int cli_change_configs(rd_kafka_t *rk, const cli_config_edit *e, cli_config_changed_fn changed);

/* Reading partitions from a start position to the high watermark seen at the start. */
typedef struct cli_part {
    char *topic;
    int32_t partition;
    int64_t low, high; /* watermarks at the start */
    int64_t next;      /* next offset to read */
} cli_part;

typedef struct cli_scan {
    cli_part *parts;
    int nparts;
} cli_scan;

/* Adds every partition of topic (from md); queries the watermarks. */
int cli_scan_add_topic(rd_kafka_t *rk, cli_scan *s, const struct rd_kafka_metadata_topic *t);
/* Callback per message; return non-zero to stop. */
typedef int (*cli_scan_fn)(const rd_kafka_message_t *m, void *arg);
/* Reads every partition of s from its low watermark to its start-time high watermark
 * (follow: then keeps reading until *stop). Returns CLI_OK or an exit code. */
int cli_scan_run(rd_kafka_t *rk, cli_scan *s, int follow, volatile int *stop, cli_scan_fn fn,
                 void *arg);
void cli_scan_free(cli_scan *s);

/* Message helpers. */
const char *cli_header(const rd_kafka_message_t *m, const char *name, size_t *len);
/* Prints a byte string, escaping control bytes, to f. */
void cli_print_bytes(FILE *f, const void *p, size_t n);
/* A JSON string of bytes (invalid UTF-8 bytes become U+FFFD); needs <jansson.h>. */
struct json_t;
struct json_t *cli_json_bytes(const void *p, size_t n);
/* Prints one compact JSON value and a newline; steals v. */
void cli_json_print(struct json_t *v);
/* A consumer saw the broker go (transport error / all brokers down): says so once, with why;
 * cli_broker_back says it reads again (librdkafka reconnects by itself). */
void cli_broker_lost(const char *why);
/* Set before creating clients: they report a lost broker through cli_broker_lost (consume). */
extern int g_cli_watch_broker;
void cli_broker_back(void);
/* SIGINT/SIGTERM set this (installed by cli_catch_signals). */
extern volatile int g_cli_stop;
void cli_catch_signals(void);

/* Commands: argc/argv start at the command word. */
int cmd_topics(int argc, char **argv);
int cmd_users(int argc, char **argv);   /* users.c: SCRAM users (KIP-554 APIs) */
int cmd_configs(int argc, char **argv); /* configs.c: broker settings, dynamic ones */
int cmd_acls(int argc, char **argv);    /* acls.c */
int cmd_produce(int argc, char **argv);
int cmd_consume(int argc, char **argv);
int cmd_groups(int argc, char **argv);
int cmd_txn(int argc, char **argv); /* txn.c */
int cmd_dlq(int argc, char **argv);
int cmd_dlq_redrive(int argc, char **argv); /* redrive.c: eddy dlq redrive */
int cmd_trace(int argc, char **argv);
int cmd_schemas(int argc, char **argv);
int cmd_subscriptions(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_completion(int argc, char **argv);
int cmd_sagas(int argc, char **argv);       /* sagas.c */
int cmd_projections(int argc, char **argv); /* sagas.c */

#endif
