"""The aiohttp application: discovery, the resource URL space, auth, request recording, fault injection.

Resource URLs are parsed by hand rather than with aiohttp routes: `/api/v1/namespaces/X/pods` and
`/api/v1/namespaces/X/status` share a shape, and one parser keeps those cases in one place.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from . import api, logs, resources, watch
from . import exec as exec_
from .kubelet import Kubelet
from .resources import BY_PATH, Resource
from .store import ApiError, Store

OPENAPI_V2_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


@dataclass
class Faults:
    """Test hooks: failing requests, added latency. Mutated from the test thread; reads are atomic."""

    rules: list = field(default_factory=list)  # [method, compiled regex, status, remaining]
    latency: float = 0.0

    def match(self, method: str, path_qs: str) -> int | None:
        for rule in self.rules:
            if rule[3] > 0 and (rule[0] in ("*", method)) and rule[1].search(path_qs):
                rule[3] -= 1
                return rule[2]
        return None


@dataclass
class Target:
    res: Resource
    namespace: str | None
    name: str | None
    sub: str | None


def parse(group: str, version: str, tail: str) -> Target:
    parts = [p for p in tail.split("/") if p]
    namespace = None
    if len(parts) >= 3 and parts[0] == "namespaces" and (group, version, parts[2]) in BY_PATH:
        namespace, parts = parts[1], parts[2:]
    if not parts or (group, version, parts[0]) not in BY_PATH or len(parts) > 3:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    res = BY_PATH[(group, version, parts[0])]
    name = parts[1] if len(parts) > 1 else None
    sub = parts[2] if len(parts) > 2 else None
    if sub and sub not in res.subresources:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return Target(res, namespace, name, sub)


def build_app(
    store: Store, kubelet: Kubelet, token: str, faults: Faults, requests: list, tls: bool = True
) -> web.Application:
    @web.middleware
    async def middleware(request: web.Request, handler):
        requests.append((request.method, request.path_qs))
        if faults.latency:
            await asyncio.sleep(faults.latency)
        try:
            # client-go does not send bearer tokens over plain HTTP: there only a wrong token is refused
            given = request.headers.get("Authorization")
            if given != f"Bearer {token}" and (tls or given is not None):
                raise ApiError(401, "Unauthorized", "Unauthorized")
            status = faults.match(request.method, request.path_qs)
            if status:
                raise ApiError(
                    status,
                    "InternalError" if status >= 500 else "BadRequest",
                    f"kubesim: injected failure ({status})",
                )
            return await handler(request)
        except ApiError as e:
            return api.answer(e.status(), e.code)

    async def resource(request: web.Request) -> web.StreamResponse:
        info = request.match_info
        t = parse(info.get("group", ""), info["version"], info["tail"])
        return await dispatch(request, t)

    async def dispatch(request: web.Request, t: Target) -> web.StreamResponse:
        m, q = request.method, request.query
        if t.name is None:
            if m == "GET" and q.get("watch") in ("true", "1"):
                api._check_namespace(store, t.res, t.namespace)
                return await watch.serve(request, store, t.res, t.namespace)
            if m == "GET":
                return api.collection_get(request, store, t.res, t.namespace)
            if m == "POST":
                return await api.create(request, store, t.res, t.namespace)
            if m == "DELETE":
                return api.delete_collection(request, store, t.res, t.namespace)
        elif t.sub == "log":
            return await logs.serve(request, kubelet, t.namespace, t.name)
        elif t.sub == "exec":
            return await exec_.serve(request, kubelet, t.namespace, t.name)
        elif t.sub == "scale" and m in ("GET", "PUT"):
            live = store.get(t.res.kind, t.namespace or "", t.name)
            if m == "GET":
                return api.answer(api.scale_of(live))
            return await api.replace_scale(request, store, live)
        elif m == "GET":
            return api.get(store, t.res, t.namespace, t.name)
        elif m == "PUT":
            return await api.replace(request, store, t.res, t.namespace, t.name, t.sub)
        elif m == "PATCH":
            return await api.apply_patch(request, store, t.res, t.namespace, t.name, t.sub)
        elif m == "DELETE":
            body = await api.read_body(request) if request.can_read_body else {}
            return api.delete(body, store, t.res, t.namespace, t.name, q.get("propagationPolicy"))
        raise ApiError(
            405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
        )

    def static(doc) -> web.RequestHandler:
        async def handler(request: web.Request) -> web.Response:
            return api.answer(doc)

        return handler

    async def api_group(request: web.Request) -> web.Response:
        doc = resources.api_group(request.match_info["group"])
        if doc is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return api.answer(doc)

    async def resource_list(request: web.Request) -> web.Response:
        doc = resources.resource_list(request.match_info.get("group", ""), request.match_info["version"])
        if doc is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return api.answer(doc)

    async def openapi_v2(request: web.Request) -> web.Response:
        # an empty body is a valid empty protobuf document: clients then skip client-side validation
        return web.Response(body=b"", headers={"Content-Type": OPENAPI_V2_TYPE})

    async def not_found(request: web.Request) -> web.Response:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(middlewares=[middleware], client_max_size=64 * 1024 * 1024)
    app.router.add_get("/version", static(resources.VERSION_INFO))
    app.router.add_get("/api", static(resources.api_versions()))
    app.router.add_get("/apis", static(resources.api_group_list()))
    app.router.add_get("/openapi/v2", openapi_v2)
    app.router.add_get("/openapi/v3", not_found)
    app.router.add_get(r"/{check:(healthz|readyz|livez)}", healthz)
    app.router.add_get("/api/{version:v1}", resource_list)
    app.router.add_route("*", "/api/{version:v1}/{tail:.*}", resource)
    app.router.add_get("/apis/{group}", api_group)
    app.router.add_get("/apis/{group}/{version}", resource_list)
    app.router.add_route("*", "/apis/{group}/{version}/{tail:.*}", resource)
    return app
