/* authorize — the broker's side of authorization and quotas (authorize.h): the check handlers
 * call, the ACL APIs (CreateAcls 30, DescribeAcls 29, DeleteAcls 31), the client-quota APIs
 * (DescribeClientQuotas 48, AlterClientQuotas 49) and the quota accounting. The ACL model, the
 * decision and the files are in authz/ below. */
#include "broker/authorize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "broker/core.h"
#include "common/log.h"
#include "common/util.h"

/* authorizer.class.name values that mean the built-in authorizer: Kafka's own class names
 * (ZooKeeper and KRaft era) and ours. */
static const char *const AUTHORIZER_NAMES[] = {
    "kafka.security.authorizer.AclAuthorizer",
    "kafka.security.auth.SimpleAclAuthorizer",
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "eddy.acl",
};

int bauthz_open(broker *b)
{
    const char *cls = b->cfg.authorizer_class_name;
    bool on = cls && cls[0];
    if (on) {
        bool known = false;
        for (size_t i = 0; i < ARRAY_LEN(AUTHORIZER_NAMES); i++)
            if (strcmp(cls, AUTHORIZER_NAMES[i]) == 0) known = true;
        if (!known) {
            LOGE("main",
                 "authorizer.class.name=%s: unknown authorizer (eddyd's built-in one is named "
                 "eddy.acl, org.apache.kafka.metadata.authorizer.StandardAuthorizer or "
                 "kafka.security.authorizer.AclAuthorizer)",
                 cls);
            return -1;
        }
    }
    char *err = NULL;
    char *path = xasprintf("%s/acls.eddy", b->data_dir);
    b->acls = acl_store_open(path, b->cfg.super_users, b->cfg.allow_everyone_if_no_acl_found, &err);
    free(path);
    if (!b->acls) {
        LOGE("main", "cannot read the ACLs: %s", err);
        free(err);
        return -1;
    }
    path = xasprintf("%s/quotas.eddy", b->data_dir);
    b->quotas = quota_store_open(path, &err);
    free(path);
    if (!b->quotas) {
        LOGE("main", "cannot read the client quotas: %s", err);
        free(err);
        return -1;
    }
    b->authz_on = on;
    if (on)
        LOGI("main",
             "authorizer on: %zu ACLs, super.users \"%s\", allow.everyone.if.no.acl.found=%s",
             acl_store_count(b->acls), b->cfg.super_users ? b->cfg.super_users : "",
             b->cfg.allow_everyone_if_no_acl_found ? "true" : "false");
    return 0;
}

void bauthz_close(broker *b)
{
    acl_store_close(b->acls);
    b->acls = NULL;
    quota_store_close(b->quotas);
    b->quotas = NULL;
}

bool bauthz_enabled(const broker *b)
{
    return b->authz_on && b->acls;
}

bool bauthz_allowed_principal(broker *b, const char *principal, const char *host, int restype,
                              const char *name, int op)
{
    if (!bauthz_enabled(b)) return true;
    bool ok = acl_authorize(b->acls, principal, host, restype, name, op);
    if (!ok)
        LOGI_RL("authz", "denied: %s from %s: %s on %s:%s", principal, host ? host : "?",
                acl_op_name(op), acl_restype_name(restype), name ? name : "");
    return ok;
}

bool bauthz_allowed(broker *b, const breq *r, int restype, const char *name, int op)
{
    if (!bauthz_enabled(b)) return true;
    return bauthz_allowed_principal(b, breq_principal(r), breq_peer_host(r), restype, name, op);
}

bool bauthz_allowed_k(broker *b, const breq *r, int restype, const uint8_t *name, int32_t len,
                      int op)
{
    if (!bauthz_enabled(b)) return true;
    char buf[512];
    char *s = len < (int32_t)sizeof buf ? buf : xmalloc((size_t)len + 1);
    if (len > 0) memcpy(s, name, (size_t)len);
    s[len > 0 ? len : 0] = 0;
    bool ok = bauthz_allowed(b, r, restype, s, op);
    if (s != buf) free(s);
    return ok;
}

int bauthz_init_producer_denied(broker *b, const breq *r, const uint8_t *tid, int32_t len)
{
    if (!bauthz_enabled(b)) return 0;
    if (len >= 0)
        return bauthz_allowed_k(b, r, ACL_RES_TRANSACTIONAL_ID, tid, len, ACL_OP_WRITE)
                   ? 0
                   : KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    /* KIP-679: IdempotentWrite on the Cluster, or Write on any topic */
    if (acl_authorize(b->acls, breq_principal(r), breq_peer_host(r), ACL_RES_CLUSTER,
                      ACL_CLUSTER_NAME, ACL_OP_IDEMPOTENT_WRITE) ||
        acl_authorize_any(b->acls, breq_principal(r), breq_peer_host(r), ACL_RES_TOPIC,
                          ACL_OP_WRITE))
        return 0;
    LOGI_RL("authz",
            "denied: %s: InitProducerId (IdempotentWrite on the Cluster or Write on a topic)",
            breq_principal(r));
    return KERR_CLUSTER_AUTHORIZATION_FAILED;
}

bool bauthz_may_create(broker *b, const breq *r, const uint8_t *name, int32_t len)
{
    return bauthz_allowed(b, r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_CREATE) ||
           bauthz_allowed_k(b, r, ACL_RES_TOPIC, name, len, ACL_OP_CREATE);
}

int32_t bauthz_operations(broker *b, const breq *r, int restype, const char *name)
{
    static const int topic_ops[] = {
        ACL_OP_READ,  ACL_OP_WRITE,    ACL_OP_CREATE,           ACL_OP_DELETE,
        ACL_OP_ALTER, ACL_OP_DESCRIBE, ACL_OP_DESCRIBE_CONFIGS, ACL_OP_ALTER_CONFIGS};
    static const int cluster_ops[] = {ACL_OP_CREATE,           ACL_OP_ALTER,
                                      ACL_OP_DESCRIBE,         ACL_OP_CLUSTER_ACTION,
                                      ACL_OP_DESCRIBE_CONFIGS, ACL_OP_ALTER_CONFIGS,
                                      ACL_OP_IDEMPOTENT_WRITE};
    static const int group_ops[] = {ACL_OP_READ, ACL_OP_DESCRIBE, ACL_OP_DELETE};
    const int *ops = topic_ops;
    size_t n = ARRAY_LEN(topic_ops);
    if (restype == ACL_RES_CLUSTER) {
        ops = cluster_ops;
        n = ARRAY_LEN(cluster_ops);
    } else if (restype == ACL_RES_GROUP) {
        ops = group_ops;
        n = ARRAY_LEN(group_ops);
    }
    int32_t bits = 0;
    for (size_t i = 0; i < n; i++) {
        bool ok = !bauthz_enabled(b) || acl_authorize(b->acls, breq_principal(r), breq_peer_host(r),
                                                      restype, name, ops[i]);
        if (ok) bits |= (int32_t)1 << ops[i];
    }
    return bits;
}

/* ------------------------------------------------------------------ quotas ---- */

static const char *user_of(const char *principal)
{
    const char *colon = strchr(principal, ':');
    return colon ? colon + 1 : principal;
}

int32_t bquota_record(broker *b, breq *r, int kind, double amount)
{
    if (!b->quotas || quota_store_empty(b->quotas)) return 0;
    int32_t ms = quota_record(b->quotas, user_of(breq_principal(r)), kind, amount, now_mono_ms());
    if (ms > 0) breq_throttle(r, ms);
    return ms;
}


/* --------------------------------------------------------------- ACL APIs ---- */

/* A protocol string as a C string in the request arena; NULL for null. *bad is set when the
 * bytes hold a NUL or another control character (a C string would cut such a name short). */
static const char *arena_str(breq *r, kstr s, bool *bad)
{
    if (s.len < 0) return NULL;
    if (has_ctl_chars(s.p, (size_t)s.len)) *bad = true;
    char *c = karena_alloc(r->arena, (size_t)s.len + 1);
    memcpy(c, s.p, (size_t)s.len);
    c[s.len] = 0;
    return c;
}

static void set_err(kmsg *m, kfid code, kfid msgf, int err, const char *msg)
{
    k_set_int(m, code, err);
    if (err && msg)
        k_set_str(m, msgf, msg);
    else
        k_set_null(m, msgf);
}

static const char *const NO_AUTHORIZER =
    "no authorizer is configured (set authorizer.class.name to manage ACLs)";

/* The checks the ACL APIs start with: an authorizer is configured, and the principal holds the
 * Cluster permission (cluster_ok; `denied` says which otherwise). 0, or the error and *msg. */
static int acl_api_gate(broker *b, bool cluster_ok, const char *denied, const char **msg)
{
    if (!bauthz_enabled(b)) {
        *msg = NO_AUTHORIZER;
        return KERR_SECURITY_DISABLED;
    }
    if (!cluster_ok) {
        *msg = denied;
        return KERR_CLUSTER_AUTHORIZATION_FAILED;
    }
    return 0;
}

static void h_create_acls(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    k_set_int(resp, CreateAclsResponse_ThrottleTimeMs, 0);
    int32_t n = k_new_like(resp, CreateAclsResponse_Results, q, CreateAclsRequest_Creations);
    bool cluster_ok = bauthz_allowed(b, r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_ALTER);
    acl_binding *add = xcalloc(n ? (size_t)n : 1, sizeof *add);
    int32_t *slot = xcalloc(n ? (size_t)n : 1, sizeof *slot);
    size_t nadd = 0;
    for (int32_t i = 0; i < n; i++) {
        kmsg *c = k_item(q, CreateAclsRequest_Creations, i);
        kmsg *res = k_item(resp, CreateAclsResponse_Results, i);
        bool bad = false;
        acl_binding a = {
            .restype = (int8_t)k_int(c, AclCreation_ResourceType),
            .pattern = (int8_t)k_int(c, AclCreation_ResourcePatternType),
            .op = (int8_t)k_int(c, AclCreation_Operation),
            .perm = (int8_t)k_int(c, AclCreation_PermissionType),
            .name = arena_str(r, k_str(c, AclCreation_ResourceName), &bad),
            .principal = arena_str(r, k_str(c, AclCreation_Principal), &bad),
            .host = arena_str(r, k_str(c, AclCreation_Host), &bad),
        };
        const char *msg = NULL;
        int err = acl_api_gate(b, cluster_ok, "creating ACLs needs Alter on the Cluster", &msg);
        if (!err && bad) {
            err = KERR_INVALID_REQUEST;
            msg = "ACL strings must not hold NUL or control characters";
        } else if (!err) {
            err = acl_binding_validate(&a, &msg);
        }
        set_err(res, AclCreationResult_ErrorCode, AclCreationResult_ErrorMessage, err, msg);
        if (!err) {
            slot[nadd] = i;
            add[nadd++] = a;
        }
    }
    if (nadd) {
        int rc = acl_store_add(b->acls, add, nadd);
        if (rc < 0) {
            LOGE("authz", "cannot write the ACLs: %s", strerror(-rc));
            for (size_t j = 0; j < nadd; j++)
                set_err(k_item(resp, CreateAclsResponse_Results, slot[j]),
                        AclCreationResult_ErrorCode, AclCreationResult_ErrorMessage,
                        KERR_KAFKA_STORAGE_ERROR, "cannot write the ACL file");
        } else {
            LOGI("authz", "%s created %zu ACL(s)", breq_principal(r), nadd);
        }
    }
    free(add);
    free(slot);
    breq_done(r);
}

/* Reads a DescribeAcls / DeleteAcls filter; v0 has no pattern type (LITERAL). */
static int read_filter(breq *r, kmsg *m, int restype_f, int name_f, int pattern_f, int principal_f,
                       int host_f, int op_f, int perm_f, acl_filter *f, const char **msg)
{
    bool bad = false;
    *f = (acl_filter){
        .restype = (int8_t)k_int(m, restype_f),
        .pattern = r->hdr.api_version >= 1 ? (int8_t)k_int(m, pattern_f) : ACL_PAT_LITERAL,
        .op = (int8_t)k_int(m, op_f),
        .perm = (int8_t)k_int(m, perm_f),
        .name = arena_str(r, k_str(m, name_f), &bad),
        .principal = arena_str(r, k_str(m, principal_f), &bad),
        .host = arena_str(r, k_str(m, host_f), &bad),
    };
    if (bad) {
        *msg = "filter strings must not hold NUL or control characters";
        return KERR_INVALID_REQUEST;
    }
    return acl_filter_validate(f, msg);
}

/* DescribeAcls groups the matching bindings by resource (type, name, pattern). */
typedef struct desc_ctx {
    breq *r;
    const acl_binding **rows;
    size_t n, cap;
} desc_ctx;

static void collect(const acl_binding *a, void *arg)
{
    desc_ctx *d = arg;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->rows = xrealloc(d->rows, d->cap * sizeof *d->rows);
    }
    d->rows[d->n++] = a;
}

static bool same_resource(const acl_binding *x, const acl_binding *y)
{
    return x->restype == y->restype && x->pattern == y->pattern && strcmp(x->name, y->name) == 0;
}

static void h_describe_acls(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    k_set_int(resp, DescribeAclsResponse_ThrottleTimeMs, 0);
    k_new_items(resp, DescribeAclsResponse_Resources, 0);
    acl_filter f;
    const char *msg = NULL;
    int err =
        acl_api_gate(b, bauthz_allowed(b, r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_DESCRIBE),
                     "describing ACLs needs Describe on the Cluster", &msg);
    if (!err) {
        err = read_filter(
            r, q, DescribeAclsRequest_ResourceTypeFilter, DescribeAclsRequest_ResourceNameFilter,
            DescribeAclsRequest_PatternTypeFilter, DescribeAclsRequest_PrincipalFilter,
            DescribeAclsRequest_HostFilter, DescribeAclsRequest_Operation,
            DescribeAclsRequest_PermissionType, &f, &msg);
    }
    set_err(resp, DescribeAclsResponse_ErrorCode, DescribeAclsResponse_ErrorMessage, err, msg);
    if (err) {
        breq_done(r);
        return;
    }
    desc_ctx d = {.r = r};
    acl_store_find(b->acls, &f, collect, &d);
    /* resources in first-seen order */
    bool *done = xcalloc(d.n ? d.n : 1, sizeof *done);
    int32_t nres = 0;
    for (size_t i = 0; i < d.n; i++) {
        if (done[i]) continue;
        nres++;
        for (size_t j = i + 1; j < d.n; j++)
            if (!done[j] && same_resource(d.rows[i], d.rows[j])) done[j] = true;
    }
    memset(done, 0, (d.n ? d.n : 1) * sizeof *done);
    k_new_items(resp, DescribeAclsResponse_Resources, nres);
    int32_t ri = 0;
    for (size_t i = 0; i < d.n; i++) {
        if (done[i]) continue;
        const acl_binding *a = d.rows[i];
        kmsg *res = k_item(resp, DescribeAclsResponse_Resources, ri++);
        k_set_int(res, DescribeAclsResource_ResourceType, a->restype);
        k_set_str(res, DescribeAclsResource_ResourceName, a->name);
        k_set_int(res, DescribeAclsResource_PatternType, a->pattern);
        int32_t cnt = 0;
        for (size_t j = i; j < d.n; j++)
            if (same_resource(a, d.rows[j])) cnt++;
        k_new_items(res, DescribeAclsResource_Acls, cnt);
        int32_t ai = 0;
        for (size_t j = i; j < d.n; j++) {
            if (!same_resource(a, d.rows[j])) continue;
            done[j] = true;
            kmsg *ad = k_item(res, DescribeAclsResource_Acls, ai++);
            k_set_str(ad, AclDescription_Principal, d.rows[j]->principal);
            k_set_str(ad, AclDescription_Host, d.rows[j]->host);
            k_set_int(ad, AclDescription_Operation, d.rows[j]->op);
            k_set_int(ad, AclDescription_PermissionType, d.rows[j]->perm);
        }
    }
    free(done);
    free(d.rows);
    breq_done(r);
}

/* DeleteAcls: each deleted binding becomes a MatchingAcl of its filter's result. */
typedef struct del_ctx {
    breq *r;
    kmsg *fr;
    acl_binding *rows; /* copies in the arena: the store frees its own */
    size_t n, cap;
} del_ctx;

static void collect_deleted(const acl_binding *a, void *arg)
{
    del_ctx *d = arg;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->rows = xrealloc(d->rows, d->cap * sizeof *d->rows);
    }
    acl_binding c = *a;
    c.name = karena_strdup(d->r->arena, a->name);
    c.principal = karena_strdup(d->r->arena, a->principal);
    c.host = karena_strdup(d->r->arena, a->host);
    d->rows[d->n++] = c;
}

static void h_delete_acls(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    k_set_int(resp, DeleteAclsResponse_ThrottleTimeMs, 0);
    int32_t n = k_new_like(resp, DeleteAclsResponse_FilterResults, q, DeleteAclsRequest_Filters);
    bool cluster_ok = bauthz_allowed(b, r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_ALTER);
    long total = 0;
    for (int32_t i = 0; i < n; i++) {
        kmsg *fq = k_item(q, DeleteAclsRequest_Filters, i);
        kmsg *fr = k_item(resp, DeleteAclsResponse_FilterResults, i);
        k_new_items(fr, DeleteAclsFilterResult_MatchingAcls, 0);
        acl_filter f;
        const char *msg = NULL;
        int err = acl_api_gate(b, cluster_ok, "deleting ACLs needs Alter on the Cluster", &msg);
        if (!err) {
            err =
                read_filter(r, fq, DeleteAclsFilter_ResourceTypeFilter,
                            DeleteAclsFilter_ResourceNameFilter, DeleteAclsFilter_PatternTypeFilter,
                            DeleteAclsFilter_PrincipalFilter, DeleteAclsFilter_HostFilter,
                            DeleteAclsFilter_Operation, DeleteAclsFilter_PermissionType, &f, &msg);
        }
        del_ctx d = {.r = r, .fr = fr};
        if (!err) {
            long rc = acl_store_delete(b->acls, &f, collect_deleted, &d);
            if (rc < 0) {
                LOGE("authz", "cannot write the ACLs: %s", strerror((int)-rc));
                err = KERR_KAFKA_STORAGE_ERROR;
                msg = "cannot write the ACL file";
            } else {
                total += rc;
            }
        }
        set_err(fr, DeleteAclsFilterResult_ErrorCode, DeleteAclsFilterResult_ErrorMessage, err,
                msg);
        k_new_items(fr, DeleteAclsFilterResult_MatchingAcls, (int32_t)d.n);
        for (size_t j = 0; j < d.n; j++) {
            kmsg *m = k_item(fr, DeleteAclsFilterResult_MatchingAcls, (int32_t)j);
            set_err(m, DeleteAclsMatchingAcl_ErrorCode, DeleteAclsMatchingAcl_ErrorMessage, 0,
                    NULL);
            k_set_int(m, DeleteAclsMatchingAcl_ResourceType, d.rows[j].restype);
            k_set_str(m, DeleteAclsMatchingAcl_ResourceName, d.rows[j].name);
            k_set_int(m, DeleteAclsMatchingAcl_PatternType, d.rows[j].pattern);
            k_set_str(m, DeleteAclsMatchingAcl_Principal, d.rows[j].principal);
            k_set_str(m, DeleteAclsMatchingAcl_Host, d.rows[j].host);
            k_set_int(m, DeleteAclsMatchingAcl_Operation, d.rows[j].op);
            k_set_int(m, DeleteAclsMatchingAcl_PermissionType, d.rows[j].perm);
        }
        free(d.rows);
    }
    if (total) LOGI("authz", "%s deleted %ld ACL(s)", breq_principal(r), total);
    breq_done(r);
}

/* ------------------------------------------------------------ quota APIs ---- */

typedef struct qdesc {
    breq *r;
    kmsg *resp;
    int match_type; /* -1 = any entity; 0 exact; 1 default; 2 any specified */
    const char *match;
    quota_entity *ents;
    size_t n;
} qdesc;

static void qcollect(const quota_entity *e, void *arg)
{
    qdesc *d = arg;
    if (d->match_type == 0 && !(e->name && d->match && strcmp(e->name, d->match) == 0)) return;
    if (d->match_type == 1 && e->name) return;
    if (d->match_type == 2 && !e->name) return;
    d->ents = xrealloc(d->ents, (d->n + 1) * sizeof *d->ents);
    quota_entity c = *e;
    c.name = e->name ? karena_strdup(d->r->arena, e->name) : NULL;
    d->ents[d->n++] = c;
}

static void h_describe_client_quotas(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    k_set_int(resp, DescribeClientQuotasResponse_ThrottleTimeMs, 0);
    int err = 0;
    const char *msg = NULL;
    qdesc d = {.r = r, .resp = resp, .match_type = -1};
    bool none = false; /* a filter on client-id: eddyd keeps user quotas only */
    if (!bauthz_allowed(b, r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_DESCRIBE_CONFIGS)) {
        err = KERR_CLUSTER_AUTHORIZATION_FAILED;
        msg = "describing client quotas needs DescribeConfigs on the Cluster";
    }
    int32_t nc = k_count(q, DescribeClientQuotasRequest_Components);
    for (int32_t i = 0; i < nc && !err; i++) {
        kmsg *c = k_item(q, DescribeClientQuotasRequest_Components, i);
        bool bad = false;
        const char *type = arena_str(r, k_str(c, ComponentData_EntityType), &bad);
        int mt = (int)k_int(c, ComponentData_MatchType);
        const char *match = arena_str(r, k_str(c, ComponentData_Match), &bad);
        if (bad || !type || mt < 0 || mt > 2 || (mt == 0 && !match)) {
            err = KERR_INVALID_REQUEST;
            msg = "bad filter component (match type 0 exact with a name, 1 default, 2 any)";
        } else if (strcmp(type, "user") == 0) {
            d.match_type = mt;
            d.match = match;
        } else if (strcmp(type, "client-id") == 0 || strcmp(type, "ip") == 0) {
            none = true;
        } else {
            err = KERR_INVALID_REQUEST;
            msg = "unknown entity type (user, client-id, ip)";
        }
    }
    set_err(resp, DescribeClientQuotasResponse_ErrorCode, DescribeClientQuotasResponse_ErrorMessage,
            err, msg);
    if (err) {
        k_set_null(resp, DescribeClientQuotasResponse_Entries);
        breq_done(r);
        return;
    }
    if (!none) quota_store_each(b->quotas, qcollect, &d);
    k_new_items(resp, DescribeClientQuotasResponse_Entries, (int32_t)d.n);
    for (size_t i = 0; i < d.n; i++) {
        kmsg *e = k_item(resp, DescribeClientQuotasResponse_Entries, (int32_t)i);
        k_new_items(e, DescribeClientQuotasResponse_EntryData_Entity, 1);
        kmsg *ent = k_item(e, DescribeClientQuotasResponse_EntryData_Entity, 0);
        k_set_str(ent, EntityData_EntityType, "user");
        if (d.ents[i].name)
            k_set_str(ent, EntityData_EntityName, d.ents[i].name);
        else
            k_set_null(ent, EntityData_EntityName);
        int32_t nv = 0;
        for (int k = 0; k < QUOTA_NKINDS; k++)
            if (d.ents[i].v[k] >= 0) nv++;
        k_new_items(e, DescribeClientQuotasResponse_EntryData_Values, nv);
        int32_t vi = 0;
        for (int k = 0; k < QUOTA_NKINDS; k++) {
            if (d.ents[i].v[k] < 0) continue;
            kmsg *v = k_item(e, DescribeClientQuotasResponse_EntryData_Values, vi++);
            k_set_str(v, ValueData_Key, quota_key_names[k]);
            k_set_f64(v, ValueData_Value, d.ents[i].v[k]);
        }
    }
    free(d.ents);
    breq_done(r);
}

static void h_alter_client_quotas(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    bool validate = k_bool(q, AlterClientQuotasRequest_ValidateOnly);
    k_set_int(resp, AlterClientQuotasResponse_ThrottleTimeMs, 0);
    int32_t n =
        k_new_like(resp, AlterClientQuotasResponse_Entries, q, AlterClientQuotasRequest_Entries);
    bool cluster_ok = bauthz_allowed(b, r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_ALTER_CONFIGS);
    bool changed = false;
    for (int32_t i = 0; i < n; i++) {
        kmsg *eq = k_item(q, AlterClientQuotasRequest_Entries, i);
        kmsg *er = k_item(resp, AlterClientQuotasResponse_Entries, i);
        /* echo the entity */
        int32_t ne = k_new_like(er, AlterClientQuotasResponse_EntryData_Entity, eq,
                                AlterClientQuotasRequest_EntryData_Entity);
        bool bad = false;
        const char *user = NULL;
        bool is_user = false;
        for (int32_t j = 0; j < ne; j++) {
            kmsg *s = k_item(eq, AlterClientQuotasRequest_EntryData_Entity, j);
            kmsg *d = k_item(er, AlterClientQuotasResponse_EntryData_Entity, j);
            kstr t = k_str(s, EntityData_EntityType), nm = k_str(s, EntityData_EntityName);
            k_set_kstr(d, EntityData_EntityType, t);
            if (nm.len >= 0)
                k_set_kstr(d, EntityData_EntityName, nm);
            else
                k_set_null(d, EntityData_EntityName);
            const char *ts = arena_str(r, t, &bad);
            if (ne == 1 && ts && strcmp(ts, "user") == 0) {
                is_user = true;
                user = arena_str(r, nm, &bad);
            }
        }
        int err = 0;
        const char *msg = NULL;
        if (!cluster_ok) {
            err = KERR_CLUSTER_AUTHORIZATION_FAILED;
            msg = "altering client quotas needs AlterConfigs on the Cluster";
        } else if (bad) {
            err = KERR_INVALID_REQUEST;
            msg = "entity strings must not hold NUL or control characters";
        } else if (!is_user) {
            err = KERR_INVALID_REQUEST;
            msg = "eddyd keeps quotas for the user entity only (one component of type 'user')";
        } else if (user && !user[0]) {
            err = KERR_INVALID_REQUEST;
            msg = "an empty user name (use null for the default user)";
        }
        int32_t nops = err ? 0 : k_count(eq, AlterClientQuotasRequest_EntryData_Ops);
        for (int32_t j = 0; j < nops && !err; j++) {
            kmsg *op = k_item(eq, AlterClientQuotasRequest_EntryData_Ops, j);
            kstr key = k_str(op, OpData_Key);
            const char *ks = arena_str(r, key, &bad);
            double v = k_f64(op, OpData_Value);
            bool remove = k_bool(op, OpData_Remove);
            if (bad || quota_key_parse(ks) < 0) {
                err = KERR_INVALID_REQUEST;
                msg = "unknown quota key (producer_byte_rate, consumer_byte_rate, "
                      "request_percentage)";
            } else if (!remove && !(v > 0 && v < 1e18)) {
                err = KERR_INVALID_REQUEST;
                msg = "a quota value must be a positive number";
            }
        }
        if (!err && !validate) {
            for (int32_t j = 0; j < nops; j++) {
                kmsg *op = k_item(eq, AlterClientQuotasRequest_EntryData_Ops, j);
                const char *ks = arena_str(r, k_str(op, OpData_Key), &bad);
                quota_store_set(b->quotas, user, quota_key_parse(ks), k_f64(op, OpData_Value),
                                k_bool(op, OpData_Remove));
                changed = true;
            }
        }
        set_err(er, AlterClientQuotasResponse_EntryData_ErrorCode,
                AlterClientQuotasResponse_EntryData_ErrorMessage, err, msg);
    }
    if (changed) {
        int rc = quota_store_save(b->quotas);
        if (rc < 0) {
            LOGE("authz", "cannot write the client quotas: %s", strerror(-rc));
            for (int32_t i = 0; i < n; i++) {
                kmsg *er = k_item(resp, AlterClientQuotasResponse_Entries, i);
                if (k_int(er, AlterClientQuotasResponse_EntryData_ErrorCode) == 0)
                    set_err(er, AlterClientQuotasResponse_EntryData_ErrorCode,
                            AlterClientQuotasResponse_EntryData_ErrorMessage,
                            KERR_KAFKA_STORAGE_ERROR, "cannot write the quota file");
            }
        } else {
            LOGI("authz", "%s altered client quotas", breq_principal(r));
        }
    }
    breq_done(r);
}

const bhandler_table broker_authz_handlers = {
    [API_DescribeAcls] = {0, 3, 0, h_describe_acls},
    [API_CreateAcls] = {0, 3, 0, h_create_acls},
    [API_DeleteAcls] = {0, 3, 0, h_delete_acls},
    [API_DescribeClientQuotas] = {0, 1, 0, h_describe_client_quotas},
    [API_AlterClientQuotas] = {0, 1, 0, h_alter_client_quotas},
};
