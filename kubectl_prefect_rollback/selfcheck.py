"""`kubectl-prefect_rollback --self-check` (hidden): can this build import everything the code imports?

A frozen build holds only the modules PyInstaller packed. Importing the package's modules is not enough:
many imports sit inside functions (start-up stays fast that way), so a module left out of the bundle
shows up only when that function first runs, in the middle of a rollback. The check therefore reads
every import statement from the compiled code of every module of the package, nested functions
included, and imports each named module. It prints the modules it imported on stdout and exits 1
naming the first importer of anything that failed.
"""

from __future__ import annotations

import dis
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from types import CodeType

PACKAGE = "kubectl_prefect_rollback"
# imports the code guards with `except ImportError` because they exist only in some builds
OPTIONAL = {"pyimod02_importers"}


def package_modules(package: str = PACKAGE) -> list[str]:
    """The package and every module below it, as the running build (frozen or not) holds them.

    Not pkgutil: PyInstaller's runtime hook that teaches it frozen packages is not run (start-up time,
    packaging/pyinstaller.spec), so this reads module files and PyInstaller's archive index itself."""
    import importlib.machinery
    import os

    root = importlib.import_module(package)
    found = {package, *_archived_modules(package)}
    suffixes = sorted(importlib.machinery.all_suffixes(), key=len, reverse=True)
    for top in root.__path__:
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            rel = os.path.relpath(folder, top)
            parts = [package] + ([] if rel == "." else rel.split(os.sep))
            for file in files:
                stem = next((file[: -len(s)] for s in suffixes if file.endswith(s)), None)
                if stem and stem.isidentifier():
                    found.add(".".join(parts if stem == "__init__" else [*parts, stem]))
    return sorted(found)


def _archived_modules(package: str) -> list[str]:
    """Modules under `package` in a PyInstaller PYZ archive (none when not frozen, or noarchive)."""
    try:
        import pyimod02_importers  # PyInstaller's bootstrap module, only in a frozen build
    except ImportError:
        return []
    node = pyimod02_importers.get_pyz_toc_tree()
    for part in package.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    found, stack = [], [(package, node)] if isinstance(node, dict) else []
    while stack:
        prefix, tree = stack.pop()
        for name, sub in tree.items():
            found.append(f"{prefix}.{name}")
            if isinstance(sub, dict):
                stack.append((f"{prefix}.{name}", sub))
    return found


def _code_objects(code: CodeType) -> Iterator[CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _code_objects(const)


_IMPORT_NAME = bytes([dis.opmap["IMPORT_NAME"]])


def imports_of(module: str) -> set[str]:
    """Absolute module names an import statement anywhere in `module` asks for.

    `from a import b` yields `a` and `a.b`; b may be a submodule or just a name defined in a, and
    the check accepts either (see _importable)."""
    spec = importlib.util.find_spec(module)
    code = spec.loader.get_code(module) if spec and spec.loader else None
    if code is None:
        return set()
    names: set[str] = set()
    for obj in _code_objects(code):
        if _IMPORT_NAME not in obj.co_code[::2]:  # opcodes sit at even offsets: most functions import
            continue  # nothing, and disassembling each of them was most of the check's time
        consts: list[object] = []
        for ins in dis.get_instructions(obj):
            if ins.opname == "LOAD_CONST":
                consts.append(ins.argval)
            elif ins.opname == "IMPORT_NAME" and len(consts) >= 2:
                level, fromlist = consts[-2], consts[-1]
                name = ins.argval
                consts.clear()
                if level:  # relative: resolve against the importing package
                    base = module if spec.submodule_search_locations else module.rpartition(".")[0]
                    for _ in range(int(level) - 1):
                        base = base.rpartition(".")[0]
                    name = f"{base}.{name}" if name else base
                names.add(name)
                names.update(f"{name}.{sub}" for sub in fromlist or () if sub != "*")
            elif ins.opname != "EXTENDED_ARG":
                consts.clear()  # the two constants must come right before IMPORT_NAME
    return names


def _importable(name: str) -> str | None:
    """None when `name` imports (or is a plain attribute of its importable parent), else the error."""
    try:
        importlib.import_module(name)
        return None
    except ModuleNotFoundError as e:
        parent, _, attr = name.rpartition(".")
        if e.name == name and parent and _importable(parent) is None:
            if hasattr(sys.modules[parent], attr):
                return None  # `from a import b` where b is a function or class of a
        return f"{type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001 (any import-time failure is what we are looking for)
        return f"{type(e).__name__}: {e}"


def check(package: str = PACKAGE) -> tuple[list[str], list[str]]:
    """(modules imported, problems): every module of `package` and everything they import."""
    wanted: dict[str, str] = {}  # module -> first importer
    for module in package_modules(package):
        wanted.setdefault(module, module)
        for name in sorted(imports_of(module) - OPTIONAL):
            wanted.setdefault(name, module)
    done, problems = [], []
    for name, importer in sorted(wanted.items()):
        error = _importable(name)
        if error:
            problems.append(f"cannot import {name} (imported by {importer}): {error}")
        elif name in sys.modules:
            done.append(name)
    return done, problems


def main(package: str = PACKAGE) -> int:
    done, problems = check(package)
    for name in done:
        print(name)
    for problem in problems:
        print(f"self-check: {problem}", file=sys.stderr)
    frozen = "frozen build" if getattr(sys, "frozen", False) else "Python " + sys.version.split()[0]
    if problems:
        print(
            f"self-check: {len(problems)} of {len(done) + len(problems)} imports failed ({frozen})",
            file=sys.stderr,
        )
        return 1
    print(f"self-check: {len(done)} modules imported ({frozen})", file=sys.stderr)
    return 0
