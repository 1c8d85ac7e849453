/* config — eddyd's settings: Kafka-style `key=value` names (file, --set, or defaults).
 *
 * Every key lives in one table in config.c (name, type, default, where it is stored), so the
 * file parser, --set, DescribeConfigs for the broker and `eddyd --list-settings` agree.
 */
#ifndef EDDY_BROKER_CONFIG_H
#define EDDY_BROKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BCONFIG_MAX_OVERRIDES 64

typedef struct bconfig {
    char *listeners;                      /* NAME://host:port,... or host:port (--listen) */
    char *advertised_listeners;           /* NAME://host:port,... clients are told to use */
    char *listener_security_protocol_map; /* NAME:PROTOCOL,... */
    /* authentication (src/security, docs/security.md) */
    char *sasl_enabled_mechanisms;     /* sasl.enabled.mechanisms */
    char *super_users;                 /* super.users: User:a;User:b */
    int64_t connections_max_reauth_ms; /* connections.max.reauth.ms (0 = no re-authentication) */
    char *ssl_keystore_type;           /* ssl.keystore.type: PEM */
    char *ssl_keystore_location;       /* PEM: private key + certificate chain */
    char *ssl_keystore_password;       /* ssl.keystore.password: encrypted PEM key */
    char *ssl_key_password;            /* ssl.key.password: same, Kafka's other name */
    char *ssl_certificate_location;    /* separate certificate chain file */
    char *ssl_key_location;            /* separate private key file */
    char *ssl_truststore_type;         /* PEM */
    char *ssl_truststore_location;     /* CA certificates for client certificates */
    char *ssl_client_auth;             /* none, requested, required */
    char *ssl_principal_mapping_rules; /* DEFAULT, RULE:regex/replacement/[LU] */
    char *ssl_enabled_protocols;       /* TLSv1.2,TLSv1.3 */
    char *ssl_cipher_suites;           /* OpenSSL cipher list for TLS 1.2 (empty = OpenSSL's) */
    char *http_listen;                 /* --http host:port (default 127.0.0.1:8081), NULL = off */
    char *log_level;
    int32_t node_id;                         /* node.id */
    int32_t num_partitions;                  /* num.partitions */
    bool auto_create_topics;                 /* auto.create.topics.enable */
    int64_t log_segment_bytes;               /* log.segment.bytes */
    int64_t log_roll_ms;                     /* log.roll.ms */
    int64_t log_retention_ms;                /* log.retention.ms */
    int64_t log_retention_bytes;             /* log.retention.bytes */
    int64_t log_retention_check_interval_ms; /* log.retention.check.interval.ms */
    int32_t log_index_interval_bytes;        /* log.index.interval.bytes */
    char *log_cleanup_policy;                /* log.cleanup.policy */
    int64_t log_cleaner_delete_retention_ms; /* log.cleaner.delete.retention.ms */
    bool log_preallocate;                    /* log.preallocate */
    int64_t log_scrub_bytes_per_second;      /* log.scrub.bytes.per.second */
    int64_t metrics_lag_stall_ms;            /* metrics.lag.stall.ms */
    int64_t log_flush_interval_ms;           /* log.flush.interval.ms (-1 = only for acks=all) */
    /* defaults of topic configs (tconfig.c names the synonym of each) */
    int64_t log_roll_jitter_ms;                /* log.roll.jitter.ms */
    int64_t log_cleaner_min_compaction_lag_ms; /* log.cleaner.min.compaction.lag.ms */
    int64_t log_cleaner_max_compaction_lag_ms; /* log.cleaner.max.compaction.lag.ms */
    char *log_message_timestamp_type;          /* log.message.timestamp.type */
    int64_t log_message_timestamp_before_max_ms;
    int64_t log_message_timestamp_after_max_ms;
    int32_t min_insync_replicas; /* min.insync.replicas */
    char *compression_type;      /* compression.type */
    int32_t compression_gzip_level, compression_lz4_level, compression_zstd_level;
    bool unclean_leader_election_enable; /* accepted; one node */
    int32_t message_max_bytes;           /* message.max.bytes */
    int32_t socket_request_max_bytes;    /* socket.request.max.bytes */
    int32_t group_initial_rebalance_delay_ms;
    int32_t group_min_session_timeout_ms;
    int32_t group_max_session_timeout_ms;
    int32_t group_max_size;
    int64_t offsets_retention_minutes;
    int32_t offset_metadata_max_bytes;
    int32_t transaction_max_timeout_ms; /* transaction.max.timeout.ms */
    int32_t transaction_abort_timed_out_transaction_cleanup_interval_ms;
    int32_t max_connections;
    int32_t max_connections_per_ip;           /* max.connections.per.ip */
    char *max_connections_per_ip_overrides;   /* "host:n,host:n" */
    int32_t max_connections_loopback_reserve; /* accepted from loopback beyond the limits */
    int64_t connections_max_idle_ms;          /* connections.max.idle.ms */
    int64_t socket_request_read_timeout_ms;   /* a request's bytes, once started, must arrive */
    int64_t queued_max_request_bytes;         /* budget for request bytes being read (-1 = none) */
    /* socket.loopback.congestion.control: TCP congestion control for connections from this
     * host (empty = the system's). BBR paces every send with a timer; on loopback there is no
     * link to pace for, and it halved what a socket could send (bench/README.md). */
    char *socket_loopback_cc;
    /* authorization (authorize.c, docs/security.md) */
    char *authorizer_class_name;         /* authorizer.class.name (empty = no authorizer) */
    bool allow_everyone_if_no_acl_found; /* allow.everyone.if.no.acl.found */
    /* the HTTP port's authentication (eddyd/http_auth.c) */
    char *http_authentication_method;     /* http.authentication.method: NONE or BASIC */
    char *http_authentication_realm;      /* http.authentication.realm */
    char *http_authentication_skip_paths; /* http.authentication.skip.paths: /healthz,... */
    /* per-listener overrides, Kafka's `listener.name.<listener>.<setting>` (ssl.* and
     * sasl.enabled.mechanisms): bconfig_for_listener reads them */
    struct bconfig_override {
        char *listener, *key, *value;
    } overrides[BCONFIG_MAX_OVERRIDES];
    int noverrides;
} bconfig;

/* Sets every field to its default. */
void bconfig_init(bconfig *c);
void bconfig_free(bconfig *c);
/* Sets one key. Returns 0, or -1 with a message in err: an unknown key (with the closest known
 * one), a Kafka setting eddyd does not support (with why), or a bad value. */
int bconfig_set(bconfig *c, const char *key, const char *value, char *err, size_t errlen);
/* The value of a setting on one listener: its `listener.name.<listener>.<key>` override (the
 * listener's name in any case), else global (the setting's own value, passed by the caller). */
const char *bconfig_for_listener(const bconfig *c, const char *listener, const char *key,
                                 const char *global);
/* Reads a `key=value` file (# comments, blank lines). Returns 0 or -1 with a message. */
int bconfig_load_file(bconfig *c, const char *path, char *err, size_t errlen);

/* Iterates the known keys and their current values as strings (for DescribeConfigs). */
int bconfig_count(void);
const char *bconfig_key(int i);
const char *bconfig_describe(int i); /* one line, for --list-settings */
const char *bconfig_default(int i);
/* Writes the current value of key i into buf; returns buf. */
const char *bconfig_value(const bconfig *c, int i, char *buf, size_t len);
bool bconfig_is_default(const bconfig *c, int i);
/* The index of a key, or -1. */
int bconfig_find(const char *key);
/* Kafka's ConfigType of key i for DescribeConfigs v3+: 1 boolean, 2 string, 3 int, 5 long,
 * 9 password. */
int bconfig_type(int i);
bool bconfig_sensitive(int i); /* a password: its value is never shown */

#endif
