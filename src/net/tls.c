/* tls — non-blocking server-side TLS on OpenSSL (see tls.h). */
#include "net/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

/* OpenSSL's read buffer: four full records per read() */
#define TLS_READ_AHEAD (4 * (16384 + 256))

struct tls_ctx {
    SSL_CTX *ssl; /* for new connections; open ones hold a reference to theirs */
    char subject[256];
};

struct tls_conn {
    SSL *ssl;
    bool want_write;
    bool ktls;
    char err[200];
};

int tls_client_auth_parse(const char *s)
{
    if (!s || !*s || !strcasecmp(s, "none")) return TLS_CLIENT_AUTH_NONE;
    if (!strcasecmp(s, "requested")) return TLS_CLIENT_AUTH_REQUESTED;
    if (!strcasecmp(s, "required")) return TLS_CLIENT_AUTH_REQUIRED;
    return -1;
}

static void ossl_err(char *err, size_t errlen, const char *what, const char *path)
{
    unsigned long e = ERR_get_error();
    char buf[160] = "";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    snprintf(err, errlen, "%s%s%s%s%s", what, path ? " " : "", path ? path : "", buf[0] ? ": " : "",
             buf);
}

static int pw_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    const char *pw = u;
    if (!pw) return 0;
    int n = (int)strlen(pw);
    if (n > size) n = size;
    memcpy(buf, pw, (size_t)n);
    return n;
}

static int parse_protocols(const char *list, int *min, int *max, char *err, size_t errlen)
{
    *min = 0;
    *max = 0;
    const char *p = list && *list ? list : "TLSv1.2,TLSv1.3";
    while (*p) {
        while (*p == ',' || *p == ' ') p++;
        size_t n = strcspn(p, ", ");
        if (!n) break;
        int v;
        if (n == 7 && !strncmp(p, "TLSv1.2", 7))
            v = TLS1_2_VERSION;
        else if (n == 7 && !strncmp(p, "TLSv1.3", 7))
            v = TLS1_3_VERSION;
        else {
            snprintf(err, errlen,
                     "ssl.enabled.protocols: \"%.*s\" is not supported (TLSv1.2, TLSv1.3)", (int)n,
                     p);
            return -1;
        }
        if (!*min || v < *min) *min = v;
        if (v > *max) *max = v;
        p += n;
    }
    if (!*min) {
        snprintf(err, errlen, "ssl.enabled.protocols is empty");
        return -1;
    }
    return 0;
}

static SSL_CTX *build(const tls_settings *s, char *subject, size_t sublen, char *err, size_t errlen)
{
    int vmin, vmax;
    if (parse_protocols(s->enabled_protocols, &vmin, &vmax, err, errlen) < 0) return NULL;
    const char *chain = s->keystore_location && *s->keystore_location ? s->keystore_location
                                                                      : s->certificate_location;
    const char *key =
        s->keystore_location && *s->keystore_location ? s->keystore_location : s->key_location;
    if (!chain || !*chain || !key || !*key) {
        snprintf(err, errlen,
                 "TLS needs ssl.keystore.location (PEM with the private key and the certificate "
                 "chain), or ssl.certificate.location and ssl.key.location");
        return NULL;
    }
    if (s->client_auth != TLS_CLIENT_AUTH_NONE &&
        (!s->truststore_location || !*s->truststore_location)) {
        snprintf(err, errlen, "ssl.client.auth=%s needs ssl.truststore.location (PEM CA file)",
                 s->client_auth == TLS_CLIENT_AUTH_REQUIRED ? "required" : "requested");
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    if (!c) {
        ossl_err(err, errlen, "SSL_CTX_new", NULL);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c, vmin);
    SSL_CTX_set_max_proto_version(c, vmax);
    long opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    opts |= SSL_OP_IGNORE_UNEXPECTED_EOF; /* a client closing without close_notify is normal */
#endif
#ifdef SSL_OP_ENABLE_KTLS
    if (s->ktls) opts |= SSL_OP_ENABLE_KTLS;
#endif
    SSL_CTX_set_options(c, opts);
    /* no partial writes: one SSL_write sends the whole 64 KiB stage (four records) instead of
     * returning after each record; a write cut by EAGAIN is retried with the same bytes */
    SSL_CTX_set_mode(c, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    /* read ahead into a buffer of several records: without it every record costs two read()s
     * (its 5-byte header, then its body), which made the read syscalls, not AES-GCM, most of a
     * TLS producer's cost in eddyd */
    SSL_CTX_set_read_ahead(c, 1);
    SSL_CTX_set_default_read_buffer_len(c, TLS_READ_AHEAD);
    SSL_CTX_set_session_id_context(c, (const unsigned char *)"eddyd", 5);
    const char *pw = s->key_password && *s->key_password ? s->key_password : NULL;
    SSL_CTX_set_default_passwd_cb(c, pw_cb);
    SSL_CTX_set_default_passwd_cb_userdata(c, (void *)pw);
    if (s->cipher_suites && *s->cipher_suites && !SSL_CTX_set_cipher_list(c, s->cipher_suites)) {
        ossl_err(err, errlen, "ssl.cipher.suites: no usable cipher in", s->cipher_suites);
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(c, chain) != 1) {
        ossl_err(err, errlen, "cannot read the certificate chain from", chain);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1) {
        ossl_err(err, errlen, "cannot read the private key from", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(c) != 1) {
        ossl_err(err, errlen, "the private key does not match the certificate in", chain);
        goto fail;
    }
    if (s->truststore_location && *s->truststore_location) {
        if (SSL_CTX_load_verify_locations(c, s->truststore_location, NULL) != 1) {
            ossl_err(err, errlen, "cannot read CA certificates from", s->truststore_location);
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(s->truststore_location);
        if (names) SSL_CTX_set_client_CA_list(c, names);
    }
    int mode = SSL_VERIFY_NONE;
    if (s->client_auth == TLS_CLIENT_AUTH_REQUESTED) mode = SSL_VERIFY_PEER;
    if (s->client_auth == TLS_CLIENT_AUTH_REQUIRED)
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(c, mode, NULL);
    X509 *own = SSL_CTX_get0_certificate(c);
    subject[0] = 0;
    if (own) {
        BIO *b = BIO_new(BIO_s_mem());
        X509_NAME_print_ex(b, X509_get_subject_name(own), 0, XN_FLAG_RFC2253);
        int n = BIO_read(b, subject, (int)sublen - 1);
        subject[n > 0 ? n : 0] = 0;
        BIO_free(b);
    }
    return c;
fail:
    SSL_CTX_free(c);
    return NULL;
}

tls_ctx *tls_ctx_new(const tls_settings *s, char *err, size_t errlen)
{
    tls_ctx *t = xcalloc(1, sizeof *t);
    t->ssl = build(s, t->subject, sizeof t->subject, err, errlen);
    if (!t->ssl) {
        free(t);
        return NULL;
    }
    return t;
}

int tls_ctx_reload(tls_ctx *t, const tls_settings *s, char *err, size_t errlen)
{
    char subject[256];
    SSL_CTX *n = build(s, subject, sizeof subject, err, errlen);
    if (!n) return -1;
    SSL_CTX_free(t->ssl); /* connections still using it hold their own reference */
    t->ssl = n;
    memcpy(t->subject, subject, sizeof subject);
    return 0;
}

void tls_ctx_free(tls_ctx *t)
{
    if (!t) return;
    SSL_CTX_free(t->ssl);
    free(t);
}

const char *tls_ctx_subject(const tls_ctx *t)
{
    return t->subject;
}

tls_conn *tls_conn_new(tls_ctx *c, int fd)
{
    SSL *ssl = SSL_new(c->ssl);
    if (!ssl) return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    tls_conn *t = xcalloc(1, sizeof *t);
    t->ssl = ssl;
    return t;
}

void tls_conn_free(tls_conn *t)
{
    if (!t) return;
    SSL_free(t->ssl);
    free(t);
}

/* Maps an SSL_* result to TLS_AGAIN (want read / write) or TLS_ERR (message kept). */
static int classify(tls_conn *t, int rc, const char *what)
{
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ) {
        t->want_write = false;
        return TLS_AGAIN;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        t->want_write = true;
        return TLS_AGAIN;
    }
    unsigned long oe = ERR_get_error();
    if (oe) {
        char buf[160];
        ERR_error_string_n(oe, buf, sizeof buf);
        const char *reason = ERR_reason_error_string(oe);
        snprintf(t->err, sizeof t->err, "%s: %s", what, reason ? reason : buf);
        if (SSL_get_verify_result(t->ssl) != X509_V_OK)
            snprintf(t->err, sizeof t->err, "%s: client certificate: %s", what,
                     X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
    } else if (e == SSL_ERROR_SYSCALL) {
        snprintf(t->err, sizeof t->err, "%s: %s", what,
                 errno ? strerror(errno) : "peer closed the connection");
    } else if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(t->err, sizeof t->err, "%s: peer closed the TLS session", what);
    } else {
        snprintf(t->err, sizeof t->err, "%s: TLS error %d", what, e);
    }
    ERR_clear_error();
    return TLS_ERR;
}

int tls_handshake(tls_conn *t)
{
    ERR_clear_error();
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        t->want_write = false;
#ifdef BIO_get_ktls_send
        t->ktls = BIO_get_ktls_send(SSL_get_wbio(t->ssl)) != 0;
#endif
        return TLS_OK;
    }
    return classify(t, rc, "TLS handshake");
}

bool tls_want_write(const tls_conn *t)
{
    return t->want_write;
}

const char *tls_error(const tls_conn *t)
{
    return t->err[0] ? t->err : "TLS error";
}

const char *tls_version(const tls_conn *t)
{
    return SSL_get_version(t->ssl);
}

bool tls_ktls_send(const tls_conn *t)
{
    return t->ktls;
}

bool tls_peer_subject(const tls_conn *t, char *out, size_t outlen)
{
    X509 *peer = SSL_get1_peer_certificate(t->ssl);
    if (!peer) return false;
    bool ok = SSL_get_verify_result(t->ssl) == X509_V_OK;
    if (ok) {
        BIO *b = BIO_new(BIO_s_mem());
        X509_NAME_print_ex(b, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253);
        int n = BIO_read(b, out, (int)outlen - 1);
        out[n > 0 ? n : 0] = 0;
        BIO_free(b);
        ok = n > 0;
    }
    X509_free(peer);
    return ok;
}

ssize_t tls_read(tls_conn *t, void *buf, size_t n)
{
    ERR_clear_error();
    size_t got = 0;
    int rc = SSL_read_ex(t->ssl, buf, n, &got);
    if (rc == 1) return (ssize_t)got;
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0) return 0; /* unclean EOF */
    if (classify(t, rc, "TLS read") == TLS_AGAIN) {
        errno = EAGAIN;
        return -1;
    }
    errno = EIO;
    return -1;
}

ssize_t tls_write(tls_conn *t, const void *buf, size_t n)
{
    ERR_clear_error();
    size_t put = 0;
    int rc = SSL_write_ex(t->ssl, buf, n, &put);
    if (rc == 1) return (ssize_t)put;
    if (classify(t, rc, "TLS write") == TLS_AGAIN) {
        errno = EAGAIN;
        return -1;
    }
    errno = EIO;
    return -1;
}

bool tls_buffered(const tls_conn *t)
{
    return SSL_has_pending(t->ssl) == 1;
}

ssize_t tls_sendfile(tls_conn *t, int fd, off_t off, size_t len)
{
#ifdef SSL_OP_ENABLE_KTLS
    ERR_clear_error();
    ossl_ssize_t n = SSL_sendfile(t->ssl, fd, off, len, 0);
    if (n >= 0) return (ssize_t)n;
    if (classify(t, (int)n, "TLS sendfile") == TLS_AGAIN) {
        errno = EAGAIN;
        return -1;
    }
    errno = EIO;
    return -1;
#else
    (void)t;
    (void)fd;
    (void)off;
    (void)len;
    errno = ENOTSUP;
    return -1;
#endif
}
