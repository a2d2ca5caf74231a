"""The kubelet: runs every stored Pod, and writes its phase, conditions and container statuses back.

Phases follow Kubernetes: Pending (start delay, image pull, init containers) -> Running -> Succeeded
when every regular container exited 0, Failed when all have exited and one failed. A pod whose
sidecar never exits stays Running even after its main container finished: clients have to read
per-container exit codes, exactly as on a real cluster with an injected proxy.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from pathlib import Path

from . import runtime
from .containers import ContainerRun, PodContext
from .store import ApiError, Store, now

log = logging.getLogger("kubesim")


class PodRunner(PodContext):
    def __init__(self, kubelet: Kubelet, pod: dict) -> None:
        self.kubelet, self.store = kubelet, kubelet.store
        meta, self.spec = pod["metadata"], pod["spec"]
        self.namespace, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.restart_policy = self.spec.get("restartPolicy", "Always")
        self.dir = kubelet.state_dir / "pods" / self.uid
        self.dir.mkdir(parents=True, exist_ok=True)
        self.init = [ContainerRun(self, c, init=True) for c in self.spec.get("initContainers") or []]
        self.main = [ContainerRun(self, c, init=False) for c in self.spec.get("containers") or []]
        self.phase = "Pending"
        self.initialized = not self.init
        self.started_at = now()
        self.transitions: dict[str, tuple[str, str]] = {}
        self.task = asyncio.ensure_future(self.run())

    # -- PodContext ----------------------------------------------------------------------------------
    def image(self, spec: dict) -> runtime.Image:
        return self.kubelet.images.get(spec.get("image", ""))

    def tmp_dir(self, container: str) -> Path:
        path = self.dir / "tmp" / container
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o1777)
        return path

    def binds(self) -> list[runtime.Bind]:
        return list(self.kubelet.binds)

    def forced_exit(self, spec: dict) -> int | None:
        for pattern, code in self.kubelet.failures:
            if re.search(pattern, spec.get("image", "")) or re.search(pattern, spec["name"]):
                return code
        return None

    def changed(self) -> None:
        self.publish()

    def container(self, name: str | None) -> ContainerRun | None:
        runs = self.main + self.init
        return runs[0] if name is None and runs else next((c for c in runs if c.name == name), None)

    # -- lifecycle -------------------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug or a malformed spec: show it, and fail the pod rather than hang it
            log.exception("pod %s/%s crashed in kubesim", self.namespace, self.name)
            self.phase = "Failed"
            self.publish()

    async def _run(self) -> None:
        await asyncio.sleep(self.kubelet.start_delay)
        self.publish()
        await self._pull_images()
        for c in self.init:
            await c.run()
            if c.exit_code != 0:
                self.phase = "Failed"
                self.publish()
                return
        self.initialized = True
        await asyncio.gather(*(c.run() for c in self.main))
        self.publish()

    async def _pull_images(self) -> None:
        """An unknown image keeps the pod Pending with ErrImagePull, then ImagePullBackOff."""
        attempts = 0
        while True:
            missing = [c for c in self.init + self.main if self.image(c.spec) is None]
            for c in self.init + self.main:
                if c in missing:
                    reason = "ErrImagePull" if attempts == 0 else "ImagePullBackOff"
                    c.state = {
                        "waiting": {
                            "reason": reason,
                            "message": f'Back-off pulling image "{c.spec.get("image")}"',
                        }
                    }
                else:
                    c.state = {
                        "waiting": {
                            "reason": "PodInitializing" if self.init and not c.init else "ContainerCreating"
                        }
                    }
            self.publish()
            if not missing:
                return
            attempts += 1
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(*(c.stop() for c in self.init + self.main), return_exceptions=True)
        try:
            await self.task
        except (asyncio.CancelledError, Exception):  # the runner is gone either way
            pass

    # -- status ----------------------------------------------------------------------------------------
    def _phase(self) -> str:
        if self.phase == "Failed" or not self.initialized or not self.main:
            return self.phase
        if not all(c.done.is_set() for c in self.main):
            return "Running" if any(c.container_id for c in self.main) else "Pending"
        return "Succeeded" if all(c.exit_code == 0 for c in self.main) else "Failed"

    def _condition(self, kind: str, ok: bool) -> dict:
        status = "True" if ok else "False"
        if self.transitions.get(kind, ("", ""))[0] != status:
            self.transitions[kind] = (status, now())
        return {
            "type": kind,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": self.transitions[kind][1],
        }

    def status(self) -> dict:
        phase = self._phase()
        ready = phase == "Running" and all(c.ready for c in self.main)
        conditions = [
            self._condition("PodReadyToStartContainers", self.initialized or phase != "Pending"),
            self._condition("Initialized", self.initialized),
            self._condition("Ready", ready),
            self._condition("ContainersReady", ready),
            self._condition("PodScheduled", True),
        ]
        status = {
            "phase": phase,
            "conditions": conditions,
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": self.started_at,
            "qosClass": "BestEffort",
            "containerStatuses": [c.status() for c in self.main],
        }
        if self.init:
            status["initContainerStatuses"] = [c.status() for c in self.init]
        return status

    def publish(self) -> None:
        pod = self.store.find("Pod", self.namespace, self.name)
        if pod is None or pod["metadata"]["uid"] != self.uid:
            return
        status = self.status()
        if pod.get("status") != status:
            pod["status"] = status
            try:
                self.store.update(pod, check_rv=False)
            except ApiError:
                pass


class Kubelet:
    def __init__(self, store: Store, images: runtime.Images, state_dir: Path, binds: list) -> None:
        self.store, self.images, self.state_dir = store, images, state_dir
        self.binds = [runtime.Bind.parse(b) for b in binds]
        self.runners: dict[str, PodRunner] = {}
        self.failures: list[tuple[str, int]] = []
        self.start_delay = 0.0
        store.listeners.append(self.on_event)

    def on_event(self, event: str, obj: dict) -> None:
        if obj["kind"] != "Pod":
            return
        uid = obj["metadata"]["uid"]
        if event == "ADDED" and uid not in self.runners:
            self.runners[uid] = PodRunner(self, obj)
        elif event == "DELETED" and uid in self.runners:
            runner = self.runners.pop(uid)
            asyncio.ensure_future(self._reap(runner))

    async def _reap(self, runner: PodRunner) -> None:
        await runner.stop()
        shutil.rmtree(runner.dir / "tmp", ignore_errors=True)

    def runner(self, namespace: str, name: str) -> PodRunner | None:
        pod = self.store.find("Pod", namespace, name)
        return self.runners.get(pod["metadata"]["uid"]) if pod else None

    async def stop_all(self) -> None:
        runners, self.runners = list(self.runners.values()), {}
        await asyncio.gather(*(r.stop() for r in runners), return_exceptions=True)
