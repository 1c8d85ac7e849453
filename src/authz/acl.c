/* authz/acl — ACL bindings in memory, their file, and the authorization decision (acl.h).
 *
 * The file (<data dir>/__acls, rewritten whole and atomically on every change: tmp + fsync +
 * rename + directory fsync, so a SIGKILL leaves the old or the new set, never half of one):
 *
 *   eddy-acls 1\n
 *   <restype> <pattern> <op> <perm> <name> <principal> <host>\n      one line per binding
 *
 * The four enums are Kafka's wire numbers in decimal; the three strings are percent-encoded
 * (every byte outside [A-Za-z0-9._:*@/-] as %XX) so a space or newline in a name cannot split a
 * line. */
#include "authz/acl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authz/file.h"
#include "common/util.h"

typedef struct acl_row {
    acl_binding a;
    char *name, *principal, *host;
} acl_row;

struct acl_store {
    char *path;
    acl_row *rows;
    size_t n, cap;
    char **supers;
    size_t nsupers;
    bool allow_if_no_acl;
};

/* ------------------------------------------------------------- enum names ---- */

static const char *const RESTYPE_NAMES[] = {
    "Unknown", "Any", "Topic", "Group", "Cluster", "TransactionalId", "DelegationToken", "User"};
static const char *const PATTERN_NAMES[] = {"Unknown", "Any", "Match", "Literal", "Prefixed"};
static const char *const OP_NAMES[] = {"Unknown",
                                       "Any",
                                       "All",
                                       "Read",
                                       "Write",
                                       "Create",
                                       "Delete",
                                       "Alter",
                                       "Describe",
                                       "ClusterAction",
                                       "DescribeConfigs",
                                       "AlterConfigs",
                                       "IdempotentWrite",
                                       "CreateTokens",
                                       "DescribeTokens"};
static const char *const PERM_NAMES[] = {"Unknown", "Any", "Deny", "Allow"};

/* Case-insensitive, '_' ignored, so "IDEMPOTENT_WRITE", "IdempotentWrite", "idempotentwrite" and
 * "TRANSACTIONAL_ID" all name their value. */
static bool name_eq(const char *a, const char *b)
{
    for (;;) {
        while (*a == '_') a++;
        while (*b == '_') b++;
        if (!*a || !*b) return !*a && !*b;
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (x != y) return false;
        a++;
        b++;
    }
}

static int parse_in(const char *s, const char *const *names, size_t n)
{
    if (!s) return 0;
    for (size_t i = 1; i < n; i++)
        if (name_eq(s, names[i])) return (int)i;
    return 0;
}

int acl_restype_parse(const char *s)
{
    return parse_in(s, RESTYPE_NAMES, ARRAY_LEN(RESTYPE_NAMES));
}
int acl_pattern_parse(const char *s)
{
    return parse_in(s, PATTERN_NAMES, ARRAY_LEN(PATTERN_NAMES));
}
int acl_op_parse(const char *s)
{
    return parse_in(s, OP_NAMES, ARRAY_LEN(OP_NAMES));
}
int acl_perm_parse(const char *s)
{
    return parse_in(s, PERM_NAMES, ARRAY_LEN(PERM_NAMES));
}
const char *acl_restype_name(int v)
{
    return v > 0 && (size_t)v < ARRAY_LEN(RESTYPE_NAMES) ? RESTYPE_NAMES[v] : "Unknown";
}
const char *acl_pattern_name(int v)
{
    return v > 0 && (size_t)v < ARRAY_LEN(PATTERN_NAMES) ? PATTERN_NAMES[v] : "Unknown";
}
const char *acl_op_name(int v)
{
    return v > 0 && (size_t)v < ARRAY_LEN(OP_NAMES) ? OP_NAMES[v] : "Unknown";
}
const char *acl_perm_name(int v)
{
    return v > 0 && (size_t)v < ARRAY_LEN(PERM_NAMES) ? PERM_NAMES[v] : "Unknown";
}

/* ------------------------------------------------------------- validation ---- */

#define KERR_INVALID_REQUEST 42

static bool good_string(const char *s)
{
    if (!s || !*s) return false;
    size_t n = strlen(s);
    return n <= ACL_MAX_NAME && !has_ctl_chars(s, n);
}

/* "Type:name" with a non-empty type and name. */
static bool good_principal(const char *p)
{
    if (!good_string(p)) return false;
    const char *colon = strchr(p, ':');
    return colon && colon > p && colon[1];
}

int acl_binding_validate(const acl_binding *a, const char **msg)
{
    if (a->restype <= ACL_RES_ANY || a->restype > ACL_RES_USER) {
        *msg = "ResourceType must be Topic, Group, Cluster, TransactionalId, DelegationToken "
               "or User";
        return KERR_INVALID_REQUEST;
    }
    if (a->pattern != ACL_PAT_LITERAL && a->pattern != ACL_PAT_PREFIXED) {
        *msg = "ResourcePatternType must be LITERAL or PREFIXED";
        return KERR_INVALID_REQUEST;
    }
    if (a->op <= ACL_OP_ANY || a->op > ACL_OP_DESCRIBE_TOKENS) {
        *msg = "Operation must be a concrete operation (not ANY or UNKNOWN)";
        return KERR_INVALID_REQUEST;
    }
    if (a->perm != ACL_PERM_ALLOW && a->perm != ACL_PERM_DENY) {
        *msg = "PermissionType must be ALLOW or DENY";
        return KERR_INVALID_REQUEST;
    }
    if (!good_string(a->name)) {
        *msg = "ResourceName must be non-empty, at most 1024 bytes, without control characters";
        return KERR_INVALID_REQUEST;
    }
    if (a->pattern == ACL_PAT_PREFIXED && strcmp(a->name, "*") == 0) {
        *msg = "a PREFIXED pattern cannot be '*' (use LITERAL '*' for every resource)";
        return KERR_INVALID_REQUEST;
    }
    if (a->restype == ACL_RES_CLUSTER &&
        (a->pattern != ACL_PAT_LITERAL || strcmp(a->name, ACL_CLUSTER_NAME) != 0)) {
        *msg = "the Cluster resource is LITERAL 'kafka-cluster'";
        return KERR_INVALID_REQUEST;
    }
    if (!good_principal(a->principal)) {
        *msg = "Principal must be 'User:<name>' (or 'User:*')";
        return KERR_INVALID_REQUEST;
    }
    if (!good_string(a->host)) {
        *msg = "Host must be '*' or an address, without control characters";
        return KERR_INVALID_REQUEST;
    }
    return 0;
}

int acl_filter_validate(const acl_filter *f, const char **msg)
{
    if (f->restype <= ACL_RES_UNKNOWN || f->restype > ACL_RES_USER) {
        *msg = "unknown ResourceTypeFilter";
        return KERR_INVALID_REQUEST;
    }
    if (f->pattern <= ACL_PAT_UNKNOWN || f->pattern > ACL_PAT_PREFIXED) {
        *msg = "unknown PatternTypeFilter";
        return KERR_INVALID_REQUEST;
    }
    if (f->op <= ACL_OP_UNKNOWN || f->op > ACL_OP_DESCRIBE_TOKENS) {
        *msg = "unknown Operation";
        return KERR_INVALID_REQUEST;
    }
    if (f->perm <= ACL_PERM_UNKNOWN || f->perm > ACL_PERM_ALLOW) {
        *msg = "unknown PermissionType";
        return KERR_INVALID_REQUEST;
    }
    const char *strs[] = {f->name, f->principal, f->host};
    for (size_t i = 0; i < ARRAY_LEN(strs); i++)
        if (strs[i] &&
            (strlen(strs[i]) > ACL_MAX_NAME || has_ctl_chars(strs[i], strlen(strs[i])))) {
            *msg = "filter strings must be at most 1024 bytes, without control characters";
            return KERR_INVALID_REQUEST;
        }
    return 0;
}

/* ------------------------------------------------------------------- file ---- */

static bool binding_eq(const acl_binding *x, const acl_binding *y)
{
    return x->restype == y->restype && x->pattern == y->pattern && x->op == y->op &&
           x->perm == y->perm && strcmp(x->name, y->name) == 0 &&
           strcmp(x->principal, y->principal) == 0 && strcmp(x->host, y->host) == 0;
}

static void row_set(acl_row *r, const acl_binding *a)
{
    r->name = xstrdup(a->name);
    r->principal = xstrdup(a->principal);
    r->host = xstrdup(a->host);
    r->a = *a;
    r->a.name = r->name;
    r->a.principal = r->principal;
    r->a.host = r->host;
}

static void row_free(acl_row *r)
{
    free(r->name);
    free(r->principal);
    free(r->host);
}

static bool store_has(const acl_store *s, const acl_binding *a)
{
    for (size_t i = 0; i < s->n; i++)
        if (binding_eq(&s->rows[i].a, a)) return true;
    return false;
}

static void store_push(acl_store *s, const acl_binding *a)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->rows = xrealloc(s->rows, s->cap * sizeof *s->rows);
    }
    row_set(&s->rows[s->n++], a);
}

#define ACL_PUNCT "._:*@/-" /* written as they are (file format above) */

typedef struct write_ctx {
    const acl_store *s;
    const bool *skip;
} write_ctx;

static void write_rows(FILE *f, void *arg)
{
    const write_ctx *w = arg;
    for (size_t i = 0; i < w->s->n; i++) {
        if (w->skip && w->skip[i]) continue;
        const acl_binding *a = &w->s->rows[i].a;
        fprintf(f, "%d %d %d %d ", a->restype, a->pattern, a->op, a->perm);
        authz_put_enc(f, a->name, ACL_PUNCT);
        fputc(' ', f);
        authz_put_enc(f, a->principal, ACL_PUNCT);
        fputc(' ', f);
        authz_put_enc(f, a->host, ACL_PUNCT);
        fputc('\n', f);
    }
}

/* Writes rows[0..n) except the ones flagged in skip (may be NULL). */
static int store_write(const acl_store *s, const bool *skip)
{
    write_ctx w = {s, skip};
    return authz_file_write(s->path, "eddy-acls 1", write_rows, &w);
}

static int store_load(acl_store *s, char **err)
{
    int lineno = 0, rc;
    char *text = authz_file_read(s->path, err, &rc);
    if (!text) return rc;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (lineno == 1) {
            if (strcmp(line, "eddy-acls 1") != 0) {
                *err = xasprintf("%s: not an ACL file (first line '%.40s')", s->path, line);
                rc = -1;
                break;
            }
            continue;
        }
        int rt, pt, op, pm, used = 0;
        char name[3 * ACL_MAX_NAME + 1], prin[3 * ACL_MAX_NAME + 1], host[3 * ACL_MAX_NAME + 1];
        acl_binding a;
        const char *msg = "bad line";
        bool ok = sscanf(line, "%d %d %d %d %3072s %3072s %3072s%n", &rt, &pt, &op, &pm, name, prin,
                         host, &used) == 7 &&
                  line[used] == 0 && authz_dec_inplace(name) && authz_dec_inplace(prin) &&
                  authz_dec_inplace(host);
        if (ok) {
            a = (acl_binding){(int8_t)rt, (int8_t)pt, (int8_t)op, (int8_t)pm, name, prin, host};
            ok = rt >= 0 && rt < 128 && pt >= 0 && pt < 128 && op >= 0 && op < 128 && pm >= 0 &&
                 pm < 128 && acl_binding_validate(&a, &msg) == 0;
        }
        if (!ok) {
            *err = xasprintf("%s:%d: %s", s->path, lineno, msg);
            rc = -1;
            break;
        }
        if (!store_has(s, &a)) store_push(s, &a);
    }
    free(text);
    return rc;
}

static void parse_supers(acl_store *s, const char *list)
{
    if (!list) return;
    char *copy = xstrdup(list), *save = NULL;
    for (char *t = strtok_r(copy, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
        while (*t == ' ' || *t == '\t') t++;
        size_t n = strlen(t);
        while (n && (t[n - 1] == ' ' || t[n - 1] == '\t')) t[--n] = 0;
        if (!n) continue;
        s->supers = xrealloc(s->supers, (s->nsupers + 1) * sizeof *s->supers);
        s->supers[s->nsupers++] = xstrdup(t);
    }
    free(copy);
}

acl_store *acl_store_open(const char *path, const char *super_users, bool allow_if_no_acl,
                          char **err)
{
    acl_store *s = xcalloc(1, sizeof *s);
    s->path = xstrdup(path);
    s->allow_if_no_acl = allow_if_no_acl;
    parse_supers(s, super_users);
    if (store_load(s, err) < 0) {
        acl_store_close(s);
        return NULL;
    }
    return s;
}

void acl_store_close(acl_store *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) row_free(&s->rows[i]);
    for (size_t i = 0; i < s->nsupers; i++) free(s->supers[i]);
    free(s->supers);
    free(s->rows);
    free(s->path);
    free(s);
}

size_t acl_store_count(const acl_store *s)
{
    return s->n;
}

int acl_store_add(acl_store *s, const acl_binding *a, size_t n)
{
    size_t old = s->n;
    for (size_t i = 0; i < n; i++)
        if (!store_has(s, &a[i])) store_push(s, &a[i]);
    if (s->n == old) return 0;
    int rc = store_write(s, NULL);
    if (rc < 0) {
        while (s->n > old) row_free(&s->rows[--s->n]);
    }
    return rc;
}

/* ---------------------------------------------------------------- filters ---- */

static bool str_match(const char *want, const char *have)
{
    return !want || strcmp(want, have) == 0;
}

/* Kafka's filter semantics: a LITERAL/PREFIXED filter matches bindings of that exact pattern
 * and name; MATCH matches every binding that would apply to the name (the literal name, the
 * literal "*" and every prefix of it). */
static bool filter_matches(const acl_filter *f, const acl_binding *a)
{
    if (f->restype != ACL_RES_ANY && f->restype != a->restype) return false;
    if (f->op != ACL_OP_ANY && f->op != a->op) return false;
    if (f->perm != ACL_PERM_ANY && f->perm != a->perm) return false;
    if (!str_match(f->principal, a->principal) || !str_match(f->host, a->host)) return false;
    switch (f->pattern) {
    case ACL_PAT_ANY: return str_match(f->name, a->name);
    case ACL_PAT_MATCH:
        if (!f->name) return true;
        if (a->pattern == ACL_PAT_LITERAL)
            return strcmp(a->name, f->name) == 0 || strcmp(a->name, "*") == 0;
        return strncmp(f->name, a->name, strlen(a->name)) == 0;
    default: return f->pattern == a->pattern && str_match(f->name, a->name);
    }
}

size_t acl_store_find(const acl_store *s, const acl_filter *f, acl_visit_fn fn, void *arg)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!filter_matches(f, &s->rows[i].a)) continue;
        n++;
        if (fn) fn(&s->rows[i].a, arg);
    }
    return n;
}

long acl_store_delete(acl_store *s, const acl_filter *f, acl_visit_fn fn, void *arg)
{
    bool *skip = xcalloc(s->n ? s->n : 1, sizeof *skip);
    long count = 0;
    for (size_t i = 0; i < s->n; i++)
        if (filter_matches(f, &s->rows[i].a)) {
            skip[i] = true;
            count++;
        }
    if (count == 0) {
        free(skip);
        return 0;
    }
    int rc = store_write(s, skip);
    if (rc < 0) {
        free(skip);
        return rc;
    }
    size_t o = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (skip[i]) {
            if (fn) fn(&s->rows[i].a, arg);
            row_free(&s->rows[i]);
        } else {
            s->rows[o++] = s->rows[i];
        }
    }
    s->n = o;
    free(skip);
    return count;
}

/* --------------------------------------------------------------- decision ---- */

bool acl_is_super_user(const acl_store *s, const char *principal)
{
    for (size_t i = 0; i < s->nsupers; i++)
        if (strcmp(s->supers[i], principal) == 0) return true;
    return false;
}

static bool applies_to(const acl_binding *a, int restype, const char *name)
{
    if (a->restype != restype) return false;
    if (a->pattern == ACL_PAT_LITERAL)
        return strcmp(a->name, "*") == 0 || strcmp(a->name, name) == 0;
    return strncmp(name, a->name, strlen(a->name)) == 0;
}

static bool principal_matches(const char *acl_principal, const char *principal)
{
    return strcmp(acl_principal, principal) == 0 || strcmp(acl_principal, "User:*") == 0;
}

static bool host_matches(const char *acl_host, const char *host)
{
    return strcmp(acl_host, "*") == 0 || (host && strcmp(acl_host, host) == 0);
}

/* Does an ALLOW for acl_op grant op? (Kafka's implied operations.) */
static bool allow_grants(int acl_op, int op)
{
    if (acl_op == ACL_OP_ALL || acl_op == op) return true;
    if (op == ACL_OP_DESCRIBE)
        return acl_op == ACL_OP_READ || acl_op == ACL_OP_WRITE || acl_op == ACL_OP_DELETE ||
               acl_op == ACL_OP_ALTER;
    if (op == ACL_OP_DESCRIBE_CONFIGS) return acl_op == ACL_OP_ALTER_CONFIGS;
    return false;
}

bool acl_authorize_any(const acl_store *s, const char *principal, const char *host, int restype,
                       int op)
{
    if (acl_is_super_user(s, principal)) return true;
    bool allowed = false;
    for (size_t i = 0; i < s->n; i++) {
        const acl_binding *a = &s->rows[i].a;
        if (a->restype != restype || !principal_matches(a->principal, principal) ||
            !host_matches(a->host, host))
            continue;
        if (a->perm == ACL_PERM_DENY && (a->op == ACL_OP_ALL || a->op == op) &&
            a->pattern == ACL_PAT_LITERAL && strcmp(a->name, "*") == 0)
            return false;
        if (a->perm == ACL_PERM_ALLOW && allow_grants(a->op, op)) allowed = true;
    }
    return allowed;
}

bool acl_authorize(const acl_store *s, const char *principal, const char *host, int restype,
                   const char *name, int op)
{
    if (acl_is_super_user(s, principal)) return true;
    if (!name) name = "";
    bool any = false, allowed = false;
    for (size_t i = 0; i < s->n; i++) {
        const acl_binding *a = &s->rows[i].a;
        if (!applies_to(a, restype, name)) continue;
        any = true;
        if (!principal_matches(a->principal, principal) || !host_matches(a->host, host)) continue;
        if (a->perm == ACL_PERM_DENY && (a->op == ACL_OP_ALL || a->op == op)) return false;
        if (a->perm == ACL_PERM_ALLOW && allow_grants(a->op, op)) allowed = true;
    }
    if (!any) return s->allow_if_no_acl;
    return allowed;
}
