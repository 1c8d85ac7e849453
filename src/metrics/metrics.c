/* metrics — GET /metrics (Prometheus text exposition format 0.0.4) and GET /healthz on
 * eddyd's HTTP port (metrics.h). Reads the broker's counters; consumer-group figures come
 * through the callbacks eddyd's main passes in (metrics_source), so this module knows the
 * broker and the HTTP transport only. eddyd's main routes the paths to these handlers.
 *
 * Families:
 *   kafka_consumer_group_lag{consumer_group,topic,partition}          gauge  HWM - committed
 *   kafka_consumer_group_lag_seconds{…}                               gauge  age of oldest unread
 *   kafka_consumer_group_stalled{…}                                   gauge  lag, offset not moving
 *   kafka_consumer_group_committed_offset{consumer_group,topic,partition} gauge
 *   eddy_consumer_groups{state}                                       gauge
 *   eddy_topic_{produced,consumed}_{records,bytes}_total{topic}       counter
 *   kafka_partition_high_watermark / kafka_partition_log_start_offset{topic,partition} gauge
 *   eddy_requests_total / eddy_request_errors_total{api}              counter
 *   eddy_request_duration_seconds{api}                                histogram
 *   eddy_topic_size_bytes{topic}, eddy_log_dir_{free,total}_bytes          gauge  disk
 *   eddy_connections, eddy_connections_accepted_total, eddy_uptime_seconds
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "broker/broker.h"
#include "common/util.h"
#include "http/http.h"
#include "metrics/metrics.h"

typedef struct sb {
    char *p;
    size_t len, alloc;
} sb;

static void sb_printf(sb *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb *s, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = s->alloc - s->len;
        int n = vsnprintf(s->p ? s->p + s->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < room) {
            s->len += (size_t)n;
            return;
        }
        s->alloc = MAX(s->alloc * 2, s->len + (size_t)n + 256);
        s->p = xrealloc(s->p, s->alloc);
    }
}

/* Label value escaping: backslash, double quote and newline. */
static void sb_label(sb *s, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            sb_printf(s, "\\\\");
        else if (*v == '"')
            sb_printf(s, "\\\"");
        else if (*v == '\n')
            sb_printf(s, "\\n");
        else
            sb_printf(s, "%c", *v);
    }
}

static void family(sb *s, const char *name, const char *type, const char *help)
{
    sb_printf(s, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Committed offsets as /metrics last saw them, for stall detection: since when each
 * (group, topic, partition) has had its current offset. Entries not seen in a scrape (a deleted
 * group, an expired offset) are dropped at the end of it. The first sighting starts the clock,
 * so after a restart a stall is reported metrics.lag.stall.ms after the first scrape at the
 * earliest. */
typedef struct seen_off {
    char *key; /* group \x1f topic \x1f partition; NULL = empty slot */
    int64_t offset, since_ms;
    unsigned gen;
} seen_off;

struct metrics_state {
    seen_off *tab; /* open addressing, cap a power of two, at most half full */
    size_t cap, n;
    unsigned gen;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static seen_off *seen_slot(seen_off *tab, size_t cap, const char *key)
{
    for (size_t i = fnv1a(key) & (cap - 1);; i = (i + 1) & (cap - 1))
        if (!tab[i].key || strcmp(tab[i].key, key) == 0) return &tab[i];
}

static void seen_rehash(metrics_state *st, size_t cap)
{
    seen_off *tab = xcalloc(cap, sizeof *tab);
    size_t n = 0;
    for (size_t i = 0; i < st->cap; i++) {
        seen_off *e = &st->tab[i];
        if (!e->key) continue;
        if (e->gen != st->gen) { /* not seen in the scrape that just ended */
            free(e->key);
            continue;
        }
        *seen_slot(tab, cap, e->key) = *e;
        n++;
    }
    free(st->tab);
    st->tab = tab;
    st->cap = cap;
    st->n = n;
}

/* How long the committed offset has had this value (ms), recording it as seen now. */
static int64_t seen_unchanged_ms(metrics_state *st, const char *group, const char *topic,
                                 int32_t partition, int64_t offset, int64_t now)
{
    if ((st->n + 1) * 2 > st->cap) seen_rehash(st, st->cap ? st->cap * 2 : 64);
    char *key = xasprintf("%s\x1f%s\x1f%d", group, topic, partition);
    seen_off *e = seen_slot(st->tab, st->cap, key);
    if (!e->key) {
        e->key = key;
        e->offset = offset;
        e->since_ms = now;
        st->n++;
    } else {
        free(key);
        if (e->offset != offset) {
            e->offset = offset;
            e->since_ms = now;
        }
    }
    e->gen = st->gen;
    return now - e->since_ms;
}

enum lag_view { V_LAG, V_COMMITTED, V_LAG_SECONDS, V_STALLED };

typedef struct lag_ctx {
    broker *b;
    sb *s;
    enum lag_view view;
    metrics_state *st;
    int64_t now;
} lag_ctx;

static const char *const g_lag_family[] = {
    [V_LAG] = "kafka_consumer_group_lag",
    [V_COMMITTED] = "kafka_consumer_group_committed_offset",
    [V_LAG_SECONDS] = "kafka_consumer_group_lag_seconds",
    [V_STALLED] = "kafka_consumer_group_stalled",
};

static void on_offset(void *arg, const char *group, const char *topic, int32_t partition,
                      int64_t offset)
{
    lag_ctx *x = arg;
    if (offset < 0) return;
    btopic *t = topic_find(x->b, topic);
    if (!t || t->internal || partition < 0 || partition >= t->nparts) return;
    bpart *p = t->parts[partition];
    int64_t lag = part_hwm(p) - offset;
    if (lag < 0) lag = 0;
    char val[32];
    switch (x->view) {
    case V_LAG: snprintf(val, sizeof val, "%" PRId64, lag); break;
    case V_COMMITTED: snprintf(val, sizeof val, "%" PRId64, offset); break;
    case V_LAG_SECONDS: {
        int64_t ts = 0;
        double age = 0;
        if (lag > 0 && p->log && plog_timestamp_at(p->log, offset, &ts) == 0 && ts > 0)
            age = (double)MAX(x->now - ts, 0) / 1000.0;
        snprintf(val, sizeof val, "%.3f", age);
        break;
    }
    case V_STALLED: {
        int64_t still = seen_unchanged_ms(x->st, group, topic, partition, offset, x->now);
        snprintf(val, sizeof val, "%d", lag > 0 && still >= x->b->cfg.metrics_lag_stall_ms ? 1 : 0);
        break;
    }
    }
    sb_printf(x->s, "%s{consumer_group=\"", g_lag_family[x->view]);
    sb_label(x->s, group);
    sb_printf(x->s, "\",topic=\"");
    sb_label(x->s, topic);
    sb_printf(x->s, "\",partition=\"%d\"} %s\n", partition, val);
}

void metrics_source_release(metrics_source *src)
{
    metrics_state *st = src->state;
    if (!st) return;
    for (size_t i = 0; i < st->cap; i++) free(st->tab[i].key);
    free(st->tab);
    free(st);
    src->state = NULL;
}

static void lag_families(metrics_source *src, sb *s)
{
    static const char *const help[] = {
        [V_LAG] = "Messages between a consumer group's committed offset and the partition's "
                  "high watermark (partitions with a committed offset only).",
        [V_COMMITTED] = "Committed offset of a consumer group on a partition.",
        [V_LAG_SECONDS] = "Age of the oldest record the group has not consumed: now minus the "
                          "timestamp of the batch at its committed offset (0 without lag).",
        [V_STALLED] = "1 when the group has lag on the partition and its committed offset has "
                      "not moved for metrics.lag.stall.ms, else 0.",
    };
    if (!src->state) src->state = xcalloc(1, sizeof *src->state);
    metrics_state *st = src->state;
    st->gen++;
    lag_ctx x = {src->b, s, V_LAG, st, now_wall_ms()};
    for (x.view = V_LAG; x.view <= V_STALLED; x.view++) {
        family(s, g_lag_family[x.view], "gauge", help[x.view]);
        if (src->foreach_offset) src->foreach_offset(src->b, on_offset, &x);
    }
    /* drop what this scrape did not see (rehash keeps only the current generation) */
    if (st->cap) seen_rehash(st, st->cap);
}

static void topic_counter(sb *s, broker *b, const char *name, const char *help, int which)
{
    family(s, name, "counter", help);
    for (int i = 0; i < topic_count(b); i++) {
        btopic *t = topic_at(b, i);
        if (!t || t->internal) continue;
        uint64_t sum = 0;
        for (int j = 0; j < t->nparts; j++) {
            bpart *p = t->parts[j];
            sum += which == 0   ? p->records_in
                   : which == 1 ? p->bytes_in
                   : which == 2 ? p->records_out
                                : p->bytes_out;
        }
        sb_printf(s, "%s{topic=\"", name);
        sb_label(s, t->name);
        sb_printf(s, "\"} %" PRIu64 "\n", sum);
    }
}

static void part_gauge(sb *s, broker *b, const char *name, const char *help, bool hwm)
{
    family(s, name, "gauge", help);
    for (int i = 0; i < topic_count(b); i++) {
        btopic *t = topic_at(b, i);
        if (!t || t->internal) continue;
        for (int j = 0; j < t->nparts; j++) {
            bpart *p = t->parts[j];
            int64_t v = hwm ? part_hwm(p) : (p->log ? plog_start_offset(p->log) : 0);
            sb_printf(s, "%s{topic=\"", name);
            sb_label(s, t->name);
            sb_printf(s, "\",partition=\"%d\"} %" PRId64 "\n", j, v);
        }
    }
}

/* LSO lag (high watermark - last stable offset) of the partitions that have seen transactions */
static void lso_lag(sb *s, broker *b)
{
    family(s, "eddy_partition_lso_lag", "gauge",
           "Offsets between a partition's high watermark and its last stable offset (an open "
           "transaction holds read_committed consumers there); partitions that saw transactions.");
    for (int i = 0; i < topic_count(b); i++) {
        btopic *t = topic_at(b, i);
        if (!t) continue;
        for (int j = 0; j < t->nparts; j++) {
            bpart *p = t->parts[j];
            if (!p->txn) continue;
            sb_printf(s, "eddy_partition_lso_lag{topic=\"");
            sb_label(s, t->name);
            sb_printf(s, "\",partition=\"%d\"} %" PRId64 "\n", j, part_hwm(p) - part_lso(p));
        }
    }
}

static const char *api_name(int key)
{
    const kapi *a = kapi_get((int16_t)key);
    return a && a->name ? a->name : NULL;
}

static void metrics_render(metrics_source *src, sb *s)
{
    broker *b = src->b;
    lag_families(src, s);
    int counts[4] = {0};
    family(s, "eddy_consumer_groups", "gauge", "Consumer groups by state.");
    if (src->state_counts) src->state_counts(b, counts);
    for (int i = 0; i < 4 && src->state_names; i++)
        sb_printf(s, "eddy_consumer_groups{state=\"%s\"} %d\n", src->state_names[i], counts[i]);

    topic_counter(s, b, "eddy_topic_produced_records_total", "Records appended to a topic.", 0);
    topic_counter(s, b, "eddy_topic_produced_bytes_total",
                  "Record batch bytes appended to a topic.", 1);
    topic_counter(s, b, "eddy_topic_consumed_records_total", "Records fetched from a topic.", 2);
    topic_counter(s, b, "eddy_topic_consumed_bytes_total",
                  "Record batch bytes fetched from a topic.", 3);
    part_gauge(s, b, "kafka_partition_high_watermark",
               "High watermark (next offset) of a partition.", true);
    part_gauge(s, b, "kafka_partition_log_start_offset", "First retained offset of a partition.",
               false);
    lso_lag(s, b);
    if (src->txn_stats) {
        int open = 0;
        int64_t age = 0;
        src->txn_stats(b, &open, &age);
        family(s, "eddy_transactions_open", "gauge",
               "Transactions open now (Ongoing, or being committed/aborted).");
        sb_printf(s, "eddy_transactions_open %d\n", open);
        family(s, "eddy_transaction_oldest_open_age_seconds", "gauge",
               "Age of the oldest open transaction (0 when none is open).");
        sb_printf(s, "eddy_transaction_oldest_open_age_seconds %.3f\n", (double)age / 1000.0);
    }
    uint64_t scanned, loaded;
    ptxn_recovery_stats(&scanned, &loaded);
    family(s, "eddy_txn_recovery_scanned_batches", "gauge",
           "Batch headers the start-up transaction rebuild read (all partitions).");
    sb_printf(s, "eddy_txn_recovery_scanned_batches %" PRIu64 "\n", scanned);
    family(s, "eddy_txn_recovery_index_entries", "gauge",
           "Aborted-transaction entries loaded from .txnindex files at start-up.");
    sb_printf(s, "eddy_txn_recovery_index_entries %" PRIu64 "\n", loaded);

    family(s, "eddy_requests_total", "counter", "Kafka protocol requests answered, by API.");
    for (int k = 0; k <= KAPI_MAX_KEY; k++) {
        const bmetrics_api *m = &b->api_metrics[k];
        if (!m->requests || !api_name(k)) continue;
        sb_printf(s, "eddy_requests_total{api=\"%s\"} %" PRIu64 "\n", api_name(k), m->requests);
    }
    family(s, "eddy_request_errors_total", "counter",
           "Kafka protocol responses with a top-level error code, by API.");
    for (int k = 0; k <= KAPI_MAX_KEY; k++) {
        const bmetrics_api *m = &b->api_metrics[k];
        if (!m->requests || !api_name(k)) continue;
        sb_printf(s, "eddy_request_errors_total{api=\"%s\"} %" PRIu64 "\n", api_name(k), m->errors);
    }
    family(s, "eddy_request_duration_seconds", "histogram",
           "Time from a request's arrival to its response being ready, by API.");
    for (int k = 0; k <= KAPI_MAX_KEY; k++) {
        const bmetrics_api *m = &b->api_metrics[k];
        if (!m->requests || !api_name(k)) continue;
        const char *n = api_name(k);
        uint64_t cum = 0, total = 0;
        for (int i = 0; i < 16; i++) total += m->latency_buckets[i];
        /* bucket i holds latencies <= 2^(i+6) µs; the last one also holds everything slower,
         * so it is only reported through +Inf */
        for (int i = 0; i < 15; i++) {
            cum += m->latency_buckets[i];
            sb_printf(s, "eddy_request_duration_seconds_bucket{api=\"%s\",le=\"%g\"} %" PRIu64 "\n",
                      n, (double)(1LL << (i + 6)) / 1e6, cum);
        }
        sb_printf(s, "eddy_request_duration_seconds_bucket{api=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
                  n, total);
        sb_printf(s, "eddy_request_duration_seconds_sum{api=\"%s\"} %.6f\n", n,
                  (double)m->latency_sum_us / 1e6);
        sb_printf(s, "eddy_request_duration_seconds_count{api=\"%s\"} %" PRIu64 "\n", n, total);
    }
    family(s, "eddy_topic_size_bytes", "gauge",
           "Bytes of a topic's log segments on disk (all partitions).");
    for (int i = 0; i < topic_count(b); i++) {
        btopic *t = topic_at(b, i);
        if (!t || t->internal) continue;
        int64_t sum = 0;
        for (int j = 0; j < t->nparts; j++)
            if (t->parts[j]->log) sum += plog_size_bytes(t->parts[j]->log);
        sb_printf(s, "eddy_topic_size_bytes{topic=\"");
        sb_label(s, t->name);
        sb_printf(s, "\"} %" PRId64 "\n", sum);
    }
    struct statvfs fs;
    if (b->data_dir && statvfs(b->data_dir, &fs) == 0) {
        family(s, "eddy_log_dir_free_bytes", "gauge",
               "Bytes available to eddyd on the file system of its data directory.");
        sb_printf(s, "eddy_log_dir_free_bytes %.0f\n", (double)fs.f_bavail * (double)fs.f_frsize);
        family(s, "eddy_log_dir_total_bytes", "gauge",
               "Size of the file system holding eddyd's data directory.");
        sb_printf(s, "eddy_log_dir_total_bytes %.0f\n", (double)fs.f_blocks * (double)fs.f_frsize);
    }
    family(s, "eddy_connections", "gauge", "Open Kafka protocol connections.");
    sb_printf(s, "eddy_connections %d\n", b->nconns);
    family(s, "eddy_connections_accepted_total", "counter", "Kafka protocol connections accepted.");
    sb_printf(s, "eddy_connections_accepted_total %" PRIu64 "\n", b->conns_total);
    family(s, "eddy_scrub_bytes_total", "counter",
           "Bytes of closed segments whose CRCs the background scrub re-verified.");
    sb_printf(s, "eddy_scrub_bytes_total %" PRIu64 "\n", b->scrub_bytes);
    family(s, "eddy_scrub_passes_total", "counter",
           "Completed scrub passes over every partition's closed segments.");
    sb_printf(s, "eddy_scrub_passes_total %" PRIu64 "\n", b->scrub_passes);
    family(
        s, "eddy_scrub_corrupt_batches_total", "counter",
        "Record batches the scrub found damaged and quarantined (Fetch answers CORRUPT_MESSAGE).");
    sb_printf(s, "eddy_scrub_corrupt_batches_total %" PRIu64 "\n", b->scrub_bad_batches);
    uint64_t ck_bytes, ck_bad;
    plog_read_check_stats(&ck_bytes, &ck_bad);
    family(s, "eddy_read_check_bytes_total", "counter",
           "Bytes whose CRCs a read checked before serving them (not verified since start).");
    sb_printf(s, "eddy_read_check_bytes_total %" PRIu64 "\n", ck_bytes);
    family(s, "eddy_read_check_corrupt_batches_total", "counter",
           "Record batches a read found damaged and quarantined (Fetch answers CORRUPT_MESSAGE).");
    sb_printf(s, "eddy_read_check_corrupt_batches_total %" PRIu64 "\n", ck_bad);
    family(s, "eddy_partition_quarantined_offsets", "gauge",
           "Offsets first..last of a batch the scrub or a read found damaged: Fetch there answers "
           "CORRUPT_MESSAGE (value: how many offsets).");
    for (int i = 0; i < topic_count(b); i++) {
        btopic *t = topic_at(b, i);
        if (!t) continue;
        for (int j = 0; j < t->nparts; j++) {
            plog *l = t->parts[j]->log;
            int32_t nq = l ? plog_quarantine_count(l) : 0;
            for (int32_t q = 0; q < nq; q++) {
                int64_t first, last;
                plog_quarantine_at(l, q, &first, &last);
                if (first < 0) continue;
                sb_printf(s, "eddy_partition_quarantined_offsets{topic=\"");
                sb_label(s, t->name);
                sb_printf(s,
                          "\",partition=\"%d\",first=\"%" PRId64 "\",last=\"%" PRId64 "\"} %" PRId64
                          "\n",
                          j, first, last, last - first + 1);
            }
        }
    }
    family(s, "eddy_uptime_seconds", "gauge", "Seconds since eddyd started.");
    sb_printf(s, "eddy_uptime_seconds %.3f\n", (double)(now_wall_ms() - b->started_ms) / 1000.0);
}

void metrics_handle(void *arg, const http_request *req, http_response *resp)
{
    (void)req;
    sb s = {0};
    metrics_render(arg, &s);
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    resp->body = s.p ? s.p : xstrdup("");
    resp->body_len = s.len;
}

void metrics_healthz(void *arg, const http_request *req, http_response *resp)
{
    (void)arg;
    (void)req;
    http_resp_printf(resp, 200, "application/json", "{\"status\":\"ok\"}\n");
}
