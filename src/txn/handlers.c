/* handlers — the Kafka APIs of the transaction coordinator:
 *
 *   InitProducerId v0–v5   AddPartitionsToTxn v0–v5   AddOffsetsToTxn v0–v4   EndTxn v0–v4
 *   DescribeTransactions v0   ListTransactions v0–v1
 *
 * AddPartitionsToTxn v4+ is the brokers' batched form (KIP-890): several transactions per
 * request, each either added as v3 adds (VerifyOnly false) or only checked (VerifyOnly: each
 * partition NONE when it is in the transaction, TRANSACTION_ABORTABLE when not), ClusterAction
 * on the cluster required. AddOffsetsToTxn v4 and EndTxn v4 only allow TRANSACTION_ABORTABLE
 * (KIP-890), which this coordinator never answers. EndTxn v5 (an epoch bump on every
 * transaction, KIP-890 part 2, "transaction.version" 2) is not served: eddyd finalizes no
 * transaction.version feature, so clients stay at v4. ListTransactions v1's DurationFilter lists
 * only transactions open longer than it (ms; -1 or absent: all).
 *
 * Errors as Kafka's TransactionCoordinator gives them: an unknown transactional id or a
 * producer id that is not the id's is INVALID_PRODUCER_ID_MAPPING (49); an older epoch is
 * PRODUCER_FENCED (90) from InitProducerId v4 / AddPartitions, AddOffsets, EndTxn v2 on and
 * INVALID_PRODUCER_EPOCH (47) before; a request while a commit/abort is being completed is
 * CONCURRENT_TRANSACTIONS (51); EndTxn with no transaction open is INVALID_TXN_STATE (48).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "broker/authorize.h"
#include "common/log.h"
#include "common/util.h"
#include "group/group.h"
#include "txn/txn_int.h"

#define KERR_OPERATION_NOT_ATTEMPTED 55
#define KERR_PRODUCER_FENCED 90
#define KERR_TRANSACTION_ABORTABLE 121
#define KERR_TRANSACTIONAL_ID_NOT_FOUND 105

static int fenced(int16_t v, int16_t first)
{
    return v >= first ? KERR_PRODUCER_FENCED : KERR_INVALID_PRODUCER_EPOCH;
}

/* A transactional id as a request carries it: 0, or INVALID_REQUEST for an empty one, one
 * with NUL/control characters or longer than TXN_ID_MAX bytes. */
static int check_tid(kstr tid)
{
    if (tid.len <= 0 || tid.len > TXN_ID_MAX || has_ctl_chars(tid.p, (size_t)tid.len))
        return KERR_INVALID_REQUEST;
    return 0;
}

/* The transaction a request of producer pid/epoch names, or an error. */
static int lookup(txn_coord *tc, kstr tid, int64_t pid, int16_t epoch, int16_t v, int16_t fv,
                  txn **out)
{
    *out = NULL;
    if (!tc) return KERR_COORDINATOR_NOT_AVAILABLE;
    int err = check_tid(tid);
    if (err) return err;
    txn *t = tc_find(tc, (const char *)tid.p, (size_t)tid.len);
    if (!t || t->pid != pid) return KERR_INVALID_PRODUCER_ID_MAPPING;
    if (epoch != t->epoch) return fenced(v, fv);
    *out = t;
    if (t->completing || t->state == TS_PREPARE_COMMIT || t->state == TS_PREPARE_ABORT)
        return KERR_CONCURRENT_TRANSACTIONS;
    return 0;
}

/* The fields of a request on an open transaction (AddPartitionsToTxn v0-3, AddOffsetsToTxn,
 * EndTxn): its response's throttle, and the transaction it names. */
typedef struct txn_req {
    kfid throttle, tid, pid, epoch;
} txn_req;

/* Answers the throttle (0); the open transaction the request names (lookup), then Write on the
 * TransactionalId, what Kafka checks on every transactional request (ACLs); 0 or an error. */
static int lookup_writable(broker *b, breq *r, const txn_req *f, txn **out)
{
    kmsg *q = r->req;
    k_set_int(r->resp, f->throttle, 0);
    kstr id = k_str(q, f->tid);
    int err = lookup(tc_of(b), id, k_int(q, f->pid), (int16_t)k_int(q, f->epoch),
                     r->hdr.api_version, 2, out);
    if (!err && !bauthz_allowed_k(b, r, ACL_RES_TRANSACTIONAL_ID, id.p, id.len, ACL_OP_WRITE))
        err = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    return err;
}

/* ------------------------------------------------------------------ InitProducerId ---- */

static void init_pid_answer(breq *r, int err, int64_t pid, int16_t epoch)
{
    k_set_int(r->resp, InitProducerIdResponse_ErrorCode, err);
    k_set_int(r->resp, InitProducerIdResponse_ProducerId, err ? -1 : pid);
    k_set_int(r->resp, InitProducerIdResponse_ProducerEpoch, err ? -1 : epoch);
}

/* Bumps t to its next epoch (a fresh producer id when the epoch would overflow), Empty. */
static int bump(txn_coord *tc, txn *t)
{
    if (t->pid < 0 || t->epoch >= INT16_MAX - 1) {
        int64_t pid = producers_alloc_id(tc->b);
        if (pid < 0) return KERR_UNKNOWN_SERVER_ERROR;
        t->pid = pid;
        t->epoch = 0;
        t->last_epoch = -1;
    } else {
        t->last_epoch = t->epoch;
        t->epoch++;
    }
    return 0;
}

static void h_init_pid(broker *b, breq *r)
{
    txn_coord *tc = tc_of(b);
    kmsg *q = r->req;
    int16_t v = r->hdr.api_version;
    kstr tid = k_str(q, InitProducerIdRequest_TransactionalId);
    if (tid.len < 0) {
        h_init_producer_id(b, r); /* idempotent producer: the broker's own */
        return;
    }
    k_set_int(r->resp, InitProducerIdResponse_ThrottleTimeMs, 0);
    int err = check_tid(tid);
    if (!err) err = bauthz_init_producer_denied(b, r, tid.p, tid.len); /* Write on the id */
    int32_t timeout = (int32_t)k_int(q, InitProducerIdRequest_TransactionTimeoutMs);
    int64_t rpid = v >= 3 ? k_int(q, InitProducerIdRequest_ProducerId) : -1;
    int16_t repoch = v >= 3 ? (int16_t)k_int(q, InitProducerIdRequest_ProducerEpoch) : -1;
    if (!err && !tc) err = KERR_COORDINATOR_NOT_AVAILABLE;
    if (!err && (rpid == -1) != (repoch == -1)) err = KERR_INVALID_REQUEST;
    if (!err && (timeout <= 0 || timeout > b->cfg.transaction_max_timeout_ms))
        err = KERR_INVALID_TRANSACTION_TIMEOUT;
    txn *t = err ? NULL : tc_find(tc, (const char *)tid.p, (size_t)tid.len);
    if (!err && t &&
        (t->completing || t->state == TS_PREPARE_COMMIT || t->state == TS_PREPARE_ABORT))
        err = KERR_CONCURRENT_TRANSACTIONS;
    if (!err && rpid >= 0 && t) {
        /* KIP-360: a producer that knows its id and epoch asks for the next epoch; it must be
         * the id's current one (or the one before a bump it did not see the answer of). A
         * transactional id seen for the first time gets a fresh id whatever the request names,
         * as in Kafka (its new metadata has no epoch yet): @platformatic/kafka sends 0/0. */
        if (t->pid != rpid)
            err = KERR_INVALID_PRODUCER_ID_MAPPING;
        else if (repoch != t->epoch && repoch != t->last_epoch)
            err = fenced(v, 4);
    }
    if (err) {
        init_pid_answer(r, err, -1, -1);
        breq_done(r);
        return;
    }
    if (!t) t = tc_create(tc, (const char *)tid.p, (size_t)tid.len);
    if (t->state == TS_ONGOING) {
        /* the previous producer of this id left a transaction open: fence it (epoch bump) and
         * abort the transaction; this request is answered when the abort is complete */
        err = bump(tc, t);
        if (err) {
            init_pid_answer(r, err, -1, -1);
            breq_done(r);
            return;
        }
        t->reply = r;
        t->reply_kind = TR_INIT_PID;
        t->reply_timeout_ms = timeout;
        txn_complete(tc, t, false, true);
        return;
    }
    if (rpid >= 0 && repoch == t->last_epoch && t->state == TS_EMPTY) {
        /* a retry of a bump that already happened: the same answer again */
        init_pid_answer(r, 0, t->pid, t->epoch);
        breq_done(r);
        return;
    }
    err = bump(tc, t);
    if (err) {
        init_pid_answer(r, err, -1, -1);
        breq_done(r);
        return;
    }
    t->state = TS_EMPTY;
    t->timeout_ms = timeout;
    t->start_ms = 0;
    int64_t need = txn_persist(tc, t);
    init_pid_answer(r, need < 0 ? KERR_KAFKA_STORAGE_ERROR : 0, t->pid, t->epoch);
    txn_reply_when_durable(tc, r, need);
}

/* ------------------------------------------------------------------ AddPartitionsToTxn ---- */

/* t after partitions were added (Ongoing from now on): the offset of __transaction_state its
 * new state needs durable before the answer (0: nothing changed; -1: not written). */
static int64_t add_persist(txn_coord *tc, txn *t, bool changed)
{
    if (t->state != TS_ONGOING) {
        t->state = TS_ONGOING;
        t->start_ms = now_wall_ms();
        changed = true;
    }
    if (!changed) return 0;
    int64_t need = txn_persist(tc, t);
    txn_crash_point("after-add");
    return need;
}

/* Adds partitions to t (Ongoing from now on); answers once the new state is durable. */
static void add_and_reply(broker *b, txn *t, breq *r, bool changed)
{
    txn_coord *tc = tc_of(b);
    int64_t need = add_persist(tc, t, changed);
    if (!need) {
        breq_done(r);
        return;
    }
    txn_reply_when_durable(tc, r, need);
}

/* The second pass of AddPartitionsToTxn: each partition's answer; added when all are good. */
typedef struct add_ctx {
    txn *t;
    int err;            /* the request's own error (lookup), answered for every partition */
    bool unknown;       /* some topic is denied or some partition unknown: none is added */
    const bool *denied; /* per topic of the request: no Write on it */
    bool changed;
} add_ctx;

static void add_part(void *arg, const tp_row *row)
{
    add_ctx *x = arg;
    int perr = x->err;
    if (!perr && x->denied[row->topic_i])
        perr = KERR_TOPIC_AUTHORIZATION_FAILED;
    else if (!perr && x->unknown)
        perr = !row->p || row->t->internal ? KERR_UNKNOWN_TOPIC_OR_PARTITION
                                           : KERR_OPERATION_NOT_ATTEMPTED;
    k_set_int(row->pr, AddPartitionsToTxnPartitionResult_PartitionErrorCode, perr);
    if (!perr && !txn_has_part(x->t, row->t->name, row->idx)) {
        txn_add_part(x->t, row->t->name, row->idx);
        x->changed = true;
    }
}

/* One transaction of a v4+ AddPartitionsToTxn into its result tr: verified, or added (the
 * __transaction_state offset to wait for goes to *need, the largest of the request's). */
static void add_batched_one(broker *b, breq *r, const kmsg *tq, kmsg *tr, int64_t *need)
{
    txn_coord *tc = tc_of(b);
    int16_t v = r->hdr.api_version;
    kstr tid = k_str(tq, AddPartitionsToTxnTransaction_TransactionalId);
    bool verify = k_bool(tq, AddPartitionsToTxnTransaction_VerifyOnly);
    k_set_kstr(tr, AddPartitionsToTxnResult_TransactionalId, tid);
    txn *t;
    int err = lookup(tc, tid, k_int(tq, AddPartitionsToTxnTransaction_ProducerId),
                     (int16_t)k_int(tq, AddPartitionsToTxnTransaction_ProducerEpoch), v, 2, &t);
    if (verify && err == KERR_CONCURRENT_TRANSACTIONS && t && t->state != TS_PREPARE_COMMIT &&
        t->state != TS_PREPARE_ABORT)
        err = 0; /* Kafka's verify answers CONCURRENT_TRANSACTIONS in Prepare* only */
    int32_t nt = k_new_like(tr, AddPartitionsToTxnResult_TopicResults, tq,
                            AddPartitionsToTxnTransaction_Topics);
    /* not verifying: any unknown partition fails the transaction (the others: not attempted) */
    bool unknown = false;
    for (int32_t i = 0; i < nt && !err && !verify; i++) {
        kmsg *tp = k_item(tq, AddPartitionsToTxnTransaction_Topics, i);
        btopic *bt = topic_find_k(b, k_str(tp, AddPartitionsToTxnTopic_Name));
        int32_t np = k_count(tp, AddPartitionsToTxnTopic_Partitions);
        for (int32_t j = 0; j < np; j++)
            if (!topic_part(bt, (int32_t)k_item_int(tp, AddPartitionsToTxnTopic_Partitions, j)) ||
                bt->internal)
                unknown = true;
    }
    bool changed = false;
    for (int32_t i = 0; i < nt; i++) {
        kmsg *tp = k_item(tq, AddPartitionsToTxnTransaction_Topics, i);
        kmsg *to = k_item(tr, AddPartitionsToTxnResult_TopicResults, i);
        kstr name = k_str(tp, AddPartitionsToTxnTopic_Name);
        k_set_kstr(to, AddPartitionsToTxnTopicResult_Name, name);
        btopic *bt = topic_find_k(b, name);
        int32_t np = k_new_like(to, AddPartitionsToTxnTopicResult_ResultsByPartition, tp,
                                AddPartitionsToTxnTopic_Partitions);
        for (int32_t j = 0; j < np; j++) {
            int32_t idx = (int32_t)k_item_int(tp, AddPartitionsToTxnTopic_Partitions, j);
            kmsg *po = k_item(to, AddPartitionsToTxnTopicResult_ResultsByPartition, j);
            k_set_int(po, AddPartitionsToTxnPartitionResult_PartitionIndex, idx);
            bpart *p = topic_part(bt, idx);
            int perr = err;
            if (!perr && verify)
                perr = p && txn_has_part(t, bt->name, idx) ? 0 : KERR_TRANSACTION_ABORTABLE;
            else if (!perr && unknown)
                perr = !p || bt->internal ? KERR_UNKNOWN_TOPIC_OR_PARTITION
                                          : KERR_OPERATION_NOT_ATTEMPTED;
            else if (!perr && !txn_has_part(t, bt->name, idx)) {
                txn_add_part(t, bt->name, idx);
                changed = true;
            }
            k_set_int(po, AddPartitionsToTxnPartitionResult_PartitionErrorCode, perr);
        }
    }
    if (err || unknown || verify) return;
    int64_t n = add_persist(tc, t, changed);
    if (n < 0 || *need < 0)
        *need = -1;
    else if (n > *need)
        *need = n;
}

static void h_add_partitions_batched(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    k_set_int(resp, AddPartitionsToTxnResponse_ThrottleTimeMs, 0);
    /* the brokers' form: ClusterAction on the cluster, as Kafka requires of it */
    if (!bauthz_allowed(b, r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_CLUSTER_ACTION)) {
        k_set_int(resp, AddPartitionsToTxnResponse_ErrorCode, KERR_CLUSTER_AUTHORIZATION_FAILED);
        k_new_items(resp, AddPartitionsToTxnResponse_ResultsByTransaction, 0);
        breq_done(r);
        return;
    }
    k_set_int(resp, AddPartitionsToTxnResponse_ErrorCode, 0);
    int32_t n = k_new_like(resp, AddPartitionsToTxnResponse_ResultsByTransaction, q,
                           AddPartitionsToTxnRequest_Transactions);
    int64_t need = 0;
    for (int32_t i = 0; i < n; i++)
        add_batched_one(b, r, k_item(q, AddPartitionsToTxnRequest_Transactions, i),
                        k_item(resp, AddPartitionsToTxnResponse_ResultsByTransaction, i), &need);
    if (!need || !tc_of(b)) {
        breq_done(r);
        return;
    }
    txn_reply_when_durable(tc_of(b), r, need);
}

static void h_add_partitions(broker *b, breq *r)
{
    if (r->hdr.api_version >= 4) {
        h_add_partitions_batched(b, r);
        return;
    }
    static const txn_req req = {AddPartitionsToTxnResponse_ThrottleTimeMs,
                                AddPartitionsToTxnRequest_V3AndBelowTransactionalId,
                                AddPartitionsToTxnRequest_V3AndBelowProducerId,
                                AddPartitionsToTxnRequest_V3AndBelowProducerEpoch};
    kmsg *q = r->req;
    txn *t;
    int err = lookup_writable(b, r, &req, &t);
    int32_t nt = k_count(q, AddPartitionsToTxnRequest_V3AndBelowTopics);
    if (nt < 0) nt = 0;
    /* first pass: a topic without Write for the principal (Kafka checks it before existence)
     * or any unknown partition fails the whole request (the others: not attempted) */
    bool unknown = false;
    bool *denied = xcalloc((size_t)nt + 1, sizeof *denied);
    for (int32_t i = 0; i < nt && !err; i++) {
        kmsg *tq = k_item(q, AddPartitionsToTxnRequest_V3AndBelowTopics, i);
        kstr name = k_str(tq, AddPartitionsToTxnTopic_Name);
        if (!bauthz_allowed_k(b, r, ACL_RES_TOPIC, name.p, name.len, ACL_OP_WRITE)) {
            denied[i] = unknown = true;
            continue;
        }
        btopic *bt = topic_find_k(b, name);
        int32_t np = k_count(tq, AddPartitionsToTxnTopic_Partitions);
        for (int32_t j = 0; j < np; j++) {
            int32_t p = (int32_t)k_item_int(tq, AddPartitionsToTxnTopic_Partitions, j);
            if (!topic_part(bt, p) || bt->internal) unknown = true;
        }
    }
    static const tp_fields f = {
        .q_topics = AddPartitionsToTxnRequest_V3AndBelowTopics,
        .r_topics = AddPartitionsToTxnResponse_ResultsByTopicV3AndBelow,
        .q_name = AddPartitionsToTxnTopic_Name,
        .r_name = AddPartitionsToTxnTopicResult_Name,
        .q_parts = AddPartitionsToTxnTopic_Partitions,
        .r_parts = AddPartitionsToTxnTopicResult_ResultsByPartition,
        .q_index = -1,
        .r_index = AddPartitionsToTxnPartitionResult_PartitionIndex,
        .acl_op = -1, /* checked above */
    };
    add_ctx x = {t, err, unknown, denied, false};
    tp_walk(b, r, &f, add_part, &x);
    free(denied);
    if (err || unknown) {
        breq_done(r);
        return;
    }
    add_and_reply(b, t, r, x.changed);
}

/* ------------------------------------------------------------------ AddOffsetsToTxn ---- */

static void h_add_offsets(broker *b, breq *r)
{
    static const txn_req req = {
        AddOffsetsToTxnResponse_ThrottleTimeMs, AddOffsetsToTxnRequest_TransactionalId,
        AddOffsetsToTxnRequest_ProducerId, AddOffsetsToTxnRequest_ProducerEpoch};
    kmsg *q = r->req, *resp = r->resp;
    txn *t;
    int err = lookup_writable(b, r, &req, &t);
    kstr gid = k_str(q, AddOffsetsToTxnRequest_GroupId);
    if (!err && (gid.len <= 0 || has_ctl_chars(gid.p, (size_t)gid.len)))
        err = KERR_INVALID_GROUP_ID;
    btopic *ot = err ? NULL : topic_find(b, "__consumer_offsets");
    if (!err && (!ot || ot->nparts < 1)) err = KERR_COORDINATOR_NOT_AVAILABLE;
    k_set_int(resp, AddOffsetsToTxnResponse_ErrorCode, err);
    if (err) {
        breq_done(r);
        return;
    }
    char *g = xstrndup((const char *)gid.p, (size_t)gid.len);
    int32_t part = group_offsets_partition(b, g);
    free(g);
    bool changed = !txn_has_part(t, ot->name, part);
    if (changed) txn_add_part(t, ot->name, part);
    add_and_reply(b, t, r, changed);
}

/* ------------------------------------------------------------------ EndTxn ---- */

static void h_end_txn(broker *b, breq *r)
{
    static const txn_req req = {EndTxnResponse_ThrottleTimeMs, EndTxnRequest_TransactionalId,
                                EndTxnRequest_ProducerId, EndTxnRequest_ProducerEpoch};
    txn_coord *tc = tc_of(b);
    kmsg *q = r->req, *resp = r->resp;
    bool commit = k_int(q, EndTxnRequest_Committed) != 0;
    txn *t;
    int err = lookup_writable(b, r, &req, &t);
    if (!err) {
        if (t->state == TS_ONGOING) {
            k_set_int(resp, EndTxnResponse_ErrorCode, 0);
            t->reply = r;
            t->reply_kind = TR_END_TXN;
            txn_complete(tc, t, commit, true);
            return;
        }
        if ((t->state == TS_COMPLETE_COMMIT && commit) ||
            (t->state == TS_COMPLETE_ABORT && !commit))
            err = 0; /* a retry of the EndTxn that completed it */
        else
            err = KERR_INVALID_TXN_STATE; /* nothing open (Empty), or the other outcome */
    }
    k_set_int(resp, EndTxnResponse_ErrorCode, err);
    breq_done(r);
}

/* ------------------------------------------------------------------ Describe / List ---- */

/* Is t's partition a the first of its topic in t's list? */
static bool first_of_topic(const txn *t, int a)
{
    for (int c = 0; c < a; c++)
        if (!strcmp(t->parts[c].topic, t->parts[a].topic)) return false;
    return true;
}

static void h_describe_transactions(broker *b, breq *r)
{
    txn_coord *tc = tc_of(b);
    kmsg *q = r->req, *resp = r->resp;
    k_set_int(resp, DescribeTransactionsResponse_ThrottleTimeMs, 0);
    int32_t n = k_new_like(resp, DescribeTransactionsResponse_TransactionStates, q,
                           DescribeTransactionsRequest_TransactionalIds);
    for (int32_t i = 0; i < n; i++) {
        kstr id = k_item_str(q, DescribeTransactionsRequest_TransactionalIds, i);
        kmsg *s = k_item(resp, DescribeTransactionsResponse_TransactionStates, i);
        k_set_kstr(s, DescribeTransactionsResponse_TransactionState_TransactionalId, id);
        txn *t = tc && id.len > 0 ? tc_find(tc, (const char *)id.p, (size_t)id.len) : NULL;
        int err = !tc ? KERR_COORDINATOR_NOT_AVAILABLE : !t ? KERR_TRANSACTIONAL_ID_NOT_FOUND : 0;
        k_set_int(s, DescribeTransactionsResponse_TransactionState_ErrorCode, err);
        k_set_str(s, DescribeTransactionsResponse_TransactionState_TransactionState,
                  t ? txn_state_name(t->state) : "");
        k_set_int(s, DescribeTransactionsResponse_TransactionState_TransactionTimeoutMs,
                  t ? t->timeout_ms : 0);
        k_set_int(s, DescribeTransactionsResponse_TransactionState_TransactionStartTimeMs,
                  t && t->state == TS_ONGOING ? t->start_ms : -1);
        k_set_int(s, DescribeTransactionsResponse_TransactionState_ProducerId, t ? t->pid : -1);
        k_set_int(s, DescribeTransactionsResponse_TransactionState_ProducerEpoch,
                  t ? t->epoch : -1);
        /* topics with their partitions, in first-seen order */
        int nt = 0;
        for (int a = 0; t && a < t->nparts; a++) nt += first_of_topic(t, a);
        k_new_items(s, DescribeTransactionsResponse_TransactionState_Topics, nt);
        int k = 0;
        for (int a = 0; t && a < t->nparts; a++) {
            if (!first_of_topic(t, a)) continue;
            kmsg *td = k_item(s, DescribeTransactionsResponse_TransactionState_Topics, k++);
            k_set_str(td, TopicData_Topic, t->parts[a].topic);
            int np = 0;
            for (int c = a; c < t->nparts; c++) np += !strcmp(t->parts[c].topic, t->parts[a].topic);
            kval *pv = k_set_array(td, TopicData_Partitions, np);
            int j = 0;
            for (int c = a; c < t->nparts; c++)
                if (!strcmp(t->parts[c].topic, t->parts[a].topic)) pv[j++].i = t->parts[c].part;
        }
    }
    breq_done(r);
}

/* Does t pass ListTransactions' filters (its state among the known ones asked for, when any
 * were; its producer id among the np asked for, when any were; v1: started more than dur ms
 * ago, when dur >= 0, as Kafka compares: an Empty one's start is long ago)? */
static bool list_match(kmsg *q, const txn *t, bool any_state, const int *want, int32_t np,
                       int64_t dur, int64_t now)
{
    if (!any_state && !want[t->state]) return false;
    if (dur >= 0 && now - (t->start_ms > 0 ? t->start_ms : -1) <= dur) return false;
    if (np <= 0) return true;
    for (int32_t j = 0; j < np; j++)
        if (k_item_int(q, ListTransactionsRequest_ProducerIdFilters, j) == t->pid) return true;
    return false;
}

static void h_list_transactions(broker *b, breq *r)
{
    txn_coord *tc = tc_of(b);
    kmsg *q = r->req, *resp = r->resp;
    k_set_int(resp, ListTransactionsResponse_ThrottleTimeMs, 0);
    k_set_int(resp, ListTransactionsResponse_ErrorCode, tc ? 0 : KERR_COORDINATOR_NOT_AVAILABLE);
    int32_t ns = k_count(q, ListTransactionsRequest_StateFilters);
    int32_t np = k_count(q, ListTransactionsRequest_ProducerIdFilters);
    if (ns < 0) ns = 0;
    if (np < 0) np = 0;
    int want[8] = {0}, nunknown = 0;
    for (int32_t i = 0; i < ns; i++) {
        kstr s = k_item_str(q, ListTransactionsRequest_StateFilters, i);
        int st = s.len > 0 ? txn_state_parse((const char *)s.p, (size_t)s.len) : -1;
        if (st >= 0)
            want[st] = 1;
        else
            nunknown++;
    }
    kval *uv = k_set_array(resp, ListTransactionsResponse_UnknownStateFilters, nunknown);
    int u = 0;
    for (int32_t i = 0; i < ns; i++) {
        kstr s = k_item_str(q, ListTransactionsRequest_StateFilters, i);
        if (s.len <= 0 || txn_state_parse((const char *)s.p, (size_t)s.len) < 0) uv[u++].s = s;
    }
    bool any_state = ns == 0; /* only unknown states asked for: none matches, as in Kafka */
    int64_t dur = r->hdr.api_version >= 1 ? k_int(q, ListTransactionsRequest_DurationFilter) : -1;
    int64_t now = now_wall_ms();
    int n = 0;
    for (int i = 0; tc && i < tc->n; i++)
        n += list_match(q, tc->v[i], any_state, want, np, dur, now);
    k_new_items(resp, ListTransactionsResponse_TransactionStates, n);
    int k = 0;
    for (int i = 0; tc && i < tc->n && k < n; i++) {
        txn *t = tc->v[i];
        if (!list_match(q, t, any_state, want, np, dur, now)) continue;
        kmsg *s = k_item(resp, ListTransactionsResponse_TransactionStates, k++);
        k_set_str(s, ListTransactionsResponse_TransactionState_TransactionalId, t->id);
        k_set_int(s, ListTransactionsResponse_TransactionState_ProducerId, t->pid);
        k_set_str(s, ListTransactionsResponse_TransactionState_TransactionState,
                  txn_state_name(t->state));
    }
    breq_done(r);
}

/* ------------------------------------------------------------------ table ---- */

const bhandler_table txn_handlers = {
    [API_InitProducerId] = {0, 5, 0, h_init_pid},
    [API_AddPartitionsToTxn] = {0, 5, 0, h_add_partitions},
    [API_AddOffsetsToTxn] = {0, 4, 0, h_add_offsets},
    [API_EndTxn] = {0, 4, 0, h_end_txn},
    [API_DescribeTransactions] = {0, 0, 0, h_describe_transactions},
    [API_ListTransactions] = {0, 1, 0, h_list_transactions},
};
