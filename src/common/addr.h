/* addr.h — "HOST:PORT" addresses: the one parser of listen and connect addresses for every
 * program of the tree (eddyd's listeners, its HTTP server, eddy-cdc, eddy-push, the CLI). */
#ifndef EDDY_COMMON_ADDR_H
#define EDDY_COMMON_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Splits s into host and port. s is "HOST:PORT", "[IPv6]:PORT" or ":PORT" (empty host: any
 * address), optionally after "scheme://" (PLAINTEXT://, http://) and before ",…" (only the
 * first address of a list is read). host receives the name without brackets.
 * 0, or -1 when there is no ":PORT", the host does not fit in hostlen, or PORT is not a
 * number 0…65535. */
int parse_hostport(const char *s, char *host, size_t hostlen, int *port);

/* A numeric host (IPv4 or IPv6 literal; "" is 0.0.0.0) and port → a socket address.
 * 0, or -1 when host is not a numeric address. */
int numeric_sockaddr(const char *host, int port, struct sockaddr_storage *sa, socklen_t *salen);

#endif
