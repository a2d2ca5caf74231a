"""Object storage with one resourceVersion counter, an event history for watches, and cascading deletes.

Everything here runs on the server's event loop thread, so no locks: a mutation and the delivery of
its watch event happen in one synchronous step, which is what lets a watch "list, then subscribe"
without missing events.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import datetime
import uuid
from collections.abc import Callable, Iterable

from . import kinds, selectors
from .errors import ApiError, already_exists, conflict, not_found
from .resources import BY_KIND

HISTORY = 5000  # events kept for resourceVersion replay; older watches get 410 Gone


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


Key = tuple[str, str, str]  # (kind, namespace or "", name)


class Store:
    def __init__(self) -> None:
        self.objects: dict[Key, dict] = {}
        self.rv = 100
        self.history: collections.deque = collections.deque(maxlen=HISTORY)
        self.watchers: set[asyncio.Queue] = set()
        self.listeners: list[Callable[[str, dict], None]] = []

    # -- reading ---------------------------------------------------------------------------------
    def get(self, kind: str, namespace: str, name: str) -> dict:
        obj = self.objects.get((kind, namespace if BY_KIND[kind].namespaced else "", name))
        if obj is None:
            raise not_found(kind, name)
        return copy.deepcopy(obj)

    def find(self, kind: str, namespace: str, name: str) -> dict | None:
        try:
            return self.get(kind, namespace, name)
        except ApiError:
            return None

    def list(
        self, kind: str, namespace: str | None = None, label_selector: str = "", field_selector: str = ""
    ) -> list[dict]:
        match = selectors.matcher(label_selector, field_selector)
        out = [
            copy.deepcopy(o)
            for (k, ns, _), o in sorted(self.objects.items())
            if k == kind and (not namespace or ns == namespace) and match(o)
        ]
        return out

    def owned_by(self, uid: str) -> list[dict]:
        return [
            copy.deepcopy(o)
            for o in self.objects.values()
            if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences", []))
        ]

    def namespace_exists(self, name: str) -> bool:
        return ("Namespace", "", name) in self.objects

    # -- writing ---------------------------------------------------------------------------------
    def create(self, obj: dict, *, dry_run: bool = False) -> dict:
        """dry_run (`?dryRun=All`): every check of a real create, nothing stored, no event."""
        obj = copy.deepcopy(obj)
        kind = obj["kind"]
        res = BY_KIND[kind]
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            raise ApiError(422, "Invalid", f"{kind} is invalid: metadata.name: Required value")
        ns = meta.get("namespace", "") if res.namespaced else ""
        if res.namespaced and not self.namespace_exists(ns):
            raise not_found("Namespace", ns)
        if (kind, ns, name) in self.objects:
            raise already_exists(kind, name)
        if not res.namespaced:
            meta.pop("namespace", None)
        obj["apiVersion"] = res.api_version
        for k in ("resourceVersion", "deletionTimestamp"):
            meta.pop(k, None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1)
        kinds.validate_create(obj)
        kinds.default(obj)
        if dry_run:
            return obj
        return self._put("ADDED", obj)

    def update(self, obj: dict, *, check_rv: bool = True, dry_run: bool = False) -> dict:
        obj = copy.deepcopy(obj)
        kind, meta = obj["kind"], obj.setdefault("metadata", {})
        old = self.get(kind, meta.get("namespace", ""), meta.get("name", ""))
        if (
            check_rv
            and meta.get("resourceVersion")
            and meta["resourceVersion"] != old["metadata"]["resourceVersion"]
        ):
            raise conflict(kind, meta["name"])
        for k in ("uid", "creationTimestamp", "namespace"):
            if k in old["metadata"]:
                meta[k] = old["metadata"][k]
        obj["apiVersion"] = old["apiVersion"]
        kinds.default(obj, old)
        kinds.validate_update(old, obj)
        meta["generation"] = old["metadata"].get("generation", 1)
        if old.get("spec") != obj.get("spec"):
            meta["generation"] += 1
        if obj == {**old, "metadata": {**meta, "resourceVersion": old["metadata"]["resourceVersion"]}}:
            return old  # a no-op write neither bumps the resourceVersion nor wakes watchers
        if dry_run:
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            return obj
        return self._put("MODIFIED", obj)

    def delete(self, kind: str, namespace: str, name: str, propagation: str = "Background") -> dict:
        obj = self.get(kind, namespace, name)
        del self.objects[self._key(obj)]
        self._emit("DELETED", obj)
        if propagation == "Orphan":
            for child in self.owned_by(obj["metadata"]["uid"]):
                refs = child["metadata"]["ownerReferences"]
                child["metadata"]["ownerReferences"] = [
                    r for r in refs if r.get("uid") != obj["metadata"]["uid"]
                ]
                self.update(child, check_rv=False)
        else:
            for child in self.owned_by(obj["metadata"]["uid"]):
                self._delete_quietly(child)
        if kind == "Namespace":
            for key in [key for key in self.objects if key[1] == name]:
                if key in self.objects:  # an earlier cascade may have taken it already
                    self._delete_quietly(self.objects[key])
        return obj

    def _delete_quietly(self, obj: dict) -> None:
        meta = obj["metadata"]
        if self._key(obj) in self.objects:
            self.delete(obj["kind"], meta.get("namespace", ""), meta["name"])

    # -- events ----------------------------------------------------------------------------------
    def _key(self, obj: dict) -> Key:
        ns = obj["metadata"].get("namespace", "") if BY_KIND[obj["kind"]].namespaced else ""
        return (obj["kind"], ns, obj["metadata"]["name"])

    def _put(self, event: str, obj: dict) -> dict:
        self.objects[self._key(obj)] = obj
        self._emit(event, obj)
        return copy.deepcopy(obj)

    def _emit(self, event: str, obj: dict) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        snapshot = copy.deepcopy(obj)
        self.history.append((self.rv, event, snapshot))
        for queue in list(self.watchers):
            queue.put_nowait((self.rv, event, snapshot))
        for listener in self.listeners:
            listener(event, snapshot)

    def since(self, rv: int) -> Iterable[tuple[int, str, dict]]:
        """Events newer than `rv`; raises 410 Gone when the history no longer reaches back that far."""
        if self.history and rv < self.history[0][0] - 1 and len(self.history) == HISTORY:
            raise ApiError(410, "Expired", f"too old resource version: {rv} ({self.history[0][0]})")
        return [e for e in self.history if e[0] > rv]
