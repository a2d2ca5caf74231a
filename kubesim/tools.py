"""Find the kubectl/helm binaries the tests run against (installed by scripts/install-test-tools.sh).

`find_tool("helm", "3.17.3")` -> `.tools/helm-3.17.3/helm`; kubectl 1.32 is the machine's
`/usr/bin/kubectl`. A missing tool skips the test on a laptop, but fails it in CI
(`CI=true` or `PREFECT_ROLLBACK_REQUIRE_TOOLS=1`): no test layer may silently vanish there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
SYSTEM = {("kubectl", "1.32"): "/usr/bin/kubectl"}


def find_tool(name: str, version: str | None = None) -> str | None:
    """The path of `name` at `version` (or on PATH when no version is given), or None."""
    if version is None:
        return shutil.which(name)
    system = SYSTEM.get((name, version))
    if system and os.access(system, os.X_OK):
        return system
    candidates = [TOOLS / f"{name}-{version}" / name]
    candidates += sorted(TOOLS.glob(f"{name}-{version}.*/{name}"))  # "1.35" finds kubectl-1.35.2
    return next((str(c) for c in candidates if os.access(c, os.X_OK)), None)


def tools_required() -> bool:
    return os.environ.get("PREFECT_ROLLBACK_REQUIRE_TOOLS") == "1" or os.environ.get("CI") == "true"


def require_tool(name: str, version: str | None = None) -> str:
    """`find_tool`, or skip the test (fail it in CI) when the tool is missing."""
    path = find_tool(name, version)
    if path:
        return path
    what = f"{name} {version}" if version else name
    message = f"{what} is not installed: run scripts/install-test-tools.sh"
    if tools_required():
        pytest.fail(message)
    pytest.skip(message)
