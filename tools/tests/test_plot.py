#!/usr/bin/python3
"""tools/plot.py on the committed run folder results/fixture-tiny.

Checks which figures it makes (one file per expected chart, and no other),
that each PNG is a real image of the size its figure is drawn at (read from
the PNG header), that report.html opens with the verdicts and refers only to
files that exist, and that its table has a row per cell. The fixture's
verdicts.csv and summary.json (written by tools/matrix.py) are checked too.

    /usr/bin/python3 tools/tests/test_plot.py [--hdrtool PATH]

Without an hdrtool program (the CTest test passes the build's), the spectra
are not drawn and the test fails, saying so.
"""

import csv
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLOT = ROOT / "tools" / "plot.py"
FIXTURE = ROOT / "results" / "fixture-tiny"
HDRTOOL = os.environ.get("WSB_HDRTOOL", str(ROOT / "build" / "linux" / "bin" / "hdrtool"))

# The charts of a native run with a closed-loop sweep (1 and 10 connections)
# and held connections, and the pixel size each is drawn at (figsize x dpi).
EXPECTED = {
    "throughput-echo-s16.png": (680, 480),
    "spectrum-native-closed-echo-s16.png": (1160, 509),
    "spectrum-native-closed-echo-s16-by-model.png": (1160, 489),
    "timeseries-native-c10.png": (1100, 760),
    "resources-native.png": (1300, 940),
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def references(html_text):
    return re.findall(r"(?:src|href)='([^'#]+)'", html_text)


def take_hdrtool_option():
    """--hdrtool PATH, taken out of sys.argv (unittest would refuse it)."""
    if "--hdrtool" in sys.argv:
        i = sys.argv.index("--hdrtool")
        PlotRun.hdrtool = sys.argv[i + 1]
        del sys.argv[i:i + 2]


class PlotRun:
    """Mixed into a TestCase: plot.py runs once, on the class's FIXTURE, into
    a temporary folder (cls.out); cls.proc is the finished process."""

    FIXTURE = None
    hdrtool = HDRTOOL

    @classmethod
    def setUpClass(cls):
        cls.out = Path(tempfile.mkdtemp(prefix="wsb-plot-"))
        cls.proc = subprocess.run([sys.executable, str(PLOT), str(cls.FIXTURE), "--out",
                                   str(cls.out), "--hdrtool", cls.hdrtool],
                                  capture_output=True, text=True, timeout=300)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out)


class PlotTest(PlotRun, unittest.TestCase):
    FIXTURE = FIXTURE

    def test_exit_status_and_no_problems(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stdout + self.proc.stderr)
        self.assertEqual(self.proc.stderr, "", "plot.py reported problems")

    def test_one_file_per_expected_chart(self):
        made = sorted(p.name for p in self.out.glob("*.png"))
        self.assertEqual(made, sorted(EXPECTED))

    def test_every_png_is_an_image_of_its_size(self):
        for name, size in EXPECTED.items():
            path = self.out / name
            self.assertTrue(path.is_file(), name)
            self.assertEqual(png_size(path), size, name)
            self.assertGreater(path.stat().st_size, 5000, f"{name} is nearly empty")

    def test_report_refers_only_to_files_that_exist(self):
        text = (self.out / "report.html").read_text()
        refs = references(text)
        self.assertTrue(refs)
        for ref in refs:
            self.assertTrue((self.out / ref).exists(), f"report.html refers to missing {ref}")
        # Every figure is shown.
        self.assertEqual(sorted(set(re.findall(r"<img src='([^']+)'", text))), sorted(EXPECTED))

    def test_report_opens_with_the_verdicts(self):
        text = (self.out / "report.html").read_text()
        verdicts = text.find("id='verdicts'")
        self.assertGreater(verdicts, 0)
        self.assertLess(verdicts, text.find("<figure>"))
        self.assertLess(verdicts, text.find("Contents:"))
        sentences = re.findall(r"<li>(At [^<]*)</li>", text)
        self.assertEqual(len(sentences), 2, sentences)  # closed loop at 1 and at 10
        self.assertTrue(sentences[0].startswith("At 1 connection (echo, 16 B, closed loop) "))
        self.assertIn("poll", sentences[0])
        self.assertIn("epoll", sentences[0])

    def test_table_has_a_row_per_cell_and_sorts(self):
        text = (self.out / "report.html").read_text()
        table = text[text.index("<table class='data sortable'>"):]
        table = table[:table.index("</table>")]
        self.assertEqual(table.count("<tr"), 1 + 8)  # head, 8 cells of 3 repetitions
        self.assertIn("<script>", text)

    def test_fixture_verdicts_and_json(self):
        with open(FIXTURE / "verdicts.csv", newline="") as f:
            verdicts = list(csv.DictReader(f))
        self.assertEqual([(v["connections"], v["model_a"], v["model_b"]) for v in verdicts],
                         [("1", "poll", "epoll"), ("10", "poll", "epoll")])
        for v in verdicts:
            self.assertIn(v["verdict"], ("faster", "slower", "no significant difference"))
            self.assertEqual(float(v["ci_level"]), 0.9)  # 3 against 3 repetitions
        rows = json.loads((FIXTURE / "summary.json").read_text())
        # The fixture was made on a busy machine: every repetition was
        # disturbed and run once more; both rows are kept, the first marked
        # replaced and left out of the statistics.
        self.assertEqual(len(rows), 48)
        self.assertEqual(sum(r["replaced"] for r in rows), 24)  # re-runs were disturbed too
        for r in rows:
            self.assertIsInstance(r["requests_per_s"], (int, float))
            self.assertIsInstance(r["others_cpu_share"], float)
            self.assertIn(r["repetition"], (1, 2, 3))
            self.assertEqual(r["repetitions"], 3)
        # A cell's median is that of its three counted repetitions.
        cell = [r for r in rows if r["cell"] == "native-epoll-echo-closed-c10-s16"]
        counted = sorted(r["requests_per_s"] for r in cell if not r["replaced"])
        self.assertEqual(len(counted), 3)
        self.assertAlmostEqual(cell[0]["cell_requests_per_s_median"], counted[1], places=0)

    def test_report_says_repetitions_were_disturbed(self):
        text = (self.out / "report.html").read_text()
        self.assertIn("48 of 48 repetitions were disturbed", text)
        # And per cell in the table: the three counted repetitions (re-runs)
        # were disturbed too.
        table = text[text.index("<table class='data sortable'>"):]
        self.assertIn("disturbed‡", table)
        self.assertEqual(table.count("<td>3</td><td>3</td>"), 8)  # reps, disturbed


class TitleTest(unittest.TestCase):
    """A report's title and folder line name its run, also when tools/plot.py
    runs inside the run's folder ("plot.py . --out .")."""

    def setUp(self):
        sys.path.insert(0, str(ROOT / "tools"))
        self.tmp = Path(tempfile.mkdtemp(prefix="wsb-plot-title-"))
        self.run = self.tmp / "2026-01-02-my-run"
        shutil.copytree(FIXTURE, self.run)
        self.cwd = os.getcwd()
        os.chdir(self.run)

    def tearDown(self):
        os.chdir(self.cwd)
        shutil.rmtree(self.tmp)

    def test_run_in_its_own_folder_is_named_by_the_folder(self):
        from wsbplot.cli import report_title
        from wsbplot.html import relative_to
        from wsbplot.load import load_inputs
        runs, _, problems = load_inputs(["."])
        self.assertEqual(problems, [])
        self.assertEqual(report_title(runs), "wsbench results — 2026-01-02-my-run")
        self.assertEqual(relative_to(runs[0].folder, Path(".")),
                         "2026-01-02-my-run/ (this report's folder)")
        self.assertEqual(relative_to(runs[0].folder, Path("report")),
                         "..")

    def test_machine_json_title_wins(self):
        from wsbplot.cli import report_title
        from wsbplot.load import load_inputs
        machine = json.loads((self.run / "machine.json").read_text())
        machine["title"] = "quickstart on vm"
        (self.run / "machine.json").write_text(json.dumps(machine))
        runs, _, _ = load_inputs(["."])
        self.assertEqual(report_title(runs), "wsbench results — quickstart on vm")


if __name__ == "__main__":
    take_hdrtool_option()
    unittest.main()
