"""The only door to child processes: argv tuples in, captured output out, readable errors.

Never a shell. Values that may hold secrets travel on stdin and never appear in echoes. The children
it starts are watched by children.py, their pipes served by pipes.py, their cost counted in costs.py.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from kubectl_prefect_rollback import children, costs, interrupt, pipes
from kubectl_prefect_rollback.children import HELM, READ, WRITE  # noqa: F401  (callers name modes via proc)
from kubectl_prefect_rollback.redact import argv as redact_argv
from kubectl_prefect_rollback.redact import text as redact_text

log = logging.getLogger(__name__)


class CommandError(RuntimeError):
    """A child exited non-zero or could not start; the message names the command and its stderr."""

    def __init__(self, cmd: Sequence[str], returncode: int, stderr: str, stdout: str = "") -> None:
        super().__init__(tuple(cmd), returncode, redact_text(stderr))
        # child stderr quotes values (helm echoes a bad --set, kubectl a rejected object): redacted here,
        # before any handler can print it or put it in a report
        self.cmd, self.returncode, self.stdout = tuple(cmd), returncode, stdout
        self.stderr = redact_text(stderr)

    @property
    def not_found(self) -> bool:
        return self.returncode == 127

    def __str__(self) -> str:
        detail = self.stderr.strip() or "(no stderr)"
        # a script argument (the listing script is 30 lines) would bury the stderr: show its first line
        return f"`{shlex.join(_short_argv(self.cmd))}` exited {self.returncode}: {detail}"


def child_env() -> dict[str, str]:
    """The environment for children: PyInstaller's bundle path must not leak into kubectl/helm.

    A onefile/onedir bootloader prepends its bundle to LD_LIBRARY_PATH and keeps the original in
    LD_LIBRARY_PATH_ORIG; exec credential plugins (gcloud, aws) break if they inherit the bundle.
    """
    env = dict(os.environ)
    if _bundled():
        for var in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"):
            orig = env.pop(f"{var}_ORIG", None)
            if orig is not None:
                env[var] = orig
            else:
                env.pop(var, None)
    return env


def _bundled() -> bool:
    """Under a PyInstaller bootloader: the environment is ours to fix before a child gets it."""
    return getattr(sys, "frozen", False) or "LD_LIBRARY_PATH_ORIG" in os.environ


def gather(*calls: Callable[[], Any]) -> list[Any]:
    """Run independent commands at once (each call starts its own processes); results in order.

    Reads that do not depend on each other cost one round trip instead of several; the first
    failure is raised once all have finished, so nothing is left running behind our back. The last
    call runs in this thread once the others were handed to the pool: a thread fewer to start.
    """
    if len(calls) <= 1:
        return [c() for c in calls]
    from concurrent.futures import Future, ThreadPoolExecutor

    with interrupt.busy(), ThreadPoolExecutor(max_workers=len(calls) - 1) as pool:
        futures = [pool.submit(c) for c in calls[:-1]]
        here: Future = Future()
        try:
            here.set_result(calls[-1]())
        except BaseException as e:  # noqa: BLE001  (told below, as a worker's failure is)
            here.set_exception(e)
        futures.append(here)
        interrupt.wait_all(futures)  # not the pool's untimed join: it would sleep through a signal
    # a signal stops every worker at its next call: report that, not a worker's secondary error
    for f in futures:
        if isinstance(f.exception(), interrupt.Stopped):
            raise f.exception()  # type: ignore[misc]
    return [f.result() for f in futures]


def _echo(cmd: Sequence[str], stdin_note: str = "") -> None:
    if log.isEnabledFor(logging.DEBUG):  # redacting argv is five regex passes per argument: only to show
        log.debug("$ %s%s", shlex.join(redact_argv(cmd)), stdin_note)


@dataclass
class Limits:
    """Bounds for calls that carry no step timeout of their own (set once per invocation)."""

    request: float = 30.0  # --request-timeout: every non-waiting kubectl/helm call
    probe: float = 300.0  # --probe-timeout: a probe pod, and the execs that read a server's chains


limits = Limits()
GRACE = 5.0  # beyond kubectl's own --request-timeout before we stop the child ourselves


class CommandTimeout(CommandError):
    """A child ran past its bound and was stopped; the message names the command and the bound."""

    def __init__(self, cmd: Sequence[str], seconds: float, bound: str) -> None:
        super().__init__(cmd, 124, f"did not finish within {_secs(seconds)} ({bound}); stopped it")
        self.seconds, self.bound = seconds, bound

    def __str__(self) -> str:
        return f"`{shlex.join(_short_argv(self.cmd))}` {self.stderr}"


def _secs(seconds: float) -> str:
    return f"{seconds:g}s" if seconds < 120 else f"{seconds / 60:g}m"


def _short_argv(cmd: Sequence[str]) -> list[str]:
    return [a.split("\n", 1)[0] + " …" if "\n" in a else a for a in redact_argv(cmd)]


def _spawn(cmd: Sequence[str], *, stdin: bool, merge: bool, binary: bool = False) -> subprocess.Popen:
    """Start one child: never a shell, its own session (a terminal's Ctrl-C reaches only us, and we
    decide what each child gets), the environment without PyInstaller's bundle path."""
    costs.stats.spawns += 1
    try:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge else subprocess.PIPE,
            text=not binary,
            errors=None if binary else "replace",
            # otherwise the child inherits ours as it is: building and encoding a copy per child cost a
            # third of Popen's own CPU
            env=child_env() if _bundled() else None,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise CommandError(cmd, 127, f"{cmd[0]}: not found on PATH") from None
    except PermissionError:
        raise CommandError(cmd, 126, f"{cmd[0]}: not executable") from None


def run(
    *cmd: str,
    stdin: str | None = None,
    timeout: float | None = None,
    bound: str = "",
    mode: str = READ,
) -> str:
    """Run argv and return stdout; raise CommandError on a non-zero exit or a missing binary.

    Every child is bounded: by `timeout` (a step's, named by `bound`) or by --request-timeout plus a
    grace. It runs in its own session, so a terminal's Ctrl-C reaches only us. After a signal a READ is
    stopped at once, a WRITE finishes, and HELM gets the signal forwarded and children.HELM_STOP_GRACE to
    record its release as failed; then Stopped is raised."""
    interrupt.check()
    _echo(cmd, " < (stdin, not shown)" if stdin is not None else "")
    if timeout is None:
        timeout, bound = limits.request + GRACE, bound or f"--request-timeout {_secs(limits.request)}"
    with interrupt.busy():
        p = _spawn(cmd, stdin=stdin is not None, merge=False)
        with children.running(p, mode):
            out, err, signalled, timed_out = children.wait(p, stdin, timeout, mode)
    _raise_for_exit(cmd, p, mode, timed_out, signalled, (timeout, bound), err, out)
    return out


class Stream:
    """A running child whose merged stdout+stderr is read line by line (only for shown logs)."""

    def __init__(self, cmd: Sequence[str]) -> None:
        interrupt.check()
        self.cmd = tuple(cmd)
        _echo(self.cmd)
        self._p = _spawn(self.cmd, stdin=False, merge=True)
        children.register(self._p, READ)

    def lines(self) -> Iterator[str]:
        assert self._p.stdout is not None
        for line in self._p.stdout:
            yield line.rstrip("\n")

    def wait(self) -> int:
        code = self._p.wait()
        children.unregister(self._p)
        return code

    def stop(self) -> None:
        if self._p.poll() is None:
            children.stop_group(self._p)
        children.unregister(self._p)


def pipe(
    *cmd: str,
    sink: Callable[[bytes], None] | None = None,
    source: BinaryIO | None = None,
    timeout: float,
    bound: str,
    mode: str = READ,
) -> str:
    """Run argv with binary stdout streamed chunk by chunk into `sink` and/or `source` streamed into its
    stdin; return its stderr (text, only the tail kept). Nothing is buffered whole: a dump of gigabytes
    costs pipes.CHUNK of memory. A sink that raises (disk full) stops the child and the error is raised.
    Bounds and signals as in run(); a READ is stopped at once after a signal."""
    interrupt.check()
    _echo(cmd, " < (binary stdin)" if source is not None else "")
    with interrupt.busy():
        p = _spawn(cmd, stdin=source is not None, merge=False, binary=True)
        with children.running(p, mode):
            copies = pipes.Binary(p, sink, source)
            signalled, timed_out = children.watch(p, time.monotonic() + timeout, mode, copies.failed)
            text = copies.collect()
    failed = copies.failed
    if failed and not isinstance(failed[0], BrokenPipeError):
        raise failed[0]
    _raise_for_exit(cmd, p, mode, timed_out, signalled, (timeout, bound), text)
    if failed:  # the child exited 0 without reading all of its stdin
        raise CommandError(cmd, 0, f"stopped reading its input early: {text}")
    return text


def _raise_for_exit(
    cmd: Sequence[str],
    p: subprocess.Popen,
    mode: str,
    timed_out: bool,
    signalled: bool,
    bound: tuple[float, str],
    err: str,
    out: str = "",
) -> None:
    """How a child that ran ended, as run() and pipe() report it: past its bound, stopped by a signal
    (a WRITE or HELM that finished cleanly despite the signal counts as done), or a non-zero exit."""
    if timed_out:
        raise CommandTimeout(cmd, *bound)
    if signalled and (p.returncode or mode == READ):
        raise interrupt.Stopped(interrupt.received() or signal.SIGINT)
    if p.returncode:
        raise CommandError(cmd, p.returncode, err, out)
