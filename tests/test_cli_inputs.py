"""Bad CLI inputs and the cluster states they meet (a wrong --to, no or several releases, a broken
listing, a missing tool, a held lock, GitOps): each gives its exit code and exactly one `Error:` line,
never a traceback. The catalogue in tests/bad_inputs.py (test_bad_inputs.py) holds the rest; a case is
in one of the two, not both."""

from __future__ import annotations

import pytest

from tests.fakes.fixture import chart_tgz
from tests.fakes.listings import listing_path

LISTING = listing_path("1.3.0").read_text()
NEBULA = "nebula/migrations/versions"


def check(result, code: int, *needles: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    first = errors[0]
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
    return first


def plan(fake, *args: str):
    return fake.cli("plan", "--to", "1.2.0", *args)


@pytest.mark.parametrize(
    ("to", "code", "needle"),
    [
        ("1.3.0", 3, "the version already deployed"),
        ("1.0.0", 2, "chart ./prefect-cloud-1.0.0.tgz does not exist"),  # no such chart version here
    ],
)
def test_bad_to(fake, to: str, code: int, needle: str) -> None:
    for version in ("1.3.0", "1.4.0"):  # the charts exist: the direction is what is wrong
        chart_tgz(fake.work / f"prefect-cloud-{version}.tgz", version)
    check(fake.cli("plan", "--to", to), code, needle)


def test_bad_to_is_refused_before_any_process(fake) -> None:
    check(fake.cli("plan", "--to", "not-a-version"), 2)
    assert fake.calls() == []


def test_repo_chart_without_that_version(fake) -> None:
    result = fake.cli("plan", "--to", "1.0.0", "--chart", "myrepo/prefect-cloud")
    first = check(
        result, 2, "helm show chart myrepo/prefect-cloud --version 1.0.0", 'version "1.0.0" not found'
    )
    assert first.startswith("Error: no chart myrepo/prefect-cloud version 1.0.0")


@pytest.mark.parametrize("rev", ["head", "base", "-rf", "abc def", "x;rm", "$(id)", "a" * 65])
def test_revision_flags_must_be_alembic_ids(fake, rev: str) -> None:
    check(
        plan(fake, "--nebula-revision", rev, "--orion-revision", "5be81c0d2f34"),
        2,
        "not a plausible Alembic revision id",
    )
    assert not any(rev in a for c in fake.calls() for a in c["argv"])


def test_target_revision_not_an_ancestor(fake) -> None:
    result = plan(fake, "--nebula-revision", "deadbeef0000", "--orion-revision", "5be81c0d2f34")
    check(result, 3, "deadbeef0000 is not an ancestor")


def test_no_release(fake) -> None:
    with fake.edit() as st:
        st["releases"] = {}
    check(plan(fake), 1, "no release of the prefect-cloud chart in namespace customer-managed")


def test_several_releases(fake) -> None:
    with fake.edit() as st:
        twin = dict(st["releases"]["customer-managed/customer-managed"], name="twin")
        st["releases"]["customer-managed/twin"] = twin
    check(plan(fake), 1, "several prefect-cloud releases", "customer-managed, twin", "--release")


def test_pending_release(fake) -> None:
    with fake.edit() as st:
        st["releases"]["customer-managed/customer-managed"]["history"][-1]["status"] = "pending-upgrade"
    check(plan(fake), 3, "release customer-managed is pending-upgrade")


def test_no_server_pod_for_revisions(fake) -> None:
    with fake.edit() as st:
        st["objects"] = {k: o for k, o in st["objects"].items() if "/pod/" not in k}
    check(fake.cli("revisions"), 1, "no Running server pod of customer-managed")


@pytest.mark.parametrize(
    ("output", "needle"),
    [
        ("", "empty or malformed"),
        ("Defaulted container server\nsh: awk: not found\n", "empty or malformed"),
        (LISTING.replace("#end\n", ""), "incomplete"),
        (LISTING.replace("nebula\tfile\t", "nebula\tfiel\t", 1), "malformed"),
    ],
    ids=["empty", "garbage", "truncated", "bad-line"],
)
def test_malformed_exec_output(fake, output: str, needle: str) -> None:
    with fake.edit() as st:
        for name in [k.rsplit("/", 1)[1] for k in st["objects"] if "/pod/customer-managed-server" in k]:
            st["exec_output"][name] = output
    check(fake.cli("revisions"), 1, needle)


def _with_extra_nebula(fake, revision: str, down: str) -> None:
    extra = (
        f"nebula\tfile\tx_{revision}.py\n"
        f"nebula\trevision\tx_{revision}.py\trevision = '{revision}'\n"
        f"nebula\tdown_revision\tx_{revision}.py\tdown_revision = '{down}'\n"
    )
    text = LISTING.replace("orion\tfolder", extra + "orion\tfolder", 1)
    with fake.edit() as st:
        for name in [k.rsplit("/", 1)[1] for k in st["objects"] if "/pod/customer-managed-server" in k]:
            st["exec_output"][name] = text


def test_two_heads(fake) -> None:
    _with_extra_nebula(fake, "bbbbbbbbbbbb", "9c1e02b7d4aa")
    check(plan(fake), 3, "nebula: the chain has 2 heads")


def test_cycle(fake) -> None:
    text = LISTING.replace("down_revision = None", "down_revision = '3fab1acc05c0'", 1)
    with fake.edit() as st:
        for name in [k.rsplit("/", 1)[1] for k in st["objects"] if "/pod/customer-managed-server" in k]:
            st["exec_output"][name] = text
    check(plan(fake), 3, "nebula")


def test_migration_job_without_upgrade_container(fake) -> None:
    with fake.edit() as st:
        rev = st["releases"]["customer-managed/customer-managed"]["history"][-1]
        rev["hooks"] = rev["hooks"].replace('database", "upgrade', 'database", "current')
    check(plan(fake), 3, "runs a database upgrade")


@pytest.mark.parametrize("prog", ["kubectl", "helm"])
def test_tool_missing_from_path(fake, prog: str) -> None:
    fake.missing(prog)
    first = check(plan(fake), 1, f"{prog}: not found on PATH", "Is it installed and on PATH?")
    assert f"`{prog} " in first


@pytest.mark.parametrize(
    ("prog", "match", "stderr"),
    [
        ("helm", r"^list ", "Error: Kubernetes cluster unreachable: connection refused"),
        ("kubectl", r"^get .*pods", "error: You must be logged in to the server (Unauthorized)"),
        ("kubectl", r"^exec ", 'error: unable to upgrade connection: container not found ("server")'),
    ],
)
def test_tool_exits_non_zero(fake, prog: str, match: str, stderr: str) -> None:
    fake.fail(prog, match, code=1, stderr=stderr + "\n")
    first = check(plan(fake), 1, stderr)
    assert f"`{prog} " in first and "exited 1" in first


def test_lock_held_by_someone_else(fake) -> None:
    import datetime as dt

    from kubectl_prefect_rollback import leases

    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": "customer-managed-prefect-rollback",
            "namespace": "customer-managed",
            "resourceVersion": "7",
            "annotations": {"prefect-rollback/target-version": "1.2.0"},
        },
        "spec": {
            "holderIdentity": "alice@bastion/1a2b3c4d",
            "leaseDurationSeconds": 30,
            "renewTime": leases.micro_time(dt.datetime.now(dt.timezone.utc)),
        },
    }
    with fake.edit() as st:
        st["objects"]["customer-managed/lease/customer-managed-prefect-rollback"] = lease
    check(fake.cli("rollback", "--to", "1.2.0", "--yes"), 3, "alice@bastion/1a2b3c4d", "s ago)")
    # refused before anything is created, the target's probe pod included
    assert not any(c["argv"][0] in ("create", "replace", "scale", "apply") for c in fake.calls("kubectl"))
    assert fake.obj("lease", "customer-managed-prefect-rollback") == lease


def test_non_tty_without_yes(fake) -> None:
    first = check(fake.cli("rollback", "--to", "1.2.0"), 3, "Re-run with --yes")
    assert "stdin is not a terminal" in first
    assert fake.mutations() == []  # the probe pod aside (created and deleted), nothing was written
    assert fake.obj("lease", "customer-managed-prefect-rollback") is None  # only the probe pod was created


def test_gitops_release_refused(fake) -> None:
    with fake.edit() as st:
        deploy = st["objects"]["customer-managed/deployment/customer-managed-server"]
        deploy["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] = "prefect"
        deploy["metadata"]["labels"]["helm.toolkit.fluxcd.io/namespace"] = "flux-system"
    check(plan(fake), 3, "Flux HelmRelease flux-system/prefect", "--ignore-gitops")
    result = plan(fake, "--ignore-gitops")
    assert result.exit_code == 0, result.stderr
    assert "make sure its auto-sync is suspended" in result.stdout


def test_usage_errors_exit_2(fake) -> None:
    result = fake.cli("plan")
    assert result.exit_code == 2 and "Missing option '--to'" in result.stderr
    result = fake.cli("revisions", "-o", "xml")
    assert result.exit_code == 2 and "Invalid value" in result.stderr
