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
    chart_step,
    costs,
    downgrades,
    interrupt,
    kube,
    lock,
    probe,
    proc,
    records,
    redact,
    waits,
)
from kubectl_prefect_rollback.constants import API_VERSION, HELM_TIMEOUT
from kubectl_prefect_rollback.errors import RollbackError, VerifyFailed
from kubectl_prefect_rollback.output import Output
from kubectl_prefect_rollback.plan import Plan
from kubectl_prefect_rollback.target import Target


@dataclass(frozen=True)
class RunOptions:
    force_unlock: bool = False
    retry: bool = False
    scale_down: bool = True
    job_timeout: float = 3600.0
    ready_timeout: float = 600.0
    helm_timeout: float = HELM_TIMEOUT


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
    jobs_seen: downgrades.Seen | None = None  # the downgrade Jobs as read beside the lock write

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
            "apiVersion": API_VERSION,
            "kind": "RollbackReport",
            "outcome": outcome,
            "release": {"name": p.release.name, "namespace": p.namespace},
            "from": {"version": p.from_version, "heads": p.heads("current")},
            "to": {"version": p.to_version, "heads": p.heads("target")},
            "resumed": p.resumed,
            "steps": [s.__dict__ | {"seconds": round(s.seconds, 3)} for s in self.steps],
            "seconds": round(time.monotonic() - self.started, 3),
            "waitedSeconds": round(costs.stats.waited, 3),
            "processes": costs.stats.spawns,
            **({"backups": self.backups} if self.backups else {}),
        }


def _short(e: BaseException) -> str:
    if isinstance(e, interrupt.Stopped):
        return f"interrupted by {e}"
    if isinstance(e, KeyboardInterrupt):
        return "interrupted"
    return str(e).splitlines()[0][:300] if str(e) else type(e).__name__


def execute(run: Run) -> Run:
    """Every step in order; after a failure or a signal the lease is left free for a re-run."""
    run.keeper = lock.Keeper(run.t, run.plan.release.name, run.plan.to_version)
    try:
        run.step("lock", lambda: _lock(run))
        recorded: list[tuple[str, str]] = []  # the record write rides along with the scale-down
        try:
            run.step("scale-down", lambda: _recording(run, recorded, lambda: _scale_down(run)))
        except BaseException:
            if recorded:  # it ended beside the failed scale-down: counted, before the step that failed
                status, detail = recorded[0]
                run.steps.insert(len(run.steps) - 1, StepResult("record", status, 0.0, detail))
            raise
        run.step("record", lambda: recorded[0])
        run.step("downgrade", lambda: _downgrade(run))
        run.step("chart", lambda: chart_step.step(run))
        run.step("verify", lambda: _verify(run))
        run.step("unlock", lambda: _unlock(run))
    except BaseException:
        with interrupt.cleanup():  # after a signal too: the lease must be free for an immediate re-run
            run.lock_state = run.keeper.release_for_resume()
        raise
    return run


STEPS = ("lock", "scale-down", "record", "downgrade", "chart", "verify", "unlock")


def _lock(run: Run) -> tuple[str, str]:
    """Takes the lease the plan saw: created if there was none, else replaced at the resourceVersion
    seen, so a lease taken by another run since the plan fails the write (kube.Conflict): refused."""
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
    ahead = chart_step.planned(run)
    if ahead is not None:  # the chart step's record, written ahead: helm starts without a lease write
        state["chart"] = ahead
        run.keeper.refresh = lambda: {"chart": chart_step.planned(run)}  # its deadline moves on

    def acquire() -> bool:
        return run.keeper.acquire(p.lease, force_unlock=run.opts.force_unlock, state=state, resume=p.resumed)

    # A pod of ours left by an earlier run (a SIGKILL, a failed delete) was made while that run lived,
    # before the plan listed the namespace's pods: when that list showed none, nothing is listed again.
    # One made since belongs to a run alive then (a concurrent plan deletes its own; a young running
    # probe would stay anyway) and is the next run's to sweep, like one made just after any list.
    # This run's own probe pods are younger than that list: the sweep never meets them.
    reads: dict[str, Callable[[], Any]] = {}
    if p.leftovers != ():
        reads["pods"] = lambda: probe.ours(run.t, warn=run.out.warn)
    # The downgrade Jobs, read while the lease is written, for the downgrade step: the scale-down's wait
    # then lists Deployments alone (one round trip per look in the window, not two). Only a run holding
    # the lock makes or deletes them, and a lock taken by another run since the plan fails this write.
    if p.jobs:
        reads["jobs"] = lambda: downgrades.read(run.t, p.downgrades)
    took_over, *got = proc.gather(acquire, *reads.values())
    read = dict(zip(reads, got, strict=True))
    pods, run.jobs_seen = read.get("pods"), read.get("jobs")
    run.keeper.start_renewing()
    detail = f"lock {'taken over from an unfinished run' if took_over else 'taken'}: lease {p.lock_name}"
    gone = probe.clean_leftovers(run.t, pods) if pods is not None else []
    if gone:
        detail += f"; deleted leftover probe pod(s) {', '.join(gone)}"
    return "done", detail


def _recording(
    run: Run, result: list[tuple[str, str]], step: Callable[[], tuple[str, str]]
) -> tuple[str, str]:
    """`step` with the record write beside it: the lease holds both heads (a resume needs nothing
    more), so the ConfigMap, kept for later plans and `history`, costs the window no time."""

    def record() -> tuple[str, str]:
        result.append(_record(run))  # kept even when the scale-down fails
        return result[-1]

    done, _ = proc.gather(step, record)
    return done


def _record(run: Run) -> tuple[str, str]:
    """From the ConfigMap the plan read; a failure warns and the rollback goes on (records.record)."""
    p = run.plan
    entries = {
        p.from_version: records.Entry(p.heads("current"), p.current_source, p.current_cli, p.current_files)
    }
    if "probe" in p.target_source:
        entries[p.to_version] = records.Entry(p.heads("target"), p.target_source, files=p.target_files)
    return records.record(run.t, p.release.name, entries, p.records, warn=run.out.warn)


def _scale_down(run: Run) -> tuple[str, str]:
    if not run.opts.scale_down:
        return "skipped", "scale-down disabled by --no-scale-down"
    if not run.plan.deployments:
        return "skipped", "the release has no Deployments"
    if chart_step.done(run.plan):  # resumed after the chart step: these servers already run the target image
        return "skipped", f"release already at {run.plan.to_version}: its servers stay up"
    live = dict(run.plan.deployments)  # read when this run started
    todo = [name for name, replicas in live.items() if replicas > 0]
    if not todo:
        return "skipped", "deployments already scaled down"
    proc.gather(*(lambda n=name: kube.scale(run.t, "deployment", n, 0) for name in todo))
    with costs.waiting():
        waits.scaled_down(run.t, todo)
    return "done", "scaled down " + ", ".join(f"{n} ({live[n]}→0)" for n in todo)


def _downgrade(run: Run) -> tuple[str, str]:
    p = run.plan
    if not p.jobs:
        return "skipped", "nothing to revert: every database is already at the target revision"
    if run.keeper.state("downgrade") == "done":
        return "skipped", "downgrade already finished (recorded on the lock lease)"
    if p.resumed and chart_step.done(run.plan):
        return "skipped", f"release already at {p.to_version}, so the downgrade finished earlier"
    results = downgrades.run_jobs(
        run.t, p.downgrades, run.out, retry=run.opts.retry, timeout=run.opts.job_timeout, seen=run.jobs_seen
    )
    # Written with the chart step's exact record (beside helm, or just before it). A run stopped before
    # it resumes here all the same: every Job is found succeeded and skipped.
    run.keeper.stage("downgrade", "done")
    return "done", "downgrade: " + results


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
