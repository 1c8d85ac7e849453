/* model — the coordinator's data model: the table of groups, members, pending member ids and
 * committed offsets of a group (see group_int.h). Plain data, no I/O and no state machine:
 * below both coord.c (the state machine) and store.c (the __consumer_offsets records).
 */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "group/group_int.h"

const char *const group_state_names[4] = {"Empty", "PreparingRebalance", "CompletingRebalance",
                                          "Stable"};

const char *g_state_name(enum gstate s)
{
    return group_state_names[s];
}

/* A group id is stored, looked up and logged as a C string: a NUL would make `a\0b` act on
 * group `a`, and control characters would forge log lines and file contents. Both refused. */
int g_valid_id(const char *id, size_t len)
{
    if (!id || len == 0 || len > GROUP_ID_MAX || has_ctl_chars(id, len))
        return KERR_INVALID_GROUP_ID;
    return KERR_NONE;
}

void g_set_state(group *g, enum gstate s)
{
    g->state = s;
    g->state_ts = now_wall_ms();
}

/* ------------------------------------------------------------------ registry ---- */

group *gc_find(group_coord *gc, const char *id)
{
    for (int i = 0; i < gc->ngroups; i++)
        if (!strcmp(gc->groups[i]->id, id)) return gc->groups[i];
    return NULL;
}

group *gc_create(group_coord *gc, const char *id)
{
    group *g = xcalloc(1, sizeof *g);
    g->id = xstrdup(id);
    g->protocol_type = xstrdup("");
    g->state = GS_EMPTY;
    g->state_ts = now_wall_ms();
    if (gc->ngroups == gc->agroups) {
        gc->agroups = gc->agroups ? gc->agroups * 2 : 16;
        gc->groups = xrealloc(gc->groups, (size_t)gc->agroups * sizeof *gc->groups);
    }
    gc->groups[gc->ngroups++] = g;
    return g;
}

const gproto *g_member_proto(const gmember *m, const char *name)
{
    if (!name) return NULL;
    for (int i = 0; i < m->nprotos; i++)
        if (!strcmp(m->protos[i].name, name)) return &m->protos[i];
    return NULL;
}

void g_member_rows(const group *g, bool meta, kmsg *m, kfid rows, kfid id, kfid instance,
                   kfid metadata)
{
    k_new_items(m, rows, g->nmembers);
    int i = 0;
    for (const gmember *x = g->members; x; x = x->next, i++) {
        kmsg *it = k_item(m, rows, i);
        k_set_str(it, id, x->id);
        k_set_str(it, instance, x->instance_id);
        const gproto *p = meta ? g_member_proto(x, g->protocol) : NULL;
        k_set_bytes(it, metadata, p && p->meta ? (const void *)p->meta : "", p ? p->len : 0);
    }
}

void g_member_free(gmember *m)
{
    free(m->id);
    free(m->instance_id);
    free(m->client_id);
    free(m->client_host);
    for (int i = 0; i < m->nprotos; i++) {
        free(m->protos[i].name);
        free(m->protos[i].meta);
    }
    free(m->protos);
    free(m->assign);
    free(m);
}

static void group_free(group *g)
{
    while (g->members) {
        gmember *m = g->members;
        g->members = m->next;
        g_member_free(m);
    }
    while (g->pending) {
        gpending *p = g->pending;
        g->pending = p->next;
        free(p->id);
        free(p);
    }
    g_offsets_free(g);
    free(g->id);
    free(g->protocol_type);
    free(g->protocol);
    free(g->leader);
    free(g);
}

void gc_remove(group_coord *gc, group *g)
{
    for (int i = 0; i < gc->ngroups; i++)
        if (gc->groups[i] == g) {
            memmove(&gc->groups[i], &gc->groups[i + 1],
                    (size_t)(gc->ngroups - i - 1) * sizeof *gc->groups);
            gc->ngroups--;
            break;
        }
    group_free(g);
}

gmember *g_member(group *g, const char *id)
{
    for (gmember *m = g->members; m; m = m->next)
        if (!strcmp(m->id, id)) return m;
    return NULL;
}

gmember *g_member_by_instance(group *g, const char *instance_id)
{
    if (!instance_id) return NULL;
    for (gmember *m = g->members; m; m = m->next)
        if (m->instance_id && !strcmp(m->instance_id, instance_id)) return m;
    return NULL;
}

gmember *g_add_member(group *g, const char *id)
{
    gmember *m = xcalloc(1, sizeof *m);
    m->id = xstrdup(id);
    gmember **pp = &g->members;
    while (*pp) pp = &(*pp)->next;
    *pp = m;
    g->nmembers++;
    return m;
}

bool g_is_pending(group *g, const char *id)
{
    for (gpending *p = g->pending; p; p = p->next)
        if (!strcmp(p->id, id)) return true;
    return false;
}

void g_add_pending(group *g, const char *id, int64_t deadline)
{
    gpending *p = xcalloc(1, sizeof *p);
    p->id = xstrdup(id);
    p->deadline_ms = deadline;
    p->next = g->pending;
    g->pending = p;
}

void g_remove_pending(group *g, const char *id)
{
    for (gpending **pp = &g->pending; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->id, id)) {
            gpending *p = *pp;
            *pp = p->next;
            free(p->id);
            free(p);
            return;
        }
}

/* ------------------------------------------------------------------ offsets table ---- */

goffset *g_offset_find(group *g, const char *topic, int32_t partition)
{
    for (int i = 0; i < g->noffs; i++)
        if (g->offs[i].partition == partition && !strcmp(g->offs[i].topic, topic))
            return &g->offs[i];
    return NULL;
}

goffset *g_offset_put(group *g, const char *topic, int32_t partition)
{
    goffset *o = g_offset_find(g, topic, partition);
    if (o) return o;
    if (g->noffs == g->aoffs) {
        g->aoffs = g->aoffs ? g->aoffs * 2 : 8;
        g->offs = xrealloc(g->offs, (size_t)g->aoffs * sizeof *g->offs);
    }
    o = &g->offs[g->noffs++];
    memset(o, 0, sizeof *o);
    o->topic = xstrdup(topic);
    o->partition = partition;
    o->offset = -1;
    o->leader_epoch = -1;
    o->metadata = xstrdup("");
    return o;
}

void g_offset_del(group *g, goffset *o)
{
    free(o->topic);
    free(o->metadata);
    int i = (int)(o - g->offs);
    memmove(&g->offs[i], &g->offs[i + 1], (size_t)(g->noffs - i - 1) * sizeof *g->offs);
    g->noffs--;
}

void g_offsets_free(group *g)
{
    for (int i = 0; i < g->noffs; i++) {
        free(g->offs[i].topic);
        free(g->offs[i].metadata);
    }
    free(g->offs);
    g->offs = NULL;
    g->noffs = g->aoffs = 0;
}
