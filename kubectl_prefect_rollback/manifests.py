"""Kubernetes documents, pure: read helm's multi-document YAML, find the migration Job, make the probe
pod, redact and print. The downgrade Jobs are made in job_rewrite.py.

Nothing here talks to a cluster; inputs are the text of `helm get hooks|manifest` or `helm template`.
Input dicts are never mutated.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from . import yamlsafe
from .constants import MIGRATION_TEMPLATE
from .errors import ParseError
from .redact import REDACTED  # noqa: F401  (re-exported: the tests and callers name it here)
from .redact import doc as redact_doc
from .rewrite import is_migration, pod_containers

PROBE_CONTAINER = "probe"

_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)
_SOURCE = re.compile(r"^#[ \t]*Source:[ \t]*(\S.*?)[ \t]*$", re.MULTILINE)


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


def probe_pod(job: Mapping[str, Any], *, name: str, script: str, labels: Mapping[str, str]) -> dict:
    """A short-lived Pod running `sh -c script` with the image and settings of the migration container."""
    pod = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    found = [c for _, c in pod_containers(pod) if is_migration(c)]
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
