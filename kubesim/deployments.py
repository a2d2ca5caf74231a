"""The Deployment controller: a ReplicaSet per pod template, named `<deployment>-<template hash>`.

helm 3's `--wait` finds the current ReplicaSet the way `deploymentutil.GetNewReplicaSet` does (owned
by the Deployment, template equal to the Deployment's apart from the `pod-template-hash` label), and
helm 4's kstatus reads `observedGeneration`, the replica counters and the Available/Progressing
conditions; this module writes exactly those. Rollouts are immediate: the old ReplicaSets are scaled
to 0 while the new one scales up.
"""

from __future__ import annotations

import copy
import hashlib
import json

from . import selectors
from .owners import SAFE, TERMINAL, condition, owner_ref, pod_ready
from .store import Store


class DeploymentController:
    store: Store

    def _write_status(self, obj: dict, status: dict) -> None: ...

    def deployment(self, deploy: dict) -> None:
        ns, name = deploy["metadata"]["namespace"], deploy["metadata"]["name"]
        template = deploy["spec"].get("template", {})
        pod_hash = template_hash(template)
        owned = [o for o in self.store.owned_by(deploy["metadata"]["uid"]) if o["kind"] == "ReplicaSet"]
        want = deploy["spec"].get("replicas", 1)
        new = next(
            (rs for rs in owned if rs["metadata"].get("labels", {}).get("pod-template-hash") == pod_hash),
            None,
        )
        revisions = [
            int(rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0))
            for rs in owned
        ]
        if new is None:
            new = self._new_replicaset(deploy, pod_hash, max(revisions, default=0) + 1, want)
        elif new["spec"].get("replicas") != want:
            new["spec"]["replicas"] = want
            new = self.store.update(new, check_rv=False)
        for rs in owned:
            if rs["metadata"]["name"] != new["metadata"]["name"] and rs["spec"].get("replicas"):
                rs["spec"]["replicas"] = 0
                self.store.update(rs, check_rv=False)
        revision = new["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        if (
            deploy["metadata"].setdefault("annotations", {}).get("deployment.kubernetes.io/revision")
            != revision
        ):
            deploy["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = revision
            deploy = self.store.update(deploy, check_rv=False)
        self._write_status(deploy, self._deployment_status(deploy, new, ns, name))

    def _new_replicaset(self, deploy: dict, pod_hash: str, revision: int, replicas: int) -> dict:
        template = copy.deepcopy(deploy["spec"].get("template", {}))
        template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pod_hash
        selector = copy.deepcopy(deploy["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{deploy['metadata']['name']}-{pod_hash}",
                "namespace": deploy["metadata"]["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {
                    "deployment.kubernetes.io/revision": str(revision),
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                },
                "ownerReferences": [owner_ref(deploy)],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": template},
        }
        return self.store.create(rs)

    def _deployment_status(self, deploy: dict, new: dict, ns: str, name: str) -> dict:
        want = deploy["spec"].get("replicas", 1)
        sel = selectors.from_label_selector(deploy["spec"].get("selector"))
        owned_rs = {o["metadata"]["uid"] for o in self.store.owned_by(deploy["metadata"]["uid"])}
        pods = [
            p
            for p in self.store.list("Pod", ns, sel)
            if any(r["uid"] in owned_rs for r in p["metadata"].get("ownerReferences", []))
            and p.get("status", {}).get("phase") not in TERMINAL
        ]
        updated = [
            p
            for p in pods
            if p["metadata"]["labels"].get("pod-template-hash")
            == new["metadata"]["labels"]["pod-template-hash"]
        ]
        ready = sum(pod_ready(p) for p in pods)
        done = len(updated) == want and len(pods) == want and sum(pod_ready(p) for p in updated) == want
        old_conditions = {c["type"]: c for c in (deploy.get("status") or {}).get("conditions") or []}
        available = (
            condition("Available", "MinimumReplicasAvailable", "Deployment has minimum availability.")
            if ready >= want
            else condition(
                "Available",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                "False",
            )
        )
        progressing = (
            condition(
                "Progressing",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{new["metadata"]["name"]}" has successfully progressed.',
            )
            if done
            else condition(
                "Progressing", "ReplicaSetUpdated", f'ReplicaSet "{new["metadata"]["name"]}" is progressing.'
            )
        )
        conditions = [_keep_times(available, old_conditions), _keep_times(progressing, old_conditions)]
        status = {
            "observedGeneration": deploy["metadata"].get("generation", 1),
            "replicas": len(pods),
            "updatedReplicas": len(updated),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(want - ready, 0),
            "conditions": conditions,
        }
        return {k: v for k, v in status.items() if v or k in ("observedGeneration", "conditions", "replicas")}


def _keep_times(new: dict, old: dict[str, dict]) -> dict:
    """Same status and reason: keep the old timestamps, so an unchanged pass writes nothing."""
    prev = old.get(new["type"])
    if prev and prev.get("status") == new["status"] and prev.get("reason") == new["reason"]:
        return prev
    return new


def template_hash(template: dict) -> str:
    """A stable name suffix for a pod template; a changed template gives a new ReplicaSet name."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(SAFE[b % len(SAFE)] for b in digest[:10])
