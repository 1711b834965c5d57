#!/usr/bin/env bash
# Soak test (issue 7, run by hand): drives each native server model for a long
# closed-loop run at many connections, and the IOCP server under Wine for a
# shorter one, and checks that nothing leaks or degrades:
#   - loadgen exits 0 and counted no error; the server's final statistics
#     count no error either;
#   - the server's resident memory at the end of the load is within
#     --rss-growth (default 10 %) of its resident memory after the warm-up;
#   - natively, the server's open sockets after the run are back to the count
#     before it (under Wine the sockets live in wineserver, shared by every
#     Wine process, so the check there is the final statistics'
#     accepted == closed).
# The server is started here (not with loadgen --spawn) so that its memory and
# sockets can be sampled from /proc every --sample seconds during the run.
#
# Output: results/soak/<UTC time>/ with samples-<model>.csv (elapsed_s,
# rss_bytes, sockets, cpu_s), loadgen.csv (loadgen's rows), server-<model>.txt
# (its final statistics) and summary.csv (one row per model with the verdict).
# Exit status: 0 when every model passed, 1 otherwise, 2 on a usage error.
#
# Options:
#   --minutes M            native run length per model (default 10)
#   --wine-minutes M       Wine run length per model (default 5)
#   --connections N        native connections (default 1000; select: at most 900)
#   --wine-connections N   Wine connections (default 200)
#   --models LIST          native models (default threads,nonblocking,select,poll,epoll,uring)
#   --wine-models LIST     Winsock models under Wine (default iocp; "" for none)
#   --protocol P           upper, echo or http (default echo)
#   --sample S             seconds between samples (default 5)
#   --rss-growth PCT       allowed growth after warm-up (default 10)
#   --out-dir DIR          default results/soak
#   --bin-dir DIR          native programs (default build/linux/bin)
#   --win-bin-dir DIR      Winsock servers (default build/windows-cross/bin)
#   -h, --help
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
minutes=10
wine_minutes=5
connections=1000
wine_connections=200
models=threads,nonblocking,select,poll,epoll,uring
wine_models=iocp
protocol="echo"
sample=5
rss_growth=10
out_base=$root/results/soak
bin=$root/build/linux/bin
win_bin=$root/build/windows-cross/bin

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
die() { echo "soak: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=${2:?}; shift ;;
    --wine-minutes) wine_minutes=${2:?}; shift ;;
    --connections) connections=${2:?}; shift ;;
    --wine-connections) wine_connections=${2:?}; shift ;;
    --models) models=${2?}; shift ;;
    --wine-models) wine_models=${2?}; shift ;;
    --protocol) protocol=${2:?}; shift ;;
    --sample) sample=${2:?}; shift ;;
    --rss-growth) rss_growth=${2:?}; shift ;;
    --out-dir) out_base=${2:?}; shift ;;
    --bin-dir) bin=${2:?}; shift ;;
    --win-bin-dir) win_bin=${2:?}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
  shift
done
for n in "$minutes" "$wine_minutes" "$connections" "$wine_connections" "$sample" "$rss_growth"; do
  [[ $n =~ ^[0-9]+([.][0-9]+)?$ ]] || die "'$n' is not a number"
done
[ -x "$bin/loadgen" ] || die "no $bin/loadgen: build the linux preset first (cmake --preset linux && cmake --build --preset linux)"

out=$out_base/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/soak.XXXXXX")
server_pid=""
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
hz=$(getconf CLK_TCK)
echo "model,platform,connections,minutes,loadgen_exit,requests,loadgen_errors,server_errors,rss_warm_bytes,rss_end_bytes,rss_growth_pct,sockets_before,sockets_after,accepted,closed,verdict,why" \
  >"$out/summary.csv"
failures=0

sockets_of() { # pid -> open sockets (native)
  find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | wc -l
}
rss_of() { # pid -> resident bytes
  awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status" 2>/dev/null || echo 0
}
cpu_of() { # pid -> user + system seconds
  awk -v hz="$hz" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}
stat_of() { # file key -> the value of "key: value" in the server's final statistics
  awk -F': ' -v k="$2" '{ sub(/\r$/, "") } $1 == k { print $2; exit }' "$1"
}

soak_one() { # model platform connections minutes
  local model=$1 platform=$2 conns=$3 mins=$4
  local exe=("$bin/server-$model")
  if [ "$platform" = wine ]; then
    [ -f "$win_bin/server-$model.exe" ] || { echo "soak: no $win_bin/server-$model.exe (windows-cross preset)" >&2; return 1; }
    exe=("$root/cmake/wine-emulator.sh" "$win_bin/server-$model.exe")
  fi
  [ "$model" != select ] || [ "$platform" = wine ] || [ "$conns" -le 900 ] || conns=900
  local seconds warmup
  seconds=$(awk -v m="$mins" 'BEGIN { printf "%d", m * 60 }')
  # Warm-up: a tenth of the run, at least one sample and at most a minute.
  warmup=$(awk -v s="$seconds" -v p="$sample" 'BEGIN { w = s / 10; if (w > 60) w = 60; if (w < p) w = p; printf "%d", w }')
  local fifo=$tmp/stdin-$model
  mkfifo "$fifo"
  # The fifo is held open for writing here, so that the server sees no end of
  # input until "//q" is written.
  exec 3<>"$fifo"
  "${exe[@]}" --protocol "$protocol" --port 0 --quiet --max-connections $((conns + 64)) \
    <"$fifo" >"$out/server-$model.txt" 2>"$tmp/server-$model.err" &
  server_pid=$!
  local line="" port
  for _ in $(seq 300); do
    line=$(head -n 1 "$out/server-$model.txt" 2>/dev/null | tr -d '\r' || true)
    [ -n "$line" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! [[ $line =~ ^listening\ 127\.0\.0\.1:([0-9]+)\  ]]; then
    cat "$tmp/server-$model.err" >&2
    echo "soak: server-$model did not start" >&2
    exec 3>&-
    server_pid=""
    return 1
  fi
  port=${BASH_REMATCH[1]}
  sleep 1  # multi-listener models open their other listeners after the ready line
  local sockets_before sockets_after="" samples=$out/samples-$model.csv
  sockets_before=$(sockets_of "$server_pid")
  echo "elapsed_s,rss_bytes,sockets,cpu_s" >"$samples"
  printf 'soak: %-12s %-6s %5d connections, %s min ... ' "$model" "$platform" "$conns" "$mins"
  "$bin/loadgen" --target "127.0.0.1:$port" --protocol "$protocol" --connections "$conns" \
    --duration "${seconds}s" --quiet --csv "$out/loadgen.csv" --label "soak-$platform-$model" \
    >"$tmp/loadgen-$model.out" 2>&1 &
  local lg=$! start elapsed
  start=$(date +%s)
  while kill -0 "$lg" 2>/dev/null; do
    elapsed=$(($(date +%s) - start))
    echo "$elapsed,$(rss_of "$server_pid"),$(sockets_of "$server_pid"),$(cpu_of "$server_pid")" >>"$samples"
    sleep "$sample"
  done
  local lg_exit=0
  wait "$lg" || lg_exit=$?
  sleep 2
  [ "$platform" = wine ] || sockets_after=$(sockets_of "$server_pid")
  echo "//q" >&3
  exec 3>&-
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  rm -f "$fifo"

  # The warm RSS is the first sample at or after the warm-up; the end RSS the
  # last sample taken while the load ran.
  local rss_warm rss_end
  rss_warm=$(awk -F, -v w="$warmup" 'NR > 1 && $1 >= w { print $2; exit }' "$samples")
  rss_end=$(awk -F, 'NR > 1 { v = $2 } END { print v }' "$samples")
  local growth
  growth=$(awk -v a="${rss_warm:-0}" -v b="${rss_end:-0}" 'BEGIN { if (a > 0) printf "%.1f", (b - a) * 100 / a; else print "" }')
  local requests lg_errors
  requests=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } END { print $c["requests"] }' "$out/loadgen.csv")
  lg_errors=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } END { print $c["errors"] }' "$out/loadgen.csv")
  local server_errors
  server_errors=$(awk -F': ' '{ sub(/\r$/, "") } /^errors\./ { n += $2 } END { print n + 0 }' \
    "$out/server-$model.txt")
  local accepted closed
  accepted=$(stat_of "$out/server-$model.txt" accepted)
  closed=$(stat_of "$out/server-$model.txt" closed)

  local why=()
  [ "$lg_exit" = 0 ] || why+=("loadgen exited $lg_exit")
  [ "${lg_errors:-1}" = 0 ] || why+=("loadgen errors ${lg_errors:-?}")
  [ "$server_errors" = 0 ] || why+=("server errors $server_errors")
  [ -n "$growth" ] || why+=("no RSS sample after the warm-up")
  [ -z "$growth" ] || awk -v g="$growth" -v m="$rss_growth" 'BEGIN { exit !(g <= m) }' ||
    why+=("RSS grew $growth % after warm-up")
  [ "$platform" = wine ] || [ "$sockets_after" = "$sockets_before" ] ||
    why+=("sockets $sockets_before before, $sockets_after after")
  [ -n "$accepted" ] && [ "$accepted" = "$closed" ] || why+=("accepted ${accepted:-?} != closed ${closed:-?}")
  local verdict=pass
  if [ "${#why[@]}" -gt 0 ]; then verdict=fail; failures=$((failures + 1)); fi
  local why_text
  why_text=$(IFS=';'; echo "${why[*]:-}")
  echo "$verdict  requests ${requests:-?}, RSS ${rss_warm:-?} -> ${rss_end:-?} B (${growth:-?} %), sockets ${sockets_before}/${sockets_after:-n/a}${why_text:+  ($why_text)}"
  echo "$model,$platform,$conns,$mins,$lg_exit,${requests:-},${lg_errors:-},$server_errors,${rss_warm:-},${rss_end:-},$growth,$sockets_before,${sockets_after:-},${accepted:-},${closed:-},$verdict,\"$why_text\"" \
    >>"$out/summary.csv"
}

IFS=, read -r -a native_list <<<"$models"
IFS=, read -r -a wine_list <<<"$wine_models"
for m in "${native_list[@]}"; do
  [ -n "$m" ] || continue
  soak_one "$m" native "$connections" "$minutes" || failures=$((failures + 1))
done
for m in "${wine_list[@]}"; do
  [ -n "$m" ] || continue
  soak_one "$m" wine "$wine_connections" "$wine_minutes" || failures=$((failures + 1))
done
echo "soak: wrote $out/summary.csv"
[ "$failures" = 0 ]
