"""Probe pods: a short-lived pod built from a migration Job runs the listing where no server runs, and
is deleted on every path. Also the sweep that deletes pods of ours an earlier run left behind."""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from kubectl_prefect_rollback import (
    costs,
    durations,
    heads,
    interrupt,
    kube,
    manifests,
    names,
    proc,
    servers,
    versions,
    waits,
)
from kubectl_prefect_rollback.constants import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    MANAGED_BY_US,
    OURS_SELECTOR,
    POLL_PROBE,
    ROLE_LABEL,
)
from kubectl_prefect_rollback.errors import RollbackError
from kubectl_prefect_rollback.heads import Listing
from kubectl_prefect_rollback.helm import Release
from kubectl_prefect_rollback.target import Target

PROBE_ROLE = {ROLE_LABEL: "probe"}
DELETE_RETRY_PAUSE = 1.0  # before the one retry of a failed probe-pod delete (a blip in the API server)
LEFTOVER_ROLES = ("probe", "backup")  # pods of ours that copy a migration container's env
undeleted: list[str] = []  # probe pods whose delete failed twice; the next rollback deletes them
_deleting: list[threading.Thread] = []  # probe-pod deletes still running (settle() joins them)
log = logging.getLogger("kubectl_prefect_rollback.proc")  # -v shows it


def probe(
    t: Target, job: dict[str, Any], *, name: str, timeout: float | None = None, with_help: bool = False
) -> Listing:
    """Run the listing script in a short-lived pod built from a migration Job; always delete it.

    It holds a copy of the migration Job's env (secrets): it is deleted on every path, a signal
    included, from whichever thread runs it; a pod whose delete failed is named for the next run.
    An image without `sh` fails to start it: then a pod runs the listing in python3 (then python)."""
    timeout = proc.limits.probe if timeout is None else timeout
    argvs = heads.ways((), with_help)
    for i, argv in enumerate(argvs):
        text, failure, files = _probe_once(t, job, name, argv, timeout, with_help)
        if failure is None:
            return replace(heads.split(text, with_help, source="kubectl logs (the probe pod)"), files=files)
        if i + 1 < len(argvs) and heads.missing_program(failure, argv[0]):
            log.debug(f"the probe image has no {argv[0]}; trying {argvs[i + 1][0]}")
            continue
        raise RollbackError(failure)
    raise AssertionError("unreachable: the last way raises")


def current(t: Target, rel: Release, jobs: list[dict[str, Any]]) -> tuple[Listing, str]:
    """The current chains from the deployed migration Job's image, when no server pod runs."""
    name = f"{rel.name}-probe-{versions.dashed(rel.version)}"
    listing = probe(t, jobs[0], name=name, with_help=True)
    return listing, "a probe pod from the deployed migration Job (its image)"


def _probe_once(
    t: Target, job: dict[str, Any], name: str, argv: tuple[str, ...], timeout: float, with_help: bool
) -> tuple[str, str | None, str]:
    """(logs, None, what it listed: servers.files_of) when the probe succeeded, else (logs, why it
    failed, "")."""
    # A random suffix: two plans at once (one of them about to be refused by the lock) must not
    # delete each other's probe.
    name = names.fit_name(f"{name}-{secrets.token_hex(3)}")
    script = heads.script(with_help)
    pod = manifests.probe_pod(job, name=name, script=script, labels={**MANAGED_BY, **PROBE_ROLE})
    pod["spec"]["containers"][0]["command"] = list(argv)
    note = f"probe pod {name} (delete it: kubectl delete pod {name} -n {t.namespace}; the next rollback does)"
    said = contextlib.ExitStack()  # said on a second signal until the delete has ended
    said.enter_context(interrupt.leftover(lambda: note))
    try:
        kube.create(t, pod)
        with costs.waiting():
            phase, message, seen = _wait_finished(t, name, timeout)
        container = pod["spec"]["containers"][0]["name"]
        text = kube.logs_text(t, name, container)
        if phase != "Succeeded":
            why = f"{message}\n{text}".strip()[-500:] or "(no output)"
            return text, f"probe pod {name} ended {phase}: {why}", ""
        return text, None, servers.files_of(seen, container)
    finally:
        _delete_behind(t, name, said)


def _delete_behind(t: Target, name: str, said: contextlib.ExitStack) -> None:
    """The delete runs on while the plan goes on (the dry run): its kubectl, ~0.1 s, is off the plan's
    critical path. A thread of its own, not a daemon: the process never exits before the delete ended,
    and settle() joins it before the command says which probe pods are left."""

    def delete() -> None:
        with said, interrupt.cleanup():  # a write: it runs to its end after a signal too
            try:
                _delete_probe(t, name)
            except BaseException:  # noqa: BLE001 - a bug or a second signal: named, never silent
                undeleted.append(name)

    thread = threading.Thread(target=delete, name=f"delete {name}")
    _deleting.append(thread)
    thread.start()


def settle() -> list[str]:
    """Wait for the probe pods' deletes; the pods whose delete failed twice (also in `undeleted`).
    A signal meanwhile does not cut the wait short: each delete is a single bounded write."""
    with interrupt.busy():
        while _deleting:
            _deleting.pop(0).join()
    return list(undeleted)


def _delete_probe(t: Target, name: str) -> None:
    for attempt in (1, 2):
        try:
            kube.delete(t, "pod", name, wait=False)
            return
        except proc.CommandError:
            if attempt == 1:
                time.sleep(DELETE_RETRY_PAUSE)
    undeleted.append(name)


def _wait_finished(t: Target, name: str, timeout: float) -> tuple[str, str, dict[str, Any]]:
    """The final phase, the runtime's message (why a container did not start) and the pod as seen."""
    last = {"phase": "Pending"}

    def look() -> tuple[str, str, dict[str, Any]] | None:
        pod = kube.get(t, "pod", name) or {}
        status = pod.get("status") or {}
        last["phase"] = phase = status.get("phase", "Pending")
        if phase in ("Succeeded", "Failed"):
            states = [cs.get("state") or {} for cs in status.get("containerStatuses") or []]
            message = " ".join(str((s.get("terminated") or {}).get("message") or "") for s in states)
            return phase, message.strip(), pod
        for cs, reason in servers.cannot_start(pod):
            raise RollbackError(f"probe pod {name} cannot start: {reason} ({cs.get('image')})")
        return None

    return waits.wait_until(
        look,
        deadline=waits.deadline(timeout),
        poll=POLL_PROBE,
        expired=lambda: RollbackError(
            f"probe pod {name} did not finish within {durations.go(timeout)} (--probe-timeout; "
            f"phase {last['phase']})"
        ),
    )


def leftover_candidates(pods: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Pods of ours that clean_leftovers may delete (probe and backup pods), from a namespace's pods."""
    return tuple(
        pod
        for pod in pods
        if (labels := (pod.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY_US
        and labels.get(ROLE_LABEL) in LEFTOVER_ROLES
    )


def ours(t: Target, *, warn: Callable[[str], None]) -> list[dict[str, Any]] | None:
    """The pods of ours in the namespace, for clean_leftovers (the lock step lists them while it locks);
    None, said with `warn`, when they cannot be listed: they stay for the next run."""
    try:
        return kube.list_(t, "pods", OURS_SELECTOR)
    except (proc.CommandError, RollbackError) as e:
        warn(f"could not look for leftover probe pods: {str(e).splitlines()[0]}")
        return None


def clean_leftovers(
    t: Target, pods: list[dict[str, Any]] | None = None, *, at: float | None = None
) -> list[str]:
    """Delete probe pods of ours left by earlier runs (a failed delete, a SIGKILL). Called under the lock,
    with `pods` (ours()) listed at most a round trip before it was taken.

    A finished probe goes at once, whatever its age: a SIGKILLed run's probe finishes seconds later and
    the re-run comes right after. (A concurrent read-only `plan` reading its own just-finished probe at
    that instant fails with "not found"; it changed nothing and can be re-run.) A running probe that
    may still work for a concurrent `plan` (younger than --probe-timeout) stays. Backup pods (they hold
    the same env) follow the same rules, a running one bounded by its own activeDeadlineSeconds."""
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc).timestamp() if at is None else at
    gone = []
    for pod in kube.list_(t, "pods", OURS_SELECTOR) if pods is None else pods:
        meta = pod.get("metadata") or {}
        if (meta.get("labels") or {}).get(ROLE_LABEL) not in LEFTOVER_ROLES:
            continue
        if meta.get("deletionTimestamp"):  # being deleted already (this run's own probe, say)
            continue
        created = _timestamp(meta.get("creationTimestamp"))
        age = now - created if created is not None else float("inf")
        finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
        limit = deadline if isinstance(deadline, int) and deadline > 0 else proc.limits.probe
        if finished or age > limit + 60:
            kube.delete(t, "pod", meta["name"], wait=False)
            gone.append(meta["name"])
    return gone


def _timestamp(text: str | None) -> float | None:
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
