# Unit tests of the schema registry's pure logic (src/registry/compat.c, avro.c, jsonschema.c),
# included by tests/registry/CMakeLists.txt.
eddy_unit_test(test_compat SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_compat.c
               LIBS eddy_registry eddy_common PkgConfig::JANSSON)
