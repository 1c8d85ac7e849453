/* it_common — librdkafka helpers shared by the C integration tests: a simple (group-less)
 * consumer that reads partitions from the beginning to EOF, a metadata wait, CHECK macros.
 */
#ifndef EDDY_TESTS_IT_COMMON_H
#define EDDY_TESTS_IT_COMMON_H

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>

#include "eddyd_harness.h"

extern int it_failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "CHECK failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);             \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            it_failures++;                                                                         \
        }                                                                                          \
    } while (0)

/* Returns the integer value of env `name`, or `def`. */
long it_env_long(const char *name, long def);

/* rd_kafka_conf with bootstrap.servers set; aborts on a bad property. */
rd_kafka_conf_t *it_conf(const char *bootstrap);
void it_conf_set(rd_kafka_conf_t *c, const char *k, const char *v);

/* Polls Metadata until `topic` exists without error and has `npart` partitions.
 * Returns 0, or -1 after `timeout_ms`. */
int it_wait_topic(rd_kafka_t *rk, const char *topic, int npart, int timeout_ms);

/* Reads partitions 0..npart-1 of `topic` from the beginning until every partition reported
 * EOF, calling cb for each message (return non-zero from cb to stop early). Uses the legacy
 * (group-less) consumer API like `kcat -C`. Returns 0 when all partitions reached EOF, -1 on
 * timeout (`idle_timeout_ms` without any event) or a permanent error. */
typedef int (*it_msg_cb)(const rd_kafka_message_t *m, void *opaque);
int it_consume_all(const char *bootstrap, const char *topic, int npart, it_msg_cb cb, void *opaque,
                   int idle_timeout_ms);

/* Prints "N passed, N failed" style summary (1 case per binary) and returns the exit code. */
int it_finish(const char *name);

#endif
