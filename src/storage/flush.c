/* flush — the group-commit thread (declared in plog.h).
 *
 * The loop thread queues partitions with flusher_request (a mutex, a flag and maybe a signal:
 * no syscall when the partition is already queued or durable). The thread takes the whole queue
 * per round, fdatasyncs each partition's unsynced segments once (every request queued before
 * the round shares that fsync), advances each plog's durable offset, then writes 1 to the
 * notify eventfd so the loop answers the acks=all requests now covered.
 *
 * Lifetime: a queued plog holds a reference (plog_ref), and plog_sync takes references on the
 * segments it syncs, so plog_close/plog_delete/retention/roll may run at any time: descriptors
 * are closed only when their last reference goes (no fsync of a closed or reused fd number).
 * flusher_forget just drops the queue entry; it never waits for an fsync.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "storage/plog.h"
#include "storage/plog_int.h"

struct flusher {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int notify_fd;
    int64_t interval_ms;
    plog **q;
    int nq, aq;
    bool stop;
    uint64_t rounds, fsyncs; /* atomic reads (stats) */
};

static void notify(flusher *f)
{
    if (f->notify_fd < 0) return;
    uint64_t one = 1;
    while (write(f->notify_fd, &one, sizeof one) < 0 && errno == EINTR) {}
}

static void sync_one(plog *l, void *arg)
{
    flusher *f = arg;
    int n = plog_sync(l);
    if (n > 0) __atomic_add_fetch(&f->fsyncs, (uint64_t)n, __ATOMIC_RELAXED);
}

static void *run(void *arg)
{
    flusher *f = arg;
    int64_t next_periodic = f->interval_ms > 0 ? now_mono_ms() + f->interval_ms : INT64_MAX;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->stop && f->nq == 0 && now_mono_ms() < next_periodic) {
            if (next_periodic == INT64_MAX) {
                pthread_cond_wait(&f->cv, &f->mu);
            } else {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                int64_t wait = next_periodic - now_mono_ms();
                if (wait < 0) wait = 0;
                ts.tv_sec += wait / 1000;
                ts.tv_nsec += (wait % 1000) * 1000000;
                if (ts.tv_nsec >= 1000000000) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&f->cv, &f->mu, &ts);
            }
        }
        bool stopping = f->stop;
        plog **q = f->q;
        int nq = f->nq;
        f->q = NULL;
        f->nq = f->aq = 0;
        for (int i = 0; i < nq; i++) q[i]->fq_queued = false;
        pthread_mutex_unlock(&f->mu);

        for (int i = 0; i < nq; i++) {
            sync_one(q[i], f);
            plog_unref(q[i]);
        }
        free(q);
        bool periodic = f->interval_ms > 0 && now_mono_ms() >= next_periodic;
        if (periodic || stopping) {
            plog_registry_each_dirty(sync_one, f);
            if (f->interval_ms > 0) next_periodic = now_mono_ms() + f->interval_ms;
        }
        __atomic_add_fetch(&f->rounds, 1, __ATOMIC_RELAXED);
        notify(f);
        pthread_mutex_lock(&f->mu);
        if (stopping && f->nq == 0) break;
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

flusher *flusher_start(int notify_fd, int64_t interval_ms)
{
    flusher *f = xcalloc(1, sizeof *f);
    f->notify_fd = notify_fd;
    f->interval_ms = interval_ms > 0 ? interval_ms : 0;
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&f->th, NULL, run, f) != 0) {
        pthread_cond_destroy(&f->cv);
        pthread_mutex_destroy(&f->mu);
        free(f);
        return NULL;
    }
    return f;
}

void flusher_stop(flusher *f)
{
    if (!f) return;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->th, NULL);
    for (int i = 0; i < f->nq; i++) plog_unref(f->q[i]);
    free(f->q);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

void flusher_request(flusher *f, plog *l, int64_t offset)
{
    if (!f || !l || plog_durable_offset(l) >= offset) return;
    pthread_mutex_lock(&f->mu);
    if (!l->fq_queued) {
        if (f->nq == f->aq) {
            f->aq = f->aq ? f->aq * 2 : 16;
            f->q = xrealloc(f->q, (size_t)f->aq * sizeof *f->q);
        }
        plog_ref(l);
        l->fq_queued = true;
        f->q[f->nq++] = l;
        if (f->nq == 1) pthread_cond_signal(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
}

void flusher_forget(flusher *f, plog *l)
{
    if (!f || !l) return;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->nq; i++) {
        if (f->q[i] == l) {
            f->q[i] = f->q[--f->nq];
            l->fq_queued = false;
            plog_unref(l); /* not the last reference: the caller still holds one */
            break;
        }
    }
    pthread_mutex_unlock(&f->mu);
}

void flusher_stats(flusher *f, uint64_t *rounds, uint64_t *fsyncs)
{
    if (rounds) *rounds = __atomic_load_n(&f->rounds, __ATOMIC_RELAXED);
    if (fsyncs) *fsyncs = __atomic_load_n(&f->fsyncs, __ATOMIC_RELAXED);
}
