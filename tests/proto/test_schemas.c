/* test_schemas — the codec's message tables (src/proto api_*.c) checked two ways:
 *  1. byte-exact known encodings built by hand from the protocol spec
 *     (../shared/kafka-protocol.md §2.1, §2.3, §3.4, §4.1, §1.6): decode them and check the
 *     field values, encode the tree back and compare bytes;
 *  2. a structural walk of every kapi (ranges, names, tags, nested schemas), plus the version
 *     ranges the broker advertises (§1.3 "Later" column).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/kmsg.h"

/* ------------------------------------------------------------------ helpers ---- */

static const kapi *api(int16_t key)
{
    const kapi *a = kapi_get(key);
    assert_non_null(a);
    return a;
}

/* Decodes `body` as the request (or response) of `key` at `v`; the whole body must be used. */
static kmsg *decode(karena *ar, int16_t key, bool request, int16_t v, const uint8_t *body, size_t n)
{
    const kapi *a = api(key);
    rbuf r = rbuf_make(body, n);
    kmsg *m = NULL;
    int rc = kmsg_decode(ar, request ? a->request : a->response, v, kapi_flexible(a, v), &r, &m);
    assert_int_equal(rc, 0);
    assert_non_null(m);
    assert_int_equal(rbuf_left(&r), 0);
    return m;
}

/* Encodes `m` (memory only) and compares with `want`. */
static void expect_encoding(const kmsg *m, int16_t key, int16_t v, const uint8_t *want, size_t n)
{
    kout o;
    kout_init(&o, 0);
    kmsg_encode(m, v, kapi_flexible(api(key), v), &o);
    kout_finish(&o);
    assert_int_equal(kout_size(&o), (int64_t)n);
    assert_int_equal(o.mem.len, n);
    assert_memory_equal(o.mem.data, want, n);
    kout_free(&o);
}

static void assert_kstr(kstr s, const char *want)
{
    if (!want) {
        assert_int_equal(s.len, -1);
        return;
    }
    assert_int_equal(s.len, (int32_t)strlen(want));
    assert_memory_equal(s.p, want, strlen(want));
}

/* §3.4 test record batch: 2 records, uncompressed, 83 bytes. */
static const uint8_t BATCH[83] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x47, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x34, 0xed, 0x69, 0x79, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68,
    0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0x00, 0x00, 0x00, 0x02, 0x1a, 0x00, 0x00, 0x00, 0x02, 0x6b, 0x04, 0x68, 0x69,
    0x02, 0x02, 0x68, 0x02, 0x76, 0x0e, 0x00, 0x0a, 0x02, 0x01, 0x02, 0x78, 0x00,
};

/* ------------------------------------------------------------------ ApiVersions ---- */

/* kcat's first frame (§2.1), header v2 + body; the size prefix is stripped. */
static void test_apiversions_v3_request_kcat(void **st)
{
    (void)st;
    static const uint8_t frame[] = {
        0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,                 /* key 18 v3 corr 1 */
        0x00, 0x07, 'r',  'd',  'k',  'a',  'f',  'k',  'a', 0x00,      /* client_id, tags */
        0x0b, 'l',  'i',  'b',  'r',  'd',  'k',  'a',  'f', 'k',  'a', /* software name */
        0x06, '2',  '.',  '0',  '.',  '2',  0x00,                       /* version, tags */
    };
    assert_int_equal(sizeof frame, 36);
    rbuf r = rbuf_make(frame, sizeof frame);
    kreq_header h;
    assert_int_equal(kreq_header_decode(&r, &h), 0);
    assert_int_equal(h.api_key, 18);
    assert_int_equal(h.api_version, 3);
    assert_int_equal(h.correlation_id, 1);
    assert_true(h.flexible);
    assert_kstr(h.client_id, "rdkafka");
    size_t off = sizeof frame - rbuf_left(&r);
    assert_int_equal(off, 18);

    karena *ar = karena_new();
    kmsg *m = decode(ar, API_ApiVersions, true, 3, frame + off, sizeof frame - off);
    assert_kstr(k_str(m, ApiVersionsRequest_ClientSoftwareName), "librdkafka");
    assert_kstr(k_str(m, ApiVersionsRequest_ClientSoftwareVersion), "2.0.2");
    expect_encoding(m, API_ApiVersions, 3, frame + off, sizeof frame - off);
    /* v4 has the v3 layout */
    kmsg *m4 = decode(ar, API_ApiVersions, true, 4, frame + off, sizeof frame - off);
    assert_kstr(k_str(m4, ApiVersionsRequest_ClientSoftwareName), "librdkafka");
    /* v0-v2: empty body */
    kmsg *m0 = decode(ar, API_ApiVersions, true, 2, frame, 0);
    expect_encoding(m0, API_ApiVersions, 2, frame, 0);
    karena_free(ar);
}

static void test_apiversions_v3_response_tags(void **st)
{
    (void)st;
    karena *ar = karena_new();
    const kapi *a = api(18);
    kmsg *m = kmsg_new(ar, a->response);
    kmsg *k = k_new_items(m, ApiVersionsResponse_ApiKeys, 1);
    k_set_int(k, ApiVersion_ApiKey, 18);
    k_set_int(k, ApiVersion_MinVersion, 0);
    k_set_int(k, ApiVersion_MaxVersion, 4);
    /* defaults (FinalizedFeaturesEpoch -1, empty feature arrays, ZkMigrationReady false) are
     * not written */
    static const uint8_t plain[] = {
        0x00, 0x00,                                     /* ErrorCode */
        0x02, 0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00, /* ApiKeys: 1 x {18,0,4,tags} */
        0x00, 0x00, 0x00, 0x00,                         /* ThrottleTimeMs */
        0x00,                                           /* no tagged fields */
    };
    expect_encoding(m, API_ApiVersions, 3, plain, sizeof plain);
    /* tag 1 FinalizedFeaturesEpoch (int64) and tag 3 ZkMigrationReady */
    k_set_int(m, ApiVersionsResponse_FinalizedFeaturesEpoch, 5);
    k_set_bool(m, ApiVersionsResponse_ZkMigrationReady, true);
    static const uint8_t tagged[] = {
        0x00, 0x00, 0x02, 0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02,                            /* two tagged fields */
        0x01, 0x08, 0,    0,    0,    0,    0,    0,    0,    5, /* tag 1, size 8 */
        0x03, 0x01, 0x01,                                        /* tag 3, size 1 */
    };
    expect_encoding(m, API_ApiVersions, 3, tagged, sizeof tagged);
    kmsg *d = decode(ar, API_ApiVersions, false, 3, tagged, sizeof tagged);
    assert_int_equal(k_int(d, ApiVersionsResponse_FinalizedFeaturesEpoch), 5);
    assert_true(k_bool(d, ApiVersionsResponse_ZkMigrationReady));
    assert_int_equal(k_count(d, ApiVersionsResponse_ApiKeys), 1);
    assert_int_equal(k_int(k_item(d, ApiVersionsResponse_ApiKeys, 0), ApiVersion_MaxVersion), 4);
    /* v0 body (§2.3): no throttle */
    static const uint8_t v0[] = {0x00, 0x23, 0x00, 0x00, 0x00, 0x01,
                                 0x00, 0x12, 0x00, 0x00, 0x00, 0x03};
    kmsg *e = decode(ar, API_ApiVersions, false, 0, v0, sizeof v0);
    assert_int_equal(k_int(e, ApiVersionsResponse_ErrorCode), 35);
    assert_int_equal(k_int(k_item(e, ApiVersionsResponse_ApiKeys, 0), ApiVersion_MaxVersion), 3);
    expect_encoding(e, API_ApiVersions, 0, v0, sizeof v0);
    karena_free(ar);
}

/* ------------------------------------------------------------------ Metadata ---- */

static void test_metadata_v4_request(void **st)
{
    (void)st;
    karena *ar = karena_new();
    static const uint8_t one[] = {0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 't', '1', 0x01};
    kmsg *m = decode(ar, API_Metadata, true, 4, one, sizeof one);
    assert_int_equal(k_count(m, MetadataRequest_Topics), 1);
    assert_kstr(k_str(k_item(m, MetadataRequest_Topics, 0), MetadataRequestTopic_Name), "t1");
    assert_true(k_bool(m, MetadataRequest_AllowAutoTopicCreation));
    expect_encoding(m, API_Metadata, 4, one, sizeof one);
    /* null topic array = all topics (nullable from v1) */
    static const uint8_t all[] = {0xff, 0xff, 0xff, 0xff, 0x00};
    kmsg *n = decode(ar, API_Metadata, true, 4, all, sizeof all);
    assert_int_equal(k_count(n, MetadataRequest_Topics), -1);
    assert_false(k_bool(n, MetadataRequest_AllowAutoTopicCreation));
    expect_encoding(n, API_Metadata, 4, all, sizeof all);
    /* v0: empty array = all topics, null not allowed */
    rbuf r = rbuf_make(all, 4);
    kmsg *bad = NULL;
    assert_true(kmsg_decode(ar, api(3)->request, 0, false, &r, &bad) < 0);
    karena_free(ar);
}

/* ------------------------------------------------------------------ Produce ---- */

static void test_produce_v7_request(void **st)
{
    (void)st;
    uint8_t body[2 + 2 + 4 + 4 + 3 + 4 + 4 + 4 + sizeof BATCH];
    size_t n = 0;
    static const uint8_t head[] = {
        0xff, 0xff,             /* TransactionalId null */
        0xff, 0xff,             /* Acks -1 */
        0x00, 0x00, 0x75, 0x30, /* TimeoutMs 30000 */
        0x00, 0x00, 0x00, 0x01, /* TopicData: 1 */
        0x00, 0x01, 't',        /* Name */
        0x00, 0x00, 0x00, 0x01, /* PartitionData: 1 */
        0x00, 0x00, 0x00, 0x00, /* Index 0 */
        0x00, 0x00, 0x00, 0x53, /* Records: 83 bytes */
    };
    memcpy(body, head, sizeof head);
    n = sizeof head;
    memcpy(body + n, BATCH, sizeof BATCH);
    n += sizeof BATCH;
    assert_int_equal(n, sizeof body);

    karena *ar = karena_new();
    kmsg *m = decode(ar, API_Produce, true, 7, body, n);
    assert_kstr(k_str(m, ProduceRequest_TransactionalId), NULL);
    assert_int_equal(k_int(m, ProduceRequest_Acks), -1);
    assert_int_equal(k_int(m, ProduceRequest_TimeoutMs), 30000);
    assert_int_equal(k_count(m, ProduceRequest_TopicData), 1);
    kmsg *t = k_item(m, ProduceRequest_TopicData, 0);
    assert_kstr(k_str(t, TopicProduceData_Name), "t");
    assert_int_equal(k_count(t, TopicProduceData_PartitionData), 1);
    kmsg *p = k_item(t, TopicProduceData_PartitionData, 0);
    assert_int_equal(k_int(p, PartitionProduceData_Index), 0);
    kstr rec = k_str(p, PartitionProduceData_Records);
    assert_int_equal(rec.len, 83);
    assert_memory_equal(rec.p, BATCH, 83);
    expect_encoding(m, API_Produce, 7, body, n);

    /* same tree built with the setters */
    kmsg *b = kmsg_new(ar, api(0)->request);
    k_set_null(b, ProduceRequest_TransactionalId);
    k_set_int(b, ProduceRequest_Acks, -1);
    k_set_int(b, ProduceRequest_TimeoutMs, 30000);
    kmsg *bt = k_new_items(b, ProduceRequest_TopicData, 1);
    k_set_str(bt, TopicProduceData_Name, "t");
    kmsg *bp = k_new_items(bt, TopicProduceData_PartitionData, 1);
    k_set_ref(bp, PartitionProduceData_Records, BATCH, sizeof BATCH);
    expect_encoding(b, API_Produce, 7, body, n);
    assert_true(kmsg_equal(m, b, 7, false));

    /* v2 (refused by the broker, but decodable): no TransactionalId */
    kmsg *m2 = decode(ar, API_Produce, true, 2, body + 2, n - 2);
    assert_int_equal(k_int(m2, ProduceRequest_Acks), -1);
    assert_int_equal(
        k_str(k_item(k_item(m2, ProduceRequest_TopicData, 0), TopicProduceData_PartitionData, 0),
              PartitionProduceData_Records)
            .len,
        83);
    karena_free(ar);
}

static void test_produce_v9_request_flexible(void **st)
{
    (void)st;
    karena *ar = karena_new();
    uint8_t body[64 + sizeof BATCH];
    static const uint8_t head[] = {
        0x00,                   /* TransactionalId null (compact) */
        0x00, 0x01,             /* Acks 1 */
        0x00, 0x00, 0x03, 0xe8, /* TimeoutMs 1000 */
        0x02,                   /* TopicData: 1 */
        0x02, 't',              /* Name */
        0x02,                   /* PartitionData: 1 */
        0x00, 0x00, 0x00, 0x02, /* Index 2 */
        0x54,                   /* Records: 83 + 1 */
    };
    size_t n = sizeof head;
    memcpy(body, head, n);
    memcpy(body + n, BATCH, sizeof BATCH);
    n += sizeof BATCH;
    body[n++] = 0x00; /* partition tags */
    body[n++] = 0x00; /* topic tags */
    body[n++] = 0x00; /* request tags */
    kmsg *m = decode(ar, API_Produce, true, 9, body, n);
    assert_int_equal(k_int(m, ProduceRequest_Acks), 1);
    kmsg *p = k_item(k_item(m, ProduceRequest_TopicData, 0), TopicProduceData_PartitionData, 0);
    assert_int_equal(k_int(p, PartitionProduceData_Index), 2);
    assert_int_equal(k_str(p, PartitionProduceData_Records).len, 83);
    expect_encoding(m, API_Produce, 9, body, n);
    karena_free(ar);
}

/* ------------------------------------------------------------------ Fetch ---- */

static void test_fetch_v11_response(void **st)
{
    (void)st;
    uint8_t body[128 + sizeof BATCH];
    static const uint8_t head[] = {
        0x00, 0x00, 0x00, 0x00,              /* ThrottleTimeMs */
        0x00, 0x00,                          /* ErrorCode */
        0x00, 0x00, 0x00, 0x00,              /* SessionId */
        0x00, 0x00, 0x00, 0x01,              /* Responses: 1 */
        0x00, 0x01, 't',                     /* Topic */
        0x00, 0x00, 0x00, 0x01,              /* Partitions: 1 */
        0x00, 0x00, 0x00, 0x00,              /* PartitionIndex */
        0x00, 0x00,                          /* ErrorCode */
        0,    0,    0,    0,    0, 0, 0, 44, /* HighWatermark */
        0,    0,    0,    0,    0, 0, 0, 44, /* LastStableOffset */
        0,    0,    0,    0,    0, 0, 0, 0,  /* LogStartOffset */
        0xff, 0xff, 0xff, 0xff,              /* AbortedTransactions null */
        0xff, 0xff, 0xff, 0xff,              /* PreferredReadReplica -1 */
        0x00, 0x00, 0x00, 0x53,              /* Records: 83 */
    };
    size_t n = sizeof head;
    memcpy(body, head, n);
    memcpy(body + n, BATCH, sizeof BATCH);
    n += sizeof BATCH;

    karena *ar = karena_new();
    kmsg *m = decode(ar, API_Fetch, false, 11, body, n);
    assert_int_equal(k_int(m, FetchResponse_SessionId), 0);
    kmsg *t = k_item(m, FetchResponse_Responses, 0);
    assert_kstr(k_str(t, FetchableTopicResponse_Topic), "t");
    kmsg *p = k_item(t, FetchableTopicResponse_Partitions, 0);
    assert_int_equal(k_int(p, PartitionData_HighWatermark), 44);
    assert_int_equal(k_int(p, PartitionData_LastStableOffset), 44);
    assert_int_equal(k_int(p, PartitionData_LogStartOffset), 0);
    assert_int_equal(k_count(p, PartitionData_AbortedTransactions), -1);
    assert_int_equal(k_int(p, PartitionData_PreferredReadReplica), -1);
    assert_int_equal(k_str(p, PartitionData_Records).len, 83);
    expect_encoding(m, API_Fetch, 11, body, n);

    /* built by a handler: defaults must give the same bytes */
    kmsg *b = kmsg_new(ar, api(1)->response);
    kmsg *bt = k_new_items(b, FetchResponse_Responses, 1);
    k_set_str(bt, FetchableTopicResponse_Topic, "t");
    kmsg *bp = k_new_items(bt, FetchableTopicResponse_Partitions, 1);
    k_set_int(bp, PartitionData_HighWatermark, 44);
    k_set_int(bp, PartitionData_LastStableOffset, 44);
    k_set_int(bp, PartitionData_LogStartOffset, 0);
    k_set_null(bp, PartitionData_AbortedTransactions);
    k_set_ref(bp, PartitionData_Records, BATCH, sizeof BATCH);
    expect_encoding(b, API_Fetch, 11, body, n);
    assert_int_equal(k_int(bp, PartitionData_PreferredReadReplica), -1);

    /* v12: DivergingEpoch / CurrentLeader / SnapshotId are tagged structs (0/1/2) */
    kmsg *cl = k_struct(bp, PartitionData_CurrentLeader);
    assert_int_equal(k_int(cl, LeaderIdAndEpoch_LeaderId), -1);
    assert_int_equal(k_int(cl, LeaderIdAndEpoch_LeaderEpoch), -1);
    assert_int_equal(
        k_int(k_struct(bp, PartitionData_DivergingEpoch), FetchResponse_EpochEndOffset_EndOffset),
        -1);
    assert_int_equal(k_int(k_struct(bp, PartitionData_SnapshotId), SnapshotId_Epoch), -1);
    karena_free(ar);
}

/* ------------------------------------------------------------------ admin ---- */

static void test_createtopics_v5_request(void **st)
{
    (void)st;
    static const uint8_t body[] = {
        0x02,                         /* Topics: 1 */
        0x02, 't',                    /* Name */
        0xff, 0xff, 0xff, 0xff,       /* NumPartitions -1 */
        0xff, 0xff,                   /* ReplicationFactor -1 */
        0x02,                         /* Assignments: 1 */
        0x00, 0x00, 0x00, 0x00,       /* PartitionIndex 0 */
        0x02, 0x00, 0x00, 0x00, 0x01, /* BrokerIds [1] */
        0x00,                         /* assignment tags */
        0x03,                         /* Configs: 2 */
        0x0d, 'r',  'e',  't',  'e',  'n',  't',  'i', 'o',  'n',
        '.',  'm',  's',  0x05, '1',  '0',  '0',  '0', 0x00, /* Value "1000", tags */
        0x0f, 'c',  'l',  'e',  'a',  'n',  'u',  'p', '.',  'p',
        'o',  'l',  'i',  'c',  'y',  0x00, 0x00, /* Value null, tags */
        0x00,                                     /* topic tags */
        0x00, 0x00, 0x75, 0x30,                   /* TimeoutMs 30000 */
        0x01,                                     /* ValidateOnly */
        0x00,                                     /* tags */
    };
    karena *ar = karena_new();
    kmsg *m = decode(ar, API_CreateTopics, true, 5, body, sizeof body);
    assert_int_equal(k_count(m, CreateTopicsRequest_Topics), 1);
    kmsg *t = k_item(m, CreateTopicsRequest_Topics, 0);
    assert_kstr(k_str(t, CreatableTopic_Name), "t");
    assert_int_equal(k_int(t, CreatableTopic_NumPartitions), -1);
    assert_int_equal(k_int(t, CreatableTopic_ReplicationFactor), -1);
    kmsg *as = k_item(t, CreatableTopic_Assignments, 0);
    assert_int_equal(k_count(as, CreatableReplicaAssignment_BrokerIds), 1);
    assert_int_equal(k_item_int(as, CreatableReplicaAssignment_BrokerIds, 0), 1);
    assert_int_equal(k_count(t, CreatableTopic_Configs), 2);
    assert_kstr(k_str(k_item(t, CreatableTopic_Configs, 0), CreatableTopicConfig_Name),
                "retention.ms");
    assert_kstr(k_str(k_item(t, CreatableTopic_Configs, 0), CreatableTopicConfig_Value), "1000");
    assert_kstr(k_str(k_item(t, CreatableTopic_Configs, 1), CreatableTopicConfig_Value), NULL);
    /* Kafka's CreateTopicsRequest.json spells these two in lower camel case */
    assert_int_equal(k_int(m, CreateTopicsRequest_timeoutMs), 30000);
    assert_true(k_bool(m, CreateTopicsRequest_validateOnly));
    expect_encoding(m, API_CreateTopics, 5, body, sizeof body);
    karena_free(ar);
}

static void test_deletetopics_string_arrays(void **st)
{
    (void)st;
    karena *ar = karena_new();
    /* v4 (flexible): TopicNames compact array of compact strings */
    static const uint8_t v4[] = {0x03, 0x02, 'a', 0x03, 'b', 'c', 0x00, 0x00, 0x75, 0x30, 0x00};
    kmsg *m = decode(ar, API_DeleteTopics, true, 4, v4, sizeof v4);
    assert_int_equal(k_count(m, DeleteTopicsRequest_TopicNames), 2);
    assert_kstr(k_item_str(m, DeleteTopicsRequest_TopicNames, 0), "a");
    assert_kstr(k_item_str(m, DeleteTopicsRequest_TopicNames, 1), "bc");
    expect_encoding(m, API_DeleteTopics, 4, v4, sizeof v4);
    /* v1 classic */
    static const uint8_t v1[] = {0, 0, 0, 1, 0, 1, 'a', 0, 0, 0x75, 0x30};
    kmsg *c = decode(ar, API_DeleteTopics, true, 1, v1, sizeof v1);
    assert_kstr(k_item_str(c, DeleteTopicsRequest_TopicNames, 0), "a");
    assert_int_equal(k_int(c, DeleteTopicsRequest_TimeoutMs), 30000);
    expect_encoding(c, API_DeleteTopics, 1, v1, sizeof v1);
    /* DescribeConfigs v1: nullable ConfigurationKeys string array */
    static const uint8_t dc[] = {
        0,    0,    0,    1,    /* Resources: 1 */
        2,                      /* ResourceType topic */
        0,    1,    't',        /* ResourceName */
        0xff, 0xff, 0xff, 0xff, /* ConfigurationKeys null = all */
        1,                      /* IncludeSynonyms */
    };
    kmsg *d = decode(ar, API_DescribeConfigs, true, 1, dc, sizeof dc);
    kmsg *r = k_item(d, DescribeConfigsRequest_Resources, 0);
    assert_int_equal(k_int(r, DescribeConfigsResource_ResourceType), 2);
    assert_kstr(k_str(r, DescribeConfigsResource_ResourceName), "t");
    assert_int_equal(k_count(r, DescribeConfigsResource_ConfigurationKeys), -1);
    assert_true(k_bool(d, DescribeConfigsRequest_IncludeSynonyms));
    expect_encoding(d, API_DescribeConfigs, 1, dc, sizeof dc);
    karena_free(ar);
}

/* InitProducerId v0 (librdkafka's feature probe) and v4 (flexible). */
static void test_initproducerid(void **st)
{
    (void)st;
    karena *ar = karena_new();
    static const uint8_t v0[] = {0xff, 0xff, 0x00, 0x00, 0xea, 0x60};
    kmsg *m = decode(ar, API_InitProducerId, true, 0, v0, sizeof v0);
    assert_kstr(k_str(m, InitProducerIdRequest_TransactionalId), NULL);
    assert_int_equal(k_int(m, InitProducerIdRequest_TransactionTimeoutMs), 60000);
    assert_int_equal(k_int(m, InitProducerIdRequest_ProducerId), -1);
    assert_int_equal(k_int(m, InitProducerIdRequest_ProducerEpoch), -1);
    expect_encoding(m, API_InitProducerId, 0, v0, sizeof v0);
    static const uint8_t v4[] = {0x00, 0x00, 0x00, 0xea, 0x60, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
    kmsg *f = decode(ar, API_InitProducerId, true, 4, v4, sizeof v4);
    assert_int_equal(k_int(f, InitProducerIdRequest_ProducerId), -1);
    expect_encoding(f, API_InitProducerId, 4, v4, sizeof v4);
    karena_free(ar);
}

/* ------------------------------------------------------------------ groups ---- */

/* OffsetFetch v8: the multi-group layout (flexible); v9 adds MemberId / MemberEpoch. */
static void test_offsetfetch_v8_v9_request(void **st)
{
    (void)st;
    karena *ar = karena_new();
    static const uint8_t v8[] = {
        0x02,                             /* Groups: 1 */
        0x03, 'g', '1',                   /* GroupId */
        0x02,                             /* Topics: 1 */
        0x02, 't',                        /* Name */
        0x03, 0,   0,   0, 0, 0, 0, 0, 2, /* PartitionIndexes [0, 2] */
        0x00,                             /* topic tags */
        0x00,                             /* group tags */
        0x01,                             /* RequireStable */
        0x00,                             /* tags */
    };
    kmsg *m = decode(ar, API_OffsetFetch, true, 8, v8, sizeof v8);
    assert_int_equal(k_count(m, OffsetFetchRequest_Groups), 1);
    kmsg *g = k_item(m, OffsetFetchRequest_Groups, 0);
    assert_kstr(k_str(g, OffsetFetchRequestGroup_GroupId), "g1");
    assert_kstr(k_str(g, OffsetFetchRequestGroup_MemberId), NULL); /* v9+ only, default null */
    assert_int_equal(k_int(g, OffsetFetchRequestGroup_MemberEpoch), -1);
    kmsg *t = k_item(g, OffsetFetchRequestGroup_Topics, 0);
    assert_int_equal(k_count(t, OffsetFetchRequestTopics_PartitionIndexes), 2);
    assert_int_equal(k_item_int(t, OffsetFetchRequestTopics_PartitionIndexes, 1), 2);
    assert_true(k_bool(m, OffsetFetchRequest_RequireStable));
    expect_encoding(m, API_OffsetFetch, 8, v8, sizeof v8);
    /* v9, all topics of the group (Topics null), with member id and epoch */
    static const uint8_t v9[] = {
        0x02, 0x03, 'g',  '1',  0x02, 'm', /* MemberId "m" */
        0x00, 0x00, 0x00, 0x07,            /* MemberEpoch 7 */
        0x00,                              /* Topics null */
        0x00, 0x00, 0x00,
    };
    kmsg *n = decode(ar, API_OffsetFetch, true, 9, v9, sizeof v9);
    kmsg *g9 = k_item(n, OffsetFetchRequest_Groups, 0);
    assert_kstr(k_str(g9, OffsetFetchRequestGroup_MemberId), "m");
    assert_int_equal(k_int(g9, OffsetFetchRequestGroup_MemberEpoch), 7);
    assert_int_equal(k_count(g9, OffsetFetchRequestGroup_Topics), -1);
    expect_encoding(n, API_OffsetFetch, 9, v9, sizeof v9);
    /* v1: single group, non-nullable topic array */
    static const uint8_t v1[] = {0, 2, 'g', '1', 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 1, 0, 0, 0, 0};
    kmsg *c = decode(ar, API_OffsetFetch, true, 1, v1, sizeof v1);
    assert_kstr(k_str(c, OffsetFetchRequest_GroupId), "g1");
    assert_int_equal(k_item_int(k_item(c, OffsetFetchRequest_Topics, 0),
                                OffsetFetchRequestTopic_PartitionIndexes, 0),
                     0);
    expect_encoding(c, API_OffsetFetch, 1, v1, sizeof v1);
    karena_free(ar);
}

static void test_findcoordinator_and_joingroup(void **st)
{
    (void)st;
    karena *ar = karena_new();
    /* FindCoordinator v0 (librdkafka's probe) and v4 (batched keys) */
    static const uint8_t f0[] = {0x00, 0x02, 'g', '1'};
    kmsg *m = decode(ar, API_FindCoordinator, true, 0, f0, sizeof f0);
    assert_kstr(k_str(m, FindCoordinatorRequest_Key), "g1");
    expect_encoding(m, API_FindCoordinator, 0, f0, sizeof f0);
    static const uint8_t f4[] = {0x00, 0x03, 0x03, 'g', '1', 0x02, 'h', 0x00};
    kmsg *b = decode(ar, API_FindCoordinator, true, 4, f4, sizeof f4);
    assert_int_equal(k_int(b, FindCoordinatorRequest_KeyType), 0);
    assert_int_equal(k_count(b, FindCoordinatorRequest_CoordinatorKeys), 2);
    assert_kstr(k_item_str(b, FindCoordinatorRequest_CoordinatorKeys, 1), "h");
    expect_encoding(b, API_FindCoordinator, 4, f4, sizeof f4);
    /* JoinGroup v0: no rebalance timeout, no instance id */
    static const uint8_t j0[] = {
        0x00, 0x02, 'g',  '1',  /* GroupId */
        0x00, 0x00, 0x75, 0x30, /* SessionTimeoutMs */
        0x00, 0x00,             /* MemberId "" */
        0x00, 0x08, 'c',  'o',  'n', 's', 'u', 'm',  'e',  'r',  0x00, 0x00, 0x00,
        0x01, /* Protocols: 1 */
        0x00, 0x05, 'r',  'a',  'n', 'g', 'e', 0x00, 0x00, 0x00, 0x02, 0xab, 0xcd, /* Metadata */
    };
    kmsg *j = decode(ar, API_JoinGroup, true, 0, j0, sizeof j0);
    assert_int_equal(k_int(j, JoinGroupRequest_SessionTimeoutMs), 30000);
    assert_int_equal(k_int(j, JoinGroupRequest_RebalanceTimeoutMs), -1);
    assert_kstr(k_str(j, JoinGroupRequest_GroupInstanceId), NULL);
    assert_kstr(k_str(j, JoinGroupRequest_ProtocolType), "consumer");
    kmsg *p = k_item(j, JoinGroupRequest_Protocols, 0);
    assert_kstr(k_str(p, JoinGroupRequestProtocol_Name), "range");
    assert_int_equal(k_str(p, JoinGroupRequestProtocol_Metadata).len, 2);
    expect_encoding(j, API_JoinGroup, 0, j0, sizeof j0);
    karena_free(ar);
}

/* Fetch v12 response: CurrentLeader (tag 1) travels in the partition's tag buffer. */
static void test_fetch_v12_response_tagged_struct(void **st)
{
    (void)st;
    karena *ar = karena_new();
    kmsg *b = kmsg_new(ar, api(1)->response);
    kmsg *t = k_new_items(b, FetchResponse_Responses, 1);
    k_set_str(t, FetchableTopicResponse_Topic, "t");
    kmsg *p = k_new_items(t, FetchableTopicResponse_Partitions, 1);
    k_set_int(p, PartitionData_ErrorCode, 6); /* NOT_LEADER_OR_FOLLOWER */
    k_set_int(p, PartitionData_HighWatermark, -1);
    k_set_null(p, PartitionData_AbortedTransactions);
    k_set_ref(p, PartitionData_Records, NULL, -1);
    kmsg *cl = k_new_struct(p, PartitionData_CurrentLeader);
    k_set_int(cl, LeaderIdAndEpoch_LeaderId, 1);
    k_set_int(cl, LeaderIdAndEpoch_LeaderEpoch, 0);
    static const uint8_t want[] = {
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0, /* throttle, error, session */
        0x02, 0x02, 't',                                         /* Responses: 1, Topic */
        0x02,                                                    /* Partitions: 1 */
        0,    0,    0,    0,    0x00, 0x06,                      /* PartitionIndex, ErrorCode */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,          /* HighWatermark */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,          /* LastStableOffset */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,          /* LogStartOffset */
        0x00,                                                    /* AbortedTransactions null */
        0xff, 0xff, 0xff, 0xff,                                  /* PreferredReadReplica */
        0x00,                                                    /* Records null */
        0x01, 0x01, 0x09,                                        /* 1 tagged field: tag 1, size 9 */
        0,    0,    0,    1,    0,    0,    0,    0,    0x00, /* LeaderId 1, LeaderEpoch 0, tags */
        0x00,                                                 /* topic tags */
        0x00,                                                 /* response tags */
    };
    expect_encoding(b, API_Fetch, 12, want, sizeof want);
    kmsg *d = decode(ar, API_Fetch, false, 12, want, sizeof want);
    kmsg *dp = k_item(k_item(d, FetchResponse_Responses, 0), FetchableTopicResponse_Partitions, 0);
    assert_int_equal(k_int(k_struct(dp, PartitionData_CurrentLeader), LeaderIdAndEpoch_LeaderId),
                     1);
    assert_int_equal(
        k_int(k_struct(dp, PartitionData_DivergingEpoch), FetchResponse_EpochEndOffset_Epoch), -1);
    assert_int_equal(k_str(dp, PartitionData_Records).len, -1);
    karena_free(ar);
}

/* ------------------------------------------------------------------ structure ---- */

static int g_problems;

static void problem(const char *schema, const char *field, const char *what)
{
    print_error("schema %s field %s: %s\n", schema, field ? field : "-", what);
    g_problems++;
}

static bool is_none(int16_t lo, int16_t hi)
{
    return lo == KV_NONE && hi == KV_NONE;
}

static void walk(const kschema *s, int depth)
{
    if (!s) return;
    if (depth > 12) {
        problem(s->name, NULL, "nesting too deep");
        return;
    }
    if (!s->name || s->nfields < 0 || (s->nfields > 0 && !s->fields)) {
        problem(s->name ? s->name : "?", NULL, "bad schema header");
        return;
    }
    int last_tag = -1;
    for (int i = 0; i < s->nfields; i++) {
        const kfield *f = &s->fields[i];
        if (!f->name) {
            problem(s->name, NULL, "field without name");
            continue;
        }
        for (int j = 0; j < i; j++)
            if (s->fields[j].name && strcmp(s->fields[j].name, f->name) == 0)
                problem(s->name, f->name, "duplicate field name");
        if (!is_none(f->vmin, f->vmax) && (f->vmin < 0 || f->vmin > f->vmax))
            problem(s->name, f->name, "bad version range");
        if (!is_none(f->null_min, f->null_max) && (f->null_min < 0 || f->null_min > f->null_max))
            problem(s->name, f->name, "bad nullable range");
        /* nullable ranges may start before the field exists (Kafka's JSON has e.g.
         * CreateTopicsResponse ErrorMessage versions 1+, nullableVersions 0+): harmless */
        if (!is_none(f->null_min, f->null_max) && f->type != KT_STRING && f->type != KT_BYTES &&
            f->type != KT_RECORDS && f->type != KT_ARRAY && f->type != KT_STRUCT)
            problem(s->name, f->name, "nullable scalar");
        if (f->tag >= 0) {
            if (f->tag <= last_tag) problem(s->name, f->name, "tags not unique/ascending");
            last_tag = f->tag;
            if (!is_none(f->vmin, f->vmax) && f->tag_min < 0)
                problem(s->name, f->name, "tagged field without tag_min");
        } else if (f->tag != -1) {
            problem(s->name, f->name, "bad tag");
        }
        if (f->type > KT_STRUCT) problem(s->name, f->name, "bad type");
        bool want_sub = f->type == KT_STRUCT || (f->type == KT_ARRAY && f->elem == KT_STRUCT);
        if (want_sub && !f->sub) problem(s->name, f->name, "struct without sub-schema");
        if (!want_sub && f->sub) problem(s->name, f->name, "sub-schema on a non-struct");
        if (f->type == KT_ARRAY &&
            (f->elem == KT_ARRAY || f->elem == KT_RECORDS || f->elem > KT_STRUCT))
            problem(s->name, f->name, "bad array element type");
        if (want_sub) {
            if (strncmp(f->sub->name, s->name, strlen(s->name)) != 0)
                problem(s->name, f->name, "nested schema not named after its parent");
            walk(f->sub, depth + 1);
        }
    }
}

static void test_every_kapi_well_formed(void **st)
{
    (void)st;
    g_problems = 0;
    int napis = 0;
    for (int key = 0; key <= KAPI_MAX_KEY; key++) {
        const kapi *a = kapi_get((int16_t)key);
        if (!a) continue;
        napis++;
        const char *n = a->name ? a->name : "?";
        if (a->key != key) problem(n, NULL, "kapi key differs from its index");
        if (a->min_version < 0 || a->min_version > a->max_version)
            problem(n, NULL, "bad codec range");
        if (a->flex_min != KV_NONE && (a->flex_min < 0 || a->flex_min > a->max_version))
            problem(n, NULL, "bad flex_min");
        if (!a->request || !a->response) {
            problem(n, NULL, "missing request/response schema");
            continue;
        }
        walk(a->request, 0);
        walk(a->response, 0);
    }
    assert_null(kapi_get(-1));
    assert_null(kapi_get(KAPI_MAX_KEY + 1));
    assert_true(napis >= 35);
    assert_int_equal(g_problems, 0);
}

/* The codec must cover what the broker advertises (kafka-protocol.md §1.3 "Later"), and the
 * first flexible version must be Kafka's. */
static void test_codec_ranges(void **st)
{
    (void)st;
    static const struct {
        int16_t key, lo, hi, flex;
    } want[] = {
        {0, 0, 11, 9},  {1, 4, 12, 12}, {2, 0, 7, 6},  {3, 0, 12, 9}, {8, 0, 9, 8},  {9, 0, 9, 6},
        {10, 0, 4, 3},  {11, 0, 9, 6},  {12, 0, 4, 4}, {13, 0, 5, 4}, {14, 0, 5, 4}, {15, 0, 5, 5},
        {16, 0, 4, 3},  {17, 0, 1, -1}, {18, 0, 4, 3}, {19, 0, 7, 5}, {20, 0, 6, 4}, {21, 0, 2, 2},
        {22, 0, 5, 2},  {23, 0, 4, 4},  {24, 0, 3, 3}, {25, 0, 3, 3}, {26, 0, 3, 3}, {28, 0, 3, 3},
        {32, 0, 4, 4},  {33, 0, 2, 2},  {36, 0, 2, 2}, {37, 0, 3, 2}, {42, 0, 2, 2}, {44, 0, 1, 1},
        {47, 0, 0, -1}, {60, 0, 1, 0},  {61, 0, 0, 0}, {65, 0, 0, 0}, {66, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const kapi *a = kapi_get(want[i].key);
        if (!a) print_error("api key %d missing\n", want[i].key);
        assert_non_null(a);
        if (a->min_version > want[i].lo || a->max_version < want[i].hi ||
            a->flex_min != want[i].flex)
            print_error("api %s: codec %d-%d flex %d, want %d-%d flex %d\n", a->name,
                        a->min_version, a->max_version, a->flex_min, want[i].lo, want[i].hi,
                        want[i].flex);
        assert_true(a->min_version <= want[i].lo);
        assert_true(a->max_version >= want[i].hi);
        assert_int_equal(a->flex_min, want[i].flex);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apiversions_v3_request_kcat),
        cmocka_unit_test(test_apiversions_v3_response_tags),
        cmocka_unit_test(test_metadata_v4_request),
        cmocka_unit_test(test_produce_v7_request),
        cmocka_unit_test(test_produce_v9_request_flexible),
        cmocka_unit_test(test_fetch_v11_response),
        cmocka_unit_test(test_createtopics_v5_request),
        cmocka_unit_test(test_deletetopics_string_arrays),
        cmocka_unit_test(test_initproducerid),
        cmocka_unit_test(test_offsetfetch_v8_v9_request),
        cmocka_unit_test(test_findcoordinator_and_joingroup),
        cmocka_unit_test(test_fetch_v12_response_tagged_struct),
        cmocka_unit_test(test_every_kapi_well_formed),
        cmocka_unit_test(test_codec_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
