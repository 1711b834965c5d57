"""What several tests of the Python tools share: reading a CSV file the tools
wrote, and a temporary run folder that lives as long as a test class.

The tests run as scripts (python3 tools/tests/test_X.py), so this folder is
on sys.path and `import helpers` finds this file.
"""

import csv
import shutil
import tempfile
import unittest
from pathlib import Path


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
