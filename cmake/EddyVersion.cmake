# EddyVersion.cmake — one version for every binary: the project version (CMakeLists.txt's
# project()) plus the git commit the tree was built from, in a generated header
# <eddy_version.h> (EDDY_VERSION, EDDY_GIT_COMMIT, EDDY_VERSION_FULL). The commit is read at
# every build (not only at configure), and the header is rewritten only when it changes, so a
# new commit recompiles the few files that print it and nothing else. Link `eddy_version`.
set(EDDY_VERSION_DIR ${CMAKE_BINARY_DIR}/generated)
add_custom_target(eddy_version_header
  COMMAND ${CMAKE_COMMAND} -DSRC=${CMAKE_SOURCE_DIR} -DOUT=${EDDY_VERSION_DIR}/eddy_version.h
          -DVERSION=${PROJECT_VERSION} -P ${CMAKE_SOURCE_DIR}/cmake/gen_version.cmake
  BYPRODUCTS ${EDDY_VERSION_DIR}/eddy_version.h
  COMMENT "" VERBATIM)
add_library(eddy_version INTERFACE)
target_include_directories(eddy_version INTERFACE ${EDDY_VERSION_DIR})
add_dependencies(eddy_version eddy_version_header)
