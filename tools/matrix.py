#!/usr/bin/python3
"""Run wsbench's server models under load, cell by cell, into one run folder.

A cell is one `loadgen --spawn MODEL` run: a server model (native, or a
Winsock model under Wine), a workload (closed loop, open loop, churn,
hold, or chat: the fan-out workload of loadgen --protocol chat, with a group
size), a connection count, a protocol and a request size. The matrix is the
cross product of those axes, minus the cells a model cannot take (see
MODEL_CAPS), and every cell is bounded in time. Every cell runs --repeat N
times, interleaved (all cells of a round, then the next round, the model
order rotated each round); a repetition is labelled CELL-rK. A repetition
during which other processes used more than --disturbed-share of a core is
marked disturbed and run once more (CELL-rKb).

--platform windows (the default on Windows) runs the Winsock models the way
a Windows user does: loadgen.exe --spawn server-*.exe, the IOCP load
generator driving them. On Linux, --launcher wine runs both programs under
Wine (cmake/wine-emulator.sh), which makes that path testable here
(tools/tests/test_matrix_windows.py). On Windows nothing reads /proc: the
server's CPU and memory come from loadgen's CSV as everywhere, the noise
meter has nothing to read (its columns stay empty, machine.json's
noise_meter says why) and there is no load average.

The run folder receives:
  summary.csv           one row per repetition, written by loadgen --csv, plus
                        the cell, the noise measured around it and the cell's
                        median and confidence interval of throughput, p50 and
                        p99 (schema and method: results/README.md)
  summary.json          the same rows as one JSON array
  capacity.csv          capacity cells: one loadgen row per step of each
                        repetition's --find-capacity search
  verdicts.csv          every pair of models of every group of cells that
                        differ only in the model: ratio, interval, verdict
  cells.csv             one row per planned repetition: status, exit code,
                        time, noise, reason; failed and skipped cells are here
  machine.json          CPU, cores, memory, kernel, Wine and loadgen versions,
                        load average, limits, the command line and the presets
  intervals/LABEL.csv   per-second rows of each repetition (loadgen --intervals)
  hlog/LABEL.hlog       per-second HdrHistograms of each repetition (--hlog)
  logs/LABEL.log        loadgen's own output for the repetition

The statistics are tools/wsbplot/stats.py and verdicts.py (standard library).
Standard library only, so that Debian's /usr/bin/python3 runs it anywhere.
Exit status: 0 when every cell was measured, 1 when any cell failed (measured
nothing: the server did not start or died, loadgen failed, or the cell ran
out of time; the run goes on and lists the failures at the end), 2 for a
usage error. Cells whose load met errors (timeouts, resets, refusals) are
measurements: their status is "errors", they are listed at the end, and they
do not make the exit status non-zero.
"""

import argparse
import contextlib
import csv
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

try:
    import resource  # POSIX only: the noise meter's own-CPU figure
except ImportError:
    resource = None

from wsbcli import Parser, non_negative_float, positive_float, positive_int
from wsbplot.verdicts import add_cell_statistics, compute_verdicts, summary_json, write_verdicts

ROOT = Path(__file__).resolve().parent.parent
ON_WINDOWS = sys.platform == "win32"
# cmake/wine-emulator.sh runs a Windows program under Wine with the tree's
# prefix and keeps one wineserver alive between programs (read why in it).
WINE_EMULATOR = ROOT / "cmake" / "wine-emulator.sh"

# Why the noise meter has nothing to say on Windows: it reads /proc/stat and
# getrusage(RUSAGE_CHILDREN), which Windows does not have.
NOISE_UNAVAILABLE_WINDOWS = ("not measured on Windows: the noise meter reads /proc/stat and "
                             "getrusage(RUSAGE_CHILDREN), which Windows lacks")

NATIVE_MODELS = ["threads", "nonblocking", "select", "poll", "epoll", "uring"]
# server-rio is left out: Wine does not implement Registered I/O and the
# program exits 3 there (docs/models/rio.md). Name it as wine:rio to try.
WINE_MODELS = [
    "blocking-single", "blocking-threads", "nonblocking", "select", "async-select",
    "event-select", "overlapped-event", "overlapped-routine", "iocp", "afd-poll",
]
PROTOCOLS = ["upper", "echo", "http"]
# A cell's platform: "native" (a Linux model, Linux loadgen), "wine" (a Winsock
# model under Wine, driven by the Linux loadgen), "windows" (loadgen.exe
# spawning server-*.exe on Windows: --platform windows) and "windows-wine"
# (the very same, both programs under Wine: --platform windows --launcher
# wine). The last three are the Winsock family; the tables below that are
# keyed by platform hold "native" and "wine", and family() picks the key.
WINDOWS_PLATFORMS = ("windows", "windows-wine")


def family(plat):
    """The key of the per-platform tables: "native", or "wine" for every
    Winsock platform (their cells have the same caps and, for want of Windows
    figures, the same durations, rates and time limits)."""
    return "native" if plat == "native" else "wine"


def under_wine(plat):
    return plat in ("wine", "windows-wine")

WORKLOADS = ["closed", "open", "churn", "hold", "capacity", "chat"]

# The capacity workload (loadgen --find-capacity): the SLO and the rates its
# search starts from and stops at, per platform. Under Wine every model
# serves far fewer requests (/work/shared/reference/machine-baseline.md) and a
# step costs more, so the SLO is looser and the rates start lower.
CAPACITY_DEFAULTS = {
    "native": {"slo": "p99<=5ms", "rate_start": 1000.0, "rate_max": 200000.0},
    "wine": {"slo": "p99<=50ms", "rate_start": 50.0, "rate_max": 20000.0},
}
# A search is at most 40 steps (loadgen/capacity.hpp); a usual one judges
# about 14 rates (a ramp of 8 doublings, then 6 bisections to 5 %) by two or
# three steps each (the majority of --capacity-trials 3), for the ETA.
CAPACITY_STEPS_MAX = 40
CAPACITY_STEPS_GUESS = 32

# The chat workload (loadgen --protocol chat, closed loop): its cells are
# users in groups of each of these sizes, a share of the messages sent
# privately to another group. A cell with fewer users than two groups is
# skipped: its private messages would have nobody to go to.
DEFAULT_GROUP_SIZES = [10, 100]
DEFAULT_PRIVATE_SHARE = 0.2

# Structural caps: the most connections a model serves by construction.
# Cells above the cap are skipped (and listed), not run to a certain failure.
MODEL_CAPS = {
    ("wine", "blocking-single"): (1, "serves one client at a time"),
    # Descriptors must stay below FD_SETSIZE (1024); the model's default
    # --max-connections leaves 64 for its own use (docs/models/posix_select.md).
    ("native", "select"): (960, "select() takes descriptors below FD_SETSIZE = 1024"),
}

# Models whose default --max-connections is an administrative thread cap
# below what a cell asks for: the cap is raised to the cell's connections,
# so that the cell measures the model rather than its default setting.
THREAD_CAP_DEFAULTS = {
    ("native", "threads"): 2000,
    ("wine", "blocking-threads"): 1000,
}

# Presets: lists of slices, each a cross product. Durations are per platform
# because a Wine cell costs seconds of start-up (wineserver, the prefix) that
# a native one does not.
PRESETS = {
    "quick": {
        "about": "4 native models at 1 to 1,000 connections and 6 Winsock models under Wine "
                 "at 1 and 10, 2-second cells; about 2 minutes per repetition on 2 cores (3 by default)",
        "warmup": {"native": 0.5, "wine": 0.5},
        "duration": {"native": 2.0, "wine": 2.0},
        "slices": [
            {"platform": "native", "models": ["threads", "poll", "epoll", "uring"],
             "connections": [1, 10, 100, 1000], "sizes": [16], "protocols": ["echo"],
             "workloads": ["closed"]},
            {"platform": "native", "models": ["threads", "poll", "epoll", "uring"],
             "connections": [1000], "sizes": [16], "protocols": ["echo"],
             "workloads": ["hold"]},
            {"platform": "wine", "models": ["blocking-threads", "select", "async-select",
                                            "event-select", "overlapped-routine", "iocp"],
             "connections": [1, 10], "sizes": [16], "protocols": ["echo"],
             "workloads": ["closed"]},
        ],
    },
    "full": {
        "about": "every native model from 1 to 10,000 connections, sizes, protocols, open loop, "
                 "churn and held connections; every Winsock model under Wine at 1 to 50 "
                 "connections; about 11-15 minutes per repetition on 2 cores (5 by default)",
        "warmup": {"native": 1.0, "wine": 1.0},
        "duration": {"native": 5.0, "wine": 3.0},
        "slices": [
            {"platform": "native", "models": NATIVE_MODELS,
             "connections": [1, 10, 100, 1000, 5000, 10000], "sizes": [16],
             "protocols": ["echo"], "workloads": ["closed"]},
            {"platform": "native", "models": NATIVE_MODELS, "connections": [100],
             "sizes": [1024, 16384], "protocols": ["echo"], "workloads": ["closed"]},
            {"platform": "native", "models": NATIVE_MODELS, "connections": [100],
             "sizes": [16], "protocols": ["upper", "http"], "workloads": ["closed"]},
            {"platform": "native", "models": ["threads", "poll", "epoll", "uring"],
             "connections": [100], "sizes": [16], "protocols": ["echo"],
             "workloads": ["open", "churn"]},
            {"platform": "native", "models": NATIVE_MODELS, "connections": [900, 10000],
             "sizes": [16], "protocols": ["echo"], "workloads": ["hold"]},
            {"platform": "wine", "models": WINE_MODELS, "connections": [1, 10, 50],
             "sizes": [16], "protocols": ["echo"], "workloads": ["closed"]},
            {"platform": "wine", "models": ["blocking-threads", "select", "event-select",
                                            "overlapped-routine", "iocp"],
             "connections": [10], "sizes": [16384], "protocols": ["echo"],
             "workloads": ["closed"]},
            {"platform": "wine", "models": [m for m in WINE_MODELS if m != "blocking-single"],
             "connections": [200], "sizes": [16], "protocols": ["echo"],
             "workloads": ["hold"]},
        ],
    },
}

# Open-loop rates (requests/s in total) per platform when --rate is not given:
# well inside what the models sustain on this kind of machine
# (/work/shared/reference/machine-baseline.md), so that latency, not the
# shortfall, is what the cell shows.
DEFAULT_RATE = {"native": 10000.0, "wine": 500.0}
DEFAULT_CHURN = 10

# Time a cell may take beyond its warmup and duration: the server's start
# (loadgen waits 10 s native, 60 s under Wine), establishing connections, the
# drain (at most 2 s) and the stop sequence (loadgen: q, terminate, kill).
CELL_OVERHEAD_LIMIT = {"native": 45.0, "wine": 120.0}
# What a cell usually costs beyond warmup + duration, for the first ETA.
CELL_OVERHEAD_GUESS = {"native": 1.0, "wine": 4.0}

# Repetitions of every cell when --repeat is not given, per preset (None: no
# preset). Fewer than 3 give no confidence interval worth the name.
DEFAULT_REPEAT = {"quick": 3, "full": 5, None: 3}


class UsageError(Exception):
    pass


@dataclass(frozen=True)
class Cell:
    platform: str        # "native" or "wine"
    model: str           # model name without prefix, e.g. "epoll"
    workload: str        # closed, open, churn, hold, chat
    protocol: str
    connections: int
    size: int | None     # None where the size means nothing (http, hold)
    group: int | None = None  # chat: users per group; None for the other workloads
    pinned: bool = False  # --pinning: server and loadgen on their CPU sets

    @property
    def name(self) -> str:
        parts = [self.platform, self.model, self.protocol, self.workload, f"c{self.connections}"]
        if self.size is not None:
            parts.append(f"s{self.size}")
        if self.group is not None:
            parts.append(f"g{self.group}")
        if self.pinned:
            parts.append("pinned")
        return "-".join(parts)

    @property
    def display_model(self) -> str:
        suffix = {"wine": " (Wine)", "windows": " (Windows)",
                  "windows-wine": " (loadgen.exe, Wine)"}
        return self.model + suffix.get(self.platform, "")


@dataclass
class Settings:
    warmup: dict         # keyed by family()
    duration: dict
    rate: dict
    churn: int
    hold: float
    cell_timeout: float | None
    disturbed_share: float = 0.10
    launcher: str | None = None  # "wine": the Windows programs run under Wine
    private_share: float = DEFAULT_PRIVATE_SHARE  # chat
    syscalls: bool = False       # count the server's system calls with perf
    capacity: dict = field(default_factory=lambda: {k: dict(v) for k, v in
                                                    CAPACITY_DEFAULTS.items()})
    server_cpus: str = "none"    # pinned cells: loadgen --server-cpus
    loadgen_cpus: str = "none"   # pinned cells: loadgen --loadgen-cpus


@dataclass
class Outcome:
    cell: Cell
    status: str = "planned"  # ok, failed, timeout, skipped
    repetition: int = 0      # 1..N; 0 for a cell that never ran (skipped)
    attempt: int = 1         # 2: the re-run of a disturbed repetition
    noise: dict = field(default_factory=dict)  # NoiseMeter.result()
    replaced: bool = False   # disturbed, and re-run: its row is left out of the statistics
    exit_code: str = ""
    seconds: float = 0.0
    reason: str = ""
    load1: float | None = 0.0  # None where there is no load average (Windows)
    wineserver_cpu_s: float | None = None
    wineserver_context_switches: int | None = None
    syscalls: dict = field(default_factory=dict)  # "server"/"wineserver" -> count
    server_cpu_proc_s: float | None = None  # windows-wine: see WineProgramMeter
    command: list = field(default_factory=list)

    @property
    def label(self) -> str:
        """loadgen's --label, and the name of the repetition's files."""
        if not self.repetition:
            return self.cell.name
        return repetition_label(self.cell, self.repetition, self.attempt)

    @property
    def disturbed(self) -> bool:
        return bool(self.noise.get("disturbed"))


def repetition_label(cell, repetition, attempt=1):
    return f"{cell.name}-r{repetition}" + ("" if attempt == 1 else "b")


# ---- Command line --------------------------------------------------------------


def csv_list(kind):
    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"empty {kind} list")
        return items
    return parse


def int_list(text):
    try:
        values = [int(t) for t in csv_list("number")(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text}")
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"values must be at least 1: {text}")
    return values


def build_parser():
    p = Parser(
        prog="matrix.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Run wsbench's server models under load (loadgen --spawn), one cell per\n"
            "model x workload x connections x protocol x size, into one run folder:\n"
            "summary.csv (loadgen's rows), cells.csv (every planned cell and its outcome),\n"
            "machine.json, intervals/, hlog/ and logs/. Plot it with tools/plot.py."),
        epilog=(
            "models: a bare name is the native model when one exists, else the Winsock one\n"
            "(select, nonblocking: native); prefix native: or wine: to choose, e.g.\n"
            "--models epoll,wine:iocp,wine:select. Native: " + ", ".join(NATIVE_MODELS) + ".\n"
            "Winsock (under Wine): " + ", ".join(WINE_MODELS) + ", rio (Wine lacks RIO).\n\n"
            "Without --quick or --full, the axes given make one cross product (defaults:\n"
            "every model, 1,10,100 connections, size 16, echo, closed loop).\n"
            "With a preset, --models/--connections/--sizes/--protocols/--workloads filter it.\n\n"
            "Wine cells are labelled: cell names begin with native- or wine-, and loadgen's\n"
            "server_platform column says wine. Wine figures are not Windows figures.\n\n"
            "--platform windows runs loadgen.exe --spawn server-*.exe (the IOCP load\n"
            "generator driving the Winsock models), natively on Windows; on Linux add\n"
            "--launcher wine to run both under Wine (cells windows-wine-*, loadgen's\n"
            "platform column says wine). Every model is then a Winsock one.\n\n"
            "cells.csv status: ok; errors (measured, but the load met errors: timeouts,\n"
            "resets, refusals); failed (nothing measured); timeout (killed); skipped.\n"
            "exit status: 0 every cell measured, 1 a cell failed or timed out, 2 usage error"))
    preset = p.add_mutually_exclusive_group()
    preset.add_argument("--quick", action="store_true", help=PRESETS["quick"]["about"])
    preset.add_argument("--full", action="store_true", help=PRESETS["full"]["about"])
    p.add_argument("--out", type=Path,
                   help="run folder (default: results/run-<UTC time>); must not hold a run yet")
    p.add_argument("--bin-dir", type=Path, default=ROOT / "build" / "linux" / "bin",
                   help="folder with loadgen and the native servers (default: %(default)s)")
    p.add_argument("--win-bin-dir", type=Path, default=default_win_bin_dir(),
                   help="folder with the server-*.exe Winsock models, and loadgen.exe for "
                        "--platform windows (default: %(default)s)")
    p.add_argument("--no-wine", action="store_true", help="leave out every Winsock model")
    p.add_argument("--platform", choices=["linux", "windows"],
                   default="windows" if ON_WINDOWS else "linux",
                   help="linux: the Linux loadgen drives the native models and the Winsock "
                        "ones under Wine; windows: loadgen.exe spawns server-*.exe from "
                        "--win-bin-dir (default: this machine's, %(default)s)")
    p.add_argument("--launcher", choices=["wine"],
                   help="with --platform windows on Linux: run loadgen.exe and the servers "
                        "under Wine through cmake/wine-emulator.sh")
    p.add_argument("--models", type=csv_list("model"), help="comma-separated models (see below)")
    p.add_argument("--connections", type=int_list, help="comma-separated connection counts")
    p.add_argument("--sizes", type=int_list, help="comma-separated request body sizes in bytes")
    p.add_argument("--protocols", type=csv_list("protocol"),
                   help="comma-separated protocols: " + ", ".join(PROTOCOLS))
    p.add_argument("--workloads", type=csv_list("workload"),
                   help="comma-separated workloads: closed, open (--rate), churn (--churn), "
                        "hold (idle connections: memory per connection), chat (users in groups "
                        "exchanging messages: delivery latency; protocol chat)")
    p.add_argument("--group-sizes", type=int_list,
                   help="chat: comma-separated users per group (default: %s)"
                        % ",".join(str(g) for g in DEFAULT_GROUP_SIZES))
    p.add_argument("--private-share", type=non_negative_float, default=DEFAULT_PRIVATE_SHARE,
                   help="chat: share of the messages sent privately to a user of another "
                        "group, 0..1 (default: %(default)s)")
    p.add_argument("--duration", type=positive_float,
                   help="measured seconds per cell (default: the preset's, else 3; Wine too)")
    p.add_argument("--warmup", type=non_negative_float,
                   help="warmup seconds per cell (default: the preset's, else 0.5)")
    p.add_argument("--rate", type=positive_float,
                   help="open loop: requests/s in total (default: %g native, %g for the "
                        "Winsock models, under Wine or on Windows)"
                        % (DEFAULT_RATE["native"], DEFAULT_RATE["wine"]))
    p.add_argument("--churn", type=int, default=DEFAULT_CHURN,
                   help="churn: requests per connection before it reconnects "
                        "(default: %(default)s)")
    p.add_argument("--cell-timeout", type=positive_float,
                   help="seconds a cell may take in all before it is killed (default: warmup + "
                        "duration + %g native, + %g for the Winsock models)"
                        % (CELL_OVERHEAD_LIMIT["native"], CELL_OVERHEAD_LIMIT["wine"]))
    p.add_argument("--no-caps", action="store_true",
                   help="also run cells above a model's structural cap (they will fail)")
    p.add_argument("--note", default="",
                   help="free text stored in machine.json (e.g. what else ran on the machine)")
    p.add_argument("--repeat", type=positive_int, metavar="N",
                   help="run every cell N times, interleaved: all cells of a round, then the "
                        "next round, the model order rotated each round (default: 3 with "
                        "--quick and without a preset, 5 with --full)")
    p.add_argument("--disturbed-share", type=non_negative_float, default=0.10, metavar="F",
                   help="mark a repetition disturbed when other processes used more than F of "
                        "one core while it ran (/proc/stat; not measured on Windows), and run "
                        "it once more (default: %(default)s)")
    p.add_argument("--capacity-slo", metavar="TERMS",
                   help="capacity cells: the SLO of loadgen --find-capacity (default p99<=5ms "
                        "native, p99<=50ms Wine)")
    p.add_argument("--capacity-rate-start", type=positive_float, metavar="R",
                   help="capacity cells: the first step's rate (default 1000 native, 50 Wine)")
    p.add_argument("--capacity-rate-max", type=positive_float, metavar="R",
                   help="capacity cells: the ramp's last rate (default 200000 native, "
                        "20000 Wine)")
    p.add_argument("--server-cpus", metavar="LIST",
                   help="pinned cells: the server's CPUs (e.g. 1 or 2-3); default: the last "
                        "usable CPU")
    p.add_argument("--loadgen-cpus", metavar="LIST",
                   help="pinned cells: loadgen's CPUs (e.g. 0); default: the other usable CPUs")
    p.add_argument("--pinning", choices=["off", "on", "both"],
                   help="off (default without CPU lists): nothing pinned; on (default with "
                        "them): every cell pinned; both: every cell twice, pinned and not, "
                        "side by side in the same rounds (the verdicts compare MODEL (pinned) "
                        "with MODEL)")
    p.add_argument("--no-syscalls", action="store_true",
                   help="do not count the server's system calls with perf (counted by default "
                        "where perf may: root or a lowered perf_event_paranoid)")
    p.add_argument("--dry-run", action="store_true", help="list the cells and exit")
    p.add_argument("--targets", choices=["native", "wine", "windows"],
                   help="print the CMake targets the chosen cells need on one side "
                        "(native: loadgen, hdrtool and servers; wine: the .exe servers; "
                        "windows: loadgen, hdrtool and the .exe servers) and exit")
    return p


def default_win_bin_dir():
    """The cross build's bin folder; on Windows the first Windows build found:
    the windows-msvc preset's (a multi-configuration generator: one folder
    per configuration), else the cross build's."""
    cross = ROOT / "build" / "windows-cross" / "bin"
    if not ON_WINDOWS:
        return cross
    msvc = ROOT / "build" / "windows-msvc" / "bin"
    for folder in (msvc / "RelWithDebInfo", msvc / "Release", msvc, cross):
        if (folder / "loadgen.exe").is_file():
            return folder
    return cross


def resolve_model(text, windows_platform=None):
    """'epoll' -> ('native', 'epoll'); 'wine:iocp' -> ('wine', 'iocp'). With
    --platform windows (windows_platform: the cells' platform) every model is
    a Winsock one: 'iocp' -> ('windows', 'iocp')."""
    if windows_platform:
        if text not in WINE_MODELS + ["rio"]:
            raise UsageError(f"no Winsock model named '{text}' (with --platform windows, name "
                             "a Winsock model without a prefix: see --help)")
        return windows_platform, text
    if text.startswith("native:"):
        plat, name = "native", text[len("native:"):]
    elif text.startswith("wine:"):
        plat, name = "wine", text[len("wine:"):]
    elif text in NATIVE_MODELS:
        plat, name = "native", text
    elif text in WINE_MODELS or text == "rio":
        plat, name = "wine", text
    else:
        raise UsageError(f"unknown model '{text}' (see --help for the names)")
    known = NATIVE_MODELS if plat == "native" else WINE_MODELS + ["rio"]
    if name not in known:
        raise UsageError(f"no {plat} model named '{name}' (see --help)")
    return plat, name


def plan(args):
    """The cells to run (in order) and the cells skipped with their reasons."""
    check_platform(args)
    for proto in args.protocols or []:
        if proto not in PROTOCOLS:
            raise UsageError(f"unknown protocol '{proto}' (use {', '.join(PROTOCOLS)})")
    for w in args.workloads or []:
        if w not in WORKLOADS:
            raise UsageError(f"unknown workload '{w}' (use {', '.join(WORKLOADS)})")
    windows = cells_platform(args) if args.platform == "windows" else None
    chosen = None
    if args.models:
        chosen = [resolve_model(m, windows) for m in args.models]

    preset_name = "quick" if args.quick else "full" if args.full else None
    if preset_name:
        slices = PRESETS[preset_name]["slices"]
        if windows:
            # The preset's Winsock slices, run by loadgen.exe instead.
            slices = [dict(s, platform=windows) for s in slices if s["platform"] == "wine"]
    else:
        models = chosen or ([(windows, m) for m in WINE_MODELS] if windows else
                            [("native", m) for m in NATIVE_MODELS] +
                            [("wine", m) for m in WINE_MODELS])
        slices = []
        for plat in (windows,) if windows else ("native", "wine"):
            names = [m for p_, m in models if p_ == plat]
            if names:
                slices.append({"platform": plat, "models": names,
                               "connections": args.connections or [1, 10, 100],
                               "sizes": args.sizes or [16],
                               "protocols": args.protocols or ["echo"],
                               "workloads": args.workloads or ["closed"]})

    cells, seen, skipped = [], set(), []
    for s in slices:
        plat = s["platform"]
        for model in s["models"]:
            if chosen is not None and (plat, model) not in chosen:
                continue
            for workload in s["workloads"]:
                if args.workloads and workload not in args.workloads:
                    continue
                # A chat cell speaks chat, whatever the slice's protocols.
                chat = workload == "chat"
                for proto in ["chat"] if chat else s["protocols"]:
                    if args.protocols and proto not in args.protocols and not chat:
                        continue
                    for conns in (args.connections if not preset_name and args.connections
                                  else s["connections"]):
                        if preset_name and args.connections and conns not in args.connections:
                            continue
                        # The size means nothing for HTTP (fixed requests) and hold
                        # (no requests): one cell instead of one per size.
                        sizes = [None] if proto == "http" or workload == "hold" else s["sizes"]
                        for size in sizes:
                            if (size is not None and preset_name and args.sizes
                                    and size not in args.sizes):
                                continue
                            for group in chat_groups(args, workload):
                                add_cell(Cell(plat, model, workload, proto, conns, size, group),
                                         args, seen, cells, skipped)
    pinning = pinning_sets(args)[0]
    if pinning != "off":
        both = pinning == "both"
        cells = [replace(c, pinned=p) for c in cells
                 for p in ((False, True) if both else (True,))]
    return preset_name, cells, skipped


def chat_groups(args, workload):
    """The group sizes a workload's cells take: chat's, or [None]."""
    if workload != "chat":
        return [None]
    return args.group_sizes or DEFAULT_GROUP_SIZES


def add_cell(cell, args, seen, cells, skipped):
    """Plans `cell` unless it is planned already, or skips it with the reason."""
    if cell in seen:
        return
    seen.add(cell)
    cap = MODEL_CAPS.get((family(cell.platform), cell.model))
    if cap and cell.connections > cap[0] and not args.no_caps:
        skipped.append(Outcome(cell, "skipped", reason=(
            f"above the model's cap of {cap[0]} connections: {cap[1]}")))
        return
    if cell.group is not None and args.private_share > 0 and cell.connections <= cell.group:
        skipped.append(Outcome(cell, "skipped", reason=(
            f"{cell.connections} users make one group of {cell.group}: private messages "
            "need another group")))
        return
    cells.append(cell)




def usable_cpus():
    """The CPUs this process may use, ascending."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def parse_cpus(text, option, usable):
    """"none" -> [], "0,2-3" -> [0, 2, 3]; an unknown CPU is a UsageError."""
    if text == "none":
        return []
    cpus = set()
    for item in text.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
        if not m or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            raise UsageError(f"{option}: not a CPU number or range (e.g. 0,2-3): '{item}'")
        for c in range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1):
            if c not in usable:
                raise UsageError(f"{option}: CPU {c} is not one this process may use "
                                 f"(usable: {','.join(map(str, usable))})")
            cpus.add(c)
    return sorted(cpus)


def pinning_sets(args):
    """(pinning mode, server CPU list text, loadgen CPU list text)."""
    usable = usable_cpus()
    server = parse_cpus(args.server_cpus, "--server-cpus", usable) if args.server_cpus else None
    own = parse_cpus(args.loadgen_cpus, "--loadgen-cpus", usable) if args.loadgen_cpus else None
    mode = args.pinning or ("on" if server or own else "off")
    if mode == "off":
        return mode, "none", "none"
    if server is None and own is None:
        if len(usable) < 2:
            raise UsageError(f"--pinning {mode}: one usable CPU, nothing to split (give "
                             "--server-cpus and --loadgen-cpus)")
        server, own = usable[-1:], usable[:-1]
    elif server is None:
        server = [c for c in usable if c not in own] or own
    elif own is None:
        own = [c for c in usable if c not in server] or server
    if not server and not own:
        raise UsageError(f"--pinning {mode} with both CPU sets 'none': nothing to pin")
    text = lambda cpus: ",".join(map(str, cpus)) if cpus else "none"  # noqa: E731
    return mode, text(server), text(own)


def cells_platform(args):
    """The platform of --platform windows cells: windows-wine under --launcher wine."""
    return "windows-wine" if args.launcher == "wine" else "windows"


def check_platform(args):
    """Refuses --platform/--launcher combinations that cannot run here."""
    if args.launcher and args.platform != "windows":
        raise UsageError("--launcher wine goes with --platform windows")
    if args.platform == "windows" and not ON_WINDOWS and args.launcher != "wine":
        raise UsageError("--platform windows on this system needs --launcher wine")
    if args.platform == "windows" and ON_WINDOWS and args.launcher:
        raise UsageError("--launcher wine is for Linux: on Windows the programs run as they are")
    if args.platform == "linux" and ON_WINDOWS:
        raise UsageError("--platform linux runs Linux programs: use --platform windows here")
    if args.platform == "windows" and args.no_wine:
        raise UsageError("--no-wine leaves out the Winsock models: nothing is left with "
                         "--platform windows")


def schedule(cells, repeat):
    """(cell, repetition) in running order: round after round, every cell once
    per round, so that a drift of the machine (another job, a CPU slowing
    down) hits every model alike. Within a group of cells that differ only in
    the model, the model order is rotated by one each round, so that no model
    always runs first (after a pause) or right after the same neighbour."""
    groups = {}
    for c in cells:
        # Pinned and unpinned cells share a group: their order rotates too.
        groups.setdefault((c.platform, c.workload, c.protocol, c.connections, c.size, c.group),
                          []).append(c)
    order = []
    for rnd in range(1, repeat + 1):
        for members in groups.values():
            shift = (rnd - 1) % len(members)
            order += [(c, rnd) for c in members[shift:] + members[:shift]]
    return order


# ---- Machine -------------------------------------------------------------------


def run_text(argv, timeout=20, attempts=1):
    """The first line a program prints ("" when it prints nothing or cannot
    run), asking it up to `attempts` times while it prints nothing."""
    for _ in range(attempts):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.SubprocessError):
            continue
        text = (out.stdout or out.stderr).strip()
        if text:
            return text.splitlines()[0]
    return ""


def read_first(path, pattern=None):
    try:
        text = Path(path).read_text()
    except OSError:
        return ""
    if pattern is None:
        return text.strip()
    m = re.search(pattern, text, re.MULTILINE)
    return m.group(1).strip() if m else ""


def load_average():
    """The 1, 5 and 15 minute load averages; None on Windows, which has none."""
    try:
        return list(os.getloadavg())
    except (AttributeError, OSError):
        return None


def load1():
    averages = load_average()
    return averages[0] if averages else None


def machine_info(args, preset_name, settings, bin_dir, win_dir, wine_ok, loadgen):
    """What machine.json says about the machine and the run. Fields read from
    /proc or /etc are empty on Windows (null in the JSON)."""
    meminfo_kb = read_first("/proc/meminfo", r"^MemTotal:\s+(\d+)")
    os_release = read_first("/etc/os-release", r'^PRETTY_NAME="?([^"\n]*)')
    try:
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (AttributeError, OSError):
        nofile = (None, None)
    git = {}
    if (ROOT / ".git").exists() and shutil.which("git"):
        git["commit"] = run_text(["git", "-C", str(ROOT), "rev-parse", "HEAD"])
        status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                 "--untracked-files=no"], capture_output=True, text=True)
        git["dirty"] = bool(status.stdout.strip())
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hostname": platform.node(),
        "cpu_model": (read_first("/proc/cpuinfo", r"^model name\s*:\s*(.*)$")
                      or platform.processor()),
        "cores_online": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_bytes": int(meminfo_kb) * 1024 if meminfo_kb else None,
        "os": os_release or f"{platform.system()} {platform.release()}",
        "kernel": platform.release(),
        "kernel_version": platform.version(),
        "machine": platform.machine(),
        "load_average_start": load_average(),
        "nofile_limit": {"soft": nofile[0], "hard": nofile[1]},
        "somaxconn": read_first("/proc/sys/net/core/somaxconn"),
        "ephemeral_ports": read_first("/proc/sys/net/ipv4/ip_local_port_range").replace("\t", "-"),
        "wine_version": run_text(["wine", "--version"]) if wine_ok else "",
        # Twice if need be: loadgen.exe under Wine once printed nothing at all
        # while other Wine programs started beside it (tools.matrix_windows).
        "loadgen_version": run_text(launch(settings, [str(loadgen), "--version"]), timeout=90,
                                    attempts=2),
        "loadgen": str(loadgen),
        "platform": args.platform,
        "launcher": args.launcher or "",
        # Windows: the noise columns are empty, and this says why.
        "noise_meter": NOISE_UNAVAILABLE_WINDOWS if ON_WINDOWS else "/proc/stat",
        "win_bin_dir": str(win_dir) if wine_ok else "",
        "wine_prefix": (str(wine_prefix(prefix_tree(cells_platform(args), bin_dir)))
                        if wine_ok else ""),
        "source": git,
        "python": platform.python_version(),
        "preset": preset_name or "custom",
        "warmup_s": settings.warmup,
        "duration_s": settings.duration,
        "open_rate_per_s": settings.rate,
        "churn_requests": settings.churn,
        "hold_s": settings.hold,
        "capacity": settings.capacity,
        # The CPU sets of pinned cells (--pinning); "none" when nothing is pinned.
        "pinning": args.pinning_mode,
        "server_cpus": settings.server_cpus,
        "loadgen_cpus": settings.loadgen_cpus,
        "command": [sys.argv[0]] + sys.argv[1:],
        "note": args.note,
    }


# ---- Running -------------------------------------------------------------------


# Opening thousands of connections takes seconds here (the server accepts
# them while the load runs). The warmup, and a hold's duration, grow by this
# many seconds per connection, so that the measured time starts with the
# connections open (10,000 connections: 2 s more).
SECONDS_PER_CONNECTION = 1.0 / 5000


def cell_times(cell, settings):
    """(warmup, duration) of a cell in seconds."""
    extra = cell.connections * SECONDS_PER_CONNECTION
    if cell.workload == "hold":
        return 0.0, settings.hold + extra
    kind = family(cell.platform)
    return settings.warmup[kind] + extra, settings.duration[kind]


def wine_path(path):
    """A Linux path as a program under Wine names it: Wine's prefix maps the
    root folder to drive Z:."""
    return "Z:" + str(path).replace("/", "\\")


def launch(settings, argv):
    """argv as run on this machine: under --launcher wine, through
    cmake/wine-emulator.sh."""
    return [str(WINE_EMULATOR)] + argv if settings.launcher == "wine" else argv


def loadgen_program(plat, bin_dir, win_dir):
    return win_dir / "loadgen.exe" if plat in WINDOWS_PLATFORMS else bin_dir / "loadgen"


def server_program(plat, model, bin_dir, win_dir):
    return (bin_dir / f"server-{model}" if plat == "native" else
            win_dir / f"server-{model}.exe")


def cell_command(cell, label, settings, bin_dir, win_dir, out):
    plat = cell.platform
    # loadgen.exe under Wine is a Windows program: it reads and writes Wine's
    # names of the files.
    name = wine_path if plat == "windows-wine" else str
    warmup, duration = cell_times(cell, settings)
    if cell.workload == "capacity":
        # One row per step, into a file of its own (summary.csv has one row
        # per repetition); each step is warmup + duration.
        outputs = ["--csv", name(out / "capacity.csv")]
    else:
        outputs = ["--csv", name(out / "summary.csv"),
                   "--intervals", name(out / "intervals" / f"{label}.csv"),
                   "--hlog", name(out / "hlog" / f"{label}.hlog")]
    argv = launch(settings, [
        str(loadgen_program(plat, bin_dir, win_dir)),
        "--spawn", name(server_program(plat, cell.model, bin_dir, win_dir)), "--quiet",
        "--protocol", cell.protocol, "--connections", str(cell.connections),
        "--warmup", f"{round(warmup * 1000)}ms", "--duration", f"{round(duration * 1000)}ms",
        "--label", label] + outputs)
    if cell.size is not None:
        argv += ["--size", str(cell.size)]
    if cell.pinned:
        argv += ["--server-cpus", settings.server_cpus, "--loadgen-cpus", settings.loadgen_cpus]
    if cell.workload == "open":
        argv += ["--rate", f"{settings.rate[family(plat)]:g}"]
    elif cell.workload == "churn":
        argv += ["--churn", str(settings.churn)]
    elif cell.workload == "hold":
        argv += ["--hold"]
    elif cell.workload == "chat":
        argv += ["--group-size", str(cell.group),
                 "--private-share", f"{settings.private_share:g}"]
    elif cell.workload == "capacity":
        c = settings.capacity[family(plat)]
        argv += ["--find-capacity", "--slo", c["slo"], "--rate-start", f"{c['rate_start']:g}",
                 "--rate-max", f"{c['rate_max']:g}"]
    server_args = []
    default_cap = THREAD_CAP_DEFAULTS.get((family(plat), cell.model))
    if default_cap is not None and cell.connections > default_cap:
        # Reconnects (churn) may briefly overlap the old connection's close.
        server_args += ["--max-connections", str(cell.connections + 64)]
    if server_args:
        argv += ["--"] + server_args
    steps = CAPACITY_STEPS_MAX if cell.workload == "capacity" else 1
    return argv, (warmup + duration) * steps


class SamplingThread:
    """The lifecycle of a meter that watches the cell from a background
    thread: entering starts _loop on a daemon thread, leaving sets stop and
    waits for _loop to return, so the meter's figures are final once the
    with block ends. _loop must return soon after stop is set (it waits on
    stop between samples)."""

    def __init__(self):
        self.stop = threading.Event()
        self.thread = None

    def _loop(self):
        raise NotImplementedError

    def __enter__(self):
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


class WineserverMeter(SamplingThread):
    """CPU time of the prefix's wineserver during a cell.

    Under Wine, every socket call of a Winsock server is partly served by
    wineserver, a process of its own that loadgen's --spawn statistics do not
    include. It serves one prefix; it is found through its working folder,
    /tmp/.wine-UID/server-DEV-INODE (device and inode of the prefix, in hex),
    and sampled from /proc while the cell runs, because it may start with the
    cell's first Wine process and exit a few seconds after the last.
    """

    def __init__(self, prefix):
        super().__init__()
        self.suffix = None
        try:
            st = os.stat(prefix)
            self.suffix = f"/server-{st.st_dev:x}-{st.st_ino:x}"
        except (OSError, TypeError):
            pass
        self.first = {}   # pid -> CPU seconds when first seen
        self.last = {}    # pid -> CPU seconds when last seen
        # pid -> context switches (voluntary + involuntary, all threads)
        # when first and last seen, counted like the CPU time.
        self.switches_first = {}
        self.switches_last = {}

    def _matches(self, pid):
        return (Path(f"/proc/{pid}/comm").read_text().startswith("wineserver")
                and os.readlink(f"/proc/{pid}/cwd").endswith(self.suffix))

    def _pids(self):
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if self._matches(entry):
                    found.append(int(entry))
            except OSError:
                continue
        return found

    def sample(self, initial=False):
        if self.suffix is None:
            return
        tick = os.sysconf("SC_CLK_TCK")
        for pid in self._pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            # Fields after the parenthesised name: utime and stime are the
            # 12th and 13th (fields 14 and 15 of proc(5)).
            fields = stat[stat.rindex(")") + 2:].split()
            cpu = (int(fields[11]) + int(fields[12])) / tick
            # A wineserver already running when the cell starts counts from
            # then; one that starts during the cell counts from zero.
            self.first.setdefault(pid, cpu if initial else 0.0)
            self.last[pid] = cpu
            switches = context_switches(pid)
            if switches is not None:
                self.switches_first.setdefault(pid, switches if initial else 0)
                self.switches_last[pid] = switches

    def _loop(self):
        while not self.stop.wait(0.2):
            self.sample()

    def __enter__(self):
        self.sample(initial=True)
        return super().__enter__()

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self.sample()

    def seconds(self):
        if self.suffix is None:
            return None
        return sum(self.last[p] - self.first[p] for p in self.last)

    def context_switches(self):
        if self.suffix is None or not self.switches_last:
            return None
        return sum(self.switches_last[p] - self.switches_first[p] for p in self.switches_last)


def context_switches(pid):
    """Voluntary plus involuntary context switches of every thread of a
    process (/proc/PID/task/*/status), or None when it cannot be read."""
    total, seen = 0, False
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        except OSError:
            continue
        for m in re.finditer(r"^(?:non)?voluntary_ctxt_switches:\s+(\d+)", text, re.MULTILINE):
            total += int(m.group(1))
            seen = True
    return total if seen else None


class WineProgramMeter(WineserverMeter):
    """CPU time of a Windows program that loadgen.exe started under Wine.

    Wine starts a new process with a double fork, so the server of a
    windows-wine cell is not a descendant of this script (getrusage of our
    children does not count it), and Wine's GetProcessTimes of another
    process returns the caller's own times (a FIXME in Wine's ntdll), so
    loadgen.exe's server_cpu_* columns repeat its own figures there. The
    server is found instead by its command line, which under Wine begins
    with its Windows path, and which started after the meter did (a copy of
    the same program that something else starts during the cell would be
    counted too), and sampled from /proc like wineserver (every 0.2 s: the
    work of its last moments may be missed).
    """

    def __init__(self, windows_path):
        super().__init__(None)
        self.suffix = windows_path  # _matches compares the command line with it
        tick = os.sysconf("SC_CLK_TCK")
        try:
            # Clock ticks since boot, the unit of a process's start time.
            self.since = float(Path("/proc/uptime").read_text().split()[0]) * tick - 1
        except (OSError, ValueError, IndexError):
            self.since = 0.0

    def _matches(self, pid):
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        if argv0.decode(errors="replace") != self.suffix:
            return False
        stat = Path(f"/proc/{pid}/stat").read_text()
        # starttime: field 22 of proc(5), the 20th after the parenthesised name.
        return int(stat[stat.rindex(")") + 2:].split()[19]) >= self.since


def syscall_meter_problem():
    """"" when perf can count system calls here (the raw_syscalls:sys_enter
    tracepoint: root, or a lowered perf_event_paranoid, and tracefs), else
    why not, for machine.json and the run's first lines."""
    if ON_WINDOWS:
        return "not on Windows (perf is a Linux tool)"
    if shutil.which("perf") is None:
        return "perf is not installed (Debian: linux-perf)"
    try:
        proc = subprocess.run(["perf", "stat", "-x,", "-e", SYSCALL_EVENT, "--", "true"],
                              capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"perf stat failed: {e}"
    if proc.returncode != 0 or not re.search(r"^\d+,", proc.stderr, re.MULTILINE):
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return f"perf cannot count {SYSCALL_EVENT} here (needs root or perf_event_paranoid <= -1): {last}"
    return ""


SYSCALL_EVENT = "raw_syscalls:sys_enter"


class SyscallMeter(SamplingThread):
    """System calls of the cell's server (and under Wine of its prefix's
    wineserver), counted by `perf stat -e raw_syscalls:sys_enter -p PID` from
    the moment loadgen names the server's pid in its log ("spawned ... pid N")
    to the end of the cell: the warmup and the stop are included, as in
    loadgen's CPU and context switch columns. Threads the server starts later
    are counted too (perf stat inherits). Under Wine the pid is the Wine
    process that runs the server."""

    def __init__(self, log_path, wineserver_meter=None):
        super().__init__()
        self.log_path = log_path
        self.wineserver_meter = wineserver_meter
        self.procs = {}   # "server"/"wineserver" -> perf process
        self.counts = {}

    def _attach(self, what, pids):
        self.procs[what] = subprocess.Popen(
            ["perf", "stat", "-x,", "-e", SYSCALL_EVENT, "-p", ",".join(map(str, pids))],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)

    def _loop(self):
        while not self.stop.wait(0.05):
            try:
                m = re.search(r"\(model [^,]+(?:, under Wine)?, pid (\d+)\)",
                              self.log_path.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                m = None
            if m:
                self._attach("server", [int(m.group(1))])
                pids = self.wineserver_meter._pids() if self.wineserver_meter else []
                if pids:
                    self._attach("wineserver", pids)
                return

    def __exit__(self, *exc):
        super().__exit__(*exc)
        for what, proc in self.procs.items():
            # perf prints its counts when interrupted; a process it watched
            # that already exited ends it on its own.
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            m = re.search(r"^(\d+),", err or "", re.MULTILINE)
            if m:
                self.counts[what] = int(m.group(1))


class NoiseMeter:
    """What else the machine did while a repetition ran.

    The CPU time every process used (/proc/stat: user, nice and system; idle,
    iowait, steal, irq and softirq excluded) minus what this run's own
    processes used: loadgen and everything it started and reaped (the server:
    getrusage of our children counts reaped descendants), this script itself,
    and wineserver (measured apart, passed to result). The rest is other
    processes' work, as a share of one core over the wall time. Steal time (a
    hypervisor running another guest) is reported apart, and the load average
    at both ends. A share above the threshold marks the repetition disturbed.

    Interrupt and softirq time is left out because on loopback it is the
    cell's own: the kernel moves every byte between loadgen and the server
    in softirq context (ksoftirqd took 19 % of a core at 5,000 connections
    on an otherwise idle machine), and it is charged to no process, so it
    would mark the busiest cells disturbed whatever else ran.

    On Windows there is neither /proc/stat nor a load average: the result is
    empty (no noise columns, never disturbed; machine.json's noise_meter says
    why).
    """

    def __enter__(self):
        self.start = (self._stat(), self._own(), time.monotonic(), load1())
        return self

    def __exit__(self, *exc):
        self.end = (self._stat(), self._own(), time.monotonic(), load1())

    @staticmethod
    def _stat():
        """(busy seconds, steal seconds) of all CPUs from /proc/stat."""
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        except (OSError, IndexError):
            return None
        tick = os.sysconf("SC_CLK_TCK")
        v = [int(x) for x in fields] + [0] * 8
        # user nice system idle iowait irq softirq steal
        return (v[0] + v[1] + v[2]) / tick, v[7] / tick

    @staticmethod
    def _own():
        if resource is None:
            return None
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        me = resource.getrusage(resource.RUSAGE_SELF)
        return kids.ru_utime + kids.ru_stime + me.ru_utime + me.ru_stime

    def result(self, wineserver_s, threshold, server_s=0.0):
        (s0, own0, t0, l0), (s1, own1, t1, l1) = self.start, self.end
        wall = max(t1 - t0, 1e-3)
        out = {"load1_start": l0, "load1_end": l1} if l0 is not None and l1 is not None else {}
        if s0 is None or s1 is None or own0 is None or own1 is None:
            return out
        # server_s: a server that is not our descendant (windows-wine cells).
        others = (s1[0] - s0[0]) - (own1 - own0) - wineserver_s - server_s
        # Clock-tick rounding of /proc/stat and rusage can make it slightly
        # negative on a quiet machine.
        out["others_cpu_share"] = max(0.0, others / wall)
        out["steal_share"] = max(0.0, (s1[1] - s0[1]) / wall)
        out["disturbed"] = out["others_cpu_share"] > threshold
        return out


def wine_prefix(tree):
    """The prefix the Windows programs use: cmake/wine-emulator.sh takes
    WINEPREFIX, else WSB_WINEPREFIX, else build/windows-cross/wineprefix of the
    source tree it belongs to: for "wine" cells the Linux loadgen's (bin_dir is
    <tree>/build/<preset>/bin), for "windows-wine" cells this script's."""
    for name in ("WINEPREFIX", "WSB_WINEPREFIX"):
        if os.environ.get(name):
            return Path(os.environ[name])
    return tree / "build" / "windows-cross" / "wineprefix"


def prefix_tree(plat, bin_dir):
    return ROOT if plat == "windows-wine" else bin_dir.parents[2]


def kill_group(proc):
    """Ends loadgen and whatever it started (its server, Wine's helpers)."""
    if ON_WINDOWS:
        # The whole tree: loadgen.exe's kill-on-close job object ends its
        # server too, but only where the job could be set up (best effort).
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["taskkill", "/T", "/F", "/PID", str(proc.pid)],
                           capture_output=True, timeout=10)
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def last_lines(text, n=3):
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def run_cell(cell, repetition, settings, bin_dir, win_dir, out, attempt=1):
    label = repetition_label(cell, repetition, attempt)
    argv, busy = cell_command(cell, label, settings, bin_dir, win_dir, out)
    limit = settings.cell_timeout or busy + CELL_OVERHEAD_LIMIT[family(cell.platform)]
    outcome = Outcome(cell, repetition=repetition, attempt=attempt, command=argv, load1=load1())
    log_path = out / "logs" / f"{label}.log"
    started = time.monotonic()
    meter = (WineserverMeter(wine_prefix(prefix_tree(cell.platform, bin_dir)))
             if under_wine(cell.platform) else None)
    server_meter = (WineProgramMeter(wine_path(server_program(cell.platform, cell.model,
                                                              bin_dir, win_dir)))
                    if cell.platform == "windows-wine" else None)
    noise = NoiseMeter()
    # loadgen.exe names a Windows process id, which perf cannot attach to.
    syscalls = (SyscallMeter(log_path, meter)
                if settings.syscalls and cell.platform in ("native", "wine") else None)
    # A session of its own (POSIX), so that a timeout can end loadgen, its
    # server and Wine's helper processes together; on Windows a process
    # group of its own, so that a Ctrl-C at the console reaches this script
    # only, which then ends the cell.
    detach = ({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if ON_WINDOWS
              else {"start_new_session": True})
    with open(log_path, "w", encoding="utf-8") as log, meter or contextlib.nullcontext(), \
            server_meter or contextlib.nullcontext(), noise, \
            syscalls or contextlib.nullcontext():
        log.write("$ " + " ".join(argv) + "\n")
        log.flush()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, **detach)
        try:
            code = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            code = None
        except KeyboardInterrupt:
            kill_group(proc)
            raise
    if meter is not None:
        outcome.wineserver_cpu_s = meter.seconds()
        outcome.wineserver_context_switches = meter.context_switches()
    if syscalls is not None:
        outcome.syscalls = syscalls.counts
    if server_meter is not None:
        outcome.server_cpu_proc_s = server_meter.seconds()
    outcome.noise = noise.result(outcome.wineserver_cpu_s or 0.0, settings.disturbed_share,
                                 outcome.server_cpu_proc_s or 0.0)
    outcome.seconds = time.monotonic() - started
    text = log_path.read_text(encoding="utf-8", errors="replace")
    if code is None:
        outcome.status, outcome.exit_code = "timeout", ""
        outcome.reason = f"killed after {limit:.0f} s"
    else:
        outcome.exit_code = str(code)
        meaning = {1: "errors", 2: "usage", 3: "SLO missed", 4: "server failed"}
        if code == 0:
            outcome.status = "ok"
        elif (code == 3 and cell.workload == "capacity"
              and label_in_csv(out / "capacity.csv", label)):
            # An answer, not a failure: no rate kept the SLO.
            outcome.status = "ok"
            outcome.reason = "no capacity: the SLO failed at the start rate"
        else:
            # Exit 1 after a complete run means the load met errors (timeouts,
            # resets, refusals): a measurement of the model, kept apart from
            # cells that measured nothing.
            measured = code == 1 and label_in_csv(out / "summary.csv", label)
            outcome.status = "errors" if measured else "failed"
            tail = [ln for ln in text.splitlines()
                    if ln.startswith("loadgen:") and not ln.startswith("loadgen: spawned")]
            why = meaning.get(code, "signal" if code < 0 else "?")
            outcome.reason = (f"loadgen exit {code} ({why})"
                              + (": " + " | ".join(t.strip() for t in tail[-2:]) if tail else ""))
            if code == 1:
                errors = re.search(r"^\s*[Ee]rrors?:?\s*(.*)$", text, re.MULTILINE)
                if errors:
                    outcome.reason += f" [{errors.group(1).strip()[:160]}]"
    return outcome


def label_in_csv(path, label):
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            return any(r.get("label") == label for r in csv.DictReader(f))
    except OSError:
        return False


CELLS_HEADER = ["cell", "repetition", "label", "platform", "model", "workload", "protocol",
                "connections", "size_bytes", "status", "exit_code", "seconds", "load1",
                "load1_end", "others_cpu_share", "steal_share", "disturbed", "replaced",
                "wineserver_cpu_s", "server_cpu_proc_s", "reason", "command",
                "wineserver_context_switches"]


def write_cells(path, outcomes):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(CELLS_HEADER)
        for o in outcomes:
            c = o.cell
            n = o.noise
            share = n.get("others_cpu_share")
            w.writerow([c.name, o.repetition or "", o.label, c.platform, c.model, c.workload,
                        c.protocol, c.connections, "" if c.size is None else c.size, o.status,
                        o.exit_code, f"{o.seconds:.1f}",
                        "" if o.load1 is None else f"{o.load1:.2f}",
                        f"{n['load1_end']:.2f}" if "load1_end" in n else "",
                        "" if share is None else f"{share:.3f}",
                        f"{n['steal_share']:.3f}" if "steal_share" in n else "",
                        int(o.disturbed) if "disturbed" in n else "", int(o.replaced),
                        "" if o.wineserver_cpu_s is None else f"{o.wineserver_cpu_s:.2f}",
                        "" if o.server_cpu_proc_s is None else f"{o.server_cpu_proc_s:.2f}",
                        o.reason, " ".join(o.command),
                        "" if o.wineserver_context_switches is None
                        else o.wineserver_context_switches])


def fmt_time(seconds):
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def run_rounds(order, estimate, total_estimate, settings, bins, out, skipped):
    """Runs every (cell, repetition) of `order`; returns the outcomes and
    whether the run was interrupted (Ctrl-C or SIGTERM)."""
    outcomes = []
    started = time.monotonic()
    spent_estimate = 0.0
    try:
        for i, (cell, rep) in enumerate(order, 1):
            elapsed = time.monotonic() - started
            remaining = total_estimate - spent_estimate
            # Scale the remaining estimate by how the run has gone so far.
            ratio = elapsed / spent_estimate if spent_estimate > 0 else 1.0
            print(f"[{i}/{len(order)}] {repetition_label(cell, rep)}  (elapsed "
                  f"{fmt_time(elapsed)}, ETA {fmt_time(remaining * ratio)})", flush=True)
            outcome = run_cell(cell, rep, settings, *bins, out)
            outcomes.append(outcome)
            if outcome.disturbed and outcome.status in ("ok", "errors"):
                # Once only: a machine that stays busy would never finish.
                print(f"    DISTURBED: other processes used "
                      f"{outcome.noise['others_cpu_share'] * 100:.0f} % of a core; running "
                      "this repetition once more (the first stays in summary.csv, marked)",
                      flush=True)
                outcome.replaced = True
                outcomes.append(run_cell(cell, rep, settings, *bins, out, attempt=2))
            spent_estimate += estimate[cell]
            if outcome.status != "ok":
                print(f"    {outcome.status.upper()}: {outcome.reason} "
                      f"(log: {out / 'logs' / (outcome.label + '.log')})", flush=True)
            write_cells(out / "cells.csv", outcomes + skipped)
    except KeyboardInterrupt:
        print("\nmatrix: interrupted", file=sys.stderr)
        return outcomes, True
    return outcomes, False


def run_rows(path):
    """The rows of one of a run's CSV files, or [] when it does not exist."""
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        return list(csv.DictReader(f))


def outcomes_by_label(outcomes):
    """A function from a loadgen row to the outcome of the cell repetition
    that wrote it (by its label), or None."""
    by_label = {o.label: o for o in outcomes}
    return lambda row: by_label.get(row.get("label", ""))


def annotated_run_rows(path, outcomes, annotate):
    """The rows of one of a run's CSV files ([] when it does not exist), each
    given to annotate(row, outcome) with the outcome of the cell repetition
    that wrote it (or None) to gain that repetition's columns."""
    rows = run_rows(path)
    outcome_of = outcomes_by_label(outcomes)
    for r in rows:
        annotate(r, outcome_of(r))
    return rows


def rewrite_run_rows(path, rows):
    """Writes `rows` (not empty) over one of a run's CSV files, with the
    columns of the first row."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def annotate_summary_row(r, o):
    """A summary.csv row gains its cell, repetition, noise, CPU time and the
    per-response counts of context switches and system calls."""
    n = o.noise if o else {}
    r["cell"] = o.cell.name if o else r.get("label", "")
    r["repetition"] = o.repetition if o else 1
    r["others_cpu_share"] = f"{n['others_cpu_share']:.3f}" if "others_cpu_share" in n else ""
    r["steal_share"] = f"{n['steal_share']:.3f}" if "steal_share" in n else ""
    r["load1_start"] = f"{n['load1_start']:.2f}" if "load1_start" in n else ""
    r["load1_end"] = f"{n['load1_end']:.2f}" if "load1_end" in n else ""
    r["disturbed"] = int(o.disturbed) if o else ""
    # A disturbed repetition that was run again keeps its row, but the
    # statistics and verdicts use the re-run instead.
    r["replaced"] = int(o.replaced) if o else 0
    r["server_cpu_proc_s"] = ("" if not o or o.server_cpu_proc_s is None
                              else f"{o.server_cpu_proc_s:.2f}")
    # Under Wine the server's work is partly wineserver's: its context
    # switches per response stand beside the server's own (loadgen's
    # server_context_switches_per_response).
    responses = int(r.get("responses") or 0)
    switches = o.wineserver_context_switches if o else None
    r["wineserver_context_switches_per_response"] = (
        f"{switches / responses:.3f}" if switches is not None and responses else "")
    # perf's counts (--syscalls): empty when not counted (machine.json's
    # syscall_meter says why).
    for what in ("server", "wineserver"):
        count = o.syscalls.get(what) if o else None
        r[f"{what}_syscalls_per_response"] = (f"{count / responses:.3f}"
                                              if count is not None and responses else "")


def finish_summary(out, outcomes):
    """summary.csv gains, on every repetition's row, the cell it belongs to and
    the cell's median and confidence interval; summary.json holds the same rows
    as one JSON array; verdicts.csv compares the models of every group."""
    path = out / "summary.csv"
    rows = annotated_run_rows(path, outcomes, annotate_summary_row)
    if not rows:
        return
    rows = add_cell_statistics(rows)
    rewrite_run_rows(path, rows)
    (out / "summary.json").write_text(json.dumps(summary_json(rows), indent=1) + "\n")
    write_verdicts(out / "verdicts.csv", compute_verdicts(rows))


def annotate_capacity_row(r, o):
    """A capacity.csv row gains its cell, model, platform and repetition."""
    r["cell"] = o.cell.name if o else r.get("label", "")
    r["model"] = o.cell.model if o else ""
    r["cell_platform"] = o.cell.platform if o else ""
    r["repetition"] = o.repetition if o else 1
    r["replaced"] = int(o.replaced) if o else 0


def finish_capacity(out, outcomes):
    """capacity.csv (one loadgen row per step of every capacity repetition)
    gains the cell, the model, the platform and the repetition on each row:
    loadgen leaves the server's columns empty in step rows."""
    path = out / "capacity.csv"
    rows = annotated_run_rows(path, outcomes, annotate_capacity_row)
    if rows:
        rewrite_run_rows(path, rows)


def missing_programs(args, cells, loadgen, bin_dir, win_dir):
    """What the cells need and is not built, as a message; "" when nothing."""
    if args.platform == "windows":
        # Under Wine the .exe need not be executable for Linux: is_file.
        if not loadgen.is_file():
            return (f"no loadgen.exe in {win_dir} (build the loadgen target of a Windows "
                    "build, or pass --win-bin-dir)")
    elif not os.access(loadgen, os.X_OK):
        return f"no loadgen in {bin_dir} (build the linux preset, or pass --bin-dir)"
    missing = []
    for c in cells:
        exe = server_program(c.platform, c.model, bin_dir, win_dir)
        if not exe.is_file() and str(exe) not in missing:
            missing.append(str(exe))
    if missing:
        return "missing server programs (build them first):\n  " + "\n  ".join(missing)
    return ""


def make_settings(args, preset_name):
    """The cells' settings: the preset's (or the defaults') times and rates,
    what the command line overrides, the CPU sets and the capacity search."""
    preset = PRESETS.get(preset_name, {})
    warmup = dict(preset.get("warmup", {"native": 0.5, "wine": 0.5}))
    duration = dict(preset.get("duration", {"native": 3.0, "wine": 3.0}))
    if args.warmup is not None:
        warmup = {"native": args.warmup, "wine": args.warmup}
    if args.duration is not None:
        duration = {"native": args.duration, "wine": args.duration}
    rate = dict(DEFAULT_RATE) if args.rate is None else {"native": args.rate, "wine": args.rate}
    hold = min(duration["wine" if args.platform == "windows" else "native"], 3.0)
    args.pinning_mode, server_cpus, loadgen_cpus = pinning_sets(args)
    settings = Settings(warmup, duration, rate, args.churn, hold=hold,
                        cell_timeout=args.cell_timeout, disturbed_share=args.disturbed_share,
                        launcher=args.launcher, server_cpus=server_cpus,
                        syscalls=not args.no_syscalls, loadgen_cpus=loadgen_cpus,
                        private_share=args.private_share)
    for key, column in (("slo", "capacity_slo"), ("rate_start", "capacity_rate_start"),
                        ("rate_max", "capacity_rate_max")):
        if getattr(args, column) is not None:
            for kind in settings.capacity:
                settings.capacity[kind][key] = getattr(args, column)
    return settings


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        preset_name, cells, skipped = plan(args)
    except UsageError as e:
        print(f"matrix.py: {e}", file=sys.stderr)
        return 2
    if args.churn < 1:
        print("matrix.py: --churn must be at least 1", file=sys.stderr)
        return 2
    if args.private_share > 1 or any(g < 1 for g in args.group_sizes or []):
        print("matrix.py: --private-share lies in 0..1 and a group size is at least 1",
              file=sys.stderr)
        return 2

    if args.targets:
        # Answered before anything is checked: it says what to build.
        sides = WINDOWS_PLATFORMS if args.targets == "windows" else (args.targets,)
        names = dict.fromkeys(f"server-{c.model}" for c in cells if c.platform in sides)
        base = {"native": ["loadgen", "hdrtool"],
                "windows": ["loadgen", "hdrtool"]}.get(args.targets, [])
        print(" ".join(base + list(names)))
        return 0

    bin_dir, win_dir = args.bin_dir.resolve(), args.win_bin_dir.resolve()
    if args.launcher == "wine":
        # Every cell needs Wine: without it nothing can run.
        if shutil.which("wine") is None or shutil.which("wineserver") is None:
            print("matrix.py: --launcher wine: wine is not installed", file=sys.stderr)
            return 2
        if not WINE_EMULATOR.is_file():
            print(f"matrix.py: --launcher wine: {WINE_EMULATOR} is missing", file=sys.stderr)
            return 2
    wine_cells = [c for c in cells if c.platform == "wine"]
    wine_ok = (bool(wine_cells) and not args.no_wine) or args.launcher == "wine"
    wine_missing = ""
    if wine_cells and not args.no_wine:
        if shutil.which("wine") is None:
            wine_missing = "wine is not installed"
        elif not win_dir.is_dir():
            wine_missing = f"no Winsock build in {win_dir} (cmake --preset windows-cross)"
        wine_ok = not wine_missing
    if wine_cells and not wine_ok:
        why = "--no-wine" if args.no_wine else wine_missing
        print(f"matrix.py: leaving out {len(wine_cells)} Winsock cell(s): {why}", file=sys.stderr)
        skipped += [Outcome(c, "skipped", reason=why) for c in wine_cells]
        cells = [c for c in cells if c.platform != "wine"]

    settings = make_settings(args, preset_name)
    estimate = {c: sum(cell_times(c, settings)) * (CAPACITY_STEPS_GUESS if c.workload == "capacity"
                                                   else 1)
                + CELL_OVERHEAD_GUESS[family(c.platform)] for c in cells}
    repeat = args.repeat or DEFAULT_REPEAT.get(preset_name, 3)
    total_estimate = sum(estimate.values()) * repeat

    if args.dry_run:
        for i, c in enumerate(cells, 1):
            print(f"{i:4d}  {c.name}")
        for o in skipped:
            print(f"skip  {o.cell.name}: {o.reason}")
        print(f"{len(cells)} cells x {repeat} repetitions, about {fmt_time(total_estimate)}; "
              f"{len(skipped)} skipped")
        return 0
    if not cells:
        print("matrix.py: no cell to run (check --models, --connections, --no-wine)",
              file=sys.stderr)
        return 2

    loadgen = loadgen_program(cells[0].platform, bin_dir, win_dir)
    problem = missing_programs(args, cells, loadgen, bin_dir, win_dir)
    if problem:
        print(f"matrix.py: {problem}", file=sys.stderr)
        return 2

    out = (args.out or ROOT / "results" /
           datetime.datetime.now(datetime.timezone.utc).strftime("run-%Y%m%dT%H%M%SZ")).resolve()
    if (out / "cells.csv").exists() or (out / "summary.csv").exists():
        print(f"matrix.py: {out} already holds a run; choose another --out or remove it",
              file=sys.stderr)
        return 2
    for sub in ("intervals", "hlog", "logs"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    syscall_problem = "off (--no-syscalls)" if args.no_syscalls else syscall_meter_problem()
    settings.syscalls = not syscall_problem
    info = machine_info(args, preset_name, settings, bin_dir, win_dir, wine_ok, loadgen)
    info["syscall_meter"] = (f"perf stat -e {SYSCALL_EVENT}" if not syscall_problem
                             else f"not counted: {syscall_problem}")
    info["cells_planned"] = len(cells)
    info["repetitions"] = repeat
    info["cells_skipped"] = len(skipped)
    (out / "machine.json").write_text(json.dumps(info, indent=2) + "\n")

    print(f"matrix: {len(cells)} cells x {repeat} repetitions into {out} (about "
          f"{fmt_time(total_estimate)}"
          f"{'; ' + str(len(skipped)) + ' skipped' if skipped else ''})", flush=True)
    averages = info["load_average_start"]
    print(f"matrix: machine: {info['cpu_model']}, {info['cores_online']} cores, "
          f"kernel {info['kernel']}"
          + (f", load average {averages[0]:.2f}" if averages else "")
          + (f", {info['wine_version']}" if wine_ok else ""), flush=True)
    if ON_WINDOWS:
        print(f"matrix: noise {NOISE_UNAVAILABLE_WINDOWS}; the noise columns stay empty",
              flush=True)
    if syscall_problem:
        print(f"matrix: system calls not counted: {syscall_problem}", flush=True)

    # A SIGTERM (e.g. from `timeout`) ends the run like Ctrl-C: the running
    # cell's loadgen lives in a session of its own and must be ended by us.
    def on_term(_sig, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    started = time.monotonic()
    order = schedule(cells, repeat)
    outcomes, interrupted = run_rounds(order, estimate, total_estimate, settings,
                                       (bin_dir, win_dir), out, skipped)
    not_run = [Outcome(c, "not run", repetition=k, reason="interrupted")
               for c, k in order[len(outcomes):]]
    write_cells(out / "cells.csv", outcomes + not_run + skipped)
    info["load_average_end"] = load_average()
    info["run_seconds"] = round(time.monotonic() - started, 1)
    (out / "machine.json").write_text(json.dumps(info, indent=2) + "\n")
    finish_summary(out, outcomes)
    finish_capacity(out, outcomes)

    failed = [o for o in outcomes if o.status in ("failed", "timeout")]
    with_errors = [o for o in outcomes if o.status == "errors"]
    ok = len(outcomes) - len(failed) - len(with_errors)
    print(f"matrix: {ok} ok, {len(with_errors)} with errors, {len(failed)} failed, "
          f"{len(skipped)} skipped"
          f"{', ' + str(len(not_run)) + ' not run' if not_run else ''}"
          f" in {fmt_time(info['run_seconds'])}; results in {out}", flush=True)
    for o in failed:
        print(f"  FAILED {o.label}: {o.reason}", flush=True)
    for o in with_errors:
        print(f"  errors {o.label}: {o.reason}", flush=True)
    for o in skipped:
        print(f"  skipped {o.cell.name}: {o.reason}", flush=True)
    if interrupted:
        return 130
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
