/* txn.c — `eddy txn list|describe ID...|abort ID`: the transactions of a Kafka-protocol cluster.
 * list and describe send ListTransactions v0 / DescribeTransactions v0 (KIP-664) straight to the
 * first bootstrap broker (librdkafka has no Admin API for them), over a plain TCP connection;
 * abort initializes a transactional producer with the id through librdkafka, which fences the
 * old producer and makes the coordinator abort its open transaction. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/buf.h"

static const char *const k_usage =
    "usage: eddy txn list [--state STATE]... [--json]\n"
    "       eddy txn describe ID... [--json]\n"
    "       eddy txn abort ID\n"
    "  list      every transactional id: producer id and state (Empty, Ongoing,\n"
    "            PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort); --state filters\n"
    "  describe  state, producer id and epoch, timeout, start time and the partitions of the\n"
    "            open transaction\n"
    "  abort     ends a hanging transaction of ID: a producer with that transactional.id is\n"
    "            initialized, which fences the old producer and aborts its open transaction\n";

/* ------------------------------------------------------------------ raw requests ---- */

static int dial(void)
{
    char host[256];
    const char *bs = g_cli.bootstrap;
    const char *comma = strchr(bs, ',');
    size_t n = comma ? (size_t)(comma - bs) : strlen(bs);
    if (n >= sizeof host) return -1;
    memcpy(host, bs, n);
    host[n] = 0;
    char *colon = strrchr(host, ':');
    const char *port = "9092";
    if (colon) {
        *colon = 0;
        port = colon + 1;
    }
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {g_cli.timeout_ms / 1000, (g_cli.timeout_ms % 1000) * 1000};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

static int io_all(int fd, void *p, size_t n, int wr)
{
    uint8_t *b = p;
    while (n) {
        ssize_t k = wr ? write(fd, b, n) : read(fd, b, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Sends one flexible request (header v2) and returns the response body after the header's
 * tagged fields (malloc'ed), or NULL. */
static uint8_t *request(int16_t api, const wbuf *body, size_t *len)
{
    int fd = dial();
    if (fd < 0) return NULL;
    wbuf w;
    wbuf_init(&w, 0);
    wbuf_i32(&w, 0);
    wbuf_i16(&w, api);
    wbuf_i16(&w, 0);
    wbuf_i32(&w, 1);
    wbuf_i16(&w, 8);
    wbuf_put(&w, "eddy-cli", 8);
    wbuf_uvarint(&w, 0);
    wbuf_put(&w, body->data, body->len);
    put_be32(w.data, (uint32_t)(w.len - 4));
    uint8_t hdr[4], *resp = NULL;
    if (io_all(fd, w.data, w.len, 1) == 0 && io_all(fd, hdr, 4, 0) == 0) {
        uint32_t n = be32(hdr);
        if (n >= 5 && n < (64u << 20)) {
            resp = malloc(n);
            if (resp && io_all(fd, resp, n, 0) == 0) {
                *len = n;
            } else {
                free(resp);
                resp = NULL;
            }
        }
    }
    wbuf_free(&w);
    close(fd);
    return resp;
}

static void put_cstr(wbuf *w, const char *s)
{
    size_t n = strlen(s);
    wbuf_uvarint(w, (uint32_t)n + 1);
    wbuf_put(w, s, n);
}

static char *get_cstr(rbuf *r)
{
    uint32_t n = rbuf_uvarint(r);
    if (n == 0) return strdup("");
    const uint8_t *p = rbuf_take(r, n - 1);
    return p ? strndup((const char *)p, n - 1) : strdup("");
}

static void skip_tags(rbuf *r)
{
    uint32_t n = rbuf_uvarint(r);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        rbuf_uvarint(r);
        rbuf_skip(r, rbuf_uvarint(r));
    }
}

/* ------------------------------------------------------------------ commands ---- */

static int do_list(const char **states, int nstates)
{
    wbuf b;
    wbuf_init(&b, 0);
    wbuf_uvarint(&b, (uint32_t)nstates + 1);
    for (int i = 0; i < nstates; i++) put_cstr(&b, states[i]);
    wbuf_uvarint(&b, 1); /* no producer id filter */
    wbuf_uvarint(&b, 0);
    size_t len = 0;
    uint8_t *resp = request(66, &b, &len);
    wbuf_free(&b);
    if (!resp)
        return cli_fail(CLI_EUNREACHABLE, "no answer to ListTransactions from %s", g_cli.bootstrap);
    rbuf r = rbuf_make(resp + 4, len - 4); /* after the correlation id */
    skip_tags(&r);
    rbuf_i32(&r);
    int16_t err = rbuf_i16(&r);
    uint32_t nu = rbuf_uvarint(&r);
    for (uint32_t i = 1; i < nu && !r.err; i++) free(get_cstr(&r));
    uint32_t n = rbuf_uvarint(&r);
    json_t *arr = json_array();
    if (!g_cli.json && n > 1)
        printf("%-40s %12s  %s\n", "TRANSACTIONAL ID", "PRODUCER ID", "STATE");
    for (uint32_t i = 1; i < n && !r.err; i++) {
        char *id = get_cstr(&r);
        int64_t pid = rbuf_i64(&r);
        char *st = get_cstr(&r);
        skip_tags(&r);
        if (g_cli.json)
            json_array_append_new(arr, json_pack("{s:s,s:I,s:s}", "transactional_id", id,
                                                 "producer_id", (json_int_t)pid, "state", st));
        else
            printf("%-40s %12" PRId64 "  %s\n", id, pid, st);
        free(id);
        free(st);
    }
    int rc = r.err ? cli_fail(CLI_EFAIL, "malformed ListTransactions answer")
             : err ? cli_fail(CLI_EFAIL, "ListTransactions: error %d", err)
                   : CLI_OK;
    if (rc == CLI_OK && g_cli.json)
        cli_json_print(arr); /* takes the reference */
    else
        json_decref(arr);
    free(resp);
    return rc;
}

static int do_describe(char **ids, int nids)
{
    wbuf b;
    wbuf_init(&b, 0);
    wbuf_uvarint(&b, (uint32_t)nids + 1);
    for (int i = 0; i < nids; i++) put_cstr(&b, ids[i]);
    wbuf_uvarint(&b, 0);
    size_t len = 0;
    uint8_t *resp = request(65, &b, &len);
    wbuf_free(&b);
    if (!resp)
        return cli_fail(CLI_EUNREACHABLE, "no answer to DescribeTransactions from %s",
                        g_cli.bootstrap);
    rbuf r = rbuf_make(resp + 4, len - 4);
    skip_tags(&r);
    rbuf_i32(&r);
    uint32_t n = rbuf_uvarint(&r);
    int rc = CLI_OK;
    json_t *arr = json_array();
    for (uint32_t i = 1; i < n && !r.err; i++) {
        int16_t err = rbuf_i16(&r);
        char *id = get_cstr(&r), *st = get_cstr(&r);
        int32_t timeout = rbuf_i32(&r);
        int64_t start = rbuf_i64(&r), pid = rbuf_i64(&r);
        int16_t epoch = rbuf_i16(&r);
        json_t *parts = json_array();
        uint32_t nt = rbuf_uvarint(&r);
        for (uint32_t t = 1; t < nt && !r.err; t++) {
            char *topic = get_cstr(&r);
            uint32_t np = rbuf_uvarint(&r);
            for (uint32_t p = 1; p < np && !r.err; p++)
                json_array_append_new(
                    parts, json_pack("{s:s,s:i}", "topic", topic, "partition", (int)rbuf_i32(&r)));
            skip_tags(&r);
            free(topic);
        }
        skip_tags(&r);
        if (err) {
            rc = err == 105 ? CLI_ENOTFOUND : CLI_EFAIL;
            cli_fail(rc, "%s: %s", id, err == 105 ? "no such transactional id" : "error");
        } else if (g_cli.json) {
            json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:i,s:i,s:I,s:O}",
                                                 "transactional_id", id, "state", st, "producer_id",
                                                 (json_int_t)pid, "producer_epoch", epoch,
                                                 "timeout_ms", timeout, "start_time_ms",
                                                 (json_int_t)start, "partitions", parts));
        } else {
            printf("transactional id  %s\nstate             %s\nproducer id       %" PRId64
                   "\nproducer epoch    %d\ntimeout           %d ms\n",
                   id, st, pid, epoch, timeout);
            if (start >= 0) printf("started           %" PRId64 " (epoch ms)\n", start);
            for (size_t k = 0; k < json_array_size(parts); k++) {
                json_t *e = json_array_get(parts, k);
                printf("partition         %s[%d]\n", json_string_value(json_object_get(e, "topic")),
                       (int)json_integer_value(json_object_get(e, "partition")));
            }
        }
        json_decref(parts);
        free(id);
        free(st);
    }
    if (r.err) rc = cli_fail(CLI_EFAIL, "malformed DescribeTransactions answer");
    if (g_cli.json && rc == CLI_OK)
        cli_json_print(arr); /* takes the reference */
    else
        json_decref(arr);
    free(resp);
    return rc;
}

static int do_abort(const char *id)
{
    char tid[600];
    snprintf(tid, sizeof tid, "transactional.id=%s", id);
    const char *extra[] = {tid};
    rd_kafka_t *rk = cli_client(RD_KAFKA_PRODUCER, extra, 1);
    if (!rk) return CLI_EFAIL;
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, g_cli.timeout_ms);
    int rc = CLI_OK;
    if (e) {
        rc = cli_fail(CLI_EFAIL, "%s: %s", id, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else {
        printf("%s: the old producer is fenced and its open transaction (if any) aborted\n", id);
    }
    rd_kafka_destroy(rk);
    return rc;
}

int cmd_txn(int argc, char **argv)
{
    enum { O_STATE = 1000 };
    static const struct option lo[] = {
        CLI_GLOBAL_LONGOPTS,
        {"state", required_argument, NULL, O_STATE},
        {NULL, 0, NULL, 0},
    };
    const char *states[16];
    int nstates = 0, c, rc;
    while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS, lo, k_usage, &rc)) != -1) {
        switch (c) {
        case CLI_OPT_EXIT: return rc;
        case O_STATE:
            if (nstates < 16) states[nstates++] = optarg;
            break;
        }
    }
    if (optind >= argc) return cli_usage_error(k_usage, "which txn subcommand?");
    const char *sub = argv[optind++];
    if (!strcmp(sub, "list")) return do_list(states, nstates);
    if (!strcmp(sub, "describe")) {
        if (optind >= argc) return cli_usage_error(k_usage, "describe needs transactional ids");
        return do_describe(argv + optind, argc - optind);
    }
    if (!strcmp(sub, "abort")) {
        if (optind + 1 != argc) return cli_usage_error(k_usage, "abort needs one transactional id");
        return do_abort(argv[optind]);
    }
    return cli_usage_error(k_usage, "unknown txn subcommand \"%s\"", sub);
}
