// Default options of the sanitizer runtimes, linked into every program of an
// ASan or TSan build (cmake/wsb_helpers.cmake). The runtimes call these
// functions at start-up; ASAN_OPTIONS, UBSAN_OPTIONS and TSAN_OPTIONS in the
// environment still override each setting (log_path=stderr puts the reports
// back on the terminal).
//
// halt_on_error: the first report ends the program, so a bug cannot hide
// behind a test that happens to pass after it. log_path: the report also goes
// to a file named after the program and its pid in the build's
// sanitizer-reports folder, where the CTest test sanitizer.reports finds it
// even when the program was a server whose stderr its harness discarded.
#ifndef WSB_SANITIZER_LOG_PATH
#error "WSB_SANITIZER_LOG_PATH must name the report file prefix"
#endif

// exitcode=86: a report ends the program with a status that none of the
// project's programs uses for anything else (they use 0-4), so a test that
// expects, say, loadgen's exit status 1 cannot mistake a report for it.
#define WSB_SANITIZER_COMMON \
  "log_path=" WSB_SANITIZER_LOG_PATH ":log_exe_name=1:print_stacktrace=1:exitcode=86"

// The runtimes look these up by name; they must stay visible and unmangled.
#define WSB_SANITIZER_HOOK extern "C" __attribute__((visibility("default"), used)) const char*

#if defined(WSB_SANITIZER_ASAN)
WSB_SANITIZER_HOOK __asan_default_options() {
  return WSB_SANITIZER_COMMON ":halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=0";
}
WSB_SANITIZER_HOOK __ubsan_default_options() {
  return WSB_SANITIZER_COMMON ":halt_on_error=1";
}

#include <dlfcn.h>

namespace {

// GCC links UBSan as its own library (libubsan) beside libasan. When ASan is
// present, libubsan reads its options but never applies log_path, so its
// reports would still go to stderr only. Its copy of the report-path setter
// is called here, at start-up; with clang (one runtime) there is no such
// library and this does nothing.
__attribute__((constructor)) void wsb_route_ubsan_reports() {
  void* ubsan = dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (ubsan == nullptr) return;
  using SetReportPath = void (*)(const char*);
  if (auto set = reinterpret_cast<SetReportPath>(dlsym(ubsan, "__sanitizer_set_report_path"))) {
    set(WSB_SANITIZER_LOG_PATH);
  }
  dlclose(ubsan);
}

}  // namespace
#elif defined(WSB_SANITIZER_TSAN)
// second_deadlock_stack: both stacks of a lock-order inversion, not one.
WSB_SANITIZER_HOOK __tsan_default_options() {
  return WSB_SANITIZER_COMMON ":halt_on_error=1:second_deadlock_stack=1";
}
#endif
