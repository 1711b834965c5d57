// The console a server runs in (namespace wsb::platform).
#pragma once

#include <string_view>

namespace wsb::platform {

// Windows: SetConsoleTitleW (UTF-8 converted to UTF-16); the seeds showed
// "OnLine: N" there. POSIX: deliberately a no-op. An xterm title escape would
// have to go to the terminal through stdout or stderr, where it interleaves
// with the statistics and ends up as noise in captured logs, and terminals do
// not restore the title when the server exits; the live statistics line on
// stderr already shows the same number.
void set_console_title(std::string_view title) noexcept;

// Whether stdout / stderr is an interactive terminal (isatty on POSIX; a
// console handle on Windows, where GetConsoleMode succeeds only for consoles).
// The live statistics line is rewritten in place with '\r' only on a terminal.
bool stdout_is_terminal() noexcept;
bool stderr_is_terminal() noexcept;

}  // namespace wsb::platform
