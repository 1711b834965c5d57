#!/usr/bin/env bash
# wrk smoke test of one server model in HTTP mode (registered with CTest by
# servers/posix/wrk_smoke.cmake).
#
#   tests/wrk_smoke.sh [--duration S] [--connections N] [--wrk PATH] SERVER [SERVER ARGS...]
#
# Starts SERVER --protocol http --port 0 --quiet [SERVER ARGS], drives it with
# wrk for a few seconds on 127.0.0.1, stops it with "//q" on its stdin, and
# fails when:
#   - the server does not print its ready line within 10 s, or exits non-zero;
#   - wrk fails, completes no request, or reports any "Non-2xx or 3xx
#     responses" or any "Socket errors" (connect, read, write, timeout);
#   - the server's final statistics count a protocol error (malformed,
#     oversized, unsupported), i.e. it misread wrk's requests.
# Every wait is bounded; the server is killed on any exit path.
set -euo pipefail

duration=3
connections=50
wrk=wrk
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=${2:?}; shift ;;
    --connections) connections=${2:?}; shift ;;
    --wrk) wrk=${2:?}; shift ;;
    --) shift; break ;;
    -*) echo "wrk_smoke: unknown option '$1'" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
[ $# -ge 1 ] || { echo "usage: wrk_smoke.sh [options] SERVER [SERVER ARGS...]" >&2; exit 2; }
server=$1
shift
command -v "$wrk" >/dev/null || { echo "wrk_smoke: FAIL: wrk is not installed (Debian package wrk)"; exit 1; }
[ -x "$server" ] || { echo "wrk_smoke: FAIL: $server is not an executable"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wrk-smoke.XXXXXX")
server_pid=""
cleanup() {
  exec 3>&- 2>/dev/null || true
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "wrk_smoke: FAIL: $*"; exit 1; }

# The server's stdin is a FIFO held open by this script, so that "//q" can be
# written to it and so that the server does not see end of input early.
mkfifo "$tmp/stdin"
"$server" --protocol http --port 0 --quiet "$@" <"$tmp/stdin" >"$tmp/out" 2>"$tmp/err" &
server_pid=$!
exec 3>"$tmp/stdin"

port=""
for _ in $(seq 100); do
  if [[ $(head -n 1 "$tmp/out" 2>/dev/null) =~ ^listening\ 127\.0\.0\.1:([0-9]+)\  ]]; then
    port=${BASH_REMATCH[1]}
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/err"; fail "no ready line from $(basename "$server")"; }

threads=2
[ "$connections" -ge "$threads" ] || threads=1
set +e
timeout $((duration + 20)) "$wrk" -t"$threads" -c"$connections" -d"${duration}s" \
  "http://127.0.0.1:$port/" >"$tmp/wrk" 2>&1
wrk_status=$?
set -e
cat "$tmp/wrk"
[ "$wrk_status" = 0 ] || fail "wrk exited with status $wrk_status"

requests=$(awk '/ requests in /{ print $1 }' "$tmp/wrk")
non2xx=$(awk '/Non-2xx or 3xx responses:/{ print $NF }' "$tmp/wrk")
socket_errors=$(awk '/Socket errors:/{ gsub(",", ""); print $4 + $6 + $8 + $10 }' "$tmp/wrk")

echo "//q" >&3
exec 3>&-
status=""
for _ in $(seq 100); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    set +e
    wait "$server_pid"
    status=$?
    set -e
    break
  fi
  sleep 0.1
done
[ -n "$status" ] || fail "the server did not stop within 10 s of //q"
server_pid=""
cat "$tmp/out"

[ -n "$requests" ] || fail "cannot read wrk's request count"
[ "$requests" -gt 0 ] || fail "wrk completed no request"
[ -z "$non2xx" ] || fail "$non2xx non-2xx responses"
[ -z "$socket_errors" ] || [ "$socket_errors" = 0 ] || fail "$socket_errors socket errors"
[ "$status" = 0 ] || { cat "$tmp/err"; fail "the server exited with status $status"; }
for key in errors.malformed errors.oversized errors.unsupported; do
  value=$(awk -v k="$key" -F': ' '$1 == k { print $2 }' "$tmp/out")
  [ -n "$value" ] || fail "the final statistics have no $key"
  [ "$value" = 0 ] || fail "the server counted $key: $value"
done
echo "wrk_smoke: ok: $requests requests, no errors"
