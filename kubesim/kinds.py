"""Per-kind behaviour of the API server: defaulting, update validation, and `kubectl get` tables.

Defaults matter to clients, not just to looks: helm 3's `--wait` dereferences `spec.replicas` of a
Deployment and refuses a Service without `spec.clusterIP`, and Job pods are found by the selector the
server generates.
"""

from __future__ import annotations

import base64
import datetime
import itertools
import json

from .errors import invalid

_ips = itertools.count(10)


def default(obj: dict, old: dict | None = None) -> None:
    kind = obj["kind"]
    spec = obj.setdefault("spec", {}) if kind not in _NO_SPEC else None
    if kind == "Namespace":
        obj.setdefault("status", {"phase": "Active"})
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")
        for k, v in (obj.pop("stringData", None) or {}).items():
            obj.setdefault("data", {})[k] = base64.b64encode(v.encode()).decode()
    elif kind == "Service":
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
            prev = (old or {}).get("spec", {}).get("clusterIP")
            spec["clusterIP"] = prev or f"10.96.{next(_ips) // 250}.{next(_ips) % 250 + 1}"
            spec["clusterIPs"] = [spec["clusterIP"]]
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    elif kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        spec.setdefault("replicas", 1)
        if kind == "Deployment":
            spec.setdefault(
                "strategy",
                {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            )
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
        _default_pod_spec(spec.get("template", {}).get("spec"))
    elif kind == "Job":
        _default_job(obj, spec)
    elif kind == "Pod":
        _default_pod_spec(spec)
        obj.setdefault("status", {"phase": "Pending", "qosClass": "BestEffort"})


_NO_SPEC = {
    "Secret",
    "ConfigMap",
    "ServiceAccount",
    "Event",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "Namespace",
}


def _default_pod_spec(spec: dict | None) -> None:
    if spec is None:
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        c.setdefault("imagePullPolicy", "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")


def _default_job(job: dict, spec: dict) -> None:
    uid, name = job["metadata"]["uid"], job["metadata"]["name"]
    for key, value in (
        ("backoffLimit", 6),
        ("completions", 1),
        ("parallelism", 1),
        ("completionMode", "NonIndexed"),
        ("suspend", False),
    ):
        spec.setdefault(key, value)
    if not spec.get("manualSelector"):
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    template = spec.setdefault("template", {})
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    for key, value in (
        ("batch.kubernetes.io/controller-uid", uid),
        ("controller-uid", uid),
        ("batch.kubernetes.io/job-name", name),
        ("job-name", name),
    ):
        labels.setdefault(key, value)
    _default_pod_spec(template.setdefault("spec", {}))


def validate_create(obj: dict) -> None:
    """The one create-time rule a dry run must catch: a pod (or a Job's pod) needs named containers with
    images, as the real API server says."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    spec = obj.get("spec") if kind == "Pod" else ((obj.get("spec") or {}).get("template") or {}).get("spec")
    if kind not in ("Pod", "Job"):
        return
    field = "spec.containers" if kind == "Pod" else "spec.template.spec.containers"
    containers = (spec or {}).get("containers") if isinstance(spec, dict) else None
    if not containers:
        raise invalid(kind, name, field, "Required value")
    for i, c in enumerate(containers):
        for key in ("name", "image"):
            if not (isinstance(c, dict) and c.get(key)):
                raise invalid(kind, name, f"{field}[{i}].{key}", "Required value")


def validate_update(old: dict, new: dict) -> None:
    kind, name = new["kind"], new["metadata"]["name"]
    if kind == "Job":
        for field in ("template", "selector", "completions"):
            if old["spec"].get(field) != new["spec"].get(field):
                raise invalid(
                    kind,
                    name,
                    f"spec.{field}",
                    f"Invalid value: {json.dumps(new['spec'].get(field))[:200]}: field is immutable",
                )
    if kind in ("Deployment", "ReplicaSet") and old["spec"].get("selector") != new["spec"].get("selector"):
        raise invalid(kind, name, "spec.selector", "Invalid value: field is immutable")


# -- server-side printing for `kubectl get` without -o ---------------------------------------------
def _age(obj: dict) -> str:
    created = obj["metadata"].get("creationTimestamp")
    if not created:
        return "<unknown>"
    then = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    secs = int((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds())
    return f"{secs}s" if secs < 120 else f"{secs // 60}m" if secs < 7200 else f"{secs // 3600}h"


def _pod_cells(pod: dict) -> list:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    shown = pod.get("status", {}).get("phase", "Pending")
    for s in statuses:
        state = s.get("state", {})
        if "waiting" in state:
            shown = state["waiting"].get("reason", shown)
        elif "terminated" in state and shown != "Running":
            shown = state["terminated"].get("reason", shown)
    restarts = sum(s.get("restartCount", 0) for s in statuses)
    total = len(pod.get("spec", {}).get("containers") or [])
    return [f"{ready}/{total}", shown, restarts]


def _columns(kind: str) -> tuple[list[str], callable]:
    if kind == "Pod":
        return ["Ready", "Status", "Restarts"], _pod_cells
    if kind == "Job":

        def job(o: dict) -> list:
            st = o.get("status", {})
            done = [c["type"] for c in st.get("conditions") or [] if c.get("status") == "True"]
            status = "Complete" if "Complete" in done else "Failed" if "Failed" in done else "Running"
            return [status, f"{st.get('succeeded', 0)}/{o['spec'].get('completions', 1)}"]

        return ["Status", "Completions"], job
    if kind == "Deployment":

        def deploy(o: dict) -> list:
            st = o.get("status", {})
            return [
                f"{st.get('readyReplicas', 0)}/{o['spec'].get('replicas', 1)}",
                st.get("updatedReplicas", 0),
                st.get("availableReplicas", 0),
            ]

        return ["Ready", "Up-to-date", "Available"], deploy
    return [], lambda o: []


def table(kind: str, objects: list[dict], resource_version: str) -> dict:
    names, cells = _columns(kind)
    columns = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    columns += [{"name": n, "type": "string", "format": "", "description": n, "priority": 0} for n in names]
    columns.append({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0})
    rows = [
        {
            "cells": [o["metadata"]["name"], *cells(o), _age(o)],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": o["metadata"],
            },
        }
        for o in objects
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns,
        "rows": rows,
    }
