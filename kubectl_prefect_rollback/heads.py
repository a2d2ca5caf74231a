"""Migration heads: read from a running server pod, a probe pod, or the records ConfigMap."""

from __future__ import annotations

import logging
import posixpath
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kubectl_prefect_rollback import durations, interrupt, kube, listing, manifests, migrations, proc
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
    command: tuple[str, ...] = ()  # the container's command (a Python there runs a shell-less listing)


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
    spec = next(p for p in pods if p["metadata"]["name"] == name)["spec"]
    command = next((c.get("command") or [] for c in spec.get("containers") or [] if c["name"] == cname), [])
    return ServerPod(name, cname, image, tuple(command))


# Does the image's CLI ask "Are you sure?" unless given -y? A Job has no stdin: the prompt aborts it.
HELP_MARK = "#downgrade-help"
HELP_ARGV = ("prefect-cloud", "nebula", "database", "downgrade", "--help")
HELP_SCRIPT = f"echo '{HELP_MARK}'; {' '.join(HELP_ARGV)} 2>&1 | head -n 60; exit 0"
# the same without a shell: source text for `python -c` IN THE POD (the app's Python runs the CLI there;
# the plugin itself never imports subprocess outside proc.py); never fails, like the script
HELP_PY = f"""
import subprocess, sys
sys.stdout.write("{HELP_MARK}\\n")
sys.stdout.flush()
try:
    out = subprocess.run({list(HELP_ARGV)!r}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout
except OSError as e:
    out = str(e).encode()
sys.stdout.buffer.write(b"\\n".join(out.split(b"\\n")[:60]) + b"\\n")
"""
log = logging.getLogger("kubectl_prefect_rollback.proc")  # -v shows it
_YES = re.compile(r"(^|[\s,\[(])(-y|--yes)\b", re.MULTILINE)


@dataclass(frozen=True)
class Listing:
    chains: dict[str, Chain | None]
    yes_flag: bool | None = None  # None: not asked
    via: str = ""  # which way listed (sh+awk, sh+python …, python …)


def _split(text: str, with_help: bool, source: str) -> Listing:
    listed, _, help_text = text.partition(HELP_MARK + "\n")
    try:
        chains = migrations.parse_listing(listed)
    except ParseError as e:
        raise ParseError(f"{source} printed no usable migration listing: {e.message}") from None
    via = next(
        (ln[len(listing.VIA) :].strip() for ln in listed.split("\n")[:3] if ln.startswith(listing.VIA)), ""
    )
    log.debug(f"migration listing by {source}: via {via or '(unnamed)'}")
    return Listing(chains, _yes_flag(help_text, source) if with_help else None, via)


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


def pythons(command: Sequence[str]) -> list[str]:
    """Interpreters to try where there is no shell: the container's own command when it is a Python
    (`python3 -m app`, a distroless entrypoint), then python3 and python on the image's PATH."""
    first = [command[0]] if command and re.fullmatch(r"python[0-9.]*", posixpath.basename(command[0])) else []
    return list(dict.fromkeys([*first, "python3", "python"]))


def ways(command: Sequence[str], with_help: bool = False) -> list[tuple[str, ...]]:
    """argv of each way to list, in order: `sh -c` (awk, or the app's Python without awk), then a
    Python without any shell. One process each; the next is tried only if the program is missing."""
    code = f"{listing.PY_ARG}\n{HELP_PY}" if with_help else listing.PY_ARG
    return [("sh", "-c", _script(with_help))] + [
        (py, "-c", code, *listing.python_argv(py)[3:]) for py in pythons(command)
    ]


def missing_program(text: str, program: str) -> bool:
    """The runtime could not start `program`: containerd/runc (`exec: "sh": executable file not found
    in $PATH`), CRI-O, or bwrap (`execvp sh: No such file or directory`)."""
    word = re.escape(program)
    return bool(
        re.search(
            rf"(?i)(^|[\s\"'/:]){word}[\"']?:?\s*(executable file not found|no such file or directory)", text
        )
    )


_known: dict[tuple[str, str], int] = {}  # (pod, container) -> the way that worked there


def _first_that_starts(
    key: tuple[str, str], argvs: list[tuple[str, ...]], run: Callable[[tuple], str]
) -> str:
    start = _known.get(key, 0)
    for i, argv in enumerate(argvs[start:], start):
        try:
            out = run(argv)
        except proc.CommandError as e:
            if i + 1 < len(argvs) and missing_program(e.stderr, argv[0]):
                log.debug(f"{argv[0]} is not in container {key[1]} of pod {key[0]}; trying {argvs[i + 1][0]}")
                continue
            raise
        _known[key] = i
        return out
    raise AssertionError("unreachable: the last way raises")


def read_chains(t: Target, server: ServerPod, *, timeout: float | None = None, bound: str = "") -> Listing:
    """One exec lists all three chains (script on argv, no stdin, explicit container); in an image
    without a shell, a second exec runs the listing in the app's Python."""
    timeout, bound = _exec_bound(timeout, bound)
    out = _first_that_starts(
        (server.name, server.container),
        ways(server.command),
        lambda argv: kube.exec_(t, server.name, server.container, argv, timeout=timeout, bound=bound),
    )
    return _split(out, with_help=False, source=f"kubectl exec {server.name} --container {server.container}")


def _exec_bound(timeout: float | None, bound: str) -> tuple[float, str]:
    if timeout is not None:
        return timeout, bound
    return proc.limits.probe, f"--probe-timeout {durations.go(proc.limits.probe)}"


def takes_yes(t: Target, server: ServerPod) -> bool:
    """Ask the image's CLI for its downgrade options (a separate exec: it starts Python, the listing
    does not, so the two run side by side)."""
    argvs = [("sh", "-c", HELP_SCRIPT)] + [(py, "-c", HELP_PY) for py in pythons(server.command)]
    with proc.waiting():  # mostly the image's CLI starting up in the pod
        timeout, bound = _exec_bound(None, "")
        out = _first_that_starts(
            (server.name, server.container + " (help)"),
            argvs,
            lambda argv: kube.exec_(t, server.name, server.container, argv, timeout=timeout, bound=bound),
        )
    return _yes_flag(
        out.partition(HELP_MARK + "\n")[2], f"kubectl exec {server.name} --container {server.container}"
    )


PROBE_ROLE = {"prefect-rollback/role": "probe"}
LEFTOVER_ROLES = ("probe", "backup")  # pods of ours that copy a migration container's env
PROBE_SELECTOR = ",".join(f"{k}={v}" for k, v in {**MANAGED_BY, **PROBE_ROLE}.items())
undeleted: list[str] = []  # probe pods whose delete failed twice; the next rollback deletes them


def probe(
    t: Target, job: dict[str, Any], *, name: str, timeout: float | None = None, with_help: bool = False
) -> Listing:
    """Run the listing script in a short-lived pod built from a migration Job; always delete it.

    It holds a copy of the migration Job's env (secrets): it is deleted on every path, a signal
    included, from whichever thread runs it; a pod whose delete failed is named for the next run.
    An image without `sh` fails to start it: then a pod runs the listing in python3 (then python)."""
    timeout = proc.limits.probe if timeout is None else timeout
    argvs = ways((), with_help)
    for i, argv in enumerate(argvs):
        text, failure = _probe_once(t, job, name, argv, timeout, with_help)
        if failure is None:
            return _split(text, with_help, source="kubectl logs (the probe pod)")
        if i + 1 < len(argvs) and missing_program(failure, argv[0]):
            log.debug(f"the probe image has no {argv[0]}; trying {argvs[i + 1][0]}")
            continue
        raise RollbackError(failure)
    raise AssertionError("unreachable: the last way raises")


def _probe_once(
    t: Target, job: dict[str, Any], name: str, argv: tuple[str, ...], timeout: float, with_help: bool
) -> tuple[str, str | None]:
    """(logs, None) when the probe succeeded, else (logs, why it failed)."""
    # A random suffix: two plans at once (one of them about to be refused by the lock) must not
    # delete each other's probe.
    name = manifests.fit_name(f"{name}-{secrets.token_hex(3)}")
    pod = manifests.probe_pod(job, name=name, script=_script(with_help), labels={**MANAGED_BY, **PROBE_ROLE})
    pod["spec"]["containers"][0]["command"] = list(argv)
    note = f"probe pod {name} (delete it: kubectl delete pod {name} -n {t.namespace}; the next rollback does)"
    with interrupt.leftover(lambda: note):
        try:
            kube.create(t, pod)
            with proc.waiting():
                phase, message = _wait_finished(t, name, timeout)
            text = kube.logs_text(t, name, pod["spec"]["containers"][0]["name"])
            if phase != "Succeeded":
                why = f"{message}\n{text}".strip()[-500:] or "(no output)"
                return text, f"probe pod {name} ended {phase}: {why}"
            return text, None
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
    may still work for a concurrent `plan` (younger than --probe-timeout) stays. Backup pods (they hold
    the same env) follow the same rules, a running one bounded by its own activeDeadlineSeconds."""
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc).timestamp() if at is None else at
    gone = []
    ours = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
    for pod in kube.list_(t, "pods", ours):
        meta = pod.get("metadata") or {}
        if (meta.get("labels") or {}).get("prefect-rollback/role") not in LEFTOVER_ROLES:
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


def _wait_finished(t: Target, name: str, timeout: float) -> tuple[str, str]:
    """The final phase and the runtime's message (why a container did not start)."""
    deadline = time.monotonic() + timeout
    while True:
        pod = kube.get(t, "pod", name) or {}
        status = pod.get("status") or {}
        phase = status.get("phase", "Pending")
        if phase in ("Succeeded", "Failed"):
            states = [cs.get("state") or {} for cs in status.get("containerStatuses") or []]
            return phase, " ".join(
                str((s.get("terminated") or {}).get("message") or "") for s in states
            ).strip()
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
