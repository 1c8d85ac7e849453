/* registry_int — what the files of src/registry share: the model (schema versions, subject
 * config), the store's functions (store.c) and the routes' entry point (routes.c). Everything
 * here runs on the broker's loop thread. Not for use outside the registry.
 */
#ifndef EDDY_REGISTRY_REGISTRY_INT_H
#define EDDY_REGISTRY_REGISTRY_INT_H

#include <stdbool.h>

#include <jansson.h>

#include "broker/broker.h"
#include "http/http.h"

#define SCHEMAS_TOPIC "_schemas"
#define CT_SR "application/vnd.schemaregistry.v1+json"
#define MAX_BODY_BYTES (512u << 10) /* a _schemas record must stay below max.message.bytes */

typedef struct sver {
    char *subject;
    int version;
    int id;
    int type;
    char *schema; /* normalised text */
    char *canon;  /* schema_canonical(): identity for "same schema, same id" (not stored) */
    json_t *refs; /* array (owned) */
    bool deleted; /* soft-deleted */
} sver;

typedef struct subj_cfg {
    char *subject;
    int level;     /* -1 = none (global applies) */
    char mode[16]; /* "" = none (global applies) */
} subj_cfg;

typedef struct reg {
    broker *b;
    btopic *t;
    sver **v;
    int n, a;
    int max_id;
    int global_level; /* -1 = default (BACKWARD) */
    subj_cfg *cfg;
    int ncfg;
    char mode[16];
} reg;

/* One _schemas record to write: JSON texts (malloc()ed). */
typedef struct wrec {
    char *key, *val; /* val NULL = tombstone */
} wrec;

/* ---- model queries (store.c) ---- */
int reg_level_global(const reg *r);
subj_cfg *reg_cfg_find(reg *r, const char *s);
int reg_level_for(reg *r, const char *s);
const char *reg_mode_for(reg *r, const char *s); /* s NULL: the global mode */
sver *reg_find_ver(reg *r, const char *s, int version);
/* Latest version of a subject (not deleted unless include_deleted). */
sver *reg_latest(reg *r, const char *s, bool include_deleted);
bool reg_subject_exists(reg *r, const char *s, bool include_deleted);
sver *reg_by_id(reg *r, int id); /* a live version with that id, else a soft-deleted one */
int reg_type_of_subject(reg *r, const char *subject); /* -1: no live version */
/* A live (not soft-deleted) version whose references name subject (and version, if > 0)? */
sver *reg_referenced_by(reg *r, const char *subject, int version);
void reg_sver_free(sver *v);

/* ---- the _schemas log (store.c) ---- */
/* Applies one _schemas record (value NULL = tombstone). Used by the replay and after writes. */
void reg_apply(reg *r, json_t *key, json_t *val);
/* Appends the records as one batch, waits until they are fsynced, applies them. 0 or -1. */
int reg_write(reg *r, wrec *rs, int n);
int reg_replay(reg *r);
char *reg_key_schema(const char *subject, int version);
char *reg_val_schema(const sver *v, bool deleted);
char *reg_watermark_val(int id);
void reg_wrecs_free(wrec *rs, int n);

/* ---- REST routes (routes.c) ---- */
void reg_routes_add(reg *r, http_server *s);

#endif
