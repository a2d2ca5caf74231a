"""pipes: a child's pipes fed and drained on threads, tried on in-memory streams (no process needed)."""

from __future__ import annotations

import io
from types import SimpleNamespace

from kubectl_prefect_rollback import pipes


class Kept(io.StringIO):
    """A stdin that remembers what was written once it is closed."""

    def close(self) -> None:
        self.kept = self.getvalue()
        super().close()


def test_text_feeds_stdin_and_collects_stdout_and_stderr_whole() -> None:
    stdin = Kept()
    child = SimpleNamespace(stdout=io.StringIO("out\n" * 1000), stderr=io.StringIO("err"), stdin=stdin)
    assert pipes.Text(child, "secret values").collect() == ("out\n" * 1000, "err")
    assert stdin.kept == "secret values" and stdin.closed


def test_binary_streams_stdout_in_chunks_and_keeps_only_the_tail_of_stderr() -> None:
    data = bytes(range(256)) * (3 * pipes.CHUNK // 256 + 1)
    noise = b"a" * pipes.STDERR_TAIL + b"the end"
    child = SimpleNamespace(stdout=io.BytesIO(data), stderr=io.BytesIO(noise), stdin=None)
    got: list[bytes] = []
    copies = pipes.Binary(child, got.append, None)
    assert copies.collect() == noise[-pipes.STDERR_TAIL :].decode() and copies.failed == []
    assert b"".join(got) == data and max(map(len, got)) <= pipes.CHUNK


def test_binary_records_a_failing_sink_and_stops_feeding_it() -> None:
    child = SimpleNamespace(stdout=io.BytesIO(b"x" * (4 * pipes.CHUNK)), stderr=io.BytesIO(b""), stdin=None)
    calls: list[int] = []

    def full(chunk: bytes) -> None:
        calls.append(len(chunk))
        raise OSError(28, "No space left on device")

    copies = pipes.Binary(child, full, None)
    copies.collect()
    assert len(calls) == 1 and isinstance(copies.failed[0], OSError)


def test_binary_copies_the_source_into_stdin_and_closes_it() -> None:
    class Sink(io.BytesIO):
        def close(self) -> None:
            self.kept = self.getvalue()
            super().close()

    stdin = Sink()
    child = SimpleNamespace(stdout=io.BytesIO(b""), stderr=io.BytesIO(b""), stdin=stdin)
    pipes.Binary(child, None, io.BytesIO(b"\x00dump\r\n" * 1000)).collect()
    assert stdin.kept == b"\x00dump\r\n" * 1000
