"""Throughput against connections, and bars across protocols and sizes."""

from collections import defaultdict
from matplotlib.ticker import FuncFormatter

from ..platforms import PLATFORMS
from ..style import error_bars, interval_note, connection_ticks, finish, fmt_count, legend, new_figure, panel_title, platforms_of, plt, save, series_name, slug, sort_key, style


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
            names = sorted(series, key=lambda s: sort_key(series[s][0]))
            for k, name in enumerate(names):
                pts = sorted(series[name], key=lambda r: r.connections)
                color, marker = style(plat, pts[0].model)
                xs = [r.connections for r in pts]
                ys = [r.get("requests_per_s", 0.0) for r in pts]
                ax.plot(xs, ys, marker=marker, color=color, label=name, linewidth=1.6)
                # Each model's error bars a little to the side (log axis), so
                # that the bars of models measured at one count do not overlap.
                dodge = 10 ** ((k - (len(names) - 1) / 2) * 0.015)
                error_bars(ax, pts, [x * dodge for x in xs], "requests_per_s", color)
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
             + interval_note(grp)
             + (" Red rings: cells with errors." if any(
                 r.exit_code != 0 or r.get("errors", 0) > 0 for r in grp) else ""),
             "Throughput")



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
        plats = [p for p in PLATFORMS if any(k[0] == p for k in per_model)]
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
                    xs, ys, cells = [], [], []
                    for i, m in enumerate(models):
                        if v in per_model[m]:
                            xs.append(i + (j - (len(vs) - 1) / 2) * width)
                            ys.append(per_model[m][v].get(metric, 0.0))
                            cells.append(per_model[m][v])
                    ax.bar(xs, ys, width=width * 0.95, label=v,
                           color=cmap(j / max(1, len(vs) - 1) * 0.85))
                    error_bars(ax, cells, xs, metric, "0.15")
                ax.set_xticks(range(len(models)))
                ax.set_xticklabels([m[1] for m in models], rotation=30, ha="right", fontsize=9)
                ax.yaxis.set_major_formatter(FuncFormatter(fmt))
                ax.set_ylabel(ylabel)
                ax.set_title(panel_title(plat), fontsize=11)
                ax.grid(True, axis="y", alpha=0.3)
                values = [r.get(metric, 0.0) or 0.0 for m in models
                          for r in per_model[m].values()]
                positive = [v for v in values if v > 0]
                if positive and max(positive) / min(positive) > 20:
                    # Small requests move a thousandth of the bytes of large
                    # ones: on a linear axis their bars vanish.
                    ax.set_yscale("log")
                    ax.set_ylim(min(positive) / 2, max(positive) * 30)  # room for the legend
                    ax.set_ylabel(ylabel + ", log scale")
                else:
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
                 "returns a fixed 13-byte body). Native and Wine in separate panels."
                 + interval_note(grp),
                 "Throughput")


def variant_key(v):
    proto, _, rest = v.partition(" ")
    size = int(rest.split()[0]) if rest and rest.split()[0].isdigit() else -1
    return (proto, size)
