# Codec engine (proto/kmsg.c): hand-written schema tests and the generic property test over
# every API table.
eddy_unit_test(test_codec SOURCES test_codec.c LIBS eddy_proto eddy_common)
eddy_unit_test(test_codec_props SOURCES test_codec_props.c LIBS eddy_proto eddy_common)
eddy_unit_test(test_codec_fields SOURCES test_codec_fields.c LIBS eddy_proto eddy_common)

# A misspelt field is a compile error: codec_field_check.c compiles with a generated constant
# (the control) and fails, naming the problem, with a misspelt one or with a string. The compiler
# runs with the project's warnings as errors and eddy_proto's include roots.
function(codec_field_check name field)
  add_test(NAME ${name}
           COMMAND ${CMAKE_C_COMPILER} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fsyntax-only
                   "-I$<JOIN:$<TARGET_PROPERTY:eddy_proto,INTERFACE_INCLUDE_DIRECTORIES>,;-I>"
                   "-I$<JOIN:$<TARGET_PROPERTY:eddy_common,INTERFACE_INCLUDE_DIRECTORIES>,;-I>"
                   -DFIELD=${field} ${CMAKE_CURRENT_SOURCE_DIR}/codec_field_check.c
           COMMAND_EXPAND_LISTS)
  set_tests_properties(${name} PROPERTIES LABELS unit ${ARGN})
endfunction()
codec_field_check(codec_field_constant_compiles ProduceRequest_Acks)
codec_field_check(codec_field_misspelt_fails ProduceRequest_Akcs
                  PASS_REGULAR_EXPRESSION "ProduceRequest_Akcs[^ ]* undeclared")
codec_field_check(codec_field_string_fails "\"Acks\""
                  PASS_REGULAR_EXPRESSION "int-conversion")
