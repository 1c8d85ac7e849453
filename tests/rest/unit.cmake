# Unit tests of the REST produce API's pure parts (src/rest/records.c, avro.c).
eddy_unit_test(test_rest SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rest.c LIBS eddy_rest)
