"""The package's import graph, read from the source (ast, nothing imported): no circle among its modules,
click only in the command-line layer, subprocess only in proc.py.

Every import statement counts, those inside functions too (a lazy import is still a dependency), and
importing `a.b.c` counts as importing the packages `a.b` and `a` as well, since Python runs their
`__init__` first. Only imports under `if TYPE_CHECKING:` are left out: they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "kubectl_prefect_rollback"

# Modules that may import click, and why.
CLICK_ALLOWED = {
    # the command-line layer: the group, the shared options, the per-command wiring
    "kubectl_prefect_rollback.cli": "the command group and main()",
    "kubectl_prefect_rollback.cli_options": "options and callbacks the subcommands share",
    "kubectl_prefect_rollback.cli_plan": "plan, render, rollback wiring",
    "kubectl_prefect_rollback.cli_read": "revisions, history, status wiring",
    "kubectl_prefect_rollback.cli_recover": "abort, backup, restore wiring",
    # the terminal writer: click.echo, click.style and click.prompt are its whole job
    "kubectl_prefect_rollback.output": "echo/style/prompt for the terminal",
    # the errors are ClickExceptions: click's standalone mode turns them into one line and an exit code
    "kubectl_prefect_rollback.errors": "RollbackError subclasses click.ClickException",
}
# Modules that may import subprocess, and why.
SUBPROCESS_ALLOWED = {
    "kubectl_prefect_rollback.proc": "the single door for external commands",
    # it never starts a process: it tracks, signals and reaps the Popen objects proc.py created
    "kubectl_prefect_rollback.children": "handles the Popen objects proc.py made",
}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # a module of the package, or an outside top-level name such as "click"
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_files(root: Path, package: str) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def _named(name: str, modules: Mapping[str, Path], package: str) -> Iterator[str]:
    """`a.b.c` as the modules importing it runs: `a`, `a.b`, `a.b.c` (those of the package), or the
    outside top-level name."""
    if name != package and not name.startswith(package + "."):
        yield name.split(".")[0]
        return
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if prefix in modules:
            yield prefix


def imports_of(module: str, source: str, modules: Mapping[str, Path], package: str) -> list[Import]:
    tree = ast.parse(source)
    skip = _type_checking_lines(tree)
    is_package = modules.get(module, Path()).name == "__init__.py"
    found: list[Import] = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the importer's package
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
        for name in names:
            found += [Import(module, m, node.lineno) for m in _named(name, modules, package) if m != module]
    return found


def graph(root: Path, package: str) -> list[Import]:
    modules = package_files(root, package)
    return [i for m, p in modules.items() for i in imports_of(m, p.read_text(), modules, package)]


def cycles(edges: list[Import], package: str) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    succ: dict[str, set[str]] = {}
    for e in edges:
        if e.imported == package or e.imported.startswith(package + "."):
            succ.setdefault(e.importer, set()).add(e.imported)
            succ.setdefault(e.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(succ[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(succ):
        if v not in index:
            visit(v)
    return sorted(found)


def cycle_edges(edges: list[Import], component: list[str], root: Path, package: str) -> list[str]:
    """The imports inside one circle, each with the file and line to change."""
    files = package_files(root, package)
    members = set(component)
    return sorted(
        f"{e.importer} -> {e.imported}  ({files[e.importer].relative_to(root)}:{e.line})"
        for e in edges
        if e.importer in members and e.imported in members
    )


def forbidden(edges: list[Import], name: str, allowed: Mapping[str, str]) -> list[str]:
    return sorted(f"{e.importer}:{e.line}" for e in edges if e.imported == name and e.importer not in allowed)


# --- the checker itself, on tiny synthetic packages ---------------------------------------------------


def _write(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_checker_finds_a_circle_through_a_lazy_import_and_a_package_init(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "def f():\n    from pkg.sub import c\n",  # lazy: still an edge
            "pkg/sub/__init__.py": "from pkg.sub import c\n",
            "pkg/sub/c.py": "import pkg.a\n",
            "pkg/d.py": "from . import a\nimport json\n",  # relative, outside the circle
        },
    )
    edges = graph(tmp_path, "pkg")
    assert cycles(edges, "pkg") == [["pkg.a", "pkg.b", "pkg.sub", "pkg.sub.c"]]
    assert "pkg.b -> pkg.sub.c  (pkg/b.py:2)" in cycle_edges(edges, cycles(edges, "pkg")[0], tmp_path, "pkg")
    assert Import("pkg.d", "pkg.a", 1) in edges and Import("pkg.d", "json", 2) in edges


def test_checker_passes_a_one_way_graph_and_ignores_type_checking_imports(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/top.py": "from pkg import low\n",
            "pkg/low.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import top\n",
        },
    )
    assert cycles(graph(tmp_path, "pkg"), "pkg") == []


def test_checker_names_each_forbidden_import_with_its_line(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/ok.py": "import subprocess\n",
            "pkg/bad.py": "import os\n\ndef run():\n    from subprocess import run\n",
            "pkg/ui.py": "import click.testing\n",
        },
    )
    edges = graph(tmp_path, "pkg")
    assert forbidden(edges, "subprocess", {"pkg.ok": "the door"}) == ["pkg.bad:4"]
    assert forbidden(edges, "click", {}) == ["pkg.ui:1"]


# --- the package --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def edges() -> list[Import]:
    return graph(ROOT, PACKAGE)


def test_the_package_has_no_import_circle(edges: list[Import]) -> None:
    found = {" <-> ".join(c): cycle_edges(edges, c, ROOT, PACKAGE) for c in cycles(edges, PACKAGE)}
    assert found == {}


def test_the_command_layers_import_one_way(edges: list[Import]) -> None:
    """cli -> commands, never back; the commands never reach the click wiring."""
    up = [
        f"{e.importer}:{e.line} -> {e.imported}"
        for e in edges
        if e.importer.startswith(f"{PACKAGE}.commands") and e.imported.startswith(f"{PACKAGE}.cli")
    ]
    assert up == []
    assert any(e.importer.startswith(f"{PACKAGE}.cli") and ".commands." in e.imported for e in edges)


def test_click_only_in_the_command_line_layer(edges: list[Import]) -> None:
    assert forbidden(edges, "click", CLICK_ALLOWED) == []


def test_subprocess_only_in_proc(edges: list[Import]) -> None:
    assert forbidden(edges, "subprocess", SUBPROCESS_ALLOWED) == []
