"""The chart step of a rollback: helm upgrade to the target (settling our own interrupted upgrade
first), then the replicas the operator had put back where the chart leaves our zero."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubectl_prefect_rollback import children, helm, interrupt, kube, leases, pending, proc
from kubectl_prefect_rollback.errors import HelmUpgradeFailed, RollbackError
from kubectl_prefect_rollback.plan import Plan

if TYPE_CHECKING:
    from kubectl_prefect_rollback.rollback import Run

# beyond helm's own bound, the record written ahead allows for one lease renewal to come: it is written
# again with each renewal, so a helm started before the next one is due stays within it
AHEAD = float(leases.RENEW_EVERY)


def done(p: Plan) -> bool:
    """The release as this run found it (nothing before the chart step changes it)."""
    return p.release.status == "deployed" and p.release.version == p.to_version


def planned(run: Run) -> dict[str, Any] | None:
    """The chart step's record as written ahead: with the lock, then again with each lease renewal
    until the chart step begins. None where the chart step writes its own before helm (nothing to
    upgrade, or our interrupted upgrade to settle first)."""
    p = run.plan
    if done(p) or p.release.pending:
        return None
    bound = AHEAD + run.opts.helm_timeout + helm.UPGRADE_GRACE
    return pending.record(p.release.revision, p.to_version, bound, planned=True)


def step(run: Run) -> tuple[str, str]:
    p = run.plan
    run.keeper.stop_refreshing()  # from here on the chart record is this step's own
    if done(p):
        restore_replicas(run)  # an earlier run may have stopped between the upgrade and the restore
        return "skipped", f"release already deployed at {p.release.chart} {p.to_version}"
    after = p.release.revision
    if p.release.pending:  # plan let it through: our own interrupted upgrade to the target
        now = pending.settle(run.t, p.release, run.keeper.state("chart") or {}, run.out)
        if now.status == "deployed" and now.version == p.to_version:
            restore_replicas(run)
            return "done", f"the interrupted run's helm upgrade to {p.release.chart} {p.to_version} finished"
        after = now.revision
    # Before helm starts: a re-run that finds the release pending-upgrade knows the upgrade was ours and
    # until when helm may still be running it (the helm child of a SIGKILLed run goes on). The lock step
    # wrote a record ahead; while it still covers helm's whole bound, helm starts at once and the exact
    # record is written beside it: the write costs the window nothing.
    record = pending.record(after, p.to_version, run.opts.helm_timeout + helm.UPGRADE_GRACE)
    ahead = pending.covers(run.keeper.state("chart"), record)
    if not ahead:
        run.keeper.save("chart", record)
    run.out.progress(
        "helm upgrade to "
        + f"{p.release.chart} {p.to_version}"
        + (" (waiting for pods)" if "--wait" in p.helm_argv else "")
    )
    if ahead:  # helm first: its failure is the one told (gather raises the first, after both ended)
        proc.gather(lambda: _upgrade(run), lambda: run.keeper.save("chart", record))
    else:
        _upgrade(run)
    restore_replicas(run)
    return "done", f"helm upgrade to {p.release.chart} {p.to_version}"


def _upgrade(run: Run) -> None:
    """helm upgrade, its failures told as what they mean for the rollback."""
    p = run.plan
    try:
        helm.upgrade(p.helm_argv, values=p.values, timeout=run.opts.helm_timeout)
    except interrupt.Stopped:
        if children.helm_stopped_after is not None:
            run.out.progress(
                f"helm stopped {children.helm_stopped_after:.1f}s after the signal was forwarded to it"
            )
        raise
    except proc.CommandTimeout as e:
        raise RollbackError(
            str(e),
            hint="helm was told to stop (it records the release as failed). Look at `helm history` and "
            "the pods, then re-run the same command: the downgrade is skipped.",
        ) from None
    except proc.CommandError as e:
        raise HelmUpgradeFailed(
            f"helm upgrade failed: {e.stderr.strip() or e}",
            hint="The databases are already at the target revisions and the servers stay scaled down. "
            "Fix the cause, then re-run the same command: the downgrade is skipped.",
        ) from None


def restore_replicas(run: Run) -> None:
    """Charts without a replicas field leave our zero in place: put back what the operator had. Where
    the target chart sets a count of its own, helm has set it: no read after helm for those."""
    chart = run.plan.chart_replicas
    saved = {n: r for n, r in (run.keeper.state("replicas") or {}).items() if r and not chart.get(n)}
    if not saved or not run.opts.scale_down:
        return
    for d in kube.list_(run.t, "deployments"):
        name = d["metadata"]["name"]
        if saved.get(name) and int(d["spec"].get("replicas", 1)) == 0:
            kube.scale(run.t, "deployment", name, int(saved[name]))
