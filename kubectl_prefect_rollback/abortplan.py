"""The plan of an `abort`: back to the release as it was before an unfinished (or finished) rollback.

Before the chart step the release is untouched: the databases that were downgraded are upgraded again by
the deployed release's own migration Job (its image, its commands, as helm would run it), renamed and made
resumable like the downgrade Job. After it, only a roll forward goes back (`--roll-forward`): helm upgrades
to the from-version with that revision's values, and the from-chart's own hook migrates the databases.
Reads only, apart from a probe pod when the data lost has to be named."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from kubectl_prefect_rollback import (
    aborted,
    charts,
    deployed,
    downgrade,
    helm,
    helm_argv,
    job_rewrite,
    leases,
    names,
    release,
    unfinished,
)
from kubectl_prefect_rollback.constants import (
    DEFAULT_CHART,
    FROM_REVISION,
    HELM_TIMEOUT,
    INSTANCE_LABEL,
    MANAGED_BY,
    PREFIX,
)
from kubectl_prefect_rollback.downgrade import JobState
from kubectl_prefect_rollback.errors import Refused
from kubectl_prefect_rollback.helm import Release
from kubectl_prefect_rollback.target import Target
from kubectl_prefect_rollback.unfinished import Rollback


@dataclass(frozen=True)
class Options:
    release: str | None = None
    chart: str = DEFAULT_CHART
    roll_forward: bool = False
    force_unlock: bool = False
    wait: bool = True
    helm_timeout: float = HELM_TIMEOUT  # seconds


@dataclass(frozen=True)
class AbortPlan:
    release: Release
    namespace: str
    rb: Rollback
    lease: leases.LeaseView | None  # None: a finished rollback (its lease is gone)
    phase: str  # before-chart | after-chart
    databases: dict[str, dict[str, Any]]
    jobs: tuple[dict[str, Any], ...]  # the upgrade Jobs (empty: no database was touched)
    running: tuple[str, ...]  # downgrade Jobs still running: stopped first
    leftovers: tuple[str, ...]  # our Jobs of this rollback, deleted once the databases are back
    lost: tuple[tuple[str, str, str], ...]  # (database, revision, what its downgrade dropped)
    backup: str | None
    chart: str = ""
    values: str | None = None
    helm_argv: tuple[str, ...] = ()

    # what verify.verify reads: the release back at the from-version with the from-heads
    @property
    def to_version(self) -> str:
        return self.rb.from_version

    @property
    def deployments(self) -> tuple[tuple[str, int], ...]:
        return tuple(sorted(self.rb.replicas.items()))

    def heads(self, which: str) -> dict[str, str | None]:
        return dict(self.rb.heads_from)

    @property
    def target_files(self) -> str:
        """Not known for the from-heads (the lease keeps heads, not where they were listed): verify lists."""
        return ""

    @property
    def lock_name(self) -> str:
        return leases.lease_name(self.release.name)


def build(t: Target, opts: Options) -> AbortPlan:
    rel = _settled_release(t, opts.release)
    facts = unfinished.gather(t, rel)
    rb = aborted.rollback(facts, force_unlock=opts.force_unlock)
    phase = _phase(facts, rel, rb, roll_forward=opts.roll_forward)
    dbs = unfinished.database_states(facts, rb) if facts.lease is not None else aborted.all_downgraded(rb)
    touched = [db for db, d in dbs.items() if d["state"] in ("downgraded", "failed", "downgrading")]
    downgrades = unfinished.jobs_of(facts, rb, "downgrade")
    aborts = unfinished.jobs_of(facts, rb, unfinished.ABORT)
    _, jobs_then = deployed.of_revision(t, rel.name, rb.from_revision, rb.from_version)
    rb, lost = aborted.probed(t, rel, rb, jobs_then, touched)
    upgraded = facts.lease is not None and facts.lease.state("abort") == "upgraded"
    redo = phase == "before-chart" and (touched or aborts) and not upgraded
    plan = AbortPlan(
        release=rel,
        namespace=t.namespace,
        rb=rb,
        lease=facts.lease,
        phase=phase,
        databases=dbs,
        jobs=tuple(_abort_jobs(rel, rb, jobs_then) if redo else []),
        running=tuple(j["metadata"]["name"] for j in downgrades if downgrade.job_state(j) is JobState.ACTIVE),
        leftovers=tuple(j["metadata"]["name"] for j in [*downgrades, *aborts]),
        lost=lost,
        backup=aborted.backup(facts, rb.from_version),
    )
    if phase == "after-chart":
        return _roll_forward(t, plan, opts)
    return plan


def _settled_release(t: Target, name: str | None) -> Release:
    rel = release.resolve(t, name)
    if rel.pending:
        raise Refused(
            f"release {rel.name} is {rel.status}: a helm upgrade is under way or was cut off",
            hint="Re-run the rollback (it settles its own cut-off upgrade) or wait for helm, then abort.",
        )
    return rel


def _phase(facts: unfinished.Facts, rel: Release, rb: Rollback, *, roll_forward: bool) -> str:
    """before-chart or after-chart; after the chart step only --roll-forward goes back."""
    chart_state = "done" if facts.lease is None else unfinished.chart_state(facts, rb)
    phase = "before-chart" if chart_state == "not-started" else "after-chart"
    if phase == "after-chart" and not roll_forward:
        raise Refused(
            f"the chart step of the rollback to {rb.to_version} ran: {rel.name} is at {rel.chart} "
            f"{rel.version} (revision {rel.revision}, {rel.status})",
            hint=f"Going back now means upgrading to {rb.from_version} again (its migration hook upgrades "
            "the databases): re-run with --roll-forward.",
        )
    return phase


def _abort_jobs(rel: Release, rb: Rollback, jobs_then: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return job_rewrite.upgrade_jobs(
        jobs_then,
        name=names.job_name(rel.name, rb.from_version, suffix="abort"),
        labels={**MANAGED_BY, INSTANCE_LABEL: rel.name},
        annotations={
            PREFIX + "kind": unfinished.ABORT,
            PREFIX + "from-version": rb.from_version,
            PREFIX + "to-version": rb.to_version,
            FROM_REVISION: str(rb.from_revision),
        },
    )


def _roll_forward(t: Target, plan: AbortPlan, opts: Options) -> AbortPlan:
    import yaml

    rb, rel = plan.rb, plan.release
    chart = charts.resolve(opts.chart, rb.from_version)
    meta = (
        charts.read_local_chart_yaml(chart)
        if helm.is_local(chart)
        else charts.chart_metadata(t, chart, rb.from_version)
    )
    charts.verify_version(meta, chart, rb.from_version, rel.chart)
    values = yaml.safe_dump(helm.get_values(t, rel.name, revision=rb.from_revision), sort_keys=False)
    argv = helm_argv.upgrade_argv(
        t,
        rel.name,
        chart,
        version=rb.from_version,
        description=f"prefect-rollback abort: rolled forward {rb.to_version} -> {rb.from_version}",
        wait=opts.wait,
        timeout=opts.helm_timeout,
        force_conflicts=helm.server_side_apply(t, rel.name),
    )
    return replace(plan, chart=chart, values=values, helm_argv=tuple(argv), jobs=())
