#!/usr/bin/env python3
"""Startup time of the built plugin against `kubectl version --client`, side by side in one run.

    python scripts/bench_startup.py [ARTIFACT ...] [--runs 15] [--kubectl PATH] [--max-ratio 1.5]

ARTIFACT is the binary, or a onedir folder holding it (default: dist/kubectl-prefect_rollback).
The commands are interleaved round by round, so a busy machine slows every one of them alike;
each figure is the median wall time of starting the process until it exits.
Also prints the median CPU time (user+sys), which a busy machine disturbs less than wall time.
Exit status 1 when --max-ratio is given and an artifact's wall median exceeds that multiple of kubectl's.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

NAME = "kubectl-prefect_rollback"
ROOT = Path(__file__).resolve().parent.parent


def executable(artifact: str) -> str:
    path = Path(artifact)
    if path.is_dir():
        path = path / NAME
    if not os.access(path, os.X_OK):
        sys.exit(f"bench_startup: {path} is not an executable (run `make binary` first)")
    return str(path)


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one run; cpu (user+sys) is steadier than wall on a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(cases: dict[str, list[str]], runs: int) -> dict[str, tuple[float, float]]:
    """Median (wall, cpu) per case."""
    for argv in cases.values():  # warm the page cache and any onefile extraction path once
        timed(argv)
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label in cases}
    for _ in range(runs):
        for label, argv in cases.items():
            samples[label].append(timed(argv))
    return {
        label: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
        for label, s in samples.items()
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("artifacts", nargs="*", default=[str(ROOT / "dist" / NAME)])
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--kubectl", default=shutil.which("kubectl") or "kubectl")
    p.add_argument("--max-ratio", type=float, help="fail when a median exceeds this multiple of kubectl's")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cases = {"kubectl version --client": [args.kubectl, "version", "--client"]}
    for artifact in args.artifacts:
        exe = executable(artifact)
        for flag in ("--version", "--help"):
            cases[f"{artifact} {flag}"] = [exe, flag]
    medians = measure(cases, args.runs)
    base_wall, base_cpu = medians["kubectl version --client"]
    width = max(map(len, medians))
    print(f"{'command':<{width}}     wall  ratio      cpu  ratio   (medians of {args.runs}, interleaved)")
    worst = 0.0
    for label, (wall, cpu) in medians.items():
        ratio = wall / base_wall
        worst = max(worst, ratio)
        cpu_ratio = cpu / base_cpu
        ms = f"{wall * 1000:5.0f} ms  {ratio:4.2f}x  {cpu * 1000:5.0f} ms  {cpu_ratio:4.2f}x"
        print(f"{label:<{width}}  {ms}")
    if args.max_ratio and worst > args.max_ratio:
        print(f"slowest is {worst:.2f}x kubectl, above {args.max_ratio}x", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
