/* cdc.c — eddy-cdc: change data capture from PostgreSQL to Kafka topics in Debezium's
 * change-event format, on libpq's streaming replication protocol (pgoutput) and librdkafka.
 * No JVM, no Kafka Connect. Works against eddyd and any Kafka cluster. See docs/cdc.md.
 *
 *   start-up   catalog connection: resolve tables, create/extend the publication, inspect the
 *              slot (an invalidated slot is a clear error); replication connection
 *              (replication=database): CREATE_REPLICATION_SLOT ... EXPORT_SNAPSHOT when the slot
 *              is new, then the initial snapshot inside that exported snapshot on a third
 *              connection (so nothing between snapshot and stream is lost or sent twice).
 *   stream     START_REPLICATION ... (proto_version 1): Begin / Relation / Insert / Update /
 *              Delete / Truncate / Commit → one event per change on <prefix>.<schema>.<table>,
 *              key = primary key, a tombstone after each delete.
 *   confirm    every produced event holds a count on its transaction; librdkafka's delivery
 *              report (acks=all, idempotent producer) releases it; the slot's confirmed flush
 *              position moves to a transaction's end only when it and every earlier one are
 *              fully acknowledged. kill -9 anywhere loses nothing: the server re-sends every
 *              transaction past the confirmed position; consumers drop repeats by
 *              source.sequence (commit LSN, change LSN), which only grows per key.
 *   state      --state-file (atomic writes): "snapshot-started" before a new slot is created,
 *              "snapshot-complete" once every snapshot event is acknowledged, each with the
 *              topics' offsets from which every key eddy-cdc left live can be read back. A slot
 *              without the completion record (killed mid-snapshot) is re-created and the
 *              snapshot taken again: the old exported snapshot is gone.
 *   reconcile  a snapshot taken again cannot see rows deleted since an earlier attempt (or an
 *              earlier slot) published them, and their last image on the topic would stay
 *              live for ever. So the topics are first read back from the recorded offsets
 *              (none recorded: from their beginning) to their end, keeping the keys whose last
 *              event leaves them live; the snapshot strikes every key it reads, and each key
 *              left gets a delete (before = its last image, sequence [lsn, lsn]) and a tombstone
 *              inside the snapshot, acknowledged before the completion is recorded. After any
 *              kill -9 the latest event per key matches the table: rows may repeat, a deleted
 *              row never stays live.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cdc/debezium.h"
#include "cdc/pgoutput.h"
#include "common/addr.h"
#include "common/log.h"
#include "common/util.h"

#define CDC_VERSION "eddy-cdc-0.1"
#define M "cdc"

/* Session settings that make PostgreSQL's text output what debezium.c parses. */
#define PG_OPTIONS                                                                                 \
    "-c datestyle=ISO -c timezone=UTC -c intervalstyle=iso_8601 -c extra_float_digits=3 "          \
    "-c bytea_output=hex -c lc_monetary=C"

/* ---- configuration ------------------------------------------------------------------------ */

typedef struct cfg {
    const char *pg;
    const char *bootstrap;
    const char *slot;
    const char *pub;
    const char *prefix;
    char *state_file;
    const char *metrics_listen;
    const char *registry; /* schema registry base URL, or NULL */
    const char *snapshot; /* "initial" | "never" */
    int partitions;
    int replication;
    enum dbz_decimal dm;
    char **tables;
    int ntables;
    char **kprops;
    int nkprops;
} cfg;

static cfg C = {.slot = "eddy_cdc",
                .pub = "eddy_cdc",
                .prefix = "cdc",
                .snapshot = "initial",
                .partitions = 1,
                .replication = 1};

/* ---- state -------------------------------------------------------------------------------- */

typedef struct txn {
    uint64_t final_lsn; /* the commit record's LSN (from Begin) */
    uint64_t end_lsn;
    int64_t commit_ts_us; /* Unix µs */
    uint32_t xid;
    long pending; /* produced events not yet acknowledged */
    int committed;
    struct txn *next;
} txn;

typedef struct rel {
    dbz_rel d;
    char *topic;
    char *registered; /* the value schema last registered for the topic */
    struct rel *next;
} rel;

static PGconn *g_cat, *g_repl;
static rd_kafka_t *g_rk;
static rel *g_rels;
static txn *g_head, *g_tail, *g_cur;
static uint64_t g_confirmed, g_received;
static volatile sig_atomic_t g_stop;
static int g_fatal;
static char g_fatal_msg[1024];
static char *g_dbname;

/* metrics (read by the HTTP thread) */
static _Atomic uint64_t m_events, m_snapshot_rows, m_snapshot_retracted, m_server_end, m_confirmed;
static _Atomic int64_t m_oldest_commit_us;
static _Atomic uint64_t m_rate_x1000;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "eddy-cdc: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(code);
}

static const char *pgerr(PGconn *c)
{
    static char buf[1024];
    snprintf(buf, sizeof(buf), "%s", PQerrorMessage(c));
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
    return buf;
}

/* ---- PostgreSQL helpers ------------------------------------------------------------------- */

static PGconn *pg_connect(const char *url, const char *replication)
{
    const char *keys[] = {"dbname",
                          "options",
                          "client_encoding",
                          "application_name",
                          replication ? "replication" : NULL,
                          NULL};
    const char *vals[] = {url, PG_OPTIONS, "UTF8", "eddy-cdc", replication, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        char where[256];
        snprintf(where, sizeof(where), "%s:%s/%s", PQhost(c) ? PQhost(c) : "?",
                 PQport(c) ? PQport(c) : "?", PQdb(c) ? PQdb(c) : "?");
        const char *e = pgerr(c);
        if (replication && strstr(e, "replication"))
            die(2,
                "cannot open a replication connection to %s: %s\n"
                "  (the role needs the REPLICATION attribute: ALTER ROLE ... REPLICATION; and the"
                " server wal_level=logical)",
                where, e);
        die(2, "cannot connect to PostgreSQL at %s: %s", where, e);
    }
    return c;
}

/* Runs a query that must succeed; returns the result (caller clears). */
static PGresult *q(PGconn *c, const char *sql, int n, const char *const *params,
                   ExecStatusType want, const char *what)
{
    PGresult *r = n ? PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0) : PQexec(c, sql);
    if (PQresultStatus(r) != want) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
        size_t l = strlen(msg);
        while (l && msg[l - 1] == '\n') msg[--l] = 0;
        PQclear(r);
        die(2, "%s: %s", what, msg);
    }
    return r;
}

static char *qident(PGconn *c, const char *s)
{
    char *e = PQescapeIdentifier(c, s, strlen(s));
    char *out = xstrdup(e);
    PQfreemem(e);
    return out;
}

static char *qliteral(PGconn *c, const char *s)
{
    char *e = PQescapeLiteral(c, s, strlen(s));
    char *out = xstrdup(e);
    PQfreemem(e);
    return out;
}

/* ---- relations ---------------------------------------------------------------------------- */

static rel *rel_find(uint32_t relid)
{
    for (rel *r = g_rels; r; r = r->next)
        if (r->d.relid == relid) return r;
    return NULL;
}

static void rel_clear(rel *r)
{
    for (int i = 0; i < r->d.ncols; i++) free(r->d.cols[i].name);
    free(r->d.cols);
    free(r->d.nsp);
    free(r->d.name);
    free(r->topic);
    r->topic = NULL;
    r->d.cols = NULL;
    r->d.ncols = 0;
}

/* Marks the primary-key columns of r from the catalog. */
static void rel_load_pk(rel *r)
{
    char oid[16];
    snprintf(oid, sizeof(oid), "%u", r->d.relid);
    const char *p[] = {oid};
    PGresult *res = q(g_cat,
                      "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid ="
                      " i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1::oid AND"
                      " i.indisprimary",
                      1, p, PGRES_TUPLES_OK, "reading the primary key");
    for (int i = 0; i < r->d.ncols; i++) {
        r->d.cols[i].pk = false;
        for (int k = 0; k < PQntuples(res); k++)
            if (!strcmp(PQgetvalue(res, k, 0), r->d.cols[i].name)) r->d.cols[i].pk = true;
    }
    PQclear(res);
}

static rel *rel_upsert(uint32_t relid, const char *nsp, const char *name, char replident)
{
    rel *r = rel_find(relid);
    if (!r) {
        r = xcalloc(1, sizeof(*r));
        r->next = g_rels;
        g_rels = r;
    } else {
        rel_clear(r);
    }
    r->d.relid = relid;
    r->d.nsp = xstrdup(nsp);
    r->d.name = xstrdup(name);
    r->d.replident = replident;
    r->topic = xasprintf("%s.%s.%s", C.prefix, nsp, name);
    return r;
}

/* ---- schema registry ---------------------------------------------------------------------- */

/* JSON Schema of one column's Debezium JSON value (nullable). */
static json_t *col_schema(const dbz_col *c)
{
    const char *t;
    switch (c->typoid) {
    case 16: t = "boolean"; break;
    case 20:
    case 21:
    case 23:
    case 26:
    case 1082:
    case 1083:
    case 1114:
    case 1186: t = "integer"; break;
    case 700:
    case 701: return json_pack("{s:[s,s,s]}", "type", "number", "string", "null");
    case 1700:
        if (c->typmod < 4) return json_pack("{s:[s,s,s]}", "type", "object", "string", "null");
        t = "string";
        break;
    default:
        t = (c->typoid == 1000 || c->typoid == 1007 || c->typoid == 1009 || c->typoid == 1016 ||
             c->typoid == 1015 || c->typoid == 1005)
                ? "array"
                : "string";
    }
    return json_pack("{s:[s,s]}", "type", t, "null");
}

static size_t curl_sink(char *p, size_t sz, size_t n, void *ud)
{
    char *buf = ud;
    size_t have = strlen(buf), take = sz * n;
    if (have + take > 511) take = 511 - have;
    memcpy(buf + have, p, take);
    buf[have + take] = 0;
    return sz * n;
}

/* Registers the change-event value schema of r under <topic>-value (JSON Schema) when its
 * columns differ from the last one registered. A failure is logged; events keep flowing. */
static void registry_register(rel *r)
{
    if (!C.registry) return;
    json_t *props = json_object();
    for (int i = 0; i < r->d.ncols; i++)
        json_object_set_new(props, r->d.cols[i].name, col_schema(&r->d.cols[i]));
    char *title = xasprintf("%s.Value", r->topic);
    /* closed content model: adding a (nullable) column is a BACKWARD-compatible change */
    json_t *row = json_pack("{s:s,s:s,s:o,s:b}", "type", "object", "title", title, "properties",
                            props, "additionalProperties", 0);
    free(title);
    json_t *img = json_pack("{s:[{s:s},{s:s}]}", "oneOf", "type", "null", "$ref", "#/$defs/Value");
    char *etitle = xasprintf("%s.Envelope", r->topic);
    json_t *sch =
        json_pack("{s:s,s:s,s:{s:O,s:O,s:{s:s},s:{s:s},s:{s:s},s:{}},s:[s,s],s:{s:o}}", "type",
                  "object", "title", etitle, "properties", "before", img, "after", img, "source",
                  "type", "object", "op", "type", "string", "ts_ms", "type", "integer",
                  "transaction", "required", "op", "source", "$defs", "Value", row);
    json_decref(img);
    free(etitle);
    char *text = json_dumps(sch, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(sch);
    if (r->registered && !strcmp(r->registered, text)) {
        free(text);
        return;
    }
    json_t *req = json_pack("{s:s,s:s}", "schemaType", "JSON", "schema", text);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    char *url = xasprintf("%s/subjects/%s-value/versions", C.registry, r->topic);
    char answer[512] = "";
    CURL *e = curl_easy_init();
    struct curl_slist *h =
        curl_slist_append(NULL, "Content-Type: application/vnd.schemaregistry.v1+json");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, curl_sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, answer);
    CURLcode cc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        LOGW(M, "schema registry %s: %s (events go on unregistered)", C.registry,
             curl_easy_strerror(cc));
    } else if (status != 200) {
        LOGW(M, "schema registry refused the schema of %s (HTTP %ld): %s", r->topic, status,
             answer);
    } else {
        LOGI(M, "registered the value schema of %s (%d columns): %s", r->topic, r->d.ncols, answer);
        free(r->registered);
        r->registered = text;
        text = NULL;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    free(url);
    free(body);
    free(text);
}

/* ---- metrics HTTP ------------------------------------------------------------------------- */

static enum MHD_Result on_http(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **ctx)
{
    char body[4096];
    int status = 200;
    if (strcmp(url, "/metrics") != 0) {
        snprintf(body, sizeof(body), "not found: try /metrics\n");
        status = 404;
    } else {
        uint64_t end = atomic_load(&m_server_end), conf = atomic_load(&m_confirmed);
        int64_t oldest = atomic_load(&m_oldest_commit_us);
        double lag_s = oldest ? (double)(now_wall_ms() * 1000 - oldest) / 1e6 : 0.0;
        if (lag_s < 0) lag_s = 0;
        snprintf(body, sizeof(body),
                 "# HELP eddy_cdc_events_total Change events produced (stream and snapshot).\n"
                 "# TYPE eddy_cdc_events_total counter\neddy_cdc_events_total %" PRIu64 "\n"
                 "# HELP eddy_cdc_snapshot_rows_total Rows read by the initial snapshot.\n"
                 "# TYPE eddy_cdc_snapshot_rows_total counter\n"
                 "eddy_cdc_snapshot_rows_total %" PRIu64 "\n"
                 "# HELP eddy_cdc_snapshot_retracted_total Keys an interrupted or earlier"
                 " snapshot left live whose rows were gone: a delete and a tombstone each.\n"
                 "# TYPE eddy_cdc_snapshot_retracted_total counter\n"
                 "eddy_cdc_snapshot_retracted_total %" PRIu64 "\n"
                 "# HELP eddy_cdc_events_per_second Events produced per second (last second).\n"
                 "# TYPE eddy_cdc_events_per_second gauge\neddy_cdc_events_per_second %.3f\n"
                 "# HELP eddy_cdc_replication_lag_bytes Server WAL end minus the slot's"
                 " confirmed position.\n"
                 "# TYPE eddy_cdc_replication_lag_bytes gauge\n"
                 "eddy_cdc_replication_lag_bytes %" PRIu64 "\n"
                 "# HELP eddy_cdc_replication_lag_seconds Age of the oldest committed"
                 " transaction not yet acknowledged by the broker.\n"
                 "# TYPE eddy_cdc_replication_lag_seconds gauge\n"
                 "eddy_cdc_replication_lag_seconds %.6f\n"
                 "# HELP eddy_cdc_confirmed_lsn The slot's confirmed flush position.\n"
                 "# TYPE eddy_cdc_confirmed_lsn gauge\neddy_cdc_confirmed_lsn %" PRIu64 "\n",
                 atomic_load(&m_events), atomic_load(&m_snapshot_rows),
                 atomic_load(&m_snapshot_retracted), (double)atomic_load(&m_rate_x1000) / 1000.0,
                 end > conf ? end - conf : 0, lag_s, conf);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static struct MHD_Daemon *metrics_start(const char *listen)
{
    char host[256];
    int port;
    struct sockaddr_storage sa;
    socklen_t salen;
    if (parse_hostport(listen, host, sizeof host, &port) < 0) die(2, "--metrics-listen HOST:PORT");
    if (numeric_sockaddr(host, port, &sa, &salen) < 0)
        die(2, "--metrics-listen: bad IP address %s", host);
    unsigned v6 = sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0;
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | v6, 0, NULL, NULL, on_http, NULL,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
    if (!d) die(2, "cannot listen on %s for metrics", listen);
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    LOGI(M, "metrics listening on %s:%u", host, i ? i->port : 0);
    return d;
}

/* ---- producer ----------------------------------------------------------------------------- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    txn *t = msg->_private;
    /* no offset without an error: librdkafka's idempotent "implicit ack" (a failed request
     * inferred as stored from a later one), which a cluster that does not check sequences may
     * not have stored. Not counted as acknowledged: the slot does not advance past it and the
     * restart sends it again (a repeat at worst, never a gap) */
    if (msg->err || msg->offset < 0) {
        if (!g_fatal)
            snprintf(g_fatal_msg, sizeof(g_fatal_msg),
                     "the broker did not acknowledge an event"
                     " on %s: %s",
                     rd_kafka_topic_name(msg->rkt),
                     msg->err ? rd_kafka_err2str(msg->err) : "delivered without an offset");
        g_fatal = 1;
    }
    if (t) t->pending--;
}

static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    char buf[512];
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        snprintf(g_fatal_msg, sizeof(g_fatal_msg), "producer fatal error: %s", buf);
        g_fatal = 1;
        return;
    }
    LOGW(M, "kafka: %s", reason);
}

static rd_kafka_t *producer_new(void)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    const char *set[][2] = {{"bootstrap.servers", C.bootstrap}, {"acks", "all"},
                            {"enable.idempotence", "true"},     {"linger.ms", "2"},
                            {"message.timeout.ms", "300000"},   {"client.id", "eddy-cdc"}};
    for (size_t i = 0; i < ARRAY_LEN(set); i++)
        if (rd_kafka_conf_set(conf, set[i][0], set[i][1], err, sizeof(err)) != RD_KAFKA_CONF_OK)
            die(2, "producer setting %s: %s", set[i][0], err);
    for (int i = 0; i < C.nkprops; i++) {
        char *kv = xstrdup(C.kprops[i]);
        char *eq = strchr(kv, '=');
        if (!eq) die(2, "-X expects key=value, got %s", kv);
        *eq = 0;
        if (rd_kafka_conf_set(conf, kv, eq + 1, err, sizeof(err)) != RD_KAFKA_CONF_OK)
            die(2, "-X %s: %s", kv, err);
        free(kv);
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) die(2, "cannot create the producer: %s", err);
    return rk;
}

/* Creates the topics of the tables (no error when they exist). */
static void topics_create(char **topics, int n)
{
    if (!n) return;
    rd_kafka_NewTopic_t **nt = xcalloc((size_t)n, sizeof(*nt));
    char err[256];
    for (int i = 0; i < n; i++)
        nt[i] = rd_kafka_NewTopic_new(topics[i], C.partitions, C.replication, err, sizeof(err));
    rd_kafka_queue_t *qu = rd_kafka_queue_new(g_rk);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(g_rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(o, 10000, err, sizeof(err));
    rd_kafka_CreateTopics(g_rk, nt, (size_t)n, o, qu);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(qu, 30000);
    if (!ev) {
        LOGW(M, "CreateTopics: no answer in 30 s (topics are auto-created if the broker allows)");
    } else if (rd_kafka_event_error(ev)) {
        LOGW(M, "CreateTopics: %s", rd_kafka_event_error_string(ev));
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                LOGI(M, "created topic %s", rd_kafka_topic_result_name(tr[i]));
            else if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                LOGW(M, "creating topic %s: %s", rd_kafka_topic_result_name(tr[i]),
                     rd_kafka_topic_result_error_string(tr[i]));
        }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(qu);
    rd_kafka_NewTopic_destroy_array(nt, (size_t)n);
    free(nt);
}

/* Produces one event; waits while the local queue is full. value may be NULL (tombstone).
 * part is RD_KAFKA_PARTITION_UA (the key's partition by the partitioner) or a partition. */
static void produce(const char *topic, int32_t part, const char *key, const char *value, txn *t)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            g_rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_VALUE((void *)value, value ? strlen(value) : 0), RD_KAFKA_V_OPAQUE(t),
            RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            die(1, "cannot produce to %s: %s", topic, rd_kafka_err2str(e));
        rd_kafka_poll(g_rk, 50);
    }
    if (t) t->pending++;
    atomic_fetch_add(&m_events, 1);
}

/* ---- events ------------------------------------------------------------------------------- */

/* source.sequence is [commit LSN of the event's transaction, the change's LSN] ([null, lsn] for
 * snapshot reads): per key it only grows, so a consumer drops a repeat by comparing it with the
 * last one seen. source.lsn alone is not enough at the snapshot boundary: a transaction that
 * started before the slot's consistent point but committed after it has changes with an LSN
 * below the snapshot's. */
static json_t *source_block(const rel *r, uint64_t commit_lsn, uint64_t lsn, int64_t commit_ts_us,
                            uint32_t xid, const char *snapshot)
{
    char seq[96];
    if (commit_lsn)
        snprintf(seq, sizeof(seq), "[\"%" PRIu64 "\",\"%" PRIu64 "\"]", commit_lsn, lsn);
    else
        snprintf(seq, sizeof(seq), "[null,\"%" PRIu64 "\"]", lsn);
    json_t *s = json_object();
    json_object_set_new(s, "version", json_string(CDC_VERSION));
    json_object_set_new(s, "connector", json_string("postgresql"));
    json_object_set_new(s, "name", json_string(C.prefix));
    json_object_set_new(s, "ts_ms", json_integer(commit_ts_us / 1000));
    json_object_set_new(s, "snapshot", json_string(snapshot));
    json_object_set_new(s, "db", json_string(g_dbname));
    json_object_set_new(s, "sequence", json_string(seq));
    json_object_set_new(s, "schema", json_string(r->d.nsp));
    json_object_set_new(s, "table", json_string(r->d.name));
    json_object_set_new(s, "txId", xid ? json_integer(xid) : json_null());
    json_object_set_new(s, "lsn", json_integer((json_int_t)lsn));
    json_object_set_new(s, "xmin", json_null());
    return s;
}

static char *dumps(json_t *j)
{
    if (!j) return NULL;
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!s) die(1, "cannot serialise an event (invalid text from the server?)");
    return s;
}

/* Emits one change event (and its tombstone for deletes) with the serialised key ks (NULL for
 * none) to partition part (or RD_KAFKA_PARTITION_UA). ks, before, after and src are consumed. */
static void emit_ks(const rel *r, char op, char *ks, json_t *before, json_t *after, json_t *src,
                    txn *t, int32_t part)
{
    json_t *v = json_object();
    json_object_set_new(v, "before", before ? before : json_null());
    json_object_set_new(v, "after", after ? after : json_null());
    json_object_set_new(v, "source", src);
    char ops[2] = {op, 0};
    json_object_set_new(v, "op", json_string(ops));
    json_object_set_new(v, "ts_ms", json_integer(now_wall_ms()));
    json_object_set_new(v, "transaction", json_null());
    char *vs = dumps(v);
    produce(r->topic, part, ks, vs, t);
    if (op == 'd' && ks) produce(r->topic, part, ks, NULL, t); /* tombstone for compaction */
    free(ks);
    free(vs);
    json_decref(v);
}

/* emit_ks with the key as JSON (consumed), to the key's partition. */
static void emit(const rel *r, char op, json_t *key, json_t *before, json_t *after, json_t *src,
                 txn *t)
{
    emit_ks(r, op, dumps(key), before, after, src, t, RD_KAFKA_PARTITION_UA);
    json_decref(key);
}

static void on_change(const pgo_msg *m, uint64_t lsn)
{
    rel *r = rel_find(m->relid);
    if (!r) die(1, "change for relation %u before its Relation message (protocol error)", m->relid);
    txn *t = g_cur;
    if (!t) die(1, "change outside a transaction (protocol error)");
    const pgo_tuple *old = m->old_kind ? &m->old_tuple : NULL;
#define SRC() source_block(r, t->final_lsn, lsn, t->commit_ts_us, t->xid, "false")
    switch (m->type) {
    case 'I':
        emit(r, 'c', dbz_key(&r->d, &m->new_tuple, C.dm), NULL,
             dbz_row(&r->d, &m->new_tuple, NULL, C.dm), SRC(), t);
        break;
    case 'U': {
        json_t *nk = dbz_key(&r->d, &m->new_tuple, C.dm);
        json_t *ok = old ? dbz_key(&r->d, old, C.dm) : NULL;
        if (ok && nk && !json_equal(ok, nk)) {
            /* primary key changed: delete (+ tombstone) of the old key, create of the new */
            emit(r, 'd', ok, dbz_row(&r->d, old, NULL, C.dm), NULL, SRC(), t);
            emit(r, 'c', nk, NULL, dbz_row(&r->d, &m->new_tuple, old, C.dm), SRC(), t);
        } else {
            json_decref(ok);
            json_t *before = m->old_kind == 'O' ? dbz_row(&r->d, old, NULL, C.dm) : NULL;
            emit(r, 'u', nk, before, dbz_row(&r->d, &m->new_tuple, old, C.dm), SRC(), t);
        }
        break;
    }
    case 'D':
        emit(r, 'd', dbz_key(&r->d, old, C.dm), dbz_row(&r->d, old, NULL, C.dm), NULL, SRC(), t);
        break;
    }
#undef SRC
}

static void txn_advance(void)
{
    while (g_head && g_head->committed && g_head->pending == 0) {
        txn *t = g_head;
        if (t->end_lsn > g_confirmed) g_confirmed = t->end_lsn;
        g_head = t->next;
        if (!g_head) g_tail = NULL;
        free(t);
    }
    atomic_store(&m_confirmed, g_confirmed);
    int64_t oldest = 0;
    for (txn *t = g_head; t; t = t->next)
        if (t->committed) {
            oldest = t->commit_ts_us;
            break;
        }
    atomic_store(&m_oldest_commit_us, oldest);
}

static void on_message(const pgo_frame *f)
{
    pgo_msg m;
    char err[256];
    if (pgo_msg_decode(f->data, f->len, &m, err, sizeof(err))) {
        pgo_msg_free(&m);
        die(1, "bad data from the server at %" PRIX64 ": %s", f->wal_start, err);
    }
    switch (m.type) {
    case 'B': {
        txn *t = xcalloc(1, sizeof(*t));
        t->final_lsn = m.lsn;
        t->xid = m.xid;
        t->commit_ts_us = m.commit_ts + PGO_EPOCH_OFFSET_US;
        if (g_tail)
            g_tail->next = t;
        else
            g_head = t;
        g_tail = t;
        g_cur = t;
        break;
    }
    case 'C':
        if (!g_cur) die(1, "Commit without Begin (protocol error)");
        g_cur->end_lsn = m.end_lsn;
        g_cur->committed = 1;
        g_cur = NULL;
        txn_advance();
        break;
    case 'R': {
        rel *old = rel_find(m.relid);
        int oldn = old ? old->d.ncols : -1;
        rel *r = rel_upsert(m.relid, m.nspname, m.relname, m.replident);
        r->d.ncols = m.ncols;
        r->d.cols = xcalloc((size_t)(m.ncols ? m.ncols : 1), sizeof(dbz_col));
        for (int i = 0; i < m.ncols; i++) {
            r->d.cols[i].name = xstrdup(m.cols[i].name);
            r->d.cols[i].typoid = m.cols[i].typoid;
            r->d.cols[i].typmod = m.cols[i].typmod;
        }
        rel_load_pk(r);
        registry_register(r);
        if (oldn >= 0 && oldn != m.ncols)
            LOGI(M, "table %s.%s changed: %d → %d columns", m.nspname, m.relname, oldn, m.ncols);
        break;
    }
    case 'I':
    case 'U':
    case 'D': on_change(&m, f->wal_start); break;
    case 'T':
        for (int i = 0; i < m.nrels; i++) {
            rel *r = rel_find(m.relids[i]);
            if (!r || !g_cur) continue;
            emit(r, 't', NULL, NULL, NULL,
                 source_block(r, g_cur->final_lsn, f->wal_start, g_cur->commit_ts_us, g_cur->xid,
                              "false"),
                 g_cur);
        }
        break;
    default: /* Origin, Type, Message: nothing to publish */ break;
    }
    pgo_msg_free(&m);
}

/* ---- state file --------------------------------------------------------------------------- */

/* The state file (written atomically, one record):
 *   snapshot-started slot=<slot> db=<db>               a slot lifetime's snapshot is under way
 *   snapshot-complete slot=<slot> db=<db> lsn=<X/Y>    ... and every event of it acknowledged
 * each followed by "from <topic> <partition> <offset>" lines: where reading a table topic must
 * start to see the latest event of every key eddy-cdc ever left live on it (a partition without
 * a line: from its beginning). */
typedef struct part_off {
    char *topic;
    int32_t part;
    int64_t off;
} part_off;

typedef struct snap_state {
    int started, complete;
    part_off *from;
    int nfrom;
} snap_state;

static void offs_add(part_off **v, int *n, const char *topic, int32_t part, int64_t off)
{
    *v = xrealloc(*v, sizeof(**v) * (size_t)(*n + 1));
    (*v)[*n] = (part_off){.topic = xstrdup(topic), .part = part, .off = off};
    (*n)++;
}

static void offs_free(part_off *v, int n)
{
    for (int i = 0; i < n; i++) free(v[i].topic);
    free(v);
}

/* The recorded offset of topic/part, or -1 when none is. */
static int64_t offs_find(const part_off *v, int n, const char *topic, int32_t part)
{
    for (int i = 0; i < n; i++)
        if (v[i].part == part && !strcmp(v[i].topic, topic)) return v[i].off;
    return -1;
}

static void state_read(snap_state *st)
{
    memset(st, 0, sizeof(*st));
    struct stat sb;
    if (stat(C.state_file, &sb) == 0 && S_ISDIR(sb.st_mode))
        die(2, "cannot read the state file %s: it is a directory (--state-file names a file)",
            C.state_file);
    size_t len;
    char *s = read_file_all(C.state_file, &len);
    if (!s) {
        if (errno != ENOENT)
            die(2, "cannot read the state file %s: %s", C.state_file, strerror(errno));
        return;
    }
    char done[512], started[512];
    snprintf(done, sizeof(done), "snapshot-complete slot=%s db=%s ", C.slot, g_dbname);
    snprintf(started, sizeof(started), "snapshot-started slot=%s db=%s", C.slot, g_dbname);
    char *save = NULL;
    for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line == s) { /* the record line: another slot's or database's counts as none */
            st->complete = !strncmp(line, done, strlen(done));
            st->started = !strcmp(line, started);
            if (!st->complete && !st->started) break;
            continue;
        }
        char topic[256];
        int part;
        long long off;
        if (sscanf(line, "from %255s %d %lld", topic, &part, &off) == 3 && part >= 0 && off >= 0)
            offs_add(&st->from, &st->nfrom, topic, part, off);
        else
            LOGW(M,
                 "state file %s: ignoring the line \"%s\" (that partition is read from its"
                 " beginning)",
                 C.state_file, line);
    }
    free(s);
}

static void state_write(const char *record, const part_off *from, int nfrom)
{
    size_t cap = strlen(record) + 2, len = 0;
    for (int i = 0; i < nfrom; i++) cap += strlen(from[i].topic) + 48;
    char *s = xcalloc(1, cap);
    len += (size_t)snprintf(s + len, cap - len, "%s\n", record);
    for (int i = 0; i < nfrom; i++)
        len += (size_t)snprintf(s + len, cap - len, "from %s %d %lld\n", from[i].topic,
                                (int)from[i].part, (long long)from[i].off);
    if (write_file_atomic(C.state_file, s, len))
        die(1, "cannot write the state file %s: %s", C.state_file, strerror(errno));
    free(s);
}

/* ---- snapshot reconciliation ------------------------------------------------------------- */

/* A snapshot taken again (an earlier attempt was interrupted, or the slot was lost and
 * re-created) does not see rows deleted since the earlier events were published: their last
 * image on the topic would stay live forever. So before the snapshot the table topics are read
 * back from the recorded offsets to their end, keeping per key the last image of every key
 * whose last event leaves it live; the snapshot removes each key it emits, and every key left
 * gets a delete (and a tombstone) as part of the snapshot. */
typedef struct recon {
    json_t *live; /* key → [partition, last after-image] */
} recon;

typedef struct recon_part {
    int ti;
    char *topic;
    int32_t part;
    int64_t from, hi;
    rd_kafka_topic_t *rkt;
    int done;
} recon_part;

/* Partition count of topic from the broker's metadata, or 0 when it is not known within 30 s
 * (a topic a Kafka cluster has just created may have no leader yet for a moment). */
static int topic_partitions(const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(g_rk, topic, NULL);
    int n = 0;
    for (int64_t until = now_mono_ms() + 30000; !n && now_mono_ms() < until && !g_stop;) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(g_rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
                n = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
        }
        if (!n) usleep(200000);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

static void recon_apply(recon *rc, int32_t part, const rd_kafka_message_t *m)
{
    if (!m->key || !m->key_len) return; /* a table without a primary key: no key to retract */
    char *key = xstrndup(m->key, m->key_len);
    if (!m->payload) { /* tombstone */
        json_object_del(rc->live, key);
        free(key);
        return;
    }
    json_error_t je;
    json_t *ev = json_loadb(m->payload, m->len, 0, &je);
    const char *op = json_string_value(json_object_get(ev, "op"));
    if (!op) {
        LOGD(M, "reconcile: %s [%d] offset %" PRId64 " is not a change event; skipped",
             rd_kafka_topic_name(m->rkt), (int)part, m->offset);
    } else if (!strcmp(op, "d")) {
        json_object_del(rc->live, key);
    } else if (!strcmp(op, "r") || !strcmp(op, "c") || !strcmp(op, "u")) {
        json_t *after = json_object_get(ev, "after");
        json_object_set_new(rc->live, key,
                            json_pack("[i,O]", (json_int_t)part, after ? after : json_null()));
    } /* "t" (truncate) has no key: the keys it emptied are retracted if the snapshot lacks them */
    json_decref(ev);
    free(key);
}

/* The reader gets the -X (producer) properties too, for security settings; librdkafka's
 * warnings that the producer-only ones do not apply to it are noise. */
static void on_reader_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (!strcmp(fac, "CONFWARN")) return;
    if (level <= 4)
        LOGW(M, "kafka reader: %s: %s", fac, buf);
    else
        LOGD(M, "kafka reader: %s: %s", fac, buf);
}

/* Fills rc[0..C.ntables) from the table topics between from (unrecorded partitions: their
 * beginning) and their current end, which it appends to *ends. Returns the live keys found. */
static long recon_read(const part_off *from, int nfrom, recon *rc, part_off **ends, int *nends)
{
    recon_part *parts = NULL;
    int nparts = 0, left = 0;
    for (int ti = 0; ti < C.ntables; ti++) {
        rc[ti].live = json_object();
        char *topic = xasprintf("%s.%s", C.prefix, C.tables[ti]);
        int np = topic_partitions(topic);
        if (np <= 0)
            die(1, "cannot learn the partitions of %s (to check an earlier snapshot)", topic);
        for (int p = 0; p < np; p++) {
            int64_t lo = 0, hi = 0;
            rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
            for (int64_t until = now_mono_ms() + 30000; now_mono_ms() < until && !g_stop;) {
                e = rd_kafka_query_watermark_offsets(g_rk, topic, p, &lo, &hi, 10000);
                if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
                usleep(200000); /* no leader yet, a leader moving: retry for a while */
            }
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
                die(1, "cannot read the end offset of %s [%d]: %s", topic, p, rd_kafka_err2str(e));
            offs_add(ends, nends, topic, p, hi);
            int64_t f = offs_find(from, nfrom, topic, p);
            if (f < lo) f = lo;
            if (f >= hi) continue;
            parts = xrealloc(parts, sizeof(*parts) * (size_t)(nparts + 1));
            parts[nparts++] =
                (recon_part){.ti = ti, .topic = xstrdup(topic), .part = p, .from = f, .hi = hi};
            left++;
            LOGI(M,
                 "reading %s [%d] back from offset %" PRId64 " to %" PRId64
                 " (what was published before this snapshot)",
                 topic, p, f, hi);
        }
        free(topic);
    }
    long events = 0, live = 0;
    if (left) {
        /* librdkafka's simple consumer: explicit partitions and offsets, no consumer group (so
         * nothing but Read on the topics is needed, and no group is left behind) */
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char err[512];
        const char *set[][2] = {{"bootstrap.servers", C.bootstrap},
                                {"enable.partition.eof", "true"},
                                {"auto.offset.reset", "earliest"},
                                {"client.id", "eddy-cdc"}};
        /* the -X properties first (security settings apply to this reader too) */
        for (int i = 0; i < C.nkprops; i++) {
            char *kv = xstrdup(C.kprops[i]);
            char *eq = strchr(kv, '=');
            *eq = 0;
            rd_kafka_conf_set(conf, kv, eq + 1, err, sizeof(err));
            free(kv);
        }
        for (size_t i = 0; i < ARRAY_LEN(set); i++)
            if (rd_kafka_conf_set(conf, set[i][0], set[i][1], err, sizeof(err)) != RD_KAFKA_CONF_OK)
                die(2, "consumer setting %s: %s", set[i][0], err);
        rd_kafka_conf_set_log_cb(conf, on_reader_log);
        rd_kafka_t *ck = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
        if (!ck) die(2, "cannot create the consumer: %s", err);
        rd_kafka_queue_t *qu = rd_kafka_queue_new(ck);
        for (int i = 0; i < nparts; i++) {
            parts[i].rkt = rd_kafka_topic_new(ck, parts[i].topic, NULL);
            if (rd_kafka_consume_start_queue(parts[i].rkt, parts[i].part, parts[i].from, qu))
                die(1, "cannot read %s [%d] back: %s", parts[i].topic, (int)parts[i].part,
                    rd_kafka_err2str(rd_kafka_last_error()));
        }
        int64_t progress = now_mono_ms();
        while (left > 0) {
            if (g_stop)
                die(1, "stopped while reading the topics back; the next start does it again");
            rd_kafka_message_t *m = rd_kafka_consume_queue(qu, 200);
            if (!m) {
                if (now_mono_ms() - progress > 120000)
                    die(1, "reading the table topics back made no progress for 120 s");
                continue;
            }
            recon_part *pp = NULL;
            for (int i = 0; i < nparts && !pp; i++)
                if (parts[i].rkt == m->rkt && parts[i].part == m->partition) pp = &parts[i];
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (pp && !pp->done && m->offset >= pp->hi) {
                    pp->done = 1;
                    left--;
                }
            } else if (m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
                die(2,
                    "reading %s back was refused (%s): after an interrupted snapshot eddy-cdc"
                    " reads its topics back, so its principal needs Read on them too",
                    pp ? pp->topic : "a table topic", rd_kafka_message_errstr(m));
            } else if (m->err) {
                LOGW(M, "reading the table topics back: %s", rd_kafka_message_errstr(m));
            } else if (pp && !pp->done) {
                progress = now_mono_ms();
                if (m->offset < pp->hi) {
                    recon_apply(&rc[pp->ti], pp->part, m);
                    events++;
                }
                if (m->offset >= pp->hi - 1) {
                    pp->done = 1;
                    left--;
                }
            }
            rd_kafka_message_destroy(m);
        }
        for (int i = 0; i < nparts; i++) {
            rd_kafka_consume_stop(parts[i].rkt, parts[i].part);
            rd_kafka_topic_destroy(parts[i].rkt);
        }
        rd_kafka_queue_destroy(qu);
        rd_kafka_destroy(ck);
    }
    for (int ti = 0; ti < C.ntables; ti++) live += (long)json_object_size(rc[ti].live);
    if (events)
        LOGI(M, "read back %ld events published before this snapshot: %ld keys live on the topics",
             events, live);
    for (int i = 0; i < nparts; i++) free(parts[i].topic);
    free(parts);
    return live;
}

/* ---- snapshot ----------------------------------------------------------------------------- */

typedef struct pending_ev {
    rel *r;
    char op;      /* 'r' a row read, 'd' a key retracted */
    char *ks;     /* the key, serialised */
    json_t *img;  /* after-image ('r') or before-image ('d') */
    int32_t part; /* RD_KAFKA_PARTITION_UA, or the partition of a retracted key */
    int have, first;
} pending_ev;

/* A row read has sequence [null, lsn]. A retraction is ordered at the consistent point, after
 * every change committed before it and before every streamed one: [lsn, lsn]. */
static void snap_flush_one(pending_ev *p, const char *flag, uint64_t lsn, int64_t ts_us,
                           uint32_t xid, txn *t)
{
    if (!p->have) return;
    if (p->op == 'd')
        emit_ks(p->r, 'd', p->ks, p->img, NULL, source_block(p->r, lsn, lsn, ts_us, xid, flag), t,
                p->part);
    else
        emit_ks(p->r, 'r', p->ks, NULL, p->img, source_block(p->r, 0, lsn, ts_us, xid, flag), t,
                p->part);
    p->ks = NULL;
    p->img = NULL;
    p->have = 0;
}

/* rc (NULL: nothing to reconcile) holds, per table, the keys live on its topic; each row read
 * removes its key, and the keys left are retracted at the end of the snapshot. */
static void snapshot_run(const char *snapname, uint64_t lsn, char **tables, int ntables, recon *rc)
{
    PGconn *s = pg_connect(C.pg, NULL);
    PQclear(q(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, PGRES_COMMAND_OK,
              "snapshot"));
    char *lit = qliteral(s, snapname);
    char *sql = xasprintf("SET TRANSACTION SNAPSHOT %s", lit);
    PQclear(q(s, sql, 0, NULL, PGRES_COMMAND_OK, "importing the exported snapshot"));
    free(sql);
    free(lit);
    PGresult *xr = q(s, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint", 0, NULL,
                     PGRES_TUPLES_OK, "snapshot xmin");
    uint32_t xid = (uint32_t)strtoull(PQgetvalue(xr, 0, 0), NULL, 10);
    PQclear(xr);
    int64_t ts_us = now_wall_ms() * 1000;
    txn st = {0};
    pending_ev pend = {0};
    int first = 1;
    uint64_t rows = 0, retracted = 0;
    rel **rels = xcalloc((size_t)(ntables ? ntables : 1), sizeof(rel *));
    LOGI(M, "snapshot of %d table(s) at %" PRIX64 "/%" PRIX64, ntables, lsn >> 32,
         lsn & 0xffffffff);
    for (int ti = 0; ti < ntables && !g_stop; ti++) {
        char *dot = strchr(tables[ti], '.');
        char *nsp = xstrndup(tables[ti], (size_t)(dot - tables[ti])), *tbl = xstrdup(dot + 1);
        char *qn = qident(s, nsp), *qt = qident(s, tbl);
        const char *pp[] = {nsp, tbl};
        PGresult *o = q(s,
                        "SELECT c.oid, c.relreplident FROM pg_class c JOIN pg_namespace n ON"
                        " n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                        2, pp, PGRES_TUPLES_OK, "snapshot table lookup");
        uint32_t relid = (uint32_t)strtoul(PQgetvalue(o, 0, 0), NULL, 10);
        char replident = PQgetvalue(o, 0, 1)[0];
        PQclear(o);
        sql = xasprintf("DECLARE eddy_snap NO SCROLL CURSOR FOR SELECT * FROM ONLY %s.%s", qn, qt);
        PQclear(q(s, sql, 0, NULL, PGRES_COMMAND_OK, "snapshot cursor"));
        free(sql);
        rel *r = NULL;
        json_t *live = rc ? rc[ti].live : NULL;
        for (;;) {
            PGresult *res =
                q(s, "FETCH 2000 FROM eddy_snap", 0, NULL, PGRES_TUPLES_OK, "snapshot fetch");
            int nt = PQntuples(res), nf = PQnfields(res);
            if (!r) {
                r = rel_upsert(relid, nsp, tbl, replident);
                r->d.ncols = nf;
                r->d.cols = xcalloc((size_t)(nf ? nf : 1), sizeof(dbz_col));
                for (int i = 0; i < nf; i++) {
                    r->d.cols[i].name = xstrdup(PQfname(res, i));
                    r->d.cols[i].typoid = PQftype(res, i);
                    r->d.cols[i].typmod = PQfmod(res, i);
                }
                rel_load_pk(r);
                registry_register(r);
                rels[ti] = r;
            }
            pgo_tuple t = {.ncols = nf, .cols = xcalloc((size_t)(nf ? nf : 1), sizeof(pgo_value))};
            for (int row = 0; row < nt; row++) {
                for (int i = 0; i < nf; i++) {
                    t.cols[i].kind = PQgetisnull(res, row, i) ? 'n' : 't';
                    t.cols[i].data = PQgetvalue(res, row, i);
                    t.cols[i].len = (uint32_t)PQgetlength(res, row, i);
                }
                snap_flush_one(&pend, pend.first ? "first" : "true", lsn, ts_us, xid, &st);
                pend.first = first;
                first = 0;
                pend.r = r;
                pend.op = 'r';
                pend.part = RD_KAFKA_PARTITION_UA;
                json_t *key = dbz_key(&r->d, &t, C.dm);
                pend.ks = dumps(key);
                json_decref(key);
                if (pend.ks && live && json_object_size(live)) json_object_del(live, pend.ks);
                pend.img = dbz_row(&r->d, &t, NULL, C.dm);
                pend.have = 1;
                rows++;
                atomic_fetch_add(&m_snapshot_rows, 1);
                rd_kafka_poll(g_rk, 0);
                if (g_fatal) die(1, "%s", g_fatal_msg);
            }
            free(t.cols);
            PQclear(res);
            if (nt == 0) break;
        }
        PQclear(q(s, "CLOSE eddy_snap", 0, NULL, PGRES_COMMAND_OK, "snapshot cursor"));
        free(qn);
        free(qt);
        free(nsp);
        free(tbl);
    }
    if (g_stop) die(1, "stopped during the snapshot; it is taken again at the next start");
    /* keys an earlier snapshot left live whose rows are gone: a delete, then a tombstone */
    for (int ti = 0; rc && ti < ntables; ti++) {
        const char *k;
        json_t *v;
        json_object_foreach(rc[ti].live, k, v)
        {
            snap_flush_one(&pend, pend.first ? "first" : "true", lsn, ts_us, xid, &st);
            pend.first = first;
            first = 0;
            pend.r = rels[ti];
            pend.op = 'd';
            pend.part = (int32_t)json_integer_value(json_array_get(v, 0));
            pend.ks = xstrdup(k);
            pend.img = json_incref(json_array_get(v, 1));
            if (json_is_null(pend.img)) { /* no image (not ours?): at least the key */
                json_decref(pend.img);
                pend.img = json_loads(k, 0, NULL);
            }
            pend.have = 1;
            retracted++;
            atomic_fetch_add(&m_snapshot_retracted, 1);
            rd_kafka_poll(g_rk, 0);
            if (g_fatal) die(1, "%s", g_fatal_msg);
        }
    }
    snap_flush_one(&pend, "last", lsn, ts_us, xid, &st);
    free(rels);
    PQclear(q(s, "COMMIT", 0, NULL, PGRES_COMMAND_OK, "snapshot commit"));
    PQfinish(s);
    while (st.pending > 0 && !g_fatal) rd_kafka_poll(g_rk, 100);
    if (g_fatal) die(1, "%s (the snapshot is taken again at the next start)", g_fatal_msg);
    if (retracted)
        LOGI(M,
             "snapshot: retracted %" PRIu64 " key(s) live on the topics whose rows no longer"
             " exist (a delete and a tombstone each)",
             retracted);
    LOGI(M, "snapshot done: %" PRIu64 " rows acknowledged by the broker", rows);
}

/* ---- start-up ----------------------------------------------------------------------------- */

/* Resolves --table names to "schema.table" (checks they exist); fills from the publication
 * when none were given. */
static void tables_resolve(void)
{
    if (C.ntables == 0) {
        const char *p[] = {C.pub};
        PGresult *r = q(g_cat,
                        "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE"
                        " pubname = $1 ORDER BY 1",
                        1, p, PGRES_TUPLES_OK, "reading the publication");
        if (PQntuples(r) == 0)
            die(2, "no tables: give --table SCHEMA.TABLE, or name an existing publication with"
                   " --publication");
        C.ntables = PQntuples(r);
        C.tables = xcalloc((size_t)C.ntables, sizeof(char *));
        for (int i = 0; i < C.ntables; i++) C.tables[i] = xstrdup(PQgetvalue(r, i, 0));
        PQclear(r);
    }
    for (int i = 0; i < C.ntables; i++) {
        char *t = C.tables[i];
        char *dot = strchr(t, '.');
        char *nsp = dot ? xstrndup(t, (size_t)(dot - t)) : xstrdup("public");
        char *tbl = xstrdup(dot ? dot + 1 : t);
        const char *p[] = {nsp, tbl};
        PGresult *r = q(g_cat,
                        "SELECT c.relkind, c.relreplident, EXISTS (SELECT 1 FROM pg_index i WHERE"
                        " i.indrelid = c.oid AND i.indisprimary) FROM pg_class c JOIN pg_namespace"
                        " n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                        2, p, PGRES_TUPLES_OK, "looking up a table");
        if (PQntuples(r) == 0) die(2, "table %s.%s does not exist (check --table)", nsp, tbl);
        char kind = PQgetvalue(r, 0, 0)[0], ident = PQgetvalue(r, 0, 1)[0];
        int haspk = PQgetvalue(r, 0, 2)[0] == 't';
        if (kind != 'r' && kind != 'p') die(2, "%s.%s is not a table", nsp, tbl);
        if (!haspk && ident == 'd')
            LOGW(M,
                 "table %s.%s has no primary key and REPLICA IDENTITY DEFAULT: PostgreSQL will"
                 " refuse its UPDATEs and DELETEs once it is published; set REPLICA IDENTITY"
                 " FULL",
                 nsp, tbl);
        if (!haspk) LOGW(M, "table %s.%s has no primary key: its events have a null key", nsp, tbl);
        PQclear(r);
        free(C.tables[i]);
        C.tables[i] = xasprintf("%s.%s", nsp, tbl);
        free(nsp);
        free(tbl);
    }
}

static char *table_sql(PGconn *c, const char *t)
{
    const char *dot = strchr(t, '.');
    char *nsp = xstrndup(t, (size_t)(dot - t));
    char *a = qident(c, nsp), *b = qident(c, dot + 1);
    char *out = xasprintf("%s.%s", a, b);
    free(nsp);
    free(a);
    free(b);
    return out;
}

static void publication_ensure(void)
{
    const char *p[] = {C.pub};
    PGresult *r = q(g_cat, "SELECT puballtables FROM pg_publication WHERE pubname = $1", 1, p,
                    PGRES_TUPLES_OK, "reading publications");
    int exists = PQntuples(r) > 0, all = exists && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (all) return;
    char *qp = qident(g_cat, C.pub);
    for (int i = 0; i < C.ntables; i++) {
        if (exists) {
            const char *pp[] = {C.pub, C.tables[i]};
            r = q(g_cat,
                  "SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname || '.'"
                  " || tablename = $2",
                  2, pp, PGRES_TUPLES_OK, "reading the publication");
            int has = PQntuples(r) > 0;
            PQclear(r);
            if (has) continue;
        }
        char *ts = table_sql(g_cat, C.tables[i]);
        char *sql = exists ? xasprintf("ALTER PUBLICATION %s ADD TABLE %s", qp, ts)
                           : xasprintf("CREATE PUBLICATION %s FOR TABLE %s", qp, ts);
        r = PQexec(g_cat, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            char msg[512];
            snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
            msg[strcspn(msg, "\n")] = 0;
            die(2,
                "cannot publish table %s in publication %s: %s\n"
                "  (the role must own the table; or an administrator runs: %s)",
                C.tables[i], C.pub, msg, sql);
        }
        LOGI(M, "%s", sql);
        PQclear(r);
        free(sql);
        free(ts);
        exists = 1;
    }
    free(qp);
}

/* 0 = no slot, 1 = slot usable (g_confirmed = its confirmed position); dies on an unusable
 * one. */
static int slot_inspect(void)
{
    const char *p[] = {C.slot};
    PGresult *r = q(g_cat,
                    "SELECT plugin, database, wal_status, slot_type,"
                    " coalesce(confirmed_flush_lsn::text, '0/0') FROM pg_replication_slots"
                    " WHERE slot_name = $1",
                    1, p, PGRES_TUPLES_OK, "reading replication slots");
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    if (strcmp(PQgetvalue(r, 0, 3), "logical") || strcmp(PQgetvalue(r, 0, 0), "pgoutput"))
        die(2, "replication slot %s exists but is not a logical pgoutput slot (plugin %s)", C.slot,
            PQgetvalue(r, 0, 0));
    if (strcmp(PQgetvalue(r, 0, 1), g_dbname))
        die(2, "replication slot %s belongs to database %s, not %s", C.slot, PQgetvalue(r, 0, 1),
            g_dbname);
    if (!strcmp(PQgetvalue(r, 0, 2), "lost"))
        die(3,
            "replication slot %s was invalidated by the server (the WAL it needed was removed,"
            " see max_slot_wal_keep_size): changes since its last confirmed position are gone.\n"
            "  Drop it with SELECT pg_drop_replication_slot('%s'); and start eddy-cdc again: it"
            " takes a new snapshot.",
            C.slot, C.slot);
    if (pgo_lsn_parse(PQgetvalue(r, 0, 4), &g_confirmed)) g_confirmed = 0;
    PQclear(r);
    return 1;
}

static void slot_drop(void)
{
    char *lit = qliteral(g_cat, C.slot);
    char *sql = xasprintf("SELECT pg_drop_replication_slot(%s)", lit);
    for (int i = 0;; i++) {
        PGresult *r = PQexec(g_cat, sql);
        int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        if (!ok && i < 100 && strstr(PQresultErrorMessage(r), "active")) {
            PQclear(r);
            usleep(200000);
            continue;
        }
        if (!ok) die(2, "cannot drop slot %s: %s", C.slot, PQresultErrorMessage(r));
        PQclear(r);
        break;
    }
    free(sql);
    free(lit);
}

static void send_status(int reply)
{
    uint8_t b[34];
    int64_t now = now_wall_ms() * 1000 - PGO_EPOCH_OFFSET_US;
    pgo_status_encode(b, g_confirmed, g_confirmed, g_confirmed, now, reply != 0);
    if (PQputCopyData(g_repl, (const char *)b, sizeof(b)) != 1 || PQflush(g_repl) != 0)
        die(1, "cannot send the status update: %s", pgerr(g_repl));
}

static void stream_start(uint64_t from)
{
    char *qs = qident(g_repl, C.slot), *qp = qliteral(g_repl, C.pub);
    char *sql = xasprintf("START_REPLICATION SLOT %s LOGICAL %X/%X (proto_version '1',"
                          " publication_names %s)",
                          qs, (unsigned)(from >> 32), (unsigned)from, qp);
    for (int i = 0;; i++) {
        PGresult *r = PQexec(g_repl, sql);
        if (PQresultStatus(r) == PGRES_COPY_BOTH) {
            PQclear(r);
            break;
        }
        const char *e = PQresultErrorMessage(r);
        if (strstr(e, "is active for PID") && i < 150) { /* a killed predecessor's walsender */
            PQclear(r);
            usleep(200000);
            continue;
        }
        if (strstr(e, "can no longer get changes") || strstr(e, "invalidated"))
            die(3,
                "replication slot %s was invalidated by the server: %s  Drop it and start"
                " again for a new snapshot.",
                C.slot, e);
        die(2, "START_REPLICATION failed: %s", e);
    }
    free(sql);
    free(qs);
    free(qp);
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: eddy-cdc --pg URL --bootstrap-servers HOST:PORT [--table SCHEMA.TABLE ...]\n"
        "Streams PostgreSQL row changes to Kafka topics <prefix>.<schema>.<table> as Debezium\n"
        "change events (logical replication, pgoutput). See docs/cdc.md.\n"
        "  --pg URL                 postgresql://user:pass@host:port/db (role with REPLICATION)\n"
        "  --bootstrap-servers H:P  Kafka/eddyd bootstrap servers\n"
        "  --table SCHEMA.TABLE     a table to capture (repeatable; default: the publication's)\n"
        "  --topic-prefix P         topic prefix, Debezium's topic.prefix (default cdc)\n"
        "  --slot NAME              logical replication slot (default eddy_cdc)\n"
        "  --publication NAME       publication, created/extended if needed (default eddy_cdc)\n"
        "  --snapshot initial|never initial snapshot of existing rows on a new slot (initial)\n"
        "  --state-file PATH        where the snapshot's start and completion are recorded, with\n"
        "                           the topic offsets a snapshot taken again reads back from\n"
        "                           to retract rows deleted meanwhile\n"
        "                           (default ./eddy-cdc-<slot>.state)\n"
        "  --partitions N           partitions of topics it creates (default 1)\n"
        "  --replication-factor N   replication factor of topics it creates (default 1)\n"
        "  --decimal-handling M     precise (default), string or double\n"
        "  --metrics-listen H:P     Prometheus /metrics (lag bytes/seconds, events/s)\n"
        "  --schema-registry URL    register each table's change-event JSON Schema as\n"
        "                           <topic>-value, again whenever its columns change\n"
        "  -X key=value             librdkafka producer property (repeatable)\n"
        "  --log-level LEVEL        debug, info, warn or error\n"
        "Exit codes: 0 stopped by SIGTERM/SIGINT, 1 runtime failure, 2 bad settings or\n"
        "permissions, 3 the slot was invalidated by the server.\n");
}

static void parse_args(int argc, char **argv)
{
    static const struct option opts[] = {{"pg", 1, 0, 'p'},
                                         {"bootstrap-servers", 1, 0, 'b'},
                                         {"table", 1, 0, 't'},
                                         {"topic-prefix", 1, 0, 'P'},
                                         {"slot", 1, 0, 's'},
                                         {"publication", 1, 0, 'u'},
                                         {"snapshot", 1, 0, 'S'},
                                         {"state-file", 1, 0, 'f'},
                                         {"partitions", 1, 0, 'n'},
                                         {"replication-factor", 1, 0, 'r'},
                                         {"decimal-handling", 1, 0, 'd'},
                                         {"metrics-listen", 1, 0, 'm'},
                                         {"schema-registry", 1, 0, 'R'},
                                         {"log-level", 1, 0, 'l'},
                                         {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "X:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': C.pg = optarg; break;
        case 'b': C.bootstrap = optarg; break;
        case 't':
            C.tables = xrealloc(C.tables, sizeof(char *) * (size_t)(C.ntables + 1));
            C.tables[C.ntables++] = xstrdup(optarg);
            break;
        case 'P': C.prefix = optarg; break;
        case 's': C.slot = optarg; break;
        case 'u': C.pub = optarg; break;
        case 'S':
            if (strcmp(optarg, "initial") && strcmp(optarg, "never"))
                die(2, "--snapshot must be initial or never");
            C.snapshot = optarg;
            break;
        case 'f': C.state_file = xstrdup(optarg); break;
        case 'n': C.partitions = atoi(optarg); break;
        case 'r': C.replication = atoi(optarg); break;
        case 'd':
            if (!strcmp(optarg, "precise"))
                C.dm = DBZ_DECIMAL_PRECISE;
            else if (!strcmp(optarg, "string"))
                C.dm = DBZ_DECIMAL_STRING;
            else if (!strcmp(optarg, "double"))
                C.dm = DBZ_DECIMAL_DOUBLE;
            else
                die(2, "--decimal-handling must be precise, string or double");
            break;
        case 'm': C.metrics_listen = optarg; break;
        case 'R': C.registry = optarg; break;
        case 'l': {
            int l = log_parse_level(optarg);
            if (l < 0) die(2, "--log-level: debug, info, warn or error");
            log_set_level((enum log_level)l);
            break;
        }
        case 'X':
            C.kprops = xrealloc(C.kprops, sizeof(char *) * (size_t)(C.nkprops + 1));
            C.kprops[C.nkprops++] = optarg;
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc) die(2, "unexpected argument %s (see --help)", argv[optind]);
    if (!C.pg || !C.bootstrap) {
        usage(stderr);
        exit(2);
    }
    if (C.partitions < 1 || C.replication < 1) die(2, "--partitions/--replication-factor >= 1");
    for (const char *p = C.slot; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            die(2, "--slot: lower-case letters, digits and _ only (PostgreSQL's rule)");
    if (!C.state_file) C.state_file = xasprintf("eddy-cdc-%s.state", C.slot);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    g_cat = pg_connect(C.pg, NULL);
    g_dbname = xstrdup(PQdb(g_cat));
    {
        PGresult *r = q(g_cat, "SHOW wal_level", 0, NULL, PGRES_TUPLES_OK, "SHOW wal_level");
        if (strcmp(PQgetvalue(r, 0, 0), "logical"))
            die(2,
                "the server runs with wal_level=%s; logical decoding needs wal_level=logical"
                " (ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL)",
                PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    tables_resolve();
    publication_ensure();
    int have_slot = slot_inspect();
    int need_snapshot = !strcmp(C.snapshot, "initial");
    snap_state ss;
    state_read(&ss);
    if (have_slot && need_snapshot && !ss.complete) {
        LOGW(M,
             "slot %s exists but no completed snapshot is recorded in %s: re-creating it and"
             " taking the snapshot again (rows may be sent twice; keys the earlier attempt"
             " published whose rows are gone get a delete)",
             C.slot, C.state_file);
        slot_drop();
        have_slot = 0;
        g_confirmed = 0;
    }

    g_repl = pg_connect(C.pg, "database");
    g_rk = producer_new();
    struct MHD_Daemon *md = C.metrics_listen ? metrics_start(C.metrics_listen) : NULL;
    {
        char **topics = xcalloc((size_t)C.ntables, sizeof(char *));
        for (int i = 0; i < C.ntables; i++) topics[i] = xasprintf("%s.%s", C.prefix, C.tables[i]);
        topics_create(topics, C.ntables);
        /* learn the topics' leaders now, so the first change is not held back by a metadata
         * round trip (measured: ~1 s for the first events without it) */
        for (int i = 0; i < C.ntables; i++) {
            rd_kafka_topic_t *rkt = rd_kafka_topic_new(g_rk, topics[i], NULL);
            const struct rd_kafka_metadata *tmd = NULL;
            if (rd_kafka_metadata(g_rk, 0, rkt, &tmd, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR)
                rd_kafka_metadata_destroy(tmd);
            rd_kafka_topic_destroy(rkt);
        }
        for (int i = 0; i < C.ntables; i++) free(topics[i]);
        free(topics);
    }

    uint64_t start = g_confirmed;
    if (!have_slot) {
        recon *rc = NULL;
        part_off *ends = NULL;
        int nends = 0;
        if (need_snapshot) {
            /* A new slot lifetime: from now on the completion of an earlier one must not pass
             * for this one's, and every attempt reads back from the same offsets (the earlier
             * lifetime's, else the topics' beginning) until one completes. */
            if (!ss.started) {
                char *rec = xasprintf("snapshot-started slot=%s db=%s", C.slot, g_dbname);
                state_write(rec, ss.from, ss.nfrom);
                free(rec);
            }
            rc = xcalloc((size_t)C.ntables, sizeof(*rc));
            recon_read(ss.from, ss.nfrom, rc, &ends, &nends);
        }
        char *qs = qident(g_repl, C.slot);
        char *sql = xasprintf("CREATE_REPLICATION_SLOT %s LOGICAL pgoutput %s", qs,
                              need_snapshot ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT");
        PGresult *r = q(g_repl, sql, 0, NULL, PGRES_TUPLES_OK, "creating the replication slot");
        if (pgo_lsn_parse(PQgetvalue(r, 0, 1), &start))
            die(1, "bad consistent point %s", PQgetvalue(r, 0, 1));
        LOGI(M, "created slot %s at %s", C.slot, PQgetvalue(r, 0, 1));
        if (need_snapshot) {
            char *snap = xstrdup(PQgetvalue(r, 0, 2));
            snapshot_run(snap, start, C.tables, C.ntables, rc);
            free(snap);
            /* the next lifetime reads back from where this snapshot began publishing */
            char *rec = xasprintf("snapshot-complete slot=%s db=%s lsn=%X/%X", C.slot, g_dbname,
                                  (unsigned)(start >> 32), (unsigned)start);
            state_write(rec, ends, nends);
            free(rec);
            for (int i = 0; i < C.ntables; i++) json_decref(rc[i].live);
            free(rc);
            offs_free(ends, nends);
        }
        PQclear(r);
        free(sql);
        free(qs);
        g_confirmed = start;
    }
    offs_free(ss.from, ss.nfrom);
    stream_start(start);
    LOGI(M, "streaming from slot %s (publication %s) to %s.*", C.slot, C.pub, C.prefix);

    int64_t last_status = 0, last_rate = now_mono_ms(), last_log = now_mono_ms();
    uint64_t rate_base = atomic_load(&m_events), sent_confirmed = g_confirmed;
    while (!g_stop) {
        char *buf = NULL;
        int n = PQgetCopyData(g_repl, &buf, 1);
        if (n > 0) {
            pgo_frame f;
            char err[256];
            if (pgo_frame_decode((const uint8_t *)buf, (size_t)n, &f, err, sizeof(err)))
                die(1, "bad frame from the server: %s", err);
            if (f.wal_end > g_received) g_received = f.wal_end;
            atomic_store(&m_server_end, g_received);
            if (f.kind == 'w') {
                on_message(&f);
            } else if (f.reply) {
                /* Nothing pending: everything the server sent up to its end is published. */
                if (!g_head && f.wal_end > g_confirmed) g_confirmed = f.wal_end;
                send_status(1);
                sent_confirmed = g_confirmed;
                last_status = now_mono_ms();
            } else if (!g_head && f.wal_end > g_confirmed) {
                g_confirmed = f.wal_end;
            }
            PQfreemem(buf);
            rd_kafka_poll(g_rk, 0);
        } else if (n == 0) {
            rd_kafka_poll(g_rk, 0);
            struct pollfd pf = {.fd = PQsocket(g_repl), .events = POLLIN};
            poll(&pf, 1, 5);
            if (!PQconsumeInput(g_repl)) die(1, "replication connection lost: %s", pgerr(g_repl));
        } else if (n == -1) {
            PGresult *r = PQgetResult(g_repl);
            die(1, "the server ended replication: %s", r ? PQresultErrorMessage(r) : "");
        } else {
            die(1, "replication connection lost: %s", pgerr(g_repl));
        }
        if (g_fatal)
            die(1, "%s; nothing past the last acknowledged event is confirmed", g_fatal_msg);
        txn_advance();
        int64_t now = now_mono_ms();
        if ((g_confirmed != sent_confirmed && now - last_status >= 20) ||
            now - last_status >= 5000) {
            send_status(0);
            sent_confirmed = g_confirmed;
            last_status = now;
        }
        if (now - last_rate >= 1000) {
            uint64_t e = atomic_load(&m_events);
            atomic_store(&m_rate_x1000, (e - rate_base) * 1000000 / (uint64_t)(now - last_rate));
            rate_base = e;
            last_rate = now;
        }
        if (now - last_log >= 30000) {
            LOGI(M, "events %" PRIu64 ", confirmed %X/%X, lag %" PRIu64 " bytes",
                 atomic_load(&m_events), (unsigned)(g_confirmed >> 32), (unsigned)g_confirmed,
                 g_received > g_confirmed ? g_received - g_confirmed : 0);
            last_log = now;
        }
    }
    /* SIGTERM: publish what was read, confirm it, end cleanly. */
    LOGI(M, "stopping: waiting for the broker to acknowledge %s", g_head ? "the tail" : "nothing");
    for (int i = 0; i < 300 && g_head && !g_fatal; i++) {
        rd_kafka_poll(g_rk, 100);
        txn_advance();
        if (g_head && !g_head->committed) break; /* an unfinished transaction: re-sent later */
    }
    txn_advance();
    send_status(0);
    PQputCopyEnd(g_repl, NULL);
    PQflush(g_repl);
    rd_kafka_flush(g_rk, 10000);
    rd_kafka_destroy(g_rk);
    if (md) MHD_stop_daemon(md);
    PQfinish(g_repl);
    PQfinish(g_cat);
    while (g_head) {
        txn *t = g_head;
        g_head = t->next;
        free(t);
    }
    while (g_rels) {
        rel *r = g_rels;
        g_rels = r->next;
        rel_clear(r);
        free(r->registered);
        free(r);
    }
    for (int i = 0; i < C.ntables; i++) free(C.tables[i]);
    free(C.tables);
    free(C.kprops);
    free(C.state_file);
    free(g_dbname);
    LOGI(M, "stopped");
    return 0;
}
