"""bench-core (Google Benchmark) results as bar charts."""

from collections import defaultdict
from matplotlib.ticker import FuncFormatter

from ..style import finish, fmt_bytes, fmt_count, plt, save, slug


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
