/* core_table — the dispatch rows of eddyd's core APIs (what ApiVersions advertises for them).
 *
 *   key  API                      advertised  served from
 *    0   Produce                  0–13        (v0–v2: legacy message sets, up-converted;
 *                                                  v13: topics by id)
 *    1   Fetch                    0–18        (v0–v3 down-converted; v13+: topics by id)
 *    2   ListOffsets              0–11
 *    3   Metadata                 0–13
 *   17   SaslHandshake            0–1
 *   18   ApiVersions              0–4
 *   19   CreateTopics             0–7
 *   20   DeleteTopics             0–6
 *   21   DeleteRecords            0–2
 *   32   DescribeConfigs          0–4
 *   33   AlterConfigs             0–2
 *   36   SaslAuthenticate         0–2
 *   37   CreatePartitions         0–3
 *   44   IncrementalAlterConfigs  0–1
 *   50   DescribeUserScramCredentials 0
 *   51   AlterUserScramCredentials    0
 *   60   DescribeCluster          0–2
 *   61   DescribeProducers        0
 * (InitProducerId's row is the transaction coordinator's, src/txn; it calls
 * h_init_producer_id for requests without a transactional id.)
 */
#include "broker/core.h"

const bhandler_table broker_core_handlers = {
    [API_Produce] = {0, 13, 0, h_produce},
    [API_Fetch] = {0, 18, 0, h_fetch},
    [API_ListOffsets] = {0, 11, 0, h_list_offsets},
    [API_Metadata] = {0, 13, 0, h_metadata},
    [API_SaslHandshake] = {0, 1, 0, h_sasl_handshake},
    [API_ApiVersions] = {0, 4, 0, h_api_versions},
    [API_CreateTopics] = {0, 7, 0, h_create_topics},
    [API_DeleteTopics] = {0, 6, 0, h_delete_topics},
    [API_DeleteRecords] = {0, 2, 0, h_delete_records},
    [API_DescribeConfigs] = {0, 4, 0, h_describe_configs},
    [API_AlterConfigs] = {0, 2, 0, h_alter_configs},
    [API_SaslAuthenticate] = {0, 2, 0, h_sasl_authenticate},
    [API_CreatePartitions] = {0, 3, 0, h_create_partitions},
    [API_IncrementalAlterConfigs] = {0, 1, 0, h_incremental_alter_configs},
    [API_DescribeUserScramCredentials] = {0, 0, 0, h_describe_user_scram_credentials},
    [API_AlterUserScramCredentials] = {0, 0, 0, h_alter_user_scram_credentials},
    [API_DescribeCluster] = {0, 2, 0, h_describe_cluster},
    [API_DescribeProducers] = {0, 0, 0, h_describe_producers},
};
