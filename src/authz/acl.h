/* authz/acl — the authorizer's model: Kafka's ACL bindings (resource type, name, pattern type,
 * principal, host, operation, permission), the durable ACL store and the authorization decision.
 * Sits below the broker and knows no sockets and no requests: the broker's handlers ask through
 * broker/authorize.c (bauthz_*), which passes the connection's principal and address.
 * docs/security.md, "Authorization". */
#ifndef EDDY_AUTHZ_ACL_H
#define EDDY_AUTHZ_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The wire values of Kafka's enums (org.apache.kafka.common.resource / acl). */
enum acl_restype {
    ACL_RES_UNKNOWN = 0,
    ACL_RES_ANY = 1,
    ACL_RES_TOPIC = 2,
    ACL_RES_GROUP = 3,
    ACL_RES_CLUSTER = 4,
    ACL_RES_TRANSACTIONAL_ID = 5,
    ACL_RES_DELEGATION_TOKEN = 6,
    ACL_RES_USER = 7,
};
enum acl_pattern {
    ACL_PAT_UNKNOWN = 0,
    ACL_PAT_ANY = 1,
    ACL_PAT_MATCH = 2, /* filters only: every pattern that would apply to the name */
    ACL_PAT_LITERAL = 3,
    ACL_PAT_PREFIXED = 4,
};
enum acl_op {
    ACL_OP_UNKNOWN = 0,
    ACL_OP_ANY = 1,
    ACL_OP_ALL = 2,
    ACL_OP_READ = 3,
    ACL_OP_WRITE = 4,
    ACL_OP_CREATE = 5,
    ACL_OP_DELETE = 6,
    ACL_OP_ALTER = 7,
    ACL_OP_DESCRIBE = 8,
    ACL_OP_CLUSTER_ACTION = 9,
    ACL_OP_DESCRIBE_CONFIGS = 10,
    ACL_OP_ALTER_CONFIGS = 11,
    ACL_OP_IDEMPOTENT_WRITE = 12,
    ACL_OP_CREATE_TOKENS = 13,
    ACL_OP_DESCRIBE_TOKENS = 14,
};
enum acl_perm { ACL_PERM_UNKNOWN = 0, ACL_PERM_ANY = 1, ACL_PERM_DENY = 2, ACL_PERM_ALLOW = 3 };

#define ACL_CLUSTER_NAME "kafka-cluster"
#define ACL_MAX_NAME 1024 /* bytes of a resource name, principal or host */

/* One ACL. Strings owned by the store (or by the caller for a candidate). */
typedef struct acl_binding {
    int8_t restype, pattern, op, perm;
    const char *name;      /* resource name, "*" for every resource (LITERAL) */
    const char *principal; /* "User:alice", "User:*" */
    const char *host;      /* "*" or an IP address */
} acl_binding;

/* A DescribeAcls / DeleteAcls filter: NULL strings and ANY enums match everything. */
typedef struct acl_filter {
    int8_t restype, pattern, op, perm;
    const char *name, *principal, *host;
} acl_filter;

typedef struct acl_store acl_store;

/* Opens the store kept in `path` (created on the first change; written atomically).
 * super_users: Kafka's "User:a;User:b" list (NULL = none). Returns NULL and an allocated message
 * in *err when the file exists but cannot be read or parsed. */
acl_store *acl_store_open(const char *path, const char *super_users, bool allow_if_no_acl,
                          char **err);
void acl_store_close(acl_store *s);

/* Parsing and printing of the enums in Kafka's spelling (case-insensitive: "Topic", "topic",
 * "TransactionalId", "IdempotentWrite", "ALLOW"). Unknown → the *_UNKNOWN value (0). */
int acl_restype_parse(const char *s);
int acl_pattern_parse(const char *s);
int acl_op_parse(const char *s);
int acl_perm_parse(const char *s);
const char *acl_restype_name(int v);
const char *acl_pattern_name(int v);
const char *acl_op_name(int v);
const char *acl_perm_name(int v);

/* Checks a binding to be created. Returns 0, or Kafka's error code (INVALID_REQUEST 42 for bad
 * enums or names, UNKNOWN_SERVER_ERROR never) with a static message in *msg. */
int acl_binding_validate(const acl_binding *a, const char **msg);
/* Checks a filter: unknown enum values are refused (42). */
int acl_filter_validate(const acl_filter *f, const char **msg);

/* Adds bindings (duplicates are kept once) and writes the store. 0 or -errno (nothing added). */
int acl_store_add(acl_store *s, const acl_binding *a, size_t n);
/* Calls fn for every binding matching f (in the store's order). Returns the count. */
typedef void (*acl_visit_fn)(const acl_binding *a, void *arg);
size_t acl_store_find(const acl_store *s, const acl_filter *f, acl_visit_fn fn, void *arg);
/* Removes every binding matching f, calling fn for each before it goes; writes the store.
 * Returns the count removed or -errno (nothing removed). */
long acl_store_delete(acl_store *s, const acl_filter *f, acl_visit_fn fn, void *arg);
size_t acl_store_count(const acl_store *s);

/* The decision: may `principal` connected from `host` perform `op` on the resource?
 * Super users may do everything; a matching DENY wins over any ALLOW; ALLOW of Read, Write,
 * Delete or Alter implies Describe, AlterConfigs implies DescribeConfigs, All covers every
 * operation; with no ACL at all on the resource, allow.everyone.if.no.acl.found decides. */
bool acl_authorize(const acl_store *s, const char *principal, const char *host, int restype,
                   const char *name, int op);
/* Is op allowed on at least one resource of the type (an ALLOW for the principal, or "User:*",
 * on any name, not denied for every name by a LITERAL "*" DENY)? Kafka's
 * authorizeByResourceType, for "Write on any topic" (KIP-679). */
bool acl_authorize_any(const acl_store *s, const char *principal, const char *host, int restype,
                       int op);
bool acl_is_super_user(const acl_store *s, const char *principal);

#endif
