"""Our own interrupted helm upgrade: helm's record codec, and the repair against the fakes (ours ->
repaired and upgraded again; not ours -> refused; a concurrent writer -> refused, nothing overwritten)."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json

import pytest

from kubectl_prefect_rollback import leases, pending
from tests.test_lock import NAME, put_lease

RELEASE = "customer-managed/customer-managed"
RECORD = "sh.helm.release.v1.customer-managed.v4"


def test_helm_record_round_trip_for_secret_and_configmap() -> None:
    rel = {"name": "cm", "version": 4, "info": {"status": "pending-upgrade"}, "chart": {"metadata": {}}}
    helm_text = base64.b64encode(gzip.compress(json.dumps(rel).encode())).decode()
    secret = {"kind": "Secret", "data": {"release": base64.b64encode(helm_text.encode()).decode()}}
    cm = {"kind": "ConfigMap", "data": {"release": helm_text}}
    for obj in (secret, cm):
        assert pending.decode(obj) == rel
        obj["data"]["release"] = pending.encode(obj, {**rel, "info": {"status": "failed"}})
        assert pending.decode(obj)["info"]["status"] == "failed"


def _interrupted_upgrade(fake, *, until_seconds: float, chart: dict | None = None) -> None:
    """What a SIGKILLed run left: servers down, databases downgraded, revision 4 pending-upgrade at 1.2.0,
    and its lease (released) saying the chart step started after revision 3."""
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=700)
    record = chart or {
        "started": leases.micro_time(start),
        "until": leases.micro_time(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=until_seconds)),
        "after-revision": 3,
        "version": "1.2.0",
    }
    heads = {
        "from": {"nebula": "c7d2e4f6a8b0", "orion": "8d4e6f1a2b3c", "events": "3b5402bd348f"},
        "to": {"nebula": "9c1e02b7d4aa", "orion": "5be81c0d2f34", "events": "3b5402bd348f"},
    }
    ann = {
        "prefect-rollback/from-version": json.dumps("1.3.0"),
        "prefect-rollback/from-revision": json.dumps(3),
        "prefect-rollback/heads": json.dumps(heads),
        "prefect-rollback/replicas": json.dumps({"customer-managed-server": 3, "customer-managed-ui": 2}),
        "prefect-rollback/downgrade": json.dumps("done"),
        "prefect-rollback/chart": json.dumps(record),
    }
    put_lease(fake, holder="", target="1.2.0", age=300, extra=ann)
    with fake.edit() as st:
        hist = st["releases"][RELEASE]["history"]
        hist.append(
            {
                **hist[-1],
                "revision": 4,
                "version": "1.2.0",
                "status": "pending-upgrade",
                "description": "Preparing upgrade",
            }
        )
        for name in ("customer-managed-server", "customer-managed-ui"):
            d = st["objects"][f"customer-managed/deployment/{name}"]
            d["spec"]["replicas"] = 0
            d["status"] = {"replicas": 0}


def test_our_pending_upgrade_past_its_time_is_marked_failed_then_upgraded(fake) -> None:
    _interrupted_upgrade(fake, until_seconds=-5)
    result = fake.cli("rollback", "--to", "1.2.0", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "revision 4 marked failed" in result.stderr
    writes = fake.state["record_writes"]
    assert [w["status"] for w in writes] == ["failed"] and writes[0]["rec"]["info"]["status"] == "failed"
    hist = fake.state["releases"][RELEASE]["history"]
    assert [(h["revision"], h["status"]) for h in hist if h["revision"] > 3] == [
        (4, "failed"),
        (5, "deployed"),
    ]
    assert fake.obj("lease", NAME) is None
    assert fake.obj("deployment", "customer-managed-server")["spec"]["replicas"] == 3


def test_pending_upgrade_we_did_not_cause_is_refused(fake) -> None:
    _interrupted_upgrade(fake, until_seconds=-5)
    with fake.edit() as st:  # the lease never recorded a chart step: somebody else's helm upgrade
        del st["objects"][f"customer-managed/lease/{NAME}"]["metadata"]["annotations"][
            "prefect-rollback/chart"
        ]
    result = fake.cli("rollback", "--to", "1.2.0", "--yes")
    assert result.exit_code == 3, result.stderr
    assert (
        "pending-upgrade at revision 4" in result.stderr and "no unfinished rollback of ours" in result.stderr
    )
    assert "record_writes" not in fake.state
    assert not any(c["argv"][0] == "upgrade" for c in fake.calls("helm"))


class JumpingClock(pending.Clock):
    """Wall-clock time that moves on by each pause instead of waiting it out: settle runs to its
    deadline in as many looks, at once."""

    def __init__(self) -> None:
        self.ahead = dt.timedelta(0)

    def now(self) -> dt.datetime:
        return super().now() + self.ahead

    def sleep(self, seconds: float) -> None:
        super().sleep(0)  # still ends on a signal
        self.ahead += dt.timedelta(seconds=seconds)


def test_our_pending_upgrade_still_in_its_time_is_waited_for_never_raced(fake, monkeypatch) -> None:
    """Until its recorded deadline helm may still run it: we wait (here it never ends, so the wait
    runs to the deadline) and only then repair; no second helm upgrade is started meanwhile."""
    clock = JumpingClock()
    monkeypatch.setattr(pending, "clock", clock)
    # the deadline must still be ahead when the chart step comes, after a plan in real time that takes
    # seconds on a loaded machine; from there on the clock jumps
    _interrupted_upgrade(fake, until_seconds=60)
    chart = fake.obj("lease", NAME)["metadata"]["annotations"]["prefect-rollback/chart"]
    until = leases.parse_time(json.loads(chart)["until"])
    result = fake.cli("rollback", "--to", "1.2.0", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "may still be running; waiting up to" in result.stderr
    lists = [c for c in fake.calls("helm") if c["argv"][0] == "list"]
    assert len(lists) >= 4  # it looked again and again before touching the record
    upgrade_at = next(i for i, c in enumerate(fake.calls()) if c["argv"][0] == "upgrade")
    replace_at = next(i for i, c in enumerate(fake.calls()) if c["argv"][0] == "get" and RECORD in c["argv"])
    assert replace_at < upgrade_at
    assert clock.now() >= until  # it repaired only once the deadline had passed


def test_a_record_written_ahead_by_the_lock_is_waited_for_like_helms_own(fake, monkeypatch) -> None:
    """SIGKILL between helm's start and the exact record's write: the lock's record, written ahead, is
    what the re-run finds. It names our upgrade and a later end: waited for, then repaired."""
    clock = JumpingClock()
    monkeypatch.setattr(pending, "clock", clock)
    at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=30)
    ahead = pending.record(3, "1.2.0", 90, at=at, planned=True)
    _interrupted_upgrade(fake, until_seconds=0, chart=ahead)
    result = fake.cli("rollback", "--to", "1.2.0", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "of the interrupted run planned " in result.stderr and "may still be running" in result.stderr
    assert clock.now() >= leases.parse_time(ahead["until"])  # not repaired before its end
    assert "revision 4 marked failed" in result.stderr


@pytest.mark.parametrize(
    ("written", "covers"),
    [
        ({"after-revision": 3, "version": "1.2.0", "until": "2030-01-01T00:10:00.000000Z"}, True),
        ({"after-revision": 3, "version": "1.2.0", "until": "2030-01-01T00:09:59.999999Z"}, False),
        ({"after-revision": 2, "version": "1.2.0", "until": "2031-01-01T00:00:00.000000Z"}, False),
        ({"after-revision": 3, "version": "1.3.0", "until": "2031-01-01T00:00:00.000000Z"}, False),
        ({"after-revision": 3, "version": "1.2.0", "until": "soon"}, False),
        (None, False),
    ],
)
def test_a_written_record_covers_only_the_same_upgrade_ending_no_earlier(written, covers: bool) -> None:
    wanted = pending.record(3, "1.2.0", 600, at=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    assert pending.covers(written, wanted) is covers


def test_record_changed_meanwhile_is_refused_not_overwritten(fake) -> None:
    _interrupted_upgrade(fake, until_seconds=-5)
    fake.fail(
        "kubectl",
        r"^replace ",
        nth=2,
        code=1,
        stderr="Error from server (Conflict): the object has been modified; please apply your changes",
    )
    result = fake.cli("rollback", "--to", "1.2.0", "--yes")
    assert result.exit_code == 3, result.stderr
    assert f"release record secret/{RECORD} changed while we repaired it" in result.stderr
    assert "Resume: " in result.stderr
    assert fake.state["releases"][RELEASE]["history"][-1]["status"] == "pending-upgrade"
