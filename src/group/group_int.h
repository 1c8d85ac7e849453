/* group_int — the coordinator's internal model, shared by coord.c (state machine), store.c
 * (committed offsets and the __consumer_offsets records) and handlers.c (Kafka APIs).
 *
 * Everything runs on the broker's loop thread. Groups, members and offsets are plain heap
 * objects owned by the coordinator; parked JoinGroup/SyncGroup requests hang off members.
 */
#ifndef EDDY_GROUP_GROUP_INT_H
#define EDDY_GROUP_GROUP_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "broker/broker.h"
#include "group/group.h"

#define GROUP_ID_MAX 255 /* longer group ids are refused with INVALID_GROUP_ID */
#define GROUP_TICK_MS 100

enum gstate { GS_EMPTY = 0, GS_PREPARING = 1, GS_COMPLETING = 2, GS_STABLE = 3 };

typedef struct gproto {
    char *name;
    uint8_t *meta;
    int32_t len;
} gproto;

typedef struct gmember {
    struct gmember *next;
    char *id;
    char *instance_id; /* NULL = dynamic member */
    char *client_id, *client_host;
    int32_t session_ms, rebalance_ms;
    gproto *protos;
    int nprotos;
    uint8_t *assign;
    int32_t assign_len;
    breq *join_req; /* parked JoinGroup */
    int16_t join_version;
    breq *sync_req;      /* parked SyncGroup */
    int64_t deadline_ms; /* session expiry (loop clock) */
} gmember;

typedef struct gpending {
    struct gpending *next;
    char *id;
    int64_t deadline_ms;
} gpending;

typedef struct goffset {
    char *topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    char *metadata;       /* NUL-terminated, but may hold NUL bytes itself: */
    int32_t metadata_len; /* its length (Kafka's string is length-prefixed) */
    int64_t commit_ts;    /* wall ms */
} goffset;

/* The metadata's length: metadata_len when set, else (an offset filled without it) strlen. */
static inline int32_t goffset_meta_len(const goffset *o)
{
    if (!o->metadata) return 0;
    return o->metadata_len > 0 ? o->metadata_len : (int32_t)strlen(o->metadata);
}

typedef struct group {
    char *id;
    enum gstate state;
    int32_t generation;
    char *protocol_type; /* "" for groups that only commit offsets */
    char *protocol;      /* chosen protocol, NULL unless Completing/Stable */
    char *leader;
    gmember *members; /* in join order */
    int nmembers;
    gpending *pending;
    int64_t state_ts;       /* wall ms of the last state change (currentStateTimestamp) */
    int64_t phase_deadline; /* join phase (Preparing) or sync phase (Completing) deadline */
    int64_t initial_until, initial_limit; /* initial rebalance delay of an Empty group */
    goffset *offs;
    int noffs, aoffs;
} group;

/* An offset record of an open transaction (TxnOffsetCommit): written to __consumer_offsets as a
 * transactional batch of the producer, applied when its commit marker arrives, dropped on abort.
 * Raw key/value bytes as written, replayed through gstore_apply. */
typedef struct gtxnrec {
    struct gtxnrec *next;
    int64_t pid;
    uint8_t *key, *val;
    int32_t klen, vlen;
} gtxnrec;

typedef struct group_coord {
    broker *b;
    group **groups;
    int ngroups, agroups;
    btopic *otopic; /* __consumer_offsets */
    loop_timer *tick;
    bdurable *waits; /* answers waiting for __consumer_offsets to be durable */
    int64_t next_expire_ms;
    bool stopping;
    gtxnrec *txn_recs; /* staged transactional offset records, oldest first */
} group_coord;

/* coord.c: expires g's silent members, unused pending ids and overdue rebalance phases now
 * (the timer does it at each deadline; handlers that answer with a group's membership call it
 * first so an answer never shows a member whose session has already ended). */
void g_check_due(group_coord *gc, group *g);

/* ---- model.c: the group table, members, pending ids, committed offsets ---- */
group *gc_find(group_coord *gc, const char *id);
group *gc_create(group_coord *gc, const char *id);
void gc_remove(group_coord *gc, group *g);
gmember *g_member(group *g, const char *id);
gmember *g_member_by_instance(group *g, const char *instance_id);
/* m's protocol named name (its metadata), or NULL (also for a NULL name). */
const gproto *g_member_proto(const gmember *m, const char *name);
/* g's members as the rows of array field rows of m (JoinGroup's answer to the leader,
 * DescribeGroups), in member order: member id, group instance id and, when meta, the member's
 * metadata for the group's protocol (empty when not meta or it has none). */
void g_member_rows(const group *g, bool meta, kmsg *m, kfid rows, kfid id, kfid instance,
                   kfid metadata);
const char *g_state_name(enum gstate s);
void g_set_state(group *g, enum gstate s);
/* Validates a group id: returns KERR_NONE or KERR_INVALID_GROUP_ID. */
int g_valid_id(const char *id, size_t len);
void g_remove_pending(group *g, const char *id);
bool g_is_pending(group *g, const char *id);
void g_add_pending(group *g, const char *id, int64_t deadline);
gmember *g_add_member(group *g, const char *id);
void g_member_free(gmember *m);
goffset *g_offset_find(group *g, const char *topic, int32_t partition);
goffset *g_offset_put(group *g, const char *topic, int32_t partition);
void g_offset_del(group *g, goffset *o);
void g_offsets_free(group *g);

/* ---- coord.c: the state machine ---- */
group_coord *gc_of(broker *b);
void g_prepare_rebalance(group_coord *gc, group *g, const char *why);
void g_try_complete_join(group_coord *gc, group *g);
void g_complete_join(group_coord *gc, group *g);
/* Removes a member; a parked Join/Sync of it is answered with `err`. Then rebalances (or
 * completes a rebalance in progress). */
void g_remove_member(group_coord *gc, group *g, gmember *m, int err, const char *why);
/* Fills a JoinGroup response for member m of g (current generation). */
void g_fill_join_resp(group *g, gmember *m, breq *r, int err);
/* Answers a parked SyncGroup with err and m's assignment. */
void g_answer_sync(group *g, gmember *m, int err);
void g_persist(group_coord *gc, group *g);

/* ---- store.c: the __consumer_offsets records ---- */

/* A pending batch of __consumer_offsets records. */
typedef struct grecs grecs;
grecs *grecs_new(void);
void grecs_free(grecs *rs);
int grecs_count(const grecs *rs);
void grecs_offset(grecs *rs, const char *gid, const char *topic, int32_t partition,
                  const goffset *val /* NULL = tombstone */);
void grecs_group(grecs *rs, const group *g, bool tombstone);
/* Appends the records as one batch. Returns KERR_NONE (and where to wait for durability)
 * or a KERR_* code. */
int grecs_append(group_coord *gc, grecs *rs, plog **log, int64_t *end_offset);
/* Appends and parks `r` until durable (or answers at once when nothing was written). */
void grecs_append_and_reply(group_coord *gc, grecs *rs, breq *r, void (*on_err)(breq *, int));
/* The same for a transaction's offsets (TxnOffsetCommit): one transactional batch of producer
 * pid/epoch, its records staged until the transaction's marker (gstore_txn_end). */
void grecs_append_txn_and_reply(group_coord *gc, grecs *rs, int64_t pid, int16_t epoch, breq *r,
                                void (*on_err)(breq *, int));
/* The end of producer pid's transaction: its staged offsets take effect (commit) or vanish. */
void gstore_txn_end(group_coord *gc, int64_t pid, bool commit);
void gstore_txn_free(group_coord *gc);
/* Does an open transaction hold an offset of group gid for topic/partition? */
bool gstore_txn_pending(group_coord *gc, const char *gid, const char *topic, int32_t part);
/* Builds a whole batch (exported for unit tests). Returns malloc()ed bytes. */
uint8_t *grecs_build_batch(const grecs *rs, int64_t now_ms, size_t *len);
/* Applies one __consumer_offsets record (replay). */
void gstore_apply(group_coord *gc, const uint8_t *key, int32_t klen, const uint8_t *val,
                  int32_t vlen);
int gstore_load(group_coord *gc);
/* Parses every record of a buffer of batches and applies it; returns batches seen. */
int gstore_apply_batches(group_coord *gc, const uint8_t *p, size_t len);
/* Expires offsets of Empty groups older than offsets.retention.minutes; drops empty groups. */
void gstore_expire(group_coord *gc, int64_t now_wall);

#endif
