"""pipes: a child's pipes fed and drained; Text on real children (it polls their pipes), Binary on
in-memory streams (no process needed)."""

from __future__ import annotations

import io
import subprocess
from types import SimpleNamespace

from kubectl_prefect_rollback import pipes


def _text_child(script: str) -> subprocess.Popen:
    """A child as proc.run starts one: text pipes, stdin included, its own session."""
    return subprocess.Popen(
        ["/bin/sh", "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )


def test_text_feeds_stdin_and_collects_stdout_and_stderr_whole() -> None:
    """More than a pipe holds each way, so feeding has to go on while draining: a child echoing its
    stdin back blocks on a full stdout until it is read."""
    data = "secret values\n" * 20_000  # 280 kB: four times a pipe's capacity
    child = _text_child("cat; printf err >&2")
    assert pipes.Text(child, data).collect() == (data, "err")
    assert child.wait(timeout=5) == 0 and child.stdin.closed and child.stdout.closed


def test_text_translates_newlines_and_replaces_undecodable_bytes_as_text_mode_does() -> None:
    child = _text_child(r"printf 'a\r\nb\rc\377\n'")
    assert pipes.Text(child, None).collect() == ("a\nb\nc\ufffd\n", "")
    child.wait(timeout=5)


def test_text_stops_waiting_for_a_pipe_a_grandchild_holds_open_at_its_bound() -> None:
    import os
    import signal
    import time

    child = _text_child("(sleep 5 &) ; echo done")
    t0 = time.monotonic()
    try:
        assert pipes.Text(child, None).collect(bound=0.3) == ("done\n", "")
        assert time.monotonic() - t0 < 2
    finally:
        os.killpg(child.pid, signal.SIGKILL)  # the sleep still holds the pipes
        child.wait(timeout=5)


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
