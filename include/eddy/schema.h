/* schema.h — libeddy schema validation: a JSON Schema validator and a client of eddyd's
 * Confluent-compatible schema registry (docs/schema-registry.md). A service registers its event
 * schemas at start-up (eddy_schema_register) and every publish checks the payload against the
 * schema registered for `<topic>-value` (eddy_schema_validate) before the event is recorded.
 * Code: src/sdkschema/ (schema.c registry client + cache, jsonschema.c validator, httpc.c a
 * small HTTP/1.1 client). Usage: docs/schema-validation.md.
 *
 * Functions return 0 on success or a negative code: EDDY_ERR_PERMANENT for an invalid payload,
 * a refused registration or an unusable schema (do not retry), EDDY_ERR_TRANSIENT when the
 * registry could not be reached or answered 5xx (retry later). err/errlen receive a one-line
 * message (may be NULL/0).
 */
#ifndef EDDY_SCHEMA_H
#define EDDY_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Same values as eddy.h. */
#ifndef EDDY_ERR_TRANSIENT
#define EDDY_ERR_TRANSIENT (-11)
#endif
#ifndef EDDY_ERR_PERMANENT
#define EDDY_ERR_PERMANENT (-22)
#endif

/* ---- JSON Schema validator (jsonschema.c) ------------------------------------------------- */
/* Keywords: type (incl. arrays of types, integer vs number, null), enum, const, properties,
 * required, additionalProperties (bool or schema), patternProperties, minProperties,
 * maxProperties, items (schema or tuple array), additionalItems, minItems, maxItems,
 * uniqueItems, contains, minLength/maxLength (in code points), pattern, minimum, maximum,
 * exclusiveMinimum/exclusiveMaximum (draft-4 boolean and draft-6+ number forms), multipleOf,
 * allOf, anyOf, oneOf, not, if/then/else, boolean schemas, and local $ref ("#", "#/definitions/x",
 * "#/$defs/x", any JSON pointer into the same document). Unknown keywords (format, title, …)
 * are ignored. pattern is an ECMA-262 regex in JSON Schema; it is run with POSIX regcomp
 * (REG_EXTENDED) after translating \d \w \s (and their negations), (?:…) and lazy quantifiers;
 * lookaround and backreferences make the schema unusable (compile error). Matching is
 * byte-wise (non-ASCII characters inside [...] do not work as in ECMA). */
typedef struct eddy_jsonschema eddy_jsonschema;

/* Compiles schema (borrowed; a reference is kept): checks every local $ref resolves and every
 * pattern compiles. */
int eddy_jsonschema_new(json_t *schema, eddy_jsonschema **out, char *err, size_t errlen);
void eddy_jsonschema_free(eddy_jsonschema *s);
/* 0 if doc is valid; else EDDY_ERR_PERMANENT and err = "<root>/<path>: <what> <rule>", e.g.
 * "payload/items/0/quantity: -1 is less than minimum 1". root may be NULL ("payload"). */
int eddy_jsonschema_validate(const eddy_jsonschema *s, const json_t *doc, const char *root,
                             char *err, size_t errlen);
/* The same, starting at the root's "$defs"/"definitions" member named def when it exists (the
 * event-type convention below), else at the root. $refs still resolve against the root. */
int eddy_jsonschema_validate_def(const eddy_jsonschema *s, const char *def, const json_t *doc,
                                 const char *root, char *err, size_t errlen);
/* 1 if the root has a "$defs"/"definitions" member named def. */
int eddy_jsonschema_has_def(const eddy_jsonschema *s, const char *def);

/* ---- registry client (schema.c) ----------------------------------------------------------- */
typedef struct eddy_schema_registry eddy_schema_registry;

/* url: "http[s]://[USER:PASSWORD@]HOST:PORT" (an optional path prefix is kept); NULL =
 * $EDDY_SCHEMA_REGISTRY_URL. Nothing is contacted yet. NULL on a bad or missing URL (reason in
 * err). Environment: EDDY_SCHEMA_UNREGISTERED=allow|refuse (default allow),
 * EDDY_SCHEMA_TIMEOUT_MS (default 5000), EDDY_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO=USER:PASSWORD
 * (HTTP Basic; replaces the URL's), EDDY_SCHEMA_REGISTRY_SSL_CA_LOCATION (PEM CAs for https;
 * default the system's). Thread-safe. */
eddy_schema_registry *eddy_schema_registry_new(const char *url, char *err, size_t errlen);
void eddy_schema_registry_free(eddy_schema_registry *reg);

/* What eddy_schema_validate does when `<topic>-value` has no schema registered. */
enum { EDDY_SCHEMA_UNREGISTERED_ALLOW = 0, EDDY_SCHEMA_UNREGISTERED_REFUSE = 1 };
void eddy_schema_registry_set_unregistered(eddy_schema_registry *reg, int policy);
/* Per-request timeout (connect + send + receive), ms. */
void eddy_schema_registry_set_timeout(eddy_schema_registry *reg, int timeout_ms);
/* How long a negative answer (no subject, or no version N so "latest" was used) is cached
 * before the registry is asked again, ms (default 30000). Positive answers never expire. */
void eddy_schema_registry_set_recheck(eddy_schema_registry *reg, int recheck_ms);

/* Registers schema_json (a JSON Schema document, as text) under subject with
 * POST /subjects/{subject}/versions {"schemaType":"JSON","schema":…}, then looks up its
 * version. Registering an already registered schema is a no-op returning the same id/version
 * (so a service may call it at every start-up). A 409 (incompatible) answer returns
 * EDDY_ERR_PERMANENT with the registry's reasons (errorType, description, path) in err.
 * id_out / version_out may be NULL. */
int eddy_schema_register(eddy_schema_registry *reg, const char *subject, const char *schema_json,
                         int *id_out, int *version_out, char *err, size_t errlen);

/* Validates payload against the schema of subject `<topic>-value` chosen by event_version
 * ("MAJOR" or "MAJOR.MINOR"): registered version MAJOR of the subject if it exists, else the
 * subject's latest version. Schemas are fetched once and cached per (subject, version).
 * No subject registered: 0 (policy allow) or EDDY_ERR_PERMANENT (policy refuse). */
int eddy_schema_validate(eddy_schema_registry *reg, const char *topic, const char *event_version,
                         const json_t *payload, char *err, size_t errlen);
/* The same for a topic that carries several event types (TopicNameStrategy: one schema per
 * topic). Convention: the schema is a union of the payload schemas, each a "$defs" member named
 * by its event type, e.g. {"$defs":{"order.created":{…},"order.cancelled":{…}},
 * "anyOf":[{"$ref":"#/$defs/order.created"},{"$ref":"#/$defs/order.cancelled"}]} — standard
 * JSON Schema, so other validators and the registry's compatibility checks see the union —
 * and libeddy validates a payload against the member of its event type when there is one
 * (exact errors, no cross-type matches), else against the whole schema. event_type may be NULL. */
int eddy_schema_validate_event(eddy_schema_registry *reg, const char *topic, const char *event_type,
                               const char *event_version, const json_t *payload, char *err,
                               size_t errlen);

/* The process-wide handle libeddy's publish path uses: the one installed by
 * eddy_schema_registry_set_default, else one made from $EDDY_SCHEMA_REGISTRY_URL on first use,
 * else NULL (no registry configured: publishes are not validated). Thread-safe. */
eddy_schema_registry *eddy_schema_registry_default(void);
/* Installs a handle for url (NULL/"" = none) as the default. A handle it replaces stays valid
 * (callers may still hold it) and is freed at exit. 0 or EDDY_ERR_PERMANENT (bad URL). */
int eddy_schema_registry_set_default(const char *url, char *err, size_t errlen);

/* Number of HTTP requests made so far (tests: the cache fetches once). */
long eddy_schema_registry_requests(const eddy_schema_registry *reg);

#ifdef __cplusplus
}
#endif
#endif
