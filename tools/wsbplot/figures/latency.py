"""Latency percentile spectra from each cell's .hlog (through hdrtool)."""

import subprocess
from collections import defaultdict
from matplotlib.ticker import NullFormatter

from ..platforms import PLATFORM_SUFFIX, is_wine
from ..style import CONNECTION_COLOURS, representative_note, PLATFORM_TITLE, WINE_NOTE, describe, finish, fmt_us_tick, grid, legend, log_ticks, save, series_name, slug, sort_key, style, thin_log_ticks


class Spectra:
    """Percentile distributions per row, from the .hlog via hdrtool (cached)."""

    def __init__(self, hdrtool):
        self.hdrtool = hdrtool
        self.cache = {}
        self.problems = []

    def get(self, row, tag="latency"):
        """The spectrum of the .hlog's histograms tagged `tag` ("delivery": a
        chat cell's deliveries); the .hgrm fallback has "latency" only."""
        key = (row.run.name, row.label, tag)
        if key in self.cache:
            return self.cache[key]
        result = None
        hlog = row.file("hlog", ".hlog")
        if hlog and self.hdrtool:
            proc = subprocess.run([self.hdrtool, "report", str(hlog), "--tag", tag, "--csv",
                                   "--scale", "1000"], capture_output=True, text=True, timeout=60)
            if proc.returncode == 0:
                result = parse_spectrum_csv(proc.stdout)
            else:
                self.problems.append(f"hdrtool report {hlog}: {proc.stderr.strip()[:200]}")
        if result is None and tag == "latency":
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



def spectrum_panel(ax, data, many_runs, title, by="model", conns=None):
    """Lines of one panel: per model (by="model") or per connection count."""
    xmax = 10.0
    for r, d in data:
        xs, ys = spectrum_xy(d)
        xmax = max([xmax] + xs)
        if by == "model":
            color, _marker = style(r.platform, r.model)
            ax.plot(xs, ys, color=color, label=series_name(r, many_runs), linewidth=1.5)
        else:
            j = conns.index(r.connections)
            ax.plot(xs, ys, color=CONNECTION_COLOURS[j % len(CONNECTION_COLOURS)],
                    label=f"{r.connections} conn.", linewidth=1.5)
    setup_spectrum_axis(ax, xmax)
    ax.set_title(title, fontsize=11)
    legend(ax, len(data))



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
        wine = PLATFORM_SUFFIX[plat]
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
             + ("native model" if plat == "native" else "Winsock model" + PLATFORM_SUFFIX[plat])
             + f" ({what}), one panel per connection count. " + SPECTRUM_AXIS_NOTE
             + ("Open loop: latency measured from the intended send time (corrected for "
                "coordinated omission). " if mode == "open" else "")
             + (WINE_NOTE if is_wine(plat) else "") + representative_note([r for r, _ in data_all]),
             "Latency")
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
             + (WINE_NOTE if is_wine(plat) else "") + representative_note([r for r, _ in data_all]),
             "Latency")
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
        wine = PLATFORM_SUFFIX[plat]
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
             + (WINE_NOTE if is_wine(plat) else "") + representative_note([r for r, _ in data_all]),
             "Latency")
