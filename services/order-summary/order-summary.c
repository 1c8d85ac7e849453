/* order-summary — the reference CQRS read side (services/order-summary): a projection (libeddy
 * projection.h) over order.events, payment.events, inventory.events and notification.events
 * keeps one row per order (customer, total, items, status, paid, refunded), and
 * GET /customers/{id}/orders answers from it. Every change is order-independent across topics
 * (the status only moves to a higher rank, times are the events' own), so a rebuild from the
 * log (POST /projections/order-summary/rebuild, `eddy projections rebuild`) produces a
 * byte-identical read model, served from the old tables until the new ones have caught up. */
#include <eddy/eventstore.h>
#include <eddy/projection.h>

#include "../common/svc.h"

static eddy_projection *g_proj;

static int reset(eddy_tx *tx, const char *sfx, void *arg)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "DROP TABLE IF EXISTS order_summary%s;"
             "CREATE TABLE order_summary%s ("
             " order_id TEXT PRIMARY KEY, customer_id TEXT, total_cents BIGINT, items INTEGER,"
             " status TEXT NOT NULL, status_rank INTEGER NOT NULL, paid INTEGER NOT NULL,"
             " refunded INTEGER NOT NULL, reason TEXT, created_at TEXT, updated_at TEXT NOT NULL);"
             "CREATE INDEX order_summary%s_customer ON order_summary%s(customer_id, created_at);",
             sfx, sfx, sfx, sfx);
    return eddy_tx_exec(tx, sql, 0, NULL);
}

static int drop(eddy_tx *tx, const char *sfx, void *arg)
{
    char sql[256];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS order_summary%s", sfx);
    return eddy_tx_exec(tx, sql, 0, NULL);
}

/* What each event says about an order: a status with its rank, and flags. */
static const struct {
    const char *type, *status;
    int rank, paid, refunded;
} MAP[] = {
    {"order.created", "pending", 0, 0, 0},
    {"payment.processed", "paid", 1, 1, 0},
    {"inventory.reserved", "confirmed", 2, 0, 0},
    {"notification.sent", "completed", 3, 0, 0},
    {"payment.failed", "payment_failed", 10, 0, 0},
    {"inventory.reservation_failed", "cancelled", 10, 0, 0},
    {"order.cancelled", "cancelled", 10, 0, 0},
    {"payment.refunded", NULL, -1, 0, 1},
};

static int apply(eddy_tx *tx, const eddy_event *ev, const char *sfx, void *arg)
{
    const char *order = pstr(ev, "orderId");
    if (!order) return 0; /* not about an order */
    int k = -1;
    for (size_t i = 0; i < sizeof MAP / sizeof *MAP; i++)
        if (!strcmp(MAP[i].type, ev->event_type)) k = (int)i;
    if (k < 0) return 0;
    if (!strcmp(ev->event_type, "notification.sent")) {
        const char *kind = pstr(ev, "kind");
        if (!kind || strcmp(kind, "order_confirmed")) return 0;
    }
    char rank[8], paid[4], refunded[4], total[24], nitems[16];
    snprintf(rank, sizeof rank, "%d", MAP[k].rank);
    snprintf(paid, sizeof paid, "%d", MAP[k].paid);
    snprintf(refunded, sizeof refunded, "%d", MAP[k].refunded);
    int created = k == 0;
    long long tc = pint(ev, "totalCents", -1);
    json_t *items = json_object_get(ev->payload, "items");
    snprintf(total, sizeof total, "%lld", tc);
    snprintf(nitems, sizeof nitems, "%zu", json_is_array(items) ? json_array_size(items) : 0);
    const char *reason = MAP[k].rank == 10 ? pstr(ev, "reason") : NULL;
    char sql[2048];
    /* Insert or merge: every column is combined so that the result does not depend on the
     * order events of different topics arrive in. */
    snprintf(sql, sizeof sql,
             "INSERT INTO order_summary%s AS s (order_id, customer_id, total_cents, items, status,"
             " status_rank, paid, refunded, reason, created_at, updated_at)"
             " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
             " ON CONFLICT (order_id) DO UPDATE SET"
             " customer_id = COALESCE(s.customer_id, excluded.customer_id),"
             " total_cents = COALESCE(s.total_cents, excluded.total_cents),"
             " items = COALESCE(s.items, excluded.items),"
             " status = CASE WHEN excluded.status_rank > s.status_rank THEN excluded.status"
             "  ELSE s.status END,"
             " reason = CASE WHEN excluded.status_rank > s.status_rank THEN excluded.reason"
             "  ELSE s.reason END,"
             " status_rank = CASE WHEN excluded.status_rank > s.status_rank"
             "  THEN excluded.status_rank ELSE s.status_rank END,"
             " paid = CASE WHEN excluded.paid > s.paid THEN excluded.paid ELSE s.paid END,"
             " refunded = CASE WHEN excluded.refunded > s.refunded THEN excluded.refunded"
             "  ELSE s.refunded END,"
             " created_at = COALESCE(s.created_at, excluded.created_at),"
             " updated_at = CASE WHEN excluded.updated_at > s.updated_at THEN excluded.updated_at"
             "  ELSE s.updated_at END",
             sfx);
    const char *p[] = {order,
                       created ? pstr(ev, "customerId") : NULL,
                       created && tc >= 0 ? total : NULL,
                       created ? nitems : NULL,
                       MAP[k].status ? MAP[k].status : "pending",
                       MAP[k].status ? rank : "-1",
                       paid,
                       refunded,
                       reason,
                       created ? ev->timestamp : NULL,
                       ev->timestamp};
    int rc = eddy_tx_exec(tx, sql, 11, p);
    return rc < 0 ? rc : 0;
}

static char *get_orders(eddy_service *svc, const eddy_http_req *req, int *status, void *arg)
{
    const char *rest = req->path + strlen("/customers/");
    if (strncmp(req->path, "/customers/", 11))
        return eddy_http_error(status, 404, "GET /customers/{id}/orders");
    size_t n = strcspn(rest, "/");
    if (!n || n > 100 || strcmp(rest + n, "/orders"))
        return eddy_http_error(status, 404, "no route for GET %s (GET /customers/{id}/orders)",
                               req->path);
    char cust[128], sfx[16], sql[512];
    memcpy(cust, rest, n);
    cust[n] = 0;
    eddy_projection_suffix(g_proj, sfx);
    snprintf(
        sql, sizeof sql,
        "SELECT order_id, total_cents, items, status, paid, refunded, reason, created_at,"
        " updated_at FROM order_summary%s WHERE customer_id = $1 ORDER BY created_at, order_id",
        sfx);
    eddy_store *st = eddy_service_store(svc);
    eddy_rows *r = NULL;
    const char *p[] = {cust};
    if (!st || eddy_store_query(st, sql, 1, p, &r) < 0)
        return eddy_http_error(status, 503, "store unavailable");
    json_t *a = json_array();
    for (int i = 0; i < eddy_rows_count(r); i++) {
        const char *reason = eddy_rows_get(r, i, 6);
        json_array_append_new(
            a, json_pack("{s:s,s:I,s:i,s:s,s:b,s:b,s:s?,s:s?,s:s}", "orderId",
                         eddy_rows_get(r, i, 0), "totalCents",
                         (json_int_t)atoll(eddy_rows_get(r, i, 1) ? eddy_rows_get(r, i, 1) : "0"),
                         "items", atoi(eddy_rows_get(r, i, 2) ? eddy_rows_get(r, i, 2) : "0"),
                         "status", eddy_rows_get(r, i, 3), "paid", atoi(eddy_rows_get(r, i, 4)),
                         "refunded", atoi(eddy_rows_get(r, i, 5)), "reason", reason, "createdAt",
                         eddy_rows_get(r, i, 7), "updatedAt", eddy_rows_get(r, i, 8)));
    }
    eddy_rows_free(r);
    json_t *o = json_pack("{s:s,s:s,s:o}", "customerId", cust, "generation", sfx + 2, "orders", a);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static const char *const TOPICS[] = {T_ORDER, T_PAYMENT, T_INVENTORY, T_NOTIFICATION, NULL};

int main(int argc, char **argv)
{
    eddy_service *svc;
    if (eddy_service_new("order-summary", &svc) < 0) return 1;
    static const eddy_projection_def def = {"order-summary", TOPICS, apply, reset, drop, 500, NULL};
    if (eddy_projection_attach(svc, &def, &g_proj) < 0) {
        fprintf(stderr, "order-summary: %s\n", eddy_es_error());
        return 1;
    }
    eddy_service_route(svc, "GET", "/customers", get_orders, NULL);
    return svc_main(svc, argc, argv, NULL);
}
