"""Must 8(b): SIGINT, SIGTERM and SIGKILL at every step of a rollback (the signal lands as the call that
starts the step begins, or once `helm upgrade` is pending, to the plugin's pid or its whole process
group like a terminal's Ctrl-C), each followed by a re-run that completes."""

from __future__ import annotations

import pytest

from tests.e2e.faults import cells
from tests.e2e.faults.test_fault_matrix import _assert_cells

IDS = [f"{m.id}-{s}".replace(" ", "_") for m in cells.MOMENTS for s in cells.SIGNALS]
CASES = [(m, s) for m in cells.MOMENTS for s in cells.SIGNALS]


@pytest.mark.fault_cell
@pytest.mark.parametrize(("moment", "sig"), CASES, ids=IDS)
def test_signal_at_the_step_then_a_rerun_completes(shimmed, moment: cells.Moment, sig: str) -> None:
    _assert_cells(cells.run_chain(shimmed, [cells.signal_cell(moment, sig)]))


# `make test`'s sample: the steps tests/e2e/test_signals.py does not already interrupt for real (it
# covers the probe and `helm upgrade --wait`), each signal twice; `make test-faults` runs every cell.
SAMPLE = [
    m for m in cells.MOMENTS if m.id in ("lock", "record", "scale-down", "downgrade logs", "verify", "unlock")
]


@pytest.mark.fault_sample
@pytest.mark.parametrize("moment", SAMPLE, ids=[m.id.replace(" ", "_") for m in SAMPLE])
def test_one_signal_per_step(shimmed, moment: cells.Moment) -> None:
    sig = cells.SIGNALS[SAMPLE.index(moment) % len(cells.SIGNALS)]
    _assert_cells(cells.run_chain(shimmed, [cells.signal_cell(moment, sig)]))
