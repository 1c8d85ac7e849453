/* outbox.c — transactions with a transactional outbox and the outbox relay (eddy.h).
 * A tx records events in eddy_outbox in the same database transaction as the state change;
 * the relay publishes committed rows in id order with an idempotent producer (so per key they
 * keep their order), then marks them published. A crash between commit and publish leaves the
 * row unpublished: the next relay pass (after restart) publishes it. PostgreSQL: the commit
 * raises NOTIFY eddy_outbox, on which the relay wakes; SQLite: an in-process wake plus a poll.
 * Part of src/sdk (libeddy). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/schema.h"
#include "internal.h"
#include "otlp.h"

struct eddy_tx {
    eddy_store *st;
    char *source;
    char *correlation_id;
    char *causation_id;
    char traceparent[56];
    int published;
    /* OpenTelemetry export (the store's exporter): each event gets its own publish span, a
     * child of traceparent when has_parent (the handler's process span, or the caller's
     * traceparent), else a root; the spans are sent at commit, forgotten on rollback */
    sdk_otlp *otlp;
    int has_parent;
    sdk_span **spans; /* one per published event (published of them) */
    int cap_spans;
    int64_t top_id; /* SQLite: the id of the last outbox row this transaction inserted */
};

/* ---- relays of this process, so a commit can wake the one on the same store -------------- */
struct eddy_relay {
    char *url, *bootstrap;
    char **conf;
    eddy_store *st;
    rd_kafka_t *rk;
    pthread_t th;
    int running;
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int woken;
    int poll_ms;
    _Atomic int64_t published;
    /* in-flight bookkeeping (relay thread only). A queued message's opaque is 1 + the index
     * of its slot (row id, creation time); slots are reused through a free list, so the hot
     * path allocates nothing once the pool has grown to the largest in-flight count. */
    int64_t cursor;
    int64_t rescan_us; /* PostgreSQL: when the last read from id 0 began */
    int inflight;
    int64_t *acked;
    int nacked, capacked;
    int failed;
    struct relay_slot *slots;
    int nslots, free_slot;
    char *idlist;       /* the acknowledged ids as one array parameter */
    char scratch[2048]; /* an envelope's header fields (sdk_envelope_fields) */
    size_t idcap;
    /* per-stage figures (smu): outbox age, rows per produce batch */
    pthread_mutex_t smu;
    sdk_dist age, batch;
    double age_max;
    /* creation time (wall ms) of the oldest unpublished row, 0 = none; refreshed by the relay
     * thread within 50 ms of a batch it marks and at least once a second */
    _Atomic int64_t oldest_ms;
    int64_t oldest_checked_us;
    int oldest_stale;    /* rows were marked since the last refresh */
    int64_t synced_upto; /* SQLite: rows up to this id are known durable */
    /* SQLite: rows up to this id were made durable by another connection of the process (a
     * consumer's inbox transaction synced after its commit: sdk_tx_commit_synced) */
    _Atomic int64_t durable_upto;
    struct eddy_relay *next;
};

typedef struct relay_slot {
    int64_t id, created_ms;
    int next_free;
} relay_slot;

static pthread_mutex_t g_relays_mu = PTHREAD_MUTEX_INITIALIZER;
static eddy_relay *g_relays;

/* durable_id > 0: every outbox row up to it is known durable (the relay need not sync for it) */
static void wake_relays(const char *url, int64_t durable_id)
{
    pthread_mutex_lock(&g_relays_mu);
    for (eddy_relay *r = g_relays; r; r = r->next)
        if (!strcmp(r->url, url)) {
            int64_t d = atomic_load(&r->durable_upto);
            while (d < durable_id &&
                   !atomic_compare_exchange_weak(&r->durable_upto, &d, durable_id))
                ;
            eddy_relay_wake(r);
        }
    pthread_mutex_unlock(&g_relays_mu);
}

/* ---- transactions ------------------------------------------------------------------------- */
int eddy_tx_begin(eddy_store *st, const char *source, const char *correlation_id,
                  const char *traceparent, eddy_tx **out)
{
    *out = NULL;
    int rc = eddy_store_begin(st);
    if (rc < 0) return rc;
    eddy_tx *tx = sdk_xcalloc(1, sizeof *tx);
    tx->st = st;
    tx->source = sdk_xstrdup(source ? source : "eddy");
    char id[37];
    if (correlation_id && *correlation_id && strlen(correlation_id) <= 200) {
        tx->correlation_id = sdk_xstrdup(correlation_id);
    } else {
        eddy_uuid_generate(id);
        tx->correlation_id = sdk_xstrdup(id);
    }
    tx->causation_id = sdk_xstrdup(tx->correlation_id);
    tx->otlp = sdk_store_otlp(st);
    if (tx->otlp && traceparent && eddy_trace_valid(traceparent)) {
        /* the caller's span is the publish spans' parent */
        snprintf(tx->traceparent, sizeof tx->traceparent, "%s", traceparent);
        tx->has_parent = 1;
    } else if (traceparent && eddy_trace_valid(traceparent)) {
        eddy_trace_child(traceparent, tx->traceparent);
    } else {
        eddy_trace_new(tx->traceparent);
    }
    *out = tx;
    return 0;
}

void sdk_tx_set_cause(eddy_tx *tx, const eddy_event *cause, const char *span)
{
    eddy_event_set(&tx->correlation_id, cause->correlation_id);
    eddy_event_set(&tx->causation_id, cause->event_id);
    if (span && eddy_trace_valid(span)) {
        snprintf(tx->traceparent, sizeof tx->traceparent, "%s", span);
        tx->has_parent = 1;
    }
}

static void spans_drop(eddy_tx *tx, int from)
{
    for (int i = from; i < tx->published && tx->spans; i++) {
        sdk_span_discard(tx->spans[i]);
        tx->spans[i] = NULL;
    }
}

int sdk_tx_published(const eddy_tx *tx)
{
    return tx->published;
}

int64_t sdk_tx_top_id(const eddy_tx *tx)
{
    return tx->top_id;
}

void sdk_tx_set_published(eddy_tx *tx, int n, int64_t top_id)
{
    tx->top_id = top_id;                      /* a rolled-back row's id is handed out again */
    if (n < tx->published) spans_drop(tx, n); /* their events were rolled back */
    tx->published = n;
}

eddy_store *eddy_tx_store(eddy_tx *tx)
{
    return tx->st;
}

const char *eddy_tx_correlation_id(const eddy_tx *tx)
{
    return tx->correlation_id;
}

int eddy_tx_exec(eddy_tx *tx, const char *sql, int n, const char *const *params)
{
    return eddy_store_exec(tx->st, sql, n, params);
}

int eddy_tx_query(eddy_tx *tx, const char *sql, int n, const char *const *params, eddy_rows **out)
{
    return eddy_store_query(tx->st, sql, n, params, out);
}

int eddy_tx_publish(eddy_tx *tx, const char *topic, const char *key, const char *type,
                    const char *version, json_t *payload, char *event_id_out)
{
    if (!topic || !*topic) {
        json_decref(payload);
        return EDDY_ERR_PERMANENT;
    }
    eddy_event *ev = eddy_event_new(type, version, tx->source, payload);
    eddy_event_set(&ev->correlation_id, tx->correlation_id);
    eddy_event_set(&ev->causation_id, tx->causation_id);
    char pub[56];
    if (tx->otlp) { /* the event carries its own publish span */
        eddy_trace_child(tx->traceparent, pub);
        eddy_event_set(&ev->traceparent, pub);
    } else {
        eddy_event_set(&ev->traceparent, tx->traceparent);
    }
    int64_t t0 = sdk_otlp_now_ns();
    const char *reason;
    if (eddy_event_validate(ev, &reason)) {
        sdk_log(tx->source, "publish refused: %s", reason);
        eddy_event_free(ev);
        return EDDY_ERR_PERMANENT;
    }
    /* the payload must match the schema registered for <topic>-value (when a registry is
     * configured): an invalid event is refused here, before it reaches the outbox */
    eddy_schema_registry *sr = eddy_schema_registry_default();
    char serr[1024];
    int src = sr ? eddy_schema_validate_event(sr, topic, ev->event_type, ev->version, ev->payload,
                                              serr, sizeof serr)
                 : 0;
    if (src) {
        sdk_log(tx->source, "publish refused: %s", serr);
        eddy_event_free(ev);
        return src;
    }
    char *env = eddy_event_to_json(ev);
    const char *p[] = {ev->event_id,       topic, key,          ev->event_type,
                       ev->correlation_id, env,   ev->timestamp};
    int rc = eddy_store_exec(tx->st,
                             "INSERT INTO eddy_outbox (event_id, topic, msg_key, event_type,"
                             " correlation_id, envelope, created_at)"
                             " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                             7, p);
    if (rc >= 0 && eddy_store_is_postgres(tx->st) && tx->published == 0) {
        int n =
            eddy_store_exec(tx->st, "SELECT pg_notify(" SDK_NOTIFY_CHANNEL_SQL ", '')", 0, NULL);
        if (n < 0) rc = n;
    } else if (rc >= 0) {
        tx->top_id = sdk_store_last_rowid(tx->st); /* ids only grow (AUTOINCREMENT) */
    }
    if (rc >= 0 && tx->otlp) {
        /* PRODUCER span per the messaging semantic conventions; partition and offset are not
         * known until the relay's delivery, so they are on the process span only */
        sdk_span *sp =
            sdk_span_messaging(tx->otlp, "publish", SDK_SPAN_PRODUCER, pub,
                               tx->has_parent ? tx->traceparent + 36 : NULL, topic, key, ev, t0);
        if (tx->published >= tx->cap_spans) {
            tx->cap_spans = tx->cap_spans ? tx->cap_spans * 2 : 4;
            tx->spans = sdk_xrealloc(tx->spans, (size_t)tx->cap_spans * sizeof *tx->spans);
        }
        tx->spans[tx->published] = sp;
    }
    if (rc >= 0) {
        tx->published++;
        if (event_id_out) snprintf(event_id_out, 37, "%s", ev->event_id);
        rc = 0;
    }
    free(env);
    eddy_event_free(ev);
    return rc;
}

static void tx_free(eddy_tx *tx)
{
    spans_drop(tx, 0);
    free(tx->spans);
    free(tx->source);
    free(tx->correlation_id);
    free(tx->causation_id);
    free(tx);
}

static int tx_commit(eddy_tx *tx, int wake)
{
    int rc = eddy_store_commit(tx->st);
    if (rc == 0 && tx->published) {
        if (sdk_fault_armed("crash_after_outbox_commit", tx->source)) {
            sdk_log(tx->source, "fault switch: crash_after_outbox_commit, SIGKILL");
            kill(getpid(), SIGKILL);
        }
        if (wake) wake_relays(sdk_store_url(tx->st), 0);
    }
    if (tx->spans) { /* the publish spans end at the commit that makes the events durable */
        int64_t now = sdk_otlp_now_ns();
        for (int i = 0; i < tx->published; i++) {
            sdk_span_end(tx->otlp, tx->spans[i], now, rc == 0 ? SDK_STATUS_UNSET : SDK_STATUS_ERROR,
                         rc == 0 ? NULL : "commit failed: the event was not published");
            tx->spans[i] = NULL;
        }
    }
    tx_free(tx);
    return rc;
}

int eddy_tx_commit(eddy_tx *tx)
{
    return tx_commit(tx, 1);
}

/* Commits, then makes the store durable (sdk_store_sync), then wakes the relay, telling it
 * (SQLite) that every outbox row up to the highest id committed before the sync is durable:
 * the relay does not sync again for the rows this transaction published (one fdatasync per
 * hop instead of two, the consumer's and the relay's, at the same time). */
int sdk_tx_commit_synced(eddy_tx *tx)
{
    eddy_store *st = tx->st;
    int published = tx->published;
    int pg = eddy_store_is_postgres(st);
    if (pg || !published) {
        int rc = tx_commit(tx, 1);
        return rc < 0 ? rc : sdk_store_sync(st);
    }
    /* one writer at a time: every outbox row up to the last id this transaction inserted was
     * committed by now (AUTOINCREMENT ids are handed out under the write lock), and the sync
     * below flushes every WAL frame written so far, whichever connection wrote it */
    int64_t top = tx->top_id;
    int rc = tx_commit(tx, 0);
    if (rc < 0) return rc;
    rc = sdk_store_sync(st);
    /* woken in any case: the rows are committed and must leave (if the sync failed, the relay
     * syncs before it reads them) */
    wake_relays(sdk_store_url(st), rc == 0 ? top : 0);
    return rc;
}

void eddy_tx_rollback(eddy_tx *tx)
{
    if (!tx) return;
    eddy_store_rollback(tx->st);
    tx_free(tx);
}

/* ---- producer ----------------------------------------------------------------------------- */
int sdk_delivery_written(const rd_kafka_message_t *m)
{
    if (m->err) return 0;
    if (m->offset >= 0) return 1; /* the broker's answer: written at this offset */
    /* Success without an offset: with acks=0 nothing is ever acknowledged (status "possibly
     * persisted", taken as it always was); with acks=1/all it is librdkafka's implicit ack of
     * an idempotent producer, inferred because a later batch of the partition was accepted. */
    return rd_kafka_message_status(m) != RD_KAFKA_MSG_STATUS_PERSISTED;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    eddy_relay *r = opaque;
    if (!r) { /* synchronous sends (DLQ): the message opaque is an int status */
        int *st = m->_private;
        if (st) *st = sdk_delivery_written(m) ? 1 : -1;
        return;
    }
    r->inflight--;
    int si = (int)(intptr_t)m->_private - 1;
    relay_slot sl = r->slots[si];
    r->slots[si].next_free = r->free_slot;
    r->free_slot = si;
    if (m->err) {
        r->failed = 1;
        if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
            return; /* shutting down: the row stays unpublished for the next start */
        sdk_log("relay", "publish to %s failed: %s", rd_kafka_topic_name(m->rkt),
                rd_kafka_err2str(m->err));
        return;
    }
    if (!sdk_delivery_written(m)) {
        /* Reported delivered, but no broker said so: the row stays unpublished and is sent
         * again once nothing is in flight (a copy that did reach the log is absorbed by the
         * consumers' inbox). On a broker that does not check idempotent sequences (librdkafka's
         * mock cluster checks them only for transactional producers) the inferred message may
         * never have been written: marking its row published would lose the event. */
        r->failed = 1;
        sdk_log("relay",
                "outbox row %lld: %s[%d] reported delivered without an offset (implicit"
                " ack, not the broker's): sending it again",
                (long long)sl.id, rd_kafka_topic_name(m->rkt), (int)m->partition);
        return;
    }
    if (r->nacked == r->capacked) {
        r->capacked = r->capacked ? r->capacked * 2 : 256;
        r->acked = sdk_xrealloc(r->acked, (size_t)r->capacked * sizeof(int64_t));
    }
    r->acked[r->nacked++] = sl.id;
    double age = (double)(sdk_wall_ms() - sl.created_ms) / 1e3;
    if (age < 0) age = 0;
    pthread_mutex_lock(&r->smu);
    sdk_dist_observe(&r->age, age);
    if (age > r->age_max) r->age_max = age;
    pthread_mutex_unlock(&r->smu);
}

static int slot_get(eddy_relay *r, int64_t id, int64_t created_ms)
{
    if (r->free_slot < 0) {
        int n = r->nslots ? r->nslots * 2 : 1024;
        r->slots = sdk_xrealloc(r->slots, (size_t)n * sizeof *r->slots);
        for (int i = n - 1; i >= r->nslots; i--) {
            r->slots[i].next_free = r->free_slot;
            r->free_slot = i;
        }
        r->nslots = n;
    }
    int i = r->free_slot;
    r->free_slot = r->slots[i].next_free;
    r->slots[i].id = id;
    r->slots[i].created_ms = created_ms;
    return i;
}

static void slots_reset(eddy_relay *r)
{
    r->free_slot = -1;
    for (int i = r->nslots - 1; i >= 0; i--) {
        r->slots[i].next_free = r->free_slot;
        r->free_slot = i;
    }
}

rd_kafka_t *sdk_producer_new(const char *bootstrap, const char *const *extra, void *opaque,
                             char *err, size_t errlen)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    static const char *defaults[] = {"enable.idempotence",
                                     "true",
                                     "acks",
                                     "all",
                                     "message.timeout.ms",
                                     "0",
                                     "linger.ms",
                                     "2",
                                     "reconnect.backoff.max.ms",
                                     "1000",
                                     "topic.metadata.refresh.interval.ms",
                                     "5000",
                                     "log_level",
                                     "3",
                                     NULL};
    if (rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, errlen) != RD_KAFKA_CONF_OK)
        goto fail;
    for (int i = 0; defaults[i]; i += 2)
        if (rd_kafka_conf_set(c, defaults[i], defaults[i + 1], err, errlen) != RD_KAFKA_CONF_OK)
            goto fail;
    for (int i = 0; extra && extra[i]; i++) {
        const char *eq = strchr(extra[i], '=');
        if (!eq) continue;
        char *k = sdk_xstrndup(extra[i], (size_t)(eq - extra[i]));
        int bad = rd_kafka_conf_set(c, k, eq + 1, err, errlen) != RD_KAFKA_CONF_OK;
        free(k);
        if (bad) goto fail;
    }
    rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
    rd_kafka_conf_set_opaque(c, opaque);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, errlen);
    if (rk) return rk;
    return NULL;
fail:
    rd_kafka_conf_destroy(c);
    return NULL;
}

/* ---- relay -------------------------------------------------------------------------------- */
static void relay_set_producer(eddy_relay *r, rd_kafka_t *rk);

int eddy_relay_new(const char *store_url, const char *bootstrap, const char *const *rdkafka_conf,
                   eddy_relay **out)
{
    *out = NULL;
    eddy_relay *r = sdk_xcalloc(1, sizeof *r);
    r->url = sdk_xstrdup(store_url);
    r->bootstrap = sdk_xstrdup(bootstrap);
    int n = 0;
    while (rdkafka_conf && rdkafka_conf[n]) n++;
    /* linger.ms: a batch leaves when the relay has handed all of it over (rd_kafka_flush in
     * relay_main), not when the first rows have waited 0.5 ms; the caller's settings follow */
    r->conf = sdk_xcalloc((size_t)n + 2, sizeof(char *));
    r->conf[0] = sdk_xstrdup("linger.ms=5");
    for (int i = 0; i < n; i++) r->conf[i + 1] = sdk_xstrdup(rdkafka_conf[i]);
    r->poll_ms = 200;
    r->free_slot = -1;
    pthread_mutex_init(&r->smu, NULL);
    sdk_dist_init(&r->age, SDK_SECONDS_BOUNDS);
    sdk_dist_init(&r->batch, SDK_COUNT_BOUNDS);
    const char *pm = getenv("EDDY_RELAY_POLL_MS");
    if (pm && atoi(pm) > 0) r->poll_ms = atoi(pm);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    int rc = eddy_store_open(store_url, &r->st);
    if (rc < 0) {
        eddy_relay_free(r);
        return rc;
    }
    /* PostgreSQL: the relay's statements are kept prepared, and a generic plan made while the
     * outbox was nearly empty (a sequential scan) would be kept while it grows to thousands of
     * rows, until an ANALYZE (W9: ~2,000 whole-table scans per service in a minute). Plan each
     * execution for the table as it is (PostgreSQL 12 and later; older servers keep theirs). */
    if (eddy_store_is_postgres(r->st))
        eddy_store_exec(r->st, "SET plan_cache_mode = force_custom_plan", 0, NULL);
    char err[512];
    rd_kafka_t *rk = sdk_producer_new(bootstrap, (const char *const *)r->conf, r, err, sizeof err);
    if (!rk) {
        sdk_log("relay", "producer: %s", err);
        eddy_relay_free(r);
        return EDDY_ERR_PERMANENT;
    }
    relay_set_producer(r, rk);
    pthread_mutex_lock(&g_relays_mu);
    r->next = g_relays;
    g_relays = r;
    pthread_mutex_unlock(&g_relays_mu);
    *out = r;
    return 0;
}

int64_t eddy_relay_published(const eddy_relay *r)
{
    return atomic_load(&((eddy_relay *)r)->published);
}

/* Marks acknowledged rows published; one transaction. Returns count or < 0. */
static int mark_acked(eddy_relay *r)
{
    if (r->nacked == 0) return 0;
    char ts[32];
    eddy_time_rfc3339(sdk_wall_ms(), ts);
    /* one statement for the whole batch: the ids as a JSON array (SQLite json_each) or an
     * array literal (PostgreSQL), the same text for both: "[1,2,3]" vs "{1,2,3}" */
    int pg = eddy_store_is_postgres(r->st);
    size_t need = (size_t)r->nacked * 21 + 3;
    if (need > r->idcap) {
        r->idcap = need * 2;
        r->idlist = sdk_xrealloc(r->idlist, r->idcap);
    }
    size_t n = 0;
    r->idlist[n++] = pg ? '{' : '[';
    for (int i = 0; i < r->nacked; i++)
        n += (size_t)snprintf(r->idlist + n, r->idcap - n, "%s%lld", i ? "," : "",
                              (long long)r->acked[i]);
    r->idlist[n++] = pg ? '}' : ']';
    r->idlist[n] = 0;
    const char *p[] = {ts, r->idlist};
    int rc = eddy_store_exec(r->st,
                             pg ? "UPDATE eddy_outbox SET published_at = $1"
                                  " WHERE id = ANY($2::bigint[])"
                                : "UPDATE eddy_outbox SET published_at = $1"
                                  " WHERE id IN (SELECT value FROM json_each($2))",
                             2, p);
    if (rc < 0) return rc;
    int done = r->nacked;
    r->nacked = 0;
    atomic_fetch_add(&r->published, done);
    return done;
}

/* Installs rk as the relay's producer (NULL: none); the old one is destroyed. */
static void relay_set_producer(eddy_relay *r, rd_kafka_t *rk)
{
    rd_kafka_t *old = r->rk;
    r->rk = rk;
    if (old && old != rk) {
        rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(old, 0);
        rd_kafka_destroy(old);
    }
}

/* An idempotent producer that hit a fatal error (a broker lost its sequence state, e.g. after
 * an unclean leader election; the producer was fenced) accepts nothing more. Its unacknowledged
 * rows are still unpublished in the outbox: drop it, start a new one (a new producer id) and let
 * the next pass send them again (the inbox absorbs any copy that did reach the log). Returns 1
 * if the producer was replaced. */
static int relay_recover(eddy_relay *r)
{
    char why[512];
    rd_kafka_resp_err_t fe = rd_kafka_fatal_error(r->rk, why, sizeof why);
    if (!fe) return 0;
    sdk_log("relay", "producer fatal error (%s): %s; starting a new producer",
            rd_kafka_err2name(fe), why);
    relay_set_producer(r, NULL);
    r->inflight = 0;
    r->failed = 0;
    r->cursor = 0;
    slots_reset(r);
    char err[512];
    rd_kafka_t *rk;
    while (
        !(rk = sdk_producer_new(r->bootstrap, (const char *const *)r->conf, r, err, sizeof err))) {
        sdk_log("relay", "producer: %s", err); /* the configuration worked once: retry */
        sdk_sleep_ms(1000);
    }
    relay_set_producer(r, rk);
    return 1;
}

/* One pending row (id, topic, msg_key, envelope, created_at, straight from the driver's memory)
 * produced; returns non-zero to stop the batch. */
typedef struct batch_state {
    eddy_relay *r;
    int queued, stopped;
    int synced, sync_rc; /* SQLite: the WAL was synced during this batch (its result) */
    int64_t last_id;
} batch_state;

static int produce_row(void *arg, const char *const *v, const size_t *len)
{
    batch_state *b = arg;
    eddy_relay *r = b->r;
    int64_t id = atoll(v[0]);
    const char *topic = v[1], *key = v[2], *env = v[3];
    if (!topic || !env) return 0;
    if (!b->synced && !eddy_store_is_postgres(r->st)) {
        /* SQLite with synchronous=NORMAL: a committed row could still be taken back by a power
         * cut. Make it durable before it leaves for the broker, so no event is ever published
         * for a state change the database might lose (docs/sdk.md "Durability"). The rows this
         * read sees were committed before it began, their WAL frames written; one fdatasync
         * makes every one of them durable (one per batch), unless a consumer's synced commit
         * already covered them (durable_upto). */
        int64_t durable = atomic_load(&r->durable_upto);
        if (durable > r->synced_upto) r->synced_upto = durable;
        if (id > r->synced_upto) {
            if ((b->sync_rc = sdk_store_sync(r->st)) < 0) return 1;
            b->synced = 1;
        }
    }
    b->last_id = id;
    int64_t created_ms = 0;
    if (!v[4] || eddy_time_parse_rfc3339(v[4], &created_ms) != 0) created_ms = sdk_wall_ms();
    eddy_event *ev = NULL, fast;
    char *why = NULL;
    rd_kafka_headers_t *h = NULL;
    if (sdk_envelope_fields(env, r->scratch, sizeof r->scratch, &fast) == 0) {
        h = sdk_event_headers(&fast); /* the payload is not parsed */
    } else if (eddy_event_from_json(env, len[3], &ev, &why) == 0) {
        h = sdk_event_headers(ev);
        eddy_event_free(ev);
    } else {
        sdk_log("relay", "outbox row %lld: %s (published without headers)", (long long)id, why);
        free(why);
        h = rd_kafka_headers_new(1);
    }
    int si = slot_get(r, id, created_ms);
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            r->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(key, key ? len[2] : 0), RD_KAFKA_V_VALUE((void *)env, len[3]),
            RD_KAFKA_V_OPAQUE((void *)(intptr_t)(si + 1)), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            r->inflight++;
            b->queued++;
            r->cursor = id;
            return 0;
        }
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !atomic_load(&r->stop)) {
            rd_kafka_poll(r->rk, 50);
            continue;
        }
        r->slots[si].next_free = r->free_slot; /* not queued: the slot is free again */
        r->free_slot = si;
        rd_kafka_headers_destroy(h);
        if (e == RD_KAFKA_RESP_ERR__FATAL) {
            b->stopped = 1; /* recovered after the scan */
            return 1;
        }
        sdk_log("relay", "produce to %s: %s", topic, rd_kafka_err2str(e));
        return 1;
    }
}

/* Produces the next batch of pending rows. Returns rows queued, or < 0. */
static int produce_batch(eddy_relay *r)
{
    /* Rescan from the start (never with rows in flight: they would be sent twice) after a
     * failure, so failed rows are sent again. PostgreSQL hands out ids at insert, not at
     * commit, so a row can commit below the cursor: there the relay also rescans every 50 ms.
     * Not on every batch: its partial index keeps the entries of rows marked published until
     * vacuum, and a read from id 0 walks them all (W9: PostgreSQL's CPU per order 2.9 ->
     * 4.2 ms when every batch rescanned). SQLite commits one writer at a time, in id order. */
    int64_t now = sdk_mono_us();
    if (r->inflight == 0 &&
        (r->failed || (eddy_store_is_postgres(r->st) && now - r->rescan_us > 50000))) {
        r->cursor = 0;
        r->failed = 0;
        r->rescan_us = now;
    }
    char cur[24];
    snprintf(cur, sizeof cur, "%lld", (long long)r->cursor);
    const char *p[] = {cur};
    batch_state b = {r, 0, 0, 0, 0, 0};
    int rc = sdk_store_each(r->st,
                            "SELECT id, topic, msg_key, envelope, created_at FROM eddy_outbox"
                            " WHERE published_at IS NULL AND id > $1 ORDER BY id LIMIT 500",
                            1, p, produce_row, &b);
    if (b.synced && b.last_id > r->synced_upto) r->synced_upto = b.last_id;
    if (b.stopped) relay_recover(r);
    if (b.sync_rc < 0 && b.queued == 0) return b.sync_rc;
    if (rc < 0 && b.queued == 0) return rc;
    if (b.queued > 0) {
        pthread_mutex_lock(&r->smu);
        sdk_dist_observe(&r->batch, b.queued);
        pthread_mutex_unlock(&r->smu);
    }
    return b.queued;
}

void eddy_relay_stats_get(eddy_relay *r, eddy_relay_stats *out)
{
    static const double q[] = {0.5, 0.99};
    double v[2];
    memset(out, 0, sizeof *out);
    out->published = eddy_relay_published(r);
    pthread_mutex_lock(&r->smu);
    out->batches = (int64_t)r->batch.count;
    sdk_dist_quantiles(&r->age, q, 2, v);
    out->outbox_age_max_s = r->age_max;
    pthread_mutex_unlock(&r->smu);
    out->outbox_age_p50_s = v[0];
    out->outbox_age_p99_s = v[1];
}

/* The oldest unpublished row's creation time (relay thread, its own connection). */
static void oldest_refresh(eddy_relay *r)
{
    eddy_rows *rows = NULL;
    int64_t ms = 0;
    if (eddy_store_query(r->st,
                         "SELECT created_at FROM eddy_outbox WHERE published_at IS NULL"
                         " ORDER BY id LIMIT 1",
                         0, NULL, &rows) > 0 &&
        eddy_time_parse_rfc3339(eddy_rows_get(rows, 0, 0), &ms) != 0)
        ms = sdk_wall_ms();
    eddy_rows_free(rows);
    atomic_store(&r->oldest_ms, ms);
    r->oldest_checked_us = sdk_mono_us();
}

char *sdk_relay_metrics_text(eddy_relay *r, const char *service)
{
    char labels[160];
    snprintf(labels, sizeof labels, "service=\"%s\"", service);
    int64_t oldest = atomic_load(&r->oldest_ms);
    double age = oldest ? (double)(sdk_wall_ms() - oldest) / 1e3 : 0;
    char *g = sdk_xasprintf("# HELP eddy_outbox_age_seconds age of the oldest unpublished outbox"
                            " row (0 when the outbox is empty)\n"
                            "# TYPE eddy_outbox_age_seconds gauge\n"
                            "eddy_outbox_age_seconds{%s} %.3f\n",
                            labels, age < 0 ? 0 : age);
    pthread_mutex_lock(&r->smu);
    char *a = sdk_dist_text(&r->age, "eddy_outbox_delivery_seconds",
                            "outbox row creation in its transaction to the broker's ack", labels);
    char *b = sdk_dist_text(&r->batch, "eddy_relay_batch_rows",
                            "outbox rows read and produced per relay batch", labels);
    pthread_mutex_unlock(&r->smu);
    char *s = sdk_xasprintf("%s%s%s", g, a, b);
    free(g);
    free(a);
    free(b);
    return s;
}

int eddy_relay_run_once(eddy_relay *r, int timeout_ms)
{
    int64_t deadline = sdk_mono_us() + (int64_t)timeout_ms * 1000;
    int total = 0;
    for (;;) {
        rd_kafka_poll(r->rk, 0);
        relay_recover(r);
        int m = mark_acked(r);
        if (m > 0) total += m;
        int q = r->failed && r->inflight > 0 ? 0 : produce_batch(r);
        if (q < 0) return total ? total : q;
        if (q == 0 && r->inflight == 0) break;
        if (sdk_mono_us() >= deadline) break;
        rd_kafka_poll(r->rk, 20);
    }
    int m = mark_acked(r);
    if (m > 0) total += m;
    return total;
}

static void *relay_main(void *arg)
{
    eddy_relay *r = arg;
    pthread_setname_np(pthread_self(), "eddy-relay"); /* for top -H, perf --sort comm */
    int listening = sdk_store_listen(r->st) == 0 && eddy_store_is_postgres(r->st);
    while (!atomic_load(&r->stop)) {
        rd_kafka_poll(r->rk, 0);
        relay_recover(r);
        int marked = mark_acked(r);
        /* the gauge's query, at most every 50 ms while rows are being marked (a read of its
         * own per batch was a tenth of the relay's store work at high rates), else once a
         * second; the loop comes round at least every poll interval */
        if (marked > 0) r->oldest_stale = 1;
        int64_t since = sdk_mono_us() - r->oldest_checked_us;
        if ((r->oldest_stale && since > 50000) || since > 1000000) {
            oldest_refresh(r);
            r->oldest_stale = 0;
        }
        /* One batch in flight at a time: the rows committed meanwhile leave together in the next
         * one, once this one is acknowledged. librdkafka (2.0.2 and later) sends an idempotent
         * producer's partition one request at a time once it holds 5 or more messages, and
         * while ready messages wait behind it its broker thread polls with a zero timeout until
         * the answer comes: W9 measured ~40,000 zero-timeout polls a second per service. So the
         * relay hands over whole batches and sends each at once when it is all queued (W9 on
         * SQLite: 1.70 -> 1.43 ms of CPU per order; bench/README.md "W9"). */
        int q = r->inflight > 0 ? 0 : produce_batch(r);
        if (q > 0) {
            /* the whole batch is queued: send it now (flushing ignores linger.ms) and serve
             * its delivery reports as they come, for up to 100 ms (a broker outage: the loop
             * comes round and keeps waiting) */
            rd_kafka_flush(r->rk, 100);
            continue;
        }
        if (r->inflight > 0) {
            rd_kafka_poll(r->rk, 20);
            continue;
        }
        if (q < 0) sdk_log("relay", "outbox read failed: %s", eddy_store_error(r->st));
        if (listening) {
            /* NOTIFY, an in-process wake or stop end the wait; slices keep stop prompt. */
            for (int left = r->poll_ms; left > 0 && !atomic_load(&r->stop); left -= 100) {
                int w = sdk_store_wait_notify(r->st, left < 100 ? left : 100);
                if (w < 0) {
                    sdk_sleep_ms(200);
                    listening = sdk_store_listen(r->st) == 0;
                }
                pthread_mutex_lock(&r->mu);
                int woken = r->woken;
                r->woken = 0;
                pthread_mutex_unlock(&r->mu);
                if (w != 0 || woken) break;
            }
            continue;
        }
        pthread_mutex_lock(&r->mu);
        if (!r->woken && !atomic_load(&r->stop)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)r->poll_ms * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        }
        r->woken = 0;
        pthread_mutex_unlock(&r->mu);
    }
    return NULL;
}

int eddy_relay_start(eddy_relay *r)
{
    if (r->running) return 0;
    if (pthread_create(&r->th, NULL, relay_main, r)) return EDDY_ERR_IO;
    r->running = 1;
    return 0;
}

void eddy_relay_wake(eddy_relay *r)
{
    pthread_mutex_lock(&r->mu);
    r->woken = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void eddy_relay_stop(eddy_relay *r, int timeout_ms)
{
    if (r->running) {
        atomic_store(&r->stop, 1);
        eddy_relay_wake(r);
        pthread_join(r->th, NULL);
        r->running = 0;
        atomic_store(&r->stop, 0);
    }
    eddy_relay_run_once(r, timeout_ms);
}

void eddy_relay_free(eddy_relay *r)
{
    if (!r) return;
    if (r->running) eddy_relay_stop(r, 0);
    pthread_mutex_lock(&g_relays_mu);
    for (eddy_relay **pp = &g_relays; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    pthread_mutex_unlock(&g_relays_mu);
    relay_set_producer(r, NULL);
    eddy_store_close(r->st);
    for (int i = 0; r->conf && r->conf[i]; i++) free(r->conf[i]);
    free(r->conf);
    free(r->acked);
    free(r->slots);
    free(r->idlist);
    pthread_mutex_destroy(&r->smu);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r->url);
    free(r->bootstrap);
    free(r);
}
