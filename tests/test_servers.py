"""servers.py: which pod is the release's server, whether it is Ready, and why a pod cannot start."""

from __future__ import annotations

import pytest

from kubectl_prefect_rollback import servers
from kubectl_prefect_rollback.errors import RollbackError


@pytest.mark.parametrize(
    ("image", "path"),
    [
        (
            "us-docker.pkg.dev/prefect-prd-customer-managed/cloud/server:1.3.0",
            "us-docker.pkg.dev/prefect-prd-customer-managed/cloud/server",
        ),
        ("registry.local:5000/cloud/server:1.3.0", "registry.local:5000/cloud/server"),
        ("registry.local:5000/cloud/server", "registry.local:5000/cloud/server"),
        ("r/cloud/server@sha256:abc", "r/cloud/server"),
        ("r/cloud/server:1.3.0@sha256:abc", "r/cloud/server"),
    ],
)
def test_image_path(image: str, path: str) -> None:
    assert servers.image_path(image) == path


def pod(
    name: str,
    *,
    image: str = "r/cloud/server:1.3.0",
    phase: str = "Running",
    ready: bool = True,
    labels: dict | None = None,
    sidecar: bool = True,
) -> dict:
    containers = [{"name": "istio-proxy", "image": "r/istio/proxyv2:1.0"}] if sidecar else []
    containers.append({"name": "server", "image": image})
    return {
        "metadata": {
            "name": name,
            "labels": labels if labels is not None else {"app.kubernetes.io/instance": "cm"},
        },
        "spec": {"containers": containers},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_server_pod_by_image_path_not_labels() -> None:
    pods = [
        pod("ui", image="r/cloud/ui:1.3.0"),
        pod("migrations", labels={"job-name": "cm-db-migrations"}),
        pod("probe", labels={"app.kubernetes.io/managed-by": "kubectl-prefect-rollback"}),
        pod("pending", phase="Pending"),
        pod("other-release", labels={"app.kubernetes.io/instance": "other"}),
        pod("not-ready", ready=False),
        pod("good"),
    ]
    found = servers.find_server_pod(pods, "cm")
    assert (found.name, found.container) == ("good", "server")  # the sidecar is never exec'd into


def test_server_pod_none_and_explicit() -> None:
    assert servers.find_server_pod([pod("ui", image="r/cloud/ui:1")], "cm") is None
    assert servers.find_server_pod([pod("a"), pod("b")], "cm", pod="b").name == "b"
    with pytest.raises(RollbackError, match="pod nope not found"):
        servers.find_server_pod([pod("a")], "cm", pod="nope")
    with pytest.raises(RollbackError, match="not a running server pod"):
        servers.find_server_pod([pod("a", phase="Succeeded")], "cm", pod="a")


def test_ready_needs_running_and_the_ready_condition() -> None:
    assert servers.ready(pod("a"))
    assert not servers.ready(pod("a", ready=False))
    assert not servers.ready(pod("a", phase="Pending"))


def test_a_deleting_pod_is_not_running() -> None:
    p = pod("a")
    p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert not servers.running(p) and servers.running(pod("a"))


def test_a_container_typo_is_refused_not_read_as_no_server() -> None:
    with pytest.raises(RollbackError, match="--container srever"):
        servers.find_server_pod([pod("a")], "cm", container="srever")


@pytest.mark.parametrize("reason", servers.CANNOT_START)
def test_every_cannot_start_reason_is_reported_with_its_container(reason: str) -> None:
    p = {
        "status": {
            "containerStatuses": [{"name": "probe", "image": "x", "state": {"waiting": {"reason": reason}}}]
        }
    }
    assert [(cs["name"], r) for cs, r in servers.cannot_start(p)] == [("probe", reason)]


def test_a_container_still_creating_can_start() -> None:
    waiting = {"state": {"waiting": {"reason": "ContainerCreating"}}}
    assert list(servers.cannot_start({"status": {"containerStatuses": [{"name": "c", **waiting}]}})) == []
    assert "CreateContainerError" in servers.CANNOT_START  # the one the probe's own list used to miss


def test_statuses_include_init_containers() -> None:
    p = {"status": {"initContainerStatuses": [{"name": "i"}], "containerStatuses": [{"name": "c"}]}}
    assert set(servers.statuses(p)) == {"i", "c"}


def _pod(mounts: list[str], image_id: str = "docker://sha256:abc") -> dict:
    container = {
        "name": "server",
        "image": "r/server:1",
        "volumeMounts": [{"name": "v", "mountPath": m} for m in mounts],
    }
    status = {"containerStatuses": [{"name": "server", "imageID": image_id}]}
    return {"spec": {"containers": [container]}, "status": status}


@pytest.mark.parametrize(
    ("mounts", "image_id", "files"),
    [
        ([], "docker://sha256:abc", "docker://sha256:abc"),
        (
            ["/data", "/prefect_cloud_data", "/prefect_cloud/src/prefect_cloud_x"],
            "docker://sha256:abc",
            "docker://sha256:abc",
        ),
        (["/prefect_cloud/src/prefect_cloud/nebula/migrations"], "docker://sha256:abc", ""),  # under the root
        (["/prefect_cloud/src/prefect_cloud"], "docker://sha256:abc", ""),  # the root itself
        (["/prefect_cloud/"], "docker://sha256:abc", ""),  # over it
        (["/"], "docker://sha256:abc", ""),
        ([], "", ""),  # no digest yet: unknown
    ],
)
def test_the_files_a_listing_reads_are_known_by_digest_only_without_a_mount_over_them(
    mounts, image_id, files
) -> None:
    assert servers.files_of(_pod(mounts, image_id), "server") == files


def test_a_container_that_is_not_there_has_no_known_files() -> None:
    assert servers.files_of(_pod([]), "other") == ""
