"""Thin, typed wrappers over the kubectl CLI. Every argv is built from one Target; JSON is parsed here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kubectl_prefect_rollback import proc
from kubectl_prefect_rollback.errors import ParseError
from kubectl_prefect_rollback.target import Target


class Conflict(RuntimeError):
    """An optimistic write lost: the object exists already, or changed since we read it."""


def _json(out: str, what: str) -> Any:
    try:
        return json.loads(out)
    except json.JSONDecodeError as e:
        raise ParseError(f"kubectl {what} printed something that is not JSON: {e}") from None


def _kubectl(t: Target, verb: str, *args: str, stdin: str | None = None) -> str:
    return proc.run(t.kubectl, verb, *t.kubectl_flags(), *args, stdin=stdin)


def get(t: Target, kind: str, name: str) -> dict[str, Any] | None:
    out = _kubectl(t, "get", kind, name, "--ignore-not-found", "--output", "json")
    return _json(out, f"get {kind}") if out.strip() else None


def list_(t: Target, kind: str, selector: str | None = None) -> list[dict[str, Any]]:
    args = ["--selector", selector] if selector else []
    out = _kubectl(t, "get", kind, *args, "--output", "json")
    return list(_json(out, f"get {kind}").get("items") or [])


def exec_(t: Target, pod: str, container: str, argv: Sequence[str]) -> str:
    # No -i, no -t: nothing may wait for stdin (see domain notes, pitfall 4). Always -c: Istio sidecars.
    return _kubectl(t, "exec", pod, "--container", container, "--", *argv)


def _write(t: Target, verb: str, doc: dict[str, Any]) -> dict[str, Any]:
    try:
        out = _kubectl(t, verb, "--filename", "-", "--output", "json", stdin=json.dumps(doc))
    except proc.CommandError as e:
        if (
            "AlreadyExists" in e.stderr
            or "the object has been modified" in e.stderr
            or "Conflict" in e.stderr
        ):
            raise Conflict(e.stderr.strip()) from None
        raise
    return _json(out, verb)


def apply(t: Target, doc: dict[str, Any]) -> dict[str, Any]:
    return _write(t, "apply", doc)


def create(t: Target, doc: dict[str, Any]) -> dict[str, Any]:
    return _write(t, "create", doc)


def replace(t: Target, doc: dict[str, Any]) -> dict[str, Any]:
    """Update guarded by the document's resourceVersion: a concurrent writer makes this fail."""
    return _write(t, "replace", doc)


def delete(t: Target, kind: str, name: str, *, wait: bool = True) -> None:
    _kubectl(t, "delete", kind, name, "--ignore-not-found", f"--wait={'true' if wait else 'false'}")


def scale(t: Target, kind: str, name: str, replicas: int) -> None:
    _kubectl(t, "scale", f"{kind}/{name}", f"--replicas={replicas}")


def logs(t: Target, pod: str, container: str, *, follow: bool) -> proc.Stream:
    args = ["--follow"] if follow else []
    return proc.Stream((t.kubectl, "logs", *t.kubectl_flags(), pod, "--container", container, *args))


def logs_text(t: Target, pod: str, container: str) -> str:
    return _kubectl(t, "logs", pod, "--container", container)
