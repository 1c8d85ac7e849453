# Unit tests of src/storage (included by tests/unit/CMakeLists.txt): the log (plog.c, flush.c)
# and the cleaner (compact.c). The test helpers build compressed batches with the codec libs.
eddy_unit_test(test_storage SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_storage.c
               LIBS eddy_storage eddy_common)
# the flusher thread meets the appending thread here: part of the ThreadSanitizer stage
set_property(TEST test_storage APPEND PROPERTY LABELS tsan)
eddy_unit_test(test_storage_batch SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_storage_batch.c
               LIBS eddy_storage eddy_common)
eddy_unit_test(test_storage_compact SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_storage_compact.c
               LIBS eddy_storage eddy_common)
