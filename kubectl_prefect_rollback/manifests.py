"""Kubernetes documents, pure: find the migration Job, make the downgrade Job and the probe pod, redact.

Nothing here talks to a cluster; inputs are the text of `helm get hooks|manifest` or `helm template`.
Input dicts are never mutated.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from . import yamlsafe
from .errors import ParseError, Refused
from .migrations import validate_revision
from .redact import REDACTED  # noqa: F401  (re-exported: the tests and callers name it here)
from .redact import doc as redact_doc
from .rewrite import DATABASES, classify, container_argv, rewrite_container

MIGRATION_TEMPLATE = "templates/db-migration-job.yaml"
PROBE_CONTAINER = "probe"
MAX_NAME = 63

_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)
_SOURCE = re.compile(r"^#[ \t]*Source:[ \t]*(\S.*?)[ \t]*$", re.MULTILINE)
_SERVER_FIELDS = (
    "uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "ownerReferences",
    "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "generateName", "finalizers",
)  # fmt: skip
_POD_LABELS = re.compile(r"^(controller-uid|job-name|batch\.kubernetes\.io/.*)$")
_HELM_ANNOTATIONS = re.compile(r"^(helm\.sh|meta\.helm\.sh)/")


def load_documents(text: str, what: str = "the manifest") -> list[tuple[str | None, dict]]:
    """(`# Source:` path or None, document) for every non-empty YAML document in a multi-doc text.

    `what` names the text's origin (`helm get hooks customer-managed`) in errors."""
    docs = []
    for n, chunk in enumerate(_SEPARATOR.split(text or ""), start=1):
        doc = yamlsafe.load(chunk, what=f"document {n} of {what}")
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ParseError(f"document {n} of {what} is not a mapping but a {type(doc).__name__}")
        source = _SOURCE.search(chunk)
        docs.append((source.group(1) if source else None, doc))
    return docs


def _source_matches(path: str | None, source: str) -> bool:
    # helm writes `<chart>/<template path>`; a subchart's is `<chart>/charts/<sub>/templates/…`.
    return path is not None and (path == source or path.split("/", 1)[-1] == source)


def migration_jobs(text: str, source: str = MIGRATION_TEMPLATE, *, what: str = "the manifest") -> list[dict]:
    """The `kind: Job` documents rendered from `source` (of the top-level chart unless `source` says)."""
    jobs = [
        doc
        for path, doc in load_documents(text, what)
        if doc.get("kind") == "Job" and _source_matches(path, source)
    ]
    for job in jobs:
        check_job(job, what)
    return jobs


def check_job(job: Mapping[str, Any], what: str) -> None:
    """A Job we rewrite must have the shape of one: a wrong type would end in a traceback later."""
    name = (job.get("metadata") or {}).get("name", "?") if isinstance(job.get("metadata"), dict) else "?"
    node: Any = job
    for path in ("metadata", "spec", "spec.template", "spec.template.spec"):
        node = job
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise ParseError(f"Job {name} in {what}: {path} is not a mapping")
    for key in ("containers", "initContainers"):
        items = node.get(key)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(c, dict) for c in items):
            raise ParseError(f"Job {name} in {what}: spec.template.spec.{key} is not a list of mappings")
        for c in items:
            for field, kind in (
                ("name", str),
                ("image", str),
                ("command", list),
                ("args", list),
                ("env", list),
            ):
                if field in c and not isinstance(c[field], kind):
                    cname = c.get("name", "?")
                    raise ParseError(
                        f"Job {name} in {what}: container {cname} {field} is not a {kind.__name__}"
                    )


def fit_name(name: str) -> str:
    """A DNS-1123 label: shortened with a hash of the whole name when longer than 63 characters."""
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9].rstrip('-.')}-{digest}"


def job_name(release: str, version: str, suffix: str = "downgrade") -> str:
    """Deterministic name, e.g. `customer-managed-downgrade-to-1-2-0`."""
    raw = f"{release}-{suffix}-to-{version}"
    return fit_name(re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", raw.lower())).strip("-"))


def _containers(spec: Mapping[str, Any]) -> Iterable[tuple[str, dict]]:
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            yield key, c


def _is_migration(container: Mapping[str, Any]) -> bool:
    return bool(classify(container_argv(container)))


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
        matched = matched or any(_is_migration(c) for _, c in _containers(pod))
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


def probe_pod(job: Mapping[str, Any], *, name: str, script: str, labels: Mapping[str, str]) -> dict:
    """A short-lived Pod running `sh -c script` with the image and settings of the migration container."""
    pod = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    found = [c for _, c in _containers(pod) if _is_migration(c)]
    if not found:
        job_id = (job.get("metadata") or {}).get("name", "?")
        raise ParseError(f"the migration Job {job_id} has no container that runs a database upgrade")
    src = found[0]
    container: dict[str, Any] = {"name": PROBE_CONTAINER, "image": src.get("image")}
    for key in ("imagePullPolicy", "env", "envFrom", "volumeMounts", "securityContext", "workingDir"):
        if key in src:
            container[key] = copy.deepcopy(src[key])
    container["command"] = ["sh", "-c", script]
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    for key in (
        "volumes", "imagePullSecrets", "serviceAccountName", "securityContext", "nodeSelector", "tolerations",
        "affinity", "priorityClassName", "runtimeClassName",
    ):  # fmt: skip
        if key in pod:
            spec[key] = copy.deepcopy(pod[key])
    meta: dict[str, Any] = {"name": name}
    if (job.get("metadata") or {}).get("namespace"):
        meta["namespace"] = job["metadata"]["namespace"]
    meta["labels"] = dict(labels)
    meta["annotations"] = {"sidecar.istio.io/inject": "false"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def redact(doc: Mapping[str, Any]) -> dict:
    """A copy fit for printing (redact.doc): Secret data, secret-looking env values and URL passwords."""
    return redact_doc(dict(doc))


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None  # scripts stay readable
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(docs: Iterable[Mapping[str, Any]]) -> str:
    """YAML multi-document text, keys in the order given, `---` between documents."""
    return "---\n".join(
        yaml.dump(dict(d), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1 << 16)
        for d in docs
    )
