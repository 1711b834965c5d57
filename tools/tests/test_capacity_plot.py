#!/usr/bin/python3
"""tools/plot.py's capacity figure on the committed run folder
results/fixture-capacity (tools/matrix.py --workloads capacity, poll and
epoll, two repetitions; its command is in its machine.json).

Checks that exactly one capacity figure is drawn (one platform), that it is a
real PNG of the size it is drawn at, that report.html shows it, and the SLO
parser that draws the SLO line.

    /usr/bin/python3 tools/tests/test_capacity_plot.py
"""

import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
FIXTURE = ROOT / "results" / "fixture-capacity"


class CapacityPlotTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = Path(tempfile.mkdtemp(prefix="wsb-capacity-plot-"))
        cls.proc = subprocess.run([sys.executable, str(ROOT / "tools" / "plot.py"), str(FIXTURE),
                                   "--out", str(cls.out)], capture_output=True, text=True,
                                  timeout=120)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out)

    def test_one_capacity_figure_per_platform(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stdout + self.proc.stderr)
        pngs = sorted(p.name for p in self.out.glob("*.png"))
        self.assertEqual(pngs, ["capacity-fixture-capacity-native.png"])
        with open(self.out / pngs[0], "rb") as f:
            head = f.read(24)
        self.assertEqual(head[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(struct.unpack(">II", head[16:24]), (850, 500))
        self.assertIn("plot: capacity: 1 figure(s)", self.proc.stdout)
        self.assertIn(pngs[0], (self.out / "report.html").read_text())

    def test_slo_limit(self):
        from wsbplot.figures.capacity import p99_limit_ms
        self.assertEqual(p99_limit_ms("p99<=20ms"), 20.0)
        self.assertEqual(p99_limit_ms("p99.9<=1s,p99=500us"), 0.5)
        self.assertEqual(p99_limit_ms("p99<=2"), 2000.0)
        self.assertIsNone(p99_limit_ms("max<=1s"))


if __name__ == "__main__":
    unittest.main()
