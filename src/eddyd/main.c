/* main — eddyd: settings, then the assembly of the broker and the modules above it (the API
 * handler table, the flush hooks and the HTTP route table), the event loop, and a clean shutdown
 * on SIGTERM/SIGINT (stop accepting, fsync everything, answer what can be answered, close
 * files). The only file that knows every module; the lifecycle itself is broker.c's.
 *
 *   eddyd [--data-dir DIR] [--listen HOST:PORT] [--http HOST:PORT] [--config FILE]
 *         [--set key=value ...] [--log-level debug|info|warn|error]
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "broker/authorize.h"
#include "broker/broker.h"
#include "broker/server.h"
#include "common/log.h"
#include "common/util.h"
#include "group/group.h"
#include "txn/txn.h"
#include "http/http.h"
#include "registry/registry.h"
#include "metrics/metrics.h"
#include "rest/rest.h"
#include "console/console.h"

#include "http_auth.h"
#include "eddy_version.h" /* EDDY_VERSION, EDDY_VERSION_FULL: generated (cmake/EddyVersion.cmake) */
#define HTTP_MAX_BODY (16u << 20)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: eddyd [options]\n"
            "  --data-dir DIR        where the logs live (default ./eddy-data)\n"
            "  --listen HOST:PORT    Kafka protocol listener (default 127.0.0.1:9092; port 0 ="
            " any free port);\n"
            "                        several, with security: --set listeners=PLAINTEXT://H:P,"
            "SASL_SSL://H:P\n"
            "                        (TLS, SASL, users: docs/security.md; the default listener is\n"
            "                        unauthenticated)\n"
            "  --http HOST:PORT      HTTP port: the web console at / and its JSON admin API\n"
            "                        /api/v1/ (docs/admin-api.md), schema registry, REST produce,\n"
            "                        /metrics, /healthz (default 127.0.0.1:8081; \"off\" = none;\n"
            "                        port 0 = any free port)\n"
            "  --config FILE         key=value settings (Kafka names, e.g. num.partitions)\n"
            "  --set KEY=VALUE       one setting (repeatable; wins over --config)\n"
            "  --log-level LEVEL     debug, info, warn or error (default info)\n"
            "  --list-settings       print every setting with its description and current value\n"
            "                        (after --config/--set; the output is a valid --config file)\n"
            "  --version             print the version and exit\n"
            "environment: EDDY_BOOTSTRAP_USER=name:password creates the first SCRAM user\n"
            "signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads TLS certificates\n"
            "ACLs and quotas: --set authorizer.class.name=eddy.acl --set super.users=User:admin;\n"
            "  eddy acls add|list|delete; quotas via AlterClientQuotas; the HTTP port:\n"
            "  --set http.authentication.method=BASIC (docs/authorization.md)\n");
}

static http_server *g_http; /* for SIGHUP: its certificates are reloaded with the listeners' */
static void http_reload_tls(broker *b);

static void on_signal(loop *l, int fd, uint32_t events, void *arg)
{
    (void)events;
    broker *b = arg;
    struct signalfd_siginfo si;
    if (read(fd, &si, sizeof si) != (ssize_t)sizeof si) return;
    if (si.ssi_signo == SIGHUP) { /* certificate rotation: new files for new connections */
        LOGI("main", "received SIGHUP: reloading TLS certificates");
        broker_reload_tls(b);
        http_reload_tls(b);
        return;
    }
    LOGI("main", "received %s: shutting down", strsignal((int)si.ssi_signo));
    loop_stop(l);
}

/* The REST produce API finds the schemas payloads name in the registry (rest_lookup_fn). */
static int rest_schema_lookup(void *arg, int32_t id, const char *subject, int32_t version,
                              rest_schema *out)
{
    broker *b = arg;
    registry_schema rs;
    int rc = subject ? registry_schema_by_version(b, subject, version, &rs)
                     : registry_schema_by_id(b, id, &rs);
    if (rc != 0) return -1;
    *out = (rest_schema){rs.id, rs.type, rs.schema};
    return 0;
}

/* --list-settings: every setting as "# description" + "key=value" (current value, after --config
 * and --set), so the output is itself a valid --config file. */
static void print_settings(const bconfig *cfg)
{
    char buf[512];
    for (int i = 0; i < bconfig_count(); i++) {
        printf("# %s", bconfig_describe(i));
        if (!bconfig_is_default(cfg, i)) printf(" (default \"%s\")", bconfig_default(i));
        printf("\n%s=%s\n", bconfig_key(i), bconfig_value(cfg, i, buf, sizeof buf));
    }
}

/* The HTTP port and its route table: /metrics and /healthz, then the registry's routes. */
/* http.listeners=https://HOST:PORT: the Kafka listeners' certificate settings
 * (ssl.keystore.location, or ssl.certificate.location + ssl.key.location; ssl.key.password /
 * ssl.keystore.password; ssl.enabled.protocols). 0 = plain HTTP, 1 = HTTPS with *t filled (bufs to
 * free), -1 = error. */
static int http_tls_settings(const bconfig *c, http_tls *t, char *bufs[2], char *err, size_t errlen)
{
    const char *l = c->http_listen;
    if (!strncasecmp(l, "http://", 7) || !strstr(l, "://")) return 0;
    if (strncasecmp(l, "https://", 8) != 0) {
        snprintf(err, errlen, "http.listeners=%s: the scheme must be http:// or https://", l);
        return -1;
    }
    const char *certf = c->ssl_keystore_location, *keyf = c->ssl_keystore_location;
    if (!certf || !certf[0]) certf = c->ssl_certificate_location, keyf = c->ssl_key_location;
    if (!certf || !certf[0] || !keyf || !keyf[0]) {
        snprintf(err, errlen,
                 "http.listeners=%s needs the server's certificate: set ssl.keystore.location (key"
                 " + certificate chain, PEM) or ssl.certificate.location and ssl.key.location",
                 l);
        return -1;
    }
    size_t len;
    bufs[0] = read_file_all(certf, &len);
    bufs[1] = strcmp(certf, keyf) ? read_file_all(keyf, &len) : NULL;
    if (!bufs[0] || (strcmp(certf, keyf) && !bufs[1])) {
        snprintf(err, errlen, "HTTPS: cannot read %s: %s", !bufs[0] ? certf : keyf,
                 strerror(errno));
        free(bufs[0]);
        free(bufs[1]);
        return -1;
    }
    t->cert_pem = bufs[0];
    t->key_pem = bufs[1] ? bufs[1] : bufs[0];
    t->key_password = c->ssl_key_password && c->ssl_key_password[0] ? c->ssl_key_password
                                                                    : c->ssl_keystore_password;
    t->protocols = c->ssl_enabled_protocols;
    return 1;
}

static void http_reload_tls(broker *b)
{
    if (!g_http || !http_server_tls(g_http)) return;
    char err[512];
    http_tls tls = {0};
    char *bufs[2] = {NULL, NULL};
    int rc = http_tls_settings(&b->cfg, &tls, bufs, err, sizeof err);
    if (rc > 0) rc = http_server_reload_tls(g_http, &tls, err, sizeof err) == 0 ? 1 : -1;
    free(bufs[0]);
    free(bufs[1]);
    if (rc < 0)
        LOGE("http", "HTTPS certificates not reloaded (keeping the old ones): %s", err);
    else
        LOGI("http", "HTTPS certificates reloaded; open connections keep theirs");
}

static http_server *http_start(broker *b, metrics_source *ms)
{
    char err[512];
    http_tls tls = {0};
    char *bufs[2] = {NULL, NULL};
    int use_tls = http_tls_settings(&b->cfg, &tls, bufs, err, sizeof err);
    if (use_tls < 0) {
        LOGE("http", "%s", err);
        return NULL;
    }
    http_server *s = http_server_start_tls(b->loop, b->cfg.http_listen, HTTP_MAX_BODY,
                                           use_tls ? &tls : NULL, err, sizeof err);
    free(bufs[0]);
    free(bufs[1]);
    if (!s) {
        LOGE("http", "%s (pass another --http HOST:PORT, or --http off)", err);
        return NULL;
    }
    http_route(s, "GET", "/metrics", metrics_handle, ms);
    http_route(s, "GET", "/healthz", metrics_healthz, NULL);
    const char *auth = b->cfg.http_authentication_method;
    if (auth && !strcasecmp(auth, "BASIC")) {
        http_set_guard(s, http_auth_guard, b);
    } else if (auth && auth[0] && strcasecmp(auth, "NONE") != 0) {
        LOGE("http", "http.authentication.method=%s: expected NONE or BASIC", auth);
        http_server_stop(s);
        return NULL;
    }
    char host[256];
    int port;
    if (parse_hostport(b->cfg.http_listen, host, sizeof host, &port) < 0) host[0] = 0;
    LOGI("http", "http listening on %s:%d%s", host[0] ? host : "0.0.0.0", http_server_port(s),
         use_tls ? " (HTTPS)" : "");
    return s;
}

int main(int argc, char **argv)
{
    static broker B;
    broker *b = &B;
    bconfig_init(&b->cfg);
    const char *data_dir = getenv("EDDY_DATA_DIR") ? getenv("EDDY_DATA_DIR") : "./eddy-data";
    const char *config_file = NULL;
    bool list_settings = false;
    char err[512];
    enum {
        O_DATA = 1000,
        O_LISTEN,
        O_HTTP,
        O_CONFIG,
        O_SET,
        O_LOGLEVEL,
        O_VERSION,
        O_LIST,
        O_HELP
    };
    static const struct option opts[] = {
        {"data-dir", required_argument, 0, O_DATA}, {"listen", required_argument, 0, O_LISTEN},
        {"http", required_argument, 0, O_HTTP},     {"config", required_argument, 0, O_CONFIG},
        {"set", required_argument, 0, O_SET},       {"log-level", required_argument, 0, O_LOGLEVEL},
        {"version", no_argument, 0, O_VERSION},     {"list-settings", no_argument, 0, O_LIST},
        {"help", no_argument, 0, O_HELP},           {0, 0, 0, 0},
    };
    /* first pass: --config, so that later flags win over the file */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config_file = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            config_file = argv[i] + 9;
    if (config_file && bconfig_load_file(&b->cfg, config_file, err, sizeof err) < 0) {
        fprintf(stderr, "eddyd: %s\n", err);
        return 2;
    }
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *key = NULL;
        switch (c) {
        case O_DATA: data_dir = optarg; break;
        case O_LISTEN: key = "listeners"; break;
        case O_HTTP: key = "http.listeners"; break;
        case O_CONFIG: break;
        case O_LOGLEVEL: key = "log.level"; break;
        case O_SET: {
            char *eq = strchr(optarg, '=');
            if (!eq) {
                fprintf(stderr, "eddyd: --set expects key=value, got \"%s\"\n", optarg);
                return 2;
            }
            *eq = 0;
            if (bconfig_set(&b->cfg, optarg, eq + 1, err, sizeof err) < 0) {
                fprintf(stderr, "eddyd: %s\n", err);
                return 2;
            }
            break;
        }
        case O_VERSION: printf("eddyd %s\n", EDDY_VERSION_FULL); return 0;
        case O_LIST: list_settings = true; break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (key && bconfig_set(&b->cfg, key, optarg, err, sizeof err) < 0) {
            fprintf(stderr, "eddyd: %s\n", err);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "eddyd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (list_settings) {
        print_settings(&b->cfg);
        bconfig_free(&b->cfg);
        return 0;
    }
    int lvl = log_parse_level(b->cfg.log_level ? b->cfg.log_level : "info");
    if (lvl < 0) {
        fprintf(stderr, "eddyd: unknown log level \"%s\"\n", b->cfg.log_level);
        return 2;
    }
    log_set_level((enum log_level)lvl);
    int64_t t0 = now_mono_us();
    b->started_ms = now_wall_ms();

    signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);

    /* the API handler table: the broker's own rows, then the modules above it */
    dispatch_register(broker_core_handlers);
    dispatch_register(group_handlers);
    dispatch_register(txn_handlers);
    dispatch_register(broker_authz_handlers);
    broker_on_flush(b, group_on_flush);
    broker_on_flush(b, txn_on_flush);
    broker_on_flush(b, rest_on_flush);
    broker_on_flush(b, console_on_flush);

    /* Every listener is bound before anything is written to the data directory, so a port
     * clash (or a bad address) leaves no debris behind. */
    if (broker_init(b) < 0) return 1;
    int port = 0;
    if (broker_listen(b, &port) < 0) return 1;
    metrics_source ms = {
        .b = b,
        .foreach_offset = group_foreach_offset,
        .state_counts = group_state_counts,
        .state_names = group_state_names,
        .txn_stats = txn_open_stats,
    };
    http_server *http = NULL;
    rest *rest_api = NULL;
    console *con = NULL;
    if (b->cfg.http_listen && b->cfg.http_listen[0] && strcmp(b->cfg.http_listen, "off") != 0) {
        http = g_http = http_start(b, &ms);
        if (!http) return 1;
    }
    if (broker_open(b, data_dir) < 0) return 1;
    if (group_coord_start(b) < 0) {
        LOGE("main", "cannot start the group coordinator");
        return 1;
    }
    if (txn_coord_start(b) < 0) {
        LOGE("main", "cannot start the transaction coordinator");
        return 1;
    }
    if (http && registry_start(b, http) < 0) {
        LOGE("main", "cannot start the schema registry");
        return 1;
    }
    if (http) rest_api = rest_start(b, http, rest_schema_lookup, b);
    if (http) con = console_start(b, http, EDDY_VERSION_FULL);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0 || loop_add_fd(b->loop, sfd, EPOLLIN, on_signal, b) < 0) {
        LOGE("main", "signalfd: %s", strerror(errno));
        return 1;
    }
    LOGI("main", "eddyd %s node %d cluster %s, data %s, advertised %s:%d", EDDY_VERSION, b->node_id,
         b->cluster_id, b->data_dir, b->adv_host, b->adv_port);
    for (int i = 0; i < b->nlisteners; i++) {
        const blistener *l = &b->listeners[i];
        LOGI("main", "listener %s (%s) on %s:%d, advertised %s:%d", l->name,
             bsecproto_name(l->proto), l->host[0] ? l->host : "0.0.0.0", l->port, l->adv_host,
             l->adv_port);
    }
    if (b->listeners[0].proto == SEC_PLAINTEXT && b->nlisteners == 1 &&
        strcmp(b->listeners[0].host, "127.0.0.1") && strcmp(b->listeners[0].host, "localhost") &&
        strcmp(b->listeners[0].host, "::1"))
        LOGW("main",
             "the Kafka listener is PLAINTEXT on %s: anyone who can reach it can read, write and "
             "delete every topic (docs/security.md)",
             b->listeners[0].host[0] ? b->listeners[0].host : "0.0.0.0");
    LOGI("main", "listening on %s:%d (ready in %.1f ms)",
         b->listeners[0].host[0] ? b->listeners[0].host : "0.0.0.0", port,
         (double)(now_mono_us() - t0) / 1000.0);

    broker_run(b);

    /* shutdown: nothing new comes in; everything written is fsynced; parked acks=all
     * produces are answered; queued responses are written out; files are closed. */
    broker_stop_accepting(b);
    registry_stop(b);
    rest_stop(rest_api);
    console_stop(con);
    if (http) http_server_stop(http);
    g_http = NULL;
    metrics_source_release(&ms);
    broker_drain(b);
    txn_coord_stop(b);
    group_coord_stop(b);
    close(sfd);
    broker_close(b);
    LOGI("main", "stopped cleanly");
    return 0;
}
