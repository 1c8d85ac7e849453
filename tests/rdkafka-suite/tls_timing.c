/* tls_timing.c — diagnostic LD_PRELOAD shim, not used by run.sh's normal runs.
 *
 * It shows that librdkafka >= 2.8's 0097_ssl_verify ("Expected _SSL or _ALL_BROKERS_DOWN error
 * codes, got: Local: Broker transport failure") depends only on WHEN the broker's first TLS
 * flight reaches the client, not on what the broker sends (docs/rdkafka-suite.md, 0097). It moves
 * the moment socket bytes are read or written, nothing else:
 *
 *   TLS_TIMING=client-wait  (preloaded into the test runner, RDK_SUITE_PRELOAD=...): read() on a
 *       socket first waits (poll, at most 200 ms) for the peer's bytes, so the broker's
 *       ServerHello..Certificate are always readable when the client's SSL_connect() first
 *       reads: 0097 fails at its first verify_ok=0 case, every run.
 *   TLS_TIMING=server-slow  (preloaded into eddyd: LD_PRELOAD=... for run.sh): write() on a
 *       socket sleeps 20 ms first, so that flight is never there yet: 0097 passes, every run.
 *
 *   cc -shared -fPIC -O2 -o /tmp/tls_timing.so tests/rdkafka-suite/tls_timing.c -ldl
 *   RDK_SUITE_PRELOAD=/tmp/tls_timing.so TLS_TIMING=client-wait \
 *       tests/rdkafka-suite/run.sh /src/librdkafka-2.15.0 --profile security 0097
 *   LD_PRELOAD=/tmp/tls_timing.so TLS_TIMING=server-slow \
 *       tests/rdkafka-suite/run.sh /src/librdkafka-2.15.0 --profile security 0097
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);

static int is_socket(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static int mode_is(const char *m)
{
    const char *env = getenv("TLS_TIMING");
    return env && strcmp(env, m) == 0;
}

ssize_t read(int fd, void *buf, size_t n)
{
    static read_fn real;
    if (!real) real = (read_fn)dlsym(RTLD_NEXT, "read");
    if (mode_is("client-wait") && is_socket(fd)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        (void)poll(&p, 1, 200);
    }
    return real(fd, buf, n);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    static write_fn real;
    if (!real) real = (write_fn)dlsym(RTLD_NEXT, "write");
    if (mode_is("server-slow") && is_socket(fd)) usleep(20000);
    return real(fd, buf, n);
}
