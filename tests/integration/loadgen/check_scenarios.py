#!/usr/bin/env python3
"""The shipped scenario files (scenarios/*.toml) load and run.

For each file: the options it yields (through `loadgen --config FILE
--print-config`) are the ones its comment promises, and the file runs for one
second (--duration 1s --warmup 0s) against a real server: server-epoll spawned
by loadgen, or for the nginx scenario nginx on a free loopback port when nginx
is installed, else server-epoll speaking http (said on the output). Each run's
--json output must show the scenario's parameters. Also checks the config
errors: an unknown key and a file that is not there are one-line errors
naming the file, exit code 2, and the command line overrides the file.

Usage: check_scenarios.py LOADGEN SERVER_EPOLL SCENARIOS_DIR [NGINX]
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib

# What each shipped file must yield: print-config values, and the JSON's
# parameters after a run.
EXPECTED = {
    "c10k-hold.toml": {
        "config": {"hold": True, "connections": 10000, "duration": "30s", "connect-timeout": "10s",
                   "label": "c10k-hold"},
        "json": {"mode": "hold", "connections": 10000, "label": "c10k-hold", "connect_timeout_s": 10.0},
    },
    "open-loop-slo.toml": {
        "config": {"rate": 2000, "connections": 20, "warmup": "2s", "duration": "20s",
                   "slo": "p99=5ms,p99.9=20ms,max=200ms", "label": "open-loop-slo"},
        "json": {"mode": "open", "connections": 20, "rate_per_s": 2000.0,
                 "slo": "p99=5ms,p99.9=20ms,max=200ms", "label": "open-loop-slo"},
    },
    "churn.toml": {
        "config": {"churn": 10, "connections": 50, "connect-rate": 5000, "duration": "10s",
                   "label": "churn"},
        "json": {"mode": "churn", "connections": 50, "churn_requests": 10,
                 "connect_rate_per_s": 5000.0, "label": "churn"},
    },
    "nginx-http.toml": {
        "config": {"target": "127.0.0.1:8080", "protocol": "http", "http-path": "/",
                   "any-body": True, "connections": 100, "duration": "10s", "label": "nginx-http"},
        "json": {"mode": "closed", "protocol": "http", "connections": 100, "any_body": True,
                 "label": "nginx-http"},
    },
}

failures = []


def fail(what):
    failures.append(what)
    print("FAIL", what)


def run(cmd, timeout=90):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def start_http_server(nginx, server, tmp):
    """An HTTP server on a loopback port: nginx when given, else server-epoll
    --protocol http. Returns (process, port, description)."""
    if nginx:
        port = free_port()
        conf = os.path.join(tmp, "nginx.conf")
        os.makedirs(os.path.join(tmp, "logs"), exist_ok=True)
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1; daemon off; error_log {tmp}/logs/error.log; pid {tmp}/nginx.pid;
events {{ worker_connections 1024; }}
http {{ access_log off; client_body_temp_path {tmp}/cb; proxy_temp_path {tmp}/px;
  fastcgi_temp_path {tmp}/fc; uwsgi_temp_path {tmp}/uw; scgi_temp_path {tmp}/sc;
  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "nginx says hello\\n"; }} }} }}
""")
        p = subprocess.Popen([nginx, "-p", tmp, "-c", conf], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        if not wait_listening(port):
            p.kill()
            raise SystemExit("nginx did not start")
        return p, port, "nginx"
    p = subprocess.Popen([server, "--port", "0", "--protocol", "http", "--quiet"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    ready = p.stdout.readline().split()  # "listening 127.0.0.1:PORT model=epoll ..."
    port = int(ready[1].rsplit(":", 1)[1])
    return p, port, "server-epoll --protocol http (no nginx installed)"


def check_config(loadgen, path, expected):
    r = run([loadgen, "--config", path, "--print-config"])
    if r.returncode != 0:
        fail(f"{path}: --print-config exit {r.returncode}: {r.stderr}")
        return
    printed = tomllib.loads(r.stdout)
    with open(path, "rb") as f:
        in_file = tomllib.load(f)
    if printed != in_file:
        fail(f"{path}: --print-config gives {printed}, the file holds {in_file}")
    if printed != expected:
        fail(f"{path}: options {printed}, expected {expected}")


def check_run(loadgen, server, path, expected, tmp, nginx):
    out = os.path.join(tmp, os.path.basename(path) + ".json")
    cmd = [loadgen, "--config", path, "--duration", "1s", "--warmup", "0s", "-q", "--json", out]
    http = None
    if "target" in expected["config"]:
        http, port, what = start_http_server(nginx, server, tmp)
        print(f"{os.path.basename(path)}: against {what} on port {port}")
        cmd += ["--target", f"127.0.0.1:{port}"]
    else:
        cmd += ["--spawn", server]
    try:
        r = run(cmd)
    finally:
        if http:
            http.terminate()
            http.wait(10)
    try:
        with open(out, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{path}: no JSON ({e}); exit {r.returncode}: {r.stderr}")
        return
    for key, want in expected["json"].items():
        if doc["parameters"].get(key) != want:
            fail(f"{path}: parameters.{key} = {doc['parameters'].get(key)!r}, want {want!r}")
    if doc["parameters"]["duration_s"] != 1.0:
        fail(f"{path}: --duration 1s did not override the file: {doc['parameters']['duration_s']}")
    # An SLO may be missed on a loaded machine (exit 3); the verdict and the
    # exit code must agree, and nothing else may go wrong.
    slo_missed = doc["slo"]["passed"] is False
    want_code = 3 if slo_missed else 0
    if r.returncode != want_code or doc["exit_code"] != r.returncode:
        fail(f"{path}: exit {r.returncode} (JSON {doc['exit_code']}), want {want_code}: {r.stderr}")
    if doc["parameters"]["mode"] == "hold":
        if not doc["results"]["established"]:
            fail(f"{path}: no connection established")
        print(f"{os.path.basename(path)}: {doc['results']['established']} connections established in 1 s")
    elif doc["results"]["responses"] <= 0:
        fail(f"{path}: no responses")
    if doc["parameters"]["mode"] == "churn" and doc["results"]["churn_closes"] <= 0:
        fail(f"{path}: no connection was churned")


def check_errors(loadgen, tmp):
    bad = os.path.join(tmp, "bad.toml")
    with open(bad, "w") as f:
        f.write("connections = 5\n# a comment\nconections = 7\n")
    r = run([loadgen, "--config", bad, "--print-config"])
    lines = r.stderr.strip().splitlines()
    if r.returncode != 2 or len(lines) != 1 or f"{bad}:3" not in lines[0] or "conections" not in lines[0]:
        fail(f"unknown key: exit {r.returncode}, stderr {r.stderr!r}")
    missing = os.path.join(tmp, "missing.toml")
    r = run([loadgen, "--config", missing])
    lines = r.stderr.strip().splitlines()
    if r.returncode != 2 or len(lines) != 1 or missing not in lines[0]:
        fail(f"missing file: exit {r.returncode}, stderr {r.stderr!r}")
    # The command line overrides the file.
    good = os.path.join(tmp, "good.toml")
    with open(good, "w") as f:
        f.write("connections = 5\nlabel = \"from-file\"\n")
    r = run([loadgen, "--config", good, "-c", "9", "--print-config"])
    printed = tomllib.loads(r.stdout) if r.returncode == 0 else {}
    if printed != {"connections": 9, "label": "from-file"}:
        fail(f"override: exit {r.returncode}, printed {r.stdout!r} {r.stderr!r}")


def main():
    loadgen, server, folder = sys.argv[1:4]
    nginx = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else shutil.which("nginx")
    files = sorted(f for f in os.listdir(folder) if f.endswith(".toml"))
    if set(files) != set(EXPECTED):
        fail(f"scenario files {files}, this test knows {sorted(EXPECTED)}")
    with tempfile.TemporaryDirectory(prefix="loadgen_scenarios_") as tmp:
        for name in files:
            if name not in EXPECTED:
                continue
            path = os.path.join(folder, name)
            check_config(loadgen, path, EXPECTED[name]["config"])
            check_run(loadgen, server, path, EXPECTED[name], tmp, nginx)
        check_errors(loadgen, tmp)
    print("PASS" if not failures else f"FAILED ({len(failures)})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
