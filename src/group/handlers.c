/* handlers — the Kafka APIs of the group coordinator: decode the request tree, run the
 * state machine (coord.c) or the offsets store (store.c), fill the response tree.
 *
 *   FindCoordinator v0–v6   JoinGroup v0–v9   SyncGroup v0–v5   Heartbeat v0–v4
 *   LeaveGroup v0–v5        ListGroups v0–v5  DescribeGroups v0–v6  DeleteGroups v0–v2
 *   OffsetCommit v0–v10     OffsetFetch v0–v10 OffsetDelete v0  TxnOffsetCommit v0–v4
 * (FindCoordinator v5 and TxnOffsetCommit v4 only allow TRANSACTION_ABORTABLE, never answered
 * here; FindCoordinator v6's share-group key type 2 is INVALID_REQUEST, as in a Kafka without
 * share groups.)
 *
 * Validation order and error codes follow Kafka's classic GroupCoordinator (see
 * docs: shared/kafka-protocol.md §5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "broker/authorize.h"
#include "common/log.h"
#include "common/util.h"
#include "group/group_int.h"

#define AUTH_OPS_NONE ((int64_t)INT32_MIN)

/* NUL-terminated copy of a request string in the request arena; NULL when null. */
static char *kdup(breq *r, kstr s)
{
    if (s.len < 0) return NULL;
    char *d = karena_alloc(r->arena, (size_t)s.len + 1);
    if (s.len) memcpy(d, s.p, (size_t)s.len);
    d[s.len] = 0;
    return d;
}

static char *kdup_empty(breq *r, kstr s)
{
    char *d = kdup(r, s);
    return d ? d : karena_strdup(r->arena, "");
}

static bool kstr_is(kstr s, const char *c)
{
    size_t n = strlen(c);
    return s.len >= 0 && (size_t)s.len == n && !memcmp(s.p, c, n);
}

static int check_gid(kstr s)
{
    if (s.len < 0) return KERR_INVALID_GROUP_ID;
    return g_valid_id((const char *)s.p, (size_t)s.len);
}

/* ------------------------------------------------------------------ FindCoordinator ---- */

/* The coordinator's address (this broker; -1/"" after an error): at the top of the response up
 * to v3, per key from v4 on, under the same names. */
static void fill_coord(broker *b, const breq *r, kmsg *m, int err, kfid node_id, kfid host,
                       kfid port)
{
    const char *adv_host; /* the listener the client came in on */
    int adv_port;
    breq_advertised(r, &adv_host, &adv_port);
    k_set_int(m, node_id, err ? -1 : b->node_id);
    k_set_str(m, host, err ? "" : adv_host);
    k_set_int(m, port, err ? -1 : adv_port);
}

/* May the request's principal perform op on group gid (ACLs, broker/authorize.h)? */
static bool group_allowed(breq *r, kstr gid, int op)
{
    return bauthz_allowed_k(r->b, r, ACL_RES_GROUP, gid.p, gid.len, op);
}

/* The checks a request on group gid starts with: a coordinator, a valid id, op allowed on it
 * (KERR_NONE or the error to answer). */
static int group_gate(const group_coord *gc, breq *r, kstr gid, int op)
{
    if (!gc) return KERR_COORDINATOR_NOT_AVAILABLE;
    if (check_gid(gid)) return KERR_INVALID_GROUP_ID;
    return group_allowed(r, gid, op) ? KERR_NONE : KERR_GROUP_AUTHORIZATION_FAILED;
}

/* FindCoordinator: Describe on the group (30) or the transactional id (53). */
static int coord_denied(breq *r, int8_t kt, kstr key)
{
    if (kt == 1)
        return bauthz_allowed_k(r->b, r, ACL_RES_TRANSACTIONAL_ID, key.p, key.len, ACL_OP_DESCRIBE)
                   ? 0
                   : KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    return group_allowed(r, key, ACL_OP_DESCRIBE) ? 0 : KERR_GROUP_AUTHORIZATION_FAILED;
}

static void h_find_coordinator(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    int8_t kt = (int8_t)(v >= 1 ? k_int(q, FindCoordinatorRequest_KeyType) : 0);
    int err = (kt == 0 || kt == 1) ? KERR_NONE : KERR_INVALID_REQUEST;
    if (!b->groups) err = KERR_COORDINATOR_NOT_AVAILABLE;
    if (v >= 4) {
        int32_t n = k_new_like(resp, FindCoordinatorResponse_Coordinators, q,
                               FindCoordinatorRequest_CoordinatorKeys);
        for (int32_t i = 0; i < n; i++) {
            kmsg *it = k_item(resp, FindCoordinatorResponse_Coordinators, i);
            kstr key = k_item_str(q, FindCoordinatorRequest_CoordinatorKeys, i);
            k_set_str(it, Coordinator_Key, kdup_empty(r, key));
            int kerr = err ? err : coord_denied(r, kt, key);
            k_set_int(it, Coordinator_ErrorCode, kerr);
            k_set_str(it, Coordinator_ErrorMessage, NULL);
            fill_coord(b, r, it, kerr, Coordinator_NodeId, Coordinator_Host, Coordinator_Port);
        }
    } else {
        if (!err) err = coord_denied(r, kt, k_str(q, FindCoordinatorRequest_Key));
        k_set_int(resp, FindCoordinatorResponse_ErrorCode, err);
        k_set_str(resp, FindCoordinatorResponse_ErrorMessage, NULL);
        fill_coord(b, r, resp, err, FindCoordinatorResponse_NodeId, FindCoordinatorResponse_Host,
                   FindCoordinatorResponse_Port);
    }
    breq_done(r);
}

/* ------------------------------------------------------------------ JoinGroup ---- */

static void join_fail(breq *r, int err, const char *member_id)
{
    g_fill_join_resp(NULL, NULL, r, err);
    k_set_str(r->resp, JoinGroupResponse_MemberId, member_id ? member_id : "");
    breq_done(r);
}

/* Protocols of the request equal the member's (same names, order and metadata)? */
static bool same_protocols(const gmember *m, const kmsg *q)
{
    int32_t n = k_count(q, JoinGroupRequest_Protocols);
    if (n != m->nprotos) return false;
    for (int32_t i = 0; i < n; i++) {
        kmsg *p = k_item(q, JoinGroupRequest_Protocols, i);
        kstr name = k_str(p, JoinGroupRequestProtocol_Name),
             meta = k_str(p, JoinGroupRequestProtocol_Metadata);
        if (!kstr_is(name, m->protos[i].name)) return false;
        int32_t ml = meta.len < 0 ? 0 : meta.len;
        if (ml != m->protos[i].len) return false;
        if (ml && memcmp(meta.p, m->protos[i].meta, (size_t)ml)) return false;
    }
    return true;
}

static void member_update(gmember *m, breq *r, int32_t session, int32_t rebalance)
{
    const kmsg *q = r->req;
    for (int i = 0; i < m->nprotos; i++) {
        free(m->protos[i].name);
        free(m->protos[i].meta);
    }
    free(m->protos);
    int32_t n = k_count(q, JoinGroupRequest_Protocols);
    if (n < 0) n = 0;
    m->protos = xcalloc((size_t)(n ? n : 1), sizeof *m->protos);
    m->nprotos = n;
    for (int32_t i = 0; i < n; i++) {
        kmsg *p = k_item(q, JoinGroupRequest_Protocols, i);
        kstr name = k_str(p, JoinGroupRequestProtocol_Name),
             meta = k_str(p, JoinGroupRequestProtocol_Metadata);
        m->protos[i].name =
            xstrndup(name.len > 0 ? (const char *)name.p : "", name.len > 0 ? (size_t)name.len : 0);
        m->protos[i].len = meta.len > 0 ? meta.len : 0;
        m->protos[i].meta = xmalloc((size_t)m->protos[i].len + 1);
        if (m->protos[i].len) memcpy(m->protos[i].meta, meta.p, (size_t)m->protos[i].len);
    }
    m->session_ms = session;
    m->rebalance_ms = rebalance;
    free(m->client_id);
    m->client_id = xstrdup(breq_client_id(r));
    free(m->client_host);
    m->client_host = xstrdup(breq_client_host(r));
}

static void park_join(gmember *m, breq *r)
{
    if (m->join_req && m->join_req != r) {
        /* a second JoinGroup while one is parked: the older one is superseded */
        breq *old = m->join_req;
        g_fill_join_resp(NULL, NULL, old, KERR_REBALANCE_IN_PROGRESS);
        k_set_str(old->resp, JoinGroupResponse_MemberId, m->id);
        breq_done(old);
    }
    m->join_req = r;
    m->join_version = r->hdr.api_version;
}

static void extend_initial_delay(group_coord *gc, group *g)
{
    if (g->state == GS_PREPARING && g->initial_until) {
        int64_t now = loop_now_ms(gc->b->loop);
        g->initial_until = MIN(now + gc->b->cfg.group_initial_rebalance_delay_ms, g->initial_limit);
    }
}

static void reply_current(group *g, gmember *m, breq *r)
{
    g_fill_join_resp(g, m, r, KERR_NONE);
    breq_done(r);
}

/* A new member joins g (whose protocol type it sets when g is empty): its JoinGroup waits for
 * the rebalance this starts. */
static void admit_member(group_coord *gc, group *g, breq *r, const char *id, const char *instance,
                         const char *ptype, int32_t session, int32_t rebalance)
{
    if (g->nmembers == 0) {
        free(g->protocol_type);
        g->protocol_type = xstrdup(ptype);
    }
    gmember *m = g_add_member(g, id);
    if (instance) m->instance_id = xstrdup(instance);
    member_update(m, r, session, rebalance);
    park_join(m, r);
    extend_initial_delay(gc, g);
    g_prepare_rebalance(gc, g, "new member joined");
}

static void h_join_group(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req;
    int16_t v = r->hdr.api_version;
    kstr gid = k_str(q, JoinGroupRequest_GroupId);
    char *member_id = kdup_empty(r, k_str(q, JoinGroupRequest_MemberId));
    char *instance = v >= 5 ? kdup(r, k_str(q, JoinGroupRequest_GroupInstanceId)) : NULL;
    int32_t session = (int32_t)k_int(q, JoinGroupRequest_SessionTimeoutMs);
    int32_t rebalance = v >= 1 ? (int32_t)k_int(q, JoinGroupRequest_RebalanceTimeoutMs) : session;
    char *ptype = kdup_empty(r, k_str(q, JoinGroupRequest_ProtocolType));
    int32_t nprotos = k_count(q, JoinGroupRequest_Protocols);
    if (rebalance <= 0) rebalance = session;

    int gate = group_gate(gc, r, gid, ACL_OP_READ);
    if (gate) return join_fail(r, gate, member_id);
    kstr inst = v >= 5 ? k_str(q, JoinGroupRequest_GroupInstanceId) : (kstr){NULL, -1};
    if (inst.len > 0 && has_ctl_chars(inst.p, (size_t)inst.len))
        return join_fail(r, KERR_INVALID_GROUP_ID, member_id);
    if (session < b->cfg.group_min_session_timeout_ms ||
        session > b->cfg.group_max_session_timeout_ms)
        return join_fail(r, KERR_INVALID_SESSION_TIMEOUT, member_id);
    char *gid_s = kdup(r, gid);
    group *g = gc_find(gc, gid_s);
    bool unknown = !member_id[0];
    if (!g && !unknown) return join_fail(r, KERR_UNKNOWN_MEMBER_ID, member_id);
    if (!ptype[0] || nprotos <= 0) return join_fail(r, KERR_INCONSISTENT_GROUP_PROTOCOL, member_id);
    if (g && g->nmembers > 0) {
        bool ok = !strcmp(g->protocol_type, ptype);
        if (ok) {
            ok = false;
            for (int32_t i = 0; i < nprotos && !ok; i++) {
                kstr name =
                    k_str(k_item(q, JoinGroupRequest_Protocols, i), JoinGroupRequestProtocol_Name);
                bool all = true;
                for (gmember *m = g->members; m && all; m = m->next) {
                    if (!unknown && !strcmp(m->id, member_id)) continue; /* replaced below */
                    bool has = false;
                    for (int j = 0; j < m->nprotos && !has; j++)
                        has = kstr_is(name, m->protos[j].name);
                    all = has;
                }
                ok = all;
            }
        }
        if (!ok) return join_fail(r, KERR_INCONSISTENT_GROUP_PROTOCOL, member_id);
    }
    if (!g) g = gc_create(gc, gid_s);
    int64_t now = loop_now_ms(b->loop);

    if (unknown) {
        int npend = 0;
        for (gpending *p = g->pending; p; p = p->next) npend++;
        gmember *old = instance ? g_member_by_instance(g, instance) : NULL;
        if (!old && g->nmembers + npend >= b->cfg.group_max_size)
            return join_fail(r, KERR_GROUP_MAX_SIZE_REACHED, member_id);
        char uuid[37];
        uuid_v4_str(uuid);
        const char *cid = breq_client_id(r);
        char *new_id = xasprintf("%s-%s", instance ? instance : cid, uuid);
        if (old) {
            /* static member coming back with a new member id: the old id is fenced */
            bool same = same_protocols(old, q);
            if (old->join_req) {
                breq *oj = old->join_req;
                old->join_req = NULL;
                join_fail(oj, KERR_FENCED_INSTANCE_ID, old->id);
            }
            g_answer_sync(g, old, KERR_FENCED_INSTANCE_ID);
            if (g->leader && !strcmp(g->leader, old->id)) {
                free(g->leader);
                g->leader = xstrdup(new_id);
            }
            LOGI("group", "group %s: static member %s replaced %s by %s", g->id, instance, old->id,
                 new_id);
            free(old->id);
            old->id = new_id;
            member_update(old, r, session, rebalance);
            old->deadline_ms = now + session;
            if (g->state == GS_STABLE && same) return reply_current(g, old, r);
            park_join(old, r);
            g_prepare_rebalance(gc, g, "static member rejoined");
            return;
        }
        if (!instance && v >= 4) {
            g_add_pending(g, new_id, now + session);
            join_fail(r, KERR_MEMBER_ID_REQUIRED, new_id);
            free(new_id);
            return;
        }
        admit_member(gc, g, r, new_id, instance, ptype, session, rebalance);
        free(new_id);
        return;
    }

    if (g_is_pending(g, member_id)) {
        g_remove_pending(g, member_id);
        return admit_member(gc, g, r, member_id, instance, ptype, session, rebalance);
    }
    gmember *m = g_member(g, member_id);
    if (instance) {
        gmember *im = g_member_by_instance(g, instance);
        if (im && im != m) return join_fail(r, KERR_FENCED_INSTANCE_ID, member_id);
    }
    if (!m) return join_fail(r, KERR_UNKNOWN_MEMBER_ID, member_id);
    bool same = same_protocols(m, q);
    bool is_leader = g->leader && !strcmp(g->leader, m->id);
    switch (g->state) {
    case GS_PREPARING:
        member_update(m, r, session, rebalance);
        park_join(m, r);
        g_try_complete_join(gc, g);
        return;
    case GS_COMPLETING:
        if (same) return reply_current(g, m, r);
        member_update(m, r, session, rebalance);
        park_join(m, r);
        g_prepare_rebalance(gc, g, "member changed its protocols");
        return;
    case GS_STABLE:
        if (same && !is_leader) {
            m->deadline_ms = now + m->session_ms;
            return reply_current(g, m, r);
        }
        member_update(m, r, session, rebalance);
        park_join(m, r);
        g_prepare_rebalance(gc, g, is_leader ? "leader rejoined" : "member changed protocols");
        return;
    case GS_EMPTY:
    default: return join_fail(r, KERR_UNKNOWN_MEMBER_ID, member_id);
    }
}

/* ------------------------------------------------------------------ SyncGroup ---- */

static void sync_fail(breq *r, int err)
{
    k_set_int(r->resp, SyncGroupResponse_ErrorCode, err);
    k_set_str(r->resp, SyncGroupResponse_ProtocolType, NULL);
    k_set_str(r->resp, SyncGroupResponse_ProtocolName, NULL);
    k_set_bytes(r->resp, SyncGroupResponse_Assignment, "", 0);
    breq_done(r);
}

/* Common member validation for Sync/Heartbeat/Commit: returns 0 and the member, or an error. */
static int check_member(group *g, const char *member_id, const char *instance, gmember **out)
{
    *out = NULL;
    gmember *m = g_member(g, member_id);
    if (instance) {
        gmember *im = g_member_by_instance(g, instance);
        if (im && im != m) return KERR_FENCED_INSTANCE_ID;
    }
    if (!m) return KERR_UNKNOWN_MEMBER_ID;
    if (m->instance_id && instance && strcmp(m->instance_id, instance))
        return KERR_FENCED_INSTANCE_ID;
    *out = m;
    return 0;
}

static void h_sync_group(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req;
    int16_t v = r->hdr.api_version;
    kstr gid = k_str(q, SyncGroupRequest_GroupId);
    int gate = group_gate(gc, r, gid, ACL_OP_READ);
    if (gate) return sync_fail(r, gate);
    group *g = gc_find(gc, kdup(r, gid));
    if (!g) return sync_fail(r, KERR_UNKNOWN_MEMBER_ID);
    char *member_id = kdup_empty(r, k_str(q, SyncGroupRequest_MemberId));
    char *instance = v >= 3 ? kdup(r, k_str(q, SyncGroupRequest_GroupInstanceId)) : NULL;
    gmember *m;
    int err = check_member(g, member_id, instance, &m);
    if (err) return sync_fail(r, err);
    if ((int32_t)k_int(q, SyncGroupRequest_GenerationId) != g->generation)
        return sync_fail(r, KERR_ILLEGAL_GENERATION);
    if (v >= 5) {
        kstr pt = k_str(q, SyncGroupRequest_ProtocolType),
             pn = k_str(q, SyncGroupRequest_ProtocolName);
        if ((pt.len >= 0 && !kstr_is(pt, g->protocol_type ? g->protocol_type : "")) ||
            (pn.len >= 0 && !kstr_is(pn, g->protocol ? g->protocol : "")))
            return sync_fail(r, KERR_INCONSISTENT_GROUP_PROTOCOL);
    }
    int64_t now = loop_now_ms(b->loop);
    switch (g->state) {
    case GS_EMPTY: return sync_fail(r, KERR_UNKNOWN_MEMBER_ID);
    case GS_PREPARING: return sync_fail(r, KERR_REBALANCE_IN_PROGRESS);
    case GS_STABLE:
        m->deadline_ms = now + m->session_ms;
        m->sync_req = r;
        g_answer_sync(g, m, KERR_NONE);
        return;
    case GS_COMPLETING: break;
    }
    if (m->sync_req) g_answer_sync(g, m, KERR_REBALANCE_IN_PROGRESS);
    m->sync_req = r;
    m->deadline_ms = now + m->session_ms;
    if (!g->leader || strcmp(g->leader, m->id)) return; /* follower: wait for the leader */
    int32_t n = k_count(q, SyncGroupRequest_Assignments);
    for (int32_t i = 0; i < n; i++) {
        kmsg *a = k_item(q, SyncGroupRequest_Assignments, i);
        char *id = kdup_empty(r, k_str(a, SyncGroupRequestAssignment_MemberId));
        gmember *x = g_member(g, id);
        if (!x) continue;
        kstr as = k_str(a, SyncGroupRequestAssignment_Assignment);
        free(x->assign);
        x->assign_len = as.len > 0 ? as.len : 0;
        x->assign = xmalloc((size_t)x->assign_len + 1);
        if (x->assign_len) memcpy(x->assign, as.p, (size_t)x->assign_len);
    }
    g_set_state(g, GS_STABLE);
    g_persist(gc, g);
    LOGD("group", "group %s: generation %d is stable", g->id, g->generation);
    for (gmember *x = g->members; x; x = x->next) {
        x->deadline_ms = now + x->session_ms;
        g_answer_sync(g, x, KERR_NONE);
    }
}

/* ------------------------------------------------------------------ Heartbeat ---- */

static void h_heartbeat(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req;
    int16_t v = r->hdr.api_version;
    kstr gid = k_str(q, HeartbeatRequest_GroupId);
    int err = group_gate(gc, r, gid, ACL_OP_READ);
    group *g = err ? NULL : gc_find(gc, kdup(r, gid));
    gmember *m = NULL;
    if (!err && !g) err = KERR_UNKNOWN_MEMBER_ID;
    if (!err) {
        char *instance = v >= 3 ? kdup(r, k_str(q, HeartbeatRequest_GroupInstanceId)) : NULL;
        err = check_member(g, kdup_empty(r, k_str(q, HeartbeatRequest_MemberId)), instance, &m);
        if (!err && (int32_t)k_int(q, HeartbeatRequest_GenerationId) != g->generation)
            err = KERR_ILLEGAL_GENERATION;
        if (!err) {
            switch (g->state) {
            case GS_EMPTY: err = KERR_UNKNOWN_MEMBER_ID; break;
            case GS_PREPARING: err = KERR_REBALANCE_IN_PROGRESS; break;
            default: break;
            }
            if (g->state != GS_EMPTY) m->deadline_ms = loop_now_ms(b->loop) + m->session_ms;
        }
    }
    k_set_int(r->resp, HeartbeatResponse_ErrorCode, err);
    breq_done(r);
}

/* ------------------------------------------------------------------ LeaveGroup ---- */

static int leave_one(group_coord *gc, group *g, const char *member_id, const char *instance)
{
    if (!g) return KERR_UNKNOWN_MEMBER_ID;
    gmember *m = NULL;
    if (instance) {
        m = g_member_by_instance(g, instance);
        if (!m) return KERR_UNKNOWN_MEMBER_ID;
        if (member_id[0] && strcmp(m->id, member_id)) return KERR_FENCED_INSTANCE_ID;
    } else {
        if (g_is_pending(g, member_id)) {
            g_remove_pending(g, member_id);
            g_try_complete_join(gc, g);
            return KERR_NONE;
        }
        m = g_member(g, member_id);
        if (!m) return KERR_UNKNOWN_MEMBER_ID;
    }
    g_remove_member(gc, g, m, KERR_UNKNOWN_MEMBER_ID, "left the group");
    return KERR_NONE;
}

static void h_leave_group(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    kstr gid = k_str(q, LeaveGroupRequest_GroupId);
    int top = group_gate(gc, r, gid, ACL_OP_READ);
    group *g = top ? NULL : gc_find(gc, kdup(r, gid));
    if (v < 3) {
        if (!top) top = leave_one(gc, g, kdup_empty(r, k_str(q, LeaveGroupRequest_MemberId)), NULL);
        k_set_int(resp, LeaveGroupResponse_ErrorCode, top);
        breq_done(r);
        return;
    }
    int32_t n = k_count(q, LeaveGroupRequest_Members);
    if (n < 0) n = 0;
    k_set_int(resp, LeaveGroupResponse_ErrorCode, top);
    if (top) {
        k_new_items(resp, LeaveGroupResponse_Members, 0);
        breq_done(r);
        return;
    }
    k_new_items(resp, LeaveGroupResponse_Members, n);
    for (int32_t i = 0; i < n; i++) {
        kmsg *mi = k_item(q, LeaveGroupRequest_Members, i),
             *mo = k_item(resp, LeaveGroupResponse_Members, i);
        char *id = kdup_empty(r, k_str(mi, MemberIdentity_MemberId));
        char *inst = kdup(r, k_str(mi, MemberIdentity_GroupInstanceId));
        k_set_str(mo, MemberResponse_MemberId, id);
        k_set_str(mo, MemberResponse_GroupInstanceId, inst);
        if (g && !gc_find(gc, g->id)) g = NULL;
        k_set_int(mo, MemberResponse_ErrorCode, leave_one(gc, g, id, inst));
    }
    breq_done(r);
}

/* ------------------------------------------------------------------ ListGroups ---- */

static void h_list_groups(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    k_set_int(resp, ListGroupsResponse_ErrorCode, gc ? KERR_NONE : KERR_COORDINATOR_NOT_AVAILABLE);
    int32_t nf = v >= 4 ? k_count(q, ListGroupsRequest_StatesFilter) : 0;
    /* v5 (KIP-848): every group here is a "classic" one; a types filter without it lists none */
    int32_t ntf = v >= 5 ? k_count(q, ListGroupsRequest_TypesFilter) : 0;
    bool classic = ntf <= 0;
    for (int32_t j = 0; j < ntf && !classic; j++) {
        kstr s = k_item_str(q, ListGroupsRequest_TypesFilter, j);
        classic = s.len == 7 && !strncasecmp((const char *)s.p, "classic", 7);
    }
    bool cluster_ok = bauthz_allowed(b, r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_DESCRIBE);
    int n = 0;
    group **sel = karena_alloc(r->arena, sizeof(group *) * (size_t)(gc ? gc->ngroups + 1 : 1));
    for (int i = 0; gc && classic && i < gc->ngroups; i++) {
        group *g = gc->groups[i];
        bool ok = nf <= 0;
        for (int32_t j = 0; j < nf && !ok; j++) {
            kstr s = k_item_str(q, ListGroupsRequest_StatesFilter, j);
            const char *st = g_state_name(g->state);
            ok = s.len >= 0 && (size_t)s.len == strlen(st) &&
                 !strncasecmp((const char *)s.p, st, (size_t)s.len);
        }
        if (ok && !cluster_ok) ok = bauthz_allowed(b, r, ACL_RES_GROUP, g->id, ACL_OP_DESCRIBE);
        if (ok) sel[n++] = g;
    }
    k_new_items(resp, ListGroupsResponse_Groups, n);
    for (int i = 0; i < n; i++) {
        kmsg *it = k_item(resp, ListGroupsResponse_Groups, i);
        k_set_str(it, ListedGroup_GroupId, sel[i]->id);
        k_set_str(it, ListedGroup_ProtocolType, sel[i]->protocol_type ? sel[i]->protocol_type : "");
        k_set_str(it, ListedGroup_GroupState, g_state_name(sel[i]->state));
        k_set_str(it, ListedGroup_GroupType, "classic");
    }
    breq_done(r);
}

/* ------------------------------------------------------------------ DescribeGroups ---- */

static void h_describe_groups(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req, *resp = r->resp;
    bool ops =
        k_bool(q, DescribeGroupsRequest_IncludeAuthorizedOperations) && r->hdr.api_version >= 3;
    int32_t n = k_new_like(resp, DescribeGroupsResponse_Groups, q, DescribeGroupsRequest_Groups);
    for (int32_t i = 0; i < n; i++) {
        kmsg *it = k_item(resp, DescribeGroupsResponse_Groups, i);
        kstr gid = k_item_str(q, DescribeGroupsRequest_Groups, i);
        k_set_str(it, DescribedGroup_GroupId, kdup_empty(r, gid));
        k_set_int(it, DescribedGroup_AuthorizedOperations,
                  ops ? bauthz_operations(b, r, ACL_RES_GROUP, kdup_empty(r, gid)) : AUTH_OPS_NONE);
        k_set_str(it, DescribedGroup_ProtocolType, "");
        k_set_str(it, DescribedGroup_ProtocolData, "");
        group *g = NULL;
        int err = group_gate(gc, r, gid, ACL_OP_DESCRIBE);
        if (!err) g = gc_find(gc, kdup(r, gid));
        if (g) g_check_due(gc, g);
        k_set_int(it, DescribedGroup_ErrorCode, err);
        if (!g && !err && r->hdr.api_version >= 6) {
            /* v6 (KIP-1043): an unknown group is GROUP_ID_NOT_FOUND, as Kafka 4 answers */
            k_set_int(it, DescribedGroup_ErrorCode, KERR_GROUP_ID_NOT_FOUND);
            size_t mlen = (size_t)(gid.len > 0 ? gid.len : 0) + 24;
            char *msg = karena_alloc(r->arena, mlen);
            snprintf(msg, mlen, "Group %.*s not found.", gid.len > 0 ? (int)gid.len : 0,
                     gid.len > 0 ? (const char *)gid.p : "");
            k_set_str(it, DescribedGroup_ErrorMessage, msg);
        }
        if (!g) {
            k_set_str(it, DescribedGroup_GroupState, err ? "" : "Dead");
            k_new_items(it, DescribedGroup_Members, 0);
            continue;
        }
        bool stable = g->state == GS_STABLE;
        k_set_str(it, DescribedGroup_GroupState, g_state_name(g->state));
        k_set_str(it, DescribedGroup_ProtocolType, g->protocol_type ? g->protocol_type : "");
        k_set_str(it, DescribedGroup_ProtocolData, stable && g->protocol ? g->protocol : "");
        g_member_rows(g, stable, it, DescribedGroup_Members, DescribedGroupMember_MemberId,
                      DescribedGroupMember_GroupInstanceId, DescribedGroupMember_MemberMetadata);
        int j = 0;
        for (gmember *m = g->members; m; m = m->next, j++) {
            kmsg *mo = k_item(it, DescribedGroup_Members, j);
            k_set_str(mo, DescribedGroupMember_ClientId, m->client_id ? m->client_id : "");
            k_set_str(mo, DescribedGroupMember_ClientHost, m->client_host ? m->client_host : "");
            k_set_bytes(mo, DescribedGroupMember_MemberAssignment,
                        stable && m->assign ? (const void *)m->assign : "",
                        stable && m->assign ? m->assign_len : 0);
        }
    }
    breq_done(r);
}

/* ------------------------------------------------------------------ DeleteGroups ---- */

static void h_delete_groups(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req, *resp = r->resp;
    int32_t n = k_new_like(resp, DeleteGroupsResponse_Results, q, DeleteGroupsRequest_GroupsNames);
    grecs *rs = grecs_new();
    for (int32_t i = 0; i < n; i++) {
        kmsg *it = k_item(resp, DeleteGroupsResponse_Results, i);
        kstr gid = k_item_str(q, DeleteGroupsRequest_GroupsNames, i);
        k_set_str(it, DeletableGroupResult_GroupId, kdup_empty(r, gid));
        int err = group_gate(gc, r, gid, ACL_OP_DELETE);
        group *g = err ? NULL : gc_find(gc, kdup(r, gid));
        if (!err && !g) err = KERR_GROUP_ID_NOT_FOUND;
        if (!err) g_check_due(gc, g); /* a member whose session just ended is gone */
        if (!err && (g->state != GS_EMPTY || g->nmembers > 0)) err = KERR_NON_EMPTY_GROUP;
        if (!err) {
            for (int j = 0; j < g->noffs; j++)
                grecs_offset(rs, g->id, g->offs[j].topic, g->offs[j].partition, NULL);
            grecs_group(rs, g, true);
            LOGI("group", "group %s deleted (%d offsets)", g->id, g->noffs);
            gc_remove(gc, g);
        }
        k_set_int(it, DeletableGroupResult_ErrorCode, err);
    }
    if (!gc) {
        grecs_free(rs);
        breq_done(r);
        return;
    }
    grecs_append_and_reply(gc, rs, r, NULL);
    grecs_free(rs);
}

/* ------------------------------------------------------------------ OffsetCommit ---- */

/* The fields an offset commit reads and writes: OffsetCommit and TxnOffsetCommit name them
 * alike but number them apart (their request partitions differ, and OffsetCommit's topics carry
 * a TopicId since v10); their response bodies and response partitions share one shape, so
 * OffsetCommitResponse_Topics and OffsetCommitResponsePartition_* serve both. */
typedef struct commit_req {
    kfid topics, tname, tparts, index, offset, epoch, meta; /* request */
    kfid rtname, rtparts;                                   /* response topic */
    int16_t epoch_since; /* first version that carries CommittedLeaderEpoch */
    int16_t id_since;    /* first version naming topics by TopicId (0: none) */
    bool txn;            /* TxnOffsetCommit: no topic Read check, nothing kept in memory */
} commit_req;

_Static_assert((int)TxnOffsetCommitResponse_Topics == (int)OffsetCommitResponse_Topics &&
                   (int)TxnOffsetCommitResponsePartition_ErrorCode ==
                       (int)OffsetCommitResponsePartition_ErrorCode,
               "OffsetCommit and TxnOffsetCommit share their response shapes");

static const commit_req k_commit = {
    OffsetCommitRequest_Topics,
    OffsetCommitRequestTopic_Name,
    OffsetCommitRequestTopic_Partitions,
    OffsetCommitRequestPartition_PartitionIndex,
    OffsetCommitRequestPartition_CommittedOffset,
    OffsetCommitRequestPartition_CommittedLeaderEpoch,
    OffsetCommitRequestPartition_CommittedMetadata,
    OffsetCommitResponseTopic_Name,
    OffsetCommitResponseTopic_Partitions,
    6,
    10,
    false,
};

static const commit_req k_txn_commit = {
    TxnOffsetCommitRequest_Topics,
    TxnOffsetCommitRequestTopic_Name,
    TxnOffsetCommitRequestTopic_Partitions,
    TxnOffsetCommitRequestPartition_PartitionIndex,
    TxnOffsetCommitRequestPartition_CommittedOffset,
    TxnOffsetCommitRequestPartition_CommittedLeaderEpoch,
    TxnOffsetCommitRequestPartition_CommittedMetadata,
    TxnOffsetCommitResponseTopic_Name,
    TxnOffsetCommitResponseTopic_Partitions,
    2,
    0,
    true,
};

/* Answers every partition of the request: err when set (for all of them), else its own check
 * (a known topic id for OffsetCommit v10+ (KIP-848: UNKNOWN_TOPIC_ID), topic Read for
 * OffsetCommit, known partition, metadata size); each accepted offset goes into rs (and, for
 * OffsetCommit, into g's table), under the topic's name. */
static void commit_partitions(broker *b, breq *r, const commit_req *f, int err, group *g, grecs *rs)
{
    kmsg *q = r->req, *resp = r->resp;
    int64_t now_wall = now_wall_ms();
    int32_t nt = k_count(q, f->topics);
    if (nt < 0) nt = 0;
    k_new_items(resp, OffsetCommitResponse_Topics, nt);
    for (int32_t i = 0; i < nt; i++) {
        kmsg *ti = k_item(q, f->topics, i), *to = k_item(resp, OffsetCommitResponse_Topics, i);
        bool by_id = f->id_since && r->hdr.api_version >= f->id_since;
        btopic *t;
        kstr name;
        if (by_id) {
            const uint8_t *id = k_uuid(ti, OffsetCommitRequestTopic_TopicId);
            k_set_uuid(to, OffsetCommitResponseTopic_TopicId, id);
            t = topic_find_id(b, id);
            name = t ? (kstr){(const uint8_t *)t->name, (int32_t)strlen(t->name)}
                     : (kstr){(const uint8_t *)"", 0};
        } else {
            name = k_str(ti, f->tname);
            t = topic_find_k(b, name);
        }
        char *tname = kdup_empty(r, name);
        if (!by_id) k_set_str(to, f->rtname, tname);
        bool unknown_id = by_id && !t;
        bool read_ok = err || unknown_id ||
                       bauthz_allowed_k(b, r, ACL_RES_TOPIC, name.p, name.len, ACL_OP_READ);
        int32_t np = k_new_like(to, f->rtparts, ti, f->tparts);
        for (int32_t j = 0; j < np; j++) {
            kmsg *pi = k_item(ti, f->tparts, j), *po = k_item(to, f->rtparts, j);
            int32_t part = (int32_t)k_int(pi, f->index);
            k_set_int(po, OffsetCommitResponsePartition_PartitionIndex, part);
            kstr meta = k_str(pi, f->meta);
            int perr = err;
            if (!perr && unknown_id)
                perr = KERR_UNKNOWN_TOPIC_ID;
            else if (!perr && !read_ok)
                perr = KERR_TOPIC_AUTHORIZATION_FAILED;
            else if (!perr && (!t || part < 0 || part >= t->nparts))
                perr = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (!perr && meta.len > b->cfg.offset_metadata_max_bytes)
                perr = KERR_OFFSET_METADATA_TOO_LARGE;
            k_set_int(po, OffsetCommitResponsePartition_ErrorCode, perr);
            if (perr) continue;
            goffset txo = {0}, *o = f->txn ? &txo : g_offset_put(g, tname, part);
            o->offset = k_int(pi, f->offset);
            o->leader_epoch =
                r->hdr.api_version >= f->epoch_since ? (int32_t)k_int(pi, f->epoch) : -1;
            /* metadata is kept whole, NUL bytes included (librdkafka's 0099 commits
             * "Hello\0world!" and reads 12 bytes back, as from Kafka) */
            o->metadata_len = meta.len > 0 ? meta.len : 0;
            if (f->txn) {
                o->metadata = kdup_empty(r, meta);
            } else {
                free(o->metadata);
                o->metadata = xmalloc((size_t)o->metadata_len + 1);
                if (o->metadata_len) memcpy(o->metadata, meta.p, (size_t)o->metadata_len);
                o->metadata[o->metadata_len] = 0;
            }
            o->commit_ts = now_wall;
            grecs_offset(rs, g->id, tname, part, o);
        }
    }
}

/* The append failed: every partition that was going to be stored reports err (OffsetCommit
 * and TxnOffsetCommit responses have one shape). */
static void commit_store_err(breq *r, int err)
{
    kmsg *resp = r->resp;
    kfid parts = r->hdr.api_key == API_OffsetCommit ? OffsetCommitResponseTopic_Partitions
                                                    : TxnOffsetCommitResponseTopic_Partitions;
    int32_t nt = k_count(resp, OffsetCommitResponse_Topics);
    for (int32_t i = 0; i < nt; i++) {
        kmsg *to = k_item(resp, OffsetCommitResponse_Topics, i);
        int32_t np = k_count(to, parts);
        for (int32_t j = 0; j < np; j++) {
            kmsg *po = k_item(to, parts, j);
            if (k_int(po, OffsetCommitResponsePartition_ErrorCode) == 0)
                k_set_int(po, OffsetCommitResponsePartition_ErrorCode, err);
        }
    }
}

static void h_offset_commit(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req;
    int16_t v = r->hdr.api_version;
    kstr gid = k_str(q, OffsetCommitRequest_GroupId);
    int32_t gen = v >= 1 ? (int32_t)k_int(q, OffsetCommitRequest_GenerationIdOrMemberEpoch) : -1;
    char *member_id = v >= 1 ? kdup_empty(r, k_str(q, OffsetCommitRequest_MemberId)) : "";
    char *instance = v >= 7 ? kdup(r, k_str(q, OffsetCommitRequest_GroupInstanceId)) : NULL;
    int err = group_gate(gc, r, gid, ACL_OP_READ);
    group *g = NULL;
    if (!err) {
        g = gc_find(gc, kdup(r, gid));
        if (!g) {
            if (gen < 0)
                g = gc_create(gc, kdup(r, gid));
            else
                err = KERR_ILLEGAL_GENERATION;
        } else if (gen < 0 && !member_id[0] && !instance) {
            if (g->state != GS_EMPTY) err = KERR_UNKNOWN_MEMBER_ID;
        } else {
            gmember *m;
            err = check_member(g, member_id, instance, &m);
            if (!err && gen != g->generation) err = KERR_ILLEGAL_GENERATION;
            if (!err && g->state == GS_COMPLETING) err = KERR_REBALANCE_IN_PROGRESS;
            if (!err) m->deadline_ms = loop_now_ms(b->loop) + m->session_ms;
        }
    }
    grecs *rs = grecs_new();
    commit_partitions(b, r, &k_commit, err, g, rs);
    if (err)
        breq_done(r);
    else
        grecs_append_and_reply(gc, rs, r, commit_store_err);
    grecs_free(rs);
}

/* ------------------------------------------------------------------ TxnOffsetCommit ---- */

/* KIP-98/447: a transaction's consumed offsets. Checked like OffsetCommit (group, generation,
 * member; v3+ carries them), written to __consumer_offsets as one transactional batch of the
 * producer, visible to OffsetFetch only once the transaction coordinator writes the commit
 * marker (group_txn_end). An unknown group with a generation is ILLEGAL_GENERATION (offsets
 * never go to a group nobody joined under that generation). */
static void h_txn_offset_commit(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    kstr gid = k_str(q, TxnOffsetCommitRequest_GroupId);
    kstr tid = k_str(q, TxnOffsetCommitRequest_TransactionalId);
    int64_t pid = k_int(q, TxnOffsetCommitRequest_ProducerId);
    int16_t epoch = (int16_t)k_int(q, TxnOffsetCommitRequest_ProducerEpoch);
    int32_t gen = v >= 3 ? (int32_t)k_int(q, TxnOffsetCommitRequest_GenerationId) : -1;
    char *member_id = v >= 3 ? kdup_empty(r, k_str(q, TxnOffsetCommitRequest_MemberId)) : "";
    char *instance = v >= 3 ? kdup(r, k_str(q, TxnOffsetCommitRequest_GroupInstanceId)) : NULL;
    k_set_int(resp, TxnOffsetCommitResponse_ThrottleTimeMs, 0);
    int err = KERR_NONE;
    group *g = NULL;
    if (!gc)
        err = KERR_COORDINATOR_NOT_AVAILABLE;
    else if (check_gid(gid))
        err = KERR_INVALID_GROUP_ID;
    else if (tid.len <= 0 || has_ctl_chars(tid.p, (size_t)tid.len) || pid < 0 || epoch < 0)
        err = KERR_INVALID_REQUEST;
    /* Kafka's order: Write on the TransactionalId, Read on the group, Read on each topic */
    else if (!bauthz_allowed_k(b, r, ACL_RES_TRANSACTIONAL_ID, tid.p, tid.len, ACL_OP_WRITE))
        err = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    else if (!group_allowed(r, gid, ACL_OP_READ))
        err = KERR_GROUP_AUTHORIZATION_FAILED;
    else {
        g = gc_find(gc, kdup(r, gid));
        if (!g) {
            if (gen < 0 && !member_id[0])
                g = gc_create(gc, kdup(r, gid));
            else
                err = KERR_ILLEGAL_GENERATION;
        } else if (gen < 0 && !member_id[0] && !instance) {
            /* pre-KIP-447 clients: no member to check */
        } else {
            gmember *m;
            err = check_member(g, member_id, instance, &m);
            if (!err && gen != g->generation) err = KERR_ILLEGAL_GENERATION;
        }
    }
    grecs *rs = grecs_new();
    commit_partitions(b, r, &k_txn_commit, err, g, rs);
    if (err)
        breq_done(r);
    else
        grecs_append_txn_and_reply(gc, rs, pid, epoch, r, commit_store_err);
    grecs_free(rs);
}

/* ------------------------------------------------------------------ OffsetFetch ---- */

/* OffsetFetch with RequireStable (v7+, KIP-447): set while answering one, so partitions with
 * offsets of a transaction still open are answered UNSTABLE_OFFSET_COMMIT (the client retries
 * until the transaction ends) instead of an offset that may be about to change. */
static group_coord *g_stable_gc;

static void fetch_part(kmsg *po, group *g, const char *topic, int32_t part)
{
    if (g && g_stable_gc && gstore_txn_pending(g_stable_gc, g->id, topic, part)) {
        k_set_int(po, OffsetFetchResponsePartition_PartitionIndex, part);
        k_set_int(po, OffsetFetchResponsePartition_CommittedOffset, -1);
        k_set_int(po, OffsetFetchResponsePartition_CommittedLeaderEpoch, -1);
        k_set_str(po, OffsetFetchResponsePartition_Metadata, "");
        k_set_int(po, OffsetFetchResponsePartition_ErrorCode, KERR_UNSTABLE_OFFSET_COMMIT);
        return;
    }
    goffset *o = g ? g_offset_find(g, topic, part) : NULL;
    k_set_int(po, OffsetFetchResponsePartition_PartitionIndex, part);
    k_set_int(po, OffsetFetchResponsePartition_CommittedOffset, o ? o->offset : -1);
    k_set_int(po, OffsetFetchResponsePartition_CommittedLeaderEpoch, o ? o->leader_epoch : -1);
    if (o && o->metadata)
        k_set_bytes(po, OffsetFetchResponsePartition_Metadata, o->metadata, goffset_meta_len(o));
    else
        k_set_str(po, OffsetFetchResponsePartition_Metadata, "");
    k_set_int(po, OffsetFetchResponsePartition_ErrorCode, KERR_NONE);
}

/* The topic fields of one OffsetFetch layout: v0-v7's OffsetFetch{Request,Response}Topic and
 * v8+'s ...Topics (which carry a TopicId, used instead of the name from v10 on: KIP-848). Their
 * partitions have one shape in both layouts. */
typedef struct fetch_layout {
    kfid in_name, in_id, in_parts, out_name, out_id, out_parts;
    bool by_id;
} fetch_layout;

static const fetch_layout k_fetch_v0 = {OffsetFetchRequestTopic_Name,
                                        0,
                                        OffsetFetchRequestTopic_PartitionIndexes,
                                        OffsetFetchResponseTopic_Name,
                                        0,
                                        OffsetFetchResponseTopic_Partitions,
                                        false};
static const fetch_layout k_fetch_v8 = {OffsetFetchRequestTopics_Name,
                                        OffsetFetchRequestTopics_TopicId,
                                        OffsetFetchRequestTopics_PartitionIndexes,
                                        OffsetFetchResponseTopics_Name,
                                        OffsetFetchResponseTopics_TopicId,
                                        OffsetFetchResponseTopics_Partitions,
                                        false};
static const fetch_layout k_fetch_v10 = {OffsetFetchRequestTopics_Name,
                                         OffsetFetchRequestTopics_TopicId,
                                         OffsetFetchRequestTopics_PartitionIndexes,
                                         OffsetFetchResponseTopics_Name,
                                         OffsetFetchResponseTopics_TopicId,
                                         OffsetFetchResponseTopics_Partitions,
                                         true};

/* Fills dst's topic list (field dst_topics) from src's (src_topics; null = every committed offset
 * of g). Up to v7 both lists are at the top of the messages, from v8 on inside a group (layout
 * L). By id (v10+), a topic id no topic has answers UNKNOWN_TOPIC_ID on each of its partitions,
 * and the listing of every committed offset leaves out topics deleted since (they have no id). */
static void fetch_topics(breq *r, kmsg *dst, kfid dst_topics, const kmsg *src, kfid src_topics,
                         group *g, const fetch_layout *L)
{
    int32_t nt = k_count(src, src_topics);
    if (nt >= 0) {
        k_new_items(dst, dst_topics, nt);
        for (int32_t i = 0; i < nt; i++) {
            kmsg *ti = k_item(src, src_topics, i), *to = k_item(dst, dst_topics, i);
            const char *name;
            btopic *t = NULL;
            if (L->by_id) {
                const uint8_t *id = k_uuid(ti, L->in_id);
                k_set_uuid(to, L->out_id, id);
                t = topic_find_id(r->b, id);
                name = t ? t->name : "";
            } else {
                name = kdup_empty(r, k_str(ti, L->in_name));
                k_set_str(to, L->out_name, name);
            }
            int32_t np = k_new_like(to, L->out_parts, ti, L->in_parts);
            bool unknown_id = L->by_id && !t;
            bool desc_ok =
                !unknown_id && bauthz_allowed(r->b, r, ACL_RES_TOPIC, name, ACL_OP_DESCRIBE);
            for (int32_t j = 0; j < np; j++) {
                kmsg *po = k_item(to, L->out_parts, j);
                fetch_part(po, desc_ok ? g : NULL, name, (int32_t)k_item_int(ti, L->in_parts, j));
                if (unknown_id)
                    k_set_int(po, OffsetFetchResponsePartition_ErrorCode, KERR_UNKNOWN_TOPIC_ID);
                else if (!desc_ok)
                    k_set_int(po, OffsetFetchResponsePartition_ErrorCode,
                              KERR_TOPIC_AUTHORIZATION_FAILED);
            }
        }
        return;
    }
    /* all topics with a committed offset, grouped by topic */
    int n = g ? g->noffs : 0;
    const char **names = karena_alloc(r->arena, sizeof(char *) * (size_t)(n + 1));
    int nn = 0;
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < nn && !seen; j++) seen = !strcmp(names[j], g->offs[i].topic);
        /* topics the principal may not Describe are left out (as Kafka does) */
        if (!seen && bauthz_allowed(r->b, r, ACL_RES_TOPIC, g->offs[i].topic, ACL_OP_DESCRIBE) &&
            (!L->by_id || topic_find(r->b, g->offs[i].topic)))
            names[nn++] = g->offs[i].topic;
    }
    k_new_items(dst, dst_topics, nn);
    for (int t = 0; t < nn; t++) {
        kmsg *to = k_item(dst, dst_topics, t);
        if (L->by_id)
            k_set_uuid(to, L->out_id, topic_find(r->b, names[t])->id);
        else
            k_set_str(to, L->out_name, names[t]);
        int np = 0;
        for (int i = 0; i < n; i++) np += !strcmp(names[t], g->offs[i].topic);
        k_new_items(to, L->out_parts, np);
        int j = 0;
        for (int i = 0; i < n; i++)
            if (!strcmp(names[t], g->offs[i].topic))
                fetch_part(k_item(to, L->out_parts, j++), g, names[t], g->offs[i].partition);
    }
}

/* One group's offsets (the v0-v7 body, or one group of v8+): in's topics (in_topics) answered
 * into out, with the group's error code. An empty group id reads as no group. */
static void fetch_group(group_coord *gc, breq *r, kstr gid, kmsg *in, kfid in_topics, kmsg *out,
                        kfid out_topics, kfid out_err, const fetch_layout *L)
{
    bool bad = gid.len > 0 && check_gid(gid);
    bool denied = !bad && !group_allowed(r, gid, ACL_OP_DESCRIBE);
    group *g = gc && gid.len > 0 && !bad && !denied ? gc_find(gc, kdup(r, gid)) : NULL;
    fetch_topics(r, out, out_topics, in, in_topics, g, L);
    k_set_int(out, out_err,
              !gc      ? KERR_COORDINATOR_NOT_AVAILABLE
              : bad    ? KERR_INVALID_GROUP_ID
              : denied ? KERR_GROUP_AUTHORIZATION_FAILED
                       : KERR_NONE);
}

static void h_offset_fetch(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    g_stable_gc = v >= 7 && k_int(q, OffsetFetchRequest_RequireStable) ? gc : NULL;
    if (v < 8) {
        fetch_group(gc, r, k_str(q, OffsetFetchRequest_GroupId), q, OffsetFetchRequest_Topics, resp,
                    OffsetFetchResponse_Topics, OffsetFetchResponse_ErrorCode, &k_fetch_v0);
        breq_done(r);
        return;
    }
    int32_t ng = k_new_like(resp, OffsetFetchResponse_Groups, q, OffsetFetchRequest_Groups);
    for (int32_t i = 0; i < ng; i++) {
        kmsg *gi = k_item(q, OffsetFetchRequest_Groups, i),
             *go = k_item(resp, OffsetFetchResponse_Groups, i);
        kstr gid = k_str(gi, OffsetFetchRequestGroup_GroupId);
        k_set_str(go, OffsetFetchResponseGroup_GroupId, kdup_empty(r, gid));
        fetch_group(gc, r, gid, gi, OffsetFetchRequestGroup_Topics, go,
                    OffsetFetchResponseGroup_Topics, OffsetFetchResponseGroup_ErrorCode,
                    v >= 10 ? &k_fetch_v10 : &k_fetch_v8);
    }
    breq_done(r);
}

/* ------------------------------------------------------------------ OffsetDelete ---- */

/* Does the consumer-protocol subscription (int16 version, [string topic], ...) name topic? */
static bool subscribed(const gproto *p, kstr topic)
{
    if (!p || p->len < 6) return false;
    rbuf rb = rbuf_make(p->meta, (size_t)p->len);
    rbuf_i16(&rb);
    int32_t n = rbuf_i32(&rb);
    for (int32_t i = 0; i < n && !rb.err; i++) {
        int16_t l = rbuf_i16(&rb);
        const uint8_t *s = l >= 0 ? rbuf_take(&rb, (size_t)l) : NULL;
        if (s && l == topic.len && !memcmp(s, topic.p, (size_t)l)) return true;
    }
    return false;
}

static bool group_subscribed(group *g, kstr topic)
{
    for (gmember *m = g->members; m; m = m->next)
        for (int i = 0; i < m->nprotos; i++)
            if ((!g->protocol || !strcmp(m->protos[i].name, g->protocol)) &&
                subscribed(&m->protos[i], topic))
                return true;
    return false;
}

static void h_offset_delete(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req, *resp = r->resp;
    kstr gid = k_str(q, OffsetDeleteRequest_GroupId);
    int err = group_gate(gc, r, gid, ACL_OP_DELETE);
    group *g = err ? NULL : gc_find(gc, kdup(r, gid));
    if (!err && !g) err = KERR_GROUP_ID_NOT_FOUND;
    bool consumer = g && g->protocol_type && !strcmp(g->protocol_type, "consumer");
    if (!err && g->nmembers > 0 && !consumer) err = KERR_NON_EMPTY_GROUP;
    k_set_int(resp, OffsetDeleteResponse_ErrorCode, err);
    if (err) {
        k_new_items(resp, OffsetDeleteResponse_Topics, 0);
        breq_done(r);
        return;
    }
    grecs *rs = grecs_new();
    int32_t nt = k_new_like(resp, OffsetDeleteResponse_Topics, q, OffsetDeleteRequest_Topics);
    for (int32_t i = 0; i < nt; i++) {
        kmsg *ti = k_item(q, OffsetDeleteRequest_Topics, i),
             *to = k_item(resp, OffsetDeleteResponse_Topics, i);
        kstr name = k_str(ti, OffsetDeleteRequestTopic_Name);
        char *tname = kdup_empty(r, name);
        k_set_str(to, OffsetDeleteResponseTopic_Name, tname);
        bool sub = g->nmembers > 0 && group_subscribed(g, name);
        int32_t np = k_new_like(to, OffsetDeleteResponseTopic_Partitions, ti,
                                OffsetDeleteRequestTopic_Partitions);
        for (int32_t j = 0; j < np; j++) {
            kmsg *po = k_item(to, OffsetDeleteResponseTopic_Partitions, j);
            int32_t part = (int32_t)k_int(k_item(ti, OffsetDeleteRequestTopic_Partitions, j),
                                          OffsetDeleteRequestPartition_PartitionIndex);
            k_set_int(po, OffsetDeleteResponsePartition_PartitionIndex, part);
            int perr = KERR_NONE;
            btopic *t = topic_find(b, tname);
            if (!bauthz_allowed(b, r, ACL_RES_TOPIC, tname, ACL_OP_READ))
                perr = KERR_TOPIC_AUTHORIZATION_FAILED;
            else if (sub)
                perr = KERR_GROUP_SUBSCRIBED_TO_TOPIC;
            else if (!t || part < 0 || part >= t->nparts)
                perr = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            k_set_int(po, OffsetDeleteResponsePartition_ErrorCode, perr);
            if (perr) continue;
            goffset *o = g_offset_find(g, tname, part);
            if (o) {
                grecs_offset(rs, g->id, tname, part, NULL);
                g_offset_del(g, o);
            }
        }
    }
    grecs_append_and_reply(gc, rs, r, NULL);
    grecs_free(rs);
}

/* ------------------------------------------------------------------ table ---- */

const bhandler_table group_handlers = {
    [API_OffsetCommit] = {0, 10, 0, h_offset_commit},
    [API_OffsetFetch] = {0, 10, 0, h_offset_fetch},
    [API_FindCoordinator] = {0, 6, 0, h_find_coordinator},
    [API_JoinGroup] = {0, 9, 0, h_join_group},
    [API_Heartbeat] = {0, 4, 0, h_heartbeat},
    [API_LeaveGroup] = {0, 5, 0, h_leave_group},
    [API_SyncGroup] = {0, 5, 0, h_sync_group},
    [API_DescribeGroups] = {0, 6, 0, h_describe_groups},
    [API_ListGroups] = {0, 5, 0, h_list_groups},
    [API_DeleteGroups] = {0, 2, 0, h_delete_groups},
    [API_OffsetDelete] = {0, 0, 0, h_offset_delete},
    [API_TxnOffsetCommit] = {0, 4, 0, h_txn_offset_commit},
};
