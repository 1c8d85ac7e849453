/* notification — the reference notification service (services/notification): on
 * inventory.reserved it "sends" an order confirmation, on payment.failed a payment-failed
 * mail, by writing the mail to its own mail table (and to the file named by mail.log /
 * EDDY_MAIL_LOG, if set), and emits notification.sent. GET /mail/{orderId} lists the mails. */
#include "../common/svc.h"

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS mail ("
    " id TEXT PRIMARY KEY, order_id TEXT NOT NULL, kind TEXT NOT NULL, recipient TEXT NOT NULL,"
    " subject TEXT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL)"
    " /*sqlite: WITHOUT ROWID*/;"
    "CREATE INDEX IF NOT EXISTS mail_order ON mail(order_id);";

/* tmpl with its one "%s" replaced by value (the templates are data, not printf formats). */
static void fill_template(char *out, size_t n, const char *tmpl, const char *value)
{
    const char *at = strstr(tmpl, "%s");
    if (!at)
        snprintf(out, n, "%s", tmpl);
    else
        snprintf(out, n, "%.*s%s%s", (int)(at - tmpl), tmpl, value, at + 2);
}

/* subject_fmt and body_fmt take the order id (one %s). */
static int send_mail(eddy_ctx *ctx, const char *kind, const char *subject_fmt, const char *body_fmt)
{
    eddy_service *svc = NULL;
    const eddy_event *ev = eddy_ctx_event(ctx);
    const char *order = pstr(ev, "orderId");
    const char *customer = pstr(ev, "customerId");
    if (!order) return eddy_ctx_fail(ctx, EDDY_ERR_PERMANENT, "payload has no orderId");
    (void)svc;
    char id[37], ts[32], to[160], subject[256], body[512];
    eddy_uuid_v7(id);
    now_ts(ts);
    snprintf(to, sizeof to, "%s@customers.example", customer ? customer : "unknown");
    fill_template(subject, sizeof subject, subject_fmt, order);
    fill_template(body, sizeof body, body_fmt, order);
    const char *p[] = {id, order, kind, to, subject, body, ts};
    int rc = eddy_ctx_exec(ctx,
                           "INSERT INTO mail (id, order_id, kind, recipient, subject, body,"
                           " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                           7, p);
    if (rc < 0) return rc;
    const char *log = getenv("EDDY_MAIL_LOG");
    if (log && *log) {
        FILE *f = fopen(log, "a");
        if (f) {
            fprintf(f, "%s To: %s Subject: %s [correlation %s]\n", ts, to, subject,
                    ev->correlation_id);
            fclose(f);
        }
    }
    return eddy_ctx_publish(ctx, T_NOTIFICATION, order, "notification.sent", "1.0",
                            json_pack("{s:s,s:s,s:s,s:s}", "orderId", order, "kind", kind, "mailId",
                                      id, "recipient", to));
}

static int on_reserved(eddy_ctx *ctx, void *arg)
{
    return send_mail(ctx, "order_confirmed", "Your order %s is confirmed",
                     "Good news: order %s is paid and reserved; it ships soon.");
}

static int on_payment_failed(eddy_ctx *ctx, void *arg)
{
    return send_mail(ctx, "payment_failed", "Payment for order %s failed",
                     "We could not charge your card for order %s. Please try another card.");
}

static char *get_mail(eddy_service *svc, const eddy_http_req *req, int *status, void *arg)
{
    const char *order = req->path + strlen("/mail");
    if (*order == '/') order++;
    eddy_store *st = eddy_service_store(svc);
    if (!st) return eddy_http_error(status, 503, "store unavailable");
    const char *q[] = {order};
    eddy_rows *r = NULL;
    if (eddy_store_query(st,
                         "SELECT kind, recipient, subject, created_at FROM mail"
                         " WHERE order_id = $1 ORDER BY created_at",
                         1, q, &r) < 0)
        return eddy_http_error(status, 503, "store unavailable");
    json_t *a = json_array();
    for (int i = 0; i < eddy_rows_count(r); i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}", "kind", eddy_rows_get(r, i, 0),
                                           "to", eddy_rows_get(r, i, 1), "subject",
                                           eddy_rows_get(r, i, 2), "at", eddy_rows_get(r, i, 3)));
    eddy_rows_free(r);
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

int main(int argc, char **argv)
{
    eddy_service *svc;
    if (eddy_service_new("notification", &svc) < 0) return 1;
    eddy_service_topic(svc, T_NOTIFICATION);
    eddy_service_on(svc, T_INVENTORY, "inventory.reserved", "1", on_reserved, NULL);
    eddy_service_on(svc, T_PAYMENT, "payment.failed", "1", on_payment_failed, NULL);
    eddy_service_route(svc, "GET", "/mail", get_mail, NULL);
    return svc_main(svc, argc, argv, SCHEMA);
}
