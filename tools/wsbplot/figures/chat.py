"""The chat workload (loadgen --protocol chat): each model's delivery-latency
spectrum, from the "delivery" histograms of each cell's .hlog.

A chat cell's other figures would mix what differs between its cells (the
group size changes the fan-out, not only the load), so chat cells have
these figures of their own and stay out of the request/response ones.
"""

from collections import defaultdict

from ..platforms import PLATFORM_SUFFIX, is_wine
from ..style import PLATFORM_TITLE, WINE_NOTE, finish, fmt_count, fmt_us_tick, grid, legend, save, series_name, slug, sort_key, style, thin_log_ticks
from .latency import SPECTRUM_AXIS_NOTE, setup_spectrum_axis, spectrum_xy


def is_chat(row):
    return row.protocol == "chat"


def group_size(row):
    return int(row.get("group_size", 0) or 0)


def chat_panel(ax, data, many_runs, title):
    """One line per model: its delivery spectrum, labelled with its deliveries/s."""
    xmax = 10.0
    for r, pts in data:
        xs, ys = spectrum_xy(pts)
        xmax = max([xmax] + xs)
        color, _marker = style(r.platform, r.model)
        rate = r.get("deliveries_per_s")
        label = series_name(r, many_runs) + (f" — {fmt_count(rate)} deliv/s" if rate else "")
        ax.plot(xs, ys, color=color, label=label, linewidth=1.5)
    setup_spectrum_axis(ax, xmax)
    ax.set_ylabel("delivery latency (log scale)")
    ax.set_title(title, fontsize=11)
    legend(ax, len(data))


def plot_chat(rows, out, figures, spectra, many_runs):
    """One figure per platform and loop: a panel per group size and connection
    count, a line per model."""
    cells = [r for r in rows if is_chat(r) and r.mode in ("closed", "open")]
    data = [(r, spectra.get(r, tag="delivery")) for r in cells]
    groups = defaultdict(list)
    for r, pts in data:
        if pts:
            groups[(r.platform, r.mode)].append((r, pts))
    for (plat, mode), members in sorted(groups.items()):
        panels = sorted({(group_size(r), r.connections) for r, _ in members})
        fig, axes = grid(len(panels))
        wine = PLATFORM_SUFFIX[plat]
        for ax, (g, conns) in zip(axes, panels):
            mine = sorted([(r, d) for r, d in members
                           if group_size(r) == g and r.connections == conns],
                          key=lambda t: sort_key(t[0]))
            chat_panel(ax, mine, many_runs, f"groups of {g}, {conns} users{wine}")
        fig.suptitle(f"Chat: delivery latency percentile spectrum — {PLATFORM_TITLE[plat]}\n"
                     f"{mode} loop, every message timed from its send to each recipient",
                     fontsize=13)
        thin_log_ticks(axes, fmt_us_tick)
        finish(fig)
        save(fig, out, f"chat-delivery-{plat}-{slug(mode)}.png", figures,
             "Chat workload (loadgen --protocol chat): the latency of every delivery, from the "
             "message's send time"
             + (" (its intended send time: corrected for coordinated omission)"
                if mode == "open" else "")
             + " to its receipt by each recipient, one panel per group size and user count, "
             "a line per model; the legend gives each model's deliveries per second. "
             + SPECTRUM_AXIS_NOTE + (WINE_NOTE if is_wine(plat) else ""),
             "Chat")
