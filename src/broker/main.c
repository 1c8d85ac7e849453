/* main — eddyd: start-up (settings, data directory, identity, storage, listeners), the event
 * loop, and a clean shutdown on SIGTERM/SIGINT (stop accepting, fsync everything, answer what
 * can be answered, close files).
 *
 *   eddyd [--data-dir DIR] [--listen HOST:PORT] [--http HOST:PORT] [--config FILE]
 *         [--set key=value ...] [--log-level debug|info|warn|error]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "broker/broker.h"
#include "broker/server.h"
#include "common/log.h"
#include "common/util.h"

#include "eddy_version.h" /* EDDY_VERSION, EDDY_VERSION_FULL: generated (cmake/EddyVersion.cmake) */

/* Parts linked in when present (weak), so the broker starts with whatever is built. */
int topics_load(broker *b) __attribute__((weak));
void topics_close(broker *b) __attribute__((weak));
void topics_housekeeping(broker *b) __attribute__((weak));
int group_coord_start(broker *b) __attribute__((weak));
void group_coord_stop(broker *b) __attribute__((weak));
int http_start_for_broker(broker *b) __attribute__((weak));
void http_stop_for_broker(broker *b) __attribute__((weak));
int registry_start(broker *b) __attribute__((weak));
void registry_stop(broker *b) __attribute__((weak));
void produce_on_flush(broker *b) __attribute__((weak));
void group_on_flush(broker *b) __attribute__((weak));

static void usage(FILE *f)
{
    fprintf(f,
            "usage: eddyd [options]\n"
            "  --data-dir DIR        where the logs live (default ./eddy-data)\n"
            "  --listen HOST:PORT    Kafka protocol listener (default 127.0.0.1:9092; port 0 ="
            " any free port)\n"
            "  --http HOST:PORT      HTTP port: /metrics, /healthz, schema registry, admin\n"
            "  --config FILE         key=value settings (Kafka names, e.g. num.partitions)\n"
            "  --set KEY=VALUE       one setting (repeatable; wins over --config)\n"
            "  --log-level LEVEL     debug, info, warn or error (default info)\n"
            "  --list-settings       print every setting with its default and exit\n"
            "  --version             print the version and exit\n");
}

static void on_flush_event(loop *l, int fd, uint32_t events, void *arg)
{
    (void)l;
    (void)events;
    broker *b = arg;
    uint64_t v;
    while (read(fd, &v, sizeof v) == (ssize_t)sizeof v) {
    }
    if (produce_on_flush) produce_on_flush(b);
    if (group_on_flush) group_on_flush(b);
}

static void on_signal(loop *l, int fd, uint32_t events, void *arg)
{
    (void)events;
    (void)arg;
    struct signalfd_siginfo si;
    if (read(fd, &si, sizeof si) == (ssize_t)sizeof si)
        LOGI("main", "received %s: shutting down", strsignal((int)si.ssi_signo));
    loop_stop(l);
}

static int64_t g_housekeeping_ms;
static void on_housekeeping(loop *l, void *arg)
{
    broker *b = arg;
    if (topics_housekeeping) topics_housekeeping(b);
    if (!loop_stopping(l)) loop_timer_add(l, g_housekeeping_ms, on_housekeeping, b);
}

/* meta.properties: the broker's identity, kept across restarts (Kafka's file name and keys). */
static int load_identity(broker *b)
{
    char *path = xasprintf("%s/meta.properties", b->data_dir);
    size_t len;
    char *s = read_file_all(path, &len);
    int rc = 0;
    if (s) {
        char *cid = strstr(s, "cluster.id=");
        if (cid) {
            cid += strlen("cluster.id=");
            size_t n = strcspn(cid, "\r\n");
            if (n > 0 && n < sizeof b->cluster_id) {
                memcpy(b->cluster_id, cid, n);
                b->cluster_id[n] = 0;
            }
        }
        free(s);
    }
    if (!b->cluster_id[0]) {
        /* 22 chars of base64url from 16 random bytes, like Kafka's Uuid.toString */
        static const char al[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        uint8_t u[16];
        rand_bytes(u, sizeof u);
        uint32_t acc = 0;
        int bits = 0, o = 0;
        for (int i = 0; i < 16; i++) {
            acc = (acc << 8) | u[i];
            bits += 8;
            while (bits >= 6) {
                b->cluster_id[o++] = al[(acc >> (bits - 6)) & 63];
                bits -= 6;
            }
        }
        if (bits > 0) b->cluster_id[o++] = al[(acc << (6 - bits)) & 63];
        b->cluster_id[o] = 0;
        char *body = xasprintf("# written by eddyd\nversion=1\ncluster.id=%s\nnode.id=%d\n",
                               b->cluster_id, b->node_id);
        rc = write_file_atomic(path, body, strlen(body));
        if (rc < 0) LOGE("main", "cannot write %s: %s", path, strerror(-rc));
        else LOGI("main", "new data directory %s: cluster id %s", b->data_dir, b->cluster_id);
        free(body);
    }
    free(path);
    return rc;
}

int main(int argc, char **argv)
{
    static broker B;
    broker *b = &B;
    bconfig_init(&b->cfg);
    b->listen_fd = -1;
    b->flush_efd = -1;
    const char *data_dir = getenv("EDDY_DATA_DIR") ? getenv("EDDY_DATA_DIR") : "./eddy-data";
    const char *config_file = NULL;
    char err[512];
    enum { O_DATA = 1000, O_LISTEN, O_HTTP, O_CONFIG, O_SET, O_LOGLEVEL, O_VERSION, O_LIST, O_HELP };
    static const struct option opts[] = {
        {"data-dir", required_argument, 0, O_DATA},   {"listen", required_argument, 0, O_LISTEN},
        {"http", required_argument, 0, O_HTTP},       {"config", required_argument, 0, O_CONFIG},
        {"set", required_argument, 0, O_SET},         {"log-level", required_argument, 0, O_LOGLEVEL},
        {"version", no_argument, 0, O_VERSION},       {"list-settings", no_argument, 0, O_LIST},
        {"help", no_argument, 0, O_HELP},             {0, 0, 0, 0},
    };
    /* first pass: --config, so that later flags win over the file */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--config") && i + 1 < argc) config_file = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9)) config_file = argv[i] + 9;
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
        case O_LIST: {
            char buf[512];
            bconfig d;
            bconfig_init(&d);
            for (int i = 0; i < bconfig_count(); i++)
                printf("%s=%s\n", bconfig_key(i), bconfig_value(&d, i, buf, sizeof buf));
            bconfig_free(&d);
            return 0;
        }
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
    int lvl = log_parse_level(b->cfg.log_level ? b->cfg.log_level : "info");
    if (lvl < 0) {
        fprintf(stderr, "eddyd: unknown log level \"%s\"\n", b->cfg.log_level);
        return 2;
    }
    log_set_level((enum log_level)lvl);
    int64_t t0 = now_mono_us();
    b->started_ms = now_wall_ms();
    b->node_id = b->cfg.node_id;

    signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);

    int rc = mkdir_p(data_dir, 0755);
    if (rc < 0) {
        LOGE("main", "cannot create data directory %s: %s", data_dir, strerror(-rc));
        return 1;
    }
    b->data_dir = realpath(data_dir, NULL);
    if (!b->data_dir) b->data_dir = xstrdup(data_dir);
    char *lock_path = xasprintf("%s/.lock", b->data_dir);
    int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
        LOGE("main", "data directory %s is in use by another eddyd (%s)", b->data_dir,
             strerror(errno));
        return 1;
    }
    free(lock_path);
    if (load_identity(b) < 0) return 1;

    b->loop = loop_new();
    if (!b->loop) {
        LOGE("main", "cannot create the event loop: %s", strerror(errno));
        return 1;
    }
    b->flush_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b->flush_efd < 0 || loop_add_fd(b->loop, b->flush_efd, EPOLLIN, on_flush_event, b) < 0) {
        LOGE("main", "eventfd: %s", strerror(errno));
        return 1;
    }
    b->flusher = flusher_start(b->flush_efd,
                               b->cfg.log_flush_interval_ms > 0 ? b->cfg.log_flush_interval_ms : 0);
    if (!b->flusher) {
        LOGE("main", "cannot start the flush thread");
        return 1;
    }
    if (topics_load && topics_load(b) < 0) {
        LOGE("main", "cannot load the topics in %s", b->data_dir);
        return 1;
    }
    if (group_coord_start && group_coord_start(b) < 0) {
        LOGE("main", "cannot start the group coordinator");
        return 1;
    }

    int port = 0;
    if (server_listen(b, b->cfg.listeners, &port) < 0) return 1;
    char lhost[256];
    int lport;
    server_parse_hostport(b->cfg.listeners, lhost, sizeof lhost, &lport);
    const char *adv = b->cfg.advertised_listeners;
    if (adv && adv[0]) {
        if (server_parse_hostport(adv, b->adv_host, sizeof b->adv_host, &b->adv_port) < 0) {
            LOGE("main", "bad advertised.listeners \"%s\" (expected host:port)", adv);
            return 1;
        }
        if (b->adv_port == 0) b->adv_port = port;
    } else {
        snprintf(b->adv_host, sizeof b->adv_host, "%s",
                 (!lhost[0] || !strcmp(lhost, "0.0.0.0") || !strcmp(lhost, "::")) ? "127.0.0.1"
                                                                                   : lhost);
        b->adv_port = port;
    }
    if (b->cfg.http_listen && b->cfg.http_listen[0]) {
        if (!http_start_for_broker) {
            LOGE("main", "--http given but this eddyd was built without the HTTP port");
            return 1;
        }
        if (http_start_for_broker(b) < 0) return 1;
        if (registry_start && registry_start(b) < 0) {
            LOGE("main", "cannot start the schema registry");
            return 1;
        }
    }
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0 || loop_add_fd(b->loop, sfd, EPOLLIN, on_signal, b) < 0) {
        LOGE("main", "signalfd: %s", strerror(errno));
        return 1;
    }
    g_housekeeping_ms = MIN(b->cfg.log_retention_check_interval_ms, 10000);
    loop_timer_add(b->loop, g_housekeeping_ms, on_housekeeping, b);

    LOGI("main", "eddyd %s node %d cluster %s, data %s, advertised %s:%d", EDDY_VERSION,
         b->node_id, b->cluster_id, b->data_dir, b->adv_host, b->adv_port);
    LOGI("main", "listening on %s:%d (ready in %.1f ms)", lhost[0] ? lhost : "0.0.0.0", port,
         (double)(now_mono_us() - t0) / 1000.0);

    loop_run(b->loop);

    /* shutdown: nothing new comes in; everything written is fsynced; parked acks=all
     * produces are answered; queued responses are written out; files are closed. */
    server_stop_listening(b);
    if (registry_stop) registry_stop(b);
    if (http_stop_for_broker) http_stop_for_broker(b);
    flusher_stop(b->flusher);
    b->flusher = NULL;
    if (produce_on_flush) produce_on_flush(b);
    if (group_on_flush) group_on_flush(b);
    server_flush_and_close_all(2000);
    if (group_coord_stop) group_coord_stop(b);
    if (topics_close) topics_close(b);
    loop_free(b->loop);
    close(b->flush_efd);
    close(sfd);
    LOGI("main", "stopped cleanly");
    bconfig_free(&b->cfg);
    free(b->data_dir);
    close(lock_fd);
    return 0;
}
