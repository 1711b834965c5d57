# wrk smoke tests: every POSIX model answers HTTP under wrk for a few seconds
# with no socket errors and no non-2xx responses (tests/wrk_smoke.sh says
# exactly what is checked). Included at the end of this folder's
# CMakeLists.txt, where wsb_posix_models lists the model sources.
#
# The tests are registered even where wrk is missing: the script then fails
# with a message naming the package, rather than the check silently
# disappearing.
if(NOT WSB_BUILD_TESTS)
  return()
endif()
find_program(WSB_WRK wrk)
if(NOT WSB_WRK)
  set(WSB_WRK wrk)
endif()

# wsb_wrk_smoke(name exe [server args...])
function(wsb_wrk_smoke name exe)
  if(NOT TARGET ${exe})
    return()
  endif()
  add_test(NAME wrk_smoke.posix-${name}
           COMMAND ${PROJECT_SOURCE_DIR}/tests/wrk_smoke.sh --wrk ${WSB_WRK} $<TARGET_FILE:${exe}> ${ARGN})
  # Bounded: 3 s of load, start and stop are bounded by the script as well.
  set_tests_properties(wrk_smoke.posix-${name} PROPERTIES TIMEOUT 60 LABELS "posix;wrk")
endfunction()

foreach(src IN LISTS wsb_posix_models)
  get_filename_component(stem ${src} NAME_WE)
  string(REPLACE "_" "-" exe "server-${stem}")
  wsb_wrk_smoke(${stem} ${exe})
endforeach()
# The variants whose mechanics differ from the defaults.
wsb_wrk_smoke(epoll-edge-2 server-epoll --edge --threads 2)
wsb_wrk_smoke(epoll-2 server-epoll --threads 2)
wsb_wrk_smoke(uring-2 server-uring --threads 2)
