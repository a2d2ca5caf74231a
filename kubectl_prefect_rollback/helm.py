"""Thin, typed wrappers over the helm CLI. Every argv is built from one Target; JSON is parsed here."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from kubectl_prefect_rollback import children, costs, durations, names, proc
from kubectl_prefect_rollback.constants import HELM_TIMEOUT
from kubectl_prefect_rollback.errors import ParseError
from kubectl_prefect_rollback.helm_argv import values_args
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


def _json(out: str, what: str, shape: type = object) -> Any:
    """helm's JSON, of the shape asked (`null` counts as empty); else a ParseError naming the command.

    helm's `--output json` always prints a document (`[]`, `null`): nothing at all is a broken helm or
    a cut connection, never "no releases"."""
    if not out.strip():
        raise ParseError(f"helm {what} printed nothing, not JSON")
    try:
        data = json.loads(out)
    except (json.JSONDecodeError, RecursionError) as e:
        raise ParseError(f"helm {what} printed something that is not JSON: {e}") from None
    if data is None and shape is not object:
        return shape()
    if not isinstance(data, shape):
        raise ParseError(f"helm {what} printed a JSON {type(data).__name__}, not a {shape.__name__}")
    return data


def _release(row: Any, namespace: str, what: str) -> Release:
    if not isinstance(row, dict):
        raise ParseError(f"helm {what} printed a row that is not an object: {str(row)[:80]!r}")
    for key in ("name", "chart", "status"):
        if not isinstance(row.get(key), str):
            raise ParseError(f"helm {what} printed a row without a {key} string")
    revision = row.get("revision")
    if isinstance(revision, str) and revision.isdigit():
        revision = int(revision)
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
        raise ParseError(f"helm {what} printed revision {revision!r} for {row['name']!r}, not a number")
    ns = row.get("namespace") or namespace
    chart, version = split_chart(row["chart"])
    return Release(
        name=names.from_cluster(row["name"], "a release named", f"helm {what}", rule="release"),
        namespace=names.from_cluster(ns, "a namespace", f"helm {what}", rule="label"),
        revision=revision,
        status=row["status"],
        chart=chart,
        version=version,
        app_version=str(row.get("app_version") or ""),
        updated=str(row.get("updated") or ""),
        description=str(row.get("description") or ""),
    )


def list_releases(t: Target) -> list[Release]:
    # pending-* releases are hidden by default, and those are exactly the ones to refuse. Helm 4 dropped
    # --all, so name the states (these flags exist in every helm 3 and 4).
    states = ("--deployed", "--failed", "--pending", "--uninstalling")
    out = proc.run(t.helm, "list", *states, "--output", "json", *t.helm_flags())
    return [_release(r, t.namespace, "list") for r in _json(out, "list", list)]


def history(t: Target, release: str) -> list[Release]:
    out = proc.run(t.helm, "history", release, "--max", "256", "--output", "json", *t.helm_flags())
    rows = _json(out, f"history {release}", list)
    return [
        _release({**r, "name": release} if isinstance(r, dict) else r, t.namespace, f"history {release}")
        for r in rows
    ]


def server_side_apply(t: Target, release: str) -> bool:
    """Will `helm upgrade` use server-side apply? Helm 4 does when the release was applied that way
    ("auto"); then fields we changed (replicas, by scaling down) conflict unless forced. Only helm 4's
    `get metadata` names an applyMethod: one call answers for helm 3.13+ and 4; `helm version` is asked
    only when it fails (older helm 3 has no `get metadata`; on helm 4 its error stands)."""
    try:
        out = proc.run(t.helm, "get", "metadata", release, "--output", "json", *t.helm_flags())
    except proc.CommandError:
        if _major(proc.run(t.helm, "version", "--template", "{{.Version}}")) < 4:
            return False
        raise
    return _json(out, f"get metadata {release}", dict).get("applyMethod") == "ssa"


def _major(version: str) -> int:
    head = version.strip().lstrip("v").split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def get_values(t: Target, release: str, *, revision: int) -> dict[str, Any]:
    out = proc.run(
        t.helm, "get", "values", release, "--revision", str(revision), "--output", "json", *t.helm_flags()
    )
    return _json(out, f"get values {release}", dict)  # helm prints `null` when there are no user values


def get_hooks(t: Target, release: str, *, revision: int | None = None) -> str:
    rev = ("--revision", str(revision)) if revision else ()
    return proc.run(t.helm, "get", "hooks", release, *rev, *t.helm_flags())


def get_manifest(t: Target, release: str, *, revision: int | None = None) -> str:
    rev = ("--revision", str(revision)) if revision else ()
    return proc.run(t.helm, "get", "manifest", release, *rev, *t.helm_flags())


def template(
    t: Target,
    release: str,
    chart: str,
    *,
    version: str | None,
    values: str | None,
    show_only: str | None,
    values_files: tuple[str, ...] = (),
) -> str:
    """Render one template of a chart, or the whole chart (-n matters: .Release.Namespace)."""
    shown = ["--show-only", show_only] if show_only else []
    argv = [t.helm, "template", release, chart, *shown, *values_args(values, values_files)]
    if version and not is_local(chart):
        argv += ["--version", version]
    return proc.run(*argv, *t.helm_flags(), stdin=None if values_files else values)


def show_chart(t: Target, chart: str, *, version: str | None) -> dict[str, Any]:
    from kubectl_prefect_rollback import yamlsafe

    argv = [t.helm, "show", "chart", chart]
    if version and not is_local(chart):
        argv += ["--version", version]
    return yamlsafe.load_mapping(proc.run(*argv), what=f"helm show chart {chart}")


DEFAULT_TIMEOUT = HELM_TIMEOUT  # the --helm-timeout default (constants.HELM_TIMEOUT)
UPGRADE_GRACE = 60.0  # beyond helm's own --timeout: hooks, the release record, a slow API server


def upgrade(argv: tuple[str, ...], *, values: str | None, timeout: float) -> str:
    """helm upgrade, bounded by its --timeout plus a grace. On a signal helm gets it forwarded (it
    cancels and records the release as failed) instead of dying half way (pending-upgrade)."""
    bound = f"--helm-timeout {durations.go(timeout)} + {UPGRADE_GRACE:g}s"
    children.helm_stopped_after = None
    with costs.waiting():
        return proc.run(*argv, stdin=values, timeout=timeout + UPGRADE_GRACE, bound=bound, mode=proc.HELM)


def is_local(chart: str) -> bool:
    """helm ignores --version for a path or a .tgz (LocateChart returns it as is)."""
    return os.path.exists(chart) or chart.startswith((".", "/", "~")) or chart.endswith((".tgz", ".tar.gz"))
