"""The downgrade Jobs, made from the chart's migration Jobs: pure, input dicts never mutated.

Each migration container is rewritten (rewrite.py) to downgrade its database to the target revision,
containers with nothing to revert are dropped, and the Job is cleaned of what the server and helm set,
so `kubectl apply` creates it afresh. A DowngradeJob carries which container reverts which database.
An abort's upgrade Jobs are the same cleaned copies with their commands left as helm runs them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .constants import MIGRATION_TEMPLATE
from .errors import Refused
from .migrations import validate_revision
from .names import fit_name
from .rewrite import DATABASES, classify, container_argv, is_migration, pod_containers, rewrite_container

_SERVER_FIELDS = (
    "uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "ownerReferences",
    "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "generateName", "finalizers",
)  # fmt: skip
_POD_LABELS = re.compile(r"^(controller-uid|job-name|batch\.kubernetes\.io/.*)$")
_HELM_ANNOTATIONS = re.compile(r"^(helm\.sh|meta\.helm\.sh)/")


def _rewrite_pod(
    spec: dict, targets: Mapping[str, str | None], extra: Sequence[str] = ()
) -> tuple[dict, set[str], dict[str, str]]:
    """The pod spec with its migrations rewritten; the databases it still downgrades; which container
    downgrades which database (the first it reverts: its log is labelled so)."""
    new, dbs, containers = dict(spec), set(), {}
    for key in ("initContainers", "containers"):
        if key not in spec:
            continue
        out = []
        for c in spec[key] or []:
            found = classify(container_argv(c))
            if not found:
                out.append(c)  # a sidecar or a helper: untouched
                continue
            rewritten = rewrite_container(c, targets, extra)
            if rewritten is not None:
                out.append(rewritten)
                reverted = [db for db in found if targets.get(db) is not None]
                dbs |= set(reverted)
                containers[c["name"]] = reverted[0]
        new[key] = out
    if not new.get("containers") and new.get("initContainers"):  # a pod needs one container
        new["initContainers"], new["containers"] = new["initContainers"][:-1], new["initContainers"][-1:]
    if "initContainers" in new and not new["initContainers"]:
        del new["initContainers"]
    return new, dbs, containers


def _clean_job(
    job: Mapping[str, Any], pod_spec: dict, labels: Mapping[str, str], annotations: Mapping[str, str]
) -> dict:
    job = copy.deepcopy(dict(job))
    job.pop("status", None)
    meta = job.setdefault("metadata", {})
    for key in _SERVER_FIELDS:
        meta.pop(key, None)
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    kept = {k: v for k, v in (meta.get("annotations") or {}).items() if not _HELM_ANNOTATIONS.match(k)}
    meta["annotations"] = {**kept, **annotations}
    spec = job.setdefault("spec", {})
    for key in ("selector", "manualSelector", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        spec.pop(key, None)
    spec["backoffLimit"] = 0
    template = spec.setdefault("template", {})
    tmeta = template.setdefault("metadata", {})
    tmeta.pop("creationTimestamp", None)
    pod_labels = {k: v for k, v in (tmeta.get("labels") or {}).items() if not _POD_LABELS.match(k)}
    tmeta["labels"] = {**pod_labels, **labels}
    template["spec"] = {**copy.deepcopy(pod_spec), "restartPolicy": "Never"}
    spec["template"] = {"metadata": tmeta, **{k: v for k, v in template.items() if k != "metadata"}}
    return job


@dataclass(frozen=True)
class DowngradeJob:
    """A downgrade Job and what it was made to do: which of its containers reverts which database."""

    manifest: dict[str, Any]
    databases: Mapping[str, str]  # container name -> database
    validated: bool = False  # the plan's server-side dry run passed this very manifest (preflight)

    @property
    def name(self) -> str:
        return self.manifest["metadata"]["name"]


def downgrade_jobs(
    jobs: list[dict],
    targets: Mapping[str, str | None],
    *,
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    extra_args: Sequence[str] = (),
) -> list[DowngradeJob]:
    """The downgrade Jobs made from the migration Jobs; [] when no database has anything to revert.

    extra_args go after `-r <rev>`: `-y` when the image's CLI would otherwise ask for confirmation.

    Raises Refused when no container runs a database upgrade (never apply an unmodified upgrade Job).
    """
    targets = {db: validate_revision(rev) if rev is not None else None for db, rev in targets.items()}
    if not jobs:
        raise Refused(f"no migration Job to rewrite: nothing was rendered from {MIGRATION_TEMPLATE}")
    matched, made = False, []
    for i, job in enumerate(jobs, start=1):
        pod = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
        matched = matched or any(is_migration(c) for _, c in pod_containers(pod))
        new_pod, dbs, containers = _rewrite_pod(pod, targets, extra_args)
        if dbs:
            job = _clean_job(job, new_pod, labels, annotations)
            made.append((i, sorted(dbs, key=DATABASES.index), DowngradeJob(job, containers)))
    if not matched:
        raise Refused(
            f"no container of the {len(jobs)} migration Job(s) runs a database upgrade "
            "(prefect-cloud <nebula|orion|events> database upgrade, or self-managed update-orion)",
            hint="Refusing to go on: an unmodified upgrade Job must never be applied. Check the chart's "
            f"{MIGRATION_TEMPLATE}.",
        )
    per_db = len({tuple(dbs) for _, dbs, _ in made}) == len(made) and all(len(d) == 1 for _, d, _ in made)
    for i, dbs, job in made:
        suffix = "" if len(made) == 1 else f"-{dbs[0]}" if per_db else f"-{i}"
        job.manifest["metadata"]["name"] = fit_name(name + suffix)
    return [job for _, _, job in made]


def upgrade_jobs(
    deployed: list[dict[str, Any]], *, name: str, labels: dict[str, str], annotations: dict[str, str]
) -> list[dict[str, Any]]:
    """The deployed migration Jobs as helm runs them (their upgrade commands untouched), renamed, hook
    annotations stripped, backoffLimit 0, restartPolicy Never. Pure."""
    made = []
    for job in deployed:
        pod = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
        if any(is_migration(c) for _, c in pod_containers(pod)):
            # the downgrade Job's cleaning, with the pod spec left as it is
            made.append(_clean_job(job, pod, labels, annotations))
    for i, job in enumerate(made, start=1):
        job["metadata"]["name"] = fit_name(name + ("" if len(made) == 1 else f"-{i}"))
    return made
