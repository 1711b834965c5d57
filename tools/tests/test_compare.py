#!/usr/bin/python3
"""tools/compare.py on the committed run folder results/fixture-tiny.

The folder against itself must show no significant change; against a copy
whose figures this test scales (throughput divided by 4, p50 and p99
multiplied by 4, one cell removed: the fixture was measured on a saturated
machine, and its repetitions spread up to 2.5 times, so a smaller change is
not significant with 3 repetitions) every matched cell's throughput must be flagged as a
regression, --fail-on-regression must exit 1, and the removed cell must be
listed as present in one run only. Run: /usr/bin/python3 tools/tests/test_compare.py
"""

import csv
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from helpers import read

ROOT = Path(__file__).resolve().parents[2]
COMPARE = ROOT / "tools" / "compare.py"
FIXTURE = ROOT / "results" / "fixture-tiny"
REMOVED = "native-poll-echo-closed-c1-s16"


def run(*args):
    return subprocess.run([sys.executable, str(COMPARE), *map(str, args)], capture_output=True,
                          text=True, timeout=60)


def scale(value, factor):
    return "" if value == "" else f"{float(value) * factor:.6g}"


def make_slower(folder):
    """A copy of the fixture that is slower on purpose: a quarter of the
    throughput, four times the p50 and p99, and one cell fewer."""
    rows = [r for r in read(folder / "summary.csv") if r["cell"] != REMOVED]
    for r in rows:
        r["requests_per_s"] = scale(r["requests_per_s"], 0.25)
        r["latency_p50_us"] = scale(r["latency_p50_us"], 4.0)
        r["latency_p99_us"] = scale(r["latency_p99_us"], 4.0)
    with open(folder / "summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


class CompareTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="wsb-compare-"))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_a_run_against_itself_changes_nothing(self):
        out = self.tmp / "same.csv"
        proc = run(FIXTURE, FIXTURE, "--fail-on-regression", "5%", "--csv", out)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        rows = read(out)
        # 4 closed-loop cells x (throughput, p50, p99); the hold cells have none.
        self.assertEqual(len(rows), 12)
        for r in rows:
            self.assertEqual(float(r["change_pct"]), 0.0)
            self.assertEqual(r["significant"], "no", r)
            self.assertEqual(r["direction"], "no change")
            self.assertEqual(r["regression"], "")
        self.assertIn("0 only in A, 0 only in B", proc.stdout)

    def test_a_slower_run_is_flagged(self):
        slow = self.tmp / "slow"
        shutil.copytree(FIXTURE, slow)
        make_slower(slow)
        out = self.tmp / "slow.csv"
        proc = run(FIXTURE, slow, "--fail-on-regression", "5%", "--csv", out)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        rows = read(out)
        throughput = [r for r in rows if r["metric"] == "throughput"]
        self.assertEqual(len(throughput), 3)  # the removed cell is not matched
        for r in throughput:
            self.assertEqual(float(r["change_pct"]), -75.0)
            self.assertEqual(r["direction"], "worse", r)
            self.assertEqual(r["regression"], "yes", r)
        self.assertIn("REGRESSION", proc.stdout)
        self.assertIn(f"only in {FIXTURE}: poll closed echo 16 B c1\n", proc.stdout)
        # Without the gate, the same comparison reports but does not fail.
        self.assertEqual(run(FIXTURE, slow, "--csv", out).returncode, 0)
        # A 400 % gate is beyond every loss (throughput -75 %, latency +300 %).
        self.assertEqual(run(FIXTURE, slow, "--fail-on-regression", "400%", "--csv",
                             out).returncode, 0)

    def test_two_loadgen_csv_files(self):
        # Plain loadgen CSV files: one run per cell (the first repetition of
        # each), so nothing can be significant and the change has no interval.
        rows = [r for r in read(FIXTURE / "summary.csv")
                if r["repetition"] == "1" and r["replaced"] == "0"]
        for name in ("a.csv", "b.csv"):
            with open(self.tmp / name, "w", newline="") as f:
                fields = [k for k in rows[0] if k not in ("cell", "repetition", "replaced")]
                w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore",
                                   lineterminator="\n")
                w.writeheader()
                w.writerows(rows)
        proc = run(self.tmp / "a.csv", self.tmp / "b.csv", "--fail-on-regression", "5%")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        out = read(self.tmp / "b.compare.csv")
        self.assertEqual(len(out), 12)
        for r in out:
            self.assertEqual(r["significant"], "untestable (one repetition)")
            self.assertEqual(r["ci_level"], "")

    def test_reversed_rankings_are_named(self):
        # Two copies of the fixture whose verdicts this test writes: at one
        # connection A says poll is faster than epoll and B says it is slower
        # (written the other way round, epoll vs poll "faster", which is the
        # same call); at ten both say poll is faster, B with the models in
        # the other order.
        runs = {}
        for name, calls in (("a", [("1", "poll", "epoll", "faster"),
                                   ("10", "poll", "epoll", "faster")]),
                            ("b", [("1", "epoll", "poll", "faster"),
                                   ("10", "epoll", "poll", "slower")])):
            runs[name] = self.tmp / name
            shutil.copytree(FIXTURE, runs[name])
            rows = read(FIXTURE / "verdicts.csv")[:1]
            with open(runs[name] / "verdicts.csv", "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(rows[0].keys()), lineterminator="\n")
                w.writeheader()
                for conns, model_a, model_b, verdict in calls:
                    w.writerow(dict(rows[0], connections=conns, model_a=model_a,
                                    model_b=model_b, verdict=verdict))
        proc = run(runs["a"], runs["b"], "--csv", self.tmp / "out.csv")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("ranking: 2 pairs of models judged in both runs; significant in A 2, in B 2; "
                      "called the same way in both 1; reversed 1\n", proc.stdout)
        self.assertIn("  reversed: epoll vs poll closed echo 16 B c1\n", proc.stdout)
        self.assertNotIn("c10\n  reversed", proc.stdout)
        # Against itself, every significant pair is confirmed.
        proc = run(runs["a"], runs["a"], "--csv", self.tmp / "out.csv")
        self.assertIn("significant in A 2, in B 2; called the same way in both 2; reversed 0",
                      proc.stdout)

    def test_bad_input_is_one_line_and_exit_2(self):
        proc = run(FIXTURE, self.tmp)
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(proc.stderr.strip().count("\n"), 0, proc.stderr)
        self.assertIn("without summary.csv", proc.stderr)
        proc = run(FIXTURE, FIXTURE, "--fail-on-regression", "five")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("not a percentage", proc.stderr)


if __name__ == "__main__":
    unittest.main()
