"""Must 8(a): every distinct kubectl/helm call of a rollback x {fails, hangs, prints garbage, prints
nothing}. Each cell: a documented exit code, no traceback, a clear message, no silent change, and a
fault-free re-run that reaches the target (see cells.py / harness.py)."""

from __future__ import annotations

import pytest

from tests.e2e.faults import cells

CALLS = cells.calls()
STEPS = list(dict.fromkeys(c.step for c in CALLS))


def _assert_cells(done: list[cells.Cell]) -> None:
    failed = [f"[{c.row} x {c.col}] " + "; ".join(c.problems) for c in done if c.problems]
    assert not failed, f"{len(failed)} of {len(done)} cells failed:\n" + "\n".join(failed)


@pytest.mark.fault_cell
@pytest.mark.parametrize("mode", cells.MODES)
@pytest.mark.parametrize("step", STEPS)
def test_every_call_of_the_step_under_the_fault(shimmed, step: str, mode: str) -> None:
    chain = [cells.fault_cell(c, mode) for c in CALLS if c.step == step]
    _assert_cells(cells.run_chain(shimmed, chain))


def sample() -> list[cells.Cell]:
    """One cell per distinct call kind (its first call), the modes taken in turn."""
    firsts: dict[str, cells.Call] = {}
    for c in CALLS:
        firsts.setdefault(c.kind, c)
    return [cells.fault_cell(c, cells.MODES[i % len(cells.MODES)]) for i, c in enumerate(firsts.values())]


@pytest.mark.fault_sample
def test_one_fault_per_call_kind(shimmed) -> None:
    _assert_cells(cells.run_chain(shimmed, sample()))
