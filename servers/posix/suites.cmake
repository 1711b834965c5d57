# The conformance suite's settings for each POSIX model (read by
# tests/integration/server_suite). One line per model: its executable, how many
# clients it must serve at once (over 1000 where the model allows), extra flags,
# and the optional scenarios it is registered for (SCENARIOS: chat, and
# when-full-queue where the model runs one loop, since with several
# SO_REUSEPORT listeners arrival order holds per listener only).
wsb_server_suite(posix-threads      EXE server-threads      CONCURRENCY 1200 SCENARIOS chat when-full-queue)
wsb_server_suite(posix-nonblocking  EXE server-nonblocking  CONCURRENCY 1200 SCENARIOS chat when-full-queue)
wsb_server_suite(posix-select       EXE server-select       CONCURRENCY 900  SCENARIOS chat when-full-queue)
wsb_server_suite(posix-poll         EXE server-poll         CONCURRENCY 1200 SCENARIOS chat when-full-queue)
wsb_server_suite(posix-epoll        EXE server-epoll        CONCURRENCY 1200 SCENARIOS chat when-full-queue)
wsb_server_suite(posix-epoll-edge   EXE server-epoll        CONCURRENCY 1200 ARGS --edge --threads 2 SCENARIOS chat)
wsb_server_suite(posix-epoll-2      EXE server-epoll        CONCURRENCY 1200 ARGS --threads 2 SCENARIOS chat)
wsb_server_suite(posix-uring        EXE server-uring        CONCURRENCY 1200 SCENARIOS chat when-full-queue)
wsb_server_suite(posix-uring-2      EXE server-uring        CONCURRENCY 1200 ARGS --threads 2 SCENARIOS chat)
