"""A stateful fake `kubectl`: get/create/apply/replace/delete/scale/exec/logs over the shared state.

Jobs "run" when created: their pod appears at once with per-container exit codes from
`state["job"]["exit_codes"]` (0 by default), or stays Running while `state["job"]["running"]`.
Pods created directly (probes) succeed, and their logs are the listing of their image.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from typing import Any

from tests.fakes.state import Exit, main, now, one, parse_args

VALUED = {
    "-n": "namespace",
    "--namespace": "namespace",
    "--context": "context",
    "--kubeconfig": "kubeconfig",
    "-l": "selector",
    "--selector": "selector",
    "-o": "output",
    "--output": "output",
    "-f": "filename",
    "--filename": "filename",
    "-c": "container",
    "--container": "container",
    "--replicas": "replicas",
    "--request-timeout": "request_timeout",
    "--timeout": "timeout",
}
FLAGS = {"--ignore-not-found", "--follow", "--wait", "--all-containers", "--dry-run", "--validate"}
KINDS = {
    "pods": "pod",
    "po": "pod",
    "deployments": "deployment",
    "deploy": "deployment",
    "jobs": "job",
    "leases": "lease",
    "configmaps": "configmap",
    "cm": "configmap",
}
PLURAL = {
    "pod": "pods",
    "deployment": "deployments.apps",
    "job": "jobs.batch",
    "lease": "leases.coordination.k8s.io",
    "configmap": "configmaps",
    "secret": "secrets",
}


def kind_of(word: str) -> str:
    word = word.lower().split(".", 1)[0]
    return KINDS.get(word, word)


def key(ns: str, kind: str, name: str) -> str:
    return f"{ns}/{kind}/{name}"


def not_found(kind: str, name: str) -> Exit:
    return Exit(1, err=f'Error from server (NotFound): {PLURAL.get(kind, kind)} "{name}" not found\n')


def bump(st: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    st["rv"] = st.get("rv", 1000) + 1
    obj["metadata"]["resourceVersion"] = str(st["rv"])
    return obj


def store(st: dict[str, Any], ns: str, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.setdefault("metadata", {})
    meta["namespace"] = ns
    meta.setdefault("creationTimestamp", now())
    meta.setdefault("uid", hashlib.sha1(f"{ns}/{meta['name']}/{st.get('rv')}".encode()).hexdigest()[:12])
    st["objects"][key(ns, kind_of(obj["kind"]), meta["name"])] = bump(st, obj)
    return obj


def selected(obj: dict[str, Any], selector: str | None) -> bool:
    labels = obj["metadata"].get("labels") or {}
    for term in filter(None, (selector or "").split(",")):
        k, eq, v = term.partition("=")
        if (eq and labels.get(k) != v) or (not eq and k not in labels):
            return False
    return True


def terminated(code: int) -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}}


def run_job(st: dict[str, Any], ns: str, job: dict[str, Any]) -> None:
    """The Job controller and the kubelet in one go."""
    cfg = st.get("job") or {}
    spec = json.loads(json.dumps(job["spec"]["template"]["spec"]))
    names = [c["name"] for c in spec.get("containers") or []]
    st["pod_seq"] = st.get("pod_seq", 0) + 1
    name = f"{job['metadata']['name']}-p{st['pod_seq']:04d}"
    labels = {
        **((job["spec"]["template"].get("metadata") or {}).get("labels") or {}),
        "job-name": job["metadata"]["name"],
    }
    if cfg.get("running"):
        statuses = [{"name": c, "state": {"running": {}}} for c in names]
        phase, conditions = "Running", []
    else:
        codes = {c: int((cfg.get("exit_codes") or {}).get(c, 0)) for c in names}
        statuses = [{"name": c, "state": terminated(codes[c])} for c in names]
        ok = all(code == 0 for code in codes.values())
        phase = "Succeeded" if ok else "Failed"
        conditions = [{"type": "Complete" if ok else "Failed", "status": "True"}]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": {"phase": phase, "containerStatuses": statuses},
    }
    store(st, ns, pod)
    job["status"] = {"conditions": conditions} if conditions else {"active": 1}


def sync_pods(st: dict[str, Any], ns: str, deploy: dict[str, Any]) -> None:
    """The Deployment controller: `replicas` Ready pods running the template's images."""
    dname = deploy["metadata"]["name"]
    containers = deploy["spec"]["template"]["spec"]["containers"]
    images = ",".join(c["image"] for c in containers)
    suffix = hashlib.sha1(images.encode()).hexdigest()[:6]
    want = {f"{dname}-{suffix}-{i}" for i in range(int(deploy["spec"].get("replicas", 1)))}
    for k in [k for k, o in st["objects"].items() if k.startswith(f"{ns}/pod/")]:
        labels = st["objects"][k]["metadata"].get("labels") or {}
        if labels.get("fake/deployment") == dname and k.rsplit("/", 1)[1] not in want:
            del st["objects"][k]
    for name in sorted(want):
        if key(ns, "pod", name) in st["objects"]:
            continue
        labels = {**deploy["metadata"].get("labels", {}), "fake/deployment": dname}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels},
            "spec": {"containers": json.loads(json.dumps(containers))},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [  # the kubelet's imageID: what the image's -y answer is recorded for
                    {
                        "name": c["name"],
                        "ready": True,
                        "state": {"running": {}},
                        "imageID": f"fake://{c['image']}",
                    }
                    for c in containers
                ],
            },
        }
        store(st, ns, pod)
    n = len(want)
    deploy["status"] = {"replicas": n, "readyReplicas": n, "availableReplicas": n}


HELP_MARK = "#downgrade-help"
HELP = "Usage: prefect-cloud nebula database downgrade [OPTIONS]\n  -r, --revision TEXT\n"
HELP += "  -y, --yes  Do not ask.\n"


def listing_for(st: dict[str, Any], pod: dict[str, Any], container: str, script: str) -> Exit:
    """What the listing script prints in this pod: the listing of its image (+ the CLI help if asked)."""
    override = (st.get("exec_output") or {}).get(pod["metadata"]["name"])
    image = next((c["image"] for c in pod["spec"]["containers"] if c["name"] == container), "")
    text = override if override is not None else (st.get("listings") or {}).get(image)
    if "#prefect-rollback-listing" not in script:  # only the CLI help was asked for
        text = ""
    elif text is None:
        return Exit(1, err=f"sh: 1: /prefect_cloud/src: not found (no listing for image {image})\n")
    if HELP_MARK in script:
        text += HELP_MARK + "\n" + st.get("downgrade_help", HELP)
    return Exit(0, text)


def one_flag(opts: dict, name: str) -> str | None:
    return opts.get(name)


HELM_RECORD = re.compile(r"^sh\.helm\.release\.v1\.(?P<name>.+)\.v(?P<rev>\d+)$")


def helm_record(st: dict[str, Any], ns: str, name: str) -> dict[str, Any] | None:
    """helm's storage Secret of one revision, made from the fake helm's state (enough of it to repair)."""
    m = HELM_RECORD.match(name)
    rel = st["releases"].get(f"{ns}/{m['name']}") if m else None
    h = (
        next((h for h in (rel or {}).get("history", []) if str(h["revision"]) == m["rev"]), None)
        if m
        else None
    )
    if h is None:
        return None
    doc = {
        "name": rel["name"],
        "namespace": ns,
        "version": h["revision"],
        "info": {"status": h["status"], "description": h["description"]},
        "chart": {"metadata": {"name": rel["chart"], "version": h["version"]}},
    }
    data = base64.b64encode(base64.b64encode(gzip.compress(json.dumps(doc).encode()))).decode()
    rv = h.get("record_rv") or "1"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": name,
            "namespace": ns,
            "resourceVersion": rv,
            "labels": {"name": rel["name"], "owner": "helm", "status": h["status"], "version": m["rev"]},
        },
        "data": {"release": data},
    }


def write_helm_record(st: dict[str, Any], ns: str, doc: dict[str, Any]) -> dict[str, Any]:
    current = helm_record(st, ns, doc["metadata"]["name"])
    if current is None:
        raise not_found("secret", doc["metadata"]["name"])
    if doc["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
        raise Exit(
            1,
            err="Error from server (Conflict): Operation cannot be fulfilled on secrets: the object "
            "has been modified; please apply your changes to the latest version and try again\n",
        )
    rec = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(doc["data"]["release"]))))
    m = HELM_RECORD.match(doc["metadata"]["name"])
    for h in st["releases"][f"{ns}/{m['name']}"]["history"]:
        if str(h["revision"]) == m["rev"]:
            h["status"], h["description"] = rec["info"]["status"], rec["info"]["description"]
            h["record_rv"] = str(int(h.get("record_rv") or "1") + 1)
            st.setdefault("record_writes", []).append({**doc["metadata"]["labels"], "rec": rec})
    return helm_record(st, ns, doc["metadata"]["name"]) or {}


def handle(st: dict[str, Any], argv: list[str], stdin: str | None) -> None:
    if not argv:
        raise Exit(1, err="kubectl: no verb\n")
    verb = argv[0]
    pos, opts, rest = parse_args(argv[1:], VALUED, FLAGS)
    ns = one(opts, "namespace") or st.get("kubeconfig_namespace") or "default"
    objs = st["objects"]
    if verb == "get":
        if one(opts, "output") != "json":
            raise Exit(1, err="fake kubectl: only --output json\n")
        if "/" in pos[0]:  # kind/name …: those found, a List unless one was asked (plan6)
            refs = [(kind_of(k), n) for k, n in (ref.split("/", 1) for ref in pos)]
            found = [objs[key(ns, k, n)] for k, n in refs if key(ns, k, n) in objs]
            if len(found) < len(refs) and "ignore-not-found" not in opts:
                raise not_found(*next((k, n) for k, n in refs if key(ns, k, n) not in objs))
            if not found:
                raise Exit(0)
            doc = found[0] if len(refs) == 1 else {"apiVersion": "v1", "kind": "List", "items": found}
            raise Exit(0, json.dumps(doc))
        kinds = [kind_of(k) for k in pos[0].split(",")]
        kind = kinds[0]
        if len(pos) > 1:
            obj = objs.get(key(ns, kind, pos[1]))
            if kind == "secret" and obj is None:
                obj = helm_record(st, ns, pos[1])
            if obj is None:
                if "ignore-not-found" in opts:
                    raise Exit(0)
                raise not_found(kind, pos[1])
            raise Exit(0, json.dumps(obj))
        items = [
            o
            for kind in kinds
            for k, o in sorted(objs.items())
            if k.startswith(f"{ns}/{kind}/") and selected(o, one(opts, "selector"))
        ]
        raise Exit(0, json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    if verb in ("create", "apply", "replace"):
        if one(opts, "filename") != "-" or not stdin:
            raise Exit(1, err="error: must specify --filename - with data on stdin\n")
        doc = json.loads(stdin)
        kind, name = kind_of(doc["kind"]), doc["metadata"]["name"]
        if doc["metadata"].get("namespace") not in (None, ns):
            raise Exit(1, err="error: the namespace from the provided object does not match\n")
        if kind == "secret" and verb == "replace" and HELM_RECORD.match(name):
            raise Exit(0, json.dumps(write_helm_record(st, ns, doc)))
        existing = objs.get(key(ns, kind, name))
        if verb == "create" and existing:
            raise Exit(1, err=f'Error from server (AlreadyExists): {PLURAL[kind]} "{name}" already exists\n')
        if verb == "replace":
            if not existing:
                raise not_found(kind, name)
            rv = doc["metadata"].get("resourceVersion")
            if rv and rv != existing["metadata"]["resourceVersion"]:
                raise Exit(
                    1,
                    err=f"Error from server (Conflict): Operation cannot be fulfilled on {PLURAL[kind]} "
                    f'"{name}": the object has been modified; please apply your changes to the latest '
                    "version and try again\n",
                )
            doc["metadata"]["creationTimestamp"] = existing["metadata"].get("creationTimestamp")
            doc["metadata"]["uid"] = existing["metadata"].get("uid")
        if one_flag(opts, "dry-run") == "server":  # validated, never stored
            if kind == "job" and not (doc.get("spec") or {}).get("template", {}).get("spec", {}).get(
                "containers"
            ):
                raise Exit(
                    1, err=f'The Job "{name}" is invalid: spec.template.spec.containers: Required value\n'
                )
            raise Exit(0, json.dumps(existing or doc))
        if verb == "apply" and existing:
            raise Exit(0, json.dumps(existing))  # unchanged (a Job's template is immutable anyway)
        obj = store(st, ns, doc)
        if kind == "job" and not existing:
            run_job(st, ns, obj)
        elif kind == "pod" and not existing and st.get("probe_phase"):  # a probe that takes its time
            obj["status"] = {"phase": st["probe_phase"]}
        elif kind == "pod" and not existing:
            digest = st.get("probe_image_id")  # a scenario's re-pushed tag: not the servers' digest
            obj["status"] = {
                "phase": "Succeeded",
                "containerStatuses": [
                    {"name": c["name"], "state": terminated(0), "imageID": digest or f"fake://{c['image']}"}
                    for c in obj["spec"]["containers"]
                ],
            }
        raise Exit(0, json.dumps(obj))
    if verb == "delete":
        kind, name = kind_of(pos[0]), pos[1]
        if objs.pop(key(ns, kind, name), None) is None:
            raise Exit(0) if "ignore-not-found" in opts else not_found(kind, name)
        if kind == "job":
            for k in [
                k for k, o in objs.items() if (o["metadata"].get("labels") or {}).get("job-name") == name
            ]:
                del objs[k]
        raise Exit(0, f'{kind} "{name}" deleted\n')
    if verb == "scale":
        kind, _, name = pos[0].partition("/")
        deploy = objs.get(key(ns, kind_of(kind), name))
        if deploy is None:
            raise not_found(kind_of(kind), name)
        deploy["spec"]["replicas"] = int(one(opts, "replicas"))
        sync_pods(st, ns, deploy)
        bump(st, deploy)
        raise Exit(0, f"deployment.apps/{name} scaled\n")
    if verb in ("exec", "logs"):
        pod = objs.get(key(ns, "pod", pos[0]))
        if pod is None:
            raise not_found("pod", pos[0])
        container = one(opts, "container")
        names = [c["name"] for c in pod["spec"]["containers"]]
        if container not in names:
            raise Exit(1, err=f"error: container {container} is not valid for pod {pos[0]}\n")
        if verb == "exec":
            if "-i" in argv or "-t" in argv or pod["status"]["phase"] != "Running":
                raise Exit(1, err="error: unable to upgrade connection: pod not running or tty asked\n")
            if rest[:2] != ["sh", "-c"] or len(rest) != 3:
                raise Exit(126, err=f"fake exec: expected sh -c SCRIPT, got {rest}\n")
            raise listing_for(st, pod, container, rest[2])
        job = (pod["metadata"].get("labels") or {}).get("job-name")
        if not job:
            spec = next(c for c in pod["spec"]["containers"] if c["name"] == container)
            raise listing_for(st, pod, container, " ".join(spec.get("command") or []))
        lines = ((st.get("job") or {}).get("logs") or {}).get(container)
        if lines is None:
            lines = [f"INFO  [alembic.runtime.migration] Running downgrade ({container})"]
        text = "".join(line + "\n" for line in lines)
        state = next(cs["state"] for cs in pod["status"]["containerStatuses"] if cs["name"] == container)
        if "running" in state and "follow" in opts:
            raise Exit(-1, text, f"{key(ns, 'pod', pos[0])}|{container}")
        raise Exit(0, text)
    raise Exit(1, err=f'error: unknown command "{verb}" for "kubectl"\n')


if __name__ == "__main__":
    main("kubectl", handle)
