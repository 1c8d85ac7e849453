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

#endif
