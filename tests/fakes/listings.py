"""The canned exec/probe listings are true outputs of `migrations.listing_script`, run with `sh`
over the small trees in tests/data/fake/trees/<version>/ (then re-rooted at the in-image path).

Regenerate with `python -m tests.fakes.listings`; test_cli checks they are up to date.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kubectl_prefect_rollback import migrations

DATA = Path(__file__).resolve().parent.parent / "data" / "fake"
TREES = DATA / "trees"


def generate(version: str) -> str:
    root = TREES / version
    script = migrations.listing_script(str(root))
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.replace(str(root), migrations.DEFAULT_ROOT)


def listing_path(version: str) -> Path:
    return DATA / f"listing-{version}.txt"


def main() -> None:
    for tree in sorted(TREES.iterdir()):
        listing_path(tree.name).write_text(generate(tree.name))
        print(listing_path(tree.name), file=sys.stderr)


if __name__ == "__main__":
    main()
