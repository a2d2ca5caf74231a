"""Assemble a rollback Plan from the Facts gathered (facts.py). Pure: no process, no clock, no cluster;
the same Facts and Options always give the same Plan, or the same refusal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubectl_prefect_rollback import deployed, job_rewrite, leases, migrations, names, records, release
from kubectl_prefect_rollback.constants import DATABASES, FROM_REVISION, INSTANCE_LABEL, MANAGED_BY, PREFIX
from kubectl_prefect_rollback.errors import AlreadyDone, Refused
from kubectl_prefect_rollback.facts import Facts, Options
from kubectl_prefect_rollback.helm_argv import upgrade_argv
from kubectl_prefect_rollback.job_rewrite import DowngradeJob
from kubectl_prefect_rollback.migrations import Migration

if TYPE_CHECKING:
    from kubectl_prefect_rollback.helm import Release

__all__ = ["Database", "Options", "Plan", "assemble"]  # Options lives with the reads it steers


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
    downgrades: tuple[DowngradeJob, ...]
    deployments: tuple[tuple[str, int], ...]
    helm_argv: tuple[str, ...]
    warnings: tuple[str, ...]
    lease: leases.LeaseView | None = None  # as the plan saw it: the lock step takes it only if unchanged
    records: records.Seen | None = None  # the records ConfigMap as seen: the record step writes from it
    resumed: bool = False
    yes_flag: bool = False  # the image's downgrade asks for confirmation unless given -y
    current_cli: records.Cli | None = None  # the server image asked about -y: the record step keeps it
    checked_at: int = 0  # where the dry-run's warnings go among the others (preflight.check_plan)
    leftovers: tuple[dict[str, Any], ...] | None = None  # probe/backup pods of ours the plan saw (Facts)
    chart_replicas: Mapping[str, int] = field(default_factory=dict)  # Deployments the chart scales itself
    target_files: str = ""  # the target heads are the listing of these files (Facts.target_files)
    current_files: str = ""  # the current heads are the listing of these (heads.Listing.files)

    @property
    def jobs(self) -> tuple[dict[str, Any], ...]:
        """The downgrade Jobs' manifests, as applied and shown."""
        return tuple(d.manifest for d in self.downgrades)

    @property
    def lock_name(self) -> str:
        return leases.lease_name(self.release.name)

    @property
    def record_name(self) -> str:
        return records.name(self.release.name)

    def heads(self, which: str) -> dict[str, str | None]:
        return {d.name: getattr(d, which) for d in self.databases}

    @property
    def destructive(self) -> list[Migration]:
        """Migrations to revert that drop data (backup_plan asks for a backup first)."""
        return [m for d in self.databases for m in d.revert if m.destructive]


def assemble(f: Facts, opts: Options) -> Plan:
    rel, to, t = f.release, f.to, f.target
    warnings = _jump(f)
    dbs, current_source, target_source, yes_flag = _databases(f)
    at_target = not opts.force and rel.version == to and rel.status == "deployed"
    if at_target and release.ran_ours(list(f.history), rel.revision) and not f.resumed:
        _already_done(f.lease, dbs, to, rel.version)
    downgrades = _downgrade_jobs(f, dbs, yes_flag)
    deployments, objects = deployed.deployments(f.manifest, list(f.live_deployments))
    checked_at = len(warnings)
    warnings += _gitops(rel.name, objects, opts.ignore_gitops)
    argv = _helm_argv(f, opts, dbs)
    destructive = sum(1 for d in dbs for m in d.revert if m.destructive)
    if destructive:
        warnings.append(f"{destructive} migration(s) drop data when reverted: take database backups first.")
    return Plan(
        release=rel,
        namespace=t.namespace,
        from_version=f.from_version,
        from_revision=f.from_revision,
        to_version=to,
        chart=f.chart,
        values=f.values.text,
        values_source=f.values.source,
        current_source=current_source,
        target_source=target_source,
        databases=dbs,
        downgrades=tuple(downgrades),
        deployments=tuple(deployments),
        helm_argv=tuple(argv),
        warnings=tuple(warnings),
        lease=f.lease,
        records=f.records_seen,
        resumed=f.resumed,
        yes_flag=yes_flag,
        current_cli=None if f.resumed or f.listing is None else f.listing.cli,
        checked_at=checked_at,
        leftovers=f.leftovers,
        chart_replicas=f.chart_replicas,
        target_files=f.target_files,
        current_files="" if f.resumed or f.listing is None else f.listing.files,
    )


def _helm_argv(f: Facts, opts: Options, dbs: tuple[Database, ...]) -> list[str]:
    revs = ", ".join(f"{d.name} {d.target}" for d in dbs if d.target)
    return upgrade_argv(
        f.target,
        f.release.name,
        f.chart,
        version=f.to,
        description=f"prefect-rollback: {f.from_version} -> {f.to}; {revs}"[:300],
        wait=opts.wait,
        timeout=opts.helm_timeout,
        values_files=f.values.files,
        force_conflicts=f.server_side_apply and opts.scale_down,
    )


def _jump(f: Facts) -> list[str]:
    between = release.versions_between(list(f.history), f.to, f.from_version)
    if len(between) <= 1:
        return []
    return [f"{f.to} is {len(between)} releases back ({', '.join(between)}): Prefect supports one at a time"]


def _databases(f: Facts) -> tuple[tuple[Database, ...], str, str, bool]:
    """(databases, where the current heads come from, where the target heads do, the -y flag)."""
    if f.resumed:
        assert f.saved is not None and f.lease is not None  # facts.gather reads both when resuming
        dbs = tuple(Database(db, f.saved["from"].get(db), f.saved["to"].get(db)) for db in DATABASES)
        source = f"the lock lease of the unfinished run ({f.lease.holder or 'released'})"
        return dbs, source, source, bool(f.lease.state("yes-flag"))
    assert f.listing is not None and f.target_heads is not None  # facts.gather probes when no server runs
    target, target_source = f.target_heads
    dbs = tuple(_database(db, f.listing.chains.get(db), target.get(db)) for db in DATABASES)
    return dbs, f.current_source, target_source, bool(f.listing.yes_flag)


def _downgrade_jobs(f: Facts, dbs: tuple[Database, ...], yes: bool) -> list[DowngradeJob]:
    targets = {d.name: (d.target if d.current != d.target else None) for d in dbs}
    if not any(targets.values()):
        return []
    name = f.release.name
    return job_rewrite.downgrade_jobs(
        list(f.deployed_jobs),
        targets,
        name=names.job_name(name, f.to),
        labels={**MANAGED_BY, INSTANCE_LABEL: name},
        annotations={
            PREFIX + "from-version": f.from_version,
            PREFIX + "to-version": f.to,
            # the same target name comes back after the next upgrade: this tells our Job from a leftover
            FROM_REVISION: str(f.from_revision),
            **{f"{PREFIX}{db}-revision": rev for db, rev in targets.items() if rev},
        },
        extra_args=("-y",) if yes else (),
    )


def _already_done(lease: leases.LeaseView | None, dbs: tuple[Database, ...], to: str, current: str) -> None:
    """Nothing left to do: exit 0 and say so. Anything short of that is the usual same-version refusal."""
    behind = [f"{d.name} {d.current} (target {d.target})" for d in dbs if d.current != d.target]
    if lease is None and not behind:
        raise AlreadyDone(f"already rolled back to {to}; databases at target heads")
    try:
        release.check_direction(current, to, False)
    except Refused as e:
        why = f"lease {lease.obj['metadata']['name']} is left" if lease is not None else "; ".join(behind)
        raise Refused(f"{e.message} ({why})", hint=e.hint) from None


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


def _gitops(name: str, objects: list[dict[str, Any]], ignore: bool) -> list[str]:
    owner = release.gitops_owner(objects)
    if owner and not ignore:
        raise Refused(
            f"release {name} is reconciled by {owner}: it would undo the rollback behind your back",
            hint="Suspend its auto-sync first, then re-run with --ignore-gitops.",
        )
    return [f"reconciled by {owner}: make sure its auto-sync is suspended"] if owner else []
