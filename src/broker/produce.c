/* produce — the Produce API (v0–v11) and acks=all group commit.
 *
 * v0–v2 carry legacy message sets (magic 0/1): up_convert turns one into a RecordBatch v2
 * (storage/msgset.c) that then takes the v3+ path below, as Kafka's LogValidator converts on
 * append. A v2 batch in a v0–v2 request is taken as it is (Kafka does not check the magic
 * there either).
 *
 * Per partition: exactly one RecordBatch v2, validated (batch_validate), size-checked against
 * the topic's max.message.bytes, idempotence-checked (producers.c), stamped for LogAppendTime
 * topics, appended (part_append); a transactional batch (request with a transactional id)
 * opens its producer's transaction on the partition (txnlog.c). Control batches from clients
 * are refused by batch_validate. acks=0: no answer; acks=1: answered after the write;
 * acks=-1: the request is parked until the flusher reports every touched partition durable up
 * to the end of our batch (produce_on_flush, called from the flusher's eventfd).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/authorize.h"
#include "broker/core.h"
#include "common/log.h"
#include "common/util.h"
#include "storage/msgset.h"

char *core_kdup(breq *r, kstr s)
{
    if (s.len < 0) return NULL;
    char *d = karena_alloc(r->arena, (size_t)s.len + 1);
    if (s.len) memcpy(d, s.p, (size_t)s.len);
    d[s.len] = 0;
    return d;
}

/* An end-transaction marker from the transaction coordinator (src/txn). */
int part_write_marker(broker *b, bpart *p, int64_t pid, int16_t epoch, bool commit,
                      int32_t coordinator_epoch, int64_t *offset)
{
    size_t len;
    uint8_t *batch =
        batch_build_control(pid, epoch, commit, coordinator_epoch, now_wall_ms(), &len);
    int64_t base = -1;
    int rc = part_append(b, p, batch, len, &base);
    free(batch);
    if (rc) return rc;
    ptxn_on_marker(p, pid, commit, base);
    producers_fence(p, pid, epoch);
    if (offset) *offset = base;
    return 0;
}

/* Produce v0–v2: the message set `rec` as one RecordBatch v2 in *owned (rec repointed to it).
 * The batch keeps the producer's codec (compressed again below unless compression.type says
 * otherwise). Returns 0 or CORRUPT_MESSAGE (the only record error these versions know). */
static int up_convert(const btopic *t, kstr *rec, uint8_t **owned, int *codec, const char **why)
{
    if ((size_t)rec->len > 16 && rec->p[16] == 2) return 0; /* already a v2 batch */
    uint8_t *out = NULL;
    size_t olen = 0;
    int magic = 0;
    int rc = msgset_to_batch(rec->p, (size_t)rec->len, batch_inflate_cap(t->cfg.max_message_bytes),
                             &out, &olen, codec, &magic);
    if (rc != MSGSET_OK) {
        *why = msgset_strerror(rc);
        return KERR_CORRUPT_MESSAGE;
    }
    *owned = out;
    rec->p = out;
    rec->len = (int32_t)olen;
    return 0;
}

/* A parked acks=all produce: partitions (by name, so a topic deleted meanwhile is harmless)
 * and the end offset each must reach on disk. */
typedef struct pwait {
    const char *topic;
    int32_t part;
    int64_t need;
} pwait;

typedef struct pparked {
    breq *r;
    pwait *w;
    int nw;
    struct pparked *next;
} pparked;

static pparked *g_parked;


/* Every record of the batch, decompressed if need be (within batch_inflate_cap of the topic's
 * max.message.bytes), as Kafka's LogValidator does on append: lengths, varints, header counts,
 * offset deltas, the record count, timestamps. A bad record is INVALID_RECORD (87) naming its
 * index in RecordErrors; compressed bytes that do not decode are CORRUPT_MESSAGE (2). Produce
 * before v8 has no INVALID_RECORD for clients (nor RecordErrors): 2 there. A CreateTime batch
 * whose maxTimestamp disagrees with its records gets the records' maximum (Kafka rewrites it
 * too), so time lookups stay right. Returns 0 or the error code. */
static int check_records(uint8_t *bp, size_t len, const btopic *t, batch_info *bi, int16_t v,
                         int32_t *bad_rec, const char **why)
{
    int64_t max_ts;
    int rc = batch_check_records(bp, len, batch_inflate_cap(t->cfg.max_message_bytes), bad_rec, why,
                                 &max_ts);
    if (rc == BATCH_OK) {
        if (!(bi->attributes & BATCH_ATTR_LOG_APPEND_TIME) && max_ts != bi->max_timestamp) {
            batch_set_max_timestamp(bp, len, max_ts);
            bi->max_timestamp = max_ts;
        }
        return 0;
    }
    if (!*why) *why = batch_strerror(rc);
    if (rc == BATCH_ERR_CORRUPT || rc == BATCH_ERR_CODEC) return KERR_CORRUPT_MESSAGE;
    return v >= 8 ? KERR_INVALID_RECORD : KERR_CORRUPT_MESSAGE;
}

/* Kafka's LogValidator.validateKey: a compacted topic takes no record without a key. Returns
 * how many records of the batch (already checked by check_records) have a null key, their
 * indexes in *out (malloc'd; the caller frees), so every one of them goes into RecordErrors:
 * librdkafka fails exactly those with INVALID_RECORD and the batch's others with
 * _INVALID_DIFFERENT_RECORD (its suite's 0011). */
static int keyless_records(const uint8_t *bp, size_t len, const btopic *t, int32_t **out)
{
    batch_iter it;
    batch_record rec;
    int n = 0, cap = 0;
    *out = NULL;
    if (batch_iter_init(&it, bp, len, batch_inflate_cap(t->cfg.max_message_bytes)) != BATCH_OK)
        return 0;
    while (batch_iter_next(&it, &rec) == 1) {
        if (rec.key_len >= 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            int32_t *g = realloc(*out, (size_t)cap * sizeof **out);
            if (!g) break;
            *out = g;
        }
        (*out)[n++] = rec.index;
    }
    batch_iter_free(&it);
    return n;
}

/* Validates and appends one partition's records. Fills the partition response. Returns the
 * end offset to wait for (acks=all) or -1. */
static int64_t produce_one(broker *b, breq *r, btopic *t, int32_t idx, kstr rec, kmsg *pr, bool txn,
                           int64_t acks)
{
    uint8_t *owned = NULL; /* the batch recompressed for compression.type */
    uint8_t *conv = NULL;  /* v0–v2: the message set up-converted */
    int src_codec = 0;     /* v0–v2: the wrappers' codec */
    int16_t v = r->hdr.api_version;
    int err = 0;
    int64_t base = -1, lat = -1, need = -1;
    bpart *p = NULL;
    batch_info bi;
    int32_t bad_rec = -1;    /* RecordErrors[0].BatchIndex when >= 0 */
    const char *why = NULL;  /* ErrorMessage */
    int32_t *keyless = NULL; /* RecordErrors of a compacted topic: the records without a key */
    int nkeyless = 0;
    char whybuf[320];
    if (!t || idx < 0 || idx >= t->nparts) {
        err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        goto out;
    }
    p = t->parts[idx];
    if (acks == -1 && t->cfg.min_insync_replicas > 1) {
        /* Kafka's answer when the ISR (this one node) is smaller than min.insync.replicas */
        err = KERR_NOT_ENOUGH_REPLICAS;
        why = "the in-sync replicas (1) are fewer than min.insync.replicas";
        goto out;
    }
    if (t->internal) {
        err = KERR_INVALID_TOPIC_EXCEPTION; /* clients may not write internal topics */
        goto out;
    }
    if (rec.len <= 0) {
        err = v < 3 ? KERR_CORRUPT_MESSAGE : KERR_INVALID_RECORD; /* v0–v2 know no 87 */
        goto out;
    }
    if ((int64_t)rec.len > (int64_t)t->cfg.max_message_bytes) {
        err = KERR_MESSAGE_TOO_LARGE;
        goto out;
    }
    if (v < 3) {
        err = up_convert(t, &rec, &conv, &src_codec, &why);
        if (err) goto out;
    }
    uint8_t *bp = (uint8_t *)rec.p; /* the request frame is ours to rewrite in place */
    if (batch_parse(bp, (size_t)rec.len, &bi) == 0 && bi.magic == 2 && bi.total_len < rec.len) {
        err = KERR_INVALID_RECORD; /* more than one batch */
        goto out;
    }
    int vr = batch_validate(bp, (size_t)rec.len, &bi);
    if (vr == BATCH_ERR_CRC || vr == BATCH_ERR_SHORT) {
        err = KERR_CORRUPT_MESSAGE;
        goto out;
    }
    if (vr != BATCH_OK) {
        err = KERR_INVALID_RECORD;
        goto out;
    }
    int codec = bi.attributes & BATCH_ATTR_COMPRESSION;
    if (codec > 4) {
        err = KERR_CORRUPT_MESSAGE;
        goto out;
    }
    if (codec == 4 && v < 7) {
        err = KERR_UNSUPPORTED_COMPRESSION_TYPE;
        goto out;
    }
    if ((bi.attributes & BATCH_ATTR_TRANSACTIONAL) && (bi.producer_id < 0 || !txn)) {
        /* a transactional batch needs a producer id and the request's transactional id */
        err = KERR_INVALID_RECORD;
        why = "transactional batch without a producer id or transactional id";
        goto out;
    }
    if (bi.producer_id >= 0 && bi.base_sequence < 0) {
        err = KERR_INVALID_RECORD;
        goto out;
    }
    err = check_records(bp, (size_t)rec.len, t, &bi, v, &bad_rec, &why);
    if (err) goto out;
    if ((t->cfg.log.cleanup_policy & PLOG_CLEANUP_COMPACT) &&
        (nkeyless = keyless_records(bp, (size_t)rec.len, t, &keyless)) > 0) {
        err = v >= 8 ? KERR_INVALID_RECORD : KERR_CORRUPT_MESSAGE;
        snprintf(whybuf, sizeof whybuf,
                 "Compacted topic cannot accept message without key in topic partition %s-%d.",
                 t->name, idx);
        why = whybuf;
        goto out;
    }
    if (!t->cfg.log_append_time && !(bi.attributes & BATCH_ATTR_LOG_APPEND_TIME)) {
        /* message.timestamp.(before|after|difference).max.ms on the batch's first and largest
         * timestamps */
        int64_t now = now_wall_ms();
        int64_t before = MIN(t->cfg.ts_before_max_ms, t->cfg.ts_diff_max_ms);
        int64_t after = MIN(t->cfg.ts_after_max_ms, t->cfg.ts_diff_max_ms);
        int64_t lo = MIN(bi.base_timestamp, bi.max_timestamp), hi = bi.max_timestamp;
        /* differences, not sums: a bound near INT64_MAX must not overflow */
        bool too_old = lo >= 0 && now - lo > before, too_new = hi >= 0 && hi - now > after;
        if (too_old || too_new) {
            err = KERR_INVALID_TIMESTAMP;
            why = too_old ? "timestamp is older than message.timestamp.before.max.ms allows"
                          : "timestamp is further ahead than message.timestamp.after.max.ms allows";
            goto out;
        }
    }
    int64_t dup = -1;
    int pc = producers_check(p, &bi, &dup);
    if (pc == PID_DUPLICATE) {
        base = dup;
        need = dup + bi.last_offset_delta + 1;
        LOGD("produce",
             "%s-%d: duplicate batch of producer %" PRId64 " seq %d (offset %" PRId64 ")", t->name,
             idx, bi.producer_id, bi.base_sequence, dup);
        goto out;
    }
    if (pc != PID_APPEND) {
        err = pc;
        goto out;
    }
    /* compression.type other than producer: store the records in the topic's codec; a message
     * set up-converted from compressed wrappers: in the producer's codec */
    int target = t->cfg.compression >= 0 ? t->cfg.compression : conv ? src_codec : codec;
    if (target != codec) {
        int lvl = target == BATCH_CODEC_GZIP  ? t->cfg.gzip_level
                  : target == BATCH_CODEC_LZ4 ? t->cfg.lz4_level
                                              : t->cfg.zstd_level;
        size_t olen = 0;
        int rc = batch_recompress(bp, (size_t)rec.len, target, lvl,
                                  batch_inflate_cap(t->cfg.max_message_bytes), &owned, &olen);
        if (rc != BATCH_OK) {
            err = KERR_CORRUPT_MESSAGE;
            why = batch_strerror(rc);
            goto out;
        }
        bp = owned;
        rec.len = (int32_t)olen;
        if ((int64_t)olen > (int64_t)t->cfg.max_message_bytes) {
            err = KERR_MESSAGE_TOO_LARGE; /* Kafka checks the batch it would store */
            why = "the batch recompressed for compression.type exceeds max.message.bytes";
            goto out;
        }
    }
    if (t->cfg.log_append_time) {
        lat = now_wall_ms();
        batch_set_log_append_time(bp, (size_t)rec.len, lat);
    }
    err = part_append(b, p, bp, (size_t)rec.len, &base);
    if (err) {
        base = -1;
        lat = -1;
        goto out;
    }
    producers_record(p, &bi, base);
    ptxn_on_append(p, &bi, base);
    need = base + bi.last_offset_delta + 1;
out:
    free(owned);
    free(conv);
    k_set_int(pr, PartitionProduceResponse_ErrorCode, err);
    k_set_int(pr, PartitionProduceResponse_BaseOffset, err ? -1 : base);
    k_set_int(pr, PartitionProduceResponse_LogAppendTimeMs, err ? -1 : lat);
    k_set_int(pr, PartitionProduceResponse_LogStartOffset,
              (p && !err) ? plog_start_offset(p->log) : -1);
    if (v >= 8) {
        if (nkeyless > 0) {
            k_new_items(pr, PartitionProduceResponse_RecordErrors, nkeyless);
            for (int i = 0; i < nkeyless; i++) {
                kmsg *re = k_item(pr, PartitionProduceResponse_RecordErrors, i);
                k_set_int(re, BatchIndexAndErrorMessage_BatchIndex, keyless[i]);
                k_set_str(re, BatchIndexAndErrorMessage_BatchIndexErrorMessage, why);
            }
        } else if (bad_rec >= 0) {
            kmsg *re = k_new_items(pr, PartitionProduceResponse_RecordErrors, 1);
            k_set_int(re, BatchIndexAndErrorMessage_BatchIndex, bad_rec);
            k_set_str(re, BatchIndexAndErrorMessage_BatchIndexErrorMessage, why);
        } else {
            k_set_array(pr, PartitionProduceResponse_RecordErrors, 0);
        }
        k_set_str(pr, PartitionProduceResponse_ErrorMessage, err ? why : NULL);
    }
    if (err && why)
        LOGD("produce", "%s-%d: batch refused (error %d): %s", t ? t->name : "?", idx, err, why);
    free(keyless);
    return err ? -1 : need;
}

static bool parked_durable(broker *b, pparked *pp)
{
    if (!b->flusher) return true;
    for (int i = 0; i < pp->nw; i++) {
        btopic *t = topic_find(b, pp->w[i].topic);
        if (!t || pp->w[i].part >= t->nparts) continue;
        if (plog_durable_offset(t->parts[pp->w[i].part]->log) < pp->w[i].need) return false;
    }
    return true;
}

void produce_on_flush(broker *b)
{
    if (!b->flusher) fetch_finish_all(b); /* shutdown: long polls end now too */
    pparked **pp = &g_parked;
    while (*pp) {
        pparked *x = *pp;
        if (parked_durable(b, x)) {
            *pp = x->next;
            breq *r = x->r;
            free(x->w);
            free(x);
            breq_done(r);
        } else {
            pp = &x->next;
        }
    }
}

/* v12 is v11 on the wire (Kafka 4.0, KIP-890 part 2): it only means an implicit
 * AddPartitionsToTxn with transaction.version 2, which eddyd does not finalize, so clients keep
 * transactional produce at v11 and v12 is answered as v11. v13 (KIP-516) names topics by
 * TopicId: resolved to the topic it names now (never auto-created); an unknown or zero id is
 * UNKNOWN_TOPIC_ID on each of its partitions, and the response carries the id asked for. */
void h_produce(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    int64_t acks = k_int(q, ProduceRequest_Acks);
    int32_t nt = k_new_like(resp, ProduceResponse_Responses, q, ProduceRequest_TopicData);
    k_set_int(resp, ProduceResponse_ThrottleTimeMs, 0);
    bool bad_acks = acks != -1 && acks != 0 && acks != 1;
    kstr tid = k_str(q, ProduceRequest_TransactionalId);
    /* an empty transactional id, or one with NUL/control characters, names no transaction */
    bool bad_tid = tid.len == 0 || (tid.len > 0 && has_ctl_chars(tid.p, (size_t)tid.len));
    bool tid_denied =
        !bad_tid && tid.len > 0 &&
        !bauthz_allowed_k(b, r, ACL_RES_TRANSACTIONAL_ID, tid.p, tid.len, ACL_OP_WRITE);
    pwait *waits = NULL;
    int nw = 0, aw = 0;
    double bytes = 0;
    for (int32_t i = 0; i < nt; i++) {
        kmsg *td = k_item(q, ProduceRequest_TopicData, i);
        kmsg *tr = k_item(resp, ProduceResponse_Responses, i);
        bool by_id = r->hdr.api_version >= 13;
        btopic *idt = NULL;
        kstr name;
        if (by_id) {
            const uint8_t *id = k_uuid(td, TopicProduceData_TopicId);
            k_set_uuid(tr, TopicProduceResponse_TopicId, id);
            idt = topic_find_id(b, id);
            name = idt ? (kstr){(const uint8_t *)idt->name, (int32_t)strlen(idt->name)}
                       : (kstr){(const uint8_t *)"", 0};
        } else {
            name = k_str(td, TopicProduceData_Name);
            k_set_kstr(tr, TopicProduceResponse_Name, name);
        }
        bool unknown_id = by_id && !idt;
        int32_t np = k_new_like(tr, TopicProduceResponse_PartitionResponses, td,
                                TopicProduceData_PartitionData);
        btopic *t = NULL;
        bool name_ok = name.len > 0 && topic_name_valid((const char *)name.p, (size_t)name.len);
        bool write_ok =
            name_ok && bauthz_allowed_k(b, r, ACL_RES_TOPIC, name.p, name.len, ACL_OP_WRITE);
        if (!bad_acks && !bad_tid && by_id && write_ok) {
            t = idt;
        } else if (!bad_acks && !bad_tid && name_ok && write_ok) {
            t = topic_findn(b, (const char *)name.p, (size_t)name.len);
            if (!t && bauthz_may_create(b, r, name.p, name.len))
                t = topic_auto_create(b, (const char *)name.p, (size_t)name.len);
        }
        for (int32_t j = 0; j < np; j++) {
            kmsg *pd = k_item(td, TopicProduceData_PartitionData, j);
            kmsg *pr = k_item(tr, TopicProduceResponse_PartitionResponses, j);
            int32_t idx = (int32_t)k_int(pd, PartitionProduceData_Index);
            k_set_int(pr, PartitionProduceResponse_Index, idx);
            int preset = 0;
            if (bad_acks)
                preset = KERR_INVALID_REQUIRED_ACKS;
            else if (bad_tid)
                preset = KERR_INVALID_REQUEST;
            else if (tid_denied)
                preset = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
            else if (unknown_id)
                preset = KERR_UNKNOWN_TOPIC_ID;
            else if (!name_ok)
                preset = KERR_INVALID_TOPIC_EXCEPTION;
            else if (!write_ok)
                preset = KERR_TOPIC_AUTHORIZATION_FAILED;
            bytes += (double)MAX(k_str(pd, PartitionProduceData_Records).len, 0);
            if (preset) {
                k_set_int(pr, PartitionProduceResponse_ErrorCode, preset);
                k_set_int(pr, PartitionProduceResponse_BaseOffset, -1);
                k_set_int(pr, PartitionProduceResponse_LogAppendTimeMs, -1);
                k_set_int(pr, PartitionProduceResponse_LogStartOffset, -1);
                if (r->hdr.api_version >= 8) {
                    k_set_array(pr, PartitionProduceResponse_RecordErrors, 0);
                    k_set_str(pr, PartitionProduceResponse_ErrorMessage, NULL);
                }
                continue;
            }
            int64_t need = produce_one(b, r, t, idx, k_str(pd, PartitionProduceData_Records), pr,
                                       tid.len > 0, acks);
            if (need >= 0 && acks == -1 && b->flusher) {
                bpart *p = t->parts[idx];
                flusher_request(b->flusher, p->log, need);
                if (plog_durable_offset(p->log) < need) {
                    if (nw == aw) {
                        aw = aw ? aw * 2 : 4;
                        waits = xrealloc(waits, (size_t)aw * sizeof *waits);
                    }
                    waits[nw].topic = karena_strdup(r->arena, t->name);
                    waits[nw].part = idx;
                    waits[nw].need = need;
                    nw++;
                }
            }
        }
    }
    k_set_int(resp, ProduceResponse_ThrottleTimeMs, bquota_record(b, r, QUOTA_PRODUCE, bytes));
    if (acks == 0) {
        free(waits);
        breq_done_noreply(r);
        return;
    }
    if (nw == 0) {
        free(waits);
        breq_done(r);
        return;
    }
    pparked *pp = xcalloc(1, sizeof *pp);
    pp->r = r;
    pp->w = waits;
    pp->nw = nw;
    pp->next = g_parked;
    g_parked = pp;
}
