"""`revisions` and `history` as stable documents (prefect-rollback/v1) and as tables: pure functions of
what the commands read, so every shape is tested without a cluster."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubectl_prefect_rollback import output
from kubectl_prefect_rollback.constants import DATABASES
from kubectl_prefect_rollback.migrations import Chain
from kubectl_prefect_rollback.show import API_VERSION, migration_dict


def chains_dict(chains: Mapping[str, Chain | None], full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for db, chain in chains.items():
        if chain is None:
            out[db] = {"present": False, "head": None, "count": 0}
            continue
        entry: dict[str, Any] = {
            "present": True,
            "head": chain.head,
            "count": chain.count,
            "newestFile": chain.newest_file,
        }
        if full:
            entry["migrations"] = [
                {**migration_dict(m), "downRevisions": list(m.down_revisions)} for m in chain.migrations
            ]
        out[db] = entry
    return out


def revisions_doc(
    rel: Any,  # helm.Release
    namespace: str,
    source: tuple[str, str],  # server pod, container
    chains: Mapping[str, Chain | None],
    *,
    full: bool,
    target: tuple[str, Mapping[str, str | None]] | None = None,  # --to VERSION, its recorded heads
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Revisions",
        "release": {
            "name": rel.name,
            "namespace": namespace,
            "chart": rel.chart,
            "version": rel.version,
            "appVersion": rel.app_version,
            "revision": rel.revision,
            "status": rel.status,
        },
        "source": {"pod": source[0], "container": source[1]},
        "databases": chains_dict(chains, full),
    }
    if target is not None:
        version, heads = target
        doc["target"] = {"version": version, "heads": heads}
        for db, entry in doc["databases"].items():
            chain, tgt = chains.get(db), heads.get(db)
            entry["target"] = tgt
            entry["toRevert"] = len(chain.path_to(tgt)) if chain and tgt and chain.contains(tgt) else None
    return doc


def revisions_header(doc: Mapping[str, Any]) -> str:
    """The lines above the table (said on stderr: the table is the data)."""
    rel, src = doc["release"], doc["source"]
    return (
        f"release   {rel['name']}  chart {rel['chart']}-{rel['version']}  app {rel['appVersion']}  "
        f"(revision {rel['revision']}, {rel['status']})\n"
        f"pod       {src['pod']}  container {src['container']}\n"
    )


def revisions_table(doc: Mapping[str, Any], chains: Mapping[str, Chain | None], *, full: bool) -> str:
    with_target = "target" in doc
    headers = ["DATABASE", "HEAD", "MIGRATIONS", "NEWEST FILE"] + (
        ["TARGET", "TO REVERT"] if with_target else []
    )
    rows = []
    for db, entry in doc["databases"].items():
        row = [db, entry["head"] or "-", entry["count"], entry.get("newestFile") or "(absent)"]
        if with_target:
            row += [entry.get("target") or "-", "?" if entry.get("toRevert") is None else entry["toRevert"]]
        rows.append(row)
    text = output.table(headers, rows)
    if full:
        text += "".join(_chain_table(db, chain) for db, chain in chains.items() if chain is not None)
    return text


def _chain_table(db: str, chain: Chain) -> str:
    rows = [
        ["!" if m.destructive else "", m.revision, ",".join(m.down_revisions) or "-", m.file, m.description]
        for m in chain.migrations
    ]
    return f"\n\n{db} (newest first, ! = downgrade drops data)\n" + output.table(
        ["", "REVISION", "DOWN REVISION", "FILE", "DESCRIPTION"], rows
    )


def history_doc(
    release: str,
    history: Sequence[Any],  # helm.Release, one per helm revision
    recorded: Mapping[str, Mapping[str, str | None] | None],  # chart version -> heads recorded for it
) -> dict[str, Any]:
    rows = [
        {
            "revision": h.revision,
            "updated": h.updated,
            "status": h.status,
            "chart": h.chart,
            "version": h.version,
            "appVersion": h.app_version,
            "description": h.description,
            "heads": dict(recorded.get(h.version) or {}) or None,
        }
        for h in history
    ]
    return {"apiVersion": API_VERSION, "kind": "History", "release": release, "revisions": rows}


def history_table(doc: Mapping[str, Any]) -> str:
    return output.table(
        ["REVISION", "STATUS", "CHART", "APP", "NEBULA", "ORION", "EVENTS", "DESCRIPTION"],
        [
            [
                r["revision"],
                r["status"],
                f"{r['chart']}-{r['version']}",
                r["appVersion"],
                *((r["heads"] or {}).get(db) or "-" for db in DATABASES),
                r["description"][:60],
            ]
            for r in doc["revisions"]
        ],
    )
