#!/usr/bin/env python3
"""Benchmark: the plugin's rollback against the vendor runbook scripted as fast as a machine can run it.

On one kubesim with the fixture app, each run installs 1.2.0 and upgrades to 1.3.0 in a fresh
namespace (not timed), then times either
  (a) `kubectl-prefect_rollback rollback --to 1.2.0 --yes`, or
  (b) the seed runbook's steps: exec to read heads, `helm template --show-only`, the args edited by a
      script, `kubectl apply`, `kubectl logs -f` per container, `helm upgrade --wait`,
alternating which goes first, with per-request latency injected into kubesim (0 and 50 ms by default).
Prints both medians, their ratio, and the plugin's own overhead: its wall time minus the time it spent
waiting for Jobs, pods and helm (from its --report).
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubesim.tools import find_tool  # noqa: E402
from testbed import app as fixture  # noqa: E402
from testbed.cluster import RELEASE, App, Cluster  # noqa: E402

TO = "1.2.0"
# The runbook's own loop, as printed in the vendor text (find | sort | tail, grep '^revision').
RUNBOOK_HEADS = r"""
for db in nebula orion; do
  path="/prefect_cloud/src/prefect_cloud/$db/migrations/versions"
  grep '^revision' $(find "${path}" | sort | tail -n 1) | sed "s;^;$db: ;"
done
path=/prefect_cloud/src/prefect_cloud/events/storage/postgres/migrations/versions
grep '^revision' $(find "${path}" | sort | tail -n 1) | sed "s;^;events: ;"
true
"""


def run_plugin(app: App) -> tuple[float, float]:
    report = app.home / "report.json"
    t0 = time.monotonic()
    app.plugin(
        "rollback", "--to", TO, "--chart", app.chart(TO), "--yes", "--report", str(report), timeout=900
    )
    wall = time.monotonic() - t0
    return wall, wall - json.loads(report.read_text())["waitedSeconds"]


def edit_job(manifest: str, targets: dict[str, str]) -> str:
    """What the operator does by hand: every container's args become a downgrade."""
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    for doc in docs:
        for c in doc["spec"]["template"]["spec"]["containers"]:
            db = c["name"]
            c["command"] = ["prefect-cloud", db, "database", "downgrade", "-r", targets[db], "-y"]
            c.pop("args", None)
    return yaml.safe_dump_all(docs)


def run_seed(app: App) -> float:
    targets = fixture.release_heads(TO)  # "make a note of these versions" — noted before the upgrade
    t0 = time.monotonic()
    pods = json.loads(
        app.kubectl("get", "pods", "-l", "app.kubernetes.io/component=server", "-o", "json").stdout
    )
    pod = pods["items"][0]["metadata"]["name"]
    app.kubectl("exec", pod, "-c", "server", "--", "sh", "-c", RUNBOOK_HEADS)
    rendered = app.helm(
        "template",
        RELEASE,
        app.chart("1.3.0"),
        "-f",
        str(app.values_files["1.3.0"]),
        "--show-only",
        "templates/db-migration-job.yaml",
    ).stdout
    job = edit_job(rendered, targets)
    name = yaml.safe_load(job)["metadata"]["name"]
    app.kubectl("delete", "job", name, "--ignore-not-found")  # the hook's Job of the same name lingers
    app.kubectl("apply", "-f", "-", stdin=job)
    followers = []
    for db in fixture.DATABASES:
        argv = [
            "sh",
            "-c",
            f"until kubectl logs -f job/{name} -c {db} -n {app.namespace}; do sleep 0.2; done",
        ]
        followers.append(
            subprocess.Popen(argv, env=app.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    for f in followers:
        f.wait(timeout=600)
    app.helm(
        "upgrade",
        "--install",
        RELEASE,
        app.chart(TO),
        "--version",
        TO,
        "-f",
        str(app.values_files[TO]),
        "--wait",
        "--timeout",
        "300s",
        timeout=600,
    )
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per method and latency")
    ap.add_argument("--latency-ms", type=int, nargs="+", default=[0, 50])
    ap.add_argument("--kubectl", default="1.32")
    ap.add_argument("--helm", default="4.1.4")
    ap.add_argument(
        "--saved-heads",
        action="store_true",
        help="run `revisions --save` while 1.2.0 is deployed (untimed), so the rollback needs no probe pod",
    )
    args = ap.parse_args()
    kubectl, helm = find_tool("kubectl", args.kubectl), find_tool("helm", args.helm)
    if not (kubectl and helm):
        sys.exit("needs the test tools: scripts/install-test-tools.sh")
    work = Path(tempfile.mkdtemp(prefix="prefect-rollback-bench-"))
    cluster = Cluster.start(work)
    counter = itertools.count(1)
    try:
        for latency in args.latency_ms:
            plugin, seed, overhead = [], [], []
            for i in range(args.runs):
                order = ("plugin", "seed") if i % 2 == 0 else ("seed", "plugin")
                for method in order:
                    cluster.sim.set_latency(0)
                    app = cluster.app(f"b{next(counter)}", kubectl=kubectl, helm=helm)
                    app.install("1.2.0")
                    if args.saved_heads:
                        app.plugin("revisions", "--save")
                    app.install("1.3.0")
                    app.values_file(TO)
                    cluster.sim.set_latency(latency / 1000)
                    if method == "plugin":
                        wall, own = run_plugin(app)
                        plugin.append(wall)
                        overhead.append(own)
                    else:
                        seed.append(run_seed(app))
                    cluster.sim.set_latency(0)
                    assert app.heads() == fixture.release_heads(TO), f"{method} did not reach the {TO} heads"
                    cluster.sim.delete("Namespace", "", app.namespace)
            p, s = statistics.median(plugin), statistics.median(seed)
            print(
                f"latency {latency:>3} ms: plugin median {p:.2f}s, runbook median {s:.2f}s, "
                f"ratio {p / s:.2f} "
                f"(goal <= 1.1); plugin overhead median {statistics.median(overhead):.2f}s (goal <= 1.5s); "
                f"runs {args.runs}{', heads saved before the upgrade' if args.saved_heads else ''}",
                flush=True,
            )
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
