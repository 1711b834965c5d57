#!/usr/bin/env bash
# The project's test command (README; .ci/run calls exactly this).
#
# Installs what is missing, builds the native `linux` preset, the `windows-cross`
# preset (mingw-w64 x86_64), compile-only `windows-cross-i686` and
# `windows-clang` (clang + mingw-w64) builds, runs
# every test — native ones natively, Windows ones under Wine through CTest's
# cross-compiling emulator — and ends with one verdict line:
#   verdict: N passed, N failed, N skipped
# Exit status: 0 only when every step built and no test failed.
#
# It first checks that every C++ file is formatted as .clang-format says
# (tools/check_format.sh; --fix formats them).
#
# After the Linux build it runs the sanitizer stages (docs/fuzzing.md):
# linux-asan (ASan + UBSan) runs the conformance, loadgen and fault suites,
# linux-tsan runs the multi-threaded servers and loadgen under load, and
# linux-fuzz runs every libFuzzer target briefly. Each builds only the
# targets its tests need; their tests add to the verdict.
#
# Options: --no-setup (skip tools/setup.sh), --only linux|windows|sanitizers
#          (one side, or only the sanitizer stages),
#          --no-sanitizers (skip the linux-asan, linux-tsan and linux-fuzz
#          stages), -R REGEX (passed to ctest; skips the sanitizer stages,
#          whose label selections it would empty).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${WSB_JOBS:-$(nproc)}
do_setup=1; only=""; regex=(); sanitizers=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-setup) do_setup=0 ;;
    --only) only=$2; shift ;;
    --no-sanitizers) sanitizers=0 ;;
    -R) regex=(-R "$2"); shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '\n== %s\n' "$*"; }
failures=()
passed=0; failed=0; skipped=0; broken=0   # broken: steps that failed outside a test

if [ "$do_setup" = 1 ]; then
  tools/setup.sh || { echo "test.sh: set-up failed"; echo "verdict: 0 passed, 1 failed"; exit 1; }
fi

build() { # preset
  say "configure + build: $1"
  if ! cmake --preset "$1" --log-level=WARNING >"build/$1.configure.log" 2>&1; then
    cat "build/$1.configure.log"; failures+=("configure $1"); broken=$((broken + 1)); return 1
  fi
  # pipefail makes the pipeline's status cmake's, not tail's.
  if ! cmake --build --preset "$1" -j "$jobs" 2>&1 | tail -n 40; then
    failures+=("build $1"); broken=$((broken + 1)); return 1
  fi
}

# build_targets PRESET TARGET...: configure, then build only those targets
# that this configuration defines (a target whose folder is absent, such as
# fault-suite before tests/fault exists, is left out and named).
build_targets() {
  local preset=$1; shift
  say "configure + build: $preset ($*)"
  if ! cmake --preset "$preset" --log-level=WARNING >"build/$preset.configure.log" 2>&1; then
    cat "build/$preset.configure.log"; failures+=("configure $preset"); broken=$((broken + 1)); return 1
  fi
  local known wanted=() t
  known=$(ninja -C "build/$preset" -t targets all 2>/dev/null | sed 's/:.*//')
  for t in "$@"; do
    if grep -qx -- "$t" <<<"$known"; then wanted+=("$t"); else echo "($preset: no target $t here)"; fi
  done
  if ! cmake --build --preset "$preset" -j "$jobs" --target "${wanted[@]}" 2>&1 | tail -n 40; then
    failures+=("build $preset"); broken=$((broken + 1)); return 1
  fi
}

run_tests() { # preset [ctest selection options...]
  local preset=$1; shift
  say "tests: $preset $*"
  local junit="build/$preset/ctest-junit.xml"
  rm -f "$junit"
  ctest --preset "$preset" -j "$jobs" --output-junit "$root/$junit" "$@" "${regex[@]}" 2>&1 | tail -n 60
  if [ ! -f "$junit" ]; then failures+=("ctest $preset produced no results"); broken=$((broken + 1)); return; fi
  # CTest's JUnit file carries the counts; skipped tests are the ones that said why.
  local t f s
  t=$(grep -o 'tests="[0-9]*"' "$junit" | head -n1 | tr -dc 0-9)
  f=$(grep -o 'failures="[0-9]*"' "$junit" | head -n1 | tr -dc 0-9)
  s=$(grep -o 'skipped="[0-9]*"' "$junit" | head -n1 | tr -dc 0-9)
  t=${t:-0}; f=${f:-0}; s=${s:-0}
  passed=$((passed + t - f - s)); failed=$((failed + f)); skipped=$((skipped + s))
  if [ "$t" = 0 ]; then failures+=("ctest $preset ran no test"); broken=$((broken + 1)); fi
  if [ "$f" != 0 ]; then
    failures+=("$f test(s) failed in $preset")
    # The tail above names a failed test but not why; an intermittent
    # failure leaves nothing else behind.
    python3 tools/junit_failures.py "$junit" | tee -a build/test-failures.txt || true
  fi
}

mkdir -p build
rm -f build/test-failures.txt
# Formatting first: a drifted file is named at once, and counts as one failed
# check in the verdict (one passed check when every file is formatted).
say "format: tools/check_format.sh"
if tools/check_format.sh; then
  passed=$((passed + 1))
else
  failures+=("format (tools/check_format.sh --fix formats the files named above)")
  broken=$((broken + 1))
fi
case "$only" in
  ""|linux|windows|sanitizers) ;;
  *) echo "test.sh: --only takes linux, windows or sanitizers, not '$only'" >&2; exit 2 ;;
esac
if [ "$only" != linux ] && [ "$only" != sanitizers ]; then
  build windows-cross && run_tests windows-cross
  # 32-bit Windows, compiled only: catches pointer-size bugs (a pointer in a DWORD).
  build windows-cross-i686 || true
  # The same code through clang (mingw-w64 headers and libraries), compiled
  # only: a second compiler's warnings, with -Werror like the others.
  build windows-clang || true
fi
if [ "$only" != windows ] && [ "$only" != sanitizers ]; then
  build linux && run_tests linux
fi
if [ "${#regex[@]}" -gt 0 ]; then sanitizers=0; fi
if [ "$only" != windows ] && [ "$sanitizers" = 1 ]; then
  stage_start=$SECONDS
  posix_servers=(server-threads server-nonblocking server-select server-poll server-epoll server-uring)
  # ASan + UBSan: the black-box suites and loadgen's end-to-end tests, natively
  # (the Wine-driven ones test Windows programs that are not built with ASan;
  # the distributed ones check start times to 50 ms, which an ASan build's
  # slowness can miss: they run in the plain build).
  # sanitizer.reports runs last and fails on any report a program left.
  rm -f build/linux-asan/sanitizer-reports/report.*
  # hdrtool: loadgen's tests read the logs they write with it.
  # chat_test_server: loadgen's chat tests drive it (tests/integration/loadgen).
  build_targets linux-asan "${posix_servers[@]}" suite-reference-server server-suite fault-suite \
      loadgen integration_loadgen hdrtool chat_test_server &&
    run_tests linux-asan -L '^(suite|loadgen|fault|sanitizer)$' -LE '^(wine|distributed)$'
  # TSan: the multi-threaded servers and loadgen's two threads under load.
  rm -f build/linux-tsan/sanitizer-reports/report.*
  build_targets linux-tsan server-threads server-epoll server-uring loadgen &&
    run_tests linux-tsan -L '^(tsan|sanitizer)$'
  # libFuzzer: every target for a short, fixed time (WSB_FUZZ_SECONDS).
  build_targets linux-fuzz fuzzers && run_tests linux-fuzz -L '^fuzz$'
  echo "sanitizer stages: $((SECONDS - stage_start)) s"
fi

say "summary"
# Why each test failed, again here, where a reader of the log's end sees it.
if [ -s build/test-failures.txt ]; then cat build/test-failures.txt; fi
for f in "${failures[@]}"; do echo "FAILED: $f"; done
if [ "$skipped" -gt 0 ]; then
  echo "verdict: $passed passed, $((failed + broken)) failed, $skipped skipped"
else
  echo "verdict: $passed passed, $((failed + broken)) failed"
fi
[ "${#failures[@]}" = 0 ]
