"""waits.wait_until: look until an answer, pause between looks, one look even past the deadline; a wake
ends a pause at once, soon() polls short at first; a Drain bounds several joins together."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from kubectl_prefect_rollback import interrupt, waits
from kubectl_prefect_rollback.constants import POLL_SOON, SOON_FOR


def test_returns_the_first_answer_and_pauses_between_looks() -> None:
    answers = iter([None, None, "ready"])
    t0 = time.monotonic()
    assert (
        waits.wait_until(lambda: next(answers), deadline=waits.deadline(5), poll=0.05, expired=RuntimeError)
        == "ready"
    )
    assert time.monotonic() - t0 >= 0.1  # two pauses


def test_past_the_deadline_it_looks_once_then_raises_what_expired_makes() -> None:
    looks = []
    with pytest.raises(TimeoutError, match="still 1 left"):
        waits.wait_until(
            lambda: looks.append(1),
            deadline=time.monotonic() - 1,
            poll=0.01,
            expired=lambda: TimeoutError(f"still {len(looks)} left"),
        )
    assert looks == [1]


def test_an_answer_at_the_last_look_wins_over_the_deadline() -> None:
    assert waits.wait_until(lambda: 0, deadline=time.monotonic() - 1, poll=0.01, expired=RuntimeError) == 0


def test_soon_polls_short_in_the_first_second_then_at_the_interval() -> None:
    poll = waits.soon(0.5)
    assert [poll(s) for s in (0.0, 0.5, 0.99)] == [POLL_SOON] * 3
    assert [poll(s) for s in (SOON_FOR, 7.0)] == [0.5, 0.5]


def _wake_after(wake: threading.Event, seconds: float) -> threading.Thread:
    th = threading.Thread(target=lambda: (time.sleep(seconds), wake.set()), daemon=True)
    th.start()
    return th


def test_a_wake_ends_the_pause_at_once_instead_of_after_the_poll() -> None:
    wake = threading.Event()
    answers = iter([None, "ended"])
    _wake_after(wake, 0.1)
    t0 = time.monotonic()
    got = waits.wait_until(
        lambda: next(answers), deadline=waits.deadline(30), poll=20, wake=wake, expired=RuntimeError
    )
    assert got == "ended" and time.monotonic() - t0 < 2  # not the 20 s poll


def test_after_a_wake_the_next_looks_come_soon_as_the_status_may_lag() -> None:
    """The log ended (wake) but the pod's status does not say so yet: the next look must not wait for
    the step's interval."""
    wake = threading.Event()
    answers = iter([None, None, None, "exit codes"])
    _wake_after(wake, 0.05)
    t0 = time.monotonic()
    got = waits.wait_until(
        lambda: next(answers), deadline=waits.deadline(30), poll=20, wake=wake, expired=RuntimeError
    )
    assert got == "exit codes" and time.monotonic() - t0 < 2
    assert not wake.is_set(), "a wake is used once"


def test_a_signal_stops_a_wait_on_a_wake_event() -> None:
    interrupt.reset()
    try:
        stopper = threading.Timer(
            0.1, lambda: (setattr(interrupt._s, "signum", signal.SIGTERM), interrupt._s.stop.set())
        )
        stopper.start()
        t0 = time.monotonic()
        with pytest.raises(interrupt.Stopped):
            waits.wait_until(
                lambda: None,
                deadline=waits.deadline(30),
                poll=20,
                wake=threading.Event(),
                expired=RuntimeError,
            )
        assert time.monotonic() - t0 < 2
    finally:
        interrupt.reset()


def test_a_drain_bounds_all_its_joins_together_and_names_the_threads_still_alive() -> None:
    hang = threading.Event()
    stuck = [threading.Thread(target=hang.wait, daemon=True) for _ in range(3)]
    done = threading.Thread(target=lambda: None)
    for th in [*stuck, done]:
        th.start()
    drain = waits.Drain(0.3)
    t0 = time.monotonic()
    left = drain.join([done, *stuck[:2]]) + drain.join(stuck[2:])  # two Jobs' followers, one bound
    assert time.monotonic() - t0 < 0.6, "the bound is shared, not 0.3 s per thread"
    assert left == stuck
    hang.set()


def test_scaled_down_looks_at_the_deployments_until_none_named_has_pods(monkeypatch) -> None:
    from kubectl_prefect_rollback import kube
    from kubectl_prefect_rollback.target import Target

    def deployment(name: str, replicas: int) -> dict:
        return {"kind": "Deployment", "metadata": {"name": name}, "status": {"replicas": replicas}}

    looks = iter(
        [[deployment("server", 1), deployment("other", 2)], [deployment("server", 0), deployment("other", 2)]]
    )
    kinds = []
    monkeypatch.setattr(kube, "list_", lambda t, kind, selector=None: kinds.append(kind) or next(looks))
    waits.scaled_down(Target("ns"), ["server"])
    assert kinds == ["deployments"] * 2  # one kind, one round trip per look; "other" is not ours to wait for
