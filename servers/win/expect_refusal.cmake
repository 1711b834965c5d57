# Runs a server with arguments it must refuse and checks the refusal: exit
# code EXIT and exactly one line on stderr matching MESSAGE (a regex), and
# nothing on stdout (no ready line). Used by the tests in CMakeLists.txt:
#   cmake -DEMULATOR=... -DPROGRAM=... -DARGS="a;b" -DEXIT=2 -DMESSAGE=re -P expect_refusal.cmake
execute_process(COMMAND ${EMULATOR} ${PROGRAM} ${ARGS}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
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
