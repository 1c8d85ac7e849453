/* saga.c — libeddy saga orchestration (saga.h): persistent instances, commands through the
 * outbox in the transaction that moves the instance, replies matched by causation id and
 * consumed through the service's inbox, deadlines driven by a timer thread, compensation in
 * reverse order, stuck instances flagged; HTTP and metrics on the service's port.
 * Part of src/sdk (libeddy).
 *
 * State machine of an instance (state, step, attempt):
 *   running(i)       success reply of step i → running(i+1), or completed after the last
 *                    failure reply          → compensating(i-1)
 *                    deadline, attempts left → resend step i's command (same idempotency key)
 *                    deadline, none left     → compensating(i) (outcome unknown: undo it too)
 *   compensating(i)  steps without a compensation are passed over; the compensation of step
 *                    i is sent; its reply → compensating(i-1); below step 0 → compensated
 *                    deadline, attempts left → resend; none left → flagged stuck (an operator
 *                    retries it: POST /sagas/{id}/retry, `eddy sagas retry`)
 * A reply that does not match the instance's current (state, step, command) — late, after a
 * timeout, or a duplicate of an earlier one — is recorded in the history and ignored.
 *
 * Tables:
 *   eddy_sagas         (id PK, saga_type, state, step, attempt, data, correlation_id, reason,
 *                       stuck, deadline_ms, created_ms, updated_ms, created_at, updated_at,
 *                       hist_n, lock_seq)
 *   eddy_saga_commands (event_id PK = the command's eventId, saga_id, step, kind do|undo,
 *                       attempt, sent_at)
 *   eddy_saga_history  (saga_id, n, at, entry; PK saga_id, n)
 * On PostgreSQL every transition first bumps lock_seq (UPDATE), which row-locks the instance,
 * so the reply handler and the timer thread never both move it; SQLite writers are serialised
 * by BEGIN IMMEDIATE. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/saga.h"
#include "service_int.h"

#define SAGA_DEFAULT_TIMEOUT_MS 10000
#define SAGA_DEFAULT_ATTEMPTS 3
#define SAGA_STUCK_GRACE_MS 5000

struct eddy_saga {
    eddy_saga_def def;
    eddy_service *svc;
    eddy_store *st; /* the timer thread's */
    pthread_t th;
    int running;
    atomic_int stop;
    int timer_ms;
    _Atomic int64_t started, completed, compensated, timeouts, ignored, resent;
};

static const char SAGA_DDL[] =
    "CREATE TABLE IF NOT EXISTS eddy_sagas ("
    " id TEXT PRIMARY KEY, saga_type TEXT NOT NULL, state TEXT NOT NULL, step INTEGER NOT NULL,"
    " attempt INTEGER NOT NULL, data TEXT NOT NULL, correlation_id TEXT NOT NULL, reason TEXT,"
    " stuck INTEGER NOT NULL DEFAULT 0, deadline_ms BIGINT, created_ms BIGINT NOT NULL,"
    " updated_ms BIGINT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
    " hist_n INTEGER NOT NULL DEFAULT 0, lock_seq BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS eddy_sagas_due ON eddy_sagas(state, deadline_ms);"
    "CREATE TABLE IF NOT EXISTS eddy_saga_commands ("
    " event_id TEXT PRIMARY KEY, saga_id TEXT NOT NULL, step INTEGER NOT NULL,"
    " kind TEXT NOT NULL, attempt INTEGER NOT NULL, sent_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS eddy_saga_history ("
    " saga_id TEXT NOT NULL, n INTEGER NOT NULL, at TEXT NOT NULL, entry TEXT NOT NULL,"
    " PRIMARY KEY (saga_id, n));";

/* the attached sagas of this process */
static sdk_attached g_attached = {"saga", 0, "/sagas", PTHREAD_MUTEX_INITIALIZER, NULL};

/* ---- fault switch (tests): EDDY_SAGA_CRASH_AFTER=N ---------------------------------------- */
/* The N-th transition of this process ends in SIGKILL: odd N before its commit (inside the
 * transaction), even N after it (at the start of the next saga activity, or right after the
 * commit on the timer thread). */
static atomic_int g_transitions, g_kill_next;

static int crash_after(void)
{
    const char *e = getenv("EDDY_SAGA_CRASH_AFTER");
    return e ? atoi(e) : 0;
}

static void die(const char *why)
{
    sdk_log("saga", "fault switch EDDY_SAGA_CRASH_AFTER: SIGKILL %s", why);
    kill(getpid(), SIGKILL);
}

static void fault_activity(void)
{
    if (atomic_load(&g_kill_next)) die("after the commit of the previous transition");
}

static void fault_transition(int committed)
{
    int n = crash_after();
    if (n <= 0) return;
    int c = atomic_fetch_add(&g_transitions, 1) + 1;
    if (c != n) return;
    if (committed)
        die("after a commit");
    else if (n % 2)
        die("inside a transition, before its commit");
    else
        atomic_store(&g_kill_next, 1);
}

/* ---- helpers ------------------------------------------------------------------------------ */
static int in_list(const char *const *l, const char *s)
{
    for (int i = 0; l && l[i]; i++)
        if (!strcmp(l[i], s)) return 1;
    return 0;
}

static int valid_id(const char *id)
{
    size_t n = strlen(id);
    if (!n || n > 100) return 0;
    for (const char *c = id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '.' || *c == ':' || *c == '-'))
            return 0;
    return 1;
}

static int step_timeout(const eddy_saga_step *st)
{
    return st->timeout_ms > 0 ? st->timeout_ms : SAGA_DEFAULT_TIMEOUT_MS;
}

static int step_attempts(const eddy_saga_step *st)
{
    return st->max_attempts > 0 ? st->max_attempts : SAGA_DEFAULT_ATTEMPTS;
}

typedef struct inst {
    char id[101];
    char type[65];
    char state[16];
    int step, attempt, stuck, hist_n;
    json_t *data;
    char *corr, *reason;
    int64_t deadline; /* -1: none */
} inst;

static void inst_clear(inst *in)
{
    json_decref(in->data);
    free(in->corr);
    free(in->reason);
    memset(in, 0, sizeof *in);
}

/* Loads (and on lock, row-locks) an instance. 1 found, 0 not, < 0 error. */
static int inst_load(eddy_store *st, const char *id, int lock, inst *in)
{
    memset(in, 0, sizeof *in);
    const char *p[] = {id};
    int rc;
    if (lock) {
        rc = eddy_store_exec(st, "UPDATE eddy_sagas SET lock_seq = lock_seq + 1 WHERE id = $1", 1,
                             p);
        if (rc <= 0) return rc;
    }
    eddy_rows *r = NULL;
    rc = eddy_store_query(st,
                          "SELECT id, saga_type, state, step, attempt, data, correlation_id,"
                          " reason, stuck, deadline_ms, hist_n FROM eddy_sagas WHERE id = $1",
                          1, p, &r);
    if (rc <= 0) {
        eddy_rows_free(r);
        return rc;
    }
    snprintf(in->id, sizeof in->id, "%s", eddy_rows_get(r, 0, 0));
    snprintf(in->type, sizeof in->type, "%s", eddy_rows_get(r, 0, 1));
    snprintf(in->state, sizeof in->state, "%s", eddy_rows_get(r, 0, 2));
    in->step = atoi(eddy_rows_get(r, 0, 3));
    in->attempt = atoi(eddy_rows_get(r, 0, 4));
    in->data = json_loads(eddy_rows_get(r, 0, 5), 0, NULL);
    if (!json_is_object(in->data)) {
        json_decref(in->data);
        in->data = json_object();
    }
    in->corr = sdk_xstrdup(eddy_rows_get(r, 0, 6));
    in->reason = eddy_rows_get(r, 0, 7) ? sdk_xstrdup(eddy_rows_get(r, 0, 7)) : NULL;
    in->stuck = atoi(eddy_rows_get(r, 0, 8));
    in->deadline = eddy_rows_get(r, 0, 9) ? atoll(eddy_rows_get(r, 0, 9)) : -1;
    in->hist_n = atoi(eddy_rows_get(r, 0, 10));
    eddy_rows_free(r);
    return 1;
}

static int hist(eddy_store *st, inst *in, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int hist(eddy_store *st, inst *in, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *e = sdk_xvasprintf(fmt, ap);
    va_end(ap);
    char n[16], ts[32];
    snprintf(n, sizeof n, "%d", ++in->hist_n);
    eddy_time_rfc3339(sdk_wall_ms(), ts);
    const char *p[] = {in->id, n, ts, e};
    int rc = eddy_store_exec(st,
                             "INSERT INTO eddy_saga_history (saga_id, n, at, entry)"
                             " VALUES ($1, $2, $3, $4)",
                             4, p);
    free(e);
    return rc < 0 ? rc : 0;
}

static int inst_save(eddy_store *st, inst *in)
{
    char step[16], att[16], stuck[8], dl[24], now[24], ts[32], hn[16];
    int64_t ms = sdk_wall_ms();
    snprintf(step, sizeof step, "%d", in->step);
    snprintf(att, sizeof att, "%d", in->attempt);
    snprintf(stuck, sizeof stuck, "%d", in->stuck);
    snprintf(dl, sizeof dl, "%lld", (long long)in->deadline);
    snprintf(now, sizeof now, "%lld", (long long)ms);
    snprintf(hn, sizeof hn, "%d", in->hist_n);
    eddy_time_rfc3339(ms, ts);
    char *data = json_dumps(in->data, JSON_COMPACT | JSON_SORT_KEYS);
    const char *p[] = {in->id, in->state,  step,  att,
                       data,   in->reason, stuck, in->deadline >= 0 ? dl : NULL,
                       now,    ts,         hn};
    int rc = eddy_store_exec(st,
                             "UPDATE eddy_sagas SET state = $2, step = $3, attempt = $4,"
                             " data = $5, reason = $6, stuck = $7, deadline_ms = $8,"
                             " updated_ms = $9, updated_at = $10, hist_n = $11 WHERE id = $1",
                             11, p);
    free(data);
    return rc < 0 ? rc : 0;
}

/* Sends the command (kind "do") or the compensation ("undo") of the current step. */
static int send_cmd(eddy_tx *tx, eddy_saga *s, inst *in, const char *kind)
{
    eddy_store *st = eddy_tx_store(tx);
    const eddy_saga_step *step = &s->def.steps[in->step];
    int undo = !strcmp(kind, "undo");
    eddy_saga_payload_fn fn = undo ? step->compensation : step->command;
    json_t *payload = fn ? fn(in->data, s->def.arg) : json_deep_copy(in->data);
    if (!json_is_object(payload)) {
        json_decref(payload);
        return sdk_es_fail(EDDY_ERR_PERMANENT, "saga %s step %s: the %s payload is not an object",
                           in->id, step->name, kind);
    }
    char key[200];
    snprintf(key, sizeof key, "%s:%s:%s", in->id, step->name, kind);
    json_object_set_new(payload, "sagaId", json_string(in->id));
    json_object_set_new(payload, "step", json_string(step->name));
    json_object_set_new(payload, "replyTo", json_string(s->def.reply_topic));
    json_object_set_new(payload, "idempotencyKey", json_string(key));
    char eid[37];
    const char *type = undo ? step->compensation_type : step->command_type;
    int rc = eddy_tx_publish(tx, step->command_topic, in->id, type, "1.0", payload, eid);
    if (rc < 0) return sdk_es_store_fail(st, rc, "saga command");
    in->attempt++;
    char stp[16], att[16], ts[32];
    snprintf(stp, sizeof stp, "%d", in->step);
    snprintf(att, sizeof att, "%d", in->attempt);
    eddy_time_rfc3339(sdk_wall_ms(), ts);
    const char *p[] = {eid, in->id, stp, kind, att, ts};
    rc = eddy_store_exec(st,
                         "INSERT INTO eddy_saga_commands (event_id, saga_id, step, kind,"
                         " attempt, sent_at) VALUES ($1, $2, $3, $4, $5, $6)",
                         6, p);
    if (rc < 0) return sdk_es_store_fail(st, rc, "saga command");
    in->deadline = sdk_wall_ms() + step_timeout(step);
    if (in->attempt > 1) atomic_fetch_add(&s->resent, 1);
    return hist(st, in, "%s %s sent to %s (step %s, attempt %d, key %s)",
                undo ? "compensation" : "command", type, step->command_topic, step->name,
                in->attempt, key);
}

static int finish(eddy_tx *tx, eddy_saga *s, inst *in, const char *state)
{
    snprintf(in->state, sizeof in->state, "%s", state);
    in->deadline = -1;
    in->stuck = 0;
    int rc = hist(eddy_tx_store(tx), in, "%s%s%s", state, in->reason ? ": " : "",
                  in->reason ? in->reason : "");
    if (rc < 0) return rc;
    if (s->def.on_end) {
        rc = s->def.on_end(tx, in->id, state, in->reason, in->data, s->def.arg);
        if (rc < 0) return sdk_es_fail(rc, "saga %s: on_end failed", in->id);
    }
    atomic_fetch_add(!strcmp(state, "completed") ? &s->completed : &s->compensated, 1);
    return 0;
}

/* From in->step downwards: the next compensation to send, or the end. */
static int compensate_next(eddy_tx *tx, eddy_saga *s, inst *in)
{
    snprintf(in->state, sizeof in->state, "compensating");
    while (in->step >= 0 && !s->def.steps[in->step].compensation_type) in->step--;
    in->attempt = 0;
    if (in->step < 0) {
        in->step = 0;
        return finish(tx, s, in, "compensated");
    }
    return send_cmd(tx, s, in, "undo");
}

/* ---- replies ------------------------------------------------------------------------------ */
static int on_reply(eddy_ctx *ctx, void *arg)
{
    eddy_saga *s = arg;
    fault_activity();
    /* a transition is its own transaction (its commands, its state): not batched with the
     * next reply, so "after the commit of a transition" means what it says */
    sdk_ctx_end_batch(ctx);
    const eddy_event *ev = eddy_ctx_event(ctx);
    eddy_tx *tx = eddy_ctx_tx(ctx);
    eddy_store *st = eddy_tx_store(tx);
    const char *p[] = {ev->causation_id};
    eddy_rows *r = NULL;
    int rc = eddy_tx_query(tx,
                           "SELECT saga_id, step, kind FROM eddy_saga_commands"
                           " WHERE event_id = $1",
                           1, p, &r);
    if (rc < 0) return eddy_ctx_fail(ctx, EDDY_ERR_TRANSIENT, "saga: %s", eddy_store_error(st));
    if (rc == 0) {
        eddy_rows_free(r);
        atomic_fetch_add(&s->ignored, 1);
        return 0; /* not an answer to one of our commands */
    }
    char id[101], kind[8];
    snprintf(id, sizeof id, "%s", eddy_rows_get(r, 0, 0));
    int step = atoi(eddy_rows_get(r, 0, 1));
    snprintf(kind, sizeof kind, "%s", eddy_rows_get(r, 0, 2));
    eddy_rows_free(r);
    inst in;
    rc = inst_load(st, id, 1, &in);
    if (rc < 0) return eddy_ctx_fail(ctx, EDDY_ERR_TRANSIENT, "saga: %s", eddy_store_error(st));
    if (rc > 0 && strcmp(in.type, s->def.name)) {
        /* another saga of this service whose reply types overlap: the runtime routed the reply
         * to the first one registered for its type */
        pthread_mutex_lock(&g_attached.mu);
        eddy_saga *other = sdk_attached_find(&g_attached, s->svc, in.type, strlen(in.type));
        pthread_mutex_unlock(&g_attached.mu);
        if (other) s = other;
    }
    if (rc == 0 || strcmp(in.type, s->def.name) || step < 0 || step >= s->def.nsteps) {
        inst_clear(&in);
        return 0;
    }
    const eddy_saga_step *sp = &s->def.steps[step];
    int running = !strcmp(in.state, "running"), comp = !strcmp(in.state, "compensating");
    int matches =
        in.step == step && ((running && !strcmp(kind, "do")) || (comp && !strcmp(kind, "undo")));
    if (matches && running && in_list(sp->success, ev->event_type)) {
        json_object_set(in.data, sp->name, ev->payload);
        rc = hist(st, &in, "%s received: step %s done", ev->event_type, sp->name);
        in.step++;
        in.attempt = 0;
        in.stuck = 0;
        if (rc >= 0)
            rc = in.step == s->def.nsteps ? finish(tx, s, &in, "completed")
                                          : send_cmd(tx, s, &in, "do");
    } else if (matches && running && in_list(sp->failure, ev->event_type)) {
        const char *why = json_string_value(json_object_get(ev->payload, "reason"));
        free(in.reason);
        in.reason = sdk_xasprintf("step %s failed: %s%s%s", sp->name, ev->event_type,
                                  why ? ": " : "", why ? why : "");
        rc = hist(st, &in, "%s received: step %s failed; compensating", ev->event_type, sp->name);
        in.step--;
        if (rc >= 0) rc = compensate_next(tx, s, &in);
    } else if (matches && comp && in_list(sp->compensated, ev->event_type)) {
        rc = hist(st, &in, "%s received: step %s compensated", ev->event_type, sp->name);
        in.step--;
        in.stuck = 0;
        if (rc >= 0) rc = compensate_next(tx, s, &in);
    } else {
        atomic_fetch_add(&s->ignored, 1);
        rc = hist(st, &in, "%s for step %s (%s) ignored: instance is %s at step %d", ev->event_type,
                  sp->name, kind, in.state, in.step);
    }
    if (rc >= 0) rc = inst_save(st, &in);
    inst_clear(&in);
    if (rc < 0)
        return eddy_ctx_fail(
            ctx, rc == EDDY_ERR_PERMANENT ? EDDY_ERR_PERMANENT : EDDY_ERR_TRANSIENT, "saga %s: %s",
            id, *eddy_es_error() ? eddy_es_error() : eddy_store_error(st));
    fault_transition(0);
    return 0;
}

/* ---- start -------------------------------------------------------------------------------- */
int eddy_saga_begin(eddy_tx *tx, eddy_saga *s, const char *id, json_t *data, char *id_out)
{
    sdk_es_clear();
    fault_activity();
    char uid[37];
    if (!id) {
        eddy_uuid_generate(uid);
        id = uid;
    }
    if (!tx || !s) {
        json_decref(data);
        return sdk_es_fail(EDDY_ERR_PERMANENT, "saga begin needs a transaction and a saga");
    }
    if (!valid_id(id)) {
        json_decref(data);
        return sdk_es_fail(EDDY_ERR_PERMANENT, "saga id must be 1..100 of [A-Za-z0-9_.:-]");
    }
    if (data && !json_is_object(data)) {
        json_decref(data);
        return sdk_es_fail(EDDY_ERR_PERMANENT, "saga data must be a JSON object");
    }
    eddy_store *st = eddy_tx_store(tx);
    inst in;
    memset(&in, 0, sizeof in);
    snprintf(in.id, sizeof in.id, "%s", id);
    snprintf(in.type, sizeof in.type, "%s", s->def.name);
    snprintf(in.state, sizeof in.state, "running");
    in.data = data ? data : json_object();
    in.corr = sdk_xstrdup(eddy_tx_correlation_id(tx));
    in.deadline = -1;
    char now[24], ts[32];
    int64_t ms = sdk_wall_ms();
    snprintf(now, sizeof now, "%lld", (long long)ms);
    eddy_time_rfc3339(ms, ts);
    const char *p[] = {in.id, s->def.name, in.corr, now, ts};
    int rc = eddy_store_exec(st,
                             "INSERT INTO eddy_sagas (id, saga_type, state, step, attempt,"
                             " data, correlation_id, created_ms, updated_ms, created_at,"
                             " updated_at) VALUES ($1, $2, 'running', 0, 0, '{}', $3, $4, $4,"
                             " $5, $5) ON CONFLICT (id) DO NOTHING",
                             5, p);
    if (rc == 0)
        rc = sdk_es_fail(EDDY_ERR_CONFLICT, "saga %s exists", in.id);
    else if (rc < 0)
        rc = sdk_es_store_fail(st, rc, "saga begin");
    if (rc >= 0) rc = hist(st, &in, "started (%s, %d steps)", s->def.name, s->def.nsteps);
    if (rc >= 0) rc = send_cmd(tx, s, &in, "do");
    if (rc >= 0) rc = inst_save(st, &in);
    if (rc >= 0) {
        atomic_fetch_add(&s->started, 1);
        if (id_out) snprintf(id_out, 101, "%s", in.id);
        fault_transition(0);
        rc = 0;
    }
    inst_clear(&in);
    return rc;
}

/* ---- deadlines ---------------------------------------------------------------------------- */
static int on_deadline(eddy_saga *s, const char *id, const char *corr)
{
    fault_activity();
    eddy_tx *tx;
    int rc = eddy_tx_begin(s->st, eddy_service_name(s->svc), corr, NULL, &tx);
    if (rc < 0) return rc;
    inst in;
    rc = inst_load(s->st, id, 1, &in);
    int64_t now = sdk_wall_ms();
    if (rc <= 0 || in.deadline < 0 || in.deadline > now || in.stuck ||
        (strcmp(in.state, "running") && strcmp(in.state, "compensating"))) {
        inst_clear(&in);
        eddy_tx_rollback(tx);
        return rc;
    }
    const eddy_saga_step *sp = &s->def.steps[in.step];
    int max = step_attempts(sp);
    if (!strcmp(in.state, "running")) {
        atomic_fetch_add(&s->timeouts, 1);
        if (in.attempt < max) {
            rc = hist(s->st, &in, "step %s timed out (attempt %d of %d): resending", sp->name,
                      in.attempt, max);
            if (rc >= 0) rc = send_cmd(tx, s, &in, "do");
        } else {
            free(in.reason);
            in.reason = sdk_xasprintf("step %s timed out after %d attempts", sp->name, in.attempt);
            rc = hist(s->st, &in,
                      "step %s timed out after %d attempts: compensating, this step"
                      " included (its outcome is unknown)",
                      sp->name, in.attempt);
            if (rc >= 0) rc = compensate_next(tx, s, &in);
        }
    } else if (in.attempt < max) {
        rc = hist(s->st, &in, "compensation of step %s unanswered (attempt %d of %d): resending",
                  sp->name, in.attempt, max);
        if (rc >= 0) rc = send_cmd(tx, s, &in, "undo");
    } else {
        in.stuck = 1;
        rc = hist(s->st, &in,
                  "compensation of step %s unanswered after %d attempts: stuck"
                  " (retry with POST /sagas/%s/retry)",
                  sp->name, in.attempt, in.id);
    }
    if (rc >= 0) rc = inst_save(s->st, &in);
    inst_clear(&in);
    if (rc < 0) {
        sdk_log(eddy_service_name(s->svc), "saga %s: deadline handling failed: %s", id,
                *eddy_es_error() ? eddy_es_error() : eddy_store_error(s->st));
        eddy_tx_rollback(tx);
        return rc;
    }
    rc = eddy_tx_commit(tx);
    if (rc == 0) fault_transition(1);
    return rc;
}

static void *timer_main(void *arg)
{
    eddy_saga *s = arg;
    while (!atomic_load(&s->stop)) {
        char now[24];
        snprintf(now, sizeof now, "%lld", (long long)sdk_wall_ms());
        const char *p[] = {s->def.name, now};
        eddy_rows *r = NULL;
        int rc = eddy_store_query(s->st,
                                  "SELECT id, correlation_id FROM eddy_sagas WHERE saga_type = $1"
                                  " AND state IN ('running', 'compensating') AND stuck = 0"
                                  " AND deadline_ms <= $2 ORDER BY deadline_ms LIMIT 200",
                                  2, p, &r);
        for (int i = 0; rc > 0 && i < eddy_rows_count(r) && !atomic_load(&s->stop); i++)
            on_deadline(s, eddy_rows_get(r, i, 0), eddy_rows_get(r, i, 1));
        eddy_rows_free(r);
        for (int w = 0; w < s->timer_ms && !atomic_load(&s->stop); w += 50) sdk_sleep_ms(50);
    }
    return NULL;
}

/* ---- views -------------------------------------------------------------------------------- */
static const eddy_saga_def *def_of(const char *type)
{
    pthread_mutex_lock(&g_attached.mu);
    eddy_saga *s = sdk_attached_find(&g_attached, NULL, type, strlen(type));
    pthread_mutex_unlock(&g_attached.mu);
    return s ? &s->def : NULL;
}

#define ROW_COLS                                                                                   \
    "id, saga_type, state, step, attempt, stuck, deadline_ms, created_ms, reason,"                 \
    " correlation_id, created_at, updated_at, data"

static json_t *row_json(eddy_rows *r, int i, int full)
{
    int64_t now = sdk_wall_ms();
    const char *type = eddy_rows_get(r, i, 1), *state = eddy_rows_get(r, i, 2);
    int step = atoi(eddy_rows_get(r, i, 3));
    const eddy_saga_def *d = def_of(type);
    int active = !strcmp(state, "running") || !strcmp(state, "compensating");
    const char *dl = eddy_rows_get(r, i, 6);
    int64_t deadline = dl ? atoll(dl) : -1;
    int stuck = atoi(eddy_rows_get(r, i, 5)) ||
                (active && deadline >= 0 && deadline + SAGA_STUCK_GRACE_MS < now);
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:i,s:i,s:b,s:f}", "id", eddy_rows_get(r, i, 0), "type", type,
                  "state", state, "step", step, "attempt", atoi(eddy_rows_get(r, i, 4)), "stuck",
                  stuck, "ageSeconds", (double)(now - atoll(eddy_rows_get(r, i, 7))) / 1000.0);
    if (d && step >= 0 && step < d->nsteps)
        json_object_set_new(o, "stepName", json_string(d->steps[step].name));
    json_object_set_new(o, "deadlineInSeconds",
                        active && deadline >= 0 ? json_real((double)(deadline - now) / 1000.0)
                                                : json_null());
    const char *reason = eddy_rows_get(r, i, 8);
    json_object_set_new(o, "reason", reason ? json_string(reason) : json_null());
    json_object_set_new(o, "correlationId", json_string(eddy_rows_get(r, i, 9)));
    json_object_set_new(o, "createdAt", json_string(eddy_rows_get(r, i, 10)));
    json_object_set_new(o, "updatedAt", json_string(eddy_rows_get(r, i, 11)));
    if (full) {
        json_t *data = json_loads(eddy_rows_get(r, i, 12), 0, NULL);
        json_object_set_new(o, "data", data ? data : json_null());
        if (d) {
            json_t *steps = json_array();
            for (int k = 0; k < d->nsteps; k++)
                json_array_append_new(steps, json_string(d->steps[k].name));
            json_object_set_new(o, "steps", steps);
        }
    }
    return o;
}

char *eddy_saga_show(eddy_store *st, const char *id, int *rcp)
{
    int dummy;
    if (!rcp) rcp = &dummy;
    sdk_es_clear();
    if (!id || !valid_id(id)) {
        *rcp = sdk_es_fail(EDDY_ERR_PERMANENT, "saga id must be 1..100 of [A-Za-z0-9_.:-]");
        return NULL;
    }
    const char *p[] = {id};
    eddy_rows *r = NULL, *h = NULL;
    int rc = eddy_store_query(st, "SELECT " ROW_COLS " FROM eddy_sagas WHERE id = $1", 1, p, &r);
    if (rc <= 0) {
        eddy_rows_free(r);
        *rcp = rc < 0 ? sdk_es_store_fail(st, rc, "saga show")
                      : sdk_es_fail(EDDY_ERR_NOT_FOUND, "no saga %s", id);
        return NULL;
    }
    json_t *o = row_json(r, 0, 1);
    eddy_rows_free(r);
    rc = eddy_store_query(st,
                          "SELECT at, entry FROM eddy_saga_history WHERE saga_id = $1"
                          " ORDER BY n",
                          1, p, &h);
    json_t *ha = json_array();
    for (int i = 0; rc > 0 && i < eddy_rows_count(h); i++)
        json_array_append_new(ha, json_pack("{s:s,s:s}", "at", eddy_rows_get(h, i, 0), "entry",
                                            eddy_rows_get(h, i, 1)));
    eddy_rows_free(h);
    json_object_set_new(o, "history", ha);
    char *out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    *rcp = 0;
    return out;
}

static char *list_json(eddy_store *st, const char *where, const char *arg, int *status)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT " ROW_COLS " FROM eddy_sagas %s ORDER BY created_ms DESC,"
             " id LIMIT 1000",
             where);
    eddy_rows *r = NULL;
    const char *p[] = {arg};
    int rc = eddy_store_query(st, sql, arg ? 1 : 0, p, &r);
    if (rc < 0) return eddy_http_error(status, 503, "store: %s", eddy_store_error(st));
    json_t *a = json_array();
    for (int i = 0; i < eddy_rows_count(r); i++) {
        json_t *o = row_json(r, i, 0);
        if (!strcmp(where, "WHERE state IN ('running', 'compensating')") &&
            !json_is_true(json_object_get(o, "stuck"))) {
            json_decref(o);
            continue;
        }
        json_array_append_new(a, o);
    }
    eddy_rows_free(r);
    char *out = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return out;
}

static char *route_get(eddy_service *svc, const eddy_http_req *req, int *status, void *arg)
{
    (void)arg;
    eddy_store *st = eddy_service_store(svc);
    if (!st) return eddy_http_error(status, 503, "store unavailable");
    const char *rest = req->path + strlen("/sagas");
    if (*rest == '/') rest++;
    if (!*rest) return list_json(st, "", NULL, status);
    if (!strcmp(rest, "stuck"))
        return list_json(st, "WHERE state IN ('running', 'compensating')", NULL, status);
    if (!strncmp(rest, "state/", 6)) {
        const char *state = rest + 6;
        if (strcmp(state, "running") && strcmp(state, "compensating") &&
            strcmp(state, "completed") && strcmp(state, "compensated"))
            return eddy_http_error(status, 400,
                                   "unknown state '%.40s' (running, compensating,"
                                   " completed, compensated)",
                                   state);
        return list_json(st, "WHERE state = $1", state, status);
    }
    int rc;
    char *out = eddy_saga_show(st, rest, &rc);
    if (!out)
        return eddy_http_error(status,
                               rc == EDDY_ERR_NOT_FOUND   ? 404
                               : rc == EDDY_ERR_PERMANENT ? 400
                                                          : 503,
                               "%s", eddy_es_error());
    return out;
}

static char *route_post(eddy_service *svc, const eddy_http_req *req, int *status, void *arg)
{
    (void)arg;
    const char *rest = req->path + strlen("/sagas");
    if (*rest == '/') rest++;
    size_t n = strcspn(rest, "/");
    if (!n || n > 100 || strcmp(rest + n, "/retry"))
        return eddy_http_error(status, 404, "no route for POST %s (POST /sagas/{id}/retry)",
                               req->path);
    char id[101];
    memcpy(id, rest, n);
    id[n] = 0;
    if (!valid_id(id)) return eddy_http_error(status, 400, "bad saga id");
    eddy_store *st = eddy_service_store(svc);
    if (!st) return eddy_http_error(status, 503, "store unavailable");
    eddy_tx *tx;
    if (eddy_tx_begin(st, eddy_service_name(svc), NULL, NULL, &tx) < 0)
        return eddy_http_error(status, 503, "store: %s", eddy_store_error(st));
    inst in;
    int rc = inst_load(st, id, 1, &in);
    if (rc <= 0) {
        eddy_tx_rollback(tx);
        inst_clear(&in);
        return rc < 0 ? eddy_http_error(status, 503, "store: %s", eddy_store_error(st))
                      : eddy_http_error(status, 404, "no saga %s", id);
    }
    if (strcmp(in.state, "running") && strcmp(in.state, "compensating")) {
        eddy_tx_rollback(tx);
        char *e = eddy_http_error(status, 409, "saga %s is %s: nothing to retry", id, in.state);
        inst_clear(&in);
        return e;
    }
    in.stuck = 0;
    in.attempt = 0;
    in.deadline = sdk_wall_ms();
    rc = hist(st, &in, "retry requested by an operator: attempts reset");
    if (rc >= 0) rc = inst_save(st, &in);
    inst_clear(&in);
    if (rc < 0) {
        eddy_tx_rollback(tx);
        return eddy_http_error(status, 503, "store: %s", eddy_store_error(st));
    }
    if (eddy_tx_commit(tx) < 0)
        return eddy_http_error(status, 503, "store: %s", eddy_store_error(st));
    *status = 202;
    return sdk_xasprintf("{\"id\":\"%s\",\"retry\":\"scheduled\"}", id);
}

static char *comp_metrics(void *arg)
{
    eddy_saga *s = arg;
    eddy_store *st = eddy_service_store(s->svc);
    static const char *states[] = {"running", "compensating", "completed", "compensated"};
    long long counts[4] = {0}, stuck = 0;
    if (st) {
        char now[24];
        snprintf(now, sizeof now, "%lld", (long long)(sdk_wall_ms() - SAGA_STUCK_GRACE_MS));
        const char *p[] = {s->def.name, now};
        eddy_rows *r = NULL;
        if (eddy_store_query(st,
                             "SELECT state, COUNT(*) FROM eddy_sagas WHERE saga_type = $1"
                             " GROUP BY state",
                             1, p, &r) > 0)
            for (int i = 0; i < eddy_rows_count(r); i++)
                for (int k = 0; k < 4; k++)
                    if (!strcmp(eddy_rows_get(r, i, 0), states[k]))
                        counts[k] = atoll(eddy_rows_get(r, i, 1));
        eddy_rows_free(r);
        r = NULL;
        if (eddy_store_query(st,
                             "SELECT COUNT(*) FROM eddy_sagas WHERE saga_type = $1 AND state"
                             " IN ('running', 'compensating') AND (stuck = 1 OR deadline_ms"
                             " < $2)",
                             2, p, &r) > 0)
            stuck = atoll(eddy_rows_get(r, 0, 0));
        eddy_rows_free(r);
    }
    const char *svc = eddy_service_name(s->svc), *n = s->def.name;
    char *out = sdk_xasprintf(
        "# HELP eddy_saga_instances saga instances by state\n# TYPE eddy_saga_instances gauge\n");
    for (int k = 0; k < 4; k++) {
        char *t =
            sdk_xasprintf("%seddy_saga_instances{service=\"%s\",saga=\"%s\",state=\"%s\"} %lld\n",
                          out, svc, n, states[k], counts[k]);
        free(out);
        out = t;
    }
    char *t = sdk_xasprintf(
        "%s# HELP eddy_saga_stuck running sagas past their deadline\n# TYPE eddy_saga_stuck gauge\neddy_saga_stuck{service=\"%s\",saga=\"%s\"} %lld\n"
        "# HELP eddy_saga_started_total sagas started\n# TYPE eddy_saga_started_total counter\neddy_saga_started_total{service=\"%s\",saga=\"%s\"} %lld\n"
        "# HELP eddy_saga_completed_total sagas completed\n# TYPE eddy_saga_completed_total counter\neddy_saga_completed_total{service=\"%s\",saga=\"%s\"} %lld\n"
        "# HELP eddy_saga_compensated_total sagas that ended compensated\n# TYPE eddy_saga_compensated_total counter\neddy_saga_compensated_total{service=\"%s\",saga=\"%s\"} %lld\n"
        "# HELP eddy_saga_timeouts_total saga steps that timed out\n# TYPE eddy_saga_timeouts_total counter\neddy_saga_timeouts_total{service=\"%s\",saga=\"%s\"} %lld\n"
        "# HELP eddy_saga_commands_resent_total saga commands sent again after a restart or timeout\n# TYPE eddy_saga_commands_resent_total counter\neddy_saga_commands_resent_total{service=\"%s\",saga=\"%s\"} %lld\n"
        "# HELP eddy_saga_replies_ignored_total replies ignored (late, duplicate or for an ended saga)\n# TYPE eddy_saga_replies_ignored_total counter\neddy_saga_replies_ignored_total{service=\"%s\",saga=\"%s\"} %lld\n",
        out, svc, n, stuck, svc, n, (long long)atomic_load(&s->started), svc, n,
        (long long)atomic_load(&s->completed), svc, n, (long long)atomic_load(&s->compensated), svc,
        n, (long long)atomic_load(&s->timeouts), svc, n, (long long)atomic_load(&s->resent), svc, n,
        (long long)atomic_load(&s->ignored));
    free(out);
    return t;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */
static int comp_start(eddy_service *svc, void *arg)
{
    eddy_saga *s = arg;
    int rc = eddy_store_open(sdk_service_store_url(svc), &s->st);
    if (rc < 0) return rc;
    int pg = eddy_store_is_postgres(s->st);
    if (pg) eddy_store_exec(s->st, "SELECT pg_advisory_lock(4245)", 0, NULL);
    rc = eddy_store_exec(s->st, SAGA_DDL, 0, NULL);
    if (pg) eddy_store_exec(s->st, "SELECT pg_advisory_unlock(4245)", 0, NULL);
    if (rc < 0) {
        sdk_log(eddy_service_name(svc), "saga tables: %s", eddy_store_error(s->st));
        return rc;
    }
    const char *tm = eddy_service_get(svc, "saga.timer.ms");
    s->timer_ms = tm && atoi(tm) > 0 ? atoi(tm) : 200;
    atomic_store(&s->stop, 0);
    if (pthread_create(&s->th, NULL, timer_main, s)) return EDDY_ERR_IO;
    s->running = 1;
    return 0;
}

static void comp_stop(void *arg)
{
    eddy_saga *s = arg;
    if (!s->running) return;
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    s->running = 0;
}

static void comp_destroy(void *arg)
{
    eddy_saga *s = arg;
    sdk_detach(&g_attached, s);
    eddy_store_close(s->st);
    free(s);
}

static int check_def(const eddy_saga_def *d)
{
    if (!d || !d->name || !*d->name || strlen(d->name) > 64)
        return sdk_es_fail(EDDY_ERR_PERMANENT, "saga needs a name (max 64)");
    if (!d->reply_topic || !*d->reply_topic)
        return sdk_es_fail(EDDY_ERR_PERMANENT, "saga %s needs a reply topic", d->name);
    if (!d->steps || d->nsteps <= 0 || d->nsteps > 64)
        return sdk_es_fail(EDDY_ERR_PERMANENT, "saga %s needs 1..64 steps", d->name);
    for (int i = 0; i < d->nsteps; i++) {
        const eddy_saga_step *s = &d->steps[i];
        if (!s->name || !*s->name || !s->command_topic || !s->command_type || !s->success ||
            !s->success[0])
            return sdk_es_fail(EDDY_ERR_PERMANENT,
                               "saga %s step %d needs a name, a command topic"
                               " and type, and success reply types",
                               d->name, i);
        if (s->compensation_type && (!s->compensated || !s->compensated[0]))
            return sdk_es_fail(EDDY_ERR_PERMANENT,
                               "saga %s step %s: a compensation needs its"
                               " reply types (compensated)",
                               d->name, s->name);
        for (int j = 0; j < i; j++)
            if (!strcmp(d->steps[j].name, s->name))
                return sdk_es_fail(EDDY_ERR_PERMANENT, "saga %s: step name %s repeats", d->name,
                                   s->name);
    }
    return 0;
}

int eddy_saga_attach(eddy_service *svc, const eddy_saga_def *def, eddy_saga **out)
{
    sdk_es_clear();
    int rc = check_def(def);
    if (rc < 0) return rc;
    eddy_saga *s = sdk_xcalloc(1, sizeof *s);
    s->def = *def;
    s->svc = svc;
    sdk_component c = {comp_start, comp_stop, comp_destroy, comp_metrics, s};
    if ((rc = sdk_attach(&g_attached, svc, s->def.name, &c, route_get, route_post)) < 0) {
        free(s);
        return rc;
    }
    /* a handler for every reply type of every step */
    const char *seen[256];
    int nseen = 0;
    for (int i = 0; i < def->nsteps; i++) {
        const char *const *lists[] = {def->steps[i].success, def->steps[i].failure,
                                      def->steps[i].compensated};
        for (int l = 0; l < 3; l++)
            for (int k = 0; lists[l] && lists[l][k]; k++) {
                int dup = 0;
                for (int j = 0; j < nseen; j++) dup |= !strcmp(seen[j], lists[l][k]);
                if (dup || nseen == 256) continue;
                seen[nseen++] = lists[l][k];
                if ((rc = eddy_service_on(svc, def->reply_topic, lists[l][k], "1", on_reply, s)) <
                    0)
                    return sdk_es_fail(rc, "saga %s: too many handlers", def->name);
            }
    }
    for (int i = 0; i < def->nsteps; i++) eddy_service_topic(svc, def->steps[i].command_topic);
    if (out) *out = s;
    return 0;
}

/* ---- participants ------------------------------------------------------------------------- */
const char *eddy_saga_idempotency_key(const eddy_ctx *ctx)
{
    const eddy_event *ev = eddy_ctx_event(ctx);
    json_t *k = ev ? json_object_get(ev->payload, "idempotencyKey") : NULL;
    return json_is_string(k) ? json_string_value(k) : NULL;
}

int eddy_saga_reply(eddy_ctx *ctx, const char *type, json_t *payload)
{
    const eddy_event *ev = eddy_ctx_event(ctx);
    json_t *to = json_object_get(ev->payload, "replyTo");
    json_t *sid = json_object_get(ev->payload, "sagaId");
    if (!json_is_string(to) || !json_is_string(sid) || !json_string_length(to)) {
        json_decref(payload);
        return eddy_ctx_fail(ctx, EDDY_ERR_PERMANENT,
                             "%s is not a saga command (no replyTo/sagaId)", ev->event_type);
    }
    if (!payload) payload = json_object();
    if (!json_is_object(payload)) {
        json_decref(payload);
        return eddy_ctx_fail(ctx, EDDY_ERR_PERMANENT, "saga reply payload must be an object");
    }
    json_object_set(payload, "sagaId", sid);
    json_t *k = json_object_get(ev->payload, "idempotencyKey");
    if (k) json_object_set(payload, "idempotencyKey", k);
    return eddy_ctx_publish(ctx, json_string_value(to), json_string_value(sid), type, "1.0",
                            payload);
}
