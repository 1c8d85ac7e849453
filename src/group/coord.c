/* coord — the classic consumer-group state machine (Kafka's GroupCoordinator semantics):
 *
 *   Empty --join--> PreparingRebalance --all joined / rebalance timeout--> CompletingRebalance
 *   CompletingRebalance --leader's SyncGroup--> Stable --member change--> PreparingRebalance
 *   any --last member gone--> Empty
 *
 * Plus the coordinator's lifecycle (start: create/replay __consumer_offsets; stop), and a
 * periodic tick that expires silent members (session timeout), pending members (MEMBER_ID_
 * REQUIRED ids never used), finishes join phases on rebalance timeout or after the initial
 * rebalance delay, and expires old offsets of empty groups.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "group/group_int.h"

group_coord *gc_of(broker *b)
{
    return b->groups;
}

static int64_t now_ms(group_coord *gc)
{
    return loop_now_ms(gc->b->loop);
}

/* ------------------------------------------------------------------ responses ---- */

void g_fill_join_resp(group *g, gmember *m, breq *r, int err)
{
    kmsg *resp = r->resp;
    int16_t v = r->hdr.api_version;
    k_set_int(resp, JoinGroupResponse_ErrorCode, err);
    if (err) {
        k_set_int(resp, JoinGroupResponse_GenerationId, -1);
        if (v >= 7) {
            k_set_str(resp, JoinGroupResponse_ProtocolType, NULL);
            k_set_str(resp, JoinGroupResponse_ProtocolName, NULL);
        } else {
            k_set_str(resp, JoinGroupResponse_ProtocolName, "");
        }
        k_set_str(resp, JoinGroupResponse_Leader, "");
        k_set_str(resp, JoinGroupResponse_MemberId, m ? m->id : "");
        k_new_items(resp, JoinGroupResponse_Members, 0);
        return;
    }
    k_set_int(resp, JoinGroupResponse_GenerationId, g->generation);
    k_set_str(resp, JoinGroupResponse_ProtocolType, g->protocol_type ? g->protocol_type : "");
    k_set_str(resp, JoinGroupResponse_ProtocolName, g->protocol ? g->protocol : "");
    k_set_str(resp, JoinGroupResponse_Leader, g->leader ? g->leader : "");
    k_set_bool(resp, JoinGroupResponse_SkipAssignment, false);
    k_set_str(resp, JoinGroupResponse_MemberId, m->id);
    bool leader = g->leader && !strcmp(g->leader, m->id);
    if (!leader) {
        k_new_items(resp, JoinGroupResponse_Members, 0);
        return;
    }
    g_member_rows(g, true, resp, JoinGroupResponse_Members, JoinGroupResponseMember_MemberId,
                  JoinGroupResponseMember_GroupInstanceId, JoinGroupResponseMember_Metadata);
}

void g_answer_sync(group *g, gmember *m, int err)
{
    breq *r = m->sync_req;
    if (!r) return;
    m->sync_req = NULL;
    k_set_int(r->resp, SyncGroupResponse_ErrorCode, err);
    if (r->hdr.api_version >= 5 && !err) {
        k_set_str(r->resp, SyncGroupResponse_ProtocolType, g->protocol_type);
        k_set_str(r->resp, SyncGroupResponse_ProtocolName, g->protocol);
    } else if (r->hdr.api_version >= 5) {
        k_set_str(r->resp, SyncGroupResponse_ProtocolType, NULL);
        k_set_str(r->resp, SyncGroupResponse_ProtocolName, NULL);
    }
    if (!err && m->assign)
        k_set_bytes(r->resp, SyncGroupResponse_Assignment, m->assign, m->assign_len);
    else
        k_set_bytes(r->resp, SyncGroupResponse_Assignment, "", 0);
    breq_done(r);
}

static void answer_join_err(gmember *m, int err)
{
    breq *r = m->join_req;
    if (!r) return;
    m->join_req = NULL;
    g_fill_join_resp(NULL, NULL, r, err);
    k_set_str(r->resp, JoinGroupResponse_MemberId, m->id);
    breq_done(r);
}

/* ------------------------------------------------------------------ state machine ---- */

void g_persist(group_coord *gc, group *g)
{
    grecs *rs = grecs_new();
    grecs_group(rs, g, false);
    plog *l;
    int64_t end;
    grecs_append(gc, rs, &l, &end);
    grecs_free(rs);
}

static int32_t max_rebalance_ms(group *g)
{
    int32_t t = 0;
    for (gmember *m = g->members; m; m = m->next) t = MAX(t, m->rebalance_ms);
    return t;
}

void g_prepare_rebalance(group_coord *gc, group *g, const char *why)
{
    int64_t now = now_ms(gc);
    if (g->state == GS_PREPARING) {
        g_try_complete_join(gc, g);
        return;
    }
    if (g->state == GS_COMPLETING) {
        /* assignments of the aborted generation are void; parked syncs learn to rejoin */
        for (gmember *m = g->members; m; m = m->next) {
            free(m->assign);
            m->assign = NULL;
            m->assign_len = 0;
            g_answer_sync(g, m, KERR_REBALANCE_IN_PROGRESS);
        }
    }
    bool was_empty = g->state == GS_EMPTY;
    LOGD("group", "group %s: preparing rebalance (generation %d): %s", g->id, g->generation, why);
    g_set_state(g, GS_PREPARING);
    g->phase_deadline = now + max_rebalance_ms(g);
    int32_t delay = gc->b->cfg.group_initial_rebalance_delay_ms;
    if (was_empty && delay > 0) {
        g->initial_until = now + delay;
        g->initial_limit = now + MAX(max_rebalance_ms(g), delay);
    } else {
        g->initial_until = g->initial_limit = 0;
    }
    g_try_complete_join(gc, g);
}

void g_try_complete_join(group_coord *gc, group *g)
{
    if (g->state != GS_PREPARING) return;
    if (g->initial_until && now_ms(gc) < g->initial_until) return;
    if (g->pending) return;
    for (gmember *m = g->members; m; m = m->next)
        if (!m->join_req) return;
    g_complete_join(gc, g);
}

static char *select_protocol(group *g)
{
    /* candidates: protocols every member supports; each member votes for its first
     * candidate; most votes wins (ties: the first member's preference order) */
    gmember *first = g->members;
    if (!first) return NULL;
    int n = first->nprotos;
    int *votes = xcalloc((size_t)(n ? n : 1), sizeof *votes);
    bool *cand = xcalloc((size_t)(n ? n : 1), sizeof *cand);
    for (int i = 0; i < n; i++) {
        cand[i] = true;
        for (gmember *m = first->next; m && cand[i]; m = m->next)
            if (!g_member_proto(m, first->protos[i].name)) cand[i] = false;
    }
    for (gmember *m = g->members; m; m = m->next)
        for (int j = 0; j < m->nprotos; j++) {
            int k = -1;
            for (int i = 0; i < n; i++)
                if (cand[i] && !strcmp(first->protos[i].name, m->protos[j].name)) k = i;
            if (k >= 0) {
                votes[k]++;
                break;
            }
        }
    int best = -1;
    for (int i = 0; i < n; i++)
        if (cand[i] && (best < 0 || votes[i] > votes[best])) best = i;
    char *r = best >= 0 ? xstrdup(first->protos[best].name) : NULL;
    free(votes);
    free(cand);
    return r;
}

void g_complete_join(group_coord *gc, group *g)
{
    int64_t now = now_ms(gc);
    /* dynamic members that did not rejoin in time are dropped; static ones are kept */
    for (gmember **pp = &g->members; *pp;) {
        gmember *m = *pp;
        if (!m->join_req && !m->instance_id) {
            *pp = m->next;
            g->nmembers--;
            LOGI("group", "group %s: member %s did not rejoin in time, removed", g->id, m->id);
            g_answer_sync(g, m, KERR_UNKNOWN_MEMBER_ID);
            g_member_free(m);
        } else {
            pp = &m->next;
        }
    }
    g->initial_until = g->initial_limit = 0;
    g->generation++;
    free(g->protocol);
    g->protocol = NULL;
    if (!g->members) {
        free(g->leader);
        g->leader = NULL;
        g_set_state(g, GS_EMPTY);
        LOGI("group", "group %s is empty (generation %d)", g->id, g->generation);
        g_persist(gc, g);
        return;
    }
    /* keep the leader if it rejoined, else the first member that rejoined */
    gmember *lead = g->leader ? g_member(g, g->leader) : NULL;
    if (!lead || !lead->join_req) {
        lead = NULL;
        for (gmember *m = g->members; m && !lead; m = m->next)
            if (m->join_req) lead = m;
        if (!lead) lead = g->members;
        free(g->leader);
        g->leader = xstrdup(lead->id);
    }
    g->protocol = select_protocol(g);
    g_set_state(g, GS_COMPLETING);
    g->phase_deadline = now + max_rebalance_ms(g);
    LOGI("group", "group %s: generation %d with %d members, protocol %s, leader %s", g->id,
         g->generation, g->nmembers, g->protocol ? g->protocol : "-", g->leader);
    for (gmember *m = g->members; m; m = m->next) {
        free(m->assign);
        m->assign = NULL;
        m->assign_len = 0;
        m->deadline_ms = now + m->session_ms;
        if (!m->join_req) continue;
        breq *r = m->join_req;
        m->join_req = NULL;
        g_fill_join_resp(g, m, r, KERR_NONE);
        breq_done(r);
    }
}

void g_remove_member(group_coord *gc, group *g, gmember *m, int err, const char *why)
{
    for (gmember **pp = &g->members; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            g->nmembers--;
            break;
        }
    LOGI("group", "group %s: member %s removed (%s)", g->id, m->id, why);
    answer_join_err(m, err);
    g_answer_sync(g, m, err);
    bool was_leader = g->leader && !strcmp(g->leader, m->id);
    g_member_free(m);
    if (was_leader) {
        free(g->leader);
        g->leader = NULL;
        for (gmember *x = g->members; x; x = x->next)
            if (x->join_req) {
                g->leader = xstrdup(x->id);
                break;
            }
        if (!g->leader && g->members) g->leader = xstrdup(g->members->id);
    }
    if (g->state == GS_STABLE || g->state == GS_COMPLETING)
        g_prepare_rebalance(gc, g, why);
    else if (g->state == GS_PREPARING)
        g_try_complete_join(gc, g);
}

/* ------------------------------------------------------------------ tick ---- */

static void tick(loop *l, void *arg);

static void check_group(group_coord *gc, group *g, int64_t now)
{
    /* pending member ids that were never used */
    for (gpending **pp = &g->pending; *pp;) {
        gpending *p = *pp;
        if (p->deadline_ms <= now) {
            *pp = p->next;
            free(p->id);
            free(p);
            if (g->state == GS_PREPARING) g_try_complete_join(gc, g);
        } else {
            pp = &p->next;
        }
    }
    /* silent members: not while a Join or Sync of theirs is parked */
    for (;;) {
        gmember *m = g->members;
        while (m && (m->join_req || m->sync_req || m->deadline_ms > now)) m = m->next;
        if (!m) break;
        g_remove_member(gc, g, m, KERR_UNKNOWN_MEMBER_ID, "session timeout");
    }
    if (g->state == GS_PREPARING) {
        if (g->initial_until && now >= g->initial_until) {
            g->initial_until = 0;
            g_try_complete_join(gc, g);
        }
        if (g->state == GS_PREPARING && now >= g->phase_deadline) {
            LOGI("group", "group %s: rebalance timeout, completing with the members that joined",
                 g->id);
            /* pending ids no longer hold the join phase */
            while (g->pending) {
                gpending *p = g->pending;
                g->pending = p->next;
                free(p->id);
                free(p);
            }
            g_complete_join(gc, g);
        }
    } else if (g->state == GS_COMPLETING && now >= g->phase_deadline) {
        gmember *lead = g->leader ? g_member(g, g->leader) : NULL;
        if (lead)
            g_remove_member(gc, g, lead, KERR_REBALANCE_IN_PROGRESS,
                            "leader sent no SyncGroup within the rebalance timeout");
        else
            g_prepare_rebalance(gc, g, "no leader");
    }
}

void g_check_due(group_coord *gc, group *g)
{
    check_group(gc, g, loop_now_ms(gc->b->loop));
}

/* The earliest deadline of g after now (INT64_MAX: none). */
static int64_t next_due(const group *g, int64_t now)
{
    int64_t t = INT64_MAX;
    for (const gpending *p = g->pending; p; p = p->next)
        if (p->deadline_ms < t) t = p->deadline_ms;
    for (const gmember *m = g->members; m; m = m->next)
        if (!m->join_req && !m->sync_req && m->deadline_ms < t) t = m->deadline_ms;
    if (g->state == GS_PREPARING && g->initial_until && g->initial_until < t) t = g->initial_until;
    if ((g->state == GS_PREPARING || g->state == GS_COMPLETING) && g->phase_deadline < t)
        t = g->phase_deadline;
    return t > now ? t : now;
}

/* Runs at the earliest deadline of any group (a member's session, a pending id, a rebalance
 * phase), at most GROUP_TICK_MS apart: a member is expired at its deadline, not up to a tick
 * later (librdkafka's admin tests delete a group exactly session.timeout.ms after its member
 * went silent). */
static void tick(loop *l, void *arg)
{
    group_coord *gc = arg;
    gc->tick = NULL;
    if (gc->stopping) return;
    int64_t now = loop_now_ms(l);
    int64_t next = now + GROUP_TICK_MS;
    for (int i = 0; i < gc->ngroups; i++) {
        check_group(gc, gc->groups[i], now);
        int64_t d = next_due(gc->groups[i], now);
        if (d < next) next = d;
    }
    if (now >= gc->next_expire_ms) {
        gc->next_expire_ms = now + 60000;
        gstore_expire(gc, now_wall_ms());
    }
    if (!loop_stopping(l)) gc->tick = loop_timer_add(l, next > now ? next - now : 1, tick, gc);
}

/* ------------------------------------------------------------------ lifecycle ---- */

int group_coord_start(broker *b)
{
    group_coord *gc = xcalloc(1, sizeof *gc);
    gc->b = b;
    b->groups = gc;
    btopic *t = topic_internal(b, GROUP_OFFSETS_TOPIC, TOPIC_STATE_CONFIGS);
    if (!t) return -1;
    gc->otopic = t;
    int64_t t0 = now_mono_us();
    int nb = gstore_load(gc);
    int noffs = 0;
    for (int i = 0; i < gc->ngroups; i++) noffs += gc->groups[i]->noffs;
    LOGI("group", "coordinator ready: %d groups, %d committed offsets from %d batches (%.1f ms)",
         gc->ngroups, noffs, nb, (double)(now_mono_us() - t0) / 1000.0);
    gc->next_expire_ms = loop_now_ms(b->loop) + 60000;
    gc->tick = loop_timer_add(b->loop, GROUP_TICK_MS, tick, gc);
    return 0;
}

void group_coord_stop(broker *b)
{
    group_coord *gc = b->groups;
    if (!gc) return;
    gc->stopping = true;
    if (gc->tick) loop_timer_cancel(b->loop, gc->tick);
    gc->tick = NULL;
    /* answer whatever is still parked (connections are closed by now; answers are dropped) */
    bdurable_drain(&gc->waits);
    for (int i = 0; i < gc->ngroups; i++)
        for (gmember *m = gc->groups[i]->members; m; m = m->next) {
            answer_join_err(m, KERR_COORDINATOR_NOT_AVAILABLE);
            g_answer_sync(gc->groups[i], m, KERR_COORDINATOR_NOT_AVAILABLE);
        }
    while (gc->ngroups) gc_remove(gc, gc->groups[gc->ngroups - 1]);
    gstore_txn_free(gc);
    free(gc->groups);
    free(gc);
    b->groups = NULL;
}

/* ------------------------------------------------------------------ views ---- */

void group_foreach_offset(broker *b, group_offset_cb cb, void *arg)
{
    group_coord *gc = b->groups;
    if (!gc) return;
    for (int i = 0; i < gc->ngroups; i++) {
        group *g = gc->groups[i];
        for (int j = 0; j < g->noffs; j++)
            cb(arg, g->id, g->offs[j].topic, g->offs[j].partition, g->offs[j].offset);
    }
}

void group_state_counts(broker *b, int counts[4])
{
    memset(counts, 0, 4 * sizeof counts[0]);
    group_coord *gc = b->groups;
    if (!gc) return;
    for (int i = 0; i < gc->ngroups; i++) counts[gc->groups[i]->state]++;
}
