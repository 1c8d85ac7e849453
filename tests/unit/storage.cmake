# Unit tests of src/storage (included by tests/unit/CMakeLists.txt).
if(TARGET eddy_storage)
  eddy_unit_test(test_storage SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_storage.c
                 LIBS eddy_storage eddy_common)
endif()
