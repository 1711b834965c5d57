"""What several tests of the Python tools share: running a tool, reading a
CSV file the tools wrote, and a temporary run folder that lives as long as a
test class.

The tests run as scripts (python3 tools/tests/test_X.py), so this folder is
on sys.path and `import helpers` finds this file.
"""

import csv
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1]


def run_tool(script, *args, timeout):
    """Runs tools/`script` with `args` under this Python; its output is
    captured as text."""
    return subprocess.run([sys.executable, str(TOOLS / script), *args], capture_output=True,
                          text=True, timeout=timeout)


def read(path):
    """The rows of a CSV file with a header line, as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class RunFolderTest(unittest.TestCase):
    """A test class whose tests read one run folder, cls.out, which does not
    exist yet (matrix.py creates it) in a temporary folder named after
    PREFIX; the temporary folder is removed after the class's last test.
    A subclass's setUpClass calls this one first, then fills cls.out."""

    PREFIX = "wsb-"

    @classmethod
    def setUpClass(cls):
        cls.out = Path(tempfile.mkdtemp(prefix=cls.PREFIX)) / "run"

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out.parent)
