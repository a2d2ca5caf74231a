"""Fixtures of the fault and interruption matrices: an App at 1.3.0 with the shim in front of its tools.

`make test` runs a sample of the cells (one per call kind, one per step); `make test-faults`
(PREFECT_FAULTS=all) runs all of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from testbed.cluster import App
from tests.e2e.faults import harness


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # only this folder's items: the hook sees the whole session's
    keep, drop = [], []
    for item in items:
        if not (item.get_closest_marker("fault_cell") or item.get_closest_marker("fault_sample")):
            keep.append(item)
            continue
        if os.environ.get("PREFECT_FAULTS") == "all":
            (drop if item.get_closest_marker("fault_sample") else keep).append(item)
        else:
            (drop if item.get_closest_marker("fault_cell") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fault_cell: one cell of the fault/interruption matrices")
    config.addinivalue_line("markers", "fault_sample: a cell `make test` runs (the rest: make test-faults)")


@pytest.fixture
def shimmed(at_130: Callable[..., App]) -> Callable[..., tuple[App, harness.Shim]]:
    def make(**kw: object) -> tuple[App, harness.Shim]:
        app = at_130(**kw)
        return app, harness.install(app)

    return make
