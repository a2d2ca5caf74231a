"""costs: spawns counted by proc, waits on the cluster timed, overlapping waits counted once."""

from __future__ import annotations

import threading
import time

import pytest

from kubectl_prefect_rollback import costs, proc


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> costs.Stats:
    monkeypatch.setattr(costs, "stats", costs.Stats())
    return costs.stats


def test_every_child_proc_starts_is_counted(fresh: costs.Stats) -> None:
    proc.run("true")
    proc.run("true")
    assert fresh.spawns == 2


def test_waits_one_after_another_add_up(fresh: costs.Stats) -> None:
    for _ in range(2):
        with costs.waiting():
            time.sleep(0.05)
    assert 0.1 <= fresh.waited < 1.0


def test_overlapping_waits_count_once(fresh: costs.Stats) -> None:
    def wait() -> None:
        with costs.waiting():
            time.sleep(0.3)

    threads = [threading.Thread(target=wait) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 0.3 <= fresh.waited < 0.75  # one after another would be 0.9
