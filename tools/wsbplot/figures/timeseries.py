"""Per-second throughput and p99 of representative cells."""

import re
from collections import defaultdict
from matplotlib.ticker import FuncFormatter

from ..load import num, read_csv
from ..platforms import PLATFORM_SUFFIX, PLATFORMS, is_wine
from ..style import representative_note, PLATFORM_TITLE, WINE_NOTE, finish, fmt_count, fmt_us_tick, legend, log_ticks, plt, save, series_name, sort_key, style


def read_intervals(path):
    """Interval rows; the stub left where the warmup ends between two ticks
    (a few milliseconds, whose rate is noise) is dropped."""
    rows = [{k: num(v) if k != "phase" else v for k, v in r.items()} for r in read_csv(path)]
    return [r for r in rows if r["phase"] != "warmup" or (r["interval_s"] or 0) >= 0.25]


def pick_series_rows(rows):
    """Per platform: the closed-loop sweep's middle connection count, every model."""
    picks = []
    for plat in PLATFORMS:
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
        for plat in PLATFORMS:
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
        wine = PLATFORM_SUFFIX[plat]
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
             "drain and is often short. " + (WINE_NOTE if is_wine(plat) else "")
             + representative_note([r for r, _ in data]), "Time series")
