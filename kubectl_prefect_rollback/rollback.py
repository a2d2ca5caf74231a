"""Execute a Plan step by step. Every step asks the cluster first and skips work already done,
so re-running the same command after any failure resumes where it stopped."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubectl_prefect_rollback import (
    children,
    downgrade,
    heads,
    helm,
    interrupt,
    kube,
    lock,
    pending,
    proc,
    records,
    redact,
)
from kubectl_prefect_rollback.downgrade import JobState
from kubectl_prefect_rollback.errors import DowngradeFailed, HelmUpgradeFailed, RollbackError, VerifyFailed
from kubectl_prefect_rollback.output import Output, duration
from kubectl_prefect_rollback.plan import Plan
from kubectl_prefect_rollback.target import Target

POLL = 0.3  # seconds between looks at the cluster while waiting


@dataclass(frozen=True)
class RunOptions:
    force_unlock: bool = False
    retry: bool = False
    scale_down: bool = True
    job_timeout: float = 3600.0
    ready_timeout: float = 600.0
    helm_timeout: float = helm.DEFAULT_TIMEOUT


@dataclass
class StepResult:
    name: str
    status: str  # done | skipped | failed
    seconds: float
    detail: str = ""


@dataclass
class Run:
    t: Target
    plan: Plan
    opts: RunOptions
    out: Output
    keeper: lock.Keeper | None = None
    steps: list[StepResult] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    lock_state: str = ""  # after a failure: what the lock looks like now
    backups: list[dict[str, Any]] = field(default_factory=list)  # taken before the lock (backup.py)

    def step(self, name: str, fn: Callable[[], tuple[str, str]]) -> None:
        """Run one step; fn returns (status, detail) where status is "done" or "skipped"."""
        if self.keeper:
            self.keeper.check()
        t0 = time.monotonic()
        try:
            status, detail = fn()
        except BaseException as e:
            self.steps.append(StepResult(name, "failed", time.monotonic() - t0, _short(e)))
            raise
        seconds = time.monotonic() - t0
        self.steps.append(StepResult(name, status, seconds, detail))
        if status == "skipped":
            self.out.skip(detail)
        else:
            self.out.ok(detail, seconds)

    def report(self, outcome: str) -> dict[str, Any]:
        p = self.plan
        return {
            "apiVersion": "prefect-rollback/v1",
            "kind": "RollbackReport",
            "outcome": outcome,
            "release": {"name": p.release.name, "namespace": p.namespace},
            "from": {"version": p.from_version, "heads": p.heads("current")},
            "to": {"version": p.to_version, "heads": p.heads("target")},
            "resumed": p.resumed,
            "steps": [s.__dict__ | {"seconds": round(s.seconds, 3)} for s in self.steps],
            "seconds": round(time.monotonic() - self.started, 3),
            "waitedSeconds": round(proc.stats.waited, 3),
            "processes": proc.stats.spawns,
            **({"backups": self.backups} if self.backups else {}),
        }


def _short(e: BaseException) -> str:
    if isinstance(e, interrupt.Stopped):
        return f"interrupted by {e}"
    if isinstance(e, KeyboardInterrupt):
        return "interrupted"
    return str(e).splitlines()[0][:300] if str(e) else type(e).__name__


def execute(run: Run, existing: lock.LeaseView | None) -> Run:
    run.keeper = lock.Keeper(run.t, run.plan.release.name, run.plan.to_version)
    try:
        run.step("lock", lambda: _lock(run, existing))
        run.step("record", lambda: _record(run))
        run.step("scale-down", lambda: _scale_down(run))
        run.step("downgrade", lambda: _downgrade(run))
        run.step("chart", lambda: _chart(run))
        run.step("verify", lambda: _verify(run))
        run.step("unlock", lambda: _unlock(run))
    except BaseException:
        with interrupt.cleanup():  # after a signal too: the lease must be free for an immediate re-run
            run.lock_state = run.keeper.release_for_resume()
        raise
    return run


STEPS = ("lock", "record", "scale-down", "downgrade", "chart", "verify", "unlock")


def _lock(run: Run, existing: lock.LeaseView | None) -> tuple[str, str]:
    p = run.plan
    state = {
        "from-version": p.from_version,
        "from-revision": p.from_revision,
        "heads": {"from": p.heads("current"), "to": p.heads("target")},
        "yes-flag": p.yes_flag,
        # what the operator had; a resumed run keeps these (taking over never overwrites them), not zeros
        "replicas": dict(p.deployments),
        "started-by": run.keeper.identity,  # for `status`; a takeover keeps the first run's
        "chart-source": p.chart,  # for the resume command `status` prints
    }
    took_over = run.keeper.acquire(
        existing, force_unlock=run.opts.force_unlock, state=state, resume=run.plan.resumed
    )
    run.keeper.start_renewing()
    detail = f"lock {'taken over from an unfinished run' if took_over else 'taken'}: lease {p.lock_name}"
    try:  # probe pods of ours left by earlier runs hold copies of the migration env
        gone = heads.clean_leftover_probes(run.t)
    except proc.CommandError as e:
        run.out.warn(f"could not look for leftover probe pods: {str(e).splitlines()[0]}")
        gone = []
    if gone:
        detail += f"; deleted leftover probe pod(s) {', '.join(gone)}"
    return "done", detail


def _record(run: Run) -> tuple[str, str]:
    p = run.plan
    entries = {p.from_version: (p.heads("current"), p.current_source)}
    if "probe" in p.target_source:
        entries[p.to_version] = (p.heads("target"), p.target_source)
    if not records.write(run.t, p.release.name, entries):
        return "skipped", f"heads already recorded in configmap {p.record_name}"
    return "done", f"heads recorded in configmap {p.record_name}"


def _scale_down(run: Run) -> tuple[str, str]:
    if not run.opts.scale_down:
        return "skipped", "scale-down disabled by --no-scale-down"
    if not run.plan.deployments:
        return "skipped", "the release has no Deployments"
    if _chart_done(run):  # resumed after the chart step: these servers already run the target image
        return "skipped", f"release already at {run.plan.to_version}: its servers stay up"
    live = dict(run.plan.deployments)  # read when this run started
    todo = [name for name, replicas in live.items() if replicas > 0]
    if not todo:
        return "skipped", "deployments already scaled down"
    proc.gather(*(lambda n=name: kube.scale(run.t, "deployment", n, 0) for name in todo))
    with proc.waiting():
        _wait_scaled_down(run, todo)
    return "done", "scaled down " + ", ".join(f"{n} ({live[n]}→0)" for n in todo)


def _wait_scaled_down(run: Run, names: list[str], timeout: float = 300) -> None:
    """Old servers must be gone before the downgrade: they migrate the database up when they start."""
    deadline = time.monotonic() + timeout
    while True:
        left = [
            d["metadata"]["name"]
            for d in kube.list_(run.t, "deployments")
            if d["metadata"]["name"] in names and int((d.get("status") or {}).get("replicas") or 0) > 0
        ]
        if not left:
            return
        if time.monotonic() > deadline:
            raise RollbackError(f"deployments still have pods after {timeout:.0f}s: {', '.join(left)}")
        interrupt.sleep(POLL)


def _chart_done(run: Run) -> bool:
    """The release as this run found it (nothing before the chart step changes it)."""
    rel = run.plan.release
    return rel.status == "deployed" and rel.version == run.plan.to_version


def _downgrade(run: Run) -> tuple[str, str]:
    p = run.plan
    if not p.jobs:
        return "skipped", "nothing to revert: every database is already at the target revision"
    if run.keeper.state("downgrade") == "done":
        return "skipped", "downgrade already finished (recorded on the lock lease)"
    if p.resumed and _chart_done(run):
        return "skipped", f"release already at {p.to_version}, so the downgrade finished earlier"
    results = []
    for job in p.jobs:
        results.append(_run_job(run, job))
    run.keeper.save("downgrade", "done")
    return "done", "downgrade: " + ", ".join(results)


def _run_job(run: Run, job: dict[str, Any]) -> str:
    name = job["metadata"]["name"]
    containers = downgrade.migration_containers(job)
    existing = kube.get(run.t, "job", name)
    state = downgrade.job_state(existing)
    if existing is not None and _from_revision(existing) != _from_revision(job):
        # Left by an earlier, finished rollback to the same version: its success says nothing about now.
        run.out.progress(f"job/{name} is left from an earlier rollback: replacing it")
        kube.delete(run.t, "job", name)
        state = JobState.ABSENT
    if state is JobState.SUCCEEDED:
        run.out.skip(f"job/{name} already succeeded")
        return f"job/{name} succeeded earlier"
    if state is JobState.FAILED:
        if not run.opts.retry:
            raise DowngradeFailed(
                f"job/{name} failed in an earlier run",
                hint=f"Read `kubectl logs job/{name} -n {run.t.namespace} --all-containers`, fix the cause, "
                "then re-run with --retry to recreate it.",
            )
        kube.delete(run.t, "job", name)
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
            hint=f"Re-run the same command to re-attach, "
            f"or `kubectl delete job {name} -n {run.t.namespace}` to stop it.",
        ) from None
    codes = ", ".join(f"{containers[c]} exit {code}" for c, code in sorted(outcome.exit_codes.items()))
    if not outcome.ok:
        raise DowngradeFailed(
            f"downgrade failed: {codes}",
            hint="The chart was NOT changed. Fix the cause, then re-run the same command with --retry "
            f"to recreate job/{name} (finished steps are skipped).",
        )
    if outcome.phase != "Succeeded":  # a sidecar keeps the pod, and so the Job, alive; the work is done
        kube.delete(run.t, "job", name, wait=False)
    return codes


def _from_revision(job: dict[str, Any]) -> str | None:
    return ((job.get("metadata") or {}).get("annotations") or {}).get("prefect-rollback/from-revision")


def _chart(run: Run) -> tuple[str, str]:
    p = run.plan
    if _chart_done(run):
        _restore_replicas(run)  # an earlier run may have stopped between the upgrade and the restore
        return "skipped", f"release already deployed at {p.release.chart} {p.to_version}"
    after = p.release.revision
    if p.release.pending:  # plan let it through: our own interrupted upgrade to the target
        now = pending.settle(run.t, p.release, run.keeper.state("chart") or {}, run.out)
        if now.status == "deployed" and now.version == p.to_version:
            _restore_replicas(run)
            return "done", f"the interrupted run's helm upgrade to {p.release.chart} {p.to_version} finished"
        after = now.revision
    # Before helm starts: a re-run that finds the release pending-upgrade knows the upgrade was ours and
    # until when helm may still be running it (the helm child of a SIGKILLed run goes on).
    run.keeper.save("chart", pending.record(after, p.to_version, run.opts.helm_timeout + helm.UPGRADE_GRACE))
    run.out.progress(
        "helm upgrade to "
        + f"{p.release.chart} {p.to_version}"
        + (" (waiting for pods)" if "--wait" in p.helm_argv else "")
    )
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
    _restore_replicas(run)
    return "done", f"helm upgrade to {p.release.chart} {p.to_version}"


def _restore_replicas(run: Run) -> None:
    """Charts without a replicas field leave our zero in place: put back what the operator had."""
    saved = {n: r for n, r in (run.keeper.state("replicas") or {}).items() if r}
    if not saved or not run.opts.scale_down:
        return
    for d in kube.list_(run.t, "deployments"):
        name = d["metadata"]["name"]
        if saved.get(name) and int(d["spec"].get("replicas", 1)) == 0:
            kube.scale(run.t, "deployment", name, int(saved[name]))


def _verify(run: Run) -> tuple[str, str]:
    from kubectl_prefect_rollback import verify

    try:
        return "done", verify.verify(run.t, run.plan, timeout=run.opts.ready_timeout)
    except VerifyFailed:
        raise
    except (RollbackError, proc.CommandError) as e:  # a failure while verifying is a verify failure (6)
        raise VerifyFailed(f"verify: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def _unlock(run: Run) -> tuple[str, str]:
    run.keeper.delete()
    return "done", "lock released"


def write_report(path: str, report: dict[str, Any]) -> None:
    """The report may name secrets' places and holds the run's facts: 0600, also over an older file.
    Raises OSError; the caller warns and keeps the rollback's own exit code."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)
        json.dump(redact.doc(report), f, indent=2)  # step details quote errors
        f.write("\n")
