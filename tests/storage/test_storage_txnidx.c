/* test_storage_txnidx — unit tests of the aborted-transaction index files (src/storage/txnidx.c):
 * entries added at abort markers land in their segment's <base>.txnindex, closed segments'
 * files are trusted after a reopen (and only theirs: the active segment is rescanned), the
 * txn-recovery boundary names where the start-up scan begins, a corrupt, truncated, missing or
 * out-of-range file is refused (the caller rebuilds it), retention deletes the file with its
 * segment, and the decoder survives arbitrary bytes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"
#include "storage/batch.h"
#include "storage/plog.h"
#include "test_storage_util.h"

static int64_t g_floor = -1;
static int64_t floor_fn(void *arg)
{
    (void)arg;
    return g_floor;
}

static plog *open_log(const char *dir)
{
    plog_config c;
    plog_config_default(&c);
    c.segment_bytes = 2048;
    plog *l = NULL;
    assert_int_equal(plog_open(dir, &c, &l), 0);
    plog_set_txn_floor(l, floor_fn, NULL);
    return l;
}

static int64_t append_data(plog *l)
{
    tbatch b = tb_make(2, 1000, NULL, 300);
    int64_t base;
    assert_int_equal(plog_append(l, b.p, b.len, &base), 0);
    free(b.p);
    return base;
}

static int64_t append_marker(plog *l, int64_t pid)
{
    size_t len;
    uint8_t *m = batch_build_control(pid, 0, false, 0, 1000, &len);
    int64_t base;
    assert_int_equal(plog_append(l, m, len, &base), 0);
    free(m);
    return base;
}

/* Builds a log of several segments, each with data and one abort marker indexed; returns the
 * number of entries added. A start-up "rebuild" (nothing to scan in a fresh log) first. */
static int build(plog *l, int segs_wanted)
{
    plog_txn_entry *e;
    int32_t n;
    int64_t below, from;
    assert_int_equal(plog_txnindex_recovery(l, &e, &n, &below, &from), 0);
    free(e);
    plog_txnindex_rebuilt(l, -1);
    int added = 0;
    while (plog_segment_count(l) < segs_wanted) {
        int64_t first = append_data(l);
        append_data(l);
        int64_t mk = append_marker(l, 7 + added);
        plog_txn_entry x = {7 + added, first, mk, mk + 1};
        assert_int_equal(plog_txnindex_add(l, &x), 0);
        added++;
    }
    return added;
}

static void reopen_recovery(const char *dir, plog **l, plog_txn_entry **e, int32_t *n,
                            int64_t *below, int64_t *from)
{
    plog_close(*l);
    *l = open_log(dir);
    assert_int_equal(plog_txnindex_recovery(*l, e, n, below, from), 0);
}

static void test_txnidx_roundtrip(void **st)
{
    (void)st;
    char *dir = tmp_dir("txnidx");
    plog *l = open_log(dir);
    g_floor = -1;
    int added = build(l, 4);
    assert_true(added >= 3);
    int32_t nsegs = plog_segment_count(l);
    int64_t leo = plog_end_offset(l);
    /* the entries of the closed segments come back from their files; the active segment's are
     * for the caller's scan, which starts at the active segment (no transaction spans a roll) */
    plog_txn_entry *e;
    int32_t n;
    int64_t below, from;
    reopen_recovery(dir, &l, &e, &n, &below, &from);
    assert_int_equal(plog_end_offset(l), leo);
    assert_int_equal(plog_segment_count(l), nsegs);
    assert_true(n >= 2 && n <= added);
    assert_true(below > 0 && below < leo);
    assert_int_equal(from, below);
    for (int32_t i = 0; i < n; i++) {
        assert_int_equal(e[i].pid, 7 + i);
        assert_true(e[i].first < e[i].last && e[i].last < below);
        assert_int_equal(e[i].lso, e[i].last + 1);
        if (i) assert_true(e[i].last > e[i - 1].last);
    }
    free(e);
    char *p = seg_path(dir, 0, ".txnindex");
    assert_true(file_size(p) > 0 && file_size(p) % PLOG_TXN_ENTRY_SIZE == 0);
    free(p);
    plog_close(l);
    rm_tree(dir);
    free(dir);
}

/* A transaction open across a roll: txn-recovery names its first offset as the scan start. */
static void test_txnidx_floor(void **st)
{
    (void)st;
    char *dir = tmp_dir("txnidx-floor");
    plog *l = open_log(dir);
    g_floor = -1;
    build(l, 2);
    int64_t open_first = append_data(l);
    g_floor = open_first;
    while (plog_segment_count(l) < 4) append_data(l);
    g_floor = -1;
    plog_txn_entry *e;
    int32_t n;
    int64_t below, from;
    reopen_recovery(dir, &l, &e, &n, &below, &from);
    free(e);
    assert_int_equal(from, open_first);
    assert_true(below > open_first);
    /* the caller's scan then rebuilds; with no transaction open at the active base the next
     * start scans from there */
    plog_txnindex_rebuilt(l, -1);
    reopen_recovery(dir, &l, &e, &n, &below, &from);
    free(e);
    assert_int_equal(from, below);
    /* an unreadable txn-recovery (garbage, F past B, no newline) means: scan from the start */
    static const char *const bad[] = {"garbage\n", "5 9\n", "7 3", "-1 0\n", ""};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        plog_close(l);
        char *rp = xasprintf("%s/txn-recovery", dir);
        FILE *f = fopen(rp, "w");
        fputs(bad[k], f);
        fclose(f);
        free(rp);
        l = open_log(dir);
        assert_int_equal(plog_txnindex_recovery(l, &e, &n, &below, &from), 0);
        free(e);
        assert_int_equal(from, 0);
        plog_txnindex_rebuilt(l, -1); /* rewrites it */
    }
    plog_close(l);
    rm_tree(dir);
    free(dir);
}

/* Damages segment 1's file with `how`; the reopened log trusts only segment 0's file and the
 * scan starts at the log start (txn-recovery names a later boundary). After the caller's
 * rebuild every closed segment's file is valid again. */
static void damaged(int how)
{
    char *dir = tmp_dir("txnidx-bad");
    plog *l = open_log(dir);
    g_floor = -1;
    build(l, 4);
    plog_close(l);
    l = open_log(dir);
    plog_txn_entry *e;
    int32_t n;
    int64_t below0, from;
    assert_int_equal(plog_txnindex_recovery(l, &e, &n, &below0, &from), 0);
    free(e);
    plog_txnindex_rebuilt(l, -1);
    /* find segment 1's base from the files: the first entry past segment 0 */
    int64_t base1 = -1;
    for (int64_t b = 1; b < plog_end_offset(l) && base1 < 0; b++) {
        char *p = seg_path(dir, b, ".log");
        if (file_size(p) >= 0) base1 = b;
        free(p);
    }
    assert_true(base1 > 0);
    char *p = seg_path(dir, base1, ".txnindex");
    int64_t sz = file_size(p);
    assert_true(sz >= PLOG_TXN_ENTRY_SIZE);
    if (how == 0) { /* a flipped version byte */
        int fd = open(p, O_WRONLY);
        uint8_t x = 9;
        assert_int_equal(pwrite(fd, &x, 1, 1), 1);
        close(fd);
    } else if (how == 1) { /* truncated mid-entry */
        assert_int_equal(truncate(p, sz - 5), 0);
    } else if (how == 2) { /* missing */
        assert_int_equal(unlink(p), 0);
    } else { /* an entry whose marker is past the segment */
        int fd = open(p, O_WRONLY);
        uint8_t b[8];
        put_be64(b, (uint64_t)plog_end_offset(l) + 100);
        assert_int_equal(pwrite(fd, b, 8, 18), 8);
        close(fd);
    }
    int64_t below;
    reopen_recovery(dir, &l, &e, &n, &below, &from);
    assert_int_equal(below, base1);
    assert_int_equal(from, 0);
    for (int32_t i = 0; i < n; i++) assert_true(e[i].last < base1);
    free(e);
    /* the caller rebuilds: files rewritten, the next open trusts them again */
    plog_txnindex_rebuilt(l, -1);
    reopen_recovery(dir, &l, &e, &n, &below, &from);
    free(e);
    assert_int_equal(below, below0);
    free(p);
    plog_close(l);
    rm_tree(dir);
    free(dir);
}

static void test_txnidx_corrupt(void **st)
{
    (void)st;
    damaged(0);
}
static void test_txnidx_truncated(void **st)
{
    (void)st;
    damaged(1);
}
static void test_txnidx_missing(void **st)
{
    (void)st;
    damaged(2);
}
static void test_txnidx_past_end(void **st)
{
    (void)st;
    damaged(3);
}

static void test_txnidx_retention(void **st)
{
    (void)st;
    char *dir = tmp_dir("txnidx-ret");
    plog *l = open_log(dir);
    g_floor = -1;
    build(l, 4);
    char *p = seg_path(dir, 0, ".txnindex");
    assert_true(file_size(p) > 0);
    assert_int_equal(plog_delete_records(l, plog_end_offset(l)), 0);
    assert_int_equal(file_size(p), -1);
    free(p);
    plog_close(l);
    rm_tree(dir);
    free(dir);
}

/* Compaction rewrites segments but keeps control batches and offsets: the entries stay, in
 * memory and in the files the next open trusts. */
static void test_txnidx_compaction(void **st)
{
    (void)st;
    char *dir = tmp_dir("txnidx-compact");
    plog_config c;
    plog_config_default(&c);
    c.segment_bytes = 2048;
    c.cleanup_policy = PLOG_CLEANUP_COMPACT;
    plog *l = NULL;
    assert_int_equal(plog_open(dir, &c, &l), 0);
    plog_set_txn_floor(l, floor_fn, NULL);
    g_floor = -1;
    plog_txn_entry *e;
    int32_t n;
    int64_t below, from;
    assert_int_equal(plog_txnindex_recovery(l, &e, &n, &below, &from), 0);
    free(e);
    plog_txnindex_rebuilt(l, -1);
    trec recs[2] = {{"k", "v1"}, {"k", "v2"}}; /* the older of the two goes */
    int added = 0;
    while (plog_segment_count(l) < 4) {
        tbatch b = tb_make(2, 1000, recs, 300);
        int64_t first;
        assert_int_equal(plog_append(l, b.p, b.len, &first), 0);
        free(b.p);
        int64_t mk = append_marker(l, 30 + added);
        plog_txn_entry x = {30 + added, first, mk, mk + 1};
        assert_int_equal(plog_txnindex_add(l, &x), 0);
        added++;
    }
    int32_t before[8], ns = plog_segment_count(l);
    for (int32_t i = 0; i < ns && i < 8; i++) before[i] = plog_txnindex_count(l, i);
    assert_true(plog_compact(l, 1000000) > 0);
    assert_int_equal(plog_segment_count(l), ns);
    for (int32_t i = 0; i < ns && i < 8; i++)
        assert_int_equal(plog_txnindex_count(l, i), before[i]);
    plog_close(l);
    assert_int_equal(plog_open(dir, &c, &l), 0);
    assert_int_equal(plog_txnindex_recovery(l, &e, &n, &below, &from), 0);
    int32_t want = 0;
    for (int32_t i = 0; i + 1 < ns && i < 8; i++) want += before[i];
    assert_int_equal(n, want);
    assert_true(n >= 2);
    free(e);
    plog_close(l);
    rm_tree(dir);
    free(dir);
}

static void test_txnidx_add_errors(void **st)
{
    (void)st;
    char *dir = tmp_dir("txnidx-add");
    plog *l = open_log(dir);
    append_data(l);
    plog_txn_entry past = {1, 0, plog_end_offset(l), 0};
    assert_int_equal(plog_txnindex_add(l, &past), -ERANGE);
    plog_txn_entry ok = {1, 0, 0, 1};
    assert_int_equal(plog_txnindex_add(l, &ok), 0);
    assert_int_equal(plog_txnindex_add(l, &ok), -EINVAL); /* not after the previous marker */
    plog_close(l);
    rm_tree(dir);
    free(dir);
}

/* The decoder on arbitrary bytes: valid images decode, anything else is refused, no crash
 * (ASan checks the reads). */
static void test_txnidx_decode_random(void **st)
{
    (void)st;
    uint64_t x = 88172645463325252ULL;
    uint8_t buf[34 * 6];
    for (int it = 0; it < 20000; it++) {
        size_t n = (size_t)(it % (int)sizeof buf);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (uint8_t)x;
        }
        if (it % 3 == 0) /* mostly plausible entries, one field off now and then */
            for (size_t k = 0; k + 34 <= n; k += 34) {
                put_be16(buf + k, 0);
                put_be64(buf + k + 2, 5);
                put_be64(buf + k + 10, 100 + k);
                put_be64(buf + k + 18, 100 + k + (x & 3));
                put_be64(buf + k + 26, 100 + k + (x & 1));
            }
        plog_txn_entry *e;
        int32_t cnt;
        const char *why = NULL;
        int rc = plog_txnindex_decode(buf, n, 100, 400, &e, &cnt, &why);
        if (rc == 0) {
            assert_int_equal((size_t)cnt * 34, n);
            for (int32_t i = 0; i < cnt; i++) assert_true(e[i].last >= 100 && e[i].last < 400);
            free(e);
        } else {
            assert_non_null(why);
            assert_null(e);
        }
    }
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_txnidx_roundtrip),  cmocka_unit_test(test_txnidx_floor),
        cmocka_unit_test(test_txnidx_corrupt),    cmocka_unit_test(test_txnidx_truncated),
        cmocka_unit_test(test_txnidx_missing),    cmocka_unit_test(test_txnidx_past_end),
        cmocka_unit_test(test_txnidx_retention),  cmocka_unit_test(test_txnidx_add_errors),
        cmocka_unit_test(test_txnidx_compaction), cmocka_unit_test(test_txnidx_decode_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
