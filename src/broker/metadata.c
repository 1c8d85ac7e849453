/* metadata — the Metadata API (v0–v13) for a single node: one broker (ourselves, at the
 * advertised address), controller = self, every partition led by us with replicas = isr =
 * [self], leader epoch 0, real topic ids (v10+).
 *
 * "All topics": v0 empty array, v1+ null; internal topics are left out of "all" but answered
 * when asked for by name. Unknown names are auto-created (v0–v3 per
 * auto.create.topics.enable; v4+ only if allow_auto_topic_creation too) synchronously and
 * answered in full with error 0. v13's top-level ErrorCode (KIP-1102: REBOOTSTRAP_REQUIRED from a
 * broker that lost its cluster) is always 0 here.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/authorize.h"
#include "broker/core.h"
#include "common/log.h"
#include "common/util.h"

#define AUTH_OPS_NONE ((int64_t)INT32_MIN)

static void fill_topic(broker *b, breq *r, kmsg *tm, btopic *t, int16_t v)
{
    k_set_int(tm, MetadataResponseTopic_ErrorCode, 0);
    k_set_str(tm, MetadataResponseTopic_Name, t->name);
    if (v >= 10) k_set_uuid(tm, MetadataResponseTopic_TopicId, t->id);
    k_set_bool(tm, MetadataResponseTopic_IsInternal, t->internal);
    k_set_int(tm, MetadataResponseTopic_TopicAuthorizedOperations,
              v >= 8 && k_bool(r->req, MetadataRequest_IncludeTopicAuthorizedOperations)
                  ? bauthz_operations(b, r, ACL_RES_TOPIC, t->name)
                  : AUTH_OPS_NONE);
    k_new_items(tm, MetadataResponseTopic_Partitions, t->nparts);
    for (int32_t i = 0; i < t->nparts; i++) {
        kmsg *pm = k_item(tm, MetadataResponseTopic_Partitions, i);
        k_set_int(pm, MetadataResponsePartition_ErrorCode, 0);
        k_set_int(pm, MetadataResponsePartition_PartitionIndex, i);
        k_set_int(pm, MetadataResponsePartition_LeaderId, b->node_id);
        k_set_int(pm, MetadataResponsePartition_LeaderEpoch, 0);
        kval *rep = k_set_array(pm, MetadataResponsePartition_ReplicaNodes, 1);
        rep[0].i = b->node_id;
        kval *isr = k_set_array(pm, MetadataResponsePartition_IsrNodes, 1);
        isr[0].i = b->node_id;
        k_set_array(pm, MetadataResponsePartition_OfflineReplicas, 0);
    }
}

static void fill_error(kmsg *tm, kstr name, const uint8_t *id, int err, int16_t v)
{
    k_set_int(tm, MetadataResponseTopic_ErrorCode, err);
    if (name.len >= 0)
        k_set_ref(tm, MetadataResponseTopic_Name, name.p, name.len);
    else if (v >= 12)
        k_set_null(tm, MetadataResponseTopic_Name);
    else
        k_set_str(tm, MetadataResponseTopic_Name, "");
    if (v >= 10 && id) k_set_uuid(tm, MetadataResponseTopic_TopicId, id);
    k_set_bool(tm, MetadataResponseTopic_IsInternal, false);
    k_set_int(tm, MetadataResponseTopic_TopicAuthorizedOperations, AUTH_OPS_NONE);
    k_new_items(tm, MetadataResponseTopic_Partitions, 0);
}

void h_metadata(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    k_set_int(resp, MetadataResponse_ThrottleTimeMs, 0);
    k_set_int(resp, MetadataResponse_ErrorCode, 0);
    k_new_items(resp, MetadataResponse_Brokers, 1);
    kmsg *bm = k_item(resp, MetadataResponse_Brokers, 0);
    k_set_int(bm, MetadataResponseBroker_NodeId, b->node_id);
    const char *adv_host;
    int adv_port;
    breq_advertised(r, &adv_host, &adv_port); /* the listener the client came in on */
    k_set_str(bm, MetadataResponseBroker_Host, adv_host);
    k_set_int(bm, MetadataResponseBroker_Port, adv_port);
    k_set_str(bm, MetadataResponseBroker_Rack, NULL);
    k_set_str(resp, MetadataResponse_ClusterId, b->cluster_id);
    k_set_int(resp, MetadataResponse_ControllerId, b->node_id);
    k_set_int(resp, MetadataResponse_ClusterAuthorizedOperations,
              v >= 8 && v <= 10 && k_bool(q, MetadataRequest_IncludeClusterAuthorizedOperations)
                  ? bauthz_operations(b, r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME)
                  : AUTH_OPS_NONE);

    int32_t nq = k_count(q, MetadataRequest_Topics);
    bool all = (nq < 0) || (v == 0 && nq == 0);
    if (all) {
        /* topics the principal may not Describe are left out */
        int n = 0, nt = topic_count(b);
        bool *show = xcalloc(nt ? (size_t)nt : 1, sizeof *show);
        for (int i = 0; i < nt; i++) {
            btopic *t = topic_at(b, i);
            show[i] = !t->internal && bauthz_allowed(b, r, ACL_RES_TOPIC, t->name, ACL_OP_DESCRIBE);
            if (show[i]) n++;
        }
        k_new_items(resp, MetadataResponse_Topics, n);
        int k = 0;
        for (int i = 0; i < nt; i++)
            if (show[i])
                fill_topic(b, r, k_item(resp, MetadataResponse_Topics, k++), topic_at(b, i), v);
        free(show);
        breq_done(r);
        return;
    }
    bool allow_auto = v < 4 || k_bool(q, MetadataRequest_AllowAutoTopicCreation);
    k_new_items(resp, MetadataResponse_Topics, nq);
    for (int32_t i = 0; i < nq; i++) {
        kmsg *tq = k_item(q, MetadataRequest_Topics, i);
        kmsg *tm = k_item(resp, MetadataResponse_Topics, i);
        kstr name = k_str(tq, MetadataRequestTopic_Name);
        const uint8_t *id = v >= 10 ? k_uuid(tq, MetadataRequestTopic_TopicId) : NULL;
        btopic *t = NULL;
        if (name.len < 0) {
            /* v12: lookup by topic id */
            t = id ? topic_find_id(b, id) : NULL;
            if (!t)
                fill_error(tm, name, id, KERR_UNKNOWN_TOPIC_ID, v);
            else if (!bauthz_allowed(b, r, ACL_RES_TOPIC, t->name, ACL_OP_DESCRIBE))
                fill_error(tm, name, id, KERR_TOPIC_AUTHORIZATION_FAILED, v);
            else
                fill_topic(b, r, tm, t, v);
            continue;
        }
        if (!topic_name_valid((const char *)name.p, (size_t)name.len)) {
            fill_error(tm, name, NULL, KERR_INVALID_TOPIC_EXCEPTION, v);
            continue;
        }
        if (!bauthz_allowed_k(b, r, ACL_RES_TOPIC, name.p, name.len, ACL_OP_DESCRIBE)) {
            fill_error(tm, name, NULL, KERR_TOPIC_AUTHORIZATION_FAILED, v);
            continue;
        }
        t = topic_findn(b, (const char *)name.p, (size_t)name.len);
        if (!t && allow_auto && b->cfg.auto_create_topics &&
            !bauthz_may_create(b, r, name.p, name.len)) {
            fill_error(tm, name, NULL, KERR_TOPIC_AUTHORIZATION_FAILED, v);
            continue;
        }
        if (!t && allow_auto) t = topic_auto_create(b, (const char *)name.p, (size_t)name.len);
        if (!t)
            fill_error(tm, name, NULL, KERR_UNKNOWN_TOPIC_OR_PARTITION, v);
        else
            fill_topic(b, r, tm, t, v);
    }
    breq_done(r);
}

/* DescribeCluster (KIP-700, v0-v2): this node as the only broker and the controller. Kafka's
 * rules: EndpointType 2 (controllers) at a broker is MISMATCHED_ENDPOINT_TYPE (114), another
 * unknown type UNSUPPORTED_ENDPOINT_TYPE (115); the cluster's authorized operations when asked
 * (0 without Describe on the Cluster). v2 (KIP-1073): IncludeFencedBrokers changes nothing (the
 * one node is never fenced: IsFenced false). */
void h_describe_cluster(broker *b, breq *r)
{
    kmsg *q = r->req, *resp = r->resp;
    int16_t v = r->hdr.api_version;
    int8_t et = v >= 1 ? (int8_t)k_int(q, DescribeClusterRequest_EndpointType) : 1;
    k_set_int(resp, DescribeClusterResponse_ThrottleTimeMs, 0);
    if (v >= 1) k_set_int(resp, DescribeClusterResponse_EndpointType, et);
    k_set_str(resp, DescribeClusterResponse_ClusterId, b->cluster_id);
    k_set_int(resp, DescribeClusterResponse_ControllerId, b->node_id);
    if (et != 1) {
        k_set_int(resp, DescribeClusterResponse_ErrorCode, et == 2 ? 114 : 115);
        k_set_str(resp, DescribeClusterResponse_ErrorMessage,
                  et == 2 ? "This is a broker: the controller endpoint type is not served here"
                          : "Unknown endpoint type");
        k_new_items(resp, DescribeClusterResponse_Brokers, 0);
        k_set_int(resp, DescribeClusterResponse_ClusterAuthorizedOperations, AUTH_OPS_NONE);
        breq_done(r);
        return;
    }
    k_set_int(resp, DescribeClusterResponse_ErrorCode, 0);
    k_set_str(resp, DescribeClusterResponse_ErrorMessage, NULL);
    kmsg *bm = k_new_items(resp, DescribeClusterResponse_Brokers, 1);
    const char *adv_host;
    int adv_port;
    breq_advertised(r, &adv_host, &adv_port);
    k_set_int(bm, DescribeClusterBroker_BrokerId, b->node_id);
    k_set_str(bm, DescribeClusterBroker_Host, adv_host);
    k_set_int(bm, DescribeClusterBroker_Port, adv_port);
    k_set_str(bm, DescribeClusterBroker_Rack, NULL);
    k_set_bool(bm, DescribeClusterBroker_IsFenced, false);
    int64_t ops = AUTH_OPS_NONE;
    if (k_bool(q, DescribeClusterRequest_IncludeClusterAuthorizedOperations))
        ops = bauthz_allowed(b, r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_DESCRIBE)
                  ? bauthz_operations(b, r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME)
                  : 0;
    k_set_int(resp, DescribeClusterResponse_ClusterAuthorizedOperations, ops);
    breq_done(r);
}
