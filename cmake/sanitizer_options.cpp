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

#define WSB_SANITIZER_COMMON "log_path=" WSB_SANITIZER_LOG_PATH ":log_exe_name=1:print_stacktrace=1"

// The runtimes look these up by name; they must stay visible and unmangled.
#define WSB_SANITIZER_HOOK extern "C" __attribute__((visibility("default"), used)) const char*

#if defined(WSB_SANITIZER_ASAN)
WSB_SANITIZER_HOOK __asan_default_options() {
  return WSB_SANITIZER_COMMON ":halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=0";
}
WSB_SANITIZER_HOOK __ubsan_default_options() { return WSB_SANITIZER_COMMON ":halt_on_error=1"; }
#elif defined(WSB_SANITIZER_TSAN)
// second_deadlock_stack: both stacks of a lock-order inversion, not one.
WSB_SANITIZER_HOOK __tsan_default_options() {
  return WSB_SANITIZER_COMMON ":halt_on_error=1:second_deadlock_stack=1";
}
#endif
