"""The plan's downgrade Jobs together: at once when no database is reverted by two of them, in plan order
within each group of Jobs that share a database (the later one must see what the earlier one did).

Each Job runs to its own end whatever the others do and is judged by its own exit codes (downgrade.py).
A failure is reported per Job and database once every Job has ended, so no Job is stopped half way
because another failed; a re-run skips the Jobs that succeeded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubectl_prefect_rollback import downgrade, kube, proc, waits
from kubectl_prefect_rollback.constants import DATABASES, DRAIN_LOGS
from kubectl_prefect_rollback.downgrade import JobState
from kubectl_prefect_rollback.errors import DowngradeFailed
from kubectl_prefect_rollback.output import Output
from kubectl_prefect_rollback.target import Target

if TYPE_CHECKING:
    from kubectl_prefect_rollback.job_rewrite import DowngradeJob

Seen = dict[str, dict[str, Any] | None]  # Job name -> the Job as the cluster had it (None: absent)


def databases(job: DowngradeJob) -> tuple[str, ...]:
    """Every database the Job reverts: a container's `sh -c` may downgrade several, and its log label
    (DowngradeJob.databases) names only the first."""
    spec = job.manifest["spec"]["template"]["spec"]
    found: set[str] = set()
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        found |= set(
            downgrade.DOWNGRADE.findall(" ".join([*(c.get("command") or []), *(c.get("args") or [])]))
        )
    found |= set(job.databases.values())
    return tuple(db for db in DATABASES if db in found)


def groups(jobs: Sequence[DowngradeJob]) -> list[list[DowngradeJob]]:
    """The Jobs split into groups that share no database, each in plan order: groups run at once, the
    Jobs of one group one after another."""
    out: list[tuple[set[str], list[DowngradeJob]]] = []
    for job in jobs:
        dbs = set(databases(job))
        touching = [g for g in out if g[0] & dbs]
        merged: tuple[set[str], list[DowngradeJob]] = (dbs, [])
        for g in touching:
            out.remove(g)
            merged[0].update(g[0])
            merged[1].extend(g[1])
        merged[1].append(job)
        merged[1].sort(key=list(jobs).index)
        out.append(merged)
    out.sort(key=lambda g: list(jobs).index(g[1][0]))
    return [g[1] for g in out]


def read(t: Target, jobs: Sequence[DowngradeJob]) -> Seen:
    """Each Job as the cluster has it now, in one call for all (the namespace's Jobs, by name: a Job of
    that name not labelled as ours is seen too, and replaced as left by another rollback).

    Read while the lock is taken (rollback reads it beside the lease write), it still holds when the
    Jobs start: under the lock only this run makes or deletes our Jobs (a lock another run took since
    the plan fails our write), and a Job seen running that has ended since is judged by its exit codes
    all the same when we attach to it."""
    by_name = {j["metadata"]["name"]: j for j in kube.list_(t, "jobs")}
    return {j.name: by_name.get(j.name) for j in jobs}


def _prepare(t: Target, job: DowngradeJob, existing: dict[str, Any] | None, out: Output) -> JobState:
    """What the Job found means now: SUCCEEDED (skip it), ACTIVE (attach to it) or ABSENT (create it).
    A Job of an earlier rollback, or one that failed (refused before this without --retry), goes first."""
    state = downgrade.job_state(existing)
    if existing is not None and downgrade.from_revision(existing) != downgrade.from_revision(job.manifest):
        # Left by an earlier, finished rollback to the same version: its success says nothing about now.
        out.progress(f"job/{job.name} is left from an earlier rollback: replacing it")
        state = JobState.FAILED
    if state is JobState.FAILED:
        kube.delete(t, "job", job.name)
        return JobState.ABSENT
    return state


@dataclass
class Ended:
    """How one Job ended: `codes` when it ran or had succeeded, else the error that stopped it."""

    job: DowngradeJob
    codes: str = ""
    error: DowngradeFailed | None = None
    started: bool = True

    def line(self) -> str:
        name = f"job/{self.job.name}"
        if not self.started:
            dbs = ", ".join(databases(self.job))
            return f"{name} ({dbs}): not started, as an earlier Job of its database failed"
        if self.error is None:
            return self.codes if self.codes.startswith(name) else f"{name}: {self.codes}"
        return f"{name}: {str(self.error.message).removeprefix('downgrade failed: ')}"


def run_jobs(
    t: Target,
    jobs: Sequence[DowngradeJob],
    out: Output,
    *,
    retry: bool,
    timeout: float,
    seen: Seen | None = None,
) -> str:
    """Run every downgrade Job to its end; "<db> exit 0, …" for all of them, else DowngradeFailed (4)
    naming each Job and database. `seen`: the Jobs as read beside the lock's lease write (read here if
    not), which decides per Job: skip (succeeded), attach (running), create, or refuse (failed)."""
    if seen is None or set(seen) != {j.name for j in jobs}:
        seen = read(t, jobs)
    _refuse_failed_earlier(t, jobs, seen, retry)
    drain = waits.Drain(DRAIN_LOGS)
    several = len(jobs) > 1

    def one(job: DowngradeJob) -> Ended:
        state = _prepare(t, job, seen[job.name], out)
        if state is JobState.SUCCEEDED:
            out.skip(f"job/{job.name} already succeeded")
            return Ended(job, codes=f"job/{job.name} succeeded earlier")
        try:
            running = state is JobState.ACTIVE
            codes = downgrade.run_job(t, job, out, running=running, timeout=timeout, drain=drain)
        except DowngradeFailed as e:
            if several:
                out.fail(f"job/{job.name}: {str(e.message).removeprefix('downgrade failed: ')}")
            return Ended(job, error=e)
        if several:
            out.ok(f"job/{job.name}: {codes}")
        return Ended(job, codes=codes)

    ended = [e for chain in proc.gather(*(lambda g=g: _chain(g, one) for g in groups(jobs))) for e in chain]
    ended.sort(key=lambda e: list(jobs).index(e.job))
    failed = [e for e in ended if e.error is not None or not e.started]
    if not failed:
        return ", ".join(e.codes for e in ended)
    if len(jobs) == 1:
        raise failed[0].error  # type: ignore[misc]  (one Job: its own message, as before)
    raise _summary(ended, failed)


def _chain(chain: list[DowngradeJob], one: Callable[[DowngradeJob], Ended]) -> list[Ended]:
    """The Jobs of one group in order; after a failure the later ones are not started (they revert the
    same database, whose state is now unknown)."""
    ended: list[Ended] = []
    for job in chain:
        if ended and (ended[-1].error is not None or not ended[-1].started):
            ended.append(Ended(job, started=False))
            continue
        ended.append(one(job))
    return ended


def _refuse_failed_earlier(t: Target, jobs: Sequence[DowngradeJob], seen: Seen, retry: bool) -> None:
    """A Job that failed in an earlier run needs the operator first: nothing starts without --retry."""
    if retry:
        return
    failed = [
        j.name
        for j in jobs
        if seen[j.name] is not None
        and downgrade.job_state(seen[j.name]) is JobState.FAILED
        and downgrade.from_revision(seen[j.name]) == downgrade.from_revision(j.manifest)
    ]
    if not failed:
        return
    names = ", ".join(f"job/{n}" for n in failed)
    logs = " ".join(f"`kubectl logs job/{n} -n {t.namespace} --all-containers`" for n in failed)
    raise DowngradeFailed(
        f"{names} failed in an earlier run",
        hint=f"Read {logs}, fix the cause, then re-run with --retry to recreate "
        + ("it." if len(failed) == 1 else "them (the Jobs that succeeded are skipped)."),
    )


def _summary(ended: list[Ended], failed: list[Ended]) -> DowngradeFailed:
    """One line for the report (what failed, what finished, what never started), then one per Job."""

    def dbs(which: list[Ended]) -> str:
        return ", ".join(dict.fromkeys(db for e in which for db in databases(e.job)))

    bad = [e for e in failed if e.started]
    first = f"downgrade failed for {dbs(bad)} ({len(bad)} of {len(ended)} Jobs)"
    if ok := [e for e in ended if e not in failed]:
        first += f"; {dbs(ok)} finished"
    if later := [e for e in failed if not e.started]:
        first += f"; not started: {', '.join(f'job/{e.job.name}' for e in later)}"
    hints = list(dict.fromkeys(e.error.hint for e in bad if e.error is not None and e.error.hint))
    return DowngradeFailed(
        "\n".join([first, *(f"  {e.line()}" for e in ended)]),
        hint="\n".join(hints) + "\nThe Jobs that succeeded are skipped when the same command runs again.",
    )
