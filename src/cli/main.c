/* main.c — `eddy`, the command-line tool for Eddy (and any Kafka-protocol cluster): global
 * options, help, command dispatch, and the shared librdkafka helpers declared in cli.h
 * (client construction, reachability check, metadata, admin waits, the partition scanner,
 * message/time formatting). Commands: topics.c, io.c, groups.c, trace.c, schemas.c,
 * bench.c. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/util.h"
#include "eddy_version.h"

cli_opts g_cli;

static const char *const k_help =
    "eddy — command-line tool for Eddy and any Kafka-protocol cluster\n"
    "\n"
    "usage: eddy [global options] COMMAND [args]\n"
    "\n"
    "commands:\n"
    "  topics list|create|delete|describe|alter-config|add-partitions   manage topics\n"
    "  produce TOPIC           produce lines of stdin or files (acks=all, idempotent)\n"
    "  consume TOPIC           print messages from an offset, a time, the last N; follow\n"
    "  groups list|describe|lag|reset|delete   consumer groups, their lag and offsets\n"
    "  txn list|describe|abort   transactions: states, open ones, end a hanging one\n"
    "  acls add|list|delete    ACLs of a broker with an authorizer (kafka-acls.sh style)\n"
    "  dlq TOPIC               print the dead letters of TOPIC (TOPIC.dlq)\n"
    "  dlq redrive TOPIC.dlq   republish dead letters to their source topic (dry run, filter)\n"
    "  trace CORRELATION_ID    every event of one flow, in time order\n"
    "  schemas list|get|register|check|delete|compatibility|mode   the schema registry\n"
    "  bench                   produce/consume throughput and latency (on its own topic)\n"
    "  completion bash         the bash completion script (source <(eddy completion bash))\n"
    "  subscriptions list|create|pause|...   eddy-push's HTTP push subscriptions\n"
    "  sagas list|stuck|show|retry          saga instances of an orchestrator (its HTTP port)\n"
    "  projections list|show|rebuild        projections of a read-side service (its HTTP port)\n"
    "  users add|list|delete                SCRAM users of the broker (SASL)\n"
    "  configs describe|alter               a broker's settings; change its dynamic ones\n"
    "\n"
    "global options (before or after the command):\n"
    "  -b, --brokers HOST:PORT   bootstrap servers (env EDDY_BOOTSTRAP_SERVERS,\n"
    "                            default 127.0.0.1:9092)\n"
    "  -t, --timeout MS          time to reach the broker and for admin requests (10000)\n"
    "  -X, --property K=V        librdkafka client property (repeatable)\n"
    "      --json                one JSON object per line (consume, dlq, trace, lag, list, ...)\n"
    "  -v, --verbose             librdkafka logs on stderr\n"
    "  -h, --help                help (eddy COMMAND --help: options and examples)\n"
    "      --version             eddy's version and git commit, and librdkafka's\n"
    "\n"
    "examples:\n"
    "  eddy topics create orders -p 3\n"
    "  eddy consume orders -o @2026-05-12T10:00:00Z -e\n"
    "  eddy groups reset billing --to-earliest --topic orders --dry-run\n"
    "  eddy schemas register orders-value order.schema.json\n"
    "\n"
    "exit codes: 0 ok, 1 failed, 2 bad arguments, 3 broker unreachable, 4 not found\n";

/* ---- messages and parsing ------------------------------------------------------------------ */

static void vfail(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static void vfail(const char *fmt, va_list ap)
{
    fputs("eddy: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(fmt, ap);
    va_end(ap);
    return code;
}

int cli_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(fmt, ap);
    va_end(ap);
    if (usage) fprintf(stderr, "%s", usage);
    return CLI_EUSAGE;
}

int cli_http_error(const char *what, int status, const char *body)
{
    json_t *j = json_loads(body ? body : "", 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "message"));
    if (!msg) msg = json_string_value(json_object_get(j, "error"));
    int code = status == 404 ? CLI_ENOTFOUND : CLI_EFAIL;
    cli_fail(code, "%s: HTTP %d: %s", what, status, msg ? msg : body ? body : "");
    json_decref(j);
    return code;
}

int cli_global_opt(int c, const char *arg)
{
    long long v;
    switch (c) {
    case 'b': g_cli.bootstrap = arg; return 1;
    case 't':
        if (cli_parse_int(arg, 1, 3600000, &v) < 0) {
            cli_fail(CLI_EUSAGE, "--timeout wants milliseconds (1..3600000), got '%s'", arg);
            return -1;
        }
        g_cli.timeout_ms = (int)v;
        return 1;
    case 'v': g_cli.verbose = 1; return 1;
    case 'J': g_cli.json = 1; return 1;
    case 'X':
        if (!strchr(arg, '=') || g_cli.nprops >= CLI_MAX_PROPS) {
            cli_fail(CLI_EUSAGE, "-X wants key=value (at most %d), got '%s'", CLI_MAX_PROPS, arg);
            return -1;
        }
        g_cli.props[g_cli.nprops++] = arg;
        return 1;
    default: return 0;
    }
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *lo,
               const char *usage, int *rc)
{
    for (;;) {
        int c = getopt_long(argc, argv, shortopts, lo, NULL);
        if (c == -1) return -1;
        int g = cli_global_opt(c, optarg);
        if (g > 0) continue;
        if (g < 0) { /* cli_global_opt said why */
            *rc = CLI_EUSAGE;
            return CLI_OPT_EXIT;
        }
        if (c == 'h' || c == '?' || c == ':') { /* getopt said what was wrong */
            fputs(usage, c == 'h' ? stdout : stderr);
            *rc = c == 'h' ? CLI_OK : CLI_EUSAGE;
            return CLI_OPT_EXIT;
        }
        return c;
    }
}

/* ---- clients ------------------------------------------------------------------------------- */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    if (g_cli.verbose) fprintf(stderr, "rdkafka %d %s: %s\n", level, fac, buf);
}

static int set_prop(rd_kafka_conf_t *conf, const char *kv)
{
    char errstr[256];
    const char *eq = strchr(kv, '=');
    if (!eq) return cli_fail(CLI_EUSAGE, "property '%s' is not key=value", kv);
    char *k = xstrndup(kv, (size_t)(eq - kv));
    rd_kafka_conf_res_t r = rd_kafka_conf_set(conf, k, eq + 1, errstr, sizeof errstr);
    free(k);
    if (r != RD_KAFKA_CONF_OK) return cli_fail(CLI_EUSAGE, "property %s: %s", kv, errstr);
    return 0;
}

/* The last authentication or TLS failure librdkafka reported (it retries such errors itself,
 * so a command would otherwise only see "no metadata" or a timeout). */
static char g_auth_error[512];

/* Client-level errors (librdkafka retries them itself): a lost broker is said once. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR__SSL) {
        snprintf(g_auth_error, sizeof g_auth_error, "%s", reason);
        return;
    }
    if (!g_cli_watch_broker) return;
    if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        cli_broker_lost(reason);
    else if (g_cli.verbose)
        fprintf(stderr, "eddy: %s: %s\n", rd_kafka_err2name(err), reason);
}

rd_kafka_conf_t *cli_conf(const char *const *extra, int nextra)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    if (set_prop(conf, "client.id=eddy-cli") || set_prop(conf, "log.connection.close=false"))
        goto fail;
    if (rd_kafka_conf_set(conf, "bootstrap.servers", g_cli.bootstrap, errstr, sizeof errstr)) {
        cli_fail(CLI_EUSAGE, "bootstrap '%s': %s", g_cli.bootstrap, errstr);
        goto fail;
    }
    for (int i = 0; i < nextra; i++)
        if (set_prop(conf, extra[i])) goto fail;
    /* EDDY_KAFKA_SECURITY_PROTOCOL=SASL_SSL -> security.protocol=SASL_SSL, as libeddy reads them
     * (client security settings from the environment); -X wins */
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "EDDY_KAFKA_", 11) || !strchr(*e, '=')) continue;
        char *kv = xstrdup(*e + 11);
        for (char *p = kv; *p && *p != '='; p++)
            *p = *p == '_' ? '.' : (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        int bad = set_prop(conf, kv);
        free(kv);
        if (bad) goto fail;
    }
    for (int i = 0; i < g_cli.nprops; i++)
        if (set_prop(conf, g_cli.props[i])) goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_t *cli_new(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char errstr[512];
    if (!conf) return NULL;
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf); /* rd_kafka_new keeps conf only on success */
        cli_fail(CLI_EUSAGE, "cannot create client: %s", errstr);
    }
    return rk;
}

rd_kafka_t *cli_client(rd_kafka_type_t type, const char *const *extra, int nextra)
{
    return cli_new(type, cli_conf(extra, nextra));
}

/* ---- reachability: why a bootstrap server does not answer --------------------------------- */

/* One bootstrap address: resolve, connect (bounded), then one Kafka ApiVersions v0 request.
 * Returns 0 if a Kafka listener answered, else a PROBE_* class with a sentence in why. */
enum {
    PROBE_OK = 0,
    PROBE_DNS,
    PROBE_REFUSED,
    PROBE_TIMEOUT,
    PROBE_HTTP,
    PROBE_NOT_KAFKA,
    PROBE_SOCKET
};

/* Sends req, reads up to cap bytes until deadline; returns the bytes read (*closed: EOF seen). */
static size_t exchange(int fd, const void *req, size_t len, unsigned char *ans, size_t cap,
                       int64_t deadline, int *closed)
{
    size_t got = 0;
    if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
        *closed = 1;
        return 0;
    }
    while (got < cap) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int left = (int)MAX(deadline - now_mono_ms(), 0);
        if (poll(&pfd, 1, left) <= 0) break;
        ssize_t n = recv(fd, ans + got, cap - got, 0);
        if (n <= 0) {
            *closed = 1;
            break;
        }
        got += (size_t)n;
    }
    return got;
}

static int probe_addr(const char *hostport, int64_t deadline, char *why, size_t whylen)
{
    char host[256], port[16] = "9092";
    int pn;
    if (parse_hostport(hostport, host, sizeof host, &pn) == 0) {
        snprintf(port, sizeof port, "%d", pn);
    } else { /* a bare host name: Kafka's default port */
        const char *hp = strstr(hostport, "://") ? strstr(hostport, "://") + 3 : hostport;
        snprintf(host, sizeof host, "%.*s", (int)strcspn(hp, ","), hp);
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g) {
        snprintf(why, whylen, "cannot resolve host '%s' (%s)", host, gai_strerror(g));
        return PROBE_DNS;
    }
    int rc = PROBE_REFUSED, fd = -1, ai_family = AF_INET;
    struct sockaddr_storage ai_addr;
    socklen_t ai_addrlen = 0;
    snprintf(why, whylen, "connection refused by %s:%s: nothing listens there", host, port);
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        int r = connect(fd, a->ai_addr, a->ai_addrlen);
        if (r < 0 && errno == EINPROGRESS) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            int left = (int)MAX(deadline - now_mono_ms(), 0);
            r = poll(&pfd, 1, left);
            if (r == 0) {
                snprintf(why, whylen, "no answer from %s:%s (connect timed out)", host, port);
                rc = PROBE_TIMEOUT;
                close(fd);
                fd = -1;
                continue;
            }
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
            r = err ? -1 : 0;
            errno = err;
        }
        if (r == 0) {
            ai_family = a->ai_family;
            memcpy(&ai_addr, a->ai_addr, a->ai_addrlen);
            ai_addrlen = a->ai_addrlen;
            break;
        }
        if (errno != ECONNREFUSED) {
            snprintf(why, whylen, "cannot connect to %s:%s (%s)", host, port, strerror(errno));
            rc = PROBE_SOCKET;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) return rc;
    /* ApiVersions v0: size, api_key 18, version 0, correlation id, client id "eddy-cli". A
     * broker answers at once; wait up to 2 s (a slow broker is then left to librdkafka). */
    static const unsigned char req[] = {0,    0, 0, 18,  0,   18,  0,   0,   0x45, 0x44, 0x44,
                                        0x59, 0, 8, 'e', 'd', 'd', 'y', '-', 'c',  'l',  'i'};
    unsigned char ans[8];
    int closed = 0;
    size_t got = exchange(fd, req, sizeof req, ans, sizeof ans, MIN(deadline, now_mono_ms() + 2000),
                          &closed);
    close(fd);
    if (got == sizeof ans && !memcmp(ans + 4, req + 8, 4)) return PROBE_OK;
    /* Not Kafka. An HTTP server (eddyd's --http port is the usual mistake) answers a GET. */
    int http = 0;
    fd = socket(ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&ai_addr, ai_addrlen) == 0) {
        static const char get[] = "GET / HTTP/1.0\r\n\r\n";
        unsigned char h[5];
        int c2 = 0;
        http = exchange(fd, get, sizeof get - 1, h, sizeof h, MIN(deadline, now_mono_ms() + 1000),
                        &c2) >= 5 &&
               !memcmp(h, "HTTP/", 5);
    }
    if (fd >= 0) close(fd);
    if (http) {
        snprintf(why, whylen,
                 "%s:%s is an HTTP port, not a Kafka listener (eddyd's --http port? its Kafka "
                 "port is --listen, 127.0.0.1:9092 by default)",
                 host, port);
        return PROBE_HTTP;
    }
    if (got == 0 && !closed) return PROBE_OK; /* silent: maybe a slow broker; librdkafka decides */
    snprintf(why, whylen,
             "%s:%s accepts connections but %s a Kafka ApiVersions request: not a Kafka listener",
             host, port, got ? "answered garbage to" : "closed the connection on");
    return PROBE_NOT_KAFKA;
}

/* 0 if one of the bootstrap servers is a Kafka listener; else prints why (with the time really
 * waited) and returns CLI_EUNREACHABLE. Skipped for TLS/SASL listeners (-X security.protocol
 * or EDDY_KAFKA_SECURITY_PROTOCOL),
 * where librdkafka's own error is the better one. */
static int probe_bootstrap(void)
{
    for (int i = 0; i < g_cli.nprops; i++)
        if (!strncmp(g_cli.props[i], "security.protocol=", 18) &&
            strcasecmp(g_cli.props[i] + 18, "plaintext"))
            return 0;
    const char *env_proto = getenv("EDDY_KAFKA_SECURITY_PROTOCOL");
    if (env_proto && *env_proto && strcasecmp(env_proto, "plaintext")) return 0;
    int64_t t0 = now_mono_ms(), deadline = t0 + g_cli.timeout_ms;
    char *list = xstrdup(g_cli.bootstrap), *save = NULL, why[512] = "";
    int rc = -1;
    for (char *a = strtok_r(list, ",", &save); a && rc; a = strtok_r(NULL, ",", &save)) {
        while (*a == ' ') a++;
        if (*a) rc = probe_addr(a, deadline, why, sizeof why);
    }
    free(list);
    if (rc <= 0) return 0;
    return cli_fail(CLI_EUNREACHABLE, "%s (after %lld ms)", why, (long long)(now_mono_ms() - t0));
}

int cli_metadata(rd_kafka_t *rk, const struct rd_kafka_metadata **md)
{
    *md = NULL;
    int64_t t0 = now_mono_ms();
    if (probe_bootstrap()) return CLI_EUNREACHABLE;
    int left = (int)MAX(g_cli.timeout_ms - (now_mono_ms() - t0), 1);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, md, left);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return CLI_OK;
    *md = NULL;
    long long waited = (long long)(now_mono_ms() - t0);
    rd_kafka_poll(rk, 0); /* serve the error callback */
    if (g_auth_error[0])
        return cli_fail(CLI_EFAIL,
                        "the broker at %s refused the connection: %s (check security.protocol,"
                        " sasl.* and ssl.* in -X or EDDY_KAFKA_*)",
                        g_cli.bootstrap, g_auth_error);
    if (e == RD_KAFKA_RESP_ERR__TIMED_OUT || e == RD_KAFKA_RESP_ERR__TRANSPORT ||
        e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || e == RD_KAFKA_RESP_ERR__RESOLVE)
        return cli_fail(CLI_EUNREACHABLE,
                        "no metadata from the broker at %s after %lld ms (%s); the broker may "
                        "advertise an address this host cannot reach",
                        g_cli.bootstrap, waited, rd_kafka_err2str(e));
    return cli_fail(CLI_EFAIL, "metadata request to %s failed after %lld ms: %s", g_cli.bootstrap,
                    waited, rd_kafka_err2str(e));
}

const struct rd_kafka_metadata_topic *cli_md_topic(const struct rd_kafka_metadata *md,
                                                   const char *name)
{
    for (int i = 0; md && i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, name) && md->topics[i].err == 0) return &md->topics[i];
    return NULL;
}

int cli_topic_internal(const char *name)
{
    return name[0] == '_';
}

rd_kafka_event_t *cli_admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type)
{
    int64_t deadline = now_mono_ms() + g_cli.timeout_ms + 2000;
    for (;;) {
        int64_t left = deadline - now_mono_ms();
        if (left <= 0) break;
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, (int)MIN(left, 1000));
        if (!ev) continue;
        if (rd_kafka_event_type(ev) == type) return ev;
        rd_kafka_event_destroy(ev); /* logs, errors: not ours */
    }
    cli_fail(CLI_EUNREACHABLE, "no answer from %s within %d ms", g_cli.bootstrap, g_cli.timeout_ms);
    return NULL;
}

void cli_admin_start(cli_admin *a, rd_kafka_t *rk, rd_kafka_admin_op_t op)
{
    char errstr[256];
    a->q = rd_kafka_queue_new(rk);
    a->o = rd_kafka_AdminOptions_new(rk, op);
    a->ev = NULL;
    rd_kafka_AdminOptions_set_request_timeout(a->o, g_cli.timeout_ms, errstr, sizeof errstr);
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS)
        rd_kafka_AdminOptions_set_operation_timeout(a->o, g_cli.timeout_ms, errstr, sizeof errstr);
}

int cli_admin_result(cli_admin *a, rd_kafka_event_type_t type, const char *what_fmt, ...)
{
    a->ev = cli_admin_wait(a->q, type);
    if (!a->ev) return CLI_EUNREACHABLE;
    if (!rd_kafka_event_error(a->ev)) return CLI_OK;
    char what[512];
    va_list ap;
    va_start(ap, what_fmt);
    vsnprintf(what, sizeof what, what_fmt, ap);
    va_end(ap);
    int rc = cli_fail(CLI_EFAIL, "%s: %s (%s)", what, rd_kafka_event_error_string(a->ev),
                      rd_kafka_err2name(rd_kafka_event_error(a->ev)));
    rd_kafka_event_destroy(a->ev);
    a->ev = NULL;
    return rc;
}

void cli_admin_end(cli_admin *a)
{
    if (a->ev) rd_kafka_event_destroy(a->ev);
    rd_kafka_AdminOptions_destroy(a->o);
    rd_kafka_queue_destroy(a->q);
}

/* ---- a lost broker, said once, and its return ---------------------------------------------- */

int g_cli_watch_broker;
static int g_lost;
static int64_t g_lost_at;

void cli_broker_lost(const char *why)
{
    if (g_lost) return;
    g_lost = 1;
    g_lost_at = now_mono_ms();
    fprintf(stderr, "eddy: lost the broker at %s (%s); reconnecting, Ctrl-C to stop\n",
            g_cli.bootstrap, why);
}

void cli_broker_back(void)
{
    if (!g_lost) return;
    g_lost = 0;
    fprintf(stderr, "eddy: reading again after %lld ms\n", (long long)(now_mono_ms() - g_lost_at));
}

/* ---- scanner ------------------------------------------------------------------------------- */

int cli_scan_add_topic(rd_kafka_t *rk, cli_scan *s, const struct rd_kafka_metadata_topic *t)
{
    for (int i = 0; i < t->partition_cnt; i++) {
        int64_t lo = 0, hi = 0;
        int32_t p = t->partitions[i].id;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, t->topic, p, &lo, &hi, g_cli.timeout_ms);
        if (e)
            return cli_fail(CLI_EFAIL, "watermarks of %s/%d: %s", t->topic, (int)p,
                            rd_kafka_err2str(e));
        s->parts = xrealloc(s->parts, sizeof *s->parts * (size_t)(s->nparts + 1));
        cli_part *cp = &s->parts[s->nparts++];
        cp->topic = xstrdup(t->topic);
        cp->partition = p;
        cp->low = lo;
        cp->high = hi;
        cp->next = lo;
    }
    return CLI_OK;
}

static cli_part *scan_find(cli_scan *s, const char *topic, int32_t p)
{
    for (int i = 0; i < s->nparts; i++)
        if (s->parts[i].partition == p && !strcmp(s->parts[i].topic, topic)) return &s->parts[i];
    return NULL;
}

static int scan_done(const cli_scan *s)
{
    for (int i = 0; i < s->nparts; i++)
        if (s->parts[i].next < s->parts[i].high) return 0;
    return 1;
}

int cli_scan_run(rd_kafka_t *rk, cli_scan *s, int follow, volatile int *stop, cli_scan_fn fn,
                 void *arg)
{
    int rc = CLI_OK;
    if (!follow && scan_done(s)) return CLI_OK;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(s->nparts);
    for (int i = 0; i < s->nparts; i++)
        rd_kafka_topic_partition_list_add(l, s->parts[i].topic, s->parts[i].partition)->offset =
            s->parts[i].next;
    rd_kafka_poll_set_consumer(rk); /* error callbacks served by consumer_poll */
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) return cli_fail(CLI_EFAIL, "assign: %s", rd_kafka_err2str(e));
    int64_t idle_since = now_mono_ms();
    while (!(stop && *stop)) {
        if (!follow && scan_done(s)) break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) {
            /* Without --follow the end is known: a stall this long means something is wrong. */
            if (!follow && now_mono_ms() - idle_since > (int64_t)g_cli.timeout_ms * 3) {
                rc = cli_fail(CLI_EFAIL, "no progress reading within %d ms", g_cli.timeout_ms * 3);
                break;
            }
            continue;
        }
        if (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) cli_broker_back();
        if (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) idle_since = now_mono_ms();
        cli_part *cp = m->rkt ? scan_find(s, rd_kafka_topic_name(m->rkt), m->partition) : NULL;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* The EOF offset is the high watermark now: at or past the one we started with. */
            if (cp) cp->next = MAX(cp->next, m->offset);
        } else if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
                cli_broker_lost(rd_kafka_message_errstr(m));
            } else {
                rc = cli_fail(CLI_EFAIL, "%s%s%s", m->rkt ? rd_kafka_topic_name(m->rkt) : "",
                              m->rkt ? ": " : "", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                break;
            }
        } else if (cp && (follow || m->offset < cp->high)) {
            cp->next = m->offset + 1;
            if (fn(m, arg)) {
                rd_kafka_message_destroy(m);
                break;
            }
        } else if (cp) {
            cp->next = MAX(cp->next, m->offset + 1);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
    return rc;
}

void cli_scan_free(cli_scan *s)
{
    for (int i = 0; i < s->nparts; i++) free(s->parts[i].topic);
    free(s->parts);
    s->parts = NULL;
    s->nparts = 0;
}

/* ---- message and time helpers -------------------------------------------------------------- */

const char *cli_header(const rd_kafka_message_t *m, const char *name, size_t *len)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t n = 0;
    if (rd_kafka_message_headers(m, &h) || !h) return NULL;
    if (rd_kafka_header_get_last(h, name, &v, &n) || !v) return NULL;
    if (len) *len = n;
    return v;
}

void cli_print_bytes(FILE *f, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        if (b[i] == '\\')
            fputs("\\\\", f);
        else if (b[i] == '\n')
            fputs("\\n", f);
        else if (b[i] == '\t')
            fputs("\\t", f);
        else if (b[i] < 0x20 || b[i] == 0x7f)
            fprintf(f, "\\x%02x", b[i]);
        else
            fputc(b[i], f);
    }
}

struct json_t *cli_json_bytes(const void *p, size_t n)
{
    json_t *j = p ? json_stringn(p, n) : json_null();
    if (j) return j;
    /* Not UTF-8: keep ASCII, replace every other byte. */
    const unsigned char *b = p;
    char *s = xmalloc(n * 3 + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i] < 0x80) {
            s[k++] = (char)b[i];
        } else {
            s[k++] = (char)0xef;
            s[k++] = (char)0xbf;
            s[k++] = (char)0xbd;
        }
    }
    j = json_stringn(s, k);
    free(s);
    return j ? j : json_string("");
}

void cli_json_print(struct json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(6));
    if (s) puts(s);
    free(s);
    json_decref(v);
}

volatile int g_cli_stop;

static void on_signal(int sig)
{
    g_cli_stop = sig;
}

void cli_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- main ---------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int (*fn)(int, char **);
} k_cmds[] = {
    {"topics", cmd_topics},
    {"topic", cmd_topics},
    {"produce", cmd_produce},
    {"consume", cmd_consume},
    {"groups", cmd_groups},
    {"group", cmd_groups},
    {"txn", cmd_txn},
    {"acls", cmd_acls},
    {"dlq", cmd_dlq},
    {"trace", cmd_trace},
    {"schemas", cmd_schemas},
    {"bench", cmd_bench},
    {"completion", cmd_completion},
    {"subscriptions", cmd_subscriptions},
    {"sagas", cmd_sagas},
    {"projections", cmd_projections},
    {"users", cmd_users},
    {"configs", cmd_configs},
};

int main(int argc, char **argv)
{
    g_cli.bootstrap = getenv("EDDY_BOOTSTRAP_SERVERS");
    if (!g_cli.bootstrap || !*g_cli.bootstrap) g_cli.bootstrap = "127.0.0.1:9092";
    g_cli.timeout_ms = 10000;
    setvbuf(stdout, NULL, _IOLBF, 0);

    static const struct option lo[] = {
        CLI_GLOBAL_LONGOPTS, {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    int c;
    opterr = 1;
    /* '+': stop at the command word; the command parses the rest. */
    while ((c = getopt_long(argc, argv, "+" CLI_GLOBAL_SHORTOPTS, lo, NULL)) != -1) {
        if (c == 'h') {
            fputs(k_help, stdout);
            return CLI_OK;
        }
        if (c == 'V') {
            printf("eddy %s\nlibrdkafka %s\n", EDDY_VERSION_FULL, rd_kafka_version_str());
            return CLI_OK;
        }
        int r = cli_global_opt(c, optarg);
        if (r < 0) return CLI_EUSAGE;
        if (r == 0) {
            fputs(k_help, stderr);
            return CLI_EUSAGE;
        }
    }
    if (optind >= argc) {
        fputs(k_help, stderr);
        return CLI_EUSAGE;
    }
    const char *cmd = argv[optind];
    if (!strcmp(cmd, "help")) {
        fputs(k_help, stdout);
        return CLI_OK;
    }
    for (size_t i = 0; i < ARRAY_LEN(k_cmds); i++) {
        if (!strcmp(cmd, k_cmds[i].name)) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 0; /* full re-initialisation of getopt for the command */
            return k_cmds[i].fn(sub_argc, sub_argv);
        }
    }
    return cli_usage_error(k_help, "unknown command '%s'", cmd);
}
