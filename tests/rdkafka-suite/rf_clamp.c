/* rf_clamp.c — LD_PRELOAD shim for librdkafka's test runner (tests/rdkafka-suite/run.sh).
 *
 * librdkafka's suite runs on a three-broker cluster in its own CI, so some tests create their
 * topics with replication factor 3 (0103's transactions, 0107, 0111, ...). On one broker that
 * is INVALID_REPLICATION_FACTOR, from eddyd as from Kafka, and the test fails before it tests
 * anything. This shim wraps rd_kafka_NewTopic_new() and lowers a replication factor above
 * $RDK_SUITE_MAX_RF (default 1) to that value; nothing else changes. run.sh reports which tests
 * asked for more (the shim writes one line per clamped topic to stderr, in the runner's log).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct rd_kafka_NewTopic_s rd_kafka_NewTopic_t;
typedef rd_kafka_NewTopic_t *(*newtopic_fn)(const char *, int, int, char *, size_t);

rd_kafka_NewTopic_t *rd_kafka_NewTopic_new(const char *topic, int num_partitions,
                                           int replication_factor, char *errstr, size_t errstr_size)
{
    static newtopic_fn real;
    const char *env = getenv("RDK_SUITE_MAX_RF");
    int max = env ? atoi(env) : 1;
    if (!real) real = (newtopic_fn)dlsym(RTLD_NEXT, "rd_kafka_NewTopic_new");
    if (!real) {
        snprintf(errstr, errstr_size, "rf_clamp: rd_kafka_NewTopic_new not found");
        return NULL;
    }
    if (max > 0 && replication_factor > max) {
        fprintf(stderr, "rf_clamp: topic %s: replication factor %d -> %d (one broker)\n", topic,
                replication_factor, max);
        replication_factor = max;
    }
    return real(topic, num_partitions, replication_factor, errstr, errstr_size);
}
