// ChildProcess for Windows: CreateProcessW with three anonymous pipes.
//
// Anonymous pipes cannot be waited on together, so read_output() polls them
// with PeekNamedPipe in short steps; the monitor thread that calls it runs
// at 50 ms granularity anyway.
#include <winsock2.h>
#include <windows.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "affinity.hpp"
#include "spawn_child.hpp"

namespace wsb::loadgen {

namespace {

std::wstring widen(std::string_view s) {
  if (s.empty()) return {};
  const int n = ::MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
  std::wstring w(static_cast<std::size_t>(n), L'\0');
  ::MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), w.data(), n);
  return w;
}

// Quotes one argument so that CommandLineToArgvW (and the C runtime) read it
// back unchanged: backslashes are literal except before a double quote.
void append_quoted(std::wstring& line, const std::wstring& arg) {
  if (!arg.empty() && arg.find_first_of(L" \t\n\v\"") == std::wstring::npos) {
    line += arg;
    return;
  }
  line += L'"';
  for (auto it = arg.begin();; ++it) {
    std::size_t backslashes = 0;
    while (it != arg.end() && *it == L'\\') {
      ++it;
      ++backslashes;
    }
    if (it == arg.end()) {
      line.append(backslashes * 2, L'\\');
      break;
    }
    if (*it == L'"') {
      line.append(backslashes * 2 + 1, L'\\');
    } else {
      line.append(backslashes, L'\\');
    }
    line += *it;
  }
  line += L'"';
}

void close_handle(HANDLE& h) noexcept {
  if (h != nullptr && h != INVALID_HANDLE_VALUE) ::CloseHandle(h);
  h = nullptr;
}

// Reads what the pipe holds without blocking; false at end of file.
bool drain(HANDLE& pipe, std::string& into) {
  if (pipe == nullptr) return false;
  for (;;) {
    DWORD available = 0;
    if (!::PeekNamedPipe(pipe, nullptr, 0, nullptr, &available, nullptr)) {
      close_handle(pipe);  // ERROR_BROKEN_PIPE: the writer is gone
      return false;
    }
    if (available == 0) return true;
    char buffer[4096];
    DWORD got = 0;
    if (!::ReadFile(pipe, buffer, std::min<DWORD>(available, sizeof buffer), &got, nullptr)) {
      close_handle(pipe);
      return false;
    }
    into.append(buffer, got);
  }
}

}  // namespace

struct ChildProcess::Impl {
  PROCESS_INFORMATION process{};
  HANDLE job = nullptr;
  HANDLE in = nullptr;
  HANDLE out = nullptr;
  HANDLE err = nullptr;
  bool reaped = false;
  std::optional<Exit> exit;
};

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::vector<int>& cpus)
    : impl_(new Impl) {
  if (argv.empty()) {
    delete impl_;
    throw std::runtime_error("no program to start");
  }
  SECURITY_ATTRIBUTES inherit{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
  HANDLE child_in = nullptr, child_out = nullptr, child_err = nullptr;
  auto fail = [&](const char* what) {
    const DWORD code = ::GetLastError();
    for (HANDLE* h : {&child_in, &child_out, &child_err, &impl_->in, &impl_->out, &impl_->err}) {
      close_handle(*h);
    }
    delete impl_;
    throw std::runtime_error(std::string(what) + " failed (error " + std::to_string(code) + ")");
  };
  // Only the child's ends are inheritable; ours are not, or the child would
  // hold its own pipes open and never see end of input.
  if (!::CreatePipe(&child_in, &impl_->in, &inherit, 0)) fail("CreatePipe");
  if (!::CreatePipe(&impl_->out, &child_out, &inherit, 0)) fail("CreatePipe");
  if (!::CreatePipe(&impl_->err, &child_err, &inherit, 0)) fail("CreatePipe");
  ::SetHandleInformation(impl_->in, HANDLE_FLAG_INHERIT, 0);
  ::SetHandleInformation(impl_->out, HANDLE_FLAG_INHERIT, 0);
  ::SetHandleInformation(impl_->err, HANDLE_FLAG_INHERIT, 0);

  std::wstring line;
  for (const std::string& a : argv) {
    if (!line.empty()) line += L' ';
    append_quoted(line, widen(a));
  }
  const std::wstring program = widen(argv[0]);
  // The child inherits its three pipe ends and nothing else: without a handle
  // list, CreateProcess with bInheritHandles hands it every inheritable handle
  // loadgen holds (e.g. the pipes of another child started at the same time).
  HANDLE inherited[3] = {child_in, child_out, child_err};
  SIZE_T list_size = 0;
  ::InitializeProcThreadAttributeList(nullptr, 1, 0, &list_size);
  std::vector<char> list_storage(list_size);
  auto* const list = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(list_storage.data());
  if (!::InitializeProcThreadAttributeList(list, 1, 0, &list_size)) {
    fail("InitializeProcThreadAttributeList");
  }
  const bool listed = ::UpdateProcThreadAttribute(list, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                                  inherited, sizeof inherited, nullptr, nullptr);
  if (!listed) {
    ::DeleteProcThreadAttributeList(list);
    fail("UpdateProcThreadAttribute");
  }
  STARTUPINFOEXW startup{};
  startup.StartupInfo.cb = sizeof startup;
  startup.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  startup.StartupInfo.hStdInput = child_in;
  startup.StartupInfo.hStdOutput = child_out;
  startup.StartupInfo.hStdError = child_err;
  startup.lpAttributeList = list;
  // A new process group keeps the console's Ctrl-C away from the server, so
  // that loadgen stops it in order ("//q") after an interrupted run. The child
  // starts suspended so that it is in the job (below) before it runs a single
  // instruction, and so are any processes it starts.
  const DWORD flags = CREATE_NEW_PROCESS_GROUP | CREATE_SUSPENDED | EXTENDED_STARTUPINFO_PRESENT;
  const BOOL created = ::CreateProcessW(program.c_str(), line.data(), nullptr, nullptr, TRUE, flags,
                                        nullptr, nullptr, &startup.StartupInfo, &impl_->process);
  ::DeleteProcThreadAttributeList(list);
  if (!created) fail("CreateProcessW");
  close_handle(child_in);
  close_handle(child_out);
  close_handle(child_err);
  // The server dies with loadgen: closing the last handle of a kill-on-close
  // job ends every process in it. Best effort (nested jobs may refuse before
  // Windows 8): the child runs all the same.
  impl_->job = ::CreateJobObjectW(nullptr, nullptr);
  if (impl_->job != nullptr) {
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    ::SetInformationJobObject(impl_->job, JobObjectExtendedLimitInformation, &limits,
                              sizeof limits);
    ::AssignProcessToJobObject(impl_->job, impl_->process.hProcess);
  }
  // A child that cannot be set up as asked is ended before it ran.
  auto abandon = [this](const std::string& what) {
    const DWORD code = ::GetLastError();
    ::TerminateProcess(impl_->process.hProcess, 1);
    close_handle(impl_->process.hProcess);
    close_handle(impl_->process.hThread);
    close_handle(impl_->job);
    for (HANDLE* h : {&impl_->in, &impl_->out, &impl_->err})
      close_handle(*h);
    delete impl_;
    throw std::runtime_error(what + " failed (error " + std::to_string(code) + ")");
  };
  // --server-cpus: pinned before its first instruction; the threads it
  // starts take the process mask.
  if (!cpus.empty() &&
      !::SetProcessAffinityMask(impl_->process.hProcess, static_cast<DWORD_PTR>(cpu_mask(cpus)))) {
    abandon("SetProcessAffinityMask for --server-cpus");
  }
  if (::ResumeThread(impl_->process.hThread) == static_cast<DWORD>(-1)) abandon("ResumeThread");
}

ChildProcess::~ChildProcess() {
  if (!impl_->reaped && impl_->process.hProcess != nullptr) {
    ::TerminateProcess(impl_->process.hProcess, 1);
    ::WaitForSingleObject(impl_->process.hProcess, 5000);
  }
  close_handle(impl_->process.hProcess);
  close_handle(impl_->process.hThread);
  close_handle(impl_->in);
  close_handle(impl_->out);
  close_handle(impl_->err);
  close_handle(impl_->job);
  delete impl_;
}

platform::ProcessId ChildProcess::pid() const noexcept {
  return impl_->process.dwProcessId;
}

bool ChildProcess::read_output(std::chrono::milliseconds wait, std::string& out, std::string& err) {
  const auto until = std::chrono::steady_clock::now() + wait;
  for (;;) {
    const std::size_t before = out.size() + err.size();
    const bool out_open = drain(impl_->out, out);
    const bool err_open = drain(impl_->err, err);
    if (!out_open && !err_open) return false;
    if (out.size() + err.size() != before || std::chrono::steady_clock::now() >= until) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::optional<ChildProcess::Exit> ChildProcess::try_wait() noexcept {
  if (impl_->reaped) return impl_->exit;
  if (::WaitForSingleObject(impl_->process.hProcess, 0) != WAIT_OBJECT_0) return std::nullopt;
  Exit e;
  DWORD code = 0;
  if (::GetExitCodeProcess(impl_->process.hProcess, &code)) e.code = static_cast<int>(code);
  FILETIME created, exited, kernel, user;
  if (::GetProcessTimes(impl_->process.hProcess, &created, &exited, &kernel, &user)) {
    auto seconds = [](const FILETIME& t) {
      return static_cast<double>(ULARGE_INTEGER{{t.dwLowDateTime, t.dwHighDateTime}}.QuadPart) /
             1e7;
    };
    e.user_s = seconds(user);
    e.system_s = seconds(kernel);
  }
  impl_->reaped = true;
  impl_->exit = e;
  close_handle(impl_->in);
  return e;
}

bool ChildProcess::write_stdin(std::string_view text) noexcept {
  if (impl_->in == nullptr) return false;
  while (!text.empty()) {
    DWORD written = 0;
    if (!::WriteFile(impl_->in, text.data(), static_cast<DWORD>(text.size()), &written, nullptr)) {
      return false;
    }
    text.remove_prefix(written);
  }
  return true;
}

void ChildProcess::terminate() noexcept {
  // No gentle signal reaches a console process in its own group short of
  // attaching to its console; "//q" on stdin is the gentle stop.
}

void ChildProcess::kill() noexcept {
  if (!impl_->reaped) ::TerminateProcess(impl_->process.hProcess, 1);
}

}  // namespace wsb::loadgen
