/* fuzz_sasl — the SASL/SCRAM message parsers of src/security on arbitrary client tokens:
 * byte 0 picks the mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, mapping rules); the rest,
 * split at '\n', is the sequence of client messages. SCRAM runs against a known credential
 * (user "user", password "pencil") so both the unknown-user decoy and the proof check are
 * reached. Oracles: no crash, no read outside the input (ASan), a finished exchange names a
 * user, and any failure carries a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "security/principal.h"
#include "security/sasl.h"
#include "security/scram.h"

static scram_cred g_cred[3];
static int g_have;

static const scram_cred *lookup(const char *user, int mech)
{
    if (!g_have) {
        scram_cred_make(SCRAM_SHA_256, "pencil", 6, (const uint8_t *)"saltsalt", 8, 4096,
                        &g_cred[SCRAM_SHA_256]);
        scram_cred_make(SCRAM_SHA_512, "pencil", 6, (const uint8_t *)"saltsalt", 8, 4096,
                        &g_cred[SCRAM_SHA_512]);
        g_have = 1;
    }
    return strcmp(user, "user") == 0 ? &g_cred[mech] : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int kind = data[0] % 4;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    char err[400];
    if (kind == 0) {
        char u[256], pw[256];
        sasl_plain_parse(p, n, u, sizeof u, pw, sizeof pw);
        sasl_session *s = sasl_session_new(SASL_PLAIN);
        uint8_t *out = NULL;
        size_t ol;
        if (sasl_session_step(s, p, n, &out, &ol, err, sizeof err) == SASL_STEP_FAIL && !err[0])
            abort();
        free(out);
        sasl_session_free(s);
        return 0;
    }
    if (kind == 3) { /* rules + subject, split at the first NUL */
        if (n > 300) return 0;
        char buf[301];
        memcpy(buf, p, n);
        buf[n] = 0;
        const char *subject = memchr(p, 0, n) ? buf + strlen(buf) + 1 : "CN=x";
        char out[256];
        principal_check_rules(buf, err, sizeof err);
        principal_map_subject(buf, subject, out, sizeof out);
        principal_is_super_user(buf, subject);
        return 0;
    }
    scram_server *s = scram_server_new(kind == 1 ? SCRAM_SHA_256 : SCRAM_SHA_512, lookup);
    while (n > 0) {
        const uint8_t *nl = memchr(p, '\n', n);
        size_t len = nl ? (size_t)(nl - p) : n;
        uint8_t *out = NULL;
        size_t ol;
        err[0] = 0;
        int rc = scram_server_step(s, p, len, &out, &ol, err, sizeof err);
        free(out);
        if (rc == SCRAM_FAIL && !err[0]) abort();
        if (rc == SCRAM_DONE && !scram_server_user(s)) abort();
        if (rc != SCRAM_CONTINUE) break;
        p += len + (nl ? 1 : 0);
        n -= len + (nl ? 1 : 0);
    }
    scram_server_free(s);
    return 0;
}
