"""What the cluster looks like after a rollback stopped half way, and the command that resumes it.

Read fresh (deployments, Jobs, the release) rather than inferred from the steps: the failure may have
come from the cluster itself, so every read may fail and then says so instead of masking the error."""

from __future__ import annotations

from collections.abc import Callable

from kubectl_prefect_rollback import downgrade, helm, interrupt, kube
from kubectl_prefect_rollback.downgrade import JobState
from kubectl_prefect_rollback.rollback import STEPS, Run


def changed(run: Run) -> bool:
    """Did this run change the cluster (the lock is the first change)?"""
    return bool(run.keeper and run.keeper.taken) or any(s.status == "done" for s in run.steps)


def state_block(run: Run, resume: str) -> str:
    """After the first change, any failure ends with this: the steps, the cluster now, the command."""
    done = [s.name for s in run.steps if s.status in ("done", "skipped")]
    failed = next((s.name for s in run.steps if s.status == "failed"), None)
    todo = [n for n in STEPS if n not in done and n != failed]
    lines = ["State now:"]
    lines.append(
        f"  steps done: {', '.join(done) or 'none'}"
        + (f"; stopped in: {failed}" if failed else "")
        + (f"; not started: {', '.join(todo)}" if todo else "")
    )
    with interrupt.cleanup():
        lines += [f"  servers: {_guard(lambda: _servers(run))}"]
        lines += [f"  databases: {_guard(lambda: _databases(run))}"]
        lines += [f"  release: {_guard(lambda: _release_now(run))}"]
    lines.append(f"  lock: {run.lock_state or 'held by this run'}")
    nxt = failed or (todo[0] if todo else "unlock")
    lines.append(
        f"A re-run of the same command resumes: finished steps are skipped, it continues with {nxt}."
    )
    lines.append(f"Resume: {resume}")
    return "\n".join(lines)


def _guard(read: Callable[[], str]) -> str:
    try:
        return read()
    except Exception as e:  # noqa: BLE001 - the cluster may be why we failed: say so, do not mask the error
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        return f"unknown (cannot read it: {first[:200]})"


def _servers(run: Run) -> str:
    saved = run.keeper.state("replicas") if run.keeper else None
    saved = saved or dict(run.plan.deployments)
    live = {d["metadata"]["name"]: d for d in kube.list_(run.t, "deployments")}
    parts = []
    for name, was in run.plan.deployments:
        d = live.get(name)
        if d is None:
            parts.append(f"{name} missing")
            continue
        want = int((d.get("spec") or {}).get("replicas", 1))
        pods = int((d.get("status") or {}).get("replicas") or 0)
        parts.append(f"{name} {want} replicas, {pods} pods (operator's: {saved.get(name, was)})")
    return "; ".join(parts) or "the release has no Deployments"


def _databases(run: Run) -> str:
    if not run.plan.jobs:
        return "at the target heads already (nothing to revert)"
    if run.keeper and run.keeper.state("downgrade") == "done":
        return "downgraded to the target heads"
    parts = []
    for job in run.plan.jobs:
        name = job["metadata"]["name"]
        state = downgrade.job_state(kube.get(run.t, "job", name))
        parts.append(
            {
                JobState.ABSENT: f"not downgraded yet (job/{name} not created)",
                JobState.ACTIVE: f"job/{name} is running and keeps running (a re-run re-attaches; "
                f"`kubectl delete job {name} -n {run.t.namespace}` stops it)",
                JobState.SUCCEEDED: f"downgraded (job/{name} succeeded)",
                JobState.FAILED: f"job/{name} failed: the databases may be part way (re-run with --retry)",
            }[state]
        )
    return "; ".join(parts)


def _release_now(run: Run) -> str:
    rel = next((r for r in helm.list_releases(run.t) if r.name == run.plan.release.name), None)
    if rel is None:
        return f"{run.plan.release.name} not found"
    return f"{rel.name} {rel.chart} {rel.version}, revision {rel.revision}, {rel.status}"
