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
    charts,
    deployed,
    downgrade,
    heads,
    helm,
    helm_argv,
    job_rewrite,
    leases,
    migrations,
    names,
    probe,
    records,
    release,
    rewrite,
    unfinished,
    versions,
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
from kubectl_prefect_rollback.errors import AlreadyDone, Refused
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
    def lock_name(self) -> str:
        return leases.lease_name(self.release.name)


def upgrade_jobs(
    deployed: list[dict[str, Any]], *, name: str, labels: dict[str, str], annotations: dict[str, str]
) -> list[dict[str, Any]]:
    """The deployed migration Jobs as helm runs them (their upgrade commands untouched), renamed, hook
    annotations stripped, backoffLimit 0, restartPolicy Never. Pure."""
    made = []
    for job in deployed:
        pod = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
        containers = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
        if any(rewrite.classify(rewrite.container_argv(c)) for c in containers):
            # the downgrade Job's cleaning, with the pod spec left as it is (manifests keeps it private)
            made.append(job_rewrite.clean_job(job, pod, labels, annotations))
    for i, job in enumerate(made, start=1):
        job["metadata"]["name"] = names.fit_name(name + ("" if len(made) == 1 else f"-{i}"))
    return made


def build(t: Target, opts: Options) -> AbortPlan:
    rel = release.resolve(t, opts.release)
    if rel.pending:
        raise Refused(
            f"release {rel.name} is {rel.status}: a helm upgrade is under way or was cut off",
            hint="Re-run the rollback (it settles its own cut-off upgrade) or wait for helm, then abort.",
        )
    facts = unfinished.gather(t, rel)
    if facts.lease is None:
        rb = _finished(facts)
    else:
        leases.check_takeover(
            facts.lease, facts.lease.target, force_unlock=opts.force_unlock, at=leases.now()
        )
        rb = unfinished.rollback_of(facts.lease)
    chart_state = "done" if facts.lease is None else unfinished.chart_state(facts, rb)
    phase = "before-chart" if chart_state == "not-started" else "after-chart"
    if phase == "after-chart" and not opts.roll_forward:
        raise Refused(
            f"the chart step of the rollback to {rb.to_version} ran: {rel.name} is at {rel.chart} "
            f"{rel.version} (revision {rel.revision}, {rel.status})",
            hint=f"Going back now means upgrading to {rb.from_version} again (its migration hook upgrades "
            "the databases): re-run with --roll-forward.",
        )
    dbs = unfinished.database_states(facts, rb) if facts.lease is not None else _all_downgraded(rb)
    touched = [db for db, d in dbs.items() if d["state"] in ("downgraded", "failed", "downgrading")]
    downgrades = unfinished.jobs_of(facts, rb, "downgrade")
    aborts = unfinished.jobs_of(facts, rb, unfinished.ABORT)
    _, jobs_then = deployed.of_revision(t, rel.name, rb.from_revision, rb.from_version)
    lost: tuple[tuple[str, str, str], ...] = ()
    if touched or not any(rb.heads_from.values()):
        chains = probe.probe(
            t, jobs_then[0], name=f"{rel.name}-probe-{versions.dashed(rb.from_version)}"
        ).chains
        lost = _lost(rb, chains, touched)
        if not any(rb.heads_from.values()):  # a finished rollback that recorded nothing: the image knows
            rb = replace(rb, heads_from=heads.heads_of(chains))
    upgraded = facts.lease is not None and facts.lease.state("abort") == "upgraded"
    jobs: list[dict[str, Any]] = []
    if phase == "before-chart" and (touched or aborts) and not upgraded:
        jobs = upgrade_jobs(
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
    plan = AbortPlan(
        release=rel,
        namespace=t.namespace,
        rb=rb,
        lease=facts.lease,
        phase=phase,
        databases=dbs,
        jobs=tuple(jobs),
        running=tuple(j["metadata"]["name"] for j in downgrades if downgrade.job_state(j) is JobState.ACTIVE),
        leftovers=tuple(j["metadata"]["name"] for j in [*downgrades, *aborts]),
        lost=lost,
        backup=_backup(facts, rb.from_version),
    )
    if phase == "after-chart":
        return _roll_forward(t, plan, opts)
    return plan


def _backup(facts: unfinished.Facts, from_version: str) -> str | None:
    """The plugin's backup taken at the from-version (before this rollback), named for the plan."""
    doc = facts.backup
    if not doc or doc.get("version") != from_version:
        return None  # none, or one of an earlier rollback: its rows are not this one's
    dbs = ", ".join(sorted(doc.get("databases") or {}))
    return f"{doc.get('dir', '?')} ({dbs}; `restore --from {doc.get('dir', 'DIR')}`)"


def _finished(facts: unfinished.Facts) -> Rollback:
    """No lease: only a finished rollback can be aborted (rolled forward), from helm history."""
    rel = facts.release
    ours = unfinished.last_rollback(facts.history)
    pair = unfinished.rolled_from(ours) if ours else None
    if ours is None or ours.revision != rel.revision or pair is None or rel.version != pair[1]:
        raise AlreadyDone(
            f"no unfinished rollback of {rel.name}, and its revision {rel.revision} is not a finished "
            "one: nothing to abort"
        )
    before = [h for h in facts.history if h.revision < ours.revision and h.version == pair[0]]
    if not before:
        raise Refused(f"helm history of {rel.name} has no revision at {pair[0]} to go back to")
    frm = max(before, key=lambda h: h.revision)
    heads_from = records.heads(facts.records, pair[0]) or {}
    heads_to = records.heads(facts.records, pair[1]) or {}
    live = {d["metadata"]["name"]: int((d.get("spec") or {}).get("replicas", 1)) for d in facts.deployments}
    return Rollback(pair[1], pair[0], frm.revision, heads_from, heads_to, live)


def _all_downgraded(rb: Rollback) -> dict[str, dict[str, Any]]:
    out = {}
    for db in migrations.DATABASES:
        frm, to = rb.heads_from.get(db), rb.heads_to.get(db)
        state = "absent" if frm is None and to is None else "nothing-to-revert" if frm == to else "downgraded"
        out[db] = {"from": frm, "to": to, "state": state, "evidence": "helm history (the rollback finished)"}
    return out


def _lost(rb: Rollback, chains: dict, touched: list[str]) -> tuple[tuple[str, str, str], ...]:
    """What the downgrades already run dropped: the from-image's chains know (a probe pod of its Job)."""
    from kubectl_prefect_rollback.show import _dropped

    out = []
    for db in touched:
        chain, target = chains.get(db), rb.heads_to.get(db)
        if chain is None or target is None or not chain.contains(target):
            continue
        for m in chain.path_to(target):
            out += [(db, m.revision, _dropped(d)) for d in m.drops]
    return tuple(out)


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
