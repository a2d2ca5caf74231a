"""Which release we act on, and whether it is safe to touch at all."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubectl_prefect_rollback import helm, versions
from kubectl_prefect_rollback.errors import Refused, RollbackError
from kubectl_prefect_rollback.helm import Release
from kubectl_prefect_rollback.target import Target

CHART_NAME = "prefect-cloud"


def resolve(t: Target, name: str | None) -> Release:
    """The release named, or the one release of a prefect-cloud chart in the namespace."""
    releases = helm.list_releases(t)
    if name:
        found = [r for r in releases if r.name == name]
        if not found:
            raise RollbackError(
                f"no helm release {name!r} in namespace {t.namespace}",
                hint=_known(releases) or "Check -n/--namespace and --context.",
            )
        rel = found[0]
    else:
        ours = [r for r in releases if r.chart == CHART_NAME]
        if not ours:
            raise RollbackError(
                f"no release of the {CHART_NAME} chart in namespace {t.namespace}",
                hint=_known(releases) or "Check -n/--namespace and --context, or pass --release.",
            )
        if len(ours) > 1:
            names = ", ".join(r.name for r in ours)
            raise RollbackError(f"several {CHART_NAME} releases in {t.namespace} ({names}): pass --release")
        rel = ours[0]
    return rel


def refuse_pending(t: Target, rel: Release, to: str | None = None) -> None:
    """A pending-* release is refused unless it is our own interrupted upgrade to `to`, which the
    chart step then waits for (helm may still run it) or repairs."""
    if not rel.pending:
        return
    from kubectl_prefect_rollback import leases

    why_not = not_ours(leases.read(t, rel.name), rel, to)
    if why_not:
        raise Refused(
            f"release {rel.name} is {rel.status} at revision {rel.revision}: another helm operation is in "
            f"progress or died half way ({why_not})",
            hint="Its state cannot be trusted. Finish or repair it first (see `helm history`), then re-run.",
        )


def not_ours(lease: Any, rel: Release, to: str | None) -> str:
    """Why this pending release is not our own upgrade to the target ("" when it is).

    Ours means: the lock lease holds this rollback's chart record (written with the lock, or just
    before helm starts, with the revision the release had then), the pending revision is newer than that
    one, it is a pending-upgrade, and it runs the target chart version. helm writes the pending record
    with the description "Preparing upgrade", so the description cannot tell."""
    chart = lease.state("chart") if lease is not None else None
    if not chart:
        return "no unfinished rollback of ours started a helm upgrade"
    if to is not None and lease.target != to:
        return f"the unfinished rollback goes to {lease.target}, not {to}"
    if rel.status != "pending-upgrade":
        return f"we only run upgrades, this is {rel.status}"
    if rel.revision <= int(chart.get("after-revision") or 0):
        return f"our upgrade started after revision {chart.get('after-revision')}"
    if rel.version != chart.get("version"):
        return f"it runs chart {rel.version}, our upgrade went to {chart.get('version')}"
    return ""


def _known(releases: Iterable[Release]) -> str:
    names = [f"{r.name} ({r.chart} {r.version})" for r in releases]
    return f"Releases here: {', '.join(names)}." if names else ""


def gitops_owner(objects: Iterable[dict[str, Any]]) -> str | None:
    """Name the GitOps controller that reconciles these objects, if any: it would undo the rollback."""
    for obj in objects:
        meta = obj.get("metadata") or {}
        labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
        if "helm.toolkit.fluxcd.io/name" in labels:
            ns = labels.get("helm.toolkit.fluxcd.io/namespace", "")
            return f"Flux HelmRelease {ns + '/' if ns else ''}{labels['helm.toolkit.fluxcd.io/name']}"
        if "argocd.argoproj.io/tracking-id" in annotations or "argocd.argoproj.io/instance" in labels:
            app = annotations.get("argocd.argoproj.io/tracking-id", "").split(":", 1)[0]
            return f"Argo CD application {app or labels.get('argocd.argoproj.io/instance')}"
    return None


def newest_revision_at(history: list[Release], version: str) -> Release | None:
    """The newest history entry that ran this chart version and got deployed (or superseded)."""
    good = ("deployed", "superseded")
    for rel in sorted(history, key=lambda r: r.revision, reverse=True):
        if rel.version == version and rel.status in good:
            return rel
    return None


def versions_between(history: list[Release], older: str, newer: str) -> list[str]:
    """Distinct chart versions deployed after `older` up to `newer`, to warn about long jumps."""
    lo, hi = versions.parse(older), versions.parse(newer)
    seen = {r.version for r in history if r.version and versions.is_version(r.version)}
    return sorted((v for v in seen if lo < versions.parse(v) <= hi), key=versions.parse)


def ran_ours(history: list[Release], revision: int) -> bool:
    """This revision is our own upgrade (its description says so; `helm list` shows none)."""
    return any(h.revision == revision and h.description.startswith("prefect-rollback:") for h in history)


def check_direction(current: str, to: str, force: bool) -> None:
    """A rollback goes to an older chart version: the same or a newer one is refused unless --force."""
    if versions.parse(to) < versions.parse(current) or force:
        return
    same = versions.parse(to) == versions.parse(current)
    raise Refused(
        f"--to {to} is {'the version already deployed' if same else 'newer than the deployed ' + current}: "
        "a rollback goes to an older chart version",
        hint=None if same else "Use helm upgrade to go forward, or --force if you really mean it.",
    )
