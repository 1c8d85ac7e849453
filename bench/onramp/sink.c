/* sink.c — eddy-bench-sink: the fastest HTTP receiver we can put behind eddy-push for its
 * deliveries/s figure (bench/onramp/bench_onramp.py). libmicrohttpd with a thread pool and
 * keep-alive; answers 200 to every POST and counts them. Prints "sink listening on H:P", and the
 * count on stdout at SIGTERM. Usage: eddy-bench-sink [PORT] */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_ulong g_count;
static volatile sig_atomic_t g_stop;

static void on_sig(int s)
{
    (void)s;
    g_stop = 1;
}

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *up,
                              size_t *up_size, void **ctx)
{
    (void)cls, (void)url, (void)method, (void)version, (void)up;
    if (!*ctx) {
        *ctx = (void *)1;
        return MHD_YES;
    }
    if (*up_size) {
        *up_size = 0;
        return MHD_YES;
    }
    if (!strcmp(url, "/count")) {
        char b[32];
        snprintf(b, sizeof b, "%lu\n", atomic_load(&g_count));
        struct MHD_Response *r =
            MHD_create_response_from_buffer(strlen(b), b, MHD_RESPMEM_MUST_COPY);
        enum MHD_Result rc = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return rc;
    }
    atomic_fetch_add(&g_count, 1);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return rc;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)(argc > 1 ? atoi(argv[1]) : 0))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0,
                                            NULL, NULL, on_req, NULL, MHD_OPTION_SOCK_ADDR,
                                            (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, 2u,
                                            MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_END);
    if (!d) return 1;
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("sink listening on 127.0.0.1:%u\n", i ? i->port : 0);
    fflush(stdout);
    signal(SIGTERM, on_sig);
    signal(SIGINT, on_sig);
    while (!g_stop) pause();
    MHD_stop_daemon(d);
    printf("%lu\n", atomic_load(&g_count));
    return 0;
}
