"""abort: the upgrade Job made from the deployed migration Job (job_rewrite.upgrade_jobs) and what the
plan says about lost data (pure parts; the whole abort runs in tests/e2e/test_abort.py). Which rollback
an abort undoes is tested in test_aborted.py."""

from __future__ import annotations

import copy

from kubectl_prefect_rollback import abortplan, abortshow, helm, job_rewrite, unfinished

H13 = {"nebula": "3fab1acc05c0", "orion": "2a2090e47993", "events": "3b5402bd348f"}
H12 = {"nebula": "1e5b7f3c9a08", "orion": "c3e9d7a5b1f2", "events": "7a0b4c8e2d16"}

DEPLOYED = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {
        "name": "customer-managed-db-migrations",
        "annotations": {"helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-weight": "-5"},
        "labels": {"app.kubernetes.io/instance": "customer-managed"},
    },
    "spec": {
        "backoffLimit": 3,
        "activeDeadlineSeconds": 600,
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/component": "db-migrations"}},
            "spec": {
                "restartPolicy": "OnFailure",
                "containers": [
                    {"name": "nebula", "image": "server:1.3.0", "command": ["prefect-cloud"],
                     "args": ["nebula", "database", "upgrade", "-y"], "env": [{"name": "X", "value": "1"}]},
                    {"name": "orion", "image": "server:1.3.0",
                     "command": ["prefect-cloud", "self-managed", "update-orion"]},
                    {"name": "istio-proxy", "image": "proxyv2:1.0", "args": ["proxy"]},
                ],
            },
        },
    },
}  # fmt: skip


def upgrade_job() -> dict:
    (job,) = job_rewrite.upgrade_jobs(
        [DEPLOYED],
        name="customer-managed-abort-to-1-3-0",
        labels={"app.kubernetes.io/managed-by": "kubectl-prefect-rollback"},
        annotations={"prefect-rollback/kind": "abort", "prefect-rollback/from-revision": "2"},
    )
    return job


def test_upgrade_job_runs_the_deployed_commands_unchanged_under_our_name() -> None:
    before = copy.deepcopy(DEPLOYED)
    job = upgrade_job()
    assert DEPLOYED == before, "the input is not mutated"
    assert job["metadata"]["name"] == "customer-managed-abort-to-1-3-0"
    containers = job["spec"]["template"]["spec"]["containers"]
    assert containers == DEPLOYED["spec"]["template"]["spec"]["containers"], "as helm would run it"
    assert not any(k.startswith("helm.sh/") for k in job["metadata"]["annotations"])
    assert job["metadata"]["annotations"]["prefect-rollback/kind"] == "abort"
    assert job["spec"]["backoffLimit"] == 0 and "activeDeadlineSeconds" not in job["spec"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert (
        job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/managed-by"]
        == "kubectl-prefect-rollback"
    )


def test_upgrade_job_follows_the_migration_containers_not_the_sidecar() -> None:
    assert unfinished.job_databases(upgrade_job()) == {"nebula": "nebula", "orion": "orion"}


def test_a_job_without_a_migration_container_makes_no_upgrade_job() -> None:
    plain = copy.deepcopy(DEPLOYED)
    plain["spec"]["template"]["spec"]["containers"] = [{"name": "x", "image": "i", "args": ["sleep"]}]
    assert job_rewrite.upgrade_jobs([plain], name="n", labels={}, annotations={}) == []


def _plan(lost=(), backup=None, phase="before-chart") -> abortplan.AbortPlan:
    rel = helm.Release("customer-managed", "cm", 2, "deployed", "prefect-cloud", "1.3.0", "1.3.0")
    rb = unfinished.Rollback("1.2.0", "1.3.0", 2, H13, H12, {"customer-managed-server": 2})
    states = {"nebula": ("downgraded", "exit 0"), "orion": ("failed", "exit 1"), "events": ("unchanged", "")}
    dbs = {db: {"from": H13[db], "to": H12[db], "state": s, "evidence": e} for db, (s, e) in states.items()}
    return abortplan.AbortPlan(
        release=rel, namespace="cm", rb=rb, lease=None, phase=phase, databases=dbs, jobs=(upgrade_job(),),
        running=(), leftovers=("customer-managed-downgrade-to-1-2-0",), lost=tuple(lost), backup=backup,
    )  # fmt: skip


def test_the_plan_says_plainly_which_tables_come_back_empty() -> None:
    text = abortshow.plan_text(_plan(lost=[("nebula", "3fab1acc05c0", "table service_account")]))
    assert "Data that does NOT come back: upgrading re-creates what the downgrades dropped, EMPTY." in text
    assert "nebula  table service_account (dropped by the downgrade of 3fab1acc05c0)" in text
    assert "The plugin took no backup" in text


def test_the_plan_names_the_plugins_backup_to_restore_from() -> None:
    text = abortshow.plan_text(_plan(lost=[("nebula", "3fab1acc05c0", "table x")], backup="/backups/cm-1"))
    assert "restore from the backup the plugin took: /backups/cm-1" in text


def test_nothing_dropped_means_no_data_note() -> None:
    assert "NOT come back" not in abortshow.plan_text(_plan())


def test_the_plan_document_lists_the_steps_before_the_chart_step() -> None:
    doc = abortshow.plan_dict(_plan(lost=[("nebula", "3fab1acc05c0", "table service_account")]))
    assert [s["step"] for s in doc["steps"]] == [
        "lock",
        "stop",
        "upgrade",
        "clean",
        "restore",
        "verify",
        "unlock",
    ]
    assert doc["lost"] == [
        {"database": "nebula", "revision": "3fab1acc05c0", "dropped": "table service_account"}
    ]
    assert doc["phase"] == "before-chart" and doc["helm"] is None


def test_verify_expects_the_from_version_and_the_from_heads() -> None:
    p = _plan()
    assert p.to_version == "1.3.0" and p.heads("target") == H13
    assert p.deployments == (("customer-managed-server", 2),)


def test_verify_takes_an_abort_plan_and_lists_the_heads_as_nothing_says_where_they_were_listed(
    monkeypatch,
) -> None:
    """verify.verify reads a Plan; an AbortPlan stands in for it (abort.py's verify step)."""
    from dataclasses import replace

    from kubectl_prefect_rollback import heads, kube, verify
    from kubectl_prefect_rollback.target import Target

    p = _plan()
    image = "registry.local/cloud/server:1.3.0"
    containers = [{"name": "server", "image": image}]
    deployment = {"kind": "Deployment", "metadata": {"name": "customer-managed-server"}}
    deployment["spec"] = {"template": {"spec": {"containers": containers}}}
    pod = {
        "kind": "Pod",
        "metadata": {"name": "customer-managed-server-1"},
        "spec": {"containers": containers},
    }
    pod["status"] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "server", "imageID": "docker://sha256:abc"}],
    }
    monkeypatch.setattr(
        helm, "list_releases", lambda t: [replace(p.release, status="deployed", version="1.3.0")]
    )
    monkeypatch.setattr(kube, "list_", lambda t, kinds, selector=None: [deployment, pod])
    listed: list[str] = []
    monkeypatch.setattr(
        heads, "read_chains", lambda t, server, **kw: listed.append(server.name) or heads.Listing({})
    )
    monkeypatch.setattr(heads, "heads_of", lambda chains: dict(H13))
    said = verify.verify(Target("customer-managed"), p, timeout=5)  # type: ignore[arg-type]
    assert said.endswith("heads match") and listed == ["customer-managed-server-1"]
