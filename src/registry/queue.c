/* queue — the schema registry's request queue and its compatibility worker (registry_int.h).
 *
 * Every request but a GET is copied out of the HTTP layer, its answer deferred (http_defer),
 * and queued. The head of the queue runs step by step on the loop thread; a step either answers
 * (REG_DONE) or starts asynchronous work and names the next step (REG_WAIT): a job for the
 * worker thread (parsing a body, normalising a schema, compatibility checks: the expensive
 * parts, over copies) or a durable write to _schemas (store.c). Only when the head is answered
 * does the next request start, so registry writes happen in arrival order and every step sees
 * the state its request checked. The Kafka side of the loop keeps being served while a job or an
 * fsync is under way.
 *
 * Worker: one thread; jobs go in under a mutex + condition variable, finished jobs come back on
 * a list under the same mutex and an eventfd the loop polls. The worker touches nothing but the
 * job (copies made on the loop before submitting).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "registry/registry_int.h"

typedef struct wjob {
    struct wjob *next;
    reg_op *op;
    reg_job *job;
} wjob;

struct reg_worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    wjob *in, *in_tail; /* to do (under mu) */
    wjob *out;          /* done, for the loop (under mu) */
    bool stop;          /* under mu */
    int efd;
};

/* ------------------------------------------------------------ worker ---- */

static void job_run(reg_job *j)
{
    if (j->body) j->parsed = json_loadb(j->body, j->body_len, JSON_REJECT_DUPLICATES, &j->jerr);
    if (j->text) {
        schema_src src = {j->text, j->rt, j->nrt};
        j->norm = schema_normalize(j->type, &src, j->err, sizeof j->err);
        if (j->norm) {
            j->canon = schema_canonical(j->type, j->norm);
            if (!j->canon) j->canon = xstrdup(j->norm);
        }
    }
    if (j->level >= 0) {
        j->reasons = json_array();
        j->ok =
            compat_check(j->type, j->level, &j->news, j->prev, j->versions, j->nprev, j->reasons);
    }
}

static void *worker_main(void *arg)
{
    reg_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->in && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop) break;
        wjob *x = w->in;
        w->in = x->next;
        if (!w->in) w->in_tail = NULL;
        pthread_mutex_unlock(&w->mu);
        job_run(x->job);
        pthread_mutex_lock(&w->mu);
        x->next = w->out;
        w->out = x;
        uint64_t one = 1;
        if (write(w->efd, &one, sizeof one) < 0 && errno != EAGAIN)
            break; /* cannot happen with an eventfd; the loop would not learn of the result */
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void pump(reg *r);

/* Loop thread: finished jobs resume their requests. */
static void on_worker_done(loop *l, int fd, uint32_t events, void *arg)
{
    (void)l;
    (void)events;
    reg *r = arg;
    uint64_t n;
    if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN) LOGW("registry", "eventfd read failed");
    pthread_mutex_lock(&r->worker->mu);
    wjob *done = r->worker->out;
    r->worker->out = NULL;
    pthread_mutex_unlock(&r->worker->mu);
    while (done) {
        wjob *x = done;
        done = x->next;
        x->op->resumed = true;
        free(x);
    }
    pump(r);
}

int reg_queue_start(reg *r)
{
    reg_worker *w = xcalloc(1, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0 || loop_add_fd(r->b->loop, w->efd, EPOLLIN, on_worker_done, r) < 0) {
        LOGE("registry", "cannot set up the compatibility worker's eventfd");
        goto fail;
    }
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        LOGE("registry", "cannot start the compatibility worker thread");
        loop_del_fd(r->b->loop, w->efd);
        goto fail;
    }
    r->worker = w;
    return 0;
fail:
    if (w->efd >= 0) close(w->efd);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
    return -1;
}

/* ------------------------------------------------------------ requests ---- */

static const char *const g_qnames[Q_COUNT] = {"deleted", "permanent", "verbose", "defaultToGlobal",
                                              "subjectPrefix"};

void reg_req_copy(regreq *rq, const http_request *req)
{
    memset(rq, 0, sizeof *rq);
    rq->method = xstrdup(req->method);
    rq->path = xstrdup(req->path);
    rq->path_nul = req->path_len != strlen(req->path);
    rq->body = xmalloc(req->body_len + 1);
    if (req->body_len) memcpy(rq->body, req->body, req->body_len);
    rq->body[req->body_len] = 0;
    rq->body_len = req->body_len;
    for (int i = 0; i < Q_COUNT; i++) {
        size_t n = 0;
        const char *v = http_query_n(req, g_qnames[i], &n);
        if (!v) continue;
        rq->q[i] = xstrndup(v, n);
        if (strlen(v) != n) rq->q_nul = true;
    }
}

void reg_req_free(regreq *rq)
{
    free(rq->method);
    free(rq->path);
    free(rq->body);
    for (int i = 0; i < Q_COUNT; i++) free(rq->q[i]);
}

static void inschema_release(inschema *s)
{
    free(s->norm);
    free(s->canon);
    json_decref(s->refs);
    free(s->rt);
    memset(s, 0, sizeof *s);
}

void reg_op_release(reg_op *op)
{
    reg_req_free(&op->rq);
    free(op->resp.body);
    free(op->subject);
    inschema_release(&op->s);
    reg_job_free(op->job);
}

static void op_free(reg_op *op)
{
    reg_op_release(op);
    free(op);
}

/* Runs the head of the queue until it waits or the queue is empty. */
static void pump(reg *r)
{
    if (r->pumping) return; /* a step completed synchronously: the running pump goes on */
    r->pumping = true;
    reg_op *op;
    while ((op = r->head)) {
        if (op->waiting && !op->resumed) break;
        op->waiting = op->resumed = false;
        if (op->step(r, op) == REG_WAIT) {
            op->waiting = true;
            continue;
        }
        r->head = op->next;
        if (!r->head) r->tail = NULL;
        http_complete_resp(op->hp, &op->resp);
        op_free(op);
    }
    r->pumping = false;
}

void reg_enqueue(reg *r, const http_request *req, reg_step step)
{
    reg_op *op = xcalloc(1, sizeof *op);
    reg_req_copy(&op->rq, req);
    op->resp = (http_response){.status = 200, .content_type = CT_SR};
    op->step = step;
    op->hp = http_defer(req);
    if (r->tail)
        r->tail->next = op;
    else
        r->head = op;
    r->tail = op;
    pump(r);
}

int reg_submit(reg *r, reg_op *op, reg_job *job, reg_step next)
{
    reg_worker *w = r->worker;
    wjob *x = xcalloc(1, sizeof *x);
    x->op = op;
    x->job = job;
    reg_job_free(op->job);
    op->job = job;
    op->step = next;
    pthread_mutex_lock(&w->mu);
    if (w->in_tail)
        w->in_tail->next = x;
    else
        w->in = x;
    w->in_tail = x;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return REG_WAIT;
}

static void write_done(reg *r, reg_op *op, int rc)
{
    if (rc < 0) reg_reply_store_err(&op->resp);
    op->resumed = true;
    pump(r);
}

int reg_write_then(reg *r, reg_op *op, wrec *rs, int n, reg_step next)
{
    op->step = next;
    if (reg_write_async(r, rs, n, write_done, op) < 0) {
        reg_reply_store_err(&op->resp);
        return REG_DONE;
    }
    return REG_WAIT;
}

int reg_step_answer(reg *r, reg_op *op)
{
    (void)r;
    (void)op;
    return REG_DONE;
}

char *reg_job_own(reg_job *job, const char *s)
{
    job->owned = xrealloc(job->owned, (size_t)(job->nowned + 1) * sizeof *job->owned);
    return job->owned[job->nowned++] = xstrdup(s ? s : "");
}

void reg_job_free(reg_job *job)
{
    if (!job) return;
    for (int i = 0; i < job->nowned; i++) free(job->owned[i]);
    free(job->owned);
    free(job->rt);
    free(job->norm);
    free(job->canon);
    free(job->prev);
    free(job->versions);
    json_decref(job->reasons);
    json_decref(job->parsed);
    free(job);
}

void reg_queue_stop(reg *r)
{
    reg_worker *w = r->worker;
    if (w) {
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        loop_del_fd(r->b->loop, w->efd);
        close(w->efd);
        for (wjob *x = w->in, *nx; x; x = nx) {
            nx = x->next;
            free(x);
        }
        for (wjob *x = w->out, *nx; x; x = nx) {
            nx = x->next;
            free(x);
        }
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        r->worker = NULL;
    }
    reg_write_cancel(r);
    while (r->head) {
        reg_op *op = r->head;
        r->head = op->next;
        reg_reply_err(&op->resp, 503, 50003, "The schema registry is shutting down");
        http_complete_resp(op->hp, &op->resp);
        op_free(op);
    }
    r->tail = NULL;
}

bool reg_qflag(const regreq *rq, int q)
{
    return rq->q[q] && !strcmp(rq->q[q], "true");
}
