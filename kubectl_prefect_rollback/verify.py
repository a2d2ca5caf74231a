"""After the chart step: is the release really back, and do its servers agree on the heads?"""

from __future__ import annotations

import time
from typing import Any

from kubectl_prefect_rollback import costs, heads, helm, kube, proc, servers, waits
from kubectl_prefect_rollback.constants import POLL_JOB
from kubectl_prefect_rollback.errors import VerifyFailed
from kubectl_prefect_rollback.plan import Plan
from kubectl_prefect_rollback.servers import ServerPod
from kubectl_prefect_rollback.target import Target


def _wanted_images(deployments: list[dict[str, Any]], names: set[str]) -> set[str]:
    """Server images the release's Deployments now ask for (the target chart's, with its values)."""
    images = set()
    for d in deployments:
        if d["metadata"]["name"] in names or not names:
            for c in d["spec"]["template"]["spec"].get("containers") or []:
                if servers.is_server_image(c.get("image", "")):
                    images.add(c["image"])
    return images


def _ready_server(t: Target, plan: Plan) -> tuple[ServerPod | None, str, set[str]]:
    """One look at Deployments and pods together: a Ready pod running the Deployments' server image."""
    objects = kube.list_(t, "deployments,pods")
    images = _wanted_images(
        [o for o in objects if o.get("kind") == "Deployment"], {n for n, _ in plan.deployments}
    )
    seen = "no server pod"
    for pod in (o for o in objects if o.get("kind") == "Pod"):
        found = servers.server_container(pod)
        if not found or (pod.get("metadata", {}).get("labels") or {}).get("job-name"):
            continue
        name, image = found
        seen = f"pod {pod['metadata']['name']} runs {image}"
        if image in images and servers.ready(pod):
            files = servers.files_of(pod, name)
            return ServerPod(pod["metadata"]["name"], name, image, files=files), seen, images
    return None, seen, images


def _wait_ready_server(t: Target, plan: Plan, timeout: float, first: tuple) -> ServerPod:
    looks = iter([first])  # the first look came along with the release check
    last = [first]

    def look() -> ServerPod | None:
        last[0] = next(looks, None) or _ready_server(t, plan)
        return last[0][0]

    def expired() -> VerifyFailed:
        _, seen, images = last[0]
        return VerifyFailed(
            f"no Ready server pod runs {', '.join(sorted(images)) or 'the target image'} "
            f"after {timeout:.0f}s ({seen})",
            hint="Look at `kubectl get pods` and the server logs: an older server fails to start "
            "when its database is ahead of it.",
        )

    return waits.wait_until(look, deadline=waits.deadline(timeout), poll=POLL_JOB, expired=expired)


def verify(t: Target, plan: Plan, *, timeout: float) -> str:
    releases, first = proc.gather(lambda: helm.list_releases(t), lambda: _ready_server(t, plan))
    rel = next((r for r in releases if r.name == plan.release.name), None)
    if rel is None or rel.status != "deployed" or rel.version != plan.to_version:
        got = f"{rel.status} at {rel.version}" if rel else "missing"
        raise VerifyFailed(f"release {plan.release.name} is {got}, expected deployed at {plan.to_version}")
    deadline = time.monotonic() + timeout
    with costs.waiting():
        server = _wait_ready_server(t, plan, timeout, first)
    ready = f"verified: deployed {plan.to_version}, {server.image.rsplit('/', 1)[-1]} ready, heads match"
    if plan.target_files and server.files == plan.target_files:
        # the target heads were listed from these very files (same image digest, no mount over them)
        return f"{ready} (the image digest the target heads were listed in)"
    left = max(deadline - time.monotonic(), proc.limits.request)
    listing = heads.read_chains(t, server, timeout=left, bound=f"--verify-timeout {timeout:g}s")
    got = heads.heads_of(listing.chains)
    want = plan.heads("target")
    wrong = [f"{db} {got[db]} (want {want[db]})" for db in want if got.get(db) != want[db]]
    if wrong:
        raise VerifyFailed(f"server {server.name} has migration heads {', '.join(wrong)}")
    return ready
