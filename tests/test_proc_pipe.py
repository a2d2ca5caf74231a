"""proc.pipe: binary-safe streaming to and from a child, bounded, with flat memory."""

from __future__ import annotations

import io
import time

import pytest

from kubectl_prefect_rollback import pipes, proc

BINARY = bytes(range(256)) * 4096 + b"\r\n\x00end"  # every byte value, CR/LF and NUL included


def test_pipe_round_trips_every_byte_value_through_stdin_and_stdout() -> None:
    got = bytearray()
    proc.pipe("cat", sink=got.extend, source=io.BytesIO(BINARY), timeout=30, bound="test")
    assert bytes(got) == BINARY


def test_pipe_delivers_output_in_bounded_chunks() -> None:
    sizes: list[int] = []
    proc.pipe("head", "-c", str(8 * pipes.CHUNK), "/dev/zero", sink=lambda b: sizes.append(len(b)),
              timeout=30, bound="test")  # fmt: skip
    assert sum(sizes) == 8 * pipes.CHUNK and max(sizes) <= pipes.CHUNK and len(sizes) >= 8


def test_pipe_returns_stderr_and_raises_with_it_on_failure() -> None:
    assert proc.pipe("sh", "-c", "echo note >&2", timeout=30, bound="test") == "note\n"
    with pytest.raises(proc.CommandError) as e:
        proc.pipe("sh", "-c", "echo broken >&2; exit 7", timeout=30, bound="test")
    assert e.value.returncode == 7 and "broken" in str(e.value)


def test_a_sink_that_fails_stops_the_child_and_raises_its_error() -> None:
    def full(_: bytes) -> None:
        raise OSError(28, "No space left on device")

    t0 = time.monotonic()
    with pytest.raises(OSError, match="No space left"):
        proc.pipe("cat", "/dev/zero", sink=full, timeout=60, bound="test")
    assert time.monotonic() - t0 < 10  # stopped, not run to the timeout


def test_pipe_is_stopped_at_its_bound() -> None:
    with pytest.raises(proc.CommandTimeout) as e:
        proc.pipe("sleep", "30", timeout=0.2, bound="--backup-timeout 0.2s")
    assert "--backup-timeout 0.2s" in str(e.value)


def test_pipe_of_a_missing_binary_is_127(tmp_path) -> None:
    with pytest.raises(proc.CommandError) as e:
        proc.pipe(str(tmp_path / "nope"), timeout=5, bound="test")
    assert e.value.not_found
