/* admin — read-only views of the groups and the administrative offset commit the web console's
 * JSON API uses (group.h: group_foreach_group, group_describe, group_admin_commit). Loop thread
 * only, like the rest of the coordinator. */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "group_int.h"

static void fill_view(const group *g, group_view *v)
{
    *v = (group_view){
        .id = g->id,
        .state = g_state_name(g->state),
        .protocol_type = g->protocol_type ? g->protocol_type : "",
        .protocol = g->protocol ? g->protocol : "",
        .leader = g->leader ? g->leader : "",
        .generation = g->generation,
        .nmembers = g->nmembers,
        .state_ts = g->state_ts,
    };
}

void group_foreach_group(broker *b, void (*cb)(void *arg, const group_view *g), void *arg)
{
    group_coord *gc = b->groups;
    if (!gc) return;
    for (int i = 0; i < gc->ngroups; i++) {
        group_view v;
        fill_view(gc->groups[i], &v);
        cb(arg, &v);
    }
}

int group_describe(broker *b, const char *gid, void (*group_cb)(void *arg, const group_view *g),
                   void (*member_cb)(void *arg, const group_member_view *m),
                   void (*offset_cb)(void *arg, const group_offset_view *o), void *arg)
{
    group_coord *gc = b->groups;
    group *g = gc && gid ? gc_find(gc, gid) : NULL;
    if (!g) return -1;
    if (group_cb) {
        group_view v;
        fill_view(g, &v);
        group_cb(arg, &v);
    }
    for (gmember *m = g->members; m && member_cb; m = m->next) {
        group_member_view mv = {m->id,          m->instance_id, m->client_id,
                                m->client_host, m->assign,      m->assign_len};
        member_cb(arg, &mv);
    }
    for (int j = 0; j < g->noffs && offset_cb; j++) {
        const goffset *o = &g->offs[j];
        group_offset_view ov = {o->topic, o->partition, o->offset, o->commit_ts};
        offset_cb(arg, &ov);
    }
    return 0;
}

int group_admin_commit(broker *b, const char *gid, int n, const group_offset_view *offs, plog **log,
                       int64_t *end)
{
    *log = NULL;
    *end = -1;
    group_coord *gc = b->groups;
    if (!gc) return KERR_COORDINATOR_NOT_AVAILABLE;
    if (!gid || g_valid_id(gid, strlen(gid)) != KERR_NONE || !gid[0]) return KERR_INVALID_GROUP_ID;
    for (int i = 0; i < n; i++) {
        btopic *t = topic_find(b, offs[i].topic);
        if (!t || offs[i].partition < 0 || offs[i].partition >= t->nparts || offs[i].offset < 0)
            return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    group *g = gc_find(gc, gid);
    if (g && (g->nmembers > 0 || g->state != GS_EMPTY)) return KERR_NON_EMPTY_GROUP;
    if (!g) g = gc_create(gc, gid);
    int64_t now = now_wall_ms();
    grecs *rs = grecs_new();
    for (int i = 0; i < n; i++) {
        goffset *o = g_offset_put(g, offs[i].topic, offs[i].partition);
        o->offset = offs[i].offset;
        o->leader_epoch = -1;
        free(o->metadata);
        o->metadata = xstrdup("");
        o->metadata_len = 0;
        o->commit_ts = now;
        grecs_offset(rs, g->id, offs[i].topic, offs[i].partition, o);
    }
    int rc = grecs_append(gc, rs, log, end);
    grecs_free(rs);
    return rc;
}
