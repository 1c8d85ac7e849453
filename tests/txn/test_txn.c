/* test_txn — transactions (issue 14) with librdkafka against a real eddyd. One binary, one
 * scenario per argument (each its own ctest):
 *
 *   basic    commit, abort and commit again over 3 partitions; a read_committed consumer gets
 *            exactly the committed records in produce order, a read_uncommitted one everything
 *            (markers never surface); an open transaction holds read_committed readers at the
 *            LSO until it commits; an empty commit and abort work.
 *   ctp      consume-transform-produce over 10,000 records with send_offsets_to_transaction
 *            and every 4th transaction aborted (and the input rewound): the output holds each
 *            input record exactly once, the group's committed offsets equal the input's end.
 *   fence    a second producer with the same transactional.id fences the first (fatal
 *            PRODUCER_FENCED on its commit); the second one's transaction commits.
 *   timeout  a transaction left open past transaction.timeout.ms is aborted by the broker: the
 *            LSO moves on and read_committed readers see what follows, not what was aborted.
 *   crash    eddyd SIGKILLed inside the coordinator (EDDY_TXN_CRASH_AT=after-add,
 *            after-prepare, between-markers): after a restart each transaction ends committed
 *            or aborted, and read_committed readers reach the end of every partition.
 *   cli      `eddy txn list|describe|abort` on a hanging transaction: listed Ongoing with its
 *            partition, aborted by the CLI, read_committed readers get past it.
 *   index    the aborted-transaction index on disk (.txnindex per segment): committed and
 *            aborted transactions over many small segments; after a restart the rebuild loads
 *            the closed segments' files and reads only the active segment's batch headers
 *            (its log line says how many), with the same read_committed answer; a corrupt
 *            file is rebuilt from the log with a warning (same answer); eddyd SIGKILLed
 *            between an abort marker and its index entry (EDDY_TXN_CRASH_AT=before-txnindex)
 *            still drops the aborted records after the restart.
 */
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "it_common.h"

static eh_broker B;

/* ------------------------------------------------------------------ helpers ---- */

static rd_kafka_t *mk(rd_kafka_type_t type, rd_kafka_conf_t *c)
{
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        exit(1);
    }
    return rk;
}

static void create_topic(const char *name, int npart)
{
    rd_kafka_t *rk = mk(RD_KAFKA_PRODUCER, it_conf(B.bootstrap));
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, npart, 1, NULL, 0);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 10000);
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    CHECK(it_wait_topic(rk, name, npart, 10000) == 0, "topic %s", name);
    rd_kafka_destroy(rk);
}

static rd_kafka_t *txn_producer(const char *tid, const char *timeout_ms)
{
    rd_kafka_conf_t *c = it_conf(B.bootstrap);
    it_conf_set(c, "transactional.id", tid);
    it_conf_set(c, "linger.ms", "5");
    if (timeout_ms) it_conf_set(c, "transaction.timeout.ms", timeout_ms);
    return mk(RD_KAFKA_PRODUCER, c);
}

static int txn_ok(rd_kafka_error_t *e, const char *what)
{
    if (!e) return 1;
    fprintf(stderr, "%s: %s (%s%s%s)\n", what, rd_kafka_error_string(e),
            rd_kafka_error_is_fatal(e) ? "fatal " : "",
            rd_kafka_error_is_retriable(e) ? "retriable " : "",
            rd_kafka_error_txn_requires_abort(e) ? "requires abort" : "");
    rd_kafka_error_destroy(e);
    return 0;
}

static void produce(rd_kafka_t *rk, const char *topic, int32_t part, const char *val)
{
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                                    RD_KAFKA_V_VALUE((void *)val, strlen(val)),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(rk, 10);
    CHECK(err == 0, "produce %s[%d]: %s", topic, part, rd_kafka_err2str(err));
}

/* Collected records of a read: per partition, the values in order. */
#define MAXP 8
typedef struct readback {
    char **v[MAXP];
    int n[MAXP], a[MAXP];
    int total;
} readback;

static void rb_free(readback *rb)
{
    for (int p = 0; p < MAXP; p++) {
        for (int i = 0; i < rb->n[p]; i++) free(rb->v[p][i]);
        free(rb->v[p]);
    }
    memset(rb, 0, sizeof *rb);
}

/* Reads every partition of topic from the start to its end (EOF: the LSO for read_committed)
 * with the given isolation level. Returns 0 or -1 (nothing for idle_ms). */
static int read_all(const char *topic, int npart, const char *isolation, readback *rb, int idle_ms)
{
    memset(rb, 0, sizeof *rb);
    rd_kafka_conf_t *c = it_conf(B.bootstrap);
    it_conf_set(c, "enable.partition.eof", "true");
    it_conf_set(c, "fetch.wait.max.ms", "100");
    it_conf_set(c, "isolation.level", isolation);
    it_conf_set(c, "group.id", "readback"); /* assign() only: never joins, never commits */
    it_conf_set(c, "enable.auto.commit", "false");
    rd_kafka_t *rk = mk(RD_KAFKA_CONSUMER, c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(npart);
    for (int p = 0; p < npart; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int eof[MAXP] = {0}, neof = 0, rc = 0;
    int64_t last = eh_now_ms();
    while (neof < npart) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            if (eh_now_ms() - last > idle_ms) {
                fprintf(stderr, "read %s (%s): stuck with %d/%d partitions at their end\n", topic,
                        isolation, neof, npart);
                rc = -1;
                break;
            }
            continue;
        }
        last = eh_now_ms();
        int p = m->partition;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (p >= 0 && p < npart && !eof[p]) {
                eof[p] = 1;
                neof++;
            }
        } else if (m->err) {
            fprintf(stderr, "read %s: %s\n", topic, rd_kafka_message_errstr(m));
            if (m->err != RD_KAFKA_RESP_ERR__TRANSPORT) rc = -1;
        } else if (p >= 0 && p < MAXP) {
            if (eof[p]) {
                eof[p] = 0;
                neof--;
            }
            if (rb->n[p] == rb->a[p]) {
                rb->a[p] = rb->a[p] ? rb->a[p] * 2 : 64;
                rb->v[p] = realloc(rb->v[p], (size_t)rb->a[p] * sizeof(char *));
            }
            rb->v[p][rb->n[p]++] = strndup(m->payload, m->len);
            rb->total++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

/* The record values of partition p joined with ',' (for compact comparisons). */
static char *joined(const readback *rb, int p)
{
    size_t n = 1;
    for (int i = 0; i < rb->n[p]; i++) n += strlen(rb->v[p][i]) + 1;
    char *s = calloc(1, n);
    for (int i = 0; i < rb->n[p]; i++) {
        if (i) strcat(s, ",");
        strcat(s, rb->v[p][i]);
    }
    return s;
}

static void expect_part(const readback *rb, int p, const char *want, const char *what)
{
    char *got = joined(rb, p);
    CHECK(!strcmp(got, want), "%s partition %d: got [%s], want [%s]", what, p, got, want);
    free(got);
}

/* ------------------------------------------------------------------ basic ---- */

static void txn_round(rd_kafka_t *rk, const char *topic, const char *tag, int per_part, int npart,
                      int commit)
{
    CHECK(txn_ok(rd_kafka_begin_transaction(rk), "begin"), "begin %s", tag);
    for (int i = 0; i < per_part; i++)
        for (int p = 0; p < npart; p++) {
            char v[64];
            snprintf(v, sizeof v, "%s%d", tag, i);
            produce(rk, topic, p, v);
        }
    if (commit)
        CHECK(txn_ok(rd_kafka_commit_transaction(rk, 30000), "commit"), "commit %s", tag);
    else {
        /* abort purges what is still queued: flush first so the aborted records are in the log */
        rd_kafka_flush(rk, 10000);
        CHECK(txn_ok(rd_kafka_abort_transaction(rk, 30000), "abort"), "abort %s", tag);
    }
}

static void scenario_basic(void)
{
    create_topic("tx", 3);
    rd_kafka_t *rk = txn_producer("basic-1", NULL);
    CHECK(txn_ok(rd_kafka_init_transactions(rk, 30000), "init"), "init_transactions");
    txn_round(rk, "tx", "c", 3, 3, 1);
    txn_round(rk, "tx", "a", 3, 3, 0);
    txn_round(rk, "tx", "d", 2, 3, 1);
    /* an empty transaction, committed and aborted */
    CHECK(txn_ok(rd_kafka_begin_transaction(rk), "begin"), "begin empty");
    CHECK(txn_ok(rd_kafka_commit_transaction(rk, 30000), "commit"), "commit empty");
    CHECK(txn_ok(rd_kafka_begin_transaction(rk), "begin"), "begin empty 2");
    CHECK(txn_ok(rd_kafka_abort_transaction(rk, 30000), "abort"), "abort empty");

    readback rb;
    CHECK(read_all("tx", 3, "read_committed", &rb, 15000) == 0, "read_committed reaches the end");
    for (int p = 0; p < 3; p++) expect_part(&rb, p, "c0,c1,c2,d0,d1", "read_committed");
    rb_free(&rb);
    CHECK(read_all("tx", 3, "read_uncommitted", &rb, 15000) == 0, "read_uncommitted");
    for (int p = 0; p < 3; p++)
        expect_part(&rb, p, "c0,c1,c2,a0,a1,a2,d0,d1", "read_uncommitted (markers skipped)");
    rb_free(&rb);

    /* an open transaction pins the LSO: read_committed readers stop before it */
    CHECK(txn_ok(rd_kafka_begin_transaction(rk), "begin"), "begin open");
    produce(rk, "tx", 0, "o0");
    rd_kafka_flush(rk, 10000);
    rd_kafka_t *plain = mk(RD_KAFKA_PRODUCER, it_conf(B.bootstrap));
    produce(plain, "tx", 0, "p0"); /* after the open transaction's first record */
    rd_kafka_flush(plain, 10000);
    CHECK(read_all("tx", 1, "read_committed", &rb, 15000) == 0, "read_committed, txn open");
    expect_part(&rb, 0, "c0,c1,c2,d0,d1", "read_committed while a transaction is open");
    rb_free(&rb);
    CHECK(txn_ok(rd_kafka_commit_transaction(rk, 30000), "commit"), "commit open");
    CHECK(read_all("tx", 1, "read_committed", &rb, 15000) == 0, "read_committed after commit");
    expect_part(&rb, 0, "c0,c1,c2,d0,d1,o0,p0", "read_committed after the commit");
    rb_free(&rb);
    rd_kafka_destroy(plain);
    rd_kafka_destroy(rk);
}

/* ------------------------------------------------------------------ ctp ---- */

#define CTP_N 10000

static void scenario_ctp(void)
{
    create_topic("ctp-in", 2);
    create_topic("ctp-out", 2);
    rd_kafka_t *plain = mk(RD_KAFKA_PRODUCER, it_conf(B.bootstrap));
    for (int i = 0; i < CTP_N; i++) {
        char v[32];
        snprintf(v, sizeof v, "%d", i);
        produce(plain, "ctp-in", i % 2, v);
    }
    CHECK(rd_kafka_flush(plain, 30000) == 0, "input flushed");
    rd_kafka_destroy(plain);

    rd_kafka_conf_t *cc = it_conf(B.bootstrap);
    it_conf_set(cc, "group.id", "ctp");
    it_conf_set(cc, "enable.auto.commit", "false");
    it_conf_set(cc, "auto.offset.reset", "earliest");
    it_conf_set(cc, "isolation.level", "read_committed");
    it_conf_set(cc, "enable.partition.eof", "true");
    it_conf_set(cc, "fetch.wait.max.ms", "50");
    rd_kafka_t *cons = mk(RD_KAFKA_CONSUMER, cc);
    rd_kafka_poll_set_consumer(cons);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, "ctp-in", RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(cons, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    rd_kafka_t *prod = txn_producer("ctp-1", NULL);
    CHECK(txn_ok(rd_kafka_init_transactions(prod, 30000), "init"), "init ctp");

    /* at_end[p]: partition p reported EOF and gave no record since. EOF is reported once each
     * time a partition reaches its end, so the two are tracked apart: one counter reset by the
     * other partition's records waited for an EOF that never came again. */
    int ntxn = 0, committed_in = 0, at_end[2] = {0, 0};
    int64_t deadline = eh_now_ms() + 120000;
#define CTP_DONE (at_end[0] && at_end[1])
    while (!CTP_DONE && eh_now_ms() < deadline) {
        CHECK(txn_ok(rd_kafka_begin_transaction(prod), "begin"), "begin ctp");
        int n = 0;
        int abort_this = (ntxn % 4) == 3;
        while (n < 500) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 200);
            if (!m) {
                if (n > 0 || CTP_DONE || eh_now_ms() >= deadline) break;
                continue;
            }
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (m->partition >= 0 && m->partition < 2) at_end[m->partition] = 1;
                rd_kafka_message_destroy(m);
                if (CTP_DONE) break;
                continue;
            }
            if (m->err) {
                rd_kafka_message_destroy(m);
                continue;
            }
            if (m->partition >= 0 && m->partition < 2) at_end[m->partition] = 0;
            char v[64];
            snprintf(v, sizeof v, "out-%.*s", (int)m->len, (const char *)m->payload);
            produce(prod, "ctp-out", m->partition, v);
            rd_kafka_message_destroy(m);
            n++;
        }
        rd_kafka_topic_partition_list_t *pos = NULL;
        rd_kafka_assignment(cons, &pos);
        rd_kafka_position(cons, pos);
        rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata(cons);
        CHECK(txn_ok(rd_kafka_send_offsets_to_transaction(prod, pos, gm, 30000), "send_offsets"),
              "send_offsets_to_transaction");
        rd_kafka_consumer_group_metadata_destroy(gm);
        if (abort_this && n > 0) {
            rd_kafka_flush(prod, 10000); /* the aborted records reach the log */
            CHECK(txn_ok(rd_kafka_abort_transaction(prod, 30000), "abort"), "abort ctp");
            /* rewind to the committed offsets: the aborted input is processed again */
            rd_kafka_topic_partition_list_t *was = rd_kafka_topic_partition_list_copy(pos);
            rd_kafka_committed(cons, pos, 10000);
            for (int i = 0; i < pos->cnt; i++) {
                rd_kafka_topic_partition_t *tp = &pos->elems[i];
                if (tp->offset < 0) tp->offset = RD_KAFKA_OFFSET_BEGINNING;
                /* a partition sent back reports its end again; one left where it was may not */
                if ((tp->offset < was->elems[i].offset || tp->offset < 0) && tp->partition >= 0 &&
                    tp->partition < 2)
                    at_end[tp->partition] = 0;
                rd_kafka_topic_t *t = rd_kafka_topic_new(cons, tp->topic, NULL);
                rd_kafka_seek(t, tp->partition, tp->offset, 10000);
                rd_kafka_topic_destroy(t);
            }
            rd_kafka_topic_partition_list_destroy(was);
        } else {
            CHECK(txn_ok(rd_kafka_commit_transaction(prod, 30000), "commit"), "commit ctp");
            committed_in += n;
        }
        rd_kafka_topic_partition_list_destroy(pos);
        ntxn++;
    }
    CHECK(CTP_DONE, "ctp: the input was not consumed to its end in time");
#undef CTP_DONE
    /* group offsets equal the input's end offsets */
    rd_kafka_topic_partition_list_t *want = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(want, "ctp-in", 0);
    rd_kafka_topic_partition_list_add(want, "ctp-in", 1);
    CHECK(rd_kafka_committed(cons, want, 10000) == 0, "committed()");
    for (int i = 0; i < want->cnt; i++)
        CHECK(want->elems[i].offset == CTP_N / 2,
              "group offset of ctp-in[%d] = %" PRId64 ", want %d", want->elems[i].partition,
              want->elems[i].offset, CTP_N / 2);
    rd_kafka_topic_partition_list_destroy(want);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    rd_kafka_destroy(prod);

    readback rb;
    CHECK(read_all("ctp-out", 2, "read_committed", &rb, 15000) == 0, "read ctp-out");
    CHECK(rb.total == CTP_N, "ctp-out holds %d records, want %d (committed input %d, %d txns)",
          rb.total, CTP_N, committed_in, ntxn);
    char *seen = calloc(CTP_N, 1);
    int dups = 0, bad = 0;
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < rb.n[p]; i++) {
            int x = atoi(rb.v[p][i] + 4);
            if (strncmp(rb.v[p][i], "out-", 4) || x < 0 || x >= CTP_N || x % 2 != p)
                bad++;
            else if (seen[x]++)
                dups++;
        }
    CHECK(dups == 0 && bad == 0, "ctp-out: %d duplicates, %d misplaced records", dups, bad);
    free(seen);
    rb_free(&rb);
    CHECK(ntxn > 20, "only %d transactions", ntxn);
}

/* ------------------------------------------------------------------ fence ---- */

static void scenario_fence(void)
{
    create_topic("fence", 1);
    rd_kafka_t *a = txn_producer("fence-1", NULL);
    CHECK(txn_ok(rd_kafka_init_transactions(a, 30000), "init a"), "init a");
    CHECK(txn_ok(rd_kafka_begin_transaction(a), "begin a"), "begin a");
    produce(a, "fence", 0, "zombie");
    rd_kafka_flush(a, 10000);
    rd_kafka_t *b = txn_producer("fence-1", NULL);
    CHECK(txn_ok(rd_kafka_init_transactions(b, 30000), "init b"), "init b (fences a)");
    CHECK(txn_ok(rd_kafka_begin_transaction(b), "begin b"), "begin b");
    produce(b, "fence", 0, "live");
    CHECK(txn_ok(rd_kafka_commit_transaction(b, 30000), "commit b"), "commit b");
    rd_kafka_error_t *e = rd_kafka_commit_transaction(a, 30000);
    CHECK(e && rd_kafka_error_is_fatal(e), "the fenced producer's commit must fail fatally (%s)",
          e ? rd_kafka_error_string(e) : "it succeeded");
    if (e) {
        CHECK(rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__FENCED ||
                  rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
                  rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH,
              "fenced error code: %s", rd_kafka_error_name(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_destroy(a);
    rd_kafka_destroy(b);
    readback rb;
    CHECK(read_all("fence", 1, "read_committed", &rb, 15000) == 0, "read fence");
    expect_part(&rb, 0, "live", "read_committed after fencing");
    rb_free(&rb);
}

/* ------------------------------------------------------------------ timeout ---- */

static void scenario_timeout(void)
{
    create_topic("tmo", 1);
    rd_kafka_t *rk = txn_producer("tmo-1", "1000");
    CHECK(txn_ok(rd_kafka_init_transactions(rk, 30000), "init"), "init tmo");
    CHECK(txn_ok(rd_kafka_begin_transaction(rk), "begin"), "begin tmo");
    produce(rk, "tmo", 0, "hanging");
    rd_kafka_flush(rk, 10000);
    rd_kafka_t *plain = mk(RD_KAFKA_PRODUCER, it_conf(B.bootstrap));
    produce(plain, "tmo", 0, "after");
    rd_kafka_flush(plain, 10000);
    /* the broker aborts the transaction by itself (cleanup interval 200 ms in this test):
     * read_committed readers then get past it */
    readback rb = {0};
    int64_t deadline = eh_now_ms() + 20000;
    while (eh_now_ms() < deadline) {
        rb_free(&rb);
        read_all("tmo", 1, "read_committed", &rb, 10000);
        if (rb.n[0] > 0) break;
        eh_sleep_ms(300);
    }
    expect_part(&rb, 0, "after", "read_committed after the timeout abort");
    rb_free(&rb);
    rd_kafka_destroy(plain);
    rd_kafka_destroy(rk);
}

/* ------------------------------------------------------------------ crash ---- */

static void wait_dead(void)
{
    int st;
    if (B.pid > 0 && waitpid(B.pid, &st, 0) == B.pid) B.pid = 0;
}

static void crash_at(const char *where, int idx)
{
    char topic[32], tid[32];
    snprintf(topic, sizeof topic, "crash-%d", idx);
    snprintf(tid, sizeof tid, "crash-%d", idx);
    create_topic(topic, 2);
    /* a committed transaction before the crash */
    rd_kafka_t *rk = txn_producer(tid, NULL);
    CHECK(txn_ok(rd_kafka_init_transactions(rk, 30000), "init"), "init %s", where);
    txn_round(rk, topic, "ok", 1, 2, 1);
    rd_kafka_destroy(rk);
    /* restart with the crash hook armed, then a transaction that dies in the coordinator */
    eh_stop(&B, 20);
    setenv("EDDY_TXN_CRASH_AT", where, 1);
    CHECK(eh_restart(&B) == 0, "restart armed");
    unsetenv("EDDY_TXN_CRASH_AT");
    rk = txn_producer(tid, NULL);
    rd_kafka_conf_t *unused = NULL;
    (void)unused;
    CHECK(txn_ok(rd_kafka_init_transactions(rk, 30000), "init"), "init 2 %s", where);
    CHECK(txn_ok(rd_kafka_begin_transaction(rk), "begin"), "begin %s", where);
    produce(rk, topic, 0, "x0");
    produce(rk, topic, 1, "x1");
    rd_kafka_flush(rk, 5000);
    rd_kafka_error_t *e = rd_kafka_commit_transaction(rk, 5000);
    if (e) rd_kafka_error_destroy(e);
    wait_dead();
    CHECK(B.pid == 0, "eddyd did not die at %s", where);
    rd_kafka_destroy(rk);
    CHECK(eh_restart(&B) == 0, "restart after the crash at %s", where);
    /* a new producer of the same id ends whatever is still open (aborting it) */
    rk = txn_producer(tid, NULL);
    CHECK(txn_ok(rd_kafka_init_transactions(rk, 30000), "init"), "init after %s", where);
    rd_kafka_destroy(rk);
    readback rb;
    CHECK(read_all(topic, 2, "read_committed", &rb, 15000) == 0,
          "read_committed reaches the end after the crash at %s", where);
    for (int p = 0; p < 2; p++) {
        char *got = joined(&rb, p);
        char want_c[16];
        snprintf(want_c, sizeof want_c, "ok0,x%d", p);
        /* after-add dies before any record is written: only the first transaction */
        int ok = !strcmp(got, "ok0") || !strcmp(got, want_c);
        if (strcmp(where, "after-add")) ok = !strcmp(got, want_c); /* Prepare* completes */
        CHECK(ok, "crash at %s, partition %d: [%s]", where, p, got);
        free(got);
    }
    /* and both partitions are consistent: committed everywhere or nowhere */
    CHECK(rb.n[0] == rb.n[1], "crash at %s: partitions disagree (%d vs %d)", where, rb.n[0],
          rb.n[1]);
    rb_free(&rb);
}

static void scenario_crash(void)
{
    crash_at("after-add", 1);
    crash_at("after-prepare", 2);
    crash_at("between-markers", 3);
}

/* ------------------------------------------------------------------ cli ---- */

/* Runs `eddy -b BOOTSTRAP args` and returns its stdout (malloc'ed) and exit status. */
static char *eddy_cli(const char *args, int *status)
{
    const char *bd = getenv("EDDY_BUILD_DIR");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s/src/cli/eddy' -b %s %s", bd ? bd : ".", B.bootstrap, args);
    FILE *f = popen(cmd, "r");
    size_t n = 0, a = 4096;
    char *out = calloc(1, a);
    size_t k;
    while (f && (k = fread(out + n, 1, a - n - 1, f)) > 0) {
        n += k;
        if (n + 1 >= a) out = realloc(out, a *= 2);
    }
    out[n] = 0;
    int st = f ? pclose(f) : -1;
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

static void scenario_cli(void)
{
    create_topic("hang", 1);
    rd_kafka_t *rk = txn_producer("hang-1", NULL);
    CHECK(txn_ok(rd_kafka_init_transactions(rk, 30000), "init"), "init hang");
    CHECK(txn_ok(rd_kafka_begin_transaction(rk), "begin"), "begin hang");
    produce(rk, "hang", 0, "stuck");
    rd_kafka_flush(rk, 10000);
    int st;
    char *out = eddy_cli("txn list", &st);
    CHECK(st == 0 && strstr(out, "hang-1") && strstr(out, "Ongoing"), "txn list: %d [%s]", st, out);
    free(out);
    out = eddy_cli("txn list --state Ongoing --json", &st);
    CHECK(st == 0 && strstr(out, "\"hang-1\""), "txn list --state Ongoing --json: [%s]", out);
    free(out);
    out = eddy_cli("txn describe hang-1", &st);
    CHECK(st == 0 && strstr(out, "Ongoing") && strstr(out, "hang[0]"), "txn describe: [%s]", out);
    free(out);
    out = eddy_cli("txn describe nobody", &st);
    CHECK(st == 4, "txn describe of an unknown id exits 4, got %d", st);
    free(out);
    out = eddy_cli("txn abort hang-1", &st);
    CHECK(st == 0, "txn abort: %d [%s]", st, out);
    free(out);
    out = eddy_cli("txn describe hang-1", &st);
    CHECK(st == 0 && strstr(out, "Empty") && !strstr(out, "hang[0]"), "after abort: [%s]", out);
    free(out);
    rd_kafka_t *plain = mk(RD_KAFKA_PRODUCER, it_conf(B.bootstrap));
    produce(plain, "hang", 0, "next");
    rd_kafka_flush(plain, 10000);
    readback rb;
    CHECK(read_all("hang", 1, "read_committed", &rb, 15000) == 0, "read hang");
    expect_part(&rb, 0, "next", "read_committed after eddy txn abort");
    rb_free(&rb);
    /* the fenced producer cannot commit */
    rd_kafka_error_t *e = rd_kafka_commit_transaction(rk, 10000);
    CHECK(e != NULL, "the fenced producer's commit must fail");
    if (e) rd_kafka_error_destroy(e);
    rd_kafka_destroy(plain);
    rd_kafka_destroy(rk);
}

/* ------------------------------------------------------------------ index ---- */

#define IX_ROUNDS 12
#define IX_PER 20

/* "<tag>-<i>" followed by padding, so that a few rounds fill several 4 KiB segments */
static void ix_value(char *v, size_t n, const char *tag, int i)
{
    int k = snprintf(v, n, "%s-%02d.", tag, i);
    for (; k < 100 && (size_t)k + 1 < n; k++) v[k] = 'p';
    v[k] = 0;
}

/* The tags of partition 0 joined (the part of each value before '.'). */
static char *ix_tags(const readback *rb)
{
    size_t n = 1;
    for (int i = 0; i < rb->n[0]; i++) n += strlen(rb->v[0][i]) + 1;
    char *s = calloc(1, n);
    for (int i = 0; i < rb->n[0]; i++) {
        if (i) strcat(s, ",");
        strncat(s, rb->v[0][i], strcspn(rb->v[0][i], "."));
    }
    return s;
}

static char *ix_read(const char *isolation)
{
    readback rb;
    CHECK(read_all("tix", 1, isolation, &rb, 15000) == 0, "read tix %s", isolation);
    char *s = ix_tags(&rb);
    rb_free(&rb);
    return s;
}

/* The rebuild's log line for tix-0 in the current log: entries loaded and batches scanned. */
static int ix_recovery_line(int *loaded, int *scanned)
{
    FILE *f = fopen(B.log, "r");
    char line[1024];
    int found = 0;
    while (f && fgets(line, sizeof line, f)) {
        const char *s = strstr(line, "tix-0: ");
        if (!s) continue;
        long long below, from;
        if (sscanf(s,
                   "tix-0: %d aborted transaction(s) from .txnindex below offset %lld, %d "
                   "batch header(s) scanned from %lld",
                   loaded, &below, scanned, &from) == 4)
            found = 1;
    }
    if (f) fclose(f);
    return found;
}

static int ix_log_has(const char *needle)
{
    FILE *f = fopen(B.log, "r");
    char line[1024];
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f)) found = strstr(line, needle) != NULL;
    if (f) fclose(f);
    return found;
}

static void scenario_index(void)
{
    rd_kafka_t *rk = mk(RD_KAFKA_PRODUCER, it_conf(B.bootstrap));
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new("tix", 1, 1, NULL, 0);
    rd_kafka_NewTopic_set_config(nt, "segment.bytes", "4096");
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 10000);
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    CHECK(it_wait_topic(rk, "tix", 1, 10000) == 0, "topic tix");
    rd_kafka_destroy(rk);

    /* rounds alternate commit (even) and abort (odd) */
    rk = txn_producer("ix-1", NULL);
    CHECK(txn_ok(rd_kafka_init_transactions(rk, 30000), "init"), "init ix");
    char committed[IX_ROUNDS * IX_PER * 8] = "", all[IX_ROUNDS * IX_PER * 8] = "";
    for (int r = 0; r < IX_ROUNDS; r++) {
        char tag[16];
        snprintf(tag, sizeof tag, "r%02d", r);
        CHECK(txn_ok(rd_kafka_begin_transaction(rk), "begin"), "begin %s", tag);
        for (int i = 0; i < IX_PER; i++) {
            char v[128];
            ix_value(v, sizeof v, tag, i);
            produce(rk, "tix", 0, v);
            char t[40];
            snprintf(t, sizeof t, "%s%s-%02d", all[0] ? "," : "", tag, i);
            strcat(all, t);
            if (r % 2 == 0) {
                snprintf(t, sizeof t, "%s%s-%02d", committed[0] ? "," : "", tag, i);
                strcat(committed, t);
            }
        }
        rd_kafka_flush(rk, 10000);
        if (r % 2 == 0)
            CHECK(txn_ok(rd_kafka_commit_transaction(rk, 30000), "commit"), "commit %s", tag);
        else
            CHECK(txn_ok(rd_kafka_abort_transaction(rk, 30000), "abort"), "abort %s", tag);
    }
    rd_kafka_destroy(rk);
    char *got = ix_read("read_committed");
    CHECK(!strcmp(got, committed), "read_committed before restart: [%s]", got);
    free(got);
    got = ix_read("read_uncommitted");
    CHECK(!strcmp(got, all), "read_uncommitted: [%s]", got);
    free(got);

    /* a clean restart: the closed segments' files are loaded, only the active one scanned */
    CHECK(eh_stop(&B, 20) == 0, "stop");
    CHECK(eh_restart(&B) == 0, "restart");
    int loaded = -1, scanned = -1;
    CHECK(ix_recovery_line(&loaded, &scanned), "no rebuild line for tix-0");
    fprintf(stderr, "index: restart loaded %d entries, scanned %d batch headers\n", loaded,
            scanned);
    CHECK(loaded >= 3, "entries from .txnindex: %d", loaded);
    got = ix_read("read_committed");
    CHECK(!strcmp(got, committed), "read_committed after restart: [%s]", got);
    free(got);

    /* a corrupt file: a warning, a rebuild from the log start, the same answer */
    char dir[400], p[512];
    snprintf(dir, sizeof dir, "%s/tix-0", B.data);
    CHECK(eh_stop(&B, 20) == 0, "stop 2");
    int damaged = 0;
    for (int64_t base = 1; base < 100000 && !damaged; base++) {
        snprintf(p, sizeof p, "%s/%020" PRId64 ".txnindex", dir, base);
        FILE *f = fopen(p, "r+");
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        if (ftell(f) >= 34) {
            fseek(f, 1, SEEK_SET);
            fputc(7, f); /* version 7 */
            damaged = 1;
        }
        fclose(f);
    }
    CHECK(damaged, "no closed segment's .txnindex with entries in %s", dir);
    CHECK(eh_restart(&B) == 0, "restart 2");
    int loaded2 = -1, scanned2 = -1;
    CHECK(ix_recovery_line(&loaded2, &scanned2), "no rebuild line after the damage");
    fprintf(stderr, "index: damaged: loaded %d, scanned %d\n", loaded2, scanned2);
    CHECK(ix_log_has("unknown entry version: rebuilt from the log"), "no warning for the damage");
    CHECK(scanned2 > scanned, "the damaged file's segment is rescanned: %d vs %d", scanned2,
          scanned);
    CHECK(loaded2 < loaded, "fewer entries trusted: %d vs %d", loaded2, loaded);
    got = ix_read("read_committed");
    CHECK(!strcmp(got, committed), "read_committed after the rebuild: [%s]", got);
    free(got);
    /* and the rebuilt files are trusted by the next start */
    CHECK(eh_stop(&B, 20) == 0, "stop 3");
    CHECK(eh_restart(&B) == 0, "restart 3");
    int loaded3 = -1, scanned3 = -1;
    CHECK(ix_recovery_line(&loaded3, &scanned3) && loaded3 == loaded && scanned3 == scanned,
          "after the rebuild: loaded %d scanned %d, want %d %d", loaded3, scanned3, loaded,
          scanned);

    /* SIGKILL between an abort marker and its index entry */
    CHECK(eh_stop(&B, 20) == 0, "stop 4");
    setenv("EDDY_TXN_CRASH_AT", "before-txnindex", 1);
    CHECK(eh_restart(&B) == 0, "restart armed");
    unsetenv("EDDY_TXN_CRASH_AT");
    rk = txn_producer("ix-1", NULL);
    CHECK(txn_ok(rd_kafka_init_transactions(rk, 30000), "init"), "init ix 2");
    CHECK(txn_ok(rd_kafka_begin_transaction(rk), "begin"), "begin killed");
    for (int i = 0; i < IX_PER; i++) {
        char v[128];
        ix_value(v, sizeof v, "k", i);
        produce(rk, "tix", 0, v);
    }
    rd_kafka_flush(rk, 10000);
    rd_kafka_error_t *e = rd_kafka_abort_transaction(rk, 5000);
    if (e) rd_kafka_error_destroy(e);
    wait_dead();
    CHECK(B.pid == 0, "eddyd did not die before the index write");
    rd_kafka_destroy(rk);
    CHECK(eh_restart(&B) == 0, "restart after the kill");
    rk = txn_producer("ix-1", NULL);
    CHECK(txn_ok(rd_kafka_init_transactions(rk, 30000), "init"), "init after the kill");
    rd_kafka_destroy(rk);
    got = ix_read("read_committed");
    CHECK(!strcmp(got, committed), "read_committed after the kill: [%s]", got);
    free(got);
    got = ix_read("read_uncommitted");
    CHECK(strstr(got, "k-00") != NULL, "the aborted records are in the log: [%s]", got);
    free(got);
}

/* ------------------------------------------------------------------ main ---- */

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_txn basic|ctp|fence|timeout|crash|cli|index\n");
        return 2;
    }
    const char *sets[] = {"group.initial.rebalance.delay.ms=0",
                          "transaction.abort.timed.out.transaction.cleanup.interval.ms=200", NULL};
    if (eh_start(&B, sets) < 0) {
        fprintf(stderr, "cannot start eddyd\n");
        return 1;
    }
    const char *s = argv[1];
    if (!strcmp(s, "basic"))
        scenario_basic();
    else if (!strcmp(s, "ctp"))
        scenario_ctp();
    else if (!strcmp(s, "fence"))
        scenario_fence();
    else if (!strcmp(s, "timeout"))
        scenario_timeout();
    else if (!strcmp(s, "crash"))
        scenario_crash();
    else if (!strcmp(s, "cli"))
        scenario_cli();
    else if (!strcmp(s, "index"))
        scenario_index();
    else {
        fprintf(stderr, "unknown scenario %s\n", s);
        it_failures++;
    }
    if (it_failures) eh_log_tail(&B, 40);
    if (B.pid > 0) CHECK(eh_stop(&B, 20) == 0, "eddyd stops cleanly");
    eh_cleanup(&B);
    char name[64];
    snprintf(name, sizeof name, "txn_%s", s);
    return it_finish(name);
}
