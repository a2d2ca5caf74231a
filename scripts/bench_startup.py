#!/usr/bin/env python3
"""Startup time of the built plugin against `kubectl version --client`, side by side in one run.

    python scripts/bench_startup.py [ARTIFACT ...] [--runs 15] [--kubectl PATH]
                                    [--max-version-ratio 1.0] [--max-help-ratio 1.5]

ARTIFACT is the binary, or a onedir folder holding it (default: dist/kubectl-prefect_rollback).
The commands are interleaved round by round, so a busy machine slows every one of them alike;
each figure is the median wall time of starting the process until it exits.
Also prints the median CPU time (user+sys), which a busy machine disturbs less than wall time.
Exit status 1 when an artifact's `--version` (or `--help`) wall median exceeds --max-version-ratio
(or --max-help-ratio) times kubectl's. The goals (issue 8): `--version` 1.0x, `--help` 1.5x.
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
    p.add_argument("--max-version-ratio", type=float, help="fail when --version's median exceeds this")
    p.add_argument("--max-help-ratio", type=float, help="fail when --help's median exceeds this")
    return p.parse_args(argv)


def ratios(medians: dict[str, tuple[float, float]], base: str) -> dict[str, tuple[float, float]]:
    """(wall, cpu) of each case as a multiple of `base`'s."""
    base_wall, base_cpu = medians[base]
    return {label: (wall / base_wall, cpu / base_cpu) for label, (wall, cpu) in medians.items()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base = "kubectl version --client"
    cases = {base: [args.kubectl, "version", "--client"]}
    limits: dict[str, float | None] = {}
    for artifact in args.artifacts:
        exe = executable(artifact)
        for flag, limit in (("--version", args.max_version_ratio), ("--help", args.max_help_ratio)):
            cases[f"{artifact} {flag}"] = [exe, flag]
            limits[f"{artifact} {flag}"] = limit
    medians = measure(cases, args.runs)
    width = max(map(len, medians))
    print(f"{'command':<{width}}     wall  ratio      cpu  ratio   (medians of {args.runs}, interleaved)")
    failed = []
    for label, (ratio, cpu_ratio) in ratios(medians, base).items():
        wall, cpu = medians[label]
        ms = f"{wall * 1000:5.0f} ms  {ratio:4.2f}x  {cpu * 1000:5.0f} ms  {cpu_ratio:4.2f}x"
        print(f"{label:<{width}}  {ms}")
        limit = limits.get(label)
        if limit is not None and ratio > limit:
            failed.append(f"{label} is {ratio:.2f}x kubectl, above {limit}x")
    for line in failed:
        print(line, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
