/* producers — idempotent producers: producer-id allocation (InitProducerId) and the
 * per-(producerId, partition) sequence state that dedupes retried batches.
 *
 * Per partition a small hash table maps producer id -> {epoch, last 5 batches}; each batch is
 * {firstSeq, lastSeq, baseOffset} (Kafka keeps 5 too: NUM_BATCHES_TO_RETAIN). The state is
 * rebuilt at start-up from the batch headers at the tail of each partition's log, so a retry
 * sent across a broker restart is still recognised as a duplicate.
 *
 * Producer ids are handed out in blocks of ID_BLOCK; the end of the current block is persisted
 * in data_dir/producer-ids (decimal text, written atomically) before any id from it is used,
 * so ids are never reused across restarts.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/authorize.h"
#include "broker/core.h"
#include "common/log.h"
#include "common/util.h"

#define KEEP_BATCHES 5
#define ID_BLOCK 1000
#define REBUILD_WINDOW_OFFSETS (1 << 20) /* scan at most this many offsets back at start-up */

typedef struct pbatch {
    int32_t first_seq, last_seq;
    int64_t base_offset;
} pbatch;

typedef struct pentry {
    int64_t pid;
    int16_t epoch;
    int nb;   /* batches held (<= KEEP_BATCHES) */
    int head; /* index of the newest batch */
    pbatch b[KEEP_BATCHES];
    struct pentry *next;
} pentry;

struct pidtab {
    pentry **slots;
    int nslots, count;
};

pidtab *pidtab_new(void)
{
    pidtab *t = xcalloc(1, sizeof *t);
    t->nslots = 16;
    t->slots = xcalloc((size_t)t->nslots, sizeof *t->slots);
    return t;
}

void pidtab_free(pidtab *t)
{
    if (!t) return;
    for (int i = 0; i < t->nslots; i++)
        for (pentry *e = t->slots[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    free(t->slots);
    free(t);
}

int pidtab_count(const pidtab *t)
{
    return t ? t->count : 0;
}

static unsigned slot_of(const pidtab *t, int64_t pid)
{
    uint64_t h = (uint64_t)pid * 0x9E3779B97F4A7C15ull;
    return (unsigned)(h >> 32) & (unsigned)(t->nslots - 1);
}

static pentry *lookup(pidtab *t, int64_t pid)
{
    for (pentry *e = t->slots[slot_of(t, pid)]; e; e = e->next)
        if (e->pid == pid) return e;
    return NULL;
}

static void grow(pidtab *t)
{
    int ns = t->nslots * 2;
    pentry **s = xcalloc((size_t)ns, sizeof *s);
    int old = t->nslots;
    pentry **os = t->slots;
    t->slots = s;
    t->nslots = ns;
    for (int i = 0; i < old; i++)
        for (pentry *e = os[i], *n; e; e = n) {
            n = e->next;
            unsigned k = slot_of(t, e->pid);
            e->next = s[k];
            s[k] = e;
        }
    free(os);
}

static pentry *entry(pidtab *t, int64_t pid)
{
    pentry *e = lookup(t, pid);
    if (e) return e;
    if (t->count + 1 > t->nslots) grow(t);
    e = xcalloc(1, sizeof *e);
    e->pid = pid;
    unsigned k = slot_of(t, pid);
    e->next = t->slots[k];
    t->slots[k] = e;
    t->count++;
    return e;
}

static int32_t seq_add(int32_t seq, int32_t delta)
{
    /* sequences wrap to 0 after INT32_MAX */
    int64_t x = (int64_t)seq + delta;
    if (x > INT32_MAX) x -= (int64_t)INT32_MAX + 1;
    return (int32_t)x;
}

int pidtab_check(pidtab *t, int64_t pid, int16_t epoch, int32_t seq, int32_t last_delta,
                 int64_t *dup_base)
{
    pentry *e = lookup(t, pid);
    if (!e) return PID_APPEND; /* unknown producer: accept (Kafka 3.x) */
    if (epoch < e->epoch) return KERR_INVALID_PRODUCER_EPOCH;
    if (e->nb == 0) return PID_APPEND; /* fenced by a marker: the new epoch starts anywhere */
    if (epoch > e->epoch) return seq == 0 ? PID_APPEND : KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    int32_t last = seq_add(seq, last_delta);
    for (int i = 0; i < e->nb; i++) {
        const pbatch *pb = &e->b[(e->head - i + KEEP_BATCHES) % KEEP_BATCHES];
        if (pb->first_seq == seq && pb->last_seq == last) {
            if (dup_base) *dup_base = pb->base_offset;
            return PID_DUPLICATE;
        }
    }
    int32_t expect = seq_add(e->b[e->head].last_seq, 1);
    return seq == expect ? PID_APPEND : KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
}

void pidtab_record(pidtab *t, int64_t pid, int16_t epoch, int32_t seq, int32_t last_delta,
                   int64_t base_offset)
{
    pentry *e = entry(t, pid);
    if (epoch != e->epoch) {
        e->epoch = epoch;
        e->nb = 0;
    }
    e->head = e->nb == 0 ? 0 : (e->head + 1) % KEEP_BATCHES;
    if (e->nb < KEEP_BATCHES) e->nb++;
    e->b[e->head].first_seq = seq;
    e->b[e->head].last_seq = seq_add(seq, last_delta);
    e->b[e->head].base_offset = base_offset;
}

void pidtab_fence(pidtab *t, int64_t pid, int16_t epoch)
{
    pentry *e = lookup(t, pid);
    if (e && epoch <= e->epoch) return;
    e = entry(t, pid);
    e->epoch = epoch;
    e->nb = 0;
}

/* ------------------------------------------------------------------ partitions ---- */

void producers_fence(bpart *p, int64_t pid, int16_t epoch)
{
    if (pid < 0) return;
    if (!p->producers) p->producers = pidtab_new();
    pidtab_fence(p->producers, pid, epoch);
}

static bool idempotent(const batch_info *bi)
{
    return bi->producer_id >= 0;
}

int producers_check(bpart *p, const batch_info *bi, int64_t *dup_base)
{
    if (!idempotent(bi)) return PID_APPEND;
    if (!p->producers) return PID_APPEND;
    return pidtab_check(p->producers, bi->producer_id, bi->producer_epoch, bi->base_sequence,
                        bi->last_offset_delta, dup_base);
}

void producers_record(bpart *p, const batch_info *bi, int64_t base_offset)
{
    if (!idempotent(bi) || bi->base_sequence < 0) return;
    if (!p->producers) p->producers = pidtab_new();
    pidtab_record(p->producers, bi->producer_id, bi->producer_epoch, bi->base_sequence,
                  bi->last_offset_delta, base_offset);
}

void producers_free(bpart *p)
{
    pidtab_free(p->producers);
    p->producers = NULL;
}

static int rebuild_one(const batch_info *bi, int fd, int64_t pos, void *arg)
{
    (void)fd;
    (void)pos;
    if (!(bi->attributes & BATCH_ATTR_CONTROL)) producers_record(arg, bi, bi->base_offset);
    return 0;
}

void producers_rebuild(bpart *p)
{
    int nb = batch_scan_headers(p->log, plog_end_offset(p->log) - REBUILD_WINDOW_OFFSETS,
                                rebuild_one, p);
    if (p->producers && pidtab_count(p->producers) > 0)
        LOGD("producers", "%s-%d: %d producer(s) recovered from %d batch headers", p->topic->name,
             p->index, pidtab_count(p->producers), nb);
}

/* ------------------------------------------------------------------ ids ---- */

static char *ids_path(broker *b)
{
    return xasprintf("%s/producer-ids", b->data_dir);
}

int producers_load(broker *b)
{
    char *path = ids_path(b);
    size_t len;
    char *s = read_file_all(path, &len);
    int64_t limit = 0;
    if (s) {
        char *end;
        long long x = strtoll(s, &end, 10);
        if (end != s && x > 0)
            limit = x;
        else
            LOGW("producers", "ignoring damaged %s", path);
        free(s);
    }
    free(path);
    /* ids below the persisted limit may have been handed out: start above it */
    b->next_producer_id = limit;
    b->producer_id_limit = limit;
    return 0;
}

int64_t producers_alloc_id(broker *b)
{
    if (b->next_producer_id >= b->producer_id_limit) {
        int64_t nl = b->next_producer_id + ID_BLOCK;
        char *path = ids_path(b);
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%" PRId64 "\n", nl);
        int rc = write_file_atomic(path, buf, (size_t)n);
        if (rc < 0) {
            LOGE("producers", "cannot write %s: %s", path, strerror(-rc));
            free(path);
            return -1;
        }
        free(path);
        b->producer_id_limit = nl;
    }
    return b->next_producer_id++;
}

/* ------------------------------------------------------------------ InitProducerId ---- */

/* InitProducerId without a transactional id (idempotent producers). The dispatch row is the
 * transaction coordinator's (src/txn), which hands requests without one to this function. */

void h_init_producer_id(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    k_set_int(resp, InitProducerIdResponse_ThrottleTimeMs, 0);
    k_set_int(resp, InitProducerIdResponse_ProducerId, -1);
    k_set_int(resp, InitProducerIdResponse_ProducerEpoch, -1);
    if (k_str(q, InitProducerIdRequest_TransactionalId).len >= 0) {
        /* a transactional id is the transaction coordinator's (src/txn), which calls us only
         * without one */
        k_set_int(resp, InitProducerIdResponse_ErrorCode, KERR_INVALID_REQUEST);
        breq_done(r);
        return;
    }
    /* InitProducerId without a transactional id (the transaction coordinator, src/txn, answers
     * the others and checks Write on the id): IdempotentWrite or Write on a topic (KIP-679) */
    int deny = bauthz_init_producer_denied(b, r, NULL, -1);
    if (deny) {
        k_set_int(resp, InitProducerIdResponse_ErrorCode, deny);
        breq_done(r);
        return;
    }
    if (v >= 3) {
        /* Kafka's rule: -1/-1 or a full id/epoch pair; one without the other is malformed */
        bool no_id = k_int(q, InitProducerIdRequest_ProducerId) == -1,
             no_epoch = k_int(q, InitProducerIdRequest_ProducerEpoch) == -1;
        if (no_id != no_epoch) {
            k_set_int(resp, InitProducerIdResponse_ErrorCode, KERR_INVALID_REQUEST);
            breq_done(r);
            return;
        }
    }
    /* Without a transactional id Kafka ignores ProducerId/ProducerEpoch and always hands out a
     * fresh id at epoch 0: the caller cannot prove an id is its own, so honouring them would
     * let two producers share an id and epoch, and the second one's batches would be taken
     * for duplicates of the first's and dropped. An epoch bump (KIP-360) exists only for
     * transactional producers (src/txn). */
    int64_t pid = producers_alloc_id(b);
    int16_t epoch = 0;
    if (pid < 0) {
        k_set_int(resp, InitProducerIdResponse_ErrorCode, KERR_UNKNOWN_SERVER_ERROR);
    } else {
        k_set_int(resp, InitProducerIdResponse_ErrorCode, 0);
        k_set_int(resp, InitProducerIdResponse_ProducerId, pid);
        k_set_int(resp, InitProducerIdResponse_ProducerEpoch, epoch);
    }
    breq_done(r);
}

/* ------------------------------------------------------------------ views ---- */

int producers_foreach(bpart *p, producers_cb cb, void *arg)
{
    pidtab *t = p->producers;
    int n = 0;
    for (int i = 0; t && i < t->nslots; i++)
        for (pentry *e = t->slots[i]; e; e = e->next, n++)
            if (cb) cb(arg, e->pid, e->epoch, e->nb ? e->b[e->head].last_seq : -1);
    return n;
}
