/* creds — the SCRAM credential store: per user and mechanism the salted keys (scram.h), kept in
 * memory and in one file, <data_dir>/__scram_credentials, rewritten atomically (temporary file,
 * fsync, rename, fsync of the directory) on every change, so a change acknowledged to a client
 * survives SIGKILL. Mode 0600. Passwords are never stored.
 *
 * File format (text, one credential a line):
 *   # eddy scram credentials v1
 *   <mechanism> <iterations> <base64 salt> <base64 StoredKey> <base64 ServerKey> <user>
 * where <user> is percent-encoded (%XX for '%', space, control and non-ASCII bytes).
 *
 * Single-threaded: called from the broker's loop thread only.
 */
#ifndef EDDY_SECURITY_CREDS_H
#define EDDY_SECURITY_CREDS_H

#include <stdbool.h>

#include "security/scram.h"

/* Loads the store of data_dir (a missing file is an empty store). Returns 0, or -1 with a
 * message in err when the file is unreadable or malformed (the broker refuses to start rather
 * than run with credentials silently missing). */
int creds_open(const char *data_dir, char *err, size_t errlen);
void creds_close(void);

/* The credential of user for mechanism (enum scram_mech), or NULL. */
const scram_cred *creds_find(const char *user, int mech);
/* Adds or replaces a credential and persists. Returns 0 or -errno. */
int creds_upsert(const char *user, const scram_cred *c);
/* Removes one credential and persists. Returns 0, -ENOENT when there was none, or -errno. */
int creds_delete(const char *user, int mech);
/* Iteration over every credential (sorted by user, then mechanism). */
int creds_count(void);
const char *creds_at(int i, const scram_cred **c);

/* Is `password` right for `user`? Checked against the user's SCRAM-SHA-512 credential if it has
 * one, else its SCRAM-SHA-256 one (PBKDF2 with the stored salt and iterations, compared in
 * constant time). Returns 1 when it matches, 0 otherwise (unknown user included). For HTTP
 * Basic and SASL/PLAIN. Costs one PBKDF2 (a few milliseconds at 4096 iterations). */
int scram_verify_password(const char *user, const char *password);

/* EDDY_BOOTSTRAP_USER: "name:password". Creates SCRAM-SHA-256 and SCRAM-SHA-512 credentials
 * (4096 iterations) for name when it has none yet. Returns 0, or -1 with a message. */
int creds_bootstrap(const char *spec, char *err, size_t errlen);

/* A user name Eddy accepts: 1..255 bytes, no control characters. */
bool creds_user_valid(const char *user, size_t len);

#endif
