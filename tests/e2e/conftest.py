"""End-to-end fixtures: one kubesim with the Prefect-like fixture app for the session, and a fresh
namespace (with its own databases) per test, driven by the chosen real kubectl and helm."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kubesim.tools import require_tool, tools_required
from testbed.cluster import App, Cluster

_ids = itertools.count(1)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    require_tool("bwrap")
    work = Path(tempfile.mkdtemp(prefix="prefect-rollback-e2e-"))
    c = Cluster.start(work)
    try:
        yield c
    finally:
        c.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def make_app(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[Callable[..., App]]:
    """make_app(kubectl="1.32", helm="4.1.4", pg=False) -> an App in a fresh namespace."""
    made: list[App] = []

    def make(kubectl: str = "1.32", helm: str = "4.1.4", pg: bool = False) -> App:
        pg_url = os.environ.get("PREFECT_ROLLBACK_PG_URL") if pg else None
        if pg and not pg_url:
            message = "PREFECT_ROLLBACK_PG_URL is not set (PostgreSQL variant)"
            if tools_required():
                pytest.fail(message)
            pytest.skip(message)
        base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:30].strip("-")
        app = cluster.app(
            f"e{next(_ids)}-{base}",
            kubectl=require_tool("kubectl", kubectl),
            helm=require_tool("helm", helm),
            pg_url=pg_url,
        )
        made.append(app)
        return app

    yield make
    for app in made:
        cluster.sim.reset_faults()
        cluster.sim.delete("Namespace", "", app.namespace)
        app.drop()


@pytest.fixture
def at_130(make_app: Callable[..., App]) -> Callable[..., App]:
    """An App installed at 1.2.0 and upgraded to 1.3.0 (databases at the 1.3.0 heads)."""

    def make(**kw: object) -> App:
        app = make_app(**kw)
        app.install("1.2.0")
        app.install("1.3.0")
        return app

    return make
