from __future__ import annotations

from kubectl_prefect_rollback import release
from kubectl_prefect_rollback.helm import Release


def rel(revision: int, version: str, status: str) -> Release:
    return Release("cm", "ns", revision, status, "prefect-cloud", version, version)


HISTORY = [
    rel(1, "1.1.0", "superseded"),
    rel(2, "1.2.0", "superseded"),
    rel(3, "1.2.0", "failed"),
    rel(4, "1.3.0", "superseded"),
    rel(5, "1.3.1", "deployed"),
]


def test_newest_revision_that_ran_a_version_skips_failed_ones() -> None:
    assert release.newest_revision_at(HISTORY, "1.2.0").revision == 2
    assert release.newest_revision_at(HISTORY, "1.0.0") is None


def test_versions_between() -> None:
    assert release.versions_between(HISTORY, "1.2.0", "1.3.1") == ["1.3.0", "1.3.1"]
    assert release.versions_between(HISTORY, "1.3.0", "1.3.1") == ["1.3.1"]


def test_gitops_owner() -> None:
    flux = {
        "metadata": {
            "labels": {"helm.toolkit.fluxcd.io/name": "prefect", "helm.toolkit.fluxcd.io/namespace": "flux"}
        }
    }
    argo = {
        "metadata": {"annotations": {"argocd.argoproj.io/tracking-id": "prefect:apps/Deployment:cm/server"}}
    }
    plain = {"metadata": {"labels": {"app.kubernetes.io/instance": "cm"}}}
    assert release.gitops_owner([plain, flux]) == "Flux HelmRelease flux/prefect"
    assert release.gitops_owner([argo]) == "Argo CD application prefect"
    assert release.gitops_owner([plain]) is None


def test_pending() -> None:
    assert rel(6, "1.2.0", "pending-upgrade").pending
    assert not rel(6, "1.2.0", "failed").pending


class _Lease:
    """A LeaseView stand-in: target version and the chart record our chart step writes."""

    def __init__(self, target: str, chart: dict | None) -> None:
        self.target, self._chart = target, chart

    def state(self, key: str):
        return self._chart if key == "chart" else None


OURS = {"after-revision": 3, "version": "1.2.0", "started": "2026-01-01T00:00:00.0Z"}


def test_pending_decision_table() -> None:
    """ours -> "" (the chart step waits or repairs); anything else -> the reason it is refused."""
    pending = rel(4, "1.2.0", "pending-upgrade")
    assert release.not_ours(_Lease("1.2.0", OURS), pending, "1.2.0") == ""
    cases = {
        "no lease": (None, pending, "no unfinished rollback of ours"),
        "lease, chart step never started": (_Lease("1.2.0", None), pending, "no unfinished rollback of ours"),
        "lease to another version": (_Lease("1.1.0", OURS), pending, "goes to 1.1.0"),
        "pending-rollback (we never roll back)": (
            _Lease("1.2.0", OURS),
            rel(4, "1.2.0", "pending-rollback"),
            "we only run upgrades",
        ),
        "pending revision older than our start": (
            _Lease("1.2.0", OURS),
            rel(3, "1.2.0", "pending-upgrade"),
            "started after revision 3",
        ),
        "pending at another chart version": (
            _Lease("1.2.0", OURS),
            rel(4, "1.3.1", "pending-upgrade"),
            "runs chart 1.3.1",
        ),
    }
    for name, (lease, r, why) in cases.items():
        assert why in release.not_ours(lease, r, "1.2.0"), name
