"""Run the downgrade Job: apply it, follow every migration container's log at once, and judge
success per container by its exit code (an Istio sidecar can keep the Job itself from completing)."""

from __future__ import annotations

import enum
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubectl_prefect_rollback import costs, interrupt, kube, proc, servers, waits
from kubectl_prefect_rollback.constants import DATABASES, DRAIN_LOGS, FROM_REVISION, POLL_FOLLOWED, POLL_JOB
from kubectl_prefect_rollback.errors import DowngradeFailed
from kubectl_prefect_rollback.output import Output, duration
from kubectl_prefect_rollback.target import Target

if TYPE_CHECKING:
    from kubectl_prefect_rollback.job_rewrite import DowngradeJob

DOWNGRADE = re.compile(r"\b(nebula|orion|events)\s+database\s+downgrade\b")
_KUBECTL_ERROR = re.compile(r"^(Error from server|error:|Unable to connect)")


class JobState(enum.Enum):
    ABSENT = "absent"
    ACTIVE = "active"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def job_state(job: dict[str, Any] | None) -> JobState:
    if job is None:
        return JobState.ABSENT
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "SuccessCriteriaMet"):
            return JobState.SUCCEEDED
        if cond.get("status") == "True" and cond.get("type") in ("Failed", "FailureTarget"):
            return JobState.FAILED
    return JobState.ACTIVE


def migration_containers(job: dict[str, Any]) -> dict[str, str]:
    """Container name -> database of a Job read back from the cluster (`status`, `abort`); a Job we
    make carries its own map (job_rewrite.DowngradeJob)."""
    spec = job["spec"]["template"]["spec"]
    found = {}
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        m = DOWNGRADE.search(" ".join([*(c.get("command") or []), *(c.get("args") or [])]))
        if m:
            found[c["name"]] = m.group(1)
    return found


@dataclass
class Outcome:
    exit_codes: dict[str, int]
    phase: str  # the pod's; Running with all migrations done means a sidecar is still up

    @property
    def ok(self) -> bool:
        return all(code == 0 for code in self.exit_codes.values())


def _find_pod(t: Target, job_name: str) -> dict[str, Any] | None:
    pods = kube.list_(t, "pods", f"job-name={job_name}")
    pods.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)
    return pods[0] if pods else None


def _terminated(cs: dict[str, Any] | None) -> int | None:
    term = ((cs or {}).get("state") or {}).get("terminated")
    return None if term is None else int(term.get("exitCode", 1))


class _Follower(threading.Thread):
    """`kubectl logs -f` for one container, retried while the container has not started yet. Its log
    ending means the container ended: it wakes the exit-code wait at once instead of after a poll."""

    def __init__(
        self, t: Target, pod: str, container: str, db: str, out: Output, wake: threading.Event
    ) -> None:
        super().__init__(name=f"logs-{container}", daemon=True)
        self.t, self.pod, self.container, self.label, self.out, self.wake = t, pod, container, db, out, wake
        self.index = DATABASES.index(db) if db in DATABASES else 0  # a colour per database, across Jobs
        self.finished = threading.Event()  # set by the waiter when the container has terminated
        self.printed = 0
        self._stream = None

    def run(self) -> None:
        try:
            self._follow()
        except (KeyboardInterrupt, proc.CommandError):
            return  # a signal, or kubectl gone: the waiter decides; it reads exit codes, not logs

    def _follow(self) -> None:
        while True:
            self._stream = kube.logs(self.t, self.pod, self.container, follow=True)
            seen = 0
            for line in self._stream.lines():
                if _KUBECTL_ERROR.match(line):
                    continue  # "is waiting to start": real kubectl does not retry, we do
                seen += 1
                if seen > self.printed:
                    self.out.log_line(self.label, self.index, line)
                    self.printed = seen
            if self._stream.wait() == 0:
                self.wake.set()
                return
            if self.finished.is_set():
                return
            interrupt.sleep(POLL_JOB)

    def stop(self) -> None:
        if self._stream:
            self._stream.stop()


def follow(
    t: Target,
    job_name: str,
    containers: dict[str, str],
    out: Output,
    *,
    timeout: float,
    drain: waits.Drain | None = None,
) -> Outcome:
    """Stream logs of every migration container until each has an exit code; then their last lines,
    within `drain` (shared by the Jobs of one step, so the log tails never add up unbounded)."""
    end = waits.deadline(timeout)
    pod = waits.wait_until(
        lambda: _find_pod(t, job_name),
        deadline=end,
        poll=waits.soon(POLL_JOB),  # the Job controller makes it within a moment
        expired=lambda: DowngradeFailed(f"job/{job_name} created no pod within {timeout:.0f}s"),
    )
    name = pod["metadata"]["name"]
    wake = threading.Event()
    followers = {c: _Follower(t, name, c, db, out, wake) for c, db in sorted(containers.items())}
    for f in followers.values():
        f.start()
    try:
        with costs.waiting():
            codes, phase = _wait_exit_codes(t, name, containers, end, followers, wake)
            cut = (drain or waits.Drain(DRAIN_LOGS)).join(list(followers.values()))
        for f in cut:
            out.warn(
                f"[{f.label}] stopped following the log of {f.container}: still streaming after it ended"
            )
        return Outcome(codes, phase)
    finally:
        for f in followers.values():
            f.stop()


def _wait_exit_codes(
    t: Target,
    pod_name: str,
    containers: dict[str, str],
    end: float,
    followers: dict[str, _Follower],
    wake: threading.Event,
) -> tuple[dict[str, int], str]:
    codes: dict[str, int] = {}

    def look() -> tuple[dict[str, int], str] | None:
        pod = kube.get(t, "pod", pod_name)
        if pod is None:
            raise DowngradeFailed(f"pod {pod_name} of the downgrade Job disappeared")
        statuses = servers.statuses(pod)
        for c in containers:
            code = _terminated(statuses.get(c))
            if code is not None and c not in codes:
                codes[c] = code
                followers[c].finished.set()
            reason = servers.waiting_reason(statuses.get(c))
            if reason in servers.CANNOT_START:
                raise DowngradeFailed(f"container {c} of pod {pod_name} cannot start: {reason}")
        phase = (pod.get("status") or {}).get("phase", "")
        if len(codes) == len(containers):
            return codes, phase
        if phase == "Failed":  # e.g. a failed init container
            return {c: codes.get(c, 1) for c in containers}, phase
        return None

    return waits.wait_until(
        look, deadline=end, poll=POLL_FOLLOWED, wake=wake, expired=lambda: TimeoutError(pod_name)
    )


def run_job(
    t: Target, job: DowngradeJob, out: Output, *, running: bool, timeout: float, drain: waits.Drain
) -> str:
    """Apply the downgrade Job, or attach to it when it is `running` already, and follow it to the end;
    "<db> exit 0, …" when every migration container succeeded, else DowngradeFailed. What to do with
    a Job found in the cluster (skip, replace, retry) is decided in downgrades.py."""
    name, containers = job.name, dict(job.databases)
    if running:
        out.progress(f"job/{name} is running: attaching")
    else:
        # create, not apply: the Job was read absent under our lock (one request, not apply's three)
        kube.create(t, job.manifest, validated=job.validated)
        out.progress(f"job/{name} created; following {', '.join(sorted(containers.values()))}")
    return _judge(t, name, containers, out, timeout, drain)


def _judge(
    t: Target, name: str, containers: dict[str, str], out: Output, timeout: float, drain: waits.Drain
) -> str:
    try:
        outcome = follow(t, name, containers, out, timeout=timeout, drain=drain)
    except TimeoutError:
        raise DowngradeFailed(
            f"job/{name} did not finish within {duration(timeout)}; it keeps running",
            hint=f"Re-run the same command to re-attach, "
            f"or `kubectl delete job {name} -n {t.namespace}` to stop it.",
        ) from None
    codes = ", ".join(f"{containers[c]} exit {code}" for c, code in sorted(outcome.exit_codes.items()))
    if not outcome.ok:
        raise DowngradeFailed(
            f"downgrade failed: {codes}",
            hint="The chart was NOT changed. Fix the cause, then re-run the same command with --retry "
            f"to recreate job/{name} (finished steps are skipped).",
        )
    if outcome.phase != "Succeeded":  # a sidecar keeps the pod, and so the Job, alive; the work is done
        kube.delete(t, "job", name, wait=False)
    return codes


def from_revision(job: dict[str, Any]) -> str | None:
    return ((job.get("metadata") or {}).get("annotations") or {}).get(FROM_REVISION)
