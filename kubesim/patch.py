"""PATCH bodies: strategic merge (kubectl apply, helm 3 upgrade), JSON merge, JSON patch.

Strategic merge needs to know which lists merge by which key. A real server reads that from the Go
struct tags; kubesim keeps a table of the lists that occur in pod specs and object metadata, and
replaces every other list wholesale (which is also what the server does for lists without a key).
"""

from __future__ import annotations

import copy
from typing import Any

# field name -> merge key (for lists of objects); "ports" depends on its parent, see _merge_key
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
}
PRIMITIVE_SETS = {"finalizers"}  # lists of scalars with patchStrategy=merge
ORDER = "$setElementOrder/"
DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


class PatchError(ValueError):
    pass


def _merge_key(field: str, items: list) -> str | None:
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict) and "$patch" not in i), {})
        return "containerPort" if "containerPort" in sample else "port"
    return MERGE_KEYS.get(field)


def strategic_merge(live: Any, patch: Any) -> Any:
    if not isinstance(patch, dict) or not isinstance(live, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    out = copy.deepcopy(live)
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith(ORDER):
            continue
        if key.startswith(DELETE_PRIMITIVE):
            field = key[len(DELETE_PRIMITIVE) :]
            out[field] = [v for v in out.get(field) or [] if v not in value]
        elif value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            if value.get("$patch") == "delete":
                out.pop(key, None)
            else:
                out[key] = strategic_merge(out.get(key) if isinstance(out.get(key), dict) else {}, value)
        elif isinstance(value, list):
            out[key] = _merge_list(key, out.get(key) or [], value)
        else:
            out[key] = copy.deepcopy(value)
    if retain is not None:
        out = {k: v for k, v in out.items() if k in retain or k in patch}
    for key, order in patch.items():
        if key.startswith(ORDER) and isinstance(out.get(key[len(ORDER) :]), list):
            field = key[len(ORDER) :]
            out[field] = _reorder(field, out[field], order)
    return out


def _merge_list(field: str, live: list, patch: list) -> list:
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [copy.deepcopy(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    if field in PRIMITIVE_SETS:
        return list(live) + [p for p in patch if p not in live]
    key = _merge_key(field, patch + live)
    if key is None or not all(isinstance(p, dict) for p in patch):
        return copy.deepcopy(patch)
    out = copy.deepcopy(live)
    for item in patch:
        idx = next(
            (i for i, cur in enumerate(out) if isinstance(cur, dict) and cur.get(key) == item.get(key)), None
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                del out[idx]
        elif idx is None:
            out.append(strategic_merge({}, item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


def _reorder(field: str, items: list, order: list) -> list:
    key = _merge_key(field, items)

    def ident(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [ident(o) for o in order]
    ranked = sorted(items, key=lambda i: wanted.index(ident(i)) if ident(i) in wanted else len(wanted))
    return ranked


def json_merge(live: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(live) if isinstance(live, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = json_merge(out.get(key), value)
    return out


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    for p in parts:
        doc = doc[int(p)] if isinstance(doc, list) else doc[p]
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    parent = _walk(doc, parts[:-1])
    return parent.pop(int(parts[-1]) if isinstance(parent, list) else parts[-1])


def _add(doc: Any, parts: list[str], value: Any) -> None:
    parent = _walk(doc, parts[:-1])
    if isinstance(parent, list):
        parent.insert(len(parent) if parts[-1] == "-" else int(parts[-1]), value)
    else:
        parent[parts[-1]] = value


def json_patch(live: Any, ops: list[dict]) -> Any:
    """RFC 6902."""
    doc = copy.deepcopy(live)
    try:
        for op in ops:
            parts, kind = _pointer(op["path"]), op["op"]
            if kind == "add":
                _add(doc, parts, copy.deepcopy(op["value"]))
            elif kind == "remove":
                _remove(doc, parts)
            elif kind == "replace":
                _remove(doc, parts)
                _add(doc, parts, copy.deepcopy(op["value"]))
            elif kind in ("move", "copy"):
                src = _pointer(op["from"])
                value = _remove(doc, src) if kind == "move" else copy.deepcopy(_walk(doc, src))
                _add(doc, parts, value)
            elif kind == "test":
                if _walk(doc, parts) != op["value"]:
                    raise PatchError(f"test failed at {op['path']}")
            else:
                raise PatchError(f"unknown op {kind!r}")
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise PatchError(f"the server rejected our request due to an error in our request: {e}") from e
    return doc
