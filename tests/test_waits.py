"""waits.wait_until: look until an answer, pause between looks, one look even past the deadline."""

from __future__ import annotations

import time

import pytest

from kubectl_prefect_rollback import waits


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
