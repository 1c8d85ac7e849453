/* sasl — server-side SASL sessions over PLAIN and SCRAM (see sasl.h). */
#include "security/sasl.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "security/creds.h"
#include "security/scram.h"

struct sasl_session {
    int mech;
    bool done, failed;
    scram_server *scram;
    char user[256];
};

int sasl_mech_parse(const char *name, size_t len)
{
    if (len == 5 && !memcmp(name, "PLAIN", 5)) return SASL_PLAIN;
    int m = scram_mech_parse(name, len);
    return m == SCRAM_SHA_256 ? SASL_SCRAM_SHA_256 : m == SCRAM_SHA_512 ? SASL_SCRAM_SHA_512 : 0;
}

const char *sasl_mech_name(int mech)
{
    switch (mech) {
    case SASL_PLAIN: return "PLAIN";
    case SASL_SCRAM_SHA_256: return "SCRAM-SHA-256";
    case SASL_SCRAM_SHA_512: return "SCRAM-SHA-512";
    default: return "?";
    }
}

bool sasl_mech_enabled(const char *enabled, int mech)
{
    const char *p = enabled;
    while (p && *p) {
        while (*p == ' ' || *p == ',') p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > p && t[-1] == ' ') t--;
        if (t > p && sasl_mech_parse(p, (size_t)(t - p)) == mech) return true;
        p = e;
    }
    return false;
}

static const scram_cred *lookup(const char *user, int mech)
{
    return creds_find(user, mech);
}

sasl_session *sasl_session_new(int mech)
{
    sasl_session *s = xcalloc(1, sizeof *s);
    s->mech = mech;
    if (mech == SASL_SCRAM_SHA_256) s->scram = scram_server_new(SCRAM_SHA_256, lookup);
    if (mech == SASL_SCRAM_SHA_512) s->scram = scram_server_new(SCRAM_SHA_512, lookup);
    return s;
}

void sasl_session_free(sasl_session *s)
{
    if (!s) return;
    scram_server_free(s->scram);
    free(s);
}

const char *sasl_session_user(const sasl_session *s)
{
    return s && s->done ? s->user : NULL;
}

int sasl_session_mech(const sasl_session *s)
{
    return s ? s->mech : SASL_NONE;
}

int sasl_plain_parse(const uint8_t *in, size_t len, char *user, size_t ulen, char *pass,
                     size_t plen)
{
    const uint8_t *n1 = memchr(in, 0, len);
    if (!n1) return -1;
    size_t rest = len - (size_t)(n1 + 1 - in);
    const uint8_t *u = n1 + 1;
    const uint8_t *n2 = memchr(u, 0, rest);
    if (!n2) return -1;
    size_t ul = (size_t)(n2 - u);
    const uint8_t *p = n2 + 1;
    size_t pl = len - (size_t)(p - in);
    if (memchr(p, 0, pl)) return -1;
    size_t al = (size_t)(n1 - in);
    if (ul == 0 || ul >= ulen || pl == 0 || pl >= plen) return -1;
    /* an authorization id other than the user is not supported (Kafka refuses it too) */
    if (al && (al != ul || memcmp(in, u, ul) != 0)) return -1;
    memcpy(user, u, ul);
    user[ul] = 0;
    memcpy(pass, p, pl);
    pass[pl] = 0;
    return 0;
}

int sasl_session_step(sasl_session *s, const uint8_t *in, size_t len, uint8_t **out, size_t *outlen,
                      char *err, size_t errlen)
{
    *out = NULL;
    *outlen = 0;
    if (s->done || s->failed) {
        snprintf(err, errlen, "SASL exchange already finished");
        return SASL_STEP_FAIL;
    }
    if (len > SASL_MAX_TOKEN) {
        s->failed = true;
        snprintf(err, errlen, "SASL token of %zu bytes exceeds the limit of %d", len,
                 SASL_MAX_TOKEN);
        return SASL_STEP_FAIL;
    }
    if (s->mech == SASL_PLAIN) {
        char user[256], pass[1024];
        int ok = 0;
        if (sasl_plain_parse(in, len, user, sizeof user, pass, sizeof pass) < 0) {
            s->failed = true;
            snprintf(err, errlen, "Authentication failed: malformed PLAIN message");
            return SASL_STEP_FAIL;
        }
        if (creds_user_valid(user, strlen(user))) ok = scram_verify_password(user, pass);
        OPENSSL_cleanse(pass, sizeof pass);
        if (!ok) {
            s->failed = true;
            snprintf(err, errlen, "Authentication failed: Invalid username or password");
            return SASL_STEP_FAIL;
        }
        snprintf(s->user, sizeof s->user, "%s", user);
        s->done = true;
        *out = xmalloc(1);
        return SASL_STEP_DONE;
    }
    if (!s->scram) {
        s->failed = true;
        snprintf(err, errlen, "unsupported SASL mechanism");
        return SASL_STEP_FAIL;
    }
    int rc = scram_server_step(s->scram, in, len, out, outlen, err, errlen);
    if (rc == SCRAM_FAIL) {
        s->failed = true;
        return SASL_STEP_FAIL;
    }
    if (rc == SCRAM_DONE) {
        snprintf(s->user, sizeof s->user, "%s", scram_server_user(s->scram));
        s->done = true;
        return SASL_STEP_DONE;
    }
    return SASL_STEP_CONTINUE;
}
