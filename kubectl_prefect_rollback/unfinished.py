"""An unfinished rollback as the cluster shows it now: its lease, its Jobs and their pods, the
Deployments, the release. `status` prints it and `abort` decides from it.

Reads only. The derivations are pure (tested with recorded objects): what each step left is judged from
the objects themselves, never from what a run remembers, because the run may have died."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kubectl_prefect_rollback import downgrade, helm, kube, leases, migrations, proc, records, resume, rewrite
from kubectl_prefect_rollback.constants import FROM_REVISION, OURS_SELECTOR, PREFIX
from kubectl_prefect_rollback.downgrade import JobState
from kubectl_prefect_rollback.helm import Release
from kubectl_prefect_rollback.target import Target

OURS = OURS_SELECTOR
ABORT = "abort"  # the prefect-rollback/kind annotation of an abort's upgrade Job


@dataclass(frozen=True)
class Facts:
    release: Release
    history: tuple[Release, ...]
    lease: leases.LeaseView | None
    records: dict[str, dict[str, Any]]
    deployments: tuple[dict[str, Any], ...]  # the release's (by app.kubernetes.io/instance)
    jobs: tuple[dict[str, Any], ...]  # ours, for this release
    pods: tuple[dict[str, Any], ...]  # of our Jobs
    backup: dict[str, Any] | None = None  # the newest backup the plugin took (records ConfigMap)
    extra: dict[str, Any] = field(default_factory=dict)


def gather(t: Target, rel: Release) -> Facts:
    selector = f"{OURS},app.kubernetes.io/instance={rel.name}"
    history, lease, cm, live, ours = proc.gather(
        lambda: helm.history(t, rel.name),
        lambda: leases.read(t, rel.name),
        lambda: kube.get(t, "configmap", records.name(rel.name)),
        lambda: kube.list_(t, "deployments", f"app.kubernetes.io/instance={rel.name}"),
        lambda: kube.list_(t, "jobs,pods", selector),
    )
    return Facts(
        release=rel,
        history=tuple(history),
        lease=lease,
        records=records.parse(cm),
        deployments=tuple(live),
        jobs=tuple(o for o in ours if o.get("kind") == "Job"),
        pods=tuple(o for o in ours if o.get("kind") == "Pod"),
        backup=records.backup(cm),
    )


@dataclass(frozen=True)
class Rollback:
    """The facts the unfinished run left on its lease (resume.lease_facts checked them)."""

    to_version: str
    from_version: str
    from_revision: int
    heads_from: dict[str, str | None]
    heads_to: dict[str, str | None]
    replicas: dict[str, int]


def rollback_of(lease: leases.LeaseView) -> Rollback:
    version, revision, heads = resume.lease_facts(lease)
    return Rollback(
        to_version=lease.target,
        from_version=version,
        from_revision=revision,
        heads_from={db: heads["from"].get(db) for db in migrations.DATABASES},
        heads_to={db: heads["to"].get(db) for db in migrations.DATABASES},
        replicas={n: int(r) for n, r in (lease.state("replicas") or {}).items()},
    )


def _ann(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def jobs_of(facts: Facts, rb: Rollback, kind: str) -> list[dict[str, Any]]:
    """Our Jobs of this unfinished rollback: its downgrade Jobs, or its abort's upgrade Jobs."""
    out = []
    for job in facts.jobs:
        a = _ann(job)
        if a.get(FROM_REVISION) != str(rb.from_revision):
            continue
        if a.get(PREFIX + "to-version") != rb.to_version:
            continue
        if (a.get(PREFIX + "kind") == ABORT) == (kind == ABORT):
            out.append(job)
    return sorted(out, key=lambda j: j["metadata"]["name"])


def pod_of(facts: Facts, job: dict[str, Any]) -> dict[str, Any] | None:
    name = job["metadata"]["name"]
    pods = [p for p in facts.pods if (p["metadata"].get("labels") or {}).get("job-name") == name]
    pods.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)
    return pods[0] if pods else None


def job_databases(job: dict[str, Any]) -> dict[str, str]:
    """Container -> database, for the migration containers of a downgrade or an upgrade Job."""
    found = dict(downgrade.migration_containers(job))
    spec = job["spec"]["template"]["spec"]
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        dbs = rewrite.classify(rewrite.container_argv(c))
        if dbs and c["name"] not in found:
            found[c["name"]] = dbs[0]
    return found


def container_codes(pod: dict[str, Any] | None) -> dict[str, int | None]:
    """Exit code per container; None while it has not terminated."""
    status = (pod or {}).get("status") or {}
    out: dict[str, int | None] = {}
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        term = (cs.get("state") or {}).get("terminated")
        out[cs["name"]] = None if term is None else int(term.get("exitCode", 1))
    return out


def database_states(facts: Facts, rb: Rollback) -> dict[str, dict[str, Any]]:
    """Per database: what the downgrade did to it, from the Jobs' own containers.

    state: unchanged | nothing-to-revert | downgraded | downgrading | failed (may be part way) | absent."""
    out: dict[str, dict[str, Any]] = {}
    done = facts.lease is not None and facts.lease.state("downgrade") == "done"
    for db in migrations.DATABASES:
        frm, to = rb.heads_from.get(db), rb.heads_to.get(db)
        if frm is None and to is None:
            state = "absent"
        elif frm == to:
            state = "nothing-to-revert"
        else:
            state = "downgraded" if done else "unchanged"
        out[db] = {"from": frm, "to": to, "state": state, "evidence": "the lock lease" if done else ""}
    if done:
        return out
    for job in jobs_of(facts, rb, "downgrade"):
        name, codes = job["metadata"]["name"], container_codes(pod_of(facts, job))
        job_state = downgrade.job_state(job)
        for container, db in job_databases(job).items():
            code = codes.get(container)
            if db not in out:
                continue
            if code == 0:
                state = "downgraded"
            elif code is not None:
                state = "failed"
            elif job_state is JobState.ACTIVE:
                state = "downgrading"
            elif job_state is JobState.FAILED:
                state = "failed"  # the pod is gone: the container may have run part way
            else:
                state = "downgraded" if job_state is JobState.SUCCEEDED else "unchanged"
            evidence = f"job/{name} container {container}" + ("" if code is None else f" exit {code}")
            out[db].update(state=state, evidence=evidence)
    return out


def chart_state(facts: Facts, rb: Rollback) -> str:
    """not-started | pending | failed | done: has the chart step moved the release?"""
    rel = facts.release
    later = [h for h in facts.history if h.revision > rb.from_revision]
    if not later:
        return "not-started"
    if rel.pending:
        return "pending"
    if rel.status == "deployed" and rel.version == rb.to_version:
        return "done"
    return "failed"


def replica_states(facts: Facts, rb: Rollback) -> dict[str, dict[str, Any]]:
    live = {d["metadata"]["name"]: d for d in facts.deployments}
    out = {}
    for name, saved in sorted(rb.replicas.items()):
        d = live.get(name)
        now = None if d is None else int((d.get("spec") or {}).get("replicas", 1))
        pods = None if d is None else int((d.get("status") or {}).get("replicas") or 0)
        out[name] = {"saved": saved, "now": now, "pods": pods}
    return out


def scale_state(replicas: dict[str, dict[str, Any]]) -> str:
    """not-started | partial | done | restored, judged from the Deployments."""
    wanted = {n: r for n, r in replicas.items() if r["saved"]}
    if not wanted:
        return "done"
    down = [n for n, r in wanted.items() if r["now"] == 0]
    if not down:
        return "not-started"
    if len(down) < len(wanted) or any(wanted[n]["pods"] for n in down):
        return "partial"
    return "done"


def holder(lease: leases.LeaseView, at: dt.datetime) -> dict[str, Any]:
    expiry = leases.expires_at(lease)
    age = lease.seconds_since_renewal(at)
    meta = lease.obj.get("metadata") or {}
    return {
        "lease": meta.get("name"),
        "holder": lease.holder or None,
        "live": lease.live(at),
        "renewedSecondsAgo": None if age is None else round(age, 1),
        "expiresAt": None if expiry is None else leases.micro_time(expiry)[:19] + "Z",
        "startedBy": lease.state("started-by"),
        "startedAt": meta.get("creationTimestamp"),
        "abort": lease.state("abort"),
    }


def last_rollback(history: tuple[Release, ...]) -> Release | None:
    ours = [h for h in history if h.description.startswith("prefect-rollback:")]
    return max(ours, key=lambda h: h.revision) if ours else None


def rolled_from(rel: Release) -> tuple[str, str] | None:
    """("1.3.0", "1.2.0") from our description `prefect-rollback: 1.3.0 -> 1.2.0; …`."""
    head = rel.description.removeprefix("prefect-rollback:").split(";", 1)[0].strip()
    if " -> " not in head:
        return None
    a, b = (s.strip() for s in head.split(" -> ", 1))
    return a, b
