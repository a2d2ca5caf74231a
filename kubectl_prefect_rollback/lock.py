"""The rollback lock: a coordination.k8s.io/v1 Lease, renewed while the run lives.

The Lease also carries what a resumed run must not re-derive (versions, heads, saved replicas),
because by then the servers may be scaled down or already run the older image. What a Lease says
(and whether a run may take it over) is leases.py; this is the Keeper that takes, renews and frees it.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from kubectl_prefect_rollback import kube
from kubectl_prefect_rollback.constants import INSTANCE_LABEL, MANAGED_BY, PREFIX
from kubectl_prefect_rollback.errors import ParseError, Refused
from kubectl_prefect_rollback.leases import (
    DURATION,
    RENEW_EVERY,
    LeaseView,
    check_takeover,
    expires_at,
    lease_name,
    micro_time,
    now,
    read,
)
from kubectl_prefect_rollback.target import Target


def identity() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}/{uuid.uuid4().hex[:8]}"


class Keeper:
    """Holds the lease for this run: takes it, renews it in the background, stores run state on it."""

    def __init__(self, t: Target, release: str, target_version: str) -> None:
        self.t, self.release, self.target_version = t, release, target_version
        self.identity = identity()
        self._obj: dict[str, Any] | None = None
        self._staged: dict[str, Any] = {}  # state for the lease's next write (stage)
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost: str | None = None
        self.taken = False  # this run created or took over the lease: the cluster has changed
        # state each renewal writes afresh (a record whose deadline moves on with the run), until
        # stop_refreshing; {} writes nothing
        self.refresh: Callable[[], dict[str, Any]] | None = None

    # -- taking it --------------------------------------------------------------------------
    def acquire(
        self, existing: LeaseView | None, *, force_unlock: bool, state: dict[str, Any], resume: bool = True
    ) -> bool:
        """Create or take over the lease; returns True when an earlier run's lease was taken over.

        Taking over to resume keeps the earlier run's state (its saved replicas are the real ones);
        a fresh start (another target, or stale facts abandoned with --force-unlock) drops it."""
        at = now()
        if existing is None:
            body = self._body(at, state)
            try:
                self._obj = self._write(kube.create, body)
                self.taken = True
                return False
            except kube.Conflict:
                existing = read(self.t, self.release)  # somebody created it between our read and create
                if existing is None:
                    raise Refused("the lock lease appeared and vanished while we took it; re-run") from None
        check_takeover(existing, self.target_version, force_unlock=force_unlock, at=at)
        obj = json.loads(json.dumps(existing.obj))
        keep = {k: v for k, v in existing.annotations.items()}
        if existing.target != self.target_version or not resume:
            keep = {k: v for k, v in keep.items() if not k.startswith(PREFIX)}
        obj["metadata"]["annotations"] = keep
        self._fill(obj, at, state, only_missing=True)
        obj["spec"]["acquireTime"] = micro_time(at)
        obj["spec"]["leaseTransitions"] = int(obj["spec"].get("leaseTransitions") or 0) + 1
        try:  # the resourceVersion we read makes this fail if another resumer won first
            self._obj = self._write(kube.replace, obj)
            self.taken = True
        except kube.Conflict:
            raise Refused(
                "another run took over the lock at the same moment; it proceeds, this one stops"
            ) from None
        return True

    def _write(self, write: Any, obj: dict[str, Any]) -> dict[str, Any]:
        """A write whose answer we could not read may still have happened: then the lease itself says
        so (our holder and exactly the renewTime we wrote), and this run goes on holding it."""
        try:
            return write(self.t, obj)
        except ParseError:
            current = kube.get(self.t, "lease", lease_name(self.release))
            spec = (current or {}).get("spec") or {}
            if (
                spec.get("holderIdentity") != self.identity
                or spec.get("renewTime") != obj["spec"]["renewTime"]
            ):
                raise
            return current

    def _body(self, at: dt.datetime, state: dict[str, Any]) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": lease_name(self.release),
                "labels": {**MANAGED_BY, INSTANCE_LABEL: self.release},
                "annotations": {},
            },
            "spec": {"acquireTime": micro_time(at), "leaseTransitions": 0},
        }
        self._fill(obj, at, state, only_missing=False)
        return obj

    def _fill(
        self, obj: dict[str, Any], at: dt.datetime, state: dict[str, Any], *, only_missing: bool
    ) -> None:
        ann = obj["metadata"].setdefault("annotations", {})
        ann[PREFIX + "target-version"] = self.target_version
        for key, value in state.items():
            if not (only_missing and PREFIX + key in ann):
                ann[PREFIX + key] = json.dumps(value)
        obj["spec"].update(
            holderIdentity=self.identity, leaseDurationSeconds=DURATION, renewTime=micro_time(at)
        )

    # -- while running ----------------------------------------------------------------------
    def start_renewing(self) -> None:
        self._thread = threading.Thread(target=self._renew_loop, name="lease-renewal", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        renewed = time.monotonic()
        while not self._stop.wait(RENEW_EVERY):
            try:
                self._update(lambda obj: None, renewal=True)
                renewed = time.monotonic()
            except KeyboardInterrupt:  # a signal: the main thread releases the lease
                return
            except kube.Conflict as e:  # somebody else wrote the lease: it is not ours any more
                self.lost = str(e)
                return
            except Exception as e:  # noqa: BLE001 - a blip is fine until the lease could have expired
                if time.monotonic() - renewed >= DURATION:
                    self.lost = f"not renewed for {DURATION}s: {e}"
                    return

    def _update(self, change: Any, *, renewal: bool = False) -> None:
        with self._mutex:
            assert self._obj is not None
            obj = json.loads(json.dumps(self._obj))
            ann = obj["metadata"].setdefault("annotations", {})
            fresh = self.refresh() if renewal and self.refresh else {}
            ann.update({PREFIX + k: json.dumps(v) for k, v in {**fresh, **self._staged}.items()})
            change(obj)
            obj["spec"]["renewTime"] = micro_time(now())
            self._obj = self._write(kube.replace, obj)
            self._staged.clear()

    def state(self, key: str) -> Any:
        if key in self._staged:
            return self._staged[key]
        return LeaseView(self._obj or {}).state(key)

    def stage(self, key: str, value: Any) -> None:
        """Run state that goes to the lease with its next write (a save, a renewal, the release), not
        in a write of its own: for a fact a re-run would find out from the cluster anyway."""
        with self._mutex:
            self._staged[key] = value

    def stop_refreshing(self) -> None:
        """No renewal writes `refresh`'s state any more (one in flight has written it before this returns)."""
        with self._mutex:
            self.refresh = None

    def save(self, key: str, value: Any) -> None:
        self._update(
            lambda obj: (
                obj["metadata"].setdefault("annotations", {}).__setitem__(PREFIX + key, json.dumps(value))
            )
        )

    def check(self) -> None:
        if self.lost:
            raise Refused(f"lost the lock lease while running ({self.lost}); stopping before the next step")

    # -- letting go -------------------------------------------------------------------------
    def _stop_renewing(self) -> None:
        self._stop.set()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout=RENEW_EVERY)

    def release_for_resume(self) -> str:
        """Failure or a signal: keep the lease (the rollback is unfinished) but let a re-run take it at
        once. Returns what the lock looks like now, for the operator."""
        self._stop_renewing()
        name = lease_name(self.release)
        if self._obj is None:
            return "not taken"
        if self.lost:
            return f"lease {name} was lost while running ({self.lost})"
        try:
            self._free()
        except Exception as e:  # noqa: BLE001 - an unrenewed lease expires by itself
            expiry = expires_at(LeaseView(self._obj))
            when = f"at {micro_time(expiry)[:19]}Z" if expiry else f"within {DURATION}s"
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            return (
                f"lease {name} still names this run ({first}); it expires {when}, "
                "or re-run with --force-unlock"
            )
        return f"lease {name} released: a re-run takes it over at once and resumes"

    def _free(self) -> None:
        def free(obj: dict[str, Any]) -> None:
            obj["spec"]["holderIdentity"] = ""

        try:
            self._update(free)
        except Exception:
            # A write whose answer we could not read (or a renewal racing us) may have changed the lease
            # under our copy: free the lease as it is now, if it still names this run.
            current = kube.get(self.t, "lease", lease_name(self.release))
            if current is None or LeaseView(current).holder != self.identity:
                raise
            with self._mutex:
                self._obj = current
            self._update(free)

    def delete(self) -> None:
        self._stop_renewing()
        # a Lease has no finalizers of ours: gone when the delete returns, no wait (one round trip)
        kube.delete(self.t, "lease", lease_name(self.release), wait=False)
        self._obj = None
