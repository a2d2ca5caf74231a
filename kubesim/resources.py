"""The API resources kubesim serves, and the discovery documents derived from them.

One table drives routing, discovery and the kind <-> plural mapping, so adding a kind is one line.
kubectl and helm only need the legacy discovery documents (they fall back from aggregated discovery
when the answer is plain application/json).
"""

from __future__ import annotations

from dataclasses import dataclass

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version


RESOURCES = (
    Resource(
        "", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",), subresources=("status",)
    ),
    Resource("", "v1", "pods", "Pod", short_names=("po",), subresources=("status", "log", "exec")),
    Resource("", "v1", "services", "Service", short_names=("svc",), subresources=("status",)),
    Resource("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    Resource("", "v1", "secrets", "Secret"),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    Resource("", "v1", "events", "Event", short_names=("ev",)),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",)),
    Resource(
        "apps", "v1", "deployments", "Deployment", short_names=("deploy",), subresources=("status", "scale")
    ),
    Resource(
        "apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), subresources=("status", "scale")
    ),
    Resource("apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",)),
    Resource("batch", "v1", "jobs", "Job", subresources=("status",)),
    Resource("batch", "v1", "cronjobs", "CronJob", short_names=("cj",)),
    Resource("coordination.k8s.io", "v1", "leases", "Lease"),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    Resource(
        "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
    ),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", short_names=("ing",)),
    Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=("pdb",)),
)

BY_KIND = {r.kind: r for r in RESOURCES}
BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}


def kind_of(name: str) -> Resource:
    """Accept a kind ("Job"), a plural ("jobs") or a short name ("deploy")."""
    if name in BY_KIND:
        return BY_KIND[name]
    for r in RESOURCES:
        if name.lower() in (r.plural, r.kind.lower(), *r.short_names):
            return r
    raise KeyError(name)


def groups() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in RESOURCES:
        if r.group:
            out.setdefault(r.group, [])
            if r.version not in out[r.group]:
                out[r.group].append(r.version)
    return out


def api_versions() -> dict:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    }


def api_group_list() -> dict:
    items = []
    for name, versions in groups().items():
        gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        items.append({"name": name, "versions": gvs, "preferredVersion": gvs[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": items}


def api_group(name: str) -> dict | None:
    versions = groups().get(name)
    if not versions:
        return None
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": gvs, "preferredVersion": gvs[0]}


def resource_list(group: str, version: str) -> dict | None:
    entries = []
    for r in RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        entries.append(
            {
                "name": r.plural,
                "singularName": r.kind.lower(),
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": VERBS,
                "shortNames": list(r.short_names),
            }
        )
        for sub in r.subresources:
            sub_kind = {"scale": "Scale", "exec": "PodExecOptions"}.get(sub, r.kind)
            verbs = {"log": ["get"], "exec": ["create", "get"]}.get(sub, ["get", "patch", "update"])
            entries.append(
                {
                    "name": f"{r.plural}/{sub}",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": sub_kind,
                    "verbs": verbs,
                }
            )
    if not entries:
        return None
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": entries}


VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.4-kubesim",
    "gitCommit": "kubesim",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
