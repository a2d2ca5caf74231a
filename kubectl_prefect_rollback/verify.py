"""After the chart step: is the release really back, and do its servers agree on the heads?"""

from __future__ import annotations

import time
from typing import Any

from kubectl_prefect_rollback import heads, helm, kube, proc
from kubectl_prefect_rollback.errors import VerifyFailed
from kubectl_prefect_rollback.plan import Plan
from kubectl_prefect_rollback.target import Target


def _wanted_images(t: Target, plan: Plan) -> set[str]:
    """Server images the release's Deployments now ask for (the target chart's, with its values)."""
    names = {name for name, _ in plan.deployments}
    images = set()
    for d in kube.list_(t, "deployments"):
        if d["metadata"]["name"] in names or not names:
            for c in d["spec"]["template"]["spec"].get("containers") or []:
                if heads.image_path(c.get("image", "")).endswith("/server"):
                    images.add(c["image"])
    return images


def _ready_server(t: Target, plan: Plan, images: set[str]) -> tuple[heads.ServerPod | None, str]:
    pods = kube.list_(t, "pods")
    seen = "no server pod"
    for pod in pods:
        found = heads.server_container(pod)
        if not found or (pod.get("metadata", {}).get("labels") or {}).get("job-name"):
            continue
        name, image = found
        seen = f"pod {pod['metadata']['name']} runs {image}"
        if image in images and _is_ready(pod):
            return heads.ServerPod(pod["metadata"]["name"], name, image), seen
    return None, seen


def _is_ready(pod: dict[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return pod.get("status", {}).get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conds
    )


def _wait_ready_server(t: Target, plan: Plan, images: set[str], timeout: float) -> heads.ServerPod:
    deadline = time.monotonic() + timeout
    while True:
        server, seen = _ready_server(t, plan, images)
        if server:
            return server
        if time.monotonic() > deadline:
            raise VerifyFailed(
                f"no Ready server pod runs {', '.join(sorted(images)) or 'the target image'} "
                f"after {timeout:.0f}s ({seen})",
                hint="Look at `kubectl get pods` and the server logs: an older server fails to start "
                "when its database is ahead of it.",
            )
        time.sleep(2)


def verify(t: Target, plan: Plan, *, timeout: float) -> str:
    rel = next((r for r in helm.list_releases(t) if r.name == plan.release.name), None)
    if rel is None or rel.status != "deployed" or rel.version != plan.to_version:
        got = f"{rel.status} at {rel.version}" if rel else "missing"
        raise VerifyFailed(f"release {plan.release.name} is {got}, expected deployed at {plan.to_version}")
    images = _wanted_images(t, plan)
    with proc.waiting():
        server = _wait_ready_server(t, plan, images, timeout)
    got = heads.heads_of(heads.read_chains(t, server).chains)
    want = plan.heads("target")
    wrong = [f"{db} {got[db]} (want {want[db]})" for db in want if got.get(db) != want[db]]
    if wrong:
        raise VerifyFailed(f"server {server.name} has migration heads {', '.join(wrong)}")
    return f"verified: deployed {plan.to_version}, {server.image.rsplit('/', 1)[-1]} ready, heads match"
