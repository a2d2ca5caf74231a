"""Run the downgrade Job: apply it, follow every migration container's log at once, and judge
success per container by its exit code (an Istio sidecar can keep the Job itself from completing)."""

from __future__ import annotations

import enum
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from kubectl_prefect_rollback import interrupt, kube, proc
from kubectl_prefect_rollback.errors import DowngradeFailed
from kubectl_prefect_rollback.output import Output
from kubectl_prefect_rollback.target import Target

_DOWNGRADE = re.compile(r"\b(nebula|orion|events)\s+database\s+downgrade\b")
_KUBECTL_ERROR = re.compile(r"^(Error from server|error:|Unable to connect)")
POLL = 0.5  # seconds between looks at the pod; logs stream meanwhile
_STUCK = (
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
)


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
    """Container name -> database, for the containers we rewrote into downgrades."""
    spec = job["spec"]["template"]["spec"]
    found = {}
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        m = _DOWNGRADE.search(" ".join([*(c.get("command") or []), *(c.get("args") or [])]))
        if m:
            found[c["name"]] = m.group(1)
    return found


@dataclass
class Outcome:
    exit_codes: dict[str, int]
    pod: str
    phase: str  # the pod's; Running with all migrations done means a sidecar is still up

    @property
    def ok(self) -> bool:
        return all(code == 0 for code in self.exit_codes.values())


def _find_pod(t: Target, job_name: str) -> dict[str, Any] | None:
    pods = kube.list_(t, "pods", f"job-name={job_name}")
    pods.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)
    return pods[0] if pods else None


def _statuses(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    status = pod.get("status") or {}
    return {
        cs["name"]: cs
        for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    }


def _terminated(cs: dict[str, Any] | None) -> int | None:
    term = ((cs or {}).get("state") or {}).get("terminated")
    return None if term is None else int(term.get("exitCode", 1))


class _Follower(threading.Thread):
    """`kubectl logs -f` for one container, retried while the container has not started yet."""

    def __init__(self, t: Target, pod: str, container: str, label: str, index: int, out: Output) -> None:
        super().__init__(name=f"logs-{container}", daemon=True)
        self.t, self.pod, self.container, self.label, self.index, self.out = (
            t,
            pod,
            container,
            label,
            index,
            out,
        )
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
            if self._stream.wait() == 0 or self.finished.is_set():
                return
            interrupt.sleep(POLL)

    def stop(self) -> None:
        if self._stream:
            self._stream.stop()


def follow(t: Target, job_name: str, containers: dict[str, str], out: Output, *, timeout: float) -> Outcome:
    """Stream logs of every migration container until each has an exit code."""
    deadline = time.monotonic() + timeout
    pod = None
    while pod is None:
        pod = _find_pod(t, job_name)
        if pod is None:
            if time.monotonic() > deadline:
                raise DowngradeFailed(f"job/{job_name} created no pod within {timeout:.0f}s")
            interrupt.sleep(POLL)
    name = pod["metadata"]["name"]
    followers = {c: _Follower(t, name, c, db, i, out) for i, (c, db) in enumerate(sorted(containers.items()))}
    for f in followers.values():
        f.start()
    try:
        with proc.waiting():
            codes, phase = _wait_exit_codes(t, name, containers, deadline, followers)
        for f in followers.values():
            f.join(timeout=10)
        return Outcome(codes, name, phase)
    finally:
        for f in followers.values():
            f.stop()


def _wait_exit_codes(
    t: Target, pod_name: str, containers: dict[str, str], deadline: float, followers: dict[str, _Follower]
) -> tuple[dict[str, int], str]:
    codes: dict[str, int] = {}
    while True:
        pod = kube.get(t, "pod", pod_name)
        if pod is None:
            raise DowngradeFailed(f"pod {pod_name} of the downgrade Job disappeared")
        statuses = _statuses(pod)
        for c in containers:
            code = _terminated(statuses.get(c))
            if code is not None and c not in codes:
                codes[c] = code
                followers[c].finished.set()
            reason = ((statuses.get(c) or {}).get("state") or {}).get("waiting", {}).get("reason", "")
            if reason in _STUCK:
                raise DowngradeFailed(f"container {c} of pod {pod_name} cannot start: {reason}")
        phase = (pod.get("status") or {}).get("phase", "")
        if len(codes) == len(containers):
            return codes, phase
        if phase == "Failed":  # e.g. a failed init container
            return {c: codes.get(c, 1) for c in containers}, phase
        if time.monotonic() > deadline:
            raise TimeoutError(pod_name)
        interrupt.sleep(POLL)
