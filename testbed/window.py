"""The downtime window of one rollback, read from kubesim's own timeline (kubesim/events.py).

From the moment the server Deployment is scaled to 0 until the first server pod of the target image
is Ready, Prefect is down. This reads that window and its parts out of the cluster's records, for the
ordering tests (by resourceVersion, never by time) and for scripts/bench_rollback.py (by time).
"""

from __future__ import annotations

from dataclasses import dataclass

from kubesim.events import Change, Timeline

SERVER = "server"  # app.kubernetes.io/component of the server pods
WRITES = ("PATCH", "PUT")


@dataclass(frozen=True)
class Mark:
    t: float
    rv: int


@dataclass(frozen=True)
class PodLife:
    name: str
    created: Mark
    running: Mark | None  # a container started
    finished: Mark | None  # phase Succeeded or Failed
    phase: str


@dataclass(frozen=True)
class Window:
    start: float  # the scale-down request arrived; without a scale-down, the first downgrade pod's creation
    scale_down_request: float | None  # the write that set the server Deployment to 0 arrived (time only)
    scaled_down: Mark | None  # the Deployment stored with replicas 0 (None: never scaled down)
    servers_gone: Mark | None  # the last server pod that ran at the scale-down was deleted
    downgrade: tuple[PodLife, ...]  # pods running `… database downgrade`, in creation order
    helm_writes: Mark  # helm's first release record of the chart step (status pending-*)
    helm_done: Mark | None  # that record marked deployed (or failed)
    servers_created: tuple[Mark, ...]  # server pods created after the scale-down
    first_ready: Mark  # the first server pod of the target image Ready
    requests: int  # requests kubesim saw from start to first_ready (all namespaces)

    @property
    def seconds(self) -> float:
        return self.first_ready.t - self.start

    @property
    def jobs_seconds(self) -> float:
        """Time at least one downgrade pod existed unfinished (created -> finished, overlaps counted once)."""
        busy, end = 0.0, float("-inf")
        for a, b in sorted((p.created.t, p.finished.t) for p in self.downgrade if p.finished):
            busy += max(0.0, b - max(a, end))
            end = max(end, b)
        return busy

    @property
    def helm_seconds(self) -> float:
        return (self.helm_done.t if self.helm_done else self.first_ready.t) - self.helm_writes.t


def _mark(c: Change) -> Mark:
    return Mark(c.t, c.rv)


def _labels(c: Change) -> dict:
    return c.obj["metadata"].get("labels") or {}


def _is_server(c: Change) -> bool:
    return _labels(c).get("app.kubernetes.io/component") == SERVER


def _image(c: Change) -> str:
    spec = c.obj.get("spec") or {}
    return next((x.get("image", "") for x in spec.get("containers") or [] if x.get("name") == SERVER), "")


def _is_downgrade(c: Change) -> bool:
    for x in (c.obj.get("spec") or {}).get("containers") or []:
        words = " ".join([*(x.get("command") or []), *(x.get("args") or [])])
        if "database downgrade" in words:
            return True
    return False


def _ready(c: Change) -> bool:
    conditions = (c.obj.get("status") or {}).get("conditions") or []
    return any(x.get("type") == "Ready" and x.get("status") == "True" for x in conditions)


def _phase(c: Change) -> str:
    return (c.obj.get("status") or {}).get("phase") or "Pending"


def read(timeline: Timeline, namespace: str, release: str, target_image: str, since: float) -> Window:
    """The window of the rollback that started at `since` (a time.monotonic() of the caller)."""
    changes = list(timeline.changes_in(namespace, since=since))
    down, asked = _scale_down(timeline, changes, namespace, f"{release}-server", since)
    after = down.rv if down else 0
    pods = [c for c in changes if c.kind == "Pod" and c.rv > after]
    writes, done = _helm_record(changes, release, after)
    downgrade = _lives([c for c in pods if _is_downgrade(c)])
    start = asked if asked is not None else min(p.created.t for p in downgrade)
    ready = next(
        c for c in pods if _is_server(c) and _image(c) == target_image and _ready(c) and c.event != "DELETED"
    )
    return Window(
        start=start,
        scale_down_request=asked,
        scaled_down=_mark(down) if down else None,
        servers_gone=_old_servers_gone(timeline, namespace, down) if down else None,
        downgrade=downgrade,
        helm_writes=_mark(writes),
        helm_done=_mark(done) if done else None,
        servers_created=tuple(_mark(c) for c in pods if c.event == "ADDED" and _is_server(c)),
        first_ready=_mark(ready),
        requests=len(timeline.requests_between(start, ready.t)),
    )


def _scale_down(
    timeline: Timeline, changes: list[Change], namespace: str, deployment: str, since: float
) -> tuple[Change | None, float | None]:
    """The Deployment stored at 0 replicas, and when the write that did it arrived; (None, None) if never."""
    down = next(
        (
            c
            for c in changes
            if c.kind == "Deployment"
            and c.name == deployment
            and (c.obj.get("spec") or {}).get("replicas") == 0
        ),
        None,
    )
    if down is None:
        return None, None
    asked = [
        r.t
        for r in timeline.requests_between(since, down.t, namespace)
        if r.method in WRITES and f"/deployments/{deployment}" in r.path
    ]
    return down, asked[-1] if asked else down.t


def _old_servers_gone(timeline: Timeline, namespace: str, down: Change) -> Mark:
    """The deletion of the last server pod that still existed when the Deployment went to 0."""
    history = list(timeline.changes_in(namespace, "Pod"))
    old = {c.name for c in history if c.rv < down.rv and _is_server(c)} - {
        c.name for c in history if c.rv < down.rv and c.event == "DELETED"
    }
    gone = {c.name: c for c in history if c.rv > down.rv and c.event == "DELETED"}
    if not old <= gone.keys():
        raise AssertionError(f"server pods never deleted: {sorted(old - gone.keys())}")
    return max((_mark(gone[n]) for n in old), key=lambda m: m.rv, default=_mark(down))


def _helm_record(changes: list[Change], release: str, after: int) -> tuple[Change, Change | None]:
    """helm's new release record (its first write of the chart step), and when it was marked done."""
    helm = [
        c
        for c in changes
        if c.kind == "Secret" and _labels(c).get("owner") == "helm" and _labels(c).get("name") == release
    ]
    writes = next(c for c in helm if c.rv > after and c.event == "ADDED")
    done = next(
        (
            c
            for c in helm
            if c.name == writes.name
            and c.rv > writes.rv
            and _labels(c).get("status") in ("deployed", "failed")
        ),
        None,
    )
    return writes, done


def _lives(changes: list[Change]) -> tuple[PodLife, ...]:
    names = list(dict.fromkeys(c.name for c in changes if c.event == "ADDED"))
    lives = []
    for name in names:
        mine = [c for c in changes if c.name == name]
        running = next((c for c in mine if _phase(c) != "Pending"), None)
        finished = next((c for c in mine if _phase(c) in ("Succeeded", "Failed")), None)
        lives.append(
            PodLife(
                name,
                _mark(mine[0]),
                _mark(running) if running else None,
                _mark(finished) if finished else None,
                _phase(finished) if finished else _phase(mine[-1]),
            )
        )
    return tuple(lives)


def violations(w: Window) -> list[str]:
    """The ordering guarantees a rollback must keep, by resourceVersion; [] when all hold."""
    found = []
    if w.servers_gone is None:
        found.append("the server Deployment was never scaled to 0")
    if not w.downgrade:
        found.append("no downgrade pod ran")
    first = min((p.created.rv for p in w.downgrade), default=None)
    if first is not None and w.servers_gone and w.servers_gone.rv > first:
        found.append("a downgrade pod was created while a server pod of the old release still existed")
    unfinished = [p.name for p in w.downgrade if p.finished is None]
    if unfinished:
        found.append(f"downgrade pods never finished: {', '.join(unfinished)}")
    last = max((p.finished.rv for p in w.downgrade if p.finished), default=None)
    if last is not None and last > w.helm_writes.rv:
        found.append("helm started writing the chart step before every downgrade pod had finished")
    early = [m for m in w.servers_created if m.rv < w.helm_writes.rv]
    if early:
        found.append(f"{len(early)} server pod(s) created after the scale-down but before the chart step")
    return found
