"""Migration heads from a running server pod: the listing exec (sh+awk, else the app's Python), and
whether the image's downgrade CLI needs -y. Probe pods (probe.py) reuse the same listing and parsing."""

from __future__ import annotations

import contextlib
import logging
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from kubectl_prefect_rollback import costs, durations, kube, listing, migrations, proc, records, servers
from kubectl_prefect_rollback.errors import ParseError
from kubectl_prefect_rollback.helm import Release
from kubectl_prefect_rollback.migrations import Chain
from kubectl_prefect_rollback.target import Target

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


class UnclearHelp(ParseError):
    """The image's CLI gave no usage text we can read: whether its downgrade needs -y is unknown."""


@dataclass(frozen=True)
class Listing:
    chains: dict[str, Chain | None]
    yes_flag: bool | None = None  # None: not asked
    via: str = ""  # which way listed (sh+awk, sh+python …, python …)
    cli: records.Cli | None = None  # a server pod's image and its -y answer: the record step keeps it
    files: str = ""  # the listed container's servers.files_of: equal ones list the same files


def split(text: str, with_help: bool, source: str) -> Listing:
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
        raise UnclearHelp(
            f"{source} printed no usage text for `prefect-cloud nebula database downgrade --help`: "
            "cannot tell whether the image's CLI needs -y"
        )
    return bool(_YES.search(help_text))


def script(with_help: bool) -> str:
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
    return [("sh", "-c", script(with_help))] + [
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


def read_chains(
    t: Target,
    server: servers.ServerPod,
    *,
    timeout: float | None = None,
    bound: str = "",
    with_help: bool = False,
) -> Listing:
    """One exec lists all three chains (script on argv, no stdin, explicit container); in an image
    without a shell, a second exec runs the listing in the app's Python. `with_help`: the same exec
    then asks the image's CLI whether its downgrade needs -y (one exec, not two side by side: each
    kubectl costs a start-up, and the CLI's own start-up is the long pole either way)."""
    timeout, bound = _exec_bound(timeout, bound)
    with costs.waiting() if with_help else contextlib.nullcontext():  # mostly the CLI starting in the pod
        out = _first_that_starts(
            (server.name, server.container),
            ways(server.command, with_help),
            lambda argv: kube.exec_(t, server.name, server.container, argv, timeout=timeout, bound=bound),
        )
    listed = split(out, with_help, source=f"kubectl exec {server.name} --container {server.container}")
    asked = listed.yes_flag is not None and server.image_id  # an answer is kept only with a digest
    cli = records.Cli(server.image, server.image_id, bool(listed.yes_flag)) if asked else None
    return replace(listed, files=server.files, cli=cli)


def _exec_bound(timeout: float | None, bound: str) -> tuple[float, str]:
    if timeout is not None:
        return timeout, bound
    return proc.limits.probe, f"--probe-timeout {durations.go(proc.limits.probe)}"


def heads_of(chains: dict[str, Chain | None]) -> dict[str, str | None]:
    return {db: (c.head if c else None) for db, c in ((db, chains.get(db)) for db in migrations.DATABASES)}


def from_server(
    t: Target,
    rel: Release,
    *,
    selector: str | None,
    pod: str | None,
    container: str | None,
    pods: list[dict[str, Any]] | None = None,
    recorded: Mapping[str, dict[str, Any]] | None = None,
) -> tuple[Listing | None, str]:
    """Chains from a running server pod, or (None, "") when none runs (an earlier attempt scaled it down).
    `pods`: the namespace's pods (of `selector`) as already listed; else they are listed here.
    `recorded`: the records ConfigMap's entries; the -y answer kept there for this very image (by its
    digest) spares the exec the CLI's start-up, the long pole of a plan."""
    pods = kube.list_(t, "pods", selector) if pods is None else pods
    server = servers.find_server_pod(pods, rel.name, pod=pod, container=container)
    if server is None:
        return None, ""
    source = f"pod {server.name}, container {server.container}"
    known = records.cli_answer(recorded or {}, rel.version, server.image, server.image_id)
    if known is None:
        return read_chains(t, server, with_help=True), source
    log.debug(
        f"-y: {server.image} ({server.image_id}) answered {known} before (records configmap); not asked"
    )
    cli = records.Cli(server.image, server.image_id, known)
    return replace(read_chains(t, server), yes_flag=known, cli=cli), source
