"""The lock lease as a document (leases.py), pure: what a Lease says, when it is live, when it expires,
and which takeovers check_takeover refuses."""

from __future__ import annotations

import datetime as dt

import pytest

from kubectl_prefect_rollback import leases
from kubectl_prefect_rollback.errors import ParseError, Refused

AT = dt.datetime(2026, 12, 1, 11, 5, 10, tzinfo=dt.timezone.utc)


def view(*, holder: str = "alice@bastion/1a2b3c4d", target: str = "1.2.0", age: float = 3, **ann: str):
    return leases.LeaseView(
        {
            "metadata": {
                "name": "customer-managed-prefect-rollback",
                "annotations": {"prefect-rollback/target-version": target, **ann},
            },
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": 30,
                "renewTime": leases.micro_time(AT - dt.timedelta(seconds=age)),
            },
        }
    )


def test_micro_time_round_trips_through_parse_time() -> None:
    assert leases.micro_time(AT) == "2026-12-01T11:05:10.000000Z"
    assert leases.parse_time(leases.micro_time(AT)) == AT
    assert leases.parse_time("not a time") is None and leases.parse_time(None) is None


def test_a_held_lease_is_live_until_its_duration_and_a_released_one_never() -> None:
    assert view(age=3).live(AT)
    assert not view(age=31).live(AT)
    assert not view(holder="", age=0).live(AT)


def test_expires_at_is_renew_time_plus_duration() -> None:
    assert leases.expires_at(view(age=10)) == AT + dt.timedelta(seconds=20)


def test_state_reads_json_annotations_and_names_the_lease_when_one_is_not_ours() -> None:
    assert view(**{"prefect-rollback/replicas": '{"s": 3}'}).state("replicas") == {"s": 3}
    assert view().state("replicas") is None
    with pytest.raises(ParseError, match="customer-managed-prefect-rollback annotation prefect-rollback/x"):
        view(**{"prefect-rollback/x": "{not json"}).state("x")


def test_check_takeover_refuses_a_live_holder_even_with_force_unlock() -> None:
    with pytest.raises(Refused, match=r"alice@bastion/1a2b3c4d \(to 1.2.0, renewed 3s ago\)"):
        leases.check_takeover(view(age=3), "1.2.0", force_unlock=True, at=AT)


def test_check_takeover_lets_force_unlock_take_a_live_lease_whose_holder_stopped_renewing() -> None:
    with pytest.raises(Refused) as e:
        leases.check_takeover(view(age=20), "1.2.0", force_unlock=False, at=AT)
    assert "has not renewed it for 20s" in (e.value.hint or "")
    leases.check_takeover(view(age=20), "1.2.0", force_unlock=True, at=AT)


def test_check_takeover_refuses_another_target_unless_force_unlock() -> None:
    stale = view(holder="", age=300, target="1.1.0")
    with pytest.raises(Refused, match="unfinished rollback to 1.1.0"):
        leases.check_takeover(stale, "1.2.0", force_unlock=False, at=AT)
    leases.check_takeover(stale, "1.2.0", force_unlock=True, at=AT)
    leases.check_takeover(stale, "1.1.0", force_unlock=False, at=AT)
