/* test_storage — unit tests of src/storage (plog.c, flush.c): append/read round trips with
 * real CRC-valid batches, index lookups, roll, retention, DeleteRecords, reopen, recovery from
 * every corruption case the recovery rules name, group commit, and a simulated ENOSPC. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "common/log.h"
#include "storage/plog.h"
#include "test_storage_util.h"

static plog_config small_cfg(void)
{
    plog_config c;
    plog_config_default(&c);
    c.index_interval_bytes = 200;
    return c;
}

/* Appends n batches of `per` records each; returns their positions via bases[]. */
static void fill(plog *l, int n, int per, int64_t ts, int64_t *bases, size_t *lens)
{
    for (int i = 0; i < n; i++) {
        tbatch b = tb_make(per, ts + i, NULL, 0);
        int64_t base = -1;
        assert_int_equal(plog_append(l, b.p, b.len, &base), 0);
        if (bases) bases[i] = base;
        if (lens) lens[i] = b.len;
        free(b.p);
    }
}

/* Offsets [g_gap_lo, g_gap_hi) may be missing (cut by recovery): reads there start later. */
static int64_t g_gap_lo = -1, g_gap_hi = -1;

/* Checks that every offset in [start, end) reads back a slice whose first batch contains it,
 * with whole, CRC-valid batches only. */
static void check_reads(plog *l, int32_t max_bytes)
{
    for (int64_t off = plog_start_offset(l); off < plog_end_offset(l); off++) {
        uint8_t *buf = NULL;
        int32_t len = 0;
        int64_t next = -1;
        assert_int_equal(plog_read_copy(l, off, max_bytes, &buf, &len, &next), 0);
        assert_true(len > 0);
        size_t pos = 0;
        int nb = 0;
        int64_t prev_next = -1;
        while (pos < (size_t)len) {
            batch_info bi;
            assert_int_equal(batch_parse(buf + pos, (size_t)len - pos, &bi), 0);
            assert_true(pos + (size_t)bi.total_len <= (size_t)len);
            assert_int_equal(batch_validate(buf + pos, (size_t)bi.total_len, &bi), 0);
            if (nb == 0 && off >= g_gap_lo && off < g_gap_hi) {
                assert_int_equal(bi.base_offset, g_gap_hi);
            } else if (nb == 0) {
                assert_true(bi.base_offset <= off);
                assert_true(bi.base_offset + bi.last_offset_delta >= off);
            } else {
                assert_int_equal(bi.base_offset, prev_next);
            }
            prev_next = bi.base_offset + bi.last_offset_delta + 1;
            pos += (size_t)bi.total_len;
            nb++;
        }
        assert_int_equal(next, prev_next);
        if (nb > 1) assert_true(len <= max_bytes);
        free(buf);
    }
}

static void test_round_trip(void **st)
{
    (void)st;
    char *dir = tmp_dir("rt");
    plog_config c = small_cfg();
    plog *l;
    assert_int_equal(plog_open(dir, &c, &l), 0);
    assert_int_equal(plog_end_offset(l), 0);
    int64_t bases[20];
    size_t lens[20];
    fill(l, 20, 3, 1700000000000, bases, lens);
    for (int i = 0; i < 20; i++) assert_int_equal(bases[i], i * 3);
    assert_int_equal(plog_end_offset(l), 60);
    check_reads(l, 1);
    check_reads(l, 300);
    check_reads(l, 1 << 20);

    /* zero-copy read: dup()ed fd, exact bytes, first batch whole even with max_bytes 1 */
    plog_slice s;
    assert_int_equal(plog_read(l, 4, 1, &s), 0);
    assert_true(s.fd >= 0);
    assert_int_equal(s.len, (int32_t)lens[1]);
    assert_int_equal(s.next_offset, 6);
    uint8_t h[12];
    assert_int_equal(pread(s.fd, h, 12, s.file_pos), 12);
    assert_int_equal((int64_t)be64(h), 3);
    close(s.fd);
    /* at the end: empty; past it / before start: -ERANGE */
    assert_int_equal(plog_read(l, 60, 100, &s), 0);
    assert_int_equal(s.len, 0);
    assert_int_equal(s.fd, -1);
    assert_int_equal(plog_read(l, 61, 100, &s), -ERANGE);
    assert_int_equal(plog_read(l, -1, 100, &s), -ERANGE);
    /* baseOffset and partitionLeaderEpoch were rewritten, CRC still valid */
    uint8_t *buf;
    int32_t len;
    int64_t next;
    assert_int_equal(plog_read_copy(l, 59, 1, &buf, &len, &next), 0);
    batch_info bi;
    assert_int_equal(batch_validate(buf, (size_t)len, &bi), 0);
    assert_int_equal(bi.base_offset, 57);
    assert_int_equal(bi.leader_epoch, 0);
    free(buf);
    /* bad input */
    uint8_t junk[70] = {0};
    assert_int_equal(plog_append(l, junk, sizeof junk, NULL), -EINVAL);
    assert_int_equal(plog_end_offset(l), 60);

    int64_t o, t;
    assert_int_equal(plog_offset_for_time(l, 1700000000000 + 5, &o, &t), 0);
    assert_int_equal(o, 9); /* batch 3: ts 1700000000003..+5 */
    assert_int_equal(t, 1700000000000 + 3 + 2);
    assert_int_equal(plog_offset_for_time(l, 1800000000000, &o, &t), -1);
    assert_int_equal(plog_max_timestamp(l, &o, &t), 0);
    assert_int_equal(o, 57);
    assert_int_equal(t, 1700000000000 + 19 + 2);
    plog_close(l);
    rm_tree(dir);
    free(dir);
}

static void test_roll_and_reopen(void **st)
{
    (void)st;
    char *dir = tmp_dir("roll");
    plog_config c = small_cfg();
    c.segment_bytes = 1024;
    plog *l;
    assert_int_equal(plog_open(dir, &c, &l), 0);
    fill(l, 50, 2, 1700000000000, NULL, NULL);
    int32_t nseg = plog_segment_count(l);
    assert_true(nseg >= 3);
    int64_t size = plog_size_bytes(l);
    check_reads(l, 500);
    plog_close(l);
    assert_int_equal(plog_open(dir, &c, &l), 0);
    assert_int_equal(plog_segment_count(l), nseg);
    assert_int_equal(plog_end_offset(l), 100);
    assert_int_equal(plog_start_offset(l), 0);
    assert_int_equal(plog_size_bytes(l), size);
    check_reads(l, 500);
    int64_t o, t;
    assert_int_equal(plog_offset_for_time(l, 1700000000000 + 30, &o, &t), 0);
    assert_int_equal(o, 58);
    fill(l, 1, 1, 1700000000000, NULL, NULL);
    assert_int_equal(plog_end_offset(l), 101);
    plog_close(l);
    rm_tree(dir);
    free(dir);
}

static void test_roll_by_time(void **st)
{
    (void)st;
    char *dir = tmp_dir("rolltime");
    plog_config c = small_cfg();
    c.segment_ms = 3600 * 1000;
    plog *l;
    assert_int_equal(plog_open(dir, &c, &l), 0);
    int64_t now = now_wall_ms();
    /* segment age is wall time since its first append, not record timestamps (old
     * timestamps must not roll a segment per batch) */
    fill(l, 3, 1, now - 2 * 3600 * 1000, NULL, NULL);
    assert_int_equal(plog_segment_count(l), 1);
    assert_int_equal(plog_enforce_retention(l, now + 10 * 60 * 1000), 0);
    assert_int_equal(plog_segment_count(l), 1);
    /* the retention pass rolls an old active segment */
    assert_int_equal(plog_enforce_retention(l, now + 2 * 3600 * 1000), 0);
    assert_int_equal(plog_segment_count(l), 2);
    /* an empty active segment never rolls */
    assert_int_equal(plog_enforce_retention(l, now + 4 * 3600 * 1000), 0);
    assert_int_equal(plog_segment_count(l), 2);
    fill(l, 1, 1, now, NULL, NULL);
    assert_int_equal(plog_end_offset(l), 4);
    check_reads(l, 1000);
    plog_close(l);
    rm_tree(dir);
    free(dir);
}

static void test_retention(void **st)
{
    (void)st;
    char *dir = tmp_dir("ret");
    plog_config c = small_cfg();
    c.segment_bytes = 1024;
    plog *l;
    assert_int_equal(plog_open(dir, &c, &l), 0);
    int64_t now = now_wall_ms();
    fill(l, 30, 2, now - 10 * 24 * 3600 * 1000LL, NULL, NULL); /* 10 days old */
    fill(l, 30, 2, now, NULL, NULL);
    int32_t before = plog_segment_count(l);
    int n = plog_enforce_retention(l, now);
    assert_true(n > 0);
    assert_int_equal(plog_segment_count(l), before - n);
    /* every old batch sat in a segment entirely older: the first kept offset is <= 60 */
    assert_true(plog_start_offset(l) > 0 && plog_start_offset(l) <= 60);
    int64_t start = plog_start_offset(l);
    check_reads(l, 400);
    /* size retention keeps at least the active segment */
    plog_config c2 = c;
    c2.retention_bytes = 0;
    plog_set_config(l, &c2);
    n = plog_enforce_retention(l, now);
    assert_true(n > 0);
    assert_int_equal(plog_segment_count(l), 1);
    assert_true(plog_start_offset(l) > start);
    int64_t s2 = plog_start_offset(l);
    plog_close(l);
    assert_int_equal(plog_open(dir, &c, &l), 0);
    assert_int_equal(plog_start_offset(l), s2);
    assert_int_equal(plog_end_offset(l), 120);
    check_reads(l, 400);
    plog_close(l);
    rm_tree(dir);
    free(dir);
}

static void test_delete_records(void **st)
{
    (void)st;
    char *dir = tmp_dir("delrec");
    plog_config c = small_cfg();
    c.segment_bytes = 1024;
    plog *l;
    assert_int_equal(plog_open(dir, &c, &l), 0);
    fill(l, 40, 2, 1700000000000, NULL, NULL);
    int32_t nseg = plog_segment_count(l);
    assert_int_equal(plog_delete_records(l, 81), -ERANGE);
    assert_int_equal(plog_delete_records(l, 41), 0);
    assert_int_equal(plog_start_offset(l), 41);
    assert_true(plog_segment_count(l) < nseg);
    plog_slice s;
    assert_int_equal(plog_read(l, 40, 100, &s), -ERANGE);
    assert_int_equal(plog_read(l, 41, 1, &s), 0);
    uint8_t h[12];
    assert_int_equal(pread(s.fd, h, 12, s.file_pos), 12);
    assert_int_equal((int64_t)be64(h), 40); /* the batch containing 41 */
    close(s.fd);
    assert_int_equal(plog_delete_records(l, 10), 0); /* never moves back */
    assert_int_equal(plog_start_offset(l), 41);
    plog_close(l);
    assert_int_equal(plog_open(dir, &c, &l), 0);
    assert_int_equal(plog_start_offset(l), 41);
    check_reads(l, 300);
    assert_int_equal(plog_delete_records(l, 80), 0); /* everything */
    assert_int_equal(plog_start_offset(l), 80);
    assert_int_equal(plog_segment_count(l), 1);
    fill(l, 1, 1, 1700000000000, NULL, NULL);
    check_reads(l, 300);
    plog_close(l);
    assert_int_equal(plog_open(dir, &c, &l), 0);
    assert_int_equal(plog_start_offset(l), 80);
    assert_int_equal(plog_end_offset(l), 81);
    plog_close(l);
    rm_tree(dir);
    free(dir);
}

/* ---------------------------------------------------------------- recovery ---- */

typedef struct rec_fixture {
    char *dir;
    char *log;       /* path of the segment under test */
    int64_t ends[8]; /* byte end of each batch in the last segment */
    int64_t leo;
} rec_fixture;

/* One segment of 8 batches of 2 records. */
static void rec_setup(rec_fixture *f, const char *tag, bool prealloc)
{
    f->dir = tmp_dir(tag);
    plog_config c = small_cfg();
    c.preallocate = prealloc;
    plog *l;
    assert_int_equal(plog_open(f->dir, &c, &l), 0);
    size_t lens[8];
    fill(l, 8, 2, 1700000000000, NULL, lens);
    int64_t e = 0;
    for (int i = 0; i < 8; i++) f->ends[i] = (e += (int64_t)lens[i]);
    f->leo = plog_end_offset(l);
    plog_close(l);
    f->log = seg_path(f->dir, 0, ".log");
    assert_int_equal(file_size(f->log), f->ends[7]);
}

static void rec_done(rec_fixture *f)
{
    rm_tree(f->dir);
    free(f->dir);
    free(f->log);
}

static plog *reopen(rec_fixture *f, int64_t want_leo, int64_t want_size)
{
    plog_config c = small_cfg();
    plog *l;
    assert_int_equal(plog_open(f->dir, &c, &l), 0);
    assert_int_equal(plog_end_offset(l), want_leo);
    assert_int_equal(file_size(f->log), want_size);
    check_reads(l, 1000);
    return l;
}

static void trunc_to(const char *p, int64_t n)
{
    assert_int_equal(truncate(p, n), 0);
}

static void poke(const char *p, int64_t at, const void *b, size_t n)
{
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, b, n, at), (ssize_t)n);
    close(fd);
}

static void test_recover_torn_tail(void **st)
{
    (void)st;
    rec_fixture f;
    rec_setup(&f, "torn", false);
    trunc_to(f.log, f.ends[7] - 5); /* torn last batch */
    plog *l = reopen(&f, 14, f.ends[6]);
    /* and the log goes on from there */
    fill(l, 1, 3, 1700000000000, NULL, NULL);
    assert_int_equal(plog_end_offset(l), 17);
    plog_close(l);
    trunc_to(f.log, f.ends[5] + 7); /* torn in the 12-byte prefix */
    l = reopen(&f, 12, f.ends[5]);
    plog_close(l);
    rec_done(&f);
}

static void test_recover_garbage(void **st)
{
    (void)st;
    rec_fixture f;
    rec_setup(&f, "garbage", false);
    uint8_t g[300];
    for (size_t i = 0; i < sizeof g; i++) g[i] = (uint8_t)(i * 37 + 11);
    poke(f.log, f.ends[7], g, sizeof g);
    plog *l = reopen(&f, 16, f.ends[7]);
    plog_close(l);
    /* a plausible header with a bad CRC */
    uint8_t h[80] = {0};
    put_be64(h, 16);
    put_be32(h + 8, 68);
    h[16] = 2;
    poke(f.log, f.ends[7], h, sizeof h);
    l = reopen(&f, 16, f.ends[7]);
    plog_close(l);
    /* flipped byte inside batch 3: batches 0..2 remain */
    uint8_t x = 0xff;
    poke(f.log, f.ends[3] - 2, &x, 1);
    l = reopen(&f, 6, f.ends[2]);
    plog_close(l);
    /* insane length */
    uint8_t big[12];
    put_be64(big, 6);
    put_be32(big + 8, 0x7fffffff);
    poke(f.log, f.ends[2], big, sizeof big);
    l = reopen(&f, 6, f.ends[2]);
    plog_close(l);
    rec_done(&f);
}

static void test_recover_empty_and_zero_tail(void **st)
{
    (void)st;
    rec_fixture f;
    rec_setup(&f, "zero", false);
    /* zero-filled preallocated tail */
    trunc_to(f.log, f.ends[7] + (1 << 20));
    plog *l = reopen(&f, 16, f.ends[7]);
    plog_close(l);
    /* empty file */
    trunc_to(f.log, 0);
    l = reopen(&f, 0, 0);
    fill(l, 2, 1, 1700000000000, NULL, NULL);
    assert_int_equal(plog_end_offset(l), 2);
    plog_close(l);
    rec_done(&f);
}

static void test_recover_prealloc(void **st)
{
    (void)st;
    char *dir = tmp_dir("prealloc");
    plog_config c = small_cfg();
    c.preallocate = true;
    c.segment_bytes = 4096;
    plog *l;
    assert_int_equal(plog_open(dir, &c, &l), 0);
    fill(l, 10, 2, 1700000000000, NULL, NULL);
    char *p = seg_path(dir, 0, ".log");
    assert_true(file_size(p) >= plog_size_bytes(l)); /* preallocated */
    int64_t size = plog_size_bytes(l);
    /* crash: simulate by copying the directory without closing */
    char *dir2 = xasprintf("%s-copy", dir);
    char *cmd = xasprintf("cp -a '%s' '%s'", dir, dir2);
    assert_int_equal(system(cmd), 0);
    plog *l2;
    assert_int_equal(plog_open(dir2, &c, &l2), 0);
    assert_int_equal(plog_end_offset(l2), 20);
    assert_int_equal(plog_size_bytes(l2), size);
    check_reads(l2, 300);
    fill(l2, 100, 2, 1700000000000, NULL, NULL); /* rolls; sealed segments are trimmed */
    check_reads(l2, 300);
    plog_close(l2);
    assert_int_equal(plog_open(dir2, &c, &l2), 0);
    assert_int_equal(plog_end_offset(l2), 220);
    plog_close(l2);
    plog_close(l);
    assert_int_equal(file_size(p), size); /* trimmed at close */
    rm_tree(dir);
    rm_tree(dir2);
    free(cmd);
    free(dir2);
    free(dir);
    free(p);
}

static void test_recover_indexes(void **st)
{
    (void)st;
    char *dir = tmp_dir("idx");
    plog_config c = small_cfg();
    c.segment_bytes = 1024;
    plog *l;
    assert_int_equal(plog_open(dir, &c, &l), 0);
    fill(l, 60, 2, 1700000000000, NULL, NULL);
    int32_t nseg = plog_segment_count(l);
    assert_true(nseg >= 4);
    plog_close(l);
    /* first segment: index missing; second: index truncated mid entry; third: index points past
     * the end; time index garbage */
    char *i0 = seg_path(dir, 0, ".index");
    assert_int_equal(unlink(i0), 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/*.index | sort | sed -n 2p", dir);
    FILE *pp = popen(cmd, "r");
    char name[512];
    assert_non_null(fgets(name, sizeof name, pp));
    pclose(pp);
    name[strcspn(name, "\n")] = 0;
    trunc_to(name, file_size(name) - 3);
    snprintf(cmd, sizeof cmd, "ls %s/*.index | sort | sed -n 3p", dir);
    pp = popen(cmd, "r");
    assert_non_null(fgets(name, sizeof name, pp));
    pclose(pp);
    name[strcspn(name, "\n")] = 0;
    uint8_t e[8];
    put_be32(e, 1000);
    put_be32(e + 4, 1 << 30);
    int64_t isz = file_size(name);
    poke(name, isz, e, 8);
    assert_int_equal(plog_open(dir, &c, &l), 0);
    assert_int_equal(plog_segment_count(l), nseg);
    assert_int_equal(plog_end_offset(l), 120);
    check_reads(l, 300);
    int64_t o, t;
    assert_int_equal(plog_offset_for_time(l, 1700000000000 + 40, &o, &t), 0);
    assert_int_equal(o, 78);
    plog_close(l);
    assert_true(file_size(i0) > 0); /* rebuilt */
    free(i0);
    rm_tree(dir);
    free(dir);
}

static void test_recover_corrupt_middle_segment(void **st)
{
    (void)st;
    char *dir = tmp_dir("midseg");
    plog_config c = small_cfg();
    c.segment_bytes = 1024;
    plog *l;
    assert_int_equal(plog_open(dir, &c, &l), 0);
    fill(l, 40, 2, 1700000000000, NULL, NULL);
    int32_t nseg = plog_segment_count(l);
    plog_close(l);
    /* corrupt the last batch of the first segment (its tail is always re-checked) */
    char *p = seg_path(dir, 0, ".log");
    int64_t sz = file_size(p);
    uint8_t x = 0x55;
    poke(p, sz - 1, &x, 1);
    assert_int_equal(plog_open(dir, &c, &l), 0);
    assert_int_equal(plog_segment_count(l), nseg);
    assert_int_equal(plog_end_offset(l), 80);
    assert_true(file_size(p) < sz);
    /* the gap is skipped: reads start at the next segment */
    char *p1 = NULL;
    int64_t next_base = -1;
    for (int64_t b = 1; b < 80 && next_base < 0; b++) {
        p1 = seg_path(dir, b, ".log");
        if (file_size(p1) >= 0) next_base = b;
        free(p1);
    }
    assert_true(next_base > 0);
    g_gap_lo = next_base - 2;
    g_gap_hi = next_base;
    check_reads(l, 300);
    g_gap_lo = g_gap_hi = -1;
    plog_close(l);
    free(p);
    rm_tree(dir);
    free(dir);
}

/* Reads every offset; with `strict`, every returned batch must be whole and CRC-valid and the
 * first must end at or after the offset asked for. Without, only "no crash, sane answers". */
static void probe_reads(plog *l, bool strict)
{
    int64_t start = plog_start_offset(l), end = plog_end_offset(l);
    assert_true(start >= 0 && start <= end);
    assert_true(end - start < 1000); /* a damaged baseOffset must not move the LEO */
    for (int64_t off = start; off < end; off++) {
        uint8_t *buf = NULL;
        int32_t len = 0;
        int64_t next = -1;
        int rc = plog_read_copy(l, off, 500, &buf, &len, &next);
        if (strict) assert_int_equal(rc, 0);
        if (rc == 0 && len > 0) {
            assert_true(next > off);
            size_t pos = 0;
            int nb = 0;
            while (strict && pos < (size_t)len) {
                batch_info bi;
                assert_int_equal(batch_parse(buf + pos, (size_t)len - pos, &bi), 0);
                assert_true(pos + (size_t)bi.total_len <= (size_t)len);
                assert_int_equal(batch_validate(buf + pos, (size_t)bi.total_len, &bi), 0);
                if (nb++ == 0) assert_true(bi.base_offset + bi.last_offset_delta >= off);
                pos += (size_t)bi.total_len;
            }
        }
        free(buf);
        int64_t o, t;
        plog_offset_for_time(l, 1700000000000 + off, &o, &t);
    }
    int64_t o, t;
    plog_max_timestamp(l, &o, &t);
}

static uint32_t g_seed = 1;
static uint32_t rnd(void)
{
    g_seed = g_seed * 1664525u + 1013904223u;
    return g_seed >> 8;
}

/* Random damage to the files of a multi-segment log, then reopen: never a crash; when only the
 * last segment, index files or log-start-offset are damaged, every surviving batch is whole and
 * valid. The log keeps accepting appends afterwards. */
static void test_recover_random_damage(void **st)
{
    (void)st;
    for (int iter = 0; iter < 100; iter++) {
        char *dir = tmp_dir("damage");
        plog_config c = small_cfg();
        c.segment_bytes = 1024;
        c.preallocate = iter % 3 == 0;
        plog *l;
        assert_int_equal(plog_open(dir, &c, &l), 0);
        fill(l, 30, 2, 1700000000000, NULL, NULL);
        plog_close(l);
        char cmd[512];
        snprintf(cmd, sizeof cmd, "ls %s | sort", dir);
        FILE *pp = popen(cmd, "r");
        char names[64][64];
        int nn = 0;
        while (nn < 64 && fgets(names[nn], sizeof names[nn], pp)) {
            names[nn][strcspn(names[nn], "\n")] = 0;
            nn++;
        }
        pclose(pp);
        int op = (int)(rnd() % 7);
        bool strict = op != 6;
        char *victim = NULL;
        if (op == 0 || op == 1 || op == 5) { /* the last .log */
            for (int i = 0; i < nn; i++)
                if (strstr(names[i], ".log")) {
                    free(victim);
                    victim = xasprintf("%s/%s", dir, names[i]);
                }
        } else if (op == 2 || op == 3) { /* any index */
            int i;
            do i = (int)(rnd() % (uint32_t)nn);
            while (!strstr(names[i], "index"));
            victim = xasprintf("%s/%s", dir, names[i]);
        } else if (op == 4) {
            victim = xasprintf("%s/log-start-offset", dir);
            poke(victim, 0, "x9", 2);
        } else { /* any .log, anywhere (non-last segments: no validity promise) */
            int i;
            do i = (int)(rnd() % (uint32_t)nn);
            while (!strstr(names[i], ".log"));
            victim = xasprintf("%s/%s", dir, names[i]);
        }
        int64_t sz = file_size(victim);
        if (op == 0 || op == 2 || op == 6) {
            uint8_t g[16];
            for (size_t k = 0; k < sizeof g; k++) g[k] = (uint8_t)rnd();
            int64_t at = sz > 0 ? (int64_t)(rnd() % (uint32_t)sz) : 0;
            poke(victim, at, g, 1 + rnd() % sizeof g);
        } else if (op == 1 || op == 3) {
            trunc_to(victim, sz > 0 ? (int64_t)(rnd() % (uint32_t)sz) : 0);
        } else if (op == 5) {
            trunc_to(victim, sz + 1 + (int64_t)(rnd() % 5000));
        }
        assert_int_equal(plog_open(dir, &c, &l), 0);
        probe_reads(l, strict);
        int64_t end = plog_end_offset(l);
        fill(l, 3, 2, 1700000000000, NULL, NULL);
        assert_int_equal(plog_end_offset(l), end + 6);
        probe_reads(l, strict);
        plog_close(l);
        assert_int_equal(plog_open(dir, &c, &l), 0);
        assert_int_equal(plog_end_offset(l), end + 6);
        probe_reads(l, strict);
        plog_close(l);
        free(victim);
        rm_tree(dir);
        free(dir);
    }
}

/* ---------------------------------------------------------------- read drop-behind ---- */

/* fraction of the pages of [off, off+len) of fd that are in the page cache */
static double resident(int fd, int64_t off, int64_t len)
{
    long pg = sysconf(_SC_PAGESIZE);
    off -= off % pg;
    size_t n = (size_t)((len + pg - 1) / pg);
    void *m = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, off);
    assert_true(m != MAP_FAILED);
    unsigned char *vec = calloc(n, 1);
    assert_int_equal(mincore(m, (size_t)len, vec), 0);
    size_t in = 0;
    for (size_t i = 0; i < n; i++) in += vec[i] & 1;
    munmap(m, (size_t)len);
    free(vec);
    return (double)in / (double)n;
}

/* A reader catching up on data below the write-side cache window drops the pages it has
 * passed, so a long catch-up recycles a bounded set of pages; a reader inside the window
 * drops nothing. */
static void test_read_drop_behind(void **st)
{
    (void)st;
    /* on the disk next to the test binary (fadvise does nothing on tmpfs) */
    char *dir = xasprintf("%s/eddy-storage-rdb-XXXXXX", getenv("PWD") ? getenv("PWD") : ".");
    if (!mkdtemp(dir)) abort();
    plog_set_drop_behind(1 << 20);
    plog_config c = small_cfg();
    c.index_interval_bytes = 4096;
    plog *l;
    assert_int_equal(plog_open(dir, &c, &l), 0);
    for (int i = 0; i < 48 * 16; i++) { /* 48 MiB of ~64 KiB batches */
        tbatch b = tb_make(2, 1700000000000 + i, NULL, 64 << 10);
        assert_int_equal(plog_append(l, b.p, b.len, NULL), 0);
        free(b.p);
    }
    char *p = seg_path(dir, 0, ".log");
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(fsync(fd), 0); /* dirty pages are never dropped */
    int64_t size = plog_size_bytes(l);
    /* does this file system drop pages on request at all? */
    char tmp[4096];
    for (int64_t o = 0; o < size; o += sizeof tmp) assert_true(pread(fd, tmp, sizeof tmp, o) > 0);
    posix_fadvise(fd, 0, 4 << 20, POSIX_FADV_DONTNEED);
    if (resident(fd, 0, 4 << 20) > 0.5) {
        fprintf(stderr, "skipped: POSIX_FADV_DONTNEED has no effect on this file system\n");
    } else {
        /* a cold read asks for the bytes after its slice (read-ahead, asynchronous) */
        posix_fadvise(fd, 0, size, POSIX_FADV_DONTNEED);
        plog_slice s;
        assert_int_equal(plog_read(l, 0, 1 << 20, &s), 0);
        close(s.fd);
        double ahead = 0;
        for (int i = 0; i < 200 && (ahead = resident(fd, s.file_pos + s.len, 4 << 20)) < 0.9; i++)
            usleep(10000);
        assert_true(ahead >= 0.9);
        assert_true(resident(fd, 24 << 20, 8 << 20) < 0.2); /* only ahead, not everything */
        /* catch up from offset 0 to the end, reading each slice like sendfile would */
        int64_t off = 0, last_pos = 0, reads = 0;
        while (off < plog_end_offset(l)) {
            assert_int_equal(plog_read(l, off, 1 << 20, &s), 0);
            assert_true(s.len > 0);
            char *buf = malloc((size_t)s.len);
            assert_int_equal(pread(s.fd, buf, (size_t)s.len, s.file_pos), s.len);
            free(buf);
            close(s.fd);
            last_pos = s.file_pos;
            off = s.next_offset;
            reads++;
        }
        assert_true(reads > 40);
        /* far behind the reader: dropped; what it just read: cached */
        double behind = resident(fd, 0, last_pos - (24 << 20));
        double recent = resident(fd, last_pos - (1 << 20), 1 << 20);
        assert_true(behind < 0.2);
        assert_true(recent > 0.8);
        /* a second pass within the newest 1 MiB (the write-side window) drops nothing */
        for (int64_t o = 0; o < size; o += sizeof tmp)
            assert_true(pread(fd, tmp, sizeof tmp, o) > 0);
        int64_t tail = plog_end_offset(l) - 4;
        for (int i = 0; i < 3; i++) {
            assert_int_equal(plog_read(l, tail, 1 << 20, &s), 0);
            close(s.fd);
        }
        assert_true(resident(fd, 0, size) > 0.8);
    }
    close(fd);
    free(p);
    plog_close(l);
    plog_set_drop_behind(32 << 20);
    rm_tree(dir);
    free(dir);
}

/* ---------------------------------------------------------------- flusher / errors ---- */

static void test_flusher_group_commit(void **st)
{
    (void)st;
    char *dir = tmp_dir("flush");
    plog_config c = small_cfg();
    c.segment_bytes = 4096;
    plog *l;
    assert_int_equal(plog_open(dir, &c, &l), 0);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    flusher *f = flusher_start(efd, 0);
    assert_non_null(f);
    int reqs = 0;
    for (int i = 0; i < 200; i++) {
        fill(l, 1, 2, 1700000000000, NULL, NULL);
        flusher_request(f, l, plog_end_offset(l));
        reqs++;
    }
    while (plog_durable_offset(l) < plog_end_offset(l)) {
        struct pollfd pfd = {.fd = efd, .events = POLLIN};
        poll(&pfd, 1, 1000);
        uint64_t v;
        if (read(efd, &v, sizeof v) < 0) {}
    }
    assert_int_equal(plog_durable_offset(l), 400);
    uint64_t rounds, fsyncs;
    flusher_stats(f, &rounds, &fsyncs);
    assert_true(fsyncs >= 1);
    assert_true(rounds < (uint64_t)reqs); /* many requests share a round */
    /* requests already durable cost nothing */
    flusher_request(f, l, 10);
    /* close while queued: forget drops the entry, the log stays valid */
    fill(l, 1, 1, 1700000000000, NULL, NULL);
    flusher_request(f, l, plog_end_offset(l));
    flusher_forget(f, l);
    plog_close(l);
    /* a second log deleted while queued */
    char *dir2 = tmp_dir("flush2");
    assert_int_equal(plog_open(dir2, &c, &l), 0);
    fill(l, 50, 2, 1700000000000, NULL, NULL);
    flusher_request(f, l, plog_end_offset(l));
    assert_int_equal(plog_delete(l), 0); /* without forget: the queue's reference keeps it */
    flusher_stop(f);
    assert_int_equal(file_size(dir2), -1);
    close(efd);
    rm_tree(dir);
    free(dir);
    free(dir2);
}

static void test_flusher_periodic(void **st)
{
    (void)st;
    char *dir = tmp_dir("periodic");
    plog_config c = small_cfg();
    plog *l;
    assert_int_equal(plog_open(dir, &c, &l), 0);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    flusher *f = flusher_start(efd, 5);
    fill(l, 3, 2, 1700000000000, NULL, NULL);
    for (int i = 0; i < 500 && plog_durable_offset(l) < 6; i++) usleep(10000);
    assert_int_equal(plog_durable_offset(l), 6);
    fill(l, 1, 2, 1700000000000, NULL, NULL);
    flusher_stop(f); /* flushes everything pending */
    assert_int_equal(plog_durable_offset(l), 8);
    plog_close(l);
    close(efd);
    rm_tree(dir);
    free(dir);
}

static void test_enospc(void **st)
{
    (void)st;
    char *dir = tmp_dir("enospc");
    for (int pre = 0; pre < 2; pre++) {
        plog_config c = small_cfg();
        c.preallocate = pre;
        plog *l;
        assert_int_equal(plog_open(dir, &c, &l), 0);
        fill(l, 3, 2, 1700000000000, NULL, NULL);
        int64_t leo = plog_end_offset(l), size = plog_size_bytes(l);
        tbatch b = tb_make(4, 1700000000000, NULL, 0);
        plog_test_fail_next_write(ENOSPC, 30);
        int64_t base = -1;
        assert_int_equal(plog_append(l, b.p, b.len, &base), -ENOSPC);
        assert_int_equal(plog_end_offset(l), leo);
        assert_int_equal(plog_size_bytes(l), size);
        char *p = seg_path(dir, 0, ".log");
        if (!pre) assert_int_equal(file_size(p), size);
        check_reads(l, 1000);
        /* the crash case right after the failure: recovery ends at the same place */
        char *dir2 = xasprintf("%s-copy", dir);
        char *cmd = xasprintf("rm -rf '%s' && cp -a '%s' '%s'", dir2, dir, dir2);
        assert_int_equal(system(cmd), 0);
        plog *l2;
        assert_int_equal(plog_open(dir2, &c, &l2), 0);
        assert_int_equal(plog_end_offset(l2), leo);
        plog_close(l2);
        rm_tree(dir2);
        /* and the next append works */
        assert_int_equal(plog_append(l, b.p, b.len, &base), 0);
        assert_int_equal(base, leo);
        check_reads(l, 1000);
        plog_close(l);
        assert_int_equal(plog_open(dir, &c, &l), 0);
        assert_int_equal(plog_end_offset(l), leo + 4);
        check_reads(l, 1000);
        assert_int_equal(plog_delete(l), 0);
        free(b.p);
        free(p);
        free(cmd);
        free(dir2);
    }
    free(dir);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_roll_and_reopen),
        cmocka_unit_test(test_roll_by_time),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_delete_records),
        cmocka_unit_test(test_recover_torn_tail),
        cmocka_unit_test(test_recover_garbage),
        cmocka_unit_test(test_recover_empty_and_zero_tail),
        cmocka_unit_test(test_recover_prealloc),
        cmocka_unit_test(test_recover_indexes),
        cmocka_unit_test(test_recover_corrupt_middle_segment),
        cmocka_unit_test(test_recover_random_damage),
        cmocka_unit_test(test_read_drop_behind),
        cmocka_unit_test(test_flusher_group_commit),
        cmocka_unit_test(test_flusher_periodic),
        cmocka_unit_test(test_enospc),
    };
    /* EDDY_TEST_FILTER (the ThreadSanitizer stage: only the flusher's tests) */
    if (getenv("EDDY_TEST_FILTER")) cmocka_set_test_filter(getenv("EDDY_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
