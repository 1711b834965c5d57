#!/usr/bin/env bash
# The project's test command (README; .ci/run calls exactly this).
#
# Installs what is missing, builds the native `linux` preset, the `windows-cross`
# preset (mingw-w64 x86_64) and a compile-only `windows-cross-i686` build, runs
# every test — native ones natively, Windows ones under Wine through CTest's
# cross-compiling emulator — and ends with one verdict line:
#   verdict: N passed, N failed, N skipped
# Exit status: 0 only when every step built and no test failed.
#
# Options: --no-setup (skip tools/setup.sh), --only linux|windows (one side),
#          -R REGEX (passed to ctest).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${WSB_JOBS:-$(nproc)}
do_setup=1; only=""; regex=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-setup) do_setup=0 ;;
    --only) only=$2; shift ;;
    -R) regex=(-R "$2"); shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

run_tests() { # preset
  say "tests: $1"
  local junit="build/$1/ctest-junit.xml"
  rm -f "$junit"
  ctest --preset "$1" -j "$jobs" --output-junit "$root/$junit" "${regex[@]}" 2>&1 | tail -n 60
  if [ ! -f "$junit" ]; then failures+=("ctest $1 produced no results"); broken=$((broken + 1)); return; fi
  # CTest's JUnit file carries the counts; skipped tests are the ones that said why.
  local t f s
  t=$(grep -o 'tests="[0-9]*"' "$junit" | head -n1 | tr -dc 0-9)
  f=$(grep -o 'failures="[0-9]*"' "$junit" | head -n1 | tr -dc 0-9)
  s=$(grep -o 'skipped="[0-9]*"' "$junit" | head -n1 | tr -dc 0-9)
  t=${t:-0}; f=${f:-0}; s=${s:-0}
  passed=$((passed + t - f - s)); failed=$((failed + f)); skipped=$((skipped + s))
  if [ "$t" = 0 ]; then failures+=("ctest $1 ran no test"); broken=$((broken + 1)); fi
  [ "$f" = 0 ] || failures+=("$f test(s) failed in $1")
}

mkdir -p build
if [ "$only" != linux ]; then
  build windows-cross && run_tests windows-cross
  # 32-bit Windows, compiled only: catches pointer-size bugs (a pointer in a DWORD).
  build windows-cross-i686 || true
fi
if [ "$only" != windows ]; then
  build linux && run_tests linux
fi

say "summary"
for f in "${failures[@]}"; do echo "FAILED: $f"; done
if [ "$skipped" -gt 0 ]; then
  echo "verdict: $passed passed, $((failed + broken)) failed, $skipped skipped"
else
  echo "verdict: $passed passed, $((failed + broken)) failed"
fi
[ "${#failures[@]}" = 0 ]
