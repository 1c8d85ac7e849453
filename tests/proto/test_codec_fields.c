/* Unit tests of the generated field constants (proto/api_gen.h) on the real message tables:
 * nested arrays (Produce), tagged fields and a tagged struct (Produce v10), one constant
 * serving two structs of one shape (OffsetFetch v0-v7 and v8+), the shape invariant of every
 * table, and requests at versions the codec does not serve (decoded without an abort, every
 * field at its default). A misspelt constant is a build error: see the codec_field_* ctests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/kmsg.h"

static bool kstr_is(kstr s, const char *want)
{
    if (!want) return s.len == -1;
    return s.len == (int32_t)strlen(want) && memcmp(s.p, want, (size_t)s.len) == 0;
}

/* Encodes m at v, decodes the bytes again (the bytes stay alive in *keep). */
static kmsg *roundtrip(karena *a, const kmsg *m, const kschema *s, int16_t v, bool flex,
                       uint8_t **keep)
{
    kout o;
    kout_init(&o, 0);
    kmsg_encode(m, v, flex, &o);
    kout_finish(&o);
    *keep = malloc(o.mem.len ? o.mem.len : 1);
    memcpy(*keep, o.mem.data, o.mem.len);
    rbuf r = rbuf_make(*keep, o.mem.len);
    kout_free(&o);
    kmsg *d = NULL;
    assert_int_equal(kmsg_decode(a, s, v, flex, &r, &d), 0);
    assert_int_equal(rbuf_left(&r), 0);
    return d;
}

static void test_nested_arrays(void **state)
{
    (void)state;
    const kapi *api = kapi_get(API_Produce);
    assert_non_null(api);
    karena *a = karena_new();
    kmsg *q = kmsg_new(a, api->request);
    k_set_int(q, ProduceRequest_Acks, -1);
    k_set_int(q, ProduceRequest_TimeoutMs, 1500);
    k_new_items(q, ProduceRequest_TopicData, 2);
    for (int t = 0; t < 2; t++) {
        kmsg *td = k_item(q, ProduceRequest_TopicData, t);
        k_set_str(td, TopicProduceData_Name, t ? "beta" : "alpha");
        k_new_items(td, TopicProduceData_PartitionData, 3);
        for (int p = 0; p < 3; p++) {
            kmsg *pd = k_item(td, TopicProduceData_PartitionData, p);
            char rec[8];
            snprintf(rec, sizeof rec, "r%d%d", t, p);
            k_set_int(pd, PartitionProduceData_Index, 10 * t + p);
            k_set_bytes(pd, PartitionProduceData_Records, rec, (int32_t)strlen(rec));
        }
    }
    /* topics by name up to v12 (v13 names them by TopicId) */
    for (int16_t v = 3; v <= api->max_version && v <= 12; v++) {
        bool flex = kapi_flexible(api, v);
        uint8_t *keep;
        kmsg *d = roundtrip(a, q, api->request, v, flex, &keep);
        assert_true(kmsg_equal(q, d, v, flex));
        assert_int_equal(k_int(d, ProduceRequest_Acks), -1);
        assert_int_equal(k_int(d, ProduceRequest_TimeoutMs), 1500);
        assert_true(kstr_is(k_str(d, ProduceRequest_TransactionalId), NULL));
        assert_int_equal(k_count(d, ProduceRequest_TopicData), 2);
        for (int t = 0; t < 2; t++) {
            kmsg *td = k_item(d, ProduceRequest_TopicData, t);
            assert_true(kstr_is(k_str(td, TopicProduceData_Name), t ? "beta" : "alpha"));
            assert_int_equal(k_count(td, TopicProduceData_PartitionData), 3);
            for (int p = 0; p < 3; p++) {
                kmsg *pd = k_item(td, TopicProduceData_PartitionData, p);
                char rec[8];
                snprintf(rec, sizeof rec, "r%d%d", t, p);
                assert_int_equal(k_int(pd, PartitionProduceData_Index), 10 * t + p);
                assert_true(kstr_is(k_str(pd, PartitionProduceData_Records), rec));
            }
            /* out of range: NULL, never another element */
            assert_null(k_item(td, TopicProduceData_PartitionData, 3));
        }
        free(keep);
    }
    karena_free(a);
}

static void test_tagged_fields(void **state)
{
    (void)state;
    const kapi *api = kapi_get(API_Produce);
    karena *a = karena_new();
    kmsg *m = kmsg_new(a, api->response);
    /* the tagged struct and the tagged array of v10+ */
    assert_int_equal(k_field(m, ProduceResponse_NodeEndpoints)->tag, 0);
    kmsg *tr = k_new_items(m, ProduceResponse_Responses, 1);
    k_set_str(tr, TopicProduceResponse_Name, "t");
    kmsg *pr = k_new_items(tr, TopicProduceResponse_PartitionResponses, 1);
    assert_int_equal(k_field(pr, PartitionProduceResponse_CurrentLeader)->tag, 0);
    k_set_int(pr, PartitionProduceResponse_Index, 4);
    k_set_int(pr, PartitionProduceResponse_BaseOffset, 1234);
    kmsg *cl = k_new_struct(pr, PartitionProduceResponse_CurrentLeader);
    k_set_int(cl, LeaderIdAndEpoch_LeaderId, 3);
    k_set_int(cl, LeaderIdAndEpoch_LeaderEpoch, 7);
    kmsg *ne = k_new_items(m, ProduceResponse_NodeEndpoints, 1);
    k_set_int(ne, NodeEndpoint_NodeId, 3);
    k_set_str(ne, NodeEndpoint_Host, "h3");
    k_set_int(ne, NodeEndpoint_Port, 9092);
    k_set_str(ne, NodeEndpoint_Rack, NULL);

    uint8_t *keep;
    kmsg *d = roundtrip(a, m, api->response, 10, true, &keep);
    kmsg *dp =
        k_item(k_item(d, ProduceResponse_Responses, 0), TopicProduceResponse_PartitionResponses, 0);
    assert_int_equal(k_int(dp, PartitionProduceResponse_Index), 4);
    assert_int_equal(k_int(dp, PartitionProduceResponse_BaseOffset), 1234);
    kmsg *dl = k_struct(dp, PartitionProduceResponse_CurrentLeader);
    assert_non_null(dl);
    assert_int_equal(k_int(dl, LeaderIdAndEpoch_LeaderId), 3);
    assert_int_equal(k_int(dl, LeaderIdAndEpoch_LeaderEpoch), 7);
    assert_int_equal(k_count(d, ProduceResponse_NodeEndpoints), 1);
    kmsg *dn = k_item(d, ProduceResponse_NodeEndpoints, 0);
    assert_int_equal(k_int(dn, NodeEndpoint_NodeId), 3);
    assert_true(kstr_is(k_str(dn, NodeEndpoint_Host), "h3"));
    assert_int_equal(k_int(dn, NodeEndpoint_Port), 9092);
    assert_true(kstr_is(k_str(dn, NodeEndpoint_Rack), NULL));
    free(keep);

    /* v9 has neither: they are not written and read back as their defaults */
    d = roundtrip(a, m, api->response, 9, true, &keep);
    dp =
        k_item(k_item(d, ProduceResponse_Responses, 0), TopicProduceResponse_PartitionResponses, 0);
    assert_int_equal(k_int(dp, PartitionProduceResponse_BaseOffset), 1234);
    assert_int_equal(
        k_int(k_struct(dp, PartitionProduceResponse_CurrentLeader), LeaderIdAndEpoch_LeaderId), -1);
    assert_int_equal(k_count(d, ProduceResponse_NodeEndpoints), 0);
    free(keep);
    karena_free(a);
}

/* OffsetFetch answers at the top of the message up to v7 (OffsetFetchResponseTopic) and per
 * group from v8 (OffsetFetchResponseTopics, which adds a TopicId for v10): two topic shapes, but
 * one partition shape, one id, so either partition constant reads both. */
static void test_shared_shape(void **state)
{
    (void)state;
    assert_int_not_equal(KFID_STRUCT(OffsetFetchResponseTopic_Name),
                         KFID_STRUCT(OffsetFetchResponseTopics_Name));
    assert_int_equal(KFID_STRUCT(OffsetFetchResponsePartition_CommittedOffset),
                     KFID_STRUCT(OffsetFetchResponsePartitions_CommittedOffset));
    assert_int_not_equal(KFID_STRUCT(OffsetFetchRequest_Topics),
                         KFID_STRUCT(OffsetFetchRequestGroup_Topics));
    const kapi *api = kapi_get(API_OffsetFetch);
    karena *a = karena_new();
    kmsg *m = kmsg_new(a, api->response);
    kmsg *g = k_new_items(m, OffsetFetchResponse_Groups, 1);
    k_set_str(g, OffsetFetchResponseGroup_GroupId, "g");
    kmsg *t = k_new_items(g, OffsetFetchResponseGroup_Topics, 1);
    k_set_str(t, OffsetFetchResponseTopics_Name, "orders");
    kmsg *p = k_new_items(t, OffsetFetchResponseTopics_Partitions, 1);
    k_set_int(p, OffsetFetchResponsePartition_CommittedOffset, 42); /* the v0-v7 constant */
    uint8_t *keep;
    kmsg *d = roundtrip(a, m, api->response, 8, true, &keep);
    kmsg *dt = k_item(k_item(d, OffsetFetchResponse_Groups, 0), OffsetFetchResponseGroup_Topics, 0);
    assert_true(kstr_is(k_str(dt, OffsetFetchResponseTopics_Name), "orders"));
    assert_int_equal(k_int(k_item(dt, OffsetFetchResponseTopics_Partitions, 0),
                           OffsetFetchResponsePartitions_CommittedOffset),
                     42);
    free(keep);
    karena_free(a);
}

/* Every struct of every table: a valid id, and structs sharing an id have the same field names
 * in the same order (what makes a constant's index right for all of them). */
static const kschema *g_by_id[KS_COUNT_];

static void check_shapes(const kschema *s, int depth)
{
    assert_true(depth < 16);
    assert_in_range(s->id, 1, KS_COUNT_ - 1);
    assert_in_range(s->nfields, 0, 255);
    const kschema *o = g_by_id[s->id];
    if (!o)
        g_by_id[s->id] = s;
    else {
        assert_int_equal(o->nfields, s->nfields);
        for (int i = 0; i < s->nfields; i++)
            assert_string_equal(o->fields[i].name, s->fields[i].name);
    }
    for (int i = 0; i < s->nfields; i++)
        if (s->fields[i].sub) check_shapes(s->fields[i].sub, depth + 1);
}

static void test_every_table_shape(void **state)
{
    (void)state;
    int apis = 0;
    for (int16_t k = 0; k <= KAPI_MAX_KEY; k++) {
        const kapi *api = kapi_get(k);
        if (!api) continue;
        apis++;
        assert_int_equal(api->key, k);
        check_shapes(api->request, 0);
        check_shapes(api->response, 0);
        if (api->response_error_code >= 0)
            assert_string_equal(api->response->fields[api->response_error_code].name, "ErrorCode");
    }
    assert_true(apis >= 30);
    assert_null(kapi_get(-1));
    assert_null(kapi_get(KAPI_MAX_KEY + 1));
    assert_null(kapi_get(4)); /* LeaderAndIsr: not a client API */
}

/* A request at a version the codec does not serve (above its range, far above, negative):
 * the decoder reads no field, does not abort, and every field reads its default. The broker
 * never gets that far (server.c answers ApiVersions with UNSUPPORTED_VERSION in the v0 layout
 * and closes the connection for other APIs; tests/broker/test_bad_input.py checks both on
 * a real eddyd); this pins the codec's own behaviour. */
static void test_unserved_versions(void **state)
{
    (void)state;
    uint8_t body[64];
    memset(body, 0x01, sizeof body);
    for (int16_t k = 0; k <= KAPI_MAX_KEY; k++) {
        const kapi *api = kapi_get(k);
        if (!api) continue;
        const int16_t vs[] = {(int16_t)(api->max_version + 1), 99, INT16_MAX, -1};
        for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
            karena *a = karena_new();
            rbuf r = rbuf_make(body, sizeof body);
            kmsg *m = NULL;
            int rc = kmsg_decode(a, api->request, vs[i], kapi_flexible(api, vs[i]), &r, &m);
            assert_true(rc <= 0);
            if (rc == 0) {
                kmsg *dflt = kmsg_new(a, api->request);
                assert_true(kmsg_equal(m, dflt, api->min_version, false));
            }
            karena_free(a);
        }
    }
    /* an unknown API key still yields a header (v1 layout) for the caller to refuse */
    static const uint8_t hdr[] = {0x03, 0xe7, 0x00, 0x63, 0, 0, 0, 7, 0xff, 0xff};
    rbuf r = rbuf_make(hdr, sizeof hdr);
    kreq_header h;
    assert_int_equal(kreq_header_decode(&r, &h), 0);
    assert_int_equal(h.api_key, 999);
    assert_int_equal(h.api_version, 99);
    assert_int_equal(h.correlation_id, 7);
    assert_false(h.flexible);
    assert_null(kapi_get(h.api_key));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nested_arrays),     cmocka_unit_test(test_tagged_fields),
        cmocka_unit_test(test_shared_shape),      cmocka_unit_test(test_every_table_shape),
        cmocka_unit_test(test_unserved_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
