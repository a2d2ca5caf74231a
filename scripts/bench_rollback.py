#!/usr/bin/env python3
"""Benchmark: the downtime window and overhead of the plugin's rollback against the vendor runbook.

On one kubesim with the fixture app, each run installs 1.2.0 and upgrades to 1.3.0 in a fresh
namespace (not timed), then times either
  (a) `kubectl-prefect_rollback rollback --to 1.2.0 --yes`, or
  (b) the seed runbook's steps: exec to read heads, `helm template --show-only`, the args edited by a
      script, `kubectl apply`, `kubectl logs -f` per container, `helm upgrade --wait`,
alternating which goes first, with per-request latency injected into kubesim, for the chart with one
migration Job of three containers and the one with three Jobs (`migrations.separateJobs`).

Every figure but the wall time comes from kubesim's own timeline (testbed/window.py): the window runs
from the scale-down request's arrival (the runbook never scales down: from its first downgrade pod) to
the first target server pod Ready. Prints medians as markdown tables on stdout, each run on stderr.
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
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubesim.tools import find_tool  # noqa: E402
from testbed import app as fixture  # noqa: E402
from testbed import window  # noqa: E402
from testbed.cluster import RELEASE, App, Cluster  # noqa: E402

TO = "1.2.0"
CHARTS = {"one-job": {}, "three-jobs": {"migrations": {"separateJobs": True}}}
SLACK = 1.0  # the target: window <= downgrade Jobs + helm upgrade + 1.0 s
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


@dataclass
class Result:
    wall: float
    w: window.Window
    t0: float
    t1: float
    requests: int  # every request kubesim saw during the timed part
    overhead: float | None = None  # the plugin's own: wall minus waitedSeconds of its --report
    processes: int | None = None
    steps: dict[str, float] | None = None  # the plugin's: start-up and planning, then its report's steps

    def parts(self) -> dict[str, tuple[float, float, float] | None]:
        """The timed part cut at the cluster's marks: name -> (from, to) times; None where it has no mark."""
        w = self.w
        first = min(p.created.t for p in w.downgrade)
        last = max(p.finished.t for p in w.downgrade if p.finished)
        gone = w.servers_gone.t if w.servers_gone else None
        server = min(m.t for m in w.servers_created if m.rv > w.helm_writes.rv)
        return {
            "before window": (self.t0, w.start),
            "scale-down → servers gone": (w.start, gone) if gone else None,
            "servers gone → 1st Job pod": (gone, first) if gone else None,
            "1st Job pod → last done": (first, last),
            "last Job done → helm writes": (last, w.helm_writes.t),
            "helm writes → 1st server pod": (w.helm_writes.t, server),
            "server pod → Ready": (server, w.first_ready.t),
            "after 1st Ready": (w.first_ready.t, self.t1),
        }


def run_plugin(app: App, cluster: Cluster) -> Result:
    report = app.home / "report.json"
    t0 = time.monotonic()
    app.plugin(
        "rollback", "--to", TO, "--chart", app.chart(TO), "--yes", "--report", str(report), timeout=900
    )
    t1 = time.monotonic()
    data = json.loads(report.read_text())
    res = _result(app, cluster, t0, t1)
    res.overhead, res.processes = res.wall - data["waitedSeconds"], data.get("processes")
    steps = {s["name"]: s["seconds"] for s in data["steps"]}
    res.steps = {"start + plan": res.wall - data["seconds"], **steps}
    return res


def _result(app: App, cluster: Cluster, t0: float, t1: float) -> Result:
    timeline = cluster.sim.timeline
    w = window.read(timeline, app.namespace, RELEASE, fixture.server_ref(TO), t0)
    return Result(t1 - t0, w, t0, t1, len(timeline.requests_between(t0, t1)))


def edit_job(manifest: str, targets: dict[str, str]) -> list[dict]:
    """What the operator does by hand: every container's args become a downgrade."""
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    for doc in docs:
        for c in doc["spec"]["template"]["spec"]["containers"]:
            db = c["name"]
            c["command"] = ["prefect-cloud", db, "database", "downgrade", "-r", targets[db], "-y"]
            c.pop("args", None)
    return docs


def run_seed(app: App, cluster: Cluster) -> Result:
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
    jobs = edit_job(rendered, targets)
    names = [j["metadata"]["name"] for j in jobs]
    app.kubectl("delete", "job", *names, "--ignore-not-found")  # the hook's Jobs of the same names linger
    app.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(jobs))
    followers = []
    for job in jobs:
        for c in job["spec"]["template"]["spec"]["containers"]:
            name, db = job["metadata"]["name"], c["name"]
            loop = f"until kubectl logs -f job/{name} -c {db} -n {app.namespace}; do sleep 0.2; done"
            followers.append(
                subprocess.Popen(
                    ["sh", "-c", loop], env=app.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
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
    return _result(app, cluster, t0, time.monotonic())


def med(values: list[float | None], fmt: str = "{:.2f}") -> str:
    got = [v for v in values if v is not None]
    return fmt.format(statistics.median(got)) if got else "—"


def summary_rows(chart: str, latency: int, method: str, runs: list[Result]) -> str:
    jobs_helm = [r.w.jobs_seconds + r.w.helm_seconds for r in runs]
    spare = [j + SLACK - r.w.seconds for j, r in zip(jobs_helm, runs, strict=True)]
    kept = sum(not window.violations(r.w) for r in runs)
    cells = [
        chart,
        f"{latency} ms",
        method,
        med([r.wall for r in runs]),
        med([r.w.seconds for r in runs]),
        med([r.w.jobs_seconds for r in runs]),
        med([r.w.helm_seconds for r in runs]),
        med(spare, "{:+.2f}"),
        med([r.overhead for r in runs]),
        med([r.wall - j for j, r in zip(jobs_helm, runs, strict=True)]),
        f"{med([r.w.requests for r in runs], '{:.0f}')} / {med([r.requests for r in runs], '{:.0f}')}",
        med([r.processes for r in runs], "{:.0f}"),
        f"{kept}/{len(runs)}",
    ]
    return "| " + " | ".join(cells) + " |"


SUMMARY_HEAD = (
    "| chart | latency | method | wall s | window s | Jobs s | helm s | Jobs + helm + 1.0 − window s "
    "| overhead s | wall − Jobs − helm s | requests window / total | processes | ordering kept |\n"
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def parts_rows(chart: str, latency: int, method: str, runs: list[Result], timeline) -> str:
    cells = [chart, f"{latency} ms", method]
    for name in runs[0].parts():
        spans = [r.parts()[name] for r in runs]
        if any(s is None for s in spans):
            cells.append("—")
            continue
        secs = [b - a for a, b in spans]
        reqs = [len(timeline.requests_between(a, b)) for a, b in spans]
        cells.append(f"{med(secs)} ({med(reqs, '{:.0f}')})")
    return "| " + " | ".join(cells) + " |"


def per_run(chart: str, latency: int, method: str, r: Result) -> str:
    w = r.w
    jobs = ", ".join(
        f"{p.name} {p.finished.t - p.created.t:.2f}s" if p.finished else f"{p.name} unfinished"
        for p in w.downgrade
    )
    return (
        f"{chart} {latency}ms {method}: wall {r.wall:.2f}s window {w.seconds:.2f}s "
        f"jobs {w.jobs_seconds:.2f}s helm {w.helm_seconds:.2f}s "
        f"overhead {'—' if r.overhead is None else f'{r.overhead:.2f}s'} "
        f"requests {w.requests}/{r.requests} processes {r.processes if r.processes is not None else '—'} "
        f"[{jobs}] violations {window.violations(w) or 'none'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per method, chart and latency (default 5)")
    ap.add_argument(
        "--latency", "--latency-ms", type=int, nargs="+", default=[0, 50], help="injected API latency, ms"
    )
    ap.add_argument("--chart", nargs="+", choices=list(CHARTS), default=list(CHARTS))
    ap.add_argument("--kubectl", default="1.32")
    ap.add_argument("--helm", default="4.1.4")
    ap.add_argument(
        "--saved-heads",
        action="store_true",
        help="run `revisions --save` after each install (untimed), as after each upgrade: the rollback then"
        " needs no probe pod (1.2.0's heads) and no -y question (1.3.0's image answered it)",
    )
    args = ap.parse_args()
    kubectl, helm = find_tool("kubectl", args.kubectl), find_tool("helm", args.helm)
    if not (kubectl and helm):
        sys.exit("needs the test tools: scripts/install-test-tools.sh")
    work = Path(tempfile.mkdtemp(prefix="prefect-rollback-bench-"))
    cluster = Cluster.start(work)
    counter = itertools.count(1)
    results: dict[tuple[str, int, str], list[Result]] = {}
    try:
        for chart, latency in itertools.product(args.chart, args.latency):
            for i in range(args.runs):
                for method in ("plugin", "runbook") if i % 2 == 0 else ("runbook", "plugin"):
                    cluster.sim.set_latency(0)
                    app = cluster.app(f"b{next(counter)}", kubectl=kubectl, helm=helm)
                    app.install("1.2.0", **CHARTS[chart])
                    if args.saved_heads:
                        app.plugin("revisions", "--save")
                    app.install("1.3.0", **CHARTS[chart])
                    if args.saved_heads:
                        app.plugin("revisions", "--save")
                    app.values_file(TO, **CHARTS[chart])
                    cluster.sim.set_latency(latency / 1000)
                    r = run_plugin(app, cluster) if method == "plugin" else run_seed(app, cluster)
                    cluster.sim.set_latency(0)
                    assert app.heads() == fixture.release_heads(TO), f"{method} did not reach the {TO} heads"
                    results.setdefault((chart, latency, method), []).append(r)
                    print(per_run(chart, latency, method, r), file=sys.stderr, flush=True)
                    cluster.sim.delete("Namespace", "", app.namespace)
        print_tables(results, cluster, args)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def print_tables(results: dict, cluster: Cluster, args: argparse.Namespace) -> None:
    heads = ", `revisions --save` after each install" if args.saved_heads else ""
    print(f"Medians of {args.runs} alternating runs, kubectl {args.kubectl}, helm {args.helm}{heads}.\n")
    print(SUMMARY_HEAD)
    for (chart, latency, method), runs in results.items():
        print(summary_rows(chart, latency, method, runs))
    names = " | ".join(next(iter(results.values()))[0].parts())
    print(f"\nWhere the time goes, seconds (requests kubesim saw):\n\n| chart | latency | method | {names} |")
    print("|---|---|---|" + "---:|" * len(next(iter(results.values()))[0].parts()))
    for (chart, latency, method), runs in results.items():
        print(parts_rows(chart, latency, method, runs, cluster.sim.timeline))
    plugin = {k: v for k, v in results.items() if k[2] == "plugin"}
    if plugin:
        steps = list(next(iter(plugin.values()))[0].steps)
        print(f"\nThe plugin's steps, seconds (its --report):\n\n| chart | latency | {' | '.join(steps)} |")
        print("|---|---|" + "---:|" * len(steps))
        for (chart, latency, _), runs in plugin.items():
            cells = [med([r.steps.get(name) for r in runs]) for name in steps]
            print(f"| {chart} | {latency} ms | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
