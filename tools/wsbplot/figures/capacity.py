"""Latency against offered rate of the capacity cells (loadgen
--find-capacity, tools/matrix.py's capacity workload): the hockey stick, one
figure per run and platform, the capacity each model reached marked."""

import re
from collections import defaultdict
from statistics import median

from ..load import num
from ..platforms import PLATFORM_SUFFIX, PLATFORM_TITLE
from ..style import finish, legend, plt, save, slug, style
from ..verdicts import counted

UNITS_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3, "": 1e3}


def p99_limit_ms(slo):
    """The p99 bound of an --slo text ("p99<=5ms,max<=1s") in ms, or None."""
    m = re.search(r"(?:^|,)\s*p99\s*<?=\s*([0-9.]+)\s*(ns|us|ms|s)?\s*(?:,|$)", slo or "")
    return float(m.group(1)) * UNITS_MS[m.group(2) or ""] if m else None


def platform_of_step(row):
    return row.get("cell_platform") or row.get("server_platform") or row.get("platform") or ""


def model_of_step(row):
    return row.get("model") or row.get("server_model") or row.get("label") or "?"


def plot_capacity(runs, out, figures):
    for run in runs:
        groups = defaultdict(lambda: defaultdict(list))  # platform -> model -> rows
        for r in getattr(run, "capacity", []):
            if counted(r) and num(r.get("rate")) and num(r.get("latency_p99_us")):
                groups[platform_of_step(r)][model_of_step(r)].append(r)
        for plat, models in sorted(groups.items()):
            plot_platform(run, plat, models, out, figures)


def plot_platform(run, plat, models, out, figures):
    fig, ax = plt.subplots(figsize=(8.5, 5))
    slos = set()
    for model in sorted(models):
        rows = models[model]
        color, marker = style(plat, model)
        slos.update(r.get("slo", "") for r in rows)
        # Each repetition as one line through the median p99 of the steps at
        # each rate (loadgen judges a rate by the majority of up to three
        # steps, --capacity-trials), every step as a dot.
        reps = defaultdict(list)
        for r in rows:
            reps[r.get("label", "")].append(r)
        for i, steps in enumerate(reps.values()):
            at_rate = defaultdict(list)
            for r in steps:
                at_rate[num(r["rate"])].append(num(r["latency_p99_us"]) / 1000)
            rates = sorted(at_rate)
            ax.plot(rates, [median(at_rate[x]) for x in rates], color=color, marker=marker,
                    markersize=4, linewidth=1, alpha=0.8,
                    label=f"{model}{PLATFORM_SUFFIX.get(plat, '')}" if i == 0 else None)
            ax.scatter([x for x in rates for _ in at_rate[x]],
                       [y for x in rates for y in at_rate[x]], color=color, s=6, alpha=0.35)
        capacities = [num(steps[0].get("capacity")) for steps in reps.values()]
        capacities = [c for c in capacities if c is not None]
        if capacities:
            cap = median(capacities)
            ax.axvline(cap, color=color, linestyle="--", linewidth=1)
            ax.annotate(f"{model}: {cap:,.0f}/s", (cap, 1), xycoords=("data", "axes fraction"),
                        rotation=90, va="top", ha="right", fontsize=8, color=color)
    for slo in slos:
        limit = p99_limit_ms(slo)
        if limit is not None:
            ax.axhline(limit, color="black", linestyle=":", linewidth=1)
            ax.annotate(f"SLO {slo}", (1, limit), xycoords=("axes fraction", "data"),
                        va="bottom", ha="right", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered rate (requests/s, open loop)")
    ax.set_ylabel("p99 latency, corrected (ms)")
    ax.set_title(f"Capacity at {', '.join(sorted(slos))}: {PLATFORM_TITLE.get(plat, plat)}"
                 f" — {run.name}")
    ax.grid(True, which="both", alpha=0.3)
    legend(ax, len(models))
    finish(fig)
    save(fig, out, f"capacity-{slug(run.name)}-{plat}.png", figures,
         "p99 latency (corrected for coordinated omission) at each offered rate of the "
         "capacity search; dashed: the capacity found (median over repetitions), dotted: the "
         "SLO. Each line is one repetition: the median p99 of its steps at each rate; the dots "
         "are the steps.", "Capacity")
