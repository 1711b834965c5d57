#!/bin/sh
# loadgen_iocp.sh: runs the Windows load generator (loadgen.exe, IOCP engine)
# under Wine against a native server for one wire protocol, and passes when
# the run got responses, every one verified by the client driver, with no
# error of any kind (refused or failed connects, resets, closes, timeouts,
# mismatches), on the iocp engine.
#
#   loadgen_iocp.sh --loadgen EXE --server PROGRAM --emulator WINE_WRAPPER
#                   --protocol upper|echo|http [--connections N] [--duration D]
#
# Every step is bounded: the server must print its ready line within 10 s,
# loadgen.exe must finish within 120 s, and the server is started with its
# own --duration so that it cannot outlive the test even if this script is
# killed.
set -u

loadgen=
server=
emulator=
protocol=
connections=16
duration=2s
while [ $# -gt 0 ]; do
  case "$1" in
    --loadgen) loadgen=$2; shift 2 ;;
    --server) server=$2; shift 2 ;;
    --emulator) emulator=$2; shift 2 ;;
    --protocol) protocol=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    *) echo "loadgen_iocp: unknown argument $1" >&2; exit 2 ;;
  esac
done

[ -n "$loadgen" ] && [ -n "$server" ] && [ -n "$emulator" ] && [ -n "$protocol" ] ||
  { echo "loadgen_iocp: --loadgen, --server, --emulator and --protocol are required" >&2; exit 2; }

# loadgen.exe runs in a work folder below, so relative paths are made absolute.
absolute() {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$PWD" "$1" ;;
  esac
}
loadgen=$(absolute "$loadgen")
server=$(absolute "$server")
emulator=$(absolute "$emulator")

fail() {
  echo "loadgen_iocp: FAIL ($protocol): $*" >&2
  exit 1
}

if [ ! -f "$loadgen" ]; then
  fail "$loadgen does not exist. Build the Windows load generator with the windows-cross preset:" \
    "cmake --preset windows-cross && cmake --build --preset windows-cross --target loadgen" \
    "(or configure this build with -DWSB_WINDOWS_BIN_DIR=<folder that holds loadgen.exe>)."
fi
if [ ! -x "$server" ]; then
  fail "the native server $server does not exist. Build it in this build folder:" \
    "cmake --build <build folder> --target $(basename "$server")."
fi
command -v wine >/dev/null 2>&1 || fail "wine is not installed (apt-get install wine)."

work=$(mktemp -d "${TMPDIR:-/tmp}/loadgen_iocp.XXXXXX") || fail "mktemp failed"
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Port 0: the system picks a free port, which the ready line reports.
"$server" --bind 127.0.0.1 --port 0 --protocol "$protocol" --quiet --duration 150s \
  >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
port=
i=0
while [ $i -lt 100 ]; do
  port=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$work/server.out")
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
  i=$((i + 1))
done
if [ -z "$port" ]; then
  cat "$work/server.err" >&2
  fail "the server printed no ready line within 10 s."
fi

# The CSV row is read by column name; loadgen.exe runs in the work folder so
# that a relative file name needs no Windows path translation.
(cd "$work" && timeout 120 "$emulator" "$loadgen" --target "127.0.0.1:$port" \
  --protocol "$protocol" --connections "$connections" --duration "$duration" \
  --engine iocp --quiet --csv result.csv) >"$work/loadgen.out" 2>&1
rc=$?
tr -d '\r' <"$work/loadgen.out"
case $rc in
  0) ;;
  124) fail "loadgen.exe did not finish within 120 s." ;;
  *) fail "loadgen.exe exited with $rc (1: errors or a run-time failure, 2: usage)." ;;
esac
[ -f "$work/result.csv" ] || fail "loadgen.exe wrote no CSV row."

# Prints the value of column $1 of the CSV row (RFC 4180 quoting).
column() {
  awk -v key="$1" '
    function split_csv(line, out,    n, i, c, field, quoted) {
      n = 0; field = ""; quoted = 0
      for (i = 1; i <= length(line); i++) {
        c = substr(line, i, 1)
        if (quoted) {
          if (c == "\"") {
            if (substr(line, i + 1, 1) == "\"") { field = field "\""; i++ } else quoted = 0
          } else field = field c
        } else if (c == "\"") quoted = 1
        else if (c == ",") { out[++n] = field; field = "" }
        else field = field c
      }
      out[++n] = field
      return n
    }
    { sub(/\r$/, "") }
    NR == 1 { header_count = split_csv($0, header); next }
    NR == 2 {
      split_csv($0, value)
      for (i = 1; i <= header_count; i++) if (header[i] == key) print value[i]
      exit
    }' "$work/result.csv"
}

engine=$(column engine)
responses=$(column responses)
errors=$(column errors)
rate=$(column requests_per_s)
[ "$engine" = iocp ] || fail "the run used engine '$engine', not iocp."
case $responses in '' | *[!0-9]*) fail "no responses count in the CSV row ('$responses')." ;; esac
[ "$responses" -gt 0 ] || fail "no response arrived."
[ "$errors" = 0 ] || fail "$errors error(s) during the run."
echo "loadgen_iocp: OK ($protocol): $responses verified responses, $rate requests/s, 0 errors"
