# Unit tests of the codec's message tables (src/proto api_*.c), included by tests/proto/CMakeLists.txt.
eddy_unit_test(test_schemas SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_schemas.c
               LIBS eddy_proto eddy_common)
