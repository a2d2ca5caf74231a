"""Migration heads: read from a running server pod, a probe pod, or the records ConfigMap."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from kubectl_prefect_rollback import kube, manifests, migrations, proc
from kubectl_prefect_rollback.errors import RollbackError
from kubectl_prefect_rollback.migrations import Chain
from kubectl_prefect_rollback.target import Target

MANAGED_BY_US = "kubectl-prefect-rollback"
MANAGED_BY = {"app.kubernetes.io/managed-by": MANAGED_BY_US}


@dataclass(frozen=True)
class ServerPod:
    name: str
    container: str
    image: str


def image_path(image: str) -> str:
    """Repository path of an image reference, without tag or digest."""
    path = image.split("@", 1)[0]
    last = path.rsplit("/", 1)
    if ":" in last[-1]:
        path = path.rsplit(":", 1)[0]
    return path


def server_container(pod: dict[str, Any]) -> tuple[str, str] | None:
    for c in (pod.get("spec") or {}).get("containers") or []:
        if image_path(c.get("image", "")).endswith("/server"):
            return c["name"], c["image"]
    return None


def _running(pod: dict[str, Any]) -> bool:
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    return status.get("phase") == "Running" and not meta.get("deletionTimestamp")


def _ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def find_server_pod(
    pods: list[dict[str, Any]], release: str, *, pod: str | None = None, container: str | None = None
) -> ServerPod | None:
    """A Running pod of the release whose container image path ends in /server (labels only break ties)."""
    if pod:
        pods = [p for p in pods if p["metadata"]["name"] == pod]
        if not pods:
            raise RollbackError(f"pod {pod} not found")
    running = [p for p in pods if _running(p)]
    if (
        container
        and running
        and not any(
            container == c.get("name") for p in running for c in (p.get("spec") or {}).get("containers") or []
        )
    ):  # a typo must not quietly fall back to "no server pod runs"
        raise RollbackError(f"--container {container}: no running pod here has a container of that name")
    candidates = []
    for p in pods:
        labels = p["metadata"].get("labels") or {}
        if "job-name" in labels or labels.get("app.kubernetes.io/managed-by") == MANAGED_BY_US:
            continue  # migration or probe pods are not servers
        found = server_container(p)
        if container:
            images = {c["name"]: c["image"] for c in p["spec"].get("containers") or []}
            found = (container, images[container]) if container in images else None
        if found and _running(p):
            mine = labels.get("app.kubernetes.io/instance") == release
            candidates.append((not mine, not _ready(p), p["metadata"]["name"], found))
    if not candidates:
        if pod:
            raise RollbackError(
                f"pod {pod} is not a running server pod (no Running container with a …/server image)"
            )
        return None
    _, _, name, (cname, image) = min(candidates)
    return ServerPod(name, cname, image)


# Does the image's CLI ask "Are you sure?" unless given -y? A Job has no stdin: the prompt aborts it.
HELP_MARK = "#downgrade-help"
HELP_SCRIPT = f"echo '{HELP_MARK}'; prefect-cloud nebula database downgrade --help 2>&1 | head -n 60; exit 0"
_YES = re.compile(r"(^|[\s,\[(])(-y|--yes)\b", re.MULTILINE)


@dataclass(frozen=True)
class Listing:
    chains: dict[str, Chain | None]
    yes_flag: bool | None = None  # None: not asked


def _split(text: str, with_help: bool) -> Listing:
    listing, _, help_text = text.partition(HELP_MARK + "\n")
    return Listing(migrations.parse_listing(listing), bool(_YES.search(help_text)) if with_help else None)


def _script(with_help: bool) -> str:
    script = migrations.listing_script()
    return f"{script}\n{HELP_SCRIPT}\n" if with_help else script


def read_chains(t: Target, server: ServerPod) -> Listing:
    """One exec lists all three chains (script on argv, no stdin, explicit container)."""
    out = kube.exec_(t, server.name, server.container, ("sh", "-c", migrations.listing_script()))
    return _split(out, with_help=False)


def takes_yes(t: Target, server: ServerPod) -> bool:
    """Ask the image's CLI for its downgrade options (a separate exec: it starts Python, the listing
    does not, so the two run side by side)."""
    with proc.waiting():  # mostly the image's CLI starting up in the pod
        out = kube.exec_(t, server.name, server.container, ("sh", "-c", HELP_SCRIPT))
    return bool(_YES.search(out.partition(HELP_MARK + "\n")[2]))


def probe(
    t: Target, job: dict[str, Any], *, name: str, timeout: float = 300, with_help: bool = False
) -> Listing:
    """Run the listing script in a short-lived pod built from a migration Job; always delete it."""
    # A random suffix: two plans at once (one of them about to be refused by the lock) must not
    # delete each other's probe.
    name = manifests.fit_name(f"{name}-{secrets.token_hex(3)}")
    pod = manifests.probe_pod(job, name=name, script=_script(with_help), labels=MANAGED_BY)
    try:
        kube.create(t, pod)
        with proc.waiting():
            phase = _wait_finished(t, name, timeout)
        text = kube.logs_text(t, name, pod["spec"]["containers"][0]["name"])
        if phase != "Succeeded":
            raise RollbackError(f"probe pod {name} ended {phase}: {text.strip()[-500:] or '(no output)'}")
        return _split(text, with_help)
    finally:
        kube.delete(t, "pod", name, wait=False)


def _wait_finished(t: Target, name: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        pod = kube.get(t, "pod", name) or {}
        status = pod.get("status") or {}
        phase = status.get("phase", "Pending")
        if phase in ("Succeeded", "Failed"):
            return phase
        for cs in status.get("containerStatuses") or []:
            reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason", "")
            if reason in (
                "ErrImagePull",
                "ImagePullBackOff",
                "InvalidImageName",
                "CreateContainerConfigError",
            ):
                raise RollbackError(f"probe pod {name} cannot start: {reason} ({cs.get('image')})")
        if time.monotonic() > deadline:
            raise RollbackError(f"probe pod {name} did not finish within {timeout:.0f}s (phase {phase})")
        time.sleep(0.25)


def heads_of(chains: dict[str, Chain | None]) -> dict[str, str | None]:
    return {db: (c.head if c else None) for db, c in ((db, chains.get(db)) for db in migrations.DATABASES)}
