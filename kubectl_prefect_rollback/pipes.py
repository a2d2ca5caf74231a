"""A child's pipes fed and drained on threads, so no pipe fills up and blocks the child.

Text for proc.run (stdout and stderr kept whole: kubectl and helm answers are small), bytes for
proc.pipe (streamed chunk by chunk, only the tail of stderr kept: a dump of gigabytes costs CHUNK).
Nothing here starts or stops a process; children.py waits for it, proc.py made it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import subprocess

CHUNK = 1 << 20  # bytes per read/write while piping: memory stays flat whatever the size
STDERR_TAIL = 64 * 1024  # bytes of a piping child's stderr kept for its error


def _start(threads: list[threading.Thread]) -> list[threading.Thread]:
    for t in threads:
        t.start()
    return threads


def _join(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join(timeout=5)  # a grandchild holding the pipe open must not hang us


class Text:
    """stdin fed, stdout and stderr drained, each by a thread."""

    def __init__(self, p: subprocess.Popen, stdin: str | None) -> None:
        self._out: list[str] = []
        self._err: list[str] = []
        threads = [
            threading.Thread(target=self._drain, args=(p.stdout, self._out), daemon=True),
            threading.Thread(target=self._drain, args=(p.stderr, self._err), daemon=True),
        ]
        if stdin is not None:
            threads.append(threading.Thread(target=self._feed, args=(p.stdin, stdin), daemon=True))
        self._threads = _start(threads)

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
        _join(self._threads)
        return "".join(self._out), "".join(self._err)


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
