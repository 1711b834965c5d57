#!/usr/bin/env python3
"""A bench binary's CSV and JSON output, to a file and to stdout.

Runs the command (a bench binary with its filter, and under windows-cross
its emulator) four times: --benchmark_out_format=csv and json into a file,
--benchmark_format=csv and json on stdout. Each output must parse: CSV with
one header and rows of the same width, holding every column named by
--columns (counters that only some benchmarks report) and at least
--min-rows runs, none failed; JSON with a "benchmarks" array of that size.

Usage: check_formats.py [--columns a,b] [--min-rows N] -- COMMAND...
"""
import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile


def check_csv(text, columns, min_rows, what):
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return [f"{what}: empty"]
    header, body = rows[0], rows[1:]
    problems = [f"{what}: no column {c!r} in {header}" for c in columns if c not in header]
    if len(body) < min_rows:
        problems.append(f"{what}: {len(body)} rows, want at least {min_rows}")
    for i, row in enumerate(body, 2):
        if len(row) != len(header):
            problems.append(f"{what}: line {i} has {len(row)} fields, the header {len(header)}")
        elif row[header.index("error_occurred")] != "false":
            problems.append(f"{what}: line {i} is a failed run: {row}")
    for c in columns:
        if c in header and not any(r[header.index(c)] for r in body if len(r) == len(header)):
            problems.append(f"{what}: column {c!r} is empty in every row")
    return problems


def check_json(text, min_rows, what):
    try:
        doc = json.loads(text)
    except ValueError as e:
        return [f"{what}: not JSON ({e}): {text[:200]!r}"]
    runs = doc.get("benchmarks", [])
    return [] if len(runs) >= min_rows else [f"{what}: {len(runs)} benchmarks, want {min_rows}"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--columns", default="")
    parser.add_argument("--min-rows", type=int, default=1)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    columns = [c for c in args.columns.split(",") if c]
    problems = []
    with tempfile.TemporaryDirectory(prefix="bench_formats_") as tmp:
        for fmt in ("csv", "json"):
            name = "out." + fmt
            r = subprocess.run(command + [f"--benchmark_out={name}", f"--benchmark_out_format={fmt}"],
                               cwd=tmp, capture_output=True, text=True, timeout=300)
            path = os.path.join(tmp, name)
            if r.returncode != 0 or not os.path.exists(path):
                problems.append(f"--benchmark_out_format={fmt}: exit {r.returncode}\n{r.stderr[-2000:]}")
                continue
            with open(path, encoding="utf-8") as f:
                text = f.read()
            problems += (check_csv(text, columns, args.min_rows, f"{fmt} file") if fmt == "csv"
                         else check_json(text, args.min_rows, f"{fmt} file"))
            r = subprocess.run(command + [f"--benchmark_format={fmt}"], cwd=tmp, capture_output=True,
                               text=True, timeout=300)
            if r.returncode != 0:
                problems.append(f"--benchmark_format={fmt}: exit {r.returncode}\n{r.stderr[-2000:]}")
                continue
            problems += (check_csv(r.stdout, columns, args.min_rows, f"{fmt} stdout") if fmt == "csv"
                         else check_json(r.stdout, args.min_rows, f"{fmt} stdout"))
    for p in problems:
        print("FAIL", p)
    print("PASS" if not problems else "FAILED")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
