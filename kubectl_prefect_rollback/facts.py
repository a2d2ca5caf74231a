"""Every read a rollback plan needs, gathered into one immutable Facts: the release, its history and
values, the lock lease and the records ConfigMap as they were seen, the deployed migration Job, the
current and target heads, the Deployments. Read-only, apart from a short-lived probe pod when nothing
else knows the heads. Independent reads run side by side (proc.gather: a signal stops them all)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from kubectl_prefect_rollback import (
    charts,
    destination,
    heads,
    helm,
    kube,
    leases,
    migrations,
    preflight,
    probe,
    proc,
    records,
    release,
    resume,
    versions,
)
from kubectl_prefect_rollback.constants import (
    DEFAULT_CHART,
    HELM_TIMEOUT,
    OURS_SELECTOR,
)
from kubectl_prefect_rollback.deployed import chart_replicas, deployed_texts, migration_jobs
from kubectl_prefect_rollback.destination import Values
from kubectl_prefect_rollback.helm import Release
from kubectl_prefect_rollback.target import Target


@dataclass(frozen=True)
class Options:
    to: str
    release: str | None = None
    chart: str = DEFAULT_CHART
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
    helm_timeout: float = HELM_TIMEOUT  # seconds; helm_argv.upgrade_argv writes the Go duration
    lock_check: bool = False  # rollback: refuse a lock held by another run before probing anything
    force_unlock: bool = False


@dataclass(frozen=True)
class Facts:
    target: Target  # where they were read
    release: Release
    to: str  # the target version as parsed
    chart: str  # the target chart, {version} filled in
    lease: leases.LeaseView | None  # as seen: the lock step takes it only if it is still this one
    records: Mapping[str, dict[str, Any]]  # the records ConfigMap's entries as seen
    history: tuple[Release, ...]
    resumed: bool  # an unfinished run of ours to the same target is continued
    from_version: str
    from_revision: int
    saved: Mapping[str, Mapping[str, str | None]] | None  # heads {"from", "to"} from the lease (resumed)
    values: Values
    target_heads: tuple[dict[str, str | None], str] | None  # (heads, where from); None when resuming
    listing: heads.Listing | None  # the current chains; None: resumed with no server running
    current_source: str
    deployed_jobs: tuple[dict[str, Any], ...]  # the migration Job(s) of the from-revision
    manifest: str  # `helm get manifest` of the from-revision: names the release's Deployments
    live_deployments: tuple[dict[str, Any], ...]
    server_side_apply: bool  # the release was installed with server-side apply (helm 4)
    records_seen: records.Seen | None = None  # the records ConfigMap as read: the record step writes from it
    # probe and backup pods of ours in the plan's pod list, for the lock step's sweep; None: the plan
    # listed only --selector's pods
    leftovers: tuple[dict[str, Any], ...] | None = None
    chart_replicas: Mapping[str, int] = field(default_factory=dict)  # replicas the target chart sets itself
    target_files: str = ""  # what the probe of the target heads listed (servers.files_of); "" otherwise


class _Chain(NamedTuple):
    lease: leases.LeaseView | None
    history: list[Release]
    recorded: records.Seen
    resumed: bool
    values: Values
    target: tuple[dict[str, str | None], str, str] | None  # destination.target_heads
    rendered: str  # the target chart as `helm template` renders it with those values


def gather(t: Target, opts: Options) -> Facts:
    """All reads of one plan. Bad input is refused before any process starts; each refusal comes
    before a probe pod is created."""
    to = versions.parse(opts.to).text
    flags = {db: migrations.validate_revision(rev) for db, rev in opts.revisions.items() if rev}
    chart = charts.resolve(opts.chart, to)
    for f in opts.target_values:
        preflight.check_values_file(f)
    # a local chart is read now: a broken --chart is a usage error before any process starts
    chart_meta = charts.read_local_chart_yaml(chart) if helm.is_local(chart) else None
    rel, pods, live, ours = _release(t, opts, to)
    recorded = records.seen(next((c for c in ours if c["metadata"]["name"] == records.name(rel.name)), None))
    server = dict(selector=opts.selector, pod=opts.pod, container=opts.container, pods=pods)
    chain, (listing, current_source), texts, ssa = proc.gather(
        lambda: _chain(t, rel, to, chart, flags, opts, chart_meta, recorded),
        lambda: heads.from_server(t, rel, **server, recorded=recorded.entries),
        lambda: deployed_texts(t, rel.name, rel.revision),
        lambda: helm.server_side_apply(t, rel.name),
    )
    from_version, from_revision, saved = _origin(rel, chain)
    if from_revision != rel.revision:  # resumed: the run started from an earlier revision
        texts = deployed_texts(t, rel.name, from_revision)
    render_from = opts.chart if opts.render_from_chart else None
    jobs = migration_jobs(t, rel.name, from_revision, texts, render_from=render_from, version=from_version)
    if not chain.resumed and listing is None:
        listing, current_source = probe.current(t, rel, jobs)
    return Facts(
        target=t,
        release=rel,
        to=to,
        chart=chart,
        lease=chain.lease,
        records=chain.recorded.entries,
        history=tuple(chain.history),
        resumed=chain.resumed,
        from_version=from_version,
        from_revision=from_revision,
        saved=saved,
        values=chain.values,
        target_heads=chain.target[:2] if chain.target else None,
        target_files=chain.target[2] if chain.target else "",
        listing=listing,
        current_source=current_source,
        deployed_jobs=tuple(jobs),
        manifest=texts[1],
        live_deployments=tuple(live),
        server_side_apply=ssa,
        records_seen=chain.recorded,
        leftovers=None if opts.selector else probe.leftover_candidates(pods),
        chart_replicas=chart_replicas(chain.rendered),
    )


class _Namespace(NamedTuple):
    """What the plan's first reads saw (facts._release)."""

    release: Release
    pods: list[dict[str, Any]]
    deployments: list[dict[str, Any]]
    ours: list[dict[str, Any]]  # our records ConfigMaps


def _release(t: Target, opts: Options, to: str) -> _Namespace:
    """The release (pending-* refused), with what needs no release name read beside `helm list`: the
    namespace's pods (the server execs start as soon as the release is known), its Deployments, and our
    records ConfigMaps (by label: the listing exec already knows whether the image's -y answer is kept)."""
    ours = lambda: kube.list_(t, "configmaps", OURS_SELECTOR)  # noqa: E731
    if opts.selector:  # the server pods stay filtered by the operator's selector: two lists
        rel, pods, live, cms = proc.gather(
            lambda: release.resolve(t, opts.release),
            lambda: kube.list_(t, "pods", opts.selector),
            lambda: kube.list_(t, "deployments"),
            ours,
        )
    else:  # one kubectl for both: each start-up costs ~0.1 s of CPU on the plan's busiest moment
        rel, both, cms = proc.gather(
            lambda: release.resolve(t, opts.release), lambda: kube.list_(t, "pods,deployments"), ours
        )
        pods, live = kube.by_kind(both, "Pod"), kube.by_kind(both, "Deployment")
    release.refuse_pending(t, rel, to)  # our own interrupted upgrade passes: the chart step repairs it
    return _Namespace(rel, pods, live, cms)


def _origin(rel: Release, chain: _Chain) -> tuple[str, int, Mapping[str, Mapping[str, str | None]] | None]:
    """(from-version, from-revision, saved heads): the release as it runs, or as the resumed run found it."""
    if chain.resumed:
        assert chain.lease is not None  # resume.resumes says so only with a lease
        return resume.lease_facts(chain.lease)
    return rel.version, rel.revision, None


def _chain(
    t: Target,
    rel: Release,
    to: str,
    chart: str,
    flags: dict[str, str],
    opts: Options,
    chart_meta: dict[str, Any] | None,
    recorded: records.Seen,
) -> _Chain:
    """The reads that depend on each other, run beside the others: lease and history at once, then the
    target chart, its values and its rendering, then the target heads."""
    lease, history, guess = proc.gather(
        lambda: leases.read(t, rel.name),
        lambda: helm.history(t, rel.name),
        lambda: destination.values_before(t, rel, opts.target_values),
    )
    if opts.lock_check and lease is not None:  # a live holder is refused before anything is created
        leases.check_takeover(lease, to, force_unlock=opts.force_unlock, at=leases.now())
    # A run that stopped half way left its facts on the lease: the servers may be gone by now.
    resumed = resume.resumes(lease, history, rel, to, force_unlock=opts.force_unlock)
    # A re-run of a rollback that finished runs our own upgrade to the target: `plan` says "done".
    at_target = not opts.force and rel.version == to and rel.status == "deployed"
    if not resumed and not (at_target and release.ran_ours(history, rel.revision)):
        release.check_direction(rel.version, to, opts.force)
    meta = chart_meta if chart_meta is not None else charts.chart_metadata(t, chart, to)
    charts.verify_version(meta, chart, to, rel.chart)
    values = destination.target_values(t, rel.name, history, to, opts.target_values, read=guess)
    rendered = preflight.render_target(t, rel, chart, to, values.text, values.files)
    target = (
        None if resumed else destination.target_heads(t, rel, to, chart, rendered, flags, recorded.entries)
    )
    return _Chain(lease, history, recorded, resumed, values, target, rendered)
