"""Where each fact of a plan comes from: values, the deployed migration Job, current and target heads,
and the release's Deployments. Read-only, apart from a short-lived probe pod when nothing else knows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubectl_prefect_rollback import (
    charts,
    heads,
    helm,
    kube,
    lock,
    manifests,
    migrations,
    preflight,
    proc,
    records,
    release,
    resume,
    versions,
)
from kubectl_prefect_rollback.errors import BadInput, ParseError, RollbackError
from kubectl_prefect_rollback.helm import Release
from kubectl_prefect_rollback.target import Target


def target_values(
    t: Target, name: str, history: list[Release], to: str, files: tuple[str, ...]
) -> tuple[str | None, str, tuple[str, ...]]:
    """(values YAML for stdin, where they come from, the operator's own files)."""
    if files:
        for f in files:
            preflight.check_values_file(f)
        return None, "files " + ", ".join(files), files
    known = release.newest_revision_at(history, to)
    if known is None:
        raise BadInput(
            f"no revision of {name}'s history ran chart {to}, so no values are known to work with it",
            hint="Pass --target-values FILE (the values file you used with that release).",
        )
    import yaml

    values = helm.get_values(t, name, revision=known.revision)
    return yaml.safe_dump(values, sort_keys=False), f"revision {known.revision}, the last that ran {to}", ()


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
        text = helm.template(
            t, name, chart, version=version, values=values, show_only=manifests.MIGRATION_TEMPLATE
        )
        jobs = manifests.migration_jobs(text, what=f"helm template {chart}")
    else:
        hooks, manifest = texts
        jobs = manifests.migration_jobs(hooks, what=f"helm get hooks {name}") or manifests.migration_jobs(
            manifest, what=f"helm get manifest {name}"
        )
    if not jobs:
        raise RollbackError(
            f"release {name} (revision {revision}) has no Job from {manifests.MIGRATION_TEMPLATE}"
            f" (`helm get hooks {name}` and `helm get manifest {name}` show none)",
            hint="Pass --render-from-chart with --chart to render it from the chart instead.",
        )
    return jobs


@dataclass(frozen=True)
class Facts:
    """What the lock, the history and the records say, and the target heads when they were needed."""

    lease: lock.LeaseView | None
    resumed: bool
    history: list[Release]
    values: tuple[str | None, str, tuple[str, ...]]
    target: tuple[dict[str, str | None], str] | None  # None when resuming: the lease has them


def facts(
    t: Target,
    rel: Release,
    to: str,
    chart: str,
    flags: dict[str, str],
    *,
    values_files: tuple[str, ...],
    lock_check: bool,
    force_unlock: bool,
    check_direction: Callable[[str, str, list[Release]], None],
    chart_meta: dict[str, Any] | None = None,
) -> Facts:
    """One chain of dependent reads, run beside the others: each refusal comes before the probe pod."""
    lease = lock.read(t, rel.name)
    if lock_check and lease is not None:  # a live holder is refused before anything is created
        lock.check_takeover(lease, to, force_unlock=force_unlock, at=lock.now())
    # A run that stopped half way left its facts on the lease: the servers may be gone by now.
    history, recorded = proc.gather(lambda: helm.history(t, rel.name), lambda: records.read(t, rel.name))
    resumed = resume.resumes(lease, history, rel, to, force_unlock=force_unlock)
    if not resumed:
        check_direction(rel.version, to, history)
    meta = chart_meta if chart_meta is not None else charts.chart_metadata(t, chart, to)
    charts.verify_version(meta, chart, to, rel.chart)
    values = target_values(t, rel.name, history, to, values_files)
    rendered = preflight.render_target(t, rel, chart, to, values[0], values[2])
    target = None if resumed else target_heads(t, rel, to, chart, rendered, flags, recorded)
    return Facts(lease, resumed, history, values, target)


def current(
    t: Target, rel: Release, *, selector: str | None, pod: str | None, container: str | None
) -> tuple[heads.Listing | None, str]:
    """Chains from a running server pod, or (None, "") when none runs (an earlier attempt scaled it down)."""
    server = heads.find_server_pod(kube.list_(t, "pods", selector), rel.name, pod=pod, container=container)
    if server is None:
        return None, ""
    # the listing is shell + awk; the help check starts the image's CLI: run them side by side
    listing, yes = proc.gather(lambda: heads.read_chains(t, server), lambda: heads.takes_yes(t, server))
    return heads.Listing(listing.chains, yes), f"pod {server.name}, container {server.container}"


def probe_current(t: Target, rel: Release, jobs: list[dict[str, Any]]) -> tuple[heads.Listing, str]:
    name = f"{rel.name}-probe-{versions.dashed(rel.version)}"
    listing = heads.probe(t, jobs[0], name=name, with_help=True)
    return listing, "a probe pod from the deployed migration Job (its image)"


def target_heads(
    t: Target,
    rel: Release,
    to: str,
    chart: str,
    rendered: str,
    flags: dict[str, str],
    recorded: dict[str, dict[str, Any]],
) -> tuple[dict[str, str | None], str]:
    """Flags, else the records ConfigMap, else a probe pod from the target chart's migration Job."""
    if set(flags) >= {"nebula", "orion"}:
        return {db: flags.get(db) for db in migrations.DATABASES}, "--*-revision flags"
    known = records.heads(recorded, to)
    if known:
        return {**known, **flags}, f"configmap {records.name(rel.name)}"
    jobs = manifests.migration_jobs(rendered, what=f"helm template {chart}")
    if not jobs:
        raise RollbackError(
            f"chart {chart} renders no migration Job (`helm template {rel.name} {chart}` shows none), "
            "so the target heads are unknown",
            hint="Pass --nebula-revision, --orion-revision and --events-revision.",
        )
    name = f"{rel.name}-probe-{versions.dashed(to)}"
    chains = heads.probe(t, jobs[0], name=name).chains
    return {**heads.heads_of(chains), **flags}, f"a probe pod from chart {to}'s migration Job (its image)"


def deployments(
    manifest: str, live: list[dict[str, Any]]
) -> tuple[list[tuple[str, int]], list[dict[str, Any]]]:
    """The release's Deployments (named by its manifest, not guessed from labels) and their live objects."""
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
