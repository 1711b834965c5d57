# Dependencies are found, never vendored (README: "Dependencies").
#
# Native Linux: Debian's packages. windows-cross: zlib from libz-mingw-w64-dev,
# GoogleTest and Google Benchmark built by tools/build-mingw-deps.sh into the
# prefix named by WSB_MINGW_DEPS, CLI11 from Debian's header-only package.

find_package(Threads REQUIRED)

if(CMAKE_CROSSCOMPILING AND MINGW)
  # zlib: link the static archive so that no zlib1.dll has to travel with the exe.
  find_library(WSB_ZLIB_STATIC NAMES libz.a REQUIRED)
  find_path(WSB_ZLIB_INCLUDE zlib.h REQUIRED)
  add_library(ZLIB::ZLIB STATIC IMPORTED)
  set_target_properties(ZLIB::ZLIB PROPERTIES IMPORTED_LOCATION ${WSB_ZLIB_STATIC}
                        INTERFACE_INCLUDE_DIRECTORIES ${WSB_ZLIB_INCLUDE})

  # CLI11 is header-only. Its headers live in the host's /usr/include/CLI; adding
  # /usr/include itself would drag glibc headers into a Windows build, so a
  # folder in the build tree holds one link to exactly that directory.
  find_path(WSB_CLI11_HOST_DIR CLI/CLI.hpp PATHS /usr/include NO_CMAKE_FIND_ROOT_PATH REQUIRED)
  set(_cli_shim ${CMAKE_BINARY_DIR}/_cli11_include)
  file(MAKE_DIRECTORY ${_cli_shim})
  file(CREATE_LINK ${WSB_CLI11_HOST_DIR}/CLI ${_cli_shim}/CLI SYMBOLIC)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  set_target_properties(CLI11::CLI11 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${_cli_shim})

  if(WSB_BUILD_TESTS)
    find_package(GTest CONFIG REQUIRED)
  endif()
  if(WSB_BUILD_BENCH)
    find_package(benchmark CONFIG REQUIRED)
  endif()
else()
  find_package(ZLIB REQUIRED)
  find_package(CLI11 CONFIG REQUIRED)
  if(WSB_BUILD_TESTS)
    find_package(GTest REQUIRED)
  endif()
  if(WSB_BUILD_BENCH)
    find_package(benchmark REQUIRED)
  endif()
  if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    find_package(PkgConfig REQUIRED)
    pkg_check_modules(URING REQUIRED IMPORTED_TARGET liburing)
  endif()
endif()
