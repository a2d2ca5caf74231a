"""Helpers shared by the controllers: generated names, owner references, conditions, readiness."""

from __future__ import annotations

import random

from .store import now

SAFE = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for generated name suffixes
TERMINAL = ("Succeeded", "Failed")


def suffix(n: int = 5) -> str:
    return "".join(random.choice(SAFE) for _ in range(n))


def owner_ref(obj: dict) -> dict:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def condition(kind: str, reason: str, message: str, status: str = "True") -> dict:
    return {
        "type": kind,
        "status": status,
        "lastProbeTime": now(),
        "lastTransitionTime": now(),
        "reason": reason,
        "message": message,
    }


def pod_ready(pod: dict) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or []
    )
