"""Job, ReplicaSet and Deployment controllers.

They are level-triggered: any change to a Job, Deployment, ReplicaSet or Pod wakes one reconcile pass
over all of them, and each pass writes only what differs, so the passes converge. The shapes (labels,
selectors, ownerReferences, status counters and conditions) are the ones kubectl and helm read.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import random
import string

from . import selectors
from .store import ApiError, Store, now

SAFE = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for generated name suffixes
TERMINAL = ("Succeeded", "Failed")


def suffix(n: int = 5) -> str:
    return "".join(random.choice(SAFE) for _ in range(n))


def owner_ref(obj: dict) -> dict:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def condition(kind: str, reason: str, message: str, status: str = "True") -> dict:
    return {"type": kind, "status": status, "lastProbeTime": now(), "lastTransitionTime": now(),
            "reason": reason, "message": message}


def pod_ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or [])


class Controllers:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.wake = asyncio.Event()
        self.task = asyncio.ensure_future(self._loop())
        store.listeners.append(self.on_event)

    def on_event(self, event: str, obj: dict) -> None:
        if obj["kind"] in ("Job", "Pod", "ReplicaSet", "Deployment"):
            self.wake.set()

    async def _loop(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            for kind, reconcile in (("Deployment", self.deployment), ("ReplicaSet", self.replicaset),
                                    ("Job", self.job)):
                for obj in self.store.list(kind):
                    try:
                        reconcile(obj)
                    except ApiError:
                        self.wake.set()  # a conflict or a vanished owner: try again next pass

    def _pods(self, owner: dict) -> list[dict]:
        return [o for o in self.store.owned_by(owner["metadata"]["uid"]) if o["kind"] == "Pod"]

    def _create_pod(self, owner: dict, base_name: str) -> None:
        template = copy.deepcopy(owner["spec"]["template"])
        meta = template.get("metadata") or {}
        pod = {"apiVersion": "v1", "kind": "Pod", "spec": template.get("spec", {}),
               "metadata": {"name": f"{base_name}-{suffix()}", "namespace": owner["metadata"]["namespace"],
                            "labels": meta.get("labels") or {}, "annotations": meta.get("annotations") or {},
                            "ownerReferences": [owner_ref(owner)]}}
        self.store.create(pod)

    def _write_status(self, obj: dict, status: dict) -> None:
        if obj.get("status") != status:
            obj["status"] = status
            self.store.update(obj, check_rv=False)

    # -- Job ---------------------------------------------------------------------------------------------
    def job(self, job: dict) -> None:
        spec, status = job["spec"], dict(job.get("status") or {})
        pods = self._pods(job)
        active = [p for p in pods if p.get("status", {}).get("phase") not in TERMINAL]
        succeeded = sum(p.get("status", {}).get("phase") == "Succeeded" for p in pods)
        failed = sum(p.get("status", {}).get("phase") == "Failed" for p in pods)
        finished = any(c["type"] in ("Complete", "Failed") and c["status"] == "True"
                       for c in status.get("conditions") or [])
        status.setdefault("startTime", now())
        if not finished and succeeded >= spec.get("completions", 1):
            status["conditions"] = [
                condition("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
                condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods")]
            status["completionTime"] = now()
            finished = True
        elif not finished and failed > spec.get("backoffLimit", 6):
            status["conditions"] = [
                condition("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
                condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]
            finished = True
        if finished:
            for pod in active:  # a finished Job leaves no running pods behind
                self.store.delete("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])
            active = []
        elif not spec.get("suspend"):
            want = min(spec.get("parallelism", 1), spec.get("completions", 1) - succeeded)
            for _ in range(want - len(active)):
                self._create_pod(job, job["metadata"]["name"])
            active = [p for p in self._pods(job) if p.get("status", {}).get("phase") not in TERMINAL]
        status.update(active=len(active), ready=sum(pod_ready(p) for p in active), succeeded=succeeded,
                      failed=failed, terminating=0, uncountedTerminatedPods={})
        for key in ("active", "succeeded", "failed"):
            if not status[key]:
                del status[key]  # omitempty, as the real API prints them
        self._write_status(job, status)

    # -- ReplicaSet --------------------------------------------------------------------------------------
    def replicaset(self, rs: dict) -> None:
        pods = self._pods(rs)
        for pod in [p for p in pods if p.get("status", {}).get("phase") in TERMINAL]:
            self.store.delete("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])
        alive = [p for p in pods if p.get("status", {}).get("phase") not in TERMINAL]
        want = rs["spec"].get("replicas", 1)
        for _ in range(want - len(alive)):
            self._create_pod(rs, rs["metadata"]["name"])
        # scale down: not-ready pods first, then the newest
        alive.sort(key=lambda p: (pod_ready(p), p["metadata"]["creationTimestamp"]), reverse=True)
        for pod in alive[want:] if want < len(alive) else []:
            self.store.delete("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])
        alive = [p for p in self._pods(rs) if p.get("status", {}).get("phase") not in TERMINAL]
        ready = sum(pod_ready(p) for p in alive)
        status = {"replicas": len(alive), "fullyLabeledReplicas": len(alive), "readyReplicas": ready,
                  "availableReplicas": ready, "observedGeneration": rs["metadata"].get("generation", 1)}
        self._write_status(rs, {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")})

    # -- Deployment --------------------------------------------------------------------------------------
    def deployment(self, deploy: dict) -> None:
        ns, name = deploy["metadata"]["namespace"], deploy["metadata"]["name"]
        template = deploy["spec"].get("template", {})
        pod_hash = template_hash(template)
        owned = [o for o in self.store.owned_by(deploy["metadata"]["uid"]) if o["kind"] == "ReplicaSet"]
        want = deploy["spec"].get("replicas", 1)
        new = next((rs for rs in owned if rs["metadata"].get("labels", {}).get("pod-template-hash") == pod_hash),
                   None)
        revisions = [int(rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0))
                     for rs in owned]
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
        if deploy["metadata"].setdefault("annotations", {}).get("deployment.kubernetes.io/revision") != revision:
            deploy["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = revision
            deploy = self.store.update(deploy, check_rv=False)
        self._write_status(deploy, self._deployment_status(deploy, new, ns, name))

    def _new_replicaset(self, deploy: dict, pod_hash: str, revision: int, replicas: int) -> dict:
        template = copy.deepcopy(deploy["spec"].get("template", {}))
        template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pod_hash
        selector = copy.deepcopy(deploy["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": f"{deploy['metadata']['name']}-{pod_hash}",
                           "namespace": deploy["metadata"]["namespace"],
                           "labels": dict(template["metadata"]["labels"]),
                           "annotations": {"deployment.kubernetes.io/revision": str(revision),
                                           "deployment.kubernetes.io/desired-replicas": str(replicas)},
                           "ownerReferences": [owner_ref(deploy)]},
              "spec": {"replicas": replicas, "selector": selector, "template": template}}
        return self.store.create(rs)

    def _deployment_status(self, deploy: dict, new: dict, ns: str, name: str) -> dict:
        want = deploy["spec"].get("replicas", 1)
        sel = selectors.from_label_selector(deploy["spec"].get("selector"))
        owned_rs = {o["metadata"]["uid"] for o in self.store.owned_by(deploy["metadata"]["uid"])}
        pods = [p for p in self.store.list("Pod", ns, sel)
                if any(r["uid"] in owned_rs for r in p["metadata"].get("ownerReferences", []))
                and p.get("status", {}).get("phase") not in TERMINAL]
        updated = [p for p in pods if p["metadata"]["labels"].get("pod-template-hash")
                   == new["metadata"]["labels"]["pod-template-hash"]]
        ready = sum(pod_ready(p) for p in pods)
        done = len(updated) == want and len(pods) == want and sum(pod_ready(p) for p in updated) == want
        old_conditions = {c["type"]: c for c in (deploy.get("status") or {}).get("conditions") or []}
        available = condition("Available", "MinimumReplicasAvailable", "Deployment has minimum availability.") \
            if ready >= want else condition("Available", "MinimumReplicasUnavailable",
                                            "Deployment does not have minimum availability.", "False")
        progressing = condition("Progressing", "NewReplicaSetAvailable",
                                f'ReplicaSet "{new["metadata"]["name"]}" has successfully progressed.') if done \
            else condition("Progressing", "ReplicaSetUpdated",
                           f'ReplicaSet "{new["metadata"]["name"]}" is progressing.')
        conditions = [_keep_times(available, old_conditions), _keep_times(progressing, old_conditions)]
        status = {"observedGeneration": deploy["metadata"].get("generation", 1), "replicas": len(pods),
                  "updatedReplicas": len(updated), "readyReplicas": ready, "availableReplicas": ready,
                  "unavailableReplicas": max(want - ready, 0), "conditions": conditions}
        return {k: v for k, v in status.items() if v or k in ("observedGeneration", "conditions", "replicas")}


def _keep_times(new: dict, old: dict[str, dict]) -> dict:
    """Same status and reason: keep the old timestamps, so an unchanged pass writes nothing."""
    prev = old.get(new["type"])
    if prev and prev.get("status") == new["status"] and prev.get("reason") == new["reason"]:
        return prev
    return new


def template_hash(template: dict) -> str:
    """A stable name suffix for a pod template; a changed template gives a new ReplicaSet name."""
    import json

    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(SAFE[b % len(SAFE)] for b in digest[:10])


__all__ = ["Controllers", "template_hash", "string"]
