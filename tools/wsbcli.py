"""What the command lines of the tools share (matrix.py, compare.py, plot.py):
a parser whose usage errors exit 2 with one line that names --help, and the
argparse types of bounded numbers."""

import argparse
import sys


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on a bad flag; this keeps that and names --help."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def bounded(convert, what, holds, rule, example=""):
    """An argparse type: `convert` the text, which must give `what` for which
    `holds(value)` is true; otherwise the one-line error says `rule`."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text}{example}")
        if not holds(value):
            raise argparse.ArgumentTypeError(f"{rule}: {text}")
        return value

    return parse


positive_float = bounded(float, "a number", lambda v: v > 0, "must be above zero")
positive_int = bounded(int, "a whole number", lambda v: v >= 1, "must be at least 1")
non_negative_float = bounded(float, "a number", lambda v: v >= 0, "must not be negative")
# "5%" or "5": a percentage, never negative.
percent = bounded(lambda text: float(text.strip().rstrip("%")), "a percentage",
                  lambda v: v >= 0, "must not be negative", " (e.g. 5%)")
