/* dynconfig — dynamic broker configs: AlterConfigs / IncrementalAlterConfigs on the BROKER
 * resource change the settings Kafka makes dynamic and eddyd can apply live, durably.
 *
 * Layers, most specific first (Kafka's order): the broker's own (resource name = node.id,
 * source DYNAMIC_BROKER_CONFIG 2), the cluster-wide default (resource name "", source
 * DYNAMIC_DEFAULT_BROKER_CONFIG 3), the static value (--config / --set, STATIC_BROKER_CONFIG 4
 * when not the default), Kafka's default (DEFAULT_CONFIG 5). Dynamic beats static, as in Kafka.
 *
 * On disk: data_dir/broker-configs, written atomically, text lines "default.<key>=<value>" and
 * "node.<key>=<value>"; read at start-up before the topics open, so topic defaults hold from
 * the first append. A line that no longer validates is logged and skipped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core.h"
#include "common/log.h"
#include "common/util.h"

/* What eddyd applies live. The rest are static: "Cannot update these configs dynamically". */
static const char *const g_dynamic[] = {
    /* cluster-wide topic defaults (Kafka's DynamicLogConfig) */
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.type",
    "compression.zstd.level",
    "log.cleaner.delete.retention.ms",
    "log.cleaner.max.compaction.lag.ms",
    "log.cleaner.min.compaction.lag.ms",
    "log.cleanup.policy",
    "log.index.interval.bytes",
    "log.message.timestamp.after.max.ms",
    "log.message.timestamp.before.max.ms",
    "log.message.timestamp.type",
    "log.preallocate",
    "log.retention.bytes",
    "log.retention.ms",
    "log.roll.jitter.ms",
    "log.roll.ms",
    "log.segment.bytes",
    "message.max.bytes",
    "min.insync.replicas",
    "unclean.leader.election.enable",
    /* connection quotas (Kafka's DynamicConnectionQuota) */
    "max.connections",
    "max.connections.per.ip",
    "max.connections.per.ip.overrides",
    /* eddyd's own, read where they are used */
    "metrics.lag.stall.ms",
};

/* Settings Kafka changes at run time that mean nothing on one event-loop node (thread pools,
 * the cleaner's buffers, SASL/Kerberos login, replication throttles, ...). A dynamic value is
 * type-checked, kept (broker-configs), shown by DescribeConfigs and otherwise ignored, so tools
 * that set them (librdkafka's own admin test sets sasl.kerberos.min.time.before.relogin and
 * background.threads) get Kafka's answer. Type, range, Kafka's default. */
static const tconf_key g_ignored[] = {
    {"background.threads", TC_INT, 1, INT32_MAX, NULL, "10", NULL, false, "ignored: one loop"},
    {"follower.replication.throttled.rate", TC_LONG, 1, INT64_MAX, NULL, "9223372036854775807",
     NULL, false, "ignored: no replication"},
    {"leader.replication.throttled.rate", TC_LONG, 1, INT64_MAX, NULL, "9223372036854775807", NULL,
     false, "ignored: no replication"},
    {"log.cleaner.backoff.ms", TC_LONG, 0, INT64_MAX, NULL, "15000", NULL, false,
     "ignored: compaction runs on housekeeping"},
    {"log.cleaner.dedupe.buffer.size", TC_LONG, 0, INT64_MAX, NULL, "134217728", NULL, false,
     "ignored: the cleaner's map grows as needed"},
    {"log.cleaner.io.buffer.load.factor", TC_DOUBLE, 0, 1, NULL, "0.9", NULL, false, "ignored"},
    {"log.cleaner.io.buffer.size", TC_INT, 0, INT32_MAX, NULL, "524288", NULL, false, "ignored"},
    {"log.cleaner.io.max.bytes.per.second", TC_DOUBLE, 0, INT64_MAX, NULL, "1.7976931348623157E308",
     NULL, false, "ignored"},
    {"log.cleaner.min.cleanable.ratio", TC_DOUBLE, 0, 1, NULL, "0.5", NULL, false,
     "ignored: compaction runs on every housekeeping pass"},
    {"log.cleaner.threads", TC_INT, 0, INT32_MAX, NULL, "1", NULL, false, "ignored: one loop"},
    {"log.flush.interval.messages", TC_LONG, 1, INT64_MAX, NULL, "9223372036854775807", NULL, false,
     "ignored: acks=all produces are fsynced before the answer"},
    {"log.index.size.max.bytes", TC_INT, 4, INT32_MAX, NULL, "10485760", NULL, false,
     "ignored: indexes grow with their segment"},
    {"log.message.downconversion.enable", TC_BOOL, 0, 0, NULL, "true", NULL, false, "ignored"},
    {"log.segment.delete.delay.ms", TC_LONG, 0, INT64_MAX, NULL, "60000", NULL, false,
     "ignored: segments are deleted at once"},
    {"max.connection.creation.rate", TC_INT, 0, INT32_MAX, NULL, "2147483647", NULL, false,
     "ignored"},
    {"num.io.threads", TC_INT, 1, INT32_MAX, NULL, "8", NULL, false, "ignored: one loop"},
    {"num.network.threads", TC_INT, 1, INT32_MAX, NULL, "3", NULL, false, "ignored: one loop"},
    {"num.recovery.threads.per.data.dir", TC_INT, 1, INT32_MAX, NULL, "2", NULL, false, "ignored"},
    {"num.replica.fetchers", TC_INT, 1, INT32_MAX, NULL, "1", NULL, false,
     "ignored: no replication"},
    {"producer.id.expiration.ms", TC_INT, 1, INT32_MAX, NULL, "86400000", NULL, false, "ignored"},
    {"replica.alter.log.dirs.io.max.bytes.per.second", TC_LONG, 1, INT64_MAX, NULL,
     "9223372036854775807", NULL, false, "ignored: one log directory"},
    {"sasl.kerberos.kinit.cmd", TC_STRING, 0, 0, NULL, "/usr/bin/kinit", NULL, false,
     "ignored: no GSSAPI"},
    {"sasl.kerberos.min.time.before.relogin", TC_LONG, INT64_MIN, INT64_MAX, NULL, "60000", NULL,
     false, "ignored: no GSSAPI"},
    {"sasl.kerberos.principal.to.local.rules", TC_LIST, 0, 0, NULL, "DEFAULT", NULL, false,
     "ignored: no GSSAPI"},
    {"sasl.kerberos.ticket.renew.jitter", TC_DOUBLE, INT64_MIN, INT64_MAX, NULL, "0.05", NULL,
     false, "ignored: no GSSAPI"},
    {"sasl.kerberos.ticket.renew.window.factor", TC_DOUBLE, INT64_MIN, INT64_MAX, NULL, "0.8", NULL,
     false, "ignored: no GSSAPI"},
    {"transaction.partition.verification.enable", TC_BOOL, 0, 0, NULL, "true", NULL, false,
     "ignored"},
};

int dynconf_ignored_count(void)
{
    return (int)ARRAY_LEN(g_ignored);
}
const tconf_key *dynconf_ignored_at(int i)
{
    return &g_ignored[i];
}
static const tconf_key *ignored_find(const char *key)
{
    for (size_t i = 0; i < ARRAY_LEN(g_ignored); i++)
        if (!strcmp(g_ignored[i].name, key)) return &g_ignored[i];
    return NULL;
}

bool dynconf_is_dynamic(const char *key)
{
    for (size_t i = 0; i < ARRAY_LEN(g_dynamic); i++)
        if (!strcmp(g_dynamic[i], key)) return true;
    return ignored_find(key) != NULL;
}

static char *path_of(broker *b)
{
    return xasprintf("%s/broker-configs", b->data_dir);
}

/* node ?? cluster default ?? static, for one key. */
static char *effective(broker *b, const char *key)
{
    char *v = tconf_override_get(b->dyn_node, key);
    if (!v) v = tconf_override_get(b->dyn_default, key);
    if (!v) v = tconf_override_get(b->dyn_static, key);
    return v;
}

static void apply_key(broker *b, const char *key)
{
    if (ignored_find(key)) return; /* kept and shown only */
    char *v = effective(b, key);
    char err[256];
    if (v && bconfig_set(&b->cfg, key, v, err, sizeof err) < 0)
        LOGW("config", "dynamic setting %s: %s", key, err);
    free(v);
}

static void apply_all(broker *b, const char *lines)
{
    for (const char *p = lines ? lines : ""; *p;) {
        size_t n = strcspn(p, "\n");
        const char *eq = memchr(p, '=', n);
        if (eq) {
            char *k = xstrndup(p, (size_t)(eq - p));
            apply_key(b, k);
            free(k);
        }
        p += n;
        if (*p == '\n') p++;
    }
}

/* Every topic's config again from its overrides over the (changed) broker settings. */
static void reconfigure_topics(broker *b)
{
    for (int i = 0; i < b->ntopics; i++) {
        btopic *t = b->topics[i];
        topic_config nc;
        char err[256];
        if (tconf_build(&b->cfg, t->cfg.overrides, &nc, err, sizeof err) != 0) {
            LOGW("config", "topic %s keeps its configuration: %s", t->name, err);
            continue;
        }
        free(t->cfg.overrides);
        t->cfg = nc;
        for (int32_t j = 0; j < t->nparts; j++) plog_set_config(t->parts[j]->log, &t->cfg.log);
    }
}

/* A check of one dynamic value: the setting's own type and range, and for a topic default the
 * topic config's rules too. 0 or a KERR_* with err. */
static int check_value(const char *key, const char *v, char *err, size_t errlen)
{
    const tconf_key *ik = ignored_find(key);
    if (ik) return tconf_check_value(ik, v, err, errlen);
    bconfig tmp;
    bconfig_init(&tmp);
    char e[256];
    int rc = bconfig_set(&tmp, key, v, e, sizeof e);
    bconfig_free(&tmp);
    if (rc < 0) {
        size_t kl = strlen(key); /* bconfig_set's messages start with "key: " */
        const char *why = !strncmp(e, key, kl) && e[kl] == ':' ? e + kl + 2 : e;
        snprintf(err, errlen, "Invalid value %s for configuration %s: %s", v, key, why);
        return KERR_INVALID_CONFIG;
    }
    for (int i = 0; i < tconf_count(); i++) {
        const tconf_key *k = tconf_at(i);
        const char *s = k->synonyms ? k->synonyms : "";
        size_t kl = strlen(key);
        for (const char *p = s; *p;) {
            size_t n = strcspn(p, ",");
            if (n == kl && !strncmp(p, key, n)) {
                if (tconf_check_value(k, v, e, sizeof e)) {
                    snprintf(err, errlen, "Invalid value %s for configuration %s: %s", v, key,
                             strstr(e, ": ") ? strstr(e, ": ") + 2 : e);
                    return KERR_INVALID_CONFIG;
                }
            }
            p += n;
            if (*p == ',') p++;
        }
    }
    return 0;
}

int dynconf_check(const char *overrides, char *err, size_t errlen)
{
    wbuf stat;
    wbuf_init(&stat, 0);
    int rc = 0;
    for (const char *p = overrides ? overrides : ""; *p && !rc;) {
        size_t n = strcspn(p, "\n");
        const char *eq = memchr(p, '=', n);
        if (eq) {
            char *k = xstrndup(p, (size_t)(eq - p));
            char *v = xstrndup(eq + 1, n - (size_t)(eq - p) - 1);
            if (bconfig_find(k) < 0 && !ignored_find(k)) {
                char e[256];
                bconfig_set(NULL, k, v, e, sizeof e); /* unknown, or a Kafka one with why not */
                if (!strncmp(e, "unsupported", 11)) {
                    snprintf(err, errlen,
                             "Unknown broker config name: %s (eddyd has no such setting: %s)", k,
                             strstr(e, ": ") ? strstr(e, ": ") + 2 : e);
                } else {
                    const char *names[128];
                    int nn = 0;
                    for (int i = 0; i < bconfig_count() && nn < 128; i++)
                        names[nn++] = bconfig_key(i);
                    const char *near = closest_name(k, names, (size_t)nn);
                    if (near)
                        snprintf(err, errlen, "Unknown broker config name: %s (did you mean %s?)",
                                 k, near);
                    else
                        snprintf(err, errlen, "Unknown broker config name: %s", k);
                }
                rc = KERR_INVALID_CONFIG;
            } else if (!dynconf_is_dynamic(k)) {
                wbuf_put(&stat, stat.len ? ", " : "", stat.len ? 2 : 0);
                wbuf_put(&stat, k, strlen(k));
            } else {
                rc = check_value(k, v, err, errlen);
            }
            free(k);
            free(v);
        }
        p += n;
        if (*p == '\n') p++;
    }
    if (!rc && stat.len) {
        snprintf(err, errlen, "Cannot update these configs dynamically: Set(%.*s)", (int)stat.len,
                 (const char *)stat.data);
        rc = KERR_INVALID_REQUEST;
    }
    wbuf_free(&stat);
    return rc;
}

static int persist(broker *b, const char *dflt, const char *node)
{
    wbuf w;
    wbuf_init(&w, 0);
    const char *srcs[2] = {dflt, node}, *pre[2] = {"default.", "node."};
    for (int s = 0; s < 2; s++)
        for (const char *p = srcs[s] ? srcs[s] : ""; *p;) {
            size_t n = strcspn(p, "\n");
            if (n) {
                wbuf_put(&w, pre[s], strlen(pre[s]));
                wbuf_put(&w, p, n);
                wbuf_put(&w, "\n", 1);
            }
            p += n;
            if (*p == '\n') p++;
        }
    char *path = path_of(b);
    int rc = write_file_atomic(path, w.data ? (const char *)w.data : "", w.len);
    if (rc < 0) LOGE("config", "cannot write %s: %s", path, strerror(-rc));
    free(path);
    wbuf_free(&w);
    return rc;
}

int dynconf_load(broker *b)
{
    /* the static value of every dynamic setting, to fall back to when a dynamic one goes */
    char buf[512];
    char *snap = xstrdup("");
    for (size_t i = 0; i < ARRAY_LEN(g_dynamic); i++) {
        int k = bconfig_find(g_dynamic[i]);
        if (k < 0) continue;
        char *n =
            tconf_override_set(snap, g_dynamic[i], bconfig_value(&b->cfg, k, buf, sizeof buf));
        free(snap);
        snap = n;
    }
    free(b->dyn_static);
    b->dyn_static = snap;
    b->dyn_default = xstrdup("");
    b->dyn_node = xstrdup("");
    char *path = path_of(b);
    size_t len;
    char *s = read_file_all(path, &len);
    if (!s) {
        int e = errno;
        if (e != ENOENT) LOGW("config", "cannot read %s: %s", path, strerror(e));
        free(path);
        return 0;
    }
    int nset = 0;
    for (char *line = s; *line;) {
        size_t n = strcspn(line, "\n");
        char save = line[n];
        line[n] = 0;
        char **dst = !strncmp(line, "default.", 8) ? &b->dyn_default
                     : !strncmp(line, "node.", 5)  ? &b->dyn_node
                                                   : NULL;
        char *kv = dst ? line + (dst == &b->dyn_default ? 8 : 5) : NULL;
        char *eq = kv ? strchr(kv, '=') : NULL;
        if (eq) {
            *eq = 0;
            char err[256];
            if (!dynconf_is_dynamic(kv) || check_value(kv, eq + 1, err, sizeof err)) {
                LOGW("config", "%s: ignoring %s=%s (not a valid dynamic setting)", path, kv,
                     eq + 1);
            } else {
                char *nv = tconf_override_set(*dst, kv, eq + 1);
                free(*dst);
                *dst = nv;
                nset++;
            }
        } else if (*line) {
            LOGW("config", "%s: ignoring line \"%s\"", path, line);
        }
        line[n] = save;
        line += n;
        if (*line) line++;
    }
    free(s);
    apply_all(b, b->dyn_default);
    apply_all(b, b->dyn_node);
    if (nset)
        LOGI("config", "%d dynamic broker setting%s applied from %s", nset, nset == 1 ? "" : "s",
             path);
    free(path);
    return 0;
}

void dynconf_free(broker *b)
{
    free(b->dyn_static);
    free(b->dyn_default);
    free(b->dyn_node);
    b->dyn_static = b->dyn_default = b->dyn_node = NULL;
}

const char *dynconf_overrides(broker *b, bool cluster_default)
{
    const char *s = cluster_default ? b->dyn_default : b->dyn_node;
    return s ? s : "";
}

int dynconf_alter(broker *b, bool cluster_default, const char *overrides, bool validate, char *err,
                  size_t errlen)
{
    int rc = dynconf_check(overrides, err, errlen);
    if (rc || validate) return rc;
    char **dst = cluster_default ? &b->dyn_default : &b->dyn_node;
    if (persist(b, cluster_default ? overrides : b->dyn_default,
                cluster_default ? b->dyn_node : overrides) < 0) {
        snprintf(err, errlen, "cannot persist the dynamic broker configuration");
        return KERR_KAFKA_STORAGE_ERROR;
    }
    char *old = *dst;
    *dst = xstrdup(overrides ? overrides : "");
    apply_all(b, old); /* keys removed fall back a layer */
    apply_all(b, *dst);
    free(old);
    reconfigure_topics(b);
    LOGI("config", "dynamic broker configuration (%s) changed",
         cluster_default ? "cluster default" : "this broker");
    return 0;
}

int dynconf_ignored_layers(broker *b, int i, dynconf_layer out[3])
{
    const tconf_key *k = &g_ignored[i];
    int n = 0;
    char *v;
    if ((v = tconf_override_get(b->dyn_node, k->name))) out[n++] = (dynconf_layer){2, v};
    if ((v = tconf_override_get(b->dyn_default, k->name))) out[n++] = (dynconf_layer){3, v};
    out[n++] = (dynconf_layer){5, xstrdup(k->dflt)};
    return n;
}

int dynconf_layers(broker *b, int i, dynconf_layer out[4])
{
    const char *key = bconfig_key(i);
    int n = 0;
    char *v;
    if ((v = tconf_override_get(b->dyn_node, key))) out[n++] = (dynconf_layer){2, v};
    if ((v = tconf_override_get(b->dyn_default, key))) out[n++] = (dynconf_layer){3, v};
    char buf[512];
    char *st = dynconf_is_dynamic(key) ? tconf_override_get(b->dyn_static, key) : NULL;
    if (!st) st = xstrdup(bconfig_value(&b->cfg, i, buf, sizeof buf));
    if (strcmp(st, bconfig_default(i)) != 0)
        out[n++] = (dynconf_layer){4, st};
    else
        free(st);
    out[n++] = (dynconf_layer){5, xstrdup(bconfig_default(i))};
    return n;
}

void dynconf_layers_free(dynconf_layer *l, int n)
{
    for (int i = 0; i < n; i++) free(l[i].value);
}
