"""plan.assemble: a Plan from Facts values alone (no fakes, no processes), and each refusal it makes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from kubectl_prefect_rollback import heads, leases, manifests, migrations, plan, proc
from kubectl_prefect_rollback.errors import AlreadyDone, Refused
from kubectl_prefect_rollback.facts import Facts, Options, Values
from kubectl_prefect_rollback.helm import Release
from kubectl_prefect_rollback.target import Target
from tests.fakes.listings import listing_path

JOB_TEXT = (Path(__file__).parent / "data" / "manifests" / "argv_list" / "input.yaml").read_text()
MANIFEST = """---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cm-server}
---
apiVersion: v1
kind: Service
metadata: {name: cm-server}
"""
TARGET = {"nebula": "9c1e02b7d4aa", "orion": "5be81c0d2f34", "events": "3b5402bd348f"}


def rel(revision: int, version: str, status: str = "superseded", description: str = "") -> Release:
    return Release("cm", "ns", revision, status, "prefect-cloud", version, version, description=description)


def chains(version: str) -> dict[str, migrations.Chain | None]:
    return migrations.parse_listing(listing_path(version).read_text())


def deployment(name: str, replicas: int, labels: dict | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"replicas": replicas}}


def facts(**changes) -> Facts:
    base = Facts(
        target=Target("ns"),
        release=rel(3, "1.3.0", "deployed"),
        to="1.2.0",
        chart="./prefect-cloud-1.2.0.tgz",
        lease=None,
        records={},
        history=(rel(1, "1.1.0"), rel(2, "1.2.0"), rel(3, "1.3.0", "deployed")),
        resumed=False,
        from_version="1.3.0",
        from_revision=3,
        saved=None,
        values=Values("image: {tag: x}\n", "revision 2, the last that ran 1.2.0", ()),
        target_heads=(dict(TARGET), "configmap cm-prefect-rollback-revisions"),
        listing=heads.Listing(chains("1.3.0"), yes_flag=True),
        current_source="pod cm-server-0, container server",
        deployed_jobs=tuple(manifests.migration_jobs(JOB_TEXT)),
        manifest=MANIFEST,
        live_deployments=(deployment("cm-server", 3), deployment("other-release-server", 1)),
        server_side_apply=False,
    )
    return replace(base, **changes)


def test_assemble_starts_no_process_and_gives_the_same_plan_for_the_same_facts(monkeypatch) -> None:
    def no_process(*args, **kwargs):
        raise AssertionError("assemble started a process")

    monkeypatch.setattr(proc, "run", no_process)
    monkeypatch.setattr(proc, "gather", no_process)
    first, second = plan.assemble(facts(), Options(to="1.2.0")), plan.assemble(facts(), Options(to="1.2.0"))
    assert first == second


def test_databases_revert_from_the_current_chains_to_the_target_heads() -> None:
    p = plan.assemble(facts(), Options(to="1.2.0"))
    assert p.heads("target") == TARGET
    nebula = next(d for d in p.databases if d.name == "nebula")
    assert (nebula.current, [m.revision for m in nebula.revert]) == (
        "3fab1acc05c0",
        ["3fab1acc05c0", "77d0c1a2be10"],
    )
    events = next(d for d in p.databases if d.name == "events")
    assert events.current == events.target and events.revert == ()
    assert (p.current_source, p.target_source) == (
        "pod cm-server-0, container server",
        "configmap cm-prefect-rollback-revisions",
    )


def test_the_downgrade_job_carries_its_targets_the_y_flag_and_its_container_map() -> None:
    p = plan.assemble(facts(), Options(to="1.2.0"))
    (job,) = p.downgrades
    assert job.name == "cm-downgrade-to-1-2-0" and p.jobs == (job.manifest,)
    assert dict(job.databases) == {"nebula": "nebula", "orion": "orion"}  # events has nothing to revert
    cmds = {c["name"]: c["command"] for c in job.manifest["spec"]["template"]["spec"]["containers"]}
    assert cmds["nebula"] == ["prefect-cloud", "nebula", "database", "downgrade", "-r", "9c1e02b7d4aa", "-y"]
    ann = job.manifest["metadata"]["annotations"]
    assert (
        ann["prefect-rollback/from-revision"] == "3"
        and ann["prefect-rollback/nebula-revision"] == "9c1e02b7d4aa"
    )
    assert job.manifest["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubectl-prefect-rollback"


def test_deployments_are_the_manifests_and_the_helm_argv_describes_the_rollback() -> None:
    p = plan.assemble(facts(), Options(to="1.2.0", wait=False))
    assert p.deployments == (("cm-server", 3),)
    argv = list(p.helm_argv)
    assert argv[:5] == ["helm", "upgrade", "--install", "cm", "./prefect-cloud-1.2.0.tgz"]
    assert argv[argv.index("--description") + 1].startswith(
        "prefect-rollback: 1.3.0 -> 1.2.0; nebula 9c1e02b7d4aa"
    )
    assert "--wait" not in argv and "--force-conflicts" not in argv
    forced = plan.assemble(facts(server_side_apply=True), Options(to="1.2.0"))
    assert "--force-conflicts" in forced.helm_argv and "--wait" in forced.helm_argv


def test_the_plan_carries_the_lease_it_saw() -> None:
    lease = leases.LeaseView({"metadata": {"name": "cm-prefect-rollback", "annotations": {}}, "spec": {}})
    assert plan.assemble(facts(lease=lease), Options(to="1.2.0")).lease is lease
    assert plan.assemble(facts(), Options(to="1.2.0")).lease is None


def test_a_resumed_run_takes_heads_and_the_y_flag_from_the_lease() -> None:
    saved = {
        "from": {"nebula": "3fab1acc05c0", "orion": None, "events": None},
        "to": {**TARGET, "orion": None},
    }
    ann = {"prefect-rollback/yes-flag": json.dumps(False)}
    lease = leases.LeaseView({"metadata": {"name": "l", "annotations": ann}, "spec": {"holderIdentity": ""}})
    p = plan.assemble(
        facts(resumed=True, lease=lease, saved=saved, listing=None, target_heads=None), Options(to="1.2.0")
    )
    assert p.resumed and not p.yes_flag
    assert (
        p.heads("current") == saved["from"]
        and p.target_source == "the lock lease of the unfinished run (released)"
    )


def test_a_finished_rollback_re_run_is_already_done() -> None:
    ours = rel(4, "1.2.0", "deployed", description="prefect-rollback: 1.3.0 -> 1.2.0")
    done = facts(
        release=ours,
        history=(rel(2, "1.2.0"), rel(3, "1.3.0"), ours),
        from_version="1.2.0",
        from_revision=4,
        listing=heads.Listing(chains("1.2.0"), yes_flag=True),
    )
    with pytest.raises(AlreadyDone, match="already rolled back to 1.2.0"):
        plan.assemble(done, Options(to="1.2.0"))


def test_a_target_head_the_current_image_cannot_reach_is_refused() -> None:
    no_events = {**chains("1.3.0"), "events": None}
    with pytest.raises(Refused, match="events: the current image has no events migrations"):
        plan.assemble(facts(listing=heads.Listing(no_events, yes_flag=True)), Options(to="1.2.0"))
    with pytest.raises(Refused, match="the target release has no orion migrations"):
        plan.assemble(facts(target_heads=({**TARGET, "orion": None}, "flags")), Options(to="1.2.0"))


def test_a_gitops_owner_is_refused_unless_ignored_then_warned() -> None:
    flux = {"helm.toolkit.fluxcd.io/name": "cm", "helm.toolkit.fluxcd.io/namespace": "flux"}
    owned = facts(live_deployments=(deployment("cm-server", 3, flux),))
    with pytest.raises(Refused, match="reconciled by Flux HelmRelease flux/cm"):
        plan.assemble(owned, Options(to="1.2.0"))
    p = plan.assemble(owned, Options(to="1.2.0", ignore_gitops=True))
    assert any("make sure its auto-sync is suspended" in w for w in p.warnings)


def test_a_long_jump_and_destructive_migrations_are_warned_in_order() -> None:
    history = (rel(1, "1.1.0"), rel(2, "1.2.0"), rel(3, "1.2.5"), rel(4, "1.3.0", "deployed"))
    p = plan.assemble(facts(history=history), Options(to="1.2.0"))
    assert p.warnings[0].startswith("1.2.0 is 2 releases back (1.2.5, 1.3.0)")
    assert p.checked_at == 1  # the dry run's warnings go after the jump, before the rest
