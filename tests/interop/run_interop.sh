#!/usr/bin/env bash
# hdr_java_interop: compares wsb::hdr and hdrtool with the Java HdrHistogram
# jar (the reference implementation), byte for byte:
#   1. per data set: .hgrm text and CSV at scales 1, 1000 and 1e6, summary
#      statistics (total, min, max, mean and stddev bit patterns, values at 18
#      percentiles), .hlog lines (compressed base64 included), recording with
#      an expected interval and correcting a copy;
#   2. a multi-interval .hlog written by both sides from the same data;
#   3. a .hlog written by Java, decoded by us and by Java, interval by interval;
#   4. Java's HistogramLogProcessor on logs we wrote (hdrtool record, the
#      driver, hdrtool merge) against hdrtool report with matching options.
# Data sets are generated deterministically (seeded) by hdr_interop_driver.
#
# usage: run_interop.sh DRIVER HDRTOOL SOURCE_DIR WORK_DIR [JAR]
set -euo pipefail

DRIVER=$1
HDRTOOL=$2
SRC=$3
WORK=$4
JAR=${5:-/usr/share/java/hdrhistogram.jar}

fail() {
  echo "hdr_java_interop: FAIL: $*" >&2
  exit 1
}

# The comparison needs the reference; without it the test must not pass.
command -v java >/dev/null 2>&1 ||
  fail "no 'java' on PATH. Run tools/setup.sh (installs openjdk-17-jdk-headless and libhdrhistogram-java)."
[ -r "$JAR" ] ||
  fail "$JAR is missing. Run tools/setup.sh (installs libhdrhistogram-java, which provides it)."

rm -rf "$WORK"
mkdir -p "$WORK/data" "$WORK/ours" "$WORK/java"
cd "$WORK"

# Java prints dates in its default time zone; ours are always UTC.
JAVA=(java -Duser.timezone=UTC -Xss4m -cp "$JAR")

"$DRIVER" gen data
"$DRIVER" run data/plan.txt ours/run.txt
"$DRIVER" writelog data/plan.txt ours/cases.hlog

# Logs written by hdrtool: one data set per log, and a merge of several.
START_MS=1700000000123
"$HDRTOOL" record --start-time-ms $START_MS < data/loadgen-pareto.txt > ours/rec-pareto.hlog
"$HDRTOOL" record --start-time-ms $START_MS --sigfigs 2 --lowest 1000 \
  < data/loadgen-bimodal.txt > ours/rec-bimodal.hlog
"$HDRTOOL" record --start-time-ms $((START_MS + 2500)) --tag T1 \
  < data/loadgen-exponential.txt > ours/rec-tagged.hlog
"$HDRTOOL" merge ours/rec-pareto.hlog ours/rec-bimodal.hlog ours/rec-tagged.hlog ours/cases.hlog \
  > ours/merged.hlog

# Each line: a name, then the HistogramLogProcessor arguments; hdrtool report
# gets the equivalent options from the same table.
PROCESS_CASES=(
  "rec-pareto-1|-i ours/rec-pareto.hlog -outputValueUnitRatio 1|ours/rec-pareto.hlog --scale 1"
  "rec-pareto-1e3|-i ours/rec-pareto.hlog -outputValueUnitRatio 1000|ours/rec-pareto.hlog --scale 1000"
  "rec-pareto-1e6-csv|-i ours/rec-pareto.hlog -outputValueUnitRatio 1000000 -csv|ours/rec-pareto.hlog --scale 1e6 --csv"
  "rec-pareto-corrected|-i ours/rec-pareto.hlog -outputValueUnitRatio 1 -correctLogWithKnownCoordinatedOmission 250000|ours/rec-pareto.hlog --correct 250000 --scale 1"
  "rec-bimodal-1e3|-i ours/rec-bimodal.hlog -outputValueUnitRatio 1000|ours/rec-bimodal.hlog --scale 1000"
  "cases-1|-i ours/cases.hlog -outputValueUnitRatio 1|ours/cases.hlog --scale 1"
  "cases-tag-T0|-i ours/cases.hlog -outputValueUnitRatio 1 -tag T0|ours/cases.hlog --tag T0 --scale 1"
  "cases-tag-T1-csv|-i ours/cases.hlog -outputValueUnitRatio 1000 -tag T1 -csv|ours/cases.hlog --tag T1 --scale 1000 --csv"
  "cases-range|-i ours/cases.hlog -outputValueUnitRatio 1 -start 5 -end 20|ours/cases.hlog --start 5 --end 20 --scale 1"
  "merged-1e3|-i ours/merged.hlog -outputValueUnitRatio 1000|ours/merged.hlog --scale 1000"
  "merged-tag-T1|-i ours/merged.hlog -outputValueUnitRatio 1 -tag T1|ours/merged.hlog --tag T1 --scale 1"
)

{
  echo "run data/plan.txt java/run.txt"
  echo "writelog data/plan.txt java/cases.hlog"
  echo "dumplog java/cases.hlog java/dump.txt"
  for c in "${PROCESS_CASES[@]}"; do
    IFS='|' read -r name jargs _ <<<"$c"
    echo "process java/$name.hgrm $jargs"
  done
} > script.txt
"${JAVA[@]}" "$SRC/HdrInterop.java" script.txt

"$DRIVER" dumplog java/cases.hlog ours/dump.txt
for c in "${PROCESS_CASES[@]}"; do
  IFS='|' read -r name _ oargs <<<"$c"
  # shellcheck disable=SC2086 # the options are meant to split
  "$HDRTOOL" report $oargs > "ours/$name.hgrm"
done

# The real command line once, as a user would run it (output to stdout).
# Both at their defaults, which agree (values divided by 1e6).
"${JAVA[@]}" org.HdrHistogram.HistogramLogProcessor -i ours/merged.hlog > java/cli-merged.hgrm
"$HDRTOOL" report ours/merged.hlog > ours/cli-merged.hgrm

failures=0
compare() {
  local what=$1 ours=$2 java=$3
  if cmp -s "$ours" "$java"; then
    echo "ok   $what"
  else
    echo "DIFF $what ($WORK/$ours vs $WORK/$java):"
    diff "$ours" "$java" | head -20 || true
    failures=$((failures + 1))
  fi
}

# Report the first differing case by name, which is easier to act on than a
# line number in a 100 000-line file.
if ! cmp -s ours/run.txt java/run.txt; then
  line=$(cmp ours/run.txt java/run.txt | sed -n 's/.* line \([0-9]*\).*/\1/p')
  echo "first difference in case: $(head -n "$line" ours/run.txt | grep '^### case' | tail -1)"
fi
compare "per-case outputs ($(grep -c '^### case' ours/run.txt) cases)" ours/run.txt java/run.txt
compare "multi-interval .hlog written by both" ours/cases.hlog java/cases.hlog
compare "Java-written .hlog decoded by both" ours/dump.txt java/dump.txt
for c in "${PROCESS_CASES[@]}"; do
  IFS='|' read -r name _ _ <<<"$c"
  compare "HistogramLogProcessor vs hdrtool report: $name" "ours/$name.hgrm" "java/$name.hgrm"
done
compare "HistogramLogProcessor command line vs hdrtool report" ours/cli-merged.hgrm java/cli-merged.hgrm

# hdrtool decode must read the Java log too (its format is ours, so only the
# interval count is checked here; the counts were compared above).
intervals=$("$HDRTOOL" decode java/cases.hlog | grep -c '^interval ')
expected=$(grep -c '^### case' ours/run.txt)
if [ "$intervals" != "$expected" ]; then
  echo "DIFF hdrtool decode java/cases.hlog: $intervals intervals, expected $expected"
  failures=$((failures + 1))
else
  echo "ok   hdrtool decode of the Java log ($intervals intervals)"
fi

if [ "$failures" -ne 0 ]; then
  fail "$failures comparison(s) differ from the Java reference"
fi
echo "hdr_java_interop: all comparisons equal to the Java reference"
