"""`abort` and `status` for real: kubesim, real kubectl and helm, real Alembic on real databases.
Each case stops a rollback at one point, reads `status`, aborts, and checks the release is back."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from testbed import app as fixture
from testbed.cluster import PLUGIN, RELEASE, App
from tests.e2e.faults import harness

TO, FROM = "1.2.0", "1.3.0"
LEASE = f"{RELEASE}-prefect-rollback"
TOOLS = [("1.32", "4.1.4"), ("1.31.9", "3.17.3")]


def rollback(app: App, *extra: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return app.plugin(
        "rollback", "--to", TO, "--chart", app.chart(TO), "--yes", *extra, check=check, timeout=600
    )


def status(app: App) -> dict:
    proc = app.plugin("status", "-o", "json")
    return json.loads(proc.stdout)


def abort(app: App, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return app.plugin("abort", "--yes", *extra, check=check, timeout=600)


def add_service_account(app: App) -> None:
    """A row of the operator's own in a table the 1.3.0 -> 1.2.0 downgrade drops."""
    from sqlalchemy import text

    engine = fixture._engine(app.host_urls["nebula"])
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO service_account (name) VALUES ('operator-bot')"))
    finally:
        engine.dispose()


GOLDEN = Path(__file__).parents[1] / "data" / "golden" / "status-downgrade-failed.json"


def key_paths(value: object, prefix: str = "") -> set[str]:
    """Every key path of the nested mappings: the schema a document has, without its values."""
    if not isinstance(value, dict):
        return set()
    return {p for k, v in value.items() for p in {prefix + k} | key_paths(v, prefix + k + ".")}


def step_states(doc: dict) -> dict[str, str]:
    return {s["name"]: s["state"] for s in doc["unfinished"]["steps"]}


def assert_back_at_130(app: App, *, rolled_forward: bool = False) -> None:
    assert app.heads() == fixture.release_heads(FROM)
    rel = app.release()
    assert (rel["status"], rel["chart"]) == ("deployed", f"prefect-cloud-{FROM}")
    pods = json.loads(app.kubectl("get", "pods", "-o", "json").stdout)["items"]
    servers = [
        p for p in pods if p["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "server"
    ]
    assert servers, "the servers run again"
    for pod in servers:
        image = next(c["image"] for c in pod["spec"]["containers"] if c["name"] == "server")
        assert image == fixture.server_ref(FROM)
    deps = json.loads(app.kubectl("get", "deployments", "-o", "json").stdout)["items"]
    assert all(d["spec"]["replicas"] > 0 for d in deps), "the saved replica counts are back"
    assert app.kubectl("get", "lease", LEASE, "--ignore-not-found").stdout == ""
    ours = app.kubectl(
        "get", "jobs", "-l", "app.kubernetes.io/managed-by=kubectl-prefect-rollback", "-o", "name"
    )
    # a finished rollback leaves its downgrade Job, as always (a later one replaces it: another from-revision)
    left = {"job.batch/customer-managed-downgrade-to-1-2-0"} if rolled_forward else set()
    assert set(ours.stdout.split()) == left, "no Job of ours is left for a later rollback to trip on"
    after = status(app)
    assert after["unfinished"] is None


@pytest.mark.parametrize("kubectl,helm", TOOLS)
def test_abort_after_one_databases_downgrade_failed(at_130, cluster, kubectl: str, helm: str) -> None:
    app = at_130(kubectl=kubectl, helm=helm)
    add_service_account(app)
    seeded = fixture.row_count(app.host_urls["nebula"], "service_account") - 1
    cluster.sim.fail_container(r"^orion$", 1)
    first = rollback(app)
    assert first.returncode == 4, first.stderr
    cluster.sim.reset_faults()
    assert app.heads()["nebula"] == fixture.release_heads(TO)["nebula"], "nebula was downgraded"

    doc = status(app)
    golden = json.loads(GOLDEN.read_text())
    assert key_paths(doc["unfinished"]) == key_paths(golden["unfinished"]), "the documented schema"
    assert doc["heads"]["heads"] == fixture.release_heads(FROM), "a probe pod of the deployed image"
    u = doc["unfinished"]
    assert u["operation"] == "rollback" and u["lock"]["live"] is False
    assert {db: d["state"] for db, d in u["databases"].items()} == {
        "nebula": "downgraded",
        "orion": "failed",
        "events": "downgraded",
    }
    assert step_states(doc)["downgrade"] == "failed" and step_states(doc)["chart"] == "not-started"
    assert step_states(doc)["scale-down"] == "done"
    assert u["commands"]["abort"] == f"{PLUGIN.rsplit('/', 1)[-1]} abort -n {app.namespace}" or u["commands"][
        "abort"
    ].endswith(f"abort -n {app.namespace}")
    assert (
        f"rollback --to {TO} --chart {app.chart(TO)} --retry --yes -n {app.namespace}"
        in u["commands"]["resume"]
    )

    dry = abort(app, "--dry-run")
    assert "Data that does NOT come back" in dry.stderr
    assert "table service_account" in dry.stderr and "table automation_bucket" in dry.stderr
    assert app.heads()["nebula"] == fixture.release_heads(TO)["nebula"], "--dry-run changed nothing"

    done = abort(app, "--report", str(app.home / "abort.json"))
    assert "Aborted: customer-managed is back at 1.3.0" in done.stderr
    assert_back_at_130(app)
    assert app.tables("nebula") >= {"service_account"}, "re-created by the upgrade"
    assert fixture.row_count(app.host_urls["nebula"], "service_account") == seeded, (
        "the operator's row is lost"
    )
    report = json.loads((app.home / "abort.json").read_text())
    assert report["kind"] == "AbortReport" and report["outcome"] == "succeeded"
    assert [s["name"] for s in report["steps"]] == [
        "lock",
        "stop",
        "upgrade",
        "clean",
        "restore",
        "verify",
        "unlock",
    ]

    again = rollback(app)  # the release is whole again: a new rollback plans afresh and succeeds
    assert again.returncode == 0, again.stderr
    assert app.heads() == fixture.release_heads(TO)


def test_abort_after_interrupted_scale_down(at_130) -> None:
    app = at_130()
    shim = harness.install(app)  # SIGINT to the plugin while its `kubectl scale` runs
    t0 = time.monotonic()
    proc = harness.start(
        shim, [PLUGIN, "rollback", "--to", TO, "--chart", app.chart(TO), "--yes", "-n", app.namespace]
    )
    shim.set(
        kind="kubectl scale deployment", mode="signal", signal="SIGINT", target="pid", delay=0.0, pid=proc.pid
    )
    res = harness.finish(proc, t0, 240)
    shim.clear()
    assert res.returncode == 130 and shim.fired(), res.text()
    doc = status(app)
    states = step_states(doc)
    assert states["scale-down"] in ("partial", "done") and states["downgrade"] == "not-started", states
    assert all(
        d["state"] in ("unchanged", "nothing-to-revert") for d in doc["unfinished"]["databases"].values()
    )
    assert doc["unfinished"]["replicas"][f"{RELEASE}-server"]["now"] == 0

    done = abort(app)
    assert "skipping: no database was downgraded" in done.stderr
    assert "restored" in done.stderr
    assert_back_at_130(app)


def test_abort_when_nothing_was_changed_yet(at_130, cluster) -> None:
    app = at_130()
    # the scale-down fails (the records ConfigMap, written beside it, is no change abort undoes)
    for method in ("PATCH", "PUT"):
        cluster.sim.fail_requests(method, rf"/namespaces/{app.namespace}/deployments/[^/]+/scale", times=9)
    first = rollback(app)
    assert first.returncode == 1, first.stderr
    cluster.sim.reset_faults()
    doc = status(app)
    assert step_states(doc) == {
        "lock": "done",
        "scale-down": "not-started",
        "record": "done",
        "downgrade": "not-started",
        "chart": "not-started",
        "verify": "not-started",
        "unlock": "not-started",
    }
    unconfirmed = app.plugin("abort", check=False)
    assert unconfirmed.returncode == 3 and "refusing to abort without confirmation" in unconfirmed.stderr
    plan = json.loads(abort(app, "--dry-run", "-o", "json").stdout)
    assert (plan["kind"], plan["phase"], plan["jobs"], plan["lost"]) == ("AbortPlan", "before-chart", [], [])
    assert [s["step"] for s in plan["steps"]][:3] == ["lock", "stop", "upgrade"]
    done = abort(app)
    assert "skipping: replicas already as the operator had them" in done.stderr
    assert_back_at_130(app)


def test_abort_interrupted_then_rerun(at_130, cluster) -> None:
    app = at_130(helm="3.17.3")
    cluster.sim.fail_requests("POST", rf"/namespaces/{app.namespace}/secrets$", status=500, times=1)
    first = rollback(app)
    assert first.returncode == 5, first.stderr
    assert app.heads() == fixture.release_heads(TO), "downgraded, then helm failed before writing"
    assert step_states(status(app))["downgrade"] == "done"

    cluster.sim.set_start_delay(6)
    args = [PLUGIN, "abort", "--yes", "--namespace", app.namespace]
    proc = subprocess.Popen(
        args, env=app.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen = []
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        if "created; following" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(seen) + err
    cluster.sim.set_start_delay(0)
    doc = status(app)
    assert doc["unfinished"]["operation"] == "abort" and doc["unfinished"]["commands"]["resume"] is None
    refused = rollback(app)
    assert refused.returncode == 3 and "abort of the rollback" in refused.stderr

    done = abort(app)
    assert "lock taken over" in done.stderr
    assert_back_at_130(app)


@pytest.mark.parametrize("kubectl,helm", TOOLS)
def test_roll_forward_after_a_completed_rollback(at_130, kubectl: str, helm: str) -> None:
    app = at_130(kubectl=kubectl, helm=helm)
    assert rollback(app).returncode == 0
    doc = status(app)
    assert doc["unfinished"] is None
    assert (doc["lastRollback"]["from"], doc["lastRollback"]["to"]) == (FROM, TO)

    refused = abort(app, check=False)
    assert refused.returncode == 3 and "--roll-forward" in refused.stderr

    template = app.chart(FROM).replace(FROM, "{version}")
    done = abort(app, "--roll-forward", "--chart", template)
    assert "table service_account" in done.stderr, "the plan names what the rollback dropped"
    assert_back_at_130(app, rolled_forward=True)
    history = json.loads(app.helm("history", RELEASE, "-o", "json").stdout)
    assert history[-1]["description"].startswith("prefect-rollback abort: rolled forward")


def test_abort_stops_a_downgrade_job_that_still_runs(at_130, cluster) -> None:
    app = at_130()
    cluster.sim.set_start_delay(8)  # the downgrade pod starts late: interrupt while it runs
    args = [PLUGIN, "rollback", "--to", TO, "--chart", app.chart(TO), "--yes", "--namespace", app.namespace]
    proc = subprocess.Popen(
        args, env=app.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "created; following" in line:
            break
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    cluster.sim.set_start_delay(0)
    assert step_states(status(app))["downgrade"] == "running", "the Job keeps running in the cluster"

    done = abort(app)
    assert "stopped job/customer-managed-downgrade-to-1-2-0" in done.stderr
    assert_back_at_130(app)


def test_roll_forward_after_a_failed_helm_upgrade(at_130, cluster) -> None:
    app = at_130(helm="3.17.3")
    cluster.sim.fail_requests(
        "PATCH", rf"/namespaces/{app.namespace}/deployments/{RELEASE}-server\?", times=1
    )
    first = rollback(app)
    assert first.returncode == 5, first.stderr
    doc = status(app)
    assert doc["unfinished"]["chart"]["state"] == "failed"
    assert "abort --roll-forward" in doc["unfinished"]["commands"]["abort"]
    refused = abort(app, check=False)
    assert refused.returncode == 3 and "--roll-forward" in refused.stderr

    template = app.chart(FROM).replace(FROM, "{version}")
    abort(app, "--roll-forward", "--chart", template)
    assert_back_at_130(app, rolled_forward=True)
