"""Migration heads per chart version, kept in a ConfigMap so a later rollback to that version needs
no probe, and `history` can show them."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from kubectl_prefect_rollback import kube, migrations
from kubectl_prefect_rollback.target import Target

LABELS = {"app.kubernetes.io/managed-by": "kubectl-prefect-rollback"}


def name(release: str) -> str:
    return f"{release}-prefect-rollback-revisions"


def key(version: str) -> str:
    return re.sub(r"[^-._a-zA-Z0-9]", "_", version)  # ConfigMap keys allow [-._a-zA-Z0-9]


def parse(cm: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    out = {}
    for k, value in ((cm or {}).get("data") or {}).items():
        try:
            out[k] = json.loads(value)
        except json.JSONDecodeError:
            continue  # a hand-edited entry must not break the tool; it is simply not used
    return out


def read(t: Target, release: str) -> dict[str, dict[str, Any]]:
    return parse(kube.get(t, "configmap", name(release)))


def heads(records: dict[str, dict[str, Any]], version: str) -> dict[str, str | None] | None:
    entry = records.get(key(version))
    if not entry or not isinstance(entry.get("heads"), dict):
        return None
    return {db: entry["heads"].get(db) for db in migrations.DATABASES}


def write(t: Target, release: str, entries: dict[str, tuple[dict[str, str | None], str]]) -> bool:
    """Store {version: (heads, source)}; False when every one of them is already recorded as is."""
    cm = kube.get(t, "configmap", name(release))
    known = parse(cm)
    todo = {v: e for v, e in entries.items() if heads(known, v) != e[0]}
    if not todo:
        return False
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data = {
        key(v): json.dumps({"heads": h, "source": src, "recorded": stamp}) for v, (h, src) in todo.items()
    }
    if cm is None:
        kube.create(
            t,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": name(release),
                    "labels": {**LABELS, "app.kubernetes.io/instance": release},
                },
                "data": data,
            },
        )
    else:
        cm = {k: v for k, v in cm.items() if k != "status"}
        cm["data"] = {**(cm.get("data") or {}), **data}
        kube.replace(t, cm)
    return True
