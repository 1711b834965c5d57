// Console helpers on Windows.
#include <windows.h>

#include <string>

#include "platform/console.hpp"

namespace wsb::platform {
namespace {

bool is_console(DWORD which) noexcept {
  const HANDLE handle = ::GetStdHandle(which);
  if (handle == nullptr || handle == INVALID_HANDLE_VALUE) return false;
  // GetConsoleMode succeeds only on console handles, not on files or pipes.
  DWORD mode = 0;
  return ::GetConsoleMode(handle, &mode) != 0;
}

}  // namespace

void set_console_title(std::string_view title) noexcept {
  try {
    const int size = static_cast<int>(title.size());
    const int wide = ::MultiByteToWideChar(CP_UTF8, 0, title.data(), size, nullptr, 0);
    std::wstring text(static_cast<std::size_t>(wide > 0 ? wide : 0), L'\0');
    if (wide > 0) ::MultiByteToWideChar(CP_UTF8, 0, title.data(), size, text.data(), wide);
    // Fails harmlessly when the process has no console.
    ::SetConsoleTitleW(text.c_str());
  } catch (...) {
    // Out of memory for a title: nothing worth reporting.
  }
}

bool stdout_is_terminal() noexcept {
  return is_console(STD_OUTPUT_HANDLE);
}
bool stderr_is_terminal() noexcept {
  return is_console(STD_ERROR_HANDLE);
}

}  // namespace wsb::platform
