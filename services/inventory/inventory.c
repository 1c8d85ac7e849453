/* inventory — the reference inventory service (services/inventory): on payment.processed it
 * reserves every item of the order from its own stock table (all or nothing) and emits
 * inventory.reserved or inventory.reservation_failed. Seed stock: SKU-BOOK, SKU-MUG, SKU-LAMP
 * plentiful; SKU-RARE none (always fails, the compensation path). GET /stock lists stock. */
#include "../common/svc.h"

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS stock ("
    " sku TEXT PRIMARY KEY, available BIGINT NOT NULL, reserved BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS reservations ("
    " order_id TEXT PRIMARY KEY, items TEXT NOT NULL, created_at TEXT NOT NULL);"
    "INSERT INTO stock (sku, available) VALUES ('SKU-BOOK', 1000000), ('SKU-MUG', 1000000),"
    " ('SKU-LAMP', 1000000), ('SKU-RARE', 0) ON CONFLICT (sku) DO NOTHING;";

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
    /* Check everything first (one consumer thread owns the table's writes), then reserve. */
    char *failure = NULL;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        const char *sku = json_string_value(json_object_get(it, "sku"));
        json_int_t qty = json_integer_value(json_object_get(it, "quantity"));
        if (!sku || qty <= 0) {
            failure = strdup("malformed item");
            break;
        }
        const char *p[] = {sku};
        rc = eddy_ctx_query(ctx, "SELECT available FROM stock WHERE sku = $1", 1, p, &r);
        if (rc < 0) return rc;
        long long avail = eddy_rows_count(r) ? atoll(eddy_rows_get(r, 0, 0)) : -1;
        eddy_rows_free(r);
        if (avail < 0) {
            if (asprintf(&failure, "unknown sku %s", sku) < 0) abort();
            break;
        }
        if (avail < qty) {
            if (asprintf(&failure, "insufficient stock for %s (%lld available, %lld wanted)", sku,
                         avail, (long long)qty) < 0)
                abort();
            break;
        }
    }
    if (failure) {
        rc = eddy_ctx_publish(ctx, T_INVENTORY, order, "inventory.reservation_failed", "1.0",
                              json_pack("{s:s,s:s?,s:s}", "orderId", order, "paymentId", pid,
                                        "reason", failure));
        free(failure);
        return rc;
    }
    json_array_foreach(items, i, it) {
        char qty[32];
        snprintf(qty, sizeof qty, "%lld", (long long)json_integer_value(json_object_get(it, "quantity")));
        const char *p[] = {qty, json_string_value(json_object_get(it, "sku"))};
        rc = eddy_ctx_exec(ctx, "UPDATE stock SET available = available - $1,"
                                " reserved = reserved + $1 WHERE sku = $2", 2, p);
        if (rc < 0) return rc;
    }
    char ts[32];
    now_ts(ts);
    char *items_s = json_dumps(items, JSON_COMPACT);
    const char *p[] = {order, items_s, ts};
    rc = eddy_ctx_exec(ctx, "INSERT INTO reservations (order_id, items, created_at) VALUES ($1, $2, $3)",
                       3, p);
    free(items_s);
    if (rc < 0) return rc;
    return eddy_ctx_publish(ctx, T_INVENTORY, order, "inventory.reserved", "1.0",
                            json_pack("{s:s,s:s?,s:O}", "orderId", order, "customerId",
                                      pstr(ev, "customerId"), "items", items));
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
    eddy_service_route(svc, "GET", "/stock", get_stock, NULL);
    return svc_main(svc, argc, argv, SCHEMA);
}
