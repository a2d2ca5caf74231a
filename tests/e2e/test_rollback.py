"""The whole rollback, for real: kubesim, real kubectl and helm, real Alembic on real databases."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from testbed import app as fixture
from testbed.cluster import PLUGIN, RELEASE, App

TO = "1.2.0"


def rollback(
    app: App, *extra: str, check: bool = True, report: bool = False
) -> subprocess.CompletedProcess[str]:
    args = ["rollback", "--to", TO, "--chart", app.chart(TO), "--yes", *extra]
    if report:
        args += ["--report", str(app.home / "report.json")]
    return app.plugin(*args, check=check, timeout=600)


def assert_rolled_back(app: App, tables_at_120: dict[str, set[str]]) -> None:
    assert app.heads() == fixture.release_heads(TO)
    for db, tables in tables_at_120.items():
        assert app.tables(db) == tables, f"{db}: the 1.3.0-only tables must be gone"
    rel = app.release()
    assert (rel["status"], rel["chart"]) == ("deployed", f"prefect-cloud-{TO}")
    history = json.loads(app.helm("history", RELEASE, "-o", "json").stdout)
    assert history[-1]["description"].startswith("prefect-rollback: 1.3.0 -> 1.2.0")
    pods = json.loads(app.kubectl("get", "pods", "-o", "json").stdout)["items"]
    servers = [
        p for p in pods if p["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "server"
    ]
    assert servers, "a server pod runs"
    for pod in servers:
        image = next(c["image"] for c in pod["spec"]["containers"] if c["name"] == "server")
        assert image == fixture.server_ref(TO)
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready.get("Ready") == "True"
    records = json.loads(
        app.kubectl("get", "configmap", f"{RELEASE}-prefect-rollback-revisions", "-o", "json").stdout
    )
    assert json.loads(records["data"]["1.3.0"])["heads"] == fixture.release_heads("1.3.0")
    assert app.kubectl("get", "lease", f"{RELEASE}-prefect-rollback", "--ignore-not-found").stdout == ""


def installed_tables(app: App, version: str) -> dict[str, set[str]]:
    return {db: app.tables(db) for db in fixture.DATABASES}


@pytest.mark.parametrize("kubectl,helm", [("1.32", "4.1.4"), ("1.31.9", "3.17.3")])
def test_happy_path(make_app, kubectl: str, helm: str) -> None:
    app = make_app(kubectl=kubectl, helm=helm)
    app.install("1.2.0")
    tables_120 = installed_tables(app, "1.2.0")
    app.install("1.3.0")
    assert app.heads() == fixture.release_heads("1.3.0")
    assert any(app.tables(db) != tables_120[db] for db in fixture.DATABASES)

    proc = rollback(app, report=True)

    assert_rolled_back(app, tables_120)
    assert "Rolled back customer-managed from 1.3.0 to 1.2.0" in proc.stderr
    report = json.loads((app.home / "report.json").read_text())
    assert report["kind"] == "RollbackReport" and report["outcome"] == "succeeded"
    assert report["from"] == {"version": "1.3.0", "heads": fixture.release_heads("1.3.0")}
    assert report["to"] == {"version": TO, "heads": fixture.release_heads(TO)}
    assert [s["name"] for s in report["steps"]] == [
        "lock",
        "scale-down",
        "record",
        "downgrade",
        "chart",
        "verify",
        "unlock",
    ]
    assert all(s["status"] == "done" for s in report["steps"])


def test_saved_after_each_upgrade_the_rollback_needs_no_probe_and_no_cli_question(make_app) -> None:
    """`revisions --save` after each install, as after each upgrade: the records ConfigMap then holds
    1.2.0's heads (no probe pod) and 1.3.0's image's -y answer for its digest (the plan's exec does not
    start the CLI); the downgrade still runs with -y, and the rollback completes."""
    app = make_app()
    app.install("1.2.0")
    tables_120 = installed_tables(app, "1.2.0")
    app.plugin("revisions", "--save")
    app.install("1.3.0")
    saved = app.plugin("revisions", "--save")
    assert "heads of 1.3.0 and its image's -y answer recorded" in saved.stderr
    records = json.loads(
        app.kubectl("get", "configmap", f"{RELEASE}-prefect-rollback-revisions", "-o", "json").stdout
    )
    cli = json.loads(records["data"]["1.3.0"])["cli"]
    assert cli["image"] == fixture.server_ref("1.3.0") and cli["imageID"] and cli["yes"] is True

    proc = rollback(app, "-v")

    assert "not asked" in proc.stderr and "#downgrade-help" not in proc.stderr  # no CLI question
    assert not [ln for ln in proc.stderr.splitlines() if ln.startswith("$ kubectl") and "-probe-" in ln]
    job = json.loads(app.kubectl("get", "job", "-o", "json").stdout)["items"]
    downgrade = [j for j in job if j["metadata"]["name"].startswith(f"{RELEASE}-downgrade-to-")]
    assert downgrade and all(
        "-y" in " ".join([*c.get("command", []), *c.get("args", [])])
        for j in downgrade
        for c in j["spec"]["template"]["spec"]["containers"]
    )
    assert_rolled_back(app, tables_120)


def test_postgresql(make_app) -> None:
    app = make_app(pg=True)
    app.install("1.2.0")
    tables_120 = installed_tables(app, "1.2.0")
    app.install("1.3.0")
    assert app.heads() == fixture.release_heads("1.3.0")
    rollback(app)
    assert_rolled_back(app, tables_120)


@pytest.mark.parametrize(
    ("method", "path", "left_at"),
    [
        # before helm wrote anything: the release stays at 1.3.0
        ("POST", r"/secrets$", "prefect-cloud-1.3.0"),
        # half way: helm records a failed 1.2.0 revision (and its error as the description)
        ("PATCH", r"/deployments/customer-managed-server\?", "prefect-cloud-1.2.0"),
    ],
    ids=["before-helm-writes", "failed-revision"],
)
def test_resume_after_helm_upgrade_fails(make_app, cluster, method: str, path: str, left_at: str) -> None:
    app = make_app(helm="3.17.3")
    app.install("1.2.0")
    tables_120 = installed_tables(app, "1.2.0")
    app.install("1.3.0")
    cluster.sim.fail_requests(method, rf"/namespaces/{app.namespace}{path}", status=500, times=1)
    first = rollback(app, check=False)
    assert first.returncode == 5, first.stderr
    assert app.heads() == fixture.release_heads(TO), "the downgrade happened before the chart step"
    assert app.release()["chart"] == left_at

    second = rollback(app)
    assert "skipping: downgrade already finished" in second.stderr
    assert "lock taken over" in second.stderr
    assert_rolled_back(app, tables_120)


def test_interrupt_while_logs_stream_then_reattach(make_app, cluster) -> None:
    app = make_app()
    app.install("1.2.0")
    tables_120 = installed_tables(app, "1.2.0")
    app.install("1.3.0")
    cluster.sim.set_start_delay(6)  # the downgrade pod takes a while to start: time to interrupt
    args = [PLUGIN, "rollback", "--to", TO, "--chart", app.chart(TO), "--yes", "--namespace", app.namespace]
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
    out, err = proc.communicate(timeout=60)
    stderr = "".join(seen) + err
    assert proc.returncode == 130, stderr
    assert "keeps running" in stderr
    job = json.loads(app.kubectl("get", "job", "customer-managed-downgrade-to-1-2-0", "-o", "json").stdout)
    assert job["metadata"]["name"], "the Job was left in the cluster"
    lease = json.loads(app.kubectl("get", "lease", f"{RELEASE}-prefect-rollback", "-o", "json").stdout)
    assert lease["spec"]["holderIdentity"] == "", "released for a resume, not deleted"
    cluster.sim.set_start_delay(0)

    again = rollback(app)
    assert "attaching" in again.stderr or "already succeeded" in again.stderr
    assert_rolled_back(app, tables_120)


def test_two_rollbacks_at_once(make_app, cluster) -> None:
    app = make_app()
    app.install("1.2.0")
    app.install("1.3.0")
    cluster.sim.set_start_delay(2)
    args = [PLUGIN, "rollback", "--to", TO, "--chart", app.chart(TO), "--yes", "--namespace", app.namespace]
    procs = [
        subprocess.Popen(
            args,
            env=app.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 3], results
    refused = next(err for code, err in results if code == 3)
    assert "another rollback holds lease" in refused or "at the same moment" in refused
    assert app.heads() == fixture.release_heads(TO)


def test_sidecar_in_migration_job(make_app) -> None:
    """An Istio-like sidecar never exits: success is judged by each migration container's exit code."""
    app = make_app()
    app.install("1.2.0")
    tables_120 = installed_tables(app, "1.2.0")
    # helm's own hook would wait forever on such a Job, so the upgrade skips hooks; the servers
    # migrate the databases when they start, as Prefect's do.
    values = app.values_file("1.3.0", migrations={"sidecar": True})
    app.helm(
        "upgrade",
        RELEASE,
        app.chart("1.3.0"),
        "-f",
        str(values),
        "--no-hooks",
        "--wait",
        "--timeout",
        "180s",
        timeout=400,
    )
    assert app.heads() == fixture.release_heads("1.3.0")
    hooks = app.helm("get", "hooks", RELEASE).stdout
    assert "istio-proxy" in hooks

    proc = rollback(app)
    assert "exit 0" in proc.stderr
    assert_rolled_back(app, tables_120)


def test_second_rollback_to_the_same_version(make_app) -> None:
    """Roll back, upgrade again, roll back again: the first rollback's Job (same name, Complete) must not
    pass for this one's downgrade."""
    app = make_app(helm="3.17.3")
    app.install("1.2.0")
    tables_120 = installed_tables(app, "1.2.0")
    app.install("1.3.0")
    rollback(app)
    app.install("1.3.0")
    assert app.heads() == fixture.release_heads("1.3.0")

    again = rollback(app)

    assert "left from an earlier rollback: replacing it" in again.stderr
    assert "skipping: job/" not in again.stderr
    assert_rolled_back(app, tables_120)
