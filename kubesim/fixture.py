"""The `kubesim` pytest fixture: one started KubeSim per test session, a fresh namespace per test.

Registered by `tests/conftest.py` and `kubesim/tests/conftest.py` (`pytest_plugins`). Sharing the
server keeps the suite fast (no restart, kubectl's discovery cache stays warm per HOME); namespaces
keep tests apart, and fault injection is reset after every test.

Every test that takes the fixture is marked `kubesim` (a layer: real binaries, a server, bwrap
sandboxes), so `make test-unit` leaves them out with `-m "not kubesim"`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported when a test takes the fixture: aiohttp is no cost of a run without one
    from .harness import KubeSim

_counter = itertools.count(1)
KUBESIM_FIXTURES = {"kubesim", "kubesim_server"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kubesim: runs against a started kubesim (see kubesim/fixture.py)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if KUBESIM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kubesim)


@pytest.fixture(scope="session")
def kubesim_server() -> Iterator[KubeSim]:
    from .harness import KubeSim

    with KubeSim(tls=True) as sim:
        yield sim


@pytest.fixture
def kubesim(kubesim_server: KubeSim, request: pytest.FixtureRequest) -> Iterator[KubeSim]:
    """A started KubeSim whose `namespace` (and kubeconfig default namespace) is fresh for this test."""
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    kubesim_server.use_namespace(f"t{next(_counter)}-{base}")
    kubesim_server.requests.clear()
    try:
        yield kubesim_server
    finally:
        kubesim_server.reset()
        kubesim_server.delete("Namespace", "", kubesim_server.namespace)
