"""The children running now: what a signal does to each, the waits that watch for signals and the
bound, and stopping a child with whatever it started (each leads its own session and process group).

Their pipes are fed and drained by pipes.py."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

from kubectl_prefect_rollback import interrupt, pipes

READ, WRITE, HELM = "read", "write", "helm"  # on a signal: stopped / let finish / the signal forwarded
HELM_STOP_GRACE = 60.0  # after forwarding a signal to helm: time to record the release as failed


_live: dict[subprocess.Popen, str] = {}
_live_lock = threading.Lock()


def register(p: subprocess.Popen, mode: str) -> None:
    with _live_lock:
        _live[p] = mode


def unregister(p: subprocess.Popen) -> None:
    with _live_lock:
        _live.pop(p, None)


@contextlib.contextmanager
def running(p: subprocess.Popen, mode: str) -> Iterator[None]:
    register(p, mode)
    try:
        yield
    finally:
        unregister(p)


def stop_group(p: subprocess.Popen, first: int = signal.SIGTERM, wait: float = 2.0) -> None:
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


def wait(p: subprocess.Popen, stdin: str | None, timeout: float, mode: str) -> tuple[str, str, bool, bool]:
    """(stdout, stderr, stopped by a signal, timed out): wait for the child while watching for a signal
    and the bound, serving its pipes meanwhile. Not communicate(): with a timeout it stops feeding
    stdin after its first timeout."""
    streams = pipes.Text(p, stdin)
    deadline = time.monotonic() + timeout
    forwarded_at: float | None = None
    with _exits(p, streams) as ended:
        while not ended(interrupt.CHECK):
            now = time.monotonic()
            if interrupt.halted() and forwarded_at is None:
                forwarded_at = _on_signal(p, mode, now)
            if mode == HELM and forwarded_at is not None and now - forwarded_at > HELM_STOP_GRACE:
                stop_group(p, signal.SIGKILL)
            if now > deadline:
                _stop_past_bound(p, mode)
                out, err = streams.collect()
                return out, err, False, True
    out, err = streams.collect()
    if mode == HELM and forwarded_at is not None:
        global helm_stopped_after
        helm_stopped_after = time.monotonic() - forwarded_at
    return out, err, forwarded_at is not None or _died_of_our_signal(p), False


def _on_signal(p: subprocess.Popen, mode: str, now: float) -> float | None:
    """What a child gets once a signal came: a READ is stopped, HELM gets it forwarded, a WRITE
    nothing. The time it was stopped or told, None for a write."""
    if mode == READ:
        stop_group(p)
        return now
    if mode == HELM:
        # helm cancels its context on SIGINT/SIGTERM and marks the release failed; SIGHUP would kill it
        # half way, so it gets SIGTERM for that
        sig = signal.SIGINT if interrupt.received() == signal.SIGINT else signal.SIGTERM
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(sig)
        return now
    return None


@contextlib.contextmanager
def _exits(p: subprocess.Popen, streams: pipes.Text | None = None) -> Iterator[Callable[[float], bool]]:
    """ended(seconds): True once the child exited (reaped), else after `seconds` or sooner (`streams`
    had output to take). Through a pidfd where there is one (Linux 5.3+): poll() wakes the moment the
    child exits, where Popen.wait(timeout) sleeps up to 50 ms between looks, each call paying for that.
    Without one, a child whose pipes are open is looked at after each of their events (or `seconds`)."""
    try:
        fd: int | None = os.pidfd_open(p.pid)
    except (AttributeError, OSError):  # not Linux, or an old kernel
        fd = None

    def ended(seconds: float) -> bool:
        if p.poll() is not None:
            return True
        if streams is not None and (fd is not None or streams.open):
            streams.pump(seconds, fd)
        elif fd is None:
            try:
                p.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                return False
            return True
        else:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            poller.poll(seconds * 1000)
        return p.poll() is not None

    try:
        yield ended
    finally:
        if fd is not None:
            os.close(fd)


def _died_of_our_signal(p: subprocess.Popen) -> bool:
    """A terminal's Ctrl-C reaches a child still in our process group (between its fork and its
    setsid): it dies of the signal we got. The signal stopped it; it did not fail."""
    return interrupt.halted() and p.returncode is not None and -p.returncode == interrupt.received()


def _stop_past_bound(p: subprocess.Popen, mode: str) -> None:
    if mode == HELM:  # let it record the failure first, like a cancelled helm
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=HELM_STOP_GRACE)
        except subprocess.TimeoutExpired:
            pass
    stop_group(p)


def watch(p: subprocess.Popen, deadline: float, mode: str, failed: list[BaseException]) -> tuple[bool, bool]:
    """(stopped by a signal, timed out): proc.pipe's wait. A READ is stopped at once after a signal, and
    any child once its copying failed (`failed`, but a child that stopped reading its stdin may finish)."""
    signalled = False
    with _exits(p) as ended:
        while not ended(interrupt.CHECK):
            if (interrupt.halted() and not signalled and mode == READ) or (
                failed and not isinstance(failed[0], BrokenPipeError)
            ):
                signalled = interrupt.halted()
                stop_group(p)
            if time.monotonic() > deadline:
                stop_group(p)
                return False, True
    return signalled, False
