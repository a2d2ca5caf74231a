"""The namespace of the current kubeconfig context, read without starting kubectl.

kubectl would tell us (`config view --minify`), but that is a process spawn on every command;
reading the files costs a YAML parse. Files are read the way kubectl reads them: a --kubeconfig that
is missing or broken is an error (never a silent `default`), missing entries of $KUBECONFIG are skipped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kubectl_prefect_rollback import yamlsafe
from kubectl_prefect_rollback.errors import BadInput, ParseError, RollbackError


def _files(explicit: str | None) -> list[tuple[Path, bool]]:
    """(path, must exist)."""
    if explicit is not None:
        return [(Path(explicit), True)]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [(Path(p), False) for p in env.split(os.pathsep) if p]
    return [(Path.home() / ".kube" / "config", False)]


def _read(path: Path, required: bool, flag: bool) -> dict[str, Any] | None:
    error = BadInput if flag else RollbackError
    try:
        text = path.read_text()
    except FileNotFoundError:
        if required:
            raise error(f"kubeconfig {path} does not exist") from None
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"kubeconfig {path} cannot be read: {getattr(e, 'strerror', None) or e}") from None
    try:
        doc = yamlsafe.load_mapping(text, what=f"kubeconfig {path}")
    except ParseError as e:
        raise error(e.message) from None
    for key in ("contexts", "clusters", "users"):
        if doc.get(key) is not None and not (
            isinstance(doc[key], list) and all(isinstance(x, dict) for x in doc[key])
        ):
            raise error(f"kubeconfig {path}: {key} is not a list of mappings")
    return doc


def context_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    """Namespace set on the chosen (or current) context, merged like kubectl: first file wins."""
    if kubeconfig == "":
        raise BadInput("--kubeconfig '' names no file")
    files = _files(kubeconfig)
    docs = [d for path, must in files if (d := _read(path, must, kubeconfig is not None)) is not None]
    if context is None:
        context = next((d.get("current-context") for d in docs if d.get("current-context")), None)
    if not context:
        return None
    for doc in docs:
        for entry in doc.get("contexts") or []:
            if entry.get("name") == context:
                ctx = entry.get("context") or {}
                if not isinstance(ctx, dict):
                    raise RollbackError(f"kubeconfig context {context!r} is not a mapping")
                namespace = ctx.get("namespace")
                return str(namespace) if namespace else None
    return None
