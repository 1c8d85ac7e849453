# Unit tests of src/authz (ACL model, decision, files; quota accounting), included by
# tests/unit/CMakeLists.txt.
eddy_unit_test(test_authz SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_authz.c LIBS eddy_authz eddy_common)
