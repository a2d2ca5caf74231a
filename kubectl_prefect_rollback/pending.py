"""Our own interrupted `helm upgrade`: wait while helm may still run it, then unlock the release.

A `helm upgrade` killed half way (SIGKILL, OOM, a lost node) leaves its revision `pending-upgrade`, and
helm refuses every later upgrade ("another operation is in progress"). helm has no command to unlock
it. We do what Flux's helm-controller does for a stale pending release: mark that release record failed
in helm's own storage. Three things make it safe:
- only our own upgrade to the target is touched (release.not_ours);
- never while helm may still run it: we wait until its recorded start + --helm-timeout + grace;
- the write is a `kubectl replace` carrying the record's resourceVersion, so if helm (or anyone) wrote
  the record meanwhile the repair fails instead of overwriting it.
No workload changes: the upgrade that follows does the work, exactly as after a failed upgrade.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import os
import time
from typing import Any

from kubectl_prefect_rollback import helm, interrupt, kube, leases
from kubectl_prefect_rollback.constants import POLL_HELM
from kubectl_prefect_rollback.errors import Refused
from kubectl_prefect_rollback.helm import Release
from kubectl_prefect_rollback.output import Output
from kubectl_prefect_rollback.target import Target

POLL = POLL_HELM  # a pending release settles in its own time: no wait_until (see settle)
GZIP_MAGIC = b"\x1f\x8b\x08"


class Clock:
    """settle's time: the wall clock (its deadline is a wall-clock time written in the lease) and
    pauses that end on a signal. Injectable so a test can let time jump instead of waiting it out."""

    def now(self) -> dt.datetime:
        return leases.now()

    def sleep(self, seconds: float) -> None:
        interrupt.sleep(seconds)


clock = Clock()


def record(
    after_revision: int, version: str, bound: float, at: dt.datetime | None = None, *, planned: bool = False
) -> dict[str, Any]:
    """What the lease says before helm starts: enough for a re-run to know the upgrade was ours, and
    until when helm may still be running it. `planned`: written ahead (with the lock), so `started` is
    when it was written, not when helm started."""
    start = at or leases.now()
    doc: dict[str, Any] = {
        "started": leases.micro_time(start),
        "until": leases.micro_time(start + dt.timedelta(seconds=bound)),
        "after-revision": after_revision,
        "version": version,
    }
    return {**doc, "planned": True} if planned else doc


def covers(written: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    """Does a record already on the lease speak for the upgrade `wanted` describes: the same revision
    and version, and an end no earlier? Then helm may start before `wanted` is written."""
    if not written or written.get("after-revision") != wanted["after-revision"]:
        return False
    until, need = leases.parse_time(written.get("until")), leases.parse_time(wanted["until"])
    return (
        written.get("version") == wanted["version"]
        and until is not None
        and need is not None
        and until >= need
    )


def settle(t: Target, rel: Release, chart: dict[str, Any], out: Output) -> Release:
    """Wait for our pending upgrade to end; if its time is up and it is still pending, mark it failed.
    Returns the release as it is afterwards (deployed: helm finished it; failed: redo the upgrade)."""
    until = leases.parse_time(chart.get("until")) or clock.now()
    said = False
    while True:
        current = _current(t, rel.name)
        if current is None or not current.pending:
            if said:
                out.progress(
                    f"the earlier helm upgrade ended: release {current.status if current else 'gone'}"
                )
            return current or rel
        left = (until - clock.now()).total_seconds()
        if left <= 0:
            break
        if not said:
            out.progress(
                f"release {rel.name} is {current.status} (revision {current.revision}): the helm upgrade "
                f"of the interrupted run {'planned' if chart.get('planned') else 'started'} "
                f"{str(chart.get('started', '?'))[:19]}Z may still be running; "
                f"waiting up to {left:.0f}s (until {chart.get('until', '?')[:19]}Z, its --helm-timeout "
                "+ grace), never racing it"
            )
            said = True
        clock.sleep(min(POLL, max(left, 0.1)))
    mark_failed(t, current, chart["version"])
    out.progress(
        f"release {rel.name} revision {current.revision} marked failed (helm stopped half way and its "
        "time is up): upgrading again"
    )
    return _current(t, rel.name) or current


def _current(t: Target, name: str) -> Release | None:
    return next((r for r in helm.list_releases(t) if r.name == name), None)


def _driver() -> str:
    driver = (os.environ.get("HELM_DRIVER") or "secret").lower()
    if driver in ("secret", "secrets"):
        return "secret"
    if driver in ("configmap", "configmaps"):
        return "configmap"
    raise Refused(
        f"release record in helm storage {driver!r}: only the secret and configmap drivers can be repaired",
        hint="Mark the pending revision failed yourself (`helm history`), then re-run.",
    )


def decode(obj: dict[str, Any]) -> dict[str, Any]:
    """helm's record: base64(gzip(JSON)); a Secret's data adds Kubernetes' own base64."""
    raw = str((obj.get("data") or {}).get("release") or "")
    text = base64.b64decode(raw) if obj.get("kind") == "Secret" else raw.encode()
    blob = base64.b64decode(text)
    return json.loads(gzip.decompress(blob) if blob[:3] == GZIP_MAGIC else blob)


def encode(obj: dict[str, Any], rel: dict[str, Any]) -> str:
    helm_text = base64.b64encode(gzip.compress(json.dumps(rel, separators=(",", ":")).encode(), 9))
    return base64.b64encode(helm_text).decode() if obj.get("kind") == "Secret" else helm_text.decode()


def mark_failed(t: Target, rel: Release, version: str) -> None:
    kind = _driver()
    name = f"sh.helm.release.v1.{rel.name}.v{rel.revision}"
    obj = kube.get(t, kind, name)
    if obj is None:
        raise Refused(
            f"release record {kind}/{name} not found: cannot repair {rel.status} revision {rel.revision}"
        )
    data = decode(obj)
    info = data.get("info") or {}
    got = ((data.get("chart") or {}).get("metadata") or {}).get("version")
    if (
        info.get("status") != "pending-upgrade"
        or got != version
        or int(data.get("version") or 0) != rel.revision
    ):
        raise Refused(
            f"release record {kind}/{name} is {info.get('status')} at chart {got}, not our pending "
            f"upgrade to {version}: left alone"
        )
    info["status"] = "failed"
    info["description"] = f"prefect-rollback: interrupted upgrade to {version} marked failed (helm stopped)"
    data["info"] = info
    obj["data"]["release"] = encode(obj, data)
    labels = obj["metadata"].setdefault("labels", {})
    labels["status"] = "failed"
    labels["modifiedAt"] = str(int(time.time()))  # as helm's own Update of a record does
    try:  # carries the resourceVersion we read: a concurrent writer makes this fail, not lose its write
        kube.replace(t, obj)
    except kube.Conflict:
        raise Refused(
            f"release record {kind}/{name} changed while we repaired it: someone else is at work; re-run"
        ) from None
