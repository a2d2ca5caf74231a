"""Golden files: what a test got, compared byte for byte with a committed file under tests/data/golden/.

    assert_golden(GOLDEN / "cli" / "plan.txt", text)

A mismatch fails with a unified diff (golden -> got). `make golden` runs every golden test with
PREFECT_ROLLBACK_UPDATE_GOLDEN=1, which rewrites the files from what the code prints now instead of
comparing; the change is then reviewed in `git diff` like any other. A file is only written when its bytes
differ, so a second `make golden` leaves `git status` clean.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "data" / "golden"
ENV = "PREFECT_ROLLBACK_UPDATE_GOLDEN"
REGENERATE = "make golden"


def updating() -> bool:
    return os.environ.get(ENV) == "1"


def _name(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def diff(want: str, got: str, name: str) -> str:
    lines = difflib.unified_diff(
        want.splitlines(keepends=True), got.splitlines(keepends=True), f"{name} (golden)", f"{name} (got)"
    )
    # a line without its newline (the file's last) would run into the next one in the diff
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def assert_golden(path: Path, text: str, *, update: bool = True) -> None:
    """`text` is the golden file's content, bytes included (CRLF and the last newline are kept).

    update=False: this call only compares, even under `make golden` (a second way of printing the same
    file must agree with the one that writes it)."""
    name = _name(path)
    data = text.encode("utf-8")
    if updating() and update:
        if not path.exists() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return
    if not path.exists():
        pytest.fail(f"golden file {name} does not exist: run `{REGENERATE}` and review it", pytrace=False)
    want = path.read_bytes().decode("utf-8")
    if want != text:
        pytest.fail(
            f"{name} differs from what the code prints now:\n{diff(want, text, name)}"
            f"If the change is intended, run `{REGENERATE}` and review the diff.",
            pytrace=False,
        )
