"""Server CPU per request, threads, peak memory, memory per held connection."""

import math
from collections import defaultdict
from matplotlib.patches import Patch

from ..load import HELD_HOW, held_memory
from ..load import Row
from ..platforms import is_wine
from ..stats import median_interval
from ..style import error_bars, interval_note, PLATFORM_TITLE, WINE_NOTE, connection_ticks, finish, fmt_bytes, fmt_count, log_ticks, platforms_of, plt, save, series_name, sort_key, style


def cpu_error_bars(ax, rows, xs, color):
    """CPU per request is a quotient: its interval comes from the quotient of
    each repetition, not from the intervals of its parts."""
    for r, x in zip(rows, xs):
        if len(r.repetitions) < 2:
            continue
        values = [Row(r.run, rep).cpu_per_request_us() for rep in r.repetitions]
        med, lo, hi, _level = median_interval([v for v in values if v is not None])
        if lo is not None:
            ax.errorbar([x], [med], yerr=[[med - lo], [hi - med]], fmt="none", ecolor=color,
                        elinewidth=1.2, capsize=3, alpha=0.8)


def draw_held(ax_held, held, many_runs):
    """The panel of memory per held idle connection: bars per model and
    connection count, on a log axis, each labelled with its number."""
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
                    # A log axis has no zero: a negative estimate (memory
                    # returned meanwhile) is drawn as 1 byte, its label says.
                    ys.append(max(per_conn, 1) / 1e3)
                    threads = int(r.get("server_threads", 0) or 0)
                    notes.append(f"{fmt_bytes(max(per_conn, 0))}\n{threads} thr.\n{how}")
                    hatches.append(HELD_HOW.get(how, ("", ""))[0])
                    hows_seen.add(how)
                    ci = r.interval("server_bytes_per_connection") if how != "peak" else None
                    if ci is not None:
                        lo, hi = max(ci[0], 1) / 1e3, max(ci[1], 1) / 1e3
                        ax_held.errorbar([xs[-1]], [ys[-1]], yerr=[[max(ys[-1] - lo, 0)],
                                                                    [max(hi - ys[-1], 0)]],
                                         fmt="none", ecolor="0.2", capsize=3)
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
        # A log axis: a thread per client costs 100 times what an event
        # loop's connection does, and on a linear axis the small bars
        # were unreadable beside it.
        ax_held.set_yscale("log")
        shown = [b.get_height() for b in ax_held.patches if b.get_height() > 0]
        if shown:
            ax_held.set_ylim(min(shown) / 3, max(shown) * 60)  # numbers and legends
        ax_held.set_ylabel("server memory per idle connection (kB, 10^3 bytes, log)")
        log_ticks(ax_held, "y", lambda v, _p: f"{v:g}")
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
        wine = is_wine(plat)
        fig, axes = plt.subplots(2, 2, figsize=(13, 9.4), squeeze=False)
        ax_cpu, ax_thr, ax_rss, ax_held = axes[0][0], axes[0][1], axes[1][0], axes[1][1]
        series = defaultdict(list)
        for r in sweep:
            series[series_name(r, many_runs)].append(r)
        # wineserver's time is the server's only where loadgen ran natively
        # (see Row.cpu_per_request_us).
        wine_measured = plat == "wine" and any(r.wineserver_cpu_s is not None for r in sweep)
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
            cpu_error_bars(ax_cpu, pts, xs, color)
            error_bars(ax_thr, pts, xs, "server_threads", color)
            error_bars(ax_rss, pts, xs, "server_peak_rss_bytes", color, scale=1e6)
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
                "\n(Wine: the server process only; wineserver "
                + ("also served loadgen.exe, left out; the server's CPU from /proc)"
                   if plat == "windows-wine"
                   else "not measured)") if wine else ""),
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
        draw_held(ax_held, held, many_runs)
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
             + "(medians of the repetitions, with the confidence interval as error bars) "
             * bool(interval_note(sweep))
             +
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
