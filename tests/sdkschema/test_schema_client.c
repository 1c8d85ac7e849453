/* test_schema_client.c — unit tests of libeddy's registry client and its HTTP/1.1 client
 * (src/sdkschema/schema.c, httpc.c) against a scripted server on a loopback port: chunked and
 * close-delimited answers, the response size cap, the timeout, 5xx (transient), a non-JSON
 * schema type, subject percent-encoding, the 409 message when its details cannot be parsed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy/schema.h"

typedef struct fake {
    int lfd;
    int port;
    pthread_t th;
    const char *answer; /* NULL: say nothing until the client goes away */
    size_t answer_len;
    size_t pad;         /* extra body bytes of 'x' sent after answer */
    char request[2048]; /* the first request line + headers seen */
} fake;

static void *serve(void *arg)
{
    fake *f = arg;
    int c = accept(f->lfd, NULL, NULL);
    if (c < 0) return NULL;
    size_t n = 0;
    while (n + 1 < sizeof f->request) {
        ssize_t r = recv(c, f->request + n, sizeof f->request - n - 1, 0);
        if (r <= 0) break;
        n += (size_t)r;
        f->request[n] = 0;
        char *e = strstr(f->request, "\r\n\r\n");
        if (!e) continue;
        char *cl = strstr(f->request, "Content-Length: ");
        size_t want = (size_t)(e + 4 - f->request) + (cl ? (size_t)atol(cl + 16) : 0);
        if (n >= want) break;
    }
    if (f->answer) {
        (void)!send(c, f->answer, f->answer_len, MSG_NOSIGNAL);
        char chunk[65536];
        memset(chunk, 'x', sizeof chunk);
        for (size_t left = f->pad; left;) {
            size_t k = left < sizeof chunk ? left : sizeof chunk;
            if (send(c, chunk, k, MSG_NOSIGNAL) <= 0) break;
            left -= k;
        }
    } else {
        struct pollfd p = {.fd = c, .events = POLLIN};
        poll(&p, 1, 10000);
    }
    close(c);
    return NULL;
}

static void fake_start(fake *f, const char *answer, size_t pad)
{
    memset(f, 0, sizeof *f);
    f->answer = answer;
    f->answer_len = answer ? strlen(answer) : 0;
    f->pad = pad;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(f->lfd, 4), 0);
    socklen_t sl = sizeof a;
    getsockname(f->lfd, (struct sockaddr *)&a, &sl);
    f->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&f->th, NULL, serve, f), 0);
}

static void fake_stop(fake *f)
{
    pthread_join(f->th, NULL);
    close(f->lfd);
}

static eddy_schema_registry *client(const fake *f)
{
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", f->port);
    eddy_schema_registry *r = eddy_schema_registry_new(url, err, sizeof err);
    assert_non_null(r);
    eddy_schema_registry_set_timeout(r, 500);
    return r;
}

/* One validate call against a server giving `answer`; returns rc, err filled. */
static int one(const char *answer, size_t pad, const char *topic, json_t *payload, char *err,
               size_t errlen, char *request_out)
{
    fake f;
    fake_start(&f, answer, pad);
    eddy_schema_registry *r = client(&f);
    int rc = eddy_schema_validate(r, topic, "1.0", payload, err, errlen);
    eddy_schema_registry_free(r);
    fake_stop(&f);
    if (request_out) strcpy(request_out, f.request);
    return rc;
}

static void test_chunked(void **state)
{
    (void)state;
    const char *ans = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"
                      "10\r\n{\"subject\":\"t-va\r\n"
                      "4e\r\nlue\",\"version\":1,\"id\":1,\"schemaType\":\"JSON\","
                      "\"schema\":\"{\\\"type\\\":\\\"integer\\\"}\"}\r\n"
                      "0\r\n\r\n";
    char err[512], req[2048];
    json_t *p = json_string("x");
    int rc = one(ans, 0, "my topic", p, err, sizeof err, req);
    json_decref(p);
    fprintf(stderr, "chunked: rc %d %s\n", rc, err);
    assert_int_equal(rc, EDDY_ERR_PERMANENT);
    assert_non_null(strstr(err, "payload: \"x\" is string, expected type integer"));
    assert_non_null(strstr(req, "GET /subjects/my%20topic-value/versions/1 HTTP/1.1\r\n"));
}

static void test_close_delimited(void **state)
{
    (void)state;
    const char *ans = "HTTP/1.0 200 OK\r\n\r\n"
                      "{\"subject\":\"t-value\",\"version\":1,\"id\":1,\"schemaType\":\"JSON\","
                      "\"schema\":\"{\\\"type\\\":\\\"integer\\\"}\"}";
    char err[512];
    json_t *p = json_integer(3);
    assert_int_equal(one(ans, 0, "t", p, err, sizeof err, NULL), 0);
    json_decref(p);
}

static void test_size_cap(void **state)
{
    (void)state;
    const char *ans = "HTTP/1.1 200 OK\r\nContent-Length: 6000000\r\n\r\n";
    char err[512];
    json_t *p = json_integer(3);
    int rc = one(ans, 0, "t", p, err, sizeof err, NULL);
    assert_int_equal(rc, EDDY_ERR_PERMANENT);
    assert_non_null(strstr(err, "over"));
    /* no Content-Length, 6 MB of body */
    rc = one("HTTP/1.1 200 OK\r\n\r\n", 6000000, "t", p, err, sizeof err, NULL);
    fprintf(stderr, "size cap: %s\n", err);
    assert_int_equal(rc, EDDY_ERR_PERMANENT);
    assert_non_null(strstr(err, "over"));
    json_decref(p);
}

static void test_timeout(void **state)
{
    (void)state;
    char err[512];
    json_t *p = json_integer(3);
    int rc = one(NULL, 0, "t", p, err, sizeof err, NULL);
    fprintf(stderr, "timeout: %s\n", err);
    assert_int_equal(rc, EDDY_ERR_TRANSIENT);
    assert_non_null(strstr(err, "no answer"));
    json_decref(p);
}

static void test_5xx_and_garbage(void **state)
{
    (void)state;
    char err[512];
    json_t *p = json_integer(3);
    const char *e500 = "HTTP/1.1 500 Internal\r\nContent-Length: 45\r\n\r\n"
                       "{\"error_code\":50001,\"message\":\"fsync failed\"}";
    assert_int_equal(one(e500, 0, "t", p, err, sizeof err, NULL), EDDY_ERR_TRANSIENT);
    assert_non_null(strstr(err, "HTTP 500: fsync failed"));
    assert_int_equal(one("SSH-2.0-OpenSSH\r\n\r\n", 0, "t", p, err, sizeof err, NULL),
                     EDDY_ERR_TRANSIENT);
    assert_non_null(strstr(err, "malformed"));
    const char *trunc = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\":";
    assert_int_equal(one(trunc, 0, "t", p, err, sizeof err, NULL), EDDY_ERR_TRANSIENT);
    assert_non_null(strstr(err, "truncated"));
    json_decref(p);
}

static void test_avro_unusable(void **state)
{
    (void)state;
    const char *ans = "HTTP/1.1 200 OK\r\nContent-Length: 62\r\n\r\n"
                      "{\"subject\":\"t-value\",\"version\":1,\"id\":7,"
                      "\"schema\":\"\\\"string\\\"\"}";
    char err[512];
    json_t *p = json_integer(3);
    assert_int_equal(one(ans, 0, "t", p, err, sizeof err, NULL), EDDY_ERR_PERMANENT);
    fprintf(stderr, "avro: %s\n", err);
    assert_non_null(strstr(err, "JSON Schema only"));
    json_decref(p);
}

static void test_409_raw(void **state)
{
    (void)state;
    const char *ans = "HTTP/1.1 409 Conflict\r\nContent-Length: 48\r\n\r\n"
                      "{\"error_code\":409,\"message\":\"types differ here\"}";
    fake f;
    fake_start(&f, ans, 0);
    eddy_schema_registry *r = client(&f);
    char err[512];
    int rc =
        eddy_schema_register(r, "t-value", "{\"type\":\"string\"}", NULL, NULL, err, sizeof err);
    eddy_schema_registry_free(r);
    fake_stop(&f);
    assert_int_equal(rc, EDDY_ERR_PERMANENT);
    assert_non_null(strstr(err, "(409): types differ here"));
    assert_non_null(strstr(f.request, "POST /subjects/t-value/versions HTTP/1.1\r\n"));
    assert_non_null(strstr(f.request, "\"schemaType\":\"JSON\""));
}

static void test_register_refuses_bad_schema_locally(void **state)
{
    (void)state;
    eddy_schema_registry *r = eddy_schema_registry_new("http://127.0.0.1:1", NULL, 0);
    assert_non_null(r);
    char err[512];
    assert_int_equal(eddy_schema_register(r, "t-value", "{\"type\":", NULL, NULL, err, sizeof err),
                     EDDY_ERR_PERMANENT);
    assert_non_null(strstr(err, "not JSON"));
    assert_int_equal(
        eddy_schema_register(r, "t-value", "{\"pattern\":\"(?<=a)\"}", NULL, NULL, err, sizeof err),
        EDDY_ERR_PERMANENT);
    assert_non_null(strstr(err, "cannot be used"));
    assert_int_equal(eddy_schema_registry_requests(r), 0);
    eddy_schema_registry_free(r);
}

/* Basic credentials: from the URL's user info (percent-decoded), replaced by
 * EDDY_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO when set; a URL of another scheme is refused. */
static void test_basic_auth(void **state)
{
    (void)state;
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]";
    char err[256], url[128];
    for (int pass = 0; pass < 2; pass++) {
        if (pass) setenv("EDDY_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "carol:x:y", 1);
        fake f;
        fake_start(&f, ok, 0);
        snprintf(url, sizeof url, "http://bob:p%%40ss@127.0.0.1:%d", f.port);
        eddy_schema_registry *r = eddy_schema_registry_new(url, err, sizeof err);
        assert_non_null(r);
        eddy_schema_registry_set_timeout(r, 2000);
        json_t *p = json_object();
        eddy_schema_validate(r, "t", "1.0", p, err, sizeof err);
        json_decref(p);
        eddy_schema_registry_free(r);
        fake_stop(&f);
        /* bob:p@ss → Ym9iOnBAc3M=, carol:x:y → Y2Fyb2w6eDp5 */
        assert_non_null(strstr(f.request, pass ? "Authorization: Basic Y2Fyb2w6eDp5\r\n"
                                               : "Authorization: Basic Ym9iOnBAc3M=\r\n"));
        assert_null(strstr(f.request, "bob@"));
    }
    unsetenv("EDDY_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO");
    assert_null(eddy_schema_registry_new("ftp://127.0.0.1:1", err, sizeof err));
    assert_non_null(strstr(err, "http[s]://"));
    assert_null(eddy_schema_registry_new("http://a%zz@127.0.0.1:1", err, sizeof err));
}

/* https:// to a server that does not speak TLS: a transient error naming the handshake, within
 * the timeout, never a hang or a crash. */
static void test_https_to_plain_server(void **state)
{
    (void)state;
    static const char junk[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]";
    fake f;
    fake_start(&f, junk, 0);
    char url[64], err[256] = "";
    snprintf(url, sizeof url, "https://127.0.0.1:%d", f.port);
    eddy_schema_registry *r = eddy_schema_registry_new(url, err, sizeof err);
    assert_non_null(r);
    eddy_schema_registry_set_timeout(r, 300);
    json_t *p = json_object();
    int rc = eddy_schema_validate(r, "t", "1.0", p, err, sizeof err);
    json_decref(p);
    eddy_schema_registry_free(r);
    fake_stop(&f);
    assert_int_equal(rc, EDDY_ERR_TRANSIENT);
    assert_non_null(strstr(err, "TLS"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_close_delimited),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_5xx_and_garbage),
        cmocka_unit_test(test_avro_unusable),
        cmocka_unit_test(test_409_raw),
        cmocka_unit_test(test_register_refuses_bad_schema_locally),
        cmocka_unit_test(test_basic_auth),
        cmocka_unit_test(test_https_to_plain_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
