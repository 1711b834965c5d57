"""Per-cell statistics over repetitions, and verdicts between models.

Works on summary.csv rows as dictionaries of strings (standard library only:
tools/matrix.py and tools/compare.py use it without matplotlib). A cell is
one configuration (model, workload, protocol, connections, size, platform);
its repetitions are the rows whose `cell` column names it (rows of runs
older than repetitions are each a cell of their own). A group is the cells
that differ only in the model; every pair of models in a group gets a
verdict. The methods are in stats.py and results/README.md.
"""

import csv
import itertools
import math

from .platforms import PLATFORM_SUFFIX, is_winsock, platform_of
from .stats import median_interval, shift_interval

# The figures a cell's confidence interval is given for in summary.csv.
CELL_METRICS = ["requests_per_s", "latency_p50_us", "latency_p99_us"]
NATIVE_ORDER = ["threads", "nonblocking", "select", "poll", "epoll", "uring"]
WINE_ORDER = ["blocking-single", "blocking-threads", "nonblocking", "select", "async-select",
              "event-select", "overlapped-event", "overlapped-routine", "iocp", "rio"]

VERDICTS_HEADER = ["platform", "workload", "protocol", "size_bytes", "connections", "model_a",
                   "model_b", "repetitions_a", "repetitions_b", "requests_per_s_a_median",
                   "requests_per_s_b_median", "ratio", "ratio_ci_low", "ratio_ci_high",
                   "difference_pct", "ci_low_pct", "ci_high_pct", "ci_level", "p_value",
                   "verdict", "group_size", "metric"]

# What a chat cell is compared by: its deliveries (a message relayed to each
# recipient), of which a request (a message and its ACK) is only the start.
CHAT_METRIC = "deliveries_per_s"


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None




def pinned(row):
    """The row's server or loadgen ran on a CPU set of its own (--server-cpus,
    --loadgen-cpus; tools/matrix.py --pinning)."""
    return any((row.get(c) or "none") != "none" for c in ("server_cpus", "loadgen_cpus"))


def model_of(row):
    """The model, and "(pinned)" after it for a pinned row: a run with
    --pinning both compares every model pinned against itself unpinned, in
    the same verdicts as the other models."""
    name = row.get("server_model") or row.get("label") or row.get("target") or "?"
    return f"{name} (pinned)" if pinned(row) else name


def size_of(row):
    """The request size in bytes, or None where it means nothing (http, hold)."""
    if row.get("protocol") == "http" or row.get("mode") == "hold":
        return None
    lo, hi = row.get("size_min", ""), row.get("size_max", "")
    return lo if lo == hi else f"{lo}-{hi}"


def cell_of(row):
    return row.get("cell") or row.get("label") or ""


def group_key(row):
    """What a cell is apart from its model."""
    return (platform_of(row), row.get("mode", ""), row.get("protocol", ""), size_of(row),
            int(number(row.get("connections")) or 0))


def cell_key(row):
    return group_key(row) + (model_of(row),)


def counted(row):
    """False for a disturbed repetition that tools/matrix.py ran again: its
    row stays in summary.csv, the re-run stands for it."""
    return row.get("replaced") not in ("1", 1)


def by_cell(rows):
    cells = {}
    for r in rows:
        cells.setdefault(cell_of(r), []).append(r)
    return cells


def fmt(value):
    return "" if value is None else f"{value:.6g}"


def add_cell_statistics(rows):
    """Every row gains `repetitions` and, per metric, the cell's median and
    confidence interval (`cell_<metric>_median`, `_ci_low`, `_ci_high`) and
    `cell_ci_level`, the coverage the repetitions allow (see stats.py)."""
    out = [dict(r) for r in rows]
    for members in by_cell(out).values():
        level = None
        stats = {}
        kept = [r for r in members if counted(r)]
        for m in CELL_METRICS:
            med, lo, hi, reached = median_interval([number(r.get(m)) for r in kept])
            stats[m] = (med, lo, hi)
            level = reached if reached is not None else level
        for r in members:
            r["repetitions"] = len(kept)
            for m, (med, lo, hi) in stats.items():
                r[f"cell_{m}_median"] = fmt(med)
                r[f"cell_{m}_ci_low"] = fmt(lo)
                r[f"cell_{m}_ci_high"] = fmt(hi)
            r["cell_ci_level"] = "" if level is None else f"{level:.4f}"
    return out


def typed(text):
    """A CSV field as JSON: integers and numbers as such, empty as null."""
    if text is None or text == "":
        return None
    if isinstance(text, (int, float)):
        return text
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
        return value if math.isfinite(value) else text
    except ValueError:
        return text


def summary_json(rows):
    return [{k: typed(v) for k, v in r.items()} for r in rows]


def model_rank(platform, model):
    order = WINE_ORDER if is_winsock(platform) else NATIVE_ORDER
    base = model.removesuffix(" (pinned)")
    return (order.index(base) if base in order else len(order), model)


def compute_verdicts(rows, metric="requests_per_s"):
    """One dict per pair of models in every group with at least two models
    measured at least twice; model_a comes first in the models' usual order.
    Chat cells form groups per group size too and are compared by
    CHAT_METRIC (the `metric` column says which); the median columns keep
    their names."""
    groups = {}
    for r in rows:
        chat = r.get("protocol") == "chat"
        column = CHAT_METRIC if chat else metric
        if r.get("mode") == "hold" or number(r.get(column)) is None or not counted(r):
            continue
        key = group_key(r) + ((r.get("group_size") or "", column) if chat else ("", column))
        groups.setdefault(key, {}).setdefault(model_of(r), []).append(number(r.get(column)))
    out = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], str(k[3]), k[4], k[5])):
        plat, mode, protocol, size, conns, group, column = key
        models = sorted(groups[key], key=lambda m: model_rank(plat, m))
        for a, b in itertools.combinations(models, 2):
            res = shift_interval(groups[key][a], groups[key][b])
            if res is None:
                continue
            ratio, lo, hi, level, p = res
            verdict = ("faster" if lo > 1 else "slower" if hi < 1
                       else "no significant difference")
            out.append({
                "platform": plat, "workload": mode, "protocol": protocol,
                "size_bytes": "" if size is None else size, "connections": conns,
                "model_a": a, "model_b": b, "repetitions_a": len(groups[key][a]),
                "repetitions_b": len(groups[key][b]),
                "requests_per_s_a_median": fmt(median_interval(groups[key][a])[0]),
                "requests_per_s_b_median": fmt(median_interval(groups[key][b])[0]),
                "ratio": fmt(ratio), "ratio_ci_low": fmt(lo), "ratio_ci_high": fmt(hi),
                "difference_pct": f"{(ratio - 1) * 100:.1f}",
                "ci_low_pct": f"{(lo - 1) * 100:.1f}", "ci_high_pct": f"{(hi - 1) * 100:.1f}",
                "ci_level": f"{level:.4f}", "p_value": f"{p:.4g}", "verdict": verdict,
                "group_size": group, "metric": column})
    return out


def write_verdicts(path, verdicts):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=VERDICTS_HEADER, lineterminator="\n")
        w.writeheader()
        w.writerows(verdicts)


def read_verdicts(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def pct(value):
    return f"{abs(float(value)):.0f}"


def pair_phrase(v):
    """'uring serves 18 % more requests than epoll (95 % CI 12–24 %)', with the
    faster model first; 'poll and epoll do not differ' otherwise."""
    level = f"{float(v['ci_level']) * 100:.0f} %"
    if v["verdict"] == "no significant difference":
        return (f"{v['model_a']} and {v['model_b']} do not differ ({level} CI of the "
                f"difference {float(v['ci_low_pct']):+.0f} to {float(v['ci_high_pct']):+.0f} %)")
    a, b = v["model_a"], v["model_b"]
    what = "messages" if v.get("metric") == CHAT_METRIC else "requests"
    verb = "delivers" if what == "messages" else "serves"
    lo, hi, mid = float(v["ratio_ci_low"]), float(v["ratio_ci_high"]), float(v["ratio"])
    if v["verdict"] == "slower":
        # Say it the other way round: b serves more than a.
        a, b = b, a
        lo, hi, mid = 1 / hi, 1 / lo, 1 / mid
    return (f"{a} {verb} {(mid - 1) * 100:.0f} % more {what} than {b} ({level} CI "
            f"{(lo - 1) * 100:.0f}–{(hi - 1) * 100:.0f} %)")


def describe_group(v):
    conns = int(float(v["connections"]))
    what = [v["protocol"]] + ([f"{v['size_bytes']} B"] if v["size_bytes"] else [])
    if v.get("group_size"):
        what.append(f"groups of {v['group_size']}")
    what.append(f"{v['workload']} loop" if v["workload"] in ("closed", "open")
                else v["workload"])
    wine = PLATFORM_SUFFIX.get(v["platform"], "")
    return (f"At {conns:,} connection{'s' if conns != 1 else ''} ({', '.join(what)}){wine}")


def sentences(verdicts):
    """One plain sentence per group: the significant differences first, then
    the pairs that do not differ."""
    groups = {}
    for v in verdicts:
        key = (v["platform"], v["workload"], v["protocol"], v["size_bytes"], v["connections"],
               v.get("group_size", ""))
        groups.setdefault(key, []).append(v)
    out = []
    for members in groups.values():
        real = [pair_phrase(v) for v in members if v["verdict"] != "no significant difference"]
        same = [v for v in members if v["verdict"] == "no significant difference"]
        models = list(dict.fromkeys(m for v in members for m in (v["model_a"], v["model_b"])))
        if len(same) == 1:
            tail = [pair_phrase(same[0]).split(" (")[0]]
        elif same and not real:
            # No pair differs: one clause instead of one per pair.
            tail = [f"no two of {', '.join(models[:-1])} and {models[-1]} differ significantly"]
        elif same:
            tail = ["no significant difference between " + ", ".join(
                f"{v['model_a']} and {v['model_b']}" for v in same)]
        else:
            tail = []
        parts = real + tail
        out.append(f"{describe_group(members[0])} " + "; ".join(parts) + ".")
    return out
