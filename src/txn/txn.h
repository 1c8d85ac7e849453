/* txn — the transaction coordinator (KIP-98, with KIP-360's epoch bump and KIP-447's group
 * checks) for the rest of eddyd.
 *
 * Serves InitProducerId (with and without a transactional id), AddPartitionsToTxn,
 * AddOffsetsToTxn, EndTxn, DescribeTransactions and ListTransactions (rows in txn_handlers[]);
 * keeps every transactional id's state in the internal compacted topic __transaction_state
 * (Kafka's TransactionLogKey/TransactionLogValue records) and rebuilds it at start-up,
 * finishing any transaction that was between PrepareCommit/PrepareAbort and its Complete state.
 * The end markers themselves are written through the broker (part_write_marker); the offsets of
 * TxnOffsetCommit live in the group coordinator (group_txn_end).
 *
 * Lifecycle: txn_coord_start(b) after group_coord_start, txn_coord_stop(b) before
 * group_coord_stop; txn_on_flush(b) whenever the storage flusher reports progress.
 */
#ifndef EDDY_TXN_TXN_H
#define EDDY_TXN_TXN_H

#include <stdint.h>

#include "broker/broker.h"

#define TXN_STATE_TOPIC "__transaction_state"
#define TXN_ID_MAX 255 /* longer transactional ids are refused with INVALID_REQUEST */

extern const bhandler_table txn_handlers;

int txn_coord_start(broker *b);
void txn_coord_stop(broker *b);
void txn_on_flush(broker *b);

/* For /metrics: transactions open now (Ongoing or completing) and the age in ms of the oldest. */
void txn_open_stats(broker *b, int *open, int64_t *oldest_age_ms);

#endif
