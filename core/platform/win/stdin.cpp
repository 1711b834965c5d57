// Blocking reads of standard input on Windows, for platform/stdin_lines.hpp.
#include <windows.h>

#include "platform/detail.hpp"

namespace wsb::platform::detail {

void prepare_stdin_reading() noexcept {}

std::ptrdiff_t read_stdin(char* buffer, std::size_t size) noexcept {
  const HANDLE input = ::GetStdHandle(STD_INPUT_HANDLE);
  if (input == nullptr || input == INVALID_HANDLE_VALUE) return -1;  // no stdin at all
  DWORD mode = 0;
  const bool console = ::GetConsoleMode(input, &mode) != 0;
  const DWORD want = static_cast<DWORD>(size > 65536 ? 65536 : size);
  for (;;) {
    DWORD got = 0;
    if (::ReadFile(input, buffer, want, &got, nullptr)) {
      // A console read returns 0 bytes when Ctrl-C interrupts it, which is
      // not the end of input (that is Ctrl-Z, which arrives as a character).
      // The pause keeps a console that keeps doing this from spinning a core.
      if (got == 0 && console) {
        ::Sleep(50);
        continue;
      }
      return static_cast<std::ptrdiff_t>(got);
    }
    const DWORD error = ::GetLastError();
    if (error == ERROR_OPERATION_ABORTED && console) {  // Ctrl-C, as above
      ::Sleep(50);
      continue;
    }
    // ERROR_BROKEN_PIPE is the end of a pipe; anything else ends reading too.
    return error == ERROR_BROKEN_PIPE ? 0 : -1;
  }
}

}  // namespace wsb::platform::detail
