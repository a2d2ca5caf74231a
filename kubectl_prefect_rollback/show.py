"""Plans as text for people and as stable documents (prefect-rollback/v1) for machines.

`revisions` and `history` are shown by show_revisions.py."""

from __future__ import annotations

import re
import shlex
from typing import Any

from kubectl_prefect_rollback import constants, redact
from kubectl_prefect_rollback.plan import Plan

API_VERSION = constants.API_VERSION


def migration_dict(m: Any) -> dict[str, Any]:
    return {
        "revision": m.revision,
        "file": m.file,
        "description": m.description,
        "destructive": m.destructive,
        "drops": list(m.drops),
    }


def plan_dict(plan: Plan) -> dict[str, Any]:
    """The plan for machines, redacted as a whole (its Jobs carry the migration container's env)."""
    return redact.doc(_plan_dict(plan))


def _plan_dict(plan: Plan) -> dict[str, Any]:
    rel = plan.release
    return {
        "apiVersion": API_VERSION,
        "kind": "Plan",
        "release": {
            "name": rel.name,
            "namespace": plan.namespace,
            "chart": rel.chart,
            "revision": rel.revision,
            "status": rel.status,
        },
        "from": {"version": plan.from_version, "revision": plan.from_revision},
        "to": {"version": plan.to_version, "chart": plan.chart},
        "resumed": plan.resumed,
        "values": {"source": plan.values_source},
        "sources": {"current": plan.current_source, "target": plan.target_source},
        "databases": {
            d.name: {
                "present": d.present,
                "current": d.current,
                "target": d.target,
                "revert": [migration_dict(m) for m in d.revert],
            }
            for d in plan.databases
        },
        "steps": steps(plan),
        "jobs": list(plan.jobs),
        "helm": {"argv": redact.argv(plan.helm_argv), "valuesOnStdin": plan.values is not None},
        "warnings": list(plan.warnings),
    }


def steps(plan: Plan) -> list[dict[str, str]]:
    scale = ", ".join(f"deployment/{n} {r} -> 0" for n, r in plan.deployments) or "no deployments"
    jobs = ", ".join(f"job/{j['metadata']['name']}" for j in plan.jobs) or "nothing to revert"
    return [
        {"step": "lock", "detail": f"lease {plan.lock_name}"},
        {"step": "scale-down", "detail": scale},
        {"step": "record", "detail": f"configmap {plan.record_name}, written during the scale-down"},
        {"step": "downgrade", "detail": jobs},
        {"step": "chart", "detail": shlex.join(redact.argv(plan.helm_argv))},
        {"step": "verify", "detail": f"release {plan.to_version} deployed, server image ready, heads match"},
        {"step": "unlock", "detail": f"delete lease {plan.lock_name}"},
    ]


def plan_text(plan: Plan) -> str:
    rel = plan.release
    lines = [
        f"Rollback plan for {rel.name} (namespace {plan.namespace})"
        + ("  [resuming an unfinished run]" if plan.resumed else ""),
        f"  chart     {rel.chart} {plan.from_version} -> {plan.to_version}   ({plan.chart})",
        f"  values    from {plan.values_source}",
        f"  heads     current from {plan.current_source}; target from {plan.target_source}",
        "",
    ]
    for d in plan.databases:
        if not d.present:
            lines.append(f"  {d.name:<7} absent in both releases")
            continue
        if not d.revert and d.current == d.target:
            lines.append(f"  {d.name:<7} {d.current} -> {d.target}   nothing to revert")
            continue
        count = f"{len(d.revert)} migration(s) to revert" if d.revert else "(revision list in the lock)"
        lines.append(f"  {d.name:<7} {d.current} -> {d.target}   {count}")
        for m in sorted(d.revert, key=lambda m: not m.destructive):
            flag = "!" if m.destructive else " "
            drops = f"   downgrade drops {', '.join(_dropped(x) for x in m.drops)}" if m.drops else ""
            lines.append(f"          {flag} {m.revision}  {m.description or m.file}{drops}")
    lines += ["", "Steps"]
    for i, s in enumerate(steps(plan), 1):
        lines.append(f"  {i}  {s['step']:<11} {s['detail']}")
    if plan.warnings:
        lines.append("Warnings")
        lines += [f"  - {w}" for w in plan.warnings]
    return redact.text("\n".join(lines))


_DROP = re.compile(r"""drop_(table|column)\(\s*["']([^"']+)["'](?:\s*,\s*["']([^"']+)["'])?""")


def _dropped(line: str) -> str:
    """`op.drop_column("account", "sso_domain")` -> `column account.sso_domain`; raw SQL stays as is."""
    m = _DROP.search(line)
    if not m:
        return line
    return f"table {m.group(2)}" if m.group(1) == "table" else f"column {m.group(2)}.{m.group(3) or '?'}"
