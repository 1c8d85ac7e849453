/* store.c — a service's database behind one small interface (eddy.h "stores"): SQLite (the
 * embedded default, WAL mode) and PostgreSQL (libpq). SQL is written once with $1..$n text
 * parameters; for SQLite they become ?1..?n. Also libeddy's own tables (outbox, inbox) and
 * PostgreSQL LISTEN/NOTIFY for the relay. Part of src/sdk (libeddy). */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "otlp.h"

/* SQLite: prepared statements are kept (by SQL text, least recently used evicted), so the
 * statements a service runs again and again (outbox, inbox, event store) are parsed once. */
#define STMT_CACHE 48

typedef struct stmt_slot {
    char *sql;
    sqlite3_stmt *stmt;
    uint64_t used;
    uint64_t pg_name; /* PostgreSQL: prepared as "eddy_s<pg_name>" on this connection */
} stmt_slot;

struct eddy_store {
    int pg;
    char *url;
    sqlite3 *db;
    PGconn *conn;
    char err[512];
    stmt_slot cache[STMT_CACHE];
    uint64_t tick;
    uint64_t pg_prepared; /* PostgreSQL: statements prepared so far (names) */
    sdk_otlp *otlp;       /* the exporter of the service that opened it (publish spans), or NULL */
};

struct eddy_rows {
    int nrows, ncols;
    char **cells; /* nrows * ncols, NULL = SQL NULL */
};

static void set_err(eddy_store *st, const char *a, const char *b)
{
    snprintf(st->err, sizeof st->err, "%s%s%s", a, b ? ": " : "", b ? b : "");
}

const char *eddy_store_error(const eddy_store *st)
{
    return st ? st->err : "no store";
}

int eddy_store_is_postgres(const eddy_store *st)
{
    return st->pg;
}

const char *sdk_store_url(const eddy_store *st)
{
    return st->url;
}

void sdk_store_set_otlp(eddy_store *st, sdk_otlp *o)
{
    if (st) st->otlp = o;
}

sdk_otlp *sdk_store_otlp(const eddy_store *st)
{
    return st ? st->otlp : NULL;
}

/* Waiting for another connection's write lock (the relay marking rows published, a second
 * writer): SQLite's default handler sleeps up to 100 ms at a time, so a lock held for 50 µs
 * could cost a writer tens of milliseconds. Short sleeps instead (50 µs doubling to 1 ms), for
 * up to 30 s in all, then SQLITE_BUSY (EDDY_ERR_TRANSIENT). */
static int busy_wait(void *arg, int n)
{
    (void)arg;
    static const int64_t limit_us = 30 * 1000 * 1000;
    /* the total slept so far, recomputed from n: 50, 100, 200, ..., then 1 ms per call */
    int64_t slept = 0, d = 50;
    for (int i = 0; i < n; i++) {
        slept += d;
        if (d < 1000) d *= 2;
        if (d > 1000) d = 1000;
        if (slept > limit_us) return 0;
    }
    struct timespec ts = {0, (long)d * 1000};
    nanosleep(&ts, NULL);
    return 1;
}

int eddy_store_open(const char *url, eddy_store **out)
{
    *out = NULL;
    if (!url || !*url) return EDDY_ERR_PERMANENT;
    eddy_store *st = sdk_xcalloc(1, sizeof *st);
    st->url = sdk_xstrdup(url);
    if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13)) {
        st->pg = 1;
        st->conn = PQconnectdb(url);
        if (PQstatus(st->conn) != CONNECTION_OK) {
            sdk_log("store", "postgres connect failed: %s", PQerrorMessage(st->conn));
            eddy_store_close(st);
            return EDDY_ERR_TRANSIENT;
        }
        PGresult *r = PQexec(st->conn, "SET client_min_messages = warning");
        PQclear(r);
    } else {
        const char *path = !strncmp(url, "sqlite:", 7) ? url + 7 : url;
        if (!strncmp(path, "//", 2)) path += 2;
        if (sqlite3_open_v2(path, &st->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                            NULL) != SQLITE_OK) {
            sdk_log("store", "sqlite open %s failed: %s", path,
                    st->db ? sqlite3_errmsg(st->db) : "?");
            eddy_store_close(st);
            return EDDY_ERR_IO;
        }
        sqlite3_busy_handler(st->db, busy_wait, NULL);
        /* cache_size: 16 MiB of pages per connection (SQLite's default is 2 MiB): the event
         * store's and the outbox's indexes stay in memory instead of being read back with a
         * pread per page (the 1,000-stream append bench: 2.4x events per CPU-second). No
         * mmap_size: an I/O error on a mapped page is a SIGBUS, not an error code. */
        sqlite3_exec(st->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     " PRAGMA foreign_keys=ON; PRAGMA cache_size=-16384;",
                     NULL, NULL, NULL);
    }
    *out = st;
    return 0;
}

void eddy_store_close(eddy_store *st)
{
    if (!st) return;
    for (int i = 0; i < STMT_CACHE; i++) {
        sqlite3_finalize(st->cache[i].stmt);
        free(st->cache[i].sql);
    }
    if (st->db) sqlite3_close_v2(st->db);
    if (st->conn) PQfinish(st->conn);
    free(st->url);
    free(st);
}

/* $N → ?N outside string literals. */
static char *sqlite_sql(const char *sql)
{
    char *o = sdk_xstrdup(sql);
    int q = 0;
    for (char *p = o; *p; p++) {
        if (*p == '\'')
            q = !q;
        else if (!q && *p == '$' && p[1] >= '0' && p[1] <= '9')
            *p = '?';
    }
    return o;
}

static int sqlite_code(eddy_store *st, int rc)
{
    set_err(st, "sqlite", sqlite3_errmsg(st->db));
    int base = rc & 0xff;
    if (base == SQLITE_BUSY || base == SQLITE_LOCKED) return EDDY_ERR_TRANSIENT;
    if (base == SQLITE_IOERR || base == SQLITE_FULL || base == SQLITE_CANTOPEN) return EDDY_ERR_IO;
    return EDDY_ERR_PERMANENT;
}

/* PostgreSQL: a reset connection is a new session, without the statements prepared on the
 * old one. */
static void pg_forget(eddy_store *st)
{
    for (int i = 0; i < STMT_CACHE; i++) {
        free(st->cache[i].sql);
        st->cache[i].sql = NULL;
        st->cache[i].pg_name = 0;
    }
}

static void pg_reset(eddy_store *st)
{
    PQreset(st->conn);
    pg_forget(st);
}

static int pg_code(eddy_store *st, PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    set_err(st, "postgres", PQerrorMessage(st->conn));
    if (PQstatus(st->conn) != CONNECTION_OK) {
        pg_reset(st);
        return EDDY_ERR_TRANSIENT;
    }
    if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strncmp(state, "08", 2) ||
                  !strncmp(state, "57", 2)))
        return EDDY_ERR_TRANSIENT;
    return EDDY_ERR_PERMANENT;
}

#define EACH_MAX_COLS 8

/* PostgreSQL: runs sql as a statement prepared once per connection (by its text), so the
 * server parses and plans the statements a service runs again and again (inbox, outbox,
 * handlers' SQL) once instead of at every execution: its CPU per event was two thirds of an
 * order's in W9. The first STMT_CACHE distinct statements are kept for the connection's life
 * (a prepared statement is dropped only with its session: no DEALLOCATE, which an aborted
 * transaction would refuse); NULL = not prepared (the table is full, or the PREPARE failed):
 * the caller runs it unprepared, which gives the same result or the same error. */
static PGresult *pg_exec_prepared(eddy_store *st, const char *sql, int n, const char *const *params,
                                  stmt_slot **used)
{
    stmt_slot *slot = NULL, *empty = NULL;
    for (int i = 0; i < STMT_CACHE && !slot; i++) {
        if (st->cache[i].sql && !strcmp(st->cache[i].sql, sql))
            slot = &st->cache[i];
        else if (!st->cache[i].sql && !empty)
            empty = &st->cache[i];
    }
    char name[32];
    if (!slot) {
        if (!empty) return NULL;
        snprintf(name, sizeof name, "eddy_s%llu", (unsigned long long)(st->pg_prepared + 1));
        PGresult *p = PQprepare(st->conn, name, sql, n, NULL);
        int ok = PQresultStatus(p) == PGRES_COMMAND_OK;
        PQclear(p);
        if (!ok) return NULL;
        slot = empty;
        slot->sql = sdk_xstrdup(sql);
        slot->pg_name = ++st->pg_prepared;
    } else {
        snprintf(name, sizeof name, "eddy_s%llu", (unsigned long long)slot->pg_name);
    }
    *used = slot;
    return PQexecPrepared(st->conn, name, n, params, NULL, NULL, 0);
}

/* each (optional): called per result row with the row's columns in the driver's own memory,
 * valid during the call only (no copy, no allocation); a non-zero return stops the scan. */
static int run(eddy_store *st, const char *sql, int n, const char *const *params, eddy_rows **out,
               sdk_row_fn each, void *arg)
{
    if (out) *out = NULL;
    st->err[0] = 0;
    if (st->pg) {
        PGresult *r;
        stmt_slot *slot = NULL;
        if (n == 0 && !out && !each) {
            r = PQexec(st->conn, sql);
        } else {
            r = pg_exec_prepared(st, sql, n, params, &slot);
            if (!r) r = PQexecParams(st->conn, sql, n, NULL, params, NULL, NULL, 0);
        }
        ExecStatusType s = PQresultStatus(r);
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (slot && s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && state &&
            !strcmp(state, "0A000")) {
            /* "cached plan must not change result type": a table changed under the prepared
             * statement (SELECT * after ALTER TABLE ADD COLUMN). Prepared afresh, under a new
             * name, next time; outside a transaction it runs again unprepared now, inside one
             * the transaction is aborted and the error is transient (run it again). */
            free(slot->sql);
            slot->sql = NULL;
            slot->pg_name = 0;
            if (PQtransactionStatus(st->conn) == PQTRANS_IDLE) {
                PQclear(r);
                r = PQexecParams(st->conn, sql, n, NULL, params, NULL, NULL, 0);
                s = PQresultStatus(r);
            } else {
                set_err(st, "postgres", PQerrorMessage(st->conn));
                PQclear(r);
                return EDDY_ERR_TRANSIENT;
            }
        }
        if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
            int rc = pg_code(st, r);
            PQclear(r);
            return rc;
        }
        int changed = atoi(PQcmdTuples(r));
        if (each) {
            const char *vals[EACH_MAX_COLS];
            size_t lens[EACH_MAX_COLS];
            int nc = PQnfields(r) < EACH_MAX_COLS ? PQnfields(r) : EACH_MAX_COLS;
            changed = 0;
            for (int i = 0; i < PQntuples(r); i++) {
                for (int j = 0; j < nc; j++) {
                    vals[j] = PQgetisnull(r, i, j) ? NULL : PQgetvalue(r, i, j);
                    lens[j] = (size_t)PQgetlength(r, i, j);
                }
                changed++;
                if (each(arg, vals, lens)) break;
            }
        }
        if (out) {
            eddy_rows *rows = sdk_xcalloc(1, sizeof *rows);
            rows->nrows = PQntuples(r);
            rows->ncols = PQnfields(r);
            rows->cells = sdk_xcalloc((size_t)rows->nrows * rows->ncols + 1, sizeof(char *));
            for (int i = 0; i < rows->nrows; i++)
                for (int j = 0; j < rows->ncols; j++)
                    if (!PQgetisnull(r, i, j))
                        rows->cells[i * rows->ncols + j] = sdk_xstrdup(PQgetvalue(r, i, j));
            *out = rows;
            changed = rows->nrows;
        }
        PQclear(r);
        return changed;
    }
    char *s = sqlite_sql(sql);
    if (n == 0 && !out && !each) {
        char *msg = NULL;
        int rc = sqlite3_exec(st->db, s, NULL, NULL, &msg);
        free(s);
        if (rc != SQLITE_OK) {
            int code = sqlite_code(st, rc);
            if (msg) set_err(st, "sqlite", msg);
            sqlite3_free(msg);
            return code;
        }
        return sqlite3_changes(st->db);
    }
    stmt_slot *slot = NULL, *lru = &st->cache[0];
    for (int i = 0; i < STMT_CACHE && !slot; i++) {
        if (st->cache[i].sql && !strcmp(st->cache[i].sql, s))
            slot = &st->cache[i];
        else if (st->cache[i].used < lru->used)
            lru = &st->cache[i];
    }
    int rc;
    if (!slot) {
        sqlite3_stmt *fresh = NULL;
        rc = sqlite3_prepare_v2(st->db, s, -1, &fresh, NULL);
        if (rc != SQLITE_OK) {
            free(s);
            return sqlite_code(st, rc);
        }
        slot = lru;
        sqlite3_finalize(slot->stmt);
        free(slot->sql);
        slot->sql = s;
        slot->stmt = fresh;
    } else {
        free(s);
    }
    slot->used = ++st->tick;
    sqlite3_stmt *stmt = slot->stmt;
    for (int i = 0; i < n; i++) {
        if (params[i])
            sqlite3_bind_text(stmt, i + 1, params[i], -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(stmt, i + 1);
    }
    eddy_rows *rows = NULL;
    if (out) {
        rows = sdk_xcalloc(1, sizeof *rows);
        rows->ncols = sqlite3_column_count(stmt);
    }
    size_t cap = 0;
    int visited = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (each) {
            const char *vals[EACH_MAX_COLS];
            size_t lens[EACH_MAX_COLS];
            int nc = sqlite3_column_count(stmt);
            if (nc > EACH_MAX_COLS) nc = EACH_MAX_COLS;
            for (int j = 0; j < nc; j++) {
                vals[j] = (const char *)sqlite3_column_text(stmt, j);
                lens[j] = (size_t)sqlite3_column_bytes(stmt, j);
            }
            visited++;
            if (each(arg, vals, lens)) {
                rc = SQLITE_DONE;
                break;
            }
            continue;
        }
        if (!rows) continue;
        /* the column count of the statement as it runs: a kept statement whose table changed
         * is prepared again by its first step, with the table's new columns */
        if (!rows->nrows) rows->ncols = sqlite3_column_count(stmt);
        size_t need = (size_t)(rows->nrows + 1) * rows->ncols + 1;
        if (need > cap) {
            size_t ncap = cap ? cap * 2 : 64;
            while (ncap < need) ncap *= 2;
            rows->cells = sdk_xrealloc(rows->cells, ncap * sizeof(char *));
            cap = ncap;
        }
        for (int j = 0; j < rows->ncols; j++) {
            const unsigned char *v = sqlite3_column_text(stmt, j);
            rows->cells[rows->nrows * rows->ncols + j] =
                v ? sdk_xstrndup((const char *)v, (size_t)sqlite3_column_bytes(stmt, j)) : NULL;
        }
        rows->nrows++;
    }
    if (rc != SQLITE_DONE) {
        int code = sqlite_code(st, rc);
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        eddy_rows_free(rows);
        return code;
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (out) {
        *out = rows;
        return rows->nrows;
    }
    if (each) return visited;
    return sqlite3_changes(st->db);
}

int sdk_store_each(eddy_store *st, const char *sql, int n, const char *const *params,
                   sdk_row_fn each, void *arg)
{
    return run(st, sql, n, params, NULL, each, arg);
}

int eddy_store_exec(eddy_store *st, const char *sql, int n, const char *const *params)
{
    return run(st, sql, n, params, NULL, NULL, NULL);
}

int eddy_store_query(eddy_store *st, const char *sql, int n, const char *const *params,
                     eddy_rows **out)
{
    return run(st, sql, n, params, out, NULL, NULL);
}

int eddy_store_begin(eddy_store *st)
{
    int rc = run(st, st->pg ? "BEGIN" : "BEGIN IMMEDIATE", 0, NULL, NULL, NULL, NULL);
    return rc < 0 ? rc : 0;
}

int eddy_store_commit(eddy_store *st)
{
    int rc = run(st, "COMMIT", 0, NULL, NULL, NULL, NULL);
    if (rc < 0) {
        char keep[512];
        memcpy(keep, st->err, sizeof keep);
        eddy_store_rollback(st);
        memcpy(st->err, keep, sizeof keep);
        return rc;
    }
    return 0;
}

int eddy_store_rollback(eddy_store *st)
{
    if (!st->pg && sqlite3_get_autocommit(st->db)) return 0;
    int rc = run(st, "ROLLBACK", 0, NULL, NULL, NULL, NULL);
    return rc < 0 ? rc : 0;
}

int64_t sdk_store_last_rowid(eddy_store *st)
{
    return st->pg ? 0 : (int64_t)sqlite3_last_insert_rowid(st->db);
}

int sdk_store_sync(eddy_store *st)
{
    if (st->pg) return 0;
    /* The WAL file through SQLite's own VFS (a second descriptor of ours could, on close,
     * drop the process's POSIX locks on the database's files). Syncing the file flushes every
     * frame written to it, whichever connection wrote them. */
    sqlite3_file *wal = NULL;
    if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) == SQLITE_OK &&
        wal && wal->pMethods) {
        int rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
        if (rc == SQLITE_OK) return 0;
        set_err(st, "sqlite", "fdatasync of the WAL failed");
        return EDDY_ERR_IO;
    }
    /* no WAL open on this connection yet: a full checkpoint syncs the WAL and the database */
    int rc = sqlite3_wal_checkpoint_v2(st->db, "main", SQLITE_CHECKPOINT_FULL, NULL, NULL);
    if (rc == SQLITE_OK) return 0;
    return sqlite_code(st, rc);
}

int eddy_rows_count(const eddy_rows *r)
{
    return r ? r->nrows : 0;
}

const char *eddy_rows_get(const eddy_rows *r, int row, int col)
{
    if (!r || row < 0 || col < 0 || row >= r->nrows || col >= r->ncols) return NULL;
    return r->cells[row * r->ncols + col];
}

void eddy_rows_free(eddy_rows *r)
{
    if (!r) return;
    for (int i = 0; i < r->nrows * r->ncols; i++) free(r->cells[i]);
    free(r->cells);
    free(r);
}

/* Outbox row: id (order of commit within a store), the envelope and where it goes.
 * Inbox row: the eventId of every event a handler committed. On SQLite the inbox is a WITHOUT
 * ROWID table: one B-tree keyed by event_id instead of a rowid table plus the index of its
 * primary key, so an inbox transaction writes one page fewer (stores made before keep theirs:
 * CREATE IF NOT EXISTS; the two behave the same). */
static const char SDK_SQLITE_DDL[] =
    "CREATE TABLE IF NOT EXISTS eddy_outbox ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,"
    " topic TEXT NOT NULL, msg_key TEXT, event_type TEXT NOT NULL,"
    " correlation_id TEXT NOT NULL, envelope TEXT NOT NULL,"
    " created_at TEXT NOT NULL, published_at TEXT);"
    "CREATE INDEX IF NOT EXISTS eddy_outbox_pending ON eddy_outbox(published_at, id);"
    "CREATE TABLE IF NOT EXISTS eddy_inbox ("
    " event_id TEXT PRIMARY KEY, topic TEXT NOT NULL, event_type TEXT NOT NULL,"
    " processed_at TEXT NOT NULL) WITHOUT ROWID;";

static const char SDK_PG_DDL[] =
    "CREATE TABLE IF NOT EXISTS eddy_outbox ("
    " id BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL UNIQUE,"
    " topic TEXT NOT NULL, msg_key TEXT, event_type TEXT NOT NULL,"
    " correlation_id TEXT NOT NULL, envelope TEXT NOT NULL,"
    " created_at TEXT NOT NULL, published_at TEXT);"
    "CREATE INDEX IF NOT EXISTS eddy_outbox_pending ON eddy_outbox(id) WHERE published_at IS NULL;"
    "CREATE TABLE IF NOT EXISTS eddy_inbox ("
    " event_id TEXT PRIMARY KEY, topic TEXT NOT NULL, event_type TEXT NOT NULL,"
    " processed_at TEXT NOT NULL);";

int eddy_store_migrate(eddy_store *st)
{
    if (st->pg) {
        /* Concurrent CREATE IF NOT EXISTS can race on the catalog: serialise migrations. */
        run(st, "SELECT pg_advisory_lock(4242)", 0, NULL, NULL, NULL, NULL);
        int rc = run(st, SDK_PG_DDL, 0, NULL, NULL, NULL, NULL);
        run(st, "SELECT pg_advisory_unlock(4242)", 0, NULL, NULL, NULL, NULL);
        return rc < 0 ? rc : 0;
    }
    int rc = run(st, SDK_SQLITE_DDL, 0, NULL, NULL, NULL, NULL);
    return rc < 0 ? rc : 0;
}

int sdk_store_listen(eddy_store *st)
{
    if (!st->pg) return 0;
    /* the channel of this store's schema (SDK_NOTIFY_CHANNEL_SQL): a commit in another
     * service's schema of the same database does not wake this relay */
    eddy_rows *ch = NULL;
    int rc = run(st, "SELECT " SDK_NOTIFY_CHANNEL_SQL, 0, NULL, &ch, NULL, NULL);
    if (rc < 0) return rc;
    const char *name = eddy_rows_get(ch, 0, 0);
    char *id = name ? PQescapeIdentifier(st->conn, name, strlen(name)) : NULL;
    eddy_rows_free(ch);
    if (!id) return EDDY_ERR_TRANSIENT;
    char *sql = sdk_xasprintf("LISTEN %s", id);
    PQfreemem(id);
    rc = run(st, sql, 0, NULL, NULL, NULL, NULL);
    free(sql);
    return rc < 0 ? rc : 0;
}

int sdk_store_wait_notify(eddy_store *st, int timeout_ms)
{
    if (!st->pg) return 0;
    PGnotify *n;
    int got = 0;
    PQconsumeInput(st->conn);
    while ((n = PQnotifies(st->conn))) {
        got = 1;
        PQfreemem(n);
    }
    if (got) return 1;
    struct pollfd p = {PQsocket(st->conn), POLLIN, 0};
    if (p.fd < 0) return EDDY_ERR_TRANSIENT;
    int r = poll(&p, 1, timeout_ms);
    if (r <= 0) return r < 0 && errno != EINTR ? EDDY_ERR_IO : 0;
    if (!PQconsumeInput(st->conn)) {
        pg_reset(st);
        sdk_store_listen(st);
        return EDDY_ERR_TRANSIENT;
    }
    while ((n = PQnotifies(st->conn))) {
        got = 1;
        PQfreemem(n);
    }
    return got;
}
