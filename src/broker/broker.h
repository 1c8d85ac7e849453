/* broker — the broker library's public face: shared state, the request contract, topics and
 * partitions, and the lifecycle eddyd's main drives:
 *   broker.c    lifecycle (data directory, identity, flusher, listener, shutdown), flush hooks
 *   durable.c   requests parked until an internal log is durable (bdurable)
 *   server.c    connections, framing, request ordering, dispatch, response sending
 *   dispatch.c  the API table (what is advertised in ApiVersions comes from here)
 *   topics.c    topics and partitions on top of storage/plog
 *   produce.c, fetch.c, offsets.c, metadata.c, admin.c, producers.c  the core APIs (offsets.c:
 *               tp_walk, the topics x partitions walk several of them share)
 * Modules above (group/, registry, metrics) use this header; the broker knows none of them:
 * eddyd's main registers their API tables (dispatch_register) and flush hooks (broker_on_flush).
 *
 * Threading: everything here runs on the loop thread, except the storage flusher.
 */
#ifndef EDDY_BROKER_BROKER_H
#define EDDY_BROKER_BROKER_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/config.h"
#include "net/loop.h"
#include "proto/kmsg.h"
#include "storage/plog.h"

typedef struct broker broker;
typedef struct bconn bconn;
typedef struct breq breq;
typedef struct btopic btopic;
typedef struct bpart bpart;
struct group_coord;
struct txn_coord;

/* Kafka error codes used by the broker (values from Kafka's Errors.java). */
enum kerr {
    KERR_UNKNOWN_SERVER_ERROR = -1,
    KERR_NONE = 0,
    KERR_OFFSET_OUT_OF_RANGE = 1,
    KERR_CORRUPT_MESSAGE = 2,
    KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
    KERR_INVALID_FETCH_SIZE = 4,
    KERR_LEADER_NOT_AVAILABLE = 5,
    KERR_NOT_LEADER_OR_FOLLOWER = 6,
    KERR_REQUEST_TIMED_OUT = 7,
    KERR_MESSAGE_TOO_LARGE = 10,
    KERR_OFFSET_METADATA_TOO_LARGE = 12,
    KERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
    KERR_COORDINATOR_NOT_AVAILABLE = 15,
    KERR_NOT_COORDINATOR = 16,
    KERR_INVALID_TOPIC_EXCEPTION = 17,
    KERR_RECORD_LIST_TOO_LARGE = 18,
    KERR_NOT_ENOUGH_REPLICAS = 19,
    KERR_INVALID_REQUIRED_ACKS = 21,
    KERR_ILLEGAL_GENERATION = 22,
    KERR_INCONSISTENT_GROUP_PROTOCOL = 23,
    KERR_INVALID_GROUP_ID = 24,
    KERR_UNKNOWN_MEMBER_ID = 25,
    KERR_INVALID_SESSION_TIMEOUT = 26,
    KERR_REBALANCE_IN_PROGRESS = 27,
    KERR_INVALID_COMMIT_OFFSET_SIZE = 28,
    KERR_TOPIC_AUTHORIZATION_FAILED = 29,
    KERR_GROUP_AUTHORIZATION_FAILED = 30,
    KERR_CLUSTER_AUTHORIZATION_FAILED = 31,
    KERR_INVALID_TIMESTAMP = 32,
    KERR_UNSUPPORTED_SASL_MECHANISM = 33,
    KERR_ILLEGAL_SASL_STATE = 34,
    KERR_UNSUPPORTED_VERSION = 35,
    KERR_TOPIC_ALREADY_EXISTS = 36,
    KERR_INVALID_PARTITIONS = 37,
    KERR_INVALID_REPLICATION_FACTOR = 38,
    KERR_INVALID_REPLICA_ASSIGNMENT = 39,
    KERR_INVALID_CONFIG = 40,
    KERR_NOT_CONTROLLER = 41,
    KERR_INVALID_REQUEST = 42,
    KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    KERR_POLICY_VIOLATION = 44,
    KERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
    KERR_DUPLICATE_SEQUENCE_NUMBER = 46,
    KERR_INVALID_PRODUCER_EPOCH = 47,
    KERR_INVALID_TXN_STATE = 48,
    KERR_INVALID_PRODUCER_ID_MAPPING = 49,
    KERR_INVALID_TRANSACTION_TIMEOUT = 50,
    KERR_CONCURRENT_TRANSACTIONS = 51,
    KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
    KERR_SECURITY_DISABLED = 54,
    KERR_SASL_AUTHENTICATION_FAILED = 58,
    KERR_UNKNOWN_PRODUCER_ID = 59,
    KERR_KAFKA_STORAGE_ERROR = 56,
    KERR_NON_EMPTY_GROUP = 68,
    KERR_GROUP_ID_NOT_FOUND = 69,
    KERR_FETCH_SESSION_ID_NOT_FOUND = 70,
    KERR_INVALID_FETCH_SESSION_EPOCH = 71,
    KERR_FENCED_LEADER_EPOCH = 74,
    KERR_UNKNOWN_LEADER_EPOCH = 75,
    KERR_UNSUPPORTED_COMPRESSION_TYPE = 76,
    KERR_OFFSET_NOT_AVAILABLE = 78,
    KERR_MEMBER_ID_REQUIRED = 79,
    KERR_GROUP_MAX_SIZE_REACHED = 81,
    KERR_FENCED_INSTANCE_ID = 82,
    KERR_GROUP_SUBSCRIBED_TO_TOPIC = 86,
    KERR_INVALID_RECORD = 87,
    KERR_UNSTABLE_OFFSET_COMMIT = 88,
    KERR_RESOURCE_NOT_FOUND = 91,
    KERR_DUPLICATE_RESOURCE = 92,
    KERR_UNACCEPTABLE_CREDENTIAL = 93,
    KERR_UNKNOWN_TOPIC_ID = 100,
};

/* ---------------------------------------------------------------- requests ---- */

/* One request in flight. Created by server.c when a whole frame has arrived; the body is
 * decoded before the handler runs, and an empty response tree (r->resp) is prepared.
 *
 * Handler contract: fill r->resp and call breq_done(r) exactly once — right away, or later
 * (a "parked" request: long-poll Fetch, Produce acks=all waiting for fsync, JoinGroup/SyncGroup
 * waiting for the group). For acks=0 Produce call breq_done_noreply(r). To refuse a request
 * whose layout can't be answered (e.g. Produce v0–v2), call breq_close_conn(r).
 * Responses go out in request order per connection; later requests on the same connection are
 * processed while one is parked, but their responses wait behind it (as Kafka does).
 * If the connection closes while a request is parked, r->conn_closed becomes true; the
 * handler still calls breq_done (the response is dropped). */
struct breq {
    broker *b;
    bconn *conn;
    kreq_header hdr;
    const kapi *api;
    kmsg *req;
    kmsg *resp;
    karena *arena; /* owns req, resp and anything the handler allocates for them */
    uint8_t *frame;
    size_t frame_len;
    int64_t recv_us;
    bool conn_closed;
    bool finished;
    bool noreply;
    void *park;    /* free for the handler's parked state */
    bool raw_sasl; /* a SASL token sent without a Kafka header (after SaslHandshake v0) */
    breq *next;    /* connection FIFO */
};

void breq_done(breq *r);
void breq_done_noreply(breq *r);
void breq_close_conn(breq *r);
/* The client's address "ip:port" and client id, for group member ids and logs. */
const char *breq_client_host(const breq *r);
char *breq_client_id(const breq *r); /* NUL-terminated copy in the request arena */
/* The connection's principal in Kafka's form ("User:alice"); "User:ANONYMOUS" until SASL or a
 * TLS client certificate has authenticated it. Authorization decisions read this. */
const char *breq_principal(const breq *r);
void breq_set_principal(breq *r, const char *principal);
/* The client's address without the port (ACL host matching). */
const char *breq_peer_host(const breq *r);
/* Quota throttling (KIP-219): once this request's response is queued, the connection reads no
 * further requests for `ms` milliseconds (the longest of overlapping throttles wins). */
void breq_throttle(breq *r, int32_t ms);
/* The address clients of this request's listener are told to use (Metadata, FindCoordinator):
 * the connection's listener's advertised host and port (b->adv_host/adv_port without one). */
void breq_advertised(const breq *r, const char **host, int *port);
/* The security protocol of the listener the request came in on (enum bsecproto). */
int breq_security_protocol(const breq *r);

typedef void (*bhandler_fn)(broker *b, breq *r);

/* One row of the dispatch table. The ApiVersions answer lists exactly these rows, with
 * [min_version, max_version]. Requests with versions below `accept_min` (but >= min_version)
 * are refused by closing the connection (Produce v0–v2: advertised for librdkafka's feature
 * probes, never served). */
typedef struct bhandler {
    int16_t min_version, max_version;
    int16_t accept_min;
    bhandler_fn fn;
} bhandler;

/* A module's rows, indexed by API key and written with the codec's names:
 *   const bhandler_table my_handlers = {[API_JoinGroup] = {0, 9, 0, h_join_group}, ...};
 * Keys without a handler (fn NULL) are not the module's. */
typedef bhandler bhandler_table[KAPI_MAX_KEY + 1];

/* The broker's own rows (ApiVersions, Produce, Fetch, Metadata, ...). Other modules own theirs
 * (group.h: group_handlers). */
extern const bhandler_table broker_core_handlers;

/* Adds a module's rows to the dispatch table; eddyd's main registers every module's table before
 * the listener opens. A row the codec cannot decode or a key registered twice is a programming
 * error (logged, abort). */
void dispatch_register(const bhandler_table table);
const bhandler *dispatch_find(int16_t key);
/* Fills an ApiVersions response tree from the dispatch table. */
void dispatch_fill_api_versions(kmsg *resp, int16_t version);

/* ---------------------------------------------------------------- topics ---- */

typedef struct topic_config {
    plog_config log;
    int32_t max_message_bytes; /* max.message.bytes */
    bool log_append_time;      /* message.timestamp.type=LogAppendTime */
    int8_t compression;        /* compression.type: -1 producer, else the codec stored */
    int32_t gzip_level, lz4_level, zstd_level; /* compression.*.level */
    int32_t min_insync_replicas;               /* > 1: acks=all gets NOT_ENOUGH_REPLICAS */
    int64_t ts_before_max_ms, ts_after_max_ms, ts_diff_max_ms; /* message.timestamp.*.max.ms */
    char *overrides;          /* "k=v\n" lines set explicitly for this topic (persisted) */
    const struct bconfig *bc; /* the broker settings defaults come from (outlives the topic) */
} topic_config;

/* A parked reader waiting for appends to a partition (long-poll Fetch, internal tailers). */
typedef struct bwaiter {
    void (*wake)(struct bwaiter *w, bpart *p);
    struct bwaiter *prev, *next;
    bpart *part; /* set while linked */
} bwaiter;

struct bpart {
    btopic *topic;
    int32_t index;
    plog *log;
    bwaiter waiters; /* list head (sentinel) */
    void *producers; /* idempotent producer state (producers.c) */
    void *txn;       /* open transactions and aborted-transaction index (txnlog.c) */
    /* counters for /metrics */
    uint64_t records_in, bytes_in, records_out, bytes_out;
};

struct btopic {
    char *name;
    uint8_t id[16]; /* topic UUID, persisted */
    int32_t nparts;
    bpart **parts;
    topic_config cfg;
    bool internal; /* __consumer_offsets, _schemas: hidden from Metadata "all topics" */
};

/* Topic registry (topics.c). Names follow Kafka's rules: [a-zA-Z0-9._-], 1..249 chars,
 * not "." or "..". */
bool topic_name_valid(const char *name, size_t len);
btopic *topic_find(broker *b, const char *name);
btopic *topic_findn(broker *b, const char *name, size_t len);
btopic *topic_find_id(broker *b, const uint8_t id[16]); /* NULL: no topic has that id */
/* The topic a request field names (NULL for a null, empty or unknown name). */
static inline btopic *topic_find_k(broker *b, kstr name)
{
    return name.len > 0 ? topic_findn(b, (const char *)name.p, (size_t)name.len) : NULL;
}
/* Partition idx of t (NULL when t is NULL or idx out of range). */
static inline bpart *topic_part(const btopic *t, int32_t idx)
{
    return t && idx >= 0 && idx < t->nparts ? t->parts[idx] : NULL;
}

/* The topics x partitions walk of requests that name partitions by index inside per-topic
 * structs (ListOffsets, DeleteRecords, DescribeProducers, AddPartitionsToTxn): the fields of
 * their arrays, and the ACL operation each topic needs. */
typedef struct tp_fields {
    kfid q_topics, r_topics; /* request / response topic arrays */
    kfid q_name, r_name;     /* the topic's name */
    kfid q_parts, r_parts;   /* the topic's partition arrays */
    kfid q_index;            /* the partition's index in its request struct; -1: q_parts is an
                                array of indexes */
    kfid r_index;            /* the partition's index in the response */
    int acl_op;              /* checked on each topic; -1: none */
} tp_fields;
/* One partition of the walk: p, or err (TOPIC_AUTHORIZATION_FAILED when the principal lacks
 * acl_op on the topic, else UNKNOWN_TOPIC_OR_PARTITION) with p NULL. */
typedef struct tp_row {
    const btopic *t; /* NULL when unknown */
    bpart *p;
    int32_t topic_i, idx; /* the topic's place in the request, the partition's index */
    int err;
    const kmsg *pq; /* the partition's request struct (NULL for an array of indexes) */
    kmsg *pr;       /* its response row, index set: fn fills the rest */
} tp_row;
typedef void tp_fn(void *arg, const tp_row *row);
/* Answers the request's topics and partitions row for row, calling fn on each (offsets.c). */
void tp_walk(broker *b, breq *r, const tp_fields *f, tp_fn *fn, void *arg);
/* Creates and persists a topic. configs: "k=v\n" lines (topic-level overrides) or NULL.
 * Returns 0 or a KERR_* code (positive). */
int topic_create(broker *b, const char *name, int32_t nparts, const char *configs, bool internal,
                 btopic **out);
/* A coordinator's internal topic (hidden, one partition): found, or created with configs; NULL
 * after logging why it cannot be created. TOPIC_STATE_CONFIGS: a coordinator's state log
 * (compacted, 100 MiB segments, kept forever). */
btopic *topic_internal(broker *b, const char *name, const char *configs);
#define TOPIC_STATE_CONFIGS "cleanup.policy=compact\nsegment.bytes=104857600\nretention.ms=-1\n"
int topic_delete(broker *b, btopic *t);
int topic_add_partitions(broker *b, btopic *t, int32_t new_total);
/* Sets one topic config (validated); persists. Returns 0 or a KERR_* code. */
int topic_set_config(broker *b, btopic *t, const char *key, const char *value);
/* Iteration over all topics (internal ones included). */
int topic_count(broker *b);
btopic *topic_at(broker *b, int i);
/* Auto-creation per auto.create.topics.enable; returns the topic or NULL. */
btopic *topic_auto_create(broker *b, const char *name, size_t len);

/* Appends one already-validated batch and wakes the partition's waiters. Returns 0 and the
 * base offset, or a KERR_* code (positive) on storage errors (KAFKA_STORAGE_ERROR). */
int part_append(broker *b, bpart *p, uint8_t *batch, size_t len, int64_t *base_offset);
/* Builds one RecordBatch of n records (the broker's own writers: the REST produce API, the
 * console's redrive), stored in the topic's compression.type, and appends it to partition part.
 * Returns 0 and the base offset, MESSAGE_TOO_LARGE beyond max.message.bytes, or part_append's
 * error; *stored_len (if not NULL) is the size of the batch as stored. */
struct batch_rec;
int part_append_records(broker *b, btopic *t, int32_t part, const struct batch_rec *recs, int n,
                        int64_t now_ms, int64_t *base_offset, size_t *stored_len);
void part_wait(bpart *p, bwaiter *w);
void part_unwait(bwaiter *w);
/* High watermark = LEO on a single node. */
int64_t part_hwm(const bpart *p);

/* ---- transactions, log side (txnlog.c) ---- */
/* Last stable offset: the first offset of the oldest transaction still open on the partition,
 * or the high watermark. */
int64_t part_lso(const bpart *p);
/* Open transactions on the partition (and the LSO in *oldest_first). */
int part_open_txns(const bpart *p, int64_t *oldest_first);
/* Start-up totals over every partition: batch headers read by the transaction rebuild, and
 * aborted-transaction entries loaded from .txnindex files instead. */
void ptxn_recovery_stats(uint64_t *scanned_batches, uint64_t *index_entries);
/* 1 and the first offset if producer pid has a transaction open on p, else 0. */
int part_txn_producer(const bpart *p, int64_t pid, int64_t *first_offset);
/* Appends an end-transaction marker (control batch) of pid/epoch: the producer's open
 * transaction on p ends (committed, or aborted into the index) and older epochs of pid are
 * fenced from producing here. Returns 0 and the marker's offset, or a KERR_* code. */
int part_write_marker(broker *b, bpart *p, int64_t pid, int16_t epoch, bool commit,
                      int32_t coordinator_epoch, int64_t *offset);
/* Allocates a fresh producer id (persisted id blocks); -1 on failure. */
int64_t producers_alloc_id(broker *b);
/* InitProducerId without a transactional id: a fresh producer id at epoch 0. */
void h_init_producer_id(broker *b, breq *r);
/* ---------------------------------------------------------------- listeners ---- */

/* Kafka's security protocols (listeners, listener.security.protocol.map). */
enum bsecproto { SEC_PLAINTEXT = 0, SEC_SSL = 1, SEC_SASL_PLAINTEXT = 2, SEC_SASL_SSL = 3 };
#define SEC_IS_SASL(p) ((p) == SEC_SASL_PLAINTEXT || (p) == SEC_SASL_SSL)
#define SEC_IS_TLS(p) ((p) == SEC_SSL || (p) == SEC_SASL_SSL)
const char *bsecproto_name(int proto);

#define BROKER_MAX_LISTENERS 8

/* One entry of `listeners` ("NAME://host:port"), its protocol and advertised address. */
typedef struct blistener {
    broker *b;
    char name[64];
    int proto; /* enum bsecproto */
    char host[256];
    int port; /* the bound port once listening */
    char adv_host[256];
    int adv_port;
    int fd;
    void *tls; /* the TLS context (net/tls.h) of SSL and SASL_SSL listeners */
} blistener;

/* ---------------------------------------------------------------- broker ---- */

typedef struct bmetrics_api {
    uint64_t requests, errors;
    uint64_t latency_buckets[16]; /* microsecond histogram, bucket i <= 2^(i+6) µs (see server.c) */
    uint64_t latency_sum_us;
} bmetrics_api;

struct broker {
    loop *loop;
    bconfig cfg;
    char *data_dir;
    int32_t node_id;
    char cluster_id[32];
    char adv_host[256];
    int adv_port;
    /* topics (topics.c) */
    btopic **topics;
    int ntopics, atopics;
    /* storage */
    flusher *flusher;
    int flush_efd;
    /* idempotent producers (producers.c) */
    int64_t next_producer_id, producer_id_limit;
    /* modules above the broker: state they hang off the broker, hooks they registered */
    struct group_coord *groups;
    struct txn_coord *txns; /* src/txn */
    /* authorization and quotas (authorize.c over authz/) */
    struct acl_store *acls;
    struct quota_store *quotas;
    bool authz_on; /* authorizer.class.name is set */
    void (*flush_hooks[8])(broker *b);
    int nflush_hooks;
    int lock_fd; /* flock()ed data_dir/.lock */
    int64_t housekeeping_ms;
    /* background scrub (topics.c topics_scrub): cursor and progress for /metrics */
    int scrub_topic, scrub_part;
    uint64_t scrub_bytes, scrub_passes, scrub_bad_batches;
    /* server: the listeners (b->adv_host/adv_port above are the first one's) */
    blistener listeners[BROKER_MAX_LISTENERS];
    int nlisteners;
    int nconns;
    uint64_t conns_total;
    uint64_t conns_refused;     /* max.connections / max.connections.per.ip */
    uint64_t conns_idle_closed; /* connections.max.idle.ms */
    uint64_t conns_slow_closed; /* socket.request.read.timeout.ms */
    bmetrics_api api_metrics[KAPI_MAX_KEY + 1];
    int64_t started_ms;
    /* dynamic broker configs (dynconfig.c): "k=v\n" per layer; the static values they hide */
    char *dyn_default, *dyn_node, *dyn_static;
};

/* ---------------------------------------------------------------- lifecycle ---- */

/* eddyd's main calls these in this order (b zeroed, b->cfg filled from the settings). Each
 * returns 0 or -1 after logging what went wrong. */
int broker_init(broker *b);                       /* the event loop */
int broker_open(broker *b, const char *data_dir); /* data dir, lock, identity, flusher, topics */
int broker_listen(broker *b, int *bound_port);    /* the Kafka listener, advertised address */
/* Registers fn to run on the loop thread whenever the flusher reports progress, after the
 * broker's own parked produces are answered (and once more at shutdown with b->flusher NULL). */
void broker_on_flush(broker *b, void (*fn)(broker *b));
/* Requests answered once a log is durable up to an offset, in the order they were parked (the
 * internal logs' acks=all: offset commits, transaction state; a flush hook releases them). */
typedef struct bdurable {
    struct bdurable *next;
    breq *r;
    plog *log;
    int64_t need; /* answer once plog_durable_offset(log) >= need */
} bdurable;
/* Answers r now when need < 0, there is no flusher or log is durable up to need; else parks it
 * at the tail of *q. */
void bdurable_reply(broker *b, bdurable **q, breq *r, plog *log, int64_t need);
/* Answers the parked requests whose log is durable (every one when b->flusher is NULL: shut
 * down, everything was flushed by flusher_stop). */
void bdurable_on_flush(broker *b, bdurable **q);
/* Answers every parked request (shutdown: connections are closed, the answers are dropped). */
void bdurable_drain(bdurable **q);
void broker_run(broker *b);            /* housekeeping timer, then the loop until loop_stop */
void broker_stop_accepting(broker *b); /* closes the listener */
/* SIGHUP: re-reads the TLS listeners' certificate and key files (and trust store) for new
 * connections; open connections are untouched. Returns 0, or -1 when a listener keeps its old
 * certificates because the new files are unusable (logged). */
int broker_reload_tls(broker *b);
void broker_drain(broker *b); /* stops the flusher, answers parked requests, closes conns */
void broker_close(broker *b); /* closes every log, the loop, the lock; frees b's contents */

int topics_load(broker *b);   /* opens every partition under data_dir */
void topics_close(broker *b); /* flushes and closes every log */
/* Periodic housekeeping (retention, compaction scheduling), called every few seconds. */
void topics_housekeeping(broker *b);
/* Scrubs up to `budget` bytes of closed segments, partition after partition (plog_scrub). */
void topics_scrub(broker *b, int64_t budget);

#endif
