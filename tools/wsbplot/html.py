"""report.html: the figures, the runs' machines and every cell in one page."""

import html
import os
from pathlib import Path
from collections import defaultdict

from .verdicts import compute_verdicts, read_verdicts, sentences
from .load import held_memory
from .platforms import PLATFORM_SUFFIX, PLATFORMS, is_wine
from .style import WINE_NOTE, fmt_bytes, fmt_count, fmt_us, series_name, slug, sort_key


def relative_to(folder, out):
    """folder as seen from the report's folder; as it is when no relative path
    leads there (Windows: another drive)."""
    try:
        rel = os.path.relpath(folder, out)
    except ValueError:
        return str(folder)
    # The report sits in the run's own folder: "." would tell a reader nothing.
    return f"{Path(folder).resolve().name}/ (this report's folder)" if rel == "." else rel


def wineserver_share(r):
    total, own = r.cpu_per_request_us(), r.cpu_per_request_us(with_wineserver=False)
    if r.platform != "wine" or r.wineserver_cpu_s is None or not total or own is None:
        return ""
    return f"{(total - own) / total * 100:.0f}%"


def summary_table(rows, many_runs):
    head = ["model", "platform", "workload", "protocol", "size (B)", "conns", "reps", "disturbed‡", "responses/s†",
            "p50", "p99", "p99.9", "max", "errors", "server CPU/req*", "of it wineserver",
            "threads",
            "peak RSS", "per held conn", "exit"]
    out = ["<table class='data sortable'><thead><tr>" + "".join(
        f"<th title='click to sort'>{h}</th>" for h in head) +
           "</tr></thead><tbody>"]
    for r in sorted(rows, key=lambda r: (r.platform, r.mode, r.protocol, str(r.size),
                                         sort_key(r), r.connections)):
        cpu = r.cpu_per_request_us()
        cells = [series_name(r, many_runs), r.platform, r.mode, r.protocol,
                 "" if r.size is None else r.size, r.connections, len(r.repetitions),
                 sum(1 for x in r.repetitions if x.get("disturbed") == "1") or "",
                 throughput_cell(r),
                 fmt_us(r.get("latency_p50_us")), fmt_us(r.get("latency_p99_us")),
                 fmt_us(r.get("latency_p999_us")), fmt_us(r.get("latency_max_us")),
                 int(r.get("errors", 0) or 0),
                 f"{cpu:.1f} µs" if cpu is not None else "",
                 wineserver_share(r),
                 int(r.get("server_threads", 0) or 0),
                 fmt_bytes(r.get("server_peak_rss_bytes")),
                 held_cell(r) if r.mode == "hold" else "",
                 r.exit_code]
        cls = " class='bad'" if r.exit_code != 0 else (" class='wine'" if is_wine(r.platform)
                                                       else "")
        raw = [None] * 8 + [r.get("requests_per_s") if r.mode != "hold" else None,
                            r.get("latency_p50_us"), r.get("latency_p99_us"),
                            r.get("latency_p999_us"), r.get("latency_max_us"), None, cpu, None,
                            None, r.get("server_peak_rss_bytes"), held_memory(r)[0], None]
        out.append(f"<tr{cls}>" + "".join(
            (f"<td data-v='{v:g}'>" if v is not None else "<td>") + f"{html.escape(str(c))}</td>"
            for c, v in zip(cells, raw)) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def throughput_cell(r):
    """'12.5k' or, for a cell measured several times, '12.5k (11.9k–13.0k)'."""
    if r.mode == "hold":
        return ""
    ci = r.interval("requests_per_s")
    text = fmt_count(r.get("requests_per_s", 0))
    return text + (f" ({fmt_count(ci[0])}–{fmt_count(ci[1])})" if ci else "")


def held_cell(r):
    per_conn, how = held_memory(r)
    return "" if per_conn is None else f"{fmt_bytes(per_conn)} ({how})"


def machine_table(run):
    m = run.machine
    if not m:
        return "<p>No machine.json for this run.</p>"
    load = m.get("load_average_start")
    load_end = m.get("load_average_end")
    items = [
        ("date (UTC)", m.get("date_utc")),
        ("CPU", f"{m.get('cpu_model', '')}, {m.get('cores_online', '')} cores"),
        ("memory", fmt_bytes(m.get("memory_bytes"))),
        ("OS, kernel", f"{m.get('os', '')}, "
         + ("" if str(m.get("os", "")).startswith("Windows") else "Linux ")
         + f"{m.get('kernel', '')}"),
        ("Wine", m.get("wine_version") or "not used"),
        # tools/matrix.py --platform windows (--launcher wine): loadgen.exe.
        ("platform", m.get("platform", "") + (f", launcher {m['launcher']}"
                                              if m.get("launcher") else "")),
        # Where the noise meter could not run (Windows), why.
        ("noise meter", m.get("noise_meter", "")),
        ("loadgen", m.get("loadgen_version")),
        ("source", (m.get("source") or {}).get("commit", "") +
         (" (with uncommitted changes)" if (m.get("source") or {}).get("dirty") else "")),
        ("load average", (f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the start"
                          if load else "") +
         (f"; {load_end[0]:.2f} / {load_end[1]:.2f} / {load_end[2]:.2f} at the end"
          if load_end else "")),
        ("descriptor limit", f"{(m.get('nofile_limit') or {}).get('soft', '')}"),
        ("preset", m.get("preset")),
        ("warmup / duration (s)", f"native {m.get('warmup_s', {}).get('native')} / "
                                  f"{m.get('duration_s', {}).get('native')}; Winsock "
                                  f"{m.get('warmup_s', {}).get('wine')} / "
                                  f"{m.get('duration_s', {}).get('wine')}; hold "
                                  f"{m.get('hold_s')}"),
        ("open loop rate, churn", f"{m.get('open_rate_per_s')} requests/s; "
                                  f"{m.get('churn_requests')} requests per connection"),
        ("command", " ".join(m.get("command", []))),
        ("run time", f"{m.get('run_seconds', '')} s"),
        ("note", m.get("note", "")),
    ]
    return ("<table class='kv'>" + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in items if v not in (None, "")) + "</table>")


def cells_section(run):
    if not run.cells:
        return ""
    counts = defaultdict(int)
    for c in run.cells:
        counts[c["status"]] += 1
    parts = ["<p>Cells: " + ", ".join(f"{v} {html.escape(k)}" for k, v in sorted(counts.items()))
             + ".</p>"]
    disturbed = [c for c in run.cells if c.get("disturbed") == "1"]
    if disturbed:
        rerun = sum(1 for c in disturbed if c.get("replaced") == "1")
        parts.append(f"<p class='note'><b>{len(disturbed)} of {len(run.cells)} repetitions were "
                     "disturbed</b>: other processes used more than the allowed share of a core "
                     f"while they ran (cells.csv: others_cpu_share). {rerun} of them were run "
                     "once more and their re-run counts instead; the rest (re-runs disturbed "
                     "again) are counted, so read this run's small differences with care.</p>")
    bad = [c for c in run.cells if c["status"] != "ok"]
    if bad:
        parts.append("<table class='data reasons'><thead><tr><th>cell</th><th>status</th>"
                     "<th>reason</th></tr></thead><tbody>")
        for c in bad:
            cls = {"failed": "bad", "timeout": "bad", "errors": "warn"}.get(c["status"], "")
            parts.append(f"<tr class='{cls}'>"
                         f"<td>{html.escape(c.get('label') or c['cell'])}</td>"
                         f"<td>{html.escape(c['status'])}</td>"
                         f"<td>{html.escape(c['reason'])}</td></tr>")
        parts.append("</tbody></table>")
    return "\n".join(parts)


CSS = """
body { font-family: sans-serif; max-width: 1400px; margin: 1em auto; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
.note { background: #fff6dd; border-left: 4px solid #e0a800; padding: 0.5em 1em; }
table.kv th { text-align: left; padding-right: 1em; vertical-align: top; }
table.data { border-collapse: collapse; font-size: 0.85em; }
table.data th, table.data td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
table.data td:first-child, table.data th:first-child { text-align: left; }
tr.wine td { background: #f3f0ff; } tr.bad td { background: #ffe3e3; }
tr.warn td { background: #fff3d6; }
table.data td { white-space: nowrap; } table.reasons td { text-align: left; white-space: normal; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
ul.verdicts li { margin: 0.3em 0; }
figcaption { font-size: 0.9em; color: #444; max-width: 1100px; }
table.sortable th { cursor: pointer; } table.sortable th:hover { background: #eef; }
"""

# Sorting the table of every cell by a click on a column head (again: the
# other way). A cell's data-v holds its number (the text is formatted: 12.5k,
# 3.1 ms); cells without one sort as text.
SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var dir = th.dataset.dir === 'asc' ? -1 : 1;
      th.dataset.dir = dir === 1 ? 'asc' : 'desc';
      function key(row) {
        var td = row.cells[col];
        if (td.dataset.v !== undefined) return parseFloat(td.dataset.v);
        var n = Number(td.textContent);
        return td.textContent !== '' && !isNaN(n) ? n : td.textContent;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x === typeof y) return (x < y ? -1 : x > y ? 1 : 0) * dir;
        return typeof x === 'number' ? -1 : 1;  // empty cells last, either way
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


BENCH_GROUP = "Micro-benchmarks"


def figure_html(f):
    return (f"<figure><img src='{html.escape(f['file'])}' alt='"
            f"{html.escape(f['caption'][:120])}'><figcaption>"
            f"{html.escape(f['caption'])} <a href='{html.escape(f['file'])}'>"
            f"{html.escape(f['file'])}</a></figcaption></figure>")


def coverage_section(rows):
    """Which models each workload left out: a reader comparing the open-loop
    or churn figures with the sweep would otherwise take a missing model for
    one that failed."""
    lines = []
    for plat in PLATFORMS:
        mine = [r for r in rows if r.platform == plat]
        every = sorted({r.model for r in mine}, key=lambda m: sort_key(
            next(r for r in mine if r.model == m)))
        groups = defaultdict(set)
        for r in mine:
            groups[(r.mode, r.protocol, r.size, r.connections)].add(r.model)
        for (mode, protocol, size, conns), models in sorted(
                groups.items(), key=lambda kv: (kv[0][0], kv[0][1], str(kv[0][2]), kv[0][3])):
            missing = [m for m in every if m not in models]
            if not missing:
                continue
            wine = PLATFORM_SUFFIX[plat]
            what = (f"{mode}{' loop' if mode in ('closed', 'open') else ''}, {protocol}"
                    + (f", {size} B" if size is not None else "") + f", {conns} connections")
            lines.append(f"<li>{html.escape(what)}{wine}: measured "
                         f"{html.escape(', '.join(m for m in every if m in models))}; "
                         f"<b>left out</b>: {html.escape(', '.join(missing))}.</li>")
    if not lines:
        return ""
    return ("<h2 id='coverage'>Models left out of some cells</h2><p>These cells did not run "
            "every model of the run (the matrix's preset chose fewer, or a model's cap "
            "skipped them: see the cells of each run below). A missing line or bar in their "
            "figures is such a model, not a failure.</p><ul>" + "".join(lines) + "</ul>")


def verdicts_section(runs):
    """The answer first: per group of cells that differ only in the model,
    which model serves more requests, in sentences (verdicts.csv of the run
    folder, or computed from its rows)."""
    parts = []
    for run in runs:
        path = run.folder / "verdicts.csv" if run.folder else None
        found = read_verdicts(path) if path and path.is_file() else compute_verdicts(
            [raw for row in run.rows for raw in row.repetitions])
        if not found:
            continue
        if len(runs) > 1:
            parts.append(f"<h3>{html.escape(run.name)}</h3>")
        parts.append("<ul class='verdicts'>" + "".join(
            f"<li>{html.escape(s)}</li>" for s in sentences(found)) + "</ul>")
    if not parts:
        return ("<p class='note'>No verdicts: every cell was measured once. Run "
                "tools/matrix.py with --repeat 3 or more to learn which differences between "
                "models are real.</p>")
    levels = sorted({len(r.repetitions) for run in runs for r in run.rows})
    return ("<h2 id='verdicts'>Verdicts</h2>" + "".join(parts) +
            "<p>Throughput of each pair of models in the same cell, compared over every "
            f"repetition ({'/'.join(map(str, levels))} per cell): the ratio is the median of all "
            "ratios between the two models' repetitions (Hodges-Lehmann), its interval the exact "
            "Mann-Whitney confidence interval. A difference is stated only when that interval "
            "excludes a ratio of 1 (no difference); with 3 repetitions per model the interval is a 90 % one (the most "
            "3 against 3 allows) and one pair in ten that do not differ would be called "
            "different; with 5, 96.8 %. Method and false-positive rates: results/README.md. "
            "All pairs with their figures: verdicts.csv.</p>")


def write_report(out, runs, figures, problems, title, many_runs):
    rows = [r for run in runs for r in run.rows]
    groups = list(dict.fromkeys(f["group"] for f in figures if f["group"] != BENCH_GROUP))
    has_bench = any(f["group"] == BENCH_GROUP for f in figures)
    coverage = coverage_section(rows)
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    if any(is_wine(r.platform) for r in rows):
        parts.append(f"<p class='note'><b>Wine figures.</b> {html.escape(WINE_NOTE)} They are "
                     "shown in their own panels and files, titled and labelled “(Wine)”.</p>")
    parts.append(verdicts_section(runs))
    contents = [(slug(g), g) for g in groups]
    contents += [("coverage", "models left out")] if coverage else []
    contents += [("runs", "runs and machines")] + ([("table", "all cells")] if rows else [])
    contents += [(slug(BENCH_GROUP), BENCH_GROUP.lower())] if has_bench else []
    parts.append("<p>Contents: " + ", ".join(
        f"<a href='#{a}'>{html.escape(g)}</a>" for a, g in contents) + ".</p>")
    for group in groups:
        parts.append(f"<h2 id='{slug(group)}'>{html.escape(group)}</h2>")
        parts += [figure_html(f) for f in figures if f["group"] == group]
    parts.append(coverage)
    parts.append("<h2 id='runs'>Runs and machines</h2>")
    for run in runs:
        parts.append(f"<h3>{html.escape(run.name)}</h3>")
        if run.folder:
            parts.append(f"<p>Folder: <code>{html.escape(relative_to(run.folder, out))}"
                         "</code></p>")
        parts.append(machine_table(run))
        parts.append(cells_section(run))
    if rows:
        parts.append("<h2 id='table'>All cells</h2><p>Latency percentiles are of the measured "
                     "time (warmup excluded); open loop: corrected. *Server CPU per request: the "
                     "server's user + system time over the requests it counted (warmup "
                     "included in both); under Wine plus wineserver's CPU time when measured. "
                     "Rows shaded violet are Wine figures; red: loadgen exited non-zero. "
                     "Click a column's head to sort by it. "
                     "†Cells measured several times (reps): the median of the repetitions and, "
                     "in brackets, its confidence interval; the other figures are medians "
                     "too. ‡Of the repetitions counted, how many ran while other processes "
                     "used more than the allowed share of a core (re-runs disturbed again; "
                     "cells.csv has every attempt).</p>")
        parts.append(summary_table(rows, many_runs))
    if has_bench:
        # After the results: they measure wsbench's own building blocks, not
        # the models, and read the other way round (a longer bar is slower).
        parts.append(f"<h2 id='{slug(BENCH_GROUP)}'>{BENCH_GROUP}</h2><p>bench-core measures "
                     "wsbench's own parts (codec, histograms, buffers), not the server models. "
                     "A longer bar is a slower operation; the label beside it is the "
                     "throughput Google Benchmark computed (items or bytes per second).</p>")
        parts += [figure_html(f) for f in figures if f["group"] == BENCH_GROUP]
    if problems:
        parts.append("<h2>Problems while plotting</h2><ul>" + "".join(
            f"<li>{html.escape(p)}</li>" for p in problems) + "</ul>")
    parts.append(f"<p>Written by tools/plot.py.</p><script>{SORT_JS}</script></body></html>")
    # UTF-8 whatever the system's code page (Windows'), as the page declares.
    (out / "report.html").write_text("\n".join(parts) + "\n", encoding="utf-8")
