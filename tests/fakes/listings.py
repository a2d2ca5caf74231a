"""The canned exec/probe listings are true outputs of `migrations.listing_script`, run with `sh`
over small image trees built from tests/data/fake/migrations/ by releases.yaml (then re-rooted at the
in-image path). Each tree also holds what trips the runbook's `find | sort | tail`: an `__init__.py`
and compiled decoys in `__pycache__`.

Regenerate with `python -m tests.fakes.listings`; test_cli checks they are up to date.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from kubectl_prefect_rollback import migrations

DATA = Path(__file__).resolve().parent.parent / "data" / "fake"
RELEASES = yaml.safe_load((DATA / "releases.yaml").read_text())
VERSIONS = sorted(RELEASES)
DECOY = b"\x00bytecode revision = 'ffffffffffff'\n"


def build_tree(version: str, root: Path) -> Path:
    """The migrations folders of `version`'s server image, below `root`."""
    for db, files in RELEASES[version].items():
        folder = root / migrations.VERSIONS[db]
        (folder / "__pycache__").mkdir(parents=True)
        (folder / "__init__.py").write_text("")
        for name in files:
            shutil.copy2(DATA / "migrations" / db / name, folder / name)
            (folder / "__pycache__" / f"{name[:-3]}.cpython-311.pyc").write_bytes(DECOY)
    return root


def generate(version: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        root = build_tree(version, Path(tmp))
        script = migrations.listing_script(str(root))
        done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30, check=True)
        return done.stdout.replace(str(root), migrations.DEFAULT_ROOT)


def listing_path(version: str) -> Path:
    return DATA / f"listing-{version}.txt"


def main() -> None:
    for version in VERSIONS:
        listing_path(version).write_text(generate(version))
        print(listing_path(version), file=sys.stderr)


if __name__ == "__main__":
    main()
