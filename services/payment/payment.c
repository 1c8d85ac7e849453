/* payment — the reference payment service (services/payment): on order.created it charges
 * through a simulated gateway whose answer is deterministic from the order, and emits
 * payment.processed or payment.failed; on inventory.reservation_failed it refunds (compensation)
 * and emits payment.refunded. GET /payments/{orderId} shows the payment and how many times the
 * gateway charged it.
 * Gateway rules (by card number): ends in 0002 → declined; ends in 0119 → gateway timeout on
 * the first two attempts (transient, retried); ends in 0341 → gateway error on every attempt
 * (the event ends in the DLQ); anything else → approved.
 * With payment.accounts = on (EDDY_PAYMENT_ACCOUNTS=on) the funds come from the accounts service
 * instead of the card rule: payment asks accounts to debit (account.debit on account.commands,
 * answered on payment.replies) and an insufficient balance is the "payment declined" path;
 * the refund is an account.credit. The gateway's timeout/error cards still apply first. */
#include "../common/svc.h"

#define T_PAYMENT_REPLIES "payment.replies"

static int g_accounts; /* payment.accounts = on */

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS payments ("
    " id TEXT PRIMARY KEY, order_id TEXT NOT NULL UNIQUE, customer_id TEXT NOT NULL,"
    " amount_cents BIGINT NOT NULL, status TEXT NOT NULL, reason TEXT,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL) /*sqlite: WITHOUT ROWID*/;"
    "CREATE TABLE IF NOT EXISTS gateway_ledger ("
    " id TEXT PRIMARY KEY, order_id TEXT NOT NULL, kind TEXT NOT NULL,"
    " amount_cents BIGINT NOT NULL, at TEXT NOT NULL) /*sqlite: WITHOUT ROWID*/;"
    "CREATE INDEX IF NOT EXISTS gateway_ledger_order ON gateway_ledger(order_id);"
    "CREATE TABLE IF NOT EXISTS payment_requests ("
    " order_id TEXT PRIMARY KEY, items TEXT NOT NULL) /*sqlite: WITHOUT ROWID*/;";

/* An account command for order (payload stolen): the saga command protocol of saga.h with the
 * order id as saga id, so accounts applies it once per order and kind. */
static int account_command(eddy_ctx *ctx, const char *order, const char *type, const char *kind,
                           json_t *payload)
{
    char key[200];
    snprintf(key, sizeof key, "%s:payment:%s", order, kind);
    json_object_set_new(payload, "sagaId", json_string(order));
    json_object_set_new(payload, "step", json_string("payment"));
    json_object_set_new(payload, "replyTo", json_string(T_PAYMENT_REPLIES));
    json_object_set_new(payload, "idempotencyKey", json_string(key));
    json_object_set_new(payload, "orderId", json_string(order));
    return eddy_ctx_publish(ctx, "account.commands", order, type, "1.0", payload);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int ledger(eddy_ctx *ctx, const char *order, const char *kind, const char *amount)
{
    char id[37], ts[32];
    eddy_uuid_v7(id);
    now_ts(ts);
    const char *p[] = {id, order, kind, amount, ts};
    int rc = eddy_ctx_exec(ctx,
                           "INSERT INTO gateway_ledger (id, order_id, kind, amount_cents, at)"
                           " VALUES ($1, $2, $3, $4, $5)",
                           5, p);
    return rc < 0 ? rc : 0;
}

static int on_order_created(eddy_ctx *ctx, void *arg)
{
    const eddy_event *ev = eddy_ctx_event(ctx);
    const char *order = pstr(ev, "orderId"), *customer = pstr(ev, "customerId");
    const char *card = pstr(ev, "card");
    long long total = pint(ev, "totalCents", -1);
    if (!order || !customer || total < 0)
        return eddy_ctx_fail(ctx, EDDY_ERR_PERMANENT,
                             "order.created lacks orderId/customerId/totalCents");
    if (!card) card = "";
    /* Business-level idempotency as well: one payment per order. */
    const char *q[] = {order};
    eddy_rows *r = NULL;
    int rc = eddy_ctx_query(ctx, "SELECT status FROM payments WHERE order_id = $1", 1, q, &r);
    int exists = eddy_rows_count(r) > 0;
    eddy_rows_free(r);
    if (rc < 0) return rc;
    if (exists) return 0;

    if (ends_with(card, "0341"))
        return eddy_ctx_fail(ctx, EDDY_ERR_TRANSIENT, "gateway error 502 for card …0341");
    if (ends_with(card, "0119") && eddy_ctx_attempt(ctx) < 3)
        return eddy_ctx_fail(ctx, EDDY_ERR_TRANSIENT, "gateway timeout (attempt %d)",
                             eddy_ctx_attempt(ctx));
    int declined = !g_accounts && ends_with(card, "0002");
    char pid[48], uuid[37], ts[32], amount[32];
    eddy_uuid_v7(uuid);
    snprintf(pid, sizeof pid, "pay-%s", uuid);
    now_ts(ts);
    snprintf(amount, sizeof amount, "%lld", total);
    const char *p[] = {pid,
                       order,
                       customer,
                       amount,
                       g_accounts ? "awaiting_funds"
                       : declined ? "declined"
                                  : "charged",
                       declined ? "card declined" : NULL,
                       ts};
    rc = eddy_ctx_exec(ctx,
                       "INSERT INTO payments (id, order_id, customer_id, amount_cents, status,"
                       " reason, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                       7, p);
    if (rc < 0) return rc;
    json_t *items = json_object_get(ev->payload, "items");
    if (g_accounts) { /* the funds decide: ask accounts */
        char *is = json_dumps(items ? items : json_array(), JSON_COMPACT);
        const char *ri[] = {order, is};
        rc = eddy_ctx_exec(ctx, "INSERT INTO payment_requests (order_id, items) VALUES ($1, $2)", 2,
                           ri);
        free(is);
        if (rc < 0) return rc;
        return account_command(
            ctx, order, "account.debit", "do",
            json_pack("{s:s,s:I}", "customerId", customer, "amountCents", (json_int_t)total));
    }
    if (declined)
        return eddy_ctx_publish(ctx, T_PAYMENT, order, "payment.failed", "1.0",
                                json_pack("{s:s,s:s,s:s,s:s}", "orderId", order, "paymentId", pid,
                                          "customerId", customer, "reason", "card declined"));
    if ((rc = ledger(ctx, order, "charge", amount)) < 0) return rc;
    return eddy_ctx_publish(ctx, T_PAYMENT, order, "payment.processed", "1.0",
                            json_pack("{s:s,s:s,s:s,s:I,s:O}", "orderId", order, "paymentId", pid,
                                      "customerId", customer, "amountCents", (json_int_t)total,
                                      "items", items ? items : json_array()));
}

static int on_reservation_failed(eddy_ctx *ctx, void *arg)
{
    const eddy_event *ev = eddy_ctx_event(ctx);
    const char *order = pstr(ev, "orderId");
    if (!order) return eddy_ctx_fail(ctx, EDDY_ERR_PERMANENT, "payload has no orderId");
    const char *q[] = {order};
    eddy_rows *r = NULL;
    int rc = eddy_ctx_query(ctx,
                            "SELECT id, amount_cents, status, customer_id FROM payments"
                            " WHERE order_id = $1",
                            1, q, &r);
    if (rc < 0) return rc;
    if (eddy_rows_count(r) == 0 || strcmp(eddy_rows_get(r, 0, 2), "charged")) {
        eddy_rows_free(r);
        return 0; /* nothing to refund */
    }
    char pid[64], amount[32], ts[32], customer[128];
    snprintf(pid, sizeof pid, "%s", eddy_rows_get(r, 0, 0));
    snprintf(amount, sizeof amount, "%s", eddy_rows_get(r, 0, 1));
    snprintf(customer, sizeof customer, "%s", eddy_rows_get(r, 0, 3));
    eddy_rows_free(r);
    now_ts(ts);
    const char *p[] = {ts, order};
    if (g_accounts) { /* the refund is a credit; payment.refunded follows its answer */
        rc = eddy_ctx_exec(ctx,
                           "UPDATE payments SET status = 'refunding', updated_at = $1"
                           " WHERE order_id = $2",
                           2, p);
        if (rc < 0) return rc;
        return account_command(ctx, order, "account.credit", "undo",
                               json_pack("{s:s,s:I}", "customerId", customer, "amountCents",
                                         (json_int_t)atoll(amount)));
    }
    rc = eddy_ctx_exec(ctx,
                       "UPDATE payments SET status = 'refunded', updated_at = $1"
                       " WHERE order_id = $2",
                       2, p);
    if (rc < 0) return rc;
    if ((rc = ledger(ctx, order, "refund", amount)) < 0) return rc;
    return eddy_ctx_publish(ctx, T_PAYMENT, order, "payment.refunded", "1.0",
                            json_pack("{s:s,s:s,s:I,s:s}", "orderId", order, "paymentId", pid,
                                      "amountCents", (json_int_t)atoll(amount), "reason",
                                      "inventory reservation failed"));
}

/* ---- answers of the accounts service (payment.accounts = on) ------------------------------ */
/* The payment row of the order a reply is about: status and fields; 0 if none. */
static int reply_payment(eddy_ctx *ctx, const char **order, char *pid, char *customer, char *amount,
                         char *status)
{
    *order = pstr(eddy_ctx_event(ctx), "sagaId");
    if (!*order) return eddy_ctx_fail(ctx, EDDY_ERR_PERMANENT, "reply without sagaId");
    const char *q[] = {*order};
    eddy_rows *r = NULL;
    int rc = eddy_ctx_query(ctx,
                            "SELECT id, customer_id, amount_cents, status FROM payments"
                            " WHERE order_id = $1",
                            1, q, &r);
    if (rc > 0) {
        snprintf(pid, 64, "%s", eddy_rows_get(r, 0, 0));
        snprintf(customer, 128, "%s", eddy_rows_get(r, 0, 1));
        snprintf(amount, 32, "%s", eddy_rows_get(r, 0, 2));
        snprintf(status, 32, "%s", eddy_rows_get(r, 0, 3));
    }
    eddy_rows_free(r);
    return rc;
}

static int set_status(eddy_ctx *ctx, const char *order, const char *status, const char *reason)
{
    char ts[32];
    now_ts(ts);
    const char *p[] = {status, reason, ts, order};
    int rc = eddy_ctx_exec(ctx,
                           "UPDATE payments SET status = $1, reason = $2, updated_at = $3"
                           " WHERE order_id = $4",
                           4, p);
    return rc < 0 ? rc : 0;
}

static int on_debited(eddy_ctx *ctx, void *arg)
{
    const char *order;
    char pid[64], customer[128], amount[32], status[32];
    int rc = reply_payment(ctx, &order, pid, customer, amount, status);
    if (rc <= 0 || strcmp(status, "awaiting_funds")) return rc < 0 ? rc : 0;
    if ((rc = set_status(ctx, order, "charged", NULL)) < 0) return rc;
    if ((rc = ledger(ctx, order, "charge", amount)) < 0) return rc;
    const char *q[] = {order};
    eddy_rows *r = NULL;
    rc = eddy_ctx_query(ctx, "SELECT items FROM payment_requests WHERE order_id = $1", 1, q, &r);
    json_t *items = rc > 0 ? json_loads(eddy_rows_get(r, 0, 0), 0, NULL) : NULL;
    eddy_rows_free(r);
    if (rc < 0) return rc;
    return eddy_ctx_publish(ctx, T_PAYMENT, order, "payment.processed", "1.0",
                            json_pack("{s:s,s:s,s:s,s:I,s:o}", "orderId", order, "paymentId", pid,
                                      "customerId", customer, "amountCents",
                                      (json_int_t)atoll(amount), "items",
                                      items ? items : json_array()));
}

static int on_debit_rejected(eddy_ctx *ctx, void *arg)
{
    const char *order;
    char pid[64], customer[128], amount[32], status[32];
    int rc = reply_payment(ctx, &order, pid, customer, amount, status);
    if (rc <= 0 || strcmp(status, "awaiting_funds")) return rc < 0 ? rc : 0;
    const char *why = pstr(eddy_ctx_event(ctx), "reason");
    char reason[160];
    snprintf(reason, sizeof reason, "declined: %s", why ? why : "insufficient balance");
    if ((rc = set_status(ctx, order, "declined", reason)) < 0) return rc;
    return eddy_ctx_publish(ctx, T_PAYMENT, order, "payment.failed", "1.0",
                            json_pack("{s:s,s:s,s:s,s:s}", "orderId", order, "paymentId", pid,
                                      "customerId", customer, "reason", reason));
}

static int on_credited(eddy_ctx *ctx, void *arg)
{
    const char *order;
    char pid[64], customer[128], amount[32], status[32];
    int rc = reply_payment(ctx, &order, pid, customer, amount, status);
    if (rc <= 0 || strcmp(status, "refunding")) return rc < 0 ? rc : 0;
    if ((rc = set_status(ctx, order, "refunded", NULL)) < 0) return rc;
    if ((rc = ledger(ctx, order, "refund", amount)) < 0) return rc;
    return eddy_ctx_publish(ctx, T_PAYMENT, order, "payment.refunded", "1.0",
                            json_pack("{s:s,s:s,s:I,s:s}", "orderId", order, "paymentId", pid,
                                      "amountCents", (json_int_t)atoll(amount), "reason",
                                      "inventory reservation failed"));
}

static char *get_payment(eddy_service *svc, const eddy_http_req *req, int *status, void *arg)
{
    const char *order = req->path + strlen("/payments");
    if (*order == '/') order++;
    if (!*order || strchr(order, '/'))
        return eddy_http_error(status, 404, "no route for GET %s", req->path);
    eddy_store *st = eddy_service_store(svc);
    if (!st) return eddy_http_error(status, 503, "store unavailable");
    const char *q[] = {order};
    eddy_rows *r = NULL, *l = NULL;
    if (eddy_store_query(st, "SELECT id, status, amount_cents FROM payments WHERE order_id = $1", 1,
                         q, &r) < 0 ||
        eddy_store_query(st,
                         "SELECT kind, COUNT(*) FROM gateway_ledger WHERE order_id = $1"
                         " GROUP BY kind",
                         1, q, &l) < 0) {
        eddy_rows_free(r);
        return eddy_http_error(status, 503, "store unavailable");
    }
    char *out;
    if (!eddy_rows_count(r)) {
        out = eddy_http_error(status, 404, "no payment for order %s", order);
    } else {
        json_t *o =
            json_pack("{s:s,s:s,s:s,s:I,s:i,s:i}", "orderId", order, "paymentId",
                      eddy_rows_get(r, 0, 0), "status", eddy_rows_get(r, 0, 1), "amountCents",
                      (json_int_t)atoll(eddy_rows_get(r, 0, 2)), "charges", 0, "refunds", 0);
        for (int i = 0; i < eddy_rows_count(l); i++)
            json_object_set_new(o,
                                !strcmp(eddy_rows_get(l, i, 0), "charge") ? "charges" : "refunds",
                                json_integer(atoi(eddy_rows_get(l, i, 1))));
        out = json_dumps(o, JSON_COMPACT);
        json_decref(o);
    }
    eddy_rows_free(r);
    eddy_rows_free(l);
    return out;
}

int main(int argc, char **argv)
{
    eddy_service *svc;
    if (eddy_service_new("payment", &svc) < 0) return 1;
    eddy_service_topic(svc, T_PAYMENT);
    eddy_service_on(svc, T_ORDER, "order.created", "1", on_order_created, NULL);
    eddy_service_on(svc, T_INVENTORY, "inventory.reservation_failed", "1", on_reservation_failed,
                    NULL);
    eddy_service_route(svc, "GET", "/payments", get_payment, NULL);
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--config")) eddy_service_configure(svc, argv[i + 1]);
    const char *acc = eddy_service_get(svc, "payment.accounts");
    g_accounts = acc && (!strcmp(acc, "on") || !strcmp(acc, "1") || !strcmp(acc, "true"));
    if (g_accounts) {
        eddy_service_topic(svc, "account.commands");
        eddy_service_on(svc, T_PAYMENT_REPLIES, "account.debited", "1", on_debited, NULL);
        eddy_service_on(svc, T_PAYMENT_REPLIES, "account.debit_rejected", "1", on_debit_rejected,
                        NULL);
        eddy_service_on(svc, T_PAYMENT_REPLIES, "account.credited", "1", on_credited, NULL);
    }
    return svc_main(svc, argc, argv, SCHEMA);
}
