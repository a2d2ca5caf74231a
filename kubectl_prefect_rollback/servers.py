"""Server pods: which pod runs the release's Prefect server, whether it is running or Ready, and why a
pod of ours cannot start. Pure: every function reads pod documents the caller listed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubectl_prefect_rollback.constants import INSTANCE_LABEL, MANAGED_BY_LABEL, MANAGED_BY_US
from kubectl_prefect_rollback.errors import RollbackError
from kubectl_prefect_rollback.listing import DEFAULT_ROOT

# A container waiting for one of these never starts by itself: waiting longer only hides the cause.
CANNOT_START = (
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
)


@dataclass(frozen=True)
class ServerPod:
    name: str
    container: str
    image: str
    command: tuple[str, ...] = ()  # the container's command (a Python there runs a shell-less listing)
    image_id: str = ""  # the digest the kubelet reports for the container's image ("" before it runs)
    files: str = ""  # what the listing would read there (files_of); "" when unknown


def image_path(image: str) -> str:
    """Repository path of an image reference, without tag or digest."""
    path = image.split("@", 1)[0]
    last = path.rsplit("/", 1)
    if ":" in last[-1]:
        path = path.rsplit(":", 1)[0]
    return path


def is_server_image(image: str) -> bool:
    return image_path(image).endswith("/server")


def server_container(pod: dict[str, Any]) -> tuple[str, str] | None:
    for c in (pod.get("spec") or {}).get("containers") or []:
        if is_server_image(c.get("image", "")):
            return c["name"], c["image"]
    return None


def running(pod: dict[str, Any]) -> bool:
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    return status.get("phase") == "Running" and not meta.get("deletionTimestamp")


def ready(pod: dict[str, Any]) -> bool:
    """Running, and its Ready condition is True."""
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )


def files_of(pod: dict[str, Any], container: str) -> str:
    """What the migration listing reads in this container, as an identity: its image's digest, as the
    kubelet reports it, when no volume is mounted over or under the migrations root. Two containers
    of equal identity list the same files. "" when that is not known (no digest yet, or a mount)."""
    containers = (pod.get("spec") or {}).get("containers") or []
    spec = next((c for c in containers if c.get("name") == container), {})
    image_id = str((statuses(pod).get(container) or {}).get("imageID") or "")
    for m in spec.get("volumeMounts") or []:
        path = str(m.get("mountPath") or "").rstrip("/") + "/"
        if path.startswith(DEFAULT_ROOT + "/") or (DEFAULT_ROOT + "/").startswith(path):
            return ""
    return image_id


def statuses(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Container name -> its status, init containers included."""
    status = pod.get("status") or {}
    return {
        cs["name"]: cs
        for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    }


def waiting_reason(cs: dict[str, Any] | None) -> str:
    return (((cs or {}).get("state") or {}).get("waiting") or {}).get("reason", "")


def cannot_start(pod: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """(container status, reason) for each container that will not start by itself."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        reason = waiting_reason(cs)
        if reason in CANNOT_START:
            yield cs, reason


def _is_ours_or_job(labels: dict[str, str]) -> bool:
    return "job-name" in labels or labels.get(MANAGED_BY_LABEL) == MANAGED_BY_US


def find_server_pod(
    pods: list[dict[str, Any]], release: str, *, pod: str | None = None, container: str | None = None
) -> ServerPod | None:
    """A Running pod of the release whose container image path ends in /server (labels only break ties)."""
    if pod:
        pods = [p for p in pods if p["metadata"]["name"] == pod]
        if not pods:
            raise RollbackError(f"pod {pod} not found")
    _check_container(pods, container)
    candidates = []
    for p in pods:
        labels = p["metadata"].get("labels") or {}
        if _is_ours_or_job(labels):
            continue  # migration or probe pods are not servers
        found = server_container(p)
        if container:
            images = {c["name"]: c["image"] for c in p["spec"].get("containers") or []}
            found = (container, images[container]) if container in images else None
        if found and running(p):
            mine = labels.get(INSTANCE_LABEL) == release
            candidates.append((not mine, not ready(p), p["metadata"]["name"], found))
    if not candidates:
        if pod:
            raise RollbackError(
                f"pod {pod} is not a running server pod (no Running container with a …/server image)"
            )
        return None
    _, _, name, (cname, image) = min(candidates)
    chosen = next(p for p in pods if p["metadata"]["name"] == name)
    containers = chosen["spec"].get("containers") or []
    command = next((c.get("command") or [] for c in containers if c["name"] == cname), [])
    image_id = str((statuses(chosen).get(cname) or {}).get("imageID") or "")
    return ServerPod(name, cname, image, tuple(command), image_id, files_of(chosen, cname))


def _check_container(pods: list[dict[str, Any]], container: str | None) -> None:
    """A --container typo must not quietly fall back to "no server pod runs"."""
    live = [p for p in pods if running(p)]
    if not container or not live:
        return
    if not any(
        container == c.get("name") for p in live for c in (p.get("spec") or {}).get("containers") or []
    ):
        raise RollbackError(f"--container {container}: no running pod here has a container of that name")
