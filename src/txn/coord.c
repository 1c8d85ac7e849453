/* coord — the transaction coordinator's state machine and its log (__transaction_state).
 *
 *   Empty/Complete* --AddPartitions/AddOffsets--> Ongoing --EndTxn--> PrepareCommit|PrepareAbort
 *   Prepare* --markers written and durable on every partition--> CompleteCommit|CompleteAbort
 *   Ongoing --transaction.timeout.ms passed--> (epoch bump) PrepareAbort --> CompleteAbort
 *   Ongoing --InitProducerId of the same id--> (epoch bump) PrepareAbort --> CompleteAbort
 *
 * Every state change is one record in __transaction_state (one partition, compacted), Kafka's
 * formats (version 0, non-flexible, as Kafka's TransactionLogKey/Value JSON define them):
 *
 *   key   int16 version (0) | string transactionalId
 *   value int16 version (0) | int64 producerId | int16 producerEpoch |
 *         int32 transactionTimeoutMs | int8 transactionStatus |
 *         [ string topic | [ int32 partition ] ] transactionPartitions (null when none) |
 *         int64 transactionLastUpdateTimestampMs | int64 transactionStartTimestampMs
 *   status 0 Empty 1 Ongoing 2 PrepareCommit 3 PrepareAbort 4 CompleteCommit 5 CompleteAbort
 *          6 Dead 7 PrepareEpochFence
 *
 * Two-phase completion: the Prepare record is appended, then one marker per partition of the
 * transaction (part_write_marker; for __consumer_offsets also group_txn_end), then, once the
 * flusher reports every marker durable, the Complete record, and the parked EndTxn is answered
 * (an InitProducerId parked behind an abort once its new epoch is durable). Appends are ordered in
 * the page cache, so after a kill -9 at any point the log says either "Ongoing" (the timeout aborts
 * it later), "Prepare*" (start-up rewrites every marker and completes; a marker written twice ends
 * nothing twice), or "Complete*" (every marker is in the logs). Test hook:
 * EDDY_TXN_CRASH_AT=after-add | after-prepare | between-markers | after-markers kills the process
 * there (SIGKILL).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "group/group.h"
#include "storage/batch.h"
#include "txn/txn_int.h"

static const char *const state_names[] = {"Empty",        "Ongoing",          "PrepareCommit",
                                          "PrepareAbort", "CompleteCommit",   "CompleteAbort",
                                          "Dead",         "PrepareEpochFence"};

const char *txn_state_name(int s)
{
    return s >= 0 && s <= 7 ? state_names[s] : "Unknown";
}

int txn_state_parse(const char *s, size_t n)
{
    for (int i = 0; i <= 7; i++)
        if (strlen(state_names[i]) == n && !memcmp(state_names[i], s, n)) return i;
    return -1;
}

txn_coord *tc_of(broker *b)
{
    return b->txns;
}

void txn_crash_point(const char *where)
{
    const char *at = getenv("EDDY_TXN_CRASH_AT");
    if (at && !strcmp(at, where)) {
        LOGW("txn", "EDDY_TXN_CRASH_AT=%s: killing the broker here (test hook)", where);
        raise(SIGKILL);
    }
}

/* ------------------------------------------------------------------ table ---- */

txn *tc_find(txn_coord *tc, const char *id, size_t len)
{
    for (int i = 0; i < tc->n; i++)
        if (strlen(tc->v[i]->id) == len && !memcmp(tc->v[i]->id, id, len)) return tc->v[i];
    return NULL;
}

txn *tc_create(txn_coord *tc, const char *id, size_t len)
{
    txn *t = xcalloc(1, sizeof *t);
    t->id = xstrndup(id, len);
    t->pid = -1;
    t->epoch = -1;
    t->last_epoch = -1;
    if (tc->n == tc->a) {
        tc->a = tc->a ? tc->a * 2 : 16;
        tc->v = xrealloc(tc->v, (size_t)tc->a * sizeof *tc->v);
    }
    tc->v[tc->n++] = t;
    return t;
}

static void parts_clear(txn *t)
{
    for (int i = 0; i < t->nparts; i++) free(t->parts[i].topic);
    t->nparts = 0;
}

static void txn_free(txn *t)
{
    parts_clear(t);
    free(t->parts);
    for (int i = 0; i < t->nwaits; i++) free(t->waits[i].topic);
    free(t->waits);
    free(t->id);
    free(t);
}

bool txn_has_part(const txn *t, const char *topic, int32_t part)
{
    for (int i = 0; i < t->nparts; i++)
        if (t->parts[i].part == part && !strcmp(t->parts[i].topic, topic)) return true;
    return false;
}

void txn_add_part(txn *t, const char *topic, int32_t part)
{
    if (txn_has_part(t, topic, part)) return;
    if (t->nparts == t->aparts) {
        t->aparts = t->aparts ? t->aparts * 2 : 8;
        t->parts = xrealloc(t->parts, (size_t)t->aparts * sizeof *t->parts);
    }
    t->parts[t->nparts].topic = xstrdup(topic);
    t->parts[t->nparts].part = part;
    t->nparts++;
}

/* ------------------------------------------------------------------ records ---- */

static void put_str(wbuf *w, const char *s)
{
    size_t n = strlen(s);
    wbuf_i16(w, (int16_t)n);
    wbuf_put(w, s, n);
}

void txn_encode(const txn *t, wbuf *key, wbuf *val)
{
    wbuf_i16(key, 0);
    put_str(key, t->id);
    wbuf_i16(val, 0);
    wbuf_i64(val, t->pid);
    wbuf_i16(val, t->epoch);
    wbuf_i32(val, t->timeout_ms);
    wbuf_i8(val, (int8_t)t->state);
    /* topics, each with its partitions, in first-seen order */
    int ntopics = 0;
    for (int i = 0; i < t->nparts; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++) seen = !strcmp(t->parts[j].topic, t->parts[i].topic);
        ntopics += !seen;
    }
    wbuf_i32(val, ntopics);
    for (int i = 0; i < t->nparts; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++) seen = !strcmp(t->parts[j].topic, t->parts[i].topic);
        if (seen) continue;
        put_str(val, t->parts[i].topic);
        int np = 0;
        for (int j = i; j < t->nparts; j++) np += !strcmp(t->parts[j].topic, t->parts[i].topic);
        wbuf_i32(val, np);
        for (int j = i; j < t->nparts; j++)
            if (!strcmp(t->parts[j].topic, t->parts[i].topic)) wbuf_i32(val, t->parts[j].part);
    }
    wbuf_i64(val, t->update_ms);
    wbuf_i64(val, t->start_ms);
}

int txn_decode(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, txn_rec *out)
{
    memset(out, 0, sizeof *out);
    rbuf k = rbuf_make(key, klen);
    if (rbuf_i16(&k) != 0) return -1;
    int16_t n = rbuf_i16(&k);
    const uint8_t *id = n > 0 ? rbuf_take(&k, (size_t)n) : NULL;
    if (k.err || !id || has_ctl_chars(id, (size_t)n)) return -1;
    out->id = (const char *)id;
    out->id_len = (size_t)n;
    if (!val) {
        out->tombstone = true;
        return 0;
    }
    rbuf v = rbuf_make(val, vlen);
    if (rbuf_i16(&v) != 0) return -1; /* version 1 (flexible) is never written by eddyd */
    out->pid = rbuf_i64(&v);
    out->epoch = rbuf_i16(&v);
    out->timeout_ms = rbuf_i32(&v);
    out->state = rbuf_i8(&v);
    int32_t nt = rbuf_i32(&v);
    if (v.err || out->state < 0 || out->state > 7 || nt < -1 ||
        (nt > 0 && (size_t)nt > rbuf_left(&v) / 6))
        return -1;
    out->parts_at = v.p;
    for (int32_t i = 0; i < nt && !v.err; i++) {
        int16_t tl = rbuf_i16(&v);
        const uint8_t *tn = tl > 0 ? rbuf_take(&v, (size_t)tl) : NULL;
        int32_t np = rbuf_i32(&v);
        if (!tn || has_ctl_chars(tn, (size_t)tl) || np < 0 || (size_t)np > rbuf_left(&v) / 4)
            return -1;
        rbuf_skip(&v, (size_t)np * 4);
        out->nparts += np;
    }
    out->ntopics = nt < 0 ? 0 : nt;
    out->parts_end = v.p;
    out->update_ms = rbuf_i64(&v);
    out->start_ms = rbuf_i64(&v);
    return v.err ? -1 : 0;
}

/* Applies one decoded record onto the table (start-up replay). */
static void apply_rec_to(txn_coord *tc, const txn_rec *x)
{
    txn *t = tc_find(tc, x->id, x->id_len);
    if (x->tombstone) {
        if (t) tc_remove(tc, t);
        return;
    }
    if (!t) t = tc_create(tc, x->id, x->id_len);
    t->pid = x->pid;
    if (t->epoch != x->epoch) t->last_epoch = t->epoch;
    t->epoch = x->epoch;
    t->timeout_ms = x->timeout_ms;
    t->state = x->state;
    t->update_ms = x->update_ms;
    t->start_ms = x->start_ms;
    parts_clear(t);
    rbuf v = rbuf_make(x->parts_at, (size_t)(x->parts_end - x->parts_at));
    for (int32_t i = 0; i < x->ntopics && !v.err; i++) {
        int16_t tl = rbuf_i16(&v);
        const uint8_t *tn = rbuf_take(&v, (size_t)tl);
        int32_t np = rbuf_i32(&v);
        char *topic = tn ? xstrndup((const char *)tn, (size_t)tl) : NULL;
        for (int32_t j = 0; j < np && !v.err && topic; j++) txn_add_part(t, topic, rbuf_i32(&v));
        free(topic);
    }
}

void tc_remove(txn_coord *tc, txn *t)
{
    for (int i = 0; i < tc->n; i++)
        if (tc->v[i] == t) {
            tc->v[i] = tc->v[--tc->n];
            break;
        }
    txn_free(t);
}

int txn_replay(txn_coord *tc, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    txn_rec x;
    if (!key || txn_decode(key, klen, val, vlen, &x) < 0) {
        tc->skipped++;
        return -1;
    }
    apply_rec_to(tc, &x);
    return 0;
}

void txn_table_free(txn_coord *tc)
{
    while (tc->n) tc_remove(tc, tc->v[tc->n - 1]);
    free(tc->v);
    tc->v = NULL;
    tc->a = 0;
}

static int replay_rec(const batch_info *bi, const batch_record *rec, void *arg)
{
    (void)bi;
    txn_replay(arg, rec->key, (size_t)(rec->key_len > 0 ? rec->key_len : 0), rec->value,
               (size_t)(rec->value_len > 0 ? rec->value_len : 0));
    return 0;
}

/* Appends t's current state. Returns the offset after the record (durable once the state log
 * reaches it), or -1 after logging a storage error. */
int64_t txn_persist(txn_coord *tc, txn *t)
{
    wbuf k, v;
    wbuf_init(&k, 0);
    wbuf_init(&v, 0);
    t->update_ms = now_wall_ms();
    txn_encode(t, &k, &v);
    batch_rec r = {k.data, k.len, v.data, v.len, NULL, 0, 0};
    size_t len;
    uint8_t *batch = batch_build(&r, 1, now_wall_ms(), &len);
    wbuf_free(&k);
    wbuf_free(&v);
    bpart *p = tc->stopic->parts[0];
    int64_t base = -1;
    int rc = part_append(tc->b, p, batch, len, &base);
    free(batch);
    if (rc) {
        LOGE("txn", "cannot append to %s: error %d", TXN_STATE_TOPIC, rc);
        return -1;
    }
    if (tc->b->flusher) flusher_request(tc->b->flusher, p->log, base + 1);
    return base + 1;
}

/* ------------------------------------------------------------------ durable answers ---- */

void txn_reply_when_durable(txn_coord *tc, breq *r, int64_t need)
{
    bdurable_reply(tc->b, &tc->waits, r, tc->stopic->parts[0]->log, need);
}

/* ------------------------------------------------------------------ completion ---- */

static bpart *find_part(broker *b, const char *topic, int32_t part)
{
    return topic_part(topic_find(b, topic), part);
}

static void finish(txn_coord *tc, txn *t);

void txn_complete(txn_coord *tc, txn *t, bool commit, bool write_prepare)
{
    broker *b = tc->b;
    t->state = commit ? TS_PREPARE_COMMIT : TS_PREPARE_ABORT;
    t->completing = true;
    if (write_prepare) txn_persist(tc, t);
    txn_crash_point("after-prepare");
    for (int i = 0; i < t->nwaits; i++) free(t->waits[i].topic);
    t->nwaits = 0;
    t->waits = xrealloc(t->waits, (size_t)(t->nparts ? t->nparts : 1) * sizeof *t->waits);
    for (int i = 0; i < t->nparts; i++) {
        bpart *p = find_part(b, t->parts[i].topic, t->parts[i].part);
        if (!p) continue; /* deleted meanwhile: nothing left to end there */
        int64_t off;
        int rc = part_write_marker(b, p, t->pid, t->epoch, commit, 0, &off);
        if (rc) {
            /* the transaction stays Prepare*: the next start-up (or tick) writes it again */
            LOGE("txn", "%s: cannot write the %s marker to %s-%d: error %d", t->id,
                 commit ? "commit" : "abort", t->parts[i].topic, t->parts[i].part, rc);
            t->retry = true;
            continue;
        }
        if (p->topic->internal && !strcmp(p->topic->name, "__consumer_offsets"))
            group_txn_end(b, t->pid, commit);
        if (b->flusher) flusher_request(b->flusher, p->log, off + 1);
        t->waits[t->nwaits].topic = xstrdup(t->parts[i].topic);
        t->waits[t->nwaits].part = t->parts[i].part;
        t->waits[t->nwaits].need = off + 1;
        t->nwaits++;
        if (i == 0) txn_crash_point("between-markers");
    }
    txn_crash_point("after-markers");
    if (t->retry) return;
    txn_check_complete(tc, t);
}

void txn_check_complete(txn_coord *tc, txn *t)
{
    if (!t->completing || t->retry) return;
    for (int i = 0; i < t->nwaits; i++) {
        bpart *p = find_part(tc->b, t->waits[i].topic, t->waits[i].part);
        if (p && tc->b->flusher && plog_durable_offset(p->log) < t->waits[i].need) return;
    }
    finish(tc, t);
}

static void finish(txn_coord *tc, txn *t)
{
    bool commit = t->state == TS_PREPARE_COMMIT;
    t->state = commit ? TS_COMPLETE_COMMIT : TS_COMPLETE_ABORT;
    t->completing = false;
    parts_clear(t);
    for (int i = 0; i < t->nwaits; i++) free(t->waits[i].topic);
    t->nwaits = 0;
    int64_t need = txn_persist(tc, t);
    LOGD("txn", "%s: %s (producer %" PRId64 " epoch %d)", t->id, commit ? "committed" : "aborted",
         t->pid, t->epoch);
    breq *r = t->reply;
    t->reply = NULL;
    if (!r) return;
    if (t->reply_kind == TR_INIT_PID) {
        txn_answer_init_pid(tc, t, r);
        return;
    }
    /* Every marker is durable: the outcome is fixed in the partitions themselves, so EndTxn is
     * answered without waiting for the Complete record (lost, the transaction would come back
     * Prepare* and be completed again, or Ongoing and be aborted by its timeout — with no effect
     * on partitions whose marker already ended it). */
    (void)need;
    breq_done(r);
}

void txn_answer_init_pid(txn_coord *tc, txn *t, breq *r)
{
    /* the open transaction was aborted (with the fencing epoch): the new producer starts at it */
    t->state = TS_EMPTY;
    t->timeout_ms = t->reply_timeout_ms;
    t->start_ms = 0;
    int64_t need = txn_persist(tc, t);
    int err = need < 0 ? KERR_KAFKA_STORAGE_ERROR : 0;
    k_set_int(r->resp, InitProducerIdResponse_ErrorCode, err);
    k_set_int(r->resp, InitProducerIdResponse_ProducerId, err ? -1 : t->pid);
    k_set_int(r->resp, InitProducerIdResponse_ProducerEpoch, err ? -1 : t->epoch);
    txn_reply_when_durable(tc, r, need);
}

void txn_on_flush(broker *b)
{
    txn_coord *tc = b->txns;
    if (!tc) return;
    for (int i = 0; i < tc->n; i++) txn_check_complete(tc, tc->v[i]);
    bdurable_on_flush(b, &tc->waits);
}

/* ------------------------------------------------------------------ timeouts ---- */

static void tick(loop *l, void *arg)
{
    txn_coord *tc = arg;
    tc->tick = NULL;
    int64_t now = now_wall_ms();
    for (int i = 0; i < tc->n; i++) {
        txn *t = tc->v[i];
        if (t->completing && t->retry) {
            t->retry = false;
            txn_complete(tc, t, t->state == TS_PREPARE_COMMIT, false);
            continue;
        }
        if (t->state != TS_ONGOING || t->completing) continue;
        if (t->start_ms + t->timeout_ms > now) continue;
        LOGI("txn",
             "%s: transaction of producer %" PRId64 " open for %" PRId64
             " ms, past its timeout of %d ms: aborting it",
             t->id, t->pid, now - t->start_ms, t->timeout_ms);
        /* Kafka's rule: the epoch is bumped, so the timed-out producer is fenced */
        if (t->epoch < INT16_MAX - 1) {
            t->last_epoch = t->epoch;
            t->epoch++;
        }
        tc->timed_out++;
        txn_complete(tc, t, false, true);
    }
    if (!loop_stopping(l))
        tc->tick = loop_timer_add(
            l, tc->b->cfg.transaction_abort_timed_out_transaction_cleanup_interval_ms, tick, tc);
}

void txn_open_stats(broker *b, int *open, int64_t *oldest_age_ms)
{
    *open = 0;
    *oldest_age_ms = 0;
    txn_coord *tc = b->txns;
    if (!tc) return;
    int64_t now = now_wall_ms();
    for (int i = 0; i < tc->n; i++) {
        txn *t = tc->v[i];
        if (t->state != TS_ONGOING && !t->completing) continue;
        (*open)++;
        if (now - t->start_ms > *oldest_age_ms) *oldest_age_ms = now - t->start_ms;
    }
}

/* ------------------------------------------------------------------ lifecycle ---- */

int txn_coord_start(broker *b)
{
    txn_coord *tc = xcalloc(1, sizeof *tc);
    tc->b = b;
    btopic *t = topic_internal(b, TXN_STATE_TOPIC, TOPIC_STATE_CONFIGS);
    if (!t) {
        free(tc);
        return -1;
    }
    tc->stopic = t;
    b->txns = tc;
    int64_t t0 = now_mono_us();
    batch_tail_stats st;
    batch_tail(t->parts[0]->log, INT64_MIN, replay_rec, tc, TXN_STATE_TOPIC, &st);
    if (tc->skipped) LOGW("txn", "%s: %d record(s) not understood", TXN_STATE_TOPIC, tc->skipped);
    /* finish what a crash interrupted between Prepare* and Complete* */
    int resumed = 0, open = 0;
    for (int i = 0; i < tc->n; i++) {
        txn *x = tc->v[i];
        if (x->state == TS_PREPARE_COMMIT || x->state == TS_PREPARE_ABORT) {
            LOGI("txn", "%s: completing the %s interrupted by a restart", x->id,
                 x->state == TS_PREPARE_COMMIT ? "commit" : "abort");
            txn_complete(tc, x, x->state == TS_PREPARE_COMMIT, false);
            resumed++;
        } else if (x->state == TS_ONGOING) {
            open++;
        }
    }
    LOGI("txn",
         "coordinator ready: %d transactional id(s), %d open, %d completion(s) resumed "
         "(%.1f ms)",
         tc->n, open, resumed, (double)(now_mono_us() - t0) / 1000.0);
    tc->tick = loop_timer_add(b->loop, 1000, tick, tc);
    return 0;
}

void txn_coord_stop(broker *b)
{
    txn_coord *tc = b->txns;
    if (!tc) return;
    if (tc->tick) loop_timer_cancel(b->loop, tc->tick);
    bdurable_drain(&tc->waits);
    for (int i = 0; i < tc->n; i++) {
        if (tc->v[i]->reply) breq_done(tc->v[i]->reply);
        txn_free(tc->v[i]);
    }
    free(tc->v);
    free(tc);
    b->txns = NULL;
}
