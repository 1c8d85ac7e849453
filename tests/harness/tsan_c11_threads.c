/* tsan_c11_threads — C11 <threads.h> on top of pthreads, for the ThreadSanitizer build only.
 *
 * librdkafka (Debian's, not instrumented) creates its threads and takes its locks through
 * glibc's C11 thrd_create/mtx_lock/cnd_wait, which ThreadSanitizer (GCC 12, clang 14) does not
 * intercept: a thread made by thrd_create has no TSan state and crashes on its first malloc,
 * and locks TSan cannot see make every hand-over through librdkafka look like a race. Linked
 * into a TSan test executable, these definitions take the place of glibc's (the executable
 * comes first in symbol lookup) and route every call through the pthread functions TSan
 * intercepts. glibc's thrd_t is a pthread_t; mtx_t and cnd_t have pthread's size and layout.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

typedef struct {
    thrd_start_t fn;
    void *arg;
} c11_start;

static void *c11_run(void *p)
{
    c11_start s = *(c11_start *)p;
    free(p);
    return (void *)(intptr_t)s.fn(s.arg);
}

static int c11_err(int e)
{
    return e == 0           ? thrd_success
           : e == ENOMEM    ? thrd_nomem
           : e == EBUSY     ? thrd_busy
           : e == ETIMEDOUT ? thrd_timedout
                            : thrd_error;
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
    c11_start *s = malloc(sizeof *s);
    if (!s) return thrd_nomem;
    s->fn = fn;
    s->arg = arg;
    int e = pthread_create(thr, NULL, c11_run, s);
    if (e) free(s);
    return e == EAGAIN ? thrd_nomem : c11_err(e);
}

int thrd_join(thrd_t thr, int *res)
{
    void *v;
    int e = pthread_join(thr, &v);
    if (!e && res) *res = (int)(intptr_t)v;
    return c11_err(e);
}

int thrd_detach(thrd_t thr)
{
    return c11_err(pthread_detach(thr));
}

int mtx_init(mtx_t *m, int type)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    if (type & mtx_recursive) pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    int e = pthread_mutex_init((pthread_mutex_t *)m, &a);
    pthread_mutexattr_destroy(&a);
    return c11_err(e);
}

int mtx_lock(mtx_t *m)
{
    return c11_err(pthread_mutex_lock((pthread_mutex_t *)m));
}

int mtx_trylock(mtx_t *m)
{
    return c11_err(pthread_mutex_trylock((pthread_mutex_t *)m));
}

int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict ts)
{
    return c11_err(pthread_mutex_timedlock((pthread_mutex_t *)m, ts));
}

int mtx_unlock(mtx_t *m)
{
    return c11_err(pthread_mutex_unlock((pthread_mutex_t *)m));
}

void mtx_destroy(mtx_t *m)
{
    pthread_mutex_destroy((pthread_mutex_t *)m);
}

int cnd_init(cnd_t *c)
{
    return c11_err(pthread_cond_init((pthread_cond_t *)c, NULL));
}

int cnd_signal(cnd_t *c)
{
    return c11_err(pthread_cond_signal((pthread_cond_t *)c));
}

int cnd_broadcast(cnd_t *c)
{
    return c11_err(pthread_cond_broadcast((pthread_cond_t *)c));
}

int cnd_wait(cnd_t *c, mtx_t *m)
{
    return c11_err(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts)
{
    return c11_err(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, ts));
}

void cnd_destroy(cnd_t *c)
{
    pthread_cond_destroy((pthread_cond_t *)c);
}
