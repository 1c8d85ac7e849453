/* authorize — the broker's side of authorization and quotas (docs/security.md): the one check
 * every handler calls, the ACL and client-quota APIs (CreateAcls, DescribeAcls, DeleteAcls,
 * DescribeClientQuotas, AlterClientQuotas) and the quota accounting that throttles a
 * principal. The model and the files are in authz/ (acl.h, quota.h), below the broker.
 *
 * A handler checks with one call, e.g.
 *     if (!bauthz_allowed(b, r, ACL_RES_TOPIC, name, ACL_OP_WRITE)) err =
 * KERR_TOPIC_AUTHORIZATION_FAILED; When no authorizer is configured (authorizer.class.name empty)
 * every check passes. */
#ifndef EDDY_BROKER_AUTHORIZE_H
#define EDDY_BROKER_AUTHORIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "authz/acl.h"
#include "authz/quota.h"
#include "broker/broker.h"

/* Opens the ACL and quota files in the data directory and reads authorizer.class.name,
 * super.users and allow.everyone.if.no.acl.found. 0 or -1 (logged): an unknown authorizer class
 * or an unreadable file. Called by broker_open. */
int bauthz_open(broker *b);
void bauthz_close(broker *b);

/* Is an authorizer configured? */
bool bauthz_enabled(const broker *b);
/* May the request's principal, from its address, perform op on the resource? Always true
 * without an authorizer. Denials are logged (rate-limited) with the principal and resource. */
bool bauthz_allowed(broker *b, const breq *r, int restype, const char *name, int op);
/* The same for a length-delimited name (a protocol string). */
bool bauthz_allowed_k(broker *b, const breq *r, int restype, const uint8_t *name, int32_t len,
                      int op);
/* The same for a caller that is not a Kafka request (the HTTP port): principal "User:x",
 * host the peer's address without port (NULL = unknown). */
bool bauthz_allowed_principal(broker *b, const char *principal, const char *host, int restype,
                              const char *name, int op);
/* InitProducerId: Write on the TransactionalId (53 without), or for an idempotent producer
 * IdempotentWrite on the Cluster or Write on any topic (KIP-679; 31 without). 0 = allowed. */
int bauthz_init_producer_denied(broker *b, const breq *r, const uint8_t *tid, int32_t len);
/* May the request's principal create this topic (Create on the Cluster or on the topic)? */
bool bauthz_may_create(broker *b, const breq *r, const uint8_t *name, int32_t len);
/* Kafka's authorized-operations bit field (bit i = acl_op i) for a resource: Metadata's
 * TopicAuthorizedOperations / ClusterAuthorizedOperations when the client asks. */
int32_t bauthz_operations(broker *b, const breq *r, int restype, const char *name);

/* Quota accounting: records `amount` of kind (QUOTA_PRODUCE/QUOTA_FETCH bytes) for the request's
 * principal and returns the throttle time in ms it earns (0 when within quota or without
 * quotas). A positive result also mutes the connection for that long once the response is
 * queued (KIP-219: respond, then mute); the caller puts it in the response's ThrottleTimeMs. */
int32_t bquota_record(broker *b, breq *r, int kind, double amount);


/* The rows of the ACL and client-quota APIs; eddyd's main registers them. */
extern const bhandler_table broker_authz_handlers;

#endif
