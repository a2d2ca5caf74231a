"""The helm upgrade argv, built without running anything: plans carry it, the chart step runs it."""

from __future__ import annotations

import os

from kubectl_prefect_rollback import durations
from kubectl_prefect_rollback.target import Target


def values_args(values: str | None, files: tuple[str, ...]) -> list[str]:
    # Values fetched from the cluster may hold secrets: stdin only. The operator's own files go by path,
    # made absolute: `-` would mean stdin, and a name beginning with `-` would read as a flag.
    paths = [os.path.abspath(os.path.expanduser(f)) for f in files]
    return [a for f in paths for a in ("-f", f)] or (["-f", "-"] if values is not None else [])


def upgrade_argv(
    t: Target,
    release: str,
    chart: str,
    *,
    version: str,
    description: str,
    wait: bool,
    timeout: float,
    values_files: tuple[str, ...] = (),
    force_conflicts: bool = False,
) -> list[str]:
    argv = [t.helm, "upgrade", "--install", release, chart, "--version", version, *t.helm_flags()]
    if force_conflicts:  # our scale-down owns .spec.replicas now; the chart must win it back
        argv.append("--force-conflicts")
    argv += [*values_args("", values_files), "--description", description]
    if wait:
        argv += ["--wait", "--timeout", durations.go(timeout)]
    return argv
