/* eventstore.c — libeddy's event store (eventstore.h): streams, expected-version appends in
 * the caller's transaction with every event also recorded in the outbox, forward/backward and
 * global-position reads, upcasting on read, aggregates folded from the latest snapshot.
 * Works on both stores (SQLite, PostgreSQL) through eddy_store SQL. Also the helpers es_int.h
 * gives projection.c and saga.c: the error text and the list of attachments to services.
 * Part of src/sdk (libeddy).
 *
 * Tables:
 *   eddy_streams   (stream_id PK, aggregate_type, version, created_at, updated_at)
 *                  one row per stream; its version is the concurrency check (a conditional
 *                  UPDATE / INSERT … ON CONFLICT, so on PostgreSQL a racing writer blocks on the
 *                  row and then sees the winner's version: a conflict, never a lost update)
 *   eddy_events    (position PK autoincrement = global position, stream_id, version,
 *                  event_id UNIQUE, event_type, event_version, data, correlation_id,
 *                  created_at; UNIQUE (stream_id, version))
 *   eddy_snapshots (stream_id PK, version, reducer_version, state, created_at)
 * Global position order is commit order: SQLite writers are serialised by BEGIN IMMEDIATE;
 * on PostgreSQL an append takes a transaction-scoped advisory lock before allocating
 * positions, so a reader following positions never sees a gap filled in later. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "es_int.h"

#define ES_ORDER_LOCK "7411"

/* ---- errors ------------------------------------------------------------------------------- */
static __thread char g_err[512];

const char *eddy_es_error(void)
{
    return g_err;
}

void sdk_es_clear(void)
{
    g_err[0] = 0;
}

int sdk_es_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return code;
}

int sdk_es_store_fail(eddy_store *st, int code, const char *what)
{
    return sdk_es_fail(code, "%s: %s", what, eddy_store_error(st));
}

/* ---- attachments (projections, sagas) ------------------------------------------------------ */
int sdk_attach(sdk_attached *l, eddy_service *svc, const char *name, const sdk_component *c,
               eddy_http_fn get, eddy_http_fn post)
{
    int rc = 0, first = 1;
    pthread_mutex_lock(&l->mu);
    for (sdk_attached_item *it = l->head; it; it = it->next) {
        if (it->svc == svc) first = 0;
        if ((it->svc == svc || !l->per_service) && !strcmp(it->name, name)) rc = EDDY_ERR_CONFLICT;
    }
    if (rc == 0 && (rc = sdk_service_attach(svc, c)) == 0) {
        sdk_attached_item *it = sdk_xcalloc(1, sizeof *it);
        *it = (sdk_attached_item){svc, name, c->arg, l->head};
        l->head = it;
    }
    pthread_mutex_unlock(&l->mu);
    if (rc == EDDY_ERR_CONFLICT) return sdk_es_fail(rc, "%s %s is already attached", l->kind, name);
    if (rc < 0)
        return sdk_es_fail(rc, "cannot attach %s %s (service started, or too many)", l->kind, name);
    if (first) {
        eddy_service_route(svc, "GET", l->prefix, get, NULL);
        eddy_service_route(svc, "POST", l->prefix, post, NULL);
    }
    return 0;
}

void sdk_detach(sdk_attached *l, const void *obj)
{
    pthread_mutex_lock(&l->mu);
    for (sdk_attached_item **pp = &l->head; *pp; pp = &(*pp)->next)
        if ((*pp)->obj == obj) {
            sdk_attached_item *it = *pp;
            *pp = it->next;
            free(it);
            break;
        }
    pthread_mutex_unlock(&l->mu);
}

void *sdk_attached_find(sdk_attached *l, const eddy_service *svc, const char *name, size_t n)
{
    for (sdk_attached_item *it = l->head; it; it = it->next)
        if ((!svc || it->svc == svc) && strlen(it->name) == n && !strncmp(it->name, name, n))
            return it->obj;
    return NULL;
}

/* ---- schema ------------------------------------------------------------------------------- */
/* The schema, alike on both stores but for the type of the global position. */
#define ES_DDL(POSITION_TYPE)                                                                      \
    "CREATE TABLE IF NOT EXISTS eddy_streams ("                                                    \
    " stream_id TEXT PRIMARY KEY, aggregate_type TEXT NOT NULL, version BIGINT NOT NULL,"          \
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"                                        \
    "CREATE TABLE IF NOT EXISTS eddy_events ("                                                     \
    " position " POSITION_TYPE ", stream_id TEXT NOT NULL,"                                        \
    " version BIGINT NOT NULL, event_id TEXT NOT NULL UNIQUE, event_type TEXT NOT NULL,"           \
    " event_version TEXT NOT NULL, data TEXT NOT NULL, correlation_id TEXT,"                       \
    " created_at TEXT NOT NULL, UNIQUE (stream_id, version));"                                     \
    "CREATE TABLE IF NOT EXISTS eddy_snapshots ("                                                  \
    " stream_id TEXT PRIMARY KEY, version BIGINT NOT NULL, reducer_version TEXT NOT NULL,"         \
    " state TEXT NOT NULL, created_at TEXT NOT NULL);"

static const char ES_DDL_SQLITE[] = ES_DDL("INTEGER PRIMARY KEY AUTOINCREMENT");
static const char ES_DDL_PG[] = ES_DDL("BIGSERIAL PRIMARY KEY");

int eddy_es_migrate(eddy_store *st)
{
    sdk_es_clear();
    int pg = eddy_store_is_postgres(st);
    if (pg) eddy_store_exec(st, "SELECT pg_advisory_lock(4243)", 0, NULL);
    int rc = eddy_store_exec(st, pg ? ES_DDL_PG : ES_DDL_SQLITE, 0, NULL);
    if (pg) eddy_store_exec(st, "SELECT pg_advisory_unlock(4243)", 0, NULL);
    if (rc < 0) return sdk_es_store_fail(st, rc, "event store migration");
    return 0;
}

static int es_comp_start(eddy_service *svc, void *arg)
{
    (void)arg;
    int rc = eddy_es_migrate(eddy_service_store(svc));
    if (rc < 0) sdk_log(eddy_service_name(svc), "%s", eddy_es_error());
    return rc;
}

int eddy_es_attach(eddy_service *svc)
{
    sdk_component c = {es_comp_start, NULL, NULL, NULL, NULL};
    int rc = sdk_service_attach(svc, &c);
    return rc < 0 ? sdk_es_fail(rc, "cannot attach the event store (service started?)") : 0;
}

/* ---- validation --------------------------------------------------------------------------- */
static int valid_type_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* Splits "<type>-<id>"; type (NUL-terminated) into type_out[65]. */
static int stream_parse(const char *stream, char type_out[65])
{
    if (!stream || !*stream) return sdk_es_fail(EDDY_ERR_PERMANENT, "stream name is empty");
    size_t len = strlen(stream);
    if (len > EDDY_ES_MAX_STREAM_NAME)
        return sdk_es_fail(EDDY_ERR_PERMANENT, "stream name is %zu bytes (max %d)", len,
                           EDDY_ES_MAX_STREAM_NAME);
    const char *dash = strchr(stream, '-');
    if (!dash || dash == stream || !dash[1])
        return sdk_es_fail(EDDY_ERR_PERMANENT,
                           "stream name '%.200s' is not '<aggregate type>-<id>'", stream);
    size_t tl = (size_t)(dash - stream);
    if (tl > 64)
        return sdk_es_fail(EDDY_ERR_PERMANENT, "aggregate type of '%.200s' is longer than 64",
                           stream);
    for (size_t i = 0; i < tl; i++)
        if (!valid_type_char(stream[i]))
            return sdk_es_fail(EDDY_ERR_PERMANENT, "aggregate type of '%.200s' must be [a-z0-9_.]",
                               stream);
    for (const char *p = stream; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return sdk_es_fail(EDDY_ERR_PERMANENT, "stream name has a control character");
    if (type_out) {
        memcpy(type_out, stream, tl);
        type_out[tl] = 0;
    }
    return 0;
}

static int major_of(const char *v, char out[16])
{
    size_t n = strcspn(v, ".");
    if (n == 0 || n >= 16) return -1;
    memcpy(out, v, n);
    out[n] = 0;
    return 0;
}

/* ---- upcasters ---------------------------------------------------------------------------- */
typedef struct upcaster {
    char *type, *from_major, *to_version;
    eddy_es_upcast_fn fn;
    void *arg;
} upcaster;

static pthread_mutex_t g_up_mu = PTHREAD_MUTEX_INITIALIZER;
static upcaster *g_up;
static int g_nup;

int eddy_es_upcaster(const char *event_type, const char *from_major, const char *to_version,
                     eddy_es_upcast_fn fn, void *arg)
{
    char m[16];
    if (!event_type || !*event_type || !from_major || !*from_major || !to_version || !fn ||
        major_of(to_version, m))
        return sdk_es_fail(EDDY_ERR_PERMANENT, "upcaster needs a type, a from major, a to "
                                               "version and a function");
    if (!strcmp(m, from_major))
        return sdk_es_fail(EDDY_ERR_PERMANENT, "upcaster from %s to %s does not change the major",
                           from_major, to_version);
    pthread_mutex_lock(&g_up_mu);
    g_up = sdk_xrealloc(g_up, (size_t)(g_nup + 1) * sizeof *g_up);
    g_up[g_nup++] = (upcaster){sdk_xstrdup(event_type), sdk_xstrdup(from_major),
                               sdk_xstrdup(to_version), fn, arg};
    pthread_mutex_unlock(&g_up_mu);
    return 0;
}

void eddy_es_upcasters_clear(void)
{
    pthread_mutex_lock(&g_up_mu);
    for (int i = 0; i < g_nup; i++) {
        free(g_up[i].type);
        free(g_up[i].from_major);
        free(g_up[i].to_version);
    }
    free(g_up);
    g_up = NULL;
    g_nup = 0;
    pthread_mutex_unlock(&g_up_mu);
}

static int upcast(eddy_es_event *e)
{
    for (int hops = 0; hops < 32; hops++) {
        char m[16];
        if (major_of(e->event_version, m)) return 0;
        upcaster *u = NULL;
        pthread_mutex_lock(&g_up_mu);
        for (int i = 0; i < g_nup; i++)
            if (!strcmp(g_up[i].type, e->type) && !strcmp(g_up[i].from_major, m)) {
                u = &g_up[i];
                break;
            }
        upcaster copy = u ? *u : (upcaster){0};
        pthread_mutex_unlock(&g_up_mu);
        if (!u) return 0;
        json_t *nd = copy.fn(e->type, e->data, copy.arg);
        if (!nd)
            return sdk_es_fail(EDDY_ERR_PERMANENT, "upcasting %s %s of %s@%lld failed", e->type,
                               e->event_version, e->stream, (long long)e->version);
        json_decref(e->data);
        e->data = nd;
        eddy_event_set(&e->event_version, copy.to_version);
    }
    return sdk_es_fail(EDDY_ERR_PERMANENT, "upcasters of %s loop", e->type);
}

/* ---- append ------------------------------------------------------------------------------- */
/* A query that answers one integer (a version, a position): the rows (1: *v is the value, 0 for
 * SQL NULL; 0: no row, *v = 0) or the store's < 0. */
static int query_i64(eddy_store *st, const char *sql, int n, const char *const *p, int64_t *v)
{
    eddy_rows *r = NULL;
    int rc = eddy_store_query(st, sql, n, p, &r);
    const char *s = rc > 0 ? eddy_rows_get(r, 0, 0) : NULL;
    *v = s ? atoll(s) : 0;
    eddy_rows_free(r);
    return rc;
}

static int current_version(eddy_store *st, const char *stream, int64_t *v)
{
    const char *p[] = {stream};
    int rc = query_i64(st, "SELECT version FROM eddy_streams WHERE stream_id = $1", 1, p, v);
    if (rc < 0) return sdk_es_store_fail(st, rc, "reading stream version");
    return rc > 0;
}

static int conflict(eddy_store *st, const char *stream, int64_t expected)
{
    int64_t cur = 0;
    int have = current_version(st, stream, &cur);
    if (have < 0) return have;
    if (expected == EDDY_ES_NO_STREAM)
        return sdk_es_fail(EDDY_ERR_CONFLICT,
                           "conflict: stream %.200s already exists (version %lld), expected none",
                           stream, (long long)cur);
    if (!have)
        return sdk_es_fail(EDDY_ERR_CONFLICT,
                           "conflict: stream %.200s does not exist, expected version %lld", stream,
                           (long long)expected);
    return sdk_es_fail(EDDY_ERR_CONFLICT,
                       "conflict: stream %.200s is at version %lld, expected %lld", stream,
                       (long long)cur, (long long)expected);
}

static void free_new(const eddy_es_new *events, int n, int from)
{
    for (int i = from; events && i < n; i++) json_decref(events[i].data);
}

static void event_clear(eddy_es_event *e);

/* The append; when out is given, it receives each appended event (caller frees fields). */
static int es_append(eddy_tx *tx, const char *stream, int64_t expected, const eddy_es_new *events,
                     int n, int64_t *new_version, eddy_es_event *out)
{
    sdk_es_clear();
    char type[65], topic[80], ts[32], nbuf[24], vbuf[24];
    int rc = 0, i = 0;
    char **datas = NULL;
    if (!tx) {
        free_new(events, n, 0);
        return sdk_es_fail(EDDY_ERR_PERMANENT, "append needs a transaction");
    }
    eddy_store *st = eddy_tx_store(tx);
    if ((rc = stream_parse(stream, type)) < 0) goto out;
    if (expected < EDDY_ES_ANY) {
        rc = sdk_es_fail(EDDY_ERR_PERMANENT,
                         "expected version %lld is negative (use EDDY_ES_ANY,"
                         " EDDY_ES_NO_STREAM or a version >= 1)",
                         (long long)expected);
        goto out;
    }
    if (n <= 0 || !events) {
        rc = sdk_es_fail(EDDY_ERR_PERMANENT, "append of no events to %s", stream);
        goto out;
    }
    datas = sdk_xcalloc((size_t)n, sizeof(char *));
    for (int k = 0; k < n; k++) {
        if (!events[k].type || !*events[k].type || strlen(events[k].type) > 200) {
            rc = sdk_es_fail(EDDY_ERR_PERMANENT, "event %d of the append has no type (max 200)", k);
            goto out;
        }
        if (events[k].data && !json_is_object(events[k].data)) {
            rc = sdk_es_fail(EDDY_ERR_PERMANENT, "event %d (%s): data must be a JSON object", k,
                             events[k].type);
            goto out;
        }
        datas[k] = events[k].data ? json_dumps(events[k].data, JSON_COMPACT | JSON_SORT_KEYS)
                                  : sdk_xstrdup("{}");
        if (!datas[k]) {
            rc = sdk_es_fail(EDDY_ERR_PERMANENT, "event %d (%s): data cannot be serialised", k,
                             events[k].type);
            goto out;
        }
        size_t sz = strlen(datas[k]);
        if (sz > EDDY_ES_MAX_EVENT_BYTES) {
            rc = sdk_es_fail(EDDY_ERR_PERMANENT, "event %d (%s) is %zu bytes (max %d)", k,
                             events[k].type, sz, EDDY_ES_MAX_EVENT_BYTES);
            goto out;
        }
    }
    snprintf(topic, sizeof topic, "%s.events", type);
    eddy_time_rfc3339(sdk_wall_ms(), ts);
    snprintf(nbuf, sizeof nbuf, "%d", n);
    if (eddy_store_is_postgres(st) &&
        (rc = eddy_store_exec(st, "SELECT pg_advisory_xact_lock(" ES_ORDER_LOCK ")", 0, NULL)) <
            0) {
        rc = sdk_es_store_fail(st, rc, "append lock");
        goto out;
    }
    int64_t newv;
    if (expected == EDDY_ES_ANY) {
        const char *p[] = {stream, type, nbuf, ts};
        rc = query_i64(st,
                       "INSERT INTO eddy_streams (stream_id, aggregate_type, version,"
                       " created_at, updated_at) VALUES ($1, $2, $3, $4, $4)"
                       " ON CONFLICT (stream_id) DO UPDATE SET version ="
                       " eddy_streams.version + excluded.version, updated_at = $4"
                       " RETURNING version",
                       4, p, &newv);
        if (rc <= 0) {
            rc = sdk_es_store_fail(st, rc < 0 ? rc : EDDY_ERR_IO, "append");
            goto out;
        }
    } else {
        /* a new stream, or one at the expected version: one row changes, else a conflict */
        const char *sql, *p[4] = {stream, type, nbuf, ts};
        if (expected == EDDY_ES_NO_STREAM) {
            sql = "INSERT INTO eddy_streams (stream_id, aggregate_type, version,"
                  " created_at, updated_at) VALUES ($1, $2, $3, $4, $4)"
                  " ON CONFLICT (stream_id) DO NOTHING";
            newv = n;
        } else {
            snprintf(vbuf, sizeof vbuf, "%lld", (long long)expected);
            sql = "UPDATE eddy_streams SET version = version + $2, updated_at = $3"
                  " WHERE stream_id = $1 AND version = $4";
            p[1] = nbuf;
            p[2] = ts;
            p[3] = vbuf;
            newv = expected + n;
        }
        rc = eddy_store_exec(st, sql, 4, p);
        if (rc < 0) {
            rc = sdk_es_store_fail(st, rc, "append");
            goto out;
        }
        if (rc == 0) {
            rc = conflict(st, stream, expected);
            goto out;
        }
    }
    const char *corr = eddy_tx_correlation_id(tx);
    for (i = 0; i < n; i++) {
        const char *ver = events[i].version && *events[i].version ? events[i].version : "1.0";
        char id[37], ev_v[24];
        json_t *data = events[i].data ? json_incref(events[i].data) : json_object();
        rc = eddy_tx_publish(tx, topic, stream, events[i].type, ver, data, id);
        if (rc < 0) {
            rc = sdk_es_fail(rc, "append to %s: the outbox refused event %s %s: %s", stream,
                             events[i].type, ver, eddy_store_error(st));
            goto out;
        }
        snprintf(ev_v, sizeof ev_v, "%lld", (long long)(newv - n + i + 1));
        const char *p[] = {stream, ev_v, id, events[i].type, ver, datas[i], corr, ts};
        int64_t position;
        rc = query_i64(st,
                       "INSERT INTO eddy_events (stream_id, version, event_id, event_type,"
                       " event_version, data, correlation_id, created_at)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING position",
                       8, p, &position);
        if (rc <= 0) {
            /* A unique violation on (stream_id, version) is a writer that bypassed
             * eddy_streams: report it as the conflict it is. */
            const char *e = eddy_store_error(st);
            if (strstr(e, "UNIQUE") || strstr(e, "duplicate key"))
                rc = sdk_es_fail(EDDY_ERR_CONFLICT, "conflict: version %s of %s exists", ev_v,
                                 stream);
            else
                rc = sdk_es_store_fail(st, rc < 0 ? rc : EDDY_ERR_IO, "append");
            goto out;
        }
        if (out) {
            eddy_es_event *o = &out[i];
            memset(o, 0, sizeof *o);
            o->position = position;
            o->version = newv - n + i + 1;
            o->stream = sdk_xstrdup(stream);
            o->event_id = sdk_xstrdup(id);
            o->type = sdk_xstrdup(events[i].type);
            o->event_version = sdk_xstrdup(ver);
            o->correlation_id = sdk_xstrdup(corr);
            o->created_at = sdk_xstrdup(ts);
            o->data = events[i].data ? json_incref(events[i].data) : json_object();
        }
    }
    if (new_version) *new_version = newv;
    rc = 0;
out:
    if (out && rc < 0)
        for (int k = 0; k < i; k++) event_clear(&out[k]);
    for (int k = 0; datas && k < n; k++) free(datas[k]);
    free(datas);
    free_new(events, n, 0);
    return rc;
}

int eddy_es_append(eddy_tx *tx, const char *stream, int64_t expected_version,
                   const eddy_es_new *events, int n, int64_t *new_version)
{
    return es_append(tx, stream, expected_version, events, n, new_version, NULL);
}

/* ---- reads -------------------------------------------------------------------------------- */
static void event_clear(eddy_es_event *e)
{
    if (!e) return;
    free(e->stream);
    free(e->event_id);
    free(e->type);
    free(e->event_version);
    free(e->correlation_id);
    free(e->created_at);
    json_decref(e->data);
}

void eddy_es_events_free(eddy_es_events *e)
{
    if (!e) return;
    for (int i = 0; i < e->n; i++) event_clear(&e->ev[i]);
    free(e->ev);
    free(e);
}

#define EV_COLS                                                                                    \
    "position, version, stream_id, event_id, event_type, event_version, data,"                     \
    " correlation_id, created_at"

static int rows_to_events(eddy_rows *r, eddy_es_events **out)
{
    int n = eddy_rows_count(r);
    eddy_es_events *e = sdk_xcalloc(1, sizeof *e);
    e->ev = sdk_xcalloc((size_t)n + 1, sizeof(eddy_es_event));
    for (int i = 0; i < n; i++) {
        eddy_es_event *x = &e->ev[i];
        x->position = atoll(eddy_rows_get(r, i, 0));
        x->version = atoll(eddy_rows_get(r, i, 1));
        x->stream = sdk_xstrdup(eddy_rows_get(r, i, 2));
        x->event_id = sdk_xstrdup(eddy_rows_get(r, i, 3));
        x->type = sdk_xstrdup(eddy_rows_get(r, i, 4));
        x->event_version = sdk_xstrdup(eddy_rows_get(r, i, 5));
        const char *d = eddy_rows_get(r, i, 6);
        x->data = d ? json_loads(d, 0, NULL) : NULL;
        const char *c = eddy_rows_get(r, i, 7);
        x->correlation_id = c ? sdk_xstrdup(c) : NULL;
        x->created_at = sdk_xstrdup(eddy_rows_get(r, i, 8));
        e->n = i + 1;
        if (!x->data) {
            int rc = sdk_es_fail(EDDY_ERR_PERMANENT, "stored event %s@%lld has unreadable data",
                                 x->stream, (long long)x->version);
            eddy_es_events_free(e);
            return rc;
        }
        int rc = upcast(x);
        if (rc < 0) {
            eddy_es_events_free(e);
            return rc;
        }
    }
    *out = e;
    return n;
}

int eddy_es_stream_version(eddy_store *st, const char *stream, int64_t *version)
{
    sdk_es_clear();
    int rc = stream_parse(stream, NULL);
    if (rc < 0) return rc;
    rc = current_version(st, stream, version);
    if (rc < 0) return rc;
    if (!rc) return sdk_es_fail(EDDY_ERR_NOT_FOUND, "stream %s does not exist", stream);
    return 0;
}

/* The events "SELECT EV_COLS FROM eddy_events <cond>" selects (with " LIMIT max" when max > 0),
 * into *out: their count, or < 0 with the error set ("<what>: <store's error>"). */
static int select_events(eddy_store *st, const char *cond, int max, int n, const char *const *p,
                         const char *what, eddy_es_events **out)
{
    char sql[512], lim[32] = "";
    if (max > 0) snprintf(lim, sizeof lim, " LIMIT %d", max);
    snprintf(sql, sizeof sql, "SELECT " EV_COLS " FROM eddy_events %s%s", cond, lim);
    eddy_rows *r = NULL;
    int rc = eddy_store_query(st, sql, n, p, &r);
    if (rc < 0) return sdk_es_store_fail(st, rc, what);
    rc = rows_to_events(r, out);
    eddy_rows_free(r);
    return rc;
}

int eddy_es_head(eddy_store *st, int64_t *position)
{
    sdk_es_clear();
    int rc = query_i64(st, "SELECT MAX(position) FROM eddy_events", 0, NULL, position);
    if (rc < 0) return sdk_es_store_fail(st, rc, "reading the head position");
    return 0;
}

int eddy_es_read(eddy_store *st, const char *stream, int64_t from_version, int direction, int max,
                 eddy_es_events **out)
{
    *out = NULL;
    sdk_es_clear();
    int rc = stream_parse(stream, NULL);
    if (rc < 0) return rc;
    if (from_version < 0)
        return sdk_es_fail(EDDY_ERR_PERMANENT, "read of %s from negative version %lld", stream,
                           (long long)from_version);
    if (direction != EDDY_ES_FORWARD && direction != EDDY_ES_BACKWARD)
        return sdk_es_fail(EDDY_ERR_PERMANENT, "read direction must be EDDY_ES_FORWARD or "
                                               "EDDY_ES_BACKWARD");
    int64_t cur;
    rc = current_version(st, stream, &cur);
    if (rc < 0) return rc;
    if (!rc) return sdk_es_fail(EDDY_ERR_NOT_FOUND, "stream %s does not exist", stream);
    char from[24];
    snprintf(from, sizeof from, "%lld", (long long)from_version);
    const char *p[] = {stream, from};
    return select_events(st,
                         direction > 0
                             ? "WHERE stream_id = $1 AND version >= $2 ORDER BY version ASC"
                             : "WHERE stream_id = $1 AND version <= $2 ORDER BY version DESC",
                         max, 2, p, "reading stream", out);
}

int eddy_es_read_all(eddy_store *st, int64_t after_position, int max, eddy_es_events **out)
{
    *out = NULL;
    sdk_es_clear();
    if (after_position < 0)
        return sdk_es_fail(EDDY_ERR_PERMANENT, "read from negative position %lld",
                           (long long)after_position);
    char from[24];
    snprintf(from, sizeof from, "%lld", (long long)after_position);
    const char *p[] = {from};
    return select_events(st, "WHERE position > $1 ORDER BY position", max, 1, p, "reading events",
                         out);
}

/* ---- aggregates --------------------------------------------------------------------------- */
static int agg_check(const eddy_aggregate_type *t)
{
    if (!t || !t->type || !t->apply || !t->reducer_version || !*t->reducer_version)
        return sdk_es_fail(EDDY_ERR_PERMANENT,
                           "aggregate type needs a type, a reducer_version and apply");
    if (t->snapshot_every < 0)
        return sdk_es_fail(EDDY_ERR_PERMANENT, "snapshot_every must be >= 0");
    return 0;
}

void eddy_aggregate_release(eddy_aggregate *agg)
{
    if (!agg) return;
    json_decref(agg->state);
    agg->state = NULL;
}

int eddy_aggregate_load(eddy_store *st, const eddy_aggregate_type *t, const char *id, int flags,
                        eddy_aggregate *out)
{
    memset(out, 0, sizeof *out);
    sdk_es_clear();
    int rc = agg_check(t);
    if (rc < 0) return rc;
    if (!id || !*id) return sdk_es_fail(EDDY_ERR_PERMANENT, "aggregate id is empty");
    if (strlen(t->type) + 1 + strlen(id) > EDDY_ES_MAX_STREAM_NAME)
        return sdk_es_fail(EDDY_ERR_PERMANENT, "aggregate id is too long");
    size_t tl = strlen(t->type);
    memcpy(out->stream, t->type, tl);
    out->stream[tl] = '-';
    memcpy(out->stream + tl + 1, id, strlen(id) + 1);
    if ((rc = stream_parse(out->stream, NULL)) < 0) return rc;
    if (!(flags & EDDY_AGG_NO_SNAPSHOT)) {
        eddy_rows *r = NULL;
        const char *p[] = {out->stream, t->reducer_version};
        rc = eddy_store_query(st,
                              "SELECT version, state FROM eddy_snapshots"
                              " WHERE stream_id = $1 AND reducer_version = $2",
                              2, p, &r);
        if (rc < 0) return sdk_es_store_fail(st, rc, "reading snapshot");
        if (rc > 0) {
            json_t *s = json_loads(eddy_rows_get(r, 0, 1), 0, NULL);
            if (json_is_object(s)) {
                out->state = s;
                out->version = out->snapshot_version = atoll(eddy_rows_get(r, 0, 0));
            } else {
                json_decref(s); /* unreadable snapshot: fold from scratch */
            }
        }
        eddy_rows_free(r);
    }
    if (!out->state) out->state = json_object();
    for (;;) {
        eddy_es_events *e = NULL;
        char from[24];
        snprintf(from, sizeof from, "%lld", (long long)out->version + 1);
        const char *p[] = {out->stream, from};
        rc = select_events(st, "WHERE stream_id = $1 AND version >= $2 ORDER BY version", 5000, 2,
                           p, "reading stream", &e);
        if (rc < 0) goto fail;
        for (int i = 0; i < e->n; i++) {
            rc = t->apply(out->state, &e->ev[i], t->arg);
            if (rc < 0) {
                rc = sdk_es_fail(rc, "apply of %s@%lld (%s) failed", out->stream,
                                 (long long)e->ev[i].version, e->ev[i].type);
                eddy_es_events_free(e);
                goto fail;
            }
            out->version = e->ev[i].version;
            out->events_applied++;
        }
        int got = e->n;
        eddy_es_events_free(e);
        if (got < 5000) break;
    }
    return 0;
fail:
    eddy_aggregate_release(out);
    return rc;
}

static int write_snapshot(eddy_store *st, const eddy_aggregate_type *t, const eddy_aggregate *agg)
{
    char *s = json_dumps(agg->state, JSON_COMPACT | JSON_SORT_KEYS);
    char v[24], ts[32];
    snprintf(v, sizeof v, "%lld", (long long)agg->version);
    eddy_time_rfc3339(sdk_wall_ms(), ts);
    const char *p[] = {agg->stream, v, t->reducer_version, s, ts};
    int rc = eddy_store_exec(st,
                             "INSERT INTO eddy_snapshots (stream_id, version, reducer_version,"
                             " state, created_at) VALUES ($1, $2, $3, $4, $5)"
                             " ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version,"
                             " reducer_version = excluded.reducer_version,"
                             " state = excluded.state, created_at = excluded.created_at",
                             5, p);
    free(s);
    return rc < 0 ? sdk_es_store_fail(st, rc, "writing snapshot") : 0;
}

int eddy_aggregate_snapshot(eddy_store *st, const eddy_aggregate_type *t, const eddy_aggregate *agg)
{
    sdk_es_clear();
    int rc = agg_check(t);
    if (rc < 0) return rc;
    if (!agg || !agg->state || agg->version <= 0)
        return sdk_es_fail(EDDY_ERR_PERMANENT, "snapshot of an aggregate without events");
    return write_snapshot(st, t, agg);
}

int eddy_aggregate_append(eddy_tx *tx, const eddy_aggregate_type *t, eddy_aggregate *agg,
                          const eddy_es_new *events, int n)
{
    int rc = agg_check(t);
    if (rc < 0 || !agg || !agg->state) {
        free_new(events, n, 0);
        return rc < 0 ? rc : sdk_es_fail(EDDY_ERR_PERMANENT, "aggregate is not loaded");
    }
    if (n <= 0 || !events) return sdk_es_fail(EDDY_ERR_PERMANENT, "append of no events");
    eddy_es_event *evs = sdk_xcalloc((size_t)n, sizeof *evs);
    int64_t expected = agg->version ? agg->version : EDDY_ES_NO_STREAM, newv = 0;
    rc = es_append(tx, agg->stream, expected, events, n, &newv, evs);
    if (rc < 0) {
        free(evs);
        return rc;
    }
    int64_t old = agg->version;
    for (int i = 0; i < n; i++) {
        if (rc == 0) {
            int a = t->apply(agg->state, &evs[i], t->arg);
            if (a < 0)
                rc = sdk_es_fail(a, "apply of %s (%s) failed", agg->stream, evs[i].type);
            else
                agg->version = evs[i].version;
        }
        event_clear(&evs[i]);
    }
    free(evs);
    if (rc < 0) return rc;
    if (t->snapshot_every > 0 && old / t->snapshot_every != agg->version / t->snapshot_every)
        rc = write_snapshot(eddy_tx_store(tx), t, agg);
    return rc;
}
