/* sasl — SaslHandshake (v0–1) and SaslAuthenticate (v0–2) on SASL_PLAINTEXT and SASL_SSL
 * listeners: which mechanism, then the client's tokens through security/sasl (PLAIN, SCRAM);
 * on success the connection's principal becomes "User:<name>" (breq_set_principal).
 *
 * Kafka's behaviour, kept: an unknown or disabled mechanism is answered with
 * UNSUPPORTED_SASL_MECHANISM (33) and the enabled list, a failed authentication with
 * SASL_AUTHENTICATION_FAILED (58) and a message, a request out of order with
 * ILLEGAL_SASL_STATE (34); each then closes the connection. After a v0 handshake the tokens come
 * bare (server.c conn_raw_sasl) and a failure closes the connection without an answer.
 * connections.max.reauth.ms (KIP-368): SessionLifetimeMs in v1+, the server gate closes a
 * connection whose session expired; a re-authentication must keep mechanism and user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core.h"
#include "common/log.h"
#include "common/util.h"
#include "security/sasl.h"

static void fill_mechanisms(const char *enabled, kmsg *resp)
{
    static const int all[] = {SASL_PLAIN, SASL_SCRAM_SHA_256, SASL_SCRAM_SHA_512};
    int n = 0;
    for (size_t i = 0; i < ARRAY_LEN(all); i++)
        if (sasl_mech_enabled(enabled, all[i])) n++;
    kval *v = k_set_array(resp, SaslHandshakeResponse_Mechanisms, n);
    n = 0;
    for (size_t i = 0; i < ARRAY_LEN(all); i++)
        if (sasl_mech_enabled(enabled, all[i])) {
            const char *name = sasl_mech_name(all[i]);
            v[n++].s = (kstr){(const uint8_t *)name, (int32_t)strlen(name)};
        }
}

void h_sasl_handshake(broker *b, breq *r)
{
    bsasl *st = breq_sasl(r);
    kstr m = k_str(r->req, SaslHandshakeRequest_Mechanism);
    int16_t v = r->hdr.api_version;
    /* the listener's own list (listener.name.<l>.sasl.enabled.mechanisms), else the broker's */
    const char *enabled = bconfig_for_listener(
        &b->cfg, breq_listener_name(r), "sasl.enabled.mechanisms", b->cfg.sasl_enabled_mechanisms);
    fill_mechanisms(enabled, r->resp);
    int err = KERR_NONE;
    int mech = m.len > 0 ? sasl_mech_parse((const char *)m.p, (size_t)m.len) : SASL_NONE;
    if (!st) {
        LOGW_RL("sasl", "%s: SaslHandshake on a listener without SASL: refused",
                breq_client_host(r));
        err = KERR_ILLEGAL_SASL_STATE;
    } else if (st->state == BSASL_NEED_AUTH || (st->state == BSASL_DONE && v < 1)) {
        LOGW_RL("sasl", "%s: SaslHandshake out of order: closing connection", breq_client_host(r));
        err = KERR_ILLEGAL_SASL_STATE;
    } else if (!mech || !sasl_mech_enabled(enabled, mech)) {
        LOGW_RL("sasl",
                "%s: SASL mechanism \"%.*s\" is not enabled on listener %s "
                "(sasl.enabled.mechanisms=%s)",
                breq_client_host(r), m.len > 0 ? (int)MIN(m.len, 64) : 0,
                m.len > 0 ? (const char *)m.p : "", breq_listener_name(r), enabled);
        err = KERR_UNSUPPORTED_SASL_MECHANISM;
    } else if (st->state == BSASL_DONE && mech != st->mech) {
        LOGW_RL("sasl", "%s: re-authentication with another mechanism (%s, was %s): refused",
                breq_client_host(r), sasl_mech_name(mech), sasl_mech_name(st->mech));
        err = KERR_ILLEGAL_SASL_STATE;
    }
    k_set_int(r->resp, SaslHandshakeResponse_ErrorCode, err);
    if (err) {
        breq_close_after_response(r);
        breq_done(r);
        return;
    }
    st->reauth = st->state == BSASL_DONE;
    st->mech = mech;
    st->raw = v == 0;
    st->state = BSASL_NEED_AUTH;
    sasl_session_free(st->sess);
    st->sess = sasl_session_new(mech);
    breq_done(r);
}

static void auth_failed(breq *r, bsasl *st, int err, const char *msg)
{
    if (st) {
        sasl_session_free(st->sess);
        st->sess = NULL;
    }
    if (r->raw_sasl) { /* v0 raw tokens: Kafka closes without an answer */
        breq_close_conn(r);
        return;
    }
    k_set_int(r->resp, SaslAuthenticateResponse_ErrorCode, err);
    k_set_str(r->resp, SaslAuthenticateResponse_ErrorMessage, msg);
    k_set_bytes(r->resp, SaslAuthenticateResponse_AuthBytes, "", 0);
    breq_close_after_response(r);
    breq_done(r);
}

void h_sasl_authenticate(broker *b, breq *r)
{
    bsasl *st = breq_sasl(r);
    if (!st || st->state != BSASL_NEED_AUTH || !st->sess) {
        LOGW_RL("sasl", "%s: SaslAuthenticate without a SaslHandshake: closing connection",
                breq_client_host(r));
        auth_failed(r, st, KERR_ILLEGAL_SASL_STATE,
                    "SaslAuthenticate must follow a SaslHandshake on a SASL listener");
        return;
    }
    kstr tok = k_str(r->req, SaslAuthenticateRequest_AuthBytes);
    uint8_t *out = NULL;
    size_t outlen = 0;
    char msg[400];
    int rc = sasl_session_step(st->sess, tok.len > 0 ? tok.p : (const uint8_t *)"",
                               tok.len > 0 ? (size_t)tok.len : 0, &out, &outlen, msg, sizeof msg);
    if (rc == SASL_STEP_DONE && st->reauth && strcmp(sasl_session_user(st->sess), st->user) != 0) {
        snprintf(msg, sizeof msg, "re-authentication must keep the user (%s)", st->user);
        rc = SASL_STEP_FAIL;
    }
    if (rc == SASL_STEP_FAIL) {
        free(out);
        LOGW_RL("sasl", "%s: %s authentication failed: %s", breq_client_host(r),
                sasl_mech_name(st->mech), msg);
        auth_failed(r, st, KERR_SASL_AUTHENTICATION_FAILED, msg);
        return;
    }
    k_set_int(r->resp, SaslAuthenticateResponse_ErrorCode, 0);
    k_set_null(r->resp, SaslAuthenticateResponse_ErrorMessage);
    k_set_bytes(r->resp, SaslAuthenticateResponse_AuthBytes, out ? out : (const uint8_t *)"",
                (int32_t)outlen);
    free(out);
    k_set_int(r->resp, SaslAuthenticateResponse_SessionLifetimeMs, 0);
    if (rc == SASL_STEP_DONE) {
        const char *user = sasl_session_user(st->sess);
        char principal[300];
        snprintf(principal, sizeof principal, "User:%s", user);
        breq_set_principal(r, principal);
        snprintf(st->user, sizeof st->user, "%s", user);
        int64_t life = b->cfg.connections_max_reauth_ms;
        st->expiry_ms = life > 0 ? now_wall_ms() + life : 0;
        k_set_int(r->resp, SaslAuthenticateResponse_SessionLifetimeMs, life > 0 ? life : 0);
        LOGD("sasl", "%s: authenticated as %s (%s%s)", breq_client_host(r), principal,
             sasl_mech_name(st->mech), st->reauth ? ", re-authentication" : "");
        st->state = BSASL_DONE;
        st->raw = false;
        st->reauth = false;
        sasl_session_free(st->sess);
        st->sess = NULL;
    }
    breq_done(r);
}
