#!/usr/bin/python3
"""tools/matrix.py --platform windows --launcher wine end to end, then plot.py.

The Windows workflow as a Windows user runs it (loadgen.exe --spawn
server-*.exe: the IOCP load generator driving the Winsock models), with both
programs under Wine through cmake/wine-emulator.sh: two cells (iocp and
select, closed loop, 10 connections, 1 s), two repetitions each, into a
temporary folder; then tools/plot.py on the run folder.

Checks every row (both cells, both repetitions, no errors, throughput above
zero, loadgen's platform column says wine, the matrix's platform says
windows-wine, the spawned server's CPU and memory came from loadgen.exe),
the per-second files, machine.json, verdicts.csv, and the figures (PNG files
of the windows-wine platform, and report.html naming the series).

    /usr/bin/python3 tools/tests/test_matrix_windows.py LINUX_BIN_DIR WINDOWS_BIN_DIR

LINUX_BIN_DIR holds hdrtool (the spectra); WINDOWS_BIN_DIR holds loadgen.exe,
server-iocp.exe and server-select.exe of a windows-cross build. Without Wine
or those programs the test is skipped: exit 77 with the reason.
"""

import json
import shutil
import subprocess
import sys
import unittest
from pathlib import Path

from helpers import RunFolderTest, read, run_tool

ROOT = Path(__file__).resolve().parents[2]
LINUX_BIN = None
WIN_BIN = None
MODELS = ("iocp", "select")
CELLS = {m: f"windows-wine-{m}-echo-closed-c10-s16" for m in MODELS}


class MatrixWindowsUnderWineTest(RunFolderTest):
    PREFIX = "wsb-matrix-win-"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # --disturbed-share 64: a repetition is never run again for noise
        # (this test checks the rows, not the figures, and other jobs share
        # the machine); the noise columns are still measured.
        cls.matrix = run_tool(
            "matrix.py", "--platform", "windows", "--launcher", "wine", "--win-bin-dir", WIN_BIN,
            "--models", ",".join(MODELS), "--connections", "10", "--workloads", "closed",
            "--warmup", "0.3", "--duration", "1", "--repeat", "2", "--disturbed-share", "64",
            "--out", str(cls.out), timeout=400)
        cls.plots = cls.out / "plots"
        cls.plot = subprocess.run(
            ["/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable,
             str(ROOT / "tools" / "plot.py"), str(cls.out), "--out", str(cls.plots),
             "--hdrtool", str(Path(LINUX_BIN) / "hdrtool")],
            capture_output=True, text=True, timeout=300)

    def test_matrix_exits_0(self):
        self.assertEqual(self.matrix.returncode, 0, self.matrix.stdout + self.matrix.stderr)
        self.assertIn("4 ok, 0 with errors, 0 failed", self.matrix.stdout)

    def test_cells_csv(self):
        cells = read(self.out / "cells.csv")
        self.assertEqual(sorted((c["model"], c["repetition"]) for c in cells),
                         [("iocp", "1"), ("iocp", "2"), ("select", "1"), ("select", "2")])
        for c in cells:
            self.assertEqual(c["platform"], "windows-wine", c)
            self.assertEqual(c["status"], "ok", c)
            self.assertEqual(c["cell"], CELLS[c["model"]])
            self.assertGreater(float(c["server_cpu_proc_s"]), 0, c)
            self.assertGreater(float(c["wineserver_cpu_s"]), 0, c)
            # Run by loadgen.exe under Wine, spawning the .exe by Wine's name.
            self.assertIn("wine-emulator.sh", c["command"])
            self.assertIn("loadgen.exe --spawn Z:\\", c["command"])
            self.assertTrue(c["command"].split(" --quiet")[0].endswith(
                f"server-{c['model']}.exe"), c["command"])

    def test_summary_rows(self):
        rows = read(self.out / "summary.csv")
        self.assertEqual(sorted(r["label"] for r in rows),
                         sorted(f"{CELLS[m]}-r{k}" for m in MODELS for k in (1, 2)))
        for r in rows:
            model = r["server_model"]
            self.assertIn(model, MODELS)
            self.assertEqual(r["cell"], CELLS[model])
            # loadgen.exe ran under Wine; to it the server it spawned is native.
            self.assertEqual(r["platform"], "wine", r["label"])
            self.assertEqual(r["server_platform"], "native", r["label"])
            self.assertEqual(r["engine"], "iocp", r["label"])
            self.assertTrue(r["server_program"].endswith(f"\\server-{model}.exe"), r)
            self.assertEqual(r["complete"], "1", r["label"])
            self.assertEqual(int(r["errors"]), 0, r["label"])
            self.assertEqual(r["connections"], "10")
            self.assertGreater(float(r["requests_per_s"]), 0, r["label"])
            self.assertGreater(int(r["server_requests"]), 0, r["label"])
            # The server's memory comes from loadgen.exe (GetProcessMemoryInfo).
            # Its CPU does not: Wine's GetProcessTimes of another process
            # returns the caller's own times, so loadgen.exe leaves those
            # columns empty, and the matrix measured the server's from /proc.
            self.assertEqual(r["server_cpu_user_s"], "", r["label"])
            self.assertGreater(float(r["server_cpu_proc_s"]), 0, r["label"])
            self.assertGreater(int(r["server_peak_rss_bytes"]), 0, r["label"])
            self.assertGreater(float(r["cell_requests_per_s_median"]), 0, r["label"])
            for sub, ext in (("hlog", ".hlog"), ("intervals", ".csv")):
                path = self.out / sub / (r["label"] + ext)
                self.assertGreater(path.stat().st_size, 0, path)

    def test_machine_json_and_verdicts(self):
        machine = json.loads((self.out / "machine.json").read_text())
        self.assertEqual(machine["platform"], "windows")
        self.assertEqual(machine["launcher"], "wine")
        self.assertTrue(machine["loadgen"].endswith("loadgen.exe"))
        self.assertTrue(machine["loadgen_version"].startswith("loadgen"), machine)
        verdicts = read(self.out / "verdicts.csv")
        self.assertEqual(len(verdicts), 1, verdicts)
        self.assertEqual(verdicts[0]["platform"], "windows-wine")
        self.assertEqual({verdicts[0]["model_a"], verdicts[0]["model_b"]}, set(MODELS))

    def test_plots(self):
        self.assertEqual(self.plot.returncode, 0, self.plot.stdout + self.plot.stderr)
        pngs = sorted(p.name for p in self.plots.glob("*.png"))
        for prefix in ("resources-windows-wine", "timeseries-windows-wine",
                       "spectrum-windows-wine"):
            self.assertTrue(any(n.startswith(prefix) for n in pngs), (prefix, pngs))
        for name in pngs:
            data = (self.plots / name).read_bytes()
            self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n", name)
            self.assertGreater(len(data), 10_000, name)
        report = (self.plots / "report.html").read_text()
        for model in MODELS:
            self.assertIn(f"{model} (loadgen.exe, Wine)", report)
        self.assertIn("windows-wine", report)


def skip_reason():
    if shutil.which("wine") is None or shutil.which("wineserver") is None:
        return "Wine is not installed"
    needed = [Path(WIN_BIN) / n for n in ("loadgen.exe", "server-iocp.exe", "server-select.exe")]
    needed.append(Path(LINUX_BIN) / "hdrtool")
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        return ("missing " + ", ".join(missing) + " (cmake --preset windows-cross && cmake "
                "--build --preset windows-cross --target loadgen server-iocp server-select)")
    return ""


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: test_matrix_windows.py LINUX_BIN_DIR WINDOWS_BIN_DIR")
    LINUX_BIN, WIN_BIN = sys.argv[1], sys.argv[2]
    del sys.argv[1:3]
    reason = skip_reason()
    if reason:
        print(f"SKIPPED: {reason}")
        sys.exit(77)
    unittest.main()
