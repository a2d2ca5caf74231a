"""Execute an AbortPlan step by step, like a rollback: every step asks the cluster first and skips work
already done, so re-running `abort` after its own failure or interruption finishes it."""

from __future__ import annotations

import time
from typing import Any

from kubectl_prefect_rollback import costs, downgrade, helm, interrupt, kube, lock, proc, unfinished, waits
from kubectl_prefect_rollback.abortplan import AbortPlan
from kubectl_prefect_rollback.constants import API_VERSION, POLL_PODS
from kubectl_prefect_rollback.downgrade import JobState
from kubectl_prefect_rollback.errors import DowngradeFailed, HelmUpgradeFailed, RollbackError, VerifyFailed
from kubectl_prefect_rollback.output import duration
from kubectl_prefect_rollback.rollback import Run

STEPS_BEFORE = ("lock", "stop", "upgrade", "clean", "restore", "verify", "unlock")
STEPS_AFTER = ("lock", "chart", "restore", "verify", "unlock")


def execute(run: Run, plan: AbortPlan) -> Run:
    run.keeper = lock.Keeper(run.t, plan.release.name, plan.rb.to_version)
    try:
        run.step("lock", lambda: _lock(run, plan))
        if plan.phase == "before-chart":
            run.step("stop", lambda: _stop(run, plan))
            run.step("upgrade", lambda: _upgrade(run, plan))
            run.step("clean", lambda: _clean(run, plan))
        else:
            run.step("chart", lambda: _chart(run, plan))
        run.step("restore", lambda: _restore(run, plan))
        run.step("verify", lambda: _verify(run, plan))
        run.step("unlock", lambda: _unlock(run))
    except BaseException:
        with interrupt.cleanup():  # the lease stays (the abort is unfinished) but a re-run takes it at once
            run.lock_state = run.keeper.release_for_resume()
        raise
    return run


def _lock(run: Run, plan: AbortPlan) -> tuple[str, str]:
    rb = plan.rb
    state: dict[str, Any] = {"abort": "started"}
    if plan.lease is None:  # a finished rollback rolled forward: the facts come from helm history
        state |= {
            "from-version": rb.from_version,
            "from-revision": rb.from_revision,
            "heads": {"from": rb.heads_from, "to": rb.heads_to},
            "replicas": rb.replicas,
        }
    took = run.keeper.acquire(plan.lease, force_unlock=run.opts.force_unlock, state=state, resume=True)
    run.keeper.start_renewing()
    return "done", f"lock {'taken over from the unfinished run' if took else 'taken'}: lease {plan.lock_name}"


def _wait_no_pods(run: Run, job: str, timeout: float = 300) -> None:
    with costs.waiting():
        waits.wait_until(
            lambda: True if not kube.list_(run.t, "pods", f"job-name={job}") else None,
            deadline=waits.deadline(timeout),
            poll=POLL_PODS,
            expired=lambda: RollbackError(f"pods of job/{job} still exist after {timeout:.0f}s"),
        )


def _stop(run: Run, plan: AbortPlan) -> tuple[str, str]:
    """A downgrade still running must not race the upgrade."""
    running = [n for n in plan.running if downgrade.job_state(kube.get(run.t, "job", n)) is JobState.ACTIVE]
    if not running:
        return "skipped", "no downgrade Job is running"
    for name in running:
        kube.delete(run.t, "job", name)
        _wait_no_pods(run, name)
    return "done", "stopped " + ", ".join(f"job/{n}" for n in running)


def _upgrade(run: Run, plan: AbortPlan) -> tuple[str, str]:
    if run.keeper.state("abort") == "upgraded":
        return "skipped", "databases already upgraded back (recorded on the lock lease)"
    if not plan.jobs:
        return "skipped", "no database was downgraded: nothing to upgrade"
    results = [_run_job(run, job) for job in plan.jobs]
    run.keeper.save("abort", "upgraded")
    return "done", f"upgraded back to {plan.rb.from_version}: " + ", ".join(results)


def _run_job(run: Run, job: dict[str, Any]) -> str:
    name = job["metadata"]["name"]
    containers = unfinished.job_databases(job)
    state = downgrade.job_state(kube.get(run.t, "job", name))
    if state is JobState.SUCCEEDED:
        run.out.skip(f"job/{name} already succeeded")
        return f"job/{name} succeeded earlier"
    if state is JobState.FAILED:
        if not run.opts.retry:
            raise DowngradeFailed(
                f"job/{name} (the upgrade back) failed in an earlier run",
                hint=f"Read `kubectl logs job/{name} -n {run.t.namespace} --all-containers`, fix the cause, "
                "then re-run abort with --retry to recreate it.",
            )
        kube.delete(run.t, "job", name)
        _wait_no_pods(run, name)
        state = JobState.ABSENT
    if state is JobState.ABSENT:
        kube.apply(run.t, job)
        run.out.progress(f"job/{name} created; following {', '.join(sorted(containers.values()))}")
    else:
        run.out.progress(f"job/{name} is running: attaching")
    try:
        outcome = downgrade.follow(run.t, name, containers, run.out, timeout=run.opts.job_timeout)
    except TimeoutError:
        raise DowngradeFailed(
            f"job/{name} did not finish within {duration(run.opts.job_timeout)}; it keeps running",
            hint="Re-run abort to re-attach.",
        ) from None
    codes = ", ".join(f"{containers[c]} exit {code}" for c, code in sorted(outcome.exit_codes.items()))
    if not outcome.ok:
        raise DowngradeFailed(
            f"upgrade back failed: {codes}",
            hint=f"The servers stay scaled down. Fix the cause, then re-run abort with --retry to recreate "
            f"job/{name}.",
        )
    if outcome.phase != "Succeeded":  # a sidecar keeps the pod alive; the work is done
        kube.delete(run.t, "job", name, wait=False)
    return codes


def _clean(run: Run, plan: AbortPlan) -> tuple[str, str]:
    """Our Jobs of this rollback go: a later rollback from the same revision must not find a
    'succeeded' downgrade Job and skip the downgrade."""
    names = [*plan.leftovers, *(j["metadata"]["name"] for j in plan.jobs)]
    left = [n for n in dict.fromkeys(names) if kube.get(run.t, "job", n) is not None]
    if not left:
        return "skipped", "no Job of this rollback is left"
    for name in left:
        kube.delete(run.t, "job", name)
    return "done", "deleted " + ", ".join(f"job/{n}" for n in left)


def _chart(run: Run, plan: AbortPlan) -> tuple[str, str]:
    rel = next((r for r in helm.list_releases(run.t) if r.name == plan.release.name), None)
    if rel is not None and rel.status == "deployed" and rel.version == plan.rb.from_version:
        return "skipped", f"release already deployed at {rel.chart} {rel.version}"
    run.out.progress(f"helm upgrade to {plan.release.chart} {plan.rb.from_version} (its hook migrates up)")
    try:
        helm.upgrade(plan.helm_argv, values=plan.values, timeout=run.opts.helm_timeout)
    except proc.CommandTimeout as e:
        raise RollbackError(str(e), hint="Look at `helm history` and the pods, then re-run abort.") from None
    except proc.CommandError as e:
        raise HelmUpgradeFailed(
            f"helm upgrade failed: {e.stderr.strip() or e}", hint="Fix the cause, then re-run abort."
        ) from None
    return "done", f"helm upgrade to {plan.release.chart} {plan.rb.from_version}"


def _restore(run: Run, plan: AbortPlan) -> tuple[str, str]:
    saved = {n: r for n, r in plan.rb.replicas.items() if r}
    live = {d["metadata"]["name"]: d for d in kube.list_(run.t, "deployments")}
    todo = {
        n: r
        for n, r in saved.items()
        if n in live and int((live[n].get("spec") or {}).get("replicas", 1)) == 0
    }
    if not todo:
        return "skipped", "replicas already as the operator had them"
    proc.gather(*(lambda n=n, r=r: kube.scale(run.t, "deployment", n, r) for n, r in todo.items()))
    return "done", "restored " + ", ".join(f"{n} (0→{r})" for n, r in todo.items())


def _verify(run: Run, plan: AbortPlan) -> tuple[str, str]:
    from kubectl_prefect_rollback import verify

    try:
        return "done", verify.verify(run.t, plan, timeout=run.opts.ready_timeout)  # type: ignore[arg-type]
    except VerifyFailed:
        raise
    except (RollbackError, proc.CommandError) as e:
        raise VerifyFailed(f"verify: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def _unlock(run: Run) -> tuple[str, str]:
    run.keeper.delete()
    return "done", "lock released"


def report(run: Run, plan: AbortPlan, outcome: str) -> dict[str, Any]:
    """The rollback report's shape, for the way back."""
    return {
        "apiVersion": API_VERSION,
        "kind": "AbortReport",
        "outcome": outcome,
        "release": {"name": plan.release.name, "namespace": plan.namespace},
        "phase": plan.phase,
        "from": {"version": plan.rb.to_version, "heads": plan.rb.heads_to},
        "to": {"version": plan.rb.from_version, "heads": plan.rb.heads_from},
        "lost": [{"database": d, "revision": r, "dropped": x} for d, r, x in plan.lost],
        "steps": [s.__dict__ | {"seconds": round(s.seconds, 3)} for s in run.steps],
        "seconds": round(time.monotonic() - run.started, 3),
        "waitedSeconds": round(costs.stats.waited, 3),
        "processes": costs.stats.spawns,
    }
