/* admin — topic administration APIs on a single node:
 *   CreateTopics v0–v7, DeleteTopics v0–v6, CreatePartitions v0–v3, DeleteRecords v0–v2,
 *   DescribeConfigs v0–v4 (topics: type 2; broker: type 4, with sources and synonyms as Kafka
 *   gives them), AlterConfigs v0–v2 and IncrementalAlterConfigs v0–v1 (topics; the broker's
 *   dynamic settings, dynconfig.c).
 * Everything happens synchronously on the loop thread; timeouts are irrelevant.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/authorize.h"
#include "broker/core.h"
#include "common/log.h"
#include "common/util.h"

#define RES_TOPIC 2
#define RES_BROKER 4
#define SRC_TOPIC 1 /* Kafka's ConfigSource: DYNAMIC_TOPIC_CONFIG */
#define SRC_DEFAULT 5

static bool kstr_eq(kstr a, kstr b)
{
    return a.len >= 0 && a.len == b.len && !memcmp(a.p, b.p, (size_t)a.len);
}

static void set_msg(kmsg *m, kfid f, const char *msg)
{
    k_set_str(m, f, msg && *msg ? msg : NULL);
}

/* ------------------------------------------------------------------ CreateTopics ---- */

/* Where a topic's value of k comes from: its override, else the most specific layer of the
 * broker setting it falls back to, else Kafka's default. */
static int topic_key_source(broker *b, const tconf_key *k, bool ov)
{
    if (ov) return SRC_TOPIC;
    char dbuf[512];
    int bk = -1, src = SRC_DEFAULT;
    tconf_broker_default(&b->cfg, k, dbuf, sizeof dbuf, &bk);
    if (bk >= 0) {
        dynconf_layer ls[4];
        int nl = dynconf_layers(b, bk, ls);
        if (nl > 0) src = ls[0].source;
        dynconf_layers_free(ls, nl);
    }
    return src;
}

static void fill_created_configs(broker *b, kmsg *tr, btopic *t)
{
    int n = tconf_count();
    k_new_items(tr, CreatableTopicResult_Configs, n);
    for (int i = 0; i < n; i++) {
        kmsg *c = k_item(tr, CreatableTopicResult_Configs, i);
        char buf[512];
        bool ov;
        const tconf_key *k = tconf_at(i);
        tconf_value(&t->cfg, k->name, buf, sizeof buf, &ov);
        k_set_str(c, CreatableTopicConfigs_Name, k->name);
        k_set_str(c, CreatableTopicConfigs_Value, buf);
        k_set_bool(c, CreatableTopicConfigs_ReadOnly, false);
        k_set_int(c, CreatableTopicConfigs_ConfigSource, topic_key_source(b, k, ov));
        k_set_bool(c, CreatableTopicConfigs_IsSensitive, false);
    }
}

void h_create_topics(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    bool validate = v >= 1 && k_bool(q, CreateTopicsRequest_validateOnly);
    k_set_int(resp, CreateTopicsResponse_ThrottleTimeMs, 0);
    int32_t nt = k_new_like(resp, CreateTopicsResponse_Topics, q, CreateTopicsRequest_Topics);
    for (int32_t i = 0; i < nt; i++) {
        kmsg *tq = k_item(q, CreateTopicsRequest_Topics, i),
             *tr = k_item(resp, CreateTopicsResponse_Topics, i);
        kstr name = k_str(tq, CreatableTopic_Name);
        k_set_kstr(tr, CreatableTopicResult_Name, name);
        int err = 0;
        char msg[256] = "";
        int32_t np = (int32_t)k_int(tq, CreatableTopic_NumPartitions);
        int32_t rf = (int32_t)k_int(tq, CreatableTopic_ReplicationFactor);
        int32_t na = k_count(tq, CreatableTopic_Assignments);
        for (int32_t j = 0; j < nt; j++)
            if (j != i && kstr_eq(name, k_str(k_item(q, CreateTopicsRequest_Topics, j),
                                              CreatableTopic_Name))) {
                err = KERR_INVALID_REQUEST;
                snprintf(msg, sizeof msg, "topic listed more than once in the request");
            }
        char *cname = core_kdup(r, name);
        /* checked on the wire bytes: `a\0b` must not become topic `a` */
        if (!err && (!cname || !topic_name_valid((const char *)name.p, (size_t)name.len))) {
            err = KERR_INVALID_TOPIC_EXCEPTION;
            snprintf(msg, sizeof msg, "invalid topic name");
        }
        if (!err && !bauthz_may_create(b, r, name.p, name.len)) {
            err = KERR_TOPIC_AUTHORIZATION_FAILED;
            snprintf(msg, sizeof msg,
                     "not authorized to create topic (Create on Cluster or Topic)");
        }
        if (!err && topic_find(b, cname)) {
            err = KERR_TOPIC_ALREADY_EXISTS;
            snprintf(msg, sizeof msg, "Topic '%s' already exists.", cname);
        }
        if (!err && na > 0) {
            if (np != -1 || rf != -1) {
                err = KERR_INVALID_REQUEST;
                snprintf(msg, sizeof msg,
                         "both partition count/replication factor and assignments given");
            } else {
                np = na;
                rf = 1;
                for (int32_t j = 0; j < na && !err; j++) {
                    kmsg *a = k_item(tq, CreatableTopic_Assignments, j);
                    int32_t nb = k_count(a, CreatableReplicaAssignment_BrokerIds);
                    if (k_int(a, CreatableReplicaAssignment_PartitionIndex) != j || nb != 1 ||
                        k_item_int(a, CreatableReplicaAssignment_BrokerIds, 0) != b->node_id) {
                        err = KERR_INVALID_REPLICA_ASSIGNMENT;
                        snprintf(msg, sizeof msg, "single node: every partition on broker %d",
                                 b->node_id);
                    }
                }
            }
        }
        if (!err) {
            if (np == -1) np = b->cfg.num_partitions;
            if (rf == -1) rf = 1;
            if (np <= 0) {
                err = KERR_INVALID_PARTITIONS;
                snprintf(msg, sizeof msg, "Number of partitions must be larger than 0.");
            } else if (rf <= 0) {
                err = KERR_INVALID_REPLICATION_FACTOR;
                snprintf(msg, sizeof msg, "Replication factor must be larger than 0.");
            } else if (rf > 1) {
                err = KERR_INVALID_REPLICATION_FACTOR;
                snprintf(msg, sizeof msg,
                         "Replication factor: %d larger than available brokers: 1.", rf);
            }
        }
        /* configs */
        char *ov = xstrdup("");
        int32_t nc = k_count(tq, CreatableTopic_Configs);
        for (int32_t j = 0; !err && j < nc; j++) {
            kmsg *c = k_item(tq, CreatableTopic_Configs, j);
            char *key = core_kdup(r, k_str(c, CreatableTopicConfig_Name));
            char *val = core_kdup(r, k_str(c, CreatableTopicConfig_Value));
            if (!key || !val) {
                err = KERR_INVALID_REQUEST;
                snprintf(msg, sizeof msg, "null config name or value");
                break;
            }
            err = tconf_check(key, val, msg, sizeof msg);
            if (err) break;
            char *nov = tconf_override_set(ov, key, val);
            free(ov);
            ov = nov;
        }
        btopic *t = NULL;
        if (!err && !validate) {
            err = topic_create(b, cname, np, ov, false, &t);
            if (err) snprintf(msg, sizeof msg, "topic creation failed");
        }
        k_set_int(tr, CreatableTopicResult_ErrorCode, err);
        set_msg(tr, CreatableTopicResult_ErrorMessage, err ? msg : NULL);
        if (v >= 7 && t) k_set_uuid(tr, CreatableTopicResult_TopicId, t->id);
        if (v >= 5) {
            k_set_int(tr, CreatableTopicResult_NumPartitions, err ? -1 : np);
            k_set_int(tr, CreatableTopicResult_ReplicationFactor, err ? -1 : 1);
            if (!err && t)
                fill_created_configs(b, tr, t);
            else if (!err) {
                btopic tmp;
                memset(&tmp, 0, sizeof tmp);
                char e2[64];
                if (tconf_build(&b->cfg, ov, &tmp.cfg, e2, sizeof e2) == 0) {
                    fill_created_configs(b, tr, &tmp);
                    free(tmp.cfg.overrides);
                } else
                    k_set_array(tr, CreatableTopicResult_Configs, 0);
            } else {
                k_set_null(tr, CreatableTopicResult_Configs);
            }
        }
        free(ov);
    }
    breq_done(r);
}

/* ------------------------------------------------------------------ DeleteTopics ---- */

static int delete_one(broker *b, btopic *t, char *msg, size_t ml)
{
    if (!t) return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    if (t->internal) {
        snprintf(msg, ml, "internal topic %s cannot be deleted", t->name);
        return KERR_INVALID_REQUEST;
    }
    return topic_delete(b, t);
}

void h_delete_topics(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    k_set_int(resp, DeleteTopicsResponse_ThrottleTimeMs, 0);
    if (v < 6) {
        int32_t n =
            k_new_like(resp, DeleteTopicsResponse_Responses, q, DeleteTopicsRequest_TopicNames);
        for (int32_t i = 0; i < n; i++) {
            kstr name = k_item_str(q, DeleteTopicsRequest_TopicNames, i);
            kmsg *tr = k_item(resp, DeleteTopicsResponse_Responses, i);
            k_set_kstr(tr, DeletableTopicResult_Name, name);
            char msg[160] = "";
            int err = !bauthz_allowed_k(b, r, ACL_RES_TOPIC, name.p, name.len, ACL_OP_DELETE)
                          ? KERR_TOPIC_AUTHORIZATION_FAILED
                          : delete_one(b, topic_find_k(b, name), msg, sizeof msg);
            k_set_int(tr, DeletableTopicResult_ErrorCode, err);
            set_msg(tr, DeletableTopicResult_ErrorMessage, err ? msg : NULL);
        }
    } else {
        int32_t n = k_new_like(resp, DeleteTopicsResponse_Responses, q, DeleteTopicsRequest_Topics);
        for (int32_t i = 0; i < n; i++) {
            kmsg *tq = k_item(q, DeleteTopicsRequest_Topics, i),
                 *tr = k_item(resp, DeleteTopicsResponse_Responses, i);
            kstr name = k_str(tq, DeleteTopicState_Name);
            const uint8_t *id = k_uuid(tq, DeleteTopicState_TopicId);
            btopic *t = name.len >= 0 ? topic_find_k(b, name) : topic_find_id(b, id);
            int err;
            char msg[160] = "";
            if (name.len < 0 && !t)
                err = KERR_UNKNOWN_TOPIC_ID;
            else if (!bauthz_allowed(b, r, ACL_RES_TOPIC, t ? t->name : core_kdup(r, name),
                                     ACL_OP_DELETE))
                err = KERR_TOPIC_AUTHORIZATION_FAILED;
            else {
                if (t) k_set_uuid(tr, DeletableTopicResult_TopicId, t->id);
                err = delete_one(b, t, msg, sizeof msg);
            }
            if (name.len >= 0)
                k_set_ref(tr, DeletableTopicResult_Name, name.p, name.len);
            else
                k_set_null(tr, DeletableTopicResult_Name);
            if (name.len < 0) k_set_uuid(tr, DeletableTopicResult_TopicId, id);
            k_set_int(tr, DeletableTopicResult_ErrorCode, err);
            set_msg(tr, DeletableTopicResult_ErrorMessage, err ? msg : NULL);
        }
    }
    breq_done(r);
}

/* ------------------------------------------------------------------ CreatePartitions ---- */

void h_create_partitions(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    bool validate = k_bool(q, CreatePartitionsRequest_ValidateOnly);
    k_set_int(resp, CreatePartitionsResponse_ThrottleTimeMs, 0);
    int32_t n =
        k_new_like(resp, CreatePartitionsResponse_Results, q, CreatePartitionsRequest_Topics);
    for (int32_t i = 0; i < n; i++) {
        kmsg *tq = k_item(q, CreatePartitionsRequest_Topics, i),
             *tr = k_item(resp, CreatePartitionsResponse_Results, i);
        kstr name = k_str(tq, CreatePartitionsTopic_Name);
        k_set_kstr(tr, CreatePartitionsTopicResult_Name, name);
        btopic *t = topic_find_k(b, name);
        int32_t count = (int32_t)k_int(tq, CreatePartitionsTopic_Count);
        int err = 0;
        char msg[160] = "";
        if (!bauthz_allowed_k(b, r, ACL_RES_TOPIC, name.p, name.len, ACL_OP_ALTER))
            err = KERR_TOPIC_AUTHORIZATION_FAILED;
        else if (!t)
            err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        else if (t->internal) {
            err = KERR_INVALID_REQUEST;
            snprintf(msg, sizeof msg, "internal topic %s cannot change", t->name);
        } else if (count <= t->nparts) {
            err = KERR_INVALID_PARTITIONS;
            snprintf(msg, sizeof msg,
                     "Topic currently has %d partitions, which is higher than or "
                     "equal to the requested %d.",
                     t->nparts, count);
        } else {
            int32_t na = k_count(tq, CreatePartitionsTopic_Assignments);
            for (int32_t j = 0; j < na && !err; j++) {
                kmsg *a = k_item(tq, CreatePartitionsTopic_Assignments, j);
                if (k_count(a, CreatePartitionsAssignment_BrokerIds) != 1 ||
                    k_item_int(a, CreatePartitionsAssignment_BrokerIds, 0) != b->node_id) {
                    err = KERR_INVALID_REPLICA_ASSIGNMENT;
                    snprintf(msg, sizeof msg, "single node: every partition on broker %d",
                             b->node_id);
                }
            }
            if (!err && na > 0 && na != count - t->nparts) {
                err = KERR_INVALID_REPLICA_ASSIGNMENT;
                snprintf(msg, sizeof msg, "assignment count does not match the new partitions");
            }
            if (!err && !validate) err = topic_add_partitions(b, t, count);
        }
        k_set_int(tr, CreatePartitionsTopicResult_ErrorCode, err);
        set_msg(tr, CreatePartitionsTopicResult_ErrorMessage, err ? msg : NULL);
    }
    breq_done(r);
}

/* ------------------------------------------------------------------ DeleteRecords ---- */

static void delete_part(void *arg, const tp_row *row)
{
    (void)arg;
    bpart *p = row->p;
    int64_t off = k_int(row->pq, DeleteRecordsPartition_Offset);
    int64_t low = -1;
    int err = row->err;
    if (!err) {
        int64_t hwm = part_hwm(p), start = plog_start_offset(p->log);
        if (off == -1) off = hwm;
        if (off < 0 || off > hwm)
            err = KERR_OFFSET_OUT_OF_RANGE;
        else if (off > start) {
            int rc = plog_delete_records(p->log, off);
            if (rc < 0)
                err = rc == -ERANGE ? KERR_OFFSET_OUT_OF_RANGE : KERR_KAFKA_STORAGE_ERROR;
            else
                LOGI("admin", "%s-%d: records below offset %" PRId64 " deleted", row->t->name,
                     row->idx, off);
        }
        low = plog_start_offset(p->log);
    }
    k_set_int(row->pr, DeleteRecordsPartitionResult_ErrorCode, err);
    k_set_int(row->pr, DeleteRecordsPartitionResult_LowWatermark, err ? -1 : low);
}

void h_delete_records(broker *b, breq *r)
{
    static const tp_fields f = {
        .q_topics = DeleteRecordsRequest_Topics,
        .r_topics = DeleteRecordsResponse_Topics,
        .q_name = DeleteRecordsTopic_Name,
        .r_name = DeleteRecordsTopicResult_Name,
        .q_parts = DeleteRecordsTopic_Partitions,
        .r_parts = DeleteRecordsTopicResult_Partitions,
        .q_index = DeleteRecordsPartition_PartitionIndex,
        .r_index = DeleteRecordsPartitionResult_PartitionIndex,
        .acl_op = ACL_OP_DELETE,
    };
    k_set_int(r->resp, DeleteRecordsResponse_ThrottleTimeMs, 0);
    tp_walk(b, r, &f, delete_part, NULL);
    breq_done(r);
}

/* ------------------------------------------------------------------ DescribeConfigs ---- */

static bool wanted(kmsg *res, const char *key)
{
    int32_t n = k_count(res, DescribeConfigsResource_ConfigurationKeys);
    if (n < 0) return true;
    size_t kl = strlen(key);
    for (int32_t i = 0; i < n; i++) {
        kstr s = k_item_str(res, DescribeConfigsResource_ConfigurationKeys, i);
        if (s.len >= 0 && (size_t)s.len == kl && !memcmp(s.p, key, kl)) return true;
    }
    return false;
}

static bool g_docs; /* this DescribeConfigs asked for IncludeDocumentation (loop thread) */

typedef struct csyn {
    const char *name;
    const char *value;
    int source;
} csyn;

static void fill_entry(kmsg *c, int16_t v, bool syn, const char *key, const char *val, int src,
                       bool ro, bool sensitive, int8_t type, const char *doc, const csyn *syns,
                       int nsyn)
{
    if (!g_docs) doc = NULL;
    k_set_str(c, DescribeConfigsResourceResult_Name, key);
    k_set_str(c, DescribeConfigsResourceResult_Value, sensitive ? NULL : val);
    k_set_bool(c, DescribeConfigsResourceResult_ReadOnly, ro);
    k_set_bool(c, DescribeConfigsResourceResult_IsDefault, src == SRC_DEFAULT);
    k_set_int(c, DescribeConfigsResourceResult_ConfigSource, src);
    k_set_bool(c, DescribeConfigsResourceResult_IsSensitive, sensitive);
    if (v >= 1) {
        int n = syn ? nsyn : 0;
        k_new_items(c, DescribeConfigsResourceResult_Synonyms, n);
        for (int i = 0; i < n; i++) {
            kmsg *s = k_item(c, DescribeConfigsResourceResult_Synonyms, i);
            k_set_str(s, DescribeConfigsSynonym_Name, syns[i].name);
            k_set_str(s, DescribeConfigsSynonym_Value, sensitive ? NULL : syns[i].value);
            k_set_int(s, DescribeConfigsSynonym_Source, syns[i].source);
        }
    }
    if (v >= 3) {
        k_set_int(c, DescribeConfigsResourceResult_ConfigType, type);
        k_set_str(c, DescribeConfigsResourceResult_Documentation, doc); /* NULL unless asked */
    }
}

/* One topic config: its value and source, and the synonyms Kafka lists (the topic's override,
 * then the layers of the broker setting it falls back to). */
static void describe_topic_key(broker *b, kmsg *c, int16_t v, bool syn, const topic_config *tc,
                               const tconf_key *k)
{
    char val[512], dbuf[512], sname[96];
    bool ov;
    tconf_value(tc, k->name, val, sizeof val, &ov);
    csyn syns[6];
    int n = 0;
    if (ov) syns[n++] = (csyn){k->name, val, SRC_TOPIC};
    int bk = -1;
    tconf_broker_default(&b->cfg, k, dbuf, sizeof dbuf, &bk);
    dynconf_layer ls[4];
    int nl = 0;
    if (bk >= 0) {
        nl = dynconf_layers(b, bk, ls);
        for (int i = 0; i < nl; i++) syns[n++] = (csyn){bconfig_key(bk), ls[i].value, ls[i].source};
    } else if (k->synonyms) {
        size_t m = strcspn(k->synonyms, ",");
        snprintf(sname, sizeof sname, "%.*s", (int)m, k->synonyms);
        syns[n++] = (csyn){sname, k->dflt, SRC_DEFAULT};
    }
    int src = topic_key_source(b, k, ov);
    fill_entry(c, v, syn, k->name, val, src, false, false, k->type, k->doc, syns, n);
    dynconf_layers_free(ls, nl);
}

/* One broker setting: the current value with the source of its most specific layer. */
static void describe_broker_key(broker *b, kmsg *c, int16_t v, bool syn, int i)
{
    char val[512];
    bconfig_value(&b->cfg, i, val, sizeof val);
    dynconf_layer ls[4];
    int nl = dynconf_layers(b, i, ls);
    csyn syns[4];
    for (int j = 0; j < nl; j++) syns[j] = (csyn){bconfig_key(i), ls[j].value, ls[j].source};
    fill_entry(c, v, syn, bconfig_key(i), val, ls[0].source, !dynconf_is_dynamic(bconfig_key(i)),
               bconfig_sensitive(i), (int8_t)bconfig_type(i), bconfig_describe(i), syns, nl);
    dynconf_layers_free(ls, nl);
}

/* DescribeConfigs on the topic (29) or on the Cluster for the broker (31); 0 = allowed. */
static int describe_configs_denied(broker *b, breq *r, int8_t type, kstr name)
{
    if (type == RES_TOPIC)
        return bauthz_allowed_k(b, r, ACL_RES_TOPIC, name.p, name.len, ACL_OP_DESCRIBE_CONFIGS)
                   ? 0
                   : KERR_TOPIC_AUTHORIZATION_FAILED;
    if (type == RES_BROKER)
        return bauthz_allowed(b, r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_DESCRIBE_CONFIGS)
                   ? 0
                   : KERR_CLUSTER_AUTHORIZATION_FAILED;
    return 0;
}

void h_describe_configs(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    bool syn = v >= 1 && k_bool(q, DescribeConfigsRequest_IncludeSynonyms);
    g_docs = v >= 3 && k_bool(q, DescribeConfigsRequest_IncludeDocumentation);
    k_set_int(resp, DescribeConfigsResponse_ThrottleTimeMs, 0);
    int32_t n =
        k_new_like(resp, DescribeConfigsResponse_Results, q, DescribeConfigsRequest_Resources);
    for (int32_t i = 0; i < n; i++) {
        kmsg *rq = k_item(q, DescribeConfigsRequest_Resources, i),
             *rr = k_item(resp, DescribeConfigsResponse_Results, i);
        int8_t type = (int8_t)k_int(rq, DescribeConfigsResource_ResourceType);
        kstr name = k_str(rq, DescribeConfigsResource_ResourceName);
        k_set_int(rr, DescribeConfigsResult_ResourceType, type);
        k_set_kstr(rr, DescribeConfigsResult_ResourceName, name);
        k_set_str(rr, DescribeConfigsResult_ErrorMessage, NULL);
        int deny = describe_configs_denied(b, r, type, name);
        if (deny) {
            k_set_int(rr, DescribeConfigsResult_ErrorCode, deny);
            k_set_str(rr, DescribeConfigsResult_ErrorMessage, "not authorized (DescribeConfigs)");
            k_new_items(rr, DescribeConfigsResult_Configs, 0);
            continue;
        }
        if (type == RES_TOPIC) {
            btopic *t = topic_find_k(b, name);
            if (!t) {
                k_set_int(rr, DescribeConfigsResult_ErrorCode, KERR_UNKNOWN_TOPIC_OR_PARTITION);
                k_set_str(rr, DescribeConfigsResult_ErrorMessage, "Unknown topic");
                k_new_items(rr, DescribeConfigsResult_Configs, 0);
                continue;
            }
            int cnt = 0;
            for (int j = 0; j < tconf_count(); j++)
                if (wanted(rq, tconf_at(j)->name)) cnt++;
            k_set_int(rr, DescribeConfigsResult_ErrorCode, 0);
            k_new_items(rr, DescribeConfigsResult_Configs, cnt);
            int k = 0;
            for (int j = 0; j < tconf_count(); j++) {
                const tconf_key *ck = tconf_at(j);
                if (!wanted(rq, ck->name)) continue;
                describe_topic_key(b, k_item(rr, DescribeConfigsResult_Configs, k++), v, syn,
                                   &t->cfg, ck);
            }
        } else if (type == RES_BROKER) {
            char idbuf[16];
            snprintf(idbuf, sizeof idbuf, "%d", b->node_id);
            if (name.len > 0 &&
                !(name.len == (int32_t)strlen(idbuf) && !memcmp(name.p, idbuf, (size_t)name.len))) {
                k_set_int(rr, DescribeConfigsResult_ErrorCode, KERR_INVALID_REQUEST);
                k_set_str(rr, DescribeConfigsResult_ErrorMessage, "unknown broker id");
                k_new_items(rr, DescribeConfigsResult_Configs, 0);
                continue;
            }
            /* "" is the cluster-wide default: only what is set there (as Kafka answers) */
            bool cluster = name.len <= 0;
            const char *dd = dynconf_overrides(b, true);
            int nb = bconfig_count(), nall = nb + dynconf_ignored_count();
            int cnt = 0;
            for (int j = 0; j < nall; j++) {
                const char *key = j < nb ? bconfig_key(j) : dynconf_ignored_at(j - nb)->name;
                char *dv = cluster ? tconf_override_get(dd, key) : NULL;
                if (wanted(rq, key) && (!cluster || dv)) cnt++;
                free(dv);
            }
            k_set_int(rr, DescribeConfigsResult_ErrorCode, 0);
            k_new_items(rr, DescribeConfigsResult_Configs, cnt);
            int k = 0;
            for (int j = 0; j < nall; j++) {
                const tconf_key *ik = j < nb ? NULL : dynconf_ignored_at(j - nb);
                const char *key = ik ? ik->name : bconfig_key(j);
                if (!wanted(rq, key)) continue;
                int8_t ctype = ik ? ik->type : (int8_t)bconfig_type(j);
                const char *doc = ik ? ik->doc : bconfig_describe(j);
                bool sens = !ik && bconfig_sensitive(j);
                if (cluster) {
                    char *dv = tconf_override_get(dd, key);
                    if (!dv) continue;
                    csyn s1 = {key, dv, 3};
                    fill_entry(k_item(rr, DescribeConfigsResult_Configs, k++), v, syn, key, dv, 3,
                               false, sens, ctype, doc, &s1, 1);
                    free(dv);
                } else if (ik) {
                    dynconf_layer ls[3];
                    int nl = dynconf_ignored_layers(b, j - nb, ls);
                    csyn syns[3];
                    for (int x = 0; x < nl; x++) syns[x] = (csyn){key, ls[x].value, ls[x].source};
                    fill_entry(k_item(rr, DescribeConfigsResult_Configs, k++), v, syn, key,
                               ls[0].value, ls[0].source, false, false, ctype, doc, syns, nl);
                    dynconf_layers_free(ls, nl);
                } else {
                    describe_broker_key(b, k_item(rr, DescribeConfigsResult_Configs, k++), v, syn,
                                        j);
                }
            }
        } else {
            k_set_int(rr, DescribeConfigsResult_ErrorCode, KERR_INVALID_REQUEST);
            k_set_str(rr, DescribeConfigsResult_ErrorMessage, "unsupported resource type");
            k_new_items(rr, DescribeConfigsResult_Configs, 0);
        }
    }
    breq_done(r);
}

/* ------------------------------------------------------------------ AlterConfigs ---- */

/* Applies a computed override string to a topic resource; fills the response entry. */
static void alter_topic(broker *b, kmsg *rr, btopic *t, const char *ov, bool validate)
{
    char err[256] = "";
    int rc;
    if (validate) {
        topic_config tmp;
        rc = tconf_build(&b->cfg, ov, &tmp, err, sizeof err);
        if (!rc) free(tmp.overrides);
    } else {
        rc = topic_replace_configs(b, t, ov, err, sizeof err);
    }
    k_set_int(rr, AlterConfigsResourceResponse_ErrorCode, rc);
    set_msg(rr, AlterConfigsResourceResponse_ErrorMessage, rc ? err : NULL);
}

static bool res_is_broker_ok(broker *b, kstr name)
{
    char idbuf[16];
    snprintf(idbuf, sizeof idbuf, "%d", b->node_id);
    return name.len <= 0 ||
           (name.len == (int32_t)strlen(idbuf) && !memcmp(name.p, idbuf, (size_t)name.len));
}

/* APPEND / SUBTRACT on a list value ("a,b"). */
static char *list_edit(const char *cur, const char *item, bool add)
{
    wbuf w;
    wbuf_init(&w, 0);
    bool present = false;
    const char *p = cur ? cur : "";
    while (*p) {
        while (*p == ' ') p++;
        size_t n = strcspn(p, ",");
        bool same = n == strlen(item) && !strncmp(p, item, n);
        if (same) present = true;
        if (n && !(same && !add)) {
            if (w.len) wbuf_put(&w, ",", 1);
            wbuf_put(&w, p, n);
        }
        p += n;
        if (*p == ',') p++;
    }
    if (add && !present) {
        if (w.len) wbuf_put(&w, ",", 1);
        wbuf_put(&w, item, strlen(item));
    }
    wbuf_put(&w, "", 1);
    char *s = xstrdup((const char *)w.data);
    wbuf_free(&w);
    return s;
}

enum { ALTER_NONE, ALTER_TOPIC, ALTER_BROKER, ALTER_CLUSTER };

/* What a resource of an (Incremental)AlterConfigs request names: a topic (*tp), this broker
 * (its node id) or the cluster-wide broker default (""); ALTER_NONE after filling the response
 * entry with the error. */
static int alter_target(broker *b, breq *r, kmsg *rq, kmsg *rr, btopic **tp)
{
    int8_t type = (int8_t)k_int(rq, AlterConfigsResource_ResourceType);
    kstr name = k_str(rq, AlterConfigsResource_ResourceName);
    k_set_int(rr, AlterConfigsResourceResponse_ResourceType, type);
    k_set_kstr(rr, AlterConfigsResourceResponse_ResourceName, name);
    k_set_str(rr, AlterConfigsResourceResponse_ErrorMessage, NULL);
    *tp = NULL;
    bool topic = type == RES_TOPIC;
    if ((topic || type == RES_BROKER) &&
        !(topic ? bauthz_allowed_k(b, r, ACL_RES_TOPIC, name.p, name.len, ACL_OP_ALTER_CONFIGS)
                : bauthz_allowed(b, r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_ALTER_CONFIGS))) {
        k_set_int(rr, AlterConfigsResourceResponse_ErrorCode,
                  topic ? KERR_TOPIC_AUTHORIZATION_FAILED : KERR_CLUSTER_AUTHORIZATION_FAILED);
        k_set_str(rr, AlterConfigsResourceResponse_ErrorMessage, "not authorized (AlterConfigs)");
        return ALTER_NONE;
    }
    if (type == RES_BROKER) {
        if (res_is_broker_ok(b, name)) return name.len <= 0 ? ALTER_CLUSTER : ALTER_BROKER;
        k_set_int(rr, AlterConfigsResourceResponse_ErrorCode, KERR_INVALID_REQUEST);
        k_set_str(rr, AlterConfigsResourceResponse_ErrorMessage, "unknown broker id");
        return ALTER_NONE;
    }
    if (type != RES_TOPIC) {
        k_set_int(rr, AlterConfigsResourceResponse_ErrorCode, KERR_INVALID_REQUEST);
        k_set_str(rr, AlterConfigsResourceResponse_ErrorMessage, "unsupported resource type");
        return ALTER_NONE;
    }
    *tp = topic_find_k(b, name);
    if (!*tp) {
        k_set_int(rr, AlterConfigsResourceResponse_ErrorCode, KERR_UNKNOWN_TOPIC_OR_PARTITION);
        k_set_str(rr, AlterConfigsResourceResponse_ErrorMessage, "Unknown topic");
        return ALTER_NONE;
    }
    return ALTER_TOPIC;
}

/* AlterConfigs: the resource's configs replace its whole set of overrides. */
static int replace_overrides(breq *r, kmsg *rq, char **ov, char *msg, size_t ml)
{
    int32_t nc = k_count(rq, AlterConfigsResource_Configs);
    for (int32_t j = 0; j < nc; j++) {
        kmsg *c = k_item(rq, AlterConfigsResource_Configs, j);
        char *key = core_kdup(r, k_str(c, AlterConfigsRequest_AlterableConfig_Name));
        char *val = core_kdup(r, k_str(c, AlterConfigsRequest_AlterableConfig_Value));
        if (!key) {
            snprintf(msg, ml, "null config name");
            return KERR_INVALID_REQUEST;
        }
        char *nov = tconf_override_set(*ov, key, val);
        free(*ov);
        *ov = nov;
    }
    return KERR_NONE;
}

/* IncrementalAlterConfigs: SET / DELETE / APPEND / SUBTRACT on a resource's overrides
 * (t = the topic, or NULL for a broker resource). */
static int edit_overrides(broker *b, breq *r, kmsg *rq, btopic *t, char **ov, char *msg, size_t ml)
{
    int32_t nc = k_count(rq, AlterConfigsResource_Configs);
    for (int32_t j = 0; j < nc; j++) {
        kmsg *c = k_item(rq, AlterConfigsResource_Configs, j);
        char *key = core_kdup(r, k_str(c, IncrementalAlterConfigsRequest_AlterableConfig_Name));
        char *val = core_kdup(r, k_str(c, IncrementalAlterConfigsRequest_AlterableConfig_Value));
        int8_t op =
            (int8_t)k_int(c, IncrementalAlterConfigsRequest_AlterableConfig_ConfigOperation);
        char *nov = NULL;
        if (!key) {
            snprintf(msg, ml, "null config name");
            return KERR_INVALID_REQUEST;
        } else if (op == 0) { /* SET */
            if (!val) {
                snprintf(msg, ml, "null value for SET of %s", key);
                return KERR_INVALID_REQUEST;
            }
            nov = tconf_override_set(*ov, key, val);
        } else if (op == 1) { /* DELETE */
            nov = tconf_override_set(*ov, key, NULL);
        } else if (op == 2 || op == 3) { /* APPEND / SUBTRACT (list configs) */
            const tconf_key *tk = t ? tconf_find(key) : NULL;
            bool list = t ? tk && tk->type == TC_LIST : !strcmp(key, "log.cleanup.policy");
            if (!list || !val) {
                snprintf(msg, ml, "Config value append is not allowed for config key: %s", key);
                return KERR_INVALID_CONFIG;
            }
            char cur[512] = "";
            if (t)
                tconf_value(&t->cfg, key, cur, sizeof cur, NULL);
            else
                bconfig_value(&b->cfg, bconfig_find(key), cur, sizeof cur);
            char *ex = tconf_override_get(*ov, key);
            char *lv = list_edit(ex ? ex : cur, val, op == 2);
            free(ex);
            nov = *lv ? tconf_override_set(*ov, key, lv) : NULL;
            free(lv);
            if (!nov) {
                snprintf(msg, ml, "%s cannot be empty", key);
                return KERR_INVALID_CONFIG;
            }
        } else {
            snprintf(msg, ml, "unknown config operation %d", op);
            return KERR_INVALID_REQUEST;
        }
        free(*ov);
        *ov = nov;
    }
    return KERR_NONE;
}

static void alter_configs(broker *b, breq *r, bool incremental)
{
    /* AlterConfigs and IncrementalAlterConfigs requests and responses have one shape (so one set
     * of field constants reads both); only the configs inside a resource differ */
    kmsg *q = r->req, *resp = r->resp;
    bool validate = k_bool(q, AlterConfigsRequest_ValidateOnly);
    k_set_int(resp, AlterConfigsResponse_ThrottleTimeMs, 0);
    int32_t n = k_new_like(resp, AlterConfigsResponse_Responses, q, AlterConfigsRequest_Resources);
    for (int32_t i = 0; i < n; i++) {
        kmsg *rq = k_item(q, AlterConfigsRequest_Resources, i),
             *rr = k_item(resp, AlterConfigsResponse_Responses, i);
        btopic *t = NULL;
        int what = alter_target(b, r, rq, rr, &t);
        if (what == ALTER_NONE) continue;
        const char *cur =
            what == ALTER_TOPIC ? t->cfg.overrides : dynconf_overrides(b, what == ALTER_CLUSTER);
        char *ov = xstrdup(incremental && cur ? cur : "");
        char msg[256] = "";
        int err = incremental ? edit_overrides(b, r, rq, t, &ov, msg, sizeof msg)
                              : replace_overrides(r, rq, &ov, msg, sizeof msg);
        if (err) {
            k_set_int(rr, AlterConfigsResourceResponse_ErrorCode, err);
            set_msg(rr, AlterConfigsResourceResponse_ErrorMessage, msg);
        } else if (what == ALTER_TOPIC) {
            alter_topic(b, rr, t, ov, validate);
        } else {
            err = dynconf_alter(b, what == ALTER_CLUSTER, ov, validate, msg, sizeof msg);
            k_set_int(rr, AlterConfigsResourceResponse_ErrorCode, err);
            set_msg(rr, AlterConfigsResourceResponse_ErrorMessage, err ? msg : NULL);
        }
        free(ov);
    }
    breq_done(r);
}

void h_alter_configs(broker *b, breq *r)
{
    alter_configs(b, r, false);
}

void h_incremental_alter_configs(broker *b, breq *r)
{
    alter_configs(b, r, true);
}

/* ------------------------------------------------------------------ DescribeProducers ---- */

/* KIP-664: the producers with state on each asked partition (what the idempotence check holds:
 * id, epoch, last sequence) and the first offset of the transaction each has open there (-1
 * when none), for finding the producer of a transaction that pins a partition's LSO. */
typedef struct dp_ctx {
    bpart *p;
    kmsg *pr;
    int k;
} dp_ctx;

static void describe_one(void *arg, int64_t pid, int16_t epoch, int32_t last_seq)
{
    dp_ctx *x = arg;
    kmsg *ps = k_item(x->pr, PartitionResponse_ActiveProducers, x->k++);
    int64_t first = -1;
    bool open = part_txn_producer(x->p, pid, &first);
    k_set_int(ps, ProducerState_ProducerId, pid);
    k_set_int(ps, ProducerState_ProducerEpoch, epoch);
    k_set_int(ps, ProducerState_LastSequence, last_seq);
    k_set_int(ps, ProducerState_LastTimestamp, -1);
    k_set_int(ps, ProducerState_CoordinatorEpoch, open ? 0 : -1);
    k_set_int(ps, ProducerState_CurrentTxnStartOffset, open ? first : -1);
}

static void describe_part(bpart *p, kmsg *pr)
{
    dp_ctx x = {p, pr, 0};
    k_new_items(pr, PartitionResponse_ActiveProducers, producers_foreach(p, NULL, NULL));
    producers_foreach(p, describe_one, &x);
}

static void producers_part(void *arg, const tp_row *row)
{
    (void)arg;
    k_set_str(row->pr, PartitionResponse_ErrorMessage, NULL);
    k_set_int(row->pr, PartitionResponse_ErrorCode, row->err);
    if (row->err)
        k_new_items(row->pr, PartitionResponse_ActiveProducers, 0);
    else
        describe_part(row->p, row->pr);
}

void h_describe_producers(broker *b, breq *r)
{
    static const tp_fields f = {
        .q_topics = DescribeProducersRequest_Topics,
        .r_topics = DescribeProducersResponse_Topics,
        .q_name = TopicRequest_Name,
        .r_name = TopicResponse_Name,
        .q_parts = TopicRequest_PartitionIndexes,
        .r_parts = TopicResponse_Partitions,
        .q_index = -1,
        .r_index = PartitionResponse_PartitionIndex,
        .acl_op = -1,
    };
    k_set_int(r->resp, DescribeProducersResponse_ThrottleTimeMs, 0);
    tp_walk(b, r, &f, producers_part, NULL);
    breq_done(r);
}
