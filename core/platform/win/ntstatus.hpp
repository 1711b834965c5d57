// The result of a completed overlapped operation (namespace wsb::net::win):
// the NTSTATUS the kernel wrote into OVERLAPPED.Internal, and its translation
// into the error codes the rest of the code knows. Windows code only: it
// includes the native headers, so only the Winsock models and the loadgen
// IOCP engine include it.
//
// GetQueuedCompletionStatusEx returns TRUE even when the operations it
// dequeued failed: each operation's own result is that NTSTATUS (libuv's
// REQ_SUCCESS reads it the same way). Two spellings of an error come out of
// it, and callers need one or the other:
//  - win32_error(): what GetQueuedCompletionStatus would have reported through
//    GetLastError(), via ntdll's RtlNtStatusToDosError, e.g.
//      STATUS_CONNECTION_RESET   (0xC000020D) -> ERROR_NETNAME_DELETED (64)
//      STATUS_CONNECTION_ABORTED (0xC0000241) -> ERROR_CONNECTION_ABORTED (1236)
//      STATUS_CANCELLED          (0xC0000120) -> ERROR_OPERATION_ABORTED (995)
//    which net::is_reset() and the frame's classify_io_error() know;
//  - winsock_error(): what WSAGetOverlappedResult would report, i.e. the
//    Winsock code ws2_32 maps a socket status to (STATUS_CONNECTION_RESET ->
//    WSAECONNRESET), and win32_error() for any other status.
#pragma once

#include <winsock2.h>
#include <windows.h>

namespace wsb::net::win {

// The NTSTATUS of a completed operation: OVERLAPPED.Internal is ULONG_PTR
// wide and the status is its low 32 bits. Negative means failure.
LONG overlapped_status(const OVERLAPPED& ov) noexcept;

class StatusTranslator {
 public:
  // Looks up RtlNtStatusToDosError in ntdll.dll. Throws NetError when it is
  // missing (a broken system: ntdll is mapped into every Win32 process).
  StatusTranslator();

  // 0 when the operation succeeded (success and informational statuses);
  // otherwise a Win32 error code.
  DWORD win32_error(const OVERLAPPED& ov) const noexcept;

  // 0 when the operation succeeded; otherwise a Winsock error code for the
  // socket statuses ws2_32 maps, and win32_error() for the others.
  int winsock_error(const OVERLAPPED& ov) const noexcept;

 private:
  using ToDosError = ULONG(WINAPI*)(LONG);
  ToDosError to_dos_ = nullptr;
};

}  // namespace wsb::net::win
