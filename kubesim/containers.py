"""One container of a pod: its environment, its process, its restarts, its readiness, its status.

A container is run by `ContainerRun.run()`, which restarts it according to the pod's restartPolicy
(kubelet-style, with a short fixed backoff instead of the real exponential one so tests stay fast).
"""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from pathlib import Path

import aiohttp

from . import runtime
from .store import ApiError, Store, now

BACKOFF = 1.0
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(value: str, env: dict[str, str]) -> str:
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), value)


def resolve_env(store: Store, namespace: str, image: runtime.Image, container: dict, pod_name: str) -> dict:
    """Image env first (like Docker ENV), then envFrom, then env, as the kubelet layers them."""
    env = {"PATH": runtime.DEFAULT_PATH, "HOSTNAME": pod_name, "HOME": "/root", **image.env}

    def source(kind: str, name: str) -> dict:
        obj = store.find(kind, namespace, name) or {}
        data = dict(obj.get("data") or {})
        return {k: base64.b64decode(v).decode() for k, v in data.items()} if kind == "Secret" else data

    for ref in container.get("envFrom") or []:
        kind, spec = (
            ("Secret", ref["secretRef"]) if "secretRef" in ref else ("ConfigMap", ref.get("configMapRef", {}))
        )
        env.update({ref.get("prefix", "") + k: v for k, v in source(kind, spec.get("name", "")).items()})
    for var in container.get("env") or []:
        if "value" in var:
            env[var["name"]] = expand(str(var["value"]), env)
        elif "valueFrom" in var:
            vf = var["valueFrom"]
            kind, key = (
                ("Secret", vf["secretKeyRef"])
                if "secretKeyRef" in vf
                else ("ConfigMap", vf.get("configMapKeyRef"))
            )
            if key:
                value = source(kind, key.get("name", "")).get(key.get("key", ""))
                if value is not None:
                    env[var["name"]] = value
        else:
            env[var["name"]] = ""
    return env


class ContainerRun:
    def __init__(self, pod: PodContext, spec: dict, *, init: bool) -> None:
        self.pod, self.spec, self.init = pod, spec, init
        self.name = spec["name"]
        self.log_path = pod.dir / f"{self.name}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.state: dict = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: dict = {}
        self.restart_count = 0
        self.ready = False
        self.started = False
        self.exit_code: int | None = None
        self.container_id = ""
        self.done = asyncio.Event()  # set when the container is finished for good

    @property
    def running(self) -> bool:
        return "running" in self.state

    def status(self) -> dict:
        out = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": "",
            "containerID": self.container_id,
            "ready": self.ready,
            "started": self.running,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.container_id:
            out["imageID"] = "kubesim://" + self.spec.get("image", "")
        return out

    def argv(self, command: list[str], env: dict) -> list[str]:
        image = self.pod.image(self.spec)
        return runtime.sandbox_argv(
            image, self.pod.tmp_dir(self.name), self.pod.binds(), env, self.spec.get("workingDir"), command
        )

    async def run(self) -> None:
        policy = self.pod.restart_policy
        while True:
            code = await self._run_once()
            should_restart = policy == "Always" or (policy == "OnFailure" and code != 0)
            if not should_restart:
                self.done.set()
                self.pod.changed()
                return
            self.last_state = {"terminated": self.state["terminated"]}
            self.state = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off restarting failed container {self.name}",
                }
            }
            self.pod.changed()
            await asyncio.sleep(BACKOFF)
            self.restart_count += 1

    async def _run_once(self) -> int:
        image = self.pod.image(self.spec)
        env = resolve_env(self.pod.store, self.pod.namespace, image, self.spec, self.pod.name)
        command = [expand(a, env) for a in runtime.container_argv(image, self.spec)]
        forced = self.pod.forced_exit(self.spec)
        if forced is not None:
            command = ["/bin/sh", "-c", f"exit {forced}"]
        with open(self.log_path, "ab") as log:
            try:
                self.proc = await asyncio.create_subprocess_exec(
                    *self.argv(command, env),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as e:
                log.write(f"kubesim: cannot start container: {e}\n".encode())
                return self._terminated(128, "StartError")
        self.container_id = "kubesim://" + uuid.uuid4().hex
        started = now()
        self.state = {"running": {"startedAt": started}}
        self.pod.changed()
        probe = asyncio.ensure_future(self._probe(env)) if not self.init else None
        if probe is None or not self.spec.get("readinessProbe"):
            self.ready = not self.init
            self.pod.changed()
        try:
            code = await self.proc.wait()
        finally:
            if probe:
                probe.cancel()
        self.ready = False
        return self._terminated(code, "Completed" if code == 0 else "Error", started)

    def _terminated(self, code: int, reason: str, started: str | None = None) -> int:
        self.exit_code = code
        self.state = {
            "terminated": {
                "exitCode": code if code >= 0 else 128 - code,
                "reason": reason,
                "startedAt": started or now(),
                "finishedAt": now(),
                "containerID": self.container_id,
            }
        }
        return self.state["terminated"]["exitCode"]

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            runtime.kill_group(self.proc.pid)
            await self.proc.wait()

    # -- readiness ---------------------------------------------------------------------------------
    async def _probe(self, env: dict) -> None:
        probe = self.spec.get("readinessProbe")
        if not probe:
            return
        await asyncio.sleep(min(probe.get("initialDelaySeconds", 0), 2))
        period = min(probe.get("periodSeconds", 10), 1.0)
        while self.running:
            ok = await self._check(probe, env)
            if ok != self.ready:
                self.ready = ok
                self.pod.changed()
            await asyncio.sleep(period)

    async def _check(self, probe: dict, env: dict) -> bool:
        timeout = min(probe.get("timeoutSeconds", 1), 5) + 2
        try:
            if "exec" in probe:
                proc = await asyncio.create_subprocess_exec(
                    *self.argv(probe["exec"].get("command", []), env),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                    start_new_session=True,
                )
                try:
                    return await asyncio.wait_for(proc.wait(), timeout) == 0
                except asyncio.TimeoutError:
                    runtime.kill_group(proc.pid)
                    return False
            spec = probe.get("httpGet") or probe.get("tcpSocket") or {}
            port = self._port(spec.get("port"))
            if "httpGet" in probe:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
                    async with http.get(f"http://127.0.0.1:{port}{spec.get('path', '/')}") as resp:
                        return 200 <= resp.status < 400
            if "tcpSocket" in probe:
                _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
                writer.close()
                return True
        except (OSError, aiohttp.ClientError, asyncio.TimeoutError):
            return False
        return True

    def _port(self, port: int | str | None) -> int:
        for p in self.spec.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        return int(port or 80)


class PodContext:
    """What a container needs to know about its pod; implemented by kubelet.PodRunner."""

    store: Store
    namespace: str
    name: str
    dir: Path
    restart_policy: str

    def image(self, spec: dict) -> runtime.Image: ...
    def tmp_dir(self, container: str) -> Path: ...
    def binds(self) -> list[runtime.Bind]: ...
    def forced_exit(self, spec: dict) -> int | None: ...
    def changed(self) -> None: ...


__all__ = ["ContainerRun", "PodContext", "resolve_env", "ApiError"]
