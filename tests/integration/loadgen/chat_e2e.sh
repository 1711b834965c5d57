#!/bin/sh
# loadgen --protocol chat end to end over real sockets, with one engine:
# 200 users in groups of 10, a fifth of the messages private, against
# chat_test_server (a minimal chat server over the portable chat core). A
# clean run has deliveries and exits 0 with nothing lost, duplicated or
# reordered; against a server that drops one delivery it reports it lost and
# exits 1. Every run lasts about two seconds, the lossy one up to its
# --timeout more (the drain waits for the delivery that never comes).
#
# Usage: chat_e2e.sh LOADGEN CHAT_TEST_SERVER ENGINE
set -u
loadgen=$1 server=$2 engine=$3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fail() { echo "FAIL: $*"; cat "$out"; exit 1; }

run() {
  "$loadgen" --spawn "$server" --protocol chat --engine "$engine" -c 200 --group-size 10 \
    --private-share 0.2 --pipeline 2 -d 2s --timeout 3s --threads 2 -q "$@" >"$out" 2>&1
}

run
code=$?
[ "$code" -eq 0 ] || fail "clean run: exit $code, expected 0"
grep -q "lost 0, duplicated 0, reordered 0" "$out" || fail "clean run: errors in the summary"
deliveries=$(sed -n 's/^  Deliveries: \([0-9]*\) .*/\1/p' "$out")
[ -n "$deliveries" ] && [ "$deliveries" -gt 1000 ] || fail "clean run: $deliveries deliveries"
grep -q "Delivery latency (send to each recipient) ([1-9][0-9]* samples)" "$out" ||
  fail "clean run: no delivery latency"
echo "clean run: $deliveries deliveries, none lost, duplicated or reordered"

run -- --lose 1000
code=$?
[ "$code" -eq 1 ] || fail "lossy run: exit $code, expected 1"
grep -q "lost 1, duplicated 0, reordered 0" "$out" || fail "lossy run: the loss was not reported"
echo "lossy run: the dropped delivery was reported lost, exit 1"
