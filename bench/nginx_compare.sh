#!/usr/bin/env bash
# Compares server-epoll and server-uring (or any POSIX models, --servers) with
# nginx on HTTP plaintext, driven by wrk, on this machine (loopback only).
#
# nginx runs from a configuration generated into a temporary folder: one
# worker, access_log off, `return 200 "Hello, World!"` (13-byte body),
# keep-alive without a request limit (as the wsbench servers have none), a
# free 127.0.0.1 port, pid file and logs in the temporary folder, as the
# current user. The wsbench servers run with --protocol http --threads 1
# --quiet --max-connections <largest wrk -c + 16> (so that a model's default
# cap, e.g. select's 960, does not turn wrk's connections away). Every
# target is driven by the same wrk command (same threads,
# connections and duration); the runs are interleaved, round by round
# (nginx epoll uring nginx epoll uring ...), so that drift of the machine
# (other load, frequency, caches) hits all targets alike. Each wrk run is
# bounded by `timeout`; everything started is killed on exit.
#
# Output: per connection count, each target's median requests/s over the
# rounds, its ratio to nginx's median, and the target's own CPU time per
# request (utime+stime of the serving process / requests), which shows the
# efficiency even where the load generator, not the server, limits the rate,
# split into user and system (kernel) time. On loopback most of a server's
# time per request is the kernel's TCP work (its recv and send, and the
# delivery of its replies into wrk's socket), which no server code avoids:
# the summary therefore also prints two upper bounds of the ratio to nginx
# that this machine allows, whatever a server does in user space:
#   kernel bound  nginx's CPU per request / the lowest system time per request
#                 of any target (a server whose user time were zero)
#   wrk bound     nginx's CPU per request / wrk's lowest CPU per request, or 1
#                 if that is less: with --pin (one core each) no target
#                 answers faster than 1 s / wrk's CPU per request, and nginx
#                 answers at 1 s / the larger of its own and wrk's, so no
#                 target can beat nginx by more (wrk's CPU time is measured
#                 with /usr/bin/time when it is installed)
# Both bounds divide CPU times per request, which depend far less on other
# work on the machine than the rates do.
#
# CSV (results/nginx-compare/<UTC time>.csv), one row per wrk run:
#   time_utc        start of the run, ISO 8601
#   round           1..N
#   target          nginx, or a model name (epoll, uring, ...)
#   connections     wrk -c
#   wrk_threads     wrk -t
#   duration_s      wrk -d
#   requests        requests wrk completed
#   requests_per_s  wrk's "Requests/sec"
#   non_2xx         wrk's "Non-2xx or 3xx responses" (0 when absent)
#   socket_errors   sum of wrk's "Socket errors" (connect+read+write+timeout)
#   server_cpu_s    user+system CPU seconds of the serving process during the run
#   cpu_us_per_request  server_cpu_s * 1e6 / requests
#   load_1min       the machine's 1-minute load average when the run started
#                   (other work on the machine; above the CPU count, the
#                   scheduler's shares, not the servers, decide the rates)
#   nice            the nice value the servers and wrk ran at (0, or -20 with --nice)
#   user_us_per_request  the serving process's user CPU time per request
#   sys_us_per_request   its system CPU time per request
#   wrk_cpu_us_per_request  wrk's user+system CPU time per request (empty
#                   without /usr/bin/time)
# and a summary file <UTC time>-summary.csv:
#   target,connections,rounds,median_requests_per_s,min_requests_per_s,
#   max_requests_per_s,ratio_to_nginx,median_cpu_us_per_request,
#   median_user_us_per_request,median_sys_us_per_request,
#   median_wrk_cpu_us_per_request
#
# Options:
#   --duration S        seconds per wrk run (default 5)
#   --rounds N          interleaved rounds (default 3)
#   --connections LIST  comma-separated wrk connection counts (default 10,100,1000)
#   --wrk-threads N     wrk -t (default 1: with one server thread on a 2-core
#                       machine, one core each)
#   --servers LIST      comma-separated models to compare (default epoll,uring;
#                       any of threads,nonblocking,select,poll,epoll,uring)
#   --bin-dir DIR       where the server-<model> programs are (default build/linux/bin)
#   --out-dir DIR       where the CSV files go (default results/nginx-compare)
#   --pin               pin the servers to CPU 1 and wrk to CPU 0 (taskset)
#   --nice              run nginx, the servers and wrk at nice -20 (needs root
#                       or CAP_SYS_NICE), so that other work on a shared
#                       machine gets only what they leave over: close to an
#                       idle machine without stopping anyone's jobs
#   -h, --help
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
duration=5
rounds=3
connections=10,100,1000
wrk_threads=1
bin_dir=$root/build/linux/bin
out_dir=$root/results/nginx-compare
pin=0
nice_level=""
servers=epoll,uring

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "nginx_compare: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=${2:?}; shift ;;
    --rounds) rounds=${2:?}; shift ;;
    --connections) connections=${2:?}; shift ;;
    --servers) servers=${2:?}; shift ;;
    --wrk-threads) wrk_threads=${2:?}; shift ;;
    --bin-dir) bin_dir=${2:?}; shift ;;
    --out-dir) out_dir=${2:?}; shift ;;
    --pin) pin=1 ;;
    --nice) nice_level=-20 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done

[[ $duration =~ ^[1-9][0-9]*$ ]] || die "--duration takes whole seconds"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds takes a positive number"
[[ $wrk_threads =~ ^[1-9][0-9]*$ ]] || die "--wrk-threads takes a positive number"
[[ $connections =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--connections takes a list like 10,100,1000"
IFS=, read -r -a conn_list <<<"$connections"
[[ $servers =~ ^[a-z_]+(,[a-z_]+)*$ ]] || die "--servers takes a list like epoll,uring"
IFS=, read -r -a server_list <<<"$servers"
max_conn=0
for c in "${conn_list[@]}"; do [ "$c" -gt "$max_conn" ] && max_conn=$c; done
for c in "${conn_list[@]}"; do
  [ "$c" -ge "$wrk_threads" ] || die "wrk needs at least as many connections ($c) as threads ($wrk_threads)"
done

command -v wrk >/dev/null || die "wrk is not installed (Debian package wrk)"
nginx_bin=$(command -v nginx || true)
[ -n "$nginx_bin" ] || [ ! -x /usr/sbin/nginx ] || nginx_bin=/usr/sbin/nginx
[ -n "$nginx_bin" ] || die "nginx is not installed (Debian package nginx-light)"
for s in "${server_list[@]}"; do
  [ -x "$bin_dir/server-$s" ] || die "$bin_dir/server-$s not found: build it or pass --bin-dir"
done
if [ "$pin" = 1 ]; then
  command -v taskset >/dev/null || die "--pin needs taskset (util-linux)"
  [ "$(nproc)" -ge 2 ] || die "--pin needs two CPUs"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nginx-compare.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # nginx's master stops its worker on SIGTERM (QUIT would wait for clients).
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

server_prefix=()
wrk_prefix=()
if [ -n "$nice_level" ]; then
  nice -n "$nice_level" true 2>/dev/null && [ "$(nice -n "$nice_level" nice)" = "$nice_level" ] ||
    die "--nice needs root or CAP_SYS_NICE"
  server_prefix=(nice -n "$nice_level")
  wrk_prefix=(nice -n "$nice_level")
fi
if [ "$pin" = 1 ]; then
  server_prefix+=(taskset -c 1)
  wrk_prefix+=(taskset -c 0)
fi

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (bounded) until something answers HTTP on the port.
wait_http() { # port
  for _ in $(seq 100); do
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# nginx, as the current user. The "user" directive is only valid when the
# master runs as root; then it keeps the worker as root too, i.e. the
# current user.
start_nginx() {
  local port user_line=""
  port=$(free_port)
  [ "$(id -u)" = 0 ] && user_line="user root;"
  mkdir -p "$tmp/nginx"
  cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes 1;
$user_line
daemon off;
master_process on;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$port;
    location / { default_type text/plain; return 200 "Hello, World!"; }
  }
}
EOF
  "${server_prefix[@]}" "$nginx_bin" -e "$tmp/nginx/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" \
    >"$tmp/nginx/stdout" 2>&1 &
  pids+=($!)
  nginx_master=$!
  wait_http "$port" || { cat "$tmp/nginx/error.log" >&2 || true; die "nginx did not start"; }
  nginx_port=$port
  nginx_worker=$(pgrep -P "$nginx_master" | head -n 1)
  [ -n "$nginx_worker" ] || die "cannot find nginx's worker process"
  local body
  body=$(curl -s "http://127.0.0.1:$port/")
  [ "$body" = "Hello, World!" ] || die "nginx answers '$body', not Hello, World!"
}

declare -A port_of pid_of
start_server() { # name
  local name=$1 out=$tmp/server-$1.out
  "${server_prefix[@]}" "$bin_dir/server-$name" --protocol http --threads 1 --quiet --port 0 \
    --max-connections $((max_conn + 16)) </dev/null >"$out" 2>"$tmp/server-$name.err" &
  local pid=$!
  pids+=("$pid")
  local line=""
  for _ in $(seq 100); do
    line=$(head -n 1 "$out" 2>/dev/null || true)
    [ -n "$line" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ $line =~ ^listening\ 127\.0\.0\.1:([0-9]+)\  ]] ||
    { cat "$tmp/server-$name.err" >&2; die "server-$name did not start"; }
  port_of[$name]=${BASH_REMATCH[1]}
  pid_of[$name]=$pid
  wait_http "${port_of[$name]}" || die "server-$name does not answer HTTP"
}

cpu_ticks() { # pid -> "utime stime" in clock ticks
  awk '{ print $14, $15 }' "/proc/$1/stat"
}
# wrk's own CPU time, when GNU time is there to measure it.
wrk_timer=()
[ -x /usr/bin/time ] && wrk_timer=(/usr/bin/time -f '%U %S' -o "$tmp/wrk.time")

start_nginx
port_of[nginx]=$nginx_port
pid_of[nginx]=$nginx_worker
targets=(nginx)
for s in "${server_list[@]}"; do
  start_server "$s"
  targets+=("$s")
done
hz=$(getconf CLK_TCK)

mkdir -p "$out_dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
csv=$out_dir/$stamp.csv
summary=$out_dir/$stamp-summary.csv
echo "time_utc,round,target,connections,wrk_threads,duration_s,requests,requests_per_s,non_2xx,socket_errors,server_cpu_s,cpu_us_per_request,load_1min,nice,user_us_per_request,sys_us_per_request,wrk_cpu_us_per_request" >"$csv"

echo "nginx_compare: $("$nginx_bin" -v 2>&1 | sed 's/.*: //'), wrk -t$wrk_threads -d${duration}s," \
  "connections $connections, $rounds rounds, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" \
  "${nice_level:+, nice $nice_level}"

for ((round = 1; round <= rounds; ++round)); do
  for c in "${conn_list[@]}"; do
    for t in "${targets[@]}"; do
      when=$(date -u +%Y-%m-%dT%H:%M:%SZ)
      load=$(cut -d' ' -f1 /proc/loadavg)
      read -r user_before sys_before < <(cpu_ticks "${pid_of[$t]}")
      rm -f "$tmp/wrk.time"
      out=$tmp/wrk.out
      # The bound: wrk's own duration, its connection set-up and a margin.
      if ! timeout $((duration + 30)) "${wrk_prefix[@]}" "${wrk_timer[@]}" wrk -t"$wrk_threads" -c"$c" -d"${duration}s" \
        "http://127.0.0.1:${port_of[$t]}/" >"$out" 2>&1; then
        cat "$out" >&2
        die "wrk against $t failed or timed out"
      fi
      read -r user_after sys_after < <(cpu_ticks "${pid_of[$t]}")
      wrk_cpu=""
      [ -s "$tmp/wrk.time" ] && wrk_cpu=$(awk 'NF == 2 && $1 ~ /^[0-9.]+$/ { print $1 + $2 }' "$tmp/wrk.time" | tail -n 1)
      requests=$(awk '/ requests in /{ print $1 }' "$out")
      rps=$(awk '/^Requests\/sec:/{ print $2 }' "$out")
      non2xx=$(awk '/Non-2xx or 3xx responses:/{ print $NF }' "$out")
      sockerr=$(awk '/Socket errors:/{ gsub(",", ""); print $4 + $6 + $8 + $10 }' "$out")
      [ -n "$requests" ] && [ -n "$rps" ] || { cat "$out" >&2; die "cannot read wrk's output"; }
      awk -v w="$when" -v r="$round" -v t="$t" -v c="$c" -v th="$wrk_threads" -v d="$duration" \
        -v n="$requests" -v rps="$rps" -v x="${non2xx:-0}" -v e="${sockerr:-0}" \
        -v ut="$((user_after - user_before))" -v st="$((sys_after - sys_before))" -v hz="$hz" \
        -v load="$load" -v nice="${nice_level:-0}" -v wc="$wrk_cpu" 'BEGIN {
          s = (ut + st) / hz
          per = n > 0 ? 1e6 / n : 0
          printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%.2f,%.2f,%s,%s,%.2f,%.2f,%s\n", w, r, t, c, th, d, n,
                 rps, x, e, s, s * per, load, nice, ut / hz * per, st / hz * per,
                 (wc == "" ? "" : sprintf("%.2f", wc * per))
        }' >>"$csv"
      printf '  round %d  c=%-5s %-11s %10s req/s  non-2xx %s  socket errors %s\n' \
        "$round" "$c" "$t" "$rps" "${non2xx:-0}" "${sockerr:-0}"
      if [ "${non2xx:-0}" != 0 ] || [ "${sockerr:-0}" != 0 ]; then
        grep -E 'Socket errors|Non-2xx' "$out" | sed 's/^/      wrk: /'
      fi
    done
  done
done

# Medians per target and connection count, and the ratios to nginx.
/usr/bin/python3 - "$csv" "$summary" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
groups = {}
for r in rows:
    groups.setdefault((r["target"], int(r["connections"])), []).append(r)
conns = sorted({c for _, c in groups})
targets = list(dict.fromkeys(r["target"] for r in rows))  # in the order they ran


def median_of(g, key):
    values = [float(r[key]) for r in g if r.get(key, "") != ""]
    return statistics.median(values) if values else None


def text(v, width, digits=2):
    return f"{v:>{width}.{digits}f}" if v is not None else f"{'-':>{width}}"


with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["target", "connections", "rounds", "median_requests_per_s", "min_requests_per_s",
                "max_requests_per_s", "ratio_to_nginx", "median_cpu_us_per_request",
                "median_user_us_per_request", "median_sys_us_per_request",
                "median_wrk_cpu_us_per_request"])
    print()
    print(f"{'connections':>11}  {'target':<11} {'median req/s':>13} {'min':>10} {'max':>10}"
          f" {'x nginx':>8} {'cpu us/req':>10} {'user':>6} {'sys':>6} {'wrk us/req':>10}")
    bounds = []
    for c in conns:
        base = statistics.median(float(r["requests_per_s"]) for r in groups[("nginx", c)])
        lowest_sys = None
        for t in targets:
            g = groups[(t, c)]
            rps = [float(r["requests_per_s"]) for r in g]
            med = statistics.median(rps)
            cpu = median_of(g, "cpu_us_per_request")
            user = median_of(g, "user_us_per_request")
            sys_us = median_of(g, "sys_us_per_request")
            wrk = median_of(g, "wrk_cpu_us_per_request")
            ratio = med / base if base > 0 else 0.0
            if sys_us is not None and (lowest_sys is None or sys_us < lowest_sys):
                lowest_sys = sys_us
            w.writerow([t, c, len(g), f"{med:.0f}", f"{min(rps):.0f}", f"{max(rps):.0f}",
                        f"{ratio:.3f}", f"{cpu:.2f}",
                        "" if user is None else f"{user:.2f}",
                        "" if sys_us is None else f"{sys_us:.2f}",
                        "" if wrk is None else f"{wrk:.2f}"])
            print(f"{c:>11}  {t:<11} {med:>13.0f} {min(rps):>10.0f} {max(rps):>10.0f}"
                  f" {ratio:>8.2f} {text(cpu, 10)} {text(user, 6)} {text(sys_us, 6)}"
                  f" {text(wrk, 10)}")
        nginx_cpu = median_of(groups[("nginx", c)], "cpu_us_per_request")
        wrk_best = [median_of(groups[(t, c)], "wrk_cpu_us_per_request") for t in targets]
        wrk_best = [v for v in wrk_best if v]
        kernel = nginx_cpu / lowest_sys if nginx_cpu and lowest_sys else None
        wrk_low = min(wrk_best) if wrk_best else None
        # Where wrk costs more per request than nginx, wrk limits nginx too: 1.
        wrk_bound = max(1.0, nginx_cpu / wrk_low) if wrk_low and nginx_cpu else None
        bounds.append((c, kernel, lowest_sys, nginx_cpu, wrk_bound, wrk_low))
    print()
    print("Upper bounds of the ratio to nginx on this machine (see --help):")
    for c, kernel, lowest_sys, nginx_cpu, wrk_bound, wrk_low in bounds:
        k = (f"kernel bound {kernel:.2f}x (nginx {nginx_cpu:.2f} us/req, lowest sys "
             f"{lowest_sys:.2f} us/req)") if kernel else "kernel bound -"
        b = (f"wrk bound {wrk_bound:.2f}x (wrk {wrk_low:.2f} us/req)" if wrk_bound
             else "wrk bound -")
        print(f"  c={c:<6} {k}; {b}")
bad = [r for r in rows if int(r["non_2xx"]) or int(r["socket_errors"])]
if bad:
    print(f"\nwarning: {len(bad)} runs had non-2xx responses or socket errors (see the CSV)")
EOF
echo
echo "nginx_compare: wrote $csv and $summary"
