/* loop — the single-threaded epoll event loop: fd readiness callbacks, one-shot timers on a
 * min-heap, and "before sleep" hooks (run once per iteration, before epoll_wait).
 *
 * Sits in net/: everything in the broker that reacts to sockets or time runs on this loop's
 * thread. Other threads talk to it only through an eventfd they write and it polls.
 */
#ifndef EDDY_NET_LOOP_H
#define EDDY_NET_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

typedef struct loop loop;
typedef struct loop_timer loop_timer;

typedef void (*loop_io_cb)(loop *l, int fd, uint32_t events, void *arg);
typedef void (*loop_timer_cb)(loop *l, void *arg);
typedef void (*loop_hook_cb)(loop *l, void *arg);

loop *loop_new(void);
void loop_free(loop *l);

/* events: EPOLLIN / EPOLLOUT (level-triggered). Returns 0 or -errno. */
int loop_add_fd(loop *l, int fd, uint32_t events, loop_io_cb cb, void *arg);
int loop_mod_fd(loop *l, int fd, uint32_t events);
void loop_del_fd(loop *l, int fd);

/* One-shot timer firing after delay_ms. The handle is valid until the callback starts or the
 * timer is cancelled; after either, forget it (the loop frees it). */
loop_timer *loop_timer_add(loop *l, int64_t delay_ms, loop_timer_cb cb, void *arg);
void loop_timer_cancel(loop *l, loop_timer *t);

/* Runs `cb` at the end of every loop iteration, just before sleeping (e.g. batch the flush
 * requests of everything that happened in this iteration). */
void loop_add_hook(loop *l, loop_hook_cb cb, void *arg);

/* Runs until loop_stop. Returns 0. */
int loop_run(loop *l);
void loop_stop(loop *l);
bool loop_stopping(const loop *l);

/* Monotonic milliseconds, cached at the start of the iteration. */
int64_t loop_now_ms(const loop *l);

#endif
