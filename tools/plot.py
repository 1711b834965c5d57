#!/usr/bin/python3
"""Plot wsbench results: PNG files and one report.html that shows them.

    tools/plot.py RUN_DIR_OR_CSV... --out DIR

The entry point of the package tools/wsbplot/ (see its __init__.py and
--help). Uses Debian's python3-matplotlib: run it with /usr/bin/python3.
On Windows: `py tools\plot.py ...` with matplotlib from pip (README, "On Windows").
"""

import sys
from pathlib import Path

# The package lives beside this script; the folder is put first so that
# running the script from any working folder finds it.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from wsbplot.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
