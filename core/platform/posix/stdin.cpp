// Blocking reads of standard input on POSIX, for platform/stdin_lines.hpp.
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "platform/detail.hpp"

namespace wsb::platform::detail {

void prepare_stdin_reading() noexcept {
  // A background job that reads its terminal gets SIGTTIN, which stops the
  // whole process. Ignored, the read fails with EIO instead and only the
  // reader ends. A server's input is never a terminal it must wait for.
  if (::isatty(STDIN_FILENO) == 1) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGTTIN, &ignore, nullptr);
  }
}

std::ptrdiff_t read_stdin(char* buffer, std::size_t size) noexcept {
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buffer, size);
    if (n >= 0) return n;
    if (errno != EINTR) return -1;
  }
}

}  // namespace wsb::platform::detail
