"""The rollback an abort undoes: which one (the unfinished one its lease describes, or the finished one
helm history shows), where a finished one left the databases, what its downgrades dropped, and the
backup the plugin took before it. Reads only, apart from a probe pod when the from-heads or the data
lost have to be read from the from-image."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kubectl_prefect_rollback import heads, leases, migrations, probe, records, unfinished, versions
from kubectl_prefect_rollback.errors import AlreadyDone, Refused
from kubectl_prefect_rollback.helm import Release
from kubectl_prefect_rollback.target import Target
from kubectl_prefect_rollback.unfinished import Rollback


def rollback(facts: unfinished.Facts, *, force_unlock: bool) -> Rollback:
    """The rollback to abort: the unfinished one its lease describes (if this run may take the lease
    over), else the finished one helm history shows."""
    if facts.lease is None:
        return finished(facts)
    leases.check_takeover(facts.lease, facts.lease.target, force_unlock=force_unlock, at=leases.now())
    return unfinished.rollback_of(facts.lease)


def probed(
    t: Target, rel: Release, rb: Rollback, jobs_then: list[dict[str, Any]], touched: list[str]
) -> tuple[Rollback, tuple[tuple[str, str, str], ...]]:
    """What the downgrades dropped, and the from-heads when the rollback recorded none: both from a
    probe pod of the from-version's migration Job. No probe when neither is needed."""
    if not touched and any(rb.heads_from.values()):
        return rb, ()
    chains = probe.probe(t, jobs_then[0], name=f"{rel.name}-probe-{versions.dashed(rb.from_version)}").chains
    dropped = lost(rb, chains, touched)
    if not any(rb.heads_from.values()):  # a finished rollback that recorded nothing: the image knows
        rb = replace(rb, heads_from=heads.heads_of(chains))
    return rb, dropped


def backup(facts: unfinished.Facts, from_version: str) -> str | None:
    """The plugin's backup taken at the from-version (before this rollback), named for the plan."""
    doc = facts.backup
    if not doc or doc.get("version") != from_version:
        return None  # none, or one of an earlier rollback: its rows are not this one's
    dbs = ", ".join(sorted(doc.get("databases") or {}))
    return f"{doc.get('dir', '?')} ({dbs}; `restore --from {doc.get('dir', 'DIR')}`)"


def finished(facts: unfinished.Facts) -> Rollback:
    """No lease: only a finished rollback can be aborted (rolled forward), from helm history."""
    rel = facts.release
    ours = unfinished.last_rollback(facts.history)
    pair = unfinished.rolled_from(ours) if ours else None
    if ours is None or ours.revision != rel.revision or pair is None or rel.version != pair[1]:
        raise AlreadyDone(
            f"no unfinished rollback of {rel.name}, and its revision {rel.revision} is not a finished "
            "one: nothing to abort"
        )
    before = [h for h in facts.history if h.revision < ours.revision and h.version == pair[0]]
    if not before:
        raise Refused(f"helm history of {rel.name} has no revision at {pair[0]} to go back to")
    frm = max(before, key=lambda h: h.revision)
    heads_from = records.heads(facts.records, pair[0]) or {}
    heads_to = records.heads(facts.records, pair[1]) or {}
    live = {d["metadata"]["name"]: int((d.get("spec") or {}).get("replicas", 1)) for d in facts.deployments}
    return Rollback(pair[1], pair[0], frm.revision, heads_from, heads_to, live)


def all_downgraded(rb: Rollback) -> dict[str, dict[str, Any]]:
    out = {}
    for db in migrations.DATABASES:
        frm, to = rb.heads_from.get(db), rb.heads_to.get(db)
        state = "absent" if frm is None and to is None else "nothing-to-revert" if frm == to else "downgraded"
        out[db] = {"from": frm, "to": to, "state": state, "evidence": "helm history (the rollback finished)"}
    return out


def lost(rb: Rollback, chains: dict, touched: list[str]) -> tuple[tuple[str, str, str], ...]:
    """What the downgrades already run dropped: the from-image's chains know (a probe pod of its Job)."""
    from kubectl_prefect_rollback.show import _dropped

    out = []
    for db in touched:
        chain, target = chains.get(db), rb.heads_to.get(db)
        if chain is None or target is None or not chain.contains(target):
            continue
        for m in chain.path_to(target):
            out += [(db, m.revision, _dropped(d)) for d in m.drops]
    return tuple(out)
