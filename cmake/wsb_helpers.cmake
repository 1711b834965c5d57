# Warning policy, sanitizers and test registration shared by every target.

add_library(wsb_warnings INTERFACE)
if(MSVC)
  # C4324 ("structure was padded due to alignment specifier") is the intended
  # effect of every alignas(64) that keeps per-thread counters on their own
  # cache line; with /WX it would be an error.
  target_compile_options(wsb_warnings INTERFACE /W4 /WX /permissive- /utf-8 /wd4324)
  target_compile_definitions(wsb_warnings INTERFACE _CRT_SECURE_NO_WARNINGS NOMINMAX WIN32_LEAN_AND_MEAN)
else()
  target_compile_options(wsb_warnings INTERFACE -Wall -Wextra -Werror)
  if(WIN32)
    target_compile_definitions(wsb_warnings INTERFACE NOMINMAX WIN32_LEAN_AND_MEAN _WIN32_WINNT=0x0A00)
  endif()
endif()

if(WSB_ENABLE_ASAN AND NOT MSVC)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
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
