/* group — the consumer-group coordinator's public face for the rest of eddyd.
 *
 * The coordinator (src/group/) serves FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
 * LeaveGroup, ListGroups, DescribeGroups, DeleteGroups, OffsetCommit, OffsetFetch,
 * OffsetDelete and TxnOffsetCommit (rows in group_handlers[]), keeps committed offsets and group
 * metadata in the internal compacted topic __consumer_offsets (Kafka's own record formats),
 * and rebuilds its state from that topic at start-up.
 *
 * Lifecycle: group_coord_start(b) after topics_load, group_coord_stop(b) at
 * shutdown; group_on_flush(b) whenever the storage flusher reports progress (answers
 * OffsetCommit requests whose records became durable).
 */
#ifndef EDDY_GROUP_GROUP_H
#define EDDY_GROUP_GROUP_H

#include <stdint.h>

#include "broker/broker.h"

#define GROUP_OFFSETS_TOPIC "__consumer_offsets"

/* The coordinator's dispatch rows (FindCoordinator, Join/Sync/Heartbeat, ...), indexed by API
 * key; eddyd's main registers them (dispatch_register). */
extern const bhandler_table group_handlers;

/* Lifecycle: after the broker has loaded its topics / at shutdown, before the topics close. */
int group_coord_start(broker *b);
void group_coord_stop(broker *b);

void group_on_flush(broker *b);

/* Transactions (src/txn): the transaction coordinator wrote producer pid's end marker into
 * __consumer_offsets; the offsets it staged with TxnOffsetCommit take effect (commit) or are
 * dropped (abort). The partition of __consumer_offsets that holds group `gid`'s records: */
void group_txn_end(broker *b, int64_t pid, bool commit);
int32_t group_offsets_partition(broker *b, const char *gid);

/* Read-only views for /metrics and admin tools (loop thread only). */
typedef void (*group_offset_cb)(void *arg, const char *group, const char *topic, int32_t partition,
                                int64_t offset);
void group_foreach_offset(broker *b, group_offset_cb cb, void *arg);

/* Number of groups in each state: Empty, PreparingRebalance, CompletingRebalance, Stable. */
void group_state_counts(broker *b, int counts[4]);
extern const char *const group_state_names[4];

/* Admin views and actions for the web console's JSON API (src/console; loop thread only). The
 * strings and bytes a callback sees are valid during the call only. */
typedef struct group_view {
    const char *id, *state, *protocol_type, *protocol, *leader;
    int32_t generation;
    int nmembers;
    int64_t state_ts; /* wall ms of the last state change */
} group_view;
typedef struct group_member_view {
    const char *id, *instance_id, *client_id, *client_host;
    const uint8_t *assignment; /* the leader's assignment bytes (consumer protocol), may be NULL */
    int32_t assignment_len;
} group_member_view;
typedef struct group_offset_view {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t commit_ts; /* wall ms of the commit */
} group_offset_view;
void group_foreach_group(broker *b, void (*cb)(void *arg, const group_view *g), void *arg);
/* One group's view, its members and its committed offsets; -1 when there is no such group. */
int group_describe(broker *b, const char *gid, void (*group_cb)(void *arg, const group_view *g),
                   void (*member_cb)(void *arg, const group_member_view *m),
                   void (*offset_cb)(void *arg, const group_offset_view *o), void *arg);
/* An administrative commit of n offsets for group gid (offset reset): refused with
 * KERR_NON_EMPTY_GROUP while the group has members, KERR_INVALID_GROUP_ID for a bad id,
 * KERR_UNKNOWN_TOPIC_OR_PARTITION for a partition that does not exist (nothing written then).
 * Creates an offsets-only group if there is none. On KERR_NONE the records are appended;
 * they are durable once plog_durable_offset(*log) >= *end (*log NULL: nothing to wait for). */
int group_admin_commit(broker *b, const char *gid, int n, const group_offset_view *offs, plog **log,
                       int64_t *end);

#endif
