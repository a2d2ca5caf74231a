"""SIGINT, SIGTERM and SIGHUP: the first stops new work, the second abandons at once.

The handler never kills a child. Children run in their own session (proc.py), so a terminal's Ctrl-C
reaches only us; we decide what each one gets: a read is stopped, a kubectl write finishes, and
`helm upgrade` receives the signal itself so it records the release as failed. Work then stops at the
next child call (`check`), in whichever thread makes it; cleanup runs inside `cleanup()`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import Future

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# The longest the main thread sleeps without looking for a signal. The kernel gives a process's signal
# to any of its threads that does not block it (a worker unblocking after a spawn takes it first); CPython
# then only flags it, and the main thread runs the handler at its next bytecode, so a wait without a
# timeout (a join) sleeps through the signal until whatever it waits for ends by itself.
CHECK = 0.1
NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


class Stopped(KeyboardInterrupt):
    """Raised where work stops after the first signal. A KeyboardInterrupt, so `except Exception`
    never swallows it and every existing Ctrl-C path treats it alike."""

    def __init__(self, signum: int) -> None:
        super().__init__(NAMES.get(signum, str(signum)))
        self.signum = signum


def exit_code(signum: int | None) -> int:
    """128 + the signal, as shells report it: 130 SIGINT, 143 SIGTERM, 129 SIGHUP."""
    return 128 + int(signum or signal.SIGINT)


class _State:
    def __init__(self) -> None:
        self.signum: int | None = None
        self.stop = threading.Event()
        self.local = threading.local()
        self.main_busy = 0  # >0: the main thread waits on children; it raises at its next check
        self.on_first: list[Callable[[int], None]] = []
        self.leftovers: list[Callable[[], str]] = []


_s = _State()
ABANDON: list[Callable[[], None]] = []  # run before a second signal exits (proc stops its reads)


def reset() -> None:
    """A fresh invocation (the CLI calls this; tests run many in one process)."""
    global _s
    _s = _State()


ABANDON: list[Callable[[], None]] = []  # run before a second signal exits (proc stops its reads)


def install() -> None:
    reset()
    if threading.current_thread() is not threading.main_thread():
        return  # embedded in a worker thread: the host owns the signals
    for sig in SIGNALS:
        signal.signal(sig, _handler)


def received() -> int | None:
    return _s.signum


def stopping() -> bool:
    return _s.stop.is_set()


def _write(text: str) -> None:
    try:
        os.write(2, text.encode())  # not sys.stderr: the handler may interrupt a write to it
    except OSError:
        pass


def _handler(signum: int, frame: object) -> None:
    if _s.stop.is_set():
        left = [note for note in (f() for f in list(_s.leftovers)) if note]
        _write(
            f"\nSecond {NAMES.get(signum, signum)}: abandoning at once."
            + ("".join(f"\n  may be left: {n}" for n in left) if left else "")
            + "\nRe-run the same command: it resumes (a lease not released expires within 30s;"
            " --force-unlock takes it at once).\n"
        )
        for f in ABANDON:
            try:
                f()
            except Exception:  # noqa: BLE001 - we are leaving anyway
                pass
        os._exit(exit_code(_s.signum))
    _s.signum = signum
    _s.stop.set()
    _write(f"\n{NAMES.get(signum, signum)}: stopping after the call in flight (again to abandon at once)…\n")
    for f in list(_s.on_first):
        try:
            f(signum)
        except Exception:  # noqa: BLE001 - a forwarder must not keep us from stopping
            pass
    if _s.main_busy == 0 and not getattr(_s.local, "cleanup", 0):
        raise Stopped(signum)


def halted() -> bool:
    """A signal came and this thread is not cleaning up: stop what runs, start nothing."""
    return _s.stop.is_set() and not getattr(_s.local, "cleanup", 0)


def check() -> None:
    """Before starting a child: refuse new work once a signal came (cleanup excepted)."""
    if halted():
        raise Stopped(_s.signum or signal.SIGINT)


@contextlib.contextmanager
def busy() -> Iterator[None]:
    """The main thread waits on a child or on worker threads: the handler must not raise into it."""
    main = threading.current_thread() is threading.main_thread()
    if main:
        _s.main_busy += 1
    try:
        yield
    finally:
        if main:
            _s.main_busy -= 1


@contextlib.contextmanager
def cleanup() -> Iterator[None]:
    """Children may still start here after a signal (deleting a probe pod, releasing the lease)."""
    _s.local.cleanup = getattr(_s.local, "cleanup", 0) + 1
    try:
        yield
    finally:
        _s.local.cleanup -= 1


@contextlib.contextmanager
def on_first_signal(f: Callable[[int], None]) -> Iterator[None]:
    """Call f(signum) from the handler if the first signal comes while this block runs."""
    _s.on_first.append(f)
    try:
        yield
    finally:
        _s.on_first.remove(f)


@contextlib.contextmanager
def leftover(note: Callable[[], str]) -> Iterator[None]:
    """What abandoning now (a second signal) would leave behind, said before we exit."""
    _s.leftovers.append(note)
    try:
        yield
    finally:
        _s.leftovers.remove(note)


def sleep(seconds: float) -> None:
    """A poll's pause that ends early, and raises, when a signal came (looked for every CHECK seconds:
    the signal may have reached another thread)."""
    end = time.monotonic() + seconds
    while not _s.stop.wait(max(0.0, min(CHECK, end - time.monotonic()))):
        if time.monotonic() >= end:
            return
    check()


def wait_all(futures: Iterable[Future]) -> None:
    """Until every future is done, waking every CHECK seconds so that the main thread runs the handler
    of a signal a worker took (then the workers see `halted()` and stop)."""
    from concurrent.futures import wait as wait_futures  # imported by the first gather, as proc does

    pending = set(futures)
    while pending:
        _, pending = wait_futures(pending, timeout=CHECK)
