"""`GET …/pods/NAME/log`: a container's captured output, optionally followed until it exits.

Like a real cluster, a container that has not started yet answers 400 "… is waiting to start:
ContainerCreating", and kubectl does not retry that: callers must.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from .kubelet import Kubelet
from .store import ApiError

POLL = 0.1


def _tail(data: bytes, lines: int) -> bytes:
    if lines < 0:
        return data
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:]) if lines else b""


async def serve(request: web.Request, kubelet: Kubelet, namespace: str, name: str) -> web.StreamResponse:
    pod = kubelet.store.get("Pod", namespace, name)
    names = [c["name"] for c in pod["spec"].get("containers") or []]
    container_name = request.query.get("container")
    if not container_name:
        if len(names) != 1:
            raise ApiError(
                400,
                "BadRequest",
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]",
            )
        container_name = names[0]
    runner = kubelet.runner(namespace, name)
    run = runner.container(container_name) if runner else None
    if run is None and container_name not in names + [
        c["name"] for c in pod["spec"].get("initContainers") or []
    ]:
        raise ApiError(400, "BadRequest", f"container {container_name} is not valid for pod {name}")
    if run is None or not run.container_id:
        reason = (run.state.get("waiting", {}).get("reason") if run else None) or "ContainerCreating"
        raise ApiError(
            400, "BadRequest", f'container "{container_name}" in pod "{name}" is waiting to start: {reason}'
        )
    follow = request.query.get("follow") == "true"
    resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    with open(run.log_path, "rb") as f:
        await resp.write(_tail(f.read(), int(request.query.get("tailLines", -1))))
        while follow:
            # read what is there, then stop only once the container is finished for good and drained
            finished = not run.running
            chunk = f.read()
            if chunk:
                await resp.write(chunk)
            elif finished:
                break
            else:
                await asyncio.sleep(POLL)
    await resp.write_eof()
    return resp
