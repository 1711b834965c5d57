"""Shared look of every figure: model colours and markers, number formats,
axis helpers and saving (with the palette reduction the committed runs need)."""

import math
import re
import sys

from .platforms import PLATFORMS, PLATFORM_SUFFIX, PLATFORM_TITLE, is_winsock  # noqa: F401

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
except ImportError:  # pragma: no cover - depends on the machine
    sys.stderr.write("plot.py: matplotlib is missing; " + (
        "install it with: py -m pip install matplotlib\n" if sys.platform == "win32" else
        "install Debian's python3-matplotlib and run this with /usr/bin/python3\n"))
    sys.exit(1)

WINE_NOTE = ("Winsock models under Wine 8.0 on Linux: every socket call goes through "
             "wineserver. Compare them with each other, not with native or Windows figures.")

# One colour and marker per model, stable across every figure.
NATIVE_ORDER = ["threads", "nonblocking", "select", "poll", "epoll", "uring"]
WINE_ORDER = ["blocking-single", "blocking-threads", "nonblocking", "select", "async-select",
              "event-select", "overlapped-event", "overlapped-routine", "iocp", "rio"]
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]


def series_name(row, many_runs):
    name = row.model + PLATFORM_SUFFIX.get(row.platform, "")
    return f"{name} [{row.run.name}]" if many_runs else name


# The native models' own colours: in the default cycle poll (red) and uring
# (brown) were hard to tell apart, and those two are the ones compared most.
NATIVE_COLOURS = {"threads": "#1f77b4", "nonblocking": "#ff7f0e", "select": "#2ca02c",
                  "poll": "#9467bd", "epoll": "#d62728", "uring": "#111111"}
# Connection counts in one panel: a qualitative palette of dark colours, since
# the end of a sequential one (plasma's yellow) vanished on white.
CONNECTION_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#222222",
                      "#a6761d"]


def style(platform, model):
    order = WINE_ORDER if is_winsock(platform) else NATIVE_ORDER
    if not is_winsock(platform) and model in NATIVE_COLOURS:
        i = order.index(model)
        return NATIVE_COLOURS[model], MARKERS[i % len(MARKERS)]
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
    return [p for p in PLATFORMS if any(r.platform == p for r in rows)]


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


def error_bars(ax, rows, xs, column, color, scale=1.0):
    """Vertical bars from the low to the high end of each cell's confidence
    interval of its median (cells measured once have none)."""
    for r, x in zip(rows, xs):
        ci = r.interval(column)
        if ci is not None:
            ax.errorbar([x], [r.get(column) / scale],
                        yerr=[[(r.get(column) - ci[0]) / scale], [(ci[1] - r.get(column)) / scale]],
                        fmt="none", ecolor=color, elinewidth=1.2, capsize=3, alpha=0.8)


def interval_note(rows):
    """The caption's sentence on error bars, when any cell has repetitions."""
    n = sorted({len(r.repetitions) for r in rows})
    if n == [1] or not n:
        return ""
    return (f" Points are the median of {'/'.join(map(str, n))} repetitions; bars: its "
            "confidence interval (exact order-statistic interval, results/README.md).")


def representative_note(rows):
    """The caption's sentence for figures drawn from one repetition per cell."""
    if all(len(r.repetitions) == 1 for r in rows):
        return ""
    return (" Cells measured several times are shown by the repetition with the median "
            "throughput (its .hlog and intervals).")


def legend(ax, n):
    if n == 0:
        return
    ax.legend(fontsize=8 if n > 6 else 9, loc="best", framealpha=0.85,
              ncol=2 if n > 6 else 1)



def sort_key(row):
    order = WINE_ORDER if is_winsock(row.platform) else NATIVE_ORDER
    return (row.platform, order.index(row.model) if row.model in order else 99, row.model,
            row.run.name)



def describe(mode, protocol, size):
    what = f"{mode} loop" if mode in ("closed", "open") else mode
    return what + f", {protocol}" + (f", {size}-byte requests" if size is not None else "")



def grid(n, width=5.6, height=4.3, sharey=False):
    cols = min(3, n)
    rows_n = math.ceil(n / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(width * cols + 0.4, height * rows_n + 0.8),
                             squeeze=False, sharey=sharey)
    flat = [axes[k // cols][k % cols] for k in range(rows_n * cols)]
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat[:n]
