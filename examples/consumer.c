/* consumer.c — a complete libeddy consumer: a service in consumer group "example-consumer"
 * with one handler for "greeting.sent" on example.greetings. The runtime gives each event
 * exactly-once effect on the store (inbox + the handler's writes in one transaction), retries
 * and dead-lettering; the handler just returns eddy_ctx_exec's row count (>= 0 is success).
 * It stops after COUNT events.
 *
 *   eddy-example-consumer [COUNT]         (default 3)
 *   EDDY_BOOTSTRAP_SERVERS=127.0.0.1:9092  EDDY_STORE=sqlite:consumer.db  (the defaults)
 *
 * Build against an installed Eddy:  cc consumer.c $(pkg-config --cflags --libs eddy) */
#include <eddy/eddy.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct state {
    eddy_service *svc;
    int seen, want;
} state;

static int on_greeting(eddy_ctx *ctx, void *arg)
{
    state *s = arg;
    const eddy_event *ev = eddy_ctx_event(ctx); /* valid during this call only */
    const char *name = json_string_value(json_object_get(ev->payload, "name"));
    if (!name) return eddy_ctx_fail(ctx, EDDY_DEAD, "greeting without a name"); /* to the DLQ */
    const char *p[] = {name, ev->event_id};
    int rows = eddy_ctx_exec(ctx, "INSERT INTO welcomed (name, event_id) VALUES ($1, $2)", 2, p);
    if (rows < 0) return EDDY_RETRY;
    printf("hello, %s (event %s, %s/%d@%lld)\n", name, ev->event_id, ev->topic, (int)ev->partition,
           (long long)ev->offset);
    fflush(stdout);
    if (++s->seen >= s->want) eddy_service_stop(s->svc); /* after this event commits */
    return rows;                                         /* 1 row changed: success */
}

int main(int argc, char **argv)
{
    state s = {NULL, 0, argc > 1 ? atoi(argv[1]) : 3};
    if (s.want < 1) {
        fprintf(stderr, "usage: %s [COUNT >= 1]\n", argv[0]);
        return 2;
    }
    if (eddy_service_new("example-consumer", &s.svc) < 0) return 1;
    eddy_service_set(s.svc, "store", "sqlite:consumer.db"); /* EDDY_STORE wins */
    eddy_service_set(s.svc, "http.listen", "off");
    eddy_service_on(s.svc, "example.greetings", "greeting.sent", "1", on_greeting, &s);
    int rc = eddy_service_start(s.svc, "CREATE TABLE IF NOT EXISTS welcomed ("
                                       " name TEXT NOT NULL, event_id TEXT PRIMARY KEY);");
    if (rc == 0)
        rc = eddy_service_run(s.svc); /* until COUNT events or SIGTERM/SIGINT */
    else
        fprintf(stderr, "consumer: start failed (%d)\n", rc);
    eddy_service_free(s.svc);
    if (rc == 0) printf("welcomed %d guest(s)\n", s.seen);
    return rc == 0 ? 0 : 1;
}
