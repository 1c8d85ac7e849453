/* scram — SCRAM-SHA-256/512 credentials and the server side of the exchange (see scram.h).
 *
 * Messages (RFC 5802 §7), all printable ASCII, attributes "k=v" separated by ',':
 *   client-first  gs2-header client-first-bare      gs2-header = ("n"|"y") "," [ "a=" authzid ] ","
 *                 client-first-bare = "n=" saslname ",r=" c-nonce ["," extensions]
 *   server-first  "r=" c-nonce s-nonce ",s=" base64(salt) ",i=" iterations
 *   client-final  "c=" base64(gs2-header) ",r=" nonce ["," extensions] ",p=" base64(ClientProof)
 *   server-final  "v=" base64(ServerSignature)
 *   AuthMessage = client-first-bare "," server-first "," client-final-without-proof
 * An unknown user gets a server-first with a salt derived from its name (so the answer does not
 * tell which users exist) and fails at the proof, with the same message as a wrong password.
 */
#include "security/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/util.h"

#define MAX_MSG 4096 /* a client message longer than this is refused */
#define MAX_USER 255

int scram_mech_parse(const char *name, size_t len)
{
    if (len == 13 && !memcmp(name, "SCRAM-SHA-256", 13)) return SCRAM_SHA_256;
    if (len == 13 && !memcmp(name, "SCRAM-SHA-512", 13)) return SCRAM_SHA_512;
    return 0;
}

const char *scram_mech_name(int mech)
{
    return mech == SCRAM_SHA_256 ? "SCRAM-SHA-256" : mech == SCRAM_SHA_512 ? "SCRAM-SHA-512" : "?";
}

size_t scram_key_len(int mech)
{
    return mech == SCRAM_SHA_512 ? 64 : 32;
}

static const EVP_MD *md_of(int mech)
{
    return mech == SCRAM_SHA_512 ? EVP_sha512() : EVP_sha256();
}

static void hmac(int mech, const uint8_t *key, size_t klen, const void *data, size_t dlen,
                 uint8_t *out)
{
    unsigned int ol = 0;
    HMAC(md_of(mech), key, (int)klen, data, dlen, out, &ol);
}

static void hash(int mech, const uint8_t *in, size_t len, uint8_t *out)
{
    unsigned int ol = 0;
    EVP_Digest(in, len, out, &ol, md_of(mech), NULL);
}

void scram_cred_from_salted(int mech, const uint8_t *salted, size_t slen, const uint8_t *salt,
                            size_t salt_len, int32_t iterations, scram_cred *out)
{
    memset(out, 0, sizeof *out);
    out->mech = mech;
    out->iterations = iterations;
    if (salt_len > SCRAM_MAX_SALT) salt_len = SCRAM_MAX_SALT;
    memcpy(out->salt, salt, salt_len);
    out->salt_len = salt_len;
    uint8_t client_key[SCRAM_MAX_KEY];
    hmac(mech, salted, slen, "Client Key", 10, client_key);
    hash(mech, client_key, scram_key_len(mech), out->stored_key);
    hmac(mech, salted, slen, "Server Key", 10, out->server_key);
    OPENSSL_cleanse(client_key, sizeof client_key);
}

static int salt_password(int mech, const char *pw, size_t plen, const uint8_t *salt,
                         size_t salt_len, int32_t iterations, uint8_t *out)
{
    return PKCS5_PBKDF2_HMAC(pw, (int)plen, salt, (int)salt_len, iterations, md_of(mech),
                             (int)scram_key_len(mech), out) == 1
               ? 0
               : -1;
}

int scram_cred_make(int mech, const char *password, size_t plen, const uint8_t *salt,
                    size_t salt_len, int32_t iterations, scram_cred *out)
{
    if ((mech != SCRAM_SHA_256 && mech != SCRAM_SHA_512) || iterations < SCRAM_MIN_ITERATIONS ||
        iterations > SCRAM_MAX_ITERATIONS || salt_len > SCRAM_MAX_SALT)
        return -1;
    uint8_t rsalt[16];
    if (!salt || salt_len == 0) {
        rand_bytes(rsalt, sizeof rsalt);
        salt = rsalt;
        salt_len = sizeof rsalt;
    }
    uint8_t salted[SCRAM_MAX_KEY];
    if (salt_password(mech, password, plen, salt, salt_len, iterations, salted) < 0) return -1;
    scram_cred_from_salted(mech, salted, scram_key_len(mech), salt, salt_len, iterations, out);
    OPENSSL_cleanse(salted, sizeof salted);
    return 0;
}

bool scram_cred_check_password(const scram_cred *c, const char *password, size_t plen)
{
    uint8_t salted[SCRAM_MAX_KEY];
    if (salt_password(c->mech, password, plen, c->salt, c->salt_len, c->iterations, salted) < 0)
        return false;
    scram_cred t;
    scram_cred_from_salted(c->mech, salted, scram_key_len(c->mech), c->salt, c->salt_len,
                           c->iterations, &t);
    OPENSSL_cleanse(salted, sizeof salted);
    bool ok = CRYPTO_memcmp(t.stored_key, c->stored_key, scram_key_len(c->mech)) == 0;
    OPENSSL_cleanse(&t, sizeof t);
    return ok;
}

/* ------------------------------------------------------------------ parsing ---- */

const char *scram_attr(const char *msg, size_t len, char key, size_t *vlen)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && msg[j] != ',') j++;
        if (j - i >= 2 && msg[i] == key && msg[i + 1] == '=') {
            *vlen = j - i - 2;
            return msg + i + 2;
        }
        i = j + 1;
    }
    return NULL;
}

int scram_unescape_name(const char *in, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = in[i];
        if (ch == ',') return -1;
        if (ch == '=') {
            if (i + 2 >= len) return -1;
            if (in[i + 1] == '2' && in[i + 2] == 'C')
                ch = ',';
            else if (in[i + 1] == '3' && in[i + 2] == 'D')
                ch = '=';
            else
                return -1;
            i += 2;
        }
        if ((unsigned char)ch < 0x20 || ch == 0x7f) return -1;
        if (o + 1 >= outlen) return -1;
        out[o++] = ch;
    }
    out[o] = 0;
    return 0;
}

/* ------------------------------------------------------------------ server ---- */

struct scram_server {
    int mech;
    int state; /* 0 = expect client-first, 1 = expect client-final, 2 = done, 3 = failed */
    scram_lookup_fn lookup;
    scram_cred cred; /* the user's, or a decoy for an unknown user */
    bool known;
    char user[MAX_USER + 1];
    char *gs2; /* the client's gs2 header, e.g. "n,," */
    size_t gs2_len;
    char *first_bare; /* client-first-bare */
    char *server_first;
    char nonce[160]; /* c-nonce + s-nonce */
};

scram_server *scram_server_new(int mech, scram_lookup_fn lookup)
{
    scram_server *s = xcalloc(1, sizeof *s);
    s->mech = mech;
    s->lookup = lookup;
    return s;
}

void scram_server_free(scram_server *s)
{
    if (!s) return;
    free(s->gs2);
    free(s->first_bare);
    free(s->server_first);
    OPENSSL_cleanse(&s->cred, sizeof s->cred);
    free(s);
}

const char *scram_server_user(const scram_server *s)
{
    return s && s->state == 2 ? s->user : NULL;
}

static int fail(scram_server *s, char *err, size_t errlen, const char *msg)
{
    s->state = 3;
    snprintf(err, errlen, "%s", msg);
    return SCRAM_FAIL;
}

static bool printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e) return false;
    return true;
}

static int client_first(scram_server *s, const char *m, size_t len, uint8_t **out, size_t *outlen,
                        char *err, size_t errlen)
{
    /* gs2 header */
    if (len < 3 || (m[0] != 'n' && m[0] != 'y' && m[0] != 'p'))
        return fail(s, err, errlen, "SCRAM: malformed client-first message (gs2 header)");
    if (m[0] == 'p') return fail(s, err, errlen, "SCRAM: channel binding is not supported");
    if (m[1] != ',') return fail(s, err, errlen, "SCRAM: malformed client-first message");
    const char *authz_end = memchr(m + 2, ',', len - 2);
    if (!authz_end) return fail(s, err, errlen, "SCRAM: malformed client-first message");
    size_t authz_len = (size_t)(authz_end - (m + 2));
    char authzid[MAX_USER + 1] = "";
    if (authz_len > 0) {
        if (authz_len < 2 || m[2] != 'a' || m[3] != '=' ||
            scram_unescape_name(m + 4, authz_len - 2, authzid, sizeof authzid) < 0)
            return fail(s, err, errlen, "SCRAM: malformed authorization id");
    }
    size_t gs2_len = (size_t)(authz_end - m) + 1;
    const char *bare = m + gs2_len;
    size_t blen = len - gs2_len;
    if (blen < 2 || bare[0] != 'n' || bare[1] != '=')
        return fail(s, err, errlen, "SCRAM: client-first message must start with n=");
    size_t nlen;
    const char *name = scram_attr(bare, blen, 'n', &nlen);
    if (!name || scram_unescape_name(name, nlen, s->user, sizeof s->user) < 0 || !s->user[0])
        return fail(s, err, errlen, "SCRAM: malformed user name");
    if (authzid[0] && strcmp(authzid, s->user) != 0)
        return fail(s, err, errlen, "SCRAM: authorization id must be the user name");
    size_t cnlen;
    const char *cnonce = scram_attr(bare, blen, 'r', &cnlen);
    if (!cnonce || cnlen == 0 || cnlen > 100)
        return fail(s, err, errlen, "SCRAM: missing or oversize client nonce");
    size_t xl;
    if (scram_attr(bare, blen, 'm', &xl))
        return fail(s, err, errlen, "SCRAM: mandatory extensions are not supported");
    if (memmem(bare, blen, "tokenauth=true", 14))
        return fail(s, err, errlen, "SCRAM: delegation tokens are not supported");

    const scram_cred *c = s->lookup ? s->lookup(s->user, s->mech) : NULL;
    if (c) {
        s->cred = *c;
        s->known = true;
    } else {
        /* a decoy: a salt that is stable for this name, never a valid proof */
        static uint8_t secret[32];
        static bool have_secret;
        if (!have_secret) {
            rand_bytes(secret, sizeof secret);
            have_secret = true;
        }
        memset(&s->cred, 0, sizeof s->cred);
        s->cred.mech = s->mech;
        s->cred.iterations = SCRAM_MIN_ITERATIONS;
        uint8_t d[SCRAM_MAX_KEY];
        hmac(SCRAM_SHA_256, secret, sizeof secret, s->user, strlen(s->user), d);
        memcpy(s->cred.salt, d, 16);
        s->cred.salt_len = 16;
        rand_bytes(s->cred.stored_key, sizeof s->cred.stored_key);
        s->known = false;
    }
    uint8_t sn[18];
    char snb[32];
    rand_bytes(sn, sizeof sn);
    b64_encode(sn, sizeof sn, snb, false);
    snprintf(s->nonce, sizeof s->nonce, "%.*s%s", (int)cnlen, cnonce, snb);
    char saltb[SCRAM_MAX_SALT * 2];
    b64_encode(s->cred.salt, s->cred.salt_len, saltb, false);
    s->server_first = xasprintf("r=%s,s=%s,i=%d", s->nonce, saltb, (int)s->cred.iterations);
    s->gs2 = xstrndup(m, gs2_len);
    s->gs2_len = gs2_len;
    s->first_bare = xstrndup(bare, blen);
    *outlen = strlen(s->server_first);
    *out = (uint8_t *)xstrdup(s->server_first);
    s->state = 1;
    return SCRAM_CONTINUE;
}

static int client_final(scram_server *s, const char *m, size_t len, uint8_t **out, size_t *outlen,
                        char *err, size_t errlen)
{
    /* the proof is the last attribute */
    const char *p = NULL;
    for (size_t i = len; i >= 3; i--)
        if (m[i - 3] == ',' && m[i - 2] == 'p' && m[i - 1] == '=') {
            p = m + i - 3;
            break;
        }
    if (!p) return fail(s, err, errlen, "SCRAM: client-final message without proof");
    size_t without_len = (size_t)(p - m);
    size_t cl, rl;
    const char *cb = scram_attr(m, without_len, 'c', &cl);
    const char *r = scram_attr(m, without_len, 'r', &rl);
    if (!cb || !r) return fail(s, err, errlen, "SCRAM: malformed client-final message");
    uint8_t gs2[256];
    if (cl > 300) return fail(s, err, errlen, "SCRAM: malformed channel binding");
    long gl = b64_decode(cb, cl, gs2);
    if (gl < 0 || (size_t)gl != s->gs2_len || memcmp(gs2, s->gs2, s->gs2_len) != 0)
        return fail(s, err, errlen, "SCRAM: channel binding does not match the gs2 header");
    /* The nonce must end with the one we sent (as Kafka checks it: librdkafka before 2.1
     * repeats the client nonce in front) */
    size_t nl = strlen(s->nonce);
    if (rl < nl || memcmp(r + rl - nl, s->nonce, nl) != 0)
        return fail(s, err, errlen, "SCRAM: nonce mismatch");
    const char *pb = p + 3;
    size_t pbl = len - without_len - 3;
    uint8_t proof[SCRAM_MAX_KEY * 2];
    size_t klen = scram_key_len(s->mech);
    if (pbl > 2 * b64_encoded_len(SCRAM_MAX_KEY, false))
        return fail(s, err, errlen, "SCRAM: malformed proof");
    long pl = b64_decode(pb, pbl, proof);
    if (pl < 0 || (size_t)pl != klen) return fail(s, err, errlen, "SCRAM: malformed proof");

    size_t fbl = strlen(s->first_bare), sfl = strlen(s->server_first);
    size_t alen = fbl + 1 + sfl + 1 + without_len;
    char *auth = xmalloc(alen + 1);
    memcpy(auth, s->first_bare, fbl);
    auth[fbl] = ',';
    memcpy(auth + fbl + 1, s->server_first, sfl);
    auth[fbl + 1 + sfl] = ',';
    memcpy(auth + fbl + sfl + 2, m, without_len);
    uint8_t csig[SCRAM_MAX_KEY], ckey[SCRAM_MAX_KEY], stored[SCRAM_MAX_KEY];
    hmac(s->mech, s->cred.stored_key, klen, auth, alen, csig);
    for (size_t i = 0; i < klen; i++) ckey[i] = proof[i] ^ csig[i];
    hash(s->mech, ckey, klen, stored);
    bool ok = s->known && CRYPTO_memcmp(stored, s->cred.stored_key, klen) == 0;
    if (!ok) {
        free(auth);
        char msg[160];
        snprintf(msg, sizeof msg,
                 "Authentication failed during authentication due to invalid credentials with "
                 "SASL mechanism %s",
                 scram_mech_name(s->mech));
        return fail(s, err, errlen, msg);
    }
    uint8_t ssig[SCRAM_MAX_KEY];
    hmac(s->mech, s->cred.server_key, klen, auth, alen, ssig);
    free(auth);
    char sb[SCRAM_MAX_KEY * 2];
    b64_encode(ssig, klen, sb, false);
    char *fin = xasprintf("v=%s", sb);
    *out = (uint8_t *)fin;
    *outlen = strlen(fin);
    s->state = 2;
    return SCRAM_DONE;
}

int scram_server_step(scram_server *s, const uint8_t *in, size_t len, uint8_t **out, size_t *outlen,
                      char *err, size_t errlen)
{
    *out = NULL;
    *outlen = 0;
    if (s->state >= 2) return fail(s, err, errlen, "SCRAM: exchange already finished");
    if (len == 0 || len > MAX_MSG || !printable(in, len))
        return fail(s, err, errlen, "SCRAM: malformed message (empty, oversize or not printable)");
    if (s->state == 0) return client_first(s, (const char *)in, len, out, outlen, err, errlen);
    return client_final(s, (const char *)in, len, out, outlen, err, errlen);
}
