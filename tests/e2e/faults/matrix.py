#!/usr/bin/env python3
"""Run the fault-injection and interruption matrices (tests/e2e/faults) and print them as tables.

    python -m tests.e2e.faults.matrix            # every cell (make test-faults), 2 pytest shards at once
    python -m tests.e2e.faults.matrix --sample   # the sample `make test` runs
    python -m tests.e2e.faults.matrix --read FILE  # only print the tables of an earlier run's results

Each cell writes one JSON line (tests/e2e/faults/harness.py record) to the results file; the tables
show calls x faults and steps x signals with pass/fail counts, then the failing cells grouped by
problem. Exit status: 0 when every cell passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from tests.e2e.faults import cells  # noqa: E402

SUITE = "tests/e2e/faults"


def collect(env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", SUITE, "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [line for line in out.splitlines() if "::" in line]


def split(ids: list[str], jobs: int) -> list[list[str]]:
    """Shards of about equal cost: a hang cell waits out its bound (or, unbounded, the harness's)."""
    shards: list[list[str]] = [[] for _ in range(jobs)]
    load = [0] * jobs
    for node in ids:
        i = load.index(min(load))
        shards[i].append(node)
        load[i] += 3 if "-hang]" in node else 1
    return shards


def run(args: argparse.Namespace) -> Path:
    results = Path(args.results).resolve()
    results.unlink(missing_ok=True)
    env = {**os.environ, "PREFECT_FAULTS": "sample" if args.sample else "all"}
    ids = collect(env)
    shards = split(ids, args.jobs)
    procs = []
    t0 = time.monotonic()
    for i, shard in enumerate(s for s in shards if s):
        log = results.with_suffix(f".shard{i}.log")
        shard_env = {**env, "PREFECT_FAULTS_RESULTS": str(results.with_suffix(f".shard{i}.jsonl"))}
        Path(shard_env["PREFECT_FAULTS_RESULTS"]).unlink(missing_ok=True)
        argv = [sys.executable, "-m", "pytest", *shard, "-q", "-p", "no:cacheprovider", *args.pytest_args]
        print(f"shard {i}: {len(shard)} tests, log {log}", file=sys.stderr)
        proc = subprocess.Popen(argv, cwd=ROOT, env=shard_env, stdout=log.open("w"), stderr=subprocess.STDOUT)
        procs.append((proc, Path(shard_env["PREFECT_FAULTS_RESULTS"])))
    with results.open("w") as merged:
        for proc, part in procs:
            proc.wait()
            if part.exists():
                merged.write(part.read_text())
                part.unlink()
    print(f"ran {len(ids)} tests in {args.jobs} shard(s) in {time.monotonic() - t0:.0f}s", file=sys.stderr)
    return results


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def table(title: str, rows: list[str], cols: list[str], got: dict[tuple[str, str], dict]) -> tuple[int, int]:
    width = max([len(r) for r in rows] + [len(title)])
    print(f"\n{title:<{width}}  " + "  ".join(f"{c:>8}" for c in cols) + "    pass/run")
    passed = ran = 0
    for row in rows:
        marks = []
        row_pass = row_ran = 0
        for col in cols:
            cell = got.get((row, col))
            if cell is None:
                marks.append(f"{'-':>8}")
                continue
            row_ran += 1
            row_pass += cell["ok"]
            marks.append(f"{'ok' if cell['ok'] else 'FAIL':>8}")
        passed, ran = passed + row_pass, ran + row_ran
        print(f"{row:<{width}}  " + "  ".join(marks) + f"    {row_pass}/{row_ran}")
    total = len(rows) * len(cols)
    print(f"{'total':<{width}}  {passed} passed, {ran - passed} failed, {ran} run of {total} cells")
    return passed, ran


def cause(problem: str) -> str:
    """A problem without its particulars (names, numbers, quoted output), to group cells by cause."""
    p = re.sub(r"\(.*?\)", "(…)", problem)
    p = re.sub(r"e\d+-[a-z0-9-]+", "NS", p)
    p = re.sub(r"[0-9a-f]{6,}|\d+(\.\d+)?", "N", p)
    return p[:160]


def report(results: list[dict], verbose: bool = False) -> int:
    got = {(r["matrix"], r["row"], r["col"]): r for r in results}
    fault_rows = [c.id for c in cells.calls()]
    signal_rows = list(dict.fromkeys(m.id for m in cells.MOMENTS))
    f = table("calls x faults", fault_rows, list(cells.MODES),
              {(r, c): v for (m, r, c), v in got.items() if m == "faults"})  # fmt: skip
    s = table("steps x signals", signal_rows, list(cells.SIGNALS),
              {(r, c): v for (m, r, c), v in got.items() if m == "signals"})  # fmt: skip
    by_cause: dict[str, list[str]] = defaultdict(list)
    for r in results:
        for p in r["problems"]:
            by_cause[cause(p)].append(f"{r['row']} x {r['col']}")
    if by_cause:
        print("\nfailing cells by problem (a cell may show several):")
        for c, where in sorted(by_cause.items(), key=lambda kv: -len(kv[1])):
            print(f"  {len(where):3d}  {c}\n       {', '.join(sorted(set(where)))}")
    if verbose:
        print("\nfailing cells (the faulted run's last stderr lines):")
        for r in results:
            if not r["ok"]:
                print(f"  {r['row']} x {r['col']}: {r.get('message', '')[:300]}")
    print(f"\nfaults: {f[0]}/{f[1]} passed; signals: {s[0]}/{s[1]} passed")
    return 0 if f[0] == f[1] and s[0] == s[1] and results else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample", action="store_true", help="only the cells `make test` runs")
    ap.add_argument("--jobs", type=int, default=2, help="pytest shards at once, each with its own kubesim")
    ap.add_argument("--results", default=str(ROOT / "build" / "fault-matrix.jsonl"))
    ap.add_argument("--read", metavar="FILE", help="print the tables of an earlier results file")
    ap.add_argument("-v", "--verbose", action="store_true", help="also each failing cell's message")
    ap.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    args = ap.parse_args()
    if args.read:
        path = Path(args.read)
    else:
        Path(args.results).parent.mkdir(parents=True, exist_ok=True)
        path = run(args)
    return report(load(path), args.verbose)


if __name__ == "__main__":
    sys.exit(main())
