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
