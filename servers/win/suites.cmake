# The conformance suite's settings for each Winsock model (read by the native
# build's tests/integration/server_suite, which drives the .exe under Wine).
# One line per model: its executable, how many clients it must serve at once
# (300 where the model allows: more than 64, to prove the grouping), and extra
# server flags, and the optional scenarios it is registered for (SCENARIOS:
# chat, and when-full-queue where the model accepts in arrival order: the two
# overlapped models harvest up to 8 completed AcceptEx calls in index order,
# so theirs is not strictly the clients' order, nor is iocp's, whose workers
# hold completed accepts in the order they handle them (the suite saw it);
# blocking-single refuses chat,
# CTest win.blocking-single.refuses-chat).
wsb_server_suite(win-blocking-single   EXE server-blocking-single.exe   CONCURRENCY 1 SEQUENTIAL)
wsb_server_suite(win-blocking-threads  EXE server-blocking-threads.exe  CONCURRENCY 300 SCENARIOS chat when-full-queue)
wsb_server_suite(win-nonblocking       EXE server-nonblocking.exe       CONCURRENCY 300 SCENARIOS chat when-full-queue)
wsb_server_suite(win-select            EXE server-select.exe            CONCURRENCY 300 SCENARIOS chat when-full-queue)
wsb_server_suite(win-async-select      EXE server-async-select.exe      CONCURRENCY 300 ARGS --threads 2 SCENARIOS chat when-full-queue)
wsb_server_suite(win-event-select      EXE server-event-select.exe      CONCURRENCY 300 SCENARIOS chat when-full-queue)
wsb_server_suite(win-overlapped-event  EXE server-overlapped-event.exe  CONCURRENCY 300 SCENARIOS chat)
wsb_server_suite(win-overlapped-routine EXE server-overlapped-routine.exe CONCURRENCY 300 SCENARIOS chat)
wsb_server_suite(win-iocp              EXE server-iocp.exe              CONCURRENCY 300 SCENARIOS chat)
wsb_server_suite(win-iocp-skip-reuse   EXE server-iocp.exe              CONCURRENCY 300 ARGS --skip-on-success --reuse-sockets)
wsb_server_suite(win-iocp-zero-byte    EXE server-iocp.exe              CONCURRENCY 300 ARGS --zero-byte-recv --threads 1)
wsb_server_suite(win-afd-poll          EXE server-afd-poll.exe          CONCURRENCY 300 SCENARIOS chat when-full-queue)
wsb_server_suite(win-rio               EXE server-rio.exe               CONCURRENCY 300 SKIP_REGEX "RIO is not available")
