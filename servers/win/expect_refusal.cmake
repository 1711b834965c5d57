# Runs a server with arguments it must refuse and checks the refusal: exit
# code EXIT and exactly one line on stderr matching MESSAGE (a regex), and
# nothing on stdout (no ready line). Used by the tests in CMakeLists.txt:
#   cmake -DEMULATOR=... -DPROGRAM=... -DARGS="a;b" -DEXIT=2 -DMESSAGE=re -P expect_refusal.cmake
#
# The output goes to files, not pipes: a Wine program that is the first of
# its prefix starts Wine's services, which inherit its pipes and keep them
# open until the Wine server exits, 30 s later (cmake/wine-emulator.sh), and
# execute_process would wait for that end of file.
string(MD5 tag "${PROGRAM};${ARGS}")
set(out_file "${CMAKE_CURRENT_BINARY_DIR}/refusal-${tag}.out")
set(err_file "${CMAKE_CURRENT_BINARY_DIR}/refusal-${tag}.err")
execute_process(COMMAND ${EMULATOR} ${PROGRAM} ${ARGS}
                RESULT_VARIABLE rc OUTPUT_FILE "${out_file}" ERROR_FILE "${err_file}" TIMEOUT 120)
file(READ "${out_file}" out)
file(READ "${err_file}" err)
file(REMOVE "${out_file}" "${err_file}")
string(STRIP "${err}" err)
string(REPLACE "\r" "" err "${err}")
if(NOT rc STREQUAL "${EXIT}")
  message(FATAL_ERROR "exit code ${rc}, expected ${EXIT}; stderr: ${err}")
endif()
if(NOT err MATCHES "${MESSAGE}")
  message(FATAL_ERROR "stderr does not match '${MESSAGE}': ${err}")
endif()
if(err MATCHES "\n")
  message(FATAL_ERROR "more than one line on stderr: ${err}")
endif()
if(NOT out STREQUAL "")
  message(FATAL_ERROR "unexpected stdout: ${out}")
endif()
message(STATUS "refused as expected: ${err}")
