/* saga.h — libeddy saga orchestration: a saga is a list of steps, each a command sent through
 * the outbox, the reply events that complete or fail it, a compensation, a timeout and a number
 * of attempts. Instances are persisted in the orchestrator's database in the same transaction
 * as the commands they send; replies are consumed through the service's inbox (idempotent);
 * a failed step runs the compensations of the completed steps in reverse order, a timed-out
 * step (its outcome unknown) is compensated too. Crash and restart at any point: every instance
 * carries on from its persisted state. Documented in docs/sagas.md.
 *
 * Protocol between orchestrator and participants (all events are ordinary envelopes):
 *   command: published to the step's command_topic, key = saga id, payload = the step's
 *            payload plus "sagaId", "step", "replyTo" (topic) and "idempotencyKey"
 *            ("<saga id>:<step>:do" or ":undo"; the same on every resend of that command, so a
 *            participant that keys its effect on it applies each command once in effect).
 *   reply:   published by the participant to replyTo, in the handler of the command (so its
 *            causationId is the command's eventId: that is how the orchestrator matches it).
 *            eddy_saga_reply does this for the participant. */
#ifndef EDDY_SAGA_H
#define EDDY_SAGA_H

#include <stdint.h>

#include "eddy/eddy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Builds a command's payload from the saga's data (a new reference; NULL: a copy of data).
 * data holds what the saga started with plus, under each completed step's name, the payload
 * of its success reply. */
typedef json_t *(*eddy_saga_payload_fn)(const json_t *data, void *arg);

typedef struct eddy_saga_step {
    const char *name; /* [a-z0-9_-]{1,64}, unique in the saga */
    const char *command_topic;
    const char *command_type; /* event type of the command, e.g. "account.debit" */
    eddy_saga_payload_fn command;
    const char *const *success;    /* reply types completing the step (NULL-terminated) */
    const char *const *failure;    /* reply types failing it (may be NULL) */
    const char *compensation_type; /* NULL: nothing to undo */
    eddy_saga_payload_fn compensation;
    const char *const *compensated; /* reply types confirming the compensation */
    int timeout_ms;                 /* per attempt (default 10000) */
    int max_attempts; /* sends before a silent step fails (default 3); also for compensations,
                       * after which the instance is flagged stuck */
} eddy_saga_step;

typedef struct eddy_saga_def {
    const char *name;        /* saga type, [a-z0-9_.-]{1,64} */
    const char *reply_topic; /* where participants reply (the orchestrator consumes it) */
    const eddy_saga_step *steps;
    int nsteps;
    /* Called in the transaction that ends an instance (state "completed" or "compensated";
     * reason is NULL when completed). >= 0 or the transition is retried. May be NULL. */
    int (*on_end)(eddy_tx *tx, const char *saga_id, const char *state, const char *reason,
                  const json_t *data, void *arg);
    void *arg;
} eddy_saga_def;

typedef struct eddy_saga eddy_saga;

/* Attaches the orchestrator for def to svc (before eddy_service_start): handlers on
 * reply_topic, a timer thread for deadlines, and on the service's HTTP port
 *   GET /sagas (instances, newest first; ?state= is not parsed: use /sagas/state/{state}),
 *   GET /sagas/stuck, GET /sagas/{id} (with its history), POST /sagas/{id}/retry,
 * metrics eddy_saga_instances{state}, eddy_saga_stuck, eddy_saga_*_total. def (and its
 * steps' strings) must outlive the service. A saga name is attached once per process (again, on
 * any service: EDDY_ERR_CONFLICT), since eddy_saga_show finds a definition by its name. */
int eddy_saga_attach(eddy_service *svc, const eddy_saga_def *def, eddy_saga **out);

/* Starts an instance in tx (the caller's unit of work: its own rows and the first command
 * commit together). id: the saga id (NULL: a new UUID; at most 100 bytes of [A-Za-z0-9_.:-]).
 * data (stolen) must be a JSON object. id_out (101 bytes) may be NULL.
 * EDDY_ERR_CONFLICT if an instance with this id exists. */
int eddy_saga_begin(eddy_tx *tx, eddy_saga *s, const char *id, json_t *data, char *id_out);

/* State of one instance: "running", "compensating", "completed", "compensated" (malloc'd JSON
 * of the instance, as GET /sagas/{id}); NULL with EDDY_ERR_NOT_FOUND in *rc if unknown. */
char *eddy_saga_show(eddy_store *st, const char *id, int *rc);

/* ---- participant side --------------------------------------------------------------------- */
/* Inside the handler of a saga command: publishes the reply (type, payload stolen) to the
 * command's replyTo, keyed by the saga id, with sagaId and idempotencyKey added. */
int eddy_saga_reply(eddy_ctx *ctx, const char *type, json_t *payload);
/* The command's idempotency key (NULL if the event is not a saga command). */
const char *eddy_saga_idempotency_key(const eddy_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
