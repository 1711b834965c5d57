// Console helpers on POSIX.
#include <unistd.h>

#include "platform/console.hpp"

namespace wsb::platform {

// Deliberately a no-op; platform/console.hpp explains why.
void set_console_title(std::string_view) noexcept {}

bool stdout_is_terminal() noexcept {
  return ::isatty(STDOUT_FILENO) == 1;
}
bool stderr_is_terminal() noexcept {
  return ::isatty(STDERR_FILENO) == 1;
}

}  // namespace wsb::platform
