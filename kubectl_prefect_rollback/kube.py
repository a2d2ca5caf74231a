"""Thin, typed wrappers over the kubectl CLI. Every argv is built from one Target; JSON is parsed here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kubectl_prefect_rollback import durations, names, proc
from kubectl_prefect_rollback.errors import ParseError, RollbackError
from kubectl_prefect_rollback.target import Target


class Conflict(RollbackError):
    """An optimistic write lost: the object exists already, or changed since we read it.

    Callers that expect the race catch it; anywhere else it ends as exit 1 with this message."""

    def __init__(self, message: str) -> None:
        super().__init__(
            f"another writer changed the object at the same time: {message}",
            hint="Nothing was overwritten. Re-run the same command; finished steps are skipped.",
        )


def _json(out: str, what: str) -> Any:
    try:
        return json.loads(out)
    except (json.JSONDecodeError, RecursionError) as e:
        raise ParseError(f"kubectl {what} printed something that is not JSON: {e}") from None


def _object(obj: Any, what: str) -> dict[str, Any]:
    """An object as the API serves it: a mapping with mapping metadata (a valid name), spec and status.

    Anything else is a ParseError naming the command, before a caller's `obj["spec"].get` fails."""
    if not isinstance(obj, dict):
        raise ParseError(f"kubectl {what} printed a {type(obj).__name__}, not an object")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise ParseError(f"kubectl {what} printed an object whose metadata is not a mapping")
    names.from_cluster(meta.get("name"), "an object named", f"kubectl {what}")
    for key in ("spec", "status", "data"):
        if obj.get(key) is not None and not isinstance(obj[key], dict):
            raise ParseError(f"kubectl {what}: {meta['name']} has a {key} that is not a mapping")
    for key in ("labels", "annotations"):
        value = meta.get(key)
        if value is not None and not (
            isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        ):
            raise ParseError(f"kubectl {what}: {meta['name']} has {key} that are not strings")
    return obj


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
    return _object(_json(out, f"get {kind} {name}"), f"get {kind} {name}") if out.strip() else None


def by_kind(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The items of one kind ("Pod") from a list of several (`kubectl get pods,deployments`)."""
    return [item for item in items if item.get("kind") == kind]


def list_(t: Target, kind: str, selector: str | None = None) -> list[dict[str, Any]]:
    args = ["--selector", selector] if selector else []
    out = _kubectl(t, "get", kind, *args, "--output", "json")
    doc = _json(out, f"get {kind}")
    items = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ParseError(f"kubectl get {kind} printed no list of items")
    return [_object(item, f"get {kind}") for item in items]


def exec_(t: Target, pod: str, container: str, argv: Sequence[str], *, timeout: float, bound: str) -> str:
    # No -i, no -t: nothing may wait for stdin (see domain notes, pitfall 4). Always -c: Istio sidecars.
    # A script runs as long as it runs: the step's timeout bounds it, not one request's.
    return _kubectl(t, "exec", pod, "--container", container, "--", *argv, timeout=timeout, bound=bound)


# Strict field validation makes kubectl fetch the API server's OpenAPI documents before each write:
# two more round trips. The lock lease and the records ConfigMap are built field by field in this
# code (tests read every field back), and a downgrade Job the plan's dry run passed was validated
# already, so those writes skip it. Anything else is validated as kubectl does by default.
_BUILT_HERE = frozenset({"Lease", "ConfigMap"})


def _write(t: Target, verb: str, doc: dict[str, Any], *dry: str, validated: bool = False) -> dict[str, Any]:
    checked = ("--validate=false",) if validated or (not dry and doc.get("kind") in _BUILT_HERE) else ()
    try:
        mode = proc.READ if dry else proc.WRITE  # a dry run changes nothing: a signal may stop it
        out = _kubectl(
            t, verb, *dry, *checked, "--filename", "-", "--output", "json", stdin=json.dumps(doc), mode=mode
        )
    except proc.CommandError as e:
        if (
            "AlreadyExists" in e.stderr
            or "the object has been modified" in e.stderr
            or "Conflict" in e.stderr
        ):
            raise Conflict(e.stderr.strip()) from None
        raise
    return _object(_json(out, verb), verb)


def apply(t: Target, doc: dict[str, Any]) -> dict[str, Any]:
    return _write(t, "apply", doc)


def create_dry_run(t: Target, doc: dict[str, Any]) -> dict[str, Any]:
    """What the API server (admission and validation included) says to creating `doc`; nothing is
    stored. A create, not an apply: an apply first reads the object and its namespace, two more
    round trips. An object of that name raises Conflict."""
    return _write(t, "create", doc, "--dry-run=server")


def create(t: Target, doc: dict[str, Any], *, validated: bool = False) -> dict[str, Any]:
    """Fails (Conflict) when the object exists: nothing is merged into what someone else made."""
    return _write(t, "create", doc, validated=validated)


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
