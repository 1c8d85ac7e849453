/* fetch — the Fetch API (v0–v18): zero-copy reads (plog file slices carried to the socket as
 * kfile_frag, sent with sendfile by server.c) and the long poll. isolation_level=1
 * (read_committed) reads stop at the last stable offset and carry the aborted transactions of
 * the returned range (txnlog.c).
 *
 * A fetch is answered at once when the readable bytes reach min_bytes or a partition has an
 * error; otherwise it parks: a waiter on every requested partition (part_wait) plus a loop
 * timer for max_wait_ms. An append flags the waiter and schedules a 0 ms timer that re-checks
 * the fetch on the next loop turn (waiters never finish inside part_append's walk). Partitions
 * are looked up by name on every check, so topics deleted meanwhile are answered with
 * UNKNOWN_TOPIC_OR_PARTITION instead of touching freed memory.
 *
 * v13+ name topics by id (KIP-516): the id is resolved on every check as names are, an unknown
 * id is answered with UNKNOWN_TOPIC_ID and every topic response carries the id it was asked for.
 * v15's ReplicaState and v17's ReplicaDirectoryId are the replication protocol's (eddyd has no
 * followers: read as a consumer's); v16's NodeEndpoints go with NOT_LEADER_OR_FOLLOWER, which
 * one node never answers, so they stay empty.
 *
 * Sessions (KIP-227) are never created: session_id 0 in every answer; a non-zero unknown id ->
 * FETCH_SESSION_ID_NOT_FOUND.
 *
 * Fetch v0–v3 predate RecordBatch v2, so their answers are message sets
 * down-converted from the stored batches in memory (old_records; magic 0 for v0–v1, magic 1
 * for v2–v3; a compressed batch as one wrapper of its codec), without control batches,
 * read_uncommitted (those versions have no isolation level).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/core.h"
#include "broker/authorize.h"
#include "common/log.h"
#include "common/util.h"
#include "storage/msgset.h"

typedef struct fpark fpark;

typedef struct fpart {
    kstr topic;
    const uint8_t *id; /* v13+: the topic id asked for (in the request), else NULL */
    int32_t part;
    int64_t offset;
    int32_t pmax;
    int32_t leader_epoch;
    bool denied; /* no Read on the topic: TOPIC_AUTHORIZATION_FAILED */
    bwaiter w;
    fpark *fp;
} fpart;

typedef struct ftopic {
    kstr name;
    const uint8_t *id; /* v13+ */
    int first, n;      /* range in fpark.parts */
} ftopic;

struct fpark {
    broker *b;
    breq *r;
    fpart *parts;
    int nparts;
    ftopic *topics;
    int ntopics;
    int32_t min_bytes, max_bytes;
    int8_t isolation;
    loop_timer *timeout, *recheck;
    /* fds of file fragments built for an answer we then decided not to send */
    int *fds;
    int nfds, afds;
    fpark *prev, *next; /* every parked fetch (for shutdown) */
    bool parked;
};

static fpark *g_parked;

/* Fetch v0–v3 answers are built in memory: at most this many bytes of them per request (the
 * first partition's first message may exceed it, as KIP-74 allows). */
#define OLD_FETCH_MAX_BYTES (64 << 20)

static void unlink_parked(fpark *fp)
{
    if (!fp->parked) return;
    if (fp->prev)
        fp->prev->next = fp->next;
    else
        g_parked = fp->next;
    if (fp->next) fp->next->prev = fp->prev;
    fp->prev = fp->next = NULL;
    fp->parked = false;
}

static void fp_free(fpark *fp)
{
    unlink_parked(fp);
    for (int i = 0; i < fp->nparts; i++) part_unwait(&fp->parts[i].w);
    if (fp->timeout) loop_timer_cancel(fp->b->loop, fp->timeout);
    if (fp->recheck) loop_timer_cancel(fp->b->loop, fp->recheck);
    free(fp->parts);
    free(fp->topics);
    free(fp->fds);
    free(fp);
}

static void drop_frags(fpark *fp)
{
    for (int i = 0; i < fp->nfds; i++) close(fp->fds[i]);
    fp->nfds = 0;
}

static void keep_fd(fpark *fp, int fd)
{
    if (fp->nfds == fp->afds) {
        fp->afds = fp->afds ? fp->afds * 2 : 8;
        fp->fds = xrealloc(fp->fds, (size_t)fp->afds * sizeof *fp->fds);
    }
    fp->fds[fp->nfds++] = fd;
}

static bpart *lookup(broker *b, const fpart *x)
{
    btopic *t = x->id ? topic_find_id(b, x->id)
                      : topic_findn(b, (const char *)x->topic.p,
                                    (size_t)(x->topic.len < 0 ? 0 : x->topic.len));
    if (!t || x->part < 0 || x->part >= t->nparts) return NULL;
    return t->parts[x->part];
}

/* Cheap pre-check without reading: is anything readable, or is there an error? */
static void probe(fpark *fp, bool *data, bool *error)
{
    *data = *error = false;
    for (int i = 0; i < fp->nparts; i++) {
        fpart *x = &fp->parts[i];
        bpart *p = x->denied ? NULL : lookup(fp->b, x);
        if (!p || x->leader_epoch > 0) {
            *error = true;
            continue;
        }
        int64_t hwm = part_hwm(p), start = plog_start_offset(p->log);
        int64_t upto = fp->isolation == 1 ? part_lso(p) : hwm;
        if (x->offset > hwm || x->offset < start)
            *error = true;
        else if (x->offset < upto)
            *data = true;
    }
}

/* Ends slice s before the first batch at or after `upto` (the LSO, always a batch boundary),
 * reading the batch headers from its file. */
static void cut_at(plog_slice *s, int64_t upto)
{
    int64_t pos = s->file_pos, stop = s->file_pos + s->len;
    int64_t next = -1;
    while (pos + BATCH_LOG_OVERHEAD <= stop) {
        uint8_t h[BATCH_HEADER_SIZE];
        ssize_t n = pread(s->fd, h, sizeof h, pos);
        batch_info bi;
        if (n != (ssize_t)sizeof h || batch_parse(h, sizeof h, &bi) < 0 ||
            bi.total_len < BATCH_HEADER_SIZE || bi.base_offset >= upto)
            break;
        pos += bi.total_len;
        next = bi.base_offset + bi.last_offset_delta + 1;
    }
    s->len = (int32_t)(pos - s->file_pos);
    if (next >= 0) s->next_offset = next;
}

/* read_committed: the aborted transactions overlapping [from, upto) of p, so the client drops
 * their records. */
static void add_aborted(kmsg *pr, bpart *p, int64_t from, int64_t upto)
{
    int n = ptxn_aborted_between(p, from, upto, NULL, INT32_MAX);
    ptxn_aborted *ab = xcalloc((size_t)(n ? n : 1), sizeof *ab);
    n = ptxn_aborted_between(p, from, upto, ab, n);
    k_new_items(pr, PartitionData_AbortedTransactions, n);
    for (int i = 0; i < n; i++) {
        kmsg *e = k_item(pr, PartitionData_AbortedTransactions, i);
        k_set_int(e, AbortedTransaction_ProducerId, ab[i].pid);
        k_set_int(e, AbortedTransaction_FirstOffset, ab[i].first);
    }
    free(ab);
}

/* Fetch v0–v3: the records of p from x->offset, below upto, as a legacy message set in the
 * response (arena memory), read from slice s (consumed: its fd is closed) and the slices after
 * it until something converts or the data ends. At most lim bytes of whole messages; when not
 * even the first fits, v3 sends it whole (KIP-74's rule) and v0–v2 send its first lim bytes, a
 * partial message (Kafka's hard limit there: the client sees it is too big for its fetch
 * size). Returns the bytes placed, or -1 with the partition's error set. */
static int64_t old_records(fpark *fp, kmsg *pr, bpart *p, const fpart *x, plog_slice *s,
                           int64_t lim, int64_t upto, bool first, int64_t *next_out)
{
    int16_t v = fp->r->hdr.api_version;
    int magic = v >= 2 ? 1 : 0;
    wbuf w;
    wbuf_init(&w, 0);
    int64_t next = x->offset;
    int rc = 0;
    bool full = false;
    for (;;) {
        uint8_t *buf = xmalloc((size_t)s->len);
        ssize_t got = pread(s->fd, buf, (size_t)s->len, s->file_pos);
        close(s->fd);
        s->fd = -1;
        if (got != (ssize_t)s->len) {
            free(buf);
            rc = -1;
            break;
        }
        int64_t from = next;
        rc = msgset_from_batches(&w, 0, buf, (size_t)s->len, from, upto, magic, (size_t)lim,
                                 v >= 3 && first, &next, &full);
        if (rc == 0 && full && v < 3 && lim >= x->pmax) {
            /* not even one message fits the partition's limit: a partial one (when the
             * response's cap is what stops it, nothing: the client asks again) */
            bool f2;
            int64_t n2 = from;
            rc = msgset_from_batches(&w, 0, buf, (size_t)s->len, from, upto, magic, (size_t)lim,
                                     true, &n2, &f2);
            if (rc > 0 && (int64_t)w.len > lim) w.len = (size_t)lim;
            rc = rc > 0 ? 0 : rc;
        }
        free(buf);
        if (rc < 0 || full || w.len > 0 || next >= upto || next <= from) break;
        /* only control batches or records below the offset so far: read on */
        if (plog_read(p->log, next, (int32_t)lim, s) < 0 || s->len <= 0) {
            if (s->fd >= 0) close(s->fd);
            s->fd = -1;
            break;
        }
    }
    if (rc < 0) {
        wbuf_free(&w);
        k_set_int(pr, PartitionData_ErrorCode, KERR_CORRUPT_MESSAGE);
        return -1;
    }
    if (w.len) {
        uint8_t *m = karena_alloc(fp->r->arena, w.len);
        memcpy(m, w.data, w.len);
        k_set_ref(pr, PartitionData_Records, m, (int32_t)w.len);
    }
    int64_t n = (int64_t)w.len;
    wbuf_free(&w);
    *next_out = next;
    return n;
}

/* Fills the response tree. Returns the bytes of records placed in it; *error if any partition
 * got an error. with_data=false: every partition gets empty records (dropped connection). */
static int64_t build(fpark *fp, bool with_data, bool *error, bool count)
{
    broker *b = fp->b;
    kmsg *resp = fp->r->resp;
    *error = false;
    k_set_int(resp, FetchResponse_ThrottleTimeMs, 0);
    k_set_int(resp, FetchResponse_ErrorCode, 0);
    k_set_int(resp, FetchResponse_SessionId, 0);
    k_new_items(resp, FetchResponse_Responses, fp->ntopics);
    int64_t total = 0;
    int64_t remaining = fp->max_bytes > 0 ? fp->max_bytes : INT32_MAX;
    for (int ti = 0; ti < fp->ntopics; ti++) {
        ftopic *ft = &fp->topics[ti];
        kmsg *tr = k_item(resp, FetchResponse_Responses, ti);
        if (ft->id) /* v13+: the name (t->name, freed if the topic goes) is not sent */
            k_set_uuid(tr, FetchableTopicResponse_TopicId, ft->id);
        else
            k_set_kstr(tr, FetchableTopicResponse_Topic, ft->name);
        k_new_items(tr, FetchableTopicResponse_Partitions, ft->n);
        for (int j = 0; j < ft->n; j++) {
            fpart *x = &fp->parts[ft->first + j];
            kmsg *pr = k_item(tr, FetchableTopicResponse_Partitions, j);
            k_set_int(pr, PartitionData_PartitionIndex, x->part);
            k_set_int(pr, PartitionData_PreferredReadReplica, -1);
            k_set_null(pr, PartitionData_AbortedTransactions);
            k_set_ref(pr, PartitionData_Records, "", 0);
            bpart *p = x->denied ? NULL : lookup(b, x);
            int err = 0;
            int64_t hwm = -1, start = -1, lso = -1;
            if (x->denied)
                err = KERR_TOPIC_AUTHORIZATION_FAILED;
            else if (!p)
                err = x->id && !topic_find_id(b, x->id) ? KERR_UNKNOWN_TOPIC_ID
                                                        : KERR_UNKNOWN_TOPIC_OR_PARTITION;
            else {
                hwm = part_hwm(p);
                lso = part_lso(p);
                start = plog_start_offset(p->log);
                if (x->leader_epoch > 0)
                    err = KERR_UNKNOWN_LEADER_EPOCH;
                else if (x->offset > hwm || x->offset < start)
                    err = KERR_OFFSET_OUT_OF_RANGE;
            }
            k_set_int(pr, PartitionData_ErrorCode, err);
            k_set_int(pr, PartitionData_HighWatermark, hwm);
            k_set_int(pr, PartitionData_LastStableOffset, lso);
            k_set_int(pr, PartitionData_LogStartOffset, start);
            if (fp->isolation == 1) k_set_array(pr, PartitionData_AbortedTransactions, 0);
            if (err) {
                *error = true;
                continue;
            }
            int64_t upto = fp->isolation == 1 ? lso : hwm; /* read_committed: up to the LSO */
            if (!with_data || x->offset >= upto) continue;
            if (total > 0 && remaining <= 0) continue;
            int64_t lim = x->pmax > 0 ? x->pmax : 1;
            if (lim > remaining) lim = remaining > 0 ? remaining : 1;
            plog_slice s;
            int rc = plog_read(p->log, x->offset, (int32_t)lim, &s);
            if (rc < 0) {
                /* -EBADMSG: the offset is in a batch the scrub quarantined (damaged on disk) */
                k_set_int(pr, PartitionData_ErrorCode,
                          rc == -ERANGE    ? KERR_OFFSET_OUT_OF_RANGE
                          : rc == -EBADMSG ? KERR_CORRUPT_MESSAGE
                                           : KERR_KAFKA_STORAGE_ERROR);
                *error = true;
                continue;
            }
            if (s.len > 0 && s.next_offset > upto) cut_at(&s, upto);
            if (s.len <= 0) {
                if (s.fd >= 0) close(s.fd);
                continue;
            }
            if (total > 0 && s.len > remaining) { /* only the first batch may exceed limits */
                close(s.fd);
                continue;
            }
            if (fp->r->hdr.api_version < 4) {
                /* converted for the min_bytes checks too: a range holding only control batches
                 * converts to nothing, and answering at once would have an old consumer sitting
                 * on a trailing marker fetch in a busy loop */
                int64_t next = x->offset;
                int64_t n = old_records(fp, pr, p, x, &s, lim, upto, total == 0, &next);
                if (n < 0) {
                    *error = true;
                    continue;
                }
                total += n;
                remaining -= n;
                if (count) {
                    p->bytes_out += (uint64_t)n;
                    if (next > x->offset) p->records_out += (uint64_t)(next - x->offset);
                }
                continue;
            }
            kfile_frag *fr = karena_alloc(fp->r->arena, sizeof *fr);
            fr->fd = s.fd;
            fr->off = s.file_pos;
            fr->len = s.len;
            fr->next = NULL;
            k_set_frags(pr, PartitionData_Records, fr);
            if (fp->isolation == 1) add_aborted(pr, p, x->offset, s.next_offset);
            keep_fd(fp, s.fd);
            total += s.len;
            remaining -= s.len;
            if (count) {
                p->bytes_out += (uint64_t)s.len;
                if (s.next_offset > x->offset)
                    p->records_out += (uint64_t)(s.next_offset - x->offset);
            }
        }
    }
    return total;
}

static void finish(fpark *fp)
{
    bool err;
    int64_t bytes = build(fp, !fp->r->conn_closed, &err, true);
    fp->nfds = 0; /* the fds now belong to the response (server.c closes them) */
    breq *r = fp->r;
    k_set_int(r->resp, FetchResponse_ThrottleTimeMs,
              bquota_record(fp->b, r, QUOTA_FETCH, (double)bytes));
    fp_free(fp);
    breq_done(r);
}

/* Re-checks a parked fetch; finishes it when it can be answered. */
static void recheck(fpark *fp, bool final)
{
    if (fp->r->conn_closed || final) {
        finish(fp);
        return;
    }
    bool data, error;
    probe(fp, &data, &error);
    if (error) {
        finish(fp);
        return;
    }
    if (!data) return;
    if (fp->min_bytes <= 1 && fp->r->hdr.api_version >= 4) {
        finish(fp);
        return;
    }
    bool e2;
    int64_t total = build(fp, true, &e2, false);
    if (e2 || total >= fp->min_bytes) {
        drop_frags(fp);
        finish(fp);
        return;
    }
    drop_frags(fp);
}

static void on_timeout(loop *l, void *arg)
{
    (void)l;
    fpark *fp = arg;
    fp->timeout = NULL;
    recheck(fp, true);
}

static void on_recheck(loop *l, void *arg)
{
    (void)l;
    fpark *fp = arg;
    fp->recheck = NULL;
    recheck(fp, false);
}

static void on_wake(bwaiter *w, bpart *p)
{
    (void)p;
    fpart *x = (fpart *)((char *)w - offsetof(fpart, w));
    fpark *fp = x->fp;
    if (!fp->recheck) fp->recheck = loop_timer_add(fp->b->loop, 0, on_recheck, fp);
}

void h_fetch(broker *b, breq *r)
{
    kmsg *q = r->req;
    int16_t v = r->hdr.api_version;
    if (v >= 7 && k_int(q, FetchRequest_SessionId) != 0) {
        kmsg *resp = r->resp;
        k_set_int(resp, FetchResponse_ThrottleTimeMs, 0);
        k_set_int(resp, FetchResponse_ErrorCode, KERR_FETCH_SESSION_ID_NOT_FOUND);
        k_set_int(resp, FetchResponse_SessionId, 0);
        k_new_items(resp, FetchResponse_Responses, 0);
        breq_done(r);
        return;
    }
    fpark *fp = xcalloc(1, sizeof *fp);
    fp->b = b;
    fp->r = r;
    fp->min_bytes = (int32_t)k_int(q, FetchRequest_MinBytes);
    fp->max_bytes = (int32_t)k_int(q, FetchRequest_MaxBytes);
    if (v < 4 && (fp->max_bytes <= 0 || fp->max_bytes > OLD_FETCH_MAX_BYTES))
        fp->max_bytes = OLD_FETCH_MAX_BYTES; /* v0–v2 have none */
    fp->isolation = (int8_t)k_int(q, FetchRequest_IsolationLevel);
    int32_t nt = k_count(q, FetchRequest_Topics);
    if (nt < 0) nt = 0;
    int total = 0;
    for (int32_t i = 0; i < nt; i++) {
        int32_t np = k_count(k_item(q, FetchRequest_Topics, i), FetchTopic_Partitions);
        if (np > 0) total += np;
    }
    fp->topics = xcalloc((size_t)(nt ? nt : 1), sizeof *fp->topics);
    fp->parts = xcalloc((size_t)(total ? total : 1), sizeof *fp->parts);
    fp->ntopics = nt;
    int k = 0;
    for (int32_t i = 0; i < nt; i++) {
        kmsg *t = k_item(q, FetchRequest_Topics, i);
        if (v >= 13) { /* by id: the name of the topic it names now (empty when unknown) */
            const uint8_t *id = k_uuid(t, FetchTopic_TopicId);
            btopic *bt = topic_find_id(b, id);
            fp->topics[i].id = id;
            fp->topics[i].name = bt ? (kstr){(const uint8_t *)bt->name, (int32_t)strlen(bt->name)}
                                    : (kstr){(const uint8_t *)"", 0};
        } else
            fp->topics[i].name = k_str(t, FetchTopic_Topic);
        fp->topics[i].first = k;
        int32_t np = k_count(t, FetchTopic_Partitions);
        if (np < 0) np = 0;
        fp->topics[i].n = np;
        bool denied = np > 0 && (!fp->topics[i].id || fp->topics[i].name.len > 0) &&
                      !bauthz_allowed_k(b, r, ACL_RES_TOPIC, fp->topics[i].name.p,
                                        fp->topics[i].name.len, ACL_OP_READ);
        for (int32_t j = 0; j < np; j++, k++) {
            kmsg *pm = k_item(t, FetchTopic_Partitions, j);
            fpart *x = &fp->parts[k];
            x->topic = fp->topics[i].name;
            x->id = fp->topics[i].id;
            x->part = (int32_t)k_int(pm, FetchPartition_Partition);
            x->offset = k_int(pm, FetchPartition_FetchOffset);
            x->pmax = (int32_t)k_int(pm, FetchPartition_PartitionMaxBytes);
            x->leader_epoch = v >= 9 ? (int32_t)k_int(pm, FetchPartition_CurrentLeaderEpoch) : -1;
            x->fp = fp;
            x->denied = denied;
            x->w.wake = on_wake;
        }
    }
    fp->nparts = k;

    bool data, error;
    probe(fp, &data, &error);
    int64_t wait = k_int(q, FetchRequest_MaxWaitMs);
    bool old = v < 4; /* readable bytes are known only after down-conversion */
    if (error || wait <= 0 || fp->min_bytes <= 0 || (data && fp->min_bytes <= 1 && !old)) {
        finish(fp);
        return;
    }
    if (data) {
        bool e2;
        int64_t got = build(fp, true, &e2, false);
        if (e2 || got >= fp->min_bytes) {
            drop_frags(fp);
            finish(fp);
            return;
        }
        drop_frags(fp);
    }
    /* park */
    for (int i = 0; i < fp->nparts; i++) {
        bpart *p = lookup(b, &fp->parts[i]);
        if (p) part_wait(p, &fp->parts[i].w);
    }
    if (wait > 30 * 60 * 1000) wait = 30 * 60 * 1000;
    fp->timeout = loop_timer_add(b->loop, wait, on_timeout, fp);
    r->park = fp;
    fp->parked = true;
    fp->next = g_parked;
    if (g_parked) g_parked->prev = fp;
    g_parked = fp;
}

void fetch_finish_all(broker *b)
{
    (void)b;
    while (g_parked) finish(g_parked);
}
