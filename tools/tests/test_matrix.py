#!/usr/bin/python3
"""tools/matrix.py end to end with --repeat: two native models, one cell
each, two repetitions of 0.3 s, into a temporary folder.

Checks the interleaved order (round 1 poll then epoll, round 2 epoll then
poll), one summary.csv row per repetition (plus the rows of disturbed
repetitions, kept and marked replaced), the cell statistics columns,
summary.json, verdicts.csv and the noise columns of cells.csv.

    /usr/bin/python3 tools/tests/test_matrix.py BIN_DIR
"""

import json
import os
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

from helpers import RunFolderTest, read, run_tool

BIN_DIR = None


def matrix(*args, timeout=240):
    """matrix.py on the native models of BIN_DIR, without Wine."""
    return run_tool("matrix.py", "--bin-dir", BIN_DIR, "--no-wine", *args, timeout=timeout)


class MatrixRepeatTest(RunFolderTest):
    PREFIX = "wsb-matrix-"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.proc = matrix("--models", "poll,epoll", "--connections", "2", "--warmup", "0.1",
                          "--duration", "0.3", "--repeat", "2", "--out", str(cls.out))

    def test_runs(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stdout + self.proc.stderr)

    def test_repetitions_are_interleaved_and_rotated(self):
        cells = read(self.out / "cells.csv")
        first = [(c["model"], c["repetition"]) for c in cells if not c["label"].endswith("b")]
        self.assertEqual(first, [("poll", "1"), ("epoll", "1"), ("epoll", "2"), ("poll", "2")])
        for c in cells:
            self.assertEqual(c["status"], "ok", c)
            self.assertNotEqual(c["others_cpu_share"], "")
            self.assertIn(c["disturbed"], ("0", "1"))
            # Only a disturbed first attempt is re-run, once.
            self.assertEqual(c["replaced"] == "1", c["disturbed"] == "1"
                             and not c["label"].endswith("b"))

    def test_summary_rows_statistics_and_json(self):
        rows = read(self.out / "summary.csv")
        counted = [r for r in rows if r["replaced"] == "0"]
        self.assertEqual(sorted((r["server_model"], r["repetition"]) for r in counted),
                         [("epoll", "1"), ("epoll", "2"), ("poll", "1"), ("poll", "2")])
        for r in rows:
            self.assertEqual(r["cell"], f"native-{r['server_model']}-echo-closed-c2-s16")
            self.assertEqual(r["repetitions"], "2")
            values = sorted(float(x["requests_per_s"]) for x in counted
                            if x["cell"] == r["cell"])
            self.assertAlmostEqual(float(r["cell_requests_per_s_median"]),
                                   sum(values) / 2, delta=0.01 * values[1])
            self.assertAlmostEqual(float(r["cell_requests_per_s_ci_low"]), values[0],
                                   delta=0.001 * values[0])
            self.assertEqual(r["cell_ci_level"], "0.5000")  # min to max of 2
        data = json.loads((self.out / "summary.json").read_text())
        self.assertEqual(len(data), len(rows))
        self.assertIsInstance(data[0]["requests_per_s"], (int, float))

    def test_verdicts(self):
        verdicts = read(self.out / "verdicts.csv")
        self.assertEqual(len(verdicts), 1)
        v = verdicts[0]
        self.assertEqual((v["model_a"], v["model_b"], v["repetitions_a"]), ("poll", "epoll", "2"))
        self.assertIn(v["verdict"], ("faster", "slower", "no significant difference"))



def cpu_list(text):
    """loadgen's "0-2,5" as [0, 1, 2, 5]."""
    out = []
    for item in text.split(","):
        lo, _, hi = item.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


class MatrixPinningTest(RunFolderTest):
    """--pinning both: every cell pinned and not, in the same rounds; the
    sets reach loadgen's rows and machine.json, and the verdicts compare
    MODEL (pinned) with MODEL."""

    PREFIX = "wsb-matrix-pin-"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.proc = None
        if len(os.sched_getaffinity(0)) >= 2:
            # 1 s cells: perf attaches to the server only once loadgen has
            # named its pid, a few hundred ms late on a loaded machine, and
            # a shorter cell leaves too few system calls counted for the
            # check below.
            cls.proc = matrix("--models", "epoll", "--connections", "2", "--warmup", "0.1",
                              "--duration", "1", "--repeat", "2", "--pinning", "both",
                              "--out", str(cls.out))

    def setUp(self):
        if self.proc is None:
            self.skipTest("one usable CPU: nothing to split between server and loadgen")

    def test_pinned_and_unpinned_cells_side_by_side(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stdout + self.proc.stderr)
        usable = sorted(os.sched_getaffinity(0))
        cells = [c for c in read(self.out / "cells.csv") if not c["label"].endswith("b")]
        self.assertEqual([c["cell"].endswith("-pinned") for c in cells],
                         [False, True, True, False])  # rotated in round 2
        rows = read(self.out / "summary.csv")
        for r in rows:
            if r["cell"].endswith("-pinned"):
                self.assertEqual(r["server_cpus"], str(usable[-1]))
                self.assertEqual(cpu_list(r["loadgen_cpus"]), usable[:-1])
            else:
                self.assertEqual((r["server_cpus"], r["loadgen_cpus"]), ("none", "none"))
            self.assertNotEqual(r["server_context_switches_per_response"], "")
        info = json.loads((self.out / "machine.json").read_text())
        self.assertEqual((info["pinning"], info["server_cpus"]), ("both", str(usable[-1])))
        # System calls per response where perf may count them, else empty
        # and machine.json says why.
        counted = info["syscall_meter"].startswith("perf stat")
        if not counted:
            self.assertTrue(info["syscall_meter"].startswith("not counted: "), info)
        for r in rows:
            if counted:
                self.assertGreater(float(r["server_syscalls_per_response"]), 1.0, r["cell"])
            else:
                self.assertEqual(r["server_syscalls_per_response"], "")
        verdicts = read(self.out / "verdicts.csv")
        self.assertEqual([(v["model_a"], v["model_b"]) for v in verdicts],
                         [("epoll", "epoll (pinned)")])


class MatrixCapacityTest(unittest.TestCase):
    """The capacity workload: loadgen --find-capacity per repetition, one row
    per step in capacity.csv, which the matrix tags with the cell."""

    def test_capacity_cells_write_a_row_per_step(self):
        out = Path(tempfile.mkdtemp(prefix="wsb-matrix-cap-")) / "run"
        try:
            proc = matrix("--models", "epoll", "--workloads", "capacity", "--connections", "2",
                          "--warmup", "0.1", "--duration", "0.5", "--repeat", "1",
                          "--capacity-slo", "p99<=2s", "--capacity-rate-start", "50",
                          "--capacity-rate-max", "100", "--out", str(out))
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            rows = [r for r in read(out / "capacity.csv") if r["replaced"] == "0"]
            # 50/s, then 100/s (the --capacity-rate-max bound), each passing
            # twice: the majority of loadgen's three trials.
            self.assertEqual([r["rate"] for r in rows], ["50.000", "50.000", "100.000", "100.000"])
            for r in rows:
                self.assertEqual(r["cell"], "native-epoll-echo-capacity-c2-s16")
                self.assertEqual((r["model"], r["cell_platform"]), ("epoll", "native"))
                self.assertEqual(r["slo"], "p99<=2s")
                self.assertEqual((r["capacity"], r["capacity_bound"]), ("100.00", "rate_max"))
            self.assertFalse((out / "summary.csv").exists())
            info = json.loads((out / "machine.json").read_text())
            self.assertEqual(info["capacity"]["native"]["slo"], "p99<=2s")
        finally:
            shutil.rmtree(out.parent)


class MatrixUsageTest(unittest.TestCase):
    def test_unknown_cpu_is_a_one_line_error(self):
        proc = matrix("--models", "epoll", "--server-cpus", "99999", "--dry-run")
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(proc.stderr.count("\n"), 1, proc.stderr)
        self.assertIn("CPU 99999", proc.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_matrix.py BIN_DIR (with loadgen, server-poll and server-epoll)")
    BIN_DIR = sys.argv.pop(1)
    unittest.main()
