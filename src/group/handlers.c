/* handlers — the Kafka APIs of the group coordinator: decode the request tree, run the
 * state machine (coord.c) or the offsets store (store.c), fill the response tree.
 *
 *   FindCoordinator v0–v4   JoinGroup v0–v9   SyncGroup v0–v5   Heartbeat v0–v4
 *   LeaveGroup v0–v5        ListGroups v0–v4  DescribeGroups v0–v5  DeleteGroups v0–v2
 *   OffsetCommit v0–v9      OffsetFetch v0–v9 OffsetDelete v0
 *
 * Validation order and error codes follow Kafka's classic GroupCoordinator (see
 * docs: shared/kafka-protocol.md §5).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

static void fill_coord(broker *b, kmsg *m)
{
    k_set_int(m, "NodeId", b->node_id);
    k_set_str(m, "Host", b->adv_host);
    k_set_int(m, "Port", b->adv_port);
}

static void h_find_coordinator(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    int8_t kt = (int8_t)(v >= 1 ? k_int(q, "KeyType") : 0);
    int err = (kt == 0 || kt == 1) ? KERR_NONE : KERR_INVALID_REQUEST;
    if (!b->groups) err = KERR_COORDINATOR_NOT_AVAILABLE;
    if (v >= 4) {
        int32_t n = k_count(q, "CoordinatorKeys");
        if (n < 0) n = 0;
        k_new_items(resp, "Coordinators", n);
        for (int32_t i = 0; i < n; i++) {
            kmsg *it = k_item(resp, "Coordinators", i);
            k_set_str(it, "Key", kdup_empty(r, k_item_str(q, "CoordinatorKeys", i)));
            k_set_int(it, "ErrorCode", err);
            k_set_str(it, "ErrorMessage", NULL);
            if (!err) fill_coord(b, it);
            else {
                k_set_int(it, "NodeId", -1);
                k_set_str(it, "Host", "");
                k_set_int(it, "Port", -1);
            }
        }
    } else {
        k_set_int(resp, "ErrorCode", err);
        k_set_str(resp, "ErrorMessage", NULL);
        if (!err) fill_coord(b, resp);
        else {
            k_set_int(resp, "NodeId", -1);
            k_set_str(resp, "Host", "");
            k_set_int(resp, "Port", -1);
        }
    }
    breq_done(r);
}

/* ------------------------------------------------------------------ JoinGroup ---- */

static void join_fail(breq *r, int err, const char *member_id)
{
    g_fill_join_resp(NULL, NULL, r, err);
    k_set_str(r->resp, "MemberId", member_id ? member_id : "");
    breq_done(r);
}

/* Protocols of the request equal the member's (same names, order and metadata)? */
static bool same_protocols(const gmember *m, const kmsg *q)
{
    int32_t n = k_count(q, "Protocols");
    if (n != m->nprotos) return false;
    for (int32_t i = 0; i < n; i++) {
        kmsg *p = k_item(q, "Protocols", i);
        kstr name = k_str(p, "Name"), meta = k_str(p, "Metadata");
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
    int32_t n = k_count(q, "Protocols");
    if (n < 0) n = 0;
    m->protos = xcalloc((size_t)(n ? n : 1), sizeof *m->protos);
    m->nprotos = n;
    for (int32_t i = 0; i < n; i++) {
        kmsg *p = k_item(q, "Protocols", i);
        kstr name = k_str(p, "Name"), meta = k_str(p, "Metadata");
        m->protos[i].name = xstrndup(name.len > 0 ? (const char *)name.p : "",
                                     name.len > 0 ? (size_t)name.len : 0);
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
        k_set_str(old->resp, "MemberId", m->id);
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

static void h_join(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req;
    int16_t v = r->hdr.api_version;
    kstr gid = k_str(q, "GroupId");
    char *member_id = kdup_empty(r, k_str(q, "MemberId"));
    char *instance = v >= 5 ? kdup(r, k_str(q, "GroupInstanceId")) : NULL;
    int32_t session = (int32_t)k_int(q, "SessionTimeoutMs");
    int32_t rebalance = v >= 1 ? (int32_t)k_int(q, "RebalanceTimeoutMs") : session;
    char *ptype = kdup_empty(r, k_str(q, "ProtocolType"));
    int32_t nprotos = k_count(q, "Protocols");
    if (rebalance <= 0) rebalance = session;

    if (!gc) return join_fail(r, KERR_COORDINATOR_NOT_AVAILABLE, member_id);
    if (check_gid(gid)) return join_fail(r, KERR_INVALID_GROUP_ID, member_id);
    kstr inst = v >= 5 ? k_str(q, "GroupInstanceId") : (kstr){NULL, -1};
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
                kstr name = k_str(k_item(q, "Protocols", i), "Name");
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
            LOGI("group", "group %s: static member %s replaced %s by %s", g->id, instance,
                 old->id, new_id);
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
        if (g->nmembers == 0) {
            free(g->protocol_type);
            g->protocol_type = xstrdup(ptype);
        }
        gmember *m = g_add_member(g, new_id);
        free(new_id);
        if (instance) m->instance_id = xstrdup(instance);
        member_update(m, r, session, rebalance);
        park_join(m, r);
        extend_initial_delay(gc, g);
        g_prepare_rebalance(gc, g, "new member joined");
        return;
    }

    if (g_is_pending(g, member_id)) {
        g_remove_pending(g, member_id);
        if (g->nmembers == 0) {
            free(g->protocol_type);
            g->protocol_type = xstrdup(ptype);
        }
        gmember *m = g_add_member(g, member_id);
        if (instance) m->instance_id = xstrdup(instance);
        member_update(m, r, session, rebalance);
        park_join(m, r);
        extend_initial_delay(gc, g);
        g_prepare_rebalance(gc, g, "new member joined");
        return;
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
    default:
        return join_fail(r, KERR_UNKNOWN_MEMBER_ID, member_id);
    }
}

/* ------------------------------------------------------------------ SyncGroup ---- */

static void sync_fail(breq *r, int err)
{
    k_set_int(r->resp, "ErrorCode", err);
    k_set_str(r->resp, "ProtocolType", NULL);
    k_set_str(r->resp, "ProtocolName", NULL);
    k_set_bytes(r->resp, "Assignment", "", 0);
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

static void h_sync(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req;
    int16_t v = r->hdr.api_version;
    kstr gid = k_str(q, "GroupId");
    if (!gc) return sync_fail(r, KERR_COORDINATOR_NOT_AVAILABLE);
    if (check_gid(gid)) return sync_fail(r, KERR_INVALID_GROUP_ID);
    group *g = gc_find(gc, kdup(r, gid));
    if (!g) return sync_fail(r, KERR_UNKNOWN_MEMBER_ID);
    char *member_id = kdup_empty(r, k_str(q, "MemberId"));
    char *instance = v >= 3 ? kdup(r, k_str(q, "GroupInstanceId")) : NULL;
    gmember *m;
    int err = check_member(g, member_id, instance, &m);
    if (err) return sync_fail(r, err);
    if ((int32_t)k_int(q, "GenerationId") != g->generation)
        return sync_fail(r, KERR_ILLEGAL_GENERATION);
    if (v >= 5) {
        kstr pt = k_str(q, "ProtocolType"), pn = k_str(q, "ProtocolName");
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
    case GS_COMPLETING:
        break;
    }
    if (m->sync_req) g_answer_sync(g, m, KERR_REBALANCE_IN_PROGRESS);
    m->sync_req = r;
    m->deadline_ms = now + m->session_ms;
    if (!g->leader || strcmp(g->leader, m->id)) return; /* follower: wait for the leader */
    int32_t n = k_count(q, "Assignments");
    for (int32_t i = 0; i < n; i++) {
        kmsg *a = k_item(q, "Assignments", i);
        char *id = kdup_empty(r, k_str(a, "MemberId"));
        gmember *x = g_member(g, id);
        if (!x) continue;
        kstr as = k_str(a, "Assignment");
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
    kstr gid = k_str(q, "GroupId");
    int err = KERR_NONE;
    group *g = NULL;
    gmember *m = NULL;
    if (!gc) err = KERR_COORDINATOR_NOT_AVAILABLE;
    else if (check_gid(gid)) err = KERR_INVALID_GROUP_ID;
    else if (!(g = gc_find(gc, kdup(r, gid)))) err = KERR_UNKNOWN_MEMBER_ID;
    else {
        char *instance = v >= 3 ? kdup(r, k_str(q, "GroupInstanceId")) : NULL;
        err = check_member(g, kdup_empty(r, k_str(q, "MemberId")), instance, &m);
        if (!err && (int32_t)k_int(q, "GenerationId") != g->generation)
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
    k_set_int(r->resp, "ErrorCode", err);
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

static void h_leave(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    kstr gid = k_str(q, "GroupId");
    int top = KERR_NONE;
    group *g = NULL;
    if (!gc) top = KERR_COORDINATOR_NOT_AVAILABLE;
    else if (check_gid(gid)) top = KERR_INVALID_GROUP_ID;
    else g = gc_find(gc, kdup(r, gid));
    if (v < 3) {
        if (!top) top = leave_one(gc, g, kdup_empty(r, k_str(q, "MemberId")), NULL);
        k_set_int(resp, "ErrorCode", top);
        breq_done(r);
        return;
    }
    int32_t n = k_count(q, "Members");
    if (n < 0) n = 0;
    k_set_int(resp, "ErrorCode", top);
    if (top) {
        k_new_items(resp, "Members", 0);
        breq_done(r);
        return;
    }
    k_new_items(resp, "Members", n);
    for (int32_t i = 0; i < n; i++) {
        kmsg *mi = k_item(q, "Members", i), *mo = k_item(resp, "Members", i);
        char *id = kdup_empty(r, k_str(mi, "MemberId"));
        char *inst = kdup(r, k_str(mi, "GroupInstanceId"));
        k_set_str(mo, "MemberId", id);
        k_set_str(mo, "GroupInstanceId", inst);
        if (g && !gc_find(gc, g->id)) g = NULL;
        k_set_int(mo, "ErrorCode", leave_one(gc, g, id, inst));
    }
    breq_done(r);
}

/* ------------------------------------------------------------------ ListGroups ---- */

static void h_list(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    k_set_int(resp, "ErrorCode", gc ? KERR_NONE : KERR_COORDINATOR_NOT_AVAILABLE);
    int32_t nf = v >= 4 ? k_count(q, "StatesFilter") : 0;
    int n = 0;
    group **sel = karena_alloc(r->arena, sizeof(group *) * (size_t)(gc ? gc->ngroups + 1 : 1));
    for (int i = 0; gc && i < gc->ngroups; i++) {
        group *g = gc->groups[i];
        bool ok = nf <= 0;
        for (int32_t j = 0; j < nf && !ok; j++) {
            kstr s = k_item_str(q, "StatesFilter", j);
            const char *st = g_state_name(g->state);
            ok = s.len >= 0 && (size_t)s.len == strlen(st) &&
                 !strncasecmp((const char *)s.p, st, (size_t)s.len);
        }
        if (ok) sel[n++] = g;
    }
    k_new_items(resp, "Groups", n);
    for (int i = 0; i < n; i++) {
        kmsg *it = k_item(resp, "Groups", i);
        k_set_str(it, "GroupId", sel[i]->id);
        k_set_str(it, "ProtocolType", sel[i]->protocol_type ? sel[i]->protocol_type : "");
        k_set_str(it, "GroupState", g_state_name(sel[i]->state));
    }
    breq_done(r);
}

/* ------------------------------------------------------------------ DescribeGroups ---- */

static void h_describe(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req, *resp = r->resp;
    int32_t n = k_count(q, "Groups");
    if (n < 0) n = 0;
    bool ops = k_bool(q, "IncludeAuthorizedOperations") && r->hdr.api_version >= 3;
    k_new_items(resp, "Groups", n);
    for (int32_t i = 0; i < n; i++) {
        kmsg *it = k_item(resp, "Groups", i);
        kstr gid = k_item_str(q, "Groups", i);
        k_set_str(it, "GroupId", kdup_empty(r, gid));
        k_set_int(it, "AuthorizedOperations", ops ? 0x0fb8 : AUTH_OPS_NONE);
        k_set_str(it, "ProtocolType", "");
        k_set_str(it, "ProtocolData", "");
        group *g = NULL;
        int err = !gc ? KERR_COORDINATOR_NOT_AVAILABLE : check_gid(gid);
        if (!err) g = gc_find(gc, kdup(r, gid));
        k_set_int(it, "ErrorCode", err);
        if (!g) {
            k_set_str(it, "GroupState", err ? "" : "Dead");
            k_new_items(it, "Members", 0);
            continue;
        }
        bool stable = g->state == GS_STABLE;
        k_set_str(it, "GroupState", g_state_name(g->state));
        k_set_str(it, "ProtocolType", g->protocol_type ? g->protocol_type : "");
        k_set_str(it, "ProtocolData", stable && g->protocol ? g->protocol : "");
        k_new_items(it, "Members", g->nmembers);
        int j = 0;
        for (gmember *m = g->members; m; m = m->next, j++) {
            kmsg *mo = k_item(it, "Members", j);
            k_set_str(mo, "MemberId", m->id);
            k_set_str(mo, "GroupInstanceId", m->instance_id);
            k_set_str(mo, "ClientId", m->client_id ? m->client_id : "");
            k_set_str(mo, "ClientHost", m->client_host ? m->client_host : "");
            const gproto *p = NULL;
            for (int x = 0; stable && x < m->nprotos && g->protocol; x++)
                if (!strcmp(m->protos[x].name, g->protocol)) p = &m->protos[x];
            k_set_bytes(mo, "MemberMetadata", p ? (const void *)p->meta : "", p ? p->len : 0);
            k_set_bytes(mo, "MemberAssignment",
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
    int32_t n = k_count(q, "GroupsNames");
    if (n < 0) n = 0;
    k_new_items(resp, "Results", n);
    grecs *rs = grecs_new();
    for (int32_t i = 0; i < n; i++) {
        kmsg *it = k_item(resp, "Results", i);
        kstr gid = k_item_str(q, "GroupsNames", i);
        k_set_str(it, "GroupId", kdup_empty(r, gid));
        int err = !gc ? KERR_COORDINATOR_NOT_AVAILABLE : check_gid(gid);
        group *g = err ? NULL : gc_find(gc, kdup(r, gid));
        if (!err && !g) err = KERR_GROUP_ID_NOT_FOUND;
        if (!err && (g->state != GS_EMPTY || g->nmembers > 0)) err = KERR_NON_EMPTY_GROUP;
        if (!err) {
            for (int j = 0; j < g->noffs; j++)
                grecs_offset(rs, g->id, g->offs[j].topic, g->offs[j].partition, NULL);
            grecs_group(rs, g, true);
            LOGI("group", "group %s deleted (%d offsets)", g->id, g->noffs);
            gc_remove(gc, g);
        }
        k_set_int(it, "ErrorCode", err);
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

static void commit_all_err(breq *r, int err)
{
    kmsg *q = r->req, *resp = r->resp;
    int32_t nt = k_count(q, "Topics");
    if (nt < 0) nt = 0;
    k_new_items(resp, "Topics", nt);
    for (int32_t i = 0; i < nt; i++) {
        kmsg *ti = k_item(q, "Topics", i), *to = k_item(resp, "Topics", i);
        k_set_str(to, "Name", kdup_empty(r, k_str(ti, "Name")));
        int32_t np = k_count(ti, "Partitions");
        if (np < 0) np = 0;
        k_new_items(to, "Partitions", np);
        for (int32_t j = 0; j < np; j++) {
            kmsg *po = k_item(to, "Partitions", j);
            k_set_int(po, "PartitionIndex", k_int(k_item(ti, "Partitions", j), "PartitionIndex"));
            k_set_int(po, "ErrorCode", err);
        }
    }
}

static void commit_store_err(breq *r, int err)
{
    /* the append failed: every partition that was going to be stored reports err */
    kmsg *resp = r->resp;
    int32_t nt = k_count(resp, "Topics");
    for (int32_t i = 0; i < nt; i++) {
        kmsg *to = k_item(resp, "Topics", i);
        int32_t np = k_count(to, "Partitions");
        for (int32_t j = 0; j < np; j++) {
            kmsg *po = k_item(to, "Partitions", j);
            if (k_int(po, "ErrorCode") == 0) k_set_int(po, "ErrorCode", err);
        }
    }
}

static void h_offset_commit(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    kstr gid = k_str(q, "GroupId");
    int32_t gen = v >= 1 ? (int32_t)k_int(q, "GenerationIdOrMemberEpoch") : -1;
    char *member_id = v >= 1 ? kdup_empty(r, k_str(q, "MemberId")) : "";
    char *instance = v >= 7 ? kdup(r, k_str(q, "GroupInstanceId")) : NULL;
    int err = KERR_NONE;
    group *g = NULL;
    if (!gc) err = KERR_COORDINATOR_NOT_AVAILABLE;
    else if (check_gid(gid)) err = KERR_INVALID_GROUP_ID;
    else {
        g = gc_find(gc, kdup(r, gid));
        if (!g) {
            if (gen < 0) g = gc_create(gc, kdup(r, gid));
            else err = KERR_ILLEGAL_GENERATION;
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
    if (err) {
        commit_all_err(r, err);
        breq_done(r);
        return;
    }
    int64_t now_wall = now_wall_ms();
    grecs *rs = grecs_new();
    int32_t nt = k_count(q, "Topics");
    if (nt < 0) nt = 0;
    k_new_items(resp, "Topics", nt);
    for (int32_t i = 0; i < nt; i++) {
        kmsg *ti = k_item(q, "Topics", i), *to = k_item(resp, "Topics", i);
        kstr name = k_str(ti, "Name");
        char *tname = kdup_empty(r, name);
        k_set_str(to, "Name", tname);
        btopic *t = name.len > 0 ? topic_findn(b, (const char *)name.p, (size_t)name.len) : NULL;
        int32_t np = k_count(ti, "Partitions");
        if (np < 0) np = 0;
        k_new_items(to, "Partitions", np);
        for (int32_t j = 0; j < np; j++) {
            kmsg *pi = k_item(ti, "Partitions", j), *po = k_item(to, "Partitions", j);
            int32_t part = (int32_t)k_int(pi, "PartitionIndex");
            k_set_int(po, "PartitionIndex", part);
            kstr meta = k_str(pi, "CommittedMetadata");
            int perr = KERR_NONE;
            if (!t || part < 0 || part >= t->nparts) perr = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (meta.len > b->cfg.offset_metadata_max_bytes)
                perr = KERR_OFFSET_METADATA_TOO_LARGE;
            k_set_int(po, "ErrorCode", perr);
            if (perr) continue;
            goffset *o = g_offset_put(g, tname, part);
            o->offset = k_int(pi, "CommittedOffset");
            o->leader_epoch = v >= 6 ? (int32_t)k_int(pi, "CommittedLeaderEpoch") : -1;
            free(o->metadata);
            o->metadata = xstrdup(kdup_empty(r, meta));
            o->commit_ts = now_wall;
            grecs_offset(rs, g->id, tname, part, o);
        }
    }
    grecs_append_and_reply(gc, rs, r, commit_store_err);
    grecs_free(rs);
}

/* ------------------------------------------------------------------ OffsetFetch ---- */

static void fetch_part(kmsg *po, group *g, const char *topic, int32_t part)
{
    goffset *o = g ? g_offset_find(g, topic, part) : NULL;
    k_set_int(po, "PartitionIndex", part);
    k_set_int(po, "CommittedOffset", o ? o->offset : -1);
    k_set_int(po, "CommittedLeaderEpoch", o ? o->leader_epoch : -1);
    k_set_str(po, "Metadata", o && o->metadata ? o->metadata : "");
    k_set_int(po, "ErrorCode", KERR_NONE);
}

/* Fills dst.Topics from src.Topics (null = every committed offset of g). */
static void fetch_topics(breq *r, kmsg *dst, const kmsg *src, group *g)
{
    int32_t nt = k_count(src, "Topics");
    if (nt >= 0) {
        k_new_items(dst, "Topics", nt);
        for (int32_t i = 0; i < nt; i++) {
            kmsg *ti = k_item(src, "Topics", i), *to = k_item(dst, "Topics", i);
            char *name = kdup_empty(r, k_str(ti, "Name"));
            k_set_str(to, "Name", name);
            int32_t np = k_count(ti, "PartitionIndexes");
            if (np < 0) np = 0;
            k_new_items(to, "Partitions", np);
            for (int32_t j = 0; j < np; j++)
                fetch_part(k_item(to, "Partitions", j), g, name,
                           (int32_t)k_item_int(ti, "PartitionIndexes", j));
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
        if (!seen) names[nn++] = g->offs[i].topic;
    }
    k_new_items(dst, "Topics", nn);
    for (int t = 0; t < nn; t++) {
        kmsg *to = k_item(dst, "Topics", t);
        k_set_str(to, "Name", names[t]);
        int np = 0;
        for (int i = 0; i < n; i++) np += !strcmp(names[t], g->offs[i].topic);
        k_new_items(to, "Partitions", np);
        int j = 0;
        for (int i = 0; i < n; i++)
            if (!strcmp(names[t], g->offs[i].topic))
                fetch_part(k_item(to, "Partitions", j++), g, names[t], g->offs[i].partition);
    }
}

static void h_offset_fetch(broker *b, breq *r)
{
    group_coord *gc = gc_of(b);
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    if (v < 8) {
        kstr gid = k_str(q, "GroupId");
        bool bad = gid.len > 0 && check_gid(gid);
        group *g = gc && gid.len > 0 && !bad ? gc_find(gc, kdup(r, gid)) : NULL;
        fetch_topics(r, resp, q, g);
        k_set_int(resp, "ErrorCode",
                  !gc ? KERR_COORDINATOR_NOT_AVAILABLE : bad ? KERR_INVALID_GROUP_ID : KERR_NONE);
        breq_done(r);
        return;
    }
    int32_t ng = k_count(q, "Groups");
    if (ng < 0) ng = 0;
    k_new_items(resp, "Groups", ng);
    for (int32_t i = 0; i < ng; i++) {
        kmsg *gi = k_item(q, "Groups", i), *go = k_item(resp, "Groups", i);
        kstr gid = k_str(gi, "GroupId");
        k_set_str(go, "GroupId", kdup_empty(r, gid));
        bool bad = gid.len > 0 && check_gid(gid);
        group *g = gc && gid.len > 0 && !bad ? gc_find(gc, kdup(r, gid)) : NULL;
        fetch_topics(r, go, gi, g);
        k_set_int(go, "ErrorCode",
                  !gc ? KERR_COORDINATOR_NOT_AVAILABLE : bad ? KERR_INVALID_GROUP_ID : KERR_NONE);
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
    kstr gid = k_str(q, "GroupId");
    int err = !gc ? KERR_COORDINATOR_NOT_AVAILABLE : check_gid(gid);
    group *g = err ? NULL : gc_find(gc, kdup(r, gid));
    if (!err && !g) err = KERR_GROUP_ID_NOT_FOUND;
    bool consumer = g && g->protocol_type && !strcmp(g->protocol_type, "consumer");
    if (!err && g->nmembers > 0 && !consumer) err = KERR_NON_EMPTY_GROUP;
    k_set_int(resp, "ErrorCode", err);
    if (err) {
        k_new_items(resp, "Topics", 0);
        breq_done(r);
        return;
    }
    grecs *rs = grecs_new();
    int32_t nt = k_count(q, "Topics");
    if (nt < 0) nt = 0;
    k_new_items(resp, "Topics", nt);
    for (int32_t i = 0; i < nt; i++) {
        kmsg *ti = k_item(q, "Topics", i), *to = k_item(resp, "Topics", i);
        kstr name = k_str(ti, "Name");
        char *tname = kdup_empty(r, name);
        k_set_str(to, "Name", tname);
        bool sub = g->nmembers > 0 && group_subscribed(g, name);
        int32_t np = k_count(ti, "Partitions");
        if (np < 0) np = 0;
        k_new_items(to, "Partitions", np);
        for (int32_t j = 0; j < np; j++) {
            kmsg *po = k_item(to, "Partitions", j);
            int32_t part = (int32_t)k_int(k_item(ti, "Partitions", j), "PartitionIndex");
            k_set_int(po, "PartitionIndex", part);
            int perr = KERR_NONE;
            btopic *t = topic_find(b, tname);
            if (sub) perr = KERR_GROUP_SUBSCRIBED_TO_TOPIC;
            else if (!t || part < 0 || part >= t->nparts) perr = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            k_set_int(po, "ErrorCode", perr);
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

const bhandler group_handlers[] = {
    {8, 0, 9, 0, h_offset_commit},     {9, 0, 9, 0, h_offset_fetch},
    {10, 0, 4, 0, h_find_coordinator}, {11, 0, 9, 0, h_join},
    {12, 0, 4, 0, h_heartbeat},        {13, 0, 5, 0, h_leave},
    {14, 0, 5, 0, h_sync},             {15, 0, 5, 0, h_describe},
    {16, 0, 4, 0, h_list},             {42, 0, 2, 0, h_delete_groups},
    {47, 0, 0, 0, h_offset_delete},    {-1, 0, 0, 0, NULL},
};
