"""probe.py: a probe pod's lifecycle with kube stubbed: its listing, why it cannot start, and that it is
deleted on every path (a failed delete is named for the next run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubectl_prefect_rollback import kube, manifests, probe, proc
from kubectl_prefect_rollback.errors import RollbackError
from kubectl_prefect_rollback.target import Target
from tests.fakes.listings import listing_path

JOB = manifests.migration_jobs(
    (Path(__file__).parent / "data" / "manifests" / "argv_list" / "input.yaml").read_text()
)[0]
T = Target("ns")


@pytest.fixture
def cluster(monkeypatch):
    """Stubbed kube calls: `status` is what every get of the probe pod answers."""
    seen = {"created": [], "deleted": [], "status": {"phase": "Succeeded"}, "delete_fails": 0}

    def delete(t, kind, name, wait=True):
        if seen["delete_fails"]:
            seen["delete_fails"] -= 1
            raise proc.CommandError(["kubectl", "delete"], 1, "connection refused")
        seen["deleted"].append(name)

    monkeypatch.setattr(kube, "create", lambda t, obj: seen["created"].append(obj) or obj)
    monkeypatch.setattr(kube, "get", lambda t, kind, name: {"status": seen["status"]})
    monkeypatch.setattr(kube, "logs_text", lambda t, name, container: listing_path("1.3.0").read_text())
    monkeypatch.setattr(kube, "delete", delete)
    monkeypatch.setattr(probe.time, "sleep", lambda s: None)
    probe.undeleted.clear()
    yield seen
    probe.settle()  # no delete of this test outlives its stubs


def test_a_finished_probe_gives_the_listing_and_is_deleted(cluster) -> None:
    listing = probe.probe(T, JOB, name="cm-probe-1-3-0")
    assert listing.chains["nebula"].head == "3fab1acc05c0"
    assert probe.settle() == []
    (pod,) = cluster["created"]
    assert pod["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "kubectl-prefect-rollback",
        "prefect-rollback/role": "probe",
    }
    assert cluster["deleted"] == [pod["metadata"]["name"]] and pod["metadata"]["name"].startswith(
        "cm-probe-1-3-0-"
    )


@pytest.mark.parametrize("reason", ["ImagePullBackOff", "CreateContainerError"])
def test_a_probe_that_cannot_start_says_why_and_is_deleted(cluster, reason: str) -> None:
    cluster["status"] = {
        "phase": "Pending",
        "containerStatuses": [
            {"name": "probe", "image": "r/server:9", "state": {"waiting": {"reason": reason}}}
        ],
    }
    with pytest.raises(RollbackError, match=f"cannot start: {reason} \\(r/server:9\\)"):
        probe.probe(T, JOB, name="cm-probe")
    probe.settle()
    assert len(cluster["deleted"]) == 1


def test_a_probe_that_never_finishes_is_bounded_by_its_timeout(cluster) -> None:
    cluster["status"] = {"phase": "Running"}
    with pytest.raises(RollbackError, match=r"did not finish within 50ms \(--probe-timeout; phase Running\)"):
        probe.probe(T, JOB, name="cm-probe", timeout=0.05)
    probe.settle()
    assert len(cluster["deleted"]) == 1


def test_a_probe_whose_delete_fails_twice_is_named_for_the_next_run(cluster) -> None:
    cluster["delete_fails"] = 2
    probe.probe(T, JOB, name="cm-probe")
    assert probe.settle() == [cluster["created"][0]["metadata"]["name"]] and cluster["deleted"] == []


def test_the_probe_answers_while_its_delete_still_runs_and_settle_waits_for_the_delete(
    cluster, monkeypatch
) -> None:
    """The delete is off the plan's critical path: the listing comes back before the delete has
    ended; settle() (before the run names leftover probes) returns only once it has."""
    import threading

    go_on = threading.Event()
    stubbed = kube.delete

    def slow_delete(t, kind, name, wait=True):
        assert go_on.wait(5), "the probe waited for its own delete"
        stubbed(t, kind, name, wait=wait)

    monkeypatch.setattr(kube, "delete", slow_delete)
    listing = probe.probe(T, JOB, name="cm-probe")
    assert listing.chains["nebula"].head == "3fab1acc05c0" and cluster["deleted"] == []
    threading.Timer(0.05, go_on.set).start()
    assert probe.settle() == [] and cluster["deleted"] == [cluster["created"][0]["metadata"]["name"]]


def test_the_sweep_leaves_a_pod_of_ours_already_being_deleted_and_pods_not_ours(cluster) -> None:
    """This run's own probe, deleted behind the plan, may still be listed (terminating): not a leftover."""
    ours = {"app.kubernetes.io/managed-by": "kubectl-prefect-rollback", "prefect-rollback/role": "probe"}
    done = {"phase": "Succeeded"}
    pods = [
        {
            "metadata": {"name": "mine", "labels": ours, "deletionTimestamp": "2026-12-01T00:00:00Z"},
            "status": done,
        },
        {"metadata": {"name": "left", "labels": ours}, "status": done},
        {
            "metadata": {"name": "worker", "labels": {**ours, "prefect-rollback/role": "worker"}},
            "status": done,
        },
    ]
    assert probe.clean_leftovers(T, pods) == ["left"] and cluster["deleted"] == ["left"]
    assert probe.leftover_candidates(pods) == tuple(pods[:2])
