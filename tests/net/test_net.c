/* Unit tests for net/loop: timer ordering, cancellation, fd callbacks, hooks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/loop.h"

static int g_order[16], g_n;

static void rec(loop *l, void *arg)
{
    g_order[g_n++] = (int)(intptr_t)arg;
    if (g_n == 4) loop_stop(l);
}

static void test_timers_fire_in_deadline_order(void **state)
{
    (void)state;
    loop *l = loop_new();
    g_n = 0;
    /* Deadlines 100 ms apart: each delay counts from its own add, so a thread descheduled
     * between two adds (ASan on a loaded machine: 25 ms seen) must not reorder them. */
    loop_timer_add(l, 300, rec, (void *)3);
    loop_timer_add(l, 100, rec, (void *)1);
    loop_timer *t = loop_timer_add(l, 150, rec, (void *)99);
    loop_timer_add(l, 200, rec, (void *)2);
    loop_timer_add(l, 200, rec, (void *)22); /* same delay: creation order */
    loop_timer_cancel(l, t);
    loop_run(l);
    assert_int_equal(g_n, 4);
    assert_int_equal(g_order[0], 1);
    assert_int_equal(g_order[1], 2);
    assert_int_equal(g_order[2], 22);
    assert_int_equal(g_order[3], 3);
    loop_free(l);
}

static int g_reads;
static void on_ev(loop *l, int fd, uint32_t events, void *arg)
{
    (void)arg;
    uint64_t v;
    assert_true(events & EPOLLIN);
    assert_int_equal(read(fd, &v, sizeof v), 8);
    g_reads += (int)v;
    if (g_reads >= 5) loop_stop(l);
}

static void poke(loop *l, void *arg)
{
    (void)l;
    uint64_t v = 5;
    assert_int_equal(write((int)(intptr_t)arg, &v, sizeof v), 8);
}

static int g_hooks;
static void hook(loop *l, void *arg)
{
    (void)l;
    (void)arg;
    g_hooks++;
}

static void test_fd_callback_and_hook(void **state)
{
    (void)state;
    loop *l = loop_new();
    int efd = eventfd(0, EFD_NONBLOCK);
    assert_int_equal(loop_add_fd(l, efd, EPOLLIN, on_ev, NULL), 0);
    loop_add_hook(l, hook, NULL);
    loop_timer_add(l, 5, poke, (void *)(intptr_t)efd);
    g_reads = g_hooks = 0;
    loop_run(l);
    assert_int_equal(g_reads, 5);
    assert_true(g_hooks >= 1);
    loop_del_fd(l, efd);
    close(efd);
    loop_free(l);
}

static void many(loop *l, void *arg)
{
    int *n = arg;
    if (++*n == 1000) loop_stop(l);
}

static void test_many_timers_with_cancellations(void **state)
{
    (void)state;
    loop *l = loop_new();
    int n = 0;
    loop_timer *cancel[500];
    for (int i = 0; i < 1500; i++) {
        loop_timer *t = loop_timer_add(l, i % 7, many, &n);
        if (i % 3 == 0 && i / 3 < 500) cancel[i / 3] = t;
    }
    for (int i = 0; i < 500; i++) loop_timer_cancel(l, cancel[i]);
    loop_run(l);
    assert_int_equal(n, 1000);
    loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers_fire_in_deadline_order),
        cmocka_unit_test(test_fd_callback_and_hook),
        cmocka_unit_test(test_many_timers_with_cancellations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
