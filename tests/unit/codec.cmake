# Codec engine (proto/kmsg.c): hand-written schema tests and the generic property test over
# every API table.
eddy_unit_test(test_codec SOURCES test_codec.c LIBS eddy_proto eddy_common)
eddy_unit_test(test_codec_props SOURCES test_codec_props.c LIBS eddy_proto eddy_common)
