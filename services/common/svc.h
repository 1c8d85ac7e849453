/* svc.h — small helpers shared by the reference services (services/<name>): reading payload
 * fields, money in cents, a standard main() around eddy_service. Header-only, static. */
#ifndef EDDY_SERVICES_SVC_H
#define EDDY_SERVICES_SVC_H

#include <eddy/eddy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T_ORDER "order.events"
#define T_PAYMENT "payment.events"
#define T_INVENTORY "inventory.events"
#define T_NOTIFICATION "notification.events"

static inline const char *pstr(const eddy_event *ev, const char *k)
{
    json_t *v = json_object_get(ev->payload, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static inline long long pint(const eddy_event *ev, const char *k, long long dflt)
{
    json_t *v = json_object_get(ev->payload, k);
    return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

static inline void now_ts(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    eddy_time_rfc3339((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, out);
}

/* Standard main: `NAME [--config FILE]`; env as documented in eddy.h. */
static inline int svc_main(eddy_service *svc, int argc, char **argv, const char *schema)
{
    const char *cfg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            cfg = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--config FILE]\n", argv[0]);
            return 2;
        }
    }
    if (eddy_service_configure(svc, cfg) < 0) return 2;
    if (eddy_service_start(svc, schema) < 0) {
        eddy_service_free(svc);
        return 1;
    }
    int rc = eddy_service_run(svc);
    eddy_service_free(svc);
    return rc ? 1 : 0;
}

#endif
