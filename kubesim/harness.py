"""`KubeSim`: the server in a background thread with its own event loop, and helpers for tests.

All state lives on the loop thread; the helpers hop onto it with `run_coroutine_threadsafe`, so tests
can call them from the main thread while kubectl and helm talk to the server.
"""

from __future__ import annotations

import asyncio
import copy
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from . import events, resources, runtime, tls
from .controllers import Controllers
from .kubelet import Kubelet
from .server import Faults, build_app
from .store import ApiError, Store


class KubeSim:
    def __init__(
        self,
        tls: bool = True,
        binds: list | None = None,
        start_delay: float = 0.0,
        port: int = 0,
        state_dir: str | None = None,
        kubeconfig_path: str | None = None,
    ) -> None:
        self.tls, self.port = tls, port
        self._own_state = state_dir is None
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="kubesim-"))
        self.kubeconfig = str(kubeconfig_path or self.state_dir / "kubeconfig")
        self.token = secrets.token_hex(16)
        self.namespace = "default"
        self.images = runtime.Images()
        self.timeline = events.Timeline()  # when each request arrived and each object changed
        self.requests: list[tuple[str, str]] = self.timeline.requests
        self.faults = Faults()
        self._binds = list(binds or [])
        self._start_delay = start_delay
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> KubeSim:
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._main, args=(ready, failure), name="kubesim", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def _main(self, ready: threading.Event, failure: list) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._setup())
        except BaseException as e:  # report startup errors to the starting thread
            failure.append(e)
            ready.set()
            return
        ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._teardown())
        self._loop.close()

    async def _setup(self) -> None:
        self.store = Store()
        self.store.listeners.append(self.timeline.on_change)
        self.kubelet = Kubelet(self.store, self.images, self.state_dir, self._binds)
        self.kubelet.start_delay = self._start_delay
        self.controllers = Controllers(self.store)
        for ns in ("default", "kube-system", "kube-public"):
            self.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        app = build_app(self.store, self.kubelet, self.token, self.faults, self.requests, self.tls)
        # handler_cancellation: without it, handlers of disconnected watches and `logs -f` pile up
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, "127.0.0.1", self.port, ssl_context=tls.server_context() if self.tls else None
        )
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"
        self.write_kubeconfig()

    async def _teardown(self) -> None:
        self.controllers.task.cancel()
        await self.kubelet.stop_all()
        await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        if self._own_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> KubeSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    # -- kubeconfig and namespaces ---------------------------------------------------------------------
    def write_kubeconfig(self, path: str | None = None, namespace: str | None = None) -> str:
        target = Path(path or self.kubeconfig)
        tls.write_kubeconfig(target, self.url, self.token, namespace or self.namespace, self.tls)
        return str(target)

    def create_namespace(self, name: str) -> dict:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        return self._call(lambda: self.store.find("Namespace", "", name) or self.store.create(ns))

    def use_namespace(self, name: str) -> None:
        """Create `name` and make it the kubeconfig's default namespace."""
        self.create_namespace(name)
        self.namespace = name
        self.write_kubeconfig()

    # -- objects ---------------------------------------------------------------------------------------
    def seed(self, obj: dict) -> dict:
        """Create an object (or replace it if it exists), in `self.namespace` unless it names one."""
        obj = copy.deepcopy(obj)
        res = resources.kind_of(obj["kind"])
        if res.namespaced:
            obj.setdefault("metadata", {}).setdefault("namespace", self.namespace)

        def put() -> dict:
            meta = obj["metadata"]
            if self.store.find(res.kind, meta.get("namespace", ""), meta["name"]) is None:
                return self.store.create(obj)
            return self.store.update(obj, check_rv=False)

        return self._call(put)

    def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        res = resources.kind_of(kind)
        return self._call(lambda: self.store.find(res.kind, namespace or self.namespace, name))

    def list(self, kind: str, namespace: str | None = None, label_selector: str = "") -> list[dict]:
        res = resources.kind_of(kind)
        return self._call(lambda: self.store.list(res.kind, namespace, label_selector))

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        res = resources.kind_of(kind)

        def drop() -> None:
            try:
                self.store.delete(res.kind, namespace or self.namespace, name)
            except ApiError:
                pass

        self._call(drop)

    # -- images and sandbox ----------------------------------------------------------------------------
    def register_image(self, ref: str | None, directory: str) -> str:
        return self.images.register(ref, directory).ref

    def register_images(self, parent: str) -> list[str]:
        return [i.ref for i in self.images.register_all(parent)]

    def add_bind(self, host: str, sandbox: str | None = None, read_only: bool = True) -> None:
        """Expose a host path to containers started from now on."""
        self.kubelet.binds.append(runtime.Bind(str(host), str(sandbox or host), read_only))

    # -- fault injection -------------------------------------------------------------------------------
    def fail_requests(self, method: str, path_regex: str, status: int = 500, times: int = 1) -> None:
        self.faults.rules.append([method.upper(), re.compile(path_regex), status, times])

    def set_latency(self, seconds: float) -> None:
        self.faults.latency = seconds

    def fail_container(self, pattern: str, exit_code: int) -> None:
        """Containers whose image or name matches `pattern` (re.search) exit with `exit_code` at start."""
        self.kubelet.failures.append((pattern, exit_code))

    def set_start_delay(self, seconds: float) -> None:
        self.kubelet.start_delay = seconds

    def reset(self) -> None:
        """Undo test-local changes: faults, latency, start delay, binds added with add_bind."""
        self.faults.rules.clear()
        self.faults.latency = 0.0
        self.kubelet.failures.clear()
        self.kubelet.start_delay = self._start_delay
        self.kubelet.binds[:] = [runtime.Bind.parse(b) for b in self._binds]

    reset_faults = reset
