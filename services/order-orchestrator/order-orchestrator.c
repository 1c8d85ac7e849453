/* order-orchestrator — the reference orchestrated order flow (services/order-orchestrator),
 * beside the choreographed one: POST /orders stores the order and starts an order saga in the
 * same transaction; the saga (libeddy saga.h) sends
 *   1. payment:   account.debit    → accounts   (compensation account.credit)
 *   2. inventory: inventory.reserve → inventory (compensation inventory.release)
 * and ends the order in the states the choreographed flow reaches: completed; payment_failed
 * (insufficient balance, nothing to undo); cancelled + refunded (out of stock: the debit is
 * credited back); and the timeout path — a participant that never answers (SKU-SILENT) —
 * cancelled after compensating the silent step and the debit.
 * GET /orders/{id} (with its saga), GET /orders; /sagas… from libeddy (eddy sagas).
 * Settings: saga.step.timeout.ms (default 10000), saga.step.attempts (default 3). */
#include <math.h>

#include <eddy/eventstore.h>
#include <eddy/saga.h>

#include "../common/svc.h"

static const char SCHEMA[] = "CREATE TABLE IF NOT EXISTS orders ("
                             " id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, items TEXT NOT NULL,"
                             " total_cents BIGINT NOT NULL, status TEXT NOT NULL, reason TEXT,"
                             " refunded INTEGER NOT NULL DEFAULT 0, correlation_id TEXT NOT NULL,"
                             " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);";

static eddy_saga *g_saga;

/* ---- the saga ----------------------------------------------------------------------------- */
static json_t *debit_payload(const json_t *d, void *arg)
{
    return json_pack("{s:O,s:O,s:O}", "orderId", json_object_get(d, "orderId"), "customerId",
                     json_object_get(d, "customerId"), "amountCents",
                     json_object_get(d, "totalCents"));
}

static json_t *reserve_payload(const json_t *d, void *arg)
{
    return json_pack("{s:O,s:O}", "orderId", json_object_get(d, "orderId"), "items",
                     json_object_get(d, "items"));
}

static json_t *release_payload(const json_t *d, void *arg)
{
    return json_pack("{s:O}", "orderId", json_object_get(d, "orderId"));
}

static const char *const DEBITED[] = {"account.debited", NULL};
static const char *const DEBIT_REJECTED[] = {"account.debit_rejected", NULL};
static const char *const CREDITED[] = {"account.credited", NULL};
static const char *const RESERVED[] = {"inventory.reserved", NULL};
static const char *const RESERVE_FAILED[] = {"inventory.reservation_failed", NULL};
static const char *const RELEASED[] = {"inventory.released", NULL};

static eddy_saga_step g_steps[] = {
    {"payment", "account.commands", "account.debit", debit_payload, DEBITED, DEBIT_REJECTED,
     "account.credit", debit_payload, CREDITED, 10000, 3},
    {"inventory", "inventory.commands", "inventory.reserve", reserve_payload, RESERVED,
     RESERVE_FAILED, "inventory.release", release_payload, RELEASED, 10000, 3},
};

/* The saga's end moves the order to its final status, in the same transaction. */
static int on_end(eddy_tx *tx, const char *id, const char *state, const char *reason,
                  const json_t *data, void *arg)
{
    const char *status = "completed";
    int refunded = 0;
    if (!strcmp(state, "compensated")) {
        int paid = json_object_get(data, "payment") != NULL;
        status = paid ? "cancelled" : "payment_failed";
        refunded = paid;
        if (reason && strstr(reason, "timed out")) status = "cancelled";
    }
    char ts[32], rf[4];
    now_ts(ts);
    snprintf(rf, sizeof rf, "%d", refunded);
    const char *p[] = {status, reason, rf, ts, id};
    int rc = eddy_tx_exec(tx,
                          "UPDATE orders SET status = $1, reason = $2, refunded = $3,"
                          " updated_at = $4 WHERE id = $5",
                          5, p);
    return rc < 0 ? rc : 0;
}

static eddy_saga_def g_def = {"order", "order-orchestrator.replies", g_steps, 2, on_end, NULL};

/* ---- HTTP --------------------------------------------------------------------------------- */
static char *post_order(eddy_service *svc, const eddy_http_req *req, int *status, void *arg)
{
    if (strcmp(req->path, "/orders"))
        return eddy_http_error(status, 404, "no route for POST %s", req->path);
    json_error_t jerr;
    json_t *o =
        req->body_len ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        return eddy_http_error(status, 400, "a JSON object body is expected");
    }
    json_t *c = json_object_get(o, "customerId"), *items = json_object_get(o, "items");
    char *err = NULL;
    if (!json_is_string(c) || !json_string_length(c) || json_string_length(c) > 100)
        err = eddy_http_error(status, 400, "customerId must be a non-empty string (max 100)");
    else if (!json_is_array(items) || !json_array_size(items) || json_array_size(items) > 100)
        err = eddy_http_error(status, 400, "items must be a non-empty array (max 100)");
    json_t *clean = json_array();
    long long total = 0;
    size_t i;
    json_t *it;
    if (!err) json_array_foreach(items, i, it)
        {
            json_t *sku = json_object_get(it, "sku"), *q = json_object_get(it, "quantity"),
                   *pr = json_object_get(it, "price");
            if (!json_is_string(sku) || !json_string_length(sku) || json_string_length(sku) > 64 ||
                !json_is_integer(q) || json_integer_value(q) <= 0 ||
                json_integer_value(q) > 10000 || !json_is_number(pr) || json_number_value(pr) < 0 ||
                json_number_value(pr) > 1e6 || isnan(json_number_value(pr))) {
                err = eddy_http_error(status, 400,
                                      "items[%zu] needs sku (string), quantity"
                                      " (1..10000) and price (0..1000000)",
                                      i);
                break;
            }
            long long cents = llround(json_number_value(pr) * 100.0);
            total += cents * json_integer_value(q);
            json_array_append_new(clean, json_pack("{s:O,s:O,s:I}", "sku", sku, "quantity", q,
                                                   "priceCents", (json_int_t)cents));
        }
    if (err) {
        json_decref(clean);
        json_decref(o);
        return err;
    }
    char uuid[37], id[48], ts[32], tot[32];
    eddy_uuid_generate(uuid);
    snprintf(id, sizeof id, "oo-%s", uuid);
    now_ts(ts);
    snprintf(tot, sizeof tot, "%lld", total);
    eddy_store *st = eddy_service_store(svc);
    eddy_tx *tx;
    if (!st ||
        eddy_tx_begin(st, eddy_service_name(svc), req->correlation_id, req->traceparent, &tx) < 0) {
        json_decref(clean);
        json_decref(o);
        return eddy_http_error(status, 503, "store unavailable");
    }
    char *items_s = json_dumps(clean, JSON_COMPACT);
    const char *p[] = {id, json_string_value(c), items_s, tot, eddy_tx_correlation_id(tx), ts};
    int rc = eddy_tx_exec(tx,
                          "INSERT INTO orders (id, customer_id, items, total_cents, status,"
                          " correlation_id, created_at, updated_at)"
                          " VALUES ($1, $2, $3, $4, 'pending', $5, $6, $6)",
                          6, p);
    free(items_s);
    if (rc >= 0)
        rc = eddy_saga_begin(tx, g_saga, id,
                             json_pack("{s:s,s:O,s:O,s:I}", "orderId", id, "customerId", c, "items",
                                       clean, "totalCents", (json_int_t)total),
                             NULL);
    json_decref(clean);
    json_decref(o);
    char corr[256];
    snprintf(corr, sizeof corr, "%s", eddy_tx_correlation_id(tx));
    if (rc < 0) {
        eddy_tx_rollback(tx);
        return eddy_http_error(status, 503, "could not store the order: %s", eddy_es_error());
    }
    if (eddy_tx_commit(tx) < 0) return eddy_http_error(status, 503, "could not store the order");
    *status = 201;
    json_t *r = json_pack("{s:s,s:s,s:s,s:I}", "orderId", id, "status", "pending", "correlationId",
                          corr, "totalCents", (json_int_t)total);
    char *s = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    return s;
}

static char *get_order(eddy_service *svc, const eddy_http_req *req, int *status, void *arg)
{
    eddy_store *st = eddy_service_store(svc);
    if (!st) return eddy_http_error(status, 503, "store unavailable");
    eddy_rows *r = NULL;
    if (!strcmp(req->path, "/orders") || !strcmp(req->path, "/orders/")) {
        if (eddy_store_query(st, "SELECT id, status FROM orders ORDER BY created_at, id", 0, NULL,
                             &r) < 0)
            return eddy_http_error(status, 503, "store unavailable");
        json_t *a = json_array();
        for (int i = 0; i < eddy_rows_count(r); i++)
            json_array_append_new(a, json_pack("{s:s,s:s}", "orderId", eddy_rows_get(r, i, 0),
                                               "status", eddy_rows_get(r, i, 1)));
        eddy_rows_free(r);
        char *s = json_dumps(a, JSON_COMPACT);
        json_decref(a);
        return s;
    }
    const char *id = req->path + strlen("/orders/");
    if (strchr(id, '/') || strlen(id) > 100)
        return eddy_http_error(status, 404, "no route for GET %s", req->path);
    const char *p[] = {id};
    if (eddy_store_query(st,
                         "SELECT id, customer_id, items, total_cents, status, reason, refunded,"
                         " correlation_id, created_at, updated_at FROM orders WHERE id = $1",
                         1, p, &r) < 0)
        return eddy_http_error(status, 503, "store unavailable");
    if (!eddy_rows_count(r)) {
        eddy_rows_free(r);
        return eddy_http_error(status, 404, "order %s not found", id);
    }
    json_t *items = json_loads(eddy_rows_get(r, 0, 2), 0, NULL);
    const char *reason = eddy_rows_get(r, 0, 5);
    json_t *o = json_pack(
        "{s:s,s:s,s:o,s:I,s:s,s:s?,s:b,s:s,s:s,s:s}", "orderId", eddy_rows_get(r, 0, 0),
        "customerId", eddy_rows_get(r, 0, 1), "items", items ? items : json_array(), "totalCents",
        (json_int_t)atoll(eddy_rows_get(r, 0, 3)), "status", eddy_rows_get(r, 0, 4), "reason",
        reason, "refunded", atoi(eddy_rows_get(r, 0, 6)), "correlationId", eddy_rows_get(r, 0, 7),
        "createdAt", eddy_rows_get(r, 0, 8), "updatedAt", eddy_rows_get(r, 0, 9));
    eddy_rows_free(r);
    int rc;
    char *saga = eddy_saga_show(st, id, &rc);
    json_t *sj = saga ? json_loads(saga, 0, NULL) : NULL;
    free(saga);
    json_object_set_new(o, "saga", sj ? sj : json_null());
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

int main(int argc, char **argv)
{
    eddy_service *svc;
    if (eddy_service_new("order-orchestrator", &svc) < 0) return 1;
    const char *cfg = NULL;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--config") && i + 1 < argc) cfg = argv[i + 1];
    if (eddy_service_configure(svc, cfg) < 0) return 2;
    const char *t = eddy_service_get(svc, "saga.step.timeout.ms");
    const char *a = eddy_service_get(svc, "saga.step.attempts");
    for (int i = 0; i < 2; i++) {
        if (t && atoi(t) > 0) g_steps[i].timeout_ms = atoi(t);
        if (a && atoi(a) > 0) g_steps[i].max_attempts = atoi(a);
    }
    if (eddy_saga_attach(svc, &g_def, &g_saga) < 0) {
        fprintf(stderr, "order-orchestrator: %s\n", eddy_es_error());
        return 1;
    }
    eddy_service_route(svc, "POST", "/orders", post_order, NULL);
    eddy_service_route(svc, "GET", "/orders", get_order, NULL);
    return svc_main(svc, argc, argv, SCHEMA);
}
