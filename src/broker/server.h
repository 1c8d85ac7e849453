/* server — the Kafka listener and connection handling of eddyd (see server.c). */
#ifndef EDDY_BROKER_SERVER_H
#define EDDY_BROKER_SERVER_H

#include <stddef.h>

#include "broker/broker.h"

/* Parses "host:port" (an optional "PLAINTEXT://" prefix and [v6] brackets allowed; the first
 * entry of a comma-separated list). Returns 0 or -1. */
int server_parse_hostport(const char *s, char *host, size_t hostlen, int *port);
/* Binds lis->host:lis->port and listens; registers with the loop. lis->port becomes the real
 * port. Returns 0 or -errno (logged). */
int server_listen(broker *b, blistener *lis);
void server_stop_listening(broker *b);
/* Number of connections with responses still queued. */
int server_pending_output(void);
/* At shutdown: writes queued responses (bounded by timeout_ms), then closes every connection. */
void server_flush_and_close_all(int timeout_ms);

#endif
