# Warning policy, sanitizers and test registration shared by every target.

add_library(wsb_warnings INTERFACE)
# Warnings are errors only where CI runs the compiler: the CI presets (linux*,
# windows-cross*) turn this on. A user's first build with a compiler CI never
# ran (MSVC, another GCC or clang) must not stop at a warning that compiler
# adds; it shows the warnings and builds.
option(WSB_WARNINGS_AS_ERRORS "Treat compiler warnings as errors (on in the CI presets)" OFF)
if(MSVC)
  # C4324 ("structure was padded due to alignment specifier") is the intended
  # effect of every alignas(64) that keeps per-thread counters on their own
  # cache line.
  target_compile_options(wsb_warnings INTERFACE /W4 /permissive- /utf-8 /wd4324
                         $<$<BOOL:${WSB_WARNINGS_AS_ERRORS}>:/WX>)
  # Windows 10 APIs (the same _WIN32_WINNT as the MinGW branch), so both
  # compilers see the same declarations.
  target_compile_definitions(wsb_warnings INTERFACE _CRT_SECURE_NO_WARNINGS NOMINMAX
                             WIN32_LEAN_AND_MEAN _WIN32_WINNT=0x0A00)
else()
  target_compile_options(wsb_warnings INTERFACE -Wall -Wextra
                         $<$<BOOL:${WSB_WARNINGS_AS_ERRORS}>:-Werror>)
  if(WIN32)
    target_compile_definitions(wsb_warnings INTERFACE NOMINMAX WIN32_LEAN_AND_MEAN _WIN32_WINNT=0x0A00)
    # The nearest GCC/clang get to MSVC's /W4, which a Windows user's build
    # runs: -Wconversion for C4244/C4267 (narrowing), -Wshadow for
    # C4456-C4458 (a name hiding another), -Wpedantic for the extensions MSVC
    # does not have. (C4389, signed/unsigned ==, is -Wsign-compare, already
    # in -Wall.) Only the Windows builds: they are what MSVC compiles.
    target_compile_options(wsb_warnings INTERFACE -Wconversion -Wshadow -Wpedantic)
    if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
      # clang's -Wconversion also turns on -Wsign-conversion, which GCC's
      # does not in C++: keep the two Windows builds checking the same set.
      target_compile_options(wsb_warnings INTERFACE -Wno-sign-conversion)
    endif()
  endif()
endif()

# Sanitizer builds (presets linux-asan, linux-tsan, linux-fuzz). At most one
# runtime family per build: ASan and TSan cannot share a process.
if((WSB_ENABLE_ASAN AND WSB_ENABLE_TSAN) OR (WSB_BUILD_FUZZERS AND WSB_ENABLE_TSAN))
  message(FATAL_ERROR "WSB_ENABLE_TSAN cannot be combined with WSB_ENABLE_ASAN or WSB_BUILD_FUZZERS")
endif()
if(MSVC AND (WSB_ENABLE_ASAN OR WSB_ENABLE_TSAN OR WSB_BUILD_FUZZERS))
  message(FATAL_ERROR "the sanitizer and fuzzer builds are GCC/Clang builds (presets linux-asan, linux-tsan, linux-fuzz)")
endif()
if(WSB_BUILD_FUZZERS AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "WSB_BUILD_FUZZERS needs clang (libFuzzer); use the linux-fuzz preset")
endif()

# UBSan's vptr check is left out: to look at a vtable it first asks the kernel
# whether the memory is readable by writing it into a pipe(), and when the
# process is out of descriptors (EMFILE, which the servers are built to
# survive and the fault suite provokes) that pipe() fails and the check
# reports a "member call on address which does not point to an object" that
# is not there. ASan still catches calls through a dangling or wild pointer.
set(_wsb_ubsan -fsanitize=undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined)
if(WSB_ENABLE_ASAN OR WSB_BUILD_FUZZERS)
  add_compile_options(-fsanitize=address ${_wsb_ubsan} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address -fsanitize=undefined)
  if(WSB_BUILD_FUZZERS)
    # Coverage feedback for libFuzzer in every library the fuzz targets link;
    # the fuzz targets themselves add -fsanitize=fuzzer (tests/fuzz).
    add_compile_options(-fsanitize=fuzzer-no-link)
  endif()
elseif(WSB_ENABLE_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()

# Every program of an ASan or TSan build carries the runtime's default options
# (cmake/sanitizer_options.cpp): stop at the first report, and write every
# report to a file in WSB_SANITIZER_REPORT_DIR as well as exiting non-zero.
# Servers run as children of test harnesses that may not show (or even read)
# their stderr, and a report at exit would otherwise only change an exit
# status nobody checks; the files are what the CTest test sanitizer.reports
# (below) looks at after every other test. The fuzz build keeps the runtimes'
# own defaults, since libFuzzer reads the reports on stderr.
if(WSB_ENABLE_ASAN OR WSB_ENABLE_TSAN)
  set(WSB_SANITIZER_REPORT_DIR ${CMAKE_BINARY_DIR}/sanitizer-reports)
  file(MAKE_DIRECTORY ${WSB_SANITIZER_REPORT_DIR})
  add_library(wsb_sanitizer_options OBJECT ${CMAKE_CURRENT_LIST_DIR}/sanitizer_options.cpp)
  target_compile_definitions(wsb_sanitizer_options PRIVATE
    WSB_SANITIZER_LOG_PATH="${WSB_SANITIZER_REPORT_DIR}/report"
    $<IF:$<BOOL:${WSB_ENABLE_TSAN}>,WSB_SANITIZER_TSAN,WSB_SANITIZER_ASAN>)
  # Every target made from here on links it (executables get the object, so
  # the runtime finds the functions; static libraries carry it harmlessly).
  link_libraries(wsb_sanitizer_options)
endif()

# MinGW executables are linked statically so that they run under Wine (and on
# a bare Windows machine) without libstdc++, libgcc or winpthread DLLs beside them.
if(MINGW)
  add_link_options(-static -static-libgcc -static-libstdc++)
endif()

# wsb_executable(name sources... LIBS libs...): an executable with the project's
# warning policy.
function(wsb_executable name)
  cmake_parse_arguments(ARG "" "" "LIBS" ${ARGN})
  add_executable(${name} ${ARG_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE wsb_warnings ${ARG_LIBS})
endfunction()

# wsb_gtest(name sources... LIBS libs... [TIMEOUT s] [LABELS l...]): a GoogleTest
# binary registered with CTest. Under the windows-cross preset CTest runs it
# through CMAKE_CROSSCOMPILING_EMULATOR, that is under Wine.
function(wsb_gtest name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE wsb_warnings ${ARG_LIBS} GTest::gtest_main)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND ${name} --gtest_color=no)
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${WSB_PLATFORM};${ARG_LABELS}")
endfunction()

# wsb_add_subdirectories(): adds every immediate subdirectory that has a
# CMakeLists.txt, in name order. Each model, tool and test group owns its own
# folder, so adding one never means editing a shared list.
macro(wsb_add_subdirectories)
  file(GLOB _wsb_children LIST_DIRECTORIES true RELATIVE ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/*)
  list(SORT _wsb_children)
  foreach(_wsb_child IN LISTS _wsb_children)
    if(IS_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/${_wsb_child} AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${_wsb_child}/CMakeLists.txt)
      add_subdirectory(${_wsb_child})
    endif()
  endforeach()
endmacro()

# wsb_sanitizer_report_test(): in an ASan or TSan build, the CTest test
# sanitizer.reports, ordered after every other test of the build. It fails,
# printing them, when any program wrote a sanitizer report into
# WSB_SANITIZER_REPORT_DIR (cmake/sanitizer-reports.sh), then moves them aside
# so that the next run starts clean. It carries every label that selects
# tests of a sanitizer stage, so that `ctest -L suite` runs it too.
function(_wsb_collect_tests dir out)
  get_property(tests DIRECTORY ${dir} PROPERTY TESTS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    _wsb_collect_tests(${sub} sub_tests)
    list(APPEND tests ${sub_tests})
  endforeach()
  set(${out} ${tests} PARENT_SCOPE)
endfunction()

function(wsb_sanitizer_report_test)
  if(NOT (WSB_ENABLE_ASAN OR WSB_ENABLE_TSAN))
    return()
  endif()
  _wsb_collect_tests(${PROJECT_SOURCE_DIR} all_tests)
  add_test(NAME sanitizer.reports
           COMMAND sh ${PROJECT_SOURCE_DIR}/cmake/sanitizer-reports.sh ${WSB_SANITIZER_REPORT_DIR})
  set_tests_properties(sanitizer.reports PROPERTIES
    DEPENDS "${all_tests}" TIMEOUT 30
    LABELS "sanitizer;unit;integration;suite;loadgen;fault;tsan;${WSB_PLATFORM}")
endfunction()
