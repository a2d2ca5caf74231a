"""The only door to child processes: argv tuples in, captured output out, readable errors.

Never a shell. Values that may hold secrets travel on stdin and never appear in echoes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from kubectl_prefect_rollback import interrupt

log = logging.getLogger(__name__)

# Flags whose *next* argument is a secret, and `key=value` arguments whose key looks secret.
_SECRET_FLAGS = {"--token", "--kube-token", "--password", "--set", "--set-string", "--set-file"}
_SECRET_KEY = re.compile(r"(?i)[^=]*(pass(word)?|token|secret|key|credential)[^=]*=")  # DB_PASSWORD=…
REDACTED = "<redacted>"


class CommandError(RuntimeError):
    """A child exited non-zero or could not start; the message names the command and its stderr."""

    def __init__(self, cmd: Sequence[str], returncode: int, stderr: str, stdout: str = "") -> None:
        super().__init__(cmd, returncode, stderr)
        self.cmd, self.returncode, self.stderr, self.stdout = tuple(cmd), returncode, stderr, stdout

    @property
    def not_found(self) -> bool:
        return self.returncode == 127

    def __str__(self) -> str:
        detail = self.stderr.strip() or "(no stderr)"
        # a script argument (the listing script is 30 lines) would bury the stderr: show its first line
        return f"`{shlex.join(_short_argv(self.cmd))}` exited {self.returncode}: {detail}"


@dataclass
class Stats:
    """What a command cost: benchmarks and tests read the spawn count and the time spent waiting for
    the cluster (Jobs, pods, helm), which is not the plugin's own overhead."""

    spawns: int = 0
    waited: float = 0.0
    _active: int = 0
    _since: float = 0.0


stats = Stats()
_stats_lock = threading.Lock()


@contextlib.contextmanager
def waiting() -> Iterator[None]:
    """Mark time spent waiting on the cluster. Waits that overlap (parallel reads) count once."""
    with _stats_lock:
        if stats._active == 0:
            stats._since = time.monotonic()
        stats._active += 1
    try:
        yield
    finally:
        with _stats_lock:
            stats._active -= 1
            if stats._active == 0:
                stats.waited += time.monotonic() - stats._since


def redact_argv(argv: Sequence[str]) -> list[str]:
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
        elif arg in _SECRET_FLAGS:
            out.append(arg)
            hide_next = True
        elif arg.startswith("--") and "=" in arg and arg.split("=", 1)[0] in _SECRET_FLAGS:
            out.append(arg.split("=", 1)[0] + "=" + REDACTED)
        elif not arg.startswith("-") and _SECRET_KEY.match(arg):
            out.append(arg.split("=", 1)[0] + "=" + REDACTED)
        else:
            out.append(arg)
    return out


def child_env() -> dict[str, str]:
    """The environment for children: PyInstaller's bundle path must not leak into kubectl/helm.

    A onefile/onedir bootloader prepends its bundle to LD_LIBRARY_PATH and keeps the original in
    LD_LIBRARY_PATH_ORIG; exec credential plugins (gcloud, aws) break if they inherit the bundle.
    """
    env = dict(os.environ)
    if getattr(sys, "frozen", False) or "LD_LIBRARY_PATH_ORIG" in env:
        for var in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"):
            orig = env.pop(f"{var}_ORIG", None)
            if orig is not None:
                env[var] = orig
            else:
                env.pop(var, None)
    return env


def gather(*calls: Callable[[], Any]) -> list[Any]:
    """Run independent commands at once (each call starts its own processes); results in order.

    Reads that do not depend on each other cost one round trip instead of several; the first
    failure is raised once all have finished, so nothing is left running behind our back.
    """
    if len(calls) <= 1:
        return [c() for c in calls]
    from concurrent.futures import ThreadPoolExecutor

    with interrupt.busy(), ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(c) for c in calls]
    # a signal stops every worker at its next call: report that, not a worker's secondary error
    for f in futures:
        if isinstance(f.exception(), interrupt.Stopped):
            raise f.exception()  # type: ignore[misc]
    return [f.result() for f in futures]


def _echo(cmd: Sequence[str], stdin_note: str = "") -> None:
    log.debug("$ %s%s", shlex.join(redact_argv(cmd)), stdin_note)


@dataclass
class Limits:
    """Bounds for calls that carry no step timeout of their own (set once per invocation)."""

    request: float = 30.0  # --request-timeout: every non-waiting kubectl/helm call
    probe: float = 300.0  # --probe-timeout: a probe pod, and the execs that read a server's chains


limits = Limits()
GRACE = 5.0  # beyond kubectl's own --request-timeout before we stop the child ourselves
HELM_STOP_GRACE = 60.0  # after forwarding a signal to helm: time to record the release as failed
READ, WRITE, HELM = "read", "write", "helm"  # what a signal does to the child: stop / let finish / forward


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


_live: dict[subprocess.Popen, str] = {}
_live_lock = threading.Lock()


def _stop_group(p: subprocess.Popen, first: int = signal.SIGTERM, wait: float = 2.0) -> None:
    """Stop a child and whatever it started (it leads its own process group)."""
    for sig in (first, signal.SIGKILL):
        try:
            os.killpg(p.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            p.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _abandon() -> None:
    """A second signal: reads die with us; writes and helm keep going (they finish on their own)."""
    with _live_lock:
        reads = [p for p, mode in _live.items() if mode == READ]
    for p in reads:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)


interrupt.ABANDON.append(_abandon)


helm_stopped_after: float | None = None  # seconds from forwarding a signal to helm's exit


def running_helm() -> list[int]:
    with _live_lock:
        return [p.pid for p, mode in _live.items() if mode == HELM and p.poll() is None]


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
    stopped at once, a WRITE finishes, and HELM gets the signal forwarded and HELM_STOP_GRACE to
    record its release as failed; then Stopped is raised."""
    interrupt.check()
    _echo(cmd, " < (stdin, not shown)" if stdin is not None else "")
    stats.spawns += 1
    if timeout is None:
        timeout, bound = limits.request + GRACE, bound or f"--request-timeout {_secs(limits.request)}"
    with interrupt.busy():
        try:
            p = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                env=child_env(),
                start_new_session=True,
            )
        except FileNotFoundError:
            raise CommandError(cmd, 127, f"{cmd[0]}: not found on PATH") from None
        except PermissionError:
            raise CommandError(cmd, 126, f"{cmd[0]}: not executable") from None
        with _live_lock:
            _live[p] = mode
        try:
            out, err, signalled = _wait(p, cmd, stdin, timeout, bound, mode)
        finally:
            with _live_lock:
                _live.pop(p, None)
    if signalled and (p.returncode or mode == READ):
        raise interrupt.Stopped(interrupt.received() or signal.SIGINT)
    if p.returncode:
        raise CommandError(cmd, p.returncode, err, out)
    return out


def _wait(
    p: subprocess.Popen, cmd: Sequence[str], stdin: str | None, timeout: float, bound: str, mode: str
) -> tuple[str, str, bool]:
    """Wait for the child while watching for a signal and the bound. Own pipe threads, because
    communicate() with a timeout stops feeding stdin after its first timeout."""
    pipes = _Pipes(p, stdin)
    deadline = time.monotonic() + timeout
    forwarded_at: float | None = None
    while True:
        try:
            p.wait(timeout=0.1)
            out, err = pipes.collect()
            if mode == HELM and forwarded_at is not None:
                global helm_stopped_after
                helm_stopped_after = time.monotonic() - forwarded_at
            return out, err, forwarded_at is not None
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if interrupt.halted() and forwarded_at is None:
            if mode == READ:
                _stop_group(p)
                forwarded_at = now
            elif mode == HELM:
                # helm cancels its context on SIGINT/SIGTERM and marks the release failed; SIGHUP
                # would kill it half way, so it gets SIGTERM for that
                sig = signal.SIGINT if interrupt.received() == signal.SIGINT else signal.SIGTERM
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(sig)
                forwarded_at = now
        if mode == HELM and forwarded_at is not None and now - forwarded_at > HELM_STOP_GRACE:
            _stop_group(p, signal.SIGKILL)
        if now > deadline:
            if mode == HELM:  # let it record the failure first, like a cancelled helm
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=HELM_STOP_GRACE)
                except subprocess.TimeoutExpired:
                    pass
            _stop_group(p)
            pipes.collect()
            raise CommandTimeout(cmd, timeout, bound)


class _Pipes:
    """stdin fed, stdout and stderr drained, each by a thread, so no pipe fills up and blocks the child."""

    def __init__(self, p: subprocess.Popen, stdin: str | None) -> None:
        self._out: list[str] = []
        self._err: list[str] = []
        self._threads = [
            threading.Thread(target=self._drain, args=(p.stdout, self._out), daemon=True),
            threading.Thread(target=self._drain, args=(p.stderr, self._err), daemon=True),
        ]
        if stdin is not None:
            self._threads.append(threading.Thread(target=self._feed, args=(p.stdin, stdin), daemon=True))
        for t in self._threads:
            t.start()

    @staticmethod
    def _drain(f: Any, into: list[str]) -> None:
        with contextlib.suppress(OSError, ValueError):
            into.append(f.read())

    @staticmethod
    def _feed(f: Any, data: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # BrokenPipe: the child exited without reading
            f.write(data)
        with contextlib.suppress(OSError, ValueError):
            f.close()

    def collect(self) -> tuple[str, str]:
        for t in self._threads:
            t.join(timeout=5)  # a grandchild holding the pipe open must not hang us
        return "".join(self._out), "".join(self._err)


class Stream:
    """A running child whose merged stdout+stderr is read line by line (only for shown logs)."""

    def __init__(self, cmd: Sequence[str]) -> None:
        interrupt.check()
        self.cmd = tuple(cmd)
        _echo(self.cmd)
        stats.spawns += 1
        try:
            self._p = subprocess.Popen(
                self.cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                env=child_env(),
                start_new_session=True,
            )
        except FileNotFoundError:
            raise CommandError(self.cmd, 127, f"{self.cmd[0]}: not found on PATH") from None
        with _live_lock:
            _live[self._p] = READ

    def lines(self) -> Iterator[str]:
        assert self._p.stdout is not None
        for line in self._p.stdout:
            yield line.rstrip("\n")

    def wait(self) -> int:
        code = self._p.wait()
        with _live_lock:
            _live.pop(self._p, None)
        return code

    def stop(self) -> None:
        if self._p.poll() is None:
            _stop_group(self._p)
        with _live_lock:
            _live.pop(self._p, None)
