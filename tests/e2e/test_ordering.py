"""The rollback's ordering guarantees, read from kubesim's own event order (resourceVersions), not
from timing: the old servers are gone before any downgrade pod exists, every downgrade pod finished
before helm writes, and no server pod starts before the chart step. For both migration layouts of the
fixture chart: one Job with three containers, and three Jobs (`migrations.separateJobs`)."""

from __future__ import annotations

import json
import time

import pytest

from kubesim.events import Timeline
from kubesim.store import Store
from testbed import app as fixture
from testbed import window
from testbed.cluster import RELEASE

TO = "1.2.0"
LAYOUTS = {"one-job": {}, "three-jobs": {"migrations": {"separateJobs": True}}}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_rollback_keeps_the_order_servers_gone_downgrade_chart_servers(make_app, cluster, layout) -> None:
    app = make_app()
    app.install("1.2.0", **LAYOUTS[layout])
    app.install("1.3.0", **LAYOUTS[layout])
    assert app.heads() == fixture.release_heads("1.3.0")
    since = time.monotonic()

    proc = app.plugin(
        "rollback",
        "--to",
        TO,
        "--chart",
        app.chart(TO),
        "--yes",
        "--report",
        str(app.home / "r.json"),
        timeout=600,
    )

    assert "Rolled back customer-managed from 1.3.0 to 1.2.0" in proc.stderr
    assert app.heads() == fixture.release_heads(TO)
    assert app.release()["chart"] == f"prefect-cloud-{TO}"
    w = window.read(cluster.sim.timeline, app.namespace, RELEASE, fixture.server_ref(TO), since)
    assert window.violations(w) == []
    assert [p.phase for p in w.downgrade] == ["Succeeded"] * (3 if layout == "three-jobs" else 1)
    if layout == "three-jobs":  # one Job per database, each named after it
        assert sorted(p.name.split("-")[-2] for p in w.downgrade) == sorted(fixture.DATABASES)
    assert w.servers_created, "the chart step started a target server"
    assert w.scaled_down and w.start == w.scale_down_request <= w.scaled_down.t < w.first_ready.t
    report = json.loads((app.home / "r.json").read_text())
    assert report["outcome"] == "succeeded"


def _pod(name: str, component: str, rv_phase: str = "Pending", command: list[str] | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "a", "labels": {"app.kubernetes.io/component": component}},
        "spec": {"containers": [{"name": component, "image": "img:2", "command": command or ["run"]}]},
        "status": {"phase": rv_phase},
    }


def test_violations_name_a_server_started_before_the_chart_and_a_downgrade_beside_a_server() -> None:
    """The checks can fail: a timeline where the order is broken both ways."""
    timeline, store = Timeline(), Store()
    store.listeners.append(timeline.on_change)
    since = time.monotonic()
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}})
    store.create(_pod("old", "server"))
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "rel-server", "namespace": "a"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"x": "y"}}, "template": {}},
    }
    store.create(deployment)
    store.create(_pod("down", "db-migrations", command=["prefect-cloud", "nebula", "database", "downgrade"]))
    store.delete("Pod", "a", "old")  # the old server outlived the downgrade pod's creation
    store.update(
        _pod("down", "db-migrations", "Succeeded", ["prefect-cloud", "nebula", "database", "downgrade"])
    )
    store.create(_pod("new", "server"))  # before helm wrote anything
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "sh.helm.release.v1.rel.v3",
            "namespace": "a",
            "labels": {"owner": "helm", "name": "rel", "status": "pending-upgrade"},
        },
    }
    store.create(secret)
    ready = _pod("new", "server", "Running")
    ready["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    store.update(ready, check_rv=False)

    w = window.read(timeline, "a", "rel", "img:2", since)

    assert window.violations(w) == [
        "a downgrade pod was created while a server pod of the old release still existed",
        "1 server pod(s) created after the scale-down but before the chart step",
    ]
