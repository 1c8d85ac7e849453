/* Unit tests for broker/config: defaults, parsing, validation, file loading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/config.h"

static void test_defaults(void **state)
{
    (void)state;
    bconfig c;
    bconfig_init(&c);
    assert_int_equal(c.num_partitions, 1);
    assert_true(c.auto_create_topics);
    assert_int_equal(c.message_max_bytes, 1048588);
    assert_int_equal(c.socket_request_max_bytes, 104857600);
    assert_true(c.log_segment_bytes == 1073741824LL);
    for (int i = 0; i < bconfig_count(); i++) assert_true(bconfig_is_default(&c, i));
    bconfig_free(&c);
}

static void test_set_and_errors(void **state)
{
    (void)state;
    bconfig c;
    char err[256];
    bconfig_init(&c);
    assert_int_equal(bconfig_set(&c, "num.partitions", "8", err, sizeof err), 0);
    assert_int_equal(c.num_partitions, 8);
    assert_int_equal(bconfig_set(&c, "auto.create.topics.enable", "false", err, sizeof err), 0);
    assert_false(c.auto_create_topics);
    assert_int_equal(bconfig_set(&c, "num.partitions", "0", err, sizeof err), -1);
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(c.num_partitions, 8);
    assert_int_equal(bconfig_set(&c, "num.partitions", "12x", err, sizeof err), -1);
    assert_non_null(strstr(err, "integer"));
    assert_int_equal(bconfig_set(&c, "no.such.key", "1", err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown setting"));
    assert_int_equal(bconfig_set(&c, "auto.create.topics.enable", "maybe", err, sizeof err), -1);
    bconfig_free(&c);
}

static void test_file(void **state)
{
    (void)state;
    char path[] = "/tmp/eddy-conf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *body = "# comment\n\nnum.partitions = 3\nlog.retention.ms=1000\r\n"
                       "advertised.listeners=PLAINTEXT://broker:9092\n";
    assert_int_equal(write(fd, body, strlen(body)), (int)strlen(body));
    close(fd);
    bconfig c;
    char err[256];
    bconfig_init(&c);
    assert_int_equal(bconfig_load_file(&c, path, err, sizeof err), 0);
    assert_int_equal(c.num_partitions, 3);
    assert_true(c.log_retention_ms == 1000);
    assert_string_equal(c.advertised_listeners, "PLAINTEXT://broker:9092");
    /* a bad line names the file and line */
    FILE *f = fopen(path, "w");
    fputs("num.partitions=2\nbogus line\n", f);
    fclose(f);
    assert_int_equal(bconfig_load_file(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2:"));
    unlink(path);
    bconfig_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_set_and_errors),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
