# The conformance suite's settings for each POSIX model (read by
# tests/integration/server_suite). One line per model: its executable, how many
# clients it must serve at once (over 1000 where the model allows), extra flags.
wsb_server_suite(posix-threads      EXE server-threads      CONCURRENCY 1200)
wsb_server_suite(posix-nonblocking  EXE server-nonblocking  CONCURRENCY 1200)
wsb_server_suite(posix-select       EXE server-select       CONCURRENCY 900)
wsb_server_suite(posix-poll         EXE server-poll         CONCURRENCY 1200)
wsb_server_suite(posix-epoll        EXE server-epoll        CONCURRENCY 1200)
wsb_server_suite(posix-epoll-edge   EXE server-epoll        CONCURRENCY 1200 ARGS --edge --threads 2)
wsb_server_suite(posix-uring        EXE server-uring        CONCURRENCY 1200)
