/* accounts — the reference event-sourced service (services/accounts): customer balances kept as
 * streams "account-<customerId>" in libeddy's event store (account.created, account.debited,
 * account.credited; published to account.events), folded by a reducer from the latest
 * snapshot (every 50 events). It takes part in the orchestrated order flow:
 *   account.debit  (account.commands) → account.debited, or account.debit_rejected when the
 *                  balance is insufficient or there is no account ("payment declined")
 *   account.credit (account.commands, the compensation) → account.credited; credits back only
 *                  a debit that happened, and a debit arriving after its compensation is refused
 * Every command's effect is keyed by its idempotency key (account_commands), so a resent or
 * redelivered command is answered again with the outcome it had, never applied twice.
 * HTTP: POST /accounts {"customerId","initialBalanceCents"}, GET /accounts/{id} (balance,
 * version, snapshot used), GET /accounts/{id}/history (every event, replayed to the balance),
 * POST /accounts/{id}/credit {"amountCents"}. */
#include <eddy/eventstore.h>
#include <eddy/saga.h>

#include "../common/svc.h"

#define T_ACCOUNT_COMMANDS "account.commands"

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS account_commands ("
    " idempotency_key TEXT PRIMARY KEY, outcome TEXT NOT NULL, reply_type TEXT,"
    " reply TEXT, at TEXT NOT NULL);";

/* ---- the aggregate ------------------------------------------------------------------------ */
static int apply(json_t *s, const eddy_es_event *ev, void *arg)
{
    (void)arg;
    json_int_t bal = json_integer_value(json_object_get(s, "balanceCents"));
    json_int_t amt = json_integer_value(json_object_get(ev->data, "amountCents"));
    if (!strcmp(ev->type, "account.created")) {
        bal = json_integer_value(json_object_get(ev->data, "initialBalanceCents"));
        json_object_set(s, "customerId", json_object_get(ev->data, "customerId"));
    } else if (!strcmp(ev->type, "account.debited")) {
        bal -= amt;
        json_object_set_new(s, "debits",
                            json_integer(json_integer_value(json_object_get(s, "debits")) + 1));
    } else if (!strcmp(ev->type, "account.credited")) {
        bal += amt;
        json_object_set_new(s, "credits",
                            json_integer(json_integer_value(json_object_get(s, "credits")) + 1));
    } else {
        return 0; /* an event type this reducer does not know changes nothing */
    }
    json_object_set_new(s, "balanceCents", json_integer(bal));
    return 0;
}

static const eddy_aggregate_type ACCOUNT = {"account", "1", apply, 50, NULL};

/* ---- commands ----------------------------------------------------------------------------- */
/* The recorded outcome of a command key: 1 (and *out filled) if seen. */
static int recorded(eddy_ctx *ctx, const char *key, char **outcome, char **type, json_t **reply)
{
    const char *p[] = {key};
    eddy_rows *r = NULL;
    int rc = eddy_ctx_query(ctx,
                            "SELECT outcome, reply_type, reply FROM account_commands"
                            " WHERE idempotency_key = $1",
                            1, p, &r);
    if (rc <= 0) {
        eddy_rows_free(r);
        return rc;
    }
    if (outcome) *outcome = strdup(eddy_rows_get(r, 0, 0));
    if (type) *type = eddy_rows_get(r, 0, 1) ? strdup(eddy_rows_get(r, 0, 1)) : NULL;
    if (reply) *reply = eddy_rows_get(r, 0, 2) ? json_loads(eddy_rows_get(r, 0, 2), 0, NULL) : NULL;
    eddy_rows_free(r);
    return 1;
}

static int record(eddy_ctx *ctx, const char *key, const char *outcome, const char *type,
                  json_t *reply)
{
    char ts[32];
    now_ts(ts);
    char *rs = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
    const char *p[] = {key, outcome, type, rs, ts};
    int rc = eddy_ctx_exec(ctx,
                           "INSERT INTO account_commands (idempotency_key, outcome,"
                           " reply_type, reply, at) VALUES ($1, $2, $3, $4, $5)"
                           " ON CONFLICT (idempotency_key) DO UPDATE SET outcome = $2",
                           5, p);
    free(rs);
    return rc < 0 ? rc : 0;
}

/* Records the outcome and replies (payload stolen). */
static int answer(eddy_ctx *ctx, const char *key, const char *outcome, const char *type,
                  json_t *payload)
{
    int rc = record(ctx, key, outcome, type, payload);
    if (rc < 0) {
        json_decref(payload);
        return rc;
    }
    return eddy_saga_reply(ctx, type, payload);
}

/* Sends the recorded answer of an already handled command again. */
static int answer_again(eddy_ctx *ctx, char *type, json_t *reply)
{
    int rc = type ? eddy_saga_reply(ctx, type, reply ? reply : json_object()) : 0;
    if (!type) json_decref(reply);
    free(type);
    return rc;
}

static int on_debit(eddy_ctx *ctx, void *arg)
{
    const eddy_event *ev = eddy_ctx_event(ctx);
    const char *key = eddy_saga_idempotency_key(ctx), *cust = pstr(ev, "customerId");
    long long amount = pint(ev, "amountCents", -1);
    if (!key || !cust || amount < 0)
        return eddy_ctx_fail(ctx, EDDY_ERR_PERMANENT,
                             "account.debit needs idempotencyKey, customerId, amountCents >= 0");
    char *outcome = NULL, *type = NULL;
    json_t *reply = NULL;
    int rc = recorded(ctx, key, &outcome, &type, &reply);
    if (rc < 0) return rc;
    if (rc > 0) {
        int cancelled = !strcmp(outcome, "cancelled");
        free(outcome);
        if (cancelled) { /* compensated before it arrived: refuse it, say so */
            free(type);
            json_decref(reply);
            return eddy_saga_reply(ctx, "account.debit_rejected",
                                   json_pack("{s:s,s:s}", "customerId", cust, "reason",
                                             "cancelled before it arrived"));
        }
        return answer_again(ctx, type, reply);
    }
    eddy_aggregate a;
    if ((rc = eddy_aggregate_load(eddy_tx_store(eddy_ctx_tx(ctx)), &ACCOUNT, cust, 0, &a)) < 0)
        return eddy_ctx_fail(ctx, rc, "%s", eddy_es_error());
    json_int_t bal = json_integer_value(json_object_get(a.state, "balanceCents"));
    if (a.version == 0 || bal < amount) {
        const char *why = a.version == 0 ? "no account" : "insufficient balance";
        eddy_aggregate_release(&a);
        return answer(ctx, key, "rejected", "account.debit_rejected",
                      json_pack("{s:s,s:s,s:I,s:I}", "customerId", cust, "reason", why,
                                "amountCents", (json_int_t)amount, "balanceCents", bal));
    }
    eddy_es_new e = {"account.debited", "1.0",
                     json_pack("{s:s,s:I,s:s}", "customerId", cust, "amountCents",
                               (json_int_t)amount, "reference", key)};
    rc = eddy_aggregate_append(eddy_ctx_tx(ctx), &ACCOUNT, &a, &e, 1);
    bal = json_integer_value(json_object_get(a.state, "balanceCents"));
    eddy_aggregate_release(&a);
    if (rc == EDDY_ERR_CONFLICT)
        return eddy_ctx_fail(ctx, EDDY_ERR_TRANSIENT, "%s", eddy_es_error());
    if (rc < 0) return eddy_ctx_fail(ctx, rc, "%s", eddy_es_error());
    return answer(ctx, key, "debited", "account.debited",
                  json_pack("{s:s,s:I,s:I}", "customerId", cust, "amountCents", (json_int_t)amount,
                            "balanceCents", bal));
}

static int on_credit(eddy_ctx *ctx, void *arg)
{
    const eddy_event *ev = eddy_ctx_event(ctx);
    const char *key = eddy_saga_idempotency_key(ctx), *cust = pstr(ev, "customerId");
    const char *saga = pstr(ev, "sagaId"), *step = pstr(ev, "step");
    if (!key || !cust || !saga || !step)
        return eddy_ctx_fail(ctx, EDDY_ERR_PERMANENT,
                             "account.credit needs idempotencyKey, customerId, sagaId, step");
    char *type = NULL;
    json_t *reply = NULL;
    int rc = recorded(ctx, key, NULL, &type, &reply);
    if (rc < 0) return rc;
    if (rc > 0) return answer_again(ctx, type, reply);
    /* What happened to the debit this compensates? */
    char debit_key[300];
    snprintf(debit_key, sizeof debit_key, "%s:%s:do", saga, step);
    char *outcome = NULL;
    json_t *debit = NULL;
    rc = recorded(ctx, debit_key, &outcome, NULL, &debit);
    if (rc < 0) return rc;
    long long amount = rc > 0 && !strcmp(outcome, "debited")
                           ? (long long)json_integer_value(json_object_get(debit, "amountCents"))
                           : 0;
    int never_arrived = rc == 0;
    free(outcome);
    json_decref(debit);
    if (never_arrived && (rc = record(ctx, debit_key, "cancelled", NULL, NULL)) < 0) return rc;
    if (amount > 0) {
        eddy_aggregate a;
        if ((rc = eddy_aggregate_load(eddy_tx_store(eddy_ctx_tx(ctx)), &ACCOUNT, cust, 0, &a)) < 0)
            return eddy_ctx_fail(ctx, rc, "%s", eddy_es_error());
        eddy_es_new e = {"account.credited", "1.0",
                         json_pack("{s:s,s:I,s:s}", "customerId", cust, "amountCents",
                                   (json_int_t)amount, "reference", key)};
        rc = eddy_aggregate_append(eddy_ctx_tx(ctx), &ACCOUNT, &a, &e, 1);
        eddy_aggregate_release(&a);
        if (rc == EDDY_ERR_CONFLICT)
            return eddy_ctx_fail(ctx, EDDY_ERR_TRANSIENT, "%s", eddy_es_error());
        if (rc < 0) return eddy_ctx_fail(ctx, rc, "%s", eddy_es_error());
        rc = record(ctx, debit_key, "credited", "account.debited", NULL);
        if (rc < 0) return rc;
    }
    return answer(ctx, key, amount > 0 ? "credited" : "nothing-to-credit", "account.credited",
                  json_pack("{s:s,s:I}", "customerId", cust, "amountCents", (json_int_t)amount));
}

/* ---- HTTP --------------------------------------------------------------------------------- */
static int valid_customer(const char *c)
{
    size_t n = strlen(c);
    if (!n || n > 100) return 0;
    for (const char *p = c; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            return 0;
    return 1;
}

static char *post_account(eddy_service *svc, const eddy_http_req *req, int *status, void *arg)
{
    const char *rest = req->path + strlen("/accounts");
    json_error_t jerr;
    json_t *o =
        req->body_len ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!o) return eddy_http_error(status, 400, "a JSON object body is expected");
    char cust[128];
    long long amount = 0;
    const char *type;
    char *err = NULL;
    if (!*rest || !strcmp(rest, "/")) { /* POST /accounts */
        json_t *c = json_object_get(o, "customerId"),
               *b = json_object_get(o, "initialBalanceCents");
        if (!json_is_string(c) || !valid_customer(json_string_value(c)))
            err = eddy_http_error(status, 400, "customerId must be 1..100 of [A-Za-z0-9_.-]");
        else if (!json_is_integer(b) || json_integer_value(b) < 0 ||
                 json_integer_value(b) > 1000000000000LL)
            err = eddy_http_error(status, 400, "initialBalanceCents must be an integer 0..10^12");
        if (!err) {
            snprintf(cust, sizeof cust, "%s", json_string_value(c));
            amount = json_integer_value(b);
        }
        type = "account.created";
    } else { /* POST /accounts/{id}/credit */
        size_t n = strcspn(rest + 1, "/");
        if (n >= sizeof cust || strcmp(rest + 1 + n, "/credit")) {
            json_decref(o);
            return eddy_http_error(status, 404, "no route for POST %s", req->path);
        }
        memcpy(cust, rest + 1, n);
        cust[n] = 0;
        json_t *b = json_object_get(o, "amountCents");
        if (!valid_customer(cust))
            err = eddy_http_error(status, 400, "bad customer id");
        else if (!json_is_integer(b) || json_integer_value(b) <= 0 ||
                 json_integer_value(b) > 1000000000000LL)
            err = eddy_http_error(status, 400, "amountCents must be an integer 1..10^12");
        else
            amount = json_integer_value(b);
        type = "account.credited";
    }
    json_decref(o);
    if (err) return err;
    eddy_store *st = eddy_service_store(svc);
    eddy_tx *tx;
    if (!st ||
        eddy_tx_begin(st, eddy_service_name(svc), req->correlation_id, req->traceparent, &tx) < 0)
        return eddy_http_error(status, 503, "store unavailable");
    eddy_aggregate a;
    int rc = eddy_aggregate_load(st, &ACCOUNT, cust, 0, &a);
    if (rc < 0) {
        eddy_tx_rollback(tx);
        return eddy_http_error(status, 503, "%s", eddy_es_error());
    }
    int creating = !strcmp(type, "account.created");
    if (creating && a.version) {
        eddy_aggregate_release(&a);
        eddy_tx_rollback(tx);
        return eddy_http_error(status, 409, "account %s exists", cust);
    }
    if (!creating && !a.version) {
        eddy_aggregate_release(&a);
        eddy_tx_rollback(tx);
        return eddy_http_error(status, 404, "no account %s", cust);
    }
    eddy_es_new e = {type, "1.0",
                     creating ? json_pack("{s:s,s:I}", "customerId", cust, "initialBalanceCents",
                                          (json_int_t)amount)
                              : json_pack("{s:s,s:I,s:s}", "customerId", cust, "amountCents",
                                          (json_int_t)amount, "reference", "http")};
    rc = eddy_aggregate_append(tx, &ACCOUNT, &a, &e, 1);
    json_int_t bal = json_integer_value(json_object_get(a.state, "balanceCents"));
    int64_t ver = a.version;
    eddy_aggregate_release(&a);
    if (rc < 0) {
        eddy_tx_rollback(tx);
        return eddy_http_error(status, rc == EDDY_ERR_CONFLICT ? 409 : 503, "%s", eddy_es_error());
    }
    if (eddy_tx_commit(tx) < 0) return eddy_http_error(status, 503, "commit failed");
    *status = creating ? 201 : 200;
    json_t *out = json_pack("{s:s,s:I,s:I}", "customerId", cust, "balanceCents", bal, "version",
                            (json_int_t)ver);
    char *body = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    return body;
}

static char *get_account(eddy_service *svc, const eddy_http_req *req, int *status, void *arg)
{
    const char *rest = req->path + strlen("/accounts/");
    if (strncmp(req->path, "/accounts/", 10))
        return eddy_http_error(status, 404, "GET /accounts/{id}");
    char cust[128];
    size_t n = strcspn(rest, "/");
    if (!n || n >= sizeof cust)
        return eddy_http_error(status, 404, "no route for GET %s", req->path);
    memcpy(cust, rest, n);
    cust[n] = 0;
    int history = !strcmp(rest + n, "/history");
    if (rest[n] && !history) return eddy_http_error(status, 404, "no route for GET %s", req->path);
    if (!valid_customer(cust)) return eddy_http_error(status, 400, "bad customer id");
    eddy_store *st = eddy_service_store(svc);
    if (!st) return eddy_http_error(status, 503, "store unavailable");
    if (!history) {
        eddy_aggregate a;
        int64_t t0 = 0;
        struct timespec ts0, ts1;
        clock_gettime(CLOCK_MONOTONIC, &ts0);
        if (eddy_aggregate_load(st, &ACCOUNT, cust, 0, &a) < 0)
            return eddy_http_error(status, 503, "%s", eddy_es_error());
        clock_gettime(CLOCK_MONOTONIC, &ts1);
        t0 = (ts1.tv_sec - ts0.tv_sec) * 1000000LL + (ts1.tv_nsec - ts0.tv_nsec) / 1000;
        if (!a.version) {
            eddy_aggregate_release(&a);
            return eddy_http_error(status, 404, "no account %s", cust);
        }
        json_t *o =
            json_pack("{s:s,s:O,s:I,s:I,s:i,s:I}", "customerId", cust, "state", a.state, "version",
                      (json_int_t)a.version, "snapshotVersion", (json_int_t)a.snapshot_version,
                      "eventsFolded", a.events_applied, "loadMicros", (json_int_t)t0);
        json_object_set(o, "balanceCents", json_object_get(a.state, "balanceCents"));
        eddy_aggregate_release(&a);
        char *s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return s;
    }
    char stream[160];
    snprintf(stream, sizeof stream, "account-%s", cust);
    eddy_es_events *e;
    int rc = eddy_es_read(st, stream, 1, EDDY_ES_FORWARD, 0, &e);
    if (rc == EDDY_ERR_NOT_FOUND) return eddy_http_error(status, 404, "no account %s", cust);
    if (rc < 0) return eddy_http_error(status, 503, "%s", eddy_es_error());
    json_t *state = json_object(), *a = json_array();
    for (int i = 0; i < e->n; i++) {
        apply(state, &e->ev[i], NULL);
        json_array_append_new(a, json_pack("{s:I,s:I,s:s,s:O,s:s,s:O}", "version",
                                           (json_int_t)e->ev[i].version, "position",
                                           (json_int_t)e->ev[i].position, "type", e->ev[i].type,
                                           "data", e->ev[i].data, "at", e->ev[i].created_at,
                                           "balanceCents", json_object_get(state, "balanceCents")));
    }
    eddy_es_events_free(e);
    json_t *o = json_pack("{s:s,s:o,s:O}", "customerId", cust, "events", a, "balanceCents",
                          json_object_get(state, "balanceCents"));
    json_decref(state);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

int main(int argc, char **argv)
{
    eddy_service *svc;
    if (eddy_service_new("accounts", &svc) < 0) return 1;
    eddy_es_attach(svc); /* the event store's tables, created at start */
    eddy_service_topic(svc, "account.events");
    eddy_service_on(svc, T_ACCOUNT_COMMANDS, "account.debit", "1", on_debit, NULL);
    eddy_service_on(svc, T_ACCOUNT_COMMANDS, "account.credit", "1", on_credit, NULL);
    eddy_service_route(svc, "POST", "/accounts", post_account, NULL);
    eddy_service_route(svc, "GET", "/accounts", get_account, NULL);
    return svc_main(svc, argc, argv, SCHEMA);
}
