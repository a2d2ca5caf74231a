"""The cluster's own record of what happened and when: every request on arrival, every object change.

Tests and benchmarks read the order of events from here (the store's resourceVersion counter) and
durations from its stamps, instead of guessing from the client side. Stamps are `time.monotonic()`:
kubesim runs in a thread of the test process, so they compare with the caller's own clock.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from dataclasses import dataclass

KEEP = 200_000  # changes kept; a long benchmark session stays bounded
_BULKY = ("data", "stringData", "binaryData")  # Secret/ConfigMap payloads: not needed for timelines


@dataclass(frozen=True)
class Request:
    t: float
    method: str
    path: str  # with the query string


@dataclass(frozen=True)
class Change:
    t: float
    rv: int  # the store's resourceVersion after this change: the total order of every change
    event: str  # ADDED | MODIFIED | DELETED
    kind: str
    namespace: str
    name: str
    obj: dict  # the object as stored (without Secret/ConfigMap data); shared, do not mutate


class Requests(list):
    """`KubeSim.requests`, the (method, path) list the server appends to, stamped as each arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.stamped: collections.deque[Request] = collections.deque(maxlen=KEEP)

    def append(self, item: tuple[str, str]) -> None:
        self.stamped.append(Request(time.monotonic(), item[0], item[1]))
        super().append(item)

    def clear(self) -> None:
        self.stamped.clear()
        super().clear()


class Timeline:
    def __init__(self) -> None:
        self.requests = Requests()
        self.changes: collections.deque[Change] = collections.deque(maxlen=KEEP)

    def on_change(self, event: str, obj: dict) -> None:
        """A Store listener: called on the loop thread right after the change, with its snapshot."""
        meta = obj["metadata"]
        slim = {k: v for k, v in obj.items() if k not in _BULKY}
        self.changes.append(
            Change(
                time.monotonic(),
                int(meta["resourceVersion"]),
                event,
                obj["kind"],
                meta.get("namespace", ""),
                meta["name"],
                slim,
            )
        )

    def changes_in(self, namespace: str, kind: str | None = None, since: float = 0.0) -> Iterator[Change]:
        # a copy first: the loop thread appends while the caller's thread reads
        for c in list(self.changes):
            if c.namespace == namespace and (kind is None or c.kind == kind) and c.t >= since:
                yield c

    def requests_between(self, t0: float, t1: float, namespace: str | None = None) -> list[Request]:
        """Requests that arrived in [t0, t1]; with namespace, only those whose path names it."""
        marker = f"/namespaces/{namespace}/" if namespace else ""
        return [
            r
            for r in list(self.requests.stamped)
            if t0 <= r.t <= t1 and (not marker or marker in r.path + "/")
        ]
