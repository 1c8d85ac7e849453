/* test_group_coord — the classic group coordinator's state machine, driven through its real
 * handlers (group_handlers[]) with fake requests built by the real codec: MEMBER_ID_REQUIRED,
 * generations, leader and protocol selection, parked JoinGroup/SyncGroup, heartbeat errors,
 * session expiry, static membership and fencing, LeaveGroup batches, offsets (simple and group
 * commits, OffsetFetch, metadata limit, unknown partitions), Describe/List/Delete groups and
 * OffsetDelete.
 *
 * Broker pieces (topics, part_append, flusher, breq_done) are stubs: one data topic "t" with
 * two partitions and an in-memory __consumer_offsets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/util.h"
#include "group/group_int.h"

/* ---------------------------------------------------------------- stubs ---- */

static int64_t g_leo;
static int g_appends;

int part_append(broker *b, bpart *p, uint8_t *batch, size_t len, int64_t *base_offset)
{
    (void)b;
    (void)p;
    (void)len;
    *base_offset = g_leo;
    g_leo += (int32_t)be32(batch + 57);
    g_appends++;
    return 0;
}
void flusher_request(flusher *f, plog *l, int64_t offset) { (void)f; (void)l; (void)offset; }
int64_t plog_durable_offset(const plog *l) { (void)l; return INT64_MAX; }
int64_t plog_start_offset(const plog *l) { (void)l; return 0; }
int64_t plog_end_offset(const plog *l) { (void)l; return 0; }
int plog_read_copy(plog *l, int64_t o, int32_t m, uint8_t **b, int32_t *n, int64_t *next)
{
    (void)l; (void)o; (void)m; (void)b; (void)n; (void)next;
    return -1;
}
int64_t part_hwm(const bpart *p) { (void)p; return 100; }

static btopic g_data, g_offsets;
static bpart g_dp[2], g_op;
static bpart *g_dpp[2] = {&g_dp[0], &g_dp[1]}, *g_opp[1] = {&g_op};

btopic *topic_findn(broker *b, const char *name, size_t len)
{
    (void)b;
    if (len == 1 && name[0] == 't') return &g_data;
    if (len == strlen(GROUP_OFFSETS_TOPIC) && !memcmp(name, GROUP_OFFSETS_TOPIC, len))
        return &g_offsets;
    return NULL;
}
btopic *topic_find(broker *b, const char *name) { return topic_findn(b, name, strlen(name)); }
int topic_create(broker *b, const char *n, int32_t np, const char *c, bool i, btopic **out)
{
    (void)b; (void)n; (void)np; (void)c; (void)i;
    *out = &g_offsets;
    return 0;
}
void breq_done(breq *r)
{
    assert_false(r->finished);
    r->finished = true;
}
const char *breq_client_host(const breq *r) { (void)r; return "127.0.0.1:1"; }
char *breq_client_id(const breq *r) { return karena_strdup(r->arena, "cli"); }

/* ---------------------------------------------------------------- helpers ---- */

static broker B;
static breq *g_reqs[512];
static int g_nreqs;

static void stop_cb(loop *l, void *arg) { (void)arg; loop_stop(l); }

/* Runs the loop (timers: the coordinator tick) for ms milliseconds. */
static void run_for(int ms)
{
    loop_timer_add(B.loop, ms, stop_cb, NULL);
    loop_run(B.loop);
}

static int setup(void **st)
{
    (void)st;
    memset(&B, 0, sizeof B);
    bconfig_init(&B.cfg);
    B.cfg.group_initial_rebalance_delay_ms = 0;
    B.cfg.group_min_session_timeout_ms = 10;
    B.loop = loop_new();
    B.node_id = 1;
    strcpy(B.adv_host, "127.0.0.1");
    B.adv_port = 9092;
    g_data.name = (char *)"t";
    g_data.nparts = 2;
    g_data.parts = g_dpp;
    g_offsets.name = (char *)GROUP_OFFSETS_TOPIC;
    g_offsets.nparts = 1;
    g_offsets.parts = g_opp;
    g_offsets.internal = true;
    for (int i = 0; i < 2; i++) {
        g_dp[i].topic = &g_data;
        g_dp[i].index = i;
    }
    g_op.topic = &g_offsets;
    assert_int_equal(group_coord_start(&B), 0);
    return 0;
}

static void free_reqs(void)
{
    for (int i = 0; i < g_nreqs; i++) {
        karena_free(g_reqs[i]->arena);
        free(g_reqs[i]);
    }
    g_nreqs = 0;
}

static int teardown(void **st)
{
    (void)st;
    group_coord_stop(&B);
    free_reqs(); /* after the stop: it answers (touches) parked requests */
    loop_free(B.loop);
    bconfig_free(&B.cfg);
    return 0;
}


static breq *mk(int16_t key, int16_t ver)
{
    breq *r = xcalloc(1, sizeof *r);
    r->b = &B;
    r->arena = karena_new();
    r->api = kapi_get(key);
    assert_non_null(r->api);
    r->hdr.api_key = key;
    r->hdr.api_version = ver;
    r->hdr.client_id = (kstr){(const uint8_t *)"cli", 3};
    r->req = kmsg_new(r->arena, r->api->request);
    r->resp = kmsg_new(r->arena, r->api->response);
    g_reqs[g_nreqs++] = r;
    return r;
}

static void call(breq *r)
{
    for (const bhandler *h = group_handlers; h->key >= 0; h++)
        if (h->key == r->hdr.api_key) {
            assert_in_range(r->hdr.api_version, h->min_version, h->max_version);
            h->fn(&B, r);
            return;
        }
    fail_msg("no handler for key %d", r->hdr.api_key);
}

static char *str(breq *r, kmsg *m, const char *f)
{
    kstr s = k_str(m, f);
    if (s.len < 0) return NULL;
    char *d = karena_alloc(r->arena, (size_t)s.len + 1);
    memcpy(d, s.p, (size_t)s.len);
    return d;
}

/* consumer-protocol subscription bytes for topic "t" */
static const uint8_t SUB_T[] = {0, 0, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 0};

static breq *join(int16_t ver, const char *gid, const char *member, const char *instance,
                  int32_t session, const char *proto)
{
    breq *r = mk(11, ver);
    k_set_str(r->req, "GroupId", gid);
    k_set_int(r->req, "SessionTimeoutMs", session);
    k_set_int(r->req, "RebalanceTimeoutMs", 1000);
    k_set_str(r->req, "MemberId", member);
    k_set_str(r->req, "GroupInstanceId", instance);
    k_set_str(r->req, "ProtocolType", "consumer");
    k_new_items(r->req, "Protocols", 1);
    kmsg *p = k_item(r->req, "Protocols", 0);
    k_set_str(p, "Name", proto);
    k_set_bytes(p, "Metadata", SUB_T, sizeof SUB_T);
    call(r);
    return r;
}

/* The full v5 dance for a new dynamic member: MEMBER_ID_REQUIRED, then the real join. */
static breq *join_new(const char *gid, char **member_out)
{
    breq *r = join(5, gid, "", NULL, 10000, "range");
    assert_true(r->finished);
    assert_int_equal(k_int(r->resp, "ErrorCode"), KERR_MEMBER_ID_REQUIRED);
    char *id = str(r, r->resp, "MemberId");
    assert_true(strncmp(id, "cli-", 4) == 0);
    *member_out = id;
    return join(5, gid, id, NULL, 10000, "range");
}

static breq *sync_req(const char *gid, int32_t gen, const char *member, int nassign,
                      const char **ids)
{
    breq *r = mk(14, 3);
    k_set_str(r->req, "GroupId", gid);
    k_set_int(r->req, "GenerationId", gen);
    k_set_str(r->req, "MemberId", member);
    k_new_items(r->req, "Assignments", nassign);
    for (int i = 0; i < nassign; i++) {
        kmsg *a = k_item(r->req, "Assignments", i);
        k_set_str(a, "MemberId", ids[i]);
        char buf[16];
        snprintf(buf, sizeof buf, "A%d", i);
        k_set_bytes(a, "Assignment", buf, 2);
    }
    call(r);
    return r;
}

static int heartbeat(int16_t ver, const char *gid, int32_t gen, const char *member,
                     const char *instance)
{
    breq *r = mk(12, ver);
    k_set_str(r->req, "GroupId", gid);
    k_set_int(r->req, "GenerationId", gen);
    k_set_str(r->req, "MemberId", member);
    k_set_str(r->req, "GroupInstanceId", instance);
    call(r);
    assert_true(r->finished);
    return (int)k_int(r->resp, "ErrorCode");
}

static int commit1(int16_t ver, const char *gid, int32_t gen, const char *member,
                   const char *topic, int32_t part, int64_t off, const char *meta)
{
    breq *r = mk(8, ver);
    k_set_str(r->req, "GroupId", gid);
    k_set_int(r->req, "GenerationIdOrMemberEpoch", gen);
    k_set_str(r->req, "MemberId", member);
    k_new_items(r->req, "Topics", 1);
    kmsg *t = k_item(r->req, "Topics", 0);
    k_set_str(t, "Name", topic);
    k_new_items(t, "Partitions", 1);
    kmsg *p = k_item(t, "Partitions", 0);
    k_set_int(p, "PartitionIndex", part);
    k_set_int(p, "CommittedOffset", off);
    k_set_int(p, "CommittedLeaderEpoch", -1);
    k_set_str(p, "CommittedMetadata", meta);
    call(r);
    assert_true(r->finished);
    return (int)k_int(k_item(k_item(r->resp, "Topics", 0), "Partitions", 0), "ErrorCode");
}

static int64_t fetch1(int16_t ver, const char *gid, const char *topic, int32_t part,
                      char **meta)
{
    breq *r = mk(9, ver);
    kmsg *src = r->req, *dst = r->resp;
    if (ver >= 8) {
        k_new_items(r->req, "Groups", 1);
        src = k_item(r->req, "Groups", 0);
        k_set_str(src, "GroupId", gid);
    } else {
        k_set_str(r->req, "GroupId", gid);
    }
    k_new_items(src, "Topics", 1);
    kmsg *t = k_item(src, "Topics", 0);
    k_set_str(t, "Name", topic);
    kval *v = k_set_array(t, "PartitionIndexes", 1);
    v[0].i = part;
    call(r);
    assert_true(r->finished);
    if (ver >= 8) dst = k_item(r->resp, "Groups", 0);
    kmsg *p = k_item(k_item(dst, "Topics", 0), "Partitions", 0);
    assert_int_equal(k_int(p, "ErrorCode"), 0);
    if (meta) *meta = str(r, p, "Metadata");
    return k_int(p, "CommittedOffset");
}

static group *G(const char *id) { return gc_find(B.groups, id); }

/* ---------------------------------------------------------------- tests ---- */

static void test_validation(void **st)
{
    (void)st;
    breq *r = join(5, "", "", NULL, 10000, "range");
    assert_int_equal(k_int(r->resp, "ErrorCode"), KERR_INVALID_GROUP_ID);
    char big[300];
    memset(big, 'g', 256);
    big[256] = 0;
    r = join(5, big, "", NULL, 10000, "range");
    assert_int_equal(k_int(r->resp, "ErrorCode"), KERR_INVALID_GROUP_ID);
    r = join(5, "g", "", NULL, 5, "range");
    assert_int_equal(k_int(r->resp, "ErrorCode"), KERR_INVALID_SESSION_TIMEOUT);
    r = join(5, "g", "", NULL, 2000000, "range");
    assert_int_equal(k_int(r->resp, "ErrorCode"), KERR_INVALID_SESSION_TIMEOUT);
    r = join(5, "g", "nobody", NULL, 10000, "range");
    assert_int_equal(k_int(r->resp, "ErrorCode"), KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(heartbeat(3, "nogroup", 1, "x", NULL), KERR_UNKNOWN_MEMBER_ID);
}

static void test_join_sync_two_members(void **st)
{
    (void)st;
    char *m1, *m2;
    breq *j1 = join_new("g", &m1);
    /* alone in the group: completes at once (delay 0), generation 1, leader, 1 member */
    assert_true(j1->finished);
    assert_int_equal(k_int(j1->resp, "ErrorCode"), 0);
    assert_int_equal(k_int(j1->resp, "GenerationId"), 1);
    assert_string_equal(str(j1, j1->resp, "Leader"), m1);
    assert_string_equal(str(j1, j1->resp, "ProtocolName"), "range");
    assert_int_equal(k_count(j1->resp, "Members"), 1);
    const char *ids1[] = {m1};
    breq *s1 = sync_req("g", 1, m1, 1, ids1);
    assert_true(s1->finished);
    assert_int_equal(G("g")->state, GS_STABLE);
    assert_int_equal(heartbeat(3, "g", 1, m1, NULL), 0);

    /* second member: pending first, then a rebalance the first learns about by heartbeat */
    breq *j2 = join_new("g", &m2);
    assert_false(j2->finished);
    assert_int_equal(G("g")->state, GS_PREPARING);
    assert_int_equal(heartbeat(3, "g", 1, m1, NULL), KERR_REBALANCE_IN_PROGRESS);
    breq *s_bad = sync_req("g", 1, m1, 0, NULL);
    assert_int_equal(k_int(s_bad->resp, "ErrorCode"), KERR_REBALANCE_IN_PROGRESS);
    breq *j1b = join(5, "g", m1, NULL, 10000, "range");
    assert_true(j1b->finished && j2->finished);
    assert_int_equal(k_int(j1b->resp, "GenerationId"), 2);
    assert_int_equal(k_int(j2->resp, "GenerationId"), 2);
    assert_string_equal(str(j2, j2->resp, "Leader"), m1); /* the leader stays */
    assert_int_equal(k_count(j1b->resp, "Members"), 2);
    assert_int_equal(k_count(j2->resp, "Members"), 0);
    assert_int_equal(G("g")->state, GS_COMPLETING);
    assert_int_equal(heartbeat(3, "g", 1, m2, NULL), KERR_ILLEGAL_GENERATION);
    assert_int_equal(heartbeat(3, "g", 2, m2, NULL), 0);

    /* follower's sync parks until the leader's */
    breq *s2 = sync_req("g", 2, m2, 0, NULL);
    assert_false(s2->finished);
    /* commits are refused while CompletingRebalance */
    assert_int_equal(commit1(7, "g", 2, m2, "t", 0, 5, ""), KERR_REBALANCE_IN_PROGRESS);
    const char *ids[] = {m1, m2};
    breq *s1b = sync_req("g", 2, m1, 2, ids);
    assert_true(s1b->finished && s2->finished);
    kstr a1 = k_str(s1b->resp, "Assignment"), a2 = k_str(s2->resp, "Assignment");
    assert_int_equal(a1.len, 2);
    assert_memory_equal(a1.p, "A0", 2);
    assert_memory_equal(a2.p, "A1", 2);
    assert_int_equal(G("g")->state, GS_STABLE);

    /* group commit with the right generation, and the wrong one */
    assert_int_equal(commit1(7, "g", 2, m2, "t", 1, 42, "hello"), 0);
    assert_int_equal(commit1(7, "g", 1, m2, "t", 1, 43, ""), KERR_ILLEGAL_GENERATION);
    assert_int_equal(commit1(7, "g", 2, "ghost", "t", 1, 43, ""), KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(commit1(7, "g", -1, "", "t", 1, 43, ""), KERR_UNKNOWN_MEMBER_ID);
    char *meta;
    assert_int_equal(fetch1(5, "g", "t", 1, &meta), 42);
    assert_string_equal(meta, "hello");
    assert_int_equal(fetch1(8, "g", "t", 1, NULL), 42);
    assert_int_equal(fetch1(5, "g", "t", 0, &meta), -1);
    assert_string_equal(meta, ""); /* no offset: "" not null */

    /* DeleteGroups refuses a group with members; ListGroups filters by state */
    breq *d = mk(42, 1);
    kval *v = k_set_array(d->req, "GroupsNames", 2);
    v[0].s = (kstr){(const uint8_t *)"g", 1};
    v[1].s = (kstr){(const uint8_t *)"zz", 2};
    call(d);
    assert_int_equal(k_int(k_item(d->resp, "Results", 0), "ErrorCode"), KERR_NON_EMPTY_GROUP);
    assert_int_equal(k_int(k_item(d->resp, "Results", 1), "ErrorCode"), KERR_GROUP_ID_NOT_FOUND);
    breq *l = mk(16, 4);
    v = k_set_array(l->req, "StatesFilter", 1);
    v[0].s = (kstr){(const uint8_t *)"stable", 6};
    call(l);
    assert_int_equal(k_count(l->resp, "Groups"), 1);
    assert_string_equal(str(l, k_item(l->resp, "Groups", 0), "GroupState"), "Stable");

    /* OffsetDelete of a subscribed topic is refused */
    breq *od = mk(47, 0);
    k_set_str(od->req, "GroupId", "g");
    k_new_items(od->req, "Topics", 1);
    kmsg *t = k_item(od->req, "Topics", 0);
    k_set_str(t, "Name", "t");
    k_new_items(t, "Partitions", 1);
    k_set_int(k_item(t, "Partitions", 0), "PartitionIndex", 1);
    call(od);
    assert_int_equal(k_int(k_item(k_item(od->resp, "Topics", 0), "Partitions", 0), "ErrorCode"),
                     KERR_GROUP_SUBSCRIBED_TO_TOPIC);

    /* DescribeGroups of a Stable group */
    breq *dg = mk(15, 5);
    v = k_set_array(dg->req, "Groups", 2);
    v[0].s = (kstr){(const uint8_t *)"g", 1};
    v[1].s = (kstr){(const uint8_t *)"nope", 4};
    call(dg);
    kmsg *g0 = k_item(dg->resp, "Groups", 0), *g1 = k_item(dg->resp, "Groups", 1);
    assert_string_equal(str(dg, g0, "GroupState"), "Stable");
    assert_string_equal(str(dg, g0, "ProtocolData"), "range");
    assert_int_equal(k_count(g0, "Members"), 2);
    assert_string_equal(str(dg, g1, "GroupState"), "Dead");

    /* LeaveGroup v3 batch: one known, one unknown */
    breq *lv = mk(13, 3);
    k_set_str(lv->req, "GroupId", "g");
    k_new_items(lv->req, "Members", 2);
    k_set_str(k_item(lv->req, "Members", 0), "MemberId", m2);
    k_set_str(k_item(lv->req, "Members", 1), "MemberId", "ghost");
    call(lv);
    assert_int_equal(k_int(lv->resp, "ErrorCode"), 0);
    assert_int_equal(k_int(k_item(lv->resp, "Members", 0), "ErrorCode"), 0);
    assert_int_equal(k_int(k_item(lv->resp, "Members", 1), "ErrorCode"), KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(G("g")->state, GS_PREPARING);
    /* the last member leaves (v1): the group becomes Empty, generation bumps */
    breq *lv1 = mk(13, 1);
    k_set_str(lv1->req, "GroupId", "g");
    k_set_str(lv1->req, "MemberId", m1);
    call(lv1);
    assert_int_equal(k_int(lv1->resp, "ErrorCode"), 0);
    assert_int_equal(G("g")->state, GS_EMPTY);
    assert_int_equal(G("g")->generation, 3);
    /* now deletable; offsets go with it */
    breq *d2 = mk(42, 2);
    v = k_set_array(d2->req, "GroupsNames", 1);
    v[0].s = (kstr){(const uint8_t *)"g", 1};
    call(d2);
    assert_true(d2->finished);
    assert_int_equal(k_int(k_item(d2->resp, "Results", 0), "ErrorCode"), 0);
    assert_null(G("g"));
}

static void test_simple_commits(void **st)
{
    (void)st;
    assert_int_equal(commit1(2, "simple", -1, "", "t", 0, 7, "m"), 0);
    assert_int_equal(G("simple")->state, GS_EMPTY);
    assert_int_equal(fetch1(1, "simple", "t", 0, NULL), 7);
    assert_int_equal(commit1(2, "simple", -1, "", "nope", 0, 7, ""),
                     KERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(commit1(2, "simple", -1, "", "t", 2, 7, ""),
                     KERR_UNKNOWN_TOPIC_OR_PARTITION);
    char big[5000];
    memset(big, 'x', 4097);
    big[4097] = 0;
    assert_int_equal(commit1(2, "simple", -1, "", "t", 0, 8, big), KERR_OFFSET_METADATA_TOO_LARGE);
    assert_int_equal(fetch1(1, "simple", "t", 0, NULL), 7);
    assert_int_equal(commit1(2, "nogroup", 3, "x", "t", 0, 7, ""), KERR_ILLEGAL_GENERATION);
    assert_int_equal(fetch1(1, "unknown-group", "t", 0, NULL), -1);
    /* OffsetFetch with null topics lists everything committed */
    breq *r = mk(9, 5);
    k_set_str(r->req, "GroupId", "simple");
    k_set_null(r->req, "Topics");
    call(r);
    assert_int_equal(k_count(r->resp, "Topics"), 1);
    assert_int_equal(k_count(k_item(r->resp, "Topics", 0), "Partitions"), 1);
}

static void test_session_expiry(void **st)
{
    (void)st;
    char *m1, *m2;
    breq *j1 = join_new("e", &m1);
    assert_true(j1->finished);
    const char *ids[] = {m1};
    sync_req("e", 1, m1, 1, ids);
    /* m2 joins with a short session; m1 has 10 s */
    breq *p = join(5, "e", "", NULL, 150, "range");
    m2 = str(p, p->resp, "MemberId");
    breq *j2 = join(5, "e", m2, NULL, 150, "range");
    assert_false(j2->finished);
    join(5, "e", m1, NULL, 10000, "range");
    assert_true(j2->finished);
    const char *ids2[] = {m1, m2};
    sync_req("e", 2, m2, 0, NULL);
    sync_req("e", 2, m1, 2, ids2);
    assert_int_equal(G("e")->state, GS_STABLE);
    /* m2 goes silent: expelled after its session timeout, the group rebalances */
    run_for(500);
    assert_null(g_member(G("e"), m2));
    assert_int_equal(G("e")->state, GS_PREPARING);
    assert_int_equal(heartbeat(3, "e", 2, m1, NULL), KERR_REBALANCE_IN_PROGRESS);
    breq *j = join(5, "e", m1, NULL, 10000, "range");
    assert_true(j->finished);
    assert_int_equal(k_int(j->resp, "GenerationId"), 3);
    assert_int_equal(k_count(j->resp, "Members"), 1);
    /* a parked JoinGroup is never expired by the session timeout */
    breq *p3 = join(5, "e", "", NULL, 100, "range");
    char *m3 = str(p3, p3->resp, "MemberId");
    breq *j3 = join(5, "e", m3, NULL, 100, "range");
    assert_false(j3->finished);
    run_for(400);
    assert_non_null(g_member(G("e"), m3));
}

static void test_static_membership(void **st)
{
    (void)st;
    breq *j = join(5, "s", "", "inst-1", 10000, "range");
    assert_true(j->finished); /* no MEMBER_ID_REQUIRED round for static members */
    assert_int_equal(k_int(j->resp, "ErrorCode"), 0);
    char *old = str(j, j->resp, "MemberId");
    assert_true(strncmp(old, "inst-1-", 7) == 0);
    const char *ids[] = {old};
    sync_req("s", 1, old, 1, ids);
    assert_int_equal(G("s")->state, GS_STABLE);
    /* the instance restarts: new member id, same generation, old id fenced */
    breq *j2 = join(5, "s", "", "inst-1", 10000, "range");
    assert_true(j2->finished);
    char *nid = str(j2, j2->resp, "MemberId");
    assert_string_not_equal(nid, old);
    assert_int_equal(k_int(j2->resp, "GenerationId"), 1);
    assert_int_equal(G("s")->state, GS_STABLE);
    assert_int_equal(heartbeat(3, "s", 1, old, "inst-1"), KERR_FENCED_INSTANCE_ID);
    assert_int_equal(heartbeat(3, "s", 1, nid, "inst-1"), 0);
}

static void test_find_coordinator(void **st)
{
    (void)st;
    breq *r = mk(10, 2);
    k_set_str(r->req, "Key", "g");
    k_set_int(r->req, "KeyType", 0);
    call(r);
    assert_int_equal(k_int(r->resp, "ErrorCode"), 0);
    assert_int_equal(k_int(r->resp, "NodeId"), 1);
    assert_int_equal(k_int(r->resp, "Port"), 9092);
    breq *r4 = mk(10, 4);
    kval *v = k_set_array(r4->req, "CoordinatorKeys", 2);
    v[0].s = (kstr){(const uint8_t *)"a", 1};
    v[1].s = (kstr){(const uint8_t *)"b", 1};
    call(r4);
    assert_int_equal(k_count(r4->resp, "Coordinators"), 2);
    assert_string_equal(str(r4, k_item(r4->resp, "Coordinators", 1), "Key"), "b");
    assert_string_equal(str(r4, k_item(r4->resp, "Coordinators", 1), "Host"), "127.0.0.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_sync_two_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_simple_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_membership, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_coordinator, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
