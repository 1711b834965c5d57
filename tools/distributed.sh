#!/usr/bin/env bash
# Runs one loadgen per host as the shards of one distributed run, starting
# their load at the same wall-clock time, collects their logs and merges
# them exactly (docs/distributed.md):
#
#   tools/distributed.sh [OPTIONS] HOSTS -- LOADGEN ARGS...
#
# HOSTS is a pdsh host list ("a,b,c", "load[1-4]"); host k of the expanded,
# sorted list is shard k of N. pdsh fans the shards out with its exec
# module, which runs the per-shard script written into the output folder
# once per host, in parallel, with the host's name (%h): pdsh's ssh module
# would run one command line on every host, and each shard needs its own
# index. The script reaches its host with ssh (or, with --via local, runs
# loadgen here, which is how the test drives four "hosts" on one machine). In LOADGEN ARGS, %h
# stands for the shard's host and %i for its index, e.g. "--source %h".
#
# Every shard gets --shard i/N --start-at T --tag HOST:i --hlog --csv --quiet;
# T is now + --start-in, the same for all. The hosts' clocks must agree to
# well within the precision you want (NTP or chrony; each shard's CSV and the
# merge report its achieved start offset). Exit status: 0 when every shard
# and the merge succeeded; else the largest shard exit status (loadgen's
# codes), or that of the merge; 2 for a usage error.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: tools/distributed.sh [OPTIONS] HOSTS -- LOADGEN ARGS...
  --out DIR         folder for the shards' files and the merge (default: results/distributed/<UTC time>)
  --start-in D      seconds from now to the common start time (default 10; enough for pdsh and ssh)
  --via ssh|local   reach each host with ssh (default) or run its loadgen here (testing)
  --loadgen PATH    loadgen on the hosts (default: loadgen on PATH; --via local: build/linux/bin/loadgen)
  --hdrtool PATH    hdrtool here, for the merge (default: build/linux/bin/hdrtool, else on PATH)
  --remote-dir DIR  ssh: where the shards write on their hosts (default /tmp/wsbench-distributed)
In LOADGEN ARGS, %h is the shard's host and %i its index (0..N-1).
USAGE
}

die_usage() {
  echo "distributed.sh: $*" >&2
  echo >&2
  usage >&2
  exit 2
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="" start_in=10 via=ssh loadgen="" hdrtool="" remote_dir=/tmp/wsbench-distributed hosts=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?}; shift 2 ;;
    --start-in) start_in=${2:?}; shift 2 ;;
    --via) via=${2:?}; shift 2 ;;
    --loadgen) loadgen=${2:?}; shift 2 ;;
    --hdrtool) hdrtool=${2:?}; shift 2 ;;
    --remote-dir) remote_dir=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    -*) die_usage "unknown option $1" ;;
    *) [ -z "$hosts" ] || die_usage "one HOSTS list only (got $hosts and $1)"; hosts=$1; shift ;;
  esac
done
[ -n "$hosts" ] || die_usage "no HOSTS"
[ $# -gt 0 ] || die_usage "no LOADGEN ARGS after --"
case "$via" in ssh|local) ;; *) die_usage "--via ssh or local, not $via" ;; esac
[[ "$start_in" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die_usage "--start-in takes seconds, not $start_in"
for a in "$@"; do
  case "$a" in
    --shard|--shard=*|--start-at|--start-at=*|--tag|--tag=*|--hlog|--hlog=*|--csv|--csv=*|--spawn|--spawn=*)
      die_usage "$a is set per shard by distributed.sh (or, for --spawn, cannot be shared)" ;;
  esac
done
command -v pdsh >/dev/null || { echo "distributed.sh: pdsh is not installed (Debian: apt-get install pdsh)" >&2; exit 1; }

if [ -z "$loadgen" ]; then
  if [ "$via" = local ]; then loadgen=$here/build/linux/bin/loadgen; else loadgen=loadgen; fi
fi
if [ -z "$hdrtool" ]; then
  hdrtool=$here/build/linux/bin/hdrtool
  [ -x "$hdrtool" ] || hdrtool=hdrtool
fi
[ -n "$out" ] || out=$here/results/distributed/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The shards, in a fixed order: pdsh expands the list (ranges included).
pdsh -R exec -N -w "$hosts" echo %h | sort -V > "$out/hosts"
n=$(wc -l < "$out/hosts")
[ "$n" -gt 0 ] || die_usage "HOSTS $hosts names no host"

start_at=$(( $(date +%s%3N) + $(awk -v s="$start_in" 'BEGIN { printf "%d", s * 1000 }') ))
printf '%s\0' "$@" > "$out/args"

# What pdsh's exec module runs once per host (%h): this shard's loadgen, here
# or over ssh, and for ssh the copy of its files back.
cat > "$out/shard.sh" <<SHARD
#!/usr/bin/env bash
set -uo pipefail
host=\$1
i=\$(( \$(grep -nxF -- "\$host" "$out/hosts" | cut -d: -f1) - 1 ))
args=()
while IFS= read -r -d '' a; do
  a=\${a//%h/\$host}
  args+=("\${a//%i/\$i}")
done < "$out/args"
name=shard-\$i
if [ "$via" = local ]; then
  dir="$out"
else
  dir="$remote_dir"
fi
cmd=("$loadgen" "\${args[@]}" --shard "\$i/$n" --start-at "$start_at" --tag "\$host:\$i"
     --hlog "\$dir/\$name.hlog" --csv "\$dir/\$name.csv" --quiet)
# loadgen appends to its --csv: a file left by an earlier run into the same
# folder would give the shard two rows.
rm -f "$out/\$name.csv" "$out/\$name.hlog"
if [ "$via" = local ]; then
  "\${cmd[@]}" > "$out/\$name.out" 2>&1
  rc=\$?
else
  ssh -o BatchMode=yes "\$host" "mkdir -p $remote_dir && rm -f \$dir/\$name.csv && \$(printf '%q ' "\${cmd[@]}")" > "$out/\$name.out" 2>&1
  rc=\$?
  if ! scp -q -o BatchMode=yes "\$host:\$dir/\$name.hlog" "\$host:\$dir/\$name.csv" "$out/"; then
    echo "shard \$i/$n on \$host: cannot copy its files back" >&2
    [ "\$rc" -ne 0 ] || rc=1
  fi
fi
echo "shard \$i/$n on \$host: exit \$rc"
exit \$rc
SHARD
chmod +x "$out/shard.sh"

echo "distributed.sh: $n shards, start at $(date -u -d @$((start_at / 1000)) +%Y-%m-%dT%H:%M:%SZ) (+$start_in s), files in $out"
shards_rc=0
pdsh -S -R exec -f "$n" -w "$hosts" bash "$out/shard.sh" %h || shards_rc=$?

merge_rc=0
# This run's shards only (a reused --out folder may hold others).
logs=()
for ((i = 0; i < n; i++)); do
  [ ! -f "$out/shard-$i.hlog" ] || logs+=("$out/shard-$i.hlog")
done
if [ "${#logs[@]}" -eq 0 ]; then
  echo "distributed.sh: no shard wrote a log; see $out/shard-*.out" >&2
  exit $(( shards_rc > 0 ? shards_rc : 1 ))
fi
"$hdrtool" merge --runs "${logs[@]}" --hgrm "$out/merged.hgrm" --csv "$out/merged.csv" \
  > "$out/merged.hlog" 2> "$out/merge.txt" || merge_rc=$?
cat "$out/merge.txt"
[ "$merge_rc" -ne 0 ] || echo "distributed.sh: merged into $out/merged.hlog, merged.hgrm, merged.csv"
[ "$shards_rc" -eq 0 ] || { echo "distributed.sh: a shard failed (exit $shards_rc); see $out/shard-*.out" >&2; exit "$shards_rc"; }
exit "$merge_rc"
