#!/usr/bin/python3
"""The platform of a row (tools/wsbplot/platforms.py) and matrix.py's
--platform / --launcher checks, without running anything.

    python3 tools/tests/test_platforms.py
"""

import csv
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import matrix as matrix_py  # noqa: E402
from wsbplot.load import Row  # noqa: E402
from wsbplot.platforms import platform_of  # noqa: E402
from helpers import run_tool  # noqa: E402


def matrix(*args):
    return run_tool("matrix.py", *args, timeout=60)


class PlatformOfTest(unittest.TestCase):
    def test_linux_loadgen(self):
        self.assertEqual(platform_of({"platform": "native", "engine": "epoll",
                                      "server_platform": "native",
                                      "server_program": "/b/server-epoll"}), "native")
        self.assertEqual(platform_of({"platform": "native", "engine": "epoll",
                                      "server_platform": "wine",
                                      "server_program": "/b/server-iocp.exe"}), "wine")
        # Without --spawn there is no server column.
        self.assertEqual(platform_of({"platform": "native", "engine": "uring"}), "native")

    def test_windows_loadgen(self):
        row = {"engine": "iocp", "server_platform": "native",
               "server_program": "C:\\b\\server-iocp.exe"}
        self.assertEqual(platform_of(dict(row, platform="native")), "windows")
        self.assertEqual(platform_of(dict(row, platform="wine")), "windows-wine")
        # --target instead of --spawn: the engine still says Windows.
        self.assertEqual(platform_of({"platform": "native", "engine": "iocp"}), "windows")


class CpuPerRequestTest(unittest.TestCase):
    """Under Wine, loadgen.exe's server_cpu_* columns are its own times: a
    windows-wine row takes the server's CPU from server_cpu_proc_s, or has
    none."""

    class Run:
        name, cells = "run", []

    def row(self, **columns):
        raw = {"platform": "wine", "engine": "iocp", "server_platform": "native",
               "server_program": "Z:\\b\\server-iocp.exe", "server_cpu_user_s": "0.5",
               "server_cpu_system_s": "0.5", "server_requests": "1000"}
        raw.update(columns)
        return Row(self.Run(), raw)

    def test_windows_wine_uses_proc_figure(self):
        self.assertAlmostEqual(self.row(server_cpu_proc_s="0.25").cpu_per_request_us(), 250.0)
        self.assertIsNone(self.row(server_cpu_proc_s="").cpu_per_request_us())

    def test_windows_uses_loadgen_columns(self):
        self.assertAlmostEqual(self.row(platform="native").cpu_per_request_us(), 1000.0)


class MatrixPlatformFlagsTest(unittest.TestCase):
    def test_windows_cells(self):
        proc = matrix("--platform", "windows", "--launcher", "wine", "--models", "iocp,select",
                      "--connections", "10", "--repeat", "2", "--dry-run")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("windows-wine-iocp-echo-closed-c10-s16", proc.stdout)
        self.assertIn("windows-wine-select-echo-closed-c10-s16", proc.stdout)
        self.assertIn("2 cells x 2 repetitions", proc.stdout)

    def test_presets_keep_their_winsock_slices(self):
        proc = matrix("--platform", "windows", "--launcher", "wine", "--quick", "--dry-run")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        names = [ln.split()[1] for ln in proc.stdout.splitlines() if ln[:4].strip().isdigit()]
        self.assertEqual(len(names), 12, proc.stdout)
        self.assertTrue(all(n.startswith("windows-wine-") for n in names), names)

    def test_targets(self):
        proc = matrix("--platform", "windows", "--launcher", "wine", "--models", "iocp,select",
                      "--targets", "windows")
        self.assertEqual(proc.stdout.split(),
                         ["loadgen", "hdrtool", "server-iocp", "server-select"])

    def test_usage_errors(self):
        for args, text in (
                (["--platform", "windows"], "needs --launcher wine"),
                (["--launcher", "wine"], "goes with --platform windows"),
                (["--platform", "windows", "--launcher", "wine", "--models", "epoll"],
                 "no Winsock model named 'epoll'"),
                (["--platform", "windows", "--launcher", "wine", "--models", "wine:iocp"],
                 "without a prefix"),
                (["--platform", "windows", "--launcher", "wine", "--no-wine"], "--no-wine")):
            proc = matrix(*args, "--dry-run")
            self.assertEqual(proc.returncode, 2, (args, proc.stdout, proc.stderr))
            self.assertIn(text, proc.stderr, args)
        proc = matrix("--platform", "mac")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("usage:", proc.stderr)


class NoiseWithoutProcTest(unittest.TestCase):
    """What the noise meter does where Windows lacks /proc/stat, getrusage and
    the load average: nothing to report, no error, nothing marked disturbed."""

    def test_noise_is_empty_and_cells_csv_says_nothing(self):
        def no_proc(path, *a, **k):
            raise FileNotFoundError(path)
        with mock.patch.object(matrix_py, "resource", None), \
                mock.patch.object(matrix_py.os, "getloadavg", side_effect=OSError), \
                mock.patch.object(matrix_py.Path, "read_text", no_proc):
            self.assertIsNone(matrix_py.load_average())
            with matrix_py.NoiseMeter() as noise:
                pass
            result = noise.result(0.0, 0.1)
        self.assertEqual(result, {})
        cell = matrix_py.Cell("windows", "iocp", "closed", "echo", 10, 16)
        outcome = matrix_py.Outcome(cell, "ok", repetition=1, noise=result, load1=None)
        self.assertFalse(outcome.disturbed)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "cells.csv"
            matrix_py.write_cells(path, [outcome])
            with open(path, newline="") as f:
                row = next(csv.DictReader(f))
        self.assertEqual(row["label"], "windows-iocp-echo-closed-c10-s16-r1")
        for column in ("load1", "load1_end", "others_cpu_share", "steal_share", "disturbed"):
            self.assertEqual(row[column], "", column)


if __name__ == "__main__":
    if sys.platform == "win32":
        print("SKIPPED: the flag checks assume a Linux host")
        sys.exit(77)
    unittest.main()
