#!/usr/bin/python3
"""Plot wsbench results: PNG files and one report.html that shows them.

    tools/plot.py RUN_DIR_OR_CSV... --out DIR

Inputs are run folders written by tools/matrix.py (summary.csv, cells.csv,
machine.json, intervals/, hlog/), loadgen CSV files (loadgen --csv), and
Google Benchmark results of bench-core (JSON, or CSV from
--benchmark_format=csv); a run folder's bench-core*.json files are taken too.

Figures:
  throughput-*.png   responses/s against connections (log x), one line per
                     model; and bars comparing sizes and protocols
  spectrum-*.png     latency percentile spectra on HdrHistogram's 1/(1-p)
                     axis, from each cell's .hlog (through hdrtool report)
  timeseries-*.png   per-second throughput and p99 of representative cells
  resources-*.png    server CPU per request, threads, peak memory against
                     connections, and memory per held connection
  bench-*.png        bench-core results as bar charts

Native and Wine figures never share an axis: every figure of Winsock models
run under Wine is a separate panel (or file) whose title says so, and their
legend entries end in "(Wine)".

Uses Debian's python3-matplotlib (run with /usr/bin/python3); PyPI is not
needed. Exit status: 0 done, 1 nothing plottable or an input unreadable,
2 usage error.
"""

import argparse
import csv
import html
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    from matplotlib.patches import Patch
except ImportError:  # pragma: no cover - depends on the machine
    sys.stderr.write("plot.py: matplotlib is missing; install Debian's python3-matplotlib "
                     "and run this with /usr/bin/python3\n")
    sys.exit(1)

WINE_NOTE = ("Winsock models under Wine 8.0 on Linux: every socket call goes through "
             "wineserver. Compare them with each other, not with native or Windows figures.")
PLATFORM_TITLE = {"native": "native Linux models",
                  "wine": "Winsock models under Wine (not Windows)"}

# One colour and marker per model, stable across every figure.
NATIVE_ORDER = ["threads", "nonblocking", "select", "poll", "epoll", "uring"]
WINE_ORDER = ["blocking-single", "blocking-threads", "nonblocking", "select", "async-select",
              "event-select", "overlapped-event", "overlapped-routine", "iocp", "rio"]
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# ---- Loading -------------------------------------------------------------------


def num(text, default=None):
    if text is None or text == "":
        return default
    try:
        return float(text)
    except ValueError:
        return default


class Run:
    """One run folder (or one loose CSV file): its rows and where its files are."""

    def __init__(self, name, folder, rows, cells, machine):
        self.name = name
        self.folder = folder
        self.rows = rows
        self.cells = cells
        self.machine = machine


class Row:
    """One loadgen CSV row with the fields the plots group by."""

    def __init__(self, run, raw):
        self.run = run
        self.raw = raw
        self.platform = raw.get("server_platform") or raw.get("platform") or "native"
        self.model = raw.get("server_model") or raw.get("label") or raw.get("target") or "?"
        self.protocol = raw.get("protocol", "")
        self.mode = raw.get("mode", "")
        self.connections = int(num(raw.get("connections"), 0))
        lo, hi = raw.get("size_min", ""), raw.get("size_max", "")
        # The size means nothing for HTTP requests and held connections.
        if self.protocol == "http" or self.mode == "hold":
            self.size = None
        else:
            self.size = lo if lo == hi else f"{lo}-{hi}"
        self.label = raw.get("label", "")
        self.exit_code = int(num(raw.get("exit_code"), 0))

    def get(self, column, default=None):
        return num(self.raw.get(column), default)

    @property
    def wineserver_cpu_s(self):
        """wineserver's CPU during the cell (tools/matrix.py's cells.csv), or None."""
        for c in self.run.cells:
            if c.get("cell") == self.label:
                return num(c.get("wineserver_cpu_s"))
        return None

    def cpu_per_request_us(self, with_wineserver=True):
        """Server CPU (user + system) per request it counted, in microseconds;
        under Wine plus wineserver's share when it was measured."""
        cpu = (self.get("server_cpu_user_s", 0) or 0) + (self.get("server_cpu_system_s", 0) or 0)
        if with_wineserver and self.platform == "wine":
            cpu += self.wineserver_cpu_s or 0
        n = self.get("server_requests") or self.get("responses") or 0
        return cpu / n * 1e6 if n else None

    @property
    def variant(self):
        return self.protocol + (f" {self.size} B" if self.size is not None else "")

    def file(self, sub, ext):
        if self.run.folder is None or not self.label:
            return None
        path = self.run.folder / sub / f"{self.label}{ext}"
        return path if path.is_file() else None


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def is_bench_csv(path):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("name,iterations,real_time"):
                    return True
                if line.strip() and not line.startswith(("-", " ", "Run on", "CPU", "Load",
                                                         "***", "L1", "L2", "L3")):
                    return False
    except OSError:
        return False
    return False


def load_bench(path):
    """Google Benchmark results: a list of dicts with name, label, time, unit, rates."""
    out = []
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        context = data.get("context", {})
        for b in data.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
                continue
            out.append(b)
        return out, context
    lines = path.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("name,iterations,real_time"))
    for r in csv.DictReader(lines[start:]):
        if r.get("error_occurred") == "true":
            continue
        b = {"name": r["name"].strip('"'), "label": r.get("label", "").strip('"'),
             "real_time": num(r["real_time"]), "cpu_time": num(r["cpu_time"]),
             "time_unit": r.get("time_unit", "ns")}
        for k in ("items_per_second", "bytes_per_second"):
            if num(r.get(k)) is not None:
                b[k] = num(r.get(k))
        out.append(b)
    return out, {}


def load_inputs(paths):
    runs, benches, problems = [], [], []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            summary = path / "summary.csv"
            cells = read_csv(path / "cells.csv") if (path / "cells.csv").is_file() else []
            machine = {}
            if (path / "machine.json").is_file():
                machine = json.loads((path / "machine.json").read_text())
            rows = read_csv(summary) if summary.is_file() else []
            if not rows and not cells:
                problems.append(f"{path}: no summary.csv or cells.csv")
            run = Run(path.name, path, [], cells, machine)
            run.rows = [Row(run, r) for r in rows]
            runs.append(run)
            for b in sorted(path.glob("bench-core*.json")) + sorted(path.glob("bench-core*.csv")):
                benches.append((b, *load_bench(b)))
        elif path.is_file():
            if path.suffix == ".json" or is_bench_csv(path):
                try:
                    benches.append((path, *load_bench(path)))
                except (ValueError, StopIteration, KeyError) as e:
                    problems.append(f"{path}: not a Google Benchmark result ({e})")
                continue
            rows = read_csv(path)
            if not rows or not {"mode", "requests_per_s", "latency_p50_us"} <= rows[0].keys():
                problems.append(f"{path}: not a loadgen CSV (loadgen --csv; results/README.md)")
                continue
            # A run folder's summary.csv brings its intervals and hlog files.
            folder = path.parent if (path.parent / "hlog").is_dir() else None
            machine, cells = {}, []
            if folder and (folder / "machine.json").is_file():
                machine = json.loads((folder / "machine.json").read_text())
            if folder and (folder / "cells.csv").is_file():
                cells = read_csv(folder / "cells.csv")
            run = Run(str(path.parent.name if folder else path.stem), folder, [], cells, machine)
            run.rows = [Row(run, r) for r in rows]
            runs.append(run)
        else:
            problems.append(f"{path}: no such file or folder")
    # Several runs in one figure: their names tell the lines apart.
    names = [r.name for r in runs]
    for i, r in enumerate(runs):
        if names.count(r.name) > 1:
            r.name = f"{r.name}#{i + 1}"
    return runs, benches, problems


# ---- Helpers -------------------------------------------------------------------


def series_name(row, many_runs):
    name = row.model + (" (Wine)" if row.platform == "wine" else "")
    return f"{name} [{row.run.name}]" if many_runs else name


def style(platform, model):
    order = WINE_ORDER if platform == "wine" else NATIVE_ORDER
    i = order.index(model) if model in order else (sum(map(ord, model)) % len(PALETTE))
    return PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]


def slug(text):
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def fmt_count(v, _pos=None):
    """Three significant digits with k, M and G: 1, 250, 12.5k, 308M, 1.79G."""
    if v >= 1e9:
        return f"{v / 1e9:.3g}G"
    if v >= 1e6:
        return f"{v / 1e6:.3g}M"
    if v >= 1e3:
        return f"{v / 1e3:.3g}k"
    return f"{v:.3g}"


def fmt_us(v):
    if v is None:
        return ""
    if v >= 1e6:
        return f"{v / 1e6:.2f} s"
    if v >= 1e3:
        return f"{v / 1e3:.2f} ms"
    return f"{v:.0f} µs" if v >= 100 else f"{v:.1f} µs"


def fmt_us_tick(v, _pos=None):
    """Axis ticks in microseconds: 20 µs, 100 µs, 1 ms, 2.5 ms, 1 s."""
    if v >= 1e6:
        return f"{v / 1e6:.3g} s"
    if v >= 1e3:
        return f"{v / 1e3:.3g} ms"
    return f"{v:.3g} µs"


def log_ticks(ax, axis, formatter):
    """Labels at 1, 2 and 5 of every decade, so that a log axis spanning less
    than a decade still carries numbers."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(formatter))
    target.set_minor_locator(LogLocator(base=10, subs=(3.0, 4.0, 6.0, 7.0, 8.0, 9.0)))
    target.set_minor_formatter(NullFormatter())


def thin_log_ticks(axes, formatter):
    """Once every panel is drawn: label only the decades of a log y axis that
    spans more than four, so that the labels stay apart."""
    for ax in axes:
        lo, hi = ax.get_ylim()
        if lo > 0 and hi / lo > 1e4:
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0,)))
            ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.yaxis.set_major_formatter(FuncFormatter(formatter))


def fmt_bytes(v):
    if v is None:
        return ""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.1f} {unit}"
    return f"{v:.0f} B"


def connection_ticks(ax, values):
    """Log x axis labelled at the connection counts measured."""
    ax.set_xscale("log")
    ticks = sorted(set(values))
    if ticks:
        ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(FuncFormatter(fmt_count))
    ax.xaxis.set_minor_formatter(NullFormatter())


def platforms_of(rows):
    return [p for p in ("native", "wine") if any(r.platform == p for r in rows)]


def panel_title(platform, extra=""):
    return PLATFORM_TITLE.get(platform, platform) + (f"\n{extra}" if extra else "")


def new_figure(n_panels, width_per=6.2, height=4.8):
    fig, axes = plt.subplots(1, n_panels, figsize=(width_per * n_panels + 0.6, height),
                             squeeze=False)
    return fig, list(axes[0])


def finish(fig):
    """tight_layout, which leaves room for the suptitle since matplotlib 3.3."""
    fig.tight_layout()


def save(fig, out, name, figures, caption, group):
    path = out / name
    fig.savefig(path, dpi=100)
    plt.close(fig)
    # A 256-colour palette keeps the figures (plain lines, text and bars)
    # unchanged to the eye at about a third of the size, which matters for
    # the committed reference runs. Pillow comes with Debian's matplotlib.
    try:
        from PIL import Image
        with Image.open(path) as im:
            small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(path, optimize=True)
    except (ImportError, AttributeError, OSError):
        pass
    figures.append({"file": name, "caption": caption, "group": group})


def legend(ax, n):
    if n == 0:
        return
    ax.legend(fontsize=8 if n > 6 else 9, loc="best", framealpha=0.85,
              ncol=2 if n > 6 else 1)


# ---- Throughput ----------------------------------------------------------------


def plot_throughput(rows, out, figures, many_runs):
    closed = [r for r in rows if r.mode == "closed"]
    groups = defaultdict(list)
    for r in closed:
        groups[(r.protocol, r.size)].append(r)
    for (protocol, size), grp in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        # A sweep needs two connection counts for some model.
        counts = defaultdict(set)
        for r in grp:
            counts[(r.platform, r.model, r.run.name)].add(r.connections)
        if max(len(v) for v in counts.values()) < 2:
            continue
        plats = platforms_of(grp)
        fig, axes = new_figure(len(plats))
        what = f"{protocol}" + (f", {size}-byte requests" if size is not None else "")
        for ax, plat in zip(axes, plats):
            series = defaultdict(list)
            for r in grp:
                if r.platform == plat:
                    series[series_name(r, many_runs)].append(r)
            bad_label_done = False
            for name in sorted(series, key=lambda s: sort_key(series[s][0])):
                pts = sorted(series[name], key=lambda r: r.connections)
                color, marker = style(plat, pts[0].model)
                xs = [r.connections for r in pts]
                ys = [r.get("requests_per_s", 0.0) for r in pts]
                ax.plot(xs, ys, marker=marker, color=color, label=name, linewidth=1.6)
                for r, x, y in zip(pts, xs, ys):
                    if r.exit_code != 0 or r.get("errors", 0) > 0:
                        ax.plot([x], [y], marker="o", markersize=13, markerfacecolor="none",
                                markeredgecolor="red", linestyle="none",
                                label=None if bad_label_done else "cell with errors")
                        bad_label_done = True
            connection_ticks(ax, [r.connections for r in grp if r.platform == plat])
            ax.yaxis.set_major_formatter(FuncFormatter(fmt_count))
            ax.set_ylim(bottom=0)
            ax.set_xlabel("concurrent connections (log scale)")
            ax.set_ylabel("throughput (responses/s)")
            ax.set_title(panel_title(plat), fontsize=11)
            ax.grid(True, which="both", alpha=0.3)
            legend(ax, len(series))
        fig.suptitle(f"Throughput against connections — closed loop, {what}", fontsize=13)
        finish(fig)
        name = f"throughput-{slug(protocol)}" + (f"-s{size}" if size is not None else "") + ".png"
        save(fig, out, name, figures,
             f"Responses per second against connections (closed loop, {what}). "
             "Each connection sends its next request when the previous response arrives. "
             "Native and Wine models are in separate panels with their own y scale."
             + (" Red rings: cells with errors." if any(
                 r.exit_code != 0 or r.get("errors", 0) > 0 for r in grp) else ""),
             "Throughput")


def sort_key(row):
    order = WINE_ORDER if row.platform == "wine" else NATIVE_ORDER
    return (row.platform, order.index(row.model) if row.model in order else 99, row.model,
            row.run.name)


def plot_variants(rows, out, figures, many_runs):
    """Bars: the same connection count with different sizes or protocols."""
    closed = [r for r in rows if r.mode == "closed"]
    by_conns = defaultdict(list)
    for r in closed:
        by_conns[r.connections].append(r)
    for conns, grp in sorted(by_conns.items()):
        variants = sorted({r.variant for r in grp}, key=variant_key)
        if len(variants) < 2:
            continue
        # Only models measured in more than one variant make a comparison.
        per_model = defaultdict(dict)
        for r in grp:
            per_model[(r.platform, series_name(r, many_runs), r.model)][r.variant] = r
        per_model = {k: v for k, v in per_model.items() if len(v) >= 2}
        if not per_model:
            continue
        plats = [p for p in ("native", "wine") if any(k[0] == p for k in per_model)]
        for metric, ylabel, fname, fmt in (
                ("requests_per_s", "throughput (responses/s)", "throughput-variants", fmt_count),
                ("rx_mb_per_s", "received (MB/s, 10^6 bytes)", "bandwidth-variants",
                 lambda v, _p=None: f"{v:g}")):
            fig, axes = new_figure(len(plats), width_per=7.0)
            for ax, plat in zip(axes, plats):
                models = sorted([k for k in per_model if k[0] == plat],
                                key=lambda k: sort_key(next(iter(per_model[k].values()))))
                vs = [v for v in variants if any(v in per_model[m] for m in models)]
                width = 0.8 / max(1, len(vs))
                cmap = plt.get_cmap("viridis")
                for j, v in enumerate(vs):
                    xs, ys = [], []
                    for i, m in enumerate(models):
                        if v in per_model[m]:
                            xs.append(i + (j - (len(vs) - 1) / 2) * width)
                            ys.append(per_model[m][v].get(metric, 0.0))
                    ax.bar(xs, ys, width=width * 0.95, label=v,
                           color=cmap(j / max(1, len(vs) - 1) * 0.85))
                ax.set_xticks(range(len(models)))
                ax.set_xticklabels([m[1] for m in models], rotation=30, ha="right", fontsize=9)
                ax.yaxis.set_major_formatter(FuncFormatter(fmt))
                ax.set_ylabel(ylabel)
                ax.set_title(panel_title(plat), fontsize=11)
                ax.grid(True, axis="y", alpha=0.3)
                ax.set_ylim(0, ax.get_ylim()[1] * 1.3)  # headroom for the legend
                ax.legend(fontsize=9, title="protocol, request size", title_fontsize=9,
                          ncol=min(3, len(vs)), loc="upper center")
            what = "throughput" if metric == "requests_per_s" else "bandwidth"
            fig.suptitle(f"{what.capitalize()} by protocol and request size — closed loop, "
                         f"{conns} connections", fontsize=13)
            finish(fig)
            save(fig, out, f"{fname}-c{conns}.png", figures,
                 f"{what.capitalize()} of each model at {conns} connections for each protocol "
                 "and request size measured (echo and upper return the request's bytes; http "
                 "returns a fixed 13-byte body). Native and Wine in separate panels.",
                 "Throughput")


def variant_key(v):
    proto, _, rest = v.partition(" ")
    size = int(rest.split()[0]) if rest and rest.split()[0].isdigit() else -1
    return (proto, size)


# ---- Latency spectra -----------------------------------------------------------


class Spectra:
    """Percentile distributions per row, from the .hlog via hdrtool (cached)."""

    def __init__(self, hdrtool):
        self.hdrtool = hdrtool
        self.cache = {}
        self.problems = []

    def get(self, row):
        key = (row.run.name, row.label)
        if key in self.cache:
            return self.cache[key]
        result = None
        hlog = row.file("hlog", ".hlog")
        if hlog and self.hdrtool:
            tag = "latency"
            proc = subprocess.run([self.hdrtool, "report", str(hlog), "--tag", tag, "--csv",
                                   "--scale", "1000"], capture_output=True, text=True, timeout=60)
            if proc.returncode == 0:
                result = parse_spectrum_csv(proc.stdout)
            else:
                self.problems.append(f"hdrtool report {hlog}: {proc.stderr.strip()[:200]}")
        if result is None:
            hgrm = row.file("hgrm", ".hgrm")
            if hgrm:
                result = parse_hgrm(hgrm.read_text(), scale=1000.0)
        self.cache[key] = result
        return result


def parse_spectrum_csv(text):
    """hdrtool report --csv: Value,Percentile,TotalCount,1/(1-Percentile)."""
    pts = []
    for line in text.splitlines():
        if not line or line.startswith("#") or line.startswith('"'):
            continue
        parts = line.split(",")
        if len(parts) < 4:
            continue
        value, pct = float(parts[0]), float(parts[1])
        pts.append((pct, value))
    return pts or None


def parse_hgrm(text, scale):
    """Java's percentile distribution text, values in milliseconds; scale -> us."""
    pts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and not line.lstrip().startswith("#"):
            try:
                pts.append((float(parts[1]), float(parts[0]) * scale))
            except ValueError:
                continue
    return pts or None


def spectrum_xy(pts):
    """x = 1/(1-p) for p < 1 (the final 100% point has no finite x and is dropped)."""
    xs, ys = [], []
    for p, v in pts:
        if p >= 1.0:
            continue
        xs.append(1.0 / (1.0 - p))
        ys.append(max(v, 1e-3))
    return xs, ys


def setup_spectrum_axis(ax, xmax):
    ax.set_xscale("log")
    ax.set_yscale("log")
    # 1/(1-p) = 1 is the minimum (0%); its label would collide with 50%.
    ticks = [2, 10, 100, 1000, 10000, 100000, 1000000]
    labels = ["50%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"]
    keep = [i for i, t in enumerate(ticks) if t <= max(10.0, xmax * 1.5)]
    ax.set_xticks([ticks[i] for i in keep])
    ax.set_xticklabels([labels[i] for i in keep])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("percentile (axis: 1/(1−p), log scale)")
    ax.set_ylabel("latency (log scale)")
    log_ticks(ax, "y", fmt_us_tick)
    ax.grid(True, which="major", alpha=0.35)


def describe(mode, protocol, size):
    what = f"{mode} loop" if mode in ("closed", "open") else mode
    return what + f", {protocol}" + (f", {size}-byte requests" if size is not None else "")


def spectrum_panel(ax, data, many_runs, title, by="model", conns=None):
    """Lines of one panel: per model (by="model") or per connection count."""
    xmax = 10.0
    cmap = plt.get_cmap("plasma")
    for r, d in data:
        xs, ys = spectrum_xy(d)
        xmax = max([xmax] + xs)
        if by == "model":
            color, _marker = style(r.platform, r.model)
            ax.plot(xs, ys, color=color, label=series_name(r, many_runs), linewidth=1.5)
        else:
            j = conns.index(r.connections)
            ax.plot(xs, ys, color=cmap(j / max(1, len(conns) - 1) * 0.9),
                    label=f"{r.connections} conn.", linewidth=1.5)
    setup_spectrum_axis(ax, xmax)
    ax.set_title(title, fontsize=11)
    legend(ax, len(data))


def grid(n, width=5.6, height=4.3, sharey=False):
    cols = min(3, n)
    rows_n = math.ceil(n / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(width * cols + 0.4, height * rows_n + 0.8),
                             squeeze=False, sharey=sharey)
    flat = [axes[k // cols][k % cols] for k in range(rows_n * cols)]
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat[:n]


SPECTRUM_AXIS_NOTE = ("The x axis stretches the tail: each decade is one more nine (90%, 99%, "
                      "99.9%); lines end at the highest percentile the cell's sample count "
                      "resolves. ")


def plot_spectra(rows, out, figures, spectra, many_runs):
    measured = [r for r in rows if r.mode in ("closed", "open", "churn")]
    data_all = [(r, spectra.get(r)) for r in measured]
    data_all = [(r, d) for r, d in data_all if d]
    groups = defaultdict(list)
    for r, d in data_all:
        groups[(r.platform, r.mode, r.protocol, r.size)].append((r, d))
    order = sorted(groups, key=lambda k: (k[0], k[1] != "closed", k[1], k[2], str(k[3])))
    sweeps = [k for k in order if len({r.connections for r, _ in groups[k]}) >= 2]
    # 1. Connection sweeps: a panel per connection count (lines: models), then
    # a panel per model (lines: connection counts).
    for key in sweeps:
        plat, mode, protocol, size = key
        data = groups[key]
        what = describe(mode, protocol, size)
        wine = " (Wine)" if plat == "wine" else ""
        conns = sorted({r.connections for r, _ in data})
        fig, axes = grid(len(conns))
        for ax, c in zip(axes, conns):
            cell = sorted([(r, d) for r, d in data if r.connections == c],
                          key=lambda t: sort_key(t[0]))
            spectrum_panel(ax, cell, many_runs, f"{c} connection{'s' if c != 1 else ''}{wine}")
        fig.suptitle(f"Latency percentile spectrum — {PLATFORM_TITLE[plat]}\n{what}",
                     fontsize=13)
        thin_log_ticks(axes, fmt_us_tick)
        finish(fig)
        base = f"spectrum-{plat}-{slug(mode)}-{slug(protocol)}" + (
            f"-s{size}" if size is not None else "")
        save(fig, out, base + ".png", figures,
             "Latency percentiles of every "
             + ("Winsock model under Wine" if wine else "native model")
             + f" ({what}), one panel per connection count. " + SPECTRUM_AXIS_NOTE
             + ("Open loop: latency measured from the intended send time (corrected for "
                "coordinated omission). " if mode == "open" else "")
             + (WINE_NOTE if wine else ""), "Latency")
        labels = list(dict.fromkeys(series_name(r, many_runs)
                                    for r, _ in sorted(data, key=lambda t: sort_key(t[0]))))
        fig, axes = grid(len(labels), height=4.1, sharey=True)
        for ax, label in zip(axes, labels):
            mine = sorted([(r, d) for r, d in data if series_name(r, many_runs) == label],
                          key=lambda t: t[0].connections)
            spectrum_panel(ax, mine, many_runs, label, by="connections", conns=conns)
        fig.suptitle(f"Latency spectrum by connections — {PLATFORM_TITLE[plat]}\n{what}",
                     fontsize=13)
        thin_log_ticks(axes, fmt_us_tick)
        finish(fig)
        save(fig, out, base + "-by-model.png", figures,
             "The same spectra, one panel per model: how each model's latency tail grows with "
             f"the number of connections ({what}). Shared y axis. "
             + (WINE_NOTE if wine else ""), "Latency")
    # 2. Everything measured at one connection count only (other sizes,
    # protocols, open loop, churn): one figure per platform and connection
    # count, a panel per variant, with the sweep's cell at that count first
    # for reference.
    singles = defaultdict(list)
    for key in order:
        if key in sweeps:
            continue
        for r, d in groups[key]:
            singles[(key[0], r.connections)].append(key)
    for (plat, conns), keys in sorted(singles.items()):
        keys = list(dict.fromkeys(keys))
        ref = [k for k in sweeps if k[0] == plat and any(
            r.connections == conns for r, _ in groups[k])][:1]
        panels = ref + keys
        wine = " (Wine)" if plat == "wine" else ""
        fig, axes = grid(len(panels))
        for ax, key in zip(axes, panels):
            cell = sorted([(r, d) for r, d in groups[key] if r.connections == conns],
                          key=lambda t: sort_key(t[0]))
            spectrum_panel(ax, cell, many_runs, describe(*key[1:]) + wine)
        fig.suptitle(f"Latency spectrum by workload, protocol and size — {PLATFORM_TITLE[plat]}"
                     f"\n{conns} connections", fontsize=13)
        thin_log_ticks(axes, fmt_us_tick)
        finish(fig)
        save(fig, out, f"spectrum-{plat}-c{conns}-variants.png", figures,
             f"Latency percentiles at {conns} connections for each workload, protocol and "
             "request size measured there, one panel each (lines: models). " + SPECTRUM_AXIS_NOTE
             + "Open loop: latency measured from the intended send time, corrected for "
             "coordinated omission; churn: each connection is closed and reopened after a few "
             "requests, and the reconnect is part of the next request's latency. "
             + (WINE_NOTE if wine else ""), "Latency")


# ---- Time series ---------------------------------------------------------------


def read_intervals(path):
    """Interval rows; the stub left where the warmup ends between two ticks
    (a few milliseconds, whose rate is noise) is dropped."""
    rows = [{k: num(v) if k != "phase" else v for k, v in r.items()} for r in read_csv(path)]
    return [r for r in rows if r["phase"] != "warmup" or (r["interval_s"] or 0) >= 0.25]


def pick_series_rows(rows):
    """Per platform: the closed-loop sweep's middle connection count, every model."""
    picks = []
    for plat in ("native", "wine"):
        closed = [r for r in rows if r.platform == plat and r.mode == "closed"]
        if not closed:
            continue
        # The most common (protocol, size), then the connection count most
        # models were measured at, preferring the larger.
        counts = defaultdict(int)
        for r in closed:
            counts[(r.protocol, str(r.size))] += 1
        common = max(counts, key=counts.get)
        grp = [r for r in closed if (r.protocol, str(r.size)) == common]
        per_conn = defaultdict(set)
        for r in grp:
            per_conn[r.connections].add(r.model)
        # Nearly every model (a model capped at one client may be missing), and
        # then the most connections up to 1,000.
        most = max(len(v) for v in per_conn.values())
        near = [c for c in per_conn if len(per_conn[c]) >= 0.8 * most]
        best = max(near, key=lambda c: (c <= 1000, c if c <= 1000 else -c))
        picks.append((plat, best, [r for r in grp if r.connections == best]))
    return picks


def plot_timeseries(rows, out, figures, many_runs, patterns):
    chosen = []
    if patterns:
        rx = re.compile(patterns)
        sel = [r for r in rows if rx.search(r.label or "")]
        for plat in ("native", "wine"):
            mine = [r for r in sel if r.platform == plat]
            if mine:
                chosen.append((plat, None, mine))
    else:
        chosen = pick_series_rows(rows)
    for plat, conns, grp in chosen:
        data = [(r, r.file("intervals", ".csv")) for r in sorted(grp, key=sort_key)]
        data = [(r, read_intervals(p)) for r, p in data if p]
        if not data:
            continue
        wine = " (Wine)" if plat == "wine" else ""
        fig, axes = plt.subplots(2, 1, figsize=(11, 7.6), sharex=True, squeeze=False)
        ax_t, ax_l = axes[0][0], axes[1][0]
        warm_end = 0.0
        for r, iv in data:
            color, marker = style(r.platform, r.model)
            xs = [i["time_s"] for i in iv]
            label = series_name(r, many_runs) + ("" if conns else f" — {r.label}")
            ax_t.plot(xs, [i["requests_per_s"] or 0 for i in iv], color=color, marker=marker,
                      markersize=4, label=label)
            lat = [(i["time_s"], i["latency_p99_us"]) for i in iv if i["latency_p99_us"]]
            ax_l.plot([t for t, _ in lat], [v for _, v in lat], color=color, marker=marker,
                      markersize=4, label=label)
            w = [i["time_s"] for i in iv if i["phase"] == "warmup"]
            if w:
                warm_end = max(warm_end, max(w))
        for ax in (ax_t, ax_l):
            if warm_end > 0:
                ax.axvspan(0, warm_end, color="0.85", zorder=0, label=None)
            ax.grid(True, alpha=0.3)
        ax_t.set_ylabel("throughput (responses/s)")
        ax_t.yaxis.set_major_formatter(FuncFormatter(fmt_count))
        ax_t.set_ylim(bottom=0)
        ax_l.set_yscale("log")
        ax_l.set_ylabel("p99 latency per interval (log scale)")
        log_ticks(ax_l, "y", fmt_us_tick)
        ax_l.set_xlabel("time since the start of the cell (s); grey: warmup, not measured")
        legend(ax_t, len(data))
        r0 = data[0][0]
        what = (f"{r0.mode} loop, {r0.protocol}" + (f", {r0.size}-byte requests"
                                                    if r0.size is not None else "")
                + (f", {conns} connections" if conns else ""))
        fig.suptitle(f"Per-second time series — {PLATFORM_TITLE[plat]}\n{what}", fontsize=13)
        finish(fig)
        name = f"timeseries-{plat}" + (f"-c{conns}" if conns else "-selected") + ".png"
        save(fig, out, name, figures,
             f"Throughput and 99th percentile latency of each interval ({what}). Each point "
             "is one interval of loadgen's --intervals CSV; the last interval includes the "
             "drain and is often short. " + (WINE_NOTE if wine else ""), "Time series")


# ---- Server resources ----------------------------------------------------------


def plot_resources(rows, out, figures, many_runs):
    for plat in platforms_of(rows):
        mine = [r for r in rows if r.platform == plat and r.raw.get("server_model")]
        if not mine:
            continue
        closed = [r for r in mine if r.mode == "closed"]
        counts = defaultdict(int)
        for r in closed:
            counts[(r.protocol, str(r.size))] += 1
        sweep = []
        if counts:
            common = max(counts, key=counts.get)
            sweep = [r for r in closed if (r.protocol, str(r.size)) == common]
        held = [r for r in mine if r.mode == "hold" and r.get("established", 0) > 0]
        if not sweep and not held:
            continue
        wine = plat == "wine"
        fig, axes = plt.subplots(2, 2, figsize=(13, 9.4), squeeze=False)
        ax_cpu, ax_thr, ax_rss, ax_held = axes[0][0], axes[0][1], axes[1][0], axes[1][1]
        series = defaultdict(list)
        for r in sweep:
            series[series_name(r, many_runs)].append(r)
        wine_measured = wine and any(r.wineserver_cpu_s is not None for r in sweep)
        for name in sorted(series, key=lambda s: sort_key(series[s][0])):
            pts = sorted(series[name], key=lambda r: r.connections)
            color, marker = style(plat, pts[0].model)
            xs = [r.connections for r in pts]
            cpu = [r.cpu_per_request_us() for r in pts]
            ax_cpu.plot(xs, [float("nan") if v is None else v for v in cpu], marker=marker,
                        color=color, label=name)
            ax_thr.plot(xs, [r.get("server_threads", float("nan")) for r in pts], marker=marker,
                        color=color, label=name)
            ax_rss.plot(xs, [(r.get("server_peak_rss_bytes") or float("nan")) / 1e6 for r in pts],
                        marker=marker, color=color, label=name)
        for ax in (ax_cpu, ax_thr, ax_rss):
            connection_ticks(ax, [r.connections for r in sweep])
            ax.set_xlabel("concurrent connections (log scale)")
            ax.grid(True, which="both", alpha=0.3)
        ax_cpu.set_yscale("log")
        ax_cpu.set_ylabel("CPU per request (µs, user + system, log)")
        log_ticks(ax_cpu, "y", lambda v, _p: f"{v:g}")
        if wine_measured:
            ax_cpu.set_title("Server CPU time per request, wineserver's included",
                             fontsize=11)
        else:
            ax_cpu.set_title("Server CPU time per request" + (
                "\n(Wine: the server process only; wineserver not measured)" if wine else ""),
                fontsize=11)
        threads = [r.get("server_threads") for r in sweep if r.get("server_threads")]
        # A log axis only when the counts span decades (thread per client).
        if threads and max(threads) / max(1, min(threads)) > 20:
            ax_thr.set_yscale("log")
            log_ticks(ax_thr, "y", fmt_count)
        else:
            ax_thr.set_ylim(bottom=0, top=max(threads + [1]) * 1.15)
        ax_thr.set_ylabel("server threads (most seen)")
        ax_thr.set_title("Server threads" + (" (Wine adds its own service threads)"
                                             if wine else ""), fontsize=11)
        ax_rss.set_ylabel("server peak resident memory (MB)")
        ax_rss.set_ylim(bottom=0)
        ax_rss.set_title("Server peak memory" + (" (includes Wine's own libraries)"
                                                 if wine else ""), fontsize=11)
        # One legend for the three line panels, below them, so that it hides
        # no line.
        handles, labels = ax_cpu.get_legend_handles_labels()
        # Held idle connections: the memory each one costs the server.
        held_counts = sorted({r.connections for r in held})
        models = sorted({(series_name(r, many_runs), r.model) for r in held},
                        key=lambda m: sort_key(next(r for r in held
                                                    if series_name(r, many_runs) == m[0])))
        if held:
            width = 0.8 / max(1, len(held_counts))
            cmap = plt.get_cmap("viridis")
            hows_seen, count_handles = set(), []
            for j, c in enumerate(held_counts):
                xs, ys, notes, hatches = [], [], [], []
                for i, (label, _m) in enumerate(models):
                    r = next((r for r in held if r.connections == c
                              and series_name(r, many_runs) == label), None)
                    per_conn, how = held_memory(r) if r is not None else (None, None)
                    if per_conn is not None:
                        xs.append(i + (j - (len(held_counts) - 1) / 2) * width)
                        ys.append(max(per_conn, 0) / 1e3)
                        threads = int(r.get("server_threads", 0) or 0)
                        notes.append(f"{fmt_bytes(max(per_conn, 0))}\n{threads} thr.\n{how}")
                        hatches.append(HELD_HOW.get(how, ("", ""))[0])
                        hows_seen.add(how)
                color = cmap(j / max(1, len(held_counts) - 1) * 0.8)
                bars = ax_held.bar(xs, ys, width=width * 0.95, color=color, edgecolor="white")
                # A handle of its own: the bars' would show the first bar's hatch.
                count_handles.append(Patch(facecolor=color, label=f"{c} held connections"))
                # Small values would be invisible bars: every bar carries its
                # number, the server's thread count (a thread per client, or
                # per group of 64 handles, shows here) and how its memory was
                # sampled, since an "end" sample is not comparable with the
                # others.
                for bar, note, hatch in zip(bars, notes, hatches):
                    bar.set_hatch(hatch)
                    ax_held.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), note,
                                 ha="center", va="bottom", fontsize=7,
                                 rotation=90 if len(held_counts) > 1 else 0)
            ax_held.set_xticks(range(len(models)))
            ax_held.set_xticklabels([m[0] for m in models], rotation=30, ha="right", fontsize=9)
            ax_held.set_ylabel("server memory per idle connection (kB, 10^3 bytes)")
            top = ax_held.get_ylim()[1]
            ax_held.set_ylim(0, top * 1.9)  # room for the numbers and the legend
            ax_held.set_title("Memory per held idle connection\n"
                              "(resident when held − resident before the first connection) / "
                              "connections", fontsize=11)
            ax_held.grid(True, axis="y", alpha=0.3)
            # The sampling legend lists only the ways that occur, so that a
            # run sampled "online" throughout is not cluttered with the rest.
            how_handles = [Patch(facecolor="white", edgecolor="0.3", hatch=HELD_HOW[h][0],
                                 label=HELD_HOW[h][1])
                           for h in HELD_HOW if h in hows_seen]
            legend = ax_held.legend(handles=count_handles, fontsize=9, loc="upper right")
            if how_handles:
                ax_held.add_artist(legend)
                ax_held.legend(handles=how_handles, fontsize=7, loc="upper left",
                               title="memory sampled", title_fontsize=7)
        else:
            ax_held.axis("off")
            ax_held.text(0.5, 0.5, "no --hold cells in this run", ha="center", va="center")
        what = ""
        if sweep:
            r0 = sweep[0]
            what = f"closed loop, {r0.protocol}" + (f", {r0.size}-byte requests"
                                                   if r0.size is not None else "")
        fig.suptitle(f"Server resources — {PLATFORM_TITLE[plat]}" + (f"\n{what}" if what else ""),
                     fontsize=13)
        if handles:
            fig.legend(handles, labels, loc="lower center", ncol=min(5, len(handles)),
                       fontsize=9, frameon=False)
            rows_of_legend = math.ceil(len(handles) / 5)
            fig.tight_layout(rect=(0, (0.25 + 0.2 * rows_of_legend) / fig.get_size_inches()[1],
                                   1, 1))
        else:
            finish(fig)
        save(fig, out, f"resources-{plat}.png", figures,
             "Server CPU time per request, threads and peak resident memory against connections "
             f"({what or 'no closed-loop sweep'}), measured by loadgen --spawn (wait4 and /proc "
             "sampling every 100 ms); and the resident memory each idle connection adds "
             "(--hold: loadgen's server_bytes_per_connection, the server's resident memory "
             "once it holds every connection minus its resident memory before the first "
             "connection, divided by the connections; pages reserved but never touched, such "
             "as most of a thread's stack, are not resident and not counted). Each bar says "
             "how that memory was sampled (server_rss_held_by): online, when the server's live "
             "line counted every connection; stable, when a quiet server's memory had not "
             "grown for 1 s; end, at the end of the hold, before the server held them all "
             "(hatched: likely an undercount, give such a server a longer --duration). CSV "
             "files from before that column fall back to the peak resident memory (peak, "
             "cross-hatched). "
             + (WINE_NOTE + " Under Wine much of the socket work is done by wineserver, a "
                "process of its own: tools/matrix.py samples its CPU time during each cell "
                "(cells.csv, wineserver_cpu_s), and the CPU per request includes it."
                if wine else ""),
             "Resources")


def held_memory(r):
    """Resident memory a held connection costs the server, and how it was sampled.

    Returns (bytes per connection, how) or (None, None). loadgen samples the
    server once it holds every connection and writes the result as
    server_bytes_per_connection, with server_rss_held_by saying when: "online"
    (the server's live line counted them all), "stable" (a quiet server's
    memory stopped growing) or "end" (neither before the hold ended: likely an
    undercount). CSV files written before that column existed sampled as soon
    as loadgen's connects completed, before a slow server had accepted them
    all, so for them the peak is the better estimate ("peak").
    """
    n = r.get("established") or r.connections
    how = r.raw.get("server_rss_held_by") or ""
    per_conn = r.get("server_bytes_per_connection")
    if how and per_conn is not None:
        return per_conn, how
    peak, before = r.get("server_peak_rss_bytes"), r.get("server_rss_before_bytes")
    if peak is None or before is None or not n:
        return None, None
    return (peak - before) / n, "peak"


# How each way of sampling is drawn and explained; "end" and "peak" bars are
# hatched, because neither is the memory of a server known to hold them all.
HELD_HOW = {
    "online": ("", "online: the server's live line counted them all"),
    "stable": ("", "stable: a quiet server's memory flat for 1 s"),
    "end": ("//", "end: the hold ended first (likely undercount)"),
    "peak": ("xx", "peak: older CSV, the server's peak memory"),
}


# ---- Bench-core ----------------------------------------------------------------


BENCH_BARS_PER_FIGURE = 36


def bench_time_ns(b):
    """Time per iteration in ns: wall time for benchmarks measured in real
    time (/real_time, the multi-threaded ones), else CPU time, which a shared
    machine disturbs less."""
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}.get(b.get("time_unit", "ns"), 1.0)
    key = "real_time" if "/real_time" in b["name"] else "cpu_time"
    return (b.get(key) or 0) * scale


def plot_bench(benches, out, figures):
    for path, items, context in benches:
        if not items:
            continue
        families = defaultdict(list)
        for b in items:
            families[b["name"].split("/")[0]].append(b)
        # Whole families per figure, at most BENCH_BARS_PER_FIGURE bars each
        # (a family larger than that gets a figure of its own).
        chunks, current = [], []
        for fam, bs in families.items():
            if current and sum(len(x[1]) for x in current) + len(bs) > BENCH_BARS_PER_FIGURE:
                chunks.append(current)
                current = []
            current.append((fam, bs))
        if current:
            chunks.append(current)
        host = context.get("host_name", "")
        load = context.get("load_avg")
        cmap = plt.get_cmap("tab20")
        colour_of = {fam: cmap(k % 20) for k, fam in enumerate(families)}
        for part, chunk in enumerate(chunks, 1):
            bars = [(fam, b) for fam, bs in chunk for b in bs]
            fig, ax = plt.subplots(figsize=(11, 0.3 * len(bars) + 1.9))
            names, vals, colors, notes = [], [], [], []
            for fam, b in bars:
                names.append(b["name"] + (f" ({b['label']})" if b.get("label") else ""))
                vals.append(max(bench_time_ns(b), 1e-3))
                colors.append(colour_of[fam])
                if b.get("bytes_per_second"):
                    notes.append(fmt_bytes(b["bytes_per_second"]) + "/s")
                elif b.get("items_per_second"):
                    notes.append(f"{fmt_count(b['items_per_second'])} items/s")
                else:
                    notes.append("")
            ys = list(range(len(names)))[::-1]
            ax.barh(ys, vals, color=colors)
            ax.set_yticks(ys)
            ax.set_yticklabels(names, fontsize=8)
            ax.set_ylim(-0.7, len(names) - 0.3)
            ax.set_xscale("log")
            ax.set_xlabel("time per iteration (ns, log scale): CPU time, or wall time for "
                          "/real_time benchmarks")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt_count(v)))
            for y, v, note in zip(ys, vals, notes):
                if note:
                    ax.text(v * 1.08, y, note, va="center", fontsize=7)
            ax.set_xlim(left=min(vals) / 2, right=max(vals) * 15)
            ax.grid(True, axis="x", which="major", alpha=0.3)
            of = f" ({part}/{len(chunks)})" if len(chunks) > 1 else ""
            ax.set_title(f"bench-core micro-benchmarks{of} — {path.name}, native build"
                         + (f", {host}" if host else "")
                         + (f", load average {load[0]:.1f}" if load else ""), fontsize=11)
            finish(fig)
            name = f"bench-{slug(path.stem)}" + (f"-{part}" if len(chunks) > 1 else "") + ".png"
            save(fig, out, name, figures,
                 f"Google Benchmark results from {path.name}{of}: "
                 + ", ".join(f for f, _ in chunk) + ". Time per iteration (log scale), with the "
                 "throughput Google Benchmark computed (items or bytes per second). CPU time "
                 "unless the benchmark is measured in real time (multi-threaded ones), because "
                 "the machine may be shared.", "Micro-benchmarks")


# ---- Report --------------------------------------------------------------------


def wineserver_share(r):
    total, own = r.cpu_per_request_us(), r.cpu_per_request_us(with_wineserver=False)
    if r.platform != "wine" or r.wineserver_cpu_s is None or not total or own is None:
        return ""
    return f"{(total - own) / total * 100:.0f}%"


def summary_table(rows, many_runs):
    head = ["model", "platform", "workload", "protocol", "size (B)", "conns", "responses/s",
            "p50", "p99", "p99.9", "max", "errors", "server CPU/req*", "of it wineserver",
            "threads",
            "peak RSS", "per held conn", "exit"]
    out = ["<table class='data'><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) +
           "</tr></thead><tbody>"]
    for r in sorted(rows, key=lambda r: (r.platform, r.mode, r.protocol, str(r.size),
                                         sort_key(r), r.connections)):
        cpu = r.cpu_per_request_us()
        cells = [series_name(r, many_runs), r.platform, r.mode, r.protocol,
                 "" if r.size is None else r.size, r.connections,
                 fmt_count(r.get("requests_per_s", 0)) if r.mode != "hold" else "",
                 fmt_us(r.get("latency_p50_us")), fmt_us(r.get("latency_p99_us")),
                 fmt_us(r.get("latency_p999_us")), fmt_us(r.get("latency_max_us")),
                 int(r.get("errors", 0) or 0),
                 f"{cpu:.1f} µs" if cpu is not None else "",
                 wineserver_share(r),
                 int(r.get("server_threads", 0) or 0),
                 fmt_bytes(r.get("server_peak_rss_bytes")),
                 held_cell(r) if r.mode == "hold" else "",
                 r.exit_code]
        cls = " class='bad'" if r.exit_code != 0 else (" class='wine'" if r.platform == "wine"
                                                       else "")
        out.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
                   + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def held_cell(r):
    per_conn, how = held_memory(r)
    return "" if per_conn is None else f"{fmt_bytes(per_conn)} ({how})"


def machine_table(run):
    m = run.machine
    if not m:
        return "<p>No machine.json for this run.</p>"
    load = m.get("load_average_start")
    load_end = m.get("load_average_end")
    items = [
        ("date (UTC)", m.get("date_utc")),
        ("CPU", f"{m.get('cpu_model', '')}, {m.get('cores_online', '')} cores"),
        ("memory", fmt_bytes(m.get("memory_bytes"))),
        ("OS, kernel", f"{m.get('os', '')}, Linux {m.get('kernel', '')}"),
        ("Wine", m.get("wine_version") or "not used"),
        ("loadgen", m.get("loadgen_version")),
        ("source", (m.get("source") or {}).get("commit", "") +
         (" (with uncommitted changes)" if (m.get("source") or {}).get("dirty") else "")),
        ("load average", (f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the start"
                          if load else "") +
         (f"; {load_end[0]:.2f} / {load_end[1]:.2f} / {load_end[2]:.2f} at the end"
          if load_end else "")),
        ("descriptor limit", f"{(m.get('nofile_limit') or {}).get('soft', '')}"),
        ("preset", m.get("preset")),
        ("warmup / duration (s)", f"native {m.get('warmup_s', {}).get('native')} / "
                                  f"{m.get('duration_s', {}).get('native')}; Wine "
                                  f"{m.get('warmup_s', {}).get('wine')} / "
                                  f"{m.get('duration_s', {}).get('wine')}; hold "
                                  f"{m.get('hold_s')}"),
        ("open loop rate, churn", f"{m.get('open_rate_per_s')} requests/s; "
                                  f"{m.get('churn_requests')} requests per connection"),
        ("command", " ".join(m.get("command", []))),
        ("run time", f"{m.get('run_seconds', '')} s"),
        ("note", m.get("note", "")),
    ]
    return ("<table class='kv'>" + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in items if v not in (None, "")) + "</table>")


def cells_section(run):
    if not run.cells:
        return ""
    counts = defaultdict(int)
    for c in run.cells:
        counts[c["status"]] += 1
    parts = ["<p>Cells: " + ", ".join(f"{v} {html.escape(k)}" for k, v in sorted(counts.items()))
             + ".</p>"]
    bad = [c for c in run.cells if c["status"] != "ok"]
    if bad:
        parts.append("<table class='data'><thead><tr><th>cell</th><th>status</th>"
                     "<th>reason</th></tr></thead><tbody>")
        for c in bad:
            cls = {"failed": "bad", "timeout": "bad", "errors": "warn"}.get(c["status"], "")
            parts.append(f"<tr class='{cls}'>"
                         f"<td>{html.escape(c['cell'])}</td><td>{html.escape(c['status'])}</td>"
                         f"<td>{html.escape(c['reason'])}</td></tr>")
        parts.append("</tbody></table>")
    return "\n".join(parts)


CSS = """
body { font-family: sans-serif; max-width: 1400px; margin: 1em auto; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
.note { background: #fff6dd; border-left: 4px solid #e0a800; padding: 0.5em 1em; }
table.kv th { text-align: left; padding-right: 1em; vertical-align: top; }
table.data { border-collapse: collapse; font-size: 0.85em; }
table.data th, table.data td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
table.data td:first-child, table.data th:first-child { text-align: left; }
tr.wine td { background: #f3f0ff; } tr.bad td { background: #ffe3e3; }
tr.warn td { background: #fff3d6; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; max-width: 1100px; }
"""


def write_report(out, runs, figures, problems, title, many_runs):
    rows = [r for run in runs for r in run.rows]
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    if any(r.platform == "wine" for r in rows):
        parts.append(f"<p class='note'><b>Wine figures.</b> {html.escape(WINE_NOTE)} They are "
                     "shown in their own panels and files, titled and labelled “(Wine)”.</p>")
    parts.append("<p>Contents: " + ", ".join(
        f"<a href='#{slug(g)}'>{html.escape(g)}</a>"
        for g in dict.fromkeys(f["group"] for f in figures)) +
        ", <a href='#runs'>runs and machines</a>, <a href='#table'>all cells</a>.</p>")
    for group in dict.fromkeys(f["group"] for f in figures):
        parts.append(f"<h2 id='{slug(group)}'>{html.escape(group)}</h2>")
        for f in figures:
            if f["group"] == group:
                parts.append(f"<figure><img src='{html.escape(f['file'])}' alt='"
                             f"{html.escape(f['caption'][:120])}'><figcaption>"
                             f"{html.escape(f['caption'])} <a href='{html.escape(f['file'])}'>"
                             f"{html.escape(f['file'])}</a></figcaption></figure>")
    parts.append("<h2 id='runs'>Runs and machines</h2>")
    for run in runs:
        parts.append(f"<h3>{html.escape(run.name)}</h3>")
        if run.folder:
            parts.append(f"<p>Folder: <code>{html.escape(os.path.relpath(run.folder, out))}"
                         "</code></p>")
        parts.append(machine_table(run))
        parts.append(cells_section(run))
    if rows:
        parts.append("<h2 id='table'>All cells</h2><p>Latency percentiles are of the measured "
                     "time (warmup excluded); open loop: corrected. *Server CPU per request: the "
                     "server's user + system time over the requests it counted (warmup "
                     "included in both); under Wine plus wineserver's CPU time when measured. "
                     "Rows shaded violet are Wine figures; red: loadgen exited non-zero.</p>")
        parts.append(summary_table(rows, many_runs))
    if problems:
        parts.append("<h2>Problems while plotting</h2><ul>" + "".join(
            f"<li>{html.escape(p)}</li>" for p in problems) + "</ul>")
    parts.append("<p>Written by tools/plot.py.</p></body></html>")
    (out / "report.html").write_text("\n".join(parts) + "\n")


# ---- Main ----------------------------------------------------------------------


def find_hdrtool(explicit, runs):
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    candidates = []
    for run in runs:
        lg = run.machine.get("loadgen")
        if lg:
            candidates.append(Path(lg).parent / "hdrtool")
    candidates += [ROOT / "build" / "linux" / "bin" / "hdrtool"]
    for c in candidates:
        if os.access(c, os.X_OK):
            return str(c)
    return shutil.which("hdrtool")


def main(argv=None):
    p = Parser(prog="plot.py", formatter_class=argparse.RawDescriptionHelpFormatter,
               description=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[1],
               epilog="Figures: throughput, latency spectra, time series, server resources, "
                      "bench-core bars.\nNative and Wine results never share an axis.\n"
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
    p.add_argument("--title", default=None, help="title of report.html")
    args = p.parse_args(argv)
    if args.series:
        try:
            re.compile(args.series)
        except re.error as e:
            p.error(f"--series: {e}")

    runs, benches, problems = load_inputs(args.inputs)
    rows = [r for run in runs for r in run.rows]
    if not rows and not benches:
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
    steps = [
        ("throughput", lambda: plot_throughput(rows, out, figures, many_runs)),
        ("variants", lambda: plot_variants(rows, out, figures, many_runs)),
        ("spectra", lambda: plot_spectra(rows, out, figures, spectra, many_runs)),
        ("time series", lambda: plot_timeseries(rows, out, figures, many_runs, args.series)),
        ("resources", lambda: plot_resources(rows, out, figures, many_runs)),
        ("bench-core", lambda: plot_bench(benches, out, figures)),
    ]
    for name, step in steps:
        before = len(figures)
        step()
        print(f"plot: {name}: {len(figures) - before} figure(s)", flush=True)
    problems += spectra.problems
    title = args.title or ("wsbench results — " + ", ".join(r.name for r in runs if r.rows)
                           if runs else "wsbench micro-benchmarks")
    write_report(out, runs, figures, problems, title, many_runs)
    for msg in problems:
        print(f"plot.py: {msg}", file=sys.stderr)
    print(f"plot: {len(figures)} figures and {out / 'report.html'}", flush=True)
    return 0 if figures else 1


if __name__ == "__main__":
    sys.exit(main())
