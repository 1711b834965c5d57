#!/usr/bin/env python3
"""Prints what each failed test of a CTest JUnit file said about its failure.

tools/test.sh shows only the tail of CTest's console output, which names a
failed test but not why it failed; when the failure is intermittent, that
reason is all that is left of it. For each failed test this prints the
Google Test failure blocks (a `Failure` line and what follows it, up to the
next test) and the `[  FAILED  ]` summary, or the last lines of its output
when it is not a Google Test program.

    tools/junit_failures.py build/linux/ctest-junit.xml
"""
import sys
import xml.etree.ElementTree as ET

CONTEXT = 12  # lines kept after each failure line
TAIL = 30     # lines kept of output without Google Test failure lines


def failure_lines(output: str) -> list[str]:
    lines = output.splitlines()
    keep = set()
    for i, line in enumerate(lines):
        if "Failure" in line or "[  FAILED  ]" in line or "ERROR: AddressSanitizer" in line:
            # From the test that failed: back to its `[ RUN      ]` line when it is near.
            start = i
            while start > 0 and i - start < CONTEXT and "[ RUN      ]" not in lines[start]:
                start -= 1
            keep.update(range(start, min(len(lines), i + CONTEXT)))
    if not keep:
        return lines[-TAIL:]
    out, last = [], None
    for i in sorted(keep):
        if last is not None and i != last + 1:
            out.append("    ...")
        out.append(lines[i])
        last = i
    return out


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    try:
        root = ET.parse(sys.argv[1]).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"junit_failures: cannot read {sys.argv[1]}: {e}", file=sys.stderr)
        return 1
    for case in root.iter("testcase"):
        if case.get("status") != "fail":
            continue
        out = case.findtext("system-out") or ""
        print(f"---- why {case.get('name')} failed ({case.get('time')} s):")
        for line in failure_lines(out):
            print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
