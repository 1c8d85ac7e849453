/* test_broker_logic — unit tests of the broker core's pure logic:
 *   idempotent-producer sequence checks (src/broker/producers.c: pidtab_*),
 *   topic name rules and topic config validation/override editing (src/broker/topics.c),
 *   record-level timestamp lookup in a batch, plain and compressed (src/broker/offsets.c).
 *
 * Storage, codec and server functions those files also call are stubbed below (they are never
 * reached by these tests); the real ones are exercised by the integration tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "broker/authorize.h"
#include "broker/core.h"
#include "common/buf.h"
#include "common/util.h"

/* ---------------------------------------------------------------- stubs ---- */
#define STUB(ret, name, args, val)                                                                 \
    ret name args                                                                                  \
    {                                                                                              \
        return val;                                                                                \
    }
STUB(int, plog_open, (const char *d, const plog_config *c, plog **o), -1)
void plog_close(plog *l)
{
    (void)l;
}
STUB(int, plog_delete, (plog * l), 0)
void plog_set_config(plog *l, const plog_config *c)
{
    (void)l;
    (void)c;
}
STUB(int64_t, plog_start_offset, (const plog *l), 0)
static int64_t g_end; /* plog_end_offset of every stub log (the transaction index test sets it) */
STUB(int64_t, plog_end_offset, (const plog *l), g_end)
STUB(int64_t, plog_durable_offset, (const plog *l), 0)
STUB(int, plog_append, (plog * l, uint8_t *b, size_t n, int64_t *o), -1)
STUB(int, plog_read, (plog * l, int64_t o, int32_t m, plog_slice *s), -1)
STUB(int, plog_read_headers, (plog * l, int64_t o, int32_t m, plog_slice *s), -1)
STUB(int, plog_read_copy, (plog * l, int64_t o, int32_t m, uint8_t **b, int32_t *n, int64_t *x), -1)
STUB(int, plog_offset_for_time, (plog * l, int64_t t, int64_t *o, int64_t *x), -1)
STUB(int, plog_max_timestamp, (plog * l, int64_t *o, int64_t *t), -1)
STUB(int, plog_delete_records, (plog * l, int64_t o), -1)
STUB(int, plog_enforce_retention, (plog * l, int64_t n), 0)
STUB(int, plog_compact, (plog * l, int64_t n), 0)
STUB(int, plog_scrub, (plog * l, int64_t b, plog_scrub_stats *s), 0)
STUB(int, plog_txnindex_add, (plog * l, const plog_txn_entry *e), 0)
STUB(int, plog_txnindex_recovery,
     (plog * l, plog_txn_entry **o, int32_t *n, int64_t *ib, int64_t *sf), -1)
void plog_txnindex_rebuilt(plog *l, int64_t floor)
{
    (void)l;
    (void)floor;
}
void plog_set_txn_floor(plog *l, int64_t (*fn)(void *arg), void *arg)
{
    (void)l;
    (void)fn;
    (void)arg;
}
void flusher_forget(flusher *f, plog *l)
{
    (void)f;
    (void)l;
}
void flusher_request(flusher *f, plog *l, int64_t o)
{
    (void)f;
    (void)l;
    (void)o;
}
/* the authorizer (authorize.c): no authorizer configured, every check passes */
int bauthz_init_producer_denied(broker *b, const breq *r, const uint8_t *tid, int32_t len)
{
    (void)b;
    (void)r;
    (void)tid;
    (void)len;
    return 0;
}
bool bauthz_allowed_k(broker *b, const breq *r, int restype, const uint8_t *name, int32_t len,
                      int op)
{
    (void)b;
    (void)r;
    (void)restype;
    (void)name;
    (void)len;
    (void)op;
    return true;
}
void breq_done(breq *r)
{
    (void)r;
}
void breq_done_noreply(breq *r)
{
    (void)r;
}
STUB(const char *, breq_client_host, (const breq *r), "h")
void kmsg_bad_field(const kmsg *m, kfid f)
{
    (void)m;
    (void)f;
    abort();
}
STUB(kmsg *, k_new_items, (kmsg * m, kfid f, int32_t n), NULL)
STUB(kval *, k_set_array, (kmsg * m, kfid f, int32_t n), NULL)
STUB(void *, karena_alloc, (karena * a, size_t n), NULL)
STUB(char *, karena_strdup, (karena * a, const char *s), NULL)
void k_set_str(kmsg *m, kfid f, const char *s)
{
    (void)m;
    (void)f;
    (void)s;
}
void k_set_ref(kmsg *m, kfid f, const void *p, int32_t n)
{
    (void)m;
    (void)f;
    (void)p;
    (void)n;
}

/* ---------------------------------------------------------------- pidtab ---- */

static void test_pid_sequences(void **state)
{
    (void)state;
    pidtab *t = pidtab_new();
    int64_t dup = -1;
    /* unknown producer: anything is accepted (Kafka 3.x) */
    assert_int_equal(pidtab_check(t, 7, 0, 42, 4, &dup), PID_APPEND);
    pidtab_record(t, 7, 0, 0, 4, 100); /* seq 0..4 at offset 100 */
    assert_int_equal(pidtab_count(t), 1);
    /* next in order */
    assert_int_equal(pidtab_check(t, 7, 0, 5, 0, &dup), PID_APPEND);
    pidtab_record(t, 7, 0, 5, 0, 105);
    /* exact duplicate of an earlier batch: its original offset */
    assert_int_equal(pidtab_check(t, 7, 0, 0, 4, &dup), PID_DUPLICATE);
    assert_int_equal(dup, 100);
    assert_int_equal(pidtab_check(t, 7, 0, 5, 0, &dup), PID_DUPLICATE);
    assert_int_equal(dup, 105);
    /* gap */
    assert_int_equal(pidtab_check(t, 7, 0, 7, 0, &dup), KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    /* partial overlap is not a duplicate */
    assert_int_equal(pidtab_check(t, 7, 0, 0, 2, &dup), KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    /* older epoch fenced, newer epoch must restart at 0 */
    pidtab_record(t, 8, 3, 0, 0, 200);
    assert_int_equal(pidtab_check(t, 8, 2, 1, 0, &dup), KERR_INVALID_PRODUCER_EPOCH);
    assert_int_equal(pidtab_check(t, 8, 4, 1, 0, &dup), KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_int_equal(pidtab_check(t, 8, 4, 0, 0, &dup), PID_APPEND);
    pidtab_record(t, 8, 4, 0, 0, 201);
    assert_int_equal(pidtab_check(t, 8, 4, 1, 0, &dup), PID_APPEND);
    /* only the last 5 batches are remembered */
    for (int i = 0; i < 6; i++) pidtab_record(t, 9, 0, i, 0, 300 + i);
    assert_int_equal(pidtab_check(t, 9, 0, 5, 0, &dup), PID_DUPLICATE);
    assert_int_equal(dup, 305);
    assert_int_equal(pidtab_check(t, 9, 0, 1, 0, &dup), PID_DUPLICATE);
    assert_int_not_equal(pidtab_check(t, 9, 0, 0, 0, &dup), PID_DUPLICATE);
    /* wrap-around after INT32_MAX */
    pidtab_record(t, 10, 0, INT32_MAX - 1, 1, 400);
    assert_int_equal(pidtab_check(t, 10, 0, 0, 0, &dup), PID_APPEND);
    assert_int_equal(pidtab_check(t, 10, 0, INT32_MAX - 1, 1, &dup), PID_DUPLICATE);
    /* many producers (table growth) */
    for (int64_t p = 1000; p < 3000; p++) pidtab_record(t, p, 0, 0, 0, p);
    for (int64_t p = 1000; p < 3000; p++) {
        assert_int_equal(pidtab_check(t, p, 0, 0, 0, &dup), PID_DUPLICATE);
        assert_int_equal(dup, p);
    }
    pidtab_free(t);
}

/* The log side of transactions (txnlog.c): open transactions, LSO, the aborted index, fencing
 * by markers. */
static void test_txn_index(void **state)
{
    (void)state;
    bpart p;
    memset(&p, 0, sizeof p);
    g_end = 10;
    assert_int_equal(part_lso(&p), 10); /* nothing open: the high watermark */
    batch_info bi;
    memset(&bi, 0, sizeof bi);
    bi.attributes = BATCH_ATTR_TRANSACTIONAL;
    bi.producer_id = 1;
    bi.last_offset_delta = 1;
    ptxn_on_append(&p, &bi, 3); /* producer 1: offsets 3-4 */
    ptxn_on_append(&p, &bi, 6); /* and 6-7, same transaction */
    bi.producer_id = 2;
    bi.last_offset_delta = 0;
    ptxn_on_append(&p, &bi, 5); /* producer 2: offset 5 */
    assert_int_equal(part_lso(&p), 3);
    assert_int_equal(part_open_txns(&p, NULL), 2);
    int64_t first = -1;
    assert_int_equal(part_txn_producer(&p, 2, &first), 1);
    assert_int_equal(first, 5);
    ptxn_on_marker(&p, 1, false, 8); /* producer 1 aborts at 8 */
    assert_int_equal(part_lso(&p), 5);
    ptxn_on_marker(&p, 2, true, 9); /* producer 2 commits at 9 */
    assert_int_equal(part_lso(&p), 10);
    ptxn_on_marker(&p, 2, false, 9); /* a marker with nothing open ends nothing */
    ptxn_aborted ab[4];
    assert_int_equal(ptxn_aborted_between(&p, 0, 10, ab, 4), 1);
    assert_int_equal(ab[0].pid, 1);
    assert_int_equal(ab[0].first, 3);
    assert_int_equal(ab[0].last, 8);
    assert_int_equal(ptxn_aborted_between(&p, 8, 10, NULL, 4), 1); /* up to its marker */
    assert_int_equal(ptxn_aborted_between(&p, 9, 10, NULL, 4), 0); /* ended before */
    assert_int_equal(ptxn_aborted_between(&p, 0, 3, NULL, 4), 0);  /* starts after */
    ptxn_free(&p);
    /* a marker's epoch fences older epochs of its producer */
    pidtab *t = pidtab_new();
    int64_t dup;
    pidtab_record(t, 11, 4, 0, 9, 0);
    pidtab_fence(t, 11, 5);
    assert_int_equal(pidtab_check(t, 11, 4, 10, 0, &dup), KERR_INVALID_PRODUCER_EPOCH);
    assert_int_equal(pidtab_check(t, 11, 5, 0, 0, &dup), PID_APPEND);
    pidtab_fence(t, 12, 3); /* unknown producer: remembered at that epoch */
    assert_int_equal(pidtab_check(t, 12, 2, 0, 0, &dup), KERR_INVALID_PRODUCER_EPOCH);
    pidtab_free(t);
    g_end = 0;
}

/* ---------------------------------------------------------------- names, configs ---- */

static void test_topic_names(void **state)
{
    (void)state;
    assert_true(topic_name_valid("orders", 6));
    assert_true(topic_name_valid("a.b_c-D9", 8));
    assert_false(topic_name_valid("", 0));
    assert_false(topic_name_valid(".", 1));
    assert_false(topic_name_valid("..", 2));
    assert_true(topic_name_valid("...", 3));
    assert_false(topic_name_valid("a b", 3));
    assert_false(topic_name_valid("a/b", 3));
    assert_false(topic_name_valid("ü", strlen("ü")));
    char longn[251];
    memset(longn, 'x', sizeof longn);
    assert_true(topic_name_valid(longn, 249));
    assert_false(topic_name_valid(longn, 250));
}

static void test_topic_configs(void **state)
{
    (void)state;
    bconfig bc;
    bconfig_init(&bc);
    topic_config c;
    char err[128];
    assert_int_equal(tconf_build(&bc, NULL, &c, err, sizeof err), 0);
    assert_int_equal(c.max_message_bytes, bc.message_max_bytes);
    assert_int_equal(c.log.cleanup_policy, PLOG_CLEANUP_DELETE);
    assert_false(c.log_append_time);
    free(c.overrides);
    assert_int_equal(tconf_build(&bc,
                                 "cleanup.policy=compact,delete\nretention.ms=-1\n"
                                 "message.timestamp.type=LogAppendTime\nmax.message.bytes=100\n"
                                 "segment.bytes=1048576\nmin.insync.replicas=1\n"
                                 "compression.type=producer\n",
                                 &c, err, sizeof err),
                     0);
    assert_int_equal(c.log.cleanup_policy, PLOG_CLEANUP_DELETE | PLOG_CLEANUP_COMPACT);
    assert_int_equal(c.log.retention_ms, -1);
    assert_true(c.log_append_time);
    assert_int_equal(c.max_message_bytes, 100);
    assert_int_equal(c.log.segment_bytes, 1048576);
    char buf[64];
    bool ov;
    assert_string_equal(tconf_value(&c, "cleanup.policy", buf, sizeof buf, &ov), "compact,delete");
    assert_true(ov);
    assert_string_equal(tconf_value(&c, "delete.retention.ms", buf, sizeof buf, &ov), "86400000");
    assert_false(ov);
    free(c.overrides);
    static const char *bad[] = {
        "cleanup.policy=shred\n",
        "retention.ms=-2\n",
        "retention.ms=abc\n",
        "segment.bytes=10\n",
        "message.timestamp.type=Now\n",
        "min.insync.replicas=0\n",
        "compression.type=brotli\n",
        "no.such.key=1\n",
        "min.cleanable.dirty.ratio=1.5\n",
        "preallocate=yes\n",
        "compression.gzip.level=10\n",
        "message.format.version=soon\n",
        "leader.replication.throttled.replicas=0-1\n",
        "max.message.bytes=-1\n",
        "noequals\n",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(tconf_build(&bc, bad[i], &c, err, sizeof err), KERR_INVALID_CONFIG);
    /* override editing */
    char *s = tconf_override_set("a=1\nb=2\n", "a", "3");
    assert_string_equal(s, "b=2\na=3\n");
    char *g = tconf_override_get(s, "a");
    assert_string_equal(g, "3");
    free(g);
    char *s2 = tconf_override_set(s, "b", NULL);
    assert_string_equal(s2, "a=3\n");
    assert_null(tconf_override_get(s2, "b"));
    free(s);
    free(s2);
    bconfig_free(&bc);
}

/* ---------------------------------------------------------------- records ---- */

/* The two records of kafka-protocol.md §3.4 (ts base and base+5, offset deltas 0 and 1). */
static const uint8_t k_records[] = {0x1a, 0x00, 0x00, 0x00, 0x02, 0x6b, 0x04, 0x68,
                                    0x69, 0x02, 0x02, 0x68, 0x02, 0x76, 0x0e, 0x00,
                                    0x0a, 0x02, 0x01, 0x02, 0x78, 0x00};
#define BASE_TS 1700000000000LL

static size_t make_batch(uint8_t *out, int codec, const uint8_t *recs, size_t n)
{
    memset(out, 0, BATCH_HEADER_SIZE);
    put_be64(out, 42);
    put_be32(out + 8, (uint32_t)(BATCH_HEADER_SIZE - 12 + n));
    out[16] = 2;
    out[22] = (uint8_t)codec;
    put_be32(out + 23, 1);
    put_be64(out + 27, (uint64_t)BASE_TS);
    put_be64(out + 35, (uint64_t)(BASE_TS + 5));
    put_be64(out + 43, (uint64_t)-1);
    out[51] = out[52] = 0xff;
    put_be32(out + 53, 0xffffffffu);
    put_be32(out + 57, 2);
    memcpy(out + BATCH_HEADER_SIZE, recs, n);
    return BATCH_HEADER_SIZE + n;
}

static void check_find(const uint8_t *b, size_t n)
{
    int64_t off = -1, ts = -1;
    assert_int_equal(records_find_time(b, n, 0, &off, &ts), 0);
    assert_int_equal(off, 42);
    assert_int_equal(ts, BASE_TS);
    assert_int_equal(records_find_time(b, n, BASE_TS + 1, &off, &ts), 0);
    assert_int_equal(off, 43);
    assert_int_equal(ts, BASE_TS + 5);
    assert_int_equal(records_find_time(b, n, BASE_TS + 5, &off, &ts), 0);
    assert_int_equal(off, 43);
    assert_int_equal(records_find_time(b, n, BASE_TS + 6, &off, &ts), 1);
}

static void test_records_plain(void **state)
{
    (void)state;
    uint8_t b[256];
    size_t n = make_batch(b, 0, k_records, sizeof k_records);
    check_find(b, n);
    /* LogAppendTime: every record has the batch time */
    b[22] = 0x08;
    int64_t off, ts;
    assert_int_equal(records_find_time(b, n, BASE_TS + 1, &off, &ts), 0);
    assert_int_equal(off, 42);
    assert_int_equal(ts, BASE_TS + 5);
    /* truncated batches never read out of bounds */
    b[22] = 0;
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *c = xmalloc(cut ? cut : 1);
        memcpy(c, b, cut);
        int rc = records_find_time(c, cut, BASE_TS + 1, &off, &ts);
        assert_true(rc != 0);
        free(c);
    }
}

static void test_records_compressed(void **state)
{
    (void)state;
    uint8_t comp[1024], b[2048];
    /* gzip */
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)k_records;
    zs.avail_in = sizeof k_records;
    zs.next_out = comp;
    zs.avail_out = sizeof comp;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t cn = sizeof comp - zs.avail_out;
    deflateEnd(&zs);
    check_find(b, make_batch(b, 1, comp, cn));
    /* snappy raw */
    size_t sn = sizeof comp;
    assert_int_equal(snappy_compress((const char *)k_records, sizeof k_records, (char *)comp, &sn),
                     SNAPPY_OK);
    check_find(b, make_batch(b, 2, comp, sn));
    /* snappy, xerial framing (Java) */
    uint8_t xf[1024];
    static const uint8_t hdr[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
    memcpy(xf, hdr, 16);
    put_be32(xf + 16, (uint32_t)sn);
    memcpy(xf + 20, comp, sn);
    check_find(b, make_batch(b, 2, xf, 20 + sn));
    /* lz4 frame */
    size_t ln = LZ4F_compressFrame(comp, sizeof comp, k_records, sizeof k_records, NULL);
    assert_false(LZ4F_isError(ln));
    check_find(b, make_batch(b, 3, comp, ln));
    /* zstd */
    size_t zn = ZSTD_compress(comp, sizeof comp, k_records, sizeof k_records, 3);
    assert_false(ZSTD_isError(zn));
    check_find(b, make_batch(b, 4, comp, zn));
    /* garbage in a compressed batch: an error, no crash */
    memset(comp, 0xAB, 64);
    int64_t off, ts;
    for (int codec = 1; codec <= 4; codec++) {
        size_t n = make_batch(b, codec, comp, 64);
        assert_true(records_find_time(b, n, BASE_TS + 1, &off, &ts) != 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pid_sequences), cmocka_unit_test(test_txn_index),
        cmocka_unit_test(test_topic_names),   cmocka_unit_test(test_topic_configs),
        cmocka_unit_test(test_records_plain), cmocka_unit_test(test_records_compressed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
