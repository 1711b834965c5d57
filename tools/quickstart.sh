#!/usr/bin/env bash
# The first command to run on a fresh machine (README): sets up, builds, runs
# the servers under load and plots the results.
#
#   1. tools/setup.sh --quickstart native: installs what the native build
#      needs (apt; not the test-only packages); then, in the background while
#      step 2 builds, --quickstart windows: mingw-w64, Wine and its prefix
#   2. builds the `linux` preset's loadgen, hdrtool and native servers, and, when
#      Wine is installed, the `windows-cross` preset's Winsock servers
#   3. tools/matrix.py --quick --repeat 3 --connections 10,1000 --duration 1
#      into results/quickstart/: four native models at 10 and 1,000
#      connections (and 1,000 held), six Winsock models under Wine at 10, each
#      cell three times, interleaved, so that the verdicts have repetitions
#      to stand on
#   4. tools/plot.py: PNG files and results/quickstart/report.html, which
#      opens with the verdicts (which model serves more requests, and which
#      differences are not significant)
# and ends with the verdicts and one line naming the report to open. For the
# full answer (every model, 1 to 10,000 connections, sizes, protocols, open
# loop, churn, 5 repetitions): tools/matrix.py --full, then tools/plot.py.
#
# Every step is bounded in time. The matrix takes about 3 to 4 minutes on an
# idle 2-core machine by its own estimate (18 cells x 3 repetitions; a
# repetition disturbed by other processes is run once more, which can double
# that on a busy machine); the set-up and the build come on top the first time
# (5 minutes 9 seconds for the earlier, shorter matrix in a minimal Debian 12:
# results/README.md, "Quickstart timings").
# Exit status: 0 when every step and every cell succeeded; otherwise 1 (the
# report is still written when there is anything to plot).
#
# Options: --no-setup (skip tools/setup.sh), --no-wine (native models only).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
jobs=${WSB_JOBS:-$(nproc)}
out=results/quickstart
do_setup=1
wine=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-setup) do_setup=0 ;;
    --no-wine) wine=0 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "quickstart.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

start=$(date +%s)
say() { printf '\n== [%ss] %s\n' "$(($(date +%s) - start))" "$*"; }
status=0
# Debian's matplotlib belongs to /usr/bin/python3; another python3 on PATH
# may not see it.
py=/usr/bin/python3
[ -x "$py" ] || py=python3

mkdir -p build
windows_setup_pid=""
windows_setup_log=build/quickstart-setup-windows.log
if [ "$do_setup" = 1 ]; then
  say "set-up (tools/setup.sh --quickstart native)"
  if ! timeout 1200 tools/setup.sh --quickstart native; then
    echo "quickstart: set-up failed; fix the message above and run again" >&2
    exit 1
  fi
  if [ "$wine" = 1 ]; then
    # Wine and mingw-w64 are most of the download; fetching and unpacking them
    # while the native build uses the CPU saves minutes on a fresh machine.
    say "set-up of the Windows side in the background (log: $windows_setup_log)"
    timeout 1200 tools/setup.sh --quickstart windows >"$windows_setup_log" 2>&1 &
    windows_setup_pid=$!
  fi
fi

# configure_and_build PRESET TARGETS...: configures once, then builds only the
# programs the quick matrix runs (not the tests), so a first run stays short.
# Extra configure flags come from the array configure_flags.
configure_flags=()
configure_and_build() {
  local preset=$1; shift
  local log="build/$preset.quickstart.log"
  mkdir -p build
  if [ ! -f "build/$preset/build.ninja" ]; then
    timeout 600 cmake --preset "$preset" "${configure_flags[@]}" --log-level=WARNING >"$log" 2>&1 ||
      { tail -n 30 "$log"; echo "quickstart: configuring $preset failed (log: $log)" >&2; return 1; }
  fi
  timeout 1200 cmake --build "build/$preset" -j "$jobs" --target "$@" >>"$log" 2>&1 ||
    { tail -n 30 "$log"; echo "quickstart: building $preset failed (log: $log)" >&2; return 1; }
}

say "building the native programs (preset linux)"
read -r -a native_targets <<<"$("$py" tools/matrix.py --quick --targets native)"
if ! configure_and_build linux "${native_targets[@]}"; then
  # Never leave apt running behind our back: interrupting dpkg breaks it.
  [ -z "$windows_setup_pid" ] || wait "$windows_setup_pid"
  exit 1
fi

# Fewer connection counts and 1-second cells, three times each: the verdicts
# need repetitions more than long cells (issue 16: many short interleaved
# repetitions), and the first run must stay short.
matrix_flags=(--quick --repeat 3 --connections 10,1000 --duration 1)
if [ -n "$windows_setup_pid" ]; then
  say "waiting for the Windows-side set-up"
  if ! wait "$windows_setup_pid"; then
    cat "$windows_setup_log" >&2
    echo "quickstart: the Windows-side set-up failed (above); going on without the Winsock models" >&2
    wine=0
    status=1
  fi
fi

if [ "$wine" = 1 ] && command -v wine >/dev/null 2>&1; then
  say "building the Winsock servers (preset windows-cross, mingw-w64)"
  read -r -a wine_targets <<<"$("$py" tools/matrix.py --quick --targets wine)"
  # The servers need neither GoogleTest nor Google Benchmark; their mingw builds
  # exist only after the full tools/setup.sh (tools/test.sh's preset turns the
  # tests and benchmarks back on when it configures this folder again).
  if ! compgen -G "build/deps/x86_64-w64-mingw32/.built-*" >/dev/null; then
    configure_flags=(-DWSB_BUILD_TESTS=OFF -DWSB_BUILD_BENCH=OFF)
  fi
  if ! configure_and_build windows-cross "${wine_targets[@]}"; then
    echo "quickstart: going on without the Winsock models" >&2
    matrix_flags+=(--no-wine)
    status=1
  fi
else
  [ "$wine" = 1 ] && echo "quickstart: wine is not installed; native models only"
  matrix_flags+=(--no-wine)
fi

say "running the quick matrix into $out/"
# The folder is this script's own output (ignored by git): a new run replaces it.
rm -rf "$out"
timeout 900 "$py" tools/matrix.py "${matrix_flags[@]}" --out "$out" \
  --note "tools/quickstart.sh on $(hostname)"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "quickstart: the matrix exited $rc (failed cells are listed above and in $out/cells.csv)" >&2
  status=1
fi

say "plotting"
if [ -f "$out/summary.csv" ] && timeout 300 "$py" tools/plot.py "$out" --out "$out"; then
  say "done in $(($(date +%s) - start)) s"
  if [ -f "$out/verdicts.csv" ]; then
    echo "Verdicts (throughput; details and intervals in the report):"
    "$py" -c 'import sys; sys.path.insert(0, "tools")
from wsbplot.verdicts import read_verdicts, sentences
for s in sentences(read_verdicts(sys.argv[1])): print("  " + s)' "$out/verdicts.csv"
  fi
  echo "quickstart: open $out/report.html"
  echo "quickstart: for the full answer run tools/matrix.py --full (over an hour: 114 cells x 5 repetitions), then tools/plot.py"
else
  echo "quickstart: no report (nothing was measured, or plotting failed)" >&2
  status=1
fi
exit "$status"
