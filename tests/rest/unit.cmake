# Unit tests of the REST produce API's pure parts (src/rest/records.c) and the Avro codec
# they use (src/registry/avro_codec.c: encoder and decoder).
eddy_unit_test(test_rest SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rest.c LIBS eddy_rest)
