/* loop — epoll event loop with a binary min-heap of timers (see loop.h). */
#include "net/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

typedef struct fd_entry {
    loop_io_cb cb;
    void *arg;
    bool used;
} fd_entry;

struct loop_timer {
    int64_t when;
    uint64_t seq; /* tie-break: equal deadlines fire in creation order */
    loop_timer_cb cb;
    void *arg;
    size_t idx; /* position in the heap */
};

typedef struct hook {
    loop_hook_cb cb;
    void *arg;
} hook;

struct loop {
    int epfd;
    fd_entry *fds;
    int nfds_alloc;
    loop_timer **heap;
    size_t nheap, aheap;
    uint64_t seq;
    hook *hooks;
    int nhooks;
    int64_t now;
    bool stop;
};

loop *loop_new(void)
{
    loop *l = xcalloc(1, sizeof *l);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return NULL;
    }
    l->now = now_mono_ms();
    return l;
}

void loop_free(loop *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->nheap; i++) free(l->heap[i]);
    free(l->heap);
    free(l->fds);
    free(l->hooks);
    close(l->epfd);
    free(l);
}

int loop_add_fd(loop *l, int fd, uint32_t events, loop_io_cb cb, void *arg)
{
    if (fd < 0) return -EBADF;
    if (fd >= l->nfds_alloc) {
        int n = l->nfds_alloc ? l->nfds_alloc : 64;
        while (n <= fd) n *= 2;
        l->fds = xrealloc(l->fds, (size_t)n * sizeof *l->fds);
        memset(l->fds + l->nfds_alloc, 0, (size_t)(n - l->nfds_alloc) * sizeof *l->fds);
        l->nfds_alloc = n;
    }
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) return -errno;
    l->fds[fd] = (fd_entry){cb, arg, true};
    return 0;
}

int loop_mod_fd(loop *l, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void loop_del_fd(loop *l, int fd)
{
    if (fd < 0 || fd >= l->nfds_alloc || !l->fds[fd].used) return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    l->fds[fd].used = false;
}

static bool timer_less(const loop_timer *a, const loop_timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_swap(loop *l, size_t i, size_t j)
{
    loop_timer *t = l->heap[i];
    l->heap[i] = l->heap[j];
    l->heap[j] = t;
    l->heap[i]->idx = i;
    l->heap[j]->idx = j;
}

static void heap_up(loop *l, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!timer_less(l->heap[i], l->heap[p])) break;
        heap_swap(l, i, p);
        i = p;
    }
}

static void heap_down(loop *l, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1, m = i;
        if (c < l->nheap && timer_less(l->heap[c], l->heap[m])) m = c;
        if (c + 1 < l->nheap && timer_less(l->heap[c + 1], l->heap[m])) m = c + 1;
        if (m == i) break;
        heap_swap(l, i, m);
        i = m;
    }
}

static void heap_remove(loop *l, size_t i)
{
    l->nheap--;
    if (i != l->nheap) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->idx = i;
        heap_down(l, i);
        heap_up(l, i);
    }
}

loop_timer *loop_timer_add(loop *l, int64_t delay_ms, loop_timer_cb cb, void *arg)
{
    loop_timer *t = xmalloc(sizeof *t);
    t->when = now_mono_ms() + (delay_ms > 0 ? delay_ms : 0);
    t->seq = ++l->seq;
    t->cb = cb;
    t->arg = arg;
    if (l->nheap == l->aheap) {
        l->aheap = l->aheap ? l->aheap * 2 : 64;
        l->heap = xrealloc(l->heap, l->aheap * sizeof *l->heap);
    }
    t->idx = l->nheap;
    l->heap[l->nheap++] = t;
    heap_up(l, t->idx);
    return t;
}

void loop_timer_cancel(loop *l, loop_timer *t)
{
    if (!t) return;
    heap_remove(l, t->idx);
    free(t);
}

void loop_add_hook(loop *l, loop_hook_cb cb, void *arg)
{
    l->hooks = xrealloc(l->hooks, (size_t)(l->nhooks + 1) * sizeof *l->hooks);
    l->hooks[l->nhooks++] = (hook){cb, arg};
}

void loop_stop(loop *l)
{
    l->stop = true;
}
bool loop_stopping(const loop *l)
{
    return l->stop;
}
int64_t loop_now_ms(const loop *l)
{
    return l->now;
}

static void run_timers(loop *l)
{
    int64_t now = now_mono_ms();
    l->now = now;
    /* Fire only timers already due at entry; a callback that adds a 0-delay timer gets it
     * run on the next iteration, so timers can't starve I/O. */
    uint64_t seq_limit = l->seq;
    while (l->nheap > 0 && l->heap[0]->when <= now && l->heap[0]->seq <= seq_limit) {
        loop_timer *t = l->heap[0];
        heap_remove(l, 0);
        loop_timer_cb cb = t->cb;
        void *arg = t->arg;
        free(t);
        cb(l, arg);
    }
}

int loop_run(loop *l)
{
    struct epoll_event evs[256];
    while (!l->stop) {
        for (int i = 0; i < l->nhooks; i++) l->hooks[i].cb(l, l->hooks[i].arg);
        int timeout = -1;
        if (l->nheap > 0) {
            int64_t d = l->heap[0]->when - now_mono_ms();
            timeout = d < 0 ? 0 : (d > 60000 ? 60000 : (int)d);
        }
        int n = epoll_wait(l->epfd, evs, (int)ARRAY_LEN(evs), timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            LOGE("loop", "epoll_wait: %s", strerror(errno));
            return -errno;
        }
        l->now = now_mono_ms();
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd < 0 || fd >= l->nfds_alloc || !l->fds[fd].used) continue;
            fd_entry e = l->fds[fd];
            e.cb(l, fd, evs[i].events, e.arg);
        }
        run_timers(l);
    }
    return 0;
}
