"""Gather the facts of a rollback into one immutable Plan. Reads the cluster, never changes it
(except for a short-lived probe pod, deleted at once, when the target heads are known nowhere else)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubectl_prefect_rollback import charts, heads, helm, lock, manifests, migrations, release, versions
from kubectl_prefect_rollback.errors import BadInput, Refused, RollbackError
from kubectl_prefect_rollback.helm import Release
from kubectl_prefect_rollback.migrations import Migration
from kubectl_prefect_rollback.target import Target


@dataclass(frozen=True)
class Options:
    to: str
    release: str | None = None
    chart: str = charts.DEFAULT_CHART
    target_values: tuple[str, ...] = ()
    revisions: dict[str, str] = field(default_factory=dict)  # --nebula-revision & co.
    pod: str | None = None
    selector: str | None = None
    container: str | None = None
    force: bool = False
    ignore_gitops: bool = False
    render_from_chart: bool = False
    scale_down: bool = True
    wait: bool = True
    helm_timeout: str = "10m"


@dataclass(frozen=True)
class Database:
    name: str
    current: str | None
    target: str | None
    revert: tuple[Migration, ...] = ()

    @property
    def present(self) -> bool:
        return self.current is not None or self.target is not None


@dataclass(frozen=True)
class Plan:
    release: Release
    namespace: str
    from_version: str
    from_revision: int
    to_version: str
    chart: str
    values: str | None  # YAML for `helm -f -`: secret, never printed
    values_source: str
    current_source: str
    target_source: str
    databases: tuple[Database, ...]
    jobs: tuple[dict[str, Any], ...]
    deployments: tuple[tuple[str, int], ...]
    helm_argv: tuple[str, ...]
    warnings: tuple[str, ...]
    resumed: bool = False

    @property
    def lock_name(self) -> str:
        return lock.lease_name(self.release.name)

    @property
    def record_name(self) -> str:
        return heads.record_name(self.release.name)

    def heads(self, which: str) -> dict[str, str | None]:
        return {d.name: getattr(d, which) for d in self.databases}

    @property
    def destructive(self) -> list[Migration]:
        return [m for d in self.databases for m in d.revert if m.destructive]


def build(t: Target, opts: Options) -> Plan:
    rel = release.resolve(t, opts.release)
    release.refuse_pending(rel)
    to = versions.parse(opts.to).text
    flags = {db: migrations.validate_revision(rev) for db, rev in opts.revisions.items() if rev}
    history = helm.history(t, rel.name)
    lease = lock.read(t, rel.name)
    resumed = lease is not None and lease.target == to and bool(lease.state("from-version"))
    warnings: list[str] = []

    if resumed:
        from_version, from_revision = lease.state("from-version"), int(lease.state("from-revision"))
    else:
        from_version, from_revision = rel.version, rel.revision
        _check_direction(from_version, to, force=opts.force)
    between = release.versions_between(history, to, from_version)
    if len(between) > 1:
        warnings.append(
            f"{to} is {len(between)} releases back ({', '.join(between)}): Prefect supports one at a time"
        )

    chart = charts.resolve(opts.chart, to)
    charts.verify_version(charts.chart_metadata(t, chart, to), chart, to, rel.chart)
    values, values_source, values_files = _target_values(t, rel.name, history, to, opts.target_values)

    deployed_jobs = _migration_jobs(t, rel.name, from_revision, opts, from_version)
    if resumed:
        saved = lease.state("heads") or {}
        db_plans = tuple(
            Database(db, saved.get("from", {}).get(db), saved.get("to", {}).get(db))
            for db in migrations.DATABASES
        )
        current_source = target_source = (
            f"the lock lease of the unfinished run ({lease.holder or 'released'})"
        )
    else:
        chains, current_source = _current_chains(t, rel, deployed_jobs, opts)
        target_heads, target_source = _target_heads(t, rel, to, chart, values, values_files, flags)
        db_plans = tuple(_database(db, chains.get(db), target_heads.get(db)) for db in migrations.DATABASES)

    name = manifests.job_name(rel.name, to)
    targets = {d.name: (d.target if d.current != d.target else None) for d in db_plans}
    jobs = (
        manifests.downgrade_jobs(
            deployed_jobs,
            targets,
            name=name,
            labels={
                "app.kubernetes.io/managed-by": "kubectl-prefect-rollback",
                "app.kubernetes.io/instance": rel.name,
            },
            annotations={
                "prefect-rollback/from-version": from_version,
                "prefect-rollback/to-version": to,
                **{f"prefect-rollback/{d.name}-revision": d.target for d in db_plans if targets[d.name]},
            },
        )
        if any(targets.values())
        else []
    )

    deployments, objects = _deployments(t, rel.name, from_revision)
    owner = release.gitops_owner(objects)
    if owner and not opts.ignore_gitops:
        raise Refused(
            f"release {rel.name} is reconciled by {owner}: it would undo the rollback behind your back",
            hint="Suspend its auto-sync first, then re-run with --ignore-gitops.",
        )
    if owner:
        warnings.append(f"reconciled by {owner}: make sure its auto-sync is suspended")

    description = f"prefect-rollback: {from_version} -> {to}; " + ", ".join(
        f"{d.name} {d.target}" for d in db_plans if d.target
    )
    argv = helm.upgrade_argv(
        t,
        rel.name,
        chart,
        version=to,
        description=description[:300],
        wait=opts.wait,
        timeout=opts.helm_timeout,
        values_files=values_files,
    )
    destructive = sum(1 for d in db_plans for m in d.revert if m.destructive)
    if destructive:
        warnings.append(f"{destructive} migration(s) drop data when reverted: take database backups first.")
    return Plan(
        release=rel,
        namespace=t.namespace,
        from_version=from_version,
        from_revision=from_revision,
        to_version=to,
        chart=chart,
        values=values,
        values_source=values_source,
        current_source=current_source,
        target_source=target_source,
        databases=db_plans,
        jobs=tuple(jobs),
        deployments=tuple(deployments),
        helm_argv=tuple(argv),
        warnings=tuple(warnings),
        resumed=resumed,
    )


def _check_direction(current: str, to: str, *, force: bool) -> None:
    if versions.parse(to) < versions.parse(current) or force:
        return
    same = versions.parse(to) == versions.parse(current)
    raise Refused(
        f"--to {to} is {'the version already deployed' if same else 'newer than the deployed ' + current}: "
        "a rollback goes to an older chart version",
        hint=None if same else "Use helm upgrade to go forward, or --force if you really mean it.",
    )


def _target_values(
    t: Target, name: str, history: list[Release], to: str, files: tuple[str, ...]
) -> tuple[str | None, str, tuple[str, ...]]:
    if files:
        for f in files:
            if not Path(f).is_file():
                raise BadInput(f"values file {f} does not exist")
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


def _migration_jobs(t: Target, name: str, revision: int, opts: Options, version: str) -> list[dict[str, Any]]:
    """The migration Job as last deployed at the current version (it knows the way down)."""
    if opts.render_from_chart:
        import yaml

        values = yaml.safe_dump(helm.get_values(t, name, revision=revision))
        chart = charts.resolve(opts.chart, version)
        text = helm.template(
            t, name, chart, version=version, values=values, show_only=manifests.MIGRATION_TEMPLATE
        )
        jobs = manifests.migration_jobs(text)
    else:
        jobs = manifests.migration_jobs(helm.get_hooks(t, name, revision=revision))
        if not jobs:
            jobs = manifests.migration_jobs(helm.get_manifest(t, name, revision=revision))
    if not jobs:
        raise RollbackError(
            f"release {name} (revision {revision}) has no Job from {manifests.MIGRATION_TEMPLATE}",
            hint="Pass --render-from-chart with --chart to render it from the chart instead.",
        )
    return jobs


def _current_chains(t: Target, rel: Release, jobs: list[dict[str, Any]], opts: Options) -> tuple[dict, str]:
    server = heads.find_server_pod(
        t, rel.name, pod=opts.pod, selector=opts.selector, container=opts.container
    )
    if server:
        return heads.read_chains(t, server), f"pod {server.name}, container {server.container}"
    name = f"{rel.name}-probe-{versions.dashed(rel.version)}"
    return heads.probe(t, jobs[0], name=name), f"probe pod {name} (image of the deployed migration Job)"


def _target_heads(
    t: Target,
    rel: Release,
    to: str,
    chart: str,
    values: str | None,
    files: tuple[str, ...],
    flags: dict[str, str],
) -> tuple[dict[str, str | None], str]:
    if flags and set(flags) >= {"nebula", "orion"}:
        return {db: flags.get(db) for db in migrations.DATABASES}, "--*-revision flags"
    recorded = heads.recorded_heads(heads.read_records(t, rel.name), to)
    if recorded:
        return {**recorded, **flags}, f"configmap {heads.record_name(rel.name)}"
    text = helm.template(
        t,
        rel.name,
        chart,
        version=to,
        values=values,
        values_files=files,
        show_only=manifests.MIGRATION_TEMPLATE,
    )
    jobs = manifests.migration_jobs(text)
    if not jobs:
        raise RollbackError(
            f"chart {chart} renders no migration Job, so the target heads are unknown",
            hint="Pass --nebula-revision, --orion-revision and --events-revision.",
        )
    name = f"{rel.name}-probe-{versions.dashed(to)}"
    chains = heads.probe(t, jobs[0], name=name)
    return {**heads.heads_of(chains), **flags}, f"probe pod {name} (image of chart {to})"


def _database(db: str, chain: migrations.Chain | None, target: str | None) -> Database:
    if chain is None:
        if target is not None:
            raise Refused(f"{db}: the current image has no {db} migrations, yet the target has head {target}")
        return Database(db, None, None)
    if target is None:
        raise Refused(
            f"{db}: the target release has no {db} migrations; reverting would drop the whole {db} schema",
            hint=f"Pass --{db}-revision REV if you really mean to go that far.",
        )
    return Database(db, chain.head, target, tuple(chain.path_to(target)))


def _deployments(t: Target, name: str, revision: int) -> tuple[list[tuple[str, int]], list[dict[str, Any]]]:
    from kubectl_prefect_rollback import kube

    wanted = {
        doc.get("metadata", {}).get("name")
        for _, doc in manifests.load_documents(helm.get_manifest(t, name, revision=revision))
        if doc.get("kind") == "Deployment"
    }
    live = [d for d in kube.list_(t, "deployments") if d["metadata"]["name"] in wanted]
    return [(d["metadata"]["name"], int(d["spec"].get("replicas", 1))) for d in live], live
