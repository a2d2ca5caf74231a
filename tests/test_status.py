"""status: the document (golden, its schema is documented) and the table, from recorded cluster objects."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from kubectl_prefect_rollback import helm, leases, status, unfinished
from tests.golden import assert_golden

DATA = Path(__file__).parent / "data"


def facts_from(case: str) -> tuple[unfinished.Facts, dt.datetime]:
    raw = json.loads((DATA / "status" / f"{case}.json").read_text())
    rel = helm._release(raw["release"], "customer-managed", "list")
    facts = unfinished.Facts(
        release=rel,
        history=tuple(helm._release(h, "customer-managed", "history") for h in raw["history"]),
        lease=leases.LeaseView(raw["lease"]) if raw["lease"] else None,
        records=raw["records"],
        deployments=tuple(raw["deployments"]),
        jobs=tuple(raw["jobs"]),
        pods=tuple(raw["pods"]),
        extra={"heads": raw.get("heads")},
    )
    return facts, dt.datetime.fromisoformat(raw["at"].replace("Z", "+00:00"))


def document(case: str) -> dict:
    facts, at = facts_from(case)
    return status.document(facts, at, prog="kubectl prefect-rollback", namespace="customer-managed")


@pytest.mark.parametrize("case", ["downgrade-failed", "finished"])
def test_status_document_matches_golden(case: str) -> None:
    golden = DATA / "golden" / f"status-{case}.json"
    got = document(case)
    assert_golden(golden, json.dumps(got, indent=2) + "\n")


def test_a_failed_container_marks_its_database_failed_and_the_others_downgraded() -> None:
    u = document("downgrade-failed")["unfinished"]
    assert {db: d["state"] for db, d in u["databases"].items()} == {
        "nebula": "downgraded",
        "orion": "failed",
        "events": "downgraded",
    }
    assert (
        u["databases"]["orion"]["evidence"]
        == "job/customer-managed-downgrade-to-1-2-0 container orion exit 1"
    )


def test_commands_resume_a_failed_downgrade_with_retry_and_the_recorded_chart() -> None:
    u = document("downgrade-failed")["unfinished"]
    assert u["commands"] == {
        "resume": "kubectl prefect-rollback rollback --to 1.2.0 --chart ./prefect-cloud-1.2.0.tgz --retry "
        "--yes -n customer-managed",
        "abort": "kubectl prefect-rollback abort -n customer-managed",
    }


def test_a_lease_renewed_within_its_duration_has_a_live_holder() -> None:
    facts, at = facts_from("downgrade-failed")
    lease = json.loads(json.dumps(facts.lease.obj))
    lease["spec"]["holderIdentity"] = "ops@bastion/1a2b3c4d"
    live = unfinished.holder(
        leases.LeaseView(lease), dt.datetime(2026, 12, 1, 11, 5, 10, tzinfo=dt.timezone.utc)
    )
    assert (live["live"], live["renewedSecondsAgo"], live["expiresAt"]) == (
        True,
        10.0,
        "2026-12-01T11:05:30Z",
    )
    assert unfinished.holder(leases.LeaseView(lease), at)["live"] is False


def test_the_chart_step_done_offers_abort_with_roll_forward() -> None:
    facts, at = facts_from("downgrade-failed")
    ours = helm.Release(
        "customer-managed", "customer-managed", 3, "deployed", "prefect-cloud", "1.2.0", "1.2.0",
        description="prefect-rollback: 1.3.0 -> 1.2.0",
    )  # fmt: skip
    facts = unfinished.Facts(ours, (*facts.history, ours), facts.lease, facts.records, (), (), ())
    doc = status.document(facts, at, prog="helm prefect-rollback", namespace="customer-managed")
    assert doc["unfinished"]["chart"]["state"] == "done"
    assert (
        doc["unfinished"]["commands"]["abort"]
        == "helm prefect-rollback abort --roll-forward -n customer-managed"
    )


def test_without_an_unfinished_rollback_the_table_names_the_last_one() -> None:
    text = status.table(document("finished"))
    assert "no unfinished rollback" in text
    assert "last      rollback 1.3.0 -> 1.2.0 at revision 3" in text
    assert "nebula 1e5b7f3c9a08" in text


def test_the_table_shows_steps_databases_replicas_and_both_commands() -> None:
    text = status.table(document("downgrade-failed"))
    assert "downgrade   failed" in text
    assert "orion     2a2090e47993  c3e9d7a5b1f2  failed" in text
    assert "customer-managed-server  2" in text
    assert "resume    kubectl prefect-rollback rollback --to 1.2.0" in text
    assert "abort     kubectl prefect-rollback abort -n customer-managed" in text


def test_a_lease_with_facts_we_did_not_write_is_reported_not_raised() -> None:
    facts, at = facts_from("downgrade-failed")
    lease = json.loads(json.dumps(facts.lease.obj))
    lease["metadata"]["annotations"]["prefect-rollback/heads"] = "{garbage"
    facts = unfinished.Facts(facts.release, facts.history, leases.LeaseView(lease), {}, (), (), ())
    u = status.document(facts, at, prog="kubectl prefect-rollback", namespace="customer-managed")[
        "unfinished"
    ]
    assert "not what kubectl-prefect-rollback wrote" in u["error"]


@pytest.mark.parametrize(
    ("now", "pods", "want"),
    [
        ((2, 1), (2, 1), "not-started"),
        ((0, 1), (0, 1), "partial"),
        ((0, 0), (1, 0), "partial"),
        ((0, 0), (0, 0), "done"),
    ],
)
def test_scale_down_is_judged_from_the_deployments(now: tuple, pods: tuple, want: str) -> None:
    saved = {"server": 2, "ui": 1}
    replicas = {n: {"saved": saved[n], "now": now[i], "pods": pods[i]} for i, n in enumerate(saved)}
    assert unfinished.scale_state(replicas) == want


def test_a_downgrade_job_whose_pod_is_gone_counts_as_failed_part_way() -> None:
    facts, at = facts_from("downgrade-failed")
    facts = unfinished.Facts(facts.release, facts.history, facts.lease, facts.records, (), facts.jobs, ())
    rb = unfinished.rollback_of(facts.lease)
    assert {d["state"] for d in unfinished.database_states(facts, rb).values()} == {"failed"}
