// The result of a completed overlapped operation: platform/win/ntstatus.hpp.
#include "platform/win/ntstatus.hpp"

#include <cstdint>
#include <string>

#include "platform/net.hpp"

namespace wsb::net::win {

namespace {

// NTSTATUS values of socket operations (ntstatus.h cannot be included next
// to <windows.h> without WIN32_NO_STATUS juggling, so the few needed are
// spelled here) and the Winsock errors they stand for: the mapping ws2_32
// applies when it reports the result of an overlapped operation, so that a
// code here means the same as one from WSAGetLastError().
struct StatusMapping {
  std::uint32_t status;
  int error;
};
constexpr StatusMapping kSocketStatuses[] = {
    {0xC0000236u, WSAECONNREFUSED},          // STATUS_CONNECTION_REFUSED
    {0xC00000B5u, WSAETIMEDOUT},             // STATUS_IO_TIMEOUT
    {0xC000020Du, WSAECONNRESET},            // STATUS_CONNECTION_RESET
    {0xC000013Cu, WSAECONNRESET},            // STATUS_REMOTE_DISCONNECT
    {0xC000020Cu, WSAECONNRESET},            // STATUS_CONNECTION_DISCONNECTED
    {0xC0000241u, WSAECONNABORTED},          // STATUS_CONNECTION_ABORTED
    {0xC000013Bu, WSAECONNABORTED},          // STATUS_LOCAL_DISCONNECT
    {0xC0000120u, ERROR_OPERATION_ABORTED},  // STATUS_CANCELLED (WSA_OPERATION_ABORTED)
    {0xC000020Au, WSAEADDRINUSE},            // STATUS_ADDRESS_ALREADY_EXISTS
    {0xC0000141u, WSAEADDRNOTAVAIL},         // STATUS_INVALID_ADDRESS
    {0xC0000207u, WSAEADDRNOTAVAIL},         // STATUS_INVALID_ADDRESS_COMPONENT
    {0xC0000209u, WSAENOBUFS},               // STATUS_TOO_MANY_ADDRESSES
    {0xC000009Au, WSAENOBUFS},               // STATUS_INSUFFICIENT_RESOURCES
    {0xC0000017u, WSAENOBUFS},               // STATUS_NO_MEMORY
    {0xC000023Cu, WSAENETUNREACH},           // STATUS_NETWORK_UNREACHABLE
    {0xC000023Du, WSAEHOSTUNREACH},          // STATUS_HOST_UNREACHABLE
    {0xC0000140u, WSAENOTCONN},              // STATUS_INVALID_CONNECTION
};

}  // namespace

LONG overlapped_status(const OVERLAPPED& ov) noexcept {
  return static_cast<LONG>(static_cast<ULONG>(ov.Internal & 0xFFFFFFFFu));
}

StatusTranslator::StatusTranslator() {
  // The project links neither ntdll.lib nor libntdll.a, hence the lookup.
  HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
  FARPROC proc = ntdll != nullptr ? ::GetProcAddress(ntdll, "RtlNtStatusToDosError") : nullptr;
  if (proc == nullptr) {
    const int code = static_cast<int>(::GetLastError());
    throw NetError(code, "RtlNtStatusToDosError is missing from ntdll.dll: " + error_text(code));
  }
  // Through a generic function pointer type, which GCC's
  // -Wcast-function-type accepts as the documented way of casting FARPROC.
  to_dos_ = reinterpret_cast<ToDosError>(reinterpret_cast<void (*)()>(proc));
}

DWORD StatusTranslator::win32_error(const OVERLAPPED& ov) const noexcept {
  const LONG status = overlapped_status(ov);
  if (status >= 0) return 0;  // NT_SUCCESS: success and informational codes
  return to_dos_(status);
}

int StatusTranslator::winsock_error(const OVERLAPPED& ov) const noexcept {
  const auto status = static_cast<std::uint32_t>(overlapped_status(ov));
  if ((status & 0x80000000u) == 0) return 0;
  for (const StatusMapping& m : kSocketStatuses) {
    if (m.status == status) return m.error;
  }
  return static_cast<int>(win32_error(ov));
}

}  // namespace wsb::net::win
