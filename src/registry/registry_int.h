/* registry_int — what the files of src/registry share: the model (schema versions, subject
 * config) and the store (store.c), the request queue and the compatibility worker (queue.c), the
 * REST routes (routes.c, schemas.c). Everything here runs on the broker's loop thread except
 * reg_job's work, which runs on the worker thread on copies. Not for use outside the registry.
 *
 * Ordering: requests that change the registry or carry a schema (every method but GET) wait in
 * one FIFO and run one at a time, each to its answer, through any number of steps: a step
 * either answers or starts asynchronous work (a worker job, a durable write) and names the
 * step to run when it is done. While one request waits, the registry does not change, so later
 * steps see the state the earlier ones checked; GETs are answered at once from that state.
 */
#ifndef EDDY_REGISTRY_REGISTRY_INT_H
#define EDDY_REGISTRY_REGISTRY_INT_H

#include <stdbool.h>

#include <jansson.h>

#include "broker/broker.h"
#include "http/http.h"
#include "registry/compat.h"

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

typedef struct reg_op reg_op;
typedef struct reg_worker reg_worker;
typedef struct reg_wait reg_wait;

typedef struct reg {
    /* the canonical form of a schema being written, computed on the worker (reg_apply uses it
     * instead of computing it again on the loop) */
    const char *hint_schema, *hint_canon;
    broker *b;
    btopic *t;
    sver **v;
    int n, a;
    int max_id;
    int global_level; /* -1 = default (BACKWARD) */
    subj_cfg *cfg;
    int ncfg;
    char mode[16];
    reg_op *head, *tail; /* the request queue (queue.c) */
    bool pumping;
    reg_worker *worker;
    reg_wait *wait; /* the write waiting for its fsync (store.c) */
} reg;

/* One _schemas record to write: JSON texts (malloc()ed). */
typedef struct wrec {
    char *key, *val; /* val NULL = tombstone */
    json_t *jval;    /* val already parsed (optional, owned): applied without parsing it again */
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
void reg_state_free(reg *r); /* the model's memory (versions, subject config) */

/* ---- the _schemas log (store.c) ---- */
/* Applies one _schemas record (value NULL = tombstone). Used by the replay and after writes. */
void reg_apply(reg *r, json_t *key, json_t *val);
/* Appends the records as one batch (taking rs, an xcalloc()ed array of n), and once they are
 * fsynced (or after 10 s, rc -1: they are in the log, but durability is not claimed) applies
 * them and calls done(r, op, rc) from the loop. Returns 0, or -1 if the append failed (done is
 * not called). One write at a time (the queue's order). */
typedef void (*reg_write_done)(reg *r, reg_op *op, int rc);
int reg_write_async(reg *r, wrec *rs, int n, reg_write_done done, reg_op *op);
void reg_write_cancel(reg *r); /* at stop: forget the waiting write (a replay will see it) */
int reg_replay(reg *r);
char *reg_key_schema(const char *subject, int version);
/* Sets w->val (and w->jval) to the SCHEMA value of v. */
void reg_wrec_schema_val(wrec *w, const sver *v, bool deleted);
char *reg_watermark_val(int id);
void reg_wrecs_free(wrec *rs, int n);

/* ---- requests (queue.c) ---- */

/* Query parameters the registry reads, copied with the request. */
enum { Q_DELETED, Q_PERMANENT, Q_VERBOSE, Q_DEFAULT_TO_GLOBAL, Q_SUBJECT_PREFIX, Q_COUNT };

/* A request copied out of the HTTP layer, so that it can wait in the queue. */
typedef struct regreq {
    char *method, *path; /* path percent-decoded */
    bool path_nul;       /* the decoded path held a NUL ("%00"): names in it would lie */
    char *body;
    size_t body_len;
    char *q[Q_COUNT]; /* query values or NULL */
    bool q_nul;       /* a query value held a NUL */
} regreq;

/* A schema read from a request body (schemas.c). */
typedef struct inschema {
    int type;
    char *norm;
    char *canon;
    json_t *refs;
    schema_ref_text *rt;
    int nrt;
} inschema;

/* Work for the worker thread: pure functions over copies (no registry state). */
typedef struct reg_job {
    /* parse (when body != NULL): the request body → parsed (handed back) or jerr */
    const char *body;
    size_t body_len;
    json_t *parsed;
    json_error_t jerr;
    /* normalise (when text != NULL): text + refs → norm/canon or err */
    int type;
    char *text;
    schema_ref_text *rt;
    int nrt;
    char *norm, *canon;
    char err[512];
    /* compatibility (when level >= 0): news against prev[nprev] (oldest first) */
    int level;
    schema_src news;
    schema_src *prev;
    int *versions;
    int nprev;
    bool ok;
    json_t *reasons; /* created by the worker, handed back */
    char **owned;    /* copies to free with the job */
    int nowned;
} reg_job;

enum { REG_DONE = 0, REG_WAIT = 1 };
typedef int (*reg_step)(reg *r, reg_op *op);

struct reg_op {
    reg_op *next;
    regreq rq;
    http_pending *hp; /* NULL for a request answered at once */
    http_response resp;
    reg_step step;
    bool waiting, resumed;
    /* carried between steps */
    char *subject;
    inschema s;
    int ver, level, want_id, want_ver;
    bool import, all;
    int st; /* the running route's result (REG_DONE / REG_WAIT) */
    reg_job *job;
};

int reg_queue_start(reg *r);
/* Answers every queued request (503 when it had not finished), joins the worker. */
void reg_queue_stop(reg *r);
/* Queues a request whose first step is `step` and runs the queue. */
void reg_enqueue(reg *r, const http_request *req, reg_step step);
/* Copies a request (also used for the GETs answered at once). */
void reg_req_copy(regreq *rq, const http_request *req);
void reg_req_free(regreq *rq);
void reg_op_release(reg_op *op); /* frees what op holds, not op */
/* From a step: runs the job on the worker, then `next` on the loop. Returns REG_WAIT. */
int reg_submit(reg *r, reg_op *op, reg_job *job, reg_step next);
/* From a step: writes rs (taken) durably, then `next` runs (op->resp already holds the answer;
 * a failed write replaces it with 50001). Returns REG_WAIT, or REG_DONE after a failed append. */
int reg_write_then(reg *r, reg_op *op, wrec *rs, int n, reg_step next);
/* A step that answers what op->resp holds. */
int reg_step_answer(reg *r, reg_op *op);
char *reg_job_own(reg_job *job, const char *s); /* a copy freed with the job */
void reg_job_free(reg_job *job);

/* ---- REST (routes.c: paths, GETs, config, mode, deletes; schemas.c: bodies with schemas) ---- */
void reg_routes_add(reg *r, http_server *s);

void reg_reply_json(http_response *resp, int status, json_t *j);
void reg_reply_err(http_response *resp, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void reg_reply_store_err(http_response *resp);
bool reg_qflag(const regreq *rq, int q);
bool reg_check_subject(const char *s, http_response *resp);
json_t *reg_body_object(const regreq *rq, http_response *resp);
int reg_parse_version(const char *s);
json_t *reg_sver_json(const sver *v, bool with_subject);
bool reg_read_only(reg *r, const char *subject, http_response *resp);

int reg_register(reg *r, reg_op *op);      /* POST /subjects/{s}/versions */
int reg_lookup(reg *r, reg_op *op);        /* POST /subjects/{s} */
int reg_compatibility(reg *r, reg_op *op); /* POST /compatibility/... */

#endif
