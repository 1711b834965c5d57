#!/usr/bin/python3
"""Compare two wsbench runs cell by cell: what changed, and is it real?

    tools/compare.py A B [--fail-on-regression 5%] [--csv FILE]

A and B are run folders of tools/matrix.py (their summary.csv) or loadgen CSV
files. Cells are matched by what they measure (platform, model, workload,
protocol, size, connections), not by label. For every matched cell and for
throughput, p50 and p99 latency, the change from A to B is the
Hodges-Lehmann ratio B/A (the median of every ratio between a repetition of B
and one of A) with its exact Mann-Whitney confidence interval; it is
significant when the interval excludes "no change". Cells measured once in A
or B get the change of their single figures and no interval: nothing can be
called significant without repetitions (tools/matrix.py --repeat).

When A and B are both run folders with verdicts.csv, a line "ranking:"
also says whether B repeats A's ranking of the models: how many pairs of
models each run called significantly different, how many both called the
same way, and every pair called one way in A and the other way in B
(reversed).

--fail-on-regression P: exit 1 when a matched cell got significantly worse
(lower throughput, or higher p50 or p99) and its estimated change is worse
than P percent. Cells present in only one run are listed, and never fail.

Standard library only. Exit status: 0 done (no regression beyond P), 1 a
regression beyond P, 2 usage error or unreadable input.
"""

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wsbplot.stats import median, shift_interval  # noqa: E402
from wsbplot.verdicts import cell_key, counted, number  # noqa: E402
from wsbcli import Parser, percent  # noqa: E402

# (column, what it is, True when higher is better)
METRICS = [("requests_per_s", "throughput", True), ("latency_p50_us", "p50", False),
           ("latency_p99_us", "p99", False)]
HEADER = ["platform", "workload", "protocol", "size_bytes", "connections", "model", "metric",
          "repetitions_a", "repetitions_b", "median_a", "median_b", "change_pct", "ci_low_pct",
          "ci_high_pct", "ci_level", "p_value", "significant", "direction", "regression"]


class InputError(Exception):
    pass


def read_rows(spec):
    """The loadgen rows of a run folder (its summary.csv) or of a CSV file."""
    path = Path(spec)
    if path.is_dir():
        path = path / "summary.csv"
        if not path.is_file():
            raise InputError(f"{spec}: a run folder without summary.csv")
    elif not path.is_file():
        raise InputError(f"{spec}: no such file or folder")
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{path}: unreadable ({e})")
    if not rows or not {"mode", "requests_per_s", "latency_p50_us"} <= rows[0].keys():
        raise InputError(f"{path}: not a loadgen CSV (loadgen --csv; results/README.md)")
    return rows


def cells(rows):
    out = {}
    for r in rows:
        if counted(r):
            out.setdefault(cell_key(r), []).append(r)
    return out


def compare_metric(a_rows, b_rows, column, higher_better, threshold):
    a = [number(r.get(column)) for r in a_rows]
    b = [number(r.get(column)) for r in b_rows]
    a = [v for v in a if v is not None and v > 0]
    b = [v for v in b if v is not None and v > 0]
    if not a or not b:
        return None
    res = shift_interval(b, a)
    row = {"repetitions_a": len(a), "repetitions_b": len(b), "median_a": f"{median(a):.6g}",
           "median_b": f"{median(b):.6g}"}
    if res is None:
        ratio = median(b) / median(a)
        row.update(change_pct=f"{(ratio - 1) * 100:.1f}", ci_low_pct="", ci_high_pct="",
                   ci_level="", p_value="", significant="untestable (one repetition)")
        significant = False
    else:
        ratio, lo, hi, level, p = res
        significant = lo > 1 or hi < 1
        row.update(change_pct=f"{(ratio - 1) * 100:.1f}", ci_low_pct=f"{(lo - 1) * 100:.1f}",
                   ci_high_pct=f"{(hi - 1) * 100:.1f}", ci_level=f"{level:.4f}",
                   p_value=f"{p:.4g}", significant="yes" if significant else "no")
    better = (ratio > 1) == higher_better
    row["direction"] = ("better" if better else "worse") if significant else "no change"
    worse_by = (1 - ratio) * 100 if higher_better else (ratio - 1) * 100
    row["regression"] = "yes" if significant and not better and worse_by > threshold else ""
    return row


def describe(key):
    plat, mode, protocol, size, conns, model = key
    return (f"{model}{' (Wine)' if plat == 'wine' else ''} {mode} {protocol}"
            + (f" {size} B" if size is not None else "") + f" c{conns}")


def compare(a_cells, b_cells, threshold):
    out = []
    for key in sorted(set(a_cells) & set(b_cells), key=lambda k: tuple(map(str, k))):
        plat, mode, protocol, size, conns, model = key
        for column, name, higher_better in METRICS:
            if mode == "hold":
                continue
            row = compare_metric(a_cells[key], b_cells[key], column, higher_better, threshold)
            if row is None:
                continue
            row.update(platform=plat, workload=mode, protocol=protocol,
                       size_bytes="" if size is None else size, connections=conns, model=model,
                       metric=name)
            out.append(row)
    return out


def pair_verdicts(spec):
    """A run folder's verdicts.csv as {pair key: +1 (model_a faster), -1
    (slower), 0 (no significant difference)}, every pair keyed with its two
    models in name order; None for a CSV file or a folder without verdicts."""
    path = Path(spec) / "verdicts.csv"
    if not path.is_file():
        return None
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{path}: unreadable ({e})")
    out = {}
    for v in rows:
        sign = {"faster": 1, "slower": -1}.get(v.get("verdict"), 0)
        a, b = v.get("model_a", ""), v.get("model_b", "")
        if a > b:
            a, b, sign = b, a, -sign
        key = tuple(v.get(k, "") for k in ("platform", "workload", "protocol", "size_bytes",
                                             "connections", "group_size")) + (a, b)
        out[key] = sign
    return out


def ranking_agreement(a_pairs, b_pairs):
    """How the two runs' model rankings agree: of the pairs both runs judged,
    how many each called significant, how many both called the same way
    (confirmed), and which were called one way in A and the other in B
    (reversed: the failure a reproducible benchmark must not show)."""
    common = set(a_pairs) & set(b_pairs)
    reversed_pairs = sorted(k for k in common if a_pairs[k] * b_pairs[k] < 0)
    return {"pairs": len(common),
            "significant_a": sum(1 for k in common if a_pairs[k]),
            "significant_b": sum(1 for k in common if b_pairs[k]),
            "confirmed": sum(1 for k in common if a_pairs[k] and a_pairs[k] == b_pairs[k]),
            "reversed": reversed_pairs}


def print_ranking(agreement):
    r = agreement
    print(f"ranking: {r['pairs']} pairs of models judged in both runs; significant in A "
          f"{r['significant_a']}, in B {r['significant_b']}; called the same way in both "
          f"{r['confirmed']}; reversed {len(r['reversed'])}")
    for key in r["reversed"]:
        plat, mode, protocol, size, conns, group, a, b = key
        print(f"  reversed: {a} vs {b}{' (Wine)' if plat == 'wine' else ''} {mode} {protocol}"
              + (f" {size} B" if size else "") + f" c{conns}" + (f" g{group}" if group else ""))


def print_table(results, only_a, only_b, a_name, b_name):
    print(f"compare: {a_name} -> {b_name}")
    for r in results:
        key = (r["platform"], r["workload"], r["protocol"], r["size_bytes"] or None,
               r["connections"], r["model"])
        ci = (f" (CI {float(r['ci_low_pct']):+.1f} to {float(r['ci_high_pct']):+.1f} %, "
              f"{float(r['ci_level']) * 100:.0f} %)" if r["ci_level"] else " (no interval)")
        flag = "  REGRESSION" if r["regression"] else ""
        print(f"  {describe(key):<36} {r['metric']:<10} {float(r['change_pct']):+7.1f} %{ci} "
              f"{r['direction']}{flag}")
    for name, keys in ((a_name, only_a), (b_name, only_b)):
        for key in sorted(keys, key=lambda k: tuple(map(str, k))):
            print(f"  only in {name}: {describe(key)}")


def main(argv=None):
    p = Parser(prog="compare.py", formatter_class=argparse.RawDescriptionHelpFormatter,
               description=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[1],
               epilog="exit status: 0 done, 1 a regression beyond --fail-on-regression, "
                      "2 usage error or unreadable input. Method: results/README.md.")
    p.add_argument("a", metavar="A", help="the reference: run folder or loadgen CSV file")
    p.add_argument("b", metavar="B", help="the run compared with it")
    p.add_argument("--fail-on-regression", type=percent, metavar="P%",
                   help="exit 1 when a matched cell got significantly worse by more than P %%")
    p.add_argument("--csv", type=Path, metavar="FILE",
                   help="write every comparison here (default: compare.csv in B's folder, or "
                        "B.compare.csv beside a CSV file B)")
    args = p.parse_args(argv)
    try:
        a_cells, b_cells = cells(read_rows(args.a)), cells(read_rows(args.b))
        a_pairs, b_pairs = pair_verdicts(args.a), pair_verdicts(args.b)
    except InputError as e:
        print(f"compare.py: {e}", file=sys.stderr)
        return 2
    threshold = args.fail_on_regression if args.fail_on_regression is not None else 0.0
    results = compare(a_cells, b_cells, threshold)
    only_a = set(a_cells) - set(b_cells)
    only_b = set(b_cells) - set(a_cells)
    print_table(results, only_a, only_b, args.a, args.b)
    b_path = Path(args.b)
    out = args.csv or (b_path / "compare.csv" if b_path.is_dir()
                       else b_path.with_suffix(".compare.csv"))
    try:
        with open(out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=HEADER, lineterminator="\n")
            w.writeheader()
            w.writerows(results)
    except OSError as e:
        print(f"compare.py: cannot write {out}: {e}", file=sys.stderr)
        return 2
    if a_pairs is not None and b_pairs is not None:
        print_ranking(ranking_agreement(a_pairs, b_pairs))
    regressions = [r for r in results if r["regression"]]
    print(f"compare: {len(results)} comparisons of {len(set(a_cells) & set(b_cells))} matched "
          f"cells, {sum(r['direction'] != 'no change' for r in results)} significant, "
          f"{len(regressions)} regression(s)"
          + (f" beyond {threshold:g} %" if args.fail_on_regression is not None else "")
          + f"; {len(only_a)} only in A, {len(only_b)} only in B; written to {out}")
    return 1 if regressions and args.fail_on_regression is not None else 0


if __name__ == "__main__":
    sys.exit(main())
