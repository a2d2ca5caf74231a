"""The resource verbs: list/watch, create, get, replace, patch, delete, and the status/scale subresources.

Request bodies come as JSON, YAML, or Kubernetes protobuf (helm 4 and `kubectl create secret`);
answers are always JSON, which every client accepts.
"""

from __future__ import annotations

import json

import yaml
from aiohttp import web

from . import kinds, patch, protobuf, selectors
from .resources import Resource
from .store import ApiError, Store, not_found

STATUS_OWNED = {"Pod", "Job", "Deployment", "ReplicaSet", "Namespace", "Service"}


async def read_body(request: web.Request) -> object:
    raw = await request.read()
    ctype = request.content_type
    try:
        if ctype == "application/vnd.kubernetes.protobuf":
            return protobuf.decode(raw)
        if "yaml" in ctype:
            return yaml.safe_load(raw) or {}
        if "cbor" in ctype:
            raise ApiError(
                415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {ctype}"
            )
        return json.loads(raw) if raw else {}
    except protobuf.UnsupportedKind as e:
        raise ApiError(415, "UnsupportedMediaType", f"kubesim cannot decode protobuf {e}") from e
    except (ValueError, yaml.YAMLError) as e:
        raise ApiError(400, "BadRequest", f"the body of the request could not be decoded: {e}") from e


def answer(obj: object, status: int = 200) -> web.Response:
    return web.json_response(obj, status=status, dumps=lambda o: json.dumps(o, separators=(",", ":")))


def _query_selector(request: web.Request) -> tuple[str, str]:
    return request.query.get("labelSelector", ""), request.query.get("fieldSelector", "")


def _check_namespace(store: Store, res: Resource, namespace: str | None) -> None:
    if res.namespaced and namespace and not store.namespace_exists(namespace):
        raise not_found("Namespace", namespace)


def collection_get(request: web.Request, store: Store, res: Resource, namespace: str | None) -> web.Response:
    _check_namespace(store, res, namespace)
    try:
        items = store.list(res.kind, namespace, *_query_selector(request))
    except ValueError as e:
        raise ApiError(400, "BadRequest", str(e)) from e
    if "as=Table" in request.headers.get("Accept", ""):
        return answer(kinds.table(res.kind, items, str(store.rv)))
    return answer(
        {
            "kind": f"{res.kind}List",
            "apiVersion": res.api_version,
            "metadata": {"resourceVersion": str(store.rv)},
            "items": items,
        }
    )


def _fill(body: dict, res: Resource, namespace: str | None) -> dict:
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the request body must be an object")
    body.setdefault("kind", res.kind)
    body.setdefault("apiVersion", res.api_version)
    if body["kind"] != res.kind:
        raise ApiError(
            400,
            "BadRequest",
            f"the API version in the data ({body['kind']}) does not match the expected kind ({res.kind})",
        )
    meta = body.setdefault("metadata", {})
    if res.namespaced:
        if namespace and meta.get("namespace", namespace) != namespace:
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        meta["namespace"] = namespace or meta.get("namespace") or "default"
    return body


async def create(request: web.Request, store: Store, res: Resource, namespace: str | None) -> web.Response:
    body = _fill(await read_body(request), res, namespace)
    body.pop("status", None) if res.kind in STATUS_OWNED - {"Namespace"} else None
    return answer(store.create(body, dry_run=_dry(request)), 201)


def _dry(request: web.Request) -> bool:
    """`?dryRun=All` (kubectl --dry-run=server, helm --dry-run=server): validate, store nothing."""
    return request.query.get("dryRun") == "All"


def get(store: Store, res: Resource, namespace: str | None, name: str) -> web.Response:
    return answer(store.get(res.kind, namespace or "", name))


async def replace(
    request: web.Request, store: Store, res: Resource, namespace: str | None, name: str, sub: str | None
) -> web.Response:
    body = _fill(await read_body(request), res, namespace)
    body["metadata"]["name"] = name
    old = store.get(res.kind, namespace or "", name)
    return answer(store.update(_own_fields(old, body, sub), dry_run=_dry(request)))


def _own_fields(old: dict, new: dict, sub: str | None) -> dict:
    """Writes to `/status` change only the status; writes to the object keep the server-owned status."""
    if sub == "status":
        return {
            **old,
            "status": new.get("status", {}),
            "metadata": {**old["metadata"], "resourceVersion": new["metadata"].get("resourceVersion")},
        }
    if old["kind"] in STATUS_OWNED and "status" in old:
        new["status"] = old["status"]
    return new


async def apply_patch(
    request: web.Request, store: Store, res: Resource, namespace: str | None, name: str, sub: str | None
) -> web.Response:
    body = await read_body(request)
    ctype = request.content_type
    live = store.find(res.kind, namespace or "", name)
    if live is None:
        if ctype != "application/apply-patch+yaml":
            raise not_found(res.kind, name)
        # server-side apply of a missing object creates it
        obj = _fill(body, res, namespace)
        obj["metadata"]["name"] = name
        return answer(store.create(obj, dry_run=_dry(request)), 201)
    if sub == "scale":
        return _patch_scale(store, live, body, ctype)
    try:
        if ctype == "application/json-patch+json":
            result = patch.json_patch(live, body)
        elif ctype == "application/merge-patch+json":
            result = patch.json_merge(live, body)
        else:  # strategic merge, and apply-patch approximated as a strategic merge of the applied config
            result = patch.strategic_merge(live, body)
    except patch.PatchError as e:
        raise ApiError(422, "Invalid", str(e)) from e
    check_rv = bool((body.get("metadata") or {}).get("resourceVersion")) if isinstance(body, dict) else False
    return answer(store.update(_own_fields(live, result, sub), check_rv=check_rv, dry_run=_dry(request)))


def delete(
    request_body: dict,
    store: Store,
    res: Resource,
    namespace: str | None,
    name: str,
    query_policy: str | None,
) -> web.Response:
    policy = query_policy or (request_body or {}).get("propagationPolicy") or "Background"
    obj = store.delete(res.kind, namespace or "", name, propagation=policy)
    if res.kind == "Namespace":
        obj.setdefault("status", {})["phase"] = "Terminating"
    return answer(obj)


def delete_collection(
    request: web.Request, store: Store, res: Resource, namespace: str | None
) -> web.Response:
    for obj in store.list(res.kind, namespace, *_query_selector(request)):
        store.delete(res.kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
    return answer({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})


# -- scale -----------------------------------------------------------------------------------------------
def scale_of(obj: dict) -> dict:
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": obj["spec"].get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": selectors.from_label_selector(obj["spec"].get("selector")),
        },
    }


def _patch_scale(store: Store, live: dict, body: dict, ctype: str) -> web.Response:
    scale = scale_of(live)
    if ctype == "application/json-patch+json":
        scale = patch.json_patch(scale, body)
    else:
        scale = patch.json_merge(scale, body)
    live["spec"]["replicas"] = int(scale["spec"]["replicas"])
    return answer(scale_of(store.update(live, check_rv=False)))


async def replace_scale(request: web.Request, store: Store, live: dict) -> web.Response:
    body = await read_body(request)
    live["spec"]["replicas"] = int(body.get("spec", {}).get("replicas", 0))
    return answer(scale_of(store.update(live, check_rv=False)))
