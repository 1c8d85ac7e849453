/* users — `eddy users add|list|delete`: SCRAM users through Kafka's own APIs
 * (AlterUserScramCredentials / DescribeUserScramCredentials, KIP-554).
 *
 * librdkafka 2.0 has no call for these APIs, so this file speaks them itself on one blocking
 * connection to the first bootstrap server, with the same client settings as every other
 * command (-X or EDDY_KAFKA_*: security.protocol, sasl.mechanisms, sasl.username,
 * sasl.password, ssl.ca.location, ssl.certificate.location, ssl.key.location): TLS on OpenSSL,
 * SASL PLAIN or SCRAM-SHA-256/512 (RFC 5802 client side). The password of a new user never
 * leaves this process: it is salted and iterated here (PBKDF2) and only the salted password is
 * sent, as Kafka's tools do.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "common/base64.h"
#include "common/buf.h"
#include "common/util.h"

typedef struct kconn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    int32_t corr;
} kconn;

/* A client setting: -X key=value, else EDDY_KAFKA_<KEY_WITH_UNDERSCORES>. */
static const char *setting(const char *key)
{
    size_t kl = strlen(key);
    for (int i = g_cli.nprops - 1; i >= 0; i--)
        if (!strncmp(g_cli.props[i], key, kl) && g_cli.props[i][kl] == '=')
            return g_cli.props[i] + kl + 1;
    char env[128] = "EDDY_KAFKA_";
    size_t o = strlen(env);
    for (const char *p = key; *p && o + 1 < sizeof env; p++)
        env[o++] = *p == '.' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    env[o] = 0;
    const char *v = getenv(env);
    return v && *v ? v : NULL;
}

static int io_all(kconn *k, void *buf, size_t n, bool wr)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r;
        if (k->ssl) {
            size_t done = 0;
            int ok = wr ? SSL_write_ex(k->ssl, p, n, &done) : SSL_read_ex(k->ssl, p, n, &done);
            r = ok ? (ssize_t)done : -1;
        } else {
            r = wr ? send(k->fd, p, n, MSG_NOSIGNAL) : recv(k->fd, p, n, 0);
        }
        if (r < 0 && !k->ssl && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Sends one request (header v1, or v2 when flexible) and returns the response body after the
 * correlation id (and the header's tagged fields when flexible); NULL when the connection
 * closed. *len receives its length; free() it. */
static uint8_t *roundtrip(kconn *k, int16_t key, int16_t ver, bool flex, const wbuf *body,
                          size_t *len)
{
    wbuf w;
    wbuf_init(&w, 64 + body->len);
    wbuf_i32(&w, 0);
    wbuf_i16(&w, key);
    wbuf_i16(&w, ver);
    wbuf_i32(&w, ++k->corr);
    wbuf_i16(&w, 8);
    wbuf_put(&w, "eddy-cli", 8);
    if (flex) wbuf_uvarint(&w, 0);
    wbuf_put(&w, body->data, body->len);
    wbuf_patch_i32(&w, 0, (int32_t)(w.len - 4));
    int rc = io_all(k, w.data, w.len, true);
    wbuf_free(&w);
    uint8_t hdr[4];
    if (rc < 0 || io_all(k, hdr, 4, false) < 0) return NULL;
    uint32_t n =
        ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) | ((uint32_t)hdr[2] << 8) | hdr[3];
    if (n < 4 || n > (64u << 20)) return NULL;
    uint8_t *d = xmalloc(n);
    if (io_all(k, d, n, false) < 0) {
        free(d);
        return NULL;
    }
    size_t skip = 4 + (flex ? 1 : 0);
    if (n < skip) {
        free(d);
        return NULL;
    }
    memmove(d, d + skip, n - skip);
    *len = n - skip;
    return d;
}

static void put_str(wbuf *w, const char *s, size_t n)
{
    wbuf_i16(w, (int16_t)n);
    wbuf_put(w, s, n);
}
static void put_bytes(wbuf *w, const void *p, size_t n)
{
    wbuf_i32(w, (int32_t)n);
    wbuf_put(w, p, n);
}
static void put_cstr(wbuf *w, const void *p, size_t n) /* compact string / bytes */
{
    wbuf_uvarint(w, (uint32_t)n + 1);
    wbuf_put(w, p, n);
}
static char *get_cstr(rbuf *r) /* compact nullable string, malloc'ed ("" for null) */
{
    uint32_t n = rbuf_uvarint(r);
    const uint8_t *p = n > 1 ? rbuf_take(r, n - 1) : NULL;
    return p ? xstrndup((const char *)p, n - 1) : xstrdup("");
}

/* ---- SASL ---- */

static const EVP_MD *md_of(const char *mech)
{
    return strstr(mech, "512") ? EVP_sha512() : EVP_sha256();
}

/* One SaslAuthenticate v1 round; returns the server's bytes (malloc'ed) or NULL with why. */
static uint8_t *sasl_round(kconn *k, const void *tok, size_t n, size_t *outlen, char *why,
                           size_t whylen)
{
    wbuf b;
    wbuf_init(&b, n + 8);
    put_bytes(&b, tok, n);
    size_t len;
    uint8_t *d = roundtrip(k, 36, 1, false, &b, &len);
    wbuf_free(&b);
    if (!d) {
        snprintf(why, whylen, "the broker closed the connection during authentication");
        return NULL;
    }
    rbuf r = rbuf_make(d, len);
    int16_t err = rbuf_i16(&r);
    int16_t ml = rbuf_i16(&r);
    const uint8_t *msg = ml > 0 ? rbuf_take(&r, (size_t)ml) : NULL;
    int32_t bl = rbuf_i32(&r);
    const uint8_t *bytes = bl > 0 ? rbuf_take(&r, (size_t)bl) : NULL;
    uint8_t *out = NULL;
    if (r.err || err) {
        snprintf(why, whylen, "authentication failed: %.*s", msg ? (int)ml : 24,
                 msg ? (const char *)msg : "malformed broker answer");
    } else {
        out = xmalloc(bl > 0 ? (size_t)bl + 1 : 1);
        if (bl > 0) memcpy(out, bytes, (size_t)bl);
        out[bl > 0 ? bl : 0] = 0;
        *outlen = bl > 0 ? (size_t)bl : 0;
    }
    free(d);
    return out;
}

static int sasl_login(kconn *k, const char *mech, char *why, size_t whylen)
{
    const char *user = setting("sasl.username"), *pw = setting("sasl.password");
    if (!user || !pw) {
        snprintf(why, whylen, "SASL needs sasl.username and sasl.password (-X or EDDY_KAFKA_*)");
        return -1;
    }
    wbuf b;
    wbuf_init(&b, 32);
    put_str(&b, mech, strlen(mech));
    size_t len;
    uint8_t *d = roundtrip(k, 17, 1, false, &b, &len);
    wbuf_free(&b);
    if (!d || len < 2 || (d[0] | d[1])) {
        snprintf(why, whylen, "the broker refused SASL mechanism %s", mech);
        free(d);
        return -1;
    }
    free(d);
    size_t ol;
    if (!strcasecmp(mech, "PLAIN")) {
        size_t ul = strlen(user), pl = strlen(pw);
        char *tok = xmalloc(ul + pl + 2);
        tok[0] = 0;
        memcpy(tok + 1, user, ul);
        tok[1 + ul] = 0;
        memcpy(tok + 2 + ul, pw, pl);
        uint8_t *o = sasl_round(k, tok, ul + pl + 2, &ol, why, whylen);
        free(tok);
        free(o);
        return o ? 0 : -1;
    }
    /* SCRAM client (RFC 5802); user names are escaped as saslname */
    const EVP_MD *md = md_of(mech);
    size_t kl = (size_t)EVP_MD_get_size(md);
    uint8_t nb[18];
    RAND_bytes(nb, sizeof nb);
    char cnonce[32], esc[512];
    b64_encode(nb, sizeof nb, cnonce, false);
    size_t e = 0;
    for (const char *p = user; *p && e + 4 < sizeof esc; p++)
        e += (size_t)snprintf(esc + e, sizeof esc - e, "%s",
                              *p == ','   ? "=2C"
                              : *p == '=' ? "=3D"
                                          : (char[2]){*p, 0});
    char *bare = xasprintf("n=%s,r=%s", esc, cnonce);
    char *first = xasprintf("n,,%s", bare);
    uint8_t *sf = sasl_round(k, first, strlen(first), &ol, why, whylen);
    free(first);
    int rc = -1;
    if (!sf) goto out;
    const char *r = strstr((char *)sf, "r="), *s = strstr((char *)sf, ",s="),
               *i = strstr((char *)sf, ",i=");
    if (!r || !s || !i || strncmp(r + 2, cnonce, strlen(cnonce))) {
        snprintf(why, whylen, "malformed SCRAM challenge from the broker");
        goto out;
    }
    char *nonce = xstrndup(r + 2, (size_t)(s - r - 2));
    size_t saltl;
    uint8_t *salt = b64_decode_alloc(s + 3, (size_t)(i - s - 3), &saltl);
    int iter = atoi(i + 3);
    uint8_t salted[64], ck[64], sk[64], sig[64], proof[64];
    unsigned int hl;
    if (!salt || iter < 1 ||
        !PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, (int)saltl, iter, md, (int)kl, salted)) {
        snprintf(why, whylen, "malformed SCRAM challenge from the broker");
        free(nonce);
        free(salt);
        goto out;
    }
    HMAC(md, salted, (int)kl, (const uint8_t *)"Client Key", 10, ck, &hl);
    EVP_Digest(ck, kl, sk, &hl, md, NULL);
    char *wo = xasprintf("c=biws,r=%s", nonce);
    char *am = xasprintf("%s,%s,%s", bare, (char *)sf, wo);
    HMAC(md, sk, (int)kl, (const uint8_t *)am, strlen(am), sig, &hl);
    for (size_t j = 0; j < kl; j++) proof[j] = ck[j] ^ sig[j];
    char pb[128];
    b64_encode(proof, kl, pb, false);
    char *fin = xasprintf("%s,p=%s", wo, pb);
    uint8_t *sfin = sasl_round(k, fin, strlen(fin), &ol, why, whylen);
    if (sfin) {
        uint8_t skey[64], ssig[64];
        char want[128];
        HMAC(md, salted, (int)kl, (const uint8_t *)"Server Key", 10, skey, &hl);
        HMAC(md, skey, (int)kl, (const uint8_t *)am, strlen(am), ssig, &hl);
        b64_encode(ssig, kl, want, false);
        if (strncmp((char *)sfin, "v=", 2) || strcmp((char *)sfin + 2, want))
            snprintf(why, whylen, "the broker's SCRAM signature is wrong (not the real broker?)");
        else
            rc = 0;
    }
    free(sfin);
    free(fin);
    free(wo);
    free(am);
    free(nonce);
    free(salt);
out:
    free(sf);
    free(bare);
    return rc;
}

/* ---- connection ---- */

static void kconn_close(kconn *k)
{
    if (k->ssl) SSL_free(k->ssl);
    if (k->ctx) SSL_CTX_free(k->ctx);
    if (k->fd >= 0) close(k->fd);
}

static int kconn_open(kconn *k)
{
    memset(k, 0, sizeof *k);
    k->fd = -1;
    char host[256], port[16] = "9092";
    const char *hp =
        strstr(g_cli.bootstrap, "://") ? strstr(g_cli.bootstrap, "://") + 3 : g_cli.bootstrap;
    size_t n = strcspn(hp, ",");
    const char *colon = memrchr(hp, ':', n);
    size_t hl = colon ? (size_t)(colon - hp) : n;
    snprintf(host, sizeof host, "%.*s", (int)MIN(hl, sizeof host - 1), hp);
    if (colon)
        snprintf(port, sizeof port, "%.*s", (int)MIN(n - hl - 1, sizeof port - 1), colon + 1);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return cli_fail(CLI_EUNREACHABLE, "cannot resolve host '%s'", host);
    for (struct addrinfo *a = ai; a && k->fd < 0; a = a->ai_next) {
        k->fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (k->fd >= 0 && connect(k->fd, a->ai_addr, a->ai_addrlen) < 0) {
            close(k->fd);
            k->fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (k->fd < 0) return cli_fail(CLI_EUNREACHABLE, "cannot connect to %s:%s", host, port);
    struct timeval tv = {g_cli.timeout_ms / 1000, (g_cli.timeout_ms % 1000) * 1000};
    setsockopt(k->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(k->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const char *proto = setting("security.protocol");
    if (!proto) proto = "PLAINTEXT";
    bool tls = !strcasecmp(proto, "SSL") || !strcasecmp(proto, "SASL_SSL");
    bool sasl = !strcasecmp(proto, "SASL_PLAINTEXT") || !strcasecmp(proto, "SASL_SSL");
    if (!tls && !sasl && strcasecmp(proto, "PLAINTEXT"))
        return cli_fail(CLI_EUSAGE,
                        "security.protocol=%s: expected PLAINTEXT, SSL, "
                        "SASL_PLAINTEXT or SASL_SSL",
                        proto);
    if (tls) {
        k->ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(k->ctx, TLS1_2_VERSION);
        const char *ca = setting("ssl.ca.location"), *cert = setting("ssl.certificate.location"),
                   *key = setting("ssl.key.location");
        if (ca ? SSL_CTX_load_verify_locations(k->ctx, ca, NULL) != 1
               : SSL_CTX_set_default_verify_paths(k->ctx) != 1)
            return cli_fail(CLI_EUSAGE, "ssl.ca.location %s: cannot load", ca ? ca : "(system)");
        if (cert && (SSL_CTX_use_certificate_chain_file(k->ctx, cert) != 1 ||
                     SSL_CTX_use_PrivateKey_file(k->ctx, key ? key : cert, SSL_FILETYPE_PEM) != 1))
            return cli_fail(CLI_EUSAGE, "ssl.certificate.location/ssl.key.location: cannot load");
        SSL_CTX_set_verify(k->ctx, SSL_VERIFY_PEER, NULL);
        k->ssl = SSL_new(k->ctx);
        SSL_set_fd(k->ssl, k->fd);
        SSL_set_tlsext_host_name(k->ssl, host);
        SSL_set1_host(k->ssl, host);
        if (SSL_connect(k->ssl) != 1) {
            char e[200];
            ERR_error_string_n(ERR_get_error(), e, sizeof e);
            return cli_fail(CLI_EFAIL, "TLS handshake with %s:%s failed: %s", host, port, e);
        }
    }
    if (sasl) {
        const char *mech = setting("sasl.mechanisms");
        if (!mech) mech = setting("sasl.mechanism");
        if (!mech) mech = "PLAIN";
        char why[512];
        if (sasl_login(k, mech, why, sizeof why) < 0) return cli_fail(CLI_EFAIL, "%s", why);
    }
    return 0;
}

/* ---- the APIs ---- */

typedef struct scram_user {
    char *user;
    int mech, iter;
} scram_user;

/* DescribeUserScramCredentials for one user (NULL = all). Returns the count (or -1). */
static int describe(kconn *k, const char *user, scram_user **out)
{
    wbuf b;
    wbuf_init(&b, 64);
    if (user) {
        wbuf_uvarint(&b, 2);
        put_cstr(&b, user, strlen(user));
        wbuf_uvarint(&b, 0);
    } else {
        wbuf_uvarint(&b, 0); /* null: every user */
    }
    wbuf_uvarint(&b, 0);
    size_t len;
    uint8_t *d = roundtrip(k, 50, 0, true, &b, &len);
    wbuf_free(&b);
    if (!d) return cli_fail(CLI_EFAIL, "the broker closed the connection (is this allowed?)"), -1;
    rbuf r = rbuf_make(d, len);
    rbuf_i32(&r);
    int16_t top = rbuf_i16(&r);
    free(get_cstr(&r));
    int n = 0, cap = 8;
    scram_user *v = xcalloc((size_t)cap, sizeof *v);
    uint32_t nres = rbuf_uvarint(&r);
    for (uint32_t i = 1; i < nres && !r.err; i++) {
        char *u = get_cstr(&r);
        int16_t err = rbuf_i16(&r);
        free(get_cstr(&r));
        uint32_t ni = rbuf_uvarint(&r);
        for (uint32_t j = 1; j < ni && !r.err; j++) {
            int8_t m = rbuf_i8(&r);
            int32_t it = rbuf_i32(&r);
            rbuf_uvarint(&r);
            if (err) continue;
            if (n == cap) v = xrealloc(v, (size_t)(cap *= 2) * sizeof *v);
            v[n++] = (scram_user){xstrdup(u), m, it};
        }
        rbuf_uvarint(&r);
        free(u);
    }
    free(d);
    if (r.err || top) {
        for (int i = 0; i < n; i++) free(v[i].user);
        free(v);
        return cli_fail(CLI_EFAIL, "malformed or failed DescribeUserScramCredentials answer"), -1;
    }
    *out = v;
    return n;
}

/* AlterUserScramCredentials: dels/ups for one user. Returns 0 or an exit code. */
static int alter(kconn *k, const char *user, const int *del_mechs, int ndel, const int *up_mechs,
                 int nup, const char *pw, int iter)
{
    wbuf b;
    wbuf_init(&b, 256);
    wbuf_uvarint(&b, (uint32_t)ndel + 1);
    for (int i = 0; i < ndel; i++) {
        put_cstr(&b, user, strlen(user));
        wbuf_i8(&b, (int8_t)del_mechs[i]);
        wbuf_uvarint(&b, 0);
    }
    wbuf_uvarint(&b, (uint32_t)nup + 1);
    for (int i = 0; i < nup; i++) {
        const EVP_MD *md = up_mechs[i] == 2 ? EVP_sha512() : EVP_sha256();
        int kl = EVP_MD_get_size(md);
        uint8_t salt[16], salted[64];
        RAND_bytes(salt, sizeof salt);
        PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, sizeof salt, iter, md, kl, salted);
        put_cstr(&b, user, strlen(user));
        wbuf_i8(&b, (int8_t)up_mechs[i]);
        wbuf_i32(&b, iter);
        put_cstr(&b, salt, sizeof salt);
        put_cstr(&b, salted, (size_t)kl);
        wbuf_uvarint(&b, 0);
        OPENSSL_cleanse(salted, sizeof salted);
    }
    wbuf_uvarint(&b, 0);
    size_t len;
    uint8_t *d = roundtrip(k, 51, 0, true, &b, &len);
    wbuf_free(&b);
    if (!d) return cli_fail(CLI_EFAIL, "the broker closed the connection (is this allowed?)");
    rbuf r = rbuf_make(d, len);
    rbuf_i32(&r);
    uint32_t nres = rbuf_uvarint(&r);
    int rc = r.err ? cli_fail(CLI_EFAIL, "malformed AlterUserScramCredentials answer") : 0;
    for (uint32_t i = 1; i < nres && !r.err; i++) {
        char *u = get_cstr(&r);
        int16_t err = rbuf_i16(&r);
        char *msg = get_cstr(&r);
        rbuf_uvarint(&r);
        if (err)
            rc = cli_fail(err == 91 ? CLI_ENOTFOUND : CLI_EFAIL, "user %s: %s (error %d)", u,
                          msg[0] ? msg : "refused", err);
        free(u);
        free(msg);
    }
    free(d);
    return rc;
}

static const char k_users_usage[] =
    "usage: eddy users add NAME [--password PW | --password-stdin] [--mechanism M] "
    "[--iterations N]\n"
    "       eddy users list [--json]\n"
    "       eddy users delete NAME [--mechanism M]\n"
    "SCRAM users of the broker (KIP-554 APIs). M: SCRAM-SHA-256, SCRAM-SHA-512 or all (default).\n"
    "Client security settings as for every command: -X security.protocol=SASL_SSL -X\n"
    "sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=admin -X sasl.password=... (or EDDY_KAFKA_*).\n"
    "examples:\n"
    "  printf '%s' \"$PW\" | eddy users add orders-svc --password-stdin\n"
    "  eddy users list\n"
    "  eddy users delete orders-svc\n";

int cmd_users(int argc, char **argv)
{
    static const struct option lo[] = {CLI_GLOBAL_LONGOPTS,
                                       {"password", required_argument, NULL, 'p'},
                                       {"password-stdin", no_argument, NULL, 'S'},
                                       {"mechanism", required_argument, NULL, 'm'},
                                       {"iterations", required_argument, NULL, 'i'},
                                       {NULL, 0, NULL, 0}};
    const char *pw = NULL, *mech = "all";
    int iter = 4096, from_stdin = 0, c, rc;
    char pwbuf[1024];
    while ((c = cli_getopt(argc, argv, CLI_GLOBAL_SHORTOPTS "p:m:i:", lo, k_users_usage, &rc)) !=
           -1) {
        switch (c) {
        case CLI_OPT_EXIT: return rc;
        case 'p': pw = optarg; break;
        case 'S': from_stdin = 1; break;
        case 'm': mech = optarg; break;
        case 'i': {
            long long n;
            if (cli_parse_int(optarg, 1, INT32_MAX, &n))
                return cli_usage_error(k_users_usage, "--iterations wants a count >= 1, got '%s'",
                                       optarg);
            iter = (int)n;
            break;
        }
        }
    }
    if (optind >= argc) return cli_usage_error(k_users_usage, "missing subcommand");
    const char *sub = argv[optind++];
    int mechs[2], nm = 0;
    if (!strcasecmp(mech, "all")) {
        mechs[nm++] = 1;
        mechs[nm++] = 2;
    } else if (!strcasecmp(mech, "SCRAM-SHA-256")) {
        mechs[nm++] = 1;
    } else if (!strcasecmp(mech, "SCRAM-SHA-512")) {
        mechs[nm++] = 2;
    } else {
        return cli_usage_error(k_users_usage, "unknown mechanism '%s'", mech);
    }
    kconn k;
    if (!strcmp(sub, "list")) {
        if ((rc = kconn_open(&k))) goto done;
        scram_user *v = NULL;
        int n = describe(&k, NULL, &v);
        if (n < 0) {
            rc = CLI_EFAIL;
            goto done;
        }
        for (int i = 0; i < n; i++) {
            const char *mn = v[i].mech == 1 ? "SCRAM-SHA-256" : "SCRAM-SHA-512";
            if (g_cli.json)
                printf("{\"user\":\"%s\",\"mechanism\":\"%s\",\"iterations\":%d}\n", v[i].user, mn,
                       v[i].iter);
            else
                printf("%-32s %-14s %d\n", v[i].user, mn, v[i].iter);
            free(v[i].user);
        }
        free(v);
        rc = CLI_OK;
        goto done;
    }
    if (optind >= argc) return cli_usage_error(k_users_usage, "missing user name");
    const char *user = argv[optind];
    if (!strcmp(sub, "add")) {
        if (from_stdin) {
            if (!fgets(pwbuf, sizeof pwbuf, stdin))
                return cli_fail(CLI_EUSAGE, "no password on stdin");
            pwbuf[strcspn(pwbuf, "\r\n")] = 0;
            pw = pwbuf;
        }
        if (!pw || !*pw)
            return cli_usage_error(k_users_usage, "--password or --password-stdin needed");
        if ((rc = kconn_open(&k))) goto done;
        rc = alter(&k, user, NULL, 0, mechs, nm, pw, iter);
        if (!rc)
            printf("user %s: %s stored\n", user, nm == 2 ? "SCRAM-SHA-256, SCRAM-SHA-512" : mech);
    } else if (!strcmp(sub, "delete")) {
        if ((rc = kconn_open(&k))) goto done;
        scram_user *v = NULL;
        int n = describe(&k, user, &v), del[2], nd = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < nm; j++)
                if (v[i].mech == mechs[j]) del[nd++] = mechs[j];
            free(v[i].user);
        }
        free(v);
        if (n < 0)
            rc = CLI_EFAIL;
        else if (nd == 0)
            rc = cli_fail(CLI_ENOTFOUND, "user %s does not exist (no %s credential)", user, mech);
        else
            rc = alter(&k, user, del, nd, NULL, 0, NULL, 0);
        if (!rc) printf("user %s: deleted\n", user);
    } else {
        return cli_usage_error(k_users_usage, "unknown subcommand '%s'", sub);
    }
done:
    OPENSSL_cleanse(pwbuf, sizeof pwbuf);
    kconn_close(&k);
    return rc;
}
