"""The plan of an abort, for people (stderr before the confirmation) and machines (`-o json`)."""

from __future__ import annotations

import shlex
from typing import Any

from kubectl_prefect_rollback import constants, redact
from kubectl_prefect_rollback.abortplan import AbortPlan

API_VERSION = constants.API_VERSION


def steps(p: AbortPlan) -> list[dict[str, str]]:
    rb = p.rb
    out = [{"step": "lock", "detail": f"lease {p.lock_name}" + (" (take over)" if p.lease else " (create)")}]
    if p.phase == "before-chart":
        running = ", ".join(f"job/{n}" for n in p.running) or "no downgrade Job is running"
        jobs = ", ".join(f"job/{j['metadata']['name']}" for j in p.jobs) or "nothing to upgrade"
        out += [
            {"step": "stop", "detail": running},
            {
                "step": "upgrade",
                "detail": f"{jobs} (the deployed {rb.from_version} migration Job, as helm runs it)",
            },
            {"step": "clean", "detail": ", ".join(f"job/{n}" for n in p.leftovers) or "no Jobs left"},
        ]
    else:
        out.append({"step": "chart", "detail": shlex.join(redact.argv(p.helm_argv))})
    replicas = ", ".join(f"deployment/{n} -> {r}" for n, r in sorted(rb.replicas.items()) if r)
    heads = ", ".join(f"{db} {h}" for db, h in rb.heads_from.items() if h)
    out += [
        {"step": "restore", "detail": replicas or "no replicas to restore"},
        {
            "step": "verify",
            "detail": f"release {rb.from_version} deployed, server image ready, heads {heads}",
        },
        {"step": "unlock", "detail": f"delete lease {p.lock_name}"},
    ]
    return out


def data_note(p: AbortPlan) -> list[str]:
    """Plainly: what the downgrades dropped does not come back by upgrading."""
    if not p.lost:
        return []
    lines = [
        "Data that does NOT come back: upgrading re-creates what the downgrades dropped, EMPTY.",
        *(f"  {db:<7} {what} (dropped by the downgrade of {rev})" for db, rev, what in p.lost),
    ]
    if p.backup:
        lines.append(f"  To get the rows back, restore from the backup the plugin took: {p.backup}")
    else:
        lines.append("  The plugin took no backup: only your own database backups hold those rows.")
    return lines


def plan_dict(p: AbortPlan) -> dict[str, Any]:
    rb = p.rb
    return redact.doc(
        {
            "apiVersion": API_VERSION,
            "kind": "AbortPlan",
            "release": {
                "name": p.release.name,
                "namespace": p.namespace,
                "chart": p.release.chart,
                "version": p.release.version,
                "revision": p.release.revision,
                "status": p.release.status,
            },
            "phase": p.phase,
            "rollback": {
                "from": {"version": rb.from_version, "revision": rb.from_revision, "heads": rb.heads_from},
                "to": {"version": rb.to_version, "heads": rb.heads_to},
                "finished": p.lease is None,
            },
            "databases": p.databases,
            "lost": [{"database": d, "revision": r, "dropped": x} for d, r, x in p.lost],
            "backup": p.backup,
            "steps": steps(p),
            "jobs": list(p.jobs),
            "helm": {"argv": redact.argv(p.helm_argv), "valuesOnStdin": p.values is not None}
            if p.helm_argv
            else None,
        }
    )


def plan_text(p: AbortPlan) -> str:
    rb, rel = p.rb, p.release
    where = (
        "stopped before the chart step: the release was not changed"
        if p.phase == "before-chart"
        else f"the chart step ran: {rel.chart} {rel.version} (revision {rel.revision}, {rel.status})"
    )
    lines = [
        f"Abort plan for {rel.name} (namespace {p.namespace})",
        f"  rollback  {rb.from_version} (revision {rb.from_revision}) -> {rb.to_version}"
        + (" (finished)" if p.lease is None else "")
        + f"; {where}",
        f"  back to   {rel.chart} {rb.from_version}, heads "
        + ", ".join(f"{db} {h}" for db, h in rb.heads_from.items() if h),
        "",
    ]
    for db, d in p.databases.items():
        if d["state"] == "absent":
            continue
        evidence = f"  ({d['evidence']})" if d.get("evidence") else ""
        what = {
            "downgraded": f"downgraded to {d['to']}: upgrade back to {d['from']}",
            "failed": f"downgrade failed, maybe part way: upgrade back to {d['from']}",
            "downgrading": f"downgrade still running: stop it, upgrade back to {d['from']}",
        }.get(d["state"], f"{d['state']}: stays at {d['from']}")
        lines.append(f"  {db:<7} {what}{evidence}")
    note = data_note(p)
    if note:
        lines += ["", *note]
    lines += ["", "Steps"]
    lines += [f"  {i}  {s['step']:<8} {s['detail']}" for i, s in enumerate(steps(p), 1)]
    return redact.text("\n".join(lines))
