#!/usr/bin/env python3
"""loadgen --json against its documented schema.

Reads the key table of "loadgen run JSON" in results/README.md, runs the real
loadgen against a spawned server in each mode whose keys differ (closed loop
with an SLO, open loop, hold), and checks every run's output against the
table: every key present, every type right, no key the table leaves out.
Also checks that --json - writes the JSON alone to stdout, that --json
into a folder that does not exist is a one-line error with exit code 2, and
that a run ending before its report leaves no empty JSON file.

With HDRTOOL given, also checks `hdrtool report --json` on that run's .hlog
against its own table in the same file, and that its latency count is the
run's.

Usage: check_json.py LOADGEN SERVER README [HDRTOOL]
"""
import json
import os
import re
import subprocess
import sys
import tempfile

TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def read_schema(readme, section):
    """The (key, [types]) rows of the table under the heading `section`."""
    rows = []
    inside = False
    with open(readme, encoding="utf-8") as f:
        for line in f:
            if line.startswith("## "):
                inside = line.strip() == section
                continue
            m = re.match(r"^\| `([^`]+)` \| ([a-z\\|]+) \|", line)
            if inside and m:
                types = m.group(2).replace("\\|", "|").split("|")
                for t in types:
                    if t not in TYPES:
                        raise SystemExit(f"{readme}: unknown type {t!r} for {m.group(1)}")
                rows.append((m.group(1), types))
    if not rows:
        raise SystemExit(f"{readme}: no key table under {section!r}")
    return rows


def values_at(doc, path):
    """Every (concrete path, value) that `path` names in doc; '*' matches any
    key, 'a[]' every element. A missing key yields (path, KeyError)."""
    found = [("", doc)]
    for part in path.split("."):
        is_array = part.endswith("[]")
        name = part[:-2] if is_array else part
        nxt = []
        for where, value in found:
            if value is None or isinstance(value, KeyError):
                continue  # below a null object: nothing to check
            if not isinstance(value, dict):
                nxt.append((where + "." + name, KeyError("parent is not an object")))
                continue
            keys = list(value) if name == "*" else [name]
            for k in keys:
                here = (where + "." + k).lstrip(".")
                if k not in value:
                    nxt.append((here, KeyError("missing")))
                    continue
                v = value[k]
                if is_array:
                    if not isinstance(v, list):
                        nxt.append((here, KeyError("not an array")))
                        continue
                    nxt.extend((f"{here}[{i}]", e) for i, e in enumerate(v))
                else:
                    nxt.append((here, v))
        found = nxt
    return found


def check(doc, schema, what):
    problems = []
    for path, types in schema:
        for where, value in values_at(doc, path):
            if isinstance(value, KeyError):
                problems.append(f"{where}: {value.args[0]}")
            elif not any(TYPES[t](value) for t in types):
                problems.append(f"{where}: {type(value).__name__} {value!r}, want {'|'.join(types)}")
    # No key the table does not name (objects without rows of their own keys,
    # such as server.stats, are free-form).
    patterns = [re.compile("^" + re.escape(p).replace(r"\*", "[^.]+").replace(r"\[\]", r"\[\d+\]") + "$")
                for p, _ in schema]
    parents = {p.rsplit(".", 1)[0] for p, _ in schema if "." in p}

    def free_form(where):
        generic = re.sub(r"\[\d+\]", "[]", where)
        return not any(re.match("^" + re.escape(p).replace(r"\*", "[^.]+") + "$", generic)
                       for p in parents)

    def walk_top(value, where):
        if isinstance(value, dict):
            if where and free_form(where):
                return
            for k, v in value.items():
                here = f"{where}.{k}" if where else k
                if not any(pt.match(here) for pt in patterns):
                    problems.append(f"{here}: not in the schema table")
                    continue
                walk_top(v, here)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk_top(v, f"{where}[{i}]")

    walk_top(doc, "")
    if problems:
        print(f"FAIL {what}:")
        for p in problems:
            print("   ", p)
    return not problems


def check_hdrtool(hdrtool, readme, hlog, responses):
    schema = read_schema(readme, "## hdrtool report JSON (`hdrtool report FILE --json`)")
    r = run([hdrtool, "report", hlog, "--json"])
    try:
        doc = json.loads(r.stdout)
    except ValueError as e:
        print(f"FAIL hdrtool report --json: not JSON ({e}); exit {r.returncode}\n{r.stderr}")
        return False
    ok = check(doc, schema, "hdrtool report --json")
    counts = {d["tag"]: d["count"] for d in doc["distributions"]}
    if counts.get("latency") != responses or "connect" not in counts:
        print(f"FAIL hdrtool report --json: counts {counts}, the run had {responses} responses")
        ok = False
    return ok


def run(cmd, timeout=60):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)


def main():
    loadgen, server, readme = sys.argv[1:4]
    hdrtool = sys.argv[4] if len(sys.argv) > 4 else ""
    schema = read_schema(readme, "## loadgen run JSON (`--json`)")
    ok = True
    with tempfile.TemporaryDirectory(prefix="loadgen_json_") as tmp:
        runs = {
            # Closed loop with an SLO that cannot fail (an hour) and one that
            # cannot pass (1 ns): both verdicts, exit code 3.
            "closed": ["-c", "2", "--threads", "1", "-d", "1s", "--slo", "max=1h,p50=1ns"],
            "open": ["-c", "2", "--threads", "1", "--rate", "200", "-d", "1s"],
            "hold": ["-c", "20", "--threads", "1", "--hold", "-d", "1s"],
        }
        for name, args in runs.items():
            out = os.path.join(tmp, name + ".json")
            hlog = os.path.join(tmp, name + ".hlog")
            r = run([loadgen, "--spawn", server, "-q", "--json", out, "--hlog", hlog] + args)
            try:
                with open(out, encoding="utf-8") as f:
                    doc = json.load(f)
            except (OSError, ValueError) as e:
                print(f"FAIL {name}: no JSON ({e}); exit {r.returncode}\n{r.stderr}")
                ok = False
                continue
            ok &= check(doc, schema, name)
            # The figures are the run's: they agree with each other and the exit code.
            want = 3 if name == "closed" else 0
            if r.returncode != want or doc["exit_code"] != r.returncode:
                print(f"FAIL {name}: exit {r.returncode}, JSON exit_code {doc['exit_code']}, want {want}\n{r.stderr}")
                ok = False
            if doc["parameters"]["mode"] != name:
                print(f"FAIL {name}: mode {doc['parameters']['mode']}")
                ok = False
            if name == "closed":
                passed = [t["passed"] for t in doc["slo"]["terms"]]
                if passed != [True, False] or doc["slo"]["passed"] is not False:
                    print(f"FAIL closed: SLO verdicts {doc['slo']}")
                    ok = False
                if doc["results"]["responses"] <= 0 or doc["latency"]["latency"]["count"] <= 0:
                    print(f"FAIL closed: no responses recorded: {doc['results']}")
                    ok = False
                if doc["server"] is None or doc["server"]["model"] != "epoll":
                    print(f"FAIL closed: server {doc['server']}")
                    ok = False
            if hdrtool and name == "closed":
                ok &= check_hdrtool(hdrtool, readme, hlog, doc["results"]["responses"])
            if name == "hold" and doc["results"]["established"] != 20:
                print(f"FAIL hold: established {doc['results']['established']}")
                ok = False

        # --json -: stdout is the JSON alone (what json.tool reads).
        r = run([loadgen, "--spawn", server, "-q", "-c", "1", "-d", "300ms", "--json", "-"])
        try:
            ok &= check(json.loads(r.stdout), schema, "--json -")
        except ValueError as e:
            print(f"FAIL --json -: stdout is not JSON ({e}):\n{r.stdout[:400]}")
            ok = False

        # A folder that does not exist: one line, exit 2, before any run.
        r = run([loadgen, "--spawn", server, "-d", "1s", "--json", os.path.join(tmp, "no/such/dir/x.json")])
        lines = r.stderr.strip().splitlines()
        if r.returncode != 2 or len(lines) != 1 or "does not exist" not in lines[0]:
            print(f"FAIL --json into a missing folder: exit {r.returncode}, stderr:\n{r.stderr}")
            ok = False
        # A run that ends before its report (a server that cannot be spawned,
        # exit 4) leaves no empty JSON file behind.
        out = os.path.join(tmp, "never.json")
        r = run([loadgen, "--spawn", os.path.join(tmp, "no-such-server"), "-d", "1s", "--json", out])
        if r.returncode != 4 or os.path.exists(out):
            print(f"FAIL unspawnable server: exit {r.returncode}, {out} exists: {os.path.exists(out)}")
            ok = False
    print("PASS" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
