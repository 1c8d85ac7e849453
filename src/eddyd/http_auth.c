/* http_auth — the HTTP port's guard (docs/security.md, "The HTTP port"): HTTP Basic
 * authentication against the SCRAM users of the Kafka port (security/creds.h verifies a password
 * against the stored salted keys; no password is stored), then the authorizer's ACLs for what
 * the path does. Registered by main on the HTTP server (http_set_guard) when
 * http.authentication.method=BASIC.
 *
 * Resources (Confluent's TopicAclAuthorizer in spirit: a subject is authorized as its topic):
 *   subject S  → Topic T, T = S without a "-key"/"-value" suffix (TopicNameStrategy), else S
 *   GET  /subjects/S/..., POST /subjects/S (lookup), /compatibility/subjects/S/...
 *                                           Describe on T (Read or Write imply it: a producer
 *                                           reads the schema it writes with, a consumer the one
 *                                           it reads with)
 *   POST /subjects/S/versions, DELETE /subjects/S[/...]        Write on T
 *   PUT|DELETE /config/S, /mode/S           Alter on T;  GET /config/S, /mode/S: Describe on T
 *   GET /subjects, /config, /mode           Describe on the Cluster
 *   PUT|DELETE /config, /mode (global)      Alter on the Cluster
 *   /schemas/...                            any authenticated user (ids are global)
 *   POST /topics/T, /v3/clusters/C/topics/T/records            Write on T
 *   other GET /topics/T..., /v3/...         Describe on T (or the Cluster)
 *   /api/v1/ (the console's admin API): GET topics/T Describe on T, topics/T/messages Read on T,
 *   DELETE topics/T Delete on T, POST topics/T/configs AlterConfigs on T, POST topics Create on
 *   the Cluster, GET groups/G Describe on G, POST groups/G/reset Read on G, trace and dlq Read on
 *   Topic * (every topic), POST dlq/T/redrive Write on Topic * (it writes to the dead letters'
 *   source topics), the rest (overview, lists) Describe on the Cluster
 *   anything else (/metrics, /healthz, the console's page)     any authenticated user
 * Paths listed in http.authentication.skip.paths need no credentials at all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "broker/authorize.h"
#include "common/base64.h"
#include "common/log.h"
#include "common/util.h"
#include "http_auth.h"
#include "security/creds.h"

static bool skipped(const char *list, const char *path)
{
    if (!list || !*list) return false;
    size_t pl = strlen(path);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m && p[m - 1] == ' ') m--;
        if (m && m == pl && !strncmp(p, path, m)) return true;
        p += n;
    }
    return false;
}

/* The next path segment after *p (which points at a '/' or the end) into buf. */
static bool segment(const char **p, char *buf, size_t len)
{
    if (**p != '/') return false;
    (*p)++;
    size_t n = strcspn(*p, "/");
    if (n == 0 || n >= len) return false;
    memcpy(buf, *p, n);
    buf[n] = 0;
    *p += n;
    return true;
}

static void topic_of_subject(const char *subject, char *out, size_t len)
{
    size_t n = strlen(subject);
    if (n > 4 && !strcmp(subject + n - 4, "-key"))
        n -= 4;
    else if (n > 6 && !strcmp(subject + n - 6, "-value"))
        n -= 6;
    snprintf(out, len, "%.*s", (int)n, subject);
}

typedef struct need {
    int restype; /* 0 = any authenticated user */
    char name[512];
    int op;
} need;

static void decide(const char *method, const char *path, need *nd)
{
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    char seg[512];
    const char *p;
    nd->restype = 0;
    if (!strncmp(path, "/subjects", 9) && (path[9] == 0 || path[9] == '/')) {
        p = path + 9;
        if (!segment(&p, seg, sizeof seg)) {
            *nd = (need){ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_DESCRIBE};
            return;
        }
        nd->restype = ACL_RES_TOPIC;
        topic_of_subject(seg, nd->name, sizeof nd->name);
        if (get) /* the topic's data contract: producers (Write) and consumers (Read) need it */
            nd->op = ACL_OP_DESCRIBE;
        else if (!strcmp(method, "POST") && *p == 0)
            nd->op = ACL_OP_DESCRIBE; /* lookup */
        else
            nd->op = ACL_OP_WRITE; /* register, delete */
        return;
    }
    if (!strncmp(path, "/compatibility/subjects/", 24)) {
        p = path + 23;
        if (segment(&p, seg, sizeof seg)) {
            nd->restype = ACL_RES_TOPIC;
            topic_of_subject(seg, nd->name, sizeof nd->name);
            nd->op = ACL_OP_DESCRIBE;
        }
        return;
    }
    const char *rest = NULL;
    if (!strncmp(path, "/config", 7) && (path[7] == 0 || path[7] == '/')) rest = path + 7;
    if (!strncmp(path, "/mode", 5) && (path[5] == 0 || path[5] == '/')) rest = path + 5;
    if (rest) {
        p = rest;
        if (!segment(&p, seg, sizeof seg)) {
            *nd = (need){ACL_RES_CLUSTER, ACL_CLUSTER_NAME, get ? ACL_OP_DESCRIBE : ACL_OP_ALTER};
            return;
        }
        nd->restype = ACL_RES_TOPIC;
        topic_of_subject(seg, nd->name, sizeof nd->name);
        nd->op = get ? ACL_OP_DESCRIBE : ACL_OP_ALTER;
        return;
    }
    if (!strncmp(path, "/topics/", 8)) {
        p = path + 7;
        if (segment(&p, seg, sizeof seg)) {
            *nd = (need){ACL_RES_TOPIC, "", get ? ACL_OP_DESCRIBE : ACL_OP_WRITE};
            snprintf(nd->name, sizeof nd->name, "%s", seg);
        }
        return;
    }
    if (!strncmp(path, "/api/v1/", 8)) { /* the console's admin API (docs/admin-api.md) */
        const char *a = path + 8;
        *nd = (need){ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_DESCRIBE};
        if (!strcmp(a, "topics") && !get) {
            nd->op = ACL_OP_CREATE;
        } else if (!strncmp(a, "topics/", 7)) {
            p = a + 6;
            if (!segment(&p, seg, sizeof seg)) return;
            nd->restype = ACL_RES_TOPIC;
            snprintf(nd->name, sizeof nd->name, "%s", seg);
            nd->op = !strcmp(p, "/messages")     ? ACL_OP_READ
                     : !strcmp(p, "/configs")    ? ACL_OP_ALTER_CONFIGS
                     : !strcmp(method, "DELETE") ? ACL_OP_DELETE
                                                 : ACL_OP_DESCRIBE;
        } else if (!strncmp(a, "groups/", 7) && a[7]) {
            size_t n = strlen(a + 7);
            bool reset = !get && n > 6 && !strcmp(a + 7 + n - 6, "/reset");
            nd->restype = ACL_RES_GROUP;
            snprintf(nd->name, sizeof nd->name, "%.*s", (int)(reset ? n - 6 : n), a + 7);
            nd->op = reset ? ACL_OP_READ : ACL_OP_DESCRIBE;
        } else if (!strncmp(a, "dlq/", 4)) {
            /* redrive writes to each dead letter's source topic (or "to"): Write on every
             * topic (Topic:*), whatever the body names */
            *nd = (need){ACL_RES_TOPIC, "*", ACL_OP_WRITE};
        } else if (!strcmp(a, "trace") || !strcmp(a, "trace/recent") || !strcmp(a, "dlq")) {
            /* they read the records of every topic: Read on every topic (Topic:*) */
            *nd = (need){ACL_RES_TOPIC, "*", ACL_OP_READ};
        }
        return;
    }
    if (!strncmp(path, "/v3/clusters", 12)) {
        const char *t = strstr(path, "/topics/");
        p = t ? t + 7 : NULL;
        if (p && segment(&p, seg, sizeof seg)) {
            *nd = (need){ACL_RES_TOPIC, "", get ? ACL_OP_DESCRIBE : ACL_OP_WRITE};
            snprintf(nd->name, sizeof nd->name, "%s", seg);
        } else {
            *nd = (need){ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_DESCRIBE};
        }
        return;
    }
}

static void json_err(http_response *resp, int status, const char *msg)
{
    http_resp_printf(resp, status, "application/json", "{\"error_code\":%d,\"message\":\"%s\"}\n",
                     status == 401 ? 40101 : 40301, msg);
    resp->status = status;
}

int http_auth_guard(void *arg, const http_request *req, http_response *resp,
                    const char **www_authenticate)
{
    broker *b = arg;
    if (skipped(b->cfg.http_authentication_skip_paths, req->path)) return 0;
    static char www[256];
    snprintf(www, sizeof www, "Basic realm=\"%s\"", b->cfg.http_authentication_realm);
    const char *h = http_header(req, "Authorization");
    if (!h || strncasecmp(h, "Basic ", 6) != 0) {
        *www_authenticate = www;
        json_err(resp, 401, "Unauthorized: HTTP Basic credentials are required");
        return -1;
    }
    const char *enc = h + 6;
    while (*enc == ' ') enc++;
    size_t elen = strlen(enc), dlen = 0;
    char *dec = elen <= 2048 ? (char *)b64_decode_alloc(enc, elen, &dlen) : NULL;
    char *colon = dec ? memchr(dec, ':', dlen) : NULL;
    bool ok = false;
    char user[256] = "";
    if (colon && colon > dec && (size_t)(colon - dec) < sizeof user &&
        !has_ctl_chars(dec, (size_t)(colon - dec))) {
        memcpy(user, dec, (size_t)(colon - dec));
        user[colon - dec] = 0;
        char *pw = xstrndup(colon + 1, dlen - (size_t)(colon - dec) - 1);
        ok = strlen(pw) == dlen - (size_t)(colon - dec) - 1 && scram_verify_password(user, pw) == 1;
        memset(pw, 0, strlen(pw));
        free(pw);
    }
    if (dec) {
        memset(dec, 0, dlen);
        free(dec);
    }
    if (!ok) {
        LOGI_RL("http", "%s: HTTP Basic authentication failed for '%s' (%s %s)", req->peer_host,
                user, req->method, req->path);
        *www_authenticate = www;
        json_err(resp, 401, "Unauthorized: bad user name or password");
        return -1;
    }
    need nd;
    decide(req->method, req->path, &nd);
    if (nd.restype == 0) return 0;
    char principal[300];
    snprintf(principal, sizeof principal, "User:%s", user);
    if (bauthz_allowed_principal(b, principal, req->peer_host, nd.restype, nd.name, nd.op))
        return 0;
    char msg[1024]; /* principal (300) + names (512) + text: never truncated */
    snprintf(msg, sizeof msg, "Forbidden: %s needs %s on %s %s", principal, acl_op_name(nd.op),
             acl_restype_name(nd.restype), nd.name);
    for (char *q = msg; *q; q++)
        if (*q == '"' || *q == '\\') *q = '\'';
    json_err(resp, 403, msg);
    return -1;
}
