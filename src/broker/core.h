/* core — internal contracts between the core API files of eddyd (topics.c, produce.c,
 * fetch.c, offsets.c, metadata.c, admin.c, producers.c, core_table.c) and the one hook the
 * server calls: produce_on_flush.
 *
 * Sits in broker/ beside broker.h; server.c/main.c include it for produce_on_flush only.
 */
#ifndef EDDY_BROKER_CORE_H
#define EDDY_BROKER_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"
#include "storage/batch.h"

/* Called on the loop thread whenever the flusher's eventfd fires (and once more at shutdown
 * with b->flusher == NULL): answers every parked acks=all Produce whose data is durable (all of
 * them when the flusher is gone). */
void produce_on_flush(broker *b);
/* Answers every parked Fetch now (shutdown; called by produce_on_flush when b->flusher is
 * NULL, i.e. after main.c stopped the flusher and before it closes the connections). */
void fetch_finish_all(broker *b);

/* ---------------------------------------------------------------- topic configs ---- */

/* Every topic config a current Kafka accepts (tconfig.c). type is Kafka's ConfigType as
 * DescribeConfigs v3+ sends it. */
enum { TC_BOOL = 1, TC_STRING = 2, TC_INT = 3, TC_LONG = 5, TC_DOUBLE = 6, TC_LIST = 7 };
enum { TC_CODEC_PRODUCER = -1 }; /* topic_config.compression; else BATCH_CODEC_* */
typedef struct tconf_key {
    const char *name;
    int8_t type;
    int64_t min, max;     /* TC_INT / TC_LONG / TC_DOUBLE range */
    const char *valid;    /* "a|b" for strings and lists; special validators; NULL = any */
    const char *dflt;     /* Kafka's default */
    const char *synonyms; /* broker settings it falls back to, most specific first, "a,b" */
    bool honoured;        /* false: accepted, validated, shown, and ignored */
    const char *doc;      /* what eddyd does with it (DescribeConfigs documentation) */
} tconf_key;
int tconf_count(void);
const tconf_key *tconf_at(int i);
const tconf_key *tconf_find(const char *name);
const char *tconf_type_name(int type); /* "LONG", ... */
/* Kafka's type/range/valid-values check of one value: 0 or KERR_INVALID_CONFIG with
 * "Invalid value V for configuration K: why". */
int tconf_check_value(const tconf_key *k, const char *v, char *err, size_t errlen);
/* The value of k for a topic without an override (the first synonym eddyd has as a setting,
 * else Kafka's default); *bkey = that setting's bconfig index or -1. Returns buf. */
const char *tconf_broker_default(const bconfig *bc, const tconf_key *k, char *buf, size_t len,
                                 int *bkey);

/* Broker defaults into *c (overrides NULL). */
void tconf_defaults(const bconfig *bc, topic_config *c);
/* Applies one key=value onto c. Returns 0 or KERR_INVALID_CONFIG. */
int tconf_apply(topic_config *c, const char *key, const char *value);
/* Checks one topic config: 0, or KERR_INVALID_CONFIG with a message naming an unknown key
 * ("Unknown topic config name: x", with the closest known one) or an invalid value. */
int tconf_check(const char *key, const char *value, char *err, size_t errlen);
/* Validates `overrides` ("k=v\n" lines) and builds the full config from broker defaults.
 * Returns 0 or KERR_INVALID_CONFIG (err gets a message). c->overrides is a fresh copy. */
int tconf_build(const bconfig *bc, const char *overrides, topic_config *c, char *err,
                size_t errlen);
/* Current value of `key` for topic config c as a string; *overridden says whether it is set
 * explicitly in c->overrides. Returns buf. */
const char *tconf_value(const topic_config *c, const char *key, char *buf, size_t len,
                        bool *overridden);
/* Returns the override value of key in a "k=v\n" string (malloc()ed) or NULL. */
char *tconf_override_get(const char *overrides, const char *key);
/* Returns a new "k=v\n" string with key set to value (value NULL = removed). */
char *tconf_override_set(const char *overrides, const char *key, const char *value);

/* ---------------------------------------------------------------- dynamic broker configs ---- */

/* dynconfig.c: AlterConfigs on the BROKER resource. */
bool dynconf_is_dynamic(const char *key);
/* Reads data_dir/broker-configs and applies it over the static settings (before topics_load). */
int dynconf_load(broker *b);
void dynconf_free(broker *b);
/* The "k=v\n" dynamic settings of the cluster default (resource "") or of this broker. */
const char *dynconf_overrides(broker *b, bool cluster_default);
/* Validates "k=v\n" settings for a broker resource: 0, KERR_INVALID_CONFIG (unknown name, bad
 * value) or KERR_INVALID_REQUEST "Cannot update these configs dynamically: Set(a, b)". */
int dynconf_check(const char *overrides, char *err, size_t errlen);
/* Replaces the whole dynamic set of one resource: validated, persisted, applied live (topics
 * reconfigured). validate = check only. 0 or KERR_*. */
int dynconf_alter(broker *b, bool cluster_default, const char *overrides, bool validate, char *err,
                  size_t errlen);
/* The layers of setting i, most specific first: {source 2|3|4|5, malloc'ed value}. */
typedef struct dynconf_layer {
    int source;
    char *value;
} dynconf_layer;
int dynconf_layers(broker *b, int i, dynconf_layer out[4]);
/* Kafka's dynamic settings eddyd accepts, keeps, shows and ignores (thread pools, SASL/Kerberos
 * login, cleaner buffers, throttles); their layers (2, 3, then 5 = Kafka's default). */
int dynconf_ignored_count(void);
const tconf_key *dynconf_ignored_at(int i);
int dynconf_ignored_layers(broker *b, int i, dynconf_layer out[3]);
void dynconf_layers_free(dynconf_layer *l, int n);

/* Replaces every override of t (validated first, persisted). Returns 0 or KERR_*. */
int topic_replace_configs(broker *b, btopic *t, const char *overrides, char *err, size_t errlen);
void topic_id_hex(const uint8_t id[16], char out[33]);

/* ---------------------------------------------------------------- producers ---- */

/* Idempotent-producer state of one partition: per producer id the epoch and the last 5
 * batches (first/last sequence, base offset). Pure data structure (unit-tested). */
typedef struct pidtab pidtab;
pidtab *pidtab_new(void);
void pidtab_free(pidtab *t);
int pidtab_count(const pidtab *t);

enum { PID_APPEND = 0, PID_DUPLICATE = 1 };
/* Checks a batch of producer `pid`/`epoch` covering sequences [seq, seq + last_delta].
 * Returns PID_APPEND (go ahead), PID_DUPLICATE (*dup_base = the first append's base offset),
 * or a positive KERR_* (OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH). */
int pidtab_check(pidtab *t, int64_t pid, int16_t epoch, int32_t seq, int32_t last_delta,
                 int64_t *dup_base);
/* Records an appended batch (after pidtab_check said PID_APPEND). */
void pidtab_record(pidtab *t, int64_t pid, int16_t epoch, int32_t seq, int32_t last_delta,
                   int64_t base_offset);

/* Partition helpers over bpart->producers. */
int producers_check(bpart *p, const batch_info *bi, int64_t *dup_base);
void producers_record(bpart *p, const batch_info *bi, int64_t base_offset);
/* Rebuilds the partition's producer state from the batch headers at the log's tail. */
void producers_rebuild(bpart *p);
void producers_free(bpart *p);
/* Loads the persisted producer-id block (data_dir/producer-ids). */
int producers_load(broker *b);
/* Calls cb for every producer with state on p (id, epoch, last sequence or -1); returns their
 * count (cb may be NULL to count only). */
typedef void (*producers_cb)(void *arg, int64_t pid, int16_t epoch, int32_t last_seq);
int producers_foreach(bpart *p, producers_cb cb, void *arg);
/* A marker of pid/epoch was written: older epochs of pid may no longer produce to p. */
void producers_fence(bpart *p, int64_t pid, int16_t epoch);
void pidtab_fence(pidtab *t, int64_t pid, int16_t epoch);

/* ---------------------------------------------------------------- transactions ---- */
/* One aborted transaction of the partition's index. */
typedef struct ptxn_aborted {
    int64_t pid, first, last; /* last = the abort marker's offset */
} ptxn_aborted;
/* A transactional batch of bi was appended at base: opens the producer's transaction here. */
void ptxn_on_append(bpart *p, const batch_info *bi, int64_t base);
/* A marker of pid was appended at offset: its open transaction on p ends. */
void ptxn_on_marker(bpart *p, int64_t pid, bool commit, int64_t offset);
/* Rebuilds open transactions and the aborted index from the whole log (start-up). */
void ptxn_rebuild(bpart *p);
void ptxn_free(bpart *p);
/* Drops index entries that ended below the log start offset (retention, DeleteRecords). */
void ptxn_trim(bpart *p);
/* Aborted transactions with lastOffset >= from and firstOffset < upto (at most max, in order of
 * their markers; out NULL: count only). Returns the count. */
int ptxn_aborted_between(const bpart *p, int64_t from, int64_t upto, ptxn_aborted *out, int max);

/* ---------------------------------------------------------------- records ---- */

/* Finds, inside one whole batch (header + records, possibly compressed), the first record with
 * timestamp >= ts (ts == INT64_MIN: the first record with the batch's max timestamp, for
 * ListOffsets -3). Returns 0 with the offset and timestamp, 1 if no record qualifies, or a negative
 * error (bad bytes, unsupported codec). */
int records_find_time(const uint8_t *batch, size_t len, int64_t ts, int64_t *offset,
                      int64_t *timestamp);

/* ---------------------------------------------------------------- handlers ---- */
void h_api_versions(broker *b, breq *r);
void h_produce(broker *b, breq *r);
void h_fetch(broker *b, breq *r);
void h_list_offsets(broker *b, breq *r);
void h_metadata(broker *b, breq *r);
void h_create_topics(broker *b, breq *r);
void h_delete_topics(broker *b, breq *r);
void h_create_partitions(broker *b, breq *r);
void h_describe_configs(broker *b, breq *r);
void h_alter_configs(broker *b, breq *r);
void h_incremental_alter_configs(broker *b, breq *r);
void h_delete_records(broker *b, breq *r);
void h_init_producer_id(broker *b, breq *r);
void h_describe_producers(broker *b, breq *r);
void h_describe_cluster(broker *b, breq *r);
void h_sasl_handshake(broker *b, breq *r);
void h_sasl_authenticate(broker *b, breq *r);
void h_describe_user_scram_credentials(broker *b, breq *r);
void h_alter_user_scram_credentials(broker *b, breq *r);

/* ---------------------------------------------------------------- SASL (sasl.c) ---- */

/* Where a connection's SASL exchange stands (server.c keeps one per connection; sasl.c's
 * handlers move it on). */
enum { BSASL_NONE = 0, BSASL_NEED_HANDSHAKE, BSASL_NEED_AUTH, BSASL_DONE };
struct sasl_session;
typedef struct bsasl {
    int state;
    int mech;                  /* enum sasl_mech of the handshake */
    bool raw;                  /* SaslHandshake v0: tokens come without Kafka headers */
    bool reauth;               /* a re-authentication (KIP-368) is in progress */
    struct sasl_session *sess; /* the exchange in progress */
    int64_t expiry_ms;         /* wall clock; 0 = the session does not expire */
    char user[256];            /* the authenticated user (re-authentication must keep it) */
} bsasl;
/* The connection's SASL state, or NULL when its listener is not a SASL one. */
bsasl *breq_sasl(breq *r);
/* The name of the listener the request came in on ("" without a connection). */
const char *breq_listener_name(const breq *r);
/* The connection closes once this request's response (and those before it) are written. */
void breq_close_after_response(breq *r);

/* NUL-terminated copy of a request string in the request arena (NULL when null). */
char *core_kdup(breq *r, kstr s);

#endif
