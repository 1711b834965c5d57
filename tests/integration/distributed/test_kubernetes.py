#!/usr/bin/env python3
"""deploy/kubernetes without a cluster (issue 14; docs/distributed.md).

  test_kubernetes.py LOADGEN HDRTOOL SERVER

1. The manifests parse (PyYAML) and hang together: the loadgen Job is an
   Indexed Job whose completions, parallelism and --shard count agree, both
   Jobs mount the claim of results-pvc.yaml at /results.
2. The exact command line of each of the Job's pods is run here, as a
   process instead of a pod, with JOB_COMPLETION_INDEX set as Kubernetes sets
   it and $(VAR) references expanded as Kubernetes expands them. Only three
   things are put in place: TARGET (a local server-epoll instead of the
   cluster's service), START_AT (2 s from now, what the README's sed does),
   and the paths (/usr/local/bin and /results map to the build and a
   temporary folder). Then the merge Job's command runs, and its merged CSV
   must list every shard, none late or missing, and count what the shards
   counted.
"""
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

from tally import Tally  # this folder (on the path of the script)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
K8S = os.path.join(REPO, "deploy", "kubernetes")

tally = Tally()
check = tally.check


def load(name):
    with open(os.path.join(K8S, name)) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    check(len(docs) == 1, "%s holds %d documents, not 1" % (name, len(docs)))
    return docs[0]


def expand(text, env):
    """Kubernetes' $(VAR) expansion: a defined variable is replaced, $$ is a
    literal $, an undefined reference stays as written."""
    def one(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, text)


def localize(text, bin_dir, results):
    text = text.replace("/usr/local/bin/loadgen", os.path.join(bin_dir, "loadgen"))
    text = text.replace("/usr/local/bin/hdrtool", os.path.join(bin_dir, "hdrtool"))
    return text.replace("/results", results)


def check_manifests():
    pvc = load("results-pvc.yaml")
    job = load("loadgen-job.yaml")
    merge = load("merge-job.yaml")
    check(pvc["kind"] == "PersistentVolumeClaim", "results-pvc.yaml is a %s" % pvc["kind"])
    claim = pvc["metadata"]["name"]
    check(job["kind"] == "Job" and job["apiVersion"] == "batch/v1", "loadgen-job is a Job")
    spec = job["spec"]
    check(spec.get("completionMode") == "Indexed", "the loadgen Job is not Indexed")
    n = spec["completions"]
    check(spec.get("parallelism") == n, "parallelism %s != completions %s" %
          (spec.get("parallelism"), n))
    container = spec["template"]["spec"]["containers"][0]
    args = container["args"]
    shard = args[args.index("--shard") + 1]
    check(shard == "$(JOB_COMPLETION_INDEX)/%d" % n, "--shard %s does not match completions %d" %
          (shard, n))
    for name, doc in (("loadgen-job.yaml", job), ("merge-job.yaml", merge)):
        pod = doc["spec"]["template"]["spec"]
        check(pod.get("restartPolicy") == "Never", "%s: restartPolicy" % name)
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = pod["containers"][0]["volumeMounts"]
        check(any(m["mountPath"] == "/results" and
                  volumes[m["name"]]["persistentVolumeClaim"]["claimName"] == claim
                  for m in mounts), "%s does not mount claim %s at /results" % (name, claim))
    return job, merge, n


def run_pods(job, n, bin_dir, results, target):
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    env["TARGET"] = target
    env["START_AT"] = str(int(time.time() * 1000) + 2000)
    pods = []
    for i in range(n):
        pod_env = dict(env, JOB_COMPLETION_INDEX=str(i))
        argv = [localize(expand(a, pod_env), bin_dir, results)
                for a in container["command"] + container["args"]]
        pods.append(subprocess.Popen(argv, env=dict(os.environ, **pod_env),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True))
    for i, p in enumerate(pods):
        out, _ = p.communicate(timeout=60)
        check(p.returncode == 0, "pod %d exit %d: %s" % (i, p.returncode, out))


def run_merge(merge, bin_dir, results):
    container = merge["spec"]["template"]["spec"]["containers"][0]
    argv = [localize(a, bin_dir, results) for a in container["command"] + container["args"]]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    print(r.stderr, flush=True)
    check(r.returncode == 0, "merge exit %d: %s" % (r.returncode, r.stderr))


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    loadgen, hdrtool, server_path = sys.argv[1:]
    job, merge, n = check_manifests()
    bin_dir = tempfile.mkdtemp(prefix="wsb_k8s_bin_")
    results = tempfile.mkdtemp(prefix="wsb_k8s_results_")
    server = subprocess.Popen([server_path, "--port", "0"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        os.symlink(loadgen, os.path.join(bin_dir, "loadgen"))
        os.symlink(hdrtool, os.path.join(bin_dir, "hdrtool"))
        m = re.match(r"listening (\S+) ", server.stdout.readline())
        check(m is not None, "server-epoll did not start")
        run_pods(job, n, bin_dir, results, m.group(1))
        run_merge(merge, bin_dir, results)
        with open(os.path.join(results, "merged.csv"), newline="") as f:
            merged = list(csv.DictReader(f))[0]
        shards = []
        for i in range(n):
            with open(os.path.join(results, "shard-%d.csv" % i), newline="") as f:
                shards.append(list(csv.DictReader(f))[0])
        check(merged["shards"] == str(n) and merged["shards_expected"] == str(n) and
              merged["missing_shards"] == "" and merged["late_shards"] == "",
              "merged row: %s" % merged)
        check(int(merged["count"]) == sum(int(s["responses"]) for s in shards),
              "merged count %s != the shards' responses" % merged["count"])
        check(os.path.getsize(os.path.join(results, "merged.hgrm")) > 0, "no merged.hgrm")
    finally:
        try:
            server.communicate("//q\n", timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(bin_dir, ignore_errors=True)
        shutil.rmtree(results, ignore_errors=True)
    return tally.result()


if __name__ == "__main__":
    sys.exit(main())
