"""`kubectl exec` over WebSocket (`v5.channel.k8s.io`), run in a fresh sandbox of the container.

Frames carry a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 final status, 255 close (v5: kubectl
sends [255, 0] when its stdin ends). The exec sandbox shares the container's image, binds and /tmp,
so it sees what the container's main process wrote there. The SPDY upgrade (old kubectl, or
KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false) is answered with a clean 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import WSMsgType, web

from .containers import resolve_env
from .kubelet import Kubelet
from .runtime import kill_group
from .store import ApiError

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, STATUS, CLOSE = 0, 1, 2, 3, 255


def _status(code: int, command: list[str]) -> bytes:
    if code == 0:
        body: dict = {"metadata": {}, "status": "Success"}
    else:
        body = {
            "metadata": {},
            "status": "Failure",
            "reason": "NonZeroExitCode",
            "message": f"command terminated with non-zero exit code: error executing command {command}, "
            f"exit code {code}",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }
    return bytes([STATUS]) + json.dumps(body).encode()


async def serve(request: web.Request, kubelet: Kubelet, namespace: str, name: str) -> web.StreamResponse:
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise ApiError(
            400,
            "BadRequest",
            "kubesim only speaks the WebSocket exec protocol (v5.channel.k8s.io); SPDY is not supported",
        )
    pod = kubelet.store.get("Pod", namespace, name)
    command = request.query.getall("command", [])
    container = request.query.get("container") or pod["spec"]["containers"][0]["name"]
    runner = kubelet.runner(namespace, name)
    run = runner.container(container) if runner else None
    if run is None or not run.running:
        raise ApiError(400, "BadRequest", f'container {container} is not running in pod "{name}"')
    with_stdin = request.query.get("stdin") in ("true", "1")
    env = resolve_env(kubelet.store, namespace, runner.image(run.spec), run.spec, name)
    ws = web.WebSocketResponse(protocols=PROTOCOLS, autoping=True)
    await ws.prepare(request)
    try:
        proc = await asyncio.create_subprocess_exec(
            *run.argv(command, env),
            stdin=asyncio.subprocess.PIPE if with_stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as e:
        await ws.send_bytes(bytes([STDERR]) + f"kubesim: {e}\n".encode())
        await ws.send_bytes(_status(126, command))
        await ws.close()
        return ws

    async def pump(stream: asyncio.StreamReader, channel: int) -> None:
        while chunk := await stream.read(65536):
            await ws.send_bytes(bytes([channel]) + chunk)

    async def feed() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, data = msg.data[0], msg.data[1:]
            if channel == STDIN and proc.stdin and data:
                proc.stdin.write(data)
                with contextlib.suppress(ConnectionError):
                    await proc.stdin.drain()
            elif channel == CLOSE and data[:1] == bytes([STDIN]) and proc.stdin:
                proc.stdin.close()
        # the client went away: do not leave the command running
        if proc.returncode is None:
            kill_group(proc.pid)

    feeder = asyncio.ensure_future(feed())
    try:
        await asyncio.gather(pump(proc.stdout, STDOUT), pump(proc.stderr, STDERR))
        code = await proc.wait()
        await ws.send_bytes(_status(code, command))
        await ws.close()
    finally:
        feeder.cancel()
        if proc.returncode is None:
            kill_group(proc.pid)
    return ws
