/* offsets — the ListOffsets API (v0–v7) and record-level timestamp lookup inside a batch.
 *
 *   -1 latest (HWM; the last stable offset for read_committed)
 *   -2 earliest (log start offset)
 *   -3 max timestamp (v7+): the first record carrying the largest timestamp
 *   t >= 0: the first record whose timestamp >= t. plog finds the batch; the records of that
 *   batch are walked with the storage batch reader (decompressed when needed) to find it.
 *   v0 answers in old_style_offsets.
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

void h_list_offsets(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    int8_t iso = v >= 2 ? (int8_t)k_int(q, ListOffsetsRequest_IsolationLevel) : 0;
    int32_t nt = k_count(q, ListOffsetsRequest_Topics);
    if (nt < 0) nt = 0;
    k_set_int(resp, ListOffsetsResponse_ThrottleTimeMs, 0);
    k_new_items(resp, ListOffsetsResponse_Topics, nt);
    for (int32_t i = 0; i < nt; i++) {
        kmsg *tq = k_item(q, ListOffsetsRequest_Topics, i),
             *tr = k_item(resp, ListOffsetsResponse_Topics, i);
        kstr name = k_str(tq, ListOffsetsTopic_Name);
        k_set_kstr(tr, ListOffsetsTopicResponse_Name, name);
        btopic *t = name.len > 0 ? topic_findn(b, (const char *)name.p, (size_t)name.len) : NULL;
        bool desc_ok = bauthz_allowed_k(b, r, ACL_RES_TOPIC, name.p, name.len, ACL_OP_DESCRIBE);
        int32_t np = k_count(tq, ListOffsetsTopic_Partitions);
        if (np < 0) np = 0;
        k_new_items(tr, ListOffsetsTopicResponse_Partitions, np);
        for (int32_t j = 0; j < np; j++) {
            kmsg *pq = k_item(tq, ListOffsetsTopic_Partitions, j),
                 *pr = k_item(tr, ListOffsetsTopicResponse_Partitions, j);
            int32_t idx = (int32_t)k_int(pq, ListOffsetsPartition_PartitionIndex);
            int64_t ts = k_int(pq, ListOffsetsPartition_Timestamp);
            k_set_int(pr, ListOffsetsPartitionResponse_PartitionIndex, idx);
            int err = 0;
            int64_t off = -1, rts = -1;
            bpart *p = (t && idx >= 0 && idx < t->nparts) ? t->parts[idx] : NULL;
            if (!desc_ok)
                err = KERR_TOPIC_AUTHORIZATION_FAILED;
            else if (!p)
                err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (v >= 4 && k_int(pq, ListOffsetsPartition_CurrentLeaderEpoch) > 0)
                err = KERR_UNKNOWN_LEADER_EPOCH;
            else if (ts == -1)
                off = iso == 1 ? part_lso(p) : part_hwm(p); /* read_committed: the LSO */
            else if (ts == -2)
                off = plog_start_offset(p->log);
            else if (ts == -3) {
                int64_t bo, bts;
                if (plog_max_timestamp(p->log, &bo, &bts) == 0) {
                    off = bo;
                    rts = bts;
                    int64_t o2, t2;
                    if (by_time(p, bts, &o2, &t2) == 0 && t2 == bts) off = o2;
                }
            } else if (ts >= 0) {
                if (by_time(p, ts, &off, &rts) < 0) off = rts = -1;
            } else {
                err = KERR_INVALID_REQUEST;
            }
            k_set_int(pr, ListOffsetsPartitionResponse_ErrorCode, err);
            k_set_int(pr, ListOffsetsPartitionResponse_Timestamp, err ? -1 : rts);
            k_set_int(pr, ListOffsetsPartitionResponse_Offset, err ? -1 : off);
            k_set_int(pr, ListOffsetsPartitionResponse_LeaderEpoch, err ? -1 : 0);
            if (v == 0) {
                int64_t maxn = k_int(pq, ListOffsetsPartition_MaxNumOffsets);
                bool one = !err && off >= 0 && maxn > 0;
                kval *a =
                    k_set_array(pr, ListOffsetsPartitionResponse_OldStyleOffsets, one ? 1 : 0);
                if (one) a[0].i = off;
            }
        }
    }
    breq_done(r);
}
