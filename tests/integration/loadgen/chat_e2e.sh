#!/bin/sh
# loadgen --protocol chat end to end over real sockets, with one engine:
# 200 users in groups of 10, a fifth of the messages private, against a chat
# server that this script starts on a free loopback port and stops (any
# wsbench server that takes --port 0 --protocol chat, prints the ready line
# and stops on "//q"). A clean run has deliveries and exits 0 with nothing
# lost, duplicated or reordered. Against chat_test_server (a minimal server
# over the portable chat core) a second run has the server drop one
# delivery: loadgen reports it lost and exits 1. Each run lasts about two seconds, the lossy one up to its --timeout more
# (the drain waits for the delivery that never comes).
#
# Usage: chat_e2e.sh SERVER ENGINE LOADGEN [PROGRAM ARGS...]
# LOADGEN and what follows is how to run loadgen: the Linux binary, or
# cmake/wine-emulator.sh with the Windows one (engine iocp).
set -u
server=$1 engine=$2
shift 2
dir=$(mktemp -d)
out=$dir/out
trap 'exec 3>&- ; wait; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; cat "$out"; exit 1; }

# Starts the server with its stdin on a FIFO held open by descriptor 3 (it
# stops on "//q" or at the end of its input) and sets $port from its ready line.
start_server() {
  rm -f "$dir/in" "$dir/ready"
  mkfifo "$dir/in"
  "$server" --port 0 --protocol chat "$@" <"$dir/in" >"$dir/ready" &
  exec 3>"$dir/in"
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening 127.0.0.1:\([0-9]*\)[ ]*.*/\1/p' "$dir/ready" | head -n 1)
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  fail "$server did not get ready"
}
stop_server() {
  echo "//q" >&3
  exec 3>&-
  wait
}

run() {
  "$@" --target "127.0.0.1:$port" --protocol chat --engine "$engine" -c 200 --group-size 10 \
    --private-share 0.2 --pipeline 2 -d 2s --timeout 3s --threads 2 -q >"$out" 2>&1
}

start_server
run "$@"
code=$?
stop_server
[ "$code" -eq 0 ] || fail "clean run: exit $code, expected 0"
grep -q "lost 0, duplicated 0, reordered 0" "$out" || fail "clean run: errors in the summary"
deliveries=$(sed -n 's/^  Deliveries: \([0-9]*\) .*/\1/p' "$out" | tr -d '\r')
[ -n "$deliveries" ] && [ "$deliveries" -gt 1000 ] || fail "clean run: $deliveries deliveries"
grep -q "Delivery latency (send to each recipient) ([1-9][0-9]* samples)" "$out" ||
  fail "clean run: no delivery latency"
echo "clean run ($engine): $deliveries deliveries, none lost, duplicated or reordered"

# Only the test server can lose a delivery on purpose.
case $(basename "$server") in
  chat_test_server*) ;;
  *) exit 0 ;;
esac
start_server --lose 1000
run "$@"
code=$?
stop_server
[ "$code" -eq 1 ] || fail "lossy run: exit $code, expected 1"
grep -q "lost 1, duplicated 0, reordered 0" "$out" || fail "lossy run: the loss was not reported"
echo "lossy run ($engine): the dropped delivery was reported lost, exit 1"
