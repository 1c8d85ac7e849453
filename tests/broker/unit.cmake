# Unit tests of the broker core (src/broker/{producers,topics,offsets}.c), included by
# tests/broker/CMakeLists.txt. Storage/codec/server calls are stubbed inside the test, so only
# common, the settings table, batch.c and scan.c (the header scan) are needed.
eddy_unit_test(test_broker_logic
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_logic.c
          ${CMAKE_SOURCE_DIR}/src/broker/producers.c
          ${CMAKE_SOURCE_DIR}/src/broker/txnlog.c
          ${CMAKE_SOURCE_DIR}/src/broker/topics.c
          ${CMAKE_SOURCE_DIR}/src/broker/tconfig.c
          ${CMAKE_SOURCE_DIR}/src/broker/offsets.c
          ${CMAKE_SOURCE_DIR}/src/broker/config.c
          ${CMAKE_SOURCE_DIR}/src/storage/batch.c
          ${CMAKE_SOURCE_DIR}/src/storage/scan.c
  LIBS eddy_common PkgConfig::ZLIB PkgConfig::LZ4 PkgConfig::ZSTD ${SNAPPY_LIB})
eddy_test_includes(test_broker_logic broker proto storage net authz)

# The handlers end to end on real storage and codec trees (no sockets).
eddy_unit_test(test_broker_core
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_core.c
          ${CMAKE_SOURCE_DIR}/src/broker/topics.c
          ${CMAKE_SOURCE_DIR}/src/broker/produce.c
          ${CMAKE_SOURCE_DIR}/src/broker/fetch.c
          ${CMAKE_SOURCE_DIR}/src/broker/offsets.c
          ${CMAKE_SOURCE_DIR}/src/broker/metadata.c
          ${CMAKE_SOURCE_DIR}/src/broker/admin.c
          ${CMAKE_SOURCE_DIR}/src/broker/tconfig.c
          ${CMAKE_SOURCE_DIR}/src/broker/dynconfig.c
          ${CMAKE_SOURCE_DIR}/src/broker/producers.c
          ${CMAKE_SOURCE_DIR}/src/broker/txnlog.c
          ${CMAKE_SOURCE_DIR}/src/broker/core_table.c
          ${CMAKE_SOURCE_DIR}/src/broker/api_versions.c
          ${CMAKE_SOURCE_DIR}/src/broker/dispatch.c
          ${CMAKE_SOURCE_DIR}/src/broker/config.c
          ${CMAKE_SOURCE_DIR}/src/broker/authorize.c
  LIBS eddy_proto eddy_storage eddy_net eddy_authz eddy_common PkgConfig::ZLIB PkgConfig::LZ4
       PkgConfig::ZSTD ${SNAPPY_LIB})
eddy_test_includes(test_broker_core broker)
# the settings table (src/broker/config.c)
eddy_unit_test(test_config SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_config.c
               ${CMAKE_SOURCE_DIR}/src/broker/config.c LIBS eddy_common)
eddy_test_includes(test_config broker)
