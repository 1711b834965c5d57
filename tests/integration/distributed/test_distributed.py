#!/usr/bin/env python3
"""Distributed runs end to end (issue 14; docs/distributed.md), on loopback.

  test_distributed.py pdsh   LOADGEN HDRTOOL SERVER   # tools/distributed.sh, 4 shards
  test_distributed.py source LOADGEN SERVER           # --source really binds

pdsh: four "hosts" 127.0.0.11-14 run through pdsh's exec module (--via
local), each shard connecting from its own host address (--source %h),
against one server-epoll, closed and open loop. Checks: every shard began
within 50 ms of the start time; the merged count is the sum of the shards'
responses with nothing outside the common window; the open-loop merged rate
is within 2 % of the requested total; the merged .hgrm is byte-identical to
a hand merge (plain `hdrtool merge` of the shard logs, then `hdrtool
report`); the server accepted every shard's connections from that shard's
address.

source: loadgen --source 127.0.0.5-127.0.0.6 against server-epoll
--log-connections: every accepted peer is one of the two addresses, and both
are used. With the binding removed every peer would be 127.0.0.1.

Every run is bounded (2 s loads, timeouts on every process).
"""
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile

from tally import Tally  # this folder (on the path of the script)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
DISTRIBUTED = os.path.join(REPO, "tools", "distributed.sh")

tally = Tally()
check = tally.check


class Server:
    """server-epoll on an ephemeral loopback port, logging its connections."""

    def __init__(self, path):
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([path, "--port", "0", "--log-connections"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"listening (\S+):(\d+) ", line)
        if not m:
            self.proc.kill()
            raise SystemExit("server did not start: " + line)
        self.target = "%s:%s" % (m.group(1), m.group(2))

    def stop(self):
        try:
            self.proc.communicate("//q\n", timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.seek(0)
        return self.log.read()


def accepted_peers(server_log):
    return re.findall(r"connection accepted (\d+\.\d+\.\d+\.\d+):\d+", server_log)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def run_distributed(loadgen, hdrtool, server, out, extra):
    cmd = [DISTRIBUTED, "--via", "local", "--start-in", "1.5", "--out", out,
           "--loadgen", loadgen, "--hdrtool", hdrtool, "127.0.0.[11-14]", "--",
           "--target", server.target, "--source", "%h", "-d", "2s", "--threads", "1"] + extra
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    print(r.stdout + r.stderr, flush=True)
    check(r.returncode == 0, "distributed.sh %s exit %d" % (extra, r.returncode))
    return r


def check_run(hdrtool, out, label, requested_rate=None):
    shards = [read_csv(os.path.join(out, "shard-%d.csv" % i))[0] for i in range(4)]
    merged = read_csv(os.path.join(out, "merged.csv"))[0]
    for i, s in enumerate(shards):
        check(s["shard"] == "%d/4" % i, "%s: shard %d's CSV says %s" % (label, i, s["shard"]))
        offset = float(s["start_offset_ms"])
        check(0.0 <= offset <= 50.0 and s["start_late"] == "0",
              "%s: shard %d began %.3f ms after --start-at (late=%s)" %
              (label, i, offset, s["start_late"]))
    responses = sum(int(s["responses"]) for s in shards)
    check(int(merged["count"]) == responses,
          "%s: merged count %s != sum of the shards' responses %d" %
          (label, merged["count"], responses))
    check(merged["outside_count"] == "0", "%s: %s values outside the common window" %
          (label, merged["outside_count"]))
    check(merged["shards"] == "4" and merged["missing_shards"] == "" and
          merged["late_shards"] == "", "%s: merged row %s" % (label, merged))
    if requested_rate is not None:
        rate = float(merged["per_s"])
        check(abs(rate - requested_rate) <= 0.02 * requested_rate,
              "%s: merged rate %.1f/s not within 2%% of %.1f" % (label, rate, requested_rate))
    # The hand merge: every interval of every shard, summed by `report`.
    logs = [os.path.join(out, "shard-%d.hlog" % i) for i in range(4)]
    cat = subprocess.run([hdrtool, "merge"] + logs, capture_output=True, text=True, timeout=30,
                         check=True)
    report = subprocess.run([hdrtool, "report", "-", "--tag", "latency"], input=cat.stdout,
                            capture_output=True, text=True, timeout=30, check=True)
    by_hand = report.stdout.split("\n", 1)[1]  # without its #[StartTime: ...] line
    with open(os.path.join(out, "merged.hgrm")) as f:
        check(f.read() == by_hand, "%s: merged.hgrm differs from the hand merge" % label)


def test_pdsh(loadgen, hdrtool, server_path):
    if shutil.which("pdsh") is None:
        raise SystemExit("pdsh is not installed (tools/setup.sh installs it)")
    work = tempfile.mkdtemp(prefix="wsb_distributed_")
    try:
        for label, extra, rate in (("closed", ["-c", "8"], None),
                                   ("open", ["-c", "8", "--rate", "2000"], 2000.0)):
            server = Server(server_path)
            out = os.path.join(work, label)
            try:
                run_distributed(loadgen, hdrtool, server, out, extra)
            finally:
                peers = accepted_peers(server.stop())
            check_run(hdrtool, out, label, rate)
            # Each shard's 2 connections came from its own address.
            for i in range(4):
                addr = "127.0.0.%d" % (11 + i)
                check(peers.count(addr) == 2,
                      "%s: server accepted %d connections from %s, not 2" %
                      (label, peers.count(addr), addr))
            check(len(peers) == 8, "%s: %d connections accepted" % (label, len(peers)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_source(loadgen, server_path):
    server = Server(server_path)
    try:
        r = subprocess.run([loadgen, "--target", server.target, "--source",
                            "127.0.0.5-127.0.0.6", "-c", "4", "-d", "0.5s", "--quiet"],
                           capture_output=True, text=True, timeout=30)
    finally:
        peers = accepted_peers(server.stop())
    check(r.returncode == 0, "loadgen exit %d: %s" % (r.returncode, r.stderr))
    check(len(peers) == 4, "accepted %d connections, not 4: %s" % (len(peers), peers))
    check(set(peers) == {"127.0.0.5", "127.0.0.6"},
          "peers %s are not exactly 127.0.0.5 and 127.0.0.6" % sorted(set(peers)))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "pdsh" and len(sys.argv) == 5:
        test_pdsh(*sys.argv[2:])
    elif len(sys.argv) >= 2 and sys.argv[1] == "source" and len(sys.argv) == 4:
        test_source(*sys.argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return tally.result()


if __name__ == "__main__":
    sys.exit(main())
