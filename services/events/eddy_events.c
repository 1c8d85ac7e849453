/* eddy-events — reads the reference system's topics from the beginning to their current end
 * and prints every event grouped by correlation id, in time order (the demo's "event chain"),
 * or as JSON lines with --json. Any Kafka cluster; librdkafka only. "Current end": the end
 * offsets each partition had when it started, all of them read (the tests' audits rely on it);
 * a cluster that does not answer is an error, never a short answer.
 *   eddy-events --bootstrap HOST:PORT [--topics a,b,…] [--correlation ID] [--json | --raw]
 *   eddy-events --bootstrap HOST:PORT --produce TOPIC [--key K]   (value from stdin)
 *   eddy-events --bootstrap HOST:PORT --reset-group GROUP --topics a,b  (offsets to the start;
 *               the group must have no live members)
 * --raw prints every message (JSON or not) as {"topic","partition","offset","key","value"}. */
#include <eddy/eddy.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct item {
    char *corr, *ts, *type, *source, *key, *topic;
    json_t *env;
    int64_t offset;
    int32_t partition;
} item;

static int cmp(const void *a, const void *b)
{
    const item *x = a, *y = b;
    int c = strcmp(x->corr, y->corr);
    if (c) return c;
    c = strcmp(x->ts, y->ts);
    if (c) return c;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int do_produce(const char *bootstrap, const char *topic, const char *key)
{
    char err[512];
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    while ((r = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += r;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    while (n && buf[n - 1] == '\n') n--;
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE(buf, n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    rd_kafka_flush(rk, 30000);
    int left = rd_kafka_outq_len(rk);
    rd_kafka_destroy(rk);
    free(buf);
    if (e || left) fprintf(stderr, "eddy-events: produce failed\n");
    return e || left ? 1 : 0;
}

/* Bounds of one run: the partitions it reads, and how long it waits with no message at all
 * (polls of 100 ms) before it gives up with an error. */
#define MAX_PARTS 512
#define IDLE_POLLS 300
#define ATTEMPTS 10

/* One topic's metadata, retried through transient errors (a leader moving, a busy broker):
 * 0 with *md set, 1 when the topic does not exist (nothing to read), -1 (said on stderr) when
 * the cluster kept failing: never a silently skipped topic. */
static int topic_metadata(rd_kafka_t *rk, const char *t, const struct rd_kafka_metadata **md)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, t, NULL);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    for (int a = 0; a < ATTEMPTS; a++) {
        if (a) usleep(200 * 1000);
        *md = NULL;
        e = rd_kafka_metadata(rk, 0, rkt, md, 5000);
        if (!e) e = (*md)->topic_cnt == 1 ? (*md)->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        if (!e || e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
            e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
            break;
        if (*md) rd_kafka_metadata_destroy(*md);
        *md = NULL;
    }
    rd_kafka_topic_destroy(rkt);
    if (!e) return 0;
    if (*md) rd_kafka_metadata_destroy(*md);
    *md = NULL;
    if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
        return 1;
    fprintf(stderr, "eddy-events: metadata of %s: %s\n", t, rd_kafka_err2str(e));
    return -1;
}

/* A partition's start and end offsets, retried like the metadata; -1 (said) on failure. */
static int watermarks(rd_kafka_t *rk, const char *t, int32_t p, int64_t *lo, int64_t *hi)
{
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    for (int a = 0; a < ATTEMPTS && e; a++) {
        if (a) usleep(200 * 1000);
        e = rd_kafka_query_watermark_offsets(rk, t, p, lo, hi, 5000);
    }
    if (e)
        fprintf(stderr, "eddy-events: end offsets of %s[%d]: %s\n", t, (int)p, rd_kafka_err2str(e));
    return e ? -1 : 0;
}

static int part_index(const rd_kafka_topic_partition_list_t *l, const char *t, int32_t p)
{
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].partition == p && !strcmp(l->elems[i].topic, t)) return i;
    return -1;
}

int main(int argc, char **argv)
{
    const char *bootstrap = getenv("EDDY_BOOTSTRAP_SERVERS");
    const char *topics = "order.events,payment.events,inventory.events,notification.events";
    const char *only = NULL;
    int as_json = 0, raw = 0;
    const char *produce = NULL, *key = NULL, *reset = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bootstrap") && i + 1 < argc)
            bootstrap = argv[++i];
        else if (!strcmp(argv[i], "--topics") && i + 1 < argc)
            topics = argv[++i];
        else if (!strcmp(argv[i], "--correlation") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            as_json = 1;
        else if (!strcmp(argv[i], "--raw"))
            raw = 1;
        else if (!strcmp(argv[i], "--produce") && i + 1 < argc)
            produce = argv[++i];
        else if (!strcmp(argv[i], "--key") && i + 1 < argc)
            key = argv[++i];
        else if (!strcmp(argv[i], "--reset-group") && i + 1 < argc)
            reset = argv[++i];
        else {
            fprintf(stderr, "usage: eddy-events --bootstrap HOST:PORT [--topics a,b] "
                            "[--correlation ID] [--json]\n");
            return 2;
        }
    }
    if (!bootstrap) bootstrap = "127.0.0.1:9092";
    char err[512], gid[128], uuid[37];
    if (produce) return do_produce(bootstrap, produce, key);
    eddy_uuid_generate(uuid);
    snprintf(gid, sizeof gid, "eddy-events-%s", uuid);
    if (reset) snprintf(gid, sizeof gid, "%s", reset);
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(c, "group.id", gid, err, sizeof err);
    rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_conf_set(c, "enable.partition.eof", "true", err, sizeof err);
    rd_kafka_conf_set(c, "log_level", "3", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "eddy-events: %s\n", err);
        return 1;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    char *tl = strdup(topics), *save = NULL;
    int pending = 0, failed = 0;
    int64_t hi[MAX_PARTS]; /* each assigned partition's end offset when we started */
    for (char *t = strtok_r(tl, ",", &save); t && !failed; t = strtok_r(NULL, ",", &save)) {
        const struct rd_kafka_metadata *md = NULL;
        int rc = topic_metadata(rk, t, &md);
        if (rc < 0) failed = 1;
        for (int p = 0; rc == 0 && !failed && p < md->topics[0].partition_cnt; p++) {
            int32_t part = md->topics[0].partitions[p].id;
            int64_t lo = 0, end = 0;
            if (watermarks(rk, t, part, &lo, &end) < 0) {
                failed = 1;
            } else if (end > lo && l->cnt >= MAX_PARTS) {
                fprintf(stderr, "eddy-events: more than %d partitions\n", MAX_PARTS);
                failed = 1;
            } else if (end > lo) {
                hi[l->cnt] = end;
                rd_kafka_topic_partition_list_add(l, t, part)->offset = RD_KAFKA_OFFSET_BEGINNING;
                pending++;
            }
        }
        if (md) rd_kafka_metadata_destroy(md);
    }
    if (failed) {
        free(tl);
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(rk);
        return 1;
    }
    free(tl);
    if (reset) {
        /* Join the group as its only member, then commit the start of every partition. */
        int want = 0;
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(8);
        for (int i = 0; i < l->cnt; i++) {
            int dup = 0;
            for (int j = 0; j < sub->cnt; j++)
                dup |= !strcmp(sub->elems[j].topic, l->elems[i].topic);
            if (!dup)
                rd_kafka_topic_partition_list_add(sub, l->elems[i].topic, RD_KAFKA_PARTITION_UA);
            want++;
        }
        if (sub->cnt) rd_kafka_subscribe(rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        for (int i = 0; i < 600 && want; i++) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
            if (m) rd_kafka_message_destroy(m);
            rd_kafka_topic_partition_list_t *a = NULL;
            if (!rd_kafka_assignment(rk, &a) && a) {
                int cnt = a->cnt;
                rd_kafka_topic_partition_list_destroy(a);
                if (cnt > 0) break;
            }
        }
        for (int i = 0; i < l->cnt; i++) {
            int64_t lo = 0, end = 0;
            rd_kafka_query_watermark_offsets(rk, l->elems[i].topic, l->elems[i].partition, &lo,
                                             &end, 10000);
            l->elems[i].offset = lo;
        }
        rd_kafka_resp_err_t e = l->cnt ? rd_kafka_commit(rk, l, 0) : RD_KAFKA_RESP_ERR_NO_ERROR;
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        if (e)
            fprintf(stderr, "eddy-events: reset %s: %s\n", reset, rd_kafka_err2str(e));
        else
            fprintf(stderr, "eddy-events: group %s reset to the start\n", reset);
        return e ? 1 : 0;
    }
    rd_kafka_assign(rk, l);
    item *items = NULL;
    size_t n = 0, cap = 0;
    /* Read every assigned partition up to the end offset it had when we started (an audit that
     * reads the log after the rows it checks were acknowledged finds every one of them). A
     * partition is done once its message at end - 1, or an end-of-partition event at or past
     * its end, arrived: counted once, however often the end is reached again while producers
     * append. No message at all for IDLE_POLLS polls is an error, never a short answer. */
    char done[MAX_PARTS] = {0};
    int idle = 0;
    while (pending > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m && (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF))
            idle = 0; /* progress (errors the consumer retries by itself are not) */
        else if (++idle < IDLE_POLLS && !m)
            continue;
        if (idle >= IDLE_POLLS) {
            if (m) rd_kafka_message_destroy(m);
            for (int i = 0; i < l->cnt; i++)
                if (!done[i])
                    fprintf(stderr, "eddy-events: %s[%d] not read up to its end offset %lld\n",
                            l->elems[i].topic, (int)l->elems[i].partition, (long long)hi[i]);
            fprintf(stderr, "eddy-events: no message for %d s, giving up\n", IDLE_POLLS / 10);
            failed = 1;
            break;
        }
        int i = m->rkt ? part_index(l, rd_kafka_topic_name(m->rkt), m->partition) : -1;
        if (i >= 0 && !done[i] &&
            ((m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->offset >= hi[i]) ||
             (!m->err && m->offset + 1 >= hi[i]))) {
            done[i] = 1;
            pending--;
        }
        if (m->err) {
            /* an end of partition, or an error the consumer retries by itself */
        } else if (raw) {
            json_t *o = json_pack("{s:s,s:i,s:I,s:s%,s:s%}", "topic", rd_kafka_topic_name(m->rkt),
                                  "partition", m->partition, "offset", (json_int_t)m->offset, "key",
                                  m->key ? (const char *)m->key : "", m->key ? m->key_len : 0,
                                  "value", m->payload ? (const char *)m->payload : "", m->len);
            char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
            if (s) puts(s);
            free(s);
            json_decref(o);
        } else {
            json_t *env = json_loadb(m->payload, m->len, 0, NULL);
            json_t *corr = json_object_get(env, "correlationId");
            if (json_is_string(corr) && (!only || !strcmp(only, json_string_value(corr)))) {
                if (n == cap) items = realloc(items, (cap = cap ? cap * 2 : 256) * sizeof *items);
                item *it = &items[n++];
                it->corr = strdup(json_string_value(corr));
                const char *ts = json_string_value(json_object_get(env, "timestamp"));
                const char *ty = json_string_value(json_object_get(env, "eventType"));
                const char *so = json_string_value(json_object_get(env, "source"));
                it->ts = strdup(ts ? ts : "");
                it->type = strdup(ty ? ty : "?");
                it->source = strdup(so ? so : "?");
                it->key = m->key ? strndup(m->key, m->key_len) : strdup("");
                it->topic = strdup(rd_kafka_topic_name(m->rkt));
                it->env = env;
                env = NULL;
                it->offset = m->offset;
                it->partition = m->partition;
            }
            json_decref(env);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (n && !failed) qsort(items, n, sizeof *items, cmp);
    const char *last = "";
    for (size_t i = 0; i < n && !failed; i++) { /* a partial answer is no answer */
        item *it = &items[i];
        if (as_json) {
            json_t *o =
                json_pack("{s:s,s:i,s:I,s:s,s:O}", "topic", it->topic, "partition", it->partition,
                          "offset", (json_int_t)it->offset, "key", it->key, "event", it->env);
            char *s = json_dumps(o, JSON_COMPACT);
            puts(s);
            free(s);
            json_decref(o);
        } else {
            if (strcmp(last, it->corr)) printf("correlation %s (key %s)\n", it->corr, it->key);
            printf("  %s  %-13s %-30s %s[%d]@%lld\n", it->ts, it->source, it->type, it->topic,
                   it->partition, (long long)it->offset);
            last = it->corr;
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(items[i].corr);
        free(items[i].ts);
        free(items[i].type);
        free(items[i].source);
        free(items[i].key);
        free(items[i].topic);
        json_decref(items[i].env);
    }
    free(items);
    return failed;
}
