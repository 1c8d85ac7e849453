/* broker — the broker's lifecycle, called by eddyd's main (src/eddyd/main.c) in this order:
 * broker_init (event loop), broker_open (data directory, lock, identity, flusher, topics),
 * broker_listen (the Kafka listener and the advertised address), broker_run (housekeeping and
 * the loop), then broker_stop_accepting, broker_drain and broker_close at shutdown. Other
 * modules hook in through broker_on_flush and dispatch_register; the broker calls nothing
 * above itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/authorize.h"
#include "broker/broker.h"
#include "broker/core.h"
#include "broker/server.h"
#include "common/log.h"
#include "common/util.h"
#include "net/tls.h"
#include "security/creds.h"
#include "security/principal.h"
#include "security/sasl.h"

int broker_init(broker *b)
{
    for (int i = 0; i < BROKER_MAX_LISTENERS; i++) b->listeners[i].fd = -1;
    b->flush_efd = -1;
    b->lock_fd = -1;
    b->loop = loop_new();
    if (!b->loop) {
        LOGE("main", "cannot create the event loop: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void broker_on_flush(broker *b, void (*fn)(broker *b))
{
    if (b->nflush_hooks >= (int)(sizeof b->flush_hooks / sizeof b->flush_hooks[0])) {
        LOGE("main", "BUG: more than %d flush hooks", b->nflush_hooks);
        abort();
    }
    b->flush_hooks[b->nflush_hooks++] = fn;
}

static void run_flush_hooks(broker *b)
{
    produce_on_flush(b);
    for (int i = 0; i < b->nflush_hooks; i++) b->flush_hooks[i](b);
}

static void on_flush_event(loop *l, int fd, uint32_t events, void *arg)
{
    (void)l;
    (void)events;
    broker *b = arg;
    uint64_t v;
    while (read(fd, &v, sizeof v) == (ssize_t)sizeof v) {}
    run_flush_hooks(b);
}

#define SCRUB_TICK_MS 100

static void on_scrub(loop *l, void *arg)
{
    broker *b = arg;
    topics_scrub(b, b->cfg.log_scrub_bytes_per_second * SCRUB_TICK_MS / 1000 + 1);
    if (!loop_stopping(l)) loop_timer_add(l, SCRUB_TICK_MS, on_scrub, b);
}

static void on_housekeeping(loop *l, void *arg)
{
    broker *b = arg;
    topics_housekeeping(b);
    if (!loop_stopping(l)) loop_timer_add(l, b->housekeeping_ms, on_housekeeping, b);
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
        static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
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
        if (rc < 0)
            LOGE("main", "cannot write %s: %s", path, strerror(-rc));
        else
            LOGI("main", "new data directory %s: cluster id %s", b->data_dir, b->cluster_id);
        free(body);
    }
    free(path);
    return rc;
}

/* The data directory exists (created if missing) and is usable by this user; otherwise a message
 * naming the path, what is wrong and the fix. */
static int prepare_data_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            LOGE("main",
                 "data directory %s is not a directory (it is a %s): pass --data-dir a "
                 "directory, or move the file away",
                 dir, S_ISREG(st.st_mode) ? "file" : "special file");
            return -1;
        }
        if (access(dir, R_OK | W_OK | X_OK) < 0) {
            LOGE("main",
                 "data directory %s: no permission to read and write it (it belongs to "
                 "uid %u, mode %03o; eddyd runs as uid %u): fix its owner or mode, or pass "
                 "another --data-dir",
                 dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777), (unsigned)geteuid());
            return -1;
        }
        return 0;
    }
    int e = errno;
    if (e == ENOENT) e = -mkdir_p(dir, 0755);
    if (e == 0) return 0;
    if (e == EACCES || e == EPERM)
        LOGE("main",
             "cannot create data directory %s: no permission to write its parent "
             "directory (eddyd runs as uid %u): create it for this user, or pass another "
             "--data-dir",
             dir, (unsigned)geteuid());
    else if (e == ENOTDIR)
        LOGE("main",
             "cannot create data directory %s: a part of that path is a file, not a "
             "directory: pass another --data-dir",
             dir);
    else
        LOGE("main", "cannot create data directory %s: %s", dir, strerror(e));
    return -1;
}

/* Takes data_dir/.lock (flock) and writes our pid into it, so a second eddyd on the same
 * directory can say which process holds it. */
static int lock_data_dir(broker *b)
{
    char *path = xasprintf("%s/.lock", b->data_dir);
    int rc = -1;
    b->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (b->lock_fd < 0) {
        LOGE("main", "cannot open %s: %s%s", path, strerror(errno),
             errno == EACCES ? " (fix the data directory's owner or mode, or pass another "
                               "--data-dir)"
                             : "");
        goto out;
    }
    if (flock(b->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK) {
            LOGE("main", "cannot lock %s: %s", path, strerror(errno));
            goto out;
        }
        char pid[32] = "";
        ssize_t n = pread(b->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\r\n")] = 0;
        LOGE("main",
             "data directory %s is locked by another eddyd (pid %s): stop that one, or "
             "pass another --data-dir",
             b->data_dir, pid[0] ? pid : "unknown");
        close(b->lock_fd);
        b->lock_fd = -1;
        goto out;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(b->lock_fd, 0) < 0 || pwrite(b->lock_fd, pid, (size_t)len, 0) != len)
        LOGW("main", "cannot write our pid into %s: %s", path, strerror(errno));
    rc = 0;
out:
    free(path);
    return rc;
}

/* The SCRAM credential store of the data directory, and EDDY_BOOTSTRAP_USER's first user. */
static int open_credentials(broker *b)
{
    char err[512];
    if (creds_open(b->data_dir, err, sizeof err) < 0) {
        LOGE("main", "SCRAM credentials: %s", err);
        return -1;
    }
    const char *boot = getenv("EDDY_BOOTSTRAP_USER");
    if (boot && boot[0] && creds_bootstrap(boot, err, sizeof err) < 0) {
        LOGE("main", "%s", err);
        return -1;
    }
    bool sasl = false;
    for (int i = 0; i < b->nlisteners; i++)
        if (SEC_IS_SASL(b->listeners[i].proto)) sasl = true;
    if (sasl && creds_count() == 0)
        LOGW("main", "a SASL listener is open but no user exists: nobody can log in (set "
                     "EDDY_BOOTSTRAP_USER=name:password, or add users with eddy users add)");
    return 0;
}

int broker_open(broker *b, const char *data_dir)
{
    b->node_id = b->cfg.node_id;
    if (prepare_data_dir(data_dir) < 0) return -1;
    b->data_dir = realpath(data_dir, NULL);
    if (!b->data_dir) b->data_dir = xstrdup(data_dir);
    if (lock_data_dir(b) < 0) return -1;
    if (load_identity(b) < 0) return -1;
    if (open_credentials(b) < 0) return -1;

    b->flush_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b->flush_efd < 0 || loop_add_fd(b->loop, b->flush_efd, EPOLLIN, on_flush_event, b) < 0) {
        LOGE("main", "eventfd: %s", strerror(errno));
        return -1;
    }
    b->flusher = flusher_start(b->flush_efd,
                               b->cfg.log_flush_interval_ms > 0 ? b->cfg.log_flush_interval_ms : 0);
    if (!b->flusher) {
        LOGE("main", "cannot start the flush thread");
        return -1;
    }
    dynconf_load(b); /* dynamic broker settings hold before the topics open */
    if (topics_load(b) < 0) {
        LOGE("main", "cannot load the topics in %s", b->data_dir);
        return -1;
    }
    if (bauthz_open(b) < 0) return -1;
    return 0;
}

const char *bsecproto_name(int proto)
{
    static const char *const names[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"};
    return proto >= 0 && proto <= 3 ? names[proto] : "?";
}

static int secproto_parse(const char *s, size_t n)
{
    for (int p = 0; p <= 3; p++)
        if (strlen(bsecproto_name(p)) == n && !strncasecmp(s, bsecproto_name(p), n)) return p;
    return -1;
}

/* Next comma-separated entry of *pp, trimmed, into out; false at the end. */
static bool next_entry(const char **pp, char *out, size_t outlen)
{
    const char *p = *pp;
    while (*p == ',' || *p == ' ') p++;
    if (!*p) return false;
    size_t n = strcspn(p, ",");
    size_t t = n;
    while (t && p[t - 1] == ' ') t--;
    snprintf(out, outlen, "%.*s", (int)MIN(t, outlen - 1), p);
    *pp = p + n;
    return true;
}

/* "NAME://rest" -> name and rest; no scheme: name "" and rest = entry. */
static const char *split_scheme(const char *e, char *name, size_t namelen)
{
    const char *sep = strstr(e, "://");
    name[0] = 0;
    if (!sep) return e;
    snprintf(name, namelen, "%.*s", (int)MIN((size_t)(sep - e), namelen - 1), e);
    return sep + 3;
}

/* The protocol of a listener name: listener.security.protocol.map, else the name itself. */
static int listener_proto(const broker *b, const char *name)
{
    const char *p = b->cfg.listener_security_protocol_map;
    char e[128];
    while (p && next_entry(&p, e, sizeof e)) {
        char *colon = strchr(e, ':');
        if (colon && (size_t)(colon - e) == strlen(name) && !strncasecmp(e, name, strlen(name)))
            return secproto_parse(colon + 1, strlen(colon + 1));
    }
    return secproto_parse(name, strlen(name));
}

/* Parses listeners, listener.security.protocol.map and advertised.listeners into
 * b->listeners (ports as configured; 0 = any). Returns 0 or -1 (logged). */
static int parse_listeners(broker *b)
{
    const char *p = b->cfg.listeners ? b->cfg.listeners : "";
    char e[400];
    b->nlisteners = 0;
    while (next_entry(&p, e, sizeof e)) {
        if (b->nlisteners == BROKER_MAX_LISTENERS) {
            LOGE("main", "listeners: at most %d entries", BROKER_MAX_LISTENERS);
            return -1;
        }
        blistener *l = &b->listeners[b->nlisteners];
        char name[64];
        const char *hp = split_scheme(e, name, sizeof name);
        if (!name[0]) snprintf(name, sizeof name, "PLAINTEXT");
        for (int i = 0; i < b->nlisteners; i++)
            if (!strcasecmp(b->listeners[i].name, name)) {
                LOGE("main",
                     "listeners: the name %s appears twice (name each listener: "
                     "listener.security.protocol.map=NAME:PROTOCOL)",
                     name);
                return -1;
            }
        snprintf(l->name, sizeof l->name, "%s", name);
        l->proto = listener_proto(b, name);
        if (l->proto < 0) {
            LOGE("main",
                 "listeners: %s is neither a security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, "
                 "SASL_SSL) nor a name of listener.security.protocol.map",
                 name);
            return -1;
        }
        if (parse_hostport(hp, l->host, sizeof l->host, &l->port) < 0) {
            LOGE("main", "listeners: bad address \"%s\" (expected NAME://host:port)", e);
            return -1;
        }
        l->fd = -1;
        l->b = b;
        b->nlisteners++;
    }
    if (b->nlisteners == 0) {
        LOGE("main", "listeners is empty: eddyd needs at least one Kafka listener");
        return -1;
    }
    return 0;
}

/* advertised.listeners once the ports are known. */
static int parse_advertised(broker *b)
{
    for (int i = 0; i < b->nlisteners; i++) {
        blistener *l = &b->listeners[i];
        const char *h = l->host;
        snprintf(l->adv_host, sizeof l->adv_host, "%s",
                 (!h[0] || !strcmp(h, "0.0.0.0") || !strcmp(h, "::")) ? "127.0.0.1" : h);
        l->adv_port = l->port;
    }
    const char *p = b->cfg.advertised_listeners;
    char e[400];
    while (p && next_entry(&p, e, sizeof e)) {
        char name[64];
        const char *hp = split_scheme(e, name, sizeof name);
        blistener *l = NULL;
        if (!name[0]) {
            l = &b->listeners[0]; /* plain host:port: the first listener's */
        } else {
            for (int i = 0; i < b->nlisteners; i++)
                if (!strcasecmp(b->listeners[i].name, name)) l = &b->listeners[i];
        }
        if (!l) {
            LOGE("main", "advertised.listeners: %s is not a name in listeners", name);
            return -1;
        }
        if (parse_hostport(hp, l->adv_host, sizeof l->adv_host, &l->adv_port) < 0) {
            LOGE("main", "bad advertised.listeners entry \"%s\" (expected NAME://host:port)", e);
            return -1;
        }
        if (l->adv_port == 0) l->adv_port = l->port;
    }
    snprintf(b->adv_host, sizeof b->adv_host, "%s", b->listeners[0].adv_host);
    b->adv_port = b->listeners[0].adv_port;
    return 0;
}

/* The ssl.* settings of one listener as net/tls wants them: its listener.name.<l>.ssl.*
 * overrides, else the broker's. Returns 0 or -1 with a message. */
static int tls_settings_of(const broker *b, const blistener *l, tls_settings *ts, char *err,
                           size_t errlen)
{
    const bconfig *c = &b->cfg;
#define LSET(key, field) bconfig_for_listener(c, l->name, key, c->field)
    memset(ts, 0, sizeof *ts);
    const char *kst = LSET("ssl.keystore.type", ssl_keystore_type);
    const char *tst = LSET("ssl.truststore.type", ssl_truststore_type);
    const char *auth = LSET("ssl.client.auth", ssl_client_auth);
    if (kst && kst[0] && strcasecmp(kst, "PEM") != 0) {
        snprintf(err, errlen, "ssl.keystore.type=%s: eddyd reads PEM files only (KIP-651)", kst);
        return -1;
    }
    if (tst && tst[0] && strcasecmp(tst, "PEM") != 0) {
        snprintf(err, errlen, "ssl.truststore.type=%s: eddyd reads PEM files only", tst);
        return -1;
    }
    ts->client_auth = tls_client_auth_parse(auth);
    if (ts->client_auth < 0) {
        snprintf(err, errlen, "ssl.client.auth=%s: expected none, requested or required", auth);
        return -1;
    }
    ts->keystore_location = LSET("ssl.keystore.location", ssl_keystore_location);
    ts->certificate_location = LSET("ssl.certificate.location", ssl_certificate_location);
    ts->key_location = LSET("ssl.key.location", ssl_key_location);
    const char *kpw = LSET("ssl.keystore.password", ssl_keystore_password);
    ts->key_password = kpw ? kpw : LSET("ssl.key.password", ssl_key_password);
    ts->truststore_location = LSET("ssl.truststore.location", ssl_truststore_location);
    ts->enabled_protocols = LSET("ssl.enabled.protocols", ssl_enabled_protocols);
    ts->cipher_suites = LSET("ssl.cipher.suites", ssl_cipher_suites);
#undef LSET
    ts->ktls = true;
    return 0;
}

int broker_reload_tls(broker *b)
{
    char err[512];
    int rc = 0, n = 0;
    for (int i = 0; i < b->nlisteners; i++) {
        blistener *l = &b->listeners[i];
        if (!l->tls) continue;
        tls_settings ts;
        if (tls_settings_of(b, l, &ts, err, sizeof err) < 0 ||
            tls_ctx_reload(l->tls, &ts, err, sizeof err) < 0) {
            LOGE("main", "listener %s: certificates not reloaded (keeping the old ones): %s",
                 l->name, err);
            rc = -1;
            continue;
        }
        n++;
        LOGI("main", "listener %s: certificates reloaded (%s); open connections keep theirs",
             l->name, tls_ctx_subject(l->tls));
    }
    if (n == 0 && rc == 0) LOGI("main", "SIGHUP: no TLS listener, nothing to reload");
    return rc;
}

/* Settings of authentication that are checked before anything listens. */
static int check_security_settings(broker *b)
{
    char err[512];
    for (int i = 0; i < b->nlisteners; i++) {
        if (SEC_IS_TLS(b->listeners[i].proto) && !b->listeners[i].tls) {
            tls_settings ts;
            if (tls_settings_of(b, &b->listeners[i], &ts, err, sizeof err) < 0) {
                LOGE("main", "listener %s: %s", b->listeners[i].name, err);
                return -1;
            }
            b->listeners[i].tls = tls_ctx_new(&ts, err, sizeof err);
            if (!b->listeners[i].tls) {
                LOGE("main", "listener %s: %s", b->listeners[i].name, err);
                return -1;
            }
            LOGI("main", "listener %s: TLS certificate %s", b->listeners[i].name,
                 tls_ctx_subject(b->listeners[i].tls));
        }
    }
    for (int i = 0; i < b->cfg.noverrides; i++) {
        const char *name = b->cfg.overrides[i].listener;
        bool known = false;
        for (int j = 0; j < b->nlisteners; j++)
            if (!strcasecmp(b->listeners[j].name, name)) known = true;
        if (!known) {
            LOGE("main", "listener.name.%s.%s: there is no listener %s in listeners", name,
                 b->cfg.overrides[i].key, name);
            return -1;
        }
    }
    for (int i = 0; i < b->nlisteners; i++) {
        const blistener *l = &b->listeners[i];
        tls_settings ts; /* a bad ssl.* value is an error even on a listener without TLS */
        if (tls_settings_of(b, l, &ts, err, sizeof err) < 0) {
            LOGE("main", "listener %s: %s", l->name, err);
            return -1;
        }
        const char *rules = bconfig_for_listener(&b->cfg, l->name, "ssl.principal.mapping.rules",
                                                 b->cfg.ssl_principal_mapping_rules);
        if (principal_check_rules(rules, err, sizeof err) < 0) {
            LOGE("main", "listener %s: %s", l->name, err);
            return -1;
        }
        if (!SEC_IS_SASL(l->proto)) continue;
        const char *m = bconfig_for_listener(&b->cfg, l->name, "sasl.enabled.mechanisms",
                                             b->cfg.sasl_enabled_mechanisms);
        const char *p = m ? m : "";
        char e[64];
        int n = 0;
        while (next_entry(&p, e, sizeof e)) {
            if (!sasl_mech_parse(e, strlen(e))) {
                LOGE("main",
                     "listener %s: sasl.enabled.mechanisms: %s is not supported (PLAIN, "
                     "SCRAM-SHA-256, SCRAM-SHA-512)",
                     l->name, e);
                return -1;
            }
            n++;
        }
        if (n == 0) {
            LOGE("main", "listener %s: a SASL listener needs sasl.enabled.mechanisms", l->name);
            return -1;
        }
    }
    if (principal_check_list(b->cfg.super_users, err, sizeof err) < 0) {
        LOGE("main", "%s", err);
        return -1;
    }
    return 0;
}

int broker_listen(broker *b, int *bound_port)
{
    if (parse_listeners(b) < 0 || check_security_settings(b) < 0) return -1;
    for (int i = 0; i < b->nlisteners; i++)
        if (server_listen(b, &b->listeners[i]) < 0) return -1;
    if (parse_advertised(b) < 0) return -1;
    if (bound_port) *bound_port = b->listeners[0].port;
    return 0;
}

void broker_run(broker *b)
{
    b->housekeeping_ms = MIN(b->cfg.log_retention_check_interval_ms, 10000);
    loop_timer_add(b->loop, b->housekeeping_ms, on_housekeeping, b);
    if (b->cfg.log_scrub_bytes_per_second > 0) loop_timer_add(b->loop, SCRUB_TICK_MS, on_scrub, b);
    loop_run(b->loop);
}

void broker_stop_accepting(broker *b)
{
    server_stop_listening(b);
}

void broker_drain(broker *b)
{
    if (b->flusher) flusher_stop(b->flusher);
    b->flusher = NULL;
    run_flush_hooks(b);
    server_flush_and_close_all(2000);
}

void broker_close(broker *b)
{
    if (b->data_dir) topics_close(b);
    bauthz_close(b);
    if (b->loop) loop_free(b->loop);
    b->loop = NULL;
    if (b->flush_efd >= 0) close(b->flush_efd);
    b->flush_efd = -1;
    bconfig_free(&b->cfg);
    dynconf_free(b);
    creds_close();
    for (int i = 0; i < b->nlisteners; i++) {
        tls_ctx_free(b->listeners[i].tls);
        b->listeners[i].tls = NULL;
    }
    free(b->data_dir);
    b->data_dir = NULL;
    if (b->lock_fd >= 0) close(b->lock_fd);
    b->lock_fd = -1;
}
