/* test_group_store — the __consumer_offsets record formats and their replay (src/group/store.c):
 * byte-exact keys/values against hand-written vectors (Kafka's OffsetCommitKey v1 /
 * OffsetCommitValue v3 / GroupMetadataKey v2 / GroupMetadataValue v3), the RecordBatch v2
 * envelope (header fields, CRC-32C), replay with tombstones, and offset expiry of empty groups.
 *
 * The broker functions the store calls (part_append, topics, flusher) are stubbed here; the
 * codec accessors used only by coord.c's response builders are no-op stubs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/util.h"
#include "group/group_int.h"
#include "storage/batch.h"

#include <zlib.h>

/* ---------------------------------------------------------------- stubs ---- */

static uint8_t *g_appended;
static size_t g_appended_len;
static int64_t g_leo;

int part_append(broker *b, bpart *p, uint8_t *batch, size_t len, int64_t *base_offset)
{
    (void)b;
    (void)p;
    g_appended = xrealloc(g_appended, g_appended_len + len);
    put_be64(batch, (uint64_t)g_leo);
    memcpy(g_appended + g_appended_len, batch, len);
    g_appended_len += len;
    *base_offset = g_leo;
    g_leo += (int32_t)be32(batch + 57);
    return 0;
}
void flusher_request(flusher *f, plog *l, int64_t offset)
{
    (void)f;
    (void)l;
    (void)offset;
}
int64_t plog_durable_offset(const plog *l)
{
    (void)l;
    return INT64_MAX;
}
int64_t plog_start_offset(const plog *l)
{
    (void)l;
    return 0;
}
int64_t plog_end_offset(const plog *l)
{
    (void)l;
    return 0;
}
int plog_read_copy(plog *l, int64_t o, int32_t m, uint8_t **b, int32_t *n, int64_t *next)
{
    (void)l;
    (void)o;
    (void)m;
    (void)b;
    (void)n;
    (void)next;
    return -1;
}
btopic *topic_find(broker *b, const char *name)
{
    (void)b;
    (void)name;
    return NULL;
}
int topic_create(broker *b, const char *n, int32_t np, const char *c, bool i, btopic **out)
{
    (void)b;
    (void)n;
    (void)np;
    (void)c;
    (void)i;
    (void)out;
    return -1;
}
btopic *topic_internal(broker *b, const char *name, const char *configs)
{
    btopic *t = topic_find(b, name);
    if (!t && topic_create(b, name, 1, configs, true, &t) != 0) t = NULL;
    return t;
}
void breq_done(breq *r)
{
    (void)r;
}
const char *breq_client_host(const breq *r)
{
    (void)r;
    return "h";
}
char *breq_client_id(const breq *r)
{
    (void)r;
    return (char *)"c";
}
void kmsg_bad_field(const kmsg *m, kfid f)
{
    (void)m;
    (void)f;
    abort();
}
void k_set_str(kmsg *m, kfid f, const char *s)
{
    (void)m;
    (void)f;
    (void)s;
}
void k_set_bytes(kmsg *m, kfid f, const void *p, int32_t len)
{
    (void)m;
    (void)f;
    (void)p;
    (void)len;
}
kmsg *k_new_items(kmsg *m, kfid f, int32_t n)
{
    (void)m;
    (void)f;
    (void)n;
    return NULL;
}

/* ---------------------------------------------------------------- fixture ---- */

static broker g_b;
static btopic g_t;
static bpart g_p;
static bpart *g_pp[1] = {&g_p};

static group_coord *new_gc(void)
{
    memset(&g_b, 0, sizeof g_b);
    bconfig_init(&g_b.cfg);
    g_b.loop = loop_new();
    g_t.name = (char *)GROUP_OFFSETS_TOPIC;
    g_t.nparts = 1;
    g_t.parts = g_pp;
    g_p.topic = &g_t;
    group_coord *gc = xcalloc(1, sizeof *gc);
    gc->b = &g_b;
    gc->otopic = &g_t;
    g_b.groups = gc;
    free(g_appended);
    g_appended = NULL;
    g_appended_len = 0;
    g_leo = 0;
    return gc;
}

static void free_gc(group_coord *gc)
{
    while (gc->ngroups) gc_remove(gc, gc->groups[0]);
    free(gc->groups);
    free(gc);
    loop_free(g_b.loop);
    bconfig_free(&g_b.cfg);
}

/* ---------------------------------------------------------------- tests ---- */

static void test_offset_record_bytes(void **st)
{
    (void)st;
    group_coord *gc = new_gc();
    grecs *rs = grecs_new();
    goffset o = {.offset = 0x0102030405060708LL,
                 .leader_epoch = 7,
                 .metadata = (char *)"md",
                 .commit_ts = 1700000000000LL};
    grecs_offset(rs, "g", "t", 3, &o);
    size_t len;
    uint8_t *b = grecs_build_batch(rs, 1700000000000LL, &len);
    /* header */
    assert_int_equal(be32(b + 8), len - 12);
    assert_int_equal(b[16], 2);
    assert_int_equal(be32(b + 17), crc32c(b + 21, len - 21));
    assert_int_equal(be16(b + 21), 0);
    assert_int_equal(be32(b + 23), 0);           /* lastOffsetDelta */
    assert_int_equal((int64_t)be64(b + 43), -1); /* producerId */
    assert_int_equal(be32(b + 57), 1);           /* recordsCount */
    /* record: len, attrs 0, tsDelta 0, offDelta 0, key, value, 0 headers */
    static const uint8_t key[] = {0, 1, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 3};
    static const uint8_t val[] = {0,    3,    1,    2,    3,    4,    5,    6,   7,
                                  8,    0,    0,    0,    7,    0,    2,    'm', 'd',
                                  0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00};
    rbuf r = rbuf_make(b + 61, len - 61);
    int32_t rl = rbuf_varint(&r);
    assert_int_equal((size_t)rl, rbuf_left(&r));
    assert_int_equal(rbuf_i8(&r), 0);
    assert_int_equal(rbuf_varlong(&r), 0);
    assert_int_equal(rbuf_varint(&r), 0);
    assert_int_equal(rbuf_varint(&r), sizeof key);
    assert_memory_equal(rbuf_take(&r, sizeof key), key, sizeof key);
    assert_int_equal(rbuf_varint(&r), sizeof val);
    assert_memory_equal(rbuf_take(&r, sizeof val), val, sizeof val);
    assert_int_equal(rbuf_varint(&r), 0);
    assert_int_equal(r.err, 0);
    assert_int_equal(rbuf_left(&r), 0);
    free(b);
    grecs_free(rs);
    free_gc(gc);
}

static void test_group_record_bytes(void **st)
{
    (void)st;
    group_coord *gc = new_gc();
    group *g = gc_create(gc, "grp");
    free(g->protocol_type);
    g->protocol_type = xstrdup("consumer");
    g->generation = 5;
    g->protocol = xstrdup("range");
    g->leader = xstrdup("m1");
    g->state_ts = 1;
    gmember *m = g_add_member(g, "m1");
    m->client_id = xstrdup("c");
    m->client_host = xstrdup("h");
    m->session_ms = 10;
    m->rebalance_ms = 20;
    m->nprotos = 1;
    m->protos = xcalloc(1, sizeof *m->protos);
    m->protos[0].name = xstrdup("range");
    m->protos[0].meta = xmalloc(2);
    memcpy(m->protos[0].meta, "SU", 2);
    m->protos[0].len = 2;
    m->assign = xmalloc(1);
    m->assign[0] = 'A';
    m->assign_len = 1;
    grecs *rs = grecs_new();
    grecs_group(rs, g, false);
    size_t len;
    uint8_t *b = grecs_build_batch(rs, 1, &len);
    static const uint8_t want[] = {0,   2,   0,   3,   'g',  'r',  'p', /* key v2 */
                                   0,   3,   0,   8,   'c',  'o',  'n', 's', 'u', 'm',
                                   'e', 'r', /* v3, protocolType */
                                   0,   0,   0,   5,   0,    5,    'r', 'a', 'n', 'g',
                                   'e', 0,   2,   'm', '1', /* gen, protocol, leader */
                                   0,   0,   0,   0,   0,    0,    0,   1,   0,   0,
                                   0,   1, /* state ts, 1 member */
                                   0,   2,   'm', '1', 0xff, 0xff, 0,   1,   'c', 0,
                                   1,   'h', /* id, no instance, client */
                                   0,   0,   0,   20,  0,    0,    0,   10,  0,   0,
                                   0,   2,   'S', 'U', 0,    0,    0,   1,   'A'};
    /* key and value sit back to back after the key/value length varints */
    rbuf r = rbuf_make(b + 61, len - 61);
    rbuf_varint(&r);
    rbuf_i8(&r);
    rbuf_varlong(&r);
    rbuf_varint(&r);
    int32_t kl = rbuf_varint(&r);
    assert_int_equal(kl, 7);
    assert_memory_equal(rbuf_take(&r, 7), want, 7);
    int32_t vl = rbuf_varint(&r);
    assert_int_equal(vl, sizeof want - 7);
    assert_memory_equal(rbuf_take(&r, (size_t)vl), want + 7, sizeof want - 7);
    free(b);
    grecs_free(rs);
    free_gc(gc);
}

static void test_replay_and_tombstones(void **st)
{
    (void)st;
    group_coord *gc = new_gc();
    grecs *rs = grecs_new();
    goffset o1 = {.offset = 42, .leader_epoch = -1, .metadata = (char *)"", .commit_ts = 5};
    goffset o2 = {.offset = 7, .leader_epoch = 2, .metadata = (char *)"x", .commit_ts = 6};
    grecs_offset(rs, "g1", "t", 0, &o1);
    grecs_offset(rs, "g1", "t", 1, &o2);
    grecs_offset(rs, "g2", "u", 0, &o1);
    group tmp = {.id = (char *)"g1", .protocol_type = (char *)"consumer", .generation = 9};
    grecs_group(rs, &tmp, false);
    plog *l;
    int64_t end;
    assert_int_equal(grecs_append(gc, rs, &l, &end), 0);
    assert_int_equal(end, 4);
    grecs_free(rs);
    rs = grecs_new();
    grecs_offset(rs, "g1", "t", 1, NULL); /* tombstone */
    grecs_group(rs, &(group){.id = (char *)"g2"}, true);
    assert_int_equal(grecs_append(gc, rs, &l, &end), 0);
    grecs_free(rs);

    group_coord *gc2 = xcalloc(1, sizeof *gc2);
    gc2->b = &g_b;
    assert_int_equal(gstore_apply_batches(gc2, g_appended, g_appended_len), 2);
    group *g1 = gc_find(gc2, "g1");
    assert_non_null(g1);
    assert_int_equal(g1->generation, 9);
    assert_string_equal(g1->protocol_type, "consumer");
    assert_int_equal(g1->state, GS_EMPTY);
    assert_int_equal(g1->noffs, 1);
    assert_int_equal(g_offset_find(g1, "t", 0)->offset, 42);
    assert_null(g_offset_find(g1, "t", 1));
    /* g2 still has an offset, so its group tombstone only resets the metadata */
    group *g2 = gc_find(gc2, "g2");
    assert_non_null(g2);
    assert_int_equal(g2->noffs, 1);
    /* a truncated tail is ignored */
    assert_int_equal(gstore_apply_batches(gc2, g_appended, g_appended_len - 3), 1);
    while (gc2->ngroups) gc_remove(gc2, gc2->groups[0]);
    free(gc2->groups);
    free(gc2);
    free_gc(gc);
}

/* A gzip-compressed batch in __consumer_offsets (another client or a future eddyd may write
 * one) is replayed like a plain one; the store used to skip it with a warning. */
static void test_replay_compressed(void **st)
{
    (void)st;
    g_appended_len = 0;
    g_leo = 0;
    group_coord *gc = new_gc();
    grecs *rs = grecs_new();
    goffset o1 = {.offset = 99, .leader_epoch = -1, .metadata = (char *)"m", .commit_ts = 5};
    grecs_offset(rs, "gz", "t", 3, &o1);
    grecs_offset(rs, "gz", "t", 4, &o1);
    plog *l;
    int64_t end;
    assert_int_equal(grecs_append(gc, rs, &l, &end), 0);
    grecs_free(rs);
    int64_t base;
    int32_t total;
    assert_int_equal(batch_peek(g_appended, g_appended_len, &base, &total), BATCH_OK);
    assert_int_equal((size_t)total, g_appended_len);
    /* the same records, gzip'ed */
    size_t rl = (size_t)total - BATCH_HEADER_SIZE;
    uLong cap = compressBound((uLong)rl) + 64;
    uint8_t *nb = xmalloc(BATCH_HEADER_SIZE + cap);
    memcpy(nb, g_appended, BATCH_HEADER_SIZE);
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = g_appended + BATCH_HEADER_SIZE;
    z.avail_in = (uInt)rl;
    z.next_out = nb + BATCH_HEADER_SIZE;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t nl = BATCH_HEADER_SIZE + (cap - z.avail_out);
    deflateEnd(&z);
    batch_set_records(nb, nl, BATCH_CODEC_GZIP, 2);
    batch_info bi;
    assert_int_equal(batch_validate(nb, nl, &bi), BATCH_OK);
    group_coord *gc2 = xcalloc(1, sizeof *gc2);
    gc2->b = &g_b;
    assert_int_equal(gstore_apply_batches(gc2, nb, nl), 1);
    group *g = gc_find(gc2, "gz");
    assert_non_null(g);
    assert_int_equal(g->noffs, 2);
    assert_int_equal(g_offset_find(g, "t", 4)->offset, 99);
    assert_string_equal(g_offset_find(g, "t", 3)->metadata, "m");
    free(nb);
    while (gc2->ngroups) gc_remove(gc2, gc2->groups[0]);
    free(gc2->groups);
    free(gc2);
    free_gc(gc);
}

static void test_expiry(void **st)
{
    (void)st;
    group_coord *gc = new_gc();
    g_b.cfg.offsets_retention_minutes = 1;
    group *g = gc_create(gc, "old");
    goffset *o = g_offset_put(g, "t", 0);
    o->offset = 3;
    o->commit_ts = 1000;
    group *h = gc_create(gc, "new");
    o = g_offset_put(h, "t", 0);
    o->offset = 4;
    o->commit_ts = 100000;
    gstore_expire(gc, 100000);
    assert_null(gc_find(gc, "old"));
    assert_non_null(gc_find(gc, "new"));
    /* tombstones were written: offset + group */
    assert_true(g_appended_len > 61);
    assert_int_equal(be32(g_appended + 57), 2);
    free_gc(gc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offset_record_bytes),
        cmocka_unit_test(test_group_record_bytes),
        cmocka_unit_test(test_replay_and_tombstones),
        cmocka_unit_test(test_replay_compressed),
        cmocka_unit_test(test_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
