/* order — the reference order service (services/order): POST /orders stores the order and
 * records order.created in one transaction (outbox) and answers 201 with the id at once;
 * GET /orders/{id} shows the status as payment, inventory and notification events arrive;
 * compensations: payment.failed → payment_failed, inventory.reservation_failed → cancelled
 * (order.cancelled), payment.refunded → refunded. Statuses only move forward (rank). */
#include <math.h>

#include "../common/svc.h"

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS orders ("
    " id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, items TEXT NOT NULL,"
    " total_cents BIGINT NOT NULL, card TEXT, status TEXT NOT NULL, status_rank INTEGER NOT NULL,"
    " refunded INTEGER NOT NULL DEFAULT 0, correlation_id TEXT NOT NULL,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL) /*sqlite: WITHOUT ROWID*/;"
    "CREATE TABLE IF NOT EXISTS order_history ("
    " event_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, event_type TEXT NOT NULL,"
    " at TEXT NOT NULL) /*sqlite: WITHOUT ROWID*/;"
    "CREATE INDEX IF NOT EXISTS order_history_order ON order_history(order_id);";

/* ---- HTTP --------------------------------------------------------------------------------- */
static char *validate(json_t *o, int *status, json_t **items_out, long long *total)
{
    if (!json_is_object(o)) return eddy_http_error(status, 400, "body must be a JSON object");
    json_t *c = json_object_get(o, "customerId");
    if (!c) return eddy_http_error(status, 400, "missing field customerId");
    if (!json_is_string(c) || !json_string_length(c) || json_string_length(c) > 100)
        return eddy_http_error(status, 400, "customerId must be a non-empty string (max 100)");
    json_t *card = json_object_get(o, "card");
    if (card && (!json_is_string(card) || json_string_length(card) > 32))
        return eddy_http_error(status, 400, "card must be a string (max 32)");
    json_t *items = json_object_get(o, "items");
    if (!items) return eddy_http_error(status, 400, "missing field items");
    if (!json_is_array(items) || json_array_size(items) == 0 || json_array_size(items) > 100)
        return eddy_http_error(status, 400, "items must be a non-empty array (max 100)");
    json_t *clean = json_array();
    long long sum = 0;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *sku = json_object_get(it, "sku"), *q = json_object_get(it, "quantity"),
               *p = json_object_get(it, "price");
        const char *err = NULL;
        if (!json_is_object(it))
            err = "must be an object";
        else if (!json_is_string(sku) || !json_string_length(sku) || json_string_length(sku) > 64)
            err = "sku must be a non-empty string (max 64)";
        else if (!q)
            err = "missing field quantity";
        else if (!json_is_integer(q) || json_integer_value(q) <= 0 || json_integer_value(q) > 10000)
            err = "quantity must be a positive integer (max 10000)";
        else if (!p)
            err = "missing field price";
        else if (!json_is_number(p) || json_number_value(p) < 0 || json_number_value(p) > 1e6 ||
                 isnan(json_number_value(p)))
            err = "price must be a non-negative number (max 1000000)";
        if (err) {
            json_decref(clean);
            return eddy_http_error(status, 400, "items[%zu]: %s", i, err);
        }
        long long cents = llround(json_number_value(p) * 100.0);
        sum += cents * json_integer_value(q);
        json_array_append_new(clean, json_pack("{s:s,s:I,s:I}", "sku", json_string_value(sku),
                                               "quantity", (json_int_t)json_integer_value(q),
                                               "priceCents", (json_int_t)cents));
    }
    *items_out = clean;
    *total = sum;
    return NULL;
}

static char *post_order(eddy_service *svc, const eddy_http_req *req, int *status, void *arg)
{
    if (strcmp(req->path, "/orders"))
        return eddy_http_error(status, 404, "no route for POST %s", req->path);
    if (!req->body || !req->body_len)
        return eddy_http_error(status, 400, "empty body; JSON expected");
    json_error_t jerr;
    json_t *o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) return eddy_http_error(status, 400, "malformed JSON: %s", jerr.text);
    json_t *items = NULL;
    long long total = 0;
    char *bad = validate(o, status, &items, &total);
    if (bad) {
        json_decref(o);
        return bad;
    }
    const char *customer = json_string_value(json_object_get(o, "customerId"));
    json_t *cardv = json_object_get(o, "card");
    const char *card = cardv ? json_string_value(cardv) : "4242424242424242";
    char uuid[37], id[48], ts[32], tot[32];
    eddy_uuid_v7(uuid); /* time-ordered: the id indexes grow at one edge */
    snprintf(id, sizeof id, "ord-%s", uuid);
    now_ts(ts);
    snprintf(tot, sizeof tot, "%lld", total);
    eddy_store *st = eddy_service_store(svc);
    eddy_tx *tx = NULL;
    char *resp = NULL;
    if (!st ||
        eddy_tx_begin(st, eddy_service_name(svc), req->correlation_id, req->traceparent, &tx) < 0) {
        resp = eddy_http_error(status, 503, "store unavailable");
        goto out;
    }
    char *items_s = json_dumps(items, JSON_COMPACT);
    const char *p[] = {id, customer, items_s, tot, card, eddy_tx_correlation_id(tx), ts};
    int rc = eddy_tx_exec(tx,
                          "INSERT INTO orders (id, customer_id, items, total_cents, card, status,"
                          " status_rank, correlation_id, created_at, updated_at)"
                          " VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $7)",
                          7, p);
    free(items_s);
    json_t *payload = json_pack("{s:s,s:s,s:O,s:I,s:f,s:s}", "orderId", id, "customerId", customer,
                                "items", items, "totalCents", (json_int_t)total, "totalAmount",
                                (double)total / 100.0, "card", card);
    if (rc >= 0)
        rc = eddy_tx_publish(tx, T_ORDER, id, "order.created", "1.0", payload, NULL);
    else
        json_decref(payload);
    char corr[256];
    snprintf(corr, sizeof corr, "%s", eddy_tx_correlation_id(tx));
    if (rc < 0) {
        eddy_tx_rollback(tx);
        resp = eddy_http_error(status, 503, "could not store the order");
        goto out;
    }
    if (eddy_tx_commit(tx) < 0) {
        resp = eddy_http_error(status, 503, "could not store the order");
        goto out;
    }
    json_t *r = json_pack("{s:s,s:s,s:s,s:I}", "orderId", id, "status", "pending", "correlationId",
                          corr, "totalCents", (json_int_t)total);
    resp = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    *status = 201;
out:
    json_decref(items);
    json_decref(o);
    return resp;
}

static json_t *order_json(eddy_store *st, const char *id)
{
    const char *p[] = {id};
    eddy_rows *r = NULL;
    if (eddy_store_query(st,
                         "SELECT id, customer_id, items, total_cents, status, refunded,"
                         " correlation_id, created_at, updated_at FROM orders WHERE id = $1",
                         1, p, &r) < 0 ||
        eddy_rows_count(r) == 0) {
        eddy_rows_free(r);
        return NULL;
    }
    json_t *o = json_object();
    json_object_set_new(o, "orderId", json_string(eddy_rows_get(r, 0, 0)));
    json_object_set_new(o, "customerId", json_string(eddy_rows_get(r, 0, 1)));
    json_t *items = json_loads(eddy_rows_get(r, 0, 2), 0, NULL);
    json_object_set_new(o, "items", items ? items : json_array());
    json_object_set_new(o, "totalCents", json_integer(atoll(eddy_rows_get(r, 0, 3))));
    json_object_set_new(o, "status", json_string(eddy_rows_get(r, 0, 4)));
    json_object_set_new(o, "refunded", json_boolean(atoi(eddy_rows_get(r, 0, 5))));
    json_object_set_new(o, "correlationId", json_string(eddy_rows_get(r, 0, 6)));
    json_object_set_new(o, "createdAt", json_string(eddy_rows_get(r, 0, 7)));
    json_object_set_new(o, "updatedAt", json_string(eddy_rows_get(r, 0, 8)));
    eddy_rows_free(r);
    json_t *h = json_array();
    if (eddy_store_query(st,
                         "SELECT event_type, at FROM order_history WHERE order_id = $1"
                         " ORDER BY at, event_type",
                         1, p, &r) >= 0)
        for (int i = 0; i < eddy_rows_count(r); i++)
            json_array_append_new(h, json_pack("{s:s,s:s}", "eventType", eddy_rows_get(r, i, 0),
                                               "at", eddy_rows_get(r, i, 1)));
    eddy_rows_free(r);
    json_object_set_new(o, "history", h);
    return o;
}

static char *get_order(eddy_service *svc, const eddy_http_req *req, int *status, void *arg)
{
    eddy_store *st = eddy_service_store(svc);
    if (!st) return eddy_http_error(status, 503, "store unavailable");
    if (!strcmp(req->path, "/orders") || !strcmp(req->path, "/orders/")) {
        eddy_rows *r = NULL;
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
    json_t *o = order_json(st, id);
    if (!o) return eddy_http_error(status, 404, "order %s not found", id);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* ---- event handlers ----------------------------------------------------------------------- */
struct transition {
    const char *status;
    int rank;
};

/* Advances the order to status (only forward), records the event in its history. */
static int advance(eddy_ctx *ctx, const char *status, int rank)
{
    const eddy_event *ev = eddy_ctx_event(ctx);
    const char *id = pstr(ev, "orderId");
    if (!id) return eddy_ctx_fail(ctx, EDDY_ERR_PERMANENT, "payload has no orderId");
    char ts[32], rk[16];
    now_ts(ts);
    snprintf(rk, sizeof rk, "%d", rank);
    const char *h[] = {ev->event_id, id, ev->event_type, ts};
    int rc = eddy_ctx_exec(ctx,
                           "INSERT INTO order_history (event_id, order_id, event_type, at)"
                           " VALUES ($1, $2, $3, $4)",
                           4, h);
    if (rc < 0) return rc;
    if (!status) return 0;
    const char *p[] = {status, rk, ts, id};
    rc = eddy_ctx_exec(ctx,
                       "UPDATE orders SET status = $1, status_rank = $2, updated_at = $3"
                       " WHERE id = $4 AND status_rank < $2",
                       4, p);
    return rc < 0 ? rc : 0;
}

static int on_paid(eddy_ctx *ctx, void *arg)
{
    return advance(ctx, "paid", 1);
}

static int on_reserved(eddy_ctx *ctx, void *arg)
{
    return advance(ctx, "confirmed", 2);
}

static int on_notified(eddy_ctx *ctx, void *arg)
{
    const char *kind = pstr(eddy_ctx_event(ctx), "kind");
    return advance(ctx, kind && !strcmp(kind, "order_confirmed") ? "completed" : NULL, 3);
}

static int on_payment_failed(eddy_ctx *ctx, void *arg)
{
    return advance(ctx, "payment_failed", 10);
}

static int on_reservation_failed(eddy_ctx *ctx, void *arg)
{
    int rc = advance(ctx, "cancelled", 10);
    if (rc < 0) return rc;
    const eddy_event *ev = eddy_ctx_event(ctx);
    const char *id = pstr(ev, "orderId");
    const char *why = pstr(ev, "reason");
    return eddy_ctx_publish(ctx, T_ORDER, id, "order.cancelled", "1.0",
                            json_pack("{s:s,s:s}", "orderId", id, "reason",
                                      why ? why : "inventory reservation failed"));
}

static int on_refunded(eddy_ctx *ctx, void *arg)
{
    int rc = advance(ctx, NULL, 0);
    if (rc < 0) return rc;
    const char *p[] = {pstr(eddy_ctx_event(ctx), "orderId")};
    rc = eddy_ctx_exec(ctx, "UPDATE orders SET refunded = 1 WHERE id = $1", 1, p);
    return rc < 0 ? rc : 0;
}

int main(int argc, char **argv)
{
    eddy_service *svc;
    if (eddy_service_new("order", &svc) < 0) return 1;
    /* POSTs on 4 threads, each with its own store connection: a POST waiting for its commit
     * (PostgreSQL: one synchronous commit each; SQLite: the write lock) does not hold up the
     * others, and PostgreSQL commits concurrent POSTs together. Route callbacks here share no
     * state but the store. A config file or EDDY_HTTP_THREADS overrides it. */
    eddy_service_set(svc, "http.threads", "4");
    eddy_service_topic(svc, T_ORDER);
    eddy_service_route(svc, "POST", "/orders", post_order, NULL);
    eddy_service_route(svc, "GET", "/orders", get_order, NULL);
    eddy_service_on(svc, T_PAYMENT, "payment.processed", "1", on_paid, NULL);
    eddy_service_on(svc, T_PAYMENT, "payment.failed", "1", on_payment_failed, NULL);
    eddy_service_on(svc, T_PAYMENT, "payment.refunded", "1", on_refunded, NULL);
    eddy_service_on(svc, T_INVENTORY, "inventory.reserved", "1", on_reserved, NULL);
    eddy_service_on(svc, T_INVENTORY, "inventory.reservation_failed", "1", on_reservation_failed,
                    NULL);
    eddy_service_on(svc, T_NOTIFICATION, "notification.sent", "1", on_notified, NULL);
    return svc_main(svc, argc, argv, SCHEMA);
}
