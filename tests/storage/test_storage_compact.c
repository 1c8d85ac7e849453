/* test_storage_compact — unit tests of the log cleaner (src/storage/compact.c): a random keyed
 * workload in every codec (gzip, snappy raw and xerial, lz4, zstd) checked record by record
 * against an oracle (latest per key, tombstone horizon, offsets unchanged, active segment
 * untouched), reopen, idempotence, and crashes after .cleaned and after .swap. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "storage/plog.h"
#include "storage/batch.h"
#include "storage/plog_int.h"
#include "test_storage_util.h"

#define MAXREC 4000

typedef struct orec {
    bool present;
    char key[16]; /* "" = null key */
    char val[32]; /* "" with tomb */
    bool tomb;
    int64_t ts;
} orec;

static orec g_or[MAXREC]; /* oracle: offset -> what was written */
static int64_t g_n;

typedef struct got {
    int64_t off[MAXREC];
    orec rec[MAXREC];
    int n;
} got;

static void collect_rec(const batch_record *r, got *g)
{
    assert_true(g->n < MAXREC);
    orec *o = &g->rec[g->n];
    memset(o, 0, sizeof *o);
    g->off[g->n] = r->offset;
    if (r->key_len >= 0) memcpy(o->key, r->key, (size_t)r->key_len);
    if (r->value_len >= 0) memcpy(o->val, r->value, (size_t)r->value_len);
    o->tomb = r->value_len < 0;
    g->n++;
}

static void read_all(plog *l, got *g)
{
    g->n = 0;
    int64_t off = plog_start_offset(l), prev_last = -1;
    while (off < plog_end_offset(l)) {
        uint8_t *buf;
        int32_t len;
        int64_t next;
        assert_int_equal(plog_read_copy(l, off, 1 << 20, &buf, &len, &next), 0);
        assert_true(len > 0 && next > off);
        size_t pos = 0;
        while (pos < (size_t)len) {
            batch_info bi;
            assert_int_equal(batch_parse(buf + pos, (size_t)len - pos, &bi), 0);
            assert_true(pos + (size_t)bi.total_len <= (size_t)len);
            assert_int_equal(crc32c(buf + pos + 21, (size_t)bi.total_len - 21), bi.crc);
            assert_true(bi.base_offset > prev_last);
            prev_last = bi.base_offset + bi.last_offset_delta;
            batch_iter it;
            batch_record r;
            int n0 = g->n, rc;
            assert_int_equal(batch_iter_init(&it, buf + pos, (size_t)bi.total_len, 0), 0);
            while ((rc = batch_iter_next(&it, &r)) > 0) collect_rec(&r, g);
            assert_int_equal(rc, 0);
            assert_int_equal(g->n - n0, bi.records_count);
            for (int i = n0; i < g->n; i++) { /* record offsets stay inside the batch range */
                assert_true(g->off[i] >= bi.base_offset && g->off[i] <= prev_last);
            }
            batch_iter_free(&it);
            pos += (size_t)bi.total_len;
        }
        free(buf);
        off = next;
    }
}

static int64_t active_base(const char *dir)
{
    int64_t best = -1;
    for (int64_t b = 0; b < g_n + 1; b++) {
        char *p = seg_path(dir, b, ".log");
        if (file_size(p) >= 0) best = b;
        free(p);
    }
    return best;
}

/* Expected survivors after a full compaction with everything below `act` cleanable. */
static void expected(int64_t act, int64_t now, int64_t dr, got *g)
{
    g->n = 0;
    for (int64_t o = 0; o < g_n; o++) {
        orec *r = &g_or[o];
        bool keep = true;
        if (o < act && r->key[0]) {
            int64_t latest = -1;
            for (int64_t x = 0; x < act; x++)
                if (!strcmp(g_or[x].key, r->key)) latest = x;
            keep = latest == o;
            /* the batch max timestamp of single-ts records: ts + (n-1) <= ts + 3 */
            if (keep && r->tomb && r->ts + 3 + dr < now) keep = false;
        }
        if (keep) {
            g->off[g->n] = o;
            g->rec[g->n] = *r;
            g->n++;
        }
    }
}

static void assert_same(const got *a, const got *b)
{
    assert_int_equal(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        assert_int_equal(a->off[i], b->off[i]);
        assert_string_equal(a->rec[i].key, b->rec[i].key);
        assert_string_equal(a->rec[i].val, b->rec[i].val);
        assert_int_equal(a->rec[i].tomb, b->rec[i].tomb);
    }
}

/* Every surviving record is the one written at that offset, and the latest record of every key
 * (over the whole log) is present. */
static void assert_consistent(const got *g)
{
    for (int i = 0; i < g->n; i++) {
        orec *o = &g_or[g->off[i]];
        assert_string_equal(g->rec[i].key, o->key);
        assert_string_equal(g->rec[i].val, o->val);
    }
    for (int64_t o = 0; o < g_n; o++) {
        if (!g_or[o].key[0]) continue;
        bool later = false;
        for (int64_t x = o + 1; x < g_n && !later; x++) later = !strcmp(g_or[x].key, g_or[o].key);
        if (later) continue;
        bool found = false;
        for (int i = 0; i < g->n && !found; i++) found = g->off[i] == o;
        assert_true(found);
    }
}

static plog_config ccfg(void)
{
    plog_config c;
    plog_config_default(&c);
    c.segment_bytes = 2048;
    c.index_interval_bytes = 256;
    c.cleanup_policy = PLOG_CLEANUP_COMPACT;
    c.delete_retention_ms = 24LL * 3600 * 1000;
    return c;
}

static uint32_t g_rng = 12345;
static uint32_t rnd(void)
{
    g_rng = g_rng * 1103515245u + 12345u;
    return g_rng >> 8;
}

/* Random keyed workload: 20 keys, ~10% tombstones, some null keys, every codec. */
static void workload(plog *l, int batches, int64_t now)
{
    for (int b = 0; b < batches; b++) {
        int n = 1 + (int)(rnd() % 4);
        int64_t ts = b < batches / 2 ? now - 3LL * 24 * 3600 * 1000 : now;
        trec recs[4];
        char keys[4][16], vals[4][32];
        for (int i = 0; i < n; i++) {
            uint32_t r = rnd();
            if (r % 17 == 0)
                keys[i][0] = 0;
            else
                snprintf(keys[i], sizeof keys[i], "key%u", r % 20);
            snprintf(vals[i], sizeof vals[i], "val%lld", (long long)(g_n + i));
            bool tomb = keys[i][0] && rnd() % 10 == 0;
            recs[i].key = keys[i][0] ? keys[i] : NULL;
            recs[i].val = tomb ? NULL : vals[i];
            orec *o = &g_or[g_n + i];
            memset(o, 0, sizeof *o);
            o->present = true;
            strcpy(o->key, keys[i]);
            if (!tomb) strcpy(o->val, vals[i]);
            o->tomb = tomb;
            o->ts = ts;
        }
        tbatch t = tb_make_codec(n, ts, recs, 0, b % 6);
        int64_t base;
        assert_int_equal(plog_append(l, t.p, t.len, &base), 0);
        assert_int_equal(base, g_n);
        g_n += n;
        free(t.p);
    }
}

static void test_compact_oracle(void **st)
{
    (void)st;
    g_n = 0;
    char *dir = tmp_dir("compact");
    plog_config c = ccfg();
    plog *l;
    assert_int_equal(plog_open(dir, &c, &l), 0);
    int64_t now = now_wall_ms();
    workload(l, 400, now);
    assert_true(plog_segment_count(l) > 3);
    int64_t end = plog_end_offset(l);
    got *before = calloc(1, sizeof *before), *after = calloc(1, sizeof *after),
        *want = calloc(1, sizeof *want);
    read_all(l, before);
    assert_int_equal(before->n, g_n); /* the oracle matches what the log holds */

    /* delete-only policy: no-op */
    plog_config d = c;
    d.cleanup_policy = PLOG_CLEANUP_DELETE;
    plog_set_config(l, &d);
    assert_int_equal(plog_compact(l, now), 0);
    plog_set_config(l, &c);

    int64_t act = active_base(dir);
    int n = plog_compact(l, now);
    assert_true(n > 0);
    assert_int_equal(plog_end_offset(l), end);
    read_all(l, after);
    expected(act, now, c.delete_retention_ms, want);
    assert_same(after, want);
    assert_true(after->n < before->n);
    /* idempotent */
    assert_int_equal(plog_compact(l, now), 0);
    /* appends continue; reopen keeps everything */
    workload(l, 5, now);
    plog_close(l);
    assert_int_equal(plog_open(dir, &c, &l), 0);
    read_all(l, after);
    assert_consistent(after);
    assert_int_equal(plog_end_offset(l), g_n);
    /* reads positioned inside removed ranges land on the next surviving batch */
    for (int64_t o = plog_start_offset(l); o < plog_end_offset(l); o++) {
        plog_slice s;
        assert_int_equal(plog_read(l, o, 1, &s), 0);
        assert_true(s.len > 0);
        assert_true(s.next_offset > o);
        close(s.fd);
    }
    plog_close(l);
    free(before);
    free(after);
    free(want);
    rm_tree(dir);
    free(dir);
}

/* min.compaction.lag.ms: nothing younger is read into the map or cleaned; max.compaction.lag.ms:
 * a compact log's active segment rolls at that age (so its records get compacted). */
static void test_compact_lags(void **st)
{
    (void)st;
    g_n = 0;
    g_rng = 4242u;
    char *dir = tmp_dir("compactlag");
    plog_config c = ccfg();
    c.min_compaction_lag_ms = 10LL * 24 * 3600 * 1000; /* older than every record */
    plog *l;
    assert_int_equal(plog_open(dir, &c, &l), 0);
    int64_t now = now_wall_ms();
    workload(l, 300, now); /* first half 3 days old, second half now */
    got *before = calloc(1, sizeof *before), *after = calloc(1, sizeof *after);
    read_all(l, before);
    assert_int_equal(plog_compact(l, now), 0); /* every record is younger than the lag */
    read_all(l, after);
    assert_int_equal(after->n, before->n);
    /* 1 day: only the leading segments of 3-day-old records are cleaned; every record of
     * now (and so everything after the first young segment) is still there */
    c.min_compaction_lag_ms = 24LL * 3600 * 1000;
    plog_set_config(l, &c);
    assert_true(plog_compact(l, now) > 0);
    read_all(l, after);
    assert_true(after->n < before->n);
    int64_t young = 0;
    for (int64_t o = 0; o < g_n; o++)
        if (g_or[o].ts == now) young++;
    int64_t kept_young = 0;
    for (int i = 0; i < after->n; i++)
        if (g_or[after->off[i]].ts == now) kept_young++;
    assert_int_equal(kept_young, young);
    /* max.compaction.lag.ms rolls the active segment by age, segment.ms does not yet */
    int32_t segs = plog_segment_count(l);
    c.max_compaction_lag_ms = 60000;
    plog_set_config(l, &c);
    plog_enforce_retention(l, now_wall_ms() + 120000);
    assert_int_equal(plog_segment_count(l), segs + 1);
    /* segment.jitter.ms takes a random part of segment.ms off the roll age: with the whole of
     * it, a segment of age segment.ms always rolls; 64 draws, one at least below the full age */
    c.max_compaction_lag_ms = 0;
    c.cleanup_policy = PLOG_CLEANUP_DELETE;
    c.retention_ms = -1;
    c.segment_ms = 1000000;
    c.segment_jitter_ms = 1000000;
    bool early = false;
    for (int i = 0; i < 64; i++) {
        workload(l, 1, now);
        plog_set_config(l, &c); /* a new draw */
        segs = plog_segment_count(l);
        plog_enforce_retention(l, now_wall_ms() + 1000000);
        assert_int_equal(plog_segment_count(l), segs + 1);
        workload(l, 1, now);
        segs = plog_segment_count(l);
        plog_enforce_retention(l, now_wall_ms() + 999000);
        if (plog_segment_count(l) > segs) early = true;
    }
    assert_true(early);
    plog_close(l);
    free(before);
    free(after);
    rm_tree(dir);
    free(dir);
}

static void crash_case(int stage)
{
    g_n = 0;
    g_rng = 777u + (uint32_t)stage;
    char *dir = tmp_dir("compactcrash");
    plog_config c = ccfg();
    plog *l;
    assert_int_equal(plog_open(dir, &c, &l), 0);
    int64_t now = now_wall_ms();
    workload(l, 300, now);
    got *g = calloc(1, sizeof *g), *want = calloc(1, sizeof *want);
    int64_t act = active_base(dir);
    plog_test_compact_crash_after(stage);
    assert_int_equal(plog_compact(l, now), -EINTR);
    plog_test_compact_crash_after(0);
    /* "kill -9": copy the directory as it is, without closing */
    char *dir2 = xasprintf("%s-copy", dir);
    char *cmd = xasprintf("cp -a '%s' '%s'", dir, dir2);
    assert_int_equal(system(cmd), 0);
    char *probe =
        xasprintf("ls '%s' | grep -c '\\.%s$' >/dev/null", dir2, stage == 1 ? "cleaned" : "swap");
    assert_int_equal(system(probe), 0); /* the half-done file is there */
    plog *l2;
    assert_int_equal(plog_open(dir2, &c, &l2), 0);
    free(probe);
    probe = xasprintf("ls '%s' | grep -q -e cleaned -e swap", dir2);
    assert_int_not_equal(system(probe), 0); /* and gone after recovery */
    assert_int_equal(plog_end_offset(l2), g_n);
    read_all(l2, g);
    assert_consistent(g);
    if (stage == 1)
        assert_int_equal(g->n, g_n); /* nothing was replaced */
    else
        assert_true(g->n < g_n); /* the swap was completed */
    /* and a full compaction from there gives the exact expected result */
    assert_true(plog_compact(l2, now) > 0);
    read_all(l2, g);
    expected(act, now, c.delete_retention_ms, want);
    assert_same(g, want);
    plog_close(l2);
    plog_close(l);
    rm_tree(dir);
    rm_tree(dir2);
    free(probe);
    free(cmd);
    free(dir2);
    free(dir);
    free(g);
    free(want);
}

static void test_compact_crash_cleaned(void **st)
{
    (void)st;
    crash_case(1);
}

static void test_compact_crash_swap(void **st)
{
    (void)st;
    crash_case(2);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compact_oracle),
        cmocka_unit_test(test_compact_lags),
        cmocka_unit_test(test_compact_crash_cleaned),
        cmocka_unit_test(test_compact_crash_swap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
