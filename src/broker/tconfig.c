/* tconfig — every topic config a current Kafka (3.x and 4.x) accepts: name, type, range or
 * valid values, Kafka's default, the broker settings it falls back to (synonyms, most
 * specific first), and what eddyd does with it (honoured, or accepted and ignored). The
 * table drives validation (Kafka's messages), the values DescribeConfigs shows, and docs
 * (docs/broker.md "Topic configs"; tests/broker/test_topic_configs.py checks every row).
 *
 * A topic's config is its overrides ("k=v\n", persisted in its meta file) over the broker's
 * settings (static, then dynamic: dynconfig.c) over Kafka's defaults.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core.h"
#include "common/util.h"

#define I32MAX "2147483647"
#define I64MAX "9223372036854775807"
#define THROTTLED "throttled"

/* valid: "a|b|c" for strings and lists; THROTTLED for the replica throttle lists;
 * "version" for message.format.version. */
static const tconf_key g_tkeys[] = {
    {"cleanup.policy", TC_LIST, 0, 0, "compact|delete", "delete", "log.cleanup.policy", true,
     "delete: old segments go by retention; compact: the latest record of each key is kept"},
    {"compression.gzip.level", TC_INT, 1, 9, "-1", "-1", "compression.gzip.level", true,
     "gzip level when compression.type=gzip (-1 = zlib's default)"},
    {"compression.lz4.level", TC_INT, 1, 17, NULL, "9", "compression.lz4.level", true,
     "lz4 level when compression.type=lz4"},
    {"compression.type", TC_STRING, 0, 0, "uncompressed|zstd|lz4|snappy|gzip|producer", "producer",
     "compression.type", true,
     "codec of stored batches: producer keeps the producer's; any other recompresses on append"},
    {"compression.zstd.level", TC_INT, -131072, 22, NULL, "3", "compression.zstd.level", true,
     "zstd level when compression.type=zstd"},
    {"delete.retention.ms", TC_LONG, 0, INT64_MAX, NULL, "86400000",
     "log.cleaner.delete.retention.ms", true, "how long a compacted topic keeps tombstones"},
    {"file.delete.delay.ms", TC_LONG, 0, INT64_MAX, NULL, "60000", "log.segment.delete.delay.ms",
     false, "ignored: eddyd deletes a segment file at once (open readers keep its bytes)"},
    {"flush.messages", TC_LONG, 1, INT64_MAX, NULL, I64MAX, "log.flush.interval.messages", false,
     "ignored: acks=all produces are fsynced before the answer; log.flush.interval.ms for the rest"},
    {"flush.ms", TC_LONG, 0, INT64_MAX, NULL, I64MAX, "log.flush.interval.ms", false,
     "ignored per topic: the broker's log.flush.interval.ms applies"},
    {"follower.replication.throttled.replicas", TC_LIST, 0, 0, THROTTLED, "", NULL, false,
     "ignored: one node, no replication"},
    {"index.interval.bytes", TC_INT, 0, INT32_MAX, NULL, "4096", "log.index.interval.bytes", true,
     "bytes between entries of the offset and time indexes"},
    {"leader.replication.throttled.replicas", TC_LIST, 0, 0, THROTTLED, "", NULL, false,
     "ignored: one node, no replication"},
    {"local.retention.bytes", TC_LONG, -2, INT64_MAX, NULL, "-2", "log.local.retention.bytes",
     false, "ignored: no tiered storage (retention.bytes applies)"},
    {"local.retention.ms", TC_LONG, -2, INT64_MAX, NULL, "-2", "log.local.retention.ms", false,
     "ignored: no tiered storage (retention.ms applies)"},
    {"max.compaction.lag.ms", TC_LONG, 1, INT64_MAX, NULL, I64MAX,
     "log.cleaner.max.compaction.lag.ms", true,
     "a compact topic's active segment rolls at this age, so its records get compacted"},
    {"max.message.bytes", TC_INT, 0, INT32_MAX, NULL, "1048588", "message.max.bytes", true,
     "largest record batch accepted (MESSAGE_TOO_LARGE beyond)"},
    {"message.downconversion.enable", TC_BOOL, 0, 0, NULL, "true",
     "log.message.downconversion.enable", false,
     "ignored (Kafka 3.x; removed in 4.0): batches are served as stored"},
    {"message.format.version", TC_STRING, 0, 0, "version", "3.0-IV1", "log.message.format.version",
     false, "ignored as Kafka 3.x does (deprecated; removed in 4.0): batches are always v2"},
    {"message.timestamp.after.max.ms", TC_LONG, 0, INT64_MAX, NULL, I64MAX,
     "log.message.timestamp.after.max.ms", true,
     "CreateTime batches with a timestamp further ahead of the broker's clock: INVALID_TIMESTAMP"},
    {"message.timestamp.before.max.ms", TC_LONG, 0, INT64_MAX, NULL, I64MAX,
     "log.message.timestamp.before.max.ms", true,
     "CreateTime batches with a timestamp further behind the broker's clock: INVALID_TIMESTAMP"},
    {"message.timestamp.difference.max.ms", TC_LONG, 0, INT64_MAX, NULL, I64MAX,
     "log.message.timestamp.difference.max.ms", true,
     "both of the above at once (Kafka 3.x; removed in 4.0)"},
    {"message.timestamp.type", TC_STRING, 0, 0, "CreateTime|LogAppendTime", "CreateTime",
     "log.message.timestamp.type", true, "LogAppendTime stamps batches with the broker's clock"},
    {"min.cleanable.dirty.ratio", TC_DOUBLE, 0, 1, NULL, "0.5", "log.cleaner.min.cleanable.ratio",
     false, "ignored: compaction runs on every housekeeping pass"},
    {"min.compaction.lag.ms", TC_LONG, 0, INT64_MAX, NULL, "0", "log.cleaner.min.compaction.lag.ms",
     true, "records younger than this are not compacted (nor anything after them)"},
    {"min.insync.replicas", TC_INT, 1, INT32_MAX, NULL, "1", "min.insync.replicas", true,
     "above 1, acks=all produces get NOT_ENOUGH_REPLICAS (the ISR of one node is 1)"},
    {"preallocate", TC_BOOL, 0, 0, NULL, "false", "log.preallocate", true,
     "reserve segment space ahead of appends"},
    {"remote.log.copy.disable", TC_BOOL, 0, 0, NULL, "false", NULL, false,
     "ignored: no tiered storage"},
    {"remote.log.delete.on.disable", TC_BOOL, 0, 0, NULL, "false", NULL, false,
     "ignored: no tiered storage"},
    {"remote.storage.enable", TC_BOOL, 0, 0, NULL, "false", NULL, false,
     "ignored: no tiered storage (data stays local)"},
    {"retention.bytes", TC_LONG, INT64_MIN, INT64_MAX, NULL, "-1", "log.retention.bytes", true,
     "bytes kept per partition before old segments go (-1 = no limit)"},
    {"retention.ms", TC_LONG, -1, INT64_MAX, NULL, "604800000",
     "log.retention.ms,log.retention.minutes,log.retention.hours", true,
     "how long records are kept (-1 = forever)"},
    {"segment.bytes", TC_INT, 14, INT32_MAX, NULL, "1073741824", "log.segment.bytes", true,
     "segment size at which a partition's log rolls"},
    {"segment.index.bytes", TC_INT, 4, INT32_MAX, NULL, "10485760", "log.index.size.max.bytes",
     false, "ignored: eddyd's indexes grow with their segment"},
    {"segment.jitter.ms", TC_LONG, 0, INT64_MAX, NULL, "0",
     "log.roll.jitter.ms,log.roll.jitter.hours", true,
     "a random part of this is taken off segment.ms per partition"},
    {"segment.ms", TC_LONG, 1, INT64_MAX, NULL, "604800000", "log.roll.ms,log.roll.hours", true,
     "age at which a segment rolls even if not full"},
    {"unclean.leader.election.enable", TC_BOOL, 0, 0, NULL, "false",
     "unclean.leader.election.enable", false, "ignored: one node is always the clean leader"},
};

int tconf_count(void)
{
    return (int)ARRAY_LEN(g_tkeys);
}
const tconf_key *tconf_at(int i)
{
    return &g_tkeys[i];
}
const tconf_key *tconf_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(g_tkeys); i++)
        if (!strcmp(g_tkeys[i].name, name)) return &g_tkeys[i];
    return NULL;
}

const char *tconf_type_name(int type)
{
    switch (type) {
    case TC_BOOL: return "BOOLEAN";
    case TC_STRING: return "STRING";
    case TC_INT: return "INT";
    case TC_LONG: return "LONG";
    case TC_DOUBLE: return "DOUBLE";
    case TC_LIST: return "LIST";
    default: return "UNKNOWN";
    }
}

/* ------------------------------------------------------------------ validation ---- */

static bool in_set(const char *set, const char *v, size_t n)
{
    for (const char *p = set; *p;) {
        size_t m = strcspn(p, "|");
        if (m == n && !strncmp(p, v, n)) return true;
        p += m;
        if (*p) p++;
    }
    return false;
}

static void set_list(const char *set, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (const char *p = set; *p && o + 2 < len;) {
        size_t m = strcspn(p, "|");
        o += (size_t)snprintf(buf + o, len - o, "%s%.*s", o ? ", " : "", (int)m, p);
        p += m;
        if (*p) p++;
    }
}

static bool parse_i64(const char *v, int64_t *out)
{
    if (!v || !*v) return false;
    while (*v == ' ') v++;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    while (*end == ' ') end++;
    if (errno || *end || end == v) return false;
    *out = x;
    return true;
}

static bool throttled_ok(const char *v)
{
    /* "", "*", or partition:broker[,partition:broker...] */
    while (*v == ' ') v++;
    if (!*v || !strcmp(v, "*")) return true;
    for (const char *p = v; *p;) {
        while (*p == ' ') p++;
        const char *q = p;
        if (*q < '0' || *q > '9') return false;
        while (*q >= '0' && *q <= '9') q++;
        if (*q++ != ':') return false;
        if (*q < '0' || *q > '9') return false;
        while (*q >= '0' && *q <= '9') q++;
        while (*q == ' ') q++;
        if (*q == ',')
            q++;
        else if (*q)
            return false;
        p = q;
    }
    return true;
}

static bool version_ok(const char *v)
{
    /* Kafka's record-format versions: 0.8.0 ... 3.9-IV0 style strings. Kafka reads only the
     * leading segments that name a version (three for 0.x, two after), so the four-segment
     * form users and librdkafka's suite (0092) write, "0.10.0.0", is valid too. */
    const char *p = v;
    int parts = 0;
    while (*p) {
        if (*p < '0' || *p > '9') return false;
        while (*p >= '0' && *p <= '9') p++;
        parts++;
        if (*p == '.') {
            p++;
            continue;
        }
        if (*p == '-') {
            if (strncmp(p, "-IV", 3) != 0 || p[3] < '0' || p[3] > '9') return false;
            p += 3;
            while (*p >= '0' && *p <= '9') p++;
            return !*p && parts >= 2 && parts <= 3;
        }
        break;
    }
    return !*p && parts >= 2 && parts <= 4;
}

/* Kafka's ConfigDef messages: "Invalid value V for configuration K: why". */
int tconf_check_value(const tconf_key *k, const char *v, char *err, size_t errlen)
{
    char why[200] = "";
    int64_t x;
    if (!v) {
        snprintf(err, errlen, "Invalid value null for configuration %s: null is not allowed",
                 k->name);
        return KERR_INVALID_CONFIG;
    }
    switch (k->type) {
    case TC_BOOL:
        if (strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "TRUE") && strcmp(v, "FALSE") &&
            strcmp(v, "True") && strcmp(v, "False"))
            snprintf(why, sizeof why, "Expected value to be either true or false");
        break;
    case TC_INT:
    case TC_LONG:
        if (!parse_i64(v, &x) || (k->type == TC_INT && (x < INT32_MIN || x > INT32_MAX))) {
            snprintf(why, sizeof why, "Not a number of type %s", tconf_type_name(k->type));
            break;
        }
        if (k->valid && !strcmp(k->valid, "-1") && x == -1) break; /* gzip: -1 or a level */
        if (x < k->min || x > k->max) {
            if (k->max != INT64_MAX && k->max != INT32_MAX)
                snprintf(why, sizeof why, "Value must be between %" PRId64 " and %" PRId64 "%s",
                         k->min, k->max, k->valid ? " (or -1)" : "");
            else
                snprintf(why, sizeof why, "Value must be at least %" PRId64, k->min);
        }
        break;
    case TC_DOUBLE: {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (errno || end == v || *end || isnan(d))
            snprintf(why, sizeof why, "Not a number of type DOUBLE");
        else if (d < (double)k->min)
            snprintf(why, sizeof why, "Value must be at least %" PRId64, k->min);
        else if (d > (double)k->max)
            snprintf(why, sizeof why, "Value must be no more than %" PRId64, k->max);
        break;
    }
    case TC_STRING:
        if (k->valid && !strcmp(k->valid, "version")) {
            if (!version_ok(v)) snprintf(why, sizeof why, "Version `%s` is not a valid version", v);
        } else if (k->valid && !in_set(k->valid, v, strlen(v))) {
            char l[160];
            set_list(k->valid, l, sizeof l);
            snprintf(why, sizeof why, "String must be one of: %s", l);
        }
        break;
    case TC_LIST:
        if (k->valid && !strcmp(k->valid, THROTTLED)) {
            if (!throttled_ok(v))
                snprintf(why, sizeof why,
                         "must be the literal '*' or a list of replicas in the following format: "
                         "[partitionId]:[brokerId],[partitionId]:[brokerId],...");
        } else if (k->valid) {
            bool any = false;
            for (const char *p = v; *p;) {
                while (*p == ' ') p++;
                size_t m = strcspn(p, ",");
                size_t t = m;
                while (t && p[t - 1] == ' ') t--;
                if (t) any = true;
                if (t && !in_set(k->valid, p, t)) {
                    char l[160];
                    set_list(k->valid, l, sizeof l);
                    snprintf(why, sizeof why, "String must be one of: %s", l);
                    break;
                }
                p += m;
                if (*p == ',') p++;
            }
            if (!*why && !any) snprintf(why, sizeof why, "Empty list is not allowed");
        }
        break;
    }
    if (!*why) return 0;
    snprintf(err, errlen, "Invalid value %s for configuration %s: %s", v, k->name, why);
    return KERR_INVALID_CONFIG;
}

int tconf_check(const char *key, const char *value, char *err, size_t errlen)
{
    const tconf_key *k = tconf_find(key);
    if (k) return tconf_check_value(k, value, err, errlen);
    const char *names[ARRAY_LEN(g_tkeys)];
    for (size_t i = 0; i < ARRAY_LEN(g_tkeys); i++) names[i] = g_tkeys[i].name;
    const char *near = closest_name(key, names, ARRAY_LEN(names));
    if (near)
        snprintf(err, errlen, "Unknown topic config name: %s (did you mean %s?)", key, near);
    else
        snprintf(err, errlen, "Unknown topic config name: %s", key);
    return KERR_INVALID_CONFIG;
}

/* ------------------------------------------------------------------ typed values ---- */

static int parse_policy(const char *v)
{
    int flags = 0;
    for (const char *p = v; *p;) {
        while (*p == ' ') p++;
        size_t n = strcspn(p, ", ");
        if (n == 6 && !strncmp(p, "delete", 6))
            flags |= PLOG_CLEANUP_DELETE;
        else if (n == 7 && !strncmp(p, "compact", 7))
            flags |= PLOG_CLEANUP_COMPACT;
        else if (n)
            return -1;
        p += n;
        while (*p == ' ') p++;
        if (*p == ',') p++;
    }
    return flags ? flags : -1;
}

static int codec_of(const char *v)
{
    static const char *const names[] = {"uncompressed", "gzip", "snappy", "lz4", "zstd"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(v, names[i])) return i;
    return TC_CODEC_PRODUCER;
}

int tconf_apply(topic_config *c, const char *key, const char *v)
{
    const tconf_key *k = key ? tconf_find(key) : NULL;
    char err[8];
    if (!k || !v || tconf_check_value(k, v, err, sizeof err)) return KERR_INVALID_CONFIG;
    int64_t x = 0;
    if (k->type == TC_INT || k->type == TC_LONG) parse_i64(v, &x);
    if (!strcmp(key, "cleanup.policy"))
        c->log.cleanup_policy = parse_policy(v);
    else if (!strcmp(key, "retention.ms"))
        c->log.retention_ms = x;
    else if (!strcmp(key, "retention.bytes"))
        c->log.retention_bytes = x;
    else if (!strcmp(key, "segment.bytes"))
        c->log.segment_bytes = x;
    else if (!strcmp(key, "segment.ms"))
        c->log.segment_ms = x;
    else if (!strcmp(key, "segment.jitter.ms"))
        c->log.segment_jitter_ms = x;
    else if (!strcmp(key, "index.interval.bytes"))
        c->log.index_interval_bytes = (int32_t)x;
    else if (!strcmp(key, "preallocate"))
        c->log.preallocate = v[0] == 't' || v[0] == 'T';
    else if (!strcmp(key, "max.message.bytes"))
        c->max_message_bytes = (int32_t)x;
    else if (!strcmp(key, "message.timestamp.type"))
        c->log_append_time = !strcmp(v, "LogAppendTime");
    else if (!strcmp(key, "delete.retention.ms"))
        c->log.delete_retention_ms = x;
    else if (!strcmp(key, "min.compaction.lag.ms"))
        c->log.min_compaction_lag_ms = x;
    else if (!strcmp(key, "max.compaction.lag.ms"))
        c->log.max_compaction_lag_ms = x;
    else if (!strcmp(key, "compression.type"))
        c->compression = (int8_t)codec_of(v);
    else if (!strcmp(key, "compression.gzip.level"))
        c->gzip_level = (int32_t)x;
    else if (!strcmp(key, "compression.lz4.level"))
        c->lz4_level = (int32_t)x;
    else if (!strcmp(key, "compression.zstd.level"))
        c->zstd_level = (int32_t)x;
    else if (!strcmp(key, "min.insync.replicas"))
        c->min_insync_replicas = (int32_t)x;
    else if (!strcmp(key, "message.timestamp.before.max.ms"))
        c->ts_before_max_ms = x;
    else if (!strcmp(key, "message.timestamp.after.max.ms"))
        c->ts_after_max_ms = x;
    else if (!strcmp(key, "message.timestamp.difference.max.ms"))
        c->ts_diff_max_ms = x;
    return 0; /* the rest are accepted and ignored (see the table) */
}

/* The value a topic without an override gets: the first of its broker synonyms eddyd has as a
 * setting (its current value, dynamic or static), else Kafka's default. *bkey names it. */
const char *tconf_broker_default(const bconfig *bc, const tconf_key *k, char *buf, size_t len,
                                 int *bkey)
{
    if (bkey) *bkey = -1;
    for (const char *p = k->synonyms ? k->synonyms : ""; bc && *p;) {
        size_t n = strcspn(p, ",");
        char name[96];
        snprintf(name, sizeof name, "%.*s", (int)n, p);
        int i = bconfig_find(name);
        if (i >= 0) {
            bconfig_value(bc, i, buf, len);
            char e[8];
            if (tconf_check_value(k, buf, e, sizeof e) == 0) {
                if (bkey) *bkey = i;
                return buf;
            }
        }
        p += n;
        if (*p == ',') p++;
    }
    snprintf(buf, len, "%s", k->dflt);
    return buf;
}

void tconf_defaults(const bconfig *bc, topic_config *c)
{
    memset(c, 0, sizeof *c);
    c->bc = bc;
    char buf[512];
    for (size_t i = 0; i < ARRAY_LEN(g_tkeys); i++) {
        tconf_broker_default(bc, &g_tkeys[i], buf, sizeof buf, NULL);
        tconf_apply(c, g_tkeys[i].name, buf);
    }
}

int tconf_build(const bconfig *bc, const char *overrides, topic_config *c, char *err, size_t errlen)
{
    tconf_defaults(bc, c);
    if (err && errlen) err[0] = 0;
    const char *p = overrides ? overrides : "";
    while (*p) {
        size_t n = strcspn(p, "\n");
        if (n > 0) {
            char *line = xstrndup(p, n);
            char *eq = strchr(line, '=');
            int rc = KERR_INVALID_CONFIG;
            if (eq) {
                *eq = 0;
                rc = tconf_apply(c, line, eq + 1);
            }
            if (rc) {
                if (err && errlen) {
                    if (eq)
                        tconf_check(line, eq + 1, err, errlen);
                    else
                        snprintf(err, errlen, "topic config \"%s\" has no value", line);
                }
                free(line);
                return rc;
            }
            free(line);
        }
        p += n;
        if (*p == '\n') p++;
    }
    c->overrides = xstrdup(overrides ? overrides : "");
    return 0;
}

char *tconf_override_get(const char *overrides, const char *key)
{
    size_t kl = strlen(key);
    const char *p = overrides ? overrides : "";
    while (*p) {
        size_t n = strcspn(p, "\n");
        if (n > kl && !strncmp(p, key, kl) && p[kl] == '=') return xstrndup(p + kl + 1, n - kl - 1);
        p += n;
        if (*p == '\n') p++;
    }
    return NULL;
}

char *tconf_override_set(const char *overrides, const char *key, const char *value)
{
    size_t kl = strlen(key);
    wbuf w;
    wbuf_init(&w, 0);
    const char *p = overrides ? overrides : "";
    while (*p) {
        size_t n = strcspn(p, "\n");
        bool same = n > kl && !strncmp(p, key, kl) && p[kl] == '=';
        if (n > 0 && !same) {
            wbuf_put(&w, p, n);
            wbuf_put(&w, "\n", 1);
        }
        p += n;
        if (*p == '\n') p++;
    }
    if (value) {
        wbuf_put(&w, key, kl);
        wbuf_put(&w, "=", 1);
        wbuf_put(&w, value, strlen(value));
        wbuf_put(&w, "\n", 1);
    }
    wbuf_put(&w, "", 1);
    char *s = xstrdup((const char *)w.data);
    wbuf_free(&w);
    return s;
}

const char *tconf_value(const topic_config *c, const char *key, char *buf, size_t len,
                        bool *overridden)
{
    char *ov = tconf_override_get(c->overrides, key);
    if (overridden) *overridden = ov != NULL;
    buf[0] = 0;
    const tconf_key *k = tconf_find(key);
    if (!strcmp(key, "cleanup.policy")) {
        int f = c->log.cleanup_policy;
        snprintf(buf, len, "%s",
                 f == (PLOG_CLEANUP_DELETE | PLOG_CLEANUP_COMPACT) ? "compact,delete"
                 : f == PLOG_CLEANUP_COMPACT                       ? "compact"
                                                                   : "delete");
    } else if (ov) {
        snprintf(buf, len, "%s", ov);
    } else if (k) {
        tconf_broker_default(c->bc, k, buf, len, NULL);
    }
    free(ov);
    return buf;
}
