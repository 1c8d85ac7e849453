/* Unit tests for common/: buffers, varints, CRC-32C, file helpers, HOST:PORT parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "common/addr.h"
#include "common/base64.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/util.h"

static void test_crc32c_check_value(void **state)
{
    (void)state;
    assert_int_equal(crc32c("123456789", 9), 0xE3069283u);
    /* incremental == one shot */
    uint32_t c = crc32c_update(0, "1234", 4);
    c = crc32c_update(c, "56789", 5);
    assert_int_equal(c, 0xE3069283u);
    /* longer unaligned input: hardware and table paths must agree with one-shot */
    uint8_t big[1031];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7 + 3);
    uint32_t whole = crc32c(big + 1, sizeof big - 1);
    uint32_t parts = crc32c_update(crc32c_update(0, big + 1, 13), big + 14, sizeof big - 14);
    assert_int_equal(whole, parts);
}

static void test_varint_zigzag(void **state)
{
    (void)state;
    static const struct {
        int32_t v;
        const char *hex;
    } cases[] = {{0, "\x00"}, {-1, "\x01"}, {1, "\x02"}, {-2, "\x03"}, {64, "\x80\x01"}};
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        wbuf w;
        wbuf_init(&w, 0);
        wbuf_varint(&w, cases[i].v);
        size_t n = cases[i].v == 64 ? 2 : 1;
        assert_int_equal(w.len, n);
        assert_memory_equal(w.data, cases[i].hex, n);
        rbuf r = rbuf_make(w.data, w.len);
        assert_int_equal(rbuf_varint(&r), cases[i].v);
        assert_int_equal(r.err, 0);
        wbuf_free(&w);
    }
    int64_t longs[] = {0, 1, -1, INT64_MAX, INT64_MIN, 1700000000000LL};
    for (size_t i = 0; i < ARRAY_LEN(longs); i++) {
        wbuf w;
        wbuf_init(&w, 0);
        wbuf_varlong(&w, longs[i]);
        rbuf r = rbuf_make(w.data, w.len);
        assert_true(rbuf_varlong(&r) == longs[i]);
        assert_int_equal(rbuf_left(&r), 0);
        wbuf_free(&w);
    }
}

static void test_uvarint_bounds(void **state)
{
    (void)state;
    uint32_t vals[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX};
    for (size_t i = 0; i < ARRAY_LEN(vals); i++) {
        wbuf w;
        wbuf_init(&w, 0);
        wbuf_uvarint(&w, vals[i]);
        rbuf r = rbuf_make(w.data, w.len);
        assert_int_equal(rbuf_uvarint(&r), vals[i]);
        assert_int_equal(r.err, 0);
        /* every truncation fails cleanly */
        for (size_t cut = 0; cut < w.len; cut++) {
            rbuf t = rbuf_make(w.data, cut);
            (void)rbuf_uvarint(&t);
            assert_int_equal(t.err, RBUF_TRUNCATED);
        }
        wbuf_free(&w);
    }
    /* six continuation bytes: too long for a 32-bit varint */
    const uint8_t bad[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    rbuf r = rbuf_make(bad, sizeof bad);
    (void)rbuf_uvarint(&r);
    assert_int_equal(r.err, RBUF_BADVALUE);
}

static void test_reader_sticky_error(void **state)
{
    (void)state;
    const uint8_t b[] = {0, 1, 0, 0, 0, 2};
    rbuf r = rbuf_make(b, sizeof b);
    assert_int_equal(rbuf_i16(&r), 1);
    assert_int_equal(rbuf_i64(&r), 0); /* only 4 left */
    assert_int_equal(r.err, RBUF_TRUNCATED);
    assert_int_equal(rbuf_i8(&r), 0); /* sticky: nothing more is read */
    assert_int_equal(rbuf_left(&r), 0);
    assert_null(rbuf_take(&r, 0));
}

static void test_writer_cap(void **state)
{
    (void)state;
    wbuf w;
    wbuf_init(&w, 10);
    wbuf_i64(&w, 7);
    assert_int_equal(w.err, 0);
    wbuf_i32(&w, 1);
    assert_int_not_equal(w.err, 0);
    assert_int_equal(w.len, 8);
    wbuf_free(&w);
}

static void test_atomic_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/eddy-common-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *sub = xasprintf("%s/a/b", dir);
    assert_int_equal(mkdir_p(sub, 0755), 0);
    char *path = xasprintf("%s/f", sub);
    assert_int_equal(write_file_atomic(path, "hello", 5), 0);
    size_t n = 0;
    char *s = read_file_all(path, &n);
    assert_non_null(s);
    assert_int_equal(n, 5);
    assert_string_equal(s, "hello");
    free(s);
    unlink(path);
    rmdir(sub);
    char *a = xasprintf("%s/a", dir);
    rmdir(a);
    rmdir(dir);
    free(a);
    free(path);
    free(sub);
}

static void test_uuid(void **state)
{
    (void)state;
    char a[37], b[37];
    uuid_v4_str(a);
    uuid_v4_str(b);
    assert_int_equal(strlen(a), 36);
    assert_true(a[14] == '4');
    assert_string_not_equal(a, b);
}

/* RFC 4648 section 10 vectors both ways, url alphabet, and what decoding must refuse. */
static void test_base64(void **state)
{
    (void)state;
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *e = b64_encode_alloc(plain[i], strlen(plain[i]), false);
        assert_string_equal(e, enc[i]);
        free(e);
        size_t n = 99;
        uint8_t *d = b64_decode_alloc(enc[i], strlen(enc[i]), &n);
        assert_non_null(d);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(d, plain[i], n);
        free(d);
    }
    const uint8_t bin[] = {0xfb, 0xff, 0xfe};
    char *u = b64_encode_alloc(bin, 2, true);
    assert_string_equal(u, "-_8");
    size_t n;
    uint8_t *d = b64_decode_alloc(u, strlen(u), &n);
    assert_int_equal(n, 2);
    assert_memory_equal(d, bin, 2);
    free(d);
    free(u);
    const char *bad[] = {"Zg=", "Z", "Zm9v\n", "Zm 9", "Zh==", "Zg===", "=Zg=", "Zm9v*"};
    for (size_t i = 0; i < 8; i++) assert_null(b64_decode_alloc(bad[i], strlen(bad[i]), &n));
}

static void test_parse_hostport(void **state)
{
    (void)state;
    static const struct {
        const char *in, *host;
        int port; /* -1: refused */
    } cases[] = {
        {"127.0.0.1:9092", "127.0.0.1", 9092},
        {"localhost:0", "localhost", 0},
        {":8081", "", 8081},
        {"[::1]:9093", "::1", 9093},
        {"[::]:1", "::", 1},
        {"PLAINTEXT://0.0.0.0:9092", "0.0.0.0", 9092},
        {"http://[fe80::1]:80", "fe80::1", 80},
        {"a:1,b:2", "a", 1},
        {"h:65535", "h", 65535},
        {"h:65536", NULL, -1},
        {"h:", NULL, -1},
        {"h:12x", NULL, -1},
        {"h:-1", NULL, -1},
        {"nohost", NULL, -1},
        {"nohost,b:2", NULL, -1},
        {"[::1:9092", NULL, -1},
        {"", NULL, -1},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char host[64] = "untouched";
        int port = -7;
        int rc = parse_hostport(cases[i].in, host, sizeof host, &port);
        if (cases[i].port < 0) {
            assert_int_equal(rc, -1);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_string_equal(host, cases[i].host);
        assert_int_equal(port, cases[i].port);
    }
    char small[4];
    int port;
    assert_int_equal(parse_hostport("abcd:1", small, sizeof small, &port), -1);
    assert_int_equal(parse_hostport("abc:1", small, sizeof small, &port), 0);
}

static void test_numeric_sockaddr(void **state)
{
    (void)state;
    struct sockaddr_storage sa;
    socklen_t len;
    assert_int_equal(numeric_sockaddr("127.0.0.1", 8080, &sa, &len), 0);
    assert_int_equal(sa.ss_family, AF_INET);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(((struct sockaddr_in *)&sa)->sin_port), 8080);
    assert_int_equal(numeric_sockaddr("", 1, &sa, &len), 0); /* any address */
    assert_int_equal(sa.ss_family, AF_INET);
    assert_int_equal(numeric_sockaddr("::1", 443, &sa, &len), 0);
    assert_int_equal(sa.ss_family, AF_INET6);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&sa)->sin6_port), 443);
    assert_int_equal(numeric_sockaddr("localhost", 1, &sa, &len), -1); /* names: not numeric */
    assert_int_equal(numeric_sockaddr("1.2.3.4", 70000, &sa, &len), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_check_value),
        cmocka_unit_test(test_varint_zigzag),
        cmocka_unit_test(test_uvarint_bounds),
        cmocka_unit_test(test_reader_sticky_error),
        cmocka_unit_test(test_writer_cap),
        cmocka_unit_test(test_atomic_file),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_parse_hostport),
        cmocka_unit_test(test_numeric_sockaddr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
