"""Migration heads: read from a running server pod, a probe pod, or the records ConfigMap."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from kubectl_prefect_rollback import durations, interrupt, kube, manifests, migrations, proc
from kubectl_prefect_rollback.errors import ParseError, RollbackError
from kubectl_prefect_rollback.migrations import Chain
from kubectl_prefect_rollback.target import Target

MANAGED_BY_US = "kubectl-prefect-rollback"
MANAGED_BY = {"app.kubernetes.io/managed-by": MANAGED_BY_US}


@dataclass(frozen=True)
class ServerPod:
    name: str
    container: str
    image: str


def image_path(image: str) -> str:
    """Repository path of an image reference, without tag or digest."""
    path = image.split("@", 1)[0]
    last = path.rsplit("/", 1)
    if ":" in last[-1]:
        path = path.rsplit(":", 1)[0]
    return path


def server_container(pod: dict[str, Any]) -> tuple[str, str] | None:
    for c in (pod.get("spec") or {}).get("containers") or []:
        if image_path(c.get("image", "")).endswith("/server"):
            return c["name"], c["image"]
    return None


def _running(pod: dict[str, Any]) -> bool:
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    return status.get("phase") == "Running" and not meta.get("deletionTimestamp")


def _ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def find_server_pod(
    pods: list[dict[str, Any]], release: str, *, pod: str | None = None, container: str | None = None
) -> ServerPod | None:
    """A Running pod of the release whose container image path ends in /server (labels only break ties)."""
    if pod:
        pods = [p for p in pods if p["metadata"]["name"] == pod]
        if not pods:
            raise RollbackError(f"pod {pod} not found")
    running = [p for p in pods if _running(p)]
    if (
        container
        and running
        and not any(
            container == c.get("name") for p in running for c in (p.get("spec") or {}).get("containers") or []
        )
    ):  # a typo must not quietly fall back to "no server pod runs"
        raise RollbackError(f"--container {container}: no running pod here has a container of that name")
    candidates = []
    for p in pods:
        labels = p["metadata"].get("labels") or {}
        if "job-name" in labels or labels.get("app.kubernetes.io/managed-by") == MANAGED_BY_US:
            continue  # migration or probe pods are not servers
        found = server_container(p)
        if container:
            images = {c["name"]: c["image"] for c in p["spec"].get("containers") or []}
            found = (container, images[container]) if container in images else None
        if found and _running(p):
            mine = labels.get("app.kubernetes.io/instance") == release
            candidates.append((not mine, not _ready(p), p["metadata"]["name"], found))
    if not candidates:
        if pod:
            raise RollbackError(
                f"pod {pod} is not a running server pod (no Running container with a …/server image)"
            )
        return None
    _, _, name, (cname, image) = min(candidates)
    return ServerPod(name, cname, image)


# Does the image's CLI ask "Are you sure?" unless given -y? A Job has no stdin: the prompt aborts it.
HELP_MARK = "#downgrade-help"
HELP_SCRIPT = f"echo '{HELP_MARK}'; prefect-cloud nebula database downgrade --help 2>&1 | head -n 60; exit 0"
_YES = re.compile(r"(^|[\s,\[(])(-y|--yes)\b", re.MULTILINE)


@dataclass(frozen=True)
class Listing:
    chains: dict[str, Chain | None]
    yes_flag: bool | None = None  # None: not asked


def _split(text: str, with_help: bool, source: str) -> Listing:
    listing, _, help_text = text.partition(HELP_MARK + "\n")
    try:
        chains = migrations.parse_listing(listing)
    except ParseError as e:
        raise ParseError(f"{source} printed no usable migration listing: {e.message}") from None
    return Listing(chains, _yes_flag(help_text, source) if with_help else None)


def _yes_flag(help_text: str, source: str) -> bool:
    """Guessing "no -y" from an empty or garbled answer would make every downgrade Job abort at its
    "Are you sure?" prompt, after the servers went down: refuse instead."""
    if not re.search(r"(?i)usage|--revision", help_text):
        raise ParseError(
            f"{source} printed no usage text for `prefect-cloud nebula database downgrade --help`: "
            "cannot tell whether the image's CLI needs -y"
        )
    return bool(_YES.search(help_text))


def _script(with_help: bool) -> str:
    script = migrations.listing_script()
    return f"{script}\n{HELP_SCRIPT}\n" if with_help else script


def read_chains(t: Target, server: ServerPod, *, timeout: float | None = None, bound: str = "") -> Listing:
    """One exec lists all three chains (script on argv, no stdin, explicit container)."""
    timeout, bound = _exec_bound(timeout, bound)
    script = ("sh", "-c", migrations.listing_script())
    out = kube.exec_(t, server.name, server.container, script, timeout=timeout, bound=bound)
    return _split(out, with_help=False, source=f"kubectl exec {server.name} --container {server.container}")


def _exec_bound(timeout: float | None, bound: str) -> tuple[float, str]:
    if timeout is not None:
        return timeout, bound
    return proc.limits.probe, f"--probe-timeout {durations.go(proc.limits.probe)}"


def takes_yes(t: Target, server: ServerPod) -> bool:
    """Ask the image's CLI for its downgrade options (a separate exec: it starts Python, the listing
    does not, so the two run side by side)."""
    with proc.waiting():  # mostly the image's CLI starting up in the pod
        timeout, bound = _exec_bound(None, "")
        out = kube.exec_(
            t, server.name, server.container, ("sh", "-c", HELP_SCRIPT), timeout=timeout, bound=bound
        )
    return _yes_flag(
        out.partition(HELP_MARK + "\n")[2], f"kubectl exec {server.name} --container {server.container}"
    )


PROBE_ROLE = {"prefect-rollback/role": "probe"}
PROBE_SELECTOR = ",".join(f"{k}={v}" for k, v in {**MANAGED_BY, **PROBE_ROLE}.items())
undeleted: list[str] = []  # probe pods whose delete failed twice; the next rollback deletes them


def probe(
    t: Target, job: dict[str, Any], *, name: str, timeout: float | None = None, with_help: bool = False
) -> Listing:
    """Run the listing script in a short-lived pod built from a migration Job; always delete it.

    It holds a copy of the migration Job's env (secrets): it is deleted on every path, a signal
    included, from whichever thread runs it; a pod whose delete failed is named for the next run."""
    timeout = proc.limits.probe if timeout is None else timeout
    # A random suffix: two plans at once (one of them about to be refused by the lock) must not
    # delete each other's probe.
    name = manifests.fit_name(f"{name}-{secrets.token_hex(3)}")
    pod = manifests.probe_pod(job, name=name, script=_script(with_help), labels={**MANAGED_BY, **PROBE_ROLE})
    note = f"probe pod {name} (delete it: kubectl delete pod {name} -n {t.namespace}; the next rollback does)"
    with interrupt.leftover(lambda: note):
        try:
            kube.create(t, pod)
            with proc.waiting():
                phase = _wait_finished(t, name, timeout)
            text = kube.logs_text(t, name, pod["spec"]["containers"][0]["name"])
            if phase != "Succeeded":
                raise RollbackError(f"probe pod {name} ended {phase}: {text.strip()[-500:] or '(no output)'}")
            return _split(text, with_help, source=f"kubectl logs {name} (the probe pod)")
        finally:
            with interrupt.cleanup():
                _delete_probe(t, name)


def _delete_probe(t: Target, name: str) -> None:
    for attempt in (1, 2):
        try:
            kube.delete(t, "pod", name, wait=False)
            return
        except proc.CommandError:
            if attempt == 1:
                time.sleep(1)
    undeleted.append(name)


def clean_leftover_probes(t: Target, *, at: float | None = None) -> list[str]:
    """Delete probe pods of ours left by earlier runs (a failed delete, a SIGKILL). Called under the lock.

    A finished probe goes at once, whatever its age: a SIGKILLed run's probe finishes seconds later and
    the re-run comes right after. (A concurrent read-only `plan` reading its own just-finished probe at
    that instant fails with "not found"; it changed nothing and can be re-run.) A running probe that
    may still work for a concurrent `plan` (younger than --probe-timeout) stays."""
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc).timestamp() if at is None else at
    gone = []
    for pod in kube.list_(t, "pods", PROBE_SELECTOR):
        meta = pod.get("metadata") or {}
        created = _timestamp(meta.get("creationTimestamp"))
        age = now - created if created is not None else float("inf")
        finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        if finished or age > proc.limits.probe + 60:
            kube.delete(t, "pod", meta["name"], wait=False)
            gone.append(meta["name"])
    return gone


def _timestamp(text: str | None) -> float | None:
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _wait_finished(t: Target, name: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        pod = kube.get(t, "pod", name) or {}
        status = pod.get("status") or {}
        phase = status.get("phase", "Pending")
        if phase in ("Succeeded", "Failed"):
            return phase
        for cs in status.get("containerStatuses") or []:
            reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason", "")
            if reason in (
                "ErrImagePull",
                "ImagePullBackOff",
                "InvalidImageName",
                "CreateContainerConfigError",
            ):
                raise RollbackError(f"probe pod {name} cannot start: {reason} ({cs.get('image')})")
        if time.monotonic() > deadline:
            raise RollbackError(
                f"probe pod {name} did not finish within {durations.go(timeout)} (--probe-timeout; "
                f"phase {phase})"
            )
        interrupt.sleep(0.25)


def heads_of(chains: dict[str, Chain | None]) -> dict[str, str | None]:
    return {db: (c.head if c else None) for db, c in ((db, chains.get(db)) for db in migrations.DATABASES)}
