"""The rollback lock (a Lease) against the fake kubectl: create, refuse a live holder, take over an expired
lease of the same target, refuse another target unless --force-unlock, and a stale resourceVersion loses."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from kubectl_prefect_rollback import leases, lock
from kubectl_prefect_rollback.errors import ExitCode, Refused
from kubectl_prefect_rollback.target import Target

T = Target("customer-managed")
NAME = "customer-managed-prefect-rollback"


def put_lease(fake, *, holder: str, target: str, age: float, extra: dict | None = None) -> None:
    renewed = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=age)
    with fake.edit() as st:
        st["rv"] += 1
        st["objects"][f"customer-managed/lease/{NAME}"] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": NAME,
                "namespace": "customer-managed",
                "resourceVersion": str(st["rv"]),
                "annotations": {"prefect-rollback/target-version": target, **(extra or {})},
            },
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": 30,
                "renewTime": leases.micro_time(renewed),
            },
        }


def test_create(fake) -> None:
    keeper = lock.Keeper(T, "customer-managed", "1.2.0")
    assert keeper.acquire(None, force_unlock=False, state={"from-version": "1.3.0"}) is False
    obj = fake.obj("lease", NAME)
    assert obj["spec"]["holderIdentity"] == keeper.identity and "@" in keeper.identity
    assert obj["spec"]["leaseDurationSeconds"] == leases.DURATION
    assert obj["metadata"]["annotations"]["prefect-rollback/target-version"] == "1.2.0"
    assert keeper.state("from-version") == "1.3.0"
    keeper.save("replicas", {"s": 3})
    assert leases.read(T, "customer-managed").state("replicas") == {"s": 3}
    keeper.delete()
    assert fake.obj("lease", NAME) is None


def test_each_renewal_writes_the_refreshed_state_until_refreshing_stops(fake) -> None:
    """The chart record written ahead moves on with each renewal; once the chart step writes its own,
    no renewal may put the one written ahead back."""
    keeper = lock.Keeper(T, "customer-managed", "1.2.0")
    keeper.acquire(None, force_unlock=False, state={"chart": {"n": 0}})
    counter = iter(range(1, 100))
    keeper.refresh = lambda: {"chart": {"n": next(counter)}}
    keeper._update(lambda obj: None, renewal=True)  # what the renewal thread does every RENEW_EVERY
    assert leases.read(T, "customer-managed").state("chart") == {"n": 1}
    keeper.save("downgrade", "done")  # a save is no renewal: the record stays as it was
    assert leases.read(T, "customer-managed").state("chart") == {"n": 1}
    keeper.stop_refreshing()
    keeper.save("chart", {"exact": True})
    keeper._update(lambda obj: None, renewal=True)
    assert leases.read(T, "customer-managed").state("chart") == {"exact": True}
    keeper.delete()


def test_live_lease_refused_naming_holder(fake) -> None:
    put_lease(fake, holder="alice@bastion/1a2b3c4d", target="1.2.0", age=3)
    view = leases.read(T, "customer-managed")
    with pytest.raises(Refused) as e:
        lock.Keeper(T, "customer-managed", "1.2.0").acquire(view, force_unlock=True, state={})
    assert e.value.exit_code == ExitCode.REFUSED
    assert "alice@bastion/1a2b3c4d" in e.value.message and "renewed 3s ago" in e.value.message


def test_expired_same_target_taken_over(fake) -> None:
    put_lease(
        fake,
        holder="bob@laptop/99",
        target="1.2.0",
        age=300,
        extra={"prefect-rollback/replicas": '{"customer-managed-server": 3}'},
    )
    view = leases.read(T, "customer-managed")
    keeper = lock.Keeper(T, "customer-managed", "1.2.0")
    assert (
        keeper.acquire(view, force_unlock=False, state={"replicas": {"customer-managed-server": 0}}) is True
    )
    obj = fake.obj("lease", NAME)
    assert obj["spec"]["holderIdentity"] == keeper.identity
    assert obj["spec"]["leaseTransitions"] == 1
    assert keeper.state("replicas") == {"customer-managed-server": 3}  # the first run's counts survive
    assert [c["argv"][0] for c in fake.calls("kubectl")][-1] == "replace"


def test_other_target_refused_unless_force_unlock(fake) -> None:
    put_lease(fake, holder="", target="1.1.0", age=300, extra={"prefect-rollback/replicas": '{"x": 3}'})
    view = leases.read(T, "customer-managed")
    with pytest.raises(Refused) as e:
        lock.Keeper(T, "customer-managed", "1.2.0").acquire(view, force_unlock=False, state={})
    assert "unfinished rollback to 1.1.0" in e.value.message and "--force-unlock" in (e.value.hint or "")
    keeper = lock.Keeper(T, "customer-managed", "1.2.0")
    assert keeper.acquire(view, force_unlock=True, state={}) is True
    assert keeper.state("replicas") is None  # another target's state is not inherited
    assert fake.obj("lease", NAME)["metadata"]["annotations"]["prefect-rollback/target-version"] == "1.2.0"


def test_stale_resource_version_loses(fake) -> None:
    put_lease(fake, holder="", target="1.2.0", age=300)
    view = leases.read(T, "customer-managed")
    winner = lock.Keeper(T, "customer-managed", "1.2.0")
    assert winner.acquire(view, force_unlock=False, state={}) is True
    loser = lock.Keeper(T, "customer-managed", "1.2.0")
    with pytest.raises(Refused) as e:  # it read the lease before the winner wrote it
        loser.acquire(view, force_unlock=False, state={})
    assert "took over the lock at the same moment" in e.value.message
    assert fake.obj("lease", NAME)["spec"]["holderIdentity"] == winner.identity


def test_release_for_resume_keeps_the_lease(fake) -> None:
    keeper = lock.Keeper(T, "customer-managed", "1.2.0")
    keeper.acquire(None, force_unlock=False, state={})
    keeper.release_for_resume()
    obj = fake.obj("lease", NAME)
    assert obj is not None and obj["spec"]["holderIdentity"] == ""
    assert not leases.LeaseView(obj).live(leases.now())


def test_cli_force_unlock(fake) -> None:
    put_lease(fake, holder="", target="1.1.0", age=300)
    result = fake.cli("rollback", "--to", "1.2.0", "--yes")
    assert result.exit_code == 3 and "unfinished rollback to 1.1.0" in result.stderr
    result = fake.cli("rollback", "--to", "1.2.0", "--yes", "--force-unlock")
    assert result.exit_code == 0, result.stderr
    assert fake.obj("lease", NAME) is None


def test_stale_unfinished_rollback_is_refused_then_restarted_with_force_unlock(fake) -> None:
    """The lease says a rollback to 1.2.0 started at revision 2, but revision 3 was a plain upgrade
    since: its facts (heads, saved replicas, "downgrade done") describe another state of the world."""
    put_lease(
        fake,
        holder="",
        target="1.2.0",
        age=300,
        extra={
            "prefect-rollback/from-version": '"1.2.0"',
            "prefect-rollback/from-revision": "2",
            "prefect-rollback/downgrade": '"done"',
        },
    )
    refused = fake.cli("rollback", "--to", "1.2.0", "--yes")
    assert refused.exit_code == 3, refused.stderr
    assert "the release has changed since (now revision 3, 1.3.0)" in refused.stderr
    assert not any(c["argv"][0] in ("create", "scale", "apply") for c in fake.calls("kubectl"))

    fake.reset_calls()
    fresh = fake.cli("rollback", "--to", "1.2.0", "--yes", "--force-unlock")
    assert fresh.exit_code == 0, fresh.stderr
    assert fake.jobs_created() == 1, "the downgrade runs again"
    assert "skipping: downgrade already finished" not in fresh.stderr


def test_lease_whose_holder_stopped_renewing_says_when_it_expires_and_force_unlock_takes_it(fake) -> None:
    put_lease(fake, holder="ci@runner/dead0001", target="1.2.0", age=20)
    view = leases.read(T, "customer-managed")
    with pytest.raises(Refused) as e:
        lock.Keeper(T, "customer-managed", "1.2.0").acquire(view, force_unlock=False, state={})
    hint = e.value.hint or ""
    assert "has not renewed it for 20s (it renews every 10s): it may have died" in hint
    assert re.search(r"It expires at \S+Z \(in \d+s\); a re-run then takes it over", hint)
    assert "--force-unlock takes it now" in hint
    keeper = lock.Keeper(T, "customer-managed", "1.2.0")
    assert keeper.acquire(view, force_unlock=True, state={}) is True
    assert fake.obj("lease", NAME)["spec"]["holderIdentity"] == keeper.identity


def test_release_for_resume_says_what_the_lock_looks_like(fake) -> None:
    keeper = lock.Keeper(T, "customer-managed", "1.2.0")
    keeper.acquire(None, force_unlock=False, state={})
    fake.fail("kubectl", r"^replace ", stderr="Unable to connect to the server", times=2)  # and its retry
    said = keeper.release_for_resume()
    assert said.startswith(f"lease {NAME} still names this run (")
    assert "it expires at " in said and "--force-unlock" in said
    fake.clear_failures()
    assert keeper.release_for_resume() == f"lease {NAME} released: a re-run takes it over at once and resumes"


def test_release_for_resume_frees_a_lease_changed_under_our_copy_by_a_write_whose_answer_was_lost(
    fake,
) -> None:
    """`kubectl replace` wrote the lease but printed nothing: our copy's resourceVersion is stale, and
    a re-run must not be refused as "another rollback holds lease …" for the next 30 s."""
    keeper = lock.Keeper(T, "customer-managed", "1.2.0")
    keeper.acquire(None, force_unlock=False, state={})
    with fake.edit() as st:  # the write we never saw the answer of
        st["rv"] += 1
        st["objects"][f"customer-managed/lease/{NAME}"]["metadata"]["resourceVersion"] = str(st["rv"])
    said = keeper.release_for_resume()
    assert said == f"lease {NAME} released: a re-run takes it over at once and resumes"
    assert fake.obj("lease", NAME)["spec"]["holderIdentity"] == ""


def test_release_for_resume_leaves_a_lease_another_run_took(fake) -> None:
    keeper = lock.Keeper(T, "customer-managed", "1.2.0")
    keeper.acquire(None, force_unlock=False, state={})
    put_lease(fake, holder="someone@else/1234", target="1.2.0", age=0)
    said = keeper.release_for_resume()
    assert "still names this run" in said
    assert fake.obj("lease", NAME)["spec"]["holderIdentity"] == "someone@else/1234"


@pytest.mark.parametrize("verb", ["create", "replace"])
def test_a_lease_write_whose_answer_is_unreadable_but_happened_is_held_not_lost(
    fake, monkeypatch, verb
) -> None:
    """kubectl wrote the lease, then printed garbage: the lease names this run with the renewTime it
    wrote, so the run holds it (else the run stops, and the lease it does not know it holds refuses
    the re-run for 30 s)."""
    from kubectl_prefect_rollback import kube
    from kubectl_prefect_rollback.errors import ParseError

    if verb == "replace":
        put_lease(fake, holder="", target="1.2.0", age=300)
    real = getattr(kube, verb)

    def garbled(t, doc):
        real(t, doc)
        raise ParseError(f"kubectl {verb} printed something that is not JSON")

    monkeypatch.setattr(kube, verb, garbled)
    keeper = lock.Keeper(T, "customer-managed", "1.2.0")
    keeper.acquire(leases.read(T, "customer-managed"), force_unlock=False, state={"x": 1})
    assert fake.obj("lease", NAME)["spec"]["holderIdentity"] == keeper.identity
    assert keeper.state("x") == 1
    monkeypatch.setattr(kube, verb, real)
    assert keeper.release_for_resume().startswith(f"lease {NAME} released")


def test_an_unreadable_lease_write_that_did_not_happen_still_fails(fake, monkeypatch) -> None:
    from kubectl_prefect_rollback import kube
    from kubectl_prefect_rollback.errors import ParseError

    def garbled(t, doc):
        raise ParseError("kubectl create printed something that is not JSON")

    monkeypatch.setattr(kube, "create", garbled)
    with pytest.raises(ParseError):
        lock.Keeper(T, "customer-managed", "1.2.0").acquire(None, force_unlock=False, state={})
    assert fake.obj("lease", NAME) is None
