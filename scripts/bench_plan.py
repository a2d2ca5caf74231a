#!/usr/bin/env python3
"""Benchmark: planning over three chains of N migrations each (default 1,000).

Builds real migration trees in a temp folder, runs the real listing script once with sh (its cost is
the pod's, reported for information), then times what the plugin does with the output: parse the
three chains, find the path to the target of each, rewrite the migration Job, and render the plan
text. Prints medians; the goal is < 50 ms for 3 x 1,000.
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

from kubectl_prefect_rollback import manifests, migrations  # noqa: E402

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
    manifests.downgrade_jobs(jobs, {db: targets[db] for db in paths}, name="bench", labels={}, annotations={})
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000, help="migrations per chain")
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
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
