/* inventory — the reference inventory service (services/inventory): on payment.processed it
 * reserves every item of the order from its own stock table (all or nothing) and emits
 * inventory.reserved or inventory.reservation_failed. Seed stock: SKU-BOOK, SKU-MUG, SKU-LAMP
 * plentiful; SKU-RARE none (always fails, the compensation path). GET /stock lists stock.
 * In the orchestrated flow (order-orchestrator) it answers saga commands on
 * inventory.commands: inventory.reserve (→ inventory.reserved / inventory.reservation_failed)
 * and its compensation inventory.release (→ inventory.released), each applied once per
 * idempotency key; an order holding SKU-SILENT is never answered (a participant that is
 * down or lost the command: the orchestrator's timeout path). */
#include <eddy/saga.h>

#include "../common/svc.h"

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS stock ("
    " sku TEXT PRIMARY KEY, available BIGINT NOT NULL, reserved BIGINT NOT NULL DEFAULT 0)"
    " /*sqlite: WITHOUT ROWID*/;"
    "CREATE TABLE IF NOT EXISTS reservations ("
    " order_id TEXT PRIMARY KEY, items TEXT NOT NULL, created_at TEXT NOT NULL)"
    " /*sqlite: WITHOUT ROWID*/;"
    "CREATE TABLE IF NOT EXISTS inventory_commands ("
    " idempotency_key TEXT PRIMARY KEY, outcome TEXT NOT NULL, order_id TEXT,"
    " reply_type TEXT, reply TEXT, at TEXT NOT NULL) /*sqlite: WITHOUT ROWID*/;"
    "INSERT INTO stock (sku, available) VALUES ('SKU-BOOK', 1000000), ('SKU-MUG', 1000000),"
    " ('SKU-LAMP', 1000000), ('SKU-RARE', 0) ON CONFLICT (sku) DO NOTHING;";

static int stock_check(eddy_ctx *ctx, json_t *items, char **failure);
static int stock_take(eddy_ctx *ctx, const char *order, json_t *items);

static int on_payment_processed(eddy_ctx *ctx, void *arg)
{
    const eddy_event *ev = eddy_ctx_event(ctx);
    const char *order = pstr(ev, "orderId"), *pid = pstr(ev, "paymentId");
    json_t *items = json_object_get(ev->payload, "items");
    if (!order || !json_is_array(items))
        return eddy_ctx_fail(ctx, EDDY_ERR_PERMANENT, "payment.processed lacks orderId/items");
    const char *q[] = {order};
    eddy_rows *r = NULL;
    int rc = eddy_ctx_query(ctx, "SELECT 1 FROM reservations WHERE order_id = $1", 1, q, &r);
    int exists = eddy_rows_count(r) > 0;
    eddy_rows_free(r);
    if (rc < 0) return rc;
    if (exists) return 0;
    char *failure = NULL;
    if ((rc = stock_check(ctx, items, &failure)) < 0) return rc;
    if (failure) {
        rc = eddy_ctx_publish(
            ctx, T_INVENTORY, order, "inventory.reservation_failed", "1.0",
            json_pack("{s:s,s:s?,s:s}", "orderId", order, "paymentId", pid, "reason", failure));
        free(failure);
        return rc;
    }
    if ((rc = stock_take(ctx, order, items)) < 0) return rc;
    return eddy_ctx_publish(ctx, T_INVENTORY, order, "inventory.reserved", "1.0",
                            json_pack("{s:s,s:s?,s:O}", "orderId", order, "customerId",
                                      pstr(ev, "customerId"), "items", items));
}

/* Checks every item first (one consumer thread owns the table's writes): *failure set (malloc'd
 * reason) when the order cannot be reserved whole. */
static int stock_check(eddy_ctx *ctx, json_t *items, char **failure)
{
    int rc;
    eddy_rows *r = NULL;
    size_t i;
    json_t *it;
    *failure = NULL;
    json_array_foreach(items, i, it)
    {
        const char *sku = json_string_value(json_object_get(it, "sku"));
        json_int_t qty = json_integer_value(json_object_get(it, "quantity"));
        if (!sku || qty <= 0) {
            *failure = strdup("malformed item");
            break;
        }
        const char *p[] = {sku};
        rc = eddy_ctx_query(ctx, "SELECT available FROM stock WHERE sku = $1", 1, p, &r);
        if (rc < 0) return rc;
        long long avail = eddy_rows_count(r) ? atoll(eddy_rows_get(r, 0, 0)) : -1;
        eddy_rows_free(r);
        if (avail < 0) {
            if (asprintf(failure, "unknown sku %s", sku) < 0) abort();
            break;
        }
        if (avail < qty) {
            if (asprintf(failure, "insufficient stock for %s (%lld available, %lld wanted)", sku,
                         avail, (long long)qty) < 0)
                abort();
            break;
        }
    }
    return 0;
}

/* Moves the items from available to reserved and records the reservation. */
static int stock_take(eddy_ctx *ctx, const char *order, json_t *items)
{
    int rc;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        char qty[32];
        snprintf(qty, sizeof qty, "%lld",
                 (long long)json_integer_value(json_object_get(it, "quantity")));
        const char *p[] = {qty, json_string_value(json_object_get(it, "sku"))};
        rc = eddy_ctx_exec(ctx,
                           "UPDATE stock SET available = available - $1,"
                           " reserved = reserved + $1 WHERE sku = $2",
                           2, p);
        if (rc < 0) return rc;
    }
    char ts[32];
    now_ts(ts);
    char *items_s = json_dumps(items, JSON_COMPACT);
    const char *p[] = {order, items_s, ts};
    rc = eddy_ctx_exec(
        ctx, "INSERT INTO reservations (order_id, items, created_at) VALUES ($1, $2, $3)", 3, p);
    free(items_s);
    return rc < 0 ? rc : 0;
}

/* ---- saga commands (order-orchestrator) --------------------------------------------------- */
static int cmd_record(eddy_ctx *ctx, const char *key, const char *outcome, const char *order,
                      const char *type, json_t *reply)
{
    char ts[32];
    now_ts(ts);
    char *rs = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
    const char *p[] = {key, outcome, order, type, rs, ts};
    int rc = eddy_ctx_exec(ctx,
                           "INSERT INTO inventory_commands (idempotency_key, outcome,"
                           " order_id, reply_type, reply, at) VALUES ($1, $2, $3, $4, $5, $6)"
                           " ON CONFLICT (idempotency_key) DO UPDATE SET outcome = $2",
                           6, p);
    free(rs);
    return rc < 0 ? rc : 0;
}

/* 1 if key was handled: outcome and the recorded reply (type, payload) returned. */
static int cmd_seen(eddy_ctx *ctx, const char *key, char **outcome, char **type, json_t **reply)
{
    const char *p[] = {key};
    eddy_rows *r = NULL;
    int rc = eddy_ctx_query(ctx,
                            "SELECT outcome, reply_type, reply FROM inventory_commands"
                            " WHERE idempotency_key = $1",
                            1, p, &r);
    if (rc > 0) {
        *outcome = strdup(eddy_rows_get(r, 0, 0));
        *type = eddy_rows_get(r, 0, 1) ? strdup(eddy_rows_get(r, 0, 1)) : NULL;
        *reply = eddy_rows_get(r, 0, 2) ? json_loads(eddy_rows_get(r, 0, 2), 0, NULL) : NULL;
    }
    eddy_rows_free(r);
    return rc;
}

static int cmd_answer(eddy_ctx *ctx, const char *key, const char *outcome, const char *order,
                      const char *type, json_t *payload)
{
    int rc = cmd_record(ctx, key, outcome, order, type, payload);
    if (rc < 0) {
        json_decref(payload);
        return rc;
    }
    return eddy_saga_reply(ctx, type, payload);
}

static int on_reserve_cmd(eddy_ctx *ctx, void *arg)
{
    const eddy_event *ev = eddy_ctx_event(ctx);
    const char *key = eddy_saga_idempotency_key(ctx), *order = pstr(ev, "orderId");
    json_t *items = json_object_get(ev->payload, "items");
    if (!key || !order || !json_is_array(items))
        return eddy_ctx_fail(ctx, EDDY_ERR_PERMANENT,
                             "inventory.reserve needs idempotencyKey, orderId, items");
    char *outcome = NULL, *type = NULL;
    json_t *reply = NULL;
    int rc = cmd_seen(ctx, key, &outcome, &type, &reply);
    if (rc < 0) return rc;
    if (rc > 0) { /* answered before (or released before it arrived): the same answer again */
        int cancelled = !strcmp(outcome, "cancelled"), silent = !strcmp(outcome, "silent");
        free(outcome);
        if (silent || (!type && !cancelled)) {
            free(type);
            json_decref(reply);
            return 0;
        }
        if (cancelled) {
            free(type);
            json_decref(reply);
            return eddy_saga_reply(
                ctx, "inventory.reservation_failed",
                json_pack("{s:s,s:s}", "orderId", order, "reason", "released before it arrived"));
        }
        rc = eddy_saga_reply(ctx, type, reply ? reply : json_object());
        free(type);
        return rc;
    }
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *sku = json_string_value(json_object_get(it, "sku"));
        if (sku && !strcmp(sku, "SKU-SILENT"))
            return cmd_record(ctx, key, "silent", order, NULL, NULL);
    }
    char *failure = NULL;
    if ((rc = stock_check(ctx, items, &failure)) < 0) return rc;
    if (failure) {
        rc = cmd_answer(ctx, key, "failed", order, "inventory.reservation_failed",
                        json_pack("{s:s,s:s}", "orderId", order, "reason", failure));
        free(failure);
        return rc;
    }
    if ((rc = stock_take(ctx, order, items)) < 0) return rc;
    return cmd_answer(ctx, key, "reserved", order, "inventory.reserved",
                      json_pack("{s:s,s:O}", "orderId", order, "items", items));
}

static int on_release_cmd(eddy_ctx *ctx, void *arg)
{
    const eddy_event *ev = eddy_ctx_event(ctx);
    const char *key = eddy_saga_idempotency_key(ctx), *order = pstr(ev, "orderId");
    const char *saga = pstr(ev, "sagaId"), *step = pstr(ev, "step");
    if (!key || !order || !saga || !step)
        return eddy_ctx_fail(ctx, EDDY_ERR_PERMANENT,
                             "inventory.release needs idempotencyKey, orderId, sagaId, step");
    char *outcome = NULL, *type = NULL;
    json_t *reply = NULL;
    int rc = cmd_seen(ctx, key, &outcome, &type, &reply);
    if (rc < 0) return rc;
    if (rc > 0) {
        free(outcome);
        rc = type ? eddy_saga_reply(ctx, type, reply ? reply : json_object()) : 0;
        if (!type) json_decref(reply);
        free(type);
        return rc;
    }
    char do_key[300];
    snprintf(do_key, sizeof do_key, "%s:%s:do", saga, step);
    rc = cmd_seen(ctx, do_key, &outcome, &type, &reply);
    if (rc < 0) return rc;
    int reserved = rc > 0 && !strcmp(outcome, "reserved");
    int arrived = rc > 0;
    free(outcome);
    free(type);
    json_decref(reply);
    if (!arrived && (rc = cmd_record(ctx, do_key, "cancelled", order, NULL, NULL)) < 0) return rc;
    if (reserved) { /* give the reserved items back */
        const char *q[] = {order};
        eddy_rows *r = NULL;
        rc = eddy_ctx_query(ctx, "SELECT items FROM reservations WHERE order_id = $1", 1, q, &r);
        json_t *items = rc > 0 ? json_loads(eddy_rows_get(r, 0, 0), 0, NULL) : NULL;
        eddy_rows_free(r);
        if (rc < 0) return rc;
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
            char qty[32];
            snprintf(qty, sizeof qty, "%lld",
                     (long long)json_integer_value(json_object_get(it, "quantity")));
            const char *p[] = {qty, json_string_value(json_object_get(it, "sku"))};
            rc = eddy_ctx_exec(ctx,
                               "UPDATE stock SET available = available + $1,"
                               " reserved = reserved - $1 WHERE sku = $2",
                               2, p);
            if (rc < 0) break;
        }
        json_decref(items);
        if (rc < 0) return rc;
        if ((rc = eddy_ctx_exec(ctx, "DELETE FROM reservations WHERE order_id = $1", 1, q)) < 0)
            return rc;
        if ((rc = cmd_record(ctx, do_key, "released", order, NULL, NULL)) < 0) return rc;
    }
    return cmd_answer(ctx, key, reserved ? "released" : "nothing-to-release", order,
                      "inventory.released",
                      json_pack("{s:s,s:b}", "orderId", order, "released", reserved));
}

static char *get_stock(eddy_service *svc, const eddy_http_req *req, int *status, void *arg)
{
    eddy_store *st = eddy_service_store(svc);
    eddy_rows *r = NULL;
    if (!st || eddy_store_query(st, "SELECT sku, available, reserved FROM stock ORDER BY sku", 0,
                                NULL, &r) < 0)
        return eddy_http_error(status, 503, "store unavailable");
    json_t *a = json_array();
    for (int i = 0; i < eddy_rows_count(r); i++)
        json_array_append_new(a, json_pack("{s:s,s:I,s:I}", "sku", eddy_rows_get(r, i, 0),
                                           "available", (json_int_t)atoll(eddy_rows_get(r, i, 1)),
                                           "reserved", (json_int_t)atoll(eddy_rows_get(r, i, 2))));
    eddy_rows_free(r);
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

int main(int argc, char **argv)
{
    eddy_service *svc;
    if (eddy_service_new("inventory", &svc) < 0) return 1;
    eddy_service_topic(svc, T_INVENTORY);
    eddy_service_on(svc, T_PAYMENT, "payment.processed", "1", on_payment_processed, NULL);
    eddy_service_on(svc, "inventory.commands", "inventory.reserve", "1", on_reserve_cmd, NULL);
    eddy_service_on(svc, "inventory.commands", "inventory.release", "1", on_release_cmd, NULL);
    eddy_service_route(svc, "GET", "/stock", get_stock, NULL);
    return svc_main(svc, argc, argv, SCHEMA);
}
