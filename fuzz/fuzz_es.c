/* fuzz_es — libeddy's event store input (eventstore.h) on an in-memory SQLite store: the input is
 * split at the first two NUL bytes into a stream name, an expected version (decimal text) and
 * the event's data (JSON text); the append must either succeed or fail with a clear error, and a
 * read of the same stream must agree with what was appended. Also feeds the stream name to
 * eddy_es_read / eddy_es_stream_version and the whole input to eddy_saga_show as an id. */
#include <eddy/eventstore.h>
#include <eddy/saga.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static eddy_store *g_st;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_st) {
        if (eddy_store_open("sqlite::memory:", &g_st) < 0 || eddy_store_migrate(g_st) < 0 ||
            eddy_es_migrate(g_st) < 0)
            abort();
        eddy_store_exec(g_st,
                        "CREATE TABLE IF NOT EXISTS eddy_sagas (id TEXT PRIMARY KEY,"
                        " saga_type TEXT, state TEXT, step INTEGER, attempt INTEGER,"
                        " stuck INTEGER, deadline_ms BIGINT, created_ms BIGINT, reason TEXT,"
                        " correlation_id TEXT, created_at TEXT, updated_at TEXT, data TEXT);"
                        "CREATE TABLE IF NOT EXISTS eddy_saga_history (saga_id TEXT, n"
                        " INTEGER, at TEXT, entry TEXT)",
                        0, NULL);
    }
    char *buf = malloc(size + 3);
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = buf[size + 2] = 0;
    const char *stream = buf;
    const char *ver = stream + strlen(stream) + 1;
    if (ver > buf + size) ver = buf + size;
    const char *json = ver + strlen(ver) + 1;
    if (json > buf + size) json = buf + size;
    long long expected = strtoll(ver, NULL, 10);
    int64_t before = 0;
    int existed = eddy_es_stream_version(g_st, stream, &before) == 0;

    eddy_tx *tx;
    if (eddy_tx_begin(g_st, "fuzz", NULL, NULL, &tx) == 0) {
        json_error_t e;
        eddy_es_new ev = {"fuzz.event", "1.0", json_loads(json, JSON_DECODE_ANY, &e)};
        int64_t after = -1;
        int rc = eddy_es_append(tx, stream, expected, &ev, 1, &after);
        if (rc == 0) {
            if (eddy_tx_commit(tx) < 0) abort();
            if (after != (existed ? before : 0) + 1) abort();
            eddy_es_events *r;
            if (eddy_es_read(g_st, stream, after, EDDY_ES_FORWARD, 1, &r) != 1) abort();
            if (r->ev[0].version != after || strcmp(r->ev[0].stream, stream)) abort();
            eddy_es_events_free(r);
        } else {
            if (!*eddy_es_error()) abort(); /* every refusal says why */
            eddy_tx_rollback(tx);
        }
    }
    eddy_es_events *r = NULL;
    if (eddy_es_read(g_st, stream, 0, EDDY_ES_BACKWARD, 3, &r) >= 0) eddy_es_events_free(r);
    int rc;
    free(eddy_saga_show(g_st, buf, &rc));
    /* keep the in-memory store small */
    eddy_store_exec(g_st, "DELETE FROM eddy_outbox", 0, NULL);
    free(buf);
    return 0;
}
