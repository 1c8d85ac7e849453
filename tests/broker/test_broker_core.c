/* test_broker_core — the core API handlers end to end on real storage and the real codec trees,
 * without sockets: CreateTopics, Metadata, Produce (plain, idempotent duplicates across a
 * "restart", errors), Fetch (immediate), ListOffsets (-1/-2/by time), DeleteRecords,
 * CreatePartitions, DescribeConfigs/IncrementalAlterConfigs, DeleteTopics, persistence through
 * topics_close + topics_load in a temporary data directory.
 *
 * The server's breq functions are stubbed: a handler "answers" by calling breq_done.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/core.h"
#include "common/buf.h"
#include "common/util.h"

static int g_done, g_noreply;
void breq_done(breq *r)
{
    r->finished = true;
    g_done++;
}
void breq_done_noreply(breq *r)
{
    r->finished = true;
    r->noreply = true;
    g_noreply++;
}
void breq_close_conn(breq *r)
{
    r->finished = true;
}
const char *breq_client_host(const breq *r)
{
    (void)r;
    return "test:1";
}
void breq_advertised(const breq *r, const char **host, int *port)
{
    *host = r->b->adv_host;
    *port = r->b->adv_port;
}
/* SASL handlers (broker/sasl.c, tested against a real eddyd in tests/security) */
void h_sasl_handshake(broker *b, breq *r)
{
    (void)b;
    breq_done(r);
}
void h_sasl_authenticate(broker *b, breq *r)
{
    (void)b;
    breq_done(r);
}
void h_describe_user_scram_credentials(broker *b, breq *r)
{
    (void)b;
    breq_done(r);
}
void h_alter_user_scram_credentials(broker *b, breq *r)
{
    (void)b;
    breq_done(r);
}
char *breq_client_id(const breq *r)
{
    (void)r;
    return (char *)"test";
}
/* the connection's identity (server.c): an unauthenticated client; throttling is not tested here */
const char *breq_principal(const breq *r)
{
    (void)r;
    return "User:ANONYMOUS";
}
const char *breq_peer_host(const breq *r)
{
    (void)r;
    return "127.0.0.1";
}
void breq_throttle(breq *r, int32_t ms)
{
    (void)r;
    (void)ms;
}

static broker B;
static char g_dir[256];

static void start_broker(void)
{
    B.loop = loop_new();
    B.flusher = NULL;
    assert_int_equal(topics_load(&B), 0);
}

static void stop_broker(void)
{
    topics_close(&B);
    loop_free(B.loop);
    B.loop = NULL;
}

static int setup(void **state)
{
    (void)state;
    memset(&B, 0, sizeof B);
    bconfig_init(&B.cfg);
    snprintf(g_dir, sizeof g_dir, "/tmp/eddy-core-test-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    B.data_dir = g_dir;
    B.node_id = 1;
    snprintf(B.adv_host, sizeof B.adv_host, "127.0.0.1");
    B.adv_port = 9092;
    snprintf(B.cluster_id, sizeof B.cluster_id, "test-cluster");
    start_broker();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    stop_broker();
    char *cmd = xasprintf("rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    free(cmd);
    bconfig_free(&B.cfg);
    return 0;
}

static breq *mkreq(int16_t key, int16_t version)
{
    breq *r = xcalloc(1, sizeof *r);
    r->b = &B;
    r->api = kapi_get(key);
    assert_non_null(r->api);
    r->hdr.api_key = key;
    r->hdr.api_version = version;
    r->arena = karena_new();
    r->req = kmsg_new(r->arena, r->api->request);
    r->resp = kmsg_new(r->arena, r->api->response);
    return r;
}

static void freereq(breq *r)
{
    karena_free(r->arena);
    free(r);
}

/* §3.4 vector: two records, CRC 34ed6979 */
static const char *k_vec = "0000000000000000000000470000000002"
                           "34ed6979"
                           "000000000001"
                           "0000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff00000002"
                           "1a00000002"
                           "6b"
                           "04"
                           "6869"
                           "02026802"
                           "76"
                           "0e000a020102"
                           "78"
                           "00";

static size_t unhexs(const char *h, uint8_t *out)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned x;
        sscanf(h, "%2x", &x);
        out[n++] = (uint8_t)x;
    }
    return n;
}

static size_t mkbatch(uint8_t *out, int64_t pid, int16_t epoch, int32_t seq)
{
    size_t n = unhexs(k_vec, out);
    if (pid >= 0) {
        put_be64(out + 43, (uint64_t)pid);
        out[51] = (uint8_t)(epoch >> 8);
        out[52] = (uint8_t)epoch;
        put_be32(out + 53, (uint32_t)seq);
        batch_update_crc(out, n);
    }
    return n;
}

static void create_topic(const char *name, int32_t np, const char *cfgk, const char *cfgv,
                         int expect)
{
    breq *r = mkreq(API_CreateTopics, 5);
    kmsg *t = k_new_items(r->req, CreateTopicsRequest_Topics, 1);
    k_set_str(t, CreatableTopic_Name, name);
    k_set_int(t, CreatableTopic_NumPartitions, np);
    k_set_int(t, CreatableTopic_ReplicationFactor, -1);
    if (cfgk) {
        kmsg *c = k_new_items(t, CreatableTopic_Configs, 1);
        k_set_str(c, CreatableTopicConfig_Name, cfgk);
        k_set_str(c, CreatableTopicConfig_Value, cfgv);
    }
    h_create_topics(&B, r);
    assert_true(r->finished);
    kmsg *tr = k_item(r->resp, CreateTopicsResponse_Topics, 0);
    assert_int_equal(k_int(tr, CreatableTopicResult_ErrorCode), expect);
    freereq(r);
}

/* Produces one batch; returns the partition error and *base. */
static int produce(const char *topic, int32_t part, uint8_t *batch, size_t n, int16_t acks,
                   int64_t *base, int64_t *lat)
{
    breq *r = mkreq(API_Produce, 7);
    k_set_int(r->req, ProduceRequest_Acks, acks);
    k_set_int(r->req, ProduceRequest_TimeoutMs, 1000);
    kmsg *td = k_new_items(r->req, ProduceRequest_TopicData, 1);
    k_set_str(td, TopicProduceData_Name, topic);
    kmsg *pd = k_new_items(td, TopicProduceData_PartitionData, 1);
    k_set_int(pd, PartitionProduceData_Index, part);
    /* the handler rewrites the batch in place: give it a copy in the arena */
    uint8_t *copy = karena_alloc(r->arena, n);
    memcpy(copy, batch, n);
    k_set_ref(pd, PartitionProduceData_Records, copy, (int32_t)n);
    h_produce(&B, r);
    assert_true(r->finished);
    int err = 0;
    if (!r->noreply) {
        kmsg *pr = k_item(k_item(r->resp, ProduceResponse_Responses, 0),
                          TopicProduceResponse_PartitionResponses, 0);
        err = (int)k_int(pr, PartitionProduceResponse_ErrorCode);
        if (base) *base = k_int(pr, PartitionProduceResponse_BaseOffset);
        if (lat) *lat = k_int(pr, PartitionProduceResponse_LogAppendTimeMs);
    }
    freereq(r);
    return err;
}

static int64_t list_offset(const char *topic, int64_t ts, int *err)
{
    breq *r = mkreq(API_ListOffsets, 5);
    kmsg *t = k_new_items(r->req, ListOffsetsRequest_Topics, 1);
    k_set_str(t, ListOffsetsTopic_Name, topic);
    kmsg *p = k_new_items(t, ListOffsetsTopic_Partitions, 1);
    k_set_int(p, ListOffsetsPartition_PartitionIndex, 0);
    k_set_int(p, ListOffsetsPartition_Timestamp, ts);
    h_list_offsets(&B, r);
    kmsg *pr = k_item(k_item(r->resp, ListOffsetsResponse_Topics, 0),
                      ListOffsetsTopicResponse_Partitions, 0);
    *err = (int)k_int(pr, ListOffsetsPartitionResponse_ErrorCode);
    int64_t off = k_int(pr, ListOffsetsPartitionResponse_Offset);
    freereq(r);
    return off;
}

static void test_topics_produce_fetch(void **state)
{
    (void)state;
    create_topic("orders", 2, NULL, NULL, 0);
    create_topic("orders", 2, NULL, NULL, KERR_TOPIC_ALREADY_EXISTS);
    create_topic("bad name", 1, NULL, NULL, KERR_INVALID_TOPIC_EXCEPTION);
    create_topic("cfgbad", 1, "retention.ms", "soon", KERR_INVALID_CONFIG);
    create_topic("zero", 0, NULL, NULL, KERR_INVALID_PARTITIONS);
    assert_null(topic_find(&B, "cfgbad"));

    uint8_t b[256];
    size_t n = mkbatch(b, -1, -1, -1);
    int64_t base = -1;
    assert_int_equal(produce("orders", 0, b, n, 1, &base, NULL), 0);
    assert_int_equal(base, 0);
    assert_int_equal(produce("orders", 0, b, n, -1, &base, NULL), 0);
    assert_int_equal(base, 2);
    assert_int_equal(produce("orders", 5, b, n, 1, &base, NULL), KERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(produce("orders", 0, b, n, 2, &base, NULL), KERR_INVALID_REQUIRED_ACKS);
    g_noreply = 0;
    produce("orders", 0, b, n, 0, &base, NULL);
    assert_int_equal(g_noreply, 1);
    /* corrupt CRC */
    uint8_t bad[256];
    memcpy(bad, b, n);
    bad[70] ^= 1;
    assert_int_equal(produce("orders", 0, bad, n, 1, &base, NULL), KERR_CORRUPT_MESSAGE);
    /* two batches in one partition's records */
    uint8_t two[512];
    memcpy(two, b, n);
    memcpy(two + n, b, n);
    assert_int_equal(produce("orders", 0, two, 2 * n, 1, &base, NULL), KERR_INVALID_RECORD);
    /* unknown topic: auto-created (default on) */
    assert_int_equal(produce("auto1", 0, b, n, 1, &base, NULL), 0);
    assert_non_null(topic_find(&B, "auto1"));
    B.cfg.auto_create_topics = false;
    assert_int_equal(produce("auto2", 0, b, n, 1, &base, NULL), KERR_UNKNOWN_TOPIC_OR_PARTITION);
    B.cfg.auto_create_topics = true;

    /* a failed write (disk full): KAFKA_STORAGE_ERROR, nothing appended, the next one works */
    plog_test_fail_next_write(ENOSPC, 10);
    assert_int_equal(produce("orders", 0, b, n, 1, &base, NULL), KERR_KAFKA_STORAGE_ERROR);
    assert_int_equal(produce("orders", 0, b, n, 1, &base, NULL), 0);
    assert_int_equal(base, 6);

    /* Fetch: immediate answer from offset 1 (inside the first batch) */
    breq *r = mkreq(API_Fetch, 11);
    k_set_int(r->req, FetchRequest_MaxWaitMs, 500);
    k_set_int(r->req, FetchRequest_MinBytes, 1);
    k_set_int(r->req, FetchRequest_MaxBytes, 1 << 20);
    kmsg *ft = k_new_items(r->req, FetchRequest_Topics, 2);
    k_set_str(ft, FetchTopic_Topic, "orders");
    kmsg *fp = k_new_items(ft, FetchTopic_Partitions, 2);
    k_set_int(fp, FetchPartition_Partition, 0);
    k_set_int(fp, FetchPartition_FetchOffset, 1);
    k_set_int(fp, FetchPartition_PartitionMaxBytes, 1);
    kmsg *fp1 = k_item(ft, FetchTopic_Partitions, 1);
    k_set_int(fp1, FetchPartition_Partition, 1);
    k_set_int(fp1, FetchPartition_FetchOffset, 0);
    k_set_int(fp1, FetchPartition_PartitionMaxBytes, 1 << 20);
    kmsg *ft2 = k_item(r->req, FetchRequest_Topics, 1);
    k_set_str(ft2, FetchTopic_Topic, "nope");
    kmsg *fp2 = k_new_items(ft2, FetchTopic_Partitions, 1);
    k_set_int(fp2, FetchPartition_Partition, 0);
    h_fetch(&B, r);
    assert_true(r->finished);
    kmsg *t0 = k_item(r->resp, FetchResponse_Responses, 0);
    kmsg *p0 = k_item(t0, FetchableTopicResponse_Partitions, 0);
    assert_int_equal(k_int(p0, PartitionData_ErrorCode), 0);
    assert_int_equal(k_int(p0, PartitionData_HighWatermark), 8);
    kstr rec = k_str(p0, PartitionData_Records);
    assert_int_equal(rec.len, (int32_t)n); /* first batch whole despite 1 byte max */
    kmsg *p1 = k_item(t0, FetchableTopicResponse_Partitions, 1);
    assert_int_equal(k_int(p1, PartitionData_HighWatermark), 0);
    assert_int_equal(k_str(p1, PartitionData_Records).len, 0);
    kmsg *p2 =
        k_item(k_item(r->resp, FetchResponse_Responses, 1), FetchableTopicResponse_Partitions, 0);
    assert_int_equal(k_int(p2, PartitionData_ErrorCode), KERR_UNKNOWN_TOPIC_OR_PARTITION);
    for (kfile_frag *f = k_val(p0, PartitionData_Records)->frags; f; f = f->next) close(f->fd);
    freereq(r);

    /* ListOffsets */
    int err;
    assert_int_equal(list_offset("orders", -1, &err), 8);
    assert_int_equal(list_offset("orders", -2, &err), 0);
    assert_int_equal(list_offset("orders", 1700000000001LL, &err), 1);
    assert_int_equal(err, 0);
    assert_int_equal(list_offset("orders", 1800000000000LL, &err), -1);
    list_offset("nope", -1, &err);
    assert_int_equal(err, KERR_UNKNOWN_TOPIC_OR_PARTITION);

    /* DeleteRecords up to 2 */
    r = mkreq(API_DeleteRecords, 1);
    kmsg *dt = k_new_items(r->req, DeleteRecordsRequest_Topics, 1);
    k_set_str(dt, DeleteRecordsTopic_Name, "orders");
    kmsg *dp = k_new_items(dt, DeleteRecordsTopic_Partitions, 2);
    k_set_int(dp, DeleteRecordsPartition_PartitionIndex, 0);
    k_set_int(dp, DeleteRecordsPartition_Offset, 2);
    k_set_int(k_item(dt, DeleteRecordsTopic_Partitions, 1), DeleteRecordsPartition_PartitionIndex,
              1);
    k_set_int(k_item(dt, DeleteRecordsTopic_Partitions, 1), DeleteRecordsPartition_Offset, 5);
    h_delete_records(&B, r);
    kmsg *dr = k_item(k_item(r->resp, DeleteRecordsResponse_Topics, 0),
                      DeleteRecordsTopicResult_Partitions, 0);
    assert_int_equal(k_int(dr, DeleteRecordsPartitionResult_ErrorCode), 0);
    assert_int_equal(k_int(dr, DeleteRecordsPartitionResult_LowWatermark), 2);
    dr = k_item(k_item(r->resp, DeleteRecordsResponse_Topics, 0),
                DeleteRecordsTopicResult_Partitions, 1);
    assert_int_equal(k_int(dr, DeleteRecordsPartitionResult_ErrorCode), KERR_OFFSET_OUT_OF_RANGE);
    freereq(r);
    assert_int_equal(list_offset("orders", -2, &err), 2);
}

static void test_idempotent_restart(void **state)
{
    (void)state;
    create_topic("idem", 1, NULL, NULL, 0);
    uint8_t b[256];
    int64_t base;
    size_t n = mkbatch(b, 77, 0, 0);
    assert_int_equal(produce("idem", 0, b, n, -1, &base, NULL), 0);
    assert_int_equal(base, 0);
    n = mkbatch(b, 77, 0, 2);
    assert_int_equal(produce("idem", 0, b, n, -1, &base, NULL), 0);
    assert_int_equal(base, 2);
    /* retry of the first: same offset, nothing appended */
    n = mkbatch(b, 77, 0, 0);
    assert_int_equal(produce("idem", 0, b, n, -1, &base, NULL), 0);
    assert_int_equal(base, 0);
    n = mkbatch(b, 77, 0, 9);
    assert_int_equal(produce("idem", 0, b, n, 1, &base, NULL), KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    /* restart: state rebuilt from the log */
    stop_broker();
    start_broker();
    btopic *t = topic_find(&B, "idem");
    assert_non_null(t);
    assert_int_equal(part_hwm(t->parts[0]), 4);
    n = mkbatch(b, 77, 0, 2);
    assert_int_equal(produce("idem", 0, b, n, -1, &base, NULL), 0);
    assert_int_equal(base, 2);
    assert_int_equal(part_hwm(t->parts[0]), 4);
    n = mkbatch(b, 77, 0, 4);
    assert_int_equal(produce("idem", 0, b, n, -1, &base, NULL), 0);
    assert_int_equal(base, 4);
    /* producer ids persist across restarts */
    int64_t id1 = producers_alloc_id(&B);
    stop_broker();
    start_broker();
    int64_t id2 = producers_alloc_id(&B);
    assert_true(id2 > id1);
}

static void test_admin(void **state)
{
    (void)state;
    create_topic("adm", 1, "cleanup.policy", "compact", 0);
    /* LogAppendTime topic */
    create_topic("lat", 1, "message.timestamp.type", "LogAppendTime", 0);
    uint8_t b[256];
    int64_t base, lat = -1;
    size_t n = mkbatch(b, -1, -1, -1);
    assert_int_equal(produce("lat", 0, b, n, 1, &base, &lat), 0);
    assert_true(lat > 1700000000000LL);

    /* CreatePartitions */
    breq *r = mkreq(API_CreatePartitions, 1);
    kmsg *t = k_new_items(r->req, CreatePartitionsRequest_Topics, 2);
    k_set_str(t, CreatePartitionsTopic_Name, "adm");
    k_set_int(t, CreatePartitionsTopic_Count, 3);
    k_set_str(k_item(r->req, CreatePartitionsRequest_Topics, 1), CreatePartitionsTopic_Name, "lat");
    k_set_int(k_item(r->req, CreatePartitionsRequest_Topics, 1), CreatePartitionsTopic_Count, 1);
    h_create_partitions(&B, r);
    assert_int_equal(k_int(k_item(r->resp, CreatePartitionsResponse_Results, 0),
                           CreatePartitionsTopicResult_ErrorCode),
                     0);
    assert_int_equal(k_int(k_item(r->resp, CreatePartitionsResponse_Results, 1),
                           CreatePartitionsTopicResult_ErrorCode),
                     KERR_INVALID_PARTITIONS);
    freereq(r);
    assert_int_equal(topic_find(&B, "adm")->nparts, 3);

    /* IncrementalAlterConfigs + DescribeConfigs */
    r = mkreq(API_IncrementalAlterConfigs, 0);
    kmsg *res = k_new_items(r->req, IncrementalAlterConfigsRequest_Resources, 1);
    k_set_int(res, AlterConfigsResource_ResourceType, 2);
    k_set_str(res, AlterConfigsResource_ResourceName, "adm");
    kmsg *c = k_new_items(res, AlterConfigsResource_Configs, 2);
    k_set_str(c, IncrementalAlterConfigsRequest_AlterableConfig_Name, "retention.ms");
    k_set_int(c, IncrementalAlterConfigsRequest_AlterableConfig_ConfigOperation, 0);
    k_set_str(c, IncrementalAlterConfigsRequest_AlterableConfig_Value, "1000");
    kmsg *c2 = k_item(res, AlterConfigsResource_Configs, 1);
    k_set_str(c2, IncrementalAlterConfigsRequest_AlterableConfig_Name, "cleanup.policy");
    k_set_int(c2, IncrementalAlterConfigsRequest_AlterableConfig_ConfigOperation, 2);
    k_set_str(c2, IncrementalAlterConfigsRequest_AlterableConfig_Value, "delete");
    h_incremental_alter_configs(&B, r);
    assert_int_equal(k_int(k_item(r->resp, IncrementalAlterConfigsResponse_Responses, 0),
                           AlterConfigsResourceResponse_ErrorCode),
                     0);
    freereq(r);
    btopic *at = topic_find(&B, "adm");
    assert_int_equal(at->cfg.log.retention_ms, 1000);
    assert_int_equal(at->cfg.log.cleanup_policy, PLOG_CLEANUP_COMPACT | PLOG_CLEANUP_DELETE);

    r = mkreq(API_DescribeConfigs, 3);
    res = k_new_items(r->req, DescribeConfigsRequest_Resources, 2);
    k_set_int(res, DescribeConfigsResource_ResourceType, 2);
    k_set_str(res, DescribeConfigsResource_ResourceName, "adm");
    k_set_null(res, DescribeConfigsResource_ConfigurationKeys);
    k_set_int(k_item(r->req, DescribeConfigsRequest_Resources, 1),
              DescribeConfigsResource_ResourceType, 4);
    k_set_str(k_item(r->req, DescribeConfigsRequest_Resources, 1),
              DescribeConfigsResource_ResourceName, "1");
    k_set_null(k_item(r->req, DescribeConfigsRequest_Resources, 1),
               DescribeConfigsResource_ConfigurationKeys);
    h_describe_configs(&B, r);
    kmsg *rr = k_item(r->resp, DescribeConfigsResponse_Results, 0);
    assert_int_equal(k_int(rr, DescribeConfigsResult_ErrorCode), 0);
    int found = 0;
    for (int i = 0; i < k_count(rr, DescribeConfigsResult_Configs); i++) {
        kmsg *e = k_item(rr, DescribeConfigsResult_Configs, i);
        kstr nm = k_str(e, DescribeConfigsResourceResult_Name),
             v = k_str(e, DescribeConfigsResourceResult_Value);
        if (nm.len == 12 && !memcmp(nm.p, "retention.ms", 12)) {
            assert_int_equal(v.len, 4);
            assert_memory_equal(v.p, "1000", 4);
            assert_int_equal(k_int(e, DescribeConfigsResourceResult_ConfigSource), 1);
            found++;
        }
    }
    assert_int_equal(found, 1);
    assert_true(k_count(k_item(r->resp, DescribeConfigsResponse_Results, 1),
                        DescribeConfigsResult_Configs) > 5);
    freereq(r);

    /* persisted */
    stop_broker();
    start_broker();
    at = topic_find(&B, "adm");
    assert_non_null(at);
    assert_int_equal(at->nparts, 3);
    assert_int_equal(at->cfg.log.retention_ms, 1000);
    assert_true(topic_find(&B, "lat")->cfg.log_append_time);

    /* DeleteTopics v4 */
    r = mkreq(API_DeleteTopics, 4);
    kval *names = k_set_array(r->req, DeleteTopicsRequest_TopicNames, 2);
    names[0].s.p = (const uint8_t *)"adm";
    names[0].s.len = 3;
    names[1].s.p = (const uint8_t *)"nope";
    names[1].s.len = 4;
    h_delete_topics(&B, r);
    assert_int_equal(
        k_int(k_item(r->resp, DeleteTopicsResponse_Responses, 0), DeletableTopicResult_ErrorCode),
        0);
    assert_int_equal(
        k_int(k_item(r->resp, DeleteTopicsResponse_Responses, 1), DeletableTopicResult_ErrorCode),
        KERR_UNKNOWN_TOPIC_OR_PARTITION);
    freereq(r);
    assert_null(topic_find(&B, "adm"));
    stop_broker();
    start_broker();
    assert_null(topic_find(&B, "adm"));
    char *d = xasprintf("%s/adm-0", g_dir);
    assert_int_not_equal(access(d, F_OK), 0);
    free(d);

    /* Metadata v1: all topics, internal hidden */
    btopic *it;
    assert_int_equal(
        topic_create(&B, "__consumer_offsets", 1, "cleanup.policy=compact\n", true, &it), 0);
    r = mkreq(API_Metadata, 1);
    k_set_null(r->req, MetadataRequest_Topics);
    h_metadata(&B, r);
    int32_t nt = k_count(r->resp, MetadataResponse_Topics);
    assert_int_equal(nt, topic_count(&B) - 1);
    assert_int_equal(k_int(r->resp, MetadataResponse_ControllerId), 1);
    freereq(r);
}

static void stop_cb(loop *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

/* loop_stop is final for a loop: each scenario parks its fetch on a fresh one */
static void fresh_loop(void)
{
    loop_free(B.loop);
    B.loop = loop_new();
}

static void run_loop_ms(int64_t ms)
{
    loop_timer_add(B.loop, ms, stop_cb, NULL);
    loop_run(B.loop);
}

static breq *fetch_req(const char *topic, int64_t offset, int32_t wait_ms)
{
    breq *r = mkreq(API_Fetch, 11);
    k_set_int(r->req, FetchRequest_MaxWaitMs, wait_ms);
    k_set_int(r->req, FetchRequest_MinBytes, 1);
    k_set_int(r->req, FetchRequest_MaxBytes, 1 << 20);
    kmsg *ft = k_new_items(r->req, FetchRequest_Topics, 1);
    k_set_str(ft, FetchTopic_Topic, topic);
    kmsg *fp = k_new_items(ft, FetchTopic_Partitions, 1);
    k_set_int(fp, FetchPartition_Partition, 0);
    k_set_int(fp, FetchPartition_FetchOffset, offset);
    k_set_int(fp, FetchPartition_PartitionMaxBytes, 1 << 20);
    return r;
}

static int32_t fetched_len(breq *r)
{
    kmsg *p0 =
        k_item(k_item(r->resp, FetchResponse_Responses, 0), FetchableTopicResponse_Partitions, 0);
    for (kfile_frag *f = k_val(p0, PartitionData_Records)->frags; f; f = f->next) close(f->fd);
    return k_str(p0, PartitionData_Records).len;
}

static void test_long_poll(void **state)
{
    (void)state;
    create_topic("lp", 1, NULL, NULL, 0);
    /* parked, then woken by an append */
    breq *r = fetch_req("lp", 0, 5000);
    h_fetch(&B, r);
    assert_false(r->finished);
    uint8_t b[256];
    int64_t base;
    size_t n = mkbatch(b, -1, -1, -1);
    assert_int_equal(produce("lp", 0, b, n, 1, &base, NULL), 0);
    run_loop_ms(50);
    assert_true(r->finished);
    assert_int_equal(fetched_len(r), (int32_t)n);
    freereq(r);
    /* parked, then timed out with empty records */
    fresh_loop();
    r = fetch_req("lp", 2, 20);
    h_fetch(&B, r);
    assert_false(r->finished);
    run_loop_ms(200);
    assert_true(r->finished);
    assert_int_equal(fetched_len(r), 0);
    freereq(r);
    /* parked, topic deleted: answered with UNKNOWN_TOPIC_OR_PARTITION */
    fresh_loop();
    r = fetch_req("lp", 2, 5000);
    h_fetch(&B, r);
    assert_false(r->finished);
    assert_int_equal(topic_delete(&B, topic_find(&B, "lp")), 0);
    run_loop_ms(50);
    assert_true(r->finished);
    kmsg *p0 =
        k_item(k_item(r->resp, FetchResponse_Responses, 0), FetchableTopicResponse_Partitions, 0);
    assert_int_equal(k_int(p0, PartitionData_ErrorCode), KERR_UNKNOWN_TOPIC_OR_PARTITION);
    freereq(r);
    /* parked at shutdown: answered by produce_on_flush without a flusher */
    create_topic("lp2", 1, NULL, NULL, 0);
    r = fetch_req("lp2", 0, 5000);
    h_fetch(&B, r);
    assert_false(r->finished);
    produce_on_flush(&B);
    assert_true(r->finished);
    freereq(r);
}

/* Fills every string with "gt" and every struct array with one element, two levels deep. */
static void fill_generic(kmsg *m, int depth)
{
    const kschema *sc = m->schema;
    for (int i = 0; i < sc->nfields; i++) {
        const kfield *f = &sc->fields[i];
        kfid id = KFIELD(sc->id, i);
        if (f->type == KT_STRING)
            k_set_str(m, id, "gt");
        else if (f->type == KT_ARRAY && f->sub && depth < 3) {
            k_new_items(m, id, 1);
            fill_generic(k_item(m, id, 0), depth + 1);
        } else if (f->type == KT_ARRAY && f->elem == KT_STRING) {
            kval *a = k_set_array(m, id, 1);
            a[0].s.p = (const uint8_t *)"gt";
            a[0].s.len = 2;
        } else if (f->type == KT_ARRAY && f->elem != KT_STRUCT) {
            k_set_array(m, id, 1);
        }
    }
}

/* Every core handler at every advertised version, with empty and with generic requests:
 * no field-name abort, no crash, every request answered. */
static void test_every_version(void **state)
{
    (void)state;
    create_topic("gt", 1, NULL, NULL, 0);
    for (int16_t key = 0; key <= KAPI_MAX_KEY; key++) {
        const bhandler *h = &broker_core_handlers[key];
        if (!h->fn) continue;
        for (int16_t v = h->accept_min; v <= h->max_version; v++) {
            for (int pass = 0; pass < 2; pass++) {
                breq *r = mkreq(key, v);
                if (pass) fill_generic(r->req, 0);
                if (key == API_Fetch) k_set_int(r->req, FetchRequest_MaxWaitMs, 0);
                h->fn(&B, r);
                if (!r->finished) fail_msg("API %d v%d pass %d not answered", key, v, pass);
                if (key == API_Fetch && !r->noreply) {
                    int32_t nt = k_count(r->resp, FetchResponse_Responses);
                    for (int32_t i = 0; i < nt; i++) {
                        kmsg *t = k_item(r->resp, FetchResponse_Responses, i);
                        for (int32_t j = 0; j < k_count(t, FetchableTopicResponse_Partitions);
                             j++) {
                            kmsg *p = k_item(t, FetchableTopicResponse_Partitions, j);
                            for (kfile_frag *f = k_val(p, PartitionData_Records)->frags; f;
                                 f = f->next)
                                close(f->fd);
                        }
                    }
                }
                /* the response must encode at this version */
                kout o;
                kout_init(&o, 0);
                kmsg_encode(r->resp, v, kapi_flexible(r->api, v), &o);
                kout_finish(&o);
                kout_free(&o);
                freereq(r);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_topics_produce_fetch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_version, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
