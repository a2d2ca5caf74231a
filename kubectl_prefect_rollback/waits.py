"""The one way the plugin waits for the cluster: look, and look again after a pause, until a deadline.

Every pause ends early on a signal (interrupt.sleep, or a check at least every SIGNAL_CHECK seconds
while a wake event is awaited), so a Ctrl-C during any wait stops at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from kubectl_prefect_rollback import interrupt, kube
from kubectl_prefect_rollback.constants import POLL_PODS, POLL_SOON, SOON_FOR
from kubectl_prefect_rollback.errors import RollbackError
from kubectl_prefect_rollback.target import Target

T = TypeVar("T")
Poll = float | Callable[[float], float]  # seconds between looks, or of the seconds since the wait began
SIGNAL_CHECK = 0.1  # while a wake event is awaited, look for a signal this often


def deadline(seconds: float) -> float:
    return time.monotonic() + seconds


def soon(interval: float) -> Callable[[float], float]:
    """Short polls in the first second of a wait (what it waits for is often nearly there: a Job's
    pod, the last server gone), then `interval`."""
    return lambda elapsed: POLL_SOON if elapsed < SOON_FOR else interval


def wait_until(
    look: Callable[[], T | None],
    *,
    deadline: float,
    poll: Poll,
    expired: Callable[[], BaseException],
    wake: threading.Event | None = None,
) -> T:
    """The first answer of `look` that is not None. One look always happens, even past the deadline;
    after it, `expired()` is raised (it may name what the last look saw).

    `wake`, set by whoever sees the answer coming (a log follower whose container ended), ends the pause
    at once; the looks of the next second then come every POLL_SOON, as the cluster's status may lag."""
    since = time.monotonic()
    while True:
        got = look()
        if got is not None:
            return got
        now = time.monotonic()
        if now > deadline:
            raise expired()
        pause = poll(now - since) if callable(poll) else poll
        if wake is None:
            interrupt.sleep(pause)
        elif _woken(wake, pause):  # the answer is near: short polls again for a second
            poll, since = poll if callable(poll) else soon(poll), time.monotonic()


def _woken(wake: threading.Event, seconds: float) -> bool:
    """Pause until `wake` is set (True, and it is cleared for the next one) or `seconds` passed."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if wake.wait(max(0.0, min(left, SIGNAL_CHECK))):
            wake.clear()
            interrupt.check()
            return True
        interrupt.check()
        if left <= SIGNAL_CHECK:
            return False


class Drain:
    """A bound shared by several joins (the log followers of every Job of a step): together they wait
    at most `seconds`, so their last lines never make a step wait unbounded."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds
        self._lock = threading.Lock()

    def join(self, threads: Sequence[threading.Thread]) -> list[threading.Thread]:
        """Join each thread within what is left of the bound; the ones still alive after it."""
        for th in threads:
            with self._lock:
                budget = max(0.0, self.left)
            t0 = time.monotonic()
            th.join(budget)
            with self._lock:
                self.left -= time.monotonic() - t0
        return [th for th in threads if th.is_alive()]


def scaled_down(t: Target, names: list[str], timeout: float = 300) -> None:
    """Old servers must be gone before the downgrade: they migrate the database up when they start."""
    left: list[str] = []

    def look() -> bool | None:
        left[:] = [
            d["metadata"]["name"]
            for d in kube.list_(t, "deployments")
            if d["metadata"]["name"] in names and int((d.get("status") or {}).get("replicas") or 0) > 0
        ]
        return True if not left else None

    wait_until(
        look,
        deadline=deadline(timeout),
        poll=soon(POLL_PODS),
        expired=lambda: RollbackError(f"deployments still have pods after {timeout:.0f}s: {', '.join(left)}"),
    )
