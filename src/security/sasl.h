/* sasl — one SASL exchange on the server side, whatever the mechanism: PLAIN (RFC 4616,
 * checked against the SCRAM credential store) and SCRAM-SHA-256/512 (scram.h). The broker's
 * SaslHandshake/SaslAuthenticate handlers drive it with the client's tokens.
 */
#ifndef EDDY_SECURITY_SASL_H
#define EDDY_SECURITY_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sasl_mech { SASL_NONE = 0, SASL_PLAIN = 1, SASL_SCRAM_SHA_256 = 2, SASL_SCRAM_SHA_512 = 3 };

#define SASL_MAX_TOKEN 8192 /* a client token larger than this fails the exchange */

/* "PLAIN" -> SASL_PLAIN, ...; SASL_NONE when unknown. */
int sasl_mech_parse(const char *name, size_t len);
const char *sasl_mech_name(int mech);
/* Is mech listed in a comma-separated sasl.enabled.mechanisms value? */
bool sasl_mech_enabled(const char *enabled, int mech);

typedef struct sasl_session sasl_session;
sasl_session *sasl_session_new(int mech);
void sasl_session_free(sasl_session *s);

enum { SASL_STEP_CONTINUE = 0, SASL_STEP_DONE = 1, SASL_STEP_FAIL = -1 };
/* Feeds one client token. CONTINUE/DONE: *out (malloc'ed, maybe empty) goes back to the client;
 * DONE: sasl_session_user() is the authenticated user. FAIL: err holds the message for the
 * client (Kafka's wording: "Authentication failed: Invalid username or password" for PLAIN). */
int sasl_session_step(sasl_session *s, const uint8_t *in, size_t len, uint8_t **out, size_t *outlen,
                      char *err, size_t errlen);
const char *sasl_session_user(const sasl_session *s);
int sasl_session_mech(const sasl_session *s);

/* PLAIN message "[authzid] NUL authcid NUL passwd": splits it (exposed for the fuzz target).
 * Returns 0 with user/password copied (NUL-terminated, bounded by the buffer sizes), or -1. */
int sasl_plain_parse(const uint8_t *in, size_t len, char *user, size_t ulen, char *pass,
                     size_t plen);

#endif
