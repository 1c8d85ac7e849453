/* durable — requests parked until a log is durable up to an offset (broker.h: bdurable): the
 * acks=all answers of the internal logs (offset commits, transaction state), released by their
 * modules' flush hooks in the order they were parked. Loop thread only.
 */
#include <stdlib.h>

#include "broker/broker.h"
#include "common/util.h"

void bdurable_reply(broker *b, bdurable **q, breq *r, plog *log, int64_t need)
{
    if (need < 0 || !b->flusher || plog_durable_offset(log) >= need) {
        breq_done(r);
        return;
    }
    bdurable *w = xcalloc(1, sizeof *w);
    w->r = r;
    w->log = log;
    w->need = need;
    while (*q) q = &(*q)->next;
    *q = w;
}

void bdurable_on_flush(broker *b, bdurable **q)
{
    while (*q) {
        bdurable *w = *q;
        if (!b->flusher || plog_durable_offset(w->log) >= w->need) {
            *q = w->next;
            breq_done(w->r);
            free(w);
        } else {
            q = &w->next;
        }
    }
}

void bdurable_drain(bdurable **q)
{
    while (*q) {
        bdurable *w = *q;
        *q = w->next;
        breq_done(w->r);
        free(w);
    }
}
