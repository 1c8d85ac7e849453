/* publisher.c — a complete libeddy publisher: records N "greeting.sent" events in the
 * transactional outbox of its own SQLite store (state change + event, one transaction each) and
 * lets the service runtime's relay publish them to the topic example.greetings, then exits once
 * every event is acknowledged by the broker.
 *
 *   eddy-example-publisher [COUNT]        (default 3)
 *   EDDY_BOOTSTRAP_SERVERS=127.0.0.1:9092  EDDY_STORE=sqlite:publisher.db  (the defaults)
 *
 * Build against an installed Eddy:  cc publisher.c $(pkg-config --cflags --libs eddy) */
#include <eddy/eddy.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define TOPIC "example.greetings"

static int unpublished(eddy_store *st)
{
    eddy_rows *r = NULL;
    int n = -1;
    if (eddy_store_query(st, "SELECT COUNT(*) FROM eddy_outbox WHERE published_at IS NULL", 0, NULL,
                         &r) > 0)
        n = atoi(eddy_rows_get(r, 0, 0));
    eddy_rows_free(r);
    return n;
}

int main(int argc, char **argv)
{
    int count = argc > 1 ? atoi(argv[1]) : 3;
    if (count < 1) {
        fprintf(stderr, "usage: %s [COUNT >= 1]\n", argv[0]);
        return 2;
    }
    eddy_service *svc;
    if (eddy_service_new("example-publisher", &svc) < 0) return 1;
    eddy_service_set(svc, "store", "sqlite:publisher.db"); /* EDDY_STORE wins */
    eddy_service_set(svc, "http.listen", "off");
    eddy_service_topic(svc, TOPIC); /* created (with TOPIC.dlq) at start if missing */
    int rc = eddy_service_start(svc, "CREATE TABLE IF NOT EXISTS greetings ("
                                     " id INTEGER PRIMARY KEY, name TEXT NOT NULL);");
    if (rc < 0) {
        fprintf(stderr, "publisher: start failed (%d)\n", rc);
        eddy_service_free(svc);
        return 1;
    }
    eddy_store *st = eddy_service_store(svc); /* owned by the service */
    for (int i = 1; i <= count && rc >= 0; i++) {
        char name[32];
        snprintf(name, sizeof name, "guest-%d", i);
        eddy_tx *tx;
        if ((rc = eddy_tx_begin(st, "example-publisher", NULL, NULL, &tx)) < 0) break;
        const char *p[] = {name};
        rc = eddy_tx_exec(tx, "INSERT INTO greetings (name) VALUES ($1)", 1, p);
        if (rc >= 0)
            rc = eddy_tx_publish(tx, TOPIC, name, "greeting.sent", "1.0",
                                 json_pack("{s:s}", "name", name), NULL); /* payload stolen */
        if (rc < 0) {
            eddy_tx_rollback(tx);
            break;
        }
        rc = eddy_tx_commit(tx); /* frees tx */
    }
    if (rc < 0) fprintf(stderr, "publisher: %s\n", eddy_store_error(st));
    eddy_service_outbox_wake(svc);
    /* The relay publishes in the background; wait (up to 30 s) until the broker acked all. */
    int left = -1;
    for (int i = 0; rc >= 0 && i < 300 && (left = unpublished(st)) != 0; i++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (rc >= 0 && left == 0)
        printf("published %d greeting(s) to %s\n", count, TOPIC);
    else if (rc >= 0)
        fprintf(stderr, "publisher: %d event(s) not acknowledged\n", left);
    eddy_service_free(svc);
    return rc >= 0 && left == 0 ? 0 : 1;
}
