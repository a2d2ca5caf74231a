"""The lock lease as a document, read-only: its name, what it says (holder, target, run state, expiry)
and whether this run may take it over. The Keeper (lock.py) is what writes it.

Times are the Lease's MicroTime (`2026-12-01T11:05:10.123456Z`), UTC.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from kubectl_prefect_rollback import kube
from kubectl_prefect_rollback.constants import PREFIX
from kubectl_prefect_rollback.errors import ParseError, Refused
from kubectl_prefect_rollback.target import Target

DURATION = 30  # seconds; a crashed run blocks others at most this long
RENEW_EVERY = 10


def lease_name(release: str) -> str:
    return f"{release}-prefect-rollback"


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def micro_time(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class LeaseView:
    """What a Lease says, read-only."""

    obj: dict[str, Any]

    @property
    def holder(self) -> str:
        return (self.obj.get("spec") or {}).get("holderIdentity") or ""

    @property
    def target(self) -> str:
        return self.annotations.get(PREFIX + "target-version", "")

    @property
    def annotations(self) -> dict[str, str]:
        return (self.obj.get("metadata") or {}).get("annotations") or {}

    def state(self, key: str) -> Any:
        raw = self.annotations.get(PREFIX + key)
        try:
            return json.loads(raw) if raw else None
        except (json.JSONDecodeError, RecursionError):
            name = (self.obj.get("metadata") or {}).get("name", "the lock lease")
            raise ParseError(
                f"lease {name} annotation {PREFIX + key} is not what kubectl-prefect-rollback wrote",
                hint="Re-run with --force-unlock to start afresh.",
            ) from None

    def seconds_since_renewal(self, at: dt.datetime) -> float | None:
        renewed = parse_time((self.obj.get("spec") or {}).get("renewTime"))
        return None if renewed is None else (at - renewed).total_seconds()

    def live(self, at: dt.datetime) -> bool:
        """Held and renewed within its duration. A released lease (no holder) is never live."""
        age = self.seconds_since_renewal(at)
        duration = (self.obj.get("spec") or {}).get("leaseDurationSeconds") or DURATION
        return bool(self.holder) and age is not None and age < duration


def read(t: Target, release: str) -> LeaseView | None:
    obj = kube.get(t, "lease", lease_name(release))
    return LeaseView(obj) if obj else None


def expires_at(view: LeaseView) -> dt.datetime | None:
    renewed = parse_time((view.obj.get("spec") or {}).get("renewTime"))
    duration = (view.obj.get("spec") or {}).get("leaseDurationSeconds") or DURATION
    return None if renewed is None else renewed + dt.timedelta(seconds=int(duration))


def check_takeover(view: LeaseView, target_version: str, *, force_unlock: bool, at: dt.datetime) -> None:
    """Refuse unless this run may take over the existing lease.

    --force-unlock also takes a live lease whose holder stopped renewing (a SIGKILLed run): the operator
    need not wait out its 30 s. One renewed within the last renewal period has a live holder: refused."""
    name = view.obj["metadata"]["name"]
    age = view.seconds_since_renewal(at) or 0
    stale = age > RENEW_EVERY * 1.5
    if view.live(at) and not (force_unlock and stale):
        expiry = expires_at(view)
        left = max(0.0, (expiry - at).total_seconds()) if expiry else 0.0
        when = f"it expires at {micro_time(expiry)[:19]}Z (in {left:.0f}s)" if expiry else "it expires soon"
        if stale:
            hint = (
                f"Its holder has not renewed it for {age:.0f}s (it renews every {RENEW_EVERY}s): it may "
                f"have died. {when[0].upper() + when[1:]}; a re-run then takes it over. "
                "--force-unlock takes it now."
            )
        else:
            hint = (
                f"Two rollbacks never run at once: wait for it to finish. If its holder stopped, {when}; "
                f"--force-unlock takes it once it has gone {RENEW_EVERY * 1.5:.0f}s without renewal."
            )
        raise Refused(
            f"another rollback holds lease {name}: {view.holder} "
            f"(to {view.target or '?'}, renewed {age:.0f}s ago)",
            hint=hint,
        )
    if view.target and view.target != target_version and not force_unlock:
        raise Refused(
            f"an unfinished rollback to {view.target} left lease {name} "
            f"(last holder {view.holder or 'released'})",
            hint=f"Re-run with --to {view.target} to finish it, or --force-unlock to abandon it.",
        )
