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
int64_t part_hwm(const bpart *p)
{
    (void)p;
    return 100;
}

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
btopic *topic_find(broker *b, const char *name)
{
    return topic_findn(b, name, strlen(name));
}
btopic *topic_find_id(broker *b, const uint8_t id[16])
{
    (void)b;
    if (!memcmp(id, g_data.id, 16)) return &g_data;
    return NULL;
}
int topic_create(broker *b, const char *n, int32_t np, const char *c, bool i, btopic **out)
{
    (void)b;
    (void)n;
    (void)np;
    (void)c;
    (void)i;
    *out = &g_offsets;
    return 0;
}
btopic *topic_internal(broker *b, const char *name, const char *configs)
{
    btopic *t = topic_find(b, name);
    if (!t && topic_create(b, name, 1, configs, true, &t) != 0) t = NULL;
    return t;
}
void breq_done(breq *r)
{
    assert_false(r->finished);
    r->finished = true;
}
const char *breq_client_host(const breq *r)
{
    (void)r;
    return "127.0.0.1:1";
}
void breq_advertised(const breq *r, const char **host, int *port)
{
    *host = r->b->adv_host;
    *port = r->b->adv_port;
}
char *breq_client_id(const breq *r)
{
    return karena_strdup(r->arena, "cli");
}
/* the connection's identity (server.c): an unauthenticated client; throttling is not tested here */
const char *breq_principal(const breq *r)
{
    (void)r;
    return "User:ANONYMOUS";
}
const char *breq_peer_host(const breq *r)
{
    (void)r;
    return "127.0.0.1";
}
void breq_throttle(breq *r, int32_t ms)
{
    (void)r;
    (void)ms;
}

/* ---------------------------------------------------------------- helpers ---- */

static broker B;
static breq *g_reqs[512];
static int g_nreqs;

static void stop_cb(loop *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

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
    const bhandler *h = &group_handlers[r->hdr.api_key];
    if (!h->fn) fail_msg("no handler for key %d", r->hdr.api_key);
    assert_in_range(r->hdr.api_version, h->min_version, h->max_version);
    h->fn(&B, r);
}

static char *str(breq *r, kmsg *m, kfid f)
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
    breq *r = mk(API_JoinGroup, ver);
    k_set_str(r->req, JoinGroupRequest_GroupId, gid);
    k_set_int(r->req, JoinGroupRequest_SessionTimeoutMs, session);
    k_set_int(r->req, JoinGroupRequest_RebalanceTimeoutMs, 1000);
    k_set_str(r->req, JoinGroupRequest_MemberId, member);
    k_set_str(r->req, JoinGroupRequest_GroupInstanceId, instance);
    k_set_str(r->req, JoinGroupRequest_ProtocolType, "consumer");
    k_new_items(r->req, JoinGroupRequest_Protocols, 1);
    kmsg *p = k_item(r->req, JoinGroupRequest_Protocols, 0);
    k_set_str(p, JoinGroupRequestProtocol_Name, proto);
    k_set_bytes(p, JoinGroupRequestProtocol_Metadata, SUB_T, sizeof SUB_T);
    call(r);
    return r;
}

/* The full v5 dance for a new dynamic member: MEMBER_ID_REQUIRED, then the real join. */
static breq *join_new(const char *gid, char **member_out)
{
    breq *r = join(5, gid, "", NULL, 10000, "range");
    assert_true(r->finished);
    assert_int_equal(k_int(r->resp, JoinGroupResponse_ErrorCode), KERR_MEMBER_ID_REQUIRED);
    char *id = str(r, r->resp, JoinGroupResponse_MemberId);
    assert_true(strncmp(id, "cli-", 4) == 0);
    *member_out = id;
    return join(5, gid, id, NULL, 10000, "range");
}

static breq *sync_req(const char *gid, int32_t gen, const char *member, int nassign,
                      const char **ids)
{
    breq *r = mk(API_SyncGroup, 3);
    k_set_str(r->req, SyncGroupRequest_GroupId, gid);
    k_set_int(r->req, SyncGroupRequest_GenerationId, gen);
    k_set_str(r->req, SyncGroupRequest_MemberId, member);
    k_new_items(r->req, SyncGroupRequest_Assignments, nassign);
    for (int i = 0; i < nassign; i++) {
        kmsg *a = k_item(r->req, SyncGroupRequest_Assignments, i);
        k_set_str(a, SyncGroupRequestAssignment_MemberId, ids[i]);
        char buf[16];
        snprintf(buf, sizeof buf, "A%d", i);
        k_set_bytes(a, SyncGroupRequestAssignment_Assignment, buf, 2);
    }
    call(r);
    return r;
}

static int heartbeat(int16_t ver, const char *gid, int32_t gen, const char *member,
                     const char *instance)
{
    breq *r = mk(API_Heartbeat, ver);
    k_set_str(r->req, HeartbeatRequest_GroupId, gid);
    k_set_int(r->req, HeartbeatRequest_GenerationId, gen);
    k_set_str(r->req, HeartbeatRequest_MemberId, member);
    k_set_str(r->req, HeartbeatRequest_GroupInstanceId, instance);
    call(r);
    assert_true(r->finished);
    return (int)k_int(r->resp, HeartbeatResponse_ErrorCode);
}

static int commit1(int16_t ver, const char *gid, int32_t gen, const char *member, const char *topic,
                   int32_t part, int64_t off, const char *meta)
{
    breq *r = mk(API_OffsetCommit, ver);
    k_set_str(r->req, OffsetCommitRequest_GroupId, gid);
    k_set_int(r->req, OffsetCommitRequest_GenerationIdOrMemberEpoch, gen);
    k_set_str(r->req, OffsetCommitRequest_MemberId, member);
    k_new_items(r->req, OffsetCommitRequest_Topics, 1);
    kmsg *t = k_item(r->req, OffsetCommitRequest_Topics, 0);
    k_set_str(t, OffsetCommitRequestTopic_Name, topic);
    k_new_items(t, OffsetCommitRequestTopic_Partitions, 1);
    kmsg *p = k_item(t, OffsetCommitRequestTopic_Partitions, 0);
    k_set_int(p, OffsetCommitRequestPartition_PartitionIndex, part);
    k_set_int(p, OffsetCommitRequestPartition_CommittedOffset, off);
    k_set_int(p, OffsetCommitRequestPartition_CommittedLeaderEpoch, -1);
    k_set_str(p, OffsetCommitRequestPartition_CommittedMetadata, meta);
    call(r);
    assert_true(r->finished);
    return (int)k_int(k_item(k_item(r->resp, OffsetCommitResponse_Topics, 0),
                             OffsetCommitResponseTopic_Partitions, 0),
                      OffsetCommitResponsePartition_ErrorCode);
}

static int64_t fetch1(int16_t ver, const char *gid, const char *topic, int32_t part, char **meta)
{
    breq *r = mk(API_OffsetFetch, ver);
    kmsg *src = r->req, *dst = r->resp;
    if (ver >= 8) {
        k_new_items(r->req, OffsetFetchRequest_Groups, 1);
        src = k_item(r->req, OffsetFetchRequest_Groups, 0);
        k_set_str(src, OffsetFetchRequestGroup_GroupId, gid);
    } else {
        k_set_str(r->req, OffsetFetchRequest_GroupId, gid);
    }
    /* v8+ asks per group, and its topics carry a TopicId (used from v10): two layouts */
    kfid topics = ver >= 8 ? OffsetFetchRequestGroup_Topics : OffsetFetchRequest_Topics;
    k_new_items(src, topics, 1);
    kmsg *t = k_item(src, topics, 0);
    k_set_str(t, ver >= 8 ? OffsetFetchRequestTopics_Name : OffsetFetchRequestTopic_Name, topic);
    kval *v = k_set_array(t,
                          ver >= 8 ? OffsetFetchRequestTopics_PartitionIndexes
                                   : OffsetFetchRequestTopic_PartitionIndexes,
                          1);
    v[0].i = part;
    call(r);
    assert_true(r->finished);
    if (ver >= 8) dst = k_item(r->resp, OffsetFetchResponse_Groups, 0);
    kmsg *p = ver >= 8 ? k_item(k_item(dst, OffsetFetchResponseGroup_Topics, 0),
                                OffsetFetchResponseTopics_Partitions, 0)
                       : k_item(k_item(dst, OffsetFetchResponse_Topics, 0),
                                OffsetFetchResponseTopic_Partitions, 0);
    assert_int_equal(k_int(p, OffsetFetchResponsePartitions_ErrorCode), 0);
    if (meta) *meta = str(r, p, OffsetFetchResponsePartitions_Metadata);
    return k_int(p, OffsetFetchResponsePartitions_CommittedOffset);
}

static group *G(const char *id)
{
    return gc_find(B.groups, id);
}

/* ---------------------------------------------------------------- tests ---- */

static void test_validation(void **st)
{
    (void)st;
    breq *r = join(5, "", "", NULL, 10000, "range");
    assert_int_equal(k_int(r->resp, JoinGroupResponse_ErrorCode), KERR_INVALID_GROUP_ID);
    char big[300];
    memset(big, 'g', 256);
    big[256] = 0;
    r = join(5, big, "", NULL, 10000, "range");
    assert_int_equal(k_int(r->resp, JoinGroupResponse_ErrorCode), KERR_INVALID_GROUP_ID);
    r = join(5, "g", "", NULL, 5, "range");
    assert_int_equal(k_int(r->resp, JoinGroupResponse_ErrorCode), KERR_INVALID_SESSION_TIMEOUT);
    r = join(5, "g", "", NULL, 2000000, "range");
    assert_int_equal(k_int(r->resp, JoinGroupResponse_ErrorCode), KERR_INVALID_SESSION_TIMEOUT);
    r = join(5, "g", "nobody", NULL, 10000, "range");
    assert_int_equal(k_int(r->resp, JoinGroupResponse_ErrorCode), KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(heartbeat(3, "nogroup", 1, "x", NULL), KERR_UNKNOWN_MEMBER_ID);
}

static void test_join_sync_two_members(void **st)
{
    (void)st;
    char *m1, *m2;
    breq *j1 = join_new("g", &m1);
    /* alone in the group: completes at once (delay 0), generation 1, leader, 1 member */
    assert_true(j1->finished);
    assert_int_equal(k_int(j1->resp, JoinGroupResponse_ErrorCode), 0);
    assert_int_equal(k_int(j1->resp, JoinGroupResponse_GenerationId), 1);
    assert_string_equal(str(j1, j1->resp, JoinGroupResponse_Leader), m1);
    assert_string_equal(str(j1, j1->resp, JoinGroupResponse_ProtocolName), "range");
    assert_int_equal(k_count(j1->resp, JoinGroupResponse_Members), 1);
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
    assert_int_equal(k_int(s_bad->resp, SyncGroupResponse_ErrorCode), KERR_REBALANCE_IN_PROGRESS);
    breq *j1b = join(5, "g", m1, NULL, 10000, "range");
    assert_true(j1b->finished && j2->finished);
    assert_int_equal(k_int(j1b->resp, JoinGroupResponse_GenerationId), 2);
    assert_int_equal(k_int(j2->resp, JoinGroupResponse_GenerationId), 2);
    assert_string_equal(str(j2, j2->resp, JoinGroupResponse_Leader), m1); /* the leader stays */
    assert_int_equal(k_count(j1b->resp, JoinGroupResponse_Members), 2);
    assert_int_equal(k_count(j2->resp, JoinGroupResponse_Members), 0);
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
    kstr a1 = k_str(s1b->resp, SyncGroupResponse_Assignment),
         a2 = k_str(s2->resp, SyncGroupResponse_Assignment);
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
    breq *d = mk(API_DeleteGroups, 1);
    kval *v = k_set_array(d->req, DeleteGroupsRequest_GroupsNames, 2);
    v[0].s = (kstr){(const uint8_t *)"g", 1};
    v[1].s = (kstr){(const uint8_t *)"zz", 2};
    call(d);
    assert_int_equal(
        k_int(k_item(d->resp, DeleteGroupsResponse_Results, 0), DeletableGroupResult_ErrorCode),
        KERR_NON_EMPTY_GROUP);
    assert_int_equal(
        k_int(k_item(d->resp, DeleteGroupsResponse_Results, 1), DeletableGroupResult_ErrorCode),
        KERR_GROUP_ID_NOT_FOUND);
    breq *l = mk(API_ListGroups, 4);
    v = k_set_array(l->req, ListGroupsRequest_StatesFilter, 1);
    v[0].s = (kstr){(const uint8_t *)"stable", 6};
    call(l);
    assert_int_equal(k_count(l->resp, ListGroupsResponse_Groups), 1);
    assert_string_equal(
        str(l, k_item(l->resp, ListGroupsResponse_Groups, 0), ListedGroup_GroupState), "Stable");

    /* OffsetDelete of a subscribed topic is refused */
    breq *od = mk(API_OffsetDelete, 0);
    k_set_str(od->req, OffsetDeleteRequest_GroupId, "g");
    k_new_items(od->req, OffsetDeleteRequest_Topics, 1);
    kmsg *t = k_item(od->req, OffsetDeleteRequest_Topics, 0);
    k_set_str(t, OffsetDeleteRequestTopic_Name, "t");
    k_new_items(t, OffsetDeleteRequestTopic_Partitions, 1);
    k_set_int(k_item(t, OffsetDeleteRequestTopic_Partitions, 0),
              OffsetDeleteRequestPartition_PartitionIndex, 1);
    call(od);
    assert_int_equal(k_int(k_item(k_item(od->resp, OffsetDeleteResponse_Topics, 0),
                                  OffsetDeleteResponseTopic_Partitions, 0),
                           OffsetDeleteResponsePartition_ErrorCode),
                     KERR_GROUP_SUBSCRIBED_TO_TOPIC);

    /* DescribeGroups of a Stable group */
    breq *dg = mk(API_DescribeGroups, 5);
    v = k_set_array(dg->req, DescribeGroupsRequest_Groups, 2);
    v[0].s = (kstr){(const uint8_t *)"g", 1};
    v[1].s = (kstr){(const uint8_t *)"nope", 4};
    call(dg);
    kmsg *g0 = k_item(dg->resp, DescribeGroupsResponse_Groups, 0),
         *g1 = k_item(dg->resp, DescribeGroupsResponse_Groups, 1);
    assert_string_equal(str(dg, g0, DescribedGroup_GroupState), "Stable");
    assert_string_equal(str(dg, g0, DescribedGroup_ProtocolData), "range");
    assert_int_equal(k_count(g0, DescribedGroup_Members), 2);
    assert_string_equal(str(dg, g1, DescribedGroup_GroupState), "Dead");

    /* LeaveGroup v3 batch: one known, one unknown */
    breq *lv = mk(API_LeaveGroup, 3);
    k_set_str(lv->req, LeaveGroupRequest_GroupId, "g");
    k_new_items(lv->req, LeaveGroupRequest_Members, 2);
    k_set_str(k_item(lv->req, LeaveGroupRequest_Members, 0), MemberIdentity_MemberId, m2);
    k_set_str(k_item(lv->req, LeaveGroupRequest_Members, 1), MemberIdentity_MemberId, "ghost");
    call(lv);
    assert_int_equal(k_int(lv->resp, LeaveGroupResponse_ErrorCode), 0);
    assert_int_equal(
        k_int(k_item(lv->resp, LeaveGroupResponse_Members, 0), MemberResponse_ErrorCode), 0);
    assert_int_equal(
        k_int(k_item(lv->resp, LeaveGroupResponse_Members, 1), MemberResponse_ErrorCode),
        KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(G("g")->state, GS_PREPARING);
    /* the last member leaves (v1): the group becomes Empty, generation bumps */
    breq *lv1 = mk(API_LeaveGroup, 1);
    k_set_str(lv1->req, LeaveGroupRequest_GroupId, "g");
    k_set_str(lv1->req, LeaveGroupRequest_MemberId, m1);
    call(lv1);
    assert_int_equal(k_int(lv1->resp, LeaveGroupResponse_ErrorCode), 0);
    assert_int_equal(G("g")->state, GS_EMPTY);
    assert_int_equal(G("g")->generation, 3);
    /* now deletable; offsets go with it */
    breq *d2 = mk(API_DeleteGroups, 2);
    v = k_set_array(d2->req, DeleteGroupsRequest_GroupsNames, 1);
    v[0].s = (kstr){(const uint8_t *)"g", 1};
    call(d2);
    assert_true(d2->finished);
    assert_int_equal(
        k_int(k_item(d2->resp, DeleteGroupsResponse_Results, 0), DeletableGroupResult_ErrorCode),
        0);
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
    assert_int_equal(commit1(2, "simple", -1, "", "t", 2, 7, ""), KERR_UNKNOWN_TOPIC_OR_PARTITION);
    char big[5000];
    memset(big, 'x', 4097);
    big[4097] = 0;
    assert_int_equal(commit1(2, "simple", -1, "", "t", 0, 8, big), KERR_OFFSET_METADATA_TOO_LARGE);
    assert_int_equal(fetch1(1, "simple", "t", 0, NULL), 7);
    assert_int_equal(commit1(2, "nogroup", 3, "x", "t", 0, 7, ""), KERR_ILLEGAL_GENERATION);
    assert_int_equal(fetch1(1, "unknown-group", "t", 0, NULL), -1);
    /* OffsetFetch with null topics lists everything committed */
    breq *r = mk(API_OffsetFetch, 5);
    k_set_str(r->req, OffsetFetchRequest_GroupId, "simple");
    k_set_null(r->req, OffsetFetchRequest_Topics);
    call(r);
    assert_int_equal(k_count(r->resp, OffsetFetchResponse_Topics), 1);
    assert_int_equal(k_count(k_item(r->resp, OffsetFetchResponse_Topics, 0),
                             OffsetFetchResponseTopic_Partitions),
                     1);
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
    m2 = str(p, p->resp, JoinGroupResponse_MemberId);
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
    assert_int_equal(k_int(j->resp, JoinGroupResponse_GenerationId), 3);
    assert_int_equal(k_count(j->resp, JoinGroupResponse_Members), 1);
    /* a parked JoinGroup is never expired by the session timeout */
    breq *p3 = join(5, "e", "", NULL, 100, "range");
    char *m3 = str(p3, p3->resp, JoinGroupResponse_MemberId);
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
    assert_int_equal(k_int(j->resp, JoinGroupResponse_ErrorCode), 0);
    char *old = str(j, j->resp, JoinGroupResponse_MemberId);
    assert_true(strncmp(old, "inst-1-", 7) == 0);
    const char *ids[] = {old};
    sync_req("s", 1, old, 1, ids);
    assert_int_equal(G("s")->state, GS_STABLE);
    /* the instance restarts: new member id, same generation, old id fenced */
    breq *j2 = join(5, "s", "", "inst-1", 10000, "range");
    assert_true(j2->finished);
    char *nid = str(j2, j2->resp, JoinGroupResponse_MemberId);
    assert_string_not_equal(nid, old);
    assert_int_equal(k_int(j2->resp, JoinGroupResponse_GenerationId), 1);
    assert_int_equal(G("s")->state, GS_STABLE);
    assert_int_equal(heartbeat(3, "s", 1, old, "inst-1"), KERR_FENCED_INSTANCE_ID);
    assert_int_equal(heartbeat(3, "s", 1, nid, "inst-1"), 0);
}

static void test_find_coordinator(void **st)
{
    (void)st;
    breq *r = mk(API_FindCoordinator, 2);
    k_set_str(r->req, FindCoordinatorRequest_Key, "g");
    k_set_int(r->req, FindCoordinatorRequest_KeyType, 0);
    call(r);
    assert_int_equal(k_int(r->resp, FindCoordinatorResponse_ErrorCode), 0);
    assert_int_equal(k_int(r->resp, FindCoordinatorResponse_NodeId), 1);
    assert_int_equal(k_int(r->resp, FindCoordinatorResponse_Port), 9092);
    breq *r4 = mk(API_FindCoordinator, 4);
    kval *v = k_set_array(r4->req, FindCoordinatorRequest_CoordinatorKeys, 2);
    v[0].s = (kstr){(const uint8_t *)"a", 1};
    v[1].s = (kstr){(const uint8_t *)"b", 1};
    call(r4);
    assert_int_equal(k_count(r4->resp, FindCoordinatorResponse_Coordinators), 2);
    assert_string_equal(
        str(r4, k_item(r4->resp, FindCoordinatorResponse_Coordinators, 1), Coordinator_Key), "b");
    assert_string_equal(
        str(r4, k_item(r4->resp, FindCoordinatorResponse_Coordinators, 1), Coordinator_Host),
        "127.0.0.1");
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
