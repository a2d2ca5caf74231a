"""The reconcile loop, and the Job and ReplicaSet controllers (Deployments: deployments.py).

They are level-triggered: any change to a Job, Deployment, ReplicaSet or Pod wakes one reconcile pass
over all of them, and each pass writes only what differs, so the passes converge. The shapes (labels,
selectors, ownerReferences, status counters and conditions) are the ones kubectl and helm read.
"""

from __future__ import annotations

import asyncio
import copy
import logging

from .deployments import DeploymentController
from .owners import TERMINAL, condition, owner_ref, pod_ready, suffix
from .store import ApiError, Store, now

log = logging.getLogger("kubesim")


class Controllers(DeploymentController):
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
            for kind, reconcile in (
                ("Deployment", self.deployment),
                ("ReplicaSet", self.replicaset),
                ("Job", self.job),
            ):
                for obj in self.store.list(kind):
                    try:
                        reconcile(obj)
                    except ApiError:
                        self.wake.set()  # a conflict or a vanished owner: try again next pass
                    except Exception:  # a malformed object must not stop every controller
                        log.exception("reconciling %s %s failed", kind, obj["metadata"].get("name"))

    def _pods(self, owner: dict) -> list[dict]:
        return [o for o in self.store.owned_by(owner["metadata"]["uid"]) if o["kind"] == "Pod"]

    def _create_pod(self, owner: dict, base_name: str) -> None:
        template = copy.deepcopy(owner["spec"]["template"])
        meta = template.get("metadata") or {}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "spec": template.get("spec", {}),
            "metadata": {
                "name": f"{base_name}-{suffix()}",
                "namespace": owner["metadata"]["namespace"],
                "labels": meta.get("labels") or {},
                "annotations": meta.get("annotations") or {},
                "ownerReferences": [owner_ref(owner)],
            },
        }
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
        finished = any(
            c["type"] in ("Complete", "Failed") and c["status"] == "True"
            for c in status.get("conditions") or []
        )
        status.setdefault("startTime", now())
        if not finished and succeeded >= spec.get("completions", 1):
            status["conditions"] = [
                condition(
                    "SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"
                ),
                condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
            ]
            status["completionTime"] = now()
            finished = True
        elif not finished and failed > spec.get("backoffLimit", 6):
            status["conditions"] = [
                condition(
                    "FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
                ),
                condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
            ]
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
        status.update(
            active=len(active),
            ready=sum(pod_ready(p) for p in active),
            succeeded=succeeded,
            failed=failed,
            terminating=0,
            uncountedTerminatedPods={},
        )
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
        status = {
            "replicas": len(alive),
            "fullyLabeledReplicas": len(alive),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        self._write_status(
            rs, {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        )
