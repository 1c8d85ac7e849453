/* scram — SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677): the salted keys a credential is
 * stored as, and the server side of the exchange.
 *
 * A credential is (salt, iterations, StoredKey, ServerKey):
 *   SaltedPassword = PBKDF2-HMAC-H(password, salt, iterations)
 *   StoredKey      = H(HMAC(SaltedPassword, "Client Key"))
 *   ServerKey      = HMAC(SaltedPassword, "Server Key")
 * The password itself is never kept. Pure functions over bytes: no sockets, no files.
 */
#ifndef EDDY_SECURITY_SCRAM_H
#define EDDY_SECURITY_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum scram_mech { SCRAM_SHA_256 = 1, SCRAM_SHA_512 = 2 };

#define SCRAM_MAX_KEY 64  /* SHA-512 digest */
#define SCRAM_MAX_SALT 64 /* bytes */
#define SCRAM_MIN_ITERATIONS 4096
#define SCRAM_MAX_ITERATIONS 16384 /* Kafka's bound (KIP-554) */

typedef struct scram_cred {
    int mech; /* enum scram_mech */
    int32_t iterations;
    uint8_t salt[SCRAM_MAX_SALT];
    size_t salt_len;
    uint8_t stored_key[SCRAM_MAX_KEY];
    uint8_t server_key[SCRAM_MAX_KEY];
} scram_cred;

/* "SCRAM-SHA-256" -> SCRAM_SHA_256, ...; 0 when unknown. */
int scram_mech_parse(const char *name, size_t len);
const char *scram_mech_name(int mech);
size_t scram_key_len(int mech); /* 32 or 64 */

/* Derives a credential from a password (salt_len 0: 16 random bytes). Returns 0 or -1 (bad
 * arguments: iterations out of range, salt too long). */
int scram_cred_make(int mech, const char *password, size_t plen, const uint8_t *salt,
                    size_t salt_len, int32_t iterations, scram_cred *out);
/* Derives the credential from salted_password (KIP-554's AlterUserScramCredentials sends
 * SaltedPassword, not the password). */
void scram_cred_from_salted(int mech, const uint8_t *salted, size_t slen, const uint8_t *salt,
                            size_t salt_len, int32_t iterations, scram_cred *out);
/* Does `password` match the credential? (constant-time comparison of StoredKey) */
bool scram_cred_check_password(const scram_cred *c, const char *password, size_t plen);

/* ---- server side of the exchange ---- */

/* Looks up a user's credential for a mechanism; returns NULL when there is none. */
typedef const scram_cred *(*scram_lookup_fn)(const char *user, int mech);

typedef struct scram_server scram_server;
scram_server *scram_server_new(int mech, scram_lookup_fn lookup);
void scram_server_free(scram_server *s);

enum { SCRAM_CONTINUE = 0, SCRAM_DONE = 1, SCRAM_FAIL = -1 };
/* Feeds one client message. On SCRAM_CONTINUE/SCRAM_DONE *out (malloc'ed, *outlen bytes) is
 * the server's answer. On SCRAM_FAIL err holds a message for the client (the same for an
 * unknown user and a wrong password). Never reads beyond in[0..len). */
int scram_server_step(scram_server *s, const uint8_t *in, size_t len, uint8_t **out, size_t *outlen,
                      char *err, size_t errlen);
/* The authenticated user (after SCRAM_DONE), else NULL. */
const char *scram_server_user(const scram_server *s);

/* Parses a SCRAM attribute list "a=v,b=v"; exposed for the fuzz target and tests.
 * Returns the value of attribute `key` (not NUL-terminated: *vlen) or NULL. */
const char *scram_attr(const char *msg, size_t len, char key, size_t *vlen);
/* Unescapes a saslname ("=2C" -> ',', "=3D" -> '='); returns 0 or -1 on a bad escape or a
 * result that does not fit (outlen includes the NUL). */
int scram_unescape_name(const char *in, size_t len, char *out, size_t outlen);

#endif
