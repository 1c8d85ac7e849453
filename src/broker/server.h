/* server — the Kafka listener and connection handling of eddyd (see server.c). */
#ifndef EDDY_BROKER_SERVER_H
#define EDDY_BROKER_SERVER_H

#include <stddef.h>

#include "broker/broker.h"
#include "common/addr.h" /* parse_hostport: listener addresses ("PLAINTEXT://host:port", ...) */

/* Binds lis->host:lis->port and listens; registers with the loop. lis->port becomes the real
 * port. Returns 0 or -errno (logged). */
int server_listen(broker *b, blistener *lis);
void server_stop_listening(broker *b);
/* Number of connections with responses still queued. */
int server_pending_output(void);
/* At shutdown: writes queued responses (bounded by timeout_ms), then closes every connection. */
void server_flush_and_close_all(int timeout_ms);

#endif
