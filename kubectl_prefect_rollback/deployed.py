"""What a deployed revision runs: its hooks and manifest as helm stored them, and its migration Job
(the image that knows the way down). Shared by plan facts, status, abort, backup and restore."""

from __future__ import annotations

from typing import Any

from kubectl_prefect_rollback import charts, helm, manifests, proc
from kubectl_prefect_rollback.constants import MIGRATION_TEMPLATE
from kubectl_prefect_rollback.errors import ParseError, RollbackError
from kubectl_prefect_rollback.target import Target


def deployed_texts(t: Target, name: str, revision: int) -> tuple[str, str]:
    """`helm get hooks` and `helm get manifest` of one revision, fetched side by side."""
    hooks, manifest = proc.gather(
        lambda: helm.get_hooks(t, name, revision=revision),
        lambda: helm.get_manifest(t, name, revision=revision),
    )
    return hooks, manifest


def migration_jobs(
    t: Target, name: str, revision: int, texts: tuple[str, str], *, render_from: str | None, version: str
) -> list[dict[str, Any]]:
    """The migration Job as deployed at the current version: its image knows the way down."""
    if render_from:
        import yaml

        values = yaml.safe_dump(helm.get_values(t, name, revision=revision))
        chart = charts.resolve(render_from, version)
        text = helm.template(t, name, chart, version=version, values=values, show_only=MIGRATION_TEMPLATE)
        jobs = manifests.migration_jobs(text, what=f"helm template {chart}")
    else:
        hooks, manifest = texts
        jobs = manifests.migration_jobs(hooks, what=f"helm get hooks {name}") or manifests.migration_jobs(
            manifest, what=f"helm get manifest {name}"
        )
    if not jobs:
        raise RollbackError(
            f"release {name} (revision {revision}) has no Job from {MIGRATION_TEMPLATE}"
            f" (`helm get hooks {name}` and `helm get manifest {name}` show none)",
            hint="Pass --render-from-chart with --chart to render it from the chart instead.",
        )
    return jobs


def of_revision(
    t: Target, name: str, revision: int, version: str
) -> tuple[tuple[str, str], list[dict[str, Any]]]:
    """(hooks and manifest, migration Jobs) of one deployed revision, as helm stored it."""
    texts = deployed_texts(t, name, revision)
    return texts, migration_jobs(t, name, revision, texts, render_from=None, version=version)


def deployments(
    manifest: str, live: list[dict[str, Any]]
) -> tuple[list[tuple[str, int]], list[dict[str, Any]]]:
    """Pure: the release's Deployments (named by its manifest, not guessed from labels), live objects."""
    wanted = {
        doc.get("metadata", {}).get("name")
        for _, doc in manifests.load_documents(manifest, "the deployed manifest (`helm get manifest`)")
        if doc.get("kind") == "Deployment"
    }
    mine = [d for d in live if d["metadata"]["name"] in wanted]
    for d in mine:
        replicas = (d.get("spec") or {}).get("replicas", 1)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise ParseError(f"kubectl get deployments: {d['metadata']['name']} has replicas {replicas!r}")
    return [(d["metadata"]["name"], int((d.get("spec") or {}).get("replicas", 1))) for d in mine], mine


def chart_replicas(rendered: str) -> dict[str, int]:
    """Pure: Deployments the target chart renders with a replicas count of its own. helm sets those
    itself; only the others keep our zero and need the operator's count put back. A rendering our
    parser refuses only costs the read after helm, so it is not an error here."""
    try:
        docs = manifests.load_documents(rendered, "helm template of the target chart")
    except ParseError:
        return {}
    found = {}
    for _, doc in docs:
        replicas = (doc.get("spec") or {}).get("replicas") if doc.get("kind") == "Deployment" else None
        if isinstance(replicas, int) and not isinstance(replicas, bool):
            found[str((doc.get("metadata") or {}).get("name"))] = replicas
    return found
