"""The command line of tools/plot.py."""

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

# style first: without matplotlib it says how to install it, before the
# figure modules fail on their own imports of it.
from .style import plt  # noqa: I100
from .figures.bench import plot_bench
from .figures.capacity import plot_capacity
from .figures.chat import is_chat, plot_chat
from .figures.latency import Spectra, plot_spectra
from .figures.resources import plot_resources
from .figures.throughput import plot_throughput, plot_variants
from .figures.timeseries import plot_timeseries
from .html import write_report
from .load import load_inputs
from wsbcli import Parser  # noqa: I100 (tools/, on the path of every entry point)
from . import __doc__ as PLOT_DOC

ROOT = Path(__file__).resolve().parents[2]


def find_hdrtool(explicit, runs):
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    # hdrtool.exe on Windows: beside loadgen.exe, or in a Windows build.
    name = "hdrtool.exe" if sys.platform == "win32" else "hdrtool"
    candidates = []
    for run in runs:
        lg = run.machine.get("loadgen")
        if lg:
            candidates.append(Path(lg).parent / name)
    builds = (["windows-msvc/bin/RelWithDebInfo", "windows-msvc/bin", "windows-cross/bin"]
              if sys.platform == "win32" else ["linux/bin"])
    candidates += [ROOT / "build" / b / name for b in builds]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return shutil.which("hdrtool")


def report_title(runs):
    """The report's title: a run's own title (machine.json "title"), else its
    folder's name, so that reports of different runs do not share a title."""
    if not runs:
        return "wsbench micro-benchmarks"
    return "wsbench results — " + ", ".join(r.machine.get("title") or r.name
                                             for r in runs if r.rows)


def main(argv=None):
    p = Parser(prog="plot.py", formatter_class=argparse.RawDescriptionHelpFormatter,
               description=PLOT_DOC.split("\n\n")[0] + "\n\n" + PLOT_DOC.split("\n\n")[1],
               epilog="Figures: throughput, latency spectra, time series, server resources, "
                      "chat delivery spectra, bench-core bars, capacity (latency against offered "
                      "rate).\nNative and Wine results never share an axis.\n"
                      "exit status: 0 done, 1 nothing plottable, 2 usage error")
    p.add_argument("inputs", nargs="+", metavar="RUN_DIR_OR_CSV",
                   help="run folders of tools/matrix.py, loadgen CSV files, bench-core "
                        "JSON/CSV files")
    p.add_argument("--out", required=True, type=Path, help="folder for the PNG files and "
                                                            "report.html (created)")
    p.add_argument("--hdrtool", help="hdrtool program for the .hlog spectra (default: beside "
                                     "the run's loadgen, build/linux/bin, or PATH)")
    p.add_argument("--series", metavar="REGEX",
                   help="time series of the cells whose label matches REGEX (default: one "
                        "representative connection count per platform)")
    p.add_argument("--title", default=None, help="title of report.html (default: \"wsbench "
                   "results — \" and each run's machine.json \"title\", else its folder's name)")
    args = p.parse_args(argv)
    if args.series:
        try:
            re.compile(args.series)
        except re.error as e:
            p.error(f"--series: {e}")

    runs, benches, problems = load_inputs(args.inputs)
    rows = [r for run in runs for r in run.rows]
    if not rows and not benches and not any(run.capacity for run in runs):
        for msg in problems:
            print(f"plot.py: {msg}", file=sys.stderr)
        print("plot.py: nothing to plot", file=sys.stderr)
        return 1
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    many_runs = len([r for r in runs if r.rows]) > 1
    hdrtool = find_hdrtool(args.hdrtool, runs)
    if rows and not hdrtool:
        problems.append("hdrtool not found (build the hdrtool target or pass --hdrtool): "
                        "spectra from .hgrm files only")
    spectra = Spectra(hdrtool)
    figures = []
    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "figure.dpi": 100})
    # Chat cells have figures of their own (figures/chat.py).
    chat_rows = [r for r in rows if is_chat(r)]
    rr_rows = [r for r in rows if not is_chat(r)]
    steps = [
        ("throughput", lambda: plot_throughput(rr_rows, out, figures, many_runs)),
        ("variants", lambda: plot_variants(rr_rows, out, figures, many_runs)),
        ("spectra", lambda: plot_spectra(rr_rows, out, figures, spectra, many_runs)),
        ("time series", lambda: plot_timeseries(rr_rows, out, figures, many_runs, args.series)),
        ("resources", lambda: plot_resources(rr_rows, out, figures, many_runs)),
        ("chat", lambda: plot_chat(chat_rows, out, figures, spectra, many_runs)),
        ("bench-core", lambda: plot_bench(benches, out, figures)),
        ("capacity", lambda: plot_capacity(runs, out, figures)),
    ]
    for name, step in steps:
        before = len(figures)
        step()
        print(f"plot: {name}: {len(figures) - before} figure(s)", flush=True)
    problems += spectra.problems
    title = args.title or report_title(runs)
    write_report(out, runs, figures, problems, title, many_runs)
    for msg in problems:
        print(f"plot.py: {msg}", file=sys.stderr)
    print(f"plot: {len(figures)} figures and {out / 'report.html'}", flush=True)
    return 0 if figures else 1


if __name__ == "__main__":
    sys.exit(main())
