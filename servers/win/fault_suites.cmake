# The fault suite's settings for each Winsock model (read by the native
# build's tests/fault, which drives the .exe under Wine), one line per model:
# its executable, extra server flags and the optional scenarios (SCENARIOS
# chat: the slow consumer). The list follows suites.cmake.
wsb_fault_suite(win-blocking-single    EXE server-blocking-single.exe   SEQUENTIAL)
# blocking-threads: not the slow consumer, whose socket Wine leaves open
# (docs/models/blocking_threads.md, "Chat and the waiting queue").
wsb_fault_suite(win-blocking-threads   EXE server-blocking-threads.exe)
wsb_fault_suite(win-nonblocking        EXE server-nonblocking.exe SCENARIOS chat)
wsb_fault_suite(win-select             EXE server-select.exe SCENARIOS chat)
wsb_fault_suite(win-async-select       EXE server-async-select.exe       ARGS --threads 2 SCENARIOS chat)
wsb_fault_suite(win-event-select       EXE server-event-select.exe SCENARIOS chat)
wsb_fault_suite(win-overlapped-event   EXE server-overlapped-event.exe SCENARIOS chat)
wsb_fault_suite(win-overlapped-routine EXE server-overlapped-routine.exe SCENARIOS chat)
wsb_fault_suite(win-iocp               EXE server-iocp.exe SCENARIOS chat)
wsb_fault_suite(win-iocp-skip-reuse    EXE server-iocp.exe               ARGS --skip-on-success --reuse-sockets)
wsb_fault_suite(win-iocp-zero-byte     EXE server-iocp.exe               ARGS --zero-byte-recv --threads 1)
wsb_fault_suite(win-afd-poll           EXE server-afd-poll.exe               SCENARIOS chat)
wsb_fault_suite(win-rio                EXE server-rio.exe                SKIP_REGEX "RIO is not available")
