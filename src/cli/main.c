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
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

cli_opts g_cli;

static const char *const k_help =
    "eddy — command-line tool for Eddy and any Kafka-protocol cluster\n"
    "\n"
    "usage: eddy [global options] COMMAND [args]\n"
    "\n"
    "commands:\n"
    "  topics list|create|delete|describe   manage topics\n"
    "  produce TOPIC                        produce stdin lines (acks=all, idempotent)\n"
    "  consume TOPIC                        print messages (partition, offset, key, headers)\n"
    "  groups list|describe|lag             consumer groups and their lag\n"
    "  dlq TOPIC                            print the dead letters of TOPIC (TOPIC.dlq)\n"
    "  trace CORRELATION_ID                 every event of one flow, in time order\n"
    "  schemas list|get|register|check      the schema registry (eddyd's --http port)\n"
    "  bench TOPIC                          produce/consume throughput and latency\n"
    "  sagas list|stuck|show|retry          saga instances of an orchestrator (its HTTP port)\n"
    "  projections list|show|rebuild        projections of a read-side service (its HTTP port)\n"
    "\n"
    "global options (before or after the command):\n"
    "  -b, --brokers HOST:PORT   bootstrap servers (env EDDY_BOOTSTRAP_SERVERS,\n"
    "                            default 127.0.0.1:9092)\n"
    "  -t, --timeout MS          time to reach the broker and for admin requests (10000)\n"
    "  -X, --property K=V        librdkafka client property (repeatable)\n"
    "      --json                one JSON object per line (consume, dlq, trace, lag, list)\n"
    "  -v, --verbose             librdkafka logs on stderr\n"
    "  -h, --help                help (eddy COMMAND --help for a command)\n"
    "\n"
    "exit codes: 0 ok, 1 failed, 2 bad arguments, 3 broker unreachable, 4 not found\n";

/* ---- messages and parsing ------------------------------------------------------------------ */

int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("eddy: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int cli_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("eddy: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (usage) fprintf(stderr, "%s", usage);
    return CLI_EUSAGE;
}

int cli_parse_int(const char *s, long long min, long long max, long long *out)
{
    if (!s || !*s) return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

int cli_global_opt(int c, const char *arg)
{
    long long v;
    switch (c) {
    case 'b':
        g_cli.bootstrap = arg;
        return 1;
    case 't':
        if (cli_parse_int(arg, 1, 3600000, &v) < 0) {
            cli_fail(CLI_EUSAGE, "--timeout wants milliseconds (1..3600000), got '%s'", arg);
            return -1;
        }
        g_cli.timeout_ms = (int)v;
        return 1;
    case 'v':
        g_cli.verbose = 1;
        return 1;
    case 'J':
        g_cli.json = 1;
        return 1;
    case 'X':
        if (!strchr(arg, '=') || g_cli.nprops >= CLI_MAX_PROPS) {
            cli_fail(CLI_EUSAGE, "-X wants key=value (at most %d), got '%s'", CLI_MAX_PROPS,
                     arg);
            return -1;
        }
        g_cli.props[g_cli.nprops++] = arg;
        return 1;
    default:
        return 0;
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

rd_kafka_conf_t *cli_conf(const char *const *extra, int nextra)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (set_prop(conf, "client.id=eddy-cli") || set_prop(conf, "log.connection.close=false"))
        goto fail;
    if (rd_kafka_conf_set(conf, "bootstrap.servers", g_cli.bootstrap, errstr, sizeof errstr)) {
        cli_fail(CLI_EUSAGE, "bootstrap '%s': %s", g_cli.bootstrap, errstr);
        goto fail;
    }
    for (int i = 0; i < nextra; i++)
        if (set_prop(conf, extra[i])) goto fail;
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

int cli_metadata(rd_kafka_t *rk, const struct rd_kafka_metadata **md)
{
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, md, g_cli.timeout_ms);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return CLI_OK;
    *md = NULL;
    if (e == RD_KAFKA_RESP_ERR__TIMED_OUT || e == RD_KAFKA_RESP_ERR__TRANSPORT ||
        e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || e == RD_KAFKA_RESP_ERR__RESOLVE)
        return cli_fail(CLI_EUNREACHABLE, "cannot reach a broker at %s within %d ms (%s)",
                        g_cli.bootstrap, g_cli.timeout_ms, rd_kafka_err2str(e));
    return cli_fail(CLI_EFAIL, "metadata request to %s failed: %s", g_cli.bootstrap,
                    rd_kafka_err2str(e));
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
    cli_fail(CLI_EUNREACHABLE, "no answer from %s within %d ms", g_cli.bootstrap,
             g_cli.timeout_ms);
    return NULL;
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
                rc = cli_fail(CLI_EFAIL, "no progress reading within %d ms",
                              g_cli.timeout_ms * 3);
                break;
            }
            continue;
        }
        idle_since = now_mono_ms();
        cli_part *cp = m->rkt ? scan_find(s, rd_kafka_topic_name(m->rkt), m->partition) : NULL;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* The EOF offset is the high watermark now: at or past the one we started with. */
            if (cp) cp->next = MAX(cp->next, m->offset);
        } else if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
                fprintf(stderr, "eddy: %s\n", rd_kafka_message_errstr(m));
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
        if (b[i] == '\\') fputs("\\\\", f);
        else if (b[i] == '\n') fputs("\\n", f);
        else if (b[i] == '\t') fputs("\\t", f);
        else if (b[i] < 0x20 || b[i] == 0x7f) fprintf(f, "\\x%02x", b[i]);
        else fputc(b[i], f);
    }
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int cli_parse_rfc3339(const char *s, int64_t *ms)
{
    int Y, M, D, h, m, sec, frac = 0;
    if (!s || strlen(s) < 19) return -1;
    if (digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        int nd = 0;
        for (p++; isdigit((unsigned char)*p); p++, nd++)
            if (nd < 3) frac = frac * 10 + (*p - '0');
        if (nd == 0) return -1;
        for (; nd < 3; nd++) frac *= 10;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om)) return -1;
        off = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return -1;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h,
                    .tm_min = m, .tm_sec = sec};
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - (int64_t)off * 60) * 1000 + frac;
    return 0;
}

void cli_format_ms(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
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
    {"topics", cmd_topics}, {"topic", cmd_topics},   {"produce", cmd_produce},
    {"consume", cmd_consume}, {"groups", cmd_groups}, {"group", cmd_groups},
    {"dlq", cmd_dlq},         {"trace", cmd_trace},  {"schemas", cmd_schemas},
    {"bench", cmd_bench},
    {"sagas", cmd_sagas},     {"projections", cmd_projections},
};

int main(int argc, char **argv)
{
    g_cli.bootstrap = getenv("EDDY_BOOTSTRAP_SERVERS");
    if (!g_cli.bootstrap || !*g_cli.bootstrap) g_cli.bootstrap = "127.0.0.1:9092";
    g_cli.timeout_ms = 10000;
    setvbuf(stdout, NULL, _IOLBF, 0);

    static const struct option lo[] = {CLI_GLOBAL_LONGOPTS, {"version", no_argument, NULL, 'V'},
                                       {NULL, 0, NULL, 0}};
    int c;
    opterr = 1;
    /* '+': stop at the command word; the command parses the rest. */
    while ((c = getopt_long(argc, argv, "+" CLI_GLOBAL_SHORTOPTS, lo, NULL)) != -1) {
        if (c == 'h') {
            fputs(k_help, stdout);
            return CLI_OK;
        }
        if (c == 'V') {
            printf("eddy (librdkafka %s)\n", rd_kafka_version_str());
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
