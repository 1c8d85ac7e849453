/* config — the table of eddyd's settings and their parsing (see config.h). */
#include "broker/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

enum ctype { C_STR, C_I32, C_I64, C_BOOL };

typedef struct ckey {
    const char *name;
    enum ctype type;
    size_t off;
    const char *dflt;
    int64_t min, max;
    const char *desc;  /* one line, for --list-settings */
    const char *valid; /* C_STR: "a|b" the values allowed, NULL = any */
} ckey;

#define O(f) offsetof(bconfig, f)
static const ckey g_keys[] = {
    {"listeners", C_STR, O(listeners), "127.0.0.1:9092", 0, 0,
     "Kafka protocol listeners, NAME://host:port,... (NAME a security protocol or a name of "
     "listener.security.protocol.map; plain host:port = PLAINTEXT; --listen; port 0 = any free)"},
    {"advertised.listeners", C_STR, O(advertised_listeners), "", 0, 0,
     "NAME://host:port,... clients of each listener are told to connect to (empty = the "
     "listener's; a plain host:port applies to the first listener)"},
    {"listener.security.protocol.map", C_STR, O(listener_security_protocol_map), "", 0, 0,
     "NAME:PROTOCOL,... naming listeners (protocols PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)"},
    {"sasl.enabled.mechanisms", C_STR, O(sasl_enabled_mechanisms),
     "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", 0, 0,
     "SASL mechanisms offered on SASL listeners (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"},
    {"super.users", C_STR, O(super_users), "", 0, 0,
     "principals allowed everything by the authorizer, User:a;User:b"},
    {"connections.max.reauth.ms", C_I64, O(connections_max_reauth_ms), "0", 0, INT64_MAX,
     "SASL sessions must re-authenticate within this (KIP-368; 0 = never)"},
    {"ssl.keystore.type", C_STR, O(ssl_keystore_type), "PEM", 0, 0,
     "format of ssl.keystore.location: PEM (the only one)"},
    {"ssl.keystore.location", C_STR, O(ssl_keystore_location), "", 0, 0,
     "PEM file with the private key and the certificate chain (KIP-651)"},
    {"ssl.keystore.password", C_STR, O(ssl_keystore_password), "", 0, 0,
     "password of an encrypted private key in the keystore"},
    {"ssl.key.password", C_STR, O(ssl_key_password), "", 0, 0,
     "password of an encrypted private key (same as ssl.keystore.password)"},
    {"ssl.certificate.location", C_STR, O(ssl_certificate_location), "", 0, 0,
     "PEM certificate chain file, when the key is in ssl.key.location"},
    {"ssl.key.location", C_STR, O(ssl_key_location), "", 0, 0,
     "PEM private key file, with ssl.certificate.location"},
    {"ssl.truststore.type", C_STR, O(ssl_truststore_type), "PEM", 0, 0,
     "format of ssl.truststore.location: PEM (the only one)"},
    {"ssl.truststore.location", C_STR, O(ssl_truststore_location), "", 0, 0,
     "PEM file of CA certificates that client certificates must chain to"},
    {"ssl.client.auth", C_STR, O(ssl_client_auth), "none", 0, 0,
     "TLS client certificates: none, requested or required"},
    {"ssl.principal.mapping.rules", C_STR, O(ssl_principal_mapping_rules), "DEFAULT", 0, 0,
     "certificate subject to user name: DEFAULT or RULE:regex/replacement/[LU], comma-separated"},
    {"ssl.enabled.protocols", C_STR, O(ssl_enabled_protocols), "TLSv1.2,TLSv1.3", 0, 0,
     "TLS versions accepted (TLSv1.2, TLSv1.3)"},
    {"ssl.cipher.suites", C_STR, O(ssl_cipher_suites), "", 0, 0,
     "OpenSSL cipher list for TLS 1.2 (empty = OpenSSL's defaults)"},
    {"http.listeners", C_STR, O(http_listen), "127.0.0.1:8081", 0, 0,
     "HTTP port for the schema registry, /metrics and /healthz (--http; https://HOST:PORT serves HTTPS with the ssl.* certificate; \"off\" = none)"},
    {"log.level", C_STR, O(log_level), "info", 0, 0,
     "log verbosity: debug, info, warn or error (--log-level)"},
    {"node.id", C_I32, O(node_id), "1", 0, INT32_MAX, "this broker's id in Metadata answers"},
    {"num.partitions", C_I32, O(num_partitions), "1", 1, 100000,
     "partitions of an auto-created topic"},
    {"auto.create.topics.enable", C_BOOL, O(auto_create_topics), "true", 0, 1,
     "create a topic on first Metadata or Produce for it"},
    {"log.segment.bytes", C_I64, O(log_segment_bytes), "1073741824", 14, INT32_MAX,
     "segment size at which a partition's log rolls to a new file"},
    {"log.roll.ms", C_I64, O(log_roll_ms), "604800000", 1, INT64_MAX,
     "age at which a segment rolls even if not full"},
    {"log.retention.ms", C_I64, O(log_retention_ms), "604800000", -1, INT64_MAX,
     "how long records are kept (-1 = forever)"},
    {"log.retention.bytes", C_I64, O(log_retention_bytes), "-1", -1, INT64_MAX,
     "bytes kept per partition before old segments go (-1 = no limit)"},
    {"log.retention.check.interval.ms", C_I64, O(log_retention_check_interval_ms), "300000", 1,
     INT64_MAX, "how often retention and compaction run"},
    {"log.index.interval.bytes", C_I32, O(log_index_interval_bytes), "4096", 0, INT32_MAX,
     "bytes between entries of the offset and time indexes"},
    {"log.cleanup.policy", C_STR, O(log_cleanup_policy), "delete", 0, 0,
     "default cleanup.policy of a topic: delete, compact or compact,delete"},
    {"log.cleaner.delete.retention.ms", C_I64, O(log_cleaner_delete_retention_ms), "86400000", 0,
     INT64_MAX, "how long a compacted topic keeps tombstones"},
    {"log.scrub.bytes.per.second", C_I64, O(log_scrub_bytes_per_second), "4194304", 0, INT64_MAX,
     "rate of the background CRC scrub of closed segments (0 = off)"},
    {"metrics.lag.stall.ms", C_I64, O(metrics_lag_stall_ms), "300000", 1000, INT64_MAX,
     "a group partition with lag whose committed offset has not moved for this long is "
     "reported stalled (kafka_consumer_group_stalled)"},
    {"log.preallocate", C_BOOL, O(log_preallocate), "false", 0, 1,
     "reserve segment space ahead of appends (helps acks=all latency)"},
    {"log.flush.interval.ms", C_I64, O(log_flush_interval_ms), "-1", -1, INT64_MAX,
     "fsync period for data nobody waits on (-1 = only when acks=all asks)"},
    {"log.roll.jitter.ms", C_I64, O(log_roll_jitter_ms), "0", 0, INT64_MAX,
     "default segment.jitter.ms: a random part of it is taken off log.roll.ms per partition"},
    {"log.cleaner.min.compaction.lag.ms", C_I64, O(log_cleaner_min_compaction_lag_ms), "0", 0,
     INT64_MAX, "default min.compaction.lag.ms: records younger than this are not compacted"},
    {"log.cleaner.max.compaction.lag.ms", C_I64, O(log_cleaner_max_compaction_lag_ms),
     "9223372036854775807", 1, INT64_MAX,
     "default max.compaction.lag.ms: a compact topic's active segment rolls at this age"},
    {"log.message.timestamp.type", C_STR, O(log_message_timestamp_type), "CreateTime", 0, 0,
     "default message.timestamp.type: CreateTime or LogAppendTime", "CreateTime|LogAppendTime"},
    {"log.message.timestamp.before.max.ms", C_I64, O(log_message_timestamp_before_max_ms),
     "9223372036854775807", 0, INT64_MAX,
     "default message.timestamp.before.max.ms: CreateTime this far in the past is refused"},
    {"log.message.timestamp.after.max.ms", C_I64, O(log_message_timestamp_after_max_ms),
     "9223372036854775807", 0, INT64_MAX,
     "default message.timestamp.after.max.ms: CreateTime this far in the future is refused"},
    {"min.insync.replicas", C_I32, O(min_insync_replicas), "1", 1, INT32_MAX,
     "default min.insync.replicas: above 1, acks=all produces get NOT_ENOUGH_REPLICAS (one node)"},
    {"compression.type", C_STR, O(compression_type), "producer", 0, 0,
     "default compression.type: producer keeps the producer's codec; uncompressed, gzip, snappy, "
     "lz4 or zstd recompress on append",
     "uncompressed|zstd|lz4|snappy|gzip|producer"},
    {"compression.gzip.level", C_I32, O(compression_gzip_level), "-1", -1, 9,
     "default compression.gzip.level (-1 = zlib's default, else 1..9)"},
    {"compression.lz4.level", C_I32, O(compression_lz4_level), "9", 1, 17,
     "default compression.lz4.level (1..17)"},
    {"compression.zstd.level", C_I32, O(compression_zstd_level), "3", -131072, 22,
     "default compression.zstd.level (-131072..22)"},
    {"unclean.leader.election.enable", C_BOOL, O(unclean_leader_election_enable), "false", 0, 1,
     "accepted for compatibility: one node is always the clean leader"},
    {"message.max.bytes", C_I32, O(message_max_bytes), "1048588", 0, INT32_MAX,
     "largest record batch a topic accepts by default"},
    {"socket.request.max.bytes", C_I32, O(socket_request_max_bytes), "104857600", 1, INT32_MAX,
     "largest request a client may send"},
    {"group.initial.rebalance.delay.ms", C_I32, O(group_initial_rebalance_delay_ms), "3000", 0,
     INT32_MAX, "wait for more members before an empty group's first rebalance"},
    {"group.min.session.timeout.ms", C_I32, O(group_min_session_timeout_ms), "6000", 0, INT32_MAX,
     "smallest session timeout a consumer may ask for"},
    {"group.max.session.timeout.ms", C_I32, O(group_max_session_timeout_ms), "1800000", 0,
     INT32_MAX, "largest session timeout a consumer may ask for"},
    {"group.max.size", C_I32, O(group_max_size), "2147483647", 1, INT32_MAX,
     "most members of one consumer group"},
    {"offsets.retention.minutes", C_I64, O(offsets_retention_minutes), "10080", 1, INT64_MAX,
     "how long an empty group's committed offsets are kept"},
    {"offset.metadata.max.bytes", C_I32, O(offset_metadata_max_bytes), "4096", 0, INT32_MAX,
     "largest metadata string of a committed offset"},
    {"transaction.max.timeout.ms", C_I32, O(transaction_max_timeout_ms), "900000", 1, INT32_MAX,
     "largest transaction.timeout.ms a transactional producer may ask for"},
    {"transaction.abort.timed.out.transaction.cleanup.interval.ms", C_I32,
     O(transaction_abort_timed_out_transaction_cleanup_interval_ms), "10000", 1, INT32_MAX,
     "how often open transactions are checked against their timeout (expired ones are aborted)"},
    {"max.connections", C_I32, O(max_connections), "10000", 1, INT32_MAX,
     "open client connections accepted at once"},
    {"max.connections.per.ip", C_I32, O(max_connections_per_ip), "2147483647", 0, INT32_MAX,
     "open connections accepted from one address"},
    {"max.connections.per.ip.overrides", C_STR, O(max_connections_per_ip_overrides), "", 0, 0,
     "per-address limits, host:n,host:n"},
    {"max.connections.loopback.reserve", C_I32, O(max_connections_loopback_reserve), "16", 0,
     INT32_MAX, "connections from this host accepted beyond the limits (for operators)"},
    {"connections.max.idle.ms", C_I64, O(connections_max_idle_ms), "600000", -1, INT64_MAX,
     "close a connection idle this long (-1 or 0 = never)"},
    {"socket.request.read.timeout.ms", C_I64, O(socket_request_read_timeout_ms), "30000", -1,
     INT64_MAX, "a request, once begun, must fully arrive within this (-1 or 0 = no limit)"},
    {"queued.max.request.bytes", C_I64, O(queued_max_request_bytes), "536870912", -1, INT64_MAX,
     "budget for request bytes being received; readers wait beyond it (-1 = none)"},
    {"socket.loopback.congestion.control", C_STR, O(socket_loopback_cc), "cubic", 0, 0,
     "TCP congestion control for connections from this host (empty = the system's)"},
    {"authorizer.class.name", C_STR, O(authorizer_class_name), "", 0, 0,
     "ACL authorizer: eddy.acl (or Kafka's AclAuthorizer/StandardAuthorizer names); empty = off"},
    {"allow.everyone.if.no.acl.found", C_BOOL, O(allow_everyone_if_no_acl_found), "false", 0, 1,
     "with an authorizer: allow a resource that has no ACL at all"},
    {"http.authentication.method", C_STR, O(http_authentication_method), "NONE", 0, 0,
     "HTTP port authentication: NONE or BASIC (the Kafka port's SCRAM users)"},
    {"http.authentication.realm", C_STR, O(http_authentication_realm), "eddy", 0, 0,
     "realm named in the WWW-Authenticate header of a 401"},
    {"http.authentication.skip.paths", C_STR, O(http_authentication_skip_paths), "", 0, 0,
     "HTTP paths open without credentials, comma-separated (e.g. /healthz,/metrics)"},
};
#undef O

int bconfig_count(void)
{
    return (int)ARRAY_LEN(g_keys);
}
const char *bconfig_key(int i)
{
    return g_keys[i].name;
}
const char *bconfig_describe(int i)
{
    return g_keys[i].desc;
}
const char *bconfig_default(int i)
{
    return g_keys[i].dflt;
}

static int set_one(bconfig *c, const ckey *k, const char *v, char *err, size_t errlen)
{
    void *dst = (char *)c + k->off;
    switch (k->type) {
    case C_STR: {
        if (k->valid && v[0]) {
            bool ok = false;
            for (const char *p = k->valid; *p && !ok;) {
                size_t m = strcspn(p, "|");
                ok = m == strlen(v) && !strncmp(p, v, m);
                p += m;
                if (*p) p++;
            }
            if (!ok) {
                snprintf(err, errlen, "%s: expected one of %s, got \"%s\"", k->name, k->valid, v);
                return -1;
            }
        }
        char **s = dst;
        free(*s);
        *s = v[0] ? xstrdup(v) : NULL;
        return 0;
    }
    case C_BOOL:
        if (!strcasecmp(v, "true") || !strcmp(v, "1"))
            *(bool *)dst = true;
        else if (!strcasecmp(v, "false") || !strcmp(v, "0"))
            *(bool *)dst = false;
        else {
            snprintf(err, errlen, "%s: expected true or false, got \"%s\"", k->name, v);
            return -1;
        }
        return 0;
    case C_I32:
    case C_I64: {
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (errno || end == v || *end) {
            snprintf(err, errlen, "%s: expected an integer, got \"%s\"", k->name, v);
            return -1;
        }
        if (n < k->min || n > k->max) {
            snprintf(err, errlen, "%s: %lld is out of range [%" PRId64 ", %" PRId64 "]", k->name, n,
                     k->min, k->max);
            return -1;
        }
        if (k->type == C_I32)
            *(int32_t *)dst = (int32_t)n;
        else
            *(int64_t *)dst = n;
        return 0;
    }
    }
    return -1;
}

void bconfig_init(bconfig *c)
{
    memset(c, 0, sizeof *c);
    char err[256];
    for (size_t i = 0; i < ARRAY_LEN(g_keys); i++)
        set_one(c, &g_keys[i], g_keys[i].dflt, err, sizeof err);
}

void bconfig_free(bconfig *c)
{
    for (size_t i = 0; i < ARRAY_LEN(g_keys); i++)
        if (g_keys[i].type == C_STR) {
            char **s = (char **)((char *)c + g_keys[i].off);
            free(*s);
            *s = NULL;
        }
    for (int i = 0; i < c->noverrides; i++) {
        free(c->overrides[i].listener);
        free(c->overrides[i].key);
        free(c->overrides[i].value);
    }
    c->noverrides = 0;
}

/* listener.name.<listener>.<key>=value: Kafka's per-listener form, for the settings that belong
 * to a listener (TLS and the SASL mechanisms). The value is checked as the key's own would be. */
static int set_override(bconfig *c, const char *key, const char *value, char *err, size_t errlen)
{
    const char *name = key + strlen("listener.name."), *dot = strchr(name, '.');
    if (!dot || dot == name || !dot[1]) {
        snprintf(err, errlen, "\"%s\": expected listener.name.<listener>.<setting>", key);
        return -1;
    }
    const char *k = dot + 1;
    const ckey *ck = NULL;
    for (size_t i = 0; i < ARRAY_LEN(g_keys); i++)
        if (!strcmp(g_keys[i].name, k)) ck = &g_keys[i];
    if (!ck || ck->type != C_STR ||
        (strncmp(k, "ssl.", 4) && strcmp(k, "sasl.enabled.mechanisms"))) {
        snprintf(err, errlen,
                 "\"%s\": a listener overrides only its ssl.* settings and "
                 "sasl.enabled.mechanisms (eddyd --list-settings)",
                 key);
        return -1;
    }
    bconfig scratch; /* the value must be one the key itself takes */
    memset(&scratch, 0, sizeof scratch);
    if (set_one(&scratch, ck, value, err, errlen) < 0) return -1;
    free(*(char **)((char *)&scratch + ck->off));
    size_t nlen = (size_t)(dot - name);
    for (int i = 0; i < c->noverrides; i++) {
        struct bconfig_override *o = &c->overrides[i];
        if (strlen(o->listener) == nlen && !strncasecmp(o->listener, name, nlen) &&
            !strcmp(o->key, k)) {
            char *v = strdup(value);
            if (!v) goto nomem;
            free(o->value);
            o->value = v;
            return 0;
        }
    }
    if (c->noverrides == BCONFIG_MAX_OVERRIDES) {
        snprintf(err, errlen, "\"%s\": at most %d listener.name.* settings", key,
                 BCONFIG_MAX_OVERRIDES);
        return -1;
    }
    struct bconfig_override *o = &c->overrides[c->noverrides];
    o->listener = strndup(name, nlen);
    o->key = strdup(k);
    o->value = strdup(value);
    if (!o->listener || !o->key || !o->value) {
        free(o->listener);
        free(o->key);
        free(o->value);
        goto nomem;
    }
    c->noverrides++;
    return 0;
nomem:
    snprintf(err, errlen, "\"%s\": out of memory", key);
    return -1;
}

const char *bconfig_for_listener(const bconfig *c, const char *listener, const char *key,
                                 const char *global)
{
    for (int i = 0; i < c->noverrides; i++)
        if (!strcasecmp(c->overrides[i].listener, listener) && !strcmp(c->overrides[i].key, key))
            return c->overrides[i].value;
    return global;
}

/* Kafka broker settings people bring along that a single-node eddyd has no use for, and why. */
static const struct {
    const char *name, *why;
} g_unsupported[] = {
    {"log.dirs", "use --data-dir DIR"},
    {"log.dir", "use --data-dir DIR"},
    {"broker.id", "eddyd's id is node.id"},
    {"zookeeper.connect", "eddyd is a single node without ZooKeeper or KRaft"},
    {"process.roles", "eddyd is a single node without ZooKeeper or KRaft"},
    {"controller.quorum.voters", "eddyd is a single node without ZooKeeper or KRaft"},
    {"controller.listener.names", "eddyd is a single node without ZooKeeper or KRaft"},
    {"inter.broker.listener.name", "eddyd is a single node: there are no other brokers"},
    {"default.replication.factor", "a single node keeps one replica"},
    {"offsets.topic.replication.factor", "a single node keeps one replica"},
    {"transaction.state.log.replication.factor", "eddyd has no transactions"},
    {"transaction.state.log.min.isr", "eddyd has no transactions"},
    {"num.network.threads", "eddyd serves every connection from one event loop"},
    {"num.io.threads", "eddyd serves every connection from one event loop"},
    {"log.flush.interval.messages", "use log.flush.interval.ms"},
};

int bconfig_set(bconfig *c, const char *key, const char *value, char *err, size_t errlen)
{
    for (size_t i = 0; i < ARRAY_LEN(g_keys); i++)
        if (!strcmp(g_keys[i].name, key)) return set_one(c, &g_keys[i], value, err, errlen);
    if (!strncmp(key, "listener.name.", strlen("listener.name.")))
        return set_override(c, key, value, err, errlen);
    for (size_t i = 0; i < ARRAY_LEN(g_unsupported); i++)
        if (!strcmp(g_unsupported[i].name, key)) {
            snprintf(err, errlen, "unsupported setting \"%s\": %s", key, g_unsupported[i].why);
            return -1;
        }
    if (!strncmp(key, "ssl.", 4) || !strncmp(key, "sasl.", 5)) {
        snprintf(err, errlen,
                 "unsupported setting \"%s\" (eddyd --list-settings prints the ssl.* and sasl.* "
                 "settings it has)",
                 key);
        return -1;
    }
    const char *names[ARRAY_LEN(g_keys)];
    for (size_t i = 0; i < ARRAY_LEN(g_keys); i++) names[i] = g_keys[i].name;
    const char *near = closest_name(key, names, ARRAY_LEN(names));
    if (near)
        snprintf(err, errlen,
                 "unknown setting \"%s\" (did you mean \"%s\"? eddyd --list-settings "
                 "prints every setting)",
                 key, near);
    else
        snprintf(err, errlen, "unknown setting \"%s\" (eddyd --list-settings prints every setting)",
                 key);
    return -1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) *--e = 0;
    return s;
}

int bconfig_load_file(bconfig *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#' || *s == '!') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected key=value", path, lineno);
            rc = -1;
            break;
        }
        *eq = 0;
        char *k = trim(s), *v = trim(eq + 1);
        char sub[256];
        if (bconfig_set(c, k, v, sub, sizeof sub) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, sub);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

const char *bconfig_value(const bconfig *c, int i, char *buf, size_t len)
{
    const ckey *k = &g_keys[i];
    const void *src = (const char *)c + k->off;
    switch (k->type) {
    case C_STR: {
        const char *s = *(char *const *)src;
        /* secrets stay out of --list-settings and DescribeConfigs */
        if (s && s[0] && strstr(k->name, "password")) s = "(hidden)";
        snprintf(buf, len, "%s", s ? s : "");
        break;
    }
    case C_BOOL: snprintf(buf, len, "%s", *(const bool *)src ? "true" : "false"); break;
    case C_I32: snprintf(buf, len, "%" PRId32, *(const int32_t *)src); break;
    case C_I64: snprintf(buf, len, "%" PRId64, *(const int64_t *)src); break;
    }
    return buf;
}

bool bconfig_is_default(const bconfig *c, int i)
{
    char buf[512];
    bconfig_value(c, i, buf, sizeof buf);
    return strcmp(buf, g_keys[i].dflt) == 0;
}

int bconfig_find(const char *key)
{
    for (size_t i = 0; i < ARRAY_LEN(g_keys); i++)
        if (!strcmp(g_keys[i].name, key)) return (int)i;
    return -1;
}

bool bconfig_sensitive(int i)
{
    return strstr(g_keys[i].name, "password") != NULL;
}

int bconfig_type(int i)
{
    if (bconfig_sensitive(i)) return 9;
    switch (g_keys[i].type) {
    case C_BOOL: return 1;
    case C_I32: return 3;
    case C_I64: return 5;
    default: return 2;
    }
}
