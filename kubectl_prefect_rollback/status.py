"""`status`: is a rollback unfinished, how far it got (read from the cluster), and the commands that
resume or abort it. Read-only; the document (prefect-rollback/v1 Status) is documented in the README."""

from __future__ import annotations

import datetime as dt
import shlex
from typing import Any

from kubectl_prefect_rollback import constants, downgrade, migrations, output, records, unfinished
from kubectl_prefect_rollback.errors import ParseError
from kubectl_prefect_rollback.unfinished import Facts

API_VERSION = constants.API_VERSION


def command(prog: str, words: list[str], namespace: str, context: str | None) -> str:
    argv = [*words, "-n", namespace]
    if context:
        argv += ["--kube-context" if prog.startswith("helm") else "--context", context]
    return f"{prog} {shlex.join(argv)}"


def document(
    facts: Facts, at: dt.datetime, *, prog: str, namespace: str, context: str | None = None
) -> dict[str, Any]:
    rel = facts.release
    doc: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Status",
        "release": {
            "name": rel.name,
            "namespace": namespace,
            "chart": rel.chart,
            "version": rel.version,
            "revision": rel.revision,
            "status": rel.status,
        },
        "heads": facts.extra.get("heads"),
        "unfinished": None,
        "lastRollback": _last(facts),
        "records": {k: e["heads"] for k, e in sorted(facts.records.items())},
    }
    if facts.lease is not None:
        doc["unfinished"] = _unfinished(facts, at, prog=prog, namespace=namespace, context=context)
    return doc


def _last(facts: Facts) -> dict[str, Any] | None:
    last = unfinished.last_rollback(facts.history)
    if last is None:
        return None
    pair = unfinished.rolled_from(last)
    return {
        "revision": last.revision,
        "updated": last.updated,
        "status": last.status,
        "from": pair[0] if pair else None,
        "to": pair[1] if pair else last.version,
        "description": last.description,
    }


def _unfinished(
    facts: Facts, at: dt.datetime, *, prog: str, namespace: str, context: str | None
) -> dict[str, Any]:
    lease = facts.lease
    assert lease is not None
    lock_doc = unfinished.holder(lease, at)
    try:
        rb = unfinished.rollback_of(lease)
    except ParseError as e:  # status still answers: the lease is there, its facts are not ours
        return {"lock": lock_doc, "error": e.message, "steps": [], "commands": {}}
    dbs = unfinished.database_states(facts, rb)
    replicas = unfinished.replica_states(facts, rb)
    chart = unfinished.chart_state(facts, rb)
    aborting = lock_doc["abort"] is not None
    return {
        "operation": "abort" if aborting else "rollback",
        "from": {"version": rb.from_version, "revision": rb.from_revision, "heads": rb.heads_from},
        "to": {"version": rb.to_version, "heads": rb.heads_to},
        "lock": lock_doc,
        "steps": _steps(facts, rb, dbs, replicas, chart),
        "databases": dbs,
        "replicas": replicas,
        "jobs": [
            {
                "name": j["metadata"]["name"],
                "kind": kind,
                "state": downgrade.job_state(j).value,
            }
            for kind in ("downgrade", unfinished.ABORT)
            for j in unfinished.jobs_of(facts, rb, kind)
        ],
        "chart": {"state": chart, "revision": facts.release.revision, "version": facts.release.version},
        "commands": _commands(facts, rb, chart, aborting, prog=prog, namespace=namespace, context=context),
    }


def _commands(
    facts: Facts,
    rb: unfinished.Rollback,
    chart: str,
    aborting: bool,
    *,
    prog: str,
    namespace: str,
    context: str | None,
) -> dict[str, str | None]:
    """What to run next: the same rollback again (with --retry after a failed Job), or abort."""
    lease = facts.lease
    assert lease is not None
    words = ["rollback", "--to", rb.to_version]
    if lease.state("chart-source"):
        words += ["--chart", str(lease.state("chart-source"))]
    downgrades = unfinished.jobs_of(facts, rb, "downgrade")
    failed = any(downgrade.job_state(j).value == "failed" for j in downgrades)
    resume = command(prog, [*words, *(["--retry"] if failed else []), "--yes"], namespace, context)
    abort_words = ["abort"] + (["--roll-forward"] if chart in ("done", "failed") else [])
    return {
        "resume": None if aborting else resume,
        "abort": command(prog, abort_words, namespace, context),
    }


def _steps(
    facts: Facts, rb: unfinished.Rollback, dbs: dict, replicas: dict, chart: str
) -> list[dict[str, str]]:
    states = [d["state"] for d in dbs.values() if d["state"] not in ("absent", "nothing-to-revert")]
    if not states:
        down = "skipped"
    elif "failed" in states:
        down = "failed"
    elif "downgrading" in states:
        down = "running"
    elif all(s == "downgraded" for s in states):
        down = "done"
    else:
        down = "partial" if "downgraded" in states else "not-started"
    recorded = records.heads(facts.records, rb.from_version) is not None
    scale = unfinished.scale_state(replicas)
    if chart == "done":
        scale = "done"  # the chart step puts the replicas back
    return [
        {"name": "lock", "state": "done"},
        {"name": "scale-down", "state": scale},
        {"name": "record", "state": "done" if recorded else "not-started"},
        {"name": "downgrade", "state": "done" if chart == "done" else down},
        {"name": "chart", "state": chart},
        {"name": "verify", "state": "not-started"},
        {"name": "unlock", "state": "not-started"},
    ]


def table(doc: dict[str, Any]) -> str:
    rel = doc["release"]
    lines = [
        f"release   {rel['name']}  chart {rel['chart']}-{rel['version']}  "
        f"(revision {rel['revision']}, {rel['status']})"
    ]
    heads = doc.get("heads")
    if heads and heads.get("heads"):
        got = "  ".join(f"{db} {heads['heads'].get(db) or '-'}" for db in migrations.DATABASES)
        lines.append(f"heads     {got}   (image heads, from {heads['source']})")
    elif heads:
        lines.append(f"heads     {heads['source']}")
    u = doc["unfinished"]
    if u is None:
        lines.append("no unfinished rollback")
        last = doc["lastRollback"]
        if last:
            lines.append(
                f"last      rollback {last['from'] or '?'} -> {last['to']} at revision {last['revision']} "
                f"({last['status']}, {last['updated']})"
            )
        return "\n".join(lines)
    return "\n".join(lines + _unfinished_lines(u))


def _unfinished_lines(u: dict[str, Any]) -> list[str]:
    lk = u["lock"]
    alive = "alive" if lk["live"] else "not alive"
    lines = [
        f"lock      lease {lk['lease']} held by {lk['holder'] or '(released)'}, {alive}; renewed "
        f"{lk['renewedSecondsAgo']}s ago, expires {lk['expiresAt']}"
    ]
    if "error" in u:
        lines.append(f"error     {u['error']}")
        return lines
    lines.append(
        f"{u['operation']:<9} {u['from']['version']} (revision {u['from']['revision']}) -> "
        f"{u['to']['version']}; started {lk['startedAt']} by {lk['startedBy'] or lk['holder'] or '?'}"
    )
    lines += ["", output.table(["STEP", "STATE"], [[s["name"], s["state"]] for s in u["steps"]]), ""]
    rows = [
        [db, d["from"] or "-", d["to"] or "-", d["state"], d["evidence"]] for db, d in u["databases"].items()
    ]
    lines += [output.table(["DATABASE", "FROM", "TO", "STATE", "EVIDENCE"], rows), ""]
    if u["replicas"]:
        rows = [
            [n, r["saved"], "-" if r["now"] is None else r["now"], r["pods"]]
            for n, r in u["replicas"].items()
        ]
        lines += [output.table(["DEPLOYMENT", "SAVED", "NOW", "PODS"], rows), ""]
    if u["commands"].get("resume"):
        lines.append(f"resume    {u['commands']['resume']}")
    lines.append(f"abort     {u['commands']['abort']}")
    return lines
