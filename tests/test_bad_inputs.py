"""The bad-input catalogue (tests/bad_inputs.py) against the fake kubectl and helm: each case exits with
its documented code, prints exactly one `Error:` line naming the problem, no traceback, no secret, and
leaves the cluster untouched (no mutating call in the fakes' call log, not even a probe pod)."""

from __future__ import annotations

import json

import pytest

from kubectl_prefect_rollback import heads, migrations
from tests.bad_inputs import Case, catalogue, counts, table
from tests.fakes.listings import listing_path

CASES = catalogue()


@pytest.fixture
def world(fake):
    """The default world plus recorded heads for 1.2.0, so no case needs a probe pod: any write in the
    call log is then a change the pre-flight checks should have prevented."""
    target = heads.heads_of(migrations.parse_listing(listing_path("1.2.0").read_text()))
    with fake.edit() as st:
        st["objects"]["customer-managed/configmap/customer-managed-prefect-rollback-revisions"] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "customer-managed-prefect-rollback-revisions",
                "namespace": "customer-managed",
                "resourceVersion": "3",
                "labels": {"app.kubernetes.io/managed-by": "kubectl-prefect-rollback"},  # as records writes
            },
            "data": {"1.2.0": json.dumps({"heads": target, "source": "test"})},
        }
    return fake


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(world, case: Case) -> None:
    extra = case.setup(world) if case.setup else []
    result = world.cli(*case.command, *case.args, *extra, env=case.env)
    out = result.stderr + result.stdout
    assert result.exit_code == case.code, (result.exit_code, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in out
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert case.needle in errors[0], (case.needle, errors[0])
    assert "run with -v" not in out, "a catalogued input must have its own message, not the bug fallback"
    if case.secret:
        assert case.secret not in out
    assert world.mutations(probes=True) == []
    if case.code == 2:  # a usage error is found before any kubectl or helm process starts
        assert world.calls() == [], [c["argv"][:3] for c in world.calls()]


def test_the_catalogue_has_60_cases_in_every_category() -> None:
    n = counts()
    assert n["total"] >= 60
    assert {"cli", "files", "kubeconfig", "tool-output", "names", "secrets"} <= set(n)
    text = table()
    assert all(c.id in text for c in CASES) and f"total        {n['total']}" in text


def test_force_unlock_abandons_a_lease_it_cannot_read(world) -> None:
    """The lease-annotation cases name --force-unlock as the way out: it must be one."""
    from tests.bad_inputs import _lease

    _lease({"prefect-rollback/from-version": '"1.3.0"', "prefect-rollback/from-revision": "{three"})(world)
    assert world.cli("rollback", "--to", "1.2.0", "--yes").exit_code == 1
    result = world.cli("rollback", "--to", "1.2.0", "--yes", "--force-unlock")
    assert result.exit_code == 0, result.stderr
    assert world.obj("lease", "customer-managed-prefect-rollback") is None  # finished and unlocked
