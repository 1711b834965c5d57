#!/usr/bin/env bash
# Builds GoogleTest and Google Benchmark for x86_64-w64-mingw32 into
# build/deps/x86_64-w64-mingw32, the prefix the windows-cross preset searches.
#
# GoogleTest comes from Debian's sources in /usr/src/googletest (libgtest-dev).
# Google Benchmark has no mingw package: its sources come from Debian's source
# package (apt-get source benchmark), fetched here at set-up time and never
# committed. Re-running is cheap: a stamp file records what was built.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
triple=x86_64-w64-mingw32
prefix="$root/build/deps/$triple"
work="$root/build/deps/work"
toolchain="$root/cmake/toolchain-mingw-x86_64.cmake"
gtest_ver=$(dpkg-query -W -f='${Version}' googletest 2>/dev/null || echo unknown)
bench_ver=$(apt-cache showsrc benchmark 2>/dev/null | awk '/^Version:/{print $2; exit}')
stamp="$prefix/.built-gtest-$gtest_ver-benchmark-${bench_ver:-unknown}"
[ -f "$stamp" ] && exit 0

log="$root/build/deps/build.log"
mkdir -p "$work" "$prefix"
: >"$log"
say() { printf 'build-mingw-deps: %s\n' "$*"; }
fail() { say "$1 failed; the last lines of $log:"; tail -n 30 "$log"; exit 1; }

cmake_build() { # src build-dir extra-args...
  local src=$1 bdir=$2; shift 2
  cmake -S "$src" -B "$bdir" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" "$@" >>"$log" 2>&1 &&
    cmake --build "$bdir" >>"$log" 2>&1 && cmake --install "$bdir" >>"$log" 2>&1
}

say "building GoogleTest $gtest_ver for $triple"
cmake_build /usr/src/googletest "$work/gtest" -DBUILD_GMOCK=ON -Dgtest_disable_pthreads=OFF ||
  fail "GoogleTest build"

say "fetching Google Benchmark ${bench_ver:-?} sources (apt-get source benchmark)"
rm -rf "$work/benchmark-src" && mkdir -p "$work/benchmark-src"
(cd "$work/benchmark-src" && apt-get source -qq benchmark >>"$log" 2>&1) ||
  fail "apt-get source benchmark (is the deb-src entry from tools/setup.sh present?)"
bsrc=$(find "$work/benchmark-src" -maxdepth 1 -mindepth 1 -type d -name 'benchmark-*' | head -n 1)
[ -n "$bsrc" ] || fail "unpacking the benchmark source package"

say "building Google Benchmark for $triple"
# Debian's patch 0001 stops reading the version from git tags and leaves it
# empty; give it the upstream version so the library's version properties are set.
upstream=${bsrc##*/benchmark-}
cmake_build "$bsrc" "$work/benchmark" -DGIT_VERSION="$upstream" -DBENCHMARK_ENABLE_TESTING=OFF -DBENCHMARK_ENABLE_GTEST_TESTS=OFF \
  -DBENCHMARK_ENABLE_WERROR=OFF -DBENCHMARK_ENABLE_INSTALL=ON -DBENCHMARK_INSTALL_DOCS=OFF ||
  fail "Google Benchmark build"

rm -f "$prefix"/.built-*
touch "$stamp"
say "done: $prefix"
