/* users — SCRAM user management through Kafka's own APIs (KIP-554):
 * DescribeUserScramCredentials v0 and AlterUserScramCredentials v0, on the credential store of
 * security/creds.h. Clients send salted passwords (never passwords); the store keeps the keys
 * derived from them.
 *
 * Kafka's rules, kept: results are per user; a user named twice in one request (deletion and
 * upsertion of the same mechanism included) gets DUPLICATE_RESOURCE (92) and nothing of it is
 * applied; an unknown mechanism UNSUPPORTED_SASL_MECHANISM (33); iterations outside
 * [4096, 16384], an empty name or salt, a salted password of the wrong length
 * UNACCEPTABLE_CREDENTIAL (93); deleting or describing what does not exist RESOURCE_NOT_FOUND
 * (91). Who may call them is the authorizer's business (Alter/Describe on the cluster).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core.h"
#include "common/log.h"
#include "common/util.h"
#include "security/creds.h"
#include "security/scram.h"

static char *kstr_dup(breq *r, kstr s)
{
    size_t n = s.len > 0 ? (size_t)s.len : 0;
    char *o = karena_alloc(r->arena, n + 1);
    if (n) memcpy(o, s.p, n);
    return o;
}

static bool name_ok(kstr s)
{
    return s.len > 0 && creds_user_valid((const char *)s.p, (size_t)s.len);
}

/* Fills one Describe result for user (error when it has no credential). */
static void describe_one(kmsg *res, const char *user)
{
    k_set_str(res, DescribeUserScramCredentialsResult_User, user);
    int n = 0;
    for (int m = SCRAM_SHA_256; m <= SCRAM_SHA_512; m++)
        if (creds_find(user, m)) n++;
    if (n == 0) {
        k_set_int(res, DescribeUserScramCredentialsResult_ErrorCode, KERR_RESOURCE_NOT_FOUND);
        k_set_str(res, DescribeUserScramCredentialsResult_ErrorMessage,
                  "Attempt to describe a user credential that does not exist");
        k_new_items(res, DescribeUserScramCredentialsResult_CredentialInfos, 0);
        return;
    }
    k_set_int(res, DescribeUserScramCredentialsResult_ErrorCode, 0);
    k_set_null(res, DescribeUserScramCredentialsResult_ErrorMessage);
    k_new_items(res, DescribeUserScramCredentialsResult_CredentialInfos, n);
    int i = 0;
    for (int m = SCRAM_SHA_256; m <= SCRAM_SHA_512; m++) {
        const scram_cred *c = creds_find(user, m);
        if (!c) continue;
        kmsg *ci = k_item(res, DescribeUserScramCredentialsResult_CredentialInfos, i++);
        k_set_int(ci, CredentialInfo_Mechanism, m);
        k_set_int(ci, CredentialInfo_Iterations, c->iterations);
    }
}

void h_describe_user_scram_credentials(broker *b, breq *r)
{
    (void)b;
    kmsg *q = r->req, *resp = r->resp;
    k_set_int(resp, DescribeUserScramCredentialsResponse_ThrottleTimeMs, 0);
    k_set_int(resp, DescribeUserScramCredentialsResponse_ErrorCode, 0);
    k_set_null(resp, DescribeUserScramCredentialsResponse_ErrorMessage);
    int32_t nq = k_count(q, DescribeUserScramCredentialsRequest_Users);
    if (nq <= 0) { /* null or empty: every user */
        int users = 0;
        const char *prev = NULL;
        for (int i = 0; i < creds_count(); i++) {
            const char *u = creds_at(i, NULL);
            if (!prev || strcmp(prev, u)) users++;
            prev = u;
        }
        k_new_items(resp, DescribeUserScramCredentialsResponse_Results, users);
        prev = NULL;
        int j = 0;
        for (int i = 0; i < creds_count(); i++) {
            const char *u = creds_at(i, NULL);
            if (prev && !strcmp(prev, u)) continue;
            prev = u;
            describe_one(k_item(resp, DescribeUserScramCredentialsResponse_Results, j++), u);
        }
        breq_done(r);
        return;
    }
    k_new_items(resp, DescribeUserScramCredentialsResponse_Results, nq);
    for (int32_t i = 0; i < nq; i++) {
        kmsg *res = k_item(resp, DescribeUserScramCredentialsResponse_Results, i);
        kstr name = k_str(k_item(q, DescribeUserScramCredentialsRequest_Users, i), UserName_Name);
        bool dup = false;
        for (int32_t j = 0; j < nq; j++) {
            kstr o = k_str(k_item(q, DescribeUserScramCredentialsRequest_Users, j), UserName_Name);
            if (j != i && o.len == name.len &&
                (name.len <= 0 || !memcmp(o.p, name.p, (size_t)name.len)))
                dup = true;
        }
        char *u = kstr_dup(r, name);
        if (dup || !name_ok(name)) {
            k_set_str(res, DescribeUserScramCredentialsResult_User, u);
            k_set_int(res, DescribeUserScramCredentialsResult_ErrorCode,
                      dup ? KERR_DUPLICATE_RESOURCE : KERR_RESOURCE_NOT_FOUND);
            k_set_str(res, DescribeUserScramCredentialsResult_ErrorMessage,
                      dup ? "Cannot describe the same user more than once"
                          : "Attempt to describe a user credential that does not exist");
            k_new_items(res, DescribeUserScramCredentialsResult_CredentialInfos, 0);
            continue;
        }
        describe_one(res, u);
    }
    breq_done(r);
}

/* One change of the request, checked before anything is applied. */
typedef struct change {
    char *user;
    int mech;
    bool del;
    kmsg *up; /* the upsertion */
} change;

typedef struct uresult {
    char *user;
    int err;
    const char *msg;
} uresult;

static uresult *result_for(uresult *res, int *nres, const char *user)
{
    for (int i = 0; i < *nres; i++)
        if (!strcmp(res[i].user, user)) return &res[i];
    res[*nres] = (uresult){(char *)user, 0, NULL};
    return &res[(*nres)++];
}

static void set_err(uresult *u, int err, const char *msg)
{
    if (u->err) return; /* the first problem of a user is reported */
    u->err = err;
    u->msg = msg;
}

void h_alter_user_scram_credentials(broker *b, breq *r)
{
    (void)b;
    kmsg *q = r->req, *resp = r->resp;
    k_set_int(resp, AlterUserScramCredentialsResponse_ThrottleTimeMs, 0);
    int32_t nd = MAX(k_count(q, AlterUserScramCredentialsRequest_Deletions), 0);
    int32_t nu = MAX(k_count(q, AlterUserScramCredentialsRequest_Upsertions), 0);
    int n = nd + nu;
    change *ch = karena_alloc(r->arena, (size_t)(n ? n : 1) * sizeof *ch);
    uresult *res = karena_alloc(r->arena, (size_t)(n ? n : 1) * sizeof *res);
    int nres = 0;
    for (int i = 0; i < n; i++) {
        kmsg *m = i < nd ? k_item(q, AlterUserScramCredentialsRequest_Deletions, i)
                         : k_item(q, AlterUserScramCredentialsRequest_Upsertions, i - nd);
        bool del = i < nd;
        kstr name = k_str(m, del ? ScramCredentialDeletion_Name : ScramCredentialUpsertion_Name);
        ch[i] = (change){kstr_dup(r, name),
                         (int)k_int(m, del ? ScramCredentialDeletion_Mechanism
                                           : ScramCredentialUpsertion_Mechanism),
                         del, del ? NULL : m};
        uresult *u = result_for(res, &nres, ch[i].user);
        if (!name_ok(name)) {
            set_err(u, KERR_UNACCEPTABLE_CREDENTIAL,
                    "Username must not be empty or contain control characters");
            continue;
        }
        if (ch[i].mech != SCRAM_SHA_256 && ch[i].mech != SCRAM_SHA_512) {
            set_err(u, KERR_UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism");
            continue;
        }
        for (int j = 0; j < i; j++)
            if (ch[j].mech == ch[i].mech && !strcmp(ch[j].user, ch[i].user))
                set_err(u, KERR_DUPLICATE_RESOURCE,
                        "A user credential cannot be altered twice in the same request");
        if (del) {
            if (!creds_find(ch[i].user, ch[i].mech))
                set_err(u, KERR_RESOURCE_NOT_FOUND,
                        "Attempt to delete a user credential that does not exist");
            continue;
        }
        int32_t it = (int32_t)k_int(m, ScramCredentialUpsertion_Iterations);
        kstr salt = k_str(m, ScramCredentialUpsertion_Salt);
        kstr sp = k_str(m, ScramCredentialUpsertion_SaltedPassword);
        if (it < SCRAM_MIN_ITERATIONS || it > SCRAM_MAX_ITERATIONS)
            set_err(u, KERR_UNACCEPTABLE_CREDENTIAL,
                    it < SCRAM_MIN_ITERATIONS ? "Too few iterations (at least 4096)"
                                              : "Too many iterations (at most 16384)");
        else if (salt.len <= 0 || salt.len > SCRAM_MAX_SALT)
            set_err(u, KERR_UNACCEPTABLE_CREDENTIAL, "Salt must be 1 to 64 bytes");
        else if (sp.len != (int32_t)scram_key_len(ch[i].mech))
            set_err(u, KERR_UNACCEPTABLE_CREDENTIAL,
                    "Salted password length does not match the mechanism");
    }
    /* apply the changes of users without errors */
    for (int i = 0; i < n; i++) {
        uresult *u = result_for(res, &nres, ch[i].user);
        if (u->err) continue;
        int rc;
        if (ch[i].del) {
            rc = creds_delete(ch[i].user, ch[i].mech);
        } else {
            kstr salt = k_str(ch[i].up, ScramCredentialUpsertion_Salt);
            kstr sp = k_str(ch[i].up, ScramCredentialUpsertion_SaltedPassword);
            scram_cred c;
            scram_cred_from_salted(ch[i].mech, sp.p, (size_t)sp.len, salt.p, (size_t)salt.len,
                                   (int32_t)k_int(ch[i].up, ScramCredentialUpsertion_Iterations),
                                   &c);
            rc = creds_upsert(ch[i].user, &c);
        }
        if (rc < 0)
            set_err(u, KERR_UNKNOWN_SERVER_ERROR, "cannot write the credential store");
        else
            LOGI("security", "%s %s credential of user %s (by %s)",
                 ch[i].del ? "deleted" : "stored", scram_mech_name(ch[i].mech), ch[i].user,
                 breq_principal(r));
    }
    k_new_items(resp, AlterUserScramCredentialsResponse_Results, nres);
    for (int i = 0; i < nres; i++) {
        kmsg *m = k_item(resp, AlterUserScramCredentialsResponse_Results, i);
        k_set_str(m, AlterUserScramCredentialsResult_User, res[i].user);
        k_set_int(m, AlterUserScramCredentialsResult_ErrorCode, res[i].err);
        if (res[i].msg)
            k_set_str(m, AlterUserScramCredentialsResult_ErrorMessage, res[i].msg);
        else
            k_set_null(m, AlterUserScramCredentialsResult_ErrorMessage);
    }
    breq_done(r);
}
