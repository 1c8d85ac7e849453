eddy_unit_test(test_net SOURCES test_net.c LIBS eddy_net eddy_common)
eddy_unit_test(test_config SOURCES test_config.c ${CMAKE_SOURCE_DIR}/src/broker/config.c
               LIBS eddy_common)
eddy_test_includes(test_config broker)
