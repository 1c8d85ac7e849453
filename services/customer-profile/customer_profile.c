/* customer_profile.c — the "legacy" service of the strangler-fig on-ramp (issue 16, item 4):
 * a customer-profile service that only speaks HTTP and only writes its own PostgreSQL table.
 * It knows nothing of Kafka or Eddy: its changes reach the event-driven services through
 * eddy-cdc reading PostgreSQL's WAL (docs/migration.md, phase 1).
 *
 *   POST   /customers        {"name", "email", "tier"?}  → 201 {"id", ...}
 *   GET    /customers/ID     → 200 the row | 404
 *   PUT    /customers/ID     {"name"?, "email"?, "tier"?} → 200 the row | 404
 *   DELETE /customers/ID     → 204 | 404
 *   GET    /healthz
 *
 * Environment: CUSTOMER_PROFILE_PG (libpq URL, default postgresql://eddy:eddy@127.0.0.1:5432/
 * eddy; a search_path in its options picks the schema), CUSTOMER_PROFILE_LISTEN (default
 * 127.0.0.1:8090; port 0 = any). It creates its table "customers" when missing.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BODY 16384

static PGconn *g_pg;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t g_stop;

static void on_signal(int s)
{
    (void)s;
    g_stop = 1;
}

typedef struct ctx {
    char *body;
    size_t len;
    int too_big;
} ctx;

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : strdup("");
    json_decref(j);
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result send_err(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return send_json(c, status, json_pack("{s:s}", "error", msg));
}

/* Runs a statement returning customer rows; the first row as JSON, or NULL (error in *err). */
static json_t *row_query(const char *sql, int n, const char *const *params, int *status, char *err,
                         size_t errlen)
{
    pthread_mutex_lock(&g_mu);
    if (PQstatus(g_pg) != CONNECTION_OK) PQreset(g_pg);
    PGresult *r = PQexecParams(g_pg, sql, n, NULL, params, NULL, NULL, 0);
    json_t *out = NULL;
    *status = 200;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        *status = state && !strcmp(state, "23505") ? 409 : (state && state[0] == '2' ? 400 : 503);
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        err[strcspn(err, "\n")] = 0;
    } else if (PQntuples(r) == 0) {
        *status = 404;
        snprintf(err, errlen, "no such customer");
    } else {
        out = json_pack("{s:I,s:s,s:s,s:s,s:s}", "id",
                        (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10), "name",
                        PQgetvalue(r, 0, 1), "email", PQgetvalue(r, 0, 2), "tier",
                        PQgetvalue(r, 0, 3), "updatedAt", PQgetvalue(r, 0, 4));
    }
    PQclear(r);
    pthread_mutex_unlock(&g_mu);
    return out;
}

#define COLS "id, name, email, tier, to_char(updated_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static enum MHD_Result handle(struct MHD_Connection *c, const char *url, const char *method, ctx *x)
{
    if (!strcmp(url, "/healthz")) return send_json(c, 200, json_pack("{s:s}", "status", "ok"));
    if (strncmp(url, "/customers", 10)) return send_err(c, 404, "no such endpoint");
    const char *idp = url[10] == '/' ? url + 11 : NULL;
    if (url[10] && !idp) return send_err(c, 404, "no such endpoint");
    char id[32] = "";
    if (idp) {
        size_t n = strlen(idp);
        if (!n || n > 18 || strspn(idp, "0123456789") != n) return send_err(c, 404, "bad id");
        memcpy(id, idp, n + 1);
    }
    json_t *b = NULL;
    if (!strcmp(method, "POST") || !strcmp(method, "PUT")) {
        if (x->too_big) return send_err(c, 413, "body too large");
        json_error_t je;
        b = json_loadb(x->body ? x->body : "", x->len, 0, &je);
        if (!json_is_object(b)) {
            json_decref(b);
            return send_err(c, 400, "the body must be a JSON object");
        }
    }
    const char *name = b ? json_string_value(json_object_get(b, "name")) : NULL;
    const char *email = b ? json_string_value(json_object_get(b, "email")) : NULL;
    const char *tier = b ? json_string_value(json_object_get(b, "tier")) : NULL;
    int status = 0;
    char err[512];
    json_t *row = NULL;
    if (!idp && !strcmp(method, "POST")) {
        if (!name || !email) {
            json_decref(b);
            return send_err(c, 400, "\"name\" and \"email\" are required strings");
        }
        const char *p[] = {name, email, tier ? tier : "standard"};
        row = row_query("INSERT INTO customers (name, email, tier) VALUES ($1, $2, $3)"
                        " RETURNING " COLS,
                        3, p, &status, err, sizeof(err));
        if (row) status = 201;
    } else if (idp && !strcmp(method, "GET")) {
        const char *p[] = {id};
        row = row_query("SELECT " COLS " FROM customers WHERE id = $1", 1, p, &status, err,
                        sizeof(err));
    } else if (idp && !strcmp(method, "PUT")) {
        const char *p[] = {id, name, email, tier};
        row = row_query("UPDATE customers SET name = coalesce($2, name), email = coalesce($3,"
                        " email), tier = coalesce($4, tier), updated_at = now() WHERE id = $1"
                        " RETURNING " COLS,
                        4, p, &status, err, sizeof(err));
    } else if (idp && !strcmp(method, "DELETE")) {
        const char *p[] = {id};
        row = row_query("DELETE FROM customers WHERE id = $1 RETURNING " COLS, 1, p, &status, err,
                        sizeof(err));
        if (row) {
            json_decref(row);
            json_decref(b);
            return send_json(c, 204, NULL);
        }
    } else {
        json_decref(b);
        return send_err(c, 405, "method not allowed");
    }
    json_decref(b);
    if (!row) return send_err(c, (unsigned)status, err);
    return send_json(c, (unsigned)status, row);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **cp)
{
    (void)cls;
    (void)version;
    ctx *x = *cp;
    if (!x) {
        *cp = calloc(1, sizeof(ctx));
        return *cp ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        if (x->len + *upload_size > MAX_BODY) {
            x->too_big = 1;
        } else {
            char *nb = realloc(x->body, x->len + *upload_size + 1);
            if (!nb) abort();
            x->body = nb;
            memcpy(x->body + x->len, upload, *upload_size);
            x->len += *upload_size;
            x->body[x->len] = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return handle(c, url, method, x);
}

static void on_done(void *cls, struct MHD_Connection *c, void **cp,
                    enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)c;
    (void)t;
    ctx *x = *cp;
    if (x) free(x->body);
    free(x);
    *cp = NULL;
}

int main(void)
{
    const char *url = getenv("CUSTOMER_PROFILE_PG");
    const char *listen = getenv("CUSTOMER_PROFILE_LISTEN");
    if (!url) url = "postgresql://eddy:eddy@127.0.0.1:5432/eddy";
    if (!listen) listen = "127.0.0.1:8090";
    g_pg = PQconnectdb(url);
    if (PQstatus(g_pg) != CONNECTION_OK) {
        fprintf(stderr, "customer-profile: cannot connect to PostgreSQL: %s", PQerrorMessage(g_pg));
        return 2;
    }
    PGresult *r = PQexec(g_pg, "CREATE TABLE IF NOT EXISTS customers (id bigserial PRIMARY KEY,"
                               " name text NOT NULL, email text NOT NULL, tier text NOT NULL"
                               " DEFAULT 'standard', updated_at timestamptz NOT NULL DEFAULT"
                               " now())");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "customer-profile: cannot create its table: %s", PQresultErrorMessage(r));
        return 2;
    }
    PQclear(r);
    char host[64];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof(host)) {
        fprintf(stderr, "customer-profile: CUSTOMER_PROFILE_LISTEN must be HOST:PORT\n");
        return 2;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "customer-profile: bad IPv4 address %s\n", host);
        return 2;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "customer-profile: cannot listen on %s\n", listen);
        return 2;
    }
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("customer-profile: http listening on %s:%u\n", host, i ? i->port : 0);
    fflush(stdout);
    struct sigaction sg = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sg, NULL);
    sigaction(SIGINT, &sg, NULL);
    while (!g_stop) pause();
    MHD_stop_daemon(d);
    PQfinish(g_pg);
    return 0;
}
