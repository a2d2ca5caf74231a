"""Label and field selectors, as kubectl and helm send them in `?labelSelector=` / `?fieldSelector=`.

Label selectors support the full set-based grammar (`a=b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`,
`!a`); field selectors support equality on dotted paths (`metadata.name`, `status.phase`, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_SET = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(r"^\s*([\w./-]+)\s*(==|!=|=)\s*([\w./-]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*$")

Predicate = Callable[[dict], bool]


def _split(selector: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p for p in parts if p.strip()]


def _label_term(term: str) -> Predicate:
    if m := _SET.match(term):
        key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m := _EQ.match(term):
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if m := _EXISTS.match(term):
        negate, key = m.groups()
        return lambda labels: (key in labels) != bool(negate)
    raise ValueError(f"unable to parse requirement: {term!r}")


def label_predicate(selector: str) -> Callable[[dict], bool]:
    """A predicate over a labels dict."""
    terms = [_label_term(t) for t in _split(selector or "")]
    return lambda labels: all(t(labels) for t in terms)


def _field(obj: dict, path: str) -> str:
    cur: object = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


def field_predicate(selector: str) -> Predicate:
    terms = []
    for term in _split(selector or ""):
        m = _EQ.match(term)
        if not m:
            raise ValueError(f"invalid field selector: {term!r}")
        path, op, value = m.groups()
        terms.append((path, op == "!=", value))
    return lambda obj: all((_field(obj, p) == v) != neg for p, neg, v in terms)


def matcher(label_selector: str = "", field_selector: str = "") -> Predicate:
    labels = label_predicate(label_selector)
    fields = field_predicate(field_selector)
    return lambda obj: labels(obj.get("metadata", {}).get("labels") or {}) and fields(obj)


def from_label_selector(sel: dict | None) -> str:
    """Turn a `spec.selector` (matchLabels / matchExpressions) into the string form."""
    sel = sel or {}
    terms = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for expr in sel.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op in ("In", "NotIn"):
            terms.append(f"{key} {op.lower()} ({','.join(values)})")
        else:
            terms.append(key if op == "Exists" else f"!{key}")
    return ",".join(terms)
