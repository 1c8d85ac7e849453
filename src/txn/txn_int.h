/* txn_int — the transaction coordinator's internal model, shared by coord.c (state machine,
 * __transaction_state records, completion, timeouts) and handlers.c (Kafka APIs).
 * Everything runs on the broker's loop thread.
 */
#ifndef EDDY_TXN_TXN_INT_H
#define EDDY_TXN_TXN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"
#include "common/buf.h"
#include "txn/txn.h"

enum tstate {
    TS_EMPTY = 0,
    TS_ONGOING = 1,
    TS_PREPARE_COMMIT = 2,
    TS_PREPARE_ABORT = 3,
    TS_COMPLETE_COMMIT = 4,
    TS_COMPLETE_ABORT = 5,
    TS_DEAD = 6,
};

enum { TR_END_TXN = 0, TR_INIT_PID = 1 };

typedef struct tpart {
    char *topic;
    int32_t part;
} tpart;

typedef struct tmwait {
    char *topic;
    int32_t part;
    int64_t need; /* the marker is durable once the partition's durable offset reaches this */
} tmwait;

typedef struct txn {
    char *id;
    int64_t pid;
    int16_t epoch, last_epoch; /* last_epoch: the epoch before the latest bump (KIP-360) */
    int32_t timeout_ms;
    int state; /* enum tstate */
    tpart *parts;
    int nparts, aparts;
    int64_t start_ms, update_ms; /* wall clock */
    /* completion in progress (Prepare* written, markers on their way) */
    bool completing, retry;
    tmwait *waits;
    int nwaits;
    breq *reply; /* EndTxn or InitProducerId answered when the completion is done */
    int reply_kind;
    int32_t reply_timeout_ms; /* InitProducerId: the timeout it asked for */
} txn;

typedef struct txn_coord {
    broker *b;
    txn **v;
    int n, a;
    btopic *stopic; /* __transaction_state */
    loop_timer *tick;
    bdurable *waits; /* answers waiting for __transaction_state to be durable */
    int skipped;
    uint64_t timed_out; /* transactions aborted by their timeout */
} txn_coord;

/* One decoded __transaction_state record (pointers into the record's bytes). */
typedef struct txn_rec {
    const char *id;
    size_t id_len;
    bool tombstone;
    int64_t pid;
    int16_t epoch;
    int32_t timeout_ms;
    int8_t state;
    int32_t ntopics, nparts;
    const uint8_t *parts_at, *parts_end; /* the transactionPartitions array's elements */
    int64_t update_ms, start_ms;
} txn_rec;

txn_coord *tc_of(broker *b);
txn *tc_find(txn_coord *tc, const char *id, size_t len);
txn *tc_create(txn_coord *tc, const char *id, size_t len);
void tc_remove(txn_coord *tc, txn *t);
bool txn_has_part(const txn *t, const char *topic, int32_t part);
void txn_add_part(txn *t, const char *topic, int32_t part);
const char *txn_state_name(int s);
int txn_state_parse(const char *s, size_t n);

/* Record codec (exported for the fuzz target and unit tests). decode returns 0 or -1. */
void txn_encode(const txn *t, wbuf *key, wbuf *val);
int txn_decode(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, txn_rec *out);
/* Decodes one record (val NULL = tombstone) and applies it to tc's table (start-up replay and
 * the fuzz target). Returns 0 or -1 (not understood: counted in tc->skipped). */
int txn_replay(txn_coord *tc, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);
void txn_table_free(txn_coord *tc);

int64_t txn_persist(txn_coord *tc, txn *t);
void txn_reply_when_durable(txn_coord *tc, breq *r, int64_t need);
/* Starts the two-phase completion (commit or abort) of t's transaction. */
void txn_complete(txn_coord *tc, txn *t, bool commit, bool write_prepare);
void txn_check_complete(txn_coord *tc, txn *t);
/* Answers an InitProducerId parked behind the abort of t's open transaction. */
void txn_answer_init_pid(txn_coord *tc, txn *t, breq *r);
void txn_crash_point(const char *where);

#endif
