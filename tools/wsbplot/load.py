"""Reading the inputs: run folders of tools/matrix.py, loadgen CSV files and
Google Benchmark results. Standard library only (tools/compare.py uses it
without matplotlib)."""

import csv
import json
from pathlib import Path

from .platforms import platform_of
from .stats import median_interval
from .verdicts import cell_of, counted


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
        # capacity.csv: loadgen --find-capacity's rows, one per step.
        self.capacity = []


class Row:
    """One cell of a run with the fields the plots group by.

    A cell measured several times (tools/matrix.py --repeat) is one Row whose
    figures are the medians of its repetitions (get) with their confidence
    interval (interval); its files (intervals, hlog) are those of the
    repetition with the median throughput, which stands for the cell in the
    spectra and time series.
    """

    def __init__(self, run, raw, repetitions=None):
        self.run = run
        self.raw = raw
        self.repetitions = repetitions or [raw]
        self.platform = platform_of(raw)
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
        # A cell any repetition of which exited non-zero is marked as such.
        codes = [int(num(r.get("exit_code"), 0)) for r in self.repetitions]
        self.exit_code = next((c for c in codes if c != 0), 0)

    def get(self, column, default=None):
        if len(self.repetitions) == 1:
            return num(self.raw.get(column), default)
        value = median_interval([num(r.get(column)) for r in self.repetitions])[0]
        return default if value is None else value

    def interval(self, column):
        """(low, high) of the column's median over the repetitions, or None
        for a cell measured once (stats.median_interval gives the level)."""
        _med, lo, hi, _level = median_interval([num(r.get(column)) for r in self.repetitions])
        return None if lo is None else (lo, hi)

    @property
    def wineserver_cpu_s(self):
        """wineserver's CPU during the cell (tools/matrix.py's cells.csv), or None:
        the median over the repetitions."""
        labels = {r.get("label") for r in self.repetitions}
        values = [num(c.get("wineserver_cpu_s")) for c in self.run.cells
                  if (c.get("label") or c.get("cell")) in labels]
        values = [v for v in values if v is not None]
        return median_interval(values)[0] if values else None

    def cpu_per_request_us(self, with_wineserver=True):
        """Server CPU (user + system) per request it counted, in microseconds;
        under Wine plus wineserver's share when it was measured. For a cell
        measured several times: the median of each repetition's quotient."""
        if len(self.repetitions) > 1:
            values = [Row(self.run, rep).cpu_per_request_us(with_wineserver)
                      for rep in self.repetitions]
            return median_interval([v for v in values if v is not None])[0]
        cpu = (self.get("server_cpu_user_s", 0) or 0) + (self.get("server_cpu_system_s", 0) or 0)
        if self.platform == "windows-wine":
            # loadgen.exe leaves its server_cpu_* columns empty under Wine
            # (GetProcessTimes of another process returns its own times; older
            # runs hold those wrong figures); tools/matrix.py
            # measures the server from /proc instead (server_cpu_proc_s).
            # Without that figure there is none.
            cpu = self.get("server_cpu_proc_s")
            if cpu is None:
                return None
        # Only where loadgen ran natively: with loadgen.exe under Wine too
        # (windows-wine), wineserver served both and its time is not the server's.
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
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        return list(csv.DictReader(f))


def is_bench_csv(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
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
        data = json.loads(path.read_text(encoding="utf-8"))
        context = data.get("context", {})
        for b in data.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
                continue
            out.append(b)
        return out, context
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
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


def make_rows(run, raws):
    """One Row per cell: repetitions (rows naming the same cell) are merged."""
    cells = {}
    for r in raws:
        if counted(r):
            cells.setdefault(cell_of(r) or id(r), []).append(r)
    rows = []
    for reps in cells.values():
        if len(reps) == 1:
            rows.append(Row(run, reps[0]))
            continue
        ranked = sorted(reps, key=lambda r: num(r.get("requests_per_s"), 0.0))
        rows.append(Row(run, ranked[(len(ranked) - 1) // 2], reps))
    return rows


def load_inputs(paths):
    runs, benches, problems = [], [], []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            summary = path / "summary.csv"
            cells = read_csv(path / "cells.csv") if (path / "cells.csv").is_file() else []
            machine = {}
            if (path / "machine.json").is_file():
                machine = json.loads((path / "machine.json").read_text(encoding="utf-8"))
            rows = read_csv(summary) if summary.is_file() else []
            capacity = (read_csv(path / "capacity.csv") if (path / "capacity.csv").is_file()
                        else [])
            if not rows and not cells and not capacity:
                problems.append(f"{path}: no summary.csv or cells.csv")
            # resolve(): "tools/plot.py . --out ." names the run by its folder, not "".
            run = Run(path.resolve().name, path, [], cells, machine)
            run.capacity = capacity
            run.rows = make_rows(run, rows)
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
                machine = json.loads((folder / "machine.json").read_text(encoding="utf-8"))
            if folder and (folder / "cells.csv").is_file():
                cells = read_csv(folder / "cells.csv")
            run = Run(str(path.resolve().parent.name if folder else path.stem), folder, [], cells,
                      machine)
            run.rows = make_rows(run, rows)
            runs.append(run)
        else:
            problems.append(f"{path}: no such file or folder")
    # Several runs in one figure: their names tell the lines apart.
    names = [r.name for r in runs]
    for i, r in enumerate(runs):
        if names.count(r.name) > 1:
            r.name = f"{r.name}#{i + 1}"
    return runs, benches, problems


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
