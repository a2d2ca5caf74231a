"""Watch streams: one JSON event per line over a chunked response.

Three starting points, as client-go uses them: resourceVersion N replays stored events newer than N;
empty or "0" sends the current objects as ADDED; `sendInitialEvents=true` (WatchList, used by helm 4
and kubectl 1.35) sends them as ADDED and then a BOOKMARK annotated `k8s.io/initial-events-end`.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from . import selectors
from .resources import Resource
from .store import ApiError, Store

BOOKMARK_EVERY = 5.0


def _line(event: str, obj: dict) -> bytes:
    return json.dumps({"type": event, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _bookmark(res: Resource, rv: int, initial_end: bool = False) -> bytes:
    meta: dict = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return _line("BOOKMARK", {"kind": res.kind, "apiVersion": res.api_version, "metadata": meta})


async def serve(
    request: web.Request, store: Store, res: Resource, namespace: str | None
) -> web.StreamResponse:
    q = request.query
    try:
        match = selectors.matcher(q.get("labelSelector", ""), q.get("fieldSelector", ""))
    except ValueError as e:
        raise ApiError(400, "BadRequest", str(e)) from e
    timeout = float(q.get("timeoutSeconds") or 1800)
    bookmarks = q.get("allowWatchBookmarks") == "true"

    def wanted(obj: dict) -> bool:
        return (
            obj["kind"] == res.kind
            and (not namespace or obj["metadata"].get("namespace") == namespace)
            and match(obj)
        )

    # subscribe and take the starting snapshot in one synchronous step: nothing can slip between them
    queue: asyncio.Queue = asyncio.Queue()
    store.watchers.add(queue)
    try:
        rv = q.get("resourceVersion", "")
        if q.get("sendInitialEvents") == "true" or rv in ("", "0"):
            start = [_line("ADDED", o) for o in store.list(res.kind, namespace) if match(o)]
            if q.get("sendInitialEvents") == "true":
                start.append(_bookmark(res, store.rv, initial_end=True))
        else:
            start = [_line(event, obj) for _, event, obj in store.since(int(rv)) if wanted(obj)]
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for chunk in start:
            await resp.write(chunk)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                rv_now, event, obj = await asyncio.wait_for(queue.get(), min(left, BOOKMARK_EVERY))
            except asyncio.TimeoutError:
                if bookmarks:
                    await resp.write(_bookmark(res, store.rv))
                continue
            if wanted(obj):
                await resp.write(_line(event, obj))
        await resp.write_eof()
        return resp
    except ConnectionResetError:  # the client hung up (kubectl wait done, helm moved on): normal
        return resp
    finally:
        store.watchers.discard(queue)
