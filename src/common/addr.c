/* addr.c — "HOST:PORT" parsing (see addr.h). */
#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

int parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *p = strstr(s, "://");
    if (p) s = p + 3;
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    const char *colon = NULL; /* the last ':' of the first address */
    for (size_t i = 0; i < len; i++)
        if (s[i] == ':') colon = s + i;
    if (!colon) return -1;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    } else if (memchr(h, '[', hl) || memchr(h, ']', hl)) {
        return -1;
    }
    if (hl >= hostlen) return -1;
    memcpy(host, h, hl);
    host[hl] = 0;
    const char *d = colon + 1, *end = s + len;
    if (d == end || end - d > 5) return -1;
    long v = 0;
    for (; d < end; d++) {
        if (*d < '0' || *d > '9') return -1;
        v = v * 10 + (*d - '0');
    }
    if (v > 65535) return -1;
    *port = (int)v;
    return 0;
}

int numeric_sockaddr(const char *host, int port, struct sockaddr_storage *sa, socklen_t *salen)
{
    memset(sa, 0, sizeof *sa);
    struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
    if (port < 0 || port > 65535) return -1;
    if (!*host || inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *salen = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *salen = sizeof *v6;
        return 0;
    }
    return -1;
}
