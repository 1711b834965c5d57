#!/usr/bin/python3
"""tools/plot.py on the committed chat run folder results/fixture-chat.

The folder holds two chat cells (loadgen --protocol chat, 200 users, groups
of 10 and 100) run against tests/integration/loadgen/chat_test_server. The
test checks that plot.py draws the chat delivery spectrum and nothing else
from them (chat cells stay out of the request/response figures), that the
PNG is a real image of its size with a panel per group size, that the
spectrum comes from the .hlog's "delivery" histograms and not the ACK
latency, and that report.html shows the figure and a table row per cell.

    /usr/bin/python3 tools/tests/test_plot_chat.py [--hdrtool PATH]
"""

import csv
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_plot import PlotRun, png_size, references, take_hdrtool_option  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "results" / "fixture-chat"

# Two panels (groups of 10 and of 100, 200 users each) side by side.
EXPECTED = {"chat-delivery-native-closed.png": (1160, 509)}


class PlotChatTest(PlotRun, unittest.TestCase):
    FIXTURE = FIXTURE

    def test_exit_status_and_no_problems(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stdout + self.proc.stderr)
        self.assertEqual(self.proc.stderr, "", "plot.py reported problems")
        self.assertIn("plot: chat: 1 figure(s)", self.proc.stdout)
        self.assertIn("plot: spectra: 0 figure(s)", self.proc.stdout)

    def test_one_file_per_expected_chart(self):
        self.assertEqual(sorted(p.name for p in self.out.glob("*.png")), sorted(EXPECTED))
        for name, size in EXPECTED.items():
            path = self.out / name
            self.assertEqual(png_size(path), size, name)
            self.assertGreater(path.stat().st_size, 5000, f"{name} is nearly empty")

    def test_fixture_rows_are_chat_cells_without_errors(self):
        with open(FIXTURE / "summary.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(sorted(r["group_size"] for r in rows), ["10", "100"])
        for r in rows:
            self.assertEqual(r["protocol"], "chat")
            self.assertEqual(r["errors"], "0")
            self.assertGreater(int(r["deliveries"]), int(r["responses"]))
            hlog = (FIXTURE / "hlog" / (r["label"] + ".hlog")).read_text()
            self.assertIn("Tag=delivery,", hlog)

    def test_delivery_spectrum_is_the_delivery_tag(self):
        sys.path.insert(0, str(ROOT / "tools"))
        from wsbplot.figures.latency import Spectra
        from wsbplot.load import load_inputs
        runs, _benches, _problems = load_inputs([str(FIXTURE)])
        spectra = Spectra(PlotRun.hdrtool)
        for row in runs[0].rows:
            delivery = spectra.get(row, tag="delivery")
            ack = spectra.get(row, tag="latency")
            self.assertTrue(delivery and ack, row.label)
            self.assertNotEqual(delivery, ack, row.label)
            # The spectrum's last point is the largest delivery latency (us).
            self.assertAlmostEqual(delivery[-1][1] / float(row.raw["delivery_max_us"]), 1.0,
                                   delta=0.01)

    def test_report_shows_the_figure_and_every_cell(self):
        text = (self.out / "report.html").read_text()
        for ref in references(text):
            self.assertTrue((self.out / ref).exists(), f"report.html refers to missing {ref}")
        self.assertIn("<img src='chat-delivery-native-closed.png'", text)
        table = text[text.index("<table class='data sortable'>"):]
        table = table[:table.index("</table>")]
        self.assertEqual(table.count("<tr"), 1 + 2)


if __name__ == "__main__":
    take_hdrtool_option()
    unittest.main()
