// The translation of an overlapped operation's NTSTATUS
// (platform/win/ntstatus.hpp), shared by server-iocp and loadgen's IOCP
// engine, with RtlNtStatusToDosError from the system's own ntdll.dll.
#include "platform/win/ntstatus.hpp"

#include <gtest/gtest.h>

#include <cstdint>

#include "platform/net.hpp"

namespace wsb::net::win {
namespace {

OVERLAPPED completed_with(std::uint32_t status) {
  OVERLAPPED ov{};
  ov.Internal = status;
  return ov;
}

TEST(NtStatus, SuccessAndInformationalStatusesAreNoError) {
  const StatusTranslator status;
  for (const std::uint32_t s : {0x00000000u, 0x00000103u /* STATUS_PENDING */}) {
    EXPECT_EQ(status.win32_error(completed_with(s)), 0u) << s;
    EXPECT_EQ(status.winsock_error(completed_with(s)), 0) << s;
  }
}

TEST(NtStatus, AResetIsAWin32ResetForTheServerAndAWinsockResetForTheEngine) {
  const StatusTranslator status;
  const OVERLAPPED reset = completed_with(0xC000020Du);  // STATUS_CONNECTION_RESET
  EXPECT_EQ(overlapped_status(reset), static_cast<LONG>(0xC000020Du));
  EXPECT_EQ(status.win32_error(reset), static_cast<DWORD>(ERROR_NETNAME_DELETED));
  EXPECT_EQ(status.winsock_error(reset), WSAECONNRESET);
  EXPECT_TRUE(is_reset(static_cast<int>(status.win32_error(reset))));
  EXPECT_TRUE(is_reset(status.winsock_error(reset)));
}

TEST(NtStatus, AStatusOutsideTheSocketTableFallsBackToTheWin32Error) {
  const StatusTranslator status;
  const OVERLAPPED unsuccessful = completed_with(0xC0000001u);  // STATUS_UNSUCCESSFUL
  EXPECT_EQ(status.win32_error(unsuccessful), static_cast<DWORD>(ERROR_GEN_FAILURE));
  EXPECT_EQ(status.winsock_error(unsuccessful), ERROR_GEN_FAILURE);
}

}  // namespace
}  // namespace wsb::net::win
