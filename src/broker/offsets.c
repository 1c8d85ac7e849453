/* offsets — the ListOffsets API (v0–v11) and record-level timestamp lookup inside a batch.
 *
 *   -1 latest (HWM; the last stable offset for read_committed)
 *   -2 earliest (log start offset)
 *   -3 max timestamp (v7+): the first record carrying the largest timestamp
 *   -4 earliest local (v8+, KIP-405): the log start offset (eddyd has no remote tier)
 *   -5 latest tiered (v9+, KIP-1005): -1, what Kafka answers with no remote storage
 *   -6 earliest pending upload (v11+, KIP-1023): -1 likewise (Kafka's UnifiedLog without remote
 *      storage answers offset -1, no timestamp, as for -5)
 *   t >= 0: the first record whose timestamp >= t. plog finds the batch; the records of that
 *   batch are walked with the storage batch reader (decompressed when needed) to find it.
 *   v0 answers in old_style_offsets. v10's TimeoutMs bounds Kafka's remote-tier lookups: every
 *   answer here is immediate, so it is read and ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/authorize.h"
#include "broker/core.h"
#include "common/log.h"
#include "common/util.h"

/* ------------------------------------------------------------------ records ---- */

int records_find_time(const uint8_t *batch, size_t len, int64_t ts, int64_t *offset,
                      int64_t *timestamp)
{
    batch_info bi;
    if (batch_parse(batch, len, &bi) < 0 || (size_t)bi.total_len > len) return -1;
    if (bi.max_timestamp < ts) return 1;
    if (bi.attributes & BATCH_ATTR_LOG_APPEND_TIME) {
        /* every record carries the batch's append time */
        *offset = bi.base_offset;
        *timestamp = bi.max_timestamp;
        return 0;
    }
    batch_iter it;
    batch_record rec;
    int found = 1, n;
    if (batch_iter_init(&it, batch, len, BATCH_INFLATE_MAX) != BATCH_OK) {
        batch_iter_free(&it);
        return -2;
    }
    while ((n = batch_iter_next(&it, &rec)) > 0) {
        if (rec.timestamp >= ts) {
            *offset = rec.offset;
            *timestamp = rec.timestamp;
            found = 0;
            break;
        }
    }
    batch_iter_free(&it);
    return found;
}

/* ------------------------------------------------------------------ ListOffsets ---- */

/* Lookup by time from batch granularity down to the record. */
static int by_time(bpart *p, int64_t ts, int64_t *off, int64_t *rts)
{
    int64_t bo, bts;
    if (plog_offset_for_time(p->log, ts, &bo, &bts) < 0) return -1;
    *off = bo;
    *rts = bts;
    uint8_t *buf = NULL;
    int32_t len = 0;
    int64_t next;
    if (plog_read_copy(p->log, bo, 1, &buf, &len, &next) == 0 && len > 0) {
        int64_t o, t;
        if (records_find_time(buf, (size_t)len, ts, &o, &t) == 0) {
            *off = o < plog_start_offset(p->log) ? plog_start_offset(p->log) : o;
            *rts = t;
        }
    }
    free(buf);
    return 0;
}

/* ------------------------------------------------------------------ topic x partition walk ---- */

void tp_walk(broker *b, breq *r, const tp_fields *f, tp_fn *fn, void *arg)
{
    kmsg *q = r->req, *resp = r->resp;
    int32_t nt = k_new_like(resp, f->r_topics, q, f->q_topics);
    for (int32_t i = 0; i < nt; i++) {
        kmsg *tq = k_item(q, f->q_topics, i), *tr = k_item(resp, f->r_topics, i);
        kstr name = k_str(tq, f->q_name);
        k_set_kstr(tr, f->r_name, name);
        btopic *t = topic_find_k(b, name);
        bool ok =
            f->acl_op < 0 || bauthz_allowed_k(b, r, ACL_RES_TOPIC, name.p, name.len, f->acl_op);
        int32_t np = k_new_like(tr, f->r_parts, tq, f->q_parts);
        for (int32_t j = 0; j < np; j++) {
            tp_row row = {t, NULL, i, 0, 0, NULL, k_item(tr, f->r_parts, j)};
            if (f->q_index < 0) {
                row.idx = (int32_t)k_item_int(tq, f->q_parts, j);
            } else {
                row.pq = k_item(tq, f->q_parts, j);
                row.idx = (int32_t)k_int(row.pq, f->q_index);
            }
            k_set_int(row.pr, f->r_index, row.idx);
            row.p = ok ? topic_part(t, row.idx) : NULL;
            row.err = !ok      ? KERR_TOPIC_AUTHORIZATION_FAILED
                      : !row.p ? KERR_UNKNOWN_TOPIC_OR_PARTITION
                               : 0;
            fn(arg, &row);
        }
    }
}

typedef struct lo_ctx {
    int16_t v;
    int8_t iso;
} lo_ctx;

/* The offset (and timestamp) ListOffsets answers for partition p; 0 or a KERR_* code. */
static int list_offset(const lo_ctx *x, bpart *p, const kmsg *pq, int64_t *off, int64_t *rts)
{
    int64_t ts = k_int(pq, ListOffsetsPartition_Timestamp);
    if (x->v >= 4 && k_int(pq, ListOffsetsPartition_CurrentLeaderEpoch) > 0)
        return KERR_UNKNOWN_LEADER_EPOCH;
    if (ts == -1)
        *off = x->iso == 1 ? part_lso(p) : part_hwm(p); /* read_committed: the LSO */
    else if (ts == -2 || ts == -4)
        *off = plog_start_offset(p->log);
    else if (ts == -5 || (ts == -6 && x->v >= 11))
        *off = -1;
    else if (ts == -3) {
        int64_t bo, bts;
        if (plog_max_timestamp(p->log, &bo, &bts) == 0) {
            *off = bo;
            *rts = bts;
            int64_t o2, t2;
            if (by_time(p, bts, &o2, &t2) == 0 && t2 == bts) *off = o2;
        }
    } else if (ts >= 0) {
        if (by_time(p, ts, off, rts) < 0) *off = *rts = -1;
    } else {
        return KERR_INVALID_REQUEST;
    }
    return 0;
}

static void list_one(void *arg, const tp_row *row)
{
    const lo_ctx *x = arg;
    const kmsg *pq = row->pq;
    kmsg *pr = row->pr;
    int16_t v = x->v;
    int64_t off = -1, rts = -1;
    int err = row->err ? row->err : list_offset(x, row->p, pq, &off, &rts);
    k_set_int(pr, ListOffsetsPartitionResponse_ErrorCode, err);
    k_set_int(pr, ListOffsetsPartitionResponse_Timestamp, err ? -1 : rts);
    k_set_int(pr, ListOffsetsPartitionResponse_Offset, err ? -1 : off);
    k_set_int(pr, ListOffsetsPartitionResponse_LeaderEpoch, err || off < 0 ? -1 : 0);
    if (v == 0) {
        int64_t maxn = k_int(pq, ListOffsetsPartition_MaxNumOffsets);
        bool one = !err && off >= 0 && maxn > 0;
        kval *a = k_set_array(pr, ListOffsetsPartitionResponse_OldStyleOffsets, one ? 1 : 0);
        if (one) a[0].i = off;
    }
}

void h_list_offsets(broker *b, breq *r)
{
    static const tp_fields f = {
        .q_topics = ListOffsetsRequest_Topics,
        .r_topics = ListOffsetsResponse_Topics,
        .q_name = ListOffsetsTopic_Name,
        .r_name = ListOffsetsTopicResponse_Name,
        .q_parts = ListOffsetsTopic_Partitions,
        .r_parts = ListOffsetsTopicResponse_Partitions,
        .q_index = ListOffsetsPartition_PartitionIndex,
        .r_index = ListOffsetsPartitionResponse_PartitionIndex,
        .acl_op = ACL_OP_DESCRIBE,
    };
    int16_t v = r->hdr.api_version;
    lo_ctx x = {v, v >= 2 ? (int8_t)k_int(r->req, ListOffsetsRequest_IsolationLevel) : 0};
    k_set_int(r->resp, ListOffsetsResponse_ThrottleTimeMs, 0);
    tp_walk(b, r, &f, list_one, &x);
    breq_done(r);
}
