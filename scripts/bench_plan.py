#!/usr/bin/env python3
"""Benchmark: planning over three chains of N migrations each (default 1,000), and over the real chains.

Builds real migration trees in a temp folder, runs the real listing script once with sh (its cost is
the pod's, reported for information), then times what the plugin does with the output: parse the
three chains, find the path to the target of each, rewrite the migration Job, and render the plan
text. Prints medians; the goal is < 50 ms for 3 x 1,000.

--real: the real-orion images (build-fixtures.py --real-prefect): the listing runs in a probe pod on
kubesim, once per way (sh+awk; busybox; sh without awk -> Python; Python without a shell), timed in
the pod (`date +%s%N` before and after, read from the probe's logs; the no-shell way times itself);
goal < 0.5 s for the ~120-file orion folder. Then the plan over those listings; goal < 50 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubectl_prefect_rollback import job_rewrite, manifests, migrations  # noqa: E402

JOB = """
# Source: prefect-cloud/templates/db-migration-job.yaml
apiVersion: batch/v1
kind: Job
metadata: {name: customer-managed-db-migrations}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: nebula
          image: r/cloud/server:1.3.0
          command: [prefect-cloud]
          args: [nebula, database, upgrade]
        - {name: orion, image: r/cloud/server:1.3.0, command: [prefect-cloud, self-managed, update-orion]}
        - name: events
          image: r/cloud/server:1.3.0
          command: [sh, -c]
          args: ["set -e\\necho migrating\\nprefect-cloud events database upgrade -y\\n"]
"""


def write_tree(root: Path, n: int) -> dict[str, str]:
    targets = {}
    for db in migrations.DATABASES:
        folder = root / migrations.VERSIONS[db]
        folder.mkdir(parents=True)
        prev = None
        for i in range(n):
            rev = f"{db[:2]}{i:010x}"
            body = (
                f'"""step {i} of {db}\n\nRevision ID: {rev}\n"""\n'
                f'revision = "{rev}"\ndown_revision = {repr(prev) if prev else None}\n\n'
                "def upgrade():\n    pass\n\n\ndef downgrade():\n"
                + ('    op.drop_table("t")\n' if i % 50 == 0 else "    pass\n")
            )
            (folder / f"2025_01_01_{i:06d}_{rev}_step.py").write_text(body)
            prev = rev
            if i == n - n // 10 - 1:
                targets[db] = rev
    return targets


def plan_once(listing: str, targets: dict[str, str]) -> float:
    t0 = time.perf_counter()
    chains = migrations.parse_listing(listing)
    paths = {db: chains[db].path_to(targets[db]) for db in migrations.DATABASES}
    jobs = manifests.migration_jobs(JOB)
    wanted = {db: targets[db] for db in paths}
    job_rewrite.downgrade_jobs(jobs, wanted, name="bench", labels={}, annotations={})
    return time.perf_counter() - t0


# In-pod timing: the listing between two clock reads, all in the probe's own output (its logs).
_TIMED_SH = "date +%s%N; {script}\ndate +%s%N"
_TIMED_PY = "import time; t0 = time.time_ns()\n{code}\nprint(time.time_ns()); print(t0)"


def _pod_ms(logs: str) -> tuple[str, float]:
    """(the listing, its in-pod milliseconds) from the probe's logs."""
    lines = logs.strip("\n").split("\n")
    if lines[0].isdigit():  # sh: start first, end last
        start, end, body = int(lines[0]), int(lines[-1]), lines[1:-1]
    else:  # python: end, then start, last
        start, end, body = int(lines[-1]), int(lines[-2]), lines[:-2]
    return "\n".join(body) + "\n", (end - start) / 1e6


def _real_ways(newer: str) -> dict[str, tuple[str, list[str]]]:
    from kubectl_prefect_rollback import listing

    sh = _TIMED_SH.format(script=listing.script())
    no_awk = sh.replace("LC_ALL=C;", "PATH=/prefect_cloud/bin; LC_ALL=C;", 1)  # awk is in /usr/bin only
    code = _TIMED_PY.format(code=listing.PY_ARG)
    return {
        "sh+awk": (newer, ["sh", "-c", sh]),
        "sh without awk -> the launcher's python": (
            newer,
            ["sh", "-c", no_awk.replace("\ndate", "\n/bin/date")],
        ),
        "python -c, no shell": (newer, [sys.executable, "-c", code, *listing.python_argv("-")[3:]]),
    }


def _probe_logs(sim, kubeconfig: str, name: str, image: str, argv: list[str]) -> str:
    from kubesim.tools import find_tool

    container = {"name": "probe", "image": image, "command": argv}
    sim.seed({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
              "spec": {"restartPolicy": "Never", "containers": [container]}})  # fmt: skip
    deadline = time.monotonic() + 120
    while ((sim.get("Pod", None, name) or {}).get("status") or {}).get("phase") not in (
        "Succeeded",
        "Failed",
    ):
        if time.monotonic() > deadline:
            sys.exit(f"bench_plan: probe pod {name} did not finish")
        time.sleep(0.2)
    kubectl = find_tool("kubectl", "1.32") or "kubectl"
    argv = [kubectl, "--kubeconfig", kubeconfig, "logs", name]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def real(runs: int) -> None:
    """The real Prefect chains (real-orion images), listed in kubesim probe pods."""
    import json
    import os

    from kubesim import KubeSim
    from testbed import app as fixture
    from testbed import real_prefect

    paths = fixture.build()
    dialect = real_prefect.dialect_for(os.environ.get("PREFECT_ROLLBACK_PG_URL"))
    older = (
        paths.images_dir / f"server-{real_prefect.tag('older', dialect)}" / "prefect_cloud/src/prefect_cloud"
    )
    if not older.is_dir():
        sys.exit("bench_plan --real: no real-orion images; run scripts/build-fixtures.py --real-prefect")
    script = migrations.listing_script(str(older))
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    targets = {db: c.head for db, c in migrations.parse_listing(done.stdout).items() if c}
    newer = f"registry.local/cloud/server:{real_prefect.tag('newer', dialect)}"
    with tempfile.TemporaryDirectory() as tmp, KubeSim(tls=False, binds=fixture.sandbox_binds()) as sim:
        sim.register_images(str(paths.images_dir))
        sim.use_namespace("bench")
        kubeconfig = sim.write_kubeconfig(str(Path(tmp) / "kubeconfig"))
        for n, (way, (image, argv)) in enumerate(_real_ways(newer).items()):
            text, ms = _pod_ms(_probe_logs(sim, kubeconfig, f"probe-{n}", image, argv))
            chains = migrations.parse_listing(text)
            to = {db: targets[db] if chains[db].contains(targets[db]) else chains[db].head for db in chains}
            times = [plan_once(text, to) for _ in range(runs)]
            med = statistics.median(times) * 1000
            row = {"way": way, "image": image, "orion_files": chains["orion"].count,
                   "orion_reverted": len(chains["orion"].path_to(to["orion"])),
                   "listing_in_pod_ms": round(ms, 1), "plan_median_ms": round(med, 2),
                   "goals": "ok" if ms < 500 and med < 50 else "MISSED"}  # fmt: skip
            print(json.dumps(row))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000, help="migrations per chain")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--real", action="store_true", help="the real Prefect chains, listed in kubesim pods")
    args = ap.parse_args()
    if args.real:
        real(args.runs)
        return
    with tempfile.TemporaryDirectory() as tmp:
        targets = write_tree(Path(tmp), args.n)
        t0 = time.perf_counter()
        listing = subprocess.run(
            ["sh", "-c", migrations.listing_script(tmp)],
            capture_output=True,
            text=True,
            check=True,
            stdin=subprocess.DEVNULL,
        ).stdout
        script_s = time.perf_counter() - t0
    times = [plan_once(listing, targets) for _ in range(args.runs)]
    med = statistics.median(times) * 1000
    print(f"chains: 3 x {args.n} migrations; listing output {len(listing) / 1024:.0f} KiB")
    print(f"listing script (runs in the pod): {script_s * 1000:.0f} ms")
    print(
        f"plan (parse + paths + job rewrite): median {med:.1f} ms, min {min(times) * 1000:.1f} ms, "
        f"max {max(times) * 1000:.1f} ms over {args.runs} runs; "
        f"goal < 50 ms: {'ok' if med < 50 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
