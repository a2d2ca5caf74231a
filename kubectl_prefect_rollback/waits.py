"""The one way the plugin waits for the cluster: look, and look again after a pause, until a deadline.

Every pause ends early on a signal (interrupt.sleep), so a Ctrl-C during any wait stops at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from kubectl_prefect_rollback import interrupt, kube
from kubectl_prefect_rollback.constants import POLL_PODS
from kubectl_prefect_rollback.errors import RollbackError
from kubectl_prefect_rollback.target import Target

T = TypeVar("T")


def deadline(seconds: float) -> float:
    return time.monotonic() + seconds


def wait_until(
    look: Callable[[], T | None],
    *,
    deadline: float,
    poll: float,
    expired: Callable[[], BaseException],
) -> T:
    """The first answer of `look` that is not None. One look always happens, even past the deadline;
    after it, `expired()` is raised (it may name what the last look saw)."""
    while True:
        got = look()
        if got is not None:
            return got
        if time.monotonic() > deadline:
            raise expired()
        interrupt.sleep(poll)


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
        poll=POLL_PODS,
        expired=lambda: RollbackError(f"deployments still have pods after {timeout:.0f}s: {', '.join(left)}"),
    )
