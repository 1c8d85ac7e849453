/* mockd.c — eddy-mockd: a stand-in broker process on librdkafka's mock cluster, for developing
 * and testing the SDK and services when eddyd is not at hand (EDDY_BROKER=mock). Same command
 * line and ready line as eddyd: `eddy-mockd --data-dir DIR --listen 127.0.0.1:PORT` prints
 * "listening on 127.0.0.1:PORT" on stderr (the port is the mock's own; PORT is ignored).
 * SIGUSR1 takes the broker down, SIGUSR2 brings it back (outage tests); SIGTERM stops. Data is
 * in memory only. Part of src/sdk. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop, g_down, g_up;

static void on_sig(int s)
{
    if (s == SIGUSR1) g_down = 1;
    else if (s == SIGUSR2) g_up = 1;
    else g_stop = 1;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "log_level", "2", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "eddy-mockd: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    if (!mc) {
        fprintf(stderr, "eddy-mockd: cannot create the mock cluster\n");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    fprintf(stderr, "eddy-mockd: listening on %s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stderr);
    while (!g_stop) {
        if (g_down) {
            g_down = 0;
            rd_kafka_mock_broker_set_down(mc, 1);
            fprintf(stderr, "eddy-mockd: broker down\n");
        }
        if (g_up) {
            g_up = 0;
            rd_kafka_mock_broker_set_up(mc, 1);
            fprintf(stderr, "eddy-mockd: broker up\n");
        }
        usleep(50000);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    fprintf(stderr, "eddy-mockd: stopped\n");
    return 0;
}
