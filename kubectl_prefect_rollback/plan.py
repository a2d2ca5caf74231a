"""Gather the facts of a rollback into one immutable Plan. Reads the cluster, never changes it
(except for a short-lived probe pod, deleted at once, when the target heads are known nowhere else)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubectl_prefect_rollback import (
    charts,
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
    sources,
    versions,
)
from kubectl_prefect_rollback.errors import AlreadyDone, Refused
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
    helm_timeout: float = helm.DEFAULT_TIMEOUT  # seconds; helm.upgrade_argv writes the Go duration
    lock_check: bool = False  # rollback: refuse a lock held by another run before probing anything
    force_unlock: bool = False


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
    yes_flag: bool = False  # the image's downgrade asks for confirmation unless given -y

    @property
    def lock_name(self) -> str:
        return lock.lease_name(self.release.name)

    @property
    def record_name(self) -> str:
        return records.name(self.release.name)

    def heads(self, which: str) -> dict[str, str | None]:
        return {d.name: getattr(d, which) for d in self.databases}

    @property
    def destructive(self) -> list[Migration]:
        return [m for d in self.databases for m in d.revert if m.destructive]


def _ours(history: list[helm.Release], revision: int) -> bool:
    return any(h.revision == revision and h.description.startswith("prefect-rollback:") for h in history)


def build(t: Target, opts: Options) -> Plan:
    to = versions.parse(opts.to).text  # bad input is refused before any process starts
    flags = {db: migrations.validate_revision(rev) for db, rev in opts.revisions.items() if rev}
    chart = charts.resolve(opts.chart, to)
    for f in opts.target_values:
        preflight.check_values_file(f)
    # a local chart is read now: a broken --chart is a usage error before any process starts
    chart_meta = charts.read_local_chart_yaml(chart) if helm.is_local(chart) else None
    rel = release.resolve(t, opts.release)
    release.refuse_pending(t, rel, to)  # our own interrupted upgrade passes: the chart step repairs it
    # A re-run of a rollback that finished: the release runs our own upgrade to the target (whose
    # description only helm history shows: helm list has none).
    at_target = not opts.force and rel.version == to and rel.status == "deployed"
    # Reads that do not depend on each other run side by side; `facts` chains the ones that do.
    facts, (listing, current_source), texts, live, ssa = proc.gather(
        lambda: sources.facts(
            t,
            rel,
            to,
            chart,
            flags,
            values_files=opts.target_values,
            lock_check=opts.lock_check,
            force_unlock=opts.force_unlock,
            check_direction=lambda cur, tgt, history: (
                None if at_target and _ours(history, rel.revision) else _check_direction(cur, tgt, opts.force)
            ),
            chart_meta=chart_meta,
        ),
        lambda: sources.current(t, rel, selector=opts.selector, pod=opts.pod, container=opts.container),
        lambda: sources.deployed_texts(t, rel.name, rel.revision),
        lambda: kube.list_(t, "deployments"),
        lambda: helm.server_side_apply(t, rel.name),
    )
    lease, warnings = facts.lease, []
    if facts.resumed:
        from_version, from_revision, saved = resume.lease_facts(lease)
        if from_revision != rel.revision:
            texts = sources.deployed_texts(t, rel.name, from_revision)
    else:
        from_version, from_revision = rel.version, rel.revision
    between = release.versions_between(facts.history, to, from_version)
    if len(between) > 1:
        warnings.append(
            f"{to} is {len(between)} releases back ({', '.join(between)}): Prefect supports one at a time"
        )
    render_from = opts.chart if opts.render_from_chart else None
    deployed_jobs = sources.migration_jobs(
        t, rel.name, from_revision, texts, render_from=render_from, version=from_version
    )
    values, values_source, values_files = facts.values

    if facts.resumed:
        dbs = tuple(Database(db, saved["from"].get(db), saved["to"].get(db)) for db in migrations.DATABASES)
        current_source = target_source = (
            f"the lock lease of the unfinished run ({lease.holder or 'released'})"
        )
        yes_flag = bool(lease.state("yes-flag"))
    else:
        if listing is None:
            listing, current_source = sources.probe_current(t, rel, deployed_jobs)
        target, target_source = facts.target
        yes_flag = bool(listing.yes_flag)
        dbs = tuple(_database(db, listing.chains.get(db), target.get(db)) for db in migrations.DATABASES)

    if at_target and _ours(facts.history, rel.revision) and not facts.resumed:
        _already_done(lease, dbs, to, rel.version)
    jobs = _downgrade_jobs(rel.name, deployed_jobs, dbs, from_version, from_revision, to, yes_flag)
    warnings += preflight.dry_run_jobs(t, jobs, for_rollback=opts.lock_check)
    deployments, objects = sources.deployments(texts[1], live)
    owner = release.gitops_owner(objects)
    if owner and not opts.ignore_gitops:
        raise Refused(
            f"release {rel.name} is reconciled by {owner}: it would undo the rollback behind your back",
            hint="Suspend its auto-sync first, then re-run with --ignore-gitops.",
        )
    if owner:
        warnings.append(f"reconciled by {owner}: make sure its auto-sync is suspended")
    revs = ", ".join(f"{d.name} {d.target}" for d in dbs if d.target)
    argv = helm.upgrade_argv(
        t,
        rel.name,
        chart,
        version=to,
        description=f"prefect-rollback: {from_version} -> {to}; {revs}"[:300],
        wait=opts.wait,
        timeout=opts.helm_timeout,
        values_files=values_files,
        force_conflicts=ssa and opts.scale_down,
    )
    destructive = sum(1 for d in dbs for m in d.revert if m.destructive)
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
        databases=dbs,
        jobs=tuple(jobs),
        deployments=tuple(deployments),
        helm_argv=tuple(argv),
        warnings=tuple(warnings),
        resumed=facts.resumed,
        yes_flag=yes_flag,
    )


def _downgrade_jobs(
    name: str,
    deployed: list[dict[str, Any]],
    dbs: tuple[Database, ...],
    from_version: str,
    from_revision: int,
    to: str,
    yes: bool,
) -> list[dict[str, Any]]:
    targets = {d.name: (d.target if d.current != d.target else None) for d in dbs}
    if not any(targets.values()):
        return []
    return manifests.downgrade_jobs(
        deployed,
        targets,
        name=manifests.job_name(name, to),
        labels={
            "app.kubernetes.io/managed-by": "kubectl-prefect-rollback",
            "app.kubernetes.io/instance": name,
        },
        annotations={
            "prefect-rollback/from-version": from_version,
            "prefect-rollback/to-version": to,
            # the same target name comes back after the next upgrade: this tells our Job from a leftover
            "prefect-rollback/from-revision": str(from_revision),
            **{f"prefect-rollback/{db}-revision": rev for db, rev in targets.items() if rev},
        },
        extra_args=("-y",) if yes else (),
    )


def _already_done(lease: lock.LeaseView | None, dbs: tuple[Database, ...], to: str, current: str) -> None:
    """Nothing left to do: exit 0 and say so. Anything short of that is the usual same-version refusal."""
    behind = [f"{d.name} {d.current} (target {d.target})" for d in dbs if d.current != d.target]
    if lease is None and not behind:
        raise AlreadyDone(f"already rolled back to {to}; databases at target heads")
    try:
        _check_direction(current, to, False)
    except Refused as e:
        why = f"lease {lease.obj['metadata']['name']} is left" if lease is not None else "; ".join(behind)
        raise Refused(f"{e.message} ({why})", hint=e.hint) from None


def _check_direction(current: str, to: str, force: bool) -> None:
    if versions.parse(to) < versions.parse(current) or force:
        return
    same = versions.parse(to) == versions.parse(current)
    raise Refused(
        f"--to {to} is {'the version already deployed' if same else 'newer than the deployed ' + current}: "
        "a rollback goes to an older chart version",
        hint=None if same else "Use helm upgrade to go forward, or --force if you really mean it.",
    )


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
