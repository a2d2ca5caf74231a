"""The namespace of the current kubeconfig context, read without starting kubectl.

kubectl would tell us (`config view --minify`), but that is a process spawn on every command;
reading the files costs a YAML parse.
"""

from __future__ import annotations

import os
from pathlib import Path


def _files(explicit: str | None) -> list[Path]:
    if explicit:
        return [Path(explicit)]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def context_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    """Namespace set on the chosen (or current) context, merged like kubectl: first file wins."""
    import yaml

    docs = []
    for path in _files(kubeconfig):
        try:
            docs.append(yaml.safe_load(path.read_text()) or {})
        except (OSError, yaml.YAMLError):
            continue
    if context is None:
        context = next((d.get("current-context") for d in docs if d.get("current-context")), None)
    if not context:
        return None
    for doc in docs:
        for entry in doc.get("contexts") or []:
            if entry.get("name") == context:
                return (entry.get("context") or {}).get("namespace") or None
    return None
