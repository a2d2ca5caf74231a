"""A child's pipes fed and drained, so no pipe fills up and blocks the child.

Text for proc.run (stdout and stderr kept whole: kubectl and helm answers are small; served by poll()
from the waiting thread), bytes for proc.pipe (on threads, streamed chunk by chunk, only the tail of
stderr kept: a dump of gigabytes costs CHUNK).
Nothing here starts or stops a process; children.py waits for it, proc.py made it.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import subprocess

CHUNK = 1 << 20  # bytes per read/write while piping: memory stays flat whatever the size
READ = 1 << 16  # bytes per read/write of a Text child's pipes: a pipe's capacity
STDERR_TAIL = 64 * 1024  # bytes of a piping child's stderr kept for its error


def _start(threads: list[threading.Thread]) -> list[threading.Thread]:
    for t in threads:
        t.start()
    return threads


def _join(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join(timeout=5)  # a grandchild holding the pipe open must not hang us


class Text:
    """stdin fed, stdout and stderr drained by the thread that waits for the child (children.wait), with
    one poll() over the three pipes: no thread per pipe (starting and joining two or three threads cost
    more CPU than the rest of a kubectl call). Decoded and newline-translated as Popen(text=True) would."""

    def __init__(self, p: subprocess.Popen, stdin: str | None) -> None:
        self._p = p
        self._poller = select.poll()
        self._got: dict[int, list[bytes]] = {}  # fd -> chunks, while that pipe is open
        self._chunks: dict[int, list[bytes]] = {}
        for f in (p.stdout, p.stderr):
            fd = f.fileno()  # type: ignore[union-attr]
            self._got[fd] = self._chunks[fd] = []
            self._poller.register(fd, select.POLLIN)
        self._feed: tuple[int, memoryview] | None = None
        if stdin is not None:
            fd = p.stdin.fileno()  # type: ignore[union-attr]
            os.set_blocking(fd, False)
            data = stdin.encode(p.stdin.encoding, p.stdin.errors)  # type: ignore[union-attr]
            self._feed = (fd, memoryview(data))
            self._poller.register(fd, select.POLLOUT)
            if not data:
                self._close_stdin()

    @property
    def open(self) -> bool:
        """A pipe is still being read or fed."""
        return bool(self._got) or self._feed is not None

    def pump(self, seconds: float, wake: int | None = None) -> None:
        """Serve the pipes for up to `seconds`, returning at their first event (or `wake` becoming
        readable: the child's pidfd)."""
        if wake is not None:
            self._poller.register(wake, select.POLLIN)
        try:
            events = self._poller.poll(seconds * 1000)
        finally:
            if wake is not None:
                self._poller.unregister(wake)
        for fd, _ in events:
            if fd in self._got:
                self._read(fd)
            elif self._feed is not None and fd == self._feed[0]:
                self._write()

    def _read(self, fd: int) -> None:
        try:
            chunk = os.read(fd, READ)
        except OSError:
            chunk = b""
        if chunk:
            self._got[fd].append(chunk)
        else:  # EOF: every writer closed it
            self._poller.unregister(fd)
            del self._got[fd]

    def _write(self) -> None:
        fd, rest = self._feed  # type: ignore[misc]
        try:
            n = os.write(fd, rest[:READ])
        except BlockingIOError:
            return
        except OSError:  # BrokenPipe: the child exited without reading
            n = len(rest)
        self._feed = (fd, rest[n:])
        if not self._feed[1]:
            self._close_stdin()

    def _close_stdin(self) -> None:
        self._poller.unregister(self._feed[0])  # type: ignore[index]
        self._feed = None
        with contextlib.suppress(OSError, ValueError):
            self._p.stdin.close()  # type: ignore[union-attr]

    def collect(self, bound: float = 5.0) -> tuple[str, str]:
        """stdout and stderr once both reached EOF, or what came within `bound` seconds: a grandchild
        holding a pipe open must not hang us."""
        deadline = time.monotonic() + bound
        while self._got and (left := deadline - time.monotonic()) > 0:
            self.pump(left)
        if self._feed is not None:
            self._close_stdin()
        p = self._p
        out, err = (self._text(f, self._chunks[f.fileno()]) for f in (p.stdout, p.stderr))  # type: ignore[union-attr]
        for f in (p.stdout, p.stderr):
            with contextlib.suppress(OSError, ValueError):
                f.close()  # type: ignore[union-attr]
        return out, err

    @staticmethod
    def _text(f: Any, chunks: list[bytes]) -> str:
        text = b"".join(chunks).decode(f.encoding, f.errors)
        return text.replace("\r\n", "\n").replace("\r", "\n")


class Binary:
    """stdout copied into `sink` and `source` into stdin, chunk by chunk; the tail of stderr kept.

    `failed` collects what went wrong while copying (a sink that raised, a child that stopped reading):
    the wait watches it and stops the child."""

    def __init__(
        self, p: subprocess.Popen, sink: Callable[[bytes], None] | None, source: BinaryIO | None
    ) -> None:
        self.failed: list[BaseException] = []
        self._err = bytearray()
        threads = [
            threading.Thread(target=_copy_out, args=(p, sink, self.failed), daemon=True),
            threading.Thread(target=_tail, args=(p.stderr, self._err), daemon=True),
        ]
        if source is not None:
            threads.append(threading.Thread(target=_copy_in, args=(p, source, self.failed), daemon=True))
        self._threads = _start(threads)

    def collect(self) -> str:
        """The child's stderr (its tail), once the copying threads are done."""
        _join(self._threads)
        return self._err.decode("utf-8", "replace")


def _copy_out(p: subprocess.Popen, sink: Callable[[bytes], None] | None, failed: list[BaseException]) -> None:
    try:
        while chunk := p.stdout.read1(CHUNK):  # type: ignore[union-attr]
            if sink is not None and not failed:
                sink(chunk)
    except (OSError, ValueError) as e:
        failed.append(e)


def _copy_in(p: subprocess.Popen, source: BinaryIO, failed: list[BaseException]) -> None:
    try:
        while chunk := source.read(CHUNK):
            p.stdin.write(chunk)  # type: ignore[union-attr]
        p.stdin.close()  # type: ignore[union-attr]
    except (OSError, ValueError) as e:
        failed.append(e)


def _tail(f: Any, into: bytearray, keep: int = STDERR_TAIL) -> None:
    with contextlib.suppress(OSError, ValueError):
        while chunk := f.read1(CHUNK):
            into.extend(chunk)
            del into[:-keep]
