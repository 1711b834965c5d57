#!/usr/bin/env bash
# Record cost per value: wsb::hdr (BM_HdrRecord in bench-core) against the
# Java reference (HdrRecordTiming.java with hdrhistogram.jar), on the same
# values, in the same run. Both sides measure the CPU time of the recording
# thread (Google Benchmark's cpu_time; Java's ThreadMXBean), so that other
# load on the machine is not counted, and the best of several repetitions is
# compared; medians are shown too.
#
# usage: bench/core/hdr_vs_java.sh [BUILD_DIR] [JAR]
#   BUILD_DIR  a native build with bench-core (default: build/linux)
#   JAR        the Java HdrHistogram jar (default: /usr/share/java/hdrhistogram.jar)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build/linux}
jar=${2:-/usr/share/java/hdrhistogram.jar}
bench=$build/bin/bench-core

[ -x "$bench" ] || { echo "hdr_vs_java: $bench not found; build the bench-core target first" >&2; exit 1; }
command -v java >/dev/null 2>&1 || { echo "hdr_vs_java: no java on PATH; run tools/setup.sh" >&2; exit 1; }
[ -r "$jar" ] || { echo "hdr_vs_java: $jar missing; run tools/setup.sh" >&2; exit 1; }

ours=$(mktemp)
trap 'rm -f "$ours"' EXIT
"$bench" --benchmark_filter='^BM_HdrRecord/' --benchmark_repetitions=7 \
  --benchmark_min_time=0.2 --benchmark_format=csv 2>/dev/null > "$ours"
java_out=$(java -cp "$jar" "$here/java/HdrRecordTiming.java" 15)

# bench-core CSV: name,iterations,real_time,cpu_time,time_unit,...,label,...
# cpu_time is per iteration, and one iteration records 65536 values.
awk -F, -v java="$java_out" '
  BEGIN {
    n = split(java, lines, "\n")
    for (i = 1; i <= n; i++) {
      split(lines[i], f, " ")
      sub("min_ns=", "", f[3]); sub("median_ns=", "", f[4])
      jmin[f[2]] = f[3]; jmed[f[2]] = f[4]
    }
    names[0] = "uniform"; names[1] = "latency"; names[2] = "constant"
  }
  /^"BM_HdrRecord\/[0-9]+",/ {
    split($1, parts, "/"); d = names[parts[2] + 0]
    unit = $5; gsub(/"/, "", unit)
    scale = unit == "ns" ? 1 : unit == "us" ? 1e3 : unit == "ms" ? 1e6 : 1e9
    ns = $4 * scale / 65536
    k = ++count[d]; t[d, k] = ns
  }
  END {
    printf "%-10s %14s %14s %14s %14s %8s\n", "values", "ours ns/value", "java ns/value", "ours median", "java median", "java/ours"
    for (i = 0; i < 3; i++) {
      d = names[i]; m = count[d]
      if (m == 0) continue
      # sort this distribution'"'"'s repetitions (insertion sort; 7 items)
      for (a = 2; a <= m; a++) { x = t[d, a]; b = a - 1; while (b >= 1 && t[d, b] > x) { t[d, b + 1] = t[d, b]; b-- } t[d, b + 1] = x }
      best = t[d, 1]; med = t[d, int((m + 1) / 2)]
      printf "%-10s %14.3f %14.3f %14.3f %14.3f %8.2f\n", d, best, jmin[d], med, jmed[d], jmin[d] / best
    }
  }' "$ours"
