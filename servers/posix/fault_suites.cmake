# The fault suite's settings for each POSIX model (read by tests/fault), one
# line per model: its executable, extra server flags and the optional
# scenarios it is registered for (SCENARIOS chat: the slow consumer). The list
# follows suites.cmake (the conformance suite's).
wsb_fault_suite(posix-threads      EXE server-threads      SCENARIOS chat)
wsb_fault_suite(posix-nonblocking  EXE server-nonblocking  SCENARIOS chat)
wsb_fault_suite(posix-select       EXE server-select       SCENARIOS chat)
wsb_fault_suite(posix-poll         EXE server-poll         SCENARIOS chat)
wsb_fault_suite(posix-epoll        EXE server-epoll        SCENARIOS chat)
wsb_fault_suite(posix-epoll-edge   EXE server-epoll        ARGS --edge --threads 2 SCENARIOS chat)
wsb_fault_suite(posix-uring        EXE server-uring        SCENARIOS chat)
