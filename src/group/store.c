/* store — committed offsets and group metadata on the internal topic __consumer_offsets.
 *
 * Records use Kafka's own key/value formats (group-coordinator message JSONs), so the log is
 * readable by Kafka tooling. All integers big-endian; string = int16 length + bytes
 * (nullable: -1 = null); bytes = int32 length + bytes.
 *
 *  OffsetCommitKey v1            OffsetCommitValue v3
 *   int16  version = 1            int16  version = 3
 *   string group                  int64  offset
 *   string topic                  int32  leaderEpoch (-1 = none)
 *   int32  partition              string metadata
 *                                 int64  commitTimestamp
 *
 *  GroupMetadataKey v2           GroupMetadataValue v3
 *   int16  version = 2            int16  version = 3
 *   string group                  string protocolType
 *                                 int32  generation
 *                                 string protocol (nullable)
 *                                 string leader (nullable)
 *                                 int64  currentStateTimestamp
 *                                 int32  member count, then per member:
 *                                   string memberId, string groupInstanceId (nullable),
 *                                   string clientId, string clientHost,
 *                                   int32 rebalanceTimeout, int32 sessionTimeout,
 *                                   bytes subscription, bytes assignment
 *
 * A null value is a tombstone (offset deleted / group deleted). Records travel in
 * RecordBatch v2 batches built here (no compression, producer id -1), appended with
 * part_append; an OffsetCommit is answered once the flusher reports the batch durable.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "storage/batch.h"
#include "common/log.h"
#include "common/util.h"
#include "group/group_int.h"

/* ------------------------------------------------------------------ records ---- */

typedef struct grec {
    wbuf key, val;
    bool tombstone;
} grec;

struct grecs {
    grec *v;
    int n, a;
};

grecs *grecs_new(void)
{
    return xcalloc(1, sizeof(grecs));
}

void grecs_free(grecs *rs)
{
    if (!rs) return;
    for (int i = 0; i < rs->n; i++) {
        wbuf_free(&rs->v[i].key);
        wbuf_free(&rs->v[i].val);
    }
    free(rs->v);
    free(rs);
}

int grecs_count(const grecs *rs)
{
    return rs->n;
}

static grec *grecs_add(grecs *rs)
{
    if (rs->n == rs->a) {
        rs->a = rs->a ? rs->a * 2 : 8;
        rs->v = xrealloc(rs->v, (size_t)rs->a * sizeof *rs->v);
    }
    grec *r = &rs->v[rs->n++];
    memset(r, 0, sizeof *r);
    wbuf_init(&r->key, 0);
    wbuf_init(&r->val, 0);
    return r;
}

static void put_str(wbuf *w, const char *s)
{
    if (!s) {
        wbuf_i16(w, -1);
        return;
    }
    size_t n = strlen(s);
    if (n > 32767) n = 32767;
    wbuf_i16(w, (int16_t)n);
    wbuf_put(w, s, n);
}

/* A string of known length (it may hold NUL bytes: committed offset metadata). */
static void put_strn(wbuf *w, const char *s, int32_t n)
{
    if (n > 32767) n = 32767;
    wbuf_i16(w, (int16_t)n);
    if (n > 0) wbuf_put(w, s, (size_t)n);
}

static void put_bytes(wbuf *w, const uint8_t *p, int32_t n)
{
    wbuf_i32(w, p ? n : 0);
    if (p && n > 0) wbuf_put(w, p, (size_t)n);
}

void grecs_offset(grecs *rs, const char *gid, const char *topic, int32_t partition,
                  const goffset *val)
{
    grec *r = grecs_add(rs);
    wbuf_i16(&r->key, 1);
    put_str(&r->key, gid);
    put_str(&r->key, topic);
    wbuf_i32(&r->key, partition);
    if (!val) {
        r->tombstone = true;
        return;
    }
    wbuf_i16(&r->val, 3);
    wbuf_i64(&r->val, val->offset);
    wbuf_i32(&r->val, val->leader_epoch);
    put_strn(&r->val, val->metadata ? val->metadata : "", goffset_meta_len(val));
    wbuf_i64(&r->val, val->commit_ts);
}

void grecs_group(grecs *rs, const group *g, bool tombstone)
{
    grec *r = grecs_add(rs);
    wbuf_i16(&r->key, 2);
    put_str(&r->key, g->id);
    if (tombstone) {
        r->tombstone = true;
        return;
    }
    wbuf *w = &r->val;
    wbuf_i16(w, 3);
    put_str(w, g->protocol_type ? g->protocol_type : "");
    wbuf_i32(w, g->generation);
    put_str(w, g->protocol);
    put_str(w, g->leader);
    wbuf_i64(w, g->state_ts);
    wbuf_i32(w, g->nmembers);
    for (gmember *m = g->members; m; m = m->next) {
        put_str(w, m->id);
        put_str(w, m->instance_id);
        put_str(w, m->client_id ? m->client_id : "");
        put_str(w, m->client_host ? m->client_host : "");
        wbuf_i32(w, m->rebalance_ms);
        wbuf_i32(w, m->session_ms);
        const gproto *p = g_member_proto(m, g->protocol);
        put_bytes(w, p ? p->meta : NULL, p ? p->len : 0);
        put_bytes(w, m->assign, m->assign_len);
    }
}

uint8_t *grecs_build_batch(const grecs *rs, int64_t now_ms, size_t *len)
{
    batch_rec *br = xcalloc((size_t)rs->n, sizeof *br);
    for (int i = 0; i < rs->n; i++) {
        const grec *r = &rs->v[i];
        br[i] = (batch_rec){r->key.data, r->key.len, r->tombstone ? NULL : r->val.data, r->val.len};
        if (!r->tombstone && !br[i].val) br[i].val = ""; /* empty value, not null */
    }
    uint8_t *p = batch_build(br, rs->n, now_ms, len);
    free(br);
    return p;
}

int grecs_append(group_coord *gc, grecs *rs, plog **log, int64_t *end_offset)
{
    *log = NULL;
    *end_offset = -1;
    if (!rs || rs->n == 0) return KERR_NONE;
    if (!gc->otopic || gc->otopic->nparts < 1) return KERR_COORDINATOR_NOT_AVAILABLE;
    bpart *p = gc->otopic->parts[0];
    size_t len;
    uint8_t *batch = grecs_build_batch(rs, now_wall_ms(), &len);
    int64_t base = -1;
    int rc = part_append(gc->b, p, batch, len, &base);
    free(batch);
    if (rc != 0) {
        LOGE("group", "cannot append to %s: error %d", GROUP_OFFSETS_TOPIC, rc);
        return rc > 0 ? rc : KERR_KAFKA_STORAGE_ERROR;
    }
    *log = p->log;
    *end_offset = base + rs->n;
    if (gc->b->flusher) flusher_request(gc->b->flusher, p->log, *end_offset);
    return KERR_NONE;
}

void grecs_append_and_reply(group_coord *gc, grecs *rs, breq *r, void (*on_err)(breq *, int))
{
    plog *log;
    int64_t end;
    int rc = grecs_append(gc, rs, &log, &end);
    if (rc != KERR_NONE) {
        if (on_err) on_err(r, rc);
        breq_done(r);
        return;
    }
    if (!log) {
        breq_done(r);
        return;
    }
    bdurable_reply(gc->b, &gc->waits, r, log, end);
}

static uint8_t *memdup(const void *p, size_t n)
{
    uint8_t *d = xmalloc(n ? n : 1);
    if (n) memcpy(d, p, n);
    return d;
}

void grecs_append_txn_and_reply(group_coord *gc, grecs *rs, int64_t pid, int16_t epoch, breq *r,
                                void (*on_err)(breq *, int))
{
    if (!rs || rs->n == 0) {
        breq_done(r);
        return;
    }
    if (!gc->otopic || gc->otopic->nparts < 1) {
        if (on_err) on_err(r, KERR_COORDINATOR_NOT_AVAILABLE);
        breq_done(r);
        return;
    }
    bpart *p = gc->otopic->parts[0];
    size_t len;
    uint8_t *batch = grecs_build_batch(rs, now_wall_ms(), &len);
    batch_set_producer(batch, len, pid, epoch, -1, true);
    int64_t base = -1;
    int rc = part_append(gc->b, p, batch, len, &base);
    free(batch);
    if (rc != 0) {
        LOGE("group", "cannot append to %s: error %d", GROUP_OFFSETS_TOPIC, rc);
        if (on_err) on_err(r, rc > 0 ? rc : KERR_KAFKA_STORAGE_ERROR);
        breq_done(r);
        return;
    }
    gtxnrec **tail = &gc->txn_recs;
    while (*tail) tail = &(*tail)->next;
    for (int i = 0; i < rs->n; i++) {
        gtxnrec *x = xcalloc(1, sizeof *x);
        x->pid = pid;
        x->klen = (int32_t)rs->v[i].key.len;
        x->key = memdup(rs->v[i].key.data, rs->v[i].key.len);
        x->vlen = rs->v[i].tombstone ? -1 : (int32_t)rs->v[i].val.len;
        x->val = rs->v[i].tombstone ? NULL : memdup(rs->v[i].val.data, rs->v[i].val.len);
        *tail = x;
        tail = &x->next;
    }
    int64_t end = base + rs->n;
    if (gc->b->flusher) flusher_request(gc->b->flusher, p->log, end);
    bdurable_reply(gc->b, &gc->waits, r, p->log, end);
}

static void stage_raw(group_coord *gc, int64_t pid, const uint8_t *key, int32_t klen,
                      const uint8_t *val, int32_t vlen)
{
    gtxnrec **tail = &gc->txn_recs;
    while (*tail) tail = &(*tail)->next;
    gtxnrec *x = xcalloc(1, sizeof *x);
    x->pid = pid;
    x->klen = klen;
    x->key = memdup(key, (size_t)klen);
    x->vlen = val ? vlen : -1;
    x->val = val ? memdup(val, (size_t)(vlen > 0 ? vlen : 0)) : NULL;
    *tail = x;
}

void gstore_txn_end(group_coord *gc, int64_t pid, bool commit)
{
    gtxnrec **pp = &gc->txn_recs;
    while (*pp) {
        gtxnrec *x = *pp;
        if (x->pid != pid) {
            pp = &x->next;
            continue;
        }
        *pp = x->next;
        if (commit)
            gstore_apply(gc, x->key, x->klen, x->val ? x->val : (const uint8_t *)"", x->vlen);
        free(x->key);
        free(x->val);
        free(x);
    }
}

bool gstore_txn_pending(group_coord *gc, const char *gid, const char *topic, int32_t part)
{
    size_t gl = strlen(gid), tl = strlen(topic);
    for (gtxnrec *x = gc->txn_recs; x; x = x->next) {
        rbuf r = rbuf_make(x->key, (size_t)x->klen);
        int16_t kver = rbuf_i16(&r);
        if (kver != 0 && kver != 1) continue;
        int16_t n = rbuf_i16(&r);
        const uint8_t *g = n >= 0 ? rbuf_take(&r, (size_t)n) : NULL;
        if (!g || (size_t)n != gl || memcmp(g, gid, gl)) continue;
        n = rbuf_i16(&r);
        const uint8_t *t = n >= 0 ? rbuf_take(&r, (size_t)n) : NULL;
        if (!t || (size_t)n != tl || memcmp(t, topic, tl)) continue;
        if (rbuf_i32(&r) == part && !r.err) return true;
    }
    return false;
}

void gstore_txn_free(group_coord *gc)
{
    while (gc->txn_recs) {
        gtxnrec *x = gc->txn_recs;
        gc->txn_recs = x->next;
        free(x->key);
        free(x->val);
        free(x);
    }
}

void group_txn_end(broker *b, int64_t pid, bool commit)
{
    if (b->groups) gstore_txn_end(b->groups, pid, commit);
}

int32_t group_offsets_partition(broker *b, const char *gid)
{
    (void)b;
    (void)gid;
    return 0; /* grecs_append writes every group's records to partition 0 */
}

void group_on_flush(broker *b)
{
    group_coord *gc = b->groups;
    if (!gc) return;
    bdurable_on_flush(b, &gc->waits);
}

/* ------------------------------------------------------------------ replay ---- */

static char *get_str(rbuf *r, bool *isnull)
{
    int16_t n = rbuf_i16(r);
    if (isnull) *isnull = n < 0;
    if (n < 0) return NULL;
    const uint8_t *p = rbuf_take(r, (size_t)n);
    if (!p) return NULL;
    return xstrndup((const char *)p, (size_t)n);
}

/* get_str for a string that may hold NUL bytes: the copy is NUL-terminated, *len its length. */
static char *get_strn(rbuf *r, int32_t *len)
{
    int16_t n = rbuf_i16(r);
    *len = 0;
    if (n < 0) return NULL;
    const uint8_t *p = rbuf_take(r, (size_t)n);
    if (!p) return NULL;
    char *s = xmalloc((size_t)n + 1);
    if (n) memcpy(s, p, (size_t)n);
    s[n] = 0;
    *len = n;
    return s;
}

static void apply_group_value(group_coord *gc, const char *gid, const uint8_t *val, int32_t vlen)
{
    group *g = gc_find(gc, gid);
    if (!val) {
        if (!g) return;
        if (g->noffs == 0)
            gc_remove(gc, g);
        else {
            free(g->protocol_type);
            g->protocol_type = xstrdup("");
            g->generation = 0;
        }
        return;
    }
    rbuf r = rbuf_make(val, (size_t)vlen);
    int16_t ver = rbuf_i16(&r);
    if (ver < 0 || ver > 4) return;
    if (ver >= 4) return; /* flexible layout: not written by eddyd */
    char *ptype = get_str(&r, NULL);
    int32_t gen = rbuf_i32(&r);
    char *proto = get_str(&r, NULL);
    char *leader = get_str(&r, NULL);
    int64_t ts = ver >= 2 ? rbuf_i64(&r) : -1;
    if (r.err) {
        free(ptype);
        free(proto);
        free(leader);
        return;
    }
    if (!g) g = gc_create(gc, gid);
    free(g->protocol_type);
    g->protocol_type = ptype ? ptype : xstrdup("");
    g->generation = gen;
    if (ts > 0) g->state_ts = ts;
    /* groups come back Empty: members rejoin (their old ids are unknown -> rejoin) */
    free(proto);
    free(leader);
}

void gstore_apply(group_coord *gc, const uint8_t *key, int32_t klen, const uint8_t *val,
                  int32_t vlen)
{
    if (!key || klen < 2) return;
    rbuf r = rbuf_make(key, (size_t)klen);
    int16_t kver = rbuf_i16(&r);
    if (kver == 0 || kver == 1) {
        char *gid = get_str(&r, NULL);
        char *topic = get_str(&r, NULL);
        int32_t part = rbuf_i32(&r);
        if (r.err || !gid || !topic) goto out_off;
        group *g = gc_find(gc, gid);
        if (!val) {
            if (g) {
                goffset *o = g_offset_find(g, topic, part);
                if (o) g_offset_del(g, o);
            }
            goto out_off;
        }
        rbuf v = rbuf_make(val, (size_t)vlen);
        int16_t vver = rbuf_i16(&v);
        if (vver < 0 || vver > 3) goto out_off;
        int64_t off = rbuf_i64(&v);
        int32_t epoch = vver >= 3 ? rbuf_i32(&v) : -1;
        int32_t meta_len = 0;
        char *meta = get_strn(&v, &meta_len);
        int64_t ts = rbuf_i64(&v);
        if (v.err) {
            free(meta);
            goto out_off;
        }
        if (!g) g = gc_create(gc, gid);
        goffset *o = g_offset_put(g, topic, part);
        o->offset = off;
        o->leader_epoch = epoch;
        free(o->metadata);
        o->metadata = meta ? meta : xstrdup("");
        o->metadata_len = meta ? meta_len : 0;
        o->commit_ts = ts;
    out_off:
        free(gid);
        free(topic);
    } else if (kver == 2) {
        char *gid = get_str(&r, NULL);
        if (!r.err && gid) apply_group_value(gc, gid, val, vlen);
        free(gid);
    }
}

static int apply_rec(const batch_info *bi, const batch_record *rec, void *arg)
{
    const uint8_t *v = rec->value;
    if (rec->value_len == 0) v = (const uint8_t *)""; /* empty (non-null) value */
    if ((bi->attributes & BATCH_ATTR_TRANSACTIONAL) && bi->producer_id >= 0) {
        /* TxnOffsetCommit: takes effect only when the transaction's commit marker follows */
        if (rec->key_len > 0)
            stage_raw(arg, bi->producer_id, rec->key, rec->key_len, v, rec->value_len);
        return 0;
    }
    gstore_apply(arg, rec->key_len > 0 ? rec->key : NULL, rec->key_len, v, rec->value_len);
    return 0;
}

static int apply_marker(const batch_info *bi, bool commit, void *arg)
{
    gstore_txn_end(arg, bi->producer_id, commit);
    return 0;
}

int gstore_apply_batches(group_coord *gc, const uint8_t *p, size_t len)
{
    batch_tail_stats st = {0};
    batch_tail_buf_ctl(p, len, INT64_MIN, apply_rec, apply_marker, gc, &st);
    if (st.skipped)
        LOGW("group", "%s: %d batch(es) that do not decode skipped", GROUP_OFFSETS_TOPIC,
             st.skipped);
    return st.batches;
}

int gstore_load(group_coord *gc)
{
    if (!gc->otopic) return 0;
    int nb = 0;
    for (int pi = 0; pi < gc->otopic->nparts; pi++) {
        batch_tail_stats st;
        batch_tail_ctl(gc->otopic->parts[pi]->log, INT64_MIN, apply_rec, apply_marker, gc,
                       GROUP_OFFSETS_TOPIC, &st);
        nb += st.batches;
    }
    return nb;
}

/* ------------------------------------------------------------------ expiry ---- */

void gstore_expire(group_coord *gc, int64_t now_wall)
{
    int64_t keep_ms = gc->b->cfg.offsets_retention_minutes * 60000;
    grecs *rs = grecs_new();
    for (int i = 0; i < gc->ngroups; i++) {
        group *g = gc->groups[i];
        if (g->state != GS_EMPTY) continue;
        bool simple = !g->protocol_type || !g->protocol_type[0];
        for (int j = 0; j < g->noffs;) {
            goffset *o = &g->offs[j];
            int64_t base = (!simple && g->state_ts > 0) ? g->state_ts : o->commit_ts;
            if (base + keep_ms <= now_wall) {
                grecs_offset(rs, g->id, o->topic, o->partition, NULL);
                g_offset_del(g, o);
            } else {
                j++;
            }
        }
    }
    for (int i = 0; i < gc->ngroups;) {
        group *g = gc->groups[i];
        if (g->state == GS_EMPTY && g->noffs == 0 && !g->pending &&
            (g->state_ts + keep_ms <= now_wall || !g->protocol_type || !g->protocol_type[0])) {
            grecs_group(rs, g, true);
            gc_remove(gc, g);
        } else {
            i++;
        }
    }
    if (grecs_count(rs) > 0) {
        plog *l;
        int64_t end;
        LOGI("group", "expired %d offsets/groups", grecs_count(rs));
        grecs_append(gc, rs, &l, &end);
    }
    grecs_free(rs);
}
