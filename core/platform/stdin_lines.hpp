// Lines typed on standard input (namespace wsb::platform), for the seeds'
// "//q" stop command.
//
// One process-wide reader thread reads standard input (read() on fd 0,
// ReadFile on STD_INPUT_HANDLE) and hands each line, without its line ending,
// to every current subscriber. End of input (or an error) ends the reader and
// is deliberately not reported: a server started with stdin from /dev/null or
// a closed pipe must keep running.
//
// The reader thread is detached and never joined. On Windows a ReadFile
// blocked on a console or an anonymous pipe cannot be interrupted reliably
// (CancelSynchronousIo does not cancel console reads), so joining it could hang
// process exit forever; on POSIX the same choice keeps the code uniform. Its
// state is intentionally leaked so that the thread never touches a destroyed
// object, and process exit ends it.
//
// POSIX: when stdin is a terminal, SIGTTIN is ignored, so that a server run in
// the background (`server &`) is not stopped by the job-control signal when it
// reads the terminal; the read fails with EIO instead and the reader ends.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

namespace wsb::platform {

class StdinLines {
 public:
  // Subscribes on_line; starts the reader thread on first use.
  explicit StdinLines(std::function<void(std::string_view line)> on_line);
  // Unsubscribes. When the destructor returns, on_line is not running and is
  // never called again. on_line must not create or destroy a StdinLines.
  ~StdinLines();
  StdinLines(const StdinLines&) = delete;
  StdinLines& operator=(const StdinLines&) = delete;

 private:
  std::shared_ptr<void> subscription_;
};

}  // namespace wsb::platform
