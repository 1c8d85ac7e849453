/* tls — TLS for the broker's sockets on OpenSSL, non-blocking, driven by the event loop:
 * server contexts built from PEM files (and rebuilt on SIGHUP without touching open
 * connections), per-connection handshake/read/write that never block, the peer certificate's
 * subject for principals, and kernel TLS (SSL_OP_ENABLE_KTLS) where the kernel offers it so
 * file ranges still go out with sendfile; where it does not, callers fall back to
 * read + tls_write.
 *
 * Sits in net/ beside the loop; knows no Kafka.
 */
#ifndef EDDY_NET_TLS_H
#define EDDY_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct tls_ctx tls_ctx;
typedef struct tls_conn tls_conn;

enum tls_client_auth {
    TLS_CLIENT_AUTH_NONE = 0,
    TLS_CLIENT_AUTH_REQUESTED,
    TLS_CLIENT_AUTH_REQUIRED
};

typedef struct tls_settings {
    const char *keystore_location;    /* PEM: private key + certificate chain (KIP-651) */
    const char *certificate_location; /* or: the chain here ... */
    const char *key_location;         /* ... and the key here */
    const char *key_password;         /* encrypted PEM key (NULL = none) */
    const char *truststore_location;  /* PEM CA certificates for client certificates */
    int client_auth;                  /* enum tls_client_auth */
    const char *enabled_protocols;    /* "TLSv1.2,TLSv1.3" */
    const char *cipher_suites;        /* OpenSSL cipher list for TLS 1.2; NULL = default */
    bool ktls;                        /* try kernel TLS */
} tls_settings;

/* Parses "none" / "requested" / "required"; -1 otherwise. */
int tls_client_auth_parse(const char *s);

/* A server context from the settings. NULL with a message in err on any problem (unreadable
 * file, key not matching the certificate, bad protocol list, ...). */
tls_ctx *tls_ctx_new(const tls_settings *s, char *err, size_t errlen);
/* Re-reads the files into a fresh OpenSSL context for new connections; connections already
 * open keep theirs. On error the old context stays and -1 is returned with a message. */
int tls_ctx_reload(tls_ctx *c, const tls_settings *s, char *err, size_t errlen);
void tls_ctx_free(tls_ctx *c);
/* Subject of the context's own certificate (for logs), e.g. "CN=broker". */
const char *tls_ctx_subject(const tls_ctx *c);

tls_conn *tls_conn_new(tls_ctx *c, int fd);
void tls_conn_free(tls_conn *t);

enum { TLS_OK = 1, TLS_AGAIN = 0, TLS_ERR = -1 };
/* Advances the handshake. TLS_AGAIN: wait for tls_want_write() ? EPOLLOUT : EPOLLIN. TLS_ERR:
 * tls_error() says why. */
int tls_handshake(tls_conn *t);
bool tls_want_write(const tls_conn *t);
const char *tls_error(const tls_conn *t);
/* After the handshake: the negotiated version ("TLSv1.3"), whether kernel TLS sends. */
const char *tls_version(const tls_conn *t);
bool tls_ktls_send(const tls_conn *t);
/* The peer certificate's subject in RFC 2253 form ("CN=alice,OU=eng,O=Acme") into out;
 * returns false without a (verified) certificate. */
bool tls_peer_subject(const tls_conn *t, char *out, size_t outlen);

/* Like read(2)/write(2): >0 bytes, 0 = the peer closed (read only), -1 with errno EAGAIN
 * (retry on readiness: tls_want_write says which) or EIO (tls_error says why). A write that
 * returned EAGAIN must be retried with the same bytes. */
ssize_t tls_read(tls_conn *t, void *buf, size_t n);
ssize_t tls_write(tls_conn *t, const void *buf, size_t n);
/* Whether OpenSSL holds received bytes, decrypted or not (it reads ahead several records at a
 * time): epoll does not announce them. True also for a partial record, which the next
 * tls_read answers with EAGAIN. */
bool tls_buffered(const tls_conn *t);
/* File range through kernel TLS (tls_ktls_send only): like sendfile(2). */
ssize_t tls_sendfile(tls_conn *t, int fd, off_t off, size_t len);

#endif
