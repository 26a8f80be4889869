# install.cmake — `cmake --install` lays out what a C/C++ consumer needs:
#   include/engram.h, include/engram_<family>.h
#   lib/libengram.so.<version> (+ SONAME and dev links)
#   lib/cmake/engram/engramConfig.cmake, engramConfigVersion.cmake,
#                     engramTargets.cmake (imported target engram::engram)
#   lib/pkgconfig/engram.pc
#   bin/engram-bench (when built), with an $ORIGIN-relative RUNPATH
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

file(GLOB ENGRAM_PUBLIC_HEADERS ${PROJECT_SOURCE_DIR}/native/include/*.h)
install(FILES ${ENGRAM_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(TARGETS engram EXPORT engramTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT engramTargets NAMESPACE engram::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/engram)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/engramConfig.cmake.in
  ${PROJECT_BINARY_DIR}/engramConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/engram)
# Same major version: the C ABI only grows within a major version.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/engramConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/engramConfig.cmake ${PROJECT_BINARY_DIR}/engramConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/engram)

configure_file(${PROJECT_SOURCE_DIR}/cmake/engram.pc.in ${PROJECT_BINARY_DIR}/engram.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/engram.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

if(TARGET engram-bench)
  # Found next to libengram wherever the prefix is moved.
  set_target_properties(engram-bench PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
  install(TARGETS engram-bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
