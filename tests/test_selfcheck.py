"""selfcheck: every import statement of a package, lazy ones inside functions and methods included, is
found in the compiled code and tried; what fails is named with its importer."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubectl_prefect_rollback import selfcheck

DATA = Path(__file__).parent / "data" / "selfcheck"


@pytest.fixture
def fakepkg(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.syspath_prepend(str(DATA))
    return "fakepkg"


def test_lists_every_module_of_the_package(fakepkg: str) -> None:
    assert selfcheck.package_modules(fakepkg) == [
        "fakepkg", "fakepkg.broken", "fakepkg.fine", "fakepkg.sub", "fakepkg.sub.leaf",
    ]


def test_finds_imports_inside_functions_and_resolves_relative_ones(fakepkg: str) -> None:
    assert {"json", "concurrent.futures"} <= selfcheck.imports_of("fakepkg.fine")
    assert {"fakepkg", "fakepkg.fine", "os.path", "os.path.join"} <= selfcheck.imports_of("fakepkg.sub.leaf")
    broken = selfcheck.imports_of("fakepkg.broken")
    assert {"prefect_rollback_no_such_module", "os", "os.no_such_name"} <= broken


def test_names_each_missing_module_and_name_with_its_importer(fakepkg: str) -> None:
    done, problems = selfcheck.check(fakepkg)
    assert {"json", "concurrent.futures", "os.path", "fakepkg.sub.leaf"} <= set(done)
    assert "os.path.join" not in done, "a function is not a module"
    assert [p.split(":")[0] for p in problems] == [
        "cannot import os.no_such_name (imported by fakepkg.broken)",
        "cannot import prefect_rollback_no_such_module (imported by fakepkg.broken)",
    ]


def test_main_exits_1_on_a_problem_and_0_for_the_real_package(fakepkg: str, capsys) -> None:
    assert selfcheck.main(fakepkg) == 1
    assert "2 of" in capsys.readouterr().err
    assert selfcheck.main() == 0
    out = capsys.readouterr().out.split()
    assert "kubectl_prefect_rollback.proc" in out and "concurrent.futures" in out
