"""`require_tool`: a missing test tool skips on a laptop but fails in CI, so no layer vanishes there."""

from __future__ import annotations

import pytest

from kubesim import tools

MISSING = "no-such-tool-prefect-rollback"


def test_require_tool_returns_the_path_of_a_tool_on_path() -> None:
    assert tools.require_tool("sh").endswith("/sh")


@pytest.mark.parametrize("env", [{"CI": "true"}, {"PREFECT_ROLLBACK_REQUIRE_TOOLS": "1"}])
def test_a_missing_tool_fails_the_test_in_ci(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("PREFECT_ROLLBACK_REQUIRE_TOOLS", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(pytest.fail.Exception, match=f"{MISSING} is not installed"):
        tools.require_tool(MISSING)


def test_a_missing_tool_skips_the_test_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("PREFECT_ROLLBACK_REQUIRE_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"{MISSING} 9.9 is not installed"):
        tools.require_tool(MISSING, "9.9")
