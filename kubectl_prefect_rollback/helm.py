"""Thin, typed wrappers over the helm CLI. Every argv is built from one Target; JSON is parsed here."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from kubectl_prefect_rollback import children, durations, proc
from kubectl_prefect_rollback.errors import ParseError
from kubectl_prefect_rollback.target import Target
from kubectl_prefect_rollback.versions import split_chart


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    revision: int
    status: str
    chart: str
    version: str
    app_version: str
    updated: str = ""
    description: str = ""

    @property
    def pending(self) -> bool:
        return self.status.startswith("pending")


def _json(out: str, what: str) -> Any:
    try:
        return json.loads(out or "null")
    except json.JSONDecodeError as e:
        raise ParseError(f"helm {what} printed something that is not JSON: {e}") from None


def _release(row: dict[str, Any], namespace: str) -> Release:
    chart, version = split_chart(str(row.get("chart", "")))
    return Release(
        name=str(row.get("name", "")),
        namespace=str(row.get("namespace") or namespace),
        revision=int(row.get("revision") or 0),
        status=str(row.get("status", "")),
        chart=chart,
        version=version,
        app_version=str(row.get("app_version", "")),
        updated=str(row.get("updated", "")),
        description=str(row.get("description", "")),
    )


def list_releases(t: Target) -> list[Release]:
    # pending-* releases are hidden by default, and those are exactly the ones to refuse. Helm 4 dropped
    # --all, so name the states (these flags exist in every helm 3 and 4).
    states = ("--deployed", "--failed", "--pending", "--uninstalling")
    out = proc.run(t.helm, "list", *states, "--output", "json", *t.helm_flags())
    return [_release(r, t.namespace) for r in _json(out, "list") or []]


def history(t: Target, release: str) -> list[Release]:
    out = proc.run(t.helm, "history", release, "--max", "256", "--output", "json", *t.helm_flags())
    rows = _json(out, "history") or []
    return [_release({**r, "name": release}, t.namespace) for r in rows]


def server_side_apply(t: Target, release: str) -> bool:
    """Will `helm upgrade` use server-side apply? Helm 4 does when the release was applied that way
    ("auto"); then fields we changed (replicas, by scaling down) conflict unless forced."""
    version = proc.run(t.helm, "version", "--template", "{{.Version}}").strip()
    if not version.lstrip("v").split(".", 1)[0].isdigit() or int(version.lstrip("v").split(".", 1)[0]) < 4:
        return False
    out = proc.run(t.helm, "get", "metadata", release, "--output", "json", *t.helm_flags())
    return (_json(out, "get metadata") or {}).get("applyMethod") == "ssa"


def get_values(t: Target, release: str, *, revision: int) -> dict[str, Any]:
    out = proc.run(
        t.helm, "get", "values", release, "--revision", str(revision), "--output", "json", *t.helm_flags()
    )
    return _json(out, "get values") or {}  # helm prints `null` when there are no user values


def get_hooks(t: Target, release: str, *, revision: int | None = None) -> str:
    rev = ("--revision", str(revision)) if revision else ()
    return proc.run(t.helm, "get", "hooks", release, *rev, *t.helm_flags())


def get_manifest(t: Target, release: str, *, revision: int | None = None) -> str:
    rev = ("--revision", str(revision)) if revision else ()
    return proc.run(t.helm, "get", "manifest", release, *rev, *t.helm_flags())


def _values_args(values: str | None, files: tuple[str, ...]) -> list[str]:
    # Values fetched from the cluster may hold secrets: stdin only. The operator's own files go by path.
    return [a for f in files for a in ("-f", f)] or (["-f", "-"] if values is not None else [])


def template(
    t: Target,
    release: str,
    chart: str,
    *,
    version: str | None,
    values: str | None,
    show_only: str,
    values_files: tuple[str, ...] = (),
) -> str:
    """Render one template of a chart (-n matters: .Release.Namespace)."""
    argv = [t.helm, "template", release, chart, "--show-only", show_only, *_values_args(values, values_files)]
    if version and not is_local(chart):
        argv += ["--version", version]
    return proc.run(*argv, *t.helm_flags(), stdin=None if values_files else values)


def show_chart(t: Target, chart: str, *, version: str | None) -> dict[str, Any]:
    import yaml

    argv = [t.helm, "show", "chart", chart]
    if version and not is_local(chart):
        argv += ["--version", version]
    return yaml.safe_load(proc.run(*argv)) or {}


def upgrade_argv(
    t: Target,
    release: str,
    chart: str,
    *,
    version: str,
    description: str,
    wait: bool,
    timeout: str,
    values_files: tuple[str, ...] = (),
    force_conflicts: bool = False,
) -> list[str]:
    argv = [t.helm, "upgrade", "--install", release, chart, "--version", version, *t.helm_flags()]
    if force_conflicts:  # our scale-down owns .spec.replicas now; the chart must win it back
        argv.append("--force-conflicts")
    argv += [*_values_args("", values_files), "--description", description]
    if wait:
        argv += ["--wait", "--timeout", timeout]
    return argv


UPGRADE_GRACE = 60.0  # beyond helm's own --timeout: hooks, the release record, a slow API server


def upgrade(argv: tuple[str, ...], *, values: str | None, timeout: float) -> str:
    """helm upgrade, bounded by its --timeout plus a grace. On a signal helm gets it forwarded (it
    cancels and records the release as failed) instead of dying half way (pending-upgrade)."""
    bound = f"--helm-timeout {durations.go(timeout)} + {UPGRADE_GRACE:g}s"
    children.helm_stopped_after = None
    with proc.waiting():
        return proc.run(*argv, stdin=values, timeout=timeout + UPGRADE_GRACE, bound=bound, mode=proc.HELM)


def is_local(chart: str) -> bool:
    """helm ignores --version for a path or a .tgz (LocateChart returns it as is)."""
    return os.path.exists(chart) or chart.startswith((".", "/", "~")) or chart.endswith((".tgz", ".tar.gz"))
