/* test_sdk_broker — the embedded broker API: eddy_broker_start on a free port with a temp data
 * dir, a produced record survives a stop/restart on the same port (eddyd), and free removes
 * the temp dir. Uses eddyd ($EDDYD or the build's), or eddy-mockd when EDDY_BROKER=mock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "sdk_test.h"

static void test_start_produce_restart_free(void **state)
{
    char bin[512] = "";
    const char *e = getenv("EDDYD"), *b = getenv("EDDY_BUILD_DIR");
    if (e && access(e, X_OK) == 0)
        snprintf(bin, sizeof bin, "%s", e);
    else if (b)
        snprintf(bin, sizeof bin, "%s/src/eddyd/eddyd", b);
    /* eddy-mockd only when asked for: a missing eddyd fails rather than testing the mock */
    int is_mock = getenv("EDDY_BROKER") && !strcmp(getenv("EDDY_BROKER"), "mock");
    if (is_mock && b) snprintf(bin, sizeof bin, "%s/src/sdk/eddy-mockd", b);
    assert_true(bin[0] && access(bin, X_OK) == 0);
    eddy_broker *br;
    assert_int_equal(eddy_broker_start(bin[0] ? bin : NULL, NULL, 0, &br), 0);
    int port = eddy_broker_port(br);
    assert_true(port > 0);
    assert_true(eddy_broker_pid(br) > 0);
    char expect[64];
    snprintf(expect, sizeof expect, "127.0.0.1:%d", port);
    assert_string_equal(eddy_broker_bootstrap(br), expect);
    assert_int_equal(produce_raw(eddy_broker_bootstrap(br), "embedded-t", "k", "hello", 5), 0);
    tmsg *m;
    int n = topic_read(eddy_broker_bootstrap(br), "embedded-t", &m);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].value, "hello");
    tmsgs_free(m, n);
    assert_int_equal(eddy_broker_stop(br), 0);
    assert_int_equal(eddy_broker_pid(br), 0);
    if (!is_mock) { /* same port, same data: the record is still there */
        assert_int_equal(eddy_broker_restart(br), 0);
        assert_int_equal(eddy_broker_port(br), port);
        n = topic_read(eddy_broker_bootstrap(br), "embedded-t", &m);
        assert_int_equal(n, 1);
        tmsgs_free(m, n);
    }
    eddy_broker_free(br);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_start_produce_restart_free)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
