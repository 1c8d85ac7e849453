/* authz/quota — client quotas per principal (KIP-13, KIP-124, KIP-546): the configured values
 * (entity type "user", a name or the default entity), their durable file, and the accounting that
 * turns usage into a throttle time. Below the broker: broker/authorize.c feeds it the bytes of
 * Produce and Fetch and the handler time of every request. docs/security.md, "Quotas". */
#ifndef EDDY_AUTHZ_QUOTA_H
#define EDDY_AUTHZ_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum quota_kind { QUOTA_PRODUCE = 0, QUOTA_FETCH = 1, QUOTA_REQUEST = 2, QUOTA_NKINDS = 3 };

/* Kafka's quota keys, indexed by quota_kind. */
extern const char *const quota_key_names[QUOTA_NKINDS];

typedef struct quota_store quota_store;

/* One entity's values; a value < 0 means "not set". name NULL = the default user entity. */
typedef struct quota_entity {
    const char *name;
    double v[QUOTA_NKINDS];
} quota_entity;

/* Opens the quotas kept in `path` (created on the first change; written atomically). NULL and a
 * message in *err when the file exists but cannot be parsed. */
quota_store *quota_store_open(const char *path, char **err);
void quota_store_close(quota_store *q);

/* Key name → kind, -1 when unknown. */
int quota_key_parse(const char *key);

/* Sets (remove=false) or removes a value of the user entity `name` (NULL = default). Does not
 * write: call quota_store_save after a batch. */
void quota_store_set(quota_store *q, const char *name, int kind, double value, bool remove);
int quota_store_save(quota_store *q); /* 0 or -errno */

/* Visits every entity with at least one value set. */
typedef void (*quota_visit_fn)(const quota_entity *e, void *arg);
void quota_store_each(const quota_store *q, quota_visit_fn fn, void *arg);
bool quota_store_empty(const quota_store *q);

/* The quota in force for a principal's user name ("alice" of "User:alice"): its own entity's
 * value, else the default entity's, else < 0 (unlimited). */
double quota_limit(const quota_store *q, const char *user, int kind);

/* Records `amount` (bytes, or microseconds of request handling for QUOTA_REQUEST) used by `user`
 * at now_ms and returns the throttle time in ms this usage earns (0 when within the quota).
 * A token bucket holding 0.2 s of quota refills at the quota's rate; usage may take it
 * below zero, and the time to refill back to zero is the throttle time. */
int32_t quota_record(quota_store *q, const char *user, int kind, double amount, int64_t now_ms);

#endif
