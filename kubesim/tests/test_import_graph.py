"""kubesim stands alone: no import circle between its modules, and it never imports the plugin, the
fixture app (testbed/) or the plugin's tests, which all import it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))
FOREIGN = ("kubectl_prefect_rollback", "testbed", "tests")


def imports(module: str) -> tuple[set[str], set[str]]:
    """(sibling modules, other top-level packages) that `module` imports anywhere, functions included."""
    siblings, others = set(), set()
    for node in ast.walk(ast.parse((PACKAGE / f"{module}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            names = [node.module] if node.module else [a.name for a in node.names]
            siblings |= {n.split(".")[0] for n in names}
        elif isinstance(node, ast.ImportFrom):
            others.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            others |= {a.name.split(".")[0] for a in node.names}
    return siblings & set(MODULES) - {module}, others


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the modules along it, or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                return path[path.index(dep) :] + [dep]
            found = None if dep in state else visit(dep, [*path, dep])
            if found:
                return found
        state[node] = "done"
        return None

    return next((c for m in MODULES if m not in state for c in [visit(m, [m])] if c), None)


def test_the_cycle_finder_finds_a_circle() -> None:
    assert cycle({m: set() for m in MODULES} | {"store": {"kinds"}, "kinds": {"store"}}) is not None


def test_kubesim_modules_import_each_other_without_a_circle() -> None:
    graph = {m: imports(m)[0] for m in MODULES}
    assert cycle(graph) is None, " -> ".join(cycle(graph) or [])


def test_kubesim_never_imports_the_plugin_the_fixture_app_or_the_tests() -> None:
    found = {m: sorted(imports(m)[1] & set(FOREIGN)) for m in MODULES}
    assert {m: f for m, f in found.items() if f} == {}
