#!/usr/bin/env bash
# Installs what wsbench needs on Debian 12 and builds the Windows-side test
# dependencies. Idempotent: when everything is present it installs nothing and
# prints nothing (pass -v to hear what it checks).
#
# Needs root for apt-get (as on the project's machines). Everything it installs
# comes from Debian's archive; nothing is downloaded from anywhere else.
#
# Options:
#   -v                 say what is checked
#   --quickstart PART  only what tools/quickstart.sh needs, without the
#                      test-only packages (JDK, Java HdrHistogram, wrk, sockperf,
#                      nginx, the 32-bit mingw compiler) and without building
#                      GoogleTest/Benchmark for mingw (tools/test.sh does the
#                      full set-up later). PART: native (compilers, libraries,
#                      matplotlib), windows (mingw-w64 x86_64, Wine and its
#                      prefix) or all. quickstart installs the windows part in
#                      the background while it builds the native programs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
verbose=0
part=full
while [ $# -gt 0 ]; do
  case "$1" in
    -v) verbose=1 ;;
    --quickstart)
      part=${2:-}
      case "$part" in native | windows | all) shift ;;
        *) echo "setup.sh: --quickstart needs native, windows or all" >&2; exit 2 ;;
      esac ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
say() { printf 'setup: %s\n' "$*"; }
note() { [ "$verbose" = 1 ] && say "$@"; return 0; }

native_packages=(
  # native build and tests
  cmake ninja-build g++ pkg-config libcli11-dev libbenchmark-dev libgtest-dev googletest
  liburing-dev zlib1g-dev
  # plotting
  python3-matplotlib
)
windows_packages=(
  # Windows build (mingw-w64 x86_64, posix threads) and Wine to run it. Not the
  # mingw-w64 metapackage: it adds the win32-thread compilers nothing here uses.
  g++-mingw-w64-x86-64-posix libz-mingw-w64-dev wine wine64
)
# Only the tests and benchmarks need these; tools/quickstart.sh does not.
test_packages=(
  # the compile-only 32-bit Windows build (pointer-size check)
  g++-mingw-w64-i686-posix
  # the linux-fuzz preset: clang, libFuzzer and clang's sanitizer runtimes
  # (libclang-rt-14-dev), llvm-symbolizer for readable crash stacks (llvm)
  clang libclang-rt-14-dev llvm
  # tools/check_format.sh (the formatting check tools/test.sh runs first)
  clang-format
  # tools.plot_render: report.html loaded in headless Chromium
  chromium
  # the compile-only windows-clang preset links with lld
  lld
  # fetching Google Benchmark's Debian sources for the mingw build
  dpkg-dev
  # the Java HdrHistogram reference, and a JDK that runs single-file drivers
  libhdrhistogram-java openjdk-17-jdk-headless
  # outside references measured against
  wrk sockperf nginx-light
  # tools/distributed.sh and its test (pdsh's exec module); the Kubernetes
  # manifests' test parses them with PyYAML
  pdsh python3-yaml
)
case "$part" in
  native) packages=("${native_packages[@]}") ;;
  windows) packages=("${windows_packages[@]}") ;;
  all) packages=("${native_packages[@]}" "${windows_packages[@]}") ;;
  full) packages=("${native_packages[@]}" "${windows_packages[@]}" "${test_packages[@]}") ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root to run: $*"; exit 1
  fi
}

apt_updated=0
apt_update() {
  [ "$apt_updated" = 1 ] && return 0
  as_root apt-get update -qq >/dev/null
  apt_updated=1
}

# Google Benchmark for mingw is built from Debian's source package, which needs a
# deb-src entry for the same suites as the binary archive.
src_list=/etc/apt/sources.list.d/wsbench-src.sources
if [ "$part" = full ] && ! apt-cache showsrc benchmark 2>/dev/null | grep -q '^Package: benchmark'; then
  say "adding a deb-src entry ($src_list) for Google Benchmark's sources"
  as_root tee "$src_list" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt_updated=0
  apt_update
fi

if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  apt_update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  note "all ${#packages[@]} packages present"
fi

# GoogleTest and Google Benchmark for mingw: only the Windows tests and
# benchmarks link them (about 2 minutes to build on 2 cores).
[ "$part" != full ] || "$root/tools/build-mingw-deps.sh"

# A Wine prefix inside the build folder, created once: its first start takes
# several seconds, which would otherwise land inside the first test's timeout.
prefix="$root/build/windows-cross/wineprefix"
if [ "$part" != native ] && [ ! -f "$prefix/system.reg" ]; then
  say "creating the Wine prefix $prefix"
  mkdir -p "$prefix"
  WINEPREFIX="$prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d" \
    wineboot -i >/dev/null 2>&1 || { say "wineboot failed in $prefix"; exit 1; }
  WINEPREFIX="$prefix" wineserver -w 2>/dev/null || true
fi
note "ready"
