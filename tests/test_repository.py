"""The repository itself: nothing machine-local is tracked.

A worktree's `.tools -> /work/main/.tools` symlink once got committed: `.tools/` in .gitignore matches a
directory, not a symlink. Checked out in another clone, the link replaced the real tools folder (git may
overwrite ignored paths) and pointed at itself, so `make tools` could no longer write there.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCAL = (".tools", ".venv", "dist", "build", "testbed/build")  # made on each machine (Makefile, README)


def _tracked() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("needs the git checkout this suite runs from (CI runs it in a clone)")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def test_no_machine_local_path_is_tracked():
    tracked = _tracked()
    assert len(tracked) > 100
    bad = [p for p in tracked if any(p == d or p.startswith(d + "/") for d in LOCAL)]
    assert bad == [], f"tracked but made on each machine: {bad}"


def test_gitignore_ignores_the_local_paths_as_links_too():
    """A pattern ending in / matches only a directory; a symlink of that name must be ignored too."""
    for name in (".tools", ".venv"):
        res = subprocess.run(["git", "check-ignore", "--no-index", "-q", name], cwd=ROOT)
        assert res.returncode == 0, f"{name} (as a file or symlink) is not ignored"
