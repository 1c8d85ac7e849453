# Unit tests of src/group (included by tests/group/CMakeLists.txt).
eddy_unit_test(test_group_store SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_group_store.c
               ${CMAKE_SOURCE_DIR}/src/broker/config.c ${CMAKE_SOURCE_DIR}/src/broker/durable.c
               LIBS eddy_group eddy_net eddy_common)
# the state machine through the real handlers needs the codec (message tables)
eddy_unit_test(test_group_coord SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_group_coord.c
               ${CMAKE_SOURCE_DIR}/src/broker/config.c ${CMAKE_SOURCE_DIR}/src/broker/durable.c
               LIBS eddy_group eddy_proto eddy_net eddy_common)
