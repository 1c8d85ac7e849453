# EddyInstall.cmake — `make install` / `cmake --install BUILD [--prefix P]` (DESTDIR honoured):
# eddyd and eddy in bin/, libeddy.so (soname libeddy.so.MAJOR) and libeddy.a in lib/, the
# public headers in include/eddy/, eddy.pc for pkg-config and EddyConfig.cmake for
# find_package(Eddy). Both descriptions locate the prefix relative to themselves, so an install
# tree works wherever it is unpacked (a DESTDIR staging tree included). Included last by the
# top-level CMakeLists.txt, once every target exists (eddyd may live in src/broker or src/eddyd).
include(GNUInstallDirs)

# eddyd prints the generated version (wired here so the broker's CMakeLists stays untouched)
if(TARGET eddyd)
  target_link_libraries(eddyd PRIVATE eddy_version)
endif()

foreach(t eddyd eddy_cli)
  if(TARGET ${t})
    install(TARGETS ${t} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()

if(TARGET eddy)
  install(TARGETS eddy eddy_static
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_COMPONENT Unspecified
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(FILES ${CMAKE_SOURCE_DIR}/include/eddy/eddy.h ${CMAKE_SOURCE_DIR}/include/eddy/schema.h
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/eddy)

  # the prefix seen from the directory holding each description
  file(RELATIVE_PATH EDDY_PC_REL_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
  file(RELATIVE_PATH EDDY_CMAKE_REL_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/cmake/Eddy" "/p")
  get_target_property(EDDY_SOVERSION eddy SOVERSION)
  configure_file(${CMAKE_SOURCE_DIR}/src/sdk/eddy.pc.in ${CMAKE_BINARY_DIR}/eddy.pc @ONLY)
  configure_file(${CMAKE_SOURCE_DIR}/cmake/EddyConfig.cmake.in
                 ${CMAKE_BINARY_DIR}/EddyConfig.cmake @ONLY)
  include(CMakePackageConfigHelpers)
  write_basic_package_version_file(${CMAKE_BINARY_DIR}/EddyConfigVersion.cmake
                                   VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
  install(FILES ${CMAKE_BINARY_DIR}/eddy.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
  install(FILES ${CMAKE_BINARY_DIR}/EddyConfig.cmake ${CMAKE_BINARY_DIR}/EddyConfigVersion.cmake
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Eddy)
endif()
