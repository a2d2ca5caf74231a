"""Thin, typed wrappers over the kubectl CLI. Every argv is built from one Target; JSON is parsed here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kubectl_prefect_rollback import durations, proc
from kubectl_prefect_rollback.errors import ParseError
from kubectl_prefect_rollback.target import Target


class Conflict(RuntimeError):
    """An optimistic write lost: the object exists already, or changed since we read it."""


def _json(out: str, what: str) -> Any:
    try:
        return json.loads(out)
    except json.JSONDecodeError as e:
        raise ParseError(f"kubectl {what} printed something that is not JSON: {e}") from None


def _kubectl(
    t: Target,
    verb: str,
    *args: str,
    stdin: str | None = None,
    mode: str = proc.READ,
    timeout: float | None = None,
    bound: str = "",
) -> str:
    """One kubectl call. kubectl's own --request-timeout bounds each request (not an exec's stream);
    proc stops the child after `timeout` (a step's) or a little after --request-timeout."""
    limit = () if verb == "exec" else ("--request-timeout", durations.go(proc.limits.request))
    argv = (t.kubectl, verb, *t.kubectl_flags(), *limit, *args)
    return proc.run(*argv, stdin=stdin, mode=mode, timeout=timeout, bound=bound)


def get(t: Target, kind: str, name: str) -> dict[str, Any] | None:
    out = _kubectl(t, "get", kind, name, "--ignore-not-found", "--output", "json")
    return _json(out, f"get {kind}") if out.strip() else None


def list_(t: Target, kind: str, selector: str | None = None) -> list[dict[str, Any]]:
    args = ["--selector", selector] if selector else []
    out = _kubectl(t, "get", kind, *args, "--output", "json")
    return list(_json(out, f"get {kind}").get("items") or [])


def exec_(t: Target, pod: str, container: str, argv: Sequence[str], *, timeout: float, bound: str) -> str:
    # No -i, no -t: nothing may wait for stdin (see domain notes, pitfall 4). Always -c: Istio sidecars.
    # A script runs as long as it runs: the step's timeout bounds it, not one request's.
    return _kubectl(t, "exec", pod, "--container", container, "--", *argv, timeout=timeout, bound=bound)


def _write(t: Target, verb: str, doc: dict[str, Any]) -> dict[str, Any]:
    try:
        out = _kubectl(t, verb, "--filename", "-", "--output", "json", stdin=json.dumps(doc), mode=proc.WRITE)
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
    args = [kind, name, "--ignore-not-found", f"--wait={'true' if wait else 'false'}"]
    if wait:  # waits for the object to be gone: bounded by kubectl's --timeout, then by us
        limit = proc.limits.request
        args.append(f"--timeout={durations.go(limit)}")
        bound = "--request-timeout, twice: the delete and the wait"
        _kubectl(t, "delete", *args, mode=proc.WRITE, timeout=2 * limit + proc.GRACE, bound=bound)
    else:
        _kubectl(t, "delete", *args, mode=proc.WRITE)


def scale(t: Target, kind: str, name: str, replicas: int) -> None:
    _kubectl(t, "scale", f"{kind}/{name}", f"--replicas={replicas}", mode=proc.WRITE)


def logs(t: Target, pod: str, container: str, *, follow: bool) -> proc.Stream:
    args = ["--follow"] if follow else []
    return proc.Stream((t.kubectl, "logs", *t.kubectl_flags(), pod, "--container", container, *args))


def logs_text(t: Target, pod: str, container: str) -> str:
    return _kubectl(t, "logs", pod, "--container", container)
