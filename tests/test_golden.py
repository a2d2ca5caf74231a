"""tests/golden.py: a golden test fails, with a unified diff, when the output changes; `make golden` rewrites
the file, only when its bytes differ, so regenerating twice changes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import golden
from tests.golden import assert_golden

FAIL = pytest.fail.Exception


@pytest.fixture
def comparing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(golden.ENV, raising=False)


@pytest.fixture
def updating(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(golden.ENV, "1")


def test_same_bytes_pass(comparing, tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_bytes(b"one\r\ntwo\n")
    assert_golden(path, "one\r\ntwo\n")


def test_changed_output_fails_with_a_unified_diff_and_the_regenerate_command(
    comparing, tmp_path: Path
) -> None:
    path = tmp_path / "out.txt"
    path.write_text("kind: Plan\nsteps: 7\n")
    with pytest.raises(FAIL) as failed:
        assert_golden(path, "kind: Plan\nsteps: 8\n")
    message = str(failed.value)
    assert f"--- {path} (golden)\n+++ {path} (got)\n" in message
    assert "\n-steps: 7\n+steps: 8\n" in message
    assert "run `make golden`" in message
    assert path.read_text() == "kind: Plan\nsteps: 7\n"  # comparing never writes


@pytest.mark.parametrize(
    ("want", "got"),
    [("a\n", "a"), ("a\n", "a\r\n"), ("a\n", "a\n\n"), ("été\n", "ete\n")],
    ids=["last-newline", "crlf", "extra-line", "non-ascii"],
)
def test_byte_level_changes_fail_too(comparing, tmp_path: Path, want: str, got: str) -> None:
    path = tmp_path / "out.txt"
    path.write_bytes(want.encode())
    with pytest.raises(FAIL):
        assert_golden(path, got)


def test_a_missing_golden_file_fails_naming_the_regenerate_command(comparing, tmp_path: Path) -> None:
    with pytest.raises(FAIL, match=r"golden file .*new\.txt does not exist: run `make golden`"):
        assert_golden(tmp_path / "new.txt", "x\n")


def test_updating_writes_new_and_changed_files_and_passes(updating, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.txt"
    assert_golden(path, "v1\n")
    assert path.read_bytes() == b"v1\n"
    assert_golden(path, "v2\r\n")
    assert path.read_bytes() == b"v2\r\n"


def test_updating_twice_leaves_an_unchanged_file_untouched(updating, tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    assert_golden(path, "same\n")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert_golden(path, "same\n")
    assert path.stat().st_mtime_ns == 1_000_000_000


def test_update_false_compares_even_when_updating(updating, tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_text("by the writing way\n")
    with pytest.raises(FAIL):
        assert_golden(path, "by another way\n", update=False)
    assert path.read_text() == "by the writing way\n"


def test_only_the_documented_value_turns_updating_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_text("old\n")
    for value in ("", "0", "yes"):
        monkeypatch.setenv(golden.ENV, value)
        with pytest.raises(FAIL):
            assert_golden(path, "new\n")
    assert path.read_text() == "old\n"


def test_make_golden_runs_every_test_that_holds_a_golden_file() -> None:
    """The regeneration command covers each test module that calls assert_golden."""
    makefile = (golden.ROOT / "Makefile").read_text()
    recipe = makefile.split("\ngolden:", 1)[1].split("\n\n", 1)[0]
    callers = {
        f"tests/{p.name}"
        for p in (golden.ROOT / "tests").glob("test_*.py")
        if "assert_golden(" in p.read_text() and p.name != "test_golden.py"
    }
    assert {"tests/test_golden_cli.py", "tests/test_listing.py", "tests/test_status.py"} <= callers
    assert [c for c in sorted(callers) if c not in recipe] == [], recipe
    assert f"{golden.ENV}=1" in recipe
