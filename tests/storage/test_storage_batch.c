/* test_storage_batch — unit tests of the RecordBatch reader (src/storage/batch.c): every codec
 * round-trips; truncated, garbage-tailed and garbage input is an error for every codec (never
 * partial records); the output cap stops a decompression bomb; the record iterator rejects each
 * malformed-record shape of issue 11 (negative key length, huge record length, overlong
 * varint, header counts 2^31-1 and -3, a count of 2 with one record, bytes after the last
 * record); produce-time validation names the bad record; the tailer reads a real partition log
 * from an offset, decompressing and skipping control and undecodable batches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"
#include "storage/plog.h"
#include "test_storage_util.h"

#define TS0 1700000000000LL

/* One record body as a client would write it; hk/hv add one header when hk != NULL. */
static void put_rec(wbuf *w, int32_t od, int64_t tsd, const char *k, const char *v, const char *hk,
                    const char *hv)
{
    wbuf b;
    wbuf_init(&b, 0);
    wbuf_i8(&b, 0);
    wbuf_varlong(&b, tsd);
    wbuf_varint(&b, od);
    wbuf_varint(&b, k ? (int32_t)strlen(k) : -1);
    if (k) wbuf_put(&b, k, strlen(k));
    wbuf_varint(&b, v ? (int32_t)strlen(v) : -1);
    if (v) wbuf_put(&b, v, strlen(v));
    wbuf_varint(&b, hk ? 1 : 0);
    if (hk) {
        wbuf_varint(&b, (int32_t)strlen(hk));
        wbuf_put(&b, hk, strlen(hk));
        wbuf_varint(&b, hv ? (int32_t)strlen(hv) : -1);
        if (hv) wbuf_put(&b, hv, strlen(hv));
    }
    wbuf_varint(w, (int32_t)b.len);
    wbuf_put(w, b.data, b.len);
    wbuf_free(&b);
}

/* A batch around an already encoded records section (codec 5 = snappy xerial, stored as 2). */
static tbatch wrap(int codec, const uint8_t *recs, size_t n, int32_t count)
{
    wbuf w;
    wbuf_init(&w, 0);
    uint8_t hdr[BATCH_HEADER_SIZE] = {0};
    wbuf_put(&w, hdr, sizeof hdr);
    tb_compress(codec, recs, n, &w);
    uint8_t *p = w.data;
    put_be64(p, 0);
    put_be32(p + 8, (uint32_t)(w.len - 12));
    p[16] = 2;
    put_be32(p + 23, (uint32_t)(count - 1));
    put_be64(p + 27, (uint64_t)TS0);
    put_be64(p + 35, (uint64_t)TS0);
    put_be64(p + 43, (uint64_t)-1);
    put_be16(p + 51, 0xffff);
    put_be32(p + 53, (uint32_t)-1);
    batch_set_records(p, w.len, (int16_t)(codec == 5 ? 2 : codec), count);
    tbatch b = {p, w.len};
    return b;
}

static void three_records(wbuf *w)
{
    put_rec(w, 0, 0, "k0", "v0", NULL, NULL);
    put_rec(w, 1, 7, NULL, "v1", "h", "hv");
    put_rec(w, 2, 3, "k2", NULL, "h2", NULL);
}

static void check_three(const tbatch *b)
{
    batch_iter it;
    batch_record r;
    assert_int_equal(batch_iter_init(&it, b->p, b->len, 0), BATCH_OK);
    assert_int_equal(batch_iter_next(&it, &r), 1);
    assert_int_equal(r.index, 0);
    assert_int_equal(r.key_len, 2);
    assert_memory_equal(r.key, "k0", 2);
    assert_memory_equal(r.value, "v0", 2);
    assert_int_equal(r.header_count, 0);
    assert_int_equal(r.timestamp, TS0);
    assert_int_equal(batch_iter_next(&it, &r), 1);
    assert_null(r.key);
    assert_int_equal(r.key_len, -1);
    assert_int_equal(r.header_count, 1);
    assert_int_equal(r.timestamp, TS0 + 7);
    assert_int_equal(r.offset, 1);
    assert_int_equal(batch_iter_next(&it, &r), 1);
    assert_null(r.value);
    assert_int_equal(r.value_len, -1);
    assert_int_equal(batch_iter_next(&it, &r), 0);
    assert_int_equal(batch_iter_next(&it, &r), 0);
    batch_iter_free(&it);
    int32_t bad;
    const char *why;
    int64_t mts;
    assert_int_equal(batch_check_records(b->p, b->len, 0, &bad, &why, &mts), BATCH_OK);
    assert_int_equal(mts, TS0 + 7);
}

static void test_codecs_round_trip(void **st)
{
    (void)st;
    wbuf w;
    wbuf_init(&w, 0);
    three_records(&w);
    for (int codec = 0; codec <= 5; codec++) {
        tbatch b = wrap(codec, w.data, w.len, 3);
        batch_info bi;
        assert_int_equal(batch_validate(b.p, b.len, &bi), BATCH_OK);
        check_three(&b);
        free(b.p);
    }
    wbuf_free(&w);
}

/* compression.type on append: from every codec (xerial snappy too) to every codec, at the
 * lowest and highest levels: a valid batch, same records, the target codec bits. */
static void test_recompress_matrix(void **st)
{
    (void)st;
    wbuf w;
    wbuf_init(&w, 0);
    three_records(&w);
    static const int levels[5][2] = {{0, 0}, {-1, 9}, {0, 0}, {1, 17}, {-5, 22}};
    for (int from = 0; from <= 5; from++) {
        tbatch b = wrap(from, w.data, w.len, 3);
        for (int to = 0; to <= 4; to++)
            for (int li = 0; li < 2; li++) {
                uint8_t *out = NULL;
                size_t olen = 0;
                assert_int_equal(
                    batch_recompress(b.p, b.len, to, levels[to][li], 1 << 20, &out, &olen),
                    BATCH_OK);
                batch_info bi;
                assert_int_equal(batch_validate(out, olen, &bi), BATCH_OK);
                assert_int_equal(bi.attributes & BATCH_ATTR_COMPRESSION, to);
                assert_int_equal(bi.base_timestamp, TS0);
                tbatch r = {out, olen};
                check_three(&r);
                free(out);
            }
        free(b.p);
    }
    uint8_t *out = (uint8_t *)1;
    size_t olen = 1;
    tbatch b = wrap(0, w.data, w.len, 3);
    assert_int_equal(batch_recompress(b.p, b.len, 6, 0, 1 << 20, &out, &olen), BATCH_ERR_CODEC);
    assert_null(out);
    free(b.p);
    wbuf_free(&w);
}

/* Every cut of a compressed section, and garbage after it, is BATCH_ERR_CORRUPT. */
static void test_truncated_and_trailing(void **st)
{
    (void)st;
    wbuf w;
    wbuf_init(&w, 0);
    for (int i = 0; i < 40; i++) put_rec(&w, i, i, "key", "a value that repeats a value", 0, 0);
    for (int codec = 1; codec <= 5; codec++) {
        wbuf c;
        wbuf_init(&c, 0);
        tb_compress(codec, w.data, w.len, &c);
        int store = codec == 5 ? 2 : codec;
        /* xerial has no total length: a cut between its blocks is a valid shorter stream,
         * which the record count then catches (test_bad_records) */
        size_t block2 = codec == 5 ? 20 + be32(c.data + 16) : 0;
        for (size_t cut = 0; cut < c.len; cut++) {
            if (codec == 5 && (cut == 16 || cut == block2)) continue;
            uint8_t *out = (uint8_t *)1;
            size_t olen = 1;
            int rc = batch_decompress(store, c.data, cut, 0, &out, &olen);
            if (rc != BATCH_ERR_CORRUPT) fail_msg("codec %d cut %zu: rc %d", codec, cut, rc);
            assert_null(out);
            assert_int_equal(olen, 0);
        }
        uint8_t *out;
        size_t olen;
        assert_int_equal(batch_decompress(store, c.data, c.len, 0, &out, &olen), BATCH_OK);
        assert_int_equal(olen, w.len);
        assert_memory_equal(out, w.data, w.len);
        free(out);
        wbuf_put(&c, "\x01\x02\x03\x04\x05\x06\x07", 7);
        assert_int_equal(batch_decompress(store, c.data, c.len, 0, &out, &olen), BATCH_ERR_CORRUPT);
        wbuf_free(&c);
    }
    wbuf_free(&w);
}

static void test_garbage(void **st)
{
    (void)st;
    uint8_t g[300];
    for (size_t i = 0; i < sizeof g; i++) g[i] = (uint8_t)(i * 37 + 11);
    for (int codec = 1; codec <= 4; codec++) {
        uint8_t *out;
        size_t olen;
        assert_int_equal(batch_decompress(codec, g, sizeof g, 0, &out, &olen), BATCH_ERR_CORRUPT);
        memset(g, 0xA5, sizeof g);
        assert_int_equal(batch_decompress(codec, g, sizeof g, 0, &out, &olen), BATCH_ERR_CORRUPT);
    }
    uint8_t *out;
    size_t olen;
    for (int codec = 5; codec <= 7; codec++)
        assert_int_equal(batch_decompress(codec, g, sizeof g, 0, &out, &olen), BATCH_ERR_CODEC);
    /* a batch whose compressed records are garbage: the iterator yields nothing */
    uint8_t b[BATCH_HEADER_SIZE + 40];
    memset(b, 0xA5, sizeof b);
    put_be32(b + 8, (uint32_t)(sizeof b - 12));
    b[16] = 2;
    for (int codec = 0; codec <= 7; codec++) {
        batch_set_records(b, sizeof b, (int16_t)codec, 5);
        batch_iter it;
        batch_record r;
        int rc = batch_iter_init(&it, b, sizeof b, 0);
        if (rc == BATCH_OK) rc = batch_iter_next(&it, &r);
        assert_true(rc < 0);
        batch_iter_free(&it);
    }
}

/* 4 MiB of zeros under a 1 MiB cap: BATCH_ERR_TOO_BIG for every codec, nothing returned. */
static void test_cap(void **st)
{
    (void)st;
    size_t n = 4 << 20;
    uint8_t *zeros = calloc(1, n);
    for (int codec = 1; codec <= 5; codec++) {
        wbuf c;
        wbuf_init(&c, 0);
        tb_compress(codec, zeros, n, &c);
        int store = codec == 5 ? 2 : codec;
        uint8_t *out = (uint8_t *)1;
        size_t olen;
        assert_int_equal(batch_decompress(store, c.data, c.len, 1 << 20, &out, &olen),
                         BATCH_ERR_TOO_BIG);
        assert_null(out);
        assert_int_equal(batch_decompress(store, c.data, c.len, n, &out, &olen), BATCH_OK);
        assert_int_equal(olen, n);
        free(out);
        wbuf_free(&c);
    }
    free(zeros);
    assert_int_equal(batch_inflate_cap(1048588), 32 * 1048588);
    assert_int_equal(batch_inflate_cap(1000), 8 << 20);
    assert_int_equal(batch_inflate_cap(INT32_MAX), BATCH_INFLATE_MAX);
}

/* A records section with one hand-made record after a good one. */
static int check_bad(const uint8_t *rec, size_t n, int32_t count, int codec, int want,
                     int32_t want_index)
{
    wbuf w;
    wbuf_init(&w, 0);
    put_rec(&w, 0, 0, "k", "v", NULL, NULL);
    wbuf_put(&w, rec, n);
    tbatch b = wrap(codec, w.data, w.len, count);
    int32_t bad;
    const char *why;
    int64_t mts;
    batch_info bi;
    assert_int_equal(batch_validate(b.p, b.len, &bi), BATCH_OK);
    int rc = batch_check_records(b.p, b.len, 0, &bad, &why, &mts);
    assert_int_equal(rc, want);
    assert_int_equal(bad, want_index);
    if (want != BATCH_OK) assert_non_null(why);
    free(b.p);
    wbuf_free(&w);
    return rc;
}

static void test_bad_records(void **st)
{
    (void)st;
    for (int codec = 0; codec <= 4; codec++) {
        /* negative key length (-3 zigzag = 5); record lengths are zigzag too (7 -> 14) */
        static const uint8_t neg_key[] = {14, 0, 0, 2, 5, 2, 'v', 0};
        check_bad(neg_key, sizeof neg_key, 2, codec, BATCH_ERR_RECORD, 1);
        /* record length 2^40: a varint of 6 bytes */
        static const uint8_t huge[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0, 0, 0};
        check_bad(huge, sizeof huge, 2, codec, BATCH_ERR_RECORD, 1);
        /* record length 2^30: past the batch */
        static const uint8_t big[] = {0x80, 0x80, 0x80, 0x80, 0x08, 0, 0, 2, 0, 0, 0};
        check_bad(big, sizeof big, 2, codec, BATCH_ERR_RECORD, 1);
        /* an overlong varint for the offset delta (6 bytes) */
        static const uint8_t overlong[] = {22, 0, 0, 0x82, 0x80, 0x80, 0x80, 0x80, 0x00, 0, 0, 0};
        check_bad(overlong, sizeof overlong, 2, codec, BATCH_ERR_RECORD, 1);
        /* header count 2^31-1 (zigzag 0xFFFFFFFE) */
        static const uint8_t hmax[] = {20, 0, 0, 2, 1, 1, 0xFE, 0xFF, 0xFF, 0xFF, 0x0F};
        check_bad(hmax, sizeof hmax, 2, codec, BATCH_ERR_RECORD, 1);
        /* header count -3 */
        static const uint8_t hneg[] = {12, 0, 0, 2, 1, 1, 5};
        check_bad(hneg, sizeof hneg, 2, codec, BATCH_ERR_RECORD, 1);
        /* a record longer than its fields */
        static const uint8_t loose[] = {24, 0, 0, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0};
        check_bad(loose, sizeof loose, 2, codec, BATCH_ERR_RECORD, 1);
        /* offset delta 5 for record 1 */
        static const uint8_t odelta[] = {12, 0, 0, 10, 1, 1, 0};
        check_bad(odelta, sizeof odelta, 2, codec, BATCH_ERR_RECORD, 1);
        /* a count of 3 with 2 records; a count of 1 with 2 records (bytes after the last) */
        static const uint8_t good[] = {12, 0, 0, 2, 1, 1, 0};
        check_bad(good, sizeof good, 3, codec, BATCH_ERR_COUNT, -1);
        check_bad(good, sizeof good, 1, codec, BATCH_ERR_COUNT, -1);
        assert_int_equal(check_bad(good, sizeof good, 2, codec, BATCH_OK, -1), BATCH_OK);
    }
}

/* Every cut of a good uncompressed batch: a clean error from the iterator, never a read past
 * the bytes given (ASan watches). */
static void test_iter_cuts(void **st)
{
    (void)st;
    wbuf w;
    wbuf_init(&w, 0);
    three_records(&w);
    tbatch b = wrap(0, w.data, w.len, 3);
    for (size_t cut = 0; cut < b.len; cut++) {
        uint8_t *c = xmalloc(cut ? cut : 1);
        memcpy(c, b.p, cut);
        batch_iter it;
        batch_record r;
        int rc = batch_iter_init(&it, c, cut, 0);
        assert_true(rc < 0);
        assert_true(batch_iter_next(&it, &r) < 0);
        batch_iter_free(&it);
        /* the same bytes with the length field shortened to match the cut */
        if (cut >= BATCH_HEADER_SIZE) {
            put_be32(c + 8, (uint32_t)(cut - 12));
            rc = batch_iter_init(&it, c, cut, 0);
            assert_int_equal(rc, BATCH_OK);
            int n = 0;
            while ((rc = batch_iter_next(&it, &r)) > 0) n++;
            assert_true(rc < 0);
            assert_true(n < 3);
            batch_iter_free(&it);
        }
        free(c);
    }
    free(b.p);
    wbuf_free(&w);
}

static void test_header_helpers(void **st)
{
    (void)st;
    wbuf w;
    wbuf_init(&w, 0);
    three_records(&w);
    tbatch b = wrap(0, w.data, w.len, 3);
    batch_info bi;
    batch_set_base_offset(b.p, 1234);
    batch_set_leader_epoch(b.p, 7);
    assert_int_equal(batch_validate(b.p, b.len, &bi), BATCH_OK); /* both outside the CRC */
    assert_int_equal(bi.base_offset, 1234);
    assert_int_equal(bi.leader_epoch, 7);
    batch_set_log_append_time(b.p, b.len, TS0 + 99);
    assert_int_equal(batch_validate(b.p, b.len, &bi), BATCH_OK);
    assert_true(bi.attributes & BATCH_ATTR_LOG_APPEND_TIME);
    assert_int_equal(bi.max_timestamp, TS0 + 99);
    batch_iter it;
    batch_record r;
    assert_int_equal(batch_iter_init(&it, b.p, b.len, 0), BATCH_OK);
    assert_int_equal(batch_iter_next(&it, &r), 1);
    assert_int_equal(r.timestamp, TS0 + 99);
    batch_iter_free(&it);
    b.p[40] ^= 1;
    assert_false(batch_crc_ok(b.p, b.len));
    assert_int_equal(batch_validate(b.p, b.len, &bi), BATCH_ERR_CRC);
    int64_t base;
    int32_t total;
    assert_int_equal(batch_peek(b.p, b.len, &base, &total), BATCH_OK);
    assert_int_equal(total, (int32_t)b.len);
    put_be32(b.p + 8, 0);
    assert_int_equal(batch_peek(b.p, b.len, &base, &total), BATCH_ERR_SHORT);
    assert_int_equal(total, 0);
    assert_string_equal(batch_strerror(BATCH_ERR_CRC), "CRC-32C mismatch");
    free(b.p);
    wbuf_free(&w);
}

/* batch_build: headers, null key, tombstone, per-record timestamps; it reads back as built. */
static void test_build(void **st)
{
    (void)st;
    batch_header hs[2] = {{"a", 1, "1", 1}, {"b", 1, NULL, 0}};
    batch_rec rs[3] = {
        {"k", 1, "v", 1, hs, 2, TS0 + 5},
        {NULL, 0, "w", 1, NULL, 0, TS0 - 3},
        {"t", 1, NULL, 0, NULL, 0, 0},
    };
    size_t n;
    uint8_t *p = batch_build(rs, 3, TS0, &n);
    batch_info bi;
    assert_int_equal(batch_validate(p, n, &bi), BATCH_OK);
    assert_int_equal(bi.base_timestamp, TS0 - 3);
    assert_int_equal(bi.max_timestamp, TS0 + 5);
    int32_t bad;
    const char *why;
    int64_t mts;
    assert_int_equal(batch_check_records(p, n, 0, &bad, &why, &mts), BATCH_OK);
    assert_int_equal(mts, TS0 + 5);
    batch_iter it;
    batch_record r;
    assert_int_equal(batch_iter_init(&it, p, n, 0), BATCH_OK);
    assert_int_equal(batch_iter_next(&it, &r), 1);
    assert_int_equal(r.timestamp, TS0 + 5);
    assert_int_equal(r.header_count, 2);
    static const uint8_t wire[] = {2, 'a', 2, '1', 2, 'b', 1};
    assert_int_equal(r.headers_len, sizeof wire);
    assert_memory_equal(r.headers, wire, sizeof wire);
    assert_int_equal(batch_iter_next(&it, &r), 1);
    assert_int_equal(r.key_len, -1);
    assert_int_equal(r.timestamp, TS0 - 3);
    assert_int_equal(batch_iter_next(&it, &r), 1);
    assert_int_equal(r.value_len, -1);
    assert_int_equal(r.timestamp, TS0);
    assert_int_equal(batch_iter_next(&it, &r), 0);
    batch_iter_free(&it);
    free(p);
}

/* ------------------------------------------------------------------ tailer ---- */

typedef struct seen {
    int64_t off[64];
    char val[64][8];
    int n;
    int stop_at;
} seen;

static int on_rec(const batch_info *bi, const batch_record *r, void *arg)
{
    (void)bi;
    seen *s = arg;
    assert_true(s->n < 64);
    s->off[s->n] = r->offset;
    snprintf(s->val[s->n], sizeof s->val[0], "%.*s", r->value_len, (const char *)r->value);
    s->n++;
    return s->n == s->stop_at ? 42 : 0;
}

static void test_tail(void **st)
{
    (void)st;
    char *dir = tmp_dir("batch-tail");
    plog_config cfg;
    plog_config_default(&cfg);
    plog *l;
    assert_int_equal(plog_open(dir, &cfg, &l), 0);
    int64_t base;
    /* offsets 0-2 plain, 3-5 zstd, 6 control (skipped), 7-8 undecodable lz4, 9-11 gzip */
    for (int codec = 0; codec <= 4; codec++) {
        wbuf w;
        wbuf_init(&w, 0);
        if (codec == 2) {
            put_rec(&w, 0, 0, "c", "ctl", NULL, NULL);
            tbatch b = wrap(0, w.data, w.len, 1);
            batch_set_records(b.p, b.len, BATCH_ATTR_CONTROL, 1);
            assert_int_equal(plog_append(l, b.p, b.len, &base), 0);
            free(b.p);
        } else if (codec == 3) {
            static const uint8_t junk[40] = {1, 2, 3};
            tbatch b = wrap(0, junk, sizeof junk, 2);
            batch_set_records(b.p, b.len, BATCH_CODEC_LZ4, 2);
            assert_int_equal(plog_append(l, b.p, b.len, &base), 0);
            free(b.p);
        } else {
            static const int cd[] = {0, 4, 0, 0, 1};
            for (int i = 0; i < 3; i++) {
                char v[8];
                snprintf(v, sizeof v, "v%d", i);
                put_rec(&w, i, 0, "k", v, NULL, NULL);
            }
            tbatch b = wrap(cd[codec], w.data, w.len, 3);
            assert_int_equal(plog_append(l, b.p, b.len, &base), 0);
            free(b.p);
        }
        wbuf_free(&w);
    }
    assert_int_equal(plog_end_offset(l), 12);
    seen *s = calloc(1, sizeof *s);
    batch_tail_stats ts;
    assert_int_equal(batch_tail(l, 0, on_rec, s, "test", &ts), 0);
    assert_int_equal(s->n, 9);
    static const int64_t want[] = {0, 1, 2, 3, 4, 5, 9, 10, 11};
    for (int i = 0; i < 9; i++) assert_int_equal(s->off[i], want[i]);
    assert_string_equal(s->val[4], "v1");
    assert_int_equal(ts.batches, 5);
    assert_int_equal(ts.skipped, 1);
    assert_int_equal(ts.next, 12);
    /* from inside a batch */
    memset(s, 0, sizeof *s);
    assert_int_equal(batch_tail(l, 4, on_rec, s, "test", &ts), 0);
    assert_int_equal(s->n, 5);
    assert_int_equal(s->off[0], 4);
    /* the callback stops it */
    memset(s, 0, sizeof *s);
    s->stop_at = 2;
    assert_int_equal(batch_tail(l, 0, on_rec, s, "test", &ts), 42);
    assert_int_equal(s->n, 2);
    /* at the end: nothing */
    memset(s, 0, sizeof *s);
    assert_int_equal(batch_tail(l, 12, on_rec, s, "test", &ts), 0);
    assert_int_equal(s->n, 0);
    assert_int_equal(ts.next, 12);
    free(s);
    plog_close(l);
    rm_tree(dir);
    free(dir);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codecs_round_trip),
        cmocka_unit_test(test_recompress_matrix),
        cmocka_unit_test(test_truncated_and_trailing),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_bad_records),
        cmocka_unit_test(test_iter_cuts),
        cmocka_unit_test(test_header_helpers),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
